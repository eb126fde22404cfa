//! Opt-out governance: the default window and default patch group every
//! node without its own gets, automatic tagging rules applied on
//! enrolment and whenever a node's facts change, and the quotas in force.

use patchline_core::orchestration::{Quotas, TaggingRule};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET`/`PUT /api/v1/settings/governance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GovernanceSettings {
    /// The window of every node with no `Maintenance Window` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_window: Option<String>,
    /// The patch group of every node with no `Patch Group` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_patch_group: Option<String>,
}

/// A stored tagging rule (`PUT /api/v1/tagging-rules/{name}` takes the
/// rule itself). Rules apply in name order; on a key set by several, the
/// last wins. Rule tags rank below agent and operator tags.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaggingRuleView {
    #[schema(value_type = Object)]
    pub rule: TaggingRule,
    /// Nodes the rule matches now.
    pub matching_nodes: u64,
}

/// `GET /api/v1/settings/quotas`: the quotas in force (server options).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasView {
    #[schema(value_type = Object)]
    pub quotas: Quotas,
}
