//! Node facts read under the root: OS identity (os-release), host name,
//! running kernel (live host only) and the reboot-required marker.

use patchline_core::os::{OsInfo, OsInfoError};
use serde::Serialize;

use crate::root::{NodeRoot, ReadError};

/// Why facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("no os-release under {root}: neither etc/os-release nor usr/lib/os-release exists")]
    NoOsRelease { root: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {source}")]
    OsRelease {
        path: String,
        #[source]
        source: OsInfoError,
    },
}

/// What the agent knows about a node besides its packages.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Facts {
    pub os: OsInfo,
    pub hostname: Option<String>,
    /// The running kernel release; `None` unless the root is the live host.
    pub kernel: Option<String>,
    /// Debian's `/run/reboot-required` marker is present.
    pub reboot_required: bool,
    /// Packages that asked for the reboot (`reboot-required.pkgs`).
    pub reboot_required_packages: Vec<String>,
}

const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];
const REBOOT_MARKER_DIRS: [&str; 2] = ["/run", "/var/run"];

/// Reads the facts of the node at `root`.
pub fn read_facts(root: &NodeRoot) -> Result<Facts, FactsError> {
    Ok(Facts {
        os: read_os(root)?,
        hostname: read_trimmed(root, "/etc/hostname")?,
        kernel: if root.is_live_host() {
            read_trimmed(root, "/proc/sys/kernel/osrelease")?
        } else {
            None
        },
        reboot_required: reboot_marker(root, "reboot-required")?.is_some(),
        reboot_required_packages: reboot_marker(root, "reboot-required.pkgs")?
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn read_os(root: &NodeRoot) -> Result<OsInfo, FactsError> {
    for path in OS_RELEASE_PATHS {
        if let Some(bytes) = root.read_optional(path)? {
            let text = String::from_utf8_lossy(&bytes);
            return OsInfo::from_os_release_text(&text).map_err(|source| FactsError::OsRelease {
                path: root.join(path).display().to_string(),
                source,
            });
        }
    }
    Err(FactsError::NoOsRelease {
        root: root.path().display().to_string(),
    })
}

fn read_trimmed(root: &NodeRoot, path: &str) -> Result<Option<String>, ReadError> {
    Ok(root
        .read_optional(path)?
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .filter(|text| !text.is_empty()))
}

fn reboot_marker(root: &NodeRoot, name: &str) -> Result<Option<String>, ReadError> {
    for dir in REBOOT_MARKER_DIRS {
        if let Some(bytes) = root.read_optional(&format!("{dir}/{name}"))? {
            return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::os::OsFamily;
    use std::fs;

    #[test]
    fn reads_os_and_reboot_marker_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(
            dir.path().join("etc/os-release"),
            "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/hostname"), "web-1\n").unwrap();
        fs::write(dir.path().join("run/reboot-required"), "").unwrap();
        fs::write(
            dir.path().join("run/reboot-required.pkgs"),
            "linux-base\nlibc6\n",
        )
        .unwrap();

        let facts = read_facts(&NodeRoot::new(dir.path())).unwrap();
        assert_eq!(facts.os.family, OsFamily::Ubuntu);
        assert_eq!(facts.os.product, "Ubuntu22.04");
        assert_eq!(facts.hostname.as_deref(), Some("web-1"));
        assert_eq!(facts.kernel, None);
        assert!(facts.reboot_required);
        assert_eq!(facts.reboot_required_packages, ["linux-base", "libc6"]);
    }

    #[test]
    fn missing_os_release_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_facts(&NodeRoot::new(dir.path())).unwrap_err();
        assert!(error.to_string().contains("os-release"), "{error}");
    }
}
