//! The SIP message parser under libFuzzer: arbitrary bytes never panic it.
//! Run: cd crates/sip/fuzz && cargo +nightly fuzz run message corpus/message
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dialtone_sip::fuzzing::message(data);
});
