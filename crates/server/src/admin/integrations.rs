//! Admin API for the dashboard's Integrations page and Settings' export/import:
//! `/api/v1/integrations[/{tool}/preview|apply|undo]` configure AI tools (through
//! `switchboard-integrations`) to use this very Switchboard — the address it is bound to and
//! its access key, never another address — and `/api/v1/config/export|import/*` move the
//! configuration between machines (see [`switchboard_control::transfer`]).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_integrations::{
    AccessKey, Endpoint, Integrations, KeyDelivery, Limits, Models, Plan, Restored, RouterStatus,
    Status, ToolId,
};
use switchboard_router::Secret;
use switchboard_router::snapshot::Snapshot;
use utoipa::ToSchema;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;
use switchboard_control::transfer::{Export, Import, ImportPlan};

type St = State<Arc<AppState>>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the operation was interrupted",
        )
    })?
}

// ---------------------------------------------------------------------------------------
// Integrations

/// One AI tool: what is installed, and whether Switchboard configured it.
#[derive(Serialize, ToSchema)]
pub struct ToolView {
    /// `codex`, `claude-code`, `opencode`, `gemini-cli`, `aider`, `qwen-code`, `crush`,
    /// `kilo-code`, `cline`, `roo-code`, `continue`, `goose`, `zed`, `openclaw`, `pi`.
    id: String,
    name: String,
    installed: bool,
    binary: Option<String>,
    version: Option<String>,
    config_path: String,
    config_exists: bool,
    /// `not_installed`, `not_configured`, `configured` or `drifted`.
    status: String,
    /// For `drifted`: files changed since we wrote them.
    changed_files: Vec<String>,
    /// For `drifted`: keys we own whose value changed since.
    changed_keys: Vec<String>,
}

/// The list of tools and the endpoint they would be pointed at.
#[derive(Serialize, ToSchema)]
pub struct ToolsView {
    /// The server root tools are configured with (`http://127.0.0.1:9911`).
    endpoint: String,
    tools: Vec<ToolView>,
}

/// The limits of the route serving `model` now, as the tools' configs take them.
fn limits_of(snap: &Snapshot, model: &str) -> Limits {
    let l = snap.limits(model);
    Limits {
        context_window: l.context_window,
        max_output: l.max_output,
    }
}

fn tool_view(ix: &Integrations, tool: ToolId, snap: &Snapshot) -> Result<ToolView, AdminError> {
    let d = ix.detect(tool)?;
    // A route whose targets changed since the tool was configured shows as drift.
    let status = ix.status_with_limits(tool, |model| limits_of(snap, model))?;
    let (status, changed_files, changed_keys) = match status {
        Status::NotInstalled => ("not_installed", vec![], vec![]),
        Status::NotConfigured => ("not_configured", vec![], vec![]),
        Status::Configured => ("configured", vec![], vec![]),
        Status::Drifted {
            changed_files,
            changed_keys,
        } => (
            "drifted",
            changed_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            changed_keys,
        ),
    };
    Ok(ToolView {
        id: tool.slug().to_owned(),
        name: tool.name().to_owned(),
        installed: d.installed,
        binary: d.binary.map(|b| b.display().to_string()),
        version: d.version,
        config_path: d.config_path.display().to_string(),
        config_exists: d.config_exists,
        status: status.to_owned(),
        changed_files,
        changed_keys,
    })
}

/// The server root tools use: the bound address, with an unspecified bind (`0.0.0.0`, `::`)
/// reached through loopback.
fn endpoint_root(bound: SocketAddr) -> (String, bool) {
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, bound.port());
    (format!("http://{addr}"), !ip.is_loopback())
}

fn bound(s: &AppState) -> Result<SocketAddr, AdminError> {
    s.tools.bound.get().copied().ok_or_else(|| {
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server address is not known yet",
        )
    })
}

#[utoipa::path(get, path = "/api/v1/integrations", responses((status = 200, body = ToolsView)))]
pub async fn list_tools(State(s): St) -> ApiResult<ToolsView> {
    let (endpoint, _) = endpoint_root(bound(&s)?);
    let ix = s.tools.integrations();
    let snap = s.engine.snapshot();
    let tools = blocking(move || {
        switchboard_integrations::tools()
            .iter()
            .map(|t| tool_view(&ix, *t, &snap))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(Json(ToolsView { endpoint, tools }))
}

/// Model aliases to configure a tool with; empty optional fields fall back to `main`
/// (`haiku` to `small`).
#[derive(Deserialize, ToSchema, Default)]
pub struct ModelMap {
    main: String,
    #[serde(default)]
    small: Option<String>,
    #[serde(default)]
    opus: Option<String>,
    #[serde(default)]
    sonnet: Option<String>,
    #[serde(default)]
    haiku: Option<String>,
}

/// How to configure one tool.
#[derive(Deserialize, ToSchema)]
pub struct ToolPlan {
    models: ModelMap,
    /// Reference this environment variable (it must hold the access key where the tool
    /// runs) instead of writing the key into the config; tools that cannot read variables
    /// still get the key inline.
    #[serde(default)]
    key_env: Option<String>,
    /// Take over an existing `switchboard` entry we did not create.
    #[serde(default)]
    replace_existing: bool,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn plan_for(s: &AppState, body: ToolPlan) -> Result<Plan, AdminError> {
    let (root, remote) = endpoint_root(bound(s)?);
    let key = s.access_key().ok_or_else(|| {
        AdminError::new(
            StatusCode::CONFLICT,
            "this Switchboard has no access key to give tools",
        )
    })?;
    let snap = s.engine.snapshot();
    let known_aliases = if snap.settings.default_route.is_some() {
        // Every model name is served through the default route.
        None
    } else {
        let mut known: Vec<String> = snap.routes.keys().cloned().collect();
        for p in snap.providers.values() {
            known.extend(p.provider.models.iter().map(|m| m.id.clone()));
        }
        Some(known)
    };
    let main = body.models.main.trim().to_owned();
    let limits = limits_of(&snap, &main);
    let models = Models {
        main,
        small: nonempty(body.models.small),
        opus: nonempty(body.models.opus),
        sonnet: nonempty(body.models.sonnet),
        haiku: nonempty(body.models.haiku),
    };
    let mut plan = Plan::new(
        Endpoint {
            base_url: root,
            access_key: AccessKey::new(key.expose()),
        },
        models,
    );
    plan.limits = limits;
    plan.key_delivery = match nonempty(body.key_env) {
        Some(var) => KeyDelivery::EnvVar(var),
        None => KeyDelivery::Inline,
    };
    plan.router = Some(RouterStatus {
        running: true,
        routing_enabled: s.control.routing_enabled(),
        known_aliases,
    });
    plan.allow_remote = remote;
    plan.replace_existing = body.replace_existing;
    Ok(plan)
}

/// What the route serving a model can take: the smallest context window and output limit
/// among its targets (`null` where none states one). Tools configured elsewhere (onboarding
/// under another user) write these into their configs.
#[derive(Serialize, ToSchema)]
pub struct RouteLimitsView {
    model: String,
    context_window: Option<u64>,
    max_output: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/integrations/limits/{model}", responses((status = 200, body = RouteLimitsView)))]
pub async fn route_limits(State(s): St, Path(model): Path<String>) -> ApiResult<RouteLimitsView> {
    let l = limits_of(&s.engine.snapshot(), &model);
    Ok(Json(RouteLimitsView {
        model,
        context_window: l.context_window,
        max_output: l.max_output,
    }))
}

fn tool_of(slug: &str) -> Result<ToolId, AdminError> {
    ToolId::from_str(slug).map_err(|e| AdminError::new(StatusCode::NOT_FOUND, e))
}

#[derive(Serialize, ToSchema)]
pub struct FileChange {
    path: String,
    /// Unified diff, access key masked; empty when the file would not change.
    diff: String,
    changed: bool,
}

/// The exact change applying would make.
#[derive(Serialize, ToSchema)]
pub struct ToolPreview {
    files: Vec<FileChange>,
    warnings: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/integrations/{tool}/preview", request_body = ToolPlan, responses((status = 200, body = ToolPreview), (status = 400, body = ErrorBody)))]
pub async fn preview_tool(
    State(s): St,
    Path(tool): Path<String>,
    Body400(body): Body400<ToolPlan>,
) -> ApiResult<ToolPreview> {
    let tool = tool_of(&tool)?;
    let plan = plan_for(&s, body)?;
    let ix = s.tools.integrations();
    let preview = blocking(move || Ok(ix.preview(tool, &plan)?)).await?;
    Ok(Json(ToolPreview {
        files: preview
            .files
            .into_iter()
            .map(|f| FileChange {
                path: f.path.display().to_string(),
                diff: f.diff,
                changed: f.changed,
            })
            .collect(),
        warnings: preview.warnings.iter().map(ToString::to_string).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AppliedFileView {
    path: String,
    /// The copy of the original, when the file existed before our first change.
    backup: Option<String>,
    changed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ToolApplied {
    /// False when the config already was exactly what we would write.
    changed: bool,
    files: Vec<AppliedFileView>,
    warnings: Vec<String>,
    tool: ToolView,
}

#[utoipa::path(post, path = "/api/v1/integrations/{tool}/apply", request_body = ToolPlan, responses((status = 200, body = ToolApplied), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn apply_tool(
    State(s): St,
    Path(tool): Path<String>,
    Body400(body): Body400<ToolPlan>,
) -> ApiResult<ToolApplied> {
    let tool = tool_of(&tool)?;
    let mut plan = plan_for(&s, body)?;
    // The tool gets a client of its own (named after it), so its usage is its own, when its
    // key is written into its config (a key read from an environment variable is the local
    // access key the user exports).
    let issued = match plan.key_delivery {
        KeyDelivery::Inline => Some(s.control.issue_client_key(tool.slug()).await?),
        KeyDelivery::EnvVar(_) => None,
    };
    if let Some(issued) = &issued {
        plan.endpoint.access_key = AccessKey::new(&issued.key);
    }
    let ix = s.tools.integrations();
    let snap = s.engine.snapshot();
    let applied = blocking(move || {
        let applied = ix.apply(tool, &plan)?;
        Ok((applied, tool_view(&ix, tool, &snap)?))
    })
    .await;
    let (applied, view) = match applied {
        Ok(a) => a,
        Err(e) => {
            // No config holds the new key: it is revoked again.
            if let Some(issued) = issued {
                let _ = s
                    .control
                    .revoke_client_key(tool.slug(), issued.key_id)
                    .await;
            }
            return Err(e);
        }
    };
    tracing::info!(
        tool = tool.slug(),
        changed = applied.changed,
        "tool configured"
    );
    Ok(Json(ToolApplied {
        changed: applied.changed,
        files: applied
            .files
            .into_iter()
            .map(|f| AppliedFileView {
                path: f.path.display().to_string(),
                backup: f.backup.map(|b| b.display().to_string()),
                changed: f.changed,
            })
            .collect(),
        warnings: applied.warnings.iter().map(ToString::to_string).collect(),
        tool: view,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UndoneFileView {
    path: String,
    /// `exact` (original bytes back), `ours_removed` (the user's later edits kept),
    /// `deleted` (the file was ours) or `unchanged`.
    restored: String,
}

#[derive(Serialize, ToSchema)]
pub struct ToolUndone {
    files: Vec<UndoneFileView>,
    tool: ToolView,
}

#[utoipa::path(post, path = "/api/v1/integrations/{tool}/undo", responses((status = 200, body = ToolUndone), (status = 404, body = ErrorBody)))]
pub async fn undo_tool(State(s): St, Path(tool): Path<String>) -> ApiResult<ToolUndone> {
    let tool = tool_of(&tool)?;
    let ix = s.tools.integrations();
    let snap = s.engine.snapshot();
    let (undone, view) = blocking(move || {
        let undone = ix.undo(tool)?;
        Ok((undone, tool_view(&ix, tool, &snap)?))
    })
    .await?;
    tracing::info!(tool = tool.slug(), "tool configuration undone");
    Ok(Json(ToolUndone {
        files: undone
            .files
            .into_iter()
            .map(|f| UndoneFileView {
                path: f.path.display().to_string(),
                restored: match f.restored {
                    Restored::Exact => "exact",
                    Restored::OursRemoved => "ours_removed",
                    Restored::Deleted => "deleted",
                    Restored::Unchanged => "unchanged",
                }
                .to_owned(),
            })
            .collect(),
        tool: view,
    }))
}

// ---------------------------------------------------------------------------------------
// Config export and import

#[derive(Deserialize, ToSchema)]
pub struct ExportRequest {
    /// Include API keys, sealed with `passphrase`.
    #[serde(default)]
    with_secrets: bool,
    /// At least 8 characters; required with `with_secrets`.
    #[serde(default)]
    passphrase: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportResponse {
    export: Export,
    /// The same export as one copyable line (`sbx1.…`).
    token: String,
    /// A suggested file name.
    file_name: String,
}

/// Exports providers, keys, routes and settings. Keys' secrets only with `with_secrets`,
/// then sealed with the passphrase (Argon2id + XChaCha20-Poly1305).
#[utoipa::path(post, path = "/api/v1/config/export", request_body = ExportRequest, responses((status = 200, body = ExportResponse), (status = 400, body = ErrorBody)))]
pub async fn export_config(
    State(s): St,
    Body400(req): Body400<ExportRequest>,
) -> ApiResult<ExportResponse> {
    let passphrase = match (req.with_secrets, req.passphrase) {
        (true, Some(p)) => Some(Secret::new(p)),
        (true, None) => {
            return Err(AdminError::new(
                StatusCode::BAD_REQUEST,
                "passphrase: needed to export keys",
            ));
        }
        (false, _) => None,
    };
    let export = s.control.export(passphrase.as_ref()).await?;
    let date = export.exported_at.get(..10).unwrap_or("export").to_owned();
    Ok(Json(ExportResponse {
        token: export.to_token(),
        export,
        file_name: format!("switchboard-{date}.json"),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ImportRequest {
    /// The export: its JSON text or its `sbx1.` token.
    data: String,
    /// Needed when the export holds sealed keys.
    #[serde(default)]
    passphrase: Option<String>,
    /// The user saw the plan's `host_changes` (existing providers pointed at other servers)
    /// and accepts them; without it such an import is refused with 409.
    #[serde(default)]
    accept_new_hosts: bool,
}

fn open_import(req: ImportRequest) -> Result<(Import, bool), AdminError> {
    let export = Export::parse(&req.data)?;
    let passphrase = req.passphrase.map(Secret::new);
    Ok((
        Import::open(export, passphrase.as_ref())?,
        req.accept_new_hosts,
    ))
}

/// What importing would change (added, changed, unchanged, keys needing a secret, items kept);
/// writes nothing.
#[utoipa::path(post, path = "/api/v1/config/import/plan", request_body = ImportRequest, responses((status = 200, body = ImportPlan), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_plan(
    State(s): St,
    Body400(req): Body400<ImportRequest>,
) -> ApiResult<ImportPlan> {
    let (import, _) = open_import(req)?;
    Ok(Json(s.control.plan_import(&import).await?))
}

/// Applies an import (never deletes anything) and reloads routing; returns what changed.
/// 409 when it points existing providers at other servers and `accept_new_hosts` is not set.
#[utoipa::path(post, path = "/api/v1/config/import/apply", request_body = ImportRequest, responses((status = 200, body = ImportPlan), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_apply(
    State(s): St,
    Body400(req): Body400<ImportRequest>,
) -> ApiResult<ImportPlan> {
    let (import, accept_new_hosts) = open_import(req)?;
    let applied = s.control.import(&import, accept_new_hosts).await?;
    Ok(Json(applied))
}
