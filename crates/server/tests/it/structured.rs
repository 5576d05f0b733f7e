//! Structured output through the real server: every client dialect asking for JSON with a
//! schema, against every upstream dialect, streamed and not, gets back JSON that validates
//! against the schema. The mock upstream answers 400 unless the schema reached it in its own
//! dialect's form (JSON Schema, within what that provider accepts), so a 200 also proves the
//! translation; the recorded bodies are checked for the field each provider reads.

use serde_json::{Value, json};
use switchboard_mock_upstream::Dialect as MockDialect;

use crate::common::*;

const KINDS: [(&str, MockDialect); 4] = [
    ("openai_chat", MockDialect::OpenAiChat),
    ("openai_responses", MockDialect::OpenAiResponses),
    ("anthropic", MockDialect::Anthropic),
    ("gemini", MockDialect::Gemini),
];

/// The schema every client asks for, as JSON Schema.
fn person() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "nickname": {"type": ["string", "null"]},
        },
        "required": ["name", "age", "tags", "nickname"],
        "additionalProperties": false,
    })
}

/// The same schema in Gemini's `responseSchema` form: upper-case types and `nullable`.
fn person_gemini() -> Value {
    json!({
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING"},
            "age": {"type": "INTEGER"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "nickname": {"type": "STRING", "nullable": true},
        },
        "required": ["name", "age", "tags", "nickname"],
        "propertyOrdering": ["name", "age", "tags", "nickname"],
    })
}

fn upstreams(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    let mut toml = String::new();
    // Keys with no word in common with the bodies: the router masks key fragments.
    for (i, (kind, md)) in KINDS.into_iter().enumerate() {
        toml += &format!(
            "[[providers]]\nname = \"p-{kind}\"\nkind = \"{kind}\"\nbase_url = {:?}\nkeys = [\"sk-q7x9z{i}k2wv4b8\"]\n\n",
            mock.base_url(md)
        );
        toml += &format!(
            "[[routes]]\nalias = \"to-{kind}\"\ntargets = [{{ provider = \"p-{kind}\", model = \"m\" }}]\n\n"
        );
    }
    toml
}

/// How a client asks: a schema (its dialect's form) or any JSON object.
#[derive(Clone, Copy, PartialEq)]
enum Ask {
    Schema,
    AnyObject,
}

/// (path, auth header, body) of a structured-output request in client dialect `client`.
fn request(client: &str, alias: &str, stream: bool, ask: Ask) -> (String, &'static str, Value) {
    let msgs = json!([{"role": "user", "content": "Describe Ada as JSON."}]);
    match client {
        "openai_chat" => {
            let format = match ask {
                Ask::Schema => {
                    json!({"type": "json_schema", "json_schema": {"name": "person", "schema": person(), "strict": true}})
                }
                Ask::AnyObject => json!({"type": "json_object"}),
            };
            (
                "/v1/chat/completions".into(),
                "authorization",
                json!({"model": alias, "stream": stream, "messages": msgs, "response_format": format}),
            )
        }
        "openai_responses" => {
            let format = match ask {
                Ask::Schema => {
                    json!({"type": "json_schema", "name": "person", "schema": person(), "strict": true})
                }
                Ask::AnyObject => json!({"type": "json_object"}),
            };
            (
                "/v1/responses".into(),
                "authorization",
                json!({"model": alias, "stream": stream, "input": "Describe Ada as JSON.", "text": {"format": format}}),
            )
        }
        "anthropic" => (
            "/v1/messages".into(),
            "x-api-key",
            json!({"model": alias, "stream": stream, "max_tokens": 256, "messages": msgs,
                   "output_config": {"format": {"type": "json_schema", "schema": person()}}}),
        ),
        _ => {
            let action = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            let mut gc = json!({"responseMimeType": "application/json"});
            if ask == Ask::Schema {
                gc["responseSchema"] = person_gemini();
            }
            (
                format!("/v1beta/models/{alias}:{action}"),
                "x-goog-api-key",
                json!({"contents": [{"role": "user", "parts": [{"text": "Describe Ada as JSON."}]}],
                       "generationConfig": gc}),
            )
        }
    }
}

async fn send(sb: &Sb, client: &str, alias: &str, stream: bool, ask: Ask) -> (u16, String) {
    let (path, auth, body) = request(client, alias, stream, ask);
    let value = if auth == "authorization" {
        format!("Bearer {ACCESS}")
    } else {
        ACCESS.to_owned()
    };
    let resp = sb
        .http
        .post(format!("{}{path}", sb.url))
        .header(auth, value)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The answer text of a response (or of a stream, its text deltas joined) in `client`'s
/// dialect.
fn answer_text(client: &str, stream: bool, body: &str) -> String {
    let docs: Vec<Value> = if stream {
        sse_data(body)
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    } else {
        vec![serde_json::from_str(body).unwrap()]
    };
    let mut text = String::new();
    for d in &docs {
        match (client, stream) {
            ("openai_chat", false) => {
                text += d["choices"][0]["message"]["content"].as_str().unwrap_or("")
            }
            ("openai_chat", true) => {
                text += d["choices"][0]["delta"]["content"].as_str().unwrap_or("")
            }
            ("openai_responses", false) => {
                for item in d["output"].as_array().unwrap() {
                    for c in item["content"].as_array().into_iter().flatten() {
                        text += c["text"].as_str().unwrap_or("");
                    }
                }
            }
            ("openai_responses", true) => {
                if d["type"] == "response.output_text.delta" {
                    text += d["delta"].as_str().unwrap();
                }
            }
            ("anthropic", false) => {
                for b in d["content"].as_array().unwrap() {
                    assert_eq!(b["type"], "text", "{body}");
                    text += b["text"].as_str().unwrap();
                }
            }
            ("anthropic", true) => {
                if d["delta"]["type"] == "text_delta" {
                    text += d["delta"]["text"].as_str().unwrap();
                }
            }
            _ => {
                for p in d["candidates"][0]["content"]["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    text += p["text"].as_str().unwrap_or("");
                }
            }
        }
    }
    text
}

/// Validates `v` against the JSON Schema keywords these tests use.
fn validate(v: &Value, s: &Value, at: &str) -> Result<(), String> {
    let fits = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    };
    let ok = match &s["type"] {
        Value::String(t) => fits(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(fits),
        _ => true,
    };
    if !ok {
        return Err(format!("{at}: {v} is not of type {}", s["type"]));
    }
    if let Some(o) = v.as_object() {
        let props = s["properties"].as_object();
        for r in s["required"].as_array().into_iter().flatten() {
            if !o.contains_key(r.as_str().unwrap()) {
                return Err(format!("{at}: missing required {r}"));
            }
        }
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(val, ps, &format!("{at}.{k}"))?,
                None if s["additionalProperties"] == false => {
                    return Err(format!("{at}: unexpected property {k}"));
                }
                None => {}
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), s.get("items")) {
        for (i, item) in a.iter().enumerate() {
            validate(item, items, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Where each upstream dialect reads the schema in a request body.
fn upstream_schema(kind: &str, body: &Value) -> Value {
    match kind {
        "openai_chat" => body["response_format"]["json_schema"]["schema"].clone(),
        "openai_responses" => body["text"]["format"]["schema"].clone(),
        "anthropic" => body["output_config"]["format"]["schema"].clone(),
        _ => {
            let gc = &body["generationConfig"];
            if gc["responseJsonSchema"].is_object() {
                gc["responseJsonSchema"].clone()
            } else {
                gc["responseSchema"].clone()
            }
        }
    }
}

#[tokio::test]
async fn every_client_gets_json_fitting_its_schema_from_every_upstream() {
    let sb = Sb::start(upstreams).await;
    for (upstream, _) in KINDS {
        for (client, _) in KINDS {
            for stream in [false, true] {
                let what = format!("{client} → {upstream} stream={stream}");
                let (status, body) =
                    send(&sb, client, &format!("to-{upstream}"), stream, Ask::Schema).await;
                assert_eq!(status, 200, "{what}: {body}");
                let text = answer_text(client, stream, &body);
                let answer: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text:?} in {body}"));
                validate(&answer, &person(), "$").unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(answer["nickname"], "mock", "{what}: every property filled");

                let sent = sb.mock.requests().pop().unwrap().json().unwrap();
                let schema = upstream_schema(upstream, &sent);
                assert!(schema.is_object(), "{what}: no schema upstream: {sent}");
                if client == "gemini" && upstream != "gemini" {
                    // Gemini's upper-case types and `nullable` arrive as JSON Schema.
                    assert_eq!(schema["type"], "object", "{what}");
                    assert_eq!(schema["properties"]["age"]["type"], "integer", "{what}");
                    assert_eq!(schema["properties"]["tags"]["type"], "array", "{what}");
                    assert_eq!(
                        schema["properties"]["nickname"]["type"],
                        json!(["string", "null"]),
                        "{what}"
                    );
                    assert!(schema.get("propertyOrdering").is_none(), "{what}");
                }
            }
        }
    }
}

/// "Any JSON object" (Chat `json_object`, Responses `json_object`, Gemini
/// `responseMimeType` alone) reaches every upstream; Anthropic, which has no native form, gets
/// the forced-tool technique and the tool input comes back as the message text.
#[tokio::test]
async fn any_json_object_comes_back_as_json_text_from_every_upstream() {
    let sb = Sb::start(upstreams).await;
    for (upstream, _) in KINDS {
        for client in ["openai_chat", "openai_responses", "gemini"] {
            for stream in [false, true] {
                let what = format!("{client} → {upstream} stream={stream}");
                let (status, body) = send(
                    &sb,
                    client,
                    &format!("to-{upstream}"),
                    stream,
                    Ask::AnyObject,
                )
                .await;
                assert_eq!(status, 200, "{what}: {body}");
                let text = answer_text(client, stream, &body);
                let answer: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text:?} in {body}"));
                assert!(answer.is_object(), "{what}: {answer}");
                if upstream == "anthropic" {
                    let sent = sb.mock.requests().pop().unwrap().json().unwrap();
                    assert_eq!(sent["tool_choice"]["type"], "tool", "{what}: {sent}");
                    // The client sees a plain answer, not a tool call.
                    assert!(!body.contains("json_response"), "{what}: {body}");
                }
            }
        }
    }
}

/// Gemini function declarations in Gemini's schema dialect (`parameters` with upper-case types
/// and `nullable`) reach every upstream in the form it takes: the mock answers 400 to a tool
/// schema it would reject, and calls the tool otherwise.
#[tokio::test]
async fn gemini_tool_declarations_reach_every_upstream_as_their_schema_form() {
    let sb = Sb::start(upstreams).await;
    let decl = json!({
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "city": {"type": "STRING"},
                "days": {"type": "INTEGER", "nullable": true},
                "units": {"type": "ARRAY", "items": {"type": "STRING"}},
            },
            "required": ["city"],
        },
    });
    for (upstream, _) in KINDS {
        let what = format!("gemini → {upstream}");
        let body = json!({
            "contents": [{"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}],
            "tools": [{"functionDeclarations": [decl]}],
        });
        let resp = sb
            .http
            .post(format!(
                "{}/v1beta/models/to-{upstream}:generateContent",
                sb.url
            ))
            .header("x-goog-api-key", ACCESS)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let reply: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{what}: {reply}");
        assert_eq!(
            reply["candidates"][0]["content"]["parts"][0]["functionCall"]["name"], "get_weather",
            "{what}: {reply}"
        );
        let sent = sb.mock.requests().pop().unwrap().json().unwrap();
        let params = match upstream {
            "openai_chat" => sent["tools"][0]["function"]["parameters"].clone(),
            "openai_responses" => sent["tools"][0]["parameters"].clone(),
            "anthropic" => sent["tools"][0]["input_schema"].clone(),
            // Same dialect: passed through untouched.
            _ => sent["tools"][0]["functionDeclarations"][0]["parameters"].clone(),
        };
        if upstream == "gemini" {
            assert_eq!(params, decl["parameters"], "{what}");
        } else {
            assert_eq!(params["type"], "object", "{what}: {params}");
            assert_eq!(
                params["properties"]["days"]["type"],
                json!(["integer", "null"]),
                "{what}: {params}"
            );
        }
    }
}
