//! The watcher of a running work item: it long-polls the server's
//! `work/{id}/cancel` route with the node's credential and records the
//! server's request that the work stop ([`CancelRequest`]), which the
//! running process (command, snapshot, install hook) honours.
//!
//! The watcher never harms the work: a 404 (a server without the route,
//! or work it no longer knows), a refused credential or a transport
//! failure only makes it wait (capped exponential backoff) and ask again.
//! It stops with the request, or when the session aborts it as the work
//! ends.

use std::sync::Arc;
use std::time::Duration;

use patchline_api::Client;
use tracing::{debug, info};

use crate::checkin::backoff::{Backoff, RetryPolicy};
use crate::checkin::work::CancelRequest;

/// One long-poll's wait (the server's default).
const WAIT: Duration = Duration::from_secs(50);

/// The waits after failed polls: from 1 s up to a minute.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

/// Long-polls until the server asks that `work_id` stop, then records it
/// in `cancel`. Runs until then (abort it when the work ends).
pub async fn watch(client: Client, work_id: String, cancel: Arc<CancelRequest>) {
    let mut backoff = Backoff::new(RETRY);
    let mut failure_logged = false;
    loop {
        match client.work_cancel(&work_id, WAIT).await {
            Ok(answer) if answer.cancel => {
                let reason = answer.reason.unwrap_or_default();
                info!(work = %work_id, reason = %reason, "the server asked to stop this work");
                cancel.request(&reason);
                return;
            }
            Ok(_) => backoff.reset(),
            Err(error) => {
                if !failure_logged {
                    failure_logged = true;
                    debug!(
                        work = %work_id,
                        error = %error,
                        "cannot ask the server whether to stop this work; retrying"
                    );
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}
