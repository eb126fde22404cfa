//! Patch groups: a `Patch Group` tag value mapped to one baseline per OS
//! family. Every named baseline must exist and be of the family it is
//! listed under; a baseline a group names cannot be deleted.

use std::collections::BTreeMap;

use jiff::Timestamp;
use patchline_core::os::OsFamily;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::governance::{DefaultKind, refuse_deleting_default};
use super::operators::check_name;
use super::records::{PatchGroup, PutOutcome};
use super::{Result, Store, StoreError, audit_in, millis, parse_text, retry_races};

impl Store {
    /// Creates or replaces a group; identical → `changed: false` and no
    /// audit. `version` counts the group's changes from 1.
    pub async fn put_patch_group(&self, actor: &str, group: &PatchGroup) -> Result<PutOutcome> {
        check_name("patch group name", &group.name)?;
        retry_races(
            || format!("patch group {:?}", group.name),
            || self.put_patch_group_once(actor, group),
        )
        .await
    }

    async fn put_patch_group_once(&self, actor: &str, group: &PatchGroup) -> Result<PutOutcome> {
        let name = &group.name;
        let now = Timestamp::now();
        let mut transaction = self.begin_write().await?;
        for (family, baseline) in &group.baselines {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT os_family FROM baselines WHERE name = $1")
                    .bind(baseline)
                    .fetch_optional(&mut *transaction)
                    .await?;
            match stored {
                None => {
                    return Err(StoreError::Invalid {
                        reason: format!(
                            "patch group {name:?}: baseline {baseline:?} (for {family}) does not exist"
                        ),
                    });
                }
                Some(stored) if stored != family.as_str() => {
                    return Err(StoreError::Invalid {
                        reason: format!(
                            "patch group {name:?}: baseline {baseline:?} is for {stored}, \
                             not {family}"
                        ),
                    });
                }
                Some(_) => {}
            }
        }

        let current_version: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM patch_groups WHERE name = $1{}",
            self.for_update()
        )))
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await?;
        let before = match current_version {
            Some(_) => Some(group_baselines_in(&mut transaction, name).await?),
            None => None,
        };
        if let (Some(version), Some(before)) = (current_version, &before)
            && *before == group.baselines
        {
            return Ok(PutOutcome {
                changed: false,
                version,
                reevaluated_nodes: 0,
            });
        }
        let version = current_version.map_or(1, |version| version + 1);
        match current_version {
            Some(current) => {
                sqlx::query(
                    "UPDATE patch_groups SET version = $1, updated_at = $2, updated_by = $3 \
                     WHERE name = $4 AND version = $5",
                )
                .bind(version)
                .bind(millis(now))
                .bind(actor)
                .bind(name)
                .bind(current)
                .execute(&mut *transaction)
                .await?;
                sqlx::query("DELETE FROM patch_group_baselines WHERE group_name = $1")
                    .bind(name)
                    .execute(&mut *transaction)
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO patch_groups (name, version, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(name)
                .bind(version)
                .bind(millis(now))
                .bind(actor)
                .execute(&mut *transaction)
                .await?;
            }
        }
        for (family, baseline) in &group.baselines {
            sqlx::query(
                "INSERT INTO patch_group_baselines (group_name, os_family, baseline_name) \
                 VALUES ($1, $2, $3)",
            )
            .bind(name)
            .bind(family.as_str())
            .bind(baseline)
            .execute(&mut *transaction)
            .await?;
        }
        audit_in(
            &mut transaction,
            now,
            actor,
            "patch-group.put",
            &format!("patch-group:{name}"),
            &json!({ "version": version, "before": before, "after": group.baselines }),
        )
        .await?;
        transaction.commit().await?;
        Ok(PutOutcome {
            changed: true,
            version,
            reevaluated_nodes: 0,
        })
    }

    pub async fn patch_group(&self, name: &str) -> Result<Option<PatchGroup>> {
        let mut connection = self.pool.acquire().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM patch_groups WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *connection)
                .await?;
        if exists.is_none() {
            return Ok(None);
        }
        Ok(Some(PatchGroup {
            name: name.to_owned(),
            baselines: group_baselines_in(&mut connection, name).await?,
        }))
    }

    /// Every group, by name.
    pub async fn list_patch_groups(&self) -> Result<Vec<PatchGroup>> {
        let mut connection = self.pool.acquire().await?;
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM patch_groups ORDER BY name")
            .fetch_all(&mut *connection)
            .await?;
        let rows =
            sqlx::query("SELECT group_name, os_family, baseline_name FROM patch_group_baselines")
                .fetch_all(&mut *connection)
                .await?;
        let mut groups: BTreeMap<String, PatchGroup> = names
            .into_iter()
            .map(|name| {
                let group = PatchGroup {
                    name: name.clone(),
                    baselines: BTreeMap::new(),
                };
                (name, group)
            })
            .collect();
        for row in &rows {
            let group_name: String = row.try_get("group_name")?;
            let family: OsFamily = parse_text(
                &row.try_get::<String, _>("os_family")?,
                "patch group OS family",
            )?;
            if let Some(group) = groups.get_mut(&group_name) {
                group
                    .baselines
                    .insert(family, row.try_get("baseline_name")?);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Deletes a group; nodes tagged with it fall back to their family's
    /// default baseline. Refused (`Conflict`) while it is the governance
    /// default patch group.
    pub async fn delete_patch_group(&self, actor: &str, name: &str) -> Result<()> {
        let mut transaction = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM patch_groups WHERE name = $1{}",
            self.for_update()
        )))
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: format!("patch group {name:?}"),
            });
        }
        refuse_deleting_default(&mut transaction, DefaultKind::PatchGroup, name).await?;
        let before = group_baselines_in(&mut transaction, name).await?;
        sqlx::query("DELETE FROM patch_groups WHERE name = $1")
            .bind(name)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            Timestamp::now(),
            actor,
            "patch-group.delete",
            &format!("patch-group:{name}"),
            &json!({ "before": before }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}

async fn group_baselines_in(
    connection: &mut AnyConnection,
    name: &str,
) -> Result<BTreeMap<OsFamily, String>> {
    let rows = sqlx::query(
        "SELECT os_family, baseline_name FROM patch_group_baselines WHERE group_name = $1",
    )
    .bind(name)
    .fetch_all(connection)
    .await?;
    let mut baselines = BTreeMap::new();
    for row in &rows {
        let family: OsFamily = parse_text(
            &row.try_get::<String, _>("os_family")?,
            "patch group OS family",
        )?;
        baselines.insert(family, row.try_get("baseline_name")?);
    }
    Ok(baselines)
}
