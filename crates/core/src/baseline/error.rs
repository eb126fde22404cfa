//! Typed errors for reading and validating baselines. Every variant names
//! the place in the document (`approval-rules[2].filters.severity[0]`,
//! `rejected-patches.patches[1]`) so an operator can fix the file directly.

use std::fmt;

use super::FilterKey;
use crate::os::OsFamily;

/// Which explicit list of a baseline an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchList {
    Approved,
    Rejected,
}

impl fmt::Display for PatchList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchList::Approved => "approved-patches",
            PatchList::Rejected => "rejected-patches",
        })
    }
}

/// What is wrong with one `name[=version]` pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternProblem {
    #[error("the package name is empty")]
    EmptyName,
    #[error("the version after '=' is empty")]
    EmptyVersion,
    #[error("invalid glob: {0}")]
    BadGlob(#[source] globset::Error),
}

/// A baseline that parsed but does not make sense. Rule indexes are 0-based
/// positions in `approval-rules`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    #[error("name: the baseline name is empty")]
    EmptyName,
    #[error("approval-rules[{rule}].approve-after-days: {days} is out of range 0..=360")]
    DaysOutOfRange { rule: usize, days: u32 },
    #[error(
        "approval-rules[{rule}]: approve-after-days and approve-until-date are mutually exclusive"
    )]
    BothDelays { rule: usize },
    #[error("approval-rules[{rule}]: one of approve-after-days or approve-until-date is required")]
    MissingDelay { rule: usize },
    #[error(
        "approval-rules[{rule}].filters.{key}: this filter is not available for {family} baselines"
    )]
    FilterKeyNotForFamily {
        rule: usize,
        key: FilterKey,
        family: OsFamily,
    },
    #[error("approval-rules[{rule}].filters.{key}: at least one value is required")]
    EmptyFilter { rule: usize, key: FilterKey },
    #[error(
        "approval-rules[{rule}].filters.{key}[{index}]: {value:?} is not a valid glob: {source}"
    )]
    BadFilterGlob {
        rule: usize,
        key: FilterKey,
        index: usize,
        value: String,
        #[source]
        source: globset::Error,
    },
    #[error(
        "approval-rules[{rule}].filters.{key}[{index}]: {value:?} matches no known {key} (expected one of: {expected})"
    )]
    UnknownFilterValue {
        rule: usize,
        key: FilterKey,
        index: usize,
        value: String,
        expected: String,
    },
    #[error("{list}.patches[{index}]: {pattern:?}: {problem}")]
    BadPattern {
        list: PatchList,
        index: usize,
        pattern: String,
        #[source]
        problem: PatternProblem,
    },
}

/// Why a YAML document could not be turned into a valid baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineLoadError {
    /// Syntax, unknown field, unknown enum value (compliance level, filter
    /// key, classification...) or wrong type; the message carries the line
    /// and column.
    #[error("baseline YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("invalid baseline: {0}")]
    Invalid(#[from] BaselineError),
}
