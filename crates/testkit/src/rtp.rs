//! An independent RTP listener for the media tests: a Python process (`peers/rtp_listen.py`)
//! that parses RTP headers itself, decodes G.711 with `audioop` and reports what it heard, so
//! what our sender sends is checked by code that shares nothing with it.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A listener waiting for packets on 127.0.0.1:`port` (or the multicast group `group`:`port`
/// joined on the loopback interface).
pub struct Listener {
    child: Child,
    out: BufReader<ChildStdout>,
}

/// The Python interpreter: `DIALTONE_PYTHON` (scripts/test's virtual environment), else python3.
pub fn python() -> String {
    std::env::var("DIALTONE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// A Python test peer of this crate's `peers` folder.
pub fn peer(name: &str) -> String {
    format!("{}/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

impl Listener {
    /// Start it and wait until it listens; it reports once `packets` came or 5 s were silent.
    pub fn start(port: u16, packets: u32, group: Option<&str>) -> Listener {
        let mut child = Command::new(python())
            .arg(peer("rtp_listen.py"))
            .args([port.to_string(), packets.to_string()])
            .args(group)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        out.read_line(&mut ready).expect("the listener starts");
        assert_eq!(ready.trim(), "ready", "the listener starts");
        Listener { child, out }
    }

    /// Its report, one line of JSON: `headers` (v, m, pt, seq, ts, ssrc, len, tos),
    /// `gaps_ms` between arrivals, `strongest_hz`.
    pub fn report(mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("the listener reports");
        let _ = self.child.wait();
        line
    }
}
