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

/// Rows that record the size of each batch written, each write taking 20 ms.
struct Slow;

impl switchboard_store::Rows for Slow {
    const WHAT: &'static str = "slow rows";
    type Ctx = std::sync::Arc<std::sync::Mutex<Vec<usize>>>;
    async fn write(
        _: &switchboard_store::Store,
        sizes: &Self::Ctx,
        batch: &[Self],
    ) -> Result<(), switchboard_store::StoreError> {
        sizes.lock().unwrap().push(batch.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(())
    }
}

#[tokio::test]
async fn steady_traffic_is_written_once_per_window_not_once_per_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::common::mem_store(dir.path()).await;
    tokio::time::pause();
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (sink, task) = switchboard_store::spawn_writer::<Slow>(store, sizes.clone(), 8192);
    // A row every millisecond or two, while each write takes 20 ms.
    let started = tokio::time::Instant::now();
    for _ in 0..1000 {
        sink.send(Slow);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let windows = started.elapsed().as_millis() / 100;
    sink.flush().await;
    assert_eq!(sink.written(), 1000);
    task.shutdown().await;
    let sizes = sizes.lock().unwrap();
    // One write per 100 ms window (plus its 20 ms) and the flush's, not one per 20 ms of
    // rows that arrived during the write before (five times as many).
    assert!(
        sizes.len() as u128 <= windows + 1 && sizes.len() as u128 >= windows / 2,
        "{} writes in {windows} windows: {sizes:?}",
        sizes.len()
    );
}
