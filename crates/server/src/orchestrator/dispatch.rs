//! The orchestrator's part of a check-in: record the results the node
//! reports, then hand it its queued invocations as `Work`.
//!
//! A result is stored only for an in-progress invocation of the reporting
//! node; another node's id, an unknown id or a late result (the invocation
//! already timed out) is logged and ignored. Each queued invocation is
//! delivered by one conditional queued → in-progress update: if it fails
//! (the invocation was cancelled, timed out, or another server delivered
//! it), the work is not sent, so no invocation reaches an agent twice.
//! An answer lost on its way (the update committed, the agent never got
//! the work) is not resent either: the invocation times out. Delivery is
//! at most once; the agent's journal keeps it so on its side too.
//! An install's baseline is resolved at delivery: the named one, the
//! emergency one (Patch Now), or the node's own as compliance resolves it.

use std::time::Duration;

use jiff::Timestamp;
use patchline_api::checkin::{Work, WorkResult};
use patchline_core::baseline::Baseline;
use patchline_core::orchestration::InvocationStatus;

use super::plan::{BaselineChoice, PlannedAction};
use super::runner::deadline;
use super::{BUSY_CHECKIN_INTERVAL, Orchestrator, OrchestratorError, WAITING_CHECKIN_INTERVAL};
use crate::store::executions::{InvocationRecord, ResultOutcome};
use crate::store::records::NodeRecord;

/// The tag naming a node's patch group (compliance resolution).
pub const PATCH_GROUP_TAG: &str = "Patch Group";

/// What a check-in hands back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckinWork {
    pub work: Vec<Work>,
    /// How soon the node should check in again, when sooner than usual:
    /// [`BUSY_CHECKIN_INTERVAL`] with work queued or running (to collect
    /// it, or report it), [`WAITING_CHECKIN_INTERVAL`] with work only
    /// pending (its turn comes when rate control releases it).
    pub next_checkin: Option<Duration>,
}

impl Orchestrator {
    /// Records `results` of `node_id` and delivers its queued work.
    pub async fn checkin(
        &self,
        node_id: &str,
        results: &[WorkResult],
    ) -> Result<CheckinWork, OrchestratorError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let outcomes = store.record_work_results(node_id, results, now).await?;
        let mut recorded = 0;
        for (result, outcome) in results.iter().zip(&outcomes) {
            match outcome {
                ResultOutcome::Recorded => recorded += 1,
                ResultOutcome::Ignored => tracing::warn!(
                    node = %node_id,
                    work = %result.id,
                    "result ignored: not an in-progress invocation of this node"
                ),
            }
        }
        if recorded > 0 {
            self.wake();
        }

        let mut work = Vec::new();
        let queued = store.queued_invocations(node_id).await?;
        let mut node: Option<NodeRecord> = None;
        for invocation in queued {
            match self.work_for(&invocation, &mut node, now).await? {
                Ok(item) => {
                    let deadline =
                        deadline(now, invocation.work.timeout_seconds, self.result_grace());
                    if store
                        .deliver_invocation(&invocation.id, node_id, now, deadline)
                        .await?
                    {
                        work.push(item);
                    }
                }
                Err(reason) => {
                    tracing::warn!(node = %node_id, work = %invocation.id, %reason, "work not deliverable");
                    store
                        .fail_invocation(&invocation.id, InvocationStatus::Queued, &reason, now)
                        .await?;
                    self.wake();
                }
            }
        }
        // Work handed over is in flight: no need to ask the store.
        let next_checkin = if work.is_empty() {
            let open = store.node_open_statuses(node_id).await?;
            if open
                .iter()
                .any(|status| *status != InvocationStatus::Pending)
            {
                Some(BUSY_CHECKIN_INTERVAL)
            } else if open.is_empty() {
                None
            } else {
                Some(WAITING_CHECKIN_INTERVAL)
            }
        } else {
            Some(BUSY_CHECKIN_INTERVAL)
        };
        Ok(CheckinWork { work, next_checkin })
    }

    /// The `Work` of an invocation, or why it cannot be built (no
    /// baseline for the node's family, the node is gone).
    async fn work_for(
        &self,
        invocation: &InvocationRecord,
        node: &mut Option<NodeRecord>,
        now: Timestamp,
    ) -> Result<Result<Work, String>, OrchestratorError> {
        let id = invocation.id.clone();
        let timeout_seconds = invocation.work.timeout_seconds;
        let (choice, reboot) = match &invocation.work.action {
            PlannedAction::Scan => return Ok(Ok(Work::Scan { id, refresh: true })),
            PlannedAction::Command { command } => {
                return Ok(Ok(Work::Command {
                    id,
                    command: command.clone(),
                    timeout_seconds,
                }));
            }
            PlannedAction::Snapshot { command } => {
                return Ok(Ok(Work::Snapshot {
                    id,
                    command: command.clone(),
                    timeout_seconds,
                }));
            }
            PlannedAction::Install { baseline, reboot } => (baseline, *reboot),
        };
        if node.is_none() {
            *node = self.inner.store.node(&invocation.node_id).await?;
        }
        let Some(node) = node.as_ref() else {
            return Ok(Err("the node is no longer enrolled".into()));
        };
        let family = node.facts.os.family;
        let baseline: Baseline = match choice {
            BaselineChoice::Emergency => Baseline::emergency(family),
            BaselineChoice::Named(name) => match self.inner.store.baseline(name).await? {
                Some(record) if record.os_family == family => record.baseline,
                Some(record) => {
                    return Ok(Err(format!(
                        "baseline {name:?} is for {} nodes, this node is {family}",
                        record.os_family
                    )));
                }
                None => return Ok(Err(format!("baseline {name:?} no longer exists"))),
            },
            BaselineChoice::Node => {
                let patch_group = node.tags.get(PATCH_GROUP_TAG).map(String::as_str);
                match self.inner.engine.baseline_for(patch_group, family).await? {
                    Some(record) => record.baseline,
                    None => return Ok(Err(format!("no baseline applies to {family} nodes"))),
                }
            }
        };
        Ok(Ok(Work::Install {
            id,
            baseline,
            evaluate_at: now,
            reboot,
            timeout_seconds,
        }))
    }
}
