//! Hostile upstreams (SECURITY.md T7, T11, T14): providers that echo the key in any form,
//! answer 200 with HTML or a redirect, stall a body, flood a stream before its content or
//! ask for an absurd wait. The mock plays each one by directive.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_mock_upstream::Dialect as MockDialect;
use switchboard_router::health::CooldownPolicy;

use crate::common::*;

/// A base64-style canary: `/`, `+` and `=` inside, as some providers' secrets have.
const CANARY: &str = "sk-CANARY/q8Zx+Lm3Vw=Pt7Rb2Ns9Kd4==";

const KINDS: [(&str, MockDialect); 4] = [
    ("openai_chat", MockDialect::OpenAiChat),
    ("openai_responses", MockDialect::OpenAiResponses),
    ("anthropic", MockDialect::Anthropic),
    ("gemini", MockDialect::Gemini),
];

/// Ways the upstream quotes the key: status and form.
const ECHOES: [&str; 8] = [
    "status=200,echo=plain",
    "status=200,echo=escaped",
    "status=200,echo=url",
    "status=200,echo=partial",
    "status=401,echo=plain",
    "status=400,echo=partial",
    "status=429,echo=url",
    "status=500,echo=escaped",
];

/// What a reader could recover from `text`: JSON `\u` escapes, `\/` and `%XX` decoded.
fn readable(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |s: &[u8]| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'u') {
            if let Some(c) = b.get(i + 2..i + 6).and_then(|h| {
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
            }) && c < 0x80
            {
                out.push(c as u8);
                i += 6;
                continue;
            }
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'/') {
            out.push(b'/');
            i += 2;
            continue;
        } else if b[i] == b'%'
            && let Some(c) = b.get(i + 1..i + 3).and_then(hex)
        {
            out.push(c);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Fails if any 8 characters of the canary can be read in `text`.
fn assert_no_canary(what: &str, text: &str) {
    let seen = readable(text);
    for w in CANARY.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !seen.contains(w),
            "{w:?} of the key leaked into {what}: {text}"
        );
    }
}

/// (path, auth header, body) of a request for `alias` in client dialect `client`.
fn request(client: &str, alias: &str, stream: bool) -> (String, &'static str, Value) {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    match client {
        "openai_chat" => (
            "/v1/chat/completions".into(),
            "authorization",
            json!({"model": alias, "stream": stream, "messages": msgs}),
        ),
        "openai_responses" => (
            "/v1/responses".into(),
            "authorization",
            json!({"model": alias, "stream": stream, "input": "hi"}),
        ),
        "anthropic" => (
            "/v1/messages".into(),
            "x-api-key",
            json!({"model": alias, "stream": stream, "max_tokens": 64, "messages": msgs}),
        ),
        _ => {
            let action = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            (
                format!("/v1beta/models/{alias}:{action}"),
                "x-goog-api-key",
                json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
            )
        }
    }
}

async fn send(sb: &Sb, client: &str, alias: &str, stream: bool) -> (u16, String) {
    let (path, auth, body) = request(client, alias, stream);
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
    let status = resp.status().as_u16();
    let mut text = String::new();
    for (n, v) in resp.headers() {
        text.push_str(&format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    text.push_str(&resp.text().await.unwrap());
    (status, text)
}

/// No cooldown and no breaker may hide a path: every request must reach the upstream.
fn forget_health(sb: &Sb) {
    sb.handle().control().engine().health.retain_keys(|_| false);
}

#[tokio::test]
async fn a_canary_echoed_in_any_form_reaches_no_client_and_no_record() {
    let sb = Sb::start(|mock| {
        let mut toml = String::new();
        for (kind, md) in KINDS {
            toml += &format!(
                // No same-key retries: each request asks the upstream exactly once.
                "[[providers]]\nname = \"p-{kind}\"\nkind = \"{kind}\"\nbase_url = {:?}\nkeys = [{CANARY:?}]\nretry = {{ max_retries = 0 }}\n\n",
                mock.base_url(md)
            );
        }
        for (kind, _) in KINDS {
            for (i, echo) in ECHOES.iter().enumerate() {
                toml += &format!(
                    "[[routes]]\nalias = \"{kind}-{i}\"\ntargets = [{{ provider = \"p-{kind}\", model = \"m@fault=echo_key,{echo}\" }}]\n\n"
                );
            }
        }
        toml
    })
    .await;
    sb.handle()
        .control()
        .engine()
        .health
        .set_policy(CooldownPolicy {
            breaker_threshold: u32::MAX,
            ..CooldownPolicy::default()
        });
    let mut sent = 0;
    for (kind, _) in KINDS {
        for (client, _) in KINDS {
            for (i, echo) in ECHOES.iter().enumerate() {
                for stream in [false, true] {
                    forget_health(&sb);
                    let alias = format!("{kind}-{i}");
                    let (status, text) = send(&sb, client, &alias, stream).await;
                    sent += 1;
                    let what = format!("{kind} → {client} {echo} stream={stream}");
                    assert!(status >= 400 || status == 200, "{what}: {status}");
                    assert_no_canary(&what, &text);
                    assert_eq!(
                        sb.mock.requests().len(),
                        sent,
                        "{what}: the upstream was asked (the echo was really served)"
                    );
                }
            }
        }
    }
    let records = sb.logged(sent).await;
    assert_no_canary("the request log", &serde_json::to_string(&records).unwrap());
}

#[tokio::test]
async fn html_and_redirect_answers_fail_over_to_the_next_key() {
    let sb = Sb::start(|mock| {
        provider_toml(
            "mock",
            mock,
            &["sk-first-key-aaaaaaaa@fault=html", "sk-second-key-bbbbbbbb"],
        ) + "[[providers]]\nname = \"moved\"\nkind = \"openai_chat\"\nbase_url = "
            + &format!("{:?}", mock.base_url(MockDialect::OpenAiChat))
            + "\nkeys = [\"sk-moved-key-cccccccc@fault=redirect\", \"sk-moved-key-dddddddd@fault=redirect,status=302\"]\n\n"
            + "[[routes]]\nalias = \"a\"\ntargets = [{ provider = \"mock\", model = \"m\" }]\n\n"
            + "[[routes]]\nalias = \"r\"\ntargets = [{ provider = \"moved\", model = \"m\" }]\n"
    })
    .await;
    // Both keys take turns being first; whichever is, the client gets the good key's answer.
    for _ in 0..2 {
        forget_health(&sb);
        let resp = sb.chat("a").await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["model"], "a");
        assert!(
            body["choices"][0]["message"]["content"].is_string(),
            "{body}"
        );
    }
    let rows = sb.logged(2).await;
    let html = rows
        .iter()
        .flat_map(|r| &r.attempts)
        .find(|a| a.status == Some(200) && a.outcome == "temporary_error");
    assert!(
        html.is_some(),
        "the HTML 200 counts as the provider's failure: {rows:?}"
    );

    forget_health(&sb);
    let resp = sb.chat("r").await;
    assert_eq!(resp.status(), 502, "a redirect is never relayed");
    assert!(resp.headers().get("location").is_none());
    let rows = sb.logged(3).await;
    let outcomes: Vec<(&str, Option<u16>)> = rows[0]
        .attempts
        .iter()
        .map(|a| (a.outcome.as_str(), a.status))
        .collect();
    assert_eq!(
        outcomes.len(),
        2,
        "both redirecting keys were tried: {outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|(o, s)| *o == "temporary_error" && matches!(s, Some(302 | 307))),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_stalled_body_is_cut_at_the_idle_timeout() {
    let sb = Sb::start(|mock| {
        provider_toml("mock", mock, &["sk-stall-key-aaaaaaaa"]).replace(
            "keys = [",
            "timeouts = { first_byte_ms = 20000, idle_ms = 500, total_ms = 120000 }\nkeys = [",
        ) + "[[routes]]\nalias = \"a\"\ntargets = [{ provider = \"mock\", model = \"m@fault=slow_second_chunk,delay_ms=100000\" }]\n"
    })
    .await;
    let started = std::time::Instant::now();
    let resp = sb.chat("a").await;
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cut at the idle timeout (0.5 s), not the total one (120 s): {:?}",
        started.elapsed()
    );
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].attempts[0].outcome, "temporary_error");
}

#[tokio::test]
async fn an_absurd_retry_after_is_clamped_when_relayed_and_stored() {
    let sb = Sb::start(|mock| {
        provider_toml("mock", mock, &["sk-limit-key-aaaaaaaa"])
            + "[[routes]]\nalias = \"a\"\ntargets = [{ provider = \"mock\", model = \"m@fault=429,retry_after=251605743305\" }]\n"
    })
    .await;
    let max = CooldownPolicy::default().max_hint_ms;
    let resp = sb.chat("a").await;
    assert_eq!(resp.status(), 429);
    let relayed: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(relayed <= max / 1000, "relayed {relayed} s");
    assert!(relayed > 0);
    let entries = sb.handle().control().engine().health.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let until = entries[0].until_ms.unwrap();
    assert!(
        until <= T0 + i64::try_from(max).unwrap(),
        "cooled until {until}, more than the maximum after {T0}"
    );
}

#[tokio::test]
async fn a_flood_before_content_fails_over_within_the_read_ahead_cap() {
    // 24 MiB of `ping` events before any content: over the 8 MiB read-ahead cap, so the
    // attempt fails as the provider's fault and the next key answers.
    let sb = Sb::start(|mock| {
        provider_toml(
            "mock",
            mock,
            &[
                "sk-flood-key-aaaaaaaa@fault=flood,mib=24",
                "sk-calm-key-bbbbbbbb",
            ],
        ) + "[[routes]]\nalias = \"a\"\ntargets = [{ provider = \"mock\", model = \"m\" }]\n"
    })
    .await;
    for _ in 0..2 {
        forget_health(&sb);
        let resp = sb.chat_stream("a").await;
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        let data = sse_data(&text);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
        assert!(
            !text.contains("\"ping\""),
            "nothing of the flood reached the client"
        );
    }
    let rows = sb.logged(2).await;
    assert!(
        rows.iter()
            .flat_map(|r| &r.attempts)
            .any(|a| a.outcome == "temporary_error"),
        "{rows:?}"
    );
}
