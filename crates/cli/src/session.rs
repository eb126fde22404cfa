//! The logged-in client every server command uses, and the wording of the
//! server's refusals (who you are when a role is refused, what to do when a
//! session has expired).

use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use jiff::Timestamp;
use patchline_api::{Client, ClientError};

use crate::credentials::{self, Credentials};

/// A client with the stored session token.
pub struct Session {
    pub client: Client,
    pub credentials: Credentials,
}

impl Session {
    /// Opens the session from `PATCHLINE_TOKEN` (an API token, for
    /// automation: with `PATCHLINE_SERVER` and optionally
    /// `PATCHLINE_CA_CERT`), else the one `patchline login` stored.
    pub fn open() -> Result<Session> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if let Some(token) = var("PATCHLINE_TOKEN") {
            let server = var("PATCHLINE_SERVER")
                .context("PATCHLINE_TOKEN is set: set PATCHLINE_SERVER to the server's URL too")?;
            let ca_cert_path = var("PATCHLINE_CA_CERT").map(PathBuf::from);
            let client = build_client(&server, ca_cert_path.as_deref(), Some(&token))?;
            return Ok(Session {
                client,
                credentials: Credentials {
                    server,
                    ca_cert_path,
                    token,
                    expires_at: None,
                    username: None,
                    role: None,
                },
            });
        }
        let path = credentials::default_path()?;
        Session::open_at(&path)
    }

    pub fn open_at(path: &Path) -> Result<Session> {
        let Some(credentials) = Credentials::load(path)? else {
            bail!(
                "not logged in (no {}): run `patchline login --server URL --username NAME`",
                path.display()
            );
        };
        if credentials.is_expired(Timestamp::now()) {
            bail!(
                "the session for {} expired at {}: run `patchline login` again",
                credentials.server,
                crate::output::optional_timestamp(credentials.expires_at)
            );
        }
        let client = build_client(
            &credentials.server,
            credentials.ca_cert_path.as_deref(),
            Some(&credentials.token),
        )?;
        Ok(Session {
            client,
            credentials,
        })
    }

    /// Turns an API error into a message saying what failed and, for
    /// refusals, who asked.
    pub fn check<T>(&self, result: Result<T, ClientError>, doing: impl Display) -> Result<T> {
        result.map_err(|error| self.explain(error, doing))
    }

    fn explain(&self, error: ClientError, doing: impl Display) -> anyhow::Error {
        let status = error.status().map(|status| status.as_u16());
        let hint = match status {
            Some(401) if self.credentials.username.is_none() => {
                Some("the server does not accept this token (revoked or expired)".to_string())
            }
            Some(401) => Some(
                "the server no longer accepts this session: run `patchline login` again"
                    .to_string(),
            ),
            Some(403) => Some(match (&self.credentials.username, self.credentials.role) {
                (Some(username), Some(role)) => {
                    format!("permission denied: logged in as {username} with role {role}")
                }
                _ => "permission denied for this token's role".to_string(),
            }),
            _ => None,
        };
        let error = anyhow!(error);
        let error = match hint {
            Some(hint) => error.context(hint),
            None => error,
        };
        error.context(doing.to_string())
    }
}

/// A client for `server`, trusting only `ca_cert_path` when given.
pub fn build_client(
    server: &str,
    ca_cert_path: Option<&Path>,
    token: Option<&str>,
) -> Result<Client> {
    let mut builder = Client::builder(server);
    if let Some(path) = ca_cert_path {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
        builder = builder.ca_certificate_pem(&pem);
    }
    if let Some(token) = token {
        builder = builder.bearer(token);
    }
    builder
        .build()
        .with_context(|| format!("cannot connect to {server}"))
}

/// An absolute form of a user-given path, so the stored session works from
/// any directory.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}
