//! The login state kept between commands: which server, how to trust it,
//! and the session token, in `credentials.json` under the config directory
//! (`$PATCHLINE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/patchline`, else
//! `~/.config/patchline`). The file holds a bearer token, so it is written
//! with mode 0600 and replaced atomically.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use patchline_api::auth::Role;
use serde::{Deserialize, Serialize};

const FILE_NAME: &str = "credentials.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Base URL, e.g. `https://patchline.example:8443`.
    pub server: String,
    /// The PEM file trusted for the server; `None` means the web PKI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<PathBuf>,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Who logged in, kept to explain refusals without another request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The directory holding `credentials.json`.
pub fn config_dir() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = var("PATCHLINE_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("patchline"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("patchline")),
        None => bail!("cannot find a config directory: set PATCHLINE_CONFIG_DIR or HOME"),
    }
}

pub fn default_path() -> Result<PathBuf> {
    Ok(config_dir()?.join(FILE_NAME))
}

impl Credentials {
    /// Reads the file; `Ok(None)` when nobody is logged in.
    pub fn load(path: &Path) -> Result<Option<Credentials>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let credentials = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid credentials file", path.display()))?;
        Ok(Some(credentials))
    }

    /// Writes the file with mode 0600 (through a temporary file renamed into
    /// place, so a crash never leaves half a token behind).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .with_context(|| format!("{} has no parent directory", path.display()))?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let temporary = dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
        let json = serde_json::to_string_pretty(self)?;
        let write = || -> std::io::Result<()> {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)?;
            // The mode above applies only to a new file; force it anyway.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(json.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&temporary, path)
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }

    /// Removes the file; `Ok(false)` when there was none.
    pub fn remove(path: &Path) -> Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials {
            server: "https://127.0.0.1:8443".into(),
            ca_cert_path: Some(PathBuf::from("/var/lib/patchline/tls/cert.pem")),
            token: "plo_secret".into(),
            expires_at: Some("2030-01-01T00:00:00Z".parse().unwrap()),
            username: Some("admin".into()),
            role: Some(Role::Admin),
        }
    }

    #[test]
    fn saves_with_mode_0600_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        assert_eq!(Credentials::load(&path).unwrap(), None);
        sample().save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Credentials::load(&path).unwrap(), Some(sample()));
        // Replacing keeps the mode and leaves no temporary file.
        let mut other = sample();
        other.token = "plo_other".into();
        other.save(&path).unwrap();
        assert_eq!(
            Credentials::load(&path).unwrap().unwrap().token,
            "plo_other"
        );
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        assert!(Credentials::remove(&path).unwrap());
        assert!(!Credentials::remove(&path).unwrap());
    }

    #[test]
    fn a_corrupt_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "{not json").unwrap();
        let error = format!("{:#}", Credentials::load(&path).unwrap_err());
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    #[test]
    fn expiry_is_compared_with_now() {
        let credentials = sample();
        assert!(!credentials.is_expired("2029-12-31T23:59:59Z".parse().unwrap()));
        assert!(credentials.is_expired("2030-01-01T00:00:00Z".parse().unwrap()));
        let never = Credentials {
            expires_at: None,
            ..sample()
        };
        assert!(!never.is_expired(Timestamp::MAX));
    }
}
