//! `patchline server`: runs the control plane until SIGINT/SIGTERM.
//!
//! Prints where it listens and which certificate clients should trust (two
//! stable lines on stdout, `Listening on <url>` and `CA certificate:
//! <path>`, which scripts and tests read — the port is real even when
//! `--listen` asked for port 0).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use patchline_core::orchestration::Quotas;
use patchline_server::config::{LogFormat, ServerConfig, TlsSource};
use patchline_server::tls::{GeneratedPaths, TlsName};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Holds the SQLite database, the generated certificate and the admin
    /// password.
    #[arg(long, default_value = "/var/lib/patchline")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// `postgres://...` or `sqlite://...` (default: SQLite in the data
    /// directory).
    #[arg(long)]
    database: Option<String>,
    /// PEM certificate chain to serve (default: a self-signed one generated
    /// into the data directory).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Another name agents reach the server by (DNS name or IP address;
    /// repeatable), added to the generated certificate beside localhost,
    /// the loopback addresses and the hostname. A new name re-issues the
    /// certificate from the stored CA: agents keep their --ca-cert.
    #[arg(long, value_name = "NAME", conflicts_with = "tls_cert")]
    tls_name: Vec<TlsName>,
    /// Log lines as `text` or `json` (on stderr; RUST_LOG filters).
    #[arg(long, default_value = "text")]
    log_format: LogFormat,
    /// How often agents check in, in seconds.
    #[arg(long, default_value_t = 300)]
    checkin_interval: u64,
    /// Most maintenance windows that may be defined.
    #[arg(long, default_value_t = Quotas::default().max_windows, value_parser = at_least_one)]
    max_windows: usize,
    /// Most tasks in one window.
    #[arg(long, default_value_t = Quotas::default().max_tasks_per_window, value_parser = at_least_one)]
    max_tasks_per_window: usize,
    /// Highest max-concurrency a task may resolve to.
    #[arg(long, default_value_t = Quotas::default().max_concurrency_per_task, value_parser = at_least_one)]
    max_concurrency_per_task: usize,
    /// Window executions running at once; more wait their turn.
    #[arg(long, default_value_t = Quotas::default().max_concurrent_executions, value_parser = at_least_one)]
    max_concurrent_executions: usize,
    /// How often the scheduler opens windows and releases work, in seconds.
    #[arg(long, default_value_t = 5, value_parser = at_least_one_second)]
    scheduler_interval: u64,
    /// Days finished executions are kept (0: forever).
    #[arg(long, default_value_t = 30)]
    execution_retention_days: u64,
    /// How often an agent's work-ready long-poll looks at the store on its
    /// own, in seconds (at least 1): work queued through another server on
    /// the same database reaches the agent within this time; this server's
    /// own work wakes it at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 15, value_parser = at_least_one_second)]
    work_ready_recheck: u64,
    /// Most agents waiting on the work-ready long-poll at once (at least
    /// 1); beyond, the long-poll answers at once and the agent sleeps its
    /// check-in interval instead.
    #[arg(long, value_name = "N", default_value_t = 20_000, value_parser = at_least_one)]
    work_ready_waiters: usize,
}

/// Quotas of zero would refuse everything: say so at start-up.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(error) => Err(error.to_string()),
    }
}

/// A zero interval would mean the scheduler never runs on its own.
fn at_least_one_second(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1 second".into()),
        Ok(value) => Ok(value),
        Err(error) => Err(error.to_string()),
    }
}

impl ServerArgs {
    fn config(&self) -> Result<ServerConfig> {
        if self.checkin_interval == 0 {
            bail!("--checkin-interval must be at least 1 second");
        }
        let mut config = ServerConfig::for_data_dir(&self.data_dir);
        config.listen = self.listen;
        config.database_url = self.database.clone();
        config.log_format = self.log_format;
        config.checkin_interval = Duration::from_secs(self.checkin_interval);
        config.quotas = Quotas {
            max_windows: self.max_windows,
            max_tasks_per_window: self.max_tasks_per_window,
            max_concurrency_per_task: self.max_concurrency_per_task,
            max_concurrent_executions: self.max_concurrent_executions,
        };
        config.scheduler_interval = Duration::from_secs(self.scheduler_interval);
        config.execution_retention = (self.execution_retention_days > 0)
            .then(|| Duration::from_secs(self.execution_retention_days.saturating_mul(24 * 3600)));
        config.work_ready_recheck = Duration::from_secs(self.work_ready_recheck);
        config.work_ready_waiters = self.work_ready_waiters;
        config.tls_names = self.tls_name.clone();
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = TlsSource::Files {
                cert: crate::session::absolute(cert)?,
                key: crate::session::absolute(key)?,
            };
        }
        Ok(config)
    }
}

pub async fn run(args: ServerArgs) -> Result<ExitCode> {
    let config = args.config()?;
    patchline_server::telemetry::init_tracing(config.log_format);
    let trust_file = trust_file(&config);
    let server = patchline_server::start(config)
        .await
        .context("cannot start the server")?;
    outln!("Listening on {}", server.base_url());
    outln!("CA certificate: {}", trust_file.display());
    if let Some(file) = &server.admin_password_file {
        outln!("Admin password: {} (user admin)", file.display());
    }
    let shutdown = server.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.shutdown(Duration::from_secs(10));
    });
    server.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// The PEM file clients pin: the generated CA, or the operator's chain.
pub fn trust_file(config: &ServerConfig) -> PathBuf {
    match &config.tls {
        TlsSource::SelfSigned => GeneratedPaths::in_data_dir(&config.data_dir).ca,
        TlsSource::Files { cert, .. } => cert.clone(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
}

/// Creates a directory readable only by its owner (it will hold secrets).
pub fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn config(args: &[&str]) -> ServerConfig {
        let argv = std::iter::once("server").chain(args.iter().copied());
        Wrapper::try_parse_from(argv)
            .unwrap()
            .args
            .config()
            .unwrap()
    }

    #[test]
    fn quota_and_scheduler_flags_reach_the_configuration() {
        let defaults = config(&[]);
        assert_eq!(defaults.quotas, Quotas::default());
        assert_eq!(defaults.scheduler_interval, Duration::from_secs(5));
        assert_eq!(
            defaults.execution_retention,
            Some(Duration::from_secs(30 * 24 * 3600))
        );
        let set = config(&[
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
        ]);
        assert_eq!(
            set.quotas,
            Quotas {
                max_windows: 3,
                max_tasks_per_window: 4,
                max_concurrency_per_task: 5,
                max_concurrent_executions: 2,
            }
        );
        assert_eq!(set.scheduler_interval, Duration::from_secs(1));
        assert_eq!(set.execution_retention, None);
    }

    #[test]
    fn work_ready_flags_default_to_the_server_defaults_and_reach_the_configuration() {
        let server_defaults = ServerConfig::for_data_dir(Path::new("/var/lib/patchline"));
        let defaults = config(&[]);
        assert_eq!(
            defaults.work_ready_recheck,
            server_defaults.work_ready_recheck
        );
        assert_eq!(
            defaults.work_ready_waiters,
            server_defaults.work_ready_waiters
        );
        let set = config(&["--work-ready-recheck", "2", "--work-ready-waiters", "7"]);
        assert_eq!(set.work_ready_recheck, Duration::from_secs(2));
        assert_eq!(set.work_ready_waiters, 7);
        for (flag, value, reason) in [
            ("--work-ready-recheck", "0", "must be at least 1 second"),
            ("--work-ready-waiters", "0", "must be at least 1"),
            ("--work-ready-waiters", "many", "invalid digit"),
        ] {
            let refused = Wrapper::try_parse_from(["server", flag, value])
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
            assert!(
                refused.contains(flag) && refused.contains(reason),
                "{flag} {value}: {refused:?}"
            );
        }
    }

    #[test]
    fn tls_names_are_validated_and_reach_the_configuration() {
        assert!(config(&[]).tls_names.is_empty());
        let set = config(&["--tls-name", "Patch.Example.com", "--tls-name", "10.0.0.5"]);
        assert_eq!(
            set.tls_names,
            [
                TlsName::Dns("patch.example.com".into()),
                TlsName::Ip([10, 0, 0, 5].into())
            ]
        );
        let nonsense = Wrapper::try_parse_from(["server", "--tls-name", "https://patch:8443"])
            .err()
            .expect("refused");
        let message = nonsense.to_string();
        assert!(message.contains("--tls-name"), "{message}");
        assert!(
            message.contains("without scheme, port or path"),
            "{message}"
        );
        // The operator's own certificate is served as given.
        let both = [
            "server",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-name",
            "a.b",
        ];
        assert!(Wrapper::try_parse_from(both).is_err());
    }
}
