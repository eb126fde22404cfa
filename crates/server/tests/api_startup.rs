//! Server start-up, on SQLite and PostgreSQL: the first start creates
//! `admin` with a generated password in a 0600 file and a certificate, a
//! restart reuses both (and keeps sessions), and an operator's own
//! certificate files are served as given.

mod support;

use std::os::unix::fs::PermissionsExt;

use patchline_server::config::TlsSource;
use patchline_server::store::Backend;
use patchline_server::{start, tls};
use support::db::TestDb;
use support::server::{client_of, status_of, test_config};

async fn a_first_start_bootstraps_and_a_restart_reuses(backend: Backend) {
    let db = TestDb::new(backend).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut config = test_config(&db, data_dir.path());
    config.admin_password = None;

    let first = start(config.clone()).await.expect("first start");
    let password_file = first
        .admin_password_file
        .clone()
        .expect("a generated admin password");
    let mode = std::fs::metadata(&password_file)
        .expect("password file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let password = std::fs::read_to_string(&password_file).expect("read password");
    let password = password.trim();
    assert!(
        password.len() >= 16,
        "a short generated password: {password:?}"
    );
    let client = client_of(&first);
    let session = client.login("admin", password).await.expect("login");
    let first_ca = first.ca_pem.clone();
    first.stop().await.expect("stop");

    // The restart keeps the certificate, the admin and its session, and
    // creates no second admin password.
    let mut restart = config.clone();
    restart.admin_password = Some("ignored-once-users-exist".into());
    let second = start(restart).await.expect("second start");
    assert_eq!(second.admin_password_file, None);
    assert_eq!(second.ca_pem, first_ca);
    let client = client_of(&second);
    let me = client
        .with_bearer(session.token.clone())
        .whoami()
        .await
        .expect("the session survives a restart");
    assert_eq!(me.subject, "admin");
    client
        .login("admin", password)
        .await
        .expect("same password");
    assert_eq!(
        status_of(client.login("admin", "ignored-once-users-exist").await),
        401
    );
    second.stop().await.expect("stop");
}

async fn operator_certificate_files_are_served(backend: Backend) {
    let db = TestDb::new(backend).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let material =
        tls::generate(&["localhost".to_string(), "127.0.0.1".to_string()]).expect("certificate");
    let cert = data_dir.path().join("operator-cert.pem");
    let key = data_dir.path().join("operator-key.pem");
    std::fs::write(&cert, &material.cert_chain_pem).expect("write cert");
    std::fs::write(&key, &material.key_pem).expect("write key");
    let mut config = test_config(&db, data_dir.path());
    config.tls = TlsSource::Files {
        cert: cert.clone(),
        key,
    };
    let server = start(config).await.expect("start");
    assert_eq!(server.ca_pem, material.cert_chain_pem);
    // Nothing was generated beside the operator's files.
    assert!(!data_dir.path().join("tls").exists());
    // A client trusting only the operator's CA gets through.
    let client = patchline_api::Client::builder(server.base_url())
        .ca_certificate_pem(material.trust_pem.as_bytes())
        .build()
        .expect("client");
    client
        .login("admin", support::server::ADMIN_PASSWORD)
        .await
        .expect("login over the operator's certificate");
    // One trusting another CA does not.
    let stranger = tls::generate(&["localhost".to_string()]).expect("other CA");
    let untrusting = patchline_api::Client::builder(server.base_url())
        .ca_certificate_pem(stranger.trust_pem.as_bytes())
        .build()
        .expect("client");
    let refused = untrusting
        .login("admin", support::server::ADMIN_PASSWORD)
        .await;
    assert!(
        matches!(refused, Err(patchline_api::ClientError::Transport { .. })),
        "a TLS failure expected, got {refused:?}"
    );
    server.stop().await.expect("stop");
}

mod first_start {
    #[tokio::test]
    async fn sqlite() {
        super::a_first_start_bootstraps_and_a_restart_reuses(super::Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres() {
        super::a_first_start_bootstraps_and_a_restart_reuses(super::Backend::Postgres).await
    }
}

mod operator_certificate {
    #[tokio::test]
    async fn sqlite() {
        super::operator_certificate_files_are_served(super::Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres() {
        super::operator_certificate_files_are_served(super::Backend::Postgres).await
    }
}
