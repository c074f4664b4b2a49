//! RFC 3261 details real peers trip over, each played by sipp against a running node: a
//! CANCEL follows its INVITE to the called phone whatever the timing, a caller that never
//! acknowledges the answer is hung up, requests with a wrong tag belong to no dialog, an
//! out-of-order REGISTER is refused, OPTIONS says what is supported and an unknown required
//! extension gets 420. Every call that can no longer complete ends with a record saying why.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// No call left in progress (within a few seconds): nothing holds the lines busy.
fn no_calls_left(node: &Node) {
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(5) {
        if get_json(node, "/calls")["items"] == serde_json::json!([]) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("calls still up: {}", get_json(node, "/calls"));
}

/// A caller that cancels right after its 100 Trying, however early: its CANCEL always gets 200
/// and its INVITE 487, never 481 (before the fix a CANCEL that came while the call was being
/// admitted was answered 481, and the phone rang on). Then a CANCEL after the call has forked
/// but before the slow phone answered provisionally: it reaches the phone once it rings
/// (before the fix it never did, and the line stayed busy); a phone that answered instead is
/// acknowledged and hung up. The line then takes calls as before.
#[test]
fn a_cancel_right_after_the_100_reaches_the_called_phone() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "[sip]\nt1_ms = 100\n", true);
    let port = free_port();
    register_line(&node, Sip::Udp, port, "1001", "user1001");
    let at_once = Sipp::scenario(&node, "uac-cancel-early.xml.in", &[("PAUSE", "1")]);
    let after_fork = Sipp::scenario(&node, "uac-cancel-early.xml.in", &[("PAUSE", "200")]);

    // At once: the phone may or may not have been rung by then (another line, whose port
    // nobody listens on, so its forks cannot reach the phones below); the caller's answers
    // are what must hold.
    register_line(&node, Sip::Udp, free_port(), "1002", "user1002");
    for _ in 0..3 {
        Sipp::start(
            &node,
            Sip::Udp,
            &at_once,
            0,
            &[&caller(&node, "1000", "1002")],
            &["-m", "1"],
        )
        .expect_success("the caller's CANCEL is answered 200 and its INVITE 487");
    }

    for callee in [
        "uas-ring-late-cancelled.xml",
        "uas-ring-late-cancelled.xml",
        "uas-answer-crossing-cancel.xml",
    ] {
        sipp_call(
            &node,
            port,
            callee,
            &after_fork,
            &[],
            [
                "the caller's CANCEL is answered 200 and its INVITE 487",
                "the slow phone gets the CANCEL once it rings, or is hung up",
            ],
        );
    }

    no_calls_left(&node);
    let ended = call_records(&node, 6, Duration::from_secs(5));
    assert_eq!(ended.len(), 6);
    for r in ended {
        assert_eq!(r["cause"], "cancelled", "{r}");
        assert_eq!(r["sip_status"], 487, "{r}");
    }
    // The line is not left busy: a normal call rings and connects.
    let callee = Sipp::start(&node, Sip::Udp, "uas-answer.xml", port, &[], &["-m", "1"]);
    Sipp::start(
        &node,
        Sip::Udp,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1", "-d", "100"],
    )
    .expect_success("a call after the cancelled ones connects");
    callee.expect_success("the line rings again");
}

/// A caller that never ACKs the 200: once the 200 has been retransmitted for 64*T1 (1.28 s
/// here), both parties get a BYE and the record says why.
#[test]
fn a_caller_that_never_acknowledges_the_answer_is_hung_up() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "[sip]\nt1_ms = 20\nt2_ms = 80\n", true);
    let port = free_port();
    register_line(&node, Sip::Udp, port, "1001", "user1001");
    let started = Instant::now();
    sipp_call(
        &node,
        port,
        "uas-answer-bye.xml",
        "uac-no-ack.xml",
        &[],
        [
            "the caller that never acknowledged gets a BYE",
            "the called phone gets a BYE",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ended within the bound"
    );
    no_calls_left(&node);
    let r = &call_records(&node, 1, Duration::from_secs(5))[0];
    assert_eq!(r["cause"], "no_ack", "{r}");
}

/// In-dialog requests with the right Call-ID and a wrong tag (a BYE with another To tag,
/// an INFO with another From tag) get 481 and change nothing: the other party is not hung
/// up, and the real BYE then ends the call normally.
#[test]
fn requests_with_a_wrong_tag_belong_to_no_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let port = free_port();
    register_line(&node, Sip::Udp, port, "1001", "user1001");
    sipp_call(
        &node,
        port,
        "uas-answer-bye.xml",
        "uac-bye-wrong-tag.xml",
        &["-d", "300"],
        [
            "wrong-tag requests get 481, the right BYE 200",
            "the called phone stays in the call until the real BYE",
        ],
    );
    let r = &call_records(&node, 1, Duration::from_secs(5))[0];
    assert_eq!(r["cause"], "normal", "{r}");
    assert_eq!(r["ended_by"], "calling", "{r}");
}

/// RFC 3261 10.3: a REGISTER on the same Call-ID with a CSeq no higher than the binding's is
/// refused (400) and leaves the binding as it was; a later CSeq refreshes it.
#[test]
fn a_register_out_of_order_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    let port = free_port();
    let pw = demo_password(&node, "user1001");
    let auth = format!("1001;x;[authentication username=user1001 password={pw}]");
    Sipp::start(
        &node,
        Sip::Udp,
        "reg-cseq-order.xml",
        port,
        &[&auth],
        &["-m", "1"],
    )
    .expect_success("CSeq 4 after 5 refused, 7 taken");
    let v = get_json(&node, "/registrations");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one binding: {v}");
    assert!(
        items[0]["contact"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{port}")),
        "{v}"
    );
}

/// OPTIONS is answered with what requests may use here (RFC 3261 11.2); an INVITE requiring
/// an extension the node lacks gets 420 with the extension in Unsupported (8.2.2.3).
#[test]
fn options_say_what_is_supported_and_unknown_extensions_get_420() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    Sipp::start(&node, Sip::Udp, "uac-options.xml", 0, &[], &["-m", "1"])
        .expect_success("OPTIONS carries Allow, Supported, Accept; Require: x-frobnicate gets 420");
    assert_eq!(get_json(&node, "/calls")["items"], serde_json::json!([]));
}
