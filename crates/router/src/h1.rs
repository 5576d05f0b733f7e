//! The direct upstream client: HTTP/1.1 over pooled connections (plain or rustls), each
//! exchange written and read in place by the task that asked for it — no connection task, no
//! channel, no hand-off between tasks per request or per chunk. A connection is checked out of
//! its origin's idle list, the request is written, the answer's head parsed, and its body read
//! by the answer itself; the connection goes back to the list only once that body was read to
//! the end. Dropping an answer's body mid-way drops its connection.
//!
//! Only for networks without a proxy: those keep reqwest (`upstream.rs` decides).

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use http::header::{
    ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, HeaderName, TRANSFER_ENCODING, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::either::Either;

use crate::shard;
use crate::upstream::{Transport, UpstreamResponse};

/// An idle connection unused this long is closed (not reused) when next seen.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin; more are closed as they come back.
pub(crate) const MAX_IDLE_PER_ORIGIN: usize = 256;
/// Room a read asks for at first; doubled while reads fill it, up to [`MAX_READ`]. Small,
/// because a thousand streams each keep one: an event is a few hundred bytes.
const FIRST_READ: usize = 4096;
const MAX_READ: usize = 64 * 1024;
/// An answer's head (status line and headers) longer than this breaks the connection off.
const MAX_HEAD: usize = 64 * 1024;
/// Headers an answer may carry.
const MAX_HEADERS: usize = 128;
/// A chunk-size or trailer line longer than this breaks the connection off.
const MAX_LINE: usize = 4096;

/// A connection's byte stream: TCP, or TLS over it.
type Io = Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

/// One HTTP/1.1 connection and what was read from it but not yet used.
struct Conn {
    io: Io,
    buf: BytesMut,
    /// Room the next read asks for.
    read_size: usize,
    idle_since: Instant,
    /// The shard of the thread that opened it, whose idle list it goes back to.
    shard: usize,
}

impl Conn {
    fn new(io: Io) -> Conn {
        Conn {
            io,
            buf: BytesMut::new(),
            read_size: FIRST_READ,
            idle_since: Instant::now(),
            shard: shard::current(),
        }
    }

    /// Reads what the socket has onto the end of `buf`; `Ok(0)` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buf.reserve(self.read_size);
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut self.buf
        ))?;
        if n >= self.read_size {
            self.read_size = (self.read_size * 2).min(MAX_READ);
        }
        Poll::Ready(Ok(n))
    }

    /// Reads more onto `buf`; an end of stream here breaks the exchange.
    async fn fill(&mut self) -> Result<(), Transport> {
        match poll_fn(|cx| self.poll_fill(cx)).await {
            Ok(0) | Err(_) => Err(Transport::Broken),
            Ok(_) => Ok(()),
        }
    }

    /// An idle connection the upstream has neither closed nor written to. Polled with the
    /// caller's context, so a close that arrives later wakes it (harmlessly).
    fn still_open(&mut self, cx: &mut Context<'_>) -> bool {
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        Pin::new(&mut self.io)
            .poll_read(cx, &mut probe)
            .is_pending()
    }

    /// Writes the request: head and body in one vectored write where the socket takes it.
    /// `Err(true)` once any byte went out, `Err(false)` when none did.
    async fn write(&mut self, head: &[u8], body: &[u8]) -> Result<(), bool> {
        let total = head.len() + body.len();
        let mut sent = 0;
        while sent < total {
            let bufs = [
                IoSlice::new(head.get(sent..).unwrap_or_default()),
                IoSlice::new(
                    body.get(sent.saturating_sub(head.len())..)
                        .unwrap_or_default(),
                ),
            ];
            match poll_fn(|cx| Pin::new(&mut self.io).poll_write_vectored(cx, &bufs)).await {
                Ok(n) if n > 0 => sent += n,
                _ => return Err(sent > 0),
            }
        }
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx))
            .await
            .map_err(|_| true)
    }

    /// Reads the answer's head, past any interim (1xx) answers.
    async fn read_head(&mut self, method: &Method) -> Result<Head, Transport> {
        loop {
            match parse_head(&mut self.buf, method)? {
                Some(head) if (100..200).contains(&head.status) => {
                    // 100 Continue, 103 Early Hints: the answer follows. (101 is never asked for.)
                    if head.status == 101 {
                        return Err(Transport::Broken);
                    }
                }
                Some(head) => return Ok(head),
                None if self.buf.len() > MAX_HEAD => return Err(Transport::Broken),
                None => self.fill().await?,
            }
        }
    }

    /// Ready for the next request: its read buffer back to the starting size.
    fn settle(&mut self) {
        if self.buf.capacity() > FIRST_READ {
            self.buf = BytesMut::new();
        }
        self.read_size = FIRST_READ;
    }
}

/// An answer's head as parsed.
struct Head {
    status: u16,
    headers: HeaderMap,
    body: Framing,
    /// The connection may carry another request once the body is read.
    keep_alive: bool,
}

/// Parses a complete head off the front of `buf`, or `None` when more must be read first.
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, Transport> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Transport::Broken),
    };
    let status = resp.code.ok_or(Transport::Broken)?;
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Transport::Broken)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| Transport::Broken)?;
        headers.append(name, value);
    }
    let http11 = resp.version == Some(1);
    buf.advance(len);
    let body = Framing::of(status, method, &headers)?;
    let keep_alive = http11 && !body.is_close() && !has_token(&headers, &CONNECTION, "close");
    Ok(Some(Head {
        status,
        headers,
        body,
        keep_alive,
    }))
}

/// Whether any of the `name` headers lists `token` (comma-separated, any case).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// How an answer's body ends (RFC 9112 §6.3).
#[derive(Debug, PartialEq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunk),
    /// Read until the upstream closes the connection.
    Close,
}

/// Where a chunked body's reader is.
#[derive(Debug, PartialEq)]
enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes left.
    Data(u64),
    /// After a chunk's data, before its line end.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// The body has ended.
    Done,
}

/// What a body's reader got from the bytes read so far.
#[derive(Debug, PartialEq)]
enum Step {
    Data(Bytes),
    /// More must be read first.
    More,
    End,
}

impl Framing {
    fn of(status: u16, method: &Method, headers: &HeaderMap) -> Result<Framing, Transport> {
        if *method == Method::HEAD || matches!(status, 204 | 304) {
            return Ok(Framing::Length(0));
        }
        if headers.contains_key(TRANSFER_ENCODING) {
            // Chunked only when it is the last coding; otherwise the close ends the body.
            let last = headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .next_back()
                .and_then(|v| v.as_bytes().rsplit(|&b| b == b',').next())
                .map(<[u8]>::trim_ascii);
            return Ok(match last {
                Some(t) if t.eq_ignore_ascii_case(b"chunked") => Framing::Chunked(Chunk::Size),
                _ => Framing::Close,
            });
        }
        let mut length = None;
        for v in headers.get_all(CONTENT_LENGTH) {
            for part in v.as_bytes().split(|&b| b == b',') {
                let n = std::str::from_utf8(part.trim_ascii())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(Transport::Broken)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Transport::Broken);
                }
                length = Some(n);
            }
        }
        Ok(length.map_or(Framing::Close, Framing::Length))
    }

    fn is_close(&self) -> bool {
        *self == Framing::Close
    }

    /// Takes the body's next bytes off the front of `buf`.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, Transport> {
        match self {
            Framing::Length(0) => Ok(Step::End),
            Framing::Length(left) => Ok(take_counted(buf, left).map_or(Step::More, Step::Data)),
            Framing::Close if buf.is_empty() => Ok(Step::More),
            Framing::Close => Ok(Step::Data(buf.split().freeze())),
            Framing::Chunked(chunk) => chunk.step(buf),
        }
    }
}

impl Chunk {
    fn step(&mut self, buf: &mut BytesMut) -> Result<Step, Transport> {
        loop {
            match self {
                Chunk::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    // Extensions after `;` are ignored.
                    let digits = line[..].split(|&b| b == b';').next().unwrap_or_default();
                    let digits =
                        std::str::from_utf8(digits.trim_ascii()).map_err(|_| Transport::Broken)?;
                    let size = u64::from_str_radix(digits, 16).map_err(|_| Transport::Broken)?;
                    *self = if size == 0 {
                        Chunk::Trailers
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(left) => {
                    let Some(data) = take_counted(buf, left) else {
                        return Ok(Step::More);
                    };
                    if *left == 0 {
                        *self = Chunk::DataEnd;
                    }
                    return Ok(Step::Data(data));
                }
                Chunk::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    if !line.is_empty() {
                        return Err(Transport::Broken);
                    }
                    *self = Chunk::Size;
                }
                Chunk::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    if line.is_empty() {
                        *self = Chunk::Done;
                    }
                }
                Chunk::Done => return Ok(Step::End),
            }
        }
    }
}

/// Up to `left` bytes off the front of `buf`, counted off `left`; `None` when `buf` is empty.
fn take_counted(buf: &mut BytesMut, left: &mut u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
    *left -= n as u64;
    Some(buf.split_to(n).freeze())
}

/// Takes one line (without its CRLF, or a bare LF) off the front of `buf`.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, Transport> {
    match memchr::memchr(b'\n', buf) {
        Some(end) if end <= MAX_LINE => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        None if buf.len() <= MAX_LINE => Ok(None),
        _ => Err(Transport::Broken),
    }
}

/// The request's head: request line, the caller's headers, and the body's length.
fn request_head(method: &Method, target: &str, headers: &HeaderMap, body_len: usize) -> Vec<u8> {
    let mut head = Vec::with_capacity(64 + target.len() + headers.len() * 48);
    head.extend_from_slice(method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        // The framing is this client's to say.
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if body_len > 0 || !matches!(*method, Method::GET | Method::HEAD) {
        head.extend_from_slice(b"content-length: ");
        head.extend_from_slice(body_len.to_string().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// The idle connections to one scheme, host and port.
struct Origin {
    tls: bool,
    host: Box<str>,
    port: u16,
    /// The `host` header of its requests.
    host_header: HeaderValue,
    /// Idle connections per [`shard`]: a serving thread reuses the ones its own reactor reads.
    idle: Box<[Mutex<Vec<Conn>>]>,
}

impl Origin {
    /// The most recently used idle connection that is still open, polled once so that one
    /// the upstream closed while it sat idle is seen as closed.
    fn checkout(&self, cx: &mut Context<'_>) -> Option<Conn> {
        let now = Instant::now();
        loop {
            let mut c = {
                let mut idle = self.idle.get(shard::current())?.lock();
                let c = idle.pop()?;
                if now.duration_since(c.idle_since) >= IDLE_TIMEOUT {
                    // The rest are older still.
                    idle.clear();
                    return None;
                }
                c
            };
            if c.still_open(cx) {
                return Some(c);
            }
        }
    }

    fn checkin(&self, mut conn: Conn) {
        let now = Instant::now();
        conn.idle_since = now;
        let Some(idle) = self.idle.get(conn.shard) else {
            return;
        };
        let mut idle = idle.lock();
        let expired = idle
            .iter()
            .take_while(|c| now.duration_since(c.idle_since) >= IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        if idle.len() >= MAX_IDLE_PER_ORIGIN {
            idle.remove(0);
        }
        idle.push(conn);
    }
}

/// The direct client of one network setting (connect timeout, trusted roots).
pub struct Client {
    connect_timeout: Option<Duration>,
    tls: Arc<rustls::ClientConfig>,
    user_agent: HeaderValue,
    origins: Mutex<Vec<Arc<Origin>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("h1::Client").finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(
        connect_timeout: Option<Duration>,
        tls: Arc<rustls::ClientConfig>,
        user_agent: HeaderValue,
    ) -> Client {
        Client {
            connect_timeout,
            tls,
            user_agent,
            origins: Mutex::new(Vec::new()),
        }
    }

    fn origin(&self, tls: bool, host: &str, port: Option<u16>) -> Result<Arc<Origin>, Transport> {
        let default_port = if tls { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        let mut origins = self.origins.lock();
        if let Some(o) = origins
            .iter()
            .find(|o| o.tls == tls && o.port == port && *o.host == *host)
        {
            return Ok(o.clone());
        }
        let host_header = if port == default_port {
            HeaderValue::from_str(host)
        } else {
            HeaderValue::from_str(&format!("{host}:{port}"))
        }
        .map_err(|_| Transport::Broken)?;
        let o = Arc::new(Origin {
            tls,
            host: host.into(),
            port,
            host_header,
            idle: (0..shard::count()).map(|_| Mutex::default()).collect(),
        });
        origins.push(o.clone());
        Ok(o)
    }

    /// Sends one request and reads the answer's head; its body is read from the answer.
    /// A pooled connection the upstream closed is replaced by a fresh one only when none of
    /// the request was written to it.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, Transport> {
        let uri: Uri = url.parse().map_err(|_| Transport::Broken)?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(Transport::Broken),
        };
        let host = uri.host().ok_or(Transport::Broken)?;
        let origin = self.origin(tls, host, uri.port_u16())?;
        headers.insert(HOST, origin.host_header.clone());
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let head = request_head(&method, target, &headers, body.len());

        let mut pooled = poll_fn(|cx| Poll::Ready(origin.checkout(cx))).await;
        let mut conn = loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                None => self.connect(&origin).await?,
            };
            match conn.write(&head, &body).await {
                Ok(()) => break conn,
                // Not written: the idle connection was closed under us; a new one.
                Err(false) if reused => {}
                Err(_) => return Err(Transport::Broken),
            }
        };
        let answer = conn.read_head(&method).await?;
        Ok(UpstreamResponse {
            status: answer.status,
            headers: answer.headers,
            body: Box::pin(PooledBody {
                conn: Some(conn),
                framing: answer.body,
                keep_alive: answer.keep_alive,
                origin,
            }),
        })
    }

    /// A new connection to `origin`, within the connect timeout (TCP and TLS together).
    async fn connect(&self, origin: &Origin) -> Result<Conn, Transport> {
        let open = async {
            let host = origin.host.trim_start_matches('[').trim_end_matches(']');
            let tcp = TcpStream::connect((host, origin.port))
                .await
                .map_err(|_| Transport::Connect)?;
            tcp.set_nodelay(true).map_err(|_| Transport::Connect)?;
            let io = if origin.tls {
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|_| Transport::Connect)?;
                let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|_| Transport::Connect)?;
                Either::Right(Box::new(tls))
            } else {
                Either::Left(tcp)
            };
            Ok(Conn::new(io))
        };
        match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, open)
                .await
                .map_err(|_| Transport::Connect)?,
            None => open.await,
        }
    }
}

/// An answer's body, read from its connection as it is polled; the connection goes back to
/// its origin's idle list once the body has ended, and is closed if the body is dropped
/// before.
struct PooledBody {
    /// `None` once the body has ended or broken.
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    origin: Arc<Origin>,
}

impl Stream for PooledBody {
    type Item = Result<Bytes, Transport>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = &mut this.conn else {
                return Poll::Ready(None);
            };
            let ended = match this.framing.step(&mut conn.buf) {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(data))),
                Ok(Step::End) => true,
                Ok(Step::More) => match ready!(conn.poll_fill(cx)) {
                    Ok(0) if this.framing.is_close() => true,
                    Ok(0) | Err(_) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(Transport::Broken)));
                    }
                    Ok(_) => false,
                },
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            };
            if ended {
                if let Some(mut c) = this.conn.take() {
                    // Bytes past the answer's end would be read as the next answer's.
                    if this.keep_alive && c.buf.is_empty() {
                        c.settle();
                        this.origin.checkin(c);
                    }
                }
                return Poll::Ready(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Reads a body framed by `framing` from `wire`, fed `at` bytes at a time.
    fn decode(mut framing: Framing, wire: &[u8], at: usize) -> Result<Vec<u8>, Transport> {
        let mut buf = BytesMut::new();
        let mut feed = wire.chunks(at);
        let mut body = Vec::new();
        loop {
            match framing.step(&mut buf)? {
                Step::Data(d) => body.extend_from_slice(&d),
                Step::End => return Ok(body),
                Step::More => match feed.next() {
                    Some(part) => buf.extend_from_slice(part),
                    None => return Err(Transport::Broken),
                },
            }
        }
    }

    #[test]
    fn a_chunked_body_is_read_whole_however_it_is_split() {
        let wire =
            b"5;ext=1\r\nhello\r\n1a\r\n, and the rest of it here.\r\n0\r\nx-trailer: 1\r\n\r\n";
        for at in 1..=wire.len() {
            let body = decode(Framing::Chunked(Chunk::Size), wire, at);
            assert_eq!(
                body.as_deref().ok(),
                Some(&b"hello, and the rest of it here."[..]),
                "split every {at} bytes"
            );
        }
        // Bare line feeds are read as line ends too.
        let body = decode(Framing::Chunked(Chunk::Size), b"3\nabc\n0\n\n", 2);
        assert_eq!(body.ok().as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn a_broken_chunked_body_is_refused() {
        for wire in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX\r\n0\r\n\r\n",
            b"fffffffffffffffffffff\r\n",
            &[b'1'; MAX_LINE + 2][..],
        ] {
            let got = decode(Framing::Chunked(Chunk::Size), wire, 7);
            assert_eq!(
                got,
                Err(Transport::Broken),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn a_length_body_ends_at_its_length() {
        assert_eq!(
            decode(Framing::Length(5), b"hello", 2).ok().as_deref(),
            Some(&b"hello"[..])
        );
        let mut buf = BytesMut::from(&b"hellomore"[..]);
        let mut framing = Framing::Length(5);
        assert_eq!(
            framing.step(&mut buf),
            Ok(Step::Data(Bytes::from_static(b"hello")))
        );
        assert_eq!(framing.step(&mut buf), Ok(Step::End));
        assert_eq!(
            &buf[..],
            b"more",
            "what follows is left for the next answer"
        );
    }

    fn framing(
        status: u16,
        method: Method,
        headers: &[(&str, &str)],
    ) -> Result<Framing, Transport> {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).map_err(|_| Transport::Broken)?,
                HeaderValue::from_str(v).map_err(|_| Transport::Broken)?,
            );
        }
        Framing::of(status, &method, &map)
    }

    #[test]
    fn the_framing_follows_the_answers_head() {
        let post = || Method::POST;
        assert_eq!(
            framing(200, post(), &[("content-length", "12")]),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(
                200,
                post(),
                &[("content-length", "12"), ("content-length", "12, 12")]
            ),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(
                200,
                post(),
                &[("content-length", "12"), ("content-length", "13")]
            ),
            Err(Transport::Broken)
        );
        assert_eq!(
            framing(200, post(), &[("content-length", "-1")]),
            Err(Transport::Broken)
        );
        assert_eq!(
            framing(200, post(), &[("content-length", "+1")]),
            Err(Transport::Broken)
        );
        assert_eq!(
            framing(
                200,
                post(),
                &[
                    ("transfer-encoding", "gzip, Chunked"),
                    ("content-length", "3")
                ]
            ),
            Ok(Framing::Chunked(Chunk::Size))
        );
        assert_eq!(
            framing(200, post(), &[("transfer-encoding", "gzip")]),
            Ok(Framing::Close)
        );
        assert_eq!(framing(200, post(), &[]), Ok(Framing::Close));
        assert_eq!(framing(204, post(), &[]), Ok(Framing::Length(0)));
        assert_eq!(framing(304, Method::GET, &[]), Ok(Framing::Length(0)));
        assert_eq!(
            framing(200, Method::HEAD, &[("content-length", "9")]),
            Ok(Framing::Length(0))
        );
    }

    #[test]
    fn the_request_head_carries_its_own_framing() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("up.example"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        let head = request_head(&Method::POST, "/v1/x?y=1", &headers, 7);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "POST /v1/x?y=1 HTTP/1.1\r\nhost: up.example\r\ncontent-length: 7\r\n\r\n"
        );
        let head = request_head(&Method::GET, "/", &HeaderMap::new(), 0);
        assert_eq!(String::from_utf8_lossy(&head), "GET / HTTP/1.1\r\n\r\n");
    }

    /// What a test upstream saw: each request's bytes, and the connections it accepted.
    #[derive(Default)]
    struct Seen {
        requests: Vec<String>,
        connections: usize,
    }

    /// A server on a real socket answering each request it reads, on any connection, with
    /// the next of `answers`, closing the connection after those marked so.
    async fn upstream(answers: Vec<(&'static [u8], bool)>) -> (String, Arc<Mutex<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .ok()
            .unwrap_or_else(|| unreachable!());
        let addr = listener.local_addr().ok().unwrap_or_else(|| unreachable!());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                log.lock().connections += 1;
                let (log, answers) = (log.clone(), answers.clone());
                tokio::spawn(async move {
                    let mut req = vec![0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut req).await {
                        log.lock()
                            .requests
                            .push(String::from_utf8_lossy(&req[..n]).into_owned());
                        let Some((answer, close)) = answers.lock().next() else {
                            return;
                        };
                        if s.write_all(answer).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/v1/x"), seen)
    }

    fn client() -> Client {
        let tls = crate::upstream::tls_config(&[])
            .ok()
            .unwrap_or_else(|| unreachable!());
        Client::new(None, tls, HeaderValue::from_static("sb-test"))
    }

    async fn body(c: &Client, url: &str) -> Result<(u16, Vec<u8>), Transport> {
        let resp = c
            .send(
                Method::POST,
                url,
                HeaderMap::new(),
                Bytes::from_static(b"{}"),
            )
            .await?;
        let status = resp.status;
        let body: Vec<Bytes> = resp.body.try_collect().await?;
        Ok((status, body.concat()))
    }

    #[tokio::test]
    async fn a_connection_carries_answers_in_turn_past_interim_answers_and_trailers() {
        let (url, seen) = upstream(vec![
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2;a=b\r\nhi\r\n0\r\nx-t: 1\r\n\r\n", false),
            (b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nabc", false),
            (b"HTTP/1.1 204 No Content\r\n\r\n", false),
        ])
        .await;
        let c = client();
        assert_eq!(body(&c, &url).await, Ok((200, b"hi".to_vec())));
        assert_eq!(body(&c, &url).await, Ok((201, b"abc".to_vec())));
        assert_eq!(body(&c, &url).await, Ok((204, Vec::new())));
        let seen = seen.lock();
        assert_eq!(seen.connections, 1, "three requests on one connection");
        let seen = &seen.requests;
        assert_eq!(seen.len(), 3);
        assert!(
            seen[0].starts_with("POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:")
                && seen[0].contains("\r\nuser-agent: sb-test\r\n")
                && seen[0].ends_with("content-length: 2\r\n\r\n{}"),
            "{}",
            seen[0]
        );
    }

    #[tokio::test]
    async fn an_answer_that_ends_its_connection_is_read_whole_and_its_connection_not_reused() {
        let (url, seen) = upstream(vec![
            (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", true),
            // These two leave their connections open; the client must not use them again.
            (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", false),
            (
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
                false,
            ),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlast", false),
        ])
        .await;
        let c = client();
        assert_eq!(body(&c, &url).await, Ok((200, b"until the end".to_vec())));
        assert_eq!(body(&c, &url).await, Ok((200, b"ok".to_vec())));
        assert_eq!(body(&c, &url).await, Ok((200, b"ok".to_vec())));
        assert_eq!(body(&c, &url).await, Ok((200, b"last".to_vec())));
        assert_eq!(seen.lock().connections, 4);
    }

    #[tokio::test]
    async fn a_broken_answer_is_a_broken_connection() {
        for wire in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"[..],
            b"NOT HTTP\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            let (url, _) = upstream(vec![(wire, true)]).await;
            assert_eq!(
                body(&client(), &url).await,
                Err(Transport::Broken),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
    }
}
