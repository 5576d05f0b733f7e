//! Pricing through the real server: a request's cost is computed when it is recorded, from the
//! price table or the provider's own override, cached input priced apart, and stored with it;
//! the table can be replaced (a file of the wrong shape is refused and the old one stays); the
//! model list shows the table's context windows.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// The mock reports 4 of the input tokens as prompt-cache reads (a key directive). Keys
/// with no word in common with the bodies: the router masks key fragments.
fn priced(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    let base = mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat);
    format!(
        "[[providers]]\nname = \"acme\"\nkind = \"openai_chat\"\nbase_url = {base:?}\n\
         keys = [\"sk-r8t2w6y4u1q9@cached=4\"]\nretry = {{ max_retries = 0 }}\n\
         models = [{{ id = \"m\", source = \"manual\", input_price = 2.0, output_price = 8.0, cache_read_price = 0.5 }}]\n\n\
         [[providers]]\nname = \"deepseek\"\nkind = \"openai_chat\"\nbase_url = {base:?}\n\
         keys = [\"sk-h3j5k7l9z2x4@cached=4\"]\nretry = {{ max_retries = 0 }}\n\n\
         [[routes]]\nalias = \"cheap\"\ntargets = [{{ provider = \"acme\", model = \"m\" }}]\n\n\
         [[routes]]\nalias = \"ds\"\ntargets = [{{ provider = \"deepseek\", model = \"deepseek-chat\" }}]\n"
    )
}

/// A dataset entry's price in USD per token, as the bundled file gives it.
fn bundled(entry: &str, field: &str) -> f64 {
    let text = include_str!("../../../router/data/model_prices.json");
    let table: Value = serde_json::from_str(text).unwrap();
    table[entry][field]
        .as_f64()
        .unwrap_or_else(|| panic!("{entry}.{field}"))
}

async fn one(sb: &Sb, alias: &str, n: usize) -> switchboard_router::log::RequestRecord {
    let resp = sb.chat(alias).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let rows = sb.logged(n).await;
    rows.into_iter().next().unwrap()
}

#[tokio::test]
async fn the_stored_cost_prices_cached_input_apart_and_an_override_wins_over_the_table() {
    let sb = Sb::start(priced).await;

    // The provider's own prices (USD per million tokens = micro-dollars per token).
    let r = one(&sb, "cheap", 1).await;
    assert_eq!(r.tokens_cached, 4);
    assert!(r.tokens_in > 4 && r.tokens_out > 0, "{r:?}");
    let by_hand = (r.tokens_in - 4) * 2 + 4 / 2 + r.tokens_out * 8;
    assert_eq!(r.cost_micros, Some(by_hand));

    // The table's prices for a provider named after the dataset's family.
    let r = one(&sb, "ds", 2).await;
    assert_eq!(r.provider.as_deref(), Some("deepseek"));
    let per_token = |f| bundled("deepseek/deepseek-chat", f) * 1e6;
    let by_hand = ((r.tokens_in - 4) as f64 * per_token("input_cost_per_token")
        + 4.0 * per_token("cache_read_input_token_cost")
        + r.tokens_out as f64 * per_token("output_cost_per_token"))
    .round() as u64;
    assert_eq!(r.cost_micros, Some(by_hand));

    // An override for this provider and model wins over the table.
    let (status, v) = sb
        .admin(
            Method::PUT,
            "/api/v1/prices/model?provider=deepseek&model=deepseek-chat",
            Some(json!({"input": 1.0, "output": 3.0, "cache_read": null, "cache_write": null, "reasoning": null})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["overridden"], true);
    let r = one(&sb, "ds", 3).await;
    // Fields left null keep the table's: 4 cached tokens at $0.028/M round to nothing.
    assert_eq!(r.cost_micros, Some((r.tokens_in - 4) + r.tokens_out * 3));

    // The usage totals add the stored costs.
    let usage = sb.get("/api/v1/usage?group_by=provider&since_ms=0").await;
    let rows = sb.logged(3).await;
    for provider in ["acme", "deepseek"] {
        let stored: u64 = rows
            .iter()
            .filter(|r| r.provider.as_deref() == Some(provider))
            .filter_map(|r| r.cost_micros)
            .sum();
        let summed: u64 = usage
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["group"] == provider)
            .map(|p| p["cost_micros"].as_u64().unwrap())
            .sum();
        assert_eq!(summed, stored, "{provider}: {usage}");
    }

    // Bad prices are refused naming the field.
    let (status, v) = sb
        .admin(
            Method::PUT,
            "/api/v1/prices/model?provider=deepseek&model=deepseek-chat",
            Some(json!({"input": -1.0})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "input", "{v}");
}

#[tokio::test]
async fn a_loaded_table_replaces_the_bundled_one_and_a_bad_file_changes_nothing() {
    let sb = Sb::start(priced).await;
    let before = sb.get("/api/v1/prices").await;
    assert!(before["models"].as_u64().unwrap() > 1000, "{before}");
    assert!(before["loaded_at_ms"].is_null());

    // The model list shows the table's context window for a routed model.
    let models: Value = sb.public_get("/v1/models").await;
    let ds = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "ds")
        .unwrap();
    assert_eq!(
        ds["context_window"].as_u64(),
        Some(bundled("deepseek/deepseek-chat", "max_input_tokens") as u64)
    );

    let put = |body: &'static str| {
        let http = sb.http.clone();
        let url = format!("{}/api/v1/prices?source=test-file", sb.url);
        async move {
            let resp = http
                .put(url)
                .bearer_auth(ADMIN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = put(
        r#"{"deepseek/deepseek-chat":{"litellm_provider":"deepseek","mode":"chat","input_cost_per_token":1e-05,"output_cost_per_token":2e-05,"max_input_tokens":4096}}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["source"].as_str(), v["models"].as_u64()),
        (Some("test-file"), Some(1))
    );
    let r = one(&sb, "ds", 1).await;
    assert_eq!(r.cost_micros, Some(r.tokens_in * 10 + r.tokens_out * 20));

    // Wrong shape: refused naming the entry and field; the loaded table stays.
    let (status, v) = put(
        r#"{"good":{"input_cost_per_token":1e-06},"bad":{"mode":"chat","output_cost_per_token":"free"}}"#,
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "bad → output_cost_per_token", "{v}");
    let after = sb.get("/api/v1/prices").await;
    assert_eq!(after["source"], "test-file");
    let r = one(&sb, "ds", 2).await;
    assert_eq!(r.cost_micros, Some(r.tokens_in * 10 + r.tokens_out * 20));
}
