//! Store: enrolment secrets, enrolment, nodes, tags, check-ins and
//! inventories, on SQLite and PostgreSQL.

#[path = "support/db.rs"]
mod db;

use std::collections::BTreeMap;

use db::TestDb;
use jiff::{SignedDuration, Timestamp};
use patchline_api::auth::TagScope;
use patchline_api::checkin::{Inventory, InventoryHash, NodeFacts};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::InstalledPackage;
use patchline_server::auth::secrets::{TokenPrefix, generate_token, new_id, token_hash};
use patchline_server::store::records::{
    CheckinRecord, NewEnrolmentSecret, NewNode, NodeFilter, NodeRecord,
};
use patchline_server::store::{Store, StoreError};

both_backends!(
    enrolment_creates_the_node_with_the_secret_tags_over_the_agent_tags,
    a_refused_enrolment_creates_nothing,
    racing_agents_cannot_overuse_a_secret,
    secrets_are_listed_and_revoked,
    operator_tags_are_set_and_removed,
    nodes_are_filtered_by_scope_and_tag,
    a_checkin_records_facts_inventory_and_agent_tags,
    a_checkin_with_an_unknown_inventory_or_node_changes_nothing,
    inventories_are_stored_once_per_hash,
    deleting_a_node_removes_its_credential_and_tags,
    concurrent_writers_all_succeed,
    concurrent_tag_changes_of_one_node_all_succeed,
);

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn facts(hostname: &str) -> NodeFacts {
    NodeFacts {
        hostname: hostname.into(),
        os: OsInfo {
            family: OsFamily::Debian,
            id: "debian".into(),
            version_id: "12".into(),
            product: "Debian12".into(),
        },
        arch: "amd64".into(),
        kernel: Some("6.1.0-18-amd64".into()),
        reboot_required: false,
        agent_version: "0.1.0".into(),
        addresses: Vec::new(),
    }
}

fn inventory(bash_version: &str) -> Inventory {
    Inventory {
        os: facts("x").os,
        installed: vec![InstalledPackage {
            name: "bash".into(),
            arch: "amd64".into(),
            version: bash_version.into(),
            source: None,
        }],
        updates: Vec::new(),
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    }
}

async fn last_audit_id(store: &Store) -> i64 {
    let entries = store.list_audit(None, 1000).await.unwrap_or_default();
    entries.last().map_or(0, |entry| entry.id)
}

/// Creates a secret and returns its text.
async fn secret(
    store: &Store,
    max_uses: Option<u32>,
    expires_at: Option<Timestamp>,
    secret_tags: &[(&str, &str)],
) -> (String, String) {
    let text = generate_token(TokenPrefix::Enrolment);
    let id = new_id();
    store
        .insert_enrolment_secret(
            "user:admin",
            NewEnrolmentSecret {
                id: id.clone(),
                name: format!("secret {id}"),
                secret_hash: token_hash(&text),
                max_uses,
                expires_at,
                tags: tags(secret_tags),
            },
        )
        .await
        .unwrap();
    (id, text)
}

/// Enrols a node; returns it and its credential.
async fn enrol(
    store: &Store,
    secret: &str,
    hostname: &str,
    agent_tags: &[(&str, &str)],
) -> Result<(NodeRecord, String), StoreError> {
    let credential = generate_token(TokenPrefix::Node);
    let node = store
        .enrol_node(
            &token_hash(secret),
            Timestamp::now(),
            NewNode {
                id: new_id(),
                facts: facts(hostname),
                agent_tags: tags(agent_tags),
                credential_hash: token_hash(&credential),
            },
        )
        .await?;
    Ok((node, credential))
}

async fn enrolment_creates_the_node_with_the_secret_tags_over_the_agent_tags(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let (secret_id, text) = secret(
        &store,
        Some(5),
        None,
        &[("Environment", "prod"), ("Application", "payments")],
    )
    .await;
    let (node, credential) = enrol(
        &store,
        &text,
        "web-1",
        &[("Environment", "dev"), ("Zone", "eu-1")],
    )
    .await
    .unwrap();
    assert_eq!(
        node.tags,
        tags(&[
            ("Application", "payments"),
            ("Environment", "prod"),
            ("Zone", "eu-1")
        ])
    );
    assert_eq!(node.facts, facts("web-1"));
    assert_eq!(node.last_checkin_at, None);
    assert_eq!(node.inventory_hash, None);
    assert_eq!(store.node(&node.id).await.unwrap(), Some(node.clone()));
    assert_eq!(
        store
            .node_id_by_credential(&token_hash(&credential))
            .await
            .unwrap(),
        Some(node.id.clone())
    );
    assert_eq!(
        store
            .node_id_by_credential(&token_hash("pln_x"))
            .await
            .unwrap(),
        None
    );

    let secrets = store.list_enrolment_secrets().await.unwrap();
    let used = secrets.iter().find(|s| s.id == secret_id).unwrap();
    assert_eq!(used.uses, 1);

    let audit = store.list_audit(Some(start), 100).await.unwrap();
    let enrol = audit
        .iter()
        .find(|entry| entry.action == "node.enrol")
        .unwrap();
    assert_eq!(enrol.actor, "system");
    assert_eq!(enrol.target, format!("node:{}", node.id));
    assert_eq!(enrol.detail["tags"]["Environment"], "prod");
    assert!(!enrol.detail.to_string().contains(&token_hash(&credential)));
    assert!(!enrol.detail.to_string().contains(&token_hash(&text)));
}

async fn a_refused_enrolment_creates_nothing(db: TestDb) {
    let store = db.store().await;
    let (revoked_id, revoked) = secret(&store, None, None, &[]).await;
    store
        .revoke_enrolment_secret("user:admin", &revoked_id)
        .await
        .unwrap();
    let (_, expired) = secret(
        &store,
        None,
        Some(Timestamp::now() - SignedDuration::from_secs(1)),
        &[],
    )
    .await;
    let (_, single_use) = secret(&store, Some(1), None, &[]).await;
    enrol(&store, &single_use, "first", &[]).await.unwrap();

    let nodes_before = store.list_nodes(&NodeFilter::default()).await.unwrap();
    let secrets_before = store.list_enrolment_secrets().await.unwrap();
    let audit_before = last_audit_id(&store).await;
    for (text, expected) in [
        (revoked.as_str(), "revoked"),
        (expired.as_str(), "expired"),
        (single_use.as_str(), "used up"),
        ("ple_never-issued", "unknown"),
    ] {
        match enrol(&store, text, "intruder", &[]).await {
            Err(StoreError::EnrolmentRefused { reason }) => {
                assert!(
                    reason.contains(expected),
                    "{reason:?} should say {expected}"
                )
            }
            other => panic!("enrolment with a {expected} secret: {other:?}"),
        }
    }
    assert_eq!(
        store.list_nodes(&NodeFilter::default()).await.unwrap(),
        nodes_before
    );
    assert_eq!(
        store.list_enrolment_secrets().await.unwrap(),
        secrets_before
    );
    assert_eq!(last_audit_id(&store).await, audit_before);
}

async fn racing_agents_cannot_overuse_a_secret(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, Some(2), None, &[]).await;
    let mut racers = Vec::new();
    for index in 0..6 {
        let store = store.clone();
        let text = text.clone();
        racers.push(tokio::spawn(async move {
            enrol(&store, &text, &format!("racer-{index}"), &[]).await
        }));
    }
    let mut enrolled = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => enrolled += 1,
            Err(StoreError::EnrolmentRefused { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(enrolled, 2);
    assert_eq!(
        store
            .list_nodes(&NodeFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.list_enrolment_secrets().await.unwrap()[0].uses, 2);
}

async fn secrets_are_listed_and_revoked(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let expires_at = Timestamp::from_millisecond(4_102_444_800_000).unwrap();
    let (id, _) = secret(&store, Some(3), Some(expires_at), &[("Zone", "b")]).await;
    let listed = store.list_enrolment_secrets().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].max_uses, Some(3));
    assert_eq!(listed[0].expires_at, Some(expires_at));
    assert_eq!(listed[0].tags, tags(&[("Zone", "b")]));
    assert!(!listed[0].revoked);

    store
        .revoke_enrolment_secret("user:admin", &id)
        .await
        .unwrap();
    store
        .revoke_enrolment_secret("user:admin", &id)
        .await
        .unwrap();
    assert!(store.list_enrolment_secrets().await.unwrap()[0].revoked);
    assert!(matches!(
        store.revoke_enrolment_secret("user:admin", "nope").await,
        Err(StoreError::NotFound { .. })
    ));
    let actions: Vec<String> = store
        .list_audit(Some(start), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.action)
        .collect();
    assert_eq!(
        actions,
        vec!["enrolment-secret.create", "enrolment-secret.revoke"]
    );
}

fn changes(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.map(str::to_owned)))
        .collect()
}

async fn operator_tags_are_set_and_removed(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, None, None, &[]).await;
    let (node, _) = enrol(&store, &text, "db-1", &[("Environment", "dev")])
        .await
        .unwrap();
    let start = last_audit_id(&store).await;

    let tagged = store
        .set_node_tags(
            "user:alice",
            &node.id,
            &changes(&[("Environment", Some("prod")), ("Patch Group", Some("db"))]),
        )
        .await
        .unwrap();
    assert_eq!(
        tagged.tags,
        tags(&[("Environment", "prod"), ("Patch Group", "db")])
    );
    // Removing the operator tag shows the agent's value again.
    let untagged = store
        .set_node_tags("user:alice", &node.id, &changes(&[("Environment", None)]))
        .await
        .unwrap();
    assert_eq!(
        untagged.tags,
        tags(&[("Environment", "dev"), ("Patch Group", "db")])
    );
    assert_eq!(
        store.node(&node.id).await.unwrap().unwrap().tags,
        untagged.tags
    );

    // Nothing to change: no audit row.
    store
        .set_node_tags(
            "user:alice",
            &node.id,
            &changes(&[("Environment", None), ("Patch Group", Some("db"))]),
        )
        .await
        .unwrap();
    let audit = store.list_audit(Some(start), 100).await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|entry| entry.action == "node.tags"));
    assert_eq!(audit[0].actor, "user:alice");
    assert_eq!(audit[0].detail["after"]["Environment"], "prod");
    assert_eq!(audit[1].detail["before"]["Environment"], "prod");

    assert!(matches!(
        store
            .set_node_tags("user:alice", "no-such-node", &changes(&[("a", Some("b"))]))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .set_node_tags("user:alice", &node.id, &changes(&[("", Some("b"))]))
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(store.list_audit(Some(start), 100).await.unwrap().len(), 2);
}

async fn nodes_are_filtered_by_scope_and_tag(db: TestDb) {
    let store = db.store().await;
    let (_, payments) = secret(&store, None, None, &[("Application", "payments")]).await;
    let (_, shop) = secret(&store, None, None, &[("Application", "shop")]).await;
    let (_, untagged) = secret(&store, None, None, &[]).await;
    let (p1, _) = enrol(&store, &payments, "p1", &[("Environment", "prod")])
        .await
        .unwrap();
    let (p2, _) = enrol(&store, &payments, "p2", &[("Environment", "dev")])
        .await
        .unwrap();
    let (s1, _) = enrol(&store, &shop, "s1", &[("Environment", "prod")])
        .await
        .unwrap();
    // The agent claims payments, but the operator says otherwise.
    let (x1, _) = enrol(&store, &untagged, "x1", &[("Application", "payments")])
        .await
        .unwrap();
    store
        .set_node_tags(
            "user:admin",
            &x1.id,
            &changes(&[("Application", Some("ops"))]),
        )
        .await
        .unwrap();

    let hostnames = |nodes: Vec<NodeRecord>| -> Vec<String> {
        nodes.into_iter().map(|node| node.facts.hostname).collect()
    };
    let scope = TagScope {
        key: "Application".into(),
        value: "payments".into(),
    };
    let all = store.list_nodes(&NodeFilter::default()).await.unwrap();
    assert_eq!(hostnames(all), vec!["p1", "p2", "s1", "x1"]);
    let scoped = store
        .list_nodes(&NodeFilter {
            scope: Some(scope.clone()),
            tag: None,
        })
        .await
        .unwrap();
    assert_eq!(scoped[0], store.node(&p1.id).await.unwrap().unwrap());
    assert_eq!(hostnames(scoped), vec!["p1", "p2"]);
    let prod = store
        .list_nodes(&NodeFilter {
            scope: None,
            tag: Some(("Environment".into(), "prod".into())),
        })
        .await
        .unwrap();
    assert_eq!(hostnames(prod), vec!["p1", "s1"]);
    let scoped_prod = store
        .list_nodes(&NodeFilter {
            scope: Some(scope),
            tag: Some(("Environment".into(), "prod".into())),
        })
        .await
        .unwrap();
    assert_eq!(hostnames(scoped_prod), vec!["p1"]);
    let none = store
        .list_nodes(&NodeFilter {
            scope: None,
            tag: Some(("Environment".into(), "staging".into())),
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let _ = (p2, s1);
}

fn checkin(bash: &str, agent_tags: &[(&str, &str)], hostname: &str) -> CheckinRecord {
    CheckinRecord {
        facts: facts(hostname),
        agent_tags: tags(agent_tags),
        inventory_hash: inventory(bash).content_hash(),
        scanned_at: Timestamp::from_millisecond(1_764_000_000_000).unwrap(),
        now: Timestamp::from_millisecond(1_764_000_060_000).unwrap(),
    }
}

async fn a_checkin_records_facts_inventory_and_agent_tags(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, None, None, &[("Zone", "eu-1")]).await;
    let (node, _) = enrol(
        &store,
        &text,
        "web-1",
        &[("Environment", "dev"), ("Zone", "x")],
    )
    .await
    .unwrap();
    let start = last_audit_id(&store).await;

    let first = checkin(
        "5.2-1",
        &[("Environment", "dev"), ("Zone", "x")],
        "web-1.renamed",
    );
    store
        .put_inventory(&first.inventory_hash, &inventory("5.2-1"))
        .await
        .unwrap();
    store.record_checkin(&node.id, &first).await.unwrap();
    let recorded = store.node(&node.id).await.unwrap().unwrap();
    assert_eq!(recorded.facts.hostname, "web-1.renamed");
    assert_eq!(recorded.inventory_hash, Some(first.inventory_hash.clone()));
    assert_eq!(recorded.scanned_at, Some(first.scanned_at));
    assert_eq!(recorded.last_checkin_at, Some(first.now));
    assert_eq!(recorded.enrolled_at, node.enrolled_at);
    assert_eq!(recorded.tags, node.tags);
    assert!(
        store.list_audit(Some(start), 100).await.unwrap().is_empty(),
        "unchanged agent tags are not audited"
    );

    // New agent tags: Environment changes, Zone stays the operator's.
    let second = checkin(
        "5.2-1",
        &[("Environment", "prod"), ("Zone", "y"), ("Role", "web")],
        "web-1",
    );
    store.record_checkin(&node.id, &second).await.unwrap();
    let recorded = store.node(&node.id).await.unwrap().unwrap();
    assert_eq!(
        recorded.tags,
        tags(&[("Environment", "prod"), ("Role", "web"), ("Zone", "eu-1")])
    );
    let audit = store.list_audit(Some(start), 100).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "node.agent-tags");
    assert_eq!(audit[0].actor, format!("node:{}", node.id));
    assert_eq!(audit[0].detail["after"]["Role"], "web");

    // Removing the operator tag reveals the agent's current value.
    let untagged = store
        .set_node_tags("user:admin", &node.id, &changes(&[("Zone", None)]))
        .await
        .unwrap();
    assert_eq!(untagged.tags["Zone"], "y");
    let filtered = store
        .list_nodes(&NodeFilter {
            scope: None,
            tag: Some(("Role".into(), "web".into())),
        })
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
}

async fn a_checkin_with_an_unknown_inventory_or_node_changes_nothing(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, None, None, &[]).await;
    let (node, _) = enrol(&store, &text, "web-1", &[]).await.unwrap();
    let record = checkin("9.9", &[("New", "tag")], "changed");
    match store.record_checkin(&node.id, &record).await {
        Err(StoreError::NotFound { what }) => assert!(what.contains("inventory"), "{what}"),
        other => panic!("check-in with an unknown inventory: {other:?}"),
    }
    assert_eq!(store.node(&node.id).await.unwrap(), Some(node.clone()));

    store
        .put_inventory(&record.inventory_hash, &inventory("9.9"))
        .await
        .unwrap();
    assert!(matches!(
        store.record_checkin("no-such-node", &record).await,
        Err(StoreError::NotFound { .. })
    ));
    let mut bad_tags = record.clone();
    bad_tags.agent_tags.insert("bad\nkey".into(), "v".into());
    assert!(matches!(
        store.record_checkin(&node.id, &bad_tags).await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(store.node(&node.id).await.unwrap(), Some(node));
}

async fn inventories_are_stored_once_per_hash(db: TestDb) {
    let store = db.store().await;
    let inventory = inventory("5.2.15-2+b2");
    let hash = inventory.content_hash();
    assert!(!store.has_inventory(&hash).await.unwrap());
    assert_eq!(store.inventory(&hash).await.unwrap(), None);
    assert!(store.put_inventory(&hash, &inventory).await.unwrap());
    assert!(!store.put_inventory(&hash, &inventory).await.unwrap());
    assert!(store.has_inventory(&hash).await.unwrap());
    assert_eq!(
        store.inventory(&hash).await.unwrap(),
        Some(inventory.clone())
    );
    assert!(matches!(
        store
            .put_inventory(&InventoryHash("not-a-hash".into()), &inventory)
            .await,
        Err(StoreError::Invalid { .. })
    ));
}

async fn deleting_a_node_removes_its_credential_and_tags(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, None, None, &[("Application", "payments")]).await;
    let (node, credential) = enrol(&store, &text, "gone", &[]).await.unwrap();
    let start = last_audit_id(&store).await;
    store.delete_node("user:admin", &node.id).await.unwrap();
    assert_eq!(store.node(&node.id).await.unwrap(), None);
    assert_eq!(
        store
            .node_id_by_credential(&token_hash(&credential))
            .await
            .unwrap(),
        None
    );
    let scoped = store
        .list_nodes(&NodeFilter {
            scope: None,
            tag: Some(("Application".into(), "payments".into())),
        })
        .await
        .unwrap();
    assert!(scoped.is_empty());
    assert!(matches!(
        store.delete_node("user:admin", &node.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let audit = store.list_audit(Some(start), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "node.delete");
    assert_eq!(audit[0].detail["hostname"], "gone");
}

/// Check-ins, tag changes and audit writes from many tasks at once: none
/// fails (no SQLITE_BUSY, no deadlock) and every change is kept.
async fn concurrent_writers_all_succeed(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, None, None, &[]).await;
    let record = checkin("5.2-1", &[("Environment", "dev")], "busy");
    store
        .put_inventory(&record.inventory_hash, &inventory("5.2-1"))
        .await
        .unwrap();
    let mut nodes = Vec::new();
    for index in 0..8 {
        let (node, _) = enrol(&store, &text, &format!("busy-{index}"), &[])
            .await
            .unwrap();
        nodes.push(node.id);
    }
    let start = last_audit_id(&store).await;
    let mut writers = Vec::new();
    for (index, id) in nodes.iter().enumerate() {
        let store = store.clone();
        let id = id.clone();
        let mut record = record.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..10 {
                record.agent_tags = tags(&[("Round", &round.to_string())]);
                store.record_checkin(&id, &record).await?;
                store
                    .set_node_tags(
                        "user:admin",
                        &id,
                        &changes(&[("Writer", Some(&format!("{index}-{round}")))]),
                    )
                    .await?;
                store
                    .record_audit("system", "probe", &id, &serde_json::json!({}))
                    .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    for (index, id) in nodes.iter().enumerate() {
        let node = store.node(id).await.unwrap().unwrap();
        assert_eq!(
            node.tags,
            tags(&[("Round", "9"), ("Writer", &format!("{index}-9"))])
        );
    }
    // Per node and round: agent tags, operator tags, the probe.
    let audit = store.list_audit(Some(start), 1000).await.unwrap();
    assert_eq!(audit.len(), nodes.len() * 10 * 3);
}

/// Operators and the agent changing the same tag of one node at once: each
/// change waits for the other instead of failing.
async fn concurrent_tag_changes_of_one_node_all_succeed(db: TestDb) {
    let store = db.store().await;
    let (_, text) = secret(&store, None, None, &[]).await;
    let (node, _) = enrol(&store, &text, "contended", &[]).await.unwrap();
    let record = checkin("5.2-1", &[], "contended");
    store
        .put_inventory(&record.inventory_hash, &inventory("5.2-1"))
        .await
        .unwrap();
    let mut writers = Vec::new();
    for index in 0..8 {
        let store = store.clone();
        let id = node.id.clone();
        let mut record = record.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..10 {
                let value = format!("{index}-{round}");
                if index % 2 == 0 {
                    store
                        .set_node_tags("user:admin", &id, &changes(&[("Zone", Some(&value))]))
                        .await?;
                    store
                        .set_node_tags("user:admin", &id, &changes(&[("Zone", None)]))
                        .await?;
                } else {
                    record.agent_tags = tags(&[("Zone", &value)]);
                    store.record_checkin(&id, &record).await?;
                }
            }
            Ok::<_, StoreError>(())
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let node = store.node(&node.id).await.unwrap().unwrap();
    assert!(node.tags["Zone"].ends_with("-9"), "{:?}", node.tags);
}
