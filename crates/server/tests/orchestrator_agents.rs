//! Real agents through a scheduled window and Patch Now, on SQLite and on
//! PostgreSQL, on a simulated clock.
//!
//! A Debian root (the real dpkg/apt) and a Rocky root (the real rpm/dnf)
//! enrol with the server. At the window's opening, a pre-check command
//! runs on both, then the install task installs on each what its own
//! baseline approves: the Debian root gets its security fix and reports
//! itself compliant. Patch Now then takes the Rocky root through its
//! snapshot hook and an install of every available update (the emergency
//! baseline). The agents run each work item once and report it at their
//! next check-in; the server's view shows every invocation succeeded.
//!
//! A second scenario takes four agents through a zone-by-zone rollout
//! (disruption budget one node) whose zone b fails, across a server
//! crash: the new server (same database, same data directory) resumes the
//! window, zone a completes, the first failure in zone b stops the rest,
//! and every node ran its command at most once.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use patchline_agent::checkin::{self, AgentConfig, CheckinOutcome, EnrolSecret};
use patchline_agent::install::Hooks;
use patchline_api::checkin::WorkStatus;
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::executions::PatchNowRequest;
use patchline_api::windows::{PatchOperation, Reboot, TaskAction, TaskSpec};
use patchline_core::compliance::ComplianceStatus;
use patchline_core::orchestration::{ExecutionStatus, InvocationStatus, Limit};
use patchline_server::orchestrator::clock::ManualClock;
use patchline_server::store::Backend;
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{AptRoot, AptRootOptions, DebPackage, PackageRoot, RpmPackage};
use support::db::TestDb;
use support::orchestration::{OrchServer, at, command_task, daily_window, day_start, hosts_in, ok};
use support::roots;

fn agent_config(server: &OrchServer, state_dir: &Path, root: &Path, secret: &str) -> AgentConfig {
    let mut config = AgentConfig::new(
        server.server.base_url(),
        server.server.ca_pem.as_bytes().to_vec(),
        state_dir,
    );
    config.root = root.to_path_buf();
    config.enrol_secret = Some(EnrolSecret::new(secret));
    config.allow_commands = true;
    config.hooks = Hooks {
        snapshot: Some("touch \"$PATCHLINE_ROOT/snapshot-taken\"".into()),
        ..Hooks::default()
    };
    config.retry = checkin::RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
    };
    config
}

/// The statuses of the work an agent ran in one `run_once`, by output prefix.
fn ran(outcome: &CheckinOutcome) -> Vec<WorkStatus> {
    outcome
        .work_done
        .iter()
        .map(|result| result.status)
        .collect()
}

fn scenario(backend: Backend) {
    let dir = ok(tempfile::tempdir());
    let debian = roots::debian_with_security_fix(&dir.path().join("debian"), "deb-orch", &[]);
    let (rocky, rocky_repo) = roots::rocky_with_kit_plain(&dir.path().join("rocky"), "rocky-orch");
    let runtime = ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build());
    runtime.block_on(async {
        let db = TestDb::new(backend).await;
        let clock = ManualClock::new(day_start());
        let server = OrchServer::start(&db, &dir.path().join("server"), &clock).await;
        let secret = ok(server
            .admin
            .create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: "orch".into(),
                max_uses: Some(2),
                expires_at: None,
                tags: BTreeMap::from([("Role".to_owned(), "e2e".to_owned())]),
            })
            .await)
        .secret;
        let deb = agent_config(
            &server,
            &dir.path().join("deb-state"),
            debian.path(),
            &secret,
        );
        let rpm = agent_config(
            &server,
            &dir.path().join("rpm-state"),
            rocky.path(),
            &secret,
        );
        let (deb_first, rpm_first) = tokio::join!(
            checkin::run_once(deb.clone()),
            checkin::run_once(rpm.clone())
        );
        let (deb_first, rpm_first) = (ok(deb_first), ok(rpm_first));
        assert_eq!(
            deb_first.compliance.as_ref().map(|c| c.status),
            Some(ComplianceStatus::NonCompliant)
        );

        let all = Limit::Percent(100);
        let install = TaskSpec {
            name: "install".into(),
            priority: 1,
            action: TaskAction::Patch {
                operation: PatchOperation::Install,
                reboot: Reboot::NoReboot,
                baseline: None,
            },
            max_concurrency: all,
            max_errors: Limit::Count(0),
            timeout_seconds: Some(1800),
        };
        let mut pre = command_task("pre", 0, all, Limit::Count(0));
        pre.action = TaskAction::Command {
            command: "test -d \"$PATCHLINE_ROOT/var\" && echo pre-check passed".into(),
        };
        server
            .put_window(&daily_window("e2e", "e2e", vec![pre, install]))
            .await;

        // The opening: the pre-check runs on both nodes.
        clock.set(at("2027-01-04T02:00:00Z"));
        assert_eq!(server.tick().await.opened.len(), 1);
        let (deb_pre, rpm_pre) = tokio::join!(
            checkin::run_once(deb.clone()),
            checkin::run_once(rpm.clone())
        );
        let (deb_pre, rpm_pre) = (ok(deb_pre), ok(rpm_pre));
        for outcome in [&deb_pre, &rpm_pre] {
            assert_eq!(ran(outcome), [WorkStatus::Success], "{outcome:?}");
            assert!(outcome.work_done[0].output.contains("pre-check passed"));
        }
        // Then the install, each node with its own baseline.
        server.tick().await;
        let (deb_install, rpm_install) = tokio::join!(
            checkin::run_once(deb.clone()),
            checkin::run_once(rpm.clone())
        );
        let (deb_install, rpm_install) = (ok(deb_install), ok(rpm_install));
        assert_eq!(ran(&deb_install), [WorkStatus::Success], "{deb_install:?}");
        assert_eq!(ran(&rpm_install), [WorkStatus::Success], "{rpm_install:?}");
        assert_eq!(
            ok(debian.installed_version("kit-ssl")).as_deref(),
            Some("3.0.13-1~deb12u1")
        );
        assert_eq!(
            deb_install.compliance.as_ref().map(|c| c.status),
            Some(ComplianceStatus::Compliant),
            "the post-install check-in carries the new inventory"
        );
        server.tick().await;
        let executions = server.executions_of("e2e").await;
        assert_eq!(executions.len(), 1);
        let view = server.execution(&executions[0].id).await;
        assert_eq!(view.status, ExecutionStatus::Success, "{view:?}");
        for task in ["pre", "install"] {
            assert_eq!(
                hosts_in(&view, task, InvocationStatus::Success),
                ["deb-orch", "rocky-orch"]
            );
        }
        let deb_install_output = view.tasks[1]
            .invocations
            .iter()
            .find(|i| i.hostname == "deb-orch")
            .map(|i| i.output.clone())
            .unwrap_or_default();
        assert!(
            deb_install_output.contains("kit-ssl"),
            "{deb_install_output}"
        );

        // Patch Now on the Rocky node once a newer kit-plain is published:
        // the agent's snapshot hook first, then every update.
        let newer = ok(RpmPackage::new("kit-plain", "1.1").build(&dir.path().join("rpms-1.1")));
        let older = dir.path().join("rocky/rpms");
        let mut published: Vec<std::path::PathBuf> = ok(std::fs::read_dir(&older))
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "rpm"))
            .collect();
        published.push(newer.path.clone());
        ok(rocky_repo.publish(&published, &[]));
        let created = ok(server
            .admin
            .patch_now(&PatchNowRequest {
                nodes: vec![rpm_first.node_id.clone()],
                baseline: None,
                reboot: Reboot::NoReboot,
                snapshot_command: None,
                waive_snapshot: None,
                max_concurrency: None,
                max_errors: None,
            })
            .await);
        let snapshot = ok(checkin::run_once(rpm.clone()).await);
        assert_eq!(ran(&snapshot), [WorkStatus::Success], "{snapshot:?}");
        assert!(rocky.path().join("snapshot-taken").exists());
        assert_eq!(
            ok(rocky.installed_version("kit-plain"))
                .as_deref()
                .map(|v| v.starts_with("1.0")),
            Some(true)
        );
        clock.advance(jiff::SignedDuration::from_secs(30));
        server.tick().await;
        let patched = ok(checkin::run_once(rpm.clone()).await);
        assert_eq!(ran(&patched), [WorkStatus::Success], "{patched:?}");
        let version = ok(rocky.installed_version("kit-plain")).unwrap_or_default();
        assert!(version.starts_with("1.1"), "kit-plain {version}");
        server.tick().await;
        let view = server.execution(&created.id).await;
        assert_eq!(view.status, ExecutionStatus::Success, "{view:?}");
        // Nothing runs twice: a further check-in gets no work.
        let idle = ok(checkin::run_once(rpm).await);
        assert!(idle.work_done.is_empty() && idle.work_pending.is_empty());
        ok(server.server.stop().await);
    });
}

#[test]
fn real_agents_run_a_scheduled_window_and_patch_now_on_sqlite() {
    scenario(Backend::Sqlite);
}

#[test]
fn real_agents_run_a_scheduled_window_and_patch_now_on_postgres() {
    scenario(Backend::Postgres);
}

/// A Debian root with only dpkg installed, no repositories: enough to scan
/// and to run commands.
fn bare_debian(dir: &Path, hostname: &str, dpkg: &Path) -> AptRoot {
    let root = ok(AptRoot::create(
        dir.join(hostname),
        &AptRootOptions {
            hostname: Some(hostname.into()),
            ..AptRootOptions::default()
        },
    ));
    ok(root.install_files(&[dpkg]));
    root
}

fn ha_scenario(backend: Backend) {
    let dir = ok(tempfile::tempdir());
    let arch = ok(native_architecture());
    let dpkg = ok(DebPackage::new("dpkg", "1.21.22")
        .arch(arch.as_str())
        .multi_arch("same")
        .build(&dir.path().join("tools")));
    let zones = [
        ("ha-a1", "a"),
        ("ha-a2", "a"),
        ("ha-b1", "b"),
        ("ha-b2", "b"),
    ];
    let roots: Vec<AptRoot> = zones
        .iter()
        .map(|(host, _)| bare_debian(&dir.path().join("roots"), host, &dpkg.path))
        .collect();
    // Zone b's nodes fail their check.
    for root in &roots[2..] {
        ok(std::fs::write(root.path().join("broken"), "yes"));
    }
    let runtime = ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build());
    runtime.block_on(async {
        let db = TestDb::new(backend).await;
        let clock = ManualClock::new(day_start());
        let data_dir = dir.path().join("server");
        let first = OrchServer::start(&db, &data_dir, &clock).await;
        let secret = ok(first
            .admin
            .create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: "ha".into(),
                max_uses: Some(4),
                expires_at: None,
                tags: BTreeMap::from([("Role".to_owned(), "ha".to_owned())]),
            })
            .await)
        .secret;
        let configs: Vec<AgentConfig> = zones
            .iter()
            .zip(&roots)
            .map(|((host, zone), root)| {
                let mut config = agent_config(
                    &first,
                    &dir.path().join(format!("{host}-state")),
                    root.path(),
                    &secret,
                );
                config.tags = BTreeMap::from([("Zone".to_owned(), (*zone).to_owned())]);
                config
            })
            .collect();
        for config in &configs {
            ok(checkin::run_once(config.clone()).await);
        }
        let mut check = command_task("check", 0, Limit::Percent(100), Limit::Count(0));
        check.action = TaskAction::Command {
            command: "echo run >> \"$PATCHLINE_ROOT/runs\"; test ! -e \"$PATCHLINE_ROOT/broken\""
                .into(),
        };
        let mut window = daily_window("ha", "ha", vec![check]);
        window.rollout = Some(patchline_core::orchestration::ZoneRollout {
            zone_tag: "Zone".into(),
            disruption_budget: Limit::Count(1),
        });
        first.put_window(&window).await;
        // Agents' credentials name the server's URL: the new server comes
        // back on the same address (and data directory, so certificate).
        let address = first.server.addr;

        // The opening queues one zone-a node; the server dies before any
        // agent checks in.
        clock.set(at("2027-01-04T02:00:00Z"));
        assert_eq!(first.tick().await.opened.len(), 1);
        first.server.abort().await;
        let second =
            OrchServer::start_with(&db, &data_dir, &clock, |config| config.listen = address).await;

        // Rounds on the new server: every agent checks in (running what
        // it gets), then a scheduling round a minute later (past the dead
        // server's lease).
        let mut ran_per_round = Vec::new();
        for _ in 0..12 {
            let mut ran = Vec::new();
            for (config, (host, _)) in configs.iter().zip(&zones) {
                let outcome = ok(checkin::run_once(config.clone()).await);
                for result in &outcome.work_done {
                    ran.push((host.to_string(), result.status));
                }
            }
            ran_per_round.push(ran);
            clock.advance(jiff::SignedDuration::from_secs(60));
            second.tick().await;
            if second.executions_of("ha").await[0].status.is_terminal() {
                break;
            }
        }
        // At most one node at a time, zone a before zone b.
        let order: Vec<(String, WorkStatus)> = ran_per_round.iter().flatten().cloned().collect();
        assert!(
            ran_per_round.iter().all(|ran| ran.len() <= 1),
            "{ran_per_round:?}"
        );
        assert_eq!(order.len(), 3, "{order:?}");
        let mut zone_a: Vec<&str> = order[..2].iter().map(|(host, _)| host.as_str()).collect();
        zone_a.sort();
        assert_eq!(zone_a, ["ha-a1", "ha-a2"]);
        assert!(
            order[..2]
                .iter()
                .all(|(_, status)| *status == WorkStatus::Success)
        );
        assert!(
            order[2].0.starts_with("ha-b") && order[2].1 == WorkStatus::Failed,
            "{order:?}"
        );

        let executions = second.executions_of("ha").await;
        assert_eq!(
            executions.len(),
            1,
            "the new server did not open the window again"
        );
        let view = second.execution(&executions[0].id).await;
        assert_eq!(view.status, ExecutionStatus::Failed);
        let counts = view.tasks[0].counts;
        assert_eq!(
            (counts.success, counts.failed, counts.not_started),
            (2, 1, 1)
        );
        // Each node ran the command at most once.
        for root in &roots {
            let runs = std::fs::read_to_string(root.path().join("runs")).unwrap_or_default();
            assert!(
                runs.lines().count() <= 1,
                "{}: {runs:?}",
                root.path().display()
            );
        }
        let total: usize = roots
            .iter()
            .map(|root| {
                std::fs::read_to_string(root.path().join("runs"))
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum();
        assert_eq!(total, 3);
        ok(second.server.stop().await);
    });
}

#[test]
fn real_agents_roll_out_zone_by_zone_across_a_server_crash_on_sqlite() {
    ha_scenario(Backend::Sqlite);
}

#[test]
fn real_agents_roll_out_zone_by_zone_across_a_server_crash_on_postgres() {
    ha_scenario(Backend::Postgres);
}
