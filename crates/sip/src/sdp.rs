//! SDP edited in place. Call control relays SDP as bytes; where it must change it (hold,
//! media it anchors), only the lines concerned change: the connection address (`c=`), a
//! media port (`m=`) and the direction attribute. Every other line, its order and unknown
//! attributes such as `a=X-cisco-media:umoh` pass through byte for byte.

use bytes::Bytes;

pub mod negotiate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "a=sendrecv",
            Direction::SendOnly => "a=sendonly",
            Direction::RecvOnly => "a=recvonly",
            Direction::Inactive => "a=inactive",
        }
    }

    pub(crate) fn parse(line: &str) -> Option<Direction> {
        match line {
            "a=sendrecv" => Some(Direction::SendRecv),
            "a=sendonly" => Some(Direction::SendOnly),
            "a=recvonly" => Some(Direction::RecvOnly),
            "a=inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// Lines with their terminators, so unchanged lines are copied exactly.
fn lines(sdp: &str) -> impl Iterator<Item = (&str, &str)> {
    sdp.split_inclusive('\n').map(|l| {
        let body = l.trim_end_matches(['\r', '\n']);
        (body, &l[body.len()..])
    })
}

/// The direction of media section `index` (from 0): its own attribute, else the session's,
/// else sendrecv (RFC 4566 / RFC 3264).
pub fn direction(sdp: &[u8], index: usize) -> Option<Direction> {
    let text = std::str::from_utf8(sdp).ok()?;
    let mut section: Option<usize> = None;
    let mut session = None;
    let mut media = None;
    let mut count = 0;
    for (l, _) in lines(text) {
        if l.starts_with("m=") {
            section = Some(count);
            count += 1;
            continue;
        }
        if let Some(d) = Direction::parse(l) {
            match section {
                None => session = Some(d),
                Some(i) if i == index => media = Some(d),
                Some(_) => {}
            }
        }
    }
    (index < count).then(|| media.or(session).unwrap_or(Direction::SendRecv))
}

/// Set the direction of every media section: replace its direction line in place, or add
/// one at the end of the section; a session-level direction line is dropped (the media ones
/// rule).
pub fn set_direction(sdp: &[u8], dir: Direction) -> Option<Bytes> {
    let text = std::str::from_utf8(sdp).ok()?;
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_media = false;
    let mut pending_eol: Option<&str> = None;
    for (l, eol) in lines(text) {
        if l.starts_with("m=") {
            if let Some(e) = pending_eol.take() {
                out.push_str(dir.attribute());
                out.push_str(e);
            }
            in_media = true;
            out.push_str(l);
            out.push_str(eol);
            pending_eol = Some(if eol.is_empty() { "\r\n" } else { eol });
            continue;
        }
        if Direction::parse(l).is_some() {
            if in_media && pending_eol.is_some() {
                out.push_str(dir.attribute());
                out.push_str(eol);
                pending_eol = None;
            }
            continue;
        }
        out.push_str(l);
        out.push_str(eol);
    }
    if let Some(e) = pending_eol {
        if !out.ends_with('\n') {
            out.push_str(e);
        }
        out.push_str(dir.attribute());
        out.push_str(e);
    }
    Some(Bytes::from(out))
}

/// Point every `c=` line at `addr` (session and media level), keeping the network type.
pub fn set_connection(sdp: &[u8], addr: std::net::IpAddr) -> Option<Bytes> {
    let text = std::str::from_utf8(sdp).ok()?;
    let kind = if addr.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = String::with_capacity(text.len());
    for (l, eol) in lines(text) {
        if l.starts_with("c=") {
            out.push_str(&format!("c=IN {kind} {addr}"));
        } else {
            out.push_str(l);
        }
        out.push_str(eol);
    }
    Some(Bytes::from(out))
}

/// Set the port of media section `index`, keeping the rest of its `m=` line.
pub fn set_media_port(sdp: &[u8], index: usize, port: u16) -> Option<Bytes> {
    let text = std::str::from_utf8(sdp).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut found = false;
    for (l, eol) in lines(text) {
        if let Some(rest) = l.strip_prefix("m=") {
            if count == index {
                let mut parts = rest.splitn(3, ' ');
                let (media, _old, tail) =
                    (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
                out.push_str(&format!("m={media} {port} {tail}"));
                out.push_str(eol);
                found = true;
                count += 1;
                continue;
            }
            count += 1;
        }
        out.push_str(l);
        out.push_str(eol);
    }
    found.then(|| Bytes::from(out))
}

/// An answer to `offer` that receives nothing and sends nothing, first format of each medium,
/// the disabled ones kept disabled: what a phone that answered a MakeCall holds until the
/// called side's offer arrives (RFC 3725's "black hole"). None when the offer has no media.
pub fn inactive_answer(offer: &[u8], addr: std::net::IpAddr) -> Option<Bytes> {
    let text = std::str::from_utf8(offer).ok()?;
    let ip = match addr {
        std::net::IpAddr::V4(a) => format!("IN IP4 {a}"),
        std::net::IpAddr::V6(a) => format!("IN IP6 {a}"),
    };
    let mut out = format!(
        "v=0\r\no=dialtone {} 1 {ip}\r\ns=-\r\nc={ip}\r\nt=0 0\r\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let mut media = 0;
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(m) = line.strip_prefix("m=") else {
            continue;
        };
        let mut parts = m.split_whitespace();
        let (Some(kind), Some(port), Some(proto), Some(fmt)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        media += 1;
        if port == "0" {
            out.push_str(&format!("m={kind} 0 {proto} {fmt}\r\n"));
            continue;
        }
        out.push_str(&format!("m={kind} 9 {proto} {fmt}\r\n"));
        let rtpmap = format!("a=rtpmap:{fmt} ");
        if let Some(map) = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("m="))
            .find(|l| l.starts_with(&rtpmap))
        {
            out.push_str(map);
            out.push_str("\r\n");
        }
        out.push_str("a=inactive\r\n");
    }
    (media > 0).then(|| Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CISCO: &str = "v=0\r\no=Cisco-SIPUA 1 0 IN IP4 10.1.2.3\r\ns=SIP Call\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\nm=audio 25150 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=X-cisco-media:umoh\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\nm=video 25152 RTP/AVP 126\r\na=rtpmap:126 H264/90000\r\n";

    #[test]
    fn hold_changes_only_the_direction_lines() {
        let held = set_direction(CISCO.as_bytes(), Direction::SendOnly).unwrap();
        let held = std::str::from_utf8(&held).unwrap();
        let expected = "v=0\r\no=Cisco-SIPUA 1 0 IN IP4 10.1.2.3\r\ns=SIP Call\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\nm=audio 25150 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=X-cisco-media:umoh\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\nm=video 25152 RTP/AVP 126\r\na=rtpmap:126 H264/90000\r\na=sendonly\r\n";
        assert_eq!(
            held, expected,
            "the audio line replaced in place, one added to the video section"
        );
        assert_eq!(direction(held.as_bytes(), 0), Some(Direction::SendOnly));
        assert_eq!(direction(held.as_bytes(), 1), Some(Direction::SendOnly));
        assert!(
            held.contains("a=X-cisco-media:umoh\r\na=rtpmap:101"),
            "order kept"
        );
        let resumed = set_direction(held.as_bytes(), Direction::SendRecv).unwrap();
        assert_eq!(direction(&resumed, 0), Some(Direction::SendRecv));
        assert_eq!(
            direction(CISCO.as_bytes(), 1),
            Some(Direction::SendRecv),
            "default"
        );
        assert_eq!(direction(CISCO.as_bytes(), 2), None);
    }

    #[test]
    fn connection_and_port() {
        let moved = set_connection(CISCO.as_bytes(), "192.0.2.50".parse().unwrap()).unwrap();
        let moved = set_media_port(&moved, 0, 40000).unwrap();
        let text = std::str::from_utf8(&moved).unwrap();
        assert_eq!(
            text,
            CISCO
                .replace("c=IN IP4 10.1.2.3", "c=IN IP4 192.0.2.50")
                .replace("m=audio 25150 RTP/AVP 0 101", "m=audio 40000 RTP/AVP 0 101")
        );
        assert!(set_media_port(CISCO.as_bytes(), 5, 1).is_none());
        let v6 = set_connection(CISCO.as_bytes(), "2001:db8::1".parse().unwrap()).unwrap();
        assert!(std::str::from_utf8(&v6)
            .unwrap()
            .contains("c=IN IP6 2001:db8::1\r\n"));
    }

    #[test]
    fn an_inactive_answer_takes_each_medium_and_receives_nothing() {
        let offer = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                      m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
                      m=video 0 RTP/AVP 96\r\n";
        let a = inactive_answer(offer, "198.51.100.7".parse().unwrap()).unwrap();
        let a = std::str::from_utf8(&a).unwrap();
        assert!(a.contains("c=IN IP4 198.51.100.7\r\n"), "{a}");
        assert!(
            a.contains("m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n"),
            "{a}"
        );
        assert!(
            a.contains("m=video 0 RTP/AVP 96\r\n"),
            "a refused medium stays refused: {a}"
        );
        assert!(!a.contains("PCMA"), "one format per medium: {a}");
        assert_eq!(
            inactive_answer(b"v=0\r\n", "198.51.100.7".parse().unwrap()),
            None
        );
    }
}
