//! Window executions on a simulated clock, on SQLite and PostgreSQL, with
//! agents that check in over the real API: rate control (never more than
//! max-concurrency in flight; past max-errors the rest is not started),
//! priorities with predecessor-failure skips, the cutoff, the window end,
//! invocation timeouts, zone-by-zone rollout with a failing node, the
//! concurrent-executions quota, and the hourly maintenance (history
//! retention, expired operator sessions).

mod support;

use jiff::SignedDuration;
use patchline_api::auth::Role;
use patchline_api::checkin::{Work, WorkStatus};
use patchline_api::executions::{ExecutionKind, ExecutionView, PatchNowRequest};
use patchline_core::orchestration::{
    ExecutionStatus, InvocationStatus, Limit, Quotas, ZoneRollout,
};
use patchline_server::auth::secrets;
use patchline_server::orchestrator::clock::ManualClock;
use patchline_server::store::records::{NewToken, TokenKind};
use support::db::TestDb;
use support::orchestration::{
    FakeNode, Ledger, OrchServer, all_succeed, at, command_task, daily_window, day_start, hosts_in,
    label, ok, round,
};
use support::server::code_of;

both_backends!(
    rate_control_caps_what_is_in_flight_and_max_errors_stops_the_rest,
    priorities_run_in_order_and_a_failed_predecessor_skips_its_node,
    the_cutoff_stops_new_starts_timeouts_end_silent_work_and_the_window_end_cancels,
    a_zone_rollout_finishes_each_zone_first_and_a_failure_stops_it,
    the_concurrent_executions_quota_makes_executions_wait_or_skip,
    finished_executions_are_kept_for_the_retention_then_deleted,
    the_hourly_maintenance_deletes_sessions_expired_a_week_ago,
    the_window_tag_the_default_window_and_the_enabled_flag_choose_what_runs,
);

async fn setup(db: &TestDb) -> (tempfile::TempDir, ManualClock, OrchServer) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start(db, dir.path(), &clock).await;
    (dir, clock, server)
}

async fn enrol_all(server: &OrchServer, hosts: &[(&str, &[(&str, &str)])]) -> Vec<FakeNode> {
    let mut nodes = Vec::new();
    for (host, tags) in hosts {
        nodes.push(server.enrol(host, tags).await);
    }
    nodes
}

async fn only_execution(server: &OrchServer, window: &str) -> ExecutionView {
    let executions = server.executions_of(window).await;
    assert_eq!(executions.len(), 1, "{executions:?}");
    server.execution(&executions[0].id).await
}

/// Rounds until the execution of `window` ends, checking after every tick
/// that no task has more than `cap` invocations in flight.
async fn run_until_done(
    server: &OrchServer,
    clock: &ManualClock,
    nodes: &mut [FakeNode],
    ledger: &Ledger,
    window: &str,
    cap: usize,
    outcome: &dyn Fn(&str, &Work) -> Option<WorkStatus>,
) -> ExecutionView {
    for _ in 0..40 {
        round(server, nodes, ledger, outcome).await;
        let view = only_execution(server, window).await;
        for task in &view.tasks {
            assert!(
                task.counts.in_flight() <= cap,
                "task {} has {} in flight, more than {cap}",
                task.task,
                task.counts.in_flight()
            );
        }
        if view.status.is_terminal() {
            return view;
        }
        clock.advance(SignedDuration::from_secs(60));
    }
    panic!("the execution of {window} did not end");
}

async fn rate_control_caps_what_is_in_flight_and_max_errors_stops_the_rest(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let web: &[(&str, &str)] = &[("Role", "web")];
    let mut nodes = enrol_all(
        &server,
        &[
            ("h1", web),
            ("h2", web),
            ("h3", web),
            ("h4", web),
            ("h5", web),
            ("h6", web),
        ],
    )
    .await;
    let task = command_task("patch", 0, Limit::Count(2), Limit::Count(1));
    server
        .put_window(&daily_window("web", "web", vec![task]))
        .await;
    let ledger = Ledger::default();

    // Before the opening nothing runs.
    assert!(server.tick().await.opened.is_empty());
    clock.set(at("2027-01-04T02:00:00Z"));
    // The 2nd and 3rd invocations delivered fail: the second failure
    // exceeds max-errors 1, so nothing more starts.
    let outcome = |_: &str, work: &Work| {
        let position = ledger.position(work.id());
        Some(if matches!(position, Some(1 | 2)) {
            WorkStatus::Failed
        } else {
            WorkStatus::Success
        })
    };
    let view = run_until_done(&server, &clock, &mut nodes, &ledger, "web", 2, &outcome).await;
    assert_eq!(view.kind, ExecutionKind::Scheduled);
    assert_eq!(view.status, ExecutionStatus::Failed);
    assert_eq!(view.scheduled_for, at("2027-01-04T02:00:00Z"));
    assert_eq!(view.last_task_start, at("2027-01-04T05:00:00Z"));
    assert_eq!(view.window_end, at("2027-01-04T06:00:00Z"));
    let task = &view.tasks[0];
    assert_eq!((task.max_concurrency, task.max_errors), (2, 1));
    assert_eq!(
        (
            task.counts.success,
            task.counts.failed,
            task.counts.not_started
        ),
        (2, 2, 2),
        "{task:?}"
    );
    assert_eq!(ledger.deliveries().len(), 4, "two never started");
    let not_started = task
        .invocations
        .iter()
        .filter(|i| i.status == InvocationStatus::NotStarted)
        .collect::<Vec<_>>();
    assert!(
        not_started.iter().all(|i| i
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("max errors")),
        "{not_started:?}"
    );
    let failed = hosts_in(&view, "patch", InvocationStatus::Failed);
    for invocation in task
        .invocations
        .iter()
        .filter(|i| i.status == InvocationStatus::Failed)
    {
        assert!(
            invocation.output.starts_with("command patch on "),
            "{invocation:?}"
        );
        assert!(invocation.started_at.is_some() && invocation.finished_at.is_some());
    }
    assert_eq!(failed.len(), 2);
    assert!(
        view.detail
            .unwrap_or_default()
            .contains("max errors reached")
    );

    // The next opening is a new execution; all succeed this time, two at a time.
    clock.set(at("2027-01-05T02:00:00Z"));
    let report = server.tick().await;
    assert_eq!(report.opened.len(), 1);
    let mut done = 0;
    for _ in 0..10 {
        round(&server, &mut nodes, &ledger, &all_succeed).await;
        let view = server.execution(&report.opened[0]).await;
        assert!(view.tasks[0].counts.in_flight() <= 2);
        if view.status.is_terminal() {
            assert_eq!(view.status, ExecutionStatus::Success);
            assert_eq!(view.tasks[0].counts.success, 6);
            done += 1;
            break;
        }
    }
    assert_eq!(done, 1, "the second execution ended");
    assert_eq!(server.executions_of("web").await.len(), 2);
    ok(server.server.stop().await);
}

async fn priorities_run_in_order_and_a_failed_predecessor_skips_its_node(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let app: &[(&str, &str)] = &[("Role", "app")];
    let mut nodes = enrol_all(&server, &[("a1", app), ("a2", app), ("a3", app)]).await;
    let all = Limit::Percent(100);
    let tasks = vec![
        command_task("notify", 1, all, Limit::Count(3)),
        command_task("pre-check", 0, all, Limit::Count(3)),
        command_task("install", 1, all, Limit::Count(3)),
    ];
    server.put_window(&daily_window("app", "app", tasks)).await;
    clock.set(at("2027-01-04T02:00:00Z"));
    let ledger = Ledger::default();
    let outcome = |host: &str, work: &Work| {
        Some(if host == "a2" && label(work) == "pre-check" {
            WorkStatus::Failed
        } else {
            WorkStatus::Success
        })
    };
    let view = run_until_done(&server, &clock, &mut nodes, &ledger, "app", 3, &outcome).await;

    // Every pre-check was handed out before any priority-1 task.
    let order: Vec<String> = ledger.deliveries().iter().map(|(_, w)| label(w)).collect();
    assert_eq!(order.len(), 7, "{order:?}");
    assert!(order[..3].iter().all(|l| l == "pre-check"), "{order:?}");
    assert!(order[3..].iter().all(|l| l != "pre-check"), "{order:?}");
    // Both priority-1 tasks ran side by side on a1 and a3, and neither on a2.
    for task in ["install", "notify"] {
        assert_eq!(
            hosts_in(&view, task, InvocationStatus::Success),
            ["a1", "a3"]
        );
        assert_eq!(hosts_in(&view, task, InvocationStatus::Skipped), ["a2"]);
        let skipped = invocation_on(&view, task, "a2");
        assert_eq!(
            skipped.detail.as_deref(),
            Some("task \"pre-check\" did not succeed on this node")
        );
    }
    assert_eq!(
        hosts_in(&view, "pre-check", InvocationStatus::Failed),
        ["a2"]
    );
    let statuses: Vec<(String, u32, ExecutionStatus)> = view
        .tasks
        .iter()
        .map(|t| (t.task.clone(), t.priority, t.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("notify".to_owned(), 1, ExecutionStatus::Success),
            ("pre-check".to_owned(), 0, ExecutionStatus::Failed),
            ("install".to_owned(), 1, ExecutionStatus::Success),
        ]
    );
    assert_eq!(view.status, ExecutionStatus::Failed);
    ok(server.server.stop().await);
}

fn invocation_on<'a>(
    view: &'a ExecutionView,
    task: &str,
    host: &str,
) -> &'a patchline_api::executions::InvocationView {
    support::orchestration::invocations(view, task)
        .iter()
        .find(|i| i.hostname == host)
        .unwrap_or_else(|| panic!("no invocation of {task} on {host}"))
}

async fn the_cutoff_stops_new_starts_timeouts_end_silent_work_and_the_window_end_cancels(
    db: TestDb,
) {
    let (_dir, clock, server) = setup(&db).await;
    let web: &[(&str, &str)] = &[("Role", "web")];
    let mut web_nodes = enrol_all(&server, &[("w1", web), ("w2", web), ("w3", web)]).await;
    // Never checks in after enrolling.
    let _offline = server.enrol("o1", &[("Role", "offline")]).await;
    let one = Limit::Count(1);
    server
        .put_window(&daily_window(
            "web",
            "web",
            vec![command_task("work", 0, one, Limit::Count(5))],
        ))
        .await;
    let mut long = command_task("work", 0, one, Limit::Count(5));
    long.timeout_seconds = Some(20_000);
    server
        .put_window(&daily_window("offline", "offline", vec![long]))
        .await;
    let ledger = Ledger::default();

    // 02:00: the first web node gets its work and finishes it.
    clock.set(at("2027-01-04T02:00:00Z"));
    assert_eq!(server.tick().await.opened.len(), 2);
    for node in web_nodes.iter_mut() {
        node.checkin(&server, &ledger).await;
    }
    assert_eq!(ledger.deliveries().len(), 1);
    let first = ledger.deliveries()[0].0.clone();
    let first_node = web_nodes.iter_mut().find(|n| n.hostname == first);
    let first_node = first_node.unwrap_or_else(|| panic!("no node {first}"));
    first_node.finish(&all_succeed);
    first_node.checkin(&server, &ledger).await;

    // 03:00: the second gets its work and never reports.
    clock.set(at("2027-01-04T03:00:00Z"));
    server.tick().await;
    for node in web_nodes.iter_mut() {
        node.checkin(&server, &ledger).await;
    }
    assert_eq!(ledger.deliveries().len(), 2);
    let silent = ledger.deliveries()[1].0.clone();

    // 05:00 = end - cutoff: the silent work timed out long ago (600 s +
    // grace), but no new invocation starts any more.
    clock.set(at("2027-01-04T05:00:00Z"));
    server.tick().await;
    for node in web_nodes.iter_mut() {
        node.checkin(&server, &ledger).await;
    }
    assert_eq!(
        ledger.deliveries().len(),
        2,
        "nothing starts after the cutoff"
    );
    let view = only_execution(&server, "web").await;
    assert_eq!(view.status, ExecutionStatus::Failed);
    let task = &view.tasks[0];
    assert_eq!(
        (
            task.counts.success,
            task.counts.timed_out,
            task.counts.not_started
        ),
        (1, 1, 1)
    );
    let timed_out = invocation_on(&view, "work", &silent);
    assert_eq!(timed_out.status, InvocationStatus::TimedOut);
    assert!(
        timed_out
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("no result")
    );
    let not_started = task
        .invocations
        .iter()
        .find(|i| i.status == InvocationStatus::NotStarted)
        .unwrap_or_else(|| panic!("one not started: {task:?}"));
    assert!(
        not_started
            .detail
            .as_deref()
            .unwrap_or_default()
            .starts_with("cutoff")
    );
    // A late result of the timed-out work is ignored.
    let late = web_nodes.iter_mut().find(|n| n.hostname == silent);
    let late = late.unwrap_or_else(|| panic!("no node {silent}"));
    late.finish(&all_succeed);
    late.checkin(&server, &ledger).await;
    let view = server.execution(&view.id).await;
    assert_eq!(
        invocation_on(&view, "work", &silent).status,
        InvocationStatus::TimedOut
    );

    // The offline node never collected its work: still queued at the
    // cutoff (its deadline is later), cancelled at the window end.
    let offline = only_execution(&server, "offline").await;
    assert_eq!(offline.status, ExecutionStatus::InProgress);
    assert_eq!(hosts_in(&offline, "work", InvocationStatus::Queued), ["o1"]);
    clock.set(at("2027-01-04T06:00:00Z"));
    server.tick().await;
    let offline = server.execution(&offline.id).await;
    assert_eq!(
        hosts_in(&offline, "work", InvocationStatus::Cancelled),
        ["o1"]
    );
    assert_eq!(offline.status, ExecutionStatus::Cancelled);
    assert!(offline.detail.unwrap_or_default().contains("window ended"));
    ok(server.server.stop().await);
}

async fn a_zone_rollout_finishes_each_zone_first_and_a_failure_stops_it(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let zone = |z: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("Role", "db"), ("Zone", z)]
    };
    let (a, b) = (zone("a"), zone("b"));
    let none: &[(&str, &str)] = &[("Role", "db")];
    let mut nodes = enrol_all(
        &server,
        &[("d1", &a), ("d2", &a), ("d3", &b), ("d4", &b), ("d5", none)],
    )
    .await;
    let mut window = daily_window(
        "db",
        "db",
        vec![command_task("patch", 0, Limit::Count(5), Limit::Count(0))],
    );
    window.rollout = Some(ZoneRollout {
        zone_tag: "Zone".into(),
        disruption_budget: Limit::Count(1),
    });
    server.put_window(&window).await;
    clock.set(at("2027-01-04T02:00:00Z"));
    let ledger = Ledger::default();
    // The first node of zone b fails: max errors 0 stops the rollout.
    let outcome = |_: &str, work: &Work| {
        Some(if ledger.position(work.id()) == Some(2) {
            WorkStatus::Failed
        } else {
            WorkStatus::Success
        })
    };
    let view = run_until_done(&server, &clock, &mut nodes, &ledger, "db", 1, &outcome).await;
    let hosts: Vec<String> = ledger
        .deliveries()
        .into_iter()
        .map(|(host, _)| host)
        .collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    let mut zone_a = hosts[..2].to_vec();
    zone_a.sort();
    assert_eq!(zone_a, ["d1", "d2"], "zone a first, one at a time");
    assert!(
        ["d3", "d4"].contains(&hosts[2].as_str()),
        "then zone b: {hosts:?}"
    );
    let task = &view.tasks[0];
    assert_eq!(
        (
            task.counts.success,
            task.counts.failed,
            task.counts.not_started
        ),
        (2, 1, 2)
    );
    let not_started = hosts_in(&view, "patch", InvocationStatus::NotStarted);
    assert!(not_started.contains(&"d5".to_owned()), "{not_started:?}");
    let zones: Vec<Option<String>> = task.invocations.iter().map(|i| i.zone.clone()).collect();
    assert_eq!(
        zones,
        [
            Some("a".into()),
            Some("a".into()),
            Some("b".into()),
            Some("b".into()),
            None
        ]
    );
    assert_eq!(view.status, ExecutionStatus::Failed);
    ok(server.server.stop().await);
}

async fn the_concurrent_executions_quota_makes_executions_wait_or_skip(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start_with(&db, dir.path(), &clock, |config| {
        config.quotas = Quotas {
            max_concurrent_executions: 1,
            ..Quotas::default()
        };
    })
    .await;
    let mut node = server.enrol("q1", &[("Role", "web")]).await;
    let one = Limit::Count(1);
    let mut slow = command_task("slow", 0, one, Limit::Count(0));
    slow.timeout_seconds = Some(14_000);
    let first = daily_window("first", "web", vec![slow]);
    let mut third = daily_window(
        "third",
        "web",
        vec![command_task("t", 0, one, Limit::Count(0))],
    );
    third.schedule = "cron(0 10 2 * * ? *)".into();
    third.duration_hours = 1;
    third.cutoff_hours = 0;
    let mut second = daily_window(
        "second",
        "web",
        vec![command_task("s", 0, one, Limit::Count(0))],
    );
    second.schedule = "cron(0 20 2 * * ? *)".into();
    second.duration_hours = 3;
    for window in [&first, &second, &third] {
        server.put_window(window).await;
    }
    let ledger = Ledger::default();

    clock.set(at("2027-01-04T02:00:00Z"));
    let report = server.tick().await;
    assert_eq!((report.opened.len(), report.started.len()), (1, 1));
    node.checkin(&server, &ledger).await;
    assert_eq!(node.running.len(), 1);
    for minute in ["02:10", "02:20"] {
        clock.set(at(&format!("2027-01-04T{minute}:00Z")));
        let report = server.tick().await;
        assert_eq!(
            (report.opened.len(), report.started.len()),
            (1, 0),
            "{minute}"
        );
    }
    assert_eq!(
        only_execution(&server, "second").await.status,
        ExecutionStatus::Pending
    );

    // Patch Now counts too: refused while the quota is full.
    clock.set(at("2027-01-04T02:45:00Z"));
    let refused = server
        .admin
        .patch_now(&PatchNowRequest {
            nodes: vec![node.id.clone()],
            baseline: None,
            reboot: Default::default(),
            snapshot_command: None,
            waive_snapshot: Some("test".into()),
            max_concurrency: None,
            max_errors: None,
        })
        .await;
    let (status, code) = code_of(refused);
    assert_eq!((status, code.as_str()), (409, "conflict"));

    // The third window's last task start passes while it waits: skipped.
    clock.set(at("2027-01-04T03:10:00Z"));
    server.tick().await;
    let skipped = only_execution(&server, "third").await;
    assert_eq!(skipped.status, ExecutionStatus::Skipped);
    assert!(
        skipped
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("max_concurrent_executions = 1"),
        "{skipped:?}"
    );
    assert_eq!(hosts_in(&skipped, "t", InvocationStatus::Skipped), ["q1"]);

    // The first ends; the second starts at the next round, before its cutoff.
    clock.set(at("2027-01-04T03:15:00Z"));
    node.finish(&all_succeed);
    node.checkin(&server, &ledger).await;
    server.tick().await;
    assert_eq!(
        only_execution(&server, "first").await.status,
        ExecutionStatus::Success
    );
    clock.set(at("2027-01-04T03:16:00Z"));
    let report = server.tick().await;
    assert_eq!(report.started.len(), 1);
    node.checkin(&server, &ledger).await;
    assert_eq!(
        ledger
            .deliveries()
            .iter()
            .map(|(_, w)| label(w))
            .collect::<Vec<_>>(),
        ["slow", "s"]
    );
    assert_eq!(
        only_execution(&server, "second").await.status,
        ExecutionStatus::InProgress
    );
    ok(server.server.stop().await);
}

async fn finished_executions_are_kept_for_the_retention_then_deleted(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start_with(&db, dir.path(), &clock, |config| {
        config.execution_retention = Some(std::time::Duration::from_secs(24 * 3600));
    })
    .await;
    let mut node = server.enrol("k1", &[]).await;
    let ledger = Ledger::default();
    let created = ok(server
        .admin
        .patch_now(&PatchNowRequest {
            nodes: vec![node.id.clone()],
            baseline: None,
            reboot: Default::default(),
            snapshot_command: None,
            waive_snapshot: Some("test".into()),
            max_concurrency: None,
            max_errors: None,
        })
        .await);
    node.checkin(&server, &ledger).await;
    node.finish(&all_succeed);
    node.checkin(&server, &ledger).await;
    assert_eq!(
        server.tick().await.finished,
        std::slice::from_ref(&created.id)
    );

    // Kept for a day, then deleted with its tasks and invocations.
    clock.advance(SignedDuration::from_hours(23));
    assert_eq!(server.tick().await.purged, 0);
    assert_eq!(
        server.execution(&created.id).await.status,
        ExecutionStatus::Success
    );
    clock.advance(SignedDuration::from_hours(2));
    assert_eq!(server.tick().await.purged, 1);
    let (status, _) = code_of(server.admin.execution(&created.id).await);
    assert_eq!(status, 404);
    ok(server.server.stop().await);
}

/// Stores a token of `kind` for the admin, expired `days_ago` (wall clock:
/// sessions expire on it); its id.
async fn expired_token(server: &OrchServer, kind: TokenKind, days_ago: i64) -> String {
    let id = secrets::new_id();
    let expires_at = jiff::Timestamp::now() - SignedDuration::from_hours(24 * days_ago);
    ok(server
        .server
        .state
        .store
        .insert_token(
            "user:admin",
            NewToken {
                id: id.clone(),
                name: "old".into(),
                token_hash: secrets::token_hash(&secrets::generate_token(
                    secrets::TokenPrefix::Operator,
                )),
                kind,
                subject: "admin".into(),
                role: Role::Admin,
                scope: None,
                expires_at: Some(expires_at),
            },
        )
        .await);
    id
}

async fn token_ids(server: &OrchServer) -> Vec<String> {
    let tokens = ok(server.server.state.store.list_tokens().await);
    tokens.into_iter().map(|token| token.id).collect()
}

async fn the_hourly_maintenance_deletes_sessions_expired_a_week_ago(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let old_session = expired_token(&server, TokenKind::Session, 8).await;
    let recent_session = expired_token(&server, TokenKind::Session, 6).await;
    let old_api_token = expired_token(&server, TokenKind::Api, 60).await;

    assert_eq!(server.tick().await.purged_sessions, 1);
    let left = token_ids(&server).await;
    assert!(!left.contains(&old_session), "{left:?}");
    assert!(left.contains(&recent_session) && left.contains(&old_api_token));
    // The admin's live session (from its login) still works.
    ok(server.admin.whoami().await);

    // At most once an hour (of the scheduler's clock).
    let second_old_session = expired_token(&server, TokenKind::Session, 10).await;
    clock.advance(SignedDuration::from_mins(59));
    assert_eq!(server.tick().await.purged_sessions, 0);
    clock.advance(SignedDuration::from_mins(1));
    assert_eq!(server.tick().await.purged_sessions, 1);
    assert!(!token_ids(&server).await.contains(&second_old_session));
    assert_eq!(token_ids(&server).await.len(), 3);
    ok(server.server.stop().await);
}

async fn the_window_tag_the_default_window_and_the_enabled_flag_choose_what_runs(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let tag = "Maintenance Window";
    enrol_all(
        &server,
        &[
            ("t1", &[]),
            ("t2", &[(tag, "night")]),
            ("t3", &[(tag, "elsewhere")]),
            ("t4", &[("Role", "web")]),
        ],
    )
    .await;
    let task = || {
        vec![command_task(
            "work",
            0,
            Limit::Percent(100),
            Limit::Count(0),
        )]
    };
    let mut fallback = daily_window("fallback", "none", task());
    fallback.targets = Default::default();
    server.put_window(&fallback).await;
    server
        .put_window(&daily_window("night", "web", task()))
        .await;
    let mut off = daily_window("off", "web", task());
    off.enabled = false;
    server.put_window(&off).await;
    ok(server
        .admin
        .put_governance(&patchline_api::governance::GovernanceSettings {
            default_window: Some("fallback".into()),
            default_patch_group: None,
        })
        .await);

    clock.set(at("2027-01-04T02:00:00Z"));
    assert_eq!(
        server.tick().await.opened.len(),
        2,
        "the disabled window stays shut"
    );
    assert!(server.executions_of("off").await.is_empty());
    let targets = |view: &ExecutionView| {
        let mut hosts: Vec<String> = view.tasks[0]
            .invocations
            .iter()
            .map(|i| i.hostname.clone())
            .collect();
        hosts.sort();
        hosts
    };
    // Nodes with no window of their own fall to the default window: not t2
    // (its tag), not t4 (the query of "night" selects it), not t3 (its tag
    // names a window that does not exist: an explicit choice, not none).
    assert_eq!(targets(&only_execution(&server, "fallback").await), ["t1"]);
    assert_eq!(
        targets(&only_execution(&server, "night").await),
        ["t2", "t4"]
    );
    ok(server.server.stop().await);
}
