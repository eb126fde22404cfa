//! Baselines, versioned: each change of a document or of its default flag
//! makes a new version (kept in `baseline_versions`, also after deletion so
//! a reused name continues the numbering), and is audited with the new
//! document. Putting an identical baseline changes nothing, so applying a
//! file twice is a no-op. Every OS family always has exactly one default
//! baseline: seeded on first start, never cleared, only replaced.

use jiff::Timestamp;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::operators::check_name;
use super::records::{BaselineRecord, BaselineVersionRecord, PutOutcome};
use super::{
    Result, Store, StoreError, audit_in, flag, flag_value, from_json, millis, parse_text,
    retry_races, timestamp, to_json,
};

const BASELINE_COLUMNS: &str =
    "name, os_family, version, default_for_family, document, updated_at, updated_by";

impl Store {
    /// Creates or replaces a baseline. Identical document and flag:
    /// `changed: false`, no version, no audit. Otherwise the version goes up
    /// by one and `baseline.put` is audited with the new document. Making it
    /// the default of its family takes the flag from the previous default;
    /// clearing the flag of the current default, or moving a default or a
    /// baseline a patch group names to another family, is a `Conflict`.
    pub async fn put_baseline(
        &self,
        actor: &str,
        baseline: &Baseline,
        default_for_family: bool,
        now: Timestamp,
    ) -> Result<PutOutcome> {
        check_name("baseline name", &baseline.name)?;
        baseline.validate().map_err(|error| StoreError::Invalid {
            reason: format!("baseline {:?}: {error}", baseline.name),
        })?;
        let document = to_json(baseline, "baseline")?;
        retry_races(
            || format!("baseline {:?}", baseline.name),
            || self.put_baseline_once(actor, baseline, &document, default_for_family, now),
        )
        .await
    }

    async fn put_baseline_once(
        &self,
        actor: &str,
        baseline: &Baseline,
        document: &str,
        default_for_family: bool,
        now: Timestamp,
    ) -> Result<PutOutcome> {
        let name = &baseline.name;
        let family = baseline.os_family;

        let mut transaction = self.begin_write().await?;
        let current = baseline_in(&mut transaction, name, self.for_update()).await?;
        let version = match &current {
            Some(current) => {
                if current.baseline == *baseline && current.default_for_family == default_for_family
                {
                    return Ok(PutOutcome {
                        changed: false,
                        version: current.version,
                        reevaluated_nodes: 0,
                    });
                }
                if current.default_for_family && !default_for_family {
                    return Err(StoreError::Conflict {
                        what: format!(
                            "baseline {name:?} is the default for {}; make another baseline \
                             the default instead",
                            current.os_family
                        ),
                    });
                }
                if current.os_family != family {
                    if current.default_for_family {
                        return Err(StoreError::Conflict {
                            what: format!(
                                "baseline {name:?} is the default for {}; it cannot move to {family}",
                                current.os_family
                            ),
                        });
                    }
                    let groups = groups_naming(&mut transaction, name).await?;
                    if !groups.is_empty() {
                        return Err(StoreError::Conflict {
                            what: format!(
                                "patch groups {groups:?} use baseline {name:?} for {}; it cannot \
                                 move to {family}",
                                current.os_family
                            ),
                        });
                    }
                }
                current.version + 1
            }
            None => {
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM baseline_versions WHERE name = $1",
                )
                .bind(name)
                .fetch_one(&mut *transaction)
                .await?;
                last.unwrap_or(0) + 1
            }
        };

        let mut previous_default: Option<String> = None;
        if default_for_family && !current.as_ref().is_some_and(|c| c.default_for_family) {
            previous_default = sqlx::query_scalar(
                "SELECT name FROM baselines WHERE os_family = $1 AND default_for_family = 1",
            )
            .bind(family.as_str())
            .fetch_optional(&mut *transaction)
            .await?;
            // Cleared first: the partial unique index allows one default.
            sqlx::query(
                "UPDATE baselines SET default_for_family = 0 \
                 WHERE os_family = $1 AND default_for_family = 1",
            )
            .bind(family.as_str())
            .execute(&mut *transaction)
            .await?;
        }

        let written = match &current {
            Some(current) => sqlx::query(
                "UPDATE baselines SET os_family = $1, version = $2, default_for_family = $3, \
                 document = $4, updated_at = $5, updated_by = $6 WHERE name = $7 AND version = $8",
            )
            .bind(family.as_str())
            .bind(version)
            .bind(flag_value(default_for_family))
            .bind(document)
            .bind(millis(now))
            .bind(actor)
            .bind(name)
            .bind(current.version),
            None => sqlx::query(
                "INSERT INTO baselines (os_family, version, default_for_family, document, \
                 updated_at, updated_by, name) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(family.as_str())
            .bind(version)
            .bind(flag_value(default_for_family))
            .bind(document)
            .bind(millis(now))
            .bind(actor)
            .bind(name),
        }
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if written == 0 {
            return Err(StoreError::Conflict {
                what: concurrent_change(name),
            });
        }
        sqlx::query(
            "INSERT INTO baseline_versions (name, version, os_family, default_for_family, \
             document, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(name)
        .bind(version)
        .bind(family.as_str())
        .bind(flag_value(default_for_family))
        .bind(document)
        .bind(millis(now))
        .bind(actor)
        .execute(&mut *transaction)
        .await?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "baseline.put",
            &format!("baseline:{name}"),
            &json!({
                "version": version,
                "default_for_family": default_for_family,
                "previous_default": previous_default,
                "baseline": baseline,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(PutOutcome {
            changed: true,
            version,
            reevaluated_nodes: 0,
        })
    }

    pub async fn baseline(&self, name: &str) -> Result<Option<BaselineRecord>> {
        let mut connection = self.pool.acquire().await?;
        baseline_in(&mut connection, name, "").await
    }

    /// Every current baseline, by family then name.
    pub async fn list_baselines(&self) -> Result<Vec<BaselineRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BASELINE_COLUMNS} FROM baselines ORDER BY os_family, name"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(baseline_record).collect()
    }

    /// Every stored version of `name`, newest first (also after the
    /// baseline was deleted); empty for a name never stored.
    pub async fn baseline_versions(&self, name: &str) -> Result<Vec<BaselineVersionRecord>> {
        let rows = sqlx::query(
            "SELECT name, version, default_for_family, document, created_at, created_by \
             FROM baseline_versions WHERE name = $1 ORDER BY version DESC",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BaselineVersionRecord {
                    name: row.try_get("name")?,
                    version: row.try_get("version")?,
                    default_for_family: flag(row.try_get("default_for_family")?),
                    baseline: from_json(&row.try_get::<String, _>("document")?, "baseline")?,
                    created_at: timestamp(row.try_get("created_at")?, "baseline version time")?,
                    created_by: row.try_get("created_by")?,
                })
            })
            .collect()
    }

    /// Deletes a baseline; refused (`Conflict`) while it is its family's
    /// default or a patch group names it. Its versions stay.
    pub async fn delete_baseline(&self, actor: &str, name: &str) -> Result<()> {
        let mut transaction = self.begin_write().await?;
        let Some(current) = baseline_in(&mut transaction, name, self.for_update()).await? else {
            return Err(StoreError::NotFound {
                what: format!("baseline {name:?}"),
            });
        };
        if current.default_for_family {
            return Err(StoreError::Conflict {
                what: format!(
                    "baseline {name:?} is the default for {}; make another baseline the \
                     default first",
                    current.os_family
                ),
            });
        }
        let groups = groups_naming(&mut transaction, name).await?;
        if !groups.is_empty() {
            return Err(StoreError::Conflict {
                what: format!("baseline {name:?} is used by patch groups {groups:?}"),
            });
        }
        sqlx::query("DELETE FROM baselines WHERE name = $1")
            .bind(name)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            Timestamp::now(),
            actor,
            "baseline.delete",
            &format!("baseline:{name}"),
            &json!({ "version": current.version, "os_family": current.os_family }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The default baseline of a family (nodes without a patch group, or
    /// whose group names none for their family, use it).
    pub async fn default_baseline(&self, family: OsFamily) -> Result<Option<BaselineRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BASELINE_COLUMNS} FROM baselines \
             WHERE os_family = $1 AND default_for_family = 1"
        )))
        .bind(family.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(baseline_record).transpose()
    }

    /// Gives every family without a default baseline the core's built-in
    /// one (as `system`). On an empty database that is every family; later
    /// it does nothing, since a default can be replaced but never cleared.
    pub(crate) async fn seed_default_baselines(&self) -> Result<()> {
        for family in OsFamily::ALL {
            if self.default_baseline(family).await?.is_some() {
                continue;
            }
            let builtin = Baseline::default_for(family);
            if self.baseline(&builtin.name).await?.is_some() {
                // An operator's baseline took the built-in name; never
                // overwrite it.
                tracing::warn!(family = %family, name = %builtin.name,
                    "no default baseline and the built-in name is taken; not seeding");
                continue;
            }
            match self
                .put_baseline("system", &builtin, true, Timestamp::now())
                .await
            {
                // Another server seeding the same database at once won.
                Ok(_) | Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

fn concurrent_change(name: &str) -> String {
    format!("baseline {name:?} was changed concurrently; retry")
}

/// The baseline `name`; `lock` is [`Store::for_update`] or empty.
pub(crate) async fn baseline_in(
    connection: &mut AnyConnection,
    name: &str,
    lock: &str,
) -> Result<Option<BaselineRecord>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BASELINE_COLUMNS} FROM baselines WHERE name = $1{lock}"
    )))
    .bind(name)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(baseline_record).transpose()
}

/// The patch groups naming `baseline` for some family.
async fn groups_naming(connection: &mut AnyConnection, baseline: &str) -> Result<Vec<String>> {
    let groups = sqlx::query_scalar(
        "SELECT DISTINCT group_name FROM patch_group_baselines WHERE baseline_name = $1 \
         ORDER BY group_name",
    )
    .bind(baseline)
    .fetch_all(connection)
    .await?;
    Ok(groups)
}

fn baseline_record(row: &AnyRow) -> Result<BaselineRecord> {
    Ok(BaselineRecord {
        name: row.try_get("name")?,
        os_family: parse_text(
            &row.try_get::<String, _>("os_family")?,
            "baseline OS family",
        )?,
        version: row.try_get("version")?,
        default_for_family: flag(row.try_get("default_for_family")?),
        baseline: from_json(&row.try_get::<String, _>("document")?, "baseline")?,
        updated_at: timestamp(row.try_get("updated_at")?, "baseline update time")?,
        updated_by: row.try_get("updated_by")?,
    })
}
