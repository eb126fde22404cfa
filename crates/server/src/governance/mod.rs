//! Governance of maintenance: what a window must satisfy before it is
//! stored ([`window_check`]: field validation and the quotas), the
//! planner's view of a window ([`planner`]: recommended length, overlaps,
//! high-availability warnings), and opt-out governance at enrolment: the
//! tagging rules applied to a new node.
//!
//! The stored side (settings, rules, the rule layer of tags, rules re-run
//! at check-ins whose facts changed) lives in `store::governance`; the
//! default patch group takes part in baseline resolution
//! (`compliance::resolve`), the default window in window membership
//! (`orchestrator::targets`).

pub mod planner;
pub mod window_check;

use jiff::Timestamp;

use crate::app::AppState;

/// Applies the tagging rules to a node just enrolled. The enrolment is
/// stored already, so a failure (a server problem, logged here) must not
/// fail it: the rules apply again at the node's next facts change or the
/// next rule change.
pub async fn apply_on_enrolment(state: &AppState, node_id: &str, now: Timestamp) {
    if let Err(error) = state.store.apply_tagging_rules(node_id, now).await {
        tracing::error!(node = %node_id, %error, "applying the tagging rules at enrolment failed");
    }
}
