//! The compliance reports (`/api/v1/compliance/*`): summaries by a
//! dimension, nodes, one node's package lines, patches across the fleet
//! and history. Every listing answers JSON (the `patchline_api` types) or,
//! with `?format=csv`, a CSV file. An app-team operator sees only nodes
//! carrying its scope tag.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::{Timestamp, ToSpan};
use patchline_api::compliance::{
    NodeComplianceDetail, NodeComplianceRow, PatchComplianceRow, SummaryBy,
};
use patchline_api::routes;
use patchline_core::compliance::{ComplianceStatus, utc_day};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::Operator;
use crate::auth::policy::{Permission, authorize};
use crate::compliance::report::{aggregate_patches, fold_history, fold_summaries};
use crate::compliance::{ComplianceError, csv_export};
use crate::store::compliance::ComplianceNodeFilter;

/// The longest history one request returns, in days.
pub const MAX_HISTORY_DAYS: u32 = 400;
/// History days when `?days=` is absent.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::COMPLIANCE_SUMMARY, get(summary))
        .route(routes::COMPLIANCE_NODES, get(nodes))
        .route(routes::COMPLIANCE_NODE, get(node))
        .route(routes::COMPLIANCE_PATCHES, get(patches))
        .route(routes::COMPLIANCE_HISTORY, get(history))
}

/// `?format=`: JSON unless `csv`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

/// `?status=` of the node listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusParam {
    Compliant,
    NonCompliant,
    Unreported,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    by: Option<SummaryBy>,
    #[serde(default)]
    format: Format,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodesQuery {
    status: Option<StatusParam>,
    baseline: Option<String>,
    #[serde(default)]
    format: Format,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatQuery {
    #[serde(default)]
    format: Format,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    days: Option<u32>,
    by: Option<SummaryBy>,
    #[serde(default)]
    format: Format,
}

fn engine_error(error: ComplianceError) -> ApiError {
    match error {
        ComplianceError::Store(error) => error.into(),
        other => ApiError::internal("compliance report", &other),
    }
}

/// The rows as JSON, or as a CSV attachment named `name.csv`.
fn answer<T: Serialize>(
    format: Format,
    name: &str,
    rows: &T,
    csv: impl FnOnce(&T) -> Result<Vec<u8>, csv::Error>,
) -> ApiResult<Response> {
    match format {
        Format::Json => Ok(Json(rows).into_response()),
        Format::Csv => {
            let body = csv(rows).map_err(|error| ApiError::internal("CSV export", &error))?;
            Ok((
                [
                    (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}.csv\""),
                    ),
                ],
                body,
            )
                .into_response())
        }
    }
}

async fn summary(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Response> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let by = query.by.unwrap_or(SummaryBy::PatchGroup);
    let counts = state
        .engine
        .status_counts(by, access.scope())
        .await
        .map_err(engine_error)?;
    let lines = fold_summaries(counts);
    answer(
        query.format,
        &format!("compliance-by-{}", by.as_str()),
        &lines,
        |lines| csv_export::summaries(lines),
    )
}

async fn nodes(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<NodesQuery>,
) -> ApiResult<Response> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let filter = ComplianceNodeFilter {
        scope: access.scope().cloned(),
        status: query.status.map(|status| match status {
            StatusParam::Compliant => Some(ComplianceStatus::Compliant),
            StatusParam::NonCompliant => Some(ComplianceStatus::NonCompliant),
            StatusParam::Unreported => None,
        }),
        baseline: query.baseline,
    };
    let rows: Vec<NodeComplianceRow> = state
        .store
        .compliance_node_summaries(&filter)
        .await?
        .into_iter()
        .map(|(node_id, hostname, compliance)| NodeComplianceRow {
            node_id,
            hostname,
            compliance,
        })
        .collect();
    answer(query.format, "compliance-nodes", &rows, |rows| {
        csv_export::nodes(rows)
    })
}

async fn node(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<FormatQuery>,
) -> ApiResult<Response> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let not_found = || ApiError::not_found(format!("node {id} not found"));
    // Out-of-scope nodes answer exactly like missing ones.
    let record = state.store.node(&id).await?.ok_or_else(not_found)?;
    if !access.reaches(&record.tags) {
        return Err(not_found());
    }
    let no_result = || {
        ApiError::not_found(format!(
            "node {id} has no compliance result yet (no inventory)"
        ))
    };
    let (key, summary) = state
        .store
        .node_compliance(&id)
        .await?
        .ok_or_else(no_result)?;
    let report = state
        .engine
        .report(&key)
        .await
        .map_err(engine_error)?
        .ok_or_else(no_result)?;
    let detail = NodeComplianceDetail {
        node_id: record.id,
        hostname: record.facts.hostname,
        summary,
        packages: report.packages,
        to_install: report.to_install,
    };
    answer(
        query.format,
        &format!("compliance-node-{id}"),
        &detail,
        csv_export::node_detail,
    )
}

async fn patches(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<FormatQuery>,
) -> ApiResult<Response> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let weights = state.store.compliance_patch_weights(access.scope()).await?;
    let rows: Vec<PatchComplianceRow> =
        aggregate_patches(weights.iter().map(|(lines, nodes)| (&lines[..], *nodes)));
    answer(query.format, "compliance-patches", &rows, |rows| {
        csv_export::patches(rows)
    })
}

async fn history(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Response> {
    let access = authorize(&operator, Permission::ReadNodes)?;
    let days = query.days.unwrap_or(DEFAULT_HISTORY_DAYS);
    if days == 0 || days > MAX_HISTORY_DAYS {
        return Err(ApiError::invalid(format!(
            "days: expected 1 to {MAX_HISTORY_DAYS}, got {days}"
        )));
    }
    let by = query.by.unwrap_or(SummaryBy::PatchGroup);
    let today = utc_day(Timestamp::now());
    let since = today
        .checked_sub((i64::from(days) - 1).days())
        .map_err(|error| ApiError::invalid(format!("days: {error}")))?;
    let counts = state
        .store
        .compliance_history_counts(since, by, access.scope())
        .await?;
    let points = fold_history(counts);
    answer(
        query.format,
        &format!("compliance-history-by-{}", by.as_str()),
        &points,
        |points| csv_export::history(points),
    )
}
