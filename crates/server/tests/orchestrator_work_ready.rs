//! The work-ready long-poll, on SQLite and on PostgreSQL: a waiting node
//! learns of a Patch Now for it at once (its own server wakes it), another
//! node's waiter does not; a waiter on one server sees work queued through
//! another server on the same PostgreSQL (the periodic recheck); the cap
//! on waiters, the wait's limit, the node credential, and a shutdown that
//! ends waits at once. Last, a real agent loop (`checkin::run_until`) with
//! an hour-long check-in interval collects and runs a Patch Now while it
//! long-polls.
//!
//! Nothing here measures time: every wait is bounded by a generous timeout
//! so that a hang fails instead of blocking.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use patchline_agent::checkin::{self, AgentConfig, EnrolSecret};
use patchline_api::checkin::WorkReady;
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::executions::PatchNowRequest;
use patchline_api::windows::Reboot;
use patchline_api::{Client, ClientError, routes};
use patchline_core::orchestration::InvocationStatus;
use patchline_server::orchestrator::clock::ManualClock;
use patchline_testkit::PackageRoot;
use support::db::TestDb;
use support::orchestration::{FakeNode, OrchServer, day_start, ok};
use support::roots;
use support::server::code_of;

both_backends!(
    a_waiter_learns_of_a_patch_now_for_its_node_and_not_of_another_nodes_work,
    the_cap_the_wait_limit_and_the_credential_are_enforced,
    a_shutdown_ends_waits_at_once,
    a_real_agent_collects_a_patch_now_while_long_polling,
);

/// Far longer than any test should take, so a hang fails.
const HANG: Duration = Duration::from_secs(120);

/// Patch Now (install only) on `nodes`.
fn patch_now(nodes: &[&str]) -> PatchNowRequest {
    PatchNowRequest {
        nodes: nodes.iter().map(|node| (*node).to_owned()).collect(),
        baseline: None,
        reboot: Reboot::NoReboot,
        snapshot_command: None,
        waive_snapshot: Some("the test roots need no snapshot".into()),
        max_concurrency: Some("100%".into()),
        max_errors: Some("0".into()),
    }
}

fn node_client(server: &OrchServer, node: &FakeNode) -> Client {
    server.anonymous.with_bearer(node.credential.clone())
}

/// Starts a long-poll of `wait` seconds in the background.
fn spawn_wait(
    client: Client,
    wait: u64,
) -> tokio::task::JoinHandle<Result<WorkReady, ClientError>> {
    tokio::spawn(async move { client.work_ready(Duration::from_secs(wait)).await })
}

/// Waits until `count` long-polls wait on `server`.
async fn until_waiting(server: &OrchServer, count: usize) {
    let signals = server.server.state.orchestrator.work_signals();
    let waited = tokio::time::timeout(HANG, async {
        while signals.waiting() != count {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "expected {count} waiters, have {}",
        signals.waiting()
    );
}

/// The answer of a background long-poll.
async fn answer(wait: tokio::task::JoinHandle<Result<WorkReady, ClientError>>) -> bool {
    match tokio::time::timeout(HANG, wait).await {
        Ok(Ok(Ok(answer))) => answer.work_ready,
        Ok(Ok(Err(error))) => panic!("the long-poll failed: {error}"),
        Ok(Err(error)) => panic!("the long-poll task failed: {error}"),
        Err(_) => panic!("the long-poll did not answer"),
    }
}

async fn a_waiter_learns_of_a_patch_now_for_its_node_and_not_of_another_nodes_work(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    // No periodic recheck within the test: only the server's own wake-up
    // can answer the first waiter.
    let server = OrchServer::start_with(&db, dir.path(), &clock, |config| {
        config.work_ready_recheck = Duration::from_secs(3600);
    })
    .await;
    let target = server.enrol("target", &[]).await;
    let bystander = server.enrol("bystander", &[]).await;

    let target_wait = spawn_wait(node_client(&server, &target), 60);
    let bystander_wait = spawn_wait(node_client(&server, &bystander), 2);
    until_waiting(&server, 2).await;
    ok(server.admin.patch_now(&patch_now(&[&target.id])).await);
    assert!(
        answer(target_wait).await,
        "the target was not told of its work"
    );
    assert!(
        !answer(bystander_wait).await,
        "the bystander has no work queued"
    );

    // What a periodic sweep (work queued through another server) finds.
    let swept = ok(server.server.state.store.nodes_with_queued_work().await);
    assert_eq!(swept, vec![target.id.clone()]);
    // Work already queued: the answer comes from the first look.
    assert!(
        ok(node_client(&server, &target)
            .work_ready(Duration::from_secs(60))
            .await)
        .work_ready
    );
    // Collected by a check-in, it is no longer waiting for the node.
    let mut target = target;
    let ledger = support::orchestration::Ledger::default();
    let response = target.checkin(&server, &ledger).await;
    assert_eq!(response.work.len(), 1);
    assert!(
        !ok(node_client(&server, &target)
            .work_ready(Duration::ZERO)
            .await)
        .work_ready
    );
    assert_eq!(server.server.state.orchestrator.work_signals().waiting(), 0);
}

async fn the_cap_the_wait_limit_and_the_credential_are_enforced(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start_with(&db, dir.path(), &clock, |config| {
        config.work_ready_waiters = 1;
        config.work_ready_recheck = Duration::from_secs(3600);
    })
    .await;
    let busy = server.enrol("busy", &[]).await;
    let other = server.enrol("other", &[]).await;
    ok(server.admin.patch_now(&patch_now(&[&busy.id])).await);

    // The one place is taken: even a node with work queued hears `false`
    // at once (its agent sleeps its interval, as without the long-poll).
    let holder = spawn_wait(node_client(&server, &other), 60);
    until_waiting(&server, 1).await;
    let refused = tokio::time::timeout(
        HANG,
        node_client(&server, &busy).work_ready(Duration::from_secs(60)),
    )
    .await;
    assert!(!ok(ok(refused)).work_ready, "over the cap answers false");
    holder.abort();
    until_waiting(&server, 0).await;
    assert!(
        ok(node_client(&server, &busy)
            .work_ready(Duration::from_secs(60))
            .await)
        .work_ready
    );

    let path = format!("{}?wait=61", routes::WORK_READY);
    let too_long = node_client(&server, &busy).get::<WorkReady>(&path).await;
    assert_eq!(code_of(too_long), (400, "invalid-request".to_owned()));
    let path = format!("{}?wait=soon", routes::WORK_READY);
    let not_a_number = node_client(&server, &busy).get::<WorkReady>(&path).await;
    assert_eq!(code_of(not_a_number).0, 400);
    let operator = server.admin.work_ready(Duration::ZERO).await;
    assert_eq!(code_of(operator).0, 403);
    let anonymous = server.anonymous.work_ready(Duration::ZERO).await;
    assert_eq!(code_of(anonymous).0, 401);
    // No `wait`: the default wait (the node has work, so no waiting).
    let default = node_client(&server, &busy)
        .get::<WorkReady>(routes::WORK_READY)
        .await;
    assert!(ok(default).work_ready);
}

async fn a_shutdown_ends_waits_at_once(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start(&db, dir.path(), &clock).await;
    let idle = server.enrol("idle", &[]).await;
    let wait = spawn_wait(node_client(&server, &idle), 60);
    until_waiting(&server, 1).await;
    let stopped = tokio::time::timeout(HANG, server.server.stop()).await;
    ok(ok(stopped));
    // Answered within the grace period, not cut off by its end.
    assert!(!answer(wait).await);
}

/// Work queued through server A reaches a waiter on server B (same
/// PostgreSQL), whose wake-ups A's queueing cannot reach: B's periodic
/// look at the store finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_another_server_sees_work_queued_through_the_first() {
    let db = TestDb::postgres().await;
    let (a_dir, b_dir) = (ok(tempfile::tempdir()), ok(tempfile::tempdir()));
    let clock = ManualClock::new(day_start());
    let a = OrchServer::start(&db, a_dir.path(), &clock).await;
    let b = OrchServer::start_with(&db, b_dir.path(), &clock, |config| {
        config.work_ready_recheck = Duration::from_millis(200);
    })
    .await;
    let node = a.enrol("shared", &[]).await;
    let wait = spawn_wait(node_client(&b, &node), 60);
    until_waiting(&b, 1).await;
    ok(a.admin.patch_now(&patch_now(&[&node.id])).await);
    assert!(answer(wait).await, "server B never saw the work");
}

async fn a_real_agent_collects_a_patch_now_while_long_polling(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let (root, _) = roots::rocky_with_kit_plain(&dir.path().join("rocky"), "rocky-poll");
    let clock = ManualClock::new(day_start());
    // An hour between check-ins: only the long-poll brings the agent back
    // before the test's timeout.
    let server = OrchServer::start_with(&db, &dir.path().join("server"), &clock, |config| {
        config.checkin_interval = Duration::from_secs(3600);
        config.work_ready_recheck = Duration::from_secs(3600);
    })
    .await;
    let secret = ok(server
        .admin
        .create_enrolment_secret(&CreateEnrolmentSecretRequest {
            name: "poll".into(),
            max_uses: Some(1),
            expires_at: None,
            tags: BTreeMap::new(),
        })
        .await)
    .secret;
    let mut config = AgentConfig::new(
        server.server.base_url(),
        server.server.ca_pem.as_bytes().to_vec(),
        dir.path().join("state"),
    );
    config.root = root.path().to_path_buf();
    config.enrol_secret = Some(EnrolSecret::new(&secret));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(checkin::run_until(config, async {
        let _ = stopped.await;
    }));

    // Enrolled, checked in, and now long-polling.
    until_waiting(&server, 1).await;
    let nodes = ok(server.admin.nodes().await);
    assert_eq!(nodes.len(), 1);
    let execution = ok(server.admin.patch_now(&patch_now(&[&nodes[0].id])).await);

    let finished = tokio::time::timeout(HANG, async {
        loop {
            let view = server.execution(&execution.id).await;
            let invocation = view
                .tasks
                .iter()
                .flat_map(|task| task.invocations.iter())
                .next()
                .cloned();
            if let Some(invocation) = invocation
                && invocation.status.is_terminal()
            {
                return invocation;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let invocation = match finished {
        Ok(invocation) => invocation,
        Err(_) => panic!("the agent never ran the Patch Now"),
    };
    assert_eq!(
        invocation.status,
        InvocationStatus::Success,
        "{}",
        invocation.output
    );
    let _ = stop.send(());
    let ended = ok(ok(tokio::time::timeout(HANG, agent).await));
    ok(ended);
    ok(server.server.stop().await);
}
