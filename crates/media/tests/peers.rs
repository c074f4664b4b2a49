//! The media wire formats checked by an independent peer: Python's `audioop` for G.711, and a
//! Python RTP listener (its own header parsing and decoding) for what the paced sender sends.

use std::process::Command;
use std::time::Duration;

use dialtone_media::g711::Law;
use dialtone_media::pacer::{Config, Pacer};
use dialtone_media::source::Player;
use dialtone_media::tone::Tone;
use dialtone_testkit::rtp::{peer, python, Listener};

#[test]
fn g711_matches_python_audioop_bit_for_bit() {
    for (law, name) in [(Law::Mu, "ulaw"), (Law::A, "alaw")] {
        let out = Command::new(python())
            .arg(peer("g711.py"))
            .arg(name)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let theirs = unhex(lines.next().unwrap());
        let mut edges = 0;
        for (s, their) in (-32768i32..32768).zip(&theirs) {
            let ours = law.encode(s as i16);
            if ours == *their {
                continue;
            }
            // audioop cuts a negative sample to 14 bits by an arithmetic shift (rounding
            // towards minus infinity), G.191 by its one's complement: at a step's edge the two
            // name neighbouring codes. Anywhere else, or for A-law, a difference is a bug.
            assert!(
                law == Law::Mu && s < 0 && ours.abs_diff(*their) == 1,
                "{name}: sample {s} encodes as {ours:#04x}, audioop says {their:#04x}"
            );
            edges += 1;
        }
        assert!(edges <= 512, "{name}: {edges} samples differ");
        let decoded: Vec<u8> = (0..=255u8)
            .flat_map(|b| law.decode(b).to_le_bytes())
            .collect();
        assert!(
            unhex(lines.next().unwrap()) == decoded,
            "{name} decoding differs"
        );
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_tone_reaches_an_independent_listener_in_order_at_its_pitch() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listener = Listener::start(port, 60, None);

    let pacer = Pacer::start(Config::default());
    let socket = pacer.socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let to = format!("127.0.0.1:{port}").parse().unwrap();
    // The stall tone: 440 Hz, 0.2 s on and off, repeating until stopped.
    let mut playing = pacer
        .play(
            socket,
            to,
            Law::Mu,
            Box::new(Player::new(Tone::Stall.clip(Law::Mu))),
        )
        .unwrap();
    let report = tokio::task::spawn_blocking(move || listener.report())
        .await
        .unwrap();
    playing.stop();
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    let headers = v["headers"].as_array().unwrap();
    assert_eq!(headers.len(), 60, "{report}");
    for (i, h) in headers.iter().enumerate() {
        let n = |k: &str| h[k].as_u64().unwrap();
        assert_eq!((n("v"), n("pt"), n("len")), (2, 0, 160));
        assert_eq!(
            h["m"].as_bool(),
            Some(i == 0),
            "marker on the first packet only"
        );
        if i > 0 {
            let p = |k: &str| headers[i - 1][k].as_u64().unwrap();
            assert_eq!((p("seq") + 1) % 65536, n("seq"));
            assert_eq!(
                (p("ts") + 160) % (1 << 32),
                n("ts"),
                "timestamps advance by the samples sent"
            );
            assert_eq!(p("ssrc"), n("ssrc"));
        }
    }
    assert_eq!(v["strongest_hz"].as_u64(), Some(440), "{report}");
    let mut gaps: Vec<f64> = v["gaps_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_f64().unwrap())
        .collect();
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = gaps[gaps.len() / 2];
    assert!((median - 20.0).abs() < 3.0, "median gap {median} ms");
    let sent = tokio::time::timeout(Duration::from_secs(2), playing.ended())
        .await
        .expect("a stopped stream says it ended")
        .unwrap();
    assert!(sent.packets >= 60);
    assert_eq!(pacer.streams(), 0);
}
