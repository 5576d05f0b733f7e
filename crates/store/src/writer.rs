//! The request log writer: the request path hands records to a bounded channel and never
//! waits; one task drains it in batches (up to [`BATCH_ROWS`] rows, or whatever arrived within
//! [`BATCH_WINDOW`] of the first) and writes each batch in one transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_router::log::RequestRecord;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::db::Store;

/// Rows written per transaction at most.
pub const BATCH_ROWS: usize = 256;
/// How long the writer waits for more rows after the first of a batch.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Records queued before new ones are dropped.
pub const DEFAULT_CAPACITY: usize = 8192;

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RequestLogSink {
    tx: mpsc::Sender<RequestRecord>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for RequestLogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLogSink")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl RequestLogSink {
    /// Queues a record. When the queue is full (or the writer has stopped) the record is
    /// dropped and counted; the caller is never made to wait.
    pub fn record(&self, record: RequestRecord) {
        if self.tx.try_send(record).is_err() {
            let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "request log queue full; records dropped");
            }
        }
    }

    /// Records dropped because the queue was full or the writer had stopped.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the database so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Records lost because the database refused the batch (after one retry).
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }
}

/// The draining task. Owned by whoever shuts the engine down; [`RequestLogTask::shutdown`]
/// writes everything queued and then returns.
pub struct RequestLogTask {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl RequestLogTask {
    /// Stops accepting records, writes every record already queued, and waits for the task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.handle).await {
            tracing::error!(error = %e, "request log writer task failed");
        }
    }
}

/// Builds the sink and the task that writes what it receives.
pub struct RequestLogWriter;

impl RequestLogWriter {
    /// Spawns the writer with [`DEFAULT_CAPACITY`].
    pub fn spawn(store: Store) -> (RequestLogSink, RequestLogTask) {
        Self::spawn_with_capacity(store, DEFAULT_CAPACITY)
    }

    pub fn spawn_with_capacity(store: Store, capacity: usize) -> (RequestLogSink, RequestLogTask) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let handle = tokio::spawn(run(store, rx, stop_rx, Arc::clone(&counters)));
        (
            RequestLogSink { tx, counters },
            RequestLogTask {
                stop: Some(stop_tx),
                handle,
            },
        )
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<RequestRecord>,
    mut stop: oneshot::Receiver<()>,
    counters: Arc<Counters>,
) {
    let mut batch: Vec<RequestRecord> = Vec::with_capacity(BATCH_ROWS);
    let mut stopping = false;
    loop {
        if !stopping {
            tokio::select! {
                _ = &mut stop => stopping = true,
                n = rx.recv_many(&mut batch, BATCH_ROWS) => {
                    if n == 0 {
                        // Every sink is gone and the queue is empty.
                        break;
                    }
                    let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
                    while batch.len() < BATCH_ROWS && !stopping {
                        let room = BATCH_ROWS - batch.len();
                        tokio::select! {
                            _ = &mut stop => stopping = true,
                            n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                            _ = tokio::time::sleep_until(deadline) => break,
                        }
                    }
                    write(&store, &mut batch, &counters).await;
                }
            }
        }
        if stopping {
            // Refuse new records, then write everything already queued.
            rx.close();
            while rx.recv_many(&mut batch, BATCH_ROWS).await > 0 {
                write(&store, &mut batch, &counters).await;
            }
            break;
        }
    }
    write(&store, &mut batch, &counters).await;
}

async fn write(store: &Store, batch: &mut Vec<RequestRecord>, counters: &Counters) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    let mut result = store.insert_requests(batch).await;
    if let Err(e) = &result {
        tracing::warn!(rows = n, error = %e, "writing the request log failed; retrying once");
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = store.insert_requests(batch).await;
    }
    match result {
        Ok(_) => {
            counters.written.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
            counters.failed.fetch_add(n, Ordering::Relaxed);
            tracing::error!(rows = n, error = %e, "request log rows lost");
        }
    }
    batch.clear();
}
