//! Writing messages: responses built from their request, and requests from parts.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use rand::RngCore;

use crate::header::{Name, Via};
use crate::message::Message;
use crate::uri::Host;

/// The standard reason phrase of a status code.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// A random token for tags and branches (hex, 64 bits of randomness).
pub fn token() -> String {
    let mut raw = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// A new transaction branch.
pub fn branch() -> String {
    format!("{}{}", crate::header::MAGIC_COOKIE, token())
}

/// A message being written; `finish` adds Content-Length and the body.
pub struct Builder {
    out: String,
    body: Bytes,
}

impl Builder {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let _ = write!(self.out, "{name}: {value}\r\n");
        self
    }

    pub fn body(mut self, content_type: &str, body: Bytes) -> Self {
        let _ = write!(self.out, "Content-Type: {content_type}\r\n");
        self.body = body;
        self
    }

    pub fn finish(mut self) -> Bytes {
        let _ = write!(self.out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut v = self.out.into_bytes();
        v.extend_from_slice(&self.body);
        Bytes::from(v)
    }
}

/// The top Via as it goes back: `received` when the source address differs from sent-by,
/// `rport` filled in when the client asked for it (RFC 3261 18.2.1, RFC 3581).
fn top_via_with_source(value: &str, source: Option<SocketAddr>) -> String {
    let (Some(src), Some(via)) = (source, Via::parse(value)) else {
        return value.to_string();
    };
    let sent_by_matches = match via.host {
        Host::V4(a) => std::net::IpAddr::V4(a) == src.ip(),
        Host::V6(a) => std::net::IpAddr::V6(a) == src.ip(),
        Host::Name(_) => false,
    };
    let mut out = String::with_capacity(value.len() + 40);
    let (head, params) = value.split_once(';').unwrap_or((value, ""));
    out.push_str(head.trim_end());
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let key = p.split('=').next().unwrap_or("").trim();
        if key.eq_ignore_ascii_case("rport") {
            let _ = write!(out, ";rport={}", src.port());
        } else if key.eq_ignore_ascii_case("received") {
            // Replaced below with what we saw.
        } else {
            out.push(';');
            out.push_str(p);
        }
    }
    if !sent_by_matches || via.rport().is_some() {
        let _ = write!(out, ";received={}", src.ip());
    }
    out
}

/// Start a response to `req`: status line, Via (with `received`/`rport` from `source`), From,
/// To (with `to_tag` added when the request's To has none and this is not a 100), Call-ID, CSeq.
pub fn response(
    req: &Message,
    code: u16,
    source: Option<SocketAddr>,
    to_tag: Option<&str>,
) -> Builder {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {code} {}\r\n", reason(code));
    for (i, v) in req.values(Name::Via).enumerate() {
        if i == 0 {
            let _ = write!(out, "Via: {}\r\n", top_via_with_source(v, source));
        } else {
            let _ = write!(out, "Via: {v}\r\n");
        }
    }
    if let Some(f) = req.value(Name::From) {
        let _ = write!(out, "From: {f}\r\n");
    }
    if let Some(t) = req.value(Name::To) {
        let has_tag = req.to().and_then(|t| t.tag()).is_some();
        match to_tag {
            Some(tag) if !has_tag && code != 100 => {
                let _ = write!(out, "To: {t};tag={tag}\r\n");
            }
            _ => {
                let _ = write!(out, "To: {t}\r\n");
            }
        }
    }
    if let Some(c) = req.value(Name::CallId) {
        let _ = write!(out, "Call-ID: {c}\r\n");
    }
    if let Some(c) = req.value(Name::CSeq) {
        let _ = write!(out, "CSeq: {c}\r\n");
    }
    Builder {
        out,
        body: Bytes::new(),
    }
}

/// Start a request: request line, then the caller adds headers.
pub fn request(method: &str, uri: &str) -> Builder {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "{method} {uri} SIP/2.0\r\n");
    Builder {
        out,
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:dialtone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport\r\n\
        Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK0\r\n\
        From: <sip:1000@dialtone>;tag=a\r\n\
        To: <sip:1000@dialtone>\r\n\
        Call-ID: c1\r\n\
        CSeq: 1 REGISTER\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn responses_mirror_the_request() {
        let req = Message::parse(Bytes::from_static(REGISTER.as_bytes())).unwrap();
        let src: SocketAddr = "192.0.2.9:40000".parse().unwrap();
        let resp = response(&req, 200, Some(src), Some("xyz"))
            .header("Expires", "3600")
            .finish();
        let r = Message::parse(resp).unwrap();
        assert_eq!(r.status(), Some(200));
        let top = r.top_via().unwrap();
        assert_eq!(top.rport(), Some(Some(40000)));
        assert_eq!(top.param("received"), Some("192.0.2.9"));
        assert_eq!(r.vias().count(), 2);
        assert_eq!(r.to().unwrap().tag(), Some("xyz"));
        assert_eq!(r.cseq(), Some((1, "REGISTER")));
        assert_eq!(r.value(Name::Expires), Some("3600"));
        assert!(r.validate().is_ok());
    }
}
