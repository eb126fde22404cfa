//! Stopping running work, on SQLite and on PostgreSQL, on a simulated
//! clock.
//!
//! Through the API with fake agents: the work-cancel route answers
//! `false`, then `true` once the execution is cancelled (a long-poll
//! waiting on it answers at once), and 404 for another node's or an
//! unknown work id; a `cancel-task` window's cutoff asks (once) the agents
//! of running invocations to stop them, a `cancelled` result is recorded
//! as such and counts no error, and a result other than cancelled is kept
//! as reported.
//!
//! With a real agent loop (`checkin::run_until`, `--allow-commands`): a
//! `cancel-task` window's `sleep 600` is killed once the clock passes the
//! cutoff; with `continue-task` the command keeps running; a Patch Now
//! whose snapshot hook blocks is cancelled: the hook is killed and the
//! install never starts.
//!
//! Nothing here measures time: every wait is bounded by a generous timeout
//! so that a hang fails instead of blocking.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use patchline_agent::checkin::{self, AgentConfig, EnrolSecret};
use patchline_agent::install::Hooks;
use patchline_api::checkin::{WorkCancel, WorkStatus};
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::executions::{ExecutionView, InvocationView, PatchNowRequest};
use patchline_api::windows::{CutoffBehavior, Reboot, TaskAction};
use patchline_api::{Client, ClientError};
use patchline_core::orchestration::{ExecutionStatus, InvocationStatus, Limit};
use patchline_server::orchestrator::clock::ManualClock;
use patchline_testkit::PackageRoot;
use support::db::TestDb;
use support::orchestration::{
    FakeNode, Ledger, OrchServer, at, command_task, daily_window, day_start, invocations, ok,
};
use support::roots;
use support::server::code_of;

both_backends!(
    the_cancel_route_answers_and_wakes_on_an_execution_cancel,
    the_cutoff_of_a_cancel_task_window_asks_running_work_to_stop,
    a_real_agent_kills_its_command_at_a_cancel_task_cutoff,
    a_real_agent_keeps_its_command_running_at_a_continue_task_cutoff,
    a_cancelled_patch_now_kills_the_snapshot_hook_and_installs_nothing,
);

/// Far longer than any test should take, so a hang fails.
const HANG: Duration = Duration::from_secs(120);
// The commands and hooks these tests run wait at most ~200-300 s on their
// own: a test failing while one still runs must not hang its runtime, which
// waits for the agent's blocking work when it is dropped.

/// A task timeout past the 4 h windows' end (the simulated clock jumps
/// from the opening to the cutoff in one go).
const LONGER_THAN_THE_WINDOW: u32 = 5 * 3600;

fn node_client(server: &OrchServer, node: &FakeNode) -> Client {
    server.anonymous.with_bearer(node.credential.clone())
}

/// Polls `condition` until it holds; a hang fails with `what`.
async fn poll_until(what: impl Fn() -> String, condition: impl Fn() -> bool) {
    let held = tokio::time::timeout(HANG, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(held.is_ok(), "{}", what());
}

/// Waits until `count` long-polls wait on `server`.
async fn until_waiting(server: &OrchServer, count: usize) {
    let signals = server.server.state.orchestrator.work_signals();
    poll_until(
        || format!("expected {count} waiters, have {}", signals.waiting()),
        || signals.waiting() == count,
    )
    .await;
}

/// Waits until the file at `path` exists (a command or hook got there).
async fn until_file(path: &Path) {
    poll_until(
        || format!("{} never appeared", path.display()),
        || path.exists(),
    )
    .await;
}

/// The first invocation of an execution satisfying `done`, polled until
/// it does.
async fn until_invocation(
    server: &OrchServer,
    execution: &str,
    task: &str,
    done: impl Fn(&InvocationView) -> bool,
) -> InvocationView {
    let found = tokio::time::timeout(HANG, async {
        loop {
            let view = server.execution(execution).await;
            if let Some(invocation) = invocations(&view, task).iter().find(|i| done(i)) {
                return invocation.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    match found {
        Ok(invocation) => invocation,
        Err(_) => {
            let view = server.execution(execution).await;
            panic!("task {task} never got there: {view:?}")
        }
    }
}

async fn answer(wait: tokio::task::JoinHandle<Result<WorkCancel, ClientError>>) -> WorkCancel {
    match tokio::time::timeout(HANG, wait).await {
        Ok(Ok(Ok(answer))) => answer,
        Ok(Ok(Err(error))) => panic!("the long-poll failed: {error}"),
        Ok(Err(error)) => panic!("the long-poll task failed: {error}"),
        Err(_) => panic!("the long-poll did not answer"),
    }
}

fn patch_now(nodes: &[&str], waive_snapshot: bool) -> PatchNowRequest {
    PatchNowRequest {
        nodes: nodes.iter().map(|node| (*node).to_owned()).collect(),
        baseline: None,
        reboot: Reboot::NoReboot,
        snapshot_command: None,
        waive_snapshot: waive_snapshot.then(|| "the test needs none".to_owned()),
        max_concurrency: Some("100%".into()),
        max_errors: Some("0".into()),
    }
}

async fn the_cancel_route_answers_and_wakes_on_an_execution_cancel(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    // No periodic recheck within the test: only the server's own wake-up
    // can answer the waiter.
    let server = OrchServer::start_with(&db, dir.path(), &clock, |config| {
        config.work_ready_recheck = Duration::from_secs(3600);
    })
    .await;
    let ledger = Ledger::default();
    let mut runner = server.enrol("runner", &[]).await;
    let mut other = server.enrol("other", &[]).await;
    let created = ok(server
        .admin
        .patch_now(&patch_now(&[&runner.id], true))
        .await);
    runner.checkin(&server, &ledger).await;
    assert_eq!(runner.running.len(), 1);
    let work_id = runner.running[0].id().to_owned();

    let mine = node_client(&server, &runner);
    let now = ok(mine.work_cancel(&work_id, Duration::ZERO).await);
    assert_eq!(
        now,
        WorkCancel {
            cancel: false,
            reason: None
        }
    );
    // Another node's work and an unknown id look the same: not found.
    let theirs = node_client(&server, &other)
        .work_cancel(&work_id, Duration::ZERO)
        .await;
    assert_eq!(code_of(theirs).0, 404);
    let unknown = mine.work_cancel("no-such-work", Duration::ZERO).await;
    assert_eq!(code_of(unknown).0, 404);
    let operator = server.admin.work_cancel(&work_id, Duration::ZERO).await;
    assert_eq!(code_of(operator).0, 403);
    let path = format!(
        "{}?wait=61",
        patchline_api::routes::fill(patchline_api::routes::AGENT_WORK_CANCEL, &[&work_id])
    );
    assert_eq!(code_of(mine.get::<WorkCancel>(&path).await).0, 400);

    // A waiter is answered as soon as the execution is cancelled.
    let waiter = {
        let client = mine.clone();
        let work_id = work_id.clone();
        tokio::spawn(async move { client.work_cancel(&work_id, Duration::from_secs(60)).await })
    };
    until_waiting(&server, 1).await;
    let view = ok(server.admin.cancel_execution(&created.id).await);
    assert_eq!(
        view.status,
        ExecutionStatus::InProgress,
        "the install still runs"
    );
    let stopping = &view.tasks[0].invocations[0];
    assert_eq!(stopping.status, InvocationStatus::InProgress);
    assert!(stopping.stop_requested_at.is_some(), "{stopping:?}");
    let told = answer(waiter).await;
    assert!(told.cancel);
    let reason = told.reason.unwrap_or_default();
    assert!(reason.starts_with("cancelled by user:"), "{reason}");
    // Asked again: the same answer at once.
    assert!(ok(mine.work_cancel(&work_id, Duration::from_secs(60)).await).cancel);
    let swept = ok(server.server.state.store.nodes_with_cancel_requests().await);
    assert_eq!(swept, vec![runner.id.clone()]);
    // The audit says how many agents were asked.
    let audit = ok(server.admin.audit(None).await);
    let entry = audit
        .iter()
        .rev()
        .find(|entry| entry.action == "execution.cancel");
    let detail = entry
        .map(|entry| entry.detail.to_string())
        .unwrap_or_default();
    assert!(detail.contains("\"stop_requested\":1"), "{detail}");

    // The agent stops the work and says so.
    runner.finish(&|_, _| Some(WorkStatus::Cancelled));
    runner.checkin(&server, &ledger).await;
    other.checkin(&server, &ledger).await;
    server.tick().await;
    let view = server.execution(&created.id).await;
    assert_eq!(view.status, ExecutionStatus::Cancelled, "{view:?}");
    let invocation = &view.tasks[0].invocations[0];
    assert_eq!(invocation.status, InvocationStatus::Cancelled);
    assert!(
        invocation
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("cancelled by user:")),
        "{invocation:?}"
    );
    ok(server.server.stop().await);
}

async fn the_cutoff_of_a_cancel_task_window_asks_running_work_to_stop(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start(&db, dir.path(), &clock).await;
    let ledger = Ledger::default();
    let mut nodes = vec![
        server.enrol("stops", &[("Role", "cut")]).await,
        server.enrol("finishes", &[("Role", "cut")]).await,
    ];
    // Longer than the window: the deadline never ends the work first.
    let mut task = command_task("work", 0, Limit::Percent(100), Limit::Count(0));
    task.timeout_seconds = Some(LONGER_THAN_THE_WINDOW);
    let mut window = daily_window("cut", "cut", vec![task]);
    window.cutoff_behavior = CutoffBehavior::CancelTask;
    server.put_window(&window).await;
    // Stored and shown as written.
    let stored = ok(server.admin.window("cut").await);
    assert_eq!(stored.window.cutoff_behavior, CutoffBehavior::CancelTask);

    clock.set(at("2027-01-04T02:00:00Z"));
    server.tick().await;
    for node in &mut nodes {
        node.checkin(&server, &ledger).await;
        assert_eq!(node.running.len(), 1);
    }
    let execution = server.executions_of("cut").await[0].id.clone();
    let store = &server.server.state.store;
    // Before the last task start (05:00) nothing is asked.
    clock.set(at("2027-01-04T04:59:59Z"));
    server.tick().await;
    assert!(ok(store.nodes_with_cancel_requests().await).is_empty());

    clock.set(at("2027-01-04T05:00:00Z"));
    server.tick().await;
    let mut asked = ok(store.nodes_with_cancel_requests().await);
    asked.sort();
    let mut expected = vec![nodes[0].id.clone(), nodes[1].id.clone()];
    expected.sort();
    assert_eq!(asked, expected);
    for node in &nodes {
        let told = ok(node_client(&server, node)
            .work_cancel(node.running[0].id(), Duration::ZERO)
            .await);
        assert!(told.cancel);
        assert_eq!(
            told.reason.as_deref(),
            Some("the window's cutoff passed (cutoff behaviour cancel-task)")
        );
    }
    // Asked once: a later round (or another server) asks nothing more.
    server.tick().await;
    let again = ok(store
        .request_cancel_in_progress(&execution, "again", at("2027-01-04T05:00:00Z"))
        .await);
    assert!(again.is_empty());

    // One agent stops its work; the other had finished first.
    nodes[0].finish(&|_, _| Some(WorkStatus::Cancelled));
    nodes[1].finish(&|_, _| Some(WorkStatus::Success));
    for node in &mut nodes {
        node.checkin(&server, &ledger).await;
    }
    server.tick().await;
    let view: ExecutionView = server.execution(&execution).await;
    let task = &view.tasks[0];
    assert_eq!(task.counts.cancelled, 1, "{view:?}");
    assert_eq!(task.counts.success, 1, "{view:?}");
    assert_eq!(task.counts.errors(), 0, "a cancellation is no error");
    assert_eq!(task.status, ExecutionStatus::Cancelled, "{view:?}");
    assert_eq!(view.status, ExecutionStatus::Cancelled, "{view:?}");
    assert!(
        !view
            .detail
            .clone()
            .unwrap_or_default()
            .contains("max errors"),
        "{view:?}"
    );
    ok(server.server.stop().await);
}

/// A server whose agents are long-polled promptly, one real agent loop on
/// a bare Debian root (commands allowed) tagged `Role=<role>`.
struct RealAgent {
    server: OrchServer,
    root: patchline_testkit::AptRoot,
    stop: tokio::sync::oneshot::Sender<()>,
    agent: tokio::task::JoinHandle<Result<(), checkin::AgentError>>,
    node_id: String,
}

impl RealAgent {
    async fn start(
        db: &TestDb,
        dir: &Path,
        clock: &ManualClock,
        role: &str,
        hooks: Hooks,
    ) -> RealAgent {
        let root = roots::debian_with_security_fix(&dir.join("debian"), "cancel-node", &[]);
        // An hour between check-ins: only the long-polls bring the agent
        // back before the test's timeout.
        let server = OrchServer::start_with(db, &dir.join("server"), clock, |config| {
            config.checkin_interval = Duration::from_secs(3600);
            config.work_ready_recheck = Duration::from_secs(3600);
        })
        .await;
        let secret = ok(server
            .admin
            .create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: "cancel".into(),
                max_uses: Some(1),
                expires_at: None,
                tags: BTreeMap::from([("Role".to_owned(), role.to_owned())]),
            })
            .await)
        .secret;
        let mut config = AgentConfig::new(
            server.server.base_url(),
            server.server.ca_pem.as_bytes().to_vec(),
            dir.join("state"),
        );
        config.root = root.path().to_path_buf();
        config.enrol_secret = Some(EnrolSecret::new(&secret));
        config.allow_commands = true;
        config.hooks = hooks;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(checkin::run_until(config, async {
            let _ = stopped.await;
        }));
        // Enrolled, checked in, and now long-polling for work.
        until_waiting(&server, 1).await;
        let nodes = ok(server.admin.nodes().await);
        assert_eq!(nodes.len(), 1);
        let node_id = nodes[0].id.clone();
        RealAgent {
            server,
            root,
            stop,
            agent,
            node_id,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        ok(ok(ok(tokio::time::timeout(HANG, self.agent).await)));
        ok(self.server.server.stop().await);
    }
}

/// A window at 02:00 (last task start 05:00) running `command` on the
/// agent's node, opened and its command handed over.
async fn open_command_window(
    real: &RealAgent,
    clock: &ManualClock,
    behaviour: CutoffBehavior,
    command: &str,
) -> String {
    let mut task = command_task("long", 0, Limit::Percent(100), Limit::Count(0));
    task.action = TaskAction::Command {
        command: command.to_owned(),
    };
    task.timeout_seconds = Some(LONGER_THAN_THE_WINDOW);
    let mut window = daily_window("long", "long", vec![task]);
    window.cutoff_behavior = behaviour;
    real.server.put_window(&window).await;
    clock.set(at("2027-01-04T02:00:00Z"));
    assert_eq!(real.server.tick().await.opened.len(), 1);
    let execution = real.server.executions_of("long").await[0].id.clone();
    until_invocation(&real.server, &execution, "long", |i| {
        i.status == InvocationStatus::InProgress
    })
    .await;
    // The agent's watcher of the running command long-polls now.
    until_waiting(&real.server, 1).await;
    execution
}

async fn a_real_agent_kills_its_command_at_a_cancel_task_cutoff(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let real = RealAgent::start(&db, dir.path(), &clock, "long", Hooks::default()).await;
    let execution = open_command_window(
        &real,
        &clock,
        CutoffBehavior::CancelTask,
        "echo started; touch \"$PATCHLINE_ROOT/began\"; sleep 300",
    )
    .await;
    // Killed while it sleeps, not before it printed.
    until_file(&real.root.path().join("began")).await;

    clock.set(at("2027-01-04T05:00:01Z"));
    real.server.tick().await;
    let invocation =
        until_invocation(&real.server, &execution, "long", |i| i.status.is_terminal()).await;
    assert_eq!(
        invocation.status,
        InvocationStatus::Cancelled,
        "{invocation:?}"
    );
    assert!(
        invocation.output.starts_with(
            "cancelled by the server: the window's cutoff passed (cutoff behaviour cancel-task)"
        ),
        "{}",
        invocation.output
    );
    assert!(
        invocation.output.contains("started"),
        "{}",
        invocation.output
    );
    real.server.tick().await;
    let view = real.server.execution(&execution).await;
    assert!(view.status.is_terminal(), "{view:?}");
    assert_eq!(view.status, ExecutionStatus::Cancelled, "{view:?}");
    real.stop().await;
}

async fn a_real_agent_keeps_its_command_running_at_a_continue_task_cutoff(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let real = RealAgent::start(&db, dir.path(), &clock, "long", Hooks::default()).await;
    let release = dir.path().join("release");
    let command = format!(
        "for _ in $(seq 4000); do [ -e {} ] && break; sleep 0.05; done; echo finished",
        release.display()
    );
    let execution =
        open_command_window(&real, &clock, CutoffBehavior::ContinueTask, &command).await;

    clock.set(at("2027-01-04T05:00:01Z"));
    real.server.tick().await;
    real.server.tick().await;
    let store = &real.server.server.state.store;
    assert!(ok(store.nodes_with_cancel_requests().await).is_empty());
    let view = real.server.execution(&execution).await;
    assert_eq!(
        invocations(&view, "long")[0].status,
        InvocationStatus::InProgress,
        "{view:?}"
    );
    // The command ends by itself, and is reported as it ended.
    ok(std::fs::write(&release, ""));
    let invocation =
        until_invocation(&real.server, &execution, "long", |i| i.status.is_terminal()).await;
    assert_eq!(
        invocation.status,
        InvocationStatus::Success,
        "{invocation:?}"
    );
    assert!(
        invocation.output.contains("finished"),
        "{}",
        invocation.output
    );
    real.stop().await;
}

async fn a_cancelled_patch_now_kills_the_snapshot_hook_and_installs_nothing(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let hooks = Hooks {
        snapshot: Some(
            "touch \"$PATCHLINE_ROOT/snapshot-began\"; \
             for _ in $(seq 4000); do [ -e \"$PATCHLINE_ROOT/never\" ] && break; sleep 0.05; done"
                .into(),
        ),
        ..Hooks::default()
    };
    let real = RealAgent::start(&db, dir.path(), &clock, "snap", hooks).await;
    let before = ok(real.root.installed_version("kit-ssl"));
    let created = ok(real
        .server
        .admin
        .patch_now(&patch_now(&[&real.node_id], false))
        .await);
    assert_eq!(created.tasks.len(), 2, "{created:?}");
    let snapshot_task = created.tasks[0].task.clone();
    let install_task = created.tasks[1].task.clone();
    until_invocation(&real.server, &created.id, &snapshot_task, |i| {
        i.status == InvocationStatus::InProgress
    })
    .await;
    until_waiting(&real.server, 1).await;
    // The watcher long-polls as the hook starts: wait for the hook to run,
    // so the cancel interrupts it rather than preventing it.
    until_file(&real.root.path().join("snapshot-began")).await;

    ok(real.server.admin.cancel_execution(&created.id).await);
    let snapshot = until_invocation(&real.server, &created.id, &snapshot_task, |i| {
        i.status.is_terminal()
    })
    .await;
    assert_eq!(snapshot.status, InvocationStatus::Cancelled, "{snapshot:?}");
    assert!(
        snapshot
            .output
            .starts_with("cancelled by the server: cancelled by user:"),
        "{}",
        snapshot.output
    );
    real.server.tick().await;
    let view = real.server.execution(&created.id).await;
    assert_eq!(view.status, ExecutionStatus::Cancelled, "{view:?}");
    assert_eq!(
        invocations(&view, &install_task)[0].status,
        InvocationStatus::Cancelled
    );
    assert_eq!(ok(real.root.installed_version("kit-ssl")), before);
    real.stop().await;
}
