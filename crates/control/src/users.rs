//! Named users of the dashboard and admin API, and their sessions: validation, password
//! hashing (Argon2id, on a blocking thread) and the session tokens handed out at sign-in.
//! The store keeps only hashes and digests; a token is shown once, in the sign-in answer.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use switchboard_router::Secret;
use switchboard_store::{Role, SessionUser, UserRow, hash_password, session_digest};
use utoipa::ToSchema;

use crate::{Control, ControlError};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (Argon2 takes any length; this bounds the work per attempt).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// How long a session lasts after sign-in.
pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// A session's last-seen time is written at most this often.
const TOUCH_EVERY_MS: i64 = 60 * 1000;
/// Prefix of session tokens (recognisable in a leak scan).
pub const SESSION_PREFIX: &str = "sbses-";

/// A user as listed: never a password or its hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub name: String,
    #[schema(value_type = String, example = "viewer")]
    pub role: Role,
    pub disabled: bool,
    /// Whether the user can sign in with a password (else only single sign-on).
    pub has_password: bool,
    pub created_at_ms: i64,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        UserView {
            name: u.name,
            role: u.role,
            disabled: u.disabled,
            has_password: u.has_password,
            created_at_ms: u.created_at_ms,
        }
    }
}

/// A new user. Without a password the user signs in only through OpenID Connect. (No
/// `Debug`: it holds a password.)
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[schema(value_type = String, example = "viewer")]
    pub role: Role,
    #[serde(default)]
    pub password: Option<String>,
}

/// A change to a user; absent fields stay. (No `Debug`: it may hold a password.)
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// 1 to 64 letters, digits, `.`, `_`, `-` or `@` (an email names a single-sign-on user).
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

fn check_name(name: &str) -> Result<(), ControlError> {
    if valid_user_name(name) {
        Ok(())
    } else {
        Err(ControlError::invalid(
            "name",
            "1 to 64 letters, digits, `.`, `_`, `-` or `@`",
        ))
    }
}

fn check_password(p: &Secret) -> Result<(), ControlError> {
    let n = p.expose().chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(ControlError::invalid(
            "password",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(ControlError::invalid(
            "password",
            format!("at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

async fn hash(p: Secret) -> Result<String, ControlError> {
    tokio::task::spawn_blocking(move || hash_password(&p))
        .await
        .map_err(|e| ControlError::Store(switchboard_store::StoreError::Task(e.to_string())))?
        .map_err(ControlError::from)
}

/// A fresh session token.
fn new_session_token() -> Secret {
    let body: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    Secret::new(format!("{SESSION_PREFIX}{body}"))
}

/// A session just opened: the token for the cookie (shown once) and whose it is.
#[derive(Debug)]
pub struct OpenedSession {
    pub token: Secret,
    pub user: SessionUser,
}

impl Control {
    pub async fn list_users(&self) -> Result<Vec<UserView>, ControlError> {
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .map(UserView::from)
            .collect())
    }

    /// Creates a user (name and password validated; the password stored as its hash).
    pub async fn add_user(&self, new: NewUser) -> Result<UserView, ControlError> {
        check_name(&new.name)?;
        let hashed = match new.password.map(Secret::new) {
            Some(p) => {
                check_password(&p)?;
                Some(hash(p).await?)
            }
            None => None,
        };
        let now = self.engine.health.now_ms();
        self.store
            .create_user(&new.name, new.role, hashed.as_deref(), now)
            .await?;
        tracing::info!(user = %new.name, role = new.role.as_str(), "user added");
        self.user(&new.name).await
    }

    async fn user(&self, name: &str) -> Result<UserView, ControlError> {
        self.list_users()
            .await?
            .into_iter()
            .find(|u| u.name == name)
            .ok_or_else(|| ControlError::not_found(format!("user {name}")))
    }

    /// Changes a user's role, password or disabled flag; any change ends their sessions.
    pub async fn update_user(
        &self,
        name: &str,
        update: UserUpdate,
    ) -> Result<UserView, ControlError> {
        let password = update.password.map(Secret::new);
        if let Some(p) = &password {
            check_password(p)?;
        }
        // Unknown users answer 404 before any work.
        self.user(name).await?;
        if let Some(p) = password {
            let h = hash(p).await?;
            self.store.set_user_password(name, Some(&h)).await?;
        }
        if let Some(role) = update.role {
            self.store.set_user_role(name, role).await?;
        }
        if let Some(d) = update.disabled {
            self.store.set_user_disabled(name, d).await?;
        }
        tracing::info!(user = %name, "user changed");
        self.user(name).await
    }

    pub async fn delete_user(&self, name: &str) -> Result<(), ControlError> {
        self.store.delete_user(name).await?;
        tracing::info!(user = %name, "user deleted");
        Ok(())
    }

    /// Checks `password` for `name` (in constant work whether or not the user exists, has a
    /// password or is disabled) and opens a session when it matches. `None`: wrong name or
    /// password, alike.
    pub async fn sign_in_password(
        &self,
        name: &str,
        password: Secret,
    ) -> Result<Option<OpenedSession>, ControlError> {
        let found = if valid_user_name(name) {
            self.store.user_for_sign_in(name).await?
        } else {
            None
        };
        let hash = found.as_ref().and_then(|(_, h)| h.clone());
        let matched = tokio::task::spawn_blocking(move || {
            switchboard_store::verify_password(hash.as_deref(), &password)
        })
        .await
        .map_err(|e| ControlError::Store(switchboard_store::StoreError::Task(e.to_string())))?;
        match found {
            Some((user, _)) if matched && !user.disabled => {
                Ok(Some(self.open_session(user.id).await?))
            }
            _ => Ok(None),
        }
    }

    /// Signs in `name` (an OpenID Connect identity already verified): its stored user (with
    /// its stored role), or, when there is none and `role` is given, a new user with that role
    /// and no password. A disabled user gets no session.
    pub async fn sign_in_external(
        &self,
        name: &str,
        role: Option<Role>,
    ) -> Result<Option<OpenedSession>, ControlError> {
        check_name(name)?;
        let user = match self.store.user_for_sign_in(name).await? {
            Some((u, _)) => u,
            None => {
                let Some(role) = role else {
                    return Ok(None);
                };
                let now = self.engine.health.now_ms();
                self.store.create_user(name, role, None, now).await?;
                tracing::info!(user = %name, role = role.as_str(), "user added at single sign-on");
                match self.store.user_for_sign_in(name).await? {
                    Some((u, _)) => u,
                    None => return Ok(None),
                }
            }
        };
        if user.disabled {
            return Ok(None);
        }
        Ok(Some(self.open_session(user.id).await?))
    }

    async fn open_session(&self, user_id: i64) -> Result<OpenedSession, ControlError> {
        let token = new_session_token();
        let digest = session_digest(token.expose().as_bytes());
        let now = self.engine.health.now_ms();
        self.store
            .create_session(&digest, user_id, now, now + SESSION_TTL_MS)
            .await?;
        let user = self
            .store
            .session_user(&digest, now)
            .await?
            .ok_or_else(|| ControlError::Refused("the session could not be opened".into()))?;
        tracing::info!(user = %user.name, role = user.role.as_str(), "signed in");
        Ok(OpenedSession { token, user })
    }

    /// The user of a session token (a cookie's value), if the session lives.
    pub async fn session(&self, token: &[u8]) -> Result<Option<SessionUser>, ControlError> {
        if !token.starts_with(SESSION_PREFIX.as_bytes()) {
            return Ok(None);
        }
        let digest = session_digest(token);
        let now = self.engine.health.now_ms();
        let user = self.store.session_user(&digest, now).await?;
        if let Some(u) = &user
            && now - u.last_seen_ms >= TOUCH_EVERY_MS
        {
            self.store.touch_session(&digest, now).await?;
        }
        Ok(user)
    }

    /// Ends the session of `token` (sign out) and drops expired ones.
    pub async fn sign_out(&self, token: &[u8]) -> Result<(), ControlError> {
        self.store.delete_session(&session_digest(token)).await?;
        self.store
            .purge_expired_sessions(self.engine.health.now_ms())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["alice", "a.b-c_d", "ops@example.com", &"x".repeat(64)] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in ["", "a b", "ä", "a/b", "<script>", &"x".repeat(65), "a:b"] {
            assert!(!valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_minimum_length() {
        assert!(check_password(&Secret::new("short")).is_err());
        assert!(check_password(&Secret::new("x".repeat(MIN_PASSWORD_CHARS - 1))).is_err());
        assert!(check_password(&Secret::new("x".repeat(MIN_PASSWORD_CHARS))).is_ok());
        assert!(check_password(&Secret::new("x".repeat(MAX_PASSWORD_CHARS + 1))).is_err());
    }

    #[test]
    fn session_tokens_are_prefixed_and_random() {
        let a = new_session_token();
        assert!(a.expose().starts_with(SESSION_PREFIX));
        assert_eq!(a.expose().len(), SESSION_PREFIX.len() + 43);
        assert_ne!(a, new_session_token());
    }
}
