//! Store: maintenance window definitions (versions, audit, the window
//! quota), governance settings, tagging rules and the rule layer of node
//! tags, on SQLite and PostgreSQL.

#[path = "support/db.rs"]
mod db;

use std::collections::BTreeMap;
use std::net::IpAddr;

use db::TestDb;
use jiff::Timestamp;
use patchline_api::checkin::{Inventory, NodeFacts};
use patchline_api::governance::GovernanceSettings;
use patchline_api::groups::PatchGroup;
use patchline_api::windows::{PatchOperation, Reboot, TaskAction, TaskSpec, WindowSpec};
use patchline_core::orchestration::{Limit, RuleMatch, TaggingRule, TargetQuery};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_server::auth::secrets::{TokenPrefix, generate_token, new_id, token_hash};
use patchline_server::store::records::{CheckinRecord, NewEnrolmentSecret, NewNode, NodeRecord};
use patchline_server::store::{Store, StoreError};

both_backends!(
    windows_are_versioned_listed_audited_and_deleted,
    the_window_quota_refuses_a_new_window_and_stores_nothing,
    concurrent_creations_never_pass_the_window_quota,
    governance_settings_name_existing_objects_and_protect_the_default_window,
    tagging_rules_tag_every_node_below_agent_and_operator_tags,
    a_later_rule_wins_and_deleting_a_rule_removes_its_tags,
    a_checkin_with_changed_facts_reapplies_the_rules,
);

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_764_000_000 + seconds).unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn window(name: &str) -> WindowSpec {
    WindowSpec {
        name: name.into(),
        description: String::new(),
        schedule: "cron(0 0 2 ? * SUN *)".into(),
        time_zone: "Europe/Berlin".into(),
        offset_days: 0,
        start: None,
        end: None,
        duration_hours: 4,
        cutoff_hours: 1,
        cutoff_behavior: Default::default(),
        enabled: true,
        targets: TargetQuery {
            tags: BTreeMap::from([("Environment".to_owned(), vec!["prod".to_owned()])]),
            node_ids: Vec::new(),
        },
        owner: None,
        rollout: None,
        tasks: vec![TaskSpec {
            name: "install".into(),
            priority: 1,
            action: TaskAction::Patch {
                operation: PatchOperation::Install,
                reboot: Reboot::RebootIfNeeded,
                baseline: None,
            },
            max_concurrency: Limit::Percent(25),
            max_errors: Limit::Count(1),
            timeout_seconds: None,
        }],
    }
}

fn facts(hostname: &str, addresses: &[&str]) -> NodeFacts {
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
        addresses: addresses
            .iter()
            .map(|address| address.parse::<IpAddr>().unwrap())
            .collect(),
    }
}

fn rule(name: &str, when: RuleMatch, set: &[(&str, &str)]) -> TaggingRule {
    TaggingRule {
        name: name.into(),
        when,
        set: tags(set),
    }
}

async fn last_audit_id(store: &Store) -> i64 {
    let entries = store.list_audit(None, 1000).await.unwrap();
    entries.last().map_or(0, |entry| entry.id)
}

async fn audit_actions(store: &Store, after: i64) -> Vec<String> {
    let entries = store.list_audit(Some(after), 1000).await.unwrap();
    entries.into_iter().map(|entry| entry.action).collect()
}

/// Enrols a node with secret tags (operator layer) and agent tags.
async fn enrol(
    store: &Store,
    facts: NodeFacts,
    secret_tags: &[(&str, &str)],
    agent_tags: &[(&str, &str)],
) -> NodeRecord {
    let text = generate_token(TokenPrefix::Enrolment);
    store
        .insert_enrolment_secret(
            "user:admin",
            NewEnrolmentSecret {
                id: new_id(),
                name: "test".into(),
                secret_hash: token_hash(&text),
                max_uses: None,
                expires_at: None,
                tags: tags(secret_tags),
            },
        )
        .await
        .unwrap();
    store
        .enrol_node(
            &token_hash(&text),
            Timestamp::now(),
            NewNode {
                id: new_id(),
                facts,
                agent_tags: tags(agent_tags),
                credential_hash: token_hash(&generate_token(TokenPrefix::Node)),
            },
        )
        .await
        .unwrap()
}

async fn node_tags(store: &Store, id: &str) -> BTreeMap<String, String> {
    store.node(id).await.unwrap().unwrap().tags
}

async fn windows_are_versioned_listed_audited_and_deleted(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    assert_eq!(
        store
            .put_window("user:admin", &window("sunday"), 50, at(0))
            .await
            .unwrap(),
        (true, 1)
    );
    assert_eq!(
        store
            .put_window("user:admin", &window("sunday"), 50, at(1))
            .await
            .unwrap(),
        (false, 1),
        "an identical PUT changes nothing"
    );
    let mut changed = window("sunday");
    changed.description = "prod, zone a".into();
    changed.enabled = false;
    assert_eq!(
        store
            .put_window("user:ops", &changed, 50, at(2))
            .await
            .unwrap(),
        (true, 2)
    );
    store
        .put_window("user:admin", &window("Monday"), 50, at(3))
        .await
        .unwrap();

    let stored = store.window("sunday").await.unwrap().unwrap();
    assert_eq!(stored.spec, changed);
    assert_eq!(stored.version, 2);
    assert_eq!(stored.updated_at, at(2));
    assert_eq!(stored.updated_by, "user:ops");
    let names: Vec<String> = store
        .list_windows()
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.spec.name)
        .collect();
    assert_eq!(names, ["Monday", "sunday"], "byte order on both backends");
    assert!(store.window("nope").await.unwrap().is_none());

    store
        .delete_window("user:admin", "sunday", at(4))
        .await
        .unwrap();
    assert!(store.window("sunday").await.unwrap().is_none());
    assert!(matches!(
        store.delete_window("user:admin", "sunday", at(5)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        audit_actions(&store, start).await,
        ["window.put", "window.put", "window.put", "window.delete"]
    );
    let entries = store.list_audit(Some(start), 10).await.unwrap();
    assert_eq!(entries[1].actor, "user:ops");
    assert_eq!(entries[1].target, "window:sunday");
    assert_eq!(entries[1].detail["version"], 2);
    assert_eq!(entries[1].detail["before"]["enabled"], true);
    assert_eq!(entries[1].detail["after"]["enabled"], false);

    let mut blank = window(" ");
    blank.name = " ".into();
    assert!(matches!(
        store.put_window("user:admin", &blank, 50, at(6)).await,
        Err(StoreError::Invalid { .. })
    ));
}

async fn the_window_quota_refuses_a_new_window_and_stores_nothing(db: TestDb) {
    let store = db.store().await;
    for name in ["a", "b"] {
        store
            .put_window("user:admin", &window(name), 2, at(0))
            .await
            .unwrap();
    }
    let before = last_audit_id(&store).await;
    match store.put_window("user:admin", &window("c"), 2, at(1)).await {
        Err(StoreError::Conflict { what }) => {
            assert!(what.contains("quota max_windows is 2"), "{what}");
            assert!(what.contains("--max-windows"), "{what}");
        }
        other => panic!("expected a quota conflict, got {other:?}"),
    }
    assert!(store.window("c").await.unwrap().is_none());
    assert_eq!(last_audit_id(&store).await, before, "nothing audited");
    // Changing an existing window at the quota is no new window.
    let mut changed = window("b");
    changed.duration_hours = 6;
    assert_eq!(
        store
            .put_window("user:admin", &changed, 2, at(2))
            .await
            .unwrap(),
        (true, 2)
    );
}

async fn concurrent_creations_never_pass_the_window_quota(db: TestDb) {
    let store = db.store().await;
    let attempts: Vec<_> = (0..6)
        .map(|index| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_window("user:admin", &window(&format!("w{index}")), 3, at(index))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok((true, 1)) => created += 1,
            Err(StoreError::Conflict { .. }) => refused += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((created, refused), (3, 3));
    assert_eq!(store.list_windows().await.unwrap().len(), 3);
}

async fn governance_settings_name_existing_objects_and_protect_the_default_window(db: TestDb) {
    let store = db.store().await;
    assert_eq!(
        store.governance_settings().await.unwrap(),
        GovernanceSettings::default()
    );
    let wanted = GovernanceSettings {
        default_window: Some("sunday".into()),
        default_patch_group: Some("prod".into()),
    };
    match store
        .put_governance_settings("user:admin", &wanted, at(0))
        .await
    {
        Err(StoreError::Invalid { reason }) => {
            assert!(reason.contains("default_patch_group"), "{reason}")
        }
        other => panic!("expected invalid, got {other:?}"),
    }
    let debian_default = store
        .list_baselines()
        .await
        .unwrap()
        .into_iter()
        .find(|baseline| baseline.default_for_family && baseline.os_family == OsFamily::Debian)
        .unwrap();
    store
        .put_patch_group(
            "user:admin",
            &PatchGroup {
                name: "prod".into(),
                baselines: BTreeMap::from([(OsFamily::Debian, debian_default.name)]),
            },
        )
        .await
        .unwrap();
    match store
        .put_governance_settings("user:admin", &wanted, at(1))
        .await
    {
        Err(StoreError::Invalid { reason }) => {
            assert!(reason.contains("default_window"), "{reason}")
        }
        other => panic!("expected invalid, got {other:?}"),
    }
    assert_eq!(
        store.governance_settings().await.unwrap(),
        GovernanceSettings::default(),
        "a refused change stores nothing"
    );

    store
        .put_window("user:admin", &window("sunday"), 50, at(2))
        .await
        .unwrap();
    let generation = store.policy_generation().await.unwrap();

    assert!(
        store
            .put_governance_settings("user:admin", &wanted, at(3))
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_governance_settings("user:admin", &wanted, at(4))
            .await
            .unwrap(),
        "identical settings change nothing"
    );
    assert_eq!(store.governance_settings().await.unwrap(), wanted);
    assert!(
        store.policy_generation().await.unwrap() > generation,
        "the default patch group is policy: the generation moves"
    );
    assert!(matches!(
        store.delete_window("user:admin", "sunday", at(5)).await,
        Err(StoreError::Conflict { .. })
    ));
    // The default window serves every node: it cannot be given an owner,
    // and an owned window cannot become the default.
    let mut owned = window("sunday");
    owned.owner = Some(patchline_api::auth::TagScope {
        key: "Application".into(),
        value: "shop".into(),
    });
    assert!(matches!(
        store.put_window("user:admin", &owned, 50, at(5)).await,
        Err(StoreError::Invalid { .. })
    ));
    owned.name = "team".into();
    store
        .put_window("user:admin", &owned, 50, at(5))
        .await
        .unwrap();
    let to_team = GovernanceSettings {
        default_window: Some("team".into()),
        default_patch_group: None,
    };
    match store
        .put_governance_settings("user:admin", &to_team, at(5))
        .await
    {
        Err(StoreError::Invalid { reason }) => assert!(reason.contains("no owner"), "{reason}"),
        other => panic!("expected invalid, got {other:?}"),
    }
    let start = last_audit_id(&store).await;
    assert!(
        store
            .put_governance_settings("user:admin", &GovernanceSettings::default(), at(6))
            .await
            .unwrap()
    );
    store
        .delete_window("user:admin", "sunday", at(7))
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&store, start).await,
        ["governance.put", "window.delete"]
    );
}

async fn tagging_rules_tag_every_node_below_agent_and_operator_tags(db: TestDb) {
    let store = db.store().await;
    let web = enrol(
        &store,
        facts("web-1.example", &["10.1.2.3"]),
        &[("Environment", "prod")],
        &[("Zone", "agent-zone")],
    )
    .await;
    let db_node = enrol(&store, facts("db-1.example", &["192.168.0.9"]), &[], &[]).await;

    let start = last_audit_id(&store).await;
    let web_rule = rule(
        "10-web",
        RuleMatch {
            hostname: Some("WEB-*".into()),
            ..RuleMatch::default()
        },
        &[
            ("Application", "shop"),
            ("Environment", "dev"),
            ("Zone", "rule-zone"),
        ],
    );
    let change = store
        .put_tagging_rule("user:admin", &web_rule, at(0))
        .await
        .unwrap();
    assert!(change.changed);
    assert_eq!(change.retagged_nodes, 1);
    assert_eq!(
        node_tags(&store, &web.id).await,
        tags(&[
            ("Application", "shop"),
            ("Environment", "prod"),
            ("Zone", "agent-zone")
        ]),
        "operator and agent tags win over rule tags"
    );
    assert!(node_tags(&store, &db_node.id).await.is_empty());
    assert_eq!(
        audit_actions(&store, start).await,
        ["tagging-rule.put", "node.rule-tags"]
    );

    // The operator removes its tag: the rule's value shows through.
    let changes = BTreeMap::from([("Environment".to_owned(), None)]);
    store
        .set_node_tags("user:admin", &web.id, &changes)
        .await
        .unwrap();
    assert_eq!(node_tags(&store, &web.id).await["Environment"], "dev");

    let identical = store
        .put_tagging_rule("user:admin", &web_rule, at(1))
        .await
        .unwrap();
    assert!(!identical.changed);

    let network_rule = rule(
        "20-lan",
        RuleMatch {
            network: Some("192.168.0.0/16".into()),
            ..RuleMatch::default()
        },
        &[("Zone", "lan")],
    );
    let change = store
        .put_tagging_rule("user:admin", &network_rule, at(2))
        .await
        .unwrap();
    assert_eq!(change.retagged_nodes, 1);
    assert_eq!(
        node_tags(&store, &db_node.id).await,
        tags(&[("Zone", "lan")])
    );

    // A node enrolled later gets the rules through `apply_tagging_rules`.
    let late = enrol(&store, facts("web-2.example", &[]), &[], &[]).await;
    assert!(store.apply_tagging_rules(&late.id, at(3)).await.unwrap());
    assert_eq!(node_tags(&store, &late.id).await["Application"], "shop");
    assert!(!store.apply_tagging_rules(&late.id, at(4)).await.unwrap());

    // The layer set directly: audited once, the same tags again are no change.
    let start = last_audit_id(&store).await;
    let direct = tags(&[("Zone", "edge")]);
    assert!(store.set_rule_tags(&late.id, &direct, at(5)).await.unwrap());
    assert!(!store.set_rule_tags(&late.id, &direct, at(6)).await.unwrap());
    assert_eq!(node_tags(&store, &late.id).await, direct);
    assert_eq!(audit_actions(&store, start).await, ["node.rule-tags"]);

    let names: Vec<String> = store
        .tagging_rules()
        .await
        .unwrap()
        .into_iter()
        .map(|rule| rule.name)
        .collect();
    assert_eq!(names, ["10-web", "20-lan"]);

    let invalid = rule(
        "bad",
        RuleMatch {
            network: Some("10.0.0.0/33".into()),
            ..RuleMatch::default()
        },
        &[("Zone", "x")],
    );
    assert!(matches!(
        store.put_tagging_rule("user:admin", &invalid, at(5)).await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.delete_tagging_rule("user:admin", "nope", at(6)).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn a_later_rule_wins_and_deleting_a_rule_removes_its_tags(db: TestDb) {
    let store = db.store().await;
    let node = enrol(&store, facts("app-1", &[]), &[], &[]).await;
    let everything = RuleMatch::default();
    store
        .put_tagging_rule(
            "user:admin",
            &rule("b-specific", everything.clone(), &[("Patch Group", "b")]),
            at(0),
        )
        .await
        .unwrap();
    store
        .put_tagging_rule(
            "user:admin",
            &rule(
                "a-broad",
                everything,
                &[("Patch Group", "a"), ("Owner", "ops")],
            ),
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(
        node_tags(&store, &node.id).await,
        tags(&[("Owner", "ops"), ("Patch Group", "b")])
    );
    let start = last_audit_id(&store).await;
    assert_eq!(
        store
            .delete_tagging_rule("user:admin", "b-specific", at(2))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        node_tags(&store, &node.id).await,
        tags(&[("Owner", "ops"), ("Patch Group", "a")])
    );
    store
        .delete_tagging_rule("user:admin", "a-broad", at(3))
        .await
        .unwrap();
    assert!(node_tags(&store, &node.id).await.is_empty());
    assert_eq!(
        audit_actions(&store, start).await,
        [
            "tagging-rule.delete",
            "node.rule-tags",
            "tagging-rule.delete",
            "node.rule-tags"
        ]
    );
}

async fn a_checkin_with_changed_facts_reapplies_the_rules(db: TestDb) {
    let store = db.store().await;
    store
        .put_tagging_rule(
            "user:admin",
            &rule(
                "dmz",
                RuleMatch {
                    network: Some("fd00:1::/32".into()),
                    ..RuleMatch::default()
                },
                &[("Zone", "dmz")],
            ),
            at(0),
        )
        .await
        .unwrap();
    let node = enrol(&store, facts("edge-1", &[]), &[], &[("Role", "edge")]).await;
    let inventory = Inventory {
        os: node.facts.os.clone(),
        installed: Vec::new(),
        updates: Vec::new(),
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    };
    let hash = inventory.content_hash();
    store.put_inventory(&hash, &inventory).await.unwrap();
    let checkin = |facts: NodeFacts| CheckinRecord {
        facts,
        agent_tags: tags(&[("Role", "edge")]),
        inventory_hash: hash.clone(),
        scanned_at: at(10),
        now: at(11),
    };

    store
        .record_checkin(&node.id, &checkin(facts("edge-1", &[])))
        .await
        .unwrap();
    assert_eq!(node_tags(&store, &node.id).await, tags(&[("Role", "edge")]));

    let start = last_audit_id(&store).await;
    store
        .record_checkin(&node.id, &checkin(facts("edge-1", &["fd00:1::5"])))
        .await
        .unwrap();
    assert_eq!(
        node_tags(&store, &node.id).await,
        tags(&[("Role", "edge"), ("Zone", "dmz")])
    );
    assert_eq!(audit_actions(&store, start).await, ["node.rule-tags"]);

    // Same facts again: the fast path, nothing audited.
    let start = last_audit_id(&store).await;
    store
        .record_checkin(&node.id, &checkin(facts("edge-1", &["fd00:1::5"])))
        .await
        .unwrap();
    assert!(audit_actions(&store, start).await.is_empty());

    // The agent takes the key over; then the address moves away.
    let mut with_zone = checkin(facts("edge-1", &["fd00:1::5"]));
    with_zone.agent_tags = tags(&[("Role", "edge"), ("Zone", "agent")]);
    store.record_checkin(&node.id, &with_zone).await.unwrap();
    assert_eq!(node_tags(&store, &node.id).await["Zone"], "agent");
    let mut without_zone = checkin(facts("edge-1", &["10.0.0.1"]));
    without_zone.agent_tags = tags(&[("Role", "edge")]);
    store.record_checkin(&node.id, &without_zone).await.unwrap();
    assert_eq!(node_tags(&store, &node.id).await, tags(&[("Role", "edge")]));
}
