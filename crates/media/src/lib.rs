//! Dialtone's media. Knows nothing of SIP, calls or phones: call control and the paging
//! server say what to play to where, and this crate makes the packets.
//!
//! - [`g711`]: µ-law and A-law, both ways.
//! - [`rtp`]: the RTP header, an outgoing stream's numbering.
//! - [`telephone_event`]: RFC 4733 DTMF in and out.
//! - [`tone`]: the tone plan (dial, ringback, busy, reorder; paging stall and go-ahead).
//! - [`wav`]: audio files to 8 kHz samples, converted once.
//! - [`source`]: what a stream plays (shared clips, looped or once, in sequence).
//! - [`pacer`]: one thread sending every stream's packet each 20 ms tick, unicast or multicast.
//! - [`relay`]: live audio (a caller paging) through the sender, and sources switched while they play.
//! - [`jitter`]: receiving a stream in order, with its loss and jitter.
//! - [`detect`]: which frequency a listener hears.
#![forbid(unsafe_code)]

pub mod detect;
pub mod g711;
pub mod jitter;
pub mod pacer;
pub mod relay;
pub mod rtp;
pub mod source;
pub mod telephone_event;
pub mod tone;
pub mod wav;

/// The sampling rate of everything here: G.711's 8 kHz.
pub const RATE: u32 = 8000;
