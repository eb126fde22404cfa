//! Scans of testkit node roots whose dpkg database and apt lists were
//! written by the real dpkg and apt-get: a security update published after
//! the install is `missing`, and `installed` once apt-get installs it.

use std::path::Path;

use jiff::Timestamp;
use patchline_agent::{NodeRoot, ScanOptions, ScanReport, scan};
use patchline_core::compliance::{ComplianceStatus, PackageState};
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, BuiltDeb, DebPackage, PackageRoot,
};

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn scan_root(root: &AptRoot, now: &str) -> ScanReport {
    ok(scan(
        &NodeRoot::new(root.path()),
        &ScanOptions {
            baseline: None,
            now: at(now),
        },
    ))
}

fn state(report: &ScanReport, name: &str, arch: &str) -> Option<PackageState> {
    report.compliance.package(name, arch).map(|p| p.state)
}

/// `kit-ssl` (security-fixed later) and `kit-editor` (never updated), both
/// of architecture `arch`.
fn packages(out: &Path, arch: &str, ssl_version: &str) -> Vec<BuiltDeb> {
    vec![
        ok(DebPackage::new("kit-ssl", ssl_version)
            .arch(arch)
            .multi_arch("same")
            .section("libs")
            .build(out)),
        ok(DebPackage::new("kit-editor", "2:9.0-2")
            .arch(arch)
            .multi_arch("same")
            .section("editors")
            .build(out)),
    ]
}

#[test]
fn a_security_update_is_missing_until_apt_installs_it() {
    let dir = ok(tempfile::tempdir());
    let arch = ok(native_architecture());
    let v1 = packages(&dir.path().join("v1"), &arch, "3.0.11-1~deb12u1");
    let fixed = packages(&dir.path().join("v2"), &arch, "3.0.13-1~deb12u1");
    let mut repo = ok(AptRepository::new(dir.path().join("repo")));
    let stable = AptSuite::new("stable")
        .with_date(at("2024-01-10T10:00:00Z"))
        .with_packages(&v1);
    ok(repo.publish(std::slice::from_ref(&stable)));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-ssl", "kit-editor"]));

    let before = scan_root(&root, "2024-02-20T00:00:00Z");
    assert_eq!(before.facts.os.product, "Debian12");
    assert_eq!(before.compliance.status, ComplianceStatus::Compliant);
    // Nothing approved applies yet: installed, but not at an approved version.
    assert_eq!(
        state(&before, "kit-ssl", &arch),
        Some(PackageState::InstalledOther)
    );

    ok(repo.publish(&[
        stable,
        AptSuite::security("stable-security")
            .with_date(at("2024-02-01T10:00:00Z"))
            .with_packages(&fixed[..1]),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());

    let missing = scan_root(&root, "2024-02-20T00:00:00Z");
    assert_eq!(missing.compliance.status, ComplianceStatus::NonCompliant);
    assert_eq!(missing.installed_packages, 2);
    assert_eq!(
        missing.sources.iter().filter(|s| s.security).count(),
        1,
        "{:?}",
        missing.sources
    );
    assert_eq!(
        state(&missing, "kit-ssl", &arch),
        Some(PackageState::Missing)
    );
    assert_eq!(
        state(&missing, "kit-editor", &arch),
        Some(PackageState::InstalledOther)
    );
    let targets: Vec<(&str, &str)> = missing
        .compliance
        .to_install
        .iter()
        .map(|t| (t.name.as_ref(), t.version.as_ref()))
        .collect();
    assert_eq!(targets, [("kit-ssl", "3.0.13-1~deb12u1")]);

    ok(ok(root.run_apt_get(&["upgrade"])).ensure_success());
    let installed = scan_root(&root, "2024-02-20T00:00:00Z");
    assert_eq!(
        state(&installed, "kit-ssl", &arch),
        Some(PackageState::Installed)
    );
    assert_eq!(installed.compliance.status, ComplianceStatus::Compliant);
    assert!(installed.compliance.to_install.is_empty());
    assert!(installed.interrupted.is_empty());
}

#[test]
fn both_architectures_of_a_multi_arch_package_are_missing_then_installed() {
    let dir = ok(tempfile::tempdir());
    let native = ok(native_architecture());
    let foreign = if native == "i386" { "amd64" } else { "i386" };
    let architectures = vec![native.clone(), foreign.to_owned()];
    let mut v1 = packages(&dir.path().join("v1"), &native, "1.0-1");
    v1.extend(packages(&dir.path().join("v1"), foreign, "1.0-1"));
    let fixed_native = packages(&dir.path().join("v2"), &native, "1.0-1+deb12u1");
    let fixed_foreign = packages(&dir.path().join("v2"), foreign, "1.0-1+deb12u1");
    let mut repo = ok(AptRepository::with_architectures(
        dir.path().join("repo"),
        &architectures,
    ));
    let stable = AptSuite::new("stable")
        .with_date(at("2024-01-10T10:00:00Z"))
        .with_packages(&v1);
    ok(repo.publish(std::slice::from_ref(&stable)));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            architectures,
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    let ssl_native = format!("kit-ssl:{native}");
    let ssl_foreign = format!("kit-ssl:{foreign}");
    ok(root.install(&[&ssl_native, &ssl_foreign]));

    ok(repo.publish(&[
        stable,
        AptSuite::security("stable-security")
            .with_date(at("2024-02-01T10:00:00Z"))
            .with_packages([&fixed_native[0], &fixed_foreign[0]]),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());
    let missing = scan_root(&root, "2024-02-20T00:00:00Z");
    assert_eq!(missing.installed_packages, 2);
    assert_eq!(
        state(&missing, "kit-ssl", &native),
        Some(PackageState::Missing)
    );
    assert_eq!(
        state(&missing, "kit-ssl", foreign),
        Some(PackageState::Missing)
    );

    // Multi-Arch: same keeps both architectures at one version, so apt
    // upgrades them together.
    ok(root.install_version(&ssl_foreign, "1.0-1+deb12u1"));
    let fixed = scan_root(&root, "2024-02-20T00:00:00Z");
    assert_eq!(
        state(&fixed, "kit-ssl", &native),
        Some(PackageState::Installed)
    );
    assert_eq!(
        state(&fixed, "kit-ssl", foreign),
        Some(PackageState::Installed)
    );
    let versions: Vec<(String, String)> = ok(root.installed())
        .into_iter()
        .map(|p| (p.arch, p.version))
        .collect();
    assert!(
        versions
            .iter()
            .all(|(_, version)| version == "1.0-1+deb12u1"),
        "{versions:?}"
    );
}

#[test]
fn scan_refresh_fetches_new_metadata_before_evaluating() {
    let dir = ok(tempfile::tempdir());
    let arch = ok(native_architecture());
    let v1 = packages(&dir.path().join("v1"), &arch, "3.0.11-1~deb12u1");
    let fixed = packages(&dir.path().join("v2"), &arch, "3.0.13-1~deb12u1");
    let mut repo = ok(AptRepository::new(dir.path().join("repo")));
    let stable = AptSuite::new("stable")
        .with_date(at("2024-01-10T10:00:00Z"))
        .with_packages(&v1);
    ok(repo.publish(std::slice::from_ref(&stable)));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-ssl"]));
    // The fix is published after the root's last refresh.
    ok(repo.publish(&[
        stable,
        AptSuite::security("stable-security")
            .with_date(at("2024-02-01T10:00:00Z"))
            .with_packages(&fixed[..1]),
    ]));
    // The node already lists the security suite (as real nodes do); only
    // its cached lists are stale.
    ok(root.set_sources(&repo.sources()));

    let agent = |refresh: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_patchline-agent"));
        command.args(["scan", "--json", "--at", "2024-02-20T00:00:00Z", "--root"]);
        command.arg(root.path());
        if refresh {
            command.args(["--refresh", "120"]);
        }
        let output = ok(command.output());
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = ok(serde_json::from_slice(&output.stdout));
        report["compliance"]["packages"]
            .as_array()
            .and_then(|packages| packages.iter().find(|p| p["name"] == "kit-ssl"))
            .map(|p| p["state"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(agent(false).as_deref(), Some("installed-other"));
    assert_eq!(agent(true).as_deref(), Some("missing"));
}
