//! The orchestrator's store under concurrency, on SQLite and PostgreSQL:
//! many simultaneous creations of one window opening store one execution;
//! simultaneous Patch Now admissions never exceed the concurrent-
//! executions quota; simultaneous deliveries of one invocation hand it
//! over once; a result is recorded once, only for its own node; leases
//! go to one holder until they run out.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use patchline_api::checkin::{WorkResult, WorkStatus};
use patchline_api::executions::ExecutionKind;
use patchline_core::orchestration::{InvocationStatus, Limit, Quotas};
use patchline_server::compliance::ComplianceEngine;
use patchline_server::orchestrator::clock::ManualClock;
use patchline_server::orchestrator::plan::{
    ExecutionPlan, InvocationWork, PlannedAction, PlannedTarget, PlannedTask,
};
use patchline_server::orchestrator::{Orchestrator, OrchestratorSettings};
use patchline_server::store::Store;
use patchline_server::store::executions::{
    Admission, AuditNote, NewExecution, ResolvedLimits, ResultOutcome,
};
use support::db::TestDb;

both_backends!(
    concurrent_creations_of_one_opening_store_one_execution,
    concurrent_patch_now_admissions_respect_the_quota,
    concurrent_deliveries_hand_an_invocation_over_once,
    leases_have_one_holder_until_they_run_out,
);

const CONTENDERS: usize = 8;

fn at(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn plan(nodes: usize) -> ExecutionPlan {
    ExecutionPlan {
        tasks: vec![PlannedTask {
            name: "work".into(),
            priority: 0,
            work: InvocationWork {
                action: PlannedAction::Command {
                    command: "true".into(),
                },
                timeout_seconds: 60,
            },
            max_concurrency: Limit::Count(1),
            max_errors: Limit::Count(0),
        }],
        rollout: None,
        targets: (0..nodes)
            .map(|i| PlannedTarget {
                node_id: format!("node-{i}"),
                hostname: format!("host-{i}"),
                zone: None,
                batch: 0,
            })
            .collect(),
        cutoff_behavior: Default::default(),
    }
}

fn execution(kind: ExecutionKind, window: Option<&str>, nodes: usize) -> NewExecution {
    NewExecution {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        window: window.map(str::to_owned),
        window_version: window.map(|_| 1),
        scheduled_for: at("2027-01-04T02:00:00Z"),
        last_task_start: at("2027-01-04T05:00:00Z"),
        window_end: at("2027-01-04T06:00:00Z"),
        requested_by: "test".into(),
        plan: plan(nodes),
        limits: vec![ResolvedLimits {
            max_concurrency: 1,
            max_errors: 0,
            note: None,
        }],
        created_at: at("2027-01-04T02:00:00Z"),
    }
}

/// Runs `CONTENDERS` copies of `attempt` at once, each on its own store
/// (as separate servers would), and returns their results.
async fn race<T: Send + 'static, F>(db: &TestDb, attempt: F) -> Vec<T>
where
    F: Fn(Store, usize) -> std::pin::Pin<Box<dyn Future<Output = T> + Send>>
        + Send
        + Sync
        + 'static,
{
    let attempt = Arc::new(attempt);
    let mut stores = Vec::new();
    for _ in 0..CONTENDERS {
        stores.push(db.store().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(CONTENDERS));
    let mut handles = Vec::new();
    for (index, store) in stores.into_iter().enumerate() {
        let attempt = Arc::clone(&attempt);
        let barrier = Arc::clone(&barrier);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            attempt(store, index).await
        }));
    }
    let mut results = Vec::new();
    for handle in handles {
        results.push(ok(handle.await));
    }
    results
}

async fn concurrent_creations_of_one_opening_store_one_execution(db: TestDb) {
    let created = race(&db, |store, _| {
        Box::pin(async move {
            let new = execution(ExecutionKind::Scheduled, Some("sunday"), 3);
            ok(store.create_execution(&new, &Admission::Scheduled).await)
        })
    })
    .await;
    assert_eq!(
        created.iter().filter(|created| **created).count(),
        1,
        "{created:?}"
    );
    let store = db.store().await;
    let executions = ok(store.list_executions(Some("sunday"), None, 10).await);
    assert_eq!(executions.len(), 1);
    assert_eq!(ok(store.invocations_of(&executions[0].id).await).len(), 3);
    assert!(ok(store
        .execution_exists("sunday", at("2027-01-04T02:00:00Z"))
        .await));
}

async fn concurrent_patch_now_admissions_respect_the_quota(db: TestDb) {
    let admitted = race(&db, |store, index| {
        Box::pin(async move {
            let new = execution(ExecutionKind::PatchNow, None, 1);
            let admission = Admission::Immediate {
                max_concurrent: 3,
                audit: AuditNote {
                    actor: format!("user:u{index}"),
                    action: "patch-now".into(),
                    target: format!("execution:{}", new.id),
                    detail: serde_json::json!({}),
                },
            };
            store.create_execution(&new, &admission).await.is_ok()
        })
    })
    .await;
    assert_eq!(admitted.iter().filter(|ok| **ok).count(), 3, "{admitted:?}");
    let store = db.store().await;
    assert_eq!(ok(store.list_executions(None, None, 100).await).len(), 3);
    let audit = ok(store.list_audit(None, 100).await);
    assert_eq!(
        audit
            .iter()
            .filter(|entry| entry.action == "patch-now")
            .count(),
        3,
        "only admitted ones are audited"
    );
}

/// One queued invocation of a fresh execution (queued by a scheduling
/// round); its id and node.
async fn queued_invocation(store: &Store) -> (String, String) {
    let new = execution(ExecutionKind::Scheduled, Some("w"), 1);
    assert!(ok(store
        .create_execution(&new, &Admission::Scheduled)
        .await));
    let orchestrator = Orchestrator::new(
        store.clone(),
        ComplianceEngine::new(store.clone()),
        Arc::new(ManualClock::new(at("2027-01-04T02:00:00Z"))),
        OrchestratorSettings {
            quotas: Quotas::default(),
            scheduler_interval: Duration::ZERO,
            checkin_interval: Duration::from_secs(60),
            history_retention: None,
            work_ready_recheck: Duration::from_secs(15),
            work_ready_waiters: 10,
        },
    );
    let report = ok(orchestrator.tick().await);
    assert_eq!(report.started, std::slice::from_ref(&new.id));
    let invocation = ok(store.invocations_of(&new.id).await).remove(0);
    assert_eq!(invocation.status, InvocationStatus::Queued);
    (invocation.id, invocation.node_id)
}

async fn concurrent_deliveries_hand_an_invocation_over_once(db: TestDb) {
    let store = db.store().await;
    let (id, node) = queued_invocation(&store).await;
    let (race_id, race_node) = (id.clone(), node.clone());
    let delivered = race(&db, move |store, _| {
        let (id, node) = (race_id.clone(), race_node.clone());
        Box::pin(async move {
            let now = at("2027-01-04T02:01:00Z");
            ok(store
                .deliver_invocation(&id, &node, now, at("2027-01-04T03:01:00Z"))
                .await)
        })
    })
    .await;
    assert_eq!(delivered.iter().filter(|d| **d).count(), 1, "{delivered:?}");

    // Its result: ignored from another node, recorded once from its own.
    let result = WorkResult {
        id: id.clone(),
        status: WorkStatus::Success,
        output: "x".repeat(70 * 1024),
        started_at: Timestamp::now(),
        finished_at: Timestamp::now(),
    };
    let now = at("2027-01-04T02:02:00Z");
    let results = std::slice::from_ref(&result);
    assert_eq!(
        ok(store.record_work_results("node-other", results, now).await),
        [ResultOutcome::Ignored]
    );
    assert_eq!(
        ok(store.record_work_results(&node, results, now).await),
        [ResultOutcome::Recorded]
    );
    assert_eq!(
        ok(store.record_work_results(&node, results, now).await),
        [ResultOutcome::Ignored],
        "already finished"
    );
    let stored = ok(store.invocation(&id).await).unwrap_or_else(|| panic!("gone"));
    assert_eq!(stored.status, InvocationStatus::Success);
    assert_eq!(stored.output.len(), 64 * 1024, "output bounded");
    assert_eq!(stored.started_at, Some(at("2027-01-04T02:01:00Z")));
    assert_eq!(stored.finished_at, Some(now));
}

async fn leases_have_one_holder_until_they_run_out(db: TestDb) {
    let store = db.store().await;
    let new = execution(ExecutionKind::Scheduled, Some("w"), 1);
    assert!(ok(store
        .create_execution(&new, &Admission::Scheduled)
        .await));
    let now = at("2027-01-04T02:00:00Z");
    let until = now
        .checked_add(SignedDuration::from_secs(30))
        .unwrap_or(now);
    assert!(
        !ok(store.claim_lease(&new.id, "a", now, until).await),
        "a pending execution has no runner"
    );
    ok(store.start_pending_executions(5, now).await);
    let id = new.id.clone();
    let claimed = race(&db, move |store, index| {
        let id = id.clone();
        Box::pin(async move {
            ok(store
                .claim_lease(&id, &format!("server-{index}"), now, until)
                .await)
        })
    })
    .await;
    assert_eq!(claimed.iter().filter(|c| **c).count(), 1, "{claimed:?}");
    let holder = ok(store.execution(&new.id).await)
        .and_then(|e| e.lease_owner)
        .unwrap_or_default();
    let later = now
        .checked_add(SignedDuration::from_secs(10))
        .unwrap_or(now);
    assert!(!ok(store
        .claim_lease(&new.id, "intruder", later, until)
        .await));
    assert!(
        ok(store.claim_lease(&new.id, &holder, later, until).await),
        "renewed"
    );
    let expired = until
        .checked_add(SignedDuration::from_secs(1))
        .unwrap_or(until);
    assert!(ok(store
        .claim_lease(&new.id, "intruder", expired, expired)
        .await));
    assert_eq!(ok(store.release_leases("intruder").await), 1);
    assert!(ok(store
        .claim_lease(&new.id, "third", expired, expired)
        .await));
}
