//! Revoking a named credential (an API token or an enrolment secret): the
//! same idempotent, audited flag flip on either table.

use jiff::Timestamp;
use serde_json::json;
use sqlx::{AssertSqlSafe, Row};

use super::audit::audit_in;
use super::{Result, Store, StoreError, flag, flag_value};

/// A table of revocable credentials, each row with `id`, `name`, `revoked`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Revocable {
    Token,
    EnrolmentSecret,
}

impl Revocable {
    fn table(self) -> &'static str {
        match self {
            Revocable::Token => "tokens",
            Revocable::EnrolmentSecret => "enrolment_secrets",
        }
    }

    /// The audit target prefix and the noun of messages.
    fn kind(self) -> (&'static str, &'static str) {
        match self {
            Revocable::Token => ("token", "token"),
            Revocable::EnrolmentSecret => ("enrolment-secret", "enrolment secret"),
        }
    }
}

impl Store {
    /// Revokes for good; `NotFound` when unknown. Revoking a revoked one
    /// changes nothing and writes no audit row.
    pub(crate) async fn revoke(&self, actor: &str, what: Revocable, id: &str) -> Result<()> {
        let (target, noun) = what.kind();
        let table = what.table();
        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT name, revoked FROM {table} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                what: format!("{noun} {id:?}"),
            });
        };
        if flag(row.try_get("revoked")?) {
            return Ok(());
        }
        let name: String = row.try_get("name")?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET revoked = $1 WHERE id = $2"
        )))
        .bind(flag_value(true))
        .bind(id)
        .execute(&mut *transaction)
        .await?;
        audit_in(
            &mut transaction,
            Timestamp::now(),
            actor,
            &format!("{target}.revoke"),
            &format!("{target}:{id}"),
            &json!({ "name": name }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}
