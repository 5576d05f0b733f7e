//! The request record of one client request, and where finished records go.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_protocol::Usage;
use tokio::time::Instant;

use crate::inspect::Tap;
use crate::log::{AttemptOutcome, AttemptRecord, RequestRecord};
use crate::snapshot::Snapshot;

/// Receives finished request records (the store's batched writer, metrics, the live feed).
pub trait RecordSink: Send + Sync {
    fn record(&self, record: RequestRecord);
}

impl std::fmt::Debug for dyn RecordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordSink")
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Owns the request's log record; whatever way the request ends — including the client
/// going away and this being dropped — exactly one record is emitted.
pub(crate) struct Recorder {
    pub(crate) rec: RequestRecord,
    /// Where the finished record goes; `None` for a fork of a race (hedging), which keeps
    /// its record for [`Recorder::absorb`].
    sink: Option<Arc<dyn RecordSink>>,
    received_at: Instant,
    pub(crate) first_byte: Option<Instant>,
    /// When the attempt under way started: it is the last of `rec.attempts`, recorded as
    /// cancelled until it ends (and so if the request is dropped first).
    open_attempt: Option<Instant>,
    pub(crate) done: bool,
    in_flight: Arc<AtomicU64>,
    /// The snapshot the request was routed by: its prices price the usage.
    snap: Arc<Snapshot>,
    /// The request's capture, when the inspector captures it.
    pub(crate) capture: Option<Tap>,
}

impl Recorder {
    /// Starts the record of a request; `in_flight` counts it until the record is dropped.
    pub(crate) fn new(
        rec: RequestRecord,
        sink: Arc<dyn RecordSink>,
        received_at: Instant,
        in_flight: Arc<AtomicU64>,
        snap: Arc<Snapshot>,
    ) -> Recorder {
        in_flight.fetch_add(1, Ordering::Relaxed);
        Recorder {
            rec,
            sink: Some(sink),
            received_at,
            first_byte: None,
            open_attempt: None,
            done: false,
            in_flight,
            snap,
            capture: None,
        }
    }

    pub(crate) fn begin(&mut self, provider: &str, model: &str, key_id: i64, started: Instant) {
        self.end_open(AttemptOutcome::Cancelled, None);
        self.rec.attempts.push(AttemptRecord {
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id: Some(key_id),
            outcome: AttemptOutcome::Cancelled,
            status: None,
            duration_ms: 0,
            message: None,
            retry_after_ms: None,
        });
        self.open_attempt = Some(started);
    }

    /// Ends the attempt under way, if there is one, with `outcome`; whether there was one.
    fn end_open(&mut self, outcome: AttemptOutcome, status: Option<u16>) -> bool {
        let Some(started) = self.open_attempt.take() else {
            return false;
        };
        if let Some(last) = self.rec.attempts.last_mut() {
            last.outcome = outcome;
            last.status = status;
            last.duration_ms = millis(started.elapsed());
        }
        true
    }

    pub(crate) fn attempt(
        &mut self,
        provider: &str,
        model: &str,
        key_id: i64,
        outcome: AttemptOutcome,
        status: Option<u16>,
        started: Instant,
    ) {
        if self.end_open(outcome, status) {
            return;
        }
        self.rec.attempts.push(AttemptRecord {
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id: Some(key_id),
            outcome,
            status,
            duration_ms: millis(started.elapsed()),
            message: None,
            retry_after_ms: None,
        });
    }

    /// What the provider said about the attempt just recorded: its (scrubbed) message and
    /// its reset hint.
    pub(crate) fn attempt_said(&mut self, message: Option<String>, retry_after: Option<Duration>) {
        if let Some(last) = self.rec.attempts.last_mut() {
            last.message = message;
            last.retry_after_ms = retry_after.map(millis);
        }
    }

    pub(crate) fn served_by(&mut self, provider: &str, model: &str, key_id: i64) {
        self.rec.provider = Some(provider.to_owned());
        self.rec.upstream_model = Some(model.to_owned());
        self.rec.key_id = Some(key_id);
    }

    pub(crate) fn usage(&mut self, u: Usage) {
        self.rec.tokens_in = u.prompt_tokens;
        self.rec.tokens_out = u.completion_tokens;
        self.rec.tokens_cached = u.cached_tokens;
        self.rec.tokens_reasoning = u.reasoning_tokens;
        // Priced now, at the price of the model that served it; unknown usage stays unpriced.
        self.rec.cost_micros = if u.is_empty() {
            None
        } else {
            self.served_price().map(|p| p.cost_micros(&u))
        };
    }

    /// What a media answer counted besides tokens.
    pub(crate) fn units(&mut self, u: crate::media::Units) {
        self.rec.audio_ms = u
            .audio_seconds
            .map(|s| (s.max(0.0) * 1000.0).round() as u64);
        self.rec.images = u.images;
    }

    fn served_price(&self) -> Option<crate::pricing::Price> {
        let provider = self.snap.providers.get(self.rec.provider.as_deref()?)?;
        provider
            .card(self.rec.upstream_model.as_deref()?, &self.snap.prices)
            .price
    }

    pub(crate) fn finish(&mut self, status: u16, error: Option<String>) {
        if self.done {
            return;
        }
        self.done = true;
        self.rec.status = status;
        self.rec.error = error;
        // The live feed, metrics and the log never see a client string at full length.
        self.rec.cap_client_strings();
        self.rec.latency_ms = millis(self.received_at.elapsed());
        self.rec.ttfb_ms = self
            .first_byte
            .map(|t| millis(t.duration_since(self.received_at)));
        // Nothing reads the record once it is finished: it leaves without a copy.
        if let Some(sink) = &self.sink {
            sink.record(std::mem::take(&mut self.rec));
        }
    }
}

impl Recorder {
    /// A recorder for one of two racing attempts of this request (hedging): it starts from
    /// this record; what it records stays with it until [`Recorder::absorb`] takes it back.
    pub(crate) fn fork(&self) -> Recorder {
        Recorder {
            rec: self.rec.clone(),
            sink: None,
            received_at: self.received_at,
            first_byte: self.first_byte,
            open_attempt: None,
            done: false,
            // Its own count: the request is counted once, by this recorder.
            in_flight: Arc::new(AtomicU64::new(1)),
            snap: self.snap.clone(),
            // Both racers' attempts go into the request's one capture.
            capture: self.capture.clone(),
        }
    }

    /// Takes back the forks of a race (hedging), in the order they started: the attempts
    /// each made (one still under way is recorded as cancelled), and from the fork at `winner`
    /// who served the request, its usage and — if it ended the request — how; the record is
    /// then emitted.
    pub(crate) fn absorb(&mut self, mut forks: Vec<Recorder>, winner: usize) {
        let base = self.rec.attempts.len();
        let mut attempts = std::mem::take(&mut self.rec.attempts);
        let mut ended = false;
        for (i, fork) in forks.iter_mut().enumerate() {
            fork.end_open(AttemptOutcome::Cancelled, None);
            let from = base.min(fork.rec.attempts.len());
            attempts.extend(fork.rec.attempts.drain(from..));
            if i == winner {
                ended = fork.done;
            }
            // Nothing more is recorded from it.
            fork.done = true;
        }
        if let Some(w) = forks.get_mut(winner) {
            std::mem::swap(&mut self.rec, &mut w.rec);
            self.first_byte = w.first_byte;
        }
        self.rec.attempts = attempts;
        if ended {
            let (status, error) = (self.rec.status, self.rec.error.take());
            self.finish(status, error);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.done {
            // The attempt under way, or one that had succeeded, was cut off.
            if !self.end_open(AttemptOutcome::Cancelled, None)
                && let Some(last) = self.rec.attempts.last_mut()
                && last.outcome == AttemptOutcome::Ok
            {
                last.outcome = AttemptOutcome::Cancelled;
            }
            self.finish(499, Some("client disconnected".into()));
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
