//! The zypper family end to end with the real tools: .rpms built by the
//! harness, an rpm-md repository with a SUSE style security patch, node
//! roots driven by zypper and rpm.

mod common;

use std::path::Path;

use common::{TestResult, at};
use patchline_testkit::{
    Advisory, BuiltRpm, PackageRoot, Result, RpmPackage, RpmRepoEntry, RpmRepository,
    UpdateinfoStyle, ZypperRoot, ZypperRootOptions,
};

/// `kit-tool` requires `kit-lib`; both at `version`.
fn kit(out: &Path, version: &str) -> Result<Vec<BuiltRpm>> {
    Ok(vec![
        RpmPackage::new("kit-lib", version)
            .release("150500.1.1")
            .file("/usr/lib/kit/lib.txt", format!("lib {version}\n"))
            .build(out)?,
        RpmPackage::new("kit-tool", version)
            .release("150500.1.1")
            .requires(format!("kit-lib >= {version}"))
            .file("/usr/share/kit/tool.txt", format!("tool {version}\n"))
            .post("echo \"post $1\" > /var/lib/kit-tool.post")
            .build(out)?,
    ])
}

/// The data rows of a zypper table (`a | b | c`), cells trimmed.
fn table_rows(output: &str) -> Vec<Vec<String>> {
    output
        .lines()
        .filter(|line| line.contains(" | ") && !line.starts_with("--"))
        .map(|line| line.split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect()
}

#[test]
fn security_patch_published_after_install_is_seen_and_installed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let v1 = kit(&dir.path().join("v1"), "1.0")?;
    let v2 = kit(&dir.path().join("v2"), "1.1")?;
    let repo = RpmRepository::new(dir.path().join("repo"), UpdateinfoStyle::Suse)?;
    repo.publish(&v1, &[])?;

    let root = ZypperRoot::create(
        dir.path().join("node"),
        &ZypperRootOptions {
            repositories: vec![RpmRepoEntry::new("kit", &repo)],
            ..ZypperRootOptions::default()
        },
    )?;
    root.refresh()?;
    root.install(&["kit-tool"])?;
    assert_eq!(
        root.installed_version("kit-tool")?.as_deref(),
        Some("1.0-150500.1.1")
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("var/lib/kit-tool.post"))?,
        "post 1\n"
    );

    let advisory = Advisory::security(
        "openSUSE-SU-2024:0101-1",
        "important",
        at("2024-02-01T00:00:00Z"),
    )
    .with_cve("CVE-2024-0101")
    .with_packages(&v2);
    let all: Vec<&BuiltRpm> = v1.iter().chain(&v2).collect();
    repo.publish(&all, &[advisory])?;
    root.refresh()?;

    let updates = root.run_zypper(&["list-updates"])?.ensure_success()?;
    let rows = table_rows(&updates.stdout);
    for name in ["kit-lib", "kit-tool"] {
        assert!(
            rows.iter()
                .any(|row| row.get(2).is_some_and(|cell| cell == name)
                    && row.get(3).is_some_and(|cell| cell == "1.0-150500.1.1")
                    && row.get(4).is_some_and(|cell| cell == "1.1-150500.1.1")),
            "{name} 1.0 -> 1.1 missing from\n{}",
            updates.stdout
        );
    }
    let patches = root.run_zypper(&["list-patches"])?.ensure_success()?;
    let rows = table_rows(&patches.stdout);
    assert!(
        rows.iter().any(|row| row
            .get(1)
            .is_some_and(|cell| cell == "openSUSE-SU-2024:0101-1")
            && row.get(2).is_some_and(|cell| cell == "security")
            && row.get(3).is_some_and(|cell| cell == "important")
            && row.get(5).is_some_and(|cell| cell == "needed")),
        "the security patch is missing from\n{}",
        patches.stdout
    );
    let info = root
        .run_zypper(&["info", "-t", "patch", "openSUSE-SU-2024:0101-1"])?
        .ensure_success()?;
    assert!(
        info.stdout
            .contains("Created On  : Thu Feb  1 00:00:00 2024"),
        "{}",
        info.stdout
    );

    root.run_zypper(&["patch", "--category", "security"])?
        .ensure_code(&[0, 102, 103])?;
    let versions: Vec<(String, String)> = root
        .installed()?
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert_eq!(
        versions,
        [
            ("kit-lib".to_owned(), "1.1-150500.1.1".to_owned()),
            ("kit-tool".to_owned(), "1.1-150500.1.1".to_owned()),
            ("patchline-testkit-base".to_owned(), "1-1".to_owned()),
        ]
    );
    let after = root.run_zypper(&["list-patches"])?.ensure_success()?;
    assert!(
        after.stdout.contains("No updates found"),
        "{}",
        after.stdout
    );
    Ok(())
}

#[test]
fn two_zypper_roots_hold_separate_locks_and_databases() -> TestResult {
    let dir = tempfile::tempdir()?;
    let package = RpmPackage::new("kit-solo", "1.0").build(&dir.path().join("rpms"))?;
    let repo = RpmRepository::new(dir.path().join("repo"), UpdateinfoStyle::Suse)?;
    repo.publish(&[&package], &[])?;
    let options = ZypperRootOptions {
        repositories: vec![RpmRepoEntry::new("kit", &repo)],
        ..ZypperRootOptions::default()
    };
    let first = ZypperRoot::create(dir.path().join("first"), &options)?;
    let second = ZypperRoot::create(dir.path().join("second"), &options)?;
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| first.install_version("kit-solo", "1.0-1"));
        let here = second.refresh();
        let there = worker.join().unwrap_or_else(|_| panic!("worker panicked"));
        there.and(here)
    })?;
    assert_eq!(
        first.installed_version("kit-solo")?.as_deref(),
        Some("1.0-1")
    );
    assert_eq!(second.installed_version("kit-solo")?, None);
    for root in [&first, &second] {
        assert!(root.path().join("var/log/zypper.log").exists());
        assert!(
            root.path()
                .join("usr/lib/sysimage/rpm/rpmdb.sqlite")
                .exists()
        );
    }
    Ok(())
}
