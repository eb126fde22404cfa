//! The orchestrator: maintenance-window executions, Patch Now, and the
//! work handed to agents at check-in.
//!
//! All of its state lives in the store. A scheduling round reads the store,
//! decides with the pure functions of `patchline_core::orchestration`, and
//! writes each transition with a conditional UPDATE, so a restarted server
//! resumes where the last one stopped and two servers on one database never
//! make the same transition twice.

pub mod clock;
pub mod targets;
