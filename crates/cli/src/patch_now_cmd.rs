//! `patchline patch-now`: install on chosen nodes right away, the snapshot
//! step first unless waived with a reason, and optionally wait for the end
//! with a progress bar.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use patchline_api::executions::{ExecutionView, PatchNowRequest};
use patchline_api::windows::Reboot;
use patchline_core::orchestration::{ExecutionStatus, Limit};

use crate::execution_cmd::{counts_text, execution_text, total_counts};
use crate::output::JsonArg;
use crate::session::Session;

/// How often `--wait` asks the server (agents check in every few seconds
/// while they have work, so polling faster shows nothing new).
const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct PatchNowArgs {
    /// A node id (repeat for several).
    #[arg(long = "node", value_name = "ID", required = true)]
    nodes: Vec<String>,
    /// The baseline to install (default: each OS family's emergency
    /// baseline, every available update approved now).
    #[arg(long)]
    baseline: Option<String>,
    /// Never reboot, even when an update asks for it.
    #[arg(long)]
    no_reboot: bool,
    /// The snapshot/backup command run first on each node (default: the
    /// agent's configured snapshot hook).
    #[arg(long, value_name = "CMD", conflicts_with = "waive_snapshot")]
    snapshot_command: Option<String>,
    /// Skip the snapshot step, for this reason (audited).
    #[arg(long, value_name = "REASON")]
    waive_snapshot: Option<String>,
    /// Installs at the same time: a number or a percentage (server default 10%).
    #[arg(long, value_name = "N|N%")]
    max_concurrency: Option<Limit>,
    /// Failed installs tolerated before the rest are not started (server default 0).
    #[arg(long, value_name = "N|N%")]
    max_errors: Option<Limit>,
    /// Wait for the execution to end, with a progress bar; exit 1 unless it
    /// succeeded.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    json: JsonArg,
}

impl PatchNowArgs {
    fn request(&self) -> Result<PatchNowRequest> {
        if let Some(reason) = &self.waive_snapshot
            && reason.trim().is_empty()
        {
            bail!(
                "--waive-snapshot needs a reason, e.g. --waive-snapshot \"disks are replicated\""
            );
        }
        if let Some(limit) = self.max_concurrency {
            limit.check_concurrency()?;
        }
        Ok(PatchNowRequest {
            nodes: self.nodes.clone(),
            baseline: self.baseline.clone(),
            reboot: if self.no_reboot {
                Reboot::NoReboot
            } else {
                Reboot::RebootIfNeeded
            },
            snapshot_command: self.snapshot_command.clone(),
            waive_snapshot: self.waive_snapshot.clone(),
            max_concurrency: self.max_concurrency.map(|limit| limit.to_string()),
            max_errors: self.max_errors.map(|limit| limit.to_string()),
        })
    }
}

/// What will happen, in the operator's words, before it happens.
fn intent(request: &PatchNowRequest) -> String {
    let baseline = match &request.baseline {
        Some(name) => format!("baseline {name}"),
        None => "the emergency baseline (every available update)".to_string(),
    };
    let snapshot = match (&request.waive_snapshot, &request.snapshot_command) {
        (Some(reason), _) => format!("snapshot step WAIVED ({reason})"),
        (None, Some(command)) => format!("the snapshot step runs first: {command}"),
        (None, None) => "the snapshot step runs first (the agent's snapshot hook)".to_string(),
    };
    let reboot = match request.reboot {
        Reboot::NoReboot => "no reboot",
        Reboot::RebootIfNeeded => "reboot if needed",
    };
    format!(
        "Patch Now on {} node(s) with {baseline}, {reboot}; {snapshot}.",
        request.nodes.len()
    )
}

pub async fn run(args: PatchNowArgs) -> Result<ExitCode> {
    let request = args.request()?;
    let session = Session::open()?;
    if !args.json.json {
        outln!("{}", intent(&request));
    }
    let execution = session.check(
        session.client.patch_now(&request).await,
        "cannot start Patch Now",
    )?;
    if !args.wait {
        if args.json.json {
            outln!("{}", serde_json::to_string_pretty(&execution)?);
        } else {
            outln!(
                "Execution {}: {} (follow it with `patchline executions show {}`)",
                execution.id,
                execution.status,
                execution.id
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json.json {
        outln!("Execution {}: waiting for it to end.", execution.id);
    }
    let finished = wait_for_end(&session, execution).await?;
    if args.json.json {
        outln!("{}", serde_json::to_string_pretty(&finished)?);
    } else {
        out!("{}", execution_text(&finished, false));
    }
    Ok(if finished.status == ExecutionStatus::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Polls the execution until its status is terminal; the bar (on stderr,
/// hidden when stderr is not a terminal) counts finished invocations.
async fn wait_for_end(session: &Session, mut execution: ExecutionView) -> Result<ExecutionView> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    loop {
        let counts = total_counts(&execution);
        bar.set_length(counts.total() as u64);
        bar.set_position(counts.finished() as u64);
        bar.set_message(format!("{}: {}", execution.status, counts_text(&counts)));
        if execution.status.is_terminal() {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        execution = session.check(
            session.client.execution(&execution.id).await,
            format!("cannot read execution {}", execution.id),
        )?;
    }
    bar.finish_and_clear();
    Ok(execution)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> PatchNowArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: PatchNowArgs,
        }
        let argv = ["patch-now", "--node", "n1", "--node", "n2"]
            .into_iter()
            .chain(extra.iter().copied());
        Wrapper::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn the_snapshot_step_is_announced_unless_waived() {
        let request = args(&[]).request().unwrap();
        assert_eq!(request.nodes, ["n1", "n2"]);
        let text = intent(&request);
        assert!(
            text.contains("2 node(s)") && text.contains("snapshot step runs first"),
            "{text}"
        );
        let request = args(&["--waive-snapshot", "replicated", "--no-reboot"])
            .request()
            .unwrap();
        assert_eq!(request.reboot, Reboot::NoReboot);
        assert!(intent(&request).contains("WAIVED (replicated)"));
        assert!(
            args(&["--waive-snapshot", "  "])
                .request()
                .unwrap_err()
                .to_string()
                .contains("reason")
        );
    }

    #[test]
    fn limits_are_checked_and_sent_as_text() {
        let request = args(&["--max-concurrency", "25%", "--max-errors", "1"])
            .request()
            .unwrap();
        assert_eq!(request.max_concurrency.as_deref(), Some("25%"));
        assert_eq!(request.max_errors.as_deref(), Some("1"));
        assert!(args(&["--max-concurrency", "0"]).request().is_err());
    }
}
