//! Test databases for both store backends: a fresh SQLite file in a temporary
//! directory, or a fresh PostgreSQL database `patchline_test_<random>` on the
//! server at `PATCHLINE_TEST_PG_URL` (default: the local unix socket as user
//! postgres), dropped again when the [`TestDb`] is.
//!
//! PostgreSQL is never skipped: when it cannot be reached the test fails and
//! says how to start it.
//!
//! [`both_backends!`] turns one async test body into one test per backend.
#![allow(dead_code)]

use patchline_server::store::{Backend, Store};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The PostgreSQL server tests create their databases on, unless
/// `PATCHLINE_TEST_PG_URL` says otherwise.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres";

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// One empty database, removed on drop.
pub struct TestDb {
    pub backend: Backend,
    /// What `Store::connect` (or the server's configuration) takes.
    pub url: String,
    sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<PostgresDatabase>,
}

/// A database created on the PostgreSQL server, to drop afterwards.
struct PostgresDatabase {
    admin_url: String,
    name: String,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// A new SQLite file in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a temporary directory: {error}"),
        };
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("patchline.db").display()
        );
        TestDb {
            backend: Backend::Sqlite,
            url,
            sqlite_dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database on the test PostgreSQL server.
    pub async fn postgres() -> TestDb {
        let admin_url =
            std::env::var("PATCHLINE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => panic!(
                "PostgreSQL is not reachable at {admin_url}: {error}\n\
                 The store tests run on PostgreSQL as well as SQLite. Start it with \
                 `pg_ctlcluster 15 main start` (scripts/test does, and lets the test user \
                 connect as postgres), or point PATCHLINE_TEST_PG_URL at another server."
            ),
        };
        let name = format!("patchline_test_{}", uuid::Uuid::new_v4().simple());
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
        {
            panic!("cannot create test database {name} at {admin_url}: {error}");
        }
        let _ = admin.close().await;
        TestDb {
            backend: Backend::Postgres,
            url: with_database(&admin_url, &name),
            sqlite_dir: None,
            postgres: Some(PostgresDatabase { admin_url, name }),
        }
    }

    /// Connects a store (running every migration).
    pub async fn store(&self) -> Store {
        match Store::connect(&self.url).await {
            Ok(store) => store,
            Err(error) => panic!("cannot open the {:?} store: {error}", self.backend),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(database) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on async
        // work; a short-lived thread with its own runtime can.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&database.admin_url).await {
                    let statement =
                        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database.name);
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// `url` with its database (the path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let authority_start = url.find("://").map_or(0, |index| index + 3);
    let (before_query, query) = match url.find('?') {
        Some(index) => url.split_at(index),
        None => (url, ""),
    };
    let base = match before_query[authority_start..].find('/') {
        Some(index) => &before_query[..authority_start + index],
        None => before_query,
    };
    format!("{base}/{name}{query}")
}

/// One test per backend from one async body taking a [`TestDb`] (which
/// must be in scope where the macro is invoked):
/// `both_backends!(creates_users);` expects `async fn creates_users(db:
/// TestDb)` and makes `creates_users::sqlite` and `creates_users::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test]
                async fn sqlite() {
                    super::$case(super::TestDb::sqlite().await).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$case(super::TestDb::postgres().await).await
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database(
                "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres",
                "t1"
            ),
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/x?sslmode=disable", "t2"),
            "postgres://u:p@db:5432/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@db", "t3"), "postgres://u@db/t3");
    }
}
