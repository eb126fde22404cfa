//! Executions of windows and of Patch Now, their task executions and
//! per-node invocations: the whole state of the orchestrator.
//!
//! Every transition is a conditional UPDATE (`... AND status = 'queued'`),
//! so two servers, or a server and a check-in, never make the same one
//! twice. A scheduling step of one execution runs in a transaction holding
//! the execution's row (`Store::begin_step`); when one of its conditional
//! updates finds the row already moved on, the whole step is rolled back
//! and decided again at the next tick.

use std::collections::HashMap;

use jiff::Timestamp;
use patchline_api::checkin::{WorkResult, WorkStatus};
use patchline_api::executions::ExecutionKind;
use patchline_core::orchestration::{ExecutionStatus, InvocationCounts, InvocationStatus};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{
    Backend, Result, Store, StoreError, WriteTransaction, audit_in, from_json, millis,
    optional_timestamp, parse_text, timestamp, to_json,
};
use crate::orchestrator::plan::{ExecutionPlan, InvocationWork};

mod cancel;
mod delivery;
mod listing;
mod step;

pub use cancel::{CUTOFF_CANCEL_REASON, STOP_REQUESTED};
pub(crate) use step::ExecutionStep;

/// The agent keeps the last 64 KiB of a work item's output; the server
/// keeps no more, whatever an agent sends.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Parameters per multi-row statement (SQLite binds numbered parameters
/// by a linear scan; see the compliance store).
const MAX_PARAMETERS: usize = 480;

const EXECUTION_COLUMNS: &str = "id, kind, window_name, window_version, scheduled_for, \
     last_task_start, window_end, status, detail, requested_by, cancelled_by, plan, \
     lease_owner, lease_until, created_at, started_at, finished_at";

const INVOCATION_COLUMNS: &str = "id, execution_id, task_index, node_id, hostname, zone, batch, \
     status, work, output, detail, queued_at, started_at, finished_at, deadline, \
     cancel_requested_at";

/// An execution to create, with one task execution per planned task and
/// one invocation per task and target.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub id: String,
    pub kind: ExecutionKind,
    pub window: Option<String>,
    pub window_version: Option<i64>,
    pub scheduled_for: Timestamp,
    pub last_task_start: Timestamp,
    pub window_end: Timestamp,
    pub requested_by: String,
    pub plan: ExecutionPlan,
    /// Per planned task, in order: the resolved limits and a note.
    pub limits: Vec<ResolvedLimits>,
    pub created_at: Timestamp,
}

/// A task's max-concurrency and max-errors resolved against its targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLimits {
    pub max_concurrency: u64,
    pub max_errors: u64,
    /// Why a limit differs from what was asked (a quota cap), if it does.
    pub note: Option<String>,
}

/// How a new execution is admitted.
#[derive(Debug, Clone)]
pub enum Admission {
    /// A window opening: stored `pending` (it starts when the quota of
    /// concurrent executions allows); a second creation of the same
    /// opening stores nothing.
    Scheduled,
    /// Patch Now: starts at once, or is refused with a `Conflict` when
    /// `max_concurrent` executions already run. Audited with `audit`.
    Immediate {
        max_concurrent: usize,
        audit: AuditNote,
    },
}

/// The audit row written with a change.
#[derive(Debug, Clone)]
pub struct AuditNote {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    pub id: String,
    pub kind: ExecutionKind,
    pub window: Option<String>,
    pub window_version: Option<i64>,
    pub scheduled_for: Timestamp,
    pub last_task_start: Timestamp,
    pub window_end: Timestamp,
    pub status: ExecutionStatus,
    pub detail: Option<String>,
    pub requested_by: String,
    pub cancelled_by: Option<String>,
    pub plan: ExecutionPlan,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskExecutionRecord {
    pub execution_id: String,
    pub index: usize,
    pub name: String,
    pub priority: u32,
    pub status: ExecutionStatus,
    pub max_concurrency: u64,
    pub max_errors: u64,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationRecord {
    pub id: String,
    pub execution_id: String,
    pub task_index: usize,
    pub node_id: String,
    pub hostname: String,
    pub zone: Option<String>,
    pub batch: usize,
    pub status: InvocationStatus,
    pub work: InvocationWork,
    pub output: String,
    pub detail: Option<String>,
    pub queued_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub deadline: Option<Timestamp>,
    /// When the server asked the agent to stop it (see `cancel.rs`).
    pub stop_requested_at: Option<Timestamp>,
}

/// What a scheduling step reads of an invocation (no work, no output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationState {
    pub id: String,
    pub task_index: usize,
    pub node_id: String,
    pub batch: usize,
    pub status: InvocationStatus,
    pub deadline: Option<Timestamp>,
}

/// One invocation's transition, applied only if it is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationChange {
    pub id: String,
    pub from: InvocationStatus,
    pub to: InvocationStatus,
    /// Why (stored for a terminal status).
    pub detail: Option<String>,
    /// When a queued invocation is given up if no agent collected it.
    pub deadline: Option<Timestamp>,
}

/// A task execution's new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChange {
    pub index: usize,
    pub status: ExecutionStatus,
    /// Set once (a later value never replaces the first).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub detail: Option<String>,
}

/// An execution's new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionChange {
    pub status: ExecutionStatus,
    pub finished_at: Option<Timestamp>,
    pub detail: Option<String>,
}

/// Everything one scheduling step changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepChanges {
    pub invocations: Vec<InvocationChange>,
    pub tasks: Vec<TaskChange>,
    pub execution: Option<ExecutionChange>,
}

impl StepChanges {
    pub fn is_empty(&self) -> bool {
        self.invocations.is_empty() && self.tasks.is_empty() && self.execution.is_none()
    }
}

/// What happened to one reported result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOutcome {
    Recorded,
    /// Not an in-progress invocation of this node (unknown, another
    /// node's, or already finished or timed out): nothing stored.
    Ignored,
}

pub(crate) fn kind_text(kind: ExecutionKind) -> &'static str {
    match kind {
        ExecutionKind::Scheduled => "scheduled",
        ExecutionKind::PatchNow => "patch-now",
    }
}

fn parse_kind(text: &str) -> Result<ExecutionKind> {
    match text {
        "scheduled" => Ok(ExecutionKind::Scheduled),
        "patch-now" => Ok(ExecutionKind::PatchNow),
        other => Err(StoreError::Corrupt {
            what: "execution kind".into(),
            reason: format!("unknown kind {other:?}"),
        }),
    }
}

/// `($first, $first+1, ...)` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// The last `MAX_OUTPUT_BYTES` of `output`, cut at a character boundary.
pub fn bounded_output(output: &str) -> &str {
    if output.len() <= MAX_OUTPUT_BYTES {
        return output;
    }
    let mut start = output.len() - MAX_OUTPUT_BYTES;
    while !output.is_char_boundary(start) {
        start += 1;
    }
    &output[start..]
}

impl Store {
    /// Creates an execution, its task executions and its invocations in one
    /// transaction. `Ok(false)`: a scheduled opening that exists already
    /// (another server, or an earlier tick, created it).
    pub async fn create_execution(
        &self,
        new: &NewExecution,
        admission: &Admission,
    ) -> Result<bool> {
        let mut transaction = self.begin_write().await?;
        let status = match admission {
            Admission::Scheduled => ExecutionStatus::Pending,
            Admission::Immediate { max_concurrent, .. } => {
                let running = lock_running(&mut transaction, self.backend()).await?;
                if running >= *max_concurrent {
                    return Err(StoreError::Conflict {
                        what: format!(
                            "{running} executions are running, the quota \
                             max_concurrent_executions is {max_concurrent}; retry when one ends"
                        ),
                    });
                }
                ExecutionStatus::InProgress
            }
        };
        let started_at = (status == ExecutionStatus::InProgress).then_some(new.created_at);
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, NULL, $10, NULL, NULL, $11, $12, NULL) \
             ON CONFLICT (window_name, scheduled_for) DO NOTHING"
        )))
        .bind(&new.id)
        .bind(kind_text(new.kind))
        .bind(new.window.as_deref())
        .bind(new.window_version)
        .bind(millis(new.scheduled_for))
        .bind(millis(new.last_task_start))
        .bind(millis(new.window_end))
        .bind(status.as_str())
        .bind(&new.requested_by)
        .bind(to_json(&new.plan, "execution plan")?)
        .bind(millis(new.created_at))
        .bind(started_at.map(millis))
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        for (index, task) in new.plan.tasks.iter().enumerate() {
            let limits = new.limits.get(index).cloned().unwrap_or(ResolvedLimits {
                max_concurrency: 1,
                max_errors: 0,
                note: None,
            });
            let task_status = if new.plan.targets.is_empty() {
                ExecutionStatus::Success
            } else {
                ExecutionStatus::Pending
            };
            sqlx::query(
                "INSERT INTO task_executions (execution_id, task_index, name, priority, status, \
                 max_concurrency, max_errors, started_at, finished_at, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8)",
            )
            .bind(&new.id)
            .bind(index as i64)
            .bind(&task.name)
            .bind(i64::from(task.priority))
            .bind(task_status.as_str())
            .bind(i64::try_from(limits.max_concurrency).unwrap_or(i64::MAX))
            .bind(i64::try_from(limits.max_errors).unwrap_or(i64::MAX))
            .bind(limits.note)
            .execute(&mut *transaction)
            .await?;
        }
        insert_invocations(&mut transaction, new).await?;
        if let Admission::Immediate { audit, .. } = admission {
            audit_in(
                &mut transaction,
                new.created_at,
                &audit.actor,
                &audit.action,
                &audit.target,
                &audit.detail,
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    /// Whether the opening of `window` at `scheduled_for` has an execution.
    pub async fn execution_exists(&self, window: &str, scheduled_for: Timestamp) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM executions WHERE window_name = $1 AND scheduled_for = $2",
        )
        .bind(window)
        .bind(millis(scheduled_for))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    pub async fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(execution_record).transpose()
    }

    /// The ids and statuses of the executions not ended (pending or in
    /// progress), oldest opening first: what a scheduling round walks,
    /// without reading their plans.
    pub async fn active_executions(&self) -> Result<Vec<(String, ExecutionStatus)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, status FROM executions WHERE status IN ('pending', 'in-progress') \
             ORDER BY scheduled_for, created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, status)| Ok((id, parse_text(&status, "execution status")?)))
            .collect()
    }

    /// The task executions of these executions, by execution and index.
    pub async fn task_executions(
        &self,
        execution_ids: &[String],
    ) -> Result<Vec<TaskExecutionRecord>> {
        let mut tasks = Vec::new();
        for chunk in execution_ids.chunks(MAX_PARAMETERS) {
            let sql = format!(
                "SELECT execution_id, task_index, name, priority, status, max_concurrency, \
                 max_errors, started_at, finished_at, detail FROM task_executions \
                 WHERE execution_id IN {} ORDER BY execution_id, task_index",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                tasks.push(task_record(&row)?);
            }
        }
        Ok(tasks)
    }

    /// Invocation counts per (execution, task index).
    pub async fn invocation_counts(
        &self,
        execution_ids: &[String],
    ) -> Result<HashMap<(String, usize), InvocationCounts>> {
        let mut counts: HashMap<(String, usize), InvocationCounts> = HashMap::new();
        for chunk in execution_ids.chunks(MAX_PARAMETERS) {
            let sql = format!(
                "SELECT execution_id, task_index, status, COUNT(*) AS n FROM invocations \
                 WHERE execution_id IN {} GROUP BY execution_id, task_index, status",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                let status: InvocationStatus =
                    parse_text(&row.try_get::<String, _>("status")?, "invocation status")?;
                let n: i64 = row.try_get("n")?;
                counts
                    .entry((
                        row.try_get("execution_id")?,
                        index_of(row.try_get("task_index")?),
                    ))
                    .or_default()
                    .add(status, usize::try_from(n).unwrap_or(0));
            }
        }
        Ok(counts)
    }

    /// Every invocation of an execution, by task, batch and node.
    pub async fn invocations_of(&self, execution_id: &str) -> Result<Vec<InvocationRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INVOCATION_COLUMNS} FROM invocations WHERE execution_id = $1 \
             ORDER BY task_index, batch, node_id"
        )))
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invocation_record).collect()
    }

    pub async fn invocation(&self, id: &str) -> Result<Option<InvocationRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INVOCATION_COLUMNS} FROM invocations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(invocation_record).transpose()
    }

    /// Takes (or renews) the right to run an execution until `until`:
    /// granted when nobody holds it, `owner` holds it, or the holder's
    /// lease ran out (a server that died). At most one server holds it.
    pub async fn claim_lease(
        &self,
        execution_id: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let _writer = self.sqlite_write_lock().await;
        let claimed = sqlx::query(
            "UPDATE executions SET lease_owner = $1, lease_until = $2 \
             WHERE id = $3 AND status = 'in-progress' \
             AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until <= $4)",
        )
        .bind(owner)
        .bind(millis(until))
        .bind(execution_id)
        .bind(millis(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed > 0)
    }

    /// Gives up every lease `owner` holds (a server stopping cleanly).
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        let _writer = self.sqlite_write_lock().await;
        let released = sqlx::query(
            "UPDATE executions SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }

    /// Starts pending executions, oldest opening first, while fewer than
    /// `max_concurrent` run; a pending one whose last task start has
    /// passed is skipped, all its invocations too. Returns the ids started.
    /// Admissions are serialised meanwhile (an advisory lock), so two
    /// servers, or a Patch Now, never start more than the quota together.
    pub async fn start_pending_executions(
        &self,
        max_concurrent: usize,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let mut transaction = self.begin_write().await?;
        let running = lock_running(&mut transaction, self.backend()).await?;
        let pending: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, last_task_start FROM executions WHERE status = 'pending' \
             ORDER BY scheduled_for, created_at, id",
        )
        .fetch_all(&mut *transaction)
        .await?;
        let mut started = Vec::new();
        let mut running = running;
        for (id, last_task_start) in pending {
            if last_task_start <= millis(now) {
                let detail = format!(
                    "skipped: {running} executions were running (quota \
                     max_concurrent_executions = {max_concurrent}) until its last task start"
                );
                skip_execution(&mut transaction, &id, &detail, now).await?;
                continue;
            }
            if running >= max_concurrent {
                continue;
            }
            let updated = sqlx::query(
                "UPDATE executions SET status = 'in-progress', started_at = $1 \
                 WHERE id = $2 AND status = 'pending'",
            )
            .bind(millis(now))
            .bind(&id)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
            if updated > 0 {
                running += 1;
                started.push(id);
            }
        }
        transaction.commit().await?;
        Ok(started)
    }

    /// Cancels an execution: its pending and queued invocations become
    /// cancelled at once; the agents of those in progress are asked to
    /// stop them ([`Store::request_cancel_in_progress`]; what they report
    /// is kept), then it ends as cancelled. Audited as `execution.cancel`.
    /// Returns the nodes asked to stop running work.
    pub async fn cancel_execution(
        &self,
        actor: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        let mut transaction = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT status FROM executions WHERE id = $1{}",
            self.for_update()
        )))
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(status) = status else {
            return Err(StoreError::NotFound {
                what: format!("execution {id:?}"),
            });
        };
        let status: ExecutionStatus = parse_text(&status, "execution status")?;
        if status.is_terminal() {
            return Err(StoreError::Conflict {
                what: format!("execution {id} has already ended ({status})"),
            });
        }
        let detail = format!("cancelled by {actor}");
        let cancelled = sqlx::query(
            "UPDATE invocations SET status = 'cancelled', detail = $1, finished_at = $2 \
             WHERE execution_id = $3 AND status IN ('pending', 'queued')",
        )
        .bind(&detail)
        .bind(millis(now))
        .bind(id)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        let asked_to_stop = cancel::request_cancel_in(&mut transaction, id, &detail, now).await?;
        sqlx::query("UPDATE executions SET cancelled_by = $1, detail = $2 WHERE id = $3")
            .bind(actor)
            .bind(&detail)
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        if status == ExecutionStatus::Pending {
            // Never started: nothing can be in flight.
            sqlx::query(
                "UPDATE executions SET status = 'cancelled', finished_at = $1 WHERE id = $2",
            )
            .bind(millis(now))
            .bind(id)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(
                "UPDATE task_executions SET status = 'cancelled', finished_at = $1 \
                 WHERE execution_id = $2",
            )
            .bind(millis(now))
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        }
        audit_in(
            &mut transaction,
            now,
            actor,
            "execution.cancel",
            &format!("execution:{id}"),
            &serde_json::json!({
                "was": status.as_str(),
                "cancelled_invocations": cancelled,
                "stop_requested": asked_to_stop.len(),
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(asked_to_stop)
    }

    /// Deletes executions finished before `before` (history retention).
    pub async fn purge_executions(&self, before: Timestamp) -> Result<u64> {
        let mut transaction = self.begin_write().await?;
        // Children first: SQLite enforces the cascade only with foreign
        // keys on, which every pooled connection sets, but be explicit.
        let old = "SELECT id FROM executions WHERE finished_at IS NOT NULL AND finished_at < $1";
        for table in ["invocations", "task_executions"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE execution_id IN ({old})"
            )))
            .bind(millis(before))
            .execute(&mut *transaction)
            .await?;
        }
        let deleted = sqlx::query(
            "DELETE FROM executions WHERE finished_at IS NOT NULL AND finished_at < $1",
        )
        .bind(millis(before))
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(deleted)
    }
}

/// The PostgreSQL advisory lock serialising the admissions of executions
/// (any number as long as nothing else uses it: "patchlin" in ASCII).
const ADMISSION_LOCK: i64 = 0x7061_7463_686c_696e;

/// Takes the admission lock until the transaction ends and counts the
/// running executions. Locking the running rows would not do: two
/// admissions at once see the same rows and both start one more (a new
/// row is invisible to the other). SQLite's write transaction already
/// holds the whole database.
async fn lock_running(connection: &mut AnyConnection, backend: Backend) -> Result<usize> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ADMISSION_LOCK)
            .execute(&mut *connection)
            .await?;
    }
    let running: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = 'in-progress'")
            .fetch_one(&mut *connection)
            .await?;
    Ok(usize::try_from(running).unwrap_or(usize::MAX))
}

/// Ends a never-started execution as skipped, with every task and
/// invocation.
async fn skip_execution(
    connection: &mut AnyConnection,
    id: &str,
    detail: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE invocations SET status = 'skipped', detail = $1, finished_at = $2 \
         WHERE execution_id = $3 AND status = 'pending'",
    )
    .bind(detail)
    .bind(millis(now))
    .bind(id)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "UPDATE task_executions SET status = 'skipped', finished_at = $1 WHERE execution_id = $2",
    )
    .bind(millis(now))
    .bind(id)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "UPDATE executions SET status = 'skipped', detail = $1, finished_at = $2 \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(detail)
    .bind(millis(now))
    .bind(id)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// One invocation per task and target, in multi-row statements.
async fn insert_invocations(connection: &mut AnyConnection, new: &NewExecution) -> Result<()> {
    const COLUMNS: usize = 9;
    struct Row<'a> {
        id: String,
        task_index: i64,
        node_id: &'a str,
        hostname: &'a str,
        zone: Option<&'a str>,
        batch: i64,
        work: String,
    }
    let mut rows = Vec::new();
    for (task_index, task) in new.plan.tasks.iter().enumerate() {
        let work = to_json(&task.work, "invocation work")?;
        for target in &new.plan.targets {
            rows.push(Row {
                id: uuid::Uuid::new_v4().to_string(),
                task_index: task_index as i64,
                node_id: &target.node_id,
                hostname: &target.hostname,
                zone: target.zone.as_deref(),
                batch: target.batch as i64,
                work: work.clone(),
            });
        }
    }
    for chunk in rows.chunks(MAX_PARAMETERS / COLUMNS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|row| placeholders(row * COLUMNS + 1, COLUMNS))
            .collect();
        let sql = format!(
            "INSERT INTO invocations (id, execution_id, task_index, node_id, hostname, zone, \
             batch, status, work) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(row.id.clone())
                .bind(new.id.clone())
                .bind(row.task_index)
                .bind(row.node_id.to_owned())
                .bind(row.hostname.to_owned())
                .bind(row.zone.map(str::to_owned))
                .bind(row.batch)
                .bind(InvocationStatus::Pending.as_str())
                .bind(row.work.clone());
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// A stored index (never negative: written from `usize`).
fn index_of(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

fn execution_record(row: &AnyRow) -> Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        id: row.try_get("id")?,
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        window: row.try_get("window_name")?,
        window_version: row.try_get("window_version")?,
        scheduled_for: timestamp(row.try_get("scheduled_for")?, "execution opening")?,
        last_task_start: timestamp(row.try_get("last_task_start")?, "execution last task start")?,
        window_end: timestamp(row.try_get("window_end")?, "execution window end")?,
        status: parse_text(&row.try_get::<String, _>("status")?, "execution status")?,
        detail: row.try_get("detail")?,
        requested_by: row.try_get("requested_by")?,
        cancelled_by: row.try_get("cancelled_by")?,
        plan: from_json(&row.try_get::<String, _>("plan")?, "execution plan")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: optional_timestamp(row.try_get("lease_until")?, "execution lease")?,
        created_at: timestamp(row.try_get("created_at")?, "execution creation")?,
        started_at: optional_timestamp(row.try_get("started_at")?, "execution start")?,
        finished_at: optional_timestamp(row.try_get("finished_at")?, "execution end")?,
    })
}

fn task_record(row: &AnyRow) -> Result<TaskExecutionRecord> {
    Ok(TaskExecutionRecord {
        execution_id: row.try_get("execution_id")?,
        index: index_of(row.try_get("task_index")?),
        name: row.try_get("name")?,
        priority: u32::try_from(row.try_get::<i64, _>("priority")?).unwrap_or(u32::MAX),
        status: parse_text(
            &row.try_get::<String, _>("status")?,
            "task execution status",
        )?,
        max_concurrency: u64::try_from(row.try_get::<i64, _>("max_concurrency")?).unwrap_or(0),
        max_errors: u64::try_from(row.try_get::<i64, _>("max_errors")?).unwrap_or(0),
        started_at: optional_timestamp(row.try_get("started_at")?, "task start")?,
        finished_at: optional_timestamp(row.try_get("finished_at")?, "task end")?,
        detail: row.try_get("detail")?,
    })
}

fn invocation_record(row: &AnyRow) -> Result<InvocationRecord> {
    Ok(InvocationRecord {
        id: row.try_get("id")?,
        execution_id: row.try_get("execution_id")?,
        task_index: index_of(row.try_get("task_index")?),
        node_id: row.try_get("node_id")?,
        hostname: row.try_get("hostname")?,
        zone: row.try_get("zone")?,
        batch: index_of(row.try_get("batch")?),
        status: parse_text(&row.try_get::<String, _>("status")?, "invocation status")?,
        work: from_json(&row.try_get::<String, _>("work")?, "invocation work")?,
        output: row.try_get("output")?,
        detail: row.try_get("detail")?,
        queued_at: optional_timestamp(row.try_get("queued_at")?, "invocation queued")?,
        started_at: optional_timestamp(row.try_get("started_at")?, "invocation start")?,
        finished_at: optional_timestamp(row.try_get("finished_at")?, "invocation end")?,
        deadline: optional_timestamp(row.try_get("deadline")?, "invocation deadline")?,
        stop_requested_at: optional_timestamp(
            row.try_get("cancel_requested_at")?,
            "invocation stop request",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_its_last_64_kib_on_a_character_boundary() {
        assert_eq!(bounded_output("short"), "short");
        let long = format!("{}{}", "é".repeat(MAX_OUTPUT_BYTES), "tail");
        let kept = bounded_output(&long);
        assert!(kept.len() <= MAX_OUTPUT_BYTES);
        assert!(kept.ends_with("tail"));
        assert!(kept.len() >= MAX_OUTPUT_BYTES - 1);
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(3, 3), "($3, $4, $5)");
    }
}
