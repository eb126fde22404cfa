//! `patchline apply -f FILE.yaml`: declarative baselines, patch groups,
//! maintenance windows, tagging rules and governance settings. Reads the
//! files, fetches the server's objects, prints a diff per object, asks
//! before changing anything, then PUTs the changed objects baselines first.
//! The server treats an identical PUT as a no-op, and unchanged objects are
//! not sent at all, so applying twice changes nothing.

pub mod manifest;
pub mod plan;

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use patchline_api::baselines::PutOutcome;

use crate::output::stdout_styled;
use crate::session::Session;
use manifest::Manifest;
use plan::{Change, CurrentState, Plan, Put};

/// Showing a progress bar for fewer objects would only flicker.
const PROGRESS_BAR_FROM: usize = 5;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// YAML file(s) with `kind: Baseline`, `PatchGroup`, `Window`,
    /// `TaggingRule` or `Governance` documents (`-` reads standard input).
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    /// Show the diff and stop.
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
}

pub async fn run(args: ApplyArgs) -> Result<ExitCode> {
    let manifest = read_manifest(&args.files)?;
    if manifest.is_empty() {
        outln!("No objects in {}.", describe_files(&args.files));
        return Ok(ExitCode::SUCCESS);
    }
    let session = Session::open()?;
    let current = current_state(&session, &manifest).await?;
    let plan = plan::plan(&manifest, &current);
    print_plan(&plan);
    let changes = plan.count(Change::Create) + plan.count(Change::Update);
    if changes == 0 {
        outln!("Nothing to apply.");
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        outln!("Dry run: nothing applied.");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !confirm(changes)? {
        outln!("Nothing applied.");
        return Ok(ExitCode::from(1));
    }
    execute(&session, &plan).await?;
    Ok(ExitCode::SUCCESS)
}

/// The server's objects of the kinds the files name (a file of baselines
/// needs no window read, nor the role to read them).
async fn current_state(session: &Session, manifest: &Manifest) -> Result<CurrentState> {
    let client = &session.client;
    let baselines = session.check(client.baselines().await, "cannot list baselines")?;
    let groups = session.check(client.patch_groups().await, "cannot list patch groups")?;
    let mut current = CurrentState::new(baselines, groups);
    if !manifest.windows.is_empty() {
        let windows = session.check(client.windows().await, "cannot list windows")?;
        current = current.with_windows(windows.into_iter().map(|view| view.window));
    }
    if !manifest.tagging_rules.is_empty() {
        let rules = session.check(client.tagging_rules().await, "cannot list tagging rules")?;
        current = current.with_tagging_rules(rules.into_iter().map(|view| view.rule));
    }
    if manifest.governance.is_some() {
        let settings = session.check(
            client.governance().await,
            "cannot read the governance settings",
        )?;
        current = current.with_governance(settings);
    }
    Ok(current)
}

fn read_manifest(files: &[PathBuf]) -> Result<Manifest> {
    let mut manifest = Manifest::default();
    for path in files {
        let (name, text) = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            ("<stdin>".to_string(), text)
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (path.display().to_string(), text)
        };
        manifest.add_source(&name, &text)?;
    }
    Ok(manifest)
}

fn describe_files(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_plan(plan: &Plan) {
    let styled = stdout_styled();
    for object in &plan.objects {
        outln!("{}: {}", object.label, object.change.as_str());
        for line in object.diff.lines() {
            outln!("{}", colour_diff_line(line, styled));
        }
    }
    outln!("Plan: {}.", plan.summary());
}

fn colour_diff_line(line: &str, styled: bool) -> String {
    if !styled {
        return line.to_string();
    }
    let code = if line.starts_with("+++") || line.starts_with("---") {
        "1"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with('-') {
        "31"
    } else if line.starts_with("@@") {
        "36"
    } else {
        return line.to_string();
    };
    format!("\u{1b}[{code}m{line}\u{1b}[0m")
}

/// Asks on the terminal; without one, only `--yes` may apply.
fn confirm(changes: usize) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "standard input is not a terminal: pass --yes to apply {changes} change(s) without confirmation"
        );
    }
    out!("Apply {changes} change(s)? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

async fn execute(session: &Session, plan: &Plan) -> Result<()> {
    let changes: Vec<_> = plan.changes().collect();
    let bar = if changes.len() >= PROGRESS_BAR_FROM {
        // Drawn on stderr and hidden automatically when it is not a terminal.
        let bar = ProgressBar::new(changes.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for object in changes {
        bar.set_message(object.label.clone());
        let client = &session.client;
        let doing = format!("cannot apply {}", object.label);
        let verb = match object.change {
            Change::Create => "created",
            _ => "updated",
        };
        let label = &object.label;
        let lines = match &object.put {
            Put::Baseline(request) => {
                let outcome = session.check(client.put_baseline(request).await, doing)?;
                vec![policy_line(label, verb, &outcome)]
            }
            Put::PatchGroup(group) => {
                let outcome = session.check(client.put_patch_group(group).await, doing)?;
                vec![policy_line(label, verb, &outcome)]
            }
            Put::TaggingRule(rule) => {
                let view = session.check(client.put_tagging_rule(rule).await, doing)?;
                vec![format!(
                    "{label}: {verb} ({} matching node(s))",
                    view.matching_nodes
                )]
            }
            Put::Window(window) => {
                let outcome = session.check(client.put_window(window).await, doing)?;
                let mut lines = vec![if outcome.changed {
                    format!("{label}: {verb} (version {})", outcome.version)
                } else {
                    format!("{label}: unchanged on the server")
                }];
                lines.extend(
                    outcome
                        .warnings
                        .iter()
                        .map(|warning| format!("{label}: warning: {warning}")),
                );
                lines
            }
            Put::Governance(settings) => {
                session.check(client.put_governance(settings).await, doing)?;
                vec![format!("{label}: {verb}")]
            }
        };
        bar.suspend(|| {
            for line in &lines {
                outln!("{line}");
            }
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// What a baseline or patch group PUT did.
fn policy_line(label: &str, verb: &str, outcome: &PutOutcome) -> String {
    if outcome.changed {
        format!(
            "{label}: {verb} (version {}, {} node(s) re-evaluated)",
            outcome.version, outcome.reevaluated_nodes
        )
    } else {
        format!("{label}: unchanged on the server")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_coloured_only_when_styled() {
        assert_eq!(colour_diff_line("+a", false), "+a");
        assert_eq!(colour_diff_line("+a", true), "\u{1b}[32m+a\u{1b}[0m");
        assert_eq!(colour_diff_line("-a", true), "\u{1b}[31m-a\u{1b}[0m");
        assert_eq!(colour_diff_line(" a", true), " a");
    }
}
