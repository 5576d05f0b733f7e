//! A control plane over a real store in a temporary directory, with a manual clock, its
//! background work run on a join set the test stops.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_control::{Control, NewKey};
use switchboard_router::clock::{ManualClock, SharedClock};
use switchboard_router::log::RequestRecord;
use switchboard_router::{KeyInfo, Provider, RecordSink};
use switchboard_store::{MemorySecretStore, SecretStore, Store};
use tempfile::TempDir;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub const T0: i64 = 1_790_000_000_000;

struct NoRecords;

impl RecordSink for NoRecords {
    fn record(&self, _: RequestRecord) {}
}

pub struct Ctl {
    pub control: Arc<Control>,
    pub clock: ManualClock,
    pub dir: TempDir,
    secrets: Arc<MemorySecretStore>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Ctl {
    pub async fn start() -> Ctl {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemorySecretStore::new());
        let clock = ManualClock::new(T0);
        let (control, stop, tasks) = boot(&dir, &secrets, &clock).await;
        Ctl {
            control,
            clock,
            dir,
            secrets,
            stop,
            tasks,
        }
    }

    /// Stops the background work (the health writer writes what is pending).
    pub async fn stop(&mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops, closes the store, and starts again on the same data.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.control.store().close().await;
        let (control, stop, tasks) = boot(&self.dir, &self.secrets, &self.clock).await;
        self.control = control;
        self.stop = stop;
        self.tasks = tasks;
    }

    /// A provider pointing at `base_url` (nothing listens there unless a test says so).
    pub async fn provider(&self, name: &str, base_url: &str) -> Provider {
        let p: Provider = serde_json::from_value(json!({
            "name": name, "kind": "openai_chat", "base_url": base_url,
        }))
        .unwrap();
        self.control.put_provider(p).await.unwrap()
    }

    pub async fn key(&self, provider: &str, secret: &str) -> KeyInfo {
        self.control
            .add_key(NewKey {
                provider: provider.into(),
                label: String::new(),
                secret: Some(secret.into()),
                env: None,
                weight: 1,
                enabled: true,
            })
            .await
            .unwrap()
    }
}

async fn boot(
    dir: &TempDir,
    secrets: &Arc<MemorySecretStore>,
    clock: &ManualClock,
) -> (Arc<Control>, CancellationToken, JoinSet<()>) {
    let store = Store::open(dir.path(), secrets.clone() as Arc<dyn SecretStore>)
        .await
        .unwrap();
    let control = Control::start(
        store,
        Arc::new(NoRecords),
        Arc::new(clock.clone()) as SharedClock,
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(control.clone().run_standings(stop.clone()));
    tasks.spawn(control.clone().run_health_writer(stop.clone()));
    (control, stop, tasks)
}

/// Polls `cond` for up to `ms` milliseconds.
pub async fn eventually(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
