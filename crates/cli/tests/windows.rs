//! The window, execution, Patch Now and governance commands against a real
//! `patchline server` child process: declarative windows (diff, idempotent
//! second apply, PUT warnings), listings, the planner's exit code, the
//! offline planner, execution history after a Patch Now, cancellation, and
//! a role the server refuses.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use patchline_api::Client;
use patchline_api::checkin::{
    CheckinRequest, CheckinStatus, Inventory, NodeFacts, WorkResult, WorkStatus,
};
use patchline_api::enrolment::{EnrolRequest, EnrolmentSecretCreated};
use patchline_api::executions::{ExecutionKind, ExecutionView};
use patchline_api::windows::{WindowPlan, WindowView};
use patchline_core::orchestration::{ExecutionStatus, PlanCheck};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::InstalledPackage;
use support::{TestServer, stderr, stdout, text, write};

const WINDOWS: &str = "\
# Prod, one window per zone.
kind: Window
name: prod-zone-a
schedule: cron(0 0 2 ? * SUN)
time_zone: Europe/Paris
duration_hours: 5
cutoff_hours: 1
targets:
  tags:
    Zone: [zone-a]
rollout:
  zone_tag: Zone
  disruption_budget: 50%
tasks:
  - name: snapshot
    priority: 0
    action: {kind: snapshot}
  - name: install
    priority: 1
    action: {kind: patch, operation: install}
    max_concurrency: 10%
    max_errors: 1
  - name: post-patch
    priority: 2
    action: {kind: command, command: 'true'}
---
kind: Window
name: prod-zone-b
schedule: cron(0 0 8 ? * SUN)
time_zone: Europe/Paris
duration_hours: 5
cutoff_hours: 1
targets:
  tags:
    Zone: [zone-b]
tasks:
  - name: install
    action: {kind: patch, operation: install}
---
kind: TaggingRule
name: web-hosts
when:
  hostname: web-*
set:
  Application: web
---
kind: Governance
default_window: prod-zone-b
";

/// A window nothing matches: the planner's "no targets" problem.
const EMPTY_WINDOW: &str = "\
kind: Window
name: nowhere
schedule: rate(1 day)
duration_hours: 2
cutoff_hours: 1
targets:
  tags:
    Zone: [no-such-zone]
tasks:
  - name: scan
    action: {kind: patch, operation: scan}
";

fn inventory() -> Inventory {
    Inventory {
        os: OsInfo {
            family: OsFamily::Debian,
            id: "debian".into(),
            version_id: "12".into(),
            product: "Debian12".into(),
        },
        installed: vec![InstalledPackage {
            name: "bash".into(),
            arch: "amd64".into(),
            version: "5.2.15-2".into(),
            source: None,
        }],
        updates: vec![],
        failed: vec![],
        pending_reboot: vec![],
    }
}

/// A node that checks in as an agent does, through the API, and answers
/// its work with the outcome the test chooses.
struct FakeAgent {
    node_id: String,
    client: Client,
    facts: NodeFacts,
    runtime: tokio::runtime::Runtime,
    /// Results of the work received at the last check-in, sent at the next.
    results: Vec<WorkResult>,
}

impl FakeAgent {
    /// Enrols with `secret` and checks in one small inventory.
    fn enrol(server: &TestServer, secret: &str, hostname: &str) -> FakeAgent {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let pem = std::fs::read(&server.ca_cert).unwrap();
        let client = Client::builder(&server.url)
            .ca_certificate_pem(&pem)
            .build()
            .unwrap();
        let facts = NodeFacts {
            hostname: hostname.into(),
            os: inventory().os,
            arch: "amd64".into(),
            kernel: None,
            reboot_required: false,
            agent_version: "test".into(),
            addresses: Vec::new(),
        };
        let enrolled = runtime
            .block_on(client.enrol(&EnrolRequest {
                secret: secret.into(),
                facts: facts.clone(),
                tags: BTreeMap::new(),
            }))
            .unwrap();
        let mut agent = FakeAgent {
            node_id: enrolled.node_id,
            client: client.with_bearer(enrolled.credential),
            facts,
            runtime,
            results: Vec::new(),
        };
        agent.check_in(WorkStatus::Success);
        agent
    }

    /// One check-in reporting the previous results; the work it receives
    /// is answered with `outcome` at the next one.
    fn check_in(&mut self, outcome: WorkStatus) {
        let mut request = CheckinRequest {
            facts: self.facts.clone(),
            tags: BTreeMap::new(),
            scanned_at: jiff::Timestamp::now(),
            inventory_hash: inventory().content_hash(),
            inventory: None,
            results: std::mem::take(&mut self.results),
        };
        let mut response = self
            .runtime
            .block_on(self.client.checkin(&request))
            .unwrap();
        if response.status == CheckinStatus::InventoryRequired {
            request.inventory = Some(inventory());
            response = self
                .runtime
                .block_on(self.client.checkin(&request))
                .unwrap();
            assert_eq!(response.status, CheckinStatus::Accepted);
        }
        for work in response.work {
            let now = jiff::Timestamp::now();
            self.results.push(WorkResult {
                id: work.id().to_string(),
                status: outcome,
                output: format!("{} on {}: {outcome:?}\n", work.kind(), self.facts.hostname),
                started_at: now,
                finished_at: now,
            });
        }
    }
}

/// Enrols a node that never checks in again; returns its id.
fn enrol_node(server: &TestServer, secret: &str, hostname: &str) -> String {
    FakeAgent::enrol(server, secret, hostname).node_id
}

fn enrolment_secret(admin: &support::Cli) -> String {
    let created: EnrolmentSecretCreated = serde_json::from_str(&admin.ok(&[
        "enrolment",
        "create",
        "fleet",
        "--max-uses",
        "10",
        "--json",
    ]))
    .unwrap();
    created.secret
}

#[test]
fn windows_apply_idempotently_and_list_show_and_plan() {
    let server = TestServer::start_with(&["--max-windows", "3", "--scheduler-interval", "1"]);
    let admin = server.admin();
    let secret = enrolment_secret(&admin);
    let web = enrol_node(&server, &secret, "web-1");
    let db = enrol_node(&server, &secret, "db-1");
    admin.ok(&["nodes", "tag", &web, "Zone=zone-a"]);
    admin.ok(&["nodes", "tag", &db, "Zone=zone-b"]);

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "windows.yaml", WINDOWS);
    let file = file.to_str().unwrap();
    let plan = admin.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(plan.contains("window/prod-zone-a: create"), "{plan}");
    assert!(plan.contains("+kind: Window"), "{plan}");
    assert!(plan.contains("+  max_concurrency: 10%"), "{plan}");
    assert!(plan.contains("tagging-rule/web-hosts: create"), "{plan}");
    assert!(plan.contains("governance: update"), "{plan}");
    assert!(plan.contains("+default_window: prod-zone-b"), "{plan}");
    assert!(
        plan.contains("3 to create, 1 to update, 0 unchanged"),
        "{plan}"
    );

    let applied = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(
        applied.contains("window/prod-zone-a: created (version 1)"),
        "{applied}"
    );
    assert!(
        applied.contains("window/prod-zone-b: created (version 1)"),
        "{applied}"
    );
    assert!(
        applied.contains("tagging-rule/web-hosts: created (1 matching node(s))"),
        "{applied}"
    );
    assert!(applied.contains("governance: updated"), "{applied}");
    let audit_after_first = admin.ok(&["audit", "--json"]);

    // The second apply finds nothing to do and changes nothing.
    let again = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(again.contains("window/prod-zone-a: unchanged"), "{again}");
    assert!(
        again.contains("tagging-rule/web-hosts: unchanged"),
        "{again}"
    );
    assert!(again.contains("governance: unchanged"), "{again}");
    assert!(again.contains("Nothing to apply."), "{again}");
    assert_eq!(admin.ok(&["audit", "--json"]), audit_after_first);

    // A change is a minimal diff and a new version.
    write(
        dir.path(),
        "windows.yaml",
        &WINDOWS.replace(
            "cutoff_hours: 1\ntargets:\n  tags:\n    Zone: [zone-b]",
            "cutoff_hours: 2\ntargets:\n  tags:\n    Zone: [zone-b]",
        ),
    );
    let changed = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(changed.contains("window/prod-zone-b: update"), "{changed}");
    assert!(
        changed.contains("-cutoff_hours: 1") && changed.contains("+cutoff_hours: 2"),
        "{changed}"
    );
    assert!(
        changed.contains("window/prod-zone-b: updated (version 2)"),
        "{changed}"
    );

    // Listings.
    let table = admin.ok(&["window", "list"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("NEXT OPENING"),
        "{table}"
    );
    let zone_a = table
        .lines()
        .find(|line| line.starts_with("prod-zone-a"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        zone_a.contains("cron(0 0 2 ? * SUN) Europe/Paris")
            && zone_a.contains("5 h, cutoff 1 h")
            && zone_a.contains("yes"),
        "{table}"
    );
    let views: Vec<WindowView> =
        serde_json::from_str(&admin.ok(&["windows", "list", "--json"])).unwrap();
    assert_eq!(views.len(), 2);
    let zone_a_view = views
        .iter()
        .find(|view| view.window.name == "prod-zone-a")
        .unwrap();
    assert_eq!(zone_a_view.target_count, 1);
    assert!(!zone_a_view.next_openings.is_empty());
    let csv = admin.ok(&["window", "list", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let shown = admin.ok(&["window", "show", "prod-zone-a"]);
    assert!(shown.starts_with("# version 1, updated"), "{shown}");
    assert!(shown.contains("# targets now: 1 node(s)"), "{shown}");
    assert!(shown.contains("# next openings:\n#   20"), "{shown}");
    assert!(
        shown.contains("kind: Window\nname: prod-zone-a\n"),
        "{shown}"
    );
    // What `show` prints is an apply document equal to the stored window.
    let saved = write(dir.path(), "shown.yaml", &shown);
    let reapplied = admin.ok(&["apply", "-f", saved.to_str().unwrap(), "--yes"]);
    assert!(reapplied.contains("Nothing to apply."), "{reapplied}");

    // The planner: one node in zone A fits a 5 h window; exit 0.
    let output = admin.run(&["window", "plan", "prod-zone-a"]);
    assert!(output.status.success(), "{}", text(&output));
    let plan_text = stdout(&output);
    assert!(
        plan_text.contains("Window prod-zone-a: 1 target(s), 5 h with a 1 h cutoff"),
        "{plan_text}"
    );
    assert!(
        plan_text.contains("Recommended: 5 h with a 1 h cutoff"),
        "{plan_text}"
    );
    assert!(plan_text.contains("Problems: none"), "{plan_text}");
    let plan: WindowPlan =
        serde_json::from_str(&admin.ok(&["window", "plan", "prod-zone-a", "--json"])).unwrap();
    assert_eq!(plan.targets, 1);
    assert!(plan.fits && plan.problems.is_empty(), "{plan:?}");

    // A window with no targets: the problem is printed and the exit code is 1.
    let empty = write(dir.path(), "empty.yaml", EMPTY_WINDOW);
    admin.ok(&["apply", "-f", empty.to_str().unwrap(), "--yes"]);
    let output = admin.run(&["window", "plan", "nowhere"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let plan_text = stdout(&output);
    assert!(plan_text.contains("Fits: no"), "{plan_text}");
    assert!(plan_text.contains("Problems:\n  - "), "{plan_text}");
    assert!(plan_text.contains("no targets"), "{plan_text}");
    let output = admin.run(&["window", "plan", "nowhere", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let plan: WindowPlan = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(!plan.problems.is_empty());

    // The quota given to the server: a fourth window is refused, nothing stored.
    let quotas = admin.ok(&["quotas"]);
    assert!(
        quotas
            .lines()
            .any(|line| line.starts_with("windows") && line.trim_end().ends_with(" 3")),
        "{quotas}"
    );
    let fourth = write(
        dir.path(),
        "fourth.yaml",
        &EMPTY_WINDOW.replace("name: nowhere", "name: fourth"),
    );
    let output = admin.run(&["apply", "-f", fourth.to_str().unwrap(), "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        stderr(&output).contains("cannot apply window/fourth"),
        "{}",
        text(&output)
    );
    assert!(!admin.ok(&["window", "list"]).contains("fourth"));

    admin.ok(&["window", "delete", "nowhere"]);
    assert!(!admin.ok(&["window", "list"]).contains("nowhere"));
    let output = admin.run(&["window", "show", "nowhere"]);
    assert!(!output.status.success(), "{}", text(&output));

    // Tagging rules and governance.
    let rules = admin.ok(&["tagging-rules", "list"]);
    assert!(
        rules.contains("web-hosts")
            && rules.contains("hostname=web-*")
            && rules.contains("Application=web"),
        "{rules}"
    );
    let shown = admin.ok(&["governance", "show"]);
    assert!(shown.contains("Default window: prod-zone-b"), "{shown}");
    let set = admin.ok(&["governance", "set", "--default-window", ""]);
    assert!(set.contains("Default window: (none)"), "{set}");
    // The file says otherwise again: one update.
    let plan = admin.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(plan.contains("governance: update"), "{plan}");
    admin.ok(&["tagging-rules", "delete", "web-hosts"]);
    assert_eq!(admin.ok(&["tagging-rules", "list"]).trim(), "(none)");
}

#[test]
fn the_offline_planner_needs_no_server() {
    let cli = support::Cli {
        config_dir: tempfile::tempdir().unwrap(),
    };
    let output = cli.run(&["window", "plan", "--nodes", "120"]);
    assert!(output.status.success(), "{}", text(&output));
    let recommended = stdout(&output);
    assert!(
        recommended.starts_with("120 node(s): recommended 7 h with a 1 h cutoff"),
        "{recommended}"
    );
    assert!(recommended.contains("Problems: none"), "{recommended}");

    let output = cli.run(&[
        "window",
        "plan",
        "--nodes",
        "400",
        "--duration",
        "6",
        "--cutoff",
        "2",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let check: PlanCheck = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(check.recommended_duration_hours, 12);
    assert_eq!(check.recommended_cutoff_hours, 1);
    assert!(!check.fits);
    assert_eq!(check.problems.len(), 1, "{check:?}");
}

#[test]
fn patch_now_is_listed_shown_and_cancelled() {
    let server = TestServer::start_with(&["--scheduler-interval", "1"]);
    let admin = server.admin();
    assert_eq!(admin.ok(&["executions", "list"]).trim(), "(none)");
    assert_eq!(admin.ok(&["executions", "list", "--json"]).trim(), "[]");

    let secret = enrolment_secret(&admin);
    let node = enrol_node(&server, &secret, "web-1");

    // Without a waiver the snapshot step is announced; a blank waiver is refused.
    let output = admin.run(&["patch-now", "--node", &node, "--waive-snapshot", " "]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(stderr(&output).contains("reason"), "{}", text(&output));

    let started = admin.ok(&[
        "patch-now",
        "--node",
        &node,
        "--waive-snapshot",
        "disks are replicated",
        "--no-reboot",
    ]);
    assert!(
        started.contains("Patch Now on 1 node(s) with the emergency baseline"),
        "{started}"
    );
    assert!(
        started.contains("snapshot step WAIVED (disks are replicated)"),
        "{started}"
    );
    let id = started
        .lines()
        .find_map(|line| line.strip_prefix("Execution "))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();

    let executions: Vec<ExecutionView> =
        serde_json::from_str(&admin.ok(&["executions", "list", "--json"])).unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].id, id);
    assert_eq!(executions[0].kind, ExecutionKind::PatchNow);
    let table = admin.ok(&["executions", "list"]);
    assert!(
        table.lines().next().unwrap().starts_with("ID")
            && table.contains(&id)
            && table.contains("patch-now"),
        "{table}"
    );
    let limited = admin.ok(&["executions", "list", "--limit", "1", "--format", "csv"]);
    assert_eq!(limited.lines().count(), 2, "{limited}");
    let by_window = admin.ok(&["executions", "list", "--window", "prod", "--json"]);
    assert_eq!(by_window.trim(), "[]");

    // The node enrolled through the API never checks in again: its install
    // stays queued (or pending), which `show` lists per task and node.
    let shown = admin.ok(&["executions", "show", &id]);
    assert!(
        shown.starts_with(&format!("Execution {id} (patch-now): ")),
        "{shown}"
    );
    assert!(shown.contains("Task "), "{shown}");
    assert!(shown.contains("web-1") && shown.contains(&node), "{shown}");
    let with_output = admin.ok(&["executions", "show", &id, "--output"]);
    assert!(with_output.contains("=== "), "{with_output}");

    let cancelled = admin.ok(&["executions", "cancel", &id]);
    assert!(
        cancelled.contains(&format!("Execution {id}: cancel")),
        "{cancelled}"
    );
    // The scheduler's next round ends it.
    let view = wait_for_end(&admin, &id);
    assert_eq!(view.status, ExecutionStatus::Cancelled);
    assert!(view.finished_at.is_some());
    let output = admin.run(&["executions", "cancel", &id]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        stderr(&output).contains("already ended"),
        "{}",
        text(&output)
    );

    // --wait follows an execution until it ends, and a cancelled one exits 1.
    let waiting = admin
        .command()
        .args([
            "patch-now",
            "--node",
            &node,
            "--waive-snapshot",
            "test",
            "--wait",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second = wait_for_second_execution(&admin, &id);
    admin.ok(&["executions", "cancel", &second]);
    let output = waiting.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let waited = stdout(&output);
    assert!(
        waited.contains(&format!("Execution {second}: waiting for it to end.")),
        "{waited}"
    );
    assert!(
        waited.contains(&format!("Execution {second} (patch-now): cancelled")),
        "{waited}"
    );
}

/// The execution once its status is terminal.
fn wait_for_end(admin: &support::Cli, id: &str) -> ExecutionView {
    for _ in 0..600 {
        let view: ExecutionView =
            serde_json::from_str(&admin.ok(&["executions", "show", id, "--json"])).unwrap();
        if view.status.is_terminal() {
            return view;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("execution {id} never ended");
}

/// The id of the execution that is not `first`, once the server lists it.
fn wait_for_second_execution(admin: &support::Cli, first: &str) -> String {
    for _ in 0..600 {
        let executions: Vec<ExecutionView> =
            serde_json::from_str(&admin.ok(&["executions", "list", "--json"])).unwrap();
        if let Some(execution) = executions.iter().find(|execution| execution.id != first) {
            return execution.id.clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the second Patch Now never appeared");
}

/// Runs `patchline patch-now ARGS --wait` while `agents` check in and
/// answer their work with `outcome`; returns the finished command's output.
fn patch_now_and_wait(
    admin: &support::Cli,
    agents: &mut [FakeAgent],
    outcome: WorkStatus,
    args: &[&str],
) -> std::process::Output {
    let mut waiting = admin
        .command()
        .arg("patch-now")
        .args(args)
        .arg("--wait")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if waiting.try_wait().unwrap().is_some() {
            return waiting.wait_with_output().unwrap();
        }
        for agent in agents.iter_mut() {
            agent.check_in(outcome);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = waiting.kill();
    panic!(
        "patch-now --wait never ended: {}",
        text(&waiting.wait_with_output().unwrap())
    );
}

#[test]
fn patch_now_waits_for_the_agents_and_exits_by_the_outcome() {
    let server = TestServer::start_with(&["--scheduler-interval", "1"]);
    let admin = server.admin();
    let secret = enrolment_secret(&admin);
    let mut agents = [
        FakeAgent::enrol(&server, &secret, "web-1"),
        FakeAgent::enrol(&server, &secret, "web-2"),
    ];
    let (first, second) = (agents[0].node_id.clone(), agents[1].node_id.clone());

    // The snapshot step runs first, then the install: both succeed.
    let output = patch_now_and_wait(
        &admin,
        &mut agents,
        WorkStatus::Success,
        &[
            "--node",
            &first,
            "--node",
            &second,
            "--max-concurrency",
            "1",
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let waited = stdout(&output);
    assert!(
        waited.contains("the snapshot step runs first (the agent's snapshot hook)"),
        "{waited}"
    );
    assert!(waited.contains("(patch-now): success"), "{waited}");
    assert!(
        waited.contains("max concurrency 1") && waited.contains("2 success"),
        "{waited}"
    );
    let executions: Vec<ExecutionView> =
        serde_json::from_str(&admin.ok(&["executions", "list", "--json"])).unwrap();
    let id = executions[0].id.clone();
    let tasks: Vec<&str> = executions[0]
        .tasks
        .iter()
        .map(|task| task.task.as_str())
        .collect();
    assert_eq!(tasks.len(), 2, "snapshot and install: {tasks:?}");
    let shown = admin.ok(&["executions", "show", &id, "--output"]);
    assert!(
        shown.contains("snapshot on web-1: Success") && shown.contains("install on web-2: Success"),
        "{shown}"
    );

    // An install that fails: the execution fails and so does the command.
    let output = patch_now_and_wait(
        &admin,
        &mut agents[..1],
        WorkStatus::Failed,
        &["--node", &first, "--waive-snapshot", "rebuilt nightly"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let waited = stdout(&output);
    assert!(waited.contains("(patch-now): failed"), "{waited}");
    assert!(waited.contains("1 failed"), "{waited}");
}

#[test]
fn an_auditor_reads_windows_but_cannot_apply_one() {
    let server = TestServer::start();
    let admin = server.admin();
    let auditor = server.user(&admin, "audrey", &["--role", "auditor"], "audit-pass-1");
    assert_eq!(auditor.ok(&["window", "list"]).trim(), "(none)");

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "window.yaml", EMPTY_WINDOW);
    let output = auditor.run(&["apply", "-f", file.to_str().unwrap(), "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    let message = stderr(&output);
    assert!(
        message.contains("cannot apply window/nowhere")
            && message.contains("permission denied")
            && message.contains("logged in as audrey with role auditor"),
        "{}",
        text(&output)
    );
    assert_eq!(admin.ok(&["window", "list"]).trim(), "(none)");
    let output = auditor.run(&["patch-now", "--node", "n1", "--waive-snapshot", "x"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        stderr(&output).contains("permission denied"),
        "{}",
        text(&output)
    );
}
