//! Compliance tables (migration 0100): the shared result of each distinct
//! evaluation, every node's summary pointing at one, and a per-day history.
//! Fleet-wide writes are multi-row statements in one transaction, and every
//! report is one grouped query, so neither grows in round trips with nodes.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use patchline_api::auth::TagScope;
use patchline_api::checkin::Inventory;
use patchline_api::compliance::SummaryBy;
use patchline_api::nodes::{NodeComplianceSummary, tag_keys};
use patchline_core::baseline::ComplianceLevel;
use patchline_core::compliance::{ComplianceStatus, LevelCounts, NodeCompliance, StateCounts};
use patchline_core::os::OsFamily;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::governance::governance_settings_in;
use super::{Result, Store, StoreError, from_json, millis, parse_text, timestamp, to_json};
use crate::compliance::codec::{self, CodecError, PatchLine, Report};
use crate::compliance::key::EvaluationKey;
use crate::compliance::report::{DayCount, NO_VALUE, StatusCount};

/// Bound parameters per multi-row statement. Far below SQLite's 32,766
/// limit on purpose: SQLite finds a numbered parameter (`$N`) by a linear
/// scan of the statement's parameters, so binding costs grow with the square
/// of their number (1,000 rows of 12 columns took 0.4 s in one statement,
/// a few ms in chunks of this size; measured in the compliance bench).
const MAX_PARAMETERS: usize = 480;

/// The values that group nodes in reports, as the node has them now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupingTags {
    /// The `Patch Group` tag as read from the store; in a history row, the
    /// effective group (the tag, else the default patch group in force:
    /// the compliance engine fills it from its cached policy, so a
    /// check-in reads no governance settings).
    pub patch_group: Option<String>,
    pub environment: Option<String>,
    pub zone: Option<String>,
    pub application: Option<String>,
}

/// What the engine needs of a node, read for the whole fleet in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetNode {
    pub id: String,
    pub inventory_hash: Option<String>,
    pub scanned_at: Option<Timestamp>,
    pub tags: GroupingTags,
    /// The distinct result the node's stored summary points at, if any.
    pub current: Option<EvaluationKey>,
}

/// The summary part of an evaluation result (what node rows copy), with
/// its stored text encoded once per distinct result, not once per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSummary {
    pub status: ComplianceStatus,
    pub severity: Option<ComplianceLevel>,
    pub state_counts: StateCounts,
    pub level_counts: LevelCounts,
    pub evaluated_at: Timestamp,
}

impl ResultSummary {
    pub fn of(result: &NodeCompliance<'_>, evaluated_at: Timestamp) -> ResultSummary {
        ResultSummary {
            status: result.status,
            severity: result.severity,
            state_counts: result.state_counts,
            level_counts: result.non_compliant_levels,
            evaluated_at,
        }
    }

    /// The node summary for a node scanned at `scanned_at`.
    pub fn for_node(&self, key: &EvaluationKey, scanned_at: Timestamp) -> NodeComplianceSummary {
        NodeComplianceSummary {
            status: self.status,
            severity: self.severity,
            state_counts: self.state_counts,
            non_compliant_levels: self.level_counts,
            baseline: key.baseline.clone(),
            baseline_version: key.baseline_version,
            scanned_at,
            evaluated_at: self.evaluated_at,
        }
    }
}

/// A new distinct result to store, its texts already encoded (by the
/// evaluation workers, in parallel).
#[derive(Debug, Clone)]
pub struct NewResult {
    pub key: EvaluationKey,
    pub summary: ResultSummary,
    /// [`codec::encode_patch_lines`] of its patch lines.
    pub patches: String,
    /// [`codec::encode_report`] of the result.
    pub report: String,
}

/// A node's summary row.
#[derive(Debug, Clone)]
pub struct NodeResultRow {
    pub node_id: String,
    pub key: EvaluationKey,
    pub os_family: OsFamily,
    pub summary: Arc<ResultSummary>,
    pub scanned_at: Timestamp,
}

/// A node's history row for one day; `status: None` is unreported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub day: Date,
    pub node_id: String,
    pub status: Option<ComplianceStatus>,
    pub severity: Option<ComplianceLevel>,
    pub baseline: Option<String>,
    pub os_family: Option<OsFamily>,
    pub tags: GroupingTags,
}

/// Everything one evaluation writes, committed together.
#[derive(Debug, Clone, Default)]
pub struct ComplianceWrite {
    pub results: Vec<NewResult>,
    pub nodes: Vec<NodeResultRow>,
    /// Nodes that no longer have a summary (no inventory, no baseline).
    pub cleared_nodes: Vec<String>,
    pub history: Vec<HistoryRow>,
    /// Fleet-wide: also drop summaries of deleted nodes and results no
    /// summary points at.
    pub prune: bool,
}

/// Which nodes a listing covers.
#[derive(Debug, Clone, Default)]
pub struct ComplianceNodeFilter {
    pub scope: Option<TagScope>,
    /// `None`: any; `Some(None)`: unreported; `Some(Some(status))`.
    pub status: Option<Option<ComplianceStatus>>,
    pub baseline: Option<String>,
}

pub(crate) fn status_text(status: ComplianceStatus) -> &'static str {
    match status {
        ComplianceStatus::Compliant => "compliant",
        ComplianceStatus::NonCompliant => "non-compliant",
    }
}

pub(crate) fn parse_status(text: &str) -> Result<ComplianceStatus> {
    match text {
        "compliant" => Ok(ComplianceStatus::Compliant),
        "non-compliant" => Ok(ComplianceStatus::NonCompliant),
        other => Err(StoreError::Corrupt {
            what: "compliance status".into(),
            reason: format!("unknown status {other:?}"),
        }),
    }
}

fn parse_level(text: &str) -> Result<ComplianceLevel> {
    ComplianceLevel::ALL
        .into_iter()
        .find(|level| level.as_str() == text)
        .ok_or_else(|| StoreError::Corrupt {
            what: "compliance level".into(),
            reason: format!("unknown level {text:?}"),
        })
}

pub(crate) fn optional_level(text: Option<String>) -> Result<Option<ComplianceLevel>> {
    text.as_deref().map(parse_level).transpose()
}

fn parse_day(text: &str) -> Result<Date> {
    text.parse()
        .map_err(|error: jiff::Error| StoreError::Corrupt {
            what: "compliance day".into(),
            reason: error.to_string(),
        })
}

fn corrupt_result(key: &EvaluationKey, error: CodecError) -> StoreError {
    StoreError::Corrupt {
        what: format!(
            "compliance result of inventory {} against {} v{} on {}",
            key.inventory_hash, key.baseline, key.baseline_version, key.day
        ),
        reason: error.to_string(),
    }
}

/// Decodes a stored inventory body (see [`Store::inventory_bodies`]); the
/// same encodings as [`Store::inventory`] reads.
pub fn decode_inventory(hash: &str, encoding: &str, body: &str) -> Result<Inventory> {
    let what = format!("inventory {hash}");
    match encoding {
        "json" => from_json(body, &what),
        other => Err(StoreError::Corrupt {
            what,
            reason: format!("unknown encoding {other:?}"),
        }),
    }
}

/// `$first, $first+1, …` for one row of `columns` values.
fn row_placeholders(sql: &mut String, first: usize, columns: usize) {
    sql.push('(');
    for column in 0..columns {
        if column > 0 {
            sql.push_str(", ");
        }
        sql.push('$');
        sql.push_str(&(first + column).to_string());
    }
    sql.push(')');
}

/// `INSERT … VALUES (…), (…) <tail>` for `rows` rows of `columns` values.
fn multi_row_insert(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        row_placeholders(&mut sql, row * columns + 1, columns);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// `<node has the scope tag>` with its two parameters at `first`.
fn carries_scope_tag_sql(node_column: &str, first: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM node_tags s WHERE s.node_id = {node_column} \
         AND s.key = ${} AND s.value = ${})",
        first,
        first + 1
    )
}

/// `AND <node has the scope tag>` with its two parameters at `first`.
fn scope_sql(node_column: &str, first: usize) -> String {
    format!(" AND {}", carries_scope_tag_sql(node_column, first))
}

/// [`scope_sql`] where the patch group is the effective one: a `Patch
/// Group` scope naming the default group in force also takes the nodes
/// without the tag. Same two parameters (key, value) at `first`.
fn effective_scope_sql(
    node_column: &str,
    scope: &TagScope,
    default_group: Option<&str>,
    first: usize,
) -> String {
    if scope.key == tag_keys::PATCH_GROUP && default_group == Some(scope.value.as_str()) {
        format!(
            " AND ({} OR NOT EXISTS (SELECT 1 FROM node_tags u \
             WHERE u.node_id = {node_column} AND u.key = ${first}))",
            carries_scope_tag_sql(node_column, first)
        )
    } else {
        scope_sql(node_column, first)
    }
}

/// The SQL expression of a summary dimension over nodes `n` (with their
/// summaries `c`), the join it needs, and the tag key it reads (bound as
/// `$1`), if any. For the patch group this is the tag only:
/// [`Store::compliance_status_counts`] adds the default group. A tag is
/// read through a LEFT JOIN on `node_tags`'s primary key: SQLite runs it
/// as one index probe per node, measured 2-4x faster in-process than the
/// same probe as a correlated subquery.
fn dimension_sql(by: SummaryBy) -> (&'static str, &'static str, Option<&'static str>) {
    const TAG_JOIN: &str = "LEFT JOIN node_tags t ON t.node_id = n.id AND t.key = $1";
    match by {
        SummaryBy::PatchGroup => ("t.value", TAG_JOIN, Some(tag_keys::PATCH_GROUP)),
        SummaryBy::Environment => ("t.value", TAG_JOIN, Some(tag_keys::ENVIRONMENT)),
        SummaryBy::Zone => ("t.value", TAG_JOIN, Some(tag_keys::ZONE)),
        SummaryBy::Application => ("t.value", TAG_JOIN, Some(tag_keys::APPLICATION)),
        SummaryBy::Baseline => ("c.baseline", "", None),
        SummaryBy::OsFamily => ("n.os_family", "", None),
    }
}

/// The history column of a dimension.
fn history_column(by: SummaryBy) -> &'static str {
    match by {
        SummaryBy::PatchGroup => "h.patch_group",
        SummaryBy::Environment => "h.environment",
        SummaryBy::Zone => "h.zone",
        SummaryBy::Application => "h.application",
        SummaryBy::Baseline => "h.baseline",
        SummaryBy::OsFamily => "h.os_family",
    }
}

fn key_of(row: &AnyRow, prefix: &str) -> Result<Option<EvaluationKey>> {
    let hash: Option<String> = row.try_get(format!("{prefix}inventory_hash").as_str())?;
    let Some(inventory_hash) = hash else {
        return Ok(None);
    };
    let day: String = row.try_get(format!("{prefix}day").as_str())?;
    Ok(Some(EvaluationKey {
        inventory_hash,
        baseline: row.try_get(format!("{prefix}baseline").as_str())?,
        baseline_version: row.try_get(format!("{prefix}baseline_version").as_str())?,
        day: parse_day(&day)?,
    }))
}

fn result_summary(row: &AnyRow) -> Result<ResultSummary> {
    Ok(ResultSummary {
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        severity: optional_level(row.try_get("severity")?)?,
        state_counts: from_json(&row.try_get::<String, _>("state_counts")?, "state counts")?,
        level_counts: from_json(&row.try_get::<String, _>("level_counts")?, "level counts")?,
        evaluated_at: timestamp(row.try_get("evaluated_at")?, "evaluation time")?,
    })
}

impl Store {
    /// The patch group of nodes without a `Patch Group` tag: the governance
    /// default while that group exists. A deleted default serves no node,
    /// as baseline resolution and the node view treat it.
    pub async fn default_patch_group_in_force(&self) -> Result<Option<String>> {
        let mut connection = self.pool.acquire().await?;
        let Some(group) = governance_settings_in(&mut connection)
            .await?
            .default_patch_group
        else {
            return Ok(None);
        };
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM patch_groups WHERE name = $1")
                .bind(group)
                .fetch_optional(&mut *connection)
                .await?;
        Ok(exists)
    }

    /// Every node with what the engine needs, in one query.
    pub async fn compliance_fleet_nodes(&self) -> Result<Vec<FleetNode>> {
        self.fleet_nodes_where("", None).await
    }

    /// One node as [`Store::compliance_fleet_nodes`] reads it.
    pub async fn compliance_fleet_node(&self, node_id: &str) -> Result<Option<FleetNode>> {
        Ok(self
            .fleet_nodes_where("WHERE n.id = $5", Some(node_id))
            .await?
            .pop())
    }

    async fn fleet_nodes_where(
        &self,
        condition: &str,
        node_id: Option<&str>,
    ) -> Result<Vec<FleetNode>> {
        // One primary-key probe of node_tags per node and grouping tag.
        let sql = format!(
            "SELECT n.id, n.inventory_hash, n.scanned_at, \
               pg.value AS patch_group, env.value AS environment, zone.value AS zone, \
               app.value AS application, \
               c.inventory_hash AS c_inventory_hash, c.baseline AS c_baseline, \
               c.baseline_version AS c_baseline_version, c.day AS c_day \
             FROM nodes n \
             LEFT JOIN node_tags pg ON pg.node_id = n.id AND pg.key = $1 \
             LEFT JOIN node_tags env ON env.node_id = n.id AND env.key = $2 \
             LEFT JOIN node_tags zone ON zone.node_id = n.id AND zone.key = $3 \
             LEFT JOIN node_tags app ON app.node_id = n.id AND app.key = $4 \
             LEFT JOIN node_compliance c ON c.node_id = n.id {condition} \
             ORDER BY n.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(tag_keys::PATCH_GROUP)
            .bind(tag_keys::ENVIRONMENT)
            .bind(tag_keys::ZONE)
            .bind(tag_keys::APPLICATION);
        if let Some(node_id) = node_id {
            query = query.bind(node_id.to_owned());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(FleetNode {
                    id: row.try_get("id")?,
                    inventory_hash: row.try_get("inventory_hash")?,
                    scanned_at: row
                        .try_get::<Option<i64>, _>("scanned_at")?
                        .map(|at| timestamp(at, "scan time"))
                        .transpose()?,
                    tags: GroupingTags {
                        patch_group: row.try_get("patch_group")?,
                        environment: row.try_get("environment")?,
                        zone: row.try_get("zone")?,
                        application: row.try_get("application")?,
                    },
                    current: key_of(row, "c_")?,
                })
            })
            .collect()
    }

    /// The OS family of every inventory a summary points at (the family is
    /// part of the inventory, so it is known without decoding it again).
    pub async fn compliance_inventory_families(&self) -> Result<Vec<(String, OsFamily)>> {
        let rows = sqlx::query("SELECT DISTINCT inventory_hash, os_family FROM node_compliance")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let family: String = row.try_get("os_family")?;
                Ok((
                    row.try_get("inventory_hash")?,
                    parse_text(&family, "OS family")?,
                ))
            })
            .collect()
    }

    /// The summaries of every stored result of `day`.
    pub async fn compliance_result_summaries(
        &self,
        day: Date,
    ) -> Result<Vec<(EvaluationKey, ResultSummary)>> {
        let rows = sqlx::query(
            "SELECT inventory_hash, baseline, baseline_version, day, status, severity, \
             state_counts, level_counts, evaluated_at FROM compliance_results WHERE day = $1",
        )
        .bind(day.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .filter_map(|row| match key_of(row, "") {
                Ok(Some(key)) => Some(result_summary(row).map(|summary| (key, summary))),
                Ok(None) => None,
                Err(error) => Some(Err(error)),
            })
            .collect()
    }

    /// Every package line of one distinct result.
    pub async fn compliance_report(&self, key: &EvaluationKey) -> Result<Option<Report>> {
        let report: Option<String> = sqlx::query_scalar(
            "SELECT report FROM compliance_results WHERE inventory_hash = $1 AND baseline = $2 \
             AND baseline_version = $3 AND day = $4",
        )
        .bind(key.inventory_hash.clone())
        .bind(key.baseline.clone())
        .bind(key.baseline_version)
        .bind(key.day.to_string())
        .fetch_optional(&self.pool)
        .await?;
        report
            .map(|text| codec::decode_report(&text).map_err(|error| corrupt_result(key, error)))
            .transpose()
    }

    /// The stored bodies of inventories (hash, encoding, body), to decode
    /// off the async runtime with [`decode_inventory`].
    pub async fn inventory_bodies(
        &self,
        hashes: &[String],
    ) -> Result<Vec<(String, String, String)>> {
        let mut bodies = Vec::with_capacity(hashes.len());
        for chunk in hashes.chunks(MAX_PARAMETERS) {
            if chunk.is_empty() {
                continue;
            }
            let mut sql =
                String::from("SELECT hash, encoding, body FROM inventories WHERE hash IN ");
            row_placeholders(&mut sql, 1, chunk.len());
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for hash in chunk {
                query = query.bind(hash.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                bodies.push((
                    row.try_get("hash")?,
                    row.try_get("encoding")?,
                    row.try_get("body")?,
                ));
            }
        }
        Ok(bodies)
    }

    /// A node's stored summary and the result it points at (`None` for a
    /// node never evaluated, or one that is gone).
    pub async fn node_compliance(
        &self,
        node_id: &str,
    ) -> Result<Option<(EvaluationKey, NodeComplianceSummary)>> {
        let row = sqlx::query(
            "SELECT c.inventory_hash, c.baseline, c.baseline_version, c.day, c.status, \
             c.severity, c.state_counts, c.level_counts, c.scanned_at, c.evaluated_at \
             FROM node_compliance c JOIN nodes n ON n.id = c.node_id WHERE c.node_id = $1",
        )
        .bind(node_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(key) = key_of(&row, "")? else {
            return Ok(None);
        };
        let summary = result_summary(&row)?;
        let scanned_at = timestamp(row.try_get("scanned_at")?, "scan time")?;
        let node_summary = summary.for_node(&key, scanned_at);
        Ok(Some((key, node_summary)))
    }

    /// Writes an evaluation's results, node summaries and history rows in
    /// one transaction.
    pub async fn write_compliance(&self, write: &ComplianceWrite) -> Result<()> {
        let started = std::time::Instant::now();
        let mut transaction = self.begin_write().await?;
        insert_results(&mut transaction, &write.results).await?;
        let results_written = started.elapsed();
        upsert_node_rows(&mut transaction, &write.nodes).await?;
        let nodes_written = started.elapsed();
        for chunk in write.cleared_nodes.chunks(MAX_PARAMETERS) {
            let mut sql = String::from("DELETE FROM node_compliance WHERE node_id IN ");
            row_placeholders(&mut sql, 1, chunk.len());
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for node_id in chunk {
                query = query.bind(node_id.clone());
            }
            query.execute(&mut *transaction).await?;
        }
        upsert_history(&mut transaction, &write.history).await?;
        let history_written = started.elapsed();
        if write.prune {
            sqlx::query("DELETE FROM node_compliance WHERE node_id NOT IN (SELECT id FROM nodes)")
                .execute(&mut *transaction)
                .await?;
            sqlx::query(
                "DELETE FROM compliance_results WHERE NOT EXISTS (SELECT 1 FROM node_compliance c \
                 WHERE c.inventory_hash = compliance_results.inventory_hash \
                 AND c.baseline = compliance_results.baseline \
                 AND c.baseline_version = compliance_results.baseline_version \
                 AND c.day = compliance_results.day)",
            )
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        tracing::debug!(
            results = write.results.len(),
            nodes = write.nodes.len(),
            history = write.history.len(),
            results_ms = results_written.as_millis() as u64,
            nodes_ms = (nodes_written - results_written).as_millis() as u64,
            history_ms = (history_written - nodes_written).as_millis() as u64,
            prune_and_commit_ms = (started.elapsed() - history_written).as_millis() as u64,
            "compliance written"
        );
        Ok(())
    }

    /// Nodes per dimension value, status and severity.
    pub async fn compliance_status_counts(
        &self,
        by: SummaryBy,
        scope: Option<&TagScope>,
    ) -> Result<Vec<StatusCount>> {
        let (column, tag_join, tag_key) = dimension_sql(by);
        let reads_patch_group = by == SummaryBy::PatchGroup
            || scope.is_some_and(|scope| scope.key == tag_keys::PATCH_GROUP);
        let default_group = if reads_patch_group {
            self.default_patch_group_in_force().await?
        } else {
            None
        };
        // Parameters: the dimension's tag key as $1 when it reads a tag,
        // the default patch group when it fills the dimension, then the
        // scope's key and value.
        let mut next = if tag_key.is_some() { 2 } else { 1 };
        let fills_default = by == SummaryBy::PatchGroup && default_group.is_some();
        let dimension = if fills_default {
            let dimension = format!("COALESCE({column}, ${next})");
            next += 1;
            dimension
        } else {
            column.to_owned()
        };
        let scope_condition = scope
            .map(|scope| effective_scope_sql("n.id", scope, default_group.as_deref(), next))
            .unwrap_or_default();
        let sql = format!(
            "SELECT {dimension} AS dim, c.status AS status, c.severity AS severity, \
               COUNT(*) AS nodes \
             FROM nodes n {tag_join} LEFT JOIN node_compliance c ON c.node_id = n.id \
             WHERE 1 = 1{scope_condition} \
             GROUP BY {dimension}, c.status, c.severity"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(tag_key) = tag_key {
            query = query.bind(tag_key);
        }
        if fills_default {
            query = query.bind(default_group.clone());
        }
        if let Some(scope) = scope {
            query = query.bind(scope.key.clone()).bind(scope.value.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let status: Option<String> = row.try_get("status")?;
                Ok(StatusCount {
                    key: row
                        .try_get::<Option<String>, _>("dim")?
                        .unwrap_or_else(|| NO_VALUE.to_owned()),
                    status: status.as_deref().map(parse_status).transpose()?,
                    severity: optional_level(row.try_get("severity")?)?,
                    nodes: u64::try_from(row.try_get::<i64, _>("nodes")?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Each node's id, hostname and summary (if evaluated), by id.
    pub async fn compliance_node_summaries(
        &self,
        filter: &ComplianceNodeFilter,
    ) -> Result<Vec<(String, String, Option<NodeComplianceSummary>)>> {
        let mut conditions = String::new();
        let mut next = 1;
        if filter.scope.is_some() {
            conditions.push_str(&scope_sql("n.id", next));
            next += 2;
        }
        match &filter.status {
            None => {}
            Some(None) => conditions.push_str(" AND c.status IS NULL"),
            Some(Some(_)) => {
                conditions.push_str(&format!(" AND c.status = ${next}"));
                next += 1;
            }
        }
        if filter.baseline.is_some() {
            conditions.push_str(&format!(" AND c.baseline = ${next}"));
        }
        let sql = format!(
            "SELECT n.id, n.hostname, c.inventory_hash, c.baseline, c.baseline_version, c.day, \
             c.status, c.severity, c.state_counts, c.level_counts, c.scanned_at, c.evaluated_at \
             FROM nodes n LEFT JOIN node_compliance c ON c.node_id = n.id \
             WHERE 1 = 1{conditions} ORDER BY n.hostname, n.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(scope) = &filter.scope {
            query = query.bind(scope.key.clone()).bind(scope.value.clone());
        }
        if let Some(Some(status)) = filter.status {
            query = query.bind(status_text(status));
        }
        if let Some(baseline) = &filter.baseline {
            query = query.bind(baseline.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let summary = match key_of(row, "")? {
                    None => None,
                    Some(key) => {
                        let scanned_at = timestamp(row.try_get("scanned_at")?, "scan time")?;
                        Some(result_summary(row)?.for_node(&key, scanned_at))
                    }
                };
                Ok((row.try_get("id")?, row.try_get("hostname")?, summary))
            })
            .collect()
    }

    /// The patch lines of each distinct result with how many (in-scope)
    /// nodes point at it, in one query.
    pub async fn compliance_patch_weights(
        &self,
        scope: Option<&TagScope>,
    ) -> Result<Vec<(Vec<PatchLine>, u64)>> {
        let scope_condition = scope.map(|_| scope_sql("n.id", 1)).unwrap_or_default();
        let sql = format!(
            "SELECT r.inventory_hash, r.baseline, r.baseline_version, r.day, r.patches, w.nodes \
             FROM (SELECT c.inventory_hash, c.baseline, c.baseline_version, c.day, \
                     COUNT(*) AS nodes \
                   FROM node_compliance c JOIN nodes n ON n.id = c.node_id \
                   WHERE 1 = 1{scope_condition} \
                   GROUP BY c.inventory_hash, c.baseline, c.baseline_version, c.day) w \
             JOIN compliance_results r ON r.inventory_hash = w.inventory_hash \
               AND r.baseline = w.baseline AND r.baseline_version = w.baseline_version \
               AND r.day = w.day"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(scope) = scope {
            query = query.bind(scope.key.clone()).bind(scope.value.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut weights = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(key) = key_of(row, "")? else {
                continue;
            };
            let lines = codec::decode_patch_lines(&row.try_get::<String, _>("patches")?)
                .map_err(|error| corrupt_result(&key, error))?;
            weights.push((
                lines,
                u64::try_from(row.try_get::<i64, _>("nodes")?).unwrap_or(0),
            ));
        }
        Ok(weights)
    }

    /// History counts from `since` (inclusive) per day, dimension value and
    /// status. An app-team scope keeps the rows whose application (or other
    /// scope key among the grouping tags) matched on that day. The patch
    /// group of a row is the effective one its node had that day (rows
    /// recorded before the default group counted hold the tag only).
    pub async fn compliance_history_counts(
        &self,
        since: Date,
        by: SummaryBy,
        scope: Option<&TagScope>,
    ) -> Result<Vec<DayCount>> {
        let column = history_column(by);
        let scope_condition = match scope {
            None => String::new(),
            Some(scope) => match history_scope_column(&scope.key) {
                Some(scope_column) => format!(" AND {scope_column} = $2"),
                // A scope on a tag history does not keep: only nodes in
                // scope now, by id.
                None => format!(
                    " AND h.node_id IN (SELECT n.id FROM nodes n WHERE 1 = 1{})",
                    scope_sql("n.id", 2)
                ),
            },
        };
        let sql = format!(
            "SELECT h.day AS day, {column} AS dim, h.status AS status, COUNT(*) AS nodes \
             FROM compliance_history h WHERE h.day >= $1{scope_condition} \
             GROUP BY h.day, {column}, h.status"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(since.to_string());
        if let Some(scope) = scope {
            if history_scope_column(&scope.key).is_none() {
                query = query.bind(scope.key.clone());
            }
            query = query.bind(scope.value.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let status: Option<String> = row.try_get("status")?;
                Ok(DayCount {
                    day: parse_day(&row.try_get::<String, _>("day")?)?,
                    key: row
                        .try_get::<Option<String>, _>("dim")?
                        .unwrap_or_else(|| NO_VALUE.to_owned()),
                    status: status.as_deref().map(parse_status).transpose()?,
                    nodes: u64::try_from(row.try_get::<i64, _>("nodes")?).unwrap_or(0),
                })
            })
            .collect()
    }
}

/// The history column holding a scope tag, for the grouping tags.
fn history_scope_column(key: &str) -> Option<&'static str> {
    match key {
        tag_keys::APPLICATION => Some("h.application"),
        tag_keys::ENVIRONMENT => Some("h.environment"),
        tag_keys::ZONE => Some("h.zone"),
        tag_keys::PATCH_GROUP => Some("h.patch_group"),
        _ => None,
    }
}

async fn insert_results(connection: &mut AnyConnection, results: &[NewResult]) -> Result<()> {
    const COLUMNS: usize = 11;
    for chunk in results.chunks(MAX_PARAMETERS / COLUMNS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = multi_row_insert(
            "INSERT INTO compliance_results (inventory_hash, baseline, baseline_version, day, \
             status, severity, state_counts, level_counts, patches, report, evaluated_at)",
            COLUMNS,
            chunk.len(),
            "ON CONFLICT (inventory_hash, baseline, baseline_version, day) DO NOTHING",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for new in chunk {
            query = query
                .bind(new.key.inventory_hash.clone())
                .bind(new.key.baseline.clone())
                .bind(new.key.baseline_version)
                .bind(new.key.day.to_string())
                .bind(status_text(new.summary.status))
                .bind(new.summary.severity.map(ComplianceLevel::as_str))
                .bind(to_json(&new.summary.state_counts, "state counts")?)
                .bind(to_json(&new.summary.level_counts, "level counts")?)
                .bind(new.patches.clone())
                .bind(new.report.clone())
                .bind(millis(new.summary.evaluated_at));
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// The stored text of a summary, encoded once per distinct result.
struct EncodedSummary {
    status: &'static str,
    severity: Option<&'static str>,
    state_counts: String,
    level_counts: String,
    evaluated_at: i64,
}

async fn upsert_node_rows(connection: &mut AnyConnection, rows: &[NodeResultRow]) -> Result<()> {
    const COLUMNS: usize = 12;
    let mut encoded: HashMap<usize, Arc<EncodedSummary>> = HashMap::new();
    for chunk in rows.chunks(MAX_PARAMETERS / COLUMNS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = multi_row_insert(
            "INSERT INTO node_compliance (node_id, inventory_hash, baseline, baseline_version, \
             day, os_family, status, severity, state_counts, level_counts, scanned_at, \
             evaluated_at)",
            COLUMNS,
            chunk.len(),
            "ON CONFLICT (node_id) DO UPDATE SET inventory_hash = excluded.inventory_hash, \
             baseline = excluded.baseline, baseline_version = excluded.baseline_version, \
             day = excluded.day, os_family = excluded.os_family, status = excluded.status, \
             severity = excluded.severity, state_counts = excluded.state_counts, \
             level_counts = excluded.level_counts, scanned_at = excluded.scanned_at, \
             evaluated_at = excluded.evaluated_at",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            // Nodes sharing a result share its Arc: encode the JSON once.
            let text = match encoded.get(&(Arc::as_ptr(&row.summary) as usize)) {
                Some(text) => Arc::clone(text),
                None => {
                    let text = Arc::new(EncodedSummary {
                        status: status_text(row.summary.status),
                        severity: row.summary.severity.map(ComplianceLevel::as_str),
                        state_counts: to_json(&row.summary.state_counts, "state counts")?,
                        level_counts: to_json(&row.summary.level_counts, "level counts")?,
                        evaluated_at: millis(row.summary.evaluated_at),
                    });
                    encoded.insert(Arc::as_ptr(&row.summary) as usize, Arc::clone(&text));
                    text
                }
            };
            query = query
                .bind(row.node_id.clone())
                .bind(row.key.inventory_hash.clone())
                .bind(row.key.baseline.clone())
                .bind(row.key.baseline_version)
                .bind(row.key.day.to_string())
                .bind(row.os_family.as_str())
                .bind(text.status)
                .bind(text.severity)
                .bind(text.state_counts.clone())
                .bind(text.level_counts.clone())
                .bind(millis(row.scanned_at))
                .bind(text.evaluated_at);
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

async fn upsert_history(connection: &mut AnyConnection, rows: &[HistoryRow]) -> Result<()> {
    const COLUMNS: usize = 10;
    for chunk in rows.chunks(MAX_PARAMETERS / COLUMNS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = multi_row_insert(
            "INSERT INTO compliance_history (day, node_id, status, severity, baseline, \
             os_family, patch_group, environment, zone, application)",
            COLUMNS,
            chunk.len(),
            "ON CONFLICT (day, node_id) DO UPDATE SET status = excluded.status, \
             severity = excluded.severity, baseline = excluded.baseline, \
             os_family = excluded.os_family, patch_group = excluded.patch_group, \
             environment = excluded.environment, zone = excluded.zone, \
             application = excluded.application \
             WHERE compliance_history.status IS DISTINCT FROM excluded.status \
             OR compliance_history.severity IS DISTINCT FROM excluded.severity \
             OR compliance_history.baseline IS DISTINCT FROM excluded.baseline \
             OR compliance_history.os_family IS DISTINCT FROM excluded.os_family \
             OR compliance_history.patch_group IS DISTINCT FROM excluded.patch_group \
             OR compliance_history.environment IS DISTINCT FROM excluded.environment \
             OR compliance_history.zone IS DISTINCT FROM excluded.zone \
             OR compliance_history.application IS DISTINCT FROM excluded.application",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(row.day.to_string())
                .bind(row.node_id.clone())
                .bind(row.status.map(status_text))
                .bind(row.severity.map(ComplianceLevel::as_str))
                .bind(row.baseline.clone())
                .bind(row.os_family.map(OsFamily::as_str))
                .bind(row.tags.patch_group.clone())
                .bind(row.tags.environment.clone())
                .bind(row.tags.zone.clone())
                .bind(row.tags.application.clone());
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_every_placeholder() {
        assert_eq!(
            multi_row_insert("INSERT INTO t (a, b)", 2, 2, "ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn statuses_and_levels_read_back_as_written() {
        for status in [ComplianceStatus::Compliant, ComplianceStatus::NonCompliant] {
            assert_eq!(parse_status(status_text(status)).unwrap(), status);
        }
        for level in ComplianceLevel::ALL {
            assert_eq!(parse_level(level.as_str()).unwrap(), level);
        }
        assert!(parse_status("green").is_err());
    }
}
