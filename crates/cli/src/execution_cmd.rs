//! `patchline executions list|show|cancel`: the history of window runs and
//! Patch Now, per task and per node.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use patchline_api::executions::{ExecutionKind, ExecutionQuery, ExecutionView, InvocationView};
use patchline_core::orchestration::{ExecutionStatus, InvocationCounts, InvocationStatus};

use crate::output::{self, Cell, JsonArg, OutputArgs, Table, Tone};
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum ExecutionsCommand {
    /// Executions, newest first.
    List {
        /// Only this window's executions.
        #[arg(long)]
        window: Option<String>,
        /// At most this many (the server's default is 50).
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// An execution's tasks and, per node, each invocation.
    Show {
        id: String,
        /// Also print each invocation's output.
        #[arg(long)]
        output: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Cancel an execution: nothing new starts, queued work is withdrawn.
    Cancel {
        id: String,
        #[command(flatten)]
        json: JsonArg,
    },
}

pub async fn run(command: ExecutionsCommand) -> Result<ExitCode> {
    let session = Session::open()?;
    let client = &session.client;
    match command {
        ExecutionsCommand::List {
            window,
            limit,
            output,
        } => {
            let query = ExecutionQuery { window, limit };
            let executions =
                session.check(client.executions(&query).await, "cannot list executions")?;
            output::print(output.format(), &executions, || {
                executions_table(&executions)
            })?;
        }
        ExecutionsCommand::Show { id, output, json } => {
            let execution = session.check(
                client.execution(&id).await,
                format!("cannot read execution {id}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&execution)?);
            } else {
                out!("{}", execution_text(&execution, output));
            }
        }
        ExecutionsCommand::Cancel { id, json } => {
            let execution = session.check(
                client.cancel_execution(&id).await,
                format!("cannot cancel execution {id}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&execution)?);
            } else if execution.status.is_terminal() {
                outln!("Execution {}: {}", execution.id, execution.status);
            } else {
                // The scheduler ends it at its next round.
                outln!(
                    "Execution {}: cancelling (pending and queued invocations are cancelled; \
                     the agents running the others are asked to stop them)",
                    execution.id
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `window NAME` or `patch-now`.
pub fn origin(execution: &ExecutionView) -> String {
    match (&execution.kind, &execution.window) {
        (ExecutionKind::PatchNow, _) => "patch-now".to_string(),
        (ExecutionKind::Scheduled, Some(window)) => window.clone(),
        (ExecutionKind::Scheduled, None) => "-".to_string(),
    }
}

pub fn execution_status_cell(status: ExecutionStatus) -> Cell {
    let tone = match status {
        ExecutionStatus::Success => Tone::Good,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut => Tone::Bad,
        ExecutionStatus::Cancelled | ExecutionStatus::Skipped => Tone::Warn,
        ExecutionStatus::Pending | ExecutionStatus::InProgress => Tone::Plain,
    };
    Cell::toned(status.as_str(), tone)
}

/// The status of an invocation; one in progress that its agent was asked
/// to stop is marked `in-progress (stopping)`.
fn invocation_cell(invocation: &InvocationView) -> Cell {
    if invocation.status == InvocationStatus::InProgress && invocation.stop_requested_at.is_some() {
        return Cell::toned("in-progress (stopping)", Tone::Warn);
    }
    invocation_status_cell(invocation.status)
}

fn invocation_status_cell(status: InvocationStatus) -> Cell {
    let tone = if status.is_error() {
        Tone::Bad
    } else {
        match status {
            InvocationStatus::Success => Tone::Good,
            InvocationStatus::Cancelled
            | InvocationStatus::Skipped
            | InvocationStatus::NotStarted => Tone::Warn,
            _ => Tone::Plain,
        }
    };
    Cell::toned(status.as_str(), tone)
}

/// All tasks' invocation counts added up.
pub fn total_counts(execution: &ExecutionView) -> InvocationCounts {
    let mut total = InvocationCounts::default();
    for task in &execution.tasks {
        total += task.counts;
    }
    total
}

/// `2 success, 1 failed, 3 pending` (statuses with a count only).
pub fn counts_text(counts: &InvocationCounts) -> String {
    let parts: Vec<String> = InvocationStatus::ALL
        .into_iter()
        .filter(|status| counts.get(*status) > 0)
        .map(|status| format!("{} {status}", counts.get(status)))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

fn executions_table(executions: &[ExecutionView]) -> Table {
    let mut table = Table::new([
        "id",
        "window",
        "status",
        "scheduled for",
        "started",
        "finished",
        "tasks",
        "invocations",
    ])
    .right_align([6]);
    for execution in executions {
        table.row([
            execution.id.as_str().into(),
            origin(execution).into(),
            execution_status_cell(execution.status),
            output::timestamp(execution.scheduled_for).into(),
            output::optional_timestamp(execution.started_at).into(),
            output::optional_timestamp(execution.finished_at).into(),
            execution.tasks.len().into(),
            counts_text(&total_counts(execution)).into(),
        ]);
    }
    table
}

/// The execution's header, one block per task (its resolved limits,
/// counts and a table of invocations) and, with `outputs`, each
/// invocation's output.
pub fn execution_text(execution: &ExecutionView, outputs: bool) -> String {
    let mut text = format!(
        "Execution {} ({}): {}\n\
         Scheduled for {}, last task start {}, window end {}\n\
         Started {}, finished {}; requested by {}\n",
        execution.id,
        origin(execution),
        execution.status,
        output::timestamp(execution.scheduled_for),
        output::timestamp(execution.last_task_start),
        output::timestamp(execution.window_end),
        output::optional_timestamp(execution.started_at),
        output::optional_timestamp(execution.finished_at),
        execution.requested_by,
    );
    if let Some(detail) = &execution.detail {
        text.push_str(&format!("Detail: {detail}\n"));
    }
    let styled = output::stdout_styled();
    for task in &execution.tasks {
        text.push_str(&format!(
            "\nTask {} (priority {}): {}, max concurrency {}, max errors {}\n  {}\n",
            task.task,
            task.priority,
            task.status,
            task.max_concurrency,
            task.max_errors,
            counts_text(&task.counts)
        ));
        if let Some(detail) = &task.detail {
            text.push_str(&format!("  Detail: {detail}\n"));
        }
        if task.invocations.is_empty() {
            continue;
        }
        let mut table = Table::new([
            "node", "hostname", "zone", "status", "started", "finished", "detail",
        ]);
        for invocation in &task.invocations {
            table.row([
                invocation.node_id.as_str().into(),
                invocation.hostname.as_str().into(),
                invocation.zone.clone().unwrap_or_default().into(),
                invocation_cell(invocation),
                output::optional_timestamp(invocation.started_at).into(),
                output::optional_timestamp(invocation.finished_at).into(),
                invocation.detail.clone().unwrap_or_default().into(),
            ]);
        }
        text.push_str(&table.render_human(styled));
    }
    if outputs {
        for task in &execution.tasks {
            for invocation in &task.invocations {
                text.push_str(&format!(
                    "\n=== {} on {} ({}): {}\n",
                    task.task, invocation.hostname, invocation.node_id, invocation.status
                ));
                if invocation.output.is_empty() {
                    text.push_str("(no output)\n");
                } else {
                    text.push_str(&invocation.output);
                    if !invocation.output.ends_with('\n') {
                        text.push('\n');
                    }
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_api::executions::TaskExecutionView;

    fn sample() -> ExecutionView {
        let at: jiff::Timestamp = "2026-11-29T02:00:00Z".parse().unwrap();
        let invocation = |node: &str, status: InvocationStatus, output: &str| InvocationView {
            node_id: node.into(),
            hostname: format!("{node}.example"),
            zone: Some("a".into()),
            status,
            output: output.into(),
            detail: None,
            started_at: Some(at),
            finished_at: None,
            stop_requested_at: None,
        };
        ExecutionView {
            id: "ex-1".into(),
            kind: ExecutionKind::Scheduled,
            window: Some("prod-zone-a".into()),
            status: ExecutionStatus::InProgress,
            scheduled_for: at,
            last_task_start: at,
            window_end: at,
            started_at: Some(at),
            finished_at: None,
            detail: None,
            requested_by: "scheduler".into(),
            tasks: vec![TaskExecutionView {
                task: "install".into(),
                priority: 1,
                status: ExecutionStatus::InProgress,
                max_concurrency: 2,
                max_errors: 1,
                counts: InvocationCounts::from_statuses([
                    InvocationStatus::Success,
                    InvocationStatus::InProgress,
                    InvocationStatus::Pending,
                    InvocationStatus::Pending,
                ]),
                started_at: Some(at),
                finished_at: None,
                detail: None,
                invocations: vec![
                    invocation("n1", InvocationStatus::Success, "installed openssl"),
                    invocation("n2", InvocationStatus::InProgress, ""),
                ],
            }],
        }
    }

    #[test]
    fn an_in_progress_invocation_asked_to_stop_is_marked() {
        let mut execution = sample();
        let text = execution_text(&execution, false);
        assert!(!text.contains("stopping"), "{text}");
        execution.tasks[0].invocations[1].detail =
            Some("stop requested: cancelled by user:admin".into());
        let text = execution_text(&execution, false);
        assert!(!text.contains("(stopping)"), "a detail alone: {text}");
        execution.tasks[0].invocations[1].stop_requested_at =
            Some("2026-11-29T02:30:00Z".parse().unwrap());
        let text = execution_text(&execution, false);
        assert!(text.contains("in-progress (stopping)"), "{text}");
        assert!(
            text.contains("stop requested: cancelled by user:admin"),
            "{text}"
        );
    }

    #[test]
    fn counts_name_only_the_statuses_present() {
        let execution = sample();
        assert_eq!(
            counts_text(&total_counts(&execution)),
            "2 pending, 1 in-progress, 1 success"
        );
        assert_eq!(counts_text(&InvocationCounts::default()), "none");
    }

    #[test]
    fn the_text_shows_tasks_invocations_and_outputs_on_request() {
        let execution = sample();
        let text = execution_text(&execution, false);
        assert!(
            text.starts_with("Execution ex-1 (prod-zone-a): in-progress\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Task install (priority 1): in-progress, max concurrency 2, max errors 1"
            ),
            "{text}"
        );
        assert!(text.contains("n1.example"), "{text}");
        assert!(!text.contains("installed openssl"), "{text}");
        let text = execution_text(&execution, true);
        assert!(
            text.contains("=== install on n1.example (n1): success\ninstalled openssl\n"),
            "{text}"
        );
        assert!(text.contains("(no output)"), "{text}");
    }
}
