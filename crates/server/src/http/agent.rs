//! The agent's check-in: facts, tags and the inventory by content hash.
//!
//! An unknown hash without a body answers `inventory-required` and records
//! nothing; a body whose recomputed hash differs from the announced one is a
//! 400 and stores nothing. The node is always the credential's: the body has
//! no node id (an extra field is refused as unknown). An accepted check-in
//! also records the results of the node's work and hands it its queued
//! work ([`crate::orchestrator::dispatch`]); a node with work is told to
//! check in again within seconds. Between check-ins an idle agent may
//! long-poll `work-ready` ([`work_ready`]) to learn of queued work at once,
//! and while it runs a work item, `work/{id}/cancel` ([`work_cancel`]) to
//! learn that the server wants it stopped.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use patchline_api::checkin::{
    CheckinRequest, CheckinResponse, CheckinStatus, NodeFacts, WORK_READY_DEFAULT_WAIT_SECONDS,
    WORK_READY_MAX_WAIT_SECONDS, WorkCancel, WorkCancelQuery, WorkReady, WorkReadyQuery,
};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::NodePrincipal;
use crate::store::StoreError;
use crate::store::records::CheckinRecord;

/// Facts every node must report.
pub fn check_facts(facts: &NodeFacts) -> Result<(), ApiError> {
    if facts.hostname.trim().is_empty() {
        return Err(ApiError::invalid("facts.hostname: must not be empty"));
    }
    if facts.agent_version.trim().is_empty() {
        return Err(ApiError::invalid("facts.agent_version: must not be empty"));
    }
    Ok(())
}

/// `POST /api/v1/agent/checkin` with the node credential.
pub async fn checkin(
    State(state): State<AppState>,
    node: NodePrincipal,
    ApiJson(request): ApiJson<CheckinRequest>,
) -> ApiResult<Json<CheckinResponse>> {
    let refuse = |error: ApiError| {
        state.metrics.record_checkin("refused");
        error
    };
    check_facts(&request.facts).map_err(refuse)?;
    super::nodes::check_tag_keys(request.tags.keys()).map_err(refuse)?;
    if !request.inventory_hash.is_well_formed() {
        return Err(refuse(ApiError::invalid(
            "inventory_hash: must be 64 lower-case hex digits",
        )));
    }
    match &request.inventory {
        Some(inventory) => {
            let actual = inventory.content_hash();
            if actual != request.inventory_hash {
                return Err(refuse(ApiError::invalid(format!(
                    "inventory_hash: the inventory sent hashes to {actual}, not {}",
                    request.inventory_hash
                ))));
            }
            if inventory.os.family != request.facts.os.family {
                return Err(refuse(ApiError::invalid(
                    "inventory.os: its OS family differs from facts.os",
                )));
            }
            if !state.store.has_inventory(&request.inventory_hash).await? {
                state
                    .store
                    .put_inventory(&request.inventory_hash, inventory)
                    .await?;
                state.metrics.record_inventory_stored();
            }
        }
        None => {
            if !state.store.has_inventory(&request.inventory_hash).await? {
                state.metrics.record_checkin("inventory-required");
                return Ok(Json(CheckinResponse {
                    status: CheckinStatus::InventoryRequired,
                    checkin_interval_seconds: state.config.checkin_interval_seconds(),
                    compliance: None,
                    work: Vec::new(),
                }));
            }
        }
    }
    let now = crate::app::now();
    let record = CheckinRecord {
        facts: request.facts,
        agent_tags: request.tags,
        inventory_hash: request.inventory_hash,
        scanned_at: request.scanned_at,
        now,
    };
    match state.store.record_checkin(&node.id, &record).await {
        Ok(_) => {}
        // Deleted between authentication and now: its credential is dead.
        Err(StoreError::NotFound { .. }) => {
            return Err(refuse(ApiError::unauthorized(
                "this node is no longer enrolled",
            )));
        }
        Err(other) => return Err(other.into()),
    }
    if !request.results.is_empty() {
        tracing::info!(node = %node.id, results = request.results.len(), "work results reported");
    }
    // Results are recorded and queued work handed over before the
    // compliance evaluation, which a failure of cannot undo either.
    let dispatched = state
        .orchestrator
        .checkin(&node.id, &request.results)
        .await
        .map_err(|error| ApiError::internal("the work dispatch (the check-in is saved)", &error))?;
    let compliance = state.evaluate_node(&node.id, now).await;
    state.metrics.record_checkin("accepted");
    let mut checkin_interval_seconds = state.config.checkin_interval_seconds();
    if let Some(sooner) = dispatched.next_checkin {
        // Work for the node: come back soon to collect it or report it.
        let sooner = u32::try_from(sooner.as_secs()).unwrap_or(u32::MAX).max(1);
        checkin_interval_seconds = checkin_interval_seconds.min(sooner);
    }
    Ok(Json(CheckinResponse {
        status: CheckinStatus::Accepted,
        checkin_interval_seconds,
        compliance,
        work: dispatched.work,
    }))
}

/// `GET /api/v1/agent/work-ready?wait=N` with the node credential: `true`
/// as soon as the node has work queued, `false` when `N` seconds (50 by
/// default, 60 at most) passed without any, the server is stopping, or
/// too many agents are waiting already.
pub async fn work_ready(
    State(state): State<AppState>,
    node: NodePrincipal,
    ApiQuery(query): ApiQuery<WorkReadyQuery>,
) -> ApiResult<Json<WorkReady>> {
    let wait = long_poll_wait(query)?;
    let work_ready = state
        .orchestrator
        .wait_for_work(&node.id, wait)
        .await
        .map_err(|error| ApiError::internal("looking for the node's work", &error))?;
    Ok(Json(WorkReady { work_ready }))
}

/// `GET /api/v1/agent/work/{id}/cancel?wait=N` with the node credential:
/// `cancel: true` as soon as the server asked that the node's running work
/// item `id` stop, `false` when `N` seconds (50 by default, 60 at most, 0
/// answering at once) passed without such a request. A 404 when `id` is
/// not a work item of this node (another node's is not told apart).
pub async fn work_cancel(
    State(state): State<AppState>,
    node: NodePrincipal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WorkCancelQuery>,
) -> ApiResult<Json<WorkCancel>> {
    let wait = long_poll_wait(query)?;
    let answer = state
        .orchestrator
        .wait_for_cancel(&node.id, &id, wait)
        .await
        .map_err(|error| ApiError::internal("looking for a stop request", &error))?;
    answer
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no work item {id:?} of this node")))
}

/// The wait of a long-poll query, checked against its maximum.
fn long_poll_wait(query: WorkReadyQuery) -> Result<Duration, ApiError> {
    let wait = query.wait.unwrap_or(WORK_READY_DEFAULT_WAIT_SECONDS);
    if wait > WORK_READY_MAX_WAIT_SECONDS {
        return Err(ApiError::invalid(format!(
            "wait: at most {WORK_READY_MAX_WAIT_SECONDS} seconds, not {wait}"
        )));
    }
    Ok(Duration::from_secs(u64::from(wait)))
}
