//! One paced sender for every stream of a node: a single thread of its own wakes every 20 ms
//! and sends each stream's next packet. It is a thread, not a task, so that nothing the
//! node's runtime does (a burst of calls, a slow handler) delays a packet. Ticks keep their
//! original schedule (a late tick is caught up at once, never shifted), and every packet's
//! timestamp comes from the packets sent, never from wall time, so the audio's clock cannot
//! drift however loaded the node is. Streams end by themselves when their source ends, or
//! when stopped; their number is bounded.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::net::UdpSocket;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::g711::Law;
use crate::rtp::Outgoing;
use crate::source::Source;

/// Samples per packet: 20 ms at 8 kHz.
pub const FRAME: usize = 160;

/// DSCP EF (46) in the IP header's TOS byte: voice, as phones mark theirs.
pub const TOS_EF: u32 = 0xB8;

#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The packet interval (20 ms; tests may shorten it).
    pub tick: Duration,
    /// Streams served at once at most.
    pub max_streams: usize,
    /// Streams are spread over this many phases of the interval (4: a burst every 5 ms, each
    /// stream in one of them), so no stream waits behind every other stream's packet.
    pub phases: usize,
    /// How often a stream sends an RTCP sender report to its port + 1.
    pub report_every: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick: Duration::from_millis(20),
            max_streams: 10_000,
            phases: 4,
            report_every: Duration::from_secs(5),
        }
    }
}

/// What a stream sent, told when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub packets: u64,
    pub octets: u64,
    /// Packets the socket would not take (its buffer full): counted, never waited for.
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    #[error("the media sender already serves its maximum of {0} streams")]
    Full(usize),
    #[error("the media sender has stopped")]
    Stopped,
}

/// A stream being played: stop it, or learn that it ended. Dropping it stops the stream, so
/// a looping clip nobody holds cannot play forever.
pub struct Playing {
    pub id: u64,
    pub ssrc: u32,
    commands: mpsc::UnboundedSender<Command>,
    ended: oneshot::Receiver<Sent>,
}

impl Playing {
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop(self.id));
    }

    /// Wait until the stream has ended (its clip ran out, or it was stopped): what it sent.
    pub async fn ended(&mut self) -> Option<Sent> {
        (&mut self.ended).await.ok()
    }
}

impl Drop for Playing {
    fn drop(&mut self) {
        self.stop();
    }
}

enum Command {
    Play(Box<Stream>),
    Stop(u64),
}

struct Stream {
    id: u64,
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    law: Law,
    source: Box<dyn Source>,
    rtp: Outgoing,
    dropped: u64,
    ended: Option<oneshot::Sender<Sent>>,
    /// Packets between two RTCP sender reports.
    report_every: u64,
}

impl Stream {
    fn sent(&self) -> Sent {
        Sent {
            packets: self.rtp.packets,
            octets: self.rtp.octets,
            dropped: self.dropped,
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(tx) = self.ended.take() {
            let _ = tx.send(self.sent());
        }
    }
}

/// The node's paced sender.
#[derive(Clone)]
pub struct Pacer {
    commands: mpsc::UnboundedSender<Command>,
    inner: Arc<Shared>,
}

struct Shared {
    config: Config,
    next_id: AtomicU64,
    streams: AtomicUsize,
    /// Wakes that came later than half a phase (the machine was too busy): a gauge of pacing.
    late_ticks: AtomicU64,
    ticks: AtomicU64,
}

impl Pacer {
    /// Start the sender's thread. It ends once every `Pacer` clone and every [`Playing`] is
    /// dropped and its streams have ended.
    pub fn start(config: Config) -> Pacer {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Shared {
            config,
            next_id: AtomicU64::new(1),
            streams: AtomicUsize::new(0),
            late_ticks: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
        });
        let shared = inner.clone();
        std::thread::Builder::new()
            .name("dialtone-media".into())
            .spawn(move || run(rx, shared))
            .expect("a thread for the media sender");
        Pacer {
            commands: tx,
            inner,
        }
    }

    /// Play `source` to `to` from `socket` in `law`, starting at the next tick.
    pub fn play(
        &self,
        socket: Arc<UdpSocket>,
        to: SocketAddr,
        law: Law,
        source: Box<dyn Source>,
    ) -> Result<Playing, PlayError> {
        let max = self.inner.config.max_streams;
        // Reserve a place first, so concurrent callers cannot pass the bound together.
        if self
            .inner
            .streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(PlayError::Full(max));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (ended_tx, ended) = oneshot::channel();
        let rtp = Outgoing::new(law.payload_type());
        let ssrc = rtp.ssrc;
        let stream = Stream {
            id,
            socket,
            to,
            law,
            source,
            rtp,
            dropped: 0,
            ended: Some(ended_tx),
            report_every: 0,
        };
        if self.commands.send(Command::Play(Box::new(stream))).is_err() {
            self.inner.streams.fetch_sub(1, Ordering::AcqRel);
            return Err(PlayError::Stopped);
        }
        Ok(Playing {
            id,
            ssrc,
            commands: self.commands.clone(),
            ended,
        })
    }

    /// A socket to send from, bound to `local` (port 0: any), for as many streams as use it:
    /// DSCP EF set, and for multicast the TTL, interface and loop.
    pub fn socket(
        &self,
        local: SocketAddr,
        multicast: Option<Multicast>,
    ) -> std::io::Result<Arc<UdpSocket>> {
        Ok(Arc::new(media_socket(local, multicast)?))
    }

    /// Streams playing now.
    pub fn streams(&self) -> usize {
        self.inner.streams.load(Ordering::Acquire)
    }

    /// (ticks, ticks that came more than half an interval late) since the start.
    pub fn ticks(&self) -> (u64, u64) {
        (
            self.inner.ticks.load(Ordering::Relaxed),
            self.inner.late_ticks.load(Ordering::Relaxed),
        )
    }
}

/// How a multicast stream leaves the node.
#[derive(Debug, Clone, Copy)]
pub struct Multicast {
    /// Router hops the packets may cross (1: this subnet only).
    pub ttl: u32,
    /// The interface to send on (unspecified: the system's choice).
    pub interface: Ipv4Addr,
    /// Whether this host's own listeners hear the stream (tests and a local monitor do).
    pub loopback: bool,
}

/// A non-blocking UDP socket for media, bound to `local`, with DSCP EF: a full send buffer
/// drops the packet (counted) instead of holding up every other stream.
pub fn media_socket(local: SocketAddr, multicast: Option<Multicast>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv4() {
        s.set_tos_v4(TOS_EF)?;
    }
    if let Some(m) = multicast {
        s.set_multicast_ttl_v4(m.ttl)?;
        s.set_multicast_loop_v4(m.loopback)?;
        if !m.interface.is_unspecified() {
            s.set_multicast_if_v4(&m.interface)?;
        }
    }
    s.set_nonblocking(true)?;
    s.bind(&local.into())?;
    Ok(s.into())
}

fn run(mut commands: mpsc::UnboundedReceiver<Command>, inner: Arc<Shared>) {
    let phases = inner.config.phases.max(1);
    // The sender wakes once per phase; tick n is due at start + n * (interval / phases), so a
    // late wake is followed at once by the ones it missed and the schedule never slips.
    let step = inner.config.tick / phases as u32;
    let report_every = (inner.config.report_every.as_millis()
        / inner.config.tick.as_millis().max(1))
    .max(1) as u64;
    let mut by_phase: Vec<Vec<Box<Stream>>> = (0..phases).map(|_| Vec::new()).collect();
    let mut frame = [0u8; FRAME];
    let mut packet = Vec::with_capacity(12 + FRAME);
    let mut start = Instant::now();
    let mut tick_no: u64 = 0;
    let apply = |command: Command, by_phase: &mut Vec<Vec<Box<Stream>>>| match command {
        Command::Play(mut s) => {
            s.report_every = report_every;
            // The phase with the fewest streams.
            if let Some(phase) = by_phase.iter_mut().min_by_key(|p| p.len()) {
                phase.push(s);
            }
        }
        Command::Stop(id) => {
            for phase in by_phase.iter_mut() {
                if let Some(at) = phase.iter().position(|s| s.id == id) {
                    // Counted out before its end is told (the drop tells it).
                    inner.streams.fetch_sub(1, Ordering::AcqRel);
                    phase.swap_remove(at);
                    return;
                }
            }
        }
    };
    let idle = |by_phase: &Vec<Vec<Box<Stream>>>| by_phase.iter().all(|p| p.is_empty());
    loop {
        if idle(&by_phase) {
            // Nothing to send: wait to be told (an idle node's media thread never wakes),
            // then start a fresh schedule.
            match commands.blocking_recv() {
                Some(command) => {
                    start = Instant::now();
                    tick_no = 0;
                    apply(command, &mut by_phase);
                }
                None => return,
            }
        }
        tick_no += 1;
        let due = start + Duration::from_nanos(step.as_nanos() as u64 * tick_no);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > step / 2 {
            inner.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        inner.ticks.fetch_add(1, Ordering::Relaxed);
        loop {
            match commands.try_recv() {
                Ok(command) => apply(command, &mut by_phase),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    if idle(&by_phase) {
                        return;
                    }
                    break;
                }
            }
        }
        by_phase[(tick_no % phases as u64) as usize].retain_mut(|s| {
            if !s.source.fill(&mut frame, s.law) {
                // Counted out before its end is told (dropping it tells).
                inner.streams.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
            packet.clear();
            s.rtp.next(FRAME as u32, FRAME).write(&mut packet);
            packet.extend_from_slice(&frame);
            if s.socket.send_to(&packet, s.to).is_err() {
                s.dropped += 1;
            }
            if s.rtp.packets % s.report_every == 0 {
                let report = sender_report(&s.rtp);
                let rtcp = SocketAddr::new(s.to.ip(), s.to.port().wrapping_add(1));
                let _ = s.socket.send_to(&report, rtcp);
            }
            true
        });
    }
}

/// An RTCP sender report (RFC 3550 6.4.1) with no report blocks.
fn sender_report(rtp: &Outgoing) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // NTP time: seconds since 1900, and a 32-bit fraction.
    let ntp_secs = now.as_secs() + 2_208_988_800;
    let ntp_frac = ((now.subsec_nanos() as u64) << 32) / 1_000_000_000;
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&[0x80, 200, 0, 6]);
    p.extend_from_slice(&rtp.ssrc.to_be_bytes());
    p.extend_from_slice(&(ntp_secs as u32).to_be_bytes());
    p.extend_from_slice(&(ntp_frac as u32).to_be_bytes());
    p.extend_from_slice(&rtp.timestamp().to_be_bytes());
    p.extend_from_slice(&(rtp.packets as u32).to_be_bytes());
    p.extend_from_slice(&(rtp.octets as u32).to_be_bytes());
    p
}
