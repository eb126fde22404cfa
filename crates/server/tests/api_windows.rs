//! API: maintenance window definitions (idempotent, versioned, audited),
//! every validation refusal naming its field, quota refusals that store
//! nothing, the role matrix and app-team ownership, and the planner
//! (recommended length, overlaps, high-availability warnings), on SQLite
//! and PostgreSQL.

mod support;

use std::collections::BTreeMap;

use patchline_api::auth::{Role, TagScope};
use patchline_api::windows::{
    PatchOperation, PutWindowOutcome, Reboot, TaskAction, TaskSpec, WindowPlan, WindowSpec,
};
use patchline_api::{Client, routes};
use patchline_core::orchestration::{Limit, Quotas, TargetQuery, ZoneRollout};
use patchline_server::store::Backend;
use support::db::TestDb;
use support::server::{TestServer, code_of, status_of};

api_cases!(
    windows_are_idempotent_versioned_audited_and_deleted,
    every_invalid_field_is_a_400_naming_it,
    only_admin_and_app_teams_write_windows,
    an_app_team_owns_its_windows_and_reaches_only_its_nodes,
    the_planner_recommends_a_length_and_flags_problems_overlaps_and_shared_zones,
);

fn task(name: &str, priority: u32) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        priority,
        action: TaskAction::Patch {
            operation: PatchOperation::Install,
            reboot: Reboot::RebootIfNeeded,
            baseline: None,
        },
        max_concurrency: Limit::Percent(50),
        max_errors: Limit::Count(0),
        timeout_seconds: None,
    }
}

/// A daily window at 02:00 UTC targeting `Environment=<environment>`.
fn window(name: &str, environment: &str) -> WindowSpec {
    WindowSpec {
        name: name.into(),
        description: format!("{environment} nodes"),
        schedule: "cron(0 0 2 * * ? *)".into(),
        time_zone: "UTC".into(),
        offset_days: 0,
        start: None,
        end: None,
        duration_hours: 5,
        cutoff_hours: 1,
        cutoff_behavior: Default::default(),
        enabled: true,
        targets: TargetQuery {
            tags: BTreeMap::from([("Environment".to_owned(), vec![environment.to_owned()])]),
            node_ids: Vec::new(),
        },
        owner: None,
        rollout: None,
        tasks: vec![task("pre-patch", 0), task("install", 1)],
    }
}

fn scope(key: &str, value: &str) -> TagScope {
    TagScope {
        key: key.into(),
        value: value.into(),
    }
}

async fn audit_len(server: &TestServer) -> usize {
    server.admin.audit(None).await.expect("audit").len()
}

async fn windows_are_idempotent_versioned_audited_and_deleted(server: TestServer) {
    server.enrol("web-1", &[("Environment", "prod")]).await;
    server.enrol("web-2", &[("Environment", "test")]).await;
    let spec = window("prod-nightly", "prod");
    let created = server.admin.put_window(&spec).await.expect("create");
    assert!(created.changed);
    assert_eq!(created.version, 1);

    let audit = audit_len(&server).await;
    let again = server.admin.put_window(&spec).await.expect("same again");
    assert!(!again.changed);
    assert_eq!(again.version, 1);
    assert_eq!(
        audit_len(&server).await,
        audit,
        "an identical PUT audits nothing"
    );

    let mut changed = spec.clone();
    changed.cutoff_hours = 2;
    let outcome = server.admin.put_window(&changed).await.expect("change");
    assert_eq!((outcome.changed, outcome.version), (true, 2));
    let entries = server.admin.audit(None).await.expect("audit");
    let last = entries.last().expect("an entry");
    assert_eq!(last.action, "window.put");
    assert_eq!(last.actor, "user:admin");
    assert_eq!(last.detail["after"]["cutoff_hours"], 2);

    let view = server.admin.window("prod-nightly").await.expect("one");
    assert_eq!(view.window, changed);
    assert_eq!(view.version, 2);
    assert_eq!(view.updated_by, "user:admin");
    assert_eq!(view.target_count, 1);
    assert_eq!(view.next_openings.len(), 3);
    let day = jiff::SignedDuration::from_hours(24);
    assert_eq!(
        view.next_openings[1].duration_since(view.next_openings[0]),
        day
    );

    server
        .admin
        .put_window(&window("a-test", "test"))
        .await
        .expect("second");
    let names: Vec<String> = server
        .admin
        .windows()
        .await
        .expect("list")
        .into_iter()
        .map(|view| view.window.name)
        .collect();
    assert_eq!(names, ["a-test", "prod-nightly"]);

    server
        .admin
        .delete_window("prod-nightly")
        .await
        .expect("delete");
    assert_eq!(status_of(server.admin.window("prod-nightly").await), 404);
    assert_eq!(
        status_of(server.admin.delete_window("prod-nightly").await),
        404
    );
    assert_eq!(
        status_of(server.admin.window_plan("prod-nightly").await),
        404
    );
    let entries = server.admin.audit(None).await.expect("audit");
    assert_eq!(
        entries.last().map(|e| e.action.as_str()),
        Some("window.delete")
    );
}

/// The status and message of a refused PUT.
async fn refused(client: &Client, spec: &WindowSpec) -> (u16, String) {
    match client.put_window(spec).await {
        Ok(outcome) => panic!("{} was accepted: {outcome:?}", spec.name),
        Err(patchline_api::ClientError::Api { status, body, .. }) => {
            (status.as_u16(), body.message)
        }
        Err(other) => panic!("expected an API error, got {other}"),
    }
}

async fn every_invalid_field_is_a_400_naming_it(server: TestServer) {
    type Change = Box<dyn Fn(&mut WindowSpec)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "schedule:",
            Box::new(|w| w.schedule = "cron(61 * * * * ?)".into()),
        ),
        (
            "time_zone:",
            Box::new(|w| w.time_zone = "Europe/Atlantis".into()),
        ),
        (
            "offset_days:",
            Box::new(|w| {
                w.schedule = "rate(2 hours)".into();
                w.offset_days = 1;
            }),
        ),
        ("duration_hours:", Box::new(|w| w.duration_hours = 25)),
        ("duration_hours:", Box::new(|w| w.duration_hours = 0)),
        ("cutoff_hours:", Box::new(|w| w.cutoff_hours = 5)),
        (
            "targets:",
            Box::new(|w| w.targets.node_ids = vec![String::new()]),
        ),
        (
            "rollout.zone_tag:",
            Box::new(|w| {
                w.rollout = Some(ZoneRollout {
                    zone_tag: " ".into(),
                    disruption_budget: Limit::Count(1),
                })
            }),
        ),
        (
            "tasks[1].name:",
            Box::new(|w| w.tasks[1].name = "pre-patch".into()),
        ),
        (
            "tasks[0].name:",
            Box::new(|w| w.tasks[0].name = String::new()),
        ),
        (
            "tasks[1].max_concurrency:",
            Box::new(|w| w.tasks[1].max_concurrency = Limit::Percent(0)),
        ),
        (
            "tasks[0].timeout_seconds:",
            Box::new(|w| w.tasks[0].timeout_seconds = Some(0)),
        ),
        (
            "tasks[1].action.baseline:",
            Box::new(|w| {
                w.tasks[1].action = TaskAction::Patch {
                    operation: PatchOperation::Install,
                    reboot: Reboot::NoReboot,
                    baseline: Some("no-such-baseline".into()),
                }
            }),
        ),
        (
            "tasks[0].action.command:",
            Box::new(|w| {
                w.tasks[0].action = TaskAction::Command {
                    command: String::new(),
                }
            }),
        ),
        (
            "owner:",
            Box::new(|w| w.owner = Some(scope("Application", ""))),
        ),
    ];
    for (field, change) in cases {
        let mut spec = window("w", "prod");
        change(&mut spec);
        let (status, message) = refused(&server.admin, &spec).await;
        assert_eq!(status, 400, "{field} {message}");
        assert!(
            message.starts_with(field),
            "{message:?} should name {field}"
        );
    }

    // The body's name must be the path's.
    let spec = window("w", "prod");
    let path = routes::fill(routes::WINDOW, &["other"]);
    let answer: Result<PutWindowOutcome, _> = server.admin.put(&path, &spec).await;
    assert_eq!(code_of(answer), (400, "invalid-request".to_string()));

    // Unknown fields and bad limits are refused by the decoder, naming them.
    let mut body = serde_json::to_value(window("w", "prod")).expect("json");
    body["maintenance"] = serde_json::json!(true);
    let answer = server
        .raw()
        .put(server.url(&routes::fill(routes::WINDOW, &["w"])))
        .bearer_auth(admin_token(&server).await)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status().as_u16(), 400);
    let text = answer.text().await.expect("body");
    assert!(text.contains("maintenance"), "{text}");
    let mut body = serde_json::to_value(window("w", "prod")).expect("json");
    body["tasks"][0]["max_errors"] = serde_json::json!("150%");
    let answer = server
        .raw()
        .put(server.url(&routes::fill(routes::WINDOW, &["w"])))
        .bearer_auth(admin_token(&server).await)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status().as_u16(), 400);

    assert!(
        server.admin.windows().await.expect("list").is_empty(),
        "nothing refused was stored"
    );
}

async fn admin_token(server: &TestServer) -> String {
    server
        .anonymous
        .login("admin", support::server::ADMIN_PASSWORD)
        .await
        .expect("login")
        .token
}

async fn only_admin_and_app_teams_write_windows(server: TestServer) {
    let payments = scope("Application", "payments");
    for role in Role::ALL {
        let username = format!("user-{role}");
        let team_scope = (role == Role::AppTeam).then(|| payments.clone());
        let client = server.operator(&username, role, team_scope).await;
        let name = format!("w-{role}");
        let result = client.put_window(&window(&name, "prod")).await;
        match role {
            Role::Admin | Role::AppTeam => {
                assert!(result.is_ok(), "{role}: {result:?}");
            }
            _ => assert_eq!(code_of(result), (403, "forbidden".to_string()), "{role}"),
        }
        assert!(client.windows().await.is_ok(), "{role} reads windows");
        assert!(client.window_plan("w-admin").await.is_ok(), "{role} plans");
        assert!(client.quotas().await.is_ok(), "{role} reads quotas");
    }
    assert_eq!(status_of(server.anonymous.windows().await), 401);
}

async fn an_app_team_owns_its_windows_and_reaches_only_its_nodes(server: TestServer) {
    let payments = scope("Application", "payments");
    server
        .enrol(
            "pay-1",
            &[("Application", "payments"), ("Environment", "prod")],
        )
        .await;
    server
        .enrol(
            "search-1",
            &[("Application", "search"), ("Environment", "prod")],
        )
        .await;
    let team = server
        .operator("pay-team", Role::AppTeam, Some(payments.clone()))
        .await;

    // Created without an owner: the team's scope owns it.
    team.put_window(&window("pay-prod", "prod"))
        .await
        .expect("team creates");
    let view = server.admin.window("pay-prod").await.expect("admin reads");
    assert_eq!(view.window.owner, Some(payments.clone()));
    assert_eq!(
        view.target_count, 1,
        "only the team's node, whatever the query"
    );

    // Giving a window to another scope is refused.
    let mut foreign = window("search-prod", "prod");
    foreign.owner = Some(scope("Application", "search"));
    assert_eq!(code_of(team.put_window(&foreign).await).0, 403);

    // Admin windows (no owner, or another scope's) are out of reach.
    server
        .admin
        .put_window(&window("fleet-prod", "prod"))
        .await
        .expect("admin creates");
    assert_eq!(
        server
            .admin
            .window("fleet-prod")
            .await
            .expect("view")
            .target_count,
        2
    );
    let mut edited = window("fleet-prod", "prod");
    edited.description = "taken over".into();
    assert_eq!(code_of(team.put_window(&edited).await).0, 403);
    assert_eq!(code_of(team.delete_window("fleet-prod").await).0, 403);
    assert_eq!(
        server
            .admin
            .window("fleet-prod")
            .await
            .expect("view")
            .window
            .description,
        "prod nodes"
    );

    // Its own window: changed and deleted by the team; an admin may too.
    let mut own = window("pay-prod", "prod");
    own.duration_hours = 6;
    let outcome = team.put_window(&own).await.expect("team edits");
    assert_eq!(outcome.version, 2);
    own.owner = Some(payments.clone());
    own.duration_hours = 7;
    assert!(
        server
            .admin
            .put_window(&own)
            .await
            .expect("admin edits")
            .changed
    );
    team.delete_window("pay-prod").await.expect("team deletes");
}

async fn the_planner_recommends_a_length_and_flags_problems_overlaps_and_shared_zones(
    server: TestServer,
) {
    for (host, zone) in [("shop-a", "a"), ("shop-b", "b"), ("shop-c", "a")] {
        server
            .enrol(
                host,
                &[
                    ("Application", "shop"),
                    ("Environment", "prod"),
                    ("Zone", zone),
                ],
            )
            .await;
    }
    // One window over every zone of the service: saved, with a warning.
    let outcome = server
        .admin
        .put_window(&window("prod-all", "prod"))
        .await
        .expect("saved");
    assert!(outcome.changed);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|warning| warning.contains("\"shop\"") && warning.contains("a, b")),
        "{:?}",
        outcome.warnings
    );

    let plan: WindowPlan = server.admin.window_plan("prod-all").await.expect("plan");
    assert_eq!(plan.targets, 3);
    assert_eq!(
        plan.recommended_duration_hours, 5,
        "4 h + 1 h per started 50 nodes"
    );
    assert_eq!(plan.recommended_cutoff_hours, 1);
    assert!(plan.fits);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert_eq!(plan.next_openings.len(), 3);
    assert!(plan.overlaps.is_empty());

    // A zone-a window at the same time shares two nodes with it.
    let mut zone_a = window("prod-zone-a", "prod");
    zone_a.targets = TargetQuery {
        tags: BTreeMap::from([("Zone".to_owned(), vec!["a".to_owned()])]),
        node_ids: Vec::new(),
    };
    zone_a.duration_hours = 3;
    zone_a.cutoff_hours = 1;
    let outcome = server.admin.put_window(&zone_a).await.expect("zone a");
    assert!(
        outcome
            .warnings
            .iter()
            .any(|warning| warning.contains("overlaps window \"prod-all\"")),
        "{:?}",
        outcome.warnings
    );
    let plan = server.admin.window_plan("prod-all").await.expect("plan");
    assert_eq!(plan.overlaps.len(), 5, "one per day, at most 5 per window");
    // The first may be cut short by now; the second is a whole opening.
    let second = &plan.overlaps[1];
    assert_eq!(second.window, "prod-zone-a");
    assert_eq!(second.shared_targets, 2);
    assert_eq!(
        second.end.duration_since(second.start),
        jiff::SignedDuration::from_hours(3)
    );
    let zone_plan = server.admin.window_plan("prod-zone-a").await.expect("plan");
    assert!(zone_plan.problems.iter().any(|p| p.contains("leaves 2 h")));
    assert!(!zone_plan.fits);
    assert!(
        zone_plan.warnings.is_empty(),
        "one zone only: no HA warning"
    );

    // A disabled window overlaps nothing.
    let mut disabled = zone_a.clone();
    disabled.enabled = false;
    server.admin.put_window(&disabled).await.expect("disable");
    assert!(
        server
            .admin
            .window_plan("prod-all")
            .await
            .expect("plan")
            .overlaps
            .is_empty()
    );

    // An install overriding the baseline with one of another OS family
    // would fail on every Debian target.
    let rhel = patchline_api::baselines::PutBaselineRequest {
        baseline: patchline_core::baseline::Baseline {
            name: "rhel-now".into(),
            ..patchline_core::baseline::Baseline::default_for(
                patchline_core::os::OsFamily::RhelCompatible,
            )
        },
        default_for_family: false,
    };
    server.admin.put_baseline(&rhel).await.expect("baseline");
    let mut foreign = window("prod-rhel", "prod");
    foreign.tasks[1].action = TaskAction::Patch {
        operation: PatchOperation::Install,
        reboot: Reboot::NoReboot,
        baseline: Some("rhel-now".into()),
    };
    server.admin.put_window(&foreign).await.expect("saved");
    let plan = server.admin.window_plan("prod-rhel").await.expect("plan");
    assert!(
        plan.problems
            .iter()
            .any(|p| p.contains("\"rhel-now\"") && p.contains("3 of the targets are not")),
        "{:?}",
        plan.problems
    );
    server
        .admin
        .delete_window("prod-rhel")
        .await
        .expect("delete");

    // No targets, no tasks, a one-off in the past: each a problem.
    let mut empty = window("nothing", "staging");
    empty.tasks.clear();
    empty.schedule = "at(2020-01-01T02:00:00)".into();
    let outcome = server.admin.put_window(&empty).await.expect("saved anyway");
    assert_eq!(outcome.warnings.len(), 3, "{:?}", outcome.warnings);
    let plan = server.admin.window_plan("nothing").await.expect("plan");
    assert_eq!(plan.targets, 0);
    assert!(!plan.fits);
    assert!(
        plan.problems
            .contains(&"the window has no targets".to_owned())
    );
    assert!(
        plan.problems
            .contains(&"the window has no tasks".to_owned())
    );
    assert!(
        plan.problems
            .iter()
            .any(|p| p.contains("never opens again"))
    );
    assert!(plan.next_openings.is_empty());
}

// Quota refusals need a server with small quotas: one test per backend.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_a_409_naming_them_and_store_nothing_sqlite() {
    quotas_refuse_with_a_409_naming_them_and_store_nothing(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_a_409_naming_them_and_store_nothing_postgres() {
    quotas_refuse_with_a_409_naming_them_and_store_nothing(Backend::Postgres).await
}

async fn quotas_refuse_with_a_409_naming_them_and_store_nothing(backend: Backend) {
    let quotas = Quotas {
        max_windows: 2,
        max_tasks_per_window: 2,
        max_concurrency_per_task: 3,
        max_concurrent_executions: 1,
    };
    let data_dir = tempfile::tempdir().expect("data dir");
    let server = TestServer::start_with(TestDb::new(backend).await, data_dir, |config| {
        config.quotas = quotas;
    })
    .await;
    assert_eq!(server.admin.quotas().await.expect("quotas").quotas, quotas);
    for name in ["one", "two"] {
        server
            .admin
            .put_window(&window(name, "prod"))
            .await
            .expect("within the quota");
    }
    let audit = audit_len(&server).await;

    let (status, message) = refused(&server.admin, &window("three", "prod")).await;
    assert_eq!(status, 409);
    assert!(message.contains("quota max_windows is 2"), "{message}");
    assert!(
        message.contains("patchline server --max-windows"),
        "{message}"
    );

    let mut many_tasks = window("one", "prod");
    many_tasks.tasks.push(task("post-patch", 2));
    let (status, message) = refused(&server.admin, &many_tasks).await;
    assert_eq!(status, 409);
    assert_eq!(
        message,
        "tasks: quota max_tasks_per_window is 2, and this would need 3; raise it with \
         `patchline server --max-tasks-per-window`"
    );

    let mut wide = window("two", "prod");
    wide.tasks[1].max_concurrency = Limit::Count(4);
    let (status, message) = refused(&server.admin, &wide).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("tasks[1].max_concurrency: quota max_concurrency_per_task is 3"),
        "{message}"
    );

    assert_eq!(audit_len(&server).await, audit, "nothing audited");
    let stored = server.admin.windows().await.expect("list");
    assert_eq!(stored.len(), 2);
    assert!(
        stored.iter().all(|view| view.version == 1),
        "nothing changed"
    );
    // Within the quotas again: accepted.
    wide.tasks[1].max_concurrency = Limit::Count(3);
    assert!(server.admin.put_window(&wide).await.expect("fits").changed);
}
