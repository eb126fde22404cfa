//! `patchline-agent`: scans the node at a root path, installs its updates,
//! or runs in server mode (`run`): enrol, then check in periodically.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use jiff::Timestamp;
use patchline_agent::checkin::{self, AgentConfig, CheckinOutcome, EnrolSecret};
use patchline_agent::driver::{self, DriverTimeouts};
use patchline_agent::facts::read_facts;
use patchline_agent::install::{self, Hooks, InstallOptions, RebootOption};
use patchline_agent::{NodeRoot, ScanOptions, report, scan_with_cache};
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
        /// Keep what the scan takes from each apt list in DIR (outside the
        /// root) and reuse it while the list is unchanged; created if
        /// missing. Without it nothing is written anywhere.
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
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
        #[command(flatten)]
        hooks: HookArgs,
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
    /// Server mode: enrol with the server once (storing the node credential
    /// in STATE_DIR/credential.json, mode 0600), then scan ROOT and check in
    /// at the interval the server sets, running the work it hands out.
    /// Stops with an error when the server refuses the credential (node
    /// deleted or credential revoked).
    Run {
        /// The server, `https://HOST:PORT`.
        #[arg(long)]
        server: String,
        /// PEM certificate the server is trusted by (only it is).
        #[arg(long)]
        ca_cert: PathBuf,
        /// Where the node credential is kept.
        #[arg(long)]
        state_dir: PathBuf,
        /// File holding the enrolment secret (needed until enrolled);
        /// else the PATCHLINE_ENROL_SECRET environment variable.
        #[arg(long)]
        enrol_secret_file: Option<PathBuf>,
        /// A tag of this node, `KEY=VALUE` (repeatable); the secret's and
        /// operators' tags win on conflict.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// The node's root filesystem (the live host by default).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Enrol if needed, check in once (running any work handed out) and exit.
        #[arg(long)]
        once: bool,
        /// Never run install, command or snapshot work, only scans.
        #[arg(long)]
        scan_only: bool,
        /// Run `command` work from the server (any shell command, as the
        /// agent's user), and snapshot work that names its own command.
        #[arg(long)]
        allow_commands: bool,
        #[command(flatten)]
        hooks: HookArgs,
    },
}

/// The operator's hooks, each a `sh -c` command with `PATCHLINE_ROOT` and
/// `PATCHLINE_PHASE` set; shared by `install` and `run`.
#[derive(clap::Args)]
struct HookArgs {
    /// Snapshot/backup command: run first by `install` (failure aborts
    /// it); in `run`, by snapshot work that names no command.
    #[arg(long = "snapshot-hook", visible_alias = "snapshot", value_name = "CMD")]
    snapshot: Option<String>,
    /// Command run before the install; failure aborts it.
    #[arg(
        long = "pre-patch-hook",
        visible_alias = "pre-patch",
        value_name = "CMD"
    )]
    pre_patch: Option<String>,
    /// Command run after the install, whatever its outcome.
    #[arg(
        long = "post-patch-hook",
        visible_alias = "post-patch",
        value_name = "CMD"
    )]
    post_patch: Option<String>,
    /// Command that reboots when the install leaves a reboot pending;
    /// `shutdown -r +1` on `/` when absent.
    #[arg(
        long = "reboot-hook",
        visible_alias = "reboot-command",
        value_name = "CMD"
    )]
    reboot_hook: Option<String>,
}

impl From<HookArgs> for Hooks {
    fn from(args: HookArgs) -> Hooks {
        Hooks {
            snapshot: args.snapshot,
            pre_patch: args.pre_patch,
            post_patch: args.post_patch,
            reboot: args.reboot_hook,
        }
    }
}

const ENROL_SECRET_ENV: &str = "PATCHLINE_ENROL_SECRET";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each cause once: many messages already
/// include their source's text, which `{:#}` would repeat.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if !text.contains(&message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&message);
        }
    }
    text
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
            cache_dir,
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
            let report = scan_with_cache(&node, &options, cache_dir.as_deref())
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
        Command::Install {
            root,
            baseline,
            override_list,
            reboot,
            hooks,
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
                hooks: hooks.into(),
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
        Command::Run {
            server,
            ca_cert,
            state_dir,
            enrol_secret_file,
            tags,
            root,
            once,
            scan_only,
            allow_commands,
            hooks,
        } => {
            let ca_pem = std::fs::read(&ca_cert)
                .with_context(|| format!("reading the CA certificate {}", ca_cert.display()))?;
            let enrol_secret = match enrol_secret_file {
                Some(path) => Some(EnrolSecret::new(
                    std::fs::read_to_string(&path).with_context(|| {
                        format!("reading the enrolment secret {}", path.display())
                    })?,
                )),
                None => std::env::var(ENROL_SECRET_ENV).ok().map(EnrolSecret::new),
            };
            let mut config = AgentConfig::new(server, ca_pem, state_dir);
            config.enrol_secret = enrol_secret;
            config.tags = tags.into_iter().collect();
            config.root = root;
            config.scan_only = scan_only;
            config.allow_commands = allow_commands;
            config.hooks = hooks.into();
            run_server_mode(config, once)
        }
    }
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn run_server_mode(config: AgentConfig, once: bool) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // One node, one connection at a time: no need for worker threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if once {
        let outcome = runtime.block_on(checkin::run_once(config))?;
        print!("{}", render_outcome(&outcome));
    } else {
        runtime.block_on(checkin::run(config))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render_outcome(outcome: &CheckinOutcome) -> String {
    let mut text = format!(
        "node {}{}\ninventory {} ({})\n",
        outcome.node_id,
        if outcome.enrolled {
            " (enrolled now)"
        } else {
            ""
        },
        outcome.inventory_hash,
        if outcome.inventory_sent {
            "uploaded"
        } else {
            "already known to the server"
        },
    );
    match &outcome.compliance {
        Some(compliance) => text.push_str(&format!(
            "compliance {} against {} v{}\n",
            checkin::status_label(compliance.status),
            compliance.baseline,
            compliance.baseline_version
        )),
        None => text.push_str("compliance not evaluated yet\n"),
    }
    for result in &outcome.work_done {
        let status = serde_json::to_value(result.status)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        text.push_str(&format!("work {}: {status}\n", result.id));
    }
    text.push_str(&format!(
        "next check-in in {} s\n",
        outcome.checkin_interval_seconds
    ));
    text
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_and_install_take_the_same_hooks() {
        let cli = Cli::parse_from([
            "patchline-agent",
            "run",
            "--server=https://s:1",
            "--ca-cert=ca.pem",
            "--state-dir=state",
            "--allow-commands",
            "--snapshot-hook=snap",
            "--pre-patch-hook=pre",
            "--post-patch-hook=post",
            "--reboot-hook=boot",
        ]);
        let Command::Run {
            allow_commands,
            hooks,
            ..
        } = cli.command
        else {
            panic!("not run");
        };
        assert!(allow_commands);
        let hooks = Hooks::from(hooks);
        assert_eq!(
            [
                hooks.snapshot,
                hooks.pre_patch,
                hooks.post_patch,
                hooks.reboot
            ],
            [Some("snap"), Some("pre"), Some("post"), Some("boot")].map(|h| h.map(String::from))
        );
        // `install` keeps its older spellings as aliases.
        let cli = Cli::parse_from([
            "patchline-agent",
            "install",
            "--snapshot=snap",
            "--reboot-command=boot",
        ]);
        let Command::Install { hooks, .. } = cli.command else {
            panic!("not install");
        };
        let hooks = Hooks::from(hooks);
        assert_eq!(hooks.snapshot.as_deref(), Some("snap"));
        assert_eq!(hooks.reboot.as_deref(), Some("boot"));
    }
}
