//! Running one work item the server handed out and turning it into the
//! [`WorkResult`] the next check-in reports (exactly-once bookkeeping is
//! [`crate::checkin::runner`]'s).
//!
//! - `Scan`: a fresh scan now (the next check-in, which follows at once);
//!   with `refresh` the package manager refreshes repository metadata first.
//! - `Install`: the install flow ([`crate::install::install`]) with the
//!   server's baseline evaluated at the server's instant, the agent's own
//!   pre-patch, post-patch and reboot hooks, and the work's time limit for
//!   each package-manager call and hook. The snapshot hook is *not* run
//!   here: snapshots are their own work item, which the server orders first
//!   (and which an operator may waive).
//! - `Command`: `sh -c COMMAND` in `/` with `PATCHLINE_ROOT` set, its
//!   process group killed at the time limit; only for an agent started with
//!   `--allow-commands`.
//! - `Snapshot`: the work's command (which, coming from the server, needs
//!   `--allow-commands` too) or else the agent's `--snapshot-hook`.
//!
//! Cancellation ([`execute_cancellable`], the server asked that the work
//! stop): a `Command` or `Snapshot` has its process group killed and
//! reports `cancelled` with "cancelled by the server" and what it printed;
//! an `Install` stops only before its package manager starts (during its
//! pre-patch hook at the latest), never inside the package transaction; a
//! request arriving later is ignored and the install reports normally. A
//! `Scan` is short and harmless: it runs to its end.
//!
//! A scan-only agent refuses everything but `Scan`. Commands and their
//! environment are never logged nor echoed in the output: they may carry
//! secrets.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use patchline_api::checkin::{Work, WorkResult, WorkStatus};
use patchline_api::windows::Reboot;
use patchline_core::baseline::Baseline;
use patchline_core::package::PackageRef;

use crate::checkin::config::AgentConfig;
use crate::checkin::journal::tail;
use crate::driver::{self, CommandRecord, DriverError, DriverTimeouts, TargetOutcome};
use crate::facts::read_facts;
use crate::install::{
    self, Hooks, InstallOptions, InstallReport, Phase, RebootOption, run_hook_cancellable,
};
use crate::root::NodeRoot;

/// Output reported to the server is bounded to its last 64 KiB.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// The refusal of a scan-only agent.
pub const SCAN_ONLY_REFUSAL: &str = "refused: this agent runs scan-only (--scan-only); it runs no install, command or snapshot work";

/// What the agent allows and brings to the work it runs.
#[derive(Debug, Clone)]
pub struct WorkSettings {
    /// Refuse everything but scans.
    pub scan_only: bool,
    /// Run `command` work (and snapshot work carrying its own command).
    pub allow_commands: bool,
    /// The operator's hooks (`--snapshot-hook`, `--pre-patch-hook`...).
    pub hooks: Hooks,
    /// Time limit of a metadata refresh (scan work, and before an install).
    pub refresh_timeout: Duration,
}

impl Default for WorkSettings {
    fn default() -> WorkSettings {
        WorkSettings {
            scan_only: false,
            allow_commands: false,
            hooks: Hooks::default(),
            refresh_timeout: Duration::from_secs(600),
        }
    }
}

impl WorkSettings {
    pub fn from_config(config: &AgentConfig) -> WorkSettings {
        WorkSettings {
            scan_only: config.scan_only,
            allow_commands: config.allow_commands,
            hooks: config.hooks.clone(),
            refresh_timeout: config.refresh_timeout,
        }
    }
}

/// One work item run.
#[derive(Debug, Clone)]
pub struct WorkRun {
    pub result: WorkResult,
    /// For install work that ran: the packages it failed to install (at
    /// the version it tried), for the inventory's `failed` marks.
    pub install_failures: Option<Vec<PackageRef>>,
}

/// Runs one work item (blocking: it may run the package manager).
pub fn run_work(root: &NodeRoot, work: &Work, settings: &WorkSettings) -> WorkResult {
    execute(root, work, settings).result
}

/// [`run_work`], with what an install left to remember.
pub fn execute(root: &NodeRoot, work: &Work, settings: &WorkSettings) -> WorkRun {
    execute_cancellable(root, work, settings, &CancelRequest::default())
}

/// [`execute`], stopped as the module documentation says once `cancel` is
/// requested.
pub fn execute_cancellable(
    root: &NodeRoot,
    work: &Work,
    settings: &WorkSettings,
    cancel: &CancelRequest,
) -> WorkRun {
    let started_at = Timestamp::now();
    let mut install_failures = None;
    let (status, output) = match work {
        Work::Scan { refresh: false, .. } => (
            WorkStatus::Success,
            "rescan requested: this check-in carries a fresh scan".to_owned(),
        ),
        Work::Scan { refresh: true, .. } => refresh_metadata(root, settings.refresh_timeout),
        _ if settings.scan_only => (WorkStatus::Failed, SCAN_ONLY_REFUSAL.to_owned()),
        Work::Install {
            baseline,
            evaluate_at,
            reboot,
            timeout_seconds,
            ..
        } => {
            let request = InstallRequest {
                baseline,
                evaluate_at: *evaluate_at,
                reboot: *reboot,
                timeout: seconds(*timeout_seconds),
            };
            let (status, output, failures) = install_work(root, &request, settings, cancel);
            install_failures = failures;
            (status, output)
        }
        Work::Command {
            command,
            timeout_seconds,
            ..
        } => command_work(root, command, seconds(*timeout_seconds), settings, cancel),
        Work::Snapshot {
            command,
            timeout_seconds,
            ..
        } => snapshot_work(
            root,
            command.as_deref(),
            seconds(*timeout_seconds),
            settings,
            cancel,
        ),
    };
    WorkRun {
        result: WorkResult {
            id: work.id().to_owned(),
            status,
            output: tail(&output, OUTPUT_LIMIT).to_owned(),
            started_at,
            finished_at: Timestamp::now(),
        },
        install_failures,
    }
}

/// The server's request that a running work item stop: set by the
/// watcher that long-polls the server ([`crate::checkin::cancel_watch`]),
/// read by the work.
#[derive(Debug, Default)]
pub struct CancelRequest {
    requested: AtomicBool,
    reason: Mutex<String>,
}

impl CancelRequest {
    /// Records the request (the reason first, so whoever sees the flag
    /// finds it).
    pub fn request(&self, reason: &str) {
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = reason.to_owned();
        self.requested.store(true, Ordering::SeqCst);
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// The flag the process runners poll.
    pub fn flag(&self) -> &AtomicBool {
        &self.requested
    }

    /// The first line of the output of work the server stopped.
    fn note(&self) -> String {
        let reason = self
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let reason = if reason.trim().is_empty() {
            "no reason given".to_owned()
        } else {
            reason
        };
        format!("cancelled by the server: {reason}\n")
    }
}

/// A zero limit would fail everything at once; one second is the least.
fn seconds(timeout_seconds: u32) -> Duration {
    Duration::from_secs(u64::from(timeout_seconds.max(1)))
}

fn refresh_metadata(root: &NodeRoot, timeout: Duration) -> (WorkStatus, String) {
    let facts = match read_facts(root) {
        Ok(facts) => facts,
        Err(error) => return (WorkStatus::Failed, format!("reading facts: {error}")),
    };
    let refreshed = driver::for_node(root, &facts.os, DriverTimeouts::default())
        .and_then(|driver| driver.refresh(timeout));
    match refreshed {
        Ok(record) => (WorkStatus::Success, command_output(&record)),
        Err(DriverError::Failed(record)) if record.timed_out => {
            (WorkStatus::TimedOut, command_output(&record))
        }
        Err(DriverError::Failed(record)) => (
            WorkStatus::Failed,
            format!("{}\n{}", record.failure_summary(), command_output(&record)),
        ),
        Err(error) => (WorkStatus::Failed, error.to_string()),
    }
}

struct InstallRequest<'a> {
    baseline: &'a Baseline,
    evaluate_at: Timestamp,
    reboot: Reboot,
    timeout: Duration,
}

fn install_work(
    root: &NodeRoot,
    request: &InstallRequest<'_>,
    settings: &WorkSettings,
    cancel: &CancelRequest,
) -> (WorkStatus, String, Option<Vec<PackageRef>>) {
    let short = DriverTimeouts::default().short.min(request.timeout);
    let options = InstallOptions {
        baseline: Some(request.baseline.clone()),
        now: request.evaluate_at,
        override_list: None,
        reboot: match request.reboot {
            Reboot::RebootIfNeeded => RebootOption::RebootIfNeeded,
            Reboot::NoReboot => RebootOption::NoReboot,
        },
        hooks: Hooks {
            snapshot: None,
            ..settings.hooks.clone()
        },
        hook_timeout: request.timeout,
        // The node's lists may be days old: install what the repositories
        // offer now, as the baseline approves it at the server's instant.
        refresh: Some(settings.refresh_timeout.min(request.timeout)),
        timeouts: DriverTimeouts {
            install: request.timeout,
            short,
        },
    };
    match install::install_cancellable(root, &options, cancel.flag()) {
        Ok(report) if report.cancelled => {
            let output = format!("{}{}", cancel.note(), install::render(&report));
            (WorkStatus::Cancelled, output, None)
        }
        Ok(report) => {
            let status = if report.succeeded() {
                WorkStatus::Success
            } else if timed_out(&report) {
                WorkStatus::TimedOut
            } else {
                WorkStatus::Failed
            };
            let mut output = install::render(&report);
            let failures = failed_packages(&report);
            if !failures.is_empty() {
                let names: BTreeSet<&str> = failures.iter().map(|p| p.name.as_str()).collect();
                let names: Vec<&str> = names.into_iter().collect();
                output.push_str(&format!("\nfailed: {}\n", names.join(", ")));
            }
            (status, output, Some(failures))
        }
        Err(error) => (WorkStatus::Failed, format!("install failed: {error}"), None),
    }
}

/// A failing install whose failure came from a time limit.
fn timed_out(report: &InstallReport) -> bool {
    report.commands.iter().any(|c| c.timed_out)
        || report.hooks.iter().any(|h| h.record.timed_out)
        || report.repairs.iter().any(|r| r.command.timed_out)
}

fn failed_packages(report: &InstallReport) -> Vec<PackageRef> {
    report
        .packages
        .iter()
        .filter(|p| matches!(p.result.outcome, TargetOutcome::Failed { .. }))
        .map(|p| {
            let target = &p.result.target;
            PackageRef {
                name: target.name.clone(),
                arch: Some(target.arch.clone()).filter(|arch| !arch.is_empty()),
                version: Some(target.version.clone()),
            }
        })
        .collect()
}

fn command_work(
    root: &NodeRoot,
    command: &str,
    timeout: Duration,
    settings: &WorkSettings,
    cancel: &CancelRequest,
) -> (WorkStatus, String) {
    if !settings.allow_commands {
        return (
            WorkStatus::Failed,
            "refused: this agent was started without --allow-commands, so it runs no \
             command work"
                .to_owned(),
        );
    }
    let mut shell = std::process::Command::new("sh");
    shell
        .args(["-c", command])
        .env("PATCHLINE_ROOT", root.path())
        .current_dir("/");
    match driver::command::run_cancellable(&mut shell, timeout, cancel.flag()) {
        Ok(record) => shell_result(&record, timeout, cancel),
        Err(error) => (WorkStatus::Failed, error.to_string()),
    }
}

fn snapshot_work(
    root: &NodeRoot,
    command: Option<&str>,
    timeout: Duration,
    settings: &WorkSettings,
    cancel: &CancelRequest,
) -> (WorkStatus, String) {
    let script = match (command, &settings.hooks.snapshot) {
        (Some(_), _) if !settings.allow_commands => {
            return (
                WorkStatus::Failed,
                "refused: the snapshot task gives its own command and this agent was \
                 started without --allow-commands (a --snapshot-hook of the agent runs \
                 without it)"
                    .to_owned(),
            );
        }
        (Some(command), _) => command,
        (None, Some(hook)) => hook.as_str(),
        (None, None) => {
            return (
                WorkStatus::Failed,
                "no snapshot command: the task gives none and this agent was started \
                 without --snapshot-hook"
                    .to_owned(),
            );
        }
    };
    match run_hook_cancellable(Phase::Snapshot, script, root, timeout, cancel.flag()) {
        Ok(run) => shell_result(&run.record, timeout, cancel),
        Err(error) => (WorkStatus::Failed, error.to_string()),
    }
}

/// The status and output of a `sh -c` run; a cancelled one says who
/// stopped it, then what it printed.
fn shell_result(
    record: &CommandRecord,
    timeout: Duration,
    cancel: &CancelRequest,
) -> (WorkStatus, String) {
    if record.cancelled {
        let output = format!("{}{}", cancel.note(), shell_output(record, timeout));
        return (WorkStatus::Cancelled, output);
    }
    (record_status(record), shell_output(record, timeout))
}

fn record_status(record: &CommandRecord) -> WorkStatus {
    if record.timed_out {
        WorkStatus::TimedOut
    } else if record.succeeded() {
        WorkStatus::Success
    } else {
        WorkStatus::Failed
    }
}

/// The shell's output and how it ended, without the command line (it may
/// carry secrets, and the server has it anyway).
fn shell_output(record: &CommandRecord, timeout: Duration) -> String {
    let ending = match (record.timed_out, record.exit_code) {
        (true, _) => format!(
            "timed out after {} s: the process group was killed",
            timeout.as_secs()
        ),
        _ if record.cancelled => "cancelled: the process group was killed".to_owned(),
        (false, Some(code)) => format!("exit code {code}"),
        (false, None) => "killed by a signal".to_owned(),
    };
    let mut output = format!("{}{}", record.stdout, record.stderr);
    if !output.is_empty() && !output.ends_with('\n') {
        output.push('\n');
    }
    output.push_str(&ending);
    output
}

fn command_output(record: &CommandRecord) -> String {
    format!(
        "$ {}\n{}{}",
        record.command.join(" "),
        record.stdout,
        record.stderr
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WorkSettings {
        WorkSettings {
            allow_commands: true,
            ..WorkSettings::default()
        }
    }

    fn command(id: &str, command: &str, timeout_seconds: u32) -> Work {
        Work::Command {
            id: id.into(),
            command: command.into(),
            timeout_seconds,
        }
    }

    #[test]
    fn a_plain_rescan_succeeds_without_touching_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let work = Work::Scan {
            id: "w1".into(),
            refresh: false,
        };
        let result = run_work(&NodeRoot::new(dir.path()), &work, &settings());
        assert_eq!(
            (result.id.as_str(), result.status),
            ("w1", WorkStatus::Success)
        );
        assert!(result.finished_at >= result.started_at);
    }

    #[test]
    fn a_refresh_on_an_unreadable_root_fails_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let work = Work::Scan {
            id: "w2".into(),
            refresh: true,
        };
        let result = run_work(&NodeRoot::new(dir.path()), &work, &settings());
        assert_eq!(result.status, WorkStatus::Failed);
        assert!(result.output.contains("os-release"), "{}", result.output);
    }

    #[test]
    fn a_command_runs_in_slash_with_the_root_and_its_exit_code_reported() {
        let root = NodeRoot::new("/srv/node");
        let ok = run_work(
            &root,
            &command("c1", "pwd; echo \"$PATCHLINE_ROOT\"", 30),
            &settings(),
        );
        assert_eq!(ok.status, WorkStatus::Success, "{}", ok.output);
        assert_eq!(ok.output, "/\n/srv/node\nexit code 0");
        let failed = run_work(
            &root,
            &command("c2", "echo no >&2; exit 3", 30),
            &settings(),
        );
        assert_eq!(failed.status, WorkStatus::Failed);
        assert_eq!(failed.output, "no\nexit code 3");
    }

    #[test]
    fn the_command_text_is_not_echoed() {
        let result = run_work(
            &NodeRoot::new("/"),
            &command("c3", "true # token=s3cret", 30),
            &settings(),
        );
        assert_eq!(result.status, WorkStatus::Success);
        assert!(!result.output.contains("s3cret"), "{}", result.output);
    }

    #[test]
    fn scan_only_refuses_all_but_scans() {
        let scan_only = WorkSettings {
            scan_only: true,
            ..settings()
        };
        let snapshot = Work::Snapshot {
            id: "s".into(),
            command: None,
            timeout_seconds: 5,
        };
        for work in [command("c", "true", 5), snapshot] {
            let result = run_work(&NodeRoot::new("/"), &work, &scan_only);
            assert_eq!(result.status, WorkStatus::Failed);
            assert!(result.output.contains("this agent runs scan-only"));
        }
    }
}
