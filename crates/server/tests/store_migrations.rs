//! Store: a database created by an older schema keeps every record when it
//! is upgraded to the latest one, on SQLite and PostgreSQL. The old schema
//! is made by applying only the first migrations of the embedded set.

#[path = "support/db.rs"]
mod db;

use std::collections::BTreeMap;

use db::TestDb;
use jiff::Timestamp;
use patchline_api::auth::{Role, TagScope};
use patchline_api::checkin::{Inventory, NodeFacts};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::InstalledPackage;
use patchline_server::auth::secrets::{TokenPrefix, generate_token, hash_password, token_hash};
use patchline_server::store::records::{
    CheckinRecord, NewEnrolmentSecret, NewNode, NewToken, NewUser, NodeFilter, TokenKind,
};
use patchline_server::store::{Backend, Store};

both_backends!(
    operators_from_schema_1_survive_the_upgrade,
    nodes_from_schema_2_survive_the_upgrade,
    both_backends_have_the_same_migrations,
);

/// A store whose schema stops at migration `last`.
async fn store_at(db: &TestDb, last: i64) -> Store {
    let store = Store::connect_without_migrating(&db.url).await.unwrap();
    store
        .backend()
        .migrator()
        .run_to(last, store.pool())
        .await
        .unwrap();
    store
}

async fn add_operators(store: &Store) {
    store
        .create_user(
            "system",
            NewUser {
                username: "admin".into(),
                password_hash: hash_password("pw").unwrap(),
                role: Role::Admin,
                scope: None,
            },
        )
        .await
        .unwrap();
    store
        .create_user(
            "user:admin",
            NewUser {
                username: "pay".into(),
                password_hash: hash_password("pw2").unwrap(),
                role: Role::AppTeam,
                scope: Some(TagScope {
                    key: "Application".into(),
                    value: "payments".into(),
                }),
            },
        )
        .await
        .unwrap();
    store
        .insert_token(
            "user:admin",
            NewToken {
                id: "ci".into(),
                name: "ci".into(),
                token_hash: token_hash(&generate_token(TokenPrefix::Operator)),
                kind: TokenKind::Api,
                subject: "token:ci".into(),
                role: Role::SecurityOps,
                scope: None,
                expires_at: Some(Timestamp::from_second(4_102_444_800).unwrap()),
            },
        )
        .await
        .unwrap();
    store.revoke_token("user:admin", "ci").await.unwrap();
}

async fn operators_from_schema_1_survive_the_upgrade(db: TestDb) {
    let old = store_at(&db, 1).await;
    add_operators(&old).await;
    let users = old.list_users().await.unwrap();
    let tokens = old.list_tokens().await.unwrap();
    let audit = old.list_audit(None, 1000).await.unwrap();
    assert_eq!((users.len(), tokens.len(), audit.len()), (2, 1, 4));
    old.pool().close().await;

    let upgraded = db.store().await;
    assert_eq!(upgraded.list_users().await.unwrap(), users);
    assert_eq!(upgraded.list_tokens().await.unwrap(), tokens);
    let after = upgraded.list_audit(None, 1000).await.unwrap();
    assert_eq!(after[..audit.len()], audit[..]);
    // The upgrade added the seeded baselines (and their audit rows) only.
    assert_eq!(after.len(), audit.len() + OsFamily::ALL.len());
    assert_eq!(
        upgraded.list_baselines().await.unwrap().len(),
        OsFamily::ALL.len()
    );
}

fn facts() -> NodeFacts {
    NodeFacts {
        hostname: "old-node".into(),
        os: OsInfo {
            family: OsFamily::Ubuntu,
            id: "ubuntu".into(),
            version_id: "22.04".into(),
            product: "Ubuntu22.04".into(),
        },
        arch: "amd64".into(),
        kernel: None,
        reboot_required: true,
        agent_version: "0.1.0".into(),
        addresses: Vec::new(),
    }
}

async fn nodes_from_schema_2_survive_the_upgrade(db: TestDb) {
    let old = store_at(&db, 2).await;
    add_operators(&old).await;
    let secret = generate_token(TokenPrefix::Enrolment);
    old.insert_enrolment_secret(
        "user:admin",
        NewEnrolmentSecret {
            id: "s1".into(),
            name: "fleet".into(),
            secret_hash: token_hash(&secret),
            max_uses: Some(10),
            expires_at: None,
            tags: BTreeMap::from([("Application".into(), "payments".into())]),
        },
    )
    .await
    .unwrap();
    let credential = generate_token(TokenPrefix::Node);
    let node = old
        .enrol_node(
            &token_hash(&secret),
            Timestamp::now(),
            NewNode {
                id: "n1".into(),
                facts: facts(),
                agent_tags: BTreeMap::from([("Environment".into(), "prod".into())]),
                credential_hash: token_hash(&credential),
            },
        )
        .await
        .unwrap();
    let inventory = Inventory {
        os: facts().os,
        installed: vec![InstalledPackage {
            name: "openssl".into(),
            arch: "amd64".into(),
            version: "3.0.2-0ubuntu1.15".into(),
            source: Some("openssl".into()),
        }],
        updates: Vec::new(),
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    };
    let hash = inventory.content_hash();
    old.put_inventory(&hash, &inventory).await.unwrap();
    old.record_checkin(
        "n1",
        &CheckinRecord {
            facts: facts(),
            agent_tags: BTreeMap::from([("Environment".into(), "prod".into())]),
            inventory_hash: hash.clone(),
            scanned_at: Timestamp::from_second(1_764_000_000).unwrap(),
            now: Timestamp::from_second(1_764_000_005).unwrap(),
        },
    )
    .await
    .unwrap();
    let nodes = old.list_nodes(&NodeFilter::default()).await.unwrap();
    let secrets = old.list_enrolment_secrets().await.unwrap();
    let users = old.list_users().await.unwrap();
    let tokens = old.list_tokens().await.unwrap();
    let audit = old.list_audit(None, 1000).await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].tags.len(), 2);
    old.pool().close().await;

    let upgraded = db.store().await;
    assert_eq!(
        upgraded.list_nodes(&NodeFilter::default()).await.unwrap(),
        nodes
    );
    assert_eq!(upgraded.node("n1").await.unwrap().as_ref(), nodes.first());
    assert_eq!(upgraded.list_enrolment_secrets().await.unwrap(), secrets);
    assert_eq!(upgraded.list_users().await.unwrap(), users);
    assert_eq!(upgraded.list_tokens().await.unwrap(), tokens);
    assert_eq!(upgraded.inventory(&hash).await.unwrap(), Some(inventory));
    assert_eq!(
        upgraded
            .node_id_by_credential(&token_hash(&credential))
            .await
            .unwrap(),
        Some(node.id)
    );
    let after = upgraded.list_audit(None, 1000).await.unwrap();
    assert_eq!(after[..audit.len()], audit[..]);
}

/// The two migration folders must carry the same numbers, or one backend
/// would silently lack a change.
async fn both_backends_have_the_same_migrations(db: TestDb) {
    let versions = |backend: Backend| -> Vec<(i64, String)> {
        backend
            .migrator()
            .iter()
            .map(|migration| (migration.version, migration.description.to_string()))
            .collect()
    };
    assert_eq!(versions(Backend::Sqlite), versions(Backend::Postgres));
    assert!(versions(db.backend).len() >= 3);
    // And the latest schema applies cleanly from nothing.
    let store = db.store().await;
    assert_eq!(store.backend(), db.backend);
}
