//! API: login, whoami, users and API tokens, on SQLite and PostgreSQL.

mod support;

use patchline_api::auth::{CreateTokenRequest, CreateUserRequest, Role, TagScope};
use patchline_api::routes;
use support::server::{ADMIN_PASSWORD, TestServer, USER_PASSWORD, code_of, status_of};

api_cases!(
    login_issues_a_session_token_for_the_right_password,
    a_wrong_password_is_refused_and_audited_without_the_password,
    requests_without_a_valid_token_are_refused,
    api_tokens_act_with_their_role_until_revoked,
    deleting_a_user_ends_its_sessions,
    users_need_a_scope_exactly_when_app_team,
    expired_tokens_are_refused,
);

async fn login_issues_a_session_token_for_the_right_password(server: TestServer) {
    let login = server
        .anonymous
        .login("admin", ADMIN_PASSWORD)
        .await
        .expect("login");
    assert!(login.token.starts_with("plo_"));
    assert_eq!(login.role, Role::Admin);
    let hours = login
        .expires_at
        .duration_since(jiff::Timestamp::now())
        .as_hours();
    assert!(
        (11..=12).contains(&hours),
        "a session lasts 12 hours, got {hours}"
    );
    let me = server
        .anonymous
        .with_bearer(login.token)
        .whoami()
        .await
        .expect("whoami");
    assert_eq!(me.subject, "admin");
    assert_eq!(me.role, Role::Admin);
    assert_eq!(me.scope, None);
}

async fn a_wrong_password_is_refused_and_audited_without_the_password(server: TestServer) {
    let wrong = "not-the-password-1234";
    let (status, code) = code_of(server.anonymous.login("admin", wrong).await);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert_eq!(
        status_of(server.anonymous.login("nobody", wrong).await),
        401
    );
    let audit = server.admin.audit(None).await.expect("audit");
    let failures: Vec<_> = audit
        .iter()
        .filter(|entry| entry.action == "login.failed")
        .collect();
    assert_eq!(failures.len(), 2, "{audit:?}");
    assert_eq!(failures[0].target, "user:admin");
    assert_eq!(failures[1].target, "user:nobody");
    let text = serde_json::to_string(&audit).expect("json");
    assert!(
        !text.contains(wrong),
        "the password leaked into the audit log"
    );
    assert!(
        !text.contains(ADMIN_PASSWORD),
        "the password leaked into the audit log"
    );
}

async fn requests_without_a_valid_token_are_refused(server: TestServer) {
    let (status, code) = code_of(server.anonymous.nodes().await);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    for token in ["plo_0000", "pln_0000", "nonsense", ""] {
        let client = server.anonymous.with_bearer(token);
        assert_eq!(status_of(client.whoami().await), 401, "token {token:?}");
    }
    // A well-formed scheme other than Bearer.
    let response = server
        .raw()
        .get(server.url(routes::WHOAMI))
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let body: patchline_api::ErrorBody = response.json().await.expect("error body");
    assert_eq!(body.error, "unauthorized");
}

async fn api_tokens_act_with_their_role_until_revoked(server: TestServer) {
    let created = server
        .admin
        .create_token(&CreateTokenRequest {
            name: "ci".into(),
            role: Role::Auditor,
            scope: None,
            expires_in_days: Some(30),
        })
        .await
        .expect("create token");
    assert!(created.token.starts_with("plo_"));
    let ci = server.anonymous.with_bearer(created.token.clone());
    let me = ci.whoami().await.expect("whoami");
    assert_eq!(me.subject, "token:ci");
    assert_eq!(me.role, Role::Auditor);
    // Its audit trail names it.
    ci.audit(None)
        .await
        .expect("an auditor reads the audit log");
    assert_eq!(
        status_of(
            ci.create_token(&CreateTokenRequest {
                name: "escalate".into(),
                role: Role::Admin,
                scope: None,
                expires_in_days: None,
            })
            .await
        ),
        403
    );
    let listed: Vec<patchline_api::auth::TokenView> =
        server.admin.get(routes::TOKENS).await.expect("tokens");
    let view = listed
        .iter()
        .find(|token| token.id == created.id)
        .expect("listed");
    assert_eq!((view.name.as_str(), view.revoked), ("ci", false));
    assert!(
        !serde_json::to_string(&listed)
            .expect("json")
            .contains(&created.token)
    );
    server
        .admin
        .delete(&routes::fill(routes::TOKEN, &[&created.id]))
        .await
        .expect("revoke");
    assert_eq!(status_of(ci.whoami().await), 401);
    let audit = server.admin.audit(None).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|entry| entry.actor == "user:admin" && entry.action.starts_with("token.revoke")),
        "{audit:?}"
    );
}

async fn deleting_a_user_ends_its_sessions(server: TestServer) {
    let bob = server.operator("bob", Role::Approver, None).await;
    bob.whoami().await.expect("bob is logged in");
    server
        .admin
        .delete(&routes::fill(routes::USER, &["bob"]))
        .await
        .expect("delete bob");
    assert_eq!(status_of(bob.whoami().await), 401);
    assert_eq!(
        status_of(server.anonymous.login("bob", USER_PASSWORD).await),
        401
    );
    // The last admin stays.
    assert_eq!(
        status_of(
            server
                .admin
                .delete(&routes::fill(routes::USER, &["admin"]))
                .await
        ),
        409
    );
}

async fn users_need_a_scope_exactly_when_app_team(server: TestServer) {
    let scope = TagScope {
        key: "Application".into(),
        value: "payments".into(),
    };
    let user = |username: &str, role, scope| CreateUserRequest {
        username: username.into(),
        password: USER_PASSWORD.into(),
        role,
        scope,
    };
    let (status, code) = code_of(
        server
            .admin
            .create_user(&user("team", Role::AppTeam, None))
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "invalid-request"));
    assert_eq!(
        status_of(
            server
                .admin
                .create_user(&user("ops", Role::SecurityOps, Some(scope.clone())))
                .await
        ),
        400
    );
    let created = server
        .admin
        .create_user(&user("team", Role::AppTeam, Some(scope.clone())))
        .await
        .expect("app-team with a scope");
    assert_eq!(created.scope, Some(scope));
    assert_eq!(
        status_of(
            server
                .admin
                .create_user(&user("team", Role::Auditor, None))
                .await
        ),
        409
    );
    let short = CreateUserRequest {
        password: "short".into(),
        ..user("shorty", Role::Auditor, None)
    };
    assert_eq!(status_of(server.admin.create_user(&short).await), 400);
}

async fn expired_tokens_are_refused(server: TestServer) {
    use patchline_server::auth::secrets;
    use patchline_server::store::records::{NewToken, TokenKind};
    // An expired session cannot be made through the API; store one.
    let token = secrets::generate_token(secrets::TokenPrefix::Operator);
    server
        .server
        .state
        .store
        .insert_token(
            "system",
            NewToken {
                id: secrets::new_id(),
                name: "session".into(),
                token_hash: secrets::token_hash(&token),
                kind: TokenKind::Session,
                subject: "admin".into(),
                role: Role::Admin,
                scope: None,
                expires_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)),
            },
        )
        .await
        .expect("store an expired session");
    let (status, code) = code_of(server.anonymous.with_bearer(token).whoami().await);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
}
