//! The OS keychain backend: macOS Keychain, Windows Credential Manager, or the Secret Service
//! (GNOME Keyring, KWallet) over D-Bus on Linux and the BSDs. Compiled only with the
//! `keychain` feature, so headless builds never link D-Bus.
//!
//! keyring 3.x is used with each platform's native credential type constructed explicitly:
//! keyring's process-wide default builder silently becomes an in-memory mock when a platform
//! feature is missing (SECURITY.md T8), so this module never calls `Entry::new` and no code
//! path can reach the mock.
//!
//! Whether a keychain is usable is decided at run time by a probe (write, read back and
//! delete a throw-away entry). When it fails — no session bus, no Secret Service, a locked
//! collection — [`open_preferred`] falls back to the [`EncryptedFileStore`] and reports
//! [`KEYCHAIN_UNAVAILABLE`] with the reason, for the dashboard and `doctor`. When a keychain is
//! usable and an encrypted file from an earlier run still holds secrets, they are copied into
//! the keychain, read back, and only then removed from the file.
//!
//! Reads are cached: each id is fetched from the OS at most once per process (a keychain
//! prompt or D-Bus round trip per request would be slow and noisy); values stay in
//! [`Secret`]s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use switchboard_router::Secret;

use super::{
    EncryptedFileStore, MasterKey, SecretError, SecretStore, SecretStoreKind, check_id,
    migrate_secrets,
};

/// The stable code reported when no OS keychain can be used.
pub const KEYCHAIN_UNAVAILABLE: &str = "keychain_unavailable";

/// The keychain service name entries are filed under (the app identifier).
pub const DEFAULT_SERVICE: &str = "dev.switchboard.app";

const BACKEND: &str = "os_keychain";

/// Secrets in the operating system's keychain, one entry per id under one service name.
pub struct KeychainStore {
    service: String,
    /// What has been read or written: `None` records a known-absent id.
    cache: Mutex<HashMap<String, Option<Secret>>>,
    /// The Secret Service does not like concurrent calls from one process: one at a time.
    io: Mutex<()>,
}

impl std::fmt::Debug for KeychainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeychainStore")
            .field("service", &self.service)
            .field("backend", &platform_name())
            .finish_non_exhaustive()
    }
}

/// The platform keychain this build talks to, for status displays.
pub fn platform_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else if cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd"
    )) {
        "Secret Service"
    } else {
        "none"
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn credential(service: &str, user: &str) -> keyring::Result<Box<keyring::Credential>> {
    Ok(Box::new(
        keyring::secret_service::SsCredential::new_with_target(None, service, user)?,
    ))
}

#[cfg(target_os = "macos")]
fn credential(service: &str, user: &str) -> keyring::Result<Box<keyring::Credential>> {
    Ok(Box::new(keyring::macos::MacCredential::new_with_target(
        None, service, user,
    )?))
}

#[cfg(target_os = "windows")]
fn credential(service: &str, user: &str) -> keyring::Result<Box<keyring::Credential>> {
    Ok(Box::new(keyring::windows::WinCredential::new_with_target(
        None, service, user,
    )?))
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
fn credential(_service: &str, _user: &str) -> keyring::Result<Box<keyring::Credential>> {
    Err(keyring::Error::PlatformFailure(
        "no OS keychain on this platform".into(),
    ))
}

fn unavailable(reason: impl Into<String>) -> SecretError {
    SecretError::Unavailable {
        backend: BACKEND,
        code: KEYCHAIN_UNAVAILABLE,
        reason: reason.into(),
    }
}

/// keyring's errors carry no secret values, but `BadEncoding` carries bytes: never show those.
fn describe(e: &keyring::Error) -> String {
    match e {
        keyring::Error::BadEncoding(_) => "the stored value is not UTF-8".to_owned(),
        keyring::Error::Ambiguous(v) => format!("{} entries match", v.len()),
        other => other.to_string(),
    }
}

impl KeychainStore {
    /// Connects to the platform keychain under `service` and proves it works with a probe
    /// entry. Fails with [`SecretError::Unavailable`] (code [`KEYCHAIN_UNAVAILABLE`]) when it
    /// does not, within about a second (D-Bus errors come back quickly).
    pub fn open(service: &str) -> Result<KeychainStore, SecretError> {
        let store = KeychainStore {
            service: service.to_owned(),
            cache: Mutex::new(HashMap::new()),
            io: Mutex::new(()),
        };
        store.probe()?;
        Ok(store)
    }

    /// The service name entries are filed under.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, id: &str) -> Result<keyring::Entry, SecretError> {
        let cred = credential(&self.service, id).map_err(|e| match e {
            keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
                unavailable(describe(&e))
            }
            other => SecretError::Backend {
                id: id.to_owned(),
                reason: describe(&other),
            },
        })?;
        let entry = keyring::Entry::new_with_credential(cred);
        // Belt and braces for T8: the credential is never keyring's mock.
        if entry
            .get_credential()
            .downcast_ref::<keyring::mock::MockCredential>()
            .is_some()
        {
            return Err(unavailable("keyring resolved to its in-memory mock"));
        }
        Ok(entry)
    }

    fn io_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, SecretError> {
        self.io.lock().map_err(|_| SecretError::Backend {
            id: String::new(),
            reason: "keychain lock poisoned".into(),
        })
    }

    fn cache(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Option<Secret>>>, SecretError> {
        self.cache.lock().map_err(|_| SecretError::Backend {
            id: String::new(),
            reason: "keychain cache lock poisoned".into(),
        })
    }

    fn map_err(id: &str, e: keyring::Error) -> SecretError {
        match e {
            keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
                unavailable(describe(&e))
            }
            other => SecretError::Backend {
                id: id.to_owned(),
                reason: describe(&other),
            },
        }
    }

    fn probe(&self) -> Result<(), SecretError> {
        let id = format!("switchboard-probe-{}", std::process::id());
        let value = "switchboard keychain probe";
        let _io = self.io_lock()?;
        let entry = self.entry(&id)?;
        entry
            .set_password(value)
            .map_err(|e| unavailable(describe(&e)))?;
        let read = entry.get_password().map_err(|e| unavailable(describe(&e)));
        let deleted = entry.delete_credential();
        if read? != value {
            return Err(unavailable("the probe entry read back differently"));
        }
        deleted.map_err(|e| unavailable(describe(&e)))
    }
}

impl SecretStore for KeychainStore {
    fn kind(&self) -> SecretStoreKind {
        SecretStoreKind::OsKeychain
    }

    fn put(&self, id: &str, secret: &Secret) -> Result<(), SecretError> {
        check_id(id)?;
        {
            let _io = self.io_lock()?;
            self.entry(id)?
                .set_password(secret.expose())
                .map_err(|e| Self::map_err(id, e))?;
        }
        self.cache()?.insert(id.to_owned(), Some(secret.clone()));
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Secret>, SecretError> {
        check_id(id)?;
        if let Some(hit) = self.cache()?.get(id) {
            return Ok(hit.clone());
        }
        let value = {
            let _io = self.io_lock()?;
            match self.entry(id)?.get_password() {
                Ok(v) => Some(Secret::new(v)),
                Err(keyring::Error::NoEntry) => None,
                Err(e) => return Err(Self::map_err(id, e)),
            }
        };
        self.cache()?.insert(id.to_owned(), value.clone());
        Ok(value)
    }

    fn delete(&self, id: &str) -> Result<(), SecretError> {
        check_id(id)?;
        {
            let _io = self.io_lock()?;
            match self.entry(id)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) => return Err(Self::map_err(id, e)),
            }
        }
        self.cache()?.insert(id.to_owned(), None);
        Ok(())
    }
}

/// Which secret store is active and why; shown by the dashboard and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretBackendStatus {
    pub kind: SecretStoreKind,
    /// [`KEYCHAIN_UNAVAILABLE`] when the encrypted file is used because no keychain works.
    pub code: Option<&'static str>,
    /// Why the keychain is unavailable (no values, only the backend's error).
    pub reason: Option<String>,
    /// The platform keychain this build targets.
    pub keychain: &'static str,
    /// How many secrets were moved from the encrypted file into the keychain at this start.
    pub migrated: usize,
}

/// The store [`open_preferred`] chose, and its status.
pub struct PreferredStore {
    pub store: std::sync::Arc<dyn SecretStore>,
    pub status: SecretBackendStatus,
}

/// The OS keychain under `service` if it works, else the encrypted file in `data_dir`
/// (`SWITCHBOARD_MASTER_KEY`, else `key_file`, else the default key file) with status
/// [`KEYCHAIN_UNAVAILABLE`]. Secrets left in the encrypted file by an earlier run without a
/// keychain are moved into the keychain without loss: copied, read back and compared, and
/// only then deleted from the file.
pub fn open_preferred(
    data_dir: &Path,
    key_file: Option<PathBuf>,
    service: &str,
) -> Result<PreferredStore, SecretError> {
    match KeychainStore::open(service) {
        Ok(keychain) => {
            let migrated = move_file_into(data_dir, key_file, &keychain)?;
            tracing::info!(
                keychain = platform_name(),
                migrated,
                "secrets kept in the OS keychain"
            );
            Ok(PreferredStore {
                store: std::sync::Arc::new(keychain),
                status: SecretBackendStatus {
                    kind: SecretStoreKind::OsKeychain,
                    code: None,
                    reason: None,
                    keychain: platform_name(),
                    migrated,
                },
            })
        }
        Err(SecretError::Unavailable { reason, .. }) => {
            tracing::warn!(keychain = platform_name(), %reason, code = KEYCHAIN_UNAVAILABLE,
                "OS keychain unavailable; using the encrypted secrets file");
            let file = EncryptedFileStore::open(data_dir, MasterKey::resolve(data_dir, key_file)?)?;
            Ok(PreferredStore {
                store: std::sync::Arc::new(file),
                status: SecretBackendStatus {
                    kind: SecretStoreKind::EncryptedFile,
                    code: Some(KEYCHAIN_UNAVAILABLE),
                    reason: Some(reason),
                    keychain: platform_name(),
                    migrated: 0,
                },
            })
        }
        Err(other) => Err(other),
    }
}

/// Moves every secret of `<data_dir>/secrets.enc` (if there is one) into `to`.
pub fn move_file_into(
    data_dir: &Path,
    key_file: Option<PathBuf>,
    to: &dyn SecretStore,
) -> Result<usize, SecretError> {
    if !EncryptedFileStore::exists_in(data_dir) {
        return Ok(0);
    }
    let file = EncryptedFileStore::open(data_dir, MasterKey::resolve(data_dir, key_file)?)?;
    let ids = file.ids()?;
    if ids.is_empty() {
        return Ok(0);
    }
    let report = migrate_secrets(&file, to, &ids)?;
    for id in &report.copied {
        let (Some(a), Some(b)) = (file.get(id)?, to.get(id)?) else {
            return Err(SecretError::Backend {
                id: id.clone(),
                reason: "not readable after copying; the encrypted file keeps it".into(),
            });
        };
        if a != b {
            return Err(SecretError::Backend {
                id: id.clone(),
                reason: "read back differently after copying; the encrypted file keeps it".into(),
            });
        }
    }
    for id in &report.copied {
        file.delete(id)?;
    }
    Ok(report.copied.len())
}

/// These tests talk to the real OS keychain, so the environment says what to expect:
/// `SWITCHBOARD_TEST_KEYCHAIN=present` (a D-Bus session with an unlocked Secret Service, as
/// `scripts/desktop-test.sh` sets up) or `=absent` (no session bus, or no Secret Service on
/// it). Unset, they return early: a developer's own keychain is never touched by surprise.
#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Option<String> {
        std::env::var("SWITCHBOARD_TEST_KEYCHAIN").ok()
    }

    fn service() -> String {
        format!("dev.switchboard.test.{}", std::process::id())
    }

    #[test]
    fn real_keychain_round_trip_and_never_the_mock() {
        if expect().as_deref() != Some("present") {
            return;
        }
        let store = KeychainStore::open(&service()).expect("keychain available");
        assert_eq!(store.kind(), SecretStoreKind::OsKeychain);
        assert_ne!(store.kind(), SecretStoreKind::MemoryForTests);
        let entry = store.entry("key:probe-type").unwrap();
        assert!(
            entry
                .get_credential()
                .downcast_ref::<keyring::mock::MockCredential>()
                .is_none()
        );
        #[cfg(target_os = "linux")]
        assert!(
            entry
                .get_credential()
                .downcast_ref::<keyring::secret_service::SsCredential>()
                .is_some()
        );

        let id = "key:0123abcd";
        let secret = Secret::new("sk-CANARY-keychain-0001");
        store.put(id, &secret).unwrap();
        // A second process (a fresh store) reads it from the OS, not from our cache.
        let other = KeychainStore::open(&service()).unwrap();
        assert_eq!(other.get(id).unwrap(), Some(secret.clone()));
        // Cached: deleting behind its back does not change what this instance returns.
        let raw = other.entry(id).unwrap();
        raw.delete_credential().unwrap();
        assert_eq!(
            other.get(id).unwrap(),
            Some(secret.clone()),
            "read at most once per id"
        );
        assert_eq!(
            KeychainStore::open(&service()).unwrap().get(id).unwrap(),
            None
        );
        store.delete(id).unwrap();
        assert_eq!(store.get(id).unwrap(), None);
        // Errors and Debug never show values.
        assert!(!format!("{store:?}").contains("CANARY"));
    }

    #[test]
    fn preferred_store_is_the_keychain_and_takes_over_the_file() {
        if expect().as_deref() != Some("present") {
            return;
        }
        let data = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let key_file = keys.path().join("master.key");
        let file =
            EncryptedFileStore::open(data.path(), MasterKey::KeyFile(key_file.clone())).unwrap();
        file.put("key:aa01", &Secret::new("sk-CANARY-migrate-a"))
            .unwrap();
        file.put("local:access_key", &Secret::new("sk-sb-CANARY-local"))
            .unwrap();
        drop(file);

        let svc = service() + ".migrate";
        let chosen = open_preferred(data.path(), Some(key_file.clone()), &svc).unwrap();
        assert_eq!(chosen.status.kind, SecretStoreKind::OsKeychain);
        assert_eq!(chosen.status.code, None);
        assert_eq!(chosen.status.migrated, 2);
        assert_eq!(
            chosen.store.get("key:aa01").unwrap(),
            Some(Secret::new("sk-CANARY-migrate-a"))
        );
        assert_eq!(
            chosen.store.get("local:access_key").unwrap(),
            Some(Secret::new("sk-sb-CANARY-local"))
        );
        // Moved, not copied: the file no longer holds them; a second start migrates nothing.
        let file =
            EncryptedFileStore::open(data.path(), MasterKey::KeyFile(key_file.clone())).unwrap();
        assert!(file.ids().unwrap().is_empty());
        let again = open_preferred(data.path(), Some(key_file), &svc).unwrap();
        assert_eq!(again.status.migrated, 0);
        chosen.store.delete("key:aa01").unwrap();
        chosen.store.delete("local:access_key").unwrap();
    }

    #[test]
    fn without_secret_service_it_is_unavailable_and_falls_back_to_the_file() {
        if expect().as_deref() != Some("absent") {
            return;
        }
        let started = std::time::Instant::now();
        match KeychainStore::open(&service()) {
            Err(SecretError::Unavailable { code, backend, .. }) => {
                assert_eq!(code, KEYCHAIN_UNAVAILABLE);
                assert_eq!(backend, "os_keychain");
            }
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("a keychain answered although none should be reachable"),
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "fails fast"
        );

        let data = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let chosen = open_preferred(
            data.path(),
            Some(keys.path().join("master.key")),
            &service(),
        )
        .unwrap();
        assert_eq!(chosen.status.kind, SecretStoreKind::EncryptedFile);
        assert_eq!(chosen.store.kind(), SecretStoreKind::EncryptedFile);
        assert_eq!(chosen.status.code, Some(KEYCHAIN_UNAVAILABLE));
        assert!(
            chosen
                .status
                .reason
                .as_deref()
                .is_some_and(|r| !r.is_empty())
        );
        chosen
            .store
            .put("key:bb02", &Secret::new("sk-CANARY-file"))
            .unwrap();
        assert_eq!(
            chosen.store.get("key:bb02").unwrap(),
            Some(Secret::new("sk-CANARY-file"))
        );
    }
}
