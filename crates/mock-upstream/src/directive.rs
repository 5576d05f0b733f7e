//! Faults and the directive grammar that selects them from request data.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Something the mock does instead of (or while) answering normally.
///
/// Every fault can be chosen by data: programmatically per key or model, or by a directive in
/// the model name, the key, or the `x-mock-fault` header (see the crate docs for the grammar;
/// `Fault` also parses from that grammar, e.g. `"fault=429,retry_after=7".parse()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the dialect's error body; `hints` add reset hints.
    Status { status: u16, hints: ResetHints },
    /// 429 whose body says the account is out of credit (OpenAI's `insufficient_quota`).
    QuotaExhausted,
    /// Answer with this status and an error body that quotes the presented key, the way some
    /// providers do, so tests can check that the key is scrubbed before reaching a client.
    /// Status 200 is a hostile provider's "success" carrying the error (for streams: an
    /// in-band error event quoting the key).
    EchoKey { status: u16, form: EchoForm },
    /// 200 with an HTML page instead of the dialect's JSON or stream.
    Html,
    /// Redirect (3xx) elsewhere with a `Location` header.
    Redirect { status: u16 },
    /// Streams: this many MiB of non-content (`ping`) events before the answer.
    Flood { mib: u64 },
    /// Never send headers; the request ends only when the client goes away.
    Hang,
    /// Send headers at once, then wait this long before the first body byte.
    SlowFirstByte(Duration),
    /// Send this many body chunks (SSE events, or for JSON the first half of the body), then
    /// drop the connection without a terminal event.
    ResetAfter(usize),
    /// 200 with the usual headers, then end the body without sending anything.
    EmptyStream,
    /// 200, then the dialect's in-band error event before any content (for JSON requests, the
    /// error object as a 200 body).
    ErrorEvent,
    /// Send the first chunk, then wait this long before the second.
    SlowSecondChunk(Duration),
    /// 200 `text/event-stream` whose one event never ends: 1 MiB `data:` lines without the
    /// blank line that would complete it, until the client goes away.
    EndlessEvent,
    /// The dialect's real "model not found" (404) or "context length exceeded" (400) error.
    Refuse(crate::refusal::Refusal),
}

impl Fault {
    /// A plain status fault without reset hints.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            hints: ResetHints::default(),
        }
    }
}

/// How an `echo_key` fault writes the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EchoForm {
    /// As is (JSON-escaped only where JSON requires).
    #[default]
    Plain,
    /// Every non-alphanumeric character, and every third letter, as a `\uXXXX` escape.
    Escaped,
    /// URL-encoded: every non-alphanumeric character as `%XX`.
    Url,
    /// Without its first six characters.
    Partial,
}

impl EchoForm {
    /// The key as this form writes it inside a JSON string.
    pub fn render(self, key: &str) -> String {
        match self {
            EchoForm::Plain => {
                let quoted = serde_json::to_string(key).unwrap_or_default();
                quoted[1..quoted.len().saturating_sub(1).max(1)].to_owned()
            }
            EchoForm::Escaped => key
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if !c.is_ascii_alphanumeric() || i % 3 == 0 {
                        format!("\\u{:04x}", u32::from(c))
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
            EchoForm::Url => key
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
            EchoForm::Partial => EchoForm::Plain.render(key.get(6..).unwrap_or_default()),
        }
    }
}

/// Reset hints attached to a status fault. Each present field adds one hint in its provider's
/// format, so a test can check that the router reads exactly that format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResetHints {
    /// `Retry-After: <seconds>`.
    pub retry_after: Option<u64>,
    /// `Retry-After: <HTTP date this many seconds from now>`.
    pub retry_after_date: Option<u64>,
    /// `retry-after-ms: <milliseconds>` (OpenAI).
    pub retry_after_ms: Option<u64>,
    /// `x-ratelimit-reset-requests: <value>` sent verbatim, e.g. `6m0s` (OpenAI).
    pub reset_requests: Option<String>,
    /// `anthropic-ratelimit-requests-reset: <RFC 3339 time this many seconds from now>`.
    pub anthropic_reset: Option<u64>,
    /// Gemini body detail `google.rpc.RetryInfo` with `retryDelay: "<seconds>s"`.
    pub retry_delay: Option<u64>,
}

impl ResetHints {
    fn is_empty(&self) -> bool {
        *self == ResetHints::default()
    }
}

/// Everything a request can ask of the mock by directive. Fields left `None` fall back to the
/// next source (header over key over model name, then programmatic faults and server options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Directives {
    pub fault: Option<Fault>,
    pub latency: Option<Duration>,
    pub chunks: Option<usize>,
    pub chunk_delay: Option<Duration>,
    pub tool: bool,
    pub reasoning: bool,
    /// Input tokens the usage reports as read from the prompt cache.
    pub cached: Option<u64>,
    /// Anthropic requests are checked as Anthropic does: thinking signatures it did not issue
    /// and unsigned tool turns under thinking are refused with its 400.
    pub native: bool,
    /// Token-bucket limits (`rpm`, `tpm`, `window_ms`; see `limits.rs`).
    pub limit: crate::limits::Limit,
    /// The account balance the balance endpoints report, in cents.
    pub balance_cents: Option<u64>,
    /// The fault applies to one request in this many (the Nth, 2Nth, …), counted per key
    /// and model name.
    pub every: Option<u64>,
}

impl Directives {
    /// Fields set in `over` win; flags accumulate.
    pub fn overlay(self, over: Directives) -> Directives {
        Directives {
            fault: over.fault.or(self.fault),
            latency: over.latency.or(self.latency),
            chunks: over.chunks.or(self.chunks),
            chunk_delay: over.chunk_delay.or(self.chunk_delay),
            tool: self.tool || over.tool,
            reasoning: self.reasoning || over.reasoning,
            cached: over.cached.or(self.cached),
            native: self.native || over.native,
            limit: crate::limits::Limit {
                rpm: over.limit.rpm.or(self.limit.rpm),
                tpm: over.limit.tpm.or(self.limit.tpm),
                window: over.limit.window.or(self.limit.window),
            },
            balance_cents: over.balance_cents.or(self.balance_cents),
            every: over.every.or(self.every),
        }
    }
}

/// A directive list that does not follow the grammar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectiveError(String);

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad mock directive: {}", self.0)
    }
}

impl std::error::Error for DirectiveError {}

pub(crate) fn bad(msg: impl Into<String>) -> DirectiveError {
    DirectiveError(msg.into())
}

/// Splits `name@directives` into the name and its parsed directives.
pub(crate) fn split_name(s: &str) -> Result<(&str, Directives), DirectiveError> {
    match s.split_once('@') {
        Some((name, spec)) => Ok((name, parse(spec)?)),
        None => Ok((s, Directives::default())),
    }
}

/// The fault kind before its parameters are known.
enum Kind {
    Status(u16),
    Quota,
    EchoKey,
    Html,
    Redirect,
    Flood,
    Hang,
    SlowFirstByte,
    Reset,
    Empty,
    ErrorEvent,
    SlowSecondChunk,
    EndlessEvent,
    Refuse(crate::refusal::Refusal),
}

/// Parses a comma-separated directive list.
pub(crate) fn parse(spec: &str) -> Result<Directives, DirectiveError> {
    let mut out = Directives::default();
    let mut kind = None;
    let mut status = None;
    let mut after = None;
    let mut delay = None;
    let mut echo = EchoForm::default();
    let mut mib = None;
    let mut hints = ResetHints::default();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (item, None),
        };
        let num = || -> Result<u64, DirectiveError> {
            let v = value.ok_or_else(|| bad(format!("`{name}` needs a value")))?;
            v.parse()
                .map_err(|_| bad(format!("`{name}={v}` is not a whole number")))
        };
        let millis = || num().map(Duration::from_millis);
        match name {
            "fault" => {
                let v = value.ok_or_else(|| bad("`fault` needs a value"))?;
                kind = Some(match v {
                    "quota" => Kind::Quota,
                    "echo_key" => Kind::EchoKey,
                    "html" => Kind::Html,
                    "redirect" => Kind::Redirect,
                    "flood" => Kind::Flood,
                    "hang" => Kind::Hang,
                    "slow_first_byte" => Kind::SlowFirstByte,
                    "reset" => Kind::Reset,
                    "empty" => Kind::Empty,
                    "error_event" => Kind::ErrorEvent,
                    "slow_second_chunk" => Kind::SlowSecondChunk,
                    "endless_event" => Kind::EndlessEvent,
                    "model_not_found" => Kind::Refuse(crate::refusal::Refusal::ModelNotFound),
                    "context_length" => Kind::Refuse(crate::refusal::Refusal::ContextLength),
                    _ => Kind::Status(parse_status(v)?),
                });
            }
            "status" => {
                // Hostile answers may use any status: a 200 carrying an error, a redirect.
                let v = value.unwrap_or_default();
                status = Some(match v.parse::<u16>() {
                    Ok(s) if (200..=599).contains(&s) => s,
                    _ => return Err(bad(format!("`status={v}` is not a status 200-599"))),
                });
            }
            "echo" => {
                echo = match value.unwrap_or_default() {
                    "plain" => EchoForm::Plain,
                    "escaped" => EchoForm::Escaped,
                    "url" => EchoForm::Url,
                    "partial" => EchoForm::Partial,
                    v => return Err(bad(format!("`echo={v}` is not plain|escaped|url|partial"))),
                }
            }
            "mib" => mib = Some(num()?),
            "after" => after = Some(usize::try_from(num()?).map_err(|_| bad("`after` too big"))?),
            "delay_ms" => delay = Some(millis()?),
            "retry_after" => hints.retry_after = Some(num()?),
            "retry_after_date" => hints.retry_after_date = Some(num()?),
            "retry_after_ms" => hints.retry_after_ms = Some(num()?),
            "reset_requests" => {
                let v = value.unwrap_or_default();
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                    return Err(bad(format!(
                        "`reset_requests={v}` is not a duration like 6m0s"
                    )));
                }
                hints.reset_requests = Some(v.to_owned());
            }
            "anthropic_reset" => hints.anthropic_reset = Some(num()?),
            "retry_delay" => hints.retry_delay = Some(num()?),
            "every" => out.every = Some(num()?.max(1)),
            "latency_ms" => out.latency = Some(millis()?),
            "chunks" => {
                out.chunks = Some(usize::try_from(num()?.max(1)).map_err(|_| bad("too many"))?)
            }
            "chunk_delay_ms" => out.chunk_delay = Some(millis()?),
            "tool" => out.tool = true,
            "reasoning" => out.reasoning = true,
            "cached" => out.cached = Some(num()?),
            "native" => out.native = true,
            "rpm" => out.limit.rpm = Some(num()?.max(1)),
            "tpm" => out.limit.tpm = Some(num()?.max(1)),
            "window_ms" => out.limit.window = Some(millis()?),
            "balance" => {
                let v = value.unwrap_or_default();
                out.balance_cents = match v.parse::<f64>() {
                    Ok(b) if b.is_finite() && b >= 0.0 => Some((b * 100.0).round() as u64),
                    _ => return Err(bad(format!("`balance={v}` is not an amount like 12.50"))),
                };
            }
            other => return Err(bad(format!("unknown directive `{other}`"))),
        }
    }
    if !hints.is_empty() && !matches!(kind, Some(Kind::Status(_))) {
        return Err(bad("reset hints need `fault=STATUS`"));
    }
    const DEFAULT_DELAY: Duration = Duration::from_secs(1);
    out.fault = kind.map(|k| match k {
        Kind::Status(status) => Fault::Status { status, hints },
        Kind::Quota => Fault::QuotaExhausted,
        Kind::EchoKey => Fault::EchoKey {
            status: status.unwrap_or(401),
            form: echo,
        },
        Kind::Html => Fault::Html,
        Kind::Redirect => Fault::Redirect {
            status: status.filter(|s| (300..400).contains(s)).unwrap_or(307),
        },
        Kind::Flood => Fault::Flood {
            mib: mib.unwrap_or(1),
        },
        Kind::Hang => Fault::Hang,
        Kind::SlowFirstByte => Fault::SlowFirstByte(delay.unwrap_or(DEFAULT_DELAY)),
        Kind::Reset => Fault::ResetAfter(after.unwrap_or(1)),
        Kind::Empty => Fault::EmptyStream,
        Kind::ErrorEvent => Fault::ErrorEvent,
        Kind::SlowSecondChunk => Fault::SlowSecondChunk(delay.unwrap_or(DEFAULT_DELAY)),
        Kind::EndlessEvent => Fault::EndlessEvent,
        Kind::Refuse(r) => Fault::Refuse(r),
    });
    Ok(out)
}

fn parse_status(v: &str) -> Result<u16, DirectiveError> {
    match v.parse::<u16>() {
        Ok(s) if (400..=599).contains(&s) => Ok(s),
        _ => Err(bad(format!(
            "`{v}` is neither a fault name nor a status 400-599"
        ))),
    }
}

impl FromStr for Fault {
    type Err = DirectiveError;

    /// Parses the directive grammar; the list must select a fault.
    fn from_str(s: &str) -> Result<Fault, DirectiveError> {
        parse(s)?
            .fault
            .ok_or_else(|| bad(format!("`{s}` selects no fault")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_with_hints() {
        let f: Fault = "fault=429, retry_after=7,reset_requests=6m0s"
            .parse()
            .unwrap();
        assert_eq!(
            f,
            Fault::Status {
                status: 429,
                hints: ResetHints {
                    retry_after: Some(7),
                    reset_requests: Some("6m0s".into()),
                    ..ResetHints::default()
                }
            }
        );
    }

    #[test]
    fn splits_name_and_overlays() {
        let (name, d) = split_name("mock@chunks=3,tool,fault=reset,after=2").unwrap();
        assert_eq!(name, "mock");
        assert_eq!(d.chunks, Some(3));
        assert!(d.tool);
        assert_eq!(d.fault, Some(Fault::ResetAfter(2)));
        let over = parse("fault=hang").unwrap();
        let merged = d.overlay(over);
        assert_eq!(merged.fault, Some(Fault::Hang));
        assert_eq!(merged.chunks, Some(3));
    }

    #[test]
    fn parses_hostile_faults() {
        assert_eq!(
            "fault=echo_key,status=200,echo=url"
                .parse::<Fault>()
                .unwrap(),
            Fault::EchoKey {
                status: 200,
                form: EchoForm::Url
            }
        );
        assert_eq!("fault=html".parse::<Fault>().unwrap(), Fault::Html);
        assert_eq!(
            "fault=redirect".parse::<Fault>().unwrap(),
            Fault::Redirect { status: 307 }
        );
        assert_eq!(
            "fault=flood,mib=300".parse::<Fault>().unwrap(),
            Fault::Flood { mib: 300 }
        );
        assert_eq!(
            EchoForm::Escaped.render("sk-a/b"),
            "\\u0073k\\u002d\\u0061\\u002fb"
        );
        assert_eq!(EchoForm::Url.render("a/b+c="), "a%2Fb%2Bc%3D");
        assert_eq!(EchoForm::Partial.render("sk-abcdefgh"), "defgh");
    }

    #[test]
    fn rejects_nonsense() {
        assert_eq!(
            "fault=endless_event".parse::<Fault>().unwrap(),
            Fault::EndlessEvent
        );
        assert!(parse("fault=200").is_err());
        assert!(parse("retry_after=7").is_err());
        assert!(parse("frobnicate").is_err());
        assert!(parse("chunks=x").is_err());
        assert!(parse("rpm=x").is_err());
        assert!(parse("balance=-1").is_err());
        assert_eq!(parse("balance=12.5").unwrap().balance_cents, Some(1250));
        let d = parse("rpm=10,tpm=500,window_ms=1000").unwrap();
        assert_eq!(
            (d.limit.rpm, d.limit.tpm, d.limit.window),
            (Some(10), Some(500), Some(Duration::from_secs(1)))
        );
        assert!("chunks=2".parse::<Fault>().is_err());
    }
}
