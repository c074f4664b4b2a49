//! Header names (with compact forms) and the typed headers decoded on demand.

use crate::uri::{param, Host, Uri, UriError};

/// Headers the stack reads; everything else is `Other` and kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Name {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    Route,
    RecordRoute,
    Authorization,
    WwwAuthenticate,
    ProxyAuthorization,
    ProxyAuthenticate,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    Expires,
    UserAgent,
    Allow,
    Event,
    /// RFC 4028 session timers.
    SessionExpires,
    /// RFC 3515 transfer.
    ReferTo,
    /// RFC 4488: a REFER without its implicit subscription.
    ReferSub,
    Other,
}

impl Name {
    pub fn from_bytes(b: &[u8]) -> Name {
        let eq = |s: &str| b.eq_ignore_ascii_case(s.as_bytes());
        // Dispatch on length first: one comparison per header instead of a chain of them.
        match b.len() {
            1 => match b[0].to_ascii_lowercase() {
                b'v' => Name::Via,
                b'f' => Name::From,
                b't' => Name::To,
                b'i' => Name::CallId,
                b'm' => Name::Contact,
                b'l' => Name::ContentLength,
                b'c' => Name::ContentType,
                b'k' => Name::Supported,
                b'o' => Name::Event,
                b'x' => Name::SessionExpires,
                b'r' => Name::ReferTo,
                _ => Name::Other,
            },
            2 if eq("To") => Name::To,
            3 if eq("Via") => Name::Via,
            4 if eq("From") => Name::From,
            4 if eq("CSeq") => Name::CSeq,
            5 if eq("Route") => Name::Route,
            5 if eq("Allow") => Name::Allow,
            5 if eq("Event") => Name::Event,
            7 if eq("Call-ID") => Name::CallId,
            7 if eq("Contact") => Name::Contact,
            7 if eq("Require") => Name::Require,
            7 if eq("Expires") => Name::Expires,
            8 if eq("Refer-To") => Name::ReferTo,
            9 if eq("Supported") => Name::Supported,
            9 if eq("Refer-Sub") => Name::ReferSub,
            10 if eq("User-Agent") => Name::UserAgent,
            11 if eq("Unsupported") => Name::Unsupported,
            12 if eq("Max-Forwards") => Name::MaxForwards,
            12 if eq("Content-Type") => Name::ContentType,
            12 if eq("Record-Route") => Name::RecordRoute,
            13 if eq("Authorization") => Name::Authorization,
            13 if eq("Proxy-Require") => Name::ProxyRequire,
            14 if eq("Content-Length") => Name::ContentLength,
            15 if eq("Session-Expires") => Name::SessionExpires,
            16 if eq("WWW-Authenticate") => Name::WwwAuthenticate,
            18 if eq("Proxy-Authenticate") => Name::ProxyAuthenticate,
            19 if eq("Proxy-Authorization") => Name::ProxyAuthorization,
            _ => Name::Other,
        }
    }

    /// Headers whose values form a comma-separated list (several may share one line).
    pub fn is_list(self) -> bool {
        matches!(
            self,
            Name::Via
                | Name::Contact
                | Name::Route
                | Name::RecordRoute
                | Name::Supported
                | Name::Require
                | Name::ProxyRequire
                | Name::Unsupported
                | Name::Allow
        )
    }

    /// The canonical spelling, for messages we write.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Via => "Via",
            Name::From => "From",
            Name::To => "To",
            Name::CallId => "Call-ID",
            Name::CSeq => "CSeq",
            Name::Contact => "Contact",
            Name::MaxForwards => "Max-Forwards",
            Name::ContentLength => "Content-Length",
            Name::ContentType => "Content-Type",
            Name::Route => "Route",
            Name::RecordRoute => "Record-Route",
            Name::Authorization => "Authorization",
            Name::WwwAuthenticate => "WWW-Authenticate",
            Name::ProxyAuthorization => "Proxy-Authorization",
            Name::ProxyAuthenticate => "Proxy-Authenticate",
            Name::Supported => "Supported",
            Name::Require => "Require",
            Name::ProxyRequire => "Proxy-Require",
            Name::Unsupported => "Unsupported",
            Name::Expires => "Expires",
            Name::UserAgent => "User-Agent",
            Name::Allow => "Allow",
            Name::Event => "Event",
            Name::SessionExpires => "Session-Expires",
            Name::ReferTo => "Refer-To",
            Name::ReferSub => "Refer-Sub",
            Name::Other => "",
        }
    }
}

/// `"Display" <uri>;params` or `uri;params` (From, To, Contact, Route, Record-Route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name, without quotes (escapes kept).
    pub display: Option<&'a str>,
    /// The URI as written; any scheme is allowed here (RFC 4475 3.3.4), `uri()` decodes it.
    pub uri_str: &'a str,
    /// Header parameters (`tag=..;expires=..`) without the leading `;`.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    pub fn parse(v: &'a str) -> Option<NameAddr<'a>> {
        let v = v.trim_ascii();
        let (display, rest) = if let Some(q) = v.strip_prefix('"') {
            // Quoted display name, with backslash escapes.
            let bytes = q.as_bytes();
            let mut i = 0;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if i >= bytes.len() {
                return None;
            }
            (Some(&q[..i]), q[i + 1..].trim_ascii_start())
        } else if let Some(lt) = memchr::memchr(b'<', v.as_bytes()) {
            let d = v[..lt].trim_ascii();
            // An unquoted display name is tokens and white space only.
            if !d
                .bytes()
                .all(|b| crate::message::is_token(b) || b == b' ' || b == b'\t')
            {
                return None;
            }
            (if d.is_empty() { None } else { Some(d) }, &v[lt..])
        } else {
            (None, v)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = memchr::memchr(b'>', inner.as_bytes())?;
            let uri_str = inner[..gt].trim_ascii();
            check_uri_syntax(uri_str)?;
            let after = inner[gt + 1..].trim_ascii();
            let params = match after {
                "" => "",
                p => p.strip_prefix(';')?.trim_ascii(),
            };
            Some(NameAddr {
                display,
                uri_str,
                params,
            })
        } else {
            if display.is_some() {
                return None;
            }
            // addr-spec: parameters after the URI belong to the header (RFC 3261 20.10), and
            // it may not carry '?' headers or ',' (those need the <> form).
            let (u, params) = rest.split_once(';').unwrap_or((rest, ""));
            let uri_str = u.trim();
            if uri_str.contains(['?', ',']) {
                return None;
            }
            check_uri_syntax(uri_str)?;
            Some(NameAddr {
                display,
                uri_str,
                params: params.trim(),
            })
        }
    }

    /// The URI, decoded (an error for schemes other than sip, sips and tel).
    pub fn uri(&self) -> Result<Uri<'a>, UriError> {
        Uri::parse(self.uri_str)
    }

    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").filter(|t| !t.is_empty())
    }
}

/// A URI of any scheme must at least look like one: `scheme:rest`, with no white space or
/// control characters. The full decoding waits until someone asks (`NameAddr::uri`).
fn check_uri_syntax(u: &str) -> Option<()> {
    let colon = memchr::memchr(b':', u.as_bytes())?;
    let (scheme, rest) = (&u[..colon], &u[colon + 1..]);
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (scheme_ok && !rest.is_empty() && !u.bytes().any(|b| b <= b' ' || b == 0x7f)).then_some(())
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    pub transport: &'a str,
    pub host: Host<'a>,
    pub port: Option<u16>,
    pub params: &'a str,
}

/// The branch prefix of RFC 3261 transactions.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    pub fn parse(v: &'a str) -> Option<Via<'a>> {
        // Byte scans: every message's top Via is read, most more than once.
        let slash = memchr::memchr(b'/', v.as_bytes())?;
        let proto = v[..slash].trim_ascii();
        let after = &v[slash + 1..];
        let slash = memchr::memchr(b'/', after.as_bytes())?;
        let version = after[..slash].trim_ascii();
        let rest = after[slash + 1..].trim_ascii_start();
        if !proto.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return None;
        }
        let t_end = rest
            .bytes()
            .position(|c| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let transport = &rest[..t_end];
        if transport.is_empty() || !transport.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let rest = rest[t_end..].trim_ascii_start();
        let (sent_by, params) = match memchr::memchr(b';', rest.as_bytes()) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let sent_by = sent_by.trim_ascii();
        // Reuse the URI host grammar for sent-by.
        let fake = Uri::parse_host_port(sent_by)?;
        Some(Via {
            transport,
            host: fake.0,
            port: fake.1,
            params: params.trim_ascii(),
        })
    }

    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch").filter(|b| !b.is_empty())
    }

    /// `Some(None)` for a bare `rport` (asking for it), `Some(Some(p))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|p| p.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_in_any_case() {
        for n in [
            Name::Via,
            Name::From,
            Name::To,
            Name::CallId,
            Name::CSeq,
            Name::Contact,
            Name::MaxForwards,
            Name::ContentLength,
            Name::ContentType,
            Name::Route,
            Name::RecordRoute,
            Name::Authorization,
            Name::WwwAuthenticate,
            Name::ProxyAuthorization,
            Name::ProxyAuthenticate,
            Name::Supported,
            Name::Require,
            Name::ProxyRequire,
            Name::Unsupported,
            Name::Expires,
            Name::UserAgent,
            Name::Allow,
            Name::Event,
            Name::SessionExpires,
            Name::ReferTo,
            Name::ReferSub,
        ] {
            assert_eq!(Name::from_bytes(n.as_str().as_bytes()), n, "{}", n.as_str());
            assert_eq!(
                Name::from_bytes(n.as_str().to_ascii_uppercase().as_bytes()),
                n
            );
        }
        assert_eq!(Name::from_bytes(b"X-Cisco-Foo"), Name::Other);
        assert_eq!(Name::from_bytes(b"x"), Name::SessionExpires, "compact form");
        assert_eq!(Name::from_bytes(b"R"), Name::ReferTo, "compact form");
    }
}
