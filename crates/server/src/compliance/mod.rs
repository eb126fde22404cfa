//! The compliance engine: resolves each node's baseline, evaluates each
//! distinct (inventory, baseline version, UTC day) once with the core's
//! [`Evaluator`](patchline_core::compliance::Evaluator), and keeps every
//! node's summary, the shared per-distinct results and a daily history in
//! the store so reports never re-evaluate.

mod cache;
pub mod codec;
pub mod csv_export;
mod engine;
pub mod fleet_view;
pub mod key;
pub mod report;
pub mod resolve;

pub use engine::{ComplianceEngine, ComplianceError, DEFAULT_RESULT_CACHE};
pub use key::EvaluationKey;
mod daily;

pub use daily::{spawn_daily_reevaluation, until_next_utc_midnight};
