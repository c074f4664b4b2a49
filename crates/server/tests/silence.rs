//! Peers that go silent: whatever a phone stops answering, the node ends what it holds within
//! a bound, spends no CPU on it in the meantime, and keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The node's own CPU time (user + system) so far, from /proc.
fn cpu_time(node: &Node) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", node.child.id())).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports them in USER_HZ, which is 100 on every architecture it runs on.
    Duration::from_millis(ticks * 10)
}

/// How much CPU the node spends over `window` while nothing is sent to it.
fn idle_cpu(node: &Node, window: Duration) -> Duration {
    let before = cpu_time(node);
    std::thread::sleep(window);
    cpu_time(node) - before
}

/// A phone rings (180) and loses power; the caller, hearing the ringing, loses power too.
/// Past every transaction timer (Timer B is 64*T1 = 1.28 s here) the node must be idle: a
/// transaction still waiting must wait on a timer in the future, not spin on one that passed.
#[test]
fn a_call_whose_phones_vanish_while_ringing_leaves_the_node_idle() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        dir.path(),
        "[sip]\nt1_ms = 20\nt2_ms = 80\nt4_ms = 100\nmax_ringing_seconds = 6\n",
        true,
    );
    let port = free_port();
    register_line(&node, Sip::Udp, port, "1001", "user1001");
    let baseline = idle_cpu(&node, Duration::from_secs(1));

    // Two such calls: each spinning task would take a core of its own.
    for _ in 0..2 {
        let callee = Sipp::start(
            &node,
            Sip::Udp,
            "uas-ring-vanish.xml",
            port,
            &[],
            &["-m", "1"],
        );
        Sipp::start(
            &node,
            Sip::Udp,
            "uac-ring-vanish.xml",
            0,
            &[&caller(&node, "1000", "1001")],
            &["-m", "1"],
        )
        .expect_success("the caller hears ringing");
        callee.expect_success("the called phone rang");
    }
    let silent_since = Instant::now();

    // Past Timer B (and Timer A's retransmissions), while the calls still ring.
    std::thread::sleep(Duration::from_secs(3));
    let spent = idle_cpu(&node, Duration::from_secs(2));
    assert!(
        spent < Duration::from_millis(300) + baseline,
        "the node spent {spent:?} of CPU in 2 s with nothing sent to it (idle: {baseline:?} a second)"
    );

    // The calls end by the ringing bound (6 s here): each has a record that says why.
    let ended = call_records(
        &node,
        2,
        Duration::from_secs(20).saturating_sub(silent_since.elapsed()),
    );
    assert_eq!(ended.len(), 2, "both calls ended: {ended:?}");
    for r in &ended {
        assert_eq!(r["cause"], "unavailable", "{r}");
        assert!(r["answered_at"].is_null(), "{r}");
    }
    let live = get_json(&node, "/calls");
    assert_eq!(
        live["items"].as_array().map(Vec::len),
        Some(0),
        "no call left: {live}"
    );

    // And afterwards, too: nothing the two calls left behind runs on.
    std::thread::sleep(Duration::from_secs(2));
    let spent = idle_cpu(&node, Duration::from_secs(2));
    assert!(
        spent < Duration::from_millis(300) + baseline,
        "the node spent {spent:?} of CPU in 2 s after the calls ended"
    );
}

/// A connected call whose phones both went quiet, with session timers off: the Maximum Call
/// Duration Timer (2 s here) ends it with a BYE to each side and a record that says why.
#[test]
fn a_connected_call_ends_at_the_maximum_call_duration() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        dir.path(),
        "[sip]\nsession_expires = 0\nmax_call_seconds = 2\n",
        true,
    );
    let port = free_port();
    register_line(&node, Sip::Udp, port, "1001", "user1001");
    let started = Instant::now();
    sipp_call(
        &node,
        port,
        "uas-answer.xml",
        "uac-hungup.xml",
        &[],
        [
            "the caller is hung up by the node",
            "the called phone is hung up by the node",
        ],
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    let v = get_json(&node, "/call-records?limit=1");
    let r = &v["items"][0];
    assert_eq!(r["cause"], "max_duration", "{r}");
    assert!(!r["answered_at"].is_null(), "{r}");
}
