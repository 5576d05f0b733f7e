//! Where secrets live: API keys, the local access key and the admin token.
//!
//! The database only ever holds a reference (an id into a [`SecretStore`], or `env:NAME`).
//! Backends: [`EncryptedFileStore`] (an XChaCha20-Poly1305 file keyed by a secret kept
//! elsewhere) and, with the `keychain` feature, [`keychain::KeychainStore`] (the OS keychain,
//! chosen at run time by [`keychain::open_preferred`]), and in team mode [`PgSecretStore`]
//! (sealed rows in the shared PostgreSQL database). The in-memory
//! store exists for tests only and says so through [`SecretStore::kind`].

pub mod envelope;
mod file;
#[cfg(feature = "keychain")]
pub mod keychain;
#[cfg(any(test, feature = "test-util"))]
mod memory;
mod postgres;

use std::path::PathBuf;

pub(crate) use file::create_private_dir;
pub use file::{
    EncryptedFileStore, MASTER_KEY_ENV, MasterKey, default_key_file, default_key_file_for,
};
#[cfg(any(test, feature = "test-util"))]
pub use memory::MemorySecretStore;
pub use postgres::PgSecretStore;
use switchboard_router::Secret;

/// Which backend holds the secrets; shown by `doctor` and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretStoreKind {
    /// The operating system's keychain (Keychain, Credential Manager, Secret Service).
    OsKeychain,
    /// `secrets.enc` in the data directory, keyed by a master key kept elsewhere.
    EncryptedFile,
    /// The team's PostgreSQL database, sealed with `SWITCHBOARD_MASTER_KEY` (team mode).
    Database,
    /// Process memory only: lost on exit. Tests only; never a production backend.
    MemoryForTests,
}

impl SecretStoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretStoreKind::OsKeychain => "os_keychain",
            SecretStoreKind::EncryptedFile => "encrypted_file",
            SecretStoreKind::Database => "database",
            SecretStoreKind::MemoryForTests => "memory_for_tests",
        }
    }
}

/// Errors from a secret backend. They name files and ids, never values.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret store file {path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "secrets file {path} cannot be decrypted with this master key{hint}",
        hint = hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    WrongMasterKey { path: PathBuf, hint: Option<String> },

    #[error(
        "the database {database} was sealed with another master key: set SWITCHBOARD_MASTER_KEY \
         to the key the team's other instances use"
    )]
    WrongTeamKey { database: String },

    #[error("secrets file {path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    #[error("master key: {0}")]
    MasterKey(String),

    #[error("{backend} is unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        /// A stable machine-readable code, e.g. `keychain_unavailable`.
        code: &'static str,
        reason: String,
    },

    #[error("invalid secret id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("secret {id}: {reason}")]
    Backend { id: String, reason: String },
}

/// A place secrets are kept, by id. Implementations cache what they read (a keychain is read
/// at most once per id) and must never log or put values into errors.
///
/// Calls are synchronous and may touch the disk or an OS service; async callers run them on a
/// blocking thread.
pub trait SecretStore: Send + Sync {
    fn kind(&self) -> SecretStoreKind;
    fn put(&self, id: &str, secret: &Secret) -> Result<(), SecretError>;
    fn get(&self, id: &str) -> Result<Option<Secret>, SecretError>;
    fn delete(&self, id: &str) -> Result<(), SecretError>;

    /// The secret under `id`, or `make()` stored under it if there is none. Backends that
    /// can (the encrypted file) do this atomically, so two processes starting at once agree
    /// on one generated value; the default is a plain get-then-put.
    fn get_or_insert(
        &self,
        id: &str,
        make: &mut dyn FnMut() -> Secret,
    ) -> Result<Secret, SecretError> {
        if let Some(s) = self.get(id)? {
            return Ok(s);
        }
        let s = make();
        self.put(id, &s)?;
        Ok(s)
    }
}

/// Copies the secrets named by `ids` from one backend to another (for example from the
/// encrypted file into the OS keychain once one is available). Ids missing from `from` are
/// skipped and returned; the source is left untouched, so the caller deletes from it only once
/// it has switched over.
pub fn migrate_secrets(
    from: &dyn SecretStore,
    to: &dyn SecretStore,
    ids: &[String],
) -> Result<MigrateReport, SecretError> {
    let mut report = MigrateReport::default();
    for id in ids {
        match from.get(id)? {
            Some(secret) => {
                to.put(id, &secret)?;
                report.copied.push(id.clone());
            }
            None => report.missing.push(id.clone()),
        }
    }
    Ok(report)
}

/// What [`migrate_secrets`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    pub copied: Vec<String>,
    pub missing: Vec<String>,
}

/// Ids are short printable ASCII so every backend (file, keychain entry name) can hold them.
pub(crate) fn check_id(id: &str) -> Result<(), SecretError> {
    if id.is_empty() || id.len() > 200 {
        return Err(SecretError::InvalidId {
            id: id.chars().take(200).collect(),
            reason: "must be 1 to 200 characters",
        });
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
    {
        return Err(SecretError::InvalidId {
            id: id.escape_default().to_string(),
            reason: "may only contain ASCII letters, digits and - _ . : /",
        });
    }
    Ok(())
}
