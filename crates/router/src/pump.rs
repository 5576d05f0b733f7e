//! A committed stream: forwards upstream events as they arrive (no buffering beyond one
//! upstream chunk), translating or patching them, scrubbing every chunk of the key, and
//! records the request when it ends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use switchboard_protocol::sse::{SseDecoder, SseEvent};
use switchboard_protocol::{ClientError, ErrorKind};
use tokio::time::Instant;

use crate::guard::AttemptGuard;
use crate::health::Outcome;
use crate::inspect::Tap;
use crate::log::AttemptOutcome;
use crate::pipe::{InBandError, Pipe};
use crate::record::Recorder;
use crate::reply::ByteStream;
use crate::scrub::Scrubber;
use crate::upstream::UpstreamStream;

/// The deadline of the next read: `idle` from now (0 = no idle timeout), never after `total`.
pub(crate) fn next_read(idle: Duration, total: Instant) -> Instant {
    if idle.is_zero() {
        total
    } else {
        (Instant::now() + idle).min(total)
    }
}

/// SSE frames of `events`, scrubbed of whole echoes of the key (content; error messages
/// put into events are scrubbed in full before).
fn encode_events(events: &[SseEvent], scrubber: &Scrubber) -> Bytes {
    let mut out = BytesMut::new();
    for e in events {
        e.encode_into(&mut out);
    }
    match scrubber.scrub_content(&out) {
        std::borrow::Cow::Borrowed(_) => out.freeze(),
        std::borrow::Cow::Owned(clean) => Bytes::from(clean),
    }
}

pub(crate) struct Pump {
    pub(crate) upstream: Option<UpstreamStream>,
    pub(crate) decoder: SseDecoder,
    pub(crate) pipe: Pipe,
    pub(crate) pending: VecDeque<Bytes>,
    pub(crate) idle: Duration,
    pub(crate) total_deadline: Instant,
    pub(crate) guard: AttemptGuard,
    pub(crate) provider: String,
    pub(crate) scrubber: Arc<Scrubber>,
    /// The request's capture and the committed attempt's place in it.
    pub(crate) capture: Option<(Tap, usize)>,
}

impl Pump {
    /// Queues `events` for the client (scrubbed), noting them in the capture.
    pub(crate) fn send(&mut self, events: &[SseEvent]) {
        if let Some((tap, _)) = &self.capture {
            tap.client_events(events);
        }
        self.pending
            .push_back(encode_events(events, &self.scrubber));
    }

    pub(crate) fn into_stream(self, rec: Recorder) -> ByteStream {
        Box::pin(futures_util::stream::unfold(
            (self, rec),
            |(mut pump, mut rec)| async move {
                loop {
                    if let Some(b) = pump.pending.pop_front() {
                        if b.is_empty() {
                            continue;
                        }
                        return Some((Ok(b), (pump, rec)));
                    }
                    let upstream = pump.upstream.as_mut()?;
                    let deadline = next_read(pump.idle, pump.total_deadline);
                    let mut events = Vec::new();
                    let mut out = Vec::new();
                    match tokio::time::timeout_at(deadline, upstream.next()).await {
                        Ok(Some(Ok(chunk))) => {
                            if pump.decoder.push(&chunk, &mut events).is_err() {
                                pump.break_stream(&mut rec, "the provider sent a malformed stream");
                                continue;
                            }
                        }
                        Ok(None) => {
                            pump.decoder.finish(&mut events);
                            pump.upstream = None;
                        }
                        Ok(Some(Err(_))) => {
                            pump.break_stream(
                                &mut rec,
                                "the provider broke the connection mid-stream",
                            );
                            continue;
                        }
                        Err(_) => {
                            pump.break_stream(&mut rec, "the provider stopped sending mid-stream");
                            continue;
                        }
                    }
                    for ev in events {
                        if let Some((tap, i)) = &pump.capture {
                            tap.upstream_event(*i, &ev);
                        }
                        if let Err(InBandError(m)) = pump.pipe.push(ev, &mut out) {
                            let msg = pump.scrubber.scrub_str(&m).into_owned();
                            pump.send(&out);
                            out.clear();
                            pump.break_stream(&mut rec, &msg);
                            break;
                        }
                    }
                    if pump.upstream.is_none() && !rec.done {
                        pump.pipe.finish(&mut out);
                        rec.usage(pump.pipe.usage());
                        rec.finish(200, None);
                    }
                    pump.send(&out);
                }
            },
        ))
    }

    /// Ends a committed stream after an upstream failure: the client gets the dialect's own
    /// error event; the key is marked for a temporary error; no failover (bytes were sent).
    fn break_stream(&mut self, rec: &mut Recorder, why: &str) {
        self.upstream = None;
        let err = ClientError::new(
            ErrorKind::BadGateway,
            format!("Provider `{}`: {why}.", self.provider),
        )
        .with_code("stream_interrupted");
        let events = self.pipe.fail(&err);
        self.send(&events);
        self.guard
            .report(&Outcome::TemporaryError { retry_after: None });
        if let Some(last) = rec.rec.attempts.last_mut() {
            last.outcome = AttemptOutcome::StreamError;
        }
        rec.usage(self.pipe.usage());
        rec.finish(200, Some(err.message));
    }
}

/// A committed stream of bytes that are not events (synthesised audio): each chunk is passed
/// on as it arrives, scrubbed of whole echoes of the key (the last bytes that could begin one
/// are held back for the next chunk). A failure after commit can only end the stream early;
/// the record and the key's health say why.
pub(crate) struct RawPump {
    pub(crate) upstream: UpstreamStream,
    /// Scrubbed bytes not yet sent: they may begin an echo the next chunk completes.
    pub(crate) held: BytesMut,
    pub(crate) idle: Duration,
    pub(crate) total_deadline: Instant,
    pub(crate) guard: AttemptGuard,
    pub(crate) scrubber: Arc<Scrubber>,
}

impl RawPump {
    pub(crate) fn into_stream(self, rec: Recorder) -> ByteStream {
        Box::pin(futures_util::stream::unfold(
            (self, rec),
            |(mut pump, mut rec)| async move {
                loop {
                    let deadline = next_read(pump.idle, pump.total_deadline);
                    let why = match tokio::time::timeout_at(deadline, pump.upstream.next()).await {
                        Ok(Some(Ok(chunk))) => {
                            pump.held.extend_from_slice(&chunk);
                            let clean = pump.scrubber.scrub_content(&pump.held).into_owned();
                            let keep = pump.scrubber.content_span().saturating_sub(1);
                            let send = clean.len().saturating_sub(keep);
                            pump.held = BytesMut::from(&clean[send..]);
                            if send == 0 {
                                continue;
                            }
                            let out = Bytes::copy_from_slice(&clean[..send]);
                            return Some((Ok(out), (pump, rec)));
                        }
                        Ok(None) => {
                            rec.finish(200, None);
                            if pump.held.is_empty() {
                                return None;
                            }
                            let rest = std::mem::take(&mut pump.held).freeze();
                            pump.upstream = Box::pin(futures_util::stream::empty());
                            return Some((Ok(rest), (pump, rec)));
                        }
                        Ok(Some(Err(_))) => "the provider broke the connection mid-stream",
                        Err(_) => "the provider stopped sending mid-stream",
                    };
                    pump.guard
                        .report(&Outcome::TemporaryError { retry_after: None });
                    if let Some(last) = rec.rec.attempts.last_mut() {
                        last.outcome = AttemptOutcome::StreamError;
                    }
                    rec.finish(200, Some(why.to_owned()));
                    return None;
                }
            },
        ))
    }
}
