//! The apt/dpkg driver: the real `apt-get`, `apt-mark` and `dpkg` working on
//! the node root.
//!
//! For `/` the tools run as the host has them configured. For any other
//! root the driver writes its own apt configuration (in a private temporary
//! directory) and passes it through `APT_CONFIG`, which apt reads before
//! anything else: `Dir "<root>/"` resolves every apt path (sources, lists,
//! archives, cache, locks, logs) inside the root, `Dir::State::status` and
//! `DPkg::Options { --root; --log }` make dpkg install into the root with
//! its maintainer scripts chrooted there. `-o` options alone are not
//! enough: they are applied after the `apt.conf.d` parts are read. The
//! root's own `apt.conf.d` is *not* read (the parts directory is the
//! driver's empty one): its `DPkg::Post-Invoke` style hooks would run on
//! the host, outside the root. Architectures are given explicitly (apt
//! would otherwise ask the host's dpkg for foreign architectures) and the
//! download sandbox user is root (lists and archives in a foreign root are
//! not `_apt`'s).
//!
//! Installs name every target as `name[:arch]=version` with `--no-remove`
//! and no recommends: apt changes the named packages and what their
//! dependencies strictly require, nothing else; without
//! `--allow-change-held-packages`, held (rejected) packages cannot move.
//! apt is transactional per call, so when the call fails the driver runs
//! `dpkg --configure -a`, reads the dpkg database, and retries every target
//! that is not at its version alone: only packages that fail by themselves
//! are reported failed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use patchline_core::version::VersionScheme;

use super::command::{self, CommandRecord};
use super::{
    DriverError, DriverTimeouts, InstallOutcome, PackageDriver, Repair, Target, TargetOutcome,
    TargetResult,
};
use crate::apt::{InterruptedPackage, read_dpkg_database};
use crate::root::NodeRoot;

/// Directories dpkg needs on `PATH` (it refuses to run without `ldconfig`
/// and `start-stop-daemon`); chrooted maintainer scripts inherit it.
const STANDARD_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// apt and dpkg working on one node root.
#[derive(Debug)]
pub struct AptDriver {
    root: NodeRoot,
    timeouts: DriverTimeouts,
    /// `None` for the live host's `/`.
    isolation: Option<Isolation>,
}

/// The private configuration that confines apt and dpkg to a foreign root.
#[derive(Debug)]
struct Isolation {
    /// Holds `apt.conf` and the empty `apt.conf.d`; removed on drop.
    dir: tempfile::TempDir,
}

impl Isolation {
    fn apt_config(&self) -> PathBuf {
        self.dir.path().join("apt.conf")
    }
}

impl AptDriver {
    /// A driver for `root`: plain tools for `/`, the isolation described in
    /// the module documentation for any other root.
    pub fn new(root: &NodeRoot, timeouts: DriverTimeouts) -> Result<AptDriver, DriverError> {
        let mut driver = AptDriver {
            root: root.clone(),
            timeouts,
            isolation: None,
        };
        if !root.is_live_host() {
            driver.isolation = Some(driver.isolate()?);
        }
        Ok(driver)
    }

    fn isolate(&self) -> Result<Isolation, DriverError> {
        let setup = |action: &str, message: String| DriverError::Setup {
            action: action.to_owned(),
            message,
        };
        let root = self
            .root
            .path()
            .canonicalize()
            .map_err(|error| setup("resolving the node root", error.to_string()))?;
        let root_text = root.display().to_string();
        if root_text.contains(['"', '\n']) {
            return Err(setup(
                "configuring apt",
                format!("the root path {root_text:?} cannot be written in apt's configuration"),
            ));
        }
        let dpkg = locate("dpkg")
            .ok_or_else(|| setup("configuring apt", "dpkg is not on PATH".to_owned()))?;
        let native = self.dpkg_output(&["--print-architecture"])?;
        let foreign = self.dpkg_output(&["--print-foreign-architectures"])?;
        let mut architectures = vec![native.trim().to_owned()];
        architectures.extend(foreign.split_whitespace().map(str::to_owned));
        let dir = tempfile::Builder::new()
            .prefix("patchline-apt-")
            .tempdir()
            .map_err(|error| setup("creating apt's configuration directory", error.to_string()))?;
        let parts = dir.path().join("apt.conf.d");
        let config = apt_config(&root_text, &parts, &dpkg, &architectures);
        std::fs::create_dir(&parts)
            .and_then(|()| std::fs::write(dir.path().join("apt.conf"), config))
            .map_err(|error| setup("writing apt's configuration", error.to_string()))?;
        Ok(Isolation { dir })
    }

    /// The node root this driver works on.
    pub fn root(&self) -> &NodeRoot {
        &self.root
    }

    /// The environment apt tools need for this root (`APT_CONFIG` when
    /// isolated) besides the fixed locale and `PATH`.
    pub fn apt_config(&self) -> Option<PathBuf> {
        self.isolation.as_ref().map(Isolation::apt_config)
    }

    fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("PATH", tool_path());
        if let Some(config) = self.apt_config() {
            command.env("APT_CONFIG", config);
        }
        command
    }

    /// `dpkg`, confined to the root when it is not `/`.
    fn dpkg(&self) -> Command {
        let mut dpkg = self.tool("dpkg");
        if !self.root.is_live_host() {
            dpkg.arg(format!("--root={}", self.root.path().display()))
                .arg(format!(
                    "--log={}",
                    self.root.join("/var/log/dpkg.log").display()
                ));
        }
        dpkg
    }

    fn dpkg_output(&self, args: &[&str]) -> Result<String, DriverError> {
        let record = command::run(self.dpkg().args(args), self.timeouts.short)?;
        if !record.succeeded() {
            return Err(DriverError::Failed(record));
        }
        Ok(record.stdout)
    }

    fn apt_get_install(&self, targets: &[&Target]) -> Result<CommandRecord, DriverError> {
        let mut apt_get = self.tool("apt-get");
        apt_get.args([
            "install",
            "-y",
            "--no-remove",
            "--no-install-recommends",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
        ]);
        apt_get.args(targets.iter().map(|target| install_spec(target)));
        Ok(command::run(&mut apt_get, self.timeouts.install)?)
    }

    fn apt_mark(&self, action: &str, names: &[String]) -> Result<CommandRecord, DriverError> {
        let mut apt_mark = self.tool("apt-mark");
        apt_mark.arg(action).args(names);
        let record = command::run(&mut apt_mark, self.timeouts.short)?;
        if record.succeeded() {
            Ok(record)
        } else {
            Err(DriverError::Failed(record))
        }
    }

    /// The dpkg database as dpkg sees it (status plus its journal).
    fn status(&self) -> Result<Vec<StatusEntry>, DriverError> {
        let entries = read_dpkg_database(&self.root)
            .map_err(|error| DriverError::Database(error.to_string()))?;
        Ok(entries
            .into_iter()
            .map(|entry| StatusEntry {
                name: entry.name.into_owned(),
                arch: entry
                    .architecture
                    .map(|a| a.into_owned())
                    .unwrap_or_default(),
                version: entry.version.map(|v| v.into_owned()),
                installed_ok: entry.status.is_installed_ok(),
                interrupted: entry
                    .status
                    .is_interrupted()
                    .then(|| entry.status.state.to_string()),
            })
            .collect())
    }
}

impl AptDriver {
    fn is_at_target(status: &[StatusEntry], target: &Target) -> bool {
        status.iter().any(|entry| {
            entry.name == target.name
                && arch_matches(&target.arch, &entry.arch)
                && entry.installed_ok
                && entry
                    .version
                    .as_deref()
                    .is_some_and(|v| VersionScheme::Deb.compare(v, &target.version).is_eq())
        })
    }

    fn install_with_retries(
        &self,
        targets: &[Target],
        outcome: &mut InstallOutcome,
    ) -> Result<(), DriverError> {
        let all: Vec<&Target> = targets.iter().collect();
        let joint = self.apt_get_install(&all)?;
        let joint_failed = !joint.succeeded();
        let joint_reason = joint.failure_summary();
        outcome.commands.push(joint);
        let mut reasons: Vec<Option<String>> = vec![None; targets.len()];
        if joint_failed {
            outcome.repairs.push(self.repair()?);
            let status = self.status()?;
            let pending: Vec<usize> = (0..targets.len())
                .filter(|&i| !Self::is_at_target(&status, &targets[i]))
                .collect();
            for &index in &pending {
                if targets.len() == 1 {
                    reasons[index] = Some(joint_reason.clone());
                    continue;
                }
                let alone = self.apt_get_install(&[&targets[index]])?;
                if !alone.succeeded() {
                    reasons[index] = Some(alone.failure_summary());
                    outcome.commands.push(alone);
                    outcome.repairs.push(self.repair()?);
                } else {
                    outcome.commands.push(alone);
                }
            }
        }
        let status = self.status()?;
        outcome.results = targets
            .iter()
            .zip(reasons)
            .map(|(target, reason)| TargetResult {
                target: target.clone(),
                outcome: if Self::is_at_target(&status, target) {
                    TargetOutcome::Installed
                } else {
                    TargetOutcome::Failed {
                        reason: reason.unwrap_or_else(|| {
                            format!("not at {} after the install", target.version)
                        }),
                    }
                },
            })
            .collect();
        Ok(())
    }
}

#[derive(Debug)]
struct StatusEntry {
    name: String,
    arch: String,
    version: Option<String>,
    installed_ok: bool,
    interrupted: Option<String>,
}

impl PackageDriver for AptDriver {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn refresh(&self, timeout: Duration) -> Result<CommandRecord, DriverError> {
        let mut update = self.tool("apt-get");
        // Any repository that fails to load fails the refresh (apt would only
        // warn for some); apt keeps the previous lists when it fails. Given
        // as an option, not `--error-on=any`, so older apt ignores it.
        update.args(["update", "-o", "APT::Update::Error-Mode=any"]);
        let record = command::run(&mut update, timeout)?;
        if record.succeeded() {
            Ok(record)
        } else {
            Err(DriverError::Failed(record))
        }
    }

    fn held(&self) -> Result<Vec<String>, DriverError> {
        let record = self.apt_mark("showhold", &[])?;
        Ok(record
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn hold(&self, names: &[String]) -> Result<CommandRecord, DriverError> {
        self.apt_mark("hold", names)
    }

    fn unhold(&self, names: &[String]) -> Result<CommandRecord, DriverError> {
        self.apt_mark("unhold", names)
    }

    fn install_exact(
        &self,
        targets: &[Target],
        excluded: &[String],
    ) -> Result<InstallOutcome, DriverError> {
        super::install_holding_excluded(self, targets, excluded, |outcome| {
            self.install_with_retries(targets, outcome)
        })
    }

    fn interrupted(&self) -> Result<Vec<InterruptedPackage>, DriverError> {
        Ok(self
            .status()?
            .into_iter()
            .filter_map(|entry| {
                Some(InterruptedPackage {
                    state: entry.interrupted?,
                    name: entry.name,
                    arch: entry.arch,
                })
            })
            .collect())
    }

    fn repair(&self) -> Result<Repair, DriverError> {
        let mut dpkg = self.dpkg();
        dpkg.args(["--configure", "-a"]);
        let record = command::run(&mut dpkg, self.timeouts.install)?;
        let still_interrupted = self
            .status()?
            .into_iter()
            .filter_map(|entry| {
                let state = entry.interrupted?;
                Some(format!("{}:{} {state}", entry.name, entry.arch))
            })
            .collect();
        Ok(Repair {
            command: record,
            still_interrupted,
        })
    }
}

/// `name=version`, or `name:arch=version` for an architecture-specific
/// package (a multi-arch node may have several).
fn install_spec(target: &Target) -> String {
    if target.arch.is_empty() || target.arch == "all" {
        format!("{}={}", target.name, target.version)
    } else {
        format!("{}:{}={}", target.name, target.arch, target.version)
    }
}

fn arch_matches(target: &str, installed: &str) -> bool {
    target.is_empty() || target == "all" || installed == "all" || target == installed
}

fn tool_path() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    for dir in STANDARD_PATH {
        if !dirs.iter().any(|known| known == Path::new(dir)) {
            dirs.push(PathBuf::from(dir));
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

fn locate(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&tool_path())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn apt_config(root: &str, parts: &Path, dpkg: &Path, architectures: &[String]) -> String {
    let all: Vec<String> = architectures.iter().map(|a| format!("\"{a}\";")).collect();
    format!(
        r#"// Written by patchline-agent: apt and dpkg work on {root} only.
Dir "{root}/";
Dir::State::status "{root}/var/lib/dpkg/status";
Dir::Etc::parts "{parts}";
Dir::Etc::main "/dev/null";
Dir::Log "{root}/var/log/apt";
Dir::Bin::dpkg "{dpkg}";
DPkg::Options {{ "--root={root}"; "--log={root}/var/log/dpkg.log"; }};
DPkg::Use-Pty "false";
APT::Architecture "{native}";
APT::Architectures {{ {all} }};
APT::Sandbox::User "root";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
"#,
        parts = parts.display(),
        dpkg = dpkg.display(),
        native = architectures[0],
        all = all.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, arch: &str, version: &str) -> Target {
        Target {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: version.to_owned(),
        }
    }

    #[test]
    fn install_specs_name_the_arch_unless_all() {
        assert_eq!(install_spec(&target("kit", "all", "1.0-2")), "kit=1.0-2");
        assert_eq!(
            install_spec(&target("libkit", "i386", "1:2.0")),
            "libkit:i386=1:2.0"
        );
    }

    #[test]
    fn the_isolating_configuration_confines_apt_and_dpkg_to_the_root() {
        let config = apt_config(
            "/srv/node",
            Path::new("/tmp/x/apt.conf.d"),
            Path::new("/usr/bin/dpkg"),
            &["amd64".to_owned(), "i386".to_owned()],
        );
        assert!(config.contains("Dir \"/srv/node/\";"));
        assert!(config.contains("\"--root=/srv/node\";"));
        assert!(config.contains("Dir::Etc::parts \"/tmp/x/apt.conf.d\";"));
        assert!(config.contains("APT::Architectures { \"amd64\"; \"i386\"; };"));
    }
}
