//! The upstream HTTP client: one pooled reqwest client per connect timeout, URLs and auth per
//! provider dialect. Redirects are never followed (a redirect would carry the key elsewhere).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::Mutex;
use switchboard_protocol::Dialect;

use crate::model::Provider;
use crate::secret::Secret;

/// Why the client could not be built; only at start-up.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the upstream HTTP client: {0}")]
pub struct ClientBuildError(String);

/// Pooled clients keyed by connect timeout (reqwest sets it per client, not per request).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    by_connect_ms: Arc<Mutex<HashMap<u64, reqwest::Client>>>,
}

impl Clients {
    pub fn get(&self, connect_ms: u64) -> Result<reqwest::Client, ClientBuildError> {
        let mut map = self.by_connect_ms.lock();
        if let Some(c) = map.get(&connect_ms) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")));
        if connect_ms > 0 {
            builder = builder.connect_timeout(Duration::from_millis(connect_ms));
        }
        let client = builder
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        map.insert(connect_ms, client.clone());
        Ok(client)
    }
}

/// The URL of the generation endpoint for `provider` and `model`.
pub fn endpoint_url(provider: &Provider, model: &str, stream: bool) -> String {
    let base = provider.base_url.trim_end_matches('/');
    match provider.kind {
        Dialect::OpenaiChat => format!("{base}/chat/completions"),
        Dialect::OpenaiResponses => format!("{base}/responses"),
        Dialect::Anthropic => format!("{base}/messages"),
        Dialect::Gemini if stream => format!("{base}/models/{model}:streamGenerateContent?alt=sse"),
        Dialect::Gemini => format!("{base}/models/{model}:generateContent"),
    }
}

/// The compaction endpoint of a Responses provider.
pub fn compact_url(provider: &Provider) -> String {
    format!(
        "{}/responses/compact",
        provider.base_url.trim_end_matches('/')
    )
}

/// The model-list URL, used by discovery and by probes.
pub fn models_url(provider: &Provider) -> String {
    format!("{}/models", provider.base_url.trim_end_matches('/'))
}

/// Names the Switchboard instances a request has passed, comma-separated: a request that
/// arrives carrying our own id has come back to us (a provider points at this router).
pub const HOP_HEADER: &str = "x-switchboard-hop";
/// Hops kept in the header (the oldest are dropped beyond it).
const HOP_MAX: usize = 16;

/// The ids in an incoming hop header.
fn hops(incoming: Option<&HeaderValue>) -> impl Iterator<Item = &str> {
    incoming
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
}

/// Whether a request that arrived with `incoming` has been through this instance (`own`).
pub fn has_looped(incoming: Option<&HeaderValue>, own: &str) -> bool {
    hops(incoming).any(|h| h == own)
}

/// The hop header for an upstream call: the incoming hops, then our own id.
pub fn hop_chain(incoming: Option<&HeaderValue>, own: &str) -> Option<HeaderValue> {
    let mut all: Vec<&str> = hops(incoming).collect();
    all.push(own);
    let start = all.len().saturating_sub(HOP_MAX);
    HeaderValue::from_str(&all[start..].join(", ")).ok()
}

/// Default `anthropic-version` when the client did not send one.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Headers for one upstream call: the provider's extras, then auth for its dialect. Auth is
/// marked sensitive so no tracing layer prints it.
pub fn request_headers(
    provider: &Provider,
    key: &Secret,
    forwarded: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in &provider.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    for (n, v) in forwarded {
        h.insert(n.clone(), v.clone());
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let auth = |prefix: &str| {
        HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map(|mut v| {
            v.set_sensitive(true);
            v
        })
    };
    match provider.kind {
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            if let Ok(v) = auth("Bearer ") {
                h.insert(http::header::AUTHORIZATION, v);
            }
        }
        Dialect::Anthropic => {
            if let Ok(v) = auth("") {
                h.insert(HeaderName::from_static("x-api-key"), v);
            }
            h.entry(HeaderName::from_static("anthropic-version"))
                .or_insert(HeaderValue::from_static(ANTHROPIC_VERSION));
        }
        Dialect::Gemini => {
            if let Ok(v) = auth("") {
                h.insert(HeaderName::from_static("x-goog-api-key"), v);
            }
        }
    }
    h
}

/// Headers that carry a credential, masked wherever headers are shown or kept.
pub const CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
];

/// Headers as the inspector keeps them: credentials (and every value marked sensitive,
/// like the auth [`request_headers`] sets) replaced by `[redacted]`.
pub fn redacted_headers(headers: &HeaderMap) -> Vec<crate::inspect::CapturedHeader> {
    headers
        .iter()
        .map(|(n, v)| crate::inspect::CapturedHeader {
            name: n.as_str().to_owned(),
            value: if v.is_sensitive() || CREDENTIAL_HEADERS.contains(&n.as_str()) {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_chain_and_a_loop_is_seen() {
        assert_eq!(hop_chain(None, "aa").unwrap(), "aa");
        let incoming = HeaderValue::from_static("11, 22");
        assert_eq!(hop_chain(Some(&incoming), "aa").unwrap(), "11, 22, aa");
        assert!(!has_looped(Some(&incoming), "aa"));
        assert!(has_looped(Some(&incoming), "22"));
        assert!(!has_looped(None, "aa"));
        assert!(!has_looped(Some(&HeaderValue::from_static("")), "aa"));
        // A long chain keeps its newest hops, ours last.
        let long: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
        let incoming = HeaderValue::from_str(&long.join(",")).unwrap();
        let out = hop_chain(Some(&incoming), "aa").unwrap();
        let hops: Vec<&str> = out.to_str().unwrap().split(", ").collect();
        assert_eq!(hops.len(), HOP_MAX);
        assert_eq!(hops.last(), Some(&"aa"));
        assert_eq!(hops[0], "h25");
    }

    #[test]
    fn credentials_are_redacted_from_kept_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("AIza-secret"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-secret"),
        );
        let mut marked = HeaderValue::from_static("other-secret");
        marked.set_sensitive(true);
        h.insert("x-custom-auth", marked);
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        let kept = redacted_headers(&h);
        let text = format!("{kept:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("2023-06-01"));
        assert_eq!(kept.len(), 4);
    }
}
