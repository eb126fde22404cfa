//! Baselines: versioned documents (the core's baseline schema).

use jiff::Timestamp;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /api/v1/baselines/{name}`: creates or replaces. The path name must
/// equal `baseline.name`. An identical document creates no version and no
/// audit entry (`changed: false`), so applying a file twice is a no-op.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBaselineRequest {
    #[schema(value_type = Object)]
    pub baseline: Baseline,
    /// Make it the default baseline of its OS family (nodes with no patch
    /// group use it). Clearing the flag on the current default is refused:
    /// make another baseline the default instead.
    #[serde(default)]
    pub default_for_family: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineView {
    pub name: String,
    #[schema(value_type = String)]
    pub os_family: OsFamily,
    /// Starts at 1; each change adds one.
    pub version: i64,
    pub default_for_family: bool,
    #[schema(value_type = Object)]
    pub baseline: Baseline,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    pub updated_by: String,
}

/// The answer to a PUT of a baseline or a patch group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOutcome {
    pub changed: bool,
    pub version: i64,
    /// Nodes whose compliance was re-evaluated because of the change.
    #[serde(default)]
    pub reevaluated_nodes: u64,
}

/// One past version (newest first in listings).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineVersionView {
    pub version: i64,
    #[schema(value_type = Object)]
    pub baseline: Baseline,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    pub created_by: String,
}
