//! Differential test: a second parser (ezk-sip-types) reads the same messages, and the two
//! must agree on what matters for routing: method, Call-ID, CSeq, the top Via and the tags.

use std::str::FromStr;

use bytes::Bytes;
use dialtone_sip::Message;
use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, Via};
use ezk_sip_types::msg::{Line, MessageLine, PullParser};
use ezk_sip_types::{Headers, Name};

#[derive(Debug, PartialEq)]
struct Facts {
    method: Option<String>,
    status: Option<u16>,
    call_id: String,
    cseq: (u32, String),
    via_branch: String,
    via_transport: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
}

fn ours(raw: &Bytes) -> Facts {
    let m = Message::parse(raw.clone()).unwrap();
    m.validate().unwrap();
    let via = m.top_via().unwrap();
    let (n, method) = m.cseq().unwrap();
    Facts {
        method: m.method().map(str::to_string),
        status: m.status(),
        call_id: m.call_id().unwrap().to_string(),
        cseq: (n, method.to_string()),
        via_branch: via.branch().unwrap().to_string(),
        via_transport: via.transport.to_string(),
        from_tag: m.from().unwrap().tag().map(str::to_string),
        to_tag: m.to().unwrap().tag().map(str::to_string),
    }
}

fn theirs(raw: &Bytes) -> Facts {
    let mut parser = PullParser::new(raw, 0);
    let first = parser.next().unwrap().unwrap();
    let line = MessageLine::from_str(std::str::from_utf8(first).unwrap()).unwrap();
    let mut headers = Headers::new();
    for l in parser {
        let l = l.unwrap();
        let text = std::str::from_utf8(l).unwrap();
        let src = Bytes::copy_from_slice(text.as_bytes());
        let (_, parsed) = Line::parse(&src, std::str::from_utf8(&src).unwrap()).unwrap();
        headers.insert(parsed.name, parsed.value);
    }
    let vias: Vec<Via> = headers.get(Name::VIA).unwrap();
    let via = &vias[0];
    let cseq: CSeq = headers.get(Name::CSEQ).unwrap();
    let call_id: CallID = headers.get(Name::CALL_ID).unwrap();
    let from: FromTo = headers.get(Name::FROM).unwrap();
    let to: FromTo = headers.get(Name::TO).unwrap();
    let (method, status) = match &line {
        MessageLine::Request(r) => (Some(r.method.to_string()), None),
        MessageLine::Response(s) => (None, Some(s.code.into_u16())),
    };
    Facts {
        method,
        status,
        call_id: call_id.0.to_string(),
        cseq: (cseq.cseq, cseq.method.to_string()),
        via_branch: via.params.get_val("branch").unwrap().to_string(),
        via_transport: via.transport.to_string(),
        from_tag: from.tag.map(|t| t.to_string()),
        to_tag: to.tag.map(|t| t.to_string()),
    }
}

fn corpus() -> Vec<Bytes> {
    let msgs = [
        // A Cisco phone's INVITE.
        "INVITE sip:1001@10.1.2.1;user=phone SIP/2.0\r\nVia: SIP/2.0/TCP 10.1.2.3:51234;branch=z9hG4bK6a1b2c3d;rport\r\nFrom: \"Ada Lovelace\" <sip:1000@10.1.2.1>;tag=00de0000-a1b2\r\nTo: <sip:1001@10.1.2.1>\r\nCall-ID: 00de0000-10000001@10.1.2.3\r\nMax-Forwards: 70\r\nCSeq: 101 INVITE\r\nUser-Agent: Cisco-CP8865/14.2.1\r\nContact: <sip:a1b2@10.1.2.3:51234;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-00de00001000>\";+u.sip!devicename.ccm.cisco.com=\"SEP00DE00001000\"\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
        // REGISTER with digest credentials.
        "REGISTER sip:dialtone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0\r\nFrom: <sip:u000001@127.0.0.1>;tag=42R1\r\nTo: <sip:u000001@127.0.0.1>\r\nCall-ID: 1-42@127.0.0.1\r\nCSeq: 2 REGISTER\r\nContact: <sip:u000001@127.0.0.1:5070>\r\nAuthorization: Digest username=\"u000001\", realm=\"dialtone\", nonce=\"abc\", uri=\"sip:127.0.0.1:5060\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\nMax-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
        // A response with two Vias and a To tag.
        "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;received=192.0.2.1;rport=5061\r\nVia: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKdef\r\nFrom: <sip:a@example.com>;tag=111\r\nTo: \"Bob\" <sip:b@example.com>;tag=222\r\nCall-ID: resp-1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        // Compact forms and IPv6.
        "OPTIONS sip:user@[2001:db8::1]:5070 SIP/2.0\r\nv: SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bKv6\r\nf: <sip:a@[2001:db8::9]>;tag=v6tag\r\nt: <sip:user@[2001:db8::1]>\r\ni: compact-v6\r\nCSeq: 3 OPTIONS\r\nl: 0\r\n\r\n",
        // addr-spec From and To, parameters after the URI belong to the header.
        "BYE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKbye\r\nFrom: sip:a@example.com;tag=f1\r\nTo: sip:b@example.com;tag=t1\r\nCall-ID: bye-1@example.com\r\nCSeq: 8 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        // A 401 with a challenge.
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0;received=127.0.0.1;rport=5070\r\nFrom: <sip:u000001@127.0.0.1>;tag=42R1\r\nTo: <sip:u000001@127.0.0.1>;tag=abcdef\r\nCall-ID: 1-42@127.0.0.1\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"dialtone\", nonce=\"n\", algorithm=MD5, qop=\"auth\"\r\nContent-Length: 0\r\n\r\n",
    ];
    msgs.iter()
        .map(|m| Bytes::from_static(m.as_bytes()))
        .collect()
}

#[test]
fn both_parsers_agree_on_the_corpus() {
    for raw in corpus() {
        assert_eq!(
            ours(&raw),
            theirs(&raw),
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }
}

#[test]
fn both_parsers_agree_on_what_our_builder_writes() {
    use dialtone_sip::build;
    for i in 0..200u32 {
        let wire = build::request("MESSAGE", &format!("sip:user{i}@host{}.example.com", i % 7))
            .header(
                "Via",
                &format!(
                    "SIP/2.0/UDP 192.0.2.{}:{};branch=z9hG4bK{i:x}",
                    i % 250 + 1,
                    5060 + i
                ),
            )
            .header(
                "From",
                &format!("\"Caller {i}\" <sip:c{i}@example.com>;tag=t{i}"),
            )
            .header("To", &format!("<sip:user{i}@example.com>"))
            .header("Call-ID", &format!("call-{i}@example.com"))
            .header("CSeq", &format!("{} MESSAGE", i * 7919))
            .header("Max-Forwards", "70")
            .body("text/plain", Bytes::from(format!("hello {i}")))
            .finish();
        assert_eq!(ours(&wire), theirs(&wire));
    }
}
