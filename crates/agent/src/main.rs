//! `patchline-agent`: scans the node at a root path.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jiff::Timestamp;
use patchline_agent::driver::{self, DriverTimeouts};
use patchline_agent::facts::read_facts;
use patchline_agent::install::{self, Hooks, InstallOptions, RebootOption};
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
        /// Refresh repository metadata first (apt-get update, dnf makecache,
        /// zypper refresh), with this time limit in seconds.
        #[arg(long)]
        refresh: Option<u64>,
    },
    /// Install the approved updates (or an override list) on the node at
    /// ROOT, then print per-package results and the resulting compliance.
    /// Exits 1 when the install was aborted or a package failed.
    Install {
        /// The node's root filesystem (the live host by default).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Baseline YAML file; the OS family's default baseline when absent.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// File of `name[:arch]=version` lines installed instead of the
        /// baseline's targets.
        #[arg(long)]
        override_list: Option<PathBuf>,
        /// Reboot when the install leaves a reboot pending, or never.
        #[arg(long, value_enum, default_value = "reboot-if-needed")]
        reboot: RebootOption,
        /// Command (sh -c) that reboots; default `shutdown -r now` on `/`.
        #[arg(long)]
        reboot_command: Option<String>,
        /// Command (sh -c) run before the install; failure aborts it.
        #[arg(long)]
        pre_patch: Option<String>,
        /// Command (sh -c) run after the install.
        #[arg(long)]
        post_patch: Option<String>,
        /// Snapshot/backup command (sh -c) run first; failure aborts.
        #[arg(long)]
        snapshot: Option<String>,
        /// Time limit of each hook, in seconds.
        #[arg(long, default_value_t = 600)]
        hook_timeout: u64,
        /// Refresh repository metadata first, with this time limit in seconds.
        #[arg(long)]
        refresh: Option<u64>,
        /// Evaluate as of this instant (RFC 3339), instead of now.
        #[arg(long)]
        at: Option<Timestamp>,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
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
            refresh,
        } => {
            let baseline = baseline.map(|path| read_baseline(&path)).transpose()?;
            let node = NodeRoot::new(&root);
            if let Some(seconds) = refresh {
                refresh_metadata(&node, Duration::from_secs(seconds))
                    .with_context(|| format!("refreshing metadata of {}", root.display()))?;
            }
            let options = ScanOptions {
                baseline,
                now: at.unwrap_or_else(Timestamp::now),
            };
            let report =
                scan(&node, &options).with_context(|| format!("scanning {}", root.display()))?;
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
        Command::Install {
            root,
            baseline,
            override_list,
            reboot,
            reboot_command,
            pre_patch,
            post_patch,
            snapshot,
            hook_timeout,
            refresh,
            at,
            json,
        } => {
            let override_list = override_list
                .map(|path| {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading override list {}", path.display()))?;
                    install::parse_override_list(&text)
                        .with_context(|| format!("override list {}", path.display()))
                })
                .transpose()?;
            let options = InstallOptions {
                baseline: baseline.map(|path| read_baseline(&path)).transpose()?,
                now: at.unwrap_or_else(Timestamp::now),
                override_list,
                reboot,
                hooks: Hooks {
                    snapshot,
                    pre_patch,
                    post_patch,
                    reboot: reboot_command,
                },
                hook_timeout: Duration::from_secs(hook_timeout),
                refresh: refresh.map(Duration::from_secs),
                ..InstallOptions::default()
            };
            run_install(InstallArgs {
                root,
                options,
                json,
            })
        }
    }
}

fn read_baseline(path: &std::path::Path) -> Result<Baseline> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading baseline {}", path.display()))?;
    Baseline::from_yaml(&text).with_context(|| format!("baseline {}", path.display()))
}

struct InstallArgs {
    root: PathBuf,
    options: InstallOptions,
    json: bool,
}

fn run_install(args: InstallArgs) -> Result<ExitCode> {
    let report = install::install(&NodeRoot::new(&args.root), &args.options)
        .with_context(|| format!("installing on {}", args.root.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", install::render(&report));
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Refreshes the node's repository metadata with its family's package manager.
fn refresh_metadata(root: &NodeRoot, timeout: Duration) -> Result<()> {
    let facts = read_facts(root)?;
    let driver = driver::for_node(root, &facts.os, DriverTimeouts::default())?;
    driver.refresh(timeout)?;
    Ok(())
}
