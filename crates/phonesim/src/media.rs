//! G.711 audio for simulated phones: SDP offers and answers, and an RTP stream that sends a
//! 20 ms PCMU packet every 20 ms while the call is active and counts what arrives; keyed
//! digits go in the same stream as RFC 4733 telephone-events (payload type 101, as our SDP
//! says) in place of the audio while they last.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialtone_media::telephone_event::{digit_code, digit_events, Event};
use tokio::net::UdpSocket;

/// What the other side's SDP says about its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAudio {
    pub addr: SocketAddr,
    /// The other side sends (sendrecv or sendonly) / receives (sendrecv or recvonly).
    pub sends: bool,
    pub receives: bool,
}

/// Read the connection address, the audio port and the direction of an SDP body.
pub fn parse_sdp(sdp: &[u8]) -> Option<RemoteAudio> {
    let text = std::str::from_utf8(sdp).ok()?;
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let (mut sends, mut receives) = (true, true);
    for line in text.lines().map(str::trim) {
        if let Some(c) = line
            .strip_prefix("c=IN IP4 ")
            .or_else(|| line.strip_prefix("c=IN IP6 "))
        {
            ip = c.trim().parse().ok();
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next()?.parse().ok();
        } else if line == "a=sendonly" {
            receives = false;
        } else if line == "a=recvonly" {
            sends = false;
        } else if line == "a=inactive" {
            sends = false;
            receives = false;
        }
    }
    let ip = ip?;
    let port = port?;
    if ip.is_unspecified() {
        // A c= of 0.0.0.0 is the old way of saying hold.
        return Some(RemoteAudio {
            addr: SocketAddr::new(ip, port),
            sends: false,
            receives: false,
        });
    }
    Some(RemoteAudio {
        addr: SocketAddr::new(ip, port),
        sends,
        receives,
    })
}

/// The G.711 law a simulated phone speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// PCMU, payload type 0.
    Mu,
    /// PCMA, payload type 8.
    A,
}

impl Law {
    fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Law::Mu => "PCMU",
            Law::A => "PCMA",
        }
    }

    fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => linear_to_ulaw(sample),
            Law::A => linear_to_alaw(sample),
        }
    }
}

/// Our SDP: the phone's codec and telephone-events on `port`, with a direction attribute.
pub fn sdp(law: Law, ip: IpAddr, port: u16, session: u64, version: u64, direction: &str) -> String {
    let (pt, name) = (law.payload_type(), law.name());
    format!(
        "v=0\r\no=phonesim {session} {version} IN IP4 {ip}\r\ns=phonesim\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\na=ptime:20\r\na={direction}\r\n"
    )
}

/// The digit being sent: its packets (marker, event), the next to send, its start timestamp.
struct Keyed {
    packets: Vec<(bool, Event)>,
    next: usize,
    start: u32,
}

/// One call's audio: a socket, a sender task and a receiver task.
pub struct Rtp {
    pub socket: Arc<UdpSocket>,
    pub port: u16,
    pub sent: Arc<AtomicU64>,
    pub received: Arc<AtomicU64>,
    /// What it speaks.
    pub law: Law,
    remote: Arc<Mutex<Option<SocketAddr>>>,
    sending: Arc<AtomicBool>,
    /// Digits keyed and not yet sent.
    keyed: Arc<Mutex<VecDeque<char>>>,
    pub(crate) ear: crate::listen::Ear,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Rtp {
    pub async fn open(ip: IpAddr, law: Law) -> std::io::Result<Rtp> {
        let socket = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await?);
        let port = socket.local_addr()?.port();
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let remote: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let sending = Arc::new(AtomicBool::new(false));
        let keyed: Arc<Mutex<VecDeque<char>>> = Arc::default();
        // What comes is decoded and analysed as a pushed stream is, so a test can tell what
        // the far end (or the node's music on hold) plays.
        let (ear, rx) = crate::listen::Ear::start(
            socket.clone(),
            SocketAddr::new(ip, port).to_string(),
            false,
            received.clone(),
        );
        let tx = {
            let (socket, sent, remote, sending, keyed) = (
                socket.clone(),
                sent.clone(),
                remote.clone(),
                sending.clone(),
                keyed.clone(),
            );
            tokio::spawn(async move {
                let ssrc: u32 = rand::random();
                let mut seq: u16 = rand::random();
                let mut ts: u32 = rand::random();
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut phase = 0f32;
                let mut event: Option<Keyed> = None;
                loop {
                    tick.tick().await;
                    let to = *remote.lock().expect("rtp lock");
                    if let (Some(to), true) = (to, sending.load(Ordering::Relaxed)) {
                        if event.is_none() {
                            let next = keyed.lock().expect("rtp lock").pop_front();
                            event = next.and_then(digit_code).map(|code| Keyed {
                                packets: digit_events(code, 100),
                                next: 0,
                                start: ts,
                            });
                        }
                        let mut p = Vec::with_capacity(172);
                        p.push(0x80);
                        if let Some(k) = event.as_mut() {
                            let (marker, e) = k.packets[k.next];
                            p.push(if marker { 0x80 | 101 } else { 101 });
                            p.extend_from_slice(&seq.to_be_bytes());
                            p.extend_from_slice(&k.start.to_be_bytes());
                            p.extend_from_slice(&ssrc.to_be_bytes());
                            e.write(&mut p);
                            k.next += 1;
                            if k.next == k.packets.len() {
                                event = None;
                            }
                        } else {
                            p.push(law.payload_type());
                            p.extend_from_slice(&seq.to_be_bytes());
                            p.extend_from_slice(&ts.to_be_bytes());
                            p.extend_from_slice(&ssrc.to_be_bytes());
                            // A 400 Hz tone, so a listener hears the call is up.
                            for _ in 0..160 {
                                let sample = (phase.sin() * 8000.0) as i16;
                                phase += 2.0 * std::f32::consts::PI * 400.0 / 8000.0;
                                p.push(law.encode(sample));
                            }
                            phase %= 2.0 * std::f32::consts::PI;
                        }
                        if socket.send_to(&p, to).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        seq = seq.wrapping_add(1);
                        ts = ts.wrapping_add(160);
                    }
                }
            })
        };
        Ok(Rtp {
            socket,
            port,
            sent,
            received,
            law,
            remote,
            sending,
            keyed,
            ear,
            tasks: vec![rx, tx],
        })
    }

    /// Key `digits` (0-9, *, #, A-D): each goes as an RFC 4733 event of 100 ms, in order.
    pub fn key(&self, digits: &str) {
        self.keyed.lock().expect("rtp lock").extend(digits.chars());
    }

    /// Send to `remote` (or stop sending).
    pub fn direct(&self, remote: Option<SocketAddr>) {
        *self.remote.lock().expect("rtp lock") = remote;
        self.sending.store(remote.is_some(), Ordering::Relaxed);
    }
}

impl Drop for Rtp {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// G.711 mu-law encoding of one 16-bit sample.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 A-law encoding of one 16-bit sample (ITU-T G.711: 13-bit magnitude, eight
/// segments, even bits inverted).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let value = (sample as i32) >> 3;
    let (magnitude, mask) = if value >= 0 {
        (value, 0xd5u8)
    } else {
        (-value - 1, 0x55u8)
    };
    // The segment: the first whose end holds the magnitude.
    let Some(segment) = (0..8).find(|s| magnitude < (0x20 << s)) else {
        return 0x7f ^ mask;
    };
    let mantissa = if segment < 2 {
        (magnitude >> 1) & 0x0f
    } else {
        (magnitude >> segment) & 0x0f
    };
    ((segment << 4) as u8 | mantissa as u8) ^ mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_address_port_and_direction() {
        let s = sdp(Law::Mu, "10.0.0.1".parse().unwrap(), 4000, 1, 1, "sendonly");
        assert_eq!(
            parse_sdp(s.as_bytes()),
            Some(RemoteAudio {
                addr: "10.0.0.1:4000".parse().unwrap(),
                sends: true,
                receives: false
            })
        );
        assert_eq!(parse_sdp(b"v=0\r\n"), None);
    }

    #[test]
    fn ulaw_matches_the_reference_values() {
        // ITU-T G.711: silence is 0xFF, full scale positive 0x80, negative 0x00.
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
    }

    #[test]
    fn alaw_matches_the_reference_values() {
        // ITU-T G.711: zero is 0xD5, full scale positive 0xAA, negative 0x2A.
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(linear_to_alaw(32767), 0xaa);
        assert_eq!(linear_to_alaw(-32768), 0x2a);
        // Every code decodes back near its input through the media crate's decoder.
        for s in (-32768i32..32767).step_by(97) {
            let d = dialtone_media::g711::Law::A.decode(linear_to_alaw(s as i16)) as i32;
            assert!((d - s).abs() <= 1024, "{s} -> {d}");
        }
    }
}
