//! `patchline-agent`: scans the node at a root path.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jiff::Timestamp;
use patchline_agent::{NodeRoot, ScanOptions, report, scan};
use patchline_core::baseline::Baseline;

#[derive(Parser)]
#[command(
    name = "patchline-agent",
    version,
    about = "Patchline agent: inventory and scan of a node root"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan the node at ROOT against a baseline and print its compliance.
    Scan {
        /// The node's root filesystem (the live host by default).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Baseline YAML file; the OS family's default baseline when absent.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Evaluate as of this instant (RFC 3339), instead of now.
        #[arg(long)]
        at: Option<Timestamp>,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
        /// List every package, not only those needing attention.
        #[arg(long)]
        all: bool,
        /// Exit with status 1 when the node is non-compliant.
        #[arg(long)]
        fail_if_non_compliant: bool,
    },
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
        Command::Scan {
            root,
            baseline,
            at,
            json,
            all,
            fail_if_non_compliant,
        } => {
            let baseline = baseline
                .map(|path| {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading baseline {}", path.display()))?;
                    Baseline::from_yaml(&text)
                        .with_context(|| format!("baseline {}", path.display()))
                })
                .transpose()?;
            let options = ScanOptions {
                baseline,
                now: at.unwrap_or_else(Timestamp::now),
            };
            let report = scan(&NodeRoot::new(&root), &options)
                .with_context(|| format!("scanning {}", root.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report::render(&report, all));
            }
            let non_compliant = report.compliance.status
                == patchline_core::compliance::ComplianceStatus::NonCompliant;
            Ok(if fail_if_non_compliant && non_compliant {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
