//! `patchline up` on a testkit Debian root: the server, the admin login and
//! the local agent start in one process, the root's compliance is printed,
//! the CLI session it stored works, and SIGINT stops everything cleanly.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use patchline_testkit::apt_repo::native_architecture;
use patchline_testkit::{
    AptRepository, AptRoot, AptRootOptions, AptSuite, DebPackage, PackageRoot,
};
use rustix::process::{Pid, Signal, kill_process};
use support::{Cli, START_GUARD, binary, spawn_line_reader};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

/// A Debian 12 root with one installed package and a newer version in a
/// security suite.
fn debian_root(dir: &std::path::Path) -> AptRoot {
    let arch = ok(native_architecture());
    let build = |version: &str| {
        ok(DebPackage::new("kit-ssl", version)
            .arch(arch.as_str())
            .build(&dir.join("debs")))
    };
    let old = build("3.0.11-1");
    let new = build("3.0.13-1");
    let mut repo = ok(AptRepository::new(dir.join("repo")));
    ok(repo.publish(&[AptSuite::new("stable").with_packages([&old])]));
    let root = ok(AptRoot::create(
        dir.join("node"),
        &AptRootOptions {
            sources: repo.sources(),
            hostname: Some("up-test-host".into()),
            ..AptRootOptions::default()
        },
    ));
    ok(root.refresh());
    ok(root.install(&["kit-ssl"]));
    ok(repo.publish(&[
        AptSuite::new("stable").with_packages([&old]),
        AptSuite::security("stable-security").with_packages([&new]),
    ]));
    ok(root.set_sources(&repo.sources()));
    ok(root.refresh());
    root
}

struct Up {
    child: Child,
    lines: Receiver<String>,
    /// Everything printed up to `Press Ctrl-C to stop.`.
    printed: Vec<String>,
}

impl Up {
    fn start(data_dir: &Path, root: &Path, cli: &Cli) -> Up {
        let mut child = ok(Command::new(binary())
            .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--root")
            .arg(root)
            .env("PATCHLINE_CONFIG_DIR", cli.config_dir.path())
            .env_remove("PATCHLINE_ADMIN_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn());
        let lines = spawn_line_reader(child.stdout.take().expect("piped stdout"));
        let errors = spawn_line_reader(child.stderr.take().expect("piped stderr"));
        let mut printed = Vec::new();
        loop {
            match lines.recv_timeout(START_GUARD) {
                Ok(line) => {
                    let done = line == "Press Ctrl-C to stop.";
                    printed.push(line);
                    if done {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let stderr: Vec<String> = errors.try_iter().collect();
                    panic!(
                        "up printed no compliance:\n{}\n{}",
                        printed.join("\n"),
                        stderr.join("\n")
                    );
                }
            }
        }
        Up {
            child,
            lines,
            printed,
        }
    }

    fn text(&self) -> String {
        self.printed.join("\n")
    }

    /// The line under the header of "This machine's compliance:".
    fn this_machine_row(&self) -> &str {
        let at = self
            .printed
            .iter()
            .position(|line| line == "This machine's compliance:")
            .unwrap_or_else(|| panic!("no compliance section:\n{}", self.text()));
        let header = &self.printed[at + 1];
        assert!(
            header.starts_with("NODE") && header.contains("STATUS"),
            "{}",
            self.text()
        );
        &self.printed[at + 2]
    }

    /// SIGINT, then the rest of the output and a successful exit.
    fn interrupt(mut self) -> Vec<String> {
        ok(kill_process(Pid::from_child(&self.child), Signal::INT));
        let mut rest = Vec::new();
        loop {
            match self.lines.recv_timeout(START_GUARD) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("up did not stop on SIGINT: {rest:?}");
                }
            }
        }
        let status = ok(self.child.wait());
        assert!(status.success(), "exit {status:?}: {rest:?}");
        rest
    }
}

#[test]
fn up_shows_this_machines_compliance_and_stops_on_sigint() {
    let dir = ok(tempfile::tempdir());
    let root = debian_root(dir.path());
    let data_dir = dir.path().join("data");
    let cli = Cli {
        config_dir: ok(tempfile::tempdir()),
    };
    let up = Up::start(&data_dir, root.path(), &cli);
    let text = up.text();
    assert!(text.contains("Patchline is up."), "{text}");
    let password_file = data_dir.join("admin-password");
    assert!(
        text.contains(&format!("Admin password:  {}", password_file.display())),
        "{text}"
    );
    assert!(password_file.exists());
    assert!(text.contains("patchline compliance nodes"), "{text}");
    let row = up.this_machine_row().to_string();
    assert!(row.contains("up-test-host"), "{text}");
    assert!(
        row.contains("compliant"),
        "a status, not unreported: {text}"
    );
    assert!(
        text.contains("; baseline "),
        "the summary line names the baseline: {text}"
    );
    let node_id = row
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();

    // The CLI session `up` stored works against the running server.
    let nodes = cli.ok(&["compliance", "nodes"]);
    assert!(nodes.contains("up-test-host"), "{nodes}");
    let me = cli.ok(&["whoami"]);
    assert!(me.starts_with("admin (admin)"), "{me}");

    let rest = up.interrupt();
    assert!(rest.iter().any(|line| line == "Stopped."), "{rest:?}");

    // A second start (on another port) keeps the node: the local agent does
    // not enrol again.
    let again = Up::start(&data_dir, root.path(), &cli);
    assert!(
        again.this_machine_row().starts_with(&node_id),
        "{}",
        again.text()
    );
    let listed = cli.ok(&["nodes", "list", "--format", "csv"]);
    assert_eq!(listed.lines().count(), 2, "one node: {listed}");
    again.interrupt();
}
