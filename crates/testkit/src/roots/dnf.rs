//! A RHEL-family node root driven by the host's dnf (4.x) and rpm.
//!
//! The option set: `--installroot=<root>` (dnf keeps its cache, logs,
//! history database and locks under the root: `cachedir`, `logdir` and
//! `persistdir` are installroot-relative), `--config=<root>/etc/dnf/dnf.conf`
//! and `--setopt=reposdir=<root>/etc/yum.repos.d` (both host paths on the
//! command line, so they are given absolute — otherwise dnf falls back to
//! the host's when the root lacks them), `--releasever` (nothing in the
//! rpmdb provides `system-release`), `--noplugins` (host plugins have no
//! business here), and `HOME=<root>/root` for the rpmdb path (see the rpmdb
//! module). Repositories have `metadata_expire=0`, so every command sees a
//! republished repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::{CommandOutput, Tool, require_root, run, run_ok};
use crate::error::Result;
use crate::roots::rootfs::{OsRelease, create_skeleton};
use crate::roots::rpmdb::{RootRpmdb, RpmRepoEntry, replace_repo_files};
use crate::roots::{InstalledPackage, PackageRoot, config_safe_path};
use crate::staging::{create_dir, single_line, write_file};

/// How to create a [`DnfRoot`].
#[derive(Debug, Clone)]
pub struct DnfRootOptions {
    pub os: OsRelease,
    /// dnf's `$releasever`.
    pub releasever: String,
    pub repositories: Vec<RpmRepoEntry>,
    pub hostname: Option<String>,
}

impl Default for DnfRootOptions {
    /// A Rocky Linux 9 root with no repositories.
    fn default() -> DnfRootOptions {
        DnfRootOptions {
            os: OsRelease::rocky9(),
            releasever: "9".to_owned(),
            repositories: Vec::new(),
            hostname: None,
        }
    }
}

/// A RHEL/Rocky-like node root.
#[derive(Debug, Clone)]
pub struct DnfRoot {
    root: PathBuf,
    releasever: String,
    rpmdb: RootRpmdb,
}

const DNF_CONF: &str = "etc/dnf/dnf.conf";
const REPOS_DIR: &str = "etc/yum.repos.d";

impl DnfRoot {
    /// Creates a root in `path` (created; must be empty).
    pub fn create(path: impl AsRef<Path>, options: &DnfRootOptions) -> Result<DnfRoot> {
        require_root("a dnf node root")?;
        Tool::Dnf.locate()?;
        Tool::Rpm.locate()?;
        single_line("dnf releasever", &options.releasever)?;
        let root = create_skeleton(path.as_ref(), &options.os, options.hostname.as_deref())?;
        config_safe_path(&root)?;
        for dir in [REPOS_DIR, "var/cache/dnf", "var/lib/dnf"] {
            create_dir(&root.join(dir))?;
        }
        write_file(
            &root.join(DNF_CONF),
            b"# Written by patchline-testkit.\n[main]\ngpgcheck=0\ninstallonly_limit=3\nbest=True\nskip_if_unavailable=False\ninstall_weak_deps=False\nkeepcache=False\nprotected_packages=\n",
            0o644,
        )?;
        let rpmdb = RootRpmdb::create(&root, "/var/lib/rpm")?;
        let node = DnfRoot {
            root,
            releasever: options.releasever.clone(),
            rpmdb,
        };
        node.set_repositories(&options.repositories)?;
        Ok(node)
    }

    /// Replaces the root's repositories.
    pub fn set_repositories(&self, repositories: &[RpmRepoEntry]) -> Result<()> {
        replace_repo_files(
            &self.root.join(REPOS_DIR),
            repositories,
            &["metadata_expire=0"],
        )
    }

    /// The environment of dnf and rpm on this root.
    pub fn env(&self) -> Vec<(String, String)> {
        self.rpmdb.env()
    }

    /// The options that point dnf at this root (after the program name).
    pub fn dnf_args(&self) -> Vec<String> {
        vec![
            format!("--installroot={}", self.root.display()),
            format!("--releasever={}", self.releasever),
            format!("--config={}", self.root.join(DNF_CONF).display()),
            format!("--setopt=reposdir={}", self.root.join(REPOS_DIR).display()),
            "--noplugins".to_owned(),
            "--assumeyes".to_owned(),
        ]
    }

    /// `dnf` working on this root.
    pub fn dnf(&self) -> Result<Command> {
        let mut dnf = Tool::Dnf.command()?;
        dnf.envs(self.env()).args(self.dnf_args());
        Ok(dnf)
    }

    /// `rpm --root <root> --dbpath /var/lib/rpm`.
    pub fn rpm(&self) -> Result<Command> {
        self.rpmdb.rpm()
    }

    /// Runs `dnf <args>` and returns its output, whatever the exit.
    pub fn run_dnf(&self, args: &[&str]) -> Result<CommandOutput> {
        let mut dnf = self.dnf()?;
        dnf.args(args);
        run(&mut dnf)
    }

    /// `dnf check-update`: exit 100 when updates exist, 0 when none; any
    /// other exit is an error.
    pub fn check_update(&self) -> Result<CommandOutput> {
        self.run_dnf(&["check-update"])?.ensure_code(&[0, 100])
    }
}

impl PackageRoot for DnfRoot {
    fn path(&self) -> &Path {
        &self.root
    }

    fn refresh(&self) -> Result<CommandOutput> {
        self.run_dnf(&["makecache", "--refresh"])?.ensure_success()
    }

    fn install(&self, specs: &[&str]) -> Result<CommandOutput> {
        let mut args = vec!["install"];
        args.extend_from_slice(specs);
        self.run_dnf(&args)?.ensure_success()
    }

    fn install_version(&self, name: &str, version: &str) -> Result<CommandOutput> {
        self.install(&[&format!("{name}-{version}")])
    }

    fn install_files(&self, files: &[&Path]) -> Result<CommandOutput> {
        let mut rpm = self.rpm()?;
        rpm.arg("-U").args(files);
        run_ok(&mut rpm)
    }

    fn installed(&self) -> Result<Vec<InstalledPackage>> {
        self.rpmdb.installed()
    }
}
