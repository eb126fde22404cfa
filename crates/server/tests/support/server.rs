//! A real server for API tests: listening on 127.0.0.1:0 with its generated
//! TLS certificate, on a fresh SQLite or PostgreSQL database, with clients
//! that trust exactly that certificate.
//!
//! [`api_cases!`] turns one async test body taking a [`TestServer`] into one
//! test per backend.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use patchline_api::auth::{CreateUserRequest, Role, TagScope};
use patchline_api::checkin::{CheckinRequest, Inventory, NodeFacts};
use patchline_api::enrolment::{CreateEnrolmentSecretRequest, EnrolRequest, EnrolResponse};
use patchline_api::{Client, ClientError};
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::{Classification, InstalledPackage, Severity, Update};
use patchline_server::config::ServerConfig;
use patchline_server::store::Backend;
use patchline_server::{RunningServer, start};

use super::db::TestDb;

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The password every user created by [`TestServer::operator`] gets.
pub const USER_PASSWORD: &str = "a-long-enough-password";

pub struct TestServer {
    pub server: RunningServer,
    /// Anonymous client (no bearer token).
    pub anonymous: Client,
    /// Logged in as `admin`.
    pub admin: Client,
    // Dropped after the server's handles (field order): the database and
    // the data directory outlive every use.
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        let db = TestDb::new(backend).await;
        let data_dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a data directory: {error}"),
        };
        TestServer::start_with(db, data_dir, |_| {}).await
    }

    /// Starts with a configuration adjusted by `adjust`.
    pub async fn start_with(
        db: TestDb,
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = test_config(&db, data_dir.path());
        adjust(&mut config);
        let server = match start(config).await {
            Ok(server) => server,
            Err(error) => panic!("the server did not start on {:?}: {error:#}", db.backend),
        };
        let anonymous = client_of(&server);
        let login = match anonymous.login("admin", ADMIN_PASSWORD).await {
            Ok(login) => login,
            Err(error) => panic!("the admin cannot log in: {error}"),
        };
        let admin = anonymous.with_bearer(login.token);
        TestServer {
            server,
            anonymous,
            admin,
            db,
            data_dir,
        }
    }

    /// `https://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// A raw HTTP client trusting the server (for bodies the typed client
    /// cannot send: malformed JSON, oversized, unknown fields).
    pub fn raw(&self) -> reqwest::Client {
        let certificate = match reqwest::Certificate::from_pem(self.server.ca_pem.as_bytes()) {
            Ok(certificate) => certificate,
            Err(error) => panic!("the server's CA is not PEM: {error}"),
        };
        match reqwest::Client::builder()
            .tls_certs_only([certificate])
            .build()
        {
            Ok(client) => client,
            Err(error) => panic!("cannot build a raw client: {error}"),
        }
    }

    /// Creates a user with `role` (and `scope`) and returns a client logged
    /// in as it.
    pub async fn operator(&self, username: &str, role: Role, scope: Option<TagScope>) -> Client {
        let request = CreateUserRequest {
            username: username.to_string(),
            password: USER_PASSWORD.to_string(),
            role,
            scope,
        };
        if let Err(error) = self.admin.create_user(&request).await {
            panic!("cannot create user {username}: {error}");
        }
        let login = match self.anonymous.login(username, USER_PASSWORD).await {
            Ok(login) => login,
            Err(error) => panic!("user {username} cannot log in: {error}"),
        };
        self.anonymous.with_bearer(login.token)
    }

    /// A new enrolment secret with these tags (admin).
    pub async fn enrolment_secret(&self, tags: &[(&str, &str)]) -> String {
        let request = CreateEnrolmentSecretRequest {
            name: "test".to_string(),
            max_uses: None,
            expires_at: None,
            tags: tags_of(tags),
        };
        match self.admin.create_enrolment_secret(&request).await {
            Ok(created) => created.secret,
            Err(error) => panic!("cannot create an enrolment secret: {error}"),
        }
    }

    /// Enrols a node called `hostname` with a fresh secret giving it `tags`;
    /// returns the enrolment and a client holding the node's credential.
    pub async fn enrol(&self, hostname: &str, tags: &[(&str, &str)]) -> (EnrolResponse, Client) {
        let secret = self.enrolment_secret(tags).await;
        let enrolled = match self
            .anonymous
            .enrol(&enrol_request(&secret, hostname))
            .await
        {
            Ok(enrolled) => enrolled,
            Err(error) => panic!("{hostname} cannot enrol: {error}"),
        };
        let client = self.anonymous.with_bearer(enrolled.credential.clone());
        (enrolled, client)
    }
}

/// The configuration of a test server: loopback, a free port, the test
/// database, [`ADMIN_PASSWORD`] and a 60-second check-in interval.
pub fn test_config(db: &TestDb, data_dir: &std::path::Path) -> ServerConfig {
    let mut config = ServerConfig::for_data_dir(data_dir);
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.database_url = Some(db.url.clone());
    config.admin_password = Some(ADMIN_PASSWORD.to_string());
    config.checkin_interval = std::time::Duration::from_secs(60);
    config
}

/// A client of `server` trusting its certificate.
pub fn client_of(server: &RunningServer) -> Client {
    match Client::builder(server.base_url())
        .ca_certificate_pem(server.ca_pem.as_bytes())
        .build()
    {
        Ok(client) => client,
        Err(error) => panic!("cannot build a client: {error}"),
    }
}

pub fn tags_of(tags: &[(&str, &str)]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub fn debian() -> OsInfo {
    OsInfo {
        family: OsFamily::Debian,
        id: "debian".into(),
        version_id: "12".into(),
        product: "Debian12".into(),
    }
}

pub fn facts(hostname: &str) -> NodeFacts {
    NodeFacts {
        hostname: hostname.to_string(),
        os: debian(),
        arch: "amd64".into(),
        kernel: Some("6.1.0-18-amd64".into()),
        reboot_required: false,
        agent_version: "0.1.0".into(),
        addresses: Vec::new(),
    }
}

pub fn enrol_request(secret: &str, hostname: &str) -> EnrolRequest {
    EnrolRequest {
        secret: secret.to_string(),
        facts: facts(hostname),
        tags: BTreeMap::new(),
    }
}

/// A Debian inventory with `bash` at `installed` and a critical security
/// update to 5.2.15-2+deb12u1 released 30 days ago.
pub fn inventory(installed: &str) -> Inventory {
    let released = Timestamp::now()
        .checked_sub(SignedDuration::from_hours(30 * 24))
        .unwrap_or_else(|_| Timestamp::now())
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    Inventory {
        os: debian(),
        installed: vec![InstalledPackage {
            name: "bash".into(),
            arch: "amd64".into(),
            version: installed.into(),
            source: None,
        }],
        updates: vec![Update {
            name: "bash".into(),
            arch: "amd64".into(),
            version: "5.2.15-2+deb12u1".into(),
            classification: Classification::Security,
            severity: Severity::Critical,
            release_date: released,
            advisory_id: Some("DSA-0000-1".into()),
            cves: vec!["CVE-2099-0001".into()],
            repository: Some("bookworm-security".into()),
            priority: None,
            section: Some("shells".into()),
            reboot_suggested: false,
        }],
        failed: Vec::new(),
        pending_reboot: Vec::new(),
    }
}

/// A check-in announcing `inventory` by hash, with or without its body.
pub fn checkin_request(hostname: &str, inventory: &Inventory, with_body: bool) -> CheckinRequest {
    CheckinRequest {
        facts: facts(hostname),
        tags: BTreeMap::new(),
        scanned_at: Timestamp::now(),
        inventory_hash: inventory.content_hash(),
        inventory: with_body.then(|| inventory.clone()),
        results: Vec::new(),
    }
}

/// The HTTP status of a failed call (panics on success: the caller expected
/// an error).
pub fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> u16 {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => match error.status() {
            Some(status) => status.as_u16(),
            None => panic!("expected an HTTP error, got {error}"),
        },
    }
}

/// The error code of a failed call.
pub fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(ClientError::Api { status, body, .. }) => (status.as_u16(), body.error),
        Err(other) => panic!("expected an API error, got {other}"),
    }
}

/// One test per backend from one async body taking a [`TestServer`]:
/// `api_cases!(logs_in);` expects `async fn logs_in(server: TestServer)`.
#[macro_export]
macro_rules! api_cases {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let server = $crate::support::server::TestServer::start(
                        patchline_server::store::Backend::Sqlite,
                    )
                    .await;
                    super::$case(server).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let server = $crate::support::server::TestServer::start(
                        patchline_server::store::Backend::Postgres,
                    )
                    .await;
                    super::$case(server).await
                }
            }
        )*
    };
}
