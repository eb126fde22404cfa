//! `patchline up`: the one-command start. Starts the server (SQLite in the
//! data directory) and a scan-only agent for this machine in one process,
//! logs the CLI in as admin, prints where to look and, as soon as the first
//! check-in is evaluated, this machine's compliance. Ctrl-C (or SIGTERM)
//! stops the agent, then the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::{SignedDuration, Timestamp};
use patchline_agent::checkin::{AgentConfig, EnrolSecret, StateDir, StoredCredential};
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::nodes::NodeComplianceSummary;
use patchline_server::config::ServerConfig;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::compliance_cmd::{nodes_table, summary_line};
use crate::output::stdout_styled;
use crate::server_cmd::{create_private_dir, trust_file};
use crate::session::Session;
use crate::{auth_cmd, credentials};

/// How long `up` waits for the server to evaluate the first check-in when
/// the check-in answer did not carry it yet.
const EVALUATION_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the database, certificate, admin password, agent state and log
    /// live (default: ~/.local/share/patchline).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address the server listens on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// The root the local agent scans (`/` for this machine).
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// How often the local agent checks in, in seconds.
    #[arg(long, default_value_t = 300)]
    checkin_interval: u64,
}

/// SIGINT and SIGTERM, registered at once so a Ctrl-C during start-up is
/// a clean stop too, not the default kill.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

pub async fn run(args: UpArgs) -> Result<ExitCode> {
    if args.checkin_interval == 0 {
        bail!("--checkin-interval must be at least 1 second");
    }
    let mut signals = Signals::install()?;
    let data_dir = match &args.data_dir {
        Some(dir) => crate::session::absolute(dir)?,
        None => default_data_dir()?,
    };
    create_private_dir(&data_dir)?;
    let log_file = data_dir.join("patchline.log");
    log_to_file(&log_file)?;

    let mut config = ServerConfig::for_data_dir(&data_dir);
    config.listen = args.listen;
    config.checkin_interval = Duration::from_secs(args.checkin_interval);
    let admin_password_from_env = config.admin_password.clone();
    let trust = trust_file(&config);
    let server = patchline_server::start(config)
        .await
        .context("cannot start the server")?;
    let url = server.base_url();
    let ca_pem = server.ca_pem.clone().into_bytes();

    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let bring_up = async {
        let credentials_path = credentials::default_path()?;
        let password = admin_password(admin_password_from_env, &data_dir)?;
        auth_cmd::login_and_save(&url, Some(&trust), "admin", &password, &credentials_path).await?;
        let session = Session::open_at(&credentials_path)?;

        let agent_state = StateDir::new(data_dir.join("agent"));
        let enrol_secret = match agent_state
            .load_credential()
            .context("cannot read the local agent's state")?
        {
            Some(stored) => {
                follow_address(&agent_state, stored, &url)?;
                None
            }
            None => Some(create_enrolment_secret(&session).await?),
        };
        let mut agent = AgentConfig::new(url.clone(), ca_pem, agent_state.path());
        agent.enrol_secret = enrol_secret;
        agent.root = args.root.clone();
        agent.scan_only = true;

        print_where_to_look(&url, &trust, &data_dir, &credentials_path, &log_file);
        outln!("Scanning this machine ({})...", args.root.display());
        match patchline_agent::checkin::run_once(agent.clone()).await {
            Ok(outcome) => {
                let summary = match outcome.compliance {
                    Some(summary) => Some(summary),
                    None => wait_for_evaluation(&session, &outcome.node_id).await?,
                };
                print_this_machine(&session, &outcome.node_id, summary.as_ref()).await?;
            }
            // The server stays useful without the local agent.
            Err(error) => eprintln!("error: the local agent could not check in: {error}"),
        }
        outln!("Press Ctrl-C to stop.");
        // Later check-ins run in the background until shutdown.
        Ok::<_, anyhow::Error>(tokio::spawn(async move {
            let stopped = async {
                let _ = agent_stopped.await;
            };
            if let Err(error) = patchline_agent::checkin::run_until(agent, stopped).await {
                eprintln!("error: the local agent stopped: {error}");
            }
        }))
    };
    let agent_task = tokio::select! {
        result = bring_up => match result {
            Ok(task) => Some(task),
            Err(error) => {
                server.stop().await.ok();
                return Err(error);
            }
        },
        () = signals.recv() => None,
    };
    if agent_task.is_some() {
        signals.recv().await;
    }
    outln!("Stopping...");
    let _ = stop_agent.send(());
    if let Some(task) = agent_task {
        task.await.ok();
    }
    server
        .stop()
        .await
        .context("the server did not stop cleanly")?;
    outln!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

/// `$XDG_DATA_HOME/patchline`, else `~/.local/share/patchline`.
fn default_data_dir() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(dir).join("patchline"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/patchline")),
        None => bail!("cannot find a data directory: pass --data-dir or set HOME"),
    }
}

/// Server and agent logs go to a file so the terminal shows only what to
/// look at (RUST_LOG filters; default `info`).
fn log_to_file(path: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Another subscriber already installed is fine (nothing to do).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}

/// The configured password, else the one the server generated on its first
/// start.
fn admin_password(from_env: Option<String>, data_dir: &Path) -> Result<String> {
    if let Some(password) = from_env {
        return Ok(password);
    }
    let file = data_dir.join("admin-password");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read the admin password from {} (set PATCHLINE_ADMIN_PASSWORD if it was configured)",
            file.display()
        )
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// Points the local agent's credential at the server's current address.
/// The agent refuses a credential issued under another URL (a guard against
/// talking to the wrong server), but the local agent's server is by
/// construction the one in this data directory; only `--listen` changed.
fn follow_address(state: &StateDir, mut stored: StoredCredential, url: &str) -> Result<()> {
    if stored.server == url {
        return Ok(());
    }
    stored.server = url.to_string();
    let path = state.credential_path();
    std::fs::remove_file(&path).with_context(|| format!("cannot replace {}", path.display()))?;
    state
        .store_credential(&stored)
        .context("cannot update the local agent's credential")
}

/// A single-use secret for the local agent's first enrolment.
async fn create_enrolment_secret(session: &Session) -> Result<EnrolSecret> {
    let expires_at = Timestamp::now()
        .checked_add(SignedDuration::from_hours(1))
        .context("the clock is out of range")?;
    let request = CreateEnrolmentSecretRequest {
        name: "patchline-up local agent".into(),
        max_uses: Some(1),
        expires_at: Some(expires_at),
        tags: BTreeMap::new(),
    };
    let created = session.check(
        session.client.create_enrolment_secret(&request).await,
        "cannot create an enrolment secret for the local agent",
    )?;
    Ok(EnrolSecret::new(created.secret))
}

fn print_where_to_look(url: &str, trust: &Path, data_dir: &Path, credentials: &Path, log: &Path) {
    outln!("Patchline is up.");
    outln!("  Server:          {url}");
    outln!("  CA certificate:  {}", trust.display());
    outln!(
        "  Admin password:  {} (user admin)",
        data_dir.join("admin-password").display()
    );
    outln!(
        "  CLI session:     {} (logged in as admin)",
        credentials.display()
    );
    outln!("  Logs:            {}", log.display());
    outln!("Look with:");
    outln!("  patchline compliance nodes");
    outln!("  patchline compliance summary --by baseline");
    outln!("  patchline nodes list");
}

/// Polls the node's compliance until the server has evaluated it.
async fn wait_for_evaluation(
    session: &Session,
    node_id: &str,
) -> Result<Option<NodeComplianceSummary>> {
    let deadline = tokio::time::Instant::now() + EVALUATION_WAIT;
    loop {
        let node = session.check(
            session.client.node(node_id).await,
            format!("cannot read node {node_id}"),
        )?;
        if node.compliance.is_some() || tokio::time::Instant::now() >= deadline {
            return Ok(node.compliance);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn print_this_machine(
    session: &Session,
    node_id: &str,
    summary: Option<&NodeComplianceSummary>,
) -> Result<()> {
    let rows = session.check(
        session.client.compliance_nodes().await,
        "cannot read node compliance",
    )?;
    let mine: Vec<_> = rows
        .into_iter()
        .filter(|row| row.node_id == node_id)
        .collect();
    outln!();
    outln!("This machine's compliance:");
    out!("{}", nodes_table(&mine).render_human(stdout_styled()));
    match summary {
        Some(summary) => outln!("{}", summary_line(summary)),
        None => outln!("not evaluated yet: see `patchline compliance nodes` in a moment"),
    }
    outln!("Details: patchline compliance node {node_id}");
    outln!();
    Ok(())
}
