//! The install flow on testkit apt roots, driven through the real
//! apt-get, apt-mark and dpkg: exact approved versions, held rejected
//! packages, override lists, per-package failures, repair of an interrupted
//! run, hooks that abort, the reboot decision, and broken inputs that change
//! nothing.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;
use patchline_agent::NodeRoot;
use patchline_agent::driver::TargetOutcome;
use patchline_agent::install::{
    self, Hooks, InstallError, InstallOptions, InstallReport, Phase, RebootOption, RebootOutcome,
    install, parse_override_list,
};
use patchline_core::baseline::Baseline;
use patchline_core::compliance::{ComplianceStatus, PackageState};
use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, BuiltDeb, DebPackage, HostSnapshot,
    PackageRoot,
};

/// Unwraps with the error's `Display`: harness errors carry the failing
/// command's whole output.
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

const NOW: &str = "2024-02-20T00:00:00Z";

/// A node with every `v1` package installed from a `stable` suite, and the
/// repository it came from.
struct Node {
    dir: tempfile::TempDir,
    repo: AptRepository,
    root: AptRoot,
    stable: AptSuite,
}

impl Node {
    fn new(v1: &[DebPackage]) -> Node {
        let dir = ok(tempfile::tempdir());
        let built = build(dir.path(), "v1", v1);
        let mut repo = ok(AptRepository::new(dir.path().join("repo")));
        let stable = AptSuite::new("stable")
            .with_date(at("2024-01-10T10:00:00Z"))
            .with_packages(&built);
        ok(repo.publish(std::slice::from_ref(&stable)));
        let root = ok(AptRoot::create(
            dir.path().join("node"),
            &AptRootOptions {
                sources: repo.sources(),
                ..AptRootOptions::default()
            },
        ));
        ok(root.refresh());
        let names: Vec<&str> = built.iter().map(|deb| deb.name.as_str()).collect();
        ok(root.install(&names));
        Node {
            dir,
            repo,
            root,
            stable,
        }
    }

    /// Publishes `security` in a security pocket and `updates` (newer,
    /// non-security) in the main suite, then refreshes the node's lists.
    fn publish(&mut self, security: &[DebPackage], updates: &[DebPackage]) {
        let security = build(self.dir.path(), "security", security);
        let updates = build(self.dir.path(), "updates", updates);
        let stable = self.stable.clone().with_packages(&updates);
        ok(self.repo.publish(&[
            stable,
            AptSuite::security("stable-security")
                .with_date(at("2024-02-01T10:00:00Z"))
                .with_packages(&security),
        ]));
        ok(self.root.set_sources(&self.repo.sources()));
        ok(self.root.refresh());
    }

    /// Publishes a security fix without refreshing the node.
    fn publish_security_only(&mut self, security: &[DebPackage]) {
        let security = build(self.dir.path(), "security", security);
        ok(self.repo.publish(&[
            self.stable.clone(),
            AptSuite::security("stable-security")
                .with_date(at("2024-02-01T10:00:00Z"))
                .with_packages(&security),
        ]));
        ok(self.root.set_sources(&self.repo.sources()));
    }

    fn node_root(&self) -> NodeRoot {
        NodeRoot::new(self.root.path())
    }

    fn install(&self, options: &InstallOptions) -> InstallReport {
        ok(install(&self.node_root(), options))
    }

    fn version(&self, name: &str) -> Option<String> {
        ok(self.root.installed_version(name))
    }

    fn dpkg_status(&self) -> Vec<u8> {
        ok(std::fs::read(self.root.path().join("var/lib/dpkg/status")))
    }

    /// A path outside the root for hooks to leave markers in.
    fn marker(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn build(dir: &Path, sub: &str, packages: &[DebPackage]) -> Vec<BuiltDeb> {
    packages
        .iter()
        .map(|package| ok(package.build(&dir.join(sub))))
        .collect()
}

fn options() -> InstallOptions {
    InstallOptions {
        now: at(NOW),
        ..InstallOptions::default()
    }
}

fn outcome<'a>(report: &'a InstallReport, name: &str) -> &'a TargetOutcome {
    &report
        .packages
        .iter()
        .find(|p| p.result.target.name == name)
        .unwrap_or_else(|| panic!("no result for {name}: {:#?}", report.packages))
        .result
        .outcome
}

fn state(report: &InstallReport, name: &str) -> PackageState {
    report
        .compliance
        .packages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} not evaluated"))
        .state
}

fn pkg(name: &str, version: &str) -> DebPackage {
    DebPackage::new(name, version)
}

#[test]
fn installs_exactly_the_approved_security_version_and_runs_post_patch() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1"), pkg("kit-editor", "1.0-1")]);
    // 1.0-2 is the security fix; 1.0-3 and the editor's 1.0-2 are newer but
    // not approved by the default (security-only) baseline.
    node.publish(
        &[pkg("kit-ssl", "1.0-2")],
        &[pkg("kit-ssl", "1.0-3"), pkg("kit-editor", "1.0-2")],
    );
    let post = node.marker("post-patch");
    let reboot = node.marker("rebooted");
    let report = node.install(&InstallOptions {
        hooks: Hooks {
            post_patch: Some(format!(
                "echo \"$PATCHLINE_PHASE $PATCHLINE_ROOT\" > {}",
                post.display()
            )),
            reboot: Some(format!("touch {}", reboot.display())),
            ..Hooks::default()
        },
        ..options()
    });

    assert_eq!(report.packages.len(), 1, "{:#?}", report.packages);
    assert_eq!(outcome(&report, "kit-ssl"), &TargetOutcome::Installed);
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-2"));
    assert_eq!(node.version("kit-editor").as_deref(), Some("1.0-1"));
    assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
    assert_eq!(report.compliance.status, ComplianceStatus::Compliant);
    assert!(report.succeeded());
    let hook_output = ok(std::fs::read_to_string(&post));
    assert_eq!(
        hook_output.trim(),
        format!("post-patch {}", node.root.path().display())
    );
    // No marker, no reboot-suggesting target: the reboot hook must not run.
    assert_eq!(report.reboot, RebootOutcome::NotNeeded);
    assert!(!reboot.exists());
}

#[test]
fn a_rejected_block_package_is_held_and_not_upgraded() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1"), pkg("kit-editor", "1.0-1")]);
    // The ssl fix needs the rejected editor version: without the hold apt
    // would upgrade the editor as a dependency.
    node.publish(
        &[
            pkg("kit-ssl", "1.0-2").depends("kit-editor (>= 1.0-2)"),
            pkg("kit-editor", "1.0-2"),
        ],
        &[],
    );
    let baseline = ok(Baseline::from_yaml(
        "name: no-editor\nos-family: debian\napproval-rules:\n  - filters:\n      classification: [security]\n    approve-after-days: 0\n    compliance-level: critical\nrejected-patches:\n  patches: [kit-editor]\n  action: block\n",
    ));
    let report = node.install(&InstallOptions {
        baseline: Some(baseline),
        ..options()
    });

    assert_eq!(report.held, ["kit-editor"]);
    assert_eq!(node.version("kit-editor").as_deref(), Some("1.0-1"));
    assert!(
        matches!(outcome(&report, "kit-ssl"), TargetOutcome::Failed { .. }),
        "{report:#?}"
    );
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-1"));
    assert_eq!(state(&report, "kit-ssl"), PackageState::Failed);
    // The hold was the install's own: it is released afterwards.
    let mut show = ok(node.root.apt_mark());
    show.arg("showhold");
    let held = ok(show.output());
    assert_eq!(String::from_utf8_lossy(&held.stdout).trim(), "");
}

#[test]
fn an_admins_hold_survives_the_install() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1"), pkg("kit-editor", "1.0-1")]);
    node.publish(&[pkg("kit-ssl", "1.0-2"), pkg("kit-editor", "1.0-2")], &[]);
    ok(ok(node.root.apt_mark())
        .args(["hold", "kit-editor"])
        .output());
    let baseline = ok(Baseline::from_yaml(
        "name: no-editor\nos-family: debian\napproval-rules:\n  - filters:\n      classification: [security]\n    approve-after-days: 0\n    compliance-level: critical\nrejected-patches:\n  patches: [kit-editor]\n  action: block\n",
    ));
    let report = node.install(&InstallOptions {
        baseline: Some(baseline),
        ..options()
    });
    assert_eq!(outcome(&report, "kit-ssl"), &TargetOutcome::Installed);
    assert!(report.held.is_empty(), "already held: nothing to add");
    let held = ok(ok(node.root.apt_mark()).arg("showhold").output());
    assert_eq!(String::from_utf8_lossy(&held.stdout).trim(), "kit-editor");
}

#[test]
fn an_override_list_replaces_the_baseline_targets() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1"), pkg("kit-editor", "1.0-1")]);
    node.publish(
        &[pkg("kit-ssl", "1.0-2")],
        &[pkg("kit-ssl", "1.0-3"), pkg("kit-editor", "1.0-2")],
    );
    let overrides = ok(parse_override_list(
        "# change 42\nkit-editor=1.0-2\nkit-ghost=2.0\n",
    ));
    let report = node.install(&InstallOptions {
        override_list: Some(overrides),
        ..options()
    });
    assert_eq!(outcome(&report, "kit-editor"), &TargetOutcome::Installed);
    assert!(matches!(
        outcome(&report, "kit-ghost"),
        TargetOutcome::Skipped { .. }
    ));
    assert!(
        report
            .packages
            .iter()
            .all(|p| p.result.target.name != "kit-ssl")
    );
    assert_eq!(node.version("kit-editor").as_deref(), Some("1.0-2"));
    // The baseline's own target was replaced, so it is still missing.
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-1"));
    assert_eq!(state(&report, "kit-ssl"), PackageState::Missing);
}

#[test]
fn a_failing_postinst_marks_exactly_that_package_failed() {
    let mut node = Node::new(&[
        pkg("kit-ssl", "1.0-1"),
        pkg("kit-bad", "1.0-1"),
        pkg("kit-zlib", "1.0-1"),
    ]);
    node.publish(
        &[
            pkg("kit-ssl", "1.0-2"),
            pkg("kit-bad", "1.0-2").postinst("echo broken >&2; exit 1"),
            pkg("kit-zlib", "1.0-2"),
        ],
        &[],
    );
    let report = node.install(&options());

    assert_eq!(outcome(&report, "kit-ssl"), &TargetOutcome::Installed);
    assert_eq!(outcome(&report, "kit-zlib"), &TargetOutcome::Installed);
    assert!(
        matches!(outcome(&report, "kit-bad"), TargetOutcome::Failed { .. }),
        "{report:#?}"
    );
    assert_eq!(state(&report, "kit-bad"), PackageState::Failed);
    assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
    assert_eq!(state(&report, "kit-zlib"), PackageState::Installed);
    assert_eq!(report.compliance.status, ComplianceStatus::NonCompliant);
    // dpkg --configure -a ran after the failed call, and says what is left.
    assert!(!report.repairs.is_empty());
    assert!(
        report.repairs.iter().any(|r| r
            .still_interrupted
            .iter()
            .any(|p| p.starts_with("kit-bad:"))),
        "{:#?}",
        report.repairs
    );
    assert!(!report.succeeded());
}

#[test]
fn an_interrupted_install_is_detected_repaired_and_reported() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    let fixed = build(node.dir.path(), "security", &[pkg("kit-ssl", "1.0-2")]);
    node.publish(&[pkg("kit-ssl", "1.0-2")], &[]);
    // An install killed between unpack and configure leaves this state.
    let mut unpack = ok(node.root.dpkg());
    unpack.arg("--unpack").arg(&fixed[0].path);
    let unpacked = ok(unpack.output());
    assert!(unpacked.status.success(), "{unpacked:?}");
    let left = ok(node.root.installed());
    assert!(
        left.iter()
            .any(|p| p.name == "kit-ssl" && p.state == "unpacked"),
        "{left:?}"
    );

    let report = node.install(&options());
    assert_eq!(report.interrupted.len(), 1, "{report:#?}");
    assert_eq!(report.interrupted[0].name, "kit-ssl");
    assert_eq!(report.interrupted[0].state, "unpacked");
    let repair = report.repair.as_ref().expect("a repair ran");
    assert!(repair.succeeded(), "{repair:#?}");
    assert_eq!(
        repair.command.command[1..].last().map(String::as_str),
        Some("-a")
    );
    assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
    assert!(
        report.packages.is_empty(),
        "the repair completed the install"
    );
    assert!(report.succeeded());
}

#[test]
fn an_install_killed_during_dpkg_is_repaired_on_the_next_run() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    // The postinst hangs while the root has /slow: the install is killed
    // there, as a reboot or an OOM kill would stop it.
    node.publish(
        &[pkg("kit-ssl", "1.0-2").postinst("if [ -e /slow ]; then sleep 600; fi")],
        &[],
    );
    let slow = node.root.path().join("slow");
    ok(std::fs::write(&slow, b""));
    let mut apt_get = ok(node.root.apt_get());
    apt_get
        .args(["install", "-y", "kit-ssl=1.0-2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = ok(apt_get.spawn());
    // Wait (bounded, so a broken setup fails instead of hanging) until
    // dpkg is inside the postinst, then kill apt-get, dpkg and the script.
    let mut configuring = false;
    for _ in 0..2400 {
        // dpkg-query: dpkg keeps this state change in its journal.
        let packages = ok(node.root.installed());
        if packages
            .iter()
            .any(|p| p.name == "kit-ssl" && p.state == "half-configured")
        {
            configuring = true;
            break;
        }
        assert!(ok(child.try_wait()).is_none(), "apt-get ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = ok(Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status());
    assert!(killed.success());
    ok(child.wait());
    assert!(configuring, "dpkg never reached the postinst");
    ok(std::fs::remove_file(&slow));

    let report = node.install(&options());
    assert_eq!(report.interrupted.len(), 1, "{report:#?}");
    assert_eq!(report.interrupted[0].name, "kit-ssl");
    assert_eq!(report.interrupted[0].state, "half-configured");
    let repair = report.repair.as_ref().expect("a repair ran");
    assert!(repair.succeeded(), "{repair:#?}");
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-2"));
    assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
    assert!(report.succeeded());
    assert!(install::render(&report).contains("repaired"));
}

#[test]
fn an_rpm_family_root_without_an_rpm_database_is_a_clear_error() {
    let dir = ok(tempfile::tempdir());
    ok(std::fs::create_dir_all(dir.path().join("etc")));
    ok(std::fs::write(
        dir.path().join("etc/os-release"),
        "ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n",
    ));
    // The dnf driver is chosen for the family and finds no database.
    let error = install(&NodeRoot::new(dir.path()), &options()).unwrap_err();
    assert!(matches!(error, InstallError::Driver(_)), "{error:?}");
    assert!(error.to_string().contains("no rpm database"), "{error}");
}

#[test]
fn a_failing_snapshot_aborts_with_nothing_installed() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    node.publish(&[pkg("kit-ssl", "1.0-2")], &[]);
    let before = node.dpkg_status();
    let pre = node.marker("pre-patch");
    let report = node.install(&InstallOptions {
        hooks: Hooks {
            snapshot: Some("echo 'no space left' >&2; exit 3".to_owned()),
            pre_patch: Some(format!("touch {}", pre.display())),
            ..Hooks::default()
        },
        ..options()
    });
    let abort = report.aborted.as_ref().expect("aborted");
    assert_eq!(abort.phase, Phase::Snapshot);
    assert!(abort.reason.contains("no space left"), "{}", abort.reason);
    assert_eq!(node.dpkg_status(), before);
    assert!(!pre.exists(), "nothing runs after a failed snapshot");
    assert!(report.packages.is_empty());
    assert!(!report.succeeded());
}

#[test]
fn a_successful_snapshot_runs_first_and_a_failing_pre_patch_aborts() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    node.publish(&[pkg("kit-ssl", "1.0-2")], &[]);
    let before = node.dpkg_status();
    let backup = node.marker("backup.tar");
    let report = node.install(&InstallOptions {
        hooks: Hooks {
            snapshot: Some(format!(
                "tar -cf {} -C \"$PATCHLINE_ROOT\" var/lib/dpkg",
                backup.display()
            )),
            pre_patch: Some("exit 7".to_owned()),
            ..Hooks::default()
        },
        ..options()
    });
    assert!(backup.exists());
    let abort = report.aborted.as_ref().expect("aborted");
    assert_eq!(abort.phase, Phase::PrePatch);
    assert!(abort.reason.contains("exit code 7"), "{}", abort.reason);
    assert_eq!(node.dpkg_status(), before);
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-1"));
}

#[test]
fn the_reboot_command_runs_exactly_when_a_reboot_is_needed() {
    for reboot in [RebootOption::RebootIfNeeded, RebootOption::NoReboot] {
        let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
        // The fixed package asks for a reboot, as Debian's kernel and libc do.
        node.publish(
            &[pkg("kit-ssl", "1.0-2").postinst(
                "echo '*** System restart required ***' > /run/reboot-required\necho kit-ssl >> /run/reboot-required.pkgs",
            )],
            &[],
        );
        let marker = node.marker("rebooted");
        let report = node.install(&InstallOptions {
            reboot,
            hooks: Hooks {
                reboot: Some(format!("echo \"$PATCHLINE_PHASE\" > {}", marker.display())),
                ..Hooks::default()
            },
            ..options()
        });
        assert_eq!(outcome(&report, "kit-ssl"), &TargetOutcome::Installed);
        match reboot {
            RebootOption::RebootIfNeeded => {
                assert_eq!(report.reboot, RebootOutcome::Rebooted);
                assert_eq!(ok(std::fs::read_to_string(&marker)).trim(), "reboot");
                assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
            }
            RebootOption::NoReboot => {
                assert!(matches!(report.reboot, RebootOutcome::Pending { .. }));
                assert!(!marker.exists());
                assert_eq!(
                    state(&report, "kit-ssl"),
                    PackageState::InstalledPendingReboot
                );
                assert_eq!(report.compliance.status, ComplianceStatus::NonCompliant);
            }
        }
    }
}

#[test]
fn a_failing_reboot_command_leaves_the_reboot_pending() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    node.publish(&[pkg("kit-ssl", "1.0-2")], &[]);
    // The marker was already there: a reboot is needed whatever installs.
    let run = node.root.path().join("run");
    ok(std::fs::create_dir_all(&run));
    ok(std::fs::write(run.join("reboot-required"), ""));
    ok(std::fs::write(
        run.join("reboot-required.pkgs"),
        "kit-ssl\n",
    ));
    let report = node.install(&InstallOptions {
        hooks: Hooks {
            reboot: Some("echo 'reboot refused' >&2; exit 1".to_owned()),
            ..Hooks::default()
        },
        ..options()
    });
    assert_eq!(outcome(&report, "kit-ssl"), &TargetOutcome::Installed);
    match &report.reboot {
        RebootOutcome::Pending { reason } => assert!(reason.contains("reboot refused"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        state(&report, "kit-ssl"),
        PackageState::InstalledPendingReboot
    );
    assert_eq!(report.hooks.last().map(|h| h.phase), Some(Phase::Reboot));
    assert!(!report.succeeded());
}

#[test]
fn a_broken_repository_is_a_clear_error_and_changes_nothing() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    // A new Release whose Packages index does not match its hashes.
    node.publish_security_only(&[pkg("kit-ssl", "1.0-2")]);
    let lists = node.root.path().join("var/lib/apt/lists");
    let lists_before = directory_contents(&lists);
    let status_before = node.dpkg_status();
    // Corrupt the security suite's Packages indexes behind the Release file.
    let mut corrupted = 0;
    for path in files_under(&node.repo.dir().join("dists/stable-security")) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("Packages") {
            ok(std::fs::write(
                &path,
                b"Package: kit-ssl\nVersion: \x00garbage\n",
            ));
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);

    let error = install(
        &node.node_root(),
        &InstallOptions {
            refresh: Some(std::time::Duration::from_secs(300)),
            ..options()
        },
    )
    .unwrap_err();
    assert!(matches!(error, InstallError::Refresh(_)), "{error:?}");
    assert!(error.to_string().contains("apt-get"), "{error}");
    assert_eq!(node.dpkg_status(), status_before);
    // apt's download scratch (`partial/`) may keep the rejected file; the
    // lists the scan reads are untouched.
    let lists_after = directory_contents(&lists);
    assert!(
        lists_after == lists_before,
        "lists changed: {:?}",
        lists_after.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-1"));
}

#[test]
fn an_unreadable_status_file_is_a_clear_error() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1")]);
    node.publish(&[pkg("kit-ssl", "1.0-2")], &[]);
    let status = node.root.path().join("var/lib/dpkg/status");
    ok(std::fs::write(
        &status,
        "Package: kit-ssl\nStatus: install ok exploded\n",
    ));
    let error = install(&node.node_root(), &options()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("var/lib/dpkg/status"), "{text}");
    assert_eq!(
        ok(std::fs::read_to_string(&status)),
        "Package: kit-ssl\nStatus: install ok exploded\n"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in ok(std::fs::read_dir(&dir)) {
            let path = ok(entry).path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every file under `dir` but apt's `partial/` scratch, with its bytes.
fn directory_contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .filter(|path| !path.starts_with(dir.join("partial")))
        .map(|path| {
            let bytes = ok(std::fs::read(&path));
            (path, bytes)
        })
        .collect()
}

#[test]
fn the_install_command_prints_a_table_or_json_and_exits_by_outcome() {
    let mut node = Node::new(&[pkg("kit-ssl", "1.0-1"), pkg("kit-bad", "1.0-1")]);
    node.publish(
        &[
            pkg("kit-ssl", "1.0-2"),
            pkg("kit-bad", "1.0-2").postinst("exit 1"),
        ],
        &[],
    );
    let overrides = node.marker("override.list");
    ok(std::fs::write(&overrides, "kit-ssl=1.0-2\n"));
    let run = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_patchline-agent"));
        command
            .args(["install", "--root"])
            .arg(node.root.path())
            .args(["--at", NOW, "--reboot", "no-reboot"])
            .args(extra);
        ok(command.output())
    };

    let table = run(&["--override-list", &overrides.display().to_string()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{table:?}");
    assert!(text.contains("compliance NON-COMPLIANT"), "{text}");
    let row = text
        .lines()
        .find(|line| line.starts_with("kit-ssl"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("1.0-2") && row.contains("installed"), "{row}");
    assert!(
        !text.lines().any(|line| line.starts_with("kit-bad")),
        "{text}"
    );

    let json = run(&["--json"]);
    assert_eq!(json.status.code(), Some(1), "a failed package: {json:?}");
    let report: serde_json::Value = ok(serde_json::from_slice(&json.stdout));
    let packages = report["packages"].as_array().expect("packages");
    assert_eq!(packages.len(), 1, "{packages:?}");
    assert_eq!(packages[0]["name"], "kit-bad");
    assert_eq!(packages[0]["outcome"], "failed");
    assert_eq!(report["compliance"]["state-counts"]["failed"], 1);

    let bad = Command::new(env!("CARGO_BIN_EXE_patchline-agent"))
        .args(["install", "--root", "/nonexistent-root"])
        .output();
    let bad = ok(bad);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("os-release"));
}

#[test]
fn both_architectures_install_by_name_and_arch_and_the_host_is_untouched() {
    let host = ok(HostSnapshot::take());
    let dir = ok(tempfile::tempdir());
    let native = ok(native_architecture());
    let foreign = if native == "i386" { "amd64" } else { "i386" };
    let architectures = vec![native.clone(), foreign.to_owned()];
    let lib = |arch: &str, version: &str, sub: &str| {
        ok(DebPackage::new("kit-lib", version)
            .arch(arch)
            .multi_arch("same")
            .build(&dir.path().join(sub)))
    };
    let v1 = [lib(&native, "1.0-1", "v1"), lib(foreign, "1.0-1", "v1")];
    let v2 = [lib(&native, "1.0-2", "v2"), lib(foreign, "1.0-2", "v2")];
    let mut repo = ok(AptRepository::with_architectures(
        dir.path().join("repo"),
        &architectures,
    ));
    let stable = AptSuite::new("stable")
        .with_date(at("2024-01-10T10:00:00Z"))
        .with_packages(&v1);
    ok(repo.publish(std::slice::from_ref(&stable)));
    let root = ok(AptRoot::create(
        dir.path().join("node"),
        &AptRootOptions {
            architectures: architectures.clone(),
            sources: repo.sources(),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&[&format!("kit-lib:{native}"), &format!("kit-lib:{foreign}")]));
    ok(repo.publish(&[
        stable,
        AptSuite::security("stable-security")
            .with_date(at("2024-02-01T10:00:00Z"))
            .with_packages(&v2),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());

    let report = ok(install(&NodeRoot::new(root.path()), &options()));
    let mut installed: Vec<(&str, &TargetOutcome)> = report
        .packages
        .iter()
        .map(|p| (p.result.target.arch.as_str(), &p.result.outcome))
        .collect();
    installed.sort_by_key(|(arch, _)| *arch);
    let mut expected = vec![
        (native.as_str(), &TargetOutcome::Installed),
        (foreign, &TargetOutcome::Installed),
    ];
    expected.sort_by_key(|(arch, _)| *arch);
    assert_eq!(installed, expected);
    let versions: Vec<String> = ok(root.installed())
        .into_iter()
        .map(|p| format!("{}:{} {}", p.name, p.arch, p.version))
        .collect();
    assert!(
        versions.iter().all(|v| v.ends_with(" 1.0-2")),
        "{versions:?}"
    );
    assert_eq!(report.compliance.status, ComplianceStatus::Compliant);
    assert_eq!(ok(host.changes()), Vec::<String>::new());
}
