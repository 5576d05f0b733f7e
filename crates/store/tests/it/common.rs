use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use switchboard_protocol::Dialect;
use switchboard_router::log::{AttemptOutcome, AttemptRecord, RequestRecord};
use switchboard_router::model::{Provider, Timeouts};
use switchboard_store::{MemorySecretStore, Store};

pub async fn mem_store(dir: &Path) -> Store {
    Store::open(dir, Arc::new(MemorySecretStore::new()))
        .await
        .unwrap()
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
