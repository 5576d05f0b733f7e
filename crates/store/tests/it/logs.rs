//! T7: secrets never reach a log line, even at trace level, across success and failure paths.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use switchboard_router::Secret;
use switchboard_store::{EncryptedFileStore, KeyPatch, KeySecret, LocalToken, MasterKey, Store};

use crate::common::provider;

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every test in this binary logs into one buffer from here on (a global subscriber, so
/// blocking threads are captured too).
fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_never_reach_trace_logs() {
    capture_logs();
    const C1: &str = "sk-CANARY-LOGS-1f2e3d4c5b6a79880011";
    const C2: &str = "AIzaCANARY-LOGS-0099887766554433";
    const C3: &str = "sk-CANARY-LOGS-REPLACED-77665544";
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let secrets = Arc::new(
        EncryptedFileStore::open(
            data.path(),
            MasterKey::KeyFile(keys.path().join("master.key")),
        )
        .unwrap(),
    );
    let store = Store::open(data.path(), secrets.clone()).await.unwrap();
    store.upsert_provider(&provider("openai")).await.unwrap();
    let k1 = store
        .add_key("openai", "a", KeySecret::Literal(Secret::new(C1)), 1, true)
        .await
        .unwrap();
    let k2 = store
        .add_key("openai", "b", KeySecret::Literal(Secret::new(C2)), 1, true)
        .await
        .unwrap();
    // A duplicate (error path), a replacement, an unset variable, a deletion.
    let dup = store
        .add_key(
            "openai",
            "dup",
            KeySecret::Literal(Secret::new(C1)),
            1,
            true,
        )
        .await
        .unwrap_err();
    tracing::error!(error = %dup, debug = ?dup, "duplicate");
    store
        .update_key(
            k1.id,
            KeyPatch {
                secret: Some(KeySecret::Literal(Secret::new(C3))),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .add_key(
            "openai",
            "env",
            KeySecret::Env("SWITCHBOARD_TEST_UNSET_FOR_LOGS".into()),
            1,
            true,
        )
        .await
        .unwrap();
    let config = store.load_config().await.unwrap();
    tracing::debug!(?config, keys = ?config.keys, "loaded");
    store.delete_key(k2.id).await.unwrap();
    let token = store
        .local_token(LocalToken::AccessKey, None)
        .await
        .unwrap();
    tracing::info!(?token, "token");
    // Wrong master key, logged in full.
    let err =
        EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new("wrong"))).unwrap_err();
    tracing::error!(error = %err, debug = ?err, "wrong key");
    store.close().await;

    let logs = String::from_utf8(LOGS.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("key added"), "logging was captured");
    assert!(
        logs.contains("SWITCHBOARD_TEST_UNSET_FOR_LOGS"),
        "the missing variable is named"
    );
    for canary in [C1, C2, C3, "CANARY-LOGS", token.expose()] {
        assert!(!logs.contains(canary), "a secret reached the logs");
    }
}
