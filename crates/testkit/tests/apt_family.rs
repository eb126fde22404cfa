//! The apt family end to end with the real tools: .debs built by the
//! harness, a repository with `stable` and `stable-security` suites, node
//! roots driven by apt-get and dpkg.

mod common;

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{TestResult, at};
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::command::run;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, BuiltDeb, DebPackage, OsRelease, PackageRoot,
    Result,
};

/// `kit-tool` depends on `kit-lib`; both at `version`.
fn kit(out: &Path, version: &str) -> Result<Vec<BuiltDeb>> {
    Ok(vec![
        DebPackage::new("kit-lib", version)
            .section("libs")
            .file("/usr/lib/kit/lib.txt", format!("lib {version}\n"))
            .build(out)?,
        DebPackage::new("kit-tool", version)
            .depends(format!("kit-lib (>= {version})"))
            .section("utils")
            .file("/usr/share/kit/tool.txt", format!("tool {version}\n"))
            .postinst("echo \"configured $1\" > /var/lib/kit-tool.configured")
            .build(out)?,
    ])
}

#[test]
fn security_upgrade_published_after_install_is_seen_and_installed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let v1 = kit(&dir.path().join("v1"), "1.0-1")?;
    let v2 = kit(&dir.path().join("v2"), "1.0-1+deb12u1")?;
    let mut repo = AptRepository::new(dir.path().join("repo"))?;
    repo.publish(&[AptSuite::new("stable").with_packages(&v1)])?;

    let root = AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    )?;
    root.refresh()?;
    root.install(&["kit-tool"])?;
    assert_eq!(
        root.installed_version("kit-tool")?.as_deref(),
        Some("1.0-1")
    );
    assert_eq!(root.installed_version("kit-lib")?.as_deref(), Some("1.0-1"));
    // The postinst ran chrooted into the root, with the busybox shell.
    assert_eq!(
        std::fs::read_to_string(root.path().join("var/lib/kit-tool.configured"))?,
        "configured configure\n"
    );

    repo.publish(&[
        AptSuite::new("stable").with_packages(&v1),
        AptSuite::security("stable-security")
            .with_date(at("2024-02-01T10:00:00Z"))
            .with_packages(&v2),
    ])?;
    root.set_sources(&repo.sources())?;
    root.refresh()?;
    let simulated = root.run_apt_get(&["-s", "upgrade"])?.ensure_success()?;
    for line in [
        "Inst kit-lib [1.0-1] (1.0-1+deb12u1 Debian-Security:stable-security [all])",
        "Inst kit-tool [1.0-1] (1.0-1+deb12u1 Debian-Security:stable-security [all])",
    ] {
        assert!(
            simulated.stdout.contains(line),
            "{line} missing from\n{}",
            simulated.stdout
        );
    }
    // The root's lists are the ones the agent reads.
    let lists: Vec<String> = std::fs::read_dir(root.path().join("var/lib/apt/lists"))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        lists
            .iter()
            .any(|name| name.ends_with("_dists_stable-security_Release")),
        "{lists:?}"
    );

    root.run_apt_get(&["upgrade"])?.ensure_success()?;
    let installed = root.installed()?;
    let versions: Vec<(&str, &str, &str)> = installed
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.state.as_str()))
        .collect();
    assert_eq!(
        versions,
        [
            ("kit-lib", "1.0-1+deb12u1", "installed"),
            ("kit-tool", "1.0-1+deb12u1", "installed"),
        ]
    );
    Ok(())
}

#[test]
fn a_failing_postinst_leaves_the_package_half_configured() -> TestResult {
    let dir = tempfile::tempdir()?;
    let broken = DebPackage::new("kit-broken", "1.0")
        .postinst("echo 'postinst fails on purpose' >&2\nexit 1")
        .build(&dir.path().join("debs"))?;
    let mut repo = AptRepository::new(dir.path().join("repo"))?;
    repo.publish(&[AptSuite::new("stable").with_packages([&broken])])?;
    let root = AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            os: OsRelease::ubuntu2204(),
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    )?;
    root.refresh()?;
    let output = root.run_apt_get(&["install", "kit-broken"])?;
    assert_eq!(output.code, Some(100), "{output:?}");
    assert!(
        output.stdout.contains("postinst fails on purpose")
            || output.stderr.contains("postinst fails on purpose")
    );
    let package = root
        .installed()?
        .into_iter()
        .find(|p| p.name == "kit-broken");
    assert_eq!(package.map(|p| p.state).as_deref(), Some("half-configured"));
    Ok(())
}

#[test]
fn an_install_killed_in_its_postinst_stays_interrupted() -> TestResult {
    let dir = tempfile::tempdir()?;
    let slow = DebPackage::new("kit-slow", "1.0")
        .postinst("touch /run/kit-slow.started\nsleep 600")
        .build(&dir.path().join("debs"))?;
    let root = AptRoot::create(dir.path().join("node"), &AptRootOptions::default())?;
    let mut dpkg = root.dpkg()?;
    dpkg.arg("-i").arg(&slow.path).process_group(0);
    let mut child = dpkg.spawn()?;
    let started = root.path().join("run/kit-slow.started");
    let give_up = Instant::now() + Duration::from_secs(120);
    while !started.exists() {
        if let Some(status) = child.try_wait()? {
            panic!("dpkg ended ({status}) before the postinst started");
        }
        assert!(Instant::now() < give_up, "the postinst never started");
        thread::sleep(Duration::from_millis(20));
    }
    // Kill the whole group: dpkg and the sleeping postinst.
    let group = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process_group(group, rustix::process::Signal::KILL)?;
    child.wait()?;
    let package = root.installed()?.into_iter().find(|p| p.name == "kit-slow");
    assert_eq!(package.map(|p| p.state).as_deref(), Some("half-configured"));
    Ok(())
}

#[test]
fn roots_side_by_side_install_in_parallel_without_interfering() -> TestResult {
    let dir = tempfile::tempdir()?;
    let debs = dir.path().join("debs");
    let mut packages = Vec::new();
    for index in 0..3 {
        packages.push(DebPackage::new(format!("kit-node{index}"), "1.0").build(&debs)?);
    }
    let mut repo = AptRepository::new(dir.path().join("repo"))?;
    repo.publish(&[AptSuite::new("stable").with_packages(&packages)])?;
    let roots: Vec<AptRoot> = (0..3)
        .map(|index| {
            AptRoot::create(
                dir.path().join(format!("node{index}")),
                &AptRootOptions {
                    sources: repo.sources(),
                    hostname: Some(format!("node{index}")),
                    ..AptRootOptions::default()
                },
            )
        })
        .collect::<Result<_>>()?;
    thread::scope(|scope| {
        let workers: Vec<_> = roots
            .iter()
            .enumerate()
            .map(|(index, root)| {
                scope.spawn(move || -> Result<()> {
                    root.refresh()?;
                    root.install(&[&format!("kit-node{index}")])?;
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| panic!("a worker panicked"))
            })
            .collect::<Result<Vec<()>>>()
    })?;
    for (index, root) in roots.iter().enumerate() {
        let names: Vec<String> = root.installed()?.into_iter().map(|p| p.name).collect();
        assert_eq!(names, [format!("kit-node{index}")]);
        assert!(root.path().join("var/log/dpkg.log").exists());
        assert!(root.path().join("var/cache/apt/pkgcache.bin").exists());
    }
    Ok(())
}

#[test]
fn a_root_with_two_architectures_installs_both() -> TestResult {
    let dir = tempfile::tempdir()?;
    let debs = dir.path().join("debs");
    let native = native_architecture()?;
    let foreign = if native == "i386" { "amd64" } else { "i386" };
    let libs: Vec<BuiltDeb> = [native.as_str(), foreign]
        .into_iter()
        .map(|arch| {
            DebPackage::new("kit-multi", "1.0")
                .arch(arch)
                .multi_arch("same")
                .file("/usr/share/doc/kit-multi/README", "same file in both\n")
                .file(format!("/usr/lib/kit-multi/{arch}.so"), arch)
                .build(&debs)
        })
        .collect::<Result<_>>()?;
    let architectures = vec![native.clone(), foreign.to_owned()];
    let mut repo = AptRepository::with_architectures(dir.path().join("repo"), &architectures)?;
    repo.publish(&[AptSuite::new("stable").with_packages(&libs)])?;
    let root = AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            architectures,
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    )?;
    root.refresh()?;
    root.install(&[
        &format!("kit-multi:{native}"),
        &format!("kit-multi:{foreign}"),
    ])?;
    let mut arches: Vec<String> = root.installed()?.into_iter().map(|p| p.arch).collect();
    arches.sort();
    let mut expected = vec![native.clone(), foreign.to_owned()];
    expected.sort();
    assert_eq!(arches, expected);
    let mut foreign_query = root.dpkg()?;
    foreign_query.arg("--print-foreign-architectures");
    assert_eq!(
        run(&mut foreign_query)?.ensure_success()?.stdout,
        format!("{foreign}\n")
    );
    Ok(())
}
