//! The request inspector end to end: a translated stream (Anthropic client → OpenAI Chat
//! upstream, after a failover) captured in all four parts with event timings, replayed through
//! the ingress; windows that close on the clock; retention; and a canary key that no stored
//! capture holds in any encoding (the raw database file is read, as in the T-series tests).

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard_mock_upstream::Dialect as MockDialect;

use crate::common::*;

/// The failing provider's key; its upstream quotes it back in a 429.
const CANARY: &str = "sk-CANARY/q8Zx+Lm3Vw=Pt7Rb2Ns9Kd4==@fault=echo_key,status=429,echo=plain";
/// The secret part a reader must never recover.
const CANARY_SECRET: &str = "CANARY/q8Zx+Lm3Vw=Pt7Rb2Ns9Kd4==";
const GOOD: &str = "sk-good-upstream-key-0123456789abcdef";

fn toml(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    let base = mock.base_url(MockDialect::OpenAiChat);
    format!(
        "[[providers]]\nname = \"bad\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [{CANARY:?}]\nretry = {{ max_retries = 0 }}\n\n\
         [[providers]]\nname = \"good\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [{GOOD:?}]\nretry = {{ max_retries = 0 }}\n\n\
         [[routes]]\nalias = \"insp\"\nstrategy = \"priority\"\ntargets = [{{ provider = \"bad\", model = \"mock-small@chunks=3\", priority = 0 }}, {{ provider = \"good\", model = \"mock-small@chunks=3\", priority = 1 }}]\n\n\
         [[routes]]\nalias = \"other\"\ntargets = [{{ provider = \"good\", model = \"mock-small\" }}]\n"
    )
}

async fn messages(sb: &Sb, body: &Value) -> (u16, String) {
    let r = sb
        .http
        .post(format!("{}/v1/messages", sb.url))
        .header("x-api-key", ACCESS)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 64, "messages": [{"role": "user", "content": "hi there"}]})
}

/// Reads `text` through JSON `\u` escapes, `\/` and `%XX`, as a reader could.
fn readable(text: &str) -> String {
    let mut t = text.replace("\\/", "/");
    for (enc, c) in [
        ("%2F", "/"),
        ("%2B", "+"),
        ("%3D", "="),
        ("%2D", "-"),
        ("%40", "@"),
        ("\\u002f", "/"),
        ("\\u002b", "+"),
        ("\\u003d", "="),
        ("\\u002d", "-"),
    ] {
        t = t.replace(enc, c).replace(&enc.to_lowercase(), c);
    }
    t
}

/// Fails if any 8 characters of the canary's secret can be read in `text`.
fn assert_no_canary(what: &str, text: &str) {
    let seen = readable(text);
    for w in CANARY_SECRET.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(!seen.contains(w), "{w:?} of the key is in {what}: {text}");
    }
}

/// Fails if the canary is in `bytes` plain, base64, URL-encoded or JSON-escaped.
fn assert_no_canary_bytes(what: &str, bytes: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        CANARY_SECRET.to_owned(),
        b64.encode(CANARY),
        b64.encode(CANARY_SECRET),
        CANARY_SECRET
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D"),
        CANARY_SECRET.replace('/', "\\/"),
        serde_json::to_string(CANARY_SECRET).unwrap(),
    ];
    for f in forms {
        let f = f.trim_matches('"');
        assert!(
            !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
            "{what} holds the key as {f:?}"
        );
    }
}

fn db_files(sb: &Sb) -> Vec<u8> {
    let dir = sb.dir.path().join("data");
    let mut all = Vec::new();
    for name in ["switchboard.db", "switchboard.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    all
}

async fn capture_of(sb: &Sb, id: &str) -> (u16, Value) {
    sb.admin(Method::GET, &format!("/api/v1/captures/{id}"), None)
        .await
}

#[tokio::test]
async fn a_translated_stream_is_captured_in_four_parts_and_replays() {
    let sb = Sb::start(toml).await;
    let (status, view) = sb
        .admin(
            Method::POST,
            "/api/v1/inspector/capture",
            Some(json!({"body_cap_bytes": 65536})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["windows"][0]["until_ms"], T0 + 15 * 60_000);
    assert!(view["windows"][0].get("route").is_none());

    let (status, body) = messages(&sb, &ask("insp", true)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("message_stop"), "{body}");
    let id = sb.logged(1).await[0].id.clone();

    let list = sb.get(&format!("/api/v1/captures?request_id={id}")).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (status, got) = capture_of(&sb, &id).await;
    assert_eq!(status, 200, "{got}");
    let c = &got["capture"];
    assert_eq!(c["request_id"], id.as_str());
    assert_eq!(c["dialect"], "anthropic");
    assert_eq!(c["stream"], true);

    // 1. The client's request, as sent.
    let client = &c["client_request"];
    assert_eq!(client["url"], "/v1/messages");
    let client_body: Value = serde_json::from_str(client["body"].as_str().unwrap()).unwrap();
    assert_eq!(client_body, ask("insp", true));

    // 2. Each upstream request after translation: the failed one, then the committed one.
    let attempts = c["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{c}");
    assert_eq!(attempts[0]["provider"], "bad");
    assert_eq!(attempts[0]["response"]["status"], 429);
    assert_eq!(attempts[0]["committed"], false);
    // The upstream quoted the key back: the capture keeps the answer with the key masked.
    let echoed = attempts[0]["response"]["body"].as_str().unwrap();
    assert!(echoed.contains("****"), "{echoed}");
    let up = &attempts[1];
    assert_eq!(up["provider"], "good");
    assert_eq!(up["committed"], true);
    assert!(
        up["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/chat/completions")
    );
    let up_body: Value = serde_json::from_str(up["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(up_body["model"], "mock-small@chunks=3");
    assert_eq!(up_body["stream"], true);
    assert_eq!(up_body["messages"][0]["content"], "hi there");
    let auth = up["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "authorization")
        .unwrap();
    assert_eq!(auth["value"], "[redacted]");

    // 3. The upstream's stream, event by event, with timings.
    let events = up["response"]["events"].as_array().unwrap();
    assert_eq!(up["response"]["status"], 200);
    assert!(events.len() >= 4, "{events:?}");
    assert_eq!(events.last().unwrap()["data"], "[DONE]");
    let times: Vec<u64> = events
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        events
            .iter()
            .any(|e| e["data"].as_str().unwrap().contains("Hello"))
    );

    // 4. What the client received: Anthropic events.
    let out = &c["client_response"];
    assert_eq!(out["status"], 200);
    let names: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));

    // Copy as cURL: the access key is a placeholder.
    let curl = got["replay"]["curl"].as_str().unwrap();
    assert!(curl.contains("$SWITCHBOARD_ACCESS_KEY"), "{curl}");
    assert!(curl.contains("/v1/messages"));
    assert!(!curl.contains(ACCESS));

    // Replay: the captured client request through the ingress again.
    assert_eq!(got["replay"]["path"], "/v1/messages");
    let replay: Value = serde_json::from_str(got["replay"]["body"].as_str().unwrap()).unwrap();
    let (status, again) = messages(&sb, &replay).await;
    assert_eq!(status, 200, "{again}");
    assert!(again.contains("message_stop"), "{again}");
    assert!(again.contains("Hello from"), "{again}");

    // The bug report: the record and the capture, as a download.
    let resp = sb
        .http
        .get(format!("{}/api/v1/captures/{id}/report", sb.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["format"], "switchboard-bug-report/1");
    assert_eq!(report["request"]["id"], id.as_str());
    assert_eq!(report["capture"]["request_id"], id.as_str());

    // The canary: in no capture as served, and not in the database file in any encoding.
    assert_no_canary("the capture", &got.to_string());
    assert_no_canary("the bug report", &report.to_string());
    let all = sb.get("/api/v1/captures").await;
    for info in all.as_array().unwrap() {
        let (_, c) = capture_of(&sb, info["request_id"].as_str().unwrap()).await;
        assert_no_canary("a stored capture", &c.to_string());
    }
    assert_no_canary_bytes("the database", &db_files(&sb));
}

#[tokio::test]
async fn windows_close_on_the_clock_routes_are_kept_apart_and_retention_deletes() {
    let sb = Sb::start(toml).await;
    // Nothing is captured while no window is open.
    assert_eq!(messages(&sb, &ask("other", false)).await.0, 200);
    let (status, v) = sb
        .admin(
            Method::POST,
            "/api/v1/inspector/capture",
            Some(json!({"route": "insp", "minutes": 15, "retention_hours": 1})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["windows"][0]["route"], "insp");
    assert_eq!(v["retention_hours"], 1);
    // Another route's requests are not captured; the window's route's are.
    assert_eq!(messages(&sb, &ask("other", false)).await.0, 200);
    assert_eq!(messages(&sb, &ask("insp", false)).await.0, 200);
    let logged = sb.logged(3).await;
    let insp = logged.iter().find(|r| r.alias == "insp").unwrap();
    let captured = sb.get("/api/v1/captures").await;
    let ids: Vec<&str> = captured
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![insp.id.as_str()], "{captured}");
    let (_, whole) = capture_of(&sb, ids[0]).await;
    let committed = &whole["capture"]["attempts"][1];
    assert_eq!(committed["committed"], true);
    assert!(
        committed["response"]["body"]
            .as_str()
            .unwrap()
            .contains("Hello from mock model")
    );
    assert!(
        whole["capture"]["client_response"]["body"]
            .as_str()
            .unwrap()
            .contains("\"type\":\"message\"")
    );

    // The window closes after its 15 minutes (the router's clock).
    sb.clock.advance_ms(15 * 60_000 + 1);
    assert_eq!(messages(&sb, &ask("insp", false)).await.0, 200);
    sb.logged(4).await;
    let after = sb.get("/api/v1/captures").await;
    assert_eq!(after.as_array().unwrap().len(), 1, "{after}");
    let v = sb.get("/api/v1/inspector").await;
    assert_eq!(v["windows"], json!([]));

    // Retention: an hour later the capture is gone.
    sb.clock.advance_ms(3_600_000);
    let gone = sb.get("/api/v1/captures").await;
    assert_eq!(gone, json!([]));
    assert_eq!(capture_of(&sb, ids[0]).await.0, 404);

    // Stopping a window, deleting a capture.
    let (status, _) = sb
        .admin(Method::POST, "/api/v1/inspector/capture", Some(json!({})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(messages(&sb, &ask("other", false)).await.0, 200);
    let id = sb.get("/api/v1/captures").await[0]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(capture_of(&sb, &id).await.0, 200);
    let (status, v) = sb
        .admin(Method::DELETE, "/api/v1/inspector/capture?all=true", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["windows"], json!([]));
    let (status, _) = sb
        .admin(Method::DELETE, &format!("/api/v1/captures/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(capture_of(&sb, &id).await.0, 404);

    // Bad input is refused with the field named.
    let (status, v) = sb
        .admin(
            Method::POST,
            "/api/v1/inspector/capture",
            Some(json!({"minutes": 0})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("minutes"));
}
