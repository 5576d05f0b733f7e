use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use switchboard_protocol::Dialect;
use switchboard_router::log::{AttemptOutcome, AttemptRecord, RequestRecord};
use switchboard_router::model::{Provider, Timeouts};
use switchboard_store::{MemorySecretStore, SecretStore, Store};

pub async fn mem_store(dir: &Path) -> Store {
    Store::open(dir, Arc::new(MemorySecretStore::new()))
        .await
        .unwrap()
}

/// The backend a test body runs against; see [`both!`].
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database: a SQLite data directory, or a fresh database on the test
/// PostgreSQL server. Opening it twice opens the same rows.
pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    pub async fn new(backend: Backend) -> Db {
        match backend {
            Backend::Sqlite => Db::Sqlite(tempfile::tempdir().unwrap()),
            Backend::Postgres => {
                Db::Postgres(switchboard_store::testing::fresh_postgres_url().await)
            }
        }
    }

    pub async fn open(&self, secrets: Arc<dyn SecretStore>) -> Store {
        match self {
            Db::Sqlite(dir) => Store::open(dir.path(), secrets).await.unwrap(),
            Db::Postgres(url) => Store::open_postgres(url, secrets).await.unwrap(),
        }
    }

    /// A store whose secrets are kept in memory.
    pub async fn mem_store(&self) -> Store {
        self.open(Arc::new(MemorySecretStore::new())).await
    }
}

/// The single integer `sql` answers, on either backend.
pub async fn scalar(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = match (store.sqlite_pool(), store.pg_pool()) {
        (Some(p), _) => sqlx::query_as(sql).fetch_one(p).await.unwrap(),
        (_, Some(p)) => sqlx::query_as(sql).fetch_one(p).await.unwrap(),
        _ => unreachable!(),
    };
    n
}

/// The first column of every row `sql` answers, as bytes, on either backend.
pub async fn blobs(store: &Store, sql: &str) -> Vec<Vec<u8>> {
    let rows: Vec<(Vec<u8>,)> = match (store.sqlite_pool(), store.pg_pool()) {
        (Some(p), _) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        (_, Some(p)) => sqlx::query_as(sql).fetch_all(p).await.unwrap(),
        _ => unreachable!(),
    };
    rows.into_iter().map(|(b,)| b).collect()
}

/// Runs a statement on either backend.
pub async fn execute(store: &Store, sql: &str) {
    match (store.sqlite_pool(), store.pg_pool()) {
        (Some(p), _) => drop(sqlx::query(sql).execute(p).await.unwrap()),
        (_, Some(p)) => drop(sqlx::query(sql).execute(p).await.unwrap()),
        _ => unreachable!(),
    }
}

/// Turns `#[test attr] async fn name(backend) { … }` into the module `name` with two tests,
/// `sqlite` and `postgres`, running the body against each backend.
macro_rules! both {
    (#[$test:meta] async fn $name:ident($b:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::common::{Backend, Db};

            async fn run($b: Backend) $body

            #[$test]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }

            #[$test]
            async fn postgres() {
                run(Backend::Postgres).await
            }
        }
    };
}

pub fn provider(name: &str) -> Provider {
    Provider {
        name: name.into(),
        kind: Dialect::OpenaiChat,
        base_url: format!("https://{name}.example.com/v1"),
        headers: BTreeMap::from([("x-extra".to_string(), "1".to_string())]),
        timeouts: Timeouts::default(),
        priority: 0,
        weight: 1,
        enabled: true,
        drop_params: vec!["thinking".into()],
        models: vec![],
        quirks: Default::default(),
        max_concurrency_per_key: None,
        retry: Default::default(),
        balance: None,
        proxy: None,
        ca_file: None,
        ca_pem: None,
    }
}

pub fn record(started_at_ms: i64, alias: &str, provider: &str, status: u16) -> RequestRecord {
    RequestRecord {
        id: String::new(),
        started_at_ms,
        dialect: "openai_chat".into(),
        alias: alias.into(),
        provider: Some(provider.into()),
        key_id: Some(1),
        upstream_model: Some(format!("{provider}-model")),
        status,
        stream: false,
        latency_ms: 100,
        ttfb_ms: Some(10),
        tokens_in: 10,
        tokens_out: 5,
        tokens_cached: 0,
        tokens_reasoning: 0,
        cost_micros: None,
        audio_ms: None,
        images: None,
        client: None,
        error: (status >= 400).then(|| "upstream error".to_string()),
        affinity: None,
        attempts: vec![AttemptRecord {
            provider: provider.into(),
            model: format!("{provider}-model"),
            key_id: Some(1),
            outcome: if status < 400 {
                AttemptOutcome::Ok
            } else {
                AttemptOutcome::TemporaryError
            },
            status: Some(status),
            duration_ms: 100,
            message: None,
            retry_after_ms: None,
        }],
        refused: None,
        instance: None,
    }
}

/// Every byte of every file in `dir`.
pub fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
