//! Opening the database — a SQLite file in the data directory (the default) or a PostgreSQL
//! server (team mode) — and migrations that two processes starting at once cannot trip over.
//!
//! Both backends answer the same SQL: statements use `$N` placeholders (which sqlx's SQLite
//! driver reads as positional too) and the portable subset of SQL, and each backend has its own
//! migration folder (`migrations` for SQLite, `migrations-pg` for PostgreSQL) creating the same
//! tables. A statement is written once and run through [`on_pool!`]/[`on_tx!`], which expand it
//! for each backend's pool; the rare statement that must differ picks its text by
//! [`Backend`].

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::error::StoreError;
use crate::secrets::{
    PgSecretStore, SecretError, SecretStore, SecretStoreKind, create_private_dir,
};
use switchboard_router::Secret;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "switchboard.db";
const OPEN_LOCK_FILE: &str = "switchboard.db.lock";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
static MIGRATOR_PG: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-pg");

/// Which database a [`Store`] keeps its rows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the data directory: one instance, no setup.
    Sqlite,
    /// A PostgreSQL server shared by every instance of a team.
    Postgres,
}

/// The connection pool of either backend.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A transaction on either backend.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// Runs `$body` with `$p` bound to the pool of whichever backend `$pool` (a `&Pool`) holds.
/// The body is compiled once per backend, so one statement's text serves both; its value
/// must have the same type on both (map a query result to `rows_affected()` or `()`).
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Like [`on_pool!`] for a `&mut Tx`: `$c` is the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Where the rows live, for messages: the file, or the server with its password left out.
#[derive(Debug)]
enum Location {
    File(PathBuf),
    Server(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Server(url) => f.write_str(url),
        }
    }
}

/// Handle to the database and the secret store. Cheap to clone; every clone shares one pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) secrets: Arc<dyn SecretStore>,
    location: Arc<Location>,
    pub(crate) prices: Arc<crate::prices::PriceCache>,
    pub(crate) reach: Arc<crate::reach::Reach>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .field("secrets", &self.secrets.kind())
            .finish_non_exhaustive()
    }
}

/// `url` without its password (`postgres://user:secret@host/db` → `postgres://user@host/db`),
/// for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

impl Store {
    /// Creates `data_dir` (0700) if needed, opens `switchboard.db` in it (WAL, 5 s busy
    /// timeout, foreign keys on, `synchronous = NORMAL`) and applies pending migrations.
    ///
    /// Opening and migrating are serialised across threads and processes by an exclusive lock
    /// on `switchboard.db.lock`, because switching a new database to WAL and creating tables
    /// are not safe to race.
    pub async fn open(data_dir: &Path, secrets: Arc<dyn SecretStore>) -> Result<Store, StoreError> {
        create_private_dir(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let db_path = data_dir.join(DB_FILE);
        let lock_path = data_dir.join(OPEN_LOCK_FILE);

        let lock = {
            let path = lock_path.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                let mut opts = OpenOptions::new();
                opts.read(true).write(true).create(true).truncate(false);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let f = opts.open(&path)?;
                f.lock()?;
                Ok(f)
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
            .map_err(|source| StoreError::Lock {
                path: lock_path.clone(),
                source,
            })?
        };

        precreate_private(&db_path).map_err(|source| StoreError::Open {
            path: db_path.clone(),
            source: sqlx::Error::Io(source),
        })?;

        let options = SqliteConnectOptions::new()
            .filename(&db_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: db_path.clone(),
                source,
            })?;

        let migrated = MIGRATOR.run(&pool).await;
        drop(lock);
        let location = Location::File(db_path);
        if let Err(e) = migrated {
            pool.close().await;
            return Err(migrate_error(&location, e));
        }
        Ok(Store::opened(Pool::Sqlite(pool), secrets, location))
    }

    /// Connects to the PostgreSQL server at `url` (`postgres://user:password@host:port/db`)
    /// and applies pending migrations (serialised across instances by the server's advisory
    /// lock), keeping secrets in `secrets`. Errors name the server without its password.
    pub async fn open_postgres(
        url: &str,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Store, StoreError> {
        let (pool, location) = connect_postgres(url).await?;
        Ok(Store::opened(Pool::Postgres(pool), secrets, location))
    }

    /// Team mode: [`Store::open_postgres`] with the secrets sealed in the database itself by
    /// `master_key` (`SWITCHBOARD_MASTER_KEY`, which every instance of the team shares). A key
    /// other than the one the database was sealed with is refused
    /// ([`SecretError::WrongTeamKey`]).
    pub async fn open_team(url: &str, master_key: &Secret) -> Result<Store, StoreError> {
        let (pool, location) = connect_postgres(url).await?;
        let database = location.to_string();
        let secrets = match PgSecretStore::open(pool.clone(), master_key, database).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                pool.close().await;
                return Err(e.into());
            }
        };
        Ok(Store::opened(Pool::Postgres(pool), secrets, location))
    }

    fn opened(pool: Pool, secrets: Arc<dyn SecretStore>, location: Location) -> Store {
        if secrets.kind() == SecretStoreKind::MemoryForTests {
            tracing::warn!("secrets are kept in memory only (test store): they will not persist");
        }
        let store = Store {
            pool,
            secrets,
            location: Arc::new(location),
            prices: Arc::default(),
            reach: Arc::default(),
        };
        tracing::debug!(database = %store.location(), secrets = store.secrets.kind().as_str(), "store opened");
        store
    }

    /// Which database the rows are in.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The database file's path (SQLite only).
    pub fn db_path(&self) -> Option<&Path> {
        match &*self.location {
            Location::File(p) => Some(p),
            Location::Server(_) => None,
        }
    }

    /// The database for messages: the file's path, or the server's URL without its password.
    pub fn location(&self) -> String {
        self.location.to_string()
    }

    /// The secret backend in use.
    pub fn secret_store_kind(&self) -> SecretStoreKind {
        self.secrets.kind()
    }

    /// The secret backend itself (for migrating secrets between backends).
    pub fn secret_store(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    /// The SQLite pool, for callers that need a raw query (diagnostics, tests).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool (team mode), for listening to notifications and raw queries.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// Runs `PRAGMA integrity_check` on SQLite (`Ok(())` when it answers `ok`); on PostgreSQL,
    /// which checks itself, a round trip to the server.
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        let rows: Vec<(String,)> = match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as("PRAGMA integrity_check").fetch_all(p).await,
            Pool::Postgres(p) => sqlx::query_as("SELECT 'ok'").fetch_all(p).await,
        }
        .map_err(StoreError::db("checking integrity"))?;
        if rows.len() == 1 && rows[0].0 == "ok" {
            Ok(())
        } else {
            Err(StoreError::invalid(
                self.location(),
                format!(
                    "integrity check failed: {}",
                    rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; ")
                ),
            ))
        }
    }

    /// Closes the pool, checkpointing the WAL. Clones of this store stop working.
    pub async fn close(&self) {
        on_pool!(&self.pool, |p| p.close().await)
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), waiting out the busy timeout for it: a deferred transaction that reads
    /// first and writes later cannot wait for the lock, and fails with "database is locked"
    /// when another connection writes in between.
    pub(crate) async fn begin(&self, action: &'static str) -> Result<Tx, StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => p.begin_with("BEGIN IMMEDIATE").await.map(Tx::Sqlite),
            Pool::Postgres(p) => p.begin().await.map(Tx::Postgres),
        }
        .map_err(StoreError::db(action))
    }

    /// Runs a secret-store call on a blocking thread (backends may touch the disk or an OS
    /// service).
    pub(crate) async fn with_secrets<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn SecretStore) -> Result<T, SecretError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let secrets = Arc::clone(&self.secrets);
        tokio::task::spawn_blocking(move || f(secrets.as_ref()))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
            .map_err(StoreError::from)
    }
}

async fn connect_postgres(url: &str) -> Result<(PgPool, Location), StoreError> {
    let shown = redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::BadUrl {
            url: shown,
            cause: sqlx::Error::Configuration(
                "only postgres:// URLs name a team database; leave it out for SQLite".into(),
            ),
        });
    }
    let options: PgConnectOptions = url.parse().map_err(|source| StoreError::BadUrl {
        url: shown.clone(),
        cause: source,
    })?;
    let pool = PgPoolOptions::new()
        // Two are held by the listeners (configuration changes, new requests); the other
        // eight serve queries.
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect {
            url: shown.clone(),
            cause: source,
        })?;
    let location = Location::Server(shown);
    if let Err(e) = MIGRATOR_PG.run(&pool).await {
        pool.close().await;
        return Err(migrate_error(&location, e));
    }
    Ok((pool, location))
}

fn migrate_error(location: &Location, e: MigrateError) -> StoreError {
    let database = location.to_string();
    match e {
        MigrateError::VersionMissing(version) => StoreError::DatabaseNewer { database, version },
        source => StoreError::Migrate { database, source },
    }
}

/// Creates the database file empty and 0600 if it does not exist, so SQLite (which copies the
/// main file's mode onto `-wal` and `-shm`) never makes it world-readable.
fn precreate_private(path: &Path) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop)
}
