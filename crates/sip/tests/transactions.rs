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
    }
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
    let config = Config {
        timers: timers(),
        ..Config::default()
    };
    let (ep, mut rx) = Endpoint::bind(Some("127.0.0.1:0".parse().unwrap()), None, config)
        .await
        .unwrap();
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
