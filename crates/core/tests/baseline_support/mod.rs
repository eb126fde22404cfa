//! Builders shared by the baseline test files: nodes, packages, updates and
//! a one-call evaluation.
#![allow(dead_code)] // each test file uses a different subset

use jiff::civil::{Date, date};
use patchline_core::baseline::Baseline;
use patchline_core::compliance::{EvaluationInput, NodeCompliance};
use patchline_core::os::OsInfo;
use patchline_core::package::{
    Classification, DebPriority, InstalledPackage, PackageRef, Severity, Update,
};

/// The evaluation day of every test.
pub const TODAY: Date = date(2025, 6, 30);

/// `days` before [`TODAY`].
pub fn days_ago(days: i64) -> Date {
    TODAY
        .checked_sub(jiff::Span::new().days(days))
        .expect("test dates are in range")
}

pub fn debian12() -> OsInfo {
    OsInfo::from_os_release([("ID", "debian"), ("VERSION_ID", "12")]).expect("debian")
}

pub fn ubuntu2204() -> OsInfo {
    OsInfo::from_os_release([
        ("ID", "ubuntu"),
        ("ID_LIKE", "debian"),
        ("VERSION_ID", "22.04"),
    ])
    .expect("ubuntu")
}

pub fn rocky93() -> OsInfo {
    OsInfo::from_os_release([
        ("ID", "rocky"),
        ("ID_LIKE", "rhel centos fedora"),
        ("VERSION_ID", "9.3"),
    ])
    .expect("rocky")
}

pub fn installed(name: &str, arch: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        arch: arch.into(),
        version: version.into(),
        source: None,
    }
}

/// An update; adjust with the `with_*` helpers or struct update syntax.
pub fn update(
    name: &str,
    arch: &str,
    version: &str,
    classification: Classification,
    severity: Severity,
    release_date: Date,
) -> Update {
    Update {
        name: name.into(),
        arch: arch.into(),
        version: version.into(),
        classification,
        severity,
        release_date,
        advisory_id: None,
        cves: Vec::new(),
        repository: None,
        priority: None,
        section: None,
        reboot_suggested: false,
    }
}

pub fn security(
    name: &str,
    arch: &str,
    version: &str,
    severity: Severity,
    released: Date,
) -> Update {
    update(
        name,
        arch,
        version,
        Classification::Security,
        severity,
        released,
    )
}

pub fn bugfix(name: &str, arch: &str, version: &str, released: Date) -> Update {
    update(
        name,
        arch,
        version,
        Classification::Bugfix,
        Severity::Unspecified,
        released,
    )
}

pub fn with_priority(mut update: Update, priority: DebPriority) -> Update {
    update.priority = Some(priority);
    update
}

pub fn with_section(mut update: Update, section: &str) -> Update {
    update.section = Some(section.into());
    update
}

pub fn with_advisory(mut update: Update, advisory: &str) -> Update {
    update.advisory_id = Some(advisory.into());
    update
}

pub fn mark(name: &str, arch: Option<&str>, version: Option<&str>) -> PackageRef {
    PackageRef {
        name: name.into(),
        arch: arch.map(Into::into),
        version: version.map(Into::into),
    }
}

/// A node's facts for [`evaluate`].
pub struct Node {
    pub os: OsInfo,
    pub installed: Vec<InstalledPackage>,
    pub updates: Vec<Update>,
    pub failed: Vec<PackageRef>,
    pub pending_reboot: Vec<PackageRef>,
}

impl Node {
    pub fn new(os: OsInfo, installed: Vec<InstalledPackage>, updates: Vec<Update>) -> Node {
        Node {
            os,
            installed,
            updates,
            failed: Vec::new(),
            pending_reboot: Vec::new(),
        }
    }

    pub fn input(&self) -> EvaluationInput<'_> {
        EvaluationInput {
            os: &self.os,
            installed: &self.installed,
            updates: &self.updates,
            failed: &self.failed,
            pending_reboot: &self.pending_reboot,
            today: TODAY,
        }
    }
}

/// Evaluates `node` against `baseline` on [`TODAY`].
pub fn evaluate<'a>(baseline: &Baseline, node: &'a Node) -> NodeCompliance<'a> {
    baseline
        .evaluator()
        .expect("test baseline is valid")
        .evaluate(&node.input())
        .expect("families match")
}

/// Parses a YAML baseline that must be valid.
pub fn yaml(text: &str) -> Baseline {
    Baseline::from_yaml(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Reads one of the repository's example baselines.
pub fn example(file: &str) -> Baseline {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/baselines")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    yaml(&text)
}
