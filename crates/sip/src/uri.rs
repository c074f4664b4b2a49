//! SIP, SIPS and tel URIs (RFC 3261 section 19.1, RFC 3966), borrowed from the message buffer.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A host name, as written.
    Name(&'a str),
    V4(std::net::Ipv4Addr),
    /// Written in brackets in the URI.
    V6(std::net::Ipv6Addr),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A URI; parameters and headers stay raw and are read on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    pub scheme: Scheme,
    /// The user part (sip/sips), or the number (tel), still escaped.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// None for tel URIs.
    pub host: Option<Host<'a>>,
    pub port: Option<u16>,
    /// `;a=b;lr` without the leading `;`, or empty.
    pub params: &'a str,
    /// `a=b&c=d` without the leading `?`, or empty.
    pub headers: &'a str,
    pub raw: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("unsupported URI scheme")]
    UnsupportedScheme,
    #[error("malformed URI: {0}")]
    Malformed(&'static str),
}

/// Find `name` in a `;`-separated parameter list (case-insensitive names). A parameter without
/// a value gives `Some("")`.
pub fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    // Byte scans (every message's Via branch and tags come through here).
    let b = params.as_bytes();
    let mut start = 0;
    while start <= b.len() {
        let end = memchr::memchr(b';', &b[start..]).map_or(b.len(), |i| start + i);
        let p = &params[start..end];
        let (k, v) = match memchr::memchr(b'=', p.as_bytes()) {
            Some(eq) => (&p[..eq], &p[eq + 1..]),
            None => (p, ""),
        };
        if k.trim_ascii().eq_ignore_ascii_case(name) {
            return Some(v.trim_ascii());
        }
        start = end + 1;
    }
    None
}

fn valid_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !h.starts_with(['-', '.'])
}

fn parse_host(s: &str) -> Result<(Host<'_>, Option<u16>), UriError> {
    let (host, rest) = if let Some(inner) = s.strip_prefix('[') {
        let end = inner
            .find(']')
            .ok_or(UriError::Malformed("unclosed IPv6 reference"))?;
        let addr: std::net::Ipv6Addr = inner[..end]
            .parse()
            .map_err(|_| UriError::Malformed("bad IPv6 address"))?;
        (Host::V6(addr), &inner[end + 1..])
    } else {
        let end = memchr::memchr(b':', s.as_bytes()).unwrap_or(s.len());
        let h = &s[..end];
        let host = match h.parse::<std::net::Ipv4Addr>() {
            Ok(a) => Host::V4(a),
            Err(_) if valid_host_name(h) => Host::Name(h),
            Err(_) => return Err(UriError::Malformed("bad host")),
        };
        (host, &s[end..])
    };
    let port = match rest {
        "" => None,
        p => Some(
            p.strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or(UriError::Malformed("bad port"))?,
        ),
    };
    Ok((host, port))
}

impl<'a> Uri<'a> {
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, UriError> {
        let (scheme_text, rest) = raw
            .split_once(':')
            .ok_or(UriError::Malformed("no scheme"))?;
        let scheme = if scheme_text.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_text.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_text.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else if !scheme_text.is_empty()
            && scheme_text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(UriError::UnsupportedScheme);
        } else {
            return Err(UriError::Malformed("bad scheme"));
        };
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(UriError::Malformed("unescaped space or delimiter"));
        }
        if scheme == Scheme::Tel {
            let (rest, headers) = rest.split_once('?').unwrap_or((rest, ""));
            let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
            if number.is_empty() {
                return Err(UriError::Malformed("empty telephone number"));
            }
            return Ok(Uri {
                scheme,
                user: Some(number),
                password: None,
                host: None,
                port: None,
                params,
                headers,
                raw,
            });
        }
        // The user part may hold '?', ';' and '/' unescaped but never '@', and nothing after
        // the host may hold an unescaped '@': the first '@' ends the user part.
        let (userinfo, after) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (after, headers) = after.split_once('?').unwrap_or((after, ""));
        let (hostport, params) = after.split_once(';').unwrap_or((after, ""));
        let (host, port) = parse_host(hostport)?;
        let (user, password) = match userinfo {
            None => (None, None),
            Some("") => return Err(UriError::Malformed("empty user part")),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u), Some(p)),
                None => (Some(u), None),
            },
        };
        Ok(Uri {
            scheme,
            user,
            password,
            host: Some(host),
            port,
            params,
            headers,
            raw,
        })
    }

    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }

    /// `host[:port]` as in a URI or a Via's sent-by.
    pub fn parse_host_port(s: &'a str) -> Option<(Host<'a>, Option<u16>)> {
        parse_host(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_forms() {
        let u = Uri::parse("sip:alice:pw@atlanta.com:5061;transport=tcp;lr?subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!((u.user, u.password), (Some("alice"), Some("pw")));
        assert_eq!(u.host, Some(Host::Name("atlanta.com")));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.param("transport"), Some("tcp"));
        assert_eq!(u.param("lr"), Some(""));
        assert_eq!(u.headers, "subject=x");
        let u = Uri::parse("sips:[2001:db8::10]:5061").unwrap();
        assert_eq!(u.host, Some(Host::V6("2001:db8::10".parse().unwrap())));
        let u = Uri::parse("sip:192.0.2.4").unwrap();
        assert_eq!(u.host, Some(Host::V4("192.0.2.4".parse().unwrap())));
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.user, Some("+1-201-555-0123"));
        assert_eq!(u.param("phone-context"), Some("example.com"));
        let u = Uri::parse("sip:1000@127.0.0.1").unwrap();
        assert_eq!(u.user, Some("1000"));
    }

    #[test]
    fn refuses_bad_ones() {
        assert_eq!(Uri::parse("http://x"), Err(UriError::UnsupportedScheme));
        assert!(matches!(Uri::parse("sip:"), Err(UriError::Malformed(_))));
        assert!(matches!(
            Uri::parse("sip:a@[::1"),
            Err(UriError::Malformed(_))
        ));
        assert!(matches!(
            Uri::parse("sip:a@host:99999"),
            Err(UriError::Malformed(_))
        ));
        assert!(matches!(
            Uri::parse("sip:a b@host"),
            Err(UriError::Malformed(_))
        ));
        assert!(matches!(
            Uri::parse("sip:@host"),
            Err(UriError::Malformed(_))
        ));
    }
}
