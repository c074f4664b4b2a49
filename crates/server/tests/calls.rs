//! Calls between demo phones through a real node, driven by sipp (an independent SIP
//! implementation) over UDP and TCP. Each test registers the called phones from sipp bound
//! to a port, then runs a UAS scenario on that port and a UAC scenario calling it.

mod common;

use common::*;
use serde_json::Value;

fn get(node: &Node, path: &str) -> Value {
    admin(client().get(node.api(path)))
        .send()
        .unwrap()
        .json()
        .unwrap()
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
    wait_applied(node);
}

/// One call between sipp scenarios: the called side's scenario on `port` (where its line is
/// registered), the caller's with `csv`; both must succeed.
fn sipp_call(
    node: &Node,
    t: Sip,
    (called, port): (&str, u16),
    calling: &str,
    csv: &str,
    extra: &[&str],
) {
    let uas = Sipp::start(node, t, called, port, &[], &["-m", "1"]);
    let mut args = vec!["-m", "1"];
    args.extend_from_slice(extra);
    Sipp::start(node, t, calling, 0, &[csv], &args)
        .expect_success(&format!("{t:?} caller ({calling} against {called})"));
    uas.expect_success(&format!("{t:?} called side ({called})"));
}

fn refused(node: &Node, t: Sip, from: &str, to: &str, code: &str) {
    let scen = Sipp::scenario(
        node,
        "uac-refused.xml.in",
        &[("CODE", code), ("FORMATS", "0")],
    );
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

        // Cancelled while ringing, then hung up by the called phone.
        for (called, calling, cause, by) in [
            ("uas-ring.xml", "uac-cancel.xml", "cancelled", "calling"),
            ("uas-hangup.xml", "uac-hungup.xml", "normal", "called"),
        ] {
            let csv = caller(&node, "1000", line);
            sipp_call(&node, t, (called, port), calling, &csv, &[]);
            expected += 1;
            let r = &records(&node, expected)[0];
            assert_eq!(
                (r["cause"].as_str(), r["ended_by"].as_str()),
                (Some(cause), Some(by)),
                "{r}"
            );
            assert_eq!(r["answered_at"].is_null(), cause == "cancelled", "{r}");
        }
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
            sipp_call(
                &node,
                t,
                (uas_scenario, port),
                "uac-hold.xml",
                &caller(&node, "1000", line),
                &[],
            );
        }
    }
    let r = records(&node, 4);
    assert!(r.iter().all(|r| r["cause"] == "normal"), "{r:?}");
}

/// A call from 1000 to `dialled` that is forwarded to 1002 (registered on `answer_port`),
/// whose INVITE must carry Diversion from `dialled` with `reason`. `first` is the forwarding
/// line's own phone, when it rings (no answer) or answers busy before the forward.
fn forwarded_call(
    node: &Node,
    t: Sip,
    first: Option<(&str, u16)>,
    answer_port: u16,
    dialled: &str,
    reason: &str,
) {
    let first =
        first.map(|(scenario, port)| Sipp::start(node, t, scenario, port, &[], &["-m", "1"]));
    let scen = Sipp::scenario(
        node,
        "uas-answer-diverted.xml.in",
        &[("FROM", dialled), ("REASON", reason)],
    );
    sipp_call(
        node,
        t,
        (&scen, answer_port),
        "uac-call.xml",
        &caller(node, "1000", dialled),
        &["-d", "100"],
    );
    if let Some(first) = first {
        first.expect_success(&format!(
            "{dialled}'s own phone before the {reason} forward"
        ));
    }
}

#[test]
fn forwarding_all_and_no_answer_carries_diversion() {
    for t in [Sip::Udp, Sip::Tcp] {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(dir.path(), "", true);
        set_line(
            &node,
            "1001",
            serde_json::json!({"cfna_destination": "1002", "no_answer_timer": 1}),
        );
        let (p1, p2) = (free_port(), free_port());
        register_line(&node, t, p1, "1001", "user1001");
        register_line(&node, t, p2, "1002", "user1002");

        // No answer on 1001 within its one-second timer: the call moves to 1002.
        forwarded_call(
            &node,
            t,
            Some(("uas-ring.xml", p1)),
            p2,
            "1001",
            "no-answer",
        );
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
        forwarded_call(&node, t, None, p2, "1003", "unconditional");
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
        forwarded_call(
            &node,
            t,
            Some(("uas-busy.xml", p1)),
            p2,
            "1001",
            "user-busy",
        );

        // Unregistered 1004 with Call Forward Unregistered to 1002.
        set_line(
            &node,
            "1004",
            serde_json::json!({"cfur_destination": "1002", "cfur_css": "Internal_CSS"}),
        );
        forwarded_call(&node, t, None, p2, "1004", "unavailable");
        assert_eq!(records(&node, 4)[0]["redirect_reason"], "unavailable");
    }
}

#[test]
fn a_shared_line_rings_everywhere_and_is_answered_on_the_second_device() {
    for t in [Sip::Udp, Sip::Tcp] {
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
        let (p1, p2) = (free_port(), free_port());
        register_line(&node, t, p1, "1001", "user1001");
        // The second device registers the shared line with its own credentials.
        register_line(&node, t, p2, "1001", "user1002");
        let first = Sipp::start(&node, t, "uas-ring-elsewhere.xml", p1, &[], &["-m", "1"]);
        sipp_call(
            &node,
            t,
            ("uas-answer.xml", p2),
            "uac-call.xml",
            &caller(&node, "1000", "1001"),
            &["-d", "200"],
        );
        first.expect_success("first device cancelled: call completed elsewhere");
        let r = &records(&node, 1)[0];
        assert_eq!(r["called_device"], "SEP00DE00001002", "{r}");

        // The seed's shared-line Manager Assistant: with Do Not Disturb on the manager's
        // phone (SEP00DE00001001) only the assistant's phone rings.
        let dnd = |device: &str, on: bool| {
            let r = admin(client().patch(node.api(&format!("/devices/{device}"))))
                .json(&serde_json::json!({"dnd": on}))
                .send()
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(150));
        };
        dnd("SEP00DE00001001", true);
        let manager = Sipp::start(
            &node,
            t,
            "uas-ring.xml",
            p1,
            &[],
            &["-m", "1", "-timeout", "4s"],
        );
        let csv = caller(&node, "1000", "1001");
        sipp_call(
            &node,
            t,
            ("uas-answer.xml", p2),
            "uac-call.xml",
            &csv,
            &["-d", "200"],
        );
        let (rang, _) = manager.finish();
        assert!(
            !rang,
            "the phone in Do Not Disturb must not be offered the call"
        );
        // Both phones in Do Not Disturb: the caller hears busy.
        dnd("SEP00DE00001002", true);
        refused(&node, t, "1000", "1001", "486");
    }
}

#[test]
fn session_timers_clean_up_a_dead_call() {
    for t in [Sip::Udp, Sip::Tcp] {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(dir.path(), "[sip]\nmin_session_expires = 1\n", true);
        let port = free_port();
        register_line(&node, t, port, "1001", "user1001");
        sipp_call(
            &node,
            t,
            ("uas-answer-bye.xml", port),
            "uac-session.xml",
            &caller(&node, "1000", "1001"),
            &[],
        );
        let r = &records(&node, 1)[0];
        assert_eq!(
            (r["cause"].as_str(), r["ended_by"].as_str()),
            (Some("session_expired"), Some("system")),
            "{r}"
        );
        // A called phone that makes Dialtone the refresher gets an UPDATE within its 2 s
        // interval, and the call lives on until the caller hangs up.
        let csv = caller(&node, "1000", "1001");
        sipp_call(
            &node,
            t,
            ("uas-refresh.xml", port),
            "uac-call.xml",
            &csv,
            &["-d", "2500"],
        );
        assert_eq!(records(&node, 2)[0]["cause"], "normal");
    }
}

#[test]
fn trunks_fail_over_and_inbound_trunk_calls_use_the_trunk_css() {
    for (t, tr) in [(Sip::Udp, "udp"), (Sip::Tcp, "tcp")] {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(
            dir.path(),
            "[sip]\ntrunk_failover_ms = 300\ncode_digit_timeout_ms = 300\nreorder_ms = 300\n",
            true,
        );
        let (p0, p1, p2, p3, phone) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        // Carrier_Silent answers nothing (no one listens there): skipped after 300 ms; Carrier_A
        // is out of service (503); Carrier_B takes the call.
        for (name, port) in [("Carrier_Silent", p0), ("Carrier_A", p1), ("Carrier_B", p2)] {
            post(
                &node,
                "sip-trunks",
                serde_json::json!({"name": name, "destination_host": "127.0.0.1", "destination_port": port, "transport": tr}),
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
            serde_json::json!({"name": "Carriers_RL", "route_groups": ["Carrier_Silent_RG", "Carrier_A_RG", "Carrier_B_RG"]}),
        );
        post(
            &node,
            "route-patterns",
            serde_json::json!({"pattern": "8XXX", "partition": "Internal_PT", "route_list": "Carriers_RL"}),
        );
        post(
            &node,
            "sip-trunks",
            serde_json::json!({"name": "Inbound", "destination_host": "127.0.0.1", "destination_port": p3, "transport": tr, "css": "Internal_CSS"}),
        );
        std::thread::sleep(std::time::Duration::from_millis(150));

        // Carrier_Silent is skipped after 300 ms, Carrier_A says 503, Carrier_B answers.
        let call_out = |dialled: &str| {
            let out_of_service = Sipp::start(&node, t, "uas-503.xml", p1, &[], &["-m", "1"]);
            let csv = caller(&node, "1000", dialled);
            sipp_call(
                &node,
                t,
                ("uas-answer.xml", p2),
                "uac-call.xml",
                &csv,
                &["-d", "100"],
            );
            out_of_service.expect_success("Carrier_A said 503");
        };
        call_out("8123");
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

        // A route pattern that needs a Forced Authorization Code: without one the node answers
        // and asks for it at the tone (tests/codes.rs keys it); nobody keys one here, so the
        // reorder plays and the node hangs up. Routed with one after '#' (escaped %23 in the
        // Request-URI), and the code's name is recorded.
        post(
            &node,
            "forced-authorization-codes",
            serde_json::json!({"name": "Sales", "code": "4321", "authorization_level": 10}),
        );
        post(
            &node,
            "route-patterns",
            serde_json::json!({"pattern": "7XXX", "partition": "Internal_PT", "route_list": "Carriers_RL", "require_fac": true, "authorization_level": 5}),
        );
        std::thread::sleep(std::time::Duration::from_millis(150));
        Sipp::start(
            &node,
            t,
            "uac-hungup.xml",
            0,
            &[&caller(&node, "1000", "7123")],
            &["-m", "1"],
        )
        .expect_success("the node asked for a code nobody keyed, then hung up");
        call_out("7123%234321");
        let r = &records(&node, 4)[0];
        assert_eq!(
            (
                r["authorization_code_name"].as_str(),
                r["authorization_level"].as_u64(),
                r["called_number"].as_str()
            ),
            (Some("Sales"), Some(10), Some("7123")),
            "{r}"
        );

        // A carrier that challenges: Dialtone answers with the trunk's stored digest (HA1 for
        // the carrier's realm); sipp verifies it.
        let p4 = free_port();
        post(
            &node,
            "sip-trunks",
            serde_json::json!({"name": "Carrier_Auth", "destination_host": "127.0.0.1", "destination_port": p4, "transport": tr,
                "digest_user": "dialtone", "digest_realm": "carrier.example", "digest_password": "trunk-secret"}),
        );
        post(
            &node,
            "route-patterns",
            serde_json::json!({"pattern": "6XXX", "partition": "Internal_PT", "sip_trunk": "Carrier_Auth"}),
        );
        std::thread::sleep(std::time::Duration::from_millis(150));
        let csv = caller(&node, "1000", "6123");
        sipp_call(
            &node,
            t,
            ("uas-challenge.xml", p4),
            "uac-call.xml",
            &csv,
            &[],
        );
        let r = &records(&node, 5)[0];
        assert_eq!(r["called_trunk"], "Carrier_Auth", "{r}");
        let trunk = get(&node, "/sip-trunks/Carrier_Auth");
        assert_eq!(trunk["digest_password_set"], true, "{trunk}");
        assert!(!trunk.to_string().contains("trunk-secret"), "{trunk}");
    }
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
    // An INVITE flood from one address without credentials: each gets its 407 and nothing
    // else happens (no call, no record).
    Sipp::start(
        &node,
        t,
        "uac-flood.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "2000", "-r", "1000"],
    )
    .expect_success("every flooded INVITE answered 407");
    assert_eq!(records(&node, 4).len(), 4, "the flood left no call records");
    // Do Not Disturb on the called line: refused busy.
    set_line(&node, "1003", serde_json::json!({"dnd": true}));
    refused(&node, t, "1000", "1003", "486");
    assert_eq!(records(&node, 5)[0]["cause"], "busy");
    // Still serving: a good call connects.
    let port = free_port();
    register_line(&node, t, port, "1001", "user1001");
    sipp_call(
        &node,
        t,
        ("uas-answer.xml", port),
        "uac-call.xml",
        &caller(&node, "1000", "1001"),
        &[],
    );

    // A line's Maximum Number of Calls: with 1000's one call up, a second call from it is
    // refused busy.
    set_line(
        &node,
        "1000",
        serde_json::json!({"max_calls": 1, "busy_trigger": 1}),
    );
    let uas = Sipp::start(&node, t, "uas-answer.xml", port, &[], &["-m", "1"]);
    let csv = caller(&node, "1000", "1001");
    let first = Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&csv],
        &["-m", "1", "-d", "1500"],
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    refused(&node, t, "1000", "1002", "486");
    first.expect_success("the call in progress");
    uas.expect_success("answered the first call");
}

/// Two real softphones register to a demo node and call each other; Dialtone relays only
/// signalling, and the audio (RTP, G.711) flows phone to phone in both directions.
#[test]
fn two_baresip_phones_call_each_other_and_audio_flows() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let mut caller_phone = Baresip::start(&node, "1000", false);
    let mut called_phone = Baresip::start(&node, "1001", true);
    wait_for_registrations(&node, 2);
    caller_phone.command("dial", &format!("sip:1001@{}", node.sip_udp));
    caller_phone.wait_for("CALL_ESTABLISHED", 10);
    called_phone.wait_for("CALL_ESTABLISHED", 10);
    // Each side reports incoming RTP once the first packet from the other arrives.
    caller_phone.wait_for("CALL_RTPESTAB", 10);
    called_phone.wait_for("CALL_RTPESTAB", 10);
    let live = get(&node, "/calls");
    assert_eq!(live["items"][0]["state"], "connected", "{live}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    caller_phone.command("hangup", "");
    expect_audio_both_ways(caller_phone, called_phone);
    let r = &records(&node, 1)[0];
    assert_eq!(
        (r["cause"].as_str(), r["called_device"].as_str()),
        (Some("normal"), Some("SEP00DE00001001")),
        "{r}"
    );
}

/// 1001 answers 1000's call, then REFERs it to 1002 as `transferor` (a scenario of
/// `sipp/`) plays it; 1000 ends up talking to 1002 (re-INVITEd with 1002's offer), the call's
/// record says so, and the transferor is released.
fn blind_transfer(t: Sip, transferor: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let (pb, pc) = (free_port(), free_port());
    register_line(&node, t, pb, "1001", "user1001");
    register_line(&node, t, pc, "1002", "user1002");
    let scen = Sipp::scenario(
        &node,
        transferor,
        &[("REFER_TO", "<sip:1002@[remote_ip]>"), ("WAIT", "200")],
    );
    let transferor = Sipp::start(&node, t, &scen, pb, &[], &["-m", "1"]);
    let target = Sipp::start(&node, t, "uas-offerless.xml", pc, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        t,
        "uac-transferred.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1"],
    )
    .expect_success("transferee");
    transferor.expect_success(what);
    target.expect_success("transfer target (offerless INVITE)");
    let r = &records(&node, 1)[0];
    assert_eq!(
        (r["called_number"].as_str(), r["called_device"].as_str()),
        (Some("1002"), Some("SEP00DE00001002")),
        "{r}"
    );
    assert_eq!(r["cause"], "normal", "{r}");
}

/// Blind transfer: the transferor hears NOTIFY 100 then 200 and is released.
#[test]
fn blind_transfer_with_refer() {
    for t in [Sip::Udp, Sip::Tcp] {
        blind_transfer(
            t,
            "uas-transferor.xml.in",
            "transferor (REFER, NOTIFYs, BYE)",
        );
    }
}

/// A transferor that asks for no subscription (`Refer-Sub: false`, `Require: norefersub`, as
/// Cisco phones send) is not refused 420: it gets 202 with `Refer-Sub: false`, no NOTIFY, and
/// the transfer completes as before.
#[test]
fn blind_transfer_without_a_subscription() {
    blind_transfer(
        Sip::Udp,
        "uas-transferor-unsubscribed.xml.in",
        "transferor (REFER without a subscription, no NOTIFY, BYE)",
    );
}

/// Consultative transfer: 1001 talks to 1000, calls 1002 (a second call), then REFERs 1000 to
/// 1002 with Replaces naming that second call: 1000 and 1002 end up together, both of 1001's
/// legs are released.
#[test]
fn consultative_transfer_with_replaces() {
    for t in [Sip::Udp, Sip::Tcp] {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(dir.path(), "", true);
        let (pb, pc) = (free_port(), free_port());
        register_line(&node, t, pb, "1001", "user1001");
        register_line(&node, t, pc, "1002", "user1002");
        // The consultation call's Call-ID (sipp -cid_str), named in the Replaces.
        let refer_to = "<sip:1002@[remote_ip]?Replaces=consult-1%40x%3Bto-tag%3Dt%3Bfrom-tag%3Df>";
        let scen = Sipp::scenario(
            &node,
            "uas-transferor.xml.in",
            &[("REFER_TO", refer_to), ("WAIT", "1500")],
        );
        let transferor = Sipp::start(&node, t, &scen, pb, &[], &["-m", "1"]);
        let consulted = Sipp::start(&node, t, "uas-consulted.xml", pc, &[], &["-m", "1"]);
        let transferee = Sipp::start(
            &node,
            t,
            "uac-transferred.xml",
            0,
            &[&caller(&node, "1000", "1001")],
            &["-m", "1"],
        );
        std::thread::sleep(std::time::Duration::from_millis(400));
        // 1001's consultation call to 1002, from another port of the same phone; Dialtone ends it
        // (BYE) when the transfer takes 1002's leg.
        let consultation = Sipp::start(
            &node,
            t,
            "uac-hungup.xml",
            0,
            &[&caller(&node, "1001", "1002")],
            &["-m", "1", "-cid_str", "consult-%u@x"],
        );
        transferee.expect_success("transferee");
        consultation.expect_success("consultation call released");
        transferor.expect_success("transferor (REFER with Replaces, NOTIFYs, BYE)");
        consulted.expect_success("consulted party moved to the transferee");
        let r = records(&node, 2);
        let causes: Vec<&str> = r.iter().map(|r| r["cause"].as_str().unwrap()).collect();
        assert_eq!(causes, ["normal", "transferred"], "{r:?}");
    }
}

/// Call control's events stream (Server-Sent Events) shows a call from offer to end, and
/// `dialtone status` shows the live call.
#[test]
fn events_and_status_follow_a_call() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let stream = admin(client().get(node.api("/events")))
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str(data.trim()) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let t = Sip::Udp;
    let port = free_port();
    register_line(&node, t, port, "1001", "user1001");
    let uas = Sipp::start(&node, t, "uas-answer.xml", port, &[], &["-m", "1"]);
    let uac = Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1", "-d", "1500"],
    );
    // While the call is up, `dialtone status` sees it.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut status_checked = false;
    while std::time::Instant::now() < deadline {
        let Ok(v) = rx.recv_timeout(std::time::Duration::from_millis(200)) else {
            continue;
        };
        let kind = v["event"].as_str().unwrap_or("").to_string();
        if kind == "call_connected" && !status_checked {
            let out = std::process::Command::new(binary())
                .args(["status", "--url", &node.api("")])
                .env("DIALTONE_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.contains("calls      1 (ringing 0, connected 1, held 0)"),
                "{text}"
            );
            assert!(text.contains("1000 -> 1001"), "{text}");
            assert!(
                text.contains("registered 1 contacts of 1 devices"),
                "{text}"
            );
            status_checked = true;
        }
        seen.push(v);
        if kind == "call_ended" {
            break;
        }
    }
    uac.expect_success("caller");
    uas.expect_success("called");
    let states: Vec<(&str, &str)> = seen
        .iter()
        .filter(|v| v["event"] == "line_state")
        .map(|v| (v["line"].as_str().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    for want in [
        ("1000", "ringing"),
        ("1001", "ringing"),
        ("1000", "connected"),
        ("1001", "connected"),
    ] {
        assert!(states.contains(&want), "{want:?} in {states:?}");
    }
    let kinds: Vec<&str> = seen
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .filter(|k| *k != "line_state")
        .collect();
    assert_eq!(
        kinds,
        [
            "device_registered",
            "call_offered",
            "call_alerting",
            "call_connected",
            "call_ended"
        ],
        "{seen:?}"
    );
    let seen: Vec<&Value> = seen.iter().filter(|v| v["event"] != "line_state").collect();
    assert_eq!(seen[0]["device"], "SEP00DE00001001");
    assert_eq!(seen[1]["calling"], "1000");
    assert_eq!(seen[1]["devices"], serde_json::json!(["SEP00DE00001001"]));
    assert_eq!(seen[4]["cause"], "normal");
    assert_eq!(seen[1]["call"], seen[4]["call"], "one call id throughout");
}

/// A Cisco phone's registration names its device in the Contact (and its MAC in
/// +sip.instance); the device's own digest credentials must go with it.
#[test]
fn cisco_phones_are_identified_by_device_name_and_mac() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let t = Sip::Tcp;
    let pw = demo_password(&node, "user1001");
    let csv = format!("1001;x;[authentication username=user1001 password={pw}]");
    let own = Sipp::scenario(
        &node,
        "reg-cisco.xml.in",
        &[("DEVICE", "SEP00DE00001001"), ("MAC", "00DE00001001")],
    );
    Sipp::start(&node, t, &own, 0, &[&csv], &["-m", "1"]).expect_success("own device");
    let v = get(&node, "/registrations");
    let b = &v["items"][0];
    assert_eq!(b["device"], "SEP00DE00001001", "{v}");
    assert_eq!(b["transport"], "TCP", "{v}");
    assert!(
        b["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("Cisco-CP8865"),
        "{v}"
    );
    // Another device's name with these credentials never registers.
    let other = Sipp::scenario(
        &node,
        "reg-cisco.xml.in",
        &[("DEVICE", "SEP00DE00001002"), ("MAC", "00DE00001002")],
    );
    let (ok, _) =
        Sipp::start(&node, t, &other, 0, &[&csv], &["-m", "1", "-timeout", "5s"]).finish();
    assert!(!ok, "credentials of 1001 must not register SEP00DE00001002");
    assert_eq!(
        get(&node, "/registrations")["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
