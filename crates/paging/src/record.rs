//! What the paging server tells administrators: the pages in progress (live) and a record of
//! every page that ended (who paged which group when, which phones joined, which were left
//! out or failed and why, whether each left at the end), the newest kept in a bounded list.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::audience::Left;

/// Ended pages kept for the API.
pub const KEPT: usize = 1000;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", content = "why", rename_all = "snake_case")]
pub enum Outcome {
    Joined,
    Skipped(Left),
    Failed(String),
}

impl Outcome {
    pub fn is_joined(&self) -> bool {
        matches!(self, Outcome::Joined)
    }
}

/// How a phone was told of a page: pushed to join the multicast address, or called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Push,
    Call,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phone {
    pub device: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How it was told (phones left out were not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Whether it took the stop at the end (joined phones only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<bool>,
}

impl Phone {
    pub fn new(device: &str, outcome: Outcome) -> Phone {
        Phone {
            device: device.to_string(),
            outcome,
            via: None,
            left: None,
        }
    }

    pub fn via(mut self, via: Via) -> Phone {
        self.via = Some(via);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PageRecord {
    /// The page's own number on this node, counted from 1.
    pub id: u64,
    /// The DialCast call a live page answered; none for a recorded page.
    pub call: Option<u64>,
    pub groups: Vec<String>,
    /// Who paged: the caller's number, or the administrator who sent a recording.
    pub calling: String,
    /// What the phones heard: `caller` (a live page), or the recording sent (a tone's name,
    /// `recording`).
    pub audio: String,
    /// Milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub seconds: f64,
    /// The caller's codec (PCMA is transcoded to µ-law for the phones).
    pub codec: Option<&'static str>,
    /// The multicast address and port the page went to.
    pub address: Option<String>,
    /// The site whose range the address is from (a page whose phones are all one site's).
    pub site: Option<String>,
    /// From the answer to the go-ahead.
    pub join_ms: Option<u64>,
    pub phones: Vec<Phone>,
    /// RTP packets relayed from the caller.
    pub packets_in: u64,
    /// RTP packets sent to the group (a recorded page).
    pub packets_out: u64,
    /// Packets dropped: from an address other than the caller's, or not RTP.
    pub foreign_packets: u64,
    pub malformed_packets: u64,
    pub failure: Option<String>,
}

impl PageRecord {
    pub fn new(groups: &[&str], calling: &str, call: Option<u64>, audio: &str) -> PageRecord {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        PageRecord {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            call,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            calling: calling.to_string(),
            audio: audio.to_string(),
            started_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            seconds: 0.0,
            codec: None,
            address: None,
            site: None,
            join_ms: None,
            phones: Vec::new(),
            packets_in: 0,
            packets_out: 0,
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
        self.inner.lock().expect("records").0.insert(r.id, r);
    }

    pub fn update(&self, r: PageRecord) {
        self.begin(r);
    }

    pub fn end(&self, r: PageRecord) {
        let mut g = self.inner.lock().expect("records");
        g.0.remove(&r.id);
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
