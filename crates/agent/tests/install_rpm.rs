//! The install flow on testkit rpm-family roots, driven through the real
//! dnf, zypper and rpm: exact approved builds, rejected packages excluded
//! (dnf) or locked (zypper) and released afterwards, failing `%post`
//! scriptlets, override lists, an aborting snapshot, the reboot decision
//! from `reboot_suggested` advisories, and a transaction killed during a
//! `%post` that the next run detects, repairs and reports.

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
use patchline_core::os::OsFamily;
use patchline_testkit::{
    Advisory, BuiltRpm, DnfRoot, DnfRootOptions, HostSnapshot, PackageRoot, RpmPackage,
    RpmRepoEntry, RpmRepository, UpdateinfoStyle, ZypperRoot, ZypperRootOptions,
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

#[derive(Debug, Clone, Copy)]
enum Flavor {
    Dnf,
    Zypper,
}

enum Root {
    Dnf(DnfRoot),
    Zypper(ZypperRoot),
}

impl Root {
    fn package_root(&self) -> &dyn PackageRoot {
        match self {
            Root::Dnf(root) => root,
            Root::Zypper(root) => root,
        }
    }

    /// The package manager installing exactly `name` at `version`.
    fn install_command(&self, name: &str, version: &str) -> Command {
        match self {
            Root::Dnf(root) => {
                let mut dnf = ok(root.dnf());
                dnf.args(["install", &format!("{name}-{version}")]);
                dnf
            }
            Root::Zypper(root) => {
                let mut zypper = ok(root.zypper());
                zypper.args(["install", &format!("{name}={version}")]);
                zypper
            }
        }
    }
}

/// A node with every `v1` package installed from its repository.
struct Node {
    dir: tempfile::TempDir,
    flavor: Flavor,
    repo: RpmRepository,
    root: Root,
    v1: Vec<BuiltRpm>,
}

impl Node {
    fn new(flavor: Flavor, v1: &[RpmPackage]) -> Node {
        let dir = ok(tempfile::tempdir());
        let v1 = build(dir.path(), "v1", v1);
        let style = match flavor {
            Flavor::Dnf => UpdateinfoStyle::RedHat,
            Flavor::Zypper => UpdateinfoStyle::Suse,
        };
        let repo = ok(RpmRepository::new(dir.path().join("repo"), style));
        ok(repo.publish(&paths(&v1), &[]));
        let repositories = vec![RpmRepoEntry::new("kit", &repo)];
        let root = match flavor {
            Flavor::Dnf => Root::Dnf(ok(DnfRoot::create(
                dir.path().join("node"),
                &DnfRootOptions {
                    repositories,
                    ..DnfRootOptions::default()
                },
            ))),
            Flavor::Zypper => Root::Zypper(ok(ZypperRoot::create(
                dir.path().join("node"),
                &ZypperRootOptions {
                    repositories,
                    ..ZypperRootOptions::default()
                },
            ))),
        };
        let node = Node {
            dir,
            flavor,
            repo,
            root,
            v1,
        };
        ok(node.package_root().refresh());
        let names: Vec<&str> = node.v1.iter().map(|rpm| rpm.name.as_str()).collect();
        ok(node.package_root().install(&names));
        node
    }

    fn package_root(&self) -> &dyn PackageRoot {
        self.root.package_root()
    }

    /// Publishes `security` (each in a security advisory, reboot suggested
    /// for the names in `reboot`) and `others` (no advisory) next to v1,
    /// and refreshes the node's cache.
    fn publish_only(&self, security: &[RpmPackage], others: &[RpmPackage], reboot: &[&str]) {
        let security = build(self.dir.path(), "security", security);
        let others = build(self.dir.path(), "others", others);
        let advisories: Vec<Advisory> = security
            .iter()
            .map(|rpm| {
                let advisory = Advisory::security(
                    format!("KIT-SA-{}", rpm.name),
                    "Important",
                    at("2024-02-01T10:00:00Z"),
                )
                .with_packages([rpm]);
                if reboot.contains(&rpm.name.as_str()) {
                    advisory.with_reboot_suggested()
                } else {
                    advisory
                }
            })
            .collect();
        let mut all = paths(&self.v1);
        all.extend(paths(&security));
        all.extend(paths(&others));
        ok(self.repo.publish(&all, &advisories));
    }

    /// [`Node::publish_only`], then refreshes the node's cache.
    fn publish(&self, security: &[RpmPackage], others: &[RpmPackage], reboot: &[&str]) {
        self.publish_only(security, others, reboot);
        ok(self.package_root().refresh());
    }

    fn node_root(&self) -> NodeRoot {
        NodeRoot::new(self.package_root().path())
    }

    fn install(&self, options: &InstallOptions) -> InstallReport {
        ok(install(&self.node_root(), options))
    }

    /// Every installed build, `name version`, as rpm lists them.
    fn builds(&self, name: &str) -> Vec<String> {
        ok(self.package_root().installed())
            .into_iter()
            .filter(|p| p.name == name)
            .map(|p| p.version)
            .collect()
    }

    fn version(&self, name: &str) -> Option<String> {
        ok(self.package_root().installed_version(name))
    }

    /// `rpm -qa` of the whole root, sorted.
    fn rpm_qa(&self) -> Vec<String> {
        ok(self.package_root().installed())
            .into_iter()
            .map(|p| format!("{}-{}.{}", p.name, p.version, p.arch))
            .collect()
    }

    /// A path outside the root for hooks to leave markers in.
    fn marker(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn baseline(&self, rejected: &[&str]) -> Baseline {
        let family = match self.flavor {
            Flavor::Dnf => OsFamily::RhelCompatible,
            Flavor::Zypper => OsFamily::Suse,
        };
        let rejected = if rejected.is_empty() {
            String::new()
        } else {
            format!(
                "rejected-patches:\n  patches: [{}]\n  action: block\n",
                rejected.join(", ")
            )
        };
        ok(Baseline::from_yaml(&format!(
            "name: security-now\nos-family: {family}\napproval-rules:\n  - filters:\n      classification: [security]\n    approve-after-days: 0\n    compliance-level: critical\n{rejected}"
        )))
    }

    fn options(&self, rejected: &[&str]) -> InstallOptions {
        InstallOptions {
            baseline: Some(self.baseline(rejected)),
            now: at(NOW),
            ..InstallOptions::default()
        }
    }
}

fn build(dir: &Path, sub: &str, packages: &[RpmPackage]) -> Vec<BuiltRpm> {
    packages
        .iter()
        .map(|package| ok(package.build(&dir.join(sub))))
        .collect()
}

fn paths(rpms: &[BuiltRpm]) -> Vec<PathBuf> {
    rpms.iter().map(|rpm| rpm.path.clone()).collect()
}

fn pkg(name: &str, version: &str, release: &str) -> RpmPackage {
    RpmPackage::new(name, version).release(release)
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

fn is_failed(outcome: &TargetOutcome) -> bool {
    matches!(outcome, TargetOutcome::Failed { .. })
}

/// Exact approved builds, a rejected package kept back, a failing `%post`.
fn exact_builds_blocked_names_and_failing_scriptlets(flavor: Flavor) {
    let node = Node::new(
        flavor,
        &[
            pkg("kit-ssl", "1.0", "1"),
            pkg("kit-editor", "1.0", "1"),
            pkg("kit-tool", "1.0", "1"),
            pkg("kit-bad", "1.0", "1"),
        ],
    );
    // kit-ssl 1.0-2 is the approved fix, 1.0-3 is newer but has no
    // advisory. The editor fix is rejected, and the tool fix needs it: the
    // exclusion/lock must stop the dependency from pulling it in.
    node.publish(
        &[
            pkg("kit-ssl", "1.0", "2"),
            pkg("kit-editor", "1.0", "2"),
            pkg("kit-tool", "1.0", "2").requires("kit-editor >= 1.0-2"),
            pkg("kit-bad", "1.0", "2").post("echo broken >&2; exit 1"),
        ],
        &[pkg("kit-ssl", "1.0", "3")],
        &[],
    );
    let report = node.install(&node.options(&["kit-editor"]));

    assert_eq!(report.driver, format!("{flavor:?}").to_lowercase());
    assert_eq!(report.held, ["kit-editor"]);
    assert_eq!(
        outcome(&report, "kit-ssl"),
        &TargetOutcome::Installed,
        "{report:#?}"
    );
    assert_eq!(node.builds("kit-ssl"), ["1.0-2"]);
    assert_eq!(node.builds("kit-editor"), ["1.0-1"]);
    assert!(is_failed(outcome(&report, "kit-tool")), "{report:#?}");
    assert_eq!(node.builds("kit-tool"), ["1.0-1"]);
    // rpm installs a package whose %post fails; the report says failed.
    match outcome(&report, "kit-bad") {
        TargetOutcome::Failed { reason } => {
            assert!(reason.contains("scriptlet failed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
    assert_eq!(state(&report, "kit-tool"), PackageState::Failed);
    assert_eq!(state(&report, "kit-bad"), PackageState::Failed);
    assert_eq!(
        state(&report, "kit-editor"),
        PackageState::InstalledRejected
    );
    assert!(
        report
            .packages
            .iter()
            .all(|p| p.result.target.name != "kit-editor")
    );
    assert!(!report.succeeded());
    // Nothing of the exclusion or lock is left on the node.
    match &node.root {
        Root::Dnf(root) => {
            let conf = ok(std::fs::read_to_string(
                root.path().join("etc/dnf/dnf.conf"),
            ));
            assert!(!conf.contains("kit-editor"), "{conf}");
            assert!(
                report
                    .commands
                    .iter()
                    .any(|c| c.command.contains(&"--exclude=kit-editor".to_owned()))
            );
        }
        Root::Zypper(root) => {
            let locks =
                std::fs::read_to_string(root.path().join("etc/zypp/locks")).unwrap_or_default();
            assert!(!locks.contains("kit-editor"), "{locks}");
            assert!(
                report
                    .commands
                    .iter()
                    .any(|c| c.command.contains(&"addlock".to_owned()))
            );
        }
    }
}

#[test]
fn dnf_installs_exact_builds_excludes_blocked_names_and_reports_failed_scriptlets() {
    exact_builds_blocked_names_and_failing_scriptlets(Flavor::Dnf);
}

#[test]
fn zypper_installs_exact_builds_locks_blocked_names_and_reports_failed_scriptlets() {
    exact_builds_blocked_names_and_failing_scriptlets(Flavor::Zypper);
}

#[test]
fn an_admins_zypper_lock_survives_the_install() {
    let node = Node::new(
        Flavor::Zypper,
        &[pkg("kit-ssl", "1.0", "1"), pkg("kit-editor", "1.0", "1")],
    );
    node.publish(
        &[pkg("kit-ssl", "1.0", "2"), pkg("kit-editor", "1.0", "2")],
        &[],
        &[],
    );
    let Root::Zypper(root) = &node.root else {
        unreachable!()
    };
    ok(root.run_zypper(&["addlock", "kit-editor"]))
        .ensure_success()
        .unwrap();
    let report = node.install(&node.options(&["kit-editor"]));
    assert_eq!(outcome(&report, "kit-ssl"), &TargetOutcome::Installed);
    assert!(report.held.is_empty(), "already locked: nothing to add");
    let locks = ok(std::fs::read_to_string(root.path().join("etc/zypp/locks")));
    assert!(locks.contains("kit-editor"), "{locks}");
}

/// A failing snapshot changes nothing; an override list then installs an
/// unapproved build, skips a package the node does not have, and marks
/// the one whose `%post` fails in a call that otherwise succeeds.
fn snapshot_abort_then_override_list(flavor: Flavor) {
    let node = Node::new(
        flavor,
        &[pkg("kit-ssl", "1.0", "1"), pkg("kit-bad", "1.0", "1")],
    );
    node.publish(
        &[pkg("kit-ssl", "1.0", "2")],
        &[
            pkg("kit-ssl", "1.0", "3"),
            pkg("kit-bad", "1.0", "2").post("echo broken >&2; exit 1"),
        ],
        &[],
    );
    let before = node.rpm_qa();
    let pre = node.marker("pre-patch");
    let report = node.install(&InstallOptions {
        hooks: Hooks {
            snapshot: Some("echo 'no space left' >&2; exit 3".to_owned()),
            pre_patch: Some(format!("touch {}", pre.display())),
            ..Hooks::default()
        },
        ..node.options(&[])
    });
    let abort = report.aborted.as_ref().expect("aborted");
    assert_eq!(abort.phase, Phase::Snapshot);
    assert!(abort.reason.contains("no space left"), "{}", abort.reason);
    assert!(!pre.exists(), "nothing runs after a failed snapshot");
    assert_eq!(node.rpm_qa(), before);

    let overrides = ok(parse_override_list(
        "kit-ssl=1.0-3\nkit-bad=1.0-2\nkit-ghost=2.0-1\n",
    ));
    let report = node.install(&InstallOptions {
        override_list: Some(overrides),
        ..node.options(&[])
    });
    assert_eq!(
        outcome(&report, "kit-ssl"),
        &TargetOutcome::Installed,
        "{report:#?}"
    );
    assert!(matches!(
        outcome(&report, "kit-ghost"),
        TargetOutcome::Skipped { .. }
    ));
    match outcome(&report, "kit-bad") {
        TargetOutcome::Failed { reason } => {
            assert!(reason.contains("scriptlet failed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // One call did it all: the scriptlet failure was read from its output.
    let installs = report
        .commands
        .iter()
        .filter(|c| c.command.iter().any(|word| word == "install"))
        .count();
    assert_eq!(installs, 1, "{:#?}", report.commands);
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-3"));
    assert!(!report.succeeded());
}

#[test]
fn dnf_snapshot_failure_changes_nothing_and_override_lists_install() {
    snapshot_abort_then_override_list(Flavor::Dnf);
}

#[test]
fn zypper_snapshot_failure_changes_nothing_and_override_lists_install() {
    snapshot_abort_then_override_list(Flavor::Zypper);
}

/// The reboot command runs for a `reboot_suggested` advisory with
/// reboot-if-needed, and not with no-reboot.
fn reboot_follows_the_advisory(flavor: Flavor) {
    for reboot in [RebootOption::RebootIfNeeded, RebootOption::NoReboot] {
        let node = Node::new(flavor, &[pkg("kit-kernelish", "1.0", "1")]);
        node.publish(&[pkg("kit-kernelish", "1.0", "2")], &[], &["kit-kernelish"]);
        let marker = node.marker("rebooted");
        let report = node.install(&InstallOptions {
            reboot,
            hooks: Hooks {
                reboot: Some(format!("echo \"$PATCHLINE_PHASE\" > {}", marker.display())),
                ..Hooks::default()
            },
            ..node.options(&[])
        });
        assert_eq!(outcome(&report, "kit-kernelish"), &TargetOutcome::Installed);
        assert!(report.packages[0].reboot_suggested);
        match reboot {
            RebootOption::RebootIfNeeded => {
                assert_eq!(report.reboot, RebootOutcome::Rebooted);
                assert_eq!(ok(std::fs::read_to_string(&marker)).trim(), "reboot");
                assert_eq!(state(&report, "kit-kernelish"), PackageState::Installed);
            }
            RebootOption::NoReboot => {
                assert!(matches!(report.reboot, RebootOutcome::Pending { .. }));
                assert!(!marker.exists());
                assert_eq!(
                    state(&report, "kit-kernelish"),
                    PackageState::InstalledPendingReboot
                );
                assert_eq!(report.compliance.status, ComplianceStatus::NonCompliant);
            }
        }
    }
}

#[test]
fn dnf_reboots_exactly_when_an_advisory_suggests_it() {
    reboot_follows_the_advisory(Flavor::Dnf);
}

#[test]
fn zypper_reboots_exactly_when_an_advisory_suggests_it() {
    reboot_follows_the_advisory(Flavor::Zypper);
}

/// An upgrade killed during the new build's `%post` leaves both builds in
/// the rpmdb; the next install detects, repairs and reports it.
fn killed_transaction_is_repaired(flavor: Flavor) {
    let node = Node::new(flavor, &[pkg("kit-ssl", "1.0", "1")]);
    node.publish(
        &[pkg("kit-ssl", "1.0", "2")
            .post("if [ -e /slow ]; then touch /post-started; sleep 600; fi")],
        &[],
        &[],
    );
    let root_path = node.package_root().path().to_owned();
    ok(std::fs::write(root_path.join("slow"), b""));
    let mut command = node.root.install_command("kit-ssl", "1.0-2");
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = ok(command.spawn());
    // Bounded wait, so a broken setup fails instead of hanging.
    let mut in_post = false;
    for _ in 0..2400 {
        if root_path.join("post-started").exists() {
            in_post = true;
            break;
        }
        assert!(ok(child.try_wait()).is_none(), "the install ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = ok(Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status());
    assert!(killed.success());
    ok(child.wait());
    assert!(in_post, "rpm never reached the %post");
    ok(std::fs::remove_file(root_path.join("slow")));
    let mut left = node.builds("kit-ssl");
    left.sort();
    assert_eq!(
        left,
        ["1.0-1", "1.0-2"],
        "the killed upgrade leaves both builds"
    );

    let report = node.install(&node.options(&[]));
    assert_eq!(report.interrupted.len(), 1, "{report:#?}");
    assert_eq!(report.interrupted[0].name, "kit-ssl");
    assert!(
        report.interrupted[0].state.contains("1.0-1 next to 1.0-2"),
        "{report:#?}"
    );
    let repair = report.repair.as_ref().expect("a repair ran");
    assert!(repair.succeeded(), "{repair:#?}");
    assert_eq!(node.builds("kit-ssl"), ["1.0-2"]);
    assert_eq!(state(&report, "kit-ssl"), PackageState::Installed);
    assert!(report.packages.is_empty(), "{report:#?}");
    assert!(report.succeeded());
    assert!(install::render(&report).contains("repaired"));
}

#[test]
fn dnf_transaction_killed_in_post_is_repaired_on_the_next_run() {
    killed_transaction_is_repaired(Flavor::Dnf);
}

#[test]
fn zypper_transaction_killed_in_post_is_repaired_on_the_next_run() {
    killed_transaction_is_repaired(Flavor::Zypper);
}

/// A repository whose metadata does not match its checksums fails the
/// refresh: a clear error, and the rpm database is unchanged.
fn broken_repository_changes_nothing(flavor: Flavor) {
    let host = ok(HostSnapshot::take());
    let node = Node::new(flavor, &[pkg("kit-ssl", "1.0", "1")]);
    // A new repomd.xml whose primary does not match its checksum.
    node.publish_only(&[pkg("kit-ssl", "1.0", "2")], &[], &[]);
    let before = node.rpm_qa();
    let scanned = || {
        let report = ok(patchline_agent::scan(
            &node.node_root(),
            &patchline_agent::ScanOptions {
                baseline: Some(node.baseline(&[])),
                now: at(NOW),
            },
        ));
        (report.known_versions, report.compliance.status)
    };
    let scan_before = scanned();
    let repodata = node.repo.dir().join("repodata");
    let mut corrupted = 0;
    for entry in ok(std::fs::read_dir(&repodata)) {
        let path = ok(entry).path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.contains("primary") {
            ok(std::fs::write(&path, b"not a primary"));
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);

    let error = install(
        &node.node_root(),
        &InstallOptions {
            refresh: Some(std::time::Duration::from_secs(300)),
            ..node.options(&[])
        },
    )
    .unwrap_err();
    assert!(matches!(error, InstallError::Refresh(_)), "{error:?}");
    let program = format!("{flavor:?}").to_lowercase();
    assert!(error.to_string().contains(&program), "{error}");
    assert_eq!(node.rpm_qa(), before);
    assert_eq!(node.version("kit-ssl").as_deref(), Some("1.0-1"));
    // The caches the scan reads still hold the last good metadata.
    assert_eq!(scanned(), scan_before);
    assert_eq!(ok(host.changes()), Vec::<String>::new());
}

#[test]
fn dnf_broken_repository_is_a_clear_error_and_changes_nothing() {
    broken_repository_changes_nothing(Flavor::Dnf);
}

#[test]
fn zypper_broken_repository_is_a_clear_error_and_changes_nothing() {
    broken_repository_changes_nothing(Flavor::Zypper);
}
