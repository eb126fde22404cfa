//! The agent's state directory: the node credential the server issued at
//! enrolment, kept in `credential.json` with mode 0600, and the work
//! journal (see [`crate::checkin::journal`]). A credential file that exists
//! but cannot be used is an error and is never overwritten: enrolling again
//! over it would silently orphan the node the server knows.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name of the credential under the state directory.
pub const CREDENTIAL_FILE: &str = "credential.json";
/// Locked by the agent process that runs work with the directory.
pub const LOCK_FILE: &str = "agent.lock";

/// What enrolment gave this node. `Debug` never shows the credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredCredential {
    /// The server that issued it (the `--server` URL).
    pub server: String,
    pub node_id: String,
    pub credential: String,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("server", &self.server)
            .field("node_id", &self.node_id)
            .field("credential", &"<redacted>")
            .finish()
    }
}

/// Why the state directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {path}: {cause}")]
    CreateDir { path: PathBuf, cause: io::Error },
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: io::Error },
    #[error(
        "{path} is not a usable credential file: {reason}. It was left untouched; \
         restore it, or remove it to enrol this node again"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{path} is accessible to other users (mode {mode:04o}); it holds the node \
         credential: run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
    #[error("{path} already exists: refusing to overwrite a node credential")]
    AlreadyExists { path: PathBuf },
    #[error(
        "{path} is not a usable work journal: {reason}. It was left untouched; restore \
         it, or remove it (the work it lists could then run a second time)"
    )]
    CorruptJournal { path: PathBuf, reason: String },
    #[error(
        "another patchline-agent process is using {path} (it holds {lock}): one agent \
         per state directory, or work could be reported interrupted while it runs"
    )]
    Locked { path: PathBuf, lock: PathBuf },
}

/// Held while a process may run work with the state directory; released
/// when dropped (or when the process dies, by the kernel).
#[derive(Debug)]
pub struct StateLock {
    _file: fs::File,
}

/// The directory the agent keeps its state in.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>) -> StateDir {
        StateDir { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn credential_path(&self) -> PathBuf {
        self.dir.join(CREDENTIAL_FILE)
    }

    /// Creates the directory (mode 0700) if it does not exist.
    pub fn prepare(&self) -> Result<(), StateError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|cause| StateError::CreateDir {
                path: self.dir.clone(),
                cause,
            })
    }

    /// Takes the directory's lock (creating the directory), or fails at
    /// once when another process holds it.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        self.prepare()?;
        let lock = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock)
            .map_err(|cause| StateError::Write {
                path: lock.clone(),
                cause,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(StateError::Locked {
                path: self.dir.clone(),
                lock,
            }),
            Err(fs::TryLockError::Error(cause)) => Err(StateError::Write { path: lock, cause }),
        }
    }

    /// The stored credential; `None` when the node has not enrolled yet.
    pub fn load_credential(&self) -> Result<Option<StoredCredential>, StateError> {
        let path = self.credential_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(cause) if cause.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => return Err(StateError::Read { path, cause }),
        };
        let mode = fs::metadata(&path)
            .map_err(|cause| StateError::Read {
                path: path.clone(),
                cause,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(StateError::TooOpen { path, mode });
        }
        let stored: StoredCredential =
            serde_json::from_slice(&bytes).map_err(|error| StateError::Corrupt {
                path: path.clone(),
                reason: format!("invalid JSON ({error})"),
            })?;
        for (field, value) in [
            ("server", &stored.server),
            ("node_id", &stored.node_id),
            ("credential", &stored.credential),
        ] {
            if value.trim().is_empty() {
                return Err(StateError::Corrupt {
                    path,
                    reason: format!("field `{field}` is empty"),
                });
            }
        }
        Ok(Some(stored))
    }

    /// Writes the credential (mode 0600, the directory 0700 when created).
    /// Refuses to replace an existing file; the write is atomic, so a crash
    /// leaves either no credential or the whole one.
    pub fn store_credential(&self, stored: &StoredCredential) -> Result<(), StateError> {
        self.write_atomically(CREDENTIAL_FILE, stored, |temporary, path| {
            // A hard link fails when the target exists, unlike a rename:
            // two agents racing on one directory cannot clobber each other.
            fs::hard_link(temporary, path).map_err(|cause| {
                if cause.kind() == io::ErrorKind::AlreadyExists {
                    StateError::AlreadyExists {
                        path: path.to_path_buf(),
                    }
                } else {
                    StateError::Write {
                        path: path.to_path_buf(),
                        cause,
                    }
                }
            })
        })
    }

    /// Replaces the stored credential on purpose (the same node under a new
    /// server address, as `patchline up` does after a port change). Atomic:
    /// the old file stays whole until the new one takes its place.
    pub fn replace_credential(&self, stored: &StoredCredential) -> Result<(), StateError> {
        self.replace_file(CREDENTIAL_FILE, stored)
    }

    /// Replaces `file` under the directory with `value` as JSON (mode
    /// 0600), atomically: readers see the old file or the new one, whole.
    pub(crate) fn replace_file(
        &self,
        file: &str,
        value: &impl Serialize,
    ) -> Result<(), StateError> {
        self.write_atomically(file, value, |temporary, path| {
            fs::rename(temporary, path).map_err(|cause| StateError::Write {
                path: path.to_path_buf(),
                cause,
            })
        })
    }

    /// Writes a private temporary file beside `file`, lets `install` put
    /// it in place, and persists the directory entry.
    fn write_atomically(
        &self,
        file: &str,
        stored: &impl Serialize,
        install: impl FnOnce(&Path, &Path) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.prepare()?;
        let path = self.dir.join(file);
        let temporary = self.dir.join(format!(".{file}.{}.tmp", std::process::id()));
        let result =
            write_new_private(&temporary, stored).and_then(|()| install(&temporary, &path));
        let _ = fs::remove_file(&temporary);
        result?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

fn write_new_private(path: &Path, stored: &impl Serialize) -> Result<(), StateError> {
    let write_error = |cause| StateError::Write {
        path: path.to_path_buf(),
        cause,
    };
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_error)?;
    // The umask can only clear bits; set 0600 explicitly anyway.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(write_error)?;
    let json = serde_json::to_vec_pretty(stored).map_err(|error| StateError::Write {
        path: path.to_path_buf(),
        cause: io::Error::other(error),
    })?;
    file.write_all(&json).map_err(write_error)?;
    file.write_all(b"\n").map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> StoredCredential {
        StoredCredential {
            server: "https://127.0.0.1:8443".into(),
            node_id: "n1".into(),
            credential: "pln_secretvalue".into(),
        }
    }

    #[test]
    fn a_missing_file_means_not_enrolled() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        assert!(state.load_credential().unwrap().is_none());
    }

    #[test]
    fn the_credential_round_trips_with_mode_0600_in_a_0700_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.store_credential(&credential()).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state.credential_path()), 0o600);
        assert_eq!(mode(state.path()), 0o700);
        assert_eq!(state.load_credential().unwrap(), Some(credential()));
        let leftovers: Vec<_> = fs::read_dir(state.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [CREDENTIAL_FILE], "no temporary file left");
    }

    #[test]
    fn an_existing_credential_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.store_credential(&credential()).unwrap();
        let other = StoredCredential {
            node_id: "n2".into(),
            ..credential()
        };
        let error = state.store_credential(&other).unwrap_err();
        assert!(matches!(error, StateError::AlreadyExists { .. }), "{error}");
        assert_eq!(state.load_credential().unwrap(), Some(credential()));
    }

    #[test]
    fn a_deliberate_replacement_keeps_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.store_credential(&credential()).unwrap();
        let moved = StoredCredential {
            server: "https://127.0.0.1:9443".into(),
            ..credential()
        };
        state.replace_credential(&moved).unwrap();
        assert_eq!(state.load_credential().unwrap(), Some(moved));
        let mode = fs::metadata(state.credential_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error_and_stays_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let path = state.credential_path();
        fs::write(&path, b"{\"server\": \"https://x\", \"node_id\": ").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let error = state.load_credential().unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StateError::Corrupt { .. }), "{message}");
        assert!(message.contains("credential.json"), "{message}");
        assert!(message.contains("left untouched"), "{message}");
        let error = state.store_credential(&credential()).unwrap_err();
        assert!(matches!(error, StateError::AlreadyExists { .. }), "{error}");
        assert_eq!(
            fs::read(&path).unwrap(),
            b"{\"server\": \"https://x\", \"node_id\": "
        );
    }

    #[test]
    fn an_empty_field_or_unknown_field_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let path = state.credential_path();
        for text in [
            r#"{"server":"https://x","node_id":"n","credential":" "}"#,
            r#"{"server":"https://x","node_id":"n","credential":"c","extra":1}"#,
        ] {
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let error = state.load_credential().unwrap_err();
            assert!(matches!(error, StateError::Corrupt { .. }), "{error}");
        }
    }

    #[test]
    fn a_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.store_credential(&credential()).unwrap();
        let path = state.credential_path();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = state.load_credential().unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    #[test]
    fn one_process_holds_the_lock_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let held = state.lock().unwrap();
        let error = state.lock().unwrap_err();
        assert!(matches!(error, StateError::Locked { .. }), "{error}");
        assert!(
            error.to_string().contains("another patchline-agent"),
            "{error}"
        );
        drop(held);
        state.lock().unwrap();
    }

    #[test]
    fn debug_output_hides_the_credential() {
        let shown = format!("{:?}", credential());
        assert!(!shown.contains("pln_secretvalue"), "{shown}");
        assert!(shown.contains("n1"), "{shown}");
    }
}
