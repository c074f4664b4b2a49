//! RTP (RFC 3550 section 5.1): the fixed header read and written, and an outgoing stream's
//! numbering (random initial sequence number, timestamp and SSRC; the marker on a
//! talkspurt's first packet).

/// Why a datagram is not an RTP packet we take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than an RTP header ({0} bytes)")]
    Short(usize),
    #[error("RTP version {0}, not 2")]
    Version(u8),
    #[error("the header's CSRC list or extension runs past the packet")]
    Truncated,
    #[error("padding longer than the payload")]
    Padding,
    #[error("payload type {0} is RTCP's range (RFC 5761 section 4)")]
    Rtcp(u8),
}

/// The fixed header's fields (CSRCs and extension are skipped, not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed packet: the header and the payload it carries (padding removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

pub const HEADER_LEN: usize = 12;

impl<'a> Packet<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Packet<'a>, RtpError> {
        if data.len() < HEADER_LEN {
            return Err(RtpError::Short(data.len()));
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = data[0] & 0x20 != 0;
        let extension = data[0] & 0x10 != 0;
        let csrcs = (data[0] & 0x0F) as usize;
        let payload_type = data[1] & 0x7F;
        // 72-76 (with the marker bit: 200-204) are RTCP sender/receiver reports and the like.
        if (72..=76).contains(&payload_type) {
            return Err(RtpError::Rtcp(payload_type));
        }
        let mut start = HEADER_LEN + 4 * csrcs;
        if extension {
            let words = data.get(start + 2..start + 4).ok_or(RtpError::Truncated)?;
            start += 4 + 4 * u16::from_be_bytes([words[0], words[1]]) as usize;
        }
        if start > data.len() {
            return Err(RtpError::Truncated);
        }
        let mut end = data.len();
        if padding {
            let pad = data[end - 1] as usize;
            if pad == 0 || pad > end - start {
                return Err(RtpError::Padding);
            }
            end -= pad;
        }
        Ok(Packet {
            header: Header {
                marker: data[1] & 0x80 != 0,
                payload_type,
                sequence: u16::from_be_bytes([data[2], data[3]]),
                timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
                ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            },
            payload: &data[start..end],
        })
    }
}

impl Header {
    /// Append the 12-byte header (no CSRCs, no extension, no padding) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(0x80);
        out.push((self.marker as u8) << 7 | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// An outgoing stream's numbering. The timestamp advances by the samples each packet covers,
/// never by wall time, so a late tick cannot stretch or squeeze the audio's clock.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub ssrc: u32,
    pub payload_type: u8,
    sequence: u16,
    timestamp: u32,
    talkspurt_begins: bool,
    pub packets: u64,
    pub octets: u64,
}

impl Outgoing {
    /// A new stream with random SSRC, initial sequence number and timestamp (RFC 3550 5.1).
    pub fn new(payload_type: u8) -> Outgoing {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        Outgoing {
            ssrc: rng.gen(),
            payload_type,
            sequence: rng.gen(),
            timestamp: rng.gen(),
            talkspurt_begins: true,
            packets: 0,
            octets: 0,
        }
    }

    /// The next packet's header, for a payload covering `samples` sampling periods. The first
    /// packet, and the first after [`Outgoing::new_talkspurt`], carries the marker.
    pub fn next(&mut self, samples: u32, payload_len: usize) -> Header {
        let h = Header {
            marker: std::mem::take(&mut self.talkspurt_begins),
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.packets += 1;
        self.octets += payload_len as u64;
        h
    }

    /// A header of another payload type that shares this stream's numbering (an RFC 4733
    /// event packet: its own timestamp, the stream's sequence numbers).
    pub fn next_event(&mut self, payload_type: u8, timestamp: u32, marker: bool) -> Header {
        let h = Header {
            marker,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.packets += 1;
        self.octets += 4;
        h
    }

    /// The timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Skip `samples` sampling periods of silence that were not sent (the clock runs on).
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// The next packet starts a talkspurt (after silence or a source switch): it gets the marker.
    pub fn new_talkspurt(&mut self) {
        self.talkspurt_begins = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_header_parses_back() {
        let mut out = Outgoing::new(0);
        let first = out.next(160, 160);
        let second = out.next(160, 160);
        assert!(first.marker && !second.marker);
        assert_eq!(second.sequence, first.sequence.wrapping_add(1));
        assert_eq!(second.timestamp, first.timestamp.wrapping_add(160));
        let mut buf = Vec::new();
        second.write(&mut buf);
        buf.extend_from_slice(&[0xFF; 160]);
        let p = Packet::parse(&buf).unwrap();
        assert_eq!(p.header, second);
        assert_eq!(p.payload.len(), 160);
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut buf = vec![0xB1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // P, X, one CSRC
        buf.extend_from_slice(&[9, 9, 9, 9]); // the CSRC
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // a one-word extension
        buf.extend_from_slice(&[1, 2, 3]);
        buf.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = Packet::parse(&buf).unwrap();
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(p.header.sequence, 1);
    }

    #[test]
    fn malformed_packets_are_refused_not_read_past() {
        assert_eq!(Packet::parse(&[0x80; 5]), Err(RtpError::Short(5)));
        assert_eq!(Packet::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        assert_eq!(
            Packet::parse(&[0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Truncated)
        );
        let mut ext = vec![
            0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0xFF, 0xFF,
        ];
        assert_eq!(Packet::parse(&ext), Err(RtpError::Truncated));
        ext.truncate(13);
        assert_eq!(Packet::parse(&ext), Err(RtpError::Truncated));
        let pad = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200];
        assert_eq!(Packet::parse(&pad), Err(RtpError::Padding));
        let rtcp = [0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Packet::parse(&rtcp), Err(RtpError::Rtcp(72)));
    }

    #[test]
    fn numbering_wraps_and_starts_at_random() {
        let a = Outgoing::new(0);
        let b = Outgoing::new(0);
        assert!(a.ssrc != b.ssrc || a.sequence != b.sequence);
        let mut s = Outgoing::new(0);
        s.sequence = u16::MAX;
        s.timestamp = u32::MAX - 10;
        s.next(160, 160);
        let h = s.next(160, 160);
        assert_eq!(h.sequence, 0);
        assert_eq!(h.timestamp, 149);
    }
}
