//! Music on hold, as Unified CM's MoH server gives it: when one party holds, the held party
//! hears the node's audio until the call is resumed. Call control does the SIP: the holder's
//! hold offer is relayed to the held party pointed at the music's address and marked
//! `sendonly` (the held phone then takes its audio from the node, and sends nothing), and
//! the held party's answer goes back to the holder pointed at the music's address too, so
//! whatever the holder still sends reaches no one. Each side keeps seeing the other's own
//! `o=` line, so the SDP versions both phones track stay true. The resume is relayed as it
//! is (both sides' real addresses again) and the music stops; it stops too when the call
//! ends, is parked, transferred or joined, since dropping the playing value stops it.
//!
//! What plays is the node's business (the `HoldMusic` it gives call control): call control
//! knows which party holds and who is held, not how audio is made.

use super::*;
use dialtone_sip::sdp::negotiate::{self, Codec};
use dialtone_store::directory::HoldAudio;
use std::net::SocketAddr;

/// What a held party is played, where the node chooses the audio.
pub trait HoldMusic: Send + Sync {
    /// Where held phones are pointed (the address the music is sent from).
    fn address(&self) -> SocketAddr;
    /// Play to `to` in `codec` for a call held on `holder`'s line (its device pool and line
    /// may choose the audio), until the returned value is dropped. None: nothing to play
    /// (the audio source is silence, or no stream can be started), and the hold is relayed
    /// untouched.
    fn play(&self, holder: &Holder, to: SocketAddr, codec: Codec) -> Option<Box<dyn Send + Sync>>;
    /// Whether a call held on `holder`'s line gets music at all (checked before the held
    /// party is re-pointed).
    fn plays_for(&self, holder: &Holder) -> bool;
}

/// Who put the call on hold, and the audio source their settings choose: the line's own,
/// else the device pool's (as Unified CM's User Hold MOH Audio Source); None: the node's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub device: Option<String>,
    pub line: Option<LineKey>,
    pub audio: Option<HoldAudio>,
}

/// `sdp` pointed at `at` with direction `dir`.
fn pointed(sdp: &[u8], at: SocketAddr, dir: Direction) -> Option<Bytes> {
    let b = sdp::set_connection(sdp, at.ip())?;
    let b = sdp::set_media_port(&b, 0, at.port())?;
    sdp::set_direction(&b, dir)
}

impl Call {
    /// The device and line on `side` of the call, and the audio their settings choose.
    fn holder(&self, side: Side) -> Holder {
        let (device, line) = match side {
            Side::A => (self.caller.device.clone(), self.caller.line.clone()),
            Side::B => (self.called_device.clone(), self.called_line.clone()),
        };
        let directory = self.inner.directory.get();
        let audio = line
            .as_ref()
            .and_then(|key| directory.line(key))
            .and_then(|l| l.config.hold_audio.clone())
            .or_else(|| {
                device
                    .as_deref()
                    .and_then(|name| directory.device(name))
                    .and_then(|d| d.hold_audio.clone())
            });
        Holder {
            device,
            line,
            audio,
        }
    }

    /// For a hold offer from `side`: the offer the held party gets (pointed at the music,
    /// `sendonly`) and the direction the holder offered. None: relay the offer as it is (not
    /// a hold, no music configured, or none for the holder's line).
    pub(super) fn music_offer(&self, side: Side, offer: &[u8]) -> Option<(Bytes, Direction)> {
        let offered = sdp::direction(offer, 0)?;
        if !matches!(offered, Direction::SendOnly | Direction::Inactive) {
            return None;
        }
        let music = self.inner.music.get()?;
        if !music.plays_for(&self.holder(side)) {
            return None;
        }
        let body = pointed(offer, music.address(), Direction::SendOnly)?;
        Some((body, offered))
    }

    /// The held party's answer to a music offer: the music starts, and the answer the holder
    /// gets (pointed at the music, answering the direction it offered). None: the answer
    /// names no G.711 address to play to, and goes back as it is.
    pub(super) fn music_answer(
        &mut self,
        holder: Side,
        answer: &[u8],
        offered: Direction,
    ) -> Option<Bytes> {
        let music = self.inner.music.get()?.clone();
        let audio = negotiate::choose(answer, &[Codec::Pcmu, Codec::Pcma]).ok()?;
        let back = pointed(answer, music.address(), negotiate::answering(offered))?;
        self.music = music.play(&self.holder(holder), audio.remote, audio.codec);
        Some(back)
    }
}
