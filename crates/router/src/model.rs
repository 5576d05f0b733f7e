//! The configuration model: providers, their keys, routes (aliases) and settings. These are
//! the values the store persists, the admin API edits and the engine snapshots.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_protocol::Dialect;
use utoipa::ToSchema;

use crate::secret::Secret;

/// Per-provider timeouts, in milliseconds. Zero disables a bound (never the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Timeouts {
    /// TCP connect, the proxy's handshake (when one is set) and TLS.
    pub connect_ms: u64,
    /// From sending the request to the response headers (and, for streams, the first event).
    pub first_byte_ms: u64,
    /// Longest silence between two chunks of a streamed body.
    pub idle_ms: u64,
    /// Whole attempt, headers to last byte.
    pub total_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 10_000,
            first_byte_ms: 120_000,
            idle_ms: 120_000,
            total_ms: 900_000,
        }
    }
}

/// Same-key retries of transient failures (5xx, 529, a broken connection, a timeout before
/// the first byte), before the key is cooled. Each retry waits a jittered exponential backoff
/// from `base_ms`, doubling up to `max_ms`; retries spend the request's attempt budget (never
/// an attempt another key would need) and never outlive its deadline. A route's only key is
/// retried for the single-key wait instead; `max_retries = 0` turns retries off entirely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RetryPolicy {
    /// Retries of the same key after a transient failure (0: fail over or cool at once).
    pub max_retries: u32,
    /// Backoff before the first retry, milliseconds.
    pub base_ms: u64,
    /// Longest backoff between two retries, milliseconds. A provider asking for a longer
    /// wait (its `Retry-After`) is not retried: the key cools for that wait instead.
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_ms: 200,
            max_ms: 1_000,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `n` (0-based): `base × 2ⁿ` capped at `max_ms`, of which
    /// the upper half is random ("equal jitter"), so retries of many requests spread out.
    pub fn backoff(&self, n: u32) -> std::time::Duration {
        let full = self
            .base_ms
            .saturating_mul(1u64 << n.min(20))
            .min(self.max_ms.max(1));
        let half = full / 2;
        let jitter = if half == 0 {
            0
        } else {
            rand::random_range(0..=half)
        };
        std::time::Duration::from_millis(full - half + jitter)
    }
}

/// Where a model entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// From the provider's model list (refreshed on discovery).
    Discovered,
    /// Entered by the user (kept across discoveries).
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    pub source: ModelSource,
    /// Price in USD per million input tokens: overrides the price table for this provider
    /// (what requests cost, what the `cheapest` strategy compares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_price: Option<f64>,
    /// Price in USD per million output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_price: Option<f64>,
    /// Price in USD per million cached input tokens read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_price: Option<f64>,
    /// Price in USD per million input tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_price: Option<f64>,
    /// Price in USD per million reasoning tokens, where priced apart from output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_price: Option<f64>,
}

impl ModelInfo {
    /// Whether this entry sets any price of its own (an override of the price table).
    pub fn has_price(&self) -> bool {
        [
            self.input_price,
            self.output_price,
            self.cache_read_price,
            self.cache_write_price,
            self.reasoning_price,
        ]
        .iter()
        .any(Option::is_some)
    }
}

/// An upstream API provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Provider {
    /// Unique name, used by routes and in logs.
    pub name: String,
    /// The dialect the provider speaks.
    #[schema(value_type = String, example = "openai_chat")]
    pub kind: Dialect,
    /// API root as the provider documents it (e.g. `https://api.deepseek.com/v1`).
    pub base_url: String,
    /// Extra headers sent on every request (not secrets: use keys for those).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Lower is preferred when a model is served by several providers.
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Request body fields this provider rejects; removed before sending.
    #[serde(default)]
    pub drop_params: Vec<String>,
    #[serde(default)]
    pub models: Vec<ModelInfo>,
    #[serde(default)]
    pub quirks: Quirks,
    /// Most requests one key of this provider may have in flight (none: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency_per_key: Option<u32>,
    /// Same-key retries of transient failures.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The provider's balance endpoint, when its host is not one Switchboard knows (DeepSeek
    /// and OpenRouter are found by host), or to set the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<crate::balance::BalanceCheck>,
    /// This provider's own way to the network (none: the global proxy setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySetting>,
    /// Extra trusted roots for this provider's TLS: a PEM file (one or more certificates) on
    /// the machine Switchboard runs on. The system's roots stay trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The same, the PEM text itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

/// How upstream connections reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProxyMode {
    /// Follow the system: the operating system's setting where the host app reads it (the
    /// desktop app), else the proxy environment variables (`HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` and `NO_PROXY`).
    #[default]
    System,
    /// Straight to the provider, whatever the environment says.
    Direct,
    /// Through the proxy at `url`, except for the hosts in `no_proxy`.
    Url,
}

/// A proxy setting: the global one (in [`Settings`]) or a provider's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ProxySetting {
    pub mode: ProxyMode,
    /// `http://`, `https://`, `socks5://` or `socks5h://` (names resolved by the proxy),
    /// host and port. Credentials written into it (`user:password@`) are moved to the secret
    /// store when the setting is saved: the URL kept and shown never carries them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The secret-store entry holding the proxy's credentials, set when they are saved.
    /// Send it back unchanged to keep them; leave it out to drop them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<String>,
    /// Hosts reached directly rather than through `url`: a name (its subdomains too, a
    /// leading dot is allowed), an IP address, a CIDR block (`10.0.0.0/8`) or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

/// Schemes a proxy URL may have.
pub const PROXY_SCHEMES: [&str; 4] = ["http", "https", "socks5", "socks5h"];

/// Prefix of the secret-store ids holding proxy credentials.
pub const PROXY_CREDENTIAL_PREFIX: &str = "proxy/";

impl ProxySetting {
    /// The proxy URL, parsed; `None` when none is set.
    pub fn parsed_url(&self) -> Option<Result<reqwest::Url, String>> {
        self.url
            .as_deref()
            .map(|u| reqwest::Url::parse(u.trim()).map_err(|e| e.to_string()))
    }

    /// Checks the setting as it is saved; `field` names it in the error (`proxy`).
    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        let url_field = format!("{field}.url");
        match self.parsed_url() {
            None if self.mode == ProxyMode::Url => {
                return Err(Invalid::new(
                    url_field,
                    "is required when the mode is `url`",
                ));
            }
            None => {}
            Some(Err(e)) => {
                return Err(Invalid::new(
                    url_field,
                    format!(
                        "is not a URL ({e}); write it as socks5://host:port or http://host:port"
                    ),
                ));
            }
            Some(Ok(url)) => {
                if !PROXY_SCHEMES.contains(&url.scheme()) {
                    return Err(Invalid::new(
                        url_field,
                        format!(
                            "has the scheme `{}`; a proxy URL starts with http://, https://, socks5:// or socks5h://",
                            url.scheme()
                        ),
                    ));
                }
                if url.host_str().unwrap_or_default().is_empty() {
                    return Err(Invalid::new(url_field, "has no host"));
                }
                if !matches!(url.path(), "" | "/")
                    || url.query().is_some()
                    || url.fragment().is_some()
                {
                    return Err(Invalid::new(
                        url_field,
                        "must be only a scheme, an optional user:password@, a host and a port",
                    ));
                }
            }
        }
        if let Some(r) = &self.credential_ref
            && !r.starts_with(PROXY_CREDENTIAL_PREFIX)
        {
            return Err(Invalid::new(
                format!("{field}.credential_ref"),
                "is not a proxy credential",
            ));
        }
        for (i, host) in self.no_proxy.iter().enumerate() {
            check_no_proxy(host).map_err(|m| Invalid::new(format!("{field}.no_proxy[{i}]"), m))?;
        }
        Ok(())
    }
}

/// One `no_proxy` entry as reqwest's `NoProxy` reads it: one item of its comma-separated list.
fn check_no_proxy(entry: &str) -> Result<(), &'static str> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("must not be empty");
    }
    if entry
        .chars()
        .any(|c| c == ',' || c.is_whitespace() || c.is_control())
    {
        return Err("must be one host, IP address or CIDR block (one entry per item)");
    }
    if let Some((ip, bits)) = entry.split_once('/') {
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|_| "is not a CIDR block (address/bits)")?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if !bits.parse::<u8>().is_ok_and(|b| b <= max) {
            return Err("is not a CIDR block (address/bits)");
        }
    }
    Ok(())
}

/// Reads extra trusted roots: every certificate in a PEM bundle. An empty or unreadable bundle
/// is an error (a CA that silently trusts nothing would fail every request later).
pub fn parse_ca_bundle(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, &'static str> {
    use rustls::pki_types::pem::PemObject;
    match rustls::pki_types::CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
    }
}

/// Known provider quirks, as data (DESIGN.md "Translation"): what a provider needs that its
/// dialect's reference API does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Quirks {
    /// OpenAI Chat upstreams: send the output cap as `max_completion_tokens` (OpenAI's
    /// reasoning models) instead of `max_tokens`.
    pub max_completion_tokens: bool,
    /// Replay earlier reasoning as `reasoning_content` on assistant turns (DeepSeek thinking
    /// mode rejects tool turns without it).
    pub replay_reasoning_content: bool,
    /// Drop thinking signatures issued by other providers from replayed history, on
    /// pass-through as on translated routes (on unless turned off): a conversation that moved
    /// here from another provider is not refused for the other's thinking.
    pub strip_foreign_signatures: bool,
    /// Output cap when the upstream requires one and the client gave none.
    pub default_max_tokens: Option<u64>,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            max_completion_tokens: false,
            replay_reasoning_content: false,
            strip_foreign_signatures: true,
            default_max_tokens: None,
        }
    }
}

impl Quirks {
    /// The protocol crate's view, with the provider's dropped parameters.
    pub fn to_protocol(&self, drop_params: &[String]) -> switchboard_protocol::Quirks {
        switchboard_protocol::Quirks {
            drop_params: drop_params.to_vec(),
            max_tokens_field: self
                .max_completion_tokens
                .then_some(switchboard_protocol::MaxTokensField::MaxCompletionTokens),
            replay_reasoning_content: self.replay_reasoning_content,
            strip_foreign_signatures: self.strip_foreign_signatures,
            default_max_tokens: self.default_max_tokens,
        }
    }
}

/// A key as everyone but the egress adapter sees it: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyInfo {
    pub id: i64,
    pub provider: String,
    pub label: String,
    pub weight: u32,
    pub enabled: bool,
    /// First 12 hex digits of SHA-256 of the secret.
    pub fingerprint: String,
    /// Last four characters of the secret (empty for short secrets).
    pub last4: String,
    /// `env:NAME` when the secret is read from the environment, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_ref: Option<String>,
}

/// A key with its secret, as the engine holds it in the snapshot.
#[derive(Debug, Clone)]
pub struct Key {
    pub info: KeyInfo,
    pub secret: Secret,
}

/// How a route picks among its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Tiers by priority, in order; the next tier only when the one above has no usable key.
    #[default]
    Priority,
    /// Smooth weighted round robin.
    Weighted,
    RoundRobin,
    /// Fewest in-flight requests per unit of weight.
    LeastBusy,
    /// Lowest EWMA time to first byte, with a little exploration.
    Fastest,
    /// Lowest configured price.
    Cheapest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    pub provider: String,
    /// The model name sent upstream.
    pub model: String,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "one")]
    pub weight: u32,
    /// The model's context window in tokens, when known (else the provider's model list is
    /// asked). A request estimated above it skips this target; a context-length refusal
    /// moves on only to targets with a larger window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
}

/// A model alias: the name clients send, mapped to ordered upstream targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    pub alias: String,
    #[serde(default)]
    pub strategy: Strategy,
    pub targets: Vec<Target>,
    /// Hedged requests (off when unset): when the first target has not produced its first
    /// content within this many milliseconds, the next target is started too; the first to
    /// answer wins and the other is cancelled. It can spend tokens twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after_ms: Option<u64>,
}

/// Engine-wide settings the admin API edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Settings {
    /// Alias that catches model names no route or provider claims.
    pub default_route: Option<String>,
    /// Largest accepted request body, bytes.
    pub body_limit_bytes: u64,
    /// Attempts per request across keys and targets.
    pub attempt_budget: u32,
    /// Days of request log kept.
    pub log_retention_days: u32,
    /// How long a conversation sticks to the key that served it, seconds.
    pub affinity_ttl_secs: u64,
    /// When every candidate is cooling and the earliest recovers within this many
    /// milliseconds, hold the request instead of failing it (0: answer at once).
    pub max_wait_ms: u64,
    /// The same, for routes served by a single key (no other key or target to fail over to):
    /// the longer of the two applies. A lone key's transient failures are retried for this
    /// long before it is cooled.
    pub single_key_wait_ms: u64,
    /// Whole-request deadline across attempts, milliseconds.
    pub request_deadline_ms: u64,
    /// Keys whose announced quota cannot cover a request are skipped while another key can
    /// serve, and waited for rather than driven into a 429 (off: a key is skipped only once
    /// a 429 has cooled it).
    pub quota_aware: bool,
    /// How upstream connections reach the network, unless a provider sets its own.
    pub proxy: ProxySetting,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_route: None,
            body_limit_bytes: 32 * 1024 * 1024,
            attempt_budget: 4,
            log_retention_days: 30,
            affinity_ttl_secs: 3600,
            max_wait_ms: 0,
            single_key_wait_ms: 3_000,
            request_deadline_ms: 600_000,
            quota_aware: true,
            proxy: ProxySetting::default(),
        }
    }
}

/// Everything the engine routes with, as loaded from the store.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub providers: Vec<Provider>,
    pub keys: Vec<Key>,
    pub routes: Vec<Route>,
    pub settings: Settings,
    /// Model prices and limits (the bundled table unless one was loaded).
    pub prices: std::sync::Arc<crate::pricing::PriceTable>,
    /// Proxy credentials by their secret-store id (`user:password`, as in a URL).
    pub proxy_credentials: std::collections::HashMap<String, Secret>,
    /// The operating system's proxy setting as the host app reads it (the desktop app): what
    /// [`ProxyMode::System`] follows. `None`: the proxy environment variables.
    pub system_proxy: Option<ProxySetting>,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// Field-level validation shared by the admin API and the config file: returns the offending
/// field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn check_name(field: &str, name: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            "must be at most 200 characters, without control characters",
        ));
    }
    Ok(())
}

impl Provider {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_name("name", &self.name)?;
        // Parsed the way the HTTP client will parse it (WHATWG URL rules: `\` separates the
        // path, tabs and newlines are dropped, the last `@` ends the userinfo). A hand-rolled
        // split once read `http://evil.example\@127.0.0.1/` as local while the client sent
        // the key, in plain text, to evil.example (SECURITY.md T5).
        let url = reqwest::Url::parse(self.base_url.trim())
            .map_err(|_| Invalid::new("base_url", "must be an http(s) URL"))?;
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(Invalid::new("base_url", "has no host"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_local_host(host) => {}
            "http" => {
                return Err(Invalid::new(
                    "base_url",
                    "must use https unless the host is local (localhost, 127.0.0.1, ::1)",
                ));
            }
            _ => return Err(Invalid::new("base_url", "must be an http(s) URL")),
        }
        if self.weight == 0 {
            return Err(Invalid::new("weight", "must be at least 1"));
        }
        if self.retry.max_retries > 10 {
            return Err(Invalid::new("retry.max_retries", "must be at most 10"));
        }
        if self.retry.base_ms > self.retry.max_ms || self.retry.max_ms > 60_000 {
            return Err(Invalid::new(
                "retry.max_ms",
                "must be at least base_ms and at most 60000",
            ));
        }
        for name in self.headers.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Invalid::new(
                    format!("headers.{name}"),
                    "is not a valid header name",
                ));
            }
        }
        if let Some(proxy) = &self.proxy {
            proxy.validate("proxy")?;
        }
        match (&self.ca_file, &self.ca_pem) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "ca_pem",
                    "set either ca_file or ca_pem, not both",
                ));
            }
            (Some(path), None) => {
                let pem = std::fs::read(path.trim())
                    .map_err(|e| Invalid::new("ca_file", format!("cannot be read: {e}")))?;
                parse_ca_bundle(&pem).map_err(|m| Invalid::new("ca_file", m))?;
            }
            (None, Some(pem)) => {
                parse_ca_bundle(pem.as_bytes()).map_err(|m| Invalid::new("ca_pem", m))?;
            }
            (None, None) => {}
        }
        Ok(())
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        self.proxy.validate("proxy")
    }
}

impl Provider {
    /// Whether the base URL reaches a router listening on `listen`: the same port on the
    /// listening address, or on a loopback name when it listens on loopback or every
    /// interface. Such a provider would send every request back to the router itself.
    pub fn points_at(&self, listen: std::net::SocketAddr) -> bool {
        let Ok(url) = reqwest::Url::parse(self.base_url.trim()) else {
            return false;
        };
        if url.port_or_known_default() != Some(listen.port()) {
            return false;
        }
        let host = url.host_str().unwrap_or_default();
        if host.eq_ignore_ascii_case("localhost") {
            return listen.ip().is_loopback() || listen.ip().is_unspecified();
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = bare.parse::<std::net::IpAddr>() else {
            return false;
        };
        ip == listen.ip()
            || (ip.is_loopback() && (listen.ip().is_loopback() || listen.ip().is_unspecified()))
    }
}

/// Hosts a provider may be reached on over plain HTTP: this machine only.
pub fn is_local_host(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Route {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_name("alias", &self.alias)?;
        if self.targets.is_empty() {
            return Err(Invalid::new("targets", "needs at least one target"));
        }
        for (i, t) in self.targets.iter().enumerate() {
            check_name(&format!("targets[{i}].provider"), &t.provider)?;
            check_name(&format!("targets[{i}].model"), &t.model)?;
            if t.weight == 0 {
                return Err(Invalid::new(
                    format!("targets[{i}].weight"),
                    "must be at least 1",
                ));
            }
            if t.context_window == Some(0) {
                return Err(Invalid::new(
                    format!("targets[{i}].context_window"),
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(url: &str) -> Provider {
        Provider {
            name: "p".into(),
            kind: Dialect::OpenaiChat,
            base_url: url.into(),
            headers: BTreeMap::new(),
            timeouts: Timeouts::default(),
            priority: 0,
            weight: 1,
            enabled: true,
            drop_params: vec![],
            models: vec![],
            quirks: Quirks::default(),
            max_concurrency_per_key: None,
            retry: RetryPolicy::default(),
            balance: None,
            proxy: None,
            ca_file: None,
            ca_pem: None,
        }
    }

    #[test]
    fn base_url_must_be_https_unless_local() {
        assert!(provider("https://api.deepseek.com/v1").validate().is_ok());
        assert!(provider("http://127.0.0.1:8080/v1").validate().is_ok());
        assert!(provider("http://localhost/v1").validate().is_ok());
        assert!(provider("http://[::1]:9/v1").validate().is_ok());
        let err = provider("http://api.example.com/v1")
            .validate()
            .unwrap_err();
        assert_eq!(err.field, "base_url");
        assert!(provider("http://127.0.0.1.nip.io/v1").validate().is_err());
        // The HTTP client reads `\` as `/`: the host here is evil.example.
        assert!(
            provider("http://evil.example\\@127.0.0.1/v1")
                .validate()
                .is_err()
        );
        assert!(
            provider("http://127.0.0.1@evil.example/v1")
                .validate()
                .is_err()
        );
        assert!(provider("ftp://x").validate().is_err());
        assert!(provider("nonsense").validate().is_err());
    }

    #[test]
    fn retry_backoff_doubles_within_its_jitter_and_caps() {
        let p = RetryPolicy::default();
        for _ in 0..50 {
            let first = p.backoff(0).as_millis();
            assert!((100..=200).contains(&first), "{first}");
            let second = p.backoff(1).as_millis();
            assert!((200..=400).contains(&second), "{second}");
            let late = p.backoff(9).as_millis();
            assert!((500..=1_000).contains(&late), "{late}");
        }
        let mut bad = provider("https://api.example.com/v1");
        bad.retry.base_ms = 5_000;
        assert_eq!(bad.validate().unwrap_err().field, "retry.max_ms");
    }

    #[test]
    fn configs_without_the_new_fields_still_load() {
        let p: Provider = serde_json::from_value(serde_json::json!({
            "name": "p", "kind": "openai_chat", "base_url": "https://x.example/v1"
        }))
        .unwrap();
        assert_eq!(p.retry, RetryPolicy::default());
        let t: Target =
            serde_json::from_value(serde_json::json!({"provider": "p", "model": "m"})).unwrap();
        assert_eq!(t.context_window, None);
        let s: Settings = serde_json::from_value(serde_json::json!({"max_wait_ms": 5})).unwrap();
        assert_eq!(s.single_key_wait_ms, 3_000);
    }

    #[test]
    fn a_provider_pointing_at_the_listener_is_recognised() {
        let listen: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://localhost:8080/v1",
            "http://LOCALHOST:8080",
            "http://127.0.0.2:8080/v1",
        ] {
            assert!(provider(url).points_at(listen), "{url}");
        }
        for url in [
            "http://127.0.0.1:8081/v1",
            "https://api.example.com/v1",
            "http://127.0.0.1/v1",
        ] {
            assert!(!provider(url).points_at(listen), "{url}");
        }
        let any: std::net::SocketAddr = "0.0.0.0:443".parse().unwrap();
        assert!(provider("https://localhost/v1").points_at(any));
    }

    fn proxy(mode: ProxyMode, url: Option<&str>) -> ProxySetting {
        ProxySetting {
            mode,
            url: url.map(str::to_owned),
            ..ProxySetting::default()
        }
    }

    #[test]
    fn a_proxy_url_that_does_not_parse_is_refused_with_the_reason() {
        for ok in [
            "http://127.0.0.1:3128",
            "https://proxy.corp.example:8443/",
            "socks5://user:pa%40ss@10.0.0.1:1080",
            "socks5h://proxy.example:1080",
        ] {
            assert!(
                proxy(ProxyMode::Url, Some(ok)).validate("proxy").is_ok(),
                "{ok}"
            );
        }
        let err = proxy(ProxyMode::Url, Some("localhost:3128 ")).validate("proxy");
        // `localhost:3128` reads as the scheme `localhost`.
        assert!(err.unwrap_err().message.contains("scheme `localhost`"));
        let err = proxy(ProxyMode::Url, Some("http://[::1"))
            .validate("proxy")
            .unwrap_err();
        assert_eq!(err.field, "proxy.url");
        assert!(
            err.message.contains("is not a URL (invalid IPv6 address)"),
            "{}",
            err.message
        );
        let err = proxy(ProxyMode::Url, Some("ftp://x:21"))
            .validate("proxy")
            .unwrap_err();
        assert!(err.message.contains("socks5://"), "{}", err.message);
        assert!(
            proxy(ProxyMode::Url, Some("http://x:1/path"))
                .validate("proxy")
                .is_err()
        );
        assert!(proxy(ProxyMode::Url, None).validate("proxy").is_err());
        assert!(proxy(ProxyMode::Direct, None).validate("proxy").is_ok());
        let mut p = proxy(ProxyMode::Url, Some("http://x:1"));
        p.no_proxy = vec![
            "localhost".into(),
            ".corp.example".into(),
            "10.0.0.0/8".into(),
            "::1".into(),
        ];
        assert!(p.validate("proxy").is_ok());
        p.no_proxy = vec!["a.example, b.example".into()];
        assert_eq!(p.validate("proxy").unwrap_err().field, "proxy.no_proxy[0]");
        p.no_proxy = vec!["10.0.0.0/40".into()];
        assert!(p.validate("proxy").is_err());
        // A credential reference may only name a proxy credential.
        p.no_proxy = vec![];
        p.credential_ref = Some("key/abc".into());
        assert_eq!(
            p.validate("proxy").unwrap_err().field,
            "proxy.credential_ref"
        );
        let mut prov = provider("https://api.example.com/v1");
        prov.proxy = Some(proxy(ProxyMode::Url, Some("nonsense")));
        assert_eq!(prov.validate().unwrap_err().field, "proxy.url");
    }

    #[test]
    fn a_ca_bundle_must_hold_a_certificate() {
        let mut p = provider("https://api.example.com/v1");
        p.ca_pem = Some("not a certificate".into());
        assert_eq!(p.validate().unwrap_err().field, "ca_pem");
        p.ca_pem = None;
        p.ca_file = Some("/nonexistent/ca.pem".into());
        let err = p.validate().unwrap_err();
        assert_eq!(err.field, "ca_file");
        assert!(err.message.starts_with("cannot be read"), "{}", err.message);
    }

    #[test]
    fn route_needs_targets() {
        let r = Route {
            alias: "gpt".into(),
            strategy: Strategy::Priority,
            targets: vec![],
            hedge_after_ms: None,
        };
        assert_eq!(r.validate().unwrap_err().field, "targets");
    }
}
