//! Opt-out governance: the settings (default window, default patch group)
//! and the automatic tagging rules, with the rule layer of node tags they
//! produce.
//!
//! A rule change re-applies every rule to every node in the same
//! transaction, so the stored rule tags always follow the stored rules;
//! check-ins whose facts changed re-apply them to their node
//! ([`Store::record_checkin`]); enrolment applies them through
//! [`Store::apply_tagging_rules`]. Every change is audited.

use std::collections::BTreeMap;

use jiff::Timestamp;
use patchline_api::checkin::NodeFacts;
use patchline_api::governance::GovernanceSettings;
use patchline_core::orchestration::{CompiledRules, RuleFacts, TaggingRule, rule_tags};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::nodes::replace_rule_tags;
use super::operators::check_name;
use super::{Result, Store, StoreError, audit_in, from_json, millis, retry_races, to_json};

/// The `settings` key of the [`GovernanceSettings`].
pub(crate) const GOVERNANCE_KEY: &str = "governance";

/// What a tagging rule change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleChange {
    /// False when the stored rule was identical (nothing written or audited).
    pub changed: bool,
    /// Nodes whose rule tags changed.
    pub retagged_nodes: u64,
}

/// The facts tagging rules match, taken from a node's reported facts.
pub fn rule_facts(facts: &NodeFacts) -> RuleFacts {
    RuleFacts {
        hostname: facts.hostname.clone(),
        os: facts.os.clone(),
        arch: facts.arch.clone(),
        addresses: facts.addresses.clone(),
    }
}

impl Store {
    /// The governance settings (all unset when never written).
    pub async fn governance_settings(&self) -> Result<GovernanceSettings> {
        let mut connection = self.pool.acquire().await?;
        governance_settings_in(&mut connection).await
    }

    /// Replaces the governance settings; identical → `false`, no audit.
    /// The default patch group and the default window must exist. Audited
    /// as `governance.put`.
    pub async fn put_governance_settings(
        &self,
        actor: &str,
        settings: &GovernanceSettings,
        now: Timestamp,
    ) -> Result<bool> {
        retry_races(
            || "the governance settings".to_owned(),
            || self.put_governance_settings_once(actor, settings, now),
        )
        .await
    }

    async fn put_governance_settings_once(
        &self,
        actor: &str,
        settings: &GovernanceSettings,
        now: Timestamp,
    ) -> Result<bool> {
        let mut transaction = self.begin_write().await?;
        let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT value FROM settings WHERE key = $1{}",
            self.for_update()
        )))
        .bind(GOVERNANCE_KEY)
        .fetch_optional(&mut *transaction)
        .await?;
        let before: GovernanceSettings = match &stored {
            Some(text) => from_json(text, "governance settings")?,
            None => GovernanceSettings::default(),
        };
        if stored.is_some() && before == *settings {
            return Ok(false);
        }
        if let Some(group) = &settings.default_patch_group {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT name FROM patch_groups WHERE name = $1")
                    .bind(group)
                    .fetch_optional(&mut *transaction)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::Invalid {
                    reason: format!("default_patch_group: patch group {group:?} does not exist"),
                });
            }
        }
        if let Some(window) = &settings.default_window {
            let owner: Option<Option<String>> =
                sqlx::query_scalar("SELECT owner_key FROM windows WHERE name = $1")
                    .bind(window)
                    .fetch_optional(&mut *transaction)
                    .await?;
            match owner {
                None => {
                    return Err(StoreError::Invalid {
                        reason: format!("default_window: window {window:?} does not exist"),
                    });
                }
                // An owned window reaches only its team's nodes: as the
                // default it would leave every other untagged node out.
                Some(Some(_)) => {
                    return Err(StoreError::Invalid {
                        reason: format!(
                            "default_window: window {window:?} is owned by an app-team scope; \
                             the default window must have no owner"
                        ),
                    });
                }
                Some(None) => {}
            }
        }
        let value = to_json(settings, "governance settings")?;
        let statement = if stored.is_some() {
            "UPDATE settings SET value = $2, updated_at = $3, updated_by = $4 WHERE key = $1"
        } else {
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)"
        };
        sqlx::query(statement)
            .bind(GOVERNANCE_KEY)
            .bind(value)
            .bind(millis(now))
            .bind(actor)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "governance.put",
            "settings:governance",
            &json!({ "before": before, "after": settings }),
        )
        .await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Every tagging rule, by name (the order they apply in).
    pub async fn tagging_rules(&self) -> Result<Vec<TaggingRule>> {
        let mut connection = self.pool.acquire().await?;
        tagging_rules_in(&mut connection).await
    }

    /// Creates or replaces a rule (validated here too) and re-applies the
    /// rules to every node; identical → nothing written. Audited as
    /// `tagging-rule.put`, each retagged node as `node.rule-tags`.
    pub async fn put_tagging_rule(
        &self,
        actor: &str,
        rule: &TaggingRule,
        now: Timestamp,
    ) -> Result<RuleChange> {
        check_name("tagging rule name", &rule.name)?;
        rule.validate().map_err(|error| StoreError::Invalid {
            reason: error.to_string(),
        })?;
        retry_races(
            || format!("tagging rule {:?}", rule.name),
            || self.put_tagging_rule_once(actor, rule, now),
        )
        .await
    }

    async fn put_tagging_rule_once(
        &self,
        actor: &str,
        rule: &TaggingRule,
        now: Timestamp,
    ) -> Result<RuleChange> {
        let mut transaction = self.begin_write().await?;
        let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT rule FROM tagging_rules WHERE name = $1{}",
            self.for_update()
        )))
        .bind(&rule.name)
        .fetch_optional(&mut *transaction)
        .await?;
        let before: Option<TaggingRule> = stored
            .as_deref()
            .map(|text| from_json(text, "tagging rule"))
            .transpose()?;
        if before.as_ref() == Some(rule) {
            return Ok(RuleChange {
                changed: false,
                retagged_nodes: 0,
            });
        }
        let statement = if before.is_some() {
            "UPDATE tagging_rules SET rule = $2, updated_at = $3, updated_by = $4 WHERE name = $1"
        } else {
            "INSERT INTO tagging_rules (name, rule, updated_at, updated_by) VALUES ($1, $2, $3, $4)"
        };
        sqlx::query(statement)
            .bind(&rule.name)
            .bind(to_json(rule, "tagging rule")?)
            .bind(millis(now))
            .bind(actor)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "tagging-rule.put",
            &format!("tagging-rule:{}", rule.name),
            &json!({ "before": before, "after": rule }),
        )
        .await?;
        let retagged_nodes = self.reapply_tagging_rules_in(&mut transaction, now).await?;
        transaction.commit().await?;
        Ok(RuleChange {
            changed: true,
            retagged_nodes,
        })
    }

    /// Deletes a rule and re-applies the others to every node; the number
    /// of nodes whose rule tags changed. Audited as `tagging-rule.delete`.
    pub async fn delete_tagging_rule(
        &self,
        actor: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<u64> {
        let mut transaction = self.begin_write().await?;
        let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT rule FROM tagging_rules WHERE name = $1{}",
            self.for_update()
        )))
        .bind(name)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(stored) = stored else {
            return Err(StoreError::NotFound {
                what: format!("tagging rule {name:?}"),
            });
        };
        let before: TaggingRule = from_json(&stored, "tagging rule")?;
        sqlx::query("DELETE FROM tagging_rules WHERE name = $1")
            .bind(name)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "tagging-rule.delete",
            &format!("tagging-rule:{name}"),
            &json!({ "before": before }),
        )
        .await?;
        let retagged = self.reapply_tagging_rules_in(&mut transaction, now).await?;
        transaction.commit().await?;
        Ok(retagged)
    }

    /// Sets a node's rule tags (the whole layer); `false` when they were
    /// those already. Audited as `node.rule-tags` when changed.
    pub async fn set_rule_tags(
        &self,
        node_id: &str,
        tags: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<bool> {
        // The usual answer (no rule, or the same tags) without taking the
        // write lock: a plain read first.
        let current: Option<String> =
            sqlx::query_scalar("SELECT rule_tags FROM nodes WHERE id = $1")
                .bind(node_id)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(current) = current
            && from_json::<BTreeMap<String, String>>(&current, "node rule tags")? == *tags
        {
            return Ok(false);
        }
        let mut transaction = self.begin_write().await?;
        let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT rule_tags FROM nodes WHERE id = $1{}",
            self.for_update()
        )))
        .bind(node_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(stored) = stored else {
            return Err(StoreError::NotFound {
                what: format!("node {node_id:?}"),
            });
        };
        let before: BTreeMap<String, String> = from_json(&stored, "node rule tags")?;
        if before == *tags {
            return Ok(false);
        }
        replace_rule_tags(&mut transaction, node_id, &before, tags, now).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Applies the stored rules to a node's stored facts (after its
    /// enrolment); whether its rule tags changed. The usual answer (nothing
    /// to change) is found without the write lock; a change is recomputed
    /// under the node's row lock with the rules as they are then, so a rule
    /// change committed meanwhile is never overwritten by older rules.
    pub async fn apply_tagging_rules(&self, node_id: &str, now: Timestamp) -> Result<bool> {
        let rules = self.tagging_rules().await?;
        let row = sqlx::query("SELECT facts, rule_tags FROM nodes WHERE id = $1")
            .bind(node_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                what: format!("node {node_id:?}"),
            });
        };
        let (facts, before) = facts_and_rule_tags(&row)?;
        if rule_tags(&rules, &rule_facts(&facts)) == before {
            return Ok(false);
        }

        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT facts, rule_tags FROM nodes WHERE id = $1{}",
            self.for_update()
        )))
        .bind(node_id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                what: format!("node {node_id:?}"),
            });
        };
        let (facts, before) = facts_and_rule_tags(&row)?;
        let rules = tagging_rules_in(&mut transaction).await?;
        let after = rule_tags(&rules, &rule_facts(&facts));
        if after == before {
            return Ok(false);
        }
        replace_rule_tags(&mut transaction, node_id, &before, &after, now).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Re-applies the stored rules (as the caller's transaction sees them)
    /// to every node; the number of nodes whose rule tags changed. The node
    /// rows are locked (in id order), so a concurrent check-in either
    /// commits first and is recomputed here, or waits and then reads the
    /// new rules.
    async fn reapply_tagging_rules_in(
        &self,
        connection: &mut AnyConnection,
        now: Timestamp,
    ) -> Result<u64> {
        let rules = tagging_rules_in(connection).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, facts, rule_tags FROM nodes ORDER BY id{}",
            self.for_update()
        )))
        .fetch_all(&mut *connection)
        .await?;
        let compiled = CompiledRules::new(&rules);
        let mut retagged = 0;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let (facts, before) = facts_and_rule_tags(row)?;
            let after = compiled.tags(&rule_facts(&facts));
            if after != before {
                replace_rule_tags(connection, &id, &before, &after, now).await?;
                retagged += 1;
            }
        }
        Ok(retagged)
    }
}

/// A node row's facts and rule tags.
fn facts_and_rule_tags(row: &AnyRow) -> Result<(NodeFacts, BTreeMap<String, String>)> {
    let facts = from_json(&row.try_get::<String, _>("facts")?, "node facts")?;
    let rule_tags = from_json(&row.try_get::<String, _>("rule_tags")?, "node rule tags")?;
    Ok((facts, rule_tags))
}

/// What a governance default names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DefaultKind {
    Window,
    PatchGroup,
}

/// A `Conflict` when `name` is the governance default of its kind: deleting
/// it would silently move every node it serves, so the operator sets
/// another default (or none) first.
pub(crate) async fn refuse_deleting_default(
    connection: &mut AnyConnection,
    kind: DefaultKind,
    name: &str,
) -> Result<()> {
    let settings = governance_settings_in(connection).await?;
    let (current, what) = match kind {
        DefaultKind::Window => (settings.default_window, "window"),
        DefaultKind::PatchGroup => (settings.default_patch_group, "patch group"),
    };
    if current.as_deref() == Some(name) {
        return Err(StoreError::Conflict {
            what: format!(
                "{what} {name:?} is the governance default {what}; set another default \
                 (or none) first"
            ),
        });
    }
    Ok(())
}

pub(crate) async fn governance_settings_in(
    connection: &mut AnyConnection,
) -> Result<GovernanceSettings> {
    let stored: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(GOVERNANCE_KEY)
        .fetch_optional(connection)
        .await?;
    match stored {
        Some(text) => from_json(&text, "governance settings"),
        None => Ok(GovernanceSettings::default()),
    }
}

/// The stored rules in the order they apply (by name).
pub(crate) async fn tagging_rules_in(connection: &mut AnyConnection) -> Result<Vec<TaggingRule>> {
    let rows = sqlx::query("SELECT name, rule FROM tagging_rules")
        .fetch_all(connection)
        .await?;
    let mut rules = rows
        .iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            from_json(
                &row.try_get::<String, _>("rule")?,
                &format!("tagging rule {name:?}"),
            )
        })
        .collect::<Result<Vec<TaggingRule>>>()?;
    // Sorted here, by bytes: the order decides which rule wins a key, and
    // SQL `ORDER BY` follows the database's collation, which differs
    // between SQLite and PostgreSQL.
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rules)
}
