//! Shared state of the HTTP surface, and the record sink that feeds the request log, the
//! live feed and metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::RwLock;
use switchboard_router::log::RequestRecord;
use switchboard_router::{Engine, RecordSink, Secret};
use switchboard_store::{RequestLogSink, Store, StoreError};
use tokio::sync::broadcast;

use crate::guard::GuardConfig;
use crate::metrics::Metrics;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub store: Store,
    /// Accepted on `/v1/*`; the first is the one shown to users.
    pub access_keys: RwLock<Arc<[Secret]>>,
    pub admin_token: RwLock<Secret>,
    pub guard: GuardConfig,
    pub live: broadcast::Sender<RequestRecord>,
    pub routing: AtomicBool,
    /// Serialises config edits so a reload always sees a consistent store.
    pub edits: tokio::sync::Mutex<()>,
    pub started_at_ms: i64,
    pub metrics: Arc<Metrics>,
    /// Where the Integrations API finds AI tools and keeps their backups.
    pub tools: crate::integrations_api::ToolsConfig,
    pub host_app: Arc<crate::host::HostApp>,
    /// The request log queue; the log views flush it so they list every finished request.
    pub log: RequestLogSink,
}

impl AppState {
    /// Re-reads the configuration from the store and swaps the engine's snapshot.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let (config, problems) = self.store.load_config_with_problems().await?;
        for p in problems {
            tracing::warn!(key_id = p.key_id, provider = %p.provider, error = %p.error, "key left out of routing");
        }
        self.engine.reload(&config);
        Ok(())
    }

    pub fn access_key(&self) -> Option<Secret> {
        self.access_keys.read().first().cloned()
    }
}

/// Every finished request: id assigned, then queued for the batched writer and the live feed.
pub struct Sink {
    pub log: RequestLogSink,
    pub live: broadcast::Sender<RequestRecord>,
    pub metrics: Arc<Metrics>,
}

impl RecordSink for Sink {
    fn record(&self, mut record: RequestRecord) {
        if record.id.is_empty() {
            record.id = switchboard_store::new_request_id();
        }
        self.metrics.observe(&record);
        // Nobody watching the live feed is fine; nor is copying the record for nobody.
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(record.clone());
        }
        self.log.record(record);
    }
}

/// The admin API's OpenAPI document (the dashboard generates its types from it).
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    crate::admin::ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}
