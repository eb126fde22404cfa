//! Patch baselines: which updates a node of one OS family should have.
//!
//! A [`Baseline`] holds
//! - **approval rules** ([`ApprovalRule`]): filters (all must match; see
//!   [`FilterKey`] for keys and glob values), a delay —
//!   `approve-after-days` (0–360 whole days: an update released on day D
//!   is approved from day D + N, in UTC days) *or* `approve-until-date`
//!   (released on or before that date, inclusive) — a compliance
//!   level, and `include-non-security` (when false, the default, the rule
//!   only approves `security` updates). When several rules approve the same
//!   update, the **highest** compliance level wins;
//! - an **approved list** ([`ApprovedPatches`]): `name`, `name=version`,
//!   globs on either side; approved whatever the rules say (no delay, any
//!   classification), with its own compliance level, also competing for the
//!   highest level with the rules;
//! - a **rejected list** ([`RejectedPatches`]), same syntax; a rejected
//!   version is never approved, even if the approved list names it.
//!   `action: block` reports an installed rejected package as
//!   `installed-rejected` (non-compliant, at the list's compliance level);
//!   `allow-as-dependency` (the default, as in the well-known cloud service)
//!   lets the package manager pull it in as a dependency and reports it
//!   `installed-other`;
//! - `available-security-updates-compliance`: whether a security update the
//!   baseline does not (yet) approve makes the node non-compliant
//!   (`compliant` by default).
//!
//! Baselines are read from YAML ([`Baseline::from_yaml`]) with unknown
//! fields rejected, then validated ([`Baseline::validate`]) into typed
//! [`BaselineError`]s naming the rule, filter key and value index. Field and
//! value names are kebab-case in YAML and JSON:
//!
//! ```yaml
//! name: prod-rhel
//! os-family: rhel-compatible
//! approval-rules:
//!   - filters: { classification: [security], severity: [critical] }
//!     approve-after-days: 0
//!     compliance-level: critical
//!   - filters: { classification: ["*"] }
//!     approve-after-days: 14
//!     compliance-level: medium
//!     include-non-security: true
//! rejected-patches:
//!   patches: ["telnet*", "openssl=1:3.0.7-24.el9"]
//!   action: block
//! ```
//!
//! Default baselines per family and the emergency baseline are documented
//! on [`Baseline::default_for`] and [`Baseline::emergency`].

mod defaults;
mod error;
mod filter;
mod pattern;
pub(crate) mod rules;

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

pub use self::error::{BaselineError, BaselineLoadError, PatchList, PatternProblem};
pub use self::filter::FilterKey;
pub(crate) use self::pattern::PatternList;
use crate::compliance::{ComplianceStatus, Evaluator};
use crate::os::OsFamily;

/// The largest accepted `approve-after-days`.
pub const MAX_APPROVE_AFTER_DAYS: u32 = 360;

/// How much a missing approved update matters, ordered from least
/// (`unspecified`) to most (`critical`) important.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ComplianceLevel {
    #[default]
    Unspecified,
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl ComplianceLevel {
    /// Every level, from least to most important.
    pub const ALL: [ComplianceLevel; 6] = [
        ComplianceLevel::Unspecified,
        ComplianceLevel::Informational,
        ComplianceLevel::Low,
        ComplianceLevel::Medium,
        ComplianceLevel::High,
        ComplianceLevel::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceLevel::Unspecified => "unspecified",
            ComplianceLevel::Informational => "informational",
            ComplianceLevel::Low => "low",
            ComplianceLevel::Medium => "medium",
            ComplianceLevel::High => "high",
            ComplianceLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for ComplianceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval rule (see the module documentation for its semantics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ApprovalRule {
    /// Filter key → accepted values (globs). No filters: every update.
    /// A key given twice is an error (YAML would silently keep the last).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "filter::deserialize_unique_filters"
    )]
    pub filters: BTreeMap<FilterKey, Vec<String>>,
    /// 0..=360; exclusive with `approve_until_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_after_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_until_date: Option<Date>,
    #[serde(default)]
    pub compliance_level: ComplianceLevel,
    #[serde(default)]
    pub include_non_security: bool,
}

impl ApprovalRule {
    /// A rule approving what `filters` select, `days` after release.
    pub fn after_days<'a>(
        days: u32,
        level: ComplianceLevel,
        include_non_security: bool,
        filters: impl IntoIterator<Item = (FilterKey, &'a [&'a str])>,
    ) -> ApprovalRule {
        ApprovalRule {
            filters: filters
                .into_iter()
                .map(|(key, values)| (key, values.iter().map(|v| v.to_string()).collect()))
                .collect(),
            approve_after_days: Some(days),
            approve_until_date: None,
            compliance_level: level,
            include_non_security,
        }
    }
}

/// Packages approved regardless of the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ApprovedPatches {
    /// `name` or `name=version`, globs allowed on both sides.
    #[serde(default)]
    pub patches: Vec<String>,
    #[serde(default)]
    pub compliance_level: ComplianceLevel,
}

/// What happens to packages on the rejected list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectedAction {
    /// May be installed only as a dependency of an approved package;
    /// reported `installed-other` when present.
    #[default]
    AllowAsDependency,
    /// Never installed; reported `installed-rejected` when present.
    Block,
}

/// Packages never approved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RejectedPatches {
    /// `name` or `name=version`, globs allowed on both sides.
    #[serde(default)]
    pub patches: Vec<String>,
    #[serde(default)]
    pub action: RejectedAction,
    /// The level of an `installed-rejected` package (action `block`).
    #[serde(default)]
    pub compliance_level: ComplianceLevel,
}

/// A patch baseline for one OS family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Baseline {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub os_family: OsFamily,
    #[serde(default)]
    pub approval_rules: Vec<ApprovalRule>,
    #[serde(default)]
    pub approved_patches: ApprovedPatches,
    #[serde(default)]
    pub rejected_patches: RejectedPatches,
    /// Whether unapproved security updates make a node non-compliant.
    #[serde(default)]
    pub available_security_updates_compliance: ComplianceStatus,
}

impl Baseline {
    /// Reads and validates a baseline from a YAML document.
    pub fn from_yaml(text: &str) -> Result<Baseline, BaselineLoadError> {
        let baseline: Baseline = serde_yaml_ng::from_str(text)?;
        baseline.validate()?;
        Ok(baseline)
    }

    /// Checks everything YAML typing cannot: delays, filter keys and values,
    /// globs and patterns.
    pub fn validate(&self) -> Result<(), BaselineError> {
        self.evaluator().map(drop)
    }

    /// Compiles the baseline into an evaluator, reusable for many nodes.
    pub fn evaluator(&self) -> Result<Evaluator, BaselineError> {
        Evaluator::new(self)
    }
}
