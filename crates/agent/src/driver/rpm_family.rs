//! What the dnf and zypper drivers share: the rpm database as rpm reports
//! it, the private environment that points rpm-based tools at a foreign
//! root, detection and repair of what an interrupted rpm transaction leaves,
//! scriptlet failures, and the install-then-retry-alone loop.
//!
//! *Interrupted transactions.* rpm has no half-configured state: an upgrade
//! adds the new header, runs the new `%post`, then erases the old build. A
//! transaction killed before the erase leaves both builds of a package in
//! the database. So "interrupted" means two builds of one name and arch
//! that is not install-only (kernels keep several builds on purpose). The
//! repair completes the erase step: `rpm -e --nodeps --noscripts` of every
//! older duplicate, which drops its database entry and the files the newer
//! build does not own. Its scriptlets are skipped: they were written for a
//! finished upgrade, and a failing `%preun` would keep the duplicate. This
//! was chosen over `dnf remove --duplicates` (it reinstalls the newest
//! build, which needs that build in a repository) and works the same for
//! zypper, which has no such command. An unfinished `dnf history` entry is
//! not read: the rpmdb is the truth both tools agree on.
//!
//! *Scriptlet failures.* rpm installs a package whose `%post` fails and
//! only warns (`%post(name-evr.arch) scriptlet failed, exit status 1`); dnf
//! still exits 0, zypper exits 107. The package is on the node at the new
//! version but not set up, so the target is reported failed with that line.

use std::path::{Path, PathBuf};
use std::process::Command;

use patchline_core::version::rpm::compare_evr;

use super::command::{self, CommandRecord};
use super::{DriverError, InstallOutcome, Repair, Target, TargetOutcome, TargetResult};
use crate::apt::InterruptedPackage;
use crate::root::NodeRoot;
use crate::rpm::rpmdb::{self, RpmdbEntry};

/// Package names rpm-family tools keep several builds of on purpose: dnf's
/// `installonlypkgs` and SUSE's `multiversion` defaults are the kernel
/// packages (`kernel`, `kernel-core`, `kernel-default`, `kernel-uek`...),
/// so two builds of these are not an interrupted transaction. A node's own
/// additions to those lists are not read (documented limitation).
const INSTALL_ONLY_PREFIX: &str = "kernel";

/// rpm's view of one node root, with the environment its tools need there.
#[derive(Debug)]
pub(crate) struct RpmDatabase {
    root: NodeRoot,
    /// Root-relative database directory (`/var/lib/rpm`...).
    dbpath: &'static str,
    /// `None` for the live host.
    isolation: Option<RpmIsolation>,
}

/// A private `HOME` whose `.rpmmacros` sets `%_dbpath` (dnf and zypper take
/// the database path from rpm's macros, and Debian's rpm defaults to
/// `~/.rpmdb`) and a private temporary directory.
#[derive(Debug)]
struct RpmIsolation {
    dir: tempfile::TempDir,
}

impl RpmDatabase {
    /// Finds `root`'s database; isolates the tools unless it is `/`.
    pub(crate) fn open(root: &NodeRoot) -> Result<RpmDatabase, DriverError> {
        let dbpath = rpmdb::find_dbpath(root).ok_or_else(|| DriverError::Setup {
            action: "finding the rpm database".to_owned(),
            message: format!(
                "no rpm database under {} ({})",
                root.path().display(),
                rpmdb::RPMDB_DIRS.join(", ")
            ),
        })?;
        let isolation = if root.is_live_host() {
            None
        } else {
            let setup = |message: std::io::Error| DriverError::Setup {
                action: "writing rpm's private macros".to_owned(),
                message: message.to_string(),
            };
            let dir = tempfile::Builder::new()
                .prefix("patchline-rpm-")
                .tempdir()
                .map_err(setup)?;
            std::fs::write(
                dir.path().join(".rpmmacros"),
                format!("%_dbpath {dbpath}\n"),
            )
            .and_then(|()| std::fs::create_dir(dir.path().join("tmp")))
            .map_err(setup)?;
            Some(RpmIsolation { dir })
        };
        Ok(RpmDatabase {
            root: root.clone(),
            dbpath,
            isolation,
        })
    }

    pub(crate) fn root(&self) -> &NodeRoot {
        &self.root
    }

    /// A private directory that lives as long as the driver (`None` on `/`).
    pub(crate) fn private_dir(&self) -> Option<&Path> {
        self.isolation.as_ref().map(|i| i.dir.path())
    }

    /// `program` with the locale fixed and, off the live host, the private
    /// `HOME` and `TMPDIR`.
    pub(crate) fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("LC_ALL", "C").env("LANG", "C");
        if let Some(dir) = self.private_dir() {
            command.env("HOME", dir).env("TMPDIR", dir.join("tmp"));
        }
        command
    }

    /// `rpm --root R --dbpath P`.
    pub(crate) fn rpm(&self) -> Command {
        let mut rpm = self.tool("rpm");
        rpm.arg("--root")
            .arg(self.root.path())
            .args(["--dbpath", self.dbpath]);
        rpm
    }

    pub(crate) fn installed(&self) -> Result<Vec<RpmdbEntry>, DriverError> {
        rpmdb::read_installed(&self.root).map_err(|error| DriverError::Database(error.to_string()))
    }

    /// Older builds that share a name and arch with a newer one, each with
    /// the newest build it duplicates.
    pub(crate) fn duplicates(&self) -> Result<Vec<Duplicate>, DriverError> {
        Ok(find_duplicates(&self.installed()?))
    }

    /// What an interrupted transaction left, as the install report shows it.
    pub(crate) fn interrupted(&self) -> Result<Vec<InterruptedPackage>, DriverError> {
        Ok(self
            .duplicates()?
            .into_iter()
            .map(|d| InterruptedPackage {
                state: format!(
                    "duplicate in the rpm database ({} next to {})",
                    d.older, d.newer
                ),
                name: d.name,
                arch: d.arch,
            })
            .collect())
    }

    /// Erases every older duplicate from the database (see the module
    /// documentation) with one `rpm -e` call.
    pub(crate) fn repair(&self, timeout: std::time::Duration) -> Result<Repair, DriverError> {
        let duplicates = self.duplicates()?;
        let mut erase = self.rpm();
        erase.args(["-e", "--nodeps", "--noscripts"]);
        erase.args(
            duplicates
                .iter()
                .map(|d| format!("{}-{}.{}", d.name, d.older, d.arch)),
        );
        let record = if duplicates.is_empty() {
            // Nothing to erase: record a no-op query so the report shows
            // what was checked.
            let mut check = self.rpm();
            check.arg("--verifydb");
            command::run(&mut check, timeout)?
        } else {
            command::run(&mut erase, timeout)?
        };
        let still_interrupted = self
            .duplicates()?
            .into_iter()
            .map(|d| format!("{}:{} {} next to {}", d.name, d.arch, d.older, d.newer))
            .collect();
        Ok(Repair {
            command: record,
            still_interrupted,
        })
    }
}

/// Two builds of one package in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub name: String,
    pub arch: String,
    pub older: String,
    pub newer: String,
}

fn is_install_only(name: &str) -> bool {
    name.strip_prefix(INSTALL_ONLY_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

fn find_duplicates(entries: &[RpmdbEntry]) -> Vec<Duplicate> {
    let mut by_package: std::collections::BTreeMap<(&str, &str), Vec<&str>> = Default::default();
    for entry in entries {
        let package = &entry.package;
        if !is_install_only(&package.name) {
            by_package
                .entry((&package.name, &package.arch))
                .or_default()
                .push(&package.version);
        }
    }
    let mut duplicates = Vec::new();
    for ((name, arch), mut versions) in by_package {
        if versions.len() < 2 {
            continue;
        }
        versions.sort_by(|a, b| compare_evr(a, b));
        let newer = versions[versions.len() - 1];
        for older in &versions[..versions.len() - 1] {
            duplicates.push(Duplicate {
                name: name.to_owned(),
                arch: arch.to_owned(),
                older: (*older).to_owned(),
                newer: newer.to_owned(),
            });
        }
    }
    duplicates
}

/// `name-[epoch:]version-release[.arch]`, the form dnf takes and rpm prints.
pub(crate) fn nevra(target: &Target) -> String {
    if target.arch.is_empty() {
        format!("{}-{}", target.name, target.version)
    } else {
        format!("{}-{}.{}", target.name, target.version, target.arch)
    }
}

/// Whether `entries` hold `target` at exactly its version.
pub(crate) fn is_at_target(entries: &[RpmdbEntry], target: &Target) -> bool {
    entries.iter().any(|entry| {
        let package = &entry.package;
        package.name == target.name
            && (target.arch.is_empty() || package.arch == target.arch)
            && compare_evr(&package.version, &target.version).is_eq()
    })
}

/// The rpm warning of a failed scriptlet of `target`'s build, if any.
pub(crate) fn scriptlet_failure(record: &CommandRecord, target: &Target) -> Option<String> {
    // rpm prints the NEVRA with the epoch only when there is one; targets
    // carry it the same way (`evr_string`), but accept both spellings.
    let without_epoch = target
        .version
        .split_once(':')
        .map_or(target.version.as_str(), |(_, vr)| vr);
    let prefixes = [
        format!("({}-{}", target.name, target.version),
        format!("({}-{}", target.name, without_epoch),
    ];
    [&record.stdout, &record.stderr]
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| line.contains("scriptlet failed"))
        .find(|line| {
            prefixes.iter().any(|prefix| {
                line.split_once(prefix.as_str()).is_some_and(|(_, rest)| {
                    let arch_ok =
                        target.arch.is_empty() || rest.starts_with(&format!(".{})", target.arch));
                    arch_ok && rest.starts_with(['.', ')'])
                })
            })
        })
        .map(|line| line.trim().to_owned())
}

/// The install loop both rpm drivers run: one call for every target; when
/// it fails as a whole, each target not at its version is retried alone so
/// only packages that fail by themselves are reported failed. A duplicate
/// left by a failed call is repaired at once. `run` installs the given
/// targets; `completed` tells whether a call's exit means the transaction
/// ran (zypper's 107 "a scriptlet failed" does).
pub(crate) fn install_with_retries(
    database: &RpmDatabase,
    targets: &[Target],
    outcome: &mut InstallOutcome,
    repair_timeout: std::time::Duration,
    run: &dyn Fn(&[&Target]) -> Result<CommandRecord, DriverError>,
    completed: &dyn Fn(&CommandRecord) -> bool,
) -> Result<(), DriverError> {
    let all: Vec<&Target> = targets.iter().collect();
    let joint = run(&all)?;
    let mut reasons: Vec<Option<String>> = targets
        .iter()
        .map(|target| scriptlet_failure(&joint, target))
        .collect();
    let joint_completed = completed(&joint);
    let joint_reason = joint.failure_summary();
    outcome.commands.push(joint);
    if !joint_completed {
        repair_if_needed(database, outcome, repair_timeout)?;
        let installed = database.installed()?;
        for (index, target) in targets.iter().enumerate() {
            if is_at_target(&installed, target) {
                continue;
            }
            if targets.len() == 1 {
                reasons[index] = Some(joint_reason.clone());
                continue;
            }
            let alone = run(&[target])?;
            if let Some(failure) = scriptlet_failure(&alone, target) {
                reasons[index] = Some(failure);
            } else if !completed(&alone) {
                reasons[index] = Some(alone.failure_summary());
            }
            let failed = !completed(&alone);
            outcome.commands.push(alone);
            if failed {
                repair_if_needed(database, outcome, repair_timeout)?;
            }
        }
    }
    let installed = database.installed()?;
    outcome.results = targets
        .iter()
        .zip(reasons)
        .map(|(target, reason)| TargetResult {
            target: target.clone(),
            outcome: match (is_at_target(&installed, target), reason) {
                (true, None) => TargetOutcome::Installed,
                (_, Some(reason)) => TargetOutcome::Failed { reason },
                (false, None) => TargetOutcome::Failed {
                    reason: format!("not at {} after the install", target.version),
                },
            },
        })
        .collect();
    Ok(())
}

fn repair_if_needed(
    database: &RpmDatabase,
    outcome: &mut InstallOutcome,
    timeout: std::time::Duration,
) -> Result<(), DriverError> {
    if !database.duplicates()?.is_empty() {
        outcome.repairs.push(database.repair(timeout)?);
    }
    Ok(())
}

/// `path` under the root if it exists there (a configuration file the tool
/// should read), else `None`.
pub(crate) fn existing_in_root(root: &NodeRoot, path: &str) -> Option<PathBuf> {
    let full = root.join(path);
    full.is_file().then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::package::InstalledPackage;

    fn entry(name: &str, arch: &str, version: &str) -> RpmdbEntry {
        RpmdbEntry {
            package: InstalledPackage {
                name: name.to_owned(),
                arch: arch.to_owned(),
                version: version.to_owned(),
                source: None,
            },
            install_time: None,
        }
    }

    fn target(name: &str, arch: &str, version: &str) -> Target {
        Target {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: version.to_owned(),
        }
    }

    #[test]
    fn duplicates_are_older_builds_of_one_name_and_arch_but_not_kernels() {
        let entries = [
            entry("kit", "noarch", "1.0-10"),
            entry("kit", "noarch", "1.0-9"),
            entry("lib", "x86_64", "2.0-1"),
            entry("lib", "i686", "2.0-1"),
            entry("kernel-core", "x86_64", "5.14.0-1"),
            entry("kernel-core", "x86_64", "5.14.0-2"),
            entry("kernel", "x86_64", "5.14.0-1"),
            entry("kernel", "x86_64", "5.14.0-2"),
        ];
        assert_eq!(
            find_duplicates(&entries),
            [Duplicate {
                name: "kit".to_owned(),
                arch: "noarch".to_owned(),
                older: "1.0-9".to_owned(),
                newer: "1.0-10".to_owned(),
            }]
        );
    }

    #[test]
    fn scriptlet_failures_match_the_exact_build() {
        let record = CommandRecord {
            command: vec!["dnf".to_owned()],
            exit_code: Some(0),
            timed_out: false,
            cancelled: false,
            stdout: "warning: %post(kit-bad-1.0-2.noarch) scriptlet failed, exit status 1\n"
                .to_owned(),
            stderr: String::new(),
        };
        assert!(scriptlet_failure(&record, &target("kit-bad", "noarch", "1.0-2")).is_some());
        assert!(scriptlet_failure(&record, &target("kit-bad", "", "1.0-2")).is_some());
        assert!(scriptlet_failure(&record, &target("kit-bad", "noarch", "1.0-20")).is_none());
        assert!(scriptlet_failure(&record, &target("kit-bad", "x86_64", "1.0-2")).is_none());
    }

    #[test]
    fn nevras_name_the_arch_when_known() {
        assert_eq!(
            nevra(&target("kit", "noarch", "1:1.0-2")),
            "kit-1:1.0-2.noarch"
        );
        assert_eq!(nevra(&target("kit", "", "1.0-2")), "kit-1.0-2");
    }
}
