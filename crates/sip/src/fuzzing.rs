//! Entry points shared by the fuzz targets (`crates/sip/fuzz`) and the corpus replay test, so
//! what the fuzzer explores is exactly what the tests replay.

use bytes::Bytes;

use crate::message::Message;
use crate::{digest, sdp};

/// Parse anything as a SIP message and read every typed header; must never panic.
pub fn message(data: &[u8]) {
    let Ok(m) = Message::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = m.validate();
    let _ = (m.method(), m.status(), m.call_id(), m.cseq(), m.expires());
    let _ = m.request_uri();
    for v in m.vias().flatten() {
        let _ = (v.branch(), v.rport(), v.param("received"));
    }
    for a in [m.from(), m.to()].into_iter().flatten() {
        let _ = (a.tag(), a.uri());
    }
    for c in m.contacts().flatten() {
        let _ = (c.uri(), c.param("expires"));
    }
    if let Some(v) = m.value(crate::Name::Authorization) {
        let _ = digest::Credentials::parse(v);
    }
    let body = m.body();
    let _ = sdp::direction(&body, 0);
    let _ = sdp::set_direction(&body, sdp::Direction::SendOnly);
    let _ = sdp::set_media_port(&body, 0, 1);
}
