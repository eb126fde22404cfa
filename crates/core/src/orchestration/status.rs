//! Statuses of per-node invocations and of executions (window and task
//! executions), their counts, and how a task's invocations aggregate into the
//! task's outcome.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A status name that is not one of the known kebab-case names.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} status {name:?} (expected one of: {expected})")]
pub struct UnknownStatus {
    pub kind: &'static str,
    pub name: String,
    pub expected: &'static str,
}

/// The life of one task on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvocationStatus {
    /// Not yet released by rate control.
    Pending,
    /// Released, waiting for the node's next check-in.
    Queued,
    /// Delivered to the agent in a check-in answer.
    InProgress,
    Success,
    Failed,
    /// The agent reported a timeout, or the node never answered in time.
    TimedOut,
    Cancelled,
    /// Not run because an earlier task failed on this node.
    Skipped,
    /// Never started: the task stopped (max-errors exceeded, or cutoff reached).
    NotStarted,
}

impl InvocationStatus {
    pub const ALL: [InvocationStatus; 9] = [
        InvocationStatus::Pending,
        InvocationStatus::Queued,
        InvocationStatus::InProgress,
        InvocationStatus::Success,
        InvocationStatus::Failed,
        InvocationStatus::TimedOut,
        InvocationStatus::Cancelled,
        InvocationStatus::Skipped,
        InvocationStatus::NotStarted,
    ];

    /// The kebab-case name used in JSON, YAML and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationStatus::Pending => "pending",
            InvocationStatus::Queued => "queued",
            InvocationStatus::InProgress => "in-progress",
            InvocationStatus::Success => "success",
            InvocationStatus::Failed => "failed",
            InvocationStatus::TimedOut => "timed-out",
            InvocationStatus::Cancelled => "cancelled",
            InvocationStatus::Skipped => "skipped",
            InvocationStatus::NotStarted => "not-started",
        }
    }

    /// No further transition happens from this status.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            InvocationStatus::Pending | InvocationStatus::Queued | InvocationStatus::InProgress
        )
    }

    /// Counts against max-errors: failed or timed out.
    pub fn is_error(self) -> bool {
        matches!(self, InvocationStatus::Failed | InvocationStatus::TimedOut)
    }
}

impl fmt::Display for InvocationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvocationStatus {
    type Err = UnknownStatus;

    fn from_str(name: &str) -> Result<Self, UnknownStatus> {
        InvocationStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| UnknownStatus {
                kind: "invocation",
                name: name.to_owned(),
                expected: "pending, queued, in-progress, success, failed, timed-out, cancelled, skipped, not-started",
            })
    }
}

/// The status of a window execution or a task execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionStatus {
    Pending,
    InProgress,
    Success,
    Failed,
    TimedOut,
    Cancelled,
    Skipped,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Pending,
        ExecutionStatus::InProgress,
        ExecutionStatus::Success,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Cancelled,
        ExecutionStatus::Skipped,
    ];

    /// The kebab-case name used in JSON, YAML and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Pending => "pending",
            ExecutionStatus::InProgress => "in-progress",
            ExecutionStatus::Success => "success",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::TimedOut => "timed-out",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::Skipped => "skipped",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, ExecutionStatus::Pending | ExecutionStatus::InProgress)
    }

    pub fn is_error(self) -> bool {
        matches!(self, ExecutionStatus::Failed | ExecutionStatus::TimedOut)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionStatus {
    type Err = UnknownStatus;

    fn from_str(name: &str) -> Result<Self, UnknownStatus> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| UnknownStatus {
                kind: "execution",
                name: name.to_owned(),
                expected: "pending, in-progress, success, failed, timed-out, cancelled, skipped",
            })
    }
}

/// How many of a task's invocations are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvocationCounts {
    pub pending: usize,
    pub queued: usize,
    pub in_progress: usize,
    pub success: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    pub skipped: usize,
    pub not_started: usize,
}

impl InvocationCounts {
    /// Counts a list of statuses.
    pub fn from_statuses(statuses: impl IntoIterator<Item = InvocationStatus>) -> Self {
        let mut counts = InvocationCounts::default();
        for status in statuses {
            counts.add(status, 1);
        }
        counts
    }

    /// Adds `count` invocations in `status` (e.g. one row of a `GROUP BY status`).
    pub fn add(&mut self, status: InvocationStatus, count: usize) {
        let field = match status {
            InvocationStatus::Pending => &mut self.pending,
            InvocationStatus::Queued => &mut self.queued,
            InvocationStatus::InProgress => &mut self.in_progress,
            InvocationStatus::Success => &mut self.success,
            InvocationStatus::Failed => &mut self.failed,
            InvocationStatus::TimedOut => &mut self.timed_out,
            InvocationStatus::Cancelled => &mut self.cancelled,
            InvocationStatus::Skipped => &mut self.skipped,
            InvocationStatus::NotStarted => &mut self.not_started,
        };
        *field = field.saturating_add(count);
    }

    /// How many invocations are in `status`.
    pub fn get(&self, status: InvocationStatus) -> usize {
        match status {
            InvocationStatus::Pending => self.pending,
            InvocationStatus::Queued => self.queued,
            InvocationStatus::InProgress => self.in_progress,
            InvocationStatus::Success => self.success,
            InvocationStatus::Failed => self.failed,
            InvocationStatus::TimedOut => self.timed_out,
            InvocationStatus::Cancelled => self.cancelled,
            InvocationStatus::Skipped => self.skipped,
            InvocationStatus::NotStarted => self.not_started,
        }
    }

    /// Released by rate control and not finished: queued + in progress.
    pub fn in_flight(&self) -> usize {
        self.queued.saturating_add(self.in_progress)
    }

    /// What counts against max-errors: failed + timed out.
    pub fn errors(&self) -> usize {
        self.failed.saturating_add(self.timed_out)
    }

    /// Every invocation, whatever its status.
    pub fn total(&self) -> usize {
        InvocationStatus::ALL
            .into_iter()
            .fold(0, |sum: usize, status| sum.saturating_add(self.get(status)))
    }

    /// Invocations in a terminal status.
    pub fn finished(&self) -> usize {
        self.total()
            .saturating_sub(self.pending)
            .saturating_sub(self.in_flight())
    }
}

impl std::ops::AddAssign for InvocationCounts {
    fn add_assign(&mut self, other: InvocationCounts) {
        for status in InvocationStatus::ALL {
            self.add(status, other.get(status));
        }
    }
}

/// A task execution's status from its invocations' counts, decided in this order:
/// 1. no invocation at all → `Success` (nothing to do, nothing failed);
/// 2. any invocation not finished → `Pending` if none was released yet
///    (all pending), otherwise `InProgress`;
/// 3. any failed, timed-out or not-started → `Failed` (a node did not get
///    the task done; not-started means the task stopped on max-errors or cutoff);
/// 4. any cancelled → `Cancelled`;
/// 5. only skipped → `Skipped` (an earlier task failed on every node);
/// 6. otherwise (success, possibly with skipped) → `Success`.
pub fn task_outcome(counts: &InvocationCounts) -> ExecutionStatus {
    let total = counts.total();
    if total == 0 {
        return ExecutionStatus::Success;
    }
    if counts.pending == total {
        return ExecutionStatus::Pending;
    }
    if counts.pending > 0 || counts.in_flight() > 0 {
        return ExecutionStatus::InProgress;
    }
    if counts.errors() > 0 || counts.not_started > 0 {
        ExecutionStatus::Failed
    } else if counts.cancelled > 0 {
        ExecutionStatus::Cancelled
    } else if counts.skipped == total {
        ExecutionStatus::Skipped
    } else {
        ExecutionStatus::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for status in InvocationStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
        }
        for status in ExecutionStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
        }
        assert_eq!(
            "running".parse::<InvocationStatus>().map_err(|e| e.to_string()),
            Err("unknown invocation status \"running\" (expected one of: pending, queued, in-progress, success, failed, timed-out, cancelled, skipped, not-started)".to_owned())
        );
        assert!("queued".parse::<ExecutionStatus>().is_err());
    }

    #[test]
    fn terminal_and_error_statuses() {
        let terminal: Vec<_> = InvocationStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal.len(), 6);
        assert!(!InvocationStatus::Queued.is_terminal());
        let errors: Vec<_> = InvocationStatus::ALL
            .into_iter()
            .filter(|s| s.is_error())
            .collect();
        assert_eq!(
            errors,
            [InvocationStatus::Failed, InvocationStatus::TimedOut]
        );
        assert!(ExecutionStatus::TimedOut.is_error() && ExecutionStatus::TimedOut.is_terminal());
        assert!(!ExecutionStatus::InProgress.is_terminal());
    }

    #[test]
    fn counts_add_up() {
        use InvocationStatus::*;
        let counts = InvocationCounts::from_statuses([
            Pending, Queued, InProgress, InProgress, Failed, TimedOut, NotStarted, Success,
        ]);
        assert_eq!(counts.in_flight(), 3);
        assert_eq!(counts.errors(), 2);
        assert_eq!(counts.total(), 8);
        assert_eq!(counts.finished(), 4);
        let mut doubled = counts;
        doubled += counts;
        assert_eq!(doubled.total(), 16);
        assert_eq!(doubled.get(InProgress), 4);
    }

    #[test]
    fn task_outcome_aggregates_in_documented_order() {
        use InvocationStatus::*;
        let outcome = |statuses: &[InvocationStatus]| {
            task_outcome(&InvocationCounts::from_statuses(statuses.iter().copied()))
        };
        assert_eq!(outcome(&[]), ExecutionStatus::Success);
        assert_eq!(outcome(&[Pending, Pending]), ExecutionStatus::Pending);
        assert_eq!(outcome(&[Pending, Queued]), ExecutionStatus::InProgress);
        assert_eq!(outcome(&[Failed, Pending]), ExecutionStatus::InProgress);
        assert_eq!(outcome(&[Success, Skipped]), ExecutionStatus::Success);
        assert_eq!(outcome(&[Skipped, Skipped]), ExecutionStatus::Skipped);
        assert_eq!(outcome(&[Success, Failed]), ExecutionStatus::Failed);
        assert_eq!(outcome(&[Success, TimedOut]), ExecutionStatus::Failed);
        assert_eq!(outcome(&[Success, NotStarted]), ExecutionStatus::Failed);
        assert_eq!(outcome(&[Cancelled, Failed]), ExecutionStatus::Failed);
        assert_eq!(outcome(&[Success, Cancelled]), ExecutionStatus::Cancelled);
    }
}
