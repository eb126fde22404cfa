//! Approval of single updates: every filter key, the delay boundaries,
//! include-non-security, compliance-level precedence, and the explicit
//! approved / rejected lists. Each table is one baseline on one node; each
//! row one update and its expected verdict on [`TODAY`].

mod baseline_support;

use baseline_support::*;
use jiff::civil::{Date, date};
use patchline_core::baseline::{Baseline, ComplianceLevel};
use patchline_core::compliance::{Approval, ApprovedBy, UpdateVerdict};
use patchline_core::os::OsInfo;
use patchline_core::package::{Classification, DebPriority, Severity, Update};

use ComplianceLevel::{Critical, High, Low, Medium, Unspecified};

const NO: UpdateVerdict = UpdateVerdict::NotApproved;
const REJECTED: UpdateVerdict = UpdateVerdict::Rejected;

fn rule(index: usize, level: ComplianceLevel) -> UpdateVerdict {
    UpdateVerdict::Approved(Approval {
        level,
        by: ApprovedBy::Rule(index),
    })
}

fn listed(level: ComplianceLevel) -> UpdateVerdict {
    UpdateVerdict::Approved(Approval {
        level,
        by: ApprovedBy::ApprovedList,
    })
}

/// Rule 0 at level `unspecified`, the most common expectation below.
const YES: fn() -> UpdateVerdict = || rule(0, Unspecified);

/// Checks every row against the baseline `body` (YAML after the header)
/// on `os`.
fn check(os: OsInfo, body: &str, rows: Vec<(&str, Update, UpdateVerdict)>) {
    let family = os.family;
    let baseline = yaml(&format!("name: t\nos-family: {family}\n{body}"));
    check_baseline(&os, &baseline, rows);
}

fn check_baseline(os: &OsInfo, baseline: &Baseline, rows: Vec<(&str, Update, UpdateVerdict)>) {
    let evaluator = baseline.evaluator().expect("valid baseline");
    for (label, update, expected) in rows {
        let got = evaluator.verdict(&update, os, TODAY);
        assert_eq!(got, expected, "{label}\nbaseline: {baseline:?}");
    }
}

fn deb_sec(released: Date) -> Update {
    security(
        "openssl",
        "amd64",
        "3.0.15-1~deb12u1",
        Severity::Unspecified,
        released,
    )
}

fn rpm_sec(severity: Severity) -> Update {
    security("openssl", "x86_64", "1:3.0.7-27.el9", severity, days_ago(1))
}

fn rpm_kind(classification: Classification) -> Update {
    update(
        "vim",
        "x86_64",
        "2:9.0-1.el9",
        classification,
        Severity::Unspecified,
        days_ago(1),
    )
}

fn tomorrow() -> Date {
    TODAY.tomorrow().expect("in range")
}

#[test]
fn product_filter_matches_the_node_product_with_globs() {
    let product = |values: &str| {
        format!(
            "approval-rules:\n  - filters: {{ product: [{values}] }}\n    approve-after-days: 0\n"
        )
    };
    let (deb, rpm) = (deb_sec(TODAY), rpm_sec(Severity::Low));
    let rows = [
        ("Debian12", debian12(), &deb, YES()),
        ("Debian11", debian12(), &deb, NO),
        ("\"Debian1*\"", debian12(), &deb, YES()),
        ("debian12", debian12(), &deb, YES()),
        ("Debian11, Debian12", debian12(), &deb, YES()),
        ("\"RockyLinux9.*\"", rocky93(), &rpm, YES()),
        ("\"RockyLinux8*\"", rocky93(), &rpm, NO),
    ];
    for (values, os, update, expected) in rows {
        check(
            os,
            &product(values),
            vec![(values, update.clone(), expected)],
        );
    }
}

#[test]
fn classification_filter_selects_kinds_of_update() {
    use Classification::{Bugfix, Enhancement, NewPackage, Security};
    let body = "approval-rules:\n  - filters: { classification: [bugfix] }\n    approve-after-days: 0\n    include-non-security: true\n";
    check(
        rocky93(),
        body,
        vec![
            ("bugfix selected", rpm_kind(Bugfix), YES()),
            ("enhancement not selected", rpm_kind(Enhancement), NO),
            ("security not selected", rpm_kind(Security), NO),
        ],
    );
    let body = "approval-rules:\n  - filters: { classification: [newpackage, Enhance*] }\n    approve-after-days: 0\n    include-non-security: true\n";
    check(
        rocky93(),
        body,
        vec![
            ("newpackage value", rpm_kind(NewPackage), YES()),
            ("glob value, any case", rpm_kind(Enhancement), YES()),
            ("bugfix not selected", rpm_kind(Bugfix), NO),
        ],
    );
}

#[test]
fn severity_filter_selects_vendor_severities() {
    let body = "approval-rules:\n  - filters: { severity: [critical, important] }\n    approve-after-days: 0\n";
    check(
        rocky93(),
        body,
        vec![
            ("critical", rpm_sec(Severity::Critical), YES()),
            ("important", rpm_sec(Severity::Important), YES()),
            ("moderate", rpm_sec(Severity::Moderate), NO),
            ("unspecified", rpm_sec(Severity::Unspecified), NO),
        ],
    );
    let any = "approval-rules:\n  - filters: { severity: [\"*\"] }\n    approve-after-days: 0\n";
    check(
        rocky93(),
        any,
        vec![("any", rpm_sec(Severity::Unspecified), YES())],
    );
}

#[test]
fn priority_filter_selects_debian_priorities() {
    let body = "approval-rules:\n  - filters: { priority: [required, important] }\n    approve-after-days: 0\n";
    let with = |priority| with_priority(deb_sec(TODAY), priority);
    let rows = || {
        vec![
            ("required", with(DebPriority::Required), YES()),
            ("important", with(DebPriority::Important), YES()),
            ("optional", with(DebPriority::Optional), NO),
            ("no priority", deb_sec(TODAY), NO),
        ]
    };
    check(debian12(), body, rows());
    check(ubuntu2204(), body, rows());
    let any = "approval-rules:\n  - filters: { priority: [\"*\"] }\n    approve-after-days: 0\n";
    check(
        debian12(),
        any,
        vec![("any, even none", deb_sec(TODAY), YES())],
    );
}

#[test]
fn section_filter_matches_with_or_without_archive_area() {
    let body = "approval-rules:\n  - filters: { section: [libs, \"contrib/*\"] }\n    approve-after-days: 0\n";
    let with = |section| with_section(deb_sec(TODAY), section);
    check(
        debian12(),
        body,
        vec![
            ("plain section", with("libs"), YES()),
            ("area/section", with("non-free/libs"), YES()),
            ("area glob", with("contrib/net"), YES()),
            ("other section", with("net"), NO),
            ("no section", deb_sec(TODAY), NO),
        ],
    );
}

#[test]
fn name_filter_matches_binary_names_case_sensitively() {
    let body = "approval-rules:\n  - filters: { name: [\"openssl*\", NetworkManager] }\n    approve-after-days: 0\n";
    let named = |name| security(name, "x86_64", "1.0-1.el9", Severity::Low, TODAY);
    check(
        rocky93(),
        body,
        vec![
            ("glob name", named("openssl-libs"), YES()),
            ("exact name", named("NetworkManager"), YES()),
            ("other case", named("networkmanager"), NO),
            ("other name", named("libssl"), NO),
        ],
    );
}

#[test]
fn every_filter_of_a_rule_must_match() {
    let body = "approval-rules:\n  - filters: { classification: [security], priority: [required], section: [libs] }\n    approve-after-days: 0\n";
    let with = |priority, section| with_section(with_priority(deb_sec(TODAY), priority), section);
    check(
        debian12(),
        body,
        vec![
            ("all match", with(DebPriority::Required, "libs"), YES()),
            ("priority differs", with(DebPriority::Optional, "libs"), NO),
            ("section differs", with(DebPriority::Required, "net"), NO),
        ],
    );
}

#[test]
fn approve_after_days_counts_whole_days_from_release() {
    let after = |days: u32| format!("approval-rules:\n  - approve-after-days: {days}\n");
    let rows = vec![
        ("released today", deb_sec(TODAY), YES()),
        ("released tomorrow", deb_sec(tomorrow()), NO),
    ];
    check(debian12(), &after(0), rows);
    let rows = vec![
        ("6 days old", deb_sec(days_ago(6)), NO),
        ("exactly 7 days old", deb_sec(days_ago(7)), YES()),
        ("8 days old", deb_sec(days_ago(8)), YES()),
    ];
    check(debian12(), &after(7), rows);
    let rows = vec![
        ("359 days old", deb_sec(days_ago(359)), NO),
        ("360 days old", deb_sec(days_ago(360)), YES()),
    ];
    check(debian12(), &after(360), rows);
}

#[test]
fn approve_until_date_is_inclusive() {
    let body = "approval-rules:\n  - approve-until-date: 2025-06-01\n";
    check(
        debian12(),
        body,
        vec![
            ("day before", deb_sec(date(2025, 5, 31)), YES()),
            ("on the date", deb_sec(date(2025, 6, 1)), YES()),
            ("day after", deb_sec(date(2025, 6, 2)), NO),
        ],
    );
    // A date in the future still never approves an update from the future.
    let body = "approval-rules:\n  - approve-until-date: 2030-01-01\n";
    check(
        debian12(),
        body,
        vec![("from the future", deb_sec(tomorrow()), NO)],
    );
}

#[test]
fn include_non_security_gates_non_security_updates() {
    let fix = || bugfix("bash", "x86_64", "5.1.8-9.el9", TODAY);
    let off = "approval-rules:\n  - approve-after-days: 0\n";
    check(
        rocky93(),
        off,
        vec![
            ("off: security approved", rpm_sec(Severity::Low), YES()),
            ("off: bugfix refused", fix(), NO),
        ],
    );
    let off_but_filtered = "approval-rules:\n  - filters: { classification: [bugfix] }\n    approve-after-days: 0\n    include-non-security: false\n";
    check(
        rocky93(),
        off_but_filtered,
        vec![("off beats filter", fix(), NO)],
    );
    let on = "approval-rules:\n  - approve-after-days: 0\n    include-non-security: true\n";
    check(
        rocky93(),
        on,
        vec![
            ("on: bugfix approved", fix(), YES()),
            ("on: security approved", rpm_sec(Severity::Low), YES()),
        ],
    );
}

#[test]
fn highest_compliance_level_wins_among_approvals() {
    let three_rules = "approval-rules:\n  - approve-after-days: 0\n    compliance-level: low\n  - filters: { severity: [critical] }\n    approve-after-days: 0\n    compliance-level: critical\n  - approve-after-days: 0\n    compliance-level: critical\n";
    check(
        rocky93(),
        three_rules,
        vec![
            (
                "first rule at the top level",
                rpm_sec(Severity::Critical),
                rule(1, Critical),
            ),
            (
                "a later rule lifts the level",
                rpm_sec(Severity::Moderate),
                rule(2, Critical),
            ),
        ],
    );
    let list_over_rule = "approval-rules:\n  - approve-after-days: 0\n    compliance-level: medium\napproved-patches:\n  patches: [openssl]\n  compliance-level: high\n";
    check(
        rocky93(),
        list_over_rule,
        vec![("list above rule", rpm_sec(Severity::Low), listed(High))],
    );
    let rule_over_list = "approval-rules:\n  - approve-after-days: 0\n    compliance-level: critical\napproved-patches:\n  patches: [openssl]\n  compliance-level: low\n";
    check(
        rocky93(),
        rule_over_list,
        vec![("rule above list", rpm_sec(Severity::Low), rule(0, Critical))],
    );
    let delayed_higher = "approval-rules:\n  - approve-after-days: 0\n    compliance-level: low\n  - approve-after-days: 30\n    compliance-level: critical\n";
    check(
        rocky93(),
        delayed_higher,
        vec![(
            "higher rule not yet due",
            rpm_sec(Severity::Low),
            rule(0, Low),
        )],
    );
}

#[test]
fn approved_list_approves_names_versions_and_globs_regardless_of_rules() {
    let body = "approved-patches:\n  patches: [vim-enhanced, \"curl=7.76.1-29.el9\", \"kernel*\", \"bash=5.1.*\"]\n  compliance-level: medium\n";
    // Enhancements released tomorrow: no rule could approve them.
    let pkg = |name, version| {
        update(
            name,
            "x86_64",
            version,
            Classification::Enhancement,
            Severity::Unspecified,
            tomorrow(),
        )
    };
    let yes = || listed(Medium);
    check(
        rocky93(),
        body,
        vec![
            (
                "by name, any version",
                pkg("vim-enhanced", "2:9.0-1.el9"),
                yes(),
            ),
            ("name=version exact", pkg("curl", "7.76.1-29.el9"), yes()),
            (
                "name=version, epoch 0 spelled",
                pkg("curl", "0:7.76.1-29.el9"),
                yes(),
            ),
            ("name=other version", pkg("curl", "7.76.1-30.el9"), NO),
            ("name glob", pkg("kernel-core", "5.14.0-427.el9"), yes()),
            ("version glob", pkg("bash", "5.1.8-9.el9"), yes()),
            ("version glob miss", pkg("bash", "5.2.1-1.el9"), NO),
            ("unlisted", pkg("zsh", "5.8-9.el9"), NO),
        ],
    );
}

#[test]
fn rejected_list_beats_rules_and_approved_list() {
    let body = "approval-rules:\n  - approve-after-days: 0\n    include-non-security: true\napproved-patches:\n  patches: [\"openssl*\"]\nrejected-patches:\n  patches: [\"openssl=1:3.0.7-27.el9\", \"telnet*\"]\n  action: block\n";
    let newer_openssl = security("openssl", "x86_64", "1:3.0.7-28.el9", Severity::Low, TODAY);
    check(
        rocky93(),
        body,
        vec![
            ("rejected version", rpm_sec(Severity::Critical), REJECTED),
            ("other version approved", newer_openssl, listed(Unspecified)),
            (
                "rejected glob",
                bugfix("telnet-server", "x86_64", "1:0.17-85.el9", TODAY),
                REJECTED,
            ),
        ],
    );
}
