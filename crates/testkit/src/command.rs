//! Running the real tools: which Debian package provides each one (so a
//! missing tool fails with the package to install, never a silent skip),
//! commands with a fixed locale, and their captured result.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TestkitError};

/// A program the harness drives, with the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    DpkgDeb,
    Dpkg,
    DpkgQuery,
    AptGet,
    AptCache,
    AptMark,
    AptFtparchive,
    Rpm,
    Rpmbuild,
    CreaterepoC,
    ModifyrepoC,
    Dnf,
    Zypper,
    Busybox,
}

impl Tool {
    /// The program name looked up on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Tool::DpkgDeb => "dpkg-deb",
            Tool::Dpkg => "dpkg",
            Tool::DpkgQuery => "dpkg-query",
            Tool::AptGet => "apt-get",
            Tool::AptCache => "apt-cache",
            Tool::AptMark => "apt-mark",
            Tool::AptFtparchive => "apt-ftparchive",
            Tool::Rpm => "rpm",
            Tool::Rpmbuild => "rpmbuild",
            Tool::CreaterepoC => "createrepo_c",
            Tool::ModifyrepoC => "modifyrepo_c",
            Tool::Dnf => "dnf",
            Tool::Zypper => "zypper",
            Tool::Busybox => "busybox",
        }
    }

    /// The Debian (bookworm) package that installs the program.
    pub fn debian_package(self) -> &'static str {
        match self {
            Tool::DpkgDeb | Tool::Dpkg | Tool::DpkgQuery => "dpkg",
            Tool::AptGet | Tool::AptCache | Tool::AptMark => "apt",
            Tool::AptFtparchive => "apt-utils",
            Tool::Rpm => "rpm",
            Tool::Rpmbuild => "rpm",
            Tool::CreaterepoC | Tool::ModifyrepoC => "createrepo-c",
            Tool::Dnf => "dnf",
            Tool::Zypper => "zypper",
            Tool::Busybox => "busybox-static",
        }
    }

    /// The program's full path, or [`TestkitError::MissingTool`].
    pub fn locate(self) -> Result<PathBuf> {
        self.locate_in(std::env::var_os("PATH").as_deref())
    }

    /// [`Tool::locate`] in the directories of `path_var` (a `PATH` value).
    fn locate_in(self, path_var: Option<&OsStr>) -> Result<PathBuf> {
        let missing = TestkitError::MissingTool {
            program: self.program(),
            package: self.debian_package(),
        };
        let Some(path_var) = path_var else {
            return Err(missing);
        };
        std::env::split_paths(path_var)
            .map(|dir| dir.join(self.program()))
            .find(|candidate| is_executable(candidate))
            .ok_or(missing)
    }

    /// A command for the program with the harness's fixed environment: the C
    /// locale and UTC (outputs are parsed), no interactive front ends, and a `PATH`
    /// that has the sbin directories (dpkg refuses to run without
    /// `ldconfig` and `start-stop-daemon` on it; chrooted scripts inherit it).
    pub fn command(self) -> Result<Command> {
        let mut command = Command::new(self.locate()?);
        command
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("TZ", "UTC")
            .env("PATH", tool_path());
        Ok(command)
    }
}

const STANDARD_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The process's `PATH` with the standard directories it lacks appended.
fn tool_path() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    for dir in STANDARD_PATH {
        if !dirs.iter().any(|known| known == Path::new(dir)) {
            dirs.push(PathBuf::from(dir));
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| STANDARD_PATH.join(":").into())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Fails with [`TestkitError::NotRoot`] unless the process runs as root.
pub fn require_root(what: &str) -> Result<()> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(TestkitError::NotRoot {
            what: what.to_owned(),
        })
    }
}

/// What a finished command did. A non-zero exit is not an error here: some
/// exits carry meaning (`dnf check-update` exits 100 when updates exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The command line with the environment the harness set, for messages.
    pub command: String,
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `Ok(self)` on exit 0, otherwise [`TestkitError::CommandFailed`] with
    /// the whole output.
    pub fn ensure_success(self) -> Result<CommandOutput> {
        self.ensure_code(&[0])
    }

    /// `Ok(self)` when the exit code is one of `codes`.
    pub fn ensure_code(self, codes: &[i32]) -> Result<CommandOutput> {
        match self.code {
            Some(code) if codes.contains(&code) => Ok(self),
            _ => Err(TestkitError::CommandFailed {
                status: match self.code {
                    Some(code) => format!("exit code {code}, expected {codes:?}"),
                    None => "killed by a signal".to_owned(),
                },
                command: self.command,
                stdout: self.stdout,
                stderr: self.stderr,
            }),
        }
    }
}

/// Runs `command` to completion, capturing its output.
pub fn run(command: &mut Command) -> Result<CommandOutput> {
    let rendered = render(command);
    let output = command.output().map_err(|source| TestkitError::Spawn {
        command: rendered.clone(),
        source,
    })?;
    Ok(CommandOutput {
        command: rendered,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `command` and fails unless it exits 0.
pub fn run_ok(command: &mut Command) -> Result<CommandOutput> {
    run(command)?.ensure_success()
}

/// `VAR=value program args...`, showing only the variables set on the command
/// (the ones [`Tool::command`] always sets left out).
pub fn render(command: &Command) -> String {
    let mut line = String::new();
    for (key, value) in command.get_envs() {
        if matches!(
            key.to_str(),
            Some("LC_ALL" | "LANG" | "DEBIAN_FRONTEND" | "TZ" | "PATH")
        ) {
            continue;
        }
        if let Some(value) = value {
            let _ = write!(line, "{}={} ", key.display(), quoted(value));
        }
    }
    line.push_str(&quoted(command.get_program()));
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&quoted(arg));
    }
    line
}

fn quoted(text: &OsStr) -> String {
    let text = text.to_string_lossy();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_debian_package() {
        let empty = tempfile::tempdir().unwrap();
        let error = Tool::CreaterepoC
            .locate_in(Some(empty.path().as_os_str()))
            .unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, TestkitError::MissingTool { .. }),
            "{message}"
        );
        assert!(
            message.contains("`createrepo_c` is not installed"),
            "{message}"
        );
        assert!(
            message.contains("Debian package `createrepo-c`"),
            "{message}"
        );
    }

    #[test]
    fn locates_a_tool_on_path() {
        let dpkg = Tool::Dpkg.locate().unwrap();
        assert!(dpkg.ends_with("dpkg"), "{}", dpkg.display());
    }

    #[test]
    fn renders_environment_and_quotes_arguments() {
        let mut command = Command::new("apt-get");
        command
            .env("APT_CONFIG", "/r/apt.conf")
            .args(["-o", "a b", "it's"]);
        assert_eq!(
            render(&command),
            r"APT_CONFIG=/r/apt.conf apt-get -o 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn unexpected_exit_codes_carry_the_output() {
        let output =
            run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(output.code, Some(3));
        let error = output.clone().ensure_success().unwrap_err().to_string();
        assert!(error.contains("exit code 3"), "{error}");
        assert!(error.contains("out") && error.contains("err"), "{error}");
        assert!(output.ensure_code(&[0, 3]).is_ok());
    }
}
