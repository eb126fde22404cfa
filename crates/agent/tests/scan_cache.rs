//! The scan cache on testkit Debian roots (dpkg database and apt lists
//! written by the real dpkg and apt-get): a scan with a cache directory
//! reports exactly what a scan without one does — cold, warm, after a list
//! or the installed packages changed, with a damaged cache, or with a
//! cache directory that cannot be written — and writes nothing to the root;
//! the entries of lists that are gone are pruned.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use patchline_agent::{NodeRoot, ScanOptions, ScanReport, scan, scan_with_cache};
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, PackageRoot,
};

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn options() -> ScanOptions {
    ScanOptions {
        baseline: None,
        now: "2024-02-20T00:00:00Z".parse::<Timestamp>().unwrap(),
    }
}

/// The whole report as JSON, to compare reports field by field.
fn json(report: &ScanReport) -> String {
    ok(serde_json::to_string_pretty(report))
}

fn uncached(root: &AptRoot) -> String {
    json(&ok(scan(&NodeRoot::new(root.path()), &options())))
}

fn cached(root: &AptRoot, cache: &Path) -> String {
    json(&ok(scan_with_cache(
        &NodeRoot::new(root.path()),
        &options(),
        Some(cache),
    )))
}

/// The scan cache keeps no entry of a list changed less than a second
/// before the scan (its next change could keep its identity): wait that out.
fn let_lists_settle() {
    std::thread::sleep(Duration::from_millis(1_100));
}

/// A Debian 12 root with `installed` of kit-ssl and kit-editor installed
/// from `stable`, then a security fix of kit-ssl published and fetched.
struct Node {
    _dir: tempfile::TempDir,
    root: AptRoot,
    cache: PathBuf,
}

fn node(installed: &[&str]) -> Node {
    let dir = ok(tempfile::tempdir());
    let arch = ok(native_architecture());
    let build = |name: &str, version: &str, out: &str| {
        ok(DebPackage::new(name, version)
            .arch(&arch)
            .section("libs")
            .build(&dir.path().join(out)))
    };
    let v1 = [
        build("kit-ssl", "3.0.11-1~deb12u1", "v1"),
        build("kit-editor", "2:9.0-2", "v1"),
    ];
    let fixed = build("kit-ssl", "3.0.13-1~deb12u1", "v2");
    let mut repo = ok(AptRepository::new(dir.path().join("repo")));
    let stable = AptSuite::new("stable")
        .with_date("2024-01-10T10:00:00Z".parse().unwrap())
        .with_packages(&v1);
    ok(repo.publish(std::slice::from_ref(&stable)));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(installed));
    ok(repo.publish(&[
        stable,
        AptSuite::security("stable-security")
            .with_date("2024-02-01T10:00:00Z".parse().unwrap())
            .with_packages([&fixed]),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());
    let cache = dir.path().join("scan-cache");
    Node {
        _dir: dir,
        root,
        cache,
    }
}

/// Each cache file and its inode: a rewrite (temp file + rename) changes it.
fn cache_files(cache: &Path) -> BTreeMap<PathBuf, u64> {
    ok(fs::read_dir(cache))
        .map(|entry| {
            let entry = ok(entry);
            (entry.path(), ok(entry.metadata()).ino())
        })
        .collect()
}

/// Every file under `dir` with its size and modification time.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in ok(fs::read_dir(&dir)) {
            let entry = ok(entry);
            let metadata = ok(fs::symlink_metadata(entry.path()));
            if metadata.is_dir() {
                pending.push(entry.path());
            }
            files.insert(entry.path(), (metadata.len(), ok(metadata.modified())));
        }
    }
    files
}

fn packages_lists(root: &AptRoot) -> Vec<PathBuf> {
    let lists = root.path().join("var/lib/apt/lists");
    let mut found: Vec<PathBuf> = ok(fs::read_dir(lists))
        .map(|entry| ok(entry).path())
        .filter(|path| path.to_string_lossy().ends_with("_Packages"))
        .collect();
    found.sort();
    found
}

#[test]
fn a_warm_cache_gives_the_report_of_no_cache_and_writes_nothing_to_the_root() {
    let node = node(&["kit-ssl", "kit-editor"]);
    let_lists_settle();
    let root_before = fingerprint(node.root.path());
    let expected = uncached(&node.root);
    assert!(expected.contains("3.0.13-1~deb12u1"), "{expected}");

    assert_eq!(cached(&node.root, &node.cache), expected, "cold cache");
    let written = cache_files(&node.cache);
    assert_eq!(written.len(), packages_lists(&node.root).len());
    assert_eq!(cached(&node.root, &node.cache), expected, "warm cache");
    // A hit rewrites nothing.
    assert_eq!(cache_files(&node.cache), written);
    assert_eq!(fingerprint(node.root.path()), root_before);
}

#[test]
fn a_list_changed_in_place_is_read_again() {
    let node = node(&["kit-ssl", "kit-editor"]);
    let_lists_settle();
    cached(&node.root, &node.cache);
    let written = cache_files(&node.cache);
    // Same inode, same size, other content: only the file times differ.
    let security = packages_lists(&node.root)
        .into_iter()
        .find(|path| path.to_string_lossy().contains("security"))
        .expect("a security list");
    let text = ok(fs::read_to_string(&security));
    assert!(text.contains("3.0.13-1~deb12u1"));
    ok(fs::write(
        &security,
        text.replace("3.0.13-1~deb12u1", "3.0.14-1~deb12u1"),
    ));

    let expected = uncached(&node.root);
    assert!(expected.contains("3.0.14-1~deb12u1"), "{expected}");
    assert!(!expected.contains("3.0.13-1~deb12u1"), "{expected}");
    // Just changed: read again, but not cached yet.
    assert_eq!(cached(&node.root, &node.cache), expected);
    assert_eq!(cache_files(&node.cache), written);
    // Settled: cached anew, then used.
    let_lists_settle();
    assert_eq!(cached(&node.root, &node.cache), expected);
    let rewritten = cache_files(&node.cache);
    assert_ne!(rewritten, written);
    assert_eq!(cached(&node.root, &node.cache), expected);
    assert_eq!(cache_files(&node.cache), rewritten);
}

#[test]
fn the_entries_of_a_dropped_repository_are_pruned() {
    let node = node(&["kit-ssl", "kit-editor"]);
    let_lists_settle();
    cached(&node.root, &node.cache);
    let security = packages_lists(&node.root)
        .into_iter()
        .find(|path| path.to_string_lossy().contains("security"))
        .expect("a security list");
    assert_eq!(
        cache_files(&node.cache).len(),
        packages_lists(&node.root).len()
    );
    // apt drops the lists of a suite no longer in its sources on update;
    // removing the file is what that leaves behind.
    ok(fs::remove_file(&security));

    let expected = uncached(&node.root);
    assert!(!expected.contains("3.0.13-1~deb12u1"), "{expected}");
    assert_eq!(cached(&node.root, &node.cache), expected);
    let left = cache_files(&node.cache);
    assert_eq!(left.len(), packages_lists(&node.root).len(), "{left:?}");
    // The entries of the lists that remain are still hits.
    assert_eq!(cached(&node.root, &node.cache), expected);
    assert_eq!(cache_files(&node.cache), left);
}

#[test]
fn a_package_installed_since_changes_what_the_cache_holds() {
    let node = node(&["kit-ssl"]);
    let_lists_settle();
    let before = cached(&node.root, &node.cache);
    assert!(!before.contains("kit-editor"), "{before}");
    // dpkg rewrites its status; the lists stay as they were.
    let lists_before: Vec<u64> = packages_lists(&node.root)
        .iter()
        .map(|path| ok(fs::metadata(path)).ino())
        .collect();
    ok(node.root.install(&["kit-editor"]));
    let lists_after: Vec<u64> = packages_lists(&node.root)
        .iter()
        .map(|path| ok(fs::metadata(path)).ino())
        .collect();
    assert_eq!(lists_before, lists_after);

    let expected = uncached(&node.root);
    assert!(expected.contains("kit-editor"), "{expected}");
    assert_eq!(cached(&node.root, &node.cache), expected);
}

#[test]
fn a_damaged_cache_gives_the_same_report_and_is_repaired() {
    let node = node(&["kit-ssl", "kit-editor"]);
    let_lists_settle();
    let expected = uncached(&node.root);
    cached(&node.root, &node.cache);
    let files = cache_files(&node.cache);
    assert!(!files.is_empty());
    for (index, file) in files.keys().enumerate() {
        let bytes = ok(fs::read(file));
        let damaged = match index % 3 {
            0 => bytes[..bytes.len() / 2].to_vec(),
            1 => b"not a cache file".to_vec(),
            _ => bytes.iter().map(|b| b ^ 0x55).collect(),
        };
        ok(fs::write(file, damaged));
    }
    assert_eq!(cached(&node.root, &node.cache), expected);
    let repaired = cache_files(&node.cache);
    assert_ne!(repaired, files);
    assert_eq!(cached(&node.root, &node.cache), expected);
    assert_eq!(cache_files(&node.cache), repaired);
}

#[test]
fn a_cache_directory_that_cannot_be_written_only_costs_the_cache() {
    let node = node(&["kit-ssl", "kit-editor"]);
    let_lists_settle();
    let expected = uncached(&node.root);
    // A file where the directory would be: nothing can be created below
    // it (permissions would not stop root).
    let blocker = node.cache.with_file_name("blocker");
    ok(fs::write(&blocker, ""));
    let cache = blocker.join("scan-cache");
    assert_eq!(cached(&node.root, &cache), expected);
    assert_eq!(cached(&node.root, &cache), expected);
    assert!(!cache.exists());
}

#[test]
fn the_scan_command_takes_a_cache_directory() {
    let node = node(&["kit-ssl", "kit-editor"]);
    let_lists_settle();
    let agent = |cache: Option<&Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_patchline-agent"));
        command
            .args(["scan", "--json", "--at", "2024-02-20T00:00:00Z", "--root"])
            .arg(node.root.path());
        if let Some(cache) = cache {
            command.arg("--cache-dir").arg(cache);
        }
        let output = ok(command.output());
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let expected = agent(None);
    assert!(!node.cache.exists());
    assert_eq!(agent(Some(&node.cache)), expected);
    let written = cache_files(&node.cache);
    assert_eq!(written.len(), packages_lists(&node.root).len());
    assert_eq!(agent(Some(&node.cache)), expected);
    assert_eq!(cache_files(&node.cache), written);
}
