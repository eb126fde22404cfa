//! The first start: with no operator in the database, create `admin` with
//! the configured password, or a generated one written to
//! `<data-dir>/admin-password` (mode 0600). The password never reaches a log.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use patchline_api::auth::Role;

use super::secrets;
use crate::config::ServerConfig;
use crate::store::records::NewUser;
use crate::store::{Store, StoreError};

pub const ADMIN_USERNAME: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot create the first admin: {0}")]
    Store(#[from] StoreError),
    #[error("cannot hash the admin password: {0}")]
    Hash(#[from] secrets::PasswordError),
    #[error("cannot write the admin password to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the first start did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Operators already exist; nothing was created.
    AlreadyDone,
    /// `admin` was created with the configured password.
    AdminFromConfig,
    /// `admin` was created with a generated password, written to this file.
    AdminPasswordWritten(PathBuf),
}

/// Creates the first admin when the database has no operator.
pub async fn ensure_admin(
    store: &Store,
    config: &ServerConfig,
) -> Result<Bootstrap, BootstrapError> {
    if store.user_count().await? > 0 {
        return Ok(Bootstrap::AlreadyDone);
    }
    let (password, outcome) = match &config.admin_password {
        Some(password) => (password.clone(), Bootstrap::AdminFromConfig),
        None => {
            // 24 hex digits of the random token: typeable, 96 bits.
            let generated: String = secrets::generate_token(secrets::TokenPrefix::Operator)
                .chars()
                .skip(secrets::TokenPrefix::Operator.as_str().len())
                .take(24)
                .collect();
            let path = config.admin_password_file();
            write_secret_file(&path, &generated)?;
            (generated, Bootstrap::AdminPasswordWritten(path))
        }
    };
    let user = NewUser {
        username: ADMIN_USERNAME.to_string(),
        password_hash: secrets::hash_password(&password)?,
        role: Role::Admin,
        scope: None,
    };
    store.create_user("system", user).await?;
    Ok(outcome)
}

/// Writes `text` to a file readable by its owner only.
fn write_secret_file(path: &Path, text: &str) -> Result<(), BootstrapError> {
    let fail = |source| BootstrapError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    writeln!(file, "{text}").map_err(fail)
}
