//! Benchmark: a scan with the agent against the package managers' own
//! update checks on the same node root, in one run.
//!
//! - Debian root: `patchline_agent::scan` (in process) and the
//!   `patchline-agent scan --json` binary (a process, like the tools), each
//!   without and with a warm scan cache (`--cache-dir`: what a periodic
//!   agent sees, the lists unchanged since its last scan) vs
//!   `apt-get -s upgrade` with the root's `APT_CONFIG` (as the testkit
//!   runs apt; its own cache, `pkgcache.bin`, warm).
//! - Rocky 9 root: the same two vs `dnf check-update -C` (cached metadata,
//!   no network) with the root's dnf option set.
//!
//! Measurements alternate (scan, binary, tool, scan, ...) so machine load
//! hits all alike; each is warmed up once (apt builds its `pkgcache.bin`
//! on first use, dnf its solv files), then medians, min and max are printed.
//!
//! How the roots are made (setup ~25 s on 2 cores, printed):
//! - Debian: a few real `.deb`s built with the testkit and installed by
//!   apt; the bulk of the installed packages (`DEB_INSTALLED`) is written
//!   into dpkg's status database as dpkg records unpacked-and-configured
//!   packages (building and installing that many real `.deb`s takes
//!   minutes, and both apt and the agent only read the database). The
//!   repository's `Packages` indexes get matching entries, plus
//!   `DEB_NOT_INSTALLED` packages nobody installed (a real main list has
//!   ~63k) and `DEB_SECURITY_UPDATES` newer versions in the security suite;
//!   the Release files are regenerated with `apt-ftparchive release`, and
//!   the root's `apt-get update` fetches everything like any mirror.
//! - Rocky: every package is a real `.rpm` built with `rpmbuild` (in two
//!   threads) and installed by dnf in one transaction; the repository is
//!   `createrepo_c`'s with an updateinfo of one advisory per update.
//!
//! `cargo bench -p patchline-agent --bench scan_vs_tools` (root required);
//! `PATCHLINE_BENCH_KEEP=<empty dir>` keeps the roots for profiling.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use patchline_agent::{NodeRoot, ScanOptions, scan, scan_with_cache};
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    Advisory, AdvisoryKind, AptRepository, AptRoot, AptRootOptions, AptSuite, BuiltDeb, BuiltRpm,
    DebPackage, DnfRoot, DnfRootOptions, PackageRoot, RpmPackage, RpmRepoEntry, RpmRepository,
    Tool, UpdateinfoStyle,
};

/// Real `.deb`s, installed by apt (with a security update each).
const DEB_REAL: usize = 8;
/// Installed packages written into dpkg's database.
const DEB_INSTALLED: usize = 1_500;
/// Repository packages nobody installed.
const DEB_NOT_INSTALLED: usize = 60_000;
/// Installed packages with a newer version in the security suite.
const DEB_SECURITY_UPDATES: usize = 300;
/// Installed real `.rpm`s.
const RPM_INSTALLED: usize = 1_000;
/// Of those, how many have a newer build (with an advisory).
const RPM_UPDATES: usize = 250;
/// Measurements of each contender.
const REPETITIONS: usize = 15;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; this binary takes no options.
    // PATCHLINE_BENCH_KEEP=<dir> builds the roots there and keeps them
    // (for profiling a scan); otherwise a temporary directory is used.
    let temporary = tempfile::tempdir()?;
    let dir = match std::env::var_os("PATCHLINE_BENCH_KEEP") {
        Some(keep) => PathBuf::from(keep),
        None => temporary.path().to_owned(),
    };
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_patchline-agent"));

    let started = Instant::now();
    let debian = debian_root(&dir.join("debian"))?;
    println!("Debian root ready in {:.1?}", started.elapsed());
    let started = Instant::now();
    let rocky = dnf_root(&dir.join("rocky"))?;
    println!("Rocky root ready in {:.1?}", started.elapsed());

    let apt_report = scan_once(debian.path())?;
    println!(
        "\nDebian root: {} installed, {} known versions of them, {} missing, lists {} entries",
        apt_report.0,
        apt_report.1,
        apt_report.2,
        DEB_REAL * 2 + DEB_INSTALLED + DEB_NOT_INSTALLED + DEB_SECURITY_UPDATES
    );
    let cache = dir.join("scan-cache");
    warm_scan_cache(debian.path(), &cache)?;
    let mut apt_get = debian.apt_get()?;
    apt_get.args(["-s", "upgrade"]);
    let figures = compare(
        debian.path(),
        &agent,
        Some(&cache),
        "apt-get -s upgrade",
        apt_get,
    )?;
    print_figures(&figures);

    let dnf_report = scan_once(rocky.path())?;
    println!(
        "\nRocky root: {} installed, {} known versions of them, {} missing",
        dnf_report.0, dnf_report.1, dnf_report.2
    );
    let mut dnf = rocky.dnf()?;
    dnf.args(["-C", "check-update"]);
    // The scan cache holds apt lists only: nothing to cache on this root.
    let figures = compare(rocky.path(), &agent, None, "dnf -C check-update", dnf)?;
    print_figures(&figures);
    Ok(())
}

/// (installed, known versions, missing) of one scan, as a sanity check.
fn scan_once(root: &Path) -> BenchResult<(usize, usize, u32)> {
    let report = scan(&NodeRoot::new(root), &scan_options())?;
    Ok((
        report.installed_packages,
        report.known_versions,
        report.compliance.state_counts.missing,
    ))
}

/// Fills the scan cache for `root` as an agent's first scan would, once
/// the lists are older than the cache's settle time (a list changed less
/// than a second ago is not cached), and checks it was written.
fn warm_scan_cache(root: &Path, cache: &Path) -> BenchResult<()> {
    std::thread::sleep(Duration::from_millis(1_100));
    let cold = scan_with_cache(&NodeRoot::new(root), &scan_options(), Some(cache))?;
    let warm = scan_with_cache(&NodeRoot::new(root), &scan_options(), Some(cache))?;
    let entries = fs::read_dir(cache)?.count();
    if entries == 0 || cold.known_versions != warm.known_versions {
        return Err(format!("the scan cache in {} was not filled", cache.display()).into());
    }
    Ok(())
}

fn scan_options() -> ScanOptions {
    ScanOptions {
        baseline: None,
        now: Timestamp::now(),
    }
}

/// Samples of one contender.
struct Samples {
    name: String,
    times: Vec<Duration>,
}

impl Samples {
    fn new(name: impl Into<String>) -> Samples {
        Samples {
            name: name.into(),
            times: Vec::with_capacity(REPETITIONS),
        }
    }

    fn median(&self) -> Duration {
        let mut sorted = self.times.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }

    fn min(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }

    fn max(&self) -> Duration {
        self.times.iter().copied().max().unwrap_or_default()
    }
}

/// Alternating measurements: in-process scan, the agent binary (and both
/// with the warm scan cache in `cache`, if any), the tool. The tool is
/// always the last sample.
fn compare(
    root: &Path,
    agent: &Path,
    cache: Option<&Path>,
    tool_name: &str,
    mut tool: Command,
) -> BenchResult<Vec<Samples>> {
    let mut binary = Command::new(agent);
    binary.arg("scan").arg("--root").arg(root).arg("--json");
    let mut cached_binary = Command::new(agent);
    cached_binary
        .arg("scan")
        .arg("--root")
        .arg(root)
        .arg("--json");
    let mut samples = vec![
        Samples::new("patchline_agent::scan (in process)"),
        Samples::new("patchline-agent scan --json (process)"),
    ];
    if let Some(cache) = cache {
        cached_binary.arg("--cache-dir").arg(cache);
        samples.push(Samples::new("  the same, warm scan cache (in process)"));
        samples.push(Samples::new("  the same, warm --cache-dir (process)"));
    }
    samples.push(Samples::new(tool_name));
    for round in 0..=REPETITIONS {
        let mut times = Vec::with_capacity(samples.len());
        let started = Instant::now();
        scan(&NodeRoot::new(root), &scan_options())?;
        times.push(started.elapsed());
        times.push(time_process(&mut binary, &[0])?);
        if cache.is_some() {
            let started = Instant::now();
            scan_with_cache(&NodeRoot::new(root), &scan_options(), cache)?;
            times.push(started.elapsed());
            times.push(time_process(&mut cached_binary, &[0])?);
        }
        // apt-get -s upgrade exits 0; dnf check-update 100 when updates exist.
        times.push(time_process(&mut tool, &[0, 100])?);
        if round > 0 {
            for (samples, time) in samples.iter_mut().zip(times) {
                samples.times.push(time);
            }
        }
    }
    Ok(samples)
}

fn time_process(command: &mut Command, ok_codes: &[i32]) -> BenchResult<Duration> {
    let started = Instant::now();
    let output = command.output()?;
    let elapsed = started.elapsed();
    let code = output.status.code().unwrap_or(-1);
    if !ok_codes.contains(&code) {
        return Err(format!(
            "{command:?} exited {code}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(elapsed)
}

fn print_figures(samples: &[Samples]) {
    println!(
        "{:<42} {:>10} {:>10} {:>10} {:>8}",
        "contender", "median", "min", "max", "ratio"
    );
    let Some((tool, agents)) = samples.split_last() else {
        return;
    };
    for s in agents {
        println!(
            "{:<42} {:>10.1?} {:>10.1?} {:>10.1?} {:>7.1}x",
            s.name,
            s.median(),
            s.min(),
            s.max(),
            tool.median().as_secs_f64() / s.median().as_secs_f64()
        );
    }
    println!(
        "{:<42} {:>10.1?} {:>10.1?} {:>10.1?}   (ratio: {} median / contender median)",
        tool.name,
        tool.median(),
        tool.min(),
        tool.max(),
        tool.name
    );
}

/// Runs `work` over `items` in two threads (the machine has two cores).
fn in_two_threads<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> patchline_testkit::Result<R> + Sync,
) -> BenchResult<Vec<R>> {
    let half = items.len().div_ceil(2);
    let (left, right) = std::thread::scope(|scope| {
        let right = scope.spawn(|| items[half..].iter().map(&work).collect::<Vec<_>>());
        let left: Vec<_> = items[..half].iter().map(&work).collect();
        (left, right.join())
    });
    let right = right.map_err(|_| "a build thread panicked")?;
    let mut all = Vec::with_capacity(items.len());
    for result in left.into_iter().chain(right) {
        all.push(result?);
    }
    Ok(all)
}

// ---------------------------------------------------------------- Debian --

fn generated_version(i: usize) -> String {
    format!("{}.{}.{}-{}", 1 + i % 5, i % 13, i % 7, 1 + i % 3)
}

fn security_version(i: usize) -> String {
    format!("{}+deb12u1", generated_version(i))
}

/// The fields dpkg and the archive share for generated package `name`.
fn deb_stanza(out: &mut String, name: &str, version: &str, arch: &str, depends: &[String]) {
    let _ = write!(
        out,
        "Package: {name}\nPriority: optional\nSection: libs\nInstalled-Size: 120\n\
         Maintainer: Patchline Bench <bench@example.org>\nArchitecture: {arch}\n\
         Source: {name}-src\nVersion: {version}\n"
    );
    if !depends.is_empty() {
        let _ = writeln!(out, "Depends: {}", depends.join(", "));
    }
    let _ = write!(
        out,
        "Description: generated package {name}\n A package of the benchmark root, one of many.\n"
    );
}

fn installed_name(i: usize) -> String {
    format!("gen-lib{i:04}")
}

/// Each generated installed package depends on two lower-numbered ones.
fn installed_depends(i: usize) -> Vec<String> {
    if i == 0 {
        return Vec::new();
    }
    let mut depends = vec![installed_name(i - 1)];
    if i / 2 != i - 1 {
        depends.push(installed_name(i / 2));
    }
    depends
}

fn archive_fields(out: &mut String, name: &str, version: &str, arch: &str, i: usize) {
    let _ = write!(
        out,
        "Filename: pool/main/g/{name}/{name}_{version}_{arch}.deb\nSize: {}\nSHA256: {:064x}\n\n",
        2_000 + i,
        i
    );
}

fn debian_root(dir: &Path) -> BenchResult<AptRoot> {
    let arch = native_architecture()?;
    let indices: Vec<usize> = (0..DEB_REAL).collect();
    let v1: Vec<BuiltDeb> = in_two_threads(&indices, |i| {
        DebPackage::new(format!("kit-real{i}"), "1.0-1").build(&dir.join("debs"))
    })?;
    let v2: Vec<BuiltDeb> = in_two_threads(&indices, |i| {
        DebPackage::new(format!("kit-real{i}"), "1.0-1+deb12u1").build(&dir.join("debs2"))
    })?;
    let mut repo = AptRepository::new(dir.join("repo"))?;
    repo.publish(&[AptSuite::new("bookworm").with_packages(&v1)])?;
    let root = AptRoot::create(
        dir.join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    )?;
    root.refresh()?;
    let names: Vec<String> = indices.iter().map(|i| format!("kit-real{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    root.install(&names)?;

    repo.publish(&[
        AptSuite::new("bookworm").with_packages(&v1),
        AptSuite::security("bookworm-security").with_packages(&v2),
    ])?;
    root.set_sources(&repo.sources())?;

    let mut status = String::new();
    let mut main_list = String::new();
    let mut security_list = String::new();
    for i in 0..DEB_INSTALLED {
        let name = installed_name(i);
        let version = generated_version(i);
        let depends = installed_depends(i);
        status.push_str("Package: ");
        let mut stanza = String::new();
        deb_stanza(&mut stanza, &name, &version, &arch, &depends);
        // dpkg writes Status right after Package.
        status.push_str(&stanza.replacen(
            &format!("Package: {name}\n"),
            &format!("{name}\nStatus: install ok installed\n"),
            1,
        ));
        status.push('\n');
        main_list.push_str(&stanza);
        archive_fields(&mut main_list, &name, &version, &arch, i);
        if i % (DEB_INSTALLED / DEB_SECURITY_UPDATES) == 0 {
            let version = security_version(i);
            deb_stanza(&mut security_list, &name, &version, &arch, &depends);
            archive_fields(&mut security_list, &name, &version, &arch, i);
        }
    }
    for i in 0..DEB_NOT_INSTALLED {
        let name = format!("gen-extra{i:05}");
        let version = generated_version(i);
        deb_stanza(&mut main_list, &name, &version, &arch, &[]);
        archive_fields(&mut main_list, &name, &version, &arch, i);
    }
    let status_path = root.path().join("var/lib/dpkg/status");
    let mut database = fs::read_to_string(&status_path)?;
    database.push_str(&status);
    fs::write(&status_path, database)?;
    extend_suite(repo.dir(), "bookworm", &arch, &main_list)?;
    extend_suite(repo.dir(), "bookworm-security", &arch, &security_list)?;
    root.refresh()?;
    Ok(root)
}

/// Appends `stanzas` to a published suite's Packages index and rewrites
/// its compressed copy and Release file (same header fields, new hashes).
fn extend_suite(repo: &Path, suite: &str, arch: &str, stanzas: &str) -> BenchResult<()> {
    let suite_dir = repo.join("dists").join(suite);
    let index = suite_dir.join(format!("main/binary-{arch}/Packages"));
    let mut text = fs::read_to_string(&index)?;
    text.push_str(stanzas);
    fs::write(&index, &text)?;
    let gz = index.with_extension("gz");
    fs::remove_file(&gz)?;
    run_ok(Command::new("gzip").arg("-k1").arg(&index))?;

    let release_path = suite_dir.join("Release");
    let release = fs::read_to_string(&release_path)?;
    fs::remove_file(&release_path)?;
    let mut ftparchive = Tool::AptFtparchive.command()?;
    ftparchive.current_dir(repo);
    for line in release.lines() {
        let Some((field, value)) = line.split_once(": ") else {
            break;
        };
        if ["MD5Sum", "SHA1", "SHA256", "SHA512"].contains(&field) {
            break;
        }
        ftparchive.arg(format!("-oAPT::FTPArchive::Release::{field}={value}"));
    }
    ftparchive
        .arg("release")
        .arg(Path::new("dists").join(suite));
    let output = run_ok(&mut ftparchive)?;
    fs::write(&release_path, output)?;
    Ok(())
}

fn run_ok(command: &mut Command) -> BenchResult<Vec<u8>> {
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(output.stdout)
}

// ----------------------------------------------------------------- Rocky --

fn rpm_name(i: usize) -> String {
    format!("gen-rpm{i:04}")
}

fn rpm_version(i: usize) -> String {
    format!("{}.{}.{}", 1 + i % 5, i % 13, i % 7)
}

fn dnf_root(dir: &Path) -> BenchResult<DnfRoot> {
    let out = dir.join("rpms");
    let indices: Vec<usize> = (0..RPM_INSTALLED).collect();
    let v1: Vec<BuiltRpm> = in_two_threads(&indices, |&i| {
        RpmPackage::new(rpm_name(i), rpm_version(i)).build(&out)
    })?;
    let v2: Vec<BuiltRpm> = in_two_threads(&indices[..RPM_UPDATES], |&i| {
        RpmPackage::new(rpm_name(i), rpm_version(i))
            .release("2.el9_4")
            .build(&out)
    })?;
    let repo = RpmRepository::new(dir.join("repo"), UpdateinfoStyle::RedHat)?;
    let v1_paths: Vec<&Path> = v1.iter().map(|b| b.path.as_path()).collect();
    repo.publish(&v1_paths, &[])?;
    let root = DnfRoot::create(
        dir.join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("bench", &repo)],
            ..DnfRootOptions::default()
        },
    )?;
    root.refresh()?;
    let names: Vec<String> = indices.iter().map(|&i| rpm_name(i)).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    root.install(&names)?;

    let issued: Timestamp = "2024-01-10T09:00:00Z".parse()?;
    let advisories: Vec<Advisory> = v2
        .iter()
        .enumerate()
        .map(|(i, build)| {
            let advisory = if i % 2 == 0 {
                Advisory::security(format!("RLSA-2024:{i:04}"), "Important", issued)
                    .with_cve(format!("CVE-2024-{:04}", 1000 + i))
            } else {
                Advisory::new(format!("RLBA-2024:{i:04}"), AdvisoryKind::Bugfix, issued)
            };
            advisory.with_packages([build])
        })
        .collect();
    let mut all = v1_paths.clone();
    all.extend(v2.iter().map(|b| b.path.as_path()));
    repo.publish(&all, &advisories)?;
    root.refresh()?;
    Ok(root)
}
