//! Whether an RPM-family node needs a reboot. RPM systems have no marker
//! like Debian's `/run/reboot-required`; the agent applies the two rules of
//! dnf's `needs-restarting -r`, on the live host only (a directory root has
//! no running kernel and no boot):
//!
//! 1. the newest installed kernel package is not the running kernel;
//! 2. a package was installed after boot in a build whose advisory says
//!    `reboot_suggested`.
//!
//! For any other root the Debian-style marker (read with the facts) is the
//! only source, so a root reports "not required" unless a marker says so.

use std::collections::HashSet;

use patchline_core::package::InstalledPackage;
use patchline_core::version::rpm::compare_evr;

use crate::root::{NodeRoot, ReadError};

/// Packages whose version is the kernel: RHEL ≥ 8 (`kernel-core`), EL7 and
/// Fedora/Amazon (`kernel`), SUSE (`kernel-default`), Oracle UEK.
pub const KERNEL_PACKAGES: [&str; 4] = ["kernel-core", "kernel", "kernel-default", "kernel-uek"];

/// What the reboot rules look at.
#[derive(Debug, Clone, Copy)]
pub struct RebootInputs<'a> {
    pub installed: &'a [InstalledPackage],
    /// `INSTALLTIME` per installed package (index-aligned).
    pub install_times: &'a [Option<i64>],
    /// Installed builds whose advisory suggests a reboot: (name, arch, version).
    pub reboot_suggested: &'a HashSet<(String, String, String)>,
    /// `uname -r` of the running kernel (live host only).
    pub running_kernel: Option<&'a str>,
    /// Boot time in seconds since the epoch (live host only).
    pub boot_time: Option<i64>,
}

/// The names of the packages that call for a reboot (empty: none needed).
pub fn packages_needing_reboot(inputs: &RebootInputs<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(running) = inputs.running_kernel {
        let newest = inputs
            .installed
            .iter()
            .filter(|p| KERNEL_PACKAGES.contains(&p.name.as_str()))
            .max_by(|a, b| compare_evr(&a.version, &b.version));
        if let Some(kernel) = newest.filter(|k| !is_running(k, running)) {
            names.push(kernel.name.clone());
        }
    }
    if let Some(boot_time) = inputs.boot_time {
        for (package, installed_at) in inputs.installed.iter().zip(inputs.install_times) {
            let key = (
                package.name.clone(),
                package.arch.clone(),
                package.version.clone(),
            );
            let after_boot = installed_at.is_some_and(|at| at > boot_time);
            if after_boot && inputs.reboot_suggested.contains(&key) && !names.contains(&key.0) {
                names.push(key.0);
            }
        }
    }
    names
}

/// Whether `uname -r` names this kernel package: RHEL-like kernels run as
/// `<version>-<release>.<arch>`; SUSE's as `<version>-<release minus its
/// last rebuild counter>-<flavor>` (kernel-default 5.14.21-150500.55.39.1
/// runs as 5.14.21-150500.55.39-default).
fn is_running(kernel: &InstalledPackage, running: &str) -> bool {
    let evr = kernel
        .version
        .split_once(':')
        .map_or(kernel.version.as_str(), |(_, vr)| vr);
    if running.starts_with(&format!("{evr}.{}", kernel.arch)) || running == evr {
        return true;
    }
    evr.rsplit_once('.')
        .is_some_and(|(trimmed, _)| running.starts_with(&format!("{trimmed}-")))
}

/// The boot time from `/proc/stat` (`btime`), on the live host only.
pub fn boot_time(root: &NodeRoot) -> Result<Option<i64>, ReadError> {
    if !root.is_live_host() {
        return Ok(None);
    }
    let Some(stat) = root.read_optional("/proc/stat")? else {
        return Ok(None);
    };
    Ok(String::from_utf8_lossy(&stat)
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, arch: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.to_owned(),
            arch: arch.to_owned(),
            version: version.to_owned(),
            source: None,
        }
    }

    fn needing(
        installed: &[InstalledPackage],
        times: &[Option<i64>],
        suggested: &HashSet<(String, String, String)>,
        running: Option<&str>,
        boot: Option<i64>,
    ) -> Vec<String> {
        packages_needing_reboot(&RebootInputs {
            installed,
            install_times: times,
            reboot_suggested: suggested,
            running_kernel: running,
            boot_time: boot,
        })
    }

    #[test]
    fn a_newer_installed_kernel_needs_a_reboot() {
        let installed = [
            package("kernel-core", "x86_64", "5.14.0-362.8.1.el9_3"),
            package("kernel-core", "x86_64", "5.14.0-362.13.1.el9_3"),
        ];
        let none = HashSet::new();
        let times = [None, None];
        let on_old = needing(
            &installed,
            &times,
            &none,
            Some("5.14.0-362.8.1.el9_3.x86_64"),
            None,
        );
        assert_eq!(on_old, ["kernel-core"]);
        let on_new = needing(
            &installed,
            &times,
            &none,
            Some("5.14.0-362.13.1.el9_3.x86_64"),
            None,
        );
        assert!(on_new.is_empty());
        // No running kernel (not the live host): nothing to compare.
        assert!(needing(&installed, &times, &none, None, None).is_empty());
    }

    #[test]
    fn suse_kernels_run_without_the_rebuild_counter() {
        let installed = [package(
            "kernel-default",
            "x86_64",
            "5.14.21-150500.55.39.1",
        )];
        let none = HashSet::new();
        let running = needing(
            &installed,
            &[None],
            &none,
            Some("5.14.21-150500.55.39-default"),
            None,
        );
        assert!(running.is_empty());
        let older = needing(
            &installed,
            &[None],
            &none,
            Some("5.14.21-150500.55.36-default"),
            None,
        );
        assert_eq!(older, ["kernel-default"]);
    }

    #[test]
    fn reboot_suggested_counts_only_when_installed_after_boot() {
        let installed = [
            package("glibc", "x86_64", "2.34-83.el9"),
            package("bash", "x86_64", "5.1.8-6.el9"),
        ];
        let suggested: HashSet<_> = [(
            "glibc".to_owned(),
            "x86_64".to_owned(),
            "2.34-83.el9".to_owned(),
        )]
        .into();
        let times = [Some(2_000), Some(3_000)];
        assert_eq!(
            needing(&installed, &times, &suggested, None, Some(1_000)),
            ["glibc"]
        );
        assert!(needing(&installed, &times, &suggested, None, Some(2_500)).is_empty());
        assert!(needing(&installed, &times, &suggested, None, None).is_empty());
    }
}
