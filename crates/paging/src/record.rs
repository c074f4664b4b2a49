//! What the paging server tells administrators: the pages in progress (live) and a record of
//! every page that ended (who paged which group when, which phones joined, which were left
//! out or failed and why, whether each left at the end), the newest kept in a bounded list.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use crate::page::Left;

/// Ended pages kept for the API.
pub const KEPT: usize = 1000;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", content = "why", rename_all = "snake_case")]
pub enum Outcome {
    Joined,
    Skipped(Left),
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Phone {
    pub device: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Whether it took the stop at the end (joined phones only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<bool>,
}

impl Phone {
    pub fn new(device: &str, outcome: Outcome) -> Phone {
        Phone {
            device: device.to_string(),
            outcome,
            left: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PageRecord {
    pub call: u64,
    pub group: String,
    pub calling: String,
    /// Milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub seconds: f64,
    /// The caller's codec (PCMA is transcoded to µ-law for the phones).
    pub codec: Option<&'static str>,
    /// The multicast address and port the page went to.
    pub address: Option<String>,
    /// From the answer to the go-ahead.
    pub join_ms: Option<u64>,
    pub phones: Vec<Phone>,
    /// RTP packets relayed from the caller.
    pub packets_in: u64,
    /// Packets dropped: from an address other than the caller's, or not RTP.
    pub foreign_packets: u64,
    pub malformed_packets: u64,
    pub failure: Option<String>,
}

impl PageRecord {
    pub fn new(group: &str, calling: &str, call: u64) -> PageRecord {
        PageRecord {
            call,
            group: group.to_string(),
            calling: calling.to_string(),
            started_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            seconds: 0.0,
            codec: None,
            address: None,
            join_ms: None,
            phones: Vec::new(),
            packets_in: 0,
            foreign_packets: 0,
            malformed_packets: 0,
            failure: None,
        }
    }
}

#[derive(Default)]
pub struct Records {
    inner: Mutex<(BTreeMap<u64, PageRecord>, VecDeque<PageRecord>)>,
}

impl Records {
    pub fn begin(&self, r: PageRecord) {
        self.inner.lock().expect("records").0.insert(r.call, r);
    }

    pub fn update(&self, r: PageRecord) {
        self.begin(r);
    }

    pub fn end(&self, r: PageRecord) {
        let mut g = self.inner.lock().expect("records");
        g.0.remove(&r.call);
        if g.1.len() >= KEPT {
            g.1.pop_back();
        }
        g.1.push_front(r);
    }

    /// (pages in progress, ended pages newest first).
    pub fn snapshot(&self) -> (Vec<PageRecord>, Vec<PageRecord>) {
        let g = self.inner.lock().expect("records");
        (
            g.0.values().cloned().collect(),
            g.1.iter().cloned().collect(),
        )
    }
}
