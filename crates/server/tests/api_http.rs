//! API: the HTTP edges (body limits, malformed and unknown input, unknown
//! routes) answered as JSON errors, and the operational endpoints (healthz,
//! metrics, OpenAPI), on SQLite and PostgreSQL.

mod support;

use patchline_api::ErrorBody;
use patchline_api::checkin::CheckinStatus;
use patchline_api::routes;
use patchline_core::package::InstalledPackage;
use support::server::{TestServer, checkin_request, inventory};

api_cases!(
    oversized_bodies_are_413_with_a_larger_limit_for_agents,
    malformed_json_and_unknown_fields_are_400_naming_the_field,
    unknown_routes_and_methods_answer_json,
    openapi_lists_every_route_and_schema,
    healthz_and_metrics_answer,
);

async fn error_of(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    match response.json::<ErrorBody>().await {
        Ok(body) => (status, body),
        Err(error) => panic!("a {status} answer is not an ErrorBody: {error}"),
    }
}

async fn oversized_bodies_are_413_with_a_larger_limit_for_agents(server: TestServer) {
    let raw = server.raw();
    // 2 MiB on an operator route (limit 1 MiB).
    let big = format!(
        r#"{{"username":"x","password":"{}","role":"auditor"}}"#,
        "p".repeat(2 * 1024 * 1024)
    );
    let response = raw
        .post(server.url(routes::LOGIN))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.error.as_str()), (413, "payload-too-large"));

    // An inventory of about 2 MiB is fine on the check-in route...
    let (enrolled, node) = server.enrol("big-1", &[]).await;
    let mut large = inventory("5.2.15-2");
    large.installed.extend(filler_packages(0..20_000));
    let request = checkin_request("big-1", &large, true);
    let size = serde_json::to_vec(&request).expect("json").len();
    assert!(size > 1024 * 1024 && size < 8 * 1024 * 1024, "{size} bytes");
    let answer = node.checkin(&request).await.expect("a large inventory");
    assert_eq!(answer.status, CheckinStatus::Accepted);

    // ...but not 9 MiB, and nothing of it is stored.
    large.installed.extend(filler_packages(20_000..120_000));
    let request = checkin_request("big-1", &large, true);
    let size = serde_json::to_vec(&request).expect("json").len();
    assert!(size > 8 * 1024 * 1024, "{size} bytes");
    let response = raw
        .post(server.url(routes::CHECKIN))
        .bearer_auth(&enrolled.credential)
        .json(&request)
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.error.as_str()), (413, "payload-too-large"));
    let answer = node
        .checkin(&checkin_request("big-1", &large, false))
        .await
        .expect("by hash");
    assert_eq!(answer.status, CheckinStatus::InventoryRequired);
}

async fn malformed_json_and_unknown_fields_are_400_naming_the_field(server: TestServer) {
    let raw = server.raw();
    let send = |body: &'static str| {
        raw.post(server.url(routes::LOGIN))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, body) = error_of(
        send(r#"{"username": "admin", "password": "#)
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, body.error.as_str()), (400, "invalid-request"));

    let (status, body) = error_of(
        send(r#"{"username":"admin","password":"x","otp":"123456"}"#)
            .await
            .expect("request"),
    )
    .await;
    assert_eq!((status, body.error.as_str()), (400, "invalid-request"));
    assert!(body.message.contains("otp"), "{body:?}");

    let (status, body) = error_of(send(r#"{"username":"admin"}"#).await.expect("request")).await;
    assert_eq!(status, 400);
    assert!(body.message.contains("password"), "{body:?}");

    // A nested unknown field is named with its path.
    let (enrolled, _) = server.enrol("web-1", &[]).await;
    let mut request = serde_json::to_value(checkin_request("web-1", &inventory("5.2.15-2"), false))
        .expect("json");
    request["facts"]["colour"] = serde_json::Value::String("blue".into());
    let response = raw
        .post(server.url(routes::CHECKIN))
        .bearer_auth(&enrolled.credential)
        .json(&request)
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert!(
        body.message.contains("facts") && body.message.contains("colour"),
        "{body:?}"
    );

    // Not JSON at all.
    let response = raw
        .post(server.url(routes::LOGIN))
        .header("content-type", "text/plain")
        .body("admin:admin")
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.error.as_str()), (415, "invalid-request"));

    // A bad query parameter.
    let token = server
        .anonymous
        .login("admin", support::server::ADMIN_PASSWORD)
        .await
        .expect("login")
        .token;
    let response = raw
        .get(server.url("/api/v1/audit?after=yesterday"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert!(body.message.contains("after"), "{body:?}");
}

async fn unknown_routes_and_methods_answer_json(server: TestServer) {
    let raw = server.raw();
    let response = raw
        .get(server.url("/api/v1/nope"))
        .send()
        .await
        .expect("request");
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.error.as_str()), (404, "not-found"));
    let response = raw
        .patch(server.url(routes::NODES))
        .send()
        .await
        .expect("request");
    let (status, _) = error_of(response).await;
    assert_eq!(status, 405);
}

async fn openapi_lists_every_route_and_schema(server: TestServer) {
    let (status, text) = server
        .anonymous
        .request_text::<()>(reqwest::Method::GET, routes::OPENAPI, None)
        .await
        .expect("openapi");
    assert_eq!(status.as_u16(), 200);
    let document: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.")),
        "{}",
        document["openapi"]
    );
    let every_route = [
        routes::HEALTHZ,
        routes::METRICS,
        routes::OPENAPI,
        routes::LOGIN,
        routes::WHOAMI,
        routes::USERS,
        routes::USER,
        routes::TOKENS,
        routes::TOKEN,
        routes::ENROLMENT_SECRETS,
        routes::ENROLMENT_SECRET,
        routes::NODES,
        routes::NODE,
        routes::NODE_TAGS,
        routes::BASELINES,
        routes::BASELINE,
        routes::BASELINE_VERSIONS,
        routes::PATCH_GROUPS,
        routes::PATCH_GROUP,
        routes::COMPLIANCE_SUMMARY,
        routes::COMPLIANCE_NODES,
        routes::COMPLIANCE_NODE,
        routes::COMPLIANCE_PATCHES,
        routes::COMPLIANCE_HISTORY,
        routes::AUDIT,
        routes::ENROL,
        routes::CHECKIN,
        routes::WORK_READY,
    ];
    for route in every_route {
        assert!(
            document["paths"][route].is_object(),
            "{route} is not documented"
        );
    }
    for schema in [
        "CheckinRequest",
        "NodeView",
        "PutBaselineRequest",
        "ErrorBody",
        "AuditEntry",
    ] {
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    assert!(document["paths"][routes::CHECKIN]["post"]["requestBody"].is_object());
}

async fn healthz_and_metrics_answer(server: TestServer) {
    let (status, text) = server
        .anonymous
        .request_text::<()>(reqwest::Method::GET, routes::HEALTHZ, None)
        .await
        .expect("healthz");
    assert_eq!(status.as_u16(), 200);
    let health: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(health["status"], "ok");

    let (_, node) = server.enrol("web-1", &[]).await;
    node.checkin(&checkin_request("web-1", &inventory("5.2.15-2"), false))
        .await
        .expect("check-in");
    node.checkin(&checkin_request("web-1", &inventory("5.2.15-2"), true))
        .await
        .expect("check-in");
    let (status, metrics) = server
        .anonymous
        .request_text::<()>(reqwest::Method::GET, routes::METRICS, None)
        .await
        .expect("metrics");
    assert_eq!(status.as_u16(), 200);
    for expected in [
        "patchline_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"200\"} 1",
        "patchline_http_request_duration_seconds_count{route=\"/api/v1/agent/checkin\"} 2",
        "patchline_checkins_total{outcome=\"accepted\"} 1",
        "patchline_checkins_total{outcome=\"inventory-required\"} 1",
        "patchline_enrolments_total{outcome=\"accepted\"} 1",
        "patchline_inventories_stored_total 1",
        "patchline_node_evaluations_total 1",
        "patchline_nodes 1",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected:?} in\n{metrics}"
        );
    }

    // Without its database the server is unhealthy.
    server.server.state.store.pool().close().await;
    let response = server
        .raw()
        .get(server.url(routes::HEALTHZ))
        .send()
        .await
        .expect("request");
    let (status, _) = error_of(response).await;
    assert_eq!(status, 503);
}

/// Packages with long names that only make an inventory big.
fn filler_packages(numbers: std::ops::Range<u32>) -> impl Iterator<Item = InstalledPackage> {
    numbers.map(|n| InstalledPackage {
        name: format!("package-number-{n:06}-with-a-long-name"),
        arch: "amd64".into(),
        version: format!("1.{n}-1"),
        source: None,
    })
}
