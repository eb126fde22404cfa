//! The Debian readers over this machine's real files: /var/lib/dpkg/status
//! and apt's lists in /var/lib/apt/lists (lz4-compressed Packages, InRelease).
//!
//! Where a file is absent (a non-Debian CI machine, an image with cleaned
//! lists) the same assertions run on a generated stand-in instead, and the
//! test says so on stderr; nothing is skipped.

use std::io::Write;
use std::path::{Path, PathBuf};

use patchline_metadata::apt_packages::read_packages_named;
use patchline_metadata::apt_release::parse_release;
use patchline_metadata::compression::decompress;
use patchline_metadata::dpkg_status::parse_status;
use patchline_metadata::testdata;

const STATUS_PATH: &str = "/var/lib/dpkg/status";
const LISTS_DIR: &str = "/var/lib/apt/lists";

/// Stanzas counted the crude way, independently of the deb822 reader.
fn count_package_lines(text: &[u8]) -> usize {
    text.split(|&b| b == b'\n')
        .filter(|line| line.starts_with(b"Package:"))
        .count()
}

fn list_files(suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(LISTS_DIR) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn dpkg_status_of_this_machine() {
    let (origin, bytes) = match std::fs::read(STATUS_PATH) {
        Ok(bytes) => (STATUS_PATH.to_owned(), bytes),
        Err(error) => {
            eprintln!(
                "{STATUS_PATH} unreadable ({error}); using a generated status of 500 packages"
            );
            (
                "generated".to_owned(),
                testdata::dpkg_status(500, 11).into_bytes(),
            )
        }
    };
    let packages = parse_status(&bytes).unwrap_or_else(|error| panic!("{origin}: {error}"));
    assert_eq!(packages.len(), count_package_lines(&bytes), "{origin}");
    assert!(
        packages
            .iter()
            .any(|package| package.status.is_installed_ok()),
        "{origin}: some package is installed"
    );
    for package in &packages {
        assert!(!package.name.is_empty());
        if package.status.state.has_files() {
            assert!(
                package.version.is_some(),
                "{origin}: {} has a version",
                package.name
            );
        }
    }
}

#[test]
fn apt_packages_lists_of_this_machine() {
    let files = list_files("_Packages.lz4");
    let samples: Vec<(String, Vec<u8>)> = if files.is_empty() {
        eprintln!("no {LISTS_DIR}/*_Packages.lz4; using a generated lz4 index of 3000 entries");
        let text = testdata::packages_index(3000, 12);
        let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
        encoder.write_all(text.as_bytes()).unwrap();
        vec![(
            "generated_Packages.lz4".to_owned(),
            encoder.finish().unwrap(),
        )]
    } else {
        files
            .iter()
            .map(|path| (file_name(path), std::fs::read(path).unwrap()))
            .collect()
    };
    for (name, bytes) in samples {
        let entries =
            read_packages_named(&name, &bytes).unwrap_or_else(|error| panic!("{name}: {error}"));
        let plain = decompress(&bytes).unwrap();
        assert_eq!(entries.len(), count_package_lines(&plain), "{name}");
        for entry in &entries {
            assert!(!entry.version.is_empty(), "{name}: {}", entry.package);
            if let Some(sha256) = &entry.sha256 {
                assert_eq!(sha256.len(), 64);
            }
        }
        eprintln!("{name}: {} entries", entries.len());
    }
}

#[test]
fn apt_release_files_of_this_machine() {
    let files = list_files("_InRelease");
    let samples: Vec<(String, Vec<u8>)> = if files.is_empty() {
        eprintln!("no {LISTS_DIR}/*_InRelease; using the InRelease fixture");
        vec![(
            "bookworm-security_InRelease".to_owned(),
            include_bytes!("fixtures/InRelease").to_vec(),
        )]
    } else {
        files
            .iter()
            .map(|path| (file_name(path), std::fs::read(path).unwrap()))
            .collect()
    };
    for (name, bytes) in samples {
        let release = parse_release(&bytes).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(release.clearsigned, "{name}");
        // apt's list names encode the suite: `…_dists_<suite>_InRelease`.
        assert_eq!(release.is_security(), name.contains("-security_"), "{name}");
        let entries = release
            .sha256_entries()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(!entries.is_empty(), "{name}");
        assert!(release.date.is_some(), "{name}");
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
