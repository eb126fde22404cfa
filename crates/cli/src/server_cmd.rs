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
use patchline_server::config::{LogFormat, ServerConfig, TlsSource};
use patchline_server::tls::GeneratedPaths;

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
    /// Log lines as `text` or `json` (on stderr; RUST_LOG filters).
    #[arg(long, default_value = "text")]
    log_format: LogFormat,
    /// How often agents check in, in seconds.
    #[arg(long, default_value_t = 300)]
    checkin_interval: u64,
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
