//! The fleet's summary view, kept in memory: every node's OS family,
//! summary status, baseline and tags, and the default patch group of nodes
//! without a `Patch Group` tag. Summaries by any dimension are folded
//! from it in microseconds instead of a grouped join over every node per
//! request. It is reloaded only when the store's `fleet_generation` counter
//! (bumped by triggers on nodes, tags and summaries) or its
//! `policy_generation` counter (governance settings and patch groups) has
//! moved, so a change made by any server replica shows at the next request.

use std::collections::HashMap;
use std::sync::Arc;

use patchline_api::auth::TagScope;
use patchline_api::compliance::SummaryBy;
use patchline_api::nodes::tag_keys;
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::ComplianceStatus;

use super::report::{NO_VALUE, StatusCount};
use crate::store::fleet_view::{FleetRows, ViewGeneration};
use crate::store::{Store, StoreError};

#[derive(Debug)]
struct ViewNode {
    os_family: String,
    status: Option<ComplianceStatus>,
    severity: Option<ComplianceLevel>,
    baseline: Option<String>,
    /// Sorted by key (keys are unique per node).
    tags: Vec<(String, String)>,
}

impl ViewNode {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|index| self.tags[index].1.as_str())
    }
}

/// One consistent reading of the fleet.
#[derive(Debug)]
pub struct FleetView {
    generation: ViewGeneration,
    nodes: Vec<ViewNode>,
    default_patch_group: Option<String>,
}

impl FleetView {
    pub fn from_rows(rows: FleetRows) -> FleetView {
        let mut index: HashMap<String, usize> = HashMap::with_capacity(rows.nodes.len());
        let mut nodes = Vec::with_capacity(rows.nodes.len());
        for row in rows.nodes {
            index.insert(row.id, nodes.len());
            nodes.push(ViewNode {
                os_family: row.os_family,
                status: row.status,
                severity: row.severity,
                baseline: row.baseline,
                tags: Vec::new(),
            });
        }
        for (node_id, key, value) in rows.tags {
            // A tag row of a node deleted between the two scans is dropped.
            if let Some(&position) = index.get(&node_id) {
                nodes[position].tags.push((key, value));
            }
        }
        for node in &mut nodes {
            node.tags.sort();
        }
        FleetView {
            generation: rows.generation,
            nodes,
            default_patch_group: rows.default_patch_group,
        }
    }

    pub fn generation(&self) -> ViewGeneration {
        self.generation
    }

    /// A node's value of a grouping tag, the patch group being the
    /// effective one (the tag, else the default group), as the engine
    /// resolves baselines with it.
    fn grouping_value<'a>(&'a self, node: &'a ViewNode, key: &str) -> Option<&'a str> {
        let tagged = node.tag(key);
        if key == tag_keys::PATCH_GROUP {
            tagged.or(self.default_patch_group.as_deref())
        } else {
            tagged
        }
    }

    /// Nodes per dimension value, status and severity — the same lines as
    /// `Store::compliance_status_counts`, without a database round trip.
    pub fn status_counts(&self, by: SummaryBy, scope: Option<&TagScope>) -> Vec<StatusCount> {
        type Line<'a> = (&'a str, Option<ComplianceStatus>, Option<ComplianceLevel>);
        let mut counts: HashMap<Line<'_>, u64> = HashMap::new();
        for node in &self.nodes {
            if let Some(scope) = scope
                && self.grouping_value(node, &scope.key) != Some(scope.value.as_str())
            {
                continue;
            }
            let key = match by {
                SummaryBy::PatchGroup => self.grouping_value(node, tag_keys::PATCH_GROUP),
                SummaryBy::Environment => node.tag(tag_keys::ENVIRONMENT),
                SummaryBy::Zone => node.tag(tag_keys::ZONE),
                SummaryBy::Application => node.tag(tag_keys::APPLICATION),
                SummaryBy::Baseline => node.baseline.as_deref(),
                SummaryBy::OsFamily => Some(node.os_family.as_str()),
            };
            *counts
                .entry((key.unwrap_or(NO_VALUE), node.status, node.severity))
                .or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((key, status, severity), nodes)| StatusCount {
                key: key.to_owned(),
                status,
                severity,
                nodes,
            })
            .collect()
    }
}

/// The current view, shared by every request of this server process.
#[derive(Default)]
pub struct FleetViewCache {
    current: tokio::sync::Mutex<Option<Arc<FleetView>>>,
}

impl FleetViewCache {
    /// The view at the store's current generations: one tiny query when
    /// nothing changed, a reload otherwise. Concurrent callers wait for one
    /// reload instead of each scanning the fleet.
    pub async fn get(&self, store: &Store) -> Result<Arc<FleetView>, StoreError> {
        let generation = store.view_generation().await?;
        let mut current = self.current.lock().await;
        if let Some(view) = current.as_ref()
            && view.generation.covers(generation)
        {
            return Ok(Arc::clone(view));
        }
        let view = Arc::new(FleetView::from_rows(store.fleet_rows().await?));
        *current = Some(Arc::clone(&view));
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fleet_view::FleetNodeRow;

    fn node(id: &str, status: Option<ComplianceStatus>, baseline: Option<&str>) -> FleetNodeRow {
        FleetNodeRow {
            id: id.into(),
            os_family: "debian".into(),
            status,
            severity: status
                .filter(|s| *s == ComplianceStatus::NonCompliant)
                .map(|_| ComplianceLevel::Critical),
            baseline: baseline.map(str::to_owned),
        }
    }

    fn tag(id: &str, key: &str, value: &str) -> (String, String, String) {
        (id.into(), key.into(), value.into())
    }

    fn count(lines: &[StatusCount], key: &str, status: Option<ComplianceStatus>) -> u64 {
        lines
            .iter()
            .filter(|line| line.key == key && line.status == status)
            .map(|line| line.nodes)
            .sum()
    }

    #[test]
    fn folds_by_tag_baseline_and_family_with_scope() {
        use ComplianceStatus::{Compliant, NonCompliant};
        let view = FleetView::from_rows(FleetRows {
            generation: ViewGeneration {
                fleet: 7,
                policy: 2,
            },
            nodes: vec![
                node("a", Some(Compliant), Some("prod")),
                node("b", Some(NonCompliant), Some("prod")),
                node("c", None, None),
            ],
            tags: vec![
                tag("a", tag_keys::PATCH_GROUP, "web"),
                tag("a", tag_keys::APPLICATION, "payments"),
                tag("b", tag_keys::PATCH_GROUP, "web"),
                tag("c", tag_keys::APPLICATION, "payments"),
                tag("gone", tag_keys::PATCH_GROUP, "web"),
            ],
            default_patch_group: None,
        });
        assert_eq!(view.generation().fleet, 7);
        let by_group = view.status_counts(SummaryBy::PatchGroup, None);
        assert_eq!(count(&by_group, "web", Some(Compliant)), 1);
        assert_eq!(count(&by_group, "web", Some(NonCompliant)), 1);
        assert_eq!(count(&by_group, NO_VALUE, None), 1);
        let by_baseline = view.status_counts(SummaryBy::Baseline, None);
        assert_eq!(count(&by_baseline, "prod", Some(NonCompliant)), 1);
        assert_eq!(count(&by_baseline, NO_VALUE, None), 1);
        let by_family = view.status_counts(SummaryBy::OsFamily, None);
        assert_eq!(by_family.iter().map(|l| l.nodes).sum::<u64>(), 3);
        let scope = TagScope {
            key: tag_keys::APPLICATION.into(),
            value: "payments".into(),
        };
        let scoped = view.status_counts(SummaryBy::PatchGroup, Some(&scope));
        assert_eq!(scoped.iter().map(|l| l.nodes).sum::<u64>(), 2);
        assert_eq!(count(&scoped, "web", Some(Compliant)), 1);
        assert_eq!(count(&scoped, NO_VALUE, None), 1);
    }

    #[test]
    fn untagged_nodes_count_under_the_default_group_in_lines_and_scope() {
        use ComplianceStatus::{Compliant, NonCompliant};
        let view = FleetView::from_rows(FleetRows {
            generation: ViewGeneration::default(),
            nodes: vec![
                node("tagged", Some(Compliant), Some("prod")),
                node("untagged", Some(NonCompliant), Some("prod")),
                node("silent", None, None),
            ],
            tags: vec![tag("tagged", tag_keys::PATCH_GROUP, "db")],
            default_patch_group: Some("web".into()),
        });
        let by_group = view.status_counts(SummaryBy::PatchGroup, None);
        assert_eq!(count(&by_group, "db", Some(Compliant)), 1);
        assert_eq!(count(&by_group, "web", Some(NonCompliant)), 1);
        assert_eq!(count(&by_group, "web", None), 1);
        assert_eq!(count(&by_group, NO_VALUE, None), 0);
        let in_web = TagScope {
            key: tag_keys::PATCH_GROUP.into(),
            value: "web".into(),
        };
        let scoped = view.status_counts(SummaryBy::OsFamily, Some(&in_web));
        assert_eq!(scoped.iter().map(|l| l.nodes).sum::<u64>(), 2);
        let in_db = TagScope {
            value: "db".into(),
            ..in_web
        };
        let scoped = view.status_counts(SummaryBy::OsFamily, Some(&in_db));
        assert_eq!(scoped.iter().map(|l| l.nodes).sum::<u64>(), 1);
    }
}
