//! Where a scan's known versions came from, whatever the package manager:
//! an apt list group (one Release file and its indexes) or a dnf/zypper
//! repository cache (one repomd.xml with its primary and updateinfo).

use jiff::Timestamp;
use serde::Serialize;

use crate::apt::AptSource;

/// The package manager whose metadata a source was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    Apt,
    Dnf,
    Zypper,
}

impl PackageManager {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Apt => "apt",
            PackageManager::Dnf => "dnf",
            PackageManager::Zypper => "zypper",
        }
    }
}

/// One repository a scan read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Source {
    pub manager: PackageManager,
    /// apt: suite or codename (the list prefix without one); rpm: repo id
    /// (dnf) or alias (zypper).
    pub name: String,
    /// apt: a security pocket; rpm: publishes at least one security advisory.
    pub security: bool,
    /// apt: the Release date; rpm: the primary's timestamp in repomd.xml.
    pub date: Option<Timestamp>,
    /// Package indexes read (apt: Packages files; rpm: 1, the primary).
    pub indexes: usize,
    /// rpm: advisories in the repository's updateinfo, `None` when it has
    /// none (its versions are all `other`); apt: `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisories: Option<usize>,
}

impl From<AptSource> for Source {
    fn from(source: AptSource) -> Source {
        Source {
            manager: PackageManager::Apt,
            name: source.name,
            security: source.security,
            date: source.date,
            indexes: source.indexes,
            advisories: None,
        }
    }
}
