//! The TCP listener: HTTP/1.1 via hyper with a header-read timeout (axum's `serve` has none:
//! SECURITY.md T11), fair connection limits, TCP_NODELAY, and graceful shutdown that lets
//! requests in flight finish up to a deadline. Every connection task is owned by a `TaskTracker`
//! that shutdown drains, then ends — no detached work.
//!
//! Connection limits are fair (SECURITY.md T11): idle connections that never authenticated
//! cannot starve anyone.
//!
//! Accepting happens here; each admitted connection is then served wholly on one of the
//! serving threads (`workers.rs`).
//! - A peer beyond loopback holds at most `max_connections_per_peer` connections.
//! - Once three quarters of the slots are taken, new connections get a short header timeout.
//! - At the cap, a new connection takes the slot of the oldest connection that has no request
//!   in flight and has never passed the credential check; only when every slot is held by a
//!   busy or authenticated connection is the new one closed. When the process runs out of
//!   file descriptors before the cap, the cap drops to what it holds less a reserve (for
//!   upstream connections), shedding the same way. A connection whose request
//!   passed the credential check (the guard marks it) is never shed, so an authenticated
//!   client keeps its slot however many idle sockets others open.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::instrument::WithSubscriber;

use crate::front::Front;
use crate::workers::Workers;

/// What a request knows of the connection it arrived on: the peer, the local address it
/// reached (so the port we listen on) and the connection's standing, which the guard marks
/// authenticated once a request on it passed the credential check. Handed to the front with
/// each request (`front.rs`), and a request extension on the routes axum serves.
#[derive(Debug, Clone)]
pub struct Conn {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    state: Arc<ConnState>,
}

impl Conn {
    pub fn mark_authenticated(&self) {
        self.state.authenticated.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Connections one peer beyond loopback may hold (loopback peers share the global cap:
    /// every local client has the same address).
    pub max_connections_per_peer: usize,
    pub shutdown_grace: Duration,
}

/// The header timeout of connections accepted while the server is near its cap.
const BUSY_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// File descriptors kept free for upstream connections and the database once accepting has
/// failed for want of them.
const FD_RESERVE: usize = 64;
/// The connection cap never drops below this, however few descriptors the process has.
const MIN_CAP: usize = 16;

/// A running listener; dropping the handle does not stop it, [`Listener::stop`] does.
#[derive(Debug)]
pub struct Listener {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    pub fn start(
        listener: TcpListener,
        front: Front,
        limits: ListenLimits,
    ) -> std::io::Result<Listener> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, front, limits, stop.clone()));
        Ok(Listener { addr, stop, task })
    }

    /// Stops accepting, lets requests in flight finish (up to the grace period), then
    /// closes what is left.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "listener task failed");
        }
    }
}

/// What the listener knows of one open connection.
#[derive(Debug)]
struct ConnState {
    authenticated: AtomicBool,
    /// Requests being handled on it right now.
    busy: AtomicUsize,
    /// Cancelled when the connection is shed to make room.
    shed: CancellationToken,
}

impl ConnState {
    fn new() -> Arc<ConnState> {
        Arc::new(ConnState {
            authenticated: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            shed: CancellationToken::new(),
        })
    }

    fn sheddable(&self) -> bool {
        !self.authenticated.load(Ordering::Relaxed) && self.busy.load(Ordering::Relaxed) == 0
    }
}

/// The open connections, in the order they were accepted.
#[derive(Debug, Default)]
struct Table {
    conns: BTreeMap<u64, (IpAddr, Arc<ConnState>)>,
    per_peer: HashMap<IpAddr, usize>,
    next_id: u64,
    /// A cap below `max_connections`, learned when the process ran out of file descriptors.
    fd_cap: Option<usize>,
}

/// The answer to a new connection.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Serve it under this id, with this header timeout.
    Serve { id: u64, header_timeout: Duration },
    /// Its peer already holds its share of the slots.
    PeerFull,
    /// Every slot is held by a busy or authenticated connection.
    Full,
}

impl Table {
    fn admit(&mut self, peer: IpAddr, state: Arc<ConnState>, limits: &ListenLimits) -> Admit {
        if !peer.is_loopback()
            && self.per_peer.get(&peer).copied().unwrap_or(0) >= limits.max_connections_per_peer
        {
            return Admit::PeerFull;
        }
        let cap = self.cap(limits);
        if self.conns.len() >= cap && !self.shed_one() {
            return Admit::Full;
        }
        let near_cap = self.conns.len() >= cap.saturating_mul(3) / 4;
        let header_timeout = if near_cap {
            limits.header_read_timeout.min(BUSY_HEADER_READ_TIMEOUT)
        } else {
            limits.header_read_timeout
        };
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(id, (peer, state));
        *self.per_peer.entry(peer).or_default() += 1;
        Admit::Serve { id, header_timeout }
    }

    fn cap(&self, limits: &ListenLimits) -> usize {
        limits
            .max_connections
            .min(self.fd_cap.unwrap_or(usize::MAX))
    }

    /// Accepting failed for want of file descriptors: the process holds fewer connections
    /// than `max_connections` allows. From now on the cap is what it holds less a reserve
    /// (so requests still get their upstream connections), and idle unauthenticated
    /// connections beyond it are shed at once.
    fn out_of_descriptors(&mut self) {
        let cap = self.conns.len().saturating_sub(FD_RESERVE).max(MIN_CAP);
        let cap = cap.min(self.fd_cap.unwrap_or(usize::MAX));
        self.fd_cap = Some(cap);
        while self.conns.len() > cap && self.shed_one() {}
    }

    /// Closes the oldest connection with no request in flight that never authenticated;
    /// `false` if there is none.
    fn shed_one(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .find(|(_, (_, c))| c.sheddable())
            .map(|(id, _)| *id);
        let Some(shed) = victim.and_then(|id| self.remove(id)) else {
            return false;
        };
        shed.shed.cancel();
        true
    }

    /// Forgets a connection (shed, or ended); `None` if it was already gone.
    fn remove(&mut self, id: u64) -> Option<Arc<ConnState>> {
        let (peer, state) = self.conns.remove(&id)?;
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
        Some(state)
    }
}

/// Removes its connection from the table when the connection task ends, however it ends.
struct Slot {
    table: Arc<Mutex<Table>>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().remove(self.id);
    }
}

/// Counts a request as in flight on its connection until its response is ready (or the
/// request is dropped).
struct Busy(Arc<ConnState>);

impl Busy {
    fn new(state: Arc<ConnState>) -> Busy {
        state.busy.fetch_add(1, Ordering::Relaxed);
        Busy(state)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    listener: TcpListener,
    front: Front,
    limits: ListenLimits,
    stop: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let table = Arc::new(Mutex::new(Table::default()));
    let local = listener.local_addr().ok();
    let tracker = TaskTracker::new();
    let halt = CancellationToken::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like (the process limit may be below
                // `max_connections`): lower the cap to what fits and make room the way the
                // cap does, and back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                let exhausted = !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted
                );
                if exhausted {
                    table.lock().out_of_descriptors();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let state = ConnState::new();
        let admitted = table.lock().admit(peer.ip(), state.clone(), &limits);
        let (id, header_timeout) = match admitted {
            Admit::Serve { id, header_timeout } => (id, header_timeout),
            Admit::PeerFull => {
                tracing::warn!(%peer, "per-peer connection limit reached; closing new connection");
                continue;
            }
            Admit::Full => {
                tracing::warn!(%peer, "connection limit reached; closing new connection");
                continue;
            }
        };
        let slot = Slot {
            table: table.clone(),
            id,
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let local = socket.local_addr().ok().or(local);
        // Off this runtime's reactor, onto the serving thread's.
        let socket = match socket.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accepted connection lost");
                continue;
            }
        };
        let serve = Serve {
            front: front.clone(),
            peer,
            local,
            state,
            header_timeout,
            slot,
            graceful: graceful.watcher(),
            halt: halt.clone(),
            logs: tracing::dispatcher::get_default(Clone::clone),
        };
        let tracker = tracker.clone();
        Workers::get().run(Box::new(move || serve.spawn(socket, &tracker)));
    }
    drop(listener);
    tracker.close();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
    halt.cancel();
    tracker.wait().await;
}

/// An admitted connection, to be served on a serving thread.
struct Serve {
    front: Front,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    state: Arc<ConnState>,
    header_timeout: Duration,
    slot: Slot,
    graceful: Watcher,
    /// Cancelled when the shutdown grace period is over.
    halt: CancellationToken,
    /// Where the accepting task logs (a scoped subscriber too): the connection logs there.
    logs: tracing::Dispatch,
}

impl Serve {
    /// Serves the connection on a task of the calling thread's runtime, owned by `tracker`.
    fn spawn(self, socket: std::net::TcpStream, tracker: &TaskTracker) {
        let Serve {
            front,
            peer,
            local,
            state,
            header_timeout,
            slot,
            graceful,
            halt,
            logs,
        } = self;
        let socket = match TcpStream::from_std(socket) {
            Ok(s) => s,
            Err(e) => {
                tracing::dispatcher::with_default(&logs, || {
                    tracing::debug!(error = %e, "accepted connection lost");
                });
                return;
            }
        };
        let shed = state.shed.clone();
        let info = Conn { peer, local, state };
        let svc = hyper::service::service_fn(move |req| {
            let busy = Busy::new(info.state.clone());
            let answer = front.call(info.clone(), req);
            async move {
                let resp = answer.await;
                drop(busy);
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(socket), svc);
        let conn = graceful.watch(conn);
        let serve = async move {
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = shed.cancelled() => {
                    tracing::debug!(%peer, "idle unauthenticated connection shed to make room");
                }
                () = halt.cancelled() => {}
            }
            drop(slot);
        };
        tracker.spawn(serve.with_subscriber(logs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_peer: usize) -> ListenLimits {
        ListenLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: max,
            max_connections_per_peer: per_peer,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn at_the_cap_the_oldest_idle_unauthenticated_connection_is_shed() {
        let l = limits(4, 4);
        let mut t = Table::default();
        let conns: Vec<_> = (0..4).map(|_| ConnState::new()).collect();
        for c in &conns {
            assert!(matches!(
                t.admit(ip("127.0.0.1"), c.clone(), &l),
                Admit::Serve { .. }
            ));
        }
        // The oldest is authenticated, the second busy: the third is the one shed.
        conns[0].authenticated.store(true, Ordering::Relaxed);
        let busy = Busy::new(conns[1].clone());
        let new = ConnState::new();
        assert!(matches!(
            t.admit(ip("127.0.0.1"), new.clone(), &l),
            Admit::Serve { id: 4, .. }
        ));
        assert!(!conns[0].shed.is_cancelled());
        assert!(!conns[1].shed.is_cancelled());
        assert!(conns[2].shed.is_cancelled());
        assert_eq!(t.conns.len(), 4);
        // Its task ending later does not free a second slot.
        assert!(t.remove(2).is_none());
        assert_eq!(t.conns.len(), 4);
        // Every slot busy or authenticated: the newcomer is refused.
        new.authenticated.store(true, Ordering::Relaxed);
        conns[3].authenticated.store(true, Ordering::Relaxed);
        assert_eq!(t.admit(ip("127.0.0.1"), ConnState::new(), &l), Admit::Full);
        drop(busy);
        assert!(matches!(
            t.admit(ip("127.0.0.1"), ConnState::new(), &l),
            Admit::Serve { .. }
        ));
        assert!(conns[1].shed.is_cancelled());
    }

    #[test]
    fn near_the_cap_new_connections_get_a_short_header_timeout() {
        let l = limits(8, 8);
        let mut t = Table::default();
        let mut timeouts = Vec::new();
        for _ in 0..8 {
            match t.admit(ip("127.0.0.1"), ConnState::new(), &l) {
                Admit::Serve { header_timeout, .. } => timeouts.push(header_timeout),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(timeouts[..6], [Duration::from_secs(10); 6]);
        assert_eq!(timeouts[6..], [BUSY_HEADER_READ_TIMEOUT; 2]);
    }

    #[test]
    fn running_out_of_descriptors_lowers_the_cap_with_a_reserve() {
        let l = limits(4096, 4096);
        let mut t = Table::default();
        let conns: Vec<_> = (0..200).map(|_| ConnState::new()).collect();
        for c in &conns {
            t.admit(ip("127.0.0.1"), c.clone(), &l);
        }
        conns[0].authenticated.store(true, Ordering::Relaxed);
        t.out_of_descriptors();
        assert_eq!(t.conns.len(), 200 - FD_RESERVE);
        assert!(!conns[0].shed.is_cancelled(), "authenticated: kept");
        assert!(conns[1..=FD_RESERVE].iter().all(|c| c.shed.is_cancelled()));
        // The next newcomer takes an idle slot instead of growing past the learned cap.
        assert!(matches!(
            t.admit(ip("127.0.0.1"), ConnState::new(), &l),
            Admit::Serve { .. }
        ));
        assert_eq!(t.conns.len(), 200 - FD_RESERVE);
        assert!(conns[FD_RESERVE + 1].shed.is_cancelled());
        // It never falls below the floor, nor rises again.
        t.out_of_descriptors();
        assert_eq!(t.cap(&l), 200 - 2 * FD_RESERVE);
        for _ in 0..10 {
            t.out_of_descriptors();
        }
        assert_eq!(t.cap(&l), MIN_CAP);
    }

    #[test]
    fn a_remote_peer_holds_at_most_its_share() {
        let l = limits(100, 2);
        let mut t = Table::default();
        for _ in 0..2 {
            assert!(matches!(
                t.admit(ip("192.0.2.7"), ConnState::new(), &l),
                Admit::Serve { .. }
            ));
        }
        assert_eq!(
            t.admit(ip("192.0.2.7"), ConnState::new(), &l),
            Admit::PeerFull
        );
        // Other peers, and loopback (every local client shares one address), are not held
        // to that share.
        assert!(matches!(
            t.admit(ip("192.0.2.8"), ConnState::new(), &l),
            Admit::Serve { .. }
        ));
        for _ in 0..5 {
            assert!(matches!(
                t.admit(ip("::1"), ConnState::new(), &l),
                Admit::Serve { .. }
            ));
        }
        // A slot freed by the peer is its own again.
        t.remove(0);
        assert!(matches!(
            t.admit(ip("192.0.2.7"), ConnState::new(), &l),
            Admit::Serve { .. }
        ));
    }
}
