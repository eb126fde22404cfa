//! Synthetic fleets: deterministic inventories shaped like real Debian
//! servers (about 1,500 installed packages, a few hundred candidate versions
//! of mixed classification and age), `distinct` of them shared by `nodes`
//! nodes the way identical images share one inventory in a real fleet.

use std::collections::BTreeMap;

use jiff::civil::Date;
use patchline_api::checkin::{Inventory, NodeFacts};
use patchline_api::nodes::tag_keys;
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::{Classification, InstalledPackage, Severity, Update};

/// SplitMix64: the same fleet on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn debian12() -> OsInfo {
    OsInfo {
        family: OsFamily::Debian,
        id: "debian".into(),
        version_id: "12".into(),
        product: "Debian12".into(),
    }
}

/// Inventory number `variant` (0-based). Variants share most packages and
/// differ in a handful of versions, as nodes patched at different times do.
pub fn inventory(variant: usize, installed: usize, today: Date) -> Inventory {
    let mut base = Rng(0x5eed_f1ee7);
    let mut own = Rng(0xabcd_0000 + variant as u64);
    let mut packages = Vec::with_capacity(installed);
    let mut updates = Vec::new();
    for index in 0..installed {
        let name = format!("pkg{index:05}");
        let major = base.below(10);
        let minor = base.below(30);
        // Each variant lags behind on a few packages.
        let revision = if own.below(40) == 0 { 1 } else { 2 };
        packages.push(InstalledPackage {
            name: name.clone(),
            arch: "amd64".into(),
            version: format!("{major}.{minor}-{revision}"),
            source: None,
        });
        if base.below(8) == 0 {
            let (classification, severity) = match base.below(4) {
                0 => (Classification::Security, Severity::Critical),
                1 => (Classification::Security, Severity::Important),
                2 => (Classification::Bugfix, Severity::Unspecified),
                _ => (Classification::Enhancement, Severity::Unspecified),
            };
            let age = base.below(30) as i64;
            updates.push(Update {
                name,
                arch: "amd64".into(),
                version: format!("{major}.{minor}-3"),
                classification,
                severity,
                release_date: today.saturating_sub(jiff::Span::new().days(age)),
                advisory_id: None,
                cves: Vec::new(),
                repository: Some(if classification == Classification::Security {
                    "bookworm-security".into()
                } else {
                    "bookworm".into()
                }),
                priority: None,
                section: None,
                reboot_suggested: false,
            });
        }
    }
    let mut inventory = Inventory {
        os: debian12(),
        installed: packages,
        updates,
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    };
    inventory.normalise();
    inventory
}

pub fn facts(node: usize) -> NodeFacts {
    NodeFacts {
        hostname: format!("load-{node:05}"),
        os: debian12(),
        arch: "amd64".into(),
        kernel: Some("6.1.0-loadgen".into()),
        reboot_required: false,
        agent_version: concat!("loadgen-", env!("CARGO_PKG_VERSION")).into(),
        addresses: Vec::new(),
    }
}

/// Tags spread the fleet over environments, zones and applications so the
/// summary queries group into realistic numbers of keys.
pub fn tags(node: usize) -> BTreeMap<String, String> {
    let environments = ["dev", "test", "prod"];
    let zones = ["zone-a", "zone-b", "zone-c"];
    BTreeMap::from([
        (
            tag_keys::ENVIRONMENT.to_string(),
            environments[node % 3].to_string(),
        ),
        (
            tag_keys::ZONE.to_string(),
            zones[(node / 3) % 3].to_string(),
        ),
        (
            tag_keys::APPLICATION.to_string(),
            format!("app-{:02}", node % 40),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_differ_and_repeat() {
        let today = jiff::civil::date(2026, 11, 25);
        let a = inventory(0, 300, today);
        let b = inventory(1, 300, today);
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash(), inventory(0, 300, today).content_hash());
        assert!(!a.updates.is_empty());
    }
}
