//! Integration tests of the protocol crate: snapshot translations for every dialect pair and
//! fixture kind, round-trip and split-invariance properties, real-client scenarios, and the
//! token estimate.

// Test helpers outside `#[test]` functions: a panic here is a failed assertion too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod clients;
mod fixtures;
mod properties;
mod snapshots;
mod tokens;

use serde_json::Value;
use switchboard_protocol::SseEvent;

/// Runs `f` with the crate's snapshot settings: snapshots under `tests/snapshots`, generated
/// ids and timestamps replaced by placeholders.
pub fn with_snapshot_settings(f: impl FnOnce()) {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(
        r"(chatcmpl-|msg_|resp_|rs_|fc_|toolu_|call_)?(?:[0-9a-f]{32}|[0-9a-f]{18})\b",
        "${1}[id]",
    );
    s.add_filter(r#""(created|created_at)": \d+"#, r#""$1": "[ts]""#);
    s.bind(f);
}

/// SSE events as JSON for snapshots: `[event name, parsed data]`.
pub fn events_json(events: &[SseEvent]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                let data = serde_json::from_str::<Value>(&e.data)
                    .unwrap_or_else(|_| Value::String(e.data.clone()));
                serde_json::json!([e.event, data])
            })
            .collect(),
    )
}
