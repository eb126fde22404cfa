//! Orchestrator tests on a simulated clock: servers started with a shared
//! [`ManualClock`] and no background rounds (each test calls
//! `Orchestrator::tick` itself), fake agents that check in over the real
//! API and report results chosen by the test, and a ledger asserting that
//! no work id ever reaches an agent twice.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use patchline_api::Client;
use patchline_api::checkin::{
    CheckinResponse, CheckinStatus, Inventory, Work, WorkResult, WorkStatus,
};
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::executions::{ExecutionQuery, ExecutionView, InvocationView};
use patchline_api::windows::{TaskAction, TaskSpec, WindowSpec};
use patchline_core::orchestration::{InvocationStatus, Limit, TargetQuery};
use patchline_server::orchestrator::clock::ManualClock;
use patchline_server::orchestrator::scheduler::TickReport;
use patchline_server::{RunningServer, start_with_clock};

use super::db::TestDb;
use super::server::{
    ADMIN_PASSWORD, checkin_request, client_of, enrol_request, inventory, test_config,
};

/// Monday 2027-01-04 00:00 UTC: where every simulated day starts.
pub fn day_start() -> Timestamp {
    at("2027-01-04T00:00:00Z")
}

pub fn at(text: &str) -> Timestamp {
    match text.parse() {
        Ok(instant) => instant,
        Err(error) => panic!("bad instant {text}: {error}"),
    }
}

/// Unwraps with the error's message.
pub fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

/// A server on the test clock, with an admin client.
pub struct OrchServer {
    pub server: RunningServer,
    pub admin: Client,
    pub anonymous: Client,
}

impl OrchServer {
    /// Starts on `db` with its own data directory, no background rounds.
    pub async fn start(db: &TestDb, data_dir: &Path, clock: &ManualClock) -> OrchServer {
        OrchServer::start_with(db, data_dir, clock, |_| {}).await
    }

    pub async fn start_with(
        db: &TestDb,
        data_dir: &Path,
        clock: &ManualClock,
        adjust: impl FnOnce(&mut patchline_server::ServerConfig),
    ) -> OrchServer {
        let mut config = test_config(db, data_dir);
        config.scheduler_interval = Duration::ZERO;
        adjust(&mut config);
        let server = match start_with_clock(config, Arc::new(clock.clone())).await {
            Ok(server) => server,
            Err(error) => panic!("the server did not start: {error:#}"),
        };
        let anonymous = client_of(&server);
        let login = ok(anonymous.login("admin", ADMIN_PASSWORD).await);
        let admin = anonymous.with_bearer(login.token);
        OrchServer {
            server,
            admin,
            anonymous,
        }
    }

    /// One scheduling round.
    pub async fn tick(&self) -> TickReport {
        ok(self.server.state.orchestrator.tick().await)
    }

    /// Enrols `hostname` with `tags` (operator tags from the secret).
    pub async fn enrol(&self, hostname: &str, tags: &[(&str, &str)]) -> FakeNode {
        let secret = ok(self
            .admin
            .create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: format!("secret-{hostname}"),
                max_uses: Some(1),
                expires_at: None,
                tags: tags
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect(),
            })
            .await)
        .secret;
        let enrolled = ok(self
            .anonymous
            .enrol(&enrol_request(&secret, hostname))
            .await);
        FakeNode {
            id: enrolled.node_id,
            hostname: hostname.to_owned(),
            credential: enrolled.credential,
            inventory: inventory("5.2.15-2"),
            outbox: Vec::new(),
            running: Vec::new(),
        }
    }

    pub async fn execution(&self, id: &str) -> ExecutionView {
        ok(self.admin.execution(id).await)
    }

    /// The executions of `window`, newest first.
    pub async fn executions_of(&self, window: &str) -> Vec<ExecutionView> {
        ok(self
            .admin
            .executions(&ExecutionQuery {
                window: Some(window.to_owned()),
                limit: None,
            })
            .await)
    }

    pub async fn put_window(&self, spec: &WindowSpec) {
        ok(self.admin.put_window(spec).await);
    }
}

/// An enrolled node driven by the test through the check-in API.
pub struct FakeNode {
    pub id: String,
    pub hostname: String,
    pub credential: String,
    pub inventory: Inventory,
    /// Results sent at the next check-in.
    pub outbox: Vec<WorkResult>,
    /// Work received and not finished yet.
    pub running: Vec<Work>,
}

/// Every work id handed to any agent, shared by the servers of a test.
#[derive(Clone, Default)]
pub struct Ledger {
    seen: Arc<Mutex<HashSet<String>>>,
    log: Arc<Mutex<Vec<(String, Work)>>>,
}

impl Ledger {
    /// Records a delivery; panics on a second delivery of one id.
    pub fn record(&self, node: &str, work: &Work) {
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(work.id().to_owned());
        assert!(fresh, "work {} was delivered twice (to {node})", work.id());
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((node.to_owned(), work.clone()));
    }

    /// The order in which `id` was delivered (0 for the first delivery).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .position(|(_, work)| work.id() == id)
    }

    pub fn deliveries(&self) -> Vec<(String, Work)> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl FakeNode {
    /// Checks in with `server` (sending the results waiting in the outbox)
    /// and keeps the work received as running.
    pub async fn checkin(&mut self, server: &OrchServer, ledger: &Ledger) -> CheckinResponse {
        let client = server.anonymous.with_bearer(self.credential.clone());
        let mut request = checkin_request(&self.hostname, &self.inventory, true);
        request.results = std::mem::take(&mut self.outbox);
        let response = ok(client.checkin(&request).await);
        assert_eq!(response.status, CheckinStatus::Accepted);
        for work in &response.work {
            ledger.record(&self.hostname, work);
            self.running.push(work.clone());
        }
        response
    }

    /// Checks in with two servers at the same instant (the same results
    /// to both): a queued invocation must reach the node through one only.
    pub async fn checkin_at_both(&mut self, a: &OrchServer, b: &OrchServer, ledger: &Ledger) {
        let mut request = checkin_request(&self.hostname, &self.inventory, true);
        request.results = std::mem::take(&mut self.outbox);
        let client_a = a.anonymous.with_bearer(self.credential.clone());
        let client_b = b.anonymous.with_bearer(self.credential.clone());
        let (first, second) = tokio::join!(client_a.checkin(&request), client_b.checkin(&request));
        for response in [ok(first), ok(second)] {
            for work in &response.work {
                ledger.record(&self.hostname, work);
                self.running.push(work.clone());
            }
        }
    }

    /// Finishes every running work item for which `outcome` gives a status
    /// (the others keep running); the results go out at the next check-in.
    pub fn finish(&mut self, outcome: &dyn Fn(&str, &Work) -> Option<WorkStatus>) {
        let now = Timestamp::now();
        let mut still_running = Vec::new();
        for work in std::mem::take(&mut self.running) {
            match outcome(&self.hostname, &work) {
                Some(status) => self.outbox.push(WorkResult {
                    id: work.id().to_owned(),
                    status,
                    output: format!("{} {} on {}", work.kind(), label(&work), self.hostname),
                    started_at: now,
                    finished_at: now,
                }),
                None => still_running.push(work),
            }
        }
        self.running = still_running;
    }
}

/// The command of a command work item, or its kind.
pub fn label(work: &Work) -> String {
    match work {
        Work::Command { command, .. } => command.clone(),
        other => other.kind().to_owned(),
    }
}

/// One round of a test: a tick, then every node checks in (reporting
/// what it finished) and finishes what `outcome` decides.
pub async fn round(
    server: &OrchServer,
    nodes: &mut [FakeNode],
    ledger: &Ledger,
    outcome: &dyn Fn(&str, &Work) -> Option<WorkStatus>,
) {
    server.tick().await;
    for node in nodes.iter_mut() {
        node.checkin(server, ledger).await;
        node.finish(outcome);
    }
}

/// Every work item succeeds.
pub fn all_succeed(_: &str, _: &Work) -> Option<WorkStatus> {
    Some(WorkStatus::Success)
}

/// A command task.
pub fn command_task(name: &str, priority: u32, concurrency: Limit, errors: Limit) -> TaskSpec {
    TaskSpec {
        name: name.to_owned(),
        priority,
        action: TaskAction::Command {
            command: name.to_owned(),
        },
        max_concurrency: concurrency,
        max_errors: errors,
        timeout_seconds: Some(600),
    }
}

/// A daily window at 02:00 UTC (4 h, cutoff 1 h) on nodes tagged
/// `Role=<role>`.
pub fn daily_window(name: &str, role: &str, tasks: Vec<TaskSpec>) -> WindowSpec {
    WindowSpec {
        name: name.to_owned(),
        description: String::new(),
        schedule: "cron(0 0 2 * * ? *)".to_owned(),
        time_zone: "UTC".to_owned(),
        offset_days: 0,
        start: None,
        end: None,
        duration_hours: 4,
        cutoff_hours: 1,
        cutoff_behavior: Default::default(),
        enabled: true,
        targets: TargetQuery {
            tags: BTreeMap::from([("Role".to_owned(), vec![role.to_owned()])]),
            node_ids: Vec::new(),
        },
        owner: None,
        rollout: None,
        tasks,
    }
}

/// The invocations of task `task` of an execution view.
pub fn invocations<'a>(view: &'a ExecutionView, task: &str) -> &'a [InvocationView] {
    view.tasks
        .iter()
        .find(|t| t.task == task)
        .map_or(&[], |t| t.invocations.as_slice())
}

/// Hostnames of `task`'s invocations in `status`, sorted.
pub fn hosts_in(view: &ExecutionView, task: &str, status: InvocationStatus) -> Vec<String> {
    let mut hosts: Vec<String> = invocations(view, task)
        .iter()
        .filter(|invocation| invocation.status == status)
        .map(|invocation| invocation.hostname.clone())
        .collect();
    hosts.sort();
    hosts
}
