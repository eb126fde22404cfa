//! Isolated node roots driven by the real package managers: [`AptRoot`]
//! (apt-get + dpkg), [`DnfRoot`] (dnf + rpm) and [`ZypperRoot`] (zypper +
//! rpm). Each keeps every database, cache, lock and log inside its own
//! directory, so several roots work side by side and the host's package
//! databases are never touched.

mod apt;
mod dnf;
mod rootfs;
mod rpmdb;
mod zypper;

use std::path::Path;

pub use apt::{AptRoot, AptRootOptions};
pub use dnf::{DnfRoot, DnfRootOptions};
pub use rootfs::{OsRelease, SHELL_APPLETS};
pub use rpmdb::{BASE_PACKAGE, RpmRepoEntry};
pub use zypper::{ZypperRoot, ZypperRootOptions};

use crate::command::CommandOutput;
use crate::error::Result;

/// One entry of a root's package database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    pub name: String,
    pub arch: String,
    /// dpkg's version, or rpm's `[epoch:]version-release`.
    pub version: String,
    /// dpkg's status (`installed`, `half-configured`, `config-files`...);
    /// always `installed` for rpm.
    pub state: String,
}

/// What every node root offers, whatever its package manager.
pub trait PackageRoot {
    /// The root directory (absolute).
    fn path(&self) -> &Path;

    /// Fetches the repositories' metadata again (`apt-get update`,
    /// `dnf makecache`, `zypper refresh`); fails unless the tool succeeds.
    fn refresh(&self) -> Result<CommandOutput>;

    /// Installs or upgrades packages given as the tool takes them (`name`,
    /// `name=1.0-1` for apt and zypper, `name-1.0-1` for dnf); fails unless
    /// the tool succeeds.
    fn install(&self, specs: &[&str]) -> Result<CommandOutput>;

    /// Installs exactly `version` of `name` from the repositories.
    fn install_version(&self, name: &str, version: &str) -> Result<CommandOutput>;

    /// Installs package files directly with the low-level tool (`dpkg -i`,
    /// `rpm -i`), without repositories.
    fn install_files(&self, files: &[&Path]) -> Result<CommandOutput>;

    /// Every entry of the root's package database, sorted by name and arch.
    fn installed(&self) -> Result<Vec<InstalledPackage>>;

    /// The installed version of `name` (any architecture), if installed.
    fn installed_version(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .installed()?
            .into_iter()
            .find(|package| package.name == name && package.state == "installed")
            .map(|package| package.version))
    }
}

/// Parses `name\tarch\tversion\tstate` lines (the query formats the roots
/// use) into sorted entries.
pub(crate) fn parse_installed(output: &CommandOutput) -> Result<Vec<InstalledPackage>> {
    let mut packages = Vec::new();
    for (index, line) in output.stdout.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, arch, version, state] = fields[..] else {
            return Err(crate::TestkitError::UnexpectedOutput {
                command: output.command.clone(),
                line: index + 1,
                text: line.to_owned(),
            });
        };
        packages.push(InstalledPackage {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: version.to_owned(),
            state: state.to_owned(),
        });
    }
    packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    Ok(packages)
}

/// Refuses paths the harness writes into tool configuration files, where a
/// quote or newline would change the configuration's meaning.
pub(crate) fn config_safe_path(path: &Path) -> Result<()> {
    let text = path.to_string_lossy();
    if text.contains(['"', '\n', '\r', ' ', ';', '{', '}']) {
        return Err(crate::TestkitError::Invalid {
            field: "node root path",
            value: text.into_owned(),
            reason: "is written into package-manager configuration: no quotes, spaces, `;{}` or newlines",
        });
    }
    Ok(())
}
