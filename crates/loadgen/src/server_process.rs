//! The server under load runs as its own process (`patchline server`), so
//! its memory is measured alone and the load generator's work does not
//! share its threads.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub ca_pem: Vec<u8>,
}

/// The CA of the self-signed certificate `patchline server` writes into its data dir.
pub const CERTIFICATE_IN_DATA_DIR: &str = "tls/ca.pem";

impl ServerProcess {
    pub async fn spawn(
        binary: &Path,
        data_dir: &Path,
        database: Option<&str>,
        admin_password: &str,
    ) -> anyhow::Result<ServerProcess> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut command = Command::new(binary);
        command
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(&listen)
            .env("PATCHLINE_ADMIN_PASSWORD", admin_password)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(database) = database {
            command.arg("--database").arg(database);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let certificate = data_dir.join(CERTIFICATE_IN_DATA_DIR);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("the server exited during start-up: {status}");
            }
            if certificate.exists() && tokio::net::TcpStream::connect(&listen).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("the server did not listen on {listen} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ca_pem = std::fs::read(&certificate)
            .with_context(|| format!("reading {}", certificate.display()))?;
        Ok(ServerProcess {
            child,
            url: format!("https://{listen}"),
            ca_pem,
        })
    }

    /// Resident and peak resident memory in KiB, from /proc.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `patchline` next to this executable (both are built into the same
/// target directory), unless given.
pub fn default_server_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("patchline")))
        .unwrap_or_else(|| PathBuf::from("patchline"))
}
