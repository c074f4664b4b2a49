//! The node's side of code prompts (FAC, CMC): one RTP line per call asking for a code, on
//! the node's media address. The line plays the tones call control asks for (the code
//! prompt, ringback, reorder) from the shared paced sender, and hears the caller's RFC 4733
//! digits on a thread of its own that ends when the line is dropped.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dialtone_callcontrol::calls::{CallTone, CodePrompts, Codec, PromptLine};
use dialtone_media::g711::Law;
use dialtone_media::pacer::{Pacer, Playing};
use dialtone_media::rtp::Packet;
use dialtone_media::source::Player;
use dialtone_media::telephone_event::{Digits, Event};
use dialtone_media::tone::Tone;

/// How often the listening thread looks whether its line was dropped.
const LISTEN_TICK: Duration = Duration::from_millis(200);

pub struct NodePrompts {
    pacer: Arc<Pacer>,
    ip: IpAddr,
}

impl NodePrompts {
    pub fn new(pacer: Arc<Pacer>, ip: IpAddr) -> NodePrompts {
        NodePrompts { pacer, ip }
    }
}

impl CodePrompts for NodePrompts {
    fn open(&self, on_digit: Box<dyn Fn(char) + Send + Sync>) -> Option<Box<dyn PromptLine>> {
        let socket = match self.pacer.socket(SocketAddr::new(self.ip, 0), None) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "no socket for a code prompt");
                return None;
            }
        };
        let address = socket.local_addr().ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let listening = socket.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("dialtone-prompt".into())
            .spawn(move || listen(&listening, &stopped, on_digit))
            .ok()?;
        Some(Box::new(NodePromptLine {
            pacer: self.pacer.clone(),
            socket,
            address,
            stop,
            playing: None,
        }))
    }
}

/// Hear digits until `stop` (the line dropped): every RFC 4733 event once, whatever payload
/// type the caller's SDP gave it (G.711's static types are audio, not events).
fn listen(socket: &UdpSocket, stop: &AtomicBool, on_digit: Box<dyn Fn(char) + Send + Sync>) {
    let _ = socket.set_read_timeout(Some(LISTEN_TICK));
    let mut digits = Digits::default();
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Acquire) {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let Ok(packet) = Packet::parse(&buf[..n]) else {
            continue;
        };
        if matches!(packet.header.payload_type, 0 | 8) {
            continue;
        }
        if let Ok(event) = Event::parse(packet.payload) {
            if let Some(d) = digits.push(packet.header.timestamp, &event) {
                on_digit(d);
            }
        }
    }
}

struct NodePromptLine {
    pacer: Arc<Pacer>,
    socket: Arc<UdpSocket>,
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    playing: Option<Playing>,
}

impl PromptLine for NodePromptLine {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn play(&mut self, to: SocketAddr, codec: Codec, tone: Option<CallTone>) {
        self.playing = None;
        let Some(tone) = tone else {
            return;
        };
        let tone = match tone {
            CallTone::CodePrompt => Tone::CodePrompt,
            CallTone::Ringback => Tone::Ringback,
            CallTone::Reorder => Tone::Reorder,
        };
        let law = match codec {
            Codec::Pcmu => Law::Mu,
            Codec::Pcma => Law::A,
        };
        match self.pacer.play(
            self.socket.clone(),
            to,
            law,
            Box::new(Player::new(tone.clip(law))),
        ) {
            Ok(p) => self.playing = Some(p),
            Err(e) => tracing::warn!(error = %e, "a call tone not played"),
        }
    }
}

impl Drop for NodePromptLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}
