//! Nodes: their facts, credentials, check-ins and tags.
//!
//! Tags come in three layers, lowest first: the tagging rules' (computed
//! from the node's facts, kept as JSON on the node, see
//! [`super::governance`]), the agent's (from its configuration, resent at
//! every check-in, kept as JSON on the node) and the operator's (set through
//! the API or given by the enrolment secret). `node_tags` holds the
//! effective result, one row per key: every operator tag, each agent tag
//! whose key no operator tag overrides, and each rule tag whose key neither
//! sets. Tag queries are plain indexed SQL on it; the layers are merged only
//! when one of them changes.

use std::collections::BTreeMap;

use jiff::Timestamp;
use patchline_api::checkin::{InventoryHash, NodeFacts};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::operators::check_name;
use super::records::{CheckinRecord, NodeFilter, NodeRecord};
use super::{
    Result, Store, StoreError, audit_in, from_json, millis, optional_timestamp, timestamp, to_json,
};

/// `node_tags.source` of a tag set by an operator or an enrolment secret.
pub(crate) const OPERATOR_SOURCE: &str = "operator";
/// `node_tags.source` of a tag from the agent's configuration.
pub(crate) const AGENT_SOURCE: &str = "agent";
/// `node_tags.source` of a tag a tagging rule sets.
pub(crate) const RULE_SOURCE: &str = "rule";

const NODE_COLUMNS: &str =
    "n.id, n.facts, n.enrolled_at, n.last_checkin_at, n.inventory_hash, n.scanned_at";

impl Store {
    /// The node a credential (its SHA-256) belongs to.
    pub async fn node_id_by_credential(&self, credential_hash: &str) -> Result<Option<String>> {
        let id = sqlx::query_scalar("SELECT id FROM nodes WHERE credential_hash = $1")
            .bind(credential_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id)
    }

    pub async fn node(&self, id: &str) -> Result<Option<NodeRecord>> {
        let mut connection = self.pool.acquire().await?;
        node_in(&mut connection, id).await
    }

    /// The nodes matching every condition of `filter`, by hostname.
    pub async fn list_nodes(&self, filter: &NodeFilter) -> Result<Vec<NodeRecord>> {
        let mut conditions = Vec::new();
        let mut tag_conditions: Vec<(&str, &str)> = Vec::new();
        if let Some(scope) = &filter.scope {
            tag_conditions.push((&scope.key, &scope.value));
        }
        if let Some((key, value)) = &filter.tag {
            tag_conditions.push((key, value));
        }
        for index in 0..tag_conditions.len() {
            let (key, value) = (2 * index + 1, 2 * index + 2);
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM node_tags f WHERE f.node_id = n.id \
                 AND f.key = ${key} AND f.value = ${value})"
            ));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // Only fixed SQL fragments and placeholder numbers are formatted in.
        let nodes_sql =
            format!("SELECT {NODE_COLUMNS} FROM nodes n {where_clause} ORDER BY n.hostname, n.id");
        let tags_sql = format!(
            "SELECT t.node_id, t.key, t.value FROM node_tags t \
             WHERE t.node_id IN (SELECT n.id FROM nodes n {where_clause})"
        );

        let mut connection = self.pool.acquire().await?;
        let mut nodes_query = sqlx::query(sqlx::AssertSqlSafe(nodes_sql));
        let mut tags_query = sqlx::query(sqlx::AssertSqlSafe(tags_sql));
        for (key, value) in &tag_conditions {
            nodes_query = nodes_query.bind(*key).bind(*value);
            tags_query = tags_query.bind(*key).bind(*value);
        }
        let node_rows = nodes_query.fetch_all(&mut *connection).await?;
        let tag_rows = tags_query.fetch_all(&mut *connection).await?;

        let mut tags_by_node: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for row in &tag_rows {
            tags_by_node
                .entry(row.try_get("node_id")?)
                .or_default()
                .insert(row.try_get("key")?, row.try_get("value")?);
        }
        node_rows
            .iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let tags = tags_by_node.remove(&id).unwrap_or_default();
                node_record(row, tags)
            })
            .collect()
    }

    /// Changes operator tags: `Some(value)` sets, `None` removes (an agent
    /// tag of that key, else a rule tag, if any, shows again). Audited as `node.tags` when
    /// anything changed.
    pub async fn set_node_tags(
        &self,
        actor: &str,
        id: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<NodeRecord> {
        for (key, value) in changes {
            check_tag(key, value.as_deref().unwrap_or(""))?;
        }
        let mut transaction = self.begin_write().await?;
        // Locked: two tag changes of one node (operator and agent) run one
        // after the other instead of colliding on `node_tags`.
        let layers = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT agent_tags, rule_tags FROM nodes WHERE id = $1{}",
            self.for_update()
        )))
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(layers) = layers else {
            return Err(StoreError::NotFound {
                what: format!("node {id:?}"),
            });
        };
        let agent_tags: BTreeMap<String, String> = from_json(
            &layers.try_get::<String, _>("agent_tags")?,
            "node agent tags",
        )?;
        let rule_tags: BTreeMap<String, String> =
            from_json(&layers.try_get::<String, _>("rule_tags")?, "node rule tags")?;
        let before = operator_tags_in(&mut transaction, id).await?;

        let mut after = before.clone();
        for (key, value) in changes {
            match value {
                Some(value) => after.insert(key.clone(), value.clone()),
                None => after.remove(key),
            };
        }
        if after != before {
            for (key, value) in changes {
                sqlx::query("DELETE FROM node_tags WHERE node_id = $1 AND key = $2")
                    .bind(id)
                    .bind(key)
                    .execute(&mut *transaction)
                    .await?;
                let (value, source) = match (value, agent_tags.get(key), rule_tags.get(key)) {
                    (Some(value), _, _) => (value, OPERATOR_SOURCE),
                    (None, Some(agent_value), _) => (agent_value, AGENT_SOURCE),
                    (None, None, Some(rule_value)) => (rule_value, RULE_SOURCE),
                    (None, None, None) => continue,
                };
                insert_tag(&mut transaction, id, key, value, source).await?;
            }
            audit_in(
                &mut transaction,
                Timestamp::now(),
                actor,
                "node.tags",
                &format!("node:{id}"),
                &json!({ "before": before, "after": after }),
            )
            .await?;
        }
        let node = node_in(&mut transaction, id).await?;
        transaction.commit().await?;
        node.ok_or_else(|| StoreError::NotFound {
            what: format!("node {id:?}"),
        })
    }

    /// Deletes a node, its tags and so its credential.
    pub async fn delete_node(&self, actor: &str, id: &str) -> Result<()> {
        let mut transaction = self.begin_write().await?;
        let hostname: Option<String> =
            sqlx::query_scalar("SELECT hostname FROM nodes WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *transaction)
                .await?;
        let Some(hostname) = hostname else {
            return Err(StoreError::NotFound {
                what: format!("node {id:?}"),
            });
        };
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        audit_in(
            &mut transaction,
            Timestamp::now(),
            actor,
            "node.delete",
            &format!("node:{id}"),
            &json!({ "hostname": hostname }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Records a check-in: facts, agent tags, the inventory (which must be
    /// stored already) and its scan time. When the facts and the agent's
    /// tags are the ones stored (the usual case) that is one UPDATE;
    /// otherwise, in one transaction, changed agent tags are rewritten and
    /// audited, and changed facts re-run the tagging rules (the rule layer
    /// is rewritten and audited when its tags change).
    pub async fn record_checkin(&self, id: &str, checkin: &CheckinRecord) -> Result<()> {
        for (key, value) in &checkin.agent_tags {
            check_tag(key, value)?;
        }
        let agent_tags_json = to_json(&checkin.agent_tags, "agent tags")?;
        let facts_json = to_json(&checkin.facts, "node facts")?;
        // Parameters $1..$7 are the new values, $8 the node; $3 and $4
        // double as the conditions "facts and agent tags unchanged" of the
        // fast path.
        let update = |condition: &'static str| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE nodes SET hostname = $1, os_family = $2, facts = $3, agent_tags = $4, \
                 last_checkin_at = $5, inventory_hash = $6, scanned_at = $7 WHERE id = $8{condition}"
            )))
            .bind(&checkin.facts.hostname)
            .bind(checkin.facts.os.family.as_str())
            .bind(facts_json.clone())
            .bind(&agent_tags_json)
            .bind(millis(checkin.now))
            .bind(&checkin.inventory_hash.0)
            .bind(millis(checkin.scanned_at))
            .bind(id)
        };

        let writer = self.sqlite_write_lock().await;
        let updated = update(" AND facts = $3 AND agent_tags = $4")
            .execute(&self.pool)
            .await
            .map_err(|error| unknown_inventory(error, &checkin.inventory_hash))?
            .rows_affected();
        drop(writer);
        if updated > 0 {
            return Ok(());
        }

        let mut transaction = self.begin_write().await?;
        // Locked: two tag changes of one node (operator, agent, rules) run
        // one after the other instead of colliding on `node_tags`.
        let stored = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT facts, agent_tags, rule_tags FROM nodes WHERE id = $1{}",
            self.for_update()
        )))
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(stored) = stored else {
            return Err(StoreError::NotFound {
                what: format!("node {id:?}"),
            });
        };
        let stored_facts: String = stored.try_get("facts")?;
        let stored_agent_tags: String = stored.try_get("agent_tags")?;
        let rule_tags: BTreeMap<String, String> =
            from_json(&stored.try_get::<String, _>("rule_tags")?, "node rule tags")?;
        update("")
            .execute(&mut *transaction)
            .await
            .map_err(|error| unknown_inventory(error, &checkin.inventory_hash))?;

        if stored_agent_tags != agent_tags_json {
            let before: BTreeMap<String, String> =
                from_json(&stored_agent_tags, "node agent tags")?;
            if before != checkin.agent_tags {
                replace_agent_tags(&mut transaction, id, &checkin.agent_tags, &rule_tags).await?;
                audit_in(
                    &mut transaction,
                    checkin.now,
                    &format!("node:{id}"),
                    "node.agent-tags",
                    &format!("node:{id}"),
                    &json!({ "before": before, "after": checkin.agent_tags }),
                )
                .await?;
            }
        }
        if stored_facts != facts_json {
            let rules = super::governance::tagging_rules_in(&mut transaction).await?;
            let after = patchline_core::orchestration::rule_tags(
                &rules,
                &super::governance::rule_facts(&checkin.facts),
            );
            if after != rule_tags {
                replace_rule_tags(&mut transaction, id, &rule_tags, &after, checkin.now).await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

/// A node read on the caller's connection (inside its transaction, say).
pub(crate) async fn node_in(
    connection: &mut AnyConnection,
    id: &str,
) -> Result<Option<NodeRecord>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NODE_COLUMNS} FROM nodes n WHERE n.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let tag_rows = sqlx::query("SELECT key, value FROM node_tags WHERE node_id = $1")
        .bind(id)
        .fetch_all(&mut *connection)
        .await?;
    let mut tags = BTreeMap::new();
    for tag in &tag_rows {
        tags.insert(tag.try_get("key")?, tag.try_get("value")?);
    }
    node_record(&row, tags).map(Some)
}

/// Inserts one effective tag row.
pub(crate) async fn insert_tag(
    connection: &mut AnyConnection,
    node_id: &str,
    key: &str,
    value: &str,
    source: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO node_tags (node_id, key, value, source) VALUES ($1, $2, $3, $4)")
        .bind(node_id)
        .bind(key)
        .bind(value)
        .bind(source)
        .execute(connection)
        .await?;
    Ok(())
}

/// Replaces the agent layer of a node's effective tags: operator tags keep
/// overriding keys they share with the agent, and agent tags the rule
/// tags (`rule_tags`, the node's current rule layer).
async fn replace_agent_tags(
    connection: &mut AnyConnection,
    node_id: &str,
    agent_tags: &BTreeMap<String, String>,
    rule_tags: &BTreeMap<String, String>,
) -> Result<()> {
    sqlx::query("DELETE FROM node_tags WHERE node_id = $1 AND source IN ($2, $3)")
        .bind(node_id)
        .bind(AGENT_SOURCE)
        .bind(RULE_SOURCE)
        .execute(&mut *connection)
        .await?;
    insert_layer(connection, node_id, agent_tags, AGENT_SOURCE).await?;
    insert_layer(connection, node_id, rule_tags, RULE_SOURCE).await
}

/// Replaces the rule layer of a node (`before` → `after`, known to differ):
/// the `rule_tags` column, the `node_tags` rows of source 'rule' (under
/// every operator and agent tag of the same key), and a `node.rule-tags`
/// audit row. Runs inside the caller's transaction, the node row locked.
pub(crate) async fn replace_rule_tags(
    connection: &mut AnyConnection,
    node_id: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<()> {
    for (key, value) in after {
        check_tag(key, value)?;
    }
    sqlx::query("UPDATE nodes SET rule_tags = $1 WHERE id = $2")
        .bind(to_json(after, "rule tags")?)
        .bind(node_id)
        .execute(&mut *connection)
        .await?;
    sqlx::query("DELETE FROM node_tags WHERE node_id = $1 AND source = $2")
        .bind(node_id)
        .bind(RULE_SOURCE)
        .execute(&mut *connection)
        .await?;
    insert_layer(connection, node_id, after, RULE_SOURCE).await?;
    audit_in(
        connection,
        now,
        "system:tagging-rules",
        "node.rule-tags",
        &format!("node:{node_id}"),
        &json!({ "before": before, "after": after }),
    )
    .await
}

/// Inserts a layer's tags where no higher layer holds the key already.
async fn insert_layer(
    connection: &mut AnyConnection,
    node_id: &str,
    tags: &BTreeMap<String, String>,
    source: &str,
) -> Result<()> {
    for (key, value) in tags {
        sqlx::query(
            "INSERT INTO node_tags (node_id, key, value, source) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (node_id, key) DO NOTHING",
        )
        .bind(node_id)
        .bind(key)
        .bind(value)
        .bind(source)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

async fn operator_tags_in(
    connection: &mut AnyConnection,
    node_id: &str,
) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT key, value FROM node_tags WHERE node_id = $1 AND source = $2")
        .bind(node_id)
        .bind(OPERATOR_SOURCE)
        .fetch_all(connection)
        .await?;
    let mut tags = BTreeMap::new();
    for row in &rows {
        tags.insert(row.try_get("key")?, row.try_get("value")?);
    }
    Ok(tags)
}

/// Tag keys are names people type and match on: non-empty, no control
/// characters; values may be empty but hold no control characters either.
pub(crate) fn check_tag(key: &str, value: &str) -> Result<()> {
    check_name("tag key", key)?;
    if value.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            reason: format!("tag {key:?}: value {value:?} holds control characters"),
        });
    }
    Ok(())
}

/// A foreign-key failure on `inventory_hash` means the inventory was never
/// stored.
fn unknown_inventory(error: sqlx::Error, hash: &InventoryHash) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
            StoreError::NotFound {
                what: format!("inventory {hash}"),
            }
        }
        _ => StoreError::Database(error),
    }
}

fn node_record(row: &AnyRow, tags: BTreeMap<String, String>) -> Result<NodeRecord> {
    let facts: NodeFacts = from_json(&row.try_get::<String, _>("facts")?, "node facts")?;
    let inventory_hash: Option<String> = row.try_get("inventory_hash")?;
    Ok(NodeRecord {
        id: row.try_get("id")?,
        facts,
        tags,
        enrolled_at: timestamp(row.try_get("enrolled_at")?, "node enrolment time")?,
        last_checkin_at: optional_timestamp(row.try_get("last_checkin_at")?, "node check-in time")?,
        inventory_hash: inventory_hash.map(InventoryHash),
        scanned_at: optional_timestamp(row.try_get("scanned_at")?, "node scan time")?,
    })
}
