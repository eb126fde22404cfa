//! Package-manager drivers behind one trait, [`PackageDriver`]: what the
//! install flow asks of apt/dpkg, dnf/rpm and zypper/rpm ([`for_node`]
//! picks one by the node's OS family).
//!
//! The trait is shaped by the three tools:
//!
//! - *refresh* with a timeout: `apt-get update`, `dnf makecache`,
//!   `zypper refresh`;
//! - *install exact versions* (`name=version` for apt and zypper,
//!   `name-version` for dnf), never "upgrade everything", while the
//!   rejected (`block`) names are kept back: apt holds them (`apt-mark
//!   hold`) for the call and restores the holds after, dnf passes
//!   `--exclude` (it has no holds without the versionlock plugin), zypper
//!   adds and removes locks;
//! - *repair* an interrupted run: `dpkg --configure -a`; rpm has no
//!   half-configured state, a killed transaction leaves two builds of a
//!   package in the rpmdb, and the repair erases the older from the
//!   database (see [`rpm_family`]);
//! - a result *per target*, because one failing package must not mark the
//!   others failed although the tools are transactional per call.
//!
//! Reading the inventory stays with the scan (databases read directly).

pub mod apt;
pub mod command;
pub mod dnf;
mod rpm_family;
pub mod zypper;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

pub use command::{CommandRecord, SpawnError};

use patchline_core::os::{OsFamily, OsInfo};

use crate::apt::InterruptedPackage;
use crate::root::NodeRoot;

/// One exact version to install.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Target {
    pub name: String,
    /// The package's architecture; `all`/`noarch` or empty match any.
    pub arch: String,
    pub version: String,
}

/// What became of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum TargetOutcome {
    /// The node now has exactly this version, fully installed.
    Installed,
    /// The install was attempted and the package is not at the version.
    Failed { reason: String },
    /// Not attempted (e.g. the package is not on the node).
    Skipped { reason: String },
}

/// The result of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TargetResult {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    pub outcome: TargetOutcome,
}

/// What a repair of an interrupted package-manager run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Repair {
    pub command: CommandRecord,
    /// Packages still mid-operation after the repair (`name:arch state`).
    pub still_interrupted: Vec<String>,
}

impl Repair {
    /// The tool succeeded and nothing is left mid-operation.
    pub fn succeeded(&self) -> bool {
        self.command.succeeded() && self.still_interrupted.is_empty()
    }
}

/// What an install call did, target by target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstallOutcome {
    /// One per target, in the order given.
    pub results: Vec<TargetResult>,
    /// Every package-manager command run, in order.
    pub commands: Vec<CommandRecord>,
    /// Repairs run after failed calls, to leave the database consistent.
    pub repairs: Vec<Repair>,
    /// Names held (excluded) for the install and released after it.
    pub held: Vec<String>,
}

/// Why a driver operation failed as a whole. Per-package failures are not
/// errors: they are [`TargetOutcome::Failed`].
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("{}", .0.failure_summary())]
    Failed(CommandRecord),
    #[error("{action}: {message}")]
    Setup { action: String, message: String },
    #[error("reading the package database: {0}")]
    Database(String),
    #[error("{driver} does not support {action}")]
    Unsupported {
        driver: &'static str,
        action: &'static str,
    },
}

/// The driver of the node's OS family: apt for Debian and Ubuntu, dnf for
/// RHEL-compatible, Fedora and Amazon Linux, zypper for SUSE.
pub fn for_node(
    root: &NodeRoot,
    os: &OsInfo,
    timeouts: DriverTimeouts,
) -> Result<Box<dyn PackageDriver>, DriverError> {
    Ok(match os.family {
        OsFamily::Debian | OsFamily::Ubuntu => Box::new(apt::AptDriver::new(root, timeouts)?),
        OsFamily::RhelCompatible | OsFamily::Fedora | OsFamily::AmazonLinux => {
            Box::new(dnf::DnfDriver::new(root, &os.version_id, timeouts)?)
        }
        OsFamily::Suse => Box::new(zypper::ZypperDriver::new(root, timeouts)?),
    })
}

/// Time limits of the driver's commands.
#[derive(Debug, Clone, Copy)]
pub struct DriverTimeouts {
    /// Each install call (and each repair).
    pub install: Duration,
    /// Holds, queries and other short calls.
    pub short: Duration,
}

impl Default for DriverTimeouts {
    fn default() -> DriverTimeouts {
        DriverTimeouts {
            install: Duration::from_secs(3600),
            short: Duration::from_secs(120),
        }
    }
}

/// A package manager working on one node root.
pub trait PackageDriver {
    /// `apt`, `dnf` or `zypper`.
    fn name(&self) -> &'static str;

    /// Fetches repository metadata again; fails (changing nothing the scan
    /// reads) when a repository cannot be read or `timeout` passes.
    fn refresh(&self, timeout: Duration) -> Result<CommandRecord, DriverError>;

    /// Names currently held (excluded from changes) on the node.
    fn held(&self) -> Result<Vec<String>, DriverError>;

    /// Holds (excludes) these names from any change.
    fn hold(&self, names: &[String]) -> Result<CommandRecord, DriverError>;

    /// Releases holds on these names.
    fn unhold(&self, names: &[String]) -> Result<CommandRecord, DriverError>;

    /// Installs exactly these versions and nothing newer or unrelated, with
    /// `excluded` names held during the call and their holds restored after.
    /// A failing package is reported failed alone.
    fn install_exact(
        &self,
        targets: &[Target],
        excluded: &[String],
    ) -> Result<InstallOutcome, DriverError>;

    /// Packages an interrupted run left mid-operation, as the package
    /// manager sees them (for dpkg: its journal applied to the status).
    fn interrupted(&self) -> Result<Vec<InterruptedPackage>, DriverError>;

    /// Finishes an interrupted run (`dpkg --configure -a`; for rpm, erasing
    /// older duplicates from the database).
    fn repair(&self) -> Result<Repair, DriverError>;
}

/// Runs `install` for `targets` while the `excluded` names are held with
/// the driver's own mechanism (apt-mark hold, zypper locks). Only names not
/// held already and not targets themselves are held, so the node's own holds
/// survive and targets stay installable; exactly those are released
/// afterwards, whatever the install did (a failure to release is reported
/// after the install's own error, if any).
pub(crate) fn install_holding_excluded(
    driver: &dyn PackageDriver,
    targets: &[Target],
    excluded: &[String],
    install: impl FnOnce(&mut InstallOutcome) -> Result<(), DriverError>,
) -> Result<InstallOutcome, DriverError> {
    let mut outcome = InstallOutcome {
        results: Vec::new(),
        commands: Vec::new(),
        repairs: Vec::new(),
        held: Vec::new(),
    };
    if targets.is_empty() {
        return Ok(outcome);
    }
    let already: BTreeSet<String> = driver.held()?.into_iter().collect();
    let to_hold: Vec<String> = excluded
        .iter()
        .filter(|name| !already.contains(*name) && !targets.iter().any(|t| &t.name == *name))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !to_hold.is_empty() {
        outcome.commands.push(driver.hold(&to_hold)?);
        outcome.held.clone_from(&to_hold);
    }
    let installed = install(&mut outcome);
    if !to_hold.is_empty() {
        let released = driver.unhold(&to_hold);
        installed?;
        outcome.commands.push(released?);
    } else {
        installed?;
    }
    Ok(outcome)
}
