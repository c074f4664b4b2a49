//! G.711 (ITU-T G.711): µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8), both
//! ways. Decoding is a table lookup; encoding follows ITU-T G.191's reference coder
//! (checked against Python's `audioop` in `tests/peers.rs`: A-law and every decoded value
//! bit for bit, µ-law encoding too but for the rounding of negative samples at a step's edge).

/// One of the two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    Mu,
    A,
}

impl Law {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Mu => 0,
            Law::A => 8,
        }
    }

    /// The law a static payload type names.
    pub fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Mu),
            8 => Some(Law::A),
            _ => None,
        }
    }

    /// The SDP encoding name (`a=rtpmap:0 PCMU/8000`).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Law::Mu => "PCMU",
            Law::A => "PCMA",
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => ulaw_encode(sample),
            Law::A => alaw_encode(sample),
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => ULAW_DECODE[byte as usize],
            Law::A => ALAW_DECODE[byte as usize],
        }
    }

    /// The byte of silence: what a frame with no sound carries.
    pub fn silence(self) -> u8 {
        self.encode(0)
    }

    /// Encode `pcm` into `out` (same length).
    pub fn encode_into(self, pcm: &[i16], out: &mut [u8]) {
        for (o, s) in out.iter_mut().zip(pcm) {
            *o = self.encode(*s);
        }
    }

    /// Decode `bytes` into `out` (same length).
    pub fn decode_into(self, bytes: &[u8], out: &mut [i16]) {
        let table = match self {
            Law::Mu => &ULAW_DECODE,
            Law::A => &ALAW_DECODE,
        };
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = table[*b as usize];
        }
    }

    /// Re-encode a frame from one law to the other (the paging server's "must be transcoded").
    pub fn transcode(self, to: Law, bytes: &mut [u8]) {
        if self != to {
            for b in bytes.iter_mut() {
                *b = to.encode(self.decode(*b));
            }
        }
    }
}

const BIAS: i32 = 0x84;

/// µ-law: the sign, a 3-bit segment and a 4-bit step, inverted (G.711 table 2a). The 16-bit
/// sample is cut to G.711's 14 bits as ITU-T G.191's reference coder does: a negative sample
/// by its one's complement, so -1 and 0 are the same magnitude on either side of zero.
pub fn ulaw_encode(sample: i16) -> u8 {
    let x = sample as i32;
    let (sign, magnitude) = if x < 0 {
        (0x80, (!x) >> 2)
    } else {
        (0, x >> 2)
    };
    // Biased by 33 (the 14-bit form of 0x84), clipped to 13 bits of magnitude.
    let biased = (magnitude + 33).min(0x1FFF);
    // The segment: how far the biased magnitude's highest bit sits above bit 5.
    let segment = 32 - ((biased as u32) >> 6).leading_zeros() as i32;
    let step = (biased >> (segment + 1)) & 0x0F;
    !((sign | (segment << 4) | step) as u8)
}

const fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let exponent = ((b >> 4) & 0x07) as i32;
    let mantissa = (b & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if b & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// A-law: 13-bit magnitude in segments, even bits inverted (G.711 table 1a).
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13 bits: drop the three lowest.
    let mut s = (sample as i32) >> 3;
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    let s = s.min(0x0FFF);
    let byte = if s < 32 {
        (s >> 1) as u8
    } else {
        let exponent = (31 - (s as u32).leading_zeros()) as i32 - 4;
        ((exponent << 4) | ((s >> exponent) & 0x0F)) as u8
    };
    (byte | sign) ^ 0x55
}

const fn alaw_decode(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let exponent = ((b >> 4) & 0x07) as i32;
    let mantissa = (b & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if b & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn table(law: Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Law::Mu => ulaw_decode(i as u8),
            Law::A => alaw_decode(i as u8),
        };
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = table(Law::Mu);
static ALAW_DECODE: [i16; 256] = table(Law::A);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_decodes_and_encodes_back_to_itself() {
        for law in [Law::Mu, Law::A] {
            for b in 0..=255u8 {
                let back = law.encode(law.decode(b));
                // µ-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes as 0xFF.
                if law == Law::Mu && b == 0x7F {
                    assert_eq!(back, 0xFF);
                } else {
                    assert_eq!(back, b, "{law:?} code {b:#04x}");
                }
            }
        }
    }

    #[test]
    fn silence_and_extremes_are_the_standard_codes() {
        assert_eq!(Law::Mu.silence(), 0xFF);
        assert_eq!(Law::A.silence(), 0xD5);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(Law::Mu.decode(0x80), 32124);
        assert_eq!(Law::A.decode(0xAA), 32256);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn quantisation_error_stays_within_the_segment_step() {
        for law in [Law::Mu, Law::A] {
            for s in (-32000i32..32000).step_by(7) {
                let d = law.decode(law.encode(s as i16)) as i32;
                // The step doubles per segment: at most 1/16 of the magnitude plus the smallest step.
                let tolerance = s.abs() / 16 + 16;
                assert!((d - s).abs() <= tolerance, "{law:?} {s} -> {d}");
            }
        }
    }

    #[test]
    fn transcoding_keeps_the_sound() {
        let mut frame: Vec<u8> = (0..160)
            .map(|i| Law::Mu.encode(((i as f64 * 0.3).sin() * 8000.0) as i16))
            .collect();
        let before: Vec<i16> = frame.iter().map(|b| Law::Mu.decode(*b)).collect();
        Law::Mu.transcode(Law::A, &mut frame);
        for (b, s) in frame.iter().zip(&before) {
            let d = Law::A.decode(*b) as i32 - *s as i32;
            assert!(d.abs() <= (*s as i32).abs() / 8 + 32);
        }
    }
}
