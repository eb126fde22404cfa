//! Maintenance window definitions: the operator's `WindowSpec` stored as
//! JSON, versioned from 1, with its `enabled` flag and owner scope copied
//! into columns. An identical PUT changes nothing and audits nothing; the
//! `max_windows` quota refuses a new window (and stores nothing) once that
//! many exist. Executions snapshot what they run, so editing or deleting a
//! window never changes a running execution.

use jiff::Timestamp;
use patchline_api::windows::WindowSpec;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::governance::{DefaultKind, governance_settings_in, refuse_deleting_default};
use super::operators::check_name;
use super::{
    Backend, Result, Store, StoreError, audit_in, flag_value, from_json, millis, retry_races,
    timestamp, to_json,
};

/// A stored window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRecord {
    pub spec: WindowSpec,
    /// Starts at 1; each change adds one.
    pub version: i64,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

const WINDOW_COLUMNS: &str = "name, spec, version, updated_at, updated_by";

impl Store {
    /// Every window, by name.
    pub async fn list_windows(&self) -> Result<Vec<WindowRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WINDOW_COLUMNS} FROM windows"
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut windows = rows
            .iter()
            .map(window_record)
            .collect::<Result<Vec<WindowRecord>>>()?;
        // By bytes, the same on both backends (SQL follows the collation).
        windows.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        Ok(windows)
    }

    pub async fn window(&self, name: &str) -> Result<Option<WindowRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {WINDOW_COLUMNS} FROM windows WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(window_record).transpose()
    }

    /// Creates or replaces a window (validated by the caller); identical →
    /// `(false, version)` and no audit. Creating one more window than
    /// `max_windows` is a `Conflict` naming the quota, and stores nothing.
    /// Audited as `window.put`.
    pub async fn put_window(
        &self,
        actor: &str,
        spec: &WindowSpec,
        max_windows: u32,
        now: Timestamp,
    ) -> Result<(bool, i64)> {
        check_name("window name", &spec.name)?;
        retry_races(
            || format!("window {:?}", spec.name),
            || self.put_window_once(actor, spec, max_windows, now),
        )
        .await
    }

    async fn put_window_once(
        &self,
        actor: &str,
        spec: &WindowSpec,
        max_windows: u32,
        now: Timestamp,
    ) -> Result<(bool, i64)> {
        let name = &spec.name;
        let mut transaction = self.begin_write().await?;
        let current = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT spec, version FROM windows WHERE name = $1{}",
            self.for_update()
        )))
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await?;
        let before: Option<(WindowSpec, i64)> = match &current {
            Some(row) => Some((
                from_json(&row.try_get::<String, _>("spec")?, "window spec")?,
                row.try_get("version")?,
            )),
            None => None,
        };
        if let Some((stored, version)) = &before
            && stored == spec
        {
            return Ok((false, *version));
        }
        if before.is_none() {
            if self.backend == Backend::Postgres {
                // Creators queue here, so two of them cannot both see room
                // for the last window (readers are not blocked).
                sqlx::query("LOCK TABLE windows IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *transaction)
                    .await?;
            }
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM windows")
                .fetch_one(&mut *transaction)
                .await?;
            if count >= i64::from(max_windows) {
                return Err(StoreError::Conflict {
                    what: format!(
                        "quota max_windows is {max_windows} and {count} windows exist, so window \
                         {name:?} cannot be created: delete a window, or raise it with \
                         `patchline server --max-windows`"
                    ),
                });
            }
        }
        if spec.owner.is_some()
            && governance_settings_in(&mut transaction)
                .await?
                .default_window
                .as_deref()
                == Some(name.as_str())
        {
            return Err(StoreError::Invalid {
                reason: format!(
                    "owner: window {name:?} is the governance default window, which serves \
                     every node and so has no owner"
                ),
            });
        }
        let version = before.as_ref().map_or(1, |(_, version)| version + 1);
        let spec_json = to_json(spec, "window spec")?;
        let (owner_key, owner_value) = match &spec.owner {
            Some(owner) => (Some(owner.key.as_str()), Some(owner.value.as_str())),
            None => (None, None),
        };
        let statement = if before.is_some() {
            "UPDATE windows SET spec = $2, enabled = $3, owner_key = $4, owner_value = $5, \
             version = $6, updated_at = $7, updated_by = $8 WHERE name = $1"
        } else {
            "INSERT INTO windows (name, spec, enabled, owner_key, owner_value, version, \
             updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        };
        sqlx::query(statement)
            .bind(name)
            .bind(spec_json)
            .bind(flag_value(spec.enabled))
            .bind(owner_key)
            .bind(owner_value)
            .bind(version)
            .bind(millis(now))
            .bind(actor)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "window.put",
            &format!("window:{name}"),
            &json!({
                "version": version,
                "before": before.as_ref().map(|(spec, _)| spec),
                "after": spec,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok((true, version))
    }

    /// Deletes a window (its past executions stay). The governance default
    /// window cannot be deleted: change the default first. Audited as
    /// `window.delete`.
    pub async fn delete_window(&self, actor: &str, name: &str, now: Timestamp) -> Result<()> {
        let mut transaction = self.begin_write().await?;
        let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT spec FROM windows WHERE name = $1{}",
            self.for_update()
        )))
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(stored) = stored else {
            return Err(StoreError::NotFound {
                what: format!("window {name:?}"),
            });
        };
        refuse_deleting_default(&mut transaction, DefaultKind::Window, name).await?;
        let before: WindowSpec = from_json(&stored, "window spec")?;
        sqlx::query("DELETE FROM windows WHERE name = $1")
            .bind(name)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "window.delete",
            &format!("window:{name}"),
            &json!({ "before": before }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}

fn window_record(row: &AnyRow) -> Result<WindowRecord> {
    let name: String = row.try_get("name")?;
    let spec: WindowSpec = from_json(&row.try_get::<String, _>("spec")?, "window spec")?;
    if spec.name != name {
        return Err(StoreError::Corrupt {
            what: format!("window {name:?}"),
            reason: format!("its spec is named {:?}", spec.name),
        });
    }
    Ok(WindowRecord {
        spec,
        version: row.try_get("version")?,
        updated_at: timestamp(row.try_get("updated_at")?, "window update time")?,
        updated_by: row.try_get("updated_by")?,
    })
}
