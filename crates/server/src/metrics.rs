//! Prometheus metrics at `GET /metrics` (OpenMetrics text, encoded by `prometheus-client`).
//!
//! Counters and histograms are updated in one place, [`Metrics::observe`], called by the
//! record sink when a request has finished — never while a request is being served, and only
//! with atomic adds on already-created series. Gauges that describe the present (requests in
//! flight, key states) are read from the engine when scraped, so they cost nothing between
//! scrapes.
//!
//! Label values come from configuration (aliases, providers) and from a small fixed set
//! (status, outcome, state). A model name no route serves is counted under the alias
//! `unrouted`, so clients cannot grow the series without bound.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use switchboard_control::KeyView;
use switchboard_router::health::HealthState;
use switchboard_router::log::{AttemptOutcome, RequestRecord};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    alias: String,
    provider: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AliasLabels {
    alias: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimingLabels {
    alias: String,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    alias: String,
    provider: String,
    /// `input`, `output`, `cached`, `reasoning`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyStateLabels {
    provider: String,
    /// `healthy`, `cooling`, `auth_error`, `probing`, `disabled`.
    state: &'static str,
    /// For `cooling`: `rate_limited`, `insufficient_balance`, `temporary_error`; else empty.
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuotaLabels {
    key_id: String,
    provider: String,
    /// The upstream model the provider announced the window for.
    model: String,
    /// `requests`, `tokens`, `input_tokens`, `output_tokens`, `five_hour`, `seven_day`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BalanceLabels {
    key_id: String,
    provider: String,
    currency: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from a cache hit on a local model to a long agentic completion.
const LATENCY_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Token kinds, in the order of [`Series::tokens`].
const TOKEN_KINDS: [&str; 4] = ["input", "output", "cached", "reasoning"];

/// The series one (alias, provider) pair updates, taken from the families the first time
/// the pair is seen: a finished request then updates them without building a label set (and
/// its strings) and looking it up per series. A series is created in its family when first
/// counted, as before, so a scrape shows the same series.
struct Series {
    /// By the status sent to the client (a few per pair).
    requests: RwLock<Vec<(u16, Counter)>>,
    latency: Histogram,
    ttfb: OnceLock<Histogram>,
    /// By [`TOKEN_KINDS`].
    tokens: [OnceLock<Counter>; 4],
}

impl Series {
    /// Counts a request answered with `status`; its counter is taken from `create` the
    /// first time.
    fn count_request(&self, status: u16, create: impl FnOnce() -> Counter) {
        if let Some((_, c)) = self.requests.read().iter().find(|(s, _)| *s == status) {
            c.inc();
            return;
        }
        let mut by_status = self.requests.write();
        if let Some((_, c)) = by_status.iter().find(|(s, _)| *s == status) {
            c.inc();
            return;
        }
        let c = create();
        c.inc();
        by_status.push((status, c));
    }
}

/// One provider's attempt counters, by outcome (its discriminant); created when first
/// counted.
type AttemptSeries = [OnceLock<Counter>; AttemptOutcome::StreamError as usize + 1];

/// The database and the request log's writer as a scrape finds them.
pub struct Storage {
    pub database_up: bool,
    pub log_waiting: u64,
    pub log_dropped: u64,
}

/// The registry and the series the record sink updates.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    failovers: Family<AliasLabels, Counter>,
    latency: HistogramFamily<TimingLabels>,
    ttfb: HistogramFamily<TimingLabels>,
    tokens: Family<TokenLabels, Counter>,
    in_flight: Gauge,
    waiting: Family<AliasLabels, Gauge>,
    key_states: Family<KeyStateLabels, Gauge>,
    quota_remaining: Family<QuotaLabels, Gauge>,
    quota_limit: Family<QuotaLabels, Gauge>,
    quota_reset: Family<QuotaLabels, FloatGauge>,
    balance: Family<BalanceLabels, FloatGauge>,
    redis_errors: Counter,
    database_up: Gauge,
    log_waiting: Gauge,
    log_dropped: Counter,
    /// Resolved series by alias, then provider (never removed: the families keep theirs too).
    series: RwLock<HashMap<String, HashMap<String, Arc<Series>>>>,
    /// Resolved attempt counters by provider.
    attempt_series: RwLock<HashMap<String, Arc<AttemptSeries>>>,
    /// One scrape at a time refreshes the gauges and encodes, so two scrapes never interleave
    /// a refresh with an encode.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Counts one failed exchange with Redis.
    pub fn redis_error(&self) {
        self.redis_errors.inc();
    }

    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("switchboard");
        let requests = Family::<RequestLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let failovers = Family::<AliasLabels, Counter>::default();
        let latency: HistogramFamily<TimingLabels> =
            Family::new_with_constructor(latency_histogram);
        let ttfb: HistogramFamily<TimingLabels> = Family::new_with_constructor(latency_histogram);
        let tokens = Family::<TokenLabels, Counter>::default();
        let in_flight = Gauge::default();
        let waiting = Family::<AliasLabels, Gauge>::default();
        let key_states = Family::<KeyStateLabels, Gauge>::default();
        let quota_remaining = Family::<QuotaLabels, Gauge>::default();
        let quota_limit = Family::<QuotaLabels, Gauge>::default();
        let quota_reset = Family::<QuotaLabels, FloatGauge>::default();
        let balance = Family::<BalanceLabels, FloatGauge>::default();
        let redis_errors = Counter::default();
        let database_up = Gauge::default();
        let log_waiting = Gauge::default();
        let log_dropped = Counter::default();
        registry.register(
            "database_up",
            "Whether the database answers (team mode's PostgreSQL; 1 on SQLite)",
            database_up.clone(),
        );
        registry.register(
            "request_log_waiting",
            "Request records waiting to be written (queued, or held while the database is unreachable)",
            log_waiting.clone(),
        );
        registry.register(
            "request_log_dropped",
            "Request records dropped because the write queue was full",
            log_dropped.clone(),
        );
        registry.register(
            "redis_errors",
            "Team mode: failed exchanges with Redis (shared key health falls back to local)",
            redis_errors.clone(),
        );
        registry.register(
            "requests",
            "Client requests finished, by alias, serving provider and the status sent to the client",
            requests.clone(),
        );
        registry.register(
            "attempts",
            "Upstream attempts (one key, one call), by provider and outcome",
            attempts.clone(),
        );
        registry.register(
            "failovers",
            "Attempts made after a failed one within the same client request",
            failovers.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from receiving a request to its last byte",
            latency.clone(),
        );
        registry.register(
            "ttfb_seconds",
            "Time from receiving a request to the first byte sent to the client",
            ttfb.clone(),
        );
        registry.register(
            "tokens",
            "Tokens reported by upstreams, by kind",
            tokens.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Client requests being served now",
            in_flight.clone(),
        );
        registry.register(
            "requests_waiting",
            "Client requests waiting their turn for a key (every key of the route short of quota, cooling or busy), by alias",
            waiting.clone(),
        );
        registry.register(
            "key_states",
            "API keys by health state and cooldown reason",
            key_states.clone(),
        );
        registry.register(
            "key_quota_remaining",
            "Quota a key has left, as its provider announced it (unified windows: percent left)",
            quota_remaining.clone(),
        );
        registry.register(
            "key_quota_limit",
            "A key's quota window when full, where the provider announced it",
            quota_limit.clone(),
        );
        registry.register(
            "key_quota_reset_seconds",
            "Seconds until a key's quota window is full again",
            quota_reset.clone(),
        );
        registry.register(
            "key_balance",
            "A key's account balance at its last check, where the provider publishes it",
            balance.clone(),
        );
        Metrics {
            registry,
            requests,
            attempts,
            failovers,
            latency,
            ttfb,
            tokens,
            in_flight,
            waiting,
            key_states,
            quota_remaining,
            quota_limit,
            quota_reset,
            redis_errors,
            database_up,
            log_waiting,
            log_dropped,
            balance,
            series: RwLock::new(HashMap::new()),
            attempt_series: RwLock::new(HashMap::new()),
            scrape: Mutex::new(()),
        }
    }

    /// Counts one finished request. Called once per request by the record sink.
    pub fn observe(&self, r: &RequestRecord) {
        // A 404 before any attempt is a model name no route serves: one series for all.
        let alias = if r.provider.is_none() && r.attempts.is_empty() && r.status == 404 {
            "unrouted"
        } else {
            r.alias.as_str()
        };
        let provider = r.provider.as_deref().unwrap_or("");
        let series = self.series_of(alias, provider);
        series.count_request(r.status, || {
            self.requests
                .get_or_create(&RequestLabels {
                    alias: alias.to_owned(),
                    provider: provider.to_owned(),
                    status: r.status.to_string(),
                })
                .clone()
        });
        for a in &r.attempts {
            self.count_attempt(&a.provider, a.outcome);
        }
        if r.attempts.len() > 1 {
            self.failovers
                .get_or_create(&AliasLabels {
                    alias: alias.to_owned(),
                })
                .inc_by((r.attempts.len() - 1) as u64);
        }
        series.latency.observe(r.latency_ms as f64 / 1000.0);
        if let Some(t) = r.ttfb_ms {
            series
                .ttfb
                .get_or_init(|| {
                    self.ttfb
                        .get_or_create(&TimingLabels {
                            alias: alias.to_owned(),
                            provider: provider.to_owned(),
                        })
                        .clone()
                })
                .observe(t as f64 / 1000.0);
        }
        let counts = [
            r.tokens_in,
            r.tokens_out,
            r.tokens_cached,
            r.tokens_reasoning,
        ];
        for ((kind, n), counter) in TOKEN_KINDS.into_iter().zip(counts).zip(&series.tokens) {
            if n > 0 {
                counter
                    .get_or_init(|| {
                        self.tokens
                            .get_or_create(&TokenLabels {
                                alias: alias.to_owned(),
                                provider: provider.to_owned(),
                                kind,
                            })
                            .clone()
                    })
                    .inc_by(n);
            }
        }
    }

    /// The series of (alias, provider), resolved once.
    fn series_of(&self, alias: &str, provider: &str) -> Arc<Series> {
        if let Some(s) = self.series.read().get(alias).and_then(|p| p.get(provider)) {
            return Arc::clone(s);
        }
        let mut all = self.series.write();
        let by_provider = all.entry(alias.to_owned()).or_default();
        if let Some(s) = by_provider.get(provider) {
            return Arc::clone(s);
        }
        let labels = TimingLabels {
            alias: alias.to_owned(),
            provider: provider.to_owned(),
        };
        let s = Arc::new(Series {
            requests: RwLock::new(Vec::new()),
            latency: self.latency.get_or_create(&labels).clone(),
            ttfb: OnceLock::new(),
            tokens: Default::default(),
        });
        by_provider.insert(provider.to_owned(), Arc::clone(&s));
        s
    }

    /// Counts an attempt; its counter is resolved once.
    fn count_attempt(&self, provider: &str, outcome: AttemptOutcome) {
        let found = self.attempt_series.read().get(provider).map(Arc::clone);
        let series = match found {
            Some(s) => s,
            None => Arc::clone(
                self.attempt_series
                    .write()
                    .entry(provider.to_owned())
                    .or_default(),
            ),
        };
        series[outcome as usize]
            .get_or_init(|| {
                self.attempts
                    .get_or_create(&AttemptLabels {
                        provider: provider.to_owned(),
                        outcome: outcome.as_str().to_owned(),
                    })
                    .clone()
            })
            .inc();
    }

    /// Sets the gauges of the present (requests in flight and waiting by alias, keys by
    /// standing, the database and the request log's queue) and encodes everything.
    pub fn encode(
        &self,
        in_flight: u64,
        waiting: &[(String, usize)],
        keys: &[KeyView],
        now_ms: i64,
        storage: Storage,
    ) -> Result<String, std::fmt::Error> {
        let _one = self.scrape.lock();
        self.database_up.set(i64::from(storage.database_up));
        self.log_waiting
            .set(i64::try_from(storage.log_waiting).unwrap_or(i64::MAX));
        // The writer counts drops itself; the counter catches up with it.
        let counted = self.log_dropped.get();
        if storage.log_dropped > counted {
            self.log_dropped.inc_by(storage.log_dropped - counted);
        }
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.waiting.clear();
        for (alias, n) in waiting {
            self.waiting
                .get_or_create(&AliasLabels {
                    alias: alias.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.key_states.clear();
        for k in keys {
            self.key_states
                .get_or_create(&KeyStateLabels {
                    provider: k.key.provider.clone(),
                    state: state_name(k.standing.state),
                    reason: k.standing.reason.map_or("", |r| r.as_str()),
                })
                .inc();
        }
        self.key_quotas(keys, now_ms);
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Metrics {
    /// Sets the quota and balance gauges per key (series of windows that reset go away).
    fn key_quotas(&self, keys: &[KeyView], now_ms: i64) {
        self.quota_remaining.clear();
        self.quota_limit.clear();
        self.quota_reset.clear();
        self.balance.clear();
        for k in keys {
            let key_id = k.key.id.to_string();
            for w in &k.quota {
                let labels = QuotaLabels {
                    key_id: key_id.clone(),
                    provider: k.key.provider.clone(),
                    model: w.model.clone(),
                    kind: w.kind.as_str(),
                };
                self.quota_remaining
                    .get_or_create(&labels)
                    .set(i64::try_from(w.remaining).unwrap_or(i64::MAX));
                if let Some(limit) = w.limit {
                    self.quota_limit
                        .get_or_create(&labels)
                        .set(i64::try_from(limit).unwrap_or(i64::MAX));
                }
                self.quota_reset
                    .get_or_create(&labels)
                    .set((w.reset_ms - now_ms).max(0) as f64 / 1000.0);
            }
            if let Some(b) = &k.balance
                && let Some(amount) = b.amount
            {
                self.balance
                    .get_or_create(&BalanceLabels {
                        key_id: key_id.clone(),
                        provider: k.key.provider.clone(),
                        currency: b.currency.clone().unwrap_or_default(),
                    })
                    .set(amount);
            }
        }
    }
}

fn state_name(s: HealthState) -> &'static str {
    match s {
        HealthState::Healthy => "healthy",
        HealthState::Untested => "untested",
        HealthState::Cooling => "cooling",
        HealthState::AuthError => "auth_error",
        HealthState::Probing => "probing",
        HealthState::Disabled => "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_router::log::AttemptRecord;

    fn attempt(outcome: AttemptOutcome) -> AttemptRecord {
        AttemptRecord {
            provider: "p1".into(),
            model: "m".into(),
            key_id: Some(1),
            outcome,
            status: None,
            duration_ms: 5,
            message: None,
            retry_after_ms: None,
        }
    }

    fn record(status: u16, attempts: Vec<AttemptRecord>, tokens_in: u64) -> RequestRecord {
        RequestRecord {
            alias: "fast".into(),
            provider: Some("p1".into()),
            status,
            latency_ms: 20,
            tokens_in,
            attempts,
            ..RequestRecord::default()
        }
    }

    fn lines(m: &Metrics) -> Vec<String> {
        let storage = Storage {
            database_up: true,
            log_waiting: 0,
            log_dropped: 0,
        };
        let text = m.encode(0, &[], &[], 0, storage).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// Series are resolved once and then counted in place: counts add up across the first
    /// and later requests of a series, and only what was counted appears.
    #[test]
    fn resolved_series_count_like_the_families() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.observe(&record(200, vec![attempt(AttemptOutcome::Ok)], 7));
        }
        let failed = vec![
            attempt(AttemptOutcome::TemporaryError),
            attempt(AttemptOutcome::Ok),
        ];
        m.observe(&RequestRecord {
            ttfb_ms: Some(3),
            ..record(502, failed, 0)
        });
        m.observe(&RequestRecord {
            alias: "never-routed".into(),
            provider: None,
            status: 404,
            ..RequestRecord::default()
        });
        let got = lines(&m);
        for want in [
            r#"switchboard_requests_total{alias="fast",provider="p1",status="200"} 3"#,
            r#"switchboard_requests_total{alias="fast",provider="p1",status="502"} 1"#,
            r#"switchboard_requests_total{alias="unrouted",provider="",status="404"} 1"#,
            r#"switchboard_attempts_total{provider="p1",outcome="ok"} 4"#,
            r#"switchboard_attempts_total{provider="p1",outcome="temporary_error"} 1"#,
            r#"switchboard_failovers_total{alias="fast"} 1"#,
            r#"switchboard_tokens_total{alias="fast",provider="p1",kind="input"} 21"#,
            r#"switchboard_request_duration_seconds_count{alias="fast",provider="p1"} 4"#,
            r#"switchboard_ttfb_seconds_count{alias="fast",provider="p1"} 1"#,
        ] {
            assert!(got.iter().any(|l| l == want), "{want} missing in {got:#?}");
        }
        // Never counted: no series (no zero-valued token kinds, no ttfb for the unrouted).
        for absent in [
            r#"kind="output""#,
            r#"kind="cached""#,
            r#"outcome="rate_limited""#,
            r#"switchboard_ttfb_seconds_count{alias="unrouted""#,
            "never-routed",
        ] {
            assert!(
                !got.iter().any(|l| l.contains(absent)),
                "{absent} present in {got:#?}"
            );
        }
    }
}
