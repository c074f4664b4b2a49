//! Transports (UDP, TCP) and transactions (RFC 3261 section 17 with RFC 6026).
//!
//! Every transaction is a small task driven by its own timers (tokio's timer wheel); the
//! tables that route messages to them are sharded by key, so no lock is shared by the whole
//! message path. New requests reach the transaction user through a bounded queue: when it is
//! full, the request is answered 503 with Retry-After at once and no state is kept.

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::build;
use crate::header::Name;
use crate::message::{Limits, Message, ParseError};
use crate::shards::Sharded;
use crate::Method;

mod client;
mod lanes;
mod server;
mod streams;
pub use client::{ack_for, cancel_for};
pub use streams::{frame, Frame};

/// Every timer of RFC 3261 section 17, configurable so tests need not wait out defaults.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
    /// Timer D: how long an INVITE client transaction absorbs final responses (32 s).
    pub d: Duration,
    /// Timer C: how long an INVITE transaction waits in Proceeding for a final response
    /// (RFC 3261 16.6 asks for more than 3 minutes; 210 s). A client transaction then
    /// cancels its INVITE itself; a server transaction whose user never answered gives up
    /// with 408. The transaction user's own bounds (ringing, no-answer) come first.
    pub c: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            d: Duration::from_secs(32),
            c: Duration::from_secs(210),
        }
    }
}

impl Timers {
    /// 64*T1: timers B, F, H, J, L and M.
    pub fn long(&self) -> Duration {
        self.t1 * 64
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub timers: Timers,
    pub limits: Limits,
    /// Running server transactions at most; past it, new requests get 503.
    pub max_transactions: usize,
    /// Completed non-INVITE transactions held to absorb retransmissions, at most; past it the
    /// oldest go first (a very late retransmission may then be taken for a new request).
    pub max_completed: usize,
    /// New requests waiting for the transaction user at most; past it, 503.
    pub queue: usize,
    /// Seconds advertised in Retry-After when overloaded.
    pub retry_after: u32,
    /// Longest wait to open a TCP or TLS connection to a peer, handshake included.
    pub connect_timeout: Duration,
    /// Longest wait for a peer's stream to take what is written to it: a peer that stops
    /// reading is dropped rather than holding up the transactions that write to it.
    pub write_timeout: Duration,
    /// A stream on which nothing arrives for this long is closed (longer than the longest
    /// registration, whose refreshes keep a phone's connection alive).
    pub stream_idle: Duration,
    /// The UDP socket's receive and send buffers, in bytes (the kernel caps them): a burst
    /// larger than the buffer is lost before the endpoint sees it, and costs every call it
    /// touches a retransmission or its life.
    pub udp_buffer: usize,
    /// Tasks that parse and dispatch what the UDP socket receives, each taking the messages
    /// of its share of Call-IDs in the order they came (`lanes`); 1: the receiving task does.
    pub udp_lanes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timers: Timers::default(),
            limits: Limits::default(),
            max_transactions: 200_000,
            // About 70 MB at most: enough to absorb every retransmission at 3,000 requests/s
            // for Timer J; past that, the oldest go first (memory stays bounded in overload).
            max_completed: 100_000,
            queue: 4096,
            retry_after: 5,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            stream_idle: Duration::from_secs(7800),
            udp_buffer: 1 << 20,
            udp_lanes: std::thread::available_parallelism()
                .map(|n| n.get().min(8))
                .unwrap_or(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// WebSocket (RFC 7118), carried by a connection the HTTP layer accepted.
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    pub fn reliable(self) -> bool {
        self != Transport::Udp
    }
}

/// Where a message came from, and so where its answers go (symmetric response routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// What the transaction user receives.
#[derive(Debug)]
pub enum Incoming {
    /// A new request with its server transaction (answer through it).
    Request(ServerTransaction),
    /// An ACK for a 2xx (it has no transaction of its own, RFC 3261 17.1.1.3).
    Ack { message: Arc<Message>, peer: Peer },
}

enum ServerEvent {
    Retransmission,
    Ack,
    /// A response, and who to tell once it is on its way (so a TU's messages leave in order).
    Respond(Bytes, u16, Option<tokio::sync::oneshot::Sender<()>>),
    /// The user will not answer and wants nothing sent (a flooding source): end now.
    Abandon,
}

enum ClientEvent {
    Response(Arc<Message>),
    /// A CANCEL for this INVITE was sent: a final response must come within 64*T1
    /// (RFC 3261 9.1), or the transaction ends without one.
    Cancelled,
}

/// A handle on a server transaction, for the transaction user to answer through.
#[derive(Debug, Clone)]
pub struct ServerTransaction {
    pub request: Arc<Message>,
    pub peer: Peer,
    /// For a CANCEL: the INVITE transaction it cancels, when that is still running (same
    /// branch, RFC 3261 9.2). Answer the CANCEL 200 and the INVITE 487.
    pub cancels: Option<Box<ServerTransaction>>,
    kind: server::Kind,
    /// A CANCEL matched this INVITE (shared by every copy of the transaction): its user,
    /// however far it got, must not go on to ring anyone.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

/// The next event of a server transaction in Proceeding, or None once `deadline` passed
/// without its user's final response.
async fn wait_for_user(
    rx: &mut mpsc::Receiver<ServerEventBox>,
    deadline: tokio::time::Instant,
) -> Option<Option<ServerEventBox>> {
    tokio::time::timeout_at(deadline, rx.recv()).await.ok()
}

/// Events travel boxed so the channel's slot stays small.
struct ServerEventBox(ServerEvent);

impl std::fmt::Debug for ServerEventBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerEvent")
    }
}

impl ServerTransaction {
    /// Note that a CANCEL matched this INVITE (RFC 3261 9.2). Set before the CANCEL looks for
    /// the INVITE's user, and read by that user once it can be found, so the two never miss
    /// each other.
    pub fn mark_cancelled(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether a CANCEL matched this INVITE.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Send a response (built with [`build::response`]). Provisional responses may precede
    /// one final response; a 2xx to an INVITE is retransmitted until its ACK arrives. Returns
    /// once the response is handed to the transport, so what the caller sends next follows it.
    pub async fn respond(&self, response: Bytes) {
        let code = status_of(&response).unwrap_or(500);
        match &self.kind {
            server::Kind::Invite(events) => {
                let (done, sent) = tokio::sync::oneshot::channel();
                if events
                    .send(ServerEventBox(ServerEvent::Respond(
                        response,
                        code,
                        Some(done),
                    )))
                    .await
                    .is_ok()
                {
                    let _ = sent.await;
                }
            }
            server::Kind::NonInvite(running) => running.respond(response, code).await,
            server::Kind::Entry(..) => {}
        }
    }

    /// End the transaction without a word, at once: for a source that floods, whose every
    /// request would otherwise hold a transaction until its timers ran out.
    pub async fn abandon(self) {
        match &self.kind {
            server::Kind::Invite(events) => {
                let _ = events.send(ServerEventBox(ServerEvent::Abandon)).await;
            }
            server::Kind::NonInvite(running) => running.end(None).await,
            server::Kind::Entry(..) => {}
        }
    }

    /// Build and send a response with no body; `to_tag` is added to the To when needed.
    pub async fn reply(&self, code: u16, to_tag: Option<&str>) {
        let r = build::response(&self.request, code, Some(self.peer.addr), to_tag).finish();
        self.respond(r).await;
    }
}

fn status_of(b: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(b.get(8..11)?).ok()?;
    b.starts_with(b"SIP/2.0 ").then(|| s.parse().ok()).flatten()
}

/// A client transaction: responses arrive on `responses`; the channel closes after the final
/// response, or without one on timeout (Timer B or F) or transport failure.
pub struct ClientTransaction {
    pub responses: mpsc::Receiver<Arc<Message>>,
}

/// A transaction kept as a table entry instead of a task, until its timer.
enum Held {
    /// A completed non-INVITE server transaction (Timer J): its key in `completed`, and
    /// its merged-request key.
    Completed {
        key: String,
        merge_key: Option<String>,
    },
    /// An INVITE client transaction in RFC 6026's Accepted state (Timer M): its key in
    /// `accepted_clients`.
    AcceptedClient(String),
}

/// (expires at, what) in expiry order: Timers J and M are both 64*T1, so one queue per shard
/// stays ordered.
type ExpiryQueue = std::collections::VecDeque<(tokio::time::Instant, Held)>;

struct Inner {
    config: Config,
    udp: Option<Arc<UdpSocket>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Open streams by transport and remote address: a writer each (connection reuse).
    streams: Sharded<(Transport, SocketAddr), mpsc::Sender<Bytes>>,
    server: Sharded<String, ServerTransaction>,
    /// INVITE server transactions whose 2xx awaits its ACK, by Call-ID and CSeq number.
    accepted: Sharded<String, mpsc::Sender<ServerEventBox>>,
    /// Requests in progress by (Call-ID, From tag, CSeq): the branch that owns each, to spot
    /// merged requests (482).
    merged: Sharded<String, String>,
    client: Sharded<String, mpsc::Sender<ClientEvent>>,
    /// INVITE client transactions whose 2xx came (RFC 6026 Accepted, Timer M): further 2xx
    /// (forks, retransmissions) go to the user's channel. An entry, not a task: a task and
    /// the final response held for 64*T1 per call cost hundreds of megabytes at thousands
    /// of calls a second.
    accepted_clients: Sharded<String, mpsc::Sender<Arc<Message>>>,
    /// Completed non-INVITE server transactions over UDP: only the final response is kept,
    /// to answer retransmissions until Timer J (no task, no request).
    completed: Sharded<String, (Bytes, Peer)>,
    /// Per shard, when each completed entry expires. Every entry lives the same Timer J, so
    /// each queue is in expiry order and sweeping costs only what expires.
    expiries: Vec<Mutex<ExpiryQueue>>,
    /// Running server transactions.
    live: AtomicU64,
    /// Completed entries held.
    held: AtomicU64,
    incoming: mpsc::Sender<Incoming>,
}

/// The two halves of a WebSocket connection as the endpoint sees them.
pub struct WebSocketLink {
    /// Messages received on the WebSocket go in here; dropping it ends the connection.
    pub inbound: mpsc::Sender<Bytes>,
    /// Messages to write to the WebSocket come out here.
    pub outbound: mpsc::Receiver<Bytes>,
}

/// Where an endpoint listens, and how it speaks TLS.
#[derive(Clone, Default)]
pub struct Listen {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    /// A TLS listener and its server configuration (certificate and key).
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    /// How to open TLS connections to peers (trusted roots); none: no outbound TLS.
    pub tls_client: Option<Arc<rustls::ClientConfig>>,
}

/// One SIP endpoint: its transports and transaction tables.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

/// A UDP socket on `addr` with buffers of `buffer` bytes each way (as much as the kernel
/// allows: a smaller grant is not an error).
fn bind_udp(addr: SocketAddr, buffer: usize) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if buffer > 0 {
        let _ = socket.set_recv_buffer_size(buffer);
        let _ = socket.set_send_buffer_size(buffer);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl Endpoint {
    /// Bind UDP and TCP on `udp` / `tcp` (port 0 for any) and start receiving. New requests
    /// arrive on the returned receiver.
    pub async fn bind(
        udp: Option<SocketAddr>,
        tcp: Option<SocketAddr>,
        config: Config,
    ) -> std::io::Result<(Endpoint, mpsc::Receiver<Incoming>)> {
        Endpoint::bind_with(
            Listen {
                udp,
                tcp,
                ..Listen::default()
            },
            config,
        )
        .await
    }

    /// Bind every transport `listen` names and start receiving.
    pub async fn bind_with(
        listen: Listen,
        config: Config,
    ) -> std::io::Result<(Endpoint, mpsc::Receiver<Incoming>)> {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let udp_sock = match listen.udp {
            Some(a) => Some(Arc::new(bind_udp(a, config.udp_buffer)?)),
            None => None,
        };
        let listener = match listen.tcp {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let tls_listener = match &listen.tls {
            Some((a, cfg)) => Some((
                TcpListener::bind(a).await?,
                tokio_rustls::TlsAcceptor::from(cfg.clone()),
            )),
            None => None,
        };
        let inner = Arc::new(Inner {
            udp_addr: udp_sock.as_ref().map(|s| s.local_addr()).transpose()?,
            tcp_addr: listener.as_ref().map(|l| l.local_addr()).transpose()?,
            tls_addr: tls_listener
                .as_ref()
                .map(|(l, _)| l.local_addr())
                .transpose()?,
            tls_client: listen.tls_client.clone(),
            udp: udp_sock.clone(),
            streams: Sharded::new(64),
            server: Sharded::new(64),
            accepted: Sharded::new(64),
            merged: Sharded::new(64),
            client: Sharded::new(64),
            accepted_clients: Sharded::new(64),
            completed: Sharded::new(64),
            expiries: (0..64).map(|_| Mutex::new(Default::default())).collect(),
            live: AtomicU64::new(0),
            held: AtomicU64::new(0),
            incoming: tx,
            config,
        });
        let ep = Endpoint { inner };
        let sweeper = Arc::downgrade(&ep.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = sweeper.upgrade() else {
                    return;
                };
                let every = inner.config.timers.t1.min(Duration::from_secs(1));
                drop(inner);
                tokio::time::sleep(every).await;
                let Some(inner) = sweeper.upgrade() else {
                    return;
                };
                Endpoint { inner }.sweep();
            }
        });
        if let Some(sock) = udp_sock {
            let ep2 = ep.clone();
            tokio::spawn(async move { ep2.udp_loop(sock).await });
        }
        if let Some(l) = listener {
            let ep2 = ep.clone();
            tokio::spawn(async move { ep2.accept_loop(l).await });
        }
        if let Some((l, acceptor)) = tls_listener {
            let ep2 = ep.clone();
            tokio::spawn(async move { ep2.accept_tls_loop(l, acceptor).await });
        }
        Ok((ep, rx))
    }

    fn sweep(&self) {
        let now = tokio::time::Instant::now();
        for shard in 0..self.inner.expiries.len() {
            while self.expire_one(shard, |at| at <= now) {}
        }
        self.end_overdue(now);
    }

    /// Drop the oldest completed entry of a shard if `due` says so; whether one went.
    fn expire_one(&self, shard: usize, due: impl Fn(tokio::time::Instant) -> bool) -> bool {
        let popped = {
            let mut q = self.inner.expiries[shard].lock().expect("expiry lock");
            match q.front() {
                Some((at, _)) if due(*at) => q.pop_front(),
                _ => None,
            }
        };
        let Some((_, held)) = popped else {
            return false;
        };
        match held {
            Held::Completed { key, merge_key } => {
                self.inner.completed.with(&key, |m| m.remove(&key));
                if let Some(mk) = merge_key {
                    self.inner.merged.with(&mk, |m| m.remove(&mk));
                }
            }
            Held::AcceptedClient(key) => {
                self.inner.accepted_clients.with(&key, |m| m.remove(&key));
            }
        }
        self.inner.held.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// How many transactions are held (server transactions running, and entries absorbing
    /// retransmissions for their timers), for tests and metrics.
    pub fn transactions(&self) -> u64 {
        self.inner.live.load(Ordering::Relaxed) + self.inner.held.load(Ordering::Relaxed)
    }

    /// How many client transactions are running, for metrics.
    pub fn client_transactions(&self) -> usize {
        let mut running = 0;
        self.inner.client.each(|m| running += m.len());
        running
    }

    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self.inner.udp_addr,
            Transport::Tcp => self.inner.tcp_addr,
            Transport::Tls => self.inner.tls_addr,
            // WebSocket connections arrive through the HTTP listener, not our own socket.
            Transport::Ws | Transport::Wss => None,
        }
    }

    pub fn timers(&self) -> Timers {
        self.inner.config.timers
    }

    /// A message arrived: parse it and route it to its transaction or the transaction user.
    pub(super) fn received(&self, data: Bytes, peer: Peer) {
        let msg = match Message::parse_with(data, &self.inner.config.limits) {
            Ok(m) => m,
            // Too broken to answer: drop it (RFC 3261 18.3), keep serving.
            Err(_) => return,
        };
        if let Err(e) = msg.validate() {
            if msg.is_request() && !msg.is(Method::Ack) && msg.top_via().is_some() {
                let r = build::response(&msg, e.status(), Some(peer.addr), None)
                    .header("Warning", &format!("399 dialtone \"{e}\""))
                    .finish();
                self.send_now(peer, r);
            }
            return;
        }
        if msg.is_request() {
            self.request(msg, peer);
        } else {
            self.response(msg);
        }
    }

    fn server_key(msg: &Message) -> Option<String> {
        let via = msg.top_via()?;
        let method = match msg.method()? {
            "ACK" => "INVITE",
            m => m,
        };
        Some(format!(
            "{}|{}:{}|{method}",
            via.branch().unwrap_or(""),
            via.host,
            via.port.unwrap_or(0)
        ))
    }

    fn request(&self, msg: Message, peer: Peer) {
        let Some(key) = Self::server_key(&msg) else {
            return;
        };
        let is_ack = msg.is(Method::Ack);
        // A retransmission of an answered request (its final response is held), then one of
        // a request still running, or an ACK for a non-2xx final: its transaction absorbs it.
        if !is_ack {
            if let Some((resp, to)) = self.inner.completed.with(&key, |m| m.get(&key).cloned()) {
                // Empty: an accepted INVITE's retransmission, absorbed (RFC 6026).
                if !resp.is_empty() {
                    self.send_now(to, resp);
                }
                return;
            }
        }
        let existing = self
            .inner
            .server
            .with(&key, |m| m.get(&key).map(|t| t.kind.clone()));
        match existing {
            Some(server::Kind::Invite(tx)) => {
                let ev = if is_ack {
                    ServerEvent::Ack
                } else {
                    ServerEvent::Retransmission
                };
                let _ = tx.try_send(ServerEventBox(ev));
                return;
            }
            Some(kind) => {
                // A non-INVITE still unanswered: the last provisional answer goes again.
                if let Some(last) = kind.last_provisional().filter(|_| !is_ack) {
                    self.send_now(peer, last);
                }
                return;
            }
            None => {}
        }
        let msg = Arc::new(msg);
        if is_ack {
            // An ACK for a 2xx: stop that 2xx's retransmissions, and tell the user.
            if let (Some(cid), Some((n, _))) = (msg.call_id(), msg.cseq()) {
                let k = format!("{cid}|{n}");
                if let Some(tx) = self.inner.accepted.with(&k, |m| m.get(&k).cloned()) {
                    let _ = tx.try_send(ServerEventBox(ServerEvent::Ack));
                }
            }
            let _ = self
                .inner
                .incoming
                .try_send(Incoming::Ack { message: msg, peer });
            return;
        }
        // Merged request (RFC 3261 8.2.2.2): same From tag, Call-ID and CSeq, another branch.
        let branch_key = key.clone();
        let merge_key = match (
            msg.to().map(|t| t.tag().is_none()),
            msg.from().and_then(|f| f.tag()),
            msg.call_id(),
            msg.cseq(),
        ) {
            (Some(true), Some(ftag), Some(cid), Some((n, m))) => {
                Some(format!("{cid}|{ftag}|{n}|{m}"))
            }
            _ => None,
        };
        if let Some(mk) = &merge_key {
            let clash = self.inner.merged.with(mk, |m| match m.get(mk) {
                Some(owner) => owner != &branch_key,
                None => {
                    m.insert(mk.clone(), branch_key.clone());
                    false
                }
            });
            if clash {
                let r = build::response(&msg, 482, Some(peer.addr), Some(&build::token())).finish();
                self.send_now(peer, r);
                return;
            }
        }
        if self.inner.live.load(Ordering::Relaxed) as usize >= self.inner.config.max_transactions {
            self.overloaded(&msg, peer, merge_key.as_deref());
            return;
        }
        let cancels = if msg.is(Method::Cancel) {
            // The same key with INVITE for CANCEL (the key ends with the method).
            let invite_key = format!("{}INVITE", &key[..key.len() - "CANCEL".len()]);
            self.inner
                .server
                .with(&invite_key, |m| m.get(&invite_key).cloned())
                .map(Box::new)
        } else {
            None
        };
        if !msg.is(Method::Invite) {
            // A non-INVITE holds no task: its user's final response ends it where it is
            // given, and a user that drops it unanswered ends it too.
            let running = server::Running::new(self, key.clone(), merge_key.clone(), peer);
            let st = ServerTransaction {
                request: msg.clone(),
                peer,
                cancels,
                kind: server::Kind::NonInvite(running.clone()),
                cancelled: Arc::default(),
            };
            let entry = ServerTransaction {
                cancels: None,
                kind: server::Kind::Entry(Arc::downgrade(&running), self.non_invite_deadline()),
                ..st.clone()
            };
            self.inner
                .server
                .with(&key, |m| m.insert(key.clone(), entry));
            self.inner.live.fetch_add(1, Ordering::Relaxed);
            if self.inner.incoming.try_send(Incoming::Request(st)).is_err() {
                // The entry went in first, so a user answering at once finds it; out it goes.
                running.finish_now(None);
                self.overloaded(&msg, peer, merge_key.as_deref());
            }
            return;
        }
        let (etx, erx) = mpsc::channel(8);
        let st = ServerTransaction {
            request: msg.clone(),
            peer,
            cancels,
            kind: server::Kind::Invite(etx),
            cancelled: Arc::default(),
        };
        let entry = ServerTransaction {
            cancels: None,
            ..st.clone()
        };
        if self.inner.incoming.try_send(Incoming::Request(st)).is_err() {
            self.overloaded(&msg, peer, merge_key.as_deref());
            return;
        }
        self.inner
            .server
            .with(&key, |m| m.insert(key.clone(), entry));
        self.inner.live.fetch_add(1, Ordering::Relaxed);
        let ep = self.clone();
        tokio::spawn(async move {
            let absorb = ep.invite_server(msg, peer, erx).await;
            // An accepted INVITE leaves an empty entry: its retransmissions are absorbed.
            if absorb {
                ep.hold_completed(key.clone(), merge_key.clone(), Bytes::new(), peer);
            }
            ep.inner.server.with(&key, |m| m.remove(&key));
            if !absorb {
                if let Some(mk) = merge_key {
                    ep.inner.merged.with(&mk, |m| m.remove(&mk));
                }
            }
            ep.inner.live.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// A Via header value for a new request from this endpoint over `transport`.
    pub fn via(&self, transport: Transport) -> String {
        let addr = self
            .local_addr(transport)
            .map(|a| a.to_string())
            .unwrap_or_default();
        format!(
            "SIP/2.0/{} {addr};branch={};rport",
            transport.as_str(),
            build::branch()
        )
    }
}
