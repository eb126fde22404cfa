//! Store: versioned baselines, family defaults and patch groups, on SQLite
//! and PostgreSQL.

#[path = "support/db.rs"]
mod db;

use std::collections::BTreeMap;

use db::TestDb;
use jiff::Timestamp;
use patchline_api::groups::PatchGroup;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;
use patchline_server::store::{Store, StoreError};

both_backends!(
    an_empty_database_gets_one_default_per_family_once,
    a_changed_baseline_gets_a_new_version_and_an_identical_one_none,
    a_new_default_takes_the_flag_and_the_default_cannot_be_cleared,
    a_baseline_in_use_cannot_be_deleted_and_a_reused_name_continues_its_versions,
    a_baseline_cannot_move_family_while_default_or_in_a_group,
    invalid_baselines_are_refused,
    patch_groups_need_existing_baselines_of_their_family,
    patch_groups_are_versioned_listed_and_deleted,
    concurrent_puts_of_one_baseline_and_group_all_succeed,
);

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

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_764_000_000 + seconds).unwrap()
}

/// A baseline of `family` named `name` (the family's built-in rules).
fn baseline(name: &str, family: OsFamily) -> Baseline {
    Baseline {
        name: name.into(),
        description: format!("{name} for tests"),
        ..Baseline::default_for(family)
    }
}

fn group(name: &str, baselines: &[(OsFamily, &str)]) -> PatchGroup {
    PatchGroup {
        name: name.into(),
        baselines: baselines
            .iter()
            .map(|(family, baseline)| (*family, baseline.to_string()))
            .collect(),
    }
}

async fn an_empty_database_gets_one_default_per_family_once(db: TestDb) {
    let store = db.store().await;
    let baselines = store.list_baselines().await.unwrap();
    assert_eq!(baselines.len(), OsFamily::ALL.len());
    for family in OsFamily::ALL {
        let default = store.default_baseline(family).await.unwrap().unwrap();
        assert_eq!(default.baseline, Baseline::default_for(family));
        assert_eq!(default.name, format!("patchline-default-{family}"));
        assert_eq!(default.os_family, family);
        assert_eq!(default.version, 1);
        assert!(default.default_for_family);
        assert_eq!(default.updated_by, "system");
        assert_eq!(store.baseline(&default.name).await.unwrap(), Some(default));
    }
    let audit = store.list_audit(None, 100).await.unwrap();
    assert_eq!(audit.len(), OsFamily::ALL.len());
    assert!(
        audit
            .iter()
            .all(|entry| entry.actor == "system" && entry.action == "baseline.put")
    );
    drop(store);

    // Connecting again seeds nothing more.
    let again = db.store().await;
    assert_eq!(again.list_baselines().await.unwrap(), baselines);
    assert_eq!(again.list_audit(None, 100).await.unwrap(), audit);
}

async fn a_changed_baseline_gets_a_new_version_and_an_identical_one_none(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let mut prod = baseline("prod-debian", OsFamily::Debian);

    let created = store
        .put_baseline("user:sec", &prod, false, at(0))
        .await
        .unwrap();
    assert!(created.changed);
    assert_eq!(created.version, 1);
    let again = store
        .put_baseline("user:sec", &prod, false, at(1))
        .await
        .unwrap();
    assert!(!again.changed);
    assert_eq!(again.version, 1);
    assert_eq!(
        store.baseline_versions("prod-debian").await.unwrap().len(),
        1
    );
    assert_eq!(audit_actions(&store, start).await, vec!["baseline.put"]);

    prod.description = "changed".into();
    let changed = store
        .put_baseline("user:other", &prod, false, at(2))
        .await
        .unwrap();
    assert!(changed.changed);
    assert_eq!(changed.version, 2);

    let current = store.baseline("prod-debian").await.unwrap().unwrap();
    assert_eq!(current.baseline, prod);
    assert_eq!(current.version, 2);
    assert_eq!(current.updated_at, at(2));
    assert_eq!(current.updated_by, "user:other");
    assert!(!current.default_for_family);
    assert_eq!(current.view().version, 2);

    let versions = store.baseline_versions("prod-debian").await.unwrap();
    let numbers: Vec<i64> = versions.iter().map(|version| version.version).collect();
    assert_eq!(numbers, vec![2, 1]);
    assert_eq!(versions[0].baseline.description, "changed");
    assert_eq!(versions[1].baseline.description, "prod-debian for tests");
    assert_eq!(versions[1].created_by, "user:sec");
    assert_eq!(versions[1].created_at, at(0));
    assert!(store.baseline_versions("never").await.unwrap().is_empty());
    assert_eq!(store.baseline("never").await.unwrap(), None);

    let audit = store.list_audit(Some(start), 100).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].target, "baseline:prod-debian");
    assert_eq!(audit[1].actor, "user:other");
    assert_eq!(audit[1].at, at(2));
    assert_eq!(audit[1].detail["version"], 2);
    assert_eq!(audit[1].detail["baseline"]["description"], "changed");
}

async fn a_new_default_takes_the_flag_and_the_default_cannot_be_cleared(db: TestDb) {
    let store = db.store().await;
    let prod = baseline("prod-debian", OsFamily::Debian);
    store
        .put_baseline("user:sec", &prod, false, at(0))
        .await
        .unwrap();
    let start = last_audit_id(&store).await;

    // Only the flag changes: a new version.
    let promoted = store
        .put_baseline("user:sec", &prod, true, at(1))
        .await
        .unwrap();
    assert!(promoted.changed);
    assert_eq!(promoted.version, 2);
    let default = store
        .default_baseline(OsFamily::Debian)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(default.name, "prod-debian");
    let seeded = store
        .baseline("patchline-default-debian")
        .await
        .unwrap()
        .unwrap();
    assert!(!seeded.default_for_family);
    let defaults = store
        .list_baselines()
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.os_family == OsFamily::Debian && b.default_for_family)
        .count();
    assert_eq!(defaults, 1);
    // Other families keep their defaults.
    assert_eq!(
        store
            .default_baseline(OsFamily::Ubuntu)
            .await
            .unwrap()
            .unwrap()
            .name,
        "patchline-default-ubuntu"
    );

    let cleared = store.put_baseline("user:sec", &prod, false, at(2)).await;
    assert!(
        matches!(cleared, Err(StoreError::Conflict { .. })),
        "{cleared:?}"
    );
    let audit = store.list_audit(Some(start), 100).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].detail["previous_default"],
        "patchline-default-debian"
    );
    assert_eq!(audit[0].detail["default_for_family"], true);

    // Handing the flag back works the same way.
    store
        .put_baseline("user:sec", &seeded.baseline, true, at(3))
        .await
        .unwrap();
    assert_eq!(
        store
            .default_baseline(OsFamily::Debian)
            .await
            .unwrap()
            .unwrap()
            .name,
        "patchline-default-debian"
    );
    assert!(
        !store
            .baseline("prod-debian")
            .await
            .unwrap()
            .unwrap()
            .default_for_family
    );
}

async fn a_baseline_in_use_cannot_be_deleted_and_a_reused_name_continues_its_versions(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let refused = store
        .delete_baseline("user:sec", "patchline-default-suse")
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );

    let mut web = baseline("web-suse", OsFamily::Suse);
    store
        .put_baseline("user:sec", &web, false, at(0))
        .await
        .unwrap();
    web.description = "v2".into();
    store
        .put_baseline("user:sec", &web, false, at(1))
        .await
        .unwrap();
    store
        .put_patch_group("user:sec", &group("web", &[(OsFamily::Suse, "web-suse")]))
        .await
        .unwrap();
    let used = store.delete_baseline("user:sec", "web-suse").await;
    match used {
        Err(StoreError::Conflict { what }) => assert!(what.contains("web"), "{what}"),
        other => panic!("deleting a baseline a group uses: {other:?}"),
    }
    let before_delete = last_audit_id(&store).await;

    store.delete_patch_group("user:sec", "web").await.unwrap();
    store.delete_baseline("user:sec", "web-suse").await.unwrap();
    assert_eq!(store.baseline("web-suse").await.unwrap(), None);
    assert!(matches!(
        store.delete_baseline("user:sec", "web-suse").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.baseline_versions("web-suse").await.unwrap().len(), 2);
    assert_eq!(
        audit_actions(&store, before_delete).await,
        vec!["patch-group.delete", "baseline.delete"]
    );

    let recreated = store
        .put_baseline("user:sec", &web, false, at(2))
        .await
        .unwrap();
    assert_eq!(recreated.version, 3);
    assert_eq!(
        audit_actions(&store, start).await,
        vec![
            "baseline.put",
            "baseline.put",
            "patch-group.put",
            "patch-group.delete",
            "baseline.delete",
            "baseline.put"
        ]
    );
}

async fn a_baseline_cannot_move_family_while_default_or_in_a_group(db: TestDb) {
    let store = db.store().await;
    let mut seeded = Baseline::default_for(OsFamily::Fedora);
    seeded.os_family = OsFamily::Suse;
    let moved = store.put_baseline("user:sec", &seeded, true, at(0)).await;
    assert!(
        matches!(moved, Err(StoreError::Conflict { .. })),
        "{moved:?}"
    );

    let mut app = baseline("app", OsFamily::Fedora);
    store
        .put_baseline("user:sec", &app, false, at(0))
        .await
        .unwrap();
    store
        .put_patch_group("user:sec", &group("apps", &[(OsFamily::Fedora, "app")]))
        .await
        .unwrap();
    app.os_family = OsFamily::RhelCompatible;
    let moved = store.put_baseline("user:sec", &app, false, at(1)).await;
    assert!(
        matches!(moved, Err(StoreError::Conflict { .. })),
        "{moved:?}"
    );

    store
        .put_patch_group("user:sec", &group("apps", &[]))
        .await
        .unwrap();
    let moved = store
        .put_baseline("user:sec", &app, false, at(2))
        .await
        .unwrap();
    assert_eq!(moved.version, 2);
    assert_eq!(
        store.baseline("app").await.unwrap().unwrap().os_family,
        OsFamily::RhelCompatible
    );
}

async fn invalid_baselines_are_refused(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let mut too_late = baseline("late", OsFamily::Debian);
    too_late.approval_rules[0].approve_after_days = Some(1000);
    let refused = store
        .put_baseline("user:sec", &too_late, false, at(0))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid { .. })),
        "{refused:?}"
    );
    let unnamed = baseline("", OsFamily::Debian);
    let refused = store.put_baseline("user:sec", &unnamed, false, at(0)).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid { .. })),
        "{refused:?}"
    );
    assert_eq!(store.baseline("late").await.unwrap(), None);
    assert!(audit_actions(&store, start).await.is_empty());
}

async fn patch_groups_need_existing_baselines_of_their_family(db: TestDb) {
    let store = db.store().await;
    let start = last_audit_id(&store).await;
    let missing = store
        .put_patch_group("user:sec", &group("g", &[(OsFamily::Debian, "nope")]))
        .await;
    assert!(
        matches!(missing, Err(StoreError::Invalid { .. })),
        "{missing:?}"
    );
    let wrong_family = store
        .put_patch_group(
            "user:sec",
            &group("g", &[(OsFamily::Debian, "patchline-default-ubuntu")]),
        )
        .await;
    match wrong_family {
        Err(StoreError::Invalid { reason }) => assert!(reason.contains("ubuntu"), "{reason}"),
        other => panic!("a group naming another family's baseline: {other:?}"),
    }
    let unnamed = store.put_patch_group("user:sec", &group("", &[])).await;
    assert!(matches!(unnamed, Err(StoreError::Invalid { .. })));
    assert_eq!(store.patch_group("g").await.unwrap(), None);
    assert!(store.list_patch_groups().await.unwrap().is_empty());
    assert!(audit_actions(&store, start).await.is_empty());
}

async fn patch_groups_are_versioned_listed_and_deleted(db: TestDb) {
    let store = db.store().await;
    store
        .put_baseline(
            "user:sec",
            &baseline("db-rhel", OsFamily::RhelCompatible),
            false,
            at(0),
        )
        .await
        .unwrap();
    let start = last_audit_id(&store).await;
    let db_group = group(
        "database",
        &[
            (OsFamily::RhelCompatible, "db-rhel"),
            (OsFamily::Debian, "patchline-default-debian"),
        ],
    );
    let created = store.put_patch_group("user:sec", &db_group).await.unwrap();
    assert!(created.changed);
    assert_eq!(created.version, 1);
    let same = store.put_patch_group("user:sec", &db_group).await.unwrap();
    assert!(!same.changed);
    assert_eq!(same.version, 1);
    assert_eq!(
        store.patch_group("database").await.unwrap(),
        Some(db_group.clone())
    );

    let smaller = group("database", &[(OsFamily::RhelCompatible, "db-rhel")]);
    let changed = store.put_patch_group("user:ops", &smaller).await.unwrap();
    assert!(changed.changed);
    assert_eq!(changed.version, 2);
    store
        .put_patch_group("user:sec", &group("empty", &[]))
        .await
        .unwrap();
    assert_eq!(
        store.list_patch_groups().await.unwrap(),
        vec![
            smaller.clone(),
            PatchGroup {
                name: "empty".into(),
                baselines: BTreeMap::new()
            }
        ]
    );

    store
        .delete_patch_group("user:sec", "database")
        .await
        .unwrap();
    assert_eq!(store.patch_group("database").await.unwrap(), None);
    assert!(matches!(
        store.delete_patch_group("user:sec", "database").await,
        Err(StoreError::NotFound { .. })
    ));
    let audit = store.list_audit(Some(start), 100).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "patch-group.put",
            "patch-group.put",
            "patch-group.put",
            "patch-group.delete"
        ]
    );
    assert_eq!(audit[1].actor, "user:ops");
    assert_eq!(
        audit[1].detail["before"]["debian"],
        "patchline-default-debian"
    );
    assert_eq!(audit[1].detail["after"]["rhel-compatible"], "db-rhel");
    assert!(audit[1].detail["after"].get("debian").is_none());
}

/// Operators putting the same baseline and group at once: each put waits
/// for the one before and gets its own version.
async fn concurrent_puts_of_one_baseline_and_group_all_succeed(db: TestDb) {
    let store = db.store().await;
    let mut writers = Vec::new();
    for index in 0..6 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..5 {
                let mut shared = baseline("shared", OsFamily::Debian);
                shared.description = format!("{index}-{round}");
                store
                    .put_baseline("user:sec", &shared, false, at(round))
                    .await?;
                let family = if index % 2 == 0 {
                    OsFamily::Debian
                } else {
                    OsFamily::Ubuntu
                };
                let target = if family == OsFamily::Debian {
                    "shared"
                } else {
                    "patchline-default-ubuntu"
                };
                store
                    .put_patch_group("user:sec", &group("busy", &[(family, target)]))
                    .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let versions = store.baseline_versions("shared").await.unwrap();
    assert_eq!(versions.len(), 30);
    assert_eq!(store.baseline("shared").await.unwrap().unwrap().version, 30);
    assert!(store.patch_group("busy").await.unwrap().is_some());
}
