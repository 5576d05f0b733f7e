//! Shared state of the HTTP surface, and the record sink that feeds the request log, the
//! live feed and metrics. A leaf of the crate: handler modules use it, it uses none of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use switchboard_control::Control;
use switchboard_integrations::{Env, Integrations};
use switchboard_router::log::RequestRecord;
use switchboard_router::{Engine, RecordSink, Secret};
use switchboard_store::RequestLogSink;
use tokio::sync::broadcast;

use crate::host::HostApp;
use crate::metrics::Metrics;

pub struct AppState {
    /// Every configuration edit and health judgement.
    pub control: Arc<Control>,
    /// The engine, for the request path (the same one `control` steers).
    pub engine: Arc<Engine>,
    /// Team mode with Redis: probe leases, key slots and client windows over the cluster.
    pub cluster: Option<Arc<crate::cluster::RedisCluster>>,
    pub admin_token: RwLock<Secret>,
    pub guard: GuardConfig,
    pub live: broadcast::Sender<RequestRecord>,
    pub started_at_ms: i64,
    /// This instance's id (`SWITCHBOARD_INSTANCE_ID` or generated at start), stamped on every
    /// request record it serves.
    pub instance: Arc<str>,
    /// How often this instance writes its heartbeat (and so when a row stops being alive).
    pub heartbeat_every: std::time::Duration,
    pub metrics: Arc<Metrics>,
    /// Where the Integrations API finds AI tools and keeps their backups.
    pub tools: ToolsConfig,
    pub host_app: Arc<HostApp>,
    /// The request log queue; the log views flush it so they list every finished request.
    pub log: RequestLogSink,
    /// Requests refused before routing, logged at a bounded rate.
    pub refused: crate::refused::RefusedLog,
    /// Failed password sign-ins per name and address (see `admin::session`).
    pub sign_ins: crate::admin::session::SignInLimiter,
    /// Single sign-on, when `[server.oidc]` configures it.
    pub oidc: Option<Arc<crate::admin::oidc::Oidc>>,
    /// The inspector's capture queue; the capture views flush it.
    pub captures: switchboard_store::CaptureQueue,
    /// Team mode's shared key health over Redis, when configured.
    pub health_bus: Option<Arc<crate::health_bus::HealthBus>>,
}

impl AppState {
    /// The local access key shown to users (the default client's first).
    pub fn access_key(&self) -> Option<Secret> {
        self.control.access_keys().first().cloned()
    }
}

/// What the guard stack lets through (see `guard`).
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Accept peers beyond loopback (an explicit setting; requires auth).
    pub remote: bool,
    /// Host names accepted besides the loopback names.
    pub extra_hosts: Vec<String>,
    /// `GET /metrics` without the admin token (for a scraper on a trusted network).
    pub open_metrics: bool,
    /// How long a client may take to send a whole request body (408 after that).
    pub body_read_timeout: std::time::Duration,
}

/// Where the integrations look for tools and keep their state.
pub struct ToolsConfig {
    /// Home directory and variables used to find tools' configs.
    pub env: Env,
    /// `<data_dir>/integrations`: manifests and backups.
    pub state_dir: PathBuf,
    /// The address this server is bound to, set once it listens.
    pub bound: OnceLock<SocketAddr>,
}

impl ToolsConfig {
    pub fn new(env: Env, state_dir: PathBuf) -> Self {
        ToolsConfig {
            env,
            state_dir,
            bound: OnceLock::new(),
        }
    }

    pub fn integrations(&self) -> Integrations {
        Integrations::new(self.env.clone(), self.state_dir.clone())
    }
}

/// Every finished request: id assigned, then queued for the batched writer and the live feed.
pub struct Sink {
    /// The instance id every record is stamped with.
    pub instance: Arc<str>,
    pub log: RequestLogSink,
    pub live: broadcast::Sender<RequestRecord>,
    pub metrics: Arc<Metrics>,
}

impl RecordSink for Sink {
    fn record(&self, mut record: RequestRecord) {
        if record.id.is_empty() {
            record.id = switchboard_store::new_request_id();
        }
        record.instance = Some(self.instance.to_string());
        self.metrics.observe(&record);
        // Nobody watching the live feed is fine; nor is copying the record for nobody.
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(record.clone());
        }
        self.log.record(record);
    }
}
