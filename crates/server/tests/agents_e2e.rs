//! Real agents against the real server, on SQLite and on PostgreSQL.
//!
//! Two agents scan isolated testkit roots written by the real dpkg/apt-get
//! and rpm/dnf, enrol with an enrolment secret, check in over TLS on
//! loopback, and the server shows their compliance. A second check-in of an
//! unchanged root sends the inventory hash only (no body); a changed root
//! uploads its new inventory and is re-evaluated. Deleting a node makes its
//! agent stop with a clear error instead of retrying forever.

#[path = "support/db.rs"]
mod db;
#[path = "support/roots.rs"]
mod roots;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use db::TestDb;
use patchline_agent::checkin::{self, AgentConfig, AgentError, CheckinOutcome, EnrolSecret};
use patchline_api::Client;
use patchline_api::enrolment::CreateEnrolmentSecretRequest;
use patchline_api::routes;
use patchline_core::compliance::ComplianceStatus;
use patchline_server::config::ServerConfig;
use patchline_server::store::Backend;
use patchline_testkit::PackageRoot;
use patchline_testkit::apt_repo::native_architecture;

const ADMIN_PASSWORD: &str = "e2e-admin-password-1";

/// Unwraps with the error's `Display` (harness errors carry the failing
/// command's whole output).
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn agent_config(
    server: &str,
    ca_pem: &str,
    state_dir: &Path,
    root: &Path,
    secret: &str,
    zone: &str,
) -> AgentConfig {
    let mut config = AgentConfig::new(server, ca_pem.as_bytes().to_vec(), state_dir);
    config.root = root.to_path_buf();
    config.enrol_secret = Some(EnrolSecret::new(secret));
    config.tags = BTreeMap::from([("Zone".to_owned(), zone.to_owned())]);
    config.scan_only = true;
    // Keep the retries of the looping agent short (loopback server).
    config.retry = checkin::RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
    };
    config
}

/// `name{labels} value` of a Prometheus text exposition.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn status(outcome: &CheckinOutcome) -> Option<ComplianceStatus> {
    outcome.compliance.as_ref().map(|summary| summary.status)
}

fn scenario(backend: Backend) {
    let dir = ok(tempfile::tempdir());
    // Real package managers build the roots first (blocking work).
    let debian = roots::debian_with_security_fix(
        &dir.path().join("debian"),
        "deb-e2e",
        &[("kit-editor", "2:9.0-2")],
    );
    let (rocky, _) = roots::rocky_with_kit_plain(&dir.path().join("rocky"), "rocky-e2e");
    let runtime = ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build());
    runtime.block_on(async {
        let database = TestDb::new(backend).await;
        let mut config = ServerConfig::for_data_dir(dir.path().join("server"));
        config.listen = ([127, 0, 0, 1], 0).into();
        config.database_url = Some(database.url.clone());
        config.admin_password = Some(ADMIN_PASSWORD.to_owned());
        config.checkin_interval = Duration::from_secs(60);
        let server = ok(patchline_server::start(config).await);
        let base = server.base_url();
        let anonymous = ok(Client::builder(&base)
            .ca_certificate_pem(server.ca_pem.as_bytes())
            .build());
        let login = ok(anonymous.login("admin", ADMIN_PASSWORD).await);
        let admin = anonymous.with_bearer(login.token);
        let secret = ok(admin
            .create_enrolment_secret(&CreateEnrolmentSecretRequest {
                name: "e2e".into(),
                max_uses: Some(2),
                expires_at: None,
                tags: BTreeMap::from([("Environment".to_owned(), "e2e".to_owned())]),
            })
            .await)
        .secret;

        let deb_state = dir.path().join("deb-state");
        let rocky_state = dir.path().join("rocky-state");
        let deb_config = agent_config(
            &base,
            &server.ca_pem,
            &deb_state,
            debian.path(),
            &secret,
            "a",
        );
        let rocky_config = agent_config(
            &base,
            &server.ca_pem,
            &rocky_state,
            rocky.path(),
            &secret,
            "b",
        );

        // First round, both agents at once: enrol, hash, inventory-required,
        // body, evaluated.
        let (deb_first, rocky_first) = tokio::join!(
            checkin::run_once(deb_config.clone()),
            checkin::run_once(rocky_config.clone())
        );
        let (deb_first, rocky_first) = (ok(deb_first), ok(rocky_first));
        for (outcome, expected) in [
            (&deb_first, ComplianceStatus::NonCompliant),
            (&rocky_first, ComplianceStatus::Compliant),
        ] {
            assert!(outcome.enrolled, "{outcome:?}");
            assert!(outcome.inventory_sent, "a new inventory is uploaded");
            assert_eq!(outcome.checkin_interval_seconds, 60);
            assert_eq!(status(outcome), Some(expected), "{outcome:?}");
            assert!(outcome.work_done.is_empty() && outcome.work_pending.is_empty());
        }
        assert_ne!(deb_first.node_id, rocky_first.node_id);
        for state in [&deb_state, &rocky_state] {
            let credential = state.join("credential.json");
            let mode = ok(std::fs::metadata(&credential)).permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", credential.display());
        }

        // The server shows both nodes, their facts, tags and compliance.
        let nodes = ok(admin.nodes().await);
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        let deb_view = ok(admin.node(&deb_first.node_id).await);
        assert_eq!(deb_view.facts.hostname, "deb-e2e");
        assert_eq!(deb_view.facts.arch, ok(native_architecture()));
        assert_eq!(deb_view.tags.get("Environment").map(String::as_str), Some("e2e"));
        assert_eq!(deb_view.tags.get("Zone").map(String::as_str), Some("a"));
        assert_eq!(
            deb_view.inventory_hash.as_ref(),
            Some(&deb_first.inventory_hash)
        );
        let rows = ok(admin.compliance_nodes().await);
        let row_status = |id: &str| {
            rows.iter()
                .find(|row| row.node_id == id)
                .and_then(|row| row.compliance.as_ref())
                .map(|summary| summary.status)
        };
        assert_eq!(
            row_status(&deb_first.node_id),
            Some(ComplianceStatus::NonCompliant),
            "{rows:?}"
        );
        assert_eq!(
            row_status(&rocky_first.node_id),
            Some(ComplianceStatus::Compliant),
            "{rows:?}"
        );
        let detail = ok(admin.compliance_node(&deb_first.node_id).await);
        assert!(
            detail
                .packages
                .iter()
                .any(|package| package.name == "kit-ssl"
                    && package.state == patchline_core::compliance::PackageState::Missing),
            "{:?}",
            detail.packages
        );

        // The secret allowed two enrolments: a third node is refused, at
        // once and clearly, and stores nothing.
        let third_state = dir.path().join("third-state");
        let mut third = deb_config.clone();
        third.state_dir = third_state.clone();
        let refused = tokio::time::timeout(Duration::from_secs(300), checkin::run(third)).await;
        match refused {
            Ok(Err(AgentError::EnrolmentRefused { status: 401, .. })) => {}
            other => panic!("expected a refused enrolment, got {other:?}"),
        }
        assert!(!third_state.join("credential.json").exists());

        // Second round, roots unchanged: the hash alone is enough.
        let deb_second = ok(checkin::run_once(deb_config.clone()).await);
        let rocky_second = ok(checkin::run_once(rocky_config.clone()).await);
        for (second, first) in [(&deb_second, &deb_first), (&rocky_second, &rocky_first)] {
            assert!(!second.enrolled);
            assert_eq!(second.node_id, first.node_id);
            assert_eq!(second.inventory_hash, first.inventory_hash);
            assert!(!second.inventory_sent, "an unchanged inventory is not resent");
            assert_eq!(status(second), status(first));
        }
        let metrics_text = |client: Client| async move {
            ok(client.request_text::<()>(reqwest::Method::GET, routes::METRICS, None).await).1
        };
        let metrics = metrics_text(anonymous.clone()).await;
        assert_eq!(
            metric(&metrics, "patchline_inventories_stored_total"),
            2,
            "one body per distinct inventory:\n{metrics}"
        );
        assert_eq!(
            metric(&metrics, "patchline_checkins_total{outcome=\"inventory-required\"}"),
            2,
            "{metrics}"
        );
        assert_eq!(
            metric(&metrics, "patchline_checkins_total{outcome=\"accepted\"}"),
            4,
            "{metrics}"
        );

        // The real apt upgrades the Debian root: a new inventory is sent and
        // the node becomes compliant.
        ok(ok(debian.run_apt_get(&["upgrade"])).ensure_success());
        let deb_upgraded = ok(checkin::run_once(deb_config.clone()).await);
        assert!(deb_upgraded.inventory_sent);
        assert_ne!(deb_upgraded.inventory_hash, deb_first.inventory_hash);
        assert_eq!(status(&deb_upgraded), Some(ComplianceStatus::Compliant));

        // Deleting the node kills its credential: the looping agent stops
        // with a clear error (bounded wait: a hang must fail, not block CI).
        ok(admin
            .delete(&routes::fill(routes::NODE, &[&deb_first.node_id]))
            .await);
        let stopped = tokio::time::timeout(
            Duration::from_secs(300),
            checkin::run(deb_config.clone()),
        )
        .await;
        let error = match stopped {
            Ok(Err(error)) => error,
            Ok(Ok(())) => panic!("the agent returned Ok after its node was deleted"),
            Err(_) => panic!("the agent kept running after its node was deleted"),
        };
        assert!(
            matches!(&error, AgentError::CredentialRejected { node_id, .. } if *node_id == deb_first.node_id),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("deleted or its credential revoked"), "{message}");
        assert!(message.contains("credential.json"), "{message}");
        let stored = ok(std::fs::read_to_string(deb_state.join("credential.json")));
        assert!(!message.contains(&credential_of(&stored)), "never shows the credential");
        // The once mode (cron) fails the same way; the file is left alone.
        let once = checkin::run_once(deb_config).await;
        assert!(matches!(once, Err(AgentError::CredentialRejected { .. })));
        assert_eq!(
            ok(std::fs::read_to_string(deb_state.join("credential.json"))),
            stored
        );

        // The other node is unaffected.
        let rocky_third = ok(checkin::run_once(rocky_config).await);
        assert!(!rocky_third.inventory_sent);
        assert_eq!(status(&rocky_third), Some(ComplianceStatus::Compliant));
        assert_eq!(ok(admin.nodes().await).len(), 1);

        ok(server.stop().await);
    });
}

fn credential_of(stored_json: &str) -> String {
    let value: serde_json::Value = ok(serde_json::from_str(stored_json));
    value["credential"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn agents_enrol_check_in_and_stop_when_deleted_on_sqlite() {
    scenario(Backend::Sqlite);
}

#[test]
fn agents_enrol_check_in_and_stop_when_deleted_on_postgres() {
    scenario(Backend::Postgres);
}
