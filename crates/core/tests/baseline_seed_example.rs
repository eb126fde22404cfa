//! The seed's policy, from the example files in `examples/baselines/`:
//! Dev approves everything after 0 days; Test approves critical security
//! after 0 days and the rest after 7; Prod the same after 14. The same node
//! is evaluated on the same day against all three.

mod baseline_support;

use baseline_support::*;
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::{ComplianceStatus, PackageState};
use patchline_core::os::OsInfo;
use patchline_core::package::{Classification, Severity};

use Classification::{Bugfix, Enhancement, Other, Security};
use Severity::{Critical, Important, Moderate, Unspecified};

/// Approved, not installed yet.
const MISSING: PackageState = PackageState::Missing;
/// Not approved (yet).
const WAITING: PackageState = PackageState::InstalledOther;
/// A security update not approved (yet).
const SECURITY: PackageState = PackageState::AvailableSecurityUpdate;

/// One update per row: classification, severity, age in days, and the
/// expected state of its package in Dev, Test and Prod.
type Row = (Classification, Severity, i64, [PackageState; 3]);

/// Installs one package per row at `0.1-1`, offers the row's update at
/// `0.2-1`, and checks each environment's example baseline.
fn run(os: OsInfo, prefix: &str, rows: &[Row]) {
    let arch = if prefix == "rhel" { "x86_64" } else { "amd64" };
    let name = |row: usize| format!("package-{row}");
    let installed = (0..rows.len())
        .map(|row| installed(&name(row), arch, "0.1-1"))
        .collect();
    let updates = rows
        .iter()
        .enumerate()
        .map(|(row, &(classification, severity, age, _))| {
            update(
                &name(row),
                arch,
                "0.2-1",
                classification,
                severity,
                days_ago(age),
            )
        })
        .collect();
    let node = Node::new(os, installed, updates);
    for (column, environment) in ["dev", "test", "prod"].into_iter().enumerate() {
        let report = evaluate(&example(&format!("{prefix}-{environment}.yaml")), &node);
        for (row, (classification, severity, age, states)) in rows.iter().enumerate() {
            let line = report
                .package(&name(row), arch)
                .expect("every package is reported");
            assert_eq!(
                line.state, states[column],
                "{prefix}-{environment}: {classification} {severity} released {age} days ago"
            );
        }
        assert_eq!(report.status, ComplianceStatus::NonCompliant);
    }
}

#[test]
fn rhel_dev_test_prod_on_the_same_day() {
    #[rustfmt::skip]
    let rows = [
        // classification, severity, age: [Dev, Test, Prod]
        (Security, Critical, 3, [MISSING, MISSING, MISSING]),
        (Security, Critical, 0, [MISSING, MISSING, MISSING]),
        (Bugfix, Unspecified, 10, [MISSING, MISSING, WAITING]),
        (Bugfix, Unspecified, 20, [MISSING, MISSING, MISSING]),
        (Bugfix, Unspecified, 0, [MISSING, WAITING, WAITING]),
        (Enhancement, Unspecified, 7, [MISSING, MISSING, WAITING]),
        (Enhancement, Unspecified, 6, [MISSING, WAITING, WAITING]),
        (Security, Important, 3, [MISSING, SECURITY, SECURITY]),
        (Security, Moderate, 14, [MISSING, MISSING, MISSING]),
        (Security, Moderate, 13, [MISSING, MISSING, SECURITY]),
    ];
    run(rocky93(), "rhel", &rows);
}

#[test]
fn debian_dev_test_prod_on_the_same_day() {
    // Debian metadata has no vendor severity: the examples treat every
    // security-suite update as the "critical security" track.
    #[rustfmt::skip]
    let rows = [
        // classification, severity, age: [Dev, Test, Prod]
        (Security, Unspecified, 3, [MISSING, MISSING, MISSING]),
        (Security, Unspecified, 0, [MISSING, MISSING, MISSING]),
        (Other, Unspecified, 10, [MISSING, MISSING, WAITING]),
        (Other, Unspecified, 20, [MISSING, MISSING, MISSING]),
        (Other, Unspecified, 14, [MISSING, MISSING, MISSING]),
        (Other, Unspecified, 13, [MISSING, MISSING, WAITING]),
        (Other, Unspecified, 7, [MISSING, MISSING, WAITING]),
        (Other, Unspecified, 6, [MISSING, WAITING, WAITING]),
    ];
    run(debian12(), "debian", &rows);
}

#[test]
fn prod_severity_comes_from_the_critical_security_rule() {
    let node = Node::new(
        rocky93(),
        vec![
            installed("openssl", "x86_64", "1:3.0.7-24.el9"),
            installed("curl", "x86_64", "7.76.1-26.el9"),
        ],
        vec![
            security("openssl", "x86_64", "1:3.0.7-27.el9", Critical, days_ago(3)),
            bugfix("curl", "x86_64", "7.76.1-29.el9", days_ago(20)),
        ],
    );
    let report = evaluate(&example("rhel-prod.yaml"), &node);
    assert_eq!(report.severity, Some(ComplianceLevel::Critical));
    assert_eq!(report.non_compliant_levels.critical, 1);
    assert_eq!(report.non_compliant_levels.medium, 1);
    assert_eq!(report.to_install.len(), 2);
}
