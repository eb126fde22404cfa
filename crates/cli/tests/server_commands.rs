//! The operator commands against a real `patchline server` on loopback TLS:
//! login and session file, declarative apply (diff, confirmation,
//! idempotence), nodes and compliance listings in every format, and a role
//! the server refuses.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use patchline_api::Client;
use patchline_api::checkin::{CheckinRequest, CheckinStatus, Inventory, NodeFacts};
use patchline_api::compliance::NodeComplianceRow;
use patchline_api::enrolment::{EnrolRequest, EnrolmentSecretCreated};
use patchline_api::nodes::NodeView;
use patchline_core::os::{OsFamily, OsInfo};
use patchline_core::package::{Classification, InstalledPackage, Update};
use support::{ADMIN_PASSWORD, TestServer, stderr, stdout, text, write};

const POLICY: &str = "\
# Production policy for Debian.
kind: Baseline
name: prod-debian
os-family: debian
approval-rules:
  - filters:
      classification: [security]
    approve-after-days: 0
    compliance-level: critical
---
kind: PatchGroup
name: web
baselines:
  debian: prod-debian
";

#[test]
fn login_stores_a_private_session_and_whoami_reads_it() {
    let server = TestServer::start();
    let cli = server.cli();
    // No session yet: a clear error, non-zero exit.
    let output = cli.run(&["whoami"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not logged in"),
        "{}",
        text(&output)
    );

    // A wrong password is refused and stores nothing.
    let args = [
        "login",
        "--server",
        &server.url,
        "--ca-cert",
        server.ca_cert.to_str().unwrap(),
        "-u",
        "admin",
        "--password-stdin",
    ];
    let output = cli.run_with_stdin(&args, "wrong\n");
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        stderr(&output).contains("cannot log in"),
        "{}",
        text(&output)
    );
    assert!(!cli.credentials_path().exists());

    let output = cli.run_with_stdin(&args, &format!("{ADMIN_PASSWORD}\n"));
    assert!(output.status.success(), "{}", text(&output));
    let mode = std::fs::metadata(cli.credentials_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cli.credentials_path()).unwrap()).unwrap();
    assert_eq!(stored["server"], server.url.as_str());
    assert!(
        stored["token"].as_str().unwrap().starts_with("plo_"),
        "{stored}"
    );
    assert!(stored["expires_at"].is_string(), "{stored}");

    let me = cli.ok(&["whoami"]);
    assert!(me.starts_with("admin (admin)"), "{me}");
    let me: serde_json::Value = serde_json::from_str(&cli.ok(&["whoami", "--json"])).unwrap();
    assert_eq!(me["role"], "admin");

    assert!(cli.ok(&["logout"]).contains("Logged out"));
    assert!(!cli.credentials_path().exists());
    assert!(!cli.run(&["whoami"]).status.success());
}

#[test]
fn a_server_serves_the_operators_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let openssl = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian package openssl) runs");
    assert!(openssl.status.success(), "{}", text(&openssl));
    let server = TestServer::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(
        server.ca_cert, cert,
        "clients are told to trust the given chain"
    );
    assert!(
        !server.data_dir.path().join("tls").exists(),
        "nothing generated"
    );
    let admin = server.admin();
    assert!(admin.ok(&["whoami"]).starts_with("admin (admin)"));

    // Without the certificate the client says what to pass.
    let output = server.cli().run_with_stdin(
        &[
            "login",
            "--server",
            &server.url,
            "-u",
            "admin",
            "--password-stdin",
        ],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--ca-cert"), "{}", text(&output));
}

#[test]
fn apply_shows_a_diff_asks_first_and_is_idempotent() {
    let server = TestServer::start();
    let admin = server.admin();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "policy.yaml", POLICY);
    let file = file.to_str().unwrap();

    // Dry run: the diff of two new objects, nothing stored.
    let plan = admin.ok(&["apply", "-f", file, "--dry-run"]);
    assert!(plan.contains("baseline/prod-debian: create"), "{plan}");
    assert!(plan.contains("patch-group/web: create"), "{plan}");
    assert!(plan.contains("+name: prod-debian"), "{plan}");
    assert!(plan.contains("+  debian: prod-debian"), "{plan}");
    assert!(
        plan.contains("2 to create, 0 to update, 0 unchanged"),
        "{plan}"
    );
    assert!(!admin.ok(&["baselines", "list"]).contains("prod-debian"));

    // Standard input is not a terminal: --yes is required.
    let output = admin.run(&["apply", "-f", file]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--yes"), "{}", text(&output));

    let applied = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(
        applied.contains("baseline/prod-debian: created (version 1"),
        "{applied}"
    );
    assert!(applied.contains("patch-group/web: created"), "{applied}");
    let audit_after_first = admin.ok(&["audit", "--json"]);

    // The second apply finds nothing to do and changes nothing.
    let again = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(again.contains("baseline/prod-debian: unchanged"), "{again}");
    assert!(again.contains("patch-group/web: unchanged"), "{again}");
    assert!(again.contains("Nothing to apply."), "{again}");
    assert_eq!(admin.ok(&["audit", "--json"]), audit_after_first);

    // A change shows as a minimal diff and makes version 2.
    let changed = POLICY.replace("approve-after-days: 0", "approve-after-days: 3");
    write(dir.path(), "policy.yaml", &changed);
    let plan = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(plan.contains("baseline/prod-debian: update"), "{plan}");
    assert!(plan.contains("-  approve-after-days: 0"), "{plan}");
    assert!(plan.contains("+  approve-after-days: 3"), "{plan}");
    assert!(plan.contains("version 2"), "{plan}");

    let versions = admin.ok(&["baselines", "versions", "prod-debian", "--format", "csv"]);
    assert_eq!(versions.lines().count(), 3, "{versions}");
    let shown = admin.ok(&["baselines", "show", "prod-debian"]);
    assert!(
        shown.contains("approve-after-days: 3") && shown.contains("# version 2"),
        "{shown}"
    );
    let groups = admin.ok(&["groups", "list"]);
    assert!(
        groups.contains("web") && groups.contains("debian=prod-debian"),
        "{groups}"
    );
    assert!(
        admin
            .ok(&["groups", "show", "web"])
            .contains("kind: PatchGroup")
    );

    // A patch group naming a missing baseline: the server's reason, exit != 0.
    let broken = write(
        dir.path(),
        "broken.yaml",
        "kind: PatchGroup\nname: db\nbaselines:\n  debian: no-such-baseline\n",
    );
    let output = admin.run(&["apply", "-f", broken.to_str().unwrap(), "--yes"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot apply patch-group/db"),
        "{}",
        text(&output)
    );
}

#[test]
fn an_auditor_reads_but_cannot_apply() {
    let server = TestServer::start();
    let admin = server.admin();
    let auditor = server.user(&admin, "audrey", &["--role", "auditor"], "audit-pass-1");
    assert!(admin.ok(&["users", "list"]).contains("audrey"));
    assert!(auditor.ok(&["whoami"]).starts_with("audrey (auditor)"));
    assert!(auditor.ok(&["baselines", "list"]).contains("debian"));
    assert!(auditor.ok(&["audit"]).contains("user.create"));

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "policy.yaml", POLICY);
    let output = auditor.run(&["apply", "-f", file.to_str().unwrap(), "--yes"]);
    assert!(!output.status.success(), "{}", text(&output));
    let message = stderr(&output);
    assert!(
        message.contains("cannot apply baseline/prod-debian")
            && message.contains("permission denied")
            && message.contains("role auditor"),
        "{}",
        text(&output)
    );
    assert!(!admin.ok(&["baselines", "list"]).contains("prod-debian"));
    // Nor create secrets.
    let output = auditor.run(&["enrolment", "create", "x"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("permission denied"),
        "{}",
        text(&output)
    );
}

fn debian_inventory() -> Inventory {
    let installed = |name: &str, version: &str| InstalledPackage {
        name: name.into(),
        arch: "amd64".into(),
        version: version.into(),
        source: None,
    };
    Inventory {
        os: OsInfo {
            family: OsFamily::Debian,
            id: "debian".into(),
            version_id: "12".into(),
            product: "Debian12".into(),
        },
        installed: vec![
            installed("bash", "5.2.15-2"),
            installed("openssl", "3.0.1-1"),
        ],
        updates: vec![Update {
            name: "openssl".into(),
            arch: "amd64".into(),
            version: "3.0.2-1".into(),
            classification: Classification::Security,
            severity: Default::default(),
            release_date: "2026-01-10".parse().unwrap(),
            advisory_id: Some("DSA-9999-1".into()),
            cves: vec![],
            repository: Some("bookworm-security".into()),
            priority: None,
            section: None,
            reboot_suggested: false,
        }],
        failed: vec![],
        pending_reboot: vec![],
    }
}

/// Enrols a node with `secret` and checks in one inventory, as an agent does.
fn enrol_node(server: &TestServer, secret: &str, hostname: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pem = std::fs::read(&server.ca_cert).unwrap();
        let client = Client::builder(&server.url)
            .ca_certificate_pem(&pem)
            .build()
            .unwrap();
        let inventory = debian_inventory();
        let facts = NodeFacts {
            hostname: hostname.into(),
            os: inventory.os.clone(),
            arch: "amd64".into(),
            kernel: None,
            reboot_required: false,
            agent_version: "test".into(),
            addresses: Vec::new(),
        };
        let enrolled = client
            .enrol(&EnrolRequest {
                secret: secret.into(),
                facts: facts.clone(),
                tags: BTreeMap::new(),
            })
            .await
            .unwrap();
        let node = client.with_bearer(enrolled.credential);
        let mut request = CheckinRequest {
            facts,
            tags: BTreeMap::new(),
            scanned_at: jiff::Timestamp::now(),
            inventory_hash: inventory.content_hash(),
            inventory: None,
            results: vec![],
        };
        let first = node.checkin(&request).await.unwrap();
        if first.status == CheckinStatus::InventoryRequired {
            request.inventory = Some(inventory);
            let second = node.checkin(&request).await.unwrap();
            assert_eq!(second.status, CheckinStatus::Accepted);
        }
        enrolled.node_id
    })
}

#[test]
fn nodes_and_compliance_print_as_tables_json_and_csv() {
    let server = TestServer::start();
    let admin = server.admin();
    let created: EnrolmentSecretCreated = serde_json::from_str(&admin.ok(&[
        "enrolment",
        "create",
        "fleet",
        "--max-uses",
        "5",
        "--tag",
        "Environment=prod",
        "--json",
    ]))
    .unwrap();
    assert!(created.secret.starts_with("ple_"));
    let listed = admin.ok(&["enrolment", "list"]);
    assert!(
        listed.contains("fleet") && listed.contains("Environment=prod"),
        "{listed}"
    );

    let web = enrol_node(&server, &created.secret, "web-1");
    let db = enrol_node(&server, &created.secret, "db-1");

    let table = admin.ok(&["nodes", "list"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("HOSTNAME"),
        "{table}"
    );
    assert!(table.contains("web-1") && table.contains("db-1"), "{table}");
    assert!(table.contains("debian 12"), "{table}");
    assert!(
        !table.contains('\u{1b}'),
        "no colours into a pipe: {table:?}"
    );

    let nodes: Vec<NodeView> =
        serde_json::from_str(&admin.ok(&["nodes", "list", "--json"])).unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(
        nodes
            .iter()
            .all(|node| node.tags.get("Environment").map(String::as_str) == Some("prod"))
    );

    // Tagging, and listing by tag.
    let tagged = admin.ok(&["nodes", "tag", &web, "Patch Group=web", "Zone=eu"]);
    assert!(
        tagged.contains("Patch Group=web") && tagged.contains("Zone=eu"),
        "{tagged}"
    );
    let only_web = admin.ok(&["nodes", "list", "--tag", "Zone=eu", "--format", "csv"]);
    assert_eq!(only_web.lines().count(), 2, "{only_web}");
    assert!(
        only_web.contains(&web) && !only_web.contains(&db),
        "{only_web}"
    );
    let removed = admin.ok(&["nodes", "tag", &web, "--remove", "Zone"]);
    assert!(!removed.contains("Zone"), "{removed}");
    let shown = admin.ok(&["nodes", "show", &db]);
    assert!(
        shown.contains("db-1") && shown.contains("Environment=prod"),
        "{shown}"
    );

    // Compliance: every node evaluated against the Debian default baseline.
    let rows: Vec<NodeComplianceRow> =
        serde_json::from_str(&admin.ok(&["compliance", "nodes", "--json"])).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.compliance.is_some()), "{rows:?}");
    let table = admin.ok(&["compliance", "nodes"]);
    assert!(table.lines().next().unwrap().starts_with("NODE"), "{table}");
    assert!(
        table.contains("web-1") && table.contains("compliant"),
        "{table}"
    );
    let csv = admin.ok(&["compliance", "nodes", "--format", "csv"]);
    assert!(csv.lines().count() >= 3, "{csv}");
    assert!(csv.contains("web-1") && csv.contains(','), "{csv}");

    let non_compliant: Vec<NodeComplianceRow> = serde_json::from_str(&admin.ok(&[
        "compliance",
        "nodes",
        "--status",
        "non-compliant",
        "--json",
    ]))
    .unwrap();
    let compliant: Vec<NodeComplianceRow> = serde_json::from_str(&admin.ok(&[
        "compliance",
        "nodes",
        "--status",
        "compliant",
        "--json",
    ]))
    .unwrap();
    assert_eq!(non_compliant.len() + compliant.len(), 2);
    assert!(
        non_compliant
            .iter()
            .all(|row| row.compliance.as_ref().map(|c| c.status)
                == Some(patchline_core::compliance::ComplianceStatus::NonCompliant))
    );
    let unreported = admin.ok(&["compliance", "nodes", "--status", "unreported", "--json"]);
    assert_eq!(unreported.trim(), "[]");

    let summary = admin.ok(&["compliance", "summary", "--by", "environment"]);
    assert!(summary.starts_with("ENVIRONMENT"), "{summary}");
    assert!(
        summary.lines().any(|line| line.starts_with("prod")),
        "{summary}"
    );
    let summary_json: serde_json::Value =
        serde_json::from_str(&admin.ok(&["compliance", "summary", "--by", "os-family", "--json"]))
            .unwrap();
    assert_eq!(summary_json[0]["nodes"], 2, "{summary_json}");

    let detail = admin.ok(&["compliance", "node", &web]);
    assert!(
        detail.contains("web-1") && detail.contains("openssl"),
        "{detail}"
    );
    let patches = admin.ok(&["compliance", "patches", "--json"]);
    assert!(
        serde_json::from_str::<serde_json::Value>(&patches).is_ok(),
        "{patches}"
    );
    let history = admin.ok(&["compliance", "history", "--days", "7", "--format", "csv"]);
    assert!(!history.is_empty());

    // Revoking the secret is listed.
    admin.ok(&["enrolment", "revoke", &created.id]);
    assert!(admin.ok(&["enrolment", "list"]).contains("revoked"));
    // Tokens: created once, listed, revoked.
    let token = admin.ok(&["tokens", "create", "ci", "--role", "security-ops"]);
    assert!(token.contains("plo_"), "{token}");
    let tokens = admin.ok(&["tokens", "list", "--json"]);
    let tokens: serde_json::Value = serde_json::from_str(&tokens).unwrap();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "ci")
        .and_then(|token| token["id"].as_str())
        .unwrap()
        .to_string();
    // Automation uses the token from the environment, without logging in.
    let token = token
        .lines()
        .find_map(|line| line.strip_prefix("Token (shown only now): "))
        .unwrap()
        .to_string();
    let robot = server.cli();
    let with_token = |cli: &support::Cli, args: &[&str]| {
        cli.command()
            .args(args)
            .env("PATCHLINE_TOKEN", &token)
            .env("PATCHLINE_SERVER", &server.url)
            .env("PATCHLINE_CA_CERT", &server.ca_cert)
            .output()
            .unwrap()
    };
    let listed = with_token(&robot, &["baselines", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let me = with_token(&robot, &["whoami"]);
    assert!(stdout(&me).contains("(security-ops)"), "{}", text(&me));
    let refused = with_token(&robot, &["enrolment", "create", "x"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("permission denied for this token's role"),
        "{}",
        text(&refused)
    );
    admin.ok(&["tokens", "revoke", &id]);
    let revoked = with_token(&robot, &["baselines", "list"]);
    assert!(!revoked.status.success());
    assert!(
        stderr(&revoked).contains("does not accept this token"),
        "{}",
        text(&revoked)
    );
    assert!(admin.ok(&["tokens", "list"]).contains("revoked"));
    assert!(stdout(&admin.run(&["audit", "--after", "0"])).contains("node.tags"));
}

#[test]
fn an_app_team_operator_sees_and_tags_only_its_scope() {
    let server = TestServer::start();
    let admin = server.admin();
    let secret = |name: &str, tag: &str| -> String {
        let created: EnrolmentSecretCreated =
            serde_json::from_str(&admin.ok(&["enrolment", "create", name, "--tag", tag, "--json"]))
                .unwrap();
        created.secret
    };
    let payments = enrol_node(
        &server,
        &secret("payments", "Application=payments"),
        "pay-1",
    );
    let _search = enrol_node(&server, &secret("search", "Application=search"), "search-1");
    let team = server.user(
        &admin,
        "pat",
        &["--role", "app-team", "--scope", "Application=payments"],
        "pay-team-pass",
    );
    let users = admin.ok(&["users", "list"]);
    assert!(users.contains("Application=payments"), "{users}");

    assert!(
        team.ok(&["whoami"])
            .starts_with("pat (app-team, scope Application=payments)")
    );
    let nodes: Vec<NodeView> =
        serde_json::from_str(&team.ok(&["nodes", "list", "--json"])).unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].id, payments);
    let rows = team.ok(&["compliance", "nodes", "--format", "csv"]);
    assert!(
        rows.contains("pay-1") && !rows.contains("search-1"),
        "{rows}"
    );

    // Its own nodes' tags, yes; its scope key, no.
    team.ok(&["nodes", "tag", &payments, "Environment=prod"]);
    let output = team.run(&["nodes", "tag", &payments, "Application=search"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        stderr(&output).contains("permission denied") && stderr(&output).contains("app-team"),
        "{}",
        text(&output)
    );
}

/// Runs `patchline ARGS` on a pseudo-terminal (util-linux `script`), typing
/// `input`; returns whether it succeeded and what the terminal showed.
fn on_a_terminal(cli: &support::Cli, args: &str, input: &str) -> (bool, String) {
    let command = format!("{} {args}", support::binary());
    let mut child = cli
        .command_for("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    (output.status.success(), stdout(&output))
}

#[test]
fn on_a_terminal_login_prompts_and_apply_asks_first() {
    let server = TestServer::start();
    let cli = server.cli();
    let (logged_in, shown) = on_a_terminal(
        &cli,
        &format!(
            "login --server {} --ca-cert {} -u admin",
            server.url,
            server.ca_cert.display()
        ),
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(logged_in, "{shown}");
    assert!(shown.contains("Password for admin:"), "{shown}");
    assert!(shown.contains("Logged in"), "{shown}");

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "policy.yaml", POLICY);
    let apply = format!("apply -f {}", file.display());
    let (applied, declined) = on_a_terminal(&cli, &apply, "n\n");
    assert!(!applied, "declining exits non-zero: {declined}");
    assert!(declined.contains("Apply 2 change(s)? [y/N]"), "{declined}");
    assert!(declined.contains("Nothing applied."), "{declined}");
    assert!(
        declined.contains("\u{1b}[32m+name: prod-debian"),
        "coloured diff: {declined:?}"
    );
    assert!(!cli.ok(&["baselines", "list"]).contains("prod-debian"));

    let (applied, accepted) = on_a_terminal(&cli, &apply, "y\n");
    assert!(applied, "{accepted}");
    assert!(
        accepted.contains("baseline/prod-debian: created"),
        "{accepted}"
    );
    assert!(cli.ok(&["baselines", "list"]).contains("prod-debian"));
}
