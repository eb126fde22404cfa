//! Installed packages of an rpm-family root. An SQLite database
//! (`rpmdb.sqlite`, rpm ≥ 4.16) is read directly by [`super::rpmdb_sqlite`]
//! (no subprocess); any other backend (ndb, Berkeley DB), or an SQLite one
//! that cannot be read directly (a pending write-ahead log, a corrupt
//! header), is queried with the real `rpm` (`rpm --root R --dbpath P -qa
//! --qf …`), the one interface every rpm version keeps stable.
//!
//! The database is found by probing, and `--dbpath` is always passed: the
//! host's rpm may not default to the root's layout (Debian's rpm defaults to
//! `~/.rpmdb`; RHEL ≤ 9 and Amazon Linux keep `/var/lib/rpm`; Fedora ≥ 36,
//! openSUSE and SLES keep `/usr/lib/sysimage/rpm`, with `/var/lib/rpm` a
//! symlink to it). The testkit roots follow the same two layouts.

use std::path::Path;
use std::process::Command;

use patchline_core::package::InstalledPackage;

use crate::root::NodeRoot;

use super::rpmdb_sqlite::{self, SQLITE_FILE, SqliteRpmdbError};

/// Where rpm databases live, most recent convention first.
pub const RPMDB_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];
/// The files that make a directory an rpm database: sqlite (rpm ≥ 4.16
/// default), ndb (SUSE), Berkeley DB (older releases).
const RPMDB_FILES: [&str; 3] = ["rpmdb.sqlite", "Packages.db", "Packages"];

/// The query format: one tab-separated line per package. rpm forbids
/// whitespace in names, versions, releases and arches, so tabs and newlines
/// cannot occur inside a field.
pub const QUERY_FORMAT: &str =
    "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{INSTALLTIME}\\n";
const FIELDS: usize = 7;
/// What rpm prints for an absent tag.
const NONE: &str = "(none)";

/// Why the rpm database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RpmdbError {
    #[error(
        "no rpm database under {root}: none of {} holds rpmdb.sqlite, Packages.db or Packages",
        RPMDB_DIRS.join(", ")
    )]
    NotFound { root: String },
    #[error("cannot run rpm (install the `rpm` package): {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("reading {SQLITE_FILE} directly failed ({sqlite}), and so did rpm: {rpm}")]
    Both {
        sqlite: SqliteRpmdbError,
        rpm: Box<RpmdbError>,
    },
    #[error("`{command}` output line {line}: {reason}: {text:?}")]
    Output {
        command: String,
        line: usize,
        reason: &'static str,
        text: String,
    },
}

/// One package of the rpm database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmdbEntry {
    pub package: InstalledPackage,
    /// Seconds since the epoch (`INSTALLTIME`).
    pub install_time: Option<i64>,
}

/// The database directory (root-relative, absolute-looking) of `root`.
pub fn find_dbpath(root: &NodeRoot) -> Option<&'static str> {
    RPMDB_DIRS.into_iter().find(|dir| {
        let dir = root.join(dir);
        RPMDB_FILES.iter().any(|file| dir.join(file).is_file())
    })
}

/// Every package of `root`'s rpm database: read directly when it is
/// SQLite, falling back to `rpm -qa` when that fails.
pub fn read_installed(root: &NodeRoot) -> Result<Vec<RpmdbEntry>, RpmdbError> {
    let dbpath = probe(root)?;
    let sqlite = root.join(dbpath).join(SQLITE_FILE);
    if !sqlite.is_file() {
        return query_rpm(root, dbpath);
    }
    rpmdb_sqlite::read_installed(&sqlite).or_else(|sqlite| {
        query_rpm(root, dbpath).map_err(|rpm| RpmdbError::Both {
            sqlite,
            rpm: Box::new(rpm),
        })
    })
}

/// Every package of `root`'s rpm database, always as `rpm -qa` lists them
/// (the reference the direct SQLite reader is tested against).
pub fn read_installed_with_rpm(root: &NodeRoot) -> Result<Vec<RpmdbEntry>, RpmdbError> {
    query_rpm(root, probe(root)?)
}

fn probe(root: &NodeRoot) -> Result<&'static str, RpmdbError> {
    find_dbpath(root).ok_or_else(|| RpmdbError::NotFound {
        root: root.path().display().to_string(),
    })
}

fn query_rpm(root: &NodeRoot, dbpath: &str) -> Result<Vec<RpmdbEntry>, RpmdbError> {
    let command_text = format!("rpm --root {} --dbpath {dbpath} -qa", root.path().display());
    let output = query_command(root.path(), dbpath)
        .output()
        .map_err(RpmdbError::Spawn)?;
    if !output.status.success() {
        return Err(RpmdbError::Failed {
            command: command_text,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    parse_query_output(&String::from_utf8_lossy(&output.stdout)).map_err(|error| {
        RpmdbError::Output {
            command: command_text,
            line: error.line,
            reason: error.reason,
            text: error.text,
        }
    })
}

fn query_command(root: &Path, dbpath: &str) -> Command {
    let mut rpm = Command::new("rpm");
    // `--nodigest --nosignature`: no digest check of each header read from
    // the database, as yum's and dnf's read-only transactions do
    // (`_RPMVSF_NOSIGNATURES | _RPMVSF_NODIGESTS`); it was a quarter of
    // rpm's time on 1,000 packages.
    rpm.env("LC_ALL", "C").arg("--root").arg(root).args([
        "--dbpath",
        dbpath,
        "--nodigest",
        "--nosignature",
        "-qa",
        "--qf",
        QUERY_FORMAT,
    ]);
    rpm
}

/// A line of `rpm -qa` output that does not follow [`QUERY_FORMAT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLineError {
    /// 1-based.
    pub line: usize,
    pub reason: &'static str,
    pub text: String,
}

/// Parses [`QUERY_FORMAT`] output. Versions become `[epoch:]version-release`
/// (no epoch when rpm has none or it is 0, as dnf prints them). Entries
/// without an architecture are skipped: they are the `gpg-pubkey`
/// pseudo-packages that hold imported keys, not software.
pub fn parse_query_output(text: &str) -> Result<Vec<RpmdbEntry>, QueryLineError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let error = |reason| QueryLineError {
            line: index + 1,
            reason,
            text: line.chars().take(200).collect(),
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let [
            name,
            epoch,
            version,
            release,
            arch,
            source_rpm,
            install_time,
        ] = fields[..]
        else {
            return Err(error(if fields.len() < FIELDS {
                "too few fields"
            } else {
                "too many fields"
            }));
        };
        if name.is_empty() || version.is_empty() || version == NONE {
            return Err(error("no name or version"));
        }
        if arch == NONE || arch.is_empty() {
            continue;
        }
        let epoch = match epoch {
            NONE | "" => None,
            digits => Some(digits.parse::<u64>().map_err(|_| error("invalid epoch"))?),
        };
        let entry = package_entry(
            name,
            epoch,
            version,
            Some(release),
            Some(arch),
            Some(source_rpm),
            install_time.parse().ok(),
        )
        .map_err(error)?;
        entries.extend(entry);
    }
    Ok(entries)
}

/// The record of one package from its tag values, shared by the `rpm -qa`
/// parser and the direct SQLite reader so both give identical records.
/// `(none)` (what rpm prints for an absent tag) counts as absent. `Ok(None)`
/// for an entry without an arch (a `gpg-pubkey` pseudo-package).
pub(crate) fn package_entry(
    name: &str,
    epoch: Option<u64>,
    version: &str,
    release: Option<&str>,
    arch: Option<&str>,
    source_rpm: Option<&str>,
    install_time: Option<i64>,
) -> Result<Option<RpmdbEntry>, &'static str> {
    fn present(value: Option<&str>) -> Option<&str> {
        value.filter(|v| !v.is_empty() && *v != NONE)
    }
    if name.is_empty() || present(Some(version)).is_none() {
        return Err("no name or version");
    }
    let Some(arch) = present(arch) else {
        return Ok(None);
    };
    Ok(Some(RpmdbEntry {
        package: InstalledPackage {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: evr_string(epoch.unwrap_or(0), version, present(release).unwrap_or("")),
            source: source_rpm.and_then(source_name),
        },
        install_time,
    }))
}

/// `[epoch:]version[-release]`, the epoch omitted when 0 (rpm orders a
/// missing epoch as 0, so both spellings compare equal; one spelling keeps
/// installed and repository versions textually identical too).
pub fn evr_string(epoch: u64, version: &str, release: &str) -> String {
    let mut evr = String::with_capacity(version.len() + release.len() + 4);
    if epoch != 0 {
        evr.push_str(&epoch.to_string());
        evr.push(':');
    }
    evr.push_str(version);
    if !release.is_empty() {
        evr.push('-');
        evr.push_str(release);
    }
    evr
}

/// The source package name from a `SOURCERPM` value
/// (`openssl-3.0.7-24.el9.src.rpm` → `openssl`).
fn source_name(source_rpm: &str) -> Option<String> {
    let stem = source_rpm
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))?;
    let (name_version, _release) = stem.rsplit_once('-')?;
    let (name, _version) = name_version.rsplit_once('-')?;
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, arch: &str, version: &str, source: Option<&str>) -> InstalledPackage {
        InstalledPackage {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: version.to_owned(),
            source: source.map(str::to_owned),
        }
    }

    #[test]
    fn parses_epochs_sources_and_skips_key_pseudo_packages() {
        let text = "openssl-libs\t1\t3.0.7\t24.el9\tx86_64\topenssl-3.0.7-24.el9.src.rpm\t1700000000\n\
                    \n\
                    bash\t(none)\t5.1.8\t6.el9_1\tx86_64\tbash-5.1.8-6.el9_1.src.rpm\t1700000001\n\
                    gpg-pubkey\t(none)\t350d275d\t6279464b\t(none)\t(none)\t1700000002\n\
                    tzdata\t0\t2024a\t1.el9\tnoarch\t(none)\t(none)\n\
                    python3-dnf-plugin-x\t(none)\t4.3.0\t(none)\tnoarch\tdnf-plugins-core-4.3.0-5.el9.nosrc.rpm\t1\n";
        let entries = parse_query_output(text).unwrap();
        let packages: Vec<_> = entries.iter().map(|e| e.package.clone()).collect();
        assert_eq!(
            packages,
            [
                entry("openssl-libs", "x86_64", "1:3.0.7-24.el9", Some("openssl")),
                entry("bash", "x86_64", "5.1.8-6.el9_1", Some("bash")),
                entry("tzdata", "noarch", "2024a-1.el9", None),
                entry(
                    "python3-dnf-plugin-x",
                    "noarch",
                    "4.3.0",
                    Some("dnf-plugins-core")
                ),
            ]
        );
        assert_eq!(entries[0].install_time, Some(1_700_000_000));
        assert_eq!(entries[2].install_time, None);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let short = parse_query_output("bash\t(none)\t5.1\t1\tx86_64\n").unwrap_err();
        assert_eq!((short.line, short.reason), (1, "too few fields"));
        let long =
            parse_query_output("ok\t(none)\t1\t1\tx86_64\t(none)\t1\nb\t1\t2\t3\t4\t5\t6\t7\n")
                .unwrap_err();
        assert_eq!((long.line, long.reason), (2, "too many fields"));
        let epoch = parse_query_output("bash\tone\t5.1\t1\tx86_64\t(none)\t1\n").unwrap_err();
        assert_eq!(epoch.reason, "invalid epoch");
        let nameless = parse_query_output("\t(none)\t5.1\t1\tx86_64\t(none)\t1\n").unwrap_err();
        assert_eq!(nameless.reason, "no name or version");
        assert!(parse_query_output("").unwrap().is_empty());
    }

    #[test]
    fn source_names_need_a_full_source_rpm_file_name() {
        assert_eq!(
            source_name("glibc-2.34-83.el9.src.rpm").as_deref(),
            Some("glibc")
        );
        assert_eq!(source_name("a-b-c-1-2.src.rpm").as_deref(), Some("a-b-c"));
        assert_eq!(source_name("(none)"), None);
        assert_eq!(source_name("weird.src.rpm"), None);
    }

    #[test]
    fn the_database_is_found_in_either_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        assert_eq!(find_dbpath(&root), None);
        std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        std::fs::write(dir.path().join("var/lib/rpm/rpmdb.sqlite"), b"").unwrap();
        assert_eq!(find_dbpath(&root), Some("/var/lib/rpm"));
        std::fs::create_dir_all(dir.path().join("usr/lib/sysimage/rpm")).unwrap();
        assert_eq!(
            find_dbpath(&root),
            Some("/var/lib/rpm"),
            "an empty dir is no db"
        );
        std::fs::write(dir.path().join("usr/lib/sysimage/rpm/Packages.db"), b"").unwrap();
        assert_eq!(find_dbpath(&root), Some("/usr/lib/sysimage/rpm"));
    }
}
