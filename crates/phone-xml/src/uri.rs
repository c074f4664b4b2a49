//! The URIs phones act on in MenuItem, SoftKeyItem and ExecuteItem URLs.

/// One parsed URI. Web URLs are fetched; the others are acted on by the phone itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Http(String),
    /// Dial the digits (0-9 # * A-D; a comma is a one-second pause).
    Dial(String),
    EditDial(String),
    SendDigits(String),
    /// Key:Soft1, Key:Services, Key:KeyPad5, ...
    Key(String),
    /// SoftKey:Select, Exit, Update, Dial, EditDial, Submit, Next, ...
    SoftKey(String),
    /// Init:Services, Init:Directories, Init:CallHistory, Init:AppStatus
    Init(String),
    /// RTPRx/RTPTx/RTPMRx/RTPMTx: receive or send a stream (`M`: multicast).
    Rtp {
        transmit: bool,
        multicast: bool,
        /// `Stop`, or an address.
        address: Option<(String, u16)>,
        volume: Option<u8>,
    },
    /// Play:, Vibrate:, Display:, Notify:, App:, Device:, QueryStringParam: and the rest:
    /// the scheme and what follows it.
    Other(String, String),
}

impl Uri {
    pub fn parse(s: &str) -> Option<Uri> {
        let s = s.trim();
        if s.starts_with("http://") || s.starts_with("https://") {
            return Some(Uri::Http(s.to_owned()));
        }
        let (scheme, rest) = s.split_once(':')?;
        let digits = |d: &str| {
            d.chars()
                .all(|c| c.is_ascii_digit() || "#*ABCDabcd,+".contains(c))
                .then(|| d.to_owned())
        };
        Some(match scheme {
            "Dial" => Uri::Dial(digits(rest.split(':').next().unwrap_or(""))?),
            "EditDial" => Uri::EditDial(digits(rest)?),
            "SendDigits" => Uri::SendDigits(digits(rest.split(':').next().unwrap_or(""))?),
            "Key" => Uri::Key(rest.to_owned()),
            "SoftKey" => Uri::SoftKey(rest.to_owned()),
            "Init" => Uri::Init(rest.to_owned()),
            "RTPRx" | "RTPTx" | "RTPMRx" | "RTPMTx" => {
                let transmit = scheme.ends_with("Tx");
                let multicast = scheme.starts_with("RTPM");
                if rest == "Stop" {
                    return Some(Uri::Rtp {
                        transmit,
                        multicast,
                        address: None,
                        volume: None,
                    });
                }
                let mut parts = rest.split(':');
                let host = parts.next()?.to_owned();
                let port = parts.next()?.parse().ok()?;
                let volume = match parts.next() {
                    Some(v) => Some(v.parse().ok()?),
                    None => None,
                };
                Uri::Rtp {
                    transmit,
                    multicast,
                    address: Some((host, port)),
                    volume,
                }
            }
            "" => return None,
            other => Uri::Other(other.to_owned(), rest.to_owned()),
        })
    }
}

/// Percent-encode a query string value (RFC 3986 unreserved characters stay).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode a form or query value (`+` is a space); None when it is not valid UTF-8 or a `%`
/// escape is broken.
pub fn query_unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A field of an `application/x-www-form-urlencoded` body (names compared exactly, as phones
/// do: the first of `names` found wins), decoded.
pub fn form_field(body: &[u8], names: &[&str]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            names.contains(&name).then_some(value)
        })
        .and_then(query_unescape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_escape_and_come_back() {
        let v = "São Paulo & <co>=1%";
        assert_eq!(query_escape(v), "S%C3%A3o%20Paulo%20%26%20%3Cco%3E%3D1%25");
        assert_eq!(query_unescape(&query_escape(v)).as_deref(), Some(v));
        assert_eq!(query_unescape("a+b%2"), None);
        assert_eq!(query_unescape("%FF"), None);
        assert_eq!(
            form_field(b"a=1&XML=%3Cx%2F%3E", &["XML"]).as_deref(),
            Some("<x/>")
        );
        assert_eq!(form_field(b"xml=1", &["XML"]), None);
    }

    #[test]
    fn parses_the_schemes_phones_act_on() {
        assert_eq!(Uri::parse("Dial:1000"), Some(Uri::Dial("1000".into())));
        assert_eq!(Uri::parse("Dial:12,34#"), Some(Uri::Dial("12,34#".into())));
        assert_eq!(Uri::parse("Dial:10x"), None);
        assert_eq!(
            Uri::parse("Key:Services"),
            Some(Uri::Key("Services".into()))
        );
        assert_eq!(
            Uri::parse("SoftKey:Exit"),
            Some(Uri::SoftKey("Exit".into()))
        );
        assert_eq!(
            Uri::parse("Init:Directories"),
            Some(Uri::Init("Directories".into()))
        );
        assert_eq!(
            Uri::parse("RTPMRx:239.1.1.1:20480:50"),
            Some(Uri::Rtp {
                transmit: false,
                multicast: true,
                address: Some(("239.1.1.1".into(), 20480)),
                volume: Some(50)
            })
        );
        assert_eq!(
            Uri::parse("RTPRx:Stop"),
            Some(Uri::Rtp {
                transmit: false,
                multicast: false,
                address: None,
                volume: None
            })
        );
        assert_eq!(Uri::parse("RTPTx:1.2.3.4:x"), None);
        assert_eq!(
            Uri::parse("http://h/x?a=1"),
            Some(Uri::Http("http://h/x?a=1".into()))
        );
        assert_eq!(
            Uri::parse("Play:ring.raw"),
            Some(Uri::Other("Play".into(), "ring.raw".into()))
        );
        assert_eq!(Uri::parse("nonsense"), None);
    }
}
