//! The engine: the current snapshot (swapped atomically, never locked on the hot path), the
//! health board, the affinity table, the upstream clients and the background prober.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard_protocol::Dialect;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::affinity::AffinityTable;
use crate::balance::{BalanceBoard, BalanceCheck, KeyBalance, Reading};
use crate::classify::{classify_status, provider_message};
use crate::clock::SharedClock;
use crate::cluster::Lease;
use crate::conversations::{Owner, ResponseStore};
use crate::health::{CooldownPolicy, HealthBoard, HealthEntry, Outcome, Scope};
use crate::log::AttemptOutcome;
use crate::model::{Config, ModelInfo, ModelSource};
use crate::record::RecordSink;
use crate::scrub::Scrubber;
use crate::snapshot::{KeyRt, LatencyBook, ProviderRt, Snapshot};
use crate::upstream::{
    ClientBuildError, Clients, Transport, Upstream, endpoint_url, models_url, request_headers,
};

#[derive(Debug)]
pub struct Engine {
    snapshot: ArcSwap<Snapshot>,
    pub health: Arc<HealthBoard>,
    pub(crate) latency: LatencyBook,
    pub(crate) affinity: AffinityTable,
    pub(crate) clients: Clients,
    pub(crate) sink: Arc<dyn RecordSink>,
    pub(crate) in_flight: Arc<AtomicU64>,
    pub(crate) clock: SharedClock,
    /// Responses conversations kept for `previous_response_id` on other upstreams.
    pub(crate) responses: Arc<ResponseStore>,
    /// This instance's id in the hop header (random per start).
    pub(crate) hop_id: String,
    /// Keys' balances, where their providers publish them.
    pub balances: BalanceBoard,
    /// The request inspector, while a capture window is set (`inspect.rs`).
    pub(crate) inspector: ArcSwapOption<crate::inspect::Inspector>,
}

/// Bytes of Responses conversations kept for `previous_response_id` (unless the host sets
/// another budget), and for how long.
pub const RESPONSES_BUDGET_BYTES: usize = 64 * 1024 * 1024;
const RESPONSES_TTL_MS: i64 = 6 * 3_600_000;

/// How often the balance checker looks for keys due a check.
const BALANCE_TICK: Duration = Duration::from_secs(5);

/// How often the prober looks for cooldowns that have ended.
const PROBE_TICK: Duration = Duration::from_millis(500);
/// A probe that takes longer than this counts as a temporary error.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

impl Engine {
    pub fn new(
        config: &Config,
        sink: Arc<dyn RecordSink>,
        clock: SharedClock,
        policy: CooldownPolicy,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            snapshot: ArcSwap::from_pointee(Snapshot::build(config, None)),
            health: Arc::new(HealthBoard::new(clock.clone(), policy)),
            latency: LatencyBook::default(),
            affinity: AffinityTable::default(),
            clients: Clients::default(),
            sink,
            in_flight: Arc::new(AtomicU64::new(0)),
            clock,
            responses: Arc::new(ResponseStore::new(RESPONSES_BUDGET_BYTES, RESPONSES_TTL_MS)),
            hop_id: format!("{:016x}", rand::random::<u64>()),
            balances: BalanceBoard::default(),
            inspector: ArcSwapOption::empty(),
        })
    }

    /// The clock the engine reads (cooldowns, capture windows).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// This instance's id in the `x-switchboard-hop` header of its upstream calls.
    pub fn hop_id(&self) -> &str {
        &self.hop_id
    }

    /// The current snapshot. Cheap: one atomic load and a reference count.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Installs a new configuration. Requests in flight finish on the snapshot they started
    /// with; health of keys that no longer exist is forgotten.
    pub fn reload(&self, config: &Config) {
        let next = Snapshot::build(config, Some(&self.snapshot.load()));
        let used = next.providers.values().map(|p| &p.network.key).collect();
        self.clients.retain(&used);
        self.snapshot.store(Arc::new(next));
        let ids: std::collections::HashSet<i64> = config.keys.iter().map(|k| k.info.id).collect();
        self.health.retain_keys(|id| ids.contains(&id));
        self.balances.retain_keys(|id| ids.contains(&id));
    }

    /// The pooled HTTP client of `prov`'s network setting: looked up once per snapshot.
    pub(crate) fn client(&self, prov: &ProviderRt) -> Result<Upstream, ClientBuildError> {
        prov.client
            .get_or_init(|| self.clients.get(&prov.network))
            .clone()
    }

    /// The longest wait a provider's reset hint may ask for: the cooldown policy's cap.
    pub(crate) fn max_hint(&self) -> Duration {
        Duration::from_millis(self.health.policy().max_hint_ms)
    }

    /// The memory budget of stored Responses conversations; the oldest are evicted to fit.
    pub fn set_conversation_budget(&self, bytes: usize) {
        self.responses.set_budget(bytes);
    }

    /// Bytes the stored Responses conversations hold now.
    pub fn conversation_bytes(&self) -> usize {
        self.responses.bytes()
    }

    /// The Responses object `owner` was sent under `id`, while its conversation is kept.
    pub fn stored_response(&self, owner: &Owner, id: &str) -> Option<String> {
        self.responses.response(owner, id, self.clock.now_ms())
    }

    /// Forgets `owner`'s kept conversation `id`; whether there was one.
    pub fn delete_response(&self, owner: &Owner, id: &str) -> bool {
        self.responses.delete(owner, id, self.clock.now_ms())
    }

    /// Requests being served right now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn restore_health(&self, entries: Vec<HealthEntry>) {
        self.health.restore(entries);
    }

    /// Runs the background prober until `stop` is cancelled: every scope whose cooldown has
    /// ended gets one cheap request (the model list for key-wide problems, a one-token
    /// completion for a key × model) that returns it to healthy or to a longer cooldown.
    pub async fn run_prober(self: Arc<Self>, stop: CancellationToken) {
        let mut probes = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(PROBE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    probes.shutdown().await;
                    return;
                }
                _ = tick.tick() => {}
            }
            // Probes run side by side (one slow provider must not delay the others) and are
            // owned here: stopping the prober aborts them.
            for entry in self.health.due_probes() {
                let engine = self.clone();
                probes.spawn(async move { engine.probe_due(&entry).await });
            }
            while probes.try_join_next().is_some() {}
        }
    }

    /// Runs the balance checker until `stop` is cancelled: every key of a provider that
    /// publishes balances is read when due (see [`crate::balance`]).
    pub async fn run_balance_checker(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(BALANCE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.check_balances() => {}
            }
        }
    }

    /// Reads the balance of every key that is due a check, and acts on it: a balance at or
    /// below the provider's threshold cools the key (`insufficient_balance`) until the next
    /// check; one above it ends such a cooldown.
    pub async fn check_balances(&self) {
        let snap = self.snapshot();
        for prov in snap.providers.values() {
            let Some(check) = BalanceCheck::of(&prov.provider) else {
                continue;
            };
            for key in &prov.keys {
                if !self.balances.due(key.info.id, self.clock.now_ms()) {
                    continue;
                }
                let balance = self.read_balance(prov, key, check).await;
                let name = &prov.provider.name;
                if balance.low {
                    tracing::info!(provider = %name, key_id = key.info.id, amount = ?balance.amount, "balance at or below the threshold; cooling the key");
                    let until_next = Duration::from_millis(
                        u64::try_from(crate::balance::CHECK_INTERVAL_MS).unwrap_or(0),
                    );
                    self.health.report(
                        name,
                        key.info.id,
                        "",
                        &Outcome::InsufficientBalance {
                            retry_after: Some(until_next),
                        },
                    );
                } else if balance.amount.is_some() {
                    self.health.clear_balance(name, key.info.id);
                }
                self.balances.set(key.info.id, balance);
            }
        }
    }

    async fn read_balance(
        &self,
        prov: &ProviderRt,
        key: &KeyRt,
        check: BalanceCheck,
    ) -> KeyBalance {
        let provider = &prov.provider;
        let checked_ms = self.clock.now_ms();
        let failed = |why: String| KeyBalance {
            amount: None,
            currency: None,
            low: false,
            checked_ms,
            error: Some(why),
        };
        let Ok(client) = self.client(prov) else {
            return failed("no HTTP client".into());
        };
        for url in check.urls(&provider.base_url) {
            let request = client.send(
                http::Method::GET,
                &url,
                request_headers(provider, &key.secret, &[]),
                Bytes::new(),
            );
            let resp = match tokio::time::timeout(PROBE_TIMEOUT, request).await {
                Ok(Ok(r)) => r,
                _ => return failed("the balance endpoint did not answer".into()),
            };
            let status = resp.status;
            if !resp.is_success() {
                return failed(format!("the balance endpoint answered {status}"));
            }
            let body = tokio::time::timeout(PROBE_TIMEOUT, resp.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|b| serde_json::from_slice(&b).ok());
            match body.and_then(|b| crate::balance::parse(check.api, &url, &b)) {
                Some(Reading::Amount { amount, currency }) => {
                    return KeyBalance {
                        amount: Some(amount),
                        currency: Some(currency),
                        low: amount <= check.min,
                        checked_ms,
                        error: None,
                    };
                }
                Some(Reading::Unknown) => continue,
                None => return failed("the balance endpoint's answer was not understood".into()),
            }
        }
        failed("no balance published for this key".into())
    }

    /// Probes a scope whose cooldown has ended: in team mode only under its lease (another
    /// instance holding it probes for the cluster, and its outcome arrives through the shared
    /// health).
    async fn probe_due(&self, entry: &HealthEntry) {
        let cluster = self.health.cluster();
        let lease = match cluster {
            Some(c) => c.lease_probe(entry).await,
            None => Lease::Unavailable,
        };
        if lease == Lease::Taken {
            self.health.defer_probe(&entry.scope);
            return;
        }
        self.probe(entry).await;
        if let (Some(c), Lease::Held) = (cluster, lease) {
            c.end_probe(entry).await;
        }
    }

    /// Probes one scope now (also used by the admin API's "probe now" and "test
    /// connection") and says what the provider answered; `None` when the key is gone.
    pub async fn probe(&self, entry: &HealthEntry) -> Option<ProbeAnswer> {
        let snap = self.snapshot();
        let prov = snap.providers.get(&entry.provider)?;
        let (key, model) = match &entry.scope {
            Scope::Key { key_id } => (find_key(prov, *key_id), None),
            Scope::KeyModel { key_id, model } => (find_key(prov, *key_id), Some(model.clone())),
            Scope::Provider { .. } => (prov.keys.first().cloned(), None),
        };
        let Some(key) = key else {
            // The key is gone or disabled: release the slot and let `reload` forget it.
            self.health
                .settle_probe(&entry.scope, &entry.provider, 0, &Outcome::Cancelled);
            return None;
        };
        let (outcome, answer) = self.send_probe(prov, &key, model.as_deref()).await;
        tracing::info!(provider = %entry.provider, key_id = key.info.id, ?outcome, "probe finished");
        self.health
            .settle_probe(&entry.scope, &entry.provider, key.info.id, &outcome);
        Some(answer)
    }

    /// Reads `provider`'s model list with its first enabled key, through the pooled clients
    /// the prober uses (model discovery). Says nothing about the key's health.
    pub async fn list_models(&self, provider: &str) -> Result<Vec<ModelInfo>, ListModelsError> {
        let snap = self.snapshot();
        let prov = snap
            .providers
            .get(provider)
            .ok_or(ListModelsError::UnknownProvider)?;
        let key = prov.keys.first().ok_or(ListModelsError::NoKey)?;
        let p = &prov.provider;
        let client = self
            .client(prov)
            .map_err(|_| ListModelsError::Unreachable(p.name.clone()))?;
        let url = models_url(p);
        let request = client.send(
            http::Method::GET,
            &url,
            request_headers(p, &key.secret, &[]),
            Bytes::new(),
        );
        let resp = tokio::time::timeout(PROBE_TIMEOUT, request)
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| ListModelsError::Unreachable(p.name.clone()))?;
        let status = resp.status;
        if !resp.is_success() {
            return Err(ListModelsError::Refused {
                provider: p.name.clone(),
                status,
            });
        }
        let body = tokio::time::timeout(PROBE_TIMEOUT, resp.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| ListModelsError::Unreachable(p.name.clone()))?;
        Ok(parse_model_list(&body))
    }

    async fn send_probe(
        &self,
        prov: &ProviderRt,
        key: &KeyRt,
        model: Option<&str>,
    ) -> (Outcome, ProbeAnswer) {
        let provider = &prov.provider;
        let unreachable = |why: &str| {
            let outcome = Outcome::TemporaryError { retry_after: None };
            let answer = ProbeAnswer {
                key_id: key.info.id,
                outcome: AttemptOutcome::from(&outcome),
                status: None,
                message: Some(why.to_owned()),
                retry_after_ms: None,
            };
            (outcome, answer)
        };
        let Ok(client) = self.client(prov) else {
            return unreachable("no HTTP client for this provider");
        };
        let headers = request_headers(provider, &key.secret, &[]);
        let (method, url, body) = match model {
            Some(m) => (
                http::Method::POST,
                endpoint_url(provider, m, false),
                probe_body(provider.kind, m),
            ),
            None => (http::Method::GET, models_url(provider), Bytes::new()),
        };
        let request = client.send(method, &url, headers, body);
        let mut resp = match tokio::time::timeout(PROBE_TIMEOUT, request).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(Transport::Connect)) => return unreachable("could not connect"),
            Ok(Err(_)) => return unreachable("the request failed before an answer"),
            Err(_) => return unreachable("no answer within 30 s"),
        };
        let status = resp.status;
        let headers = std::mem::take(&mut resp.headers);
        let body = tokio::time::timeout(PROBE_TIMEOUT, resp.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let body = &body[..body.len().min(64 * 1024)];
        let outcome = classify_status(status, &headers, body, self.clock.now_ms(), self.max_hint());
        let message = if status >= 400 {
            provider_message(&Scrubber::new(&key.secret).scrub(body))
        } else {
            None
        };
        let answer = ProbeAnswer {
            key_id: key.info.id,
            outcome: AttemptOutcome::from(&outcome),
            status: Some(status),
            message,
            retry_after_ms: outcome.retry_after().map(crate::record::millis),
        };
        (outcome, answer)
    }
}

/// What a probe's provider answered, in its own words (scrubbed of the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProbeAnswer {
    pub key_id: i64,
    /// How the answer classifies: `ok`, `auth_error`, `rate_limited`, ….
    #[schema(value_type = String)]
    pub outcome: AttemptOutcome,
    /// The upstream's HTTP status (`None`: no answer).
    pub status: Option<u16>,
    /// The provider's error message, or why there was no answer.
    pub message: Option<String>,
    /// The provider's reset hint, in ms.
    pub retry_after_ms: Option<u64>,
}

/// Why a model list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListModelsError {
    #[error("no such provider")]
    UnknownProvider,
    #[error("the provider has no enabled key to list models with")]
    NoKey,
    #[error("provider `{0}` could not be reached")]
    Unreachable(String),
    #[error("provider `{provider}` answered {status} to the model list")]
    Refused { provider: String, status: u16 },
}

/// The models in a model-list answer, in any dialect's shape (`data` or `models`, ids with
/// or without Gemini's `models/` prefix, the context window under any of its names).
fn parse_model_list(body: &[u8]) -> Vec<ModelInfo> {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(list) = body
        .get("data")
        .or_else(|| body.get("models"))
        .and_then(|v| v.as_array())
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|m| {
            let id = m.get("id").or_else(|| m.get("name"))?.as_str()?;
            let id = id.strip_prefix("models/").unwrap_or(id).to_owned();
            let window = [
                "context_window",
                "context_length",
                "inputTokenLimit",
                "max_context_length",
            ]
            .iter()
            .find_map(|k| m.get(*k).and_then(serde_json::Value::as_u64));
            Some(ModelInfo {
                id,
                context_window: window,
                source: ModelSource::Discovered,
                input_price: None,
                output_price: None,
                cache_read_price: None,
                cache_write_price: None,
                reasoning_price: None,
            })
        })
        .collect()
}

fn find_key(prov: &ProviderRt, key_id: i64) -> Option<Arc<KeyRt>> {
    prov.keys.iter().find(|k| k.info.id == key_id).cloned()
}

/// The cheapest real request a provider of `dialect` answers: one token of output.
fn probe_body(dialect: Dialect, model: &str) -> Bytes {
    let v = match dialect {
        Dialect::OpenaiChat => serde_json::json!({
            "model": model, "max_tokens": 1, "stream": false,
            "messages": [{"role": "user", "content": "ping"}],
        }),
        Dialect::OpenaiResponses => serde_json::json!({
            "model": model, "max_output_tokens": 16, "input": "ping", "store": false,
        }),
        Dialect::Anthropic => serde_json::json!({
            "model": model, "max_tokens": 1,
            "messages": [{"role": "user", "content": "ping"}],
        }),
        Dialect::Gemini => serde_json::json!({
            "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
            "generationConfig": {"maxOutputTokens": 1},
        }),
    };
    Bytes::from(v.to_string())
}
