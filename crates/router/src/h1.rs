//! The direct upstream client: HTTP/1.1 over pooled connections (plain or rustls), each
//! exchange driven by the task that asked for it. A connection is checked out of its origin's
//! idle list, the request is written and the answer read in place — no connection task, no
//! hand-off between tasks per request or per chunk — and it goes back to the list only once
//! its answer was read to the end. Dropping an answer's body mid-way drops its connection.
//!
//! Only for networks without a proxy: those keep reqwest (`upstream.rs` decides).

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{ACCEPT, HOST, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::shard;
use crate::upstream::{Transport, UpstreamResponse};

/// An idle connection unused this long is closed (not reused) when next seen.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per origin; more are closed as they come back.
pub(crate) const MAX_IDLE_PER_ORIGIN: usize = 256;

type Body = Full<Bytes>;

/// A connection's byte stream: TCP, or TLS over it.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One HTTP/1.1 connection: the sender and the state machine the current owner drives.
struct Conn {
    tx: SendRequest<Body>,
    conn: Connection<TokioIo<Io>, Body>,
    /// The connection future has ended (closed, or failed).
    done: bool,
    idle_since: Instant,
    /// The shard of the thread that opened it, whose idle list it goes back to.
    shard: usize,
}

impl Conn {
    /// Lets the connection read and write what it can, waking `cx` when it can do more.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if !self.done && Pin::new(&mut self.conn).poll(cx).is_ready() {
            self.done = true;
        }
    }

    /// Open and waiting for a request.
    fn reusable(&self) -> bool {
        !self.done && self.tx.is_ready()
    }
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
            c.drive(cx);
            if c.reusable() {
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
    /// A pooled connection the upstream closed is replaced by a fresh one only when the
    /// request was not written to it.
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
        let target = uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = target;
        *req.headers_mut() = headers;

        let mut pooled = poll_fn(|cx| Poll::Ready(origin.checkout(cx))).await;
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                None => self.connect(&origin).await?,
            };
            let mut answer = std::pin::pin!(conn.tx.try_send_request(req));
            let res = poll_fn(|cx| {
                conn.drive(cx);
                answer.as_mut().poll(cx)
            })
            .await;
            match res {
                Ok(resp) => {
                    let (parts, incoming) = resp.into_parts();
                    return Ok(UpstreamResponse {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body: Box::pin(PooledBody {
                            incoming,
                            conn: Some(conn),
                            origin,
                        }),
                    });
                }
                Err(mut e) => match e.take_message() {
                    // Not written: the idle connection was closed under us; a new one.
                    Some(back) if reused => req = back,
                    _ => return Err(Transport::Broken),
                },
            }
        }
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
                Io::Tls(Box::new(tls))
            } else {
                Io::Plain(tcp)
            };
            let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|_| Transport::Connect)?;
            Ok(Conn {
                tx,
                conn,
                done: false,
                idle_since: Instant::now(),
                shard: shard::current(),
            })
        };
        match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, open)
                .await
                .map_err(|_| Transport::Connect)?,
            None => open.await,
        }
    }
}

/// An answer's body, driving its connection as it is read; the connection goes back to its
/// origin's idle list once the body has ended, and is closed if the body is dropped before.
struct PooledBody {
    incoming: Incoming,
    conn: Option<Conn>,
    origin: Arc<Origin>,
}

impl Stream for PooledBody {
    type Item = Result<Bytes, Transport>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(c) = &mut this.conn {
            c.drive(cx);
        }
        loop {
            match Pin::new(&mut this.incoming).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                    // Empty data and trailers carry nothing for us.
                    _ => continue,
                },
                Poll::Ready(Some(Err(_))) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Transport::Broken)));
                }
                Poll::Ready(None) => {
                    if let Some(mut c) = this.conn.take() {
                        // One more turn lets the connection settle into waiting for the
                        // next request.
                        c.drive(cx);
                        if c.reusable() {
                            this.origin.checkin(c);
                        }
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}
