//! Operator hooks around an install: snapshot, pre-patch, post-patch and
//! reboot commands, each run with `sh -c` under a timeout, with
//! `PATCHLINE_ROOT` and `PATCHLINE_PHASE` telling it where and when it runs.
//! Their output is kept (bounded) for the report; the environment values
//! are never recorded.

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use crate::driver::command::{self, CommandRecord, SpawnError};
use crate::root::NodeRoot;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Before anything is installed; failure aborts the install.
    Snapshot,
    /// After the snapshot; failure aborts the install.
    PrePatch,
    /// After the install, whatever its outcome.
    PostPatch,
    /// The reboot, when the reboot option asks for one.
    Reboot,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Snapshot => "snapshot",
            Phase::PrePatch => "pre-patch",
            Phase::PostPatch => "post-patch",
            Phase::Reboot => "reboot",
        }
    }
}

/// One hook run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct HookRun {
    pub phase: Phase,
    pub record: CommandRecord,
}

impl HookRun {
    pub fn succeeded(&self) -> bool {
        self.record.succeeded()
    }
}

/// Runs `script` with `sh -c` for `phase` on `root`.
pub fn run_hook(
    phase: Phase,
    script: &str,
    root: &NodeRoot,
    timeout: Duration,
) -> Result<HookRun, SpawnError> {
    run_hook_cancellable(phase, script, root, timeout, &AtomicBool::new(false))
}

/// [`run_hook`], its process group stopped once `cancel` is set
/// ([`command::run_cancellable`]).
pub fn run_hook_cancellable(
    phase: Phase,
    script: &str,
    root: &NodeRoot,
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<HookRun, SpawnError> {
    let mut shell = Command::new("sh");
    shell
        .args(["-c", script])
        .env("PATCHLINE_ROOT", root.path())
        .env("PATCHLINE_PHASE", phase.as_str());
    Ok(HookRun {
        phase,
        record: command::run_cancellable(&mut shell, timeout, cancel)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_see_their_root_and_phase() {
        let run = run_hook(
            Phase::PrePatch,
            "echo \"$PATCHLINE_PHASE $PATCHLINE_ROOT\"",
            &NodeRoot::new("/srv/node"),
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(run.succeeded());
        assert_eq!(run.record.stdout, "pre-patch /srv/node\n");
        // The recorded command is the script, not the environment.
        assert_eq!(
            run.record.command,
            ["sh", "-c", "echo \"$PATCHLINE_PHASE $PATCHLINE_ROOT\""]
        );
    }

    #[test]
    fn a_hook_past_its_timeout_fails() {
        let run = run_hook(
            Phase::Snapshot,
            "sleep 300",
            &NodeRoot::new("/"),
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(!run.succeeded());
        assert!(run.record.timed_out);
    }
}
