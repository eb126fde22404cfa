//! The generated certificate's names over real TLS: a server started with
//! extra names (`--tls-name`) is reachable under them by a client pinning
//! `ca.pem`; a restart with another name re-issues the leaf from the same
//! CA, so a client holding the old `ca.pem` connects under the new name;
//! and a data directory from before `ca-key.pem` refuses to start rather
//! than replace its CA.
//!
//! SQLite only: nothing here touches the store.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use patchline_server::config::ServerConfig;
use patchline_server::tls::{GeneratedPaths, TlsName};
use patchline_server::{RunningServer, start};
use support::db::TestDb;
use support::server::test_config;

/// Loopback, but not 127.0.0.1: only an extra name makes it valid.
const OTHER_LOOPBACK: [u8; 4] = [127, 0, 0, 2];

fn name(text: &str) -> TlsName {
    match text.parse() {
        Ok(name) => name,
        Err(error) => panic!("{error}"),
    }
}

/// The test configuration listening on 127.0.0.2 with `names` added.
fn config_with(db: &TestDb, data_dir: &Path, names: &[&str]) -> ServerConfig {
    let mut config = test_config(db, data_dir);
    config.listen = SocketAddr::from((OTHER_LOOPBACK, 0));
    config.tls_names = names.iter().map(|text| name(text)).collect();
    config
}

/// GETs `/healthz` at `https://<host>:<port>`, `host` resolving to the
/// server, trusting only `ca_pem`; the transport error when TLS refuses.
async fn health_via(server: &RunningServer, host: &str, ca_pem: &[u8]) -> Result<u16, String> {
    let certificate = reqwest::Certificate::from_pem(ca_pem).map_err(|error| error.to_string())?;
    let client = reqwest::Client::builder()
        .tls_certs_only([certificate])
        .resolve(host, server.addr)
        .build()
        .map_err(|error| error.to_string())?;
    let url = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}/healthz", server.addr.port()),
        _ => format!("https://{host}:{}/healthz", server.addr.port()),
    };
    match client.get(&url).send().await {
        Ok(response) => Ok(response.status().as_u16()),
        // `{:?}` keeps the source chain (the certificate verdict).
        Err(error) => Err(format!("{error:?}")),
    }
}

async fn started(config: ServerConfig) -> RunningServer {
    match start(config).await {
        Ok(server) => server,
        Err(error) => panic!("the server did not start: {error:#}"),
    }
}

fn read(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    }
}

#[tokio::test]
async fn extra_names_are_served_and_a_new_one_keeps_the_ca() {
    let db = TestDb::sqlite().await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let paths = GeneratedPaths::in_data_dir(data_dir.path());

    let first = started(config_with(&db, data_dir.path(), &["127.0.0.2"])).await;
    let old_ca = read(&paths.ca);
    assert_eq!(first.ca_pem.as_bytes(), old_ca);
    assert_eq!(health_via(&first, "127.0.0.2", &old_ca).await, Ok(200));
    // Verification is real: a name the certificate lacks is refused.
    let refused = health_via(&first, "patch.example.test", &old_ca).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|error| error.contains("NotValidForName")),
        "a name mismatch expected, got {refused:?}"
    );
    let first_leaf = read(&paths.cert);
    first.stop().await.expect("stop");

    // A restart wanting another name re-issues the leaf from the same CA.
    let second = started(config_with(
        &db,
        data_dir.path(),
        &["127.0.0.2", "patch.example.test"],
    ))
    .await;
    assert_eq!(read(&paths.ca), old_ca, "ca.pem must not change");
    assert_ne!(read(&paths.cert), first_leaf, "the leaf must be re-issued");
    assert_eq!(
        health_via(&second, "patch.example.test", &old_ca).await,
        Ok(200)
    );
    assert_eq!(health_via(&second, "127.0.0.2", &old_ca).await, Ok(200));
    let second_leaf = read(&paths.cert);
    second.stop().await.expect("stop");

    // The same names again: nothing re-issued.
    let third = started(config_with(
        &db,
        data_dir.path(),
        &["patch.example.test", "127.0.0.2"],
    ))
    .await;
    assert_eq!(read(&paths.cert), second_leaf);
    third.stop().await.expect("stop");
}

#[tokio::test]
async fn an_old_data_dir_wanting_a_new_name_refuses_to_start() {
    let db = TestDb::sqlite().await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let paths = GeneratedPaths::in_data_dir(data_dir.path());
    let first = started(config_with(&db, data_dir.path(), &["127.0.0.2"])).await;
    first.stop().await.expect("stop");
    // What versions before ca-key.pem left behind.
    std::fs::remove_file(&paths.ca_key).expect("remove ca-key.pem");
    let before = [read(&paths.ca), read(&paths.cert), read(&paths.key)];

    // With the names it has, it still serves.
    let same = started(config_with(&db, data_dir.path(), &["127.0.0.2"])).await;
    assert_eq!(health_via(&same, "127.0.0.2", &before[0]).await, Ok(200));
    same.stop().await.expect("stop");

    let refused = start(config_with(
        &db,
        data_dir.path(),
        &["127.0.0.2", "patch.example.test"],
    ))
    .await;
    let message = match refused {
        Ok(_) => panic!("an old data directory must not re-issue"),
        Err(error) => format!("{error:#}"),
    };
    for expected in [
        "does not name patch.example.test".to_string(),
        format!("remove {}", paths.dir.display()),
        "--ca-cert".to_string(),
    ] {
        assert!(message.contains(&expected), "{expected:?} not in {message}");
    }
    assert_eq!(
        [read(&paths.ca), read(&paths.cert), read(&paths.key)],
        before,
        "nothing may be replaced"
    );
    assert!(!paths.ca_key.exists());
}
