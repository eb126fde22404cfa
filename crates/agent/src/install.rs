//! The install flow on one node: scan → repair an interrupted run →
//! snapshot → pre-patch hook → install exactly the approved (or
//! override-listed) versions with the rejected `block` packages held →
//! post-patch hook → rescan with `failed` marks → reboot decision.
//!
//! A failing snapshot or pre-patch hook aborts before anything is installed
//! (the report says which phase); an unreadable database, a broken
//! repository or a failed refresh is an [`InstallError`] and nothing on the
//! node has changed. A package that fails to install is reported failed
//! alone and evaluated `failed`.
//!
//! Cancellation ([`install_cancellable`]): a stop request is honoured only
//! before the package manager's transaction starts: before the refresh,
//! during the snapshot and pre-patch hooks (their process group is
//! killed) and right before the install call. Once `apt-get`/`dpkg`,
//! `dnf`/`rpm` or `zypper` runs, a request is ignored: killing a package
//! transaction midway leaves the node half-upgraded; the install finishes
//! and reports normally.
//!
//! Reboot: with [`RebootOption::RebootIfNeeded`] the reboot command runs
//! when the node's reboot-required marker is set or an installed target
//! suggested a reboot, as the very last step; the compliance is then
//! reported as it will be after the reboot. With [`RebootOption::NoReboot`]
//! (or when the reboot command fails) those packages are reported
//! `installed-pending-reboot`.

mod hooks;
mod override_list;
mod render;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use patchline_core::baseline::{Baseline, RejectedAction};
use patchline_core::compliance::{
    EvaluationInput, InstallTarget, NodeCompliance, UpdateVerdict, utc_day,
};
use patchline_core::package::PackageRef;
use serde::Serialize;

pub use hooks::{HookRun, Phase, run_hook, run_hook_cancellable};
pub use override_list::{OverrideListError, parse_override_list};
pub use render::render;

use crate::apt::InterruptedPackage;
use crate::driver::{
    self, CommandRecord, DriverError, DriverTimeouts, Repair, SpawnError, Target, TargetOutcome,
    TargetResult,
};
use crate::facts::read_facts;
use crate::root::NodeRoot;
use crate::scan::{ScanError, ScanOptions, read_inventory, scan};

/// Whether the agent may reboot the node after installing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RebootOption {
    /// Run the reboot command when the install leaves a reboot pending.
    #[default]
    RebootIfNeeded,
    /// Never reboot; report `installed-pending-reboot`.
    NoReboot,
}

/// Operator commands run around the install (`sh -c`).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub snapshot: Option<String>,
    pub pre_patch: Option<String>,
    pub post_patch: Option<String>,
    /// The reboot, run last; `None` on the live host means `shutdown -r +1`,
    /// on any other root that no reboot can be done (reported).
    pub reboot: Option<String>,
}

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// `None`: the node's family default.
    pub baseline: Option<Baseline>,
    pub now: Timestamp,
    /// Replaces the baseline's install targets.
    pub override_list: Option<Vec<Target>>,
    pub reboot: RebootOption,
    pub hooks: Hooks,
    /// Each hook's time limit.
    pub hook_timeout: Duration,
    /// Refresh repository metadata first, within this time.
    pub refresh: Option<Duration>,
    pub timeouts: DriverTimeouts,
}

impl Default for InstallOptions {
    fn default() -> InstallOptions {
        InstallOptions {
            baseline: None,
            now: Timestamp::now(),
            override_list: None,
            reboot: RebootOption::default(),
            hooks: Hooks::default(),
            hook_timeout: Duration::from_secs(600),
            refresh: None,
            timeouts: DriverTimeouts::default(),
        }
    }
}

/// Why the install could not run; nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("scan: {0}")]
    Scan(#[from] ScanError),
    #[error("refreshing repository metadata: {0}")]
    Refresh(DriverError),
    #[error("package manager: {0}")]
    Driver(#[from] DriverError),
    #[error("hook: {0}")]
    Hook(#[from] SpawnError),
}

/// Why the install stopped before installing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Abort {
    pub phase: Phase,
    pub reason: String,
}

/// What the reboot step decided and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "reboot")]
pub enum RebootOutcome {
    NotNeeded,
    /// Needed, and the reboot command succeeded.
    Rebooted,
    /// Needed but not done (`no-reboot`, no command, or the command failed).
    Pending {
        reason: String,
    },
}

/// One target's result, with what the evaluation knew of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PackageResult {
    #[serde(flatten)]
    pub result: TargetResult,
    pub reboot_suggested: bool,
}

/// The result of one install run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstallReport {
    pub root: String,
    pub baseline: String,
    pub driver: &'static str,
    pub refresh: Option<CommandRecord>,
    /// What an earlier, interrupted run had left mid-operation.
    pub interrupted: Vec<InterruptedPackage>,
    /// The repair of that interrupted run.
    pub repair: Option<Repair>,
    /// Set when the snapshot or pre-patch hook stopped the install.
    pub aborted: Option<Abort>,
    /// Stopped by a cancellation before the package manager's transaction
    /// started: nothing was installed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    pub hooks: Vec<HookRun>,
    /// Rejected (`block`) packages held during the install.
    pub held: Vec<String>,
    pub packages: Vec<PackageResult>,
    pub commands: Vec<CommandRecord>,
    /// Repairs run after failed install calls.
    pub repairs: Vec<Repair>,
    pub reboot: RebootOutcome,
    /// The node's compliance after the install.
    pub compliance: NodeCompliance<'static>,
}

impl InstallReport {
    /// Whether every target installed and no phase failed.
    pub fn succeeded(&self) -> bool {
        self.aborted.is_none()
            && !self.cancelled
            && self.hooks.iter().all(HookRun::succeeded)
            && self
                .packages
                .iter()
                .all(|p| !matches!(p.result.outcome, TargetOutcome::Failed { .. }))
            && self.repair.as_ref().is_none_or(Repair::succeeded)
    }
}

/// Runs the install flow on the node at `root`, with the package manager
/// of its OS family (see [`driver::for_node`]).
pub fn install(root: &NodeRoot, options: &InstallOptions) -> Result<InstallReport, InstallError> {
    install_cancellable(root, options, &AtomicBool::new(false))
}

/// [`install`], stopped when `cancel` is set before the package manager's
/// transaction starts (see the module documentation): the report then says
/// `cancelled` and nothing was installed. A request arriving once the
/// transaction runs is ignored.
pub fn install_cancellable(
    root: &NodeRoot,
    options: &InstallOptions,
    cancel: &AtomicBool,
) -> Result<InstallReport, InstallError> {
    let cancelled = || cancel.load(Ordering::SeqCst);
    let os = read_facts(root).map_err(ScanError::from)?.os;
    let driver = driver::for_node(root, &os, options.timeouts)?;
    let refresh = match options.refresh {
        Some(_) if cancelled() => None,
        Some(timeout) => Some(driver.refresh(timeout).map_err(InstallError::Refresh)?),
        None => None,
    };
    let scan_options = ScanOptions {
        baseline: options.baseline.clone(),
        now: options.now,
    };
    let mut before = scan(root, &scan_options)?;
    // The driver's view, not the scan's: the scan reads the status file,
    // while a killed run may have left its latest states only in the
    // package manager's journal.
    let interrupted = driver.interrupted()?;
    let repair = if interrupted.is_empty() {
        None
    } else {
        let repair = driver.repair()?;
        before = scan(root, &scan_options)?;
        Some(repair)
    };
    let baseline = options
        .baseline
        .clone()
        .unwrap_or_else(|| Baseline::default_for(before.facts.os.family));
    let inventory = read_inventory(root, &mut before.facts.clone())?;
    let (targets, skipped) = choose_targets(options, &before.compliance, &inventory.installed);
    let excluded = blocked_names(&baseline, &before.facts.os, &inventory.updates, options.now)?;

    let mut report = InstallReport {
        root: root.path().display().to_string(),
        baseline: baseline.name.clone(),
        driver: driver.name(),
        refresh,
        interrupted,
        repair,
        aborted: None,
        cancelled: false,
        hooks: Vec::new(),
        held: Vec::new(),
        packages: skipped,
        commands: Vec::new(),
        repairs: Vec::new(),
        reboot: RebootOutcome::NotNeeded,
        compliance: before.compliance.clone(),
    };
    let mut failed = Vec::new();
    if !targets.is_empty() {
        for (phase, script) in [
            (Phase::Snapshot, &options.hooks.snapshot),
            (Phase::PrePatch, &options.hooks.pre_patch),
        ] {
            let Some(script) = script else { continue };
            if cancelled() {
                break;
            }
            let run = run_hook_cancellable(phase, script, root, options.hook_timeout, cancel)?;
            let reason = (!run.succeeded()).then(|| run.record.failure_summary());
            report.hooks.push(run);
            if let Some(reason) = reason {
                report.cancelled = cancelled();
                report.aborted = Some(Abort { phase, reason });
                return Ok(report);
            }
        }
        // The last point of no harm: from here on the transaction runs to
        // its end whatever is asked.
        if cancelled() {
            report.cancelled = true;
            return Ok(report);
        }
        let plain: Vec<Target> = targets.iter().map(|(t, _)| t.clone()).collect();
        let outcome = driver.install_exact(&plain, &excluded)?;
        report.held = outcome.held;
        report.commands = outcome.commands;
        report.repairs = outcome.repairs;
        for (result, (_, reboot_suggested)) in outcome.results.into_iter().zip(&targets) {
            if matches!(result.outcome, TargetOutcome::Failed { .. }) {
                failed.push(PackageRef::named(result.target.name.clone()));
            }
            report.packages.push(PackageResult {
                result,
                reboot_suggested: *reboot_suggested,
            });
        }
        if let Some(script) = &options.hooks.post_patch {
            report.hooks.push(run_hook(
                Phase::PostPatch,
                script,
                root,
                options.hook_timeout,
            )?);
        }
    }

    let mut facts = read_facts(root).map_err(ScanError::from)?;
    let mut after = read_inventory(root, &mut facts)?;
    let suggested: Vec<&str> = report
        .packages
        .iter()
        .filter(|p| p.reboot_suggested && p.result.outcome == TargetOutcome::Installed)
        .map(|p| p.result.target.name.as_str())
        .collect();
    let needed = facts.reboot_required || !suggested.is_empty();
    let pending_marks: Vec<PackageRef> = facts
        .reboot_required_packages
        .iter()
        .map(String::as_str)
        .chain(suggested)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(PackageRef::named)
        .collect();
    keep_failed_at_previous_version(&mut after.installed, &inventory.installed, &report.packages);
    let evaluator = baseline.evaluator().map_err(ScanError::from)?;
    let evaluate = |pending_reboot: &[PackageRef]| -> Result<NodeCompliance<'static>, ScanError> {
        Ok(evaluator
            .evaluate(&EvaluationInput {
                os: &facts.os,
                installed: &after.installed,
                updates: &after.updates,
                failed: &failed,
                pending_reboot,
                today: utc_day(options.now),
            })?
            .into_owned())
    };
    let command = reboot_command(root, options);
    report.reboot = match (needed, options.reboot, command) {
        (false, _, _) => RebootOutcome::NotNeeded,
        (true, RebootOption::NoReboot, _) => RebootOutcome::Pending {
            reason: "no-reboot was asked".to_owned(),
        },
        (true, RebootOption::RebootIfNeeded, None) => RebootOutcome::Pending {
            reason: "no reboot command for a root other than /".to_owned(),
        },
        (true, RebootOption::RebootIfNeeded, Some(command)) => {
            // The compliance as it will be after the reboot, computed before
            // the reboot command runs: it is the last thing the agent does.
            report.compliance = evaluate(&[])?;
            let run = run_hook(Phase::Reboot, &command, root, options.hook_timeout)?;
            let succeeded = run.succeeded();
            let reason = run.record.failure_summary();
            report.hooks.push(run);
            if succeeded {
                report.reboot = RebootOutcome::Rebooted;
                return Ok(report);
            }
            RebootOutcome::Pending { reason }
        }
    };
    report.compliance = match report.reboot {
        RebootOutcome::Pending { .. } => evaluate(&pending_marks)?,
        RebootOutcome::NotNeeded | RebootOutcome::Rebooted => evaluate(&[])?,
    };
    Ok(report)
}

/// A target whose install failed half-way (unpacked or half-configured at
/// the new version) is not installed: it is evaluated at the version it
/// had before, so its failed mark makes it `failed` instead of `installed`.
fn keep_failed_at_previous_version(
    installed: &mut [patchline_core::package::InstalledPackage],
    before: &[patchline_core::package::InstalledPackage],
    results: &[PackageResult],
) {
    for result in results {
        if !matches!(result.result.outcome, TargetOutcome::Failed { .. }) {
            continue;
        }
        let target = &result.result.target;
        for package in installed.iter_mut().filter(|p| p.name == target.name) {
            let previous = before
                .iter()
                .find(|old| old.name == package.name && old.arch == package.arch);
            if let Some(previous) = previous.filter(|_| package.version == target.version) {
                package.version.clone_from(&previous.version);
            }
        }
    }
}

/// The targets to install (with their reboot suggestion) and the override
/// entries skipped because the package is not on the node.
fn choose_targets(
    options: &InstallOptions,
    compliance: &NodeCompliance<'_>,
    installed: &[patchline_core::package::InstalledPackage],
) -> (Vec<(Target, bool)>, Vec<PackageResult>) {
    let Some(overrides) = &options.override_list else {
        let targets = compliance
            .to_install
            .iter()
            .map(|t: &InstallTarget<'_>| {
                let target = Target {
                    name: t.name.to_string(),
                    arch: t.arch.to_string(),
                    version: t.version.to_string(),
                };
                (target, t.reboot_suggested)
            })
            .collect();
        return (targets, Vec::new());
    };
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for target in overrides {
        let on_node = installed
            .iter()
            .any(|p| p.name == target.name && (target.arch.is_empty() || p.arch == target.arch));
        if on_node {
            let reboot_suggested = compliance.to_install.iter().any(|t| {
                t.name == target.name && t.version == target.version && t.reboot_suggested
            });
            targets.push((target.clone(), reboot_suggested));
        } else {
            skipped.push(PackageResult {
                result: TargetResult {
                    target: target.clone(),
                    outcome: TargetOutcome::Skipped {
                        reason: "not installed on the node: the override list only updates installed packages".to_owned(),
                    },
                },
                reboot_suggested: false,
            });
        }
    }
    (targets, skipped)
}

/// Installed packages with a version the baseline rejects with `block`:
/// held during the install so no dependency resolution moves them.
fn blocked_names(
    baseline: &Baseline,
    os: &patchline_core::os::OsInfo,
    updates: &[patchline_core::package::Update],
    now: Timestamp,
) -> Result<Vec<String>, ScanError> {
    if baseline.rejected_patches.action != RejectedAction::Block {
        return Ok(Vec::new());
    }
    let evaluator = baseline.evaluator()?;
    let today = utc_day(now);
    let names: BTreeSet<String> = updates
        .iter()
        .filter(|update| evaluator.verdict(update, os, today) == UpdateVerdict::Rejected)
        .map(|update| update.name.clone())
        .collect();
    Ok(names.into_iter().collect())
}

/// The configured reboot command; on the live host `shutdown -r +1` by
/// default (a minute's delay, so the report still gets out); none for any
/// other root.
fn reboot_command(root: &NodeRoot, options: &InstallOptions) -> Option<String> {
    match (&options.hooks.reboot, root.is_live_host()) {
        (Some(command), _) => Some(command.clone()),
        (None, true) => Some("shutdown -r +1".to_owned()),
        (None, false) => None,
    }
}
