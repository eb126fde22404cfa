//! Requests that agents stop in-progress invocations, and what an agent
//! asking about one of its work items is told.
//!
//! A request is a mark on the invocation (`cancel_requested_at`,
//! `cancel_reason`), set once by a conditional update: the cutoff of a
//! `cancel-task` window and an operator's cancellation may both ask, on
//! any server, any number of times; the first reason is kept. The
//! invocation stays in progress until its agent reports (`cancelled`, or
//! whatever it finished with first) or its deadline passes.

use patchline_api::checkin::WorkCancel;

use super::*;

/// How the detail of an in-progress invocation whose agent was asked to
/// stop it begins (the reason follows); kept when the work finished first.
pub const STOP_REQUESTED: &str = "stop requested: ";

/// The reason of a request made by the window's cutoff.
pub const CUTOFF_CANCEL_REASON: &str = "the window's cutoff passed (cutoff behaviour cancel-task)";

impl Store {
    /// Asks the agents of `execution_id`'s in-progress invocations that
    /// have no request yet to stop them; the nodes asked (one per
    /// invocation marked, in id order).
    pub async fn request_cancel_in_progress(
        &self,
        execution_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let mut transaction = self.begin_write().await?;
        let nodes = request_cancel_in(&mut transaction, execution_id, reason, now).await?;
        transaction.commit().await?;
        Ok(nodes)
    }

    /// What the agent of `node_id` is told about its work item `work_id`;
    /// `None` when it is not an invocation of that node (unknown, or
    /// another node's: the two are not told apart).
    pub async fn work_cancel_state(
        &self,
        node_id: &str,
        work_id: &str,
    ) -> Result<Option<WorkCancel>> {
        let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT cancel_requested_at, cancel_reason FROM invocations \
             WHERE id = $1 AND node_id = $2",
        )
        .bind(work_id)
        .bind(node_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(requested_at, reason)| WorkCancel {
            cancel: requested_at.is_some(),
            reason: requested_at.and(reason),
        }))
    }

    /// The nodes with an in-progress invocation of a running execution
    /// that its agent was asked to stop, fleet-wide: what the work-cancel
    /// waiters of one server look up once per recheck interval, for the
    /// requests another server made.
    pub async fn nodes_with_cancel_requests(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT i.node_id FROM executions e \
             JOIN invocations i ON i.execution_id = e.id \
             WHERE e.status = 'in-progress' AND i.status = 'in-progress' \
             AND i.cancel_requested_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

impl step::ExecutionStep {
    /// [`Store::request_cancel_in_progress`] inside the scheduling step
    /// (rolled back with it when the step loses a race).
    pub(crate) async fn request_cancel_in_progress(
        &mut self,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let execution_id = self.execution.id.clone();
        request_cancel_in(&mut self.transaction, &execution_id, reason, now).await
    }
}

/// Marks the in-progress invocations of `execution_id` without a request
/// yet, inside the caller's write transaction; the nodes asked.
pub(super) async fn request_cancel_in(
    connection: &mut AnyConnection,
    execution_id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<String>> {
    // A row that a result ends between the two statements is not marked
    // (the update re-checks its status): its node is only woken for
    // nothing, and told `cancel: false`.
    let nodes: Vec<String> = sqlx::query_scalar(
        "SELECT node_id FROM invocations WHERE execution_id = $1 \
         AND status = 'in-progress' AND cancel_requested_at IS NULL ORDER BY id",
    )
    .bind(execution_id)
    .fetch_all(&mut *connection)
    .await?;
    if nodes.is_empty() {
        return Ok(nodes);
    }
    // The detail shows the pending request in the execution's view (an
    // in-progress invocation has no other detail).
    sqlx::query(
        "UPDATE invocations SET cancel_requested_at = $1, cancel_reason = $2, detail = $3 \
         WHERE execution_id = $4 AND status = 'in-progress' AND cancel_requested_at IS NULL",
    )
    .bind(millis(now))
    .bind(reason)
    .bind(format!("{STOP_REQUESTED}{reason}"))
    .bind(execution_id)
    .execute(&mut *connection)
    .await?;
    Ok(nodes)
}
