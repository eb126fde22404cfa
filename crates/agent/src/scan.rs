//! A scan: facts + inventory of a root, evaluated against a baseline by the
//! domain core. Read-only: a scan never changes the node.

use jiff::Timestamp;
use patchline_core::baseline::{Baseline, BaselineError};
use patchline_core::compliance::{EvaluationError, EvaluationInput, NodeCompliance, utc_day};
use patchline_core::os::OsFamily;
use patchline_core::package::PackageRef;
use serde::Serialize;

use crate::apt::{self, AptInventoryError, AptSource, InterruptedPackage};
use crate::facts::{Facts, FactsError, read_facts};
use crate::root::NodeRoot;

/// Why a scan could not complete. Nothing on the node has changed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading facts: {0}")]
    Facts(#[from] FactsError),
    #[error("reading the package inventory: {0}")]
    Inventory(#[from] AptInventoryError),
    #[error(
        "{family} nodes are not scanned yet: this agent reads dpkg/apt nodes (Debian, Ubuntu); the rpm drivers come with the package-manager driver work"
    )]
    UnsupportedFamily { family: OsFamily },
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
    pub sources: Vec<AptSource>,
    /// Packages an interrupted dpkg run left mid-operation.
    pub interrupted: Vec<InterruptedPackage>,
    pub installed_packages: usize,
    pub known_versions: usize,
    pub compliance: NodeCompliance<'static>,
}

/// Scans the node at `root`.
pub fn scan(root: &NodeRoot, options: &ScanOptions) -> Result<ScanReport, ScanError> {
    let facts = read_facts(root)?;
    if !facts.os.family.is_debian_like() {
        return Err(ScanError::UnsupportedFamily {
            family: facts.os.family,
        });
    }
    let inventory = apt::read_inventory(root)?;
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
