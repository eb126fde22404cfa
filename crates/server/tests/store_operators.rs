//! Store: users, tokens and their audit rows, on SQLite and PostgreSQL.

#[path = "support/db.rs"]
mod db;

use db::TestDb;
use jiff::{SignedDuration, Timestamp};
use patchline_api::auth::{Role, TagScope};
use patchline_server::auth::secrets::{
    TokenPrefix, generate_token, hash_password, new_id, token_hash, verify_password,
};
use patchline_server::store::records::{NewToken, NewUser, TokenKind};
use patchline_server::store::{Store, StoreError};

both_backends!(
    users_are_created_read_listed_and_deleted,
    the_last_admin_cannot_be_deleted,
    deleting_a_user_revokes_its_sessions,
    tokens_are_found_by_hash_and_revoked,
    roles_and_scopes_must_agree,
    a_failed_change_writes_no_audit_row,
    audit_pages_in_id_order,
    admins_deleting_each_other_at_once_leave_one,
    expired_sessions_are_purged_after_the_retention_api_tokens_never,
);

fn new_user(username: &str, role: Role, scope: Option<TagScope>) -> NewUser {
    NewUser {
        username: username.into(),
        password_hash: hash_password("s3cret-password").unwrap_or_default(),
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

/// The id of the newest audit row (connecting seeds default baselines,
/// which are audited), so a test reads only its own rows after it.
async fn last_audit_id(store: &Store) -> i64 {
    let entries = store.list_audit(None, 1000).await.unwrap_or_default();
    entries.last().map_or(0, |entry| entry.id)
}

async fn audit_actions(store: &Store, after: i64) -> Vec<String> {
    let entries = store
        .list_audit(Some(after), 1000)
        .await
        .unwrap_or_default();
    entries.into_iter().map(|entry| entry.action).collect()
}

async fn users_are_created_read_listed_and_deleted(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    assert_eq!(store.user_count().await.ok(), Some(0));

    let alice = store
        .create_user("system", new_user("alice", Role::Admin, None))
        .await
        .unwrap();
    let bob = store
        .create_user(
            "user:alice",
            new_user("bob", Role::AppTeam, Some(payments())),
        )
        .await
        .unwrap();
    assert_eq!(store.user_count().await.ok(), Some(2));

    let read = store.user("bob").await.unwrap().unwrap();
    assert_eq!(read, bob);
    assert_eq!(read.scope, Some(payments()));
    assert!(verify_password("s3cret-password", &read.password_hash));
    assert_eq!(store.user("nobody").await.unwrap(), None);

    let listed = store.list_users().await.unwrap();
    assert_eq!(listed, vec![alice.clone(), bob.clone()]);
    assert_eq!(bob.view().username, "bob");

    let duplicate = store
        .create_user("system", new_user("bob", Role::Auditor, None))
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict { .. })),
        "{duplicate:?}"
    );

    store.delete_user("user:alice", "bob").await.unwrap();
    assert_eq!(store.user("bob").await.unwrap(), None);
    assert!(matches!(
        store.delete_user("user:alice", "bob").await,
        Err(StoreError::NotFound { .. })
    ));

    let audit = store.list_audit(Some(start), 100).await.unwrap();
    let summary: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|entry| {
            (
                entry.actor.as_str(),
                entry.action.as_str(),
                entry.target.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("system", "user.create", "user:alice"),
            ("user:alice", "user.create", "user:bob"),
            ("user:alice", "user.delete", "user:bob"),
        ]
    );
    // The role and scope are recorded, never the password hash.
    assert_eq!(audit[1].detail["role"], "app-team");
    assert_eq!(audit[1].detail["scope"]["value"], "payments");
    assert!(!audit[1].detail.to_string().contains("argon2"));
}

async fn the_last_admin_cannot_be_deleted(db: TestDb) {
    let store = db.store().await;
    store
        .create_user("system", new_user("root", Role::Admin, None))
        .await
        .unwrap();
    let refused = store.delete_user("user:root", "root").await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    store
        .create_user("user:root", new_user("second", Role::Admin, None))
        .await
        .unwrap();
    store.delete_user("user:second", "root").await.unwrap();
    assert_eq!(store.user_count().await.ok(), Some(1));
}

fn session_for(username: &str, role: Role) -> (String, NewToken) {
    let token = generate_token(TokenPrefix::Operator);
    let new = NewToken {
        id: new_id(),
        name: format!("session:{username}"),
        token_hash: token_hash(&token),
        kind: TokenKind::Session,
        subject: username.into(),
        role,
        scope: None,
        expires_at: Some(Timestamp::now() + SignedDuration::from_hours(12)),
    };
    (token, new)
}

async fn deleting_a_user_revokes_its_sessions(db: TestDb) {
    let store = db.store().await;
    store
        .create_user("system", new_user("admin", Role::Admin, None))
        .await
        .unwrap();
    store
        .create_user("user:admin", new_user("carol", Role::Auditor, None))
        .await
        .unwrap();
    let (carol_token, carol_session) = session_for("carol", Role::Auditor);
    let (admin_token, admin_session) = session_for("admin", Role::Admin);
    store
        .insert_token("user:carol", carol_session)
        .await
        .unwrap();
    store
        .insert_token("user:admin", admin_session)
        .await
        .unwrap();

    store.delete_user("user:admin", "carol").await.unwrap();
    let carol = store
        .token_by_hash(&token_hash(&carol_token))
        .await
        .unwrap()
        .unwrap();
    assert!(carol.revoked);
    assert!(!carol.is_usable(Timestamp::now()));
    let admin = store
        .token_by_hash(&token_hash(&admin_token))
        .await
        .unwrap()
        .unwrap();
    assert!(admin.is_usable(Timestamp::now()));
}

async fn tokens_are_found_by_hash_and_revoked(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let token = generate_token(TokenPrefix::Operator);
    let expires_at = Timestamp::from_millisecond(4_102_444_800_123).unwrap();
    let created = store
        .insert_token(
            "user:admin",
            NewToken {
                id: "t1".into(),
                name: "ci".into(),
                token_hash: token_hash(&token),
                kind: TokenKind::Api,
                subject: "token:ci".into(),
                role: Role::SecurityOps,
                scope: None,
                expires_at: Some(expires_at),
            },
        )
        .await
        .unwrap();
    let found = store
        .token_by_hash(&token_hash(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, created);
    assert_eq!(found.kind, TokenKind::Api);
    assert_eq!(found.expires_at, Some(expires_at));
    assert!(found.is_usable(Timestamp::now()));
    assert!(!found.is_usable(expires_at));
    assert_eq!(
        store.token_by_hash(&token_hash("plo_other")).await.unwrap(),
        None
    );

    let (_, session) = session_for("admin", Role::Admin);
    store.insert_token("user:admin", session).await.unwrap();
    let listed = store.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 2);
    // Both rows may share a created_at millisecond, so find the API token by id.
    let api_token = listed.iter().find(|t| t.id == "t1").expect("t1 is listed");
    assert_eq!(api_token.view().name, "ci");

    store.revoke_token("user:admin", "t1").await.unwrap();
    let revoked = store
        .token_by_hash(&token_hash(&token))
        .await
        .unwrap()
        .unwrap();
    assert!(revoked.revoked);
    assert!(!revoked.is_usable(Timestamp::now()));
    // Revoking again is a no-op; an unknown id is not found.
    store.revoke_token("user:admin", "t1").await.unwrap();
    assert!(matches!(
        store.revoke_token("user:admin", "missing").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        audit_actions(&store, start).await,
        vec!["token.create", "login", "token.revoke"]
    );
    let audit = store.list_audit(None, 1000).await.unwrap();
    for entry in &audit {
        assert!(!entry.detail.to_string().contains(&token_hash(&token)));
    }
}

/// A token of `kind` expiring at `expires_at`, stored; its id.
async fn stored_token(store: &Store, kind: TokenKind, expires_at: Timestamp) -> String {
    let token = generate_token(TokenPrefix::Operator);
    let id = new_id();
    store
        .insert_token(
            "user:admin",
            NewToken {
                id: id.clone(),
                name: format!("{kind:?}"),
                token_hash: token_hash(&token),
                kind,
                subject: "admin".into(),
                role: Role::Admin,
                scope: None,
                expires_at: Some(expires_at),
            },
        )
        .await
        .unwrap();
    id
}

async fn expired_sessions_are_purged_after_the_retention_api_tokens_never(db: TestDb) {
    let store = db.store().await;
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let days = |count: i64| now + SignedDuration::from_hours(24 * count);
    let cutoff = days(-7);
    let long_expired = stored_token(&store, TokenKind::Session, days(-8)).await;
    let recently_expired = stored_token(&store, TokenKind::Session, days(-1)).await;
    let live = stored_token(&store, TokenKind::Session, days(1)).await;
    let revoked_long_ago = stored_token(&store, TokenKind::Session, days(-9)).await;
    let revoked_live = stored_token(&store, TokenKind::Session, days(1)).await;
    let old_api = stored_token(&store, TokenKind::Api, days(-30)).await;
    let revoked_api = stored_token(&store, TokenKind::Api, days(-30)).await;
    for id in [&revoked_long_ago, &revoked_live, &revoked_api] {
        store.revoke_token("user:admin", id).await.unwrap();
    }
    let audit_before = last_audit_id(&store).await;

    assert_eq!(store.purge_sessions(cutoff).await.unwrap(), 2);
    let mut left: Vec<String> = store
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|token| token.id)
        .collect();
    left.sort();
    let mut kept = vec![recently_expired, live, revoked_live, old_api, revoked_api];
    kept.sort();
    assert_eq!(left, kept);
    assert!(!left.contains(&long_expired) && !left.contains(&revoked_long_ago));
    // Maintenance, not an operator's change: no audit row.
    assert_eq!(last_audit_id(&store).await, audit_before);
    // Nothing more to delete at the same cutoff.
    assert_eq!(store.purge_sessions(cutoff).await.unwrap(), 0);
}

async fn roles_and_scopes_must_agree(db: TestDb) {
    let store = db.store().await;
    let unscoped_app_team = store
        .create_user("system", new_user("a", Role::AppTeam, None))
        .await;
    assert!(matches!(unscoped_app_team, Err(StoreError::Invalid { .. })));
    let scoped_admin = store
        .create_user("system", new_user("b", Role::Admin, Some(payments())))
        .await;
    assert!(matches!(scoped_admin, Err(StoreError::Invalid { .. })));
    let empty_name = store
        .create_user("system", new_user(" ", Role::Admin, None))
        .await;
    assert!(matches!(empty_name, Err(StoreError::Invalid { .. })));
    assert_eq!(store.user_count().await.ok(), Some(0));
}

async fn a_failed_change_writes_no_audit_row(db: TestDb) {
    let store = db.store().await;
    store
        .create_user("system", new_user("admin", Role::Admin, None))
        .await
        .unwrap();
    let before = store.list_audit(None, 1000).await.unwrap();
    assert!(
        store
            .create_user("system", new_user("admin", Role::Admin, None))
            .await
            .is_err()
    );
    assert!(store.delete_user("user:admin", "admin").await.is_err());
    assert!(store.delete_user("user:admin", "ghost").await.is_err());
    assert!(store.revoke_token("user:admin", "ghost").await.is_err());
    let (_, session) = session_for("admin", Role::Admin);
    let mut duplicate = session.clone();
    duplicate.id = "another".into();
    store.insert_token("user:admin", session).await.unwrap();
    assert!(matches!(
        store.insert_token("user:admin", duplicate).await,
        Err(StoreError::Conflict { .. })
    ));
    let after = store.list_audit(None, 1000).await.unwrap();
    assert_eq!(after.len(), before.len() + 1, "only the login: {after:?}");
}

async fn audit_pages_in_id_order(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    for index in 0..5 {
        store
            .record_audit(
                "system",
                "login.failed",
                &format!("user:u{index}"),
                &serde_json::json!({ "attempt": index }),
            )
            .await
            .unwrap();
    }
    let first = store.list_audit(Some(start), 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let next = store.list_audit(Some(first[1].id), 10).await.unwrap();
    assert_eq!(next.len(), 3);
    assert!(next[0].id > first[1].id);
    let targets: Vec<String> = first
        .iter()
        .chain(&next)
        .map(|entry| entry.target.clone())
        .collect();
    assert_eq!(
        targets,
        vec!["user:u0", "user:u1", "user:u2", "user:u3", "user:u4"]
    );
    assert_eq!(next[2].detail["attempt"], 4);
    assert!(
        store
            .list_audit(Some(next[2].id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn admins_deleting_each_other_at_once_leave_one(db: TestDb) {
    let store = db.store().await;
    for name in ["a1", "a2"] {
        store
            .create_user("system", new_user(name, Role::Admin, None))
            .await
            .unwrap();
    }
    let first = {
        let store = store.clone();
        tokio::spawn(async move { store.delete_user("user:a1", "a2").await })
    };
    let second = {
        let store = store.clone();
        tokio::spawn(async move { store.delete_user("user:a2", "a1").await })
    };
    let outcomes = [first.await.unwrap(), second.await.unwrap()];
    assert_eq!(outcomes.iter().filter(|outcome| outcome.is_ok()).count(), 1);
    assert!(
        outcomes
            .iter()
            .any(|outcome| matches!(outcome, Err(StoreError::Conflict { .. })))
    );
    assert_eq!(store.user_count().await.ok(), Some(1));
}
