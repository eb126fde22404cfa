//! Enrolment secrets (operators) and enrolment itself (agents): a secret is
//! traded for a node id and a node credential, in one store transaction
//! that refuses a revoked, expired or used-up secret and then creates
//! nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use patchline_api::enrolment::{
    CreateEnrolmentSecretRequest, EnrolRequest, EnrolResponse, EnrolmentSecretCreated,
    EnrolmentSecretView,
};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::policy::{Permission, authorize};
use crate::auth::{Operator, secrets};
use crate::store::records::{NewEnrolmentSecret, NewNode};

pub async fn list_secrets(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<EnrolmentSecretView>>> {
    authorize(&operator, Permission::ReadOperators)?;
    Ok(Json(state.store.list_enrolment_secrets().await?))
}

/// `POST /api/v1/enrolment-secrets`: the secret is shown once.
pub async fn create_secret(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(request): ApiJson<CreateEnrolmentSecretRequest>,
) -> ApiResult<(StatusCode, Json<EnrolmentSecretCreated>)> {
    authorize(&operator, Permission::ManageEnrolment)?;
    if request.name.trim().is_empty() {
        return Err(ApiError::invalid("name: must not be empty"));
    }
    if request.max_uses == Some(0) {
        return Err(ApiError::invalid("max_uses: must be at least 1"));
    }
    if request.expires_at.is_some_and(|at| at <= crate::app::now()) {
        return Err(ApiError::invalid("expires_at: must be in the future"));
    }
    super::nodes::check_tag_keys(request.tags.keys())?;
    let secret = secrets::generate_token(secrets::TokenPrefix::Enrolment);
    let id = secrets::new_id();
    state
        .store
        .insert_enrolment_secret(
            &operator.actor,
            NewEnrolmentSecret {
                id: id.clone(),
                name: request.name,
                secret_hash: secrets::token_hash(&secret),
                max_uses: request.max_uses,
                expires_at: request.expires_at,
                tags: request.tags,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrolmentSecretCreated { id, secret }),
    ))
}

pub async fn revoke_secret(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::ManageEnrolment)?;
    state
        .store
        .revoke_enrolment_secret(&operator.actor, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/agent/enrol` (no bearer: the secret is in the body).
pub async fn enrol(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnrolRequest>,
) -> ApiResult<Json<EnrolResponse>> {
    let refused = |state: &AppState, message: &str| {
        state.metrics.record_enrolment("refused");
        ApiError::unauthorized(message.to_string())
    };
    if !secrets::TokenPrefix::Enrolment.matches(&request.secret) {
        return Err(refused(
            &state,
            "enrolment refused: not an enrolment secret",
        ));
    }
    super::agent::check_facts(&request.facts)?;
    super::nodes::check_tag_keys(request.tags.keys())?;
    let credential = secrets::generate_token(secrets::TokenPrefix::Node);
    let node = NewNode {
        id: secrets::new_id(),
        facts: request.facts,
        agent_tags: request.tags,
        credential_hash: secrets::token_hash(&credential),
    };
    let node = match state
        .store
        .enrol_node(
            &secrets::token_hash(&request.secret),
            crate::app::now(),
            node,
        )
        .await
    {
        Ok(node) => node,
        Err(crate::store::StoreError::EnrolmentRefused { reason }) => {
            return Err(refused(&state, &format!("enrolment refused: {reason}")));
        }
        Err(other) => return Err(other.into()),
    };
    crate::governance::apply_on_enrolment(&state, &node.id, crate::app::now()).await;
    state.metrics.record_enrolment("accepted");
    tracing::info!(node = %node.id, hostname = %node.facts.hostname, "node enrolled");
    Ok(Json(EnrolResponse {
        node_id: node.id,
        credential,
        checkin_interval_seconds: state.config.checkin_interval_seconds(),
    }))
}
