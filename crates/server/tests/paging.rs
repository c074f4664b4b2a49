//! The paging server end to end: simulated phones (`phonesim`) register, one dials a DialCast
//! number, the group's phones are pushed `RTPMRx:` with credentials minted for the page, hear
//! the caller's voice (phonesim's 400 Hz tone) on the multicast group and leave when the
//! caller hangs up; the page's record says who joined and who was left out and why.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use dialtone_phonesim::PhoneEvent;
use serde_json::{json, Value};

fn ip(n: u8) -> IpAddr {
    IpAddr::from([127, 35, 1, n])
}

/// A node whose pages go to addresses of their own (tests run side by side).
fn node(dir: &std::path::Path) -> common::Node {
    node_and_range(dir).0
}

/// A node and the first address of its paging range.
fn node_and_range(dir: &std::path::Path) -> (common::Node, std::net::Ipv4Addr) {
    common::paging_node(dir)
}

fn pages(node: &common::Node) -> Value {
    common::get_json(node, "/paging/pages")
}

#[test]
fn a_page_is_heard_by_the_group_at_the_callers_pitch_and_left_at_hang_up() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let caller = common::sim_phone(&rt, &node, 1000, ip(1), false);
    let listeners: Vec<_> = (1001u32..=1003)
        .zip(2u8..)
        .map(|(dn, n)| common::sim_phone(&rt, &node, dn, ip(n), false))
        .collect();
    let mut events: Vec<_> = listeners.iter().map(|p| p.events()).collect();

    // The demo's group "All Phones" (the Default device pool) answers 1960.
    let call = rt
        .block_on(caller.dial("1960"))
        .expect("the paging server answers");
    let mut address = String::new();
    for (phone, rx) in listeners.iter().zip(events.iter_mut()) {
        match common::wait_event(&rt, phone, rx, "the phone is told to join", |e| {
            matches!(e, PhoneEvent::Listening { .. })
        }) {
            PhoneEvent::Listening { address: a } => {
                assert!(
                    address.is_empty() || a == address,
                    "one group address: {a} {address}"
                );
                address = a;
            }
            _ => unreachable!(),
        }
    }
    let active = pages(&node);
    assert_eq!(active["active"].as_array().unwrap().len(), 1, "{active}");
    // The stall and the go-ahead are behind us once all three joined; the caller speaks.
    std::thread::sleep(Duration::from_millis(1500));
    for phone in &listeners {
        let heard = phone.heard().expect("listening");
        assert!(heard.packets >= 40, "{heard:?}");
        assert_eq!(heard.strongest_hz, 400.0, "the caller's voice: {heard:?}");
        assert!(heard.level > 500.0, "{heard:?}");
    }
    rt.block_on(caller.hangup(&call)).unwrap();
    for (phone, rx) in listeners.iter().zip(events.iter_mut()) {
        common::wait_event(
            &rt,
            phone,
            rx,
            "the phone leaves at hang-up",
            |e| matches!(e, PhoneEvent::StoppedListening { packets, .. } if *packets >= 40),
        );
    }
    // The record: three joined and left; the caller was not paged; the demo's other phones,
    // not registered, were left out with that reason.
    let mut record = Value::Null;
    for _ in 0..50 {
        let p = pages(&node);
        if let Some(r) = p["ended"].as_array().and_then(|e| e.first()) {
            record = r.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(record["groups"], json!(["All Phones"]), "{record}");
    assert_eq!(record["audio"], "caller");
    assert_eq!(record["calling"], "1000");
    assert_eq!(record["codec"], "PCMU");
    assert_eq!(record["address"], address);
    assert!(record["failure"].is_null(), "{record}");
    let phones = record["phones"].as_array().unwrap();
    let joined: Vec<&str> = phones
        .iter()
        .filter(|p| p["outcome"] == "joined")
        .map(|p| p["device"].as_str().unwrap())
        .collect();
    assert_eq!(joined.len(), 3, "{record}");
    assert!(
        !joined.contains(&"SEP00DE00001000"),
        "the caller is not paged"
    );
    assert!(phones
        .iter()
        .filter(|p| p["outcome"] == "joined")
        .all(|p| p["left"] == true));
    let unregistered = phones
        .iter()
        .filter(|p| p["outcome"] == "skipped" && p["why"] == "not_registered")
        .count();
    assert_eq!(unregistered, 16, "{record}");
    assert!(record["packets_in"].as_u64().unwrap() >= 40, "{record}");
    assert!(record["join_ms"].as_u64().unwrap() < 2000, "{record}");
}

#[test]
fn a_caller_offering_only_g729_is_answered_488_and_the_node_pages_on() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    // sipp calls the DialCast number offering G.729 and G.722 only: nothing to relay.
    let scenario = common::Sipp::scenario(
        &node,
        "uac-refused.xml.in",
        &[("CODE", "488"), ("FORMATS", "18 9")],
    );
    common::Sipp::start(
        &node,
        common::Sip::Udp,
        &scenario,
        0,
        &[&common::caller(&node, "1004", "1960")],
        &["-m", "1"],
    )
    .expect_success("a G.729 caller to the DialCast number is refused with 488");
    let mut record = Value::Null;
    for _ in 0..50 {
        if let Some(r) = pages(&node)["ended"].as_array().and_then(|e| e.first()) {
            record = r.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let failure = record["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("none of the offered codecs (18 9)"),
        "{record}"
    );
    assert!(pages(&node)["active"].as_array().unwrap().is_empty());
    // The next caller, in G.711, is paged (nothing was left behind by the refusal).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let caller = common::sim_phone(&rt, &node, 1005, ip(20), false);
    let listener = common::sim_phone(&rt, &node, 1006, ip(21), false);
    let mut rx = listener.events();
    let call = rt.block_on(caller.dial("1960")).expect("answered");
    common::wait_event(&rt, &listener, &mut rx, "the listener joins", |e| {
        matches!(e, PhoneEvent::Listening { .. })
    });
    rt.block_on(caller.hangup(&call)).unwrap();
    common::wait_event(&rt, &listener, &mut rx, "the listener leaves", |e| {
        matches!(e, PhoneEvent::StoppedListening { .. })
    });
}

/// PATCH the record of `collection` that `query` finds, or POST `body` when `query` is empty.
fn write(node: &common::Node, collection: &str, query: &str, body: Value) {
    let c = common::client();
    let r = if query.is_empty() {
        common::admin(c.post(node.api(&format!("/{collection}"))))
    } else {
        let found = common::get_json(node, &format!("/{collection}?{query}"));
        let id = found["items"][0]["id"].as_str().expect("found").to_string();
        common::admin(c.patch(node.api(&format!("/{collection}/{id}"))))
    };
    let r = r.json(&body).send().unwrap();
    assert!(
        r.status().is_success(),
        "{collection}: {}",
        r.text().unwrap()
    );
}

fn listening(
    rt: &tokio::runtime::Runtime,
    phone: &dialtone_phonesim::Phone,
    rx: &mut tokio::sync::broadcast::Receiver<PhoneEvent>,
) -> String {
    match common::wait_event(rt, phone, rx, "the phone joins the page", |e| {
        matches!(e, PhoneEvent::Listening { .. })
    }) {
        PhoneEvent::Listening { address } => address,
        _ => unreachable!(),
    }
}

fn outcome(record: &Value, device: &str) -> Value {
    record["phones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["device"] == device)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn dnd_and_busy_phones_are_left_out_as_the_group_says_and_two_pages_take_two_addresses() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let dev = |n: u32| format!("SEP00DE0000{n}");
    // The demo group pages three phones by name, leaving out DND and busy ones; a second
    // group on 1961 pages a fourth.
    write(
        &node,
        "devices",
        &format!("name={}", dev(1001)),
        json!({"dnd": true}),
    );
    write(
        &node,
        "paging-groups",
        "name=All Phones",
        json!({"devices": [dev(1001), dev(1002), dev(1003)], "device_pool": null,
               "skip_dnd": true, "skip_busy": true}),
    );
    write(
        &node,
        "directory-numbers",
        "",
        json!({"pattern": "1961", "partition": "Internal_PT", "css": "Internal_CSS"}),
    );
    write(
        &node,
        "devices",
        "",
        json!({"name": "RP_Second", "model": "CTI Route Point", "css": "Internal_CSS"}),
    );
    write(
        &node,
        "line-appearances",
        "",
        json!({"device": "RP_Second", "index": 1,
        "directory_number": {"pattern": "1961", "partition": "Internal_PT"}}),
    );
    write(
        &node,
        "paging-groups",
        "",
        json!({"name": "Second Floor", "dialcast_number": "1961", "devices": [dev(1006)]}),
    );
    common::wait_applied(&node);

    let phones: Vec<_> = [1000u32, 1001, 1002, 1003, 1004, 1005, 1006]
        .iter()
        .zip(40u8..)
        .map(|(dn, n)| common::sim_phone(&rt, &node, *dn, ip(n), *dn == 1005))
        .collect();
    let [caller_a, dnd, busy, free, caller_b, partner, second] = &phones[..] else {
        unreachable!()
    };
    let mut rx_free = free.events();
    let mut rx_second = second.events();
    let talk = rt.block_on(busy.dial("1005")).expect("1002 talks to 1005");
    let _ = partner;

    let page_a = rt
        .block_on(caller_a.dial("1960"))
        .expect("first page answered");
    let page_b = rt
        .block_on(caller_b.dial("1961"))
        .expect("second page answered");
    let address_a = listening(&rt, free, &mut rx_free);
    let address_b = listening(&rt, second, &mut rx_second);
    let ip_of = |a: &str| a.rsplit_once(':').unwrap().0.to_string();
    assert_ne!(
        ip_of(&address_a),
        ip_of(&address_b),
        "two pages, two multicast addresses"
    );
    assert!(
        dnd.heard().is_none() && busy.heard().is_none(),
        "neither was told to listen"
    );
    let active = pages(&node);
    let record = active["active"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["groups"][0] == "All Phones")
        .cloned()
        .expect("the first page is live");
    assert_eq!(
        outcome(&record, &dev(1001))["why"],
        "do_not_disturb",
        "{record}"
    );
    assert_eq!(outcome(&record, &dev(1002))["why"], "busy", "{record}");
    assert_eq!(
        outcome(&record, &dev(1003))["outcome"],
        "joined",
        "{record}"
    );
    rt.block_on(caller_a.hangup(&page_a)).unwrap();
    rt.block_on(caller_b.hangup(&page_b)).unwrap();
    for (phone, rx) in [(free, &mut rx_free), (second, &mut rx_second)] {
        common::wait_event(&rt, phone, rx, "each leaves its page", |e| {
            matches!(e, PhoneEvent::StoppedListening { .. })
        });
    }

    // An emergency group reaches everyone, DND or on a call.
    write(
        &node,
        "paging-groups",
        "name=All Phones",
        json!({"emergency": true}),
    );
    common::wait_applied(&node);
    let mut rx_dnd = dnd.events();
    let mut rx_busy = busy.events();
    let page = rt
        .block_on(caller_a.dial("1960"))
        .expect("the emergency page answered");
    listening(&rt, dnd, &mut rx_dnd);
    listening(&rt, busy, &mut rx_busy);
    rt.block_on(caller_a.hangup(&page)).unwrap();
    rt.block_on(busy.hangup(&talk)).unwrap();
}

/// POST a broadcast as the administrator: (status, body).
fn broadcast(node: &common::Node, body: Value) -> (u16, Value) {
    let r = common::admin(common::client().post(node.api("/paging/broadcasts")))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// The ended page `id`, once it has ended (up to 15 s).
fn ended(node: &common::Node, id: u64) -> Value {
    for _ in 0..150 {
        if let Some(r) = pages(node)["ended"]
            .as_array()
            .and_then(|e| e.iter().find(|r| r["id"] == id).cloned())
        {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("page {id} did not end: {}", pages(node));
}

/// A WAV file of `seconds` of a `hz` sine, base64.
fn sine_wav(hz: f64, seconds: f64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(common::sine_wav(hz, seconds))
}

#[test]
fn a_recorded_page_reaches_two_groups_once_each_and_they_leave_when_it_has_played() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let dev = |n: u32| format!("SEP00DE0000{n}");
    // "Lobby" names 1001 and 1002; "All Phones" (the Default pool) has 1001 too.
    write(
        &node,
        "paging-groups",
        "",
        json!({"name": "Lobby", "dialcast_number": "1961", "devices": [dev(1001), dev(1002)]}),
    );
    common::wait_applied(&node);
    let phones: Vec<_> = [1001u32, 1002, 1003]
        .iter()
        .zip(60u8..)
        .map(|(dn, n)| common::sim_phone(&rt, &node, *dn, ip(n), false))
        .collect();
    let mut events: Vec<_> = phones.iter().map(|p| p.events()).collect();
    let (status, sent) = broadcast(
        &node,
        json!({"groups": ["Lobby", "All Phones"], "wav": sine_wav(700.0, 1.5), "repeat": 2}),
    );
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["phones"], 3, "each phone once: {sent}");
    for (phone, rx) in phones.iter().zip(events.iter_mut()) {
        listening(&rt, phone, rx);
    }
    // The preamble (0.6 s of go-ahead beeps) is behind us after a second and a half.
    std::thread::sleep(Duration::from_millis(1500));
    for phone in &phones {
        let heard = phone.heard().expect("listening");
        assert_eq!(heard.strongest_hz, 700.0, "the recording: {heard:?}");
    }
    // It has played (0.6 + 3 s) and every phone is told to leave, by itself.
    for (phone, rx) in phones.iter().zip(events.iter_mut()) {
        match common::wait_event(
            &rt,
            phone,
            rx,
            "the phone leaves after the recording",
            |e| matches!(e, PhoneEvent::StoppedListening { .. }),
        ) {
            PhoneEvent::StoppedListening { packets, .. } => {
                assert!(
                    (150..=190).contains(&packets),
                    "3.6 s of 20 ms packets: {packets}"
                )
            }
            _ => unreachable!(),
        }
    }
    let record = ended(&node, sent["id"].as_u64().unwrap());
    assert_eq!(record["groups"], json!(["Lobby", "All Phones"]), "{record}");
    assert_eq!(record["calling"], "admin");
    assert_eq!(record["audio"], "recording");
    assert!(record["call"].is_null());
    assert!(record["failure"].is_null(), "{record}");
    let joined: Vec<&Value> = record["phones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["outcome"] == "joined")
        .collect();
    assert_eq!(joined.len(), 3, "{record}");
    assert!(joined.iter().all(|p| p["left"] == true), "{record}");
    // 30 frames of preamble, 150 of recording (1.5 s twice).
    assert_eq!(record["packets_out"], 180, "{record}");
}

#[test]
fn a_bad_broadcast_is_refused_naming_what_is_wrong_and_nothing_is_paged() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    // Nobody registered: the demo group has nobody to page.
    let (status, body) = broadcast(&node, json!({"groups": ["All Phones"], "tone": "busy"}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["field"], "groups", "{body}");
    let phone = common::sim_phone(&rt, &node, 1001, ip(70), false);
    let cases = [
        (
            json!({"groups": ["Nowhere"], "tone": "busy"}),
            404,
            "groups",
        ),
        (json!({"groups": [], "tone": "busy"}), 422, "groups"),
        (json!({"groups": ["All Phones"]}), 422, "tone"),
        (
            json!({"groups": ["All Phones"], "tone": "bell"}),
            422,
            "tone",
        ),
        (
            json!({"groups": ["All Phones"], "tone": "busy", "wav": "UklGRg=="}),
            422,
            "tone",
        ),
        (
            json!({"groups": ["All Phones"], "wav": "not base64!"}),
            422,
            "wav",
        ),
        // A text file sent as a recording.
        (
            json!({"groups": ["All Phones"], "wav": "aGVsbG8sIHdvcmxkCg=="}),
            422,
            "wav",
        ),
        (
            json!({"groups": ["All Phones"], "tone": "busy", "repeat": 0}),
            422,
            "repeat",
        ),
    ];
    for (body, want, field) in cases {
        let (status, answer) = broadcast(&node, body.clone());
        assert_eq!(status, want, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    let (status, answer) = broadcast(
        &node,
        json!({"groups": ["All Phones"], "tone": "busy", "colour": "red"}),
    );
    assert_eq!(status, 400, "an unknown field: {answer}");
    assert!(answer.to_string().contains("colour"), "{answer}");
    assert!(phone.heard().is_none(), "nothing was paged");
    let p = pages(&node);
    assert!(
        p["active"].as_array().unwrap().is_empty() && p["ended"].as_array().unwrap().is_empty(),
        "{p}"
    );
    // The node pages on: a good one goes through.
    let (status, sent) = broadcast(
        &node,
        json!({"groups": ["All Phones"], "tone": "busy", "preamble": false}),
    );
    assert_eq!(status, 202, "{sent}");
    let record = ended(&node, sent["id"].as_u64().unwrap());
    assert_eq!(record["audio"], "tone:busy");
    // One cycle of busy: 0.5 s on, 0.5 s off.
    assert_eq!(record["packets_out"], 50, "{record}");
}

#[test]
fn a_page_to_fifty_phones_is_heard_by_every_one_and_left_by_every_one() {
    const PHONES: usize = 50;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    // Fifty more phones in the demo's Default pool, so in its "All Phones" group.
    let mut csv =
        String::from("name,model,digest_user,digest_password,line1.pattern,line1.partition\n");
    for i in 0..PHONES {
        csv.push_str(&format!(
            "SEP0F1F7E{i:06},Cisco 8865,floor{i},pw-floor-{i},47{i:02},Internal_PT\n"
        ));
    }
    let r = common::admin(common::client().post(node.api("/bulk/devices")))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    common::wait_applied(&node);
    let caller = common::sim_phone(&rt, &node, 1000, ip(80), false);
    let floor: Vec<dialtone_phonesim::Phone> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..PHONES {
            let mut spec = dialtone_phonesim::Spec::new(
                &format!("SEP0F1F7E{i:06}"),
                &format!("pw-floor-{i}"),
                IpAddr::from([127, 35, 2, i as u8 + 1]),
                &node.config_http,
            );
            spec.web_port = common::PHONE_WEB_PORT;
            out.push(
                dialtone_phonesim::Phone::start(spec)
                    .await
                    .expect("the phone registers"),
            );
        }
        out
    });
    let mut events: Vec<_> = floor.iter().map(|p| p.events()).collect();
    let call = rt
        .block_on(caller.dial("1960"))
        .expect("the paging server answers");
    for (phone, rx) in floor.iter().zip(events.iter_mut()) {
        listening(&rt, phone, rx);
    }
    std::thread::sleep(Duration::from_millis(1500));
    for phone in &floor {
        let heard = phone.heard().expect("listening");
        assert_eq!(heard.strongest_hz, 400.0, "the caller's voice: {heard:?}");
        assert!(heard.lost == 0, "{heard:?}");
    }
    rt.block_on(caller.hangup(&call)).unwrap();
    for (phone, rx) in floor.iter().zip(events.iter_mut()) {
        common::wait_event(&rt, phone, rx, "every phone leaves at hang-up", |e| {
            matches!(e, PhoneEvent::StoppedListening { .. })
        });
    }
    let mut record = Value::Null;
    for _ in 0..100 {
        record = pages(&node)["ended"][0].clone();
        if !record.is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let joined = record["phones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["outcome"] == "joined" && p["left"] == true)
        .count();
    assert_eq!(joined, PHONES, "{record}");
    assert!(record["join_ms"].as_u64().unwrap() < 2000, "{record}");
}

/// POST a record as the administrator: (status, body).
fn create(node: &common::Node, collection: &str, body: Value) -> (u16, Value) {
    let r = common::admin(common::client().post(node.api(&format!("/{collection}"))))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn two_sites_paging_at_once_take_addresses_of_their_own_ranges() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (node, node_first) = node_and_range(dir.path());
    let dev = |n: u32| format!("SEP00DE0000{n}");
    // North's range is the node's first two addresses, so a page that is not North's must
    // step past them. South's lies outside the node's range (256 addresses).
    let at = |k: u32| std::net::Ipv4Addr::from(u32::from(node_first) + k).to_string();
    for pool in ["North", "South"] {
        assert_eq!(create(&node, "device-pools", json!({"name": pool})).0, 201);
    }
    let (status, body) = create(
        &node,
        "paging-sites",
        json!({"name": "North Building", "device_pool": "North", "multicast_first": at(0), "multicast_count": 2}),
    );
    assert_eq!(status, 201, "{body}");
    // Refused, each naming the field: a range overlapping North's, a second site for North,
    // an address that is not administratively scoped multicast.
    let (status, body) = create(
        &node,
        "paging-sites",
        json!({"name": "South Building", "device_pool": "South", "multicast_first": at(1)}),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("multicast_first")),
        "{body}"
    );
    let (status, body) = create(
        &node,
        "paging-sites",
        json!({"name": "North Annex", "device_pool": "North", "multicast_first": at(600)}),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("device_pool")),
        "{body}"
    );
    let (status, body) = create(
        &node,
        "paging-sites",
        json!({"name": "South Building", "device_pool": "South", "multicast_first": "224.0.0.1"}),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("multicast_first")),
        "{body}"
    );
    let (status, body) = create(
        &node,
        "paging-sites",
        json!({"name": "South Building", "device_pool": "South", "multicast_first": at(600), "multicast_count": 4}),
    );
    assert_eq!(status, 201, "{body}");
    for (n, pool) in [(1001, "North"), (1002, "North"), (1003, "South")] {
        write(
            &node,
            "devices",
            &format!("name={}", dev(n)),
            json!({"device_pool": pool}),
        );
    }
    for (name, number, devices) in [
        ("North Floor", "1961", vec![dev(1001), dev(1002)]),
        ("South Floor", "1962", vec![dev(1003)]),
        ("Across", "1963", vec![dev(1002), dev(1004)]),
    ] {
        let (status, body) = create(
            &node,
            "paging-groups",
            json!({"name": name, "dialcast_number": number, "devices": devices}),
        );
        assert_eq!(status, 201, "{body}");
    }
    common::wait_applied(&node);
    let phones: Vec<_> = [1001u32, 1002, 1003, 1004]
        .iter()
        .zip(80u8..)
        .map(|(dn, n)| common::sim_phone(&rt, &node, *dn, ip(n), false))
        .collect();
    let mut events: Vec<_> = phones.iter().map(|p| p.events()).collect();
    let ip_of = |a: &str| a.rsplit_once(':').unwrap().0.to_string();

    // North and South page at once: each from its own range.
    let (status, north) = broadcast(
        &node,
        json!({"groups": ["North Floor"], "tone": "busy", "repeat": 10}),
    );
    assert_eq!(status, 202, "{north}");
    let (status, south) = broadcast(
        &node,
        json!({"groups": ["South Floor"], "tone": "busy", "repeat": 10}),
    );
    assert_eq!(status, 202, "{south}");
    for (i, want) in [(0, at(0)), (1, at(0)), (2, at(600))] {
        let heard = listening(&rt, &phones[i], &mut events[i]);
        assert_eq!(ip_of(&heard), want, "phone {i}");
    }
    let record = ended(&node, north["id"].as_u64().unwrap());
    assert_eq!(record["site"], "North Building", "{record}");
    let record = ended(&node, south["id"].as_u64().unwrap());
    assert_eq!(record["site"], "South Building", "{record}");

    // While North pages again (its first address), a page across sites takes the node's
    // first address outside every site's range.
    let (_, north) = broadcast(
        &node,
        json!({"groups": ["North Floor"], "tone": "busy", "repeat": 10}),
    );
    listening(&rt, &phones[0], &mut events[0]);
    let (status, across) = broadcast(&node, json!({"groups": ["Across"], "tone": "busy"}));
    assert_eq!(status, 202, "{across}");
    let heard = listening(&rt, &phones[3], &mut events[3]);
    assert_eq!(ip_of(&heard), at(2), "past North's two addresses");
    let record = ended(&node, across["id"].as_u64().unwrap());
    assert!(record["site"].is_null(), "{record}");
    ended(&node, north["id"].as_u64().unwrap());
}

#[test]
fn a_scheduled_page_plays_its_file_at_its_local_time_and_bad_schedules_are_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let schedule = |body: Value| {
        common::admin(common::client().post(node.api("/paging-schedules")))
            .json(&body)
            .send()
            .unwrap()
    };
    let base = json!({"name": "Bad", "groups": ["All Phones"], "tone": "busy", "days": "mon", "time": "08:00"});
    for (change, field) in [
        (json!({"days": "funday"}), "days"),
        (json!({"time": "25:00"}), "time"),
        (json!({"time_zone": "Mars/Olympus_Mons"}), "time_zone"),
        (json!({"date": "2026-12-24"}), "days"),
        (json!({"tone": null}), "tone"),
        (json!({"groups": ["Nobody"]}), "groups"),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = schedule(body.clone());
        assert!(r.status().is_client_error(), "{body}");
        let text = r.text().unwrap();
        assert!(text.contains(field), "{body}: {text}");
    }
    assert_eq!(
        common::get_json(&node, "/paging-schedules")["items"],
        json!([])
    );

    let phones: Vec<_> = [1001u32, 1002]
        .iter()
        .zip(90u8..)
        .map(|(dn, n)| common::sim_phone(&rt, &node, *dn, ip(n), false))
        .collect();
    let mut events: Vec<_> = phones.iter().map(|p| p.events()).collect();
    // Three seconds from now on New York's clock: that day of the week, that time of day.
    let bell = dir.path().join("bell.wav");
    std::fs::write(&bell, common::sine_wav(700.0, 1.0)).unwrap();
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(3))
        .unwrap()
        .in_tz("America/New_York")
        .unwrap();
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [at.weekday().to_monday_zero_offset() as usize];
    let r = schedule(json!({
        "name": "Bell", "groups": ["All Phones"], "file": bell.to_str().unwrap(),
        "days": day, "time": format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second()),
        "time_zone": "America/New_York", "preamble": false
    }));
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    for (phone, rx) in phones.iter().zip(events.iter_mut()) {
        listening(&rt, phone, rx);
    }
    std::thread::sleep(Duration::from_millis(500));
    for phone in &phones {
        let heard = phone.heard().expect("listening");
        assert_eq!(heard.strongest_hz, 700.0, "the bell's file: {heard:?}");
    }
    for (phone, rx) in phones.iter().zip(events.iter_mut()) {
        common::wait_event(&rt, phone, rx, "the phone leaves after the bell", |e| {
            matches!(e, PhoneEvent::StoppedListening { .. })
        });
    }
    let record = pages(&node)["ended"][0].clone();
    assert_eq!(record["calling"], "schedule:Bell", "{record}");
    assert_eq!(record["groups"], json!(["All Phones"]), "{record}");
    assert_eq!(record["packets_out"], 50, "one second of bell: {record}");
}
