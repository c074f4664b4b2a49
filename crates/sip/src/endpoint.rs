//! Transports (UDP, TCP) and transactions (RFC 3261 section 17 with RFC 6026).
//!
//! Every transaction is a small task driven by its own timers (tokio's timer wheel); the
//! tables that route messages to them are sharded by key, so no lock is shared by the whole
//! message path. New requests reach the transaction user through a bounded queue: when it is
//! full, the request is answered 503 with Retry-After at once and no state is kept.

use std::collections::HashMap;
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
    events: mpsc::Sender<ServerEventBox>,
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
    /// Send a response (built with [`build::response`]). Provisional responses may precede
    /// one final response; a 2xx to an INVITE is retransmitted until its ACK arrives. Returns
    /// once the response is handed to the transport, so what the caller sends next follows it.
    pub async fn respond(&self, response: Bytes) {
        let code = status_of(&response).unwrap_or(500);
        let (done, sent) = tokio::sync::oneshot::channel();
        if self
            .events
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

/// A map split into shards by key hash, each behind its own lock: no lock is shared by the
/// whole message path.
struct Sharded<T, K = String> {
    shards: Vec<Mutex<HashMap<K, T>>>,
}

impl<T, K: Hash + Eq> Sharded<T, K> {
    fn new(n: usize) -> Self {
        Sharded {
            shards: (0..n).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Mutex<HashMap<K, T>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % self.shards.len()]
    }

    fn with<Q: Hash + ?Sized, R>(&self, key: &Q, f: impl FnOnce(&mut HashMap<K, T>) -> R) -> R {
        let mut g = self.shard(key).lock().expect("shard lock");
        f(&mut g)
    }
}

/// (expires at, transaction key, merged-request key) in expiry order.
type ExpiryQueue = std::collections::VecDeque<(tokio::time::Instant, String, Option<String>)>;

struct Inner {
    config: Config,
    udp: Option<Arc<UdpSocket>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Open streams by transport and remote address: a writer each (connection reuse).
    streams: Sharded<mpsc::Sender<Bytes>, (Transport, SocketAddr)>,
    server: Sharded<ServerTransaction>,
    /// INVITE server transactions whose 2xx awaits its ACK, by Call-ID and CSeq number.
    accepted: Sharded<mpsc::Sender<ServerEventBox>>,
    /// Requests in progress by (Call-ID, From tag, CSeq): the branch that owns each, to spot
    /// merged requests (482).
    merged: Sharded<String>,
    client: Sharded<mpsc::Sender<ClientEvent>>,
    /// Completed non-INVITE server transactions over UDP: only the final response is kept,
    /// to answer retransmissions until Timer J (no task, no request).
    completed: Sharded<(Bytes, Peer)>,
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
            Some(a) => Some(Arc::new(UdpSocket::bind(a).await?)),
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
    }

    /// Drop the oldest completed entry of a shard if `due` says so; whether one went.
    fn expire_one(&self, shard: usize, due: impl Fn(tokio::time::Instant) -> bool) -> bool {
        let popped = {
            let mut q = self.inner.expiries[shard].lock().expect("expiry lock");
            match q.front() {
                Some((at, _, _)) if due(*at) => q.pop_front(),
                _ => None,
            }
        };
        let Some((_, key, merge_key)) = popped else {
            return false;
        };
        self.inner.completed.with(&key, |m| m.remove(&key));
        if let Some(mk) = merge_key {
            self.inner.merged.with(&mk, |m| m.remove(&mk));
        }
        self.inner.held.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// How many server transactions are held (running, or completed and absorbing
    /// retransmissions), for tests and metrics.
    pub fn transactions(&self) -> u64 {
        self.inner.live.load(Ordering::Relaxed) + self.inner.held.load(Ordering::Relaxed)
    }

    /// How many client transactions are running, for metrics.
    pub fn client_transactions(&self) -> usize {
        let shards = &self.inner.client.shards;
        shards
            .iter()
            .map(|s| s.lock().expect("shard lock").len())
            .sum()
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

    async fn udp_loop(&self, sock: Arc<UdpSocket>) {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = match sock.recv_from(&mut buf).await {
                Ok(v) => v,
                // ICMP errors surface here on some systems; keep serving.
                Err(_) => continue,
            };
            let data = &buf[..n];
            if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
                continue; // keep-alive
            }
            self.received(
                Bytes::copy_from_slice(data),
                Peer {
                    transport: Transport::Udp,
                    addr: from,
                },
            );
        }
    }

    async fn accept_loop(&self, listener: TcpListener) {
        loop {
            let Ok((stream, addr)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            self.start_stream(stream, addr, Transport::Tcp);
        }
    }

    async fn accept_tls_loop(&self, listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
        loop {
            let Ok((stream, addr)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let ep = self.clone();
            let acceptor = acceptor.clone();
            // The handshake runs on its own task, bounded in time, so a slow or silent
            // client never holds up the next one.
            tokio::spawn(async move {
                let hs =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                if let Ok(Ok(tls)) = hs {
                    ep.start_stream(tls, addr, Transport::Tls);
                }
            });
        }
    }

    /// Serve one stream (TCP or TLS): frame messages off it, write what is queued to it.
    fn start_stream<S>(
        &self,
        stream: S,
        addr: SocketAddr,
        transport: Transport,
    ) -> mpsc::Sender<Bytes>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
        self.inner.streams.with(&(transport, addr), |m| {
            m.insert((transport, addr), tx.clone())
        });
        let write_timeout = self.inner.config.write_timeout;
        tokio::spawn(async move {
            // A peer that stops reading fills its socket buffer; the write then waits no longer
            // than the write timeout before the connection goes.
            while let Some(b) = rx.recv().await {
                let written = tokio::time::timeout(write_timeout, async {
                    wr.write_all(&b).await?;
                    wr.flush().await
                })
                .await;
                if !matches!(written, Ok(Ok(()))) {
                    break;
                }
            }
        });
        let ep = self.clone();
        let keepalive = tx.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(8192);
            let limits = ep.inner.config.limits;
            let peer = Peer { transport, addr };
            'conn: loop {
                loop {
                    match frame(&buf, &limits) {
                        Ok(Frame::Message(len)) => {
                            let msg = buf.split_to(len).freeze();
                            ep.received(msg, peer);
                        }
                        Ok(Frame::KeepAlive(len)) => {
                            buf.advance(len);
                            // RFC 5626: a double CRLF ping gets a single CRLF pong.
                            let _ = keepalive.try_send(Bytes::from_static(b"\r\n"));
                        }
                        Ok(Frame::Skip(len)) => buf.advance(len),
                        Ok(Frame::Partial) => break,
                        Err(_) => break 'conn, // unframeable stream: drop the connection
                    }
                }
                let idle = ep.inner.config.stream_idle;
                // The read ends the connection on end of stream, error, silence for the idle
                // time, or when the writer gave up on a peer that stopped reading.
                tokio::select! {
                    read = tokio::time::timeout(idle, rd.read_buf(&mut buf)) => match read {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                        Ok(Ok(_)) => {}
                    },
                    _ = keepalive.closed() => break,
                }
            }
            // Only this connection's entry: a newer one to the same peer may have replaced it.
            ep.inner.streams.with(&(transport, addr), |m| {
                if m.get(&(transport, addr))
                    .is_some_and(|t| t.same_channel(&keepalive))
                {
                    m.remove(&(transport, addr));
                }
            });
        });
        tx
    }

    /// Take a WebSocket connection the HTTP layer accepted (subprotocol `sip`): push each
    /// message received on it into `inbound`, and write each message from `outbound` to it.
    /// Every WebSocket message holds one whole SIP message (RFC 7118 section 5).
    pub fn websocket(&self, addr: SocketAddr, secure: bool) -> WebSocketLink {
        let transport = if secure {
            Transport::Wss
        } else {
            Transport::Ws
        };
        let (in_tx, mut in_rx) = mpsc::channel::<Bytes>(256);
        let (out_tx, out_rx) = mpsc::channel::<Bytes>(1024);
        self.inner
            .streams
            .with(&(transport, addr), |m| m.insert((transport, addr), out_tx));
        let ep = self.clone();
        tokio::spawn(async move {
            let peer = Peer { transport, addr };
            while let Some(msg) = in_rx.recv().await {
                if msg.len() > ep.inner.config.limits.max_message {
                    continue;
                }
                ep.received(msg, peer);
            }
            ep.inner
                .streams
                .with(&(transport, addr), |m| m.remove(&(transport, addr)));
        });
        WebSocketLink {
            inbound: in_tx,
            outbound: out_rx,
        }
    }

    /// Send bytes to a peer: UDP datagram, or over the stream to it (opened when needed).
    /// Whether a stream connection to `peer` is open (always false for UDP).
    pub fn has_stream(&self, peer: Peer) -> bool {
        let key = (peer.transport, peer.addr);
        peer.transport.reliable() && self.inner.streams.with(&key, |m| m.contains_key(&key))
    }

    pub async fn send_to(&self, peer: Peer, bytes: Bytes) -> std::io::Result<()> {
        match peer.transport {
            Transport::Udp => {
                let sock = self
                    .inner
                    .udp
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("no UDP transport"))?;
                sock.send_to(&bytes, peer.addr).await.map(|_| ())
            }
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                let key = (peer.transport, peer.addr);
                let existing = self.inner.streams.with(&key, |m| m.get(&key).cloned());
                let tx = match existing {
                    Some(tx) => tx,
                    // A WebSocket peer cannot be dialled back: its connection is gone.
                    None if matches!(peer.transport, Transport::Ws | Transport::Wss) => {
                        return Err(std::io::Error::other("WebSocket connection closed"))
                    }
                    None => {
                        tokio::time::timeout(self.inner.config.connect_timeout, self.connect(peer))
                            .await
                            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??
                    }
                };
                // Never wait on a full queue: its writer is stuck on a peer that does not read
                // (and is dropped by the write timeout); this message is lost like a datagram.
                tx.try_send(bytes).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => {
                        std::io::Error::other("connection congested")
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        std::io::Error::other("connection closed")
                    }
                })
            }
        }
    }

    /// Open a stream to a peer. TLS checks the peer's certificate for its address (a host
    /// name arrives with RFC 3263 server location).
    async fn connect(&self, peer: Peer) -> std::io::Result<mpsc::Sender<Bytes>> {
        let s = match self.inner.tcp_addr.map(|a| a.ip()) {
            // A node bound to one address speaks from it, so peers see that address (a
            // multi-homed host, or simulated phones each on their own loopback address).
            Some(ip) if !ip.is_unspecified() && ip.is_ipv4() == peer.addr.is_ipv4() => {
                let socket = if ip.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(peer.addr).await?
            }
            _ => TcpStream::connect(peer.addr).await?,
        };
        let _ = s.set_nodelay(true);
        match peer.transport {
            Transport::Tls => {
                let cfg = self
                    .inner
                    .tls_client
                    .clone()
                    .ok_or_else(|| std::io::Error::other("no TLS client configuration"))?;
                let name = rustls::pki_types::ServerName::IpAddress(peer.addr.ip().into());
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, s)
                    .await?;
                Ok(self.start_stream(tls, peer.addr, Transport::Tls))
            }
            _ => Ok(self.start_stream(s, peer.addr, Transport::Tcp)),
        }
    }

    fn send_now(&self, peer: Peer, bytes: Bytes) {
        let ep = self.clone();
        tokio::spawn(async move {
            let _ = ep.send_to(peer, bytes).await;
        });
    }

    /// A message arrived: parse it and route it to its transaction or the transaction user.
    fn received(&self, data: Bytes, peer: Peer) {
        let msg = match Message::parse_with(data, &self.inner.config.limits) {
            Ok(m) => m,
            // Too broken to answer: drop it (RFC 3261 18.3), keep serving.
            Err(_) => return,
        };
        if let Err(e) = msg.validate() {
            if msg.is_request() && msg.method() != Some("ACK") && msg.top_via().is_some() {
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
        let is_ack = msg.method() == Some("ACK");
        // A retransmission of an answered request (its final response is held), then one of
        // a request still running, or an ACK for a non-2xx final: its transaction absorbs it.
        if !is_ack {
            if let Some((resp, to)) = self.inner.completed.with(&key, |m| m.get(&key).cloned()) {
                self.send_now(to, resp);
                return;
            }
        }
        let existing = self
            .inner
            .server
            .with(&key, |m| m.get(&key).map(|t| t.events.clone()));
        if let Some(tx) = existing {
            let ev = if is_ack {
                ServerEvent::Ack
            } else {
                ServerEvent::Retransmission
            };
            let _ = tx.try_send(ServerEventBox(ev));
            return;
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
        let (etx, erx) = mpsc::channel(8);
        let cancels = if msg.method() == Some("CANCEL") {
            // The same key with INVITE for CANCEL (the key ends with the method).
            let invite_key = format!("{}INVITE", &key[..key.len() - "CANCEL".len()]);
            self.inner
                .server
                .with(&invite_key, |m| m.get(&invite_key).cloned())
                .map(Box::new)
        } else {
            None
        };
        let st = ServerTransaction {
            request: msg.clone(),
            peer,
            cancels,
            events: etx.clone(),
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
        let invite = msg.method() == Some("INVITE");
        tokio::spawn(async move {
            let final_response = if invite {
                ep.invite_server(msg, peer, erx).await;
                None
            } else {
                ep.non_invite_server(peer, erx).await
            };
            // Over UDP the final response is held for retransmissions before it leaves and
            // before the running entry comes out: a retransmission finds one or the other.
            let keep = !peer.transport.reliable() && final_response.is_some();
            if let (true, Some((r, _))) = (keep, &final_response) {
                ep.hold_completed(key.clone(), merge_key.clone(), r.clone(), peer);
            }
            ep.inner.server.with(&key, |m| m.remove(&key));
            if let Some((r, done)) = final_response {
                let _ = ep.send_to(peer, r).await;
                if let Some(d) = done {
                    let _ = d.send(());
                }
            }
            if !keep {
                if let Some(mk) = merge_key {
                    ep.inner.merged.with(&mk, |m| m.remove(&mk));
                }
            }
            ep.inner.live.fetch_sub(1, Ordering::Relaxed);
        });
    }

    fn overloaded(&self, msg: &Message, peer: Peer, merge_key: Option<&str>) {
        if let Some(mk) = merge_key {
            self.inner.merged.with(mk, |m| m.remove(mk));
        }
        let r = build::response(msg, 503, Some(peer.addr), Some(&build::token()))
            .header("Retry-After", &self.inner.config.retry_after.to_string())
            .finish();
        self.send_now(peer, r);
    }

    /// INVITE server transaction (RFC 3261 17.2.1 with RFC 6026's Accepted state).
    async fn invite_server(
        &self,
        req: Arc<Message>,
        peer: Peer,
        mut rx: mpsc::Receiver<ServerEventBox>,
    ) {
        let t = self.inner.config.timers;
        let reliable = peer.transport.reliable();
        // 100 Trying at once, so the client stops retransmitting (17.2.1).
        let trying = build::response(&req, 100, Some(peer.addr), None).finish();
        let _ = self.send_to(peer, trying.clone()).await;
        let mut last = trying;
        // Proceeding: wait for the user's final response, Timer C at the most (a user that
        // holds the transaction and never answers does not hold the caller forever).
        let timer_c = tokio::time::Instant::now() + t.c;
        let code = loop {
            let Some(ev) = wait_for_user(&mut rx, timer_c).await else {
                let r = build::response(&req, 408, Some(peer.addr), Some(&build::token())).finish();
                let _ = self.send_to(peer, r.clone()).await;
                last = r;
                break 408;
            };
            match ev {
                None => return,
                Some(ServerEventBox(ServerEvent::Retransmission)) => {
                    let _ = self.send_to(peer, last.clone()).await;
                }
                Some(ServerEventBox(ServerEvent::Ack)) => {}
                Some(ServerEventBox(ServerEvent::Respond(r, code, done))) => {
                    let _ = self.send_to(peer, r.clone()).await;
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    last = r;
                    if code >= 200 {
                        break code;
                    }
                }
            }
        };
        if (200..300).contains(&code) {
            // Accepted: absorb INVITE retransmissions, retransmit the 2xx until its ACK
            // (the UAS core's duty, done here for it), for Timer L.
            let k = match (req.call_id(), req.cseq()) {
                (Some(c), Some((n, _))) => format!("{c}|{n}"),
                _ => return,
            };
            let (atx, mut arx) = mpsc::channel(4);
            self.inner.accepted.with(&k, |m| m.insert(k.clone(), atx));
            let deadline = tokio::time::Instant::now() + t.long();
            let mut interval = t.t1;
            let mut acked = reliable;
            loop {
                let wake = if acked {
                    deadline
                } else {
                    (tokio::time::Instant::now() + interval).min(deadline)
                };
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ServerEventBox(ServerEvent::Retransmission)) => {
                            if !acked { let _ = self.send_to(peer, last.clone()).await; }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    ev = arx.recv() => if ev.is_some() { acked = true },
                    _ = tokio::time::sleep_until(wake) => {
                        if tokio::time::Instant::now() >= deadline { break; }
                        let _ = self.send_to(peer, last.clone()).await;
                        interval = (interval * 2).min(t.t2);
                    }
                }
            }
            self.inner.accepted.with(&k, |m| m.remove(&k));
            return;
        }
        // Completed: retransmit the final response (Timer G, UDP) until ACK or Timer H.
        let h = tokio::time::Instant::now() + t.long();
        let mut g = t.t1;
        loop {
            let wake = if reliable {
                h
            } else {
                (tokio::time::Instant::now() + g).min(h)
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ServerEventBox(ServerEvent::Retransmission)) => {
                        let _ = self.send_to(peer, last.clone()).await;
                    }
                    Some(ServerEventBox(ServerEvent::Ack)) => break,
                    Some(_) => {}
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= h { return; } // Timer H: no ACK came
                    let _ = self.send_to(peer, last.clone()).await;
                    g = (g * 2).min(t.t2);
                }
            }
        }
        // Confirmed: absorb ACK retransmissions for Timer I.
        if !reliable {
            let i = tokio::time::sleep(t.t4);
            tokio::pin!(i);
            loop {
                tokio::select! {
                    ev = rx.recv() => if ev.is_none() { return },
                    _ = &mut i => return,
                }
            }
        }
    }

    /// Non-INVITE server transaction (RFC 3261 17.2.2), Trying and Proceeding. Returns the
    /// final response when the Completed state must be held (unreliable transports).
    /// Non-INVITE server transaction until its final response, which it returns unsent (with
    /// whom to tell once it is sent): the caller records it for retransmissions first, so none
    /// can arrive while nobody would answer it.
    async fn non_invite_server(
        &self,
        peer: Peer,
        mut rx: mpsc::Receiver<ServerEventBox>,
    ) -> Option<(Bytes, Option<tokio::sync::oneshot::Sender<()>>)> {
        let t = self.inner.config.timers;
        // The client gives up at its Timer F (64*T1); an answer relayed from another peer may
        // come as late as our own Timer F on that request, so wait a T4 longer than that.
        let deadline = tokio::time::Instant::now() + t.long() + t.t4;
        let mut last: Option<Bytes> = None;
        loop {
            // Past the deadline the client has gone: end without a word.
            let ev = wait_for_user(&mut rx, deadline).await?;
            match ev {
                None => return None,
                Some(ServerEventBox(ServerEvent::Retransmission)) => {
                    if let Some(r) = &last {
                        let _ = self.send_to(peer, r.clone()).await;
                    }
                }
                Some(ServerEventBox(ServerEvent::Ack)) => {}
                Some(ServerEventBox(ServerEvent::Respond(r, code, done))) => {
                    if code >= 200 {
                        return Some((r, done));
                    }
                    let _ = self.send_to(peer, r.clone()).await;
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    last = Some(r);
                }
            }
        }
    }

    /// Completed: keep only the final response to answer retransmissions until Timer J.
    fn hold_completed(&self, key: String, merge_key: Option<String>, last: Bytes, peer: Peer) {
        let until = tokio::time::Instant::now() + self.inner.config.timers.long();
        let shard = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            (h.finish() as usize) % self.inner.expiries.len()
        };
        if self.inner.held.load(Ordering::Relaxed) as usize >= self.inner.config.max_completed {
            // Evict the front of this shard's queue, or of the next one that has any.
            let n = self.inner.expiries.len();
            let _ = (0..n).any(|k| self.expire_one((shard + k) % n, |_| true));
        }
        self.inner
            .completed
            .with(&key, |m| m.insert(key.clone(), (last, peer)));
        self.inner.held.fetch_add(1, Ordering::Relaxed);
        self.inner.expiries[shard]
            .lock()
            .expect("expiry lock")
            .push_back((until, key, merge_key));
    }

    fn client_key(branch: &str, method: &str) -> String {
        let method = if method == "ACK" { "INVITE" } else { method };
        format!("{branch}|{method}")
    }

    fn response(&self, msg: Message) {
        let (Some(via), Some((_, method))) = (msg.top_via(), msg.cseq()) else {
            return;
        };
        let Some(branch) = via.branch() else { return };
        let key = Self::client_key(branch, method);
        if let Some(tx) = self.inner.client.with(&key, |m| m.get(&key).cloned()) {
            let _ = tx.try_send(ClientEvent::Response(Arc::new(msg)));
        }
        // A response matching no transaction is dropped (RFC 3261 17.1.3 / 18.1.2).
    }

    /// Start a client transaction for `request`, whose top Via must carry a fresh branch
    /// (see [`Endpoint::via`]). A CANCEL (see [`cancel_for`]) also tells its INVITE's
    /// transaction, which from then on waits 64*T1 at the most for a final response.
    pub async fn send_request(
        &self,
        request: Bytes,
        peer: Peer,
    ) -> std::io::Result<ClientTransaction> {
        let (msg, key, events) = self.open_client(&request)?;
        if let Err(e) = self.send_to(peer, request.clone()).await {
            self.inner.client.with(&key, |m| m.remove(&key));
            return Err(e);
        }
        let (rtx, rrx) = mpsc::channel(16);
        let ep = self.clone();
        tokio::spawn(async move {
            if msg.method() == Some("INVITE") {
                ep.invite_client(msg, request, peer, events, rtx).await;
            } else {
                ep.non_invite_client(request, peer, events, rtx).await;
            }
            ep.inner.client.with(&key, |m| m.remove(&key));
        });
        Ok(ClientTransaction { responses: rrx })
    }

    /// A non-INVITE client transaction nobody waits on (the CANCEL of Timer C). Spawned here,
    /// not through `send_request`: the INVITE transaction that sends it cannot await a future
    /// whose type contains its own.
    async fn start_non_invite(&self, request: Bytes, peer: Peer) {
        let Ok((_, key, events)) = self.open_client(&request) else {
            return;
        };
        let _ = self.send_to(peer, request.clone()).await;
        let (rtx, _) = mpsc::channel(1);
        let ep = self.clone();
        tokio::spawn(async move {
            ep.non_invite_client(request, peer, events, rtx).await;
            ep.inner.client.with(&key, |m| m.remove(&key));
        });
    }

    /// Parse a request about to be sent and enter its client transaction in the table.
    fn open_client(
        &self,
        request: &Bytes,
    ) -> std::io::Result<(Arc<Message>, String, mpsc::Receiver<ClientEvent>)> {
        let msg = Message::parse(request.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (Some(branch), Some(method)) = (msg.top_via().and_then(|v| v.branch()), msg.method())
        else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a request needs a top Via with a branch",
            ));
        };
        let key = Self::client_key(branch, method);
        if method == "CANCEL" {
            let invite = Self::client_key(branch, "INVITE");
            if let Some(tx) = self.inner.client.with(&invite, |m| m.get(&invite).cloned()) {
                let _ = tx.try_send(ClientEvent::Cancelled);
            }
        }
        let (etx, erx) = mpsc::channel(16);
        self.inner.client.with(&key, |m| m.insert(key.clone(), etx));
        Ok((Arc::new(msg), key, erx))
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

    async fn non_invite_client(
        &self,
        request: Bytes,
        peer: Peer,
        mut rx: mpsc::Receiver<ClientEvent>,
        out: mpsc::Sender<Arc<Message>>,
    ) {
        let t = self.inner.config.timers;
        let f = tokio::time::Instant::now() + t.long();
        let mut e = t.t1;
        let reliable = peer.transport.reliable();
        loop {
            let wake = if reliable {
                f
            } else {
                (tokio::time::Instant::now() + e).min(f)
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ClientEvent::Response(r)) => {
                        let code = r.status().unwrap_or(0);
                        let _ = out.send(r).await;
                        if code >= 200 { break; }
                        e = t.t2; // Proceeding: retransmit at T2
                    }
                    Some(ClientEvent::Cancelled) => {}
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= f { return; } // Timer F
                    let _ = self.send_to(peer, request.clone()).await;
                    e = (e * 2).min(t.t2);
                }
            }
        }
        drop(out);
        // Completed: absorb retransmitted finals for Timer K.
        if !reliable {
            let k = tokio::time::sleep(t.t4);
            tokio::pin!(k);
            loop {
                tokio::select! {
                    ev = rx.recv() => if ev.is_none() { return },
                    _ = &mut k => return,
                }
            }
        }
    }

    async fn invite_client(
        &self,
        req: Arc<Message>,
        request: Bytes,
        peer: Peer,
        mut rx: mpsc::Receiver<ClientEvent>,
        out: mpsc::Sender<Arc<Message>>,
    ) {
        let t = self.inner.config.timers;
        let reliable = peer.transport.reliable();
        let now = tokio::time::Instant::now();
        // Calling: Timer A retransmits (UDP) until Timer B. Proceeding: no retransmissions;
        // Timer C, restarted by each provisional response, then a CANCEL of our own. Once a
        // CANCEL is out (ours or the user's), a final response within 64*T1 or the end.
        let mut deadline = now + t.long();
        let mut retransmit = (!reliable).then(|| now + t.t1);
        let mut interval = t.t1;
        let mut proceeding = false;
        let mut cancelled = false;
        let final_response = loop {
            let wake = retransmit.map_or(deadline, |r| r.min(deadline));
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ClientEvent::Response(r)) => {
                        let code = r.status().unwrap_or(0);
                        let _ = out.send(r.clone()).await;
                        if code >= 200 { break r; }
                        retransmit = None;
                        if !cancelled && (!proceeding || code > 100) {
                            deadline = tokio::time::Instant::now() + t.c;
                        }
                        proceeding = true;
                    }
                    Some(ClientEvent::Cancelled) => {
                        if !cancelled {
                            cancelled = true;
                            deadline = deadline.min(tokio::time::Instant::now() + t.long());
                        }
                    }
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => {
                    let now = tokio::time::Instant::now();
                    if now < deadline {
                        // Timer A (only set while Calling, over UDP).
                        let _ = self.send_to(peer, request.clone()).await;
                        interval *= 2;
                        retransmit = Some(now + interval);
                        continue;
                    }
                    if !proceeding || cancelled {
                        return; // Timer B, or no final response to a CANCEL in 64*T1
                    }
                    // Timer C: the far end rang and went silent. Cancel it ourselves.
                    cancelled = true;
                    deadline = now + t.long();
                    let cancel = cancel_for(&req, Some("SIP;cause=408;text=\"Timer C\""));
                    self.start_non_invite(cancel, peer).await;
                }
            }
        };
        let code = final_response.status().unwrap_or(0);
        if (200..300).contains(&code) {
            // Accepted (RFC 6026): further 2xx (forks, retransmissions) go to the user for
            // Timer M; the user sends the ACK for a 2xx itself.
            let m = tokio::time::sleep(t.long());
            tokio::pin!(m);
            loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ClientEvent::Response(r)) => { let _ = out.send(r).await; }
                        Some(ClientEvent::Cancelled) => {}
                        None => return,
                    },
                    _ = &mut m => return,
                }
            }
        }
        // Completed: ACK the non-2xx final (same branch), again for every retransmission,
        // for Timer D.
        let ack = ack_for(&req, &final_response);
        let _ = self.send_to(peer, ack.clone()).await;
        drop(out);
        if reliable {
            return;
        }
        let d = tokio::time::sleep(t.d);
        tokio::pin!(d);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ClientEvent::Response(_)) => { let _ = self.send_to(peer, ack.clone()).await; }
                    Some(ClientEvent::Cancelled) => {}
                    None => return,
                },
                _ = &mut d => return,
            }
        }
    }
}

/// The CANCEL of an INVITE we sent (RFC 3261 9.1): its Request-URI, top Via (so the same
/// branch), From, To, Call-ID, Route and CSeq number, with an optional Reason (RFC 3326).
pub fn cancel_for(invite: &Message, reason: Option<&str>) -> Bytes {
    let b = same_transaction("CANCEL", invite, invite.value(Name::To));
    match reason {
        Some(r) => b.header("Reason", r).finish(),
        None => b.finish(),
    }
}

/// The ACK for a non-2xx final response (RFC 3261 17.1.1.3): same Request-URI, top Via,
/// From, Call-ID and Route as the INVITE, the To of the response, CSeq number with ACK.
pub fn ack_for(invite: &Message, response: &Message) -> Bytes {
    same_transaction("ACK", invite, response.value(Name::To)).finish()
}

/// A request of the INVITE's own transaction (its ACK or CANCEL): the INVITE's Request-URI,
/// top Via, From, Call-ID, CSeq number and Route, with `to` as its To.
fn same_transaction(method: &str, invite: &Message, to: Option<&str>) -> build::Builder {
    let mut b = build::request(method, invite.request_uri_str().unwrap_or(""));
    if let Some(v) = invite.values(Name::Via).next() {
        b = b.header("Via", v);
    }
    for (name, value) in [
        ("From", invite.value(Name::From)),
        ("To", to),
        ("Call-ID", invite.call_id()),
    ] {
        if let Some(v) = value {
            b = b.header(name, v);
        }
    }
    if let Some((n, _)) = invite.cseq() {
        b = b.header("CSeq", &format!("{n} {method}"));
    }
    for r in invite.values(Name::Route) {
        b = b.header("Route", r);
    }
    b.header("Max-Forwards", "70")
}

/// What the front of a stream buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes.
    Message(usize),
    /// A CRLF CRLF keep-alive ping of this many bytes (answered with CRLF).
    KeepAlive(usize),
    /// Bytes to pass over (a lone CRLF).
    Skip(usize),
    /// Not enough bytes yet.
    Partial,
}

/// Frame one message off a stream (RFC 3261 18.3): Content-Length is required.
pub fn frame(buf: &[u8], limits: &Limits) -> Result<Frame, ParseError> {
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(Frame::KeepAlive(4));
    }
    if buf.starts_with(b"\r\n") {
        // A lone CRLF (a pong, or padding before a message) is skipped; wait while it could
        // still become a ping.
        return Ok(if b"\r\n\r\n".starts_with(buf) {
            Frame::Partial
        } else {
            Frame::Skip(2)
        });
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > limits.max_message {
            return Err(ParseError::TooLarge(limits.max_message));
        }
        return Ok(Frame::Partial);
    };
    let head = &buf[..end + 2];
    let mut length = None;
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = Name::from_bytes(line[..colon].trim_ascii());
        if name == Name::ContentLength {
            let v = std::str::from_utf8(line[colon + 1..].trim_ascii())
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or(ParseError::ContentLength)?;
            if length.replace(v).is_some() {
                return Err(ParseError::ContentLength);
            }
        }
    }
    let length = length.ok_or(ParseError::Missing("Content-Length"))?;
    let total = end + 4 + length;
    if total > limits.max_message {
        return Err(ParseError::TooLarge(limits.max_message));
    }
    Ok(if buf.len() >= total {
        Frame::Message(total)
    } else {
        Frame::Partial
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_streams() {
        let l = Limits::default();
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcOPTIONS";
        assert_eq!(frame(m, &l), Ok(Frame::Message(m.len() - 7)));
        assert_eq!(frame(&m[..30], &l), Ok(Frame::Partial));
        assert_eq!(frame(b"\r\n\r\nOPT", &l), Ok(Frame::KeepAlive(4)));
        let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n\r\n";
        assert_eq!(frame(no_cl, &l), Err(ParseError::Missing("Content-Length")));
        let big = b"OPTIONS sip:a@b SIP/2.0\r\nl: 99999999\r\n\r\n";
        assert_eq!(frame(big, &l), Err(ParseError::TooLarge(l.max_message)));
    }
}
