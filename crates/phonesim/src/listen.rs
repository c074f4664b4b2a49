//! Listening to a stream the phone was told to play: `RTPRx:ip:port` (unicast to the phone's
//! own address) and `RTPMRx:group:port` (the multicast group joined on the phone's address),
//! as a Cisco phone does for a page. What it hears is decoded (G.711 µ-law or A-law) and
//! reported: packets, loss, jitter and the strongest frequency, so a test can say which tone
//! reached which phone.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dialtone_media::g711::Law;
use dialtone_media::jitter::Receiver;
use dialtone_media::rtp::Packet;

use crate::{Phone, PhoneEvent};

/// What the phone heard of one stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heard {
    /// Where it listened (`239.1.1.10:20480`).
    pub address: String,
    pub multicast: bool,
    pub packets: u64,
    pub lost: u64,
    /// Datagrams that were not RTP (or not G.711).
    pub malformed: u64,
    pub jitter_ms: f64,
    /// The strongest frequency in the last half second heard (Hz; 0 before any audio).
    pub strongest_hz: f64,
    /// Its level (RMS of the 16-bit samples).
    pub level: f64,
}

/// The last two seconds of audio heard.
const KEEP: usize = 16_000;

#[derive(Default)]
struct State {
    heard: Heard,
    audio: VecDeque<i16>,
}

/// What one socket has heard so far (a pushed stream's, or a call's).
#[derive(Clone)]
pub(crate) struct Ear {
    state: Arc<Mutex<State>>,
}

impl Ear {
    /// Listen on `socket` (heard at `address`), counting each RTP packet in `received` too:
    /// the task that decodes what comes.
    pub(crate) fn start(
        socket: Arc<tokio::net::UdpSocket>,
        address: String,
        multicast: bool,
        received: Arc<AtomicU64>,
    ) -> (Ear, tokio::task::JoinHandle<()>) {
        let state = Arc::new(Mutex::new(State {
            heard: Heard {
                address,
                multicast,
                ..Heard::default()
            },
            audio: VecDeque::with_capacity(KEEP),
        }));
        let task = tokio::spawn(receive(socket, state.clone(), received));
        (Ear { state }, task)
    }

    /// What has been heard so far.
    pub(crate) fn heard(&self) -> Heard {
        let s = self.state.lock().expect("listening state");
        let mut heard = s.heard.clone();
        let recent: Vec<i16> = s.audio.iter().rev().take(4000).rev().copied().collect();
        if !recent.is_empty() {
            heard.strongest_hz = dialtone_media::detect::strongest(&recent, 200.0, 3400.0, 10.0);
            heard.level = dialtone_media::detect::rms(&recent);
        }
        heard
    }
}

/// A stream being listened to; stopping it (or dropping it) leaves the group.
pub struct Listening {
    ear: Ear,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// Listen on `port` at `phone` (unicast), or join `group` on `phone`'s interface.
    pub fn start(phone: IpAddr, address: IpAddr, port: u16) -> std::io::Result<Listening> {
        use socket2::{Domain, Protocol, Socket, Type};
        let multicast = address.is_multicast();
        let socket = Socket::new(
            Domain::for_address(SocketAddr::new(address, port)),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if multicast {
            // Every phone of a page on this host joins the same group and port.
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            let (IpAddr::V4(group), IpAddr::V4(on)) = (address, phone) else {
                return Err(std::io::Error::other("multicast needs IPv4"));
            };
            socket.bind(&SocketAddr::new(address, port).into())?;
            socket.join_multicast_v4(&group, &on)?;
        } else {
            socket.bind(&SocketAddr::new(phone, port).into())?;
        }
        socket.set_nonblocking(true)?;
        let socket = Arc::new(tokio::net::UdpSocket::from_std(socket.into())?);
        let (ear, task) = Ear::start(
            socket,
            SocketAddr::new(address, port).to_string(),
            multicast,
            Arc::default(),
        );
        Ok(Listening { ear, task })
    }

    /// What has been heard so far.
    pub fn heard(&self) -> Heard {
        self.ear.heard()
    }

    /// Stop listening (leaving the group): what was heard.
    pub fn stop(self) -> Heard {
        self.task.abort();
        self.heard()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    socket: Arc<tokio::net::UdpSocket>,
    state: Arc<Mutex<State>>,
    received: Arc<AtomicU64>,
) {
    let start = Instant::now();
    // Three packets of reordering: what a LAN shows, 60 ms at most added.
    let mut jitter = Receiver::new(3, dialtone_media::RATE);
    let mut buf = [0u8; 2048];
    let mut pcm = Vec::new();
    loop {
        let n = match socket.recv(&mut buf).await {
            Ok(n) => n,
            // An ICMP error surfacing on the socket passes; anything else ends the listening
            // rather than spin on an error that returns at once.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return,
        };
        let mut s = state.lock().expect("listening state");
        let Some((packet, law)) = Packet::parse(&buf[..n])
            .ok()
            .and_then(|p| Some((p, Law::from_payload_type(p.header.payload_type)?)))
        else {
            s.heard.malformed += 1;
            continue;
        };
        received.fetch_add(1, Ordering::Relaxed);
        jitter.push(&packet, start.elapsed().as_secs_f64());
        while let Some((_, payload)) = jitter.pop() {
            pcm.resize(payload.len(), 0);
            law.decode_into(&payload, &mut pcm);
            for sample in &pcm {
                if s.audio.len() == KEEP {
                    s.audio.pop_front();
                }
                s.audio.push_back(*sample);
            }
        }
        let q = jitter.quality();
        s.heard.packets = q.received;
        s.heard.lost = q.lost;
        s.heard.jitter_ms = q.jitter_ms;
    }
}

impl Phone {
    /// Play the stream at `address:port` (an `RTPRx:`/`RTPMRx:` push): false when one already
    /// plays (a Cisco phone answers "Tx/Rx is already active") or the address cannot be joined.
    pub fn listen(&self, address: IpAddr, port: u16) -> bool {
        let mut current = self.inner.listening.lock().unwrap();
        if current.is_some() {
            return false;
        }
        match Listening::start(self.inner.spec.ip, address, port) {
            Ok(l) => {
                let address = l.heard().address;
                *current = Some(l);
                let _ = self.inner.events.send(PhoneEvent::Listening { address });
                true
            }
            Err(e) => {
                tracing::warn!(device = %self.inner.spec.device, "cannot listen at {address}:{port}: {e}");
                false
            }
        }
    }

    /// Stop the stream (an `RTPRx:Stop` push); what it brought stays in [`Phone::heard`].
    pub fn stop_listening(&self) {
        if let Some(l) = self.inner.listening.lock().unwrap().take() {
            let heard = l.stop();
            let _ = self.inner.events.send(PhoneEvent::StoppedListening {
                address: heard.address.clone(),
                packets: heard.packets,
                lost: heard.lost,
                strongest_hz: heard.strongest_hz.round() as u32,
            });
            *self.inner.last_heard.lock().unwrap() = Some(heard);
        }
    }

    /// What the stream playing now has brought, or else the last one stopped.
    pub fn heard(&self) -> Option<Heard> {
        if let Some(l) = self.inner.listening.lock().unwrap().as_ref() {
            return Some(l.heard());
        }
        self.inner.last_heard.lock().unwrap().clone()
    }
}
