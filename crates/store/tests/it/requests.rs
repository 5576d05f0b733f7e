use switchboard_store::{
    Bucket, GroupBy, RequestFilter, StatusFilter, UsageQuery, request_id_time_ms,
};

use crate::common::record;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_700_000_000_000 / DAY * DAY; // a UTC midnight

both! {
#[tokio::test]
async fn batch_insert_get_and_filters(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let mut recs = Vec::new();
    for i in 0..60i64 {
        let alias = if i % 2 == 0 { "gpt" } else { "claude" };
        let provider = if i % 3 == 0 { "deepseek" } else { "mimo" };
        let status = match i % 10 {
            0 => 500,
            1 => 429,
            2 => 503,
            _ => 200,
        };
        recs.push(record(T0 + i * 1000, alias, provider, status));
    }
    let ids = store.insert_requests(&recs).await.unwrap();
    assert_eq!(ids.len(), 60);
    assert_eq!(
        request_id_time_ms(&ids[5]),
        Some(T0 + 5000),
        "ids carry the start time"
    );

    let got = store.get_request(&ids[7]).await.unwrap().unwrap();
    let mut want = recs[7].clone();
    want.id = ids[7].clone();
    assert_eq!(got, want);
    assert_eq!(store.get_request("nope").await.unwrap(), None);

    let all = store
        .query_requests(&RequestFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 60);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].started_at_ms, T0 + 59_000);

    let q = |f: RequestFilter| {
        let store = store.clone();
        async move {
            store
                .query_requests(&RequestFilter { limit: 1000, ..f })
                .await
                .unwrap()
        }
    };
    assert_eq!(
        q(RequestFilter {
            alias: Some("gpt".into()),
            ..Default::default()
        })
        .await
        .len(),
        30
    );
    assert_eq!(
        q(RequestFilter {
            provider: Some("deepseek".into()),
            ..Default::default()
        })
        .await
        .len(),
        20
    );
    assert_eq!(
        q(RequestFilter {
            status: Some(StatusFilter::Exact(429)),
            ..Default::default()
        })
        .await
        .len(),
        6
    );
    let fives = q(RequestFilter {
        status: StatusFilter::parse("5xx"),
        ..Default::default()
    })
    .await;
    assert_eq!(fives.len(), 12);
    assert!(fives.iter().all(|r| r.status >= 500));
    let errors = q(RequestFilter {
        status: StatusFilter::parse("error"),
        ..Default::default()
    })
    .await;
    assert_eq!(errors.len(), 18, "every 4xx and 5xx");
    assert!(errors.iter().all(|r| r.status >= 400));
    let window = q(RequestFilter {
        since_ms: Some(T0 + 10_000),
        until_ms: Some(T0 + 20_000),
        ..Default::default()
    })
    .await;
    assert_eq!(window.len(), 10);
    let combined = q(RequestFilter {
        alias: Some("gpt".into()),
        provider: Some("deepseek".into()),
        status: Some(StatusFilter::Class(2)),
        ..Default::default()
    })
    .await;
    assert!(
        combined.iter().all(|r| r.alias == "gpt"
            && r.provider.as_deref() == Some("deepseek")
            && r.status == 200)
    );
    assert_eq!(combined.len(), 6);

    // Parameters are bound: quotes in a filter are just characters.
    assert!(
        q(RequestFilter {
            alias: Some("x' OR '1'='1".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // Pruning.
    assert_eq!(store.prune_requests(T0 + 30_000).await.unwrap(), 30);
    assert_eq!(q(RequestFilter::default()).await.len(), 30);
}
}

both! {
#[tokio::test]
async fn cursor_paging_visits_every_row_once(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    // Several rows per millisecond, so ids (not times) must order the pages; more rows than
    // one INSERT statement takes.
    let recs: Vec<_> = (0..600i64)
        .map(|i| record(T0 + i / 4, "a", "p", 200))
        .collect();
    let mut ids = store.insert_requests(&recs).await.unwrap();
    ids.sort();
    ids.reverse();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .query_requests(&RequestFilter {
                before_id: before.clone(),
                limit: 70,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 70);
        before = page.last().map(|r| r.id.clone());
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, ids);
}
}

both! {
#[tokio::test]
async fn usage_aggregates_by_bucket_and_group(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let mut recs = Vec::new();
    // Day 0: 10 deepseek (latency 10..100, 2 errors), 5 mimo. Day 1: 3 deepseek.
    for i in 0..10i64 {
        let mut r = record(
            T0 + i * 60_000,
            "gpt",
            "deepseek",
            if i < 2 { 500 } else { 200 },
        );
        r.latency_ms = (i as u64 + 1) * 10;
        r.tokens_in = 100;
        r.tokens_out = 20;
        recs.push(r);
    }
    for i in 0..5i64 {
        recs.push(record(T0 + 3_600_000 + i, "claude", "mimo", 200));
    }
    for i in 0..3i64 {
        recs.push(record(T0 + DAY + i, "gpt", "deepseek", 200));
    }
    // Before the window: ignored.
    recs.push(record(T0 - 1, "gpt", "deepseek", 200));
    store.insert_requests(&recs).await.unwrap();

    let rows = store
        .usage_stats(&UsageQuery {
            since_ms: T0,
            bucket: Bucket::Day,
            group_by: GroupBy::Provider,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let ds0 = &rows[0];
    assert_eq!(
        (ds0.bucket_start_ms, ds0.group.as_deref()),
        (T0, Some("deepseek"))
    );
    assert_eq!(
        (ds0.requests, ds0.errors, ds0.tokens_in, ds0.tokens_out),
        (10, 2, 1000, 200)
    );
    assert_eq!(ds0.p50_latency_ms, Some(50));
    assert_eq!(ds0.p95_latency_ms, Some(100));
    assert_eq!(ds0.avg_ttfb_ms, Some(10));
    assert_eq!(
        (rows[1].group.as_deref(), rows[1].requests),
        (Some("mimo"), 5)
    );
    assert_eq!((rows[2].bucket_start_ms, rows[2].requests), (T0 + DAY, 3));

    let hourly = store
        .usage_stats(&UsageQuery {
            since_ms: T0,
            until_ms: Some(T0 + DAY),
            bucket: Bucket::Hour,
            group_by: GroupBy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hourly.len(), 2);
    assert_eq!(
        (
            hourly[0].bucket_start_ms,
            hourly[0].requests,
            hourly[0].group.clone()
        ),
        (T0, 10, None)
    );
    assert_eq!(
        (hourly[1].bucket_start_ms, hourly[1].requests),
        (T0 + 3_600_000, 5)
    );

    let by_alias = store
        .usage_stats(&UsageQuery {
            since_ms: T0,
            group_by: GroupBy::Alias,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_alias.iter().map(|r| r.requests).sum::<u64>(), 18);
    let by_model = store
        .usage_stats(&UsageQuery {
            since_ms: T0,
            group_by: GroupBy::Model,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        by_model
            .iter()
            .any(|r| r.group.as_deref() == Some("mimo-model"))
    );
    let by_key = store
        .usage_stats(&UsageQuery {
            since_ms: T0,
            group_by: GroupBy::Key,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_key.iter().all(|r| r.group.as_deref() == Some("1")));

    // Local days: with UTC+1 the mimo rows (01:00 UTC) fall on the same local day.
    let local = store
        .usage_stats(&UsageQuery {
            since_ms: T0,
            bucket: Bucket::Day,
            utc_offset_ms: 3_600_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(local[0].bucket_start_ms, T0 - 3_600_000);
}
}

both! {
#[tokio::test]
async fn summary_counts_the_whole_window_in_the_database(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let since = T0;
    let until = T0 + 30 * 60_000;
    let mut recs = Vec::new();
    // 600 requests inside the window (more than any page the dashboard reads), one every 3 s.
    for i in 0..600i64 {
        let status = if i % 10 == 0 { 502 } else { 200 };
        let mut r = record(since + i * 3000, "gpt", "mimo", status);
        r.latency_ms = 1 + (i as u64 % 100);
        if i == 7 {
            // The oldest request of the window needed a failover.
            let mut first = r.attempts[0].clone();
            first.status = Some(429);
            r.attempts.insert(0, first);
        }
        recs.push(r);
    }
    // Outside the window on both sides: not counted.
    recs.push(record(since - 1, "gpt", "mimo", 500));
    recs.push(record(until, "gpt", "mimo", 500));
    // No answer at all counts as an error.
    let mut dropped = record(since + 5, "gpt", "mimo", 0);
    dropped.latency_ms = 5000;
    recs.push(dropped);
    store.insert_requests(&recs).await.unwrap();

    let s = store.request_summary(since, until).await.unwrap();
    assert_eq!(s.requests, 601);
    assert_eq!(s.errors, 61, "60 × 502 and the unanswered one");
    assert_eq!(s.failovers, 1);
    assert_eq!(s.per_minute.len(), 30);
    assert_eq!(s.per_minute.iter().sum::<u64>(), 601);
    assert_eq!(s.per_minute[0], 21, "20 every 3 s, and the unanswered one");
    assert_eq!(s.per_minute[29], 20);
    // Successful latencies: 540 values of 1..=100 without the multiples of 10 plus 1 (i % 10 == 0).
    let mut ok: Vec<u64> = (0..600u64)
        .filter(|i| i % 10 != 0)
        .map(|i| 1 + i % 100)
        .collect();
    ok.sort_unstable();
    let rank = |p: f64| ok[((p * ok.len() as f64).ceil() as usize).clamp(1, ok.len()) - 1];
    assert_eq!(s.p50_latency_ms, Some(rank(0.5)));
    assert_eq!(s.p95_latency_ms, Some(rank(0.95)));

    // The failover is found by filter, however many requests came after it.
    let fo = store
        .query_requests(&RequestFilter {
            since_ms: Some(since),
            failovers_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(fo.len(), 1);
    assert_eq!(fo[0].started_at_ms, since + 7 * 3000);

    let empty = store
        .request_summary(until + 60_000, until + 120_000)
        .await
        .unwrap();
    assert_eq!((empty.requests, empty.p50_latency_ms), (0, None));
    assert!(store.request_summary(until, since).await.is_err());
    assert!(store.request_summary(0, 2 * DAY).await.is_err());
}
}

both! {
#[tokio::test]
async fn cache_hits_per_provider_over_the_window_with_affinity_kept(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let mut recs = Vec::new();
    // Before the window: not counted.
    let mut old = record(T0 - 1, "m", "a", 200);
    old.tokens_in = 1000;
    recs.push(old);
    for (provider, tin, cached, status) in [
        ("a", 100, 80, 200),
        ("a", 300, 0, 200),
        ("a", 500, 500, 500), // failed: not counted
        ("b", 50, 10, 200),
        ("c", 0, 0, 200),
    ] {
        let mut r = record(T0 + 10, "m", provider, status);
        r.tokens_in = tin;
        r.tokens_cached = cached;
        r.affinity = Some("kept".into());
        recs.push(r);
    }
    let ids = store.insert_requests(&recs).await.unwrap();
    let got = store.get_request(&ids[1]).await.unwrap().unwrap();
    assert_eq!(got.affinity.as_deref(), Some("kept"), "affinity is stored");
    let hits = store.cache_hits(T0).await.unwrap();
    let rows: Vec<(&str, u64, u64, Option<f64>)> = hits
        .iter()
        .map(|h| {
            (
                h.provider.as_str(),
                h.tokens_in,
                h.tokens_cached,
                h.hit_rate,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a", 400, 80, Some(0.2)),
            ("b", 50, 10, Some(0.2)),
            ("c", 0, 0, None)
        ]
    );
}
}

both! {
#[tokio::test]
async fn new_requests_are_announced_to_listeners_by_instance(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let Some(mut listener) = store.listen_requests().await.unwrap() else {
        assert_eq!(store.backend(), switchboard_store::Backend::Sqlite);
        return;
    };
    // 450 records from instance "a" (three notifications' worth) and one from "b".
    let mut recs: Vec<_> = (0..450)
        .map(|i| {
            let mut r = record(T0 + i, "gpt", "mimo", 200);
            r.instance = Some("a".into());
            r
        })
        .collect();
    let mut from_b = record(T0 + 999, "gpt", "mimo", 429);
    from_b.instance = Some("b".into());
    recs.push(from_b);
    let ids = store.insert_requests(&recs).await.unwrap();

    let mut announced: Vec<(String, Vec<String>)> = Vec::new();
    while announced.iter().map(|(_, ids)| ids.len()).sum::<usize>() < ids.len() {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.next())
            .await
            .expect("a batch was not announced")
            .unwrap()
            .expect("the listening connection dropped");
        announced.push((n.instance, n.ids));
    }
    let sizes: Vec<(&str, usize)> = announced
        .iter()
        .map(|(i, ids)| (i.as_str(), ids.len()))
        .collect();
    assert_eq!(sizes, [("a", 200), ("a", 200), ("a", 50), ("b", 1)]);
    let all: Vec<String> = announced.into_iter().flat_map(|(_, ids)| ids).collect();
    assert_eq!(all, ids);

    // The announced ids read back, oldest first; unknown ids are left out.
    let mut wanted = vec![ids[450].clone(), "nope".into(), ids[3].clone()];
    let got = store.requests_by_ids(&wanted).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [ids[3].as_str(), ids[450].as_str()]
    );
    assert_eq!(got[1].instance.as_deref(), Some("b"));
    wanted.clear();
    assert!(store.requests_by_ids(&wanted).await.unwrap().is_empty());
}
}

both! {
#[tokio::test]
async fn the_log_filters_by_serving_instance(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let recs: Vec<_> = ["a", "b", "a"]
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let mut r = record(T0 + i as i64, "gpt", "mimo", 200);
            r.instance = Some((*inst).into());
            r
        })
        .collect();
    store.insert_requests(&recs).await.unwrap();
    let of = async |instance: &str| {
        store
            .query_requests(&RequestFilter {
                instance: Some(instance.into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|r| r.started_at_ms - T0)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("a").await, [2, 0]);
    assert_eq!(of("b").await, [1]);
    assert!(of("c").await.is_empty());
}
}
