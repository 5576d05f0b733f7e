//! Opening the database: the data directory, SQLite settings, and migrations that two
//! processes starting at once cannot trip over.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;
use crate::secrets::{SecretError, SecretStore, SecretStoreKind, create_private_dir};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "switchboard.db";
const OPEN_LOCK_FILE: &str = "switchboard.db.lock";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Handle to the database and the secret store. Cheap to clone; every clone shares one pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) db_path: Arc<PathBuf>,
    pub(crate) prices: Arc<crate::prices::PriceCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db_path", &self.db_path)
            .field("secrets", &self.secrets.kind())
            .finish_non_exhaustive()
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
        match migrated {
            Ok(()) => {}
            Err(MigrateError::VersionMissing(version)) => {
                pool.close().await;
                return Err(StoreError::DatabaseNewer {
                    path: db_path,
                    version,
                });
            }
            Err(source) => {
                pool.close().await;
                return Err(StoreError::Migrate {
                    path: db_path,
                    source,
                });
            }
        }
        if secrets.kind() == SecretStoreKind::MemoryForTests {
            tracing::warn!("secrets are kept in memory only (test store): they will not persist");
        }
        tracing::debug!(path = %db_path.display(), secrets = secrets.kind().as_str(), "store opened");
        Ok(Store {
            pool,
            secrets,
            db_path: Arc::new(db_path),
            prices: Arc::default(),
        })
    }

    /// The database file's path.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The secret backend in use.
    pub fn secret_store_kind(&self) -> SecretStoreKind {
        self.secrets.kind()
    }

    /// The secret backend itself (for migrating secrets between backends).
    pub fn secret_store(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    /// The connection pool, for callers that need a raw query (diagnostics, tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when SQLite answers `ok`.
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("checking integrity"))?;
        if rows.len() == 1 && rows[0].0 == "ok" {
            Ok(())
        } else {
            Err(StoreError::invalid(
                self.db_path.display().to_string(),
                format!(
                    "integrity check failed: {}",
                    rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; ")
                ),
            ))
        }
    }

    /// Closes the pool, checkpointing the WAL. Clones of this store stop working.
    pub async fn close(&self) {
        self.pool.close().await;
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
