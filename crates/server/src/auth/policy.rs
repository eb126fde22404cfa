//! Who may do what: every permission check of the API, in one table.
//!
//! | role | may |
//! |---|---|
//! | admin | everything |
//! | security-ops | write baselines, patch groups and governance (tagging rules, default window and patch group); Patch Now on any node; read the fleet, windows and operators |
//! | app-team | read and tag the nodes carrying its scope tag (never the scope key itself); read baselines, the patch groups of its nodes, windows and governance; write the windows its scope owns (a window it creates is owned by its scope, and targets only nodes inside it); Patch Now on its nodes |
//! | approver | read the fleet, windows, governance and operators |
//! | auditor | read the fleet, windows, governance, operators and the audit log |
//!
//! Only admin manages users, tokens, enrolment secrets, deletes nodes and
//! writes windows of any owner. Node credentials pass none of these: agent
//! routes check for a node instead.

use patchline_api::auth::{Role, TagScope};

use super::Operator;
use crate::http::error::ApiError;

/// Something an operator asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Nodes and their compliance.
    ReadNodes,
    /// Set or remove operator tags on nodes.
    TagNodes,
    DeleteNodes,
    /// Baselines and patch groups.
    ReadPolicy,
    WritePolicy,
    /// Users, API tokens and enrolment secrets (never their secrets).
    ReadOperators,
    ManageOperators,
    ManageEnrolment,
    ReadAudit,
    /// Maintenance windows, their plans and executions.
    ReadWindows,
    /// Create, change and delete windows (app-team: only its scope's).
    WriteWindows,
    /// Run an install on chosen nodes now (app-team: only its nodes).
    PatchNow,
    /// Tagging rules and the governance settings.
    WriteGovernance,
}

/// Which nodes a permitted operator reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAccess {
    All,
    /// Only nodes carrying this tag.
    Scoped(TagScope),
}

impl NodeAccess {
    /// Whether a node with these effective tags is reachable.
    pub fn reaches(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        match self {
            NodeAccess::All => true,
            NodeAccess::Scoped(scope) => tags.get(&scope.key) == Some(&scope.value),
        }
    }

    /// The tag key this operator may never set or remove (its scope's).
    pub fn protected_key(&self) -> Option<&str> {
        match self {
            NodeAccess::All => None,
            NodeAccess::Scoped(scope) => Some(&scope.key),
        }
    }

    pub fn scope(&self) -> Option<&TagScope> {
        match self {
            NodeAccess::All => None,
            NodeAccess::Scoped(scope) => Some(scope),
        }
    }
}

/// Whether `role` holds `permission` at all (before scoping).
pub fn role_allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin => true,
        Role::SecurityOps => matches!(
            permission,
            ReadNodes
                | ReadPolicy
                | WritePolicy
                | ReadOperators
                | ReadWindows
                | PatchNow
                | WriteGovernance
        ),
        Role::AppTeam => matches!(
            permission,
            ReadNodes | TagNodes | ReadPolicy | ReadWindows | WriteWindows | PatchNow
        ),
        Role::Approver => matches!(
            permission,
            ReadNodes | ReadPolicy | ReadOperators | ReadWindows
        ),
        Role::Auditor => matches!(
            permission,
            ReadNodes | ReadPolicy | ReadOperators | ReadAudit | ReadWindows
        ),
    }
}

/// Checks a permission; for node permissions also says which nodes it
/// reaches. An app-team operator without a scope reaches nothing.
pub fn authorize(operator: &Operator, permission: Permission) -> Result<NodeAccess, ApiError> {
    if !role_allows(operator.role, permission) {
        return Err(ApiError::forbidden(format!(
            "the {} role may not {}",
            operator.role,
            describe(permission)
        )));
    }
    match (operator.role, &operator.scope) {
        (Role::AppTeam, Some(scope)) => Ok(NodeAccess::Scoped(scope.clone())),
        (Role::AppTeam, None) => Err(ApiError::forbidden(
            "this app-team credential has no scope tag",
        )),
        _ => Ok(NodeAccess::All),
    }
}

fn describe(permission: Permission) -> &'static str {
    match permission {
        Permission::ReadNodes => "read nodes",
        Permission::TagNodes => "change node tags",
        Permission::DeleteNodes => "delete nodes",
        Permission::ReadPolicy => "read baselines and patch groups",
        Permission::WritePolicy => "change baselines and patch groups",
        Permission::ReadOperators => "list users, tokens and enrolment secrets",
        Permission::ManageOperators => "manage users and tokens",
        Permission::ManageEnrolment => "manage enrolment secrets",
        Permission::ReadAudit => "read the audit log",
        Permission::ReadWindows => "read maintenance windows",
        Permission::WriteWindows => "change maintenance windows",
        Permission::PatchNow => "run Patch Now",
        Permission::WriteGovernance => "change tagging rules and governance settings",
    }
}

/// Whether an operator with `access` (from [`Permission::WriteWindows`])
/// may change a window owned by `owner`: unscoped operators may change any
/// window, an app-team only those its own scope owns.
pub fn may_write_window(access: &NodeAccess, owner: Option<&TagScope>) -> bool {
    match access {
        NodeAccess::All => true,
        NodeAccess::Scoped(scope) => owner == Some(scope),
    }
}

/// A user or token may be created only with a scope when app-team, and
/// without one otherwise.
pub fn check_scope_for_role(role: Role, scope: Option<&TagScope>) -> Result<(), ApiError> {
    match (role, scope) {
        (Role::AppTeam, None) => Err(ApiError::invalid(
            "an app-team operator needs a scope tag (key and value)",
        )),
        (Role::AppTeam, Some(scope)) if scope.key.trim().is_empty() || scope.value.is_empty() => {
            Err(ApiError::invalid("the scope tag needs a key and a value"))
        }
        (Role::AppTeam, Some(_)) => Ok(()),
        (_, Some(_)) => Err(ApiError::invalid(format!(
            "only app-team operators have a scope; the {role} role sees everything"
        ))),
        (_, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(role: Role, scope: Option<TagScope>) -> Operator {
        Operator {
            subject: "someone".into(),
            actor: "user:someone".into(),
            role,
            scope,
        }
    }

    fn payments() -> TagScope {
        TagScope {
            key: "Application".into(),
            value: "payments".into(),
        }
    }

    #[test]
    fn only_admin_manages_credentials() {
        for role in Role::ALL {
            let allowed = role_allows(role, Permission::ManageOperators);
            assert_eq!(allowed, role == Role::Admin, "{role}");
            assert_eq!(
                role_allows(role, Permission::ManageEnrolment),
                role == Role::Admin
            );
        }
    }

    #[test]
    fn audit_log_is_for_admin_and_auditor() {
        let readers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|role| role_allows(*role, Permission::ReadAudit))
            .collect();
        assert_eq!(readers, vec![Role::Admin, Role::Auditor]);
    }

    #[test]
    fn app_team_is_scoped_and_read_only_on_policy() {
        let team = operator(Role::AppTeam, Some(payments()));
        assert_eq!(
            authorize(&team, Permission::TagNodes),
            Ok(NodeAccess::Scoped(payments()))
        );
        assert!(authorize(&team, Permission::WritePolicy).is_err());
        assert!(authorize(&operator(Role::AppTeam, None), Permission::ReadNodes).is_err());
        let mut tags = std::collections::BTreeMap::new();
        assert!(!NodeAccess::Scoped(payments()).reaches(&tags));
        tags.insert("Application".to_string(), "payments".to_string());
        assert!(NodeAccess::Scoped(payments()).reaches(&tags));
    }

    #[test]
    fn security_ops_writes_policy_but_not_tags() {
        let ops = operator(Role::SecurityOps, None);
        assert_eq!(
            authorize(&ops, Permission::WritePolicy),
            Ok(NodeAccess::All)
        );
        assert!(authorize(&ops, Permission::TagNodes).is_err());
        assert!(authorize(&operator(Role::Auditor, None), Permission::WritePolicy).is_err());
    }

    #[test]
    fn window_and_governance_permissions_follow_the_table() {
        use Permission::*;
        let holders = |permission| -> Vec<Role> {
            Role::ALL
                .into_iter()
                .filter(|role| role_allows(*role, permission))
                .collect()
        };
        assert_eq!(holders(ReadWindows), Role::ALL.to_vec());
        assert_eq!(holders(WriteWindows), vec![Role::Admin, Role::AppTeam]);
        assert_eq!(
            holders(PatchNow),
            vec![Role::Admin, Role::SecurityOps, Role::AppTeam]
        );
        assert_eq!(
            holders(WriteGovernance),
            vec![Role::Admin, Role::SecurityOps]
        );
    }

    #[test]
    fn an_app_team_writes_only_the_windows_of_its_scope() {
        let team = authorize(
            &operator(Role::AppTeam, Some(payments())),
            Permission::WriteWindows,
        );
        let Ok(access) = team else {
            panic!("app-team may write windows: {team:?}");
        };
        let other = TagScope {
            key: "Application".into(),
            value: "search".into(),
        };
        assert!(may_write_window(&access, Some(&payments())));
        assert!(!may_write_window(&access, Some(&other)));
        assert!(!may_write_window(&access, None));
        assert!(may_write_window(&NodeAccess::All, None));
        assert!(may_write_window(&NodeAccess::All, Some(&other)));
    }

    #[test]
    fn scopes_only_for_app_team() {
        assert!(check_scope_for_role(Role::AppTeam, Some(&payments())).is_ok());
        assert!(check_scope_for_role(Role::AppTeam, None).is_err());
        assert!(check_scope_for_role(Role::Admin, Some(&payments())).is_err());
        assert!(check_scope_for_role(Role::Auditor, None).is_ok());
    }
}
