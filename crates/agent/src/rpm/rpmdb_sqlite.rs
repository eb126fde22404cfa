//! Installed packages read straight from an SQLite rpm database
//! (`rpmdb.sqlite`, rpm ≥ 4.16), without running `rpm`: the subprocess was
//! half of an RPM scan's time. Each row of `Packages(hnum, blob)` is an rpm
//! header without its 8-byte magic; we decode only the tags `rpm -qa --qf`
//! prints (see [`super::rpmdb::QUERY_FORMAT`]) and build the very records
//! the `rpm -qa` parser builds.
//!
//! The database is opened read-only and `immutable=1`, so SQLite takes no
//! lock and never creates or touches `-shm`/`-wal` files: a scan leaves the
//! root byte-identical. Immutable mode ignores a write-ahead log, so a
//! non-empty `-wal` (a transaction not yet checkpointed) or a database that
//! changed while we read it is an error, and the caller falls back to `rpm`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags};

use super::rpmdb::{RpmdbEntry, package_entry};

/// The database file name this reader handles.
pub const SQLITE_FILE: &str = "rpmdb.sqlite";

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_INSTALLTIME: i32 = 1008;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

const INDEX_ENTRY_LEN: usize = 16;
/// rpm's own bounds on a header (`hdrchkTags`, `hdrchkData`): anything
/// larger is corrupt, and checking first keeps the arithmetic small.
const MAX_INDEX_ENTRIES: u32 = 0x00ff_ffff;
const MAX_DATA_LEN: u32 = 0x0fff_ffff;

/// Why the SQLite rpm database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SqliteRpmdbError {
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{wal}: {len} bytes of write-ahead log not yet checkpointed")]
    PendingWal { wal: PathBuf, len: u64 },
    #[error("{path} changed while it was read")]
    Changed { path: PathBuf },
    #[error("{path}: Packages row hnum {hnum}: {source}")]
    Header {
        path: PathBuf,
        hnum: i64,
        #[source]
        source: HeaderError,
    },
}

/// Why one header blob could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{len} bytes, too short for the 8-byte preamble")]
    NoPreamble { len: usize },
    #[error("index count {il} or data length {dl} beyond rpm's limits")]
    Absurd { il: u32, dl: u32 },
    #[error("{il} index entries and {dl} data bytes need {needed} bytes, the blob has {len}")]
    Truncated {
        il: u32,
        dl: u32,
        needed: usize,
        len: usize,
    },
    #[error("tag {tag}: type {found}, expected {expected}")]
    WrongType {
        tag: i32,
        found: u32,
        expected: &'static str,
    },
    #[error("tag {tag}: offset {offset} (count {count}) outside the {dl}-byte data store")]
    OutOfRange {
        tag: i32,
        offset: i32,
        count: u32,
        dl: u32,
    },
    #[error("tag {tag}: string not NUL-terminated within the data store")]
    Unterminated { tag: i32 },
    #[error("no name or version")]
    NoNameOrVersion,
}

/// Every package of the SQLite database at `db` (a `rpmdb.sqlite` file), in
/// `hnum` order as `rpm -qa` lists them.
pub fn read_installed(db: &Path) -> Result<Vec<RpmdbEntry>, SqliteRpmdbError> {
    let wal = sibling(db, "-wal");
    match fs::metadata(&wal) {
        Ok(meta) if meta.len() > 0 => {
            return Err(SqliteRpmdbError::PendingWal {
                wal,
                len: meta.len(),
            });
        }
        _ => {}
    }
    let before = file_state(db)?;
    let entries = read_rows(db)?;
    if file_state(db)? != before || fs::metadata(&wal).is_ok_and(|meta| meta.len() > 0) {
        return Err(SqliteRpmdbError::Changed {
            path: db.to_owned(),
        });
    }
    Ok(entries)
}

/// Upper bound of the mapping (SQLite maps no more than the file).
const MMAP_SIZE: i64 = 1 << 30;

fn read_rows(db: &Path) -> Result<Vec<RpmdbEntry>, SqliteRpmdbError> {
    let sqlite_error = |source| SqliteRpmdbError::Sqlite {
        path: db.to_owned(),
        source,
    };
    let connection = Connection::open_with_flags(
        immutable_uri(db)?,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    // Pages straight from a read-only mapping of the file: no read() copy
    // and no page-cache allocations per scan (the database is 2–20 MB).
    connection
        .pragma_update(None, "mmap_size", MMAP_SIZE)
        .map_err(sqlite_error)?;
    let mut statement = connection
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sqlite_error)?;
    let mut rows = statement.query([]).map_err(sqlite_error)?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let hnum: i64 = row.get(0).map_err(sqlite_error)?;
        let blob = row.get_ref(1).map_err(sqlite_error)?;
        let blob = blob
            .as_blob()
            .map_err(|error| sqlite_error(rusqlite::Error::from(error)))?;
        let entry = parse_header(blob).map_err(|source| SqliteRpmdbError::Header {
            path: db.to_owned(),
            hnum,
            source,
        })?;
        entries.extend(entry);
    }
    Ok(entries)
}

/// `file:` URI of `db` with `mode=ro&immutable=1`; the path is
/// percent-encoded (a root path may hold `?`, `#` or `%`).
fn immutable_uri(db: &Path) -> Result<String, SqliteRpmdbError> {
    let absolute = std::path::absolute(db).map_err(|source| SqliteRpmdbError::Io {
        path: db.to_owned(),
        source,
    })?;
    let mut uri = String::from("file:");
    for &byte in absolute.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_state(path: &Path) -> Result<(u64, Option<SystemTime>), SqliteRpmdbError> {
    let meta = fs::metadata(path).map_err(|source| SqliteRpmdbError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok((meta.len(), meta.modified().ok()))
}

/// Decodes one header blob into the record `rpm -qa --qf` would give, or
/// `None` for entries without an arch (`gpg-pubkey` pseudo-packages).
/// Hand-written rather than a crate: the available rpm crates parse whole
/// package files, and we need seven tags from thousands of headers.
pub fn parse_header(blob: &[u8]) -> Result<Option<RpmdbEntry>, HeaderError> {
    let header = Header::new(blob)?;
    let name = header.string(TAG_NAME)?;
    let version = header.string(TAG_VERSION)?;
    let (Some(name), Some(version)) = (name, version) else {
        return Err(HeaderError::NoNameOrVersion);
    };
    let arch = header.string(TAG_ARCH)?;
    let release = header.string(TAG_RELEASE)?;
    let epoch = header.int32(TAG_EPOCH)?;
    let source_rpm = header.string(TAG_SOURCERPM)?;
    let install_time = header.int32(TAG_INSTALLTIME)?;
    package_entry(
        &name,
        epoch.map(u64::from),
        &version,
        release.as_deref(),
        arch.as_deref(),
        source_rpm.as_deref(),
        install_time.map(i64::from),
    )
    .map_err(|_| HeaderError::NoNameOrVersion)
}

/// A validated view of a header blob: the index and data store lie within
/// the blob; each entry is checked when read.
struct Header<'b> {
    index: &'b [u8],
    data: &'b [u8],
}

impl<'b> Header<'b> {
    fn new(blob: &'b [u8]) -> Result<Header<'b>, HeaderError> {
        let (Some(il), Some(dl)) = (be_u32(blob, 0), be_u32(blob, 4)) else {
            return Err(HeaderError::NoPreamble { len: blob.len() });
        };
        if il > MAX_INDEX_ENTRIES || dl > MAX_DATA_LEN {
            return Err(HeaderError::Absurd { il, dl });
        }
        // Both bounded above, so this cannot overflow even on 32-bit.
        let index_len = il as usize * INDEX_ENTRY_LEN;
        let needed = 8 + index_len + dl as usize;
        if blob.len() < needed {
            return Err(HeaderError::Truncated {
                il,
                dl,
                needed,
                len: blob.len(),
            });
        }
        Ok(Header {
            index: &blob[8..8 + index_len],
            data: &blob[8 + index_len..needed],
        })
    }

    /// The (type, offset, count) of `tag`'s last entry: rpm lets entries
    /// added after install ("dribble" entries) replace region ones.
    fn find(&self, tag: i32) -> Option<(u32, i32, u32)> {
        self.index
            .chunks_exact(INDEX_ENTRY_LEN)
            .rev()
            .find(|entry| be_u32(entry, 0).map(|t| t as i32) == Some(tag))
            .and_then(|entry| {
                Some((
                    be_u32(entry, 4)?,
                    be_u32(entry, 8)? as i32,
                    be_u32(entry, 12)?,
                ))
            })
    }

    fn start(&self, tag: i32, offset: i32, count: u32) -> Result<usize, HeaderError> {
        usize::try_from(offset)
            .ok()
            .filter(|&start| start < self.data.len())
            .ok_or(HeaderError::OutOfRange {
                tag,
                offset,
                count,
                dl: self.data.len() as u32,
            })
    }

    /// The tag's string (an I18N string's first, as `--qf` prints it).
    fn string(&self, tag: i32) -> Result<Option<String>, HeaderError> {
        let Some((kind, offset, count)) = self.find(tag) else {
            return Ok(None);
        };
        if kind != TYPE_STRING && kind != TYPE_I18NSTRING {
            return Err(HeaderError::WrongType {
                tag,
                found: kind,
                expected: "STRING",
            });
        }
        let start = self.start(tag, offset, count)?;
        let rest = &self.data[start..];
        let end = memchr::memchr(0, rest).ok_or(HeaderError::Unterminated { tag })?;
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    }

    /// The tag's first INT32.
    fn int32(&self, tag: i32) -> Result<Option<u32>, HeaderError> {
        let Some((kind, offset, count)) = self.find(tag) else {
            return Ok(None);
        };
        if kind != TYPE_INT32 {
            return Err(HeaderError::WrongType {
                tag,
                found: kind,
                expected: "INT32",
            });
        }
        let start = self.start(tag, offset, count)?;
        match (count, be_u32(self.data, start)) {
            (1.., Some(value)) => Ok(Some(value)),
            _ => Err(HeaderError::OutOfRange {
                tag,
                offset,
                count,
                dl: self.data.len() as u32,
            }),
        }
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let word: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::package::InstalledPackage;

    enum Value<'a> {
        Str(&'a str),
        Int(u32),
    }

    /// A header blob as rpm stores it in `Packages.blob`: preamble, index,
    /// data store (INT32 values 4-aligned, as rpm aligns them).
    fn blob(tags: &[(i32, Value)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in tags {
            let kind = match value {
                Value::Str(_) => TYPE_STRING,
                Value::Int(_) => TYPE_INT32,
            };
            if kind == TYPE_INT32 {
                data.resize(data.len().next_multiple_of(4), 0);
            }
            for word in [*tag as u32, kind, data.len() as u32, 1] {
                index.extend(word.to_be_bytes());
            }
            match value {
                Value::Str(text) => data.extend(text.bytes().chain([0])),
                Value::Int(number) => data.extend(number.to_be_bytes()),
            }
        }
        let mut out = Vec::new();
        out.extend(((index.len() / 16) as u32).to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn openssl() -> Vec<(i32, Value<'static>)> {
        vec![
            (TAG_NAME, Value::Str("openssl-libs")),
            (TAG_VERSION, Value::Str("3.0.7")),
            (TAG_RELEASE, Value::Str("24.el9")),
            (TAG_EPOCH, Value::Int(1)),
            (TAG_INSTALLTIME, Value::Int(1_700_000_000)),
            (TAG_ARCH, Value::Str("x86_64")),
            (TAG_SOURCERPM, Value::Str("openssl-3.0.7-24.el9.src.rpm")),
        ]
    }

    #[test]
    fn decodes_the_tags_rpm_qa_prints() {
        let entry = parse_header(&blob(&openssl())).unwrap().unwrap();
        assert_eq!(
            entry,
            RpmdbEntry {
                package: InstalledPackage {
                    name: "openssl-libs".to_owned(),
                    arch: "x86_64".to_owned(),
                    version: "1:3.0.7-24.el9".to_owned(),
                    source: Some("openssl".to_owned()),
                },
                install_time: Some(1_700_000_000),
            }
        );
    }

    #[test]
    fn absent_tags_read_as_rpm_prints_them() {
        let entry = parse_header(&blob(&[
            (TAG_NAME, Value::Str("tzdata")),
            (TAG_VERSION, Value::Str("2024a")),
            (TAG_ARCH, Value::Str("noarch")),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(entry.package.version, "2024a");
        assert_eq!((entry.package.source, entry.install_time), (None, None));
        let key = blob(&[
            (TAG_NAME, Value::Str("gpg-pubkey")),
            (TAG_VERSION, Value::Str("350d275d")),
            (TAG_RELEASE, Value::Str("6279464b")),
        ]);
        assert_eq!(parse_header(&key), Ok(None), "keys are skipped");
        let nameless = blob(&[(TAG_VERSION, Value::Str("1")), (TAG_ARCH, Value::Str("a"))]);
        assert_eq!(parse_header(&nameless), Err(HeaderError::NoNameOrVersion));
    }

    #[test]
    fn a_later_entry_for_a_tag_replaces_the_earlier() {
        let mut tags = openssl();
        tags.push((TAG_INSTALLTIME, Value::Int(1_800_000_000)));
        let entry = parse_header(&blob(&tags)).unwrap().unwrap();
        assert_eq!(entry.install_time, Some(1_800_000_000));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let whole = blob(&openssl());
        for len in 0..whole.len() {
            assert!(parse_header(&whole[..len]).is_err(), "{len} bytes");
        }
        assert_eq!(
            parse_header(&whole[..5]),
            Err(HeaderError::NoPreamble { len: 5 })
        );
    }

    #[test]
    fn absurd_counts_are_rejected_before_any_arithmetic() {
        let mut bad = blob(&openssl());
        bad[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            parse_header(&bad),
            Err(HeaderError::Absurd { .. })
        ));
        let mut bad = blob(&openssl());
        bad[4..8].copy_from_slice(&0x0fff_ffffu32.to_be_bytes());
        assert!(matches!(
            parse_header(&bad),
            Err(HeaderError::Truncated { .. })
        ));
    }

    /// Rewrites field `at` (0 tag, 4 type, 8 offset, 12 count) of the index
    /// entry of `tag`.
    fn patch(blob: &mut [u8], tag: i32, at: usize, value: u32) {
        let entry = (8..blob.len())
            .step_by(16)
            .find(|&start| blob[start..start + 4] == tag.to_be_bytes())
            .unwrap();
        blob[entry + at..entry + at + 4].copy_from_slice(&value.to_be_bytes());
    }

    #[test]
    fn offsets_types_and_terminators_are_checked() {
        let whole = blob(&openssl());
        let dl = u32::from_be_bytes(whole[4..8].try_into().unwrap());
        for offset in [dl, dl + 100, u32::MAX, 0x8000_0000] {
            let mut bad = whole.clone();
            patch(&mut bad, TAG_NAME, 8, offset);
            assert!(
                matches!(
                    parse_header(&bad),
                    Err(HeaderError::OutOfRange { tag: TAG_NAME, .. })
                ),
                "{offset}"
            );
        }
        let mut bad = whole.clone();
        patch(&mut bad, TAG_EPOCH, 8, dl - 2);
        assert!(matches!(
            parse_header(&bad),
            Err(HeaderError::OutOfRange { tag: TAG_EPOCH, .. })
        ));
        let mut bad = whole.clone();
        patch(&mut bad, TAG_EPOCH, 12, 0);
        assert!(parse_header(&bad).is_err(), "an INT32 with no values");
        let mut bad = whole.clone();
        patch(&mut bad, TAG_NAME, 4, TYPE_INT32);
        assert!(matches!(
            parse_header(&bad),
            Err(HeaderError::WrongType { tag: TAG_NAME, .. })
        ));
        let mut bad = whole.clone();
        *bad.last_mut().unwrap() = b'x';
        assert_eq!(
            parse_header(&bad),
            Err(HeaderError::Unterminated { tag: TAG_SOURCERPM })
        );
    }

    #[test]
    fn no_single_byte_change_panics() {
        let whole = blob(&openssl());
        for at in 0..whole.len() {
            for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut mutated = whole.clone();
                mutated[at] = byte;
                let _ = parse_header(&mutated);
            }
        }
    }
}
