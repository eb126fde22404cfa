//! Work on node roots never writes to the host's package-manager state:
//! one full publish/install/upgrade cycle per family, with the host's dpkg,
//! apt, rpm, dnf and zypper databases, caches, configuration, logs and locks
//! fingerprinted before and compared after.
//!
//! Alone in its test binary so no other test of this crate runs beside it.

mod common;

use common::{TestResult, at};
use patchline_testkit::{
    Advisory, AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, DnfRoot,
    DnfRootOptions, HostSnapshot, PackageRoot, RpmPackage, RpmRepoEntry, RpmRepository,
    UpdateinfoStyle, ZypperRoot, ZypperRootOptions,
};

#[test]
fn the_host_package_state_is_unchanged_after_work_on_roots() -> TestResult {
    let host_status = std::fs::read("/var/lib/dpkg/status")?;
    let snapshot = HostSnapshot::take()?;
    let dir = tempfile::tempdir()?;

    let debs = dir.path().join("debs");
    let deb_v1 = DebPackage::new("kit-hostcheck", "1.0")
        .postinst("true")
        .build(&debs)?;
    let deb_v2 = DebPackage::new("kit-hostcheck", "1.1").build(&debs)?;
    let mut apt_repo = AptRepository::new(dir.path().join("apt-repo"))?;
    apt_repo.publish(&[AptSuite::new("stable").with_packages([&deb_v1])])?;
    let apt_root = AptRoot::create(
        dir.path().join("apt-node"),
        &AptRootOptions {
            sources: apt_repo.sources(),
            ..AptRootOptions::default()
        },
    )?;
    apt_root.refresh()?;
    apt_root.install(&["kit-hostcheck"])?;
    apt_repo.publish(&[
        AptSuite::new("stable").with_packages([&deb_v1]),
        AptSuite::security("stable-security").with_packages([&deb_v2]),
    ])?;
    apt_root.set_sources(&apt_repo.sources())?;
    apt_root.refresh()?;
    apt_root.run_apt_get(&["upgrade"])?.ensure_success()?;
    apt_root.install_files(&[deb_v1.path.as_path()])?;

    let rpms = dir.path().join("rpms");
    let rpm_v1 = RpmPackage::new("kit-hostcheck", "1.0")
        .post("true")
        .build(&rpms)?;
    let rpm_v2 = RpmPackage::new("kit-hostcheck", "1.1").build(&rpms)?;
    let advisory = Advisory::security("KIT-2024:1", "Important", at("2024-02-01T00:00:00Z"))
        .with_packages([&rpm_v2]);
    let rpm_repo = RpmRepository::new(dir.path().join("rpm-repo"), UpdateinfoStyle::RedHat)?;
    rpm_repo.publish(&[&rpm_v1], &[])?;
    let repositories = vec![RpmRepoEntry::new("kit", &rpm_repo)];
    let dnf_root = DnfRoot::create(
        dir.path().join("dnf-node"),
        &DnfRootOptions {
            repositories: repositories.clone(),
            ..DnfRootOptions::default()
        },
    )?;
    let zypper_root = ZypperRoot::create(
        dir.path().join("zypper-node"),
        &ZypperRootOptions {
            repositories,
            ..ZypperRootOptions::default()
        },
    )?;
    for root in [&dnf_root as &dyn PackageRoot, &zypper_root] {
        root.refresh()?;
        root.install(&["kit-hostcheck"])?;
    }
    rpm_repo.publish(&[&rpm_v1, &rpm_v2], &[advisory])?;
    dnf_root.refresh()?;
    dnf_root.check_update()?;
    dnf_root.run_dnf(&["upgrade"])?.ensure_success()?;
    zypper_root.refresh()?;
    zypper_root
        .run_zypper(&["list-patches"])?
        .ensure_success()?;
    zypper_root.run_zypper(&["update"])?.ensure_success()?;
    // dpkg -i of v1 downgraded the apt root again.
    assert_eq!(
        apt_root.installed_version("kit-hostcheck")?.as_deref(),
        Some("1.0")
    );
    assert_eq!(
        dnf_root.installed_version("kit-hostcheck")?.as_deref(),
        Some("1.1-1")
    );
    assert_eq!(
        zypper_root.installed_version("kit-hostcheck")?.as_deref(),
        Some("1.1-1")
    );

    assert_eq!(snapshot.changes()?, Vec::<String>::new());
    assert!(
        std::fs::read("/var/lib/dpkg/status")? == host_status,
        "the host's dpkg status file changed"
    );
    Ok(())
}
