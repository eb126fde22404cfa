//! A local rpm-md repository: the packages, `createrepo_c --no-database`
//! metadata (dnf and zypper read the XML; the sqlite files only cost time),
//! and an `updateinfo.xml` from [`Advisory`] values added with
//! `modifyrepo_c --mdtype=updateinfo`.
//!
//! [`RpmRepository::publish`] replaces the whole content, so republishing
//! with a new version is one more call; the new `repomd.xml` checksums make
//! dnf (with `metadata_expire=0`) and `zypper refresh` fetch it again.

use std::fs;
use std::path::{Path, PathBuf};

use crate::command::{Tool, run_ok};
use crate::error::{Result, TestkitError, io_at};
use crate::staging::{Scratch, create_dir, write_file};
use crate::updateinfo::{Advisory, UpdateinfoStyle, updateinfo_xml};

/// A local rpm-md repository directory.
#[derive(Debug, Clone)]
pub struct RpmRepository {
    dir: PathBuf,
    style: UpdateinfoStyle,
}

impl RpmRepository {
    /// A repository in `dir` (created) whose advisories follow `style`.
    pub fn new(dir: impl AsRef<Path>, style: UpdateinfoStyle) -> Result<RpmRepository> {
        let dir = dir.as_ref();
        create_dir(dir)?;
        let dir = dir.canonicalize().map_err(io_at(dir))?;
        Ok(RpmRepository { dir, style })
    }

    /// The repository's (absolute) directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `file:///abs/dir`, the `baseurl` of a `.repo` entry.
    pub fn baseurl(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Replaces the repository's content with `packages` and `advisories`
    /// (no `updateinfo.xml` when there are none).
    pub fn publish<P: AsRef<Path>>(&self, packages: &[P], advisories: &[Advisory]) -> Result<()> {
        let mut createrepo = Tool::CreaterepoC.command()?;
        let modifyrepo = Tool::ModifyrepoC.command()?;
        self.clear()?;
        for package in packages {
            let package = package.as_ref();
            let name = package.file_name().ok_or_else(|| TestkitError::Invalid {
                field: "rpm package path",
                value: package.display().to_string(),
                reason: "names no file",
            })?;
            fs::copy(package, self.dir.join(name)).map_err(io_at(package))?;
        }
        createrepo.args(["--quiet", "--no-database"]).arg(&self.dir);
        run_ok(&mut createrepo)?;
        if advisories.is_empty() {
            return Ok(());
        }
        // modifyrepo_c names the metadata after the file: it must be
        // `updateinfo.xml`, outside the repository.
        let parent = self.dir.parent().unwrap_or(&self.dir);
        let scratch = Scratch::new(parent, "updateinfo")?;
        let file = scratch.path().join("updateinfo.xml");
        write_file(
            &file,
            updateinfo_xml(advisories, self.style).as_bytes(),
            0o644,
        )?;
        let mut modifyrepo = modifyrepo;
        modifyrepo
            .arg("--mdtype=updateinfo")
            .arg(&file)
            .arg(self.dir.join("repodata"));
        run_ok(&mut modifyrepo)?;
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        let listing = fs::read_dir(&self.dir).map_err(io_at(&self.dir))?;
        for entry in listing {
            let entry = entry.map_err(io_at(&self.dir))?;
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == "repodata") {
                fs::remove_dir_all(&path).map_err(io_at(&path))?;
            } else if path.extension().is_some_and(|ext| ext == "rpm") {
                fs::remove_file(&path).map_err(io_at(&path))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpm::RpmPackage;

    #[test]
    fn publishes_metadata_with_updateinfo_and_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let rpms = dir.path().join("rpms");
        let v1 = RpmPackage::new("kit", "1.0").build(&rpms).unwrap();
        let v2 = RpmPackage::new("kit", "2.0").build(&rpms).unwrap();
        let repo = RpmRepository::new(dir.path().join("repo"), UpdateinfoStyle::RedHat).unwrap();

        repo.publish(&[&v1], &[]).unwrap();
        let repomd = fs::read_to_string(repo.dir().join("repodata/repomd.xml")).unwrap();
        assert!(repomd.contains(r#"<data type="primary">"#), "{repomd}");
        assert!(!repomd.contains("updateinfo"), "{repomd}");

        let advisory = Advisory::security("RLSA-2024:0001", "Important", jiff::Timestamp::now())
            .with_packages([&v2]);
        repo.publish(&[&v1, &v2], &[advisory]).unwrap();
        let repomd = fs::read_to_string(repo.dir().join("repodata/repomd.xml")).unwrap();
        assert!(repomd.contains(r#"<data type="updateinfo">"#), "{repomd}");
        assert!(repo.dir().join("kit-2.0-1.noarch.rpm").exists());

        repo.publish(&[&v2], &[]).unwrap();
        assert!(!repo.dir().join("kit-1.0-1.noarch.rpm").exists());
        let repomd = fs::read_to_string(repo.dir().join("repodata/repomd.xml")).unwrap();
        assert!(!repomd.contains("updateinfo"), "{repomd}");
    }
}
