//! Running external programs for the drivers and the install hooks: a
//! timeout that kills the whole process group (a hook's `sh -c` children
//! too), output captured up to a bound (a chatty `apt-get` or hook cannot
//! exhaust memory), and a record of what ran that reports carry.
//!
//! [`run_cancellable`] also stops the run when a flag is set (the server
//! asked that the work stop): SIGTERM to the process group, SIGKILL after
//! [`CANCEL_GRACE`] if anything of it is still there.
//!
//! Only variable *names* are ever recorded, never their values: hook
//! environments may carry secrets.

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The most output kept per stream: its last bytes (where errors are).
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// How long a cancelled process group has between SIGTERM and SIGKILL.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What one program run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandRecord {
    /// The program and its arguments, as run.
    pub command: Vec<String>,
    /// `None` when killed by a signal, the timeout or a cancellation.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Stopped because the run was cancelled ([`run_cancellable`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
    /// The last [`OUTPUT_LIMIT`] bytes of stdout, lossily decoded.
    pub stdout: String,
    /// The last [`OUTPUT_LIMIT`] bytes of stderr, lossily decoded.
    pub stderr: String,
}

impl CommandRecord {
    /// Exit code 0 within the timeout, not cancelled.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }

    /// A one-line reason for a failure: the exit, and the last
    /// non-empty stderr (else stdout) line.
    pub fn failure_summary(&self) -> String {
        let exit = match (self.timed_out, self.exit_code) {
            (true, _) => "timed out".to_owned(),
            _ if self.cancelled => "cancelled".to_owned(),
            (false, Some(code)) => format!("exit code {code}"),
            (false, None) => "killed by a signal".to_owned(),
        };
        let last_line = [&self.stderr, &self.stdout]
            .iter()
            .find_map(|text| text.lines().rev().map(str::trim).find(|l| !l.is_empty()));
        match last_line {
            Some(line) => format!("{} ({exit}): {line}", self.program()),
            None => format!("{} ({exit})", self.program()),
        }
    }

    fn program(&self) -> &str {
        self.command.first().map_or("command", String::as_str)
    }
}

/// Why a program could not be run at all (a failing exit is not an error
/// here: callers decide what an exit means).
#[derive(Debug, thiserror::Error)]
#[error("cannot run {program}: {source}")]
pub struct SpawnError {
    pub program: String,
    #[source]
    pub source: std::io::Error,
}

/// Runs `command` to completion or until `timeout`, capturing its output.
pub fn run(command: &mut Command, timeout: Duration) -> Result<CommandRecord, SpawnError> {
    run_cancellable(command, timeout, &AtomicBool::new(false))
}

/// [`run`], also stopped as soon as `cancel` is set: the process group
/// gets SIGTERM, then SIGKILL after [`CANCEL_GRACE`]; the record says
/// `cancelled` (with what the program printed until then).
pub fn run_cancellable(
    command: &mut Command,
    timeout: Duration,
    cancel: &AtomicBool,
) -> Result<CommandRecord, SpawnError> {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    let spawn_error = |source| SpawnError {
        program: words[0].clone(),
        source,
    };
    // Its own process group, so a timeout kills the program's children too.
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(spawn_error)?;
    let stdout = child.stdout.take().map(|s| thread::spawn(move || tail(s)));
    let stderr = child.stderr.take().map(|s| thread::spawn(move || tail(s)));
    let (status, ending) = wait(&mut child, timeout, cancel).map_err(spawn_error)?;
    let timed_out = ending == Ending::TimedOut;
    let cancelled = ending == Ending::Cancelled;
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader
            .and_then(|handle| handle.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    Ok(CommandRecord {
        command: words,
        exit_code: if ending == Ending::Exited {
            status.code()
        } else {
            None
        },
        timed_out,
        cancelled,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

/// How a waited-for run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Exited,
    TimedOut,
    Cancelled,
}

fn wait(
    child: &mut Child,
    timeout: Duration,
    cancel: &AtomicBool,
) -> std::io::Result<(std::process::ExitStatus, Ending)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, Ending::Exited));
        }
        if Instant::now() >= deadline {
            signal_group(child, "KILL");
            let _ = child.kill();
            return Ok((child.wait()?, Ending::TimedOut));
        }
        if cancel.load(Ordering::SeqCst) {
            return Ok((terminate(child, deadline)?, Ending::Cancelled));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM to the group, SIGKILL after the grace (or at the timeout, if
/// sooner). The group is killed even when its leader exited at once: a
/// child of the shell may ignore SIGTERM and keep the output pipes open.
fn terminate(child: &mut Child, deadline: Instant) -> std::io::Result<std::process::ExitStatus> {
    signal_group(child, "TERM");
    let kill_at = (Instant::now() + CANCEL_GRACE).min(deadline.max(Instant::now()));
    loop {
        if let Some(status) = child.try_wait()? {
            // The leader is gone; what is left of its group is killed
            // (nothing when every member honoured SIGTERM).
            signal_group(child, "KILL");
            return Ok(status);
        }
        if Instant::now() >= kill_at {
            signal_group(child, "KILL");
            let _ = child.kill();
            return child.wait();
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn signal_group(child: &Child, signal: &str) {
    // std has no killpg; `kill -SIG -- -PGID` reaches every process of the
    // group. The caller's direct kill covers a missing `kill` binary.
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Reads a stream to its end, keeping only its last [`OUTPUT_LIMIT`] bytes.
fn tail(mut stream: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > 2 * OUTPUT_LIMIT {
                    kept.drain(..kept.len() - OUTPUT_LIMIT);
                }
            }
        }
    }
    if kept.len() > OUTPUT_LIMIT {
        kept.drain(..kept.len() - OUTPUT_LIMIT);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_exit_and_output() {
        let record = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(record.exit_code, Some(3));
        assert_eq!(record.stdout, "out\n");
        assert_eq!(record.stderr, "err\n");
        assert!(!record.succeeded());
        assert_eq!(record.failure_summary(), "sh (exit code 3): err");
    }

    #[test]
    fn a_timeout_kills_the_children_too() {
        // The child `sleep` keeps the pipes open: without the group kill
        // the output readers would wait for it.
        let record = run(
            Command::new("sh").args(["-c", "sleep 300; echo never"]),
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(record.timed_out);
        assert_eq!(record.exit_code, None);
        assert!(record.stdout.is_empty());
    }

    #[test]
    fn a_cancellation_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        let script = format!(
            "echo started; sleep 300 & echo $! > {}; wait",
            pid_file.display()
        );
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let setter = {
            let cancel = std::sync::Arc::clone(&cancel);
            let pid_file = pid_file.clone();
            thread::spawn(move || {
                // Generous bound: the shell only has to fork once.
                for _ in 0..3000 {
                    if std::fs::read_to_string(&pid_file).is_ok_and(|pid| pid.ends_with('\n')) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                cancel.store(true, Ordering::SeqCst);
            })
        };
        // The grandchild `sleep` holds the output pipes: the run returns
        // only once it is dead too.
        let record = run_cancellable(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(600),
            &cancel,
        )
        .unwrap();
        setter.join().unwrap();
        assert!(record.cancelled && !record.timed_out);
        assert_eq!(record.exit_code, None);
        assert!(!record.succeeded());
        assert_eq!(record.stdout, "started\n");
        assert!(record.failure_summary().contains("cancelled"));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let alive = Command::new("kill")
            .args(["-0", pid.trim()])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        let zombie = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|stat| stat.contains(") Z"));
        assert!(!alive || zombie, "the shell's child {pid} survived");
    }

    #[test]
    fn an_unset_flag_changes_nothing() {
        let record = run_cancellable(
            Command::new("sh").args(["-c", "echo done"]),
            Duration::from_secs(30),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert!(record.succeeded() && !record.cancelled);
    }

    #[test]
    fn output_is_bounded_to_its_tail() {
        let record = run(
            Command::new("sh").args(["-c", "yes line | head -n 20000; echo last"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(record.stdout.len() <= OUTPUT_LIMIT);
        assert!(record.stdout.ends_with("line\nlast\n"));
    }
}
