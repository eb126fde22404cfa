//! The server's configuration: where it listens, where it keeps its data,
//! which database and certificate it uses, and its limits. Everything has a
//! default derived from the data directory so `patchline up` needs no flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use patchline_core::orchestration::Quotas;

/// The environment variable that sets the first admin's password.
pub const ADMIN_PASSWORD_ENV: &str = "PATCHLINE_ADMIN_PASSWORD";

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A self-signed certificate generated on first start into the data
    /// directory (`tls/cert.pem`, `tls/key.pem`) and reused afterwards.
    SelfSigned,
    /// PEM files supplied by the operator (`--tls-cert`, `--tls-key`).
    Files { cert: PathBuf, key: PathBuf },
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?} (text, json)")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Holds the SQLite database (by default), the generated certificate and
    /// the generated admin password.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; `None`: `<data_dir>/patchline.db`.
    pub database_url: Option<String>,
    pub tls: TlsSource,
    /// Names the generated certificate carries besides loopback and the
    /// hostname (`--tls-name`); ignored with the operator's files.
    pub tls_names: Vec<crate::tls::TlsName>,
    pub log_format: LogFormat,
    /// How often agents are told to check in.
    pub checkin_interval: Duration,
    /// Largest request body on agent routes (they carry inventories).
    pub agent_body_limit: usize,
    /// Largest request body on every other route.
    pub body_limit: usize,
    /// Password of the `admin` user created on first start; `None`: a
    /// generated one is written to `<data_dir>/admin-password`.
    pub admin_password: Option<String>,
    /// Lifetime of session tokens issued by login.
    pub session_ttl: Duration,
    /// Limits on windows, tasks and executions; a request beyond one is
    /// refused with a message naming it, never truncated.
    pub quotas: Quotas,
    /// How often the orchestrator runs a scheduling round (it also runs
    /// one right after a check-in reported results); zero: never on its
    /// own (tests drive rounds with `Orchestrator::tick`).
    pub scheduler_interval: Duration,
    /// How long finished executions are kept; `None`: forever.
    pub execution_retention: Option<Duration>,
    /// How often a work-ready long-poll looks at the store on its own:
    /// work queued through another server on the same database reaches
    /// the waiter within this time (this server's own wakes it at once).
    pub work_ready_recheck: Duration,
    /// At most this many agents long-poll at once; beyond, the long-poll
    /// answers at once (the agent sleeps its interval instead).
    pub work_ready_waiters: usize,
}

impl ServerConfig {
    /// The defaults for a data directory: listen on `0.0.0.0:8443`, SQLite
    /// inside the directory, a self-signed certificate, text logs, 5-minute
    /// check-ins, 8 MiB agent bodies, 1 MiB others, 12-hour sessions, the
    /// default quotas, work-ready long-polls rechecked every 15 s (20,000 at
    /// most), and the admin password from `PATCHLINE_ADMIN_PASSWORD`
    /// when set.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            data_dir: data_dir.into(),
            database_url: None,
            tls: TlsSource::SelfSigned,
            tls_names: Vec::new(),
            log_format: LogFormat::Text,
            checkin_interval: Duration::from_secs(300),
            agent_body_limit: 8 * 1024 * 1024,
            body_limit: 1024 * 1024,
            admin_password: std::env::var(ADMIN_PASSWORD_ENV)
                .ok()
                .filter(|password| !password.is_empty()),
            session_ttl: Duration::from_secs(12 * 3600),
            quotas: Quotas::default(),
            scheduler_interval: Duration::from_secs(5),
            execution_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            work_ready_recheck: Duration::from_secs(15),
            work_ready_waiters: 20_000,
        }
    }

    /// The database URL in effect (the explicit one, else SQLite in the data
    /// directory, created when missing).
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => sqlite_url(&self.data_dir.join("patchline.db")),
        }
    }

    /// The check-in interval in whole seconds as the wire carries it.
    pub fn checkin_interval_seconds(&self) -> u32 {
        u32::try_from(self.checkin_interval.as_secs())
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// Where a generated admin password is written.
    pub fn admin_password_file(&self) -> PathBuf {
        self.data_dir.join("admin-password")
    }
}

/// `sqlite://<path>?mode=rwc` (read-write, create when missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_put_the_database_in_the_data_dir() {
        let config = ServerConfig::for_data_dir("/var/lib/patchline");
        assert_eq!(
            config.effective_database_url(),
            "sqlite:///var/lib/patchline/patchline.db?mode=rwc"
        );
        assert_eq!(config.checkin_interval_seconds(), 300);
        assert_eq!(
            config.admin_password_file(),
            PathBuf::from("/var/lib/patchline/admin-password")
        );
        let explicit = ServerConfig {
            database_url: Some("postgres://db/patchline".into()),
            ..config
        };
        assert_eq!(explicit.effective_database_url(), "postgres://db/patchline");
    }

    #[test]
    fn log_formats_parse() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
