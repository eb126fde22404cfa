//! The dnf/rpm driver (RHEL-compatible, Fedora, Amazon Linux): the real
//! `dnf` and `rpm` working on the node root.
//!
//! For `/` dnf runs as the host has it configured. For any other root the
//! driver passes its own option set: `--installroot=<root>` (cache, logs,
//! history and locks under the root), `--config=<root>/etc/dnf/dnf.conf`
//! and `--setopt=reposdir=<root>/etc/yum.repos.d` (absolute host paths on
//! the command line: without them dnf reads the host's), `--releasever`
//! from the root's os-release (`VERSION_ID` up to the first dot; nothing
//! in a bare rpmdb provides `system-release`), `--noplugins` (the host's
//! plugins have no business in the root), and a private `HOME` whose
//! `.rpmmacros` names the root's database path (see [`super::rpm_family`]).
//!
//! Installs name every target as `name-[epoch:]version-release.arch` with
//! `dnf install` (which upgrades an installed package to exactly that
//! build), never a bare `upgrade`; weak dependencies are off. Rejected
//! (`block`) names are excluded for the call (`--exclude`), so no
//! dependency resolution can pull their new builds in. dnf has no holds of
//! its own: `versionlock` is a plugin that may be absent (and plugins are
//! off in foreign roots), so holds are per call only and [`held`] reports
//! none. Failing calls are retried target by target; `%post` failures are
//! read from rpm's warnings (dnf exits 0 for them).
//!
//! [`held`]: PackageDriver::held

use std::time::Duration;

use super::command::{self, CommandRecord};
use super::rpm_family::{self, RpmDatabase};
use super::{DriverError, DriverTimeouts, InstallOutcome, PackageDriver, Repair, Target};
use crate::apt::InterruptedPackage;
use crate::root::NodeRoot;

/// dnf and rpm working on one node root.
#[derive(Debug)]
pub struct DnfDriver {
    database: RpmDatabase,
    timeouts: DriverTimeouts,
    /// The options after `dnf` that confine it to the root (empty on `/`).
    root_args: Vec<String>,
}

impl DnfDriver {
    /// A driver for `root`; `version_id` is the os-release `VERSION_ID`
    /// (dnf's `$releasever` comes from its major part).
    pub fn new(
        root: &NodeRoot,
        version_id: &str,
        timeouts: DriverTimeouts,
    ) -> Result<DnfDriver, DriverError> {
        let database = RpmDatabase::open(root)?;
        let mut root_args = Vec::new();
        if let Some(private) = database.private_dir() {
            let path = root
                .path()
                .canonicalize()
                .map_err(|error| DriverError::Setup {
                    action: "resolving the node root".to_owned(),
                    message: error.to_string(),
                })?;
            // No dnf.conf in the root: an empty one of ours, never the host's.
            let config = match rpm_family::existing_in_root(root, "/etc/dnf/dnf.conf") {
                Some(config) => config,
                None => {
                    let empty = private.join("dnf.conf");
                    std::fs::write(&empty, "[main]\n").map_err(|error| DriverError::Setup {
                        action: "writing an empty dnf.conf".to_owned(),
                        message: error.to_string(),
                    })?;
                    empty
                }
            };
            let releasever = version_id.split('.').next().unwrap_or_default();
            root_args.push(format!("--installroot={}", path.display()));
            if !releasever.is_empty() {
                root_args.push(format!("--releasever={releasever}"));
            }
            root_args.push(format!("--config={}", config.display()));
            root_args.push(format!(
                "--setopt=reposdir={}",
                path.join("etc/yum.repos.d").display()
            ));
            root_args.push("--noplugins".to_owned());
        }
        Ok(DnfDriver {
            database,
            timeouts,
            root_args,
        })
    }

    /// The node root this driver works on.
    pub fn root(&self) -> &NodeRoot {
        self.database.root()
    }

    fn dnf(&self) -> std::process::Command {
        let mut dnf = self.database.tool("dnf");
        dnf.args(&self.root_args).arg("--assumeyes");
        dnf
    }

    fn install_call(
        &self,
        targets: &[&Target],
        excluded: &[String],
    ) -> Result<CommandRecord, DriverError> {
        let mut dnf = self.dnf();
        dnf.args(["install", "--setopt=install_weak_deps=False"]);
        dnf.args(excluded.iter().map(|name| format!("--exclude={name}")));
        dnf.args(targets.iter().map(|target| rpm_family::nevra(target)));
        Ok(command::run(&mut dnf, self.timeouts.install)?)
    }
}

impl PackageDriver for DnfDriver {
    fn name(&self) -> &'static str {
        "dnf"
    }

    fn refresh(&self, timeout: Duration) -> Result<CommandRecord, DriverError> {
        let mut makecache = self.dnf();
        // A repository that cannot be read fails the refresh whatever the
        // node's own `skip_if_unavailable` says.
        makecache.args([
            "makecache",
            "--refresh",
            "--setopt=skip_if_unavailable=False",
        ]);
        let record = command::run(&mut makecache, timeout)?;
        if record.succeeded() {
            Ok(record)
        } else {
            Err(DriverError::Failed(record))
        }
    }

    fn held(&self) -> Result<Vec<String>, DriverError> {
        Ok(Vec::new())
    }

    fn hold(&self, _names: &[String]) -> Result<CommandRecord, DriverError> {
        Err(DriverError::Unsupported {
            driver: "dnf",
            action: "persistent holds (versionlock is an optional plugin); rejected packages are excluded per install call",
        })
    }

    fn unhold(&self, names: &[String]) -> Result<CommandRecord, DriverError> {
        self.hold(names)
    }

    fn install_exact(
        &self,
        targets: &[Target],
        excluded: &[String],
    ) -> Result<InstallOutcome, DriverError> {
        let mut outcome = InstallOutcome {
            results: Vec::new(),
            commands: Vec::new(),
            repairs: Vec::new(),
            held: Vec::new(),
        };
        if targets.is_empty() {
            return Ok(outcome);
        }
        // A target is never excluded: that would make it uninstallable.
        let mut exclude: Vec<String> = excluded
            .iter()
            .filter(|name| !targets.iter().any(|t| &t.name == *name))
            .cloned()
            .collect();
        exclude.sort();
        exclude.dedup();
        outcome.held.clone_from(&exclude);
        rpm_family::install_with_retries(
            &self.database,
            targets,
            &mut outcome,
            self.timeouts.install,
            &|batch| self.install_call(batch, &exclude),
            &CommandRecord::succeeded,
        )?;
        Ok(outcome)
    }

    fn interrupted(&self) -> Result<Vec<InterruptedPackage>, DriverError> {
        self.database.interrupted()
    }

    fn repair(&self) -> Result<Repair, DriverError> {
        self.database.repair(self.timeouts.install)
    }
}
