//! Server mode: the agent enrols once, then checks in periodically.
//!
//! Each round scans the root, sends facts and the inventory *hash*, and
//! sends the inventory body only when the server answers
//! `inventory-required`. Work returned by the server is run once per id
//! (the work journal in the state directory remembers every id started)
//! and reported at the next check-in, which then follows at once with a
//! fresh scan. Between check-ins the agent long-polls the server's
//! `work-ready` route, so work queued for it (Patch Now, a window's turn)
//! is collected within seconds rather than at the next interval; a server
//! without the route is simply slept on. While a work item runs, a watcher
//! long-polls whether the server wants it stopped ([`cancel_watch`]).
//! Transport failures and
//! server errors (5xx) are retried with capped exponential backoff; a 401
//! (node deleted or credential revoked) stops the agent with a clear error,
//! since no retry can succeed.
//!
//! [`run_once`] does one round (for tests, cron, and `patchline up`'s first
//! check-in); [`run`] and [`run_until`] loop.

mod arch;
pub mod backoff;
pub mod cancel_watch;
mod config;
pub mod journal;
pub mod runner;
mod session;
pub mod snapshot;
pub mod state;
pub mod work;

pub use backoff::RetryPolicy;
pub use config::{AgentConfig, EnrolSecret};
pub use runner::WorkRunner;
pub use session::{AgentError, CheckinOutcome, run, run_once, run_until, status_label};
pub use snapshot::{
    NodeSnapshot, SnapshotError, snapshot, snapshot_cached, snapshot_with_failures,
};
pub use state::{StateDir, StateError, StoredCredential};
pub use work::{CancelRequest, WorkSettings};
