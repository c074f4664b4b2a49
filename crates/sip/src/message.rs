//! SIP messages without copying: the buffer is kept, header positions are indexed once, and
//! typed headers are decoded on demand from borrowed slices.

use std::ops::Range;

use bytes::Bytes;

use crate::header::{Name, NameAddr, Via};
use crate::uri::{Uri, UriError};

/// Limits on what a message may be; anything larger is refused, never buffered.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            max_headers: 128,
            max_header_line: 8 * 1024,
        }
    }
}

/// Why a message cannot be used, and the response it deserves (when it is a request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("the headers do not end")]
    Unterminated,
    #[error("malformed start line")]
    StartLine,
    #[error("unsupported SIP version")]
    Version,
    #[error("malformed header at byte {0}")]
    Header(usize),
    #[error("more than {0} headers")]
    TooManyHeaders(usize),
    #[error("header line longer than {0} bytes")]
    HeaderTooLong(usize),
    #[error("bad Content-Length")]
    ContentLength,
    #[error("the body is shorter than Content-Length")]
    ShortBody,
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("bad {0}")]
    Bad(&'static str),
    #[error("{0}")]
    Uri(#[from] UriError),
}

impl ParseError {
    /// The status a UAS answers a request with when it fails this way (RFC 3261, RFC 4475).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::TooLarge(_) => 513,
            ParseError::Version => 505,
            ParseError::Uri(UriError::UnsupportedScheme) => 416,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderIdx {
    pub name: Name,
    pub name_span: Range<u32>,
    pub value: Range<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StartLine {
    Request {
        method: Range<u32>,
        uri: Range<u32>,
        /// Not SIP/2.0: still parsed, so the request can be answered 505.
        other_version: bool,
    },
    Response {
        code: u16,
        reason: Range<u32>,
    },
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Bytes,
    start: StartLine,
    headers: Vec<HeaderIdx>,
    body: Range<u32>,
}

/// RFC 3261 token characters, as a table: header names are checked byte by byte.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

fn trim_span(buf: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && (buf[s] == b' ' || buf[s] == b'\t') {
        s += 1;
    }
    while e > s && matches!(buf[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
        e -= 1;
    }
    (s, e)
}

/// End of the line starting at `from`: (index of the line's end, index after its terminator).
/// Accepts CRLF and, leniently, a bare LF.
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let nl = memchr(b'\n', &buf[from..])? + from;
    let end = if nl > from && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

impl Message {
    /// Parse a whole message (a datagram, or one message framed off a stream).
    pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(buf, &Limits::default())
    }

    pub fn parse_with(buf: Bytes, limits: &Limits) -> Result<Message, ParseError> {
        if buf.len() > limits.max_message {
            return Err(ParseError::TooLarge(limits.max_message));
        }
        if buf.len() > u32::MAX as usize {
            return Err(ParseError::TooLarge(u32::MAX as usize));
        }
        let b: &[u8] = &buf;
        // Leading CRLFs (keep-alives before a message) are skipped.
        let mut pos = 0;
        while pos < b.len() && (b[pos] == b'\r' || b[pos] == b'\n') {
            pos += 1;
        }
        let (end, next) = line_end(b, pos).ok_or(ParseError::Unterminated)?;
        let start = parse_start_line(b, pos, end)?;
        pos = next;
        let mut headers: Vec<HeaderIdx> = Vec::with_capacity(24);
        // Content-Length, noted as the headers go by (a second one is an error).
        let (mut content_lengths, mut content_length) = (0u32, 0usize);
        // One searcher for every line's end (a fresh search per line costs its set-up each
        // time, most of the work on lines this short).
        let header_block = pos;
        let mut newlines = memchr::memchr_iter(b'\n', &b[header_block..]);
        loop {
            let nl = newlines.next().ok_or(ParseError::Unterminated)? + header_block;
            let end = if nl > pos && b[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let next = nl + 1;
            if end == pos {
                pos = next;
                break;
            }
            if b[pos] == b' ' || b[pos] == b'\t' {
                // Folding: this line continues the previous header's value.
                let last = headers.last_mut().ok_or(ParseError::Header(pos))?;
                let (_, e) = trim_span(b, pos, end);
                if e > last.value.end as usize {
                    last.value.end = e as u32;
                }
                pos = next;
                continue;
            }
            if end - pos > limits.max_header_line {
                return Err(ParseError::HeaderTooLong(limits.max_header_line));
            }
            // The name is token characters, then optional white space and the colon: one
            // pass over the name's few bytes, not a search of the whole line for ':'.
            let ns = pos;
            let mut ne = pos;
            while ne < end && is_token(b[ne]) {
                ne += 1;
            }
            let mut colon = ne;
            while colon < end && (b[colon] == b' ' || b[colon] == b'\t') {
                colon += 1;
            }
            if ns == ne || colon >= end || b[colon] != b':' {
                return Err(ParseError::Header(pos));
            }
            let (vs, ve) = trim_span(b, colon + 1, end);
            if headers.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders(limits.max_headers));
            }
            let name = Name::from_bytes(&b[ns..ne]);
            if name == Name::ContentLength {
                content_lengths += 1;
                content_length = headers.len();
            }
            headers.push(HeaderIdx {
                name,
                name_span: ns as u32..ne as u32,
                value: vs as u32..ve as u32,
            });
            pos = next;
        }
        let mut msg = Message {
            start,
            headers,
            body: pos as u32..b.len() as u32,
            buf,
        };
        // Content-Length, when given, bounds the body; a datagram may carry trailing bytes.
        let declared = match content_lengths {
            0 => None,
            1 => Some(
                msg.text(&msg.headers[content_length].value)
                    .trim_ascii()
                    .parse::<usize>()
                    .ok()
                    .ok_or(ParseError::ContentLength)?,
            ),
            _ => return Err(ParseError::ContentLength),
        };
        if let Some(cl) = declared {
            let available = msg.buf.len() - pos;
            if cl > available {
                return Err(ParseError::ShortBody);
            }
            msg.body = pos as u32..(pos + cl) as u32;
        }
        Ok(msg)
    }

    /// Check what every request and response must carry (RFC 3261 section 8.1.1), so later
    /// layers can rely on it. Returns the error a request deserves otherwise.
    pub fn validate(&self) -> Result<(), ParseError> {
        if let StartLine::Request {
            other_version: true,
            ..
        } = self.start
        {
            return Err(ParseError::Version);
        }
        for (name, what) in [
            (Name::To, "To"),
            (Name::From, "From"),
            (Name::CallId, "Call-ID"),
            (Name::CSeq, "CSeq"),
            (Name::Via, "Via"),
        ] {
            let mut vals = self.values(name);
            if vals.next().is_none() {
                return Err(ParseError::Missing(what));
            }
            if name != Name::Via && vals.next().is_some() {
                return Err(ParseError::Bad(what));
            }
        }
        // From and To may name any scheme (RFC 4475 3.3.4), but a SIP one must be well formed.
        for (addr, what) in [(self.from(), "From"), (self.to(), "To")] {
            match addr.ok_or(ParseError::Bad(what))?.uri() {
                Ok(_) | Err(UriError::UnsupportedScheme) => {}
                Err(UriError::Malformed(_)) => return Err(ParseError::Bad(what)),
            }
        }
        let (_, cseq_method) = self.cseq().ok_or(ParseError::Bad("CSeq"))?;
        if let Some(m) = self.method() {
            if cseq_method != m {
                return Err(ParseError::Bad("CSeq method"));
            }
            // The Request-URI must parse (416 for a scheme we do not speak) and may not carry
            // headers (RFC 3261 19.1.5; RFC 4475 3.1.2.11).
            let uri = Uri::parse(self.request_uri_str().unwrap_or(""))?;
            if !uri.headers.is_empty() {
                return Err(ParseError::Bad("Request-URI"));
            }
        }
        // Contacts: `*` alone, or name-addrs of any scheme (mailto: is a fine Contact).
        let contacts = self.values(Name::Contact).count();
        for v in self.values(Name::Contact) {
            let ok = if v.trim() == "*" {
                contacts == 1
            } else {
                NameAddr::parse(v).is_some()
            };
            if !ok {
                return Err(ParseError::Bad("Contact"));
            }
        }
        for via in self.vias() {
            via.ok_or(ParseError::Bad("Via"))?;
        }
        if let Some(mf) = self.value(Name::MaxForwards) {
            mf.trim()
                .parse::<u8>()
                .map_err(|_| ParseError::Bad("Max-Forwards"))?;
        }
        Ok(())
    }

    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    fn text(&self, r: &Range<u32>) -> &str {
        // Headers are validated as text lazily: invalid UTF-8 reads as empty, which every
        // typed decoder then refuses.
        std::str::from_utf8(&self.buf[r.start as usize..r.end as usize]).unwrap_or("")
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request's method, as written (methods are case-sensitive).
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(self.text(method)),
            StartLine::Response { .. } => None,
        }
    }

    /// The request's method as a type (None for a response).
    pub fn request_method(&self) -> Option<crate::Method> {
        self.method().map(crate::Method::parse)
    }

    /// Whether this is a request with method `m`.
    pub fn is(&self, m: crate::Method) -> bool {
        self.request_method() == Some(m)
    }

    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(self.text(uri)),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<Result<Uri<'_>, UriError>> {
        self.request_uri_str().map(Uri::parse)
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(self.text(reason)),
            StartLine::Request { .. } => None,
        }
    }

    pub fn body(&self) -> Bytes {
        self.buf
            .slice(self.body.start as usize..self.body.end as usize)
    }

    /// Raw header lines: (name as written, value as written).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|h| (self.text(&h.name_span), self.text(&h.value)))
    }

    /// Every value of a header, split at top-level commas for list headers, in order.
    pub fn values(&self, name: Name) -> impl Iterator<Item = &str> {
        let list = name.is_list();
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .flat_map(move |h| TopLevel::new(self.text(&h.value), list))
    }

    /// Values of an extension header by name (case-insensitive).
    pub fn values_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| self.text(&h.name_span).eq_ignore_ascii_case(name))
            .map(move |h| self.text(&h.value))
    }

    /// The first value of a header.
    pub fn value(&self, name: Name) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| self.text(&h.value))
    }

    pub fn call_id(&self) -> Option<&str> {
        self.value(Name::CallId).filter(|v| !v.is_empty())
    }

    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.value(Name::CSeq)?;
        let mut it = v.split_ascii_whitespace();
        let n = it.next()?.parse::<u32>().ok()?;
        let m = it.next()?;
        if it.next().is_some() || !m.bytes().all(is_token) {
            return None;
        }
        Some((n, m))
    }

    pub fn from(&self) -> Option<NameAddr<'_>> {
        NameAddr::parse(self.value(Name::From)?)
    }

    pub fn to(&self) -> Option<NameAddr<'_>> {
        NameAddr::parse(self.value(Name::To)?)
    }

    /// Via headers, topmost first.
    pub fn vias(&self) -> impl Iterator<Item = Option<Via<'_>>> {
        self.values(Name::Via).map(Via::parse)
    }

    pub fn top_via(&self) -> Option<Via<'_>> {
        self.vias().next().flatten()
    }

    /// Contacts: `None` in the list's place for `*`.
    pub fn contacts(&self) -> impl Iterator<Item = Option<NameAddr<'_>>> {
        self.values(Name::Contact).map(|v| {
            if v.trim() == "*" {
                None
            } else {
                NameAddr::parse(v)
            }
        })
    }

    /// Extensions this request requires (Require) that are not in `supported`: a UAS answers
    /// 420 Bad Extension listing them in Unsupported (RFC 3261 8.2.2.3).
    pub fn unsupported_requirements<'a>(&'a self, supported: &[&str]) -> Vec<&'a str> {
        self.values(Name::Require)
            .filter(|r| !supported.iter().any(|s| s.eq_ignore_ascii_case(r)))
            .collect()
    }

    pub fn expires(&self) -> Option<u32> {
        self.value(Name::Expires)?.trim().parse().ok()
    }

    pub fn max_forwards(&self) -> Option<u8> {
        self.value(Name::MaxForwards)?.trim().parse().ok()
    }
}

fn parse_start_line(b: &[u8], s: usize, e: usize) -> Result<StartLine, ParseError> {
    let line = &b[s..e];
    let sp1 = memchr(b' ', line).ok_or(ParseError::StartLine)?;
    if line.starts_with(b"SIP/") {
        if &line[..sp1] != b"SIP/2.0" {
            return Err(ParseError::Version);
        }
        let rest = &line[sp1 + 1..];
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return Err(ParseError::StartLine);
        }
        let code =
            (rest[0] - b'0') as u16 * 100 + (rest[1] - b'0') as u16 * 10 + (rest[2] - b'0') as u16;
        if !(100..=699).contains(&code) || (rest.len() > 3 && rest[3] != b' ') {
            return Err(ParseError::StartLine);
        }
        let reason_start = s + sp1 + 1 + rest.len().min(4);
        return Ok(StartLine::Response {
            code,
            reason: reason_start as u32..e as u32,
        });
    }
    let sp2 = memchr(b' ', &line[sp1 + 1..]).ok_or(ParseError::StartLine)? + sp1 + 1;
    let method = &line[..sp1];
    let uri = &line[sp1 + 1..sp2];
    let version = &line[sp2 + 1..];
    if method.is_empty() || !method.iter().all(|c| is_token(*c)) || uri.is_empty() {
        return Err(ParseError::StartLine);
    }
    if version.ends_with(b" ") {
        // Trailing white space on the Request-Line (RFC 4475 3.1.2.10).
        return Err(ParseError::StartLine);
    }
    if !version.starts_with(b"SIP/") {
        return Err(ParseError::StartLine);
    }
    Ok(StartLine::Request {
        method: s as u32..(s + sp1) as u32,
        uri: (s + sp1 + 1) as u32..(s + sp2) as u32,
        other_version: version != b"SIP/2.0",
    })
}

/// Split a header value at commas that are outside quotes and angle brackets.
pub fn split_top_level(v: &str) -> impl Iterator<Item = &str> {
    TopLevel::new(v, true)
}

/// The values of one header line: split at top-level commas for list headers, whole otherwise.
struct TopLevel<'a> {
    v: &'a str,
    pos: usize,
    list: bool,
}

impl<'a> TopLevel<'a> {
    fn new(v: &'a str, list: bool) -> Self {
        TopLevel { v, pos: 0, list }
    }
}

impl<'a> Iterator for TopLevel<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.v.as_bytes();
        while self.pos <= bytes.len() {
            let start = self.pos;
            let mut i = start;
            if self.list && memchr::memchr3(b',', b'"', b'<', &bytes[start..]).is_none() {
                // Nothing that could split it (the usual single Via or Contact): the rest
                // is one value.
                i = bytes.len();
            } else if self.list {
                let mut in_quotes = false;
                let mut in_angle = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if in_quotes => i += 1,
                        b'"' => in_quotes = !in_quotes,
                        b'<' if !in_quotes => in_angle = true,
                        b'>' if !in_quotes => in_angle = false,
                        b',' if !in_quotes && !in_angle => break,
                        _ => {}
                    }
                    i += 1;
                }
            } else {
                i = bytes.len();
            }
            let end = i.min(bytes.len());
            self.pos = i + 1;
            let part = self.v[start..end].trim_ascii();
            if !part.is_empty() {
                return Some(part);
            }
        }
        None
    }
}
