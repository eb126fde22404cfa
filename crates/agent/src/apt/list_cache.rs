//! The scan cache of apt lists: per list file, the entries a scan took
//! from it (those of installed names, already parsed), so an unchanged
//! list is neither read nor filtered again — what apt's own `pkgcache.bin`
//! is to `apt-get`.
//!
//! The cache lives in a directory the caller names, never inside the
//! scanned root (a scan does not write to the node). An entry is used only
//! when the list file still has the identity it had when the entry was
//! written — device, inode, size, modification and change times in
//! nanoseconds — and was filtered for the same set of installed names (a
//! SHA-256 of the sorted names: installing or removing a package changes
//! it). Anything else — no file, another format version, a truncated or
//! corrupt file (a CRC-32 covers the body), another list, another identity
//! — is a miss: the list is read and its entry rewritten, through a
//! temporary file renamed over the old one. Failing to write only costs the
//! next scan the read.
//!
//! After a scan, [`ListCache::prune`] removes the entries of lists that no
//! longer exist (a repository dropped from `sources.list`, a suite renamed)
//! and temporary files a killed agent left behind, so the directory does
//! not grow without bound. It keeps entries of lists this scan did not read
//! but that still exist: one cache directory may serve several roots.

use std::fs::{self, Metadata};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

/// Starts every cache file.
const MAGIC: &[u8; 8] = b"PLAPTLC\n";
/// Bumped whenever what is stored, or how, changes: an older file is a miss.
const FORMAT_VERSION: u32 = 1;
/// Magic, version, body length, body CRC-32.
const HEADER_LEN: usize = MAGIC.len() + 4 + 8 + 4;
/// A list changed less than this before a scan read it may change again
/// within the same file-system timestamp tick, unseen by its identity: its
/// entry is not written (like git's "racily clean" index entries).
const SETTLE_TIME: Duration = Duration::from_secs(1);
/// Every cache file's name starts with this.
const FILE_PREFIX: &str = "apt-list-";
/// A temporary file older than this is a leftover of a killed writer (a
/// live one exists for the few milliseconds of one write).
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);
/// The header and stored list path of a cache file are read in one bounded
/// read when pruning: a list path is far shorter than this.
const PRUNE_READ_LIMIT: u64 = 8192;

/// One entry of a list, as a scan uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedVersion {
    pub name: String,
    pub arch: String,
    pub version: String,
    pub priority: Option<String>,
    pub section: Option<String>,
}

/// What identifies the content of a list file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListIdentity {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
}

impl ListIdentity {
    pub(crate) fn of(metadata: &Metadata) -> ListIdentity {
        let nanos =
            |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        ListIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: nanos(metadata.mtime(), metadata.mtime_nsec()),
            changed_ns: nanos(metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// Whether the file last changed well before `read_at`, so that a
    /// later change shows in its change time (which no program can set).
    pub(crate) fn settled_before(&self, read_at: SystemTime) -> bool {
        let Some(settled) = read_at.checked_sub(SETTLE_TIME) else {
            return false;
        };
        let Ok(settled) = settled.duration_since(UNIX_EPOCH) else {
            return false;
        };
        self.changed_ns < settled.as_nanos() as i128
    }
}

/// The cache directory and the installed names the scan filters for.
#[derive(Debug)]
pub(crate) struct ListCache {
    dir: PathBuf,
    wanted: [u8; 32],
}

impl ListCache {
    /// A cache in `dir` for a node whose installed names are `names`
    /// (any order, repeats allowed).
    pub(crate) fn new<'a>(dir: &Path, names: impl IntoIterator<Item = &'a str>) -> ListCache {
        let mut names: Vec<&str> = names.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        let mut hasher = Sha256::new();
        for name in names {
            // Names hold no NUL: a separator no name can shift.
            hasher.update(name.as_bytes());
            hasher.update([0]);
        }
        ListCache {
            dir: dir.to_owned(),
            wanted: hasher.finalize().into(),
        }
    }

    /// The entries stored for `list`, if they are those of its content now.
    pub(crate) fn load(&self, list: &Path, identity: &ListIdentity) -> Option<Vec<ListedVersion>> {
        let bytes = fs::read(self.file_of(list)).ok()?;
        let body = checked_body(&bytes)?;
        let mut reader = Reader(body);
        let stored_list = reader.bytes()?;
        let stored_identity = reader.identity()?;
        let stored_wanted = reader.take(32)?;
        if stored_list != list.as_os_str().as_bytes()
            || stored_identity != *identity
            || stored_wanted != self.wanted
        {
            return None;
        }
        let count = reader.u32()? as usize;
        // Each entry takes at least 14 bytes: a corrupt count allocates nothing huge.
        let mut versions = Vec::with_capacity(count.min(body.len() / 14));
        for _ in 0..count {
            versions.push(ListedVersion {
                name: reader.string()?,
                arch: reader.string()?,
                version: reader.string()?,
                priority: reader.optional_string()?,
                section: reader.optional_string()?,
            });
        }
        reader.0.is_empty().then_some(versions)
    }

    /// Stores the entries of `list` read while it had `identity`. Best
    /// effort: the cache is an optimisation, an error only means a miss.
    pub(crate) fn store(&self, list: &Path, identity: &ListIdentity, versions: &[ListedVersion]) {
        if let Err(error) = self.try_store(list, identity, versions) {
            tracing::debug!(list = %list.display(), cache = %self.dir.display(), %error,
                "scan cache entry not written");
        }
    }

    fn try_store(
        &self,
        list: &Path,
        identity: &ListIdentity,
        versions: &[ListedVersion],
    ) -> std::io::Result<()> {
        let mut body = Vec::with_capacity(256 + versions.len() * 64);
        put_bytes(&mut body, list.as_os_str().as_bytes());
        put_identity(&mut body, identity);
        body.extend_from_slice(&self.wanted);
        put_u32(&mut body, versions.len());
        for version in versions {
            put_bytes(&mut body, version.name.as_bytes());
            put_bytes(&mut body, version.arch.as_bytes());
            put_bytes(&mut body, version.version.as_bytes());
            put_optional(&mut body, version.priority.as_deref());
            put_optional(&mut body, version.section.as_deref());
        }
        let mut file = Vec::with_capacity(HEADER_LEN + body.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.extend_from_slice(&(body.len() as u64).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        file.extend_from_slice(&body);

        fs::create_dir_all(&self.dir)?;
        let mut temporary = tempfile::NamedTempFile::new_in(&self.dir)?;
        temporary.write_all(&file)?;
        temporary
            .persist(self.file_of(list))
            .map_err(|error| error.error)?;
        Ok(())
    }

    /// Removes the entries of lists that no longer exist and stale
    /// temporary files; `scanned` are the lists the scan just read (their
    /// entries are current and not opened again). Best effort, like
    /// [`ListCache::store`]; returns how many files were removed.
    pub(crate) fn prune(&self, scanned: &[&Path]) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let current: std::collections::HashSet<PathBuf> =
            scanned.iter().map(|list| self.file_of(list)).collect();
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let obsolete = if name.starts_with(FILE_PREFIX) {
                !current.contains(&path) && stored_list_is_gone(&path)
            } else if name.starts_with(".tmp") {
                entry
                    .metadata()
                    .and_then(|metadata| metadata.modified())
                    .ok()
                    .and_then(|modified| modified.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMPORARY)
            } else {
                // Not ours: the directory may hold other files.
                false
            };
            if obsolete {
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(error) => tracing::debug!(file = %path.display(), %error,
                        "scan cache file not pruned"),
                }
            }
        }
        removed
    }

    /// One file per list path (the path is stored in it and checked too).
    fn file_of(&self, list: &Path) -> PathBuf {
        let digest = Sha256::digest(list.as_os_str().as_bytes());
        let mut name = String::from(FILE_PREFIX);
        for byte in &digest[..12] {
            name.push_str(&format!("{byte:02x}"));
        }
        self.dir.join(name)
    }
}

/// Whether the cache file at `path` belongs to a list that no longer
/// exists. A file of another format or too damaged to name its list is
/// obsolete too (it could never be a hit); one that cannot be read now is
/// left for a later prune.
fn stored_list_is_gone(path: &Path) -> bool {
    use std::io::Read as _;
    let mut start = Vec::new();
    let read =
        fs::File::open(path).and_then(|file| file.take(PRUNE_READ_LIMIT).read_to_end(&mut start));
    if read.is_err() {
        return false;
    }
    let mut reader = Reader(&start);
    let header_ok = reader.take(MAGIC.len()) == Some(MAGIC.as_slice())
        && reader.u32() == Some(FORMAT_VERSION)
        && reader.take(8 + 4).is_some();
    let list = header_ok.then(|| reader.bytes()).flatten();
    match list {
        Some(list) => !Path::new(std::ffi::OsStr::from_bytes(list)).exists(),
        None => true,
    }
}

/// The body of a cache file whose header is this format's and whose
/// length and checksum match.
fn checked_body(bytes: &[u8]) -> Option<&[u8]> {
    let mut reader = Reader(bytes);
    if reader.take(MAGIC.len())? != MAGIC || reader.u32()? != FORMAT_VERSION {
        return None;
    }
    let length = usize::try_from(reader.u64()?).ok()?;
    let checksum = reader.u32()?;
    let body = reader.0;
    (body.len() == length && crc32fast::hash(body) == checksum).then_some(body)
}

fn put_u32(out: &mut Vec<u8>, value: usize) {
    // Lengths and counts of one list's entries: far below 4 GiB.
    out.extend_from_slice(&(value as u32).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_bytes(out, text.as_bytes());
        }
    }
}

fn put_identity(out: &mut Vec<u8>, identity: &ListIdentity) {
    out.extend_from_slice(&identity.device.to_le_bytes());
    out.extend_from_slice(&identity.inode.to_le_bytes());
    out.extend_from_slice(&identity.size.to_le_bytes());
    out.extend_from_slice(&identity.modified_ns.to_le_bytes());
    out.extend_from_slice(&identity.changed_ns.to_le_bytes());
}

/// Reads the fields back; `None` as soon as anything is short or invalid.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn i128(&mut self) -> Option<i128> {
        self.array().map(i128::from_le_bytes)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }

    fn optional_string(&mut self) -> Option<Option<String>> {
        match self.take(1)?[0] {
            0 => Some(None),
            1 => self.string().map(Some),
            _ => None,
        }
    }

    fn identity(&mut self) -> Option<ListIdentity> {
        Some(ListIdentity {
            device: self.u64()?,
            inode: self.u64()?,
            size: self.u64()?,
            modified_ns: self.i128()?,
            changed_ns: self.i128()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> Vec<ListedVersion> {
        vec![
            ListedVersion {
                name: "kit".into(),
                arch: "amd64".into(),
                version: "1.0-2".into(),
                priority: Some("optional".into()),
                section: None,
            },
            ListedVersion {
                name: "tool".into(),
                arch: "all".into(),
                version: "2:2.0~rc1-1".into(),
                priority: None,
                section: Some("utils".into()),
            },
        ]
    }

    /// A cache directory and a list file with its identity.
    fn setup() -> (tempfile::TempDir, PathBuf, ListIdentity) {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("example_Packages");
        fs::write(&list, "Package: kit\n").unwrap();
        let identity = ListIdentity::of(&fs::metadata(&list).unwrap());
        (dir, list, identity)
    }

    #[test]
    fn what_is_stored_loads_back_for_the_same_list_identity_and_names() {
        let (dir, list, identity) = setup();
        let cache = ListCache::new(&dir.path().join("cache"), ["tool", "kit", "kit"]);
        assert_eq!(cache.load(&list, &identity), None);
        cache.store(&list, &identity, &versions());
        assert_eq!(cache.load(&list, &identity), Some(versions()));
        // The same names in another order are the same set.
        let again = ListCache::new(&dir.path().join("cache"), ["kit", "tool"]);
        assert_eq!(again.load(&list, &identity), Some(versions()));
    }

    #[test]
    fn other_names_another_identity_or_another_list_miss() {
        let (dir, list, identity) = setup();
        let cache = ListCache::new(&dir.path().join("cache"), ["kit", "tool"]);
        cache.store(&list, &identity, &versions());
        let more_names = ListCache::new(&dir.path().join("cache"), ["kit", "tool", "zz"]);
        assert_eq!(more_names.load(&list, &identity), None);
        let mut grown = identity;
        grown.size += 1;
        assert_eq!(cache.load(&list, &grown), None);
        let mut touched = identity;
        touched.modified_ns += 1;
        assert_eq!(cache.load(&list, &touched), None);
        assert_eq!(
            cache.load(&dir.path().join("other_Packages"), &identity),
            None
        );
    }

    #[test]
    fn any_damaged_file_is_a_miss() {
        let (dir, list, identity) = setup();
        let cache = ListCache::new(&dir.path().join("cache"), ["kit", "tool"]);
        cache.store(&list, &identity, &versions());
        let file = cache.file_of(&list);
        let good = fs::read(&file).unwrap();
        // Every truncation, every flipped byte, another format version.
        for length in 0..good.len() {
            fs::write(&file, &good[..length]).unwrap();
            assert_eq!(cache.load(&list, &identity), None, "truncated to {length}");
        }
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            fs::write(&file, &bad).unwrap();
            assert_eq!(cache.load(&list, &identity), None, "byte {at} flipped");
        }
        let mut other_version = good.clone();
        other_version[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&2u32.to_le_bytes());
        fs::write(&file, &other_version).unwrap();
        assert_eq!(cache.load(&list, &identity), None);
        // Rewriting repairs it.
        cache.store(&list, &identity, &versions());
        assert_eq!(cache.load(&list, &identity), Some(versions()));
    }

    #[test]
    fn an_unwritable_cache_directory_is_only_a_miss() {
        let (dir, list, identity) = setup();
        // A file where the directory should be: nothing can be created in it.
        let blocked = dir.path().join("blocked");
        fs::write(&blocked, "").unwrap();
        let cache = ListCache::new(&blocked, ["kit"]);
        cache.store(&list, &identity, &versions());
        assert_eq!(cache.load(&list, &identity), None);
    }

    #[test]
    fn pruning_removes_entries_of_vanished_lists_and_stale_temporaries_only() {
        let (dir, list, identity) = setup();
        let cache_dir = dir.path().join("cache");
        let cache = ListCache::new(&cache_dir, ["kit", "tool"]);
        let gone = dir.path().join("gone_Packages");
        fs::write(&gone, "Package: kit\n").unwrap();
        let other_root = dir.path().join("other_Packages");
        fs::write(&other_root, "Package: kit\n").unwrap();
        for path in [&list, &gone, &other_root] {
            let identity = ListIdentity::of(&fs::metadata(path).unwrap());
            cache.store(path, &identity, &versions());
        }
        fs::remove_file(&gone).unwrap();
        // A leftover of a killed writer, an hour and more old, a fresh
        // one (a writer at work), an old-format file and a foreign file.
        let stale = cache_dir.join(".tmpSTALE");
        fs::write(&stale, "partial").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        let fresh = cache_dir.join(".tmpFRESH");
        fs::write(&fresh, "partial").unwrap();
        let old_format = cache_dir.join(format!("{FILE_PREFIX}0123"));
        fs::write(&old_format, b"PLAPTLC\n\x00\x00\x00\x00").unwrap();
        let foreign = cache_dir.join("README");
        fs::write(&foreign, "mine").unwrap();

        assert_eq!(cache.prune(&[list.as_path()]), 3);
        assert_eq!(cache.load(&list, &identity), Some(versions()));
        let other_identity = ListIdentity::of(&fs::metadata(&other_root).unwrap());
        assert_eq!(cache.load(&other_root, &other_identity), Some(versions()));
        assert!(!cache.file_of(&gone).exists());
        assert!(!stale.exists() && !old_format.exists());
        assert!(fresh.exists() && foreign.exists());
        // Nothing left to prune; a missing directory prunes nothing.
        assert_eq!(cache.prune(&[list.as_path()]), 0);
        assert_eq!(
            ListCache::new(&dir.path().join("none"), ["kit"]).prune(&[]),
            0
        );
    }

    #[test]
    fn a_list_changed_just_now_is_not_settled() {
        let (_dir, _list, identity) = setup();
        let now = SystemTime::now();
        assert!(!identity.settled_before(now));
        assert!(identity.settled_before(now + SETTLE_TIME * 2));
    }
}
