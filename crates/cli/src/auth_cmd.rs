//! `patchline login | logout | whoami`: the operator's session.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use patchline_api::ClientError;
use patchline_api::auth::LoginResponse;

use crate::credentials::{self, Credentials};
use crate::output::{self, JsonArg};
use crate::session::{self, Session};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's base URL, e.g. https://patchline.example:8443.
    #[arg(long)]
    server: String,
    /// PEM certificate to trust for the server (its self-signed certificate).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    #[arg(long, short = 'u')]
    username: String,
    /// Read the password from the first line of standard input instead of
    /// prompting.
    #[arg(long)]
    password_stdin: bool,
}

pub async fn login(args: LoginArgs) -> Result<ExitCode> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("standard input is not a terminal: pass --password-stdin and pipe the password");
        }
        rpassword::prompt_password(format!("Password for {}: ", args.username))
            .context("cannot read the password")?
    };
    let ca_cert = args.ca_cert.as_deref().map(session::absolute).transpose()?;
    let path = credentials::default_path()?;
    let response = login_and_save(
        &args.server,
        ca_cert.as_deref(),
        &args.username,
        &password,
        &path,
    )
    .await?;
    outln!(
        "Logged in to {} as {} ({}); the session expires at {}.",
        args.server,
        args.username,
        response.role,
        output::timestamp(response.expires_at)
    );
    Ok(ExitCode::SUCCESS)
}

/// Logs in and stores the session at `path` (also used by `patchline up`).
pub async fn login_and_save(
    server: &str,
    ca_cert_path: Option<&Path>,
    username: &str,
    password: &str,
    path: &Path,
) -> Result<LoginResponse> {
    let client = session::build_client(server, ca_cert_path, None)?;
    let response = match client.login(username, password).await {
        Ok(response) => response,
        Err(error @ ClientError::Transport { .. }) if ca_cert_path.is_none() => {
            return Err(anyhow!(error)).with_context(|| {
                format!(
                    "cannot log in to {server} as {username} (a server with its own \
                     certificate needs --ca-cert: `patchline server` prints the file, \
                     by default <data-dir>/tls/ca.pem)"
                )
            });
        }
        Err(error) => {
            return Err(anyhow!(error))
                .with_context(|| format!("cannot log in to {server} as {username}"));
        }
    };
    Credentials {
        server: server.to_string(),
        ca_cert_path: ca_cert_path.map(Path::to_path_buf),
        token: response.token.clone(),
        expires_at: Some(response.expires_at),
        username: Some(username.to_string()),
        role: Some(response.role),
    }
    .save(path)?;
    Ok(response)
}

pub fn logout() -> Result<ExitCode> {
    let path = credentials::default_path()?;
    if Credentials::remove(&path)? {
        outln!("Logged out (removed {}).", path.display());
    } else {
        outln!("Not logged in.");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn whoami(args: JsonArg) -> Result<ExitCode> {
    let session = Session::open()?;
    let me = session.check(session.client.whoami().await, "cannot ask who you are")?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&me)?);
    } else {
        let scope = me
            .scope
            .as_ref()
            .map(|scope| format!(", scope {}={}", scope.key, scope.value))
            .unwrap_or_default();
        outln!(
            "{} ({}{scope}) on {}",
            me.subject,
            me.role,
            session.credentials.server
        );
    }
    Ok(ExitCode::SUCCESS)
}
