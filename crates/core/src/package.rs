//! The patch model: what is installed on a node ([`InstalledPackage`]), which
//! versions the repositories offer ([`Update`], with classification,
//! severity, release date, advisory and Debian priority/section), and marks
//! about past attempts ([`PackageRef`] for failed installs and for packages
//! waiting for a reboot).
//!
//! Architectures are plain strings as the package manager spells them
//! (`amd64`, `x86_64`, `i386`, `all`, `noarch`). An update applies to an
//! installed package of the same name when both arches are equal, or when
//! either side is architecture-independent (`all` / `noarch`): packages do
//! move between arch-specific and arch-independent builds across versions,
//! while a multi-arch sibling (`libc6:i386` next to `libc6:amd64`) must never
//! receive the other arch's update.
//!
//! Family conventions for the fields the metadata readers fill in:
//! - RPM families: classification, severity, advisory id and the release date
//!   come from the updateinfo advisory (`type`, `severity`, `issued`).
//! - Debian family: an update is `security` when it comes from the security
//!   suite/pocket, otherwise `other`; the release date is when the version
//!   appeared in the repository; priority and section come from the package
//!   stanza; severity is `unspecified` unless a security tracker supplies it.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// One package as the package database lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstalledPackage {
    pub name: String,
    pub arch: String,
    /// Full version (`[epoch:]version[-release]`).
    pub version: String,
    /// Source package, when the package manager records one (informational:
    /// approval patterns and filters match the binary name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The kind of change an update brings (RPM updateinfo `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    Security,
    Bugfix,
    Enhancement,
    #[serde(rename = "newpackage", alias = "new-package")]
    NewPackage,
    Other,
}

impl Classification {
    pub const ALL: [Classification; 5] = [
        Classification::Security,
        Classification::Bugfix,
        Classification::Enhancement,
        Classification::NewPackage,
        Classification::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Security => "security",
            Classification::Bugfix => "bugfix",
            Classification::Enhancement => "enhancement",
            Classification::NewPackage => "newpackage",
            Classification::Other => "other",
        }
    }

    /// Maps an updateinfo `type` attribute (case-insensitive); anything
    /// unrecognised is [`Classification::Other`].
    pub fn from_updateinfo_type(kind: &str) -> Classification {
        Classification::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(kind.trim()))
            .unwrap_or(Classification::Other)
    }
}

/// The vendor's severity of an update, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    #[default]
    Unspecified,
    Low,
    Moderate,
    Important,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Unspecified,
        Severity::Low,
        Severity::Moderate,
        Severity::Important,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unspecified => "unspecified",
            Severity::Low => "low",
            Severity::Moderate => "moderate",
            Severity::Important => "important",
            Severity::Critical => "critical",
        }
    }

    /// Maps a vendor label (updateinfo `severity`, case-insensitive);
    /// `None`, empty and unknown labels are [`Severity::Unspecified`].
    pub fn from_vendor_label(label: &str) -> Severity {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(label.trim()))
            .unwrap_or(Severity::Unspecified)
    }
}

/// Debian package priority (the `Priority:` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DebPriority {
    Required,
    Important,
    Standard,
    Optional,
    Extra,
}

impl DebPriority {
    pub const ALL: [DebPriority; 5] = [
        DebPriority::Required,
        DebPriority::Important,
        DebPriority::Standard,
        DebPriority::Optional,
        DebPriority::Extra,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DebPriority::Required => "required",
            DebPriority::Important => "important",
            DebPriority::Standard => "standard",
            DebPriority::Optional => "optional",
            DebPriority::Extra => "extra",
        }
    }

    /// Parses a `Priority:` value (case-insensitive); `None` when unknown.
    pub fn from_field(value: &str) -> Option<DebPriority> {
        DebPriority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DebPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of a package that a repository offers (it may be older than,
/// equal to or newer than what is installed: known versions at or below the
/// installed one tell whether the installed version is itself approved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Update {
    pub name: String,
    pub arch: String,
    pub version: String,
    pub classification: Classification,
    #[serde(default)]
    pub severity: Severity,
    /// The day the version was published; approval delays count from it.
    pub release_date: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<String>,
    /// Repository id (RPM) or suite (Debian) the version comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<DebPriority>,
    /// Debian section, possibly with its archive area (`non-free/libs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(default)]
    pub reboot_suggested: bool,
}

/// A package named in a mark list (failed installs, pending reboots).
/// Absent `arch` or `version` match any.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PackageRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl PackageRef {
    /// A reference to every version and arch of `name`.
    pub fn named(name: impl Into<String>) -> PackageRef {
        PackageRef {
            name: name.into(),
            arch: None,
            version: None,
        }
    }
}

/// `all` (dpkg) and `noarch` (rpm) packages run on every architecture.
pub fn is_arch_independent(arch: &str) -> bool {
    arch == "all" || arch == "noarch"
}

/// Whether an update built for `update_arch` can replace a package installed
/// for `installed_arch` (see the module documentation).
pub fn arches_compatible(installed_arch: &str, update_arch: &str) -> bool {
    installed_arch == update_arch
        || is_arch_independent(installed_arch)
        || is_arch_independent(update_arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_labels_map_leniently() {
        assert_eq!(
            Severity::from_vendor_label("Important"),
            Severity::Important
        );
        assert_eq!(Severity::from_vendor_label("None"), Severity::Unspecified);
        assert_eq!(Severity::from_vendor_label(""), Severity::Unspecified);
        assert_eq!(
            Classification::from_updateinfo_type("newpackage"),
            Classification::NewPackage
        );
        assert_eq!(
            Classification::from_updateinfo_type("Security"),
            Classification::Security
        );
        assert_eq!(
            Classification::from_updateinfo_type("recommended"),
            Classification::Other
        );
        assert_eq!(
            DebPriority::from_field("optional"),
            Some(DebPriority::Optional)
        );
        assert_eq!(DebPriority::from_field("bogus"), None);
    }

    #[test]
    fn arch_compatibility_keeps_multiarch_siblings_apart() {
        assert!(arches_compatible("amd64", "amd64"));
        assert!(arches_compatible("amd64", "all"));
        assert!(arches_compatible("noarch", "x86_64"));
        assert!(!arches_compatible("amd64", "i386"));
        assert!(!arches_compatible("x86_64", "i686"));
    }

    #[test]
    fn update_json_uses_kebab_case() {
        let update = Update {
            name: "openssl".into(),
            arch: "x86_64".into(),
            version: "1:3.0.7-27.el9".into(),
            classification: Classification::NewPackage,
            severity: Severity::Important,
            release_date: jiff::civil::date(2024, 5, 1),
            advisory_id: Some("RLSA-2024:1234".into()),
            cves: vec!["CVE-2024-0001".into()],
            repository: None,
            priority: None,
            section: None,
            reboot_suggested: false,
        };
        let json = serde_json::to_string(&update).unwrap();
        assert!(json.contains(r#""classification":"newpackage""#), "{json}");
        assert!(json.contains(r#""release-date":"2024-05-01""#), "{json}");
        assert!(json.contains(r#""advisory-id":"RLSA-2024:1234""#), "{json}");
        let back: Update = serde_json::from_str(&json).unwrap();
        assert_eq!(back, update);
    }
}
