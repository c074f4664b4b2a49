//! What a stream plays: 20 ms frames of G.711 from a shared clip (a tone's cycle, an audio
//! file converted once), looped or played once, each listener at its own offset.

use std::sync::Arc;

use crate::g711::Law;

/// Audio encoded once and shared by every listener.
#[derive(Debug, Clone)]
pub struct Clip {
    pub law: Law,
    pub bytes: Arc<[u8]>,
    /// Played again from the start when it ends, until the stream is stopped.
    pub repeats: bool,
}

impl Clip {
    /// Encode 8 kHz linear `pcm` once.
    pub fn from_pcm(pcm: &[i16], law: Law, repeats: bool) -> Clip {
        let mut bytes = vec![0u8; pcm.len()];
        law.encode_into(pcm, &mut bytes);
        Clip {
            law,
            bytes: Arc::from(bytes),
            repeats,
        }
    }

    /// Length in milliseconds.
    pub fn millis(&self) -> u64 {
        self.bytes.len() as u64 * 1000 / crate::RATE as u64
    }
}

/// Frames for one stream, in the stream's law.
pub trait Source: Send {
    /// Fill `frame` (one packet's worth of samples); false when the source has ended (the
    /// stream then ends; `frame` is not sent).
    fn fill(&mut self, frame: &mut [u8], law: Law) -> bool;
}

/// A clip played from its start, looped if it repeats.
#[derive(Debug, Clone)]
pub struct Player {
    clip: Clip,
    at: usize,
}

impl Player {
    pub fn new(clip: Clip) -> Player {
        Player { clip, at: 0 }
    }
}

impl Source for Player {
    fn fill(&mut self, frame: &mut [u8], law: Law) -> bool {
        let bytes = &self.clip.bytes;
        if bytes.is_empty() || (self.at >= bytes.len() && !self.clip.repeats) {
            return false;
        }
        for b in frame.iter_mut() {
            if self.at >= bytes.len() {
                if self.clip.repeats {
                    self.at = 0;
                } else {
                    // The clip's last frame is padded with silence.
                    *b = self.clip.law.silence();
                    continue;
                }
            }
            *b = bytes[self.at];
            self.at += 1;
        }
        self.clip.law.transcode(law, frame);
        true
    }
}

/// Clips one after the other (a stall tone that gives way to the go-ahead, an announcement
/// then music): each plays to its end, a repeating one until [`Sequence::next`] is called.
pub struct Sequence {
    parts: std::collections::VecDeque<Player>,
}

impl Sequence {
    pub fn new(clips: impl IntoIterator<Item = Clip>) -> Sequence {
        Sequence {
            parts: clips.into_iter().map(Player::new).collect(),
        }
    }
}

impl Source for Sequence {
    fn fill(&mut self, frame: &mut [u8], law: Law) -> bool {
        while let Some(p) = self.parts.front_mut() {
            if p.fill(frame, law) {
                return true;
            }
            self.parts.pop_front();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_plays_once_padded_or_loops() {
        let clip = Clip::from_pcm(&[1000; 200], Law::Mu, false);
        let mut p = Player::new(clip.clone());
        let mut f = [0u8; 160];
        assert!(p.fill(&mut f, Law::Mu));
        assert!(f.iter().all(|b| *b == Law::Mu.encode(1000)));
        assert!(p.fill(&mut f, Law::Mu));
        assert!(f[..40].iter().all(|b| *b == Law::Mu.encode(1000)));
        assert!(f[40..].iter().all(|b| *b == 0xFF));
        assert!(!p.fill(&mut f, Law::Mu));
        let mut looped = Player::new(Clip {
            repeats: true,
            ..clip
        });
        for _ in 0..10 {
            assert!(looped.fill(&mut f, Law::A));
            assert!(f
                .iter()
                .all(|b| *b == Law::A.encode(Law::Mu.decode(Law::Mu.encode(1000)))));
        }
    }

    #[test]
    fn a_sequence_plays_each_part_in_turn() {
        let a = Clip::from_pcm(&[500; 160], Law::Mu, false);
        let b = Clip::from_pcm(&[-500; 160], Law::Mu, false);
        let mut s = Sequence::new([a, b]);
        let mut f = [0u8; 160];
        assert!(s.fill(&mut f, Law::Mu) && f[0] == Law::Mu.encode(500));
        assert!(s.fill(&mut f, Law::Mu) && f[0] == Law::Mu.encode(-500));
        assert!(!s.fill(&mut f, Law::Mu));
        let empty = Clip::from_pcm(&[], Law::Mu, true);
        assert!(!Player::new(empty).fill(&mut f, Law::Mu));
    }
}
