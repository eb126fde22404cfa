//! Authentication: who a request comes from, read from its
//! `Authorization: Bearer` token, and the permission rules in [`policy`].
//!
//! Operator tokens (`plo_`) and node credentials (`pln_`) are looked up by
//! their SHA-256; anything else, an unknown, revoked or expired token is a
//! 401. A route for operators refuses a node (403) and the agent routes
//! refuse operators (403), so neither credential opens the other's door.

pub mod bootstrap;
pub mod policy;
pub mod secrets;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;
use patchline_api::auth::{Role, TagScope};

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::store::records::TokenKind;
use secrets::TokenPrefix;

/// An operator as authenticated by a session or API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The username, or `token:<name>` for an API token (what whoami shows).
    pub subject: String,
    /// How the audit log names it: `user:<name>` or `token:<name>`.
    pub actor: String,
    pub role: Role,
    pub scope: Option<TagScope>,
}

/// Whoever sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator(Operator),
    /// An enrolled node; its id comes from its credential, never a body.
    Node {
        id: String,
    },
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        authenticate(state, token).await
    }
}

/// The text after `Bearer ` in the Authorization header.
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <token>",
        ));
    }
    Ok(token.trim())
}

/// Resolves a bearer token to its principal.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized("invalid, expired or revoked token");
    if TokenPrefix::Operator.matches(token) {
        let record = state
            .store
            .token_by_hash(&secrets::token_hash(token))
            .await
            .map_err(|error| ApiError::internal("token lookup", &error))?
            .ok_or_else(invalid)?;
        if !record.is_usable(Timestamp::now()) {
            return Err(invalid());
        }
        let actor = match record.kind {
            TokenKind::Session => format!("user:{}", record.subject),
            TokenKind::Api => record.subject.clone(),
        };
        Ok(Principal::Operator(Operator {
            subject: record.subject,
            actor,
            role: record.role,
            scope: record.scope,
        }))
    } else if TokenPrefix::Node.matches(token) {
        let id = state
            .store
            .node_id_by_credential(&secrets::token_hash(token))
            .await
            .map_err(|error| ApiError::internal("credential lookup", &error))?
            .ok_or_else(invalid)?;
        Ok(Principal::Node { id })
    } else {
        Err(invalid())
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    /// An operator, or 403 for a node credential.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Operator(operator) => Ok(operator),
            Principal::Node { .. } => Err(ApiError::forbidden(
                "a node credential may only enrol and check in",
            )),
        }
    }
}

/// The node a request comes from (agent routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePrincipal {
    pub id: String,
}

impl FromRequestParts<AppState> for NodePrincipal {
    type Rejection = ApiError;

    /// A node, or 403 for an operator token.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Node { id } => Ok(NodePrincipal { id }),
            Principal::Operator(_) => Err(ApiError::forbidden(
                "agent routes take a node credential, not an operator token",
            )),
        }
    }
}
