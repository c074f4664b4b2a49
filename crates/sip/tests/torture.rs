//! RFC 4475 torture messages, re-created from the RFC's descriptions (section numbers given).
//! Valid ones parse and validate; invalid ones give an error whose status is the one the RFC
//! names for a UAS (400, 416, 420, 505, 513, ...).

use bytes::Bytes;
use dialtone_sip::{Message, Name};

/// Lines joined with CRLF; `{CL}` becomes the body's length; the body follows a blank line.
fn msg(head: &str, body: &str) -> Bytes {
    let head = head.trim_start_matches('\n').replace('\n', "\r\n");
    let head = head.replace("{CL}", &body.len().to_string());
    Bytes::from(format!("{head}\r\n{body}"))
}

/// The status a UAS answers with (200 meaning "accepted by the parser and validation").
fn outcome(raw: Bytes) -> u16 {
    match Message::parse(raw).and_then(|m| m.validate().map(|_| m)) {
        Ok(m) => {
            // RFC 3261 8.2.2.3: Require naming an extension we lack gets 420.
            if !m
                .unsupported_requirements(&["100rel", "timer", "replaces"])
                .is_empty()
            {
                420
            } else {
                200
            }
        }
        Err(e) => e.status(),
    }
}

const SDP: &str = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.3\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n";

#[test]
fn s3_1_1_1_wsinv_short_tortuous_invite() {
    let raw = msg(
        r#"
INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {CL}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
"#,
        SDP,
    );
    let m = Message::parse(raw.clone()).unwrap();
    m.validate().unwrap();
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.cseq(), Some((9, "INVITE")));
    assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(m.from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(m.from().unwrap().display, Some("J Rosenberg \\\\\\\""));
    let vias: Vec<_> = m.vias().map(Option::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let contact = m.contacts().next().unwrap().unwrap();
    assert_eq!(contact.param("newparam"), Some("newvalue"));
    assert_eq!(contact.param("q"), Some("0.33"));
    assert_eq!(m.body().len(), SDP.len());
    assert_eq!(outcome(raw), 200);
}

#[test]
fn s3_1_1_2_intmeth_wide_range_of_valid_characters() {
    let raw = msg(
        r#"
!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\{BEL} NUL:\{NUL} DEL:\{DEL}" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="работающий";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:﻿大停電
Content-Length: 0
"#,
        "",
    );
    // The RFC escapes the control characters BEL, NUL and DEL in the quoted display name.
    let raw = Bytes::from(
        String::from_utf8(raw.to_vec())
            .unwrap()
            .replace("{BEL}", "\u{7}")
            .replace("{NUL}", "\u{0}")
            .replace("{DEL}", "\u{7f}"),
    );
    let m = Message::parse(raw.clone()).unwrap();
    assert_eq!(
        m.method(),
        Some("!interesting-Method0123456789_*+`.%indeed'~")
    );
    assert_eq!(m.values_named("extensionHeader-!.%*+_`'~").count(), 1);
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(
        uri.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        uri.password,
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(m.validate(), Ok(()));
    assert_eq!(outcome(raw), 200);
}

#[test]
fn s3_1_1_6_lwsdisp_no_space_between_display_name_and_angle() {
    let raw = msg(
        "
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0
",
        "",
    );
    assert_eq!(outcome(raw.clone()), 200);
    let m = Message::parse(raw).unwrap();
    assert_eq!(m.from().unwrap().display, Some("caller"));
}

#[test]
fn s3_1_1_7_longreq_long_values() {
    let long = "a".repeat(2000);
    let raw = msg(
        &format!(
            "
INVITE sip:user@example.com SIP/2.0
To: \"I have a user name of {long} proportion\" <sip:user@example.com:6000;unknownparam=veryveryverylongvalue;longparam{long}=shortvalue>
From: sip:{long}@example.net;tag=12982424
Call-ID: longreq.onereallyreallyreallyreallyreallyreallyreallyreallylongcallid
CSeq: 1 INVITE
Max-Forwards: 70
Via: SIP/2.0/TCP sip33.example.com;branch=z9hG4bK{long}
Via: SIP/2.0/TCP sip32.example.com
Via: SIP/2.0/TCP sip31.example.com
Contact: <sip:amazinglylongcallername{long}@host5.example.net>
Content-Type: application/sdp
l: {{CL}}
"
        ),
        SDP,
    );
    assert_eq!(outcome(raw.clone()), 200);
    let m = Message::parse(raw).unwrap();
    assert_eq!(m.vias().count(), 3);
    assert!(m.top_via().unwrap().branch().unwrap().len() > 2000);
}

#[test]
fn s3_1_1_8_dblreq_extra_octets_after_the_body_are_ignored() {
    let first = msg(
        "
REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0
",
        "",
    );
    let mut both = first.to_vec();
    both.extend_from_slice(b"INVITE sip:joe@example.com SIP/2.0\r\nt: sip:joe@example.com\r\n\r\n");
    let m = Message::parse(Bytes::from(both)).unwrap();
    m.validate().unwrap();
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body().is_empty());
}

#[test]
fn s3_1_1_9_semiuri_semicolons_in_the_user_part() {
    let raw = msg(
        "
OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0
",
        "",
    );
    let m = Message::parse(raw.clone()).unwrap();
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(uri.user, Some("user;par=u%40example.net"));
    assert_eq!(uri.host.unwrap().to_string(), "example.com");
    assert_eq!(outcome(raw), 200);
}

#[test]
fn s3_1_1_10_transports_varied_and_unknown() {
    let raw = msg(
        "
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0
",
        "",
    );
    let m = Message::parse(raw.clone()).unwrap();
    let transports: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(outcome(raw), 200);
}

#[test]
fn s3_1_1_12_unreason_and_s3_1_1_13_noreason() {
    let unusual = msg(
        "
SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: {CL}
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>
",
        SDP,
    );
    let m = Message::parse(unusual).unwrap();
    m.validate().unwrap();
    assert_eq!(m.status(), Some(200));
    assert!(m.reason().unwrap().contains("простое"));
    let empty = msg(
        "
SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>
",
        "",
    );
    let m = Message::parse(empty).unwrap();
    assert_eq!((m.status(), m.reason()), (Some(100), Some("")));
}

/// A valid OPTIONS with one line swapped, for the invalid cases.
fn options_with(replace: &str, with: &str) -> Bytes {
    let base = "
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 70
Call-ID: torture.0ha0isndaksdj
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0
";
    assert!(base.contains(replace), "{replace}");
    msg(&base.replace(replace, with), "")
}

#[test]
fn invalid_messages_get_the_status_the_rfc_names() {
    let cases: Vec<(&str, Bytes, u16)> = vec![
        // 3.1.2.2 clerr: Content-Length larger than the message.
        ("clerr", options_with("l: 0", "l: 9999"), 400),
        // 3.1.2.3 ncl: negative Content-Length.
        ("ncl", options_with("l: 0", "l: -999"), 400),
        // 3.1.2.4 scalar02: overlarge scalar values.
        (
            "scalar02 cseq",
            options_with("CSeq: 8 OPTIONS", "CSeq: 36893488147419103232 OPTIONS"),
            400,
        ),
        (
            "scalar02 max-forwards",
            options_with("Max-Forwards: 70", "Max-Forwards: 300"),
            400,
        ),
        // 3.1.2.6 quotbal: unterminated quoted string in a display name.
        (
            "quotbal",
            options_with(
                "To: sip:user@example.com",
                "To: \"Mr. J. User <sip:j.user@example.com>",
            ),
            400,
        ),
        // 3.1.2.7 ltgtruri: <> around the Request-URI.
        (
            "ltgtruri",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS <sip:user@example.com> SIP/2.0",
            ),
            400,
        ),
        // 3.1.2.8 lwsruri: white space inside the Request-URI.
        (
            "lwsruri",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS sip:user@example.com; lr SIP/2.0",
            ),
            400,
        ),
        // 3.1.2.9 lwsstart: several spaces between Request-Line elements.
        (
            "lwsstart",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS  sip:user@example.com   SIP/2.0",
            ),
            400,
        ),
        // 3.1.2.10 trws: white space at the end of the Request-Line.
        (
            "trws",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS sip:user@example.com SIP/2.0 ",
            ),
            400,
        ),
        // 3.1.2.11 escruri: escaped headers in the Request-URI.
        (
            "escruri",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
            ),
            400,
        ),
        // 3.1.2.13 regbadct: a Contact with '?' outside <>.
        (
            "regbadct",
            options_with(
                "l: 0",
                "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\nl: 0",
            ),
            400,
        ),
        // 3.1.2.14 badaspec: white space inside an addr-spec.
        (
            "badaspec 2",
            options_with("To: sip:user@example.com", "To: sip:user @example.com"),
            400,
        ),
        // 3.1.2.15 baddn: a display name with non-token characters, unquoted.
        (
            "baddn",
            options_with(
                "From: sip:caller@example.org;tag=33242",
                "From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            ),
            400,
        ),
        // 3.1.2.16 badvers: an unknown protocol version.
        (
            "badvers",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS sip:user@example.com SIP/7.0",
            ),
            505,
        ),
        // 3.1.2.17 mismatch01: Request-Line and CSeq methods differ.
        (
            "mismatch01",
            options_with("CSeq: 8 OPTIONS", "CSeq: 8 INVITE"),
            400,
        ),
        // 3.1.2.18 mismatch02: an unknown method with a mismatched CSeq.
        (
            "mismatch02",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "NEWMETHOD sip:user@example.com SIP/2.0",
            ),
            400,
        ),
        // 3.3.1 insuf: required headers missing.
        (
            "insuf",
            options_with("Call-ID: torture.0ha0isndaksdj\n", ""),
            400,
        ),
        (
            "insuf via",
            options_with("Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n", ""),
            400,
        ),
        // 3.3.2 unkscm and 3.3.3 novelsc: Request-URIs of schemes we do not speak.
        (
            "unkscm",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0",
            ),
            416,
        ),
        (
            "novelsc",
            options_with(
                "OPTIONS sip:user@example.com SIP/2.0",
                "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0",
            ),
            416,
        ),
        // 3.3.4 unksm2: unknown schemes in To and From are fine.
        (
            "unksm2",
            options_with("To: sip:user@example.com", "To: isbn:2983792873"),
            200,
        ),
        // 3.3.5 bext01: an extension we do not support is required.
        (
            "bext01",
            options_with(
                "l: 0",
                "Require: nothingSupportsThis, nothingSupportsThisEither\nl: 0",
            ),
            420,
        ),
        // 3.3.8 multi01: several values in single-value headers.
        (
            "multi01",
            options_with("l: 0", "Call-ID: other.call\nl: 0"),
            400,
        ),
        (
            "multi01 to",
            options_with(
                "To: sip:user@example.com",
                "To: sip:user@example.com, sip:other@example.com",
            ),
            400,
        ),
        // 3.3.9 mcl01: several Content-Length values.
        (
            "mcl01",
            options_with("l: 0", "l: 0\nContent-Length: 0"),
            400,
        ),
        // 3.1.2.1 badinv01: extraneous separators in Via.
        (
            "badinv01",
            options_with(
                "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
                "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
            ),
            400,
        ),
        // Headers that never end.
        (
            "unterminated",
            Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\nTo: sip:a@b\r\n"),
            400,
        ),
        // A header line that is no header.
        (
            "no colon",
            options_with("Max-Forwards: 70", "Max-Forwards 70"),
            400,
        ),
    ];
    for (name, raw, status) in cases {
        assert_eq!(outcome(raw), status, "{name}");
    }
}

#[test]
fn s3_1_2_19_bigcode_and_oversize_messages() {
    let big = msg("\nSIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\nCSeq: 353494 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\n", "");
    assert!(
        Message::parse(big).is_err(),
        "a response with a huge code is dropped"
    );
    let huge = Bytes::from(vec![b'a'; 70 * 1024]);
    assert_eq!(Message::parse(huge).unwrap_err().status(), 513);
}

#[test]
fn compact_forms_and_case_insensitive_names() {
    let raw = msg(
        "
OPTIONS sip:user@example.com SIP/2.0
t: sip:user@example.com
f: sip:caller@example.org;tag=1
i: compact@x
cSeQ: 1 OPTIONS
v: SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKx;rport
m: *
k: timer, 100rel
l: 0
",
        "",
    );
    let m = Message::parse(raw.clone()).unwrap();
    m.validate().unwrap();
    assert_eq!(m.call_id(), Some("compact@x"));
    let via = m.top_via().unwrap();
    assert_eq!(via.host.to_string(), "[2001:db8::9]");
    assert_eq!((via.port, via.rport()), (Some(5070), Some(None)));
    assert!(m.contacts().next().unwrap().is_none(), "Contact: *");
    assert_eq!(
        m.values(Name::Supported).collect::<Vec<_>>(),
        ["timer", "100rel"]
    );
}

#[test]
fn s3_1_1_3_to_5_escapes_in_uris_and_headers() {
    // esc01: valid %-escaping in the Request-URI, From, To and Contact.
    let esc01 = msg(
        "
INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact: <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: {CL}
",
        SDP,
    );
    let m = Message::parse(esc01.clone()).unwrap();
    assert_eq!(
        m.request_uri().unwrap().unwrap().user,
        Some("sips%3Auser%40example.com")
    );
    assert_eq!(outcome(esc01), 200);
    // escnull: escaped NULs in user parts.
    let escnull = msg(
        "
REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0
",
        "",
    );
    assert_eq!(outcome(escnull), 200);
    // esc02: '%' used where it is not escaping, in places that allow it (Call-ID, tags).
    let esc02 = msg(
        "
RE%47IST%45R sip:registrar.example.com SIP/2.0
To: \"%Z%45\" <sip:resource@example.com>
From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0
",
        "",
    );
    let m = Message::parse(esc02.clone()).unwrap();
    assert_eq!(
        m.method(),
        Some("RE%47IST%45R"),
        "methods are not unescaped"
    );
    assert_eq!(
        m.values_named("C%6Fntact").count(),
        1,
        "an unknown header, not Contact"
    );
    assert_eq!(outcome(esc02), 200);
}

#[test]
fn s3_1_1_11_mpart01_multipart_body() {
    let body = "\r\n--boundary42\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n\r\n--boundary42\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: binary\r\n\r\n\u{0}\u{1}\u{2}binary-signature\r\n--boundary42--\r\n";
    let raw = msg(
        "
MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: <sip:goma@example.org>;tag=1
To: <sip:kumiko@example.org>
Call-ID: mpart01.2309qnkwe08g
CSeq: 1 MESSAGE
Content-Type: multipart/signed;protocol=\"application/pkcs7-signature\";micalg=sha1;boundary=boundary42
Content-Length: {CL}
",
        body,
    );
    let m = Message::parse(raw.clone()).unwrap();
    assert_eq!(m.body().len(), body.len(), "the body is bytes, kept whole");
    assert_eq!(outcome(raw), 200);
}

#[test]
fn s3_1_2_5_scalarlg_response_with_overlarge_values_is_refused() {
    let raw = msg(
        "
SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0
",
        "",
    );
    let m = Message::parse(raw).unwrap();
    assert!(m.validate().is_err(), "a client drops it");
}

#[test]
fn s3_3_12_zeromf_and_s3_3_14_regescrt_and_s3_3_13_cparam() {
    // Max-Forwards 0 on a request for us is fine; proxies alone answer 483.
    assert_eq!(
        outcome(options_with("Max-Forwards: 70", "Max-Forwards: 0")),
        200
    );
    // An escaped Route header in a Contact inside <>.
    let regescrt = options_with(
        "l: 0",
        "Contact: <sip:user@host129.example.com?Route=%3Csip:sip.example.com%3E>\nl: 0",
    );
    assert_eq!(outcome(regescrt), 200);
    // Content-Type parameters, quoted and not.
    let cparam = options_with(
        "l: 0",
        "Content-Type: application/sdp;charset=ISO-10646\nl: 0",
    );
    let m = Message::parse(cparam.clone()).unwrap();
    assert_eq!(
        m.value(Name::ContentType),
        Some("application/sdp;charset=ISO-10646")
    );
    assert_eq!(outcome(cparam), 200);
}
