//! The executions API and the check-in dispatch, on SQLite and PostgreSQL:
//! Patch Now (every refusal naming its field, the snapshot step first and
//! the install skipped where it failed, the emergency baseline, the
//! audited waiver), roles and the app-team scope (applied before the
//! listing's limit), cancellation, results
//! only from the node the work belongs to, and the short check-in
//! interval while a node has work.

mod support;

use jiff::SignedDuration;
use patchline_api::auth::{Role, TagScope};
use patchline_api::checkin::{Work, WorkResult, WorkStatus};
use patchline_api::executions::{ExecutionKind, ExecutionQuery, PatchNowRequest};
use patchline_api::nodes::SetTagsRequest;
use patchline_api::windows::Reboot;
use patchline_api::{Client, ClientError};
use patchline_core::orchestration::{ExecutionStatus, InvocationStatus};
use patchline_server::orchestrator::clock::ManualClock;
use patchline_server::orchestrator::plan::{ExecutionPlan, PlannedTarget};
use patchline_server::store::executions::{Admission, NewExecution};
use support::db::TestDb;
use support::orchestration::{FakeNode, Ledger, OrchServer, all_succeed, day_start, hosts_in, ok};
use support::server::{USER_PASSWORD, code_of};

both_backends!(
    patch_now_snapshots_first_installs_the_emergency_baseline_and_audits_a_waiver,
    every_invalid_patch_now_field_is_refused_by_name,
    roles_and_the_app_team_scope_limit_patch_now_listing_and_cancelling,
    an_app_team_listing_limit_counts_only_the_executions_it_sees,
    a_cancelled_execution_cancels_waiting_work_and_lets_running_work_finish,
    results_count_only_from_their_own_node_and_busy_nodes_check_in_sooner,
);

async fn setup(db: &TestDb) -> (tempfile::TempDir, ManualClock, OrchServer) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start(db, dir.path(), &clock).await;
    (dir, clock, server)
}

fn request(nodes: &[&FakeNode]) -> PatchNowRequest {
    PatchNowRequest {
        nodes: nodes.iter().map(|node| node.id.clone()).collect(),
        baseline: None,
        reboot: Reboot::NoReboot,
        snapshot_command: None,
        waive_snapshot: None,
        max_concurrency: Some("100%".into()),
        max_errors: Some("3".into()),
    }
}

async fn operator(server: &OrchServer, name: &str, role: Role, scope: Option<TagScope>) -> Client {
    ok(server
        .admin
        .create_user(&patchline_api::auth::CreateUserRequest {
            username: name.into(),
            password: USER_PASSWORD.into(),
            role,
            scope,
        })
        .await);
    let login = ok(server.anonymous.login(name, USER_PASSWORD).await);
    server.anonymous.with_bearer(login.token)
}

async fn patch_now_snapshots_first_installs_the_emergency_baseline_and_audits_a_waiver(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let mut nodes = Vec::new();
    for host in ["n1", "n2", "n3"] {
        nodes.push(server.enrol(host, &[]).await);
    }
    let ledger = Ledger::default();
    let mut asked = request(&nodes.iter().collect::<Vec<_>>());
    asked.snapshot_command = Some("lvcreate --snapshot".into());
    let created = ok(server.admin.patch_now(&asked).await);
    assert_eq!(created.kind, ExecutionKind::PatchNow);
    assert_eq!(created.window, None);
    assert_eq!(created.status, ExecutionStatus::InProgress);
    assert_eq!(created.requested_by, "user:admin");
    let tasks: Vec<(&str, u32)> = created
        .tasks
        .iter()
        .map(|t| (t.task.as_str(), t.priority))
        .collect();
    assert_eq!(tasks, [("snapshot", 0), ("install", 1)]);
    assert_eq!(
        created.tasks[0].counts.queued, 3,
        "queued at once: {created:?}"
    );

    // Snapshots first; n2's fails.
    let fail_n2 = |host: &str, work: &Work| {
        Some(if host == "n2" && matches!(work, Work::Snapshot { .. }) {
            WorkStatus::Failed
        } else {
            WorkStatus::Success
        })
    };
    for node in nodes.iter_mut() {
        node.checkin(&server, &ledger).await;
        assert!(
            matches!(node.running.as_slice(), [Work::Snapshot { command: Some(c), .. }] if c == "lvcreate --snapshot"),
            "{:?}",
            node.running
        );
        node.finish(&fail_n2);
        node.checkin(&server, &ledger).await;
    }
    clock.advance(SignedDuration::from_secs(30));
    server.tick().await;
    for node in nodes.iter_mut() {
        node.checkin(&server, &ledger).await;
    }
    let installs: Vec<(String, Work)> = ledger
        .deliveries()
        .into_iter()
        .filter(|(_, work)| matches!(work, Work::Install { .. }))
        .collect();
    let mut hosts: Vec<&str> = installs.iter().map(|(host, _)| host.as_str()).collect();
    hosts.sort();
    assert_eq!(hosts, ["n1", "n3"], "no install where the snapshot failed");
    for (_, work) in &installs {
        let Work::Install {
            baseline,
            evaluate_at,
            reboot,
            ..
        } = work
        else {
            continue;
        };
        assert_eq!(baseline.name, "patchline-emergency-debian");
        assert_eq!(*evaluate_at, clock_now(&clock));
        assert_eq!(*reboot, Reboot::NoReboot);
    }
    for node in nodes.iter_mut() {
        node.finish(&all_succeed);
        node.checkin(&server, &ledger).await;
    }
    server.tick().await;
    let view = server.execution(&created.id).await;
    assert_eq!(
        hosts_in(&view, "install", InvocationStatus::Skipped),
        ["n2"]
    );
    assert_eq!(
        hosts_in(&view, "install", InvocationStatus::Success),
        ["n1", "n3"]
    );
    assert_eq!(
        view.status,
        ExecutionStatus::Failed,
        "a snapshot failed: {view:?}"
    );

    // Waived: no snapshot task, and the reason is audited.
    let mut waived = request(&[&nodes[0]]);
    waived.waive_snapshot = Some("  the VM platform snapshots nightly ".into());
    let created = ok(server.admin.patch_now(&waived).await);
    let names: Vec<&str> = created.tasks.iter().map(|t| t.task.as_str()).collect();
    assert_eq!(names, ["install"]);
    let audit = ok(server.admin.audit(None).await);
    let entries: Vec<_> = audit.iter().filter(|e| e.action == "patch-now").collect();
    assert_eq!(entries.len(), 2, "{audit:?}");
    assert_eq!(entries[1].actor, "user:admin");
    assert_eq!(entries[1].target, format!("execution:{}", created.id));
    assert_eq!(
        entries[1].detail["snapshot_waived"],
        "the VM platform snapshots nightly"
    );
    assert_eq!(
        entries[0].detail["snapshot_waived"],
        serde_json::Value::Null
    );
    assert_eq!(entries[0].detail["baseline"], "emergency");
    ok(server.server.stop().await);
}

fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
    use patchline_server::orchestrator::clock::Clock;
    clock.now()
}

async fn every_invalid_patch_now_field_is_refused_by_name(db: TestDb) {
    let (_dir, _clock, server) = setup(&db).await;
    let node = server.enrol("v1", &[]).await;
    let good = request(&[&node]);
    let cases: Vec<(PatchNowRequest, u16, &str)> = vec![
        (
            PatchNowRequest {
                nodes: vec![],
                ..good.clone()
            },
            400,
            "nodes:",
        ),
        (
            PatchNowRequest {
                nodes: vec!["no-such-node".into()],
                ..good.clone()
            },
            404,
            "nodes:",
        ),
        (
            PatchNowRequest {
                waive_snapshot: Some("   ".into()),
                ..good.clone()
            },
            400,
            "waive_snapshot:",
        ),
        (
            PatchNowRequest {
                waive_snapshot: Some("reason".into()),
                snapshot_command: Some("x".into()),
                ..good.clone()
            },
            400,
            "snapshot_command:",
        ),
        (
            PatchNowRequest {
                max_concurrency: Some("0".into()),
                ..good.clone()
            },
            400,
            "max_concurrency:",
        ),
        (
            PatchNowRequest {
                max_concurrency: Some("21".into()),
                ..good.clone()
            },
            400,
            "max_concurrency:",
        ),
        (
            PatchNowRequest {
                max_errors: Some("lots".into()),
                ..good.clone()
            },
            400,
            "max_errors:",
        ),
        (
            PatchNowRequest {
                baseline: Some("nope".into()),
                ..good.clone()
            },
            400,
            "baseline:",
        ),
        (
            PatchNowRequest {
                baseline: Some("rhel-default".into()),
                ..good.clone()
            },
            400,
            "baseline:",
        ),
    ];
    for (body, status, field) in cases {
        match server.admin.patch_now(&body).await {
            Err(ClientError::Api {
                status: got,
                body: error,
                ..
            }) => {
                assert_eq!(got.as_u16(), status, "{body:?}: {}", error.message);
                assert!(
                    error.message.starts_with(field),
                    "{field}: {}",
                    error.message
                );
            }
            other => panic!("{body:?} was not refused: {other:?}"),
        }
    }
    assert!(ok(server.admin.executions(&ExecutionQuery::default()).await).is_empty());
    let audit = ok(server.admin.audit(None).await);
    assert!(
        audit.iter().all(|entry| entry.action != "patch-now"),
        "nothing audited"
    );
    ok(server.server.stop().await);
}

async fn roles_and_the_app_team_scope_limit_patch_now_listing_and_cancelling(db: TestDb) {
    let (_dir, _clock, server) = setup(&db).await;
    let pay = server.enrol("pay1", &[("Application", "pay")]).await;
    let shop = server.enrol("shop1", &[("Application", "shop")]).await;
    let scope = TagScope {
        key: "Application".into(),
        value: "pay".into(),
    };
    let team = operator(&server, "payteam", Role::AppTeam, Some(scope)).await;
    let auditor = operator(&server, "audit", Role::Auditor, None).await;
    let secops = operator(&server, "secops", Role::SecurityOps, None).await;

    let (status, _) = code_of(auditor.patch_now(&request(&[&pay])).await);
    assert_eq!(status, 403);
    let (status, _) = code_of(team.patch_now(&request(&[&pay, &shop])).await);
    assert_eq!(status, 404, "the other team's node is not found for it");
    let own = ok(team.patch_now(&request(&[&pay])).await);
    assert_eq!(own.requested_by, "user:payteam");
    let both = ok(secops.patch_now(&request(&[&pay, &shop])).await);

    // The team sees both executions (each touches its node), but only its
    // node's invocations, and cannot cancel the one reaching the other's.
    let listed = ok(team.executions(&ExecutionQuery::default()).await);
    assert_eq!(listed.len(), 2);
    let shown = ok(team.execution(&both.id).await);
    for task in &shown.tasks {
        let hosts: Vec<&str> = task
            .invocations
            .iter()
            .map(|i| i.hostname.as_str())
            .collect();
        assert_eq!(hosts, ["pay1"]);
    }
    let (status, _) = code_of(team.cancel_execution(&both.id).await);
    assert_eq!(status, 403);
    let (status, _) = code_of(auditor.cancel_execution(&own.id).await);
    assert_eq!(status, 403);
    let cancelled = ok(team.cancel_execution(&own.id).await);
    assert!(
        cancelled
            .detail
            .unwrap_or_default()
            .contains("cancelled by user:payteam")
    );
    // Every role reads the history.
    assert_eq!(
        ok(auditor.executions(&ExecutionQuery::default()).await).len(),
        2
    );
    let limited = ok(server
        .admin
        .executions(&ExecutionQuery {
            window: None,
            limit: Some(1),
        })
        .await);
    assert_eq!(limited.len(), 1);
    assert!(
        limited[0].tasks.iter().all(|t| t.invocations.is_empty()),
        "listings carry counts only"
    );
    let (status, _) = code_of(team.execution("no-such-execution").await);
    assert_eq!(status, 404);
    ok(server.server.stop().await);
}

/// A window execution stored directly: `targets` and no tasks (a window
/// saved without tasks still opens), so it has no invocations.
fn taskless_execution(window: &str, at: jiff::Timestamp, targets: &[&FakeNode]) -> NewExecution {
    let plan = ExecutionPlan {
        tasks: Vec::new(),
        rollout: None,
        targets: targets
            .iter()
            .map(|node| PlannedTarget {
                node_id: node.id.clone(),
                hostname: node.hostname.clone(),
                zone: None,
                batch: 0,
            })
            .collect(),
        cutoff_behavior: Default::default(),
    };
    NewExecution {
        id: uuid::Uuid::new_v4().to_string(),
        kind: ExecutionKind::Scheduled,
        window: Some(window.into()),
        window_version: Some(1),
        scheduled_for: at,
        last_task_start: at,
        window_end: at,
        requested_by: "scheduler".into(),
        plan,
        limits: Vec::new(),
        created_at: at,
    }
}

async fn an_app_team_listing_limit_counts_only_the_executions_it_sees(db: TestDb) {
    let dir = ok(tempfile::tempdir());
    let clock = ManualClock::new(day_start());
    let server = OrchServer::start_with(&db, dir.path(), &clock, |config| {
        config.quotas.max_concurrent_executions = 20;
    })
    .await;
    let pay = server.enrol("pay1", &[("Application", "pay")]).await;
    let shop = server.enrol("shop1", &[("Application", "shop")]).await;
    let scope = TagScope {
        key: "Application".into(),
        value: "pay".into(),
    };
    let team = operator(&server, "payteam", Role::AppTeam, Some(scope)).await;
    let query = |window: Option<&str>, limit: Option<u32>| ExecutionQuery {
        window: window.map(str::to_owned),
        limit,
    };
    let ids = |views: Vec<patchline_api::executions::ExecutionView>| -> Vec<String> {
        views.into_iter().map(|view| view.id).collect()
    };

    // Two executions in the team's scope, then five newer ones outside it.
    let mut inside = Vec::new();
    for _ in 0..2 {
        inside.push(ok(server.admin.patch_now(&request(&[&pay])).await).id);
        clock.advance(SignedDuration::from_mins(1));
    }
    let mut outside = Vec::new();
    for _ in 0..5 {
        outside.push(ok(server.admin.patch_now(&request(&[&shop])).await).id);
        clock.advance(SignedDuration::from_mins(1));
    }
    let newest_inside = vec![inside[1].clone(), inside[0].clone()];
    assert_eq!(
        ids(ok(team.executions(&query(None, Some(2))).await)),
        newest_inside
    );
    assert_eq!(
        ids(ok(team.executions(&query(None, None)).await)),
        newest_inside
    );
    assert_eq!(
        ids(ok(team.executions(&query(None, Some(1))).await)),
        [inside[1].clone()]
    );
    assert_eq!(
        ids(ok(server.admin.executions(&query(None, Some(2))).await)),
        [outside[4].clone(), outside[3].clone()]
    );

    // Executions without tasks (no invocations) follow the same rule
    // through their planned targets, and combine with the window filter.
    let store = &server.server.state.store;
    let later = clock_now(&clock);
    let own_taskless = taskless_execution("empty", later, &[&shop, &pay]);
    let other_taskless = taskless_execution(
        "empty",
        later.checked_add(SignedDuration::from_mins(1)).unwrap(),
        &[&shop],
    );
    for new in [&own_taskless, &other_taskless] {
        assert!(ok(store.create_execution(new, &Admission::Scheduled).await));
    }
    assert_eq!(
        ids(ok(team.executions(&query(Some("empty"), None)).await)),
        std::slice::from_ref(&own_taskless.id)
    );
    assert_eq!(
        ids(ok(team.executions(&query(None, Some(2))).await)),
        [own_taskless.id.clone(), inside[1].clone()]
    );
    assert_eq!(
        ok(server.admin.executions(&query(Some("empty"), None)).await).len(),
        2
    );
    // The scope is the node's tag now: retagged, its executions show.
    ok(server
        .admin
        .set_tags(
            &shop.id,
            &SetTagsRequest {
                tags: [("Application".to_owned(), Some("pay".to_owned()))].into(),
            },
        )
        .await);
    assert_eq!(ok(team.executions(&query(None, None)).await).len(), 9);
    ok(server.server.stop().await);
}

async fn a_cancelled_execution_cancels_waiting_work_and_lets_running_work_finish(db: TestDb) {
    let (_dir, clock, server) = setup(&db).await;
    let first = server.enrol("c1", &[]).await;
    let second = server.enrol("c2", &[]).await;
    let ledger = Ledger::default();
    let mut asked = request(&[&first, &second]);
    asked.waive_snapshot = Some("test".into());
    asked.max_concurrency = Some("1".into());
    let created = ok(server.admin.patch_now(&asked).await);
    let queued_on = hosts_in(
        &server.execution(&created.id).await,
        "install",
        InvocationStatus::Queued,
    );
    assert_eq!(queued_on.len(), 1);
    // Let whichever node holds the queued work collect it.
    let mut nodes = [first, second];
    let holder = nodes.iter_mut().find(|node| node.hostname == queued_on[0]);
    let holder = holder.unwrap_or_else(|| panic!("no node {}", queued_on[0]));
    let answer = holder.checkin(&server, &ledger).await;
    assert_eq!(holder.running.len(), 1);
    assert_eq!(answer.checkin_interval_seconds, 5, "work running");
    // The other node's work waits for its turn: it checks in every 30 s.
    let waiting = nodes.iter_mut().find(|node| node.hostname != queued_on[0]);
    let waiting = waiting.unwrap_or_else(|| panic!("no second node"));
    let answer = waiting.checkin(&server, &ledger).await;
    assert!(answer.work.is_empty());
    assert_eq!(answer.checkin_interval_seconds, 30, "work pending");
    let holder = nodes.iter_mut().find(|node| node.hostname == queued_on[0]);
    let holder = holder.unwrap_or_else(|| panic!("no node {}", queued_on[0]));

    let cancelled = ok(server.admin.cancel_execution(&created.id).await);
    assert_eq!(
        cancelled.status,
        ExecutionStatus::InProgress,
        "running work finishes"
    );
    assert_eq!(cancelled.tasks[0].counts.cancelled, 1);
    assert_eq!(cancelled.tasks[0].counts.in_progress, 1);
    let (status, _) = code_of(server.admin.cancel_execution("missing").await);
    assert_eq!(status, 404);

    holder.finish(&all_succeed);
    holder.checkin(&server, &ledger).await;
    clock.advance(SignedDuration::from_secs(10));
    server.tick().await;
    let view = server.execution(&created.id).await;
    assert_eq!(view.status, ExecutionStatus::Cancelled);
    assert_eq!(view.tasks[0].counts.success, 1, "its result was kept");
    let (status, code) = code_of(server.admin.cancel_execution(&created.id).await);
    assert_eq!((status, code.as_str()), (409, "conflict"));
    let audit = ok(server.admin.audit(None).await);
    assert!(
        audit
            .iter()
            .any(|e| e.action == "execution.cancel"
                && e.target == format!("execution:{}", created.id))
    );
    ok(server.server.stop().await);
}

async fn results_count_only_from_their_own_node_and_busy_nodes_check_in_sooner(db: TestDb) {
    let (_dir, _clock, server) = setup(&db).await;
    let mut owner = server.enrol("o1", &[]).await;
    let mut other = server.enrol("o2", &[]).await;
    let ledger = Ledger::default();
    let idle = other.checkin(&server, &ledger).await;
    assert_eq!(idle.checkin_interval_seconds, 60);
    let mut asked = request(&[&owner]);
    asked.waive_snapshot = Some("test".into());
    let created = ok(server.admin.patch_now(&asked).await);
    let busy = owner.checkin(&server, &ledger).await;
    assert_eq!(busy.work.len(), 1);
    assert_eq!(
        busy.checkin_interval_seconds, 5,
        "work in flight: come back soon"
    );
    let work_id = busy.work[0].id().to_owned();

    // Another node reporting this work, or an unknown id: nothing stored.
    let now = jiff::Timestamp::now();
    let forged = |id: &str| WorkResult {
        id: id.to_owned(),
        status: WorkStatus::Failed,
        output: "forged".into(),
        started_at: now,
        finished_at: now,
    };
    other.outbox = vec![forged(&work_id), forged("unknown-id")];
    let answer = other.checkin(&server, &ledger).await;
    assert_eq!(answer.checkin_interval_seconds, 60);
    let view = server.execution(&created.id).await;
    assert_eq!(
        hosts_in(&view, "install", InvocationStatus::InProgress),
        ["o1"]
    );

    owner.finish(&all_succeed);
    let done = owner.checkin(&server, &ledger).await;
    assert_eq!(done.checkin_interval_seconds, 60, "nothing left for it");
    let view = server.execution(&created.id).await;
    let invocation = &view.tasks[0].invocations[0];
    assert_eq!(invocation.status, InvocationStatus::Success);
    assert!(
        invocation.output.starts_with("install install on o1"),
        "{invocation:?}"
    );
    ok(server.server.stop().await);
}
