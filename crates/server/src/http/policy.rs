//! Baselines and patch groups: read by every operator role (an app-team
//! sees only the groups its nodes are in), written by admin and
//! security-ops. A change re-evaluates the fleet's compliance at
//! once (no rescan) and reports how many nodes that touched.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use patchline_api::baselines::{BaselineVersionView, BaselineView, PutBaselineRequest, PutOutcome};
use patchline_api::groups::PatchGroup;
use patchline_api::nodes::tag_keys;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{NodeAccess, Permission, authorize};
use crate::store::records::NodeFilter;

pub async fn list_baselines(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<BaselineView>>> {
    authorize(&operator, Permission::ReadPolicy)?;
    let baselines = state.store.list_baselines().await?;
    Ok(Json(baselines.iter().map(|record| record.view()).collect()))
}

pub async fn get_baseline(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<BaselineView>> {
    authorize(&operator, Permission::ReadPolicy)?;
    match state.store.baseline(&name).await? {
        Some(record) => Ok(Json(record.view())),
        None => Err(ApiError::not_found(format!("baseline {name:?} not found"))),
    }
}

/// Every version of a baseline, newest first.
pub async fn baseline_versions(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<BaselineVersionView>>> {
    authorize(&operator, Permission::ReadPolicy)?;
    let versions = state.store.baseline_versions(&name).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("baseline {name:?} not found")));
    }
    Ok(Json(
        versions.iter().map(|version| version.view()).collect(),
    ))
}

/// `PUT /api/v1/baselines/{name}`: creates or replaces; identical is a no-op.
pub async fn put_baseline(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<PutBaselineRequest>,
) -> ApiResult<Json<PutOutcome>> {
    authorize(&operator, Permission::WritePolicy)?;
    if request.baseline.name != name {
        return Err(ApiError::invalid(format!(
            "baseline.name: {:?} differs from the name in the path {name:?}",
            request.baseline.name
        )));
    }
    request
        .baseline
        .validate()
        .map_err(|error| ApiError::invalid(format!("baseline: {error}")))?;
    let now = crate::app::now();
    let mut outcome = state
        .store
        .put_baseline(
            &operator.actor,
            &request.baseline,
            request.default_for_family,
            now,
        )
        .await?;
    if outcome.changed {
        outcome.reevaluated_nodes = state.reevaluate_fleet(now).await?;
    }
    Ok(Json(outcome))
}

pub async fn delete_baseline(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::WritePolicy)?;
    state.store.delete_baseline(&operator.actor, &name).await?;
    state.reevaluate_fleet(crate::app::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_patch_groups(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<PatchGroup>>> {
    let access = authorize(&operator, Permission::ReadPolicy)?;
    let groups = state.store.list_patch_groups().await?;
    let visible = visible_groups(&state, &access).await?;
    Ok(Json(
        groups
            .into_iter()
            .filter(|group| {
                visible
                    .as_ref()
                    .is_none_or(|names| names.contains(&group.name))
            })
            .collect(),
    ))
}

pub async fn get_patch_group(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<PatchGroup>> {
    let access = authorize(&operator, Permission::ReadPolicy)?;
    let visible = visible_groups(&state, &access).await?;
    match state.store.patch_group(&name).await? {
        Some(group)
            if visible
                .as_ref()
                .is_none_or(|names| names.contains(&group.name)) =>
        {
            Ok(Json(group))
        }
        _ => Err(ApiError::not_found(format!(
            "patch group {name:?} not found"
        ))),
    }
}

/// The patch groups an app-team operator sees: those its nodes are in
/// (`None`: every group).
async fn visible_groups(
    state: &AppState,
    access: &NodeAccess,
) -> ApiResult<Option<BTreeSet<String>>> {
    let NodeAccess::Scoped(scope) = access else {
        return Ok(None);
    };
    let filter = NodeFilter {
        scope: Some(scope.clone()),
        tag: None,
    };
    let nodes = state.store.list_nodes(&filter).await?;
    Ok(Some(
        nodes
            .into_iter()
            .filter_map(|node| node.tags.get(tag_keys::PATCH_GROUP).cloned())
            .collect(),
    ))
}

/// `PUT /api/v1/patch-groups/{name}`: creates or replaces; identical is a
/// no-op.
pub async fn put_patch_group(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
    ApiJson(group): ApiJson<PatchGroup>,
) -> ApiResult<Json<PutOutcome>> {
    authorize(&operator, Permission::WritePolicy)?;
    if group.name != name {
        return Err(ApiError::invalid(format!(
            "name: {:?} differs from the name in the path {name:?}",
            group.name
        )));
    }
    let now = crate::app::now();
    let mut outcome = state.store.put_patch_group(&operator.actor, &group).await?;
    if outcome.changed {
        outcome.reevaluated_nodes = state.reevaluate_fleet(now).await?;
    }
    Ok(Json(outcome))
}

pub async fn delete_patch_group(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::WritePolicy)?;
    state
        .store
        .delete_patch_group(&operator.actor, &name)
        .await?;
    state.reevaluate_fleet(crate::app::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
