//! The immutable routing snapshot the hot path reads (DESIGN.md: an `Arc` swapped atomically
//! on change), and the choice of targets and keys for one request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::health::{Availability, HealthBoard};
use crate::model::{Config, KeyInfo, Provider, Route, Settings, Strategy, Target};
use crate::pricing::{ModelCard, PriceTable, model_card};
use crate::scrub::Scrubber;
use crate::secret::Secret;
use crate::upstream::{ClientBuildError, Network};

/// A key as the engine holds it: its secret and a live in-flight counter that survives
/// snapshot swaps (so counts stay right across config edits).
#[derive(Debug)]
pub struct KeyRt {
    pub info: KeyInfo,
    pub secret: Secret,
    pub in_flight: Arc<AtomicU32>,
    /// Built on the key's first attempt and shared by the ones after it (a snapshot of many
    /// keys does not pay for those never used).
    scrubber: OnceLock<Arc<Scrubber>>,
}

impl KeyRt {
    /// The scrubber of this key's echoes.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.scrubber
            .get_or_init(|| Arc::new(Scrubber::new(&self.secret)))
            .clone()
    }
}

#[derive(Debug)]
pub struct ProviderRt {
    pub provider: Provider,
    /// How this provider reaches the network (its proxy resolved against the global one).
    pub network: Network,
    /// The pooled client for `network`, taken from the engine's pools once per snapshot.
    pub(crate) client: OnceLock<Result<crate::upstream::Upstream, ClientBuildError>>,
    /// Enabled keys only.
    pub keys: Vec<Arc<KeyRt>>,
    /// One full cycle of smooth weighted round robin over `keys` (indexes into `keys`),
    /// computed when the snapshot is built, and a cursor into it: picking a key then costs the
    /// same with 10 keys or 1,000 (only the keys visited are checked for health). Empty when
    /// the cycle would be longer than [`SCHEDULE_CAP`]; `swrr` is used then.
    schedule: Vec<u32>,
    cursor: AtomicUsize,
    /// Smooth weighted round robin state over `keys` (same order), for the fallback.
    swrr: Mutex<Vec<i64>>,
    /// Key id → index in `keys`, for the affinity key.
    index: HashMap<i64, usize>,
}

impl ProviderRt {
    pub fn in_flight(&self) -> u32 {
        self.keys
            .iter()
            .map(|k| k.in_flight.load(Ordering::Relaxed))
            .sum()
    }

    /// What is known of `model` here: this provider's own entry over the price table's.
    pub fn card(&self, model: &str, prices: &PriceTable) -> ModelCard {
        model_card(prices, &self.provider, model)
    }
}

#[derive(Debug)]
pub struct RouteRt {
    pub route: Route,
    /// Whether the route was configured or inferred from a provider's model list.
    pub inferred: bool,
    rr: AtomicUsize,
    swrr: Mutex<Vec<i64>>,
    /// The targets' weights, and which of them the weighted rotation picks among (the top
    /// priority tier under `priority`, all of them under `weighted`): fixed per snapshot.
    weights: Vec<i64>,
    eligible: Vec<bool>,
    /// Where its held requests wait their turn (a snapshot's routes start with empty lines:
    /// requests held across a configuration change finish in the old one).
    pub line: crate::line::Line,
}

impl RouteRt {
    fn new(route: Route, inferred: bool) -> Self {
        let targets = &route.targets;
        let top = targets.iter().map(|t| t.priority).min().unwrap_or(0);
        let eligible = targets
            .iter()
            .map(|t| route.strategy != Strategy::Priority || t.priority == top)
            .collect();
        let weights = targets.iter().map(|t| i64::from(t.weight)).collect();
        RouteRt {
            swrr: Mutex::new(vec![0; targets.len()]),
            rr: AtomicUsize::new(0),
            weights,
            eligible,
            route,
            inferred,
            line: crate::line::Line::default(),
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
    /// Model prices and limits.
    pub prices: Arc<PriceTable>,
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
                        scrubber: OnceLock::new(),
                    })
                })
                .collect();
            let n = keys.len();
            let schedule = key_schedule(&keys);
            let index = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.info.id, i))
                .collect();
            providers.insert(
                p.name.clone(),
                Arc::new(ProviderRt {
                    provider: p.clone(),
                    network: Network::of(p, config),
                    client: OnceLock::new(),
                    keys,
                    schedule,
                    cursor: AtomicUsize::new(0),
                    swrr: Mutex::new(vec![0; n]),
                    index,
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
                        context_window: None,
                    }],
                    hedge_after_ms: None,
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
            prices: config.prices.clone(),
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

    /// The routes with requests waiting in their line (see [`crate::line`]), by alias or model,
    /// and how many.
    pub fn waiting(&self) -> Vec<(String, usize)> {
        self.routes
            .iter()
            .chain(&self.direct)
            .filter_map(|(name, r)| {
                let n = r.line.queued();
                (n > 0).then(|| (name.clone(), n))
            })
            .collect()
    }

    /// Every model name a client may send: aliases first, then directly served models.
    pub fn model_names(&self) -> Vec<(String, Option<u64>)> {
        let mut aliases: Vec<_> = self.routes.keys().cloned().collect();
        aliases.sort();
        let mut direct: Vec<_> = self.direct.keys().cloned().collect();
        direct.sort();
        aliases
            .into_iter()
            .chain(direct)
            .map(|name| {
                let w = self.limits(&name).context_window;
                (name, w)
            })
            .collect()
    }

    /// The limits of the route serving `model`: the smallest context window and the smallest
    /// output limit among its targets that state one — what every one of them can take.
    pub fn limits(&self, model: &str) -> RouteLimits {
        let Ok(route) = self.resolve(model) else {
            return RouteLimits::default();
        };
        let mut out = RouteLimits::default();
        for t in &route.route.targets {
            let Some(provider) = self.providers.get(&t.provider) else {
                continue;
            };
            let window = known_window(t, provider, &self.prices);
            let output = provider.card(&t.model, &self.prices).max_output;
            out.context_window = min_known(out.context_window, window);
            out.max_output = min_known(out.max_output, output);
        }
        out
    }
}

fn min_known(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a route's targets can all take; `None` where no target states a limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteLimits {
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
}

/// A target's configured context window: its own, else its provider's model entry. Only a
/// configured window skips targets before sending (the check decodes the whole request to
/// estimate its tokens, a cost paid only where the user stated a window).
pub fn target_window(target: &Target, provider: &ProviderRt) -> Option<u64> {
    target.context_window.or_else(|| {
        provider
            .provider
            .models
            .iter()
            .find(|m| m.id == target.model)
            .and_then(|m| m.context_window)
    })
}

/// A target's context window as far as anything knows: configured, else the price table's.
pub fn known_window(target: &Target, provider: &ProviderRt, prices: &PriceTable) -> Option<u64> {
    target_window(target, provider).or_else(|| provider.card(&target.model, prices).context_window)
}

/// Per-target latency memory for the `fastest` strategy; outlives snapshots. Keyed by
/// provider, then model: a request's observation looks its entry up without allocating.
#[derive(Debug, Default)]
pub struct LatencyBook {
    ewma_ms: Mutex<HashMap<String, HashMap<String, f64>>>,
}

impl LatencyBook {
    const ALPHA: f64 = 0.2;

    pub fn observe(&self, provider: &str, model: &str, ttfb_ms: u64) {
        let ms = ttfb_ms as f64;
        let mut map = self.ewma_ms.lock();
        if let Some(v) = map.get_mut(provider).and_then(|m| m.get_mut(model)) {
            *v = Self::ALPHA * ms + (1.0 - Self::ALPHA) * *v;
            return;
        }
        map.entry(provider.to_owned())
            .or_default()
            .insert(model.to_owned(), ms);
    }

    fn get(&self, provider: &str, model: &str) -> Option<f64> {
        self.ewma_ms
            .lock()
            .get(provider)
            .and_then(|m| m.get(model))
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
    if let [only] = targets.as_slice() {
        return vec![only.clone()];
    }
    let mut order: Vec<usize> = (0..targets.len()).collect();
    match route.route.strategy {
        Strategy::Priority => {
            // Tiers in order; within a tier, smooth weighted rotation.
            let first = weighted_first(route);
            order.sort_by_key(|&i| (targets[i].priority, i != first, i));
        }
        Strategy::Weighted => {
            let first = weighted_first(route);
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
            // Unpriced targets go last.
            let price = |t: &Target| {
                snapshot
                    .providers
                    .get(&t.provider)
                    .and_then(|p| p.card(&t.model, &snapshot.prices).price)
                    .map_or(u64::MAX, |p| p.sort_key())
            };
            order.sort_by_key(|&i| (price(&targets[i]), i));
        }
    }
    order.into_iter().map(|i| targets[i].clone()).collect()
}

fn weighted_first(route: &RouteRt) -> usize {
    let mut cur = route.swrr.lock();
    swrr_pick(&mut cur, &route.weights, &route.eligible).unwrap_or(0)
}

/// Longest key schedule kept per provider (weights are divided by their common divisor
/// first); beyond it key selection falls back to a scan of every key.
const SCHEDULE_CAP: usize = 1 << 16;

/// One cycle of smooth weighted round robin over every key: each key appears `weight / gcd`
/// times, interleaved (the same sequence [`swrr_pick`] gives when every key is eligible).
fn key_schedule(keys: &[Arc<KeyRt>]) -> Vec<u32> {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let weights: Vec<i64> = keys
        .iter()
        .map(|k| i64::from(k.info.weight.max(1)))
        .collect();
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let weights: Vec<i64> = weights.into_iter().map(|w| w / g).collect();
    let total: i64 = weights.iter().sum();
    if total == 0 || usize::try_from(total).map_or(true, |t| t > SCHEDULE_CAP) {
        return Vec::new();
    }
    let eligible = vec![true; weights.len()];
    let mut current = vec![0; weights.len()];
    (0..total)
        .filter_map(|_| swrr_pick(&mut current, &weights, &eligible))
        .filter_map(|i| u32::try_from(i).ok())
        .collect()
}

/// When every key is at its concurrency limit, the "retry after" given to the client.
pub(crate) const BUSY_RETRY_MS: i64 = 1_000;

/// Is `key` at its provider's per-key concurrency limit? Busy, not broken: it is skipped
/// without any health transition.
fn at_limit(provider: &ProviderRt, key: &KeyRt) -> bool {
    provider
        .provider
        .max_concurrency_per_key
        .is_some_and(|limit| key.in_flight.load(Ordering::Relaxed) >= limit)
}

/// When `key` has too little announced quota for a request of about `tokens` input tokens
/// (`tokens: None`: quota is not considered), the time it will have enough. With `claim`, a key
/// that has room counts the request as sent (see [`crate::quota::QuotaBoard::short_until`]).
fn short_of_quota(
    health: &HealthBoard,
    key: &KeyRt,
    model: &str,
    tokens: Option<u64>,
    claim: bool,
) -> Option<i64> {
    let tokens = tokens?;
    health.quota.short_until(
        key.info.id,
        model,
        tokens,
        key.in_flight.load(Ordering::Relaxed),
        claim,
        || health.now_ms(),
    )
}

/// A key chosen for one attempt.
#[derive(Debug, Clone)]
pub struct Pick {
    pub key: Arc<KeyRt>,
    /// This attempt is the one live probe of a scope whose cooldown ended.
    pub probe: bool,
    /// Team mode: the key's cluster-wide concurrency slot, held by the attempts on this key
    /// (see [`crate::cluster`]).
    pub slot: Option<crate::cluster::SlotHold>,
}

/// Chooses a usable key of `provider` for `model`: the affinity key if it is usable, else the
/// next in smooth weighted rotation among usable keys not yet tried by this request.
/// Returns the earliest recovery time among blocked keys when none is usable.
///
/// With `quota_tokens` (the request's estimated input tokens), a key whose announced quota
/// cannot cover the request (see [`crate::quota`]) counts as blocked until it can: it is
/// skipped while another key can serve, and the request waits for it rather than provoke a
/// 429. `None` turns this off (the reactive choice: a key is skipped only once it is cooling).
///
/// Walks the precomputed rotation from a shared cursor and checks health only for the keys
/// it visits (the first usable one wins), so the cost does not grow with the size of the pool;
/// a probe slot is only ever claimed for the key that is returned.
pub fn pick_key(
    provider: &ProviderRt,
    model: &str,
    health: &HealthBoard,
    tried: &[i64],
    preferred: Option<i64>,
    quota_tokens: Option<u64>,
) -> Result<Pick, Option<i64>> {
    if provider.schedule.is_empty() {
        return pick_key_scan(provider, model, health, tried, preferred, quota_tokens);
    }
    let name = &provider.provider.name;
    let mut earliest: Option<i64> = None;
    // Keys found blocked in this call; allocated only when one is.
    let mut blocked: Option<Vec<bool>> = None;
    let mut note_blocked = |i: usize, until_ms: Option<i64>, blocked: &mut Option<Vec<bool>>| {
        if let Some(u) = until_ms {
            earliest = Some(earliest.map_or(u, |e| e.min(u)));
        }
        blocked.get_or_insert_with(|| vec![false; provider.keys.len()])[i] = true;
    };
    if let Some(pref) = preferred.filter(|p| !tried.contains(p))
        && let Some(&i) = provider.index.get(&pref)
    {
        if at_limit(provider, &provider.keys[i]) {
            note_blocked(i, Some(health.now_ms() + BUSY_RETRY_MS), &mut blocked);
        } else if let Some(until) =
            short_of_quota(health, &provider.keys[i], model, quota_tokens, true)
        {
            note_blocked(i, Some(until), &mut blocked);
        } else {
            match health.check(name, pref, model) {
                Availability::Blocked { until_ms } => note_blocked(i, until_ms, &mut blocked),
                a => {
                    return Ok(Pick {
                        key: provider.keys[i].clone(),
                        probe: a == Availability::Probe,
                        slot: None,
                    });
                }
            }
        }
    }
    let len = provider.schedule.len();
    // One step of the shared cursor per pick, then a local walk: concurrent picks moving the
    // cursor must not make this walk skip positions (and so miss the only usable key).
    let start = provider.cursor.fetch_add(1, Ordering::Relaxed);
    for step in 0..len {
        let at = start.wrapping_add(step) % len;
        let i = provider.schedule[at] as usize;
        let key = &provider.keys[i];
        if tried.contains(&key.info.id) || blocked.as_ref().is_some_and(|b| b[i]) {
            continue;
        }
        if at_limit(provider, key) {
            note_blocked(i, Some(health.now_ms() + BUSY_RETRY_MS), &mut blocked);
            continue;
        }
        if let Some(until) = short_of_quota(health, key, model, quota_tokens, true) {
            note_blocked(i, Some(until), &mut blocked);
            continue;
        }
        match health.check(name, key.info.id, model) {
            Availability::Blocked { until_ms } => note_blocked(i, until_ms, &mut blocked),
            a => {
                return Ok(Pick {
                    key: key.clone(),
                    probe: a == Availability::Probe,
                    slot: None,
                });
            }
        }
    }
    Err(earliest)
}

/// [`pick_key`] for pools whose weights make the rotation too long to precompute: looks at
/// every key without claiming anything, then one smooth-weighted-round-robin step among the
/// usable ones; only the key returned claims its probe slot.
fn pick_key_scan(
    provider: &ProviderRt,
    model: &str,
    health: &HealthBoard,
    tried: &[i64],
    preferred: Option<i64>,
    quota_tokens: Option<u64>,
) -> Result<Pick, Option<i64>> {
    let name = &provider.provider.name;
    let mut earliest: Option<i64> = None;
    let mut note = |until_ms: Option<i64>| {
        if let Some(u) = until_ms {
            earliest = Some(earliest.map_or(u, |e| e.min(u)));
        }
    };
    let mut eligible = Vec::with_capacity(provider.keys.len());
    for k in &provider.keys {
        if tried.contains(&k.info.id) {
            eligible.push(false);
            continue;
        }
        if at_limit(provider, k) {
            // Busy, not broken: try again in a moment.
            note(Some(health.now_ms() + BUSY_RETRY_MS));
            eligible.push(false);
            continue;
        }
        if let Some(until) = short_of_quota(health, k, model, quota_tokens, false) {
            note(Some(until));
            eligible.push(false);
            continue;
        }
        match health.peek(name, k.info.id, model) {
            Availability::Blocked { until_ms } => {
                note(until_ms);
                eligible.push(false);
            }
            _ => eligible.push(true),
        }
    }
    // Claims the quota and the probe slot (if any) of key `i`; `None` when another request
    // took either since the peek.
    let claim = |i: usize, note: &mut dyn FnMut(Option<i64>)| {
        let key = &provider.keys[i];
        if let Some(until) = short_of_quota(health, key, model, quota_tokens, true) {
            note(Some(until));
            return None;
        }
        match health.check(name, key.info.id, model) {
            Availability::Blocked { until_ms } => {
                note(until_ms);
                None
            }
            a => Some(Pick {
                key: key.clone(),
                probe: a == Availability::Probe,
                slot: None,
            }),
        }
    };
    if let Some(pref) = preferred
        && let Some(i) = provider.keys.iter().position(|k| k.info.id == pref)
        && eligible[i]
    {
        if let Some(pick) = claim(i, &mut note) {
            return Ok(pick);
        }
        eligible[i] = false;
    }
    let weights: Vec<i64> = provider
        .keys
        .iter()
        .map(|k| i64::from(k.info.weight.max(1)))
        .collect();
    let mut cur = provider.swrr.lock();
    if cur.len() != weights.len() {
        *cur = vec![0; weights.len()];
    }
    while let Some(i) = swrr_pick(&mut cur, &weights, &eligible) {
        if let Some(pick) = claim(i, &mut note) {
            return Ok(pick);
        }
        eligible[i] = false;
    }
    Err(earliest)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use switchboard_protocol::Dialect;

    use super::*;
    use crate::clock::ManualClock;
    use crate::health::{CooldownPolicy, Outcome};
    use crate::model::{Key, ModelInfo, ModelSource, Quirks, Timeouts};

    fn provider(name: &str, price: Option<f64>) -> Provider {
        Provider {
            name: name.into(),
            kind: Dialect::OpenaiChat,
            base_url: "https://example.com/v1".into(),
            headers: BTreeMap::new(),
            timeouts: Timeouts::default(),
            priority: 0,
            weight: 1,
            enabled: true,
            drop_params: vec![],
            models: vec![ModelInfo {
                id: "m".into(),
                context_window: None,
                source: ModelSource::Manual,
                input_price: price,
                output_price: price,
                cache_read_price: None,
                cache_write_price: None,
                reasoning_price: None,
            }],
            quirks: Quirks::default(),
            max_concurrency_per_key: None,
            retry: Default::default(),
            balance: None,
            proxy: None,
            ca_file: None,
            ca_pem: None,
        }
    }

    fn key(id: i64, provider: &str, weight: u32) -> Key {
        Key {
            info: KeyInfo {
                id,
                provider: provider.into(),
                label: format!("k{id}"),
                weight,
                enabled: true,
                fingerprint: String::new(),
                last4: String::new(),
                env_ref: None,
            },
            secret: Secret::new(format!("sk-test-{id}")),
        }
    }

    fn target(provider: &str, priority: i32, weight: u32) -> Target {
        Target {
            provider: provider.into(),
            model: "m".into(),
            priority,
            weight,
            context_window: None,
        }
    }

    fn snapshot(strategy: Strategy, targets: Vec<Target>) -> Snapshot {
        let config = Config {
            providers: vec![
                provider("p1", Some(5.0)),
                provider("p2", Some(1.0)),
                provider("p3", None),
            ],
            keys: vec![key(1, "p1", 1), key(2, "p2", 1), key(3, "p3", 1)],
            routes: vec![Route {
                alias: "a".into(),
                strategy,
                targets,
                hedge_after_ms: None,
            }],
            settings: Settings::default(),
            prices: Default::default(),
            proxy_credentials: Default::default(),
            system_proxy: None,
        };
        Snapshot::build(&config, None)
    }

    fn first(s: &Snapshot, latency: &LatencyBook) -> String {
        let route = s.resolve("a").unwrap();
        order_targets(&route, s, latency, false)[0].provider.clone()
    }

    fn firsts(s: &Snapshot, n: usize) -> Vec<String> {
        let latency = LatencyBook::default();
        (0..n).map(|_| first(s, &latency)).collect()
    }

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

    #[test]
    fn priority_keeps_tiers_in_order_and_rotates_within_a_tier() {
        let s = snapshot(
            Strategy::Priority,
            vec![target("p1", 1, 1), target("p2", 0, 1), target("p3", 0, 1)],
        );
        let route = s.resolve("a").unwrap();
        for _ in 0..4 {
            let order = order_targets(&route, &s, &LatencyBook::default(), false);
            assert_eq!(order[2].provider, "p1", "the lower tier always comes last");
        }
        assert_eq!(firsts(&s, 4), vec!["p2", "p3", "p2", "p3"]);
    }

    #[test]
    fn weighted_and_round_robin_spread_first_choices() {
        let s = snapshot(
            Strategy::Weighted,
            vec![target("p1", 0, 3), target("p2", 0, 1)],
        );
        let f = firsts(&s, 8);
        assert_eq!(f.iter().filter(|p| *p == "p1").count(), 6);
        let s = snapshot(
            Strategy::RoundRobin,
            vec![target("p1", 0, 1), target("p2", 0, 1), target("p3", 0, 1)],
        );
        assert_eq!(firsts(&s, 4), vec!["p1", "p2", "p3", "p1"]);
    }

    #[test]
    fn least_busy_fastest_and_cheapest() {
        let s = snapshot(
            Strategy::LeastBusy,
            vec![target("p1", 0, 1), target("p2", 0, 1)],
        );
        s.providers["p1"].keys[0]
            .in_flight
            .store(3, Ordering::Relaxed);
        assert_eq!(first(&s, &LatencyBook::default()), "p2");

        let s = snapshot(
            Strategy::Fastest,
            vec![target("p1", 0, 1), target("p2", 0, 1)],
        );
        let latency = LatencyBook::default();
        latency.observe("p1", "m", 120);
        latency.observe("p2", "m", 15);
        assert_eq!(first(&s, &latency), "p2");
        latency.observe("p2", "m", 2_000);
        latency.observe("p2", "m", 2_000);
        assert_eq!(
            first(&s, &latency),
            "p1",
            "the moving average follows a slowdown"
        );

        let s = snapshot(
            Strategy::Cheapest,
            vec![target("p3", 0, 1), target("p1", 0, 1), target("p2", 0, 1)],
        );
        let route = s.resolve("a").unwrap();
        let order: Vec<String> = order_targets(&route, &s, &LatencyBook::default(), false)
            .into_iter()
            .map(|t| t.provider)
            .collect();
        assert_eq!(order, vec!["p2", "p1", "p3"], "unpriced targets last");
    }

    #[test]
    fn keys_at_their_concurrency_limit_are_skipped() {
        let mut config = Config {
            providers: vec![provider("p1", None)],
            keys: vec![key(1, "p1", 1), key(2, "p1", 1)],
            routes: vec![],
            settings: Settings::default(),
            prices: Default::default(),
            proxy_credentials: Default::default(),
            system_proxy: None,
        };
        config.providers[0].max_concurrency_per_key = Some(2);
        let s = Snapshot::build(&config, None);
        let health = HealthBoard::new(
            std::sync::Arc::new(ManualClock::new(0)),
            CooldownPolicy::default(),
        );
        let p = &s.providers["p1"];
        p.keys[0].in_flight.store(2, Ordering::Relaxed);
        for _ in 0..3 {
            assert_eq!(
                pick_key(p, "m", &health, &[], None, None)
                    .unwrap()
                    .key
                    .info
                    .id,
                2
            );
        }
        p.keys[1].in_flight.store(2, Ordering::Relaxed);
        assert_eq!(
            pick_key(p, "m", &health, &[], None, None).unwrap_err(),
            Some(BUSY_RETRY_MS)
        );
    }

    #[test]
    fn keys_short_of_announced_quota_are_skipped_until_they_refill() {
        for weights in [[1, 1], [40_000, 40_001]] {
            let config = Config {
                providers: vec![provider("p1", None)],
                keys: vec![key(1, "p1", weights[0]), key(2, "p1", weights[1])],
                routes: vec![],
                settings: Settings::default(),
                prices: Default::default(),
                proxy_credentials: Default::default(),
                system_proxy: None,
            };
            let s = Snapshot::build(&config, None);
            let p = &s.providers["p1"];
            let clock = ManualClock::new(0);
            let health = HealthBoard::new(
                std::sync::Arc::new(clock.clone()),
                CooldownPolicy::default(),
            );
            let announce = |id: i64, requests: &str, tokens: &str| {
                let mut h = http::HeaderMap::new();
                for (name, v) in [
                    ("x-ratelimit-limit-requests", "10"),
                    ("x-ratelimit-remaining-requests", requests),
                    ("x-ratelimit-reset-requests", "10s"),
                    ("x-ratelimit-limit-tokens", "1000"),
                    ("x-ratelimit-remaining-tokens", tokens),
                    ("x-ratelimit-reset-tokens", "10s"),
                ] {
                    h.insert(name, http::HeaderValue::from_str(v).unwrap());
                }
                health.quota.observe(id, "m", &h, health.now_ms());
            };
            announce(1, "0", "1000");
            announce(2, "5", "100");
            let id = |r: Result<Pick, Option<i64>>| r.map(|p| p.key.info.id);
            // Key 1 has no request left: key 2 serves while its tokens cover the request,
            // counting what it was already given (an answer resets the count).
            for _ in 0..2 {
                assert_eq!(id(pick_key(p, "m", &health, &[], None, Some(50))), Ok(2));
            }
            // 150 tokens are missing 50 of the 900 that refill over 10 s.
            assert_eq!(
                id(pick_key(p, "m", &health, &[], None, Some(50))),
                Err(Some(556))
            );
            // Preferred or not, a short key is not chosen while another can serve.
            announce(2, "5", "100");
            assert_eq!(id(pick_key(p, "m", &health, &[], Some(1), Some(50))), Ok(2));
            // Neither covers 200 tokens: blocked until the first has room (key 1: one
            // request back after 1 s; key 2: 100 more tokens after ~1.1 s).
            announce(2, "5", "100");
            assert_eq!(
                id(pick_key(p, "m", &health, &[], None, Some(200))),
                Err(Some(1_000))
            );
            // The reactive choice ignores announced quota.
            assert!(pick_key(p, "m", &health, &[], None, None).is_ok());
            clock.advance_ms(1_000);
            assert_eq!(id(pick_key(p, "m", &health, &[], None, Some(200))), Ok(1));
        }
    }

    #[test]
    fn the_scanning_picker_claims_a_probe_only_for_the_key_it_returns() {
        // Weights whose rotation is too long to precompute: the scanning picker is used.
        let config = Config {
            providers: vec![provider("p1", None)],
            keys: vec![
                key(1, "p1", 40_000),
                key(2, "p1", 40_001),
                key(3, "p1", 40_003),
            ],
            routes: vec![],
            settings: Settings::default(),
            prices: Default::default(),
            proxy_credentials: Default::default(),
            system_proxy: None,
        };
        let s = Snapshot::build(&config, None);
        let p = &s.providers["p1"];
        assert!(p.schedule.is_empty(), "the test needs the scanning picker");
        let clock = ManualClock::new(0);
        let health = HealthBoard::new(
            std::sync::Arc::new(clock.clone()),
            CooldownPolicy::default(),
        );
        let limited = Outcome::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(1)),
        };
        for id in [1, 2, 3] {
            health.report("p1", id, "m", &limited);
        }
        clock.advance_ms(3_600_000);
        let pick = pick_key(p, "m", &health, &[], None, None).unwrap();
        assert!(pick.probe);
        for id in [1, 2, 3] {
            let a = health.peek("p1", id, "m");
            if id == pick.key.info.id {
                assert!(
                    matches!(a, Availability::Blocked { .. }),
                    "the returned key's probe is out"
                );
            } else {
                assert_eq!(
                    a,
                    Availability::Probe,
                    "key {id} was looked at, not claimed"
                );
            }
        }
        let second = pick_key(p, "m", &health, &[pick.key.info.id], None, None).unwrap();
        assert!(second.probe);
        assert_ne!(second.key.info.id, pick.key.info.id);
    }

    #[test]
    fn direct_models_resolve_and_ambiguous_ones_do_not() {
        let s = snapshot(Strategy::Priority, vec![target("p1", 0, 1)]);
        // "m" is served by p1, p2 and p3: ambiguous without a route.
        assert!(matches!(s.resolve("m"), Err(Unroutable::Ambiguous(_))));
        assert_eq!(s.resolve("nope").unwrap_err(), Unroutable::UnknownModel);
    }
}
