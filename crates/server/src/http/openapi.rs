//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API.
//!
//! The schemas come from the wire types' `ToSchema` derives; the paths are
//! built from one table below, keyed by the route constants of
//! `patchline_api::routes`, so a path cannot drift from the router's.

use std::sync::OnceLock;

use axum::Json;
use patchline_api::routes;
use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ArrayBuilder, Content, Ref, Required, ResponseBuilder};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patchline",
        description = "Self-hosted patch management for Linux fleets: the control plane's API."
    ),
    components(schemas(
        patchline_api::ErrorBody,
        patchline_api::auth::Role,
        patchline_api::auth::TagScope,
        patchline_api::auth::LoginRequest,
        patchline_api::auth::LoginResponse,
        patchline_api::auth::WhoAmI,
        patchline_api::auth::CreateUserRequest,
        patchline_api::auth::UserView,
        patchline_api::auth::CreateTokenRequest,
        patchline_api::auth::TokenCreated,
        patchline_api::auth::TokenView,
        patchline_api::enrolment::CreateEnrolmentSecretRequest,
        patchline_api::enrolment::EnrolmentSecretCreated,
        patchline_api::enrolment::EnrolmentSecretView,
        patchline_api::enrolment::EnrolRequest,
        patchline_api::enrolment::EnrolResponse,
        patchline_api::checkin::CheckinRequest,
        patchline_api::checkin::CheckinResponse,
        patchline_api::checkin::Inventory,
        patchline_api::checkin::NodeFacts,
        patchline_api::checkin::WorkReady,
        patchline_api::checkin::WorkCancel,
        patchline_api::windows::CutoffBehavior,
        patchline_api::executions::ExecutionKind,
        patchline_api::executions::ExecutionView,
        patchline_api::executions::TaskExecutionView,
        patchline_api::executions::InvocationView,
        patchline_api::executions::PatchNowRequest,
        patchline_api::nodes::NodeView,
        patchline_api::nodes::SetTagsRequest,
        patchline_api::nodes::NodeComplianceSummary,
        patchline_api::baselines::PutBaselineRequest,
        patchline_api::baselines::BaselineView,
        patchline_api::baselines::BaselineVersionView,
        patchline_api::baselines::PutOutcome,
        patchline_api::groups::PatchGroup,
        patchline_api::compliance::SummaryBy,
        patchline_api::compliance::ComplianceGroupSummary,
        patchline_api::compliance::NodeComplianceRow,
        patchline_api::compliance::NodeComplianceDetail,
        patchline_api::compliance::PatchComplianceRow,
        patchline_api::compliance::HistoryPoint,
        patchline_api::audit::AuditEntry,
        patchline_api::windows::WindowSpec,
        patchline_api::windows::TaskSpec,
        patchline_api::windows::TaskAction,
        patchline_api::windows::PatchOperation,
        patchline_api::windows::Reboot,
        patchline_api::windows::WindowView,
        patchline_api::windows::PutWindowOutcome,
        patchline_api::windows::WindowPlan,
        patchline_api::windows::WindowOverlap,
        patchline_api::governance::GovernanceSettings,
        patchline_api::governance::TaggingRuleView,
        patchline_api::governance::QuotasView,
        super::ops::Health,
    ))
)]
struct Schemas;

/// What a route answers on success.
enum Answer {
    /// 200 with one schema.
    One(&'static str),
    /// 200 with an array of a schema.
    Many(&'static str),
    /// 201 with one schema.
    Created(&'static str),
    /// 204, no body.
    NoContent,
    /// 200 with text (Prometheus).
    Text,
}

struct RouteDoc {
    method: HttpMethod,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    answer: Answer,
    /// Needs `Authorization: Bearer`.
    bearer: bool,
}

const fn doc(
    method: HttpMethod,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    answer: Answer,
) -> RouteDoc {
    RouteDoc {
        method,
        path,
        tag,
        summary,
        body,
        answer,
        bearer: true,
    }
}

const fn open(mut route: RouteDoc) -> RouteDoc {
    route.bearer = false;
    route
}

use Answer::*;
use HttpMethod::{Delete, Get, Post, Put};

/// Every route the server serves.
const ROUTES: &[RouteDoc] = &[
    open(doc(
        Get,
        routes::HEALTHZ,
        "operations",
        "Health: the database answers",
        None,
        One("Health"),
    )),
    open(doc(
        Get,
        routes::METRICS,
        "operations",
        "Prometheus metrics",
        None,
        Text,
    )),
    open(doc(
        Get,
        routes::OPENAPI,
        "operations",
        "This document",
        None,
        Text,
    )),
    open(doc(
        Post,
        routes::LOGIN,
        "operators",
        "Log in: a 12-hour session token",
        Some("LoginRequest"),
        One("LoginResponse"),
    )),
    doc(
        Get,
        routes::WHOAMI,
        "operators",
        "Who the token belongs to",
        None,
        One("WhoAmI"),
    ),
    doc(
        Get,
        routes::USERS,
        "operators",
        "List users",
        None,
        Many("UserView"),
    ),
    doc(
        Post,
        routes::USERS,
        "operators",
        "Create a user (admin)",
        Some("CreateUserRequest"),
        Created("UserView"),
    ),
    doc(
        Delete,
        routes::USER,
        "operators",
        "Delete a user and its sessions (admin)",
        None,
        NoContent,
    ),
    doc(
        Get,
        routes::TOKENS,
        "operators",
        "List API and session tokens",
        None,
        Many("TokenView"),
    ),
    doc(
        Post,
        routes::TOKENS,
        "operators",
        "Create an API token (admin), shown once",
        Some("CreateTokenRequest"),
        Created("TokenCreated"),
    ),
    doc(
        Delete,
        routes::TOKEN,
        "operators",
        "Revoke a token (admin)",
        None,
        NoContent,
    ),
    doc(
        Get,
        routes::ENROLMENT_SECRETS,
        "enrolment",
        "List enrolment secrets",
        None,
        Many("EnrolmentSecretView"),
    ),
    doc(
        Post,
        routes::ENROLMENT_SECRETS,
        "enrolment",
        "Create an enrolment secret (admin), shown once",
        Some("CreateEnrolmentSecretRequest"),
        Created("EnrolmentSecretCreated"),
    ),
    doc(
        Delete,
        routes::ENROLMENT_SECRET,
        "enrolment",
        "Revoke an enrolment secret (admin)",
        None,
        NoContent,
    ),
    open(doc(
        Post,
        routes::ENROL,
        "agents",
        "Trade an enrolment secret for a node credential",
        Some("EnrolRequest"),
        One("EnrolResponse"),
    )),
    doc(
        Post,
        routes::CHECKIN,
        "agents",
        "Check in with facts, tags and the inventory by hash (node credential)",
        Some("CheckinRequest"),
        One("CheckinResponse"),
    ),
    doc(
        Get,
        routes::WORK_READY,
        "agents",
        "Wait until the node has work queued (true) or the wait ends (false) (node credential)",
        None,
        One("WorkReady"),
    ),
    doc(
        Get,
        routes::AGENT_WORK_CANCEL,
        "agents",
        "Wait until the server asks that the node's running work item stop (cancel: true) or the wait ends (node credential; 404 for another node's work)",
        None,
        One("WorkCancel"),
    ),
    doc(
        Get,
        routes::NODES,
        "nodes",
        "List nodes (app-team: its scope)",
        None,
        Many("NodeView"),
    ),
    doc(
        Get,
        routes::NODE,
        "nodes",
        "One node",
        None,
        One("NodeView"),
    ),
    doc(
        Delete,
        routes::NODE,
        "nodes",
        "Delete a node and its credential (admin)",
        None,
        NoContent,
    ),
    doc(
        Put,
        routes::NODE_TAGS,
        "nodes",
        "Set or remove operator tags",
        Some("SetTagsRequest"),
        One("NodeView"),
    ),
    doc(
        Get,
        routes::BASELINES,
        "baselines",
        "List baselines",
        None,
        Many("BaselineView"),
    ),
    doc(
        Get,
        routes::BASELINE,
        "baselines",
        "One baseline",
        None,
        One("BaselineView"),
    ),
    doc(
        Put,
        routes::BASELINE,
        "baselines",
        "Create or replace a baseline; re-evaluates the fleet",
        Some("PutBaselineRequest"),
        One("PutOutcome"),
    ),
    doc(
        Delete,
        routes::BASELINE,
        "baselines",
        "Delete a baseline",
        None,
        NoContent,
    ),
    doc(
        Get,
        routes::BASELINE_VERSIONS,
        "baselines",
        "A baseline's versions, newest first",
        None,
        Many("BaselineVersionView"),
    ),
    doc(
        Get,
        routes::PATCH_GROUPS,
        "patch-groups",
        "List patch groups",
        None,
        Many("PatchGroup"),
    ),
    doc(
        Get,
        routes::PATCH_GROUP,
        "patch-groups",
        "One patch group",
        None,
        One("PatchGroup"),
    ),
    doc(
        Put,
        routes::PATCH_GROUP,
        "patch-groups",
        "Create or replace a patch group; re-evaluates the fleet",
        Some("PatchGroup"),
        One("PutOutcome"),
    ),
    doc(
        Delete,
        routes::PATCH_GROUP,
        "patch-groups",
        "Delete a patch group",
        None,
        NoContent,
    ),
    doc(
        Get,
        routes::WINDOWS,
        "windows",
        "List maintenance windows with their next openings and target counts",
        None,
        Many("WindowView"),
    ),
    doc(
        Get,
        routes::WINDOW,
        "windows",
        "One maintenance window",
        None,
        One("WindowView"),
    ),
    doc(
        Put,
        routes::WINDOW,
        "windows",
        "Create or replace a window (400 names the invalid field, 409 a quota); answers the planner's warnings",
        Some("WindowSpec"),
        One("PutWindowOutcome"),
    ),
    doc(
        Delete,
        routes::WINDOW,
        "windows",
        "Delete a window (not the governance default window)",
        None,
        NoContent,
    ),
    doc(
        Get,
        routes::WINDOW_PLAN,
        "windows",
        "The planner: recommended duration and cutoff, problems, overlaps, high-availability warnings",
        None,
        One("WindowPlan"),
    ),
    doc(
        Get,
        routes::TAGGING_RULES,
        "governance",
        "Tagging rules in the order they apply, with the nodes each matches",
        None,
        Many("TaggingRuleView"),
    ),
    doc(
        Put,
        routes::TAGGING_RULE,
        "governance",
        "Create or replace a tagging rule; re-tags every node",
        Some("TaggingRule"),
        One("TaggingRuleView"),
    ),
    doc(
        Delete,
        routes::TAGGING_RULE,
        "governance",
        "Delete a tagging rule; re-tags every node",
        None,
        NoContent,
    ),
    doc(
        Get,
        routes::GOVERNANCE,
        "governance",
        "The default window and default patch group",
        None,
        One("GovernanceSettings"),
    ),
    doc(
        Put,
        routes::GOVERNANCE,
        "governance",
        "Set the default window and default patch group",
        Some("GovernanceSettings"),
        One("GovernanceSettings"),
    ),
    doc(
        Get,
        routes::QUOTAS,
        "governance",
        "The quotas in force",
        None,
        One("QuotasView"),
    ),
    doc(
        Get,
        routes::COMPLIANCE_SUMMARY,
        "compliance",
        "Compliance by a dimension (?by=, ?format=csv)",
        None,
        Many("ComplianceGroupSummary"),
    ),
    doc(
        Get,
        routes::COMPLIANCE_NODES,
        "compliance",
        "Compliance per node (?format=csv)",
        None,
        Many("NodeComplianceRow"),
    ),
    doc(
        Get,
        routes::COMPLIANCE_NODE,
        "compliance",
        "One node's compliance, package by package",
        None,
        One("NodeComplianceDetail"),
    ),
    doc(
        Get,
        routes::COMPLIANCE_PATCHES,
        "compliance",
        "Compliance per patch (?format=csv)",
        None,
        Many("PatchComplianceRow"),
    ),
    doc(
        Get,
        routes::COMPLIANCE_HISTORY,
        "compliance",
        "Daily compliance history (?format=csv)",
        None,
        Many("HistoryPoint"),
    ),
    doc(
        Get,
        routes::AUDIT,
        "audit",
        "The audit log (?after=, ?limit=; admin, auditor)",
        None,
        Many("AuditEntry"),
    ),
    doc(
        Get,
        routes::EXECUTIONS,
        "executions",
        "Window and Patch Now executions, newest first, with task counts",
        None,
        Many("ExecutionView"),
    ),
    doc(
        Get,
        routes::EXECUTION,
        "executions",
        "One execution with every invocation (status, bounded output, timings)",
        None,
        One("ExecutionView"),
    ),
    doc(
        Post,
        routes::EXECUTION_CANCEL,
        "executions",
        "Cancel an execution: pending and queued invocations are cancelled, the agents of running ones are asked to stop them",
        None,
        One("ExecutionView"),
    ),
    doc(
        Post,
        routes::PATCH_NOW,
        "executions",
        "Install on chosen nodes now (snapshot first unless waived with a reason; 409 at the concurrent-executions quota)",
        Some("PatchNowRequest"),
        Created("ExecutionView"),
    ),
];

const FORMAT: (&str, &str) = ("format", "`json` (default) or `csv`");
const BY: (&str, &str) = (
    "by",
    "patch-group, environment, zone, baseline, os-family or application",
);

/// The optional query parameters of a route, with what they do.
fn query_parameters(path: &str) -> &'static [(&'static str, &'static str)] {
    match path {
        routes::NODES => &[("tag", "`Key=Value`: only nodes with this tag")],
        routes::WORK_READY => &[(
            "wait",
            "seconds to wait at most (50 by default, 60 at most)",
        )],
        routes::AGENT_WORK_CANCEL => &[(
            "wait",
            "seconds to wait at most (50 by default, 60 at most, 0: answer at once)",
        )],
        routes::EXECUTIONS => &[
            ("window", "only this window's executions"),
            ("limit", "at most this many (50 by default, 1000 at most)"),
        ],
        routes::COMPLIANCE_SUMMARY => &[BY, FORMAT],
        routes::COMPLIANCE_NODES => &[
            ("status", "compliant, non-compliant or unreported"),
            ("baseline", "only nodes evaluated against this baseline"),
            FORMAT,
        ],
        routes::COMPLIANCE_PATCHES => &[FORMAT],
        routes::COMPLIANCE_HISTORY => &[("days", "how many days back"), BY, FORMAT],
        routes::AUDIT => &[
            ("after", "only entries with a greater id"),
            ("limit", "at most this many (100 by default, 1000 at most)"),
        ],
        _ => &[],
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> utoipa::openapi::OpenApi {
    let mut api = Schemas::openapi();
    if let Some(components) = api.components.as_mut() {
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
    if let Some(components) = api.components.as_mut() {
        components
            .schemas
            .insert("TaggingRule".to_owned(), tagging_rule_schema());
    }
    for route in ROUTES {
        api.paths
            .add_path_operation(route.path, vec![route.method.clone()], operation(route));
    }
    api
}

/// The core's `TaggingRule` (the core crate has no schema derives).
fn tagging_rule_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A tagging rule: `name`, `when` (hostname glob, os_family, os_id, os_version, \
             arch, network CIDR; all given must match) and `set` (the tags to set).",
        ))
        .property("name", ObjectBuilder::new().schema_type(Type::String))
        .required("name")
        .property("when", ObjectBuilder::new().schema_type(Type::Object))
        .property("set", ObjectBuilder::new().schema_type(Type::Object))
        .required("set")
        .into()
}

fn operation(route: &RouteDoc) -> utoipa::openapi::path::Operation {
    let json = "application/json";
    let error = || {
        ResponseBuilder::new()
            .description("An error")
            .content(json, Content::new(Some(Ref::from_schema_name("ErrorBody"))))
            .build()
    };
    let mut builder = OperationBuilder::new()
        .tag(route.tag)
        .summary(Some(route.summary));
    for name in path_parameters(route.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(utoipa::openapi::schema::Object::with_type(
                    utoipa::openapi::schema::Type::String,
                ))),
        );
    }
    for (name, description) in query_parameters(route.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(*description))
                .schema(Some(utoipa::openapi::schema::Object::with_type(
                    utoipa::openapi::schema::Type::String,
                ))),
        );
    }
    if let Some(body) = route.body {
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content(json, Content::new(Some(Ref::from_schema_name(body))))
                .required(Some(Required::True))
                .build(),
        ));
    }
    let (status, response) = match route.answer {
        One(schema) => (
            "200",
            ResponseBuilder::new()
                .description("OK")
                .content(json, Content::new(Some(Ref::from_schema_name(schema)))),
        ),
        Created(schema) => (
            "201",
            ResponseBuilder::new()
                .description("Created")
                .content(json, Content::new(Some(Ref::from_schema_name(schema)))),
        ),
        Many(schema) => (
            "200",
            ResponseBuilder::new().description("OK").content(
                json,
                Content::new(Some(
                    ArrayBuilder::new()
                        .items(Ref::from_schema_name(schema))
                        .build(),
                )),
            ),
        ),
        NoContent => ("204", ResponseBuilder::new().description("Done")),
        Text => ("200", ResponseBuilder::new().description("OK")),
    };
    builder = builder.response(status, response.build());
    builder = builder.response("4XX", error()).response("5XX", error());
    if route.bearer {
        builder = builder.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    builder.build()
}

/// The `{name}` placeholders of a route, in order.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_schema_exists() {
        let json = serde_json::to_value(document()).unwrap_or_default();
        let schemas = &json["components"]["schemas"];
        let text = json.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                schemas.get(name).is_some(),
                "schema {name} is referenced but missing"
            );
        }
        assert!(json["paths"][routes::NODE]["delete"].is_object());
        assert!(json["paths"][routes::NODE]["get"].is_object());
        for (path, method) in [
            (routes::WINDOW, "put"),
            (routes::WINDOW_PLAN, "get"),
            (routes::TAGGING_RULE, "put"),
            (routes::GOVERNANCE, "put"),
            (routes::QUOTAS, "get"),
        ] {
            assert!(json["paths"][path][method].is_object(), "{method} {path}");
        }
        let audit_parameters = &json["paths"][routes::AUDIT]["get"]["parameters"];
        assert_eq!(audit_parameters[0]["name"], "after");
        assert_eq!(audit_parameters[0]["in"], "query");
    }

    #[test]
    fn path_parameters_are_found() {
        assert_eq!(path_parameters(routes::NODE_TAGS), vec!["id"]);
        assert!(path_parameters(routes::NODES).is_empty());
    }
}
