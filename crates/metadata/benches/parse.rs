//! Parse timings of the metadata readers on generated, realistic files:
//! a dpkg status of 2,000 packages, a Packages index of 60,000 entries
//! (plain, gzip, xz, lz4) and a primary.xml of 20,000 packages (plain, gzip).
//!
//! For comparison, `python3_deb822_split_*` times what a user would
//! otherwise run: a minimal Python deb822 split of the same generated
//! Packages file (whole process, interpreter start included; the script
//! also prints its own in-process parse time to stderr).
//!
//! Run: `cargo bench -p patchline-metadata --bench parse`

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use patchline_metadata::apt_packages::{self, PackagesIndex};
use patchline_metadata::deb822::Paragraphs;
use patchline_metadata::dpkg_status::parse_status;
use patchline_metadata::rpm::primary::{PrimaryReader, parse_primary};
use patchline_metadata::testdata;

const STATUS_PACKAGES: usize = 2_000;
const INDEX_ENTRIES: usize = 60_000;
const PRIMARY_PACKAGES: usize = 20_000;

static STATUS: LazyLock<String> =
    LazyLock::new(|| announce("dpkg status", testdata::dpkg_status(STATUS_PACKAGES, 42)));
static INDEX: LazyLock<String> =
    LazyLock::new(|| announce("Packages", testdata::packages_index(INDEX_ENTRIES, 42)));
static INDEX_GZ: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    encoder.write_all(INDEX.as_bytes()).expect("in-memory gzip");
    announce("Packages.gz", encoder.finish().expect("in-memory gzip"))
});
static INDEX_XZ: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
    encoder.write_all(INDEX.as_bytes()).expect("in-memory xz");
    announce("Packages.xz", encoder.finish().expect("in-memory xz"))
});
static INDEX_LZ4: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
    encoder.write_all(INDEX.as_bytes()).expect("in-memory lz4");
    announce("Packages.lz4", encoder.finish().expect("in-memory lz4"))
});
static PRIMARY: LazyLock<String> =
    LazyLock::new(|| announce("primary.xml", testdata::primary_xml(PRIMARY_PACKAGES, 42)));
static PRIMARY_GZ: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder
        .write_all(PRIMARY.as_bytes())
        .expect("in-memory gzip");
    encoder.finish().expect("in-memory gzip")
});

fn main() {
    divan::main();
    if LazyLock::get(&INDEX_FILE).is_some() {
        let _ = std::fs::remove_file(&*INDEX_FILE);
    }
}

/// Builds an input lazily (only the benches that run pay for it) and says
/// how big it is.
fn announce<T: AsRef<[u8]>>(name: &str, input: T) -> T {
    eprintln!(
        "input {name}: {:.1} MiB",
        input.as_ref().len() as f64 / f64::from(1 << 20)
    );
    input
}

#[divan::bench(sample_count = 30)]
fn dpkg_status_2000(bencher: Bencher) {
    bencher.counter(ItemsCount::new(STATUS_PACKAGES)).bench(|| {
        let packages = parse_status(black_box(STATUS.as_bytes())).expect("generated status parses");
        assert_eq!(packages.len(), STATUS_PACKAGES);
    });
}

#[divan::bench(sample_count = 10)]
fn deb822_paragraphs_only_60000(bencher: Bencher) {
    bencher.counter(BytesCount::new(INDEX.len())).bench(|| {
        let count = Paragraphs::new(black_box(&INDEX))
            .filter(Result::is_ok)
            .count();
        assert_eq!(count, INDEX_ENTRIES);
    });
}

#[divan::bench(sample_count = 10)]
fn packages_plain_60000_borrowed(bencher: Bencher) {
    bencher.counter(ItemsCount::new(INDEX_ENTRIES)).bench(|| {
        let entries: Vec<_> = apt_packages::entries(black_box(&INDEX))
            .collect::<Result<_, _>>()
            .expect("generated index parses");
        assert_eq!(entries.len(), INDEX_ENTRIES);
    });
}

#[divan::bench(sample_count = 10)]
fn packages_plain_60000_owned(bencher: Bencher) {
    bencher.counter(ItemsCount::new(INDEX_ENTRIES)).bench(|| {
        let entries = apt_packages::read_packages(black_box(INDEX.as_bytes())).expect("parses");
        assert_eq!(entries.len(), INDEX_ENTRIES);
    });
}

fn bench_compressed_index(bencher: Bencher, bytes: &[u8]) {
    bencher.counter(ItemsCount::new(INDEX_ENTRIES)).bench(|| {
        let index = PackagesIndex::from_bytes(black_box(bytes)).expect("decompresses");
        let entries = index.parse_all().expect("parses");
        assert_eq!(entries.len(), INDEX_ENTRIES);
    });
}

#[divan::bench(sample_count = 5)]
fn packages_gz_60000(bencher: Bencher) {
    bench_compressed_index(bencher, &INDEX_GZ);
}

#[divan::bench(sample_count = 5)]
fn packages_xz_60000(bencher: Bencher) {
    bench_compressed_index(bencher, &INDEX_XZ);
}

#[divan::bench(sample_count = 5)]
fn packages_lz4_60000(bencher: Bencher) {
    bench_compressed_index(bencher, &INDEX_LZ4);
}

#[divan::bench(sample_count = 5)]
fn primary_plain_20000(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(PRIMARY_PACKAGES))
        .bench(|| {
            let mut count = 0;
            for package in PrimaryReader::new(black_box(PRIMARY.as_bytes())) {
                black_box(package.expect("parses"));
                count += 1;
            }
            assert_eq!(count, PRIMARY_PACKAGES);
        });
}

#[divan::bench(sample_count = 5)]
fn primary_gz_20000(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(PRIMARY_PACKAGES))
        .bench(|| {
            let packages = parse_primary(black_box(&PRIMARY_GZ)).expect("parses");
            assert_eq!(packages.len(), PRIMARY_PACKAGES);
        });
}

/// A minimal deb822 split, what one would write instead of a library.
const PYTHON_SPLIT: &str = r#"
import sys, time
start = time.perf_counter()
text = open(sys.argv[1], encoding="utf-8").read()
entries = []
for stanza in text.split("\n\n"):
    if not stanza.strip():
        continue
    fields = {}
    key = None
    for line in stanza.split("\n"):
        if line[:1] in (" ", "\t"):
            fields[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    entries.append(fields)
print(len(entries))
print(f"python in-process parse: {(time.perf_counter() - start) * 1000:.0f} ms", file=sys.stderr)
"#;

static INDEX_FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let path =
        std::env::temp_dir().join(format!("patchline-bench-Packages-{}", std::process::id()));
    std::fs::write(&path, INDEX.as_bytes()).expect("write generated Packages to the temp dir");
    path
});

#[divan::bench(sample_count = 3)]
fn python3_deb822_split_60000(bencher: Bencher) {
    bencher.counter(ItemsCount::new(INDEX_ENTRIES)).bench(|| {
        let output = Command::new("python3")
            .arg("-c")
            .arg(PYTHON_SPLIT)
            .arg(&*INDEX_FILE)
            .output()
            .expect("python3 runs (it is the comparison baseline)");
        assert!(output.status.success(), "python3 failed: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            INDEX_ENTRIES.to_string()
        );
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
    });
}
