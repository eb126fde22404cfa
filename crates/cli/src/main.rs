//! `patchline`: the operator CLI.
//!
//! Today it holds the offline tools operators use while writing policy:
//! checking baseline files, previewing a window schedule's next occurrences
//! (across DST), and comparing versions exactly as dpkg or rpm would. The
//! server commands (login, nodes, compliance, apply) join it with the
//! control plane.

mod baseline_cmd;
mod schedule_cmd;
mod version_cmd;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "patchline",
    version,
    about = "Patchline: patch management for Linux fleets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check and inspect patch baselines.
    #[command(subcommand)]
    Baseline(baseline_cmd::BaselineCommand),
    /// Preview maintenance-window schedules.
    #[command(subcommand)]
    Schedule(schedule_cmd::ScheduleCommand),
    /// Compare package versions as dpkg or rpm does.
    #[command(subcommand)]
    Version(version_cmd::VersionCommand),
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Baseline(command) => baseline_cmd::run(command),
        Command::Schedule(command) => schedule_cmd::run(command),
        Command::Version(command) => version_cmd::run(command),
    }
}
