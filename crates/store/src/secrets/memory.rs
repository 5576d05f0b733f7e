//! Secrets in process memory, for tests. Compiled only for tests or with the `test-util`
//! feature, and it reports itself as [`SecretStoreKind::MemoryForTests`] so nothing can mistake
//! it for real storage.

use std::collections::HashMap;
use std::sync::Mutex;

use switchboard_router::Secret;

use super::{SecretError, SecretStore, SecretStoreKind, check_id};

#[derive(Default)]
pub struct MemorySecretStore {
    map: Mutex<HashMap<String, Secret>>,
}

impl MemorySecretStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many secrets are held.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn poisoned() -> SecretError {
        SecretError::Backend {
            id: String::new(),
            reason: "memory store lock poisoned".into(),
        }
    }
}

impl SecretStore for MemorySecretStore {
    fn kind(&self) -> SecretStoreKind {
        SecretStoreKind::MemoryForTests
    }

    fn put(&self, id: &str, secret: &Secret) -> Result<(), SecretError> {
        check_id(id)?;
        let mut map = self.map.lock().map_err(|_| Self::poisoned())?;
        map.insert(id.to_owned(), secret.clone());
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Secret>, SecretError> {
        let map = self.map.lock().map_err(|_| Self::poisoned())?;
        Ok(map.get(id).cloned())
    }

    fn delete(&self, id: &str) -> Result<(), SecretError> {
        let mut map = self.map.lock().map_err(|_| Self::poisoned())?;
        map.remove(id);
        Ok(())
    }
}
