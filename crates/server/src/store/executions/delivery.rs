//! The executions' side of a check-in: the results a node reports, the
//! queued work it is handed (one conditional update per invocation, so
//! at most once), and how busy it is.

use super::*;

impl Store {
    /// Records the results a node reports: only for its own in-progress
    /// invocations (anything else is ignored and logged, never stored).
    pub async fn record_work_results(
        &self,
        node_id: &str,
        results: &[WorkResult],
        now: Timestamp,
    ) -> Result<Vec<ResultOutcome>> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        let mut transaction = self.begin_write().await?;
        // Rows are updated in id order, as a scheduling step does, so two
        // transactions never wait on each other's rows in a cycle.
        let mut order: Vec<usize> = (0..results.len()).collect();
        order.sort_by(|a, b| results[*a].id.cmp(&results[*b].id));
        let mut outcomes = vec![ResultOutcome::Ignored; results.len()];
        for index in order {
            let result = &results[index];
            let status = match result.status {
                WorkStatus::Success => InvocationStatus::Success,
                WorkStatus::Failed => InvocationStatus::Failed,
                WorkStatus::TimedOut => InvocationStatus::TimedOut,
                // Not an error for max-errors; the detail says who asked.
                WorkStatus::Cancelled => InvocationStatus::Cancelled,
            };
            // A result other than `cancelled` after a stop request is kept
            // as reported: the work finished first.
            let updated = sqlx::query(
                "UPDATE invocations SET status = $1, output = $2, finished_at = $3, \
                 detail = CASE WHEN $1 = 'cancelled' THEN cancel_reason ELSE detail END \
                 WHERE id = $4 AND node_id = $5 AND status = 'in-progress'",
            )
            .bind(status.as_str())
            .bind(bounded_output(&result.output))
            .bind(millis(now))
            .bind(&result.id)
            .bind(node_id)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if updated > 0 {
                outcomes[index] = ResultOutcome::Recorded;
            }
        }
        transaction.commit().await?;
        Ok(outcomes)
    }

    /// A node's queued invocations, oldest first.
    pub async fn queued_invocations(&self, node_id: &str) -> Result<Vec<InvocationRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INVOCATION_COLUMNS} FROM invocations WHERE node_id = $1 AND status = 'queued' \
             ORDER BY queued_at, id"
        )))
        .bind(node_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invocation_record).collect()
    }

    /// The nodes with an invocation queued, fleet-wide (work-ready
    /// waiters look once for all, whichever server queued the work). Only
    /// running executions hold queued invocations, so the walk starts from
    /// them (both steps indexed) rather than from every invocation kept.
    pub async fn nodes_with_queued_work(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT i.node_id FROM executions e \
             JOIN invocations i ON i.execution_id = e.id \
             WHERE e.status IN ('pending', 'in-progress') AND i.status = 'queued'",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The one transition that hands an invocation to its agent: queued →
    /// in-progress. `false` when it is no longer queued (cancelled, timed
    /// out, or delivered by another server): then it must not be sent.
    pub async fn deliver_invocation(
        &self,
        id: &str,
        node_id: &str,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Result<bool> {
        let _writer = self.sqlite_write_lock().await;
        let updated = sqlx::query(
            "UPDATE invocations SET status = 'in-progress', started_at = $1, deadline = $2 \
             WHERE id = $3 AND node_id = $4 AND status = 'queued'",
        )
        .bind(millis(now))
        .bind(millis(deadline))
        .bind(id)
        .bind(node_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    /// Ends an invocation the server could not hand over (no baseline for
    /// its install, say), if it is still in `from`.
    pub async fn fail_invocation(
        &self,
        id: &str,
        from: InvocationStatus,
        detail: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let _writer = self.sqlite_write_lock().await;
        let updated = sqlx::query(
            "UPDATE invocations SET status = 'failed', detail = $1, finished_at = $2 \
             WHERE id = $3 AND status = $4",
        )
        .bind(detail)
        .bind(millis(now))
        .bind(id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    /// The statuses among a node's invocations not finished (pending,
    /// queued, in progress): how soon it should check in again.
    pub async fn node_open_statuses(&self, node_id: &str) -> Result<Vec<InvocationStatus>> {
        let statuses: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT status FROM invocations WHERE node_id = $1 \
             AND status IN ('pending', 'queued', 'in-progress')",
        )
        .bind(node_id)
        .fetch_all(&self.pool)
        .await?;
        statuses
            .iter()
            .map(|status| parse_text(status, "invocation status"))
            .collect()
    }
}
