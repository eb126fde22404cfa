//! API: what each role may do, app-team scoping, and node credentials kept
//! off operator routes (and operators off agent routes), on SQLite and
//! PostgreSQL.

mod support;

use std::collections::BTreeMap;

use patchline_api::Client;
use patchline_api::auth::{Role, TagScope};
use patchline_api::baselines::PutBaselineRequest;
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::groups::PatchGroup;
use patchline_api::nodes::SetTagsRequest;
use patchline_api::routes;
use patchline_core::baseline::Baseline;
use patchline_core::os::OsFamily;
use support::server::{TestServer, checkin_request, inventory, status_of};

api_cases!(
    each_role_is_allowed_and_refused_where_the_policy_says,
    app_team_sees_and_tags_only_its_scope,
    node_credentials_and_operator_tokens_stay_on_their_routes,
);

#[derive(Debug, Clone, Copy)]
enum Attempt {
    ListNodes,
    PutBaseline,
    PutPatchGroup,
    ReadAudit,
    CreateUser,
    CreateEnrolmentSecret,
    TagNode,
    DeleteNode,
    ListUsers,
}

const ATTEMPTS: [Attempt; 9] = [
    Attempt::ListNodes,
    Attempt::PutBaseline,
    Attempt::PutPatchGroup,
    Attempt::ReadAudit,
    Attempt::CreateUser,
    Attempt::CreateEnrolmentSecret,
    Attempt::TagNode,
    Attempt::DeleteNode,
    Attempt::ListUsers,
];

/// The status `client` gets for `attempt` (on `node_id`, a node every role
/// can reach), 200/201/204 folded to 200.
async fn try_as(client: &Client, attempt: Attempt, node_id: &str, round: usize) -> u16 {
    let outcome = match attempt {
        Attempt::ListNodes => client.nodes().await.map(|_| ()),
        Attempt::PutBaseline => {
            let mut baseline = Baseline::default_for(OsFamily::Debian);
            baseline.name = format!("roles-{round}");
            client
                .put_baseline(&PutBaselineRequest {
                    baseline,
                    default_for_family: false,
                })
                .await
                .map(|_| ())
        }
        Attempt::PutPatchGroup => client
            .put_patch_group(&PatchGroup {
                name: format!("group-{round}"),
                baselines: BTreeMap::new(),
            })
            .await
            .map(|_| ()),
        Attempt::ReadAudit => client.audit(None).await.map(|_| ()),
        Attempt::CreateUser => client
            .create_user(&patchline_api::auth::CreateUserRequest {
                username: format!("made-{round}"),
                password: "long-enough-password".into(),
                role: Role::Auditor,
                scope: None,
            })
            .await
            .map(|_| ()),
        Attempt::CreateEnrolmentSecret => client
            .create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: format!("secret-{round}"),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        Attempt::TagNode => client
            .set_tags(
                node_id,
                &SetTagsRequest {
                    tags: [("Zone".to_string(), Some(format!("z{round}")))].into(),
                },
            )
            .await
            .map(|_| ()),
        Attempt::DeleteNode => {
            // A node of its own so the shared one survives.
            return match client
                .delete(&routes::fill(routes::NODE, &["no-such-node"]))
                .await
            {
                Ok(()) => 200,
                Err(error) => error.status().map_or(0, |status| status.as_u16()),
            };
        }
        Attempt::ListUsers => client
            .get::<Vec<patchline_api::auth::UserView>>(routes::USERS)
            .await
            .map(|_| ()),
    };
    match outcome {
        Ok(()) => 200,
        Err(error) => error.status().map_or(0, |status| status.as_u16()),
    }
}

/// Whether the role may do it (the policy table of `auth::policy`).
fn allowed(role: Role, attempt: Attempt) -> bool {
    use Attempt::*;
    match role {
        Role::Admin => true,
        Role::SecurityOps => matches!(attempt, ListNodes | PutBaseline | PutPatchGroup | ListUsers),
        Role::AppTeam => matches!(attempt, ListNodes | TagNode),
        Role::Approver => matches!(attempt, ListNodes | ListUsers),
        Role::Auditor => matches!(attempt, ListNodes | ReadAudit | ListUsers),
    }
}

fn payments() -> TagScope {
    TagScope {
        key: "Application".into(),
        value: "payments".into(),
    }
}

async fn each_role_is_allowed_and_refused_where_the_policy_says(server: TestServer) {
    let (node, _) = server.enrol("web-1", &[("Application", "payments")]).await;
    let mut round = 0;
    for role in Role::ALL {
        let scope = (role == Role::AppTeam).then(payments);
        let client = server.operator(&format!("as-{role}"), role, scope).await;
        for attempt in ATTEMPTS {
            round += 1;
            let status = try_as(&client, attempt, &node.node_id, round).await;
            if allowed(role, attempt) {
                // Deleting a node that does not exist: allowed, then 404.
                let expected = if matches!(attempt, Attempt::DeleteNode) {
                    404
                } else {
                    200
                };
                assert_eq!(status, expected, "{role} {attempt:?} should be allowed");
            } else {
                assert_eq!(status, 403, "{role} {attempt:?} should be refused");
            }
        }
    }
}

async fn app_team_sees_and_tags_only_its_scope(server: TestServer) {
    let (ours, _) = server.enrol("pay-1", &[("Application", "payments")]).await;
    let (theirs, _) = server.enrol("shop-1", &[("Application", "shop")]).await;
    let team = server
        .operator("payments-team", Role::AppTeam, Some(payments()))
        .await;

    let visible: Vec<String> = team
        .nodes()
        .await
        .expect("list")
        .into_iter()
        .map(|node| node.id)
        .collect();
    assert_eq!(visible, vec![ours.node_id.clone()]);
    assert_eq!(server.admin.nodes().await.expect("admin list").len(), 2);
    team.node(&ours.node_id).await.expect("its own node");
    assert_eq!(status_of(team.node(&theirs.node_id).await), 404);

    let environment = SetTagsRequest {
        tags: [("Environment".to_string(), Some("prod".to_string()))].into(),
    };
    let tagged = team
        .set_tags(&ours.node_id, &environment)
        .await
        .expect("tag its node");
    assert_eq!(
        tagged.tags.get("Environment").map(String::as_str),
        Some("prod")
    );
    assert_eq!(
        status_of(team.set_tags(&theirs.node_id, &environment).await),
        404
    );
    // Neither moving a node out of the scope nor dropping the scope tag.
    for change in [Some("shop".to_string()), None] {
        let escape = SetTagsRequest {
            tags: [("Application".to_string(), change)].into(),
        };
        assert_eq!(status_of(team.set_tags(&ours.node_id, &escape).await), 403);
    }
    let node = server.admin.node(&ours.node_id).await.expect("node");
    assert_eq!(
        node.tags.get("Application").map(String::as_str),
        Some("payments")
    );

    // Patch groups: only those its nodes are in.
    for (group, node_id) in [("pay-web", &ours.node_id), ("shop-web", &theirs.node_id)] {
        server
            .admin
            .put_patch_group(&PatchGroup {
                name: group.into(),
                baselines: BTreeMap::new(),
            })
            .await
            .expect("group");
        let tag = SetTagsRequest {
            tags: [("Patch Group".to_string(), Some(group.to_string()))].into(),
        };
        server.admin.set_tags(node_id, &tag).await.expect("tag");
    }
    let groups: Vec<String> = team
        .patch_groups()
        .await
        .expect("groups")
        .into_iter()
        .map(|group| group.name)
        .collect();
    assert_eq!(groups, vec!["pay-web".to_string()]);
    assert_eq!(server.admin.patch_groups().await.expect("all").len(), 2);
    let path = routes::fill(routes::PATCH_GROUP, &["shop-web"]);
    assert_eq!(status_of(team.get::<PatchGroup>(&path).await), 404);
    team.get::<PatchGroup>(&routes::fill(routes::PATCH_GROUP, &["pay-web"]))
        .await
        .expect("its group");

    // Tag changes are audited with the team's name.
    let audit = server.admin.audit(None).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|entry| entry.action == "node.tags" && entry.actor == "user:payments-team"),
        "{audit:?}"
    );
}

async fn node_credentials_and_operator_tokens_stay_on_their_routes(server: TestServer) {
    let (_, node) = server.enrol("db-1", &[]).await;
    assert_eq!(status_of(node.whoami().await), 403);
    assert_eq!(status_of(node.nodes().await), 403);
    assert_eq!(status_of(node.audit(None).await), 403);
    assert_eq!(
        status_of(
            node.create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: "from-a-node".into(),
                ..Default::default()
            })
            .await
        ),
        403
    );
    let request = checkin_request("db-1", &inventory("5.2.15-2"), true);
    assert_eq!(status_of(server.admin.checkin(&request).await), 403);
    node.checkin(&request).await.expect("the node checks in");
}
