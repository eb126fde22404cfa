//! The enrol and check-in protocol, one round at a time, and the loop that
//! repeats it with the server's interval, retries and backoff.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use patchline_api::checkin::{CheckinRequest, CheckinStatus, InventoryHash, Work, WorkResult};
use patchline_api::enrolment::EnrolRequest;
use patchline_api::nodes::NodeComplianceSummary;
use patchline_api::{Client, ClientError};
use patchline_core::compliance::ComplianceStatus;
use tracing::{debug, error, info, warn};

use crate::checkin::backoff::{Backoff, jittered_interval};
use crate::checkin::cancel_watch;
use crate::checkin::config::AgentConfig;
use crate::checkin::runner::WorkRunner;
use crate::checkin::snapshot::{NodeSnapshot, SnapshotError, snapshot_cached};

/// Under the state directory: the scan cache of apt list entries.
pub const SCAN_CACHE_DIR: &str = "scan-cache";
use crate::checkin::state::{StateDir, StateError, StoredCredential};
use crate::checkin::work::{CancelRequest, WorkSettings};
use crate::root::NodeRoot;

/// Until the server says otherwise (the enrolment answer carries it).
const DEFAULT_INTERVAL_SECONDS: u32 = 300;
/// Work answered by work again: at most this many check-ins in a row
/// without waiting, so a server that keeps handing out work cannot make the
/// agent spin.
const MAX_IMMEDIATE_ROUNDS: u32 = 3;
/// The longest work-ready long-poll (the server's default wait).
const MAX_LONG_POLL: Duration = Duration::from_secs(50);
/// Less time than this left before the next check-in: sleep it.
const MIN_LONG_POLL: Duration = Duration::from_secs(1);

/// Why server mode stopped (or one round failed).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(
        "{path} holds no credential and no enrolment secret was given \
         (--enrol-secret-file FILE or the PATCHLINE_ENROL_SECRET environment variable)"
    )]
    NoEnrolmentSecret { path: PathBuf },
    #[error(
        "{path} was issued by {stored}, not by {configured}: remove it to enrol \
         this node with {configured}"
    )]
    OtherServer {
        path: PathBuf,
        stored: String,
        configured: String,
    },
    #[error(
        "{server} refused the enrolment ({status}: {message}); the secret may be \
         wrong, revoked, expired or used up"
    )]
    EnrolmentRefused {
        server: String,
        status: u16,
        message: String,
    },
    #[error(
        "{server} refused the credential of node {node_id} (401: {message}): the node \
         was deleted or its credential revoked. The agent stops; remove {path} and \
         enrol again with a new enrolment secret"
    )]
    CredentialRejected {
        server: String,
        node_id: String,
        message: String,
        path: PathBuf,
    },
    #[error("the server asked for the inventory again right after receiving it")]
    InventoryLoop,
    #[error("talking to the server: {0}")]
    Client(#[from] ClientError),
    #[error("the {what} task did not finish: {reason}")]
    Task { what: &'static str, reason: String },
}

impl AgentError {
    /// Transport failures, timeouts and server-side errors: worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            AgentError::Client(ClientError::Transport { .. } | ClientError::Decode { .. }) => true,
            AgentError::Client(error @ ClientError::Api { .. }) => {
                error.status().is_some_and(|status| {
                    status.is_server_error() || matches!(status.as_u16(), 408 | 429)
                })
            }
            AgentError::Task { .. } => true,
            _ => false,
        }
    }
}

/// What [`run_once`] did.
#[derive(Debug, Clone)]
pub struct CheckinOutcome {
    pub node_id: String,
    /// The node enrolled during this call.
    pub enrolled: bool,
    /// The hash of the last inventory checked in.
    pub inventory_hash: InventoryHash,
    /// The inventory body was uploaded (the server had not seen its hash).
    pub inventory_sent: bool,
    pub checkin_interval_seconds: u32,
    /// The node's compliance in the server's last answer.
    pub compliance: Option<NodeComplianceSummary>,
    /// Work the server handed out, run and reported during this call.
    pub work_done: Vec<WorkResult>,
    /// Work handed out by the last answer, left for the next run.
    pub work_pending: Vec<Work>,
}

/// One accepted check-in.
struct Round {
    inventory_hash: InventoryHash,
    inventory_sent: bool,
    checkin_interval_seconds: u32,
    compliance: Option<NodeComplianceSummary>,
    work: Vec<Work>,
}

/// One agent talking to one server.
struct Session {
    config: AgentConfig,
    state: StateDir,
    /// Without credentials (enrolment).
    client: Client,
    /// The credential and the client that sends it, once enrolled.
    node: Option<(StoredCredential, Client)>,
    interval_seconds: u32,
    /// The scan enrolment just took, reused by the first check-in.
    fresh_snapshot: Option<NodeSnapshot>,
    /// Runs work once per id; keeps results until the server accepted
    /// them (in the state directory: they survive a restart). Shared with
    /// the blocking task that runs the work.
    runner: Arc<Mutex<WorkRunner>>,
    /// Whether to long-poll between check-ins (off once the server
    /// answered 404: it has no such route).
    long_poll: bool,
    /// A long-poll failed already (logged once).
    long_poll_failed: bool,
}

impl Session {
    fn new(config: AgentConfig) -> Result<Session, AgentError> {
        let state = StateDir::new(&config.state_dir);
        let stored = state.load_credential()?;
        if let Some(stored) = &stored
            && normalised(&stored.server) != normalised(&config.server)
        {
            return Err(AgentError::OtherServer {
                path: state.credential_path(),
                stored: stored.server.clone(),
                configured: config.server,
            });
        }
        let client = Client::builder(config.server.clone())
            .ca_certificate_pem(&config.ca_pem)
            .timeout(config.request_timeout)
            .build()?;
        let node = stored.map(|stored| {
            let node_client = client.with_bearer(stored.credential.clone());
            (stored, node_client)
        });
        let runner = WorkRunner::open(
            &state,
            NodeRoot::new(&config.root),
            WorkSettings::from_config(&config),
        )?;
        Ok(Session {
            config,
            state,
            client,
            node,
            interval_seconds: DEFAULT_INTERVAL_SECONDS,
            fresh_snapshot: None,
            runner: Arc::new(Mutex::new(runner)),
            long_poll: true,
            long_poll_failed: false,
        })
    }

    fn node_id(&self) -> Option<&str> {
        self.node
            .as_ref()
            .map(|(stored, _)| stored.node_id.as_str())
    }

    /// Enrols unless the state directory already holds a credential.
    /// Returns whether it enrolled now.
    async fn ensure_enrolled(&mut self) -> Result<bool, AgentError> {
        if self.node.is_some() {
            return Ok(false);
        }
        let secret = self
            .config
            .enrol_secret
            .clone()
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| AgentError::NoEnrolmentSecret {
                path: self.state.credential_path(),
            })?;
        // Fail on an unusable state directory before the server creates a
        // node whose credential could not be kept.
        self.state.prepare()?;
        let snapshot = self.snapshot().await?;
        let request = EnrolRequest {
            secret: secret.expose().to_owned(),
            facts: snapshot.facts.clone(),
            tags: self.config.tags.clone(),
        };
        let enrolled = self.client.enrol(&request).await.map_err(|error| {
            // 401/403: the secret itself was refused. Other errors (a
            // malformed request) keep the server's own message.
            match error
                .status()
                .filter(|status| matches!(status.as_u16(), 401 | 403))
            {
                Some(status) => AgentError::EnrolmentRefused {
                    server: self.config.server.clone(),
                    status: status.as_u16(),
                    message: api_message(&error),
                },
                None => AgentError::Client(error),
            }
        })?;
        let stored = StoredCredential {
            server: self.config.server.clone(),
            node_id: enrolled.node_id,
            credential: enrolled.credential,
        };
        self.state.store_credential(&stored)?;
        info!(node_id = %stored.node_id, server = %self.config.server, "enrolled");
        self.interval_seconds = enrolled.checkin_interval_seconds;
        self.fresh_snapshot = Some(snapshot);
        let node_client = self.client.with_bearer(stored.credential.clone());
        self.node = Some((stored, node_client));
        Ok(true)
    }

    /// Scans the root and checks in: by hash first, with the body when the
    /// server asks for it.
    async fn check_in(&mut self) -> Result<Round, AgentError> {
        let (stored, client) = match &self.node {
            Some((stored, client)) => (stored.clone(), client.clone()),
            None => {
                return Err(AgentError::NoEnrolmentSecret {
                    path: self.state.credential_path(),
                });
            }
        };
        let snapshot = match self.fresh_snapshot.take() {
            Some(snapshot) => snapshot,
            None => self.snapshot().await?,
        };
        let results = lock(&self.runner).unreported();
        let mut request = CheckinRequest {
            facts: snapshot.facts,
            tags: self.config.tags.clone(),
            scanned_at: snapshot.scanned_at,
            inventory_hash: snapshot.inventory_hash.clone(),
            inventory: None,
            results,
        };
        let rejected = |error: ClientError| self.checkin_error(&stored, error);
        let mut response = client.checkin(&request).await.map_err(rejected)?;
        let mut inventory_sent = false;
        if response.status == CheckinStatus::InventoryRequired {
            request.inventory = Some(snapshot.inventory);
            response = client.checkin(&request).await.map_err(rejected)?;
            inventory_sent = true;
            if response.status == CheckinStatus::InventoryRequired {
                return Err(AgentError::InventoryLoop);
            }
        }
        let reported: Vec<String> = request.results.iter().map(|r| r.id.clone()).collect();
        if !reported.is_empty()
            && let Err(error) = lock(&self.runner).accepted(&reported)
        {
            // Only costs sending them once more.
            warn!(error = %error, "cannot mark reported work results in the journal");
        }
        self.interval_seconds = response.checkin_interval_seconds;
        let compliance = response.compliance.as_ref();
        info!(
            node_id = %stored.node_id,
            inventory_hash = %snapshot.inventory_hash,
            inventory_sent,
            compliance = compliance.map_or("not evaluated", |c| status_label(c.status)),
            baseline = compliance.map_or("", |c| c.baseline.as_str()),
            work = response.work.len(),
            "checked in"
        );
        Ok(Round {
            inventory_hash: snapshot.inventory_hash,
            inventory_sent,
            checkin_interval_seconds: response.checkin_interval_seconds,
            compliance: response.compliance,
            work: response.work,
        })
    }

    fn checkin_error(&self, stored: &StoredCredential, error: ClientError) -> AgentError {
        if error.status().is_some_and(|status| status.as_u16() == 401) {
            AgentError::CredentialRejected {
                server: self.config.server.clone(),
                node_id: stored.node_id.clone(),
                message: api_message(&error),
                path: self.state.credential_path(),
            }
        } else {
            AgentError::Client(error)
        }
    }

    /// Waits `interval` before the next check-in, cut short (`true`) when
    /// the server's work-ready long-poll says work is queued for this node.
    /// A server without the route (404), or any failure of the call, makes
    /// this wait a plain sleep: for the rest of the session after a 404,
    /// for the rest of this interval otherwise. `long_poll` false: a plain
    /// sleep (the last wake-up brought no work: a server answering `true`
    /// for nothing must not make the agent spin).
    async fn wait_for_next_checkin(&mut self, interval: Duration, long_poll: bool) -> bool {
        let deadline = tokio::time::Instant::now() + interval;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let client = match &self.node {
                Some((_, client)) if long_poll && self.long_poll && remaining >= MIN_LONG_POLL => {
                    client
                }
                _ => break,
            };
            let wait = remaining.min(MAX_LONG_POLL);
            let wait = Duration::from_secs(wait.as_secs());
            match client.work_ready(wait).await {
                Ok(answer) if answer.work_ready => {
                    info!("work queued for this node: checking in now");
                    return true;
                }
                Ok(_) => {}
                Err(error) => {
                    if error.status().is_some_and(|status| status.as_u16() == 404) {
                        self.long_poll = false;
                    }
                    if !self.long_poll_failed {
                        self.long_poll_failed = true;
                        debug!(
                            error = %error,
                            "the work-ready long-poll is unavailable; sleeping the check-in interval"
                        );
                    }
                    break;
                }
            }
        }
        tokio::time::sleep_until(deadline).await;
        false
    }

    /// Runs work items one after the other, each id at most once; their
    /// results go with the next check-in.
    async fn run_work(&mut self, items: &[Work]) -> Result<Vec<WorkResult>, AgentError> {
        let mut results = Vec::with_capacity(items.len());
        for work in items {
            let cancel = Arc::new(CancelRequest::default());
            // A scan is short and harmless: nothing to watch.
            let watcher = match (&self.node, work) {
                (_, Work::Scan { .. }) | (None, _) => None,
                (Some((_, client)), _) => Some(tokio::spawn(cancel_watch::watch(
                    client.clone(),
                    work.id().to_owned(),
                    Arc::clone(&cancel),
                ))),
            };
            let runner = Arc::clone(&self.runner);
            let item = work.clone();
            let cancel_of_run = Arc::clone(&cancel);
            let result =
                blocking("work", move || lock(&runner).run_one(&item, &cancel_of_run)).await;
            if let Some(watcher) = watcher {
                watcher.abort();
            }
            results.push(result?);
        }
        Ok(results)
    }

    /// Scans the root; the inventory carries the last install's failures.
    async fn snapshot(&self) -> Result<NodeSnapshot, AgentError> {
        let root = NodeRoot::new(&self.config.root);
        let failed = lock(&self.runner).install_failures().to_vec();
        let cache_dir = self.config.state_dir.join(SCAN_CACHE_DIR);
        Ok(blocking("scan", move || {
            snapshot_cached(&root, &failed, Some(&cache_dir))
        })
        .await??)
    }
}

/// The runner, even after a panic in a task that held it: its journal is
/// written through, so what it holds is never half-updated.
fn lock(runner: &Mutex<WorkRunner>) -> MutexGuard<'_, WorkRunner> {
    runner.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Scans and package-manager runs block: off the async threads with them.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    task: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(task)
        .await
        .map_err(|error| AgentError::Task {
            what,
            reason: error.to_string(),
        })
}

/// The wire name of a compliance status (`non-compliant`).
pub fn status_label(status: ComplianceStatus) -> &'static str {
    match status {
        ComplianceStatus::Compliant => "compliant",
        ComplianceStatus::NonCompliant => "non-compliant",
    }
}

fn normalised(url: &str) -> &str {
    url.trim_end_matches('/')
}

fn api_message(error: &ClientError) -> String {
    match error {
        ClientError::Api { body, .. } => body.message.clone(),
        other => other.to_string(),
    }
}

/// Enrols if needed and checks in once. Work the server hands out is run
/// and reported by one more check-in before returning.
pub async fn run_once(config: AgentConfig) -> Result<CheckinOutcome, AgentError> {
    let mut session = Session::new(config)?;
    let enrolled = session.ensure_enrolled().await?;
    let first = session.check_in().await?;
    let mut outcome = CheckinOutcome {
        node_id: session.node_id().unwrap_or_default().to_owned(),
        enrolled,
        inventory_hash: first.inventory_hash,
        inventory_sent: first.inventory_sent,
        checkin_interval_seconds: first.checkin_interval_seconds,
        compliance: first.compliance,
        work_done: Vec::new(),
        work_pending: first.work,
    };
    if !outcome.work_pending.is_empty() {
        let work = std::mem::take(&mut outcome.work_pending);
        outcome.work_done = session.run_work(&work).await?;
        let report = session.check_in().await?;
        outcome.inventory_hash = report.inventory_hash;
        outcome.inventory_sent |= report.inventory_sent;
        outcome.checkin_interval_seconds = report.checkin_interval_seconds;
        outcome.compliance = report.compliance;
        outcome.work_pending = report.work;
    }
    Ok(outcome)
}

/// Enrols if needed and checks in forever. Returns only with the error
/// that stopped it (a refused credential, an unusable state directory, a
/// root that never scanned).
pub async fn run(config: AgentConfig) -> Result<(), AgentError> {
    run_until(config, std::future::pending()).await
}

/// [`run`], until `shutdown` completes (then `Ok`).
pub async fn run_until(
    config: AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    tokio::select! {
        result = run_loop(config) => result,
        () = shutdown => Ok(()),
    }
}

async fn run_loop(config: AgentConfig) -> Result<(), AgentError> {
    info!(
        server = %config.server,
        root = %config.root.display(),
        state_dir = %config.state_dir.display(),
        scan_only = config.scan_only,
        allow_commands = config.allow_commands,
        "agent starting"
    );
    let mut backoff = Backoff::new(config.retry);
    let mut session = Session::new(config)?;
    loop {
        match session.ensure_enrolled().await {
            Ok(_) => break,
            Err(error) if error.is_transient() => retry_later(&mut backoff, &error).await,
            Err(error) => return Err(stopped(error)),
        }
    }
    backoff.reset();
    let mut checked_in_once = false;
    let mut immediate_rounds = 0;
    // The last wait ended because the server said work was queued.
    let mut woken = false;
    loop {
        match session.check_in().await {
            Ok(round) => {
                backoff.reset();
                checked_in_once = true;
                if !round.work.is_empty() {
                    woken = false;
                    session.run_work(&round.work).await?;
                    if immediate_rounds < MAX_IMMEDIATE_ROUNDS {
                        // The work asked for a fresh scan: check in now.
                        immediate_rounds += 1;
                        continue;
                    }
                }
                immediate_rounds = 0;
                // Woken for work, this check-in found none: sleep once.
                let long_poll = !(woken && round.work.is_empty());
                let interval = jittered_interval(round.checkin_interval_seconds);
                woken = session.wait_for_next_checkin(interval, long_poll).await;
            }
            Err(error) if error.is_transient() => retry_later(&mut backoff, &error).await,
            // A root that scanned before and fails now is a transient state
            // of the node (a package manager mid-run); one that never
            // scanned is a configuration mistake.
            Err(error @ AgentError::Snapshot(_)) if checked_in_once => {
                retry_later(&mut backoff, &error).await
            }
            Err(AgentError::Client(error)) if error.status().is_some() => {
                error!(
                    error = %error,
                    "the server refused the check-in; trying again at the next interval"
                );
                tokio::time::sleep(jittered_interval(session.interval_seconds)).await;
            }
            Err(error) => return Err(stopped(error)),
        }
    }
}

async fn retry_later(backoff: &mut Backoff, error: &AgentError) {
    let delay: Duration = backoff.next_delay();
    warn!(
        error = %error,
        failures = backoff.failures(),
        retry_in_ms = delay.as_millis() as u64,
        "server unreachable or failing; retrying"
    );
    tokio::time::sleep(delay).await;
}

fn stopped(error: AgentError) -> AgentError {
    error!(error = %error, "agent stopped");
    error
}
