//! Maintenance windows: a schedule, a duration and a cutoff, targets, and
//! tasks run by priority with rate control. `PUT /api/v1/windows/{name}`
//! creates or replaces one (the path name must equal `name`); an identical
//! document changes nothing and audits nothing, so `patchline apply` is
//! idempotent.

use jiff::Timestamp;
use patchline_core::orchestration::{Limit, TargetQuery, ZoneRollout};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::TagScope;

fn enabled_by_default() -> bool {
    true
}

fn utc() -> String {
    "UTC".to_owned()
}

fn one_at_a_time() -> Limit {
    Limit::Count(1)
}

fn no_errors() -> Limit {
    Limit::Count(0)
}

/// A window as operators write it (the PUT body and the `kind: Window`
/// document of `patchline apply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `cron(...)` (6 fields with seconds, or 5), `rate(N unit)` or `at(...)`.
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Days after each schedule match (e.g. the Sunday after Patch Tuesday).
    #[serde(default)]
    pub offset_days: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub end: Option<Timestamp>,
    /// 1–24 hours.
    pub duration_hours: u8,
    /// No task starts in the last `cutoff_hours` (0–23, less than the duration).
    pub cutoff_hours: u8,
    /// What happens to tasks still running at the cutoff: they continue
    /// (default) or are cancelled.
    #[serde(default, skip_serializing_if = "CutoffBehavior::is_default")]
    pub cutoff_behavior: CutoffBehavior,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Nodes listed or matching the tag query; nodes tagged
    /// `Maintenance Window=<name>` always belong too, and nodes with no such
    /// tag belong to the governance default window.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub targets: TargetQuery,
    /// The app-team scope owning the window: only nodes inside it are
    /// targeted, and only that team (and admins) may change it. Set from
    /// the caller's scope when an app-team operator writes the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<TagScope>,
    /// Zone-by-zone rollout with a disruption budget per zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rollout: Option<ZoneRollout>,
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
}

/// One task of a window. Lower priorities run first; tasks of equal
/// priority run in parallel. On a node where a task of a lower priority
/// failed, later tasks are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: String,
    #[serde(default)]
    pub priority: u32,
    pub action: TaskAction,
    /// A number, or a percentage of the task's targets ("10%", rounded up).
    #[serde(default = "one_at_a_time")]
    #[schema(value_type = String)]
    pub max_concurrency: Limit,
    /// Once more invocations failed than this, no new one starts
    /// ("0" stops after the first failure; a percentage rounds down).
    #[serde(default = "no_errors")]
    #[schema(value_type = String)]
    pub max_errors: Limit,
    /// Each invocation's time limit (default 3600 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

/// What the cutoff does to tasks still running (AWS `CutoffBehavior`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CutoffBehavior {
    /// Running tasks continue; only new starts stop.
    #[default]
    ContinueTask,
    /// Running tasks are asked to stop: the agent kills a command or
    /// snapshot, and an install that has not started its package manager
    /// yet (an install already in its transaction finishes).
    CancelTask,
}

impl CutoffBehavior {
    /// The default (`continue-task`) is not written out, so stored specs
    /// of windows that never set it stay byte-identical.
    pub fn is_default(&self) -> bool {
        *self == CutoffBehavior::ContinueTask
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CutoffBehavior::ContinueTask => "continue-task",
            CutoffBehavior::CancelTask => "cancel-task",
        }
    }
}

/// Default time limit of one invocation.
pub const DEFAULT_TASK_TIMEOUT_SECONDS: u32 = 3600;

impl TaskSpec {
    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds.unwrap_or(DEFAULT_TASK_TIMEOUT_SECONDS)
    }
}

/// What a task does on each node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TaskAction {
    /// Scan (refreshing metadata) or install exactly what the node's
    /// baseline (or `baseline`, an override by name) approves.
    Patch {
        operation: PatchOperation,
        #[serde(default)]
        reboot: Reboot,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        baseline: Option<String>,
    },
    /// `sh -c <command>` on the node (agents run it only when started with
    /// `--allow-commands`); `PATCHLINE_ROOT` names the node root.
    Command { command: String },
    /// The snapshot/backup step: `command`, or the agent's own configured
    /// snapshot hook when none is given.
    Snapshot {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PatchOperation {
    Scan,
    Install,
}

/// Whether an install may reboot the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reboot {
    #[default]
    RebootIfNeeded,
    NoReboot,
}

/// A stored window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowView {
    pub window: WindowSpec,
    pub version: i64,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    pub updated_by: String,
    /// The next openings (at most 3) after now.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub next_openings: Vec<Timestamp>,
    /// Nodes the window targets now.
    #[serde(default)]
    pub target_count: u64,
}

/// The answer to a window PUT.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutWindowOutcome {
    pub changed: bool,
    pub version: i64,
    /// Planner and high-availability warnings (the window is saved).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `GET /api/v1/windows/{name}/plan`: the planner's check of one window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowPlan {
    pub window: String,
    pub targets: u64,
    pub duration_hours: u8,
    pub cutoff_hours: u8,
    /// 4 h + 1 h per 50 nodes (at most 24).
    pub recommended_duration_hours: u8,
    pub recommended_cutoff_hours: u8,
    /// Whether the duration is at least the recommended one.
    pub fits: bool,
    /// Blocking findings (no targets, too short, no tasks...).
    #[serde(default)]
    pub problems: Vec<String>,
    /// Other windows open at the same time as this one, with shared targets.
    #[serde(default)]
    pub overlaps: Vec<WindowOverlap>,
    /// High-availability warnings (a service's zones sharing this window).
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub next_openings: Vec<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowOverlap {
    pub window: String,
    /// Nodes both windows target.
    pub shared_targets: u64,
    #[schema(value_type = String)]
    pub start: Timestamp,
    #[schema(value_type = String)]
    pub end: Timestamp,
}
