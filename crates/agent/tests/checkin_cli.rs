//! `patchline-agent run` refuses clearly, before talking to any server,
//! when its state or configuration cannot work: a corrupt credential file
//! (left untouched), a credential issued by another server, no enrolment
//! secret, a malformed tag.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn agent_run(state_dir: &Path, extra: &[&str]) -> Output {
    let ca = state_dir.parent().unwrap().join("ca.pem");
    fs::write(&ca, "not used before the state is read\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_patchline-agent"))
        .args(["run", "--server", "https://127.0.0.1:9", "--once"])
        .arg("--ca-cert")
        .arg(&ca)
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra)
        .env_remove("PATCHLINE_ENROL_SECRET")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_corrupt_credential_file_stops_the_agent_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let credential = state.join("credential.json");
    write_private(&credential, "{\"server\": trunc");
    let output = agent_run(&state, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("credential.json"), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    assert_eq!(
        fs::read_to_string(&credential).unwrap(),
        "{\"server\": trunc"
    );
}

#[test]
fn a_credential_of_another_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    write_private(
        &state.join("credential.json"),
        r#"{"server":"https://elsewhere:8443","node_id":"n1","credential":"pln_x"}"#,
    );
    let output = agent_run(&state, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("https://elsewhere:8443"), "{message}");
    assert!(
        !message.contains("pln_x"),
        "the credential is never shown: {message}"
    );
}

#[test]
fn without_credential_or_secret_the_agent_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ca = dir.path().join("ca.pem");
    // A real certificate is needed to get as far as enrolment.
    fs::write(&ca, include_str!("data/self-signed.pem")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_patchline-agent"))
        .args(["run", "--server", "https://127.0.0.1:9", "--once"])
        .arg("--ca-cert")
        .arg(&ca)
        .arg("--state-dir")
        .arg(&state)
        .env_remove("PATCHLINE_ENROL_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("PATCHLINE_ENROL_SECRET"), "{message}");
    assert!(!state.join("credential.json").exists());
}

#[test]
fn a_tag_without_equals_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let output = agent_run(&state, &["--tag", "Environment"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("KEY=VALUE"), "{}", stderr(&output));
}
