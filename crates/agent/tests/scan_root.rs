//! Scans of isolated node roots built from real dpkg/apt file formats.

use std::fs;
use std::path::Path;

use jiff::Timestamp;
use patchline_agent::{NodeRoot, ScanError, ScanOptions, scan};
use patchline_core::baseline::Baseline;
use patchline_core::compliance::{ComplianceStatus, PackageState};

const STATUS: &str = "\
Package: openssl
Status: install ok installed
Priority: optional
Section: utils
Architecture: amd64
Version: 3.0.11-1~deb12u1

Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u1

Package: curl
Status: install ok half-configured
Priority: optional
Section: web
Architecture: amd64
Version: 7.88.1-10+deb12u4

Package: vim
Status: install ok installed
Priority: optional
Section: editors
Architecture: amd64
Version: 2:9.0.1378-2

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
";

fn release(suite: &str, label: &str, date: &str) -> String {
    format!(
        "Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: bookworm\nDate: {date}\nArchitectures: amd64\nComponents: main\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 10 main/binary-amd64/Packages\n"
    )
}

fn stanza(name: &str, version: &str, section: &str) -> String {
    format!(
        "Package: {name}\nVersion: {version}\nArchitecture: amd64\nPriority: optional\nSection: {section}\nFilename: pool/{name}_{version}_amd64.deb\nSize: 1000\nDescription: {name}\n long description line\n"
    )
}

/// A Debian 12 node whose lists carry a security fix for openssl/libssl3
/// (released 2024-02-01) and a plain update of vim (released 2024-02-10).
fn build_node(dir: &Path) {
    let lists = dir.join("var/lib/apt/lists");
    fs::create_dir_all(&lists).unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
    fs::write(
        dir.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    fs::write(dir.join("var/lib/dpkg/status"), STATUS).unwrap();

    let security = "deb.debian.org_debian-security_dists_bookworm-security_";
    fs::write(
        lists.join(format!("{security}InRelease")),
        release(
            "bookworm-security",
            "Debian-Security",
            "Thu, 01 Feb 2024 10:00:00 UTC",
        ),
    )
    .unwrap();
    fs::write(
        lists.join(format!("{security}main_binary-amd64_Packages")),
        [
            stanza("openssl", "3.0.13-1~deb12u1", "utils"),
            stanza("libssl3", "3.0.13-1~deb12u1", "libs"),
        ]
        .join("\n"),
    )
    .unwrap();

    let main = "deb.debian.org_debian_dists_bookworm_";
    fs::write(
        lists.join(format!("{main}InRelease")),
        release("stable", "Debian", "Sat, 10 Feb 2024 10:00:00 UTC"),
    )
    .unwrap();
    fs::write(
        lists.join(format!("{main}main_binary-amd64_Packages")),
        [
            stanza("openssl", "3.0.11-1~deb12u1", "utils"),
            stanza("vim", "2:9.0.1378-2+deb12u1", "editors"),
            stanza("curl", "7.88.1-10+deb12u4", "web"),
            stanza("unrelated", "1.0-1", "misc"),
        ]
        .join("\n"),
    )
    .unwrap();
}

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

#[test]
fn default_baseline_approves_the_security_fix_only() {
    let dir = tempfile::tempdir().unwrap();
    build_node(dir.path());
    let options = ScanOptions {
        baseline: None,
        now: at("2024-02-20T00:00:00Z"),
    };
    let report = scan(&NodeRoot::new(dir.path()), &options).unwrap();

    assert_eq!(report.facts.os.product, "Debian12");
    // config-files only: not installed.
    assert_eq!(report.installed_packages, 4);
    assert_eq!(report.sources.len(), 2);
    assert_eq!(report.sources.iter().filter(|s| s.security).count(), 1);
    assert_eq!(report.interrupted.len(), 1);
    assert_eq!(report.interrupted[0].name, "curl");
    assert_eq!(report.interrupted[0].state, "half-configured");

    let c = &report.compliance;
    assert_eq!(c.status, ComplianceStatus::NonCompliant);
    let state = |name: &str| c.package(name, "amd64").map(|p| p.state);
    assert_eq!(state("openssl"), Some(PackageState::Missing));
    assert_eq!(state("libssl3"), Some(PackageState::Missing));
    assert_eq!(state("vim"), Some(PackageState::InstalledOther));
    assert_eq!(state("curl"), Some(PackageState::InstalledOther));
    let targets: Vec<_> = c
        .to_install
        .iter()
        .map(|t| (t.name.as_ref(), t.version.as_ref()))
        .collect();
    assert_eq!(
        targets,
        [
            ("libssl3", "3.0.13-1~deb12u1"),
            ("openssl", "3.0.13-1~deb12u1")
        ]
    );
}

#[test]
fn a_seed_baseline_waits_for_non_security_updates() {
    let dir = tempfile::tempdir().unwrap();
    build_node(dir.path());
    let prod = Baseline::from_yaml(
        &fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/baselines/debian-prod.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let root = NodeRoot::new(dir.path());
    let scan_on = |day: &str| {
        scan(
            &root,
            &ScanOptions {
                baseline: Some(prod.clone()),
                now: at(day),
            },
        )
        .unwrap()
    };
    // vim's update (2024-02-10) is not approved 10 days later, is after 14.
    let early = scan_on("2024-02-20T12:00:00Z");
    assert_eq!(
        early.compliance.package("vim", "amd64").map(|p| p.state),
        Some(PackageState::InstalledOther)
    );
    let late = scan_on("2024-02-24T12:00:00Z");
    let vim = late.compliance.package("vim", "amd64").unwrap();
    assert_eq!(vim.state, PackageState::Missing);
    assert_eq!(
        vim.approved_version.as_deref(),
        Some("2:9.0.1378-2+deb12u1")
    );
}

#[test]
fn a_corrupt_status_file_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    build_node(dir.path());
    fs::write(
        dir.path().join("var/lib/dpkg/status"),
        "Package: openssl\nStatus install ok installed\n",
    )
    .unwrap();
    let error = scan(
        &NodeRoot::new(dir.path()),
        &ScanOptions {
            baseline: None,
            now: at("2024-02-20T00:00:00Z"),
        },
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ScanError::Inventory(_)), "{message}");
    assert!(message.contains("var/lib/dpkg/status"), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn a_truncated_compressed_index_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    build_node(dir.path());
    let lists = dir.path().join("var/lib/apt/lists");
    let index = lists.join("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages");
    let status = std::process::Command::new("gzip")
        .arg("-f")
        .arg(&index)
        .status()
        .expect("gzip must be installed");
    assert!(status.success());
    let gz = index.with_file_name(format!(
        "{}.gz",
        index.file_name().unwrap().to_str().unwrap()
    ));
    let bytes = fs::read(&gz).unwrap();
    let options = ScanOptions {
        baseline: None,
        now: at("2024-02-20T00:00:00Z"),
    };
    // The intact .gz index is read like the plain one.
    let report = scan(&NodeRoot::new(dir.path()), &options).unwrap();
    assert_eq!(report.known_versions, 5);

    fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    let message = scan(&NodeRoot::new(dir.path()), &options)
        .unwrap_err()
        .to_string();
    assert!(message.contains("_Packages.gz"), "{message}");
}

#[test]
fn an_rpm_family_root_without_an_rpm_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(
        dir.path().join("etc/os-release"),
        "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n",
    )
    .unwrap();
    let error = scan(
        &NodeRoot::new(dir.path()),
        &ScanOptions {
            baseline: None,
            now: at("2024-02-20T00:00:00Z"),
        },
    )
    .unwrap_err();
    assert!(matches!(error, ScanError::RpmInventory(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("no rpm database") && message.contains("/var/lib/rpm"),
        "{message}"
    );
}

#[test]
fn the_live_host_scans_when_it_is_debian_family() {
    let root = NodeRoot::new("/");
    let os = fs::read_to_string("/etc/os-release").unwrap_or_default();
    if !os.contains("debian") {
        // The project's supported development hosts are Debian/Ubuntu; the
        // RPM-family path is covered by the testkit roots (scan_rpm_roots.rs).
        return;
    }
    let report = scan(
        &root,
        &ScanOptions {
            baseline: None,
            now: Timestamp::now(),
        },
    )
    .unwrap();
    assert!(report.installed_packages > 50);
    assert!(report.facts.kernel.is_some());
    assert_eq!(
        report.compliance.packages.len(),
        report.installed_packages + report.compliance.state_counts.not_applicable as usize
    );
}

#[test]
fn the_dpkg_journal_of_a_killed_run_overrides_the_status_file() {
    let dir = tempfile::tempdir().unwrap();
    build_node(dir.path());
    // dpkg was killed after recording openssl's new version as unpacked:
    // only its journal knows.
    let journal = dir.path().join("var/lib/dpkg/updates");
    fs::create_dir_all(&journal).unwrap();
    fs::write(
        journal.join("0000"),
        "Package: openssl\nStatus: install reinstreq half-installed\nPriority: optional\nSection: utils\nArchitecture: amd64\nVersion: 3.0.13-1~deb12u1\n",
    )
    .unwrap();
    fs::write(journal.join("tmp.i"), "garbage that is not a journal entry").unwrap();
    let report = scan(
        &NodeRoot::new(dir.path()),
        &ScanOptions {
            baseline: None,
            now: at("2024-02-20T00:00:00Z"),
        },
    )
    .unwrap();
    for pair in [("openssl", "half-installed"), ("curl", "half-configured")] {
        assert!(
            interrupted_contains(&report, &pair),
            "{:?}",
            report.interrupted
        );
    }
    assert_eq!(report.interrupted.len(), 2);
    let openssl = report.compliance.package("openssl", "amd64").unwrap();
    assert_eq!(
        openssl.installed_version.as_deref(),
        Some("3.0.13-1~deb12u1")
    );
}

fn interrupted_contains(report: &patchline_agent::ScanReport, pair: &(&str, &str)) -> bool {
    report
        .interrupted
        .iter()
        .any(|p| p.name == pair.0 && p.state == pair.1)
}
