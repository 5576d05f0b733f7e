//! Clients: who holds which access key, what each may do, and what each has used.
//!
//! - [`ClientTable`] is the hot path's view of the clients: built from the store (and the
//!   local access keys, which belong to the default client) on every client edit and swapped
//!   whole; a presented key is resolved by its SHA-256 digest, with no database I/O and no
//!   comparison whose timing depends on the key.
//! - [`Clients::admit`] checks a request against its client's limits before routing: hard
//!   budgets, requests per minute and tokens per minute (60-second sliding windows). A
//!   request's estimated input tokens count while it is in flight ([`Admission`]); its
//!   record replaces them with the tokens it really used.
//! - Spend per UTC day and month is kept in memory, seeded from the request log at start and
//!   increased by every recorded request's `cost_micros` ([`Clients::record`]); crossing a
//!   budget's soft threshold or the budget itself sends one [`BudgetEvent`] per period and
//!   level.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_protocol::{ClientError, ErrorKind};
use switchboard_router::clock::SharedClock;
use switchboard_router::log::RequestRecord;
use switchboard_router::{RecordSink, Secret};
use switchboard_store::{ClientRow, ClientSettings, DEFAULT_CLIENT, NewClientKey};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::error::ControlError;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// The largest budget accepted, in dollars.
const MAX_BUDGET_USD: f64 = 1_000_000_000.0;

/// A client as the request path sees it.
#[derive(Debug)]
pub struct ClientEntry {
    pub name: Arc<str>,
    pub settings: ClientSettings,
    models: Option<HashSet<String>>,
}

impl ClientEntry {
    fn new(name: &str, settings: ClientSettings) -> ClientEntry {
        ClientEntry {
            name: name.into(),
            models: settings
                .models
                .as_ref()
                .map(|m| m.iter().cloned().collect()),
            settings,
        }
    }

    /// Whether a daily or monthly budget limits this client.
    pub fn has_budget(&self) -> bool {
        self.settings.daily_budget_micros.is_some() || self.settings.monthly_budget_micros.is_some()
    }

    /// Whether the client may ask for `model` (an alias or a provider's model).
    pub fn allows(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }

    /// Whether its keys work at `now_ms`: switched on and not expired.
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.settings.enabled && self.settings.expires_at_ms.is_none_or(|t| now_ms < t)
    }

    /// The 403 a request for a model outside the allow-list gets.
    pub fn not_allowed(&self, model: &str) -> ClientError {
        ClientError::new(
            ErrorKind::PermissionDenied,
            format!(
                "Client `{}` may not use the model `{}`.",
                self.name,
                switchboard_router::log::truncated(model, switchboard_router::log::CLIENT_STR_MAX)
            ),
        )
        .with_code("model_not_allowed")
        .with_param("model")
    }
}

/// Every client key, by its SHA-256 digest.
#[derive(Debug, Default)]
pub struct ClientTable {
    by_hash: HashMap<[u8; 32], Arc<ClientEntry>>,
    by_name: HashMap<Arc<str>, Arc<ClientEntry>>,
}

impl ClientTable {
    fn build(rows: &[ClientRow], local_keys: &[Secret]) -> ClientTable {
        let mut table = ClientTable::default();
        for row in rows {
            let entry = Arc::new(ClientEntry::new(&row.name, row.settings.clone()));
            for k in &row.keys {
                table.by_hash.insert(k.hash, entry.clone());
            }
            table.by_name.insert(entry.name.clone(), entry);
        }
        // The local access keys always work (as the default client, with no limits if its
        // row is somehow gone).
        let default = table
            .by_name
            .entry(DEFAULT_CLIENT.into())
            .or_insert_with(|| {
                Arc::new(ClientEntry::new(DEFAULT_CLIENT, ClientSettings::default()))
            })
            .clone();
        for k in local_keys.iter().filter(|k| !k.is_empty()) {
            table
                .by_hash
                .insert(digest(k.expose().as_bytes()), default.clone());
        }
        table
    }

    pub fn get(&self, name: &str) -> Option<&Arc<ClientEntry>> {
        self.by_name.get(name)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Which budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Daily,
    Monthly,
}

/// Which threshold was crossed: the soft one (an alert) or the budget itself (requests are
/// refused until the period ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetLevel {
    Soft,
    Hard,
}

/// A client's spend crossed a threshold (sent once per period and level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BudgetEvent {
    pub client: String,
    pub period: BudgetPeriod,
    pub level: BudgetLevel,
    pub spent_micros: u64,
    pub budget_micros: u64,
}

/// The limit a request was refused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rpm,
    Tpm,
    DailyBudget,
    MonthlyBudget,
}

/// A request refused by its client's limits: a 429 naming the limit, the client and when it
/// resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub client: String,
    pub limit: Limit,
    /// The limit's value (requests, tokens or micro-dollars).
    pub value: u64,
    pub resets_at_ms: i64,
    pub now_ms: i64,
    /// Set when the request alone (its estimated input tokens) is over the tokens-per-minute
    /// limit: waiting will not help.
    pub too_large: Option<u64>,
}

impl Refusal {
    /// Whole seconds until the limit resets (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        let ms = (self.resets_at_ms - self.now_ms).max(1);
        u64::try_from((ms + 999) / 1000).unwrap_or(1)
    }

    pub fn client_error(&self) -> ClientError {
        if let Some(tokens) = self.too_large {
            return ClientError::new(
                ErrorKind::RateLimited,
                format!(
                    "This request (about {tokens} input tokens) is larger than client `{}`'s limit of {} tokens per minute.",
                    self.client, self.value
                ),
            )
            .with_code("client_tpm_limit");
        }
        let what = match self.limit {
            Limit::Rpm => format!("its limit of {} requests per minute", self.value),
            Limit::Tpm => format!("its limit of {} tokens per minute", self.value),
            Limit::DailyBudget => format!("its daily budget of {}", dollars(self.value)),
            Limit::MonthlyBudget => format!("its monthly budget of {}", dollars(self.value)),
        };
        let code = match self.limit {
            Limit::Rpm => "client_rpm_limit",
            Limit::Tpm => "client_tpm_limit",
            Limit::DailyBudget => "client_daily_budget",
            Limit::MonthlyBudget => "client_monthly_budget",
        };
        ClientError::new(
            ErrorKind::RateLimited,
            format!(
                "Client `{}` has reached {what}; it resets at {} (in {} s).",
                self.client,
                rfc3339(self.resets_at_ms),
                self.retry_after_secs()
            ),
        )
        .with_code(code)
    }
}

fn dollars(micros: u64) -> String {
    format!("${:.2}", micros as f64 / 1e6)
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// The UTC month `ms` falls in, as (start, start of the next month), in Unix milliseconds.
fn month_bounds(ms: i64) -> (i64, i64) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return (0, i64::MAX);
    };
    let (y, m) = (t.year(), t.month());
    let start = time::Date::from_calendar_date(y, m, 1);
    let next = if m == time::Month::December {
        time::Date::from_calendar_date(y + 1, time::Month::January, 1)
    } else {
        time::Date::from_calendar_date(y, m.next(), 1)
    };
    let at = |d: Result<time::Date, time::error::ComponentRange>| {
        d.map_or(0, |d| d.midnight().assume_utc().unix_timestamp() * 1000)
    };
    (at(start), at(next))
}

/// The UTC day `ms` falls in, as (start, start of the next day).
fn day_bounds(ms: i64) -> (i64, i64) {
    let start = ms.div_euclid(DAY_MS) * DAY_MS;
    (start, start + DAY_MS)
}

/// One budget period's spend and which alerts it has sent.
#[derive(Debug, Default, Clone, Copy)]
struct Period {
    /// The period's start (Unix ms).
    start: i64,
    spent: u64,
    soft_sent: bool,
    hard_sent: bool,
}

impl Period {
    /// Resets it when `start` begins a later period.
    fn roll(&mut self, start: i64) {
        if start > self.start {
            *self = Period {
                start,
                ..Period::default()
            };
        }
    }
}

/// What one client has used.
#[derive(Debug, Default)]
struct Usage {
    /// When each request of the last minute was admitted.
    admitted: VecDeque<i64>,
    /// Tokens (input + output) recorded in the last minute, by record time.
    tokens: VecDeque<(i64, u64)>,
    tokens_sum: u64,
    /// Estimated input tokens of admitted requests not yet recorded.
    pending: u64,
    /// Team mode: when the cluster's token count was last read, and what it was.
    shared_tokens: Option<(i64, u64)>,
    day: Period,
    month: Period,
}

impl Usage {
    /// Marks the budget thresholds the spend has reached as alerted.
    fn mark_alerted(&mut self, s: &ClientSettings) {
        for (p, budget) in [
            (&mut self.day, s.daily_budget_micros),
            (&mut self.month, s.monthly_budget_micros),
        ] {
            if let Some(b) = budget {
                p.soft_sent |= p.spent >= soft_of(b, s.soft_limit_pct);
                p.hard_sent |= p.spent >= b;
            }
        }
    }

    fn roll(&mut self, now: i64) {
        while self.admitted.front().is_some_and(|t| *t <= now - MINUTE_MS) {
            self.admitted.pop_front();
        }
        while let Some(&(t, n)) = self.tokens.front() {
            if t > now - MINUTE_MS {
                break;
            }
            self.tokens.pop_front();
            self.tokens_sum = self.tokens_sum.saturating_sub(n);
        }
        self.day.roll(day_bounds(now).0);
        self.month.roll(month_bounds(now).0);
    }
}

/// Spend of one client in the current periods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spend {
    pub today_micros: u64,
    pub month_micros: u64,
}

/// Team mode: where a limited client's usage is shared with the other instances
/// ([`Clients::set_usage_share`]): a budgeted client's spend, and the tokens of a client with a
/// tokens-per-minute limit. What every instance used comes back through
/// [`Clients::note_shared_spend`] and [`Clients::note_shared_tokens`].
pub trait UsageShare: Send + Sync {
    /// `client` spent `cost_micros` at `at_ms`. Called on the record path: must not block.
    fn spent(&self, client: &str, cost_micros: u64, at_ms: i64);
    /// `client`'s request used `tokens`. Called on the record path: must not block.
    fn used_tokens(&self, client: &str, tokens: u64);
}

/// How long the cluster's token count read before an admission is trusted.
const SHARED_TOKENS_FRESH_MS: i64 = 1_000;

/// The clients, their usage and their budget alerts.
pub struct Clients {
    clock: SharedClock,
    table: ArcSwap<ClientTable>,
    /// The local access keys (stored, `SWITCHBOARD_ACCESS_KEY`, `[server] access_keys`),
    /// which belong to the default client; the first is the one shown to users.
    local_keys: RwLock<Arc<[Secret]>>,
    usage: Mutex<HashMap<Arc<str>, Usage>>,
    events: broadcast::Sender<BudgetEvent>,
    /// Team mode: budgeted spend is shared with the other instances.
    share: OnceLock<Arc<dyn UsageShare>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

/// A request admitted under its client's limits: its estimated input tokens count against
/// the tokens-per-minute limit until it is dropped (after its record has been made).
#[must_use]
pub struct Admission {
    clients: Arc<Clients>,
    client: Arc<str>,
    estimate: u64,
    /// When it was counted in the requests-per-minute window, if the client has one.
    admitted_at: Option<i64>,
}

impl Admission {
    /// Takes the request back out of the requests-per-minute window, refused after all: team
    /// mode's cluster-wide window of `rpm` requests was full, with room again in
    /// `resets_in_ms`. The refusal says so like this instance's own window would.
    pub fn refuse_rpm(self, rpm: u32, resets_in_ms: i64) -> Refusal {
        let now = self.clients.now_ms();
        if let Some(at) = self.admitted_at
            && let Some(u) = self.clients.usage.lock().get_mut(&self.client)
            && let Some(i) = u.admitted.iter().rposition(|t| *t == at)
        {
            u.admitted.remove(i);
        }
        Refusal {
            client: self.client.to_string(),
            limit: Limit::Rpm,
            value: u64::from(rpm),
            resets_at_ms: now.saturating_add(resets_in_ms),
            now_ms: now,
            too_large: None,
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.estimate == 0 {
            return;
        }
        if let Some(u) = self.clients.usage.lock().get_mut(&self.client) {
            u.pending = u.pending.saturating_sub(self.estimate);
        }
    }
}

impl Clients {
    pub(crate) fn new(clock: SharedClock) -> Clients {
        let (events, _) = broadcast::channel(256);
        Clients {
            clock,
            table: ArcSwap::from_pointee(ClientTable::default()),
            local_keys: RwLock::new(Arc::from(Vec::new())),
            usage: Mutex::new(HashMap::new()),
            events,
            share: OnceLock::new(),
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Rebuilds the table from the store's rows.
    pub(crate) fn rebuild(&self, rows: &[ClientRow]) {
        let keys = self.local_keys.read().clone();
        self.table.store(Arc::new(ClientTable::build(rows, &keys)));
    }

    pub(crate) fn set_local_keys(&self, keys: Vec<Secret>) {
        *self.local_keys.write() = keys.into();
    }

    pub(crate) fn local_keys(&self) -> Arc<[Secret]> {
        self.local_keys.read().clone()
    }

    pub fn table(&self) -> Arc<ClientTable> {
        self.table.load_full()
    }

    /// The active client holding `presented`, if any (unknown, disabled and expired keys
    /// alike give `None`).
    pub fn resolve(&self, presented: &[u8]) -> Option<Arc<ClientEntry>> {
        if presented.is_empty() {
            return None;
        }
        let entry = self.table.load().by_hash.get(&digest(presented)).cloned()?;
        entry.active_at(self.now_ms()).then_some(entry)
    }

    /// Seeds the spend of the current day and month from the request log's sums.
    pub(crate) fn seed(&self, day: HashMap<String, u64>, month: HashMap<String, u64>) {
        let now = self.now_ms();
        let table = self.table();
        let mut usage = self.usage.lock();
        for (name, spent) in month {
            let u = usage.entry(name.as_str().into()).or_default();
            u.roll(now);
            u.month.spent = spent;
        }
        for (name, spent) in day {
            let u = usage.entry(name.as_str().into()).or_default();
            u.roll(now);
            u.day.spent = spent;
        }
        // Thresholds already crossed before a restart were alerted then.
        for (name, u) in usage.iter_mut() {
            if let Some(c) = table.get(name) {
                u.mark_alerted(&c.settings);
            }
        }
    }

    /// Team mode: shares limited clients' usage from now on (once; later calls are ignored).
    pub fn set_usage_share(&self, share: Arc<dyn UsageShare>) {
        let _ = self.share.set(share);
    }

    /// Team mode: what `client` has spent over every instance in the current day and month,
    /// as the shared counters say. Spend this instance knows of is never lowered; thresholds
    /// reached this way were alerted by the instance whose request reached them.
    pub fn note_shared_spend(&self, client: &ClientEntry, day_micros: u64, month_micros: u64) {
        let now = self.now_ms();
        let mut usage = self.usage.lock();
        let u = usage.entry(client.name.clone()).or_default();
        u.roll(now);
        u.day.spent = u.day.spent.max(day_micros);
        u.month.spent = u.month.spent.max(month_micros);
        u.mark_alerted(&client.settings);
    }

    /// Team mode: the tokens `client` used in the last minute over every instance (this one's
    /// included), as the shared window says; counted by the next admission in place of this
    /// instance's own figure when larger.
    pub fn note_shared_tokens(&self, client: &ClientEntry, tokens: u64) {
        let now = self.now_ms();
        let mut usage = self.usage.lock();
        let u = usage.entry(client.name.clone()).or_default();
        u.shared_tokens = Some((now, tokens));
    }

    /// Checks a request of `client` estimated at `estimate` input tokens against its limits
    /// and, when it may go, counts it.
    pub fn admit(
        self: &Arc<Self>,
        client: &ClientEntry,
        estimate: u64,
    ) -> Result<Admission, Refusal> {
        let s = &client.settings;
        let unlimited = s.rpm.is_none()
            && s.tpm.is_none()
            && s.daily_budget_micros.is_none()
            && s.monthly_budget_micros.is_none();
        if unlimited {
            return Ok(Admission {
                clients: self.clone(),
                client: client.name.clone(),
                estimate: 0,
                admitted_at: None,
            });
        }
        let now = self.now_ms();
        let mut usage = self.usage.lock();
        let u = usage.entry(client.name.clone()).or_default();
        u.roll(now);
        let refuse = |limit, value, resets_at_ms| Refusal {
            client: client.name.to_string(),
            limit,
            value,
            resets_at_ms,
            now_ms: now,
            too_large: None,
        };
        if let Some(b) = s.daily_budget_micros
            && u.day.spent >= b
        {
            return Err(refuse(Limit::DailyBudget, b, day_bounds(now).1));
        }
        if let Some(b) = s.monthly_budget_micros
            && u.month.spent >= b
        {
            return Err(refuse(Limit::MonthlyBudget, b, month_bounds(now).1));
        }
        if let Some(rpm) = s.rpm
            && u.admitted.len() >= rpm as usize
        {
            let oldest = u.admitted.front().copied().unwrap_or(now);
            return Err(refuse(Limit::Rpm, u64::from(rpm), oldest + MINUTE_MS));
        }
        if let Some(tpm) = s.tpm
            && estimate > tpm
        {
            return Err(Refusal {
                too_large: Some(estimate),
                ..refuse(Limit::Tpm, tpm, now + MINUTE_MS)
            });
        }
        let recorded = match u.shared_tokens {
            Some((at, n)) if now - at < SHARED_TOKENS_FRESH_MS => u.tokens_sum.max(n),
            _ => u.tokens_sum,
        };
        if let Some(tpm) = s.tpm
            && recorded + u.pending + estimate > tpm
        {
            // The window frees as recorded tokens age out; tokens in flight free when their
            // requests end.
            let resets = u.tokens.front().map_or(now + 1000, |(t, _)| t + MINUTE_MS);
            return Err(refuse(Limit::Tpm, tpm, resets));
        }
        if s.rpm.is_some() {
            u.admitted.push_back(now);
        }
        let estimate = if s.tpm.is_some() { estimate } else { 0 };
        u.pending += estimate;
        Ok(Admission {
            clients: self.clone(),
            client: client.name.clone(),
            estimate,
            admitted_at: s.rpm.is_some().then_some(now),
        })
    }

    /// Counts a finished request's tokens and cost against its client, and sends the budget
    /// alerts it triggers.
    pub fn record(&self, rec: &RequestRecord) {
        let Some(name) = rec.client.as_deref() else {
            return;
        };
        let table = self.table();
        let client = table.get(name);
        let tokens = rec.tokens_in.saturating_add(rec.tokens_out);
        // Tokens are kept for the minute window only where a limit reads them.
        let count_tokens = tokens > 0 && client.is_some_and(|c| c.settings.tpm.is_some());
        let cost = rec.cost_micros.unwrap_or(0);
        if !count_tokens && cost == 0 {
            return;
        }
        let now = self.now_ms();
        if let Some(share) = self.share.get() {
            if cost > 0 && client.is_some_and(|c| c.has_budget()) {
                share.spent(name, cost, now);
            }
            if count_tokens {
                share.used_tokens(name, tokens);
            }
        }
        let mut usage = self.usage.lock();
        let u = match usage.get_mut(name) {
            Some(u) => u,
            None => usage.entry(name.into()).or_default(),
        };
        u.roll(now);
        if count_tokens {
            u.tokens.push_back((now, tokens));
            u.tokens_sum = u.tokens_sum.saturating_add(tokens);
        }
        if cost == 0 {
            return;
        }
        u.day.spent = u.day.spent.saturating_add(cost);
        u.month.spent = u.month.spent.saturating_add(cost);
        let Some(client) = client else {
            return;
        };
        let s = &client.settings;
        for (period, p, budget) in [
            (BudgetPeriod::Daily, &mut u.day, s.daily_budget_micros),
            (BudgetPeriod::Monthly, &mut u.month, s.monthly_budget_micros),
        ] {
            let Some(budget) = budget else { continue };
            for (level, threshold, sent) in [
                (
                    BudgetLevel::Soft,
                    soft_of(budget, s.soft_limit_pct),
                    &mut p.soft_sent,
                ),
                (BudgetLevel::Hard, budget, &mut p.hard_sent),
            ] {
                if !*sent && p.spent >= threshold {
                    *sent = true;
                    tracing::info!(
                        client = name,
                        ?period,
                        ?level,
                        spent_micros = p.spent,
                        budget_micros = budget,
                        "client budget threshold crossed"
                    );
                    let _ = self.events.send(BudgetEvent {
                        client: name.to_owned(),
                        period,
                        level,
                        spent_micros: p.spent,
                        budget_micros: budget,
                    });
                }
            }
        }
    }

    /// The client's spend in the current day and month.
    pub fn spend(&self, name: &str) -> Spend {
        let now = self.now_ms();
        let mut usage = self.usage.lock();
        match usage.get_mut(name) {
            Some(u) => {
                u.roll(now);
                Spend {
                    today_micros: u.day.spent,
                    month_micros: u.month.spent,
                }
            }
            None => Spend::default(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BudgetEvent> {
        self.events.subscribe()
    }
}

fn soft_of(budget: u64, pct: u8) -> u64 {
    let v = u128::from(budget) * u128::from(pct.clamp(1, 100)) / 100;
    u64::try_from(v).unwrap_or(budget)
}

/// The engine's record sink with the clients' meter in front: every finished request is
/// counted against its client before it is logged.
pub(crate) struct MeteredSink {
    pub(crate) clients: Arc<Clients>,
    pub(crate) inner: Arc<dyn RecordSink>,
    /// What providers last said about each key.
    pub(crate) said: Arc<crate::standing::KeySaid>,
}

impl RecordSink for MeteredSink {
    fn record(&self, record: RequestRecord) {
        self.clients.record(&record);
        self.said.note_attempts(&record);
        self.inner.record(record);
    }
}

/// The start of the current UTC day and month (for seeding spend from the log, and naming
/// team mode's shared spend counters).
pub fn period_starts(now_ms: i64) -> (i64, i64) {
    (day_bounds(now_ms).0, month_bounds(now_ms).0)
}

// ----- the admin API's shapes ------------------------------------------------------------

/// A client as the dashboard shows it. Money is in US dollars here (micro-dollars in
/// storage).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    pub name: String,
    pub enabled: bool,
    /// The aliases/models the client may ask for; absent: any.
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub daily_budget_usd: Option<f64>,
    pub monthly_budget_usd: Option<f64>,
    /// Percent of a budget at which the soft alert fires.
    pub soft_limit_pct: u8,
    pub expires_at_ms: Option<i64>,
    /// Past its expiry: its keys are refused.
    pub expired: bool,
    pub created_at_ms: i64,
    pub keys: Vec<ClientKeyView>,
    /// Spend in the current UTC day and month, in US dollars.
    pub spent_today_usd: f64,
    pub spent_month_usd: f64,
    pub day_resets_at_ms: i64,
    pub month_resets_at_ms: i64,
    /// The built-in client holding the local access keys; it cannot be deleted.
    pub builtin: bool,
}

/// One access key of a client: never the key, only how to recognise it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientKeyView {
    /// Absent for the local access keys of the default client (managed as the access key).
    pub id: Option<i64>,
    pub fingerprint: String,
    pub last4: String,
    pub created_at_ms: Option<i64>,
}

/// A client's settings as the admin API takes them (every field but `name` optional; an
/// update replaces all of them). Budgets are in US dollars.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// Letters, digits, `.`, `_` and `-`; 1–64 characters. Ignored by updates.
    #[serde(default)]
    pub name: String,
    pub enabled: Option<bool>,
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub daily_budget_usd: Option<f64>,
    pub monthly_budget_usd: Option<f64>,
    /// 1–100; default 80.
    pub soft_limit_pct: Option<u8>,
    pub expires_at_ms: Option<i64>,
}

/// A new client (or a new key of a client), with the key shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewClientSecret {
    pub client: ClientView,
    /// The access key. It is not stored and cannot be shown again.
    pub key: String,
    /// The id of the new key.
    pub key_id: i64,
}

pub(crate) fn validate_name(name: &str) -> Result<(), ControlError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ControlError::invalid(
            "name",
            "use 1–64 letters, digits, `.`, `_` or `-`",
        ))
    }
}

fn budget_micros(field: &str, usd: Option<f64>) -> Result<Option<u64>, ControlError> {
    let Some(v) = usd else { return Ok(None) };
    if !v.is_finite() || v <= 0.0 || v > MAX_BUDGET_USD {
        return Err(ControlError::invalid(
            field,
            format!("a budget is a positive number of US dollars, at most {MAX_BUDGET_USD}"),
        ));
    }
    let micros = (v * 1e6).round();
    if micros < 1.0 {
        return Err(ControlError::invalid(
            field,
            "a budget is at least one micro-dollar",
        ));
    }
    Ok(Some(micros as u64))
}

impl ClientInput {
    /// The settings to store, or the field at fault.
    pub(crate) fn settings(&self) -> Result<ClientSettings, ControlError> {
        if self.rpm == Some(0) {
            return Err(ControlError::invalid(
                "rpm",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        if self.tpm == Some(0) {
            return Err(ControlError::invalid(
                "tpm",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        let soft = self.soft_limit_pct.unwrap_or(80);
        if !(1..=100).contains(&soft) {
            return Err(ControlError::invalid(
                "soft_limit_pct",
                "must be between 1 and 100",
            ));
        }
        if let Some(models) = &self.models {
            let mut seen = HashSet::new();
            for (i, m) in models.iter().enumerate() {
                if m.trim().is_empty() || m.len() > switchboard_router::log::CLIENT_STR_MAX {
                    return Err(ControlError::invalid(
                        format!("models[{i}]"),
                        "must be a model or alias name",
                    ));
                }
                if !seen.insert(m) {
                    return Err(ControlError::invalid(
                        format!("models[{i}]"),
                        format!("`{m}` is listed twice"),
                    ));
                }
            }
        }
        if self.expires_at_ms.is_some_and(|t| t <= 0) {
            return Err(ControlError::invalid(
                "expires_at_ms",
                "must be a Unix time in milliseconds",
            ));
        }
        Ok(ClientSettings {
            enabled: self.enabled.unwrap_or(true),
            models: self.models.clone(),
            rpm: self.rpm,
            tpm: self.tpm,
            daily_budget_micros: budget_micros("daily_budget_usd", self.daily_budget_usd)?,
            monthly_budget_micros: budget_micros("monthly_budget_usd", self.monthly_budget_usd)?,
            soft_limit_pct: soft,
            expires_at_ms: self.expires_at_ms,
        })
    }
}

/// A fresh client key, and what the store keeps of it.
pub(crate) fn new_key() -> (Secret, NewClientKey) {
    let key = switchboard_store::LocalToken::AccessKey.generate();
    let stored = NewClientKey {
        hash: digest(key.expose().as_bytes()),
        fingerprint: key.fingerprint(),
        last4: key.last4(),
    };
    (key, stored)
}

/// Each client's spend as every instance has logged it (team mode), in micro-dollars.
pub(crate) struct LoggedSpend {
    pub day: HashMap<String, u64>,
    pub month: HashMap<String, u64>,
}

impl Clients {
    /// The client's view. Its spend is this instance's count, or in team mode what every
    /// instance has logged when that is more (this instance's latest requests may not be
    /// written yet; the others' only reach it through the log).
    pub(crate) fn view(&self, row: &ClientRow, logged: Option<&LoggedSpend>) -> ClientView {
        let now = self.now_ms();
        let s = &row.settings;
        let mut spend = self.spend(&row.name);
        if let Some(l) = logged {
            let of = |m: &HashMap<String, u64>| m.get(&row.name).copied().unwrap_or(0);
            spend.today_micros = spend.today_micros.max(of(&l.day));
            spend.month_micros = spend.month_micros.max(of(&l.month));
        }
        let builtin = row.name == DEFAULT_CLIENT;
        let mut keys: Vec<ClientKeyView> = Vec::new();
        if builtin {
            keys.extend(self.local_keys().iter().map(|k| ClientKeyView {
                id: None,
                fingerprint: k.fingerprint(),
                last4: k.last4(),
                created_at_ms: None,
            }));
        }
        keys.extend(row.keys.iter().map(|k| ClientKeyView {
            id: Some(k.id),
            fingerprint: k.fingerprint.clone(),
            last4: k.last4.clone(),
            created_at_ms: Some(k.created_at_ms),
        }));
        let usd = |m: u64| m as f64 / 1e6;
        ClientView {
            name: row.name.clone(),
            enabled: s.enabled,
            models: s.models.clone(),
            rpm: s.rpm,
            tpm: s.tpm,
            daily_budget_usd: s.daily_budget_micros.map(usd),
            monthly_budget_usd: s.monthly_budget_micros.map(usd),
            soft_limit_pct: s.soft_limit_pct,
            expires_at_ms: s.expires_at_ms,
            expired: s.expires_at_ms.is_some_and(|t| now >= t),
            created_at_ms: row.created_at_ms,
            keys,
            spent_today_usd: usd(spend.today_micros),
            spent_month_usd: usd(spend.month_micros),
            day_resets_at_ms: day_bounds(now).1,
            month_resets_at_ms: month_bounds(now).1,
            builtin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_router::clock::ManualClock;

    fn rec(client: &str, tokens: u64, cost: Option<u64>) -> RequestRecord {
        RequestRecord {
            id: String::new(),
            started_at_ms: 0,
            dialect: "openai_chat".into(),
            alias: "m".into(),
            provider: None,
            key_id: None,
            upstream_model: None,
            status: 200,
            stream: false,
            latency_ms: 0,
            ttfb_ms: None,
            tokens_in: tokens,
            tokens_out: 0,
            tokens_cached: 0,
            tokens_reasoning: 0,
            cost_micros: cost,
            audio_ms: None,
            images: None,
            client: Some(client.into()),
            error: None,
            affinity: None,
            attempts: Vec::new(),
            refused: None,
            instance: None,
        }
    }

    /// 2026-12-06T23:59:00Z.
    const LATE: i64 = 1_796_601_540_000;

    fn clients(settings: ClientSettings, clock: &ManualClock) -> (Arc<Clients>, Arc<ClientEntry>) {
        let c = Arc::new(Clients::new(Arc::new(clock.clone())));
        c.rebuild(&[ClientRow {
            id: 1,
            name: "codex".into(),
            settings,
            created_at_ms: 0,
            keys: Vec::new(),
        }]);
        let entry = c.table().get("codex").cloned().unwrap();
        (c, entry)
    }

    #[test]
    fn local_keys_are_the_default_clients_even_without_its_row() {
        let c = Clients::new(Arc::new(ManualClock::new(LATE)));
        c.set_local_keys(vec![
            Secret::new("sk-sb-local-key-0123456789"),
            Secret::new(""),
        ]);
        c.rebuild(&[]);
        let entry = c.resolve(b"sk-sb-local-key-0123456789").unwrap();
        assert_eq!(&*entry.name, DEFAULT_CLIENT);
        assert!(c.resolve(b"").is_none(), "an empty key is no key");
        assert!(c.resolve(b"sk-sb-other").is_none());
    }

    #[test]
    fn periods_are_utc_days_and_months() {
        assert_eq!(rfc3339(LATE), "2026-12-06T23:59:00Z");
        let (d0, d1) = day_bounds(LATE);
        assert_eq!(rfc3339(d0), "2026-12-06T00:00:00Z");
        assert_eq!(rfc3339(d1), "2026-12-07T00:00:00Z");
        let (m0, m1) = month_bounds(LATE);
        assert_eq!(rfc3339(m0), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(m1), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn shared_usage_counts_and_a_withdrawn_admission_frees_its_place() {
        let clock = ManualClock::new(LATE);
        let (c, e) = clients(
            ClientSettings {
                rpm: Some(2),
                tpm: Some(100),
                daily_budget_micros: Some(1_000),
                ..ClientSettings::default()
            },
            &clock,
        );
        // A place taken back is free again.
        c.admit(&e, 0).unwrap().refuse_rpm(2, 1_000);
        drop(c.admit(&e, 0).unwrap());
        drop(c.admit(&e, 0).unwrap());
        assert_eq!(c.admit(&e, 0).err().map(|r| r.limit), Some(Limit::Rpm));
        clock.advance_ms(60_000);

        // Tokens other instances used count while the count is fresh.
        c.note_shared_tokens(&e, 95);
        let r = c.admit(&e, 10).err().unwrap();
        assert_eq!(r.limit, Limit::Tpm);
        clock.advance_ms(SHARED_TOKENS_FRESH_MS);
        drop(c.admit(&e, 10).unwrap());

        // Spend recorded elsewhere reaches the budget; it is never lowered, and not alerted here.
        let mut rx = c.subscribe();
        c.note_shared_spend(&e, 1_000, 1_000);
        assert_eq!(
            c.admit(&e, 0).err().map(|r| r.limit),
            Some(Limit::DailyBudget)
        );
        c.note_shared_spend(&e, 10, 10);
        assert_eq!(c.spend("codex").today_micros, 1_000);
        c.record(&rec("codex", 0, Some(5)));
        assert!(rx.try_recv().is_err(), "no alert for others' spend");
    }

    #[test]
    fn rpm_refuses_exactly_the_first_request_over() {
        let clock = ManualClock::new(LATE);
        let (c, e) = clients(
            ClientSettings {
                rpm: Some(3),
                ..ClientSettings::default()
            },
            &clock,
        );
        for _ in 0..3 {
            drop(c.admit(&e, 0).unwrap());
        }
        let r = c.admit(&e, 0).err().unwrap();
        assert_eq!(r.limit, Limit::Rpm);
        assert_eq!(r.resets_at_ms, LATE + 60_000);
        assert_eq!(r.retry_after_secs(), 60);
        let msg = r.client_error().message;
        assert!(
            msg.contains("codex") && msg.contains("3 requests per minute"),
            "{msg}"
        );
        clock.advance_ms(60_000);
        assert!(c.admit(&e, 0).is_ok());
    }

    #[test]
    fn tpm_counts_estimates_in_flight_and_actual_tokens_after() {
        let clock = ManualClock::new(LATE);
        let (c, e) = clients(
            ClientSettings {
                tpm: Some(100),
                ..ClientSettings::default()
            },
            &clock,
        );
        let a = c.admit(&e, 60).unwrap();
        // 60 in flight: 41 more would be over.
        assert_eq!(c.admit(&e, 41).err().unwrap().limit, Limit::Tpm);
        // It really used 90 tokens.
        c.record(&rec("codex", 90, None));
        drop(a);
        assert!(c.admit(&e, 11).is_err());
        drop(c.admit(&e, 10).unwrap());
        clock.advance_ms(60_000);
        drop(c.admit(&e, 100).unwrap());
        // A request that can never fit says so.
        let r = c.admit(&e, 101).err().unwrap();
        assert_eq!(r.too_large, Some(101));
        assert!(r.client_error().message.contains("larger than"), "{r:?}");
    }

    #[test]
    fn budgets_alert_once_and_stop_at_the_hard_limit_until_the_period_ends() {
        let clock = ManualClock::new(LATE);
        let (c, e) = clients(
            ClientSettings {
                daily_budget_micros: Some(1_000_000),
                soft_limit_pct: 50,
                ..ClientSettings::default()
            },
            &clock,
        );
        let mut events = c.subscribe();
        c.record(&rec("codex", 1, Some(400_000)));
        assert!(events.try_recv().is_err());
        c.record(&rec("codex", 1, Some(200_000)));
        let soft = events.try_recv().unwrap();
        assert_eq!(
            soft,
            BudgetEvent {
                client: "codex".into(),
                period: BudgetPeriod::Daily,
                level: BudgetLevel::Soft,
                spent_micros: 600_000,
                budget_micros: 1_000_000
            }
        );
        c.record(&rec("codex", 1, Some(100_000)));
        assert!(events.try_recv().is_err(), "the soft alert is sent once");
        assert!(c.admit(&e, 0).is_ok());
        c.record(&rec("codex", 1, Some(300_000)));
        assert_eq!(events.try_recv().unwrap().level, BudgetLevel::Hard);
        let r = c.admit(&e, 0).err().unwrap();
        assert_eq!(r.limit, Limit::DailyBudget);
        assert_eq!(rfc3339(r.resets_at_ms), "2026-12-07T00:00:00Z");
        assert_eq!(r.retry_after_secs(), 60);
        assert_eq!(c.spend("codex").month_micros, 1_000_000);
        // The next UTC day starts afresh; the month keeps counting.
        clock.advance_ms(60_000);
        assert!(c.admit(&e, 0).is_ok());
        assert_eq!(
            c.spend("codex"),
            Spend {
                today_micros: 0,
                month_micros: 1_000_000
            }
        );
    }

    #[test]
    fn seeded_spend_counts_and_is_not_alerted_again() {
        let clock = ManualClock::new(LATE);
        let (c, e) = clients(
            ClientSettings {
                monthly_budget_micros: Some(500),
                ..ClientSettings::default()
            },
            &clock,
        );
        let mut events = c.subscribe();
        c.seed(
            HashMap::from([("codex".to_owned(), 100)]),
            HashMap::from([("codex".to_owned(), 450)]),
        );
        assert_eq!(
            c.spend("codex"),
            Spend {
                today_micros: 100,
                month_micros: 450
            }
        );
        c.record(&rec("codex", 1, Some(60)));
        assert_eq!(events.try_recv().unwrap().level, BudgetLevel::Hard);
        assert!(events.try_recv().is_err());
        assert_eq!(c.admit(&e, 0).err().unwrap().limit, Limit::MonthlyBudget);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let bad = |i: ClientInput| match i.settings() {
            Err(ControlError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            bad(ClientInput {
                rpm: Some(0),
                ..Default::default()
            }),
            "rpm"
        );
        assert_eq!(
            bad(ClientInput {
                daily_budget_usd: Some(-1.0),
                ..Default::default()
            }),
            "daily_budget_usd"
        );
        assert_eq!(
            bad(ClientInput {
                monthly_budget_usd: Some(f64::NAN),
                ..Default::default()
            }),
            "monthly_budget_usd"
        );
        assert_eq!(
            bad(ClientInput {
                soft_limit_pct: Some(101),
                ..Default::default()
            }),
            "soft_limit_pct"
        );
        assert_eq!(
            bad(ClientInput {
                models: Some(vec!["a".into(), "a".into()]),
                ..Default::default()
            }),
            "models[1]"
        );
        let ok = ClientInput {
            daily_budget_usd: Some(2.5),
            ..Default::default()
        }
        .settings()
        .unwrap();
        assert_eq!(ok.daily_budget_micros, Some(2_500_000));
        assert!(validate_name("claude-code").is_ok());
        assert!(validate_name("a b").is_err());
    }
}
