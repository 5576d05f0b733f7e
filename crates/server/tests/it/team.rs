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
        self.chat_as(ACCESS, model).await.status().as_u16()
    }

    /// A chat request for `model` with `key` (a client's key).
    async fn chat_as(&self, key: &str, model: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
    }

    /// [`Instance::chat_as`]'s status and JSON body.
    async fn chat_answer(&self, key: &str, model: &str) -> (u16, Value) {
        let resp = self.chat_as(key, model).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Creates the client `body` describes through the admin API; its access key.
    async fn new_client(&self, body: Value) -> String {
        let (status, created) = self
            .admin(Method::POST, "/api/v1/clients", Some(body))
            .await;
        assert_eq!(status, 200, "{created}");
        created["key"].as_str().unwrap().to_owned()
    }

    /// Whether this instance knows the client `key` yet (listing models is not a request
    /// the limits count).
    async fn knows(&self, key: &str) -> bool {
        self.http
            .get(format!("{}/v1/models", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
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
    let three = Instance::start(&database, "three", &dir, Duration::from_secs(3600)).await;
    assert_eq!(two.chat("team-model").await, 404, "no such route yet");
    assert_eq!(three.chat("team-model").await, 404, "no such route yet");

    // The route is the last of the three edits: once its admin call returns it is committed.
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    let edited = std::time::Instant::now();
    let version = one.handle.control().config_version().unwrap();
    let others = [("two", &two), ("three", &three)];
    let mut loaded = [None, None];
    let mut served = [None, None];
    while edited.elapsed() < Duration::from_secs(10) && served.iter().any(Option::is_none) {
        for (i, (_, inst)) in others.iter().enumerate() {
            if loaded[i].is_none()
                && inst
                    .handle
                    .control()
                    .config_version()
                    .is_some_and(|v| v >= version)
            {
                loaded[i] = Some(edited.elapsed());
            }
            if loaded[i].is_some() && served[i].is_none() && inst.chat("team-model").await == 200 {
                served[i] = Some(edited.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (i, (name, _)) in others.iter().enumerate() {
        let (Some(loaded), Some(served)) = (loaded[i], served[i]) else {
            panic!("instance {name} never served the route added on instance one");
        };
        assert!(
            served < Duration::from_secs(1),
            "instance {name}: snapshot at {loaded:?}, served at {served:?} after the edit"
        );
    }

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
    assert!(
        status["config_version"]
            .as_i64()
            .is_some_and(|v| v >= version),
        "{status}"
    );

    one.stop().await;
    two.stop().await;
    three.stop().await;
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

// ---------------------------------------------------------------------------------------
// The whole cluster on every instance: live feeds, the log's instance filter, and the
// instances list's stale and removed rows.

/// Opens an admin SSE feed of `via`; its events as (name, data) pairs.
async fn feed(
    via: &Instance,
    path: &str,
) -> impl futures_util::Stream<Item = (String, Value)> + Unpin + use<> {
    use futures_util::StreamExt;
    let resp = via
        .http
        .get(format!("{}{path}", via.url))
        .bearer_auth(ADMIN)
        // No overall timeout on a feed: the caller bounds its wait.
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    Box::pin(resp.bytes_stream().flat_map(move |chunk| {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_default()));
        let mut events = Vec::new();
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default()
                .to_owned();
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            if !name.is_empty() {
                events.push((name, data));
            }
        }
        futures_util::stream::iter(events)
    }))
}

/// Reads `events` until one satisfies `want` (within `secs`); it, or `None`.
async fn wait_for(
    events: &mut (impl futures_util::Stream<Item = (String, Value)> + Unpin),
    secs: u64,
    want: impl Fn(&str, &Value) -> bool,
) -> Option<Value> {
    use futures_util::StreamExt;
    tokio::time::timeout(Duration::from_secs(secs), async {
        while let Some((name, data)) = events.next().await {
            if want(&name, &data) {
                return Some(data);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feeds_of_one_instance_show_the_whole_cluster() {
    let database = fresh_postgres_url().await;
    let redis = redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::with_redis(&database, &redis, "one", &dir).await;
    let two = Instance::with_redis(&database, &redis, "two", &dir).await;
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    assert!(
        eventually(10_000, async || two.chat("team-model").await == 200).await,
        "the route never reached instance two"
    );

    // A request served by instance one appears in instance two's live feed, naming it.
    let mut requests = feed(&two, "/api/v1/requests/live").await;
    assert_eq!(one.chat("team-model").await, 200);
    let seen = wait_for(&mut requests, 10, |name, r| {
        name == "request" && r["instance"] == "one"
    })
    .await;
    let seen = seen.expect("instance two's live feed never showed instance one's request");
    assert_eq!(seen["alias"], "team-model");
    assert_eq!(seen["status"], 200);
    // Its own requests are there too, once each.
    assert_eq!(two.chat("team-model").await, 200);
    let own = wait_for(&mut requests, 10, |name, r| {
        name == "request" && r["instance"] == "two"
    })
    .await
    .expect("instance two's own request is missing from its feed");
    // Not a second time through the database (its batch is written within 100 ms).
    let again = wait_for(&mut requests, 2, |name, r| {
        name == "request" && r["id"] == own["id"]
    });
    assert!(
        again.await.is_none(),
        "instance two's own request came twice"
    );

    // A cooldown observed by instance one appears in instance two's health feed.
    let mut health = feed(&two, "/api/v1/health/events").await;
    mock.push_fault_for_key(
        "sk-team-shared-0123456789",
        "fault=429,retry_after=30".parse().unwrap(),
    );
    assert_ne!(one.chat("team-model").await, 200);
    let until = one.cooling()[0].until_ms;
    let cooled = wait_for(&mut health, 10, |name, e| {
        name == "health" && e["state"] == "cooling"
    })
    .await
    .expect("instance two's health feed never showed the cooldown instance one observed");
    assert_eq!(cooled["provider"], "shared");
    assert_eq!(cooled["until_ms"].as_i64(), until);

    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_filters_by_serving_instance() {
    let database = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let check = Duration::from_millis(200);
    let one = Instance::start(&database, "one", &dir, check).await;
    let two = Instance::start(&database, "two", &dir, check).await;
    add_provider_and_route(&one, &mock, "shared", "team-model").await;
    assert!(eventually(10_000, async || two.chat("team-model").await == 200).await);
    for _ in 0..2 {
        assert_eq!(one.chat("team-model").await, 200);
    }
    // Served requests only: instance two may have answered 404 before the route reached it.
    let listed = async |query: &str| -> Vec<String> {
        let (status, rows) = two
            .admin(
                Method::GET,
                &format!("/api/v1/requests?status=200&{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{rows}");
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["instance"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert!(
        eventually(10_000, async || listed("instance=one").await.len() == 2).await,
        "{:?}",
        listed("").await
    );
    assert_eq!(listed("instance=one").await, ["one", "one"]);
    assert_eq!(listed("instance=two").await, ["two"]);
    assert!(listed("instance=three").await.is_empty());
    // Combined with another filter; an empty value is no filter.
    assert_eq!(listed("instance=two&alias=team-model").await, ["two"]);
    assert!(listed("instance=one&alias=other").await.is_empty());
    assert_eq!(listed("instance=").await.len(), 3);
    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_instances_are_marked_and_silent_ones_removed_after_a_day() {
    use switchboard_router::clock::ManualClock;
    use switchboard_store::InstanceRow;

    let database = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let now = switchboard_store::now_ms();
    let clock = ManualClock::new(now);
    let mut o = Options::new(dir.path().join("one"));
    o.port = 0;
    o.database_url = Some(database.clone());
    o.team_master_key = Some(Secret::new(MASTER));
    o.instance_id = Some("one".into());
    o.access_key = Some(Secret::new(ACCESS));
    o.admin_token = Some(Secret::new(ADMIN));
    o.clock = std::sync::Arc::new(clock.clone());
    o.heartbeat_every = Duration::from_millis(100);
    o.shutdown_grace = Duration::from_secs(2);
    let handle = Switchboard::start(o).await.unwrap();
    let one = Instance {
        url: format!("http://{}", handle.local_addr()),
        handle,
        http: reqwest::Client::new(),
    };
    let store = one.handle.control().store().clone();
    let row = |id: &str, last: i64| InstanceRow {
        id: id.into(),
        version: "0.0.1".into(),
        address: "10.0.0.9:9911".into(),
        started_at_ms: last - 1_000,
        last_heartbeat_ms: last,
        in_flight: 0,
    };
    // Killed a minute ago, and killed a day and an hour ago.
    store
        .heartbeat_instance(&row("stale", now - 60_000))
        .await
        .unwrap();
    store
        .heartbeat_instance(&row("lost", now - 25 * 3_600_000))
        .await
        .unwrap();

    let ids = async || -> Vec<Value> {
        let (status, rows) = one.admin(Method::GET, "/api/v1/instances", None).await;
        assert_eq!(status, 200, "{rows}");
        rows.as_array().cloned().unwrap_or_default()
    };
    let id_list = async || -> Vec<String> {
        ids()
            .await
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect()
    };
    // The next heartbeat removes the row silent for over a day.
    assert!(
        eventually(10_000, async || id_list().await == ["one", "stale"]).await,
        "{:?}",
        id_list().await
    );
    let rows = ids().await;
    let stale = &rows[1];
    assert_eq!(stale["alive"], false, "{stale}");
    assert_eq!(
        stale["missed_heartbeats"], 600,
        "a minute of 100 ms heartbeats"
    );
    assert_eq!(stale["removed_at_ms"], now - 60_000 + 86_400_000);
    let me = &rows[0];
    assert_eq!(me["alive"], true, "{me}");
    assert_eq!(me["missed_heartbeats"], 0, "{me}");

    // A day later (on the injected clock) the stale row goes too; this instance's stays.
    clock.advance_ms(86_400_000);
    assert!(
        eventually(10_000, async || id_list().await == ["one"]).await,
        "{:?}",
        id_list().await
    );
    one.stop().await;
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
    let key = one.new_client(json!({"name": "codex", "rpm": 3})).await;
    let chat_as = async |i: &Instance| i.chat_as(&key, "team-model").await;
    // The client and the route reach instance two (listing models is not a request the
    // limit counts).
    assert!(eventually(10_000, async || two.knows(&key).await).await);
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
async fn every_instance_shows_what_a_client_spent_on_all_of_them() {
    let database = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let one = Instance::start(&database, "one", &dir, Duration::from_secs(3600)).await;
    let two = Instance::start(&database, "two", &dir, Duration::from_secs(3600)).await;
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
    // No budget: nothing is shared through Redis (there is none here); the log is shared.
    let key = one.new_client(json!({"name": "spender"})).await;
    assert!(
        eventually(10_000, async || one
            .chat_answer(&key, "priced-model")
            .await
            .0
            == 200)
        .await,
        "instance one never served the client"
    );
    let spent = async |i: &Instance| {
        let (status, c) = i.admin(Method::GET, "/api/v1/clients/spender", None).await;
        assert_eq!(status, 200, "{c}");
        (
            c["spent_today_usd"].as_f64().unwrap_or(0.0),
            c["spent_month_usd"].as_f64().unwrap_or(0.0),
        )
    };
    let (day, month) = spent(&one).await;
    assert!(day > 0.0 && month >= day, "{day} {month}");
    // Instance two served the client nothing, yet shows what it spent on instance one.
    assert!(
        eventually(10_000, async || spent(&two).await == (day, month)).await,
        "instance two shows {:?}, instance one {:?}",
        spent(&two).await,
        (day, month)
    );
    let (_, all) = two.admin(Method::GET, "/api/v1/clients", None).await;
    let listed = all
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "spender"))
        .map(|c| c["spent_today_usd"].as_f64().unwrap_or(0.0));
    assert_eq!(listed, Some(day), "{all}");
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
    let key = one
        .new_client(json!({"name": "capped", "daily_budget_usd": 1.0}))
        .await;
    let chat_as = async |i: &Instance, model: &str| i.chat_answer(&key, model).await;
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
    let key = one.new_client(json!({"name": "codex", "rpm": 2})).await;
    let chat_as = async |i: &Instance| i.chat_answer(&key, "narrow-model").await;
    assert!(
        eventually(10_000, async || two.chat("narrow-model").await == 200).await,
        "the route never reached instance two"
    );
    assert!(eventually(10_000, async || two.knows(&key).await).await);
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
    let key = one.new_client(json!({"name": "wordy", "tpm": 60})).await;
    let chat_as = async |i: &Instance, model: &str| i.chat_answer(&key, model).await;
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

/// Degradation: the shared PostgreSQL or Redis out of reach. The test cuts the network
/// between one instance and the server (a TCP link it controls), so the servers themselves
/// stay up for the other tests; `scripts/chaos.sh` restarts real servers under load.
mod degradation {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    use super::*;

    /// A TCP link to a server that can be cut (open connections closed, new ones closed as
    /// soon as they are accepted) and restored: the network failing between an instance and
    /// the server.
    struct Link {
        addr: SocketAddr,
        up: Arc<watch::Sender<bool>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Link {
        async fn to(target: SocketAddr) -> Link {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let up = Arc::new(watch::channel(true).0);
            let state = up.clone();
            let task = tokio::spawn(async move {
                let mut conns = tokio::task::JoinSet::new();
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    while conns.try_join_next().is_some() {}
                    if !*state.borrow() {
                        continue;
                    }
                    let mut cut = state.subscribe();
                    conns.spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut.wait_for(|up| !up) => {}
                        }
                    });
                }
            });
            Link { addr, up, task }
        }

        fn cut(&self) {
            self.up.send_replace(false);
        }

        fn restore(&self) {
            self.up.send_replace(true);
        }
    }

    impl Drop for Link {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// `scheme://[user@]host:port/rest` → its `host:port`, and the URL with `addr` there.
    fn through(url: &str, addr: SocketAddr) -> (SocketAddr, String) {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (user, rest) = match rest.split_once('@') {
            Some((u, r)) => (format!("{u}@"), r),
            None => (String::new(), rest),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let target = rest[..end].parse().unwrap();
        (target, format!("{scheme}://{user}{addr}{}", &rest[end..]))
    }

    /// Starts an instance on `database` (and `redis`) with `tweak` applied to its options.
    async fn launch(
        database: &str,
        redis: Option<&str>,
        id: &str,
        dir: &TempDir,
        tweak: impl FnOnce(&mut Options),
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
        // Only the return of the database (or a notification) brings changes made elsewhere.
        o.config_check_every = Duration::from_secs(3600);
        o.shutdown_grace = Duration::from_secs(2);
        tweak(&mut o);
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

    async fn status(i: &Instance) -> Value {
        let (code, body) = i.admin(Method::GET, "/api/v1/status", None).await;
        assert_eq!(code, 200, "{body}");
        body
    }

    /// The value of an unlabelled series on `/metrics`.
    async fn metric(i: &Instance, name: &str) -> Option<f64> {
        let text = i
            .http
            .get(format!("{}/metrics", i.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    async fn stored_requests(i: &Instance, instance: &str) -> i64 {
        let pool = i.handle.control().store().pg_pool().unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM request_log WHERE instance = $1")
            .bind(instance)
            .fetch_one(pool)
            .await
            .unwrap();
        n
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_the_database_requests_are_served_records_wait_and_edits_are_refused() {
        let database = fresh_postgres_url().await;
        let dir = tempfile::tempdir().unwrap();
        let mock = MockUpstream::start().await.unwrap();
        let (server, _) = through(&database, "127.0.0.1:1".parse().unwrap());
        let link = Link::to(server).await;
        let (_, linked) = through(&database, link.addr);
        // A queue of 4: the requests sent during the outage overflow it.
        let capacity = 4;
        let one = launch(&linked, None, "one", &dir, |o| {
            o.request_log_capacity = capacity
        })
        .await;
        let two = launch(&database, None, "two", &dir, |_| {}).await;
        add_provider_and_route(&one, &mock, "shared", "team-model").await;
        assert_eq!(one.chat("team-model").await, 200);
        assert_eq!(status(&one).await["database"], "ok");
        assert_eq!(metric(&one, "switchboard_database_up").await, Some(1.0));

        link.cut();
        assert!(
            eventually(10_000, async || status(&one).await["database"]
                == "unreachable")
            .await,
            "the status never said the database is unreachable"
        );
        assert_eq!(metric(&one, "switchboard_database_up").await, Some(0.0));

        // Routing goes on from the last snapshot. More requests than the writer can hold
        // (one batch of at most BATCH_ROWS, then the queue) are answered all the same.
        let during = switchboard_store::BATCH_ROWS + capacity + 20;
        for n in 0..during {
            assert_eq!(
                one.chat("team-model").await,
                200,
                "request {n} of the outage"
            );
        }
        let st = status(&one).await;
        let dropped = st["request_log_dropped"].as_u64().unwrap();
        assert!(dropped >= 20, "{st}");
        assert!(st["request_log_waiting"].as_u64().unwrap() >= 1, "{st}");
        assert_eq!(
            metric(&one, "switchboard_request_log_dropped_total").await,
            Some(dropped as f64)
        );

        // Edits answer 503 at once, in the admin API's format, saying why.
        let (code, body) = one
            .admin(
                Method::POST,
                "/api/v1/routes",
                Some(
                    json!({"alias": "refused", "targets": [{"provider": "shared", "model": "m"}]}),
                ),
            )
            .await;
        assert_eq!(code, 503, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("database is unreachable") && message.contains("edits are refused"),
            "{message}"
        );
        // A read that needs the database says the same instead of failing with 500.
        let (code, body) = one
            .admin(Method::GET, "/api/v1/requests?limit=5", None)
            .await;
        assert_eq!(code, 503, "{body}");

        // Meanwhile an instance that reaches the database adds a route.
        let (code, body) = two
            .admin(
                Method::POST,
                "/api/v1/routes",
                Some(json!({"alias": "added-meanwhile", "targets": [{"provider": "shared", "model": "m"}]})),
            )
            .await;
        assert_eq!(code, 200, "{body}");

        link.restore();
        assert!(
            eventually(10_000, async || status(&one).await["database"] == "ok").await,
            "the status never said the database is back"
        );
        // Every record held or queued is written: what was answered and not dropped is stored.
        let answered = 1 + during as i64;
        assert!(
            eventually(15_000, async || {
                stored_requests(&two, "one").await + dropped as i64 == answered
            })
            .await,
            "stored {} of {answered} requests, {dropped} dropped",
            stored_requests(&two, "one").await
        );
        assert_eq!(status(&one).await["request_log_waiting"], 0);
        // The configuration is checked when the database is back (the hourly check would not
        // have come yet, and the notification was sent while the link was cut).
        assert!(
            eventually(10_000, async || one.chat("added-meanwhile").await == 200).await,
            "the route added during the outage never reached instance one"
        );
        // And edits are accepted again.
        let (code, body) = one
            .admin(
                Method::POST,
                "/api/v1/routes",
                Some(json!({"alias": "after", "targets": [{"provider": "shared", "model": "m"}]})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        one.stop().await;
        two.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_redis_the_status_says_so_and_the_shared_view_returns_with_it() {
        let database = fresh_postgres_url().await;
        let redis = redis_url();
        let dir = tempfile::tempdir().unwrap();
        let mock = MockUpstream::start().await.unwrap();
        let (server, _) = through(&redis, "127.0.0.1:1".parse().unwrap());
        let link = Link::to(server).await;
        let (_, linked) = through(&redis, link.addr);
        let one = launch(&database, Some(&linked), "one", &dir, |_| {}).await;
        let two = launch(&database, Some(&redis), "two", &dir, |o| {
            o.config_check_every = Duration::from_millis(200)
        })
        .await;
        add_provider_and_route(&one, &mock, "shared", "team-model").await;
        assert!(
            eventually(10_000, async || two.chat("team-model").await == 200).await,
            "the route never reached instance two"
        );
        assert_eq!(status(&one).await["redis"], "ok");
        let plain = launch(&database, None, "plain", &dir, |_| {}).await;
        let without = status(&plain).await;
        assert_eq!(
            without["redis"],
            Value::Null,
            "no Redis configured: {without}"
        );
        plain.stop().await;

        link.cut();
        assert!(
            eventually(10_000, async || status(&one).await["redis"]
                == "unreachable")
            .await,
            "the status never said Redis is unreachable"
        );
        assert_eq!(one.chat("team-model").await, 200, "serving on local health");
        // Instance two sees the key rate limited; instance one cannot hear of it yet.
        mock.push_fault_for_key(
            "sk-team-shared-0123456789",
            "fault=429,retry_after=30".parse().unwrap(),
        );
        assert_ne!(two.chat("team-model").await, 200);
        let until = two.cooling()[0].until_ms;
        assert!(one.cooling().is_empty());

        link.restore();
        assert!(
            eventually(10_000, async || status(&one).await["redis"] == "ok").await,
            "the status never said Redis is back"
        );
        // Back on Redis it reloads the shared view: the cooldown seen meanwhile applies.
        assert!(
            eventually(10_000, async || one
                .cooling()
                .iter()
                .any(|e| e.until_ms == until))
            .await,
            "instance one did not load the cooldown stored while Redis was out of reach"
        );
        one.stop().await;
        two.stop().await;
    }
}
