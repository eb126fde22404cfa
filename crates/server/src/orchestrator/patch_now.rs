//! Patch Now: an install on chosen nodes, right away, with a chosen
//! baseline (by default each family's emergency baseline, approving every
//! available update now). The snapshot/backup step runs first, as a task
//! of lower priority: on a node where it does not succeed, nothing is
//! installed. Waiving it takes a written reason, kept in the audit log.
//!
//! The execution starts at once (or is refused when the concurrent-
//! executions quota is full) and is stepped immediately, so its first
//! invocations are queued for the nodes' next check-in.

use jiff::{SignedDuration, Timestamp};
use patchline_api::executions::ExecutionKind;
use patchline_api::windows::{DEFAULT_TASK_TIMEOUT_SECONDS, Reboot};
use patchline_core::orchestration::Limit;
use serde_json::json;

use super::plan::{BaselineChoice, ExecutionPlan, InvocationWork, PlannedAction, PlannedTask};
use super::scheduler::Opening;
use super::targets::Target;
use super::{Orchestrator, OrchestratorError};
use crate::store::executions::{Admission, AuditNote};
use crate::store::records::NodeRecord;

/// How long a Patch Now execution may start tasks, and run.
pub const PATCH_NOW_LAST_START: SignedDuration = SignedDuration::from_hours(23);
pub const PATCH_NOW_DURATION: SignedDuration = SignedDuration::from_hours(24);

/// A validated Patch Now request.
#[derive(Debug, Clone)]
pub struct PatchNowOrder {
    pub nodes: Vec<NodeRecord>,
    /// `None`: the emergency baseline of each node's family.
    pub baseline: Option<String>,
    pub reboot: Reboot,
    pub snapshot_command: Option<String>,
    /// The reason the snapshot step is skipped (non-empty).
    pub waive_snapshot: Option<String>,
    pub max_concurrency: Limit,
    pub max_errors: Limit,
    /// Who asked (audit actor).
    pub actor: String,
}

/// The defaults of Patch Now's limits.
pub const DEFAULT_MAX_CONCURRENCY: Limit = Limit::Percent(10);
pub const DEFAULT_MAX_ERRORS: Limit = Limit::Count(0);

impl Orchestrator {
    /// Creates and starts a Patch Now execution; its id. Refused with a
    /// store `Conflict` when the concurrent-executions quota is full.
    pub async fn patch_now(&self, order: &PatchNowOrder) -> Result<String, OrchestratorError> {
        let now = self.inner.clock.now();
        let plan = patch_now_plan(order);
        let opening = Opening {
            start: now,
            last_task_start: now
                .checked_add(PATCH_NOW_LAST_START)
                .unwrap_or(Timestamp::MAX),
            end: now
                .checked_add(PATCH_NOW_DURATION)
                .unwrap_or(Timestamp::MAX),
        };
        let new = self.new_execution(
            ExecutionKind::PatchNow,
            None,
            opening,
            &order.actor,
            plan,
            now,
        );
        let node_ids: Vec<&str> = order.nodes.iter().map(|node| node.id.as_str()).collect();
        let audit = AuditNote {
            actor: order.actor.clone(),
            action: "patch-now".into(),
            target: format!("execution:{}", new.id),
            detail: json!({
                "nodes": node_ids,
                "baseline": order.baseline.as_deref().unwrap_or("emergency"),
                "reboot": order.reboot,
                "snapshot_waived": order.waive_snapshot,
                "max_concurrency": order.max_concurrency.to_string(),
                "max_errors": order.max_errors.to_string(),
            }),
        };
        let admission = Admission::Immediate {
            max_concurrent: self.inner.settings.quotas.max_concurrent_executions,
            audit,
        };
        self.inner.store.create_execution(&new, &admission).await?;
        tracing::info!(execution = %new.id, nodes = node_ids.len(), actor = %order.actor, "patch now");
        // Queue the first invocations now rather than at the next round.
        let lease_until = now.checked_add(self.lease()).unwrap_or(Timestamp::MAX);
        if self
            .inner
            .store
            .claim_lease(&new.id, &self.inner.instance, now, lease_until)
            .await?
        {
            self.step(&new.id, now).await?;
        }
        Ok(new.id)
    }
}

/// Snapshot (priority 0, unless waived), then install (priority 1).
fn patch_now_plan(order: &PatchNowOrder) -> ExecutionPlan {
    let task = |name: &str, priority: u32, action: PlannedAction| PlannedTask {
        name: name.to_owned(),
        priority,
        work: InvocationWork {
            action,
            timeout_seconds: DEFAULT_TASK_TIMEOUT_SECONDS,
        },
        max_concurrency: order.max_concurrency,
        max_errors: order.max_errors,
    };
    let mut tasks = Vec::new();
    if order.waive_snapshot.is_none() {
        tasks.push(task(
            "snapshot",
            0,
            PlannedAction::Snapshot {
                command: order.snapshot_command.clone(),
            },
        ));
    }
    let baseline = order
        .baseline
        .clone()
        .map_or(BaselineChoice::Emergency, BaselineChoice::Named);
    tasks.push(task(
        "install",
        1,
        PlannedAction::Install {
            baseline,
            reboot: order.reboot,
        },
    ));
    let targets: Vec<Target> = order.nodes.iter().map(Target::of).collect();
    ExecutionPlan::new(tasks, None, &targets)
}
