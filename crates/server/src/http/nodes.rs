//! Nodes as operators see them: listing (within an app-team's scope),
//! one node, its tags, and deletion (which kills its credential).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use patchline_api::nodes::{NodeComplianceSummary, NodeView, SetTagsRequest, tag_keys};
use patchline_core::os::OsFamily;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{NodeAccess, Permission, authorize};
use crate::store::compliance::ComplianceNodeFilter;
use crate::store::records::{BaselineRecord, NodeFilter, NodeRecord, PatchGroup};

/// Longest tag key or value accepted.
const MAX_TAG_CHARS: usize = 256;

/// Refuses empty or over-long tag keys.
pub fn check_tag_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Result<(), ApiError> {
    for key in keys {
        if key.trim().is_empty() {
            return Err(ApiError::invalid("tags: a tag key must not be empty"));
        }
        if key.chars().count() > MAX_TAG_CHARS {
            return Err(ApiError::invalid(format!(
                "tags: key {:?}… is longer than {MAX_TAG_CHARS} characters",
                key.chars().take(32).collect::<String>()
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeQuery {
    /// `Key=Value`: only nodes with this effective tag.
    #[serde(default)]
    tag: Option<String>,
}

/// `GET /api/v1/nodes[?tag=Key=Value]`.
pub async fn list_nodes(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<NodeQuery>,
) -> ApiResult<Json<Vec<NodeView>>> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let tag = match query.tag {
        None => None,
        Some(text) => {
            let (key, value) = text
                .split_once('=')
                .ok_or_else(|| ApiError::invalid("tag: expected Key=Value"))?;
            Some((key.to_string(), value.to_string()))
        }
    };
    let filter = NodeFilter {
        scope: access.scope().cloned(),
        tag,
    };
    let nodes = state.store.list_nodes(&filter).await?;
    let mut summaries: HashMap<String, NodeComplianceSummary> = state
        .store
        .compliance_node_summaries(&ComplianceNodeFilter {
            scope: access.scope().cloned(),
            ..ComplianceNodeFilter::default()
        })
        .await?
        .into_iter()
        .filter_map(|(id, _facts, summary)| summary.map(|summary| (id, summary)))
        .collect();
    let policy = PolicyCatalog::load(&state).await?;
    let views = nodes
        .into_iter()
        .map(|node| {
            let compliance = summaries.remove(&node.id);
            policy.view(node, compliance)
        })
        .collect();
    Ok(Json(views))
}

/// `GET /api/v1/nodes/{id}`; a node outside the caller's scope is a 404.
pub async fn get_node(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<NodeView>> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let node = reachable_node(&state, &access, &id).await?;
    Ok(Json(node_view(&state, node).await?))
}

/// `PUT /api/v1/nodes/{id}/tags`: sets (`"v"`) or removes (`null`) operator
/// tags. App-team operators may not touch their own scope key.
pub async fn set_tags(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<SetTagsRequest>,
) -> ApiResult<Json<NodeView>> {
    let access = authorize(&operator, Permission::TagNodes)?;
    check_tag_keys(request.tags.keys())?;
    if let Some(value) = request
        .tags
        .values()
        .flatten()
        .find(|value| value.chars().count() > MAX_TAG_CHARS)
    {
        return Err(ApiError::invalid(format!(
            "tags: value {:?}… is longer than {MAX_TAG_CHARS} characters",
            value.chars().take(32).collect::<String>()
        )));
    }
    if let Some(key) = access.protected_key()
        && request.tags.contains_key(key)
    {
        return Err(ApiError::forbidden(format!(
            "an app-team operator may not change its scope tag {key:?}"
        )));
    }
    reachable_node(&state, &access, &id).await?;
    let node = state
        .store
        .set_node_tags(&operator.actor, &id, &request.tags)
        .await?;
    if request.tags.contains_key(tag_keys::PATCH_GROUP) {
        // The node may now map to another baseline.
        state.evaluate_node(&id, crate::app::now()).await;
    }
    Ok(Json(node_view(&state, node).await?))
}

/// `DELETE /api/v1/nodes/{id}` (admin): the node's credential dies with it.
pub async fn delete_node(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::DeleteNodes)?;
    state.store.delete_node(&operator.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The node, if it exists and the caller's access reaches it (else 404, so
/// an app-team cannot probe for nodes outside its scope).
async fn reachable_node(state: &AppState, access: &NodeAccess, id: &str) -> ApiResult<NodeRecord> {
    match state.store.node(id).await? {
        Some(node) if access.reaches(&node.tags) => Ok(node),
        _ => Err(ApiError::not_found(format!("node {id:?} not found"))),
    }
}

async fn node_view(state: &AppState, node: NodeRecord) -> ApiResult<NodeView> {
    let compliance = state
        .store
        .node_compliance(&node.id)
        .await?
        .map(|(_key, summary)| summary);
    let policy = PolicyCatalog::load(state).await?;
    Ok(policy.view(node, compliance))
}

/// Patch groups, default baselines and the default patch group, loaded
/// once per request to name each node's group and baseline.
struct PolicyCatalog {
    groups: BTreeMap<String, PatchGroup>,
    defaults: BTreeMap<OsFamily, String>,
    default_group: Option<String>,
}

impl PolicyCatalog {
    async fn load(state: &AppState) -> ApiResult<PolicyCatalog> {
        let groups = state
            .store
            .list_patch_groups()
            .await?
            .into_iter()
            .map(|group| (group.name.clone(), group))
            .collect();
        let defaults = state
            .store
            .list_baselines()
            .await?
            .into_iter()
            .filter(|baseline: &BaselineRecord| baseline.default_for_family)
            .map(|baseline| (baseline.os_family, baseline.name))
            .collect();
        let default_group = state.store.governance_settings().await?.default_patch_group;
        Ok(PolicyCatalog {
            groups,
            defaults,
            default_group,
        })
    }

    fn view(&self, node: NodeRecord, compliance: Option<NodeComplianceSummary>) -> NodeView {
        let family = node.facts.os.family;
        // As compliance resolves it: the tag, else the default group.
        let group = node
            .tags
            .get(tag_keys::PATCH_GROUP)
            .or(self.default_group.as_ref())
            .and_then(|name| self.groups.get(name));
        let baseline = group
            .and_then(|group| group.baselines.get(&family).cloned())
            .or_else(|| self.defaults.get(&family).cloned());
        NodeView {
            id: node.id,
            facts: node.facts,
            tags: node.tags,
            enrolled_at: node.enrolled_at,
            last_checkin_at: node.last_checkin_at,
            inventory_hash: node.inventory_hash,
            patch_group: group.map(|group| group.name.clone()),
            baseline,
            compliance,
        }
    }
}
