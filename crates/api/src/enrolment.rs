//! Enrolment: an operator creates an enrolment secret; an agent trades it
//! once for its own node credential.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::checkin::NodeFacts;

/// Creates an enrolment secret (admin). Nodes enrolling with it get `tags`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrolmentSecretRequest {
    pub name: String,
    /// `None`: unlimited enrolments until revoked or expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// The secret is shown once, here; the server keeps only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentSecretCreated {
    pub id: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentSecretView {
    pub id: String,
    pub name: String,
    pub uses: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Timestamp>,
    pub tags: BTreeMap<String, String>,
    pub revoked: bool,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

/// Sent by an agent with no credential yet. A revoked, expired or used-up
/// secret is a 401 and creates nothing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    pub secret: String,
    pub facts: NodeFacts,
    /// Tags the agent's own configuration sets (the secret's tags and
    /// operator tags win on conflict).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The node's id and credential; the agent stores both (mode 0600) and
/// authenticates every check-in with `Authorization: Bearer <credential>`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolResponse {
    pub node_id: String,
    pub credential: String,
    pub checkin_interval_seconds: u32,
}
