//! Nodes as operators see them, and their tags.

use std::collections::BTreeMap;

use jiff::Timestamp;
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::{ComplianceStatus, LevelCounts, StateCounts};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::checkin::{InventoryHash, NodeFacts};

/// Tag keys with a meaning to Patchline (any other key is free-form).
pub mod tag_keys {
    /// Maps the node to a patch group (and so to a baseline per OS family).
    pub const PATCH_GROUP: &str = "Patch Group";
    pub const MAINTENANCE_WINDOW: &str = "Maintenance Window";
    pub const ENVIRONMENT: &str = "Environment";
    pub const ZONE: &str = "Zone";
    pub const APPLICATION: &str = "Application";
}

/// A node's compliance as last evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeComplianceSummary {
    #[schema(value_type = String)]
    pub status: ComplianceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub severity: Option<ComplianceLevel>,
    #[schema(value_type = Object)]
    pub state_counts: StateCounts,
    #[schema(value_type = Object)]
    pub non_compliant_levels: LevelCounts,
    pub baseline: String,
    pub baseline_version: i64,
    #[schema(value_type = String)]
    pub scanned_at: Timestamp,
    #[schema(value_type = String)]
    pub evaluated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeView {
    pub id: String,
    pub facts: NodeFacts,
    pub tags: BTreeMap<String, String>,
    #[schema(value_type = String)]
    pub enrolled_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub last_checkin_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_hash: Option<InventoryHash>,
    /// The `Patch Group` tag's group, when it names one that exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_group: Option<String>,
    /// The baseline the node is evaluated against (group's, else default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<NodeComplianceSummary>,
}

/// Changes a node's operator tags: `Some(value)` sets, `None` removes.
/// An app-team operator may not set or remove its own scope tag.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTagsRequest {
    pub tags: BTreeMap<String, Option<String>>,
}
