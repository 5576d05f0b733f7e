//! The local credentials Switchboard issues itself: the access key tools present on `/v1/*`
//! and the admin token. Generated at first start, kept in the secret store, stable across
//! restarts unless rotated.

use rand::Rng;
use rand::distr::Alphanumeric;
use switchboard_router::Secret;

use crate::db::Store;
use crate::error::StoreError;

/// Random characters after the prefix (base62: about 238 bits).
const TOKEN_CHARS: usize = 40;

/// Which local credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalToken {
    /// `sk-sb-…`, presented by AI tools on `/v1/*`.
    AccessKey,
    /// `sbadm-…`, for the admin API.
    AdminToken,
}

impl LocalToken {
    /// `access_key` or `admin_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalToken::AccessKey => "access_key",
            LocalToken::AdminToken => "admin_token",
        }
    }

    pub fn parse(name: &str) -> Option<LocalToken> {
        match name {
            "access_key" => Some(LocalToken::AccessKey),
            "admin_token" => Some(LocalToken::AdminToken),
            _ => None,
        }
    }

    pub fn prefix(self) -> &'static str {
        match self {
            LocalToken::AccessKey => "sk-sb-",
            LocalToken::AdminToken => "sbadm-",
        }
    }

    /// The environment variable that overrides it.
    pub fn env_var(self) -> &'static str {
        match self {
            LocalToken::AccessKey => "SWITCHBOARD_ACCESS_KEY",
            LocalToken::AdminToken => "SWITCHBOARD_ADMIN_TOKEN",
        }
    }

    /// The id under which the secret store keeps it.
    pub fn secret_id(self) -> &'static str {
        match self {
            LocalToken::AccessKey => "local:access_key",
            LocalToken::AdminToken => "local:admin_token",
        }
    }

    /// A fresh random token with this credential's prefix.
    pub fn generate(self) -> Secret {
        let body: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(TOKEN_CHARS)
            .map(char::from)
            .collect();
        Secret::new(format!("{}{body}", self.prefix()))
    }
}

impl Store {
    /// The credential in use: `env_override` when given (not stored), else the stored one,
    /// else a new one generated, stored and returned.
    pub async fn local_token(
        &self,
        which: LocalToken,
        env_override: Option<Secret>,
    ) -> Result<Secret, StoreError> {
        if let Some(s) = env_override.filter(|s| !s.is_empty()) {
            return Ok(s);
        }
        let id = which.secret_id();
        let token = self
            .with_secrets(move |st| st.get_or_insert(id, &mut || which.generate()))
            .await?;
        Ok(token)
    }

    /// Replaces the stored credential with a new one and returns it. Tools configured with
    /// the old one stop working until reconfigured.
    pub async fn rotate_local_token(&self, which: LocalToken) -> Result<Secret, StoreError> {
        let id = which.secret_id();
        let token = self
            .with_secrets(move |st| {
                let s = which.generate();
                st.put(id, &s)?;
                Ok(s)
            })
            .await?;
        tracing::info!(token = which.as_str(), "local credential rotated");
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_prefix_and_length() {
        let a = LocalToken::AccessKey.generate();
        assert!(a.expose().starts_with("sk-sb-"));
        assert_eq!(a.expose().len(), 6 + TOKEN_CHARS);
        assert!(a.expose()[6..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let b = LocalToken::AdminToken.generate();
        assert!(b.expose().starts_with("sbadm-"));
        assert_ne!(LocalToken::AccessKey.generate(), a);
    }
}
