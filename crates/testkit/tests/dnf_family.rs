//! The dnf family end to end with the real tools: .rpms built by the
//! harness, an rpm-md repository with a Red Hat style security advisory,
//! node roots driven by dnf and rpm.

mod common;

use std::path::Path;

use common::{TestResult, at};
use patchline_testkit::{
    Advisory, BuiltRpm, DnfRoot, DnfRootOptions, PackageRoot, Result, RpmPackage, RpmRepoEntry,
    RpmRepository, UpdateinfoStyle,
};

/// `kit-tool` requires `kit-lib`; both at `version`-1.
fn kit(out: &Path, version: &str) -> Result<Vec<BuiltRpm>> {
    Ok(vec![
        RpmPackage::new("kit-lib", version)
            .release("1.el9")
            .file("/usr/lib/kit/lib.txt", format!("lib {version}\n"))
            .build(out)?,
        RpmPackage::new("kit-tool", version)
            .release("1.el9")
            .requires(format!("kit-lib >= {version}"))
            .file("/usr/share/kit/tool.txt", format!("tool {version}\n"))
            .post("echo \"post $1\" > /var/lib/kit-tool.post")
            .build(out)?,
    ])
}

#[test]
fn security_advisory_published_after_install_is_seen_and_installed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let v1 = kit(&dir.path().join("v1"), "1.0")?;
    let v2 = kit(&dir.path().join("v2"), "1.1")?;
    let repo = RpmRepository::new(dir.path().join("repo"), UpdateinfoStyle::RedHat)?;
    repo.publish(&v1, &[])?;

    let root = DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kit", &repo)],
            ..DnfRootOptions::default()
        },
    )?;
    root.refresh()?;
    root.install(&["kit-tool"])?;
    assert_eq!(
        root.installed_version("kit-tool")?.as_deref(),
        Some("1.0-1.el9")
    );
    assert_eq!(
        root.installed_version("kit-lib")?.as_deref(),
        Some("1.0-1.el9")
    );
    // The scriptlet ran chrooted into the root (1 = first install).
    assert_eq!(
        std::fs::read_to_string(root.path().join("var/lib/kit-tool.post"))?,
        "post 1\n"
    );
    assert_eq!(root.check_update()?.code, Some(0));

    let advisory = Advisory::security("RLSA-2024:0101", "Important", at("2024-02-01T00:00:00Z"))
        .with_cve("CVE-2024-0101")
        .with_packages(&v2);
    let all: Vec<&BuiltRpm> = v1.iter().chain(&v2).collect();
    repo.publish(&all, &[advisory])?;
    root.refresh()?;
    let check = root.check_update()?;
    assert_eq!(check.code, Some(100), "{}", check.stdout);
    for name in ["kit-lib", "kit-tool"] {
        assert!(
            check
                .stdout
                .lines()
                .any(|line| line.starts_with(&format!("{name}.noarch"))
                    && line.contains("1.1-1.el9")),
            "{name} 1.1 missing from\n{}",
            check.stdout
        );
    }
    let advisories = root
        .run_dnf(&["-q", "updateinfo", "list", "--security"])?
        .ensure_success()?;
    assert!(
        advisories
            .stdout
            .contains("RLSA-2024:0101 Important/Sec. kit-tool-1.1-1.el9.noarch"),
        "{}",
        advisories.stdout
    );
    let info = root
        .run_dnf(&["-q", "updateinfo", "info", "RLSA-2024:0101"])?
        .ensure_success()?;
    for part in ["CVE-2024-0101", "Severity: Important", "2024-02-01"] {
        assert!(
            info.stdout.contains(part),
            "{part} missing from\n{}",
            info.stdout
        );
    }

    root.run_dnf(&["upgrade", "--security"])?.ensure_success()?;
    let versions: Vec<(String, String)> = root
        .installed()?
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect();
    assert_eq!(
        versions,
        [
            ("kit-lib".to_owned(), "1.1-1.el9".to_owned()),
            ("kit-tool".to_owned(), "1.1-1.el9".to_owned()),
            ("patchline-testkit-base".to_owned(), "1-1".to_owned()),
        ]
    );
    assert_eq!(root.check_update()?.code, Some(0));
    Ok(())
}

#[test]
fn a_specific_version_and_epochs_install_from_files_and_repositories() -> TestResult {
    let dir = tempfile::tempdir()?;
    let rpms = dir.path().join("rpms");
    let old = RpmPackage::new("kit-epoch", "2.0").epoch(1).build(&rpms)?;
    let new = RpmPackage::new("kit-epoch", "2.1").epoch(1).build(&rpms)?;
    let repo = RpmRepository::new(dir.path().join("repo"), UpdateinfoStyle::RedHat)?;
    repo.publish(&[&old, &new], &[])?;
    let root = DnfRoot::create(
        dir.path().join("node"),
        &DnfRootOptions {
            repositories: vec![RpmRepoEntry::new("kit", &repo)],
            ..DnfRootOptions::default()
        },
    )?;
    root.install_version("kit-epoch", "1:2.0-1")?;
    assert_eq!(
        root.installed_version("kit-epoch")?.as_deref(),
        Some("1:2.0-1")
    );

    let other = DnfRoot::create(dir.path().join("other"), &DnfRootOptions::default())?;
    other.install_files(&[new.path.as_path()])?;
    assert_eq!(
        other.installed_version("kit-epoch")?.as_deref(),
        Some("1:2.1-1")
    );
    // The first root is untouched by the second.
    assert_eq!(
        root.installed_version("kit-epoch")?.as_deref(),
        Some("1:2.0-1")
    );
    Ok(())
}
