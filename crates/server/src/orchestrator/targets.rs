//! Which nodes a window targets. A node belongs to window `W` when any of
//! these holds:
//! - the window lists its id, or its tags match the window's tag query;
//! - it carries the tag `Maintenance Window=W`;
//! - `W` is the governance default window and the node has no window of its
//!   own: no `Maintenance Window` tag, and no other window lists it or
//!   matches it by tags (opt-out governance: every node has a window, and
//!   only one unless an operator asks for more).
//!
//! A window with an owner (an app-team scope) then keeps only the nodes
//! inside that scope, so a team's window never reaches another team's
//! nodes, however its query is written.

use std::collections::BTreeMap;

use patchline_api::auth::TagScope;
use patchline_api::windows::WindowSpec;
use patchline_core::os::OsFamily;
use serde::{Deserialize, Serialize};

use crate::store::records::NodeRecord;
use crate::store::windows::WindowRecord;

/// The tag naming the window a node belongs to.
pub const MAINTENANCE_WINDOW_TAG: &str = "Maintenance Window";

/// One node a window (or Patch Now) targets, as resolved when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub node_id: String,
    pub hostname: String,
    pub os_family: OsFamily,
    /// The node's effective tags.
    pub tags: BTreeMap<String, String>,
}

impl Target {
    pub fn of(node: &NodeRecord) -> Target {
        Target {
            node_id: node.id.clone(),
            hostname: node.facts.hostname.clone(),
            os_family: node.facts.os.family,
            tags: node.tags.clone(),
        }
    }

    /// The node's value of `tag` (its zone, say).
    pub fn tag(&self, tag: &str) -> Option<&str> {
        self.tags.get(tag).map(String::as_str)
    }
}

/// What decides membership beyond a window's own targets: the governance
/// default window, and every stored window (a node another window targets
/// has a window, so the default one leaves it alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct Membership<'a> {
    pub default_window: Option<&'a str>,
    pub windows: &'a [WindowRecord],
}

/// The nodes of `nodes` the window `spec` targets, in the order given.
pub fn window_members(
    spec: &WindowSpec,
    membership: Membership<'_>,
    nodes: &[NodeRecord],
) -> Vec<Target> {
    nodes
        .iter()
        .filter(|node| is_member(spec, membership, node))
        .map(Target::of)
        .collect()
}

/// Whether `node` belongs to the window `spec`.
pub fn is_member(spec: &WindowSpec, membership: Membership<'_>, node: &NodeRecord) -> bool {
    let by_tag = match node.tags.get(MAINTENANCE_WINDOW_TAG) {
        Some(window) => *window == spec.name,
        None => {
            membership.default_window == Some(spec.name.as_str())
                && !membership
                    .windows
                    .iter()
                    .any(|other| other.spec.name != spec.name && targets(&other.spec, node))
        }
    };
    (by_tag && in_scope(spec.owner.as_ref(), &node.tags)) || targets(spec, node)
}

/// Whether the window's own targets (ids, tag query) reach `node`, within
/// its owner scope.
fn targets(spec: &WindowSpec, node: &NodeRecord) -> bool {
    spec.targets.matches(&node.id, &node.tags) && in_scope(spec.owner.as_ref(), &node.tags)
}

/// Whether a node with these tags is inside the owner scope (no owner: yes).
pub fn in_scope(owner: Option<&TagScope>, tags: &BTreeMap<String, String>) -> bool {
    owner.is_none_or(|scope| tags.get(&scope.key) == Some(&scope.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use patchline_api::checkin::NodeFacts;
    use patchline_core::orchestration::TargetQuery;
    use patchline_core::os::OsInfo;

    fn node(id: &str, tags: &[(&str, &str)]) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            facts: NodeFacts {
                hostname: format!("host-{id}"),
                os: OsInfo {
                    family: OsFamily::Debian,
                    id: "debian".into(),
                    version_id: "12".into(),
                    product: "Debian12".into(),
                },
                arch: "amd64".into(),
                kernel: None,
                reboot_required: false,
                agent_version: "0.1.0".into(),
                addresses: Vec::new(),
            },
            tags: tags
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            enrolled_at: Timestamp::UNIX_EPOCH,
            last_checkin_at: None,
            inventory_hash: None,
            scanned_at: None,
        }
    }

    fn window(name: &str, targets: TargetQuery, owner: Option<TagScope>) -> WindowSpec {
        WindowSpec {
            name: name.into(),
            description: String::new(),
            schedule: "cron(0 0 2 ? * SUN *)".into(),
            time_zone: "UTC".into(),
            offset_days: 0,
            start: None,
            end: None,
            duration_hours: 4,
            cutoff_hours: 1,
            cutoff_behavior: Default::default(),
            enabled: true,
            targets,
            owner,
            rollout: None,
            tasks: Vec::new(),
        }
    }

    fn record(spec: WindowSpec) -> WindowRecord {
        WindowRecord {
            spec,
            version: 1,
            updated_at: Timestamp::UNIX_EPOCH,
            updated_by: "test".into(),
        }
    }

    fn default<'a>(name: &'a str, windows: &'a [WindowRecord]) -> Membership<'a> {
        Membership {
            default_window: Some(name),
            windows,
        }
    }

    fn ids(targets: &[Target]) -> Vec<&str> {
        targets
            .iter()
            .map(|target| target.node_id.as_str())
            .collect()
    }

    fn fleet() -> Vec<NodeRecord> {
        vec![
            node("a", &[("Environment", "prod"), ("Application", "pay")]),
            node("b", &[("Environment", "test")]),
            node("c", &[(MAINTENANCE_WINDOW_TAG, "sunday")]),
            node("d", &[(MAINTENANCE_WINDOW_TAG, "other")]),
            node("e", &[]),
        ]
    }

    #[test]
    fn listed_ids_tag_queries_and_the_window_tag_all_make_members() {
        let query = TargetQuery {
            tags: BTreeMap::from([("Environment".to_owned(), vec!["prod".to_owned()])]),
            node_ids: vec!["b".into()],
        };
        let members = window_members(
            &window("sunday", query, None),
            Membership::default(),
            &fleet(),
        );
        assert_eq!(ids(&members), ["a", "b", "c"]);
        assert_eq!(members[0].hostname, "host-a");
        assert_eq!(members[0].tag("Application"), Some("pay"));
    }

    #[test]
    fn the_default_window_takes_every_node_without_a_window_tag() {
        let spec = window("sunday", TargetQuery::default(), None);
        assert_eq!(
            ids(&window_members(&spec, default("sunday", &[]), &fleet())),
            ["a", "b", "c", "e"]
        );
        assert_eq!(
            ids(&window_members(&spec, default("monday", &[]), &fleet())),
            ["c"]
        );
        assert_eq!(
            ids(&window_members(&spec, Membership::default(), &fleet())),
            ["c"]
        );
    }

    #[test]
    fn the_default_window_leaves_nodes_another_window_targets() {
        let default_spec = window("sunday", TargetQuery::default(), None);
        let prod = window(
            "prod",
            TargetQuery {
                tags: BTreeMap::from([("Environment".to_owned(), vec!["prod".to_owned()])]),
                node_ids: vec!["e".into()],
            },
            None,
        );
        // A window scoped to another team does not reach b, so b stays.
        let scoped = window(
            "team",
            TargetQuery {
                tags: BTreeMap::from([("Environment".to_owned(), vec!["test".to_owned()])]),
                node_ids: Vec::new(),
            },
            Some(TagScope {
                key: "Application".into(),
                value: "other".into(),
            }),
        );
        let windows = [
            record(default_spec.clone()),
            record(prod.clone()),
            record(scoped),
        ];
        let membership = default("sunday", &windows);
        assert_eq!(
            ids(&window_members(&default_spec, membership, &fleet())),
            ["b", "c"]
        );
        assert_eq!(
            ids(&window_members(&prod, membership, &fleet())),
            ["a", "e"]
        );
    }

    #[test]
    fn an_owner_scope_keeps_only_its_nodes() {
        let owner = TagScope {
            key: "Application".into(),
            value: "pay".into(),
        };
        let query = TargetQuery {
            tags: BTreeMap::from([("Environment".to_owned(), vec!["*".to_owned()])]),
            node_ids: vec!["e".into()],
        };
        let spec = window("sunday", query, Some(owner));
        assert_eq!(
            ids(&window_members(&spec, default("sunday", &[]), &fleet())),
            ["a"]
        );
    }
}
