//! Compliance reports: summaries by a dimension, per node, per patch, and
//! history. Every listing is also exported as CSV with `?format=csv`.

use jiff::Timestamp;
use jiff::civil::Date;
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::{ComplianceStatus, InstallTarget, LevelCounts, PackageCompliance};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::nodes::NodeComplianceSummary;

/// The dimension of `GET /api/v1/compliance/summary?by=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SummaryBy {
    PatchGroup,
    Environment,
    Zone,
    Baseline,
    OsFamily,
    Application,
}

impl SummaryBy {
    pub const ALL: [SummaryBy; 6] = [
        SummaryBy::PatchGroup,
        SummaryBy::Environment,
        SummaryBy::Zone,
        SummaryBy::Baseline,
        SummaryBy::OsFamily,
        SummaryBy::Application,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SummaryBy::PatchGroup => "patch-group",
            SummaryBy::Environment => "environment",
            SummaryBy::Zone => "zone",
            SummaryBy::Baseline => "baseline",
            SummaryBy::OsFamily => "os-family",
            SummaryBy::Application => "application",
        }
    }
}

impl std::str::FromStr for SummaryBy {
    type Err = String;

    fn from_str(text: &str) -> Result<SummaryBy, String> {
        SummaryBy::ALL
            .into_iter()
            .find(|by| by.as_str() == text)
            .ok_or_else(|| format!("unknown summary dimension {text:?}"))
    }
}

/// One line of a summary. Nodes that never sent an inventory are
/// `unreported` (neither compliant nor non-compliant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceGroupSummary {
    /// The dimension's value (`-` for nodes without one).
    pub key: String,
    pub nodes: u64,
    pub compliant: u64,
    pub non_compliant: u64,
    pub unreported: u64,
    /// Non-compliant nodes by their highest severity.
    #[schema(value_type = Object)]
    pub non_compliant_by_severity: LevelCounts,
}

/// One node's line in `GET /api/v1/compliance/nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeComplianceRow {
    pub node_id: String,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<NodeComplianceSummary>,
}

/// `GET /api/v1/compliance/nodes/{id}`: every package line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeComplianceDetail {
    pub node_id: String,
    pub hostname: String,
    pub summary: NodeComplianceSummary,
    #[schema(value_type = Vec<Object>)]
    pub packages: Vec<PackageCompliance<'static>>,
    #[schema(value_type = Vec<Object>)]
    pub to_install: Vec<InstallTarget<'static>>,
}

/// One patch across the fleet (per package name and approved version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchComplianceRow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_id: Option<String>,
    #[schema(value_type = String)]
    pub compliance_level: ComplianceLevel,
    pub missing_nodes: u64,
    pub failed_nodes: u64,
    pub pending_reboot_nodes: u64,
    pub installed_nodes: u64,
}

/// Compliance counts of one day for one key of a dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryPoint {
    #[schema(value_type = String)]
    pub day: Date,
    pub key: String,
    pub compliant: u64,
    pub non_compliant: u64,
    pub unreported: u64,
}

/// A status value as a filter (`?status=non-compliant`).
pub type StatusFilter = ComplianceStatus;

/// When the fleet's compliance was last recomputed and how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationStats {
    #[schema(value_type = String)]
    pub at: Timestamp,
    pub distinct_evaluations: u64,
    pub nodes: u64,
    pub elapsed_ms: u64,
}
