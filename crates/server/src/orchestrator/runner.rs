//! One scheduling step of a running execution, decided as a pure function
//! of what the store holds and the time: which invocations time out or
//! are cancelled, which are never started (cutoff, max errors), which are
//! skipped (a predecessor task did not succeed on their node), which the
//! rate control releases now, and the resulting task and execution
//! statuses.
//!
//! The order of the rules in a step:
//! 1. an in-progress invocation past its deadline is timed out; a queued
//!    one is cancelled once the window has ended, or timed out past its
//!    deadline (its node never checked in to collect it);
//! 2. from the last task start (end − cutoff) on, nothing starts: every
//!    pending invocation becomes not-started ("cutoff"); with the cutoff
//!    behaviour `cancel-task` a queued one (not collected yet) is
//!    cancelled too, and the agents of those in progress are asked to
//!    stop them (the scheduler's part, [`super::scheduler`]);
//! 3. tasks run by priority, lowest first; a priority level starts only
//!    when every lower level has finished; tasks of one level run side by
//!    side. When a level starts, its invocations on nodes where a lower
//!    level's invocation did not succeed are skipped;
//! 4. each running task releases what its rate control (zone by zone with
//!    a rollout) allows, or stops on max errors (the rest not-started);
//! 5. a task ends when nothing of it is pending or in flight, the
//!    execution when every task has ended.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use patchline_core::orchestration::{
    Dispatch, ExecutionStatus, InvocationCounts, InvocationStatus, RateControl, RolloutDispatch,
    task_outcome,
};

use patchline_api::windows::CutoffBehavior;

use crate::store::executions::{
    CUTOFF_CANCEL_REASON, ExecutionChange, ExecutionRecord, InvocationChange, InvocationState,
    StepChanges, TaskChange, TaskExecutionRecord,
};

/// What a step reads.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    pub now: Timestamp,
    pub execution: &'a ExecutionRecord,
    pub tasks: &'a [TaskExecutionRecord],
    pub invocations: &'a [InvocationState],
    /// Added to a task's timeout for a result to come back (the agent
    /// reports at its next check-in).
    pub result_grace: SignedDuration,
}

/// The deadline of an invocation released or delivered at `at`.
pub fn deadline(at: Timestamp, timeout_seconds: u32, grace: SignedDuration) -> Timestamp {
    let limit = SignedDuration::from_secs(i64::from(timeout_seconds)).saturating_add(grace);
    at.checked_add(limit).unwrap_or(Timestamp::MAX)
}

/// Decides one step.
pub fn decide(input: StepInput<'_>) -> StepChanges {
    let mut state = Step::new(input);
    state.expire();
    state.apply_cutoff();
    state.run_priorities();
    state.finish()
}

/// The step's working copy of the invocation statuses.
struct Step<'a> {
    input: StepInput<'a>,
    status: Vec<InvocationStatus>,
    changes: Vec<InvocationChange>,
    /// Notes per task index (max errors reached, cutoff...).
    task_notes: BTreeMap<usize, String>,
}

impl<'a> Step<'a> {
    fn new(input: StepInput<'a>) -> Step<'a> {
        Step {
            status: input.invocations.iter().map(|i| i.status).collect(),
            input,
            changes: Vec::new(),
            task_notes: BTreeMap::new(),
        }
    }

    fn set(
        &mut self,
        index: usize,
        to: InvocationStatus,
        detail: Option<String>,
        deadline: Option<Timestamp>,
    ) {
        let invocation = &self.input.invocations[index];
        self.changes.push(InvocationChange {
            id: invocation.id.clone(),
            from: invocation.status,
            to,
            detail,
            deadline,
        });
        self.status[index] = to;
    }

    fn timeout_of(&self, task_index: usize) -> u32 {
        self.input
            .execution
            .plan
            .tasks
            .get(task_index)
            .map_or(0, |task| task.work.timeout_seconds)
    }

    /// Rule 1.
    fn expire(&mut self) {
        let now = self.input.now;
        let window_ended = now >= self.input.execution.window_end;
        for index in 0..self.status.len() {
            let invocation = &self.input.invocations[index];
            let past_deadline = invocation.deadline.is_some_and(|deadline| deadline <= now);
            match self.status[index] {
                InvocationStatus::InProgress if past_deadline => {
                    let detail = format!(
                        "no result within the task timeout ({} s) and the reporting grace",
                        self.timeout_of(invocation.task_index)
                    );
                    self.set(index, InvocationStatus::TimedOut, Some(detail), None);
                }
                InvocationStatus::Queued if window_ended => {
                    let detail = "the window ended before the node collected it";
                    self.task_notes
                        .entry(invocation.task_index)
                        .or_insert_with(|| format!("window ended: {detail}"));
                    self.set(
                        index,
                        InvocationStatus::Cancelled,
                        Some(detail.into()),
                        None,
                    );
                }
                InvocationStatus::Queued if past_deadline => self.set(
                    index,
                    InvocationStatus::TimedOut,
                    Some("the node did not check in to collect it in time".into()),
                    None,
                ),
                _ => {}
            }
        }
    }

    /// Rule 2.
    fn apply_cutoff(&mut self) {
        let last_task_start = self.input.execution.last_task_start;
        if self.input.now < last_task_start {
            return;
        }
        let detail = format!("cutoff: no task starts after {last_task_start}");
        let cancel_queued = self.input.execution.plan.cutoff_behavior == CutoffBehavior::CancelTask;
        for index in 0..self.status.len() {
            if cancel_queued && self.status[index] == InvocationStatus::Queued {
                let task = self.input.invocations[index].task_index;
                self.task_notes
                    .entry(task)
                    .or_insert_with(|| CUTOFF_CANCEL_REASON.to_owned());
                self.set(
                    index,
                    InvocationStatus::Cancelled,
                    Some(CUTOFF_CANCEL_REASON.to_owned()),
                    None,
                );
            }
            if self.status[index] == InvocationStatus::Pending {
                let task = self.input.invocations[index].task_index;
                self.task_notes
                    .entry(task)
                    .or_insert_with(|| detail.clone());
                self.set(
                    index,
                    InvocationStatus::NotStarted,
                    Some(detail.clone()),
                    None,
                );
            }
        }
    }

    fn counts_of(&self, task_index: usize) -> InvocationCounts {
        InvocationCounts::from_statuses(
            self.input
                .invocations
                .iter()
                .zip(&self.status)
                .filter(|(invocation, _)| invocation.task_index == task_index)
                .map(|(_, status)| *status),
        )
    }

    fn task_active(&self, task_index: usize) -> bool {
        let counts = self.counts_of(task_index);
        counts.pending > 0 || counts.in_flight() > 0
    }

    /// Rules 3 and 4.
    fn run_priorities(&mut self) {
        let mut levels: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for task in self.input.tasks {
            levels.entry(task.priority).or_default().push(task.index);
        }
        let mut earlier: Vec<usize> = Vec::new();
        for tasks in levels.values() {
            self.skip_after_failed_predecessors(&earlier, tasks);
            for &task in tasks {
                self.release(task);
            }
            if tasks.iter().any(|&task| self.task_active(task)) {
                return;
            }
            earlier.extend(tasks);
        }
    }

    /// Rule 3: nodes where an earlier level's invocation did not succeed.
    fn skip_after_failed_predecessors(&mut self, earlier: &[usize], tasks: &[usize]) {
        if earlier.is_empty() {
            return;
        }
        let mut failed_on: HashMap<&str, usize> = HashMap::new();
        for (invocation, status) in self.input.invocations.iter().zip(&self.status) {
            if earlier.contains(&invocation.task_index) && *status != InvocationStatus::Success {
                failed_on
                    .entry(invocation.node_id.as_str())
                    .or_insert(invocation.task_index);
            }
        }
        let mut skips = Vec::new();
        for (index, invocation) in self.input.invocations.iter().enumerate() {
            if tasks.contains(&invocation.task_index)
                && self.status[index] == InvocationStatus::Pending
                && let Some(&predecessor) = failed_on.get(invocation.node_id.as_str())
            {
                let name = self.task_name(predecessor);
                skips.push((index, format!("task {name:?} did not succeed on this node")));
            }
        }
        for (index, detail) in skips {
            self.set(index, InvocationStatus::Skipped, Some(detail), None);
        }
    }

    fn task_name(&self, task_index: usize) -> String {
        self.input
            .tasks
            .iter()
            .find(|task| task.index == task_index)
            .map_or_else(|| format!("#{task_index}"), |task| task.name.clone())
    }

    /// Rule 4 for one task.
    fn release(&mut self, task_index: usize) {
        let Some(task) = self
            .input
            .tasks
            .iter()
            .find(|task| task.index == task_index)
        else {
            return;
        };
        let rate = RateControl {
            max_concurrency: usize::try_from(task.max_concurrency).unwrap_or(usize::MAX),
            max_errors: usize::try_from(task.max_errors).unwrap_or(usize::MAX),
        };
        // Pending invocations of this task, in rollout order (batch, node).
        let pending_in = |step: &Step<'_>, batch: Option<usize>| -> Vec<usize> {
            (0..step.status.len())
                .filter(|&index| {
                    let invocation = &step.input.invocations[index];
                    invocation.task_index == task_index
                        && step.status[index] == InvocationStatus::Pending
                        && batch.is_none_or(|batch| invocation.batch == batch)
                })
                .collect()
        };
        let (start, batch, stop) = match &self.input.execution.plan.rollout {
            Some(rollout) => {
                let batches = self
                    .input
                    .invocations
                    .iter()
                    .map(|invocation| invocation.batch + 1)
                    .max()
                    .unwrap_or(0);
                let mut zones = vec![InvocationCounts::default(); batches];
                for (invocation, status) in self.input.invocations.iter().zip(&self.status) {
                    if invocation.task_index == task_index {
                        zones[invocation.batch].add(*status, 1);
                    }
                }
                match rollout.dispatch(&rate, &zones) {
                    RolloutDispatch::Start { zone, count } => (count, Some(zone), false),
                    RolloutDispatch::StopRemaining => (0, None, true),
                    RolloutDispatch::Wait | RolloutDispatch::Done => (0, None, false),
                }
            }
            None => match rate.dispatch(&self.counts_of(task_index)) {
                Dispatch::Start(count) => (count, None, false),
                Dispatch::StopRemaining => (0, None, true),
                Dispatch::Wait | Dispatch::Done => (0, None, false),
            },
        };
        if stop {
            let counts = self.counts_of(task_index);
            let detail = format!(
                "max errors reached: {} failed or timed out, {} allowed",
                counts.errors(),
                rate.max_errors
            );
            self.task_notes.insert(task_index, detail.clone());
            for index in pending_in(self, None) {
                self.set(
                    index,
                    InvocationStatus::NotStarted,
                    Some(detail.clone()),
                    None,
                );
            }
            return;
        }
        let deadline = deadline(
            self.input.now,
            self.timeout_of(task_index),
            self.input.result_grace,
        );
        for index in pending_in(self, batch).into_iter().take(start) {
            self.set(index, InvocationStatus::Queued, None, Some(deadline));
        }
    }

    /// Rule 5: task and execution statuses.
    fn finish(self) -> StepChanges {
        let now = self.input.now;
        let mut tasks = Vec::new();
        let mut all_ended = true;
        let mut total = InvocationCounts::default();
        let mut notes = Vec::new();
        for task in self.input.tasks {
            let counts = self.counts_of(task.index);
            total += counts;
            let status = task_outcome(&counts);
            let ended = status.is_terminal();
            all_ended &= ended;
            // A new note adds to what an earlier step said (a cutoff,
            // then the window end), never replaces it.
            let note = match (&task.detail, self.task_notes.get(&task.index)) {
                (Some(old), Some(new)) if !old.contains(new.as_str()) => {
                    Some(format!("{old}; {new}"))
                }
                (None, Some(new)) => Some(new.clone()),
                _ => None,
            };
            if let Some(note) = note.as_ref().or(task.detail.as_ref()) {
                notes.push(format!("task {:?}: {note}", task.name));
            }
            let started = task.started_at.is_none() && status != ExecutionStatus::Pending;
            let finished = ended && task.finished_at.is_none();
            if status != task.status || started || finished || note.is_some() {
                tasks.push(TaskChange {
                    index: task.index,
                    status,
                    started_at: started.then_some(now),
                    finished_at: if ended {
                        task.finished_at.or(Some(now))
                    } else {
                        None
                    },
                    detail: note,
                });
            }
        }
        let execution = self.input.execution;
        let execution_change = all_ended.then(|| {
            let status = if execution.cancelled_by.is_some() {
                ExecutionStatus::Cancelled
            } else {
                task_outcome(&total)
            };
            let detail = if let Some(actor) = &execution.cancelled_by {
                Some(format!("cancelled by {actor}"))
            } else if execution.plan.targets.is_empty() {
                Some("no targets".to_owned())
            } else if notes.is_empty() {
                None
            } else {
                Some(notes.join("; "))
            };
            ExecutionChange {
                status,
                finished_at: Some(now),
                detail,
            }
        });
        StepChanges {
            invocations: self.changes,
            tasks,
            execution: execution_change,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchline_api::executions::ExecutionKind;
    use patchline_core::orchestration::{Limit, ZoneRollout};

    use crate::orchestrator::plan::{
        ExecutionPlan, InvocationWork, PlannedAction, PlannedTarget, PlannedTask,
    };

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    struct Fixture {
        execution: ExecutionRecord,
        tasks: Vec<TaskExecutionRecord>,
        invocations: Vec<InvocationState>,
    }

    /// `tasks`: (priority, max concurrency, max errors); every task on
    /// every node of `zones` (node i in zone zones[i]).
    fn fixture(tasks: &[(u32, u64, u64)], zones: &[Option<&str>], rollout: bool) -> Fixture {
        let targets: Vec<PlannedTarget> = zones
            .iter()
            .enumerate()
            .map(|(i, zone)| PlannedTarget {
                node_id: format!("n{i}"),
                hostname: format!("h{i}"),
                zone: zone.map(str::to_owned),
                batch: if rollout {
                    zone.map_or(9, |zone| usize::from(zone.as_bytes()[0] - b'a'))
                } else {
                    0
                },
            })
            .collect();
        let planned: Vec<PlannedTask> = tasks
            .iter()
            .enumerate()
            .map(|(i, (priority, _, _))| PlannedTask {
                name: format!("t{i}"),
                priority: *priority,
                work: InvocationWork {
                    action: PlannedAction::Scan,
                    timeout_seconds: 600,
                },
                max_concurrency: Limit::Count(1),
                max_errors: Limit::Count(0),
            })
            .collect();
        let plan = ExecutionPlan {
            tasks: planned,
            rollout: rollout.then(|| ZoneRollout {
                zone_tag: "Zone".into(),
                disruption_budget: Limit::Count(1),
            }),
            targets: targets.clone(),
            cutoff_behavior: Default::default(),
        };
        let execution = ExecutionRecord {
            id: "e".into(),
            kind: ExecutionKind::Scheduled,
            window: Some("w".into()),
            window_version: Some(1),
            scheduled_for: at(0),
            last_task_start: at(180),
            window_end: at(240),
            status: ExecutionStatus::InProgress,
            detail: None,
            requested_by: "scheduler".into(),
            cancelled_by: None,
            plan,
            lease_owner: None,
            lease_until: None,
            created_at: at(0),
            started_at: Some(at(0)),
            finished_at: None,
        };
        let task_records = tasks
            .iter()
            .enumerate()
            .map(|(i, (priority, concurrency, errors))| TaskExecutionRecord {
                execution_id: "e".into(),
                index: i,
                name: format!("t{i}"),
                priority: *priority,
                status: ExecutionStatus::Pending,
                max_concurrency: *concurrency,
                max_errors: *errors,
                started_at: None,
                finished_at: None,
                detail: None,
            })
            .collect();
        let mut invocations = Vec::new();
        for task in 0..tasks.len() {
            for target in &targets {
                invocations.push(InvocationState {
                    id: format!("{task}-{}", target.node_id),
                    task_index: task,
                    node_id: target.node_id.clone(),
                    batch: target.batch,
                    status: InvocationStatus::Pending,
                    deadline: None,
                });
            }
        }
        invocations.sort_by(|a, b| {
            (a.task_index, a.batch, &a.node_id).cmp(&(b.task_index, b.batch, &b.node_id))
        });
        Fixture {
            execution,
            tasks: task_records,
            invocations,
        }
    }

    impl Fixture {
        fn step(&mut self, now: Timestamp) -> StepChanges {
            let changes = decide(StepInput {
                now,
                execution: &self.execution,
                tasks: &self.tasks,
                invocations: &self.invocations,
                result_grace: SignedDuration::from_secs(60),
            });
            for change in &changes.invocations {
                if let Some(invocation) = self.invocations.iter_mut().find(|i| i.id == change.id) {
                    invocation.status = change.to;
                    invocation.deadline = change.deadline;
                }
            }
            for change in &changes.tasks {
                if let Some(task) = self.tasks.iter_mut().find(|t| t.index == change.index) {
                    task.status = change.status;
                    task.started_at = task.started_at.or(change.started_at);
                    task.finished_at = change.finished_at;
                    task.detail = change.detail.clone().or(task.detail.take());
                }
            }
            changes
        }

        fn report(&mut self, id: &str, status: InvocationStatus) {
            if let Some(invocation) = self.invocations.iter_mut().find(|i| i.id == id) {
                invocation.status = status;
            }
        }

        fn deliver_queued(&mut self) {
            for invocation in &mut self.invocations {
                if invocation.status == InvocationStatus::Queued {
                    invocation.status = InvocationStatus::InProgress;
                }
            }
        }

        fn status(&self, id: &str) -> Option<InvocationStatus> {
            self.invocations
                .iter()
                .find(|i| i.id == id)
                .map(|i| i.status)
        }

        fn ids_in(&self, status: InvocationStatus) -> Vec<&str> {
            self.invocations
                .iter()
                .filter(|i| i.status == status)
                .map(|i| i.id.as_str())
                .collect()
        }
    }

    #[test]
    fn releases_up_to_max_concurrency_and_stops_on_max_errors() {
        let mut run = fixture(&[(0, 2, 0)], &[None; 5], false);
        run.step(at(1));
        assert_eq!(run.ids_in(InvocationStatus::Queued), ["0-n0", "0-n1"]);
        run.deliver_queued();
        assert!(run.step(at(2)).invocations.is_empty(), "nothing free");
        run.report("0-n0", InvocationStatus::Success);
        run.step(at(3));
        assert_eq!(run.ids_in(InvocationStatus::Queued), ["0-n2"]);
        run.deliver_queued();
        run.report("0-n1", InvocationStatus::Failed);
        let changes = run.step(at(4));
        assert_eq!(run.ids_in(InvocationStatus::NotStarted), ["0-n3", "0-n4"]);
        assert!(changes.execution.is_none(), "n2 is still running");
        run.report("0-n2", InvocationStatus::Success);
        let changes = run.step(at(5));
        let execution = changes
            .execution
            .unwrap_or_else(|| panic!("the execution should end"));
        assert_eq!(execution.status, ExecutionStatus::Failed);
        assert!(
            execution
                .detail
                .unwrap_or_default()
                .contains("max errors reached")
        );
        assert_eq!(run.tasks[0].status, ExecutionStatus::Failed);
    }

    #[test]
    fn a_later_priority_waits_and_skips_nodes_whose_predecessor_failed() {
        let mut run = fixture(&[(0, 5, 5), (1, 5, 5), (1, 5, 5)], &[None; 3], false);
        run.step(at(1));
        assert_eq!(
            run.ids_in(InvocationStatus::Queued),
            ["0-n0", "0-n1", "0-n2"]
        );
        run.deliver_queued();
        run.report("0-n0", InvocationStatus::Success);
        run.report("0-n1", InvocationStatus::Failed);
        run.step(at(2));
        assert!(
            run.ids_in(InvocationStatus::Queued).is_empty(),
            "0-n2 still runs"
        );
        run.report("0-n2", InvocationStatus::TimedOut);
        run.step(at(3));
        assert_eq!(
            run.ids_in(InvocationStatus::Queued),
            ["1-n0", "2-n0"],
            "equal priorities run together"
        );
        assert_eq!(run.status("1-n1"), Some(InvocationStatus::Skipped));
        assert_eq!(run.status("2-n2"), Some(InvocationStatus::Skipped));
    }

    #[test]
    fn the_cutoff_stops_new_starts_and_the_window_end_cancels_uncollected_work() {
        let mut run = fixture(&[(0, 1, 5)], &[None; 3], false);
        run.execution.last_task_start = at(5);
        run.execution.window_end = at(8);
        run.step(at(1));
        run.deliver_queued();
        run.report("0-n0", InvocationStatus::Success);
        run.step(at(2));
        assert_eq!(run.ids_in(InvocationStatus::Queued), ["0-n1"]);
        run.step(at(5));
        assert_eq!(run.status("0-n2"), Some(InvocationStatus::NotStarted));
        assert_eq!(
            run.status("0-n1"),
            Some(InvocationStatus::Queued),
            "released before the cutoff"
        );
        let changes = run.step(at(8));
        assert_eq!(run.status("0-n1"), Some(InvocationStatus::Cancelled));
        let execution = changes.execution.unwrap_or_else(|| panic!("ended"));
        assert_eq!(execution.status, ExecutionStatus::Failed);
        assert!(execution.detail.unwrap_or_default().contains("cutoff"));
    }

    #[test]
    fn with_cancel_task_the_cutoff_cancels_uncollected_work_and_a_cancelled_result_is_no_error() {
        let mut run = fixture(&[(0, 2, 0)], &[None; 3], false);
        run.execution.plan.cutoff_behavior = CutoffBehavior::CancelTask;
        run.execution.last_task_start = at(5);
        run.execution.window_end = at(8);
        run.step(at(1));
        assert_eq!(run.ids_in(InvocationStatus::Queued), ["0-n0", "0-n1"]);
        run.report("0-n0", InvocationStatus::InProgress);
        run.step(at(5));
        assert_eq!(run.status("0-n1"), Some(InvocationStatus::Cancelled));
        assert_eq!(run.status("0-n2"), Some(InvocationStatus::NotStarted));
        assert_eq!(
            run.status("0-n0"),
            Some(InvocationStatus::InProgress),
            "running work is the agent's to stop"
        );
        run.report("0-n0", InvocationStatus::Cancelled);
        let execution = run.step(at(6)).execution.unwrap_or_else(|| panic!("ended"));
        // Not-started makes it failed; the cancellations alone count no error.
        assert_eq!(execution.status, ExecutionStatus::Failed);
        let detail = execution.detail.unwrap_or_default();
        assert!(detail.contains("cancel-task"), "{detail}");
        assert!(!detail.contains("max errors"), "{detail}");
    }

    #[test]
    fn work_without_a_result_times_out_at_its_deadline() {
        let mut run = fixture(&[(0, 1, 5)], &[None; 2], false);
        run.step(at(1));
        run.deliver_queued();
        run.step(at(11));
        assert_eq!(
            run.status("0-n0"),
            Some(InvocationStatus::InProgress),
            "600 s + 60 s grace"
        );
        run.step(at(12));
        assert_eq!(run.status("0-n0"), Some(InvocationStatus::TimedOut));
        assert_eq!(run.status("0-n1"), Some(InvocationStatus::Queued));
    }

    #[test]
    fn a_rollout_finishes_each_zone_before_the_next_and_a_failure_stops_it() {
        let zones = [Some("a"), Some("a"), Some("b"), Some("b"), None];
        let mut run = fixture(&[(0, 5, 0)], &zones, true);
        run.step(at(1));
        assert_eq!(
            run.ids_in(InvocationStatus::Queued),
            ["0-n0"],
            "disruption budget 1"
        );
        run.deliver_queued();
        run.report("0-n0", InvocationStatus::Success);
        run.step(at(2));
        assert_eq!(run.ids_in(InvocationStatus::Queued), ["0-n1"]);
        run.deliver_queued();
        run.report("0-n1", InvocationStatus::Success);
        run.step(at(3));
        assert_eq!(
            run.ids_in(InvocationStatus::Queued),
            ["0-n2"],
            "zone b after zone a"
        );
        run.deliver_queued();
        run.report("0-n2", InvocationStatus::Failed);
        run.step(at(4));
        assert_eq!(run.ids_in(InvocationStatus::NotStarted), ["0-n3", "0-n4"]);
    }

    #[test]
    fn a_cancelled_execution_ends_cancelled_once_in_flight_work_is_done() {
        let mut run = fixture(&[(0, 1, 0)], &[None; 2], false);
        run.step(at(1));
        run.deliver_queued();
        run.execution.cancelled_by = Some("user:admin".into());
        run.report("0-n1", InvocationStatus::Cancelled);
        assert!(run.step(at(2)).execution.is_none());
        run.report("0-n0", InvocationStatus::Success);
        let execution = run.step(at(3)).execution.unwrap_or_else(|| panic!("ended"));
        assert_eq!(execution.status, ExecutionStatus::Cancelled);
    }
}
