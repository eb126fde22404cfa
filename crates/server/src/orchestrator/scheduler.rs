//! The scheduling round: open executions for windows whose opening has
//! come, start pending executions as the concurrent-executions quota
//! allows, and run one step of each running execution this server holds
//! the lease of.
//!
//! A window opening becomes an execution through an INSERT guarded by the
//! UNIQUE (window, opening) constraint: two servers, or a server that
//! restarted, create it once. An opening is only opened while tasks may
//! still start in it (before end − cutoff), so a server that was down
//! during a whole window does not run it late.

use jiff::{SignedDuration, Timestamp};
use patchline_api::executions::ExecutionKind;
use patchline_api::windows::WindowSpec;
use patchline_core::orchestration::{ExecutionStatus, InvocationStatus};
use patchline_core::schedule::{ScheduleExpression, WindowSchedule, WindowTiming};

use super::plan::ExecutionPlan;
use super::runner::{StepInput, decide};
use super::targets::{Membership, window_members};
use super::{Orchestrator, OrchestratorError};
use crate::store::executions::{Admission, NewExecution, ResolvedLimits};
use crate::store::records::NodeFilter;
use crate::store::windows::WindowRecord;

/// Who the scheduler's executions are requested by.
pub const SCHEDULER_ACTOR: &str = "scheduler";

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Executions created for window openings.
    pub opened: Vec<String>,
    /// Pending executions started.
    pub started: Vec<String>,
    /// Executions stepped (their lease held by this server).
    pub stepped: Vec<String>,
    /// Executions that ended in this round.
    pub finished: Vec<String>,
    /// Finished executions deleted by the history retention.
    pub purged: u64,
    /// Expired operator sessions deleted by the maintenance
    /// ([`super::maintenance`]).
    pub purged_sessions: u64,
}

/// One opening of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub start: Timestamp,
    pub last_task_start: Timestamp,
    pub end: Timestamp,
}

/// A window's schedule and timing, or why they are invalid (the window
/// PUT refuses such windows; this guards stored ones).
pub fn window_schedule(spec: &WindowSpec) -> Result<(WindowSchedule, WindowTiming), String> {
    let expression = ScheduleExpression::parse(&spec.schedule)
        .map_err(|error| format!("schedule {:?}: {error}", spec.schedule))?;
    let mut schedule = WindowSchedule::new(expression, &spec.time_zone)
        .and_then(|schedule| schedule.with_offset_days(spec.offset_days))
        .map_err(|error| error.to_string())?;
    if let Some(start) = spec.start {
        schedule = schedule
            .with_start(start)
            .map_err(|error| error.to_string())?;
    }
    if let Some(end) = spec.end {
        schedule = schedule.with_end(end).map_err(|error| error.to_string())?;
    }
    let timing = WindowTiming::new(spec.duration_hours, spec.cutoff_hours)
        .map_err(|error| error.to_string())?;
    Ok((schedule, timing))
}

/// The latest opening of the window at or before `now` in which a task
/// may still start (`now` < end − cutoff), if any.
pub fn due_opening(spec: &WindowSpec, now: Timestamp) -> Result<Option<Opening>, String> {
    let (schedule, timing) = window_schedule(spec)?;
    let duration = SignedDuration::from_hours(i64::from(spec.duration_hours));
    let from = now.checked_sub(duration).unwrap_or(Timestamp::MIN);
    let until = now
        .checked_add(SignedDuration::from_millis(1))
        .unwrap_or(Timestamp::MAX);
    let Some(start) = schedule.occurrences_between(from, until).last() else {
        return Ok(None);
    };
    let bounds = timing.bounds(&start).map_err(|error| error.to_string())?;
    let opening = Opening {
        start: start.timestamp(),
        last_task_start: bounds.last_task_start.timestamp(),
        end: bounds.end.timestamp(),
    };
    Ok((now < opening.last_task_start).then_some(opening))
}

impl Orchestrator {
    /// One scheduling round at the clock's time.
    pub async fn tick(&self) -> Result<TickReport, OrchestratorError> {
        let now = self.inner.clock.now();
        let store = &self.inner.store;
        let mut report = TickReport {
            opened: self.open_due_windows(now).await?,
            ..TickReport::default()
        };
        let mut active = store.active_executions().await?;
        // Starting takes a write transaction: only when something waits.
        if active
            .iter()
            .any(|(_, status)| *status == ExecutionStatus::Pending)
        {
            let quota = self.inner.settings.quotas.max_concurrent_executions;
            report.started = store.start_pending_executions(quota, now).await?;
            if !report.started.is_empty() {
                active = store.active_executions().await?;
            }
        }
        let lease_until = now.checked_add(self.lease()).unwrap_or(Timestamp::MAX);
        let running = active
            .into_iter()
            .filter(|(_, status)| *status == ExecutionStatus::InProgress);
        for (id, _) in running {
            if !store
                .claim_lease(&id, &self.inner.instance, now, lease_until)
                .await?
            {
                continue;
            }
            report.stepped.push(id.clone());
            // One execution that cannot be stepped (a corrupt plan, say)
            // must not hold up the others.
            match self.step(&id, now).await {
                Ok(true) => report.finished.push(id),
                Ok(false) => {}
                Err(error) => tracing::error!(execution = %id, %error, "scheduling step failed"),
            }
        }
        let maintenance = self.maintain(now).await?;
        report.purged = maintenance.executions;
        report.purged_sessions = maintenance.sessions;
        Ok(report)
    }

    /// Creates the executions of windows due now; their ids.
    async fn open_due_windows(&self, now: Timestamp) -> Result<Vec<String>, OrchestratorError> {
        let store = &self.inner.store;
        let mut due: Vec<(&WindowRecord, Opening)> = Vec::new();
        let windows = store.list_windows().await?;
        for record in &windows {
            if !record.spec.enabled {
                continue;
            }
            match due_opening(&record.spec, now) {
                Ok(Some(opening)) => {
                    if !store
                        .execution_exists(&record.spec.name, opening.start)
                        .await?
                    {
                        due.push((record, opening));
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!(window = %record.spec.name, %reason, "window not schedulable");
                }
            }
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let governance = store.governance_settings().await?;
        let nodes = store.list_nodes(&NodeFilter::default()).await?;
        let mut opened = Vec::new();
        for (record, opening) in due {
            let membership = Membership {
                default_window: governance.default_window.as_deref(),
                windows: &windows,
            };
            let targets = window_members(&record.spec, membership, &nodes);
            let plan = ExecutionPlan::of_window(&record.spec, &targets);
            let new = self.new_execution(
                ExecutionKind::Scheduled,
                Some((&record.spec.name, record.version)),
                opening,
                SCHEDULER_ACTOR,
                plan,
                now,
            );
            if store.create_execution(&new, &Admission::Scheduled).await? {
                tracing::info!(
                    window = %record.spec.name,
                    opening = %opening.start,
                    execution = %new.id,
                    targets = targets.len(),
                    "window opened"
                );
                opened.push(new.id);
            }
        }
        Ok(opened)
    }

    /// An execution of `plan` with its limits resolved.
    pub(crate) fn new_execution(
        &self,
        kind: ExecutionKind,
        window: Option<(&str, i64)>,
        opening: Opening,
        requested_by: &str,
        plan: ExecutionPlan,
        now: Timestamp,
    ) -> NewExecution {
        let quota = self.inner.settings.quotas.max_concurrency_per_task;
        let limits = plan
            .tasks
            .iter()
            .map(|task| {
                let (rate, note) = plan.rate_control(task, quota);
                ResolvedLimits {
                    max_concurrency: rate.max_concurrency as u64,
                    max_errors: rate.max_errors as u64,
                    note,
                }
            })
            .collect();
        NewExecution {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            window: window.map(|(name, _)| name.to_owned()),
            window_version: window.map(|(_, version)| version),
            scheduled_for: opening.start,
            last_task_start: opening.last_task_start,
            window_end: opening.end,
            requested_by: requested_by.to_owned(),
            plan,
            limits,
            created_at: now,
        }
    }

    /// One step of a running execution; `true` when it ended. A step that
    /// lost a race (an invocation moved on meanwhile) writes nothing.
    pub(crate) async fn step(&self, id: &str, now: Timestamp) -> Result<bool, OrchestratorError> {
        let Some(mut step) = self.inner.store.begin_step(id).await? else {
            return Ok(false);
        };
        let tasks = step.tasks().await?;
        let invocations = step.invocations().await?;
        let changes = decide(StepInput {
            now,
            execution: &step.execution,
            tasks: &tasks,
            invocations: &invocations,
            result_grace: self.result_grace(),
        });
        let asked_to_stop = self.stop_at_cutoff(&mut step, &invocations, now).await?;
        if changes.is_empty() && asked_to_stop.is_empty() {
            return Ok(false);
        }
        if !changes.is_empty() && !step.apply(&changes, now).await? {
            tracing::debug!(execution = %id, "the step lost a race; decided again next round");
            return Ok(false);
        }
        step.commit().await?;
        self.inner
            .signals
            .notify(asked_to_stop.iter().map(String::as_str));
        // Idle agents long-polling this server collect their work now.
        let released: std::collections::HashSet<&str> = changes
            .invocations
            .iter()
            .filter(|change| change.to == InvocationStatus::Queued)
            .map(|change| change.id.as_str())
            .collect();
        if !released.is_empty() {
            let nodes = invocations
                .iter()
                .filter(|invocation| released.contains(invocation.id.as_str()))
                .map(|invocation| invocation.node_id.as_str());
            self.inner.signals.notify(nodes);
        }
        let finished = changes
            .execution
            .as_ref()
            .is_some_and(|e| e.finished_at.is_some());
        if let Some(change) = changes.execution.as_ref().filter(|_| finished) {
            tracing::info!(execution = %id, status = %change.status, "execution ended");
        }
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_core::orchestration::TargetQuery;

    fn spec(schedule: &str, duration: u8, cutoff: u8) -> WindowSpec {
        WindowSpec {
            name: "w".into(),
            description: String::new(),
            schedule: schedule.into(),
            time_zone: "Europe/Paris".into(),
            offset_days: 0,
            start: None,
            end: None,
            duration_hours: duration,
            cutoff_hours: cutoff,
            cutoff_behavior: Default::default(),
            enabled: true,
            targets: TargetQuery::default(),
            owner: None,
            rollout: None,
            tasks: Vec::new(),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn an_opening_is_due_from_its_start_until_its_last_task_start() {
        // 02:00 Paris in January is 01:00 UTC.
        let window = spec("cron(0 0 2 * * ? *)", 4, 1);
        assert_eq!(due_opening(&window, at("2027-01-10T00:59:59Z")), Ok(None));
        let opening = Opening {
            start: at("2027-01-10T01:00:00Z"),
            last_task_start: at("2027-01-10T04:00:00Z"),
            end: at("2027-01-10T05:00:00Z"),
        };
        assert_eq!(
            due_opening(&window, at("2027-01-10T01:00:00Z")),
            Ok(Some(opening))
        );
        assert_eq!(
            due_opening(&window, at("2027-01-10T03:59:59Z")),
            Ok(Some(opening))
        );
        assert_eq!(due_opening(&window, at("2027-01-10T04:00:00Z")), Ok(None));
    }

    #[test]
    fn the_latest_of_overlapping_openings_is_due() {
        let window = spec("rate(1 hours)", 3, 0);
        let due = due_opening(&window, at("2027-01-10T05:30:00Z"));
        assert_eq!(
            due.map(|o| o.map(|o| o.start)),
            Ok(Some(at("2027-01-10T05:00:00Z")))
        );
    }

    #[test]
    fn an_invalid_window_says_why() {
        assert!(due_opening(&spec("cron(bad)", 4, 1), Timestamp::UNIX_EPOCH).is_err());
        assert!(due_opening(&spec("rate(1 hours)", 4, 4), Timestamp::UNIX_EPOCH).is_err());
    }
}
