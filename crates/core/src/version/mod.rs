//! Version ordering exactly as the real package managers order versions.
//!
//! [`deb`] matches `dpkg --compare-versions`; [`rpm`] matches rpm's
//! `rpmvercmp` and `rpm.vercmp` (epoch:version-release). Both compare
//! borrowed strings without allocating, because fleet-wide evaluation
//! performs hundreds of millions of comparisons.

pub mod deb;
mod prefix;
pub mod rpm;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Which ordering rules a version string follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionScheme {
    /// dpkg rules: `[epoch:]upstream[-revision]`.
    Deb,
    /// rpm rules: `[epoch:]version[-release]`.
    Rpm,
}

impl VersionScheme {
    /// Compares two full version strings under this scheme.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            VersionScheme::Deb => deb::compare(a, b),
            VersionScheme::Rpm => rpm::compare_evr(a, b),
        }
    }
}
