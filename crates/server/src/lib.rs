//! The Patchline control plane: the HTTP API (axum, rustls), the store
//! (SQLite by default, PostgreSQL for scale, one code path through sqlx's
//! `Any` driver), enrolment and node credentials, operator roles, the audit
//! log, and the compliance engine that evaluates each distinct inventory
//! once.
//!
//! [`run`] serves until interrupted (`patchline server`, `patchline up`);
//! [`start`] serves in the background and hands back the address, the
//! certificate to trust and a shutdown handle (tests, the load generator).

pub mod app;
pub mod auth;
pub mod compliance;
pub mod config;
pub mod governance;
pub mod http;
pub mod orchestrator;
pub mod store;
pub mod telemetry;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

pub use app::AppState;
pub use config::ServerConfig;

use auth::bootstrap::{self, Bootstrap};
use store::Store;

/// A server serving in the background.
pub struct RunningServer {
    /// The bound address (the real port when the config asked for 0).
    pub addr: SocketAddr,
    /// The certificate clients should trust (PEM): the generated CA, or the
    /// operator's certificate chain.
    pub ca_pem: String,
    /// Set when this start created `admin` with a generated password.
    pub admin_password_file: Option<PathBuf>,
    /// The server's state (its store, configuration and metrics).
    pub state: AppState,
    pub shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    daily_reevaluation: tokio::task::JoinHandle<()>,
    /// The orchestrator's background rounds (none when the interval is 0).
    scheduler: Option<tokio::task::JoinHandle<()>>,
    /// Renews the generated certificate while serving (none with files).
    tls_renewal: Option<tokio::task::JoinHandle<()>>,
}

/// Stops a running server.
#[derive(Clone)]
pub struct ShutdownHandle {
    handle: axum_server::Handle<SocketAddr>,
    orchestrator: orchestrator::Orchestrator,
}

impl ShutdownHandle {
    /// Stops accepting connections and lets requests in flight finish (for
    /// at most `grace`); work-ready long-polls answer at once.
    pub fn shutdown(&self, grace: Duration) {
        self.orchestrator.work_signals().close();
        self.handle.graceful_shutdown(Some(grace));
    }
}

impl RunningServer {
    /// `https://<addr>` (with `127.0.0.1` for an unspecified address).
    pub fn base_url(&self) -> String {
        let host = match self.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
            ip if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("https://{host}:{}", self.addr.port())
    }

    /// Waits until the server stops (after [`ShutdownHandle::shutdown`] or a
    /// fatal error).
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.task.await;
        self.daily_reevaluation.abort();
        if let Some(renewal) = &self.tls_renewal {
            renewal.abort();
        }
        if let Some(scheduler) = self.scheduler {
            scheduler.abort();
            // Whatever round was running is rolled back; the leases are
            // handed back so another server takes over at once.
            let _ = scheduler.await;
        }
        if let Err(error) = self.state.orchestrator.release_leases().await {
            tracing::warn!(%error, "could not release the execution leases");
        }
        served
            .context("the server task failed")?
            .context("the server stopped with an error")
    }

    /// Shuts down gracefully and waits for the end.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.shutdown(Duration::from_secs(10));
        self.wait().await
    }

    /// Stops at once, like a crash: connections are dropped, the
    /// background tasks aborted, and nothing is handed back (the
    /// executions' leases run out on their own). For restart tests.
    pub async fn abort(self) {
        self.shutdown.orchestrator.work_signals().close();
        self.shutdown.handle.shutdown();
        self.task.abort();
        self.daily_reevaluation.abort();
        if let Some(renewal) = &self.tls_renewal {
            renewal.abort();
        }
        if let Some(scheduler) = self.scheduler {
            scheduler.abort();
            let _ = scheduler.await;
        }
        let _ = self.task.await;
    }
}

/// Opens the store (migrating it), creates the first admin if needed,
/// loads or generates the certificate and starts serving in the background.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    start_with_clock(
        config,
        std::sync::Arc::new(orchestrator::clock::SystemClock),
    )
    .await
}

/// [`start`] with the orchestrator on `clock` (tests pass a
/// [`orchestrator::clock::ManualClock`] to run windows on simulated time).
pub async fn start_with_clock(
    config: ServerConfig,
    clock: orchestrator::clock::SharedClock,
) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let database_url = config.effective_database_url();
    let store = Store::connect(&database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&database_url)))?;
    let admin_password_file = match bootstrap::ensure_admin(&store, &config).await? {
        Bootstrap::AdminPasswordWritten(path) => {
            tracing::info!(file = %path.display(), "created user admin; its password is in the file");
            Some(path)
        }
        Bootstrap::AdminFromConfig => {
            tracing::info!("created user admin with the configured password");
            None
        }
        Bootstrap::AlreadyDone => None,
    };
    let tls = tls::load_or_generate(&config.tls, &config.data_dir, &config.tls_names)?;
    let rustls = RustlsConfig::from_pem(
        tls.cert_chain_pem.clone().into_bytes(),
        tls.key_pem.clone().into_bytes(),
    )
    .await
    .context("the TLS certificate or key is not usable")?;
    let tls_renewal = (config.tls == config::TlsSource::SelfSigned).then(|| {
        tls::renewal::Renewal::new(
            rustls.clone(),
            &config.data_dir,
            config.tls_names.clone(),
            tls.cert_chain_pem.clone(),
        )
        .spawn()
    });
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;

    let state = AppState::with_clock(store, config, clock);
    // Compliance may be stale: baselines can have changed, or a day passed,
    // while the server was down.
    if let Err(error) = state.reevaluate_fleet(jiff::Timestamp::now()).await {
        tracing::error!(%error, "the start-up compliance re-evaluation failed");
    }
    let daily_reevaluation = compliance::spawn_daily_reevaluation(state.engine.clone());
    let scheduler = state.orchestrator.spawn_loop();
    let router = http::router(state.clone());
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(listener, rustls)?
        .handle(handle.clone())
        .serve(router.into_make_service());
    let task = tokio::spawn(server);
    tracing::info!(%addr, "serving the Patchline API over TLS");
    let shutdown = ShutdownHandle {
        handle,
        orchestrator: state.orchestrator.clone(),
    };
    Ok(RunningServer {
        addr,
        ca_pem: tls.trust_pem,
        admin_password_file,
        state,
        shutdown,
        task,
        daily_reevaluation,
        scheduler,
        tls_renewal,
    })
}

/// Serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: ServerConfig) -> anyhow::Result<()> {
    telemetry::init_tracing(config.log_format);
    let server = start(config).await?;
    let shutdown = server.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.shutdown(Duration::from_secs(10));
    });
    server.wait().await
}

async fn wait_for_signal() {
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

/// The URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact_url("postgres://patchline:s3cret@db:5432/patchline"),
            "postgres://patchline:***@db:5432/patchline"
        );
        assert_eq!(
            redact_url("sqlite:///tmp/x.db?mode=rwc"),
            "sqlite:///tmp/x.db?mode=rwc"
        );
    }
}
