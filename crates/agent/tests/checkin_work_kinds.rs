//! The work kinds of server mode on real node roots: install (through the
//! real apt-get and dpkg of a testkit root), commands, snapshots, the
//! refusals of a scan-only agent and of one without `--allow-commands`,
//! and the work journal that runs each id at most once, across restarts.

use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use patchline_agent::NodeRoot;
use patchline_agent::checkin::journal::{INTERRUPTED_OUTPUT, JOURNAL_FILE, WorkJournal};
use patchline_agent::checkin::work::run_work;
use patchline_agent::checkin::{
    self, AgentConfig, EnrolSecret, StateDir, WorkRunner, WorkSettings, snapshot_with_failures,
};
use patchline_agent::install::Hooks;
use patchline_api::checkin::{Work, WorkResult, WorkStatus};
use patchline_api::windows::Reboot;
use patchline_core::baseline::Baseline;
use patchline_core::package::PackageRef;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, BuiltDeb, DebPackage, PackageRoot,
};

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

/// The error's text, panicking on success.
fn ok_err<T, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

fn at(instant: &str) -> Timestamp {
    ok(instant.parse())
}

/// Security updates approved at once; everything else left alone.
const SECURITY_NOW: &str = "name: security-now\nos-family: debian\napproval-rules:\n  - filters:\n      classification: [security]\n    approve-after-days: 0\n    compliance-level: critical\n";

fn pkg(name: &str, version: &str) -> DebPackage {
    DebPackage::new(name, version)
}

fn build(dir: &Path, sub: &str, packages: &[DebPackage]) -> Vec<BuiltDeb> {
    packages
        .iter()
        .map(|package| ok(package.build(&dir.join(sub))))
        .collect()
}

/// A Debian testkit root with `installed` installed from a `stable` suite,
/// then `security` published in a security pocket and `updates` in the
/// main suite. The node's lists are left stale: install work refreshes.
struct Node {
    dir: tempfile::TempDir,
    root: AptRoot,
}

impl Node {
    fn new(installed: &[DebPackage], security: &[DebPackage], updates: &[DebPackage]) -> Node {
        let dir = ok(tempfile::tempdir());
        let v1 = build(dir.path(), "v1", installed);
        let mut repo = ok(AptRepository::new(dir.path().join("repo")));
        let stable = AptSuite::new("stable")
            .with_date(at("2024-01-10T10:00:00Z"))
            .with_packages(&v1);
        ok(repo.publish(std::slice::from_ref(&stable)));
        let root = ok(AptRoot::create(
            dir.path().join("node"),
            &AptRootOptions {
                sources: repo.sources(),
                ..AptRootOptions::default()
            },
        ));
        ok(root.refresh());
        let names: Vec<&str> = v1.iter().map(|deb| deb.name.as_str()).collect();
        ok(root.install(&names));
        let security = build(dir.path(), "security", security);
        let updates = build(dir.path(), "updates", updates);
        ok(repo.publish(&[
            stable.with_packages(&updates),
            AptSuite::security("stable-security")
                .with_date(at("2024-02-01T10:00:00Z"))
                .with_packages(&security),
        ]));
        ok(root.set_sources(&repo.sources()));
        Node { dir, root }
    }

    fn node_root(&self) -> NodeRoot {
        NodeRoot::new(self.root.path())
    }

    fn version(&self, name: &str) -> Option<String> {
        ok(self.root.installed_version(name))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn install_work(id: &str) -> Work {
    Work::Install {
        id: id.into(),
        baseline: ok(Baseline::from_yaml(SECURITY_NOW)),
        evaluate_at: at("2024-02-20T00:00:00Z"),
        reboot: Reboot::NoReboot,
        timeout_seconds: 600,
    }
}

fn command(id: &str, command: &str, timeout_seconds: u32) -> Work {
    Work::Command {
        id: id.into(),
        command: command.into(),
        timeout_seconds,
    }
}

fn snapshot_work(id: &str, command: Option<&str>) -> Work {
    Work::Snapshot {
        id: id.into(),
        command: command.map(str::to_owned),
        timeout_seconds: 60,
    }
}

fn allowing_commands() -> WorkSettings {
    WorkSettings {
        allow_commands: true,
        ..WorkSettings::default()
    }
}

fn assert_status(result: &WorkResult, status: WorkStatus) {
    assert_eq!(result.status, status, "{}", result.output);
}

#[test]
fn install_work_installs_exactly_the_approved_version_and_the_rescan_shows_it() {
    let node = Node::new(
        &[pkg("kit-ssl", "1.0-1"), pkg("kit-editor", "1.0-1")],
        &[pkg("kit-ssl", "1.0-2")],
        &[pkg("kit-ssl", "1.0-3"), pkg("kit-editor", "1.0-2")],
    );
    let (pre, post, snap) = (node.path("pre"), node.path("post"), node.path("snap"));
    let settings = WorkSettings {
        hooks: Hooks {
            snapshot: Some(format!("touch {}", snap.display())),
            pre_patch: Some(format!("echo \"$PATCHLINE_PHASE\" > {}", pre.display())),
            post_patch: Some(format!("echo \"$PATCHLINE_PHASE\" > {}", post.display())),
            reboot: None,
        },
        ..WorkSettings::default()
    };
    let state = StateDir::new(node.path("state"));
    let mut runner = ok(WorkRunner::open(&state, node.node_root(), settings));
    let results = runner.run(&[install_work("inst-1")]);

    assert_eq!(results.len(), 1);
    assert_status(&results[0], WorkStatus::Success);
    assert_eq!(results[0].id, "inst-1");
    assert!(
        results[0].output.contains("kit-ssl"),
        "{}",
        results[0].output
    );
    assert!(
        results[0].output.contains("COMPLIANT"),
        "{}",
        results[0].output
    );
    // 1.0-2 is the approved security fix; 1.0-3 and the editor's update
    // are newer but not approved.
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-2"));
    assert_eq!(node.version("kit-editor").as_deref(), Some("1.0-1"));
    assert_eq!(ok(fs::read_to_string(&pre)).trim(), "pre-patch");
    assert_eq!(ok(fs::read_to_string(&post)).trim(), "post-patch");
    assert!(!snap.exists(), "snapshots are their own work item");
    assert!(runner.install_failures().is_empty());

    // The check-in after the work scans again: it carries the new version.
    let scanned = ok(snapshot_with_failures(
        &node.node_root(),
        runner.install_failures(),
    ));
    let ssl = scanned
        .inventory
        .installed
        .iter()
        .find(|p| p.name == "kit-ssl")
        .map(|p| p.version.as_str());
    assert_eq!(ssl, Some("1.0-2"));
    assert!(scanned.inventory.failed.is_empty());
    assert!(scanned.facts.addresses.is_empty(), "not the live host");
}

#[test]
fn install_work_with_a_failing_package_fails_naming_it_and_marks_it_failed() {
    let node = Node::new(
        &[pkg("kit-ssl", "1.0-1"), pkg("kit-bad", "1.0-1")],
        &[
            pkg("kit-ssl", "1.0-2"),
            pkg("kit-bad", "1.0-2").postinst("echo broken >&2; exit 1"),
        ],
        &[],
    );
    let state = StateDir::new(node.path("state"));
    let mut runner = ok(WorkRunner::open(
        &state,
        node.node_root(),
        WorkSettings::default(),
    ));
    let results = runner.run(&[install_work("inst-bad")]);

    assert_status(&results[0], WorkStatus::Failed);
    assert!(
        results[0].output.contains("failed: kit-bad"),
        "{}",
        results[0].output
    );
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-2"));
    let marked: Vec<&str> = runner
        .install_failures()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(marked, ["kit-bad"]);
    let failed: Vec<PackageRef> = ok(snapshot_with_failures(
        &node.node_root(),
        runner.install_failures(),
    ))
    .inventory
    .failed;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "kit-bad");
    assert_eq!(failed[0].version.as_deref(), Some("1.0-2"));
    // The marks survive a restart of the agent.
    let marks = runner.install_failures().to_vec();
    drop(runner);
    let reopened = ok(WorkRunner::open(
        &state,
        node.node_root(),
        WorkSettings::default(),
    ));
    assert_eq!(reopened.install_failures(), marks);
}

#[test]
fn install_work_on_an_unreadable_root_fails_with_the_reason() {
    let dir = ok(tempfile::tempdir());
    let result = run_work(
        &NodeRoot::new(dir.path()),
        &install_work("inst-none"),
        &WorkSettings::default(),
    );
    assert_status(&result, WorkStatus::Failed);
    assert!(result.output.contains("os-release"), "{}", result.output);
}

#[test]
fn commands_succeed_fail_time_out_and_need_allow_commands() {
    let dir = ok(tempfile::tempdir());
    let root = NodeRoot::new(dir.path());
    let marker = dir.path().join("ran");
    let touch = format!("touch {}; echo done", marker.display());

    let refused = run_work(&root, &command("c0", &touch, 30), &WorkSettings::default());
    assert_status(&refused, WorkStatus::Failed);
    assert!(
        refused.output.contains("--allow-commands"),
        "{}",
        refused.output
    );
    assert!(!marker.exists(), "a refused command never runs");

    let done = run_work(&root, &command("c1", &touch, 30), &allowing_commands());
    assert_status(&done, WorkStatus::Success);
    assert!(marker.exists());
    assert_eq!(done.output, "done\nexit code 0");

    let failed = run_work(
        &root,
        &command("c2", "echo half-way; exit 7", 30),
        &allowing_commands(),
    );
    assert_status(&failed, WorkStatus::Failed);
    assert!(failed.output.contains("half-way"), "{}", failed.output);
    assert!(failed.output.ends_with("exit code 7"), "{}", failed.output);

    // The shell's background child is in its process group: killed too.
    let pid_file = dir.path().join("pid");
    let hang = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let timed_out = run_work(&root, &command("c3", &hang, 1), &allowing_commands());
    assert_status(&timed_out, WorkStatus::TimedOut);
    assert!(
        timed_out.output.contains("timed out after 1 s"),
        "{}",
        timed_out.output
    );
    let pid = ok(fs::read_to_string(&pid_file)).trim().to_owned();
    assert!(!alive(&pid), "the background sleep {pid} survived");
}

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn alive(pid: &str) -> bool {
    // Bounded wait: the kill is sent before the runner returns, but the
    // orphan is reaped by init in its own time.
    for _ in 0..200 {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return false,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return false;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    true
}

#[test]
fn snapshot_work_runs_the_hook_or_the_allowed_command_and_fails_without_either() {
    let dir = ok(tempfile::tempdir());
    let root = NodeRoot::new(dir.path());
    let hook_marker = dir.path().join("hook");
    let command_marker = dir.path().join("command");
    let with_hook = |allow_commands| WorkSettings {
        allow_commands,
        hooks: Hooks {
            snapshot: Some(format!(
                "echo \"$PATCHLINE_PHASE $PATCHLINE_ROOT\" > {}",
                hook_marker.display()
            )),
            ..Hooks::default()
        },
        ..WorkSettings::default()
    };

    let hooked = run_work(&root, &snapshot_work("s1", None), &with_hook(false));
    assert_status(&hooked, WorkStatus::Success);
    assert_eq!(
        ok(fs::read_to_string(&hook_marker)).trim(),
        format!("snapshot {}", dir.path().display())
    );

    let none = run_work(&root, &snapshot_work("s2", None), &WorkSettings::default());
    assert_status(&none, WorkStatus::Failed);
    assert!(none.output.contains("--snapshot-hook"), "{}", none.output);

    let own = format!("touch {}", command_marker.display());
    let refused = run_work(&root, &snapshot_work("s3", Some(&own)), &with_hook(false));
    assert_status(&refused, WorkStatus::Failed);
    assert!(
        refused.output.contains("--allow-commands"),
        "{}",
        refused.output
    );
    assert!(!command_marker.exists());

    ok(fs::remove_file(&hook_marker));
    let commanded = run_work(&root, &snapshot_work("s4", Some(&own)), &with_hook(true));
    assert_status(&commanded, WorkStatus::Success);
    assert!(command_marker.exists());
    assert!(
        !hook_marker.exists(),
        "the task's own command replaces the hook"
    );

    let failing = run_work(
        &root,
        &snapshot_work("s5", Some("echo disk full >&2; exit 1")),
        &allowing_commands(),
    );
    assert_status(&failing, WorkStatus::Failed);
    assert!(failing.output.contains("disk full"), "{}", failing.output);
}

#[test]
fn a_scan_only_agent_refuses_install_command_and_snapshot_work() {
    let node = Node::new(&[pkg("kit-ssl", "1.0-1")], &[pkg("kit-ssl", "1.0-2")], &[]);
    let marker = node.path("ran");
    let settings = WorkSettings {
        scan_only: true,
        allow_commands: true,
        hooks: Hooks {
            snapshot: Some(format!("touch {}", marker.display())),
            ..Hooks::default()
        },
        ..WorkSettings::default()
    };
    for work in [
        install_work("i"),
        command("c", &format!("touch {}", marker.display()), 30),
        snapshot_work("s", None),
    ] {
        let result = run_work(&node.node_root(), &work, &settings);
        assert_status(&result, WorkStatus::Failed);
        assert!(
            result.output.contains("this agent runs scan-only"),
            "{}",
            result.output
        );
    }
    assert!(!marker.exists());
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-1"));
    let scan = Work::Scan {
        id: "scan".into(),
        refresh: false,
    };
    assert_status(
        &run_work(&node.node_root(), &scan, &settings),
        WorkStatus::Success,
    );
}

/// A command appending a line to `count` each time it runs.
fn counting(dir: &Path, id: &str) -> Work {
    command(
        id,
        &format!("echo {id} >> {}", dir.join("count").display()),
        30,
    )
}

fn runs(dir: &Path) -> usize {
    fs::read_to_string(dir.join("count")).map_or(0, |text| text.lines().count())
}

#[test]
fn the_same_work_id_runs_once_even_across_restarts() {
    let dir = ok(tempfile::tempdir());
    let state = StateDir::new(dir.path().join("state"));
    let root = NodeRoot::new(dir.path());
    let mut runner = ok(WorkRunner::open(&state, root.clone(), allowing_commands()));
    let first = runner.run(&[counting(dir.path(), "w1")]);
    assert_status(&first[0], WorkStatus::Success);
    let again = runner.run(&[counting(dir.path(), "w1"), counting(dir.path(), "w2")]);
    assert_eq!(runs(dir.path()), 2, "w1 once, w2 once");
    assert_eq!(again[0], first[0], "the stored result is reported again");
    assert_eq!(runner.unreported().len(), 2);

    // While this agent runs, no other process may use its state directory.
    let error = ok_err(WorkRunner::open(&state, root.clone(), allowing_commands()));
    assert!(error.contains("another patchline-agent"), "{error}");

    // A new agent process: the results not yet accepted are still there,
    // and the ids still do not run again.
    drop(runner);
    let mut restarted = ok(WorkRunner::open(&state, root.clone(), allowing_commands()));
    let pending: Vec<String> = restarted.unreported().into_iter().map(|r| r.id).collect();
    assert_eq!(pending, ["w1", "w2"]);
    restarted.run(&[counting(dir.path(), "w2")]);
    assert_eq!(runs(dir.path()), 2);

    // Accepted by the server: no longer sent, still never run again, and
    // reported again if the server hands the id out once more.
    ok(restarted.accepted(&pending));
    assert!(restarted.unreported().is_empty());
    drop(restarted);
    let mut after = ok(WorkRunner::open(&state, root, allowing_commands()));
    assert!(after.unreported().is_empty());
    let redelivered = after.run(&[counting(dir.path(), "w1")]);
    assert_eq!(runs(dir.path()), 2);
    assert_status(&redelivered[0], WorkStatus::Success);
    assert_eq!(after.unreported().len(), 1);
}

#[test]
fn work_started_by_an_agent_killed_mid_run_is_reported_interrupted_not_rerun() {
    let dir = ok(tempfile::tempdir());
    let state = StateDir::new(dir.path().join("state"));
    let root = NodeRoot::new(dir.path());
    // What an agent killed while running `w-killed` leaves behind: the id
    // recorded as started, no result.
    let killed = counting(dir.path(), "w-killed");
    let mut journal = ok(WorkJournal::load(&state));
    ok(journal.begin(&killed, Timestamp::now()));
    drop(journal);

    let mut runner = ok(WorkRunner::open(&state, root, allowing_commands()));
    let pending = runner.unreported();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "w-killed");
    assert_eq!(pending[0].status, WorkStatus::Failed);
    assert_eq!(pending[0].output, INTERRUPTED_OUTPUT);
    let redelivered = runner.run(&[killed]);
    assert_eq!(redelivered, pending);
    assert_eq!(runs(dir.path()), 0, "never run again");
    assert!(state.path().join(JOURNAL_FILE).exists());
}

#[test]
fn an_unwritable_journal_means_the_work_does_not_run() {
    let dir = ok(tempfile::tempdir());
    // A directory squats the journal's temporary file: no write can succeed
    // (even as root, unlike a read-only mode).
    let state_path = dir.path().join("state");
    let temporary = format!(".{JOURNAL_FILE}.{}.tmp", std::process::id());
    ok(fs::create_dir_all(state_path.join(temporary).join("squat")));
    let mut runner = ok(WorkRunner::open(
        &StateDir::new(&state_path),
        NodeRoot::new(dir.path()),
        allowing_commands(),
    ));
    let results = runner.run(&[counting(dir.path(), "w1")]);
    assert_status(&results[0], WorkStatus::Failed);
    assert!(
        results[0].output.contains("journal"),
        "{}",
        results[0].output
    );
    assert_eq!(runs(dir.path()), 0);
    assert_eq!(runner.unreported(), results, "reported from memory");
}

/// The agent's own check-in loop refuses to start on a journal it cannot
/// trust, or while another agent process uses the state directory, before
/// contacting any server.
#[test]
fn server_mode_stops_on_a_corrupt_journal_or_a_state_directory_in_use() {
    let dir = ok(tempfile::tempdir());
    let state_path = dir.path().join("state");
    ok(fs::create_dir(&state_path));
    let config = || {
        let mut config = AgentConfig::new(
            "https://127.0.0.1:9",
            include_bytes!("data/self-signed.pem").to_vec(),
            &state_path,
        );
        config.enrol_secret = Some(EnrolSecret::new("ple_unused"));
        config.root = dir.path().to_path_buf();
        config
    };
    let runtime = ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build());

    let held = ok(StateDir::new(&state_path).lock());
    let error = ok_err(runtime.block_on(checkin::run_once(config())));
    assert!(error.contains("another patchline-agent"), "{error}");
    drop(held);

    let journal = state_path.join(JOURNAL_FILE);
    ok(fs::write(&journal, b"{\"entries\": [{\"id\": "));
    let error = ok_err(runtime.block_on(checkin::run_once(config())));
    assert!(error.contains("work-journal.json"), "{error}");
    assert!(error.contains("run a second time"), "{error}");
    assert_eq!(ok(fs::read(&journal)), b"{\"entries\": [{\"id\": ");
}
