//! `dialtone play`: a tone or a WAV file sent as G.711 RTP, heard by an independent listener
//! (Python: its own RTP parsing, `audioop` decoding) at the right pitch; bad input refused
//! before anything is sent; and simulated Cisco phones told by push to join a multicast group
//! hearing what is sent there, as a page's phones do.

mod common;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use common::Start;
use dialtone_phonesim::PhoneEvent;
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `dialtone play TO ARGS...`, run to its end.
fn play(to: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["play", to])
        .args(args)
        .output()
        .unwrap()
}

/// Run `dialtone play` with `args` to a listener waiting for `packets`: (what the node printed,
/// the listener's report).
fn play_to_listener(args: &[&str], packets: u32) -> (String, serde_json::Value) {
    play_to(None, args, packets)
}

/// The same, to the multicast `group` (joined by the listener on the loopback interface) when given.
fn play_to(group: Option<&str>, args: &[&str], packets: u32) -> (String, serde_json::Value) {
    let port = free_port();
    let listener = dialtone_testkit::rtp::Listener::start(port, packets, group);
    let node = play(&format!("{}:{port}", group.unwrap_or("127.0.0.1")), args);
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let report = listener.report();
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
    // The go-ahead plays once: two high beeps (880 Hz) 0.2 s apart, 30 packets in all.
    assert_eq!(headers.len(), 30, "{heard}");
    assert!(headers.iter().all(|h| h["tos"] == 0xB8));
    assert_eq!(heard["strongest_hz"].as_u64(), Some(880), "{heard}");
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
            "no tone named \"beep\" (one of dial, ringback, busy, reorder, stall, go-ahead, code-prompt)",
        ),
        (&["--tone", "busy", "--law", "g729"], "--law"),
        (&[], "--tone NAME or --file"),
    ];
    for (args, why) in cases {
        let out = play("127.0.0.1:9", args);
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

fn ip(n: u8) -> IpAddr {
    IpAddr::from([127, 34, 1, n])
}

fn push_all(node: &common::Node, devices: &[&str], url: &str) -> Value {
    let xml = format!(
        "<CiscoIPPhoneExecute><ExecuteItem Priority=\"0\" URL=\"{url}\"/></CiscoIPPhoneExecute>"
    );
    common::admin(common::client().post(node.api("/push")))
        .json(&json!({"xml": xml, "devices": devices}))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn phones_pushed_rtpmrx_hear_the_group_and_leave_at_the_stop() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = common::Node::start(
        dir.path(),
        &format!(
            "[phones]\nweb_port = {}\npush_timeout_ms = 3000\n",
            common::PHONE_WEB_PORT
        ),
        true,
    );
    let numbers = [1000u32, 1001, 1002];
    let phones: Vec<_> = numbers
        .iter()
        .zip(1u8..)
        .map(|(dn, n)| common::sim_phone(&rt, &node, *dn, ip(n), false))
        .collect();
    let mut events: Vec<_> = phones.iter().map(|p| p.events()).collect();
    let devices: Vec<String> = numbers.iter().map(|n| format!("SEP00DE0000{n}")).collect();
    let devices: Vec<&str> = devices.iter().map(String::as_str).collect();
    let group = format!(
        "239.255.{}.{}",
        1 + std::process::id() % 250,
        1 + free_port() % 250
    );
    let port = 20480 + 2 * (free_port() % 6000);

    let r = push_all(&node, &devices, &format!("RTPMRx:{group}:{port}"));
    for result in r["results"].as_array().unwrap() {
        assert_eq!(result["status"], "ok", "{r}");
        assert_eq!(result["items"][0]["status"], 0, "{r}");
    }
    for (phone, rx) in phones.iter().zip(events.iter_mut()) {
        common::wait_event(
            &rt,
            phone,
            rx,
            "the phone joins the group",
            |e| matches!(e, PhoneEvent::Listening { address } if address == &format!("{group}:{port}")),
        );
    }
    // A second stream while one plays: the phone refuses it, as a Cisco phone does.
    let again = push_all(
        &node,
        &devices[..1],
        &format!("RTPMRx:{group}:{}", port + 2),
    );
    assert_eq!(again["results"][0]["items"][0]["status"], 1, "{again}");

    // What is not RTP, sent to the group first: counted, and nothing else changes.
    let junk = dialtone_media::pacer::media_socket(
        "127.0.0.1:0".parse().unwrap(),
        Some(dialtone_media::pacer::Multicast {
            ttl: 1,
            interface: "127.0.0.1".parse().unwrap(),
            loopback: true,
        }),
    )
    .unwrap();
    let garbage: [&[u8]; 4] = [
        b"hello",
        &[0x40; 200],                                    // RTP version 1
        &[0x8F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],        // 15 CSRCs in a bare header
        &[0x80, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2], // G.729: not a G.711 stream
    ];
    for g in garbage {
        junk.send_to(g, format!("{group}:{port}")).unwrap();
    }

    let sent = play(
        &format!("{group}:{port}"),
        &[
            "--tone",
            "reorder",
            "--seconds",
            "1.5",
            "--interface",
            "127.0.0.1",
        ],
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    std::thread::sleep(Duration::from_millis(200));
    for phone in &phones {
        let heard = phone.heard().expect("listening");
        // 1.5 s of 20 ms packets; reorder is 480 + 620 Hz, 0.25 s on and off, so the last
        // half second heard holds a burst of it.
        assert!(heard.packets >= 70 && heard.lost == 0, "{heard:?}");
        assert!([480.0, 620.0].contains(&heard.strongest_hz), "{heard:?}");
        assert!(heard.level > 500.0, "{heard:?}");
        assert!(heard.malformed == 4 && heard.jitter_ms < 10.0, "{heard:?}");
    }

    let r = push_all(&node, &devices, "RTPMRx:Stop");
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "ok"),
        "{r}"
    );
    for (phone, rx) in phones.iter().zip(events.iter_mut()) {
        common::wait_event(
            &rt,
            phone,
            rx,
            "the phone leaves",
            |e| matches!(e, PhoneEvent::StoppedListening { packets, .. } if *packets >= 70),
        );
    }
    // Left: a stream sent now reaches nobody.
    let before: Vec<u64> = phones.iter().map(|p| p.heard().unwrap().packets).collect();
    let _ = play(
        &format!("{group}:{port}"),
        &[
            "--tone",
            "busy",
            "--seconds",
            "0.3",
            "--interface",
            "127.0.0.1",
        ],
    );
    let after: Vec<u64> = phones.iter().map(|p| p.heard().unwrap().packets).collect();
    assert_eq!(before, after);
    for p in &phones {
        rt.block_on(p.stop());
    }
}
