//! The work journal: which work ids this node has started, and the results
//! the server has not accepted yet, kept in `work-journal.json` (mode 0600,
//! replaced atomically) in the state directory.
//!
//! It is what makes server work run at most once per id: an id is recorded
//! as started *before* it runs, so an agent killed mid-run finds it at its
//! next start and reports it interrupted instead of running it again, and a
//! result survives a restart until a check-in carrying it was accepted.
//! Accepted entries are kept (with a shortened output) so a re-delivered id
//! is answered from the journal; the oldest accepted ones are dropped past
//! [`JOURNAL_CAPACITY`] entries.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::PathBuf;

use jiff::Timestamp;
use patchline_api::checkin::{Work, WorkResult, WorkStatus};
use patchline_core::package::PackageRef;
use serde::{Deserialize, Serialize};

use crate::checkin::state::{StateDir, StateError};

/// The journal's file name under the state directory.
pub const JOURNAL_FILE: &str = "work-journal.json";
/// Accepted entries beyond this many are dropped, oldest first.
pub const JOURNAL_CAPACITY: usize = 1000;
/// Once the server accepted a result, only the end of its output is kept.
const ACCEPTED_OUTPUT_LIMIT: usize = 1024;
/// The output reported for work started by an agent that stopped mid-run.
pub const INTERRUPTED_OUTPUT: &str =
    "interrupted: the agent stopped while running this work; it is not run again";

/// One work id this node has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    pub id: String,
    /// `install`, `command`...
    pub kind: String,
    pub started_at: Timestamp,
    /// `None` while running (or when the agent stopped mid-run).
    #[serde(default)]
    pub result: Option<WorkResult>,
    /// A check-in carrying the result was accepted by the server.
    #[serde(default)]
    pub accepted: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalFile {
    #[serde(default)]
    entries: VecDeque<JournalEntry>,
    /// Packages the last install work failed to install (at the version it
    /// tried), reported in the inventory's `failed` list until the next
    /// install work replaces them.
    #[serde(default)]
    install_failures: Vec<PackageRef>,
}

/// The journal, loaded; every change is written through at once.
#[derive(Debug)]
pub struct WorkJournal {
    state: StateDir,
    file: JournalFile,
}

impl WorkJournal {
    /// Reads the journal of `state` (empty when there is none yet). A file
    /// that cannot be parsed is an error and is left as it is: ignoring it
    /// could run work a second time.
    pub fn load(state: &StateDir) -> Result<WorkJournal, StateError> {
        let path = journal_path(state);
        let file = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|error| StateError::CorruptJournal {
                    path: path.clone(),
                    reason: format!("invalid JSON ({error})"),
                })?
            }
            Err(cause) if cause.kind() == io::ErrorKind::NotFound => JournalFile::default(),
            Err(cause) => return Err(StateError::Read { path, cause }),
        };
        Ok(WorkJournal {
            state: state.clone(),
            file,
        })
    }

    pub fn path(&self) -> PathBuf {
        journal_path(&self.state)
    }

    pub fn entry(&self, id: &str) -> Option<&JournalEntry> {
        self.file.entries.iter().find(|entry| entry.id == id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &JournalEntry> {
        self.file.entries.iter()
    }

    /// Records `work` as started, before it runs.
    pub fn begin(&mut self, work: &Work, at: Timestamp) -> Result<(), StateError> {
        self.file.entries.retain(|entry| entry.id != work.id());
        self.file.entries.push_back(JournalEntry {
            id: work.id().to_owned(),
            kind: work.kind().to_owned(),
            started_at: at,
            result: None,
            accepted: false,
        });
        self.trim();
        self.save()
    }

    /// Records the result of started work, to report until accepted.
    pub fn finish(&mut self, result: &WorkResult) -> Result<(), StateError> {
        match self.entry_mut(&result.id) {
            Some(entry) => {
                entry.result = Some(result.clone());
                entry.accepted = false;
            }
            None => self.file.entries.push_back(JournalEntry {
                id: result.id.clone(),
                kind: "unknown".to_owned(),
                started_at: result.started_at,
                result: Some(result.clone()),
                accepted: false,
            }),
        }
        self.trim();
        self.save()
    }

    /// Turns every entry started but never finished into an `interrupted`
    /// failure (for the start of an agent: whoever started them stopped).
    /// Returns how many there were.
    pub fn interrupt_unfinished(&mut self, now: Timestamp) -> Result<usize, StateError> {
        let mut interrupted = 0;
        for entry in self.file.entries.iter_mut().filter(|e| e.result.is_none()) {
            entry.result = Some(interrupted_result(&entry.id, entry.started_at, now));
            entry.accepted = false;
            interrupted += 1;
        }
        if interrupted > 0 {
            self.save()?;
        }
        Ok(interrupted)
    }

    /// Results not yet accepted by the server, oldest first.
    pub fn unaccepted(&self) -> Vec<WorkResult> {
        self.file
            .entries
            .iter()
            .filter(|entry| !entry.accepted)
            .filter_map(|entry| entry.result.clone())
            .collect()
    }

    /// Marks `ids` reported to a server that accepted the check-in; their
    /// output is shortened, since it was delivered.
    pub fn accepted(&mut self, ids: &[String]) -> Result<(), StateError> {
        let mut changed = false;
        for entry in self
            .file
            .entries
            .iter_mut()
            .filter(|entry| ids.contains(&entry.id) && !entry.accepted)
        {
            if let Some(result) = &mut entry.result {
                entry.accepted = true;
                let kept = tail(&result.output, ACCEPTED_OUTPUT_LIMIT).len();
                result.output.drain(..result.output.len() - kept);
                changed = true;
            }
        }
        if changed {
            self.trim();
            self.save()?;
        }
        Ok(())
    }

    /// Asks for the stored result of `id` to be reported again (the server
    /// handed the id out once more).
    pub fn report_again(&mut self, id: &str) -> Result<(), StateError> {
        match self.entry_mut(id) {
            Some(entry) if entry.accepted => {
                entry.accepted = false;
                self.save()
            }
            _ => Ok(()),
        }
    }

    pub fn install_failures(&self) -> &[PackageRef] {
        &self.file.install_failures
    }

    pub fn set_install_failures(&mut self, failures: Vec<PackageRef>) -> Result<(), StateError> {
        if self.file.install_failures == failures {
            return Ok(());
        }
        self.file.install_failures = failures;
        self.save()
    }

    fn entry_mut(&mut self, id: &str) -> Option<&mut JournalEntry> {
        self.file.entries.iter_mut().find(|entry| entry.id == id)
    }

    /// Drops the oldest accepted entries beyond the capacity. Unaccepted
    /// and running entries always stay: dropping them would lose a result
    /// or allow a second run.
    fn trim(&mut self) {
        let mut excess = self.file.entries.len().saturating_sub(JOURNAL_CAPACITY);
        if excess == 0 {
            return;
        }
        self.file.entries.retain(|entry| {
            let droppable = entry.accepted && entry.result.is_some();
            if droppable && excess > 0 {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    fn save(&self) -> Result<(), StateError> {
        self.state.replace_file(JOURNAL_FILE, &self.file)
    }
}

fn journal_path(state: &StateDir) -> PathBuf {
    state.path().join(JOURNAL_FILE)
}

/// The result reported for `id`, started at `started_at` by an agent that
/// stopped before it finished.
pub fn interrupted_result(id: &str, started_at: Timestamp, now: Timestamp) -> WorkResult {
    WorkResult {
        id: id.to_owned(),
        status: WorkStatus::Failed,
        output: INTERRUPTED_OUTPUT.to_owned(),
        started_at,
        finished_at: now.max(started_at),
    }
}

/// The last `limit` bytes of `text`, cut at a character boundary.
pub(crate) fn tail(text: &str, limit: usize) -> &str {
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
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn command(id: &str) -> Work {
        Work::Command {
            id: id.into(),
            command: "true".into(),
            timeout_seconds: 5,
        }
    }

    fn result(id: &str, output: &str) -> WorkResult {
        WorkResult {
            id: id.into(),
            status: WorkStatus::Success,
            output: output.into(),
            started_at: Timestamp::UNIX_EPOCH,
            finished_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn output_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aé", 2), "é");
    }

    #[test]
    fn started_and_finished_work_survives_a_reload_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let mut journal = WorkJournal::load(&state).unwrap();
        assert!(journal.entry("w1").is_none());
        journal
            .begin(&command("w1"), Timestamp::UNIX_EPOCH)
            .unwrap();
        journal
            .begin(&command("w2"), Timestamp::UNIX_EPOCH)
            .unwrap();
        journal.finish(&result("w1", "done")).unwrap();
        let mode = fs::metadata(journal.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let mut again = WorkJournal::load(&state).unwrap();
        assert_eq!(again.unaccepted(), [result("w1", "done")]);
        assert!(again.entry("w2").unwrap().result.is_none());
        assert_eq!(again.interrupt_unfinished(Timestamp::now()).unwrap(), 1);
        let reported = again.unaccepted();
        assert_eq!(reported.len(), 2);
        assert_eq!(reported[1].status, WorkStatus::Failed);
        assert_eq!(reported[1].output, INTERRUPTED_OUTPUT);
        let leftovers: Vec<_> = fs::read_dir(state.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [JOURNAL_FILE], "no temporary file left");
    }

    #[test]
    fn accepted_results_are_kept_short_and_can_be_reported_again() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut journal = WorkJournal::load(&state).unwrap();
        journal
            .begin(&command("w1"), Timestamp::UNIX_EPOCH)
            .unwrap();
        let long = format!("{}END", "x".repeat(10_000));
        journal.finish(&result("w1", &long)).unwrap();
        journal.accepted(&["w1".to_owned()]).unwrap();
        assert!(journal.unaccepted().is_empty());
        let kept = journal.entry("w1").unwrap().result.clone().unwrap();
        assert_eq!(kept.output.len(), ACCEPTED_OUTPUT_LIMIT);
        assert!(kept.output.ends_with("END"));
        journal.report_again("w1").unwrap();
        assert_eq!(WorkJournal::load(&state).unwrap().unaccepted(), [kept]);
    }

    #[test]
    fn only_accepted_entries_are_dropped_past_the_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut journal = WorkJournal::load(&state).unwrap();
        // Built in memory: a thousand fsynced writes would only slow the test.
        for n in 0..JOURNAL_CAPACITY + 5 {
            let id = format!("w{n}");
            journal.file.entries.push_back(JournalEntry {
                id: id.clone(),
                kind: "command".into(),
                started_at: Timestamp::UNIX_EPOCH,
                result: Some(result(&id, "")),
                accepted: n != 0,
            });
        }
        journal
            .begin(&command("new"), Timestamp::UNIX_EPOCH)
            .unwrap();
        assert_eq!(journal.entries().count(), JOURNAL_CAPACITY);
        assert!(journal.entry("w0").is_some(), "not accepted yet: kept");
        assert!(journal.entry("w1").is_none());
        assert!(journal.entry("w6").is_none());
        assert!(journal.entry("w7").is_some());
        assert!(journal.entry("new").is_some());
    }

    #[test]
    fn a_corrupt_journal_is_an_error_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        fs::write(dir.path().join(JOURNAL_FILE), b"{\"entries\": [").unwrap();
        let error = WorkJournal::load(&state).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(JOURNAL_FILE), "{message}");
        assert!(message.contains("run a second time"), "{message}");
        assert_eq!(
            fs::read(dir.path().join(JOURNAL_FILE)).unwrap(),
            b"{\"entries\": ["
        );
    }

    #[test]
    fn install_failures_persist() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut journal = WorkJournal::load(&state).unwrap();
        journal
            .set_install_failures(vec![PackageRef::named("kit-bad")])
            .unwrap();
        let again = WorkJournal::load(&state).unwrap();
        assert_eq!(again.install_failures(), [PackageRef::named("kit-bad")]);
    }
}
