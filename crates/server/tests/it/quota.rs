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

/// Requests held while the route's one key is short are sent on in the order they arrived, one
/// per refill, even though each refill wakes all of them at once; and a request arriving while
/// others are held queues behind them instead of taking the refill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_requests_go_on_in_arrival_order() {
    served_one_per_refill_in_arrival_order(3).await;
}

/// A bucket of one request: the held requests are not all sent the moment it is full again
/// (the router counts what it sent since the provider's last answer), so none is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_request_bucket_sends_held_requests_one_per_refill() {
    served_one_per_refill_in_arrival_order(1).await;
}

/// `size` requests empty a bucket of that size, refilled one every 150 ms; five more sent 50 ms
/// apart are held, and reach the provider one per refill in the order they were sent, none
/// refused.
async fn served_one_per_refill_in_arrival_order(size: usize) {
    const HELD: usize = 5;
    let key = format!("sk-quota-line-aaaaaaaa@rpm={size},window_ms={}", 150 * size);
    let sb = Arc::new(
        Sb::start_with(
            |mock| {
                provider_toml("p1", mock, &[key.as_str()])
                    + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
            },
            |o| o.clock = Arc::new(switchboard_router::clock::SystemClock),
        )
        .await,
    );
    let mut settings = sb.get("/api/v1/settings").await;
    settings["max_wait_ms"] = json!(5_000);
    let (status, body) = sb
        .admin(reqwest::Method::PUT, "/api/v1/settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let ask = async |sb: Arc<Sb>, n: usize| {
        let r = sb
            .post(
                "/v1/chat/completions",
                &json!({"model": "m", "messages": [{"role": "user", "content": format!("question {n}")}]}),
            )
            .await;
        r.status()
    };
    // The first ones empty the bucket, and the router learns it from their answers.
    for n in 0..size {
        assert_eq!(ask(sb.clone(), n).await, 200);
    }
    let mut held = Vec::new();
    for n in size..size + HELD {
        held.push(tokio::spawn(ask(sb.clone(), n)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Meanwhile they wait in the route's line, and `/metrics` shows how many do.
    const WAITING: &str = "switchboard_requests_waiting{alias=\"m\"}";
    let metrics = crate::metrics::scrape(&sb).await;
    assert!(
        metrics
            .get(WAITING)
            .is_some_and(|n| (1.0..=HELD as f64).contains(n)),
        "{metrics:?}"
    );
    let mut statuses = Vec::new();
    for h in held {
        statuses.push(h.await.unwrap().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{statuses:?}, {} upstream 429s",
        sb.mock.rate_limited_count()
    );
    let order: Vec<String> = sb
        .mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["messages"][0]["content"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..size + HELD).map(|n| format!("question {n}")).collect();
    assert_eq!(
        order,
        expected,
        "{} upstream 429s",
        sb.mock.rate_limited_count()
    );
    assert_eq!(
        crate::metrics::scrape(&sb).await.get(WAITING),
        None,
        "the line is empty again"
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

/// The key views' `quota` and the `/metrics` gauges after one answer with OpenAI headers.
#[tokio::test]
async fn announced_quota_is_shown_per_key() {
    const KEY: &str = "sk-quota-view-aaaaaaaa@rpm=10,tpm=100000";
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[KEY])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    assert_eq!(sb.chat("m").await.status(), 200);
    let keys = sb.get("/api/v1/keys").await;
    let quota = &keys[0]["quota"];
    let requests = quota
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "requests")
        .unwrap_or_else(|| panic!("{quota}"));
    assert_eq!(requests["model"], "x");
    assert_eq!(requests["remaining"], 9);
    assert_eq!(requests["limit"], 10);
    // One of ten a minute is back in 6 s: full again then.
    assert_eq!(requests["reset_ms"], T0 + 6_000);
    assert!(
        quota
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "tokens")
    );
    let id = keys[0]["id"].as_i64().unwrap();
    let text = sb
        .http
        .get(format!("{}/metrics", sb.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!(
        "switchboard_key_quota_remaining{{key_id=\"{id}\",provider=\"p1\",model=\"x\",kind=\"requests\"}} 9"
    );
    assert!(text.contains(&series), "{series} not in\n{text}");
    assert!(
        text.contains("switchboard_key_quota_reset_seconds{"),
        "{text}"
    );
}

const LOW: &str = "sk-balance-low-aaaaaaaa@balance=0.50";
const RICH: &str = "sk-balance-rich-bbbbbbb@balance=20";
const ROUTER_KEY: &str = "sk-balance-or-cccccccc@balance=3.25";

fn balance_config(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    let base = mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat);
    format!(
        "[[providers]]\nname = \"ds\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [{LOW:?}, {RICH:?}]\nbalance = {{ api = \"deepseek\", min = 1.0 }}\n\n\
         [[providers]]\nname = \"or\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [{ROUTER_KEY:?}]\nbalance = {{ api = \"openrouter\" }}\n\n\
         [[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"ds\", model = \"x\" }}]\n"
    )
}

async fn key_by_id(sb: &Sb, id: i64) -> serde_json::Value {
    let keys = sb.get("/api/v1/keys").await;
    keys.as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap()
}

fn balance_reads(sb: &Sb, path: &str) -> usize {
    sb.mock.requests().iter().filter(|r| r.path == path).count()
}

fn generations_for(sb: &Sb, key: &str) -> usize {
    sb.mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions" && r.key.as_deref() == Some(key))
        .count()
}

#[tokio::test]
async fn balances_are_checked_shown_and_a_low_one_cools_its_key_before_requests_fail() {
    let sb = Sb::start(balance_config).await;
    let engine = sb.handle().control().engine().clone();
    engine.check_balances().await;
    let keys = sb.get("/api/v1/keys").await;
    let by_provider = |p: &str| -> Vec<serde_json::Value> {
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["provider"] == p)
            .cloned()
            .collect()
    };
    let ds = by_provider("ds");
    let low = ds.iter().find(|k| k["balance"]["amount"] == 0.5).unwrap();
    let rich = ds.iter().find(|k| k["balance"]["amount"] == 20.0).unwrap();
    assert_eq!(low["balance"]["low"], true);
    assert_eq!(low["balance"]["currency"], "USD");
    assert_eq!(low["state"], "cooling");
    assert_eq!(low["reason"], "insufficient_balance");
    assert_eq!(rich["balance"]["low"], false);
    assert_eq!(rich["state"], "healthy");
    // OpenRouter: the key has no limit of its own, so the account's credits count.
    let or = by_provider("or");
    assert_eq!(or[0]["balance"]["amount"], 3.25);
    assert_eq!(or[0]["balance"]["low"], false);
    assert!(balance_reads(&sb, "/v1/key") >= 1);
    assert!(balance_reads(&sb, "/v1/credits") >= 1);

    // Requests never reach the key without balance.
    for _ in 0..4 {
        assert_eq!(sb.chat("m").await.status(), 200);
    }
    assert_eq!(generations_for(&sb, LOW), 0);
    assert_eq!(generations_for(&sb, RICH), 4);

    // On schedule: nothing is read again before 15 minutes (of the injected clock) pass.
    let reads = balance_reads(&sb, "/user/balance");
    engine.check_balances().await;
    assert_eq!(balance_reads(&sb, "/user/balance"), reads);
    sb.clock.advance_ms(15 * 60_000);
    engine.check_balances().await;
    assert!(
        balance_reads(&sb, "/user/balance") >= reads + 2,
        "both keys read again"
    );

    // A 402 cools the rich key and asks for a check, which finds money and ends the
    // cooldown before it would have run out.
    sb.mock
        .push_fault_for_key(RICH, "fault=402".parse().unwrap());
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 402, "no other key has balance");
    let rich_id = rich["id"].as_i64().unwrap();
    assert_eq!(
        key_by_id(&sb, rich_id).await["reason"],
        "insufficient_balance"
    );
    let reads = balance_reads(&sb, "/user/balance");
    engine.check_balances().await;
    assert_eq!(
        balance_reads(&sb, "/user/balance"),
        reads + 1,
        "only the key after its 402"
    );
    assert_eq!(key_by_id(&sb, rich_id).await["state"], "healthy");
    assert_eq!(sb.chat("m").await.status(), 200);
}

/// Anthropic announces its windows with RFC 3339 resets, input tokens apart.
#[tokio::test]
async fn anthropic_rate_limit_headers_are_read_too() {
    // Few tokens a minute: the request's tokens take seconds to come back, so the token
    // windows are still in force when the view is read, however busy the machine.
    const KEY: &str = "sk-ant-quota-aaaaaaaaaaa@rpm=50,tpm=300";
    let sb = Sb::start_with(
        |mock| {
            format!(
                "[[providers]]\nname = \"a\"\nkind = \"anthropic\"\nbase_url = {:?}\nkeys = [{KEY:?}]\n\n\
                 [[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"a\", model = \"claude\" }}]\n",
                mock.base_url(switchboard_mock_upstream::Dialect::Anthropic)
            )
        },
        |o| o.clock = Arc::new(switchboard_router::clock::SystemClock),
    )
    .await;
    let r = sb
        .post(
            "/v1/messages",
            &json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let keys = sb.get("/api/v1/keys").await;
    let quota = keys[0]["quota"].as_array().unwrap().clone();
    let kinds: Vec<&str> = quota.iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["requests", "tokens", "input_tokens"], "{quota:?}");
    assert_eq!(quota[0]["remaining"], 49);
    assert_eq!(quota[0]["limit"], 50);
    let now = switchboard_router::clock::Clock::now_ms(&switchboard_router::clock::SystemClock);
    let reset = quota[0]["reset_ms"].as_i64().unwrap();
    // One of 50 a minute is back in 1.2 s: full again then.
    assert!(
        reset > now - 1_000 && reset < now + 3_000,
        "{reset} vs {now}"
    );
}
