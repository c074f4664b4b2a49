//! The SIP stack alone: parsing a Cisco INVITE, and REGISTERs through the transaction layer beside Kamailio.

use super::*;

/// A 1 KB INVITE as a Cisco phone sends it (two Vias, Cisco Contact parameters, SDP).
pub(crate) fn invite_1kb() -> bytes::Bytes {
    let sdp = "v=0\r\no=Cisco-SIPUA 12345 0 IN IP4 10.1.2.3\r\ns=SIP Call\r\nb=AS:4064\r\nt=0 0\r\nm=audio 25150 RTP/AVP 0 8 18 101\r\nc=IN IP4 10.1.2.3\r\nb=TIAS:64000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=yes\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";
    let head = format!(
        "INVITE sip:1001@10.1.2.1;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/TCP 10.1.2.3:51234;branch=z9hG4bK6a1b2c3d4e5f;rport\r\n\
         Via: SIP/2.0/UDP 10.1.2.9:5060;branch=z9hG4bKabcdef012345;received=10.1.2.9\r\n\
         From: \"Ada Lovelace\" <sip:1000@10.1.2.1>;tag=00de00001000a1b2c3d4-e5f6a7b8\r\n\
         To: <sip:1001@10.1.2.1>\r\n\
         Call-ID: 00de0000-10000001-a1b2c3d4-e5f6a7b8@10.1.2.3\r\n\
         Max-Forwards: 70\r\n\
         Date: Tue, 24 Nov 2026 04:00:00 GMT\r\n\
         CSeq: 101 INVITE\r\n\
         User-Agent: Cisco-CP8865/14.2.1\r\n\
         Contact: <sip:a1b2c3d4-e5f6-7890-abcd-ef0123456789@10.1.2.3:51234;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-00de00001000>\";+u.sip!devicename.ccm.cisco.com=\"SEP00DE00001000\";+u.sip!model.ccm.cisco.com=\"36670\";video\r\n\
         Expires: 180\r\n\
         Accept: application/sdp\r\n\
         Allow: ACK,BYE,CANCEL,INVITE,NOTIFY,OPTIONS,REFER,REGISTER,UPDATE,SUBSCRIBE,INFO\r\n\
         Remote-Party-ID: \"Ada Lovelace\" <sip:1000@10.1.2.1>;party=calling;id-type=subscriber;privacy=off;screen=yes\r\n\
         Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-callinfo,X-cisco-serviceuri\r\n\
         Allow-Events: kpml,dialog\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n",
        sdp.len()
    );
    bytes::Bytes::from(format!("{head}{sdp}"))
}

pub(crate) fn sip_rows() -> Vec<Row> {
    let raw = invite_1kb();
    let size = raw.len();
    let mut rounds = Vec::new();
    let mut sink = 0usize;
    for _ in 0..9 {
        let n = 200_000;
        let t = Instant::now();
        sink += dialtone_sip::benchmark::parse_core(&raw, n);
        rounds.push(t.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    assert!(sink > 0);
    vec![Row {
        name: if size >= 1000 {
            "SIP: parse a 1 KB INVITE + typed Via/From/To/CSeq"
        } else {
            "SIP: parse an INVITE + typed Via/From/To/CSeq"
        },
        median: median(rounds),
        unit: "ns",
        target: "under 1000 ns (fastest Rust parser measured: 2150)",
        anchor: format!("{size} bytes"),
    }]
}

pub(crate) fn sip_register_rows() -> Vec<Row> {
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!("sipp not installed (apt-get install sip-tester): skipping the SIP throughput benchmark");
        return vec![];
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (endpoint, rx) = rt
        .block_on(dialtone_sip::endpoint::Endpoint::bind(
            Some("127.0.0.1:0".parse().unwrap()),
            None,
            dialtone_sip::endpoint::Config::default(),
        ))
        .unwrap();
    rt.spawn(testserver::serve(rx));
    let target = endpoint
        .local_addr(dialtone_sip::endpoint::Transport::Udp)
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("SEQUENTIAL\n");
    for i in 1..1000 {
        csv.push_str(&format!(
            "u{i:06};pw{i:06};[authentication username=u{i:06} password=pw{i:06}]\n"
        ));
    }
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    let scen = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/sip/tests/sipp/reg-auth.xml"
    );
    let args = register_args(&target, scen);
    // Rising steps; the figure is the fastest step with under 0.1% failures. Kamailio (the
    // anchor kit, its scenario unchanged) runs at the same step right after ours, so both
    // see the same machine.
    let kit = anchor_kit();
    let anchor_out = tempfile::tempdir().unwrap();
    let mut best = 0.0f64;
    let mut kamailio_best = 0.0f64;
    let mut ours_done = false;
    let mut kamailio_done = kit.is_none();
    for rate in [
        2000u32, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000, 24000,
    ] {
        if !ours_done {
            match sipp_step(&args, rate, 10, dir.path()) {
                Some((achieved, failed)) => {
                    eprintln!("dialtone REGISTER+digest step {rate}/s: achieved {achieved:.0}/s, failed {failed}");
                    if failed as f64 <= (rate * 10) as f64 * 0.001 && achieved >= rate as f64 * 0.9
                    {
                        best = achieved;
                    } else {
                        ours_done = true;
                    }
                }
                None => ours_done = true,
            }
        }
        if !kamailio_done {
            match kit
                .as_deref()
                .and_then(|k| kamailio_register_step(k, rate, 10, anchor_out.path()))
            {
                Some(Step {
                    achieved, failed, ..
                }) => {
                    eprintln!("kamailio REGISTER+digest step {rate}/s: achieved {achieved:.0}/s, failed {failed}");
                    if failed as f64 <= (rate * 10) as f64 * 0.001 && achieved >= rate as f64 * 0.9
                    {
                        kamailio_best = achieved;
                    } else {
                        kamailio_done = true;
                    }
                }
                None => kamailio_done = true,
            }
        }
        if ours_done && kamailio_done {
            break;
        }
    }
    let held = endpoint.transactions();
    let rss_mb = rss_bytes() as f64 / 1e6;
    drop(endpoint);
    vec![Row {
        name: "SIP: digest REGISTERs/s through transactions (sipp UDP client, highest clean step)",
        median: best,
        unit: "reg/s",
        target: "-",
        anchor: if kamailio_best > 0.0 {
            format!(
                "Kamailio {kamailio_best:.0}/s same run, ratio {:.2}; {held} transactions held, RSS {rss_mb:.0} MB",
                best / kamailio_best
            )
        } else {
            format!("Kamailio not run here (anchor kit or kamailio missing); {held} transactions held, RSS {rss_mb:.0} MB")
        },
    }]
}
