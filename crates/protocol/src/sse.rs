//! Server-sent events: an incremental decoder that is independent of how the byte stream is
//! split (events or UTF-8 sequences across chunks, CRLF / CR / LF line ends, `data:x` and
//! `data: x`), and an encoder that always writes complete frames.

use bytes::{Bytes, BytesMut};

/// One dispatched event. `event` is `None` when the stream gave no `event:` field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn data(data: impl Into<String>) -> Self {
        SseEvent {
            event: None,
            data: data.into(),
        }
    }

    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent {
            event: Some(event.into()),
            data: data.into(),
        }
    }

    /// The OpenAI-style terminator `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }

    /// Writes this event as one complete frame.
    pub fn encode_into(&self, out: &mut BytesMut) {
        let data = self.data.as_bytes();
        // One reservation for an event of one line (nearly all are: JSON on one line).
        let name = self.event.as_deref().map_or(0, |e| e.len() + 8);
        out.reserve(name + data.len() + 8);
        match &self.event {
            Some(event) => {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(event.as_bytes());
                out.extend_from_slice(b"\ndata: ");
            }
            None => out.extend_from_slice(b"data: "),
        }
        let mut rest = data;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            out.extend_from_slice(&rest[..=i]);
            out.extend_from_slice(b"data: ");
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
        out.extend_from_slice(b"\n\n");
    }

    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.data.len() + 32);
        self.encode_into(&mut out);
        out.freeze()
    }
}

/// The stream broke a limit; the caller ends the stream with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("SSE line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    /// The lines of one event (before its blank line) add up to more than the cap: an
    /// upstream that never ends an event cannot make the decoder hold more than this.
    #[error("SSE event larger than {limit} bytes")]
    EventTooLarge { limit: usize },
}

/// Default cap on a single SSE line: 8 MiB, enough for a large base64 image echoed back,
/// small enough that a runaway stream cannot exhaust memory.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024 * 1024;

/// Default cap on one event: its data lines so far plus the line being read. Twice the line
/// cap, so any event with one maximal line still fits.
pub const DEFAULT_MAX_EVENT: usize = 2 * DEFAULT_MAX_LINE;

/// Incremental decoder. Feed it chunks as they arrive; it returns the events completed by
/// each chunk. Feeding the same bytes split differently yields the same events.
#[derive(Debug)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next chunk belongs to it.
    pending_cr: bool,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    max_line: usize,
    max_event: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new(DEFAULT_MAX_LINE)
    }
}

impl SseDecoder {
    /// A decoder with this line cap; the event cap is [`DEFAULT_MAX_EVENT`] (or the line cap,
    /// if that is larger).
    pub fn new(max_line: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            pending_cr: false,
            event: None,
            data: Vec::new(),
            has_data: false,
            max_line,
            max_event: DEFAULT_MAX_EVENT.max(max_line),
        }
    }

    /// Sets the cap on one event's accumulated size (its data lines plus the line being read).
    #[must_use]
    pub fn with_max_event(mut self, max_event: usize) -> Self {
        self.max_event = max_event;
        self
    }

    /// Decodes `chunk`, appending completed events to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        // An empty chunk says nothing about whether a `\n` follows the pending `\r`.
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while !chunk.is_empty() {
            match memchr::memchr2(b'\n', b'\r', chunk) {
                Some(i) => {
                    self.extend_line(&chunk[..i])?;
                    let is_cr = chunk[i] == b'\r';
                    chunk = &chunk[i + 1..];
                    if is_cr {
                        if chunk.is_empty() {
                            self.pending_cr = true;
                        } else if chunk[0] == b'\n' {
                            chunk = &chunk[1..];
                        }
                    }
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, out);
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.extend_line(chunk)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Convenience wrapper returning a fresh vector.
    pub fn decode(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        self.push(chunk, &mut out)?;
        Ok(out)
    }

    /// Ends the stream: an event still being assembled (no blank line after it) is dispatched,
    /// as lenient clients do.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.dispatch(out);
    }

    /// Every byte the decoder holds passes through here first, so checking both caps here
    /// bounds its memory: a finished line adds to `data` at most its own length (the field
    /// name and colon it drops pay for the `\n` joining data lines).
    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        let line = self.line.len().saturating_add(bytes.len());
        if line > self.max_line {
            return Err(SseError::LineTooLong {
                limit: self.max_line,
            });
        }
        if self.data.len().saturating_add(line) > self.max_event {
            return Err(SseError::EventTooLarge {
                limit: self.max_event,
            });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields carry nothing we route on
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if !self.has_data {
            self.event = None;
            return;
        }
        // The buffer becomes the event's string without a copy when it is valid UTF-8 (the
        // usual case); only invalid bytes cost a lossy copy.
        let data = match String::from_utf8(std::mem::take(&mut self.data)) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        out.push(SseEvent {
            event: self.event.take(),
            data,
        });
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out).unwrap();
        }
        d.finish(&mut out);
        out
    }

    const FIXTURE: &[u8] = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata:x\ndata: y\n\nevent: delta\rdata: {\"t\":\"h\u{e9}llo \u{1F600}\"}\r\rdata: [DONE]\n\n".as_bytes();

    #[test]
    fn decodes_mixed_line_endings_and_fields() {
        let events = decode_all(&[FIXTURE]);
        assert_eq!(
            events,
            vec![
                SseEvent::named("message_start", "{\"a\":1}"),
                SseEvent::data("x\ny"),
                SseEvent::named("delta", "{\"t\":\"h\u{e9}llo \u{1F600}\"}"),
                SseEvent::data("[DONE]"),
            ]
        );
        assert!(events[3].is_done());
    }

    #[test]
    fn split_at_every_offset_is_identical() {
        let whole = decode_all(&[FIXTURE]);
        for i in 0..=FIXTURE.len() {
            let (a, b) = FIXTURE.split_at(i);
            assert_eq!(decode_all(&[a, b]), whole, "split at {i}");
        }
    }

    #[test]
    fn empty_chunk_after_cr_keeps_the_crlf_together() {
        let (a, b) = FIXTURE.split_at(21);
        assert_eq!(decode_all(&[a, b"", b]), decode_all(&[FIXTURE]));
    }

    #[test]
    fn line_cap_is_enforced() {
        let mut d = SseDecoder::new(16);
        let mut out = Vec::new();
        assert!(d.push(b"data: 0123456789", &mut out).is_ok());
        assert_eq!(
            d.push(b"abcdefgh", &mut out),
            Err(SseError::LineTooLong { limit: 16 })
        );
    }

    #[test]
    fn event_cap_is_enforced_across_lines() {
        // Each line is within the line cap; no blank line ever ends the event.
        let mut d = SseDecoder::new(16).with_max_event(30);
        let mut out = Vec::new();
        assert!(
            d.push(b"data: 0123456789\ndata: 0123456789\n", &mut out)
                .is_ok()
        );
        assert_eq!(
            d.push(b"data: 0123456789\n", &mut out),
            Err(SseError::EventTooLarge { limit: 30 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_blank_line_resets_the_event_budget() {
        let mut d = SseDecoder::new(16).with_max_event(30);
        let mut out = Vec::new();
        for _ in 0..10 {
            d.push(b"data: 0123456789\ndata: 0123456789\n\n", &mut out)
                .unwrap();
        }
        assert_eq!(out.len(), 10);
        assert_eq!(out[9].data, "0123456789\n0123456789");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(
            decode_all(&[b"data: a\xffb\n\n"]),
            vec![SseEvent::data("a\u{fffd}b")]
        );
    }

    #[test]
    fn an_event_is_encoded_one_data_line_per_line() {
        let wire = |e: SseEvent| String::from_utf8(e.encode().to_vec()).unwrap();
        assert_eq!(wire(SseEvent::data("{}")), "data: {}\n\n");
        assert_eq!(wire(SseEvent::data("")), "data: \n\n");
        assert_eq!(
            wire(SseEvent::named("ping", "a\nb\n")),
            "event: ping\ndata: a\ndata: b\ndata: \n\n"
        );
        let mut out = BytesMut::new();
        SseEvent::data("1").encode_into(&mut out);
        SseEvent::named("e", "2").encode_into(&mut out);
        assert_eq!(&out[..], b"data: 1\n\nevent: e\ndata: 2\n\n");
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let ev = SseEvent::named("response.completed", "{\"x\":\"a\nb\"}\nsecond");
        assert_eq!(decode_all(&[&ev.encode()]), vec![ev]);
    }

    proptest! {
        #[test]
        fn decoding_is_split_invariant(cuts in proptest::collection::vec(0usize..FIXTURE.len(), 0..12)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts {
                chunks.push(&FIXTURE[last..c]);
                last = c;
            }
            chunks.push(&FIXTURE[last..]);
            prop_assert_eq!(decode_all(&chunks), decode_all(&[FIXTURE]));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_split_invariant(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
            let cut = cut.min(bytes.len());
            let (a, b) = bytes.split_at(cut);
            prop_assert_eq!(decode_all(&[a, b]), decode_all(&[&bytes]));
        }

        /// The event cap bounds what the decoder holds after every chunk, however the stream
        /// is split; whether a stream breaks the cap does not depend on the split; and a stream
        /// within the cap decodes exactly as without one.
        #[test]
        fn event_cap_bounds_memory_and_is_split_invariant(
            lines in proptest::collection::vec(
                prop_oneof![
                    "data: [a-z]{0,20}",
                    "data:[a-z]{0,20}",
                    "event: [a-z]{1,8}",
                    ": [a-z]{0,20}",
                    Just(String::new()),
                ],
                0..40,
            ),
            ends in proptest::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r")], 40),
            cuts in proptest::collection::vec(any::<u8>(), 0..16),
            max_event in 24usize..120,
        ) {
            let mut bytes = Vec::new();
            for (line, end) in lines.iter().zip(&ends) {
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(end.as_bytes());
            }
            let run = |chunks: &[&[u8]]| -> Result<Vec<SseEvent>, SseError> {
                let mut d = SseDecoder::new(32).with_max_event(max_event);
                let mut out = Vec::new();
                for c in chunks {
                    d.push(c, &mut out)?;
                    assert!(d.data.len() + d.line.len() <= max_event, "decoder over its cap");
                }
                d.finish(&mut out);
                Ok(out)
            };
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in &cuts {
                let n = usize::from(*c % 13).min(bytes.len() - at);
                chunks.push(&bytes[at..at + n]);
                at += n;
            }
            chunks.push(&bytes[at..]);
            let whole = run(&[&bytes]);
            let split = run(&chunks);
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            let bytewise = run(&bytewise);
            prop_assert_eq!(whole.is_err(), split.is_err());
            prop_assert_eq!(whole.is_err(), bytewise.is_err());
            if let Ok(events) = whole {
                prop_assert_eq!(&events, split.as_ref().unwrap());
                for ev in &events {
                    prop_assert!(ev.data.len() <= max_event);
                }
                let mut free = SseDecoder::new(32).with_max_event(usize::MAX);
                let mut unlimited = Vec::new();
                prop_assert!(free.push(&bytes, &mut unlimited).is_ok());
                free.finish(&mut unlimited);
                prop_assert_eq!(events, unlimited);
            }
        }
    }
}
