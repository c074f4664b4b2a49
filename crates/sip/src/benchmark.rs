//! The loop `bench/run sip` times and `examples/parse_split` counts instructions of, in one
//! place so both measure the same work.

use bytes::Bytes;

use crate::message::Message;

/// Parse `raw` `n` times with the typed core headers a transaction reads (top Via and its
/// branch, From tag, To, CSeq); a sum of their lengths, so nothing is optimised away.
#[inline(never)]
pub fn parse_core(raw: &Bytes, n: u32) -> usize {
    let mut sink = 0;
    for _ in 0..n {
        let m = Message::parse(raw.clone()).expect("the benchmark message parses");
        let via = m.top_via().expect("Via");
        let from = m.from().expect("From");
        let to = m.to().expect("To");
        let (cseq, _) = m.cseq().expect("CSeq");
        sink += via.branch().map_or(0, str::len)
            + from.tag().map_or(0, str::len)
            + to.uri_str.len()
            + cseq as usize;
    }
    sink
}
