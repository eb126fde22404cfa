//! Route paths of the API (axum path syntax; `{id}` is a path parameter).
//! Every path is under [`PREFIX`] except the operational endpoints.

pub const PREFIX: &str = "/api/v1";

// Operational, unauthenticated.
pub const HEALTHZ: &str = "/healthz";
pub const METRICS: &str = "/metrics";
pub const OPENAPI: &str = "/api/v1/openapi.json";

// Operators.
pub const LOGIN: &str = "/api/v1/auth/login";
pub const WHOAMI: &str = "/api/v1/auth/whoami";
pub const USERS: &str = "/api/v1/users";
pub const USER: &str = "/api/v1/users/{username}";
pub const TOKENS: &str = "/api/v1/tokens";
pub const TOKEN: &str = "/api/v1/tokens/{id}";
pub const ENROLMENT_SECRETS: &str = "/api/v1/enrolment-secrets";
pub const ENROLMENT_SECRET: &str = "/api/v1/enrolment-secrets/{id}";
pub const NODES: &str = "/api/v1/nodes";
pub const NODE: &str = "/api/v1/nodes/{id}";
pub const NODE_TAGS: &str = "/api/v1/nodes/{id}/tags";
pub const BASELINES: &str = "/api/v1/baselines";
pub const BASELINE: &str = "/api/v1/baselines/{name}";
pub const BASELINE_VERSIONS: &str = "/api/v1/baselines/{name}/versions";
pub const PATCH_GROUPS: &str = "/api/v1/patch-groups";
pub const PATCH_GROUP: &str = "/api/v1/patch-groups/{name}";
pub const COMPLIANCE_SUMMARY: &str = "/api/v1/compliance/summary";
pub const COMPLIANCE_NODES: &str = "/api/v1/compliance/nodes";
pub const COMPLIANCE_NODE: &str = "/api/v1/compliance/nodes/{id}";
pub const COMPLIANCE_PATCHES: &str = "/api/v1/compliance/patches";
pub const COMPLIANCE_HISTORY: &str = "/api/v1/compliance/history";
pub const AUDIT: &str = "/api/v1/audit";
pub const WINDOWS: &str = "/api/v1/windows";
pub const WINDOW: &str = "/api/v1/windows/{name}";
pub const WINDOW_PLAN: &str = "/api/v1/windows/{name}/plan";
pub const EXECUTIONS: &str = "/api/v1/executions";
pub const EXECUTION: &str = "/api/v1/executions/{id}";
pub const EXECUTION_CANCEL: &str = "/api/v1/executions/{id}/cancel";
pub const PATCH_NOW: &str = "/api/v1/patch-now";
pub const TAGGING_RULES: &str = "/api/v1/tagging-rules";
pub const TAGGING_RULE: &str = "/api/v1/tagging-rules/{name}";
pub const GOVERNANCE: &str = "/api/v1/settings/governance";
pub const QUOTAS: &str = "/api/v1/settings/quotas";

// Agents.
pub const ENROL: &str = "/api/v1/agent/enrol";
pub const CHECKIN: &str = "/api/v1/agent/checkin";
/// Long-poll: answers as soon as the node has work queued, or when the
/// wait (`?wait=N` seconds) ends.
pub const WORK_READY: &str = "/api/v1/agent/work-ready";
/// Long-poll: answers as soon as the server asks the agent to stop the
/// running work item `{id}`, or when the wait (`?wait=N`) ends.
pub const AGENT_WORK_CANCEL: &str = "/api/v1/agent/work/{id}/cancel";

/// Fills `{param}` placeholders of a route in order, percent-encoding each
/// value as one path segment.
pub fn fill(route: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(route.len() + 16);
    let mut values = values.iter();
    let mut rest = route;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        if let Some(value) = values.next() {
            for byte in value.bytes() {
                match byte {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        out.push(byte as char)
                    }
                    _ => out.push_str(&format!("%{byte:02X}")),
                }
            }
        }
        rest = &rest[close.min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_encodes_each_parameter_as_one_segment() {
        assert_eq!(fill(NODE, &["n-1"]), "/api/v1/nodes/n-1");
        assert_eq!(
            fill(BASELINE, &["prod/x y"]),
            "/api/v1/baselines/prod%2Fx%20y"
        );
        assert_eq!(fill(NODES, &[]), "/api/v1/nodes");
    }
}
