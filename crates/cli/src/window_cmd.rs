//! `patchline window list|show|delete|plan`: the maintenance windows stored
//! on the server (change them with `apply`), and the planner, on the server
//! for a stored window or offline for a fleet size.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use patchline_api::windows::{CutoffBehavior, WindowPlan, WindowSpec, WindowView};
use patchline_core::orchestration::{self, PlanCheck};

use crate::apply::plan::yaml_document;
use crate::output::{self, JsonArg, OutputArgs, Table, Tone};
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum WindowCommand {
    /// Every window: schedule, duration, targets, next opening, owner.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A window as `apply` YAML, with its next openings and target count.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Delete a window (its execution history is kept).
    Delete { name: String },
    /// The planner's check of a stored window (exit code 1 when it finds a
    /// problem), or, with --nodes, the recommendation for a fleet size
    /// without a server.
    Plan {
        /// A stored window.
        #[arg(required_unless_present = "nodes", conflicts_with = "nodes")]
        name: Option<String>,
        /// Offline: the number of nodes a window would target.
        #[arg(long)]
        nodes: Option<usize>,
        /// Offline: a proposed duration in hours (default: the recommended one).
        #[arg(long, requires = "nodes", conflicts_with = "name")]
        duration: Option<u8>,
        /// Offline: a proposed cutoff in hours (default: the recommended one).
        #[arg(long, requires = "nodes", conflicts_with = "name")]
        cutoff: Option<u8>,
        #[command(flatten)]
        json: JsonArg,
    },
}

pub async fn run(command: WindowCommand) -> Result<ExitCode> {
    match command {
        WindowCommand::Plan {
            nodes: Some(nodes),
            duration,
            cutoff,
            json,
            ..
        } => offline_plan(nodes, duration, cutoff, json.json),
        WindowCommand::Plan {
            name: Some(name),
            json,
            ..
        } => server_plan(&name, json.json).await,
        WindowCommand::Plan { .. } => {
            anyhow::bail!("give a window name, or --nodes for an offline recommendation")
        }
        WindowCommand::List { output } => {
            let session = Session::open()?;
            let views = session.check(session.client.windows().await, "cannot list windows")?;
            output::print(output.format(), &views, || windows_table(&views))?;
            Ok(ExitCode::SUCCESS)
        }
        WindowCommand::Show { name, json } => {
            let session = Session::open()?;
            let view = session.check(
                session.client.window(&name).await,
                format!("cannot read window {name}"),
            )?;
            if json.json {
                outln!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                out!("{}", window_text(&view));
            }
            Ok(ExitCode::SUCCESS)
        }
        WindowCommand::Delete { name } => {
            let session = Session::open()?;
            session.check(
                session.client.delete_window(&name).await,
                format!("cannot delete window {name}"),
            )?;
            outln!("Deleted window {name}.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn windows_table(views: &[WindowView]) -> Table {
    let mut table = Table::new([
        "name",
        "schedule",
        "duration",
        "enabled",
        "targets",
        "next opening",
        "owner",
    ])
    .right_align([4]);
    for view in views {
        let window = &view.window;
        table.row([
            window.name.as_str().into(),
            schedule_text(window).into(),
            format!(
                "{} h, cutoff {} h",
                window.duration_hours, window.cutoff_hours
            )
            .into(),
            if window.enabled {
                output::Cell::toned("yes", Tone::Good)
            } else {
                output::Cell::toned("no", Tone::Warn)
            },
            view.target_count.into(),
            output::optional_timestamp(view.next_openings.first().copied()).into(),
            window
                .owner
                .as_ref()
                .map(|scope| format!("{}={}", scope.key, scope.value))
                .unwrap_or_default()
                .into(),
        ]);
    }
    table
}

/// `cron(0 0 2 ? * SUN) Europe/Paris +6d`.
fn schedule_text(window: &WindowSpec) -> String {
    let mut text = format!("{} {}", window.schedule, window.time_zone);
    if window.offset_days > 0 {
        text.push_str(&format!(" +{}d", window.offset_days));
    }
    text
}

/// The window as `apply` YAML under comment lines, so the text can be
/// saved and applied again.
fn window_text(view: &WindowView) -> String {
    let mut text = format!(
        "# version {}, updated {} by {}\n# targets now: {} node(s)\n",
        view.version,
        output::timestamp(view.updated_at),
        view.updated_by,
        view.target_count
    );
    text.push_str(&format!(
        "# cutoff behaviour: {} (tasks still running {} h before the end {})\n",
        view.window.cutoff_behavior.as_str(),
        view.window.cutoff_hours,
        match view.window.cutoff_behavior {
            CutoffBehavior::ContinueTask => "continue",
            CutoffBehavior::CancelTask => "are cancelled",
        }
    ));
    if view.next_openings.is_empty() {
        text.push_str("# next openings: none\n");
    } else {
        text.push_str("# next openings:\n");
        for opening in &view.next_openings {
            text.push_str(&format!("#   {}\n", output::timestamp(*opening)));
        }
    }
    text.push_str(&yaml_document("Window", &view.window));
    text
}

async fn server_plan(name: &str, json: bool) -> Result<ExitCode> {
    let session = Session::open()?;
    let plan = session.check(
        session.client.window_plan(name).await,
        format!("cannot plan window {name}"),
    )?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        out!("{}", plan_text(&plan));
    }
    Ok(problems_exit_code(plan.problems.is_empty()))
}

/// Scripts gate on the plan: 1 when it has problems.
fn problems_exit_code(fits: bool) -> ExitCode {
    if fits {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn plan_text(plan: &WindowPlan) -> String {
    let mut text = format!(
        "Window {}: {} target(s), {} h with a {} h cutoff\n\
         Recommended: {} h with a {} h cutoff\n\
         Fits: {}\n",
        plan.window,
        plan.targets,
        plan.duration_hours,
        plan.cutoff_hours,
        plan.recommended_duration_hours,
        plan.recommended_cutoff_hours,
        if plan.fits { "yes" } else { "no" }
    );
    list_section(&mut text, "Problems", &plan.problems);
    let overlaps: Vec<String> = plan
        .overlaps
        .iter()
        .map(|overlap| {
            format!(
                "{} ({} shared target(s)) from {} to {}",
                overlap.window,
                overlap.shared_targets,
                output::timestamp(overlap.start),
                output::timestamp(overlap.end)
            )
        })
        .collect();
    list_section(&mut text, "Overlaps", &overlaps);
    list_section(&mut text, "Warnings", &plan.warnings);
    let openings: Vec<String> = plan
        .next_openings
        .iter()
        .map(|at| output::timestamp(*at))
        .collect();
    list_section(&mut text, "Next openings", &openings);
    text
}

/// `Name: none`, or the name and one `  - item` line each.
fn list_section(text: &mut String, name: &str, items: &[String]) {
    if items.is_empty() {
        text.push_str(&format!("{name}: none\n"));
    } else {
        text.push_str(&format!("{name}:\n"));
        for item in items {
            text.push_str(&format!("  - {item}\n"));
        }
    }
}

/// The planner without a server: the recommendation for `nodes`, and the
/// check of a proposed duration and cutoff (the recommended ones when not
/// given).
fn offline_plan(
    nodes: usize,
    duration: Option<u8>,
    cutoff: Option<u8>,
    json: bool,
) -> Result<ExitCode> {
    let recommended = orchestration::recommended_duration_hours(nodes);
    let duration = duration.unwrap_or(recommended);
    let cutoff = cutoff.unwrap_or(orchestration::RECOMMENDED_CUTOFF_HOURS);
    let check = orchestration::plan(nodes, duration, cutoff);
    if json {
        outln!("{}", serde_json::to_string_pretty(&check)?);
    } else {
        out!("{}", offline_plan_text(nodes, duration, cutoff, &check));
    }
    Ok(problems_exit_code(check.problems.is_empty()))
}

fn offline_plan_text(nodes: usize, duration: u8, cutoff: u8, check: &PlanCheck) -> String {
    let mut text = format!(
        "{nodes} node(s): recommended {} h with a {} h cutoff (4 h + 1 h per 50 nodes)\n\
         Checked: {duration} h with a {cutoff} h cutoff\n\
         Fits: {}\n",
        check.recommended_duration_hours,
        check.recommended_cutoff_hours,
        if check.fits { "yes" } else { "no" }
    );
    list_section(&mut text, "Problems", &check.problems);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_plan_prints_the_recommendation() {
        let check = orchestration::plan(120, 7, 1);
        let text = offline_plan_text(120, 7, 1, &check);
        assert!(
            text.starts_with("120 node(s): recommended 7 h with a 1 h cutoff"),
            "{text}"
        );
        assert!(text.contains("Fits: yes\nProblems: none\n"), "{text}");

        let check = orchestration::plan(120, 4, 1);
        let text = offline_plan_text(120, 4, 1, &check);
        assert!(text.contains("Fits: no\nProblems:\n  - "), "{text}");
    }

    #[test]
    fn sections_list_items_or_say_none() {
        let mut text = String::new();
        list_section(&mut text, "Warnings", &[]);
        list_section(&mut text, "Problems", &["a".into(), "b".into()]);
        assert_eq!(text, "Warnings: none\nProblems:\n  - a\n  - b\n");
    }
}
