//! A fake LLM provider for integration tests, benchmarks and demos.
//!
//! It speaks the four dialects the router talks to — OpenAI Chat Completions, OpenAI
//! Responses, Anthropic Messages and Gemini — as JSON and as SSE, with tool calls and
//! reasoning, and it fails on demand: every fault is chosen by data (the key, the model name,
//! a request header, or a call from the test), never by a code path in the router under test.
//! It records what it received so tests can assert on auth headers, forwarded headers and
//! bodies, and it counts requests in flight so tests can prove a cancelled client also
//! cancelled the upstream request.
//!
//! It must never depend on other Switchboard crates: it is the independent party the router is
//! measured against, so its wire format is written out here with `serde_json::json!`, not
//! borrowed from `switchboard-protocol`.
//!
//! # Endpoints
//!
//! | Dialect | Request |
//! |---|---|
//! | OpenAI Chat | `POST /v1/chat/completions` |
//! | OpenAI Responses | `POST /v1/responses`, `POST /v1/responses/compact` |
//! | Anthropic | `POST /v1/messages`, `POST /v1/messages/count_tokens` |
//! | Gemini | `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent[?alt=sse]`, `:countTokens` (also under `/v1`) |
//! | OpenAI media | `POST /v1/embeddings`, `/v1/audio/transcriptions`, `/v1/audio/translations` (multipart), `/v1/audio/speech` (audio bytes in three chunks), `/v1/images/generations`, `/v1/images/edits` (multipart) |
//! | Gemini embeddings | `POST /v1beta/models/{model}:embedContent`, `:batchEmbedContents` |
//! | model lists | `GET /v1/models` (Anthropic's shape when `anthropic-version` is sent), `GET /v1beta/models` |
//! | probe | `HEAD /`, `GET /` → 200 |
//! | balances | DeepSeek `GET /user/balance`; OpenRouter `GET /v1/key` and `GET /v1/credits` (also under `/api/v1`): the key's `balance` directive (default 100.00) |
//!
//! The key is read from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`.
//!
//! # Replies
//!
//! Media answers are deterministic too (`media.rs`): 8-dimensional embeddings (base64 when
//! `encoding_format: "base64"`), a transcript naming the upload's size whose
//! `usage.seconds` is a WAV's length, `ID3`-tagged "audio" with one byte per input
//! character, `n` images. Key, model and header directives choose their faults as for
//! generation.
//!
//! A compaction (`/v1/responses/compact`) answers `{"object": "response.compaction",
//! "output": [...], "usage": ...}`: the input's user messages, then one `compaction` item whose
//! `encrypted_content` is `mock-compacted:{n}` (`n` input items). Key and model faults that
//! set a status apply to it as to generation.
//!
//! Replies are deterministic. The text is `Hello from mock model {model}.`, split into
//! `chunks` stream deltas (default 4). When the request offers tools and the last user
//! message contains the word `weather` (or the `tool` directive is given), the reply is a call
//! to `get_weather` with `{"city":"Paris"}`, its arguments streamed in `chunks` deltas (Gemini
//! sends the call whole, as the real API does). When the last message is a tool result, the
//! text quotes that result. The `reasoning` directive adds reasoning first: Chat
//! `reasoning_content`, an Anthropic thinking block with a signature, a Responses reasoning
//! item, Gemini `thought` parts. Keys are never echoed, except by the `echo_key` fault.
//!
//! A request for structured output (Chat `response_format`, Responses `text.format`,
//! Anthropic `output_config.format` or a forced tool, Gemini `responseMimeType` with
//! `responseJsonSchema` / `responseSchema`) is answered with a minimal JSON value fitting the
//! schema, after checking the schema came in the form that provider takes (400 otherwise);
//! see `structured.rs`.
//!
//! # Directive grammar
//!
//! A directive list is comma-separated `name` or `name=value` items:
//!
//! ```text
//! directives := item ("," item)*
//! item       := name | name "=" value
//! ```
//!
//! It can be given in three places; for each setting the later one wins:
//! 1. the model name, after the first `@`: model `mock-small@fault=429,retry_after=7`
//!    (percent-encode it in Gemini paths if your client does not);
//! 2. the key, after the first `@`: key `sk-test@fault=500`;
//! 3. the `x-mock-fault` header: `x-mock-fault: fault=reset,after=3`.
//!
//! A fault given by directive takes precedence over programmatic faults (which are then left
//! untouched). Among programmatic faults, one-shot ones come before persistent ones and the
//! key before the model. An invalid directive list is answered with 400 naming the problem.
//! A key directive `fault=401`, `402`, `403` or `echo_key` refuses the model list too (as a
//! provider refuses a revoked key everywhere); other faults apply to generation only.
//!
//! | Item | Meaning |
//! |---|---|
//! | `fault=STATUS` | answer STATUS (400–599) with the dialect's error body |
//! | `retry_after=S` | with a status: `Retry-After: S` |
//! | `retry_after_date=S` | with a status: `Retry-After` as an HTTP date S seconds ahead |
//! | `retry_after_ms=MS` | with a status: `retry-after-ms: MS` |
//! | `reset_requests=D` | with a status: `x-ratelimit-reset-requests: D` verbatim, e.g. `6m0s` |
//! | `anthropic_reset=S` | with a status: `anthropic-ratelimit-requests-reset`, RFC 3339, S seconds ahead |
//! | `retry_delay=S` | with a status: Gemini body detail `RetryInfo.retryDelay: "Ss"` |
//! | `fault=quota` | 429 with an insufficient-quota body (402 bodies say the same) |
//! | `fault=echo_key[,status=N][,echo=F]` | N (default 401; 200 allowed: an error body, or for streams an in-band error event) quoting the presented key as F: `plain`, `escaped` (`\uXXXX`), `url` (`%XX`) or `partial` (first six characters cut) |
//! | `fault=html` | 200 with an HTML page instead of JSON or a stream |
//! | `fault=redirect[,status=3xx]` | a redirect (default 307) with a `Location` elsewhere |
//! | `fault=flood[,mib=N]` | streams: N MiB (default 1) of `ping` events before any content |
//! | `fault=hang` | never send headers; the request ends when the client goes away |
//! | `fault=slow_first_byte[,delay_ms=MS]` | headers at once, first body byte after MS (default 1000) |
//! | `fault=slow_second_chunk[,delay_ms=MS]` | MS (default 1000) between the first and second chunk |
//! | `fault=reset[,after=N]` | send N (default 1) events, then drop the connection with no terminal event |
//! | `fault=empty` | 200 with stream headers, then end at once |
//! | `fault=error_event` | 200, then the dialect's in-band error event before any content |
//! | `fault=endless_event` | 200 `text/event-stream` (JSON requests too), then 1 MiB `data:` lines forever with no blank line ending the event |
//! | `fault=model_not_found` | the dialect's real "model not found" error (404, e.g. OpenAI `model_not_found`, Anthropic `not_found_error`, Gemini `NOT_FOUND`) |
//! | `fault=context_length` | the dialect's real context-length error (400, e.g. OpenAI `context_length_exceeded`, Anthropic "prompt is too long", Gemini "input token count … exceeds") |
//! | `every=N` | with a fault: it applies to one request in N (the Nth, 2Nth, …, counted per key and model name); the others are answered normally |
//! | `latency_ms=MS` | wait MS before sending headers |
//! | `chunks=N` | split text, reasoning and tool arguments into N deltas |
//! | `chunk_delay_ms=MS` | wait MS between stream events |
//! | `tool` | answer with the tool call when tools are offered |
//! | `reasoning` | emit reasoning before the answer |
//! | `cached=N` | the usage reports N of the input tokens (at most all) as prompt-cache reads |
//! | `rpm=N`, `tpm=N`, `window_ms=W` | key: a token bucket of N requests / N tokens (body length / 4) refilled N per W ms (default 60000); every answer carries the dialect's rate-limit headers (OpenAI `x-ratelimit-*` with Go-duration resets, Anthropic `anthropic-ratelimit-*` with RFC 3339 resets; Gemini none) and a request the bucket cannot cover gets 429 (see `limits.rs`) |
//! | `balance=AMOUNT` | key: the balance the balance endpoints report, e.g. `12.50` |
//! | `native` | Anthropic: refuse, with Anthropic's 400, thinking signatures the mock did not issue and (thinking on) a last assistant tool turn not opening with thinking |
//!
//! For JSON (non-streaming) requests the stream faults act on the body: `empty` sends an empty
//! 200, `error_event` the error object with status 200, and `reset`, `slow_first_byte`,
//! `slow_second_chunk` act on the body sent in two halves.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use switchboard_mock_upstream::{Dialect, Fault, MockUpstream};
//!
//! let mock = MockUpstream::start().await?;
//! let base = mock.base_url(Dialect::OpenAiChat); // http://127.0.0.1:PORT/v1
//! // The next request with key sk-a gets a 429 saying "retry in 7 s"; later ones succeed.
//! mock.push_fault_for_key("sk-a", "fault=429,retry_after=7".parse()?);
//! // Every request naming mock-large fails with 503 until cleared.
//! mock.set_fault_for_model("mock-large", Some(Fault::status(503)));
//!
//! // ... point the router at `base` with keys sk-a and sk-b, send a request, then:
//! assert_eq!(mock.count_for_key("sk-a"), 1);
//! assert_eq!(mock.requests()[0].header("authorization"), Some("Bearer sk-a"));
//! assert!(mock.wait_idle(Duration::from_millis(500)).await);
//! mock.shutdown().await;
//! # Ok(()) }
//! ```

mod book;
mod dialect;
mod directive;
mod limits;
mod media;
mod refusal;
mod server;
mod structured;
mod turn;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use book::RecordedRequest;
use book::Target;
pub use dialect::Dialect;
pub use directive::{DirectiveError, EchoForm, Fault, ResetHints};
pub use refusal::Refusal;
use server::Shared;

/// How the server behaves when a request does not say otherwise.
#[derive(Clone, Debug)]
pub struct MockOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Wait before sending response headers.
    pub latency: Duration,
    /// Number of deltas text, reasoning and tool arguments are split into.
    pub chunks: usize,
    /// Wait between stream events.
    pub chunk_delay: Duration,
    /// Keep every request for [`MockUpstream::requests`]. Benchmarks turn it off so memory
    /// stays flat; counters are kept either way.
    pub record: bool,
    /// Close a keep-alive connection that waits this long for its next request, without
    /// announcing it (as providers' load balancers do). Hyper's default is 30 s.
    pub idle_close: Option<Duration>,
}

impl Default for MockOptions {
    fn default() -> MockOptions {
        MockOptions {
            port: 0,
            latency: Duration::ZERO,
            chunks: 4,
            chunk_delay: Duration::ZERO,
            record: true,
            idle_close: None,
        }
    }
}

/// A running mock provider. Dropping it stops the server; [`MockUpstream::shutdown`] also
/// waits until every connection is closed.
pub struct MockUpstream {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts with default options on a free loopback port.
    pub async fn start() -> std::io::Result<MockUpstream> {
        MockUpstream::start_with(MockOptions::default()).await
    }

    pub async fn start_with(opts: MockOptions) -> std::io::Result<MockUpstream> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, opts.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts, CancellationToken::new()));
        let task = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        Ok(MockUpstream {
            shared,
            addr,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API root a provider config would name: `http://127.0.0.1:PORT/v1`, or `/v1beta`
    /// for Gemini.
    pub fn base_url(&self, dialect: Dialect) -> String {
        let root = match dialect {
            Dialect::Gemini => "v1beta",
            Dialect::OpenAiChat | Dialect::OpenAiResponses | Dialect::Anthropic => "v1",
        };
        format!("http://{}/{root}", self.addr)
    }

    /// Queues a fault for the next request presenting `key` (exactly, directives included).
    /// Queued faults are used one per request, first in first out.
    pub fn push_fault_for_key(&self, key: &str, fault: Fault) {
        self.shared.book.push_fault(Target::Key, key, fault);
    }

    /// Sets (or with `None` clears) a fault for every request presenting `key`.
    pub fn set_fault_for_key(&self, key: &str, fault: Option<Fault>) {
        self.shared.book.set_fault(Target::Key, key, fault);
    }

    /// Queues a fault for the next request naming `model` (exactly, as presented).
    pub fn push_fault_for_model(&self, model: &str, fault: Fault) {
        self.shared.book.push_fault(Target::Model, model, fault);
    }

    /// Sets (or with `None` clears) a fault for every request naming `model`.
    pub fn set_fault_for_model(&self, model: &str, fault: Option<Fault>) {
        self.shared.book.set_fault(Target::Model, model, fault);
    }

    /// Every request received since start or [`MockUpstream::reset`], oldest first (empty
    /// when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.book.requests()
    }

    /// Requests received, of any kind.
    pub fn request_count(&self) -> usize {
        self.shared.book.total()
    }

    /// Requests refused with a 429 by a key's token-bucket limits (`rpm` / `tpm`).
    pub fn rate_limited_count(&self) -> u64 {
        self.shared.limits.refused()
    }

    /// Requests that presented `key` (exactly, directives included).
    pub fn count_for_key(&self, key: &str) -> usize {
        self.shared.book.count(Target::Key, key)
    }

    /// Requests that named `model` (exactly, as presented).
    pub fn count_for_model(&self, model: &str) -> usize {
        self.shared.book.count(Target::Model, model)
    }

    /// Requests received whose response body has not been dropped yet.
    pub fn in_flight(&self) -> usize {
        self.shared.book.in_flight()
    }

    /// The most requests that were ever in flight at once (since the last [`reset`](Self::reset)).
    pub fn peak_in_flight(&self) -> usize {
        self.shared.book.peak_in_flight()
    }

    /// Accepted TCP connections not yet closed (idle pooled connections included).
    pub fn open_connections(&self) -> usize {
        self.shared.book.connections()
    }

    /// TCP connections accepted since the start (or the last [`reset`](Self::reset)).
    pub fn accepted_connections(&self) -> usize {
        self.shared.book.accepted()
    }

    /// Polls until no request is in flight; false if `timeout` passed first.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let settled = async {
            while self.in_flight() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(timeout, settled).await.is_ok()
    }

    /// Forgets recorded requests, counters and programmatic faults.
    pub fn reset(&self) {
        self.shared.book.reset();
    }

    /// Stops accepting, aborts open connections (hung requests included) and waits for them.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        // The accept loop sees this and aborts its connections on its own.
        self.shared.shutdown.cancel();
    }
}
