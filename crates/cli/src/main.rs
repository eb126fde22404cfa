//! `patchline`: the operator CLI.
//!
//! Offline tools for writing policy (checking baseline files, previewing
//! window schedules, comparing versions), the control-plane commands that
//! talk to a server with a stored session (login, nodes, baselines, groups,
//! compliance, enrolment, users, tokens, audit, declarative `apply`,
//! maintenance windows, executions, Patch Now, governance), and the server
//! itself (`server`, and `up`: server plus a local agent).

// First, so that its `outln!`/`out!` macros are visible in every module.
#[macro_use]
mod output;

mod admin_cmd;
mod apply;
mod auth_cmd;
mod baseline_cmd;
mod compliance_cmd;
mod credentials;
mod execution_cmd;
mod governance_cmd;
mod nodes_cmd;
mod patch_now_cmd;
mod policy_cmd;
mod schedule_cmd;
mod server_cmd;
mod session;
mod up_cmd;
mod values;
mod version_cmd;
mod window_cmd;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "patchline",
    version,
    about = "Patchline: patch management for Linux fleets",
    after_help = "Start here: `patchline up` runs a server and an agent for this machine.\n\
        Server commands use the session `patchline login` stores (credentials.json in \
        $PATCHLINE_CONFIG_DIR, $XDG_CONFIG_HOME/patchline or ~/.config/patchline), or an \
        API token from PATCHLINE_TOKEN with PATCHLINE_SERVER (and PATCHLINE_CA_CERT)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a server and a local scan-only agent, and show this machine's
    /// compliance.
    Up(up_cmd::UpArgs),
    /// Run the server until interrupted.
    Server(server_cmd::ServerArgs),
    /// Log in to a server and keep the session.
    Login(auth_cmd::LoginArgs),
    /// Forget the stored session.
    Logout,
    /// Who the stored session is.
    Whoami(output::JsonArg),
    /// Enrolled nodes and their tags.
    #[command(subcommand)]
    Nodes(nodes_cmd::NodesCommand),
    /// Baselines stored on the server.
    #[command(subcommand)]
    Baselines(policy_cmd::BaselinesCommand),
    /// Patch groups stored on the server.
    #[command(subcommand)]
    Groups(policy_cmd::GroupsCommand),
    /// Compliance reports.
    #[command(subcommand)]
    Compliance(compliance_cmd::ComplianceCommand),
    /// Apply baselines, patch groups, windows, tagging rules and governance
    /// from YAML (shows a diff first).
    Apply(apply::ApplyArgs),
    /// Maintenance windows stored on the server, and the planner.
    #[command(subcommand, visible_alias = "windows")]
    Window(window_cmd::WindowCommand),
    /// Runs of windows and of Patch Now.
    #[command(subcommand)]
    Executions(execution_cmd::ExecutionsCommand),
    /// Install on chosen nodes right away (the snapshot step first unless
    /// waived).
    PatchNow(patch_now_cmd::PatchNowArgs),
    /// Automatic tagging rules.
    #[command(subcommand)]
    TaggingRules(governance_cmd::TaggingRulesCommand),
    /// The default window and patch group.
    #[command(subcommand)]
    Governance(governance_cmd::GovernanceCommand),
    /// The quotas the server enforces.
    Quotas(output::OutputArgs),
    /// Enrolment secrets for agents.
    #[command(subcommand)]
    Enrolment(admin_cmd::EnrolmentCommand),
    /// Operators.
    #[command(subcommand)]
    Users(admin_cmd::UsersCommand),
    /// API tokens for automation.
    #[command(subcommand)]
    Tokens(admin_cmd::TokensCommand),
    /// The audit log.
    Audit(admin_cmd::AuditArgs),
    /// Check and inspect patch baseline files (offline).
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
        Command::Logout => auth_cmd::logout(),
        Command::Login(args) => block_on(auth_cmd::login(args)),
        Command::Whoami(args) => block_on(auth_cmd::whoami(args)),
        Command::Nodes(command) => block_on(nodes_cmd::run(command)),
        Command::Baselines(command) => block_on(policy_cmd::baselines(command)),
        Command::Groups(command) => block_on(policy_cmd::groups(command)),
        Command::Compliance(command) => block_on(compliance_cmd::run(command)),
        Command::Apply(args) => block_on(apply::run(args)),
        Command::Window(command) => block_on(window_cmd::run(command)),
        Command::Executions(command) => block_on(execution_cmd::run(command)),
        Command::PatchNow(args) => block_on(patch_now_cmd::run(args)),
        Command::TaggingRules(command) => block_on(governance_cmd::tagging_rules(command)),
        Command::Governance(command) => block_on(governance_cmd::governance(command)),
        Command::Quotas(output) => block_on(governance_cmd::quotas(output)),
        Command::Enrolment(command) => block_on(admin_cmd::enrolment(command)),
        Command::Users(command) => block_on(admin_cmd::users(command)),
        Command::Tokens(command) => block_on(admin_cmd::tokens(command)),
        Command::Audit(args) => block_on(admin_cmd::audit(args)),
        Command::Server(args) => {
            output::keep_running_when_stdout_closes();
            block_on(server_cmd::run(args))
        }
        Command::Up(args) => {
            output::keep_running_when_stdout_closes();
            block_on(up_cmd::run(args))
        }
    }
}

/// Runs a server command on a multi-threaded runtime (the offline commands
/// need none).
fn block_on(command: impl Future<Output = Result<ExitCode>>) -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parses(args: &[&str]) -> bool {
        Cli::try_parse_from(std::iter::once("patchline").chain(args.iter().copied())).is_ok()
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn documented_invocations_parse() {
        for args in [
            &[
                "server",
                "--data-dir",
                "/d",
                "--listen",
                "127.0.0.1:0",
                "--database",
                "postgres://db/p",
            ][..],
            &["server", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
            &[
                "server",
                "--max-windows",
                "3",
                "--max-tasks-per-window",
                "4",
                "--max-concurrency-per-task",
                "5",
                "--max-concurrent-executions",
                "2",
                "--scheduler-interval",
                "1",
                "--execution-retention-days",
                "0",
            ],
            &[
                "login",
                "--server",
                "https://h:8443",
                "--ca-cert",
                "ca.pem",
                "--username",
                "u",
            ],
            &["nodes", "list", "--tag", "Environment=prod", "--json"],
            &["nodes", "tag", "n1", "Patch Group=web", "--remove", "Zone"],
            &[
                "compliance",
                "summary",
                "--by",
                "os-family",
                "--format",
                "csv",
            ],
            &["compliance", "nodes", "--status", "non-compliant"],
            &["compliance", "history", "--days", "7"],
            &[
                "enrolment",
                "create",
                "fleet",
                "--max-uses",
                "5",
                "--expires-in-days",
                "2",
                "--tag",
                "A=b",
            ],
            &[
                "users",
                "create",
                "bob",
                "--role",
                "app-team",
                "--scope",
                "Application=payments",
            ],
            &[
                "tokens",
                "create",
                "ci",
                "--role",
                "security-ops",
                "--expires-in-days",
                "30",
            ],
            &["audit", "--after", "10"],
            &["apply", "-f", "a.yaml", "-f", "b.yaml", "--dry-run"],
            &["window", "list", "--format", "csv"],
            &["windows", "show", "prod-zone-a", "--json"],
            &["window", "plan", "prod-zone-a"],
            &[
                "window",
                "plan",
                "--nodes",
                "120",
                "--duration",
                "7",
                "--cutoff",
                "1",
            ],
            &[
                "executions",
                "list",
                "--window",
                "w",
                "--limit",
                "5",
                "--json",
            ],
            &["executions", "show", "ex-1", "--output"],
            &["executions", "cancel", "ex-1"],
            &[
                "patch-now",
                "--node",
                "n1",
                "--node",
                "n2",
                "--baseline",
                "prod",
                "--no-reboot",
                "--waive-snapshot",
                "replicated",
                "--max-concurrency",
                "50%",
                "--max-errors",
                "1",
                "--wait",
            ],
            &[
                "patch-now",
                "--node",
                "n1",
                "--snapshot-command",
                "lvcreate -s",
            ],
            &["tagging-rules", "list", "--json"],
            &["tagging-rules", "delete", "web"],
            &["governance", "show"],
            &[
                "governance",
                "set",
                "--default-window",
                "w",
                "--default-patch-group",
                "",
            ],
            &["quotas", "--json"],
            &[
                "up",
                "--data-dir",
                "/d",
                "--listen",
                "127.0.0.1:8443",
                "--root",
                "/",
            ],
        ] {
            assert!(parses(args), "{args:?}");
        }
    }

    #[test]
    fn bad_invocations_are_refused() {
        for args in [
            &["server", "--tls-cert", "c.pem"][..],
            &["server", "--max-windows", "0"],
            &["server", "--scheduler-interval", "0"],
            &["nodes", "list", "--tag", "no-equals-sign"],
            &["compliance", "summary", "--by", "colour"],
            &["users", "create", "bob", "--role", "root"],
            &["apply"],
            &["compliance", "nodes", "--format", "xml"],
            &["window", "plan"],
            &["window", "plan", "w", "--nodes", "3"],
            &["window", "plan", "w", "--duration", "5"],
            &["patch-now", "--waive-snapshot", "x"],
            &[
                "patch-now",
                "--node",
                "n1",
                "--waive-snapshot",
                "x",
                "--snapshot-command",
                "y",
            ],
            &["patch-now", "--node", "n1", "--max-errors", "lots"],
        ] {
            assert!(!parses(args), "{args:?}");
        }
    }
}
