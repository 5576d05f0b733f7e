//! The request inspector (opt-in): while a capture window is open (globally or for one
//! route, until a time on the engine's clock), a request's four parts are kept — the client's
//! request, each upstream request after translation, each upstream response (a stream as its
//! events with their timings) and what the client received — and handed to a
//! [`CaptureSink`] when the request is over.
//!
//! The hot path pays one atomic load when no window is open (`Engine::capture_for`).
//! Nothing here does I/O: the sink is the store's bounded channel. Secrets: auth headers are
//! masked when they are captured ([`crate::upstream::redacted_headers`]); every text is
//! passed through the scrubber of each key the request used when the capture is serialised
//! ([`FinishedCapture::clean_json`]), before anything is written.

use std::sync::Arc;

use http::HeaderMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use switchboard_protocol::Dialect;
use switchboard_protocol::sse::SseEvent;
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::record::millis;
use crate::request::{Endpoint, IngressRequest};
use crate::scrub::Scrubber;
use crate::snapshot::Snapshot;
use crate::upstream::redacted_headers;

/// Bytes kept of one body (or one stream's events) unless the setting says otherwise.
pub const DEFAULT_BODY_CAP: usize = 256 * 1024;

/// One open capture window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaptureWindow {
    /// The route (alias) whose requests are captured; none: every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Unix milliseconds (the router's clock) when the window closes.
    pub until_ms: i64,
}

/// Receives finished captures (the store's bounded capture writer). Never blocks.
pub trait CaptureSink: Send + Sync {
    fn capture(&self, capture: FinishedCapture);
}

/// What the engine captures and where captures go. Installed by the control plane.
pub struct Inspector {
    pub windows: Vec<CaptureWindow>,
    /// Bytes kept per body, and per stream transcript.
    pub body_cap: usize,
    pub sink: Arc<dyn CaptureSink>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("windows", &self.windows)
            .field("body_cap", &self.body_cap)
            .finish_non_exhaustive()
    }
}

impl Inspector {
    /// Whether a request for `route` (and the model name the client sent) is captured now.
    pub fn covers(&self, route: Option<&str>, model: &str, now_ms: i64) -> bool {
        self.windows.iter().any(|w| {
            now_ms < w.until_ms
                && w.route
                    .as_deref()
                    .is_none_or(|r| Some(r) == route || r == model)
        })
    }
}

/// A header as captured (auth values masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CapturedHeader {
    pub name: String,
    pub value: String,
}

/// One server-sent event and when it passed, in ms after the request arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CapturedEvent {
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub data: String,
}

/// One request or response: a whole body, or a stream's events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CapturedMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path (client side) or URL (upstream side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub headers: Vec<CapturedHeader>,
    /// The body as text (lossy UTF-8), cut at the size cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A stream's events, until the size cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<CapturedEvent>,
    /// Something was left out: the body or the events went past the size cap.
    #[serde(default)]
    pub truncated: bool,
    /// When it was sent or began (ms after the request arrived).
    #[serde(default)]
    pub at_ms: u64,
    /// Bytes of `events` kept so far (measured against the size cap).
    #[serde(skip)]
    pub events_bytes: usize,
}

/// One upstream call of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CapturedAttempt {
    pub provider: String,
    pub model: String,
    pub key_id: i64,
    /// The upstream request after translation.
    pub request: CapturedMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<CapturedMessage>,
    /// This attempt's answer is the one the client got.
    pub committed: bool,
}

/// Everything captured of one client request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Capture {
    /// The request log id of the request.
    pub request_id: String,
    pub started_at_ms: i64,
    /// When it was captured, on the router's clock (what retention is measured by).
    pub captured_at_ms: i64,
    /// The client's dialect (`anthropic`, `openai_chat`, …).
    pub dialect: String,
    /// The model name the client asked for.
    pub model: String,
    pub stream: bool,
    /// The client's request as the engine received it (its credential is never kept).
    pub client_request: CapturedMessage,
    pub attempts: Vec<CapturedAttempt>,
    /// What the client received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_response: Option<CapturedMessage>,
}

/// A capture as it leaves the request, with the scrubbers of the keys it used.
pub struct FinishedCapture {
    pub capture: Capture,
    scrubbers: Vec<Arc<Scrubber>>,
}

impl std::fmt::Debug for FinishedCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishedCapture")
            .field("request_id", &self.capture.request_id)
            .finish_non_exhaustive()
    }
}

impl FinishedCapture {
    /// A capture to be scrubbed with `scrubbers` (the keys its request used).
    pub fn new(capture: Capture, scrubbers: Vec<Arc<Scrubber>>) -> FinishedCapture {
        FinishedCapture { capture, scrubbers }
    }

    /// The capture as JSON, every key it could hold masked (whole, partial, JSON-escaped and
    /// URL-encoded echoes; [`Scrubber::scrub`]). What is written is only ever this.
    pub fn clean_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec(&self.capture).unwrap_or_default();
        for s in &self.scrubbers {
            if let std::borrow::Cow::Owned(clean) = s.scrub(&json) {
                json = clean;
            }
        }
        json
    }
}

/// The path a client calls for `dialect`'s `endpoint` (what a replay or a cURL line uses).
pub fn client_path(dialect: Dialect, endpoint: Endpoint, model: &str, stream: bool) -> String {
    match (dialect, endpoint) {
        (Dialect::OpenaiResponses, Endpoint::Compact) => "/v1/responses/compact".into(),
        (Dialect::OpenaiChat, _) => "/v1/chat/completions".into(),
        (Dialect::OpenaiResponses, _) => "/v1/responses".into(),
        (Dialect::Anthropic, _) => "/v1/messages".into(),
        (Dialect::Gemini, _) if stream => {
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
        }
        (Dialect::Gemini, _) => format!("/v1beta/models/{model}:generateContent"),
    }
}

struct State {
    capture: Capture,
    cap: usize,
    started: Instant,
    scrubbers: Vec<Arc<Scrubber>>,
    sink: Arc<dyn CaptureSink>,
}

impl Drop for State {
    fn drop(&mut self) {
        let capture = std::mem::replace(
            &mut self.capture,
            Capture {
                request_id: String::new(),
                started_at_ms: 0,
                captured_at_ms: 0,
                dialect: String::new(),
                model: String::new(),
                stream: false,
                client_request: CapturedMessage::default(),
                attempts: Vec::new(),
                client_response: None,
            },
        );
        self.sink.capture(FinishedCapture::new(
            capture,
            std::mem::take(&mut self.scrubbers),
        ));
    }
}

/// A request being captured. Clones share one capture (a hedged race's forks, the committed
/// stream, the dispatcher); it goes to the sink when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Tap(Arc<Mutex<State>>);

/// Text of `bytes` cut to `cap` bytes (at a character boundary); whether it was cut.
fn capped(bytes: &[u8], cap: usize) -> (String, bool) {
    let cut = bytes.len() > cap;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]);
    let mut text = text.into_owned();
    if cut {
        // A character split by the cut shows as U+FFFD; drop it.
        while text.ends_with('\u{FFFD}') {
            text.pop();
        }
    }
    (text, cut)
}

fn push_event(msg: &mut CapturedMessage, cap: usize, at_ms: u64, ev: &SseEvent) {
    if msg.truncated {
        return;
    }
    let size = ev.data.len() + ev.event.as_ref().map_or(0, String::len);
    if msg.events_bytes + size > cap {
        msg.truncated = true;
        return;
    }
    msg.events_bytes += size;
    msg.events.push(CapturedEvent {
        at_ms,
        event: ev.event.clone(),
        data: ev.data.clone(),
    });
}

impl Tap {
    fn at(st: &State) -> u64 {
        millis(st.started.elapsed())
    }

    /// The upstream request of a new attempt; returns the attempt's index.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn upstream_request(
        &self,
        provider: &str,
        model: &str,
        key_id: i64,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
        scrubber: &Arc<Scrubber>,
    ) -> usize {
        let mut st = self.0.lock();
        if !st.scrubbers.iter().any(|s| Arc::ptr_eq(s, scrubber)) {
            st.scrubbers.push(scrubber.clone());
        }
        let (text, truncated) = capped(body, st.cap);
        let at_ms = Self::at(&st);
        st.capture.attempts.push(CapturedAttempt {
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id,
            request: CapturedMessage {
                method: Some("POST".into()),
                url: Some(scrubber.scrub_str(url).into_owned()),
                headers: redacted_headers(headers),
                body: Some(text),
                truncated,
                at_ms,
                ..CapturedMessage::default()
            },
            response: None,
            committed: false,
        });
        st.capture.attempts.len() - 1
    }

    /// The status and headers of attempt `i`'s answer.
    pub(crate) fn upstream_response(&self, i: usize, status: u16, headers: &HeaderMap) {
        let mut st = self.0.lock();
        let at_ms = Self::at(&st);
        if let Some(a) = st.capture.attempts.get_mut(i) {
            a.response = Some(CapturedMessage {
                status: Some(status),
                headers: redacted_headers(headers),
                at_ms,
                ..CapturedMessage::default()
            });
        }
    }

    /// The whole body of attempt `i`'s answer.
    pub(crate) fn upstream_body(&self, i: usize, body: &[u8]) {
        let mut st = self.0.lock();
        let (text, cut) = capped(body, st.cap);
        if let Some(r) = st
            .capture
            .attempts
            .get_mut(i)
            .and_then(|a| a.response.as_mut())
        {
            r.body = Some(text);
            r.truncated |= cut;
        }
    }

    /// One event of attempt `i`'s stream, as the upstream sent it.
    pub(crate) fn upstream_event(&self, i: usize, ev: &SseEvent) {
        let mut st = self.0.lock();
        let (at_ms, cap) = (Self::at(&st), st.cap);
        if let Some(r) = st
            .capture
            .attempts
            .get_mut(i)
            .and_then(|a| a.response.as_mut())
        {
            push_event(r, cap, at_ms, ev);
        }
    }

    /// Attempt `i`'s answer is the one the client gets.
    pub(crate) fn committed(&self, i: usize) {
        if let Some(a) = self.0.lock().capture.attempts.get_mut(i) {
            a.committed = true;
        }
    }

    /// Events the client received (a committed stream).
    pub(crate) fn client_events(&self, events: &[SseEvent]) {
        let mut st = self.0.lock();
        let (at_ms, cap) = (Self::at(&st), st.cap);
        let r = st
            .capture
            .client_response
            .get_or_insert_with(CapturedMessage::default);
        for ev in events {
            push_event(r, cap, at_ms, ev);
        }
    }

    /// The status, headers and (whole) body the client received.
    pub(crate) fn client_reply(&self, status: u16, headers: &HeaderMap, body: Option<&[u8]>) {
        let mut st = self.0.lock();
        let (at_ms, cap) = (Self::at(&st), st.cap);
        let r = st
            .capture
            .client_response
            .get_or_insert_with(CapturedMessage::default);
        r.status = Some(status);
        r.headers = redacted_headers(headers);
        if r.at_ms == 0 {
            r.at_ms = at_ms;
        }
        if let Some(b) = body {
            let (text, cut) = capped(b, cap);
            r.body = Some(text);
            r.truncated |= cut;
        }
    }
}

impl Engine {
    /// Installs (or with `None` removes) the inspector; requests already under way keep
    /// the decision they started with.
    pub fn set_inspector(&self, inspector: Option<Inspector>) {
        self.inspector.store(inspector.map(Arc::new));
    }

    /// A tap and the request's log id when `req` is to be captured; with no window open,
    /// one atomic load.
    pub(crate) fn capture_for(
        &self,
        req: &IngressRequest,
        snap: &Snapshot,
    ) -> Option<(Tap, String)> {
        let guard = self.inspector.load();
        let inspector = guard.as_ref()?;
        let route = snap.resolve(&req.model).ok();
        let route = route.as_ref().map(|r| r.route.alias.as_str());
        let now_ms = self.clock.now_ms();
        if !inspector.covers(route, &req.model, now_ms) {
            return None;
        }
        let request_id = crate::id::request_id_at(req.received_at_ms);
        let (body, truncated) = capped(&req.body, inspector.body_cap);
        let mut headers = HeaderMap::new();
        for (n, v) in &req.forward_headers {
            headers.insert(n.clone(), v.clone());
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let tap = Tap(Arc::new(Mutex::new(State {
            capture: Capture {
                request_id: request_id.clone(),
                started_at_ms: req.received_at_ms,
                captured_at_ms: now_ms,
                dialect: req.dialect.as_str().to_owned(),
                model: req.model.clone(),
                stream: req.stream,
                client_request: CapturedMessage {
                    method: Some("POST".into()),
                    url: Some(client_path(
                        req.dialect,
                        req.endpoint,
                        &req.model,
                        req.stream,
                    )),
                    headers: redacted_headers(&headers),
                    body: Some(body),
                    truncated,
                    ..CapturedMessage::default()
                },
                attempts: Vec::new(),
                client_response: None,
            },
            cap: inspector.body_cap.max(1),
            started: req.received_at,
            scrubbers: Vec::new(),
            sink: inspector.sink.clone(),
        })));
        Some((tap, request_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn windows_cover_their_route_until_they_close() {
        struct Nowhere;
        impl CaptureSink for Nowhere {
            fn capture(&self, _: FinishedCapture) {}
        }
        let i = Inspector {
            windows: vec![CaptureWindow {
                route: Some("fast".into()),
                until_ms: 100,
            }],
            body_cap: 10,
            sink: Arc::new(Nowhere),
        };
        assert!(i.covers(Some("fast"), "x", 99));
        assert!(i.covers(None, "fast", 99));
        assert!(!i.covers(Some("fast"), "x", 100));
        assert!(!i.covers(Some("slow"), "slow", 50));
        let global = Inspector {
            windows: vec![CaptureWindow {
                route: None,
                until_ms: 100,
            }],
            ..i
        };
        assert!(global.covers(Some("slow"), "slow", 50));
    }

    #[test]
    fn bodies_are_cut_at_the_cap_on_a_character_boundary() {
        assert_eq!(capped(b"hello", 10), ("hello".into(), false));
        assert_eq!(capped("héllo".as_bytes(), 2), ("h".into(), true));
    }

    #[test]
    fn a_transcript_stops_at_the_cap_and_says_so() {
        let mut msg = CapturedMessage::default();
        for i in 0..10u64 {
            push_event(&mut msg, 12, i, &SseEvent::named("e", "abcd"));
        }
        assert_eq!(msg.events.len(), 2);
        assert!(msg.truncated);
        assert_eq!(msg.events[1].at_ms, 1);
    }

    #[test]
    fn the_clean_json_holds_no_key_in_any_encoding() {
        let key = Secret::new("sk-canary-0123456789abcdefghij");
        let scrubber = Arc::new(Scrubber::new(&key));
        let body = format!(
            "{{\"echo\":\"{k}\",\"url\":\"{u}\",\"esc\":\"{e}\"}}",
            k = key.expose(),
            u = key.expose().replace('-', "%2D"),
            e = key.expose().replace('-', "\\u002d"),
        );
        let capture = Capture {
            request_id: "r".into(),
            started_at_ms: 0,
            captured_at_ms: 0,
            dialect: "openai_chat".into(),
            model: "m".into(),
            stream: false,
            client_request: CapturedMessage {
                body: Some(body),
                ..CapturedMessage::default()
            },
            attempts: Vec::new(),
            client_response: None,
        };
        let json = FinishedCapture {
            capture,
            scrubbers: vec![scrubber],
        }
        .clean_json();
        let text = String::from_utf8(json).unwrap();
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}
