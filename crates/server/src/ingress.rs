//! The public API: one handler per client dialect, all funnelled into the engine's
//! dispatcher. Handlers read only what routing needs (model, stream flag, a session id);
//! the body travels on as bytes.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use switchboard_control::{Admission, ClientEntry, Refusal};
use switchboard_protocol::passthrough::{top_level_bool, top_level_str, top_level_value};
use switchboard_protocol::{ClientError, Dialect, ErrorKind};
use switchboard_router::affinity::session_id;
use switchboard_router::conversations::Owner;
use switchboard_router::{ByteStream, Endpoint, IngressRequest, Media, Reply, ReplyBody};

use crate::cluster::Window;
use crate::guard::{Checked, error_response};
use crate::state::AppState;

/// The access key's holder and its client, as the guard found them, and the request's
/// headers, taken from the request rather than copied (no extractor after this one reads
/// them: only the body follows).
pub struct Holder {
    owner: Option<Owner>,
    client: Option<Arc<ClientEntry>>,
    headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Holder {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Holder {
            owner: parts.extensions.get::<Owner>().cloned(),
            client: parts.extensions.get::<Arc<ClientEntry>>().cloned(),
            headers: std::mem::take(&mut parts.headers),
        })
    }
}

/// `POST /v1/chat/completions`, `/v1/responses` and `/v1/messages`, in `dialect`, served by
/// the front (`front.rs`) after the guard admitted them.
pub async fn generation(
    state: Arc<AppState>,
    dialect: Dialect,
    req: axum::extract::Request,
    checked: Checked,
) -> Response {
    if req.method() != http::Method::POST {
        let mut resp = error_response(
            dialect,
            &ClientError::new(
                ErrorKind::MethodNotAllowed,
                format!("{} is not served here: send POST.", req.method()),
            ),
        );
        resp.headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
        return resp;
    }
    let (mut parts, body) = req.into_parts();
    let holder = Holder {
        owner: checked.owner,
        client: checked.client,
        headers: std::mem::take(&mut parts.headers),
    };
    generate(state, dialect, None, holder, body).await
}

/// `POST /v1/responses/compact` (Codex compacts long sessions with it), with the same keys,
/// health and failover as `/v1/responses`: passed to Responses upstreams, run as a summary
/// turn on the others. Always a JSON reply.
pub async fn compact(State(s): State<Arc<AppState>>, owner: Holder, body: Body) -> Response {
    generate_at(
        s,
        Dialect::OpenaiResponses,
        Endpoint::Compact,
        None,
        owner,
        body,
    )
    .await
}

/// `POST /v1/messages/count_tokens`, answered locally with a token estimate of the whole
/// request (system prompt and tools included), whatever the upstream.
pub async fn count_tokens(State(s): State<Arc<AppState>>, body: Body) -> Response {
    count_locally(&s, Dialect::Anthropic, body).await
}

/// A token count in `dialect`'s request and reply shapes, from the local estimate.
async fn count_locally(s: &AppState, dialect: Dialect, body: Body) -> Response {
    let body = match read_body(s, dialect, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match switchboard_protocol::count_tokens_reply(dialect, &body) {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => error_response(dialect, &e),
    }
}

#[derive(Deserialize)]
pub struct GeminiQuery {
    alt: Option<String>,
}

/// `/v1beta/models/{model}:generateContent`, `:streamGenerateContent`, `:countTokens`,
/// `:embedContent` and `:batchEmbedContents` (also under `/v1`). Token counts go to the
/// model's Gemini targets, with the same keys and failover as generation; a model without one
/// is answered with the local estimate. Embeddings go to any target that embeds.
pub async fn gemini(
    State(s): State<Arc<AppState>>,
    Path(model_action): Path<String>,
    Query(q): Query<GeminiQuery>,
    owner: Holder,
    body: Body,
) -> Response {
    let Some((model, action)) = model_action.rsplit_once(':') else {
        return not_found(Dialect::Gemini);
    };
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "countTokens" if has_gemini_target(&s, model) => {
            return generate_at(
                s,
                Dialect::Gemini,
                Endpoint::CountTokens,
                Some((model.to_owned(), false)),
                owner,
                body,
            )
            .await;
        }
        "countTokens" => return count_locally(&s, Dialect::Gemini, body).await,
        "embedContent" | "batchEmbedContents" => {
            return generate_at(
                s,
                Dialect::Gemini,
                Endpoint::GeminiEmbed {
                    batch: action == "batchEmbedContents",
                },
                Some((model.to_owned(), false)),
                owner,
                body,
            )
            .await;
        }
        _ => return not_found(Dialect::Gemini),
    };
    // `streamGenerateContent` without `alt=sse` means a JSON array stream; we answer SSE,
    // which every current SDK requests.
    let _ = q.alt;
    generate(
        s,
        Dialect::Gemini,
        Some((model.to_owned(), stream)),
        owner,
        body,
    )
    .await
}

/// Whether `model` routes to at least one Gemini provider.
fn has_gemini_target(s: &AppState, model: &str) -> bool {
    let snap = s.engine.snapshot();
    snap.resolve(model).is_ok_and(|route| {
        route.route.targets.iter().any(|t| {
            snap.providers
                .get(&t.provider)
                .is_some_and(|p| p.provider.kind == Dialect::Gemini)
        })
    })
}

fn not_found(dialect: Dialect) -> Response {
    error_response(
        dialect,
        &ClientError::new(ErrorKind::NotFound, "Unknown endpoint."),
    )
}

/// Reads a body up to the configured limit (a chunked body that grows past it is cut off
/// with 413 without being buffered whole) and within the body deadline (a client dripping its
/// body gets 408: a valid key does not entitle it to hold the request open forever).
pub async fn read_body(state: &AppState, dialect: Dialect, body: Body) -> Result<Bytes, Response> {
    let limit =
        usize::try_from(state.engine.snapshot().settings.body_limit_bytes).unwrap_or(usize::MAX);
    let deadline = state.guard.body_read_timeout;
    let read = tokio::time::timeout(deadline, read_limited(body, limit)).await;
    let (err, close) = match read {
        Ok(Read::Whole(bytes)) => return Ok(bytes),
        Ok(Read::TooLarge { drained }) => (
            ClientError::new(
                ErrorKind::PayloadTooLarge,
                format!("Request body is larger than the limit of {limit} bytes."),
            ),
            !drained,
        ),
        Ok(Read::Broken) => (
            ClientError::new(
                ErrorKind::InvalidRequest,
                "Could not read the request body.",
            ),
            false,
        ),
        Err(_) => (
            ClientError::new(
                ErrorKind::RequestTimeout,
                format!(
                    "The request body was not received within {} seconds.",
                    deadline.as_secs_f64()
                ),
            )
            .with_code("request_timeout"),
            true,
        ),
    };
    let mut resp = error_response(dialect, &err);
    if close {
        // The rest of the body may still be coming: do not keep reading it.
        resp.headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    Err(resp)
}

/// What reading a request body came to.
enum Read {
    Whole(Bytes),
    /// Past the limit; `drained` if the rest of it was read (and discarded) to its end.
    TooLarge {
        drained: bool,
    },
    Broken,
}

/// How much of a body past the limit is read and discarded so the client, still sending,
/// reads the 413 (closing a socket with unread data resets it, and the answer with it).
const DRAIN_BYTES: usize = 1 << 20;
/// How long that may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

async fn read_limited(mut body: Body, limit: usize) -> Read {
    // A body in one frame is kept as it came; more are joined.
    let mut first: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Read::Broken;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len = len.saturating_add(data.len());
        if len > limit {
            let drained = tokio::time::timeout(DRAIN_TIME, drain(body))
                .await
                .unwrap_or(false);
            return Read::TooLarge { drained };
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            earlier => {
                joined.reserve(len - joined.len());
                joined.extend_from_slice(&earlier.unwrap_or_default());
                joined.extend_from_slice(&data);
            }
        }
    }
    Read::Whole(first.unwrap_or_else(|| joined.freeze()))
}

/// Reads and discards the rest of `body`, up to [`DRAIN_BYTES`]; whether it ended.
async fn drain(mut body: Body) -> bool {
    let mut left = DRAIN_BYTES;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return false;
        };
        let n = frame.data_ref().map_or(0, Bytes::len);
        let Some(rest) = left.checked_sub(n) else {
            return false;
        };
        left = rest;
    }
    true
}

async fn generate(
    state: Arc<AppState>,
    dialect: Dialect,
    from_path: Option<(String, bool)>,
    owner: Holder,
    body: Body,
) -> Response {
    generate_at(state, dialect, Endpoint::Generate, from_path, owner, body).await
}

async fn generate_at(
    state: Arc<AppState>,
    dialect: Dialect,
    endpoint: Endpoint,
    from_path: Option<(String, bool)>,
    owner: Holder,
    body: Body,
) -> Response {
    let received_at = tokio::time::Instant::now();
    let received_at_ms = switchboard_store::now_ms();
    let headers = &owner.headers;
    let body = match read_body(&state, dialect, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        let err = ClientError::new(
            ErrorKind::InvalidRequest,
            format!("Request body is not valid JSON: {e}"),
        )
        .with_code("invalid_json");
        return error_response(dialect, &err);
    }
    if !body.trim_ascii_start().starts_with(b"{") {
        return error_response(
            dialect,
            &ClientError::new(
                ErrorKind::InvalidRequest,
                "Request body must be a JSON object.",
            ),
        );
    }
    let (model, stream) = match from_path {
        Some(p) => p,
        None => {
            let Some(model) = top_level_str(&body, "model").filter(|m| !m.is_empty()) else {
                let err = ClientError::new(
                    ErrorKind::InvalidRequest,
                    "`model` is required and must be a non-empty string.",
                )
                .with_param("model");
                return error_response(dialect, &err);
            };
            // Compaction answers with one JSON body.
            let stream =
                endpoint == Endpoint::Generate && top_level_bool(&body, "stream").unwrap_or(false);
            (model, stream)
        }
    };
    // The client's allow-list and limits, before routing.
    let mut admission = None;
    if let Some(client) = &owner.client {
        if !client.allows(&model) {
            return error_response(dialect, &client.not_allowed(&model));
        }
        let estimate = if client.settings.tpm.is_some() {
            switchboard_protocol::translate::decode_request(dialect, &body)
                .map_or(0, |ir| switchboard_protocol::count_tokens(&ir))
        } else {
            0
        };
        match admit(&state, client, estimate, dialect).await {
            Ok(a) => admission = Some(a),
            Err(refused) => return refused,
        }
    }
    let forward_headers = headers
        .iter()
        .filter(|(n, _)| n.as_str() == "anthropic-version" || n.as_str() == "anthropic-beta")
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let req = IngressRequest {
        dialect,
        endpoint,
        session: Some(session_of(headers, &body)),
        // The guard sets it on every route that reaches here.
        owner: owner.owner.unwrap_or_else(|| Owner::of(b"")),
        client: owner.client.as_ref().map(|c| c.name.to_string()),
        model,
        stream,
        body,
        content_type: None,
        forward_headers,
        hop: headers
            .get(switchboard_router::upstream::HOP_HEADER)
            .cloned(),
        received_at,
        received_at_ms,
    };
    let reply = state.engine.dispatch(req).await;
    admitted(reply, admission)
}

/// The reply for the client; a stream holds the request's admission until it ends.
fn admitted(reply: Reply, admission: Option<Admission>) -> Response {
    match (reply.body, admission) {
        // A stream's record is made when it ends: its admission is held until then.
        (ReplyBody::Stream(stream), Some(admission)) => into_response(Reply {
            body: ReplyBody::Stream(Box::pin(Admitted {
                stream,
                admission: Some(admission),
            })),
            ..reply
        }),
        (body, _) => into_response(Reply { body, ..reply }),
    }
}

/// Checks a request against its client's limits. In team mode a budgeted client's spend and
/// a tpm-limited client's tokens of the last minute are first brought up to what every
/// instance has recorded, and a client with an rpm limit is
/// counted in the cluster-wide window after this instance's own checks (only such clients
/// ask Redis; when Redis does not answer, this instance's view alone applies).
async fn admit(
    state: &AppState,
    client: &ClientEntry,
    estimate: u64,
    dialect: Dialect,
) -> Result<Admission, Response> {
    let clients = state.control.clients();
    if let Some(cluster) = &state.cluster
        && client.has_budget()
        && let Some((day, month)) = cluster
            .shared_spend(&client.name, state.engine.clock().now_ms())
            .await
    {
        clients.note_shared_spend(client, day, month);
    }
    if let Some(cluster) = &state.cluster
        && client.settings.tpm.is_some()
        && let Some(tokens) = cluster.shared_tokens(&client.name).await
    {
        clients.note_shared_tokens(client, tokens);
    }
    let admission = clients
        .admit(client, estimate)
        .map_err(|refusal| over_limit(dialect, &refusal))?;
    let (Some(cluster), Some(rpm)) = (&state.cluster, client.settings.rpm) else {
        return Ok(admission);
    };
    match cluster.admit_rpm(&client.name, rpm).await {
        Window::Admitted | Window::Unavailable => Ok(admission),
        Window::Full { resets_in_ms } => Err(over_limit(
            dialect,
            &admission.refuse_rpm(rpm, resets_in_ms),
        )),
    }
}

/// A client over one of its limits: 429 in its dialect, with `Retry-After`.
fn over_limit(dialect: Dialect, refusal: &Refusal) -> Response {
    let mut resp = error_response(dialect, &refusal.client_error());
    resp.headers_mut()
        .insert(header::RETRY_AFTER, refusal.retry_after_secs().into());
    resp
}

/// A streamed reply holding its request's [`Admission`] until the stream ends (its record
/// has been made by then) or is dropped.
struct Admitted {
    stream: ByteStream,
    admission: Option<Admission>,
}

impl futures_util::Stream for Admitted {
    type Item = <ByteStream as futures_util::Stream>::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = self.stream.as_mut().poll_next(cx);
        if let std::task::Poll::Ready(None) = next {
            self.admission = None;
        }
        next
    }
}

/// A conversation id for session affinity: an explicit session header or cache key when the
/// client sends one (CLIENTS.md), else a hash of the system prompt and the start of the
/// conversation (which stays the same as the conversation grows).
fn session_of(headers: &HeaderMap, body: &[u8]) -> u64 {
    for name in ["session-id", "x-session-id", "x-session-affinity"] {
        if let Some(v) = headers.get(name) {
            return session_id(&[name.as_bytes(), v.as_bytes()]);
        }
    }
    if let Some(r) = top_level_value(body, "prompt_cache_key") {
        return session_id(&[b"pck", &body[r]]);
    }
    if let Some(user) = top_level_value(body, "metadata").and_then(|r| {
        let meta = &body[r];
        top_level_value(meta, "user_id").map(|u| meta[u].to_vec())
    }) {
        return session_id(&[b"user", &user]);
    }
    const PREFIX: usize = 4096;
    let part = |key: &str| {
        top_level_value(body, key).map_or(&b""[..], |r| &body[r.start..r.end.min(r.start + PREFIX)])
    };
    session_id(&[
        part("system"),
        part("instructions"),
        part("systemInstruction"),
        part("messages"),
        part("input"),
        part("contents"),
    ])
}

pub fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match reply.body {
        ReplyBody::Full(b) => Body::from(b),
        ReplyBody::Stream(s) => Body::from_stream(s),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = reply.headers;
    if status == StatusCode::OK
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == "text/event-stream")
    {
        // Tell reverse proxies not to buffer the stream.
        resp.headers_mut().insert(
            HeaderName::from_static("x-accel-buffering"),
            http::HeaderValue::from_static("no"),
        );
    }
    resp
}

/// `GET /v1/models` and `GET /v1beta/models`: aliases and directly served models. OpenAI's
/// list shape (Anthropic clients read the same `data[].id`), or Gemini's under `/v1beta` and
/// for a Gemini client under `/v1` (one that sends `x-goog-api-key` or `?key=`).
pub async fn models(
    State(s): State<Arc<AppState>>,
    uri: http::Uri,
    headers: HeaderMap,
) -> Response {
    let names = s.engine.snapshot().model_names();
    if wants_gemini(&uri, &headers) {
        let models: Vec<_> = names
            .iter()
            .map(|(id, window)| gemini_model(id, *window))
            .collect();
        return Json(serde_json::json!({ "models": models })).into_response();
    }
    let data: Vec<_> = names
        .iter()
        .map(|(id, window)| openai_model(id, *window))
        .collect();
    Json(serde_json::json!({ "object": "list", "data": data, "has_more": false })).into_response()
}

/// `GET /v1/models/{model}` and `GET /v1beta/models/{model}`: one entry of the list, in the
/// same shape the list would have; 404 in that dialect for a model nothing serves.
pub async fn model(
    State(s): State<Arc<AppState>>,
    Path(model): Path<String>,
    uri: http::Uri,
    headers: HeaderMap,
) -> Response {
    let gemini = wants_gemini(&uri, &headers);
    // Gemini names models `models/<id>`; a client may repeat the prefix.
    let id = model.strip_prefix("models/").unwrap_or(&model);
    let found = s
        .engine
        .snapshot()
        .model_names()
        .into_iter()
        .find(|(name, _)| name == id);
    match (found, gemini) {
        (Some((id, window)), true) => Json(gemini_model(&id, window)).into_response(),
        (Some((id, window)), false) => Json(openai_model(&id, window)).into_response(),
        (None, _) => {
            let dialect = if gemini {
                Dialect::Gemini
            } else {
                Dialect::OpenaiChat
            };
            let err = ClientError::new(
                ErrorKind::NotFound,
                format!(
                    "The model `{}` does not exist: no route or provider serves it.",
                    switchboard_router::log::truncated(id, switchboard_router::log::CLIENT_STR_MAX)
                ),
            )
            .with_code("model_not_found");
            error_response(dialect, &err)
        }
    }
}

/// Whether a model-list request comes from a Gemini client.
fn wants_gemini(uri: &http::Uri, headers: &HeaderMap) -> bool {
    uri.path().starts_with("/v1beta/")
        || headers.contains_key("x-goog-api-key")
        || uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")))
}

fn openai_model(id: &str, window: Option<u64>) -> serde_json::Value {
    let mut m = serde_json::json!({
        "id": id, "object": "model", "type": "model", "created": 0, "owned_by": "switchboard",
        "display_name": id,
    });
    if let Some(w) = window {
        m["context_window"] = w.into();
    }
    m
}

/// A model in Gemini's `Model` shape; the methods are the ones Switchboard serves for it.
fn gemini_model(id: &str, window: Option<u64>) -> serde_json::Value {
    let mut m = serde_json::json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "switchboard",
        "displayName": id,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    });
    if let Some(w) = window {
        m["inputTokenLimit"] = w.into();
    }
    m
}

pub async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Whether `path` is a media endpoint that takes a multipart form (an upload).
pub fn takes_form(path: &str) -> bool {
    path.strip_prefix("/v1/")
        .and_then(|p| Media::ALL.into_iter().find(|m| m.path() == p))
        .is_some_and(Media::multipart)
}

/// The handler of one media endpoint, `POST /v1/<media.path()>`.
pub fn media_route(media: Media) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): State<Arc<AppState>>, owner: Holder, body: Body| {
            self::media(s, media, owner, body)
        },
    )
}

/// A media request (OpenAI's shapes): JSON, or for uploads a multipart form read within the
/// body limit (the guard has already refused a larger declared length with 413 before any
/// of it was read; a chunked upload is cut off at the limit) and kept whole so failover can
/// send it again. Only its `model` field is read.
async fn media(state: Arc<AppState>, media: Media, owner: Holder, body: Body) -> Response {
    const DIALECT: Dialect = Dialect::OpenaiChat;
    let received_at = tokio::time::Instant::now();
    let received_at_ms = switchboard_store::now_ms();
    let headers = &owner.headers;
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    let boundary = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(switchboard_protocol::media::form_boundary)
        .map(str::to_owned);
    if media.multipart() && boundary.is_none() {
        let err = ClientError::new(
            ErrorKind::InvalidRequest,
            format!(
                "/v1/{} takes a multipart/form-data body with a boundary.",
                media.path()
            ),
        );
        return error_response(DIALECT, &err);
    }
    let body = match read_body(&state, DIALECT, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let model = match &boundary {
        Some(b) if media.multipart() => {
            switchboard_protocol::media::form_field(&body, b, "model").map(str::to_owned)
        }
        _ => {
            if !body.trim_ascii_start().starts_with(b"{")
                || serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err()
            {
                let err = ClientError::new(
                    ErrorKind::InvalidRequest,
                    "Request body must be a JSON object.",
                )
                .with_code("invalid_json");
                return error_response(DIALECT, &err);
            }
            top_level_str(&body, "model")
        }
    };
    let Some(model) = model.filter(|m| !m.is_empty()) else {
        let err = ClientError::new(
            ErrorKind::InvalidRequest,
            "`model` is required and must be a non-empty string.",
        )
        .with_param("model");
        return error_response(DIALECT, &err);
    };
    let mut admission = None;
    if let Some(client) = &owner.client {
        if !client.allows(&model) {
            return error_response(DIALECT, &client.not_allowed(&model));
        }
        match admit(&state, client, 0, DIALECT).await {
            Ok(a) => admission = Some(a),
            Err(refused) => return refused,
        }
    }
    let req = IngressRequest {
        dialect: DIALECT,
        endpoint: Endpoint::Media(media),
        session: None,
        owner: owner.owner.unwrap_or_else(|| Owner::of(b"")),
        client: owner.client.as_ref().map(|c| c.name.to_string()),
        model,
        stream: false,
        body,
        content_type: media.multipart().then_some(content_type).flatten(),
        forward_headers: Vec::new(),
        hop: headers
            .get(switchboard_router::upstream::HOP_HEADER)
            .cloned(),
        received_at,
        received_at_ms,
    };
    let reply = state.engine.dispatch(req).await;
    admitted(reply, admission)
}

/// `GET /v1/responses/{id}`: a response whose conversation Switchboard keeps (one served
/// through another dialect), for the credential that created it; 404 otherwise.
pub async fn get_response(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    owner: Holder,
) -> Response {
    let who = owner.owner.unwrap_or_else(|| Owner::of(b""));
    match s.engine.stored_response(&who, &id) {
        Some(body) => {
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            resp
        }
        None => response_not_found(&id),
    }
}

/// `DELETE /v1/responses/{id}`: forgets a kept conversation of this credential.
pub async fn delete_response(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    owner: Holder,
) -> Response {
    let who = owner.owner.unwrap_or_else(|| Owner::of(b""));
    if s.engine.delete_response(&who, &id) {
        Json(serde_json::json!({ "id": id, "object": "response.deleted", "deleted": true }))
            .into_response()
    } else {
        response_not_found(&id)
    }
}

fn response_not_found(id: &str) -> Response {
    let err = ClientError::new(
        ErrorKind::NotFound,
        format!(
            "Response with id '{}' not found.",
            switchboard_router::log::truncated(id, switchboard_router::log::CLIENT_STR_MAX)
        ),
    );
    error_response(Dialect::OpenaiResponses, &err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: usize, size: usize) -> Body {
        let frames =
            (0..chunks).map(move |i| Ok::<_, std::io::Error>(Bytes::from(vec![i as u8; size])));
        Body::from_stream(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_up_to_the_limit_is_read_whole_in_order() {
        let Read::Whole(b) = read_limited(chunked(4, 1024), 4096).await else {
            panic!("within the limit");
        };
        assert_eq!(b.len(), 4096);
        assert!(
            b.chunks(1024)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&x| x == i as u8))
        );
        let Read::Whole(one) = read_limited(Body::from("{}"), 2).await else {
            panic!("one frame");
        };
        assert_eq!(&one[..], b"{}");
    }

    #[tokio::test]
    async fn past_the_limit_the_rest_is_drained_up_to_a_bound() {
        // The rest fits the drain: read to its end, so the client reads the 413.
        assert!(matches!(
            read_limited(chunked(17, 1024), 4096).await,
            Read::TooLarge { drained: true }
        ));
        // Too much to drain: left unread (the connection closes).
        let big = DRAIN_BYTES / 1024 + 16;
        assert!(matches!(
            read_limited(chunked(big, 1024), 4096).await,
            Read::TooLarge { drained: false }
        ));
    }
}
