//! Forced Authorization Codes at the tone, as the seed's WebDialer section describes: a call to
//! a route pattern that needs a code is answered by the node, the caller hears the prompt
//! tone and keys the code (RFC 4733), hears ringback from the node while the destination
//! rings, and is joined to it; a wrong code, or none, gets the reorder tone and a hang-up.

mod common;

use common::{Sip, Sipp, Start};

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dialtone_phonesim::listen::Heard;
use dialtone_phonesim::PhoneEvent;
use serde_json::json;

fn ip(n: u8) -> IpAddr {
    IpAddr::from([127, 35, 4, n])
}

/// Within 12 Hz of one of `hz`, loud enough to be a tone.
fn tone(hz: &'static [f64]) -> impl Fn(&Heard) -> bool {
    move |h| h.level > 300.0 && hz.iter().any(|f| (h.strongest_hz - f).abs() <= 12.0)
}

const PROMPT: &[f64] = &[1400.0];
const RINGBACK: &[f64] = &[440.0, 480.0];
const REORDER: &[f64] = &[480.0, 620.0];

fn post(node: &common::Node, collection: &str, body: serde_json::Value) {
    let r = common::admin(common::client().post(node.api(&format!("/{collection}"))))
        .json(&body)
        .send()
        .unwrap();
    assert!(
        r.status().is_success(),
        "{collection}: {}",
        r.text().unwrap()
    );
}

#[test]
fn a_code_keyed_at_the_tone_reaches_the_destination_and_a_wrong_one_hears_reorder() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = common::Node::start(
        dir.path(),
        &format!(
            "[sip]\ncode_digit_timeout_ms = 3000\nreorder_ms = 1500\n[phones]\nweb_port = {}\n",
            common::PHONE_WEB_PORT
        ),
        true,
    );
    let carrier = common::free_port();
    post(
        &node,
        "sip-trunks",
        json!({"name": "Carrier", "destination_host": "127.0.0.1", "destination_port": carrier, "transport": "udp"}),
    );
    post(
        &node,
        "route-groups",
        json!({"name": "Carrier_RG", "trunks": ["Carrier"]}),
    );
    post(
        &node,
        "route-lists",
        json!({"name": "Carrier_RL", "route_groups": ["Carrier_RG"]}),
    );
    post(
        &node,
        "forced-authorization-codes",
        json!({"name": "Sales", "code": "4321", "authorization_level": 10}),
    );
    post(
        &node,
        "route-patterns",
        json!({"pattern": "7XXX", "partition": "Internal_PT", "route_list": "Carrier_RL", "require_fac": true, "authorization_level": 5}),
    );
    common::wait_applied(&node);
    let alice = common::sim_phone(&rt, &node, 1001, ip(1), false);

    // The node answers and plays the prompt; the code is keyed; ringback while it rings.
    let far = Sipp::start(
        &node,
        Sip::Udp,
        "uas-offerless-ringing.xml",
        carrier,
        &[],
        &["-m", "1"],
    );
    let call = rt
        .block_on(alice.dial("7123"))
        .expect("the node answers to ask for the code");
    common::wait_heard(&alice, "the prompt tone", tone(PROMPT));
    alice.key(&call, "4321#").unwrap();
    common::wait_heard(
        &alice,
        "ringback from the node while the carrier rings",
        tone(RINGBACK),
    );
    // Joined: the node's tones stop (the carrier's sipp sends no audio).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let before = alice.calls()[0].rtp_received;
        std::thread::sleep(Duration::from_millis(300));
        if alice.calls()[0].rtp_received == before {
            break;
        }
        assert!(Instant::now() < deadline, "the node's tone never stopped");
    }
    rt.block_on(alice.hangup(&call)).unwrap();
    far.expect_success("the carrier was called without an offer and got the caller's answer");
    let records = common::call_records(&node, 1, Duration::from_secs(5));
    let r = &records[0];
    assert_eq!(
        (
            r["authorization_code_name"].as_str(),
            r["called_trunk"].as_str(),
            r["called_number"].as_str()
        ),
        (Some("Sales"), Some("Carrier"), Some("7123")),
        "{r}"
    );

    // A wrong code: reorder, then the node hangs up.
    let mut events = alice.events();
    let call = rt
        .block_on(alice.dial("7123"))
        .expect("answered for the code");
    common::wait_heard(&alice, "the prompt tone", tone(PROMPT));
    alice.key(&call, "9999#").unwrap();
    common::wait_heard(&alice, "reorder for a wrong code", tone(REORDER));
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "the node hangs up",
        |e| matches!(e, PhoneEvent::Ended { call_id } if *call_id == call),
    );

    // No code at all: once the entry times out, reorder and the hang-up too.
    let call = rt
        .block_on(alice.dial("7123"))
        .expect("answered for the code");
    common::wait_heard(&alice, "the prompt tone", tone(PROMPT));
    common::wait_heard(&alice, "reorder when nothing was keyed", tone(REORDER));
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "the node hangs up",
        |e| matches!(e, PhoneEvent::Ended { call_id } if *call_id == call),
    );
    let records = common::call_records(&node, 3, Duration::from_secs(5));
    assert!(
        records[..2]
            .iter()
            .all(|r| r["authorization_code_name"].is_null()),
        "{records:?}"
    );

    // An independent peer keys the code: baresip's RFC 4733 digits reach the carrier too.
    let far = Sipp::start(
        &node,
        Sip::Udp,
        "uas-offerless-ringing.xml",
        carrier,
        &[],
        &["-m", "1"],
    );
    let mut bob = common::Baresip::start(&node, "1002", false);
    common::wait_for_registrations(&node, 2);
    bob.command("dial", "7123");
    bob.wait_for("CALL_ESTABLISHED", 10);
    std::thread::sleep(Duration::from_millis(500));
    bob.command("sndcode", "4321#");
    // The carrier answers after ringing for 1.5 s; baresip hangs up once joined.
    std::thread::sleep(Duration::from_millis(3000));
    bob.command("hangup", "");
    far.expect_success("baresip's code reached the carrier");
    let r = &common::call_records(&node, 4, Duration::from_secs(5))[0];
    assert_eq!(r["authorization_code_name"], "Sales", "{r}");
}
