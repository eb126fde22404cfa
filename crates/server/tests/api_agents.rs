//! API: enrolment and check-in by inventory hash, on SQLite and PostgreSQL.
//! Every refusal is checked for what it did not store.

mod support;

use jiff::{SignedDuration, Timestamp};
use patchline_api::checkin::CheckinStatus;
use patchline_api::enrolment::{CreateEnrolmentSecretRequest, EnrolmentSecretView};
use patchline_api::routes;
use patchline_server::auth::secrets;
use patchline_server::store::records::NewEnrolmentSecret;
use support::server::{
    TestServer, checkin_request, code_of, enrol_request, inventory, status_of, tags_of,
};

api_cases!(
    enrolment_gives_a_credential_and_the_secret_tags,
    a_revoked_secret_replayed_enrols_nothing,
    expired_and_used_up_secrets_enrol_nothing,
    checkin_asks_for_an_unknown_inventory_then_records_it,
    an_inventory_whose_hash_differs_is_refused_and_not_stored,
    a_node_cannot_name_another_node,
    deleting_a_node_kills_its_credential,
    concurrent_checkins_of_one_new_inventory_all_land,
);

async fn node_count(server: &TestServer) -> usize {
    server.admin.nodes().await.expect("nodes").len()
}

async fn enrolment_gives_a_credential_and_the_secret_tags(server: TestServer) {
    let secret = server.enrolment_secret(&[("Environment", "prod")]).await;
    assert!(secret.starts_with("ple_"));
    let mut request = enrol_request(&secret, "web-1");
    request.tags = tags_of(&[("Environment", "dev"), ("Zone", "eu-1")]);
    let enrolled = server.anonymous.enrol(&request).await.expect("enrol");
    assert!(enrolled.credential.starts_with("pln_"));
    assert_eq!(enrolled.checkin_interval_seconds, 60);
    let node = server.admin.node(&enrolled.node_id).await.expect("node");
    assert_eq!(node.facts.hostname, "web-1");
    // The secret's tags win over the agent's.
    assert_eq!(
        node.tags,
        tags_of(&[("Environment", "prod"), ("Zone", "eu-1")])
    );
    assert_eq!(node.last_checkin_at, None);
    assert_eq!(
        node.baseline.as_deref().map(|name| !name.is_empty()),
        Some(true)
    );
    let secrets: Vec<EnrolmentSecretView> = server
        .admin
        .get(routes::ENROLMENT_SECRETS)
        .await
        .expect("secrets");
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].uses, 1);
    let listing = serde_json::to_string(&secrets).expect("json");
    assert!(!listing.contains(&secret), "a listing shows the secret");
}

async fn a_revoked_secret_replayed_enrols_nothing(server: TestServer) {
    let created = server
        .admin
        .create_enrolment_secret(&CreateEnrolmentSecretRequest {
            name: "fleet".into(),
            ..Default::default()
        })
        .await
        .expect("secret");
    server
        .anonymous
        .enrol(&enrol_request(&created.secret, "first"))
        .await
        .expect("first enrolment");
    server
        .admin
        .delete(&routes::fill(routes::ENROLMENT_SECRET, &[&created.id]))
        .await
        .expect("revoke");
    let (status, code) = code_of(
        server
            .anonymous
            .enrol(&enrol_request(&created.secret, "replayed"))
            .await,
    );
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert_eq!(node_count(&server).await, 1);
    // Not an enrolment secret at all.
    assert_eq!(
        status_of(
            server
                .anonymous
                .enrol(&enrol_request("pln_forged", "forged"))
                .await
        ),
        401
    );
    assert_eq!(node_count(&server).await, 1);
}

async fn expired_and_used_up_secrets_enrol_nothing(server: TestServer) {
    // An expired secret cannot be made through the API (expiry must be in
    // the future), so it is stored directly.
    let expired = secrets::generate_token(secrets::TokenPrefix::Enrolment);
    server
        .server
        .state
        .store
        .insert_enrolment_secret(
            "system",
            NewEnrolmentSecret {
                id: secrets::new_id(),
                name: "expired".into(),
                secret_hash: secrets::token_hash(&expired),
                max_uses: None,
                expires_at: Some(Timestamp::now() - SignedDuration::from_secs(60)),
                tags: Default::default(),
            },
        )
        .await
        .expect("store an expired secret");
    assert_eq!(
        status_of(
            server
                .anonymous
                .enrol(&enrol_request(&expired, "late"))
                .await
        ),
        401
    );
    let past = CreateEnrolmentSecretRequest {
        name: "past".into(),
        expires_at: Some(Timestamp::now() - SignedDuration::from_secs(60)),
        ..Default::default()
    };
    assert_eq!(
        status_of(server.admin.create_enrolment_secret(&past).await),
        400
    );

    let once = server
        .admin
        .create_enrolment_secret(&CreateEnrolmentSecretRequest {
            name: "once".into(),
            max_uses: Some(1),
            ..Default::default()
        })
        .await
        .expect("secret");
    server
        .anonymous
        .enrol(&enrol_request(&once.secret, "only"))
        .await
        .expect("first use");
    assert_eq!(
        status_of(
            server
                .anonymous
                .enrol(&enrol_request(&once.secret, "second"))
                .await
        ),
        401
    );
    let hostnames: Vec<String> = server
        .admin
        .nodes()
        .await
        .expect("nodes")
        .into_iter()
        .map(|node| node.facts.hostname)
        .collect();
    assert_eq!(hostnames, vec!["only".to_string()]);
}

async fn checkin_asks_for_an_unknown_inventory_then_records_it(server: TestServer) {
    let (enrolled, node) = server.enrol("web-1", &[]).await;
    let inventory = inventory("5.2.15-2");
    let by_hash = checkin_request("web-1", &inventory, false);
    let answer = node.checkin(&by_hash).await.expect("check-in by hash");
    assert_eq!(answer.status, CheckinStatus::InventoryRequired);
    assert_eq!(answer.compliance, None);
    // Nothing of that request was recorded.
    let view = server.admin.node(&enrolled.node_id).await.expect("node");
    assert_eq!(view.last_checkin_at, None);
    assert_eq!(view.inventory_hash, None);

    let with_body = checkin_request("web-1", &inventory, true);
    let answer = node.checkin(&with_body).await.expect("check-in with body");
    assert_eq!(answer.status, CheckinStatus::Accepted);
    assert_eq!(answer.checkin_interval_seconds, 60);
    let compliance = answer.compliance.expect("evaluated at once");
    assert!(!compliance.baseline.is_empty());
    let view = server.admin.node(&enrolled.node_id).await.expect("node");
    assert_eq!(view.inventory_hash, Some(inventory.content_hash()));
    assert!(view.last_checkin_at.is_some());
    assert_eq!(view.compliance, Some(compliance));

    // Another node with the same packages sends only the hash.
    let (_, twin) = server.enrol("web-2", &[]).await;
    let answer = twin
        .checkin(&checkin_request("web-2", &inventory, false))
        .await
        .expect("twin");
    assert_eq!(answer.status, CheckinStatus::Accepted);
    assert!(answer.compliance.is_some());
}

async fn an_inventory_whose_hash_differs_is_refused_and_not_stored(server: TestServer) {
    let (enrolled, node) = server.enrol("web-1", &[]).await;
    let announced = inventory("5.2.15-2");
    let mut request = checkin_request("web-1", &announced, true);
    request.inventory = Some(inventory("5.2.15-1"));
    let (status, code) = code_of(node.checkin(&request).await);
    assert_eq!((status, code.as_str()), (400, "invalid-request"));
    // Neither the body nor the check-in were kept: the hash is still unknown.
    let answer = node
        .checkin(&checkin_request("web-1", &announced, false))
        .await
        .expect("check-in by hash");
    assert_eq!(answer.status, CheckinStatus::InventoryRequired);
    let answer = node
        .checkin(&checkin_request("web-1", &inventory("5.2.15-1"), false))
        .await
        .expect("check-in by the other hash");
    assert_eq!(answer.status, CheckinStatus::InventoryRequired);
    let view = server.admin.node(&enrolled.node_id).await.expect("node");
    assert_eq!(view.last_checkin_at, None);
    // A malformed hash.
    let mut malformed = checkin_request("web-1", &announced, false);
    malformed.inventory_hash = patchline_api::checkin::InventoryHash("ABC".into());
    assert_eq!(status_of(node.checkin(&malformed).await), 400);
}

async fn a_node_cannot_name_another_node(server: TestServer) {
    let (first, first_node) = server.enrol("web-1", &[]).await;
    let (second, _) = server.enrol("web-2", &[]).await;
    let inventory = inventory("5.2.15-2");
    let mut body = serde_json::to_value(checkin_request("web-1", &inventory, true)).expect("json");
    body["node_id"] = serde_json::Value::String(second.node_id.clone());
    let response = server
        .raw()
        .post(server.url(routes::CHECKIN))
        .bearer_auth(&first.credential)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let error: patchline_api::ErrorBody = response.json().await.expect("error body");
    assert!(error.message.contains("node_id"), "{error:?}");
    // A check-in only ever lands on the credential's node.
    first_node
        .checkin(&checkin_request("web-1", &inventory, true))
        .await
        .expect("check-in");
    let first_view = server.admin.node(&first.node_id).await.expect("first");
    let second_view = server.admin.node(&second.node_id).await.expect("second");
    assert!(first_view.last_checkin_at.is_some());
    assert_eq!(second_view.last_checkin_at, None);
}

async fn deleting_a_node_kills_its_credential(server: TestServer) {
    let (enrolled, node) = server.enrol("web-1", &[]).await;
    let inventory = inventory("5.2.15-2");
    node.checkin(&checkin_request("web-1", &inventory, true))
        .await
        .expect("check-in");
    server
        .admin
        .delete(&routes::fill(routes::NODE, &[&enrolled.node_id]))
        .await
        .expect("delete");
    assert_eq!(
        status_of(
            node.checkin(&checkin_request("web-1", &inventory, false))
                .await
        ),
        401
    );
    assert_eq!(status_of(server.admin.node(&enrolled.node_id).await), 404);
    let audit = server.admin.audit(None).await.expect("audit");
    assert!(audit.iter().any(|entry| entry.action == "node.delete"));
}

async fn concurrent_checkins_of_one_new_inventory_all_land(server: TestServer) {
    const NODES: usize = 16;
    let mut agents = Vec::new();
    for n in 0..NODES {
        let hostname = format!("web-{n}");
        let (enrolled, client) = server.enrol(&hostname, &[]).await;
        agents.push((hostname, enrolled, client));
    }
    let inventory = inventory("5.2.15-2");
    // Every node sends the same, still unknown, inventory at once.
    let mut tasks = tokio::task::JoinSet::new();
    for (hostname, _, client) in &agents {
        let request = checkin_request(hostname, &inventory, true);
        let client = client.clone();
        tasks.spawn(async move { client.checkin(&request).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let answer = joined.expect("task").expect("check-in");
        assert_eq!(answer.status, CheckinStatus::Accepted);
        assert!(answer.compliance.is_some());
    }
    let nodes = server.admin.nodes().await.expect("nodes");
    assert_eq!(nodes.len(), NODES);
    assert!(
        nodes
            .iter()
            .all(|node| node.inventory_hash == Some(inventory.content_hash())
                && node.compliance.is_some())
    );
}
