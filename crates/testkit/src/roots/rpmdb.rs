//! What the dnf and zypper roots share: an rpmdb initialised inside the
//! root, `rpm --root` commands that find it, `.repo` entries, and the base
//! package that gives the rpmdb a `/bin/sh`.
//!
//! Debian's rpm keeps its database in `~/.rpmdb` (`%_dbpath` is
//! `%(bash -c 'echo ~/.rpmdb')`), and dnf/zypper take `%_dbpath` from rpm's
//! macros. Every rpm-family tool therefore runs with `HOME=<root>/root`,
//! whose `.rpmmacros` sets the distribution's `%_dbpath`; `rpm` itself also
//! gets `--dbpath`. Nothing falls back to the host's `~/.rpmdb`.
//!
//! Shell scriptlets make rpm add `Requires: /bin/sh`; the busybox shell
//! exists in the root's files but not in its rpmdb, so each root installs
//! [`BASE_PACKAGE`], which provides `/bin/sh`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::{Tool, run_ok};
use crate::error::{Result, TestkitError, io_at};
use crate::roots::{InstalledPackage, parse_installed};
use crate::rpm::RpmPackage;
use crate::rpm_repo::RpmRepository;
use crate::staging::{Scratch, create_dir, single_line, write_file};

/// The package every rpm-family root starts with: it provides `/bin/sh`
/// (the busybox shell) so packages with scriptlets resolve.
pub const BASE_PACKAGE: &str = "patchline-testkit-base";

/// A repository as a root's `.repo` file sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmRepoEntry {
    /// The section name (`[id]`), also the file name `<id>.repo`.
    pub id: String,
    pub baseurl: String,
}

impl RpmRepoEntry {
    pub fn new(id: impl Into<String>, repository: &RpmRepository) -> RpmRepoEntry {
        RpmRepoEntry {
            id: id.into(),
            baseurl: repository.baseurl(),
        }
    }
}

/// The rpm database of a root and how to reach it.
#[derive(Debug, Clone)]
pub(crate) struct RootRpmdb {
    root: PathBuf,
    /// Absolute inside the root (`/var/lib/rpm`).
    dbpath: &'static str,
}

impl RootRpmdb {
    /// Writes the root's `.rpmmacros`, initialises the database and installs
    /// [`BASE_PACKAGE`].
    pub(crate) fn create(root: &Path, dbpath: &'static str) -> Result<RootRpmdb> {
        let rpmdb = RootRpmdb {
            root: root.to_owned(),
            dbpath,
        };
        create_dir(&root.join(dbpath.trim_start_matches('/')))?;
        write_file(
            &root.join("root/.rpmmacros"),
            format!("%_dbpath {dbpath}\n").as_bytes(),
            0o644,
        )?;
        let mut init = rpmdb.rpm()?;
        init.arg("--initdb");
        run_ok(&mut init)?;
        rpmdb.install_base()?;
        Ok(rpmdb)
    }

    /// The environment of every rpm-family tool on this root.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "HOME".to_owned(),
                self.root.join("root").display().to_string(),
            ),
            (
                "TMPDIR".to_owned(),
                self.root.join("tmp").display().to_string(),
            ),
        ]
    }

    /// `rpm --root <root> --dbpath <dbpath>`.
    pub(crate) fn rpm(&self) -> Result<Command> {
        let mut rpm = Tool::Rpm.command()?;
        rpm.envs(self.env())
            .arg("--root")
            .arg(&self.root)
            .args(["--dbpath", self.dbpath]);
        Ok(rpm)
    }

    pub(crate) fn installed(&self) -> Result<Vec<InstalledPackage>> {
        let mut query = self.rpm()?;
        query.args([
            "-qa",
            "--qf",
            "%{NAME}\t%{ARCH}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\tinstalled\n",
        ]);
        parse_installed(&run_ok(&mut query)?)
    }

    fn install_base(&self) -> Result<()> {
        let parent = self.root.parent().unwrap_or(&self.root);
        let scratch = Scratch::new(parent, "base-rpm")?;
        let base = RpmPackage::new(BASE_PACKAGE, "1")
            .provides("/bin/sh")
            .provides("/usr/bin/sh")
            .build(scratch.path())?;
        let mut install = self.rpm()?;
        install.arg("-i").arg(&base.path);
        run_ok(&mut install)?;
        Ok(())
    }
}

/// A `.repo` section; `extra` lines carry the tool-specific keys.
fn repo_file(entry: &RpmRepoEntry, extra: &[&str]) -> String {
    let mut text = format!(
        "# Written by patchline-testkit.\n[{id}]\nname={id}\nbaseurl={url}\nenabled=1\ngpgcheck=0\n",
        id = entry.id,
        url = entry.baseurl
    );
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Removes the harness's `.repo` files from `dir` and writes one per entry.
pub(crate) fn replace_repo_files(
    dir: &Path,
    repositories: &[RpmRepoEntry],
    extra: &[&str],
) -> Result<()> {
    for entry in repositories {
        single_line("rpm repository id", &entry.id)?;
        single_line("rpm repository baseurl", &entry.baseurl)?;
        if entry.id.contains(['/', '[', ']', ' ']) {
            return Err(TestkitError::Invalid {
                field: "rpm repository id",
                value: entry.id.clone(),
                reason: "is a section and file name: no `/`, `[`, `]` or spaces",
            });
        }
    }
    let listing = fs::read_dir(dir).map_err(io_at(dir))?;
    for file in listing {
        let path = file.map_err(io_at(dir))?.path();
        if path.extension().is_some_and(|ext| ext == "repo") {
            fs::remove_file(&path).map_err(io_at(&path))?;
        }
    }
    for entry in repositories {
        write_file(
            &dir.join(format!("{}.repo", entry.id)),
            repo_file(entry, extra).as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}
