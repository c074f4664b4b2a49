//! Audio files: RIFF/WAVE with integer PCM (8, 16, 24 or 32 bits) or 32/64-bit float, any
//! sampling rate and channel count, converted once to 8 kHz mono linear samples (channels
//! averaged, then low-pass filtered and resampled) for [`crate::source::Clip::from_pcm`].

/// Why a file is not audio we play.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("the file ends inside its {0} chunk")]
    Truncated(&'static str),
    #[error("no fmt chunk before the audio data")]
    NoFormat,
    #[error("no data chunk")]
    NoData,
    #[error("audio format {0} is not PCM or IEEE float (compressed WAV is not played)")]
    Format(u16),
    #[error("{0} bits per sample is not supported for this format")]
    Bits(u16),
    #[error("{0}: must be between 1 and 8 channels")]
    Channels(u16),
    #[error("sampling rate {0} Hz is outside 4,000 to 192,000 Hz")]
    Rate(u32),
    #[error("longer than {0} minutes")]
    TooLong(u32),
}

/// The longest file taken: music on hold loops; an hour of 8 kHz audio is 28 MB of G.711.
pub const MAX_MINUTES: u32 = 60;

#[derive(Debug, Clone, Copy)]
struct Format {
    code: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

/// The file's audio as 8 kHz mono samples.
pub fn decode(file: &[u8]) -> Result<Vec<i16>, WavError> {
    if file.len() < 12 || &file[..4] != b"RIFF" || &file[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut at = 12;
    let mut format: Option<Format> = None;
    while at + 8 <= file.len() {
        let id = &file[at..at + 4];
        let len =
            u32::from_le_bytes([file[at + 4], file[at + 5], file[at + 6], file[at + 7]]) as usize;
        let body_start = at + 8;
        match id {
            b"fmt " => {
                let body = file
                    .get(body_start..body_start + len)
                    .filter(|b| b.len() >= 16)
                    .ok_or(WavError::Truncated("fmt"))?;
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let mut code = u16_at(0);
                // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes.
                if code == 0xFFFE && body.len() >= 26 {
                    code = u16_at(24);
                }
                format = Some(Format {
                    code,
                    channels: u16_at(2),
                    rate: u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
                    bits: u16_at(14),
                });
            }
            b"data" => {
                let f = format.ok_or(WavError::NoFormat)?;
                // A data chunk whose length runs past the file (streamed writers leave it
                // unset): take what there is, as players do.
                let body = &file[body_start..(body_start + len).min(file.len())];
                return convert(f, body);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body_start.saturating_add(len).saturating_add(len & 1);
    }
    Err(if format.is_some() {
        WavError::NoData
    } else {
        WavError::NotWave
    })
}

fn convert(f: Format, data: &[u8]) -> Result<Vec<i16>, WavError> {
    if !(1..=8).contains(&f.channels) {
        return Err(WavError::Channels(f.channels));
    }
    if !(4000..=192_000).contains(&f.rate) {
        return Err(WavError::Rate(f.rate));
    }
    let sample: fn(&[u8]) -> f64 = match (f.code, f.bits) {
        (1, 8) => |b| (b[0] as f64 - 128.0) / 128.0,
        (1, 16) => |b| i16::from_le_bytes([b[0], b[1]]) as f64 / 32768.0,
        (1, 24) => |b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f64 / 8_388_608.0,
        (1, 32) => |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64 / 2_147_483_648.0,
        (3, 32) => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        (3, 64) => |b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        (1 | 3, bits) => return Err(WavError::Bits(bits)),
        (code, _) => return Err(WavError::Format(code)),
    };
    let width = f.bits as usize / 8;
    let frame = width * f.channels as usize;
    let frames = data.len() / frame;
    if frames as u64 > MAX_MINUTES as u64 * 60 * f.rate as u64 {
        return Err(WavError::TooLong(MAX_MINUTES));
    }
    let mono: Vec<f64> = data
        .chunks_exact(frame)
        .map(|fr| {
            let sum: f64 = fr.chunks_exact(width).map(sample).sum();
            let v = sum / f.channels as f64;
            if v.is_finite() {
                v.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    Ok(resample(&mono, f.rate)
        .into_iter()
        .map(|v| (v * 32767.0).round() as i16)
        .collect())
}

/// `input` at `rate` Hz to 8 kHz: a windowed-sinc low-pass at 3.6 kHz (below the new
/// Nyquist, so nothing folds back as a whistle) evaluated at each output instant.
fn resample(input: &[f64], rate: u32) -> Vec<f64> {
    let out_rate = crate::RATE as f64;
    if rate == crate::RATE {
        return input.to_vec();
    }
    let ratio = rate as f64 / out_rate;
    // Cut-off as a fraction of the input rate; half-width of the kernel in input samples.
    let cutoff = 3600.0 / rate as f64;
    let half = (8.0 * ratio.max(1.0)).ceil() as isize;
    let n_out = (input.len() as f64 / ratio).floor() as usize;
    (0..n_out)
        .map(|k| {
            let centre = k as f64 * ratio;
            let first = centre.floor() as isize - half;
            let (mut acc, mut weight) = (0.0, 0.0);
            for i in first..=first + 2 * half {
                if i < 0 || i as usize >= input.len() {
                    continue;
                }
                let x = i as f64 - centre;
                let sinc = if x.abs() < 1e-9 {
                    1.0
                } else {
                    (2.0 * std::f64::consts::PI * cutoff * x).sin()
                        / (std::f64::consts::PI * x)
                        / (2.0 * cutoff)
                };
                // Hann window over the kernel.
                let w = 0.5 + 0.5 * (std::f64::consts::PI * x / (half as f64 + 1.0)).cos();
                acc += input[i as usize] * sinc * w;
                weight += sinc * w;
            }
            if weight.abs() > 1e-9 {
                acc / weight
            } else {
                0.0
            }
        })
        .collect()
}

/// A WAV file of 16-bit PCM `samples` at `rate` Hz with `channels` interleaved (tests and
/// the shipped audio are written with it).
pub fn encode(samples: &[i16], rate: u32, channels: u16) -> Vec<u8> {
    let data_len = samples.len() * 2;
    let mut out = Vec::with_capacity(44 + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((36 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
    out.extend_from_slice(&(2 * channels).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect;

    fn sine(freq: f64, rate: u32, secs: f64, amp: f64) -> Vec<i16> {
        (0..(rate as f64 * secs) as usize)
            .map(|n| {
                ((2.0 * std::f64::consts::PI * freq * n as f64 / rate as f64).sin() * amp) as i16
            })
            .collect()
    }

    #[test]
    fn a_44k_stereo_file_becomes_8k_mono_at_the_same_pitch() {
        let left = sine(1000.0, 44_100, 1.0, 12000.0);
        let stereo: Vec<i16> = left.iter().flat_map(|s| [*s, *s]).collect();
        let pcm = decode(&encode(&stereo, 44_100, 2)).unwrap();
        assert!((pcm.len() as i64 - 8000).abs() <= 1, "{}", pcm.len());
        let middle = &pcm[1000..7000];
        assert!((detect::strongest(middle, 300.0, 3400.0, 5.0) - 1000.0).abs() <= 5.0);
        assert!((detect::rms(middle) - 12000.0 / 2f64.sqrt()).abs() < 600.0);
    }

    #[test]
    fn frequencies_above_the_new_nyquist_do_not_fold_back() {
        // 6 kHz at 48 kHz would alias to 2 kHz if merely decimated.
        let pcm = decode(&encode(&sine(6000.0, 48_000, 0.5, 16000.0), 48_000, 1)).unwrap();
        assert!(
            detect::rms(&pcm[200..3800]) < 300.0,
            "{}",
            detect::rms(&pcm[200..3800])
        );
    }

    #[test]
    fn files_that_are_not_playable_audio_say_why() {
        assert_eq!(decode(b"hello world, not audio"), Err(WavError::NotWave));
        let mut wav = encode(&[0; 100], 8000, 1);
        assert_eq!(decode(&wav[..30]), Err(WavError::Truncated("fmt")));
        wav[20] = 7; // µ-law WAV: format 7
        assert_eq!(decode(&wav), Err(WavError::Format(7)));
        let mut rate = encode(&[0; 100], 8000, 1);
        rate[24..28].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(decode(&rate), Err(WavError::Rate(1000)));
        let mut chans = encode(&[0; 100], 8000, 1);
        chans[22] = 0;
        assert_eq!(decode(&chans), Err(WavError::Channels(0)));
        let no_data = &encode(&[0; 100], 8000, 1)[..36];
        assert_eq!(decode(no_data), Err(WavError::NoData));
        // A data chunk claiming more than the file holds plays what is there.
        let mut long = encode(&[100; 80], 8000, 1);
        long[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&long).unwrap().len(), 80);
    }
}
