//! What the compliance summaries are computed from — every node's OS
//! family, summary status and tags, and the governance default patch group
//! of untagged nodes — read in plain scans, and the generation counters
//! that triggers bump in the writing transaction: `fleet_generation` on any
//! change of nodes, tags or summaries (migration 0101) and
//! `policy_generation` on any change of baselines, patch groups or
//! governance settings (0102, 0200), so in-memory copies are reloaded only
//! when stale.

use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::ComplianceStatus;
use sqlx::Row;

use super::compliance::{optional_level, parse_status};
use super::{Result, Store};

/// One node as the summaries see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetNodeRow {
    pub id: String,
    pub os_family: String,
    /// `None`: the node never reported an inventory (unreported).
    pub status: Option<ComplianceStatus>,
    pub severity: Option<ComplianceLevel>,
    pub baseline: Option<String>,
}

/// Both counters a summary view depends on: nodes, tags and summaries
/// move `fleet`; a change of the default patch group (or a deletion of
/// the group it names) moves `policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewGeneration {
    pub fleet: i64,
    pub policy: i64,
}

impl ViewGeneration {
    /// Whether a view read at `self` still shows the store at `current`.
    pub fn covers(self, current: ViewGeneration) -> bool {
        self.fleet >= current.fleet && self.policy >= current.policy
    }
}

/// The whole fleet's summary inputs, with the generation they were read at.
#[derive(Debug, Clone, Default)]
pub struct FleetRows {
    pub generation: ViewGeneration,
    pub nodes: Vec<FleetNodeRow>,
    /// (node id, key, value), ordered by node id.
    pub tags: Vec<(String, String, String)>,
    /// The patch group of nodes without a `Patch Group` tag
    /// ([`Store::default_patch_group_in_force`]).
    pub default_patch_group: Option<String>,
}

impl Store {
    /// The counter the summary-relevant tables' triggers bump.
    pub async fn fleet_generation(&self) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM fleet_generation WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("value")?)
    }

    /// The counter baseline and patch-group triggers bump.
    pub async fn policy_generation(&self) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM policy_generation WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("value")?)
    }

    /// Both counters of a summary view, in one round trip.
    pub async fn view_generation(&self) -> Result<ViewGeneration> {
        let row = sqlx::query(
            "SELECT f.value AS fleet, p.value AS policy \
             FROM fleet_generation f CROSS JOIN policy_generation p \
             WHERE f.id = 1 AND p.id = 1",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(ViewGeneration {
            fleet: row.try_get("fleet")?,
            policy: row.try_get("policy")?,
        })
    }

    /// Reads the summary inputs. The generation is read first: a change
    /// made while the scans run moves it past the returned value, so the
    /// next reader reloads (never serves a stale view as fresh).
    pub async fn fleet_rows(&self) -> Result<FleetRows> {
        let generation = self.view_generation().await?;
        let node_rows = sqlx::query(
            "SELECT n.id AS id, n.os_family AS os_family, c.status AS status, \
             c.severity AS severity, c.baseline AS baseline \
             FROM nodes n LEFT JOIN node_compliance c ON c.node_id = n.id ORDER BY n.id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut nodes = Vec::with_capacity(node_rows.len());
        for row in &node_rows {
            let status: Option<String> = row.try_get("status")?;
            nodes.push(FleetNodeRow {
                id: row.try_get("id")?,
                os_family: row.try_get("os_family")?,
                status: status.as_deref().map(parse_status).transpose()?,
                severity: optional_level(row.try_get("severity")?)?,
                baseline: row.try_get("baseline")?,
            });
        }
        let tag_rows =
            sqlx::query("SELECT node_id, key, value FROM node_tags ORDER BY node_id, key")
                .fetch_all(self.pool())
                .await?;
        let mut tags = Vec::with_capacity(tag_rows.len());
        for row in &tag_rows {
            tags.push((
                row.try_get("node_id")?,
                row.try_get("key")?,
                row.try_get("value")?,
            ));
        }
        let default_patch_group = self.default_patch_group_in_force().await?;
        Ok(FleetRows {
            generation,
            nodes,
            tags,
            default_patch_group,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_covers_only_generations_it_has_both_counters_of() {
        let seen = ViewGeneration {
            fleet: 5,
            policy: 3,
        };
        assert!(seen.covers(seen));
        assert!(!seen.covers(ViewGeneration { policy: 4, ..seen }));
        assert!(!seen.covers(ViewGeneration { fleet: 6, ..seen }));
    }
}
