//! Every compliance state a scan can report, at once, on one Debian root
//! (apt) and one Rocky root (dnf) built by the testkit with the real
//! package managers, against one baseline written here:
//!
//! | package | how | state |
//! |---|---|---|
//! | `kit-done` | approved security update installed | `installed` |
//! | `kit-plain` | never updated | `installed-other` |
//! | `kit-kernel` | approved update installed, named by `run/reboot-required.pkgs` | `installed-pending-reboot` |
//! | `kit-telnet` | on the rejected list, action `block` | `installed-rejected` |
//! | `kit-ssl` | approved security update not installed | `missing` |
//! | `kit-risky` | security update the baseline does not approve | `available-security-update` |
//!
//! With `available-security-updates-compliance: non-compliant`, `kit-risky`
//! alone would make the node non-compliant; the node's severity is the
//! highest level among its non-compliant packages.
//!
//! Two states cannot come out of a scan, by design:
//! - `failed` needs the install flow's failed marks (a scan passes none);
//!   `install_apt.rs` covers it end to end (a postinst that exits 1).
//! - `not-applicable` is an approved update no installed package can take;
//!   the scan only collects versions of installed names with compatible
//!   architectures (the lists hold tens of thousands of other names, see
//!   `apt::stanzas`), so every update it reports has a taker. The core's
//!   evaluation tests cover the state.
//!
//! Reboots: on RPM roots the `reboot_suggested` rule of dnf's
//! `needs-restarting -r` needs a boot time, so it applies to the live host
//! only (see `rpm::reboot`); a directory root, like here, takes the same
//! `run/reboot-required.pkgs` marker as Debian (read with the facts).

use std::fs;
use std::path::Path;

use jiff::Timestamp;
use patchline_agent::{NodeRoot, ScanOptions, ScanReport, scan};
use patchline_core::baseline::{Baseline, ComplianceLevel};
use patchline_core::compliance::{ComplianceStatus, PackageState, StateCounts};
use patchline_core::os::OsFamily;
use patchline_testkit::{
    Advisory, AptRepository, AptRoot, AptRootOptions, AptSuite, BuiltRpm, DebPackage, DnfRoot,
    DnfRootOptions, PackageRoot, RpmPackage, RpmRepoEntry, RpmRepository, UpdateinfoStyle,
};

const NOW: &str = "2024-02-20T12:00:00Z";
/// Installed on every root.
const KITS: [&str; 6] = [
    "kit-done",
    "kit-plain",
    "kit-kernel",
    "kit-telnet",
    "kit-ssl",
    "kit-risky",
];
/// Have a security update.
const UPDATED: [&str; 4] = ["kit-done", "kit-kernel", "kit-ssl", "kit-risky"];

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

/// Security updates of three kits approved at once (critical), `kit-risky`'s
/// not; `kit-telnet` blocked (medium); unapproved security updates count.
fn baseline(family: OsFamily) -> Baseline {
    ok(Baseline::from_yaml(&format!(
        "name: every-state\n\
         os-family: {family}\n\
         approval-rules:\n\
         \x20 - filters:\n\
         \x20     classification: [security]\n\
         \x20     name: [kit-done, kit-kernel, kit-ssl]\n\
         \x20   approve-after-days: 0\n\
         \x20   compliance-level: critical\n\
         rejected-patches:\n\
         \x20 patches: [kit-telnet]\n\
         \x20 action: block\n\
         \x20 compliance-level: medium\n\
         available-security-updates-compliance: non-compliant\n"
    )))
}

fn mark_reboot_required(root: &Path, package: &str) {
    ok(fs::create_dir_all(root.join("run")));
    ok(fs::write(
        root.join("run/reboot-required"),
        "*** System restart required ***\n",
    ));
    ok(fs::write(
        root.join("run/reboot-required.pkgs"),
        format!("{package}\n"),
    ));
}

fn scan_root(root: &Path, family: OsFamily) -> ScanReport {
    ok(scan(
        &NodeRoot::new(root),
        &ScanOptions {
            baseline: Some(baseline(family)),
            now: ok(NOW.parse::<Timestamp>()),
        },
    ))
}

/// The assertions both families share; `other_installed` counts packages
/// outside the kits (the rpm roots' base package).
fn assert_every_state(report: &ScanReport, arch: &str, other_installed: u32) {
    let state = |name: &str| {
        report
            .compliance
            .package(name, arch)
            .unwrap_or_else(|| panic!("{name} not in {:#?}", report.compliance.packages))
    };
    let expected = [
        ("kit-done", PackageState::Installed),
        ("kit-plain", PackageState::InstalledOther),
        ("kit-kernel", PackageState::InstalledPendingReboot),
        ("kit-telnet", PackageState::InstalledRejected),
        ("kit-ssl", PackageState::Missing),
        ("kit-risky", PackageState::AvailableSecurityUpdate),
    ];
    for (name, expected) in expected {
        assert_eq!(state(name).state, expected, "{name}");
    }
    assert!(report.facts.reboot_required);
    assert_eq!(state("kit-ssl").compliance_level, ComplianceLevel::Critical);
    assert_eq!(
        state("kit-telnet").compliance_level,
        ComplianceLevel::Medium
    );
    assert!(
        state("kit-risky").non_compliant,
        "non-compliant by the baseline"
    );
    assert!(!state("kit-done").non_compliant);
    assert_eq!(report.compliance.status, ComplianceStatus::NonCompliant);
    assert_eq!(report.compliance.severity, Some(ComplianceLevel::Critical));
    assert_eq!(
        report.compliance.state_counts,
        StateCounts {
            installed: 1,
            installed_other: 1 + other_installed,
            installed_pending_reboot: 1,
            installed_rejected: 1,
            missing: 1,
            failed: 0,
            not_applicable: 0,
            available_security_update: 1,
        }
    );
    let to_install: Vec<&str> = report
        .compliance
        .to_install
        .iter()
        .map(|target| target.name.as_ref())
        .collect();
    assert_eq!(to_install, ["kit-ssl"]);
}

#[test]
fn a_debian_root_shows_every_state_a_scan_can_report() {
    let dir = ok(tempfile::tempdir());
    let v1: Vec<_> = KITS
        .iter()
        .map(|name| ok(DebPackage::new(*name, "1.0-1").build(&dir.path().join("v1"))))
        .collect();
    let v2: Vec<_> = UPDATED
        .iter()
        .map(|name| ok(DebPackage::new(*name, "1.0-1+deb12u1").build(&dir.path().join("v2"))))
        .collect();
    let mut repo = ok(AptRepository::new(dir.path().join("repo")));
    ok(repo.publish(&[AptSuite::new("bookworm").with_packages(&v1)]));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&KITS));

    ok(repo.publish(&[
        AptSuite::new("bookworm").with_packages(&v1),
        AptSuite::security("bookworm-security")
            .with_date(ok("2024-02-01T10:00:00Z".parse()))
            .with_packages(&v2),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());
    ok(root.install(&["kit-done", "kit-kernel"]));
    mark_reboot_required(root.path(), "kit-kernel");

    let report = scan_root(root.path(), OsFamily::Debian);
    assert_eq!(report.installed_packages, KITS.len());
    assert_every_state(&report, "all", 0);
    let done = ok(report
        .compliance
        .package("kit-done", "all")
        .ok_or("kit-done"));
    assert_eq!(done.installed_version.as_deref(), Some("1.0-1+deb12u1"));
}

#[test]
fn a_dnf_root_shows_every_state_a_scan_can_report() {
    let dir = ok(tempfile::tempdir());
    let out = dir.path().join("rpms");
    let v1: Vec<BuiltRpm> = KITS
        .iter()
        .map(|name| ok(RpmPackage::new(*name, "1.0").build(&out)))
        .collect();
    let v2: Vec<BuiltRpm> = UPDATED
        .iter()
        .map(|name| ok(RpmPackage::new(*name, "1.0").release("2.el9_3").build(&out)))
        .collect();
    let repo = ok(RpmRepository::new(
        dir.path().join("repo"),
        UpdateinfoStyle::RedHat,
    ));
    ok(repo.publish(&v1, &[]));
    let root = ok(DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kits", &repo)],
            ..DnfRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&KITS));

    let issued: Timestamp = ok("2024-02-01T10:00:00Z".parse());
    let advisories: Vec<Advisory> = v2
        .iter()
        .enumerate()
        .map(|(i, build)| {
            let advisory = Advisory::security(format!("RLSA-2024:{i:04}"), "Important", issued)
                .with_packages([build]);
            if build.name == "kit-kernel" {
                // Only acts on a live host (see the module documentation).
                advisory.with_reboot_suggested()
            } else {
                advisory
            }
        })
        .collect();
    let mut published = v1.clone();
    published.extend(v2.iter().cloned());
    ok(repo.publish(&published, &advisories));
    ok(root.refresh());
    ok(root.install(&["kit-done", "kit-kernel"]));

    let without_marker = scan_root(root.path(), OsFamily::RhelCompatible);
    assert_eq!(
        ok(without_marker
            .compliance
            .package("kit-kernel", "noarch")
            .ok_or("kit-kernel"))
        .state,
        PackageState::Installed,
        "reboot_suggested alone does not act on a directory root"
    );

    mark_reboot_required(root.path(), "kit-kernel");
    let report = scan_root(root.path(), OsFamily::RhelCompatible);
    assert_eq!(report.installed_packages, KITS.len() + 1, "kits + base");
    assert_every_state(&report, "noarch", 1);
    let done = ok(report
        .compliance
        .package("kit-done", "noarch")
        .ok_or("kit-done"));
    assert_eq!(done.installed_version.as_deref(), Some("1.0-2.el9_3"));
    assert_eq!(done.advisory_id.as_deref(), Some("RLSA-2024:0000"));
}
