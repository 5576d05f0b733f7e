//! Configuration edits: providers, keys, routes, settings, cooldowns. Each validates, then
//! goes through [`Control::edit`] (lock → store write → snapshot swap).

use serde::{Deserialize, Serialize};
use switchboard_router::engine::ProbeAnswer;
use switchboard_router::health::{CooldownPolicy, HealthEntry, HealthState, Scope};
use switchboard_router::model::{ModelInfo, ModelSource};
use switchboard_router::{KeyInfo, Provider, Route, Secret, Settings};
use switchboard_store::{KeyPatch, KeySecret};
use utoipa::ToSchema;

use crate::settings::COOLDOWNS;
use crate::{Control, ControlError, KeyView};

/// A key tested now: its standing after the probe and what the provider answered (`None`
/// when the key went away or is disabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyTest {
    pub key: KeyView,
    pub answer: Option<ProbeAnswer>,
}

/// A new key. Give `secret` (stored encrypted or in the OS keychain, never shown again) or
/// `env` (the name of an environment variable read at start).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewKey {
    pub provider: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct KeyUpdate {
    pub label: Option<String>,
    pub weight: Option<u32>,
    pub enabled: Option<bool>,
    /// Replaces the secret (write-only).
    pub secret: Option<String>,
}

impl Control {
    pub async fn providers(&self) -> Result<Vec<Provider>, ControlError> {
        Ok(self.store.list_providers().await?)
    }

    pub async fn provider(&self, name: &str) -> Result<Provider, ControlError> {
        self.store
            .get_provider(name)
            .await?
            .ok_or_else(|| ControlError::not_found(format!("provider `{name}`")))
    }

    /// Creates a provider, or replaces the one with the same name.
    pub async fn put_provider(&self, p: Provider) -> Result<Provider, ControlError> {
        p.validate()?;
        if let Some(addr) = self.listen_addr()
            && p.points_at(addr)
        {
            return Err(ControlError::invalid(
                "base_url",
                format!("points at this Switchboard ({addr}): every request would come back to it"),
            ));
        }
        self.edit(async |store| Ok::<_, ControlError>(store.upsert_provider(&p).await?))
            .await
    }

    pub async fn delete_provider(&self, name: &str) -> Result<(), ControlError> {
        self.edit(async |store| Ok(store.delete_provider(name).await?))
            .await
    }

    /// Reads the provider's model list with its first enabled key, through the engine's
    /// pooled clients, and keeps it (manual entries stay).
    pub async fn discover_models(&self, name: &str) -> Result<Provider, ControlError> {
        let found = self.engine.list_models(name).await.map_err(|e| match e {
            switchboard_router::engine::ListModelsError::UnknownProvider => {
                ControlError::not_found(format!("provider `{name}`"))
            }
            switchboard_router::engine::ListModelsError::NoKey => ControlError::invalid(
                "keys",
                "the provider has no enabled key to list models with",
            ),
            other => ControlError::Upstream(other.to_string()),
        })?;
        self.edit(async |store| {
            let mut p = store
                .get_provider(name)
                .await?
                .ok_or_else(|| ControlError::not_found(format!("provider `{name}`")))?;
            let manual: Vec<ModelInfo> = p
                .models
                .iter()
                .filter(|m| m.source == ModelSource::Manual)
                .cloned()
                .collect();
            p.models = manual.clone();
            p.models.extend(
                found
                    .into_iter()
                    .filter(|m| !manual.iter().any(|x| x.id == m.id)),
            );
            store.upsert_provider(&p).await?;
            Ok(p)
        })
        .await
    }

    pub async fn add_key(&self, k: NewKey) -> Result<KeyInfo, ControlError> {
        let secret = match (k.secret, k.env) {
            (Some(v), None) if !v.trim().is_empty() => KeySecret::Literal(Secret::new(v.trim())),
            (None, Some(e)) if !e.trim().is_empty() => KeySecret::Env(e.trim().to_owned()),
            _ => {
                return Err(ControlError::invalid(
                    "secret",
                    "give exactly one of `secret` or `env`",
                ));
            }
        };
        let label = if k.label.trim().is_empty() {
            "key".to_owned()
        } else {
            k.label
        };
        self.edit(async |store| {
            let info = store
                .add_key(&k.provider, &label, secret, k.weight, k.enabled)
                .await?;
            // Nothing has said yet whether the key works (marked before the snapshot swap,
            // so its first standing is already "untested").
            self.engine.health.mark_untested(&info.provider, info.id);
            Ok(info)
        })
        .await
    }

    /// Edits a key. Any edit clears its health (the user may have fixed it).
    pub async fn update_key(&self, id: i64, u: KeyUpdate) -> Result<KeyInfo, ControlError> {
        let patch = KeyPatch {
            label: u.label,
            weight: u.weight,
            enabled: u.enabled,
            secret: u
                .secret
                .filter(|v| !v.trim().is_empty())
                .map(|v| KeySecret::Literal(Secret::new(v.trim()))),
        };
        let new_secret = patch.secret.is_some();
        self.edit(async |store| {
            let info = store.update_key(id, patch).await?;
            self.engine.health.clear_key(id);
            if new_secret {
                self.engine.health.mark_untested(&info.provider, id);
            }
            Ok(info)
        })
        .await
    }

    pub async fn delete_key(&self, id: i64) -> Result<(), ControlError> {
        self.edit(async |store| Ok(store.delete_key(id).await?))
            .await
    }

    /// Clears a key's cooldowns and errors now.
    pub async fn clear_key(&self, id: i64) -> Result<KeyView, ControlError> {
        let view = self
            .key_view(id)
            .ok_or_else(|| ControlError::not_found(format!("key {id}")))?;
        self.engine.health.clear_key(id);
        Ok(self.view_of(&view.key))
    }

    /// Probes a key now (the model list), updates its health from the answer and says
    /// what the provider answered ("test connection").
    pub async fn probe_key(&self, id: i64) -> Result<KeyTest, ControlError> {
        let view = self
            .key_view(id)
            .ok_or_else(|| ControlError::not_found(format!("key {id}")))?;
        let entry = HealthEntry {
            scope: Scope::Key { key_id: id },
            provider: view.key.provider.clone(),
            state: HealthState::Probing,
            reason: None,
            until_ms: None,
            failures: 0,
        };
        let answer = self.engine.probe(&entry).await;
        if let Some(a) = &answer {
            self.note_probe(a);
        }
        let key = self
            .key_view(id)
            .ok_or_else(|| ControlError::not_found(format!("key {id}")))?;
        Ok(KeyTest { key, answer })
    }

    /// Probes every enabled key of a provider now ("test connection" on the provider).
    pub async fn test_provider(&self, name: &str) -> Result<Vec<KeyTest>, ControlError> {
        self.store
            .get_provider(name)
            .await?
            .ok_or_else(|| ControlError::not_found(format!("provider `{name}`")))?;
        let ids: Vec<i64> = self
            .key_views(Some(name))
            .into_iter()
            .filter(|v| v.key.enabled)
            .map(|v| v.key.id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.probe_key(id).await?);
        }
        Ok(out)
    }

    pub async fn routes(&self) -> Result<Vec<Route>, ControlError> {
        Ok(self.store.list_routes().await?)
    }

    /// Creates or replaces a route; every target must name an existing provider.
    pub async fn put_route(&self, r: Route) -> Result<Route, ControlError> {
        r.validate()?;
        self.edit(async |store| {
            let providers = store.list_providers().await?;
            for (i, t) in r.targets.iter().enumerate() {
                if !providers.iter().any(|p| p.name == t.provider) {
                    return Err(ControlError::invalid(
                        format!("targets[{i}].provider"),
                        format!("no provider named `{}`", t.provider),
                    ));
                }
            }
            Ok(store.upsert_route(&r).await?)
        })
        .await?;
        Ok(r)
    }

    pub async fn delete_route(&self, alias: &str) -> Result<(), ControlError> {
        self.edit(async |store| Ok(store.delete_route(alias).await?))
            .await
    }

    pub async fn settings(&self) -> Result<Settings, ControlError> {
        Ok(self.store.get_settings().await?)
    }

    pub async fn put_settings(&self, settings: Settings) -> Result<Settings, ControlError> {
        if settings.attempt_budget == 0 {
            return Err(ControlError::invalid(
                "attempt_budget",
                "must be at least 1",
            ));
        }
        if settings.body_limit_bytes < 1024 {
            return Err(ControlError::invalid(
                "body_limit_bytes",
                "must be at least 1024",
            ));
        }
        self.edit(async |store| Ok::<_, ControlError>(store.put_settings(&settings).await?))
            .await
    }

    /// The cooldown policy in force.
    pub fn cooldowns(&self) -> CooldownPolicy {
        self.engine.health.policy()
    }

    pub async fn put_cooldowns(&self, p: CooldownPolicy) -> Result<CooldownPolicy, ControlError> {
        let v =
            serde_json::to_value(p).map_err(|e| ControlError::invalid("body", e.to_string()))?;
        self.edit(async |store| Ok::<_, ControlError>(store.put_value(COOLDOWNS, &v).await?))
            .await?;
        Ok(p)
    }
}
