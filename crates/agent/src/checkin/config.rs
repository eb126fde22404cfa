//! What server mode needs to know: the server, how to trust it, where to
//! keep the credential, and what to scan.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::checkin::backoff::RetryPolicy;
use crate::install::Hooks;

/// An enrolment secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolSecret(String);

impl EnrolSecret {
    /// Surrounding whitespace (a file's trailing newline) is not part of it.
    pub fn new(secret: impl AsRef<str>) -> EnrolSecret {
        EnrolSecret(secret.as_ref().trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for EnrolSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrolSecret(<redacted>)")
    }
}

/// Configuration of server mode.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `https://host:port` of the server.
    pub server: String,
    /// PEM of the certificate (or CA) the server is trusted by; only it is.
    pub ca_pem: Vec<u8>,
    /// Holds `credential.json` once enrolled.
    pub state_dir: PathBuf,
    /// Needed only while the state directory has no credential.
    pub enrol_secret: Option<EnrolSecret>,
    /// The agent's own tags (the secret's and operators' tags win).
    pub tags: BTreeMap<String, String>,
    /// The node root to scan (`/` for this host).
    pub root: PathBuf,
    /// Run scans only: install, command and snapshot work is refused.
    pub scan_only: bool,
    /// Run `command` work (arbitrary shell from the server); off by default.
    pub allow_commands: bool,
    /// The operator's hooks: snapshot work runs `snapshot` when the task
    /// gives no command; install work runs the pre-patch, post-patch and
    /// reboot ones.
    pub hooks: Hooks,
    /// Waits after transport failures and server errors.
    pub retry: RetryPolicy,
    /// Time limit of each HTTP request.
    pub request_timeout: Duration,
    /// Time limit of a metadata refresh a `scan` work item asks for.
    pub refresh_timeout: Duration,
}

impl AgentConfig {
    /// A configuration scanning `/` with default timings.
    pub fn new(
        server: impl Into<String>,
        ca_pem: impl Into<Vec<u8>>,
        state_dir: impl Into<PathBuf>,
    ) -> AgentConfig {
        AgentConfig {
            server: server.into(),
            ca_pem: ca_pem.into(),
            state_dir: state_dir.into(),
            enrol_secret: None,
            tags: BTreeMap::new(),
            root: PathBuf::from("/"),
            scan_only: false,
            allow_commands: false,
            hooks: Hooks::default(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            refresh_timeout: Duration::from_secs(600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_trimmed_and_never_shown() {
        let mut config = AgentConfig::new("https://s:1", b"pem".to_vec(), "/tmp/x");
        config.enrol_secret = Some(EnrolSecret::new("ple_abc\n"));
        assert_eq!(config.enrol_secret.as_ref().unwrap().expose(), "ple_abc");
        let shown = format!("{config:?}");
        assert!(!shown.contains("ple_abc"), "{shown}");
    }
}
