//! A `scan` work item with `refresh` runs the node's real package manager
//! on a testkit root: newly published versions reach the next check-in's
//! inventory; a broken repository makes the work fail with apt's own words.

use patchline_agent::NodeRoot;
use patchline_agent::checkin::WorkSettings;
use patchline_agent::checkin::snapshot;
use patchline_agent::checkin::work::run_work;
use patchline_api::checkin::{Work, WorkStatus};
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, PackageRoot,
};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn versions_listed(root: &NodeRoot, name: &str) -> Vec<String> {
    let mut versions: Vec<String> = ok(snapshot(root))
        .inventory
        .updates
        .into_iter()
        .filter(|update| update.name == name)
        .map(|update| update.version)
        .collect();
    versions.sort();
    versions
}

#[test]
fn refresh_work_lists_new_versions_and_reports_a_broken_repository() {
    let dir = ok(tempfile::tempdir());
    let arch = ok(native_architecture());
    let build = |version: &str, out: &str| {
        ok(DebPackage::new("kit-tool", version)
            .arch(arch.as_str())
            .build(&dir.path().join(out)))
    };
    let v1 = vec![build("1.0-1", "v1")];
    let v2 = vec![build("1.0-1", "v2"), build("1.1-1", "v2")];
    let mut repo = ok(AptRepository::new(dir.path().join("repo")));
    ok(repo.publish(&[AptSuite::new("stable").with_packages(&v1)]));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-tool"]));
    let node = NodeRoot::new(root.path());
    assert_eq!(versions_listed(&node, "kit-tool"), ["1.0-1"]);

    ok(repo.publish(&[AptSuite::new("stable").with_packages(&v2)]));
    assert_eq!(
        versions_listed(&node, "kit-tool"),
        ["1.0-1"],
        "not listed before a refresh"
    );
    let work = Work::Scan {
        id: "refresh-1".into(),
        refresh: true,
    };
    let result = run_work(&node, &work, &WorkSettings::default());
    assert_eq!(result.status, WorkStatus::Success, "{}", result.output);
    assert_eq!(result.id, "refresh-1");
    assert!(result.output.contains("apt-get"), "{}", result.output);
    assert_eq!(versions_listed(&node, "kit-tool"), ["1.0-1", "1.1-1"]);

    // A repository that no longer exists: apt fails the refresh.
    ok(std::fs::remove_dir_all(repo.dir()));
    let failed = run_work(&node, &work, &WorkSettings::default());
    assert_eq!(failed.status, WorkStatus::Failed, "{}", failed.output);
    assert!(!failed.output.is_empty());
    assert!(failed.output.len() <= patchline_agent::checkin::work::OUTPUT_LIMIT);
}
