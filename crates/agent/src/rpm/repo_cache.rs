//! The package managers' own repository metadata caches under a root, found
//! without running the package manager (a scan stays fast and read-only):
//!
//! - dnf: `var/cache/dnf/<repoid>-<16 hex>/repodata/` (the hash is of the
//!   repository's URLs, so a changed `baseurl` leaves the old directory
//!   behind: per repo id, the directory with the newest `repomd.xml` wins);
//! - zypper: `var/cache/zypp/raw/<alias>/repodata/`.
//!
//! Both hold `repomd.xml` and the files it names (`primary`, `updateinfo`,
//! compressed), verified on testkit roots after `dnf makecache` and
//! `zypper refresh`. yum's `var/cache/yum` (EL7, Amazon Linux 2) is not read.
//!
//! Caches outlive configuration (a removed or disabled repository keeps its
//! cache directory), so when the root has `.repo` files (`etc/yum.repos.d`,
//! `etc/zypp/repos.d`) only the caches of enabled repositories count. A root
//! without any (an image with a bare cache) keeps every cache.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::root::NodeRoot;

pub const DNF_CACHE: &str = "/var/cache/dnf";
pub const ZYPPER_CACHE: &str = "/var/cache/zypp/raw";
pub const DNF_REPOS: &str = "/etc/yum.repos.d";
pub const ZYPPER_REPOS: &str = "/etc/zypp/repos.d";

/// Which package manager's cache a repository was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheKind {
    Dnf,
    Zypper,
}

impl CacheKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::Dnf => "dnf",
            CacheKind::Zypper => "zypper",
        }
    }
}

/// One cached repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRepo {
    pub kind: CacheKind,
    /// dnf's repo id / zypper's alias.
    pub id: String,
    /// The directory that holds `repodata/`.
    pub dir: PathBuf,
}

impl CachedRepo {
    pub fn repomd(&self) -> PathBuf {
        self.dir.join("repodata/repomd.xml")
    }

    /// A file `repomd.xml` names by its `location href` (relative to the
    /// repository base, normally `repodata/<file>`); caches keep every file
    /// in `repodata/`, so the file name alone is the fallback.
    pub fn data_file(&self, href: &str) -> PathBuf {
        let direct = self.dir.join(href.trim_start_matches('/'));
        if direct.is_file() {
            return direct;
        }
        let file_name = Path::new(href)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        self.dir.join("repodata").join(file_name)
    }
}

/// A cache directory that could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {path}: {source}")]
pub struct ListError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Every cached repository under `root` (dnf and zypper), sorted by kind and
/// id. Missing cache directories mean no refresh has happened yet.
pub fn discover(root: &NodeRoot) -> Result<Vec<CachedRepo>, ListError> {
    let mut repos = Vec::new();
    let mut dnf_newest: HashMap<String, (SystemTime, PathBuf)> = HashMap::new();
    for (dir_name, dir) in repodata_dirs(&root.join(DNF_CACHE))? {
        let Some(id) = dnf_repo_id(&dir_name) else {
            continue;
        };
        let modified = fs::metadata(dir.join("repodata/repomd.xml"))
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match dnf_newest.get(id) {
            Some((newest, _)) if *newest >= modified => {}
            _ => {
                dnf_newest.insert(id.to_owned(), (modified, dir));
            }
        }
    }
    let dnf_enabled = enabled_repo_ids(&root.join(DNF_REPOS))?;
    repos.extend(
        dnf_newest
            .into_iter()
            .filter(|(id, _)| dnf_enabled.as_ref().is_none_or(|ids| ids.contains(id)))
            .map(|(id, (_, dir))| CachedRepo {
                kind: CacheKind::Dnf,
                id,
                dir,
            }),
    );
    let zypper_enabled = enabled_repo_ids(&root.join(ZYPPER_REPOS))?;
    for (dir_name, dir) in repodata_dirs(&root.join(ZYPPER_CACHE))? {
        if zypper_enabled
            .as_ref()
            .is_none_or(|ids| ids.contains(&dir_name))
        {
            repos.push(CachedRepo {
                kind: CacheKind::Zypper,
                id: dir_name,
                dir,
            });
        }
    }
    repos.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(repos)
}

/// Subdirectories of `cache` that hold `repodata/repomd.xml`.
fn repodata_dirs(cache: &Path) -> Result<Vec<(String, PathBuf)>, ListError> {
    let listing = match fs::read_dir(cache) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ListError {
                path: cache.to_owned(),
                source,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|source| ListError {
            path: cache.to_owned(),
            source,
        })?;
        let dir = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if dir.join("repodata/repomd.xml").is_file() {
            dirs.push((name, dir));
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The enabled repository ids of the `.repo` files in `dir`; `None` when
/// there are no `.repo` files. The format is plain INI: a `[id]` section
/// per repository, `enabled=0` disables it (enabled is the default for dnf
/// and zypper alike). Hand-read: only section names and one key matter.
fn enabled_repo_ids(dir: &Path) -> Result<Option<HashSet<String>>, ListError> {
    let list_error = |source| ListError {
        path: dir.to_owned(),
        source,
    };
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(list_error(source)),
    };
    let mut any_file = false;
    let mut enabled = HashSet::new();
    for entry in listing {
        let path = entry.map_err(list_error)?.path();
        if path.extension().is_none_or(|ext| ext != "repo") {
            continue;
        }
        // An unreadable .repo file is the package manager's problem too;
        // it does not make the caches unreadable.
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        any_file = true;
        let mut section: Option<(String, bool)> = None;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                enabled.extend(section.take().filter(|(_, on)| *on).map(|(id, _)| id));
                section = Some((name.trim().to_owned(), true));
            } else if let Some((key, value)) = line.split_once('=')
                && let (Some((_, on)), "enabled") = (section.as_mut(), key.trim())
            {
                *on = !matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "0" | "false" | "no"
                );
            }
        }
        enabled.extend(section.filter(|(_, on)| *on).map(|(id, _)| id));
    }
    Ok(any_file.then_some(enabled))
}

/// `<repoid>-<16 hex>` → `<repoid>` (repo ids may contain `-` themselves).
fn dnf_repo_id(dir_name: &str) -> Option<&str> {
    let (id, hash) = dir_name.rsplit_once('-')?;
    let is_hash = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hash && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repodata(dir: &Path) {
        fs::create_dir_all(dir.join("repodata")).unwrap();
        fs::write(dir.join("repodata/repomd.xml"), b"<repomd/>").unwrap();
    }

    #[test]
    fn dnf_ids_drop_the_url_hash_only() {
        assert_eq!(dnf_repo_id("baseos-f96eb755c5a6d102"), Some("baseos"));
        assert_eq!(dnf_repo_id("my-repo-f96eb755c5a6d102"), Some("my-repo"));
        assert_eq!(dnf_repo_id("baseos"), None);
        assert_eq!(dnf_repo_id("baseos-notahash"), None);
        assert_eq!(dnf_repo_id("-f96eb755c5a6d102"), None);
    }

    #[test]
    fn only_enabled_repositories_count_when_repo_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        for id in ["baseos", "old", "off"] {
            repodata(
                &dir.path()
                    .join(format!("var/cache/dnf/{id}-0123456789abcdef")),
            );
        }
        let ids = |root: &NodeRoot| -> Vec<String> {
            discover(root).unwrap().into_iter().map(|r| r.id).collect()
        };
        assert_eq!(ids(&root), ["baseos", "off", "old"], "no .repo files: all");
        fs::create_dir_all(dir.path().join("etc/yum.repos.d")).unwrap();
        fs::write(
            dir.path().join("etc/yum.repos.d/rocky.repo"),
            "[baseos]\nname=BaseOS\nbaseurl=file:///x\n\n[off]\nenabled = 0\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/yum.repos.d/notes.txt"), "[old]\n").unwrap();
        assert_eq!(ids(&root), ["baseos"]);
    }

    #[test]
    fn finds_both_caches_and_the_newest_dnf_directory_per_repo() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        assert!(discover(&root).unwrap().is_empty());
        let old = dir.path().join("var/cache/dnf/appstream-0000000000000000");
        let new = dir.path().join("var/cache/dnf/appstream-1111111111111111");
        repodata(&old);
        repodata(&new);
        let past = fs::File::options()
            .write(true)
            .open(old.join("repodata/repomd.xml"))
            .unwrap();
        past.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10))
            .unwrap();
        // Not a repository cache: no repodata.
        fs::create_dir_all(dir.path().join("var/cache/dnf/empty-2222222222222222")).unwrap();
        repodata(&dir.path().join("var/cache/zypp/raw/repo-oss"));

        let repos = discover(&root).unwrap();
        let found: Vec<_> = repos
            .iter()
            .map(|r| (r.kind, r.id.as_str(), r.dir.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (CacheKind::Dnf, "appstream", new),
                (
                    CacheKind::Zypper,
                    "repo-oss",
                    dir.path().join("var/cache/zypp/raw/repo-oss")
                ),
            ]
        );
    }
}
