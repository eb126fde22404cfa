//! Executions over HTTP: the history (newest first, per window), one
//! execution with its invocations, cancellation, and Patch Now.
//!
//! Every role reads executions (`ReadWindows`); an app-team operator sees
//! only executions touching nodes of its scope, and only those nodes'
//! invocations. Cancelling a window's execution takes `WriteWindows`, a
//! Patch Now one `PatchNow`; an app-team operator cancels only executions
//! whose every node is in its scope. Patch Now takes `PatchNow` and nodes
//! the caller reaches.

use std::collections::{BTreeSet, HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use patchline_api::executions::{
    ExecutionKind, ExecutionQuery, ExecutionView, InvocationView, PatchNowRequest,
    TaskExecutionView,
};
use patchline_core::orchestration::Limit;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{NodeAccess, Permission, authorize};
use crate::orchestrator::OrchestratorError;
use crate::orchestrator::patch_now::{DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_ERRORS, PatchNowOrder};
use crate::store::executions::{ExecutionRecord, InvocationRecord};
use crate::store::records::{NodeFilter, NodeRecord};

/// Executions a listing returns by default, and at most.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

/// `GET /api/v1/executions[?window=&limit=]`.
pub async fn list_executions(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<ExecutionQuery>,
) -> ApiResult<Json<Vec<ExecutionView>>> {
    let access = authorize(&operator, Permission::ReadWindows)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    // The store applies the scope (the rule of `ScopeFilter::sees`) before
    // the limit, so an app team gets `limit` executions it may see.
    let records = state
        .store
        .list_executions(query.window.as_deref(), access.scope(), limit)
        .await?;
    Ok(Json(views(&state, records, None).await?))
}

/// `GET /api/v1/executions/{id}`: with every invocation.
pub async fn get_execution(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ExecutionView>> {
    let access = authorize(&operator, Permission::ReadWindows)?;
    let scope = ScopeFilter::load(&state, &access).await?;
    let record = visible_execution(&state, &scope, &id).await?;
    one_view(&state, record, &scope).await.map(Json)
}

/// `POST /api/v1/executions/{id}/cancel`: pending and queued invocations
/// are cancelled; the agents running the others are asked to stop them.
pub async fn cancel_execution(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ExecutionView>> {
    let read = authorize(&operator, Permission::ReadWindows)?;
    let scope = ScopeFilter::load(&state, &read).await?;
    let record = visible_execution(&state, &scope, &id).await?;
    let permission = match record.kind {
        ExecutionKind::Scheduled => Permission::WriteWindows,
        ExecutionKind::PatchNow => Permission::PatchNow,
    };
    authorize(&operator, permission)?;
    if !scope.sees_all(&record) {
        return Err(ApiError::forbidden(
            "this execution also runs on nodes outside your scope",
        ));
    }
    let now = state.clock.now();
    let asked_to_stop = state
        .store
        .cancel_execution(&operator.actor, &record.id, now)
        .await?;
    // Their agents' work-cancel long-polls on this server answer now.
    state
        .orchestrator
        .work_signals()
        .notify(asked_to_stop.iter().map(String::as_str));
    state.orchestrator.wake();
    let record = visible_execution(&state, &scope, &id).await?;
    one_view(&state, record, &scope).await.map(Json)
}

/// `POST /api/v1/patch-now`.
pub async fn patch_now(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(request): ApiJson<PatchNowRequest>,
) -> ApiResult<(StatusCode, Json<ExecutionView>)> {
    let access = authorize(&operator, Permission::PatchNow)?;
    let order = validate(&state, &access, &operator, request).await?;
    let id = state
        .orchestrator
        .patch_now(&order)
        .await
        .map_err(orchestrator_error)?;
    let scope = ScopeFilter::load(&state, &access).await?;
    let record = visible_execution(&state, &scope, &id).await?;
    let view = one_view(&state, record, &scope).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Checks a Patch Now request field by field.
async fn validate(
    state: &AppState,
    access: &NodeAccess,
    operator: &Operator,
    request: PatchNowRequest,
) -> ApiResult<PatchNowOrder> {
    if request.nodes.is_empty() {
        return Err(ApiError::invalid("nodes: name at least one node id"));
    }
    let mut seen = BTreeSet::new();
    let mut nodes: Vec<NodeRecord> = Vec::new();
    for id in &request.nodes {
        if !seen.insert(id.as_str()) {
            continue;
        }
        match state.store.node(id).await? {
            Some(node) if access.reaches(&node.tags) => nodes.push(node),
            _ => return Err(ApiError::not_found(format!("nodes: node {id:?} not found"))),
        }
    }
    if let Some(name) = &request.baseline {
        let Some(baseline) = state.store.baseline(name).await? else {
            return Err(ApiError::invalid(format!(
                "baseline: no baseline is named {name:?}"
            )));
        };
        if let Some(node) = nodes
            .iter()
            .find(|node| node.facts.os.family != baseline.os_family)
        {
            return Err(ApiError::invalid(format!(
                "baseline: {name:?} is for {} nodes, node {:?} is {}",
                baseline.os_family, node.id, node.facts.os.family
            )));
        }
    }
    let waive_snapshot = match request.waive_snapshot {
        Some(reason) if reason.trim().is_empty() => {
            return Err(ApiError::invalid(
                "waive_snapshot: give the reason the snapshot step is skipped",
            ));
        }
        Some(_) if request.snapshot_command.is_some() => {
            return Err(ApiError::invalid(
                "snapshot_command: the snapshot step is waived (waive_snapshot)",
            ));
        }
        other => other.map(|reason| reason.trim().to_owned()),
    };
    let max_concurrency = match request.max_concurrency.as_deref() {
        None => DEFAULT_MAX_CONCURRENCY,
        Some(text) => text
            .parse::<Limit>()
            .and_then(Limit::check_concurrency)
            .map_err(|error| ApiError::invalid(format!("max_concurrency: {error}")))?,
    };
    let max_errors = match request.max_errors.as_deref() {
        None => DEFAULT_MAX_ERRORS,
        Some(text) => text
            .parse::<Limit>()
            .map_err(|error| ApiError::invalid(format!("max_errors: {error}")))?,
    };
    if let Limit::Count(count) = max_concurrency {
        let quota = state.config.quotas.max_concurrency_per_task;
        if usize::try_from(count).unwrap_or(usize::MAX) > quota {
            return Err(ApiError::invalid(format!(
                "max_concurrency: {count} is above the quota max_concurrency_per_task = {quota}"
            )));
        }
    }
    Ok(PatchNowOrder {
        nodes,
        baseline: request.baseline,
        reboot: request.reboot,
        snapshot_command: request.snapshot_command,
        waive_snapshot,
        max_concurrency,
        max_errors,
        actor: operator.actor.clone(),
    })
}

fn orchestrator_error(error: OrchestratorError) -> ApiError {
    match error {
        OrchestratorError::Store(error) => error.into(),
        other => ApiError::internal("Patch Now", &other),
    }
}

/// Which nodes an operator's scope reaches (`None`: every node).
struct ScopeFilter {
    nodes: Option<HashSet<String>>,
}

impl ScopeFilter {
    async fn load(state: &AppState, access: &NodeAccess) -> ApiResult<ScopeFilter> {
        let Some(scope) = access.scope() else {
            return Ok(ScopeFilter { nodes: None });
        };
        let filter = NodeFilter {
            scope: Some(scope.clone()),
            ..NodeFilter::default()
        };
        let nodes = state.store.list_nodes(&filter).await?;
        Ok(ScopeFilter {
            nodes: Some(nodes.into_iter().map(|node| node.id).collect()),
        })
    }

    fn reaches(&self, node_id: &str) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.contains(node_id))
    }

    /// Some target of the execution is in scope. The store's listing
    /// (`Store::list_executions` with a scope) applies this same rule.
    fn sees(&self, record: &ExecutionRecord) -> bool {
        self.nodes.is_none()
            || record
                .plan
                .targets
                .iter()
                .any(|target| self.reaches(&target.node_id))
    }

    /// Every target of the execution is in scope.
    fn sees_all(&self, record: &ExecutionRecord) -> bool {
        record
            .plan
            .targets
            .iter()
            .all(|target| self.reaches(&target.node_id))
    }
}

async fn visible_execution(
    state: &AppState,
    scope: &ScopeFilter,
    id: &str,
) -> ApiResult<ExecutionRecord> {
    match state.store.execution(id).await? {
        Some(record) if scope.sees(&record) => Ok(record),
        _ => Err(ApiError::not_found(format!("execution {id:?} not found"))),
    }
}

async fn one_view(
    state: &AppState,
    record: ExecutionRecord,
    scope: &ScopeFilter,
) -> ApiResult<ExecutionView> {
    let mut views = views(state, vec![record], Some(scope)).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::not_found("execution not found"))
}

/// The views of `records`, with the invocations `invocations_in` reaches
/// when given (none otherwise).
async fn views(
    state: &AppState,
    records: Vec<ExecutionRecord>,
    invocations_in: Option<&ScopeFilter>,
) -> ApiResult<Vec<ExecutionView>> {
    let ids: Vec<String> = records.iter().map(|record| record.id.clone()).collect();
    let mut tasks_by_execution: HashMap<String, Vec<_>> = HashMap::new();
    for task in state.store.task_executions(&ids).await? {
        tasks_by_execution
            .entry(task.execution_id.clone())
            .or_default()
            .push(task);
    }
    let counts = state.store.invocation_counts(&ids).await?;
    let mut views = Vec::with_capacity(records.len());
    for record in records {
        let mut invocations: HashMap<usize, Vec<InvocationView>> = HashMap::new();
        if let Some(scope) = invocations_in {
            for invocation in state.store.invocations_of(&record.id).await? {
                if scope.reaches(&invocation.node_id) {
                    invocations
                        .entry(invocation.task_index)
                        .or_default()
                        .push(invocation_view(invocation));
                }
            }
        }
        let tasks = tasks_by_execution
            .remove(&record.id)
            .unwrap_or_default()
            .into_iter()
            .map(|task| TaskExecutionView {
                counts: counts
                    .get(&(record.id.clone(), task.index))
                    .copied()
                    .unwrap_or_default(),
                invocations: invocations.remove(&task.index).unwrap_or_default(),
                task: task.name,
                priority: task.priority,
                status: task.status,
                max_concurrency: task.max_concurrency,
                max_errors: task.max_errors,
                started_at: task.started_at,
                finished_at: task.finished_at,
                detail: task.detail,
            })
            .collect();
        views.push(ExecutionView {
            id: record.id,
            kind: record.kind,
            window: record.window,
            status: record.status,
            scheduled_for: record.scheduled_for,
            last_task_start: record.last_task_start,
            window_end: record.window_end,
            started_at: record.started_at,
            finished_at: record.finished_at,
            detail: record.detail,
            requested_by: record.requested_by,
            tasks,
        });
    }
    Ok(views)
}

fn invocation_view(invocation: InvocationRecord) -> InvocationView {
    InvocationView {
        node_id: invocation.node_id,
        hostname: invocation.hostname,
        zone: invocation.zone,
        status: invocation.status,
        output: invocation.output,
        detail: invocation.detail,
        started_at: invocation.started_at,
        finished_at: invocation.finished_at,
        stop_requested_at: invocation.stop_requested_at,
    }
}
