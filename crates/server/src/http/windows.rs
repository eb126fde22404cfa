//! Maintenance window definitions: read by every role, written by admin
//! and by app-teams for the windows their scope owns (a window an app-team
//! creates is owned by its scope, so it only ever targets that team's
//! nodes). A PUT is validated field by field (400 naming the field), the
//! quotas refuse with a 409 naming the quota (nothing stored), and the
//! answer carries the planner's warnings. `GET .../plan` is the planner.
//!
//! Target counts and plans are computed over the nodes the caller reaches,
//! at the orchestrator's clock.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use patchline_api::windows::{PutWindowOutcome, WindowPlan, WindowSpec, WindowView};
use patchline_core::os::OsFamily;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{NodeAccess, Permission, authorize, may_write_window};
use crate::governance::planner::{self, Fleet, NEXT_OPENINGS};
use crate::governance::window_check::{WindowRefusal, check_window};
use crate::store::records::{NodeFilter, NodeRecord};
use crate::store::windows::WindowRecord;

/// What views and plans are computed from, read once per request.
struct FleetSnapshot {
    windows: Vec<WindowRecord>,
    nodes: Vec<NodeRecord>,
    default_window: Option<String>,
    baselines: BTreeMap<String, OsFamily>,
    /// The orchestrator's time (simulated in tests), so the openings shown
    /// are those the scheduler will act on.
    now: jiff::Timestamp,
}

impl FleetSnapshot {
    async fn load(state: &AppState, access: &NodeAccess) -> ApiResult<FleetSnapshot> {
        let filter = NodeFilter {
            scope: access.scope().cloned(),
            tag: None,
        };
        let (windows, nodes, settings, baselines) = tokio::try_join!(
            state.store.list_windows(),
            state.store.list_nodes(&filter),
            state.store.governance_settings(),
            state.store.list_baselines(),
        )?;
        Ok(FleetSnapshot {
            windows,
            nodes,
            default_window: settings.default_window,
            baselines: baselines
                .into_iter()
                .map(|baseline| (baseline.name, baseline.os_family))
                .collect(),
            now: state.clock.now(),
        })
    }

    fn fleet(&self) -> Fleet<'_> {
        Fleet {
            windows: &self.windows,
            nodes: &self.nodes,
            default_window: self.default_window.as_deref(),
            baselines: &self.baselines,
            now: self.now,
        }
    }

    fn view(&self, record: &WindowRecord) -> WindowView {
        let fleet = self.fleet();
        WindowView {
            next_openings: planner::next_openings(&record.spec, fleet.now, NEXT_OPENINGS),
            target_count: planner::member_ids(&record.spec, fleet).len() as u64,
            window: record.spec.clone(),
            version: record.version,
            updated_at: record.updated_at,
            updated_by: record.updated_by.clone(),
        }
    }
}

/// `GET /api/v1/windows`: every window, by name.
pub async fn list_windows(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<WindowView>>> {
    let access = authorize(&operator, Permission::ReadWindows)?;
    let snapshot = FleetSnapshot::load(&state, &access).await?;
    Ok(Json(
        snapshot
            .windows
            .iter()
            .map(|record| snapshot.view(record))
            .collect(),
    ))
}

/// `GET /api/v1/windows/{name}`.
pub async fn get_window(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<WindowView>> {
    let access = authorize(&operator, Permission::ReadWindows)?;
    let snapshot = FleetSnapshot::load(&state, &access).await?;
    match snapshot
        .windows
        .iter()
        .find(|record| record.spec.name == name)
    {
        Some(record) => Ok(Json(snapshot.view(record))),
        None => Err(window_not_found(&name)),
    }
}

/// `PUT /api/v1/windows/{name}`: creates or replaces; identical is a no-op.
pub async fn put_window(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
    ApiJson(mut spec): ApiJson<WindowSpec>,
) -> ApiResult<Json<PutWindowOutcome>> {
    let access = authorize(&operator, Permission::WriteWindows)?;
    if spec.name != name {
        return Err(ApiError::invalid(format!(
            "name: {:?} differs from the name in the path {name:?}",
            spec.name
        )));
    }
    if let NodeAccess::Scoped(scope) = &access {
        match &spec.owner {
            None => spec.owner = Some(scope.clone()),
            Some(owner) if owner == scope => {}
            Some(owner) => {
                return Err(ApiError::forbidden(format!(
                    "owner: an app-team operator of scope {}={} may not give a window to \
                     {}={}",
                    scope.key, scope.value, owner.key, owner.value
                )));
            }
        }
    }
    if let Some(stored) = state.store.window(&name).await? {
        check_owner(&access, &stored)?;
    }
    let baselines: BTreeSet<String> = state
        .store
        .list_baselines()
        .await?
        .into_iter()
        .map(|baseline| baseline.name)
        .collect();
    let quotas = state.config.quotas;
    check_window(&spec, &quotas, &baselines).map_err(refusal)?;
    let max_windows = u32::try_from(quotas.max_windows).unwrap_or(u32::MAX);
    let (changed, version) = state
        .store
        .put_window(&operator.actor, &spec, max_windows, crate::app::now())
        .await?;
    let snapshot = FleetSnapshot::load(&state, &access).await?;
    let plan = planner::plan_window(&spec, snapshot.fleet());
    Ok(Json(PutWindowOutcome {
        changed,
        version,
        warnings: planner::put_warnings(&plan),
    }))
}

/// `DELETE /api/v1/windows/{name}`: its past executions stay.
pub async fn delete_window(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let access = authorize(&operator, Permission::WriteWindows)?;
    let Some(stored) = state.store.window(&name).await? else {
        return Err(window_not_found(&name));
    };
    check_owner(&access, &stored)?;
    state
        .store
        .delete_window(&operator.actor, &name, crate::app::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/windows/{name}/plan`: the planner's check of a window.
pub async fn window_plan(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<WindowPlan>> {
    let access = authorize(&operator, Permission::ReadWindows)?;
    let snapshot = FleetSnapshot::load(&state, &access).await?;
    let Some(record) = snapshot
        .windows
        .iter()
        .find(|record| record.spec.name == name)
    else {
        return Err(window_not_found(&name));
    };
    Ok(Json(planner::plan_window(&record.spec, snapshot.fleet())))
}

/// An app-team may change only the windows its own scope owns.
fn check_owner(access: &NodeAccess, stored: &WindowRecord) -> ApiResult<()> {
    if may_write_window(access, stored.spec.owner.as_ref()) {
        return Ok(());
    }
    let owner = match &stored.spec.owner {
        Some(owner) => format!("the scope {}={}", owner.key, owner.value),
        None => "no app-team (admins only)".to_owned(),
    };
    Err(ApiError::forbidden(format!(
        "window {:?} is owned by {owner}: an app-team may change only its own windows",
        stored.spec.name
    )))
}

fn refusal(refusal: WindowRefusal) -> ApiError {
    match refusal {
        WindowRefusal::Invalid { .. } => ApiError::invalid(refusal.to_string()),
        WindowRefusal::Quota { .. } => ApiError::conflict(refusal.to_string()),
    }
}

fn window_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("window {name:?} not found"))
}
