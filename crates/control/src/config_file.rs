//! The declarative config file (`--config FILE`, TOML; DESIGN.md "Declarative config file"):
//! providers, keys, routes and server settings applied at start. The store stays the source
//! of truth for what the dashboard edits; applying the same file twice changes nothing.

use std::path::Path;

use serde::Deserialize;
use switchboard_router::{Provider, ProxySetting, Route, Secret};
use switchboard_store::{KeySecret, Store, StoreError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub providers: Vec<FileProvider>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Accepted access keys; literal or `env:NAME`.
    #[serde(default)]
    pub access_keys: Vec<String>,
    /// Host names accepted besides loopback (for a container reached by service name).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Accept non-loopback peers (requires access keys to be set).
    #[serde(default)]
    pub remote: bool,
    /// Team mode: the PostgreSQL server every instance shares (`postgres://…`); the
    /// `--database` flag and `SWITCHBOARD_DATABASE_URL` take precedence.
    pub database_url: Option<String>,
    /// Team mode: the Redis server sharing key health between instances (`redis://…`);
    /// needs `database_url`. The `--redis` flag and `SWITCHBOARD_REDIS_URL` take precedence.
    pub redis_url: Option<String>,
    /// The global upstream proxy (`{ mode = "url", url = "socks5h://…", no_proxy = […] }`,
    /// `mode = "system"` or `"direct"`); providers may set their own `proxy`.
    #[serde(default)]
    pub proxy: Option<ProxySetting>,
    /// Single sign-on through an OpenID Connect provider (`[server.oidc]`).
    pub oidc: Option<OidcSection>,
}

/// `[server.oidc]`: who the identity provider is, and who may sign in with which role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The issuer URL (`https://accounts.example.com`); its discovery document is read from
    /// `<issuer>/.well-known/openid-configuration` for the endpoints not given below.
    pub issuer: String,
    /// The provider's endpoints, for one without a discovery document (each defaults to
    /// the discovered one).
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub client_id: String,
    /// `env:NAME` (the secret is never written in the file); default
    /// `env:SWITCHBOARD_OIDC_CLIENT_SECRET` when that variable is set.
    pub client_secret: Option<String>,
    /// This dashboard's callback: `https://switchboard.example.com/api/v1/session/oidc/callback`.
    pub redirect_url: String,
    /// A claim of the ID token (`groups`, `roles`) whose values choose the role.
    pub role_claim: Option<String>,
    #[serde(default)]
    pub admin_values: Vec<String>,
    #[serde(default)]
    pub viewer_values: Vec<String>,
    /// Emails that may sign in with `default_role` (`*`: any verified email).
    #[serde(default)]
    pub allowed_emails: Vec<String>,
    pub default_role: Option<switchboard_store::Role>,
}

/// A provider as the file writes it: the one provider definition ([`Provider`], the same
/// fields as the admin API and exports) and its keys. Fields neither knows are refused.
#[derive(Debug, Deserialize)]
pub struct FileProvider {
    #[serde(flatten)]
    pub provider: Provider,
    #[serde(default)]
    pub keys: Vec<FileKey>,
    /// Whatever is left: a misspelt field, reported by [`FileConfig::load`].
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, toml::Value>,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// A key: `"env:NAME"`, a literal, or a table with label/secret/weight.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FileKey {
    Plain(String),
    Table {
        #[serde(default)]
        label: Option<String>,
        secret: String,
        #[serde(default = "one")]
        weight: u32,
        #[serde(default = "yes")]
        enabled: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
    #[error("config file {path}: environment variable {var} is not set")]
    MissingEnv { path: String, var: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: shown.clone(),
            source,
        })?;
        // toml's messages quote the offending line, which may hold a literal key: report the
        // position only.
        let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigFileError::Parse {
            path: shown.clone(),
            message: match e.span() {
                Some(span) => {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("line {line}: {}", e.message())
                }
                None => e.message().to_owned(),
            },
        })?;
        for (i, fp) in file.providers.iter().enumerate() {
            if let Some(field) = fp.unknown.keys().next() {
                return Err(ConfigFileError::Invalid {
                    path: shown,
                    field: format!("providers[{i}].{field}"),
                    message: "unknown field".into(),
                });
            }
        }
        Ok(file)
    }

    /// The access keys the file names, resolved (`env:NAME` read now).
    pub fn access_keys(&self, path: &Path) -> Result<Vec<Secret>, ConfigFileError> {
        self.server
            .access_keys
            .iter()
            .map(|k| resolve(k, path))
            .collect()
    }

    /// Writes providers, keys and routes into the store. Keys already present (same secret
    /// or same variable) are left alone, so restarts do not duplicate them.
    pub async fn apply(&self, store: &Store, path: &Path) -> Result<(), ConfigFileError> {
        let shown = path.display().to_string();
        let invalid = |field: String, message: String| ConfigFileError::Invalid {
            path: shown.clone(),
            field,
            message,
        };
        if let Some(proxy) = &self.server.proxy {
            proxy
                .validate("proxy")
                .map_err(|e| invalid(format!("server.{}", e.field), e.message))?;
        }
        for (i, fp) in self.providers.iter().enumerate() {
            let mut provider = fp.provider.clone();
            // Keep models discovered earlier unless the file lists its own.
            if provider.models.is_empty()
                && let Some(existing) = store.get_provider(&provider.name).await?
            {
                provider.models = existing.models;
            }
            provider
                .validate()
                .map_err(|e| invalid(format!("providers[{i}].{}", e.field), e.message))?;
            store.upsert_provider(&provider).await?;
            for (j, key) in fp.keys.iter().enumerate() {
                let (label, secret, weight, enabled) = match key {
                    FileKey::Plain(s) => (None, s.as_str(), 1, true),
                    FileKey::Table {
                        label,
                        secret,
                        weight,
                        enabled,
                    } => (label.clone(), secret.as_str(), *weight, *enabled),
                };
                let (secret, default_label) = match secret.strip_prefix("env:") {
                    Some(var) => (KeySecret::Env(var.to_owned()), var.to_owned()),
                    None => (
                        KeySecret::Literal(Secret::new(secret)),
                        format!("key {}", j + 1),
                    ),
                };
                let label = label.unwrap_or(default_label);
                match store
                    .add_key(&provider.name, &label, secret, weight, enabled)
                    .await
                {
                    Ok(_) | Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            r.validate()
                .map_err(|e| invalid(format!("routes[{i}].{}", e.field), e.message))?;
            store.upsert_route(r).await?;
        }
        if let Some(proxy) = &self.server.proxy {
            let mut settings = store.get_settings().await?;
            settings.proxy = proxy.clone();
            store.put_settings(&settings).await?;
        }
        Ok(())
    }
}

fn resolve(value: &str, path: &Path) -> Result<Secret, ConfigFileError> {
    match value.strip_prefix("env:") {
        Some(var) => std::env::var(var)
            .map(Secret::new)
            .map_err(|_| ConfigFileError::MissingEnv {
                path: path.display().to_string(),
                var: var.to_owned(),
            }),
        None => Ok(Secret::new(value)),
    }
}
