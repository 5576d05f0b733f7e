//! The configuration the dashboard edits: providers, keys, routes, settings and named values,
//! plus the persisted key health. Every statement binds its values (no SQL is built from
//! input).

use std::collections::HashMap;

use rand::Rng;
use rand::distr::Alphanumeric;
use switchboard_router::model::PROXY_CREDENTIAL_PREFIX;
use switchboard_router::{
    Config, Key, KeyInfo, Provider, ProxySetting, Route, Secret, Settings, Strategy,
};

use crate::db::Store;
use crate::db::{Tx, on_pool, on_tx};
use crate::error::StoreError;
use switchboard_router::id::now_ms;

/// The settings row holding [`Settings`]; other names are free for [`Store::put_value`].
const SETTINGS_ROW: &str = "settings";

/// Where a key's secret comes from when it is added or replaced.
#[derive(Debug, Clone)]
pub enum KeySecret {
    /// The key itself: kept in the secret store, never in the database.
    Literal(Secret),
    /// The name of an environment variable (`NAME` or `env:NAME`) read at every load.
    Env(String),
}

/// Fields of a key to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub label: Option<String>,
    pub weight: Option<u32>,
    pub enabled: Option<bool>,
    pub secret: Option<KeySecret>,
}

/// A key [`Store::load_config`] could not resolve, and why.
#[derive(Debug)]
pub struct KeyProblem {
    pub key_id: i64,
    pub provider: String,
    pub enabled: bool,
    pub error: StoreError,
}

/// The persisted health of one key in one scope (the key itself, or key × model). The state
/// is opaque here: the health engine defines its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRow {
    pub key_id: i64,
    pub scope: String,
    pub state: serde_json::Value,
    pub updated_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    provider: String,
    label: String,
    weight: i64,
    enabled: bool,
    fingerprint: String,
    last4: String,
    env_ref: Option<String>,
    secret_ref: Option<String>,
}

impl KeyRow {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            id: self.id,
            provider: self.provider.clone(),
            label: self.label.clone(),
            weight: u32::try_from(self.weight).unwrap_or(1),
            enabled: self.enabled,
            fingerprint: self.fingerprint.clone(),
            last4: self.last4.clone(),
            env_ref: self.env_ref.clone(),
        }
    }
}

const KEY_SELECT: &str = "SELECT k.id, p.name AS provider, k.label, k.weight, k.enabled, \
     k.fingerprint, k.last4, k.env_ref, k.secret_ref FROM keys k JOIN providers p ON p.id = k.provider_id";

fn check_label(label: &str) -> Result<(), StoreError> {
    if label.len() > 200 || label.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "label",
            "must be at most 200 characters, without control characters",
        ));
    }
    Ok(())
}

fn check_weight(weight: u32) -> Result<i64, StoreError> {
    if weight == 0 {
        return Err(StoreError::invalid("weight", "must be at least 1"));
    }
    Ok(i64::from(weight))
}

/// `NAME` or `env:NAME` → `NAME`, if it is a portable variable name.
fn env_var_name(raw: &str) -> Result<String, StoreError> {
    let name = raw.strip_prefix("env:").unwrap_or(raw).trim();
    let valid = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(StoreError::invalid(
            "secret",
            format!(
                "environment variable name {:?} must be letters, digits and _, not starting with a digit",
                name.chars().take(200).collect::<String>()
            ),
        ));
    }
    Ok(name.to_owned())
}

/// Reads a key's secret from the environment. Names the variable, never the value.
fn read_env(key_id: i64, var: &str) -> Result<Secret, StoreError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(StoreError::EnvVarMissing {
            key_id,
            var: var.to_owned(),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::invalid(
            format!("key {key_id}"),
            format!("environment variable {var} is not valid UTF-8"),
        )),
    }
}

fn new_secret_ref() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("key:{}", hex::encode(bytes))
}

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Corrupt {
        what: what.to_owned(),
        source,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Corrupt {
        what: what.to_owned(),
        source,
    })
}

fn strategy_str(s: Strategy) -> Result<String, StoreError> {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(_) => Err(StoreError::invalid("strategy", "is not a name")),
        Err(source) => Err(StoreError::Corrupt {
            what: "strategy".into(),
            source,
        }),
    }
}

/// The fingerprint and last four characters shown for a secret.
fn shown(secret: &Secret) -> (String, String) {
    (secret.fingerprint(), secret.last4())
}

impl Store {
    // ----- providers -------------------------------------------------------------------

    /// Every provider, in the order they were first added.
    pub async fn list_providers(&self) -> Result<Vec<Provider>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT name, data FROM providers ORDER BY id"
        )
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("listing providers"))?;
        rows.into_iter()
            .map(|(name, data)| {
                let mut p: Provider = from_json(&format!("provider {name}"), &data)?;
                p.name = name;
                Ok(p)
            })
            .collect()
    }

    pub async fn get_provider(&self, name: &str) -> Result<Option<Provider>, StoreError> {
        let row: Option<(String, String)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT name, data FROM providers WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a provider"))?;
        row.map(|(name, data)| {
            let mut p: Provider = from_json(&format!("provider {name}"), &data)?;
            p.name = name;
            Ok(p)
        })
        .transpose()
    }

    /// Inserts a provider or replaces the one with the same name (its keys stay). Validates it
    /// first; proxy credentials written into its proxy URL are moved to the secret store.
    /// Returns the provider as stored.
    pub async fn upsert_provider(&self, provider: &Provider) -> Result<Provider, StoreError> {
        provider.validate()?;
        let kept = self
            .get_provider(&provider.name)
            .await?
            .and_then(|p| p.proxy)
            .and_then(|p| p.credential_ref);
        let mut provider = provider.clone();
        let added = match &mut provider.proxy {
            Some(proxy) => self.seal_proxy_credentials(proxy, kept.as_deref()).await?,
            None => None,
        };
        let now = provider
            .proxy
            .as_ref()
            .and_then(|p| p.credential_ref.clone());
        let written = self.write_provider(&provider).await;
        self.settle_credentials(written.is_ok(), added, kept, now)
            .await;
        written.map(|()| provider)
    }

    async fn write_provider(&self, provider: &Provider) -> Result<(), StoreError> {
        let data = to_json("provider", provider)?;
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO providers (name, kind, base_url, enabled, priority, weight, data, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, \
             enabled = excluded.enabled, priority = excluded.priority, weight = excluded.weight, \
             data = excluded.data, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&provider.name)
        .bind(provider.kind.as_str())
        .bind(&provider.base_url)
        .bind(provider.enabled)
        .bind(provider.priority)
        .bind(i64::from(provider.weight))
        .bind(&data)
        .bind(now_ms())
        .execute(p).await.map(|r| r.rows_affected()))
        .map_err(StoreError::db("saving a provider"))?;
        Ok(())
    }

    /// Moves credentials written into `proxy`'s URL (`user:password@`) to the secret store,
    /// leaving the URL without them and a reference in their place; returns the new reference.
    /// A reference sent back must be the one this setting already holds (`kept`): a setting
    /// cannot borrow another secret (a provider key sent to a proxy of one's choosing).
    async fn seal_proxy_credentials(
        &self,
        proxy: &mut ProxySetting,
        kept: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let Some(Ok(mut url)) = proxy.parsed_url() else {
            return self.check_kept(proxy, kept).map(|()| None);
        };
        if url.username().is_empty() && url.password().is_none() {
            return self.check_kept(proxy, kept).map(|()| None);
        }
        let credential = Secret::new(format!(
            "{}:{}",
            url.username(),
            url.password().unwrap_or_default()
        ));
        // Clearing the userinfo of a parsed http(s)/socks URL cannot fail.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let tag: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        let id = format!("{PROXY_CREDENTIAL_PREFIX}{tag}");
        let put = id.clone();
        self.with_secrets(move |st| st.put(&put, &credential))
            .await?;
        proxy.url = Some(url.as_str().trim_end_matches('/').to_owned());
        proxy.credential_ref = Some(id.clone());
        Ok(Some(id))
    }

    fn check_kept(&self, proxy: &ProxySetting, kept: Option<&str>) -> Result<(), StoreError> {
        match &proxy.credential_ref {
            Some(r) if Some(r.as_str()) != kept => Err(StoreError::invalid(
                "proxy.credential_ref",
                "is not the credential saved with this setting; write the credentials into the proxy URL instead",
            )),
            _ => Ok(()),
        }
    }

    /// After a write: a credential sealed for a write that failed is removed, and so is the
    /// one a successful write replaced or dropped.
    async fn settle_credentials(
        &self,
        written: bool,
        added: Option<String>,
        kept: Option<String>,
        now: Option<String>,
    ) {
        let stale = if written {
            kept.filter(|k| Some(k) != now.as_ref())
        } else {
            added
        };
        self.forget_secrets(stale.into_iter().collect()).await;
    }

    /// Deletes a provider, its keys (by cascade) and those keys' secrets.
    pub async fn delete_provider(&self, name: &str) -> Result<(), StoreError> {
        let proxy_ref = self
            .get_provider(name)
            .await?
            .and_then(|p| p.proxy)
            .and_then(|p| p.credential_ref);
        let mut tx = self.begin("deleting a provider").await?;
        let refs: Vec<(Option<String>,)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT k.secret_ref FROM keys k JOIN providers p ON p.id = k.provider_id WHERE p.name = $1",
        )
        .bind(name)
        .fetch_all(c)
        .await)
        .map_err(StoreError::db("deleting a provider"))?;
        let done = on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM providers WHERE name = $1"
        )
        .bind(name)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting a provider"))?;
        if done == 0 {
            return Err(StoreError::not_found(format!("provider {name}")));
        }
        tx.commit()
            .await
            .map_err(StoreError::db("deleting a provider"))?;
        self.forget_secrets(
            refs.into_iter()
                .filter_map(|r| r.0)
                .chain(proxy_ref)
                .collect(),
        )
        .await;
        Ok(())
    }

    // ----- keys ------------------------------------------------------------------------

    /// Keys of one provider, or of all providers, in the order they were added.
    pub async fn list_keys(&self, provider: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        Ok(self
            .key_rows(provider)
            .await?
            .iter()
            .map(KeyRow::info)
            .collect())
    }

    pub async fn get_key(&self, id: i64) -> Result<Option<KeyInfo>, StoreError> {
        Ok(self.key_row(id).await?.map(|r| r.info()))
    }

    async fn key_rows(&self, provider: Option<&str>) -> Result<Vec<KeyRow>, StoreError> {
        // `format!` only joins constant SQL; the provider name is bound.
        let by_provider = format!("{KEY_SELECT} WHERE p.name = $1 ORDER BY k.id");
        let all = format!("{KEY_SELECT} ORDER BY k.id");
        on_pool!(&self.pool, |pool| match provider {
            Some(p) => {
                sqlx::query_as(&by_provider)
                    .bind(p.to_owned())
                    .fetch_all(pool)
                    .await
            }
            None => sqlx::query_as(&all).fetch_all(pool).await,
        })
        .map_err(StoreError::db("listing keys"))
    }

    async fn key_row(&self, id: i64) -> Result<Option<KeyRow>, StoreError> {
        on_pool!(&self.pool, |p| sqlx::query_as(&format!(
            "{KEY_SELECT} WHERE k.id = $1"
        ))
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a key"))
    }

    /// Adds a key to `provider`. A literal secret goes into the secret store and the database
    /// keeps only a reference; an env reference is stored as `env:NAME`. The same secret (or
    /// the same variable) twice in one provider is a [`StoreError::Conflict`].
    pub async fn add_key(
        &self,
        provider: &str,
        label: &str,
        secret: KeySecret,
        weight: u32,
        enabled: bool,
    ) -> Result<KeyInfo, StoreError> {
        check_label(label)?;
        let weight_i = check_weight(weight)?;
        let provider_id: i64 = on_pool!(&self.pool, |p| sqlx::query_as::<_, (i64,)>(
            "SELECT id FROM providers WHERE name = $1"
        )
        .bind(provider)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("adding a key"))?
        .ok_or_else(|| StoreError::not_found(format!("provider {provider}")))?
        .0;

        let (env_ref, secret_ref, fingerprint, last4, literal) = match secret {
            KeySecret::Literal(s) => {
                if s.expose().trim().is_empty() {
                    return Err(StoreError::invalid("secret", "must not be empty"));
                }
                let (fp, l4) = shown(&s);
                (None, Some(new_secret_ref()), fp, l4, Some(s))
            }
            KeySecret::Env(name) => {
                let name = env_var_name(&name)?;
                let (fp, l4) = std::env::var(&name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| shown(&Secret::new(v)))
                    .unwrap_or_default();
                (Some(format!("env:{name}")), None, fp, l4, None)
            }
        };

        let dup: Option<(String,)> = on_pool!(&self.pool, |p| if literal.is_some() {
            sqlx::query_as(
                "SELECT label FROM keys WHERE provider_id = $1 AND secret_ref IS NOT NULL AND fingerprint = $2",
            )
            .bind(provider_id)
            .bind(&fingerprint)
            .fetch_optional(p)
            .await
        } else {
            sqlx::query_as("SELECT label FROM keys WHERE provider_id = $1 AND env_ref = $2")
                .bind(provider_id)
                .bind(env_ref.clone())
                .fetch_optional(p)
                .await
        })
        .map_err(StoreError::db("adding a key"))?;
        if let Some((existing,)) = dup {
            return Err(StoreError::Conflict {
                what: format!("the same key (\"{existing}\") in provider {provider}"),
            });
        }

        if let (Some(r), Some(s)) = (&secret_ref, literal) {
            let r = r.clone();
            self.with_secrets(move |st| st.put(&r, &s)).await?;
        }
        let now = now_ms();
        let inserted: Result<(i64,), sqlx::Error> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
            "INSERT INTO keys (provider_id, label, weight, enabled, fingerprint, last4, env_ref, \
             secret_ref, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(provider_id)
        .bind(label)
        .bind(weight_i)
        .bind(enabled)
        .bind(&fingerprint)
        .bind(&last4)
        .bind(&env_ref)
        .bind(&secret_ref)
        .bind(now)
        .bind(now)
        .fetch_one(p).await
        });
        let id = match inserted {
            Ok((id,)) => id,
            Err(source) => {
                if let Some(r) = secret_ref {
                    self.forget_secrets(vec![r]).await;
                }
                return Err(StoreError::Db {
                    action: "adding a key",
                    source,
                });
            }
        };
        tracing::info!(key_id = id, provider, fingerprint = %fingerprint, "key added");
        Ok(KeyInfo {
            id,
            provider: provider.to_owned(),
            label: label.to_owned(),
            weight,
            enabled,
            fingerprint,
            last4,
            env_ref,
        })
    }

    /// Changes a key's label, weight, enabled flag or secret. A replaced literal secret is
    /// removed from the secret store once the database points at the new one.
    pub async fn update_key(&self, id: i64, patch: KeyPatch) -> Result<KeyInfo, StoreError> {
        let current = self
            .key_row(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("key {id}")))?;
        let label = patch.label.unwrap_or_else(|| current.label.clone());
        check_label(&label)?;
        let weight = match patch.weight {
            Some(w) => check_weight(w)?,
            None => current.weight,
        };
        let enabled = patch.enabled.unwrap_or(current.enabled);
        let mut env_ref = current.env_ref.clone();
        let mut secret_ref = current.secret_ref.clone();
        let mut fingerprint = current.fingerprint.clone();
        let mut last4 = current.last4.clone();
        let mut new_literal = None;
        match patch.secret {
            None => {}
            Some(KeySecret::Literal(s)) => {
                if s.expose().trim().is_empty() {
                    return Err(StoreError::invalid("secret", "must not be empty"));
                }
                (fingerprint, last4) = shown(&s);
                env_ref = None;
                let r = new_secret_ref();
                secret_ref = Some(r.clone());
                new_literal = Some((r, s));
            }
            Some(KeySecret::Env(name)) => {
                let name = env_var_name(&name)?;
                (fingerprint, last4) = std::env::var(&name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| shown(&Secret::new(v)))
                    .unwrap_or_default();
                env_ref = Some(format!("env:{name}"));
                secret_ref = None;
            }
        }
        if let Some((r, s)) = new_literal.clone() {
            self.with_secrets(move |st| st.put(&r, &s)).await?;
        }
        let updated = on_pool!(&self.pool, |p| {
            sqlx::query(
            "UPDATE keys SET label = $1, weight = $2, enabled = $3, fingerprint = $4, last4 = $5, \
             env_ref = $6, secret_ref = $7, updated_at_ms = $8 WHERE id = $9",
        )
        .bind(&label)
        .bind(weight)
        .bind(enabled)
        .bind(&fingerprint)
        .bind(&last4)
        .bind(&env_ref)
        .bind(&secret_ref)
        .bind(now_ms())
        .bind(id)
        .execute(p).await.map(|r| r.rows_affected())
        });
        match updated {
            Ok(1) => {}
            Ok(_) => {
                if let Some((r, _)) = new_literal {
                    self.forget_secrets(vec![r]).await;
                }
                return Err(StoreError::not_found(format!("key {id}")));
            }
            Err(source) => {
                if let Some((r, _)) = new_literal {
                    self.forget_secrets(vec![r]).await;
                }
                return Err(StoreError::Db {
                    action: "updating a key",
                    source,
                });
            }
        }
        if current.secret_ref != secret_ref
            && let Some(old) = current.secret_ref.clone()
        {
            self.forget_secrets(vec![old]).await;
        }
        Ok(KeyInfo {
            id,
            provider: current.provider,
            label,
            weight: u32::try_from(weight).unwrap_or(1),
            enabled,
            fingerprint,
            last4,
            env_ref,
        })
    }

    /// Deletes a key, its health rows and its secret.
    pub async fn delete_key(&self, id: i64) -> Result<(), StoreError> {
        let row: Option<(Option<String>,)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "DELETE FROM keys WHERE id = $1 RETURNING secret_ref"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("deleting a key"))?;
        let Some((secret_ref,)) = row else {
            return Err(StoreError::not_found(format!("key {id}")));
        };
        if let Some(r) = secret_ref {
            self.forget_secrets(vec![r]).await;
        }
        tracing::info!(key_id = id, "key deleted");
        Ok(())
    }

    /// The secret of one key, from the secret store or the environment.
    pub async fn key_secret(&self, id: i64) -> Result<Secret, StoreError> {
        let row = self
            .key_row(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("key {id}")))?;
        let mut resolved = self.resolve(vec![row]).await?;
        match resolved.pop() {
            Some((_, Ok(secret))) => Ok(secret),
            Some((_, Err(e))) => Err(e),
            None => Err(StoreError::not_found(format!("key {id}"))),
        }
    }

    /// Removes secrets nobody refers to any more. Failures are logged (by id) and otherwise
    /// ignored: an orphaned encrypted entry is harmless, a half-deleted key is not.
    pub(crate) async fn forget_secrets(&self, refs: Vec<String>) {
        if refs.is_empty() {
            return;
        }
        let result = self
            .with_secrets(move |st| {
                for r in &refs {
                    if let Err(e) = st.delete(r) {
                        tracing::warn!(secret_ref = %r, error = %e, "could not delete a secret");
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not delete secrets");
        }
    }

    /// Resolves each row's secret; one failure does not stop the others.
    async fn resolve(
        &self,
        rows: Vec<KeyRow>,
    ) -> Result<Vec<(KeyRow, Result<Secret, StoreError>)>, StoreError> {
        let refs: Vec<String> = rows.iter().filter_map(|r| r.secret_ref.clone()).collect();
        let kind = self.secrets.kind().as_str();
        let fetched: HashMap<String, Option<Secret>> = self
            .with_secrets(move |st| {
                refs.into_iter()
                    .map(|r| st.get(&r).map(|s| (r, s)))
                    .collect()
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let secret =
                    match (&row.secret_ref, &row.env_ref) {
                        (Some(r), _) => fetched.get(r).cloned().flatten().ok_or_else(|| {
                            StoreError::SecretMissing {
                                key_id: row.id,
                                secret_ref: r.clone(),
                                store: kind,
                            }
                        }),
                        (None, Some(env)) => {
                            read_env(row.id, env.strip_prefix("env:").unwrap_or(env))
                        }
                        (None, None) => Err(StoreError::invalid(
                            format!("key {}", row.id),
                            "has neither a secret nor an env reference",
                        )),
                    };
                (row, secret)
            })
            .collect())
    }

    // ----- routes ----------------------------------------------------------------------

    /// Every route, in the order they were first added.
    pub async fn list_routes(&self) -> Result<Vec<Route>, StoreError> {
        let rows: Vec<(String, String, String, Option<i64>)> =
            on_pool!(&self.pool, |p| sqlx::query_as(
                "SELECT alias, strategy, targets, hedge_after_ms FROM routes ORDER BY id",
            )
            .fetch_all(p)
            .await)
            .map_err(StoreError::db("listing routes"))?;
        rows.into_iter()
            .map(|(alias, strategy, targets, hedge)| {
                let what = format!("route {alias}");
                Ok(Route {
                    strategy: from_json(&what, &serde_json::Value::String(strategy).to_string())?,
                    targets: from_json(&what, &targets)?,
                    hedge_after_ms: hedge.and_then(|h| u64::try_from(h).ok()),
                    alias,
                })
            })
            .collect()
    }

    pub async fn get_route(&self, alias: &str) -> Result<Option<Route>, StoreError> {
        Ok(self
            .list_routes()
            .await?
            .into_iter()
            .find(|r| r.alias == alias))
    }

    /// Inserts a route or replaces the one with the same alias. Validates it first.
    pub async fn upsert_route(&self, route: &Route) -> Result<(), StoreError> {
        route.validate()?;
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO routes (alias, strategy, targets, hedge_after_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT(alias) DO UPDATE SET strategy = excluded.strategy, \
             targets = excluded.targets, hedge_after_ms = excluded.hedge_after_ms, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&route.alias)
        .bind(strategy_str(route.strategy)?)
        .bind(to_json("route targets", &route.targets)?)
        .bind(route.hedge_after_ms.and_then(|h| i64::try_from(h).ok()))
        .bind(now_ms())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("saving a route"))?;
        Ok(())
    }

    pub async fn delete_route(&self, alias: &str) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM routes WHERE alias = $1"
        )
        .bind(alias)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting a route"))?;
        if done == 0 {
            return Err(StoreError::not_found(format!("route {alias}")));
        }
        Ok(())
    }

    // ----- settings and named values ---------------------------------------------------

    /// The engine settings; defaults for anything never saved.
    pub async fn get_settings(&self) -> Result<Settings, StoreError> {
        match self.get_raw_value(SETTINGS_ROW).await? {
            Some(v) => serde_json::from_value(v).map_err(|source| StoreError::Corrupt {
                what: "settings".into(),
                source,
            }),
            None => Ok(Settings::default()),
        }
    }

    /// Saves the settings; proxy credentials written into the proxy URL are moved to the
    /// secret store. Returns the settings as stored.
    pub async fn put_settings(&self, settings: &Settings) -> Result<Settings, StoreError> {
        settings.validate()?;
        let kept = self.get_settings().await?.proxy.credential_ref;
        let mut settings = settings.clone();
        let added = self
            .seal_proxy_credentials(&mut settings.proxy, kept.as_deref())
            .await?;
        let now = settings.proxy.credential_ref.clone();
        let written = match serde_json::to_value(&settings) {
            Ok(v) => self.put_raw_value(SETTINGS_ROW, &v).await,
            Err(source) => Err(StoreError::Corrupt {
                what: "settings".into(),
                source,
            }),
        };
        self.settle_credentials(written.is_ok(), added, kept, now)
            .await;
        written.map(|()| settings)
    }

    /// A named JSON value (routing on/off, UI preferences, …). `settings` is reserved.
    pub async fn get_value(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        check_value_name(name)?;
        self.get_raw_value(name).await
    }

    pub async fn put_value(&self, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        check_value_name(name)?;
        self.put_raw_value(name, value).await
    }

    pub async fn delete_value(&self, name: &str) -> Result<(), StoreError> {
        check_value_name(name)?;
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM settings WHERE name = $1"
        )
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting a value"))?;
        Ok(())
    }

    async fn get_raw_value(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row: Option<(String,)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT value FROM settings WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a setting"))?;
        row.map(|(v,)| from_json(&format!("setting {name}"), &v))
            .transpose()
    }

    async fn put_raw_value(&self, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO settings (name, value, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(name)
        .bind(value.to_string())
        .bind(now_ms())
        .execute(p).await.map(|r| r.rows_affected()))
        .map_err(StoreError::db("saving a setting"))?;
        Ok(())
    }

    // ----- whole config ----------------------------------------------------------------

    /// Everything the engine routes with, every key's secret resolved. Keys whose secret
    /// cannot be resolved (an unset `env:NAME` variable, a secret missing from the store) are
    /// left out with a warning naming the key and the variable, so one bad key does not stop
    /// the others from serving; [`Store::load_config_with_problems`] returns them too.
    pub async fn load_config(&self) -> Result<Config, StoreError> {
        let (config, problems) = self.load_config_with_problems().await?;
        for p in &problems {
            if p.enabled {
                tracing::warn!(key_id = p.key_id, provider = %p.provider, error = %p.error, "key left out of the configuration");
            } else {
                tracing::debug!(key_id = p.key_id, provider = %p.provider, error = %p.error, "disabled key left out of the configuration");
            }
        }
        Ok(config)
    }

    /// Like [`Store::load_config`], also returning the keys that were left out and why.
    pub async fn load_config_with_problems(&self) -> Result<(Config, Vec<KeyProblem>), StoreError> {
        let providers = self.list_providers().await?;
        let routes = self.list_routes().await?;
        let settings = self.get_settings().await?;
        let proxy_credentials = self.proxy_credentials(&providers, &settings).await?;
        let rows = self.key_rows(None).await?;
        let mut keys = Vec::with_capacity(rows.len());
        let mut problems = Vec::new();
        for (row, secret) in self.resolve(rows).await? {
            match secret {
                Ok(secret) => {
                    let mut info = row.info();
                    if row.env_ref.is_some() {
                        // The variable may have changed since the key was added.
                        (info.fingerprint, info.last4) = shown(&secret);
                    }
                    keys.push(Key { info, secret });
                }
                Err(error) => problems.push(KeyProblem {
                    key_id: row.id,
                    provider: row.provider.clone(),
                    enabled: row.enabled,
                    error,
                }),
            }
        }
        Ok((
            Config {
                providers,
                keys,
                routes,
                settings,
                prices: self.price_table().await?,
                proxy_credentials,
                system_proxy: None,
            },
            problems,
        ))
    }

    /// The proxy credentials the providers and the settings refer to. One missing from the
    /// secret store is left out (loudly): that provider's requests then fail over.
    async fn proxy_credentials(
        &self,
        providers: &[Provider],
        settings: &Settings,
    ) -> Result<HashMap<String, Secret>, StoreError> {
        let refs: Vec<String> = providers
            .iter()
            .filter_map(|p| p.proxy.as_ref())
            .chain([&settings.proxy])
            .filter_map(|p| p.credential_ref.clone())
            .collect();
        if refs.is_empty() {
            return Ok(HashMap::new());
        }
        let found: Vec<(String, Option<Secret>)> = self
            .with_secrets(move |st| {
                refs.into_iter()
                    .map(|r| st.get(&r).map(|s| (r, s)))
                    .collect()
            })
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(r, s)| {
                if s.is_none() {
                    tracing::warn!(secret_ref = %r, "proxy credentials missing from the secret store");
                }
                s.map(|s| (r, s))
            })
            .collect())
    }

    // ----- health ----------------------------------------------------------------------

    /// Upserts health rows in one transaction. Rows for keys that no longer exist are skipped.
    pub async fn save_health(&self, rows: &[HealthRow]) -> Result<(), StoreError> {
        self.write_health(rows, &[]).await
    }

    /// Upserts `rows` and deletes the `(key_id, scope)` rows in `deletes`, in one transaction.
    pub async fn write_health(
        &self,
        rows: &[HealthRow],
        deletes: &[(i64, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin("saving health").await?;
        for (key_id, scope) in deletes {
            on_tx!(&mut tx, |c| sqlx::query(
                "DELETE FROM health WHERE key_id = $1 AND scope = $2"
            )
            .bind(key_id)
            .bind(scope)
            .execute(c)
            .await
            .map(drop))
            .map_err(StoreError::db("saving health"))?;
        }
        upsert_health(&mut tx, rows).await?;
        tx.commit().await.map_err(StoreError::db("saving health"))
    }

    /// Replaces every health row with `rows`, in one transaction.
    pub async fn replace_health(&self, rows: &[HealthRow]) -> Result<(), StoreError> {
        let mut tx = self.begin("saving health").await?;
        on_tx!(&mut tx, |c| sqlx::query("DELETE FROM health")
            .execute(c)
            .await
            .map(drop))
        .map_err(StoreError::db("saving health"))?;
        upsert_health(&mut tx, rows).await?;
        tx.commit().await.map_err(StoreError::db("saving health"))
    }

    pub async fn load_health(&self) -> Result<Vec<HealthRow>, StoreError> {
        let rows: Vec<(i64, String, String, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT key_id, scope, state, updated_at_ms FROM health ORDER BY key_id, scope",
        )
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("loading health"))?;
        rows.into_iter()
            .map(|(key_id, scope, state, updated_at_ms)| {
                Ok(HealthRow {
                    state: from_json(&format!("health of key {key_id} ({scope})"), &state)?,
                    key_id,
                    scope,
                    updated_at_ms,
                })
            })
            .collect()
    }

    /// Forgets a key's health in one scope, or in every scope when `scope` is `None`.
    pub async fn delete_health(&self, key_id: i64, scope: Option<&str>) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| match scope {
            Some(s) => sqlx::query("DELETE FROM health WHERE key_id = $1 AND scope = $2")
                .bind(key_id)
                .bind(s.to_owned())
                .execute(p)
                .await
                .map(drop),
            None => sqlx::query("DELETE FROM health WHERE key_id = $1")
                .bind(key_id)
                .execute(p)
                .await
                .map(drop),
        })
        .map_err(StoreError::db("deleting health"))?;
        Ok(())
    }
}

async fn upsert_health(tx: &mut Tx, rows: &[HealthRow]) -> Result<(), StoreError> {
    for r in rows {
        on_tx!(&mut *tx, |c| sqlx::query(
            "INSERT INTO health (key_id, scope, state, updated_at_ms) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM keys WHERE id = $5) \
             ON CONFLICT(key_id, scope) DO UPDATE SET state = excluded.state, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(r.key_id)
        .bind(&r.scope)
        .bind(r.state.to_string())
        .bind(r.updated_at_ms)
        .bind(r.key_id)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::db("saving health"))?;
    }
    Ok(())
}

fn check_value_name(name: &str) -> Result<(), StoreError> {
    if name == SETTINGS_ROW {
        return Err(StoreError::invalid(
            "name",
            "`settings` is reserved; use get_settings/put_settings",
        ));
    }
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "name",
            "must be 1 to 200 characters, without control characters",
        ));
    }
    Ok(())
}
