//! Calls between demo phones through a real node, driven by sipp (an independent SIP
//! implementation) over UDP and TCP. Each test registers the called phones from sipp bound
//! to a port, then runs a UAS scenario on that port and a UAC scenario calling it.

mod common;

use common::*;
use serde_json::Value;

fn admin(rb: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
    rb.basic_auth("admin", Some(ADMIN_PASSWORD))
}

fn get(node: &Node, path: &str) -> Value {
    admin(client().get(node.api(path)))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The caller's CSV line for uac-*.xml: calling line, called number, credentials.
fn caller(node: &Node, line: &str, called: &str) -> String {
    let user = format!("user{line}");
    let pw = demo_password(node, &user);
    format!("{line};{called};[authentication username={user} password={pw}]")
}

/// The newest call detail records, waiting for `n` to be written.
fn records(node: &Node, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let v = get(node, "/call-records");
        let items = v["items"].as_array().unwrap().clone();
        if items.len() >= n {
            return items;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "fewer than {n} call records: {}",
        get(node, "/call-records")
    );
}

#[test]
fn a_call_is_answered_and_recorded_over_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    for (i, (t, line)) in [(Sip::Udp, "1001"), (Sip::Tcp, "1002")]
        .into_iter()
        .enumerate()
    {
        let port = free_port();
        register_line(&node, t, port, line, &format!("user{line}"));
        let uas = Sipp::start(&node, t, "uas-answer.xml", port, &[], &["-m", "1"]);
        let uac = Sipp::start(
            &node,
            t,
            "uac-call.xml",
            0,
            &[&caller(&node, "1000", line)],
            &["-m", "1", "-d", "300"],
        );
        uac.expect_success(&format!("{t:?} caller"));
        uas.expect_success(&format!("{t:?} called phone"));
        let r = &records(&node, i + 1)[0];
        assert_eq!(r["calling_number"], "1000", "{r}");
        assert_eq!(r["calling_device"], "SEP00DE00001000", "{r}");
        assert_eq!(r["called_number"], line, "{r}");
        assert_eq!(r["called_device"], format!("SEP00DE0000{line}"), "{r}");
        assert_eq!(r["pattern"], line, "{r}");
        assert_eq!(r["partition"], "Internal_PT", "{r}");
        assert_eq!(r["cause"], "normal", "{r}");
        assert_eq!(r["ended_by"], "calling", "{r}");
        assert_eq!(r["sip_status"], 200, "{r}");
        assert!(r["answered_at"].as_i64().is_some(), "{r}");
    }
    assert_eq!(get(&node, "/calls")["items"], serde_json::json!([]));
}

fn post(node: &Node, resource: &str, body: Value) {
    let r = admin(client().post(node.api(&format!("/{resource}"))))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "POST {resource}: {status} {}",
        r.text().unwrap()
    );
}

/// Change a demo directory number (in Internal_PT).
fn set_line(node: &Node, number: &str, body: Value) {
    let v = get(node, &format!("/directory-numbers?pattern={number}"));
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let r = admin(client().patch(node.api(&format!("/directory-numbers/{id}"))))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "PATCH {number}: {status} {}",
        r.text().unwrap()
    );
    // The directory snapshot follows the store within milliseconds.
    std::thread::sleep(std::time::Duration::from_millis(150));
}

fn refused(node: &Node, t: Sip, from: &str, to: &str, code: &str) {
    let scen = Sipp::scenario(node, "uac-refused.xml.in", &[("CODE", code)]);
    Sipp::start(node, t, &scen, 0, &[&caller(node, from, to)], &["-m", "1"])
        .expect_success(&format!("{t:?} call {from} -> {to} refused with {code}"));
}

#[test]
fn busy_cancel_and_hang_up_from_either_side_over_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let mut expected = 0;
    // A line each: a phone's binding outlives its sipp process, and a second contact on the
    // same line would be rung too.
    for (t, line) in [(Sip::Udp, "1001"), (Sip::Tcp, "1002")] {
        let port = free_port();
        register_line(&node, t, port, line, &format!("user{line}"));

        let uas = Sipp::start(&node, t, "uas-busy.xml", port, &[], &["-m", "1"]);
        refused(&node, t, "1000", line, "486");
        uas.expect_success("busy phone");
        expected += 1;
        let r = &records(&node, expected)[0];
        assert_eq!(
            (r["cause"].as_str(), r["sip_status"].as_u64()),
            (Some("busy"), Some(486)),
            "{r}"
        );

        let uas = Sipp::start(&node, t, "uas-ring.xml", port, &[], &["-m", "1"]);
        Sipp::start(
            &node,
            t,
            "uac-cancel.xml",
            0,
            &[&caller(&node, "1000", line)],
            &["-m", "1"],
        )
        .expect_success("caller cancelling");
        uas.expect_success("ringing phone");
        expected += 1;
        let r = &records(&node, expected)[0];
        assert_eq!(
            (r["cause"].as_str(), r["ended_by"].as_str()),
            (Some("cancelled"), Some("calling")),
            "{r}"
        );
        assert!(r["answered_at"].is_null(), "{r}");

        let uas = Sipp::start(&node, t, "uas-hangup.xml", port, &[], &["-m", "1"]);
        Sipp::start(
            &node,
            t,
            "uac-hungup.xml",
            0,
            &[&caller(&node, "1000", line)],
            &["-m", "1"],
        )
        .expect_success("caller hung up on");
        uas.expect_success("phone hanging up");
        expected += 1;
        let r = &records(&node, expected)[0];
        assert_eq!(
            (r["cause"].as_str(), r["ended_by"].as_str()),
            (Some("normal"), Some("called")),
            "{r}"
        );
    }
}

#[test]
fn hold_and_resume_with_reinvite_and_update_and_glare() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    for (t, line) in [(Sip::Udp, "1001"), (Sip::Tcp, "1002")] {
        let port = free_port();
        register_line(&node, t, port, line, &format!("user{line}"));
        for uas_scenario in ["uas-hold.xml", "uas-glare.xml"] {
            let uas = Sipp::start(&node, t, uas_scenario, port, &[], &["-m", "1"]);
            Sipp::start(
                &node,
                t,
                "uac-hold.xml",
                0,
                &[&caller(&node, "1000", line)],
                &["-m", "1"],
            )
            .expect_success(&format!("{t:?} caller holding ({uas_scenario})"));
            uas.expect_success(&format!("{t:?} {uas_scenario}"));
        }
    }
    let r = records(&node, 4);
    assert!(r.iter().all(|r| r["cause"] == "normal"), "{r:?}");
}

#[test]
fn forwarding_all_and_no_answer_carries_diversion() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let t = Sip::Udp;
    set_line(
        &node,
        "1001",
        serde_json::json!({"cfna_destination": "1002", "no_answer_timer": 1}),
    );
    let (p1, p2) = (free_port(), free_port());
    register_line(&node, t, p1, "1001", "user1001");
    register_line(&node, t, p2, "1002", "user1002");

    // No answer on 1001 within its one-second timer: the call moves to 1002.
    let ringing = Sipp::start(&node, t, "uas-ring.xml", p1, &[], &["-m", "1"]);
    let scen = Sipp::scenario(
        &node,
        "uas-answer-diverted.xml.in",
        &[("FROM", "1001"), ("REASON", "no-answer")],
    );
    let answering = Sipp::start(&node, t, &scen, p2, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1", "-d", "200"],
    )
    .expect_success("caller forwarded on no answer");
    ringing.expect_success("1001 rang, then was cancelled");
    answering.expect_success("1002 answered with Diversion");
    let r = &records(&node, 1)[0];
    assert_eq!(r["dialled_number"], "1001", "{r}");
    assert_eq!(r["called_number"], "1002", "{r}");
    assert_eq!(r["called_device"], "SEP00DE00001002", "{r}");
    assert_eq!(r["original_called_number"], "1001", "{r}");
    assert_eq!(r["redirect_reason"], "no-answer", "{r}");

    // Forward all from 1003: 1003's phone never rings.
    set_line(
        &node,
        "1003",
        serde_json::json!({"cfa_destination": "1002"}),
    );
    let scen = Sipp::scenario(
        &node,
        "uas-answer-diverted.xml.in",
        &[("FROM", "1003"), ("REASON", "unconditional")],
    );
    let answering = Sipp::start(&node, t, &scen, p2, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1003")],
        &["-m", "1", "-d", "100"],
    )
    .expect_success("caller forwarded all");
    answering.expect_success("1002 answered 1003's call");
    let r = &records(&node, 2)[0];
    assert_eq!(
        (r["called_number"].as_str(), r["redirect_reason"].as_str()),
        (Some("1002"), Some("unconditional")),
        "{r}"
    );

    // Busy on 1001 with Call Forward Busy to 1002.
    set_line(
        &node,
        "1001",
        serde_json::json!({"cfna_destination": "", "cfb_destination": "1002"}),
    );
    let busy = Sipp::start(&node, t, "uas-busy.xml", p1, &[], &["-m", "1"]);
    let scen = Sipp::scenario(
        &node,
        "uas-answer-diverted.xml.in",
        &[("FROM", "1001"), ("REASON", "user-busy")],
    );
    let answering = Sipp::start(&node, t, &scen, p2, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1", "-d", "100"],
    )
    .expect_success("caller forwarded on busy");
    busy.expect_success("1001 busy");
    answering.expect_success("1002 answered 1001's busy forward");

    // Unregistered 1004 with Call Forward Unregistered to 1002.
    set_line(
        &node,
        "1004",
        serde_json::json!({"cfur_destination": "1002", "cfur_css": "Internal_CSS"}),
    );
    let scen = Sipp::scenario(
        &node,
        "uas-answer-diverted.xml.in",
        &[("FROM", "1004"), ("REASON", "unavailable")],
    );
    let answering = Sipp::start(&node, t, &scen, p2, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1004")],
        &["-m", "1", "-d", "100"],
    )
    .expect_success("caller forwarded unregistered");
    answering.expect_success("1002 answered 1004's unregistered forward");
}

#[test]
fn a_shared_line_rings_everywhere_and_is_answered_on_the_second_device() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    post(
        &node,
        "line-appearances",
        serde_json::json!({
            "device": "SEP00DE00001002", "index": 2,
            "directory_number": {"pattern": "1001", "partition": "Internal_PT"}
        }),
    );
    std::thread::sleep(std::time::Duration::from_millis(150));
    let t = Sip::Udp;
    let (p1, p2) = (free_port(), free_port());
    register_line(&node, t, p1, "1001", "user1001");
    // The second device registers the shared line with its own credentials.
    register_line(&node, t, p2, "1001", "user1002");
    let first = Sipp::start(&node, t, "uas-ring-elsewhere.xml", p1, &[], &["-m", "1"]);
    let second = Sipp::start(&node, t, "uas-answer.xml", p2, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1", "-d", "200"],
    )
    .expect_success("call to the shared line");
    second.expect_success("second device answered");
    first.expect_success("first device cancelled: call completed elsewhere");
    let r = &records(&node, 1)[0];
    assert_eq!(r["called_device"], "SEP00DE00001002", "{r}");
}

#[test]
fn session_timers_clean_up_a_dead_call() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "[sip]\nmin_session_expires = 1\n", true);
    let t = Sip::Udp;
    let port = free_port();
    register_line(&node, t, port, "1001", "user1001");
    let uas = Sipp::start(&node, t, "uas-answer-bye.xml", port, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-session.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1"],
    )
    .expect_success("silent caller released by Dialtone");
    uas.expect_success("called phone released by Dialtone");
    let r = &records(&node, 1)[0];
    assert_eq!(
        (r["cause"].as_str(), r["ended_by"].as_str()),
        (Some("session_expired"), Some("system")),
        "{r}"
    );
}

#[test]
fn trunks_fail_over_and_inbound_trunk_calls_use_the_trunk_css() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let (p1, p2, p3, phone) = (free_port(), free_port(), free_port(), free_port());
    for (name, port) in [("Carrier_A", p1), ("Carrier_B", p2)] {
        post(
            &node,
            "sip-trunks",
            serde_json::json!({"name": name, "destination_host": "127.0.0.1", "destination_port": port, "transport": "udp"}),
        );
        post(
            &node,
            "route-groups",
            serde_json::json!({"name": format!("{name}_RG"), "trunks": [name]}),
        );
    }
    post(
        &node,
        "route-lists",
        serde_json::json!({"name": "Carriers_RL", "route_groups": ["Carrier_A_RG", "Carrier_B_RG"]}),
    );
    post(
        &node,
        "route-patterns",
        serde_json::json!({"pattern": "8XXX", "partition": "Internal_PT", "route_list": "Carriers_RL"}),
    );
    post(
        &node,
        "sip-trunks",
        serde_json::json!({"name": "Inbound", "destination_host": "127.0.0.1", "destination_port": p3, "transport": "udp", "css": "Internal_CSS"}),
    );
    std::thread::sleep(std::time::Duration::from_millis(150));
    let t = Sip::Udp;

    let out_of_service = Sipp::start(&node, t, "uas-503.xml", p1, &[], &["-m", "1"]);
    let carrier = Sipp::start(&node, t, "uas-answer.xml", p2, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "8123")],
        &["-m", "1", "-d", "200"],
    )
    .expect_success("call out through the route list");
    out_of_service.expect_success("first trunk said 503");
    carrier.expect_success("second trunk answered");
    let r = &records(&node, 1)[0];
    assert_eq!(
        (r["called_trunk"].as_str(), r["called_number"].as_str()),
        (Some("Carrier_B"), Some("8123")),
        "{r}"
    );
    assert_eq!(r["pattern"], "8XXX", "{r}");

    register_line(&node, t, phone, "1001", "user1001");
    let uas = Sipp::start(&node, t, "uas-answer.xml", phone, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-trunk.xml",
        p3,
        &["5551234;1001;x"],
        &["-m", "1", "-d", "200"],
    )
    .expect_success("inbound trunk call");
    uas.expect_success("phone answered the trunk call");
    let r = &records(&node, 2)[0];
    assert_eq!(
        (r["calling_trunk"].as_str(), r["calling_number"].as_str()),
        (Some("Inbound"), Some("5551234")),
        "{r}"
    );
}

#[test]
fn bad_calls_are_refused_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let t = Sip::Udp;
    refused(&node, t, "1000", "5555", "404");
    refused(&node, t, "1000", "1006", "480");
    // Calling oneself on a line no other device carries: busy.
    refused(&node, t, "1000", "1000", "486");
    // Forward all in a circle: stopped as a loop.
    set_line(
        &node,
        "1004",
        serde_json::json!({"cfa_destination": "1005"}),
    );
    set_line(
        &node,
        "1005",
        serde_json::json!({"cfa_destination": "1004"}),
    );
    refused(&node, t, "1000", "1004", "482");
    // A wrong password never gets past the challenge.
    let wrong = "1000;1001;[authentication username=user1000 password=wrong]";
    let (ok, _) = Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[wrong],
        &["-m", "1", "-timeout", "5s"],
    )
    .finish();
    assert!(!ok, "a wrong password must not place a call");
    // Malformed requests get 400 and the node keeps serving.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    sock.send_to(
        format!("INVITE sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbad\r\nFrom: <sip:1000@x>;tag=1\r\nTo: <sip:1001@x>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        &node.sip_udp,
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock
        .recv_from(&mut buf)
        .expect("an answer to a request without Call-ID");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("SIP/2.0 400"), "{text}");
    let r = records(&node, 4);
    let causes: Vec<&str> = r.iter().map(|r| r["cause"].as_str().unwrap()).collect();
    assert_eq!(
        causes,
        ["loop", "busy", "unavailable", "unallocated_number"],
        "{r:?}"
    );
    // Still serving: a good call connects.
    let port = free_port();
    register_line(&node, t, port, "1001", "user1001");
    let uas = Sipp::start(&node, t, "uas-answer.xml", port, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1"],
    )
    .expect_success("a good call after the bad ones");
    uas.expect_success("answered");
}
