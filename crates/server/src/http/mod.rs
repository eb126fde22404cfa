//! The HTTP API: the router, the error mapping and one module of handlers
//! per resource.

pub mod agent;
pub mod compliance;
pub mod enrolment;
pub mod error;
pub mod executions;
pub mod extract;
pub mod governance;
pub mod nodes;
pub mod openapi;
pub mod operators;
pub mod ops;
pub mod policy;
pub mod windows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use patchline_api::routes;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

/// Every route of the API with its limits and middleware.
pub fn router(state: AppState) -> Router {
    let agent_limit = DefaultBodyLimit::max(state.config.agent_body_limit);
    let api = Router::new()
        .route(routes::HEALTHZ, get(ops::healthz))
        .route(routes::METRICS, get(ops::metrics))
        .route(routes::OPENAPI, get(openapi::openapi_json))
        .route(routes::LOGIN, post(operators::login))
        .route(routes::WHOAMI, get(operators::whoami))
        .route(
            routes::USERS,
            get(operators::list_users).post(operators::create_user),
        )
        .route(routes::USER, delete(operators::delete_user))
        .route(
            routes::TOKENS,
            get(operators::list_tokens).post(operators::create_token),
        )
        .route(routes::TOKEN, delete(operators::revoke_token))
        .route(
            routes::ENROLMENT_SECRETS,
            get(enrolment::list_secrets).post(enrolment::create_secret),
        )
        .route(routes::ENROLMENT_SECRET, delete(enrolment::revoke_secret))
        .route(routes::ENROL, post(enrolment::enrol).layer(agent_limit))
        .route(routes::CHECKIN, post(agent::checkin).layer(agent_limit))
        .route(
            routes::WORK_READY,
            get(agent::work_ready).layer(agent_limit),
        )
        .route(
            routes::AGENT_WORK_CANCEL,
            get(agent::work_cancel).layer(agent_limit),
        )
        .route(routes::NODES, get(nodes::list_nodes))
        .route(
            routes::NODE,
            get(nodes::get_node).delete(nodes::delete_node),
        )
        .route(routes::NODE_TAGS, put(nodes::set_tags))
        .route(routes::BASELINES, get(policy::list_baselines))
        .route(
            routes::BASELINE,
            get(policy::get_baseline)
                .put(policy::put_baseline)
                .delete(policy::delete_baseline),
        )
        .route(routes::BASELINE_VERSIONS, get(policy::baseline_versions))
        .route(routes::PATCH_GROUPS, get(policy::list_patch_groups))
        .route(
            routes::PATCH_GROUP,
            get(policy::get_patch_group)
                .put(policy::put_patch_group)
                .delete(policy::delete_patch_group),
        )
        .route(routes::AUDIT, get(ops::audit))
        .route(routes::EXECUTIONS, get(executions::list_executions))
        .route(routes::EXECUTION, get(executions::get_execution))
        .route(routes::EXECUTION_CANCEL, post(executions::cancel_execution))
        .route(routes::PATCH_NOW, post(executions::patch_now))
        .route(routes::WINDOWS, get(windows::list_windows))
        .route(
            routes::WINDOW,
            get(windows::get_window)
                .put(windows::put_window)
                .delete(windows::delete_window),
        )
        .route(routes::WINDOW_PLAN, get(windows::window_plan))
        .route(routes::TAGGING_RULES, get(governance::list_tagging_rules))
        .route(
            routes::TAGGING_RULE,
            put(governance::put_tagging_rule).delete(governance::delete_tagging_rule),
        )
        .route(
            routes::GOVERNANCE,
            get(governance::get_governance).put(governance::put_governance),
        )
        .route(routes::QUOTAS, get(governance::get_quotas))
        .merge(compliance::routes());
    api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        ops::record_request,
    ))
    .layer(DefaultBodyLimit::max(state.config.body_limit))
    .layer(TraceLayer::new_for_http())
    .layer(axum::middleware::map_response(extract::json_errors))
    .with_state(state)
}
