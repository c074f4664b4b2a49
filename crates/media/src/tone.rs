//! The tones Dialtone plays itself: North America's Precise Tone Plan (dial, ringback, busy,
//! reorder; levels per frequency in dBm0) and the paging server's stall and go-ahead tones.
//! Each renders once to G.711 as one whole cadence cycle, shared by every listener, which
//! loops it (or plays it once) from its own offset.

use std::sync::Arc;

use crate::g711::Law;
use crate::source::Clip;

/// A tone Dialtone can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// 350 + 440 Hz, continuous, -13 dBm0.
    Dial,
    /// 440 + 480 Hz, 2 s on / 4 s off, -19 dBm0.
    Ringback,
    /// 480 + 620 Hz, 0.5 s on / 0.5 s off, -24 dBm0.
    Busy,
    /// 480 + 620 Hz, 0.25 s on / 0.25 s off, -24 dBm0 (fast busy: the call cannot go through).
    Reorder,
    /// The page is being set up (the seed's "low stall tone"): 440 Hz, 0.2 s on / 0.2 s off,
    /// until the go-ahead.
    Stall,
    /// Speak now (the seed's "high go-ahead tone"): two 0.2 s beeps of 880 Hz, an octave
    /// above the stall, 0.2 s apart, once.
    GoAhead,
    /// Key your code now (a Forced Authorization or Client Matter Code): two 0.1 s beeps of
    /// 1400 Hz, 0.1 s apart, once; higher and shorter than the go-ahead.
    CodePrompt,
}

/// How a tone sounds: its frequencies and level, and its cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub frequencies: &'static [f64],
    /// Level of each frequency, dBm0.
    pub level_dbm0: f64,
    /// (on, off) in milliseconds, in order; an empty list is a continuous tone.
    pub cadence: &'static [(u32, u32)],
    /// Whether the cadence repeats until stopped.
    pub repeats: bool,
}

impl Tone {
    pub const ALL: [Tone; 7] = [
        Tone::Dial,
        Tone::Ringback,
        Tone::Busy,
        Tone::Reorder,
        Tone::Stall,
        Tone::GoAhead,
        Tone::CodePrompt,
    ];

    pub fn plan(self) -> Plan {
        let (frequencies, level_dbm0, cadence, repeats): (
            &'static [f64],
            f64,
            &'static [(u32, u32)],
            bool,
        ) = match self {
            Tone::Dial => (&[350.0, 440.0], -13.0, &[], true),
            Tone::Ringback => (&[440.0, 480.0], -19.0, &[(2000, 4000)], true),
            Tone::Busy => (&[480.0, 620.0], -24.0, &[(500, 500)], true),
            Tone::Reorder => (&[480.0, 620.0], -24.0, &[(250, 250)], true),
            Tone::Stall => (&[440.0], -19.0, &[(200, 200)], true),
            Tone::GoAhead => (&[880.0], -13.0, &[(200, 200), (200, 0)], false),
            Tone::CodePrompt => (&[1400.0], -13.0, &[(100, 100), (100, 0)], false),
        };
        Plan {
            frequencies,
            level_dbm0,
            cadence,
            repeats,
        }
    }

    /// The name used in configuration and the API.
    pub fn name(self) -> &'static str {
        match self {
            Tone::Dial => "dial",
            Tone::Ringback => "ringback",
            Tone::Busy => "busy",
            Tone::Reorder => "reorder",
            Tone::Stall => "stall",
            Tone::GoAhead => "go-ahead",
            Tone::CodePrompt => "code-prompt",
        }
    }

    pub fn from_name(name: &str) -> Option<Tone> {
        Tone::ALL.into_iter().find(|t| t.name() == name)
    }

    /// One cadence cycle (or, for a continuous tone, one period of the mixed frequencies),
    /// as linear 8 kHz samples.
    pub fn samples(self) -> Vec<i16> {
        let plan = self.plan();
        // µ-law's full scale is +3.17 dBm0: a sine at L dBm0 peaks at 32768 * 10^((L - 3.17) / 20).
        let amplitude = 32768.0 * 10f64.powf((plan.level_dbm0 - 3.17) / 20.0);
        let tone_at = |n: usize| -> i16 {
            let t = n as f64 / crate::RATE as f64;
            let v: f64 = plan
                .frequencies
                .iter()
                .map(|f| (2.0 * std::f64::consts::PI * f * t).sin() * amplitude)
                .sum();
            v.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
        };
        let ms = |ms: u32| (ms as usize) * crate::RATE as usize / 1000;
        if plan.cadence.is_empty() {
            // The frequencies' common period: 8000 / gcd of the frequencies (whole hertz).
            let g = plan
                .frequencies
                .iter()
                .map(|f| *f as u64)
                .fold(0, gcd)
                .max(1);
            return (0..(crate::RATE as u64 / g) as usize)
                .map(tone_at)
                .collect();
        }
        let mut out = Vec::new();
        for &(on, off) in plan.cadence {
            let start = out.len();
            out.extend((0..ms(on)).map(|n| tone_at(start + n)));
            out.extend(std::iter::repeat_n(0, ms(off)));
        }
        out
    }

    /// The tone rendered once in `law`: what every listener of it shares.
    pub fn clip(self, law: Law) -> Clip {
        let pcm = self.samples();
        let mut bytes = vec![0u8; pcm.len()];
        law.encode_into(&pcm, &mut bytes);
        Clip {
            law,
            bytes: Arc::from(bytes),
            repeats: self.plan().repeats,
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Notes played one after another (Hz and milliseconds each; 0 Hz a rest), each faded in and
/// out over 10 ms so the joins do not click: linear 8 kHz samples at -16 dBm0.
pub fn melody(notes: &[(f64, u32)]) -> Vec<i16> {
    let amplitude = 32768.0 * 10f64.powf((-16.0 - 3.17) / 20.0);
    let fade = (crate::RATE / 100) as usize;
    let mut out = Vec::new();
    for &(hz, ms) in notes {
        let n = ms as usize * crate::RATE as usize / 1000;
        out.extend((0..n).map(|i| {
            let envelope = (i.min(n - 1 - i).min(fade) as f64) / fade as f64;
            let t = i as f64 / crate::RATE as f64;
            ((2.0 * std::f64::consts::PI * hz * t).sin() * amplitude * envelope).round() as i16
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect;

    #[test]
    fn each_tone_sounds_at_its_frequencies_and_cadence() {
        for tone in Tone::ALL {
            let plan = tone.plan();
            let samples = tone.samples();
            let on = match plan.cadence.first() {
                Some(&(on, _)) => &samples[..on as usize * 8],
                None => &samples[..],
            };
            let found = detect::strongest(on, 200.0, 3400.0, 10.0);
            assert!(
                plan.frequencies.iter().any(|f| (f - found).abs() <= 10.0),
                "{tone:?}: strongest {found} Hz"
            );
            let cycle_ms: u32 = plan.cadence.iter().map(|(a, b)| a + b).sum();
            if cycle_ms > 0 {
                assert_eq!(samples.len(), cycle_ms as usize * 8, "{tone:?}");
                // Silent during the first off period.
                let (on, off) = plan.cadence[0];
                if off > 0 {
                    let quiet = &samples[on as usize * 8..(on + off) as usize * 8];
                    assert!(quiet.iter().all(|s| *s == 0), "{tone:?}");
                }
            }
        }
    }

    #[test]
    fn a_continuous_tone_loops_without_a_click() {
        let s = Tone::Dial.samples();
        assert_eq!(s.len(), 800); // 350 and 440 Hz meet every 1/10 s
                                  // The sample after the last is the first again: the loop is seamless.
        let next = {
            let t = s.len() as f64 / 8000.0;
            let a = 32768.0 * 10f64.powf((-13.0 - 3.17) / 20.0);
            ((2.0 * std::f64::consts::PI * 350.0 * t).sin() * a
                + (2.0 * std::f64::consts::PI * 440.0 * t).sin() * a)
                .round() as i16
        };
        assert!((next - s[0]).abs() <= 1);
    }

    #[test]
    fn levels_follow_the_plan() {
        // Dial tone: two frequencies at -13 dBm0 (5,074 each at their peak) meet near 10,000.
        let peak = Tone::Dial
            .samples()
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((9000..=10200).contains(&peak), "{peak}");
        let busy = Tone::Busy
            .samples()
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!(busy < peak / 3, "busy {busy} is 11 dB below dial {peak}");
        assert_eq!(Tone::from_name("go-ahead"), Some(Tone::GoAhead));
        assert_eq!(Tone::from_name("beep"), None);
    }

    #[test]
    fn a_melody_plays_each_note_at_its_pitch_for_its_time() {
        let m = melody(&[(523.25, 500), (0.0, 100), (783.99, 500)]);
        assert_eq!(m.len(), 8800);
        let first = crate::detect::strongest(&m[800..3200], 200.0, 3400.0, 5.0);
        let last = crate::detect::strongest(&m[5600..8000], 200.0, 3400.0, 5.0);
        assert!((first - 523.25).abs() <= 5.0, "{first}");
        assert!((last - 783.99).abs() <= 5.0, "{last}");
        assert!(m[4000..4800].iter().all(|s| *s == 0), "the rest is silent");
        assert_eq!((m[0], m[3999]), (0, 0), "faded in and out");
    }
}
