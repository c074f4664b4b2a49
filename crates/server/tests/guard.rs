//! Password guessing over SIP, as sipvicious' svcrack and a flooding script do it: the guesser
//! is slowed, then refused, then not answered; the right password does not get through from
//! its address; the phone at its usual address goes on registering; an administrator sees the
//! block and lifts it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const GUARD: &str = "[sip]\nauth_free_failures = 2\nauth_delay_ms = 10\nauth_max_delay_ms = 40\n\
    auth_block_after = 5\nauth_user_block_after = 8\nauth_flood_per_second = 10\n";

/// svcrack against user1001 with `words` (the right password among them). It sends from
/// 127.0.0.1 whatever it is told (its -b does not choose the source address).
fn svcrack(node: &Node, words: &[String]) -> String {
    let dict = node.dir.join("words.txt");
    std::fs::write(&dict, words.join("\n") + "\n").unwrap();
    let out = Command::new("timeout")
        .args(["60", "svcrack", "-u", "user1001", "-d"])
        .arg(&dict)
        .arg(format!("udp://{}", node.sip_udp))
        .output()
        .expect("svcrack is installed (scripts/test installs sipvicious)");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn register_from(node: &Node, source: &str, scenario: &str) -> (bool, String) {
    let pw = demo_password(node, "user1001");
    let auth = format!("1001;x;[authentication username=user1001 password={pw}]");
    Sipp::start(
        node,
        Sip::Udp,
        scenario,
        0,
        &[&auth],
        &["-m", "1", "-i", source],
    )
    .finish()
}

fn blocks(node: &Node) -> serde_json::Value {
    get_json(node, "/sip/blocks")
}

/// Whether the guard lists a block of `kind` whose `field` is `value`.
fn blocked(node: &Node, kind: &str, field: &str, value: &str) -> bool {
    blocks(node)["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["kind"] == kind && b[field] == value)
}

/// A REGISTER for user1001 from `local`, with a wrong digest answer to `nonce` (one guess),
/// or without credentials.
fn register_text(local: std::net::SocketAddr, i: u32, nonce: Option<&str>) -> String {
    let auth = nonce
        .map(|n| {
            format!(
                "Authorization: Digest username=\"user1001\", realm=\"dialtone\", nonce=\"{n}\", \
                 uri=\"sip:127.0.0.1\", response=\"00000000000000000000000000000000\", \
                 algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c{i}\"\r\n"
            )
        })
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKguess{i}\r\n\
         From: <sip:1001@127.0.0.1>;tag=g{i}\r\nTo: <sip:1001@127.0.0.1>\r\n\
         Call-ID: guess{i}@{local}\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@{local}>\r\n\
         {auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A fresh nonce for `sock`: the challenge to a REGISTER without credentials.
fn nonce(node: &Node, sock: &std::net::UdpSocket) -> String {
    let local = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(register_text(local, 0, None).as_bytes(), &node.sip_udp)
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("a challenge");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("a nonce in {text}"))
        .to_string()
}

/// Guesses `from..from + n` from `sock`, answering a real nonce with a wrong password: sent
/// one after another (each waits for its answer) or, `at_once`, all together as a flood; the
/// status codes answered (a flood's: those within 300 ms of the last answer).
fn guesses(
    node: &Node,
    sock: &std::net::UdpSocket,
    from: u32,
    n: u32,
    at_once: bool,
) -> Vec<String> {
    let nonce = nonce(node, sock);
    let local = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut codes = Vec::new();
    let mut answers = |codes: &mut Vec<String>, one: bool| {
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            codes.push(String::from_utf8_lossy(&buf[8..11.min(len)]).to_string());
            if one {
                return;
            }
        }
    };
    for i in from..from + n {
        let text = register_text(local, i + 1, Some(&nonce));
        sock.send_to(text.as_bytes(), &node.sip_udp).unwrap();
        if !at_once {
            answers(&mut codes, true);
        }
    }
    if at_once {
        answers(&mut codes, false);
    }
    codes
}

fn metric(node: &Node, name: &str) -> i64 {
    let metrics = client()
        .get(format!("{}/metrics", node.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in the metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn guessers_are_slowed_then_refused_while_the_phone_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), GUARD, true);
    let password = demo_password(&node, "user1001");
    // The phone registers from its usual address before the attack.
    let (ok, out) = register_from(&node, "127.0.0.2", "reg-auth.xml");
    assert!(ok, "the phone registers: {out}");

    // svcrack with the right password twelfth: before the guard it found it in a second.
    let mut words: Vec<String> = (0..30).map(|i| format!("guess{i:02}")).collect();
    words.insert(11, password.clone());
    let started = Instant::now();
    let out = svcrack(&node, &words);
    assert!(
        !out.contains(&password),
        "svcrack must not find the password:\n{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(50));
    assert!(
        blocked(&node, "source", "address", "127.0.0.1"),
        "the guesser's address is blocked: {}",
        blocks(&node)
    );
    // Even the right password is refused from there now.
    let (ok, out) = register_from(&node, "127.0.0.1", "reg-auth-403.xml");
    assert!(ok, "the blocked address gets 403: {out}");

    // A second guesser elsewhere: the name is now guessed at too often and is locked for
    // addresses that never authenticated as it...
    let other = std::net::UdpSocket::bind("127.0.0.4:0").unwrap();
    let answered = guesses(&node, &other, 0, 5, false);
    // Three more failures lock the name (8 in all); the guesses after that get 403.
    assert_eq!(answered, ["401", "401", "401", "403", "403"]);
    assert!(
        blocked(&node, "user", "user", "user1001"),
        "the name is locked: {}",
        blocks(&node)
    );
    let (ok, out) = register_from(&node, "127.0.0.5", "reg-auth-403.xml");
    assert!(ok, "a new address is refused for the locked name: {out}");
    // ...but the phone at its usual address goes on.
    let (ok, out) = register_from(&node, "127.0.0.2", "reg-auth.xml");
    assert!(ok, "the phone is not locked out by the attack: {out}");
    assert!(metric(&node, "dialtone_sip_auth_failures") >= 8);
    assert!(metric(&node, "dialtone_sip_blocked") >= 2);

    // The administrator lifts the blocks: the new address registers.
    let r = admin(client().delete(node.api("/sip/blocks/sources/not-an-ip")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("address"));
    let r = admin(client().delete(node.api("/sip/blocks/sources/127.0.0.1")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = admin(client().delete(node.api("/sip/blocks/sources/127.0.0.1")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404, "lifted already");
    let r = admin(client().delete(node.api("/sip/blocks")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(blocks(&node)["items"], serde_json::json!([]));
    let (ok, out) = register_from(&node, "127.0.0.5", "reg-auth.xml");
    assert!(ok, "registers once the blocks are lifted: {out}");
}

/// A blocked source that floods gets no answer at all past a few 403s a second, and holds no
/// transaction for it.
#[test]
fn a_blocked_source_that_floods_is_not_answered() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), GUARD, true);
    let sock = std::net::UdpSocket::bind("127.0.0.6:0").unwrap();
    // Five wrong answers block the source (each answered 401).
    let first = guesses(&node, &sock, 0, 5, false);
    assert_eq!(first, vec!["401"; 5]);
    // Then 60 at once: a few 403s, then silence.
    let flood = guesses(&node, &sock, 100, 60, true);
    assert!(flood.iter().all(|c| c == "403"), "{flood:?}");
    assert!(
        flood.len() <= 12,
        "{} answers to a flood of 60 from a blocked source",
        flood.len()
    );
    let held = metric(&node, "dialtone_sip_server_transactions");
    assert!(held < 30, "{held} transactions held after the flood");
}
