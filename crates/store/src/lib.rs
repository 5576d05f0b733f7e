//! Switchboard's persistence: the database (providers, keys, routes, settings, key health,
//! the request log) through sqlx with embedded migrations — a SQLite file by default, or a
//! PostgreSQL server shared by a team's instances, behind one API — and the secret stores
//! that hold API keys and the local credentials, and the named users who sign in to the
//! dashboard (password hashes and session digests only).
//!
//! The database never holds a secret: a key row refers to the secret store or to an
//! environment variable. Every SQL statement binds its inputs.
//!
//! Used by `switchboard-server`; the engine (`switchboard-router`) sees storage only through
//! the values it is handed and the request-log channel. This crate must never depend on axum,
//! the server, or tauri — it builds and tests headless.

mod captures;
mod clients;
mod config;
mod db;
mod error;
mod instances;
mod prices;
mod reach;
mod requests;
pub mod secrets;
mod sync;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod tokens;
mod users;
mod webhooks;
mod writer;

pub use captures::{CaptureInfo, CaptureKey, CaptureQueue};
pub use clients::{ClientKeyRow, ClientRow, ClientSettings, DEFAULT_CLIENT, NewClientKey};
pub use config::{HealthRow, KeyPatch, KeyProblem, KeySecret};
pub use db::{Backend, DB_FILE, Store, redact_url};
pub use error::StoreError;
pub use instances::InstanceRow;
pub use prices::PriceTableInfo;
pub use reach::DATABASE_UNREACHABLE;
pub use requests::{
    Bucket, CacheHits, GroupBy, KeyAttempts, MAX_PAGE, MAX_SUMMARY_WINDOW_MS, RequestFilter,
    RequestSummary, StatusFilter, UsageQuery, UsageRow,
};
#[cfg(any(test, feature = "test-util"))]
pub use secrets::MemorySecretStore;
pub use secrets::{
    EncryptedFileStore, MASTER_KEY_ENV, MasterKey, MigrateReport, SecretError, SecretStore,
    SecretStoreKind, default_key_file, default_key_file_for, migrate_secrets,
};
pub use switchboard_router::id::{
    new_instance_id, new_request_id, now_ms, request_id_at, request_id_time_ms,
};
pub use sync::{CONFIG_CHANNEL, ConfigListener, REQUESTS_CHANNEL, RequestListener, RequestNotice};
pub use tokens::LocalToken;
pub use users::{Role, SessionUser, UserRow, hash_password, session_digest, verify_password};
pub use webhooks::{WebhookRow, WebhookTarget};
pub use writer::{
    BATCH_ROWS, BATCH_WINDOW, BatchSink, DEFAULT_CAPACITY, RequestLogSink, RequestLogTask,
    RequestLogWriter, Rows, spawn_writer,
};
