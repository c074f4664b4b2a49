//! `dialtone play`: a tone or a WAV file sent as G.711 RTP, heard by an independent listener
//! (Python: its own RTP parsing, `audioop` decoding) at the right pitch; bad input refused
//! before anything is sent.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn python() -> String {
    std::env::var("DIALTONE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run `dialtone play` with `args` to a listener waiting for `packets`: (what the node printed,
/// the listener's report).
fn play_to_listener(args: &[&str], packets: u32) -> (String, serde_json::Value) {
    play_to(None, args, packets)
}

/// The same, to the multicast `group` (joined by the listener on the loopback interface) when given.
fn play_to(group: Option<&str>, args: &[&str], packets: u32) -> (String, serde_json::Value) {
    let port = free_port();
    let mut listener = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../media/tests/peers/listen.py"
        ))
        .args([port.to_string(), packets.to_string()])
        .args(group)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut out = BufReader::new(listener.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let node = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .arg("play")
        .arg(format!("{}:{port}", group.unwrap_or("127.0.0.1")))
        .args(args)
        .output()
        .unwrap();
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let mut report = String::new();
    out.read_line(&mut report).unwrap();
    let _ = listener.wait();
    (
        String::from_utf8_lossy(&node.stdout).into_owned(),
        serde_json::from_str(&report).unwrap(),
    )
}

#[test]
fn a_tone_is_heard_at_its_frequencies() {
    let (said, heard) = play_to_listener(&["--tone", "busy", "--seconds", "1.2"], 40);
    assert!(said.starts_with("sent "), "{said}");
    let headers = heard["headers"].as_array().unwrap();
    assert_eq!(headers.len(), 40);
    assert!(headers.iter().all(|h| h["pt"] == 0 && h["len"] == 160));
    assert!(
        headers.iter().all(|h| h["tos"] == 0xB8),
        "DSCP EF on every packet: {heard}"
    );
    // Busy: 480 + 620 Hz at equal levels; either is the strongest.
    let f = heard["strongest_hz"].as_u64().unwrap();
    assert!(f == 480 || f == 620, "{heard}");
}

#[test]
fn a_multicast_page_tone_reaches_a_member_of_the_group() {
    // A group of our own choosing in the organisation-local range, as a site's page would use.
    let group = format!(
        "239.255.{}.{}",
        std::process::id() % 250,
        1 + free_port() % 250
    );
    let (said, heard) = play_to(
        Some(&group),
        &[
            "--tone",
            "go-ahead",
            "--interface",
            "127.0.0.1",
            "--ttl",
            "1",
        ],
        30,
    );
    assert!(said.contains("(multicast)"), "{said}");
    let headers = heard["headers"].as_array().unwrap();
    // The go-ahead plays once: two 0.2 s beeps 0.2 s apart, 30 packets in all.
    assert_eq!(headers.len(), 30, "{heard}");
    assert!(headers.iter().all(|h| h["tos"] == 0xB8));
    assert_eq!(heard["strongest_hz"].as_u64(), Some(440), "{heard}");
}

#[test]
fn a_44k_wav_file_is_heard_at_its_pitch_in_a_law() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone.wav");
    let samples: Vec<i16> = (0..44_100)
        .map(|n| {
            ((2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 44_100.0).sin() * 12000.0) as i16
        })
        .collect();
    std::fs::write(&path, dialtone_media::wav::encode(&samples, 44_100, 1)).unwrap();
    let (said, heard) = play_to_listener(&["--file", path.to_str().unwrap(), "--law", "a"], 30);
    assert!(said.contains("PCMA"), "{said}");
    assert!(heard["headers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["pt"] == 8));
    assert_eq!(heard["strongest_hz"].as_u64(), Some(1000), "{heard}");
}

#[test]
fn what_cannot_be_played_is_refused_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    let not_audio = dir.path().join("notes.wav");
    std::fs::write(&not_audio, "minutes of the meeting").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--file", not_audio.to_str().unwrap()],
            "not a RIFF/WAVE file",
        ),
        (
            &["--tone", "beep"],
            "no tone named \"beep\" (one of dial, ringback, busy, reorder, stall, go-ahead)",
        ),
        (&["--tone", "busy", "--law", "g729"], "--law"),
        (&[], "--tone NAME or --file"),
    ];
    for (args, why) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(["play", "127.0.0.1:9"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(why),
            "{args:?}: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "nothing sent: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
