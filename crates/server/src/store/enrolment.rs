//! Enrolment secrets and the enrolment of a node with one: the secret is
//! checked, used and the node created in a single transaction, so a refused
//! enrolment stores nothing and a used-up secret cannot be used twice by
//! racing agents.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::nodes::{AGENT_SOURCE, OPERATOR_SOURCE, check_tag, insert_tag, node_in};
use super::operators::check_name;
use super::records::{EnrolmentSecretRecord, NewEnrolmentSecret, NewNode, NodeRecord};
use super::revocation::Revocable;
use super::{
    Result, Store, StoreError, audit_in, conflict_on_unique, flag, from_json, millis,
    optional_timestamp, timestamp, to_json,
};

const SECRET_COLUMNS: &str = "id, name, uses, max_uses, expires_at, tags, revoked, created_at";

impl Store {
    /// Stores an enrolment secret (its hash only).
    pub async fn insert_enrolment_secret(
        &self,
        actor: &str,
        secret: NewEnrolmentSecret,
    ) -> Result<EnrolmentSecretRecord> {
        check_name("enrolment secret name", &secret.name)?;
        for (key, value) in &secret.tags {
            check_tag(key, value)?;
        }
        let now = Timestamp::now();
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO enrolment_secrets \
             (id, name, secret_hash, max_uses, uses, expires_at, tags, revoked, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, 0, $7)",
        )
        .bind(&secret.id)
        .bind(&secret.name)
        .bind(&secret.secret_hash)
        .bind(secret.max_uses.map(i64::from))
        .bind(secret.expires_at.map(millis))
        .bind(to_json(&secret.tags, "enrolment secret tags")?)
        .bind(millis(now))
        .execute(&mut *transaction)
        .await
        .map_err(|error| {
            conflict_on_unique(error, || format!("enrolment secret {:?} exists", secret.id))
        })?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "enrolment-secret.create",
            &format!("enrolment-secret:{}", secret.id),
            &json!({
                "name": secret.name,
                "max_uses": secret.max_uses,
                "expires_at": secret.expires_at,
                "tags": secret.tags,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(EnrolmentSecretRecord {
            id: secret.id,
            name: secret.name,
            uses: 0,
            max_uses: secret.max_uses,
            expires_at: secret.expires_at,
            tags: secret.tags,
            revoked: false,
            created_at: timestamp(millis(now), "enrolment secret creation time")?,
        })
    }

    /// Every enrolment secret, oldest first.
    pub async fn list_enrolment_secrets(&self) -> Result<Vec<EnrolmentSecretRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM enrolment_secrets ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret_record).collect()
    }

    /// Revokes a secret for good; nodes already enrolled keep their own
    /// credentials. Revoking a revoked secret changes nothing.
    pub async fn revoke_enrolment_secret(&self, actor: &str, id: &str) -> Result<()> {
        self.revoke(actor, Revocable::EnrolmentSecret, id).await
    }

    /// Enrols a node with the secret whose hash is `secret_hash`, in one
    /// transaction: the secret must exist and be neither revoked, expired at
    /// `now`, nor used up (else [`StoreError::EnrolmentRefused`] and nothing
    /// is stored); its use count goes up, the node is created with the
    /// secret's tags over the agent's, and `node.enrol` is audited as
    /// `system`.
    pub async fn enrol_node(
        &self,
        secret_hash: &str,
        now: Timestamp,
        node: NewNode,
    ) -> Result<NodeRecord> {
        for (key, value) in &node.agent_tags {
            check_tag(key, value)?;
        }
        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM enrolment_secrets WHERE secret_hash = $1"
        )))
        .bind(secret_hash)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            return Err(refused("unknown enrolment secret"));
        };
        let secret = secret_record(&row)?;
        if secret.revoked {
            return Err(refused("the enrolment secret is revoked"));
        }
        if secret
            .expires_at
            .is_some_and(|expires_at| now >= expires_at)
        {
            return Err(refused("the enrolment secret has expired"));
        }
        // The use is counted under the same conditions the row was read
        // with, so two agents racing for the last use cannot both win.
        let counted = sqlx::query(
            "UPDATE enrolment_secrets SET uses = uses + 1 \
             WHERE id = $1 AND revoked = 0 AND (max_uses IS NULL OR uses < max_uses)",
        )
        .bind(&secret.id)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if counted == 0 {
            return Err(refused("the enrolment secret is used up"));
        }

        sqlx::query(
            "INSERT INTO nodes (id, credential_hash, hostname, os_family, facts, agent_tags, \
             enrolment_secret_id, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&node.id)
        .bind(&node.credential_hash)
        .bind(&node.facts.hostname)
        .bind(node.facts.os.family.as_str())
        .bind(to_json(&node.facts, "node facts")?)
        .bind(to_json(&node.agent_tags, "agent tags")?)
        .bind(&secret.id)
        .bind(millis(now))
        .execute(&mut *transaction)
        .await
        .map_err(|error| conflict_on_unique(error, || format!("node {:?} exists", node.id)))?;
        for (key, value) in &secret.tags {
            insert_tag(&mut transaction, &node.id, key, value, OPERATOR_SOURCE).await?;
        }
        for (key, value) in &node.agent_tags {
            if !secret.tags.contains_key(key) {
                insert_tag(&mut transaction, &node.id, key, value, AGENT_SOURCE).await?;
            }
        }
        let effective: BTreeMap<&String, &String> =
            node.agent_tags.iter().chain(&secret.tags).collect();
        audit_in(
            &mut transaction,
            now,
            "system",
            "node.enrol",
            &format!("node:{}", node.id),
            &json!({
                "hostname": node.facts.hostname,
                "os": node.facts.os,
                "enrolment_secret": { "id": secret.id, "name": secret.name },
                "tags": effective,
            }),
        )
        .await?;
        let record = node_in(&mut transaction, &node.id).await?;
        transaction.commit().await?;
        record.ok_or_else(|| StoreError::NotFound {
            what: format!("node {:?}", node.id),
        })
    }
}

fn refused(reason: &str) -> StoreError {
    StoreError::EnrolmentRefused {
        reason: reason.to_owned(),
    }
}

fn secret_record(row: &AnyRow) -> Result<EnrolmentSecretRecord> {
    let uses: i64 = row.try_get("uses")?;
    let max_uses: Option<i64> = row.try_get("max_uses")?;
    let count = |value: i64, what: &str| {
        u32::try_from(value).map_err(|error| StoreError::Corrupt {
            what: what.to_owned(),
            reason: error.to_string(),
        })
    };
    Ok(EnrolmentSecretRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        uses: count(uses, "enrolment secret uses")?,
        max_uses: max_uses
            .map(|value| count(value, "enrolment secret max uses"))
            .transpose()?,
        expires_at: optional_timestamp(row.try_get("expires_at")?, "enrolment secret expiry")?,
        tags: from_json(&row.try_get::<String, _>("tags")?, "enrolment secret tags")?,
        revoked: flag(row.try_get("revoked")?),
        created_at: timestamp(row.try_get("created_at")?, "enrolment secret creation time")?,
    })
}
