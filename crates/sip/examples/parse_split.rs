//! Where parsing time goes, per step (a quick look; the figure of record is `bench/run sip`).
//! Usage: cargo run --release -p dialtone-sip --example parse_split MESSAGE-FILE
//! On a shared machine whose timings wander, count instructions instead: `valgrind
//! --tool=callgrind --collect-atstart=no --toggle-collect=dialtone_sip::benchmark::parse_core` runs
//! the benchmark's loop 10,000 times (the Ir total over 10,000 is the instructions per parse).
use std::time::Instant;

fn per_call(n: u32, t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e9 / n as f64
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("a file holding one SIP message");
    let raw = bytes::Bytes::from(std::fs::read(path).expect("readable file"));
    let n = 200_000;
    let mut k = 0usize;
    let t = Instant::now();
    for _ in 0..n {
        k += dialtone_sip::Message::parse(raw.clone())
            .unwrap()
            .body()
            .len();
    }
    println!("parse only: {:.0} ns", per_call(n, t));
    let m = dialtone_sip::Message::parse(raw.clone()).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        k += m.top_via().unwrap().branch().unwrap().len();
    }
    println!("top Via + branch: {:.0} ns", per_call(n, t));
    let t = Instant::now();
    for _ in 0..n {
        k += m.from().unwrap().tag().unwrap().len();
    }
    println!("From + tag: {:.0} ns", per_call(n, t));
    let t = Instant::now();
    for _ in 0..n {
        k += m.to().unwrap().uri_str.len();
    }
    println!("To: {:.0} ns", per_call(n, t));
    let t = Instant::now();
    for _ in 0..n {
        k += m.cseq().unwrap().0 as usize;
    }
    println!("CSeq: {:.0} ns ({k})", per_call(n, t));
    let t = Instant::now();
    let k = dialtone_sip::benchmark::parse_core(&raw, 10_000);
    println!(
        "the benchmark's loop (parse + typed Via/From/To/CSeq): {:.0} ns ({k})",
        per_call(10_000, t)
    );
}
