//! A small streaming load client for `scripts/bench.sh` (non-streaming load uses a real load
//! generator; this covers what those cannot measure).
//!
//! ```text
//! stream_load timing URL BODY_JSON [--key K] [--n N]
//!     N sequential streamed requests; prints one JSON line: time to first byte (first body
//!     bytes), total time, and the median arrival offset of every `data:` event.
//! stream_load hold URL BODY_JSON [--key K] [--n N] [--secs S]
//!     Opens N streams at once, prints `open N` when every one has its first event, keeps
//!     reading for S seconds, then prints `done` and exits.
//! stream_load load URL BODY_JSON [--key K] [--n N] [--secs S]
//!     N connections each sending streamed requests back to back for S seconds; prints one
//!     JSON line: requests completed and `data:` events received (for CPU per event).
//! ```

// A benchmark tool: a panic is a failed run, reported as such.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;

#[derive(Clone)]
struct Args {
    mode: String,
    url: String,
    body: String,
    key: Option<String>,
    n: usize,
    secs: u64,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let usage = "usage: stream_load timing|hold|load URL BODY_JSON [--key K] [--n N] [--secs S]";
    let mode = it.next().expect(usage);
    let url = it.next().expect(usage);
    let body = it.next().expect(usage);
    let mut a = Args {
        mode,
        url,
        body,
        key: None,
        n: 50,
        secs: 5,
    };
    while let Some(flag) = it.next() {
        let v = it.next().expect(usage);
        match flag.as_str() {
            "--key" => a.key = Some(v),
            "--n" => a.n = v.parse().expect("--n"),
            "--secs" => a.secs = v.parse().expect("--secs"),
            _ => panic!("{usage}"),
        }
    }
    a
}

fn request(client: &reqwest::Client, a: &Args) -> reqwest::RequestBuilder {
    let mut r = client
        .post(&a.url)
        .header("content-type", "application/json")
        .body(a.body.clone());
    if let Some(k) = &a.key {
        r = r.bearer_auth(k).header("x-api-key", k);
    }
    r
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    pct(&v, 0.5)
}

/// One streamed request: (ttfb µs, total µs, arrival µs of each `data:` event).
async fn one(client: &reqwest::Client, a: &Args) -> (f64, f64, Vec<f64>) {
    let start = Instant::now();
    let resp = request(client, a).send().await.expect("send");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let mut body = resp.bytes_stream();
    let mut ttfb = None;
    let mut arrivals = Vec::new();
    let mut tail = Vec::<u8>::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("body");
        let at = start.elapsed().as_secs_f64() * 1e6;
        ttfb.get_or_insert(at);
        // Count event starts, including one split across reads.
        tail.extend_from_slice(&chunk);
        let mut from = 0;
        while let Some(i) = find(&tail[from..], b"data:") {
            arrivals.push(at);
            from += i + 5;
        }
        let keep = tail.len().saturating_sub(4).max(from);
        tail.drain(..keep);
    }
    let total = start.elapsed().as_secs_f64() * 1e6;
    (ttfb.unwrap_or(total), total, arrivals)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn timing(a: &Args) {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    // Warm the connection.
    for _ in 0..3 {
        one(&client, a).await;
    }
    let mut ttfb = Vec::new();
    let mut total = Vec::new();
    let mut per_event: Vec<Vec<f64>> = Vec::new();
    for _ in 0..a.n {
        let (f, t, arr) = one(&client, a).await;
        ttfb.push(f);
        total.push(t);
        for (i, at) in arr.into_iter().enumerate() {
            if per_event.len() <= i {
                per_event.push(Vec::new());
            }
            per_event[i].push(at);
        }
    }
    ttfb.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    let events: Vec<String> = per_event
        .into_iter()
        .map(|v| format!("{:.0}", median(v)))
        .collect();
    println!(
        "{{\"ttfb_p50_us\":{:.0},\"ttfb_p99_us\":{:.0},\"total_p50_us\":{:.0},\"total_p99_us\":{:.0},\"events_p50_us\":[{}]}}",
        pct(&ttfb, 0.5),
        pct(&ttfb, 0.99),
        pct(&total, 0.5),
        pct(&total, 0.99),
        events.join(",")
    );
}

async fn hold(a: &Args) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(a.n);
    let deadline = Instant::now() + Duration::from_secs(a.secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.n {
        let req = request(&client, a);
        let tx = tx.clone();
        tasks.spawn(async move {
            let resp = req.send().await.expect("send");
            assert!(resp.status().is_success(), "status {}", resp.status());
            let mut body = resp.bytes_stream();
            let mut first = true;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, body.next()).await {
                    Ok(Some(Ok(_))) => {
                        if first {
                            first = false;
                            let _ = tx.send(()).await;
                        }
                    }
                    _ => break,
                }
            }
        });
    }
    drop(tx);
    let mut open = 0;
    while open < a.n && rx.recv().await.is_some() {
        open += 1;
    }
    println!("open {open}");
    while tasks.join_next().await.is_some() {}
    println!("done");
}

async fn load(a: &Args) {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let a = std::sync::Arc::new(a.clone());
    let deadline = Instant::now() + Duration::from_secs(a.secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.n {
        let (client, a) = (client.clone(), a.clone());
        tasks.spawn(async move {
            let (mut requests, mut events) = (0usize, 0usize);
            while Instant::now() < deadline {
                let (_, _, arrivals) = one(&client, &a).await;
                requests += 1;
                events += arrivals.len();
            }
            (requests, events)
        });
    }
    let (mut requests, mut events) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (r, e) = r.expect("worker");
        requests += r;
        events += e;
    }
    println!("{{\"requests\":{requests},\"events\":{events}}}");
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (the server installs one the same way).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = args();
    match a.mode.as_str() {
        "timing" => timing(&a).await,
        "hold" => hold(&a).await,
        "load" => load(&a).await,
        m => panic!("unknown mode {m}"),
    }
}
