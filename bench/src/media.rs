//! Media: G.711 and tone generation throughput, and 1,000 concurrent music-on-hold streams
//! from one paced sender (packet spacing at the 99th percentile, CPU per stream).

use super::*;
use dialtone_media::g711::Law;
use dialtone_media::pacer::{Config, Pacer};
use dialtone_media::source::{Clip, Player};
use dialtone_media::tone::Tone;

/// Samples per second through `work`, which handles `per_call` samples; median of 5 rounds.
fn samples_per_second(per_call: usize, mut work: impl FnMut()) -> f64 {
    let rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0usize;
            while start.elapsed() < Duration::from_millis(400) {
                work();
                n += per_call;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    median(rounds)
}

pub(crate) fn media_rows() -> Vec<Row> {
    let pcm: Vec<i16> = (0..8000).map(|n| ((n * 37) % 65536) as i16).collect();
    let mut bytes = vec![0u8; pcm.len()];
    let encode = samples_per_second(pcm.len(), || {
        Law::Mu.encode_into(std::hint::black_box(&pcm), &mut bytes)
    });
    let mut back = vec![0i16; bytes.len()];
    let decode = samples_per_second(bytes.len(), || {
        Law::Mu.decode_into(std::hint::black_box(&bytes), &mut back)
    });
    let tones = samples_per_second(Tone::ALL.iter().map(|t| t.samples().len()).sum(), || {
        for t in Tone::ALL {
            std::hint::black_box(t.clip(Law::Mu));
        }
    });
    // DIALTONE_BENCH_MOH_STREAMS: another count, for a closer look.
    let count = std::env::var("DIALTONE_BENCH_MOH_STREAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (spacing_p99, cpu_per_stream, streams) = hold_streams(count, Duration::from_secs(6));
    vec![
        Row {
            name: "media: G.711 µ-law encoding",
            median: encode / 1e6,
            unit: "M samples/s",
            target: "-",
            anchor: format!("decoding {:.0} M samples/s", decode / 1e6),
        },
        Row {
            name: "media: tone generation (every tone's cycle rendered and encoded)",
            median: tones / 1e6,
            unit: "M samples/s",
            target: "-",
            anchor: "rendered once per node and shared by every listener".into(),
        },
        Row {
            name: "media: 1,000 concurrent music-on-hold streams, packet spacing at the 99th percentile",
            median: spacing_p99,
            unit: "ms",
            target: "20 ± 2 ms",
            anchor: format!(
                "{streams} streams from one paced sender; CPU per stream {:.1} µs a second ({:.2}% of a core)",
                cpu_per_stream * 1e6,
                cpu_per_stream * 100.0
            ),
        },
    ]
}

/// `count` looping streams of a 30 s clip to local sockets for `secs`: the 99th percentile of
/// the inter-arrival gap over 50 of them (received by a thread of their own on one socket,
/// told apart by SSRC), and this process's CPU seconds per stream per second (the sampling
/// receiver included, so an upper bound).
fn hold_streams(count: usize, secs: Duration) -> (f64, f64, usize) {
    let pcm: Vec<i16> = (0..240_000)
        .map(|n| ((n as f64 * 0.05).sin() * 6000.0) as i16)
        .collect();
    let clip = Clip::from_pcm(&pcm, Law::Mu, true);
    let pacer = Pacer::start(Config {
        max_streams: count,
        ..Config::default()
    });
    let socket = pacer.socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
    // Most streams go to a socket nobody reads (the kernel drops what overflows: the sender's
    // cost is the same); 50 go to the sampling socket.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sample = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sample
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (sink_addr, sample_addr) = (sink.local_addr().unwrap(), sample.local_addr().unwrap());
    let every = (count / 50).max(1);
    let playing: Vec<_> = (0..count)
        .map(|i| {
            let to = if i % every == 0 {
                sample_addr
            } else {
                sink_addr
            };
            pacer
                .play(
                    socket.clone(),
                    to,
                    Law::Mu,
                    Box::new(Player::new(clip.clone())),
                )
                .unwrap()
        })
        .collect();
    let streams = pacer.streams();
    let cpu0 = cpu_seconds(std::process::id());
    let started = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut last: std::collections::HashMap<u32, Instant> = Default::default();
        let mut gaps = Vec::new();
        let mut buf = [0u8; 512];
        while started.elapsed() < secs {
            let Ok(n) = sample.recv(&mut buf) else {
                continue;
            };
            let now = Instant::now();
            if n < 12 {
                continue;
            }
            let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            if let Some(l) = last.insert(ssrc, now) {
                gaps.push(now.duration_since(l).as_secs_f64() * 1000.0);
            }
        }
        gaps
    });
    let gaps = receiver.join().unwrap();
    let (ticks, late) = pacer.ticks();
    eprintln!("media: {ticks} sender wakes, {late} of them late by over half a phase");
    let cpu = cpu_seconds(std::process::id()) - cpu0;
    let elapsed = started.elapsed().as_secs_f64();
    for p in &playing {
        p.stop();
    }
    drop(sink);
    // The gap's distance from 20 ms, at the 99th percentile, as a gap: 20 + that.
    let mut dev: Vec<f64> = gaps.iter().map(|g| (g - 20.0).abs()).collect();
    dev.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p99 = dev.get(dev.len() * 99 / 100).copied().unwrap_or(f64::NAN);
    let at = |q: usize| dev.get(dev.len() * q / 100).copied().unwrap_or(f64::NAN);
    eprintln!(
        "media: gap deviation p50 {:.2} ms, p90 {:.2}, p99 {:.2}, max {:.2}",
        at(50),
        at(90),
        p99,
        dev.last().copied().unwrap_or(f64::NAN)
    );
    (20.0 + p99, cpu / elapsed / streams.max(1) as f64, streams)
}
