//! The store's errors. They name paths, tables, ids and fields — never a secret's value.

use std::path::PathBuf;

use crate::secrets::SecretError;

/// Everything the store can fail with. Messages are meant for users and logs: they say which
/// file or record and what went wrong, and carry ids rather than secret values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot lock {path} while opening the database: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },

    // The cause is part of the message (and deliberately not a `source`): these end `serve`
    // with one line saying which input is wrong and what to do.
    #[error(
        "{url} is not a valid database URL ({cause}); expected \
         postgres://user:password@host:port/database"
    )]
    BadUrl { url: String, cause: sqlx::Error },

    #[error(
        "cannot connect to the database server {url} ({cause}); check that it is running and \
         reachable and that the URL, user and password are right"
    )]
    Connect { url: String, cause: sqlx::Error },

    #[error("migrating database {database} failed: {source}")]
    Migrate {
        database: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error(
        "database {database} is newer than this build (it has migration {version}, which this \
         version of Switchboard does not know); upgrade Switchboard or use another database"
    )]
    DatabaseNewer { database: String, version: i64 },

    #[error("database error while {action}: {source}")]
    Db {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("stored {what} is not valid JSON: {source}")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{field}: {message}")]
    Invalid { field: String, message: String },

    #[error("{what} not found")]
    NotFound { what: String },

    #[error("{what} already exists")]
    Conflict { what: String },

    #[error("key {key_id}: environment variable {var} is not set")]
    EnvVarMissing { key_id: i64, var: String },

    #[error("key {key_id}: its secret ({secret_ref}) is missing from the {store} secret store")]
    SecretMissing {
        key_id: i64,
        secret_ref: String,
        store: &'static str,
    },

    #[error(transparent)]
    Secret(#[from] SecretError),

    #[error("capture of request {request_id}: {source}")]
    Sealed {
        request_id: String,
        #[source]
        source: crate::secrets::envelope::EnvelopeError,
    },

    #[error("background task failed: {0}")]
    Task(String),
}

impl StoreError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Db { action, source }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> StoreError {
        StoreError::NotFound { what: what.into() }
    }
}

impl From<switchboard_router::model::Invalid> for StoreError {
    fn from(e: switchboard_router::model::Invalid) -> Self {
        StoreError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}
