//! The one error type of the harness. Every variant names what failed (the
//! tool and the Debian package that provides it, the file, the command line
//! with its full output) so a failing test says what to fix.

use std::path::PathBuf;

/// Why a harness operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(
        "`{program}` is not installed (not found on PATH): install the Debian package `{package}` \
         (scripts/test installs every tool the harness drives with apt-get)"
    )]
    MissingTool {
        program: &'static str,
        package: &'static str,
    },
    #[error(
        "{what} needs root privileges: dpkg and rpm chroot into the node root to run maintainer \
         scripts and set file ownership; run the tests as root (scripts/test does in CI)"
    )]
    NotRoot { what: String },
    #[error(
        "{path} is not a statically linked busybox; node roots need one as their /bin/sh: \
         install the Debian package `busybox-static`"
    )]
    NoStaticBusybox { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stdout: String,
        stderr: String,
    },
    #[error("{command}: unexpected output line {line}: {text:?}")]
    UnexpectedOutput {
        command: String,
        line: usize,
        text: String,
    },
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// Attaches the path to an I/O error.
pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TestkitError {
    let path = path.into();
    move |source| TestkitError::Io { path, source }
}
