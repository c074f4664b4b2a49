//! What the UDP socket receives, parsed and dispatched on several tasks at once: one task
//! receives and hands each datagram to the lane of its Call-ID, and each lane parses and
//! dispatches its messages in the order they came. A dialog's requests and responses, a
//! CANCEL and its INVITE, an ACK and its 2xx all share a Call-ID, so they are never
//! reordered by us; different calls and registrations go on both cores. A lane that falls
//! behind drops what it cannot queue, as a full socket buffer would (UDP peers retransmit).

use super::*;

/// Datagrams one lane may have waiting.
const LANE_QUEUE: usize = 1024;

/// The Call-ID header's value (`Call-ID:` or its compact form `i:`), found by scanning the
/// header lines only, without parsing the message.
fn call_id_of(data: &[u8]) -> Option<&[u8]> {
    let mut rest = data;
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        rest = &rest[nl + 1..];
        match rest.first() {
            None | Some(b'\r') | Some(b'\n') => return None, // the end of the headers
            _ => {}
        }
        let name = if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"call-id") {
            7
        } else if rest[0].eq_ignore_ascii_case(&b'i') {
            1
        } else {
            continue;
        };
        let after = &rest[name..];
        let after = &after[after
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .unwrap_or(after.len())..];
        let Some(value) = after.strip_prefix(b":") else {
            continue;
        };
        let end = memchr::memchr2(b'\r', b'\n', value).unwrap_or(value.len());
        return Some(value[..end].trim_ascii());
    }
    None
}

/// The lane of a datagram, by its Call-ID (a datagram without one: lane 0).
fn lane_of(data: &[u8], lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let Some(call_id) = call_id_of(data) else {
        return 0;
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    call_id.hash(&mut h);
    (h.finish() as usize) % lanes
}

impl Endpoint {
    pub(super) async fn udp_loop(&self, sock: Arc<UdpSocket>) {
        let lanes: Vec<mpsc::Sender<(Bytes, SocketAddr)>> = (1..self.inner.config.udp_lanes)
            .map(|_| {
                let (tx, mut rx) = mpsc::channel::<(Bytes, SocketAddr)>(LANE_QUEUE);
                let ep = self.clone();
                tokio::spawn(async move {
                    while let Some((data, addr)) = rx.recv().await {
                        ep.received(
                            data,
                            Peer {
                                transport: Transport::Udp,
                                addr,
                            },
                        );
                    }
                });
                tx
            })
            .collect();
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = match sock.recv_from(&mut buf).await {
                Ok(v) => v,
                // ICMP errors surface here on some systems; keep serving.
                Err(_) => continue,
            };
            let data = &buf[..n];
            if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
                continue; // keep-alive
            }
            let data = Bytes::copy_from_slice(data);
            // Lane 0 is this task itself.
            match lane_of(&data, lanes.len() + 1) {
                0 => self.received(
                    data,
                    Peer {
                        transport: Transport::Udp,
                        addr: from,
                    },
                ),
                i => {
                    let _ = lanes[i - 1].try_send((data, from));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_id_is_found_in_either_form_and_nowhere_else() {
        let long =
            b"REGISTER sip:a SIP/2.0\r\nVia: x\r\nCall-ID:  abc@h \r\nCSeq: 1 REGISTER\r\n\r\n";
        assert_eq!(call_id_of(long), Some(&b"abc@h"[..]));
        let compact = b"SIP/2.0 200 OK\r\nIn-Reply-To: no\r\ni : xyz\r\n\r\n";
        assert_eq!(call_id_of(compact), Some(&b"xyz"[..]));
        let in_body = b"INVITE sip:a SIP/2.0\r\nVia: x\r\n\r\ni: not-a-header\r\n";
        assert_eq!(call_id_of(in_body), None);
        let lanes = 4;
        assert_eq!(
            lane_of(long, lanes),
            lane_of(b"X\r\ncall-id: abc@h\r\n", lanes)
        );
        assert_eq!(lane_of(b"no headers", lanes), 0);
    }
}
