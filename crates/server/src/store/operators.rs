//! Operators: users (argon2id password hashes) and their tokens (session
//! and API, stored as SHA-256 hashes only).

use jiff::Timestamp;
use patchline_api::auth::{Role, TagScope};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::records::{NewToken, NewUser, TokenKind, TokenRecord, UserRecord};
use super::revocation::Revocable;
use super::{
    Result, Store, StoreError, audit_in, conflict_on_unique, flag, millis, optional_timestamp,
    parse_text, timestamp,
};

const USER_COLUMNS: &str = "username, password_hash, role, scope_key, scope_value, created_at";
const TOKEN_COLUMNS: &str =
    "id, name, kind, subject, role, scope_key, scope_value, created_at, expires_at, revoked";

impl Store {
    pub async fn user_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Creates a user; `Conflict` when the name is taken.
    pub async fn create_user(&self, actor: &str, user: NewUser) -> Result<UserRecord> {
        check_name("username", &user.username)?;
        check_scope(user.role, user.scope.as_ref())?;
        let now = Timestamp::now();
        let (scope_key, scope_value) = scope_columns(user.scope.as_ref());
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (username, password_hash, role, scope_key, scope_value, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(scope_key)
        .bind(scope_value)
        .bind(millis(now))
        .execute(&mut *transaction)
        .await
        .map_err(|error| {
            conflict_on_unique(error, || format!("user {:?} exists", user.username))
        })?;
        audit_in(
            &mut transaction,
            now,
            actor,
            "user.create",
            &format!("user:{}", user.username),
            &json!({ "role": user.role, "scope": user.scope }),
        )
        .await?;
        transaction.commit().await?;
        Ok(UserRecord {
            username: user.username,
            password_hash: user.password_hash,
            role: user.role,
            scope: user.scope,
            created_at: timestamp(millis(now), "user creation time")?,
        })
    }

    pub async fn user(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        )))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_record).transpose()
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_record).collect()
    }

    /// Deletes a user and revokes its session tokens. The last admin cannot
    /// be deleted (nobody could manage the server any more).
    pub async fn delete_user(&self, actor: &str, username: &str) -> Result<()> {
        let mut transaction = self.begin_write().await?;
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *transaction)
            .await?;
        let Some(role) = role else {
            return Err(StoreError::NotFound {
                what: format!("user {username:?}"),
            });
        };
        if role == Role::Admin.as_str() {
            // Locked, so two admins deleting each other at once cannot
            // both see the other one remaining.
            let admins: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT username FROM users WHERE role = $1 ORDER BY username{}",
                self.for_update()
            )))
            .bind(Role::Admin.as_str())
            .fetch_all(&mut *transaction)
            .await?;
            if admins.len() <= 1 {
                return Err(StoreError::Conflict {
                    what: format!("user {username:?} is the last admin"),
                });
            }
        }
        sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut *transaction)
            .await?;
        let revoked = sqlx::query(
            "UPDATE tokens SET revoked = 1 WHERE kind = $1 AND subject = $2 AND revoked = 0",
        )
        .bind(TokenKind::Session.as_str())
        .bind(username)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        audit_in(
            &mut transaction,
            Timestamp::now(),
            actor,
            "user.delete",
            &format!("user:{username}"),
            &json!({ "role": role, "sessions_revoked": revoked }),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Stores a token (its hash only). A session token is audited as
    /// `login`, an API token as `token.create`.
    pub async fn insert_token(&self, actor: &str, token: NewToken) -> Result<TokenRecord> {
        check_name("token name", &token.name)?;
        check_scope(token.role, token.scope.as_ref())?;
        let now = Timestamp::now();
        let (scope_key, scope_value) = scope_columns(token.scope.as_ref());
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, name, token_hash, kind, subject, role, scope_key, \
             scope_value, created_at, expires_at, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(&token.token_hash)
        .bind(token.kind.as_str())
        .bind(&token.subject)
        .bind(token.role.as_str())
        .bind(scope_key)
        .bind(scope_value)
        .bind(millis(now))
        .bind(token.expires_at.map(millis))
        .execute(&mut *transaction)
        .await
        .map_err(|error| conflict_on_unique(error, || format!("token {:?} exists", token.id)))?;
        let action = match token.kind {
            TokenKind::Session => "login",
            TokenKind::Api => "token.create",
        };
        audit_in(
            &mut transaction,
            now,
            actor,
            action,
            &format!("token:{}", token.id),
            &json!({
                "name": token.name,
                "kind": token.kind.as_str(),
                "subject": token.subject,
                "role": token.role,
                "scope": token.scope,
                "expires_at": token.expires_at,
            }),
        )
        .await?;
        transaction.commit().await?;
        Ok(TokenRecord {
            id: token.id,
            name: token.name,
            kind: token.kind,
            subject: token.subject,
            role: token.role,
            scope: token.scope,
            created_at: timestamp(millis(now), "token creation time")?,
            expires_at: token.expires_at,
            revoked: false,
        })
    }

    /// The token with this SHA-256 hash, revoked or expired ones included:
    /// the caller checks [`TokenRecord::is_usable`].
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_record).transpose()
    }

    /// Every token, sessions included (see [`TokenRecord::kind`]), oldest
    /// first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_record).collect()
    }

    /// Revokes a token for good; `NotFound` when unknown. Revoking a revoked
    /// token changes nothing and writes no audit row.
    pub async fn revoke_token(&self, actor: &str, id: &str) -> Result<()> {
        self.revoke(actor, Revocable::Token, id).await
    }

    /// Deletes the session tokens that expired before `expired_before`,
    /// revoked ones included; the number deleted. API tokens are never
    /// deleted: their listing is the audit trail of what was issued.
    ///
    /// A revoked session goes by its expiry too: the revocation time is
    /// not stored, and a session is revoked before it expires, so it stays
    /// listed at least as long after its revocation. (Every login sets an
    /// expiry; a session without one is kept.) Maintenance, not an
    /// operator's action: no audit row.
    pub async fn purge_sessions(&self, expired_before: Timestamp) -> Result<u64> {
        let mut transaction = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM tokens WHERE kind = $1 AND expires_at IS NOT NULL AND expires_at < $2",
        )
        .bind(TokenKind::Session.as_str())
        .bind(millis(expired_before))
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(deleted)
    }
}

/// Names are shown and typed by people: non-empty, no control characters.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid {
            reason: format!("{what} {name:?} must be non-empty and without control characters"),
        });
    }
    Ok(())
}

/// An app-team operator is confined to a scope tag; no other role has one.
fn check_scope(role: Role, scope: Option<&TagScope>) -> Result<()> {
    match (role, scope) {
        (Role::AppTeam, None) => Err(StoreError::Invalid {
            reason: "role app-team requires a scope tag".into(),
        }),
        (Role::AppTeam, Some(scope)) if scope.key.is_empty() || scope.value.is_empty() => {
            Err(StoreError::Invalid {
                reason: "scope tag key and value must be non-empty".into(),
            })
        }
        (Role::AppTeam, Some(_)) | (_, None) => Ok(()),
        (role, Some(_)) => Err(StoreError::Invalid {
            reason: format!("role {role} takes no scope tag"),
        }),
    }
}

fn scope_columns(scope: Option<&TagScope>) -> (Option<String>, Option<String>) {
    match scope {
        Some(scope) => (Some(scope.key.clone()), Some(scope.value.clone())),
        None => (None, None),
    }
}

fn scope_of(row: &AnyRow) -> Result<Option<TagScope>> {
    let key: Option<String> = row.try_get("scope_key")?;
    let value: Option<String> = row.try_get("scope_value")?;
    Ok(match (key, value) {
        (Some(key), Some(value)) => Some(TagScope { key, value }),
        _ => None,
    })
}

fn user_record(row: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: parse_text(&row.try_get::<String, _>("role")?, "user role")?,
        scope: scope_of(row)?,
        created_at: timestamp(row.try_get("created_at")?, "user creation time")?,
    })
}

fn token_record(row: &AnyRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: parse_text(&row.try_get::<String, _>("kind")?, "token kind")?,
        subject: row.try_get("subject")?,
        role: parse_text(&row.try_get::<String, _>("role")?, "token role")?,
        scope: scope_of(row)?,
        created_at: timestamp(row.try_get("created_at")?, "token creation time")?,
        expires_at: optional_timestamp(row.try_get("expires_at")?, "token expiry")?,
        revoked: flag(row.try_get("revoked")?),
    })
}
