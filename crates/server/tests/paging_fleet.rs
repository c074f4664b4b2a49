//! A page to a mixed fleet: a Cisco phone is pushed `RTPMRx:` and hears the page on the
//! multicast address, while phones of other makers (which take no push) are called with the
//! page's own media and answer by themselves: `phonesim` as a third-party phone, and baresip
//! (an independent SIP stack answering automatically). Every one hears the caller, and every
//! one is let go when the caller hangs up. A Cisco phone whose web server cannot be reached
//! is reported, with why, and the page goes on.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use dialtone_phonesim::PhoneEvent;
use serde_json::{json, Value};

fn ip(n: u8) -> IpAddr {
    IpAddr::from([127, 35, 5, n])
}

const THIRD_PARTY: &str = "Third-party SIP Device (Advanced)";

fn dev(n: u32) -> String {
    format!("SEP00DE0000{n}")
}

#[test]
fn a_mixed_group_pages_push_phones_by_multicast_and_calls_the_others_who_answer_by_themselves() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (node, _) = common::paging_node(dir.path());
    // 1002 and 1003 are phones of another maker; the demo group pages the three by name.
    for n in [1002, 1003] {
        common::patch(
            &node,
            "devices",
            &format!("name={}", dev(n)),
            json!({"model": THIRD_PARTY}),
        );
    }
    common::patch(
        &node,
        "paging-groups",
        "name=All Phones",
        json!({"devices": [dev(1001), dev(1002), dev(1003), dev(1004)], "device_pool": null}),
    );
    let caller = common::sim_phone(&rt, &node, 1000, ip(1), false);
    let cisco = common::sim_phone(&rt, &node, 1001, ip(2), false);
    let other = common::sim_phone(&rt, &node, 1002, ip(3), false);
    let mut baresip = common::Baresip::start(&node, "1003", true);
    // A Cisco phone whose web server is not where pushes go: it cannot take the page.
    let mut deaf = dialtone_phonesim::Spec::new(
        &dev(1004),
        &common::demo_password(&node, "user1004"),
        ip(4),
        &node.config_http,
    );
    deaf.web_port = common::free_port();
    deaf.t1 = Duration::from_millis(100);
    let _deaf = rt
        .block_on(dialtone_phonesim::Phone::start(deaf))
        .expect("the phone registers");
    common::wait_for_registrations(&node, 5);
    let mut cisco_events = cisco.events();
    let mut other_events = other.events();

    let call = rt
        .block_on(caller.dial("1960"))
        .expect("the paging server answers");
    common::wait_event(&rt, &cisco, &mut cisco_events, "pushed to join", |e| {
        matches!(e, PhoneEvent::Listening { .. })
    });
    let ringing = common::wait_event(&rt, &other, &mut other_events, "called", |e| {
        matches!(e, PhoneEvent::Ringing { .. })
    });
    match ringing {
        PhoneEvent::Ringing { from, .. } => {
            assert!(from.contains("1960"), "the page shows its number: {from}")
        }
        _ => unreachable!(),
    }
    common::wait_event(&rt, &other, &mut other_events, "answers by itself", |e| {
        matches!(e, PhoneEvent::AutoAnswer { .. })
    });
    baresip.wait_for("CALL_ESTABLISHED", 10);
    assert!(
        other.heard().is_none(),
        "the called phone was not pushed a stream"
    );

    // The caller's voice (phonesim's 400 Hz) on the multicast address and on the call.
    let on_call = common::wait_heard(&other, "the called phone hears the caller", |h| {
        h.packets >= 40 && h.strongest_hz == 400.0
    });
    assert!(on_call.level > 500.0, "{on_call:?}");
    std::thread::sleep(Duration::from_millis(500));
    let pushed = cisco.heard().expect("listening");
    assert_eq!(pushed.strongest_hz, 400.0, "{pushed:?}");
    assert!(pushed.packets >= 40, "{pushed:?}");

    rt.block_on(caller.hangup(&call)).unwrap();
    common::wait_event(&rt, &cisco, &mut cisco_events, "told to leave", |e| {
        matches!(e, PhoneEvent::StoppedListening { .. })
    });
    common::wait_event(&rt, &other, &mut other_events, "hung up", |e| {
        matches!(e, PhoneEvent::Ended { .. })
    });
    baresip.wait_for("CALL_CLOSED", 10);
    let (_, received) = baresip.quit();
    assert!(
        received > 25,
        "baresip received {received} packets of the page"
    );

    let record = common::ended_page(&node);
    assert!(record["failure"].is_null(), "{record}");
    let phone = |d: String| {
        record["phones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["device"] == d)
            .cloned()
            .unwrap_or(Value::Null)
    };
    for (n, via) in [(1001, "push"), (1002, "call"), (1003, "call")] {
        let p = phone(dev(n));
        assert_eq!(p["outcome"], "joined", "{n}: {record}");
        assert_eq!(p["via"], via, "{n}: {record}");
        assert_eq!(p["left"], true, "{n}: {record}");
    }
    let refused = phone(dev(1004));
    assert_eq!(refused["outcome"], "failed", "{record}");
    assert_eq!(refused["via"], "push", "{record}");
    assert!(
        refused["why"].as_str().is_some_and(|w| !w.is_empty()),
        "{record}"
    );
    assert!(refused["left"].is_null(), "{record}");
    // No call of the page outlives it.
    let mut calls = Value::Null;
    for _ in 0..50 {
        calls = common::get_json(&node, "/calls");
        if calls["items"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("calls left after the page: {calls}");
}

/// A caller speaking A-law is answered in A-law and transcoded by our own G.711 code: the
/// group hears the caller's pitch in µ-law on the multicast address, and the record names the
/// caller's codec.
#[test]
fn an_a_law_caller_is_transcoded_for_the_group() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (node, _) = common::paging_node(dir.path());
    let mut spec = dialtone_phonesim::Spec::new(
        &dev(1000),
        &common::demo_password(&node, "user1000"),
        ip(20),
        &node.config_http,
    );
    spec.web_port = common::PHONE_WEB_PORT;
    spec.t1 = Duration::from_millis(100);
    spec.law = dialtone_phonesim::media::Law::A;
    let caller = rt
        .block_on(dialtone_phonesim::Phone::start(spec))
        .expect("the A-law phone registers");
    let listener = common::sim_phone(&rt, &node, 1001, ip(21), false);
    let mut events = listener.events();
    let call = rt
        .block_on(caller.dial("1960"))
        .expect("the paging server answers an A-law caller");
    common::wait_event(&rt, &listener, &mut events, "pushed to join", |e| {
        matches!(e, PhoneEvent::Listening { .. })
    });
    std::thread::sleep(Duration::from_millis(1500));
    let heard = listener.heard().expect("listening");
    assert_eq!(heard.strongest_hz, 400.0, "the caller's voice: {heard:?}");
    assert!(heard.level > 500.0, "{heard:?}");
    rt.block_on(caller.hangup(&call)).unwrap();
    let record = common::ended_page(&node);
    assert_eq!(record["codec"], "PCMA", "{record}");
    assert!(record["failure"].is_null(), "{record}");
}
