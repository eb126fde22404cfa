//! The audit log: every change of policy, credentials or tags, with who,
//! when and what.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Increasing; page with `?after=<id>`.
    pub id: i64,
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// `user:<name>`, `token:<name>`, `node:<id>` or `system`.
    pub actor: String,
    /// Dotted verb: `baseline.put`, `patch-group.delete`, `node.tags`,
    /// `enrolment-secret.revoke`, `user.create`, `login.failed`...
    pub action: String,
    /// What was acted on (`baseline:prod-debian`).
    pub target: String,
    /// The change itself (before/after or the new document); never secrets.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}
