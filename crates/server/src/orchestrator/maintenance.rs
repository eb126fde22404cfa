//! Background maintenance, run by the scheduling round at most once an hour
//! (of the orchestrator's clock): the executions history retention and the
//! purge of ended operator sessions.

use jiff::{SignedDuration, Timestamp};

use super::{Orchestrator, OrchestratorError};

/// How long an expired operator session stays in the tokens table (so a
/// recent one still shows in listings) before the maintenance deletes it.
pub const SESSION_RETENTION: SignedDuration = SignedDuration::from_hours(7 * 24);

/// What one maintenance run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Finished executions past the history retention.
    pub executions: u64,
    /// Operator sessions expired more than [`SESSION_RETENTION`] ago.
    pub sessions: u64,
}

impl Orchestrator {
    /// Runs the maintenance when it is due at `now` (clock time); nothing
    /// otherwise.
    pub(super) async fn maintain(
        &self,
        now: Timestamp,
    ) -> Result<MaintenanceReport, OrchestratorError> {
        let mut report = MaintenanceReport::default();
        if !self.maintenance_due(now) {
            return Ok(report);
        }
        let store = &self.inner.store;
        if let Some(retention) = self.inner.settings.history_retention
            && let Ok(retention) = SignedDuration::try_from(retention)
            && let Ok(before) = now.checked_sub(retention)
        {
            report.executions = store.purge_executions(before).await?;
        }
        // Sessions expire on the wall clock (login sets the expiry, a
        // request checks it), not on the orchestrator's clock, which tests
        // move freely: the cutoff is taken on the same wall clock.
        if let Ok(before) = crate::app::now().checked_sub(SESSION_RETENTION) {
            report.sessions = store.purge_sessions(before).await?;
            if report.sessions > 0 {
                tracing::info!(
                    sessions = report.sessions,
                    retention_days = SESSION_RETENTION.as_hours() / 24,
                    "deleted expired operator sessions past their retention"
                );
            }
        }
        Ok(report)
    }

    /// Whether the maintenance should run now: at most once an hour (of the
    /// clock), not at every round.
    fn maintenance_due(&self, now: Timestamp) -> bool {
        let mut last = self
            .inner
            .last_purge
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|last| {
            now < last || now.duration_since(last) >= SignedDuration::from_hours(1)
        });
        if due {
            *last = Some(now);
        }
        due
    }
}
