//! Stopping running work: the cutoff of a `cancel-task` window asks the
//! agents of an execution's in-progress invocations to stop them, and an
//! agent running a work item long-polls whether it was asked.
//!
//! The request is a mark in the store ([`crate::store::Store::request_cancel_in_progress`]),
//! made inside the scheduling step once its last task start passed (the
//! mark is set once, so a restart or a second server asks nothing twice).
//! The nodes asked are woken through the per-node notifiers of the
//! work-ready long-poll ([`super::work_ready`]), whose waiters cap and
//! shutdown this long-poll shares; a request made through another server
//! reaches a waiter here at the latest one recheck interval later.
//! Cutoff requests are no operator's action: logged, not audited (an
//! operator's cancellation of the execution is audited by the store).

use std::time::Duration;

use jiff::Timestamp;
use patchline_api::checkin::WorkCancel;
use patchline_api::windows::CutoffBehavior;
use patchline_core::orchestration::InvocationStatus;

use super::work_ready::Sweep;
use super::{Orchestrator, OrchestratorError};
use crate::store::executions::{CUTOFF_CANCEL_REASON, ExecutionStep, InvocationState};

/// Whether a step of this execution at `now` asks running work to stop:
/// a `cancel-task` plan past its last task start with work in progress.
pub(crate) fn stops_at_cutoff(
    step: &ExecutionStep,
    invocations: &[InvocationState],
    now: Timestamp,
) -> bool {
    let execution = &step.execution;
    execution.plan.cutoff_behavior == CutoffBehavior::CancelTask
        && now >= execution.last_task_start
        && invocations
            .iter()
            .any(|invocation| invocation.status == InvocationStatus::InProgress)
}

impl Orchestrator {
    /// Within a scheduling step: asks the agents of the execution's
    /// in-progress invocations without a request yet to stop them, when
    /// its cutoff passed with `cancel-task`. The nodes asked (to wake
    /// once the step committed).
    pub(super) async fn stop_at_cutoff(
        &self,
        step: &mut ExecutionStep,
        invocations: &[InvocationState],
        now: Timestamp,
    ) -> Result<Vec<String>, OrchestratorError> {
        if !stops_at_cutoff(step, invocations, now) {
            return Ok(Vec::new());
        }
        let nodes = step
            .request_cancel_in_progress(CUTOFF_CANCEL_REASON, now)
            .await?;
        if !nodes.is_empty() {
            tracing::info!(
                execution = %step.execution.id,
                invocations = nodes.len(),
                "cutoff passed with cutoff behaviour cancel-task: agents asked to stop running work"
            );
        }
        Ok(nodes)
    }

    /// What the agent of `node_id` is told about its work item `work_id`,
    /// waiting up to `wait` for a stop request. `None`: not a work item
    /// of that node. A wait cut short (the waiters at their cap, the
    /// server stopping) answers what the store says now.
    pub async fn wait_for_cancel(
        &self,
        node_id: &str,
        work_id: &str,
        wait: Duration,
    ) -> Result<Option<WorkCancel>, OrchestratorError> {
        let store = &self.inner.store;
        let Some(now) = store.work_cancel_state(node_id, work_id).await? else {
            return Ok(None);
        };
        if now.cancel || wait.is_zero() {
            return Ok(Some(now));
        }
        let requested = self
            .wait_on_node(node_id, wait, Sweep::CancelRequests, || async {
                // Gone meanwhile (purged): nothing to stop any more.
                Ok(store
                    .work_cancel_state(node_id, work_id)
                    .await?
                    .filter(|state| state.cancel))
            })
            .await?;
        Ok(Some(requested.unwrap_or(WorkCancel {
            cancel: false,
            reason: None,
        })))
    }
}
