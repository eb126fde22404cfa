//! The audit log: who changed what and when. Rows are written by the
//! mutating methods of the other areas inside their own transaction (so a
//! change and its audit row commit or vanish together), and read in id
//! order for paging.

use jiff::Timestamp;
use serde_json::Value;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::records::AuditEntry;
use super::{Result, Store, from_json, millis, timestamp, to_json};

/// The most entries one listing returns, whatever the caller asks for.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// Writes one audit row on the connection of the caller's transaction.
/// `detail` must never hold secrets or their hashes.
pub(crate) async fn audit_in(
    connection: &mut AnyConnection,
    at: Timestamp,
    actor: &str,
    action: &str,
    target: &str,
    detail: &Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(millis(at))
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(to_json(detail, "audit detail")?)
    .execute(connection)
    .await?;
    Ok(())
}

impl Store {
    /// Entries with an id greater than `after`, oldest first, at most
    /// `limit` (capped at [`MAX_AUDIT_PAGE`]).
    pub async fn list_audit(&self, after: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit_log \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit.min(MAX_AUDIT_PAGE)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_entry).collect()
    }

    /// Records an event that changes nothing else (a failed login, say) in
    /// a transaction of its own.
    pub async fn record_audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &Value,
    ) -> Result<()> {
        let mut transaction = self.begin_write().await?;
        audit_in(
            &mut transaction,
            Timestamp::now(),
            actor,
            action,
            target,
            detail,
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}

fn audit_entry(row: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: timestamp(row.try_get("at")?, "audit time")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        detail: from_json(&row.try_get::<String, _>("detail")?, "audit detail")?,
    })
}
