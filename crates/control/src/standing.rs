//! Key standings: each key's health as the router judges it ([`HealthBoard::standing`]),
//! the counts and overall state every view shows, and the stream of standing changes.
//!
//! [`HealthBoard::standing`]: switchboard_router::health::HealthBoard::standing

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use switchboard_router::engine::ProbeAnswer;
use switchboard_router::log::{AttemptOutcome, AttemptRecord, RequestRecord};

use serde::{Deserialize, Serialize};
use switchboard_router::KeyInfo;
use switchboard_router::balance::KeyBalance;
use switchboard_router::health::{
    Availability, HealthEvent, HealthState, KeyStanding, Scope, StandingClass,
};
use switchboard_router::quota::QuotaWindow;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::Control;

/// A key with its standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    #[serde(flatten)]
    pub key: KeyInfo,
    #[serde(flatten)]
    pub standing: KeyStanding,
    /// The quota its provider announced in rate-limit headers, per upstream model (empty
    /// until an answer carried some, and again after the windows reset).
    #[serde(default)]
    pub quota: Vec<QuotaWindow>,
    /// Its last balance check, for providers that publish balances.
    #[serde(default)]
    pub balance: Option<KeyBalance>,
    /// What the provider said the last time the key failed (a request's attempt or a probe),
    /// in its own words, scrubbed of secrets; cleared when the key next works.
    #[serde(default)]
    pub last_error: Option<ProbeAnswer>,
}

/// What providers last said about each key, in memory (a restart forgets the words; the
/// standing itself is persisted).
#[derive(Debug, Default)]
pub struct KeySaid {
    by_key: Mutex<HashMap<i64, ProbeAnswer>>,
    /// Whether `by_key` may hold anything: a record of working keys takes no lock.
    any: AtomicBool,
}

impl KeySaid {
    /// Notes a request's attempts: a failure the provider answered is kept, a success clears.
    pub(crate) fn note_attempts(&self, rec: &RequestRecord) {
        let failed = |a: &AttemptRecord| {
            matches!(
                a.outcome,
                AttemptOutcome::RateLimited
                    | AttemptOutcome::AuthError
                    | AttemptOutcome::InsufficientBalance
                    | AttemptOutcome::TemporaryError
            )
        };
        if !self.any.load(Ordering::Relaxed) && !rec.attempts.iter().any(failed) {
            return;
        }
        let mut by_key = self.by_key.lock();
        for a in &rec.attempts {
            let Some(key_id) = a.key_id else { continue };
            if failed(a) {
                by_key.insert(
                    key_id,
                    ProbeAnswer {
                        key_id,
                        outcome: a.outcome,
                        status: a.status,
                        message: a.message.clone(),
                        retry_after_ms: a.retry_after_ms,
                    },
                );
            } else if a.outcome == AttemptOutcome::Ok {
                by_key.remove(&key_id);
            }
        }
        self.any.store(!by_key.is_empty(), Ordering::Relaxed);
    }

    /// Notes a probe's answer.
    pub(crate) fn note_probe(&self, answer: &ProbeAnswer) {
        let mut by_key = self.by_key.lock();
        if answer.outcome == AttemptOutcome::Ok {
            by_key.remove(&answer.key_id);
        } else {
            by_key.insert(answer.key_id, answer.clone());
            self.any.store(true, Ordering::Relaxed);
        }
    }

    fn of(&self, key_id: i64) -> Option<ProbeAnswer> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.by_key.lock().get(&key_id).cloned()
    }
}

/// Enabled keys by standing class (a disabled key is the user's choice, not a health
/// problem: it is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub keys: usize,
    pub healthy: usize,
    pub cooling: usize,
    pub down: usize,
}

/// The state of the whole router, as the tray icon shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverallState {
    /// Routing is switched off or the listener is stopped.
    RoutingOff,
    /// Every key is usable.
    AllHealthy,
    /// Some keys are cooling or failing, something can still be served.
    SomeCooling,
    /// No key can serve anything (or none is configured).
    NothingUsable,
}

/// Counts, overall state and the aliases nothing can serve now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    /// Routing is on and the listener runs.
    pub routing: bool,
    pub counts: Counts,
    pub state: OverallState,
    /// Configured aliases none of whose targets has a usable key right now, sorted.
    pub unusable_aliases: Vec<String>,
}

/// A key's standing changed (`event: standing` on `/api/v1/health/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StandingChanged {
    pub key_id: i64,
    pub provider: String,
    pub label: String,
    pub from: KeyStanding,
    pub to: KeyStanding,
}

impl Control {
    pub(crate) fn standing_of(&self, key: &KeyInfo) -> KeyStanding {
        if key.enabled {
            self.engine.health.standing(&key.provider, key.id)
        } else {
            KeyStanding::disabled()
        }
    }

    /// Every key with its standing, in the store's order; `provider` filters.
    pub fn key_views(&self, provider: Option<&str>) -> Vec<KeyView> {
        let keys = self.keys.read().clone();
        keys.iter()
            .filter(|k| provider.is_none_or(|p| k.provider == p))
            .map(|k| self.view_of(k))
            .collect()
    }

    /// One key with its standing.
    pub fn key_view(&self, key_id: i64) -> Option<KeyView> {
        let keys = self.keys.read().clone();
        keys.iter()
            .find(|k| k.id == key_id)
            .map(|k| self.view_of(k))
    }

    /// A key with its standing, what its provider last said, its announced quota and balance.
    pub(crate) fn view_of(&self, k: &KeyInfo) -> KeyView {
        let standing = self.standing_of(k);
        // Words about a failure are shown while the key is not (known to be) healthy.
        let last_error = match standing.state {
            HealthState::Healthy | HealthState::Untested => None,
            _ => self.said.of(k.id),
        };
        let engine = &self.engine;
        KeyView {
            key: k.clone(),
            standing,
            last_error,
            quota: engine.health.quota.windows(k.id, engine.health.now_ms()),
            balance: engine.balances.get(k.id),
        }
    }

    pub(crate) fn note_probe(&self, answer: &ProbeAnswer) {
        self.said.note_probe(answer);
    }

    /// Counts, overall state and unusable aliases, from the same standings as
    /// [`Control::key_views`].
    pub fn summary(&self) -> Summary {
        let mut counts = Counts::default();
        for v in self.key_views(None).iter().filter(|v| v.key.enabled) {
            counts.keys += 1;
            match v.standing.class() {
                StandingClass::Healthy => counts.healthy += 1,
                StandingClass::Cooling => counts.cooling += 1,
                StandingClass::Down => counts.down += 1,
            }
        }
        let snap = self.engine.snapshot();
        let health = &self.engine.health;
        let unusable: BTreeSet<String> = snap
            .routes
            .values()
            .filter(|r| {
                !r.route.targets.iter().any(|t| {
                    snap.providers.get(&t.provider).is_some_and(|p| {
                        p.provider.enabled
                            && p.keys.iter().any(|k| {
                                !matches!(
                                    health.peek(&t.provider, k.info.id, &t.model),
                                    Availability::Blocked { .. }
                                )
                            })
                    })
                })
            })
            .map(|r| r.route.alias.clone())
            .collect();
        let routing = self.routing_enabled() && self.listening();
        let state = if !routing {
            OverallState::RoutingOff
        } else if counts.keys > 0 && counts.healthy == counts.keys {
            OverallState::AllHealthy
        } else if counts.healthy == 0 && unusable.len() == snap.routes.len() {
            // No key is fully healthy and no alias can be served (keys cooling for one model
            // may still serve another alias: that is "some cooling").
            OverallState::NothingUsable
        } else {
            OverallState::SomeCooling
        };
        Summary {
            routing,
            counts,
            state,
            unusable_aliases: unusable.into_iter().collect(),
        }
    }

    /// Standing changes as they happen. A receiver that lags gets `Lagged` and should
    /// re-read [`Control::key_views`].
    pub fn subscribe_standings(&self) -> broadcast::Receiver<StandingChanged> {
        self.changes.subscribe()
    }

    /// Recomputes the standings of `only` (all keys when `None`), publishes the ones that
    /// changed and remembers them. Keys that are gone are forgotten silently.
    pub(crate) fn restand(&self, only: Option<&dyn Fn(&KeyInfo) -> bool>) {
        let keys = self.keys.read().clone();
        let mut last = self.standings.lock();
        if only.is_none() {
            last.retain(|id, _| keys.iter().any(|k| k.id == *id));
        }
        for k in keys.iter().filter(|k| only.is_none_or(|f| f(k))) {
            let now = self.standing_of(k);
            let from = last.insert(k.id, now.clone());
            match from {
                Some(from) if from != now => {
                    // Nobody listening is fine: the tray or the dashboard may be closed.
                    let _ = self.changes.send(StandingChanged {
                        key_id: k.id,
                        provider: k.provider.clone(),
                        label: k.label.clone(),
                        from,
                        to: now,
                    });
                }
                _ => {}
            }
        }
    }

    /// Follows the health bus until `stop`: each transition recomputes the standings of the
    /// keys it touches (every key of the provider for a breaker) and publishes the changes.
    /// A lag on the bus recomputes every key, so no final state is missed.
    pub async fn run_standings(self: Arc<Self>, stop: CancellationToken) {
        let Some(mut rx) = self.health_rx.lock().take() else {
            return;
        };
        loop {
            let ev = tokio::select! {
                () = stop.cancelled() => return,
                ev = rx.recv() => ev,
            };
            match ev {
                Ok(ev) => self.restand_for(&ev),
                Err(RecvError::Lagged(_)) => self.restand(None),
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn restand_for(&self, ev: &HealthEvent) {
        match &ev.scope {
            Scope::Key { key_id } | Scope::KeyModel { key_id, .. } => {
                let id = *key_id;
                self.restand(Some(&move |k: &KeyInfo| k.id == id));
            }
            Scope::Provider { provider } => {
                self.restand(Some(&|k: &KeyInfo| &k.provider == provider));
            }
        }
    }
}
