//! Receiving a stream: packets put back in order within a small window, losses and
//! duplicates counted, and the interarrival jitter of RFC 3550 (appendix A.8) kept, so a
//! relayed caller or a listening phone hears frames in order and can say how the stream was.

use std::collections::BTreeMap;

use crate::rtp::Packet;

/// How the stream has been so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quality {
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Packets that came after their place had been played out.
    pub late: u64,
    /// Interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
    /// Source changes (a new SSRC): each restarts the numbering.
    pub sources: u64,
}

/// A reordering buffer of at most `depth` packets for one stream.
pub struct Receiver {
    depth: usize,
    rate: u32,
    ssrc: Option<u32>,
    /// The next sequence number to play (extended to 64 bits across wraps).
    next: Option<u64>,
    highest: u64,
    waiting: BTreeMap<u64, (u32, Vec<u8>)>,
    transit: Option<f64>,
    jitter: f64,
    quality: Quality,
}

impl Receiver {
    /// `depth`: packets held back for reordering (2-3 covers the reordering real networks
    /// show; each adds 20 ms of delay when a packet is missing). `rate`: the clock (8000).
    pub fn new(depth: usize, rate: u32) -> Receiver {
        Receiver {
            depth: depth.max(1),
            rate,
            ssrc: None,
            next: None,
            highest: 0,
            waiting: BTreeMap::new(),
            transit: None,
            jitter: 0.0,
            quality: Quality::default(),
        }
    }

    /// A packet arrived at `arrival` (seconds on any steady clock).
    pub fn push(&mut self, p: &Packet<'_>, arrival: f64) {
        let h = p.header;
        if self.ssrc != Some(h.ssrc) {
            // A new source (a transfer, a relay switching callers): start over.
            self.ssrc = Some(h.ssrc);
            self.next = None;
            self.waiting.clear();
            self.transit = None;
            self.quality.sources += 1;
        }
        let seq = self.extend(h.sequence);
        // Jitter (RFC 3550 A.8): the change in transit time, smoothed by 1/16.
        let transit = arrival * self.rate as f64 - h.timestamp as f64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            self.quality.late += 1;
            return;
        }
        if self
            .waiting
            .insert(seq, (h.timestamp, p.payload.to_vec()))
            .is_some()
        {
            self.quality.duplicates += 1;
            return;
        }
        self.quality.received += 1;
        self.quality.jitter_ms = self.jitter * 1000.0 / self.rate as f64;
    }

    /// The next payload in order, once it is here or the window is full (missing packets
    /// before it are then counted lost): (timestamp, payload).
    pub fn pop(&mut self) -> Option<(u32, Vec<u8>)> {
        let next = self.next?;
        let (&first, _) = self.waiting.iter().next()?;
        if first != next && self.waiting.len() < self.depth {
            return None;
        }
        self.quality.lost += first - next;
        self.next = Some(first + 1);
        self.waiting.remove(&first)
    }

    /// Everything still held, in order (the stream ended).
    pub fn drain(&mut self) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((seq, packet)) = self.waiting.pop_first() {
            if let Some(next) = self.next {
                self.quality.lost += seq - next;
            }
            self.next = Some(seq + 1);
            out.push(packet);
        }
        out
    }

    pub fn quality(&self) -> Quality {
        self.quality
    }

    /// A 16-bit sequence number extended past wraps, relative to the highest seen.
    fn extend(&mut self, seq: u16) -> u64 {
        if self.next.is_none() {
            self.highest = (1u64 << 32) + seq as u64;
            return self.highest;
        }
        let base = self.highest & !0xFFFF;
        let candidates = [base.wrapping_sub(0x10000), base, base + 0x10000];
        let ext = candidates
            .into_iter()
            .map(|b| b + seq as u64)
            .min_by_key(|c| c.abs_diff(self.highest))
            .unwrap_or(base + seq as u64);
        self.highest = self.highest.max(ext);
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::Header;

    fn packet(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut v = Vec::new();
        Header {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
        .write(&mut v);
        v.extend_from_slice(&seq.to_be_bytes());
        v
    }

    #[test]
    fn reordered_packets_play_in_order_and_a_gap_counts_as_loss() {
        let mut r = Receiver::new(3, 8000);
        let order = [65534u16, 0, 65535, 1, 3, 4, 5];
        let mut played = Vec::new();
        for (i, seq) in order.iter().enumerate() {
            let ts = (*seq as u32).wrapping_mul(160);
            r.push(
                &Packet::parse(&packet(*seq, ts, 7)).unwrap(),
                i as f64 * 0.02,
            );
            while let Some((_, p)) = r.pop() {
                played.push(u16::from_be_bytes([p[0], p[1]]));
            }
        }
        played.extend(
            r.drain()
                .iter()
                .map(|(_, p)| u16::from_be_bytes([p[0], p[1]])),
        );
        assert_eq!(played, [65534, 65535, 0, 1, 3, 4, 5]);
        let q = r.quality();
        assert_eq!((q.received, q.lost, q.sources), (7, 1, 1));
    }

    #[test]
    fn duplicates_late_packets_and_a_new_source_are_told_apart() {
        let mut r = Receiver::new(3, 8000);
        let push = |r: &mut Receiver, seq: u16, ssrc: u32| {
            r.push(
                &Packet::parse(&packet(seq, seq as u32 * 160, ssrc)).unwrap(),
                0.0,
            )
        };
        push(&mut r, 10, 1);
        assert!(r.pop().is_some());
        push(&mut r, 12, 1); // waits for 11
        push(&mut r, 12, 1); // the same packet again while it waits: a duplicate
        assert!(r.pop().is_none());
        push(&mut r, 11, 1);
        assert_eq!(r.pop().map(|(ts, _)| ts), Some(11 * 160));
        assert_eq!(r.pop().map(|(ts, _)| ts), Some(12 * 160));
        push(&mut r, 10, 1); // its place was played long ago: late
        push(&mut r, 500, 2); // another source: the numbering starts over
        let q = r.quality();
        assert_eq!((q.duplicates, q.late, q.sources, q.lost), (1, 1, 2, 0));
        assert_eq!(r.pop().map(|(ts, _)| ts), Some(500 * 160));
    }

    #[test]
    fn steady_packets_have_no_jitter_and_uneven_ones_do() {
        let mut r = Receiver::new(2, 8000);
        for i in 0..100u16 {
            r.push(
                &Packet::parse(&packet(i, i as u32 * 160, 1)).unwrap(),
                i as f64 * 0.02,
            );
        }
        assert!(r.quality().jitter_ms < 0.01);
        let mut r = Receiver::new(2, 8000);
        for i in 0..100u16 {
            let wobble = if i % 2 == 0 { 0.0 } else { 0.01 };
            r.push(
                &Packet::parse(&packet(i, i as u32 * 160, 1)).unwrap(),
                i as f64 * 0.02 + wobble,
            );
        }
        assert!(r.quality().jitter_ms > 5.0, "{}", r.quality().jitter_ms);
    }
}
