//! The Debian-family inventory read straight from dpkg's and apt's files:
//! installed packages from `var/lib/dpkg/status`, known versions from the
//! apt lists in `var/lib/apt/lists` (whatever `apt-get update` last fetched).
//!
//! An update is `security` when its list belongs to a security pocket
//! (see [`Release::is_security`]). Its release date is the date of the
//! Release file it was listed in: the newest moment the version is known to
//! be published. Lists without a Release file (flat `file:` repositories)
//! use the list file's modification time.
//!
//! Only entries of installed names matter, and lists hold tens of
//! thousands of others: those are skipped unparsed ([`stanzas`]), so a
//! malformed entry of a package the node does not have no longer fails
//! the scan; one of an installed package still does, naming its line.
//!
//! With a cache directory, what a scan took from each list is kept there
//! and reused while the list is unchanged ([`list_cache`]).

mod list_cache;
mod stanzas;

use rustc_hash::FxHashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::Timestamp;
use patchline_core::package::{
    Classification, DebPriority, InstalledPackage, Severity, Update, arches_compatible,
};
use patchline_metadata::apt_packages::{PackageEntry, PackagesError, entries as packages_entries};
use patchline_metadata::apt_release::{Release, ReleaseError, parse_release};
use patchline_metadata::compression::{self, Compression, DecompressError};
use patchline_metadata::deb822::Deb822Error;
use patchline_metadata::dpkg_status::{InstalledPackage as DpkgEntry, StatusError, parse_status};
use serde::Serialize;

use crate::known_versions::KnownVersions;
use crate::root::{NodeRoot, ReadError};
use list_cache::{ListCache, ListIdentity, ListedVersion};
use stanzas::Filtered;

pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
pub const DPKG_JOURNAL: &str = "/var/lib/dpkg/updates";
pub const APT_LISTS: &str = "/var/lib/apt/lists";

/// Why the Debian-family inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AptInventoryError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {source}")]
    Status {
        path: PathBuf,
        #[source]
        source: StatusError,
    },
    #[error("{path}: {source}")]
    Release {
        path: PathBuf,
        #[source]
        source: ReleaseError,
    },
    #[error("{path}: {source}")]
    Packages {
        path: PathBuf,
        #[source]
        source: PackagesError,
    },
    #[error("cannot list {path}: {source}")]
    ListDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A package dpkg left mid-operation (an interrupted install).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InterruptedPackage {
    pub name: String,
    pub arch: String,
    /// The dpkg state, e.g. `half-configured`.
    pub state: String,
}

/// One apt source the updates came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AptSource {
    /// Suite or codename from the Release file; the list prefix otherwise.
    pub name: String,
    pub security: bool,
    pub date: Option<Timestamp>,
    pub indexes: usize,
}

/// Everything the Debian-family scan needs from the node.
#[derive(Debug, Clone, Default)]
pub struct AptInventory {
    pub installed: Vec<InstalledPackage>,
    pub interrupted: Vec<InterruptedPackage>,
    /// Every listed version of an installed package (also older ones).
    pub updates: Vec<Update>,
    pub sources: Vec<AptSource>,
}

/// Reads installed packages and known versions under `root`.
pub fn read_inventory(root: &NodeRoot) -> Result<AptInventory, AptInventoryError> {
    read_inventory_with_cache(root, None)
}

/// [`read_inventory`], keeping what it takes from each apt list in
/// `cache_dir` (outside the root) and reusing it while the list and the
/// installed names are unchanged. The result is the same with or without
/// the cache; the cache never causes an error.
pub fn read_inventory_with_cache(
    root: &NodeRoot,
    cache_dir: Option<&Path>,
) -> Result<AptInventory, AptInventoryError> {
    let (installed, interrupted) = read_installed(root)?;
    // Installed names and their architectures.
    let mut wanted = WantedNames::default();
    for package in &installed {
        wanted.entry(&package.name).or_default().push(&package.arch);
    }
    let cache = cache_dir.map(|dir| ListCache::new(dir, wanted.keys().copied()));
    let mut known = KnownVersions::default();
    let mut sources = Vec::new();
    let lists = discover_lists(&root.join(APT_LISTS))?;
    for list in &lists {
        sources.push(read_list_group(list, &wanted, cache.as_ref(), &mut known)?);
    }
    if let Some(cache) = &cache {
        let scanned: Vec<&Path> = lists
            .iter()
            .flat_map(|group| group.indexes.iter().map(PathBuf::as_path))
            .collect();
        cache.prune(&scanned);
    }
    Ok(AptInventory {
        updates: known.into_updates(),
        installed,
        interrupted,
        sources,
    })
}

fn read_installed(
    root: &NodeRoot,
) -> Result<(Vec<InstalledPackage>, Vec<InterruptedPackage>), AptInventoryError> {
    let status = read_status_file(root)?;
    // Borrowed from the status text: only what a scan keeps is copied.
    let entries = dpkg_database(root, &status)?;
    let mut installed = Vec::with_capacity(entries.len());
    let mut interrupted = Vec::new();
    for entry in entries {
        let arch = entry.architecture.as_deref().unwrap_or("").to_owned();
        if entry.status.is_interrupted() {
            interrupted.push(InterruptedPackage {
                name: entry.name.to_string(),
                arch: arch.clone(),
                state: entry.status.state.to_string(),
            });
        }
        let Some(version) = entry.version.as_deref() else {
            continue;
        };
        if entry.status.state.has_files() {
            installed.push(InstalledPackage {
                name: entry.name.into_owned(),
                arch,
                version: version.to_owned(),
                source: entry.source.as_ref().map(|s| s.name.to_string()),
            });
        }
    }
    Ok((installed, interrupted))
}

/// The dpkg database as dpkg itself sees it: the status file with the
/// journal in `updates/` applied, in order. A killed dpkg leaves its last
/// state changes only in that journal (the status file is rewritten at
/// checkpoints), so the status file alone can show a stale state.
pub fn read_dpkg_database(root: &NodeRoot) -> Result<Vec<DpkgEntry<'static>>, AptInventoryError> {
    let status = read_status_file(root)?;
    Ok(dpkg_database(root, &status)?
        .into_iter()
        .map(DpkgEntry::into_owned)
        .collect())
}

/// The status file's bytes, whatever they hold.
fn read_status_file(root: &NodeRoot) -> Result<Vec<u8>, AptInventoryError> {
    let path = root.join(DPKG_STATUS);
    fs::read(&path).map_err(|source| AptInventoryError::from(ReadError { path, source }))
}

/// [`read_dpkg_database`] borrowing from `status`, the status file's bytes
/// (journal entries, rare, are owned).
fn dpkg_database<'a>(
    root: &NodeRoot,
    status: &'a [u8],
) -> Result<Vec<DpkgEntry<'a>>, AptInventoryError> {
    let mut entries = parse_status(status).map_err(|source| AptInventoryError::Status {
        path: root.join(DPKG_STATUS),
        source,
    })?;
    for journal in dpkg_journal_files(root)? {
        for update in read_status_entries(&journal)? {
            let known = entries
                .iter_mut()
                .find(|e| e.name == update.name && e.architecture == update.architecture);
            match known {
                Some(entry) => *entry = update,
                None => entries.push(update),
            }
        }
    }
    Ok(entries)
}

fn read_status_entries(path: &Path) -> Result<Vec<DpkgEntry<'static>>, AptInventoryError> {
    let bytes = fs::read(path).map_err(|source| ReadError {
        path: path.to_owned(),
        source,
    })?;
    let entries = parse_status(&bytes).map_err(|source| AptInventoryError::Status {
        path: path.to_owned(),
        source,
    })?;
    Ok(entries.into_iter().map(DpkgEntry::into_owned).collect())
}

/// dpkg's pending journal entries (`updates/0000`...), in order.
fn dpkg_journal_files(root: &NodeRoot) -> Result<Vec<PathBuf>, AptInventoryError> {
    let dir = root.join(DPKG_JOURNAL);
    let listing = match fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AptInventoryError::ListDir { path: dir, source }),
    };
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A Release file (if any) and the Packages indexes that belong to it.
#[derive(Debug, Default)]
struct ListGroup {
    prefix: String,
    release: Option<PathBuf>,
    indexes: Vec<PathBuf>,
}

/// Groups the files of apt's lists directory by their repository prefix
/// (`host_path_dists_suite_`). A missing directory means no lists yet.
fn discover_lists(dir: &Path) -> Result<Vec<ListGroup>, AptInventoryError> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AptInventoryError::ListDir {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut names: Vec<String> = listing
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut groups: Vec<ListGroup> = Vec::new();
    // Release files define the groups; InRelease is preferred over Release.
    for name in &names {
        let prefix = name
            .strip_suffix("InRelease")
            .or_else(|| name.strip_suffix("Release"));
        if let Some(prefix) = prefix {
            match groups.iter_mut().find(|g| g.prefix == prefix) {
                Some(group) if name.ends_with("InRelease") => group.release = Some(dir.join(name)),
                Some(_) => {}
                None => groups.push(ListGroup {
                    prefix: prefix.to_owned(),
                    release: Some(dir.join(name)),
                    indexes: Vec::new(),
                }),
            }
        }
    }
    for name in names.iter().filter(|name| is_packages_index(name)) {
        let owner = groups
            .iter_mut()
            .filter(|g| name.starts_with(&g.prefix))
            .max_by_key(|g| g.prefix.len());
        match owner {
            Some(group) => group.indexes.push(dir.join(name)),
            None => groups.push(ListGroup {
                prefix: name.clone(),
                release: None,
                indexes: vec![dir.join(name)],
            }),
        }
    }
    groups.retain(|g| !g.indexes.is_empty());
    Ok(groups)
}

fn is_packages_index(name: &str) -> bool {
    let base = [".gz", ".xz", ".lz4", ".zst"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
    base == "Packages" || base.ends_with("_Packages")
}

fn read_list_group(
    group: &ListGroup,
    wanted: &WantedNames<'_>,
    cache: Option<&ListCache>,
    known: &mut KnownVersions,
) -> Result<AptSource, AptInventoryError> {
    let release = match &group.release {
        Some(path) => Some(read_release(path)?),
        None => None,
    };
    let security = release.as_ref().is_some_and(Release::is_security);
    let name = release
        .as_ref()
        .and_then(|r| r.suite.clone().or_else(|| r.codename.clone()))
        .unwrap_or_else(|| group.prefix.trim_end_matches('_').to_owned());
    let published = match release.as_ref().and_then(|r| r.date) {
        Some(date) => date,
        None => modified(group.release.as_ref().unwrap_or(&group.indexes[0]))?,
    };
    let day = published.to_zoned(jiff::tz::TimeZone::UTC).date();
    let classification = if security {
        Classification::Security
    } else {
        Classification::Other
    };
    for path in &group.indexes {
        for listed in listed_versions(path, wanted, cache)? {
            let applies = wanted.get(listed.name.as_str()).is_some_and(|arches| {
                arches
                    .iter()
                    .any(|arch| arches_compatible(arch, &listed.arch))
            });
            if applies {
                known.add(Update {
                    priority: listed.priority.as_deref().and_then(DebPriority::from_field),
                    name: listed.name,
                    arch: listed.arch,
                    version: listed.version,
                    classification,
                    severity: Severity::Unspecified,
                    release_date: day,
                    advisory_id: None,
                    cves: Vec::new(),
                    repository: Some(name.clone()),
                    section: listed.section,
                    reboot_suggested: false,
                });
            }
        }
    }
    Ok(AptSource {
        name,
        security,
        date: release.as_ref().and_then(|r| r.date),
        indexes: group.indexes.len(),
    })
}

/// The entries of installed names in the list at `path` (any
/// architecture): from the cache while the list is unchanged, read
/// otherwise (and then cached).
fn listed_versions(
    path: &Path,
    wanted: &WantedNames<'_>,
    cache: Option<&ListCache>,
) -> Result<Vec<ListedVersion>, AptInventoryError> {
    let Some(cache) = cache else {
        return read_listed_versions(path, wanted);
    };
    let read_at = SystemTime::now();
    let Ok(metadata) = fs::metadata(path) else {
        // The read reports the error.
        return read_listed_versions(path, wanted);
    };
    let identity = ListIdentity::of(&metadata);
    if let Some(versions) = cache.load(path, &identity) {
        return Ok(versions);
    }
    let versions = read_listed_versions(path, wanted)?;
    // Stored only if the list did not change while (or just before) it
    // was read: the entry must describe the content of that identity.
    let unchanged = fs::metadata(path).is_ok_and(|m| ListIdentity::of(&m) == identity);
    if unchanged && identity.settled_before(read_at) {
        cache.store(path, &identity, &versions);
    }
    Ok(versions)
}

fn keep_if_wanted(
    entry: PackageEntry<'_>,
    wanted: &WantedNames<'_>,
    versions: &mut Vec<ListedVersion>,
) {
    if wanted.contains_key(entry.package.as_ref()) {
        versions.push(ListedVersion {
            name: entry.package.into_owned(),
            arch: entry.architecture.into_owned(),
            version: entry.version.into_owned(),
            priority: entry.priority.map(|p| p.into_owned()),
            section: entry.section.map(|s| s.into_owned()),
        });
    }
}

/// Reads the list at `path` for the entries of installed names.
fn read_listed_versions(
    path: &Path,
    wanted: &WantedNames<'_>,
) -> Result<Vec<ListedVersion>, AptInventoryError> {
    let mut versions = Vec::new();
    let filtered = filter_list(path, wanted, &mut |entry| {
        keep_if_wanted(entry, wanted, &mut versions)
    })?;
    if filtered == Filtered::GaveUp {
        // What the filter handed over before giving up comes again.
        versions.clear();
        parse_whole_list(path, &mut |entry| {
            keep_if_wanted(entry, wanted, &mut versions)
        })?;
    }
    Ok(versions)
}

/// Installed names and their architectures: looked up once per list entry
/// (tens of thousands), so with a fast non-cryptographic hash. Keys come
/// from the node's own dpkg database.
type WantedNames<'a> = FxHashMap<&'a str, Vec<&'a str>>;

/// Most entries of a list are of names the node does not have: reads the
/// list in blocks and parses only the stanzas of installed names (see
/// [`stanzas`]). A stanza that does not parse gives up, so the whole-file
/// parse reports the error at its line in the file.
fn filter_list(
    path: &Path,
    wanted: &WantedNames<'_>,
    add: &mut impl FnMut(PackageEntry<'_>),
) -> Result<Filtered, AptInventoryError> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let read_error = |source| ReadError {
        path: path.to_owned(),
        source,
    };
    let is_wanted = |name: &str| wanted.contains_key(name);
    let each = |stanza: &[u8]| {
        // Valid UTF-8 is the rule: check it fast, replace only when needed.
        let text = match std::str::from_utf8(stanza) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(stanza),
        };
        for_each_entry(&text, &mut *add).is_ok()
    };
    let filtered = if Compression::from_file_name(file_name).is_some() {
        let bytes = fs::read(path).map_err(read_error)?;
        let packages_error = |source: DecompressError| AptInventoryError::Packages {
            path: path.to_owned(),
            source: source.into(),
        };
        compression::check_name(file_name, &bytes).map_err(packages_error)?;
        let reader = compression::open(&bytes).map_err(packages_error)?;
        stanzas::for_each_wanted_stanza(reader, is_wanted, each).map_err(|error| {
            match compression::layer_failure(&error) {
                Some(failure) => packages_error(failure),
                None => read_error(error).into(),
            }
        })?
    } else {
        // A plain-named file holding compressed bytes does not start with
        // `Package:`: the filter gives up and the whole-file path decodes it.
        let file = fs::File::open(path).map_err(read_error)?;
        if file.metadata().map_err(read_error)?.len() == 0 {
            stanzas::Filtered::Complete
        } else {
            // SAFETY: the map is read-only and private to this scan. apt
            // replaces list files by renaming new ones over them, so the
            // mapped inode keeps its bytes; only an in-place truncation by
            // another program during the scan could fault, and nothing
            // that manages apt lists does that. Mapping instead of reading
            // spares the kernel copying tens of megabytes per scan.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_error)?;
            stanzas::for_each_wanted_stanza_in(&map, is_wanted, each)
        }
    };
    Ok(filtered)
}

/// Decompresses and parses a whole list (any shape deb822 allows).
fn parse_whole_list(
    path: &Path,
    add: &mut impl FnMut(PackageEntry<'_>),
) -> Result<(), AptInventoryError> {
    let bytes = fs::read(path).map_err(|source| ReadError {
        path: path.to_owned(),
        source,
    })?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let packages_error = |source: PackagesError| AptInventoryError::Packages {
        path: path.to_owned(),
        source,
    };
    let plain = compression::decompress_named(file_name, &bytes)
        .map_err(|error| packages_error(error.into()))?;
    for_each_entry(&String::from_utf8_lossy(&plain), add)
        .map_err(|error| packages_error(error.into()))
}

/// Parses every entry of Packages `text`, stopping at the first error.
fn for_each_entry(text: &str, mut each: impl FnMut(PackageEntry<'_>)) -> Result<(), Deb822Error> {
    for entry in packages_entries(text) {
        each(entry?);
    }
    Ok(())
}

fn read_release(path: &Path) -> Result<Release, AptInventoryError> {
    let bytes = fs::read(path).map_err(|source| ReadError {
        path: path.to_owned(),
        source,
    })?;
    parse_release(&bytes).map_err(|source| AptInventoryError::Release {
        path: path.to_owned(),
        source,
    })
}

fn modified(path: &Path) -> Result<Timestamp, AptInventoryError> {
    let read_error = |source| ReadError {
        path: path.to_owned(),
        source,
    };
    let time = fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(read_error)?;
    Timestamp::try_from(time).map_err(|error| {
        AptInventoryError::Read(read_error(std::io::Error::other(error.to_string())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: kit\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n\
                          Package: tool\nStatus: install ok installed\nArchitecture: all\nVersion: 2.0-1\n";

    fn root_with_list(list: &str) -> (tempfile::TempDir, NodeRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        fs::create_dir_all(root.join("/var/lib/dpkg")).unwrap();
        fs::create_dir_all(root.join(APT_LISTS)).unwrap();
        fs::write(root.join(DPKG_STATUS), STATUS).unwrap();
        fs::write(
            root.join(APT_LISTS)
                .join("deb.example_dists_stable_main_binary-amd64_Packages"),
            list,
        )
        .unwrap();
        (dir, root)
    }

    #[test]
    fn lists_give_versions_of_installed_names_and_compatible_arches_only() {
        let list = "Package: other\nArchitecture: amd64\nVersion: 9\n\n\
                    Package: kit\nArchitecture: amd64\nVersion: 1.0-2\n\n\
                    Package: kit\nArchitecture: i386\nVersion: 1.0-2\n\n\
                    Package: tool\nArchitecture: all\nVersion: 2.0-2\n";
        let (_dir, root) = root_with_list(list);
        let inventory = read_inventory(&root).unwrap();
        let versions: Vec<(&str, &str, &str)> = inventory
            .updates
            .iter()
            .map(|u| (u.name.as_str(), u.arch.as_str(), u.version.as_str()))
            .collect();
        assert_eq!(
            versions,
            [("kit", "amd64", "1.0-2"), ("tool", "all", "2.0-2")]
        );
    }

    #[test]
    fn a_broken_wanted_entry_is_reported_at_its_line_in_the_whole_list() {
        let list = "Package: other\nArchitecture: amd64\nVersion: 9\n\n\
                    Package: kit\nArchitecture: amd64\nno colon here\n";
        let (_dir, root) = root_with_list(list);
        let error = read_inventory(&root).unwrap_err().to_string();
        assert!(error.contains("line 7"), "{error}");
        assert!(error.contains("binary-amd64_Packages"), "{error}");
    }

    #[test]
    fn a_cache_entry_of_the_list_as_it_is_now_is_used_instead_of_the_list() {
        let list = "Package: kit\nArchitecture: amd64\nVersion: 1.0-2\n";
        let (dir, root) = root_with_list(list);
        let cache_dir = dir.path().join("cache");
        let versions = |root: &NodeRoot| -> Vec<String> {
            read_inventory_with_cache(root, Some(&cache_dir))
                .unwrap()
                .updates
                .into_iter()
                .map(|u| u.version)
                .collect()
        };
        assert_eq!(versions(&root), ["1.0-2"]);
        // An entry stored for the list's current identity stands for its
        // content: a scan takes it without reading the list.
        let path = root
            .join(APT_LISTS)
            .join("deb.example_dists_stable_main_binary-amd64_Packages");
        let identity = ListIdentity::of(&fs::metadata(&path).unwrap());
        let cache = ListCache::new(&cache_dir, ["kit", "tool"]);
        let stored = ListedVersion {
            name: "kit".into(),
            arch: "amd64".into(),
            version: "1.0-9".into(),
            priority: None,
            section: None,
        };
        cache.store(&path, &identity, &[stored]);
        assert_eq!(versions(&root), ["1.0-9"]);
        assert_eq!(read_inventory(&root).unwrap().updates[0].version, "1.0-2");
    }

    #[test]
    fn a_list_of_another_shape_is_parsed_whole() {
        // Version before Package: the pre-filter steps aside.
        let list = "Version: 1.0-3\nArchitecture: amd64\nPackage: kit\n";
        let (_dir, root) = root_with_list(list);
        let inventory = read_inventory(&root).unwrap();
        assert_eq!(inventory.updates.len(), 1);
        assert_eq!(inventory.updates[0].version, "1.0-3");
    }
}
