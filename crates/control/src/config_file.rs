//! The declarative config file (`--config FILE`, TOML; DESIGN.md "Declarative config file"):
//! providers, keys, routes and server settings applied at start. The store stays the source
//! of truth for what the dashboard edits; applying the same file twice changes nothing.

use std::path::Path;

use serde::Deserialize;
use switchboard_router::model::{ModelInfo, Quirks, Timeouts};
use switchboard_router::{Provider, Route, Secret};
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProvider {
    pub name: String,
    pub kind: switchboard_protocol::Dialect,
    pub base_url: String,
    #[serde(default)]
    pub keys: Vec<FileKey>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub drop_params: Vec<String>,
    #[serde(default)]
    pub models: Vec<ModelInfo>,
    #[serde(default)]
    pub quirks: Quirks,
    #[serde(default)]
    pub max_concurrency_per_key: Option<u32>,
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
        toml::from_str(&text).map_err(|e| ConfigFileError::Parse {
            path: shown,
            message: match e.span() {
                Some(span) => {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("line {line}: {}", e.message())
                }
                None => e.message().to_owned(),
            },
        })
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
        for (i, fp) in self.providers.iter().enumerate() {
            let existing = store.get_provider(&fp.name).await?;
            let provider = Provider {
                name: fp.name.clone(),
                kind: fp.kind,
                base_url: fp.base_url.clone(),
                headers: fp.headers.clone(),
                timeouts: fp.timeouts.unwrap_or_default(),
                priority: fp.priority,
                weight: fp.weight,
                enabled: fp.enabled,
                drop_params: fp.drop_params.clone(),
                quirks: fp.quirks.clone(),
                max_concurrency_per_key: fp.max_concurrency_per_key,
                // Keep models discovered earlier unless the file lists its own.
                models: if fp.models.is_empty() {
                    existing.map(|p| p.models).unwrap_or_default()
                } else {
                    fp.models.clone()
                },
            };
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
                    .add_key(&fp.name, &label, secret, weight, enabled)
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
