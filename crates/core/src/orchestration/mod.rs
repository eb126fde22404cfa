//! The orchestrator's decisions, as pure functions of values read from the
//! store: rate control of a task over many nodes, zone-by-zone rollout,
//! statuses and their aggregation, window planning and overlaps, the
//! high-availability placement rule, target queries, quotas and automatic
//! tagging rules.
//!
//! Nothing here keeps state between calls or reads a clock: the server's
//! scheduler reads the store, asks these functions what to do, and writes
//! the transitions, so a restart or a second server reaches the same
//! decisions.

pub mod limit;
pub mod placement;
pub mod planner;
pub mod quotas;
pub mod rate_control;
pub mod rollout;
pub mod status;
pub mod tagging;
pub mod targets;

pub use limit::{Limit, LimitError};
pub use placement::{NodePlacement, SharedWindowWarning, shared_window_warnings};
pub use planner::{
    PlanCheck, RECOMMENDED_CUTOFF_HOURS, overlaps, plan, recommended_duration_hours,
};
pub use quotas::{Quota, QuotaExceeded, Quotas};
pub use rate_control::{Dispatch, RateControl};
pub use rollout::{RolloutDispatch, ZoneBatch, ZoneRollout, zone_batches};
pub use status::{
    ExecutionStatus, InvocationCounts, InvocationStatus, UnknownStatus, task_outcome,
};
pub use tagging::{CompiledRules, RuleFacts, RuleMatch, TaggingRule, TaggingRuleError, rule_tags};
pub use targets::{ANY_VALUE, TargetQuery, TargetQueryError};
