//! Who may do what: every permission check of the API, in one table.
//!
//! | role | may |
//! |---|---|
//! | admin | everything |
//! | security-ops | write baselines and patch groups; read the fleet and operators |
//! | app-team | read and tag the nodes carrying its scope tag (never the scope key itself); read baselines and the patch groups of its nodes |
//! | approver | read the fleet and operators |
//! | auditor | read the fleet, operators and the audit log |
//!
//! Only admin manages users, tokens, enrolment secrets and deletes nodes.
//! Node credentials pass none of these: agent routes check for a node instead.

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
            ReadNodes | ReadPolicy | WritePolicy | ReadOperators
        ),
        Role::AppTeam => matches!(permission, ReadNodes | TagNodes | ReadPolicy),
        Role::Approver => matches!(permission, ReadNodes | ReadPolicy | ReadOperators),
        Role::Auditor => matches!(
            permission,
            ReadNodes | ReadPolicy | ReadOperators | ReadAudit
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
    fn scopes_only_for_app_team() {
        assert!(check_scope_for_role(Role::AppTeam, Some(&payments())).is_ok());
        assert!(check_scope_for_role(Role::AppTeam, None).is_err());
        assert!(check_scope_for_role(Role::Admin, Some(&payments())).is_err());
        assert!(check_scope_for_role(Role::Auditor, None).is_ok());
    }
}
