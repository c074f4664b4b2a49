//! The stream transports (TCP, TLS, WebSocket): accepting and dialling connections, one
//! writer task per connection with bounded waits, framing by Content-Length, and moving a
//! request too large for UDP onto TCP (RFC 3261 18.1.1).

use super::*;

impl Endpoint {
    pub(super) async fn accept_loop(&self, listener: TcpListener) {
        loop {
            let Ok((stream, addr)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            self.start_stream(stream, addr, Transport::Tcp);
        }
    }

    pub(super) async fn accept_tls_loop(
        &self,
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
    ) {
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
    pub(super) fn start_stream<S>(
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
            // A message begun must be complete within 64*T1: a peer that trickles one (or
            // leaves it half sent) does not hold the connection for the whole idle time.
            let mut begun: Option<tokio::time::Instant> = None;
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
                let now = tokio::time::Instant::now();
                let wait = if buf.is_empty() {
                    begun = None;
                    ep.inner.config.stream_idle
                } else {
                    let since = *begun.get_or_insert(now);
                    (since + ep.inner.config.timers.long()).saturating_duration_since(now)
                };
                // The read ends the connection on end of stream, error, silence for the idle
                // time (a message left unfinished for 64*T1), or when the writer gave up on a
                // peer that stopped reading.
                tokio::select! {
                    read = tokio::time::timeout(wait, rd.read_buf(&mut buf)) => match read {
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
    pub(super) async fn connect(&self, peer: Peer) -> std::io::Result<mpsc::Sender<Bytes>> {
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

    pub(super) fn send_now(&self, peer: Peer, bytes: Bytes) {
        let ep = self.clone();
        tokio::spawn(async move {
            let _ = ep.send_to(peer, bytes).await;
        });
    }

    /// RFC 3261 18.1.1: a request over 1300 bytes (the path MTU being unknown) bound for UDP
    /// goes over TCP to the same address, with its top Via saying so, when the peer takes a
    /// connection there; otherwise (refused, or no answer within 2*T1) it goes over UDP as
    /// it was. None: send it as it is.
    pub(super) async fn large_over_tcp(
        &self,
        request: &Bytes,
        peer: Peer,
    ) -> Option<(Bytes, Peer)> {
        const UDP_LIMIT: usize = 1300;
        if peer.transport != Transport::Udp || request.len() <= UDP_LIMIT {
            return None;
        }
        let tcp = self.inner.tcp_addr?;
        let moved = with_top_via(request, Transport::Tcp, tcp)?;
        let to = Peer {
            transport: Transport::Tcp,
            addr: peer.addr,
        };
        if !self.has_stream(to) {
            let bound = self
                .inner
                .config
                .connect_timeout
                .min(2 * self.inner.config.timers.t1);
            match tokio::time::timeout(bound, self.connect(to)).await {
                Ok(Ok(_)) => {}
                _ => return None,
            }
        }
        Some((moved, to))
    }
}

/// `request` with its top Via's transport and sent-by replaced, its branch and other
/// parameters kept (the transaction stays the same one).
fn with_top_via(request: &Bytes, transport: Transport, sent_by: SocketAddr) -> Option<Bytes> {
    // Only the head need be text; the body is copied as it is.
    let head_len = request.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&request[..head_len]).ok()?;
    let head_end = head_len - 4;
    let mut start = text.find("\r\n")? + 2;
    while start < head_end {
        let end = start + text[start..].find("\r\n")?;
        let line = &text[start..end];
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
            // The first Via of the line (a line may carry several, comma-separated).
            let first = value.split(',').next()?;
            let params = first.find(';').map_or("", |i| &first[i..]);
            let rest = &value[first.len()..];
            let mut out = String::with_capacity(text.len() + 16);
            out.push_str(&text[..start]);
            out.push_str(&format!(
                "Via: SIP/2.0/{} {sent_by}{params}{rest}",
                transport.as_str()
            ));
            out.push_str(&text[end..]);
            let mut bytes = BytesMut::from(out.as_bytes());
            bytes.extend_from_slice(&request[head_len..]);
            return Some(bytes.freeze());
        }
        start = end + 2;
    }
    None
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
