//! Compliance of one node against one baseline: a state for every installed
//! package, the approved updates to install, and the node's verdict.
//!
//! Build an [`Evaluator`] once per baseline ([`Evaluator::new`] or
//! [`Baseline::evaluator`](crate::baseline::Baseline::evaluator)) and call
//! [`Evaluator::evaluate`] for each node; the result borrows the node's
//! strings ([`NodeCompliance::into_owned`] detaches it).
//!
//! # States
//!
//! For each installed package, with the *target* being the highest approved
//! version among its candidate updates (never an unapproved one):
//!
//! | state | when | non-compliant |
//! |---|---|---|
//! | `installed-rejected` | the installed version is on the rejected list with action `block` | yes |
//! | `failed` | target > installed, and a failed-install mark names the package (and the target version, if the mark has one) | yes |
//! | `missing` | target > installed | yes |
//! | `installed-pending-reboot` | target ≤ installed, the installed version is not rejected, and a pending-reboot mark names the package (and the installed version, if the mark has one) | yes |
//! | `available-security-update` | nothing approved above installed, but a newer `security` update exists that the baseline does not approve (yet) and does not reject | if the baseline's `available-security-updates-compliance` is `non-compliant` |
//! | `installed` | target ≤ installed, the installed version is not rejected | no |
//! | `installed-other` | nothing approved (or the installed version is rejected with `allow-as-dependency`) | no |
//!
//! The first matching row wins. Approved updates whose package is not
//! installed (no installed package of that name with a compatible arch)
//! are reported once per name and arch as `not-applicable`, with their
//! highest approved version.
//!
//! # Compliance levels
//!
//! - `missing` / `failed`: the highest level among the approved versions
//!   above the installed one (installing the target fixes them all);
//! - `installed`, `installed-pending-reboot`, `not-applicable`: the target's
//!   level;
//! - `installed-rejected`: the rejected list's level (or a missing approved
//!   upgrade's, if higher — the upgrade is then still listed to install);
//! - `available-security-update`: the highest vendor severity among such
//!   updates, mapped as critical → critical, important → high, moderate →
//!   medium, low → low, unspecified → unspecified;
//! - `installed-other`: `unspecified`.
//!
//! The node is non-compliant when any package is; its severity is the
//! highest level among the non-compliant packages.
//!
//! # Architectures and several installed versions
//!
//! Candidates apply by [`arches_compatible`](crate::package::arches_compatible):
//! same arch, or either side `all`/`noarch`; multi-arch siblings are
//! separate packages with separate states. When one name and arch is
//! installed in several versions (install-only packages such as RPM
//! `kernel`), each entry is judged by the highest installed version, so an
//! older kernel kept for fallback is not reported missing.
//!
//! # Dates
//!
//! Approval delays compare civil dates: pass "today" as a date, or derive it
//! from a timestamp with [`utc_day`] (release dates are UTC days).

mod evaluate;
mod index;

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

pub use self::evaluate::Evaluator;
use crate::baseline::ComplianceLevel;
use crate::os::{OsFamily, OsInfo};
use crate::package::{InstalledPackage, PackageRef, Update};

/// Whether a node (or a baseline's view of a condition) is compliant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComplianceStatus {
    #[default]
    Compliant,
    NonCompliant,
}

/// The compliance state of one package on one node (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageState {
    Installed,
    InstalledOther,
    InstalledPendingReboot,
    InstalledRejected,
    Missing,
    Failed,
    NotApplicable,
    AvailableSecurityUpdate,
}

impl PackageState {
    pub const ALL: [PackageState; 8] = [
        PackageState::Installed,
        PackageState::InstalledOther,
        PackageState::InstalledPendingReboot,
        PackageState::InstalledRejected,
        PackageState::Missing,
        PackageState::Failed,
        PackageState::NotApplicable,
        PackageState::AvailableSecurityUpdate,
    ];
}

/// What approved an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovedBy {
    /// The approval rule at this 0-based position (the first one with the
    /// winning compliance level).
    Rule(usize),
    ApprovedList,
}

/// An update's approval and its compliance level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Approval {
    pub level: ComplianceLevel,
    pub by: ApprovedBy,
}

/// The baseline's decision on one update for one node and day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateVerdict {
    Approved(Approval),
    /// No rule or list approves it (yet).
    NotApproved,
    /// On the rejected list: never approved.
    Rejected,
}

/// Everything known about one node, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationInput<'a> {
    pub os: &'a OsInfo,
    pub installed: &'a [InstalledPackage],
    /// Every known version of packages the repositories offer, including
    /// versions at or below the installed ones.
    pub updates: &'a [Update],
    /// Packages whose last install attempt failed.
    pub failed: &'a [PackageRef],
    /// Packages installed but waiting for a reboot to take effect.
    pub pending_reboot: &'a [PackageRef],
    /// The evaluation day.
    pub today: Date,
}

/// The UTC calendar day of an instant, the day approval delays count in.
pub fn utc_day(now: Timestamp) -> Date {
    now.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// Why a node cannot be evaluated against a baseline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    #[error("baseline is for {baseline} nodes, this node is {node}")]
    FamilyMismatch { baseline: OsFamily, node: OsFamily },
}

/// The state of one package (one line of a compliance report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PackageCompliance<'a> {
    pub name: Cow<'a, str>,
    pub arch: Cow<'a, str>,
    pub state: PackageState,
    pub non_compliant: bool,
    pub compliance_level: ComplianceLevel,
    /// `None` for `not-applicable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_version: Option<Cow<'a, str>>,
    /// The target: the highest approved version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_version: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<ApprovedBy>,
    /// The advisory of the target, or of the security update for
    /// `available-security-update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_id: Option<Cow<'a, str>>,
    /// For `available-security-update`: the newest unapproved security version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_update_version: Option<Cow<'a, str>>,
}

/// One approved update the agent must install.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstallTarget<'a> {
    pub name: Cow<'a, str>,
    /// The update's arch (may be `all`/`noarch`).
    pub arch: Cow<'a, str>,
    pub version: Cow<'a, str>,
    pub reboot_suggested: bool,
}

/// Number of packages in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StateCounts {
    pub installed: u32,
    pub installed_other: u32,
    pub installed_pending_reboot: u32,
    pub installed_rejected: u32,
    pub missing: u32,
    pub failed: u32,
    pub not_applicable: u32,
    pub available_security_update: u32,
}

impl StateCounts {
    fn slot(&mut self, state: PackageState) -> &mut u32 {
        match state {
            PackageState::Installed => &mut self.installed,
            PackageState::InstalledOther => &mut self.installed_other,
            PackageState::InstalledPendingReboot => &mut self.installed_pending_reboot,
            PackageState::InstalledRejected => &mut self.installed_rejected,
            PackageState::Missing => &mut self.missing,
            PackageState::Failed => &mut self.failed,
            PackageState::NotApplicable => &mut self.not_applicable,
            PackageState::AvailableSecurityUpdate => &mut self.available_security_update,
        }
    }

    /// The count for one state.
    pub fn get(&self, state: PackageState) -> u32 {
        let mut counts = *self;
        *counts.slot(state)
    }

    fn add(&mut self, state: PackageState) {
        *self.slot(state) += 1;
    }
}

/// Number of non-compliant packages at each compliance level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LevelCounts {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub informational: u32,
    pub unspecified: u32,
}

impl LevelCounts {
    fn slot(&mut self, level: ComplianceLevel) -> &mut u32 {
        match level {
            ComplianceLevel::Critical => &mut self.critical,
            ComplianceLevel::High => &mut self.high,
            ComplianceLevel::Medium => &mut self.medium,
            ComplianceLevel::Low => &mut self.low,
            ComplianceLevel::Informational => &mut self.informational,
            ComplianceLevel::Unspecified => &mut self.unspecified,
        }
    }

    /// The count for one level.
    pub fn get(&self, level: ComplianceLevel) -> u32 {
        let mut counts = *self;
        *counts.slot(level)
    }

    fn add(&mut self, level: ComplianceLevel) {
        *self.slot(level) += 1;
    }
}

/// The outcome of evaluating one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeCompliance<'a> {
    pub status: ComplianceStatus,
    /// The highest level among non-compliant packages; `None` when compliant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<ComplianceLevel>,
    pub state_counts: StateCounts,
    /// Non-compliant packages per compliance level.
    pub non_compliant_levels: LevelCounts,
    /// Installed packages in input order, then `not-applicable` entries
    /// in the order their package first appears among the updates.
    pub packages: Vec<PackageCompliance<'a>>,
    /// Approved versions to install (for `missing`, `failed`, and upgrades
    /// away from a blocked version), sorted by name and arch, no duplicates.
    pub to_install: Vec<InstallTarget<'a>>,
}

fn own(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
}

impl NodeCompliance<'_> {
    /// The package line for `name` and `arch`, if any.
    pub fn package(&self, name: &str, arch: &str) -> Option<&PackageCompliance<'_>> {
        self.packages
            .iter()
            .find(|p| p.name == name && p.arch == arch)
    }

    /// Copies every borrowed string so the report outlives the input.
    pub fn into_owned(self) -> NodeCompliance<'static> {
        NodeCompliance {
            status: self.status,
            severity: self.severity,
            state_counts: self.state_counts,
            non_compliant_levels: self.non_compliant_levels,
            packages: self
                .packages
                .into_iter()
                .map(|p| PackageCompliance {
                    name: own(p.name),
                    arch: own(p.arch),
                    state: p.state,
                    non_compliant: p.non_compliant,
                    compliance_level: p.compliance_level,
                    installed_version: p.installed_version.map(own),
                    approved_version: p.approved_version.map(own),
                    approved_by: p.approved_by,
                    advisory_id: p.advisory_id.map(own),
                    security_update_version: p.security_update_version.map(own),
                })
                .collect(),
            to_install: self
                .to_install
                .into_iter()
                .map(|t| InstallTarget {
                    name: own(t.name),
                    arch: own(t.arch),
                    version: own(t.version),
                    reboot_suggested: t.reboot_suggested,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_day_is_the_calendar_day_in_utc() {
        let late: Timestamp = "2025-06-30T23:59:59-02:00".parse().unwrap();
        assert_eq!(utc_day(late), jiff::civil::date(2025, 7, 1));
        let early: Timestamp = "2025-06-30T00:00:00Z".parse().unwrap();
        assert_eq!(utc_day(early), jiff::civil::date(2025, 6, 30));
    }

    #[test]
    fn evaluators_and_reports_cross_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Evaluator>();
        shareable::<NodeCompliance<'static>>();
    }
}
