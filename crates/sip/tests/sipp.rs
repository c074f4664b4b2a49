//! sipp (Debian's sip-tester) drives a minimal server built from this crate: a registrar that
//! challenges with digest and a UAS that answers INVITEs, over UDP with 10% loss (so the
//! retransmission timers work) and over TCP. The scenarios are copies of the anchor kit's.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use dialtone_sip::build;
use dialtone_sip::endpoint::{Config, Endpoint, Peer, Timers, Transport};
use dialtone_testkit::testserver::serve;

struct Server {
    udp: SocketAddr,
    tcp: SocketAddr,
    _rt: tokio::runtime::Runtime,
    endpoint: Endpoint,
}

fn start(timers: Timers) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        timers,
        ..Config::default()
    };
    let (endpoint, rx) = rt
        .block_on(Endpoint::bind(
            Some("127.0.0.1:0".parse().unwrap()),
            Some("127.0.0.1:0".parse().unwrap()),
            config,
        ))
        .unwrap();
    rt.spawn(serve(rx));
    Server {
        udp: endpoint.local_addr(Transport::Udp).unwrap(),
        tcp: endpoint.local_addr(Transport::Tcp).unwrap(),
        _rt: rt,
        endpoint,
    }
}

/// sipp retransmits on RFC 3261's timers (T1 = 500 ms, scenario retrans="500"), so the server
/// must too: with a shorter T1 its Timer J would forget a transaction while sipp still
/// retransmits the request, and the late copy would be taken for a new request.
fn sipp_timers() -> Timers {
    Timers::default()
}

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}

/// Run sipp to completion; returns (exit success, its stderr/stdout for the message).
fn sipp(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg("sipp")
        .args(args)
        .arg("-nostdin")
        .current_dir(dir)
        .output()
        .expect("sipp is installed (Debian package sip-tester; scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var_os("DIALTONE_SHOW_SIPP").is_some() {
        eprintln!("{text}");
    }
    (out.status.success(), text)
}

fn users_csv(dir: &Path, n: usize) -> String {
    let mut s = String::from("SEQUENTIAL\n");
    for i in 1..=n {
        s.push_str(&format!(
            "u{i:06};pw{i:06};[authentication username=u{i:06} password=pw{i:06}]\n"
        ));
    }
    let p = dir.join("users.csv");
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

fn common<'a>(target: &'a str, transport: &'a str) -> Vec<&'a str> {
    vec![
        target,
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-t",
        transport,
        "-timeout",
        "100s",
    ]
}

/// Drive the test server with one of our scenario copies over `transport`; sipp must report
/// every call successful.
fn drive(transport: Transport, scenario_file: &str, extra: &[&str]) {
    let server = start(sipp_timers());
    let dir = tempfile::tempdir().unwrap();
    let csv = users_csv(dir.path(), 300);
    let (target, flag) = match transport {
        Transport::Udp => (server.udp, "u1"),
        _ => (server.tcp, "t1"),
    };
    let target = target.to_string();
    let scen = scenario(scenario_file);
    let mut args = common(&target, flag);
    args.extend(["-sf", scen.as_str(), "-inf", csv.as_str()]);
    args.extend(extra);
    let (ok, text) = sipp(&args, dir.path());
    assert!(ok, "sipp failed:\n{text}");
}

/// 10% of the messages sipp sends or receives are lost; it may retransmit ten times.
const LOSSY: &[&str] = &["-lost", "10", "-max_retrans", "10"];

#[test]
fn register_with_digest_over_udp_with_ten_percent_loss() {
    drive(
        Transport::Udp,
        "reg-auth.xml",
        &[&["-m", "300", "-r", "100", "-l", "100"], LOSSY].concat(),
    );
}

#[test]
fn register_with_digest_over_tcp() {
    drive(
        Transport::Tcp,
        "reg-auth.xml",
        &["-m", "300", "-r", "200", "-l", "100"],
    );
}

#[test]
fn invite_calls_over_udp_with_ten_percent_loss() {
    drive(
        Transport::Udp,
        "uac-call.xml",
        &[&["-s", "uas", "-m", "200", "-r", "50", "-l", "100"], LOSSY].concat(),
    );
}

#[test]
fn invite_calls_over_tcp() {
    drive(
        Transport::Tcp,
        "uac-call.xml",
        &["-s", "uas", "-m", "200", "-r", "100", "-l", "100"],
    );
}

/// Our client transactions against a sipp UAS: INVITE, 180, 200, our ACK and BYE.
#[test]
fn our_uac_calls_a_sipp_uas() {
    let server = start(sipp_timers());
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let scen = scenario("uas-call.xml");
    let dir_path = dir.path().to_path_buf();
    let port_s = port.to_string();
    let uas = std::thread::spawn(move || {
        sipp(
            &[
                "-sf",
                &scen,
                "-i",
                "127.0.0.1",
                "-p",
                &port_s,
                "-m",
                "1",
                "-timeout",
                "30s",
            ],
            &dir_path,
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let ep = server.endpoint.clone();
    let peer = Peer {
        transport: Transport::Udp,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let call_id = format!("{}@dialtone", build::token());
        let uri = format!("sip:uas@127.0.0.1:{port}");
        let from = format!("<sip:test@127.0.0.1>;tag={}", build::token());
        let local = ep.local_addr(Transport::Udp).unwrap();
        let invite = build::request("INVITE", &uri)
            .header("Via", &ep.via(Transport::Udp))
            .header("From", &from)
            .header("To", &format!("<{uri}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", &format!("<sip:test@{local}>"))
            .header("Max-Forwards", "70")
            .body("application/sdp", Bytes::from_static(b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n"))
            .finish();
        let invite_copy = invite.clone();
        let mut tx = ep.send_request(invite, peer).await.unwrap();
        let mut codes = Vec::new();
        let mut ok = None;
        while let Some(r) = tokio::time::timeout(Duration::from_secs(10), tx.responses.recv())
            .await
            .expect("responses arrive")
        {
            codes.push(r.status().unwrap());
            if r.status() == Some(200) {
                ok = Some(r);
                break;
            }
        }
        assert_eq!(codes.last(), Some(&200), "{codes:?}");
        let ok = ok.unwrap();
        // The dialog gives the ACK for the 2xx (a transaction-less request) and the BYE.
        let sent = dialtone_sip::Message::parse(invite_copy).unwrap();
        let mut dialog = dialtone_sip::dialog::Dialog::uac(&sent, &ok).expect("a dialog");
        let ack = dialog.ack(1, &ep.via(Transport::Udp)).finish();
        ep.send_to(peer, ack).await.unwrap();
        let bye = dialog.request("BYE", &ep.via(Transport::Udp)).finish();
        let mut tx = ep.send_request(bye, peer).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), tx.responses.recv())
            .await
            .expect("BYE answered")
            .expect("a response");
        assert_eq!(r.status(), Some(200));
    });
    let (ok, text) = uas.join().unwrap();
    assert!(ok, "sipp UAS failed:\n{text}");
}

/// Malformed requests get their error response and the server keeps serving.
#[test]
fn malformed_requests_are_answered_and_serving_goes_on() {
    let server = start(sipp_timers());
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let send = |text: &str| {
        sock.send_to(text.replace('\n', "\r\n").as_bytes(), server.udp)
            .unwrap();
    };
    let step = std::cell::Cell::new(0);
    let recv = || {
        step.set(step.get() + 1);
        let mut buf = [0u8; 4096];
        let (n, _) = sock
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no answer at step {}: {e}", step.get()));
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let base = "OPTIONS sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm1\nFrom: <sip:a@b>;tag=1\nTo: <sip:x@127.0.0.1>\nCall-ID: m1\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n";
    send(&base.replace("SIP/2.0\nVia", "SIP/3.0\nVia"));
    assert!(recv().starts_with("SIP/2.0 505"), "unknown version -> 505");
    send(
        &base
            .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")
            .replace("z9hG4bKm1", "z9hG4bKm2"),
    );
    assert!(recv().starts_with("SIP/2.0 400"), "CSeq mismatch -> 400");
    send(
        &base
            .replace("sip:x@127.0.0.1 SIP", "mailto:x@127.0.0.1 SIP")
            .replace("z9hG4bKm1", "z9hG4bKm3"),
    );
    assert!(
        recv().starts_with("SIP/2.0 416"),
        "unsupported scheme -> 416"
    );
    send("\u{0}\u{1}garbage\n\n");
    send(&base.replace("z9hG4bKm1", "z9hG4bKm4"));
    assert!(recv().starts_with("SIP/2.0 200"), "still serving");
    // A merged request: the same From tag, Call-ID and CSeq as the transaction just
    // answered (still absorbing retransmissions), on another branch.
    send(&base.replace("z9hG4bKm1", "z9hG4bKm6"));
    assert!(recv().starts_with("SIP/2.0 482"), "merged request -> 482");
    // A retransmission of the answered request gets the same answer again.
    send(&base.replace("z9hG4bKm1", "z9hG4bKm4"));
    assert!(recv().starts_with("SIP/2.0 200"), "retransmission absorbed");
}
