//! One scheduling step of an execution: a write transaction holding the
//! execution's row, read and changed by the runner, committed whole.

use super::*;

/// One scheduling step of an execution: a write transaction holding the
/// execution's row. Dropping it without [`ExecutionStep::commit`] rolls
/// back.
pub(crate) struct ExecutionStep {
    pub(super) transaction: WriteTransaction,
    pub execution: ExecutionRecord,
}

impl Store {
    /// Opens a scheduling step of an in-progress execution, holding its
    /// row; `None` when it is not in progress (finished, or unknown).
    pub(crate) async fn begin_step(&self, execution_id: &str) -> Result<Option<ExecutionStep>> {
        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1 AND status = 'in-progress'{}",
            self.for_update()
        )))
        .bind(execution_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let execution = execution_record(&row)?;
        Ok(Some(ExecutionStep {
            transaction,
            execution,
        }))
    }
}

impl ExecutionStep {
    pub(crate) async fn tasks(&mut self) -> Result<Vec<TaskExecutionRecord>> {
        let rows = sqlx::query(
            "SELECT execution_id, task_index, name, priority, status, max_concurrency, \
             max_errors, started_at, finished_at, detail FROM task_executions \
             WHERE execution_id = $1 ORDER BY task_index",
        )
        .bind(&self.execution.id)
        .fetch_all(&mut *self.transaction)
        .await?;
        rows.iter().map(task_record).collect()
    }

    pub(crate) async fn invocations(&mut self) -> Result<Vec<InvocationState>> {
        let rows = sqlx::query(
            "SELECT id, task_index, node_id, batch, status, deadline FROM invocations \
             WHERE execution_id = $1 ORDER BY task_index, batch, node_id",
        )
        .bind(&self.execution.id)
        .fetch_all(&mut *self.transaction)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(InvocationState {
                    id: row.try_get("id")?,
                    task_index: index_of(row.try_get("task_index")?),
                    node_id: row.try_get("node_id")?,
                    batch: index_of(row.try_get("batch")?),
                    status: parse_text(&row.try_get::<String, _>("status")?, "invocation status")?,
                    deadline: optional_timestamp(row.try_get("deadline")?, "invocation deadline")?,
                })
            })
            .collect()
    }

    /// Applies the step's changes; `false` when an invocation had already
    /// moved on (a check-in or another server got there first): the step
    /// must then be dropped (rolled back) and decided again.
    pub(crate) async fn apply(&mut self, changes: &StepChanges, now: Timestamp) -> Result<bool> {
        // In id order, like the results of a check-in (no lock cycles).
        let mut invocations: Vec<&InvocationChange> = changes.invocations.iter().collect();
        invocations.sort_by(|a, b| a.id.cmp(&b.id));
        for change in invocations {
            let updated = if change.to == InvocationStatus::Queued {
                sqlx::query(
                    "UPDATE invocations SET status = 'queued', queued_at = $1, deadline = $2 \
                     WHERE id = $3 AND status = $4",
                )
                .bind(millis(now))
                .bind(change.deadline.map(millis))
                .bind(&change.id)
                .bind(change.from.as_str())
                .execute(&mut *self.transaction)
                .await?
            } else {
                sqlx::query(
                    "UPDATE invocations SET status = $1, detail = $2, finished_at = $3 \
                     WHERE id = $4 AND status = $5",
                )
                .bind(change.to.as_str())
                .bind(change.detail.as_deref())
                .bind(millis(now))
                .bind(&change.id)
                .bind(change.from.as_str())
                .execute(&mut *self.transaction)
                .await?
            };
            if updated.rows_affected() == 0 {
                return Ok(false);
            }
        }
        for task in &changes.tasks {
            sqlx::query(
                "UPDATE task_executions SET status = $1, \
                 started_at = COALESCE(started_at, $2), finished_at = $3, \
                 detail = COALESCE($4, detail) WHERE execution_id = $5 AND task_index = $6",
            )
            .bind(task.status.as_str())
            .bind(task.started_at.map(millis))
            .bind(task.finished_at.map(millis))
            .bind(task.detail.as_deref())
            .bind(&self.execution.id)
            .bind(task.index as i64)
            .execute(&mut *self.transaction)
            .await?;
        }
        if let Some(execution) = &changes.execution {
            // A finished execution needs no runner any more.
            let release = if execution.finished_at.is_some() {
                ", lease_owner = NULL, lease_until = NULL"
            } else {
                ""
            };
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE executions SET status = $1, finished_at = $2, \
                 detail = COALESCE($3, detail){release} WHERE id = $4"
            )))
            .bind(execution.status.as_str())
            .bind(execution.finished_at.map(millis))
            .bind(execution.detail.as_deref())
            .bind(&self.execution.id)
            .execute(&mut *self.transaction)
            .await?;
        }
        Ok(true)
    }

    pub(crate) async fn commit(self) -> Result<()> {
        self.transaction.commit().await
    }
}
