//! Server work, run exactly once per id: every item goes through the work
//! journal ([`crate::checkin::journal`]) before and after it runs, and its
//! result is kept there until a check-in carrying it was accepted.
//!
//! An id already in the journal is never run again: a finished one's
//! stored result is reported again; one started but never finished (the
//! agent was killed mid-run) is reported failed, `interrupted`. Work the
//! journal cannot record is not run at all, since a crash could then run
//! it twice. The runner holds the state directory's lock (from its start
//! when the directory exists, else from its first work item): a second
//! agent on the same directory would take this one's running work for
//! interrupted work.

use jiff::Timestamp;
use patchline_api::checkin::{Work, WorkResult, WorkStatus};
use patchline_core::package::PackageRef;
use tracing::{error, info, warn};

use crate::checkin::journal::{WorkJournal, interrupted_result};
use crate::checkin::state::{StateDir, StateError, StateLock};
use crate::checkin::work::{CancelRequest, WorkSettings, execute_cancellable};
use crate::root::NodeRoot;

/// Runs work on one node root, through its journal.
#[derive(Debug)]
pub struct WorkRunner {
    state: StateDir,
    lock: Option<StateLock>,
    root: NodeRoot,
    settings: WorkSettings,
    journal: WorkJournal,
    /// Results the journal could not keep (its file could not be written):
    /// reported from memory.
    unjournaled: Vec<WorkResult>,
}

impl WorkRunner {
    /// Loads the journal of `state`. Work an earlier agent started and
    /// never finished is reported `interrupted` from now on.
    pub fn open(
        state: &StateDir,
        root: NodeRoot,
        settings: WorkSettings,
    ) -> Result<WorkRunner, StateError> {
        let lock = if state.path().is_dir() {
            Some(state.lock()?)
        } else {
            None
        };
        let mut journal = WorkJournal::load(state)?;
        let interrupted = journal.interrupt_unfinished(Timestamp::now())?;
        if interrupted > 0 {
            warn!(
                interrupted,
                "work started by an earlier run of the agent never finished: reported \
                 as interrupted, not run again"
            );
        }
        Ok(WorkRunner {
            state: state.clone(),
            lock,
            root,
            settings,
            journal,
            unjournaled: Vec::new(),
        })
    }

    pub fn journal(&self) -> &WorkJournal {
        &self.journal
    }

    /// Runs the items one after the other (blocking) and returns their
    /// results, which are also kept for [`WorkRunner::unreported`].
    pub fn run(&mut self, items: &[Work]) -> Vec<WorkResult> {
        items
            .iter()
            .map(|work| self.run_one(work, &CancelRequest::default()))
            .collect()
    }

    /// Runs one item (blocking), stopped as [`crate::checkin::work`] says
    /// when `cancel` is requested meanwhile. A cancelled run is journaled
    /// finished like any other: its id is never run again.
    pub fn run_one(&mut self, work: &Work, cancel: &CancelRequest) -> WorkResult {
        let id = work.id();
        if let Some(result) = self.unjournaled.iter().find(|r| r.id == id) {
            return result.clone();
        }
        if let Some(entry) = self.journal.entry(id) {
            info!(work = %id, kind = work.kind(), "work already started once: not run again");
            let known = entry.result.clone();
            let started_at = entry.started_at;
            let recorded = match known {
                Some(result) => self.journal.report_again(id).map(|()| result),
                None => {
                    let result = interrupted_result(id, started_at, Timestamp::now());
                    self.journal.finish(&result).map(|()| result)
                }
            };
            return match recorded {
                Ok(result) => result,
                Err(cause) => {
                    let result = not_recorded(work, &cause);
                    self.unjournaled.push(result.clone());
                    result
                }
            };
        }
        if let Err(cause) = self
            .ensure_locked()
            .and_then(|()| self.journal.begin(work, Timestamp::now()))
        {
            error!(work = %id, error = %cause, "cannot record work in the journal: not run");
            let result = not_recorded(work, &cause);
            self.unjournaled.push(result.clone());
            return result;
        }
        info!(work = %id, kind = work.kind(), "running work");
        let run = execute_cancellable(&self.root, work, &self.settings, cancel);
        if let Some(failures) = run.install_failures
            && let Err(cause) = self.journal.set_install_failures(failures)
        {
            warn!(error = %cause, "cannot keep the failed installs in the journal");
        }
        if let Err(cause) = self.journal.finish(&run.result) {
            error!(work = %id, error = %cause, "cannot keep the work result in the journal");
            self.unjournaled.push(run.result.clone());
        }
        info!(work = %id, status = ?run.result.status, "work finished");
        run.result
    }

    fn ensure_locked(&mut self) -> Result<(), StateError> {
        if self.lock.is_none() {
            self.lock = Some(self.state.lock()?);
        }
        Ok(())
    }

    /// Results to send with the next check-in.
    pub fn unreported(&self) -> Vec<WorkResult> {
        let mut results = self.journal.unaccepted();
        for result in &self.unjournaled {
            if !results.iter().any(|r| r.id == result.id) {
                results.push(result.clone());
            }
        }
        results
    }

    /// The server accepted a check-in carrying these results.
    pub fn accepted(&mut self, ids: &[String]) -> Result<(), StateError> {
        self.unjournaled.retain(|result| !ids.contains(&result.id));
        self.journal.accepted(ids)
    }

    /// Packages the last install work failed to install.
    pub fn install_failures(&self) -> &[PackageRef] {
        self.journal.install_failures()
    }
}

fn not_recorded(work: &Work, cause: &StateError) -> WorkResult {
    let now = Timestamp::now();
    WorkResult {
        id: work.id().to_owned(),
        status: WorkStatus::Failed,
        output: format!(
            "not run: the work journal cannot record it ({cause}); without the record \
             a crash could run it twice"
        ),
        started_at: now,
        finished_at: now,
    }
}
