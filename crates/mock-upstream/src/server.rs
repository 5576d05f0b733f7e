//! The accept loop and the request pipeline: route, record, pick a fault, answer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::MockOptions;
use crate::book::{Book, InFlight, OpenConnection, RecordedRequest};
use crate::dialect::{self, Dialect, Failure};
use crate::directive::{self, Directives, Fault, ResetHints};
use crate::media::{self, Media};
use crate::turn::{Turn, json_bytes};

/// Everything a handler needs; built once per server.
pub(crate) struct Shared {
    pub opts: MockOptions,
    pub book: Arc<Book>,
    pub shutdown: CancellationToken,
    seq: AtomicU64,
    openai_models: Bytes,
    anthropic_models: Bytes,
    gemini_models: Bytes,
    pub limits: crate::limits::Limits,
    /// Requests counted per key and model name for the `every` directive.
    every: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl Shared {
    pub fn new(opts: MockOptions, shutdown: CancellationToken) -> Shared {
        Shared {
            book: Arc::new(Book::new(opts.record)),
            opts,
            shutdown,
            seq: AtomicU64::new(1),
            openai_models: dialect::openai_models(),
            anthropic_models: dialect::anthropic_models(),
            gemini_models: dialect::gemini_models(),
            limits: crate::limits::Limits::default(),
            every: Default::default(),
        }
    }

    /// Counts a request of `key` for `model`; whether it is an `n`th one.
    fn nth(&self, key: Option<&str>, model: Option<&str>, n: u64) -> bool {
        let mut counts = self
            .every
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts
            .entry(format!("{}\n{}", key.unwrap_or(""), model.unwrap_or("")))
            .or_default();
        *count += 1;
        count.is_multiple_of(n)
    }
}

/// Accepts connections until shutdown, then aborts the ones still open (hung requests
/// included), so no connection outlives the server.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    // Without it every small chunk waits on Nagle + delayed ACK (~40 ms).
                    let _ = tcp.set_nodelay(true);
                    let open = OpenConnection::open(&shared.book);
                    let service = TowerToHyperService::new(app.clone());
                    let mut builder = http1::Builder::new();
                    builder.timer(TokioTimer::new());
                    if let Some(idle) = shared.opts.idle_close {
                        // Hyper's header timeout also runs while the connection waits for
                        // its next request.
                        builder.header_read_timeout(idle);
                    }
                    conns.spawn(async move {
                        let _open = open;
                        let _ = builder
                            .serve_connection(TokioIo::new(tcp), service)
                            .await;
                    });
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

enum Endpoint {
    Generate(Dialect),
    Gemini {
        model: String,
        stream: bool,
    },
    Compact,
    Media(Media),
    Models,
    GeminiModels,
    CountTokens,
    Probe,
    /// DeepSeek `GET /user/balance`.
    DeepseekBalance,
    /// OpenRouter `GET /api/v1/key` (here under the mock's `/v1`).
    OpenrouterKey,
    /// OpenRouter `GET /api/v1/credits`.
    OpenrouterCredits,
    Unknown,
}

fn route(method: &Method, path: &str) -> Endpoint {
    match (method, path) {
        (&Method::POST, "/v1/chat/completions") => Endpoint::Generate(Dialect::OpenAiChat),
        (&Method::POST, "/v1/responses") => Endpoint::Generate(Dialect::OpenAiResponses),
        (&Method::POST, "/v1/responses/compact") => Endpoint::Compact,
        (&Method::POST, "/v1/messages") => Endpoint::Generate(Dialect::Anthropic),
        (&Method::POST, "/v1/messages/count_tokens") => Endpoint::CountTokens,
        (&Method::GET, "/v1/models") => Endpoint::Models,
        (&Method::GET, "/v1beta/models") => Endpoint::GeminiModels,
        (&Method::HEAD | &Method::GET, "/") => Endpoint::Probe,
        (&Method::GET, "/user/balance") => Endpoint::DeepseekBalance,
        (&Method::GET, "/v1/key" | "/api/v1/key") => Endpoint::OpenrouterKey,
        (&Method::GET, "/v1/credits" | "/api/v1/credits") => Endpoint::OpenrouterCredits,
        (&Method::POST, p) if Media::openai(p).is_some() => {
            Media::openai(p).map_or(Endpoint::Unknown, Endpoint::Media)
        }
        (&Method::POST, p) => {
            // google-genai uses /v1 as well as /v1beta.
            let target = p
                .strip_prefix("/v1beta/models/")
                .or_else(|| p.strip_prefix("/v1/models/"));
            let decoded = target.map(percent_decode);
            match decoded.as_deref().and_then(|t| t.rsplit_once(':')) {
                Some((model, "generateContent")) => Endpoint::Gemini {
                    model: model.to_owned(),
                    stream: false,
                },
                Some((model, "streamGenerateContent")) => Endpoint::Gemini {
                    model: model.to_owned(),
                    stream: true,
                },
                Some((model, action)) => {
                    Media::gemini(model, action).map_or(Endpoint::Unknown, Endpoint::Media)
                }
                _ => Endpoint::Unknown,
            }
        }
        _ => Endpoint::Unknown,
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let in_flight = InFlight::enter(&shared.book);
    let response = match rate_limit(&shared, &req) {
        Some(Err(refused)) => refused,
        Some(Ok(headers)) => {
            let mut response = answer(&shared, req).await;
            response.headers_mut().extend(headers);
            response
        }
        None => answer(&shared, req).await,
    };
    response.map(|inner| {
        Body::new(Tracked {
            inner,
            _in_flight: in_flight,
        })
    })
}

/// A generation request from a key with token-bucket limits: `Ok` with the headers that
/// announce them, or `Err` with the 429 (recorded like any request) when the bucket is short.
/// `None` for every other request.
fn rate_limit(shared: &Shared, req: &Request) -> Option<Result<HeaderMap, Response>> {
    let dialect = match route(req.method(), req.uri().path()) {
        Endpoint::Generate(d) => d,
        Endpoint::Gemini { .. } => Dialect::Gemini,
        Endpoint::Media(m) if m.is_gemini() => Dialect::Gemini,
        Endpoint::Media(_) => Dialect::OpenAiChat,
        _ => return None,
    };
    let key = presented_key(req.headers(), req.uri().query())?;
    let (_, directives) = directive::split_name(&key).ok()?;
    if !directives.limit.is_set() {
        return None;
    }
    let length = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let verdict = shared
        .limits
        .take(&key, directives.limit, length / 4, dialect);
    if verdict.admitted {
        return Some(Ok(verdict.headers));
    }
    shared.book.admit(Some(&key), None, || RecordedRequest {
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        headers: req.headers().clone(),
        body: Bytes::new(),
        key: Some(key.clone()),
        model: None,
        dialect: Some(dialect),
    });
    let mut f = Failure::new(429, "Rate limit reached for requests. (mock fault)");
    f.retry_delay = Some(verdict.retry_secs);
    let hints = ResetHints {
        retry_after: (dialect == Dialect::Gemini).then_some(verdict.retry_secs),
        ..ResetHints::default()
    };
    let mut response = error_response(dialect, &f, &hints);
    response.headers_mut().extend(verdict.headers);
    Some(Err(response))
}

async fn answer(shared: &Shared, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let endpoint = route(&parts.method, parts.uri.path());
    let query = parts.uri.query();
    let key = presented_key(&parts.headers, query);
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        // The client went away while sending; nobody is left to answer.
        return plain(StatusCode::BAD_REQUEST, Bytes::new());
    };
    let (dialect, gemini) = match endpoint {
        Endpoint::Generate(d) => (d, None),
        Endpoint::Gemini { model, stream } => (Dialect::Gemini, Some((model, stream))),
        Endpoint::Compact => return compact(shared, &parts, &body, key),
        Endpoint::Media(m) => return serve_media(shared, &parts, &body, key, &m),
        other => {
            shared.book.admit(key.as_deref(), None, || {
                record(&parts, &body, key.clone(), None, None)
            });
            if let Some(refused) = key_refused(&other, &parts, key.as_deref()) {
                return refused;
            }
            return serve_other(shared, other, &parts, &body, key.as_deref());
        }
    };
    let ask = serde_json::from_slice::<Value>(&body)
        .ok()
        .map(|v| dialect.read(&v));
    let model = match (&gemini, &ask) {
        (Some((model, _)), _) => Some(model.clone()),
        (None, Some(ask)) => ask.model.clone(),
        (None, None) => None,
    };
    let fault = shared.book.admit(key.as_deref(), model.as_deref(), || {
        record(&parts, &body, key.clone(), model.clone(), Some(dialect))
    });
    let Some(mut ask) = ask else {
        let f = Failure::new(400, "The request body is not valid JSON.");
        return error_response(dialect, &f, &ResetHints::default());
    };
    if let Some((_, stream)) = gemini {
        // Gemini says "stream" in the path, not the body.
        ask.stream = stream;
    }

    let directives = match request_directives(model.as_deref(), key.as_deref(), &parts.headers) {
        Ok(d) => d,
        Err(e) => {
            return error_response(
                dialect,
                &Failure::new(400, e.to_string()),
                &ResetHints::default(),
            );
        }
    };
    let (base_model, _) = directive::split_name(model.as_deref().unwrap_or("mock"))
        .unwrap_or(("mock", Directives::default()));
    let chosen = match directives.every {
        Some(n) if directives.fault.is_some() => shared.nth(key.as_deref(), model.as_deref(), n),
        _ => true,
    };
    let fault = directives.fault.clone().filter(|_| chosen).or(fault);

    let latency = directives.latency.unwrap_or(shared.opts.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    match fault {
        Some(Fault::Hang) => {
            // Ends only when the client goes away (the server drops this future) or shutdown.
            shared.shutdown.cancelled().await;
            return plain(StatusCode::SERVICE_UNAVAILABLE, Bytes::new());
        }
        Some(Fault::Status { status, hints }) => {
            let mut f = Failure::new(status, default_message(status));
            f.retry_delay = hints.retry_delay;
            return error_response(dialect, &f, &hints);
        }
        Some(Fault::QuotaExhausted) => {
            let mut f = Failure::new(429, default_message(402));
            f.quota = true;
            return error_response(dialect, &f, &ResetHints::default());
        }
        Some(Fault::EchoKey { status, form }) => {
            return echo_key(dialect, status, form, key.as_deref(), ask.stream);
        }
        Some(Fault::Html) => return html_200(),
        Some(Fault::Redirect { status }) => return redirect(status),
        Some(Fault::EndlessEvent) => return endless_event(),
        Some(Fault::Refuse(r)) => return crate::refusal::response(dialect, r, base_model),
        _ => {}
    }
    if directives.native
        && dialect == Dialect::Anthropic
        && let Some(problem) = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| crate::dialect::anthropic::thinking_problem(&v))
    {
        return error_response(dialect, &Failure::new(400, problem), &ResetHints::default());
    }
    let schema_problem = ask.structured.as_ref().and_then(|s| s.problem.as_deref());
    if let Some(problem) = schema_problem.or(ask.tools_problem.as_deref()) {
        // A response schema or tool declaration in a form this provider does not take.
        let f = Failure::new(400, problem);
        return error_response(dialect, &f, &ResetHints::default());
    }

    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let gemini_sse = query
        .and_then(|q| query_param(q, "alt"))
        .is_some_and(|alt| alt == "sse");
    let is_sse = ask.stream && (dialect != Dialect::Gemini || gemini_sse);
    let gemini_array = dialect == Dialect::Gemini && ask.stream && !gemini_sse;
    let turn = Turn::plan(
        seq,
        base_model,
        &ask,
        body.len(),
        &directives,
        shared.opts.chunks,
    );
    let chunk_delay = directives.chunk_delay.unwrap_or(shared.opts.chunk_delay);
    let in_band = Failure::new(
        500,
        "The mock upstream failed after sending headers. (mock fault)",
    );

    let mut pace = Pace {
        first: Duration::ZERO,
        second: Duration::ZERO,
        between: Duration::ZERO,
        reset_after: None,
    };
    let frames = if is_sse {
        pace.between = chunk_delay;
        match &fault {
            Some(Fault::EmptyStream) => vec![],
            Some(Fault::ErrorEvent) => vec![dialect.error_event(&in_band)],
            _ => dialect.frames(&turn, &ask),
        }
    } else {
        let whole = if gemini_array {
            Dialect::gemini_array(&turn)
        } else {
            dialect.json(&turn)
        };
        match &fault {
            Some(Fault::EmptyStream) => vec![],
            Some(Fault::ErrorEvent) => vec![dialect.error(&in_band)],
            None => return json_response(StatusCode::OK, whole),
            // Timing faults need at least two pieces to act between.
            Some(_) => {
                let half = whole.len() / 2;
                vec![whole.slice(..half), whole.slice(half..)]
            }
        }
    };
    if let (Some(Fault::Flood { mib }), true) = (&fault, is_sse) {
        return flood(*mib, frames);
    }
    match fault {
        Some(Fault::SlowFirstByte(d)) => pace.first = d,
        Some(Fault::SlowSecondChunk(d)) => pace.second = d,
        // Never let the terminal event through: the point is a stream that does not end.
        Some(Fault::ResetAfter(n)) => {
            pace.reset_after = Some(n.min(frames.len().saturating_sub(1)))
        }
        _ => {}
    }
    let content_type = if is_sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut response = Response::new(paced(frames, pace));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if is_sse {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

fn record(
    parts: &http::request::Parts,
    body: &Bytes,
    key: Option<String>,
    model: Option<String>,
    dialect: Option<Dialect>,
) -> RecordedRequest {
    RecordedRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
        key,
        model,
        dialect,
    }
}

/// The balance endpoints, as DeepSeek and OpenRouter document them, reporting the key's
/// `balance` directive (default 100.00; 401 without a key). OpenRouter's key has no spending
/// limit of its own (`limit_remaining: null`): its balance is the account's credits.
fn balance(endpoint: Endpoint, key: Option<&str>) -> Response {
    let Some(key) = key else {
        let f = Failure::new(401, default_message(401));
        return error_response(Dialect::OpenAiChat, &f, &ResetHints::default());
    };
    let cents = directive::split_name(key)
        .ok()
        .and_then(|(_, d)| d.balance_cents)
        .unwrap_or(10_000);
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    let v = match endpoint {
        Endpoint::DeepseekBalance => serde_json::json!({
            "is_available": cents > 0,
            "balance_infos": [{
                "currency": "USD",
                "total_balance": amount,
                "granted_balance": "0.00",
                "topped_up_balance": amount,
            }],
        }),
        Endpoint::OpenrouterKey => serde_json::json!({
            "data": {
                "label": "mock",
                "limit": null,
                "limit_remaining": null,
                "usage": 0,
                "is_free_tier": false,
            }
        }),
        _ => serde_json::json!({
            "data": { "total_credits": cents as f64 / 100.0, "total_usage": 0 }
        }),
    };
    json_response(StatusCode::OK, json_bytes(&v))
}

/// Everything but generation: model lists, token counts, the probe, unknown paths.
/// A key whose directives make it wrong, revoked or out of balance (`fault=401`, `403`,
/// `402`, `echo_key`) is refused on the model list too, as a real provider refuses it
/// everywhere; rate limits and outages apply to generation only.
fn key_refused(
    endpoint: &Endpoint,
    parts: &http::request::Parts,
    key: Option<&str>,
) -> Option<Response> {
    let dialect = match endpoint {
        Endpoint::Models if parts.headers.contains_key("anthropic-version") => Dialect::Anthropic,
        Endpoint::Models => Dialect::OpenAiChat,
        Endpoint::GeminiModels => Dialect::Gemini,
        _ => return None,
    };
    let (_, directives) = directive::split_name(key?).ok()?;
    match directives.fault? {
        Fault::Status { status, hints } if matches!(status, 401..=403) => {
            let f = Failure::new(status, default_message(status));
            Some(error_response(dialect, &f, &hints))
        }
        Fault::EchoKey { status, form } if status != 200 => {
            Some(echo_key(dialect, status, form, key, false))
        }
        _ => None,
    }
}

fn serve_other(
    shared: &Shared,
    endpoint: Endpoint,
    parts: &http::request::Parts,
    body: &Bytes,
    key: Option<&str>,
) -> Response {
    match endpoint {
        Endpoint::DeepseekBalance | Endpoint::OpenrouterKey | Endpoint::OpenrouterCredits => {
            balance(endpoint, key)
        }
        Endpoint::Models if parts.headers.contains_key("anthropic-version") => {
            json_response(StatusCode::OK, shared.anthropic_models.clone())
        }
        Endpoint::Models => json_response(StatusCode::OK, shared.openai_models.clone()),
        Endpoint::GeminiModels => json_response(StatusCode::OK, shared.gemini_models.clone()),
        Endpoint::CountTokens => {
            let tokens = (body.len() / 4).max(1);
            let v = serde_json::json!({ "input_tokens": tokens });
            json_response(StatusCode::OK, json_bytes(&v))
        }
        Endpoint::Probe => plain(StatusCode::OK, Bytes::new()),
        Endpoint::Generate(_)
        | Endpoint::Gemini { .. }
        | Endpoint::Compact
        | Endpoint::Media(_)
        | Endpoint::Unknown => {
            let path = parts.uri.path();
            let f = Failure::new(404, format!("The mock serves no {path}."));
            error_response(Dialect::OpenAiChat, &f, &ResetHints::default())
        }
    }
}

/// `POST /v1/responses/compact`: the user messages kept, the rest one opaque compaction item.
fn compact(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &Bytes,
    key: Option<String>,
) -> Response {
    let dialect = Dialect::OpenAiResponses;
    let v = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let model = v.get("model").and_then(Value::as_str).map(str::to_owned);
    let fault = shared.book.admit(key.as_deref(), model.as_deref(), || {
        record(parts, body, key.clone(), model.clone(), Some(dialect))
    });
    if let Some(Fault::Status { status, hints }) = fault {
        let mut f = Failure::new(status, default_message(status));
        f.retry_delay = hints.retry_delay;
        return error_response(dialect, &f, &hints);
    }
    let Some(input) = v.get("input").and_then(Value::as_array) else {
        let f = Failure::new(400, "`input` must be an array of items.");
        return error_response(dialect, &f, &ResetHints::default());
    };
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let mut output: Vec<Value> = input
        .iter()
        .filter(|i| i.get("role").and_then(Value::as_str) == Some("user"))
        .cloned()
        .collect();
    output.push(serde_json::json!({
        "type": "compaction",
        "id": format!("cmp_mock_{seq}"),
        "encrypted_content": format!("mock-compacted:{}", input.len()),
    }));
    let tokens = body.len() / 4;
    let reply = serde_json::json!({
        "id": format!("resp_compact_{seq}"),
        "object": "response.compaction",
        "created_at": 0,
        "model": model.unwrap_or_default(),
        "output": output,
        "usage": {
            "input_tokens": tokens, "output_tokens": 16, "total_tokens": tokens + 16,
            "input_tokens_details": { "cached_tokens": 0 },
            "output_tokens_details": { "reasoning_tokens": 0 },
        },
    });
    json_response(StatusCode::OK, json_bytes(&reply))
}

/// A media request (`media.rs`): faults by directive or programmatic, as for generation;
/// synthesised speech comes in three chunks.
fn serve_media(
    shared: &Shared,
    parts: &http::request::Parts,
    body: &Bytes,
    key: Option<String>,
    m: &Media,
) -> Response {
    let dialect = if m.is_gemini() {
        Dialect::Gemini
    } else {
        Dialect::OpenAiChat
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let model = match m {
        Media::GeminiEmbed { model, .. } | Media::GeminiCountTokens { model } => {
            Some(model.clone())
        }
        _ if content_type.starts_with("multipart/") => media::Form::new(body, content_type)
            .and_then(|f| f.text("model"))
            .map(str::to_owned),
        _ => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("model")?.as_str().map(str::to_owned)),
    };
    let programmatic = shared.book.admit(key.as_deref(), model.as_deref(), || {
        record(parts, body, key.clone(), model.clone(), Some(dialect))
    });
    let invalid = |message: String| {
        error_response(dialect, &Failure::new(400, message), &ResetHints::default())
    };
    let directives = match request_directives(model.as_deref(), key.as_deref(), &parts.headers) {
        Ok(d) => d,
        Err(e) => return invalid(e.to_string()),
    };
    match directives.fault.or(programmatic) {
        Some(Fault::Status { status, hints }) => {
            let mut f = Failure::new(status, default_message(status));
            f.retry_delay = hints.retry_delay;
            return error_response(dialect, &f, &hints);
        }
        Some(Fault::EchoKey { status, form }) => {
            return echo_key(dialect, status, form, key.as_deref(), false);
        }
        Some(Fault::Html) => return html_200(),
        _ => {}
    }
    let Some(model) = model else {
        return invalid("`model` is required.".into());
    };
    let base = directive::split_name(&model).map_or(model.as_str(), |(b, _)| b);
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    match media::answer(m, base, body, content_type, seq) {
        media::Answer::Json(v) => json_response(StatusCode::OK, json_bytes(&v)),
        media::Answer::Bytes(ct, bytes) => {
            let third = bytes.len().div_ceil(3).max(1);
            let frames: Vec<Bytes> = bytes.chunks(third).map(Bytes::copy_from_slice).collect();
            let pace = Pace {
                first: Duration::ZERO,
                second: Duration::ZERO,
                between: Duration::ZERO,
                reset_after: None,
            };
            let mut response = Response::new(paced(frames, pace));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            response
        }
        media::Answer::Invalid(message) => invalid(message),
    }
}

/// Directives from the model name, the key and the `x-mock-fault` header; later sources win.
fn request_directives(
    model: Option<&str>,
    key: Option<&str>,
    headers: &HeaderMap,
) -> Result<Directives, directive::DirectiveError> {
    let from_model = match model {
        Some(m) => directive::split_name(m)?.1,
        None => Directives::default(),
    };
    let from_key = match key {
        Some(k) => directive::split_name(k)?.1,
        None => Directives::default(),
    };
    let from_header = match headers.get("x-mock-fault").map(HeaderValue::to_str) {
        Some(Ok(v)) => directive::parse(v)?,
        Some(Err(_)) => return Err(directive::bad("`x-mock-fault` is not text")),
        None => Directives::default(),
    };
    Ok(from_model.overlay(from_key).overlay(from_header))
}

fn presented_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header(AUTHORIZATION.as_str())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| header("x-api-key"))
        .or_else(|| header("x-goog-api-key"))
        .map(|k| k.trim().to_owned())
        .or_else(|| query.and_then(|q| query_param(q, "key")))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Invalid request. (mock fault)",
        401 => "Invalid API key. (mock fault)",
        402 => {
            "You exceeded your current quota, please check your plan and billing details. (mock fault)"
        }
        403 => "Permission denied. (mock fault)",
        404 => "The model does not exist. (mock fault)",
        429 => "Rate limit reached for requests. (mock fault)",
        503 => "The server is overloaded. (mock fault)",
        s if s >= 500 => "The server had an error while processing your request. (mock fault)",
        _ => "The request failed. (mock fault)",
    }
}

fn error_response(dialect: Dialect, f: &Failure, hints: &ResetHints) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, dialect.error(f));
    let h = response.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    if let Some(s) = hints.retry_after {
        put("retry-after", s.to_string());
    }
    if let Some(s) = hints.retry_after_date {
        put(
            "retry-after",
            httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(s)),
        );
    }
    if let Some(ms) = hints.retry_after_ms {
        put("retry-after-ms", ms.to_string());
    }
    if let Some(v) = &hints.reset_requests {
        put("x-ratelimit-reset-requests", v.clone());
    }
    if let Some(s) = hints.anthropic_reset {
        put("anthropic-ratelimit-requests-reset", rfc3339_after(s));
    }
    response
}

/// The `echo_key` fault: an error quoting `key` in `form`. With status 200 it is a hostile
/// "success": the error body as a 200, or for streams an in-band error event.
fn echo_key(
    dialect: Dialect,
    status: u16,
    form: directive::EchoForm,
    key: Option<&str>,
    stream: bool,
) -> Response {
    const SLOT: &str = "KEY_GOES_HERE";
    let f = Failure::new(
        status,
        format!("Incorrect API key provided: {SLOT}. (mock fault)"),
    );
    let echoed = form.render(key.unwrap_or(""));
    let fill = |b: Bytes| {
        Bytes::from(
            String::from_utf8_lossy(&b)
                .replace(SLOT, &echoed)
                .into_bytes(),
        )
    };
    if status != 200 {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
        return json_response(status, fill(dialect.error(&f)));
    }
    if stream {
        let mut r = plain(StatusCode::OK, fill(dialect.error_event(&f)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        return r;
    }
    json_response(StatusCode::OK, fill(dialect.error(&f)))
}

/// The `html` fault: a 200 that is a web page (a captive portal, a misconfigured proxy).
fn html_200() -> Response {
    let mut r = plain(
        StatusCode::OK,
        Bytes::from_static(b"<!doctype html><html><body><h1>Welcome</h1></body></html>"),
    );
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// The `redirect` fault: somewhere else, where a followed redirect would carry the key.
fn redirect(status: u16) -> Response {
    let mut r = plain(
        StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT),
        Bytes::new(),
    );
    r.headers_mut().insert(
        http::header::LOCATION,
        HeaderValue::from_static("http://127.0.0.1:9/collect"),
    );
    r
}

/// The `flood` fault: `mib` MiB of `ping` events (non-content in every dialect), then the
/// answer. One 64 KiB event is shared by every repetition: the mock's memory stays flat.
fn flood(mib: u64, frames: Vec<Bytes>) -> Response {
    const EVENT: usize = 64 * 1024;
    let mut ev = b"event: ping\ndata: {\"type\":\"ping\",\"pad\":\"".to_vec();
    ev.resize(EVENT - 4, b'x');
    ev.extend_from_slice(b"\"}\n\n");
    let ev = Bytes::from(ev);
    let count = usize::try_from(mib.saturating_mul(16)).unwrap_or(usize::MAX);
    let body = stream::iter(
        std::iter::repeat_n(ev, count)
            .chain(frames)
            .map(Ok::<_, io::Error>),
    );
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Now plus `secs`, as RFC 3339 in UTC with whole seconds, the way Anthropic writes it.
fn rfc3339_after(secs: u64) -> String {
    let at = time::OffsetDateTime::now_utc() + Duration::from_secs(secs);
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = plain(status, body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn plain(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
}

/// When each body chunk goes out.
struct Pace {
    /// Before the first chunk (headers are already sent).
    first: Duration,
    /// Before the second chunk.
    second: Duration,
    /// Before every chunk after the first.
    between: Duration,
    /// Drop the connection after this many chunks.
    reset_after: Option<usize>,
}

fn paced(frames: Vec<Bytes>, pace: Pace) -> Body {
    if pace.first.is_zero()
        && pace.second.is_zero()
        && pace.between.is_zero()
        && pace.reset_after.is_none()
    {
        // The benchmark path: everything is ready, hand it over in one go.
        return Body::from_stream(stream::iter(frames.into_iter().map(Ok::<_, io::Error>)));
    }
    let state = (frames.into_iter(), 0usize, pace);
    Body::from_stream(stream::unfold(Some(state), |state| async move {
        let (mut frames, sent, pace) = state?;
        if pace.reset_after == Some(sent) {
            // Give the chunks already written time to leave before the connection drops.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let reset = io::Error::new(
                io::ErrorKind::ConnectionReset,
                "mock fault: reset mid-stream",
            );
            return Some((Err(reset), None));
        }
        let frame = frames.next()?;
        let wait = match sent {
            0 => pace.first,
            1 => pace.second.max(pace.between),
            _ => pace.between,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Some((Ok(frame), Some((frames, sent + 1, pace))))
    }))
}

/// The endless-event fault: one `data:` line of 1 MiB after another, never a blank line, so
/// the event never completes. The line is built once and shared by every frame.
fn endless_event() -> Response {
    const LINE: usize = 1024 * 1024;
    let mut line = Vec::with_capacity(LINE + 7);
    line.extend_from_slice(b"data: ");
    line.resize(LINE + 6, b'x');
    line.push(b'\n');
    let line = Bytes::from(line);
    let frames = stream::repeat_with(move || Ok::<_, io::Error>(line.clone()));
    let mut response = Response::new(Body::from_stream(frames));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A response body that holds the request's in-flight guard until hyper drops it.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_gemini_paths() {
        match route(
            &Method::POST,
            "/v1beta/models/mock%40fault%3D429:streamGenerateContent",
        ) {
            Endpoint::Gemini { model, stream } => {
                assert_eq!(model, "mock@fault=429");
                assert!(stream);
            }
            _ => panic!("not a Gemini route"),
        }
        assert!(matches!(route(&Method::GET, "/nope"), Endpoint::Unknown));
    }

    #[test]
    fn finds_the_key() {
        let mut h = HeaderMap::new();
        assert_eq!(
            presented_key(&h, Some("alt=sse&key=AIza%2Bx")),
            Some("AIza+x".into())
        );
        h.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(presented_key(&h, None), Some("g".into()));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer sk-1"));
        assert_eq!(presented_key(&h, None), Some("sk-1".into()));
    }
}
