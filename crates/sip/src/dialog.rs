//! Dialogs (RFC 3261 section 12), for the user-agent toolkit: what in-dialog requests need.

use crate::build::{self, Builder};
use crate::header::{Name, NameAddr};
use crate::message::Message;

/// One side's view of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our address in From of the requests we send (without the tag).
    pub local: String,
    /// The peer's address in To (without the tag).
    pub remote: String,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route headers for in-dialog requests (loose routing).
    pub route_set: Vec<String>,
    pub local_cseq: u32,
}

/// A name-addr written back without its tag parameter.
fn without_tag(a: &NameAddr) -> String {
    let params: Vec<&str> = a
        .params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("tag="))
        .collect();
    let mut out = match a.display {
        Some(d) => format!("\"{d}\" <{}>", a.uri_str),
        None => format!("<{}>", a.uri_str),
    };
    for p in params {
        out.push(';');
        out.push_str(p);
    }
    out
}

fn contact_uri(m: &Message) -> Option<String> {
    m.contacts().next().flatten().map(|c| c.uri_str.to_string())
}

impl Dialog {
    /// The UAC's dialog from its INVITE (or SUBSCRIBE) and a 2xx (or 1xx with a To tag).
    pub fn uac(request: &Message, response: &Message) -> Option<Dialog> {
        let from = request.from()?;
        let to = response.to()?;
        let mut route_set: Vec<String> = response
            .values(Name::RecordRoute)
            .map(str::to_string)
            .collect();
        route_set.reverse();
        Some(Dialog {
            call_id: request.call_id()?.to_string(),
            local_tag: from.tag()?.to_string(),
            remote_tag: to.tag()?.to_string(),
            local: without_tag(&from),
            remote: without_tag(&to),
            remote_target: contact_uri(response)?,
            route_set,
            local_cseq: request.cseq()?.0,
        })
    }

    /// The UAS's dialog from the request that created it and the To tag we answered with.
    pub fn uas(request: &Message, local_tag: &str) -> Option<Dialog> {
        let from = request.from()?;
        let to = request.to()?;
        Some(Dialog {
            call_id: request.call_id()?.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag: from.tag()?.to_string(),
            local: without_tag(&to),
            remote: without_tag(&from),
            remote_target: contact_uri(request)?,
            route_set: request
                .values(Name::RecordRoute)
                .map(str::to_string)
                .collect(),
            local_cseq: 0,
        })
    }

    fn base(&self, method: &str, cseq: u32, via: &str) -> Builder {
        let mut b = build::request(method, &self.remote_target).header("Via", via);
        for r in &self.route_set {
            b = b.header("Route", r);
        }
        b.header("From", &format!("{};tag={}", self.local, self.local_tag))
            .header("To", &format!("{};tag={}", self.remote, self.remote_tag))
            .header("Call-ID", &self.call_id)
            .header("CSeq", &format!("{cseq} {method}"))
            .header("Max-Forwards", "70")
    }

    /// A new in-dialog request (BYE, re-INVITE, REFER, ...): the next CSeq. Add headers and
    /// a body to the builder, then send it as a client transaction.
    pub fn request(&mut self, method: &str, via: &str) -> Builder {
        self.local_cseq += 1;
        self.base(method, self.local_cseq, via)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_cseq` (a transaction of its own).
    pub fn ack(&self, invite_cseq: u32, via: &str) -> Builder {
        self.base("ACK", invite_cseq, via)
    }

    /// Whether a request belongs to this dialog (from the peer's side).
    pub fn matches(&self, m: &Message) -> bool {
        m.call_id() == Some(self.call_id.as_str())
            && m.to().and_then(|t| t.tag().map(str::to_string)).as_deref()
                == Some(self.local_tag.as_str())
            && m.from()
                .and_then(|f| f.tag().map(str::to_string))
                .as_deref()
                == Some(self.remote_tag.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn uac_and_uas_views_agree() {
        let invite = Message::parse(Bytes::from_static(
            b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1\r\n\
              From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\nTo: <sip:bob@biloxi.example.com>\r\n\
              Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@pc33.atlanta.example.com>\r\n\
              Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let ok = Message::parse(Bytes::from_static(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK1\r\n\
              From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\nTo: <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
              Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContact: <sip:bob@192.0.2.4>\r\n\
              Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let mut uac = Dialog::uac(&invite, &ok).unwrap();
        assert_eq!(uac.remote_target, "sip:bob@192.0.2.4");
        assert_eq!(
            uac.route_set,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        let bye = Message::parse(
            uac.request(
                "BYE",
                "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK2",
            )
            .finish(),
        )
        .unwrap();
        assert_eq!(bye.request_uri_str(), Some("sip:bob@192.0.2.4"));
        assert_eq!(bye.cseq(), Some((314160, "BYE")));
        assert_eq!(bye.from().unwrap().tag(), Some("1928301774"));
        assert_eq!(bye.to().unwrap().tag(), Some("a6c85cf"));
        assert_eq!(
            bye.values(Name::Route).collect::<Vec<_>>(),
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        let ack =
            Message::parse(uac.ack(314159, "SIP/2.0/UDP x;branch=z9hG4bK3").finish()).unwrap();
        assert_eq!(ack.cseq(), Some((314159, "ACK")));
        let uas = Dialog::uas(&invite, "a6c85cf").unwrap();
        assert_eq!(uas.remote_target, "sip:alice@pc33.atlanta.example.com");
        assert!(uas.matches(&bye), "the UAS recognises the UAC's BYE");
        assert_eq!(uas.local, "<sip:bob@biloxi.example.com>");
        assert_eq!(uas.remote, "\"Alice\" <sip:alice@atlanta.example.com>");
    }
}
