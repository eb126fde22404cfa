//! Server mode: the agent enrols once, then checks in periodically.
//!
//! Each round scans the root, sends facts and the inventory *hash*, and
//! sends the inventory body only when the server answers
//! `inventory-required`. Work returned by the server is run and reported at
//! the next check-in, which then follows at once. Transport failures and
//! server errors (5xx) are retried with capped exponential backoff; a 401
//! (node deleted or credential revoked) stops the agent with a clear error,
//! since no retry can succeed.
//!
//! [`run_once`] does one round (for tests, cron, and `patchline up`'s first
//! check-in); [`run`] and [`run_until`] loop.

mod arch;
pub mod backoff;
mod config;
mod session;
pub mod snapshot;
pub mod state;
pub mod work;

pub use backoff::RetryPolicy;
pub use config::{AgentConfig, EnrolSecret};
pub use session::{AgentError, CheckinOutcome, run, run_once, run_until, status_label};
pub use snapshot::{NodeSnapshot, SnapshotError, snapshot};
pub use state::{StateDir, StateError, StoredCredential};
