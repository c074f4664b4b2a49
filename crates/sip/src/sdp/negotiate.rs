//! Offer and answer (RFC 3264) for a call that ends on Dialtone itself (a page, music on
//! hold, a prompt): read the audio a peer offers or answers, choose the codec, and write
//! Dialtone's own SDP. Only what a G.711 media server needs: the first audio stream, its
//! address, the payload types by static number or `rtpmap` name, `telephone-event`, `ptime`
//! and the direction. Other media streams are refused in the answer (port 0), as RFC 3264 6
//! says, keeping their order.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::{lines, Direction};

/// The audio codecs Dialtone speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law (static payload type 0).
    Pcmu,
    /// G.711 A-law (static payload type 8).
    Pcma,
}

impl Codec {
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn encoding(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn of_static(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    fn of_name(name: &str) -> Option<Codec> {
        let (encoding, rate) = name.split_once('/')?;
        let rate = rate.split('/').next()?;
        if rate != "8000" {
            return None;
        }
        if encoding.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if encoding.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// The audio both sides agreed on, as the peer described its side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// Where the peer receives RTP (its `c=` and `m=audio` port).
    pub remote: SocketAddr,
    pub codec: Codec,
    /// The payload type the peer uses for `codec`.
    pub payload_type: u8,
    /// The peer's `telephone-event/8000` payload type, when it offered RFC 4733 digits.
    pub telephone_event: Option<u8>,
    /// Milliseconds of audio per packet the peer asks for (`a=ptime`, 20 without it).
    pub ptime: u32,
    /// The peer's direction (sendonly: it holds the call, we only send).
    pub direction: Direction,
}

impl Audio {
    /// The peer sends audio (sendrecv or sendonly).
    pub fn peer_sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }

    /// The peer takes audio (sendrecv or recvonly) and has an address to take it at.
    pub fn peer_receives(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
            && !self.remote.ip().is_unspecified()
            && self.remote.port() != 0
    }
}

/// Why an offer or answer could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the SDP is not text")]
    NotText,
    #[error("the SDP has no audio stream")]
    NoAudio,
    #[error("the SDP's audio stream has no connection address")]
    NoAddress,
    #[error("malformed SDP line: {0}")]
    Malformed(String),
    /// RFC 3264 6: nothing offered is acceptable; SIP answers 488.
    #[error("none of the offered codecs ({offered}) is one Dialtone speaks ({accepted})")]
    NothingInCommon { offered: String, accepted: String },
}

/// One `m=` section as read.
struct Section<'a> {
    kind: &'a str,
    port: u16,
    proto: &'a str,
    formats: Vec<&'a str>,
    connection: Option<IpAddr>,
    rtpmaps: Vec<(&'a str, &'a str)>,
    ptime: Option<u32>,
    direction: Option<Direction>,
}

struct Parsed<'a> {
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    sections: Vec<Section<'a>>,
}

fn connection(rest: &str) -> Result<IpAddr, Refusal> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut parts = rest.split_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::Malformed(format!("c={rest}")));
    };
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| Refusal::Malformed(format!("c={rest}")))
}

fn parse(sdp: &[u8]) -> Result<Parsed<'_>, Refusal> {
    let text = std::str::from_utf8(sdp).map_err(|_| Refusal::NotText)?;
    let mut out = Parsed {
        connection: None,
        direction: None,
        sections: Vec::new(),
    };
    for (line, _) in lines(text) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let (Some(kind), Some(port), Some(proto)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(Refusal::Malformed(line.to_string()));
            };
            // m=audio 49170/2 RTP/AVP 0: a port count is allowed; the first port is ours.
            let port = port
                .split('/')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| Refusal::Malformed(line.to_string()))?;
            out.sections.push(Section {
                kind,
                port,
                proto,
                formats: parts.collect(),
                connection: None,
                rtpmaps: Vec::new(),
                ptime: None,
                direction: None,
            });
            continue;
        }
        let section = out.sections.last_mut();
        if let Some(c) = line.strip_prefix("c=") {
            let addr = connection(c)?;
            match section {
                Some(s) => s.connection = Some(addr),
                None => out.connection = Some(addr),
            }
        } else if let Some(d) = Direction::parse(line) {
            match section {
                Some(s) => s.direction = Some(d),
                None => out.direction = Some(d),
            }
        } else if let Some(s) = section {
            if let Some(map) = line.strip_prefix("a=rtpmap:") {
                if let Some((pt, name)) = map.split_once(' ') {
                    s.rtpmaps.push((pt.trim(), name.trim()));
                }
            } else if let Some(p) = line.strip_prefix("a=ptime:") {
                s.ptime = p.trim().parse().ok();
            }
        }
    }
    Ok(out)
}

/// Choose from what `sdp` offers (or answers): its first audio stream with a port, and the
/// first of its formats, in its order of preference, that is in `accept`.
pub fn choose(sdp: &[u8], accept: &[Codec]) -> Result<Audio, Refusal> {
    let parsed = parse(sdp)?;
    let audio = parsed
        .sections
        .iter()
        .find(|s| s.kind == "audio" && s.port != 0 && s.proto.starts_with("RTP/"))
        .ok_or(Refusal::NoAudio)?;
    let ip = audio
        .connection
        .or(parsed.connection)
        .ok_or(Refusal::NoAddress)?;
    let codec_of = |format: &str| -> Option<(u8, Codec)> {
        let pt: u8 = format.parse().ok()?;
        let named = audio
            .rtpmaps
            .iter()
            .find(|(p, _)| *p == format)
            .map(|(_, name)| Codec::of_name(name));
        match named {
            Some(codec) => codec.map(|c| (pt, c)),
            None => Codec::of_static(pt).map(|c| (pt, c)),
        }
    };
    let chosen = audio
        .formats
        .iter()
        .filter_map(|f| codec_of(f))
        .find(|(_, c)| accept.contains(c));
    let Some((payload_type, codec)) = chosen else {
        return Err(Refusal::NothingInCommon {
            offered: audio.formats.join(" "),
            accepted: accept
                .iter()
                .map(|c| c.encoding())
                .collect::<Vec<_>>()
                .join(" "),
        });
    };
    let telephone_event = audio
        .rtpmaps
        .iter()
        .find(|(_, name)| {
            name.split('/')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case("telephone-event"))
        })
        .and_then(|(pt, _)| pt.parse().ok())
        .filter(|pt: &u8| audio.formats.iter().any(|f| f.parse() == Ok(*pt)));
    Ok(Audio {
        remote: SocketAddr::new(ip, audio.port),
        codec,
        payload_type,
        telephone_event,
        ptime: audio.ptime.filter(|p| (10..=60).contains(p)).unwrap_or(20),
        direction: audio
            .direction
            .or(parsed.direction)
            .unwrap_or(Direction::SendRecv),
    })
}

fn origin(local: IpAddr, version: u64) -> String {
    let ip = match local {
        IpAddr::V4(a) => format!("IN IP4 {a}"),
        IpAddr::V6(a) => format!("IN IP6 {a}"),
    };
    // The session id stays for the dialog; the version rises with every new description.
    format!("v=0\r\no=dialtone 1 {version} {ip}\r\ns=dialtone\r\nc={ip}\r\nt=0 0\r\n")
}

fn audio_lines(out: &mut String, local: SocketAddr, formats: &[(u8, &str)], direction: Direction) {
    let list: Vec<String> = formats.iter().map(|(pt, _)| pt.to_string()).collect();
    out.push_str(&format!(
        "m=audio {} RTP/AVP {}\r\n",
        local.port(),
        list.join(" ")
    ));
    for (pt, name) in formats {
        out.push_str(&format!("a=rtpmap:{pt} {name}\r\n"));
        if name.starts_with("telephone-event") {
            out.push_str(&format!("a=fmtp:{pt} 0-15\r\n"));
        }
    }
    out.push_str("a=ptime:20\r\n");
    out.push_str(direction.attribute());
    out.push_str("\r\n");
}

/// The direction that answers `offered` (RFC 3264 6.1): a peer that only sends is answered
/// recvonly, one that only receives sendonly.
pub fn answering(offered: Direction) -> Direction {
    match offered {
        Direction::SendRecv => Direction::SendRecv,
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        Direction::Inactive => Direction::Inactive,
    }
}

/// Dialtone's answer to `offer`, for the audio `chosen` from it, received at `local`: the
/// offer's streams in its order, the chosen audio with the peer's payload types, every other
/// stream refused with port 0.
pub fn answer(offer: &[u8], chosen: &Audio, local: SocketAddr, version: u64) -> Option<Bytes> {
    let parsed = parse(offer).ok()?;
    let mut out = origin(local.ip(), version);
    let mut answered = false;
    for s in &parsed.sections {
        let is_chosen =
            !answered && s.kind == "audio" && s.port != 0 && s.proto.starts_with("RTP/");
        if !is_chosen {
            out.push_str(&format!(
                "m={} 0 {} {}\r\n",
                s.kind,
                s.proto,
                s.formats.first().copied().unwrap_or("0")
            ));
            continue;
        }
        answered = true;
        let mut formats = vec![(
            chosen.payload_type,
            if chosen.codec == Codec::Pcmu {
                "PCMU/8000"
            } else {
                "PCMA/8000"
            },
        )];
        if let Some(te) = chosen.telephone_event {
            formats.push((te, "telephone-event/8000"));
        }
        audio_lines(&mut out, local, &formats, answering(chosen.direction));
    }
    Some(Bytes::from(out))
}

/// Dialtone's own offer (for a caller that sent none): `accept` in order of preference, and
/// RFC 4733 digits on payload type 101.
pub fn offer(accept: &[Codec], local: SocketAddr, version: u64, direction: Direction) -> Bytes {
    let mut out = origin(local.ip(), version);
    let mut formats: Vec<(u8, &str)> = accept
        .iter()
        .map(|c| {
            (
                c.static_payload_type(),
                if *c == Codec::Pcmu {
                    "PCMU/8000"
                } else {
                    "PCMA/8000"
                },
            )
        })
        .collect();
    formats.push((101, "telephone-event/8000"));
    audio_lines(&mut out, local, &formats, direction);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

    fn sdp(body: &str) -> Vec<u8> {
        body.replace('\n', "\r\n").into_bytes()
    }

    #[test]
    fn the_first_offered_codec_we_speak_is_chosen() {
        let offer = sdp("v=0\no=x 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n\
             m=audio 4000 RTP/AVP 18 8 0 101\na=rtpmap:18 G729/8000\na=rtpmap:101 telephone-event/8000\na=ptime:30\n");
        let a = choose(&offer, BOTH).unwrap();
        assert_eq!(a.codec, Codec::Pcma, "G.729 first, then A-law");
        assert_eq!(a.payload_type, 8);
        assert_eq!(a.remote, "192.0.2.1:4000".parse().unwrap());
        assert_eq!(a.telephone_event, Some(101));
        assert_eq!(a.ptime, 30);
        assert_eq!(a.direction, Direction::SendRecv);
        let mu = choose(&offer, &[Codec::Pcmu]).unwrap();
        assert_eq!(mu.codec, Codec::Pcmu, "only µ-law accepted");
    }

    #[test]
    fn a_dynamic_payload_type_is_read_by_its_name_and_media_level_wins() {
        let offer = sdp(
            "v=0\no=x 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=sendrecv\n\
             m=video 5000 RTP/AVP 96\n\
             m=audio 4002 RTP/AVP 98\nc=IN IP4 198.51.100.7\na=rtpmap:98 pcmu/8000\na=sendonly\n",
        );
        let a = choose(&offer, BOTH).unwrap();
        assert_eq!((a.codec, a.payload_type), (Codec::Pcmu, 98));
        assert_eq!(a.remote, "198.51.100.7:4002".parse().unwrap());
        assert_eq!(a.direction, Direction::SendOnly);
        assert!(a.peer_sends() && !a.peer_receives());
        let answer = answer(&offer, &a, "203.0.113.5:30000".parse().unwrap(), 2).unwrap();
        let text = std::str::from_utf8(&answer).unwrap();
        assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
        assert!(
            text.contains("m=audio 30000 RTP/AVP 98\r\na=rtpmap:98 PCMU/8000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("a=recvonly\r\n"),
            "a sendonly offer is answered recvonly: {text}"
        );
        assert!(text.contains("c=IN IP4 203.0.113.5\r\n"));
        // The answer is itself an SDP we read back the same way.
        let back = choose(&answer, BOTH).unwrap();
        assert_eq!(back.remote, "203.0.113.5:30000".parse().unwrap());
    }

    #[test]
    fn nothing_in_common_and_bad_sdp_are_refused_with_a_reason() {
        let g729 = sdp("v=0\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 18 9\n");
        match choose(&g729, BOTH) {
            Err(Refusal::NothingInCommon { offered, accepted }) => {
                assert_eq!(offered, "18 9");
                assert_eq!(accepted, "PCMU PCMA");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            choose(&sdp("v=0\nc=IN IP4 1.2.3.4\n"), BOTH),
            Err(Refusal::NoAudio)
        );
        assert_eq!(
            choose(&sdp("v=0\nm=audio 4000 RTP/AVP 0\n"), BOTH),
            Err(Refusal::NoAddress)
        );
        assert!(matches!(
            choose(
                &sdp("v=0\nc=IN IP4 nowhere\nm=audio 4000 RTP/AVP 0\n"),
                BOTH
            ),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            choose(
                &sdp("v=0\nc=IN IP4 1.2.3.4\nm=audio seventy RTP/AVP 0\n"),
                BOTH
            ),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(choose(&[0xff, 0xfe], BOTH), Err(Refusal::NotText));
        let disabled = sdp("v=0\nc=IN IP4 1.2.3.4\nm=audio 0 RTP/AVP 0\n");
        assert_eq!(choose(&disabled, BOTH), Err(Refusal::NoAudio));
    }

    #[test]
    fn our_offer_lists_our_codecs_and_digits() {
        let o = offer(
            BOTH,
            "192.0.2.9:20000".parse().unwrap(),
            1,
            Direction::SendRecv,
        );
        let text = std::str::from_utf8(&o).unwrap();
        assert!(text.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"), "{text}");
        assert!(text.contains("a=fmtp:101 0-15\r\n"));
        let back = choose(&o, &[Codec::Pcma]).unwrap();
        assert_eq!((back.codec, back.telephone_event), (Codec::Pcma, Some(101)));
    }
}
