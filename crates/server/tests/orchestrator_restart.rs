//! Restart safety and two servers: a server killed in the middle of a
//! window is replaced by a new one on the same database, which resumes the
//! execution without handing any invocation out twice (SQLite and
//! PostgreSQL); two servers on one PostgreSQL database, on the same clock,
//! create one execution per window opening, only one of them runs it at a
//! time, and a node checking in at both at once gets each invocation once.

mod support;

use std::collections::HashSet;

use jiff::SignedDuration;
use patchline_core::orchestration::{ExecutionStatus, Limit};
use patchline_server::orchestrator::clock::ManualClock;
use support::db::TestDb;
use support::orchestration::{
    Ledger, OrchServer, all_succeed, at, command_task, daily_window, day_start, label, ok, round,
};

both_backends!(a_server_killed_mid_window_is_resumed_by_the_next_without_double_delivery);

async fn a_server_killed_mid_window_is_resumed_by_the_next_without_double_delivery(db: TestDb) {
    let (first_dir, second_dir) = (ok(tempfile::tempdir()), ok(tempfile::tempdir()));
    let clock = ManualClock::new(day_start());
    let first = OrchServer::start(&db, first_dir.path(), &clock).await;
    let mut nodes = Vec::new();
    for host in ["r1", "r2", "r3", "r4"] {
        nodes.push(first.enrol(host, &[("Role", "web")]).await);
    }
    let two = Limit::Count(2);
    let tasks = vec![
        command_task("pre", 0, two, Limit::Count(4)),
        command_task("patch", 1, two, Limit::Count(4)),
    ];
    first.put_window(&daily_window("web", "web", tasks)).await;
    let ledger = Ledger::default();

    // 02:00: two invocations are queued; only one node collects its work
    // and finishes it (the result is not reported yet) before the crash.
    clock.set(at("2027-01-04T02:00:00Z"));
    first.tick().await;
    let mut collected = 0;
    for node in nodes.iter_mut() {
        node.checkin(&first, &ledger).await;
        if !node.running.is_empty() {
            node.finish(&all_succeed);
            collected += 1;
            break;
        }
    }
    assert_eq!(collected, 1);
    first.server.abort().await;

    // The new server does not open the window again, and leaves the
    // execution alone while the dead server's lease lasts.
    let second = OrchServer::start(&db, second_dir.path(), &clock).await;
    let report = second.tick().await;
    assert!(
        report.opened.is_empty() && report.stepped.is_empty(),
        "{report:?}"
    );
    // The finished result and the still-queued work both go through it.
    for node in nodes.iter_mut() {
        node.checkin(&second, &ledger).await;
        node.finish(&all_succeed);
    }
    assert_eq!(
        ledger.deliveries().len(),
        2,
        "the queued one is delivered, once"
    );

    clock.advance(SignedDuration::from_secs(60));
    let report = second.tick().await;
    assert_eq!(report.stepped.len(), 1, "the lease ran out: {report:?}");
    let mut view = None;
    for _ in 0..20 {
        round(&second, &mut nodes, &ledger, &all_succeed).await;
        let executions = second.executions_of("web").await;
        assert_eq!(executions.len(), 1, "{executions:?}");
        if executions[0].status.is_terminal() {
            view = Some(second.execution(&executions[0].id).await);
            break;
        }
        clock.advance(SignedDuration::from_secs(60));
    }
    let view = view.unwrap_or_else(|| panic!("the execution did not end"));
    assert_eq!(view.status, ExecutionStatus::Success);
    for task in &view.tasks {
        assert_eq!(task.counts.success, 4, "{task:?}");
    }
    let labels: Vec<String> = ledger.deliveries().iter().map(|(_, w)| label(w)).collect();
    assert_eq!(
        labels.len(),
        8,
        "every invocation delivered once: {labels:?}"
    );
    ok(second.server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_run_each_opening_once_and_deliver_each_invocation_once() {
    let db = TestDb::postgres().await;
    let (a_dir, b_dir) = (ok(tempfile::tempdir()), ok(tempfile::tempdir()));
    let clock = ManualClock::new(day_start());
    let a = OrchServer::start(&db, a_dir.path(), &clock).await;
    let b = OrchServer::start(&db, b_dir.path(), &clock).await;
    let mut nodes = Vec::new();
    for host in ["p1", "p2", "p3", "p4", "p5", "p6"] {
        nodes.push(a.enrol(host, &[("Role", "web")]).await);
    }
    let tasks = vec![command_task("patch", 0, Limit::Count(2), Limit::Count(0))];
    b.put_window(&daily_window("web", "web", tasks)).await;
    let ledger = Ledger::default();

    clock.set(at("2027-01-04T02:00:00Z"));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    assert_eq!(ra.opened.len() + rb.opened.len(), 1, "{ra:?} {rb:?}");
    let mut runners = HashSet::new();
    for _ in 0..30 {
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        assert!(
            ra.stepped.is_empty() || rb.stepped.is_empty(),
            "one server runs the execution: {ra:?} {rb:?}"
        );
        runners.insert(!ra.stepped.is_empty());
        for node in nodes.iter_mut() {
            node.checkin_at_both(&a, &b, &ledger).await;
            node.finish(&all_succeed);
        }
        let executions = a.executions_of("web").await;
        assert_eq!(executions.len(), 1, "{executions:?}");
        assert!(executions[0].tasks[0].counts.in_flight() <= 2);
        if executions[0].status.is_terminal() {
            break;
        }
        // Less than the 30-second lease: the holder renews it each round.
        clock.advance(SignedDuration::from_secs(20));
    }
    let executions = b.executions_of("web").await;
    assert_eq!(executions[0].status, ExecutionStatus::Success);
    assert_eq!(executions[0].tasks[0].counts.success, 6);
    assert_eq!(
        ledger.deliveries().len(),
        6,
        "each invocation delivered once"
    );
    assert_eq!(runners.len(), 1, "the lease stayed with one server");

    // The next opening, with the lease holder stopped cleanly: the other
    // takes over at once (the leases were handed back).
    clock.set(at("2027-01-05T02:00:00Z"));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    assert_eq!(ra.opened.len() + rb.opened.len(), 1);
    let holder_is_a = !ra.stepped.is_empty();
    let (stopped, survivor) = if holder_is_a { (a, b) } else { (b, a) };
    ok(stopped.server.stop().await);
    let report = survivor.tick().await;
    assert_eq!(report.stepped.len(), 1, "{report:?}");
    ok(survivor.server.stop().await);
}
