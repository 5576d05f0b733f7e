//! The batched writers (the request log, the inspector's captures): the request path hands
//! rows to a bounded channel and never waits; one task drains it once per [`BATCH_WINDOW`]
//! after the first row of a window and writes what arrived in transactions of up to
//! [`BATCH_ROWS`] rows. Readers that must see their own requests ([`BatchSink::flush`]) end
//! the window early.
//!
//! When the database is unreachable (team mode's PostgreSQL restarting, a lost network) the
//! batch that failed is held and written again after a growing wait (at most
//! 2 s) until the database answers; new rows wait in the queue meanwhile, and once it is full
//! they are dropped and counted ([`BatchSink::dropped`]). A row is written with its id, so a
//! batch written again after a lost commit reply is not stored twice.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_router::log::RequestRecord;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::db::Store;
use crate::error::StoreError;

/// Rows a batched writer writes.
pub trait Rows: Send + Sync + Sized + 'static {
    /// What they are called in log lines.
    const WHAT: &'static str;
    /// What writing them needs besides the store (the capture key).
    type Ctx: Send + Sync + 'static;
    /// Writes `batch` in one transaction (retried once by the writer if it fails).
    fn write<'a>(
        store: &'a Store,
        ctx: &'a Self::Ctx,
        batch: &'a [Self],
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;
}

impl Rows for RequestRecord {
    const WHAT: &'static str = "request log";
    type Ctx = ();
    async fn write(store: &Store, _: &(), batch: &[Self]) -> Result<(), StoreError> {
        store.insert_requests(batch).await.map(|_| ())
    }
}

/// Rows written per transaction at most.
pub const BATCH_ROWS: usize = 256;
/// How long the writer waits for more rows after the first of a batch.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Records queued before new ones are dropped (while the database is unreachable too: the
/// queue is the buffer that holds them).
pub const DEFAULT_CAPACITY: usize = 8192;
/// How long held rows wait before they are written again, at first and at most (doubling).
const HOLD_FIRST_WAIT: Duration = Duration::from_millis(250);
const HOLD_MAX_WAIT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    /// Rows of the batch held while the database is unreachable.
    held: AtomicU64,
}

/// The sending side: cheap to clone, never blocks.
pub struct BatchSink<T> {
    tx: mpsc::Sender<T>,
    flush: mpsc::UnboundedSender<oneshot::Sender<()>>,
    counters: Arc<Counters>,
}

impl<T> Clone for BatchSink<T> {
    fn clone(&self) -> Self {
        BatchSink {
            tx: self.tx.clone(),
            flush: self.flush.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// The request log's sending side.
pub type RequestLogSink = BatchSink<RequestRecord>;

impl<T: Rows> std::fmt::Debug for BatchSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSink")
            .field("rows", &T::WHAT)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl RequestLogSink {
    /// Queues a record. When the queue is full (or the writer has stopped) the record is
    /// dropped and counted; the caller is never made to wait.
    /// Client strings in it are capped first (a 5 MiB model name is kept as 256 bytes).
    pub fn record(&self, mut record: RequestRecord) {
        record.cap_client_strings();
        self.send(record);
    }
}

impl<T: Rows> BatchSink<T> {
    /// Queues a row; when the queue is full (or the writer has stopped) it is dropped and
    /// counted, never waited for.
    pub fn send(&self, row: T) {
        if self.tx.try_send(row).is_err() {
            let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    rows = T::WHAT,
                    "write queue full; rows dropped"
                );
            }
        }
    }

    /// Returns once every record queued before the call is written (or the writer has
    /// stopped, or holds rows for an unreachable database): read-your-writes for the request
    /// log views, without waiting out the window.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.flush.send(ack).is_ok() {
            let _ = done.await;
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

    /// Records lost because the database refused the batch (after one retry), or could not
    /// be reached when the writer stopped.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Records waiting to be written: queued, and held while the database is unreachable.
    pub fn waiting(&self) -> u64 {
        let queued = self.tx.max_capacity().saturating_sub(self.tx.capacity()) as u64;
        queued + self.counters.held.load(Ordering::Relaxed)
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

/// Builds the request log's sink and the task that writes what it receives.
pub struct RequestLogWriter;

impl RequestLogWriter {
    /// Spawns the writer with [`DEFAULT_CAPACITY`].
    pub fn spawn(store: Store) -> (RequestLogSink, RequestLogTask) {
        Self::spawn_with_capacity(store, DEFAULT_CAPACITY)
    }

    pub fn spawn_with_capacity(store: Store, capacity: usize) -> (RequestLogSink, RequestLogTask) {
        spawn_writer(store, (), capacity)
    }
}

/// Spawns a batched writer of `T` rows with a queue of `capacity`.
pub fn spawn_writer<T: Rows>(
    store: Store,
    ctx: T::Ctx,
    capacity: usize,
) -> (BatchSink<T>, RequestLogTask) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (flush, flushes) = mpsc::unbounded_channel();
    let counters = Arc::new(Counters::default());
    let w = Writer {
        store,
        ctx,
        counters: Arc::clone(&counters),
        capacity,
    };
    let handle = tokio::spawn(run(w, rx, stop_rx, flushes));
    (
        BatchSink {
            tx,
            flush,
            counters,
        },
        RequestLogTask {
            stop: Some(stop_tx),
            handle,
        },
    )
}

struct Writer<T: Rows> {
    store: Store,
    ctx: T::Ctx,
    counters: Arc<Counters>,
    capacity: usize,
}

async fn run<T: Rows>(
    w: Writer<T>,
    mut rx: mpsc::Receiver<T>,
    mut stop: oneshot::Receiver<()>,
    mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut batch: Vec<T> = Vec::with_capacity(BATCH_ROWS);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut stopping = false;
    // While the database is unreachable the batch that failed is held (and the queue fills
    // behind it, up to its capacity); it is written again after each wait.
    let mut wait = HOLD_FIRST_WAIT;
    // When the held rows are tried next (flushes answered meanwhile do not postpone it).
    let mut retry_at: Option<tokio::time::Instant> = None;
    while !stopping {
        if batch.is_empty() {
            tokio::select! {
                _ = &mut stop => stopping = true,
                Some(ack) = flushes.recv() => acks.push(ack),
                n = rx.recv_many(&mut batch, BATCH_ROWS) => {
                    if n == 0 {
                        // Every sink is gone and the queue is empty.
                        break;
                    }
                    // Let the window fill without listening: records sent meanwhile wake
                    // nobody (one wake-up per window, not one per request). A flush ends it
                    // early.
                    tokio::select! {
                        _ = &mut stop => stopping = true,
                        Some(ack) = flushes.recv() => acks.push(ack),
                        _ = tokio::time::sleep(BATCH_WINDOW) => {}
                    }
                }
            }
        } else {
            // Held rows: a flush has nothing to wait for until the database is back.
            let at = *retry_at.get_or_insert_with(|| tokio::time::Instant::now() + wait);
            tokio::select! {
                // The drain below tries the held rows once more.
                _ = &mut stop => break,
                Some(ack) = flushes.recv() => {
                    let _ = ack.send(());
                    continue;
                }
                _ = tokio::time::sleep_until(at) => {
                    retry_at = None;
                    wait = (wait * 2).min(HOLD_MAX_WAIT);
                }
            }
        }
        let was_held = w.counters.held.load(Ordering::Relaxed) > 0;
        // Held rows are written as they were held (the queue behind them stays the bound of
        // what more is kept), then the queue.
        let written = if was_held && write(&w, &mut batch).await == Written::Held {
            Written::Held
        } else {
            write_queued(&w, &mut rx, &mut batch).await
        };
        match written {
            Written::All if was_held => {
                wait = HOLD_FIRST_WAIT;
                tracing::info!(
                    what = T::WHAT,
                    "the database answers again; held rows written"
                );
            }
            Written::All => {}
            // The outage itself is warned about once by the database watch.
            Written::Held if !was_held => tracing::info!(
                what = T::WHAT,
                held = batch.len(),
                queue = w.capacity,
                "the database is unreachable; holding rows in memory and writing them when it is \
                 back (rows beyond the queue are dropped and counted)"
            ),
            Written::Held => {}
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    // Refuse new records, then write everything already queued. Once the database proves
    // unreachable, what is left is lost (and counted) rather than waited for.
    rx.close();
    let mut reachable = true;
    loop {
        fill(&mut rx, &mut batch);
        if batch.is_empty() {
            break;
        }
        if !reachable || write(&w, &mut batch).await == Written::Held {
            reachable = false;
            lose(&w, &mut batch, "the database is unreachable at shutdown");
        }
    }
}

/// Tops `batch` up to [`BATCH_ROWS`] with what is waiting in the queue, without waiting.
fn fill<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>) {
    while batch.len() < BATCH_ROWS {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
}

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    /// Written, or refused by the database and counted lost.
    All,
    /// The database was unreachable: the batch is kept to be written again.
    Held,
}

/// Writes `batch` and what is waiting in the queue, [`BATCH_ROWS`] per transaction, until a
/// transaction was not full (the queue was empty when it was filled) or the database is
/// unreachable (the batch then stays held). Rows that arrive while the last one is written
/// wait for the next window: under steady traffic a write of a row or two per round trip
/// would otherwise follow each write, with its statement, commit and wake-ups.
async fn write_queued<T: Rows>(
    w: &Writer<T>,
    rx: &mut mpsc::Receiver<T>,
    batch: &mut Vec<T>,
) -> Written {
    loop {
        fill(rx, batch);
        let full = batch.len() >= BATCH_ROWS;
        if write(w, batch).await == Written::Held {
            return Written::Held;
        }
        if !full {
            return Written::All;
        }
    }
}

/// Writes `batch` in one transaction and empties it, unless the database is unreachable
/// (then the batch is left as it is, counted as held). Another failure is retried once; if
/// it fails again, the rows are lost and counted.
async fn write<T: Rows>(w: &Writer<T>, batch: &mut Vec<T>) -> Written {
    if batch.is_empty() {
        return Written::All;
    }
    let n = batch.len() as u64;
    let mut result = T::write(&w.store, &w.ctx, batch).await;
    if let Err(e) = &result {
        if e.is_unreachable() {
            w.counters.held.store(n, Ordering::Relaxed);
            return Written::Held;
        }
        tracing::warn!(rows = n, what = T::WHAT, error = %e, "writing failed; retrying once");
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = T::write(&w.store, &w.ctx, batch).await;
    }
    match result {
        Ok(()) => {
            w.counters.written.fetch_add(n, Ordering::Relaxed);
            w.counters.held.store(0, Ordering::Relaxed);
            batch.clear();
            Written::All
        }
        Err(e) if e.is_unreachable() => {
            w.counters.held.store(n, Ordering::Relaxed);
            Written::Held
        }
        Err(e) => {
            lose(w, batch, &e.to_string());
            Written::All
        }
    }
}

fn lose<T: Rows>(w: &Writer<T>, batch: &mut Vec<T>, why: &str) {
    let n = batch.len() as u64;
    w.counters.failed.fetch_add(n, Ordering::Relaxed);
    w.counters.held.store(0, Ordering::Relaxed);
    tracing::error!(rows = n, what = T::WHAT, error = why, "rows lost");
    batch.clear();
}
