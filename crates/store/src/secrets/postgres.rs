//! Team mode's secret store: every secret sealed with the team's master key
//! (`SWITCHBOARD_MASTER_KEY`) and kept in the shared PostgreSQL database, so every instance
//! reads the keys any instance added.
//!
//! Each secret is one row of `secrets`: a fresh nonce and the XChaCha20-Poly1305 ciphertext
//! ([`super::envelope`], the one AEAD routine) of the value, authenticated together with its
//! id so rows cannot be swapped. The single row of `secret_seal` holds the salt a passphrase
//! is stretched with (Argon2id) and a verifier sealed with the key: an instance started with
//! another key is refused at start instead of failing on the first secret it reads.
//!
//! Values are not cached: another instance may rotate a credential under the same id, and
//! secrets are read only when the configuration is loaded, never on the request path.

use sqlx::PgPool;
use switchboard_router::Secret;
use zeroize::Zeroizing;

use super::envelope::{self, KEY_LEN};
use super::file::{Material, parse_value};
use super::{SecretError, SecretStore, SecretStoreKind, check_id};

const SALT_LEN: usize = 16;
const VERIFIER_AAD: &[u8] = b"switchboard team secrets";
const VERIFIER_PLAIN: &[u8] = b"sealed";

/// Secrets in the team's PostgreSQL database; see the module documentation.
pub struct PgSecretStore {
    pool: PgPool,
    key: Zeroizing<[u8; KEY_LEN]>,
    /// The runtime the store was opened on: the trait's calls are synchronous and run on a
    /// blocking thread, which drives the queries on it.
    runtime: tokio::runtime::Handle,
    database: String,
}

impl std::fmt::Debug for PgSecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSecretStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

fn backend(id: &str, action: &str, e: &sqlx::Error) -> SecretError {
    SecretError::Backend {
        id: id.to_owned(),
        reason: format!("{action}: {e}"),
    }
}

impl PgSecretStore {
    /// Opens the store in `pool`'s database with `master` (the value of
    /// `SWITCHBOARD_MASTER_KEY`: 32 bytes as hex or base64, or a passphrase). The first
    /// instance seals the database with it; later ones must bring the same key, else
    /// [`SecretError::WrongTeamKey`]. `database` names the server in errors (no password).
    pub async fn open(
        pool: PgPool,
        master: &Secret,
        database: String,
    ) -> Result<PgSecretStore, SecretError> {
        let material = parse_value(master)?;
        let seal_err = |e: sqlx::Error| backend("secret_seal", "reading the seal", &e);
        let existing: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT salt, nonce, verifier FROM secret_seal WHERE id = 1")
                .fetch_optional(&pool)
                .await
                .map_err(seal_err)?;
        let (salt, nonce, verifier) = match existing {
            Some(row) => row,
            None => {
                // Two instances sealing a new database at once: the row that lands first wins
                // and both verify against it below.
                let salt = envelope::random::<SALT_LEN>();
                let key = key_for(&material, &salt)?;
                let (nonce, verifier) = envelope::seal(&key, VERIFIER_AAD, VERIFIER_PLAIN)
                    .map_err(|e| SecretError::MasterKey(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO secret_seal (id, salt, nonce, verifier) VALUES (1, $1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(salt.as_slice())
                .bind(nonce.as_slice())
                .bind(&verifier)
                .execute(&pool)
                .await
                .map_err(|e| backend("secret_seal", "sealing the database", &e))?;
                sqlx::query_as("SELECT salt, nonce, verifier FROM secret_seal WHERE id = 1")
                    .fetch_one(&pool)
                    .await
                    .map_err(seal_err)?
            }
        };
        let key = key_for(&material, &salt)?;
        match envelope::open(&key, &nonce, VERIFIER_AAD, &verifier) {
            Ok(plain) if plain.as_slice() == VERIFIER_PLAIN => {}
            _ => return Err(SecretError::WrongTeamKey { database }),
        }
        Ok(PgSecretStore {
            pool,
            key,
            runtime: tokio::runtime::Handle::current(),
            database,
        })
    }

    fn run<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(fut)
    }

    fn seal(&self, id: &str, secret: &Secret) -> Result<(Vec<u8>, Vec<u8>), SecretError> {
        envelope::seal(&self.key, id.as_bytes(), secret.expose().as_bytes())
            .map(|(nonce, sealed)| (nonce.to_vec(), sealed))
            .map_err(|e| SecretError::Backend {
                id: id.to_owned(),
                reason: e.to_string(),
            })
    }

    fn unseal(&self, id: &str, nonce: &[u8], sealed: &[u8]) -> Result<Secret, SecretError> {
        let plain = envelope::open(&self.key, nonce, id.as_bytes(), sealed).map_err(|e| {
            SecretError::Backend {
                id: id.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let text = std::str::from_utf8(&plain).map_err(|_| SecretError::Backend {
            id: id.to_owned(),
            reason: "not UTF-8".to_owned(),
        })?;
        Ok(Secret::new(text.to_owned()))
    }
}

fn key_for(material: &Material, salt: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, SecretError> {
    match material {
        Material::Key(key, _) => Ok(key.clone()),
        Material::Passphrase(p) => envelope::derive_key(p.expose().as_bytes(), salt, None)
            .map_err(|e| SecretError::MasterKey(e.to_string())),
    }
}

impl SecretStore for PgSecretStore {
    fn kind(&self) -> SecretStoreKind {
        SecretStoreKind::Database
    }

    fn put(&self, id: &str, secret: &Secret) -> Result<(), SecretError> {
        check_id(id)?;
        let (nonce, sealed) = self.seal(id, secret)?;
        self.run(
            sqlx::query(
                "INSERT INTO secrets (id, nonce, sealed) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET nonce = excluded.nonce, sealed = excluded.sealed",
            )
            .bind(id)
            .bind(nonce)
            .bind(sealed)
            .execute(&self.pool),
        )
        .map_err(|e| backend(id, "storing", &e))?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Secret>, SecretError> {
        check_id(id)?;
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .run(
                sqlx::query_as("SELECT nonce, sealed FROM secrets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool),
            )
            .map_err(|e| backend(id, "reading", &e))?;
        row.map(|(nonce, sealed)| self.unseal(id, &nonce, &sealed))
            .transpose()
    }

    fn delete(&self, id: &str) -> Result<(), SecretError> {
        check_id(id)?;
        self.run(
            sqlx::query("DELETE FROM secrets WHERE id = $1")
                .bind(id)
                .execute(&self.pool),
        )
        .map_err(|e| backend(id, "deleting", &e))?;
        Ok(())
    }

    /// Atomic across instances: the first value stored under `id` is the one every instance
    /// gets.
    fn get_or_insert(
        &self,
        id: &str,
        make: &mut dyn FnMut() -> Secret,
    ) -> Result<Secret, SecretError> {
        if let Some(s) = self.get(id)? {
            return Ok(s);
        }
        let (nonce, sealed) = self.seal(id, &make())?;
        self.run(
            sqlx::query(
                "INSERT INTO secrets (id, nonce, sealed) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(nonce)
            .bind(sealed)
            .execute(&self.pool),
        )
        .map_err(|e| backend(id, "storing", &e))?;
        self.get(id)?.ok_or_else(|| SecretError::Backend {
            id: id.to_owned(),
            reason: "vanished right after it was stored".to_owned(),
        })
    }
}
