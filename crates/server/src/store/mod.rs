//! The store: every persistent record of the control plane, behind one code
//! path for SQLite (the embedded default) and PostgreSQL (for scale).
//!
//! Queries go through sqlx's `Any` driver with portable SQL only: `$1, $2`
//! placeholders (SQLite reads them as numbered parameters), TEXT and BIGINT
//! columns (timestamps as unix milliseconds, booleans as 0/1, JSON documents
//! as TEXT). The migrations of both backends carry the same numbers and
//! differ only in auto-increment DDL. Each area of the store is a module
//! adding methods to [`Store`]; every change of policy, credentials, users or
//! tags writes its audit row in the same transaction as the change.

pub mod audit;
mod baselines;
pub mod compliance;
mod enrolment;
pub mod executions;
pub mod fleet_view;
pub mod governance;
mod inventories;
mod nodes;
mod operators;
mod patch_groups;
pub mod records;
mod revocation;
pub mod windows;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub(crate) use audit::audit_in;

/// The embedded migrations of each backend (`migrations/{sqlite,postgres}`).
/// STORE numbers 0001–0099, COMPLIANCE 0100–0199, windows, governance and
/// the orchestrator 0200–0299; a committed migration is never edited, a
/// change is a new file in both folders.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Settings of every pooled SQLite connection: WAL lets readers run beside
/// the one writer; NORMAL sync is durable at checkpoints and safe with WAL;
/// the busy timeout makes concurrent writers wait instead of failing.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON;";

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection URL names (`sqlite:…`, `postgres://…`).
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Invalid {
                reason: "database URL must start with sqlite: or postgres://".into(),
            })
        }
    }

    /// The embedded migrations of this backend.
    pub fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("conflict: {what}")]
    Conflict { what: String },
    #[error("invalid: {reason}")]
    Invalid { reason: String },
    /// A revoked, expired, used-up or unknown enrolment secret.
    #[error("enrolment refused: {reason}")]
    EnrolmentRefused { reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value that no longer decodes (JSON, enum text, timestamp).
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The handle to the database: cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers queue here (async, in
    /// order) rather than in SQLite's busy handler, which sleeps and
    /// retries: under many concurrent check-ins that polling made single
    /// writes wait close to a second. Unused on PostgreSQL.
    sqlite_writer: Arc<Mutex<()>>,
}

/// A transaction that writes ([`Store::begin_write`]); derefs to its
/// connection, so it is passed wherever a `&mut AnyConnection` is taken.
/// Dropping it without [`WriteTransaction::commit`] rolls back.
pub(crate) struct WriteTransaction {
    transaction: Transaction<'static, Any>,
    /// Released after the commit (fields drop in order).
    _sqlite_writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub(crate) async fn commit(self) -> Result<()> {
        self.transaction.commit().await?;
        Ok(())
    }
}

impl Deref for WriteTransaction {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.transaction
    }
}

impl DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }
}

impl Store {
    /// Connects, applies pending migrations and seeds what an empty database
    /// needs (one default baseline per OS family).
    pub async fn connect(url: &str) -> Result<Store> {
        let store = Store::connect_without_migrating(url).await?;
        store.backend.migrator().run(&store.pool).await?;
        store.seed_default_baselines().await?;
        Ok(store)
    }

    /// Connects without touching the schema (tests drive migrations by hand
    /// through [`Backend::migrator`]).
    pub async fn connect_without_migrating(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut options = AnyPoolOptions::new();
        if backend == Backend::Sqlite {
            options = options.after_connect(|connection: &mut AnyConnection, _| {
                Box::pin(async move {
                    sqlx::raw_sql(SQLITE_PRAGMAS).execute(connection).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        Ok(Store {
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The in-process SQLite writer lock, for a single write statement run
    /// outside [`Store::begin_write`]; `None` on PostgreSQL.
    pub(crate) async fn sqlite_write_lock(&self) -> Option<OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.sqlite_writer).lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// What ends a SELECT that locks the rows it reads until the
    /// transaction ends: ` FOR UPDATE` on PostgreSQL, nothing on SQLite
    /// (whose write transactions hold the whole database already). Changes
    /// of one record then wait for each other instead of colliding.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first and writes later fails with SQLITE_BUSY instead of waiting when
    /// another writer got in between. Writers of this process also queue
    /// on one in-process lock first (`sqlite_writer`).
    pub(crate) async fn begin_write(&self) -> Result<WriteTransaction> {
        let writer = self.sqlite_write_lock().await;
        let transaction = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTransaction {
            transaction,
            _sqlite_writer: writer,
        })
    }
}

/// Unix milliseconds, the stored form of every timestamp.
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// The timestamp of stored unix milliseconds.
pub(crate) fn timestamp(millis: i64, what: &str) -> Result<Timestamp> {
    Timestamp::from_millisecond(millis).map_err(|error| StoreError::Corrupt {
        what: what.to_owned(),
        reason: error.to_string(),
    })
}

pub(crate) fn optional_timestamp(millis: Option<i64>, what: &str) -> Result<Option<Timestamp>> {
    millis.map(|millis| timestamp(millis, what)).transpose()
}

/// The JSON text of a value about to be stored.
pub(crate) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|error| StoreError::Invalid {
        reason: format!("{what} does not serialise: {error}"),
    })
}

/// A value from stored JSON text.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        what: what.to_owned(),
        reason: error.to_string(),
    })
}

/// An enum stored as its text form (`Role`, `OsFamily`, `TokenKind`).
pub(crate) fn parse_text<T: FromStr>(text: &str, what: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|error: T::Err| StoreError::Corrupt {
        what: what.to_owned(),
        reason: error.to_string(),
    })
}

/// Turns a unique-constraint violation into [`StoreError::Conflict`] naming
/// `what`; every other error stays a database error.
pub(crate) fn conflict_on_unique(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Conflict { what: what() }
        }
        _ => StoreError::Database(error),
    }
}

/// How often a write that lost a race is tried again.
const RACE_RETRIES: usize = 3;

/// Runs `attempt` again when it failed on a unique constraint, which only
/// a concurrent writer creating the same record can cause (PostgreSQL
/// cannot lock a row that does not exist yet; each attempt is a whole
/// transaction, rolled back). After [`RACE_RETRIES`] the race is a
/// `Conflict` naming `what`.
pub(crate) async fn retry_races<T, Attempt>(
    what: impl Fn() -> String,
    mut attempt: impl FnMut() -> Attempt,
) -> Result<T>
where
    Attempt: Future<Output = Result<T>>,
{
    for _ in 0..RACE_RETRIES {
        match attempt().await {
            Err(StoreError::Database(sqlx::Error::Database(error)))
                if error.is_unique_violation() => {}
            other => return other,
        }
    }
    Err(StoreError::Conflict {
        what: format!("{} kept changing concurrently; retry", what()),
    })
}

/// A 0/1 column as a bool.
pub(crate) fn flag(value: i64) -> bool {
    value != 0
}

/// A bool as a 0/1 column (the `Any` driver maps SQL booleans differently
/// per backend, so none are stored).
pub(crate) fn flag_value(value: bool) -> i64 {
    i64::from(value)
}
