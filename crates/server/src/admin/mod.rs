//! The admin API under `/api/v1`, one module per resource: providers, keys (secrets
//! write-only), clients (named access keys, limits, budgets), routes, settings (with
//! cooldowns, routing and the access key), health (with its live events), prices (the price
//! table and per-provider overrides), webhooks (alert receivers), requests (the log, its live
//! tail, usage), inspector (capture windows and captured requests), status, users (named
//! sign-ins) and the session (signing in and out). Handlers translate HTTP to
//! [`Control`](switchboard_control::Control) calls and back; the decisions are made there.
//! Behind the admin token or a signed-in user's session cookie (see `guard`). Documented as
//! OpenAPI for the dashboard.

mod clients;
mod error;
mod health;
mod inspector;
mod instances;
mod integrations;
mod keys;
pub mod oidc;
mod prices;
mod providers;
mod requests;
mod routes;
pub mod session;
mod settings;
mod status;
mod users;
mod webhooks;

use axum::body::Body;
use axum::response::Response;
use switchboard_control::{
    BudgetEvent, BudgetLevel, BudgetPeriod, ClientInput, ClientKeyView, ClientView, Counts,
    CreatedWebhook, DeliveryReport, FlowPlan, FlowStep, KeyTest, KeyUpdate, KeyView, ModelPrice,
    ModelPricing, NewClientSecret, NewKey, NewUser, NewWebhook, OverallState, PriceTableView,
    StandingChanged, Summary, UserUpdate, UserView, WebhookFormat, WebhookView,
};
use switchboard_control::{
    BugReport, CaptureSettings, CaptureView, InspectorView, Replay, StartCapture,
};
use switchboard_router::engine::ProbeAnswer;
use switchboard_router::health::{
    CooldownPolicy, HealthEntry, HealthEvent, KeyStanding, StandingClass, StandingScope,
};
use switchboard_router::inspect::{
    Capture, CaptureWindow, CapturedAttempt, CapturedEvent, CapturedHeader, CapturedMessage,
};
use switchboard_router::log::RequestRecord;
use switchboard_router::{KeyInfo, Provider, Route, Settings};
use switchboard_store::CaptureInfo;
use utoipa::OpenApi;

pub use error::{AdminError, ApiResult, Body400, ErrorBody, ErrorDetail};
// Handlers are named without their module in the document (its operation ids and tags).
pub use clients::*;
pub use health::*;
pub use inspector::*;
pub use instances::*;
pub use integrations::*;
pub use keys::*;
pub use oidc::{
    __path_oidc_callback, __path_oidc_options, __path_oidc_start, SsoOptions, oidc_callback,
    oidc_options, oidc_start,
};
pub use prices::*;
pub use providers::*;
pub use requests::*;
pub use routes::*;
pub use session::{
    __path_sign_in, __path_sign_out, __path_whoami, SessionView, SignIn, sign_in, sign_out, whoami,
};
pub use settings::*;
pub use status::*;
pub use users::*;
pub use webhooks::*;

use crate::host::UpdateNotice;

/// While team mode's database is unreachable, every change through the admin API (any method
/// but GET, HEAD and OPTIONS) answers 503 at once, saying why, instead of waiting for a
/// connection that will not come. Reads go on (those that need the database answer 503 when
/// they fail).
pub async fn refuse_edits_while_database_down(
    axum::extract::State(s): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::response::IntoResponse;
    let read = matches!(
        *req.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    if read || s.control.store().reachable() {
        return next.run(req).await;
    }
    AdminError::database_unreachable().into_response()
}

pub async fn openapi() -> Response {
    let mut resp = Response::new(Body::from(openapi_json()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The admin API's OpenAPI document (the dashboard generates its types from it).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard admin API",
        description = "Providers, keys, routes, settings, health and the request log."
    ),
    paths(
        status,
        list_instances,
        set_routing,
        install_update,
        list_providers,
        get_provider,
        put_provider,
        update_provider,
        delete_provider,
        discover_models,
        list_keys,
        add_key,
        update_key,
        delete_key,
        clear_key,
        probe_key,
        test_key,
        test_provider,
        list_clients,
        get_client,
        create_client,
        update_client,
        delete_client,
        add_client_key,
        revoke_client_key,
        list_routes,
        put_route,
        update_route,
        delete_route,
        route_plan,
        get_settings,
        put_settings,
        get_cooldowns,
        put_cooldowns,
        access_key,
        rotate_access_key,
        price_table,
        load_prices,
        model_price,
        set_model_price,
        list_webhooks,
        add_webhook,
        update_webhook,
        delete_webhook,
        test_webhook,
        health,
        health_events,
        requests,
        request,
        requests_live,
        get_inspector,
        start_capture,
        stop_capture,
        list_captures,
        get_capture,
        capture_report,
        delete_capture,
        usage,
        usage_summary,
        cache_hits,
        usage_by_key,
        presets,
        list_tools,
        route_limits,
        preview_tool,
        apply_tool,
        undo_tool,
        export_config,
        import_plan,
        import_apply,
        sign_in,
        sign_out,
        whoami,
        oidc_options,
        oidc_start,
        oidc_callback,
        list_users,
        add_user,
        update_user,
        delete_user,
    ),
    components(schemas(
        InstanceView,
        ErrorBody,
        ErrorDetail,
        Status,
        Reachability,
        Summary,
        Counts,
        OverallState,
        UpdateNotice,
        Routing,
        Provider,
        KeyInfo,
        KeyView,
        KeyTest,
        ProbeAnswer,
        KeyStanding,
        StandingClass,
        StandingScope,
        StandingChanged,
        NewKey,
        KeyUpdate,
        ClientView,
        ClientKeyView,
        ClientInput,
        NewClientSecret,
        BudgetEvent,
        BudgetPeriod,
        BudgetLevel,
        Route,
        FlowPlan,
        FlowStep,
        Settings,
        CooldownPolicy,
        AccessKey,
        PriceTableView,
        ModelPrice,
        ModelPricing,
        WebhookView,
        WebhookFormat,
        NewWebhook,
        CreatedWebhook,
        WebhookUpdate,
        DeliveryReport,
        HealthView,
        HealthEntry,
        HealthEvent,
        RequestRecord,
        InspectorView,
        CaptureSettings,
        CaptureWindow,
        StartCapture,
        CaptureInfo,
        CaptureView,
        Replay,
        BugReport,
        Capture,
        CapturedAttempt,
        CapturedMessage,
        CapturedHeader,
        CapturedEvent,
        UsagePoint,
        UsageSummary,
        CacheHit,
        KeyUsage,
        Preset,
        SignIn,
        SessionView,
        SsoOptions,
        UserView,
        NewUser,
        UserUpdate
    ))
)]
pub struct ApiDoc;
