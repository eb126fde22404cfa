//! Which nodes a window targets. A node belongs to window `W` when any of
//! these holds:
//! - the window lists its id, or its tags match the window's tag query;
//! - it carries the tag `Maintenance Window=W`;
//! - it carries no `Maintenance Window` tag and `W` is the governance
//!   default window (opt-out governance: every node has a window).
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

/// The nodes of `nodes` the window `spec` targets, in the order given.
/// `default_window` is the governance default window, if any.
pub fn window_members(
    spec: &WindowSpec,
    default_window: Option<&str>,
    nodes: &[NodeRecord],
) -> Vec<Target> {
    nodes
        .iter()
        .filter(|node| is_member(spec, default_window, node))
        .map(Target::of)
        .collect()
}

/// Whether `node` belongs to the window `spec`.
pub fn is_member(spec: &WindowSpec, default_window: Option<&str>, node: &NodeRecord) -> bool {
    let by_tag = match node.tags.get(MAINTENANCE_WINDOW_TAG) {
        Some(window) => *window == spec.name,
        None => default_window == Some(spec.name.as_str()),
    };
    let targeted = by_tag || spec.targets.matches(&node.id, &node.tags);
    targeted && in_scope(spec.owner.as_ref(), &node.tags)
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
            enabled: true,
            targets,
            owner,
            rollout: None,
            tasks: Vec::new(),
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
        let members = window_members(&window("sunday", query, None), None, &fleet());
        assert_eq!(ids(&members), ["a", "b", "c"]);
        assert_eq!(members[0].hostname, "host-a");
        assert_eq!(members[0].tag("Application"), Some("pay"));
    }

    #[test]
    fn the_default_window_takes_every_node_without_a_window_tag() {
        let spec = window("sunday", TargetQuery::default(), None);
        assert_eq!(
            ids(&window_members(&spec, Some("sunday"), &fleet())),
            ["a", "b", "c", "e"]
        );
        assert_eq!(ids(&window_members(&spec, Some("monday"), &fleet())), ["c"]);
        assert_eq!(ids(&window_members(&spec, None, &fleet())), ["c"]);
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
        assert_eq!(ids(&window_members(&spec, Some("sunday"), &fleet())), ["a"]);
    }
}
