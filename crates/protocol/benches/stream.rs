//! The streaming hot path, in events per second: SSE decoding and encoding, and stream
//! translation for every (upstream → client) dialect pair. Budget: Anthropic ⇄ OpenAI Chat
//! at ≥ 200,000 events/s per core.
//!
//! Upstream streams are a hand-written OpenAI Chat stream of text deltas, and that stream
//! translated into the other dialects (so every source stream is one the translator accepts).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use switchboard_protocol::Dialect;
use switchboard_protocol::StreamTranslator;
use switchboard_protocol::sse::{SseDecoder, SseEvent};

const DELTAS: usize = 200;
const DIALECTS: [Dialect; 4] = [
    Dialect::OpenaiChat,
    Dialect::OpenaiResponses,
    Dialect::Anthropic,
    Dialect::Gemini,
];

/// An OpenAI Chat stream: role, `DELTAS` text deltas, finish, usage, `[DONE]`.
fn chat_stream() -> Vec<SseEvent> {
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        SseEvent::data(
            json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                   "model": "up", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string(),
        )
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        json!(null),
    )];
    for i in 0..DELTAS {
        out.push(chunk(json!({"content": format!("token{i} ")}), json!(null)));
    }
    out.push(chunk(json!({}), json!("stop")));
    out.push(SseEvent::data(
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "up",
               "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 200, "total_tokens": 212}})
        .to_string(),
    ));
    out.push(SseEvent::data("[DONE]"));
    out
}

/// The same stream as `dialect`'s upstream would send it.
fn stream_in(dialect: Dialect) -> Vec<SseEvent> {
    let chat = chat_stream();
    if dialect == Dialect::OpenaiChat {
        return chat;
    }
    let mut t = StreamTranslator::new(Dialect::OpenaiChat, dialect, "up");
    let mut out = Vec::new();
    for ev in &chat {
        t.push(ev, &mut out).unwrap();
    }
    t.finish(&mut out);
    out
}

fn encode(events: &[SseEvent]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for e in events {
        e.encode_into(&mut out);
    }
    out.to_vec()
}

fn sse(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse");
    for dialect in [Dialect::OpenaiChat, Dialect::Anthropic] {
        let events = stream_in(dialect);
        let bytes = encode(&events);
        group.throughput(Throughput::Elements(events.len() as u64));
        // As upstreams send them: roughly one event per read.
        let chunks: Vec<Vec<u8>> = events
            .iter()
            .map(|e| encode(std::slice::from_ref(e)))
            .collect();
        group.bench_function(BenchmarkId::new("decode", dialect.as_str()), |b| {
            b.iter(|| {
                let mut dec = SseDecoder::default();
                let mut out = Vec::with_capacity(4);
                let mut n = 0;
                for chunk in &chunks {
                    dec.push(black_box(chunk), &mut out).unwrap();
                    n += out.len();
                    out.clear();
                }
                black_box(n)
            })
        });
        group.bench_function(BenchmarkId::new("decode_whole", dialect.as_str()), |b| {
            b.iter(|| {
                let mut dec = SseDecoder::default();
                let mut out = Vec::with_capacity(events.len());
                dec.push(black_box(&bytes), &mut out).unwrap();
                black_box(out.len())
            })
        });
        group.bench_function(BenchmarkId::new("encode", dialect.as_str()), |b| {
            let mut out = BytesMut::with_capacity(bytes.len());
            b.iter(|| {
                out.clear();
                for e in black_box(&events) {
                    e.encode_into(&mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn translate(c: &mut Criterion) {
    let mut group = c.benchmark_group("translate");
    for from in DIALECTS {
        let events = stream_in(from);
        group.throughput(Throughput::Elements(events.len() as u64));
        for to in DIALECTS.into_iter().filter(|d| *d != from) {
            let id = format!("{}_to_{}", from.as_str(), to.as_str());
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                let mut out = Vec::with_capacity(8);
                b.iter(|| {
                    let mut t = StreamTranslator::new(from, to, "gpt-5.5");
                    let mut n = 0;
                    for ev in black_box(&events) {
                        t.push(ev, &mut out).unwrap();
                        n += out.len();
                        out.clear();
                    }
                    t.finish(&mut out);
                    black_box(n + out.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, sse, translate);
criterion_main!(benches);
