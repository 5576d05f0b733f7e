//! Status, the routing switch, the desktop app's update, provider presets.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_control::Summary;
use switchboard_router::model::Quirks;
use utoipa::ToSchema;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::host::UpdateNotice;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Status {
    version: String,
    /// Base URL tools use (`…/v1`).
    endpoint: String,
    routing: bool,
    providers: usize,
    keys: usize,
    routes: usize,
    /// Team mode: the shared configuration's version this instance's routing was loaded at
    /// (instances showing the same have the same configuration).
    config_version: Option<i64>,
    in_flight: u64,
    /// Where secrets are kept: `os_keychain`, `encrypted_file`, `database` (team mode).
    secret_store: String,
    /// Why secrets are not in the OS keychain, when the desktop app could not use it.
    secret_store_note: Option<String>,
    /// A verified update of the desktop app, waiting for `POST /api/v1/update/install`.
    update: Option<UpdateNotice>,
    started_at_ms: i64,
    /// This instance's id (`SWITCHBOARD_INSTANCE_ID`, or generated at start).
    instance: String,
    /// `summary.counts.healthy`.
    keys_healthy: usize,
    /// `summary.counts.cooling`.
    keys_cooling: usize,
    /// `summary.counts.down`.
    keys_failed: usize,
    /// Counts by standing, the overall state (as the tray shows it), unusable aliases.
    summary: Summary,
    /// Whether the database answers: always `ok` on SQLite; in team mode `unreachable` while
    /// the shared PostgreSQL is out of reach (routing goes on, edits answer 503).
    database: Reachability,
    /// Team mode's Redis: `unreachable` while key health stays local to this instance;
    /// `null` without Redis.
    redis: Option<Reachability>,
    /// Request records waiting to be written (queued, or held while the database is
    /// unreachable).
    request_log_waiting: u64,
    /// Request records dropped since start because the queue was full (also
    /// `switchboard_request_log_dropped_total`).
    request_log_dropped: u64,
}

/// Whether a server this instance depends on answers.
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    Ok,
    Unreachable,
}

impl Reachability {
    pub fn of(up: bool) -> Reachability {
        if up {
            Reachability::Ok
        } else {
            Reachability::Unreachable
        }
    }
}

#[utoipa::path(get, path = "/api/v1/status", responses((status = 200, body = Status)))]
pub async fn status(State(s): State<Arc<AppState>>, headers: http::HeaderMap) -> ApiResult<Status> {
    let c = &s.control;
    let snap = c.engine().snapshot();
    let summary = c.summary();
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        endpoint: format!("http://{host}/v1"),
        routing: c.routing_enabled(),
        providers: snap.providers.len(),
        keys: c.key_views(None).len(),
        routes: snap.routes.len(),
        config_version: c.config_version(),
        in_flight: c.engine().in_flight(),
        secret_store: c.store().secret_store_kind().as_str().to_owned(),
        secret_store_note: s.host_app.secret_store_note(),
        update: s.host_app.update(),
        started_at_ms: s.started_at_ms,
        instance: s.instance.to_string(),
        keys_healthy: summary.counts.healthy,
        keys_cooling: summary.counts.cooling,
        keys_failed: summary.counts.down,
        summary,
        database: Reachability::of(c.store().reachable()),
        redis: s
            .health_bus
            .as_ref()
            .map(|b| Reachability::of(b.reachable())),
        request_log_waiting: s.log.waiting(),
        request_log_dropped: s.log.dropped(),
    }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Routing {
    enabled: bool,
}

/// Turns routing on or off: when off, `/v1/*` answers 503 and nothing is sent upstream.
#[utoipa::path(put, path = "/api/v1/routing", request_body = Routing, responses((status = 200, body = Routing)))]
pub async fn set_routing(
    State(s): State<Arc<AppState>>,
    Body400(r): Body400<Routing>,
) -> ApiResult<Routing> {
    s.control.set_routing(r.enabled).await?;
    Ok(Json(r))
}

/// Installs the update the desktop app announced in `status.update` (it verified the
/// signature; it verifies again, installs and restarts). 409 when no update is waiting,
/// always so on a headless server.
#[utoipa::path(post, path = "/api/v1/update/install", responses((status = 202, body = UpdateNotice), (status = 409, body = ErrorBody)))]
pub async fn install_update(
    State(s): State<Arc<AppState>>,
) -> Result<(StatusCode, Json<UpdateNotice>), AdminError> {
    let update = s.host_app.request_install().ok_or_else(|| {
        AdminError::new(
            StatusCode::CONFLICT,
            "no verified update is waiting (updates are installed by the desktop app)",
        )
    })?;
    tracing::info!(version = %update.version, "update install requested from the dashboard");
    Ok((StatusCode::ACCEPTED, Json(update)))
}

/// Provider presets the dashboard offers (name, dialect, base URL).
#[derive(Serialize, ToSchema)]
pub struct Preset {
    id: &'static str,
    name: &'static str,
    kind: &'static str,
    base_url: &'static str,
    /// Whether a key is needed (local servers usually take none).
    needs_key: bool,
    /// The quirks a provider made from this preset starts with.
    quirks: Quirks,
}

/// Quirks of presets that need nothing special.
const PLAIN: Quirks = Quirks {
    max_completion_tokens: false,
    replay_reasoning_content: false,
    strip_foreign_signatures: true,
    default_max_tokens: None,
};

const PRESETS: &[Preset] = &[
    Preset {
        id: "openai",
        name: "OpenAI",
        kind: "openai_chat",
        base_url: "https://api.openai.com/v1",
        needs_key: true,
        // OpenAI's reasoning models take only `max_completion_tokens` (every model accepts it).
        quirks: Quirks {
            max_completion_tokens: true,
            ..PLAIN
        },
    },
    Preset {
        id: "openai-responses",
        name: "OpenAI (Responses API)",
        kind: "openai_responses",
        base_url: "https://api.openai.com/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "anthropic",
        name: "Anthropic",
        kind: "anthropic",
        base_url: "https://api.anthropic.com/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "gemini",
        name: "Google Gemini",
        kind: "gemini",
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "deepseek",
        name: "DeepSeek",
        kind: "openai_chat",
        base_url: "https://api.deepseek.com/v1",
        needs_key: true,
        // Thinking mode refuses tool turns replayed without their `reasoning_content`.
        quirks: Quirks {
            replay_reasoning_content: true,
            ..PLAIN
        },
    },
    Preset {
        id: "openrouter",
        name: "OpenRouter",
        kind: "openai_chat",
        base_url: "https://openrouter.ai/api/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "groq",
        name: "Groq",
        kind: "openai_chat",
        base_url: "https://api.groq.com/openai/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "mistral",
        name: "Mistral",
        kind: "openai_chat",
        base_url: "https://api.mistral.ai/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "mimo",
        name: "Xiaomi MiMo",
        kind: "openai_chat",
        base_url: "https://api.xiaomimimo.com/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "together",
        name: "Together AI",
        kind: "openai_chat",
        base_url: "https://api.together.xyz/v1",
        needs_key: true,
        quirks: PLAIN,
    },
    Preset {
        id: "ollama",
        name: "Ollama (local)",
        kind: "openai_chat",
        base_url: "http://127.0.0.1:11434/v1",
        needs_key: false,
        quirks: PLAIN,
    },
    Preset {
        id: "lmstudio",
        name: "LM Studio (local)",
        kind: "openai_chat",
        base_url: "http://127.0.0.1:1234/v1",
        needs_key: false,
        quirks: PLAIN,
    },
    Preset {
        id: "vllm",
        name: "vLLM (local)",
        kind: "openai_chat",
        base_url: "http://127.0.0.1:8000/v1",
        needs_key: false,
        quirks: PLAIN,
    },
    Preset {
        id: "custom",
        name: "Custom OpenAI-compatible",
        kind: "openai_chat",
        base_url: "https://",
        needs_key: true,
        quirks: PLAIN,
    },
];

#[utoipa::path(get, path = "/api/v1/presets", responses((status = 200, body = Vec<Preset>)))]
pub async fn presets() -> Json<&'static [Preset]> {
    Json(PRESETS)
}
