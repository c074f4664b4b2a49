//! What a listener hears: the power at a frequency (Goertzel) and the strongest frequency in
//! a band, so tests and `phonesim` can say which tone reached a phone.

/// Power of `freq` (Hz) in 8 kHz `samples`, normalised by the length.
pub fn power(samples: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / crate::RATE as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    p / (samples.len().max(1) as f64).powi(2)
}

/// The strongest frequency between `low` and `high` Hz, in steps of `step` Hz.
pub fn strongest(samples: &[i16], low: f64, high: f64, step: f64) -> f64 {
    let mut best = (low, f64::MIN);
    let mut f = low;
    while f <= high {
        let p = power(samples, f);
        if p > best.1 {
            best = (f, p);
        }
        f += step;
    }
    best.0
}

/// Root-mean-square level of `samples` (0 for silence).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_is_found_at_its_frequency() {
        let s: Vec<i16> = (0..1600)
            .map(|n| {
                ((2.0 * std::f64::consts::PI * 1004.0 * n as f64 / 8000.0).sin() * 9000.0) as i16
            })
            .collect();
        assert!((strongest(&s, 300.0, 3400.0, 4.0) - 1004.0).abs() <= 4.0);
        assert!(power(&s, 1004.0) > 100.0 * power(&s, 600.0));
        assert!((rms(&s) - 9000.0 / 2f64.sqrt()).abs() < 50.0);
        assert_eq!(rms(&[]), 0.0);
    }
}
