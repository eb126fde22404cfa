//! A SUSE-family node root driven by the host's zypper and rpm.
//!
//! The option set: `zypper --root <root>` (repositories from
//! `<root>/etc/zypp/repos.d`, caches in `<root>/var/cache/zypp`, rpm run with
//! `--root`, history in `<root>/var/log/zypp`) plus the environment that
//! moves what `--root` leaves on the host: `ZYPP_CONF` (zypp.conf),
//! `ZYPP_LOGFILE` (zypper.log, even `zypper --version` writes it),
//! `ZYPP_LOCKFILE_ROOT` (the `/run/zypp.pid` lock, which would otherwise
//! serialise roots side by side), `ZYPPTMPDIR`/`TMPDIR` (`/var/tmp/zypp.*`)
//! and `HOME` for rpm's macros. The rpmdb lives where Leap 15 keeps it,
//! `/usr/lib/sysimage/rpm` (with the `/var/lib/rpm` symlink), which is also
//! where libzypp looks first. zypper still reads the host's read-only
//! `/etc/zypp/zypper.conf` (its own UI settings).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::{CommandOutput, Tool, require_root, run, run_ok};
use crate::error::{Result, io_at};
use crate::roots::rootfs::{OsRelease, create_skeleton};
use crate::roots::rpmdb::{RootRpmdb, RpmRepoEntry, replace_repo_files};
use crate::roots::{InstalledPackage, PackageRoot, config_safe_path};
use crate::staging::{create_dir, write_file};

/// How to create a [`ZypperRoot`].
#[derive(Debug, Clone)]
pub struct ZypperRootOptions {
    pub os: OsRelease,
    pub repositories: Vec<RpmRepoEntry>,
    pub hostname: Option<String>,
}

impl Default for ZypperRootOptions {
    /// An openSUSE Leap 15.5 root with no repositories.
    fn default() -> ZypperRootOptions {
        ZypperRootOptions {
            os: OsRelease::opensuse_leap155(),
            repositories: Vec::new(),
            hostname: None,
        }
    }
}

/// An openSUSE/SLES-like node root.
#[derive(Debug, Clone)]
pub struct ZypperRoot {
    root: PathBuf,
    rpmdb: RootRpmdb,
}

const ZYPP_CONF: &str = "etc/zypp/zypp.conf";
const REPOS_DIR: &str = "etc/zypp/repos.d";

impl ZypperRoot {
    /// Creates a root in `path` (created; must be empty).
    pub fn create(path: impl AsRef<Path>, options: &ZypperRootOptions) -> Result<ZypperRoot> {
        require_root("a zypper node root")?;
        Tool::Zypper.locate()?;
        Tool::Rpm.locate()?;
        let root = create_skeleton(path.as_ref(), &options.os, options.hostname.as_deref())?;
        config_safe_path(&root)?;
        for dir in [
            REPOS_DIR,
            "etc/zypp/services.d",
            "var/cache/zypp",
            "var/log/zypp",
        ] {
            create_dir(&root.join(dir))?;
        }
        write_file(
            &root.join(ZYPP_CONF),
            b"# Written by patchline-testkit.\n[main]\nsolver.onlyRequires = true\ndownload.use_deltarpm = false\n",
            0o644,
        )?;
        let rpmdb = RootRpmdb::create(&root, "/usr/lib/sysimage/rpm")?;
        let legacy = root.join("var/lib/rpm");
        symlink("../../usr/lib/sysimage/rpm", &legacy).map_err(io_at(&legacy))?;
        let node = ZypperRoot { root, rpmdb };
        node.set_repositories(&options.repositories)?;
        Ok(node)
    }

    /// Replaces the root's repositories.
    pub fn set_repositories(&self, repositories: &[RpmRepoEntry]) -> Result<()> {
        replace_repo_files(
            &self.root.join(REPOS_DIR),
            repositories,
            &["autorefresh=1", "type=rpm-md", "keeppackages=0"],
        )
    }

    /// The environment of zypper and rpm on this root.
    pub fn env(&self) -> Vec<(String, String)> {
        let at = |relative: &str| self.root.join(relative).display().to_string();
        let mut env = self.rpmdb.env();
        env.extend([
            ("ZYPP_CONF".to_owned(), at(ZYPP_CONF)),
            ("ZYPP_LOGFILE".to_owned(), at("var/log/zypper.log")),
            (
                "ZYPP_LOCKFILE_ROOT".to_owned(),
                self.root.display().to_string(),
            ),
            ("ZYPPTMPDIR".to_owned(), at("var/tmp")),
        ]);
        env
    }

    /// The options that point zypper at this root (after the program name;
    /// global options, so before the command).
    pub fn zypper_args(&self) -> Vec<String> {
        vec![
            "--root".to_owned(),
            self.root.display().to_string(),
            "--non-interactive".to_owned(),
            "--no-gpg-checks".to_owned(),
        ]
    }

    /// `zypper` working on this root.
    pub fn zypper(&self) -> Result<Command> {
        let mut zypper = Tool::Zypper.command()?;
        zypper.envs(self.env()).args(self.zypper_args());
        Ok(zypper)
    }

    /// `rpm --root <root> --dbpath /usr/lib/sysimage/rpm`.
    pub fn rpm(&self) -> Result<Command> {
        self.rpmdb.rpm()
    }

    /// Runs `zypper <args>` and returns its output, whatever the exit.
    pub fn run_zypper(&self, args: &[&str]) -> Result<CommandOutput> {
        let mut zypper = self.zypper()?;
        zypper.args(args);
        run(&mut zypper)
    }
}

impl PackageRoot for ZypperRoot {
    fn path(&self) -> &Path {
        &self.root
    }

    fn refresh(&self) -> Result<CommandOutput> {
        self.run_zypper(&["refresh"])?.ensure_success()
    }

    fn install(&self, specs: &[&str]) -> Result<CommandOutput> {
        let mut args = vec!["install"];
        args.extend_from_slice(specs);
        self.run_zypper(&args)?.ensure_success()
    }

    fn install_version(&self, name: &str, version: &str) -> Result<CommandOutput> {
        self.install(&[&format!("{name}={version}")])
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
