//! The Patchline agent.
//!
//! Owns everything that touches a node: it works on a *root path* (`/` for
//! the live host, a directory for a test node or an image's filesystem), reads
//! the node's facts and package inventory from under that root, and scans it
//! against a baseline with the domain core. Scans read the package managers'
//! own files directly (dpkg status and journal, apt lists, dnf/zypper repodata
//! caches) and ask only `rpm -qa` for the rpm database; installing goes through
//! the real package managers behind the [`driver::PackageDriver`] trait
//! ([`install`] runs the whole flow).

pub mod apt;
pub mod checkin;
pub mod driver;
pub mod facts;
pub mod install;
mod known_versions;
pub mod report;
pub mod root;
pub mod rpm;
pub mod scan;
pub mod source;

pub use root::NodeRoot;
pub use scan::{ScanError, ScanOptions, ScanReport, scan, scan_with_cache};
