//! Clients: named access keys, attribution of requests, allow-lists, rpm/tpm limits and
//! budgets, each refusal in the client's own dialect.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_control::{BudgetEvent, BudgetLevel, BudgetPeriod};
use switchboard_mock_upstream::MockUpstream;
use switchboard_router::log::RequestRecord;

use crate::common::*;

fn upstream(mock: &MockUpstream) -> String {
    provider_toml("mock", mock, &["sk-key-a-aaaaaaaaaaaaaaaa"])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"mock\", model = \"x\" }]\n\n\
           [[routes]]\nalias = \"other\"\ntargets = [{ provider = \"mock\", model = \"y\" }]\n"
}

/// Creates a client; returns its key.
async fn create(sb: &Sb, body: Value) -> String {
    let (status, v) = sb.admin(Method::POST, "/api/v1/clients", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk-sb-"), "{v}");
    key
}

async fn chat_as(sb: &Sb, key: &str, model: &str) -> reqwest::Response {
    sb.http
        .post(format!("{}/v1/chat/completions", sb.url))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

/// One request in each dialect, with `key` sent the way that dialect's clients send it.
async fn in_dialect(sb: &Sb, dialect: &str, key: &str) -> reqwest::Response {
    let req = match dialect {
        "chat" => sb
            .http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
        "responses" => sb
            .http
            .post(format!("{}/v1/responses", sb.url))
            .bearer_auth(key)
            .json(&json!({"model": "m", "input": "hi"})),
        "anthropic" => sb
            .http
            .post(format!("{}/v1/messages", sb.url))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})),
        _ => sb
            .http
            .post(format!("{}/v1beta/models/m:generateContent", sb.url))
            .header("x-goog-api-key", key)
            .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})),
    };
    req.send().await.unwrap()
}

const DIALECTS: [&str; 4] = ["chat", "responses", "anthropic", "gemini"];

/// The error's message, checking the body has `dialect`'s own error shape and `status`.
fn error_message(dialect: &str, status: u16, v: &Value) -> String {
    match dialect {
        "chat" | "responses" => {
            let want = match status {
                401 => "authentication_error",
                403 => "permission_error",
                _ => "rate_limit_error",
            };
            assert_eq!(v["error"]["type"], want, "{v}");
        }
        "anthropic" => {
            assert_eq!(v["type"], "error", "{v}");
            let want = match status {
                401 => "authentication_error",
                403 => "permission_error",
                _ => "rate_limit_error",
            };
            assert_eq!(v["error"]["type"], want, "{v}");
        }
        _ => {
            assert_eq!(v["error"]["code"], status, "{v}");
            let want = match status {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                _ => "RESOURCE_EXHAUSTED",
            };
            assert_eq!(v["error"]["status"], want, "{v}");
        }
    }
    v["error"]["message"].as_str().unwrap().to_owned()
}

async fn records_of(sb: &Sb, client: &str) -> Vec<RequestRecord> {
    let v = sb.get(&format!("/api/v1/requests?client={client}")).await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn two_clients_traffic_is_attributed_separately_in_the_log_and_usage() {
    let sb = Sb::start(upstream).await;
    let codex = create(&sb, json!({"name": "codex"})).await;
    let claude = create(&sb, json!({"name": "claude-code"})).await;
    for _ in 0..2 {
        assert_eq!(chat_as(&sb, &codex, "m").await.status(), 200);
    }
    assert_eq!(chat_as(&sb, &claude, "other").await.status(), 200);
    // The access key Switchboard always had is the default client's.
    assert_eq!(sb.chat("m").await.status(), 200);
    let all = sb.logged(4).await;
    let count = |c: &str| {
        all.iter()
            .filter(|r| r.client.as_deref() == Some(c))
            .count()
    };
    assert_eq!(
        (count("codex"), count("claude-code"), count("default")),
        (2, 1, 1)
    );
    let codex_log = records_of(&sb, "codex").await;
    assert_eq!(codex_log.len(), 2);
    assert!(codex_log.iter().all(|r| r.alias == "m"));
    let claude_log = records_of(&sb, "claude-code").await;
    assert_eq!(claude_log.len(), 1);
    assert_eq!(claude_log[0].alias, "other");

    let usage = sb
        .get(&format!(
            "/api/v1/usage?group_by=client&since_ms=0&until_ms={}",
            switchboard_store::now_ms() + 86_400_000
        ))
        .await;
    let sum = |c: &str, field: &str| -> u64 {
        usage
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["group"] == c)
            .map(|p| p[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("codex", "requests"), 2, "{usage}");
    assert_eq!(sum("claude-code", "requests"), 1, "{usage}");
    assert_eq!(sum("default", "requests"), 1, "{usage}");
    let codex_tokens: u64 = codex_log.iter().map(|r| r.tokens_in).sum();
    assert!(codex_tokens > 0);
    assert_eq!(sum("codex", "tokens_in"), codex_tokens, "{usage}");
}

#[tokio::test]
async fn a_client_key_is_shown_once_then_only_its_fingerprint() {
    let sb = Sb::start(upstream).await;
    let (status, created) = sb
        .admin(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "codex"})),
        )
        .await;
    assert_eq!(status, 200);
    let key = created["key"].as_str().unwrap();
    let listed = sb.get("/api/v1/clients").await;
    let text = listed.to_string();
    assert!(!text.contains(key), "the key is never shown again");
    let codex = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "codex")
        .unwrap();
    assert_eq!(codex["keys"][0]["last4"], key[key.len() - 4..]);
    assert_eq!(
        codex["keys"][0]["fingerprint"],
        switchboard_router::Secret::new(key).fingerprint()
    );
    // The database holds no key either.
    let db = std::fs::read(sb.dir.path().join("data").join("switchboard.db")).unwrap();
    assert!(!db.windows(key.len()).any(|w| w == key.as_bytes()));
    // The default client holds the local access key.
    let default = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "default")
        .unwrap();
    assert_eq!(default["builtin"], true);
    assert_eq!(default["keys"][0]["last4"], ACCESS[ACCESS.len() - 4..]);
    let (status, _) = sb
        .admin(Method::DELETE, "/api/v1/clients/default", None)
        .await;
    assert_eq!(status, 409);

    // A second key works; revoking the first stops it at once.
    let (status, added) = sb
        .admin(Method::POST, "/api/v1/clients/codex/keys", None)
        .await;
    assert_eq!(status, 200, "{added}");
    let second = added["key"].as_str().unwrap();
    assert_eq!(chat_as(&sb, second, "m").await.status(), 200);
    let first_id = created["key_id"].as_i64().unwrap();
    let (status, _) = sb
        .admin(
            Method::DELETE,
            &format!("/api/v1/clients/codex/keys/{first_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(chat_as(&sb, key, "m").await.status(), 401);
    assert_eq!(chat_as(&sb, second, "m").await.status(), 200);
    // Deleting the client stops its keys.
    let (status, _) = sb
        .admin(Method::DELETE, "/api/v1/clients/codex", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(chat_as(&sb, second, "m").await.status(), 401);
}

#[tokio::test]
async fn disabled_expired_and_unknown_keys_get_the_same_401_in_each_dialect() {
    let sb = Sb::start(upstream).await;
    let off = create(&sb, json!({"name": "off", "enabled": false})).await;
    let old = create(&sb, json!({"name": "old", "expires_at_ms": T0 + 1000})).await;
    assert_eq!(chat_as(&sb, &old, "m").await.status(), 200);
    sb.clock.advance_ms(1000);
    let unknown = "sk-sb-not-a-key-of-anyone-0123456789";
    let mut messages = std::collections::HashSet::new();
    for key in [off.as_str(), old.as_str(), unknown] {
        for d in DIALECTS {
            let resp = in_dialect(&sb, d, key).await;
            assert_eq!(resp.status(), 401, "{d}");
            let v: Value = resp.json().await.unwrap();
            let msg = error_message(d, 401, &v);
            assert!(!msg.contains("off") && !msg.contains("old"), "{msg}");
            messages.insert(msg);
        }
    }
    assert_eq!(
        messages.len(),
        1,
        "no hint of which keys exist: {messages:?}"
    );
    assert_eq!(
        sb.mock.request_count(),
        1,
        "nothing refused reached the upstream"
    );
    // Switched back on, the key works again.
    let (status, v) = sb
        .admin(
            Method::PUT,
            "/api/v1/clients/off",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(chat_as(&sb, &off, "m").await.status(), 200);
}

#[tokio::test]
async fn a_model_outside_the_allow_list_is_refused_naming_it() {
    let sb = Sb::start(upstream).await;
    let key = create(&sb, json!({"name": "narrow", "models": ["m"]})).await;
    assert_eq!(chat_as(&sb, &key, "m").await.status(), 200);
    let resp = chat_as(&sb, &key, "other").await;
    assert_eq!(resp.status(), 403);
    let v: Value = resp.json().await.unwrap();
    let msg = error_message("chat", 403, &v);
    assert!(msg.contains("`other`") && msg.contains("narrow"), "{msg}");
    assert_eq!(v["error"]["code"], "model_not_allowed");
    assert_eq!(sb.mock.request_count(), 1);
}

#[tokio::test]
async fn rpm_limit_refuses_exactly_the_first_request_over_it() {
    let sb = Sb::start(upstream).await;
    let key = create(&sb, json!({"name": "codex", "rpm": 3})).await;
    for i in 0..3 {
        assert_eq!(chat_as(&sb, &key, "m").await.status(), 200, "request {i}");
    }
    let resp = chat_as(&sb, &key, "m").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let v: Value = resp.json().await.unwrap();
    let msg = error_message("chat", 429, &v);
    assert!(
        msg.contains("`codex`")
            && msg.contains("3 requests per minute")
            && msg.contains("resets at"),
        "{msg}"
    );
    assert_eq!(v["error"]["code"], "client_rpm_limit");
    assert_eq!(sb.mock.request_count(), 3);
    // Another client is not limited by it.
    assert_eq!(sb.chat("m").await.status(), 200);
    // A minute later the window has moved on.
    sb.clock.advance_ms(60_000);
    assert_eq!(chat_as(&sb, &key, "m").await.status(), 200);
}

#[tokio::test]
async fn tpm_limit_counts_the_estimate_then_actual_usage_and_holds_exactly() {
    let sb = Sb::start(upstream).await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let ir = switchboard_protocol::translate::decode_request(
        switchboard_protocol::Dialect::OpenaiChat,
        &serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    let estimate = switchboard_protocol::count_tokens(&ir);
    // What one such request really uses, measured by another client.
    assert_eq!(sb.chat("m").await.status(), 200);
    let one = &sb.logged(1).await[0];
    let used = one.tokens_in + one.tokens_out;
    assert!(used > 0);
    // Room for three requests' actual usage plus a fourth's estimate, not a fifth.
    let tpm = 3 * used + estimate;
    let key = create(&sb, json!({"name": "codex", "tpm": tpm})).await;
    for i in 0..4 {
        assert_eq!(chat_as(&sb, &key, "m").await.status(), 200, "request {i}");
    }
    let resp = chat_as(&sb, &key, "m").await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    let msg = error_message("chat", 429, &v);
    assert!(
        msg.contains(&format!("{tpm} tokens per minute")) && msg.contains("`codex`"),
        "{msg}"
    );
    let logged = records_of(&sb, "codex").await;
    assert_eq!(logged.len(), 4);
    assert!(logged.iter().all(|r| r.tokens_in + r.tokens_out == used));
    sb.clock.advance_ms(60_000);
    assert_eq!(chat_as(&sb, &key, "m").await.status(), 200);
}

/// A record of `client`'s spend, as the router makes it once a request is priced.
fn priced(client: &str, cost_micros: u64) -> RequestRecord {
    RequestRecord {
        id: String::new(),
        started_at_ms: switchboard_store::now_ms(),
        dialect: "openai_chat".into(),
        alias: "m".into(),
        provider: Some("mock".into()),
        key_id: None,
        upstream_model: Some("x".into()),
        status: 200,
        stream: false,
        latency_ms: 1,
        ttfb_ms: Some(1),
        tokens_in: 0,
        tokens_out: 0,
        tokens_cached: 0,
        tokens_reasoning: 0,
        cost_micros: Some(cost_micros),
        audio_ms: None,
        images: None,
        client: Some(client.into()),
        error: None,
        affinity: None,
        attempts: Vec::new(),
        refused: None,
        instance: None,
    }
}

#[tokio::test]
async fn a_hard_budget_stops_the_client_in_all_four_dialects() {
    let mut sb = Sb::start(upstream).await;
    let key = create(
        &sb,
        json!({"name": "codex", "daily_budget_usd": 1.0, "monthly_budget_usd": 10.0, "soft_limit_pct": 50}),
    )
    .await;
    let control = sb.handle().control().clone();
    let mut events = control.budget_events();
    control.clients().record(&priced("codex", 600_000));
    assert_eq!(
        events.try_recv().unwrap(),
        BudgetEvent {
            client: "codex".into(),
            period: BudgetPeriod::Daily,
            level: BudgetLevel::Soft,
            spent_micros: 600_000,
            budget_micros: 1_000_000
        }
    );
    for d in DIALECTS {
        assert_eq!(in_dialect(&sb, d, &key).await.status(), 200, "{d}");
    }
    control.clients().record(&priced("codex", 400_000));
    assert_eq!(events.try_recv().unwrap().level, BudgetLevel::Hard);
    assert!(events.try_recv().is_err(), "each level once");
    let before = sb.mock.request_count();
    for d in DIALECTS {
        let resp = in_dialect(&sb, d, &key).await;
        assert_eq!(resp.status(), 429, "{d}");
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 86_400, "{retry}");
        let v: Value = resp.json().await.unwrap();
        let msg = error_message(d, 429, &v);
        assert!(
            msg.contains("`codex`")
                && msg.contains("daily budget of $1.00")
                && msg.contains("resets at"),
            "{d}: {msg}"
        );
    }
    assert_eq!(
        sb.mock.request_count(),
        before,
        "nothing over budget went upstream"
    );
    // The dashboard sees the spend against the budget.
    let view = sb.get("/api/v1/clients/codex").await;
    assert_eq!(view["spent_today_usd"], 1.0);
    assert_eq!(view["daily_budget_usd"], 1.0);
    // Other clients go on.
    assert_eq!(sb.chat("m").await.status(), 200);

    // Spend survives a restart: it is summed from the request log.
    sb.handle()
        .control()
        .store()
        .insert_requests(&[priced("codex", 1_000_000)])
        .await
        .unwrap();
    sb.restart().await;
    assert_eq!(in_dialect(&sb, "chat", &key).await.status(), 429);
    // The next UTC day starts afresh.
    sb.clock.advance_ms(86_400_000);
    assert_eq!(in_dialect(&sb, "chat", &key).await.status(), 200);
}

#[tokio::test]
async fn malformed_limits_and_budgets_are_400_naming_the_field() {
    let sb = Sb::start(upstream).await;
    for (body, field) in [
        (json!({"name": "a", "rpm": -1}), "rpm"),
        (json!({"name": "a", "rpm": 0}), "rpm"),
        (json!({"name": "a", "tpm": "lots"}), "tpm"),
        (
            json!({"name": "a", "daily_budget_usd": -5}),
            "daily_budget_usd",
        ),
        (
            json!({"name": "a", "monthly_budget_usd": 1e300}),
            "monthly_budget_usd",
        ),
        (
            json!({"name": "a", "soft_limit_pct": 150}),
            "soft_limit_pct",
        ),
        (json!({"name": "a", "models": ["m", ""]}), "models[1]"),
        (json!({"name": "a b"}), "name"),
        (json!({"name": "a", "budget": 3}), "budget"),
    ] {
        let (status, v) = sb
            .admin(Method::POST, "/api/v1/clients", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    create(&sb, json!({"name": "a"})).await;
    let (status, v) = sb
        .admin(Method::POST, "/api/v1/clients", Some(json!({"name": "a"})))
        .await;
    assert_eq!(status, 409, "{v}");
    let (status, v) = sb
        .admin(Method::PUT, "/api/v1/clients/a", Some(json!({"tpm": -3})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["field"], "tpm");
}

#[tokio::test]
async fn the_default_client_keeps_the_access_key_through_rotation() {
    let sb = Sb::start(upstream).await;
    let (status, v) = sb
        .admin(Method::POST, "/api/v1/access-key/rotate", None)
        .await;
    assert_eq!(status, 200);
    let new = v["access_key"].as_str().unwrap().to_owned();
    assert_eq!(sb.chat("m").await.status(), 401, "the old key is gone");
    assert_eq!(chat_as(&sb, &new, "m").await.status(), 200);
    // Both the refused request and the served one: waiting for one row could return the
    // refusal alone on a loaded machine.
    let rec = &sb.logged(2).await[0];
    assert_eq!(rec.client.as_deref(), Some("default"));
    // The default client's switch covers the local key too.
    let (status, _) = sb
        .admin(
            Method::PUT,
            "/api/v1/clients/default",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(chat_as(&sb, &new, "m").await.status(), 401);
}

/// The tools' home lives beside the data directory.
fn with_tool_home(o: &mut switchboard_server::Options) {
    let home = o.data_dir.parent().unwrap().join("home");
    o.tool_env = Some(switchboard_server::ToolEnv::with_home(&home));
}

#[tokio::test]
async fn configuring_a_tool_creates_its_client_and_its_requests_are_attributed_to_it() {
    let sb = Sb::start_with(upstream, with_tool_home).await;
    let claude_dir = sb.dir.path().join("home").join(".claude");
    std::fs::create_dir_all(&claude_dir).unwrap();
    std::fs::write(claude_dir.join("settings.json"), "{}\n").unwrap();
    let plan = json!({ "models": { "main": "m" } });
    let (status, v) = sb
        .admin(
            Method::POST,
            "/api/v1/integrations/claude-code/apply",
            Some(plan.clone()),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(claude_dir.join("settings.json")).unwrap())
            .unwrap();
    let key = settings["env"]["ANTHROPIC_AUTH_TOKEN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(key, ACCESS);
    // What Claude Code sends: Bearer auth on /v1/messages.
    let resp = sb
        .http
        .post(format!("{}/v1/messages", sb.url))
        .bearer_auth(&key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let logged = records_of(&sb, "claude-code").await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].dialect, "anthropic");
    // Configuring it again issues a new key to the same client.
    let (status, v) = sb
        .admin(
            Method::POST,
            "/api/v1/integrations/claude-code/apply",
            Some(plan),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let clients = sb.get("/api/v1/clients").await;
    let claude: Vec<&Value> = clients
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "claude-code")
        .collect();
    assert_eq!(claude.len(), 1);
    assert_eq!(claude[0]["keys"].as_array().unwrap().len(), 2);
}

/// The mock's model `x` priced at $1 per input token and $2 per output token.
fn priced_upstream(mock: &MockUpstream) -> String {
    format!(
        "[[providers]]\nname = \"mock\"\nkind = \"openai_chat\"\nbase_url = {:?}\n\
         keys = [\"sk-key-a-aaaaaaaaaaaaaaaa\"]\n\
         models = [{{ id = \"x\", source = \"manual\", input_price = 1000000.0, output_price = 2000000.0 }}]\n\n\
         [[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"mock\", model = \"x\" }}]\n",
        mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat)
    )
}

#[tokio::test]
async fn priced_requests_spend_the_budget_down_until_the_client_is_stopped() {
    let sb = Sb::start(priced_upstream).await;
    // What one request costs, measured by another client.
    assert_eq!(sb.chat("m").await.status(), 200);
    let one = &sb.logged(1).await[0];
    let cost = one.cost_micros.unwrap();
    assert_eq!(cost, one.tokens_in * 1_000_000 + one.tokens_out * 2_000_000);
    // Room for two and a half requests: the third is let in, the fourth is not.
    let budget_usd = cost as f64 * 2.5 / 1e6;
    let key = create(
        &sb,
        json!({"name": "codex", "monthly_budget_usd": budget_usd, "soft_limit_pct": 50}),
    )
    .await;
    let mut events = sb.handle().control().budget_events();
    for i in 0..3 {
        assert_eq!(chat_as(&sb, &key, "m").await.status(), 200, "request {i}");
    }
    let soft = events.recv().await.unwrap();
    assert_eq!(
        (soft.period, soft.level, soft.spent_micros),
        (BudgetPeriod::Monthly, BudgetLevel::Soft, 2 * cost)
    );
    let hard = events.recv().await.unwrap();
    assert_eq!(
        (hard.level, hard.spent_micros),
        (BudgetLevel::Hard, 3 * cost)
    );
    for d in DIALECTS {
        let resp = in_dialect(&sb, d, &key).await;
        assert_eq!(resp.status(), 429, "{d}");
        let v: Value = resp.json().await.unwrap();
        let msg = error_message(d, 429, &v);
        assert!(msg.contains("monthly budget"), "{d}: {msg}");
    }
    let view = sb.get("/api/v1/clients/codex").await;
    assert_eq!(view["spent_month_usd"], (3 * cost) as f64 / 1e6);
    // The usage totals carry the same spend.
    let usage = sb
        .get(&format!(
            "/api/v1/usage?group_by=client&since_ms=0&until_ms={}",
            switchboard_store::now_ms() + 86_400_000
        ))
        .await;
    let spent: u64 = usage
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["group"] == "codex")
        .map(|p| p["cost_micros"].as_u64().unwrap())
        .sum();
    assert_eq!(spent, 3 * cost);
}

#[tokio::test]
async fn tpm_limit_holds_exactly_for_streamed_requests_too() {
    let sb = Sb::start(upstream).await;
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]});
    let ir = switchboard_protocol::translate::decode_request(
        switchboard_protocol::Dialect::OpenaiChat,
        &serde_json::to_vec(&body).unwrap(),
    )
    .unwrap();
    let estimate = switchboard_protocol::count_tokens(&ir);
    let stream = |key: String| {
        let req = sb
            .http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(key)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            // Read to the end: the request is over when its stream is.
            let _ = resp.text().await.unwrap();
            status
        }
    };
    assert_eq!(stream(ACCESS.to_owned()).await, 200);
    let one = &sb.logged(1).await[0];
    let used = one.tokens_in + one.tokens_out;
    assert!(used > 0, "the stream reported its usage");
    let tpm = 2 * used + estimate;
    let key = create(&sb, json!({"name": "streamer", "tpm": tpm})).await;
    for i in 0..3 {
        assert_eq!(stream(key.clone()).await, 200, "request {i}");
    }
    assert_eq!(stream(key.clone()).await, 429);
}

#[tokio::test]
async fn config_file_access_keys_belong_to_the_default_client() {
    const FROM_FILE: &str = "sk-sb-from-the-config-file-0123456789";
    let sb = Sb::start(|mock| {
        format!(
            "[server]\naccess_keys = [{FROM_FILE:?}]\n\n{}",
            upstream(mock)
        )
    })
    .await;
    assert_eq!(chat_as(&sb, FROM_FILE, "m").await.status(), 200);
    assert_eq!(sb.chat("m").await.status(), 200);
    let logged = sb.logged(2).await;
    assert!(
        logged
            .iter()
            .all(|r| r.client.as_deref() == Some("default"))
    );
    let default = sb.get("/api/v1/clients/default").await;
    assert_eq!(default["keys"].as_array().unwrap().len(), 2, "{default}");
}
