//! A fingerprint of the host's own package-manager state (databases,
//! caches, configuration, logs, locks of dpkg/apt, rpm, dnf and zypper) to
//! prove that work on node roots never touches it.
//!
//! Entries are compared by kind, size and modification time, recursively
//! for directories: cheap enough for `/var/lib/dpkg/info`'s thousands of
//! files, and any write shows.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Result, io_at};

/// The host paths watched, files or directories (absent ones too: creating
/// them is a change).
pub const WATCHED_HOST_PATHS: [&str; 25] = [
    "/var/lib/dpkg",
    "/var/log/dpkg.log",
    "/var/lib/apt",
    "/var/cache/apt",
    "/etc/apt",
    "/var/log/apt",
    "/var/lib/rpm",
    "/usr/lib/sysimage/rpm",
    "/var/lib/dnf",
    "/var/cache/dnf",
    "/etc/dnf",
    "/etc/yum.repos.d",
    "/var/log/dnf.log",
    "/var/log/dnf.rpm.log",
    "/var/log/dnf.librepo.log",
    "/var/log/hawkey.log",
    "/etc/zypp",
    "/var/cache/zypp",
    "/var/lib/zypp",
    "/var/log/zypper.log",
    "/var/log/zypp",
    "/run/zypp.pid",
    "/var/run/zypp.pid",
    "/var/tmp/zypp",
    "/root/.rpmdb",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    kind: &'static str,
    len: u64,
    modified: Option<SystemTime>,
}

/// The watched host state at one moment.
#[derive(Debug, Clone)]
pub struct HostSnapshot {
    entries: BTreeMap<PathBuf, Fingerprint>,
}

impl HostSnapshot {
    /// Fingerprints [`WATCHED_HOST_PATHS`] and the invoking user's
    /// `~/.rpmdb` (Debian rpm's default database).
    pub fn take() -> Result<HostSnapshot> {
        let mut paths: Vec<PathBuf> = WATCHED_HOST_PATHS.iter().map(PathBuf::from).collect();
        if let Some(home) = std::env::var_os("HOME") {
            paths.push(Path::new(&home).join(".rpmdb"));
        }
        let mut entries = BTreeMap::new();
        for path in paths {
            walk(&path, &mut entries)?;
        }
        Ok(HostSnapshot { entries })
    }

    /// What differs now from the snapshot: `created`, `removed` or
    /// `changed` followed by the path. Empty when the host is untouched.
    pub fn changes(&self) -> Result<Vec<String>> {
        Ok(diff(&self.entries, &HostSnapshot::take()?.entries))
    }
}

fn diff(
    before: &BTreeMap<PathBuf, Fingerprint>,
    after: &BTreeMap<PathBuf, Fingerprint>,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (path, old) in before {
        match after.get(path) {
            None => changes.push(format!("removed {}", path.display())),
            Some(new) if new != old => changes.push(format!("changed {}", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|path| !before.contains_key(*path)) {
        changes.push(format!("created {}", path.display()));
    }
    changes
}

fn walk(path: &Path, entries: &mut BTreeMap<PathBuf, Fingerprint>) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io_at(path)(source)),
    };
    let kind = if meta.is_dir() {
        "dir"
    } else if meta.is_symlink() {
        "symlink"
    } else {
        "file"
    };
    entries.insert(
        path.to_owned(),
        Fingerprint {
            kind,
            len: meta.len(),
            modified: meta.modified().ok(),
        },
    );
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io_at(path))? {
            walk(&entry.map_err(io_at(path))?.path(), entries)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_created_changed_and_removed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (kept, changed, removed) = (
            dir.path().join("kept"),
            dir.path().join("status"),
            dir.path().join("old"),
        );
        for path in [&kept, &changed, &removed] {
            fs::write(path, "a").unwrap();
        }
        let mut before = BTreeMap::new();
        walk(dir.path(), &mut before).unwrap();

        fs::write(&changed, "ab").unwrap();
        fs::remove_file(&removed).unwrap();
        fs::write(dir.path().join("new"), "").unwrap();
        let mut after = BTreeMap::new();
        walk(dir.path(), &mut after).unwrap();

        let root = dir.path().display();
        let mut changes = diff(&before, &after);
        // The directory's own mtime may or may not tick within the test
        // (coarse file-time clock): not asserted.
        changes.retain(|change| *change != format!("changed {root}"));
        assert_eq!(
            changes,
            [
                format!("removed {root}/old"),
                format!("changed {root}/status"),
                format!("created {root}/new"),
            ]
        );
    }
}
