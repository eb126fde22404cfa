//! Running the work the server hands out and turning it into the
//! [`WorkResult`] the next check-in reports.
//!
//! `Work::Scan` asks for a fresh scan now: with `refresh` the node's package
//! manager refreshes repository metadata first. The scan itself is the next
//! check-in, which follows at once. There is no install work yet; when it
//! comes, a scan-only agent refuses it here.

use std::time::Duration;

use jiff::Timestamp;
use patchline_api::checkin::{Work, WorkResult, WorkStatus};

use crate::driver::{self, CommandRecord, DriverError, DriverTimeouts};
use crate::facts::read_facts;
use crate::root::NodeRoot;

/// Output reported to the server is bounded to its last 64 KiB.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// Runs one work item (blocking: it may run the package manager).
pub fn run_work(root: &NodeRoot, work: &Work, refresh_timeout: Duration) -> WorkResult {
    let started_at = Timestamp::now();
    let (status, output) = match work {
        Work::Scan { refresh: false, .. } => (
            WorkStatus::Success,
            "rescan requested: this check-in carries a fresh scan".to_owned(),
        ),
        Work::Scan { refresh: true, .. } => refresh_metadata(root, refresh_timeout),
    };
    WorkResult {
        id: work.id().to_owned(),
        status,
        output: tail(&output, OUTPUT_LIMIT).to_owned(),
        started_at,
        finished_at: Timestamp::now(),
    }
}

fn refresh_metadata(root: &NodeRoot, timeout: Duration) -> (WorkStatus, String) {
    let facts = match read_facts(root) {
        Ok(facts) => facts,
        Err(error) => return (WorkStatus::Failed, format!("reading facts: {error}")),
    };
    let refreshed = driver::for_node(root, &facts.os, DriverTimeouts::default())
        .and_then(|driver| driver.refresh(timeout));
    match refreshed {
        Ok(record) => (WorkStatus::Success, command_output(&record)),
        Err(DriverError::Failed(record)) if record.timed_out => {
            (WorkStatus::TimedOut, command_output(&record))
        }
        Err(DriverError::Failed(record)) => (
            WorkStatus::Failed,
            format!("{}\n{}", record.failure_summary(), command_output(&record)),
        ),
        Err(error) => (WorkStatus::Failed, error.to_string()),
    }
}

fn command_output(record: &CommandRecord) -> String {
    format!(
        "$ {}\n{}{}",
        record.command.join(" "),
        record.stdout,
        record.stderr
    )
}

/// The last `limit` bytes of `text`, cut at a character boundary.
fn tail(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aé", 2), "é");
    }

    #[test]
    fn a_plain_rescan_succeeds_without_touching_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let work = Work::Scan {
            id: "w1".into(),
            refresh: false,
        };
        let result = run_work(&NodeRoot::new(dir.path()), &work, Duration::from_secs(1));
        assert_eq!(
            (result.id.as_str(), result.status),
            ("w1", WorkStatus::Success)
        );
        assert!(result.finished_at >= result.started_at);
    }

    #[test]
    fn a_refresh_on_an_unreadable_root_fails_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let work = Work::Scan {
            id: "w2".into(),
            refresh: true,
        };
        let result = run_work(&NodeRoot::new(dir.path()), &work, Duration::from_secs(1));
        assert_eq!(result.status, WorkStatus::Failed);
        assert!(result.output.contains("os-release"), "{}", result.output);
    }
}
