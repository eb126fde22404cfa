//! Opt-out governance over HTTP: tagging rules, the governance settings
//! (default window, default patch group) and the quotas in force. Every
//! role reads them; admin and security-ops write them. A change that moves
//! node tags or the default patch group re-evaluates the fleet's
//! compliance at once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use patchline_api::governance::{GovernanceSettings, QuotasView, TaggingRuleView};
use patchline_core::orchestration::{CompiledRules, TaggingRule};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{NodeAccess, Permission, authorize};
use crate::store::governance::rule_facts;
use crate::store::records::{NodeFilter, NodeRecord};

/// Longest tag value a rule may set (as for operator tags).
const MAX_TAG_VALUE_CHARS: usize = 256;

/// `GET /api/v1/tagging-rules`: the rules in the order they apply.
pub async fn list_tagging_rules(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<TaggingRuleView>>> {
    let access = authorize(&operator, Permission::ReadPolicy)?;
    let (rules, nodes) = tokio::try_join!(
        state.store.tagging_rules(),
        reachable_nodes(&state, &access)
    )?;
    Ok(Json(
        rules
            .into_iter()
            .map(|rule| rule_view(rule, &nodes))
            .collect(),
    ))
}

/// `PUT /api/v1/tagging-rules/{name}`: creates or replaces a rule and
/// re-applies the rules to every node.
pub async fn put_tagging_rule(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
    ApiJson(rule): ApiJson<TaggingRule>,
) -> ApiResult<Json<TaggingRuleView>> {
    let access = authorize(&operator, Permission::WriteGovernance)?;
    if rule.name != name {
        return Err(ApiError::invalid(format!(
            "name: {:?} differs from the name in the path {name:?}",
            rule.name
        )));
    }
    rule.validate()
        .map_err(|error| ApiError::invalid(error.to_string()))?;
    super::nodes::check_tag_keys(rule.set.keys())?;
    if let Some((key, _)) = rule.set.iter().find(|(_, value)| {
        value.chars().count() > MAX_TAG_VALUE_CHARS || value.chars().any(char::is_control)
    }) {
        return Err(ApiError::invalid(format!(
            "set.{key}: a value holds control characters or is longer than \
             {MAX_TAG_VALUE_CHARS} characters"
        )));
    }
    let now = crate::app::now();
    let change = state
        .store
        .put_tagging_rule(&operator.actor, &rule, now)
        .await?;
    if change.retagged_nodes > 0 {
        // A rule may have set a node's `Patch Group`.
        state.reevaluate_fleet(now).await?;
    }
    let nodes = reachable_nodes(&state, &access).await?;
    Ok(Json(rule_view(rule, &nodes)))
}

/// `DELETE /api/v1/tagging-rules/{name}`: the tags it set go (unless
/// another rule sets them).
pub async fn delete_tagging_rule(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::WriteGovernance)?;
    let now = crate::app::now();
    let retagged = state
        .store
        .delete_tagging_rule(&operator.actor, &name, now)
        .await?;
    if retagged > 0 {
        state.reevaluate_fleet(now).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/settings/governance`.
pub async fn get_governance(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<GovernanceSettings>> {
    authorize(&operator, Permission::ReadPolicy)?;
    Ok(Json(state.store.governance_settings().await?))
}

/// `PUT /api/v1/settings/governance`: both defaults at once (a missing one
/// is unset). A changed default patch group re-evaluates the fleet.
pub async fn put_governance(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(settings): ApiJson<GovernanceSettings>,
) -> ApiResult<Json<GovernanceSettings>> {
    authorize(&operator, Permission::WriteGovernance)?;
    for (field, value) in [
        ("default_window", &settings.default_window),
        ("default_patch_group", &settings.default_patch_group),
    ] {
        if value.as_deref().is_some_and(|name| name.trim().is_empty()) {
            return Err(ApiError::invalid(format!(
                "{field}: must not be empty (leave it out for none)"
            )));
        }
    }
    let now = crate::app::now();
    let before = state.store.governance_settings().await?;
    let changed = state
        .store
        .put_governance_settings(&operator.actor, &settings, now)
        .await?;
    if changed && before.default_patch_group != settings.default_patch_group {
        state.reevaluate_fleet(now).await?;
    }
    Ok(Json(state.store.governance_settings().await?))
}

/// `GET /api/v1/settings/quotas`: the quotas in force (server options).
pub async fn get_quotas(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<QuotasView>> {
    authorize(&operator, Permission::ReadPolicy)?;
    Ok(Json(QuotasView {
        quotas: state.config.quotas,
    }))
}

async fn reachable_nodes(
    state: &AppState,
    access: &NodeAccess,
) -> Result<Vec<NodeRecord>, crate::store::StoreError> {
    let filter = NodeFilter {
        scope: access.scope().cloned(),
        tag: None,
    };
    state.store.list_nodes(&filter).await
}

/// A rule with the number of `nodes` it matches now.
fn rule_view(rule: TaggingRule, nodes: &[NodeRecord]) -> TaggingRuleView {
    let compiled = CompiledRules::new(std::slice::from_ref(&rule));
    let matching_nodes = nodes
        .iter()
        .filter(|node| compiled.match_any(&rule_facts(&node.facts)))
        .count() as u64;
    TaggingRuleView {
        rule,
        matching_nodes,
    }
}
