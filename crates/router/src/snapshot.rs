//! The immutable routing snapshot the hot path reads (DESIGN.md: an `Arc` swapped atomically
//! on change), and the choice of targets and keys for one request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::health::{Availability, HealthBoard};
use crate::model::{Config, KeyInfo, Provider, Route, Settings, Strategy, Target};
use crate::secret::Secret;

/// A key as the engine holds it: its secret and a live in-flight counter that survives
/// snapshot swaps (so counts stay right across config edits).
#[derive(Debug)]
pub struct KeyRt {
    pub info: KeyInfo,
    pub secret: Secret,
    pub in_flight: Arc<AtomicU32>,
}

#[derive(Debug)]
pub struct ProviderRt {
    pub provider: Provider,
    /// Enabled keys only.
    pub keys: Vec<Arc<KeyRt>>,
    /// Smooth weighted round robin state over `keys` (same order).
    swrr: Mutex<Vec<i64>>,
}

impl ProviderRt {
    pub fn in_flight(&self) -> u32 {
        self.keys
            .iter()
            .map(|k| k.in_flight.load(Ordering::Relaxed))
            .sum()
    }

    fn price(&self, model: &str) -> Option<f64> {
        let m = self.provider.models.iter().find(|m| m.id == model)?;
        match (m.input_price, m.output_price) {
            (None, None) => None,
            (i, o) => Some(i.unwrap_or(0.0) + o.unwrap_or(0.0)),
        }
    }
}

#[derive(Debug)]
pub struct RouteRt {
    pub route: Route,
    /// Whether the route was configured or inferred from a provider's model list.
    pub inferred: bool,
    rr: AtomicUsize,
    swrr: Mutex<Vec<i64>>,
}

impl RouteRt {
    fn new(route: Route, inferred: bool) -> Self {
        let n = route.targets.len();
        RouteRt {
            route,
            inferred,
            rr: AtomicUsize::new(0),
            swrr: Mutex::new(vec![0; n]),
        }
    }
}

/// Why a model name resolved to nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unroutable {
    UnknownModel,
    /// Served by several providers and no route says which.
    Ambiguous(Vec<String>),
}

/// Everything the hot path needs, immutable once built.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub providers: HashMap<String, Arc<ProviderRt>>,
    pub routes: HashMap<String, Arc<RouteRt>>,
    /// Model names served by exactly one enabled provider (and not an alias).
    direct: HashMap<String, Arc<RouteRt>>,
    ambiguous: HashMap<String, Vec<String>>,
    pub settings: Settings,
}

impl Snapshot {
    /// Builds a snapshot, carrying in-flight counters over from `previous`.
    pub fn build(config: &Config, previous: Option<&Snapshot>) -> Snapshot {
        let old_counters: HashMap<i64, Arc<AtomicU32>> = previous
            .map(|p| {
                p.providers
                    .values()
                    .flat_map(|prov| prov.keys.iter().map(|k| (k.info.id, k.in_flight.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let mut providers = HashMap::new();
        for p in &config.providers {
            let keys: Vec<Arc<KeyRt>> = config
                .keys
                .iter()
                .filter(|k| k.info.provider == p.name && k.info.enabled)
                .map(|k| {
                    Arc::new(KeyRt {
                        info: k.info.clone(),
                        secret: k.secret.clone(),
                        in_flight: old_counters.get(&k.info.id).cloned().unwrap_or_default(),
                    })
                })
                .collect();
            let n = keys.len();
            providers.insert(
                p.name.clone(),
                Arc::new(ProviderRt {
                    provider: p.clone(),
                    keys,
                    swrr: Mutex::new(vec![0; n]),
                }),
            );
        }
        let routes: HashMap<String, Arc<RouteRt>> = config
            .routes
            .iter()
            .map(|r| (r.alias.clone(), Arc::new(RouteRt::new(r.clone(), false))))
            .collect();
        let mut servers: HashMap<&str, Vec<&Provider>> = HashMap::new();
        for p in config.providers.iter().filter(|p| p.enabled) {
            for m in &p.models {
                let list = servers.entry(m.id.as_str()).or_default();
                if !list.iter().any(|q| q.name == p.name) {
                    list.push(p);
                }
            }
        }
        let mut direct = HashMap::new();
        let mut ambiguous = HashMap::new();
        for (model, provs) in servers {
            if routes.contains_key(model) {
                continue;
            }
            if let [p] = provs.as_slice() {
                let route = Route {
                    alias: model.to_owned(),
                    strategy: Strategy::Priority,
                    targets: vec![Target {
                        provider: p.name.clone(),
                        model: model.to_owned(),
                        priority: 0,
                        weight: 1,
                    }],
                };
                direct.insert(model.to_owned(), Arc::new(RouteRt::new(route, true)));
            } else {
                ambiguous.insert(
                    model.to_owned(),
                    provs.iter().map(|p| p.name.clone()).collect(),
                );
            }
        }
        Snapshot {
            providers,
            routes,
            direct,
            ambiguous,
            settings: config.settings.clone(),
        }
    }

    /// The route serving `model`: an alias, a model only one provider serves, or the default.
    pub fn resolve(&self, model: &str) -> Result<Arc<RouteRt>, Unroutable> {
        if let Some(r) = self.routes.get(model).or_else(|| self.direct.get(model)) {
            return Ok(r.clone());
        }
        if let Some(provs) = self.ambiguous.get(model) {
            return Err(Unroutable::Ambiguous(provs.clone()));
        }
        self.settings
            .default_route
            .as_deref()
            .and_then(|d| self.routes.get(d))
            .cloned()
            .ok_or(Unroutable::UnknownModel)
    }

    /// Every model name a client may send: aliases first, then directly served models.
    pub fn model_names(&self) -> Vec<(String, Option<u64>)> {
        let mut aliases: Vec<_> = self.routes.keys().cloned().collect();
        aliases.sort();
        let mut direct: Vec<_> = self.direct.keys().cloned().collect();
        direct.sort();
        let window = |model: &str| {
            self.providers
                .values()
                .flat_map(|p| p.provider.models.iter())
                .find(|m| m.id == model)
                .and_then(|m| m.context_window)
        };
        aliases
            .into_iter()
            .map(|a| {
                let w = self.routes.get(&a).and_then(|r| {
                    r.route
                        .targets
                        .iter()
                        .filter_map(|t| window(&t.model))
                        .min()
                });
                (a, w)
            })
            .chain(direct.into_iter().map(|m| {
                let w = window(&m);
                (m, w)
            }))
            .collect()
    }
}

/// Per-target latency memory for the `fastest` strategy; outlives snapshots.
#[derive(Debug, Default)]
pub struct LatencyBook {
    ewma_ms: Mutex<HashMap<(String, String), f64>>,
}

impl LatencyBook {
    const ALPHA: f64 = 0.2;

    pub fn observe(&self, provider: &str, model: &str, ttfb_ms: u64) {
        let mut map = self.ewma_ms.lock();
        let v = map
            .entry((provider.to_owned(), model.to_owned()))
            .or_insert(ttfb_ms as f64);
        *v = Self::ALPHA * ttfb_ms as f64 + (1.0 - Self::ALPHA) * *v;
    }

    fn get(&self, provider: &str, model: &str) -> Option<f64> {
        self.ewma_ms
            .lock()
            .get(&(provider.to_owned(), model.to_owned()))
            .copied()
    }
}

/// One smooth-weighted-round-robin step over `weights`, considering only `eligible` entries.
/// Returns the chosen index. Deterministic and exact: over any window of `sum(weights)`
/// picks each entry is chosen `weight` times.
fn swrr_pick(current: &mut [i64], weights: &[i64], eligible: &[bool]) -> Option<usize> {
    let total: i64 = weights
        .iter()
        .zip(eligible)
        .filter(|(_, e)| **e)
        .map(|(w, _)| *w)
        .sum();
    let mut best: Option<usize> = None;
    for i in 0..weights.len() {
        if !eligible[i] {
            continue;
        }
        current[i] += weights[i];
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let b = best?;
    current[b] -= total;
    Some(b)
}

/// The order in which a route's targets are tried for one request.
pub fn order_targets(
    route: &RouteRt,
    snapshot: &Snapshot,
    latency: &LatencyBook,
    explore: bool,
) -> Vec<Target> {
    let targets = &route.route.targets;
    let mut order: Vec<usize> = (0..targets.len()).collect();
    match route.route.strategy {
        Strategy::Priority => {
            // Tiers in order; within a tier, smooth weighted rotation.
            let first = weighted_first(route, targets);
            order.sort_by_key(|&i| (targets[i].priority, i != first, i));
        }
        Strategy::Weighted => {
            let first = weighted_first(route, targets);
            order.sort_by_key(|&i| (i != first, std::cmp::Reverse(targets[i].weight), i));
        }
        Strategy::RoundRobin => {
            let start = route.rr.fetch_add(1, Ordering::Relaxed) % targets.len().max(1);
            order.rotate_left(start);
        }
        Strategy::LeastBusy => {
            let load = |t: &Target| {
                snapshot.providers.get(&t.provider).map_or(f64::MAX, |p| {
                    f64::from(p.in_flight()) / f64::from(t.weight.max(1))
                })
            };
            order.sort_by(|&a, &b| {
                load(&targets[a])
                    .total_cmp(&load(&targets[b]))
                    .then(a.cmp(&b))
            });
        }
        Strategy::Fastest => {
            // Unmeasured targets count as fastest so each gets measured; `explore` promotes a
            // random one now and then so a recovered target can win again.
            let ms = |t: &Target| latency.get(&t.provider, &t.model).unwrap_or(0.0);
            order.sort_by(|&a, &b| ms(&targets[a]).total_cmp(&ms(&targets[b])).then(a.cmp(&b)));
            if explore && order.len() > 1 {
                let pick = rand::random_range(0..order.len());
                let chosen = order.remove(pick);
                order.insert(0, chosen);
            }
        }
        Strategy::Cheapest => {
            let price = |t: &Target| {
                snapshot
                    .providers
                    .get(&t.provider)
                    .and_then(|p| p.price(&t.model))
                    .unwrap_or(f64::MAX)
            };
            order.sort_by(|&a, &b| {
                price(&targets[a])
                    .total_cmp(&price(&targets[b]))
                    .then(a.cmp(&b))
            });
        }
    }
    order.into_iter().map(|i| targets[i].clone()).collect()
}

fn weighted_first(route: &RouteRt, targets: &[Target]) -> usize {
    let top = targets.iter().map(|t| t.priority).min().unwrap_or(0);
    let eligible: Vec<bool> = targets
        .iter()
        .map(|t| route.route.strategy != Strategy::Priority || t.priority == top)
        .collect();
    let weights: Vec<i64> = targets.iter().map(|t| i64::from(t.weight)).collect();
    let mut cur = route.swrr.lock();
    swrr_pick(&mut cur, &weights, &eligible).unwrap_or(0)
}

/// A key chosen for one attempt.
#[derive(Debug, Clone)]
pub struct Pick {
    pub key: Arc<KeyRt>,
    /// This attempt is the one live probe of a scope whose cooldown ended.
    pub probe: bool,
}

/// Chooses a usable key of `provider` for `model`: the affinity key if it is usable, else the
/// next in smooth weighted rotation among usable keys not yet tried by this request.
/// Returns the earliest recovery time among blocked keys when none is usable.
pub fn pick_key(
    provider: &ProviderRt,
    model: &str,
    health: &HealthBoard,
    tried: &[i64],
    preferred: Option<i64>,
) -> Result<Pick, Option<i64>> {
    let mut earliest: Option<i64> = None;
    let mut status = Vec::with_capacity(provider.keys.len());
    for k in &provider.keys {
        if tried.contains(&k.info.id) {
            status.push(None);
            continue;
        }
        // Checking availability may hand out the probe slot; do it once per key, in order.
        let a = health.check(&provider.provider.name, k.info.id, model);
        if let Availability::Blocked { until_ms } = a {
            if let Some(u) = until_ms {
                earliest = Some(earliest.map_or(u, |e| e.min(u)));
            }
            status.push(None);
        } else {
            status.push(Some(a == Availability::Probe));
        }
    }
    if let Some(pref) = preferred
        && let Some(i) = provider.keys.iter().position(|k| k.info.id == pref)
        && let Some(probe) = status[i]
    {
        return Ok(Pick {
            key: provider.keys[i].clone(),
            probe,
        });
    }
    let eligible: Vec<bool> = status.iter().map(Option::is_some).collect();
    let weights: Vec<i64> = provider
        .keys
        .iter()
        .map(|k| i64::from(k.info.weight.max(1)))
        .collect();
    let mut cur = provider.swrr.lock();
    if cur.len() != weights.len() {
        *cur = vec![0; weights.len()];
    }
    match swrr_pick(&mut cur, &weights, &eligible) {
        Some(i) => Ok(Pick {
            key: provider.keys[i].clone(),
            probe: status[i].unwrap_or(false),
        }),
        None => Err(earliest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swrr_is_exact_and_smooth() {
        let weights = [5, 1, 1];
        let mut cur = [0; 3];
        let picks: Vec<usize> = (0..7)
            .map(|_| swrr_pick(&mut cur, &weights, &[true; 3]).unwrap())
            .collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 5);
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0], "interleaved, not bursty");
        assert_eq!(swrr_pick(&mut cur, &weights, &[false; 3]), None);
        let mut cur = [0; 3];
        for _ in 0..10 {
            assert_ne!(swrr_pick(&mut cur, &weights, &[false, true, true]), Some(0));
        }
    }
}
