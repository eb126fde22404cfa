//! Operator routes: login, whoami, users and API tokens.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::SignedDuration;
use patchline_api::auth::{
    CreateTokenRequest, CreateUserRequest, LoginRequest, LoginResponse, TokenCreated, TokenView,
    UserView, WhoAmI,
};
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::policy::{Permission, authorize, check_scope_for_role};
use crate::auth::{Operator, secrets};
use crate::store::records::{NewToken, NewUser, TokenKind};

/// Shortest password accepted for a new user.
const MIN_PASSWORD_CHARS: usize = 8;

/// `POST /api/v1/auth/login`: a 12-hour session token for a good password.
/// A bad one is a 401 audited as `login.failed` (never with the password).
pub async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let user = state.store.user(&request.username).await?;
    let stored_hash = user
        .as_ref()
        .map(|user| user.password_hash.clone())
        // An unknown user costs the same argon2 work as a known one, so
        // timing does not reveal which usernames exist.
        .unwrap_or_else(|| dummy_hash().to_string());
    let password = request.password;
    let verified =
        tokio::task::spawn_blocking(move || secrets::verify_password(&password, &stored_hash))
            .await
            .map_err(|error| ApiError::internal("password check", &error))?;
    let user = match user {
        Some(user) if verified => user,
        found => {
            let reason = if found.is_some() {
                "wrong password"
            } else {
                "unknown user"
            };
            state
                .store
                .record_audit(
                    "anonymous",
                    "login.failed",
                    &format!("user:{}", request.username),
                    &json!({ "reason": reason }),
                )
                .await?;
            tracing::info!(username = %request.username, "login failed");
            return Err(ApiError::unauthorized("wrong username or password"));
        }
    };
    let token = secrets::generate_token(secrets::TokenPrefix::Operator);
    let ttl = SignedDuration::try_from(state.config.session_ttl)
        .map_err(|error| ApiError::internal("session lifetime", &error))?;
    let expires_at = crate::app::now()
        .checked_add(ttl)
        .map_err(|error| ApiError::internal("session expiry", &error))?;
    state
        .store
        .insert_token(
            &format!("user:{}", user.username),
            NewToken {
                id: secrets::new_id(),
                name: "session".to_string(),
                token_hash: secrets::token_hash(&token),
                kind: TokenKind::Session,
                subject: user.username.clone(),
                role: user.role,
                scope: user.scope.clone(),
                expires_at: Some(expires_at),
            },
        )
        .await?;
    Ok(Json(LoginResponse {
        token,
        role: user.role,
        scope: user.scope,
        expires_at,
    }))
}

/// An argon2 hash of a random password, computed once, verified against
/// when the username is unknown.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        secrets::hash_password(&secrets::generate_token(secrets::TokenPrefix::Operator))
            .unwrap_or_default()
    })
}

/// `GET /api/v1/auth/whoami`.
pub async fn whoami(operator: Operator) -> Json<WhoAmI> {
    Json(WhoAmI {
        subject: operator.subject,
        role: operator.role,
        scope: operator.scope,
    })
}

pub async fn list_users(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<UserView>>> {
    authorize(&operator, Permission::ReadOperators)?;
    let users = state.store.list_users().await?;
    Ok(Json(users.iter().map(|user| user.view()).collect()))
}

pub async fn create_user(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    authorize(&operator, Permission::ManageOperators)?;
    check_scope_for_role(request.role, request.scope.as_ref())?;
    if request.username.trim().is_empty() {
        return Err(ApiError::invalid("username: must not be empty"));
    }
    if request.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(format!(
            "password: must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|error| ApiError::internal("password hashing", &error))?
        .map_err(|error| ApiError::internal("password hashing", &error))?;
    let user = state
        .store
        .create_user(
            &operator.actor,
            NewUser {
                username: request.username,
                password_hash,
                role: request.role,
                scope: request.scope,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user.view())))
}

pub async fn delete_user(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::ManageOperators)?;
    state.store.delete_user(&operator.actor, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(
    State(state): State<AppState>,
    operator: Operator,
) -> ApiResult<Json<Vec<TokenView>>> {
    authorize(&operator, Permission::ReadOperators)?;
    let tokens = state.store.list_tokens().await?;
    Ok(Json(tokens.iter().map(|token| token.view()).collect()))
}

/// `POST /api/v1/tokens`: an API token bound to a role, shown once.
pub async fn create_token(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(request): ApiJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    authorize(&operator, Permission::ManageOperators)?;
    check_scope_for_role(request.role, request.scope.as_ref())?;
    if request.name.trim().is_empty() {
        return Err(ApiError::invalid("name: must not be empty"));
    }
    let expires_at = match request.expires_in_days {
        None => None,
        Some(0) => return Err(ApiError::invalid("expires_in_days: must be at least 1")),
        Some(days) => Some(
            crate::app::now()
                .checked_add(SignedDuration::from_hours(i64::from(days) * 24))
                .map_err(|_| ApiError::invalid("expires_in_days: too far in the future"))?,
        ),
    };
    let token = secrets::generate_token(secrets::TokenPrefix::Operator);
    let record = state
        .store
        .insert_token(
            &operator.actor,
            NewToken {
                id: secrets::new_id(),
                subject: format!("token:{}", request.name),
                name: request.name,
                token_hash: secrets::token_hash(&token),
                kind: TokenKind::Api,
                role: request.role,
                scope: request.scope,
                expires_at,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: record.id,
            token,
        }),
    ))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&operator, Permission::ManageOperators)?;
    state.store.revoke_token(&operator.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
