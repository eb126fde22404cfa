//! The executions history (newest first), narrowed to a window and to an
//! app-team scope in the query itself, so `LIMIT` counts only executions
//! the caller may see.

use patchline_api::auth::TagScope;

use super::*;

impl Store {
    /// Executions newest first (by opening, then creation, then id), of one
    /// window when given, visible to `scope` when given, at most `limit`.
    ///
    /// An execution is visible to a scope when one of its targets is a
    /// node carrying the scope tag now (`node_tags`, any source): the rule
    /// of the HTTP layer's single-execution reads. Every target has one
    /// invocation per task, so the invocations answer for executions with
    /// tasks; an execution of a window without tasks has no invocations,
    /// and only then are the targets of its stored plan read.
    pub async fn list_executions(
        &self,
        window: Option<&str>,
        scope: Option<&TagScope>,
        limit: u32,
    ) -> Result<Vec<ExecutionRecord>> {
        let mut conditions = Vec::new();
        let mut next = 1;
        if window.is_some() {
            conditions.push(format!("e.window_name = ${next}"));
            next += 1;
        }
        if scope.is_some() {
            conditions.push(scope_condition(self.backend(), next, next + 1));
            next += 2;
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        // Only fixed SQL fragments and placeholder numbers are formatted in.
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e{where_clause} \
             ORDER BY e.scheduled_for DESC, e.created_at DESC, e.id LIMIT ${next}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(window) = window {
            query = query.bind(window);
        }
        if let Some(scope) = scope {
            query = query.bind(scope.key.clone()).bind(scope.value.clone());
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(execution_record).collect()
    }
}

/// Execution `e` has a target carrying the tag `$key = $value`.
fn scope_condition(backend: Backend, key: usize, value: usize) -> String {
    let tagged = format!("s.key = ${key} AND s.value = ${value}");
    // The plan's target ids, one row each: JSON is read differently by
    // the two backends.
    let plan_targets = match backend {
        Backend::Sqlite => {
            "json_each(e.plan, '$.targets') p \
             JOIN node_tags s ON s.node_id = json_extract(p.value, '$.node_id')"
        }
        Backend::Postgres => {
            "jsonb_array_elements(CAST(e.plan AS jsonb) -> 'targets') p (target) \
             JOIN node_tags s ON s.node_id = p.target ->> 'node_id'"
        }
    };
    // The task check comes first so the plan is parsed only for executions
    // without tasks (both backends evaluate an AND inside an OR in order).
    format!(
        "(EXISTS (SELECT 1 FROM invocations i JOIN node_tags s ON s.node_id = i.node_id \
          WHERE i.execution_id = e.id AND {tagged}) \
         OR (NOT EXISTS (SELECT 1 FROM task_executions t WHERE t.execution_id = e.id) \
          AND EXISTS (SELECT 1 FROM {plan_targets} WHERE {tagged})))"
    )
}
