//! The endpoints clients call besides generation: Gemini `:countTokens` and model lists (as
//! Gemini CLI and `google-genai` call them) and Codex's `/v1/responses/compact`.

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, Fault, MockUpstream};

use crate::common::*;

const A: &str = "sk-key-a-aaaaaaaaaaaaaaaa";
const B: &str = "sk-key-b-bbbbbbbbbbbbbbbb";

/// A Gemini provider (two keys) with a route `gem` and a directly served model with a known
/// window.
fn gemini_upstream(mock: &MockUpstream) -> String {
    format!(
        "[[providers]]\nname = \"g\"\nkind = \"gemini\"\nbase_url = {:?}\n\
         models = [{{ id = \"gemini-direct\", context_window = 1048576, source = \"manual\" }}]\n\
         keys = [{A:?}, {B:?}]\n\n\
         [[routes]]\nalias = \"gem\"\ntargets = [{{ provider = \"g\", model = \"gemini-direct\" }}]\n\n",
        mock.base_url(MockDialect::Gemini)
    )
}

/// A route `local` to a Chat provider: no Gemini target, so token counts are estimated.
fn chat_upstream(mock: &MockUpstream) -> String {
    provider_toml("oa", mock, &["sk-key-oa-cccccccccccccccc"])
        + "[[routes]]\nalias = \"local\"\ntargets = [{ provider = \"oa\", model = \"x\" }]\n"
}

/// A Responses provider with two keys behind the alias `codex`.
fn responses_upstream(mock: &MockUpstream) -> String {
    format!(
        "[[providers]]\nname = \"r\"\nkind = \"openai_responses\"\nbase_url = {:?}\nkeys = [{A:?}, {B:?}]\n\n\
         [[routes]]\nalias = \"codex\"\ntargets = [{{ provider = \"r\", model = \"x\" }}]\n",
        mock.base_url(MockDialect::OpenAiResponses)
    )
}

async fn goog(sb: &Sb, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = sb
        .http
        .request(method, format!("{}{path}", sb.url))
        .header("x-goog-api-key", ACCESS);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

const PROMPT: &str = "Summarise the design of a local router for language models in two lines.";

#[tokio::test]
async fn gemini_count_tokens_is_the_local_estimate_without_a_gemini_target() {
    let sb = Sb::start(chat_upstream).await;
    // What `google-genai`'s `models.count_tokens` sends: the contents only.
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]});
    let (status, v) = goog(
        &sb,
        reqwest::Method::POST,
        "/v1beta/models/local:countTokens",
        Some(contents.clone()),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let n = v["totalTokens"].as_u64().unwrap();
    assert!(n > 10, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    // The same estimate as Anthropic's count_tokens for the same conversation.
    let anthropic: Value = sb
        .post(
            "/v1/messages/count_tokens",
            &json!({"model": "local", "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["input_tokens"].as_u64(), Some(n));

    // Under /v1 with `?key=`, and a whole generateContentRequest (system prompt counted too).
    let resp = sb
        .http
        .post(format!(
            "{}/v1/models/local:countTokens?key={ACCESS}",
            sb.url
        ))
        .json(&json!({"generateContentRequest": {
            "model": "models/local",
            "systemInstruction": {"parts": [{"text": "Answer as a senior engineer would."}]},
            "contents": contents["contents"],
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["totalTokens"].as_u64().unwrap() > n, "{v}");

    // Nothing went upstream.
    assert_eq!(sb.mock.request_count(), 0);

    // No key: 401 in Gemini's error shape; a malformed body: 400 in it.
    let resp = sb
        .http
        .post(format!("{}/v1beta/models/local:countTokens", sb.url))
        .json(&contents)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED", "{v}");
    let (status, v) = goog(
        &sb,
        reqwest::Method::POST,
        "/v1beta/models/local:countTokens",
        Some(json!({"contents": "nope"})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
}

#[tokio::test]
async fn gemini_count_tokens_goes_to_gemini_targets_with_failover() {
    let sb = Sb::start(gemini_upstream).await;
    sb.mock
        .push_fault_for_key(A, "fault=429,retry_after=30".parse::<Fault>().unwrap());
    let contents = json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]});
    let (status, v) = goog(
        &sb,
        reqwest::Method::POST,
        "/v1beta/models/gem:countTokens",
        Some(contents.clone()),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    // The mock counts a quarter of the body's bytes: the upstream answered, not the estimate.
    let sent = sb.mock.requests().pop().unwrap();
    assert_eq!(
        v["totalTokens"].as_u64(),
        Some((sent.body.len() / 4) as u64),
        "{v}"
    );
    assert!(
        sent.path.ends_with("/models/gemini-direct:countTokens"),
        "{}",
        sent.path
    );
    assert_eq!(sent.json().unwrap(), contents);
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (1, 1));

    // A whole generateContentRequest names the upstream model.
    let (status, _) = goog(
        &sb,
        reqwest::Method::POST,
        "/v1/models/gem:countTokens",
        Some(json!({"generateContentRequest": {"model": "models/gem", "contents": contents["contents"]}})),
    )
    .await;
    assert_eq!(status, 200);
    let sent = sb.mock.requests().pop().unwrap().json().unwrap();
    assert_eq!(
        sent["generateContentRequest"]["model"],
        "models/gemini-direct"
    );
}

#[tokio::test]
async fn gemini_model_list_and_model_in_gemini_shape() {
    let sb = Sb::start(gemini_upstream).await;
    // `google-genai`'s `models.list` asks for a page size.
    let (status, v) = goog(
        &sb,
        reqwest::Method::GET,
        "/v1beta/models?pageSize=50",
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let models = v["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["models/gem", "models/gemini-direct"]);
    for m in models {
        let methods: Vec<&str> = m["supportedGenerationMethods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert!(methods.contains(&"generateContent"), "{m}");
        assert!(methods.contains(&"countTokens"), "{m}");
        assert!(m["displayName"].is_string(), "{m}");
    }
    assert_eq!(models[0]["inputTokenLimit"], 1_048_576);
    assert_eq!(models[1]["inputTokenLimit"], 1_048_576);
    // No paging: the whole list at once.
    assert!(v.get("nextPageToken").is_none(), "{v}");

    // One model, as `models.get` asks for it (with or without the `models/` prefix).
    let (status, m) = goog(&sb, reqwest::Method::GET, "/v1beta/models/gem", None).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["name"], "models/gem");
    assert_eq!(m, models[0]);
    let (status, v) = goog(&sb, reqwest::Method::GET, "/v1beta/models/nope", None).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["status"], "NOT_FOUND", "{v}");

    // A Gemini client under /v1 gets Gemini's shape, an OpenAI client OpenAI's.
    let (status, v) = goog(&sb, reqwest::Method::GET, "/v1/models", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["models"][0]["name"], "models/gem");
    let v: Value = sb.public_get("/v1/models/gem").await;
    assert_eq!(
        (v["id"].as_str(), v["object"].as_str()),
        (Some("gem"), Some("model")),
        "{v}"
    );

    // The same access key as generation: none, or a wrong one, is 401.
    for url in [
        format!("{}/v1beta/models", sb.url),
        format!("{}/v1beta/models/gem", sb.url),
        format!("{}/v1beta/models?key=wrong-key", sb.url),
    ] {
        let resp = sb.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{url}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["status"], "UNAUTHENTICATED", "{v}");
    }
    let resp = sb
        .http
        .get(format!("{}/v1beta/models?key={ACCESS}", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sb.mock.request_count(), 0);
}

/// What Codex sends to `responses/compact`: the conversation so far, its instructions and tools.
fn codex_compaction(model: &str) -> Value {
    json!({
        "model": model,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the failing test."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done: the test passes."}]},
        ],
        "instructions": "You are a coding agent.",
        "tools": [],
        "parallel_tool_calls": false,
        "reasoning": null,
        "text": null,
    })
}

#[tokio::test]
async fn compact_goes_to_the_responses_upstream_with_failover() {
    let sb = Sb::start(responses_upstream).await;
    // Whichever key goes first is rate-limited (once); the other one answers.
    sb.mock
        .push_fault_for_model("x", "fault=429".parse::<Fault>().unwrap());
    let resp = sb
        .post("/v1/responses/compact", &codex_compaction("codex"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "response.compaction", "{v}");
    let output = v["output"].as_array().unwrap();
    assert_eq!(output[0]["role"], "user", "{v}");
    let last = output.last().unwrap();
    assert_eq!(last["type"], "compaction", "{v}");
    assert_eq!(last["encrypted_content"], "mock-compacted:3", "{v}");
    // The client sees its own model name, never the upstream's.
    assert_eq!(v["model"], "codex", "{v}");

    let sent = sb.mock.requests();
    assert_eq!(sent.len(), 2, "one rate-limited attempt, one answer");
    assert!(sent.iter().all(|r| r.path == "/v1/responses/compact"));
    let keys: Vec<_> = sent.iter().map(|r| r.key.clone().unwrap()).collect();
    assert_ne!(keys[0], keys[1], "failed over to the other key");
    let body = sent[1].json().unwrap();
    assert_eq!(body["model"], "x");
    assert_eq!(body["input"], codex_compaction("codex")["input"]);

    // Recorded like any request, with the upstream's usage.
    let rec = sb.logged(1).await;
    assert_eq!(rec[0].status, 200);
    assert_eq!(rec[0].alias, "codex");
    assert!(rec[0].tokens_in > 0, "{:?}", rec[0]);

    // No key: 401 in the Responses error shape, nothing upstream.
    let resp = sb
        .http
        .post(format!("{}/v1/responses/compact", sb.url))
        .json(&codex_compaction("codex"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error", "{v}");
    assert_eq!(sb.mock.request_count(), 2);
}

#[tokio::test]
async fn compact_on_a_chat_upstream_is_a_summary_turn() {
    let sb = Sb::start(|mock| {
        provider_toml("chat", mock, &[A, B])
            + "[[routes]]\nalias = \"codex\"\ntargets = [{ provider = \"chat\", model = \"x\" }]\n"
    })
    .await;
    sb.mock
        .push_fault_for_model("x", "fault=500".parse::<Fault>().unwrap());
    let resp = sb
        .post("/v1/responses/compact", &codex_compaction("codex"))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "response.compaction", "{v}");
    assert_eq!(v["model"], "codex");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"), "{v}");
    // The client's user message as sent, then the summary as a user message.
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 2, "{v}");
    assert_eq!(output[0], codex_compaction("codex")["input"][1]);
    assert_eq!(output[1]["role"], "user");
    let summary = output[1]["content"][0]["text"].as_str().unwrap();
    assert!(summary.contains("Hello from mock model x."), "{summary}");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{v}");

    // Upstream: an ordinary, non-streamed chat turn ending with the request for a summary,
    // tool calls ruled out; the first failed and was retried or failed over.
    let sent = sb.mock.requests();
    assert!(sent.len() >= 2, "{}", sent.len());
    let last = sent.last().unwrap();
    assert_eq!(last.path, "/v1/chat/completions");
    let body = last.json().unwrap();
    assert_ne!(body["stream"], true, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["role"], "user");
    assert!(
        messages.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("summary"),
        "{body}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m["content"] == "Done: the test passes."),
        "{body}"
    );
    // No tools offered here: no tool choice either (one without tools is invalid upstream).
    assert!(
        body.get("tools").is_none() && body.get("tool_choice").is_none(),
        "{body}"
    );

    // An unknown model is the ordinary 404.
    let resp = sb
        .post("/v1/responses/compact", &codex_compaction("nope"))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn compact_on_anthropic_and_gemini_upstreams() {
    let sb = Sb::start(|mock| {
        format!(
            "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = {:?}\nkeys = [{A:?}]\n\n\
             [[providers]]\nname = \"g\"\nkind = \"gemini\"\nbase_url = {:?}\nkeys = [{B:?}]\n\n\
             [[routes]]\nalias = \"via-a\"\ntargets = [{{ provider = \"a\", model = \"claude-x\" }}]\n\n\
             [[routes]]\nalias = \"via-g\"\ntargets = [{{ provider = \"g\", model = \"gemini-x\" }}]\n",
            mock.base_url(MockDialect::Anthropic),
            mock.base_url(MockDialect::Gemini)
        )
    })
    .await;
    for (alias, model, path) in [
        ("via-a", "claude-x", "/v1/messages"),
        (
            "via-g",
            "gemini-x",
            "/v1beta/models/gemini-x:generateContent",
        ),
    ] {
        let resp = sb
            .post("/v1/responses/compact", &codex_compaction(alias))
            .await;
        assert_eq!(resp.status(), 200, "{alias}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "response.compaction", "{v}");
        assert_eq!(v["model"], alias);
        let summary = v["output"][1]["content"][0]["text"].as_str().unwrap();
        assert!(
            summary.contains(&format!("Hello from mock model {model}.")),
            "{summary}"
        );
        let last = sb.mock.requests().pop().unwrap();
        assert_eq!(last.path, path, "{alias}");
    }
}
