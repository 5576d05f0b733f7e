//! Key health: where a failure applies, how long it lasts, and who hears about it.
//!
//! Failures are tracked at the scope they belong to (DESIGN.md "Key health and failover"):
//! auth and balance errors per key; rate limits and model errors per key × upstream model;
//! outages per provider (a circuit breaker fed by consecutive temporary errors). When a
//! cooldown ends the entry becomes `probing`: the background prober or one live request (never
//! two at once) decides between healthy and a longer cooldown. In team mode, with probe leases
//! in force ([`crate::cluster`]), only the prober of the instance holding a scope's lease
//! probes it; live requests are told to come back shortly. Every transition is published on a
//! broadcast bus.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::cluster::Cluster;
use crate::quota::QuotaBoard;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoolReason {
    RateLimited,
    InsufficientBalance,
    TemporaryError,
}

impl CoolReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CoolReason::RateLimited => "rate_limited",
            CoolReason::InsufficientBalance => "insufficient_balance",
            CoolReason::TemporaryError => "temporary_error",
        }
    }
}

/// The state of one scope, as the admin API and the dashboard show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    /// Added and never used or probed: usable, but nothing has said the key works yet.
    Untested,
    Cooling,
    AuthError,
    Probing,
    Disabled,
}

/// What a failure is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    Key { key_id: i64 },
    KeyModel { key_id: i64, model: String },
    Provider { provider: String },
}

impl Scope {
    pub fn key_id(&self) -> Option<i64> {
        match self {
            Scope::Key { key_id } | Scope::KeyModel { key_id, .. } => Some(*key_id),
            Scope::Provider { .. } => None,
        }
    }
}

/// How an attempt ended, classified once (see [`crate::classify`]) and acted on here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// 429: cool this key for this model for the hint (or the default).
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// 401/403: the key is wrong or revoked.
    AuthError,
    /// 402 or an insufficient-quota body.
    InsufficientBalance {
        retry_after: Option<Duration>,
    },
    /// 5xx, connect error, timeout, empty stream, in-band error before content.
    TemporaryError {
        retry_after: Option<Duration>,
    },
    /// The client's own mistake (other 4xx): nobody is blamed.
    ClientError,
    /// The client went away; says nothing about the key.
    Cancelled,
}

impl Outcome {
    /// The provider's reset hint, when the outcome carries one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::RateLimited { retry_after }
            | Outcome::InsufficientBalance { retry_after }
            | Outcome::TemporaryError { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Cooldown lengths per reason; settings users can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CooldownPolicy {
    /// Used when a 429 carries no reset hint.
    pub rate_limited_ms: u64,
    pub insufficient_balance_ms: u64,
    /// First temporary-error cooldown; doubled on each repeat up to `temporary_max_ms`.
    pub temporary_base_ms: u64,
    pub temporary_max_ms: u64,
    /// Upper bound on any provider-supplied reset hint (a sanity cap).
    pub max_hint_ms: u64,
    /// Consecutive temporary errors across a provider's keys that open its breaker.
    pub breaker_threshold: u32,
    pub breaker_open_ms: u64,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        CooldownPolicy {
            rate_limited_ms: 60_000,
            insufficient_balance_ms: 3_600_000,
            temporary_base_ms: 5_000,
            temporary_max_ms: 300_000,
            max_hint_ms: 6 * 3_600_000,
            breaker_threshold: 8,
            breaker_open_ms: 30_000,
        }
    }
}

/// One health transition, as published on the bus and streamed to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthEvent {
    #[serde(flatten)]
    pub scope: Scope,
    /// Provider the key belongs to (for key scopes, too: the dashboard groups by it).
    pub provider: String,
    pub state: HealthState,
    pub reason: Option<CoolReason>,
    /// Unix ms when a cooling scope may be tried again.
    pub until_ms: Option<i64>,
    pub at_ms: i64,
}

/// A persisted or displayed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthEntry {
    #[serde(flatten)]
    pub scope: Scope,
    pub provider: String,
    pub state: HealthState,
    pub reason: Option<CoolReason>,
    pub until_ms: Option<i64>,
    /// Consecutive failures, for exponential backoff.
    pub failures: u32,
}

/// May this key be used for this model right now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Usable,
    /// Usable as the one live probe of a scope whose cooldown ended; report the outcome.
    Probe,
    /// Not before `until_ms` (`None`: not until a user acts, e.g. an auth error).
    Blocked {
        until_ms: Option<i64>,
    },
}

/// Which scope a key's standing comes from (`key`, `key_model`, `provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StandingScope {
    Key,
    KeyModel,
    Provider,
}

/// How a key stands overall, in three classes every view counts the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StandingClass {
    /// Usable for every model.
    Healthy,
    /// Comes back on its own: cooling or probing, for one model, as a whole, or because its
    /// provider's breaker is open.
    Cooling,
    /// Needs the user: a failed authentication, or disabled.
    Down,
}

/// A key's health as the router applies it: the worst of its key-wide, per-model and
/// provider-breaker scopes (see `HealthBoard::standing`). The one judgement the admin API,
/// the tray and the dashboard show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyStanding {
    pub state: HealthState,
    /// Derived from `state`: what the key's problem asks of the user.
    pub class: StandingClass,
    pub reason: Option<CoolReason>,
    /// The scope the state comes from (`None` when healthy or disabled).
    pub scope: Option<StandingScope>,
    /// The upstream model, for a `key_model` scope.
    pub model: Option<String>,
    /// Unix ms when a cooling scope may be tried again.
    pub until_ms: Option<i64>,
}

impl KeyStanding {
    fn new(
        state: HealthState,
        reason: Option<CoolReason>,
        scope: Option<StandingScope>,
        model: Option<String>,
        until_ms: Option<i64>,
    ) -> Self {
        KeyStanding {
            state,
            class: class_of(state),
            reason,
            scope,
            model,
            until_ms,
        }
    }

    pub fn healthy() -> Self {
        KeyStanding::new(HealthState::Healthy, None, None, None, None)
    }

    /// A key the user switched off (the board does not know about it: it is configuration).
    pub fn disabled() -> Self {
        KeyStanding::new(HealthState::Disabled, None, None, None, None)
    }

    pub fn class(&self) -> StandingClass {
        self.class
    }
}

fn class_of(state: HealthState) -> StandingClass {
    match state {
        HealthState::Healthy | HealthState::Untested => StandingClass::Healthy,
        HealthState::Cooling | HealthState::Probing => StandingClass::Cooling,
        HealthState::AuthError | HealthState::Disabled => StandingClass::Down,
    }
}

#[derive(Debug, Clone)]
struct Entry {
    provider: String,
    state: HealthState,
    reason: Option<CoolReason>,
    until_ms: Option<i64>,
    failures: u32,
    probe_in_flight: bool,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Scope, Entry>,
    /// Consecutive temporary errors per provider since its last success, and the keys they
    /// came from.
    streaks: HashMap<String, Streak>,
}

#[derive(Debug, Default)]
struct Streak {
    errors: u32,
    keys: std::collections::HashSet<i64>,
}

/// The health of every scope. Cheap to query: one short critical section, no I/O, no await.
#[derive(Debug)]
pub struct HealthBoard {
    inner: Mutex<Inner>,
    /// The quota each key × model has left, as announced by its provider: read with health
    /// by [`crate::snapshot::pick_key`].
    pub quota: QuotaBoard,
    policy: Mutex<CooldownPolicy>,
    events: broadcast::Sender<HealthEvent>,
    /// Transitions other instances observed and this board applied (team mode), for the
    /// dashboard's feed only: nothing that persists, alerts or republishes listens here.
    remote: broadcast::Sender<HealthEvent>,
    clock: SharedClock,
    /// Team mode: the instances' shared probe leases and key slots (see [`crate::cluster`]).
    cluster: OnceLock<Arc<dyn Cluster>>,
}

impl HealthBoard {
    pub fn new(clock: SharedClock, policy: CooldownPolicy) -> Self {
        let (events, _) = broadcast::channel(1024);
        let (remote, _) = broadcast::channel(1024);
        HealthBoard {
            inner: Mutex::new(Inner::default()),
            quota: QuotaBoard::default(),
            policy: Mutex::new(policy),
            events,
            remote,
            clock,
            cluster: OnceLock::new(),
        }
    }

    /// Installs team mode's coordination (once, before the prober starts); later calls are
    /// ignored.
    pub fn set_cluster(&self, cluster: Arc<dyn Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    pub fn cluster(&self) -> Option<&Arc<dyn Cluster>> {
        self.cluster.get()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent> {
        self.events.subscribe()
    }

    /// The transitions [`HealthBoard::apply_remote`] applied (another instance observed them).
    pub fn subscribe_remote(&self) -> broadcast::Receiver<HealthEvent> {
        self.remote.subscribe()
    }

    pub fn set_policy(&self, policy: CooldownPolicy) {
        *self.policy.lock() = policy;
    }

    pub fn policy(&self) -> CooldownPolicy {
        *self.policy.lock()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Can `key_id` of `provider` serve `model` now? A scope whose cooldown has ended turns
    /// into `probing` and hands out exactly one `Probe` until its outcome is reported.
    pub fn check(&self, provider: &str, key_id: i64, model: &str) -> Availability {
        self.availability(provider, key_id, model, true)
    }

    /// Like [`HealthBoard::check`] without claiming a probe slot: for views ("what would
    /// happen now?"), never for dispatch.
    pub fn peek(&self, provider: &str, key_id: i64, model: &str) -> Availability {
        self.availability(provider, key_id, model, false)
    }

    fn availability(&self, provider: &str, key_id: i64, model: &str, claim: bool) -> Availability {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        if inner.entries.is_empty() {
            return Availability::Usable;
        }
        let scopes = [
            Scope::Provider {
                provider: provider.to_owned(),
            },
            Scope::Key { key_id },
            Scope::KeyModel {
                key_id,
                model: model.to_owned(),
            },
        ];
        let mut result = Availability::Usable;
        let mut probe_scope = None;
        for scope in scopes {
            let Some(entry) = inner.entries.get(&scope) else {
                continue;
            };
            match availability(entry, now) {
                Availability::Usable => {}
                Availability::Blocked { until_ms } => return Availability::Blocked { until_ms },
                Availability::Probe => {
                    result = Availability::Probe;
                    probe_scope = Some(scope);
                }
            }
        }
        if let Some(scope) = probe_scope.filter(|_| claim) {
            // Leased probes are the prober's: a live request comes back shortly instead.
            if self.cluster.get().is_some_and(|c| c.leases_probes()) {
                return Availability::Blocked {
                    until_ms: Some(now.saturating_add(PROBE_PENDING_MS)),
                };
            }
            let events = self.mark_probing(&mut inner, &scope, now);
            drop(inner);
            self.publish(events);
        }
        result
    }

    /// How `key_id` of `provider` stands overall, by the rule [`HealthBoard::check`] applies:
    /// its provider's breaker, its key-wide scope and its per-model scopes. The worst wins:
    /// a state that needs the user, then a key-wide cooldown (provider or key), then the
    /// per-model cooldown that ends last. A scope whose cooldown has ended is `probing`: the
    /// next request (or the prober) tries it. No side effects.
    pub fn standing(&self, provider: &str, key_id: i64) -> KeyStanding {
        let now = self.clock.now_ms();
        let inner = self.inner.lock();
        if inner.entries.is_empty() {
            return KeyStanding::healthy();
        }
        let provider_scope = Scope::Provider {
            provider: provider.to_owned(),
        };
        let key_scope = Scope::Key { key_id };
        let wide = [
            (&provider_scope, StandingScope::Provider),
            (&key_scope, StandingScope::Key),
        ];
        let wide = wide
            .into_iter()
            .filter_map(|(scope, kind)| Some((kind, None, inner.entries.get(scope)?)));
        let per_model = inner.entries.iter().filter_map(|(scope, e)| match scope {
            Scope::KeyModel { key_id: k, model } if *k == key_id => {
                Some((StandingScope::KeyModel, Some(model), e))
            }
            _ => None,
        });
        wide.chain(per_model)
            .filter_map(|(kind, model, e)| {
                let state = match (e.state, availability(e, now)) {
                    (HealthState::Untested, _) => HealthState::Untested,
                    (HealthState::Healthy, _) | (_, Availability::Usable) => return None,
                    (_, Availability::Probe) => HealthState::Probing,
                    (state, Availability::Blocked { .. }) => state,
                };
                // "Untested" only when nothing else is known (a provider's breaker says more).
                let rank = (
                    state != HealthState::Untested,
                    class_of(state) == StandingClass::Down,
                    kind != StandingScope::KeyModel,
                    e.until_ms.unwrap_or(i64::MAX),
                    std::cmp::Reverse(model),
                );
                Some((rank, kind, model, e, state))
            })
            // The first of equal ranks wins (the provider before the key); equal per-model
            // cooldowns go to the first model by name, so the standing does not flap.
            .fold(
                None,
                |best: Option<(_, _, _, &Entry, _)>, cur| match &best {
                    Some(b) if b.0 >= cur.0 => best,
                    _ => Some(cur),
                },
            )
            .map_or_else(KeyStanding::healthy, |(_, kind, model, e, state)| {
                if state == HealthState::Untested {
                    return KeyStanding::new(state, None, None, None, None);
                }
                KeyStanding::new(state, e.reason, Some(kind), model.cloned(), e.until_ms)
            })
    }

    /// Records how an attempt went and applies the transition it implies.
    pub fn report(&self, provider: &str, key_id: i64, model: &str, outcome: &Outcome) {
        let mut inner = self.inner.lock();
        // A success while no scope has an entry or an error streak clears nothing: the usual
        // case, answered without building the scopes it would look up.
        if matches!(outcome, Outcome::Success)
            && inner.entries.is_empty()
            && inner.streaks.is_empty()
        {
            return;
        }
        let now = self.clock.now_ms();
        let policy = self.policy();
        let mut events = Vec::new();
        let key_scope = Scope::Key { key_id };
        let model_scope = Scope::KeyModel {
            key_id,
            model: model.to_owned(),
        };
        let provider_scope = Scope::Provider {
            provider: provider.to_owned(),
        };
        // Any answer from the provider means the key was tried: it is no longer untested (an
        // auth or balance error replaces the entry itself, below).
        if !matches!(
            outcome,
            Outcome::Cancelled | Outcome::AuthError | Outcome::InsufficientBalance { .. }
        ) && inner
            .entries
            .get(&key_scope)
            .is_some_and(|e| e.state == HealthState::Untested)
        {
            inner.entries.remove(&key_scope);
            events.push(event(
                &key_scope,
                provider,
                HealthState::Healthy,
                None,
                None,
                now,
            ));
        }
        match outcome {
            Outcome::Success => {
                inner.streaks.remove(provider);
                for scope in [provider_scope, key_scope, model_scope] {
                    if inner.entries.remove(&scope).is_some() {
                        events.push(event(
                            &scope,
                            provider,
                            HealthState::Healthy,
                            None,
                            None,
                            now,
                        ));
                    }
                }
            }
            Outcome::RateLimited { retry_after } => {
                let ms = hint_or(*retry_after, policy.rate_limited_ms, policy.max_hint_ms);
                events.push(cool(
                    &mut inner,
                    model_scope,
                    provider,
                    CoolReason::RateLimited,
                    |_| ms,
                    now,
                ));
            }
            Outcome::InsufficientBalance { retry_after } => {
                let ms = hint_or(
                    *retry_after,
                    policy.insufficient_balance_ms,
                    policy.max_hint_ms,
                );
                events.push(cool(
                    &mut inner,
                    key_scope,
                    provider,
                    CoolReason::InsufficientBalance,
                    |_| ms,
                    now,
                ));
            }
            Outcome::AuthError => {
                let entry = Entry {
                    provider: provider.to_owned(),
                    state: HealthState::AuthError,
                    reason: None,
                    until_ms: None,
                    failures: 1,
                    probe_in_flight: false,
                };
                inner.entries.insert(key_scope.clone(), entry);
                events.push(event(
                    &key_scope,
                    provider,
                    HealthState::AuthError,
                    None,
                    None,
                    now,
                ));
            }
            Outcome::TemporaryError { retry_after } => {
                let base = policy.temporary_base_ms;
                let max = policy.temporary_max_ms;
                let hint = retry_after.map(|d| clamp_ms(d, policy.max_hint_ms));
                events.push(cool(
                    &mut inner,
                    model_scope,
                    provider,
                    CoolReason::TemporaryError,
                    |failures| hint.unwrap_or_else(|| backoff(base, max, failures)),
                    now,
                ));
                let streak = inner.streaks.entry(provider.to_owned()).or_default();
                streak.errors += 1;
                streak.keys.insert(key_id);
                // An outage, not one bad key (its own cooldown handles that): the errors come
                // from more than one key.
                if streak.errors >= policy.breaker_threshold && streak.keys.len() >= 2 {
                    *streak = Streak::default();
                    let open = policy.breaker_open_ms;
                    events.push(cool(
                        &mut inner,
                        provider_scope,
                        provider,
                        CoolReason::TemporaryError,
                        |failures| backoff(open, max.max(open), failures),
                        now,
                    ));
                }
            }
            Outcome::ClientError | Outcome::Cancelled => {
                // Nothing learned about the key; a probe that ended this way may be retried.
                for scope in [key_scope, model_scope, provider_scope] {
                    if let Some(entry) = inner.entries.get_mut(&scope) {
                        entry.probe_in_flight = false;
                    }
                }
            }
        }
        drop(inner);
        self.publish(events);
    }

    /// Applies a probe's outcome to the scope that was probed. A key-wide or provider probe
    /// (the model list) has no model, so its failures must land on that scope itself, never
    /// on a `key × ""` scope; and whatever the outcome, the probe slot is released. A 4xx the
    /// provider blames on the request (say, no model-list endpoint) means the key was accepted.
    pub fn settle_probe(&self, scope: &Scope, provider: &str, key_id: i64, outcome: &Outcome) {
        let outcome = match outcome {
            Outcome::ClientError => Outcome::Success,
            o => o.clone(),
        };
        if let Scope::KeyModel { model, .. } = scope {
            self.report(provider, key_id, model, &outcome);
            return;
        }
        let now = self.clock.now_ms();
        let policy = self.policy();
        let mut events = Vec::new();
        let mut inner = self.inner.lock();
        match &outcome {
            Outcome::Success => {
                inner.streaks.remove(provider);
                if inner.entries.remove(scope).is_some() {
                    events.push(event(
                        scope,
                        provider,
                        HealthState::Healthy,
                        None,
                        None,
                        now,
                    ));
                }
            }
            Outcome::AuthError | Outcome::InsufficientBalance { .. }
                if matches!(scope, Scope::Key { .. }) =>
            {
                drop(inner);
                self.report(provider, key_id, "", &outcome);
                return;
            }
            Outcome::RateLimited { retry_after } => {
                let ms = hint_or(*retry_after, policy.rate_limited_ms, policy.max_hint_ms);
                events.push(cool(
                    &mut inner,
                    scope.clone(),
                    provider,
                    CoolReason::RateLimited,
                    |_| ms,
                    now,
                ));
            }
            Outcome::Cancelled => {
                if let Some(entry) = inner.entries.get_mut(scope) {
                    entry.probe_in_flight = false;
                }
            }
            // Temporary errors, and auth or balance errors seen by a provider-wide probe: the
            // scope stays closed for longer.
            _ => {
                let base = match scope {
                    Scope::Provider { .. } => policy.breaker_open_ms,
                    _ => policy.temporary_base_ms,
                };
                let max = policy.temporary_max_ms.max(base);
                events.push(cool(
                    &mut inner,
                    scope.clone(),
                    provider,
                    CoolReason::TemporaryError,
                    |failures| backoff(base, max, failures),
                    now,
                ));
            }
        }
        drop(inner);
        self.publish(events);
    }

    /// Clears every cooldown and error of a key (a user edit, "clear cooldown", or a
    /// successful probe). An untested key stays untested: clearing says nothing about it.
    pub fn clear_key(&self, key_id: i64) {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let scopes: Vec<Scope> = inner
            .entries
            .iter()
            .filter(|(s, e)| s.key_id() == Some(key_id) && e.state != HealthState::Untested)
            .map(|(s, _)| s.clone())
            .collect();
        let mut events = Vec::new();
        for scope in scopes {
            if let Some(entry) = inner.entries.remove(&scope) {
                events.push(event(
                    &scope,
                    &entry.provider,
                    HealthState::Healthy,
                    None,
                    None,
                    now,
                ));
            }
        }
        drop(inner);
        self.publish(events);
    }

    /// Marks a key as never used or probed (a key just added, or given a new secret), until
    /// a request or a probe says how it stands.
    pub fn mark_untested(&self, provider: &str, key_id: i64) {
        let now = self.clock.now_ms();
        let scope = Scope::Key { key_id };
        let entry = Entry {
            provider: provider.to_owned(),
            state: HealthState::Untested,
            reason: None,
            until_ms: None,
            failures: 0,
            probe_in_flight: false,
        };
        self.inner.lock().entries.insert(scope.clone(), entry);
        self.publish([event(
            &scope,
            provider,
            HealthState::Untested,
            None,
            None,
            now,
        )]);
    }

    /// Forgets keys that no longer exist.
    /// `key_id` was found with enough balance: a balance cooldown on it ends now.
    pub fn clear_balance(&self, provider: &str, key_id: i64) {
        let now = self.clock.now_ms();
        let scope = Scope::Key { key_id };
        let mut inner = self.inner.lock();
        let cleared = inner
            .entries
            .get(&scope)
            .is_some_and(|e| e.reason == Some(CoolReason::InsufficientBalance));
        if !cleared {
            return;
        }
        inner.entries.remove(&scope);
        drop(inner);
        self.publish(vec![event(
            &scope,
            provider,
            HealthState::Healthy,
            None,
            None,
            now,
        )]);
    }

    pub fn retain_keys(&self, exists: impl Fn(i64) -> bool) {
        self.quota.retain_keys(&exists);
        self.inner
            .lock()
            .entries
            .retain(|scope, _| scope.key_id().is_none_or(&exists));
    }

    /// Scopes whose cooldown has ended and that nobody is probing: the background prober's
    /// work list. They are marked `probing` as they are handed out.
    pub fn due_probes(&self) -> Vec<HealthEntry> {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let due: Vec<Scope> = inner
            .entries
            .iter()
            .filter(|(_, e)| availability(e, now) == Availability::Probe)
            .map(|(s, _)| s.clone())
            .collect();
        let mut events = Vec::new();
        for scope in &due {
            events.extend(self.mark_probing(&mut inner, scope, now));
        }
        let out = due
            .into_iter()
            .filter_map(|s| inner.entries.get(&s).map(|e| to_entry(&s, e)))
            .collect();
        drop(inner);
        self.publish(events);
        out
    }

    /// Another instance holds the lease of `scope`'s probe: it stays probing here, without a
    /// probe in flight, until the outcome arrives from the other instance (or the prober takes
    /// the lease once it has expired).
    pub fn defer_probe(&self, scope: &Scope) {
        if let Some(entry) = self.inner.lock().entries.get_mut(scope) {
            entry.probe_in_flight = false;
        }
    }

    /// The entry of one scope, `None` when it is healthy.
    pub fn entry(&self, scope: &Scope) -> Option<HealthEntry> {
        self.inner
            .lock()
            .entries
            .get(scope)
            .map(|e| to_entry(scope, e))
    }

    /// Every non-healthy scope, for the admin API and persistence.
    pub fn entries(&self) -> Vec<HealthEntry> {
        let inner = self.inner.lock();
        let mut out: Vec<HealthEntry> = inner.entries.iter().map(|(s, e)| to_entry(s, e)).collect();
        out.sort_by(|a, b| format!("{:?}", a.scope).cmp(&format!("{:?}", b.scope)));
        out
    }

    /// Restores persisted entries (at start). A scope that was `probing` when the process
    /// stopped comes back as a cooldown that has just ended, so it is probed again.
    pub fn restore(&self, entries: Vec<HealthEntry>) {
        let mut inner = self.inner.lock();
        for e in entries {
            let state = if e.state == HealthState::Probing {
                HealthState::Cooling
            } else {
                e.state
            };
            inner.entries.insert(
                e.scope,
                Entry {
                    provider: e.provider,
                    state,
                    reason: e.reason,
                    until_ms: e.until_ms,
                    failures: e.failures,
                    probe_in_flight: false,
                },
            );
        }
    }

    /// Applies a transition another instance observed (team mode's shared health): a
    /// cooldown until its absolute end, an auth error, or a recovery. It is not a local
    /// failure (no failure is counted beyond what the origin reported) and it is not published
    /// on this board's bus, so it never travels back to where it came from. Other states
    /// (probing, untested, disabled) stay local. What changed the board is announced on
    /// [`HealthBoard::subscribe_remote`].
    pub fn apply_remote(&self, e: &HealthEvent) {
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock();
        let applied = match e.state {
            HealthState::Cooling if e.until_ms.is_some_and(|until| until > now) => {
                let failures = inner.entries.get(&e.scope).map_or(1, |x| x.failures.max(1));
                inner.entries.insert(
                    e.scope.clone(),
                    Entry {
                        provider: e.provider.clone(),
                        state: HealthState::Cooling,
                        reason: e.reason,
                        until_ms: e.until_ms,
                        failures,
                        probe_in_flight: false,
                    },
                );
                true
            }
            HealthState::AuthError => {
                inner.entries.insert(
                    e.scope.clone(),
                    Entry {
                        provider: e.provider.clone(),
                        state: HealthState::AuthError,
                        reason: None,
                        until_ms: None,
                        failures: 1,
                        probe_in_flight: false,
                    },
                );
                true
            }
            HealthState::Healthy
                if inner
                    .entries
                    .get(&e.scope)
                    .is_some_and(|x| x.state != HealthState::Untested) =>
            {
                inner.entries.remove(&e.scope);
                true
            }
            _ => false,
        };
        drop(inner);
        if applied {
            // No subscriber is fine: the dashboard may not be open.
            let _ = self.remote.send(e.clone());
        }
    }

    /// The earliest time any of `scopes`' blocks end, for "retry after" answers.
    pub fn earliest_recovery(until: impl IntoIterator<Item = Option<i64>>) -> Option<i64> {
        until.into_iter().flatten().min()
    }

    fn mark_probing(&self, inner: &mut Inner, scope: &Scope, now: i64) -> Option<HealthEvent> {
        let entry = inner.entries.get_mut(scope)?;
        entry.probe_in_flight = true;
        if entry.state == HealthState::Probing {
            return None;
        }
        entry.state = HealthState::Probing;
        Some(event(
            scope,
            &entry.provider.clone(),
            HealthState::Probing,
            entry.reason,
            None,
            now,
        ))
    }

    fn publish(&self, events: impl IntoIterator<Item = HealthEvent>) {
        for e in events {
            tracing::info!(scope = ?e.scope, provider = %e.provider, state = ?e.state, reason = ?e.reason, until_ms = ?e.until_ms, "key health changed");
            // No subscriber is fine: the dashboard or tray may not be open.
            let _ = self.events.send(e);
        }
    }
}

/// While the one probe of an ended cooldown is out, other requests are told to come back
/// this much later: the probe settles it within a request's time. Reporting no end at all
/// would read as "disabled or failed authentication" to the client.
const PROBE_PENDING_MS: i64 = 1_000;

fn availability(entry: &Entry, now: i64) -> Availability {
    match entry.state {
        HealthState::Healthy | HealthState::Untested => Availability::Usable,
        HealthState::Disabled | HealthState::AuthError => Availability::Blocked { until_ms: None },
        HealthState::Cooling | HealthState::Probing => match entry.until_ms {
            Some(until) if until > now => Availability::Blocked {
                until_ms: Some(until),
            },
            _ if entry.probe_in_flight => Availability::Blocked {
                until_ms: Some(now.saturating_add(PROBE_PENDING_MS)),
            },
            _ => Availability::Probe,
        },
    }
}

fn cool(
    inner: &mut Inner,
    scope: Scope,
    provider: &str,
    reason: CoolReason,
    duration_ms: impl FnOnce(u32) -> u64,
    now: i64,
) -> HealthEvent {
    let failures = inner
        .entries
        .get(&scope)
        .filter(|e| e.reason == Some(reason))
        .map_or(0, |e| e.failures)
        + 1;
    let until = now.saturating_add(i64::try_from(duration_ms(failures)).unwrap_or(i64::MAX));
    inner.entries.insert(
        scope.clone(),
        Entry {
            provider: provider.to_owned(),
            state: HealthState::Cooling,
            reason: Some(reason),
            until_ms: Some(until),
            failures,
            probe_in_flight: false,
        },
    );
    event(
        &scope,
        provider,
        HealthState::Cooling,
        Some(reason),
        Some(until),
        now,
    )
}

fn event(
    scope: &Scope,
    provider: &str,
    state: HealthState,
    reason: Option<CoolReason>,
    until_ms: Option<i64>,
    at_ms: i64,
) -> HealthEvent {
    HealthEvent {
        scope: scope.clone(),
        provider: provider.to_owned(),
        state,
        reason,
        until_ms,
        at_ms,
    }
}

fn to_entry(scope: &Scope, e: &Entry) -> HealthEntry {
    HealthEntry {
        scope: scope.clone(),
        provider: e.provider.clone(),
        state: e.state,
        reason: e.reason,
        until_ms: e.until_ms,
        failures: e.failures,
    }
}

fn clamp_ms(d: Duration, cap_ms: u64) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(cap_ms)
}

fn hint_or(hint: Option<Duration>, default_ms: u64, cap_ms: u64) -> u64 {
    hint.map_or(default_ms, |d| clamp_ms(d, cap_ms))
}

/// `base · 2^(failures-1)`, capped.
fn backoff(base_ms: u64, max_ms: u64, failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(20);
    base_ms.saturating_mul(1u64 << shift).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn board() -> (HealthBoard, ManualClock) {
        let clock = ManualClock::new(1_000_000);
        (
            HealthBoard::new(Arc::new(clock.clone()), CooldownPolicy::default()),
            clock,
        )
    }

    #[test]
    fn rate_limit_cools_key_for_model_then_probes_once() {
        let (b, clock) = board();
        let mut rx = b.subscribe();
        b.report(
            "p",
            1,
            "m",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
        );
        assert_eq!(
            b.check("p", 1, "m"),
            Availability::Blocked {
                until_ms: Some(1_007_000)
            }
        );
        assert_eq!(
            b.check("p", 1, "other"),
            Availability::Usable,
            "other models unaffected"
        );
        assert_eq!(
            b.check("p", 2, "m"),
            Availability::Usable,
            "other keys unaffected"
        );
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.state, HealthState::Cooling);
        assert_eq!(ev.reason, Some(CoolReason::RateLimited));
        assert_eq!(ev.until_ms, Some(1_007_000));

        clock.advance_ms(7_000);
        assert_eq!(b.check("p", 1, "m"), Availability::Probe);
        assert_eq!(rx.try_recv().unwrap().state, HealthState::Probing);
        assert_eq!(
            b.check("p", 1, "m"),
            Availability::Blocked {
                until_ms: Some(1_008_000)
            },
            "one probe at a time; the others come back shortly, not told the key is dead"
        );
        b.report("p", 1, "m", &Outcome::Success);
        assert_eq!(b.check("p", 1, "m"), Availability::Usable);
        assert_eq!(rx.try_recv().unwrap().state, HealthState::Healthy);
    }

    /// Team mode with probe leases in force (the answers do not matter here: the board only
    /// asks whether leases are in force).
    #[derive(Debug)]
    struct Leasing(std::sync::atomic::AtomicBool);

    impl Cluster for Leasing {
        fn leases_probes(&self) -> bool {
            self.0.load(std::sync::atomic::Ordering::Relaxed)
        }
        fn lease_probe<'a>(
            &'a self,
            _: &'a HealthEntry,
        ) -> futures_util::future::BoxFuture<'a, crate::cluster::Lease> {
            Box::pin(async { crate::cluster::Lease::Taken })
        }
        fn end_probe<'a>(&'a self, _: &'a HealthEntry) -> futures_util::future::BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn key_slot<'a>(
            &'a self,
            _: &'a str,
            _: i64,
            _: u32,
        ) -> futures_util::future::BoxFuture<'a, crate::cluster::Slot> {
            Box::pin(async { crate::cluster::Slot::Busy })
        }
    }

    #[test]
    fn with_leased_probes_only_the_prober_probes_and_a_deferred_scope_comes_back_due() {
        let (b, clock) = board();
        let leasing = Arc::new(Leasing(std::sync::atomic::AtomicBool::new(true)));
        b.set_cluster(leasing.clone());
        b.report(
            "p",
            1,
            "m",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(5)),
            },
        );
        clock.advance_ms(5_000);
        let now = clock.now_ms();
        assert_eq!(
            b.check("p", 1, "m"),
            Availability::Blocked {
                until_ms: Some(now + PROBE_PENDING_MS)
            },
            "a live request does not probe a leased scope; it comes back shortly"
        );
        let due = b.due_probes();
        assert_eq!(due.len(), 1, "the prober gets it");
        assert!(b.due_probes().is_empty(), "once");
        // Another instance holds the lease: the scope stays probing and is due again.
        b.defer_probe(&due[0].scope);
        assert_eq!(b.standing("p", 1).state, HealthState::Probing);
        assert_eq!(b.due_probes().len(), 1);
        // The holder's outcome arrives.
        b.apply_remote(&HealthEvent {
            scope: due[0].scope.clone(),
            provider: "p".into(),
            state: HealthState::Healthy,
            reason: None,
            until_ms: None,
            at_ms: now,
        });
        assert_eq!(b.check("p", 1, "m"), Availability::Usable);

        // Leases not in force (the shared server is down): a live request probes as alone.
        leasing.0.store(false, std::sync::atomic::Ordering::Relaxed);
        b.report("p", 1, "m", &Outcome::RateLimited { retry_after: None });
        clock.advance_ms(i64::try_from(b.policy().rate_limited_ms).unwrap());
        assert_eq!(b.check("p", 1, "m"), Availability::Probe);
    }

    #[test]
    fn auth_error_blocks_until_cleared() {
        let (b, clock) = board();
        b.report("p", 1, "m", &Outcome::AuthError);
        clock.advance_ms(10 * 3_600_000);
        assert_eq!(
            b.check("p", 1, "any"),
            Availability::Blocked { until_ms: None }
        );
        b.clear_key(1);
        assert_eq!(b.check("p", 1, "any"), Availability::Usable);
    }

    #[test]
    fn temporary_errors_back_off_exponentially_and_open_the_breaker() {
        let (b, clock) = board();
        let policy = b.policy();
        b.report("p", 1, "m", &Outcome::TemporaryError { retry_after: None });
        let first = b.entries()[0].until_ms.unwrap() - clock.now_ms();
        clock.advance_ms(first);
        assert_eq!(b.check("p", 1, "m"), Availability::Probe);
        b.report("p", 1, "m", &Outcome::TemporaryError { retry_after: None });
        let second = b.entries()[0].until_ms.unwrap() - clock.now_ms();
        assert_eq!(second, first * 2);
        for key in 10..(10 + i64::from(policy.breaker_threshold)) {
            b.report(
                "p",
                key,
                "m",
                &Outcome::TemporaryError { retry_after: None },
            );
        }
        assert!(
            matches!(b.check("p", 99, "fresh"), Availability::Blocked { .. }),
            "breaker open"
        );
        assert_eq!(b.check("q", 99, "fresh"), Availability::Usable);
    }

    #[test]
    fn hints_are_capped_and_client_errors_blame_nobody() {
        let (b, clock) = board();
        b.report(
            "p",
            1,
            "m",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(10 * 86_400)),
            },
        );
        let until = b.entries()[0].until_ms.unwrap();
        assert_eq!(
            until - clock.now_ms(),
            i64::try_from(b.policy().max_hint_ms).unwrap()
        );
        b.report("p", 2, "m", &Outcome::ClientError);
        assert_eq!(b.check("p", 2, "m"), Availability::Usable);
    }

    #[test]
    fn a_failed_key_or_breaker_probe_recools_the_probed_scope() {
        let (b, clock) = board();
        let policy = b.policy();
        b.report(
            "p",
            1,
            "m",
            &Outcome::InsufficientBalance {
                retry_after: Some(Duration::from_secs(10)),
            },
        );
        clock.advance_ms(10_000);
        let due = b.due_probes();
        assert_eq!(due[0].scope, Scope::Key { key_id: 1 });
        b.settle_probe(
            &due[0].scope,
            "p",
            1,
            &Outcome::TemporaryError { retry_after: None },
        );
        let entries = b.entries();
        assert_eq!(entries.len(), 1, "no stray key × \"\" scope: {entries:?}");
        assert_eq!(entries[0].scope, Scope::Key { key_id: 1 });
        assert_eq!(entries[0].state, HealthState::Cooling);
        assert!(matches!(
            b.check("p", 1, "m"),
            Availability::Blocked { until_ms: Some(_) }
        ));
        clock.advance_ms(i64::try_from(policy.temporary_max_ms).unwrap());
        assert_eq!(b.due_probes().len(), 1, "probed again later, not stuck");

        for key in 10..(10 + i64::from(policy.breaker_threshold)) {
            b.report(
                "q",
                key,
                "m",
                &Outcome::TemporaryError { retry_after: None },
            );
        }
        clock.advance_ms(i64::try_from(policy.breaker_open_ms).unwrap());
        let due: Vec<_> = b
            .due_probes()
            .into_iter()
            .filter(|e| e.provider == "q")
            .collect();
        let breaker = due
            .iter()
            .find(|e| matches!(e.scope, Scope::Provider { .. }))
            .unwrap();
        b.settle_probe(&breaker.scope, "q", 10, &Outcome::ClientError);
        assert_eq!(
            b.check("q", 99, "fresh"),
            Availability::Usable,
            "a 4xx probe answer closes the breaker"
        );
    }

    #[test]
    fn restore_round_trips_and_probing_becomes_due() {
        let (b, clock) = board();
        b.report("p", 1, "m", &Outcome::AuthError);
        b.report(
            "p",
            2,
            "m",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(5)),
            },
        );
        let saved = serde_json::to_string(&b.entries()).unwrap();
        let b2 = HealthBoard::new(Arc::new(clock.clone()), CooldownPolicy::default());
        b2.restore(serde_json::from_str(&saved).unwrap());
        assert_eq!(b2.entries(), b.entries());
        assert_eq!(
            b2.check("p", 1, "m"),
            Availability::Blocked { until_ms: None }
        );
        assert!(b2.due_probes().is_empty());
        clock.advance_ms(5_000);
        let due = b2.due_probes();
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].scope,
            Scope::KeyModel {
                key_id: 2,
                model: "m".into()
            }
        );
        assert_eq!(due[0].state, HealthState::Probing);
        assert!(b2.due_probes().is_empty(), "handed out once");
    }
    #[test]
    fn standing_takes_the_worst_scope_including_the_provider_breaker() {
        let (b, _clock) = board();
        let policy = b.policy();
        assert_eq!(b.standing("p", 1), KeyStanding::healthy());
        b.report(
            "p",
            1,
            "m",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
        );
        let s = b.standing("p", 1);
        assert_eq!(s.state, HealthState::Cooling);
        assert_eq!(s.class(), StandingClass::Cooling);
        assert_eq!(s.scope, Some(StandingScope::KeyModel));
        assert_eq!(s.model.as_deref(), Some("m"));
        assert_eq!(s.until_ms, Some(1_007_000));
        assert_eq!(b.standing("p", 2), KeyStanding::healthy());

        // The breaker: a key with no entry of its own stands as its provider does.
        for key in 10..(10 + i64::from(policy.breaker_threshold)) {
            b.report(
                "p",
                key,
                "m",
                &Outcome::TemporaryError { retry_after: None },
            );
        }
        let s = b.standing("p", 99);
        assert_eq!(s.scope, Some(StandingScope::Provider));
        assert_eq!(s.state, HealthState::Cooling);
        assert_eq!(s.reason, Some(CoolReason::TemporaryError));
        assert_eq!(s.class(), StandingClass::Cooling);
        assert_eq!(
            b.standing("p", 1).scope,
            Some(StandingScope::Provider),
            "a key-wide block outranks a per-model one"
        );
        assert_eq!(b.standing("q", 99), KeyStanding::healthy());

        b.report("p", 1, "m", &Outcome::AuthError);
        let s = b.standing("p", 1);
        assert_eq!(
            (s.state, s.class(), s.scope),
            (
                HealthState::AuthError,
                StandingClass::Down,
                Some(StandingScope::Key)
            )
        );
        assert_eq!(
            KeyStanding::disabled().class(),
            StandingClass::Down,
            "disabled needs the user"
        );
    }

    #[test]
    fn an_ended_cooldown_stands_as_probing_and_peek_agrees() {
        let (b, clock) = board();
        b.report(
            "p",
            1,
            "m",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(5)),
            },
        );
        b.report(
            "p",
            1,
            "n",
            &Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(9)),
            },
        );
        assert_eq!(
            b.standing("p", 1).model.as_deref(),
            Some("n"),
            "the cooldown that ends last"
        );
        clock.advance_ms(9_000);
        let s = b.standing("p", 1);
        assert_eq!(s.state, HealthState::Probing);
        assert_eq!(s.class(), StandingClass::Cooling);
        assert_eq!(b.peek("p", 1, "m"), Availability::Probe);
        assert_eq!(b.standing("p", 1), s, "standing claims no probe slot");
        b.report("p", 1, "m", &Outcome::Success);
        b.report("p", 1, "n", &Outcome::Success);
        assert_eq!(b.standing("p", 1), KeyStanding::healthy());
    }

    #[test]
    fn a_remote_cooldown_blocks_until_its_end_without_an_event() {
        let (b, clock) = board();
        let mut rx = b.subscribe();
        let mut remote = b.subscribe_remote();
        let now = b.now_ms();
        let cooled = HealthEvent {
            scope: Scope::KeyModel {
                key_id: 1,
                model: "m".into(),
            },
            provider: "p".into(),
            state: HealthState::Cooling,
            reason: Some(CoolReason::RateLimited),
            until_ms: Some(now + 30_000),
            at_ms: now,
        };
        b.apply_remote(&cooled);
        assert_eq!(
            b.check("p", 1, "m"),
            Availability::Blocked {
                until_ms: Some(now + 30_000)
            }
        );
        assert_eq!(b.check("p", 1, "other"), Availability::Usable);
        assert!(rx.try_recv().is_err(), "a remote change is not republished");
        assert_eq!(
            remote.try_recv().ok(),
            Some(cooled.clone()),
            "but it is announced"
        );
        // An ended remote cooldown is ignored; a recovery clears the scope.
        let mut stale = cooled.clone();
        stale.scope = Scope::Key { key_id: 2 };
        stale.until_ms = Some(now - 1);
        b.apply_remote(&stale);
        assert_eq!(b.check("p", 2, "m"), Availability::Usable);
        assert!(
            remote.try_recv().is_err(),
            "an ended cooldown changed nothing"
        );
        b.apply_remote(&HealthEvent {
            state: HealthState::Healthy,
            reason: None,
            until_ms: None,
            ..cooled.clone()
        });
        assert_eq!(b.check("p", 1, "m"), Availability::Usable);
        // Applied again and left to run out, it is probed like a local one.
        b.apply_remote(&cooled);
        clock.advance_ms(31_000);
        assert_eq!(b.check("p", 1, "m"), Availability::Probe);
        assert_eq!(b.entry(&cooled.scope).map(|e| e.failures), Some(1));
    }

    #[test]
    fn an_added_key_is_untested_until_an_answer_says_otherwise() {
        let (b, _clock) = board();
        let mut rx = b.subscribe();
        b.mark_untested("p", 1);
        b.mark_untested("p", 2);
        b.mark_untested("p", 3);
        let s = b.standing("p", 1);
        assert_eq!(s.state, HealthState::Untested);
        assert_eq!(
            s.class(),
            StandingClass::Healthy,
            "an untested key is usable"
        );
        assert_eq!(b.check("p", 1, "m"), Availability::Usable);
        // A success makes it healthy (and says so on the bus, so the change is persisted).
        b.report("p", 1, "m", &Outcome::Success);
        assert_eq!(b.standing("p", 1), KeyStanding::healthy());
        let evs: Vec<HealthEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(evs.last().map(|e| e.state), Some(HealthState::Healthy));
        // A failed authentication makes it an auth error, with no "healthy" in between.
        b.settle_probe(&Scope::Key { key_id: 2 }, "p", 2, &Outcome::AuthError);
        assert_eq!(b.standing("p", 2).state, HealthState::AuthError);
        let evs: Vec<HealthEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            evs.iter().map(|e| e.state).collect::<Vec<_>>(),
            [HealthState::AuthError]
        );
        // A cancelled attempt says nothing; a rate limit says the key was accepted.
        b.report("p", 3, "m", &Outcome::Cancelled);
        assert_eq!(b.standing("p", 3).state, HealthState::Untested);
        b.report("p", 3, "m", &Outcome::RateLimited { retry_after: None });
        assert_eq!(b.standing("p", 3).state, HealthState::Cooling);
        assert!(b.entry(&Scope::Key { key_id: 3 }).is_none());
        // Clearing a key's cooldowns does not make it tested.
        b.mark_untested("p", 4);
        b.clear_key(4);
        assert_eq!(b.standing("p", 4).state, HealthState::Untested);
    }
}
