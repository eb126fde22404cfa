//! The compliance engine over a real store, on SQLite and PostgreSQL:
//! distinct evaluation, baseline resolution, re-evaluation without
//! rescanning, history across a day change, and the reports with CSV —
//! where a node's patch group is its effective one (the tag, else the
//! governance default group).

#[path = "support/db.rs"]
mod db;

use std::collections::BTreeMap;

use db::TestDb;
use jiff::Timestamp;
use jiff::civil::Date;
use patchline_api::auth::TagScope;
use patchline_api::checkin::{Inventory, NodeFacts};
use patchline_api::compliance::SummaryBy;
use patchline_api::governance::GovernanceSettings;
use patchline_api::groups::PatchGroup;
use patchline_api::nodes::tag_keys;
use patchline_core::baseline::{ApprovalRule, Baseline, ComplianceLevel, FilterKey};
use patchline_core::compliance::{ComplianceStatus, PackageState};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::{Classification, InstalledPackage, Severity, Update};
use patchline_server::compliance::report::{aggregate_patches, fold_history, fold_summaries};
use patchline_server::compliance::{ComplianceEngine, csv_export};
use patchline_server::store::compliance::ComplianceNodeFilter;
use patchline_server::store::records::{CheckinRecord, NewEnrolmentSecret, NewNode};
use patchline_server::store::{Store, StoreError};

both_backends!(
    identical_inventories_are_evaluated_once,
    a_baseline_change_reevaluates_without_rescanning,
    the_patch_group_tag_selects_the_groups_baseline_else_the_default,
    history_follows_the_day_change,
    a_node_without_inventory_is_unreported,
    reports_group_scope_and_export_csv,
    the_in_memory_summary_follows_every_change,
    summaries_count_untagged_nodes_under_the_default_group,
    history_records_the_effective_patch_group,
);

const SECRET_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn day(text: &str) -> Date {
    text.parse().unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn debian() -> OsInfo {
    OsInfo {
        family: OsFamily::Debian,
        id: "debian".into(),
        version_id: "12".into(),
        product: "Debian12".into(),
    }
}

fn rocky() -> OsInfo {
    OsInfo {
        family: OsFamily::RhelCompatible,
        id: "rocky".into(),
        version_id: "9.3".into(),
        product: "RockyLinux9.3".into(),
    }
}

/// `openssl` at `installed`, with security update 3.0.2-1 released on
/// `released`, plus `bash` without updates.
fn inventory(os: OsInfo, installed: &str, released: Date) -> Inventory {
    let arch = if os.family.is_debian_like() {
        "amd64"
    } else {
        "x86_64"
    };
    let mut inventory = Inventory {
        os,
        installed: vec![
            InstalledPackage {
                name: "openssl".into(),
                arch: arch.into(),
                version: installed.into(),
                source: None,
            },
            InstalledPackage {
                name: "bash".into(),
                arch: arch.into(),
                version: "5.2-1".into(),
                source: None,
            },
        ],
        updates: vec![Update {
            name: "openssl".into(),
            arch: arch.into(),
            version: "3.0.2-1".into(),
            classification: Classification::Security,
            severity: Severity::Critical,
            release_date: released,
            advisory_id: Some("DSA-1".into()),
            cves: Vec::new(),
            repository: Some("security".into()),
            priority: None,
            section: None,
            reboot_suggested: false,
        }],
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    };
    inventory.normalise();
    inventory
}

fn facts(hostname: &str, os: &OsInfo) -> NodeFacts {
    NodeFacts {
        hostname: hostname.into(),
        os: os.clone(),
        arch: "amd64".into(),
        kernel: None,
        reboot_required: false,
        agent_version: "test".into(),
        addresses: Vec::new(),
    }
}

/// A store with an enrolment secret, and helpers to add nodes.
struct Fleet {
    store: Store,
    engine: ComplianceEngine,
}

impl Fleet {
    async fn new(db: &TestDb) -> Fleet {
        let store = db.store().await;
        store
            .insert_enrolment_secret(
                "system",
                NewEnrolmentSecret {
                    id: "secret-1".into(),
                    name: "fleet".into(),
                    secret_hash: SECRET_HASH.into(),
                    max_uses: None,
                    expires_at: None,
                    tags: BTreeMap::new(),
                },
            )
            .await
            .unwrap();
        let engine = ComplianceEngine::new(store.clone());
        Fleet { store, engine }
    }

    /// Enrols a node with agent tags; checks in `inventory` if given.
    async fn node(
        &self,
        id: &str,
        tags: &[(&str, &str)],
        inventory: Option<&Inventory>,
        now: Timestamp,
    ) {
        let os = inventory.map_or_else(debian, |inventory| inventory.os.clone());
        let agent_tags: BTreeMap<String, String> = tags
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        self.store
            .enrol_node(
                SECRET_HASH,
                now,
                NewNode {
                    id: id.into(),
                    facts: facts(&format!("host-{id}"), &os),
                    agent_tags: agent_tags.clone(),
                    credential_hash: format!("{:0>64}", hex::encode(id)),
                },
            )
            .await
            .unwrap();
        if let Some(inventory) = inventory {
            self.check_in(id, inventory, agent_tags, now).await;
        }
    }

    async fn check_in(
        &self,
        id: &str,
        inventory: &Inventory,
        agent_tags: BTreeMap<String, String>,
        now: Timestamp,
    ) {
        let hash = inventory.content_hash();
        self.store.put_inventory(&hash, inventory).await.unwrap();
        self.store
            .record_checkin(
                id,
                &CheckinRecord {
                    facts: facts(&format!("host-{id}"), &inventory.os),
                    agent_tags,
                    inventory_hash: hash,
                    scanned_at: now,
                    now,
                },
            )
            .await
            .unwrap();
    }

    async fn status(&self, id: &str) -> Option<ComplianceStatus> {
        self.store
            .node_compliance(id)
            .await
            .unwrap()
            .map(|(_, summary)| summary.status)
    }

    async fn baseline_of(&self, id: &str) -> Option<String> {
        self.store
            .node_compliance(id)
            .await
            .unwrap()
            .map(|(_, summary)| summary.baseline)
    }
}

fn security_after(name: &str, family: OsFamily, days: u32) -> Baseline {
    Baseline {
        name: name.into(),
        description: String::new(),
        os_family: family,
        approval_rules: vec![ApprovalRule::after_days(
            days,
            ComplianceLevel::Critical,
            false,
            [(FilterKey::Classification, &["security"][..])],
        )],
        approved_patches: Default::default(),
        rejected_patches: Default::default(),
        available_security_updates_compliance: ComplianceStatus::Compliant,
    }
}

async fn identical_inventories_are_evaluated_once(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-10T12:00:00Z");
    let old = inventory(debian(), "3.0.1-1", day("2026-03-01"));
    let new = inventory(debian(), "3.0.2-1", day("2026-03-01"));
    for id in ["a1", "a2", "a3"] {
        fleet.node(id, &[], Some(&old), now).await;
    }
    fleet.node("b1", &[], Some(&new), now).await;

    let stats = fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_eq!((stats.nodes, stats.distinct_evaluations), (4, 2));
    assert_eq!(fleet.engine.evaluations(), 2);
    assert_eq!(
        fleet.status("a2").await,
        Some(ComplianceStatus::NonCompliant)
    );
    assert_eq!(fleet.status("b1").await, Some(ComplianceStatus::Compliant));

    // The same day again: every key is known, nothing is evaluated.
    let again = fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_eq!(again.distinct_evaluations, 0);
    // A check-in of another identical node reuses the result.
    fleet.node("a4", &[], Some(&old), now).await;
    let summary = fleet
        .engine
        .evaluate_node("a4", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.status, ComplianceStatus::NonCompliant);
    assert_eq!(fleet.engine.evaluations(), 2);

    // A fresh engine (a restarted server) finds the day's stored results.
    let restarted = ComplianceEngine::new(fleet.store.clone());
    let stats = restarted.reevaluate_fleet(now).await.unwrap();
    assert_eq!((stats.nodes, stats.distinct_evaluations), (5, 0));
    assert_eq!(restarted.evaluations(), 0);
    // ...and reads a node's detail without evaluating.
    let (key, _) = fleet.store.node_compliance("a1").await.unwrap().unwrap();
    let report = restarted.report(&key).await.unwrap().unwrap();
    let openssl = report
        .packages
        .iter()
        .find(|line| line.name == "openssl")
        .unwrap();
    assert_eq!(openssl.state, PackageState::Missing);
    assert_eq!(openssl.approved_version.as_deref(), Some("3.0.2-1"));
    assert_eq!(restarted.evaluations(), 0);
}

async fn a_baseline_change_reevaluates_without_rescanning(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-10T12:00:00Z");
    let old = inventory(debian(), "3.0.1-1", day("2026-03-09"));
    for id in ["n1", "n2"] {
        fleet.node(id, &[], Some(&old), now).await;
    }
    fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_eq!(
        fleet.status("n1").await,
        Some(ComplianceStatus::NonCompliant)
    );
    let before = fleet.store.node_compliance("n1").await.unwrap().unwrap().1;

    // The default Debian baseline now waits 7 days: the update released
    // yesterday is not approved yet.
    let default = fleet
        .store
        .default_baseline(OsFamily::Debian)
        .await
        .unwrap()
        .unwrap();
    let changed = security_after(&default.name, OsFamily::Debian, 7);
    let outcome = fleet
        .store
        .put_baseline("user:sec", &changed, true, now)
        .await
        .unwrap();
    assert!(outcome.changed);
    let later = at("2026-03-10T12:05:00Z");
    let stats = fleet.engine.reevaluate_fleet(later).await.unwrap();
    assert_eq!((stats.nodes, stats.distinct_evaluations), (2, 1));
    let after = fleet.store.node_compliance("n1").await.unwrap().unwrap().1;
    assert_eq!(after.status, ComplianceStatus::Compliant);
    assert_eq!(after.baseline_version, before.baseline_version + 1);
    // No rescan: the node's scan time is the original check-in's.
    assert_eq!(after.scanned_at, before.scanned_at);
    assert_eq!(fleet.status("n2").await, Some(ComplianceStatus::Compliant));
}

async fn the_patch_group_tag_selects_the_groups_baseline_else_the_default(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-10T12:00:00Z");
    let strict = security_after("prod-debian", OsFamily::Debian, 0);
    let lenient = security_after("prod-debian-later", OsFamily::Debian, 30);
    fleet
        .store
        .put_baseline("user:sec", &strict, false, now)
        .await
        .unwrap();
    fleet
        .store
        .put_baseline("user:sec", &lenient, false, now)
        .await
        .unwrap();
    fleet
        .store
        .put_patch_group(
            "user:sec",
            &PatchGroup {
                name: "prod".into(),
                baselines: BTreeMap::from([(OsFamily::Debian, "prod-debian-later".into())]),
            },
        )
        .await
        .unwrap();
    let debian_inventory = inventory(debian(), "3.0.1-1", day("2026-03-09"));
    let rocky_inventory = inventory(rocky(), "3.0.1-1", day("2026-03-09"));
    fleet
        .node(
            "grouped",
            &[(tag_keys::PATCH_GROUP, "prod")],
            Some(&debian_inventory),
            now,
        )
        .await;
    fleet
        .node("untagged", &[], Some(&debian_inventory), now)
        .await;
    fleet
        .node(
            "unknown-group",
            &[(tag_keys::PATCH_GROUP, "nope")],
            Some(&debian_inventory),
            now,
        )
        .await;
    // The group has no baseline for RHEL: the family default applies.
    fleet
        .node(
            "rocky",
            &[(tag_keys::PATCH_GROUP, "prod")],
            Some(&rocky_inventory),
            now,
        )
        .await;
    let stats = fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_eq!(stats.distinct_evaluations, 3);

    let debian_default = fleet
        .store
        .default_baseline(OsFamily::Debian)
        .await
        .unwrap()
        .unwrap()
        .name;
    let rhel_default = fleet
        .store
        .default_baseline(OsFamily::RhelCompatible)
        .await
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(
        fleet.baseline_of("grouped").await.as_deref(),
        Some("prod-debian-later")
    );
    assert_eq!(
        fleet.status("grouped").await,
        Some(ComplianceStatus::Compliant)
    );
    assert_eq!(
        fleet.baseline_of("untagged").await,
        Some(debian_default.clone())
    );
    assert_eq!(
        fleet.status("untagged").await,
        Some(ComplianceStatus::NonCompliant)
    );
    assert_eq!(
        fleet.baseline_of("unknown-group").await,
        Some(debian_default)
    );
    assert_eq!(fleet.baseline_of("rocky").await, Some(rhel_default));

    // Retagging moves the node to the group's baseline at the next pass.
    fleet
        .store
        .set_node_tags(
            "user:ops",
            "untagged",
            &BTreeMap::from([(tag_keys::PATCH_GROUP.to_string(), Some("prod".to_string()))]),
        )
        .await
        .unwrap();
    fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_eq!(
        fleet.baseline_of("untagged").await.as_deref(),
        Some("prod-debian-later")
    );
    assert_eq!(
        fleet.status("untagged").await,
        Some(ComplianceStatus::Compliant)
    );
}

async fn history_follows_the_day_change(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let day1 = at("2026-03-10T23:00:00Z");
    let day2 = at("2026-03-11T00:00:01Z");
    // Approved one day after release: compliant on the release day,
    // missing from the next.
    let baseline = security_after("one-day", OsFamily::Debian, 1);
    fleet
        .store
        .put_baseline("user:sec", &baseline, true, day1)
        .await
        .unwrap();
    let released_today = inventory(debian(), "3.0.1-1", day("2026-03-10"));
    fleet
        .node(
            "n1",
            &[(tag_keys::ENVIRONMENT, "prod")],
            Some(&released_today),
            day1,
        )
        .await;
    fleet
        .node("silent", &[(tag_keys::ENVIRONMENT, "prod")], None, day1)
        .await;

    let first = fleet.engine.reevaluate_fleet(day1).await.unwrap();
    assert_eq!(first.distinct_evaluations, 1);
    assert_eq!(fleet.status("n1").await, Some(ComplianceStatus::Compliant));
    let second = fleet.engine.reevaluate_fleet(day2).await.unwrap();
    // A new day is a new key, even with the same inventory and baseline.
    assert_eq!(second.distinct_evaluations, 1);
    assert_eq!(
        fleet.status("n1").await,
        Some(ComplianceStatus::NonCompliant)
    );

    let counts = fleet
        .store
        .compliance_history_counts(day("2026-03-01"), SummaryBy::Environment, None)
        .await
        .unwrap();
    let points = fold_history(counts);
    let view: Vec<(String, String, u64, u64, u64)> = points
        .iter()
        .map(|p| {
            (
                p.day.to_string(),
                p.key.clone(),
                p.compliant,
                p.non_compliant,
                p.unreported,
            )
        })
        .collect();
    assert_eq!(
        view,
        vec![
            ("2026-03-10".into(), "prod".into(), 1, 0, 1),
            ("2026-03-11".into(), "prod".into(), 0, 1, 1),
        ]
    );
    // `since` cuts older days off.
    let recent = fleet
        .store
        .compliance_history_counts(day("2026-03-11"), SummaryBy::Environment, None)
        .await
        .unwrap();
    assert_eq!(fold_history(recent).len(), 1);
}

async fn a_node_without_inventory_is_unreported(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-10T12:00:00Z");
    fleet.node("quiet", &[], None, now).await;
    assert_eq!(
        fleet.engine.evaluate_node("quiet", now).await.unwrap(),
        None
    );
    assert_eq!(
        fleet
            .engine
            .evaluate_node("no-such-node", now)
            .await
            .unwrap(),
        None
    );
    let lines = fold_summaries(
        fleet
            .store
            .compliance_status_counts(SummaryBy::OsFamily, None)
            .await
            .unwrap(),
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].key.as_str(), lines[0].nodes, lines[0].unreported),
        ("debian", 1, 1)
    );

    // Its first check-in is evaluated at once.
    let inventory = inventory(debian(), "3.0.1-1", day("2026-03-01"));
    fleet
        .check_in("quiet", &inventory, BTreeMap::new(), now)
        .await;
    let summary = fleet
        .engine
        .evaluate_node("quiet", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.status, ComplianceStatus::NonCompliant);
    assert_eq!(summary.state_counts.missing, 1);
}

async fn reports_group_scope_and_export_csv(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-10T12:00:00Z");
    let old = inventory(debian(), "3.0.1-1", day("2026-03-01"));
    let new = inventory(debian(), "3.0.2-1", day("2026-03-01"));
    let payments = [
        (tag_keys::APPLICATION, "payments"),
        (tag_keys::ENVIRONMENT, "prod"),
    ];
    fleet.node("p1", &payments, Some(&old), now).await;
    fleet.node("p2", &payments, Some(&new), now).await;
    fleet
        .node("w1", &[(tag_keys::APPLICATION, "web")], Some(&old), now)
        .await;
    fleet.node("w2", &[], None, now).await;
    fleet.engine.reevaluate_fleet(now).await.unwrap();

    let by_app = fold_summaries(
        fleet
            .store
            .compliance_status_counts(SummaryBy::Application, None)
            .await
            .unwrap(),
    );
    let view: Vec<(&str, u64, u64, u64, u64)> = by_app
        .iter()
        .map(|l| {
            (
                l.key.as_str(),
                l.nodes,
                l.compliant,
                l.non_compliant,
                l.unreported,
            )
        })
        .collect();
    assert_eq!(
        view,
        vec![
            ("-", 1, 0, 0, 1),
            ("payments", 2, 1, 1, 0),
            ("web", 1, 0, 1, 0)
        ]
    );
    let unspecified = by_app[2].non_compliant_by_severity.unspecified;
    assert_eq!(
        unspecified, 1,
        "the default baseline's level is unspecified"
    );

    // An app-team scope sees only its nodes.
    let scope = TagScope {
        key: tag_keys::APPLICATION.into(),
        value: "payments".into(),
    };
    let scoped = fold_summaries(
        fleet
            .store
            .compliance_status_counts(SummaryBy::Environment, Some(&scope))
            .await
            .unwrap(),
    );
    assert_eq!(scoped.len(), 1);
    assert_eq!((scoped[0].key.as_str(), scoped[0].nodes), ("prod", 2));
    let listed = fleet
        .store
        .compliance_node_summaries(&ComplianceNodeFilter {
            scope: Some(scope.clone()),
            status: Some(Some(ComplianceStatus::NonCompliant)),
            baseline: None,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].0.as_str(), listed[0].1.as_str()),
        ("p1", "host-p1")
    );
    let unreported = fleet
        .store
        .compliance_node_summaries(&ComplianceNodeFilter {
            scope: None,
            status: Some(None),
            baseline: None,
        })
        .await
        .unwrap();
    assert_eq!(unreported.len(), 1);
    assert_eq!(unreported[0].0, "w2");

    // Per patch: distinct results weighted by their node counts.
    let weights = fleet.store.compliance_patch_weights(None).await.unwrap();
    assert_eq!(weights.iter().map(|(_, nodes)| nodes).sum::<u64>(), 3);
    let patches = aggregate_patches(weights.iter().map(|(lines, n)| (&lines[..], *n)));
    assert_eq!(patches.len(), 1);
    assert_eq!(
        (
            patches[0].name.as_str(),
            patches[0].missing_nodes,
            patches[0].installed_nodes
        ),
        ("openssl", 2, 1)
    );
    let scoped_weights = fleet
        .store
        .compliance_patch_weights(Some(&scope))
        .await
        .unwrap();
    assert_eq!(
        scoped_weights.iter().map(|(_, nodes)| nodes).sum::<u64>(),
        2
    );

    // CSV of the same rows.
    let csv = String::from_utf8(csv_export::patches(&patches).unwrap()).unwrap();
    assert_eq!(
        csv,
        "name,version,advisory_id,compliance_level,missing_nodes,failed_nodes,pending_reboot_nodes,installed_nodes\n\
         openssl,3.0.2-1,DSA-1,unspecified,2,0,0,1\n"
    );
    let csv = String::from_utf8(csv_export::summaries(&by_app).unwrap()).unwrap();
    assert!(csv.contains("\npayments,2,1,1,0,0,0,0,0,0,1\n"), "{csv}");
}

/// Every summary line, sorted, from the engine's in-memory view and from
/// the grouped SQL query over the tables.
async fn both_summaries(
    fleet: &Fleet,
    by: SummaryBy,
    scope: Option<&TagScope>,
) -> (Vec<String>, Vec<String>) {
    let render = |lines: Vec<patchline_server::compliance::report::StatusCount>| {
        let mut lines: Vec<String> = lines
            .into_iter()
            .map(|line| {
                format!(
                    "{} {:?} {:?} {}",
                    line.key, line.status, line.severity, line.nodes
                )
            })
            .collect();
        lines.sort();
        lines
    };
    let cached = fleet.engine.status_counts(by, scope).await.unwrap();
    let queried = fleet
        .store
        .compliance_status_counts(by, scope)
        .await
        .unwrap();
    (render(cached), render(queried))
}

async fn assert_summaries_agree(fleet: &Fleet, moment: &str) {
    let app_scope = TagScope {
        key: tag_keys::APPLICATION.into(),
        value: "payments".into(),
    };
    let group_scope = TagScope {
        key: tag_keys::PATCH_GROUP.into(),
        value: "web".into(),
    };
    for by in SummaryBy::ALL {
        for scope in [None, Some(&app_scope), Some(&group_scope)] {
            let (cached, queried) = both_summaries(fleet, by, scope).await;
            assert_eq!(
                cached,
                queried,
                "{moment}: by {} scope {scope:?}",
                by.as_str()
            );
        }
    }
}

async fn the_in_memory_summary_follows_every_change(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-20T10:00:00Z");
    let vulnerable = inventory(debian(), "3.0.1-1", day("2026-03-01"));
    let patched = inventory(debian(), "3.0.2-1", day("2026-03-01"));
    fleet
        .node(
            "a",
            &[(tag_keys::APPLICATION, "payments"), (tag_keys::ZONE, "z1")],
            Some(&vulnerable),
            now,
        )
        .await;
    fleet
        .node("b", &[(tag_keys::ZONE, "z2")], Some(&patched), now)
        .await;
    fleet
        .node("c", &[(tag_keys::APPLICATION, "payments")], None, now)
        .await;
    fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_summaries_agree(&fleet, "after the first pass").await;
    let generation = fleet.store.fleet_generation().await.unwrap();

    // Nothing changed: the view is served as is, the counter stands still.
    fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_eq!(fleet.store.fleet_generation().await.unwrap(), generation);

    // A tag change, a node's new compliance, a deletion: each moves the
    // counter in its own transaction and shows in the next summary.
    fleet
        .store
        .set_node_tags(
            "user:ops",
            "b",
            &BTreeMap::from([(
                tag_keys::APPLICATION.to_string(),
                Some("payments".to_string()),
            )]),
        )
        .await
        .unwrap();
    assert!(fleet.store.fleet_generation().await.unwrap() > generation);
    assert_summaries_agree(&fleet, "after a tag change").await;

    fleet
        .check_in(
            "a",
            &patched,
            BTreeMap::from([(tag_keys::APPLICATION.to_string(), "payments".to_string())]),
            now,
        )
        .await;
    fleet.engine.evaluate_node("a", now).await.unwrap();
    assert_summaries_agree(&fleet, "after a node became compliant").await;
    let (cached, _) = both_summaries(&fleet, SummaryBy::OsFamily, None).await;
    assert!(
        cached
            .iter()
            .any(|line| line.contains("Some(Compliant) None 2")),
        "{cached:?}"
    );

    fleet.store.delete_node("user:ops", "c").await.unwrap();
    assert_summaries_agree(&fleet, "after a deletion").await;
}

/// Creates patch groups (without baselines of their own: their nodes keep
/// the family default, so only the grouping moves).
async fn patch_groups(fleet: &Fleet, names: &[&str]) {
    for name in names {
        fleet
            .store
            .put_patch_group(
                "user:sec",
                &PatchGroup {
                    name: (*name).into(),
                    baselines: BTreeMap::new(),
                },
            )
            .await
            .unwrap();
    }
}

async fn set_default_group(fleet: &Fleet, group: Option<&str>, now: Timestamp) {
    let settings = GovernanceSettings {
        default_window: None,
        default_patch_group: group.map(str::to_owned),
    };
    fleet
        .store
        .put_governance_settings("user:admin", &settings, now)
        .await
        .unwrap();
}

/// Summary lines `(key, nodes, compliant, non-compliant, unreported)` by
/// `by`, after checking the in-memory view and the SQL query agree.
async fn summary_lines(
    fleet: &Fleet,
    by: SummaryBy,
    scope: Option<&TagScope>,
) -> Vec<(String, u64, u64, u64, u64)> {
    let (cached, queried) = both_summaries(fleet, by, scope).await;
    assert_eq!(cached, queried, "by {} scope {scope:?}", by.as_str());
    fold_summaries(fleet.engine.status_counts(by, scope).await.unwrap())
        .into_iter()
        .map(|l| (l.key, l.nodes, l.compliant, l.non_compliant, l.unreported))
        .collect()
}

fn line(key: &str, counts: [u64; 4]) -> (String, u64, u64, u64, u64) {
    (key.into(), counts[0], counts[1], counts[2], counts[3])
}

async fn summaries_count_untagged_nodes_under_the_default_group(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let now = at("2026-03-10T12:00:00Z");
    patch_groups(&fleet, &["db", "web"]).await;
    let vulnerable = inventory(debian(), "3.0.1-1", day("2026-03-01"));
    let patched = inventory(debian(), "3.0.2-1", day("2026-03-01"));
    fleet
        .node(
            "tagged-web",
            &[(tag_keys::PATCH_GROUP, "web")],
            Some(&vulnerable),
            now,
        )
        .await;
    fleet
        .node(
            "tagged-db",
            &[(tag_keys::PATCH_GROUP, "db")],
            Some(&patched),
            now,
        )
        .await;
    fleet.node("untagged", &[], Some(&vulnerable), now).await;
    fleet.node("silent", &[], None, now).await;
    fleet.engine.reevaluate_fleet(now).await.unwrap();
    let in_web = TagScope {
        key: tag_keys::PATCH_GROUP.into(),
        value: "web".into(),
    };
    let in_db = TagScope {
        key: tag_keys::PATCH_GROUP.into(),
        value: "db".into(),
    };

    // No default: untagged nodes have no group (this also fills the
    // in-memory view, which the settings changes below must not leave stale).
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![
            line("-", [2, 0, 1, 1]),
            line("db", [1, 1, 0, 0]),
            line("web", [1, 0, 1, 0]),
        ]
    );
    let fleet_generation = fleet.store.fleet_generation().await.unwrap();

    // A default group: shown at once, without any re-evaluation, although
    // no node, tag or summary changed.
    set_default_group(&fleet, Some("web"), now).await;
    assert_eq!(
        fleet.store.fleet_generation().await.unwrap(),
        fleet_generation
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![line("db", [1, 1, 0, 0]), line("web", [3, 0, 2, 1])]
    );
    // A patch-group filter matches the effective group too.
    assert_eq!(
        summary_lines(&fleet, SummaryBy::OsFamily, Some(&in_web)).await,
        vec![line("debian", [3, 0, 2, 1])]
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, Some(&in_db)).await,
        vec![line("db", [1, 1, 0, 0])]
    );
    // Other dimensions are untouched by the default.
    assert_eq!(
        summary_lines(&fleet, SummaryBy::Environment, None).await,
        vec![line("-", [4, 1, 2, 1])]
    );

    // Another default: the untagged nodes move with it.
    set_default_group(&fleet, Some("db"), now).await;
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![line("db", [3, 1, 1, 1]), line("web", [1, 0, 1, 0])]
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::OsFamily, Some(&in_web)).await,
        vec![line("debian", [1, 0, 1, 0])]
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::OsFamily, Some(&in_db)).await,
        vec![line("debian", [3, 1, 1, 1])]
    );
    // The engine re-evaluating after the change agrees (nodes keep their
    // family default baseline: the groups name none).
    fleet.engine.reevaluate_fleet(now).await.unwrap();
    assert_summaries_agree(&fleet, "after the default group changed").await;

    // The default group cannot be deleted (untagged nodes would silently
    // change baseline): refused, nothing changes.
    let refused = fleet.store.delete_patch_group("user:sec", "db").await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { what }) if what.contains("default patch group")),
        "{refused:?}"
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![line("db", [3, 1, 1, 1]), line("web", [1, 0, 1, 0])]
    );

    // Another default, then the old one deleted: a tag naming a deleted
    // group keeps showing the tag.
    set_default_group(&fleet, Some("web"), now).await;
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![line("db", [1, 1, 0, 0]), line("web", [3, 0, 2, 1])]
    );
    fleet
        .store
        .delete_patch_group("user:sec", "db")
        .await
        .unwrap();
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![line("db", [1, 1, 0, 0]), line("web", [3, 0, 2, 1])]
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::OsFamily, Some(&in_db)).await,
        vec![line("debian", [1, 1, 0, 0])]
    );

    // Unset: back to "-".
    set_default_group(&fleet, None, now).await;
    assert_eq!(
        summary_lines(&fleet, SummaryBy::PatchGroup, None).await,
        vec![
            line("-", [2, 0, 1, 1]),
            line("db", [1, 1, 0, 0]),
            line("web", [1, 0, 1, 0]),
        ]
    );
    assert_eq!(
        summary_lines(&fleet, SummaryBy::OsFamily, Some(&in_web)).await,
        vec![line("debian", [1, 0, 1, 0])]
    );
}

/// History points `(day, key, compliant, non-compliant, unreported)`.
async fn history_points(
    fleet: &Fleet,
    scope: Option<&TagScope>,
) -> Vec<(String, String, u64, u64, u64)> {
    let counts = fleet
        .store
        .compliance_history_counts(day("2026-03-01"), SummaryBy::PatchGroup, scope)
        .await
        .unwrap();
    fold_history(counts)
        .into_iter()
        .map(|p| {
            (
                p.day.to_string(),
                p.key,
                p.compliant,
                p.non_compliant,
                p.unreported,
            )
        })
        .collect()
}

fn point(day: &str, key: &str, counts: [u64; 3]) -> (String, String, u64, u64, u64) {
    (day.into(), key.into(), counts[0], counts[1], counts[2])
}

async fn history_records_the_effective_patch_group(db: TestDb) {
    let fleet = Fleet::new(&db).await;
    let day1 = at("2026-03-10T12:00:00Z");
    let day2 = at("2026-03-11T12:00:00Z");
    let day3 = at("2026-03-12T12:00:00Z");
    patch_groups(&fleet, &["db", "web"]).await;
    let vulnerable = inventory(debian(), "3.0.1-1", day("2026-03-01"));
    fleet
        .node(
            "tagged-db",
            &[(tag_keys::PATCH_GROUP, "db")],
            Some(&vulnerable),
            day1,
        )
        .await;
    fleet.node("untagged", &[], Some(&vulnerable), day1).await;
    fleet.node("silent", &[], None, day1).await;
    set_default_group(&fleet, Some("web"), day1).await;
    fleet.engine.reevaluate_fleet(day1).await.unwrap();
    assert_eq!(
        history_points(&fleet, None).await,
        vec![
            point("2026-03-10", "db", [0, 1, 0]),
            point("2026-03-10", "web", [0, 1, 1]),
        ]
    );
    // The history filter by patch group matches the recorded effective group.
    let in_web = TagScope {
        key: tag_keys::PATCH_GROUP.into(),
        value: "web".into(),
    };
    assert_eq!(
        history_points(&fleet, Some(&in_web)).await,
        vec![point("2026-03-10", "web", [0, 1, 1])]
    );

    // The default changes the same day: the day's rows follow, although no
    // status or baseline moved.
    set_default_group(&fleet, Some("db"), day1).await;
    fleet.engine.reevaluate_fleet(day1).await.unwrap();
    assert_eq!(
        history_points(&fleet, None).await,
        vec![point("2026-03-10", "db", [0, 2, 1])]
    );

    // Unset the next day: that day's rows have no group; the day before
    // keeps what was recorded then.
    set_default_group(&fleet, None, day2).await;
    fleet.engine.reevaluate_fleet(day2).await.unwrap();
    assert_eq!(
        history_points(&fleet, None).await,
        vec![
            point("2026-03-10", "db", [0, 2, 1]),
            point("2026-03-11", "-", [0, 1, 1]),
            point("2026-03-11", "db", [0, 1, 0]),
        ]
    );

    // A check-in evaluates one node: its row carries the effective group.
    set_default_group(&fleet, Some("web"), day3).await;
    fleet
        .check_in("untagged", &vulnerable, BTreeMap::new(), day3)
        .await;
    fleet.engine.evaluate_node("untagged", day3).await.unwrap();
    assert_eq!(
        history_points(&fleet, Some(&in_web)).await,
        vec![point("2026-03-12", "web", [0, 1, 0])]
    );
}
