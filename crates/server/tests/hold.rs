//! Music on hold: a held party hears the node's hold music (the melody that ships with
//! Dialtone, or the administrator's WAV file) instead of silence, and the holder's voice again
//! once the call resumes.

mod common;

use common::Start;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dialtone_phonesim::listen::Heard;
use dialtone_phonesim::{Phone, PhoneEvent};

fn ip(n: u8) -> IpAddr {
    IpAddr::from([127, 35, 3, n])
}

/// What `phone` hears on its only call, once `pred` accepts it (or panic after 5 s).
fn wait_heard(phone: &Phone, what: &str, pred: impl Fn(&Heard) -> bool) -> Heard {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let heard = phone.calls().first().map(|c| c.heard.clone());
        if let Some(h) = heard.as_ref().filter(|h| pred(h)) {
            return h.clone();
        }
        assert!(Instant::now() < deadline, "{what}: {heard:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The frequencies of the melody that ships with Dialtone.
const MELODY_HZ: [f64; 6] = [523.25, 587.33, 659.25, 698.46, 783.99, 880.0];

fn is_melody(h: &Heard) -> bool {
    h.level > 500.0 && MELODY_HZ.iter().any(|f| (h.strongest_hz - f).abs() <= 12.0)
}

#[test]
fn a_held_party_hears_the_melody_and_the_caller_again_on_resume() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = common::Node::start(
        dir.path(),
        &format!("[phones]\nweb_port = {}\n", common::PHONE_WEB_PORT),
        true,
    );
    let alice = common::sim_phone(&rt, &node, 1001, ip(1), false);
    let bob = common::sim_phone(&rt, &node, 1002, ip(2), true);
    let mut events = alice.events();
    let call = rt.block_on(alice.dial("1002")).expect("bob answers");
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "connected",
        |e| matches!(e, PhoneEvent::Connected { call_id } if *call_id == call),
    );
    // Alice's phone sends a 400 Hz tone while the call is up.
    wait_heard(&bob, "bob hears alice", |h| h.strongest_hz == 400.0);

    rt.block_on(alice.hold(&call, true))
        .expect("the hold is taken");
    let held = wait_heard(&bob, "bob hears the hold music", is_melody);
    // Over the next seconds the line moves: more than one note of it is heard.
    let mut notes = vec![held.strongest_hz];
    let deadline = Instant::now() + Duration::from_secs(6);
    while notes.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let h = bob.calls()[0].heard.clone();
        if is_melody(&h) && !notes.contains(&h.strongest_hz) {
            notes.push(h.strongest_hz);
        }
    }
    assert!(notes.len() >= 2, "a melody, not one tone: {notes:?}");
    // The holder hears nothing while the call is held.
    let alice_before = alice.calls()[0].rtp_received;
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        alice.calls()[0].rtp_received,
        alice_before,
        "the holder is not sent the music"
    );

    rt.block_on(alice.hold(&call, false))
        .expect("the call resumes");
    wait_heard(&bob, "bob hears alice again", |h| h.strongest_hz == 400.0);
    let alice_after = alice.calls()[0].rtp_received;
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        alice.calls()[0].rtp_received > alice_after + 10,
        "after the resume alice hears bob again"
    );
    rt.block_on(alice.hangup(&call)).unwrap();
}

#[test]
fn a_hold_music_file_that_is_not_audio_stops_startup_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("music.wav");
    std::fs::write(&bogus, b"not a wav file").unwrap();
    let config = common::write_config(
        dir.path(),
        &format!("[phones]\nhold_music = {:?}\n", bogus.to_str().unwrap()),
    );
    let out = std::process::Command::new(common::binary())
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("phones.hold_music"), "{err}");
    assert!(err.contains("WAV"), "{err}");
}
