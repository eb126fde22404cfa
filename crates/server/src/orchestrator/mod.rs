//! The orchestrator: maintenance-window executions, Patch Now, and the
//! work handed to agents at check-in.
//!
//! All of its state lives in the store. A scheduling round
//! ([`Orchestrator::tick`]) reads the store, decides with the pure
//! functions of `patchline_core::orchestration` and [`runner`], and writes
//! each transition with a conditional UPDATE, so a restarted server resumes
//! where the last one stopped and two servers on one database never make
//! the same transition twice. Agents pull: an invocation reaches its node
//! as a `Work` item of a check-in answer ([`dispatch`]), handed over by one
//! conditional queued → in-progress update, so it is delivered at most
//! once; its result comes back in a later check-in.

pub mod clock;
pub mod dispatch;
pub mod maintenance;
pub mod patch_now;
pub mod plan;
pub mod runner;
pub mod scheduler;
pub mod targets;
pub mod work_cancel;
pub mod work_ready;

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use patchline_core::orchestration::Quotas;
use tokio::sync::Notify;

use crate::compliance::{ComplianceEngine, ComplianceError};
use crate::store::{Store, StoreError};
use clock::SharedClock;
use work_ready::WorkSignals;

/// Why a scheduling round or a dispatch failed.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("resolving a baseline: {0}")]
    Compliance(#[from] ComplianceError),
}

/// The orchestrator's settings (from the server configuration).
#[derive(Debug, Clone)]
pub struct OrchestratorSettings {
    pub quotas: Quotas,
    /// How often the background loop runs a round; zero: never (tests call
    /// [`Orchestrator::tick`] themselves).
    pub scheduler_interval: Duration,
    /// The normal check-in interval: a result may take that long to come
    /// back after the work is done, so deadlines allow twice that.
    pub checkin_interval: Duration,
    /// Finished executions older than this are deleted; `None` keeps all.
    pub history_retention: Option<Duration>,
    /// How often a work-ready waiter looks at the store on its own (work
    /// queued by another server does not wake it).
    pub work_ready_recheck: Duration,
    /// At most this many work-ready waiters at once.
    pub work_ready_waiters: usize,
}

/// How often a node with work queued or running is told to check in.
pub const BUSY_CHECKIN_INTERVAL: Duration = Duration::from_secs(5);
/// How often a node whose work waits for its turn (pending) is told to
/// check in: soon enough to collect it quickly once released, without a
/// whole window's fleet calling every few seconds.
pub const WAITING_CHECKIN_INTERVAL: Duration = Duration::from_secs(30);

/// The orchestrator of one server; cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    engine: ComplianceEngine,
    clock: SharedClock,
    settings: OrchestratorSettings,
    /// Names this server in execution leases.
    instance: String,
    /// Wakes the background loop (a check-in reported results).
    wake: Notify,
    /// When the maintenance (history retention, session purge) last ran
    /// (clock time).
    last_purge: std::sync::Mutex<Option<jiff::Timestamp>>,
    /// Wakes the work-ready waiters of nodes whose work was queued.
    signals: WorkSignals,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("instance", &self.inner.instance)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    pub fn new(
        store: Store,
        engine: ComplianceEngine,
        clock: SharedClock,
        settings: OrchestratorSettings,
    ) -> Orchestrator {
        Orchestrator {
            inner: Arc::new(Inner {
                store,
                engine,
                clock,
                instance: format!("server-{}", uuid::Uuid::new_v4().simple()),
                wake: Notify::new(),
                last_purge: std::sync::Mutex::new(None),
                signals: WorkSignals::new(settings.work_ready_waiters),
                settings,
            }),
        }
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub fn settings(&self) -> &OrchestratorSettings {
        &self.inner.settings
    }

    /// This server's name in execution leases.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Asks the background loop for a round now (results came in).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// How long an execution's lease lasts: a few rounds, and at least
    /// 30 s, so a server that died hands its executions over soon.
    fn lease(&self) -> SignedDuration {
        let rounds = self.inner.settings.scheduler_interval.saturating_mul(3);
        SignedDuration::try_from(rounds.max(Duration::from_secs(30)))
            .unwrap_or(SignedDuration::from_secs(30))
    }

    /// Time for a result to come back after the task's own timeout.
    fn result_grace(&self) -> SignedDuration {
        let twice = self.inner.settings.checkin_interval.saturating_mul(2);
        SignedDuration::try_from(twice.max(Duration::from_secs(60)))
            .unwrap_or(SignedDuration::from_secs(60))
    }

    /// Runs rounds every `scheduler_interval` (and when woken) until the
    /// returned handle is aborted; `None` when the interval is zero.
    pub fn spawn_loop(&self) -> Option<tokio::task::JoinHandle<()>> {
        let interval = self.inner.settings.scheduler_interval;
        if interval.is_zero() {
            return None;
        }
        let orchestrator = self.clone();
        Some(tokio::spawn(async move {
            loop {
                if let Err(error) = orchestrator.tick().await {
                    tracing::error!(%error, "a scheduling round failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = orchestrator.inner.wake.notified() => {}
                }
            }
        }))
    }

    /// Gives up this server's leases (a clean stop), so another server
    /// takes its executions over at once.
    pub async fn release_leases(&self) -> Result<u64, OrchestratorError> {
        Ok(self
            .inner
            .store
            .release_leases(&self.inner.instance)
            .await?)
    }
}
