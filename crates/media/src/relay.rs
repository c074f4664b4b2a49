//! Audio that arrives as it is spoken (a caller paging a floor) and leaves through the paced
//! sender: a [`Feeder`] takes each received payload, a [`Fed`] source gives the sender one
//! 20 ms frame per tick. The two clocks (the caller's phone and our tick) never agree
//! exactly, so the queue between them is bounded: past `max_delay` the oldest audio goes
//! (latency cannot grow), and after running dry the source waits for `prefill` before it
//! plays again (silence meanwhile), so jitter costs a little delay instead of a gap per
//! packet. The source ends when the feeder is dropped and what it held has been played.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::g711::Law;
use crate::pacer::FRAME;
use crate::source::Source;

struct Queue {
    samples: VecDeque<u8>,
    /// The queue ran dry: wait for `prefill` samples before playing.
    refilling: bool,
    dropped_samples: u64,
}

struct Shared {
    law: Law,
    max: usize,
    prefill: usize,
    queue: Mutex<Queue>,
}

/// The receiving end's handle: push what arrives.
pub struct Feeder {
    shared: Arc<Shared>,
}

/// The source the pacer plays.
pub struct Fed {
    shared: Arc<Shared>,
}

/// A relay for audio in `law`: at most `max_delay_ms` queued, `prefill_ms` gathered after a
/// gap before it plays again.
pub fn relay(law: Law, max_delay_ms: u32, prefill_ms: u32) -> (Feeder, Fed) {
    let samples = |ms: u32| (ms as usize * crate::RATE as usize / 1000).max(FRAME);
    let shared = Arc::new(Shared {
        law,
        max: samples(max_delay_ms),
        prefill: samples(prefill_ms),
        queue: Mutex::new(Queue {
            samples: VecDeque::new(),
            refilling: true,
            dropped_samples: 0,
        }),
    });
    (
        Feeder {
            shared: shared.clone(),
        },
        Fed { shared },
    )
}

impl Feeder {
    /// One received payload, in the relay's law (any packet length).
    pub fn push(&self, payload: &[u8]) {
        let mut q = self.shared.queue.lock().expect("relay queue");
        q.samples.extend(payload);
        let over = q.samples.len().saturating_sub(self.shared.max);
        if over > 0 {
            q.samples.drain(..over);
            q.dropped_samples += over as u64;
        }
    }

    /// Samples dropped so far because the queue was full (the sender's clock is slower).
    pub fn dropped_samples(&self) -> u64 {
        self.shared
            .queue
            .lock()
            .expect("relay queue")
            .dropped_samples
    }

    /// Samples waiting to be played.
    pub fn queued(&self) -> usize {
        self.shared.queue.lock().expect("relay queue").samples.len()
    }
}

impl Source for Fed {
    fn fill(&mut self, frame: &mut [u8], law: Law) -> bool {
        let fed_alive = Arc::strong_count(&self.shared) > 1;
        let mut q = self.shared.queue.lock().expect("relay queue");
        if !fed_alive && q.samples.is_empty() {
            return false;
        }
        if q.refilling && fed_alive && q.samples.len() < self.shared.prefill {
            frame.fill(law.silence());
            return true;
        }
        q.refilling = false;
        let n = frame.len().min(q.samples.len());
        for (out, s) in frame.iter_mut().zip(q.samples.drain(..n)) {
            *out = s;
        }
        frame[n..].fill(self.shared.law.silence());
        if n < frame.len() {
            q.refilling = true;
        }
        drop(q);
        self.shared.law.transcode(law, frame);
        true
    }
}

/// A source whose content is replaced while it plays (the stall tone that gives way to the
/// go-ahead, then the caller's voice): one stream, so one SSRC and one run of sequence numbers
/// and timestamps throughout. Silence while it holds nothing or what it holds has ended; it
/// ends when its [`Switch`] is dropped.
pub struct Switched {
    slot: Arc<Mutex<Option<Box<dyn Source>>>>,
}

/// The handle that changes what a [`Switched`] source plays.
pub struct Switch {
    slot: Arc<Mutex<Option<Box<dyn Source>>>>,
}

/// A switchable source and its handle.
pub fn switched() -> (Switch, Switched) {
    let slot = Arc::new(Mutex::new(None));
    (Switch { slot: slot.clone() }, Switched { slot })
}

impl Switch {
    /// Play `source` from the next tick on.
    pub fn play(&self, source: Box<dyn Source>) {
        *self.slot.lock().expect("switch") = Some(source);
    }

    /// Whether what was last given is still playing.
    pub fn playing(&self) -> bool {
        self.slot.lock().expect("switch").is_some()
    }
}

impl Source for Switched {
    fn fill(&mut self, frame: &mut [u8], law: Law) -> bool {
        if Arc::strong_count(&self.slot) == 1 {
            return false;
        }
        let mut slot = self.slot.lock().expect("switch");
        if let Some(source) = slot.as_mut() {
            if source.fill(frame, law) {
                return true;
            }
            *slot = None;
        }
        frame.fill(law.silence());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Clip, Player};

    #[test]
    fn a_relay_plays_in_order_bounds_its_delay_and_ends_after_its_feeder() {
        let (feeder, mut fed) = relay(Law::Mu, 100, 40);
        let mut f = [0u8; FRAME];
        feeder.push(&[1; 160]);
        assert!(fed.fill(&mut f, Law::Mu));
        assert!(f.iter().all(|b| *b == 0xFF), "silence until 40 ms are here");
        feeder.push(&[2; 80]);
        feeder.push(&[3; 80]);
        assert!(fed.fill(&mut f, Law::Mu));
        assert_eq!(f, [1; 160]);
        assert!(fed.fill(&mut f, Law::Mu));
        assert_eq!((&f[..80], &f[80..]), (&[2; 80][..], &[3; 80][..]));
        // A second of audio arrives at once: only the newest 100 ms stay.
        for _ in 0..50 {
            feeder.push(&[4; 160]);
        }
        assert_eq!(feeder.queued(), 800);
        assert_eq!(feeder.dropped_samples(), 8000 - 800);
        drop(feeder);
        let mut frames = 0;
        while fed.fill(&mut f, Law::Mu) {
            frames += 1;
            assert!(frames <= 5, "it ends once the queue is played");
        }
        assert_eq!(frames, 5);
    }

    #[test]
    fn an_a_law_caller_is_relayed_as_mu_law() {
        let (feeder, mut fed) = relay(Law::A, 100, 20);
        feeder.push(&[Law::A.encode(1000); 160]);
        let mut f = [0u8; FRAME];
        assert!(fed.fill(&mut f, Law::Mu));
        let heard = Law::Mu.decode(f[0]);
        assert!((heard - 1000).abs() < 40, "{heard}");
    }

    #[test]
    fn a_switched_source_keeps_playing_what_it_is_given_until_dropped() {
        let (switch, mut out) = switched();
        let mut f = [0u8; FRAME];
        assert!(out.fill(&mut f, Law::Mu));
        assert!(f.iter().all(|b| *b == 0xFF));
        switch.play(Box::new(Player::new(Clip::from_pcm(
            &[500; 160],
            Law::Mu,
            false,
        ))));
        assert!(out.fill(&mut f, Law::Mu));
        assert_eq!(f[0], Law::Mu.encode(500));
        assert!(out.fill(&mut f, Law::Mu), "silence after the clip");
        assert!(!switch.playing());
        drop(switch);
        assert!(!out.fill(&mut f, Law::Mu));
    }
}
