//! The plain records the store reads and writes. Wire types of
//! `patchline_api` and domain types of the core are used where they fit; a
//! record keeping something the wire never shows (a password hash, a token
//! kind) converts to its view with `view()`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use patchline_api::auth::{Role, TagScope, TokenView, UserView};
use patchline_api::baselines::{BaselineVersionView, BaselineView};
use patchline_api::checkin::{InventoryHash, NodeFacts};
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;

pub use patchline_api::audit::AuditEntry;
pub use patchline_api::baselines::PutOutcome;
pub use patchline_api::enrolment::EnrolmentSecretView as EnrolmentSecretRecord;
pub use patchline_api::groups::PatchGroup;

/// A user to create; the password is already hashed
/// ([`crate::auth::secrets::hash_password`]).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    /// Required for app-team, refused for every other role.
    pub scope: Option<TagScope>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    pub scope: Option<TagScope>,
    pub created_at: Timestamp,
}

impl UserRecord {
    pub fn view(&self) -> UserView {
        UserView {
            username: self.username.clone(),
            role: self.role,
            scope: self.scope.clone(),
            created_at: self.created_at,
        }
    }
}

/// How an operator token came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// From a password login; expires after hours.
    Session,
    /// Created by an admin for automation.
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
}

impl std::str::FromStr for TokenKind {
    type Err = String;

    fn from_str(text: &str) -> Result<TokenKind, String> {
        match text {
            "session" => Ok(TokenKind::Session),
            "api" => Ok(TokenKind::Api),
            other => Err(format!("unknown token kind {other:?}")),
        }
    }
}

/// A token to store; only the SHA-256 of the token text is kept
/// ([`crate::auth::secrets::token_hash`]).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub kind: TokenKind,
    /// The username for a session, `token:<name>` for an API token.
    pub subject: String,
    pub role: Role,
    pub scope: Option<TagScope>,
    pub expires_at: Option<Timestamp>,
}

/// A stored token. The caller decides whether it may be used
/// ([`TokenRecord::is_usable`]): the store returns revoked and expired ones
/// too so a listing can show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub kind: TokenKind,
    pub subject: String,
    pub role: Role,
    pub scope: Option<TagScope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
}

impl TokenRecord {
    /// Neither revoked nor expired at `now`.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        !self.revoked && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }

    pub fn view(&self) -> TokenView {
        TokenView {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            scope: self.scope.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked: self.revoked,
        }
    }
}

/// An enrolment secret to store (only its SHA-256 is kept).
#[derive(Debug, Clone)]
pub struct NewEnrolmentSecret {
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    /// `None`: unlimited until revoked or expired.
    pub max_uses: Option<u32>,
    pub expires_at: Option<Timestamp>,
    /// Given to every node enrolling with the secret (over its agent tags).
    pub tags: BTreeMap<String, String>,
}

/// A node about to enrol.
#[derive(Debug, Clone)]
pub struct NewNode {
    pub id: String,
    pub facts: NodeFacts,
    /// The tags of the agent's own configuration.
    pub agent_tags: BTreeMap<String, String>,
    /// SHA-256 of the node credential handed to the agent.
    pub credential_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: String,
    pub facts: NodeFacts,
    /// The effective tags: the agent's tags overlaid by operator tags
    /// (including those the enrolment secret gave).
    pub tags: BTreeMap<String, String>,
    pub enrolled_at: Timestamp,
    pub last_checkin_at: Option<Timestamp>,
    /// The inventory of the last check-in; `None` before the first.
    pub inventory_hash: Option<InventoryHash>,
    pub scanned_at: Option<Timestamp>,
}

/// Which nodes a listing returns; every given condition must hold.
#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    /// An app-team operator's scope tag.
    pub scope: Option<TagScope>,
    /// One effective tag `(key, value)`.
    pub tag: Option<(String, String)>,
}

/// What a check-in records about its node. The inventory itself must be
/// stored first ([`crate::store::Store::put_inventory`]).
#[derive(Debug, Clone)]
pub struct CheckinRecord {
    pub facts: NodeFacts,
    pub agent_tags: BTreeMap<String, String>,
    pub inventory_hash: InventoryHash,
    pub scanned_at: Timestamp,
    pub now: Timestamp,
}

/// The current version of a baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRecord {
    pub name: String,
    pub os_family: OsFamily,
    /// Starts at 1; each change adds one.
    pub version: i64,
    pub default_for_family: bool,
    pub baseline: Baseline,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

impl BaselineRecord {
    pub fn view(&self) -> BaselineView {
        BaselineView {
            name: self.name.clone(),
            os_family: self.os_family,
            version: self.version,
            default_for_family: self.default_for_family,
            baseline: self.baseline.clone(),
            updated_at: self.updated_at,
            updated_by: self.updated_by.clone(),
        }
    }
}

/// One version in a baseline's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineVersionRecord {
    pub name: String,
    pub version: i64,
    pub default_for_family: bool,
    pub baseline: Baseline,
    pub created_at: Timestamp,
    pub created_by: String,
}

impl BaselineVersionRecord {
    pub fn view(&self) -> BaselineVersionView {
        BaselineVersionView {
            version: self.version,
            baseline: self.baseline.clone(),
            created_at: self.created_at,
            created_by: self.created_by.clone(),
        }
    }
}
