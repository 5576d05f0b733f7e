//! Quota-aware key choice under load: three keys with token-bucket limits (the mock announces
//! them in OpenAI's headers), offered more requests than they can take together.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// Three keys of 5 requests per 500 ms each (30 requests/s together), answering in 20 ms.
const KEYS: [&str; 3] = [
    "sk-quota-a-aaaaaaaaaaaa@rpm=5,window_ms=500,latency_ms=20",
    "sk-quota-b-bbbbbbbbbbbb@rpm=5,window_ms=500,latency_ms=20",
    "sk-quota-c-cccccccccccc@rpm=5,window_ms=500,latency_ms=20",
];
const CAPACITY_PER_SEC: f64 = 30.0;
/// Clients sending back to back: far more than the keys can take.
const WORKERS: usize = 8;

#[derive(Debug, Default, Clone, Copy)]
pub struct SimStats {
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub upstream: u64,
    pub upstream_429: u64,
    pub secs: f64,
}

impl SimStats {
    fn share_429(&self) -> f64 {
        self.upstream_429 as f64 / (self.upstream.max(1)) as f64
    }
}

/// Runs the load for `secs` seconds with the quota ranking on or off.
pub async fn simulate(quota_aware: bool, secs: u64) -> SimStats {
    let sb = Sb::start_with(
        |mock| {
            provider_toml("p1", mock, &KEYS)
                + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
        },
        // The mock's buckets run on real time; so must the router's model of them.
        |o| o.clock = Arc::new(switchboard_router::clock::SystemClock),
    )
    .await;
    let mut settings = sb.get("/api/v1/settings").await;
    settings["quota_aware"] = json!(quota_aware);
    // Hold a request while every key is short instead of failing it.
    settings["max_wait_ms"] = json!(3_000);
    let (status, body) = sb
        .admin(reqwest::Method::PUT, "/api/v1/settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(secs);
    let worker = async |w: usize| {
        let mut stats = SimStats::default();
        let mut n = 0u64;
        while tokio::time::Instant::now() < end {
            n += 1;
            let r = sb
                .post(
                    "/v1/chat/completions",
                    &json!({"model": "m", "messages": [{"role": "user", "content": format!("worker {w} question {n}")}]}),
                )
                .await;
            stats.requests += 1;
            if r.status() == 200 {
                stats.ok += 1;
            } else {
                stats.failed += 1;
                assert!(
                    r.headers().contains_key("retry-after"),
                    "a failure says when to come back: {}",
                    r.status()
                );
            }
            let _ = r.bytes().await;
        }
        stats
    };
    let all = futures_util::future::join_all((0..WORKERS).map(worker)).await;
    let mut total = all.into_iter().fold(SimStats::default(), |a, s| SimStats {
        requests: a.requests + s.requests,
        ok: a.ok + s.ok,
        failed: a.failed + s.failed,
        ..a
    });
    total.secs = started.elapsed().as_secs_f64();
    total.upstream = u64::try_from(
        sb.mock
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .count(),
    )
    .unwrap_or(0);
    total.upstream_429 = sb.mock.rate_limited_count();
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_aware_choice_keeps_upstream_429s_rare_under_overload() {
    let s = simulate(true, 5).await;
    println!("{s:?}");
    assert!(
        s.upstream_429 * 100 <= s.upstream,
        "upstream 429s above 1 % of attempts: {s:?}"
    );
    assert_eq!(s.failed, 0, "every request was served or held: {s:?}");
    // Overloaded all along, the keys were kept busy: close to their combined capacity (their
    // first buckets full, then 30 requests/s).
    let capacity = 15.0 + CAPACITY_PER_SEC * s.secs;
    assert!(
        s.ok as f64 >= 0.7 * capacity,
        "keys left idle while they had quota: {s:?}, capacity {capacity}"
    );
    assert!(
        s.ok as f64 <= capacity + 5.0,
        "more than the mock allows? {s:?}"
    );
}

/// The comparison `scripts/bench.sh` reports: the same load with the quota ranking on and off,
/// for `QUOTA_SIM_SECS` seconds each (default 30).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, run by scripts/bench.sh"]
async fn quota_simulation_report() {
    let secs = std::env::var("QUOTA_SIM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    for (mode, aware) in [("aware", true), ("reactive", false)] {
        let s = simulate(aware, secs).await;
        println!(
            "quota_sim mode={mode} secs={:.1} requests={} ok={} failed={} upstream={} upstream_429={} share_429={:.4} served_per_sec={:.1}",
            s.secs,
            s.requests,
            s.ok,
            s.failed,
            s.upstream,
            s.upstream_429,
            s.share_429(),
            s.ok as f64 / s.secs
        );
    }
}
