//! The node's package architecture (`amd64`, `x86_64`), read under the
//! root the way its package manager names it.
//!
//! Debian family: the `Architecture` of dpkg's own status entry (dpkg's
//! native architecture is the one it was built for), else the first line of
//! `/var/lib/dpkg/arch`. RPM families: the arch of the installed `rpm`, else
//! `kernel`/`kernel-core` package. Failing those, the running kernel's
//! machine (`uname -m`) for the live host; otherwise unknown (empty).

use patchline_core::package::InstalledPackage;

use crate::root::{NodeRoot, ReadError};

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const DPKG_ARCH: &str = "/var/lib/dpkg/arch";
const RPM_ARCH_WITNESSES: [&str; 3] = ["rpm", "kernel", "kernel-core"];

/// The node's architecture, or an empty string when nothing says.
pub fn node_arch(
    root: &NodeRoot,
    debian_like: bool,
    installed: &[InstalledPackage],
) -> Result<String, ReadError> {
    let from_packages = if debian_like {
        dpkg_arch(root)?
    } else {
        rpm_arch(installed)
    };
    if let Some(arch) = from_packages {
        return Ok(arch);
    }
    if root.is_live_host() {
        let machine = rustix::system::uname()
            .machine()
            .to_string_lossy()
            .into_owned();
        return Ok(if debian_like {
            debian_name_of_machine(&machine).to_owned()
        } else {
            machine
        });
    }
    Ok(String::new())
}

fn dpkg_arch(root: &NodeRoot) -> Result<Option<String>, ReadError> {
    if let Some(status) = root.read_optional(DPKG_STATUS)?
        && let Some(arch) = dpkg_status_arch(&String::from_utf8_lossy(&status))
    {
        return Ok(Some(arch));
    }
    Ok(root.read_optional(DPKG_ARCH)?.and_then(|bytes| {
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(str::to_owned)
    }))
}

/// The `Architecture` field of the `dpkg` stanza of a status file.
fn dpkg_status_arch(status: &str) -> Option<String> {
    status.split("\n\n").find_map(|stanza| {
        let mut is_dpkg = false;
        let mut arch = None;
        for line in stanza.lines() {
            if let Some(value) = line.strip_prefix("Package:") {
                is_dpkg = value.trim() == "dpkg";
            } else if let Some(value) = line.strip_prefix("Architecture:") {
                arch = Some(value.trim().to_owned());
            }
        }
        arch.filter(|arch| is_dpkg && !arch.is_empty())
    })
}

fn rpm_arch(installed: &[InstalledPackage]) -> Option<String> {
    RPM_ARCH_WITNESSES.iter().find_map(|name| {
        installed
            .iter()
            .find(|package| package.name == *name && package.arch != "noarch")
            .map(|package| package.arch.clone())
    })
}

/// dpkg's name for a kernel machine name (only reached on a Debian host
/// whose status lacks dpkg itself).
fn debian_name_of_machine(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" => "armhf",
        "i386" | "i486" | "i586" | "i686" => "i386",
        "ppc64le" => "ppc64el",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn package(name: &str, arch: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            arch: arch.into(),
            version: "1".into(),
            source: None,
        }
    }

    #[test]
    fn debian_reads_dpkg_own_architecture() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        fs::write(
            dir.path().join("var/lib/dpkg/status"),
            "Package: libc6\nArchitecture: i386\nStatus: install ok installed\n\n\
             Package: dpkg\nStatus: install ok installed\nArchitecture: arm64\n\n",
        )
        .unwrap();
        fs::write(dir.path().join("var/lib/dpkg/arch"), "amd64\n").unwrap();
        let root = NodeRoot::new(dir.path());
        assert_eq!(node_arch(&root, true, &[]).unwrap(), "arm64");
    }

    #[test]
    fn debian_without_dpkg_entry_falls_back_to_the_arch_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        fs::write(
            dir.path().join("var/lib/dpkg/status"),
            "Package: libc6\nArchitecture: i386\n\n",
        )
        .unwrap();
        fs::write(dir.path().join("var/lib/dpkg/arch"), "\namd64\ni386\n").unwrap();
        let root = NodeRoot::new(dir.path());
        assert_eq!(node_arch(&root, true, &[]).unwrap(), "amd64");
    }

    #[test]
    fn rpm_reads_the_rpm_or_kernel_package_arch() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        let installed = [package("bash", "noarch"), package("kernel", "aarch64")];
        assert_eq!(node_arch(&root, false, &installed).unwrap(), "aarch64");
        let installed = [package("kernel", "aarch64"), package("rpm", "x86_64")];
        assert_eq!(node_arch(&root, false, &installed).unwrap(), "x86_64");
    }

    #[test]
    fn unknown_when_nothing_says_and_not_the_live_host() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path());
        assert_eq!(node_arch(&root, true, &[]).unwrap(), "");
        assert_eq!(
            node_arch(&root, false, &[package("bash", "noarch")]).unwrap(),
            ""
        );
    }

    #[test]
    fn the_live_host_answers_with_its_machine() {
        let root = NodeRoot::new("/");
        let arch = node_arch(&root, false, &[]).unwrap();
        assert!(!arch.is_empty());
    }
}
