//! A scan: facts + inventory of a root, evaluated against a baseline by the
//! domain core. Read-only: a scan never changes the node.

use std::path::Path;

use jiff::Timestamp;
use patchline_core::baseline::{Baseline, BaselineError};
use patchline_core::compliance::{EvaluationError, EvaluationInput, NodeCompliance, utc_day};
use patchline_core::package::{InstalledPackage, PackageRef, Update};
use serde::Serialize;

use crate::apt::{self, AptInventoryError, InterruptedPackage};
use crate::facts::{Facts, FactsError, read_facts};
use crate::root::{NodeRoot, ReadError};
use crate::rpm::reboot::{self, RebootInputs};
use crate::rpm::{self, RpmInventoryError};
use crate::source::Source;

/// Why a scan could not complete. Nothing on the node has changed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading facts: {0}")]
    Facts(#[from] FactsError),
    #[error("reading the package inventory: {0}")]
    Inventory(#[from] AptInventoryError),
    #[error("reading the package inventory: {0}")]
    RpmInventory(#[from] RpmInventoryError),
    #[error("reading the boot time: {0}")]
    BootTime(#[from] ReadError),
    #[error("baseline: {0}")]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
}

/// What to scan against.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// `None`: the default baseline of the node's OS family.
    pub baseline: Option<Baseline>,
    /// The instant approval delays are counted at.
    pub now: Timestamp,
}

/// The result of one scan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScanReport {
    pub root: String,
    pub scanned_at: Timestamp,
    pub facts: Facts,
    pub baseline: String,
    pub sources: Vec<Source>,
    /// Packages an interrupted dpkg run left mid-operation (Debian family).
    pub interrupted: Vec<InterruptedPackage>,
    pub installed_packages: usize,
    pub known_versions: usize,
    pub compliance: NodeCompliance<'static>,
}

/// The inventory of either package family, in the shape the scan needs.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub installed: Vec<InstalledPackage>,
    pub updates: Vec<Update>,
    pub sources: Vec<Source>,
    pub interrupted: Vec<InterruptedPackage>,
}

/// Reads the inventory of the node's package family: dpkg/apt for the
/// Debian family, the rpm database and dnf/zypper caches for every other.
/// For RPM families the reboot rules add their packages to `facts`.
pub fn read_inventory(root: &NodeRoot, facts: &mut Facts) -> Result<Inventory, ScanError> {
    read_inventory_with_cache(root, facts, None)
}

/// [`read_inventory`] with a scan cache: `cache_dir` (outside the root;
/// the scan writes nothing to the node) keeps what was taken from each
/// apt list, reused while the list and the installed names are unchanged
/// (see [`apt::read_inventory_with_cache`]). Same result as without it.
pub fn read_inventory_with_cache(
    root: &NodeRoot,
    facts: &mut Facts,
    cache_dir: Option<&Path>,
) -> Result<Inventory, ScanError> {
    if facts.os.family.is_debian_like() {
        let apt = apt::read_inventory_with_cache(root, cache_dir)?;
        Ok(Inventory {
            installed: apt.installed,
            updates: apt.updates,
            sources: apt.sources.into_iter().map(Source::from).collect(),
            interrupted: apt.interrupted,
        })
    } else {
        read_rpm_inventory(root, facts)
    }
}

/// Scans the node at `root`: dpkg/apt for the Debian family, the rpm
/// database and dnf/zypper caches for every other family.
pub fn scan(root: &NodeRoot, options: &ScanOptions) -> Result<ScanReport, ScanError> {
    scan_with_cache(root, options, None)
}

/// [`scan`] with a scan cache in `cache_dir` (see
/// [`read_inventory_with_cache`]): what a periodic agent runs.
pub fn scan_with_cache(
    root: &NodeRoot,
    options: &ScanOptions,
    cache_dir: Option<&Path>,
) -> Result<ScanReport, ScanError> {
    let mut facts = read_facts(root)?;
    let inventory = read_inventory_with_cache(root, &mut facts, cache_dir)?;
    let baseline = options
        .baseline
        .clone()
        .unwrap_or_else(|| Baseline::default_for(facts.os.family));
    let evaluator = baseline.evaluator()?;
    let pending_reboot: Vec<PackageRef> = facts
        .reboot_required_packages
        .iter()
        .map(PackageRef::named)
        .collect();
    let compliance = evaluator
        .evaluate(&EvaluationInput {
            os: &facts.os,
            installed: &inventory.installed,
            updates: &inventory.updates,
            failed: &[],
            pending_reboot: &pending_reboot,
            today: utc_day(options.now),
        })?
        .into_owned();
    Ok(ScanReport {
        root: root.path().display().to_string(),
        scanned_at: options.now,
        baseline: baseline.name.clone(),
        sources: inventory.sources,
        interrupted: inventory.interrupted,
        installed_packages: inventory.installed.len(),
        known_versions: inventory.updates.len(),
        facts,
        compliance,
    })
}

/// Reads the RPM-family inventory and adds what it says about reboots to the
/// facts (see [`reboot`]): those packages become pending-reboot marks.
fn read_rpm_inventory(root: &NodeRoot, facts: &mut Facts) -> Result<Inventory, ScanError> {
    let rpm = rpm::read_inventory(root)?;
    let needing_reboot = reboot::packages_needing_reboot(&RebootInputs {
        installed: &rpm.installed,
        install_times: &rpm.install_times,
        reboot_suggested: &rpm.reboot_suggested,
        running_kernel: facts.kernel.as_deref(),
        boot_time: reboot::boot_time(root)?,
    });
    if !needing_reboot.is_empty() {
        facts.reboot_required = true;
    }
    for name in needing_reboot {
        if !facts.reboot_required_packages.contains(&name) {
            facts.reboot_required_packages.push(name);
        }
    }
    Ok(Inventory {
        installed: rpm.installed,
        updates: rpm.updates,
        sources: rpm.sources,
        interrupted: Vec::new(),
    })
}
