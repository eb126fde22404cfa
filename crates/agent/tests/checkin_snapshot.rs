//! What a check-in reports about testkit roots written by the real dpkg,
//! apt-get, rpm and dnf: facts (with the architecture read from the package
//! database), the inventory, and a hash that stays put while the root does
//! and moves when apt or dnf change it.

use patchline_agent::NodeRoot;
use patchline_agent::checkin::{NodeSnapshot, snapshot};
use patchline_core::os::OsFamily;
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, DnfRoot, DnfRootOptions,
    PackageRoot, RpmPackage, RpmRepoEntry, RpmRepository, UpdateinfoStyle,
};

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn take(root: &dyn PackageRoot) -> NodeSnapshot {
    ok(snapshot(&NodeRoot::new(root.path())))
}

fn installed_version<'s>(snapshot: &'s NodeSnapshot, name: &str) -> Option<&'s str> {
    snapshot
        .inventory
        .installed
        .iter()
        .find(|package| package.name == name)
        .map(|package| package.version.as_str())
}

#[test]
fn a_debian_root_reports_facts_dpkg_arch_and_a_stable_hash() {
    let dir = ok(tempfile::tempdir());
    let arch = ok(native_architecture());
    let build = |name: &str, version: &str, out: &str| {
        ok(DebPackage::new(name, version)
            .arch(arch.as_str())
            .build(&dir.path().join(out)))
    };
    let v1 = vec![build("kit-ssl", "3.0.11-1", "v1")];
    let v2 = vec![
        build("kit-ssl", "3.0.11-1", "v2"),
        build("kit-ssl", "3.0.13-1", "v2"),
    ];
    let dpkg = build("dpkg", "1.21.22", "tools");
    let mut repo = ok(AptRepository::new(dir.path().join("repo")));
    ok(repo.publish(&[AptSuite::new("stable").with_packages(&v1)]));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            hostname: Some("deb-1".into()),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-ssl"]));
    ok(root.install_files(&[dpkg.path.as_path()]));

    let first = take(&root);
    assert_eq!(first.facts.hostname, "deb-1");
    assert_eq!(first.facts.os.family, OsFamily::Debian);
    assert_eq!(first.facts.os.product, "Debian12");
    assert_eq!(first.facts.arch, arch, "dpkg's own Architecture");
    assert_eq!(first.facts.kernel, None, "not the live host");
    assert_eq!(first.facts.agent_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(first.inventory.os, first.facts.os);
    assert_eq!(installed_version(&first, "kit-ssl"), Some("3.0.11-1"));
    assert!(first.inventory.updates.iter().any(|u| u.name == "kit-ssl"));
    assert_eq!(first.inventory_hash, first.inventory.content_hash());
    assert!(first.inventory_hash.is_well_formed());

    let again = take(&root);
    assert_eq!(again.inventory_hash, first.inventory_hash, "unchanged root");
    assert!(again.scanned_at >= first.scanned_at);

    ok(repo.publish(&[AptSuite::new("stable").with_packages(&v2)]));
    ok(root.refresh());
    let listed = take(&root);
    assert_ne!(
        listed.inventory_hash, first.inventory_hash,
        "a new version listed"
    );

    ok(root.install_version("kit-ssl", "3.0.13-1"));
    let upgraded = take(&root);
    assert_eq!(installed_version(&upgraded, "kit-ssl"), Some("3.0.13-1"));
    assert_ne!(
        upgraded.inventory_hash, listed.inventory_hash,
        "apt upgraded"
    );
}

#[test]
fn a_dnf_root_reports_facts_rpm_arch_and_a_stable_hash() {
    let dir = ok(tempfile::tempdir());
    let rpms = dir.path().join("rpms");
    let v1 = [
        ok(RpmPackage::new("kit-ssl", "3.0.7").build(&rpms)),
        ok(RpmPackage::new("rpm", "4.16.1.3")
            .arch("x86_64")
            .build(&rpms)),
    ];
    let v2 = ok(RpmPackage::new("kit-ssl", "3.0.7")
        .release("2")
        .build(&rpms));
    let repo = ok(RpmRepository::new(
        dir.path().join("repo"),
        UpdateinfoStyle::RedHat,
    ));
    ok(repo.publish(&[&v1[0].path, &v1[1].path], &[]));
    let root = ok(DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kits", &repo)],
            hostname: Some("rocky-1".into()),
            ..DnfRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-ssl", "rpm"]));

    let first = take(&root);
    assert_eq!(first.facts.hostname, "rocky-1");
    assert_eq!(first.facts.os.family, OsFamily::RhelCompatible);
    assert_eq!(first.facts.arch, "x86_64", "the rpm package's arch");
    assert!(!first.facts.reboot_required);
    assert!(first.inventory.pending_reboot.is_empty());
    assert_eq!(installed_version(&first, "kit-ssl"), Some("3.0.7-1"));
    assert_eq!(take(&root).inventory_hash, first.inventory_hash);

    ok(repo.publish(&[&v1[0].path, &v1[1].path, &v2.path], &[]));
    ok(root.refresh());
    let listed = take(&root);
    assert_ne!(
        listed.inventory_hash, first.inventory_hash,
        "a new build listed"
    );
    ok(root.install_version("kit-ssl", "3.0.7-2"));
    let upgraded = take(&root);
    assert_eq!(installed_version(&upgraded, "kit-ssl"), Some("3.0.7-2"));
    assert_ne!(
        upgraded.inventory_hash, listed.inventory_hash,
        "dnf upgraded"
    );
}

#[test]
fn the_live_host_reports_its_name_arch_and_running_kernel() {
    let host = ok(snapshot(&NodeRoot::new("/")));
    assert!(!host.facts.hostname.is_empty());
    assert!(!host.facts.arch.is_empty());
    assert!(host.facts.kernel.is_some(), "the running kernel of /");
    assert!(!host.inventory.installed.is_empty());
    assert_eq!(host.inventory_hash, host.inventory.content_hash());
}
