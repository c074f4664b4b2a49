//! RFC 4733 telephone events (DTMF digits) in RTP, both ways: the 4-byte payload, the packets
//! that send one digit (the first with the marker, updates every 20 ms, the end sent three
//! times), and a receiver that reports each digit once however often its packets repeat.

/// Why a payload is not a telephone event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("a telephone-event payload is 4 bytes, not {0}")]
    Length(usize),
}

/// One telephone-event payload (RFC 4733 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// 0-9, `*` = 10, `#` = 11, A-D = 12-15.
    pub code: u8,
    pub end: bool,
    /// Power level, 0 to -63 dBm0, as its absolute value.
    pub volume: u8,
    /// Duration so far, in timestamp units (8 kHz).
    pub duration: u16,
}

impl Event {
    pub fn parse(payload: &[u8]) -> Result<Event, EventError> {
        // Several events may be stacked (RFC 4733 2.5.1.4); the first is the one sounding.
        if payload.len() < 4 || !payload.len().is_multiple_of(4) {
            return Err(EventError::Length(payload.len()));
        }
        Ok(Event {
            code: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push((self.end as u8) << 7 | (self.volume & 0x3F));
        out.extend_from_slice(&self.duration.to_be_bytes());
    }

    /// The digit this event names, for the 16 DTMF events.
    pub fn digit(&self) -> Option<char> {
        code_digit(self.code)
    }
}

/// The event code of a DTMF digit.
pub fn digit_code(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(c as u8 - b'A' + 12),
        'a'..='d' => Some(c as u8 - b'a' + 12),
        _ => None,
    }
}

pub fn code_digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// The payloads that send one digit lasting `duration_ms`, one per 20 ms packet: (marker,
/// event). All carry the event's start timestamp; the last (the end) goes three times.
pub fn digit_events(code: u8, duration_ms: u32) -> Vec<(bool, Event)> {
    let packets = (duration_ms / 20).max(1);
    let mut out: Vec<(bool, Event)> = (1..=packets)
        .map(|i| {
            (
                i == 1,
                Event {
                    code,
                    end: false,
                    volume: 10,
                    duration: (i * 160).min(u16::MAX as u32) as u16,
                },
            )
        })
        .collect();
    let last = out.last().map(|(_, e)| e.duration).unwrap_or(160);
    for _ in 0..3 {
        out.push((
            false,
            Event {
                code,
                end: true,
                volume: 10,
                duration: last,
            },
        ));
    }
    out
}

/// Digits from a stream of telephone-event packets: each event (one start timestamp) is
/// reported once, at its first packet, whether the start, the updates or only the end arrive.
#[derive(Debug, Default)]
pub struct Digits {
    last: Option<(u32, u8)>,
}

impl Digits {
    /// A packet of the stream (`timestamp` from its RTP header): the digit, if this is the
    /// first packet seen of a new event.
    pub fn push(&mut self, timestamp: u32, event: &Event) -> Option<char> {
        let key = (timestamp, event.code);
        if self.last == Some(key) {
            return None;
        }
        self.last = Some(key);
        event.digit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_is_sent_as_rfc_4733_says_and_heard_once() {
        let events = digit_events(digit_code('7').unwrap(), 100);
        assert_eq!(events.len(), 5 + 3);
        assert!(events[0].0 && events[1..].iter().all(|(m, _)| !m));
        assert_eq!(events[4].1.duration, 800);
        assert!(events[5..].iter().all(|(_, e)| e.end && e.duration == 800));
        let mut digits = Digits::default();
        let mut heard = String::new();
        for (_, e) in &events {
            let mut buf = Vec::new();
            e.write(&mut buf);
            let back = Event::parse(&buf).unwrap();
            assert_eq!(&back, e);
            heard.extend(digits.push(4000, &back));
        }
        // The same digit again is a new event: a new start timestamp.
        heard.extend(digits.push(6000, &events[0].1));
        assert_eq!(heard, "77");
    }

    #[test]
    fn every_dtmf_digit_has_its_code() {
        for (c, code) in "0123456789*#ABCD".chars().zip(0u8..) {
            assert_eq!(digit_code(c), Some(code));
            assert_eq!(code_digit(code), Some(c));
        }
        assert_eq!(digit_code('x'), None);
        assert_eq!(code_digit(16), None); // flash, not a digit
        assert_eq!(Event::parse(&[1, 2, 3]), Err(EventError::Length(3)));
    }
}
