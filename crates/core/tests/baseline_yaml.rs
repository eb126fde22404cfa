//! Baselines from YAML: the example files, round trips, and one row per
//! validation error (typed, naming the place); plus the built-in default
//! and emergency baselines.

mod baseline_support;

use baseline_support::*;
use patchline_core::baseline::{
    Baseline, BaselineError, BaselineLoadError, ComplianceLevel, FilterKey, PatchList,
    PatternProblem, RejectedAction,
};
use patchline_core::compliance::{Approval, ApprovedBy, ComplianceStatus, UpdateVerdict};
use patchline_core::os::OsFamily;
use patchline_core::package::{Classification, Severity};

#[test]
fn every_example_baseline_loads_and_is_named_after_its_file() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/baselines");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let baseline = example(file);
        assert_eq!(Some(baseline.name.as_str()), file.strip_suffix(".yaml"));
        seen += 1;
    }
    assert!(seen >= 6, "dev/test/prod for debian and rhel, found {seen}");
}

#[test]
fn full_document_reads_every_field_and_round_trips() {
    let text = r#"
name: prod-web
description: Web tier
os-family: ubuntu
approval-rules:
  - filters:
      product: ["Ubuntu22.04"]
      classification: [security]
      priority: [required, important]
      section: ["*"]
      name: ["nginx*"]
    approve-after-days: 3
    compliance-level: high
  - approve-until-date: 2025-06-01
    compliance-level: informational
    include-non-security: true
approved-patches:
  patches: ["openssl=3.0.2-0ubuntu1.18"]
  compliance-level: critical
rejected-patches:
  patches: ["telnet*"]
  action: block
  compliance-level: low
available-security-updates-compliance: non-compliant
"#;
    let baseline = yaml(text);
    assert_eq!(baseline.os_family, OsFamily::Ubuntu);
    assert_eq!(baseline.approval_rules.len(), 2);
    assert_eq!(baseline.approval_rules[0].filters.len(), 5);
    assert_eq!(baseline.approval_rules[0].approve_after_days, Some(3));
    assert_eq!(
        baseline.approval_rules[1].approve_until_date,
        Some(jiff::civil::date(2025, 6, 1))
    );
    assert_eq!(
        baseline.approved_patches.compliance_level,
        ComplianceLevel::Critical
    );
    assert_eq!(baseline.rejected_patches.action, RejectedAction::Block);
    assert_eq!(
        baseline.available_security_updates_compliance,
        ComplianceStatus::NonCompliant
    );

    let again = serde_yaml_ng::to_string(&baseline).expect("serializes");
    assert_eq!(yaml(&again), baseline, "YAML round trip:\n{again}");
    let json = serde_json::to_string(&baseline).expect("serializes");
    assert!(json.contains(r#""os-family":"ubuntu""#), "{json}");
    assert_eq!(
        serde_json::from_str::<Baseline>(&json).expect("json"),
        baseline
    );
}

#[test]
fn minimal_document_takes_documented_defaults() {
    let baseline = yaml("name: m\nos-family: fedora\n");
    assert!(baseline.approval_rules.is_empty());
    assert_eq!(
        baseline.rejected_patches.action,
        RejectedAction::AllowAsDependency
    );
    assert_eq!(
        baseline.approved_patches.compliance_level,
        ComplianceLevel::Unspecified
    );
    assert_eq!(
        baseline.available_security_updates_compliance,
        ComplianceStatus::Compliant
    );
}

fn invalid(text: &str) -> BaselineError {
    match Baseline::from_yaml(text) {
        Err(BaselineLoadError::Invalid(error)) => error,
        other => panic!("expected a validation error, got {other:?}\n{text}"),
    }
}

fn rule(family: &str, rule: &str) -> String {
    format!(
        "name: x\nos-family: {family}\napproval-rules:\n  - approve-after-days: 0\n  - {rule}\n"
    )
}

#[test]
fn validation_errors_are_typed_and_name_the_place() {
    let glob_error = globset::Glob::new("lib[").expect_err("bad glob");
    let cases: Vec<(&str, String, BaselineError)> = vec![
        (
            "days above 360",
            rule("debian", "approve-after-days: 361"),
            BaselineError::DaysOutOfRange { rule: 1, days: 361 },
        ),
        (
            "both delays",
            rule(
                "debian",
                "{ approve-after-days: 1, approve-until-date: 2025-01-01 }",
            ),
            BaselineError::BothDelays { rule: 1 },
        ),
        (
            "no delay",
            rule("debian", "compliance-level: high"),
            BaselineError::MissingDelay { rule: 1 },
        ),
        (
            "priority on rpm",
            rule(
                "rhel-compatible",
                "{ approve-after-days: 1, filters: { priority: [required] } }",
            ),
            BaselineError::FilterKeyNotForFamily {
                rule: 1,
                key: FilterKey::Priority,
                family: OsFamily::RhelCompatible,
            },
        ),
        (
            "section on suse",
            rule(
                "suse",
                "{ approve-after-days: 1, filters: { section: [libs] } }",
            ),
            BaselineError::FilterKeyNotForFamily {
                rule: 1,
                key: FilterKey::Section,
                family: OsFamily::Suse,
            },
        ),
        (
            "empty filter",
            rule(
                "debian",
                "{ approve-after-days: 1, filters: { classification: [] } }",
            ),
            BaselineError::EmptyFilter {
                rule: 1,
                key: FilterKey::Classification,
            },
        ),
        (
            "bad glob",
            rule(
                "debian",
                "{ approve-after-days: 1, filters: { name: [ok, \"lib[\"] } }",
            ),
            BaselineError::BadFilterGlob {
                rule: 1,
                key: FilterKey::Name,
                index: 1,
                value: "lib[".into(),
                source: glob_error.clone(),
            },
        ),
        (
            "unknown severity value",
            rule(
                "amazon-linux",
                "{ approve-after-days: 1, filters: { severity: [critical, high] } }",
            ),
            BaselineError::UnknownFilterValue {
                rule: 1,
                key: FilterKey::Severity,
                index: 1,
                value: "high".into(),
                expected: "unspecified, low, moderate, important, critical".into(),
            },
        ),
        (
            "bad approved pattern",
            "name: x\nos-family: debian\napproved-patches:\n  patches: [a, \"=1.0\"]\n".into(),
            BaselineError::BadPattern {
                list: PatchList::Approved,
                index: 1,
                pattern: "=1.0".into(),
                problem: PatternProblem::EmptyName,
            },
        ),
        (
            "bad rejected glob",
            "name: x\nos-family: debian\nrejected-patches:\n  patches: [\"lib[\"]\n".into(),
            BaselineError::BadPattern {
                list: PatchList::Rejected,
                index: 0,
                pattern: "lib[".into(),
                problem: PatternProblem::BadGlob(glob_error),
            },
        ),
        (
            "empty name",
            "name: \"  \"\nos-family: debian\n".into(),
            BaselineError::EmptyName,
        ),
    ];
    for (label, text, expected) in cases {
        assert_eq!(invalid(&text), expected, "{label}");
    }
    assert_eq!(
        invalid(&rule("debian", "approve-after-days: 400")).to_string(),
        "approval-rules[1].approve-after-days: 400 is out of range 0..=360"
    );
}

#[test]
fn yaml_type_errors_carry_line_and_column() {
    let cases = [
        (
            "unknown compliance level",
            rule(
                "debian",
                "{ approve-after-days: 1, compliance-level: severe }",
            ),
            "unknown variant `severe`",
        ),
        (
            "unknown filter key",
            rule(
                "debian",
                "{ approve-after-days: 1, filters: { vendor: [x] } }",
            ),
            "unknown variant `vendor`",
        ),
        (
            "unknown field",
            rule("debian", "{ approve-after-days: 1, approve-after: 3 }"),
            "unknown field `approve-after`",
        ),
        (
            "unknown top-level field",
            "name: x\nos-family: debian\npatch-groups: []\n".into(),
            "unknown field `patch-groups`",
        ),
        (
            "unknown family",
            "name: x\nos-family: arch\n".into(),
            "unknown variant `arch`",
        ),
        (
            "negative days",
            rule("debian", "approve-after-days: -1"),
            "approve-after-days",
        ),
        (
            "bad date",
            rule("debian", "approve-until-date: 2025-13-01"),
            "approve-until-date",
        ),
        (
            "unknown rejected action",
            "name: x\nos-family: debian\nrejected-patches:\n  action: drop\n".into(),
            "unknown variant `drop`",
        ),
        (
            "duplicate filter key",
            rule(
                "debian",
                "{ approve-after-days: 1, filters: { name: [a], name: [b] } }",
            ),
            "duplicate",
        ),
        (
            "missing family",
            "name: x\n".into(),
            "missing field `os-family`",
        ),
    ];
    for (label, text, needle) in cases {
        match Baseline::from_yaml(&text) {
            Err(BaselineLoadError::Yaml(error)) => {
                let message = error.to_string();
                assert!(message.contains(needle), "{label}: {message}");
                assert!(
                    error.location().is_some(),
                    "{label}: no location in {message}"
                );
            }
            other => panic!("{label}: expected a YAML error, got {other:?}"),
        }
    }
}

#[test]
fn default_baselines_follow_the_documented_policy() {
    let deb = Baseline::default_for(OsFamily::Debian)
        .evaluator()
        .expect("valid");
    let os = debian12();
    let today = security("openssl", "amd64", "3.0.15-1", Severity::Unspecified, TODAY);
    assert_eq!(
        deb.verdict(&today, &os, TODAY),
        UpdateVerdict::Approved(Approval {
            level: ComplianceLevel::Unspecified,
            by: ApprovedBy::Rule(0)
        })
    );
    let other = update(
        "bash",
        "amd64",
        "5.2-1",
        Classification::Other,
        Severity::Unspecified,
        days_ago(300),
    );
    assert_eq!(deb.verdict(&other, &os, TODAY), UpdateVerdict::NotApproved);

    let rpm = Baseline::default_for(OsFamily::RhelCompatible)
        .evaluator()
        .expect("valid");
    let os = rocky93();
    let rows = [
        (
            security("a", "x86_64", "1-1", Severity::Critical, days_ago(7)),
            true,
        ),
        (
            security("a", "x86_64", "1-1", Severity::Important, days_ago(7)),
            true,
        ),
        (
            security("a", "x86_64", "1-1", Severity::Important, days_ago(6)),
            false,
        ),
        (
            security("a", "x86_64", "1-1", Severity::Moderate, days_ago(30)),
            false,
        ),
        (bugfix("a", "x86_64", "1-1", days_ago(7)), true),
        (bugfix("a", "x86_64", "1-1", days_ago(6)), false),
        (
            update(
                "a",
                "x86_64",
                "1-1",
                Classification::Enhancement,
                Severity::Unspecified,
                days_ago(30),
            ),
            false,
        ),
    ];
    for (update, approved) in rows {
        assert_eq!(
            matches!(rpm.verdict(&update, &os, TODAY), UpdateVerdict::Approved(_)),
            approved,
            "{update:?}"
        );
    }

    let emergency = Baseline::emergency(OsFamily::RhelCompatible)
        .evaluator()
        .expect("valid");
    let enhancement_today = update(
        "a",
        "x86_64",
        "1-1",
        Classification::Enhancement,
        Severity::Unspecified,
        TODAY,
    );
    assert_eq!(
        emergency.verdict(&enhancement_today, &os, TODAY),
        UpdateVerdict::Approved(Approval {
            level: ComplianceLevel::Critical,
            by: ApprovedBy::Rule(0)
        })
    );
    for family in OsFamily::ALL {
        assert_eq!(Baseline::default_for(family).os_family, family);
        assert_eq!(Baseline::emergency(family).os_family, family);
    }
}
