//! Transaction behaviour seen from the wire, with shrunken timers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dialtone_sip::endpoint::{Config, Endpoint, Incoming, Timers, Transport};

fn timers() -> Timers {
    Timers {
        t1: Duration::from_millis(10),
        t2: Duration::from_millis(40),
        t4: Duration::from_millis(50),
        d: Duration::from_millis(50),
        c: Duration::from_millis(400),
    }
}

/// An endpoint on UDP with shrunken timers, and what reaches its user.
async fn udp_endpoint() -> (Endpoint, tokio::sync::mpsc::Receiver<Incoming>) {
    let config = Config {
        timers: timers(),
        ..Config::default()
    };
    Endpoint::bind(Some("127.0.0.1:0".parse().unwrap()), None, config)
        .await
        .unwrap()
}

/// An endpoint on UDP whose user answers every request 200; and how many requests reached it.
async fn replying(config: Config) -> (Endpoint, std::net::SocketAddr, Arc<AtomicUsize>) {
    let (ep, mut rx) = Endpoint::bind(Some("127.0.0.1:0".parse().unwrap()), None, config)
        .await
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Some(inc) = rx.recv().await {
            if let Incoming::Request(tx) = inc {
                counter.fetch_add(1, Ordering::SeqCst);
                tx.reply(200, Some("t")).await;
            }
        }
    });
    let addr = ep.local_addr(Transport::Udp).unwrap();
    (ep, addr, seen)
}

fn options(branch: &str, call_id: &str) -> String {
    format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch={branch}\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn completed_transactions_absorb_retransmissions_then_go() {
    let config = Config {
        timers: timers(),
        ..Config::default()
    };
    let (ep, server, seen) = replying(config).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..50 {
        sock.send_to(
            options(&format!("z9hG4bK{i}"), &format!("c{i}")).as_bytes(),
            server,
        )
        .await
        .unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    }
    assert_eq!(
        ep.transactions(),
        50,
        "each holds its final response for Timer J"
    );
    // A retransmission gets the stored answer and does not reach the user again.
    sock.send_to(options("z9hG4bK7", "c7").as_bytes(), server)
        .await
        .unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .expect("answered again")
        .unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    assert_eq!(seen.load(Ordering::SeqCst), 50);
    // After Timer J (64*T1 = 640 ms) and a sweep, nothing is held.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(ep.transactions(), 0);
}

/// A non-INVITE holds no task: a retransmission while its user is still working gets the
/// last provisional answer (and never reaches the user twice), a user that lets it go
/// unanswered ends it, and one that holds it for good is outlived by its deadline.
#[tokio::test]
async fn an_unanswered_non_invite_repeats_its_provisional_and_ends_when_its_user_lets_go() {
    let (ep, mut rx) = udp_endpoint().await;
    let server = ep.local_addr(Transport::Udp).unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut release = Some(released);
        while let Some(inc) = rx.recv().await {
            if let Incoming::Request(tx) = inc {
                counter.fetch_add(1, Ordering::SeqCst);
                tx.reply(183, Some("t")).await;
                // The first is held unanswered until the test says, then dropped; the next
                // is held for good.
                match release.take() {
                    Some(r) => {
                        let _ = r.await;
                        drop(tx);
                    }
                    None => std::mem::forget(tx),
                }
            }
        }
    });
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..2 {
        sock.send_to(options("z9hG4bKheld", "held").as_bytes(), server)
            .await
            .unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
            .await
            .expect("the provisional answer")
            .unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 183"), "{:?}", &buf[..n]);
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "a retransmission is absorbed"
    );
    assert_eq!(ep.transactions(), 1);
    release.send(()).unwrap();
    for _ in 0..100 {
        if ep.transactions() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ep.transactions(), 0, "dropped unanswered, it ended");
    // A user that never answers nor lets go: the transaction ends at 64*T1 + T4.
    sock.send_to(options("z9hG4bKkept", "kept").as_bytes(), server)
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await;
    assert_eq!(ep.transactions(), 1);
    tokio::time::sleep(Duration::from_millis(640 + 50 + 300)).await;
    assert_eq!(ep.transactions(), 0, "ended at its deadline");
}

#[tokio::test]
async fn overload_answers_503_with_retry_after() {
    let config = Config {
        timers: timers(),
        queue: 2,
        retry_after: 7,
        ..Config::default()
    };
    // Nobody reads the queue: after two requests it is full.
    let (ep, _rx) = Endpoint::bind(Some("127.0.0.1:0".parse().unwrap()), None, config)
        .await
        .unwrap();
    let server = ep.local_addr(Transport::Udp).unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..5 {
        sock.send_to(
            options(&format!("z9hG4bKo{i}"), &format!("o{i}")).as_bytes(),
            server,
        )
        .await
        .unwrap();
    }
    let mut buf = [0u8; 2048];
    let mut answers = Vec::new();
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await
    {
        answers.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    assert_eq!(answers.len(), 3, "the three that did not fit: {answers:?}");
    for a in &answers {
        assert!(a.starts_with("SIP/2.0 503"), "{a}");
        assert!(a.contains("Retry-After: 7\r\n"), "{a}");
    }
}

#[tokio::test]
async fn completed_entries_are_bounded_oldest_first() {
    let config = Config {
        timers: Timers {
            t1: Duration::from_secs(10),
            ..timers()
        },
        max_completed: 10,
        ..Config::default()
    };
    let (ep, server, _) = replying(config).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 2048];
    for i in 0..25 {
        sock.send_to(
            options(&format!("z9hG4bKb{i}"), &format!("b{i}")).as_bytes(),
            server,
        )
        .await
        .unwrap();
        tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        ep.transactions(),
        10,
        "held entries stay within max_completed"
    );
}

#[tokio::test]
async fn cancel_finds_its_invite_and_the_487_is_acked() {
    let (ep, mut rx) = udp_endpoint().await;
    tokio::spawn(async move {
        while let Some(inc) = rx.recv().await {
            let Incoming::Request(tx) = inc else { continue };
            match tx.request.method() {
                Some("INVITE") => tx.reply(180, Some("uas")).await,
                Some("CANCEL") => {
                    let invite = tx.cancels.clone().expect("the INVITE it cancels");
                    tx.reply(200, Some("uas")).await;
                    invite.reply(487, Some("uas")).await;
                }
                _ => tx.reply(200, Some("uas")).await,
            }
        }
    });
    let server = ep.local_addr(Transport::Udp).unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let request = |method: &str, cseq_method: &str| {
        format!(
            "{method} sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcancel1\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>{}\r\nCall-ID: cancel-1\r\nCSeq: 1 {cseq_method}\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            if method == "ACK" { ";tag=uas" } else { "" }
        )
    };
    async fn read(sock: &tokio::net::UdpSocket) -> Vec<String> {
        let mut buf = [0u8; 2048];
        let mut got = Vec::new();
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(150), sock.recv_from(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let cseq = text
                .lines()
                .find(|l| l.starts_with("CSeq"))
                .unwrap_or("")
                .to_string();
            got.push(format!("{} {cseq}", &text[8..11]));
        }
        got
    }
    sock.send_to(request("INVITE", "INVITE").as_bytes(), server)
        .await
        .unwrap();
    let got = read(&sock).await;
    assert!(got.contains(&"100 CSeq: 1 INVITE".to_string()), "{got:?}");
    assert!(got.contains(&"180 CSeq: 1 INVITE".to_string()), "{got:?}");
    sock.send_to(request("CANCEL", "CANCEL").as_bytes(), server)
        .await
        .unwrap();
    let got = read(&sock).await;
    assert!(got.contains(&"200 CSeq: 1 CANCEL".to_string()), "{got:?}");
    assert!(got.contains(&"487 CSeq: 1 INVITE".to_string()), "{got:?}");
    assert!(
        got.iter().filter(|g| g.starts_with("487")).count() > 1,
        "the 487 is retransmitted until the ACK (Timer G): {got:?}"
    );
    sock.send_to(request("ACK", "ACK").as_bytes(), server)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = read(&sock).await;
    assert!(
        after.is_empty(),
        "the ACK stopped the retransmissions: {after:?}"
    );
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100
}

fn invite(branch: &str, to: std::net::SocketAddr) -> String {
    invite_via(
        &format!("SIP/2.0/UDP 127.0.0.1:9;branch={branch}"),
        to,
        branch,
    )
}

fn invite_via(via: &str, to: std::net::SocketAddr, call_id: &str) -> String {
    format!(
        "INVITE sip:b@{to} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\n\
         To: <sip:b@{to}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A peer that answers the first request it gets with 180 and then never says anything again;
/// every datagram it receives after that comes back on the channel.
async fn rings_then_silent() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let mut rang = false;
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if !rang && text.starts_with("INVITE") {
                rang = true;
                let msg = dialtone_sip::Message::parse(bytes::Bytes::from(text.clone())).unwrap();
                let r =
                    dialtone_sip::build::response(&msg, 180, Some(from), Some("callee")).finish();
                sock.send_to(&r, from).await.unwrap();
                continue;
            }
            if tx.send(text).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

async fn client_endpoint(c: Duration) -> Endpoint {
    let config = Config {
        timers: Timers { c, ..timers() },
        ..Config::default()
    };
    let (ep, _rx) = Endpoint::bind(Some("127.0.0.1:0".parse().unwrap()), None, config)
        .await
        .unwrap();
    ep
}

/// The INVITE was answered 180, then the far end went silent: past Timer B (640 ms here) the
/// transaction must sleep on a timer to come, not wake again and again on one that passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_invite_after_ringing_spins_no_cpu() {
    let ep = client_endpoint(Duration::from_secs(60)).await;
    let (callee, _heard) = rings_then_silent().await;
    let peer = dialtone_sip::endpoint::Peer {
        transport: Transport::Udp,
        addr: callee,
    };
    let request = invite_via(&ep.via(Transport::Udp), callee, "spin");
    let mut ct = ep.send_request(request.into(), peer).await.unwrap();
    let ringing = tokio::time::timeout(Duration::from_secs(2), ct.responses.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ringing.status(), Some(180));
    tokio::time::sleep(Duration::from_millis(900)).await; // past Timer B
    let before = cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_time() - before;
    assert!(
        spent < Duration::from_millis(200),
        "{spent:?} of CPU in 1 s of silence"
    );
}

/// Timer C: a transaction that rang and then heard nothing cancels its INVITE itself, and
/// ends 64*T1 later without a final response when the CANCEL goes unanswered too.
#[tokio::test]
async fn timer_c_cancels_a_silent_invite_and_the_transaction_ends() {
    let ep = client_endpoint(Duration::from_millis(300)).await;
    let (callee, mut heard) = rings_then_silent().await;
    let peer = dialtone_sip::endpoint::Peer {
        transport: Transport::Udp,
        addr: callee,
    };
    let via = ep.via(Transport::Udp);
    let request = invite_via(&via, callee, "timer-c").replace("CSeq: 1 INVITE", "CSeq: 7 INVITE");
    let started = std::time::Instant::now();
    let mut ct = ep.send_request(request.into(), peer).await.unwrap();
    assert_eq!(ct.responses.recv().await.unwrap().status(), Some(180));
    let cancel = tokio::time::timeout(Duration::from_secs(2), heard.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(cancel.starts_with("CANCEL "), "{cancel}");
    assert!(cancel.contains("CSeq: 7 CANCEL"), "{cancel}");
    assert!(
        cancel.contains(&format!("Via: {via}")),
        "same branch: {cancel}"
    );
    // No final response ever: the channel closes once 64*T1 passed after the CANCEL.
    let end = tokio::time::timeout(Duration::from_secs(3), ct.responses.recv())
        .await
        .unwrap();
    assert!(end.is_none());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "Timer C (300 ms) then 64*T1 (640 ms): {took:?}"
    );
}

/// The user's own CANCEL bounds the INVITE's wait too (RFC 3261 9.1): 64*T1 after it, the
/// transaction ends although the far end never answers the INVITE.
#[tokio::test]
async fn a_cancelled_invite_ends_64_t1_after_the_cancel() {
    let ep = client_endpoint(Duration::from_secs(60)).await;
    let (callee, _heard) = rings_then_silent().await;
    let peer = dialtone_sip::endpoint::Peer {
        transport: Transport::Udp,
        addr: callee,
    };
    let request = invite_via(&ep.via(Transport::Udp), callee, "cancelled");
    let mut ct = ep.send_request(request.clone().into(), peer).await.unwrap();
    let ringing = ct.responses.recv().await.unwrap();
    assert_eq!(ringing.status(), Some(180));
    let msg = dialtone_sip::Message::parse(bytes::Bytes::from(request)).unwrap();
    let cancel = dialtone_sip::endpoint::cancel_for(&msg, None);
    let at = std::time::Instant::now();
    let _quiet = ep.send_request(cancel, peer).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(3), ct.responses.recv())
        .await
        .unwrap();
    assert!(end.is_none());
    assert!(
        at.elapsed() < Duration::from_millis(1500),
        "{:?}",
        at.elapsed()
    );
}

/// A user that takes an INVITE and never answers it: Timer C (400 ms here) ends the wait with
/// 408 rather than holding the caller (and the transaction's state) forever.
#[tokio::test]
async fn an_invite_its_user_never_answers_gets_408_at_timer_c() {
    let (ep, mut rx) = udp_endpoint().await;
    let (held_tx, mut held) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(inc) = rx.recv().await {
            let _ = held_tx.send(inc); // holds it, answers nothing
        }
    });
    let server = ep.local_addr(Transport::Udp).unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = std::time::Instant::now();
    sock.send_to(invite("z9hG4bKunanswered", server).as_bytes(), server)
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut codes = Vec::new();
    while !codes.iter().any(|c: &String| !c.starts_with("SIP/2.0 1")) {
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        codes.push(String::from_utf8_lossy(&buf[..n.min(12)]).to_string());
    }
    assert_eq!(codes.last().unwrap(), "SIP/2.0 408 ", "{codes:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // ... and the transaction goes once Timer H passes with no ACK (64*T1 = 640 ms).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(ep.transactions(), 0);
    assert!(held.try_recv().is_ok(), "the user still holds its handle");
}

/// A MESSAGE of `size` bytes or so for `to`, from an endpoint whose UDP Via it carries.
fn large_request(ep: &Endpoint, to: std::net::SocketAddr, size: usize) -> bytes::Bytes {
    let body = "x".repeat(size);
    dialtone_sip::build::request("MESSAGE", &format!("sip:phone@{to}"))
        .header("Via", &ep.via(Transport::Udp))
        .header("Max-Forwards", "70")
        .header("From", "<sip:node@127.0.0.1>;tag=n1")
        .header("To", "<sip:phone@127.0.0.1>")
        .header("Call-ID", &format!("large{size}@test"))
        .header("CSeq", "1 MESSAGE")
        .body("text/plain", bytes::Bytes::from(body))
        .finish()
}

/// RFC 3261 18.1.1: a request over 1300 bytes meant for a UDP contact goes over TCP when the
/// phone also listens there (its top Via saying TCP, the branch kept); a small one, or one for
/// a phone without TCP, goes over UDP.
#[tokio::test]
async fn a_large_request_to_a_udp_contact_goes_over_tcp_where_the_phone_listens() {
    let config = Config {
        timers: timers(),
        ..Config::default()
    };
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (ep, _rx) = Endpoint::bind(Some(any), Some(any), config).await.unwrap();
    // The phone: UDP and TCP on one port.
    let udp = tokio::net::UdpSocket::bind(any).await.unwrap();
    let phone = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(phone).await.unwrap();
    let peer = dialtone_sip::endpoint::Peer {
        transport: Transport::Udp,
        addr: phone,
    };

    let large = large_request(&ep, phone, 1400);
    let head = String::from_utf8_lossy(&large).to_string();
    let branch = head
        .split("branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let branch = branch.to_string();
    let _t = ep.send_request(large, peer).await.unwrap();
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(2), tcp.accept())
        .await
        .expect("the large request came over TCP")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    use tokio::io::AsyncReadExt;
    while got.len() < 1400 {
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
            .await
            .expect("the whole request")
            .unwrap();
        assert!(n > 0, "the connection stayed open");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let tcp_port = ep.local_addr(Transport::Tcp).unwrap().port();
    assert!(
        text.contains(&format!(
            "Via: SIP/2.0/TCP 127.0.0.1:{tcp_port};branch={branch}"
        )),
        "top Via says TCP and keeps the branch: {}",
        &text[..text.find("\r\n\r\n").unwrap()]
    );
    assert!(text.ends_with(&"x".repeat(1400)), "the body arrived whole");

    // A small request: UDP as addressed.
    let _s = ep
        .send_request(large_request(&ep, phone, 100), peer)
        .await
        .unwrap();
    let mut dgram = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), udp.recv_from(&mut dgram))
        .await
        .expect("the small request came over UDP")
        .unwrap();
    assert!(String::from_utf8_lossy(&dgram[..n]).contains("Via: SIP/2.0/UDP"));

    // A phone with UDP only: the large request still reaches it, over UDP.
    drop(tcp);
    let udp_only = tokio::net::UdpSocket::bind(any).await.unwrap();
    let lonely = dialtone_sip::endpoint::Peer {
        transport: Transport::Udp,
        addr: udp_only.local_addr().unwrap(),
    };
    let _u = ep
        .send_request(large_request(&ep, lonely.addr, 1400), lonely)
        .await
        .unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), udp_only.recv_from(&mut dgram))
        .await
        .expect("the large request fell back to UDP")
        .unwrap();
    assert!(n > 1400);
}

/// RFC 6026 over UDP: the 2xx is retransmitted until its ACK; after the ACK the transaction's
/// task is gone, yet a late retransmission of the INVITE is still absorbed (not answered, not
/// given to the user as a new call) until Timer L.
#[tokio::test]
async fn an_accepted_invite_ends_at_its_ack_and_still_absorbs_retransmissions() {
    let config = Config {
        timers: timers(),
        ..Config::default()
    };
    let (ep, server, seen) = replying(config).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let text = invite_via(
        &format!(
            "SIP/2.0/UDP {};branch=z9hG4bKaccepted",
            sock.local_addr().unwrap()
        ),
        server,
        "accepted@test",
    );
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let mut buf = [0u8; 4096];
    // 100, then the 200, retransmitted while no ACK comes.
    let mut oks = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(100);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, sock.recv_from(&mut buf)).await {
        oks += usize::from(buf[..n].starts_with(b"SIP/2.0 200"));
    }
    assert!(
        oks >= 2,
        "the 2xx is retransmitted until its ACK ({oks} seen)"
    );
    let ack = "ACK sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKack1\r\n\
               From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>;tag=t\r\nCall-ID: accepted@test\r\n\
               CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    sock.send_to(ack.as_bytes(), server).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(30), sock.recv_from(&mut buf)).await
    {}
    // The INVITE again: absorbed, silently.
    sock.send_to(text.as_bytes(), server).await.unwrap();
    let late = tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf)).await;
    assert!(late.is_err(), "no answer to a retransmission after the ACK");
    assert_eq!(seen.load(Ordering::SeqCst), 1, "the user saw one INVITE");
    assert_eq!(
        ep.transactions(),
        1,
        "one small entry absorbs, no running task"
    );
    // After Timer L (64*T1 = 640 ms here) nothing is left.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = ep.transactions(); // the sweep runs on its own timer
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(ep.transactions(), 0);
}

/// A peer that leaves a message half sent over TCP (or trickles it) loses the connection once
/// the message has been unfinished for 64*T1 (640 ms here), not after the whole idle time; a
/// quiet connection between messages stays.
#[tokio::test]
async fn a_half_sent_message_does_not_hold_a_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = Config {
        timers: timers(),
        ..Config::default()
    };
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (ep, _rx) = Endpoint::bind(None, Some(any), config).await.unwrap();
    let node = ep.local_addr(Transport::Tcp).unwrap();
    let mut half = tokio::net::TcpStream::connect(node).await.unwrap();
    half.write_all(b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKh\r\n")
        .await
        .unwrap();
    let mut quiet = tokio::net::TcpStream::connect(node).await.unwrap();
    let mut buf = [0u8; 64];
    // Trickle a byte now and then: the message still never completes.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = half.write_all(b"X").await;
    }
    let closed = tokio::time::timeout(Duration::from_secs(2), half.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the half-sent message's connection is closed: {closed:?}"
    );
    let still = tokio::time::timeout(Duration::from_millis(100), quiet.read(&mut buf)).await;
    assert!(still.is_err(), "the quiet connection stays open");
}

/// RFC 6026: once an INVITE's 2xx came, the client transaction is Accepted for Timer M
/// (64*T1, 640 ms here): a second 2xx (another fork's answer) still reaches the user, and
/// one after Timer M does not. It is held as an entry, not a running task, and the entry
/// goes at Timer M.
#[tokio::test]
async fn an_accepted_invite_client_passes_forked_2xx_until_timer_m() {
    let ep = client_endpoint(Duration::from_secs(60)).await;
    let far = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = far.local_addr().unwrap();
    let peer = dialtone_sip::endpoint::Peer {
        transport: Transport::Udp,
        addr: callee,
    };
    let request = invite_via(&ep.via(Transport::Udp), callee, "forked");
    let mut ct = ep.send_request(request.into(), peer).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, from) = far.recv_from(&mut buf).await.unwrap();
    let invite = dialtone_sip::Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
    let answer = |tag: &str| dialtone_sip::build::response(&invite, 200, None, Some(tag)).finish();
    far.send_to(&answer("fork-a"), from).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), ct.responses.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.to().unwrap().tag(), Some("fork-a"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ep.client_transactions(), 0, "no task runs for Timer M");
    assert_eq!(ep.transactions(), 1, "the Accepted entry is held");
    far.send_to(&answer("fork-b"), from).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(2), ct.responses.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second.to().unwrap().tag(),
        Some("fork-b"),
        "another fork's 2xx within Timer M"
    );
    // Past Timer M (and a sweep), the entry is gone and the user's channel closes.
    let closed = tokio::time::timeout(Duration::from_secs(3), ct.responses.recv())
        .await
        .expect("the channel closes at Timer M");
    assert!(closed.is_none(), "{closed:?}");
    assert_eq!(ep.transactions(), 0);
    far.send_to(&answer("fork-c"), from).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ep.transactions(), 0, "a late 2xx opens nothing");
}
