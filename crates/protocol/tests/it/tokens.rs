//! The local token estimate against counts published by Anthropic.

use serde_json::json;
use switchboard_protocol::{Dialect, count_tokens, decode_request};

fn within_ten_percent(estimate: u64, known: u64) -> bool {
    estimate.abs_diff(known) * 10 <= known
}

/// The two worked examples of Anthropic's token-counting guide
/// (docs.anthropic.com, "Token counting"): a system prompt with one message counts 14 input
/// tokens; the `get_weather` tool example counts 403 (most of it the tool-use system prompt).
#[test]
fn matches_anthropics_published_examples() {
    let cases = [
        (
            json!({
                "model": "claude-sonnet-4-5",
                "system": "You are a scientist",
                "messages": [{"role": "user", "content": "Hello, Claude"}],
            }),
            14,
        ),
        (
            json!({
                "model": "claude-sonnet-4-5",
                "tools": [{
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "input_schema": {
                        "type": "object",
                        "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                        "required": ["location"],
                    },
                }],
                "messages": [{"role": "user", "content": "What's the weather like in San Francisco?"}],
            }),
            403,
        ),
    ];
    for (body, known) in cases {
        let req = decode_request(Dialect::Anthropic, body.to_string().as_bytes()).unwrap();
        let estimate = count_tokens(&req);
        assert!(
            within_ten_percent(estimate, known),
            "estimate {estimate} vs known {known}"
        );
    }
}

#[test]
fn grows_with_content() {
    let short = decode_request(
        Dialect::OpenaiChat,
        br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .unwrap();
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(100);
    let long = decode_request(
        Dialect::OpenaiChat,
        json!({"model": "m", "messages": [{"role": "user", "content": text}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    // ~10 tokens per sentence in every BPE vocabulary in use.
    let n = count_tokens(&long);
    assert!(count_tokens(&short) < 10);
    assert!((900..=1100).contains(&n), "{n}");
}
