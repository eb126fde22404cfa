//! The direct SQLite rpmdb reader against its oracle, `rpm -qa`: on dnf and
//! zypper testkit roots whose database the real rpm wrote (epochs, an arch
//! package, noarch ones, distro-style releases, an imported `gpg-pubkey`),
//! both give exactly the same records, and the direct read leaves every
//! file under the root byte-identical (SQLite's `-shm` included).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use patchline_agent::NodeRoot;
use patchline_agent::rpm::rpmdb::{self, RpmdbError};
use patchline_agent::rpm::rpmdb_sqlite;
use patchline_testkit::{
    DnfRoot, DnfRootOptions, PackageRoot, RpmPackage, ZypperRoot, ZypperRootOptions,
};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in ok(fs::read_dir(&current)) {
            let entry = ok(entry);
            let kind = ok(entry.file_type());
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.insert(entry.path(), ok(fs::read(entry.path())));
            }
        }
    }
    files
}

/// Installs the test packages and an OpenPGP key with the root's own rpm.
fn populate(dir: &Path, root: &dyn PackageRoot, mut rpm: impl FnMut() -> Command) {
    let rpms = dir.join("rpms");
    let built: Vec<PathBuf> = [
        RpmPackage::new("kit-epoch", "1.0").epoch(3),
        RpmPackage::new("kit-zero-epoch", "2.1").epoch(0),
        RpmPackage::new("kit-plain", "0.9"),
        RpmPackage::new("kit-native", "5.1.8")
            .release("6.el9_1")
            .arch("x86_64"),
        RpmPackage::new("kit-dotted", "2024a").release("1.1.noarch.x"),
    ]
    .iter()
    .map(|package| ok(package.build(&rpms)).path)
    .collect();
    let files: Vec<&Path> = built.iter().map(PathBuf::as_path).collect();
    ok(root.install_files(&files));

    // A real key, as `rpm --import` stores it: a `gpg-pubkey` header
    // without an arch.
    let key = dir.join("key.asc");
    let exported = ok(Command::new("gpg")
        .args([
            "--no-default-keyring",
            "--keyring",
            "/usr/share/keyrings/debian-archive-bookworm-stable.gpg",
            "--export",
            "--armor",
        ])
        .output());
    assert!(exported.status.success() && !exported.stdout.is_empty());
    ok(fs::write(&key, &exported.stdout));
    let imported = ok(rpm().arg("--import").arg(&key).output());
    assert!(imported.status.success(), "{imported:?}");
    let keys = ok(rpm().args(["-q", "gpg-pubkey"]).output());
    assert!(keys.status.success(), "the key is in the rpmdb: {keys:?}");
}

fn assert_direct_read_matches_rpm(root_dir: &Path, dbpath: &str) {
    let root = NodeRoot::new(root_dir);
    let reference = ok(rpmdb::read_installed_with_rpm(&root));

    let before = snapshot(root_dir);
    let direct = ok(rpmdb_sqlite::read_installed(
        &root_dir
            .join(dbpath.trim_start_matches('/'))
            .join("rpmdb.sqlite"),
    ));
    let after = snapshot(root_dir);
    let changed: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(changed.is_empty(), "the direct read changed {changed:?}");

    assert_eq!(direct, reference);
    assert_eq!(ok(rpmdb::read_installed(&root)), reference);

    let find = |name: &str| {
        direct
            .iter()
            .find(|e| e.package.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {direct:#?}"))
    };
    assert_eq!(find("kit-epoch").package.version, "3:1.0-1");
    assert_eq!(find("kit-zero-epoch").package.version, "2.1-1");
    assert_eq!(find("kit-native").package.arch, "x86_64");
    assert_eq!(find("kit-native").package.version, "5.1.8-6.el9_1");
    assert_eq!(
        find("kit-native").package.source.as_deref(),
        Some("kit-native")
    );
    assert_eq!(find("kit-dotted").package.version, "2024a-1.1.noarch.x");
    assert_eq!(find("kit-plain").package.arch, "noarch");
    assert!(find("kit-plain").install_time.is_some_and(|t| t > 0));
    assert!(direct.iter().all(|e| e.package.name != "gpg-pubkey"));
}

#[test]
fn a_dnf_root_reads_the_same_directly_as_with_rpm() {
    let dir = ok(tempfile::tempdir());
    let root = ok(DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions::default(),
    ));
    populate(dir.path(), &root, || ok(root.rpm()));
    let dbpath = ok(rpmdb::find_dbpath(&NodeRoot::new(root.path())).ok_or("no rpmdb"));
    assert_direct_read_matches_rpm(root.path(), dbpath);
}

#[test]
fn a_zypper_root_reads_the_same_directly_as_with_rpm() {
    let dir = ok(tempfile::tempdir());
    let root = ok(ZypperRoot::create(
        dir.path().join("node"),
        &ZypperRootOptions::default(),
    ));
    populate(dir.path(), &root, || ok(root.rpm()));
    let dbpath = ok(rpmdb::find_dbpath(&NodeRoot::new(root.path())).ok_or("no rpmdb"));
    assert_direct_read_matches_rpm(root.path(), dbpath);
}

#[test]
fn a_database_neither_sqlite_nor_rpm_can_read_names_both_failures() {
    let dir = ok(tempfile::tempdir());
    let db_dir = dir.path().join("var/lib/rpm");
    ok(fs::create_dir_all(&db_dir));
    ok(fs::write(
        db_dir.join("rpmdb.sqlite"),
        b"not an sqlite database, not at all; long enough to have a header page".repeat(100),
    ));
    let error = rpmdb::read_installed(&NodeRoot::new(dir.path())).unwrap_err();
    assert!(matches!(error, RpmdbError::Both { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("rpmdb.sqlite"), "{message}");
}
