//! The work-ready long-poll: an idle agent waits on the server for work
//! queued for its node instead of sleeping its whole check-in interval.
//!
//! A waiter checks the store once, then sleeps on its node's [`Notify`],
//! which the orchestrator fires after it committed invocations queued for
//! that node on this server (a runner step, Patch Now). Work queued by
//! another server on the same database does not reach this server's
//! notifiers, so every `recheck` interval one waiter sweeps the store for
//! all: one query lists the nodes with work queued, and their waiters
//! here are woken. The store's load is thus one look per long-poll plus
//! one sweep per interval and server, however many agents wait; the
//! number of waiters is capped too: beyond it a waiter answers `false`
//! at once (the agent then sleeps its interval, as without the long-poll).
//! A server shutting down wakes every waiter so none holds the graceful
//! shutdown up.
//!
//! The work-cancel long-poll ([`super::work_cancel`]) waits the same way
//! on the same notifiers and within the same cap: a node's notifier also
//! fires when its running work is asked to stop, and its own sweep looks
//! for the stop requests another server made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use patchline_core::orchestration::InvocationStatus;
use tokio::sync::{Notify, Semaphore};

use super::{Orchestrator, OrchestratorError};

/// Per-node notifiers of the waiters on one server.
pub struct WorkSignals {
    /// Only nodes with a waiter have an entry; the last waiter of a node
    /// removes it ([`Registration`]'s drop).
    nodes: Mutex<HashMap<String, NodeSignal>>,
    waiters: Arc<Semaphore>,
    closed: AtomicBool,
    shutdown: Notify,
    /// When the store was last swept for queued work (one sweeper at a
    /// time; the others skip while it sweeps, and for `recheck` after).
    last_sweep: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    /// The same for the sweep for stop requests.
    last_cancel_sweep: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

/// What a waiter's periodic store sweep looks for (work-ready waiters:
/// queued work; work-cancel waiters: stop requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sweep {
    QueuedWork,
    CancelRequests,
}

struct NodeSignal {
    notify: Arc<Notify>,
    waiters: usize,
}

impl std::fmt::Debug for WorkSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkSignals")
            .field("available_waiters", &self.waiters.available_permits())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl WorkSignals {
    /// Room for `max_waiters` simultaneous waiters.
    pub fn new(max_waiters: usize) -> WorkSignals {
        WorkSignals {
            nodes: Mutex::new(HashMap::new()),
            waiters: Arc::new(Semaphore::new(max_waiters.min(Semaphore::MAX_PERMITS))),
            closed: AtomicBool::new(false),
            shutdown: Notify::new(),
            last_sweep: tokio::sync::Mutex::new(None),
            last_cancel_sweep: tokio::sync::Mutex::new(None),
        }
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<String, NodeSignal>> {
        // A panic while holding the map cannot leave it half-updated.
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the waiters of these nodes (their work was queued).
    pub fn notify<'a>(&self, node_ids: impl IntoIterator<Item = &'a str>) {
        let nodes = self.nodes();
        for node_id in node_ids {
            if let Some(signal) = nodes.get(node_id) {
                signal.notify.notify_waiters();
            }
        }
    }

    /// Ends every wait now and refuses new ones (the server is stopping).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
    }

    /// The number of waiters now (tests, metrics).
    pub fn waiting(&self) -> usize {
        self.nodes().values().map(|signal| signal.waiters).sum()
    }

    fn register(&self, node_id: &str) -> Registration<'_> {
        let mut nodes = self.nodes();
        let signal = nodes
            .entry(node_id.to_owned())
            .or_insert_with(|| NodeSignal {
                notify: Arc::new(Notify::new()),
                waiters: 0,
            });
        signal.waiters += 1;
        Registration {
            signals: self,
            node_id: node_id.to_owned(),
            notify: Arc::clone(&signal.notify),
        }
    }
}

/// One waiter of a node; unregisters on drop (also when the client went
/// away and the handler's future was dropped).
struct Registration<'a> {
    signals: &'a WorkSignals,
    node_id: String,
    notify: Arc<Notify>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut nodes = self.signals.nodes();
        if let Some(signal) = nodes.get_mut(&self.node_id) {
            signal.waiters = signal.waiters.saturating_sub(1);
            if signal.waiters == 0 {
                nodes.remove(&self.node_id);
            }
        }
    }
}

impl Orchestrator {
    /// The notifiers of this server's work-ready waiters.
    pub fn work_signals(&self) -> &WorkSignals {
        &self.inner.signals
    }

    /// Whether `node_id` has an invocation queued (waiting for its
    /// check-in); one indexed query.
    pub async fn has_queued_work(&self, node_id: &str) -> Result<bool, OrchestratorError> {
        let open = self.inner.store.node_open_statuses(node_id).await?;
        Ok(open.contains(&InvocationStatus::Queued))
    }

    /// Wakes the local waiters of every node the `kind` of sweep finds
    /// in the store, unless another waiter did so less than `recheck` ago.
    async fn sweep(&self, kind: Sweep, recheck: Duration) -> Result<(), OrchestratorError> {
        let signals = &self.inner.signals;
        let last_sweep = match kind {
            Sweep::QueuedWork => &signals.last_sweep,
            Sweep::CancelRequests => &signals.last_cancel_sweep,
        };
        // Another waiter sweeping right now does it for this one too.
        let Ok(mut last_sweep) = last_sweep.try_lock() else {
            return Ok(());
        };
        let now = tokio::time::Instant::now();
        if last_sweep.is_some_and(|last| now.duration_since(last) < recheck) {
            return Ok(());
        }
        let nodes = match kind {
            Sweep::QueuedWork => self.inner.store.nodes_with_queued_work().await?,
            Sweep::CancelRequests => self.inner.store.nodes_with_cancel_requests().await?,
        };
        *last_sweep = Some(now);
        signals.notify(nodes.iter().map(String::as_str));
        Ok(())
    }

    /// Waits until `node_id` has work queued (`true`) or `wait` passed
    /// (`false`). Answers `false` at once when the waiters are at their
    /// cap or the server is stopping.
    pub async fn wait_for_work(
        &self,
        node_id: &str,
        wait: Duration,
    ) -> Result<bool, OrchestratorError> {
        let found = self
            .wait_on_node(node_id, wait, Sweep::QueuedWork, || async {
                Ok(self.has_queued_work(node_id).await?.then_some(()))
            })
            .await?;
        Ok(found.is_some())
    }

    /// Waits on `node_id`'s notifier until `look` finds something
    /// (`Some`), or `wait` passed, the waiters are at their cap or the
    /// server is stopping (`None`). `look` runs first, then after every
    /// wake-up; every `recheck` interval a `sweep` of the store wakes the
    /// nodes concerned.
    pub(super) async fn wait_on_node<T, Look, Found>(
        &self,
        node_id: &str,
        wait: Duration,
        sweep: Sweep,
        look: Look,
    ) -> Result<Option<T>, OrchestratorError>
    where
        Look: Fn() -> Found,
        Found: std::future::Future<Output = Result<Option<T>, OrchestratorError>>,
    {
        let signals = &self.inner.signals;
        let Ok(_permit) = Arc::clone(&signals.waiters).try_acquire_owned() else {
            tracing::debug!(node = %node_id, "long-poll waiters at their cap; answering at once");
            return Ok(None);
        };
        let deadline = tokio::time::Instant::now() + wait;
        let recheck = self
            .inner
            .settings
            .work_ready_recheck
            .max(Duration::from_millis(10));
        let registration = signals.register(node_id);
        let shutdown = signals.shutdown.notified();
        tokio::pin!(shutdown);
        shutdown.as_mut().enable();
        loop {
            // Listening before looking: a change between the look and the
            // wait still wakes this waiter.
            let woken = registration.notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if signals.closed.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if let Some(found) = look().await? {
                return Ok(Some(found));
            }
            // The deadline ends the wait without another look: the agent
            // calls again at once, and that call's first look sees it.
            loop {
                tokio::select! {
                    () = &mut woken => break,
                    () = tokio::time::sleep(recheck) => {
                        // Wakes this waiter too when its node is concerned.
                        self.sweep(sweep, recheck).await?;
                    }
                    () = tokio::time::sleep_until(deadline) => return Ok(None),
                    () = &mut shutdown => return Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_waiter_of_a_node_removes_its_entry() {
        let signals = WorkSignals::new(4);
        let first = signals.register("n1");
        let second = signals.register("n1");
        let other = signals.register("n2");
        assert_eq!(signals.waiting(), 3);
        drop(first);
        assert_eq!(signals.nodes().len(), 2);
        drop(second);
        assert_eq!(signals.nodes().len(), 1);
        drop(other);
        assert!(signals.nodes().is_empty());
    }

    #[tokio::test]
    async fn a_notification_reaches_only_the_nodes_named() {
        let signals = WorkSignals::new(4);
        let mine = signals.register("n1");
        let theirs = signals.register("n2");
        let woken = mine.notify.notified();
        let not_woken = theirs.notify.notified();
        tokio::pin!(woken);
        tokio::pin!(not_woken);
        woken.as_mut().enable();
        not_woken.as_mut().enable();
        signals.notify(["n1", "unknown"]);
        let answered = tokio::time::timeout(Duration::from_secs(30), &mut woken).await;
        assert!(answered.is_ok(), "n1's waiter was not woken");
        let polled = futures_poll_once(not_woken.as_mut()).await;
        assert!(!polled, "n2's waiter was woken");
    }

    /// Polls a future once: whether it was ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> bool {
        let mut future = future;
        std::future::poll_fn(|context| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut future).poll(context).is_ready())
        })
        .await
    }
}
