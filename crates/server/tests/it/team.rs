//! Team mode: instances sharing one PostgreSQL database and one Redis (`scripts/services.sh`
//! starts both). An edit through one instance's admin API reaches the others' snapshots; every
//! request record names the instance that served it; a cooldown one instance observes holds
//! on all of them.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, MockUpstream};
use switchboard_router::Secret;
use switchboard_router::health::{HealthEntry, HealthState};
use switchboard_server::{Options, Switchboard, SwitchboardHandle};
use switchboard_store::testing::fresh_postgres_url;
use tempfile::TempDir;

use crate::common::{ACCESS, ADMIN, eventually};

const MASTER: &str = "team test master key, long enough to be a passphrase";

struct Instance {
    handle: SwitchboardHandle,
    url: String,
    http: reqwest::Client,
}

impl Instance {
    async fn start(database: &str, id: &str, dir: &TempDir, check_every: Duration) -> Instance {
        Instance::launch(database, None, id, dir, check_every).await
    }

    async fn with_redis(database: &str, redis: &str, id: &str, dir: &TempDir) -> Instance {
        Instance::launch(database, Some(redis), id, dir, Duration::from_secs(3600)).await
    }

    async fn launch(
        database: &str,
        redis: Option<&str>,
        id: &str,
        dir: &TempDir,
        check_every: Duration,
    ) -> Instance {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut o = Options::new(dir.path().join(id));
        o.port = 0;
        o.database_url = Some(database.to_owned());
        o.redis_url = redis.map(str::to_owned);
        o.team_master_key = Some(Secret::new(MASTER));
        o.instance_id = Some(id.to_owned());
        o.access_key = Some(Secret::new(ACCESS));
        o.admin_token = Some(Secret::new(ADMIN));
        o.config_check_every = check_every;
        o.shutdown_grace = Duration::from_secs(2);
        let handle = Switchboard::start(o).await.unwrap();
        Instance {
            url: format!("http://{}", handle.local_addr()),
            handle,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn chat(&self, model: &str) -> u16 {
        self.http
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(ACCESS)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The scopes cooling on this instance's own health board.
    fn cooling(&self) -> Vec<HealthEntry> {
        self.handle
            .control()
            .engine()
            .health
            .entries()
            .into_iter()
            .filter(|e| e.state == HealthState::Cooling)
            .collect()
    }

    async fn stop(self) {
        self.handle.shutdown().await;
    }
}

/// Adds provider `name` (pointing at the mock, one key) and the route `alias` → it through
/// `via`'s admin API.
async fn add_provider_and_route(via: &Instance, mock: &MockUpstream, name: &str, alias: &str) {
    let (status, body) = via
        .admin(
            Method::POST,
            "/api/v1/providers",
            Some(json!({"name": name, "kind": "openai_chat", "base_url": mock.base_url(MockDialect::OpenAiChat)})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = via
        .admin(
            Method::POST,
            "/api/v1/keys",
            Some(json!({"provider": name, "label": "k", "secret": format!("sk-team-{name}-0123456789")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = via
        .admin(
            Method::POST,
            "/api/v1/routes",
            Some(json!({"alias": alias, "targets": [{"provider": name, "model": "m"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_on_one_instance_serves_on_the_other_within_a_second() {
    let database = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    // A long version check: only the notification can make it within the second.
    let one = Instance::start(&database, "one", &dir, Duration::from_secs(3600)).await;
    let two = Instance::start(&database, "two", &dir, Duration::from_secs(3600)).await;
    assert_eq!(two.chat("team-model").await, 404, "no such route yet");

    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    let edited = tokio::time::Instant::now();
    let mut served = false;
    while edited.elapsed() < Duration::from_secs(10) {
        if two.chat("team-model").await == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = edited.elapsed();
    assert!(
        served,
        "instance two never served the route added on instance one"
    );
    // Generous for a loaded machine, yet far below the hour-long version check.
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // Each record names the instance that served it; either instance's log lists both.
    assert_eq!(one.chat("team-model").await, 200);
    let both = eventually(10_000, async || {
        let (_, rows) = two
            .admin(Method::GET, "/api/v1/requests?limit=100", None)
            .await;
        let instances: Vec<&str> = rows
            .as_array()
            .map(|r| r.iter().filter_map(|r| r["instance"].as_str()).collect())
            .unwrap_or_default();
        instances.contains(&"one") && instances.contains(&"two")
    })
    .await;
    assert!(
        both,
        "instance two's log does not list both instances' requests"
    );
    let (_, status) = two.admin(Method::GET, "/api/v1/status", None).await;
    assert_eq!(status["instance"], "two");
    assert_eq!(status["secret_store"], "database");

    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_notification_is_healed_by_the_version_check() {
    let database = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::start(&database, "one", &dir, Duration::from_secs(3600)).await;
    let two = Instance::start(&database, "two", &dir, Duration::from_millis(200)).await;
    add_provider_and_route(&one, &mock, "shared", "healed").await;
    // The last edit is one statement, so one notification: once instance two serves it, the
    // notifications still queued are for versions it has loaded, and are skipped.
    let (status, body) = one
        .admin(
            Method::POST,
            "/api/v1/routes",
            Some(json!({"alias": "sentinel", "targets": [{"provider": "shared", "model": "m"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(10_000, async || two.chat("sentinel").await == 200).await,
        "the routes never reached instance two"
    );
    assert_eq!(two.chat("healed").await, 200);

    // Delete the route behind the triggers' back (no notification), then bump the version
    // as a write whose notification was lost would have.
    let store = one.handle.control().store();
    let pool = store.pg_pool().unwrap();
    let version = async || {
        let (v,): (i64,) = sqlx::query_as("SELECT version FROM config_version")
            .fetch_one(pool)
            .await
            .unwrap();
        v
    };
    let before = version().await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM routes WHERE alias = 'healed'")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(version().await, before + 1, "a trigger ran (and notified)");

    // No notification was sent: what brings the deletion to instance two is its version check.
    assert!(
        eventually(10_000, async || two.chat("healed").await == 404).await,
        "instance two kept serving a route deleted elsewhere"
    );

    one.stop().await;
    two.stop().await;
}

#[allow(clippy::panic)]
fn redis_url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("set SWITCHBOARD_TEST_REDIS_URL (`bash scripts/services.sh cargo test …` starts a Redis)")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_key_rests_on_every_instance_until_its_reset() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    let three = Instance::with_redis(&database, &redis, "three", &dir).await;
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    for i in [&two, &three] {
        assert!(
            eventually(10_000, async || i.chat("team-model").await == 200).await,
            "the route never reached every instance"
        );
    }
    assert_eq!(one.chat("team-model").await, 200);
    // Every instance has used the key; nothing cools yet.
    for i in [&one, &two, &three] {
        assert!(i.cooling().is_empty());
    }

    let secret = "sk-team-shared-0123456789";
    mock.push_fault_for_key(secret, "fault=429,retry_after=30".parse().unwrap());
    assert_ne!(one.chat("team-model").await, 200, "the key answered 429");
    let cooled = one.cooling();
    assert_eq!(cooled.len(), 1, "{cooled:?}");
    let until = cooled[0].until_ms;
    for (name, i) in [("two", &two), ("three", &three)] {
        assert!(
            eventually(10_000, async || i
                .cooling()
                .iter()
                .any(|e| e.until_ms == until))
            .await,
            "the cooldown never reached instance {name}"
        );
    }
    let calls = mock.count_for_key(secret);
    for _ in 0..3 {
        assert_ne!(two.chat("team-model").await, 200);
        assert_ne!(three.chat("team-model").await, 200);
    }
    assert_eq!(
        mock.count_for_key(secret),
        calls,
        "instances two and three sent requests to a key resting until its reset"
    );

    // An instance started during the cooldown loads it from Redis.
    let four = Instance::with_redis(&database, &redis, "four", &dir).await;
    assert!(
        eventually(10_000, async || four
            .cooling()
            .iter()
            .any(|e| e.until_ms == until))
        .await,
        "a new instance did not load the shared cooldown"
    );
    assert_ne!(four.chat("team-model").await, 200);
    assert_eq!(mock.count_for_key(secret), calls);

    for i in [one, two, three, four] {
        i.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_instances_serve_on_local_health() {
    let database = fresh_postgres_url().await;
    // Nothing listens on port 1: Redis is down from the start.
    let redis = "redis://127.0.0.1:1";
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, redis, "one", &dir).await;
    let two = Instance::with_redis(&database, redis, "two", &dir).await;
    add_provider_and_route(&one, &mock, "shared", "local-health").await;
    assert_eq!(one.chat("local-health").await, 200);
    assert!(
        eventually(10_000, async || two.chat("local-health").await == 200).await,
        "instance two does not serve while Redis is down"
    );
    // Local health still works: a 429 rests the key on the instance that saw it.
    mock.push_fault_for_key(
        "sk-team-shared-0123456789",
        "fault=429,retry_after=30".parse().unwrap(),
    );
    assert_ne!(one.chat("local-health").await, 200);
    assert_eq!(one.cooling().len(), 1);
    // The failures are counted.
    let counted = eventually(10_000, async || {
        let resp = one
            .http
            .get(format!("{}/metrics", one.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap_or_default();
        text.lines().any(|l| {
            l.strip_prefix("switchboard_redis_errors_total ")
                .and_then(|n| n.trim().parse::<f64>().ok())
                .is_some_and(|n| n >= 1.0)
        })
    })
    .await;
    assert!(counted, "Redis failures are not counted in the metrics");
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn redis_without_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new(dir.path());
    o.port = 0;
    o.redis_url = Some("redis://127.0.0.1:6379".into());
    let err = Switchboard::start(o).await.err().map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("needs a PostgreSQL database")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_lists_all_instances_and_their_requests() {
    let database = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let check = Duration::from_millis(200);
    let one = Instance::start(&database, "one", &dir, check).await;
    let two = Instance::start(&database, "two", &dir, check).await;
    let three = Instance::start(&database, "three", &dir, check).await;

    // Each instance writes its row as soon as it listens.
    let listed = async |via: &Instance| -> Vec<Value> {
        let (status, rows) = via.admin(Method::GET, "/api/v1/instances", None).await;
        assert_eq!(status, 200, "{rows}");
        rows.as_array().cloned().unwrap_or_default()
    };
    assert!(
        eventually(10_000, async || listed(&two).await.len() == 3).await,
        "instance two does not list three instances: {:?}",
        listed(&two).await
    );
    let rows = listed(&two).await;
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, ["one", "three", "two"]);
    for (row, inst) in rows.iter().zip([&one, &three, &two]) {
        assert_eq!(row["alive"], true, "{row}");
        assert_eq!(row["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            format!("http://{}", row["address"].as_str().unwrap()),
            inst.url
        );
        assert_eq!(row["current"], row["id"] == "two", "{row}");
        assert!(row["in_flight"].as_i64().is_some_and(|n| n >= 0), "{row}");
    }

    // Requests served by instances one and three appear in instance two's log, naming them.
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    for inst in [&one, &three] {
        assert!(
            eventually(10_000, async || inst.chat("team-model").await == 200).await,
            "the route never served on {}",
            inst.url
        );
    }
    let served = eventually(10_000, async || {
        let (_, rows) = two
            .admin(Method::GET, "/api/v1/requests?limit=100", None)
            .await;
        let instances: Vec<&str> = rows
            .as_array()
            .map(|r| r.iter().filter_map(|r| r["instance"].as_str()).collect())
            .unwrap_or_default();
        instances.contains(&"one") && instances.contains(&"three") && !instances.contains(&"two")
    })
    .await;
    assert!(
        served,
        "instance two's log does not name instances one and three"
    );

    // A graceful stop removes the instance's row.
    one.stop().await;
    let ids = listed(&two).await;
    assert_eq!(
        ids.iter()
            .filter_map(|r| r["id"].as_str())
            .collect::<Vec<_>>(),
        ["three", "two"]
    );
    two.stop().await;
    three.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Cluster-wide probes and limits (Redis): one probe per cooled scope for the whole cluster, and
// per-key concurrency and per-client rpm limits counted over every instance.
// ---------------------------------------------------------------------------------------------

/// Adds provider `name` (one key, `secret`, with `extra` provider fields) and the route
/// `alias` → its `model` through `via`'s admin API.
async fn add_provider_with(
    via: &Instance,
    mock: &MockUpstream,
    (name, secret, extra): (&str, &str, Value),
    (alias, model): (&str, &str),
) {
    let mut provider = json!({"name": name, "kind": "openai_chat", "base_url": mock.base_url(MockDialect::OpenAiChat)});
    if let (Some(p), Some(e)) = (provider.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let (status, body) = via
        .admin(Method::POST, "/api/v1/providers", Some(provider))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = via
        .admin(
            Method::POST,
            "/api/v1/keys",
            Some(json!({"provider": name, "label": "k", "secret": secret})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = via
        .admin(
            Method::POST,
            "/api/v1/routes",
            Some(json!({"alias": alias, "targets": [{"provider": name, "model": model}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[allow(clippy::unwrap_used)]
fn unix_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooled_key_is_probed_once_for_the_whole_cluster() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    let three = Instance::with_redis(&database, &redis, "three", &dir).await;
    let secret = "sk-team-probed-0123456789";
    add_provider_with(
        &one,
        &mock,
        ("probed", secret, json!({"retry": {"max_retries": 0}})),
        // Answers (probes too) take a second: every instance's prober finds the scope due
        // while the first probe is still out.
        ("probed-model", "m@latency_ms=1000"),
    )
    .await;
    for i in [&one, &two, &three] {
        assert!(
            eventually(10_000, async || i.chat("probed-model").await == 200).await,
            "the route never reached every instance"
        );
    }

    // A 429 whose reset is longer than the single-key wait (3 s): answered at once, not held.
    mock.push_fault_for_key(secret, "fault=429,retry_after=8".parse().unwrap());
    assert_eq!(one.chat("probed-model").await, 429);
    let cooled = one.cooling();
    assert_eq!(cooled.len(), 1, "{cooled:?}");
    let until = cooled[0].until_ms.unwrap();
    for (name, i) in [("two", &two), ("three", &three)] {
        assert!(
            eventually(10_000, async || i
                .cooling()
                .iter()
                .any(|e| e.until_ms == Some(until)))
            .await,
            "the cooldown never reached instance {name}"
        );
    }
    let calls = mock.count_for_key(secret);
    // Requests well before the reset (later ones would wait for the key) go nowhere.
    if unix_ms() < until - 4_000 {
        assert_eq!(two.chat("probed-model").await, 429);
        assert_eq!(three.chat("probed-model").await, 429);
    }
    assert_eq!(
        mock.count_for_key(secret),
        calls,
        "instances two and three sent requests to a key resting until its reset"
    );

    // After the reset each instance's prober finds the scope due; one of them probes it, and
    // its outcome clears the key everywhere.
    for (name, i) in [("one", &one), ("two", &two), ("three", &three)] {
        assert!(
            eventually(30_000, async || i
                .handle
                .control()
                .engine()
                .health
                .entries()
                .is_empty())
            .await,
            "the key never recovered on instance {name}"
        );
    }
    assert_eq!(
        mock.count_for_key(secret),
        calls + 1,
        "the cluster sent exactly one probe"
    );
    // Nobody probes late either: a few prober ticks later it is still one.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(mock.count_for_key(secret), calls + 1);
    for i in [&one, &two, &three] {
        assert_eq!(i.chat("probed-model").await, 200);
    }
    assert_eq!(mock.count_for_key(secret), calls + 4);

    for i in [one, two, three] {
        i.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_concurrency_limit_holds_across_instances() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    let secret = "sk-team-narrow-0123456789";
    add_provider_with(
        &one,
        &mock,
        (
            "narrow",
            secret,
            json!({"max_concurrency_per_key": 1, "retry": {"max_retries": 0}}),
        ),
        // Every answer takes two seconds.
        ("narrow-model", "m@latency_ms=2000"),
    )
    .await;
    for i in [&one, &two] {
        assert!(
            eventually(20_000, async || i.chat("narrow-model").await == 200).await,
            "the route never reached every instance"
        );
    }
    assert_eq!(mock.peak_in_flight(), 1);

    // One request through each instance at once: the key takes one at a time; the other
    // waits for it (or is told the key is busy), it never runs beside the first.
    let (a, b) = tokio::join!(one.chat("narrow-model"), two.chat("narrow-model"));
    assert!(a == 200 || b == 200, "{a} {b}");
    for s in [a, b] {
        assert!(s == 200 || s == 429, "{a} {b}");
    }
    assert_eq!(
        mock.peak_in_flight(),
        1,
        "two instances used the key at once"
    );
    // The slots were given back: each instance serves again.
    assert_eq!(one.chat("narrow-model").await, 200);
    assert_eq!(two.chat("narrow-model").await, 200);
    assert_eq!(mock.peak_in_flight(), 1);

    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rpm_limit_counts_every_instance() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    let (status, created) = one
        .admin(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "codex", "rpm": 3})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let chat_as = async |i: &Instance| {
        i.http
            .post(format!("{}/v1/chat/completions", i.url))
            .bearer_auth(&key)
            .json(&json!({"model": "team-model", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
    };
    // The client and the route reach instance two (listing models is not a request the
    // limit counts).
    let known = async |i: &Instance| {
        i.http
            .get(format!("{}/v1/models", i.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
    };
    assert!(eventually(10_000, async || known(&two).await).await);
    assert!(eventually(10_000, async || two.chat("team-model").await == 200).await);

    // Three requests, spread over both instances, are served; the fourth is refused on
    // either, in the client's dialect, with when to come back.
    for (n, i) in [&one, &two, &one].into_iter().enumerate() {
        assert_eq!(chat_as(i).await.status(), 200, "request {n}");
    }
    for i in [&two, &one] {
        let resp = chat_as(i).await;
        assert_eq!(resp.status(), 429);
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "client_rpm_limit", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("3 requests per minute")),
            "{v}"
        );
    }
    // Other clients are not limited by it.
    assert_eq!(two.chat("team-model").await, 200);

    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_recorded_on_one_instance_counts_against_the_budget_on_another() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    // $1 per input token and $2 per output token: one request spends more than $1.
    add_provider_with(
        &one,
        &mock,
        (
            "priced",
            "sk-team-priced-0123456789",
            json!({"models": [{"id": "m", "source": "manual", "input_price": 1_000_000.0, "output_price": 2_000_000.0}]}),
        ),
        ("priced-model", "m"),
    )
    .await;
    let (status, created) = one
        .admin(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "capped", "daily_budget_usd": 1.0})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let chat_as = async |i: &Instance, model: &str| {
        let resp = i
            .http
            .post(format!("{}/v1/chat/completions", i.url))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert!(
        eventually(10_000, async || chat_as(&one, "priced-model").await.0
            == 200)
        .await,
        "instance one never served the client"
    );
    // Instance two has recorded nothing for the client: only the shared spend can stop it.
    // A request for an unknown route costs nothing, and is refused by the budget first.
    let refused = eventually(10_000, async || {
        let (status, v) = chat_as(&two, "no-such-route").await;
        status == 429 && v["error"]["code"] == "client_daily_budget"
    })
    .await;
    assert!(
        refused,
        "instance two never saw the spend recorded on instance one"
    );
    let calls = mock.request_count();
    let (status, v) = chat_as(&two, "priced-model").await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "client_daily_budget", "{v}");
    assert_eq!(mock.request_count(), calls);

    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_each_instance_enforces_the_limits_on_its_own_traffic() {
    let database = fresh_postgres_url().await;
    // Nothing listens on port 1: Redis is down from the start.
    let redis = "redis://127.0.0.1:1";
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, redis, "one", &dir).await;
    let two = Instance::with_redis(&database, redis, "two", &dir).await;
    add_provider_with(
        &one,
        &mock,
        (
            "narrow",
            "sk-team-narrow-0123456789",
            json!({"max_concurrency_per_key": 1}),
        ),
        ("narrow-model", "m"),
    )
    .await;
    let (status, created) = one
        .admin(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "codex", "rpm": 2})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let chat_as = async |i: &Instance| {
        let resp = i
            .http
            .post(format!("{}/v1/chat/completions", i.url))
            .bearer_auth(&key)
            .json(
                &json!({"model": "narrow-model", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert!(
        eventually(10_000, async || two.chat("narrow-model").await == 200).await,
        "the route never reached instance two"
    );
    let known = async |i: &Instance| {
        i.http
            .get(format!("{}/v1/models", i.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
    };
    assert!(eventually(10_000, async || known(&two).await).await);
    // Each instance admits the client's two requests a minute on its own, then refuses.
    for i in [&one, &two] {
        for n in 0..2 {
            let (status, v) = chat_as(i).await;
            assert_eq!(status, 200, "request {n} on {}: {v}", i.url);
        }
        let (status, v) = chat_as(i).await;
        assert_eq!(status, 429, "{v}");
        assert_eq!(v["error"]["code"], "client_rpm_limit", "{v}");
    }
    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_used_on_one_instance_count_against_the_tpm_limit_on_another() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    let (status, created) = one
        .admin(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "wordy", "tpm": 60})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let chat_as = async |i: &Instance, model: &str| {
        let resp = i
            .http
            .post(format!("{}/v1/chat/completions", i.url))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    assert!(
        eventually(10_000, async || two.chat("team-model").await == 200).await,
        "the route never reached instance two"
    );
    // Instance one serves the client until its minute's tokens are used up.
    let mut served = 0;
    loop {
        let (status, v) = chat_as(&one, "team-model").await;
        if status == 429 {
            assert_eq!(v["error"]["code"], "client_tpm_limit", "{v}");
            break;
        }
        assert_eq!(status, 200, "{v}");
        served += 1;
        assert!(served < 60, "the tokens-per-minute limit never applied");
    }
    assert!(served > 0);
    // Instance two has served the client nothing: only the shared window can refuse it. A
    // request for an unknown route uses no tokens, and is refused by the limit first.
    let refused = eventually(10_000, async || {
        let (status, v) = chat_as(&two, "no-such-route").await;
        status == 429 && v["error"]["code"] == "client_tpm_limit"
    })
    .await;
    assert!(
        refused,
        "instance two never counted the tokens used on instance one"
    );
    let calls = mock.request_count();
    let (status, v) = chat_as(&two, "team-model").await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "client_tpm_limit", "{v}");
    assert_eq!(mock.request_count(), calls);

    one.stop().await;
    two.stop().await;
}
