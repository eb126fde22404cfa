//! A Debian-family node root driven by the host's apt-get and dpkg.
//!
//! The option set: `APT_CONFIG=<root>/etc/apt/apt-root.conf`. apt reads
//! that file *before* anything else, and it sets `Dir "<root>/"`, so every
//! relative apt path (sources, `apt.conf.d` parts, preferences, lists,
//! archives, pkgcache, logs, locks) resolves inside the root — the host's
//! `/etc/apt/apt.conf.d` (with its `Post-Invoke` hooks) is never read.
//! `Dir::State::status` points apt at the root's dpkg status (and its dpkg
//! locks next to it), `DPkg::Options "--root=<root>"` makes dpkg install
//! into the root (admindir `<root>/var/lib/dpkg`, maintainer scripts
//! chrooted), `--log` keeps dpkg's log in the root and `--force-unsafe-io`
//! skips dpkg's per-file fsync (a test root needs no crash safety). `-o` options on the
//! command line are applied too late for the `apt.conf.d` parts, which is
//! why the file comes through `APT_CONFIG`.
//!
//! Also set: explicit `APT::Architectures` (apt otherwise asks the host's
//! dpkg for foreign architectures), `APT::Sandbox::User "root"` (the
//! repositories live in root-owned temporary directories `_apt` cannot
//! read), no date checks on Release files (tests date them freely), no
//! translations, no recommends.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt_repo::{AptSource, native_architecture};
use crate::command::{CommandOutput, Tool, require_root, run, run_ok};
use crate::error::Result;
use crate::roots::rootfs::{OsRelease, create_skeleton};
use crate::roots::{InstalledPackage, PackageRoot, config_safe_path, parse_installed};
use crate::staging::{create_dir, write_file};

/// How to create an [`AptRoot`].
#[derive(Debug, Clone)]
pub struct AptRootOptions {
    pub os: OsRelease,
    /// The dpkg architectures; the first is native. Empty: the host's.
    pub architectures: Vec<String>,
    /// The `sources.list` entries ([`crate::AptRepository::sources`]).
    pub sources: Vec<AptSource>,
    /// Written to `etc/hostname` when set.
    pub hostname: Option<String>,
}

impl Default for AptRootOptions {
    /// A Debian 12 root of the host's architecture with no sources.
    fn default() -> AptRootOptions {
        AptRootOptions {
            os: OsRelease::debian12(),
            architectures: Vec::new(),
            sources: Vec::new(),
            hostname: None,
        }
    }
}

/// A Debian/Ubuntu node root.
#[derive(Debug, Clone)]
pub struct AptRoot {
    root: PathBuf,
}

const APT_CONFIG: &str = "etc/apt/apt-root.conf";
const SOURCES: &str = "etc/apt/sources.list.d/testkit.list";

impl AptRoot {
    /// Creates a root in `path` (created; must be empty).
    pub fn create(path: impl AsRef<Path>, options: &AptRootOptions) -> Result<AptRoot> {
        require_root("an apt node root")?;
        Tool::AptGet.locate()?;
        let dpkg = Tool::Dpkg.locate()?;
        let root = create_skeleton(path.as_ref(), &options.os, options.hostname.as_deref())?;
        config_safe_path(&root)?;
        for dir in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
            "var/lib/dpkg/alternatives",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/log/apt",
        ] {
            create_dir(&root.join(dir))?;
        }
        for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
            write_file(&root.join(file), b"", 0o644)?;
        }
        let architectures = if options.architectures.is_empty() {
            vec![native_architecture()?]
        } else {
            options.architectures.clone()
        };
        write_file(
            &root.join(APT_CONFIG),
            apt_config(&root, &architectures, &dpkg).as_bytes(),
            0o644,
        )?;
        let node = AptRoot { root };
        node.set_sources(&options.sources)?;
        for foreign in &architectures[1..] {
            let mut dpkg = node.dpkg()?;
            dpkg.args(["--add-architecture", foreign]);
            run_ok(&mut dpkg)?;
        }
        Ok(node)
    }

    /// The file `APT_CONFIG` names: the whole apt option set of this root.
    pub fn apt_config_path(&self) -> PathBuf {
        self.root.join(APT_CONFIG)
    }

    /// The environment a tool needs to work on this root (for drivers that
    /// build their own commands).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![(
            "APT_CONFIG".to_owned(),
            self.apt_config_path().display().to_string(),
        )]
    }

    /// Replaces the root's `sources.list` entries.
    pub fn set_sources(&self, sources: &[AptSource]) -> Result<()> {
        let mut text = String::from("# Written by patchline-testkit.\n");
        for source in sources {
            text.push_str(&format!("{source}\n"));
        }
        write_file(&self.root.join(SOURCES), text.as_bytes(), 0o644)
    }

    /// `apt-get` working on this root.
    pub fn apt_get(&self) -> Result<Command> {
        self.apt_tool(Tool::AptGet)
    }

    /// `apt-cache` working on this root.
    pub fn apt_cache(&self) -> Result<Command> {
        self.apt_tool(Tool::AptCache)
    }

    /// `apt-mark` working on this root (`hold`, `unhold`, `showhold`).
    pub fn apt_mark(&self) -> Result<Command> {
        self.apt_tool(Tool::AptMark)
    }

    /// `dpkg --root=<root>` with its log in the root (and no fsync per
    /// file: a test root needs no crash safety).
    pub fn dpkg(&self) -> Result<Command> {
        let mut dpkg = Tool::Dpkg.command()?;
        dpkg.arg(format!("--root={}", self.root.display()))
            .arg(format!(
                "--log={}",
                self.root.join("var/log/dpkg.log").display()
            ))
            .arg("--force-unsafe-io");
        Ok(dpkg)
    }

    /// `dpkg-query --admindir=<root>/var/lib/dpkg`.
    pub fn dpkg_query(&self) -> Result<Command> {
        let mut query = Tool::DpkgQuery.command()?;
        query.arg(format!(
            "--admindir={}",
            self.root.join("var/lib/dpkg").display()
        ));
        Ok(query)
    }

    fn apt_tool(&self, tool: Tool) -> Result<Command> {
        let mut command = tool.command()?;
        command.envs(self.env());
        Ok(command)
    }

    /// Runs `apt-get -y <args>` and returns its output, whatever the exit.
    pub fn run_apt_get(&self, args: &[&str]) -> Result<CommandOutput> {
        let mut apt_get = self.apt_get()?;
        apt_get.arg("-y").args(args);
        run(&mut apt_get)
    }
}

impl PackageRoot for AptRoot {
    fn path(&self) -> &Path {
        &self.root
    }

    fn refresh(&self) -> Result<CommandOutput> {
        // --error-on=any: a repository that fails to load fails the update
        // (apt would only warn for some failures).
        self.run_apt_get(&["update", "--error-on=any"])?
            .ensure_success()
    }

    fn install(&self, specs: &[&str]) -> Result<CommandOutput> {
        let mut args = vec!["install"];
        args.extend_from_slice(specs);
        self.run_apt_get(&args)?.ensure_success()
    }

    fn install_version(&self, name: &str, version: &str) -> Result<CommandOutput> {
        self.install(&[&format!("{name}={version}")])
    }

    fn install_files(&self, files: &[&Path]) -> Result<CommandOutput> {
        let mut dpkg = self.dpkg()?;
        dpkg.arg("-i").args(files);
        run_ok(&mut dpkg)
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>> {
        let mut query = self.dpkg_query()?;
        query.args([
            "-W",
            "-f",
            "${Package}\t${Architecture}\t${Version}\t${db:Status-Status}\n",
        ]);
        parse_installed(&run_ok(&mut query)?)
    }
}

fn apt_config(root: &Path, architectures: &[String], dpkg: &Path) -> String {
    let root = root.display();
    let dpkg = dpkg.display();
    let native = &architectures[0];
    let all: Vec<String> = architectures.iter().map(|a| format!("\"{a}\";")).collect();
    format!(
        r#"// Written by patchline-testkit: apt and dpkg work on this root only.
// Use with APT_CONFIG=<this file> (read before any other apt configuration).
Dir "{root}/";
Dir::State::status "{root}/var/lib/dpkg/status";
Dir::Log "{root}/var/log/apt";
Dir::Bin::dpkg "{dpkg}";
DPkg::Options {{ "--root={root}"; "--log={root}/var/log/dpkg.log"; "--force-unsafe-io"; }};
DPkg::Use-Pty "false";
APT::Architecture "{native}";
APT::Architectures {{ {all} }};
APT::Sandbox::User "root";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
"#,
        all = all.join(" ")
    )
}
