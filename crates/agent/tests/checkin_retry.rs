//! Server mode when the server cannot be reached: the looping agent keeps
//! retrying with backoff (it neither exits nor stores anything), and stops
//! cleanly when asked to; once mode fails at once with the transport error.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use patchline_agent::checkin::{self, AgentConfig, AgentError, EnrolSecret, RetryPolicy};

const CA_PEM: &str = include_str!("data/self-signed.pem");

/// A Debian 12 root with one installed package and no apt lists.
fn debian_root(dir: &Path) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
    fs::create_dir_all(dir.join("var/lib/apt/lists")).unwrap();
    fs::write(dir.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
    fs::write(
        dir.join("var/lib/dpkg/status"),
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\n",
    )
    .unwrap();
}

/// Accepts TCP connections and drops them at once (no TLS, no HTTP): every
/// request the agent makes is a transport failure. Counts connections.
fn dropping_listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (format!("https://{address}"), accepted)
}

fn config(server: &str, dir: &Path) -> AgentConfig {
    let root = dir.join("node");
    debian_root(&root);
    let mut config = AgentConfig::new(server, CA_PEM.as_bytes().to_vec(), dir.join("state"));
    config.root = root;
    config.enrol_secret = Some(EnrolSecret::new("ple_unused"));
    config.retry = RetryPolicy {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(40),
    };
    config
}

#[test]
fn the_looping_agent_retries_an_unreachable_server_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, accepted) = dropping_listener();
    let config = config(&server, dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stop_after_retries = {
        let accepted = Arc::clone(&accepted);
        async move {
            while accepted.load(Ordering::SeqCst) < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let result = runtime.block_on(async {
        // Bounded only so that a hang fails instead of blocking the run.
        tokio::time::timeout(
            Duration::from_secs(300),
            checkin::run_until(config, stop_after_retries),
        )
        .await
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("the agent gave up instead of retrying: {error}"),
        Err(_) => panic!("the agent never reconnected"),
    }
    assert!(accepted.load(Ordering::SeqCst) >= 4);
    assert!(
        !dir.path().join("state/credential.json").exists(),
        "nothing stored without an enrolment"
    );
}

#[test]
fn once_mode_reports_the_transport_error() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _accepted) = dropping_listener();
    let config = config(&server, dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime.block_on(checkin::run_once(config)).unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(matches!(error, AgentError::Client(_)), "{error}");
    assert!(error.to_string().contains("/api/v1/agent/enrol"), "{error}");
}
