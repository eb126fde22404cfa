//! Per-package compliance states and the node verdict. Each case is a
//! small node (installed packages, candidate updates, failed and pending-
//! reboot marks) evaluated against a baseline on [`TODAY`], with every
//! package line expected as `name/arch state approved-version level` and
//! the install list as `name/arch=version`.

mod baseline_support;

use baseline_support::*;
use patchline_core::baseline::{Baseline, ComplianceLevel};
use patchline_core::compliance::{
    ComplianceStatus, EvaluationError, LevelCounts, NodeCompliance, PackageCompliance,
    PackageState, StateCounts,
};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::{InstalledPackage, PackageRef, Severity, Update};

/// Debian: security at once (critical), everything after 7 days (low).
fn deb_baseline(extra: &str) -> Baseline {
    yaml(&format!(
        "name: deb\nos-family: debian\napproval-rules:\n  - filters: {{ classification: [security] }}\n    approve-after-days: 0\n    compliance-level: critical\n  - approve-after-days: 7\n    compliance-level: low\n    include-non-security: true\n{extra}"
    ))
}

/// RHEL: critical/important security at once (critical), everything after
/// 7 days (low).
fn rpm_baseline(extra: &str) -> Baseline {
    yaml(&format!(
        "name: rpm\nos-family: rhel-compatible\napproval-rules:\n  - filters: {{ classification: [security], severity: [critical, important] }}\n    approve-after-days: 0\n    compliance-level: critical\n  - approve-after-days: 7\n    compliance-level: low\n    include-non-security: true\n{extra}"
    ))
}

/// Debian security update for amd64, `days` old.
fn dsec(name: &str, version: &str, days: i64) -> Update {
    security(
        name,
        "amd64",
        version,
        Severity::Unspecified,
        days_ago(days),
    )
}

/// RHEL security update for x86_64, `days` old.
fn rsec(name: &str, version: &str, severity: Severity, days: i64) -> Update {
    security(name, "x86_64", version, severity, days_ago(days))
}

fn deb(name: &str, version: &str) -> InstalledPackage {
    installed(name, "amd64", version)
}

fn rpm(name: &str, version: &str) -> InstalledPackage {
    installed(name, "x86_64", version)
}

/// The kebab-case name serde gives a value (`installed-other`).
fn kebab<T: serde::Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => panic!("not a unit variant: {other:?}"),
    }
}

fn describe(line: &PackageCompliance<'_>) -> String {
    format!(
        "{}/{} {} {} {}",
        line.name,
        line.arch,
        kebab(line.state),
        line.approved_version.as_deref().unwrap_or("-"),
        kebab(line.compliance_level),
    )
}

struct Case {
    label: &'static str,
    os: OsInfo,
    baseline: Baseline,
    node_installed: Vec<InstalledPackage>,
    updates: Vec<Update>,
    failed: Vec<PackageRef>,
    pending_reboot: Vec<PackageRef>,
}

fn deb_case(label: &'static str, installed: Vec<InstalledPackage>, updates: Vec<Update>) -> Case {
    Case {
        label,
        os: debian12(),
        baseline: deb_baseline(""),
        node_installed: installed,
        updates,
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    }
}

fn rpm_case(label: &'static str, installed: Vec<InstalledPackage>, updates: Vec<Update>) -> Case {
    Case {
        os: rocky93(),
        baseline: rpm_baseline(""),
        ..deb_case(label, installed, updates)
    }
}

impl Case {
    fn baseline(mut self, baseline: Baseline) -> Case {
        self.baseline = baseline;
        self
    }

    fn failed(mut self, marks: Vec<PackageRef>) -> Case {
        self.failed = marks;
        self
    }

    fn pending(mut self, marks: Vec<PackageRef>) -> Case {
        self.pending_reboot = marks;
        self
    }

    fn evaluate(self) -> NodeCompliance<'static> {
        let node = Node {
            failed: self.failed,
            pending_reboot: self.pending_reboot,
            ..Node::new(self.os, self.node_installed, self.updates)
        };
        evaluate(&self.baseline, &node).into_owned()
    }

    /// Asserts every package line and the install list.
    fn expect(self, lines: &[&str], to_install: &[&str]) {
        let label = self.label;
        let report = self.evaluate();
        let got: Vec<String> = report.packages.iter().map(describe).collect();
        assert_eq!(got, lines, "{label}: package lines");
        let targets: Vec<String> = report
            .to_install
            .iter()
            .map(|t| format!("{}/{}={}", t.name, t.arch, t.version))
            .collect();
        assert_eq!(targets, to_install, "{label}: install list");
    }
}

const NEW: &str = "3.0.15-1~deb12u1";
const OLD: &str = "3.0.11-1~deb12u2";

#[test]
fn installed_missing_and_installed_other() {
    deb_case(
        "approved version is the installed one",
        vec![deb("openssl", NEW)],
        vec![dsec("openssl", NEW, 3)],
    )
    .expect(&["openssl/amd64 installed 3.0.15-1~deb12u1 critical"], &[]);

    deb_case(
        "installed newer than anything approved",
        vec![deb("openssl", "3.0.16-1")],
        vec![dsec("openssl", NEW, 3)],
    )
    .expect(&["openssl/amd64 installed 3.0.15-1~deb12u1 critical"], &[]);

    deb_case(
        "approved version above installed",
        vec![deb("openssl", OLD)],
        vec![dsec("openssl", OLD, 90), dsec("openssl", NEW, 3)],
    )
    .expect(
        &["openssl/amd64 missing 3.0.15-1~deb12u1 critical"],
        &["openssl/amd64=3.0.15-1~deb12u1"],
    );

    deb_case(
        "no candidates at all",
        vec![deb("bash", "5.2.15-2+b7")],
        vec![],
    )
    .expect(&["bash/amd64 installed-other - unspecified"], &[]);

    deb_case(
        "only an unapproved bugfix (2 days old, the rule needs 7)",
        vec![deb("bash", "5.2.15-2+b7")],
        vec![bugfix("bash", "amd64", "5.2.15-2+b8", days_ago(2))],
    )
    .expect(&["bash/amd64 installed-other - unspecified"], &[]);
}

#[test]
fn target_is_the_highest_approved_version_never_an_unapproved_one() {
    let (u5, u6, u7) = (
        "7.88.1-10+deb12u5",
        "7.88.1-10+deb12u6",
        "7.88.1-10+deb12u7",
    );
    deb_case(
        "a newer unapproved bugfix is ignored",
        vec![deb("curl", u5)],
        vec![
            dsec("curl", u6, 1),
            bugfix("curl", "amd64", u7, days_ago(2)),
        ],
    )
    .expect(
        &["curl/amd64 missing 7.88.1-10+deb12u6 critical"],
        &["curl/amd64=7.88.1-10+deb12u6"],
    );

    deb_case(
        "missing takes the highest level among approved versions above installed",
        vec![deb("curl", u5)],
        vec![
            dsec("curl", u6, 20),
            bugfix("curl", "amd64", u7, days_ago(10)),
        ],
    )
    .expect(
        &["curl/amd64 missing 7.88.1-10+deb12u7 critical"],
        &["curl/amd64=7.88.1-10+deb12u7"],
    );

    deb_case(
        "once the newest is installed, its own level applies",
        vec![deb("curl", u7)],
        vec![
            dsec("curl", u6, 20),
            bugfix("curl", "amd64", u7, days_ago(10)),
        ],
    )
    .expect(&["curl/amd64 installed 7.88.1-10+deb12u7 low"], &[]);
}

#[test]
fn failed_versus_missing() {
    let rows: [(&str, Vec<PackageRef>, &str); 6] = [
        ("by name", vec![mark("openssl", None, None)], "failed"),
        (
            "for the target version and arch",
            vec![mark("openssl", Some("amd64"), Some(NEW))],
            "failed",
        ),
        (
            "for an older target",
            vec![mark("openssl", None, Some("3.0.13-1~deb12u1"))],
            "missing",
        ),
        (
            "for the other arch",
            vec![mark("openssl", Some("i386"), None)],
            "missing",
        ),
        (
            "for another package",
            vec![mark("openssh-server", None, None)],
            "missing",
        ),
        ("none", vec![], "missing"),
    ];
    for (label, marks, state) in rows {
        deb_case(
            label,
            vec![deb("openssl", OLD)],
            vec![dsec("openssl", NEW, 3)],
        )
        .failed(marks)
        .expect(
            &[&format!("openssl/amd64 {state} 3.0.15-1~deb12u1 critical")],
            &["openssl/amd64=3.0.15-1~deb12u1"],
        );
    }
}

#[test]
fn pending_reboot_applies_to_installed_approved_versions() {
    let image = "linux-image-amd64";
    let rows: [(&str, PackageRef, &str); 3] = [
        (
            "by name",
            mark(image, None, None),
            "installed-pending-reboot",
        ),
        (
            "for the installed version",
            mark(image, Some("amd64"), Some("6.1.119-1")),
            "installed-pending-reboot",
        ),
        (
            "for an older version",
            mark(image, None, Some("6.1.115-1")),
            "installed",
        ),
    ];
    for (label, mark, state) in rows {
        deb_case(
            label,
            vec![deb(image, "6.1.119-1")],
            vec![dsec(image, "6.1.119-1", 5)],
        )
        .pending(vec![mark])
        .expect(&[&format!("{image}/amd64 {state} 6.1.119-1 critical")], &[]);
    }

    deb_case(
        "a pending mark on an unapproved package stays installed-other",
        vec![deb("linux-image-6.1.0-28-amd64", "6.1.119-1")],
        vec![],
    )
    .pending(vec![mark("linux-image-6.1.0-28-amd64", None, None)])
    .expect(
        &["linux-image-6.1.0-28-amd64/amd64 installed-other - unspecified"],
        &[],
    );
}

#[test]
fn rejected_block_versus_allow_as_dependency() {
    let telnet = || vec![deb("telnetd", "0.17+2.4-2+deb12u1")];
    deb_case("block", telnet(), vec![dsec("openssl", NEW, 3)])
        .baseline(deb_baseline(
            "rejected-patches:\n  patches: [\"telnet*\"]\n  action: block\n  compliance-level: high\n",
        ))
        .expect(
            &[
                "telnetd/amd64 installed-rejected - high",
                "openssl/amd64 not-applicable 3.0.15-1~deb12u1 critical",
            ],
            &[],
        );

    deb_case(
        "allow-as-dependency",
        telnet(),
        vec![dsec("openssl", NEW, 3)],
    )
    .baseline(deb_baseline(
        "rejected-patches:\n  patches: [\"telnet*\"]\n  action: allow-as-dependency\n",
    ))
    .expect(
        &[
            "telnetd/amd64 installed-other - unspecified",
            "openssl/amd64 not-applicable 3.0.15-1~deb12u1 critical",
        ],
        &[],
    );

    deb_case(
        "rejected beats approved: nothing to install",
        vec![deb("openssl", OLD)],
        vec![dsec("openssl", NEW, 3)],
    )
    .baseline(deb_baseline(
        "approved-patches:\n  patches: [openssl]\nrejected-patches:\n  patches: [openssl]\n",
    ))
    .expect(&["openssl/amd64 installed-other - unspecified"], &[]);

    deb_case(
        "blocked installed version with an approved upgrade: rejected, upgrade listed",
        vec![deb("openssl", OLD)],
        vec![dsec("openssl", NEW, 3)],
    )
    .baseline(deb_baseline(
        "rejected-patches:\n  patches: [\"openssl=3.0.11-1~deb12u2\"]\n  action: block\n",
    ))
    .expect(
        &["openssl/amd64 installed-rejected 3.0.15-1~deb12u1 critical"],
        &["openssl/amd64=3.0.15-1~deb12u1"],
    );

    deb_case(
        "allowed rejected installed version with an approved upgrade: missing",
        vec![deb("openssl", OLD)],
        vec![dsec("openssl", NEW, 3)],
    )
    .baseline(deb_baseline(
        "rejected-patches:\n  patches: [\"openssl=3.0.11-1~deb12u2\"]\n",
    ))
    .expect(
        &["openssl/amd64 missing 3.0.15-1~deb12u1 critical"],
        &["openssl/amd64=3.0.15-1~deb12u1"],
    );
}

#[test]
fn not_applicable_is_reported_once_per_name_and_arch() {
    deb_case(
        "approved updates for absent packages",
        vec![deb("bash", "5.2.15-2+b7")],
        vec![
            dsec("nginx", "1.22.1-9+deb12u1", 30),
            dsec("nginx", "1.22.1-9+deb12u2", 3),
            bugfix("nginx", "amd64", "1.22.1-9+deb12u3", days_ago(1)),
            bugfix("apache2", "amd64", "2.4.62-1~deb12u2", days_ago(1)),
        ],
    )
    .expect(
        &[
            "bash/amd64 installed-other - unspecified",
            "nginx/amd64 not-applicable 1.22.1-9+deb12u2 critical",
        ],
        &[],
    );
}

#[test]
fn available_security_update_both_ways() {
    let sudo_case = |label, extra| {
        let update = rsec("sudo", "1.9.5p2-10.el9_3", Severity::Moderate, 2);
        rpm_case(
            label,
            vec![rpm("sudo", "1.9.5p2-9.el9")],
            vec![with_advisory(update, "RLSA-2024:0811")],
        )
        .baseline(rpm_baseline(extra))
    };
    let compliant = sudo_case("default", "").evaluate();
    let line = &compliant.packages[0];
    assert_eq!(
        describe(line),
        "sudo/x86_64 available-security-update - medium"
    );
    assert!(!line.non_compliant);
    assert_eq!(compliant.status, ComplianceStatus::Compliant);
    assert_eq!(
        line.security_update_version.as_deref(),
        Some("1.9.5p2-10.el9_3")
    );
    assert_eq!(line.advisory_id.as_deref(), Some("RLSA-2024:0811"));

    let strict = sudo_case(
        "strict",
        "available-security-updates-compliance: non-compliant\n",
    )
    .evaluate();
    let line = &strict.packages[0];
    assert_eq!(
        describe(line),
        "sudo/x86_64 available-security-update - medium"
    );
    assert!(line.non_compliant);
    assert_eq!(strict.status, ComplianceStatus::NonCompliant);
    assert_eq!(strict.severity, Some(ComplianceLevel::Medium));

    rpm_case(
        "approved version installed, newer unapproved security update",
        vec![rpm("sudo", "1.9.5p2-9.el9")],
        vec![
            bugfix("sudo", "x86_64", "1.9.5p2-9.el9", days_ago(60)),
            rsec("sudo", "1.9.5p2-10.el9_3", Severity::Low, 2),
        ],
    )
    .expect(
        &["sudo/x86_64 available-security-update 1.9.5p2-9.el9 low"],
        &[],
    );

    rpm_case(
        "a rejected security update is not offered",
        vec![rpm("sudo", "1.9.5p2-9.el9")],
        vec![rsec("sudo", "1.9.5p2-10.el9_3", Severity::Moderate, 2)],
    )
    .baseline(rpm_baseline("rejected-patches:\n  patches: [sudo]\n"))
    .expect(&["sudo/x86_64 installed-other - unspecified"], &[]);

    rpm_case(
        "an unapproved security update at the installed version is not offered",
        vec![rpm("sudo", "1.9.5p2-10.el9_3")],
        vec![rsec("sudo", "1.9.5p2-10.el9_3", Severity::Moderate, 2)],
    )
    .expect(&["sudo/x86_64 installed-other - unspecified"], &[]);
}

#[test]
fn multi_arch_packages_are_judged_separately() {
    let (u8, u9) = ("2.36-9+deb12u8", "2.36-9+deb12u9");
    deb_case(
        "an update for amd64 only",
        vec![deb("libc6", u8), installed("libc6", "i386", u8)],
        vec![dsec("libc6", u9, 1)],
    )
    .expect(
        &[
            "libc6/amd64 missing 2.36-9+deb12u9 critical",
            "libc6/i386 installed-other - unspecified",
        ],
        &["libc6/amd64=2.36-9+deb12u9"],
    );

    let i386_update = security("libc6", "i386", u9, Severity::Unspecified, days_ago(1));
    deb_case(
        "an update for i386 only",
        vec![deb("libc6", u9)],
        vec![i386_update],
    )
    .expect(
        &[
            "libc6/amd64 installed-other - unspecified",
            "libc6/i386 not-applicable 2.36-9+deb12u9 critical",
        ],
        &[],
    );

    let all_update = security(
        "tzdata",
        "all",
        "2025b-0+deb12u1",
        Severity::Unspecified,
        TODAY,
    );
    deb_case(
        "an arch-independent update reaches an arch-specific install",
        vec![deb("tzdata", "2024a-0+deb12u1")],
        vec![all_update.clone()],
    )
    .expect(
        &["tzdata/amd64 missing 2025b-0+deb12u1 critical"],
        &["tzdata/all=2025b-0+deb12u1"],
    );

    deb_case(
        "one arch-independent update for two multi-arch siblings: listed once",
        vec![
            deb("tzdata", "2024a-0+deb12u1"),
            installed("tzdata", "i386", "2024a-0+deb12u1"),
        ],
        vec![all_update],
    )
    .expect(
        &[
            "tzdata/amd64 missing 2025b-0+deb12u1 critical",
            "tzdata/i386 missing 2025b-0+deb12u1 critical",
        ],
        &["tzdata/all=2025b-0+deb12u1"],
    );

    let noarch = security(
        "python3-setuptools",
        "noarch",
        "53.0.0-13.el9",
        Severity::Important,
        TODAY,
    );
    rpm_case(
        "noarch install, noarch update",
        vec![installed("python3-setuptools", "noarch", "53.0.0-12.el9")],
        vec![noarch],
    )
    .expect(
        &["python3-setuptools/noarch missing 53.0.0-13.el9 critical"],
        &["python3-setuptools/noarch=53.0.0-13.el9"],
    );
}

#[test]
fn versions_compare_by_package_rules_not_by_text() {
    deb_case(
        "deb epoch: 2.0-1 is older than 1:1.0-1",
        vec![deb("ntp", "1:1.0-1")],
        vec![dsec("ntp", "2.0-1", 1)],
    )
    .expect(&["ntp/amd64 installed 2.0-1 critical"], &[]);

    deb_case(
        "deb epoch: 1:0.5-1 is newer than 9.0-1",
        vec![deb("ntp", "9.0-1")],
        vec![dsec("ntp", "1:0.5-1", 1)],
    )
    .expect(
        &["ntp/amd64 missing 1:0.5-1 critical"],
        &["ntp/amd64=1:0.5-1"],
    );

    deb_case(
        "deb tilde: 1.0~rc1 is older than 1.0",
        vec![deb("foo", "1.0-1")],
        vec![dsec("foo", "1.0~rc1-1", 1)],
    )
    .expect(&["foo/amd64 installed 1.0~rc1-1 critical"], &[]);

    let bind = rsec("bind", "33:9.0.0-1.el9", Severity::Critical, 1);
    rpm_case(
        "rpm epoch: 33:9.0 beats 32:9.16",
        vec![rpm("bind", "32:9.16.23-14.el9")],
        vec![bind],
    )
    .expect(
        &["bind/x86_64 missing 33:9.0.0-1.el9 critical"],
        &["bind/x86_64=33:9.0.0-1.el9"],
    );

    let bash = rsec("bash", "5.1.8-9.el9", Severity::Critical, 1);
    rpm_case(
        "rpm numeric segments: 10 > 9",
        vec![rpm("bash", "5.1.8-10.el9")],
        vec![bash],
    )
    .expect(&["bash/x86_64 installed 5.1.8-9.el9 critical"], &[]);
}

#[test]
fn install_only_packages_are_judged_by_the_newest_installed_version() {
    let kernels = || {
        vec![
            rpm("kernel", "5.14.0-362.8.1.el9_3"),
            rpm("zlib", "1.2.11-40.el9"),
            rpm("kernel", "5.14.0-427.13.1.el9_4"),
        ]
    };
    let current = rsec("kernel", "5.14.0-427.13.1.el9_4", Severity::Important, 9);
    rpm_case(
        "the newest kernel is approved and installed",
        kernels(),
        vec![current],
    )
    .expect(
        &[
            "kernel/x86_64 installed 5.14.0-427.13.1.el9_4 critical",
            "zlib/x86_64 installed-other - unspecified",
            "kernel/x86_64 installed 5.14.0-427.13.1.el9_4 critical",
        ],
        &[],
    );

    let newer = rsec("kernel", "5.14.0-503.11.1.el9_5", Severity::Important, 1);
    rpm_case(
        "a newer kernel is approved: listed once",
        kernels(),
        vec![newer],
    )
    .expect(
        &[
            "kernel/x86_64 missing 5.14.0-503.11.1.el9_5 critical",
            "zlib/x86_64 installed-other - unspecified",
            "kernel/x86_64 missing 5.14.0-503.11.1.el9_5 critical",
        ],
        &["kernel/x86_64=5.14.0-503.11.1.el9_5"],
    );
}

#[test]
fn node_verdict_counts_and_severity() {
    let baseline = rpm_baseline(
        "rejected-patches:\n  patches: [telnet-server]\n  action: block\n  compliance-level: medium\n",
    );
    let mut node = Node::new(
        rocky93(),
        vec![
            rpm("openssl", "1:3.0.7-24.el9"),
            rpm("curl", "7.76.1-26.el9"),
            rpm("telnet-server", "1:0.17-85.el9"),
            rpm("bash", "5.1.8-9.el9"),
            rpm("glibc", "2.34-100.el9"),
            rpm("zlib", "1.2.11-40.el9"),
        ],
        vec![
            rsec("openssl", "1:3.0.7-27.el9", Severity::Critical, 1),
            bugfix("curl", "x86_64", "7.76.1-29.el9", days_ago(30)),
            bugfix("bash", "x86_64", "5.1.8-9.el9", days_ago(90)),
            rsec("glibc", "2.34-100.el9", Severity::Important, 20),
            rsec("nginx", "1:1.20.1-16.el9", Severity::Important, 2),
        ],
    );
    node.failed = vec![mark("curl", None, None)];
    node.pending_reboot = vec![mark("glibc", None, None)];

    let report = evaluate(&baseline, &node);
    let lines: Vec<String> = report.packages.iter().map(describe).collect();
    assert_eq!(
        lines,
        [
            "openssl/x86_64 missing 1:3.0.7-27.el9 critical",
            "curl/x86_64 failed 7.76.1-29.el9 low",
            "telnet-server/x86_64 installed-rejected - medium",
            "bash/x86_64 installed 5.1.8-9.el9 low",
            "glibc/x86_64 installed-pending-reboot 2.34-100.el9 critical",
            "zlib/x86_64 installed-other - unspecified",
            "nginx/x86_64 not-applicable 1:1.20.1-16.el9 critical",
        ]
    );
    assert_eq!(report.status, ComplianceStatus::NonCompliant);
    assert_eq!(report.severity, Some(ComplianceLevel::Critical));
    assert_eq!(
        report.state_counts,
        StateCounts {
            installed: 1,
            installed_other: 1,
            installed_pending_reboot: 1,
            installed_rejected: 1,
            missing: 1,
            failed: 1,
            not_applicable: 1,
            available_security_update: 0,
        }
    );
    assert_eq!(
        report.non_compliant_levels,
        LevelCounts {
            critical: 2, // openssl missing, glibc pending reboot
            medium: 1,   // telnet-server rejected
            low: 1,      // curl failed
            ..LevelCounts::default()
        }
    );
    assert_eq!(report.state_counts.get(PackageState::Missing), 1);
    assert_eq!(
        report.non_compliant_levels.get(ComplianceLevel::Critical),
        2
    );
    let targets: Vec<(&str, &str)> = report
        .to_install
        .iter()
        .map(|t| (t.name.as_ref(), t.version.as_ref()))
        .collect();
    assert_eq!(
        targets,
        [("curl", "7.76.1-29.el9"), ("openssl", "1:3.0.7-27.el9")]
    );

    // A node with nothing to do is compliant and has no severity.
    let clean = Node::new(
        rocky93(),
        vec![rpm("bash", "5.1.8-9.el9")],
        vec![bugfix("bash", "x86_64", "5.1.8-9.el9", days_ago(90))],
    );
    let report = evaluate(&baseline, &clean);
    assert_eq!(report.status, ComplianceStatus::Compliant);
    assert_eq!(report.severity, None);
    assert_eq!(report.non_compliant_levels, LevelCounts::default());
}

#[test]
fn reports_serialize_in_kebab_case_and_outlive_their_input() {
    let report = deb_case(
        "json",
        vec![deb("openssl", OLD)],
        vec![dsec("openssl", NEW, 3)],
    )
    .evaluate();
    let json = serde_json::to_string(&report).expect("serializes");
    for needle in [
        r#""status":"non-compliant""#,
        r#""severity":"critical""#,
        r#""state":"missing""#,
        r#""installed-pending-reboot":0"#,
        r#""approved-by":{"rule":0}"#,
        r#""to-install":[{"name":"openssl","arch":"amd64","version":"3.0.15-1~deb12u1","reboot-suggested":false}]"#,
    ] {
        assert!(json.contains(needle), "{needle} not in {json}");
    }
    let back: NodeCompliance<'static> = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, report);
}

#[test]
fn family_mismatch_is_an_error() {
    let node = Node::new(rocky93(), vec![], vec![]);
    let err = deb_baseline("")
        .evaluator()
        .expect("valid")
        .evaluate(&node.input())
        .expect_err("families differ");
    assert_eq!(
        err,
        EvaluationError::FamilyMismatch {
            baseline: OsFamily::Debian,
            node: OsFamily::RhelCompatible
        }
    );
}
