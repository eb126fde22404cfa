//! Executions: one run of a window (or of Patch Now) → one execution per
//! task → one invocation per targeted node, each with status, bounded
//! output and timings. History is kept and listed newest first.

use jiff::Timestamp;
use patchline_core::orchestration::{ExecutionStatus, InvocationCounts, InvocationStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::windows::Reboot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionKind {
    /// Opened by the window's schedule.
    Scheduled,
    /// Patch Now: an install on chosen nodes, right away.
    PatchNow,
}

/// One run of a window or of Patch Now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionView {
    pub id: String,
    pub kind: ExecutionKind,
    /// The window (absent for Patch Now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[schema(value_type = String)]
    pub status: ExecutionStatus,
    /// When the window opened (Patch Now: when it was asked for).
    #[schema(value_type = String)]
    pub scheduled_for: Timestamp,
    /// No task starts after this instant (end − cutoff).
    #[schema(value_type = String)]
    pub last_task_start: Timestamp,
    #[schema(value_type = String)]
    pub window_end: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
    /// Why it ended the way it did (cutoff, quota, cancelled by ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who asked (Patch Now, cancellations); `scheduler` otherwise.
    pub requested_by: String,
    pub tasks: Vec<TaskExecutionView>,
}

/// One task inside an execution.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskExecutionView {
    pub task: String,
    pub priority: u32,
    #[schema(value_type = String)]
    pub status: ExecutionStatus,
    /// The limits resolved against the task's target count.
    pub max_concurrency: u64,
    pub max_errors: u64,
    #[schema(value_type = Object)]
    pub counts: InvocationCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Filled by `GET /api/v1/executions/{id}`; empty in listings.
    #[serde(default)]
    pub invocations: Vec<InvocationView>,
}

/// One task on one node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvocationView {
    pub node_id: String,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[schema(value_type = String)]
    pub status: InvocationStatus,
    /// The agent's output, bounded (its last 64 KiB).
    #[serde(default)]
    pub output: String,
    /// Why the server set this status (timed out, skipped: predecessor
    /// failed, not started: max errors reached, cutoff ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
    /// When the server asked the agent to stop this invocation (an
    /// execution cancel, or a `cancel-task` window's cutoff); in progress
    /// with this set, it is stopping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub stop_requested_at: Option<Timestamp>,
}

/// `POST /api/v1/patch-now`: install on chosen nodes right away. The
/// snapshot/backup step runs first (on a node where it fails, nothing is
/// installed) unless `waive_snapshot` gives the reason it is skipped; the
/// waiver and its reason are audited.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchNowRequest {
    /// Node ids; at least one.
    pub nodes: Vec<String>,
    /// A baseline by name; by default each node family's emergency baseline
    /// (every available update approved now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default)]
    pub reboot: Reboot,
    /// The snapshot command; the agent's own snapshot hook when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_command: Option<String>,
    /// Skip the snapshot step, for this written reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waive_snapshot: Option<String>,
    /// Defaults: "10%" and "0".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<String>,
}

/// `GET /api/v1/executions` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// At most this many, newest first (default 50, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}
