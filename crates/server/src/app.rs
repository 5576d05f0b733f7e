//! The app facade: [`Switchboard::start`] → [`SwitchboardHandle`], used by `switchboard serve`
//! and by the desktop app alike.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use switchboard_control::config_file::{ConfigFileError, FileConfig};
use switchboard_control::{Control, ControlError};
use switchboard_router::clock::{SharedClock, SystemClock};
use switchboard_router::{Media, Secret};
use switchboard_store::{
    EncryptedFileStore, LocalToken, MASTER_KEY_ENV, RequestLogTask, RequestLogWriter, SecretStore,
    Store, StoreError,
};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::front::Front;
use crate::host::HostApp;
use crate::ingress;
use crate::listener::{ListenLimits, Listener};
use crate::state::{AppState, GuardConfig, Sink, ToolsConfig};

/// How to start. `Options::new(data_dir)` gives the defaults of `switchboard serve`.
#[derive(Clone)]
pub struct Options {
    pub host: IpAddr,
    /// 0 picks a free port (tests).
    pub port: u16,
    pub data_dir: PathBuf,
    /// Team mode: the PostgreSQL server every instance shares (`--database`,
    /// `SWITCHBOARD_DATABASE_URL`, `[server] database_url`); `None`: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Team mode: the Redis server key health is shared through (`--redis`,
    /// `SWITCHBOARD_REDIS_URL`, `[server] redis_url`); needs `database_url`.
    pub redis_url: Option<String>,
    /// Team mode's master key, sealing the secrets in the database; `None`:
    /// `SWITCHBOARD_MASTER_KEY`. Ignored when `secrets` is given.
    pub team_master_key: Option<Secret>,
    /// This instance's id on request records and the status (`SWITCHBOARD_INSTANCE_ID`);
    /// `None`: one generated at start. 1 to 64 letters, digits, `.`, `_` or `-`.
    pub instance_id: Option<String>,
    /// Team mode: how often the shared configuration's version is compared, healing a missed
    /// change notification.
    pub config_check_every: Duration,
    /// How often this instance writes its row in the instances table.
    pub heartbeat_every: Duration,
    /// Request records queued for the writer (and held while team mode's database is
    /// unreachable) before new ones are dropped and counted.
    pub request_log_capacity: usize,
    pub config_file: Option<PathBuf>,
    /// Overrides the stored access key (`SWITCHBOARD_ACCESS_KEY`).
    pub access_key: Option<Secret>,
    /// Overrides the stored admin token (`SWITCHBOARD_ADMIN_TOKEN`).
    pub admin_token: Option<Secret>,
    /// Where API keys live; `None`: the encrypted file keyed by `SWITCHBOARD_MASTER_KEY` or
    /// the machine key file.
    pub secrets: Option<Arc<dyn SecretStore>>,
    /// Machine key file for the encrypted store (default: the platform config dir).
    pub key_file: Option<PathBuf>,
    /// Accept peers beyond loopback. Binding to a non-loopback address requires it.
    pub remote: bool,
    pub allowed_hosts: Vec<String>,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Connections one peer beyond loopback may hold.
    pub max_connections_per_peer: usize,
    /// How long a client may take to send a whole request body.
    pub body_read_timeout: Duration,
    /// Memory budget of stored Responses conversations (bytes).
    pub conversation_store_bytes: usize,
    pub shutdown_grace: Duration,
    pub clock: SharedClock,
    /// Serve `GET /metrics` without the admin token (`--open-metrics`).
    pub open_metrics: bool,
    /// Home directory and variables the Integrations API finds AI tools with; `None`: this
    /// process's environment.
    pub tool_env: Option<switchboard_integrations::Env>,
    /// What the hosting app (the desktop shell) reports to the dashboard; shared so it
    /// outlives an engine restart.
    pub host_app: Arc<HostApp>,
    /// Single sign-on through OpenID Connect; `None`: the config file's `[server.oidc]`.
    pub oidc: Option<switchboard_control::config_file::OidcSection>,
}

impl Options {
    pub fn new(data_dir: impl Into<PathBuf>) -> Options {
        Options {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 9911,
            data_dir: data_dir.into(),
            database_url: None,
            redis_url: None,
            team_master_key: None,
            instance_id: None,
            config_check_every: switchboard_control::CONFIG_CHECK_EVERY,
            heartbeat_every: crate::instances::HEARTBEAT_EVERY,
            request_log_capacity: switchboard_store::DEFAULT_CAPACITY,
            config_file: None,
            access_key: None,
            admin_token: None,
            secrets: None,
            key_file: None,
            remote: false,
            allowed_hosts: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_peer: 256,
            body_read_timeout: Duration::from_secs(120),
            conversation_store_bytes: switchboard_router::engine::RESPONSES_BUDGET_BYTES,
            shutdown_grace: Duration::from_secs(20),
            clock: Arc::new(SystemClock),
            open_metrics: false,
            tool_env: None,
            host_app: Arc::default(),
            oidc: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot open the secret store: {0}")]
    Secrets(#[from] switchboard_store::SecretError),
    #[error(
        "team mode (a PostgreSQL database) needs {MASTER_KEY_ENV}: set it to the key every \
         instance of the team shares (32 bytes as hex or base64, or a long passphrase)"
    )]
    TeamMasterKeyMissing,
    #[error(
        "instance id {0:?} (SWITCHBOARD_INSTANCE_ID) must be 1 to 64 letters, digits, `.`, `_` or `-`"
    )]
    InstanceId(String),
    #[error(
        "--redis (SWITCHBOARD_REDIS_URL) shares key health between team instances: it needs a \
         PostgreSQL database too (--database or SWITCHBOARD_DATABASE_URL)"
    )]
    RedisWithoutDatabase,
    #[error(transparent)]
    RedisUrl(#[from] crate::health_bus::RedisUrlError),
    #[error(transparent)]
    ConfigFile(#[from] ConfigFileError),
    #[error(transparent)]
    Oidc(#[from] crate::admin::oidc::OidcError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error(
        "refusing to listen on {0}: binding beyond loopback needs remote mode (--remote) and an access key"
    )]
    NotLoopback(IpAddr),
}

pub struct Switchboard;

/// Captures queued for the writer before new ones are dropped (counted).
const CAPTURE_QUEUE: usize = 256;

fn valid_instance_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The store `opts` name: SQLite in the data directory, or team mode's PostgreSQL with the
/// secrets sealed in it. What `serve` opens, and the CLI's other commands too.
pub async fn open_store(opts: &Options) -> Result<Store, StartError> {
    match (&opts.database_url, opts.secrets.clone()) {
        (None, Some(secrets)) => Ok(Store::open(&opts.data_dir, secrets).await?),
        // The master key comes from SWITCHBOARD_MASTER_KEY or a key file kept outside the
        // data directory.
        (None, None) => {
            let secrets = Arc::new(EncryptedFileStore::open_default(
                &opts.data_dir,
                opts.key_file.clone(),
            )?);
            Ok(Store::open(&opts.data_dir, secrets).await?)
        }
        (Some(url), Some(secrets)) => Ok(Store::open_postgres(url, secrets).await?),
        (Some(url), None) => {
            let key = opts
                .team_master_key
                .clone()
                .or_else(|| {
                    std::env::var(MASTER_KEY_ENV)
                        .ok()
                        .filter(|v| !v.trim().is_empty())
                        .map(Secret::new)
                })
                .ok_or(StartError::TeamMasterKeyMissing)?;
            Ok(Store::open_team(url, &key).await?)
        }
    }
}

/// A running Switchboard.
pub struct SwitchboardHandle {
    state: Arc<AppState>,
    front: Front,
    listener: tokio::sync::Mutex<Option<Listener>>,
    bind: SocketAddr,
    limits: ListenLimits,
    log_task: RequestLogTask,
    capture_task: RequestLogTask,
    background: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl Switchboard {
    pub async fn start(opts: Options) -> Result<SwitchboardHandle, StartError> {
        let instance: Arc<str> = match &opts.instance_id {
            Some(id) if valid_instance_id(id) => Arc::from(id.as_str()),
            Some(id) => return Err(StartError::InstanceId(id.chars().take(80).collect())),
            None => Arc::from(switchboard_store::new_instance_id()),
        };
        if opts.redis_url.is_some() && opts.database_url.is_none() {
            return Err(StartError::RedisWithoutDatabase);
        }
        let store = open_store(&opts).await?;
        let file = match &opts.config_file {
            Some(path) => {
                let f = FileConfig::load(path)?;
                f.apply(&store, path).await?;
                Some((f, path.clone()))
            }
            None => None,
        };
        let mut access_keys: Vec<Secret> = match &file {
            Some((f, path)) => f.access_keys(path)?,
            None => Vec::new(),
        };
        if access_keys.is_empty() || opts.access_key.is_some() {
            access_keys.insert(
                0,
                store
                    .local_token(LocalToken::AccessKey, opts.access_key.clone())
                    .await?,
            );
        }
        let admin_token = store
            .local_token(LocalToken::AdminToken, opts.admin_token.clone())
            .await?;
        let remote = opts.remote || file.as_ref().is_some_and(|(f, _)| f.server.remote);
        if !opts.host.is_loopback() && !remote {
            return Err(StartError::NotLoopback(opts.host));
        }
        let mut allowed_hosts = opts.allowed_hosts.clone();
        if let Some((f, _)) = &file {
            allowed_hosts.extend(f.server.allowed_hosts.iter().cloned());
        }
        let oidc = match opts
            .oidc
            .clone()
            .or_else(|| file.as_ref().and_then(|(f, _)| f.server.oidc.clone()))
        {
            Some(cfg) => Some(Arc::new(crate::admin::oidc::Oidc::new(cfg)?)),
            None => None,
        };
        let (log_sink, log_task) =
            RequestLogWriter::spawn_with_capacity(store.clone(), opts.request_log_capacity);
        let (live, _) = broadcast::channel(1024);
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let sink = Arc::new(Sink {
            instance: instance.clone(),
            log: log_sink.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
        });
        let refused = crate::refused::RefusedLog::new(sink.clone());
        let control = Control::start(store.clone(), sink, opts.clock.clone()).await?;
        control.set_access_keys(access_keys).await?;
        let capture_key = store.capture_key().await?;
        let (captures, capture_task) =
            switchboard_store::spawn_writer(store.clone(), capture_key.clone(), CAPTURE_QUEUE);
        control
            .attach_captures(captures.clone(), capture_key)
            .await?;
        let engine = control.engine().clone();
        engine.set_conversation_budget(opts.conversation_store_bytes);
        let health_bus = opts
            .redis_url
            .as_deref()
            .zip(opts.database_url.as_deref())
            .map(|(url, database)| {
                crate::health_bus::HealthBus::new(
                    url,
                    database,
                    instance.clone(),
                    engine.health.clone(),
                    metrics.clone(),
                )
            })
            .transpose()?;
        let cluster = opts
            .redis_url
            .as_deref()
            .zip(opts.database_url.as_deref())
            .map(|(url, database)| {
                crate::cluster::RedisCluster::new(url, database, instance.clone(), metrics.clone())
            })
            .transpose()?;
        let state = Arc::new(AppState {
            cluster: cluster.as_ref().map(|(c, _)| c.clone()),
            control: control.clone(),
            engine: engine.clone(),
            admin_token: parking_lot::RwLock::new(admin_token),
            guard: GuardConfig {
                remote,
                extra_hosts: allowed_hosts,
                open_metrics: opts.open_metrics,
                body_read_timeout: opts.body_read_timeout,
            },
            live,
            started_at_ms: switchboard_store::now_ms(),
            instance: instance.clone(),
            heartbeat_every: opts.heartbeat_every,
            metrics,
            tools: ToolsConfig::new(
                opts.tool_env
                    .clone()
                    .unwrap_or_else(switchboard_integrations::Env::from_process),
                opts.data_dir.join("integrations"),
            ),
            host_app: opts.host_app.clone(),
            log: log_sink,
            refused,
            sign_ins: Default::default(),
            oidc,
            captures,
            health_bus: health_bus.clone(),
        });
        let background = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(bus) = health_bus {
            tasks.spawn(bus.clone().run_publisher(background.clone()));
            tasks.spawn(bus.run_subscriber(background.clone()));
        }
        if let Some((cluster, writes)) = cluster {
            cluster.install(&control);
            tasks.spawn(cluster.run_writes(writes, background.clone()));
        }
        tasks.spawn(engine.clone().run_prober(background.clone()));
        tasks.spawn(engine.clone().run_balance_checker(background.clone()));
        tasks.spawn(control.clone().run_standings(background.clone()));
        tasks.spawn(control.clone().run_health_writer(background.clone()));
        tasks.spawn(control.clone().run_alerts(background.clone()));
        tasks.spawn(control.clone().run_capture_retention(background.clone()));
        // Subscribed before serving: no edit made elsewhere after the start is missed.
        let config_feed = store.listen_config().await?;
        tasks.spawn(control.clone().run_config_sync(
            background.clone(),
            config_feed,
            opts.config_check_every,
        ));
        tasks.spawn(control.clone().run_database_watch(
            background.clone(),
            switchboard_control::DATABASE_CHECK_EVERY,
        ));
        let front = Front::new(state.clone(), router(state.clone()));
        let limits = ListenLimits {
            header_read_timeout: opts.header_read_timeout,
            max_connections: opts.max_connections,
            max_connections_per_peer: opts.max_connections_per_peer,
            shutdown_grace: opts.shutdown_grace,
        };
        let bind = SocketAddr::new(opts.host, opts.port);
        let listener = listen(bind, front.clone(), limits).await?;
        let bound = listener.addr;
        let _ = state.tools.bound.set(bound);
        state.control.set_listen_addr(bound);
        tasks.spawn(crate::cluster_feed::run(state.clone(), background.clone()));
        tasks.spawn(crate::instances::run_heartbeat(
            state.clone(),
            bound,
            background.clone(),
        ));
        tracing::info!(addr = %bound, data_dir = %opts.data_dir.display(), instance = %instance, database = %store.location(), secret_store = store.secret_store_kind().as_str(), "Switchboard listening");
        Ok(SwitchboardHandle {
            state,
            front,
            listener: tokio::sync::Mutex::new(Some(listener)),
            bind: bound,
            limits,
            log_task,
            capture_task,
            background,
            tasks,
        })
    }
}

async fn listen(
    addr: SocketAddr,
    front: Front,
    limits: ListenLimits,
) -> Result<Listener, StartError> {
    let bind_err = |source: std::io::Error| {
        let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
            " (the port is in use: another Switchboard, or another program; choose another port with --port)"
        } else {
            ""
        };
        StartError::Bind { addr, source, hint }
    };
    let tcp = TcpListener::bind(addr).await.map_err(bind_err)?;
    Listener::start(tcp, front, limits).map_err(bind_err)
}

/// Every route but the generation routes the front serves itself (`front.rs`).
fn router(state: Arc<AppState>) -> Router {
    let public = Router::new()
        .route("/v1/messages/count_tokens", post(ingress::count_tokens))
        .route("/v1/responses/compact", post(ingress::compact))
        .route(
            "/v1/responses/{id}",
            get(ingress::get_response).delete(ingress::delete_response),
        )
        .route(
            "/v1beta/models/{model_action}",
            get(ingress::model).post(ingress::gemini),
        )
        .route(
            "/v1/models/{model_action}",
            get(ingress::model).post(ingress::gemini),
        )
        .route("/v1/models", get(ingress::models))
        .route("/v1beta/models", get(ingress::models));
    let public = Media::ALL.into_iter().fold(public, |r, m| {
        r.route(&format!("/v1/{}", m.path()), ingress::media_route(m))
    });
    let admin = Router::new()
        .route("/api/v1/status", get(admin::status))
        .route("/api/v1/instances", get(admin::list_instances))
        .route("/api/v1/routing", axum::routing::put(admin::set_routing))
        .route("/api/v1/update/install", post(admin::install_update))
        .route(
            "/api/v1/providers",
            get(admin::list_providers).post(admin::put_provider),
        )
        .route(
            "/api/v1/providers/{name}",
            get(admin::get_provider)
                .put(admin::update_provider)
                .delete(admin::delete_provider),
        )
        .route(
            "/api/v1/providers/{name}/discover",
            post(admin::discover_models),
        )
        .route("/api/v1/providers/{name}/test", post(admin::test_provider))
        .route("/api/v1/keys", get(admin::list_keys).post(admin::add_key))
        .route(
            "/api/v1/keys/{id}",
            axum::routing::patch(admin::update_key).delete(admin::delete_key),
        )
        .route("/api/v1/keys/{id}/clear", post(admin::clear_key))
        .route("/api/v1/keys/{id}/probe", post(admin::probe_key))
        .route("/api/v1/keys/{id}/test", post(admin::test_key))
        .route(
            "/api/v1/clients",
            get(admin::list_clients).post(admin::create_client),
        )
        .route(
            "/api/v1/clients/{name}",
            get(admin::get_client)
                .put(admin::update_client)
                .delete(admin::delete_client),
        )
        .route("/api/v1/clients/{name}/keys", post(admin::add_client_key))
        .route(
            "/api/v1/clients/{name}/keys/{id}",
            axum::routing::delete(admin::revoke_client_key),
        )
        .route(
            "/api/v1/routes",
            get(admin::list_routes).post(admin::put_route),
        )
        .route(
            "/api/v1/routes/{alias}",
            axum::routing::put(admin::update_route).delete(admin::delete_route),
        )
        .route("/api/v1/routes/{alias}/plan", get(admin::route_plan))
        .route(
            "/api/v1/settings",
            get(admin::get_settings).put(admin::put_settings),
        )
        .route(
            "/api/v1/settings/cooldowns",
            get(admin::get_cooldowns).put(admin::put_cooldowns),
        )
        .route(
            "/api/v1/prices",
            get(admin::price_table)
                .put(admin::load_prices)
                .layer(axum::extract::DefaultBodyLimit::max(admin::PRICE_FILE_MAX)),
        )
        .route(
            "/api/v1/prices/model",
            get(admin::model_price).put(admin::set_model_price),
        )
        .route(
            "/api/v1/webhooks",
            get(admin::list_webhooks).post(admin::add_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::patch(admin::update_webhook).delete(admin::delete_webhook),
        )
        .route("/api/v1/webhooks/{id}/test", post(admin::test_webhook))
        .route("/api/v1/access-key", get(admin::access_key))
        .route("/api/v1/access-key/rotate", post(admin::rotate_access_key))
        .route("/api/v1/health", get(admin::health))
        .route("/api/v1/health/events", get(admin::health_events))
        .route("/api/v1/requests", get(admin::requests))
        .route("/api/v1/requests/live", get(admin::requests_live))
        .route("/api/v1/requests/{id}", get(admin::request))
        .route("/api/v1/inspector", get(admin::get_inspector))
        .route(
            "/api/v1/inspector/capture",
            post(admin::start_capture).delete(admin::stop_capture),
        )
        .route("/api/v1/captures", get(admin::list_captures))
        .route(
            "/api/v1/captures/{id}",
            get(admin::get_capture).delete(admin::delete_capture),
        )
        .route("/api/v1/captures/{id}/report", get(admin::capture_report))
        .route("/api/v1/usage", get(admin::usage))
        .route("/api/v1/usage/summary", get(admin::usage_summary))
        .route("/api/v1/usage/cache-hits", get(admin::cache_hits))
        .route("/api/v1/usage/keys", get(admin::usage_by_key))
        .route("/api/v1/presets", get(admin::presets))
        .route("/api/v1/integrations", get(admin::list_tools))
        .route(
            "/api/v1/integrations/limits/{model}",
            get(admin::route_limits),
        )
        .route(
            "/api/v1/integrations/{tool}/preview",
            post(admin::preview_tool),
        )
        .route("/api/v1/integrations/{tool}/apply", post(admin::apply_tool))
        .route("/api/v1/integrations/{tool}/undo", post(admin::undo_tool))
        .route("/api/v1/config/export", post(admin::export_config))
        .route("/api/v1/config/import/plan", post(admin::import_plan))
        .route("/api/v1/config/import/apply", post(admin::import_apply))
        .route(
            "/api/v1/session",
            get(admin::whoami)
                .post(admin::sign_in)
                .delete(admin::sign_out),
        )
        .route("/api/v1/session/oidc/options", get(admin::oidc_options))
        .route("/api/v1/session/oidc/start", get(admin::oidc_start))
        .route("/api/v1/session/oidc/callback", get(admin::oidc_callback))
        .route(
            "/api/v1/users",
            get(admin::list_users).post(admin::add_user),
        )
        .route(
            "/api/v1/users/{name}",
            axum::routing::patch(admin::update_user).delete(admin::delete_user),
        )
        .route("/api/v1/openapi.json", get(admin::openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::refuse_edits_while_database_down,
        ));
    Router::new()
        .merge(public)
        .merge(admin)
        .route("/health", get(ingress::health))
        .route("/metrics", get(scrape))
        .route(
            "/",
            get(|| async { crate::dashboard::page("/") }).head(|| async {}),
        )
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::refused::log_refused,
        ))
        .with_state(state)
}

async fn fallback(method: http::Method, uri: http::Uri) -> axum::response::Response {
    if method == http::Method::GET && crate::dashboard::serves(uri.path()) {
        return crate::dashboard::page(uri.path());
    }
    let dialect = crate::guard::dialect_of_path(uri.path());
    crate::guard::error_response(
        dialect,
        &switchboard_protocol::ClientError::new(
            switchboard_protocol::ErrorKind::NotFound,
            format!("No such endpoint: {}", uri.path()),
        ),
    )
}

/// `GET /metrics`: the registry, with the present's gauges read now.
async fn scrape(
    axum::extract::State(s): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let storage = crate::metrics::Storage {
        database_up: s.control.store().reachable(),
        log_waiting: s.log.waiting(),
        log_dropped: s.log.dropped(),
    };
    match s.metrics.encode(
        s.engine.in_flight(),
        &s.engine.snapshot().waiting(),
        &s.control.key_views(None),
        s.engine.health.now_ms(),
        storage,
    ) {
        Ok(body) => (
            [(
                http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

impl SwitchboardHandle {
    /// The address the router listens on (or last listened on, while routing is off).
    pub fn local_addr(&self) -> SocketAddr {
        self.bind
    }

    /// The base URL tools use.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1", self.bind)
    }

    pub fn access_key(&self) -> Option<Secret> {
        self.state.access_key()
    }

    pub fn admin_token(&self) -> Secret {
        self.state.admin_token.read().clone()
    }

    /// The control plane: configuration edits, key standings, health summaries.
    pub fn control(&self) -> &Arc<Control> {
        &self.state.control
    }

    pub async fn is_listening(&self) -> bool {
        self.listener.lock().await.is_some()
    }

    /// Stops or restarts the listener (the desktop tray's routing switch); persisted.
    pub async fn set_listening(&self, on: bool) -> Result<(), StartError> {
        let mut guard = self.listener.lock().await;
        match (on, guard.take()) {
            (true, None) => {
                *guard = Some(listen(self.bind, self.front.clone(), self.limits).await?)
            }
            (true, Some(l)) => *guard = Some(l),
            (false, Some(l)) => l.stop().await,
            (false, None) => {}
        }
        self.state.control.set_listening(on).await?;
        Ok(())
    }

    /// Graceful shutdown: stop accepting, let requests in flight finish (up to the grace
    /// period), stop background work, flush the request log, close the database.
    pub async fn shutdown(mut self) {
        if let Some(l) = self.listener.lock().await.take() {
            l.stop().await;
        }
        self.background.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.log_task.shutdown().await;
        self.capture_task.shutdown().await;
        self.state.control.close().await;
        tracing::info!("Switchboard stopped");
    }
}
