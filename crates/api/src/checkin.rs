//! Check-in: the agent's periodic call. It carries facts, tags and the
//! inventory *by content hash*; the body travels only when the server has
//! not seen that hash. The reply carries the work for the node.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsInfo;
use patchline_core::package::{InstalledPackage, PackageRef, Update};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::nodes::NodeComplianceSummary;
use crate::windows::Reboot;

/// What the agent reports about its node besides packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeFacts {
    pub hostname: String,
    #[schema(value_type = Object)]
    pub os: OsInfo,
    /// dpkg/rpm architecture (`amd64`, `x86_64`); may be empty when unknown.
    #[serde(default)]
    pub arch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default)]
    pub reboot_required: bool,
    pub agent_version: String,
    /// The node's IP addresses (for tagging rules matching on networks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<IpAddr>,
}

/// Everything the compliance engine needs from a node, without baseline or
/// time: identical nodes send identical inventories, so the server stores and
/// evaluates each distinct inventory once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[schema(value_type = Object)]
    pub os: OsInfo,
    #[schema(value_type = Vec<Object>)]
    pub installed: Vec<InstalledPackage>,
    /// Every version the node's repositories offer for installed packages.
    #[schema(value_type = Vec<Object>)]
    pub updates: Vec<Update>,
    /// Packages whose last install attempt failed.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub failed: Vec<PackageRef>,
    /// Packages installed but waiting for a reboot.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub pending_reboot: Vec<PackageRef>,
}

impl Inventory {
    /// Sorts every list so the same package set always hashes the same,
    /// whatever order the package database listed it in.
    pub fn normalise(&mut self) {
        self.installed
            .sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
        self.updates.sort_by(|a, b| {
            (&a.name, &a.arch, &a.version, &a.repository).cmp(&(
                &b.name,
                &b.arch,
                &b.version,
                &b.repository,
            ))
        });
        let by_ref = |a: &PackageRef, b: &PackageRef| {
            (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version))
        };
        self.failed.sort_by(by_ref);
        self.pending_reboot.sort_by(by_ref);
    }

    /// SHA-256 of the JSON of the normalised inventory. The server recomputes
    /// it over what it receives and refuses a body whose hash differs.
    pub fn content_hash(&self) -> InventoryHash {
        let mut normalised = self.clone();
        normalised.normalise();
        let json = serde_json::to_vec(&normalised).unwrap_or_default();
        InventoryHash(hex::encode(Sha256::digest(&json)))
    }
}

/// Lower-case hex SHA-256 of an [`Inventory`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct InventoryHash(pub String);

impl InventoryHash {
    /// 64 lower-case hex digits.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == 64
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

impl fmt::Display for InventoryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `POST /api/v1/agent/checkin` with the node credential. The node is the
/// one the credential belongs to; a body never names a node id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinRequest {
    pub facts: NodeFacts,
    /// Tags from the agent's configuration (operator tags win on conflict).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[schema(value_type = String)]
    pub scanned_at: Timestamp,
    pub inventory_hash: InventoryHash,
    /// Sent only after the server answered `inventory-required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    /// Results of work items finished since the last check-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<WorkResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckinStatus {
    /// Recorded.
    Accepted,
    /// The server does not know `inventory_hash`: send again with the body.
    /// Nothing else of the request was recorded.
    InventoryRequired,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinResponse {
    pub status: CheckinStatus,
    pub checkin_interval_seconds: u32,
    /// The node's compliance as the server evaluated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<NodeComplianceSummary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work: Vec<Work>,
}

/// Work the server hands a node. The agent runs it and reports a
/// [`WorkResult`] with the same id at its next check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Work {
    /// Scan again now (refreshing repository metadata when `refresh`).
    Scan { id: String, refresh: bool },
    /// Install exactly what `baseline` approves at `evaluate_at` (the
    /// server's clock), holding what it rejects; the agent's own hooks run
    /// around it. Refused by a scan-only agent.
    Install {
        id: String,
        #[schema(value_type = Object)]
        baseline: Baseline,
        #[schema(value_type = String)]
        evaluate_at: Timestamp,
        reboot: Reboot,
        timeout_seconds: u32,
    },
    /// `sh -c command`, run only by an agent started with `--allow-commands`.
    Command {
        id: String,
        command: String,
        timeout_seconds: u32,
    },
    /// The snapshot/backup step: `command`, or the agent's configured
    /// snapshot hook (failed when it has none).
    Snapshot {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        timeout_seconds: u32,
    },
}

impl Work {
    /// Unique per invocation: the agent never runs one id twice.
    pub fn id(&self) -> &str {
        match self {
            Work::Scan { id, .. }
            | Work::Install { id, .. }
            | Work::Command { id, .. }
            | Work::Snapshot { id, .. } => id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Work::Scan { .. } => "scan",
            Work::Install { .. } => "install",
            Work::Command { .. } => "command",
            Work::Snapshot { .. } => "snapshot",
        }
    }
}

/// The longest wait `GET /api/v1/agent/work-ready?wait=N` accepts.
pub const WORK_READY_MAX_WAIT_SECONDS: u32 = 60;
/// The wait when the query gives none.
pub const WORK_READY_DEFAULT_WAIT_SECONDS: u32 = 50;

/// The query of the work-ready long-poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkReadyQuery {
    /// Seconds to wait at most ([`WORK_READY_DEFAULT_WAIT_SECONDS`] when
    /// absent, [`WORK_READY_MAX_WAIT_SECONDS`] at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u32>,
}

/// The answer of the work-ready long-poll: `true` as soon as work is
/// queued for the node (check in now to collect it), `false` when the
/// wait ended without any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkReady {
    pub work_ready: bool,
}

/// The query of the work-cancel long-poll
/// (`GET /api/v1/agent/work/{id}/cancel?wait=N`): `wait` as in
/// [`WorkReadyQuery`], 0 answering at once.
pub type WorkCancelQuery = WorkReadyQuery;

/// The answer of the work-cancel long-poll: `cancel` as soon as the server
/// asked the agent to stop this running work item (the window's cutoff
/// passed with `cancel-task`, or an operator cancelled the execution);
/// `false` when the wait ended without such a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkCancel {
    pub cancel: bool,
    /// Why, when `cancel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WorkStatus {
    Success,
    Failed,
    TimedOut,
    /// The server asked the agent to stop the work and it did.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkResult {
    pub id: String,
    pub status: WorkStatus,
    /// Bounded by the agent (last 64 KiB).
    #[serde(default)]
    pub output: String,
    #[schema(value_type = String)]
    pub started_at: Timestamp,
    #[schema(value_type = String)]
    pub finished_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::os::OsFamily;

    fn package(name: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            arch: "amd64".into(),
            version: version.into(),
            source: None,
        }
    }

    fn inventory(installed: Vec<InstalledPackage>) -> Inventory {
        Inventory {
            os: OsInfo {
                family: OsFamily::Debian,
                id: "debian".into(),
                version_id: "12".into(),
                product: "Debian12".into(),
            },
            installed,
            updates: Vec::new(),
            failed: Vec::new(),
            pending_reboot: Vec::new(),
        }
    }

    #[test]
    fn the_hash_ignores_listing_order_but_not_content() {
        let a = inventory(vec![
            package("bash", "5.2-1"),
            package("zlib1g", "1:1.2.13"),
        ]);
        let b = inventory(vec![
            package("zlib1g", "1:1.2.13"),
            package("bash", "5.2-1"),
        ]);
        let c = inventory(vec![
            package("bash", "5.2-2"),
            package("zlib1g", "1:1.2.13"),
        ]);
        assert_eq!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
        assert!(a.content_hash().is_well_formed());
        assert!(!InventoryHash("ABC".into()).is_well_formed());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"status":"accepted","checkin_interval_seconds":60,"surprise":1}"#;
        assert!(serde_json::from_str::<CheckinResponse>(json).is_err());
    }
}
