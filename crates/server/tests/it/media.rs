//! The media endpoints (embeddings, audio, images) with the same key pools and failover as
//! generation; forms sent through byte for byte with only `model` replaced; 413 for an
//! oversize upload before its body is read; 400 for an alias that cannot serve the endpoint;
//! and `GET` / `DELETE /v1/responses/{id}` for the conversations the router keeps.

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, Fault, MockUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const A: &str = "sk-media-a-aaaaaaaaaaaaaaaa";
const B: &str = "sk-media-b-bbbbbbbbbbbbbbbb";
const GA: &str = "sk-gem-a-aaaaaaaaaaaaaaaaaa";
const GB: &str = "sk-gem-b-bbbbbbbbbbbbbbbbbb";

fn upstreams(mock: &MockUpstream) -> String {
    format!(
        "[[providers]]\nname = \"oa\"\nkind = \"openai_chat\"\nbase_url = {oa:?}\nkeys = [{A:?}, {B:?}]\n\
         models = [{{ id = \"text-embedding-3-small\", input_price = 20.0, source = \"manual\" }}]\n\n\
         [[providers]]\nname = \"g\"\nkind = \"gemini\"\nbase_url = {g:?}\nkeys = [{GA:?}, {GB:?}]\n\n\
         [[providers]]\nname = \"an\"\nkind = \"anthropic\"\nbase_url = {an:?}\nkeys = [\"sk-ant-key-cccccccccccc\"]\n\n\
         [[routes]]\nalias = \"emb\"\ntargets = [{{ provider = \"oa\", model = \"text-embedding-3-small\" }}]\n\n\
         [[routes]]\nalias = \"gemb\"\ntargets = [{{ provider = \"g\", model = \"gemini-embedding-001\" }}]\n\n\
         [[routes]]\nalias = \"stt\"\ntargets = [{{ provider = \"oa\", model = \"whisper-1\" }}]\n\n\
         [[routes]]\nalias = \"tts\"\ntargets = [{{ provider = \"oa\", model = \"tts-1\" }}]\n\n\
         [[routes]]\nalias = \"img\"\ntargets = [{{ provider = \"oa\", model = \"gpt-image-1\" }}]\n\n\
         [[routes]]\nalias = \"claude-only\"\ntargets = [{{ provider = \"an\", model = \"claude-x\" }}]\n\n\
         [[routes]]\nalias = \"mixed\"\ntargets = [{{ provider = \"an\", model = \"claude-x\" }}, {{ provider = \"g\", model = \"gemini-embedding-001\" }}]\n",
        oa = mock.base_url(MockDialect::OpenAiChat),
        g = mock.base_url(MockDialect::Gemini),
        an = mock.base_url(MockDialect::Anthropic),
    )
}

fn rate_limited() -> Fault {
    "fault=429,retry_after=30".parse().unwrap()
}

/// A mono 16-bit WAV of `seconds` at 8 kHz (silence).
fn wav(seconds: u32) -> Vec<u8> {
    let data_len = 8000 * 2 * seconds;
    let mut w = b"RIFF".to_vec();
    w.extend((36 + data_len).to_le_bytes());
    w.extend(b"WAVEfmt ");
    w.extend(16u32.to_le_bytes());
    w.extend(1u16.to_le_bytes());
    w.extend(1u16.to_le_bytes());
    w.extend(8000u32.to_le_bytes());
    w.extend(16000u32.to_le_bytes());
    w.extend(2u16.to_le_bytes());
    w.extend(16u16.to_le_bytes());
    w.extend(b"data");
    w.extend(data_len.to_le_bytes());
    w.extend(std::iter::repeat_n(0u8, data_len as usize));
    w
}

const BOUNDARY: &str = "sbTestBoundary7MA4YWxk";

/// A multipart form: text fields, then one file part.
fn form(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    let (name, filename, bytes) = file;
    out.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").bytes());
    out.extend_from_slice(bytes);
    out.extend(format!("\r\n--{BOUNDARY}--\r\n").bytes());
    out
}

async fn post_form(sb: &Sb, path: &str, body: Vec<u8>) -> reqwest::Response {
    sb.http
        .post(format!("{}{path}", sb.url))
        .bearer_auth(ACCESS)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The record of the newest request once `n` are logged.
async fn newest(sb: &Sb, n: usize) -> switchboard_router::log::RequestRecord {
    sb.logged(n).await.remove(0)
}

#[tokio::test]
async fn embeddings_fail_over_to_the_second_key_and_count_tokens() {
    let sb = Sb::start(upstreams).await;
    sb.mock.push_fault_for_key(A, rate_limited());
    let r = sb
        .post(
            "/v1/embeddings",
            &json!({"model": "emb", "input": ["a cat", "a dog"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["model"], "emb");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (1, 1));
    let sent = sb.mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.json().unwrap()["model"], "text-embedding-3-small");
    let keys = sb.get("/api/v1/keys").await;
    let first = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["provider"] == "oa" && k["last4"] == "aaaa")
        .unwrap();
    assert_eq!(first["state"], "cooling", "{first}");
    assert_eq!(first["reason"], "rate_limited");
    let rec = newest(&sb, 1).await;
    assert_eq!(rec.status, 200);
    assert_eq!(rec.attempts.len(), 2);
    assert_eq!(rec.attempts[0].outcome, "rate_limited");
    assert_eq!(
        rec.upstream_model.as_deref(),
        Some("text-embedding-3-small")
    );
    assert_eq!(rec.tokens_in, v["usage"]["prompt_tokens"].as_u64().unwrap());
    // Priced by its input tokens (20 USD per million here).
    assert_eq!(rec.cost_micros, Some(rec.tokens_in * 20), "{rec:?}");
}

#[tokio::test]
async fn gemini_targets_get_embed_content_and_answer_in_openai_shape() {
    let sb = Sb::start(upstreams).await;
    sb.mock.push_fault_for_key(GA, rate_limited());
    let r = sb
        .post(
            "/v1/embeddings",
            &json!({"model": "gemb", "input": "hello", "dimensions": 4}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "gemb");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 4);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        (sb.mock.count_for_key(GA), sb.mock.count_for_key(GB)),
        (1, 1)
    );
    let sent = sb.mock.requests().pop().unwrap();
    assert!(
        sent.path
            .ends_with("/models/gemini-embedding-001:embedContent"),
        "{}",
        sent.path
    );
    assert_eq!(sent.json().unwrap()["content"]["parts"][0]["text"], "hello");
    assert!(sent.headers.get("authorization").is_none());

    // Several inputs, base64 (the OpenAI SDKs' default): batchEmbedContents.
    let r = sb
        .post(
            "/v1/embeddings",
            &json!({"model": "gemb", "input": ["a", "b", "c"], "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert!(v["data"][2]["embedding"].is_string());
    let sent = sb.mock.requests().pop().unwrap();
    assert!(sent.path.ends_with(":batchEmbedContents"), "{}", sent.path);
    assert_eq!(
        sent.json().unwrap()["requests"][0]["model"],
        "models/gemini-embedding-001"
    );
}

#[tokio::test]
async fn transcription_forms_go_through_byte_for_byte_and_fail_over() {
    let sb = Sb::start(upstreams).await;
    sb.mock.push_fault_for_key(A, rate_limited());
    let audio = wav(2);
    let body = form(&[("model", "stt")], ("file", "speech.wav", &audio));
    let r = post_form(&sb, "/v1/audio/transcriptions", body.clone()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["text"],
        format!("Mock transcript of {} bytes.", audio.len())
    );
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (1, 1));
    let sent = sb.mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/audio/transcriptions");
    assert_eq!(
        sent.headers.get("content-type").unwrap(),
        &format!("multipart/form-data; boundary={BOUNDARY}")
    );
    // Only the model changed.
    let expected = form(&[("model", "whisper-1")], ("file", "speech.wav", &audio));
    assert!(sent.body[..] == expected[..], "the form was altered");
    let rec = newest(&sb, 1).await;
    assert_eq!(rec.audio_ms, Some(2000), "{rec:?}");
    assert_eq!(rec.attempts.len(), 2);

    // A translation asked for as text: the transcript passes as plain text.
    let body = form(
        &[("model", "stt"), ("response_format", "text")],
        ("file", "speech.wav", &audio),
    );
    let r = post_form(&sb, "/v1/audio/translations", body).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        r.text().await.unwrap(),
        format!("Mock transcript of {} bytes.", audio.len())
    );
    assert_eq!(
        sb.mock.requests().pop().unwrap().path,
        "/v1/audio/translations"
    );
}

#[tokio::test]
async fn speech_is_streamed_back_as_audio_after_failover() {
    let sb = Sb::start(upstreams).await;
    sb.mock.push_fault_for_key(A, rate_limited());
    let r = sb
        .post(
            "/v1/audio/speech",
            &json!({"model": "tts", "input": "Hello there", "voice": "alloy"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let bytes = r.bytes().await.unwrap();
    let mut expected = b"ID3\x04\x00mock-audio:".to_vec();
    expected.extend(b"Hello there".iter().map(|b| b + 1));
    assert_eq!(&bytes[..], &expected[..]);
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (1, 1));
    assert_eq!(
        sb.mock.requests().pop().unwrap().json().unwrap()["model"],
        "tts-1"
    );
    let rec = newest(&sb, 1).await;
    assert_eq!(rec.status, 200);
    assert_eq!(rec.provider.as_deref(), Some("oa"));

    // Audio that spells the serving key across the mock's three chunks: masked all the same.
    let spelled: String = B.bytes().map(|b| char::from(b - 1)).collect();
    let r = sb
        .post(
            "/v1/audio/speech",
            &json!({"model": "tts", "input": spelled, "voice": "alloy"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(B), "{text}");
    assert!(text.starts_with("ID3\u{4}\0mock-audio:****"), "{text}");
}

#[tokio::test]
async fn images_are_generated_and_edited_and_counted() {
    let sb = Sb::start(upstreams).await;
    sb.mock.push_fault_for_key(A, rate_limited());
    let r = sb
        .post(
            "/v1/images/generations",
            &json!({"model": "img", "prompt": "a lighthouse", "n": 2}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["data"][0]["b64_json"].is_string());
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (1, 1));
    let rec = newest(&sb, 1).await;
    assert_eq!(rec.images, Some(2));

    let body = form(
        &[("model", "img"), ("prompt", "add a boat")],
        ("image", "in.png", b"\x89PNG fake"),
    );
    let r = post_form(&sb, "/v1/images/edits", body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let sent = sb.mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/images/edits");
    assert!(
        String::from_utf8_lossy(&sent.body).contains("\r\n\r\ngpt-image-1\r\n"),
        "the model was replaced in the form"
    );
}

#[tokio::test]
async fn an_oversize_upload_is_refused_with_413_before_its_body_is_read() {
    let sb = Sb::start(upstreams).await;
    let mut settings = sb.get("/api/v1/settings").await;
    settings["body_limit_bytes"] = json!(4096);
    assert_eq!(
        sb.admin(reqwest::Method::PUT, "/api/v1/settings", Some(settings))
            .await
            .0,
        200
    );
    // Headers only, announcing 10 MB: the answer comes without a byte of the body sent.
    let addr = sb.url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ACCESS}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 10000000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("invalid_request_error"), "{answer}");

    // A chunked upload (no length announced) is cut off at the limit.
    let audio = wav(1);
    let body = form(&[("model", "stt")], ("file", "big.wav", &audio));
    let stream = futures_util::stream::iter(
        body.chunks(1024)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let r = sb
        .http
        .post(format!("{}/v1/audio/transcriptions", sb.url))
        .bearer_auth(ACCESS)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(sb.mock.request_count(), 0);
}

#[tokio::test]
async fn an_alias_whose_targets_cannot_serve_the_endpoint_is_a_400_naming_both() {
    let sb = Sb::start(upstreams).await;
    let r = sb
        .post(
            "/v1/embeddings",
            &json!({"model": "claude-only", "input": "x"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("claude-only") && msg.contains("/v1/embeddings"),
        "{msg}"
    );
    // Gemini serves embeddings only.
    let r = sb
        .post(
            "/v1/audio/speech",
            &json!({"model": "gemb", "input": "x", "voice": "alloy"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let msg = r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("gemb") && msg.contains("/v1/audio/speech"),
        "{msg}"
    );
    assert_eq!(sb.mock.request_count(), 0);
    // A route mixing kinds uses the targets that can.
    let r = sb
        .post("/v1/embeddings", &json!({"model": "mixed", "input": "x"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.mock.request_count(), 1);
}

#[tokio::test]
async fn kept_responses_are_read_and_deleted_by_their_own_credential_only() {
    let sb = Sb::start(|mock| {
        provider_toml("chat", mock, &[A])
            + "[[routes]]\nalias = \"codex-model\"\ntargets = [{ provider = \"chat\", model = \"x\" }]\n"
    })
    .await;
    let first: Value = sb
        .post(
            "/v1/responses",
            &json!({"model": "codex-model", "input": "Remember me."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    let got = sb.public_get(&format!("/v1/responses/{id}")).await;
    assert_eq!(got, first);

    // Another client's credential sees nothing and deletes nothing.
    let (status, v) = sb
        .admin(
            reqwest::Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let other = v["key"].as_str().unwrap().to_owned();
    let as_other = |method: reqwest::Method| {
        sb.http
            .request(method, format!("{}/v1/responses/{id}", sb.url))
            .bearer_auth(&other)
            .send()
    };
    let r = as_other(reqwest::Method::GET).await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains(&id));
    assert_eq!(
        as_other(reqwest::Method::DELETE).await.unwrap().status(),
        404
    );

    let r = sb
        .http
        .delete(format!("{}/v1/responses/{id}", sb.url))
        .bearer_auth(ACCESS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"id": id, "object": "response.deleted", "deleted": true})
    );
    let r = sb
        .http
        .get(format!("{}/v1/responses/{id}", sb.url))
        .bearer_auth(ACCESS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );
}

/// A Gemini client's embedding request (`google-genai`'s `embed_content`).
async fn gemini_embed(sb: &Sb, model: &str, body: Value) -> (u16, Value) {
    let r = sb
        .http
        .post(format!(
            "{}/v1beta/models/{model}:batchEmbedContents",
            sb.url
        ))
        .header("x-goog-api-key", ACCESS)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn gemini_clients_embed_through_gemini_and_openai_targets() {
    let sb = Sb::start(upstreams).await;
    sb.mock.push_fault_for_key(GA, rate_limited());
    let body = json!({"requests": [
        {"model": "models/gemb", "content": {"parts": [{"text": "one"}]}},
        {"model": "models/gemb", "content": {"parts": [{"text": "two"}]}},
    ]});
    let (status, v) = gemini_embed(&sb, "gemb", body.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(
        (sb.mock.count_for_key(GA), sb.mock.count_for_key(GB)),
        (1, 1)
    );
    let sent = sb.mock.requests().pop().unwrap();
    assert!(
        sent.path
            .ends_with("/models/gemini-embedding-001:batchEmbedContents"),
        "{}",
        sent.path
    );
    assert_eq!(
        sent.json().unwrap()["requests"][1]["model"],
        "models/gemini-embedding-001"
    );

    // On an OpenAI-compatible target: translated both ways.
    let (status, v) = gemini_embed(&sb, "emb", body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["embeddings"][1]["values"].as_array().unwrap().len(), 8);
    let sent = sb.mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.json().unwrap()["input"], json!(["one", "two"]));

    // An alias that cannot embed: 400 in Gemini's shape.
    let (status, v) = gemini_embed(&sb, "claude-only", json!({"requests": []})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
}

#[tokio::test]
async fn keys_echoed_by_a_media_upstream_never_reach_the_client() {
    let sb = Sb::start(upstreams).await;
    sb.mock
        .push_fault_for_key(A, "fault=echo_key,status=401,echo=partial".parse().unwrap());
    sb.mock
        .push_fault_for_key(B, "fault=echo_key,status=200,echo=escaped".parse().unwrap());
    let body = form(&[("model", "stt")], ("file", "a.wav", &wav(1)));
    let r = post_form(&sb, "/v1/audio/transcriptions", body).await;
    assert_ne!(r.status(), 200);
    let raw = r.text().await.unwrap();
    // Read through JSON escapes too (B's echo is `\u`-escaped).
    let text = format!("{raw}{}", serde_json::from_str::<Value>(&raw).unwrap());
    for key in [A, B] {
        // No run of eight bytes of either key after its public `sk-media-` prefix.
        for w in key.as_bytes()[9..].windows(8) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(!text.contains(w), "{w} in {text}");
        }
    }
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (1, 1));
    let rec = newest(&sb, 1).await;
    let logged = serde_json::to_string(&rec).unwrap();
    assert!(
        !logged.contains(&A[9..]) && !logged.contains(&B[9..]),
        "{logged}"
    );
}
