//! Team mode's degradation: whether the shared database answers. A watcher
//! (`Control::run_database_watch`) pings it and records the answer here; the admin API refuses
//! edits while it is unreachable, the batched writers hold their rows until it is back, and
//! background loops log failures that only repeat a known outage at debug level (the outage
//! itself is warned about once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::db::{Pool, Store, on_pool};
use crate::error::StoreError;

/// What an edit is answered with while the shared database is unreachable.
pub const DATABASE_UNREACHABLE: &str =
    "the shared database is unreachable; edits are refused until it is back (routing goes on)";

/// Whether the database answered when last asked. Shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub(crate) struct Reach {
    down: AtomicBool,
}

impl Store {
    /// Whether the database answered the last check (always, until a watcher says otherwise).
    pub fn reachable(&self) -> bool {
        !self.reach.down.load(Ordering::Relaxed)
    }

    /// Records the outcome of a check; returns whether it changed what [`Store::reachable`]
    /// says.
    pub fn mark_reachable(&self, up: bool) -> bool {
        self.reach.down.swap(!up, Ordering::Relaxed) == up
    }

    /// One round trip to the database, given up after `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let pool: &Pool = &self.pool;
        let asked = on_pool!(pool, |p| {
            tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(p))
                .await
                .map(|r| r.map(|_| ()))
        });
        match asked {
            Ok(r) => r.map_err(StoreError::db("checking that the database answers")),
            Err(_) => Err(StoreError::Db {
                action: "checking that the database answers",
                source: sqlx::Error::PoolTimedOut,
            }),
        }
    }

    /// Logs a failed background call (`what` failed): a warning, unless the failure is the
    /// database being unreachable, which the watcher reports once per outage.
    pub fn log_failure(&self, what: &'static str, e: &StoreError) {
        if e.is_unreachable() {
            tracing::debug!(error = %e, "{what} (the database is unreachable)");
        } else {
            tracing::warn!(error = %e, "{what}");
        }
    }
}

impl StoreError {
    /// Whether this is the database being out of reach (connection refused or lost, no
    /// connection within the pool's wait, the server shutting down or starting up) rather than
    /// a statement it refused: worth retrying the same thing later.
    pub fn is_unreachable(&self) -> bool {
        let source = match self {
            StoreError::Db { source, .. } => source,
            StoreError::Connect { cause, .. } => cause,
            _ => return false,
        };
        match source {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            // Class 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot
            // connect now (starting up).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unreachable_and_refusals_are_not() {
        let io = StoreError::Db {
            action: "x",
            source: sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        assert!(io.is_unreachable());
        let timed_out = StoreError::Db {
            action: "x",
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(timed_out.is_unreachable());
        let missing = StoreError::Db {
            action: "x",
            source: sqlx::Error::RowNotFound,
        };
        assert!(!missing.is_unreachable());
        assert!(!StoreError::not_found("route x").is_unreachable());
    }
}
