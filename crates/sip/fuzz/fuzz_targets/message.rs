#![no_main]
// Run: cd crates/sip/fuzz && cargo +nightly fuzz run message corpus/message
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dialtone_sip::fuzzing::message(data);
});
