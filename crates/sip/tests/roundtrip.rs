//! Property: what the builder writes, the parser reads back the same; and nothing panics on
//! arbitrary input.

use bytes::Bytes;
use dialtone_sip::{build, Message, Name};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[2001:db8::7]".to_string()),
    ]
}

prop_compose! {
    fn request_parts()(
        method in "[A-Z]{3,10}",
        user in "[a-zA-Z0-9_.!~*'()-]{1,12}",
        host in host(),
        port in proptest::option::of(1u16..),
        display in proptest::option::of("[a-zA-Z0-9 ,@<>;:\\\\\"]{0,20}"),
        from_tag in token(),
        call_id in "[a-zA-Z0-9.!%*_+`'~@-]{1,40}",
        cseq in 0u32..=u32::MAX,
        branch in "[a-zA-Z0-9]{1,20}",
        vias in 1usize..4,
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) -> (String, String, String, Option<u16>, Option<String>, String, String, u32, String, usize, Vec<u8>) {
        (method, user, host, port, display, from_tag, call_id, cseq, branch, vias, body)
    }
}

/// A display name quoted with the needed escapes.
fn quoted(d: &str) -> String {
    let mut s = String::from("\"");
    for c in d.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn built_requests_parse_back((method, user, host, port, display, from_tag, call_id, cseq, branch, vias, body) in request_parts()) {
        let hostport = match port { Some(p) => format!("{host}:{p}"), None => host.clone() };
        let uri = format!("sip:{user}@{hostport}");
        let from = match &display {
            Some(d) => format!("{} <{uri}>;tag={from_tag}", quoted(d)),
            None => format!("<{uri}>;tag={from_tag}"),
        };
        let mut b = build::request(&method, &uri);
        for i in 0..vias {
            b = b.header("Via", &format!("SIP/2.0/UDP {hostport};branch=z9hG4bK{branch}{i};rport"));
        }
        let wire = b
            .header("From", &from)
            .header("To", &format!("<{uri}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", &format!("{cseq} {method}"))
            .header("Max-Forwards", "70")
            .body("application/octet-stream", Bytes::from(body.clone()))
            .finish();
        let m = Message::parse(wire).unwrap();
        prop_assert_eq!(m.validate(), Ok(()));
        prop_assert_eq!(m.method(), Some(method.as_str()));
        prop_assert_eq!(m.request_uri_str(), Some(uri.as_str()));
        let parsed_uri = m.request_uri().unwrap().unwrap();
        prop_assert_eq!(parsed_uri.user, Some(user.as_str()));
        prop_assert_eq!(parsed_uri.port, port);
        prop_assert_eq!(parsed_uri.host.unwrap().to_string(), host);
        prop_assert_eq!(m.call_id(), Some(call_id.as_str()));
        prop_assert_eq!(m.cseq(), Some((cseq, method.as_str())));
        let f = m.from().unwrap();
        prop_assert_eq!(f.tag(), Some(from_tag.as_str()));
        let expected_display = display.as_ref().map(|d| quoted(d)[1..quoted(d).len() - 1].to_string());
        prop_assert_eq!(f.display.map(str::to_string), expected_display);
        let branches: Vec<String> = m.vias().map(|v| v.unwrap().branch().unwrap().to_string()).collect();
        let expected: Vec<String> = (0..vias).map(|i| format!("z9hG4bK{branch}{i}")).collect();
        prop_assert_eq!(branches, expected);
        prop_assert_eq!(m.body().to_vec(), body);
        prop_assert_eq!(m.value(Name::ContentType), Some("application/octet-stream"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(Bytes::from(data)) {
            let _ = m.validate();
            let _ = m.top_via();
            let _ = (m.from(), m.to(), m.cseq(), m.call_id(), m.contacts().count());
            let _ = m.request_uri();
        }
    }

    #[test]
    fn mangled_requests_never_panic(cut in 0usize..400, flip in 0usize..400, byte in any::<u8>()) {
        let base = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"A\" <sip:a@b>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@h>\r\nContent-Length: 4\r\n\r\nbody";
        let mut v = base.to_vec();
        if flip < v.len() { v[flip] = byte; }
        v.truncate(cut.min(v.len()));
        if let Ok(m) = Message::parse(Bytes::from(v)) {
            let _ = m.validate();
            let _ = (m.from(), m.to(), m.top_via(), m.contacts().count());
        }
    }
}
