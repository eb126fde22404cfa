//! One scan of the root in the shape a check-in carries: the node's facts
//! and its inventory, hashed. The inventory holds no time and no baseline,
//! so an unchanged root hashes the same and its body is not sent again.
//! For the live host the facts carry its network addresses too.

use std::net::IpAddr;
use std::path::Path;

use jiff::Timestamp;
use patchline_api::checkin::{Inventory, InventoryHash, NodeFacts};
use patchline_core::package::PackageRef;

use crate::checkin::arch::node_arch;
use crate::facts::read_facts;
use crate::root::{NodeRoot, ReadError};
use crate::scan::{ScanError, read_inventory_with_cache};

/// Why the root could not be read. Nothing on the node has changed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("scanning {root}: {cause}")]
    Scan {
        root: String,
        // Boxed: a scan error is large and rare.
        cause: Box<ScanError>,
    },
    #[error("reading the architecture of {root}: {cause}")]
    Arch { root: String, cause: ReadError },
}

/// What a check-in reports about the node at one instant.
#[derive(Debug, Clone)]
pub struct NodeSnapshot {
    pub facts: NodeFacts,
    pub inventory: Inventory,
    pub inventory_hash: InventoryHash,
    pub scanned_at: Timestamp,
}

/// Reads facts and inventory of the node at `root`.
pub fn snapshot(root: &NodeRoot) -> Result<NodeSnapshot, SnapshotError> {
    snapshot_with_failures(root, &[])
}

/// [`snapshot`], with `failed` marks for the packages the last install
/// failed to install (an evaluation then says `failed`, not `missing`).
pub fn snapshot_with_failures(
    root: &NodeRoot,
    failed: &[PackageRef],
) -> Result<NodeSnapshot, SnapshotError> {
    snapshot_cached(root, failed, None)
}

/// [`snapshot_with_failures`], keeping the parsed apt list entries of the
/// installed names in `cache_dir` (outside the root: the scan stays
/// read-only) so unchanged lists are not read again at the next round.
pub fn snapshot_cached(
    root: &NodeRoot,
    failed: &[PackageRef],
    cache_dir: Option<&Path>,
) -> Result<NodeSnapshot, SnapshotError> {
    let root_name = || root.path().display().to_string();
    let scan_error = |source| SnapshotError::Scan {
        root: root_name(),
        cause: Box::new(source),
    };
    let scanned_at = Timestamp::now();
    let mut facts = read_facts(root).map_err(|error| scan_error(ScanError::Facts(error)))?;
    let scanned = read_inventory_with_cache(root, &mut facts, cache_dir).map_err(scan_error)?;
    let arch = node_arch(root, facts.os.family.is_debian_like(), &scanned.installed).map_err(
        |source| SnapshotError::Arch {
            root: root_name(),
            cause: source,
        },
    )?;
    let hostname = facts
        .hostname
        .clone()
        .unwrap_or_else(|| fallback_hostname(root));
    let mut inventory = Inventory {
        os: facts.os.clone(),
        installed: scanned.installed,
        updates: scanned.updates,
        failed: failed.to_vec(),
        pending_reboot: facts
            .reboot_required_packages
            .iter()
            .map(PackageRef::named)
            .collect(),
    };
    inventory.normalise();
    let inventory_hash = inventory.content_hash();
    Ok(NodeSnapshot {
        facts: NodeFacts {
            hostname,
            os: facts.os,
            arch,
            kernel: facts.kernel,
            reboot_required: facts.reboot_required,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            addresses: if root.is_live_host() {
                host_addresses()
            } else {
                Vec::new()
            },
        },
        inventory,
        inventory_hash,
        scanned_at,
    })
}

/// The host's IP addresses, sorted, without loopback and link-local ones
/// (every interface has a link-local address: it tells nothing of the
/// network the node is on). None when the interfaces cannot be listed: the
/// addresses only feed tagging rules, not worth failing a check-in for.
fn host_addresses() -> Vec<IpAddr> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces,
        Err(error) => {
            tracing::warn!(error = %error, "cannot list the network interfaces");
            return Vec::new();
        }
    };
    let mut addresses: Vec<IpAddr> = interfaces
        .iter()
        .filter(|interface| !interface.is_loopback() && !interface.is_link_local())
        .map(if_addrs::Interface::ip)
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The name of a node without `etc/hostname`: the kernel's for the live
/// host, else the root directory's own name (the server requires one).
fn fallback_hostname(root: &NodeRoot) -> String {
    if root.is_live_host() {
        return rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
    }
    root.path()
        .canonicalize()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unnamed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_without_os_release_is_an_error_naming_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let error = snapshot(&NodeRoot::new(dir.path())).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("os-release"), "{message}");
    }

    #[test]
    fn host_addresses_are_sorted_and_never_loopback() {
        for address in host_addresses() {
            assert!(!address.is_loopback(), "{address}");
        }
        let mut sorted = host_addresses();
        sorted.sort();
        assert_eq!(host_addresses(), sorted);
    }

    #[test]
    fn a_root_without_hostname_is_named_after_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("web-7");
        std::fs::create_dir(&node).unwrap();
        assert_eq!(fallback_hostname(&NodeRoot::new(&node)), "web-7");
        assert!(!fallback_hostname(&NodeRoot::new("/")).is_empty());
    }
}
