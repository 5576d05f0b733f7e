use std::sync::Arc;

use switchboard_router::Secret;
use switchboard_router::inspect::{Capture, CapturedMessage, FinishedCapture};
use switchboard_router::scrub::Scrubber;
use switchboard_store::{CaptureQueue, spawn_writer};

use crate::common::{blobs, execute};

const KEY: &str = "sk-capture-canary-0123456789abcdef";

fn capture(id: &str, at: i64) -> FinishedCapture {
    let c = Capture {
        request_id: id.into(),
        started_at_ms: at,
        captured_at_ms: at,
        dialect: "openai_chat".into(),
        model: "m".into(),
        stream: false,
        client_request: CapturedMessage {
            body: Some(format!(
                "{{\"secret\":\"{KEY}\",\"text\":\"plain words here\"}}"
            )),
            ..CapturedMessage::default()
        },
        attempts: Vec::new(),
        client_response: None,
    };
    FinishedCapture::new(c, vec![Arc::new(Scrubber::new(&Secret::new(KEY)))])
}

both! {
#[tokio::test]
async fn captures_are_sealed_scrubbed_bound_to_their_id_and_pruned(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let key = store.capture_key().await.unwrap();
    let (queue, task): (CaptureQueue, _) = spawn_writer(store.clone(), key.clone(), 8);
    queue.send(capture("A", 1_000));
    queue.send(capture("B", 5_000));
    task.shutdown().await;
    assert_eq!(queue.written(), 2);

    // Opened: the key is masked, the rest kept.
    let a = store.get_capture(&key, "A").await.unwrap().unwrap();
    let body = a.client_request.body.unwrap();
    assert!(!body.contains("0123456789abcdef"), "{body}");
    assert!(body.contains("plain words here"));
    // At rest: nothing readable.
    for sealed in blobs(&store, "SELECT sealed FROM captures").await {
        assert!(!sealed.windows(5).any(|w| w == b"plain"));
    }
    // A row moved under another id does not open.
    execute(&store, "UPDATE captures SET request_id = 'C' WHERE request_id = 'B'").await;
    assert!(store.get_capture(&key, "C").await.is_err());
    // The same key on the next start; another data directory's key opens nothing.
    assert!(store.capture_key().await.is_ok());
    let other_db = Db::new(backend).await;
    let other = other_db.mem_store().await;
    let foreign = other.capture_key().await.unwrap();
    assert!(store.get_capture(&foreign, "A").await.is_err());
    // Retention and deletion.
    assert_eq!(store.delete_captures_before(2_000).await.unwrap(), 1);
    assert!(store.get_capture(&key, "A").await.unwrap().is_none());
    assert!(store.delete_capture("C").await.unwrap());
    assert!(!store.delete_capture("C").await.unwrap());
    assert!(store.list_captures(None, 10).await.unwrap().is_empty());
}
}
