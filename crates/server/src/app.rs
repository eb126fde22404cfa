//! The state every handler shares: the store, the compliance engine, the
//! orchestrator and its clock, the configuration and the metrics, and the
//! two engine calls handlers make.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use patchline_api::nodes::NodeComplianceSummary;

use crate::compliance::ComplianceEngine;
use crate::config::ServerConfig;
use crate::http::error::ApiError;
use crate::orchestrator::clock::{SharedClock, SystemClock};
use crate::orchestrator::{Orchestrator, OrchestratorSettings};
use crate::store::Store;
use crate::telemetry::Metrics;

/// The current time at the store's precision (milliseconds), so what a
/// handler answers equals what a later read of the store returns.
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: ComplianceEngine,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// The orchestrator's time (a manual clock in tests).
    pub clock: SharedClock,
    pub orchestrator: Orchestrator,
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig) -> AppState {
        AppState::with_clock(store, config, Arc::new(SystemClock))
    }

    /// The state with the orchestrator running on `clock`.
    pub fn with_clock(store: Store, config: ServerConfig, clock: SharedClock) -> AppState {
        let engine = ComplianceEngine::new(store.clone());
        let orchestrator = Orchestrator::new(
            store.clone(),
            engine.clone(),
            Arc::clone(&clock),
            OrchestratorSettings {
                quotas: config.quotas,
                scheduler_interval: config.scheduler_interval,
                checkin_interval: config.checkin_interval,
                history_retention: config.execution_retention,
                work_ready_recheck: config.work_ready_recheck,
                work_ready_waiters: config.work_ready_waiters,
            },
        );
        AppState {
            engine,
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            clock,
            orchestrator,
        }
    }

    /// Evaluates one node after its check-in or a tag change; `None` when
    /// it has sent no inventory yet, or when the evaluation failed: the
    /// check-in or tag change is already stored, so the failure (a server
    /// problem, logged here) must not make the caller resend it.
    pub async fn evaluate_node(
        &self,
        node_id: &str,
        now: Timestamp,
    ) -> Option<NodeComplianceSummary> {
        match self.engine.evaluate_node(node_id, now).await {
            Ok(summary) => {
                self.metrics.record_node_evaluation();
                summary
            }
            Err(error) => {
                tracing::error!(node = %node_id, %error, "compliance evaluation failed");
                None
            }
        }
    }

    /// Re-evaluates the fleet after a policy change; the number of nodes
    /// re-evaluated.
    pub async fn reevaluate_fleet(&self, now: Timestamp) -> Result<u64, ApiError> {
        let started = Instant::now();
        let stats = self.engine.reevaluate_fleet(now).await.map_err(|error| {
            ApiError::internal(
                "the fleet compliance re-evaluation (the change itself is saved)",
                &error,
            )
        })?;
        self.metrics.record_fleet_reevaluation(started.elapsed());
        Ok(stats.nodes)
    }
}
