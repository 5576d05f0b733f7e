//! Named users of the dashboard and the admin API, and their sign-in sessions.
//!
//! A password is kept only as an Argon2id PHC string ([`hash_password`]); a user who signs in
//! only through OpenID Connect has none. A session token is kept only as its SHA-256 digest
//! ([`session_digest`]): the database never holds a password or a token that works.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use sha2::{Digest, Sha256};
use switchboard_router::Secret;

use crate::db::{Store, on_pool};
use crate::error::StoreError;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and edits everything (like the admin token).
    Admin,
    /// Reads the dashboard; no edits, no secrets.
    Viewer,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// One stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    /// Whether the user has a password (else only OpenID Connect signs them in).
    pub has_password: bool,
    pub created_at_ms: i64,
}

/// Who a live session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub expires_at_ms: i64,
    pub last_seen_ms: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    password_hash: Option<String>,
    role: String,
    disabled: bool,
    created_at_ms: i64,
}

impl Row {
    fn into_user(self) -> UserRow {
        UserRow {
            id: self.id,
            name: self.name,
            // A role the database does not know cannot be written (CHECK); read it as the
            // lesser one regardless.
            role: Role::parse(&self.role).unwrap_or(Role::Viewer),
            disabled: self.disabled,
            has_password: self.password_hash.is_some(),
            created_at_ms: self.created_at_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: i64,
    name: String,
    role: String,
    expires_at_ms: i64,
    last_seen_ms: i64,
}

fn argon2() -> Argon2<'static> {
    // Argon2's recommended defaults (19 MiB, 2 passes, 1 lane), named so they stay put.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// `password` as an Argon2id PHC string with a fresh random salt.
pub fn hash_password(password: &Secret) -> Result<String, StoreError> {
    let salt: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| StoreError::invalid("password", format!("cannot salt: {e}")))?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::invalid("password", format!("cannot hash: {e}")))
}

/// A hash of no one's password, checked against when the user is unknown or has no password,
/// so the answer takes as long as a wrong password does.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&Secret::new(String::from("switchboard-decoy-password"))).unwrap_or_default()
    })
}

/// Whether `password` matches the PHC string `hash` (`None`: checks a decoy and answers no).
pub fn verify_password(hash: Option<&str>, password: &Secret) -> bool {
    let (phc, real) = match hash {
        Some(h) => (h, true),
        None => (decoy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// The SHA-256 digest under which a session token is stored.
pub fn session_digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Store {
    /// Creates a user; a name in use is a conflict. Returns the user's id.
    pub async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let id: Result<(i64,), sqlx::Error> = on_pool!(&self.pool, |p| sqlx::query_as(
            "INSERT INTO users (name, password_hash, role, disabled, created_at_ms) \
             VALUES ($1, $2, $3, FALSE, $4) RETURNING id",
        )
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms)
        .fetch_one(p)
        .await);
        match id {
            Ok((id,)) => Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict {
                what: format!("user {name}"),
            }),
            Err(e) => Err(StoreError::db("creating a user")(e)),
        }
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows: Vec<Row> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
            "SELECT id, name, password_hash, role, disabled, created_at_ms FROM users ORDER BY name"
        )
        .fetch_all(p)
        .await
        })
        .map_err(StoreError::db("listing users"))?;
        Ok(rows.into_iter().map(Row::into_user).collect())
    }

    /// The user named `name` and their password hash (for signing in).
    pub async fn user_for_sign_in(
        &self,
        name: &str,
    ) -> Result<Option<(UserRow, Option<String>)>, StoreError> {
        let row: Option<Row> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT id, name, password_hash, role, disabled, created_at_ms FROM users \
             WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a user"))?;
        Ok(row.map(|r| {
            let hash = r.password_hash.clone();
            (r.into_user(), hash)
        }))
    }

    /// Sets (or, with `None`, removes) a user's password and ends their sessions.
    pub async fn set_user_password(
        &self,
        name: &str,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE name = $2"
        )
        .bind(password_hash)
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("setting a password"))?;
        self.end_sessions_of(name, done).await
    }

    /// Disables or re-enables a user; either ends their sessions.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET disabled = $1 WHERE name = $2"
        )
        .bind(disabled)
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("disabling a user"))?;
        self.end_sessions_of(name, done).await
    }

    /// Changes a user's role and ends their sessions (they sign in again with the new one).
    pub async fn set_user_role(&self, name: &str, role: Role) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET role = $1 WHERE name = $2"
        )
        .bind(role.as_str())
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("changing a role"))?;
        self.end_sessions_of(name, done).await
    }

    /// After an update of `updated` rows: not found when none, else the user's sessions end.
    async fn end_sessions_of(&self, name: &str, updated: u64) -> Result<(), StoreError> {
        if updated == 0 {
            return Err(StoreError::not_found(format!("user {name}")));
        }
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM user_sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)"
        )
        .bind(name)
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::db("ending sessions"))?;
        Ok(())
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM users WHERE name = $1"
        )
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting a user"))?;
        if done == 0 {
            return Err(StoreError::not_found(format!("user {name}")));
        }
        Ok(())
    }

    /// Stores a session for `user_id` under the token's digest.
    pub async fn create_session(
        &self,
        digest: &[u8; 32],
        user_id: i64,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO user_sessions (digest, user_id, created_at_ms, expires_at_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $3)",
        )
        .bind(digest.as_slice())
        .bind(user_id)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::db("creating a session"))?;
        Ok(())
    }

    /// The user of the live session stored under `digest`: none when it is unknown, expired,
    /// or its user is disabled.
    pub async fn session_user(
        &self,
        digest: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<SessionUser>, StoreError> {
        let row: Option<SessionRow> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT s.user_id, u.name, u.role, s.expires_at_ms, s.last_seen_ms \
             FROM user_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.digest = $1 AND s.expires_at_ms > $2 AND NOT u.disabled"
        )
        .bind(digest.as_slice())
        .bind(now_ms)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a session"))?;
        Ok(row.map(|r| SessionUser {
            user_id: r.user_id,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::Viewer),
            expires_at_ms: r.expires_at_ms,
            last_seen_ms: r.last_seen_ms,
        }))
    }

    /// Notes that the session under `digest` was used at `now_ms`.
    pub async fn touch_session(&self, digest: &[u8; 32], now_ms: i64) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE user_sessions SET last_seen_ms = $1 WHERE digest = $2"
        )
        .bind(now_ms)
        .bind(digest.as_slice())
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::db("touching a session"))?;
        Ok(())
    }

    /// Ends the session under `digest` (signing out); unknown is fine.
    pub async fn delete_session(&self, digest: &[u8; 32]) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM user_sessions WHERE digest = $1"
        )
        .bind(digest.as_slice())
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::db("ending a session"))?;
        Ok(())
    }

    /// Removes sessions expired at `now_ms`; returns how many.
    pub async fn purge_expired_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM user_sessions WHERE expires_at_ms <= $1"
        )
        .bind(now_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("purging sessions"))
    }
}
