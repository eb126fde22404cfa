//! The zypper/rpm driver (SLES, openSUSE): the real `zypper` and `rpm`
//! working on the node root.
//!
//! For `/` zypper runs as the host has it configured. For any other root
//! the driver passes `--root <root>` (repositories, caches, locks file and
//! history under the root; rpm run with `--root`) and moves what `--root`
//! leaves on the host through the environment: `ZYPP_CONF` (the root's
//! `zypp.conf`, or an empty one of ours), `ZYPP_LOGFILE` (under the root's
//! `/var/log`), `ZYPP_LOCKFILE_ROOT` (the `zypp.pid` lock inside the root,
//! so roots side by side do not wait on each other or on the host),
//! `ZYPPTMPDIR`/`TMPDIR` and `HOME` (private; see [`super::rpm_family`]).
//! zypper still reads the host's read-only `/etc/zypp/zypper.conf`.
//!
//! Installs are `zypper --non-interactive install --oldpackage
//! --no-recommends name[.arch]=[epoch:]version-release`: exactly those
//! builds, nothing else. Rejected (`block`) names get a lock
//! (`zypper addlock`) for the call; only the locks the driver added are
//! removed afterwards, the node's own stay. zypper runs one rpm transaction
//! per package, and exits 107 when a scriptlet failed (the install itself
//! went through) and 102/103 for "reboot"/"restart zypper" notices: those
//! exits count as completed calls.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::command::{self, CommandRecord};
use super::rpm_family::{self, RpmDatabase};
use super::{DriverError, DriverTimeouts, InstallOutcome, PackageDriver, Repair, Target};
use crate::apt::InterruptedPackage;
use crate::root::NodeRoot;

/// zypper's exits that still mean "the packages were installed": 102
/// reboot needed, 103 zypper itself updated, 107 a scriptlet failed.
const COMPLETED_EXITS: [i32; 4] = [0, 102, 103, 107];
/// zypper's locks file, root-relative.
const LOCKS_FILE: &str = "/etc/zypp/locks";

/// zypper and rpm working on one node root.
#[derive(Debug)]
pub struct ZypperDriver {
    database: RpmDatabase,
    timeouts: DriverTimeouts,
    /// `None` on the live host.
    isolation: Option<ZypperIsolation>,
}

#[derive(Debug)]
struct ZypperIsolation {
    root: PathBuf,
    conf: PathBuf,
    /// The driver's private temporary directory.
    tmp: PathBuf,
}

impl ZypperDriver {
    /// A driver for `root`: plain zypper for `/`, the isolation described
    /// in the module documentation for any other root.
    pub fn new(root: &NodeRoot, timeouts: DriverTimeouts) -> Result<ZypperDriver, DriverError> {
        let database = RpmDatabase::open(root)?;
        let setup = |action: &str, error: std::io::Error| DriverError::Setup {
            action: action.to_owned(),
            message: error.to_string(),
        };
        let isolation = match database.private_dir() {
            None => None,
            Some(private) => {
                let path = root
                    .path()
                    .canonicalize()
                    .map_err(|error| setup("resolving the node root", error))?;
                let conf = match rpm_family::existing_in_root(root, "/etc/zypp/zypp.conf") {
                    Some(conf) => conf,
                    None => {
                        let empty = private.join("zypp.conf");
                        std::fs::write(&empty, "[main]\n")
                            .map_err(|error| setup("writing an empty zypp.conf", error))?;
                        empty
                    }
                };
                Some(ZypperIsolation {
                    root: path,
                    conf,
                    tmp: private.join("tmp"),
                })
            }
        };
        Ok(ZypperDriver {
            database,
            timeouts,
            isolation,
        })
    }

    /// The node root this driver works on.
    pub fn root(&self) -> &NodeRoot {
        self.database.root()
    }

    fn zypper(&self) -> std::process::Command {
        let mut zypper = self.database.tool("zypper");
        if let Some(isolation) = &self.isolation {
            zypper
                .env("ZYPP_CONF", &isolation.conf)
                .env("ZYPP_LOGFILE", isolation.root.join("var/log/zypper.log"))
                .env("ZYPP_LOCKFILE_ROOT", &isolation.root)
                .env("ZYPPTMPDIR", &isolation.tmp)
                .arg("--root")
                .arg(&isolation.root);
        }
        zypper.arg("--non-interactive");
        zypper
    }

    fn install_call(&self, targets: &[&Target]) -> Result<CommandRecord, DriverError> {
        let mut zypper = self.zypper();
        zypper.args(["install", "--oldpackage", "--no-recommends"]);
        zypper.args(targets.iter().map(|target| install_spec(target)));
        Ok(command::run(&mut zypper, self.timeouts.install)?)
    }

    fn lock_call(&self, action: &str, names: &[String]) -> Result<CommandRecord, DriverError> {
        let mut zypper = self.zypper();
        zypper.arg(action).args(names);
        let record = command::run(&mut zypper, self.timeouts.short)?;
        if record.succeeded() {
            Ok(record)
        } else {
            Err(DriverError::Failed(record))
        }
    }
}

/// `name=version`, or `name.arch=version` for an arch-specific build.
fn install_spec(target: &Target) -> String {
    if target.arch.is_empty() {
        format!("{}={}", target.name, target.version)
    } else {
        format!("{}.{}={}", target.name, target.arch, target.version)
    }
}

fn completed(record: &CommandRecord) -> bool {
    !record.timed_out
        && record
            .exit_code
            .is_some_and(|code| COMPLETED_EXITS.contains(&code))
}

/// Package names locked by `solvable_name` in a zypp locks file (stanzas
/// of `key: value` lines separated by blank lines).
fn parse_locks(text: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    for stanza in text.split("\n\n") {
        let mut kind = "package";
        let mut name = None;
        for line in stanza.lines() {
            match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("type", value)) => kind = value,
                Some(("solvable_name", value)) => name = Some(value),
                _ => {}
            }
        }
        if let Some(name) = name.filter(|_| kind == "package") {
            names.insert(name.to_owned());
        }
    }
    names.into_iter().collect()
}

impl PackageDriver for ZypperDriver {
    fn name(&self) -> &'static str {
        "zypper"
    }

    fn refresh(&self, timeout: Duration) -> Result<CommandRecord, DriverError> {
        let mut refresh = self.zypper();
        refresh.args(["refresh", "--force"]);
        let record = command::run(&mut refresh, timeout)?;
        if record.succeeded() {
            Ok(record)
        } else {
            Err(DriverError::Failed(record))
        }
    }

    fn held(&self) -> Result<Vec<String>, DriverError> {
        let locks = self
            .root()
            .read_optional(LOCKS_FILE)
            .map_err(|error| DriverError::Database(error.to_string()))?;
        Ok(locks
            .map(|bytes| parse_locks(&String::from_utf8_lossy(&bytes)))
            .unwrap_or_default())
    }

    fn hold(&self, names: &[String]) -> Result<CommandRecord, DriverError> {
        self.lock_call("addlock", names)
    }

    fn unhold(&self, names: &[String]) -> Result<CommandRecord, DriverError> {
        self.lock_call("removelock", names)
    }

    fn install_exact(
        &self,
        targets: &[Target],
        excluded: &[String],
    ) -> Result<InstallOutcome, DriverError> {
        super::install_holding_excluded(self, targets, excluded, |outcome| {
            rpm_family::install_with_retries(
                &self.database,
                targets,
                outcome,
                self.timeouts.install,
                &|batch| self.install_call(batch),
                &completed,
            )
        })
    }

    fn interrupted(&self) -> Result<Vec<InterruptedPackage>, DriverError> {
        self.database.interrupted()
    }

    fn repair(&self) -> Result<Repair, DriverError> {
        self.database.repair(self.timeouts.install)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_specs_name_the_arch_when_known() {
        let target = |arch: &str| Target {
            name: "kit".to_owned(),
            arch: arch.to_owned(),
            version: "1:1.0-2".to_owned(),
        };
        assert_eq!(install_spec(&target("")), "kit=1:1.0-2");
        assert_eq!(install_spec(&target("x86_64")), "kit.x86_64=1:1.0-2");
    }

    #[test]
    fn locks_are_read_by_solvable_name_of_package_locks() {
        let text = "\ntype: package\nmatch_type: glob\nsolvable_name: kit-editor\n\n\
                    type: pattern\nsolvable_name: base\n\n\
                    solvable_name: kit-ssl\nmatch_type: exact\n";
        assert_eq!(parse_locks(text), ["kit-editor", "kit-ssl"]);
        assert!(parse_locks("").is_empty());
    }
}
