//! The router foundation: pass-through with alias rewrite, usage in the request log, key
//! rotation, access-key enforcement, bad input, persistence and the config file.

use serde_json::{Value, json};
use switchboard_mock_upstream::Dialect as MockDialect;

use crate::common::*;

fn one_route(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml("mock", mock, &["sk-mock-key-aaaaaaaaaaaa"])
        + "[[routes]]\nalias = \"gpt-5.5\"\ntargets = [{ provider = \"mock\", model = \"deepseek-chat\" }]\n"
}

#[tokio::test]
async fn chat_passes_through_with_the_alias_rewritten_both_ways() {
    let sb = Sb::start(one_route).await;
    let resp = sb.chat("gpt-5.5").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["model"], "gpt-5.5",
        "the client sees the name it asked for"
    );
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from mock model deepseek-chat."
    );
    let seen = sb.mock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].json().unwrap()["model"],
        "deepseek-chat",
        "the upstream sees its model"
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-mock-key-aaaaaaaaaaaa")
    );

    let resp = sb.chat_stream("gpt-5.5").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["model"] == "gpt-5.5"), "{text}");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from mock model deepseek-chat.");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    assert_eq!(
        sb.mock.requests()[1].json().unwrap()["model"],
        "deepseek-chat"
    );
}

#[tokio::test]
async fn streamed_chunks_are_forwarded_as_they_arrive() {
    // The upstream waits 300 ms between events: the client must see the first content long
    // before the stream ends (no buffering beyond the read-ahead to the first content).
    let sb = Sb::start(|mock| {
        one_route(mock)
            + "[[routes]]\nalias = \"slow-stream\"\ntargets = [{ provider = \"mock\", model = \"m@chunk_delay_ms=300,chunks=6\" }]\n"
    })
    .await;
    let started = std::time::Instant::now();
    let mut resp = sb
        .post(
            "/v1/chat/completions",
            &json!({"model": "slow-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let mut first_content_at = None;
    let mut seen = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if first_content_at.is_none() && seen.contains("\"content\":\"H") {
            first_content_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let first = first_content_at.unwrap_or_else(|| panic!("no content in {seen}"));
    assert!(total.as_millis() >= 1500, "stream ended after {total:?}");
    assert!(
        total - first >= std::time::Duration::from_millis(1000),
        "first content at {first:?}, end at {total:?}"
    );
}

#[tokio::test]
async fn usage_is_captured_in_the_request_log() {
    let sb = Sb::start(one_route).await;
    assert_eq!(sb.chat("gpt-5.5").await.status(), 200);
    let streamed = sb.chat_stream("gpt-5.5").await.text().await.unwrap();
    assert!(streamed.contains("[DONE]"));
    let rows = sb.logged(2).await;
    let json_row = rows.iter().find(|r| !r.stream).unwrap();
    assert_eq!((json_row.tokens_in, json_row.tokens_out), (17, 5));
    let stream_row = rows.iter().find(|r| r.stream).unwrap();
    assert_eq!((stream_row.tokens_in, stream_row.tokens_out), (30, 5));
    for r in &rows {
        assert_eq!(r.status, 200);
        assert_eq!(r.alias, "gpt-5.5");
        assert_eq!(r.dialect, "openai_chat");
        assert_eq!(r.provider.as_deref(), Some("mock"));
        assert_eq!(r.upstream_model.as_deref(), Some("deepseek-chat"));
        assert!(r.key_id.is_some());
        assert_eq!(r.attempts.len(), 1);
        assert!(r.ttfb_ms.is_some());
    }
}

#[tokio::test]
async fn the_request_log_lists_a_request_as_soon_as_it_has_finished() {
    let sb = Sb::start(one_route).await;
    for n in 1..=3 {
        let body = sb.chat("gpt-5.5").await.text().await.unwrap();
        assert!(body.contains("deepseek-chat"), "{body}");
        // No waiting: the log views flush the batched writer before reading.
        let rows = sb.get("/api/v1/requests").await;
        assert_eq!(rows.as_array().map(Vec::len), Some(n), "{rows}");
        let id = rows[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            sb.get(&format!("/api/v1/requests/{id}")).await["status"],
            200
        );
    }
}

#[tokio::test]
async fn keys_rotate_by_weight() {
    let sb = Sb::start(|mock| {
        format!(
            "[[providers]]\nname = \"mock\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [{{ label = \"w1\", secret = \"sk-weight-one-aaaaaaa\", weight = 1 }}, {{ label = \"w2\", secret = \"sk-weight-two-bbbbbbb\", weight = 2 }}, {{ label = \"w3\", secret = \"sk-weight-three-ccccc\", weight = 3 }}]\n[[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"mock\", model = \"x\" }}]\n",
            mock.base_url(MockDialect::OpenAiChat)
        )
    })
    .await;
    // Sixty different conversations (one conversation would stick to one key).
    for i in 0..60 {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": format!("question {i}")}]});
        assert_eq!(sb.post("/v1/chat/completions", &body).await.status(), 200);
    }
    for (key, expected) in [
        ("sk-weight-one-aaaaaaa", 10i64),
        ("sk-weight-two-bbbbbbb", 20),
        ("sk-weight-three-ccccc", 30),
    ] {
        let got = i64::try_from(sb.mock.count_for_key(key)).unwrap();
        assert!(
            (got - expected).abs() <= 1,
            "{key}: {got} requests, expected {expected} ± 1"
        );
    }
}

#[tokio::test]
async fn the_access_key_is_required_and_never_echoed() {
    let sb = Sb::start(one_route).await;
    let body = json!({"model": "gpt-5.5", "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("{}/v1/chat/completions", sb.url);
    let none = sb.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let v: Value = none.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    let wrong = sb
        .http
        .post(&url)
        .bearer_auth("sk-sb-WRONG-guess-123")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        !wrong.text().await.unwrap().contains("WRONG"),
        "the presented key is not echoed"
    );
    let xkey = sb
        .http
        .post(&url)
        .header("x-api-key", ACCESS)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(xkey.status(), 200);
    assert_eq!(
        sb.mock.request_count(),
        1,
        "rejected requests never reach the upstream"
    );
    // The Anthropic path answers in its own error shape.
    let a = sb
        .http
        .post(format!("{}/v1/messages", sb.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 401);
    assert_eq!(a.json::<Value>().await.unwrap()["type"], "error");
}

#[tokio::test]
async fn routing_switched_off_is_a_503_in_the_clients_dialect_after_the_access_check() {
    async fn switch_routing(sb: &Sb, enabled: bool) {
        let (status, v) = sb
            .admin(
                reqwest::Method::PUT,
                "/api/v1/routing",
                Some(json!({ "enabled": enabled })),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let sb = Sb::start(one_route).await;
    switch_routing(&sb, false).await;

    let chat = sb.chat("gpt-5.5").await;
    assert_eq!(chat.status(), 503);
    let v: Value = chat.json().await.unwrap();
    assert_eq!(v["error"]["code"], "routing_off", "{v}");
    let body = json!({"model": "gpt-5.5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let messages = sb.post("/v1/messages", &body).await;
    assert_eq!(messages.status(), 503);
    assert_eq!(messages.json::<Value>().await.unwrap()["type"], "error");
    // The access key is checked first: a caller without it learns nothing of the switch.
    let anonymous = sb
        .http
        .post(format!("{}/v1/chat/completions", sb.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(sb.mock.request_count(), 0, "nothing went upstream");
    // The rest of the server answers; the refusals are in the request log.
    let health = sb
        .http
        .get(format!("{}/health", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(sb.get("/api/v1/status").await["routing"], false);
    let logged = sb.logged(3).await;
    assert_eq!(
        logged
            .iter()
            .filter(|r| r.status == 503
                && r.error.as_deref() == Some("Routing is switched off in Switchboard."))
            .count(),
        2,
        "{logged:?}"
    );

    switch_routing(&sb, true).await;
    assert_eq!(sb.chat("gpt-5.5").await.status(), 200);
}

#[tokio::test]
async fn bad_input_gets_clear_errors_in_the_client_dialect() {
    let sb = Sb::start(one_route).await;
    let raw = |body: &'static str| {
        sb.http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(ACCESS)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = raw("{\"model\": \"gpt-5.5\", \"messages\": [")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_json");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    // A generation path with another method: 405 in the path's dialect, after the access check.
    let wrong_method = |path: &'static str, key: bool| {
        let req = sb.http.get(format!("{}{path}", sb.url));
        if key { req.bearer_auth(ACCESS) } else { req }.send()
    };
    let r = wrong_method("/v1/chat/completions", true).await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let r = wrong_method("/v1/messages", true).await.unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (&v["type"], &v["error"]["type"]),
        (&json!("error"), &json!("invalid_request_error")),
        "{v}"
    );
    assert_eq!(
        wrong_method("/v1/responses", false).await.unwrap().status(),
        401
    );

    let r = raw("{\"messages\": []}").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "model");

    let r = sb.chat("no-such-model").await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-model")
    );

    // A body over the configured limit: 413 before it reaches anyone.
    let mut settings = sb.get("/api/v1/settings").await;
    settings["body_limit_bytes"] = json!(4096);
    assert_eq!(
        sb.admin(reqwest::Method::PUT, "/api/v1/settings", Some(settings))
            .await
            .0,
        200
    );
    let big =
        json!({"model": "gpt-5.5", "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let r = sb.post("/v1/chat/completions", &big).await;
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );
    assert_eq!(sb.mock.request_count(), 0);
}

#[tokio::test]
async fn unreachable_and_slow_upstreams_name_the_provider_never_the_key() {
    let sb = Sb::start(|mock| {
        // Port 9 (discard) on loopback is closed here: connection refused.
        one_route(mock)
            + "[[providers]]\nname = \"down\"\nkind = \"openai_chat\"\nbase_url = \"http://127.0.0.1:9/v1\"\nkeys = [\"sk-down-secret-key-zzzz\"]\n"
            + "[[routes]]\nalias = \"down-model\"\ntargets = [{ provider = \"down\", model = \"x\" }]\n"
            + "[[providers]]\nname = \"slow\"\nkind = \"openai_chat\"\nbase_url = \""
            + &mock.base_url(MockDialect::OpenAiChat)
            + "\"\nkeys = [\"sk-slow-secret-key-yyyy@fault=hang\"]\ntimeouts = { first_byte_ms = 300 }\n"
            + "[[routes]]\nalias = \"slow-model\"\ntargets = [{ provider = \"slow\", model = \"x\" }]\n"
    })
    .await;
    let r = sb.chat("down-model").await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("`down`"), "{text}");
    assert!(!text.contains("sk-down"), "{text}");
    let r = sb.chat("slow-model").await;
    assert_eq!(r.status(), 504);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("`slow`") && text.contains("timed out"),
        "{text}"
    );
    assert!(!text.contains("sk-slow"), "{text}");
}

#[tokio::test]
async fn admin_edits_persist_across_a_restart() {
    let mut sb = Sb::start(|_| String::new()).await;
    let base = sb.mock.base_url(MockDialect::OpenAiChat);
    let (s, v) = sb
        .admin(
            reqwest::Method::POST,
            "/api/v1/providers",
            Some(json!({"name": "dash", "kind": "openai_chat", "base_url": base})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, key) = sb
        .admin(
            reqwest::Method::POST,
            "/api/v1/keys",
            Some(json!({"provider": "dash", "label": "main", "secret": "sk-dashboard-added-1234"})),
        )
        .await;
    assert_eq!(s, 200, "{key}");
    assert_eq!(key["last4"], "1234");
    assert!(key.get("secret").is_none(), "secrets are write-only");
    let (s, _) = sb
        .admin(
            reqwest::Method::POST,
            "/api/v1/routes",
            Some(json!({"alias": "mine", "targets": [{"provider": "dash", "model": "m1"}]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(sb.chat("mine").await.status(), 200);
    sb.restart().await;
    assert_eq!(sb.chat("mine").await.status(), 200);
    assert_eq!(sb.mock.count_for_key("sk-dashboard-added-1234"), 2);
    // Validation errors name the field.
    let (s, v) = sb
        .admin(reqwest::Method::POST, "/api/v1/routes", Some(json!({"alias": "bad", "targets": [{"provider": "dash", "model": "m", "weight": "heavy"}]})))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["field"], "targets[0].weight", "{v}");
    let (s, v) = sb
        .admin(
            reqwest::Method::POST,
            "/api/v1/routes",
            Some(json!({"alias": "bad", "targets": []})),
        )
        .await;
    assert_eq!((s, v["error"]["field"].as_str()), (400, Some("targets")));
}

#[tokio::test]
async fn the_config_file_is_applied_at_start_and_restarts_do_not_duplicate_keys() {
    let mut sb = Sb::start(|mock| {
        // SAFETY of the test: the variable is unique to this test.
        provider_toml("filed", mock, &["sk-file-literal-aaaaaaa", "env:SB_TEST_FILE_KEY"])
            + "[[routes]]\nalias = \"from-file\"\nstrategy = \"round_robin\"\ntargets = [{ provider = \"filed\", model = \"m\" }]\n"
    })
    .await;
    // The env key is missing at the first start: left out, with a warning, not fatal.
    let keys = sb.get("/api/v1/keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert_eq!(sb.chat("from-file").await.status(), 200);
    sb.restart().await;
    let keys = sb.get("/api/v1/keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 2, "no duplicates: {keys}");
    let routes = sb.get("/api/v1/routes").await;
    assert_eq!(routes[0]["strategy"], "round_robin");
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_is_a_clear_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not-a-dir");
    std::fs::write(&data, b"file in the way").unwrap();
    let mut opts = switchboard_server::Options::new(&data);
    opts.port = 0;
    opts.key_file = Some(dir.path().join("k").join("master.key"));
    let err = match switchboard_server::Switchboard::start(opts).await {
        Ok(_) => panic!("started on a file"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&data.display().to_string()), "{err}");
}

#[tokio::test]
async fn models_health_and_head_root() {
    let sb = Sb::start(|mock| {
        one_route(mock).replace(
            "keys = [",
            "models = [{ id = \"direct-model\", context_window = 128000, source = \"manual\" }]\nkeys = [",
        )
    })
    .await;
    let models: Value = sb.public_get("/v1/models").await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["gpt-5.5", "direct-model"]);
    assert_eq!(models["data"][1]["context_window"], 128000);
    // A model one provider serves routes there directly.
    assert_eq!(sb.chat("direct-model").await.status(), 200);
    assert_eq!(sb.mock.count_for_model("direct-model"), 1);
    let health = sb
        .http
        .get(format!("{}/health", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let head = sb.http.head(format!("{}/", sb.url)).send().await.unwrap();
    assert!(head.status().is_success());
}

#[tokio::test]
async fn drop_params_with_dotted_paths_apply_to_same_dialect_traffic() {
    let sb = Sb::start(|mock| {
        provider_toml("mock", mock, &["sk-mock-key-aaaaaaaaaaaa"])
            .replace("keys = [", "drop_params = [\"thinking.budget_tokens\", \"seed\"]\nkeys = [")
            + "[[routes]]\nalias = \"gpt-5.5\"\ntargets = [{ provider = \"mock\", model = \"deepseek-chat\" }]\n"
    })
    .await;
    let resp = sb
        .post(
            "/v1/chat/completions",
            &json!({
                "model": "gpt-5.5",
                "seed": 7,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "messages": [{"role": "user", "content": "hi"}],
            }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seen = sb.mock.requests()[0].json().unwrap();
    assert_eq!(seen["thinking"], json!({"type": "enabled"}), "{seen}");
    assert!(seen.get("seed").is_none(), "{seen}");
    assert_eq!(seen["model"], "deepseek-chat");
}

#[tokio::test]
async fn duplicate_routed_keys_are_refused_and_never_reach_the_upstream() {
    let sb = Sb::start(one_route).await;
    let bodies = [
        r#"{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],"model":"other"}"#,
        r#"{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],"mod\u0065l":"other"}"#,
        r#"{"model":"gpt-5.5","stream":false,"messages":[{"role":"user","content":"hi"}],"str\u0065am":true}"#,
    ];
    for body in bodies {
        let resp = sb
            .http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(ACCESS)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    }
    // Anthropic clients get their own error shape.
    let resp = sb
        .http
        .post(format!("{}/v1/messages", sb.url))
        .header("x-api-key", ACCESS)
        .header("content-type", "application/json")
        .body(r#"{"model":"gpt-5.5","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"model":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert!(sb.mock.requests().is_empty(), "the upstream saw nothing");
}

#[tokio::test]
async fn the_usage_summary_counts_every_request_of_the_window_and_the_error_filter_works() {
    let sb = Sb::start(one_route).await;
    assert_eq!(sb.chat("gpt-5.5").await.status(), 200);
    let served = sb.logged(1).await.remove(0);
    let now = switchboard_store::now_ms();
    // The oldest request of the window failed over; 520 ordinary ones and 3 failures came
    // after it — more than any page of the log the dashboard reads.
    let mut failover = served.clone();
    failover.id = String::new();
    failover.started_at_ms = now - 20 * 60_000;
    let mut first = failover.attempts[0].clone();
    first.status = Some(429);
    failover.attempts.insert(0, first);
    let mut recs = vec![failover];
    for i in 0..523i64 {
        let mut r = served.clone();
        r.id = String::new();
        r.started_at_ms = now - 10 * 60_000 + i;
        if i < 3 {
            r.status = 502;
        }
        recs.push(r);
    }
    let store = sb.handle().control().store();
    store.insert_requests(&recs).await.unwrap();

    let s = sb
        .get(&format!(
            "/api/v1/usage/summary?window_ms=1800000&until_ms={}",
            now + 1
        ))
        .await;
    assert_eq!(s["requests"], 525, "{s}");
    assert_eq!(s["errors"], 3);
    assert_eq!(s["failovers"], 1);
    assert_eq!(s["per_minute"].as_array().map(Vec::len), Some(30));
    assert_eq!(s["recent_failovers"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["recent_failovers"][0]["started_at_ms"], now - 20 * 60_000);
    assert!(s["p50_latency_ms"].is_u64());

    let (status, _) = sb
        .admin(
            reqwest::Method::GET,
            "/api/v1/usage/summary?window_ms=10",
            None,
        )
        .await;
    assert_eq!(status, 400);
    // An end at the edge of time is refused, not an overflow.
    let (status, edge) = sb
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/usage/summary?until_ms={}", i64::MIN),
            None,
        )
        .await;
    assert_eq!(status, 400, "{edge}");

    let errors = sb.get("/api/v1/requests?status=error&limit=1000").await;
    assert_eq!(errors.as_array().map(Vec::len), Some(3), "{errors}");
}
