//! Credential checks: the argon2id cost and the cached verification.

use super::*;

pub(crate) fn argon2_verify() -> Row {
    let h = hash_secret("a reasonably long password");
    let samples: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            assert!(verify_secret("a reasonably long password", &h));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    Row {
        name: "argon2id verification (cold)",
        median: median(samples),
        unit: "ms",
        target: "about 1 ms",
        anchor: "-".into(),
    }
}

pub(crate) fn cached_verify() -> Row {
    let cache = CredentialCache::new(Duration::from_secs(3600), 1000);
    let h = hash_secret("pw");
    assert!(cache.verify("app:u", "pw", &h));
    let rounds: Vec<f64> = (0..7)
        .map(|_| {
            let n = 100_000;
            let t = Instant::now();
            for _ in 0..n {
                assert!(cache.verify("app:u", "pw", &h));
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    Row {
        name: "cached credential verification",
        median: median(rounds),
        unit: "us",
        target: "-",
        anchor: "-".into(),
    }
}
