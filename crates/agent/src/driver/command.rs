//! Running external programs for the drivers and the install hooks: a
//! timeout that kills the whole process group (a hook's `sh -c` children
//! too), output captured up to a bound (a chatty `apt-get` or hook cannot
//! exhaust memory), and a record of what ran that reports carry.
//!
//! Only variable *names* are ever recorded, never their values: hook
//! environments may carry secrets.

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The most output kept per stream: its last bytes (where errors are).
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// What one program run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandRecord {
    /// The program and its arguments, as run.
    pub command: Vec<String>,
    /// `None` when killed by a signal or the timeout.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The last [`OUTPUT_LIMIT`] bytes of stdout, lossily decoded.
    pub stdout: String,
    /// The last [`OUTPUT_LIMIT`] bytes of stderr, lossily decoded.
    pub stderr: String,
}

impl CommandRecord {
    /// Exit code 0 within the timeout.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A one-line reason for a failure: the exit, and the last
    /// non-empty stderr (else stdout) line.
    pub fn failure_summary(&self) -> String {
        let exit = match (self.timed_out, self.exit_code) {
            (true, _) => "timed out".to_owned(),
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
    let (status, timed_out) = wait(&mut child, timeout).map_err(spawn_error)?;
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader
            .and_then(|handle| handle.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    Ok(CommandRecord {
        command: words,
        exit_code: if timed_out { None } else { status.code() },
        timed_out,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn wait(child: &mut Child, timeout: Duration) -> std::io::Result<(std::process::ExitStatus, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, false));
        }
        if Instant::now() >= deadline {
            kill_group(child);
            return Ok((child.wait()?, true));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn kill_group(child: &mut Child) {
    // std has no killpg; `kill -KILL -- -PGID` reaches every process of the
    // group. The direct kill covers a missing `kill` binary.
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
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
