//! Replay the fuzz corpus (crates/sip/fuzz/corpus) through the fuzz entry point: what the
//! fuzzer once found stays fixed, and CI needs no fuzzer.

#[test]
fn the_fuzz_corpus_replays_without_panics() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/message");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("the corpus directory") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        dialtone_sip::fuzzing::message(&data);
        n += 1;
    }
    assert!(n >= 4, "the corpus holds the seeds at least ({n} files)");
}
