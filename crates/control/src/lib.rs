//! The control plane: the one transport-free home for configuration edits and for judging
//! key health. The HTTP admin API, the desktop shell and the CLI call it and never re-derive
//! what it decides.
//!
//! - Every configuration edit is *validate → lock → store write → snapshot swap* in one
//!   function (`Control::edit`); nothing else writes configuration.
//! - A key's health standing is the router's own judgement ([`HealthBoard::standing`]);
//!   [`Control::key_views`], [`Control::summary`] and the [`StandingChanged`] stream are
//!   made from it, never from raw scope entries.
//!
//! Dependency direction: `protocol` ← `router` ← `store` ← `control` ← `server` ← {`cli`,
//! `src-tauri`}. No axum, hyper or tauri here.
//!
//! [`HealthBoard::standing`]: switchboard_router::health::HealthBoard::standing

pub mod alerts;
mod client_edits;
pub mod clients;
pub mod config_file;
mod edits;
mod error;
mod inspector;
mod persist;
mod plan;
mod prices;
mod settings;
mod standing;
mod sync;
pub mod transfer;
pub mod users;
mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::atomic::AtomicU64;

use parking_lot::{Mutex, RwLock};
use switchboard_router::clock::{SharedClock, SystemClock};
use switchboard_router::health::{HealthEvent, KeyStanding};
use switchboard_router::{Config, Engine, KeyInfo, ProxySetting, RecordSink, Secret};
pub use switchboard_store::LocalToken;
use switchboard_store::{Store, StoreError};

use crate::clients::{Clients, MeteredSink};
use tokio::sync::broadcast;

pub use clients::{
    Admission, BudgetEvent, BudgetLevel, BudgetPeriod, ClientEntry, ClientInput, ClientKeyView,
    ClientView, Limit, NewClientSecret, Refusal, UsageShare, period_starts,
};
pub use edits::{KeyTest, KeyUpdate, NewKey};
pub use error::ControlError;
pub use inspector::{
    BugReport, CaptureSettings, CaptureView, DEFAULT_CAPTURE_MINUTES, DEFAULT_RETENTION_HOURS,
    InspectorView, Replay, StartCapture, curl_command,
};
pub use persist::PersistStats;
pub use plan::{FlowPlan, FlowStep};
pub use prices::{ModelPrice, ModelPricing, PriceTableView};
pub use standing::{Counts, KeyView, OverallState, StandingChanged, Summary};
pub use sync::{CONFIG_CHECK_EVERY, DATABASE_CHECK_EVERY};
pub use users::{NewUser, OpenedSession, UserUpdate, UserView};
pub use webhooks::{
    CreatedWebhook, Deliverer, DeliveryReport, NewWebhook, SIGNATURE_HEADER, WebhookFormat,
    WebhookView, signature,
};

/// The control plane of one running Switchboard. Shared as `Arc<Control>`.
pub struct Control {
    engine: Arc<Engine>,
    store: Store,
    /// Serialises configuration edits, so a snapshot is always built from a consistent store.
    edits: tokio::sync::Mutex<()>,
    /// The dashboard's routing switch (`/v1/*` answers 503 while off).
    routing: AtomicBool,
    /// Whether the listener runs (the desktop tray's switch).
    listening: AtomicBool,
    /// Where the router listens, once the host has bound it: no provider may point there.
    listen_addr: RwLock<Option<std::net::SocketAddr>>,
    /// The operating system's proxy setting as the host reads it (the desktop app), which
    /// "system" proxy settings follow; `None`: the proxy environment variables.
    system_proxy: RwLock<Option<ProxySetting>>,
    /// Every key (disabled ones too), as of the last snapshot swap.
    keys: RwLock<Arc<[KeyInfo]>>,
    /// The last standing published per key: what [`StandingChanged`] diffs against.
    standings: Mutex<HashMap<i64, KeyStanding>>,
    changes: broadcast::Sender<StandingChanged>,
    /// The health bus, subscribed at creation so no transition between creation and
    /// [`Control::run`] is missed.
    health_rx: Mutex<Option<broadcast::Receiver<HealthEvent>>>,
    persist: PersistState,
    /// The clients (the hot path's key table), their usage and budget alerts.
    clients: Arc<Clients>,
    /// Sends alert messages to webhooks.
    deliverer: Deliverer,
    /// What providers last said about each key (failed attempts and probes).
    said: Arc<standing::KeySaid>,
    /// The request inspector's queue and key, once the host has attached them.
    captures: std::sync::OnceLock<inspector::Captures>,
    /// Team mode: the shared configuration's version read just before the snapshot in use was
    /// loaded (`None` on SQLite); see [`Control::config_version`].
    synced: Mutex<Option<i64>>,
    /// Signalled when the shared database answers again after an outage
    /// ([`Control::run_database_watch`]), so the configuration sync checks for changes.
    database_back: tokio::sync::Notify,
}

/// The health writer's bus receiver (taken by [`Control::run_health_writer`]) and counters.
struct PersistState {
    rx: Mutex<Option<broadcast::Receiver<HealthEvent>>>,
    coalesced: AtomicU64,
    writes: AtomicU64,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("routing", &self.routing.load(Ordering::Relaxed))
            .field("listening", &self.listening.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Loads the configuration, the cooldown policy and the persisted health from `store`,
    /// starts the engine on them (finished requests go to `sink`), and returns its control
    /// plane. The background work — [`Control::run_standings`],
    /// [`Control::run_health_writer`] and the engine's prober — is the caller's to run.
    pub async fn start(
        store: Store,
        sink: Arc<dyn RecordSink>,
        clock: SharedClock,
    ) -> Result<Arc<Control>, ControlError> {
        // One TLS crypto provider for every upstream client in the process (probes, model
        // discovery, requests); a second install (e.g. by the desktop shell) is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let synced = store.config_version().await?;
        let config = load_config(&store).await?;
        let policy = settings::cooldowns(&store).await?;
        let clients = Arc::new(Clients::new(clock.clone()));
        clients.rebuild(&store.list_clients().await?);
        let (day, month) = clients::period_starts(clients.now_ms());
        clients.seed(
            store.client_spend_since(day).await?,
            store.client_spend_since(month).await?,
        );
        // Every finished request is counted against its client before it is logged.
        let said = Arc::new(standing::KeySaid::default());
        let sink = Arc::new(MeteredSink {
            clients: clients.clone(),
            inner: sink,
            said: said.clone(),
        });
        let engine = Engine::new(&config, sink, clock, policy);
        engine.restore_health(persist::load(&store).await?);
        let routing = settings::flag(&store, settings::ROUTING_ENABLED)
            .await?
            .unwrap_or(true);
        let keys: Arc<[KeyInfo]> = store.list_keys(None).await?.into();
        let (changes, _) = broadcast::channel(1024);
        let control = Control {
            health_rx: Mutex::new(Some(engine.health.subscribe())),
            persist: PersistState {
                rx: Mutex::new(Some(engine.health.subscribe())),
                coalesced: AtomicU64::new(0),
                writes: AtomicU64::new(0),
            },
            engine,
            store,
            edits: tokio::sync::Mutex::new(()),
            routing: AtomicBool::new(routing),
            listening: AtomicBool::new(true),
            listen_addr: RwLock::new(None),
            system_proxy: RwLock::new(None),
            keys: RwLock::new(keys),
            standings: Mutex::new(HashMap::new()),
            changes,
            clients,
            said,
            deliverer: Deliverer::new(std::time::Duration::from_millis(500)),
            captures: std::sync::OnceLock::new(),
            synced: Mutex::new(synced),
            database_back: tokio::sync::Notify::new(),
        };
        control.restand(None);
        Ok(Arc::new(control))
    }

    /// The control plane of a data directory no router is serving from (the CLI's `config`
    /// and `keys` commands): the same edits, nothing routed, nothing run in the background.
    pub async fn offline(store: Store) -> Result<Arc<Control>, ControlError> {
        Control::start(store, Arc::new(NoRecords), Arc::new(SystemClock)).await
    }

    /// Closes the store (after the background work has stopped).
    pub async fn close(&self) {
        self.store.close().await;
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether `/v1/*` is routed (the dashboard's switch); read on every public request.
    pub fn routing_enabled(&self) -> bool {
        self.routing.load(Ordering::Relaxed)
    }

    /// Turns routing on or off, persisted.
    pub async fn set_routing(&self, on: bool) -> Result<(), ControlError> {
        let _edit = self.edits.lock().await;
        settings::put_flag(&self.store, settings::ROUTING_ENABLED, on).await?;
        self.routing.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Records the address the router listens on (the host reports it once bound); a provider
    /// whose base URL points there is refused.
    pub fn set_listen_addr(&self, addr: std::net::SocketAddr) {
        *self.listen_addr.write() = Some(addr);
    }

    /// The host reports the operating system's proxy setting (and every change of it):
    /// providers whose proxy is "system" follow it from the next request on. `None` goes
    /// back to the proxy environment variables. A setting that is not valid is refused.
    pub async fn set_system_proxy(&self, proxy: Option<ProxySetting>) -> Result<(), ControlError> {
        if let Some(p) = &proxy {
            p.validate("system_proxy")?;
        }
        if *self.system_proxy.read() == proxy {
            return Ok(());
        }
        *self.system_proxy.write() = proxy;
        self.edit(async |_| Ok::<_, ControlError>(())).await
    }

    /// The address the router listens on, when the host has reported it.
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        *self.listen_addr.read()
    }

    /// Whether the listener runs; the host that owns the listener reports it here.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// Records that the listener was started or stopped, persisted (the desktop app starts
    /// with the listener as the user left it).
    pub async fn set_listening(&self, on: bool) -> Result<(), ControlError> {
        let _edit = self.edits.lock().await;
        settings::put_flag(&self.store, settings::LISTENING, on).await?;
        self.listening.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// The listener state the user left, `None` when never set.
    pub async fn stored_listening(&self) -> Result<Option<bool>, ControlError> {
        settings::flag(&self.store, settings::LISTENING).await
    }

    /// The local access key or admin token, created on first use; `given` replaces the
    /// stored one (`SWITCHBOARD_ACCESS_KEY`, `SWITCHBOARD_ADMIN_TOKEN`).
    pub async fn local_token(
        &self,
        which: LocalToken,
        given: Option<Secret>,
    ) -> Result<Secret, ControlError> {
        Ok(self.store.local_token(which, given).await?)
    }

    /// Replaces the local access key AI tools use; returns the new one. The new key is the
    /// default client's only local key from now on.
    pub async fn rotate_access_key(&self) -> Result<Secret, ControlError> {
        let key = self.store.rotate_local_token(LocalToken::AccessKey).await?;
        self.set_access_keys(vec![key.clone()]).await?;
        Ok(key)
    }

    /// Sets the local access keys (the stored one, `SWITCHBOARD_ACCESS_KEY`, `[server]
    /// access_keys`; the first is the one shown to users): they belong to the default client.
    pub async fn set_access_keys(&self, keys: Vec<Secret>) -> Result<(), ControlError> {
        let _edit = self.edits.lock().await;
        self.clients.set_local_keys(keys);
        self.clients.rebuild(&self.store.list_clients().await?);
        Ok(())
    }

    /// The local access keys; the first is the one shown to users.
    pub fn access_keys(&self) -> Arc<[Secret]> {
        self.clients.local_keys()
    }

    /// The clients: the request path resolves keys and checks limits through them.
    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }

    /// Budget alerts (soft threshold and hard stop, once per client, period and level).
    pub fn budget_events(&self) -> broadcast::Receiver<BudgetEvent> {
        self.clients.subscribe()
    }

    /// Re-reads the configuration from the store, swaps the engine's snapshot and cooldown
    /// policy, and refreshes the key list and standings. Only called with the edit lock held.
    async fn swap_snapshot(&self) -> Result<(), StoreError> {
        // Read first: a change committed while loading makes the version differ next time.
        let version = self.store.config_version().await?;
        let mut config = load_config(&self.store).await?;
        config.system_proxy = self.system_proxy.read().clone();
        let keys: Arc<[KeyInfo]> = self.store.list_keys(None).await?.into();
        let policy = settings::cooldowns(&self.store).await?;
        self.clients.rebuild(&self.store.list_clients().await?);
        self.engine.reload(&config);
        self.engine.health.set_policy(policy);
        *self.keys.write() = keys;
        *self.synced.lock() = version;
        self.restand(None);
        Ok(())
    }

    /// Team mode: the shared configuration's version the routing snapshot in use was loaded
    /// at (every version up to it is in the snapshot); `None` on SQLite.
    pub fn config_version(&self) -> Option<i64> {
        *self.synced.lock()
    }

    /// The one way configuration changes: under the edit lock, `write` the store, then swap
    /// the snapshot, even when the write failed half-way, so routing always matches what the
    /// store holds. Callers validate first (before taking the lock).
    pub(crate) async fn edit<T, E: From<StoreError>>(
        &self,
        write: impl AsyncFnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let _edit = self.edits.lock().await;
        let out = write(&self.store).await;
        self.swap_snapshot().await?;
        out
    }
}

/// Where an offline control plane's (never made) request records go.
struct NoRecords;

impl RecordSink for NoRecords {
    fn record(&self, _: switchboard_router::log::RequestRecord) {}
}

/// The configuration to route by; keys whose secret cannot be read are left out, loudly.
async fn load_config(store: &Store) -> Result<Config, StoreError> {
    let (config, problems) = store.load_config_with_problems().await?;
    for p in problems {
        tracing::warn!(key_id = p.key_id, provider = %p.provider, error = %p.error, "key left out of routing");
    }
    Ok(config)
}
