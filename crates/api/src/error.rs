//! The body of every error response.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": "<code>", "message": "<human text>"}` with a 4xx/5xx status.
/// Codes are stable (`unauthorized`, `forbidden`, `not-found`, `conflict`,
/// `invalid-request`, `payload-too-large`, `internal`); messages are not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}
