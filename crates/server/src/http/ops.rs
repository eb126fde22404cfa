//! Operational endpoints without authentication: `/healthz` (the database
//! answers), `/metrics` (Prometheus text), the audit log reader, and the
//! request metrics middleware.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use patchline_api::audit::AuditEntry;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::ApiQuery;
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{Permission, authorize};
use crate::telemetry::Gauges;

/// Entries per audit page when `limit` is not given.
const DEFAULT_AUDIT_PAGE: u32 = 100;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}

/// `GET /healthz`: 200 when the database answers, else 503.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(state.store.pool()).await {
        Ok(_) => Json(Health {
            status: "ok".to_string(),
        })
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: the database does not answer");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "the database does not answer",
            )
            .into_response()
        }
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let nodes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nodes")
        .fetch_one(state.store.pool())
        .await
        .map_err(|error| ApiError::internal("counting nodes", &error))?;
    let text = state.metrics.render(&Gauges {
        nodes: u64::try_from(nodes).unwrap_or(0),
    });
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/audit[?after=<id>&limit=<n>]` (admin, auditor).
pub async fn audit(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    authorize(&operator, Permission::ReadAudit)?;
    let entries = state
        .store
        .list_audit(query.after, query.limit.unwrap_or(DEFAULT_AUDIT_PAGE))
        .await?;
    Ok(Json(entries))
}

/// Counts each request by method, route template and status, and its
/// latency by route, and logs it.
pub async fn record_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .record_request(&method, &route, status, elapsed);
    // The access log: one structured line per request (no query string,
    // no headers: they may carry tokens).
    tracing::info!(
        target: "patchline::access",
        %method,
        %route,
        status,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}
