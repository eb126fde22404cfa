//! API: opt-out governance — tagging rules applied on enrolment and when a
//! node's facts change, the default patch group in compliance, the default
//! window in window membership, validation and roles — on SQLite and
//! PostgreSQL.

mod support;

use std::collections::BTreeMap;

use patchline_api::auth::{Role, TagScope};
use patchline_api::baselines::PutBaselineRequest;
use patchline_api::governance::{GovernanceSettings, TaggingRuleView};
use patchline_api::groups::PatchGroup;
use patchline_api::routes;
use patchline_api::windows::WindowSpec;
use patchline_core::baseline::Baseline;
use patchline_core::compliance::ComplianceStatus;
use patchline_core::orchestration::{RuleMatch, TaggingRule, TargetQuery};
use patchline_core::os::OsFamily;
use support::server::{TestServer, checkin_request, code_of, inventory, tags_of};

api_cases!(
    rules_tag_nodes_at_enrolment_and_when_their_facts_change,
    a_rule_setting_the_patch_group_reevaluates_at_once,
    the_default_patch_group_serves_nodes_without_the_tag,
    the_default_window_takes_nodes_without_a_window_tag,
    governance_is_validated_and_written_by_admin_and_security_ops_only,
);

fn rule(name: &str, when: RuleMatch, set: &[(&str, &str)]) -> TaggingRule {
    TaggingRule {
        name: name.into(),
        when,
        set: tags_of(set),
    }
}

fn hostname(glob: &str) -> RuleMatch {
    RuleMatch {
        hostname: Some(glob.into()),
        ..RuleMatch::default()
    }
}

/// A Debian baseline approving nothing: every node is compliant.
fn lenient() -> Baseline {
    Baseline {
        name: "lenient-debian".into(),
        description: "approves nothing".into(),
        approval_rules: Vec::new(),
        ..Baseline::default_for(OsFamily::Debian)
    }
}

fn window(name: &str) -> WindowSpec {
    WindowSpec {
        name: name.into(),
        description: String::new(),
        schedule: "cron(0 0 3 ? * SAT *)".into(),
        time_zone: "UTC".into(),
        offset_days: 0,
        start: None,
        end: None,
        duration_hours: 4,
        cutoff_hours: 1,
        cutoff_behavior: Default::default(),
        enabled: true,
        targets: TargetQuery::default(),
        owner: None,
        rollout: None,
        tasks: Vec::new(),
    }
}

async fn actions(server: &TestServer) -> Vec<String> {
    server
        .admin
        .audit(None)
        .await
        .expect("audit")
        .into_iter()
        .map(|entry| entry.action)
        .collect()
}

async fn rules_tag_nodes_at_enrolment_and_when_their_facts_change(server: TestServer) {
    let view = server
        .admin
        .put_tagging_rule(&rule(
            "10-web",
            hostname("web-*"),
            &[("Application", "shop"), ("Zone", "dmz")],
        ))
        .await
        .expect("web rule");
    assert_eq!(view.matching_nodes, 0);
    server
        .admin
        .put_tagging_rule(&rule(
            "20-internal",
            RuleMatch {
                network: Some("fd00::/8".into()),
                ..RuleMatch::default()
            },
            &[("Network", "internal")],
        ))
        .await
        .expect("network rule");

    // On enrolment, below the secret's (operator) tags.
    let (web, web_client) = server.enrol("web-1", &[("Application", "pos")]).await;
    let (db, db_client) = server.enrol("db-1", &[]).await;
    let tags = server.admin.node(&web.node_id).await.expect("node").tags;
    assert_eq!(
        tags,
        tags_of(&[("Application", "pos"), ("Zone", "dmz")]),
        "the operator's Application wins over the rule's"
    );
    assert!(
        server
            .admin
            .node(&db.node_id)
            .await
            .expect("node")
            .tags
            .is_empty()
    );

    // A check-in with new facts (an address in the network) re-tags.
    let bash = inventory("5.2.15-2");
    let mut request = checkin_request("db-1", &bash, true);
    request.facts.addresses = vec!["fd00::17".parse().expect("address")];
    db_client.checkin(&request).await.expect("check-in");
    assert_eq!(
        server.admin.node(&db.node_id).await.expect("node").tags,
        tags_of(&[("Network", "internal")])
    );
    assert_eq!(
        actions(&server).await.last().map(String::as_str),
        Some("node.rule-tags")
    );

    // The agent's own tag outranks the rule's.
    let mut request = checkin_request("web-1", &bash, true);
    request.tags = tags_of(&[("Zone", "agent-zone")]);
    web_client.checkin(&request).await.expect("check-in");
    assert_eq!(
        server.admin.node(&web.node_id).await.expect("node").tags["Zone"],
        "agent-zone"
    );

    let views: Vec<TaggingRuleView> = server.admin.tagging_rules().await.expect("rules");
    let counts: Vec<(String, u64)> = views
        .into_iter()
        .map(|view| (view.rule.name, view.matching_nodes))
        .collect();
    assert_eq!(
        counts,
        [("10-web".to_string(), 1), ("20-internal".to_string(), 1)]
    );

    // The address goes away: so does the tag. Deleting a rule untags.
    db_client
        .checkin(&checkin_request("db-1", &bash, false))
        .await
        .expect("check-in");
    assert!(
        server
            .admin
            .node(&db.node_id)
            .await
            .expect("node")
            .tags
            .is_empty()
    );
    let mut request = checkin_request("web-1", &bash, false);
    request.tags = BTreeMap::new();
    web_client.checkin(&request).await.expect("check-in");
    assert_eq!(
        server.admin.node(&web.node_id).await.expect("node").tags["Zone"],
        "dmz",
        "the agent dropped its tag: the rule's shows again"
    );
    server
        .admin
        .delete_tagging_rule("10-web")
        .await
        .expect("delete");
    assert_eq!(
        server.admin.node(&web.node_id).await.expect("node").tags,
        tags_of(&[("Application", "pos")])
    );
    let actions = actions(&server).await;
    assert!(actions.contains(&"tagging-rule.put".to_owned()));
    assert!(actions.contains(&"tagging-rule.delete".to_owned()));
    assert_eq!(
        code_of(server.admin.delete_tagging_rule("10-web").await).0,
        404
    );
}

async fn a_rule_setting_the_patch_group_reevaluates_at_once(server: TestServer) {
    let (web, node) = server.enrol("web-1", &[]).await;
    let answer = node
        .checkin(&checkin_request("web-1", &inventory("5.2.15-2"), true))
        .await
        .expect("check-in");
    assert_eq!(
        answer.compliance.expect("evaluated").status,
        ComplianceStatus::NonCompliant
    );
    let put = PutBaselineRequest {
        baseline: lenient(),
        default_for_family: false,
    };
    server.admin.put_baseline(&put).await.expect("baseline");
    server
        .admin
        .put_patch_group(&PatchGroup {
            name: "lenient".into(),
            baselines: BTreeMap::from([(OsFamily::Debian, "lenient-debian".to_owned())]),
        })
        .await
        .expect("group");
    server
        .admin
        .put_tagging_rule(&rule(
            "web",
            hostname("web-*"),
            &[("Patch Group", "lenient")],
        ))
        .await
        .expect("rule");
    let view = server.admin.node(&web.node_id).await.expect("node");
    assert_eq!(view.patch_group.as_deref(), Some("lenient"));
    let compliance = view.compliance.expect("re-evaluated");
    assert_eq!(compliance.status, ComplianceStatus::Compliant);
    assert_eq!(compliance.baseline, "lenient-debian");
}

async fn the_default_patch_group_serves_nodes_without_the_tag(server: TestServer) {
    let (untagged, untagged_client) = server.enrol("web-1", &[]).await;
    let (tagged, tagged_client) = server.enrol("web-2", &[("Patch Group", "strict")]).await;
    let bash = inventory("5.2.15-2");
    let first = untagged_client
        .checkin(&checkin_request("web-1", &bash, true))
        .await
        .expect("check-in")
        .compliance
        .expect("evaluated");
    assert_eq!(first.status, ComplianceStatus::NonCompliant);
    let default_baseline = first.baseline;
    tagged_client
        .checkin(&checkin_request("web-2", &bash, false))
        .await
        .expect("check-in");

    let put = PutBaselineRequest {
        baseline: lenient(),
        default_for_family: false,
    };
    server.admin.put_baseline(&put).await.expect("baseline");
    for (group, baseline) in [("lenient", "lenient-debian"), ("strict", &default_baseline)] {
        server
            .admin
            .put_patch_group(&PatchGroup {
                name: group.into(),
                baselines: BTreeMap::from([(OsFamily::Debian, baseline.to_owned())]),
            })
            .await
            .expect("group");
    }

    let settings = GovernanceSettings {
        default_window: None,
        default_patch_group: Some("lenient".into()),
    };
    let answer = server.admin.put_governance(&settings).await.expect("put");
    assert_eq!(answer, settings);
    assert_eq!(server.admin.governance().await.expect("get"), settings);
    assert_eq!(
        actions(&server).await.last().map(String::as_str),
        Some("governance.put")
    );

    // Re-evaluated at once: the untagged node is in the default group.
    let view = server.admin.node(&untagged.node_id).await.expect("node");
    assert_eq!(view.patch_group.as_deref(), Some("lenient"));
    assert_eq!(view.baseline.as_deref(), Some("lenient-debian"));
    let compliance = view.compliance.expect("evaluated");
    assert_eq!(compliance.status, ComplianceStatus::Compliant);
    assert_eq!(compliance.baseline, "lenient-debian");
    let view = server.admin.node(&tagged.node_id).await.expect("node");
    assert_eq!(view.patch_group.as_deref(), Some("strict"));
    assert_eq!(
        view.compliance.expect("evaluated").status,
        ComplianceStatus::NonCompliant,
        "a node with its own group keeps it"
    );
    // A check-in sees the same.
    let answer = untagged_client
        .checkin(&checkin_request("web-1", &bash, false))
        .await
        .expect("check-in");
    assert_eq!(
        answer.compliance.expect("evaluated").status,
        ComplianceStatus::Compliant
    );

    // Back to no default: the family's default baseline again.
    server
        .admin
        .put_governance(&GovernanceSettings::default())
        .await
        .expect("unset");
    let view = server.admin.node(&untagged.node_id).await.expect("node");
    assert_eq!(view.patch_group, None);
    assert_eq!(
        view.compliance.expect("evaluated").status,
        ComplianceStatus::NonCompliant
    );
}

async fn the_default_window_takes_nodes_without_a_window_tag(server: TestServer) {
    server.enrol("a", &[]).await;
    server
        .enrol("b", &[("Maintenance Window", "special")])
        .await;
    server.enrol("c", &[("Maintenance Window", "weekly")]).await;
    for name in ["weekly", "special"] {
        server
            .admin
            .put_window(&window(name))
            .await
            .expect("window");
    }
    let count = |views: &[patchline_api::windows::WindowView], name: &str| {
        views
            .iter()
            .find(|view| view.window.name == name)
            .map(|view| view.target_count)
    };
    let views = server.admin.windows().await.expect("list");
    assert_eq!(count(&views, "weekly"), Some(1));
    assert_eq!(count(&views, "special"), Some(1));

    server
        .admin
        .put_governance(&GovernanceSettings {
            default_window: Some("weekly".into()),
            default_patch_group: None,
        })
        .await
        .expect("default window");
    let views = server.admin.windows().await.expect("list");
    assert_eq!(count(&views, "weekly"), Some(2), "a and c");
    assert_eq!(count(&views, "special"), Some(1));
    let plan = server.admin.window_plan("weekly").await.expect("plan");
    assert_eq!(plan.targets, 2);

    // The default window cannot be deleted while it is the default.
    let (status, _) = code_of(server.admin.delete_window("weekly").await);
    assert_eq!(status, 409);
}

async fn governance_is_validated_and_written_by_admin_and_security_ops_only(server: TestServer) {
    let bad_network = rule(
        "bad",
        RuleMatch {
            network: Some("10.0.0.0/33".into()),
            ..RuleMatch::default()
        },
        &[("Zone", "x")],
    );
    let (status, _) = code_of(server.admin.put_tagging_rule(&bad_network).await);
    assert_eq!(status, 400);
    let (status, _) = code_of(
        server
            .admin
            .put_tagging_rule(&rule("nothing", hostname("*"), &[]))
            .await,
    );
    assert_eq!(status, 400);
    let (status, _) = code_of(
        server
            .admin
            .put_tagging_rule(&rule("glob", hostname("web-[*"), &[("Zone", "x")]))
            .await,
    );
    assert_eq!(status, 400);
    let mismatched: Result<TaggingRuleView, _> = server
        .admin
        .put(
            &routes::fill(routes::TAGGING_RULE, &["other"]),
            &rule("web", hostname("web-*"), &[("Zone", "x")]),
        )
        .await;
    assert_eq!(code_of(mismatched).0, 400);
    for settings in [
        GovernanceSettings {
            default_window: Some("no-such-window".into()),
            default_patch_group: None,
        },
        GovernanceSettings {
            default_window: None,
            default_patch_group: Some("no-such-group".into()),
        },
        GovernanceSettings {
            default_window: Some(" ".into()),
            default_patch_group: None,
        },
    ] {
        assert_eq!(code_of(server.admin.put_governance(&settings).await).0, 400);
    }
    assert!(
        server
            .admin
            .tagging_rules()
            .await
            .expect("rules")
            .is_empty()
    );
    assert_eq!(
        server.admin.governance().await.expect("settings"),
        GovernanceSettings::default()
    );

    for role in Role::ALL {
        let scope = (role == Role::AppTeam).then(|| TagScope {
            key: "Application".into(),
            value: "shop".into(),
        });
        let client = server.operator(&format!("user-{role}"), role, scope).await;
        let written = client
            .put_tagging_rule(&rule(
                &format!("rule-{role}"),
                hostname("x-*"),
                &[("Zone", "x")],
            ))
            .await;
        let settings = client.put_governance(&GovernanceSettings::default()).await;
        if matches!(role, Role::Admin | Role::SecurityOps) {
            assert!(written.is_ok(), "{role}: {written:?}");
            assert!(settings.is_ok(), "{role}: {settings:?}");
            client
                .delete_tagging_rule(&format!("rule-{role}"))
                .await
                .expect("delete");
        } else {
            assert_eq!(code_of(written).0, 403, "{role}");
            assert_eq!(code_of(settings).0, 403, "{role}");
            assert_eq!(code_of(client.delete_tagging_rule("rule-x").await).0, 403);
        }
        assert!(client.tagging_rules().await.is_ok(), "{role} reads rules");
        assert!(client.governance().await.is_ok(), "{role} reads settings");
    }
}
