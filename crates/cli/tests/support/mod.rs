//! A real `patchline server` child process on a free loopback port with a
//! temporary data directory, and the `patchline` binary run against it with
//! its own config directory (so tests never touch the user's session).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// How long start-up may take before a test gives up instead of hanging
/// (a guard, not a performance assertion: a loaded CI machine is slow).
pub const START_GUARD: Duration = Duration::from_secs(180);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_patchline")
}

pub struct TestServer {
    child: Child,
    pub url: String,
    pub ca_cert: PathBuf,
    pub data_dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// `patchline server` with more arguments.
    pub fn start_with(args: &[&str]) -> TestServer {
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let mut child = Command::new(binary())
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(args)
            .env("PATCHLINE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("patchline server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = spawn_line_reader(stdout);
        let mut url = None;
        let mut ca_cert = None;
        while url.is_none() || ca_cert.is_none() {
            let line = lines
                .recv_timeout(START_GUARD)
                .unwrap_or_else(|_| panic!("patchline server printed no address"));
            if let Some(rest) = line.strip_prefix("Listening on ") {
                url = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("CA certificate: ") {
                ca_cert = Some(PathBuf::from(rest.trim()));
            }
        }
        TestServer {
            child,
            url: url.unwrap_or_default(),
            ca_cert: ca_cert.unwrap_or_default(),
            data_dir,
        }
    }

    /// A CLI with its own empty config directory.
    pub fn cli(&self) -> Cli {
        Cli {
            config_dir: tempfile::tempdir().expect("a temporary config directory"),
        }
    }

    /// A CLI logged in as `username`.
    pub fn login(&self, username: &str, password: &str) -> Cli {
        let cli = self.cli();
        let output = cli.run_with_stdin(
            &[
                "login",
                "--server",
                &self.url,
                "--ca-cert",
                self.ca_cert.to_str().unwrap_or_default(),
                "--username",
                username,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        assert!(output.status.success(), "login failed: {}", text(&output));
        cli
    }

    pub fn admin(&self) -> Cli {
        self.login("admin", ADMIN_PASSWORD)
    }

    /// Creates `username` through `admin`'s `patchline users create` with
    /// `role_args` (`--role ...`, `--scope ...`), then logs in as them.
    pub fn user(&self, admin: &Cli, username: &str, role_args: &[&str], password: &str) -> Cli {
        let mut args = vec!["users", "create", username];
        args.extend_from_slice(role_args);
        args.push("--password-stdin");
        let created = admin.run_with_stdin(&args, &format!("{password}\n"));
        assert!(created.status.success(), "{}", text(&created));
        self.login(username, password)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards a child's output line by line so a test can wait with a bound.
pub fn spawn_line_reader(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

pub struct Cli {
    pub config_dir: tempfile::TempDir,
}

impl Cli {
    pub fn command(&self) -> Command {
        self.command_for(binary())
    }

    /// Another program (a wrapper such as `script`) with this CLI's
    /// environment.
    pub fn command_for(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("PATCHLINE_CONFIG_DIR", self.config_dir.path())
            .env_remove("NO_COLOR");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the patchline binary runs");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("patchline finishes")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "patchline {args:?} failed: {}",
            text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config_dir.path().join("credentials.json")
    }
}

/// Both streams, for failure messages.
pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("a test file is written");
    path
}
