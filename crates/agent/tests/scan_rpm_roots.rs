//! Scans of rpm-family testkit roots (Rocky 9 with dnf, openSUSE Leap with
//! zypper) whose rpmdb and repository caches were written by the real rpm,
//! dnf and zypper: advisories published after the install make the fixed
//! builds `missing` under the right baseline, and `installed` once the
//! package manager installs them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use jiff::Timestamp;
use patchline_agent::source::PackageManager;
use patchline_agent::{NodeRoot, ScanError, ScanOptions, ScanReport, scan};
use patchline_core::baseline::{Baseline, ComplianceLevel};
use patchline_core::compliance::{ComplianceStatus, PackageState};
use patchline_core::os::OsFamily;
use patchline_testkit::{
    Advisory, AdvisoryKind, BuiltRpm, DnfRoot, DnfRootOptions, PackageRoot, RpmPackage,
    RpmRepoEntry, RpmRepository, UpdateinfoStyle, ZypperRoot, ZypperRootOptions,
};

const NOW: &str = "2024-02-20T12:00:00Z";

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn scan_with(root: &Path, baseline: Option<Baseline>) -> ScanReport {
    let started = Instant::now();
    let report = ok(scan(
        &NodeRoot::new(root),
        &ScanOptions {
            baseline,
            now: at(NOW),
        },
    ));
    eprintln!("scan of {} took {:?}", root.display(), started.elapsed());
    report
}

fn package<'r>(
    report: &'r ScanReport,
    name: &str,
) -> &'r patchline_core::compliance::PackageCompliance<'r> {
    report
        .compliance
        .package(name, "noarch")
        .unwrap_or_else(|| {
            panic!(
                "{name} not in the report: {:#?}",
                report.compliance.packages
            )
        })
}

/// The distribution-specific bits of one scenario.
struct Flavor {
    family: OsFamily,
    manager: PackageManager,
    security_id: &'static str,
    severity: &'static str,
    bugfix_kind: AdvisoryKind,
}

/// v1 and v2 builds of: `kit-ssl` (security fix), `kit-tool` (bugfix
/// released yesterday), `kit-epoch` (v2 is `1:1.0-1`, older-looking but
/// newer by epoch) and `kit-plain` (never updated, no advisory).
struct Builds {
    v1: Vec<BuiltRpm>,
    v2: Vec<BuiltRpm>,
}

fn builds(dir: &Path) -> Builds {
    let build = |package: RpmPackage| ok(package.build(&dir.join("rpms")));
    Builds {
        v1: vec![
            build(RpmPackage::new("kit-ssl", "3.0.7")),
            build(RpmPackage::new("kit-tool", "2.0")),
            build(RpmPackage::new("kit-epoch", "9.0")),
            build(RpmPackage::new("kit-plain", "1.0")),
        ],
        v2: vec![
            build(RpmPackage::new("kit-ssl", "3.0.7").release("2")),
            build(RpmPackage::new("kit-tool", "2.1")),
            build(RpmPackage::new("kit-epoch", "1.0").epoch(1)),
        ],
    }
}

fn advisories(flavor: &Flavor, v2: &[BuiltRpm]) -> Vec<Advisory> {
    vec![
        Advisory::security(
            flavor.security_id,
            flavor.severity,
            at("2024-01-10T09:00:00Z"),
        )
        .with_cve("CVE-2024-0727")
        .with_packages([&v2[0]]),
        Advisory::new("KIT-BUG-1", flavor.bugfix_kind, at("2024-02-19T08:00:00Z"))
            .with_packages([&v2[1]]),
        Advisory::security("KIT-SEC-EPOCH", "Important", at("2024-01-11T09:00:00Z"))
            .with_packages([&v2[2]]),
    ]
}

/// Security critical/important at once (level critical), bugfixes at once
/// (level medium).
fn custom_baseline(family: OsFamily) -> Baseline {
    ok(Baseline::from_yaml(&format!(
        "name: fast-{family}\n\
         os-family: {family}\n\
         approval-rules:\n\
         \x20 - filters:\n\
         \x20     classification: [security]\n\
         \x20     severity: [critical, important]\n\
         \x20   approve-after-days: 0\n\
         \x20   compliance-level: critical\n\
         \x20 - filters:\n\
         \x20     classification: [bugfix]\n\
         \x20   approve-after-days: 0\n\
         \x20   compliance-level: medium\n\
         \x20   include-non-security: true\n"
    )))
}

/// The whole scenario on one root.
fn run_scenario(flavor: &Flavor, dir: &Path, root: &dyn PackageRoot, repo: &RpmRepository) {
    let builds = builds(dir);
    ok(repo.publish(&paths(&builds.v1), &[]));
    ok(root.refresh());
    ok(root.install(&["kit-ssl", "kit-tool", "kit-epoch", "kit-plain"]));

    let before = scan_with(root.path(), None);
    assert_eq!(before.facts.os.family, flavor.family);
    assert_eq!(before.installed_packages, 5, "4 kits + the testkit base");
    assert_eq!(before.compliance.status, ComplianceStatus::Compliant);
    assert!(!before.facts.reboot_required);

    let mut published = paths(&builds.v1);
    published.extend(paths(&builds.v2));
    ok(repo.publish(&published, &advisories(flavor, &builds.v2)));
    ok(root.refresh());

    // Default baseline: security critical/important after 7 days; bugfixes
    // after 7 days, so yesterday's bugfix is not approved yet.
    let default = scan_with(root.path(), None);
    assert_eq!(default.sources.len(), 1, "{:?}", default.sources);
    let source = &default.sources[0];
    assert_eq!(
        (source.manager, source.name.as_str(), source.security),
        (flavor.manager, "kits", true)
    );
    assert_eq!(source.advisories, Some(3));
    assert_eq!(
        default.known_versions, 7,
        "every listed version of the 4 kits"
    );
    assert_eq!(default.compliance.status, ComplianceStatus::NonCompliant);
    let ssl = package(&default, "kit-ssl");
    assert_eq!(ssl.state, PackageState::Missing);
    assert_eq!(ssl.installed_version.as_deref(), Some("3.0.7-1"));
    assert_eq!(ssl.approved_version.as_deref(), Some("3.0.7-2"));
    assert_eq!(ssl.advisory_id.as_deref(), Some(flavor.security_id));
    assert_eq!(ssl.compliance_level, ComplianceLevel::Unspecified);
    let epoch = package(&default, "kit-epoch");
    assert_eq!(epoch.state, PackageState::Missing);
    assert_eq!(epoch.approved_version.as_deref(), Some("1:1.0-1"));
    let tool = package(&default, "kit-tool");
    assert_eq!(tool.state, PackageState::InstalledOther);
    assert_eq!(tool.approved_version, None);
    assert_eq!(
        package(&default, "kit-plain").state,
        PackageState::InstalledOther
    );

    // A custom baseline approves at once, with its own levels.
    let custom = scan_with(root.path(), Some(custom_baseline(flavor.family)));
    assert_eq!(custom.baseline, format!("fast-{}", flavor.family));
    let ssl = package(&custom, "kit-ssl");
    assert_eq!(
        (ssl.state, ssl.compliance_level),
        (PackageState::Missing, ComplianceLevel::Critical)
    );
    let tool = package(&custom, "kit-tool");
    assert_eq!(
        (
            tool.state,
            tool.compliance_level,
            tool.approved_version.as_deref()
        ),
        (
            PackageState::Missing,
            ComplianceLevel::Medium,
            Some("2.1-1")
        )
    );
    assert_eq!(custom.compliance.severity, Some(ComplianceLevel::Critical));

    // The real package manager installs the fixes.
    ok(root.install_version("kit-ssl", "3.0.7-2"));
    ok(root.install_version("kit-epoch", "1:1.0-1"));
    let after = scan_with(root.path(), None);
    assert_eq!(after.compliance.status, ComplianceStatus::Compliant);
    for name in ["kit-ssl", "kit-epoch"] {
        let fixed = package(&after, name);
        assert_eq!(fixed.state, PackageState::Installed, "{name}");
        assert_eq!(fixed.installed_version, fixed.approved_version, "{name}");
    }
    assert_eq!(
        package(&after, "kit-epoch").installed_version.as_deref(),
        Some("1:1.0-1")
    );
    // Not the live host: no running kernel, no boot time, no marker.
    assert!(!after.facts.reboot_required);
}

fn paths(builds: &[BuiltRpm]) -> Vec<PathBuf> {
    builds.iter().map(|b| b.path.clone()).collect()
}

#[test]
fn a_dnf_root_scans_with_advisories_and_after_dnf_installs_the_fixes() {
    let dir = ok(tempfile::tempdir());
    let repo = ok(RpmRepository::new(
        dir.path().join("repo"),
        UpdateinfoStyle::RedHat,
    ));
    let root = ok(DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kits", &repo)],
            ..DnfRootOptions::default()
        },
    ));
    let flavor = Flavor {
        family: OsFamily::RhelCompatible,
        manager: PackageManager::Dnf,
        security_id: "RLSA-2024:0001",
        severity: "Important",
        bugfix_kind: AdvisoryKind::Bugfix,
    };
    run_scenario(&flavor, dir.path(), &root, &repo);
}

#[test]
fn a_zypper_root_scans_with_advisories_and_after_zypper_installs_the_fixes() {
    let dir = ok(tempfile::tempdir());
    let repo = ok(RpmRepository::new(
        dir.path().join("repo"),
        UpdateinfoStyle::Suse,
    ));
    let root = ok(ZypperRoot::create(
        dir.path().join("node"),
        &ZypperRootOptions {
            repositories: vec![RpmRepoEntry::new("kits", &repo)],
            ..ZypperRootOptions::default()
        },
    ));
    let flavor = Flavor {
        family: OsFamily::Suse,
        manager: PackageManager::Zypper,
        security_id: "openSUSE-SU-2024:0001-1",
        severity: "critical",
        bugfix_kind: AdvisoryKind::Bugfix,
    };
    run_scenario(&flavor, dir.path(), &root, &repo);
}

/// Content of every file under `dir`, keyed by path, except SQLite's
/// `-shm` shared-memory index: every reader of a WAL-mode database (here
/// `rpm -qa` on rpmdb.sqlite, as on any RPM host) updates it by design; the
/// database and its write-ahead log stay byte-identical.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in ok(fs::read_dir(&current)) {
            let entry = ok(entry);
            let kind = ok(entry.file_type());
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && !entry.path().to_string_lossy().ends_with("-shm") {
                files.insert(entry.path(), ok(fs::read(entry.path())));
            }
        }
    }
    files
}

#[test]
fn a_corrupt_cached_primary_is_a_clear_error_and_changes_nothing() {
    let dir = ok(tempfile::tempdir());
    let repo = ok(RpmRepository::new(
        dir.path().join("repo"),
        UpdateinfoStyle::RedHat,
    ));
    let root = ok(DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kits", &repo)],
            ..DnfRootOptions::default()
        },
    ));
    let v1 = ok(RpmPackage::new("kit-ssl", "3.0.7").build(&dir.path().join("rpms")));
    ok(repo.publish(&[&v1.path], &[]));
    ok(root.refresh());
    ok(root.install(&["kit-ssl"]));
    let cache = root.path().join("var/cache/dnf");
    let repodata = ok(fs::read_dir(&cache))
        .map(|entry| ok(entry).path().join("repodata"))
        .find(|path| path.is_dir())
        .expect("dnf makecache wrote a repodata directory");
    let primary = ok(fs::read_dir(&repodata))
        .map(|entry| ok(entry).path())
        .find(|path| path.to_string_lossy().ends_with("-primary.xml.gz"))
        .expect("a cached primary.xml.gz");
    let bytes = ok(fs::read(&primary));
    ok(fs::write(&primary, &bytes[..bytes.len() / 2]));

    let before = snapshot(root.path());
    let error = scan(
        &NodeRoot::new(root.path()),
        &ScanOptions {
            baseline: None,
            now: at(NOW),
        },
    )
    .unwrap_err();
    assert!(matches!(error, ScanError::RpmInventory(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&primary.display().to_string()),
        "{message}"
    );
    let after = snapshot(root.path());
    let changed: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(changed.is_empty(), "the scan changed {changed:?}");
}

#[test]
fn a_version_in_two_dnf_repositories_is_known_once_with_the_advisory_of_either() {
    let dir = ok(tempfile::tempdir());
    let kits = ok(RpmRepository::new(
        dir.path().join("kits"),
        UpdateinfoStyle::RedHat,
    ));
    let mirror = ok(RpmRepository::new(
        dir.path().join("mirror"),
        UpdateinfoStyle::RedHat,
    ));
    let root = ok(DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![
                RpmRepoEntry::new("kits", &kits),
                // A repo id with dashes: dnf's cache directory adds one more.
                RpmRepoEntry::new("kits-mirror-2", &mirror),
            ],
            ..DnfRootOptions::default()
        },
    ));
    let rpms = dir.path().join("rpms");
    let v1 = ok(RpmPackage::new("kit-ssl", "3.0.7").build(&rpms));
    let v2 = ok(RpmPackage::new("kit-ssl", "3.0.7")
        .release("2")
        .build(&rpms));
    ok(kits.publish(&[&v1.path], &[]));
    ok(mirror.publish(&[&v1.path], &[]));
    ok(root.refresh());
    ok(root.install(&["kit-ssl"]));
    let fix = Advisory::security("RLSA-2024:0002", "Critical", at("2024-01-10T09:00:00Z"))
        .with_packages([&v2]);
    ok(kits.publish(&[&v1.path, &v2.path], &[fix]));
    ok(mirror.publish(&[&v1.path, &v2.path], &[]));
    ok(root.refresh());

    let report = scan_with(root.path(), None);
    let sources: Vec<_> = report
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.security, s.advisories))
        .collect();
    assert_eq!(
        sources,
        [("kits", true, Some(1)), ("kits-mirror-2", false, None)]
    );
    assert_eq!(report.known_versions, 2, "v1 and v2, each once");
    let ssl = package(&report, "kit-ssl");
    assert_eq!(ssl.state, PackageState::Missing);
    assert_eq!(ssl.approved_version.as_deref(), Some("3.0.7-2"));
    assert_eq!(ssl.advisory_id.as_deref(), Some("RLSA-2024:0002"));

    // A removed repository's cache stays behind; it no longer counts.
    ok(root.set_repositories(&[RpmRepoEntry::new("kits-mirror-2", &mirror)]));
    let stale_kits_cache = ok(fs::read_dir(root.path().join("var/cache/dnf"))).any(|entry| {
        let name = ok(entry).file_name().to_string_lossy().into_owned();
        // `kits-<16 hex>`, not `kits-mirror-2-<16 hex>`.
        name.starts_with("kits-") && name.len() == "kits-".len() + 16
    });
    assert!(stale_kits_cache, "dnf keeps the removed repository's cache");
    let report = scan_with(root.path(), None);
    let names: Vec<_> = report.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["kits-mirror-2"]);
    let ssl = package(&report, "kit-ssl");
    assert_eq!(
        ssl.state,
        PackageState::InstalledOther,
        "no advisory: not approved"
    );
}
