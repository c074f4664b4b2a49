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
    common::wait_heard(&bob, "bob hears alice", |h| h.strongest_hz == 400.0);

    rt.block_on(alice.hold(&call, true))
        .expect("the hold is taken");
    let held = common::wait_heard(&bob, "bob hears the hold music", is_melody);
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
    common::wait_heard(&bob, "bob hears alice again", |h| h.strongest_hz == 400.0);
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

/// Hold `call` from `alice` and wait until `bob` hears what `pred` accepts; then resume.
fn held_hears(
    rt: &tokio::runtime::Runtime,
    alice: &Phone,
    bob: &Phone,
    call: &str,
    what: &str,
    pred: impl Fn(&Heard) -> bool,
) {
    rt.block_on(alice.hold(call, true))
        .expect("the hold is taken");
    common::wait_heard(bob, what, pred);
    rt.block_on(alice.hold(call, false))
        .expect("the call resumes");
    common::wait_heard(bob, "bob hears alice again", |h| h.strongest_hz == 400.0);
}

fn near(hz: f64) -> impl Fn(&Heard) -> bool {
    move |h| h.level > 500.0 && (h.strongest_hz - hz).abs() <= 12.0
}

#[test]
fn the_holders_line_and_device_pool_choose_the_audio_source() {
    use serde_json::json;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = common::Node::start(
        dir.path(),
        &format!("[phones]\nweb_port = {}\n", common::PHONE_WEB_PORT),
        true,
    );
    let create = |body: serde_json::Value| {
        common::admin(common::client().post(node.api("/moh-audio-sources")))
            .json(&body)
            .send()
            .unwrap()
    };
    // Bad sources are refused naming the field, and nothing is stored.
    for (body, field) in [
        (json!({"name": "No file", "audio": "file"}), "file"),
        (
            json!({"name": "Relative", "audio": "file", "file": "music/lobby.wav"}),
            "file",
        ),
        (
            json!({"name": "Stray", "audio": "melody", "file": "/tmp/x.wav"}),
            "file",
        ),
        (json!({"name": "Odd", "audio": "jazz"}), "audio"),
    ] {
        let r = create(body.clone());
        assert_eq!(r.status().as_u16(), 422, "{body}");
        let text = r.text().unwrap();
        assert!(text.contains(field), "{body}: {text}");
    }
    assert_eq!(
        common::get_json(&node, "/moh-audio-sources")["items"],
        json!([])
    );

    let lobby = dir.path().join("lobby.wav");
    std::fs::write(&lobby, common::sine_wav(1000.0, 2.0)).unwrap();
    let r = create(json!({"name": "Lobby", "audio": "file", "file": lobby.to_str().unwrap()}));
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    let r = create(json!({"name": "Tune", "audio": "melody"}));
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    common::patch(
        &node,
        "device-pools",
        "name=Default",
        json!({"hold_audio_source": "Lobby"}),
    );

    let alice = common::sim_phone(&rt, &node, 1001, ip(11), false);
    let bob = common::sim_phone(&rt, &node, 1002, ip(12), true);
    let call = rt.block_on(alice.dial("1002")).expect("bob answers");
    common::wait_heard(&bob, "bob hears alice", |h| h.strongest_hz == 400.0);
    // The pool's file plays...
    held_hears(
        &rt,
        &alice,
        &bob,
        &call,
        "bob hears the pool's file",
        near(1000.0),
    );
    // ...until alice's line chooses a source of its own.
    common::patch(
        &node,
        "directory-numbers",
        "pattern=1001",
        json!({"hold_audio_source": "Tune"}),
    );
    held_hears(
        &rt,
        &alice,
        &bob,
        &call,
        "bob hears the line's melody",
        is_melody,
    );
    // A source in use cannot be deleted.
    let id = common::get_json(&node, "/moh-audio-sources?name=Tune")["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = common::admin(common::client().delete(node.api(&format!("/moh-audio-sources/{id}"))))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409, "{}", r.text().unwrap());
    // A file the node cannot play: the default (the melody here) plays instead.
    common::patch(
        &node,
        "directory-numbers",
        "pattern=1001",
        json!({"hold_audio_source": null}),
    );
    std::fs::write(&lobby, b"no longer audio").unwrap();
    held_hears(
        &rt,
        &alice,
        &bob,
        &call,
        "the node's default instead of a broken file",
        is_melody,
    );
    rt.block_on(alice.hangup(&call)).unwrap();
}
