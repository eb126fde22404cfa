//! `patchline server --database postgres://...`: the same commands against
//! the PostgreSQL store (a fresh database on the server named by
//! `PATCHLINE_TEST_PG_URL`, default the local cluster's unix socket as user
//! postgres; `scripts/test` starts it).

mod support;

use std::process::Command;

use support::{TestServer, text, write};

const DEFAULT_PG_URL: &str = "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres";

/// A database created for one test and dropped after it.
struct TestDatabase {
    admin_url: String,
    name: String,
}

impl TestDatabase {
    fn create() -> TestDatabase {
        let admin_url =
            std::env::var("PATCHLINE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
        let name = format!(
            "patchline_cli_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.subsec_nanos())
                .unwrap_or_default()
        );
        let database = TestDatabase { admin_url, name };
        database.psql(&format!("CREATE DATABASE {}", database.name));
        database
    }

    fn psql(&self, sql: &str) {
        let output = Command::new("psql")
            .arg(&self.admin_url)
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql runs (PostgreSQL client)");
        assert!(
            output.status.success(),
            "{sql}: {} (is PostgreSQL running? `pg_ctlcluster 15 main start`)",
            text(&output)
        );
    }

    /// The URL of this database: the admin URL with its last path segment
    /// replaced.
    fn url(&self) -> String {
        let (base, query) = match self.admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (self.admin_url.as_str(), String::new()),
        };
        let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
        format!("{prefix}/{}{query}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args([
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[test]
fn apply_and_listings_work_on_postgresql() {
    let database = TestDatabase::create();
    let url = database.url();
    let server = TestServer::start_with(&["--database", &url]);
    assert!(
        !server.data_dir.path().join("patchline.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    let admin = server.admin();
    assert!(admin.ok(&["whoami"]).starts_with("admin (admin)"));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "policy.yaml",
        "kind: Baseline\nname: pg-debian\nos-family: debian\n---\nkind: PatchGroup\nname: db\nbaselines:\n  debian: pg-debian\n",
    );
    let file = file.to_str().unwrap();
    let first = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(first.contains("baseline/pg-debian: created"), "{first}");
    let second = admin.ok(&["apply", "-f", file, "--yes"]);
    assert!(second.contains("Nothing to apply."), "{second}");
    let csv = admin.ok(&["baselines", "list", "--format", "csv"]);
    assert!(
        csv.lines()
            .any(|line| line.starts_with("pg-debian,debian,1,")),
        "{csv}"
    );
    drop(server);
}
