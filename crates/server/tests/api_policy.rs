//! API: baselines and patch groups (versioned, idempotent, audited, and
//! re-evaluating the fleet at once), on SQLite and PostgreSQL.

mod support;

use std::collections::BTreeMap;

use patchline_api::baselines::{BaselineVersionView, PutBaselineRequest};
use patchline_api::groups::PatchGroup;
use patchline_api::nodes::SetTagsRequest;
use patchline_api::routes;
use patchline_core::baseline::Baseline;
use patchline_core::compliance::ComplianceStatus;
use patchline_core::os::OsFamily;
use support::server::{TestServer, checkin_request, code_of, inventory, status_of};

api_cases!(
    a_baseline_change_is_versioned_audited_and_reevaluates_at_once,
    patch_groups_map_tagged_nodes_to_their_baseline,
    bad_policy_documents_are_refused,
);

/// A Debian baseline approving nothing: every node is compliant.
fn lenient(name: &str) -> Baseline {
    Baseline {
        name: name.to_string(),
        description: "approves nothing".into(),
        approval_rules: Vec::new(),
        ..Baseline::default_for(OsFamily::Debian)
    }
}

async fn a_baseline_change_is_versioned_audited_and_reevaluates_at_once(server: TestServer) {
    let (enrolled, node) = server.enrol("web-1", &[]).await;
    let answer = node
        .checkin(&checkin_request("web-1", &inventory("5.2.15-2"), true))
        .await
        .expect("check-in");
    let before = answer.compliance.expect("evaluated");
    assert_eq!(before.status, ComplianceStatus::NonCompliant);
    let default_name = before.baseline.clone();

    // Make a lenient baseline the Debian default: the node turns compliant
    // without checking in again.
    let put = PutBaselineRequest {
        baseline: lenient("lenient-debian"),
        default_for_family: true,
    };
    let outcome = server.admin.put_baseline(&put).await.expect("put");
    assert!(outcome.changed);
    assert_eq!(outcome.version, 1);
    assert_eq!(outcome.reevaluated_nodes, 1);
    let view = server.admin.node(&enrolled.node_id).await.expect("node");
    let after = view.compliance.expect("re-evaluated");
    assert_eq!(after.status, ComplianceStatus::Compliant);
    assert_eq!(after.baseline, "lenient-debian");
    assert_eq!(view.baseline.as_deref(), Some("lenient-debian"));

    // The same document again: no version, no audit entry.
    let audit_before = server.admin.audit(None).await.expect("audit").len();
    let again = server.admin.put_baseline(&put).await.expect("put again");
    assert!(!again.changed);
    assert_eq!(again.version, 1);
    assert_eq!(again.reevaluated_nodes, 0);
    assert_eq!(
        server.admin.audit(None).await.expect("audit").len(),
        audit_before
    );

    // A change: version 2, both versions listed newest first.
    let mut changed = put.clone();
    changed.baseline.description = "still approves nothing".into();
    let outcome = server.admin.put_baseline(&changed).await.expect("change");
    assert!(outcome.changed);
    assert_eq!(outcome.version, 2);
    let versions: Vec<BaselineVersionView> = server
        .admin
        .get(&routes::fill(
            routes::BASELINE_VERSIONS,
            &["lenient-debian"],
        ))
        .await
        .expect("versions");
    let numbers: Vec<i64> = versions.iter().map(|version| version.version).collect();
    assert_eq!(numbers, vec![2, 1]);
    assert!(
        versions
            .iter()
            .all(|version| version.created_by == "user:admin")
    );
    let audit = server.admin.audit(None).await.expect("audit");
    let puts = audit
        .iter()
        .filter(|entry| entry.target == "baseline:lenient-debian")
        .count();
    assert_eq!(puts, 2, "{audit:?}");

    // The old default still exists; it can be read but, no longer being a
    // default and unused, also deleted.
    let old = server
        .admin
        .baseline(&default_name)
        .await
        .expect("old default");
    assert!(!old.default_for_family);
    // The current default cannot be deleted.
    assert_eq!(
        status_of(
            server
                .admin
                .delete(&routes::fill(routes::BASELINE, &["lenient-debian"]))
                .await
        ),
        409
    );
    assert_eq!(
        status_of(server.admin.baseline("no-such-baseline").await),
        404
    );
}

async fn patch_groups_map_tagged_nodes_to_their_baseline(server: TestServer) {
    let (enrolled, node) = server.enrol("web-1", &[]).await;
    node.checkin(&checkin_request("web-1", &inventory("5.2.15-2"), true))
        .await
        .expect("check-in");
    server
        .admin
        .put_baseline(&PutBaselineRequest {
            baseline: lenient("web-debian"),
            default_for_family: false,
        })
        .await
        .expect("baseline");
    let group = PatchGroup {
        name: "web".into(),
        baselines: BTreeMap::from([(OsFamily::Debian, "web-debian".to_string())]),
    };
    let outcome = server.admin.put_patch_group(&group).await.expect("group");
    assert!(outcome.changed);
    assert!(
        !server
            .admin
            .put_patch_group(&group)
            .await
            .expect("again")
            .changed
    );
    assert_eq!(
        server.admin.patch_groups().await.expect("groups"),
        vec![group]
    );

    let tag = SetTagsRequest {
        tags: [("Patch Group".to_string(), Some("web".to_string()))].into(),
    };
    let view = server
        .admin
        .set_tags(&enrolled.node_id, &tag)
        .await
        .expect("tag");
    assert_eq!(view.patch_group.as_deref(), Some("web"));
    assert_eq!(view.baseline.as_deref(), Some("web-debian"));
    let compliance = view.compliance.expect("re-evaluated");
    assert_eq!(compliance.baseline, "web-debian");
    assert_eq!(compliance.status, ComplianceStatus::Compliant);

    // A baseline in use by a group cannot go.
    let (status, code) = code_of(
        server
            .admin
            .delete(&routes::fill(routes::BASELINE, &["web-debian"]))
            .await,
    );
    assert_eq!((status, code.as_str()), (409, "conflict"));
    server
        .admin
        .delete(&routes::fill(routes::PATCH_GROUP, &["web"]))
        .await
        .expect("delete group");
    let view = server.admin.node(&enrolled.node_id).await.expect("node");
    assert_eq!(view.patch_group, None);
    assert_ne!(view.compliance.expect("evaluated").baseline, "web-debian");
}

async fn bad_policy_documents_are_refused(server: TestServer) {
    // The path names another baseline than the body.
    let put = PutBaselineRequest {
        baseline: lenient("one"),
        default_for_family: false,
    };
    let wrong_path = routes::fill(routes::BASELINE, &["two"]);
    assert_eq!(
        status_of(
            server
                .admin
                .put::<_, patchline_api::baselines::PutOutcome>(&wrong_path, &put)
                .await
        ),
        400
    );
    // A baseline the core refuses: a filter with no value.
    let mut bad = Baseline::default_for(OsFamily::Debian);
    bad.name = "bad-filter".into();
    for values in bad.approval_rules[0].filters.values_mut() {
        values.clear();
    }
    let (status, code) = code_of(
        server
            .admin
            .put_baseline(&PutBaselineRequest {
                baseline: bad,
                default_for_family: false,
            })
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "invalid-request"));
    // A group naming a missing baseline.
    let group = PatchGroup {
        name: "ghost".into(),
        baselines: BTreeMap::from([(OsFamily::Debian, "missing".to_string())]),
    };
    assert_eq!(status_of(server.admin.put_patch_group(&group).await), 400);
    assert!(
        server
            .admin
            .patch_groups()
            .await
            .expect("groups")
            .is_empty()
    );
    assert_eq!(
        server
            .admin
            .baselines()
            .await
            .expect("baselines")
            .iter()
            .filter(|baseline| baseline.name == "bad-filter" || baseline.name == "one")
            .count(),
        0
    );
}
