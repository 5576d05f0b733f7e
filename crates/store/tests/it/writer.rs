use std::time::{Duration, Instant};

use switchboard_store::{RequestFilter, RequestLogWriter};

use crate::common::record;

async fn count(store: &switchboard_store::Store) -> i64 {
    crate::common::scalar(store, "SELECT COUNT(*) FROM request_log").await
}

both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_everything_queued(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (sink, task) = RequestLogWriter::spawn(store.clone());
    let other = sink.clone();
    for i in 0..3000i64 {
        let s = if i % 2 == 0 { &sink } else { &other };
        s.record(record(1_700_000_000_000 + i, "a", "p", 200));
    }
    task.shutdown().await;
    assert_eq!(sink.dropped(), 0);
    assert_eq!(sink.written(), 3000);
    assert_eq!(count(&store).await, 3000);
    // After shutdown records are dropped (counted), not queued forever.
    sink.record(record(1, "a", "p", 200));
    assert_eq!(sink.dropped(), 1);
}
}

both! {
#[tokio::test]
async fn writes_within_the_batch_window_while_running(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (sink, task) = RequestLogWriter::spawn(store.clone());
    sink.record(record(1_700_000_000_000, "a", "p", 200));
    let started = Instant::now();
    while count(&store).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "row never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store
            .query_requests(&RequestFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    task.shutdown().await;
}
}

both! {
#[tokio::test]
async fn a_full_queue_drops_and_never_blocks(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (sink, task) = RequestLogWriter::spawn_with_capacity(store.clone(), 16);
    // On this single-threaded runtime the writer cannot run during the loop: the queue fills.
    let started = Instant::now();
    for i in 0..10_000i64 {
        sink.record(record(1_700_000_000_000 + i, "a", "p", 200));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "record() must not wait"
    );
    assert_eq!(sink.dropped(), 10_000 - 16);
    task.shutdown().await;
    assert_eq!(sink.written(), 16);
    assert_eq!(count(&store).await, 16);
}
}

both! {
#[tokio::test]
async fn ends_when_every_sink_is_gone(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (sink, task) = RequestLogWriter::spawn(store.clone());
    sink.record(record(1_700_000_000_000, "a", "p", 200));
    drop(sink);
    tokio::time::timeout(Duration::from_secs(5), task.shutdown())
        .await
        .unwrap();
    assert_eq!(count(&store).await, 1);
}
}

both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arriving_within_a_window_are_written_together(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (sink, task) = RequestLogWriter::spawn(store.clone());
    sink.record(record(1_700_000_000_000, "a", "p", 200));
    tokio::time::sleep(Duration::from_millis(20)).await;
    for i in 1..4i64 {
        sink.record(record(1_700_000_000_000 + i, "a", "p", 200));
    }
    let mut seen = vec![];
    let started = Instant::now();
    while sink.written() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "rows never written"
        );
        seen.push(sink.written());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        seen.iter().all(|&n| n == 0),
        "one batch for the window, not one write per record: {seen:?}"
    );
    assert_eq!(count(&store).await, 4);
    task.shutdown().await;
}
}

both! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_writes_what_is_queued_without_waiting_out_the_window(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (sink, task) = RequestLogWriter::spawn(store.clone());
    // Right after the record, then from inside the window the record opened.
    for round in 1..=2i64 {
        sink.record(record(1_700_000_000_000 + round, "a", "p", 200));
        if round == 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::timeout(Duration::from_millis(80), sink.flush())
            .await
            .expect("flush returns before the window would have closed");
        assert_eq!(count(&store).await, round);
    }
    // Nothing queued: returns at once. After shutdown: returns, does not hang.
    tokio::time::timeout(Duration::from_millis(80), sink.flush())
        .await
        .unwrap();
    task.shutdown().await;
    tokio::time::timeout(Duration::from_secs(1), sink.flush())
        .await
        .unwrap();
}
}
