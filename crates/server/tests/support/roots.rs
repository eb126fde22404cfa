//! Isolated node roots for the tests that drive real agents: written by the
//! real dpkg/apt-get and rpm/dnf through the testkit, each with its own
//! local repository.

use std::path::Path;

use jiff::Timestamp;
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, DnfRoot, DnfRootOptions,
    PackageRoot, RpmPackage, RpmRepoEntry, RpmRepository, UpdateinfoStyle,
};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn at(instant: &str) -> Timestamp {
    ok(instant.parse())
}

/// A Debian root with `kit-ssl` 3.0.11 (and `also`: more packages of the
/// stable suite, as `(name, version)`) installed, and the security fix
/// `kit-ssl` 3.0.13 published in 2024, so every default baseline approves
/// it: the node is missing one security update.
pub fn debian_with_security_fix(dir: &Path, hostname: &str, also: &[(&str, &str)]) -> AptRoot {
    let arch = ok(native_architecture());
    let build = |name: &str, version: &str, out: &str| {
        ok(DebPackage::new(name, version)
            .arch(arch.as_str())
            .multi_arch("same")
            .build(&dir.join(out)))
    };
    let mut stable = vec![build("kit-ssl", "3.0.11-1~deb12u1", "v1")];
    stable.extend(
        also.iter()
            .map(|(name, version)| build(name, version, "v1")),
    );
    let fixed = vec![build("kit-ssl", "3.0.13-1~deb12u1", "v2")];
    let mut repo = ok(AptRepository::new(dir.join("repo")));
    let stable_suite = AptSuite::new("stable")
        .with_date(at("2024-01-10T10:00:00Z"))
        .with_packages(&stable);
    ok(repo.publish(std::slice::from_ref(&stable_suite)));
    let root = ok(AptRoot::create(
        dir.join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            hostname: Some(hostname.into()),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    let mut names = vec!["kit-ssl"];
    names.extend(also.iter().map(|(name, _)| *name));
    ok(root.install(&names));
    // dpkg's own status entry is where the agent reads the architecture.
    let dpkg = build("dpkg", "1.21.22", "tools");
    ok(root.install_files(&[dpkg.path.as_path()]));
    ok(repo.publish(&[
        stable_suite,
        AptSuite::security("stable-security")
            .with_date(at("2024-02-01T10:00:00Z"))
            .with_packages(&fixed),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());
    root
}

/// A Rocky root with `kit-plain` 1.0 installed and nothing newer published
/// yet (compliant), and its repository, to publish more into.
pub fn rocky_with_kit_plain(dir: &Path, hostname: &str) -> (DnfRoot, RpmRepository) {
    let rpm = ok(RpmPackage::new("kit-plain", "1.0").build(&dir.join("rpms")));
    let repo = ok(RpmRepository::new(
        dir.join("repo"),
        UpdateinfoStyle::RedHat,
    ));
    ok(repo.publish(&[&rpm.path], &[]));
    let root = ok(DnfRoot::create(
        dir.join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kits", &repo)],
            hostname: Some(hostname.into()),
            ..DnfRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-plain"]));
    (root, repo)
}
