//! What call control tells its watchers: device, line and call events, each with stable ids.
//! This is the "events out" half of the CTI surface (DESIGN.md).
//!
//! Two ways to listen. `subscribe` hears everything (the admin API's event stream). `watch`
//! hears only the lines and devices a watcher names (the CTI applications: an attendant
//! console watches thousands of lines among tens of thousands): an event is looked up by its
//! lines and devices in a sharded table, so its cost is the number of watchers that care,
//! not the number connected. Both are bounded: a slow watcher never slows call processing;
//! it misses events, is told how many (`lagged`), and resynchronises from the live views.
//!
//! A call's task only queues its event (one bounded queue, no lookup). One fan-out task
//! serialises each event once and hands it to the watchers' mailboxes, within a budget of
//! deliveries per second: monitoring gets that much CPU and no more. What is over the budget
//! (or does not fit a mailbox, or the fan-out queue) is counted as missed by the watchers
//! concerned, which then resynchronise, while calls go on at their own pace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use dialtone_sip::shards::Sharded;

/// The parties of a call, as lines and devices (absent until known: the called device is
/// known once one answers; a trunk's side has no line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calling_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calling_device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_device: Option<String>,
    /// Each leg's SIP Call-ID: the stable leg identifiers (a transfer replaces one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calling_leg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_leg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A contact was bound (a new registration, not a refresh).
    DeviceRegistered {
        device: String,
        line: String,
        contact: String,
    },
    /// A contact was removed (unregistered or expired).
    DeviceUnregistered {
        device: String,
        line: String,
    },
    /// A line's or device's configured state changed (Do Not Disturb, forward all).
    LineConfigured {
        line: String,
        dnd: bool,
        forward_all: String,
    },
    DeviceConfigured {
        device: String,
        dnd: bool,
    },
    /// A line's calls changed: `state` is that of `call` on the line (ringing, connected,
    /// held), or idle when the line has no call left.
    LineState {
        line: String,
        state: crate::calls::LineState,
        #[serde(skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
    /// A call started ringing the called line's devices (or a trunk).
    CallOffered {
        call: u64,
        calling: String,
        called: String,
        devices: Vec<String>,
        #[serde(flatten)]
        parties: Parties,
    },
    /// The called side is alerting (180/183).
    CallAlerting {
        call: u64,
        #[serde(flatten)]
        parties: Parties,
    },
    CallConnected {
        call: u64,
        #[serde(flatten)]
        parties: Parties,
    },
    /// `by`: calling or called.
    CallHeld {
        call: u64,
        by: &'static str,
        #[serde(flatten)]
        parties: Parties,
    },
    CallResumed {
        call: u64,
        #[serde(flatten)]
        parties: Parties,
    },
    /// The call left `from` (a line) for `reason` (a forward, or `redirect` by an application).
    CallRedirected {
        call: u64,
        from: String,
        reason: &'static str,
        #[serde(flatten)]
        parties: Parties,
    },
    /// The transferor left; the call now connects its other party with `to`.
    CallTransferred {
        call: u64,
        to: String,
        #[serde(flatten)]
        parties: Parties,
    },
    /// The call waits in an application's park slot (its other party was released).
    CallParked {
        call: u64,
        slot: String,
        #[serde(flatten)]
        parties: Parties,
    },
    CallEnded {
        call: u64,
        cause: &'static str,
        sip_status: u16,
        #[serde(flatten)]
        parties: Parties,
    },
    /// A call reached a route point its application owns: answer with redirect, accept or
    /// reject before `timeout_ms`, or the route point's Call Forward No Answer applies.
    RouteRequest {
        call: u64,
        request: u64,
        route_point: String,
        calling: String,
        called: String,
        timeout_ms: u64,
    },
}

impl Event {
    /// The lines and devices this event concerns: who watches any of them hears it.
    fn keys(&self) -> Vec<Key> {
        let mut keys = Vec::with_capacity(4);
        let mut add = |p: &Parties| {
            keys.extend(p.calling_line.iter().map(|l| Key::Line(l.clone())));
            keys.extend(p.called_line.iter().map(|l| Key::Line(l.clone())));
            keys.extend(p.calling_device.iter().map(|d| Key::Device(d.clone())));
            keys.extend(p.called_device.iter().map(|d| Key::Device(d.clone())));
        };
        match self {
            Event::DeviceRegistered { device, line, .. }
            | Event::DeviceUnregistered { device, line } => {
                keys.push(Key::Device(device.clone()));
                keys.push(Key::Line(line.clone()));
            }
            Event::LineConfigured { line, .. } | Event::LineState { line, .. } => {
                keys.push(Key::Line(line.clone()))
            }
            Event::DeviceConfigured { device, .. } => keys.push(Key::Device(device.clone())),
            Event::CallOffered {
                parties, devices, ..
            } => {
                add(parties);
                keys.extend(devices.iter().map(|d| Key::Device(d.clone())));
            }
            Event::CallAlerting { parties, .. }
            | Event::CallConnected { parties, .. }
            | Event::CallHeld { parties, .. }
            | Event::CallResumed { parties, .. }
            | Event::CallRedirected { parties, .. }
            | Event::CallTransferred { parties, .. }
            | Event::CallParked { parties, .. }
            | Event::CallEnded { parties, .. } => add(parties),
            // Sent to the route point's owner directly, never by watch.
            Event::RouteRequest { .. } => {}
        }
        keys
    }
}

/// What a watcher names: a line (directory number) or a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Line(String),
    Device(String),
}

/// An event as watchers receive it: serialised once for all of them, into bytes each
/// watcher's connection shares (a thousand watchers of one line cost one copy, not a
/// thousand).
#[derive(Debug)]
pub struct Published {
    pub event: Arc<Event>,
    /// The event as JSON text (UTF-8).
    pub json: bytes::Bytes,
}

impl Published {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.json).expect("serde_json writes UTF-8")
    }
}

/// One watcher's mailbox: bounded; what did not fit is counted, and the watcher woken to
/// hear it lagged even when nothing else arrives.
struct Mailbox {
    tx: mpsc::Sender<Arc<Published>>,
    missed: Arc<AtomicU64>,
    lagged: tokio::sync::Notify,
}

impl Mailbox {
    fn miss(&self) {
        if self.missed.fetch_add(1, Ordering::Relaxed) == 0 {
            self.lagged.notify_one();
        }
    }
}

/// What a watcher receives next.
pub enum Delivery {
    Event(Arc<Published>),
    /// Events were missed (`take_missed` says how many): resynchronise.
    Lagged,
}

type Table = Sharded<Key, HashMap<u64, Arc<Mailbox>>>;

/// The event bus: cheap to clone.
#[derive(Clone)]
pub struct Events {
    all: broadcast::Sender<Arc<Event>>,
    watched: Arc<Table>,
    /// To the fan-out task.
    fanout: mpsc::Sender<Arc<Event>>,
    /// Events the fan-out task had no room for: missed by every watcher.
    dropped: Arc<AtomicU64>,
    next_watcher: Arc<AtomicU64>,
    capacity: usize,
}

impl Events {
    /// `capacity`: events a watcher may fall behind before it is told it lagged (and the
    /// fan-out task's queue, four times that); `per_second`: the most deliveries (one event
    /// to one watcher) a second. Call within a tokio runtime.
    pub fn new(capacity: usize, per_second: u64) -> Events {
        let capacity = capacity.max(16);
        let (fanout, queue) = mpsc::channel(capacity * 4);
        let watched: Arc<Table> = Arc::new(Sharded::new(64));
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(fan_out(
            queue,
            Arc::downgrade(&watched),
            per_second.max(1),
            dropped.clone(),
        ));
        Events {
            all: broadcast::channel(capacity).0,
            watched,
            fanout,
            dropped,
            next_watcher: Arc::new(AtomicU64::new(1)),
            capacity,
        }
    }

    pub fn emit(&self, event: Event) {
        let event = Arc::new(event);
        if self.fanout.try_send(event.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // No listener is not an error.
        let _ = self.all.send(event);
    }

    /// Everything, on a bounded broadcast channel.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.all.subscribe()
    }

    /// A watcher of named lines and devices.
    pub fn watcher(&self) -> Watcher {
        let (tx, rx) = mpsc::channel(self.capacity);
        Watcher {
            id: self.next_watcher.fetch_add(1, Ordering::Relaxed),
            dropped_seen: self.dropped.load(Ordering::Relaxed),
            events: self.clone(),
            mailbox: Arc::new(Mailbox {
                tx,
                missed: Arc::new(AtomicU64::new(0)),
                lagged: tokio::sync::Notify::new(),
            }),
            rx,
            keys: Vec::new(),
        }
    }
}

/// A watcher's end: add and remove what it watches, receive, learn what it missed. Dropping
/// it stops the watch.
pub struct Watcher {
    id: u64,
    events: Events,
    mailbox: Arc<Mailbox>,
    rx: mpsc::Receiver<Arc<Published>>,
    keys: Vec<Key>,
    dropped_seen: u64,
}

/// Hand each queued event to the mailboxes of the watchers of its lines and devices, at
/// most `per_second` deliveries a second (a token bucket holding a tenth of a second's).
async fn fan_out(
    mut queue: mpsc::Receiver<Arc<Event>>,
    watched: std::sync::Weak<Table>,
    per_second: u64,
    dropped: Arc<AtomicU64>,
) {
    let mut dropped_seen = 0;
    let burst = (per_second / 10).max(1) as f64;
    let mut tokens = burst;
    let mut refilled = tokio::time::Instant::now();
    let mut batch = Vec::with_capacity(256);
    while queue.recv_many(&mut batch, 256).await > 0 {
        let Some(watched) = watched.upgrade() else {
            return;
        };
        // Events the queue had no room for concern everyone: wake every watcher (rare, and
        // only under overload).
        let d = dropped.load(Ordering::Relaxed);
        if d != dropped_seen {
            dropped_seen = d;
            watched.each(|m| {
                for w in m.values() {
                    for b in w.values() {
                        b.lagged.notify_one();
                    }
                }
            });
        }
        let now = tokio::time::Instant::now();
        tokens = (tokens + (now - refilled).as_secs_f64() * per_second as f64).min(burst);
        refilled = now;
        for event in batch.drain(..) {
            let keys = event.keys();
            let mut boxes: Vec<(u64, Arc<Mailbox>)> = Vec::new();
            for key in &keys {
                watched.with(key, |m| {
                    if let Some(w) = m.get(key) {
                        boxes.extend(w.iter().map(|(id, b)| (*id, b.clone())));
                    }
                });
            }
            if keys.len() > 1 {
                // A watcher of two of the event's keys hears it once. Sorted, not searched: a
                // line a thousand applications watch would cost a million comparisons an event.
                boxes.sort_unstable_by_key(|(id, _)| *id);
                boxes.dedup_by_key(|(id, _)| *id);
            }
            if boxes.is_empty() {
                continue;
            }
            if tokens < boxes.len() as f64 {
                // Over the budget: missed by those it was for.
                for (_, mailbox) in &boxes {
                    mailbox.miss();
                }
                continue;
            }
            deliver(&event, boxes, &mut tokens);
        }
        // Let the watchers' tasks run between batches.
        tokio::task::yield_now().await;
    }
}

/// Serialise `event` once and queue it for every one of `boxes`, within the budget.
fn deliver(event: &Arc<Event>, boxes: Vec<(u64, Arc<Mailbox>)>, tokens: &mut f64) {
    *tokens -= boxes.len() as f64;
    let published = Arc::new(Published {
        json: serde_json::to_string(&**event).unwrap_or_default().into(),
        event: event.clone(),
    });
    for (_, mailbox) in boxes {
        if mailbox.tx.try_send(published.clone()).is_err() {
            mailbox.miss();
        }
    }
}

impl Watcher {
    pub fn watch(&mut self, key: Key) {
        if self.keys.contains(&key) {
            return;
        }
        let mailbox = self.mailbox.clone();
        self.events.watched.with(&key, |m| {
            m.entry(key.clone()).or_default().insert(self.id, mailbox);
        });
        self.keys.push(key);
    }

    pub fn unwatch(&mut self, key: &Key) {
        self.keys.retain(|k| k != key);
        self.events.watched.with(key, |m| {
            if let Some(w) = m.get_mut(key) {
                w.remove(&self.id);
                if w.is_empty() {
                    m.remove(key);
                }
            }
        });
    }

    pub fn watching(&self) -> &[Key] {
        &self.keys
    }

    /// The next event, or word that some were missed.
    pub async fn next(&mut self) -> Delivery {
        if self.mailbox.missed.load(Ordering::Relaxed) > 0
            || self.events.dropped.load(Ordering::Relaxed) != self.dropped_seen
        {
            return Delivery::Lagged;
        }
        tokio::select! {
            biased;
            e = self.rx.recv() => match e {
                Some(e) => Delivery::Event(e),
                // The sender lives in the table as long as this watcher: not reached.
                None => std::future::pending().await,
            },
            _ = self.mailbox.lagged.notified() => Delivery::Lagged,
        }
    }

    #[cfg(test)]
    async fn recv(&mut self) -> Option<Arc<Published>> {
        self.rx.recv().await
    }

    /// The next event if one is queued (to send several at once).
    pub fn try_recv(&mut self) -> Option<Arc<Published>> {
        self.rx.try_recv().ok()
    }

    /// Events dropped since the last call (the mailbox, or the fan-out queue, was full):
    /// resynchronise.
    pub fn take_missed(&mut self) -> u64 {
        let dropped = self.events.dropped.load(Ordering::Relaxed);
        let everyone = dropped - self.dropped_seen;
        self.dropped_seen = dropped;
        self.mailbox.missed.swap(0, Ordering::Relaxed) + everyone
    }

    /// Throw away what is queued (a fresh snapshot supersedes it); how many were dropped.
    pub fn discard_queued(&mut self) -> u64 {
        let mut n = 0;
        while self.rx.try_recv().is_ok() {
            n += 1;
        }
        n
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for key in std::mem::take(&mut self.keys) {
            self.unwatch(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(line: &str) -> Event {
        Event::LineState {
            line: line.into(),
            state: crate::calls::LineState::Idle,
            call: None,
        }
    }

    #[tokio::test]
    async fn a_watcher_hears_only_what_it_watches_and_counts_what_it_missed() {
        let events = Events::new(16, 1_000_000);
        let mut w = events.watcher();
        w.watch(Key::Line("1001".into()));
        events.emit(state("1002"));
        events.emit(state("1001"));
        let got = w.recv().await.unwrap();
        assert_eq!(*got.event, state("1001"));
        assert_eq!(
            got.text(),
            r#"{"event":"line_state","line":"1001","state":"idle"}"#
        );
        for _ in 0..40 {
            events.emit(state("1001"));
        }
        // The fan-out task hands them over; 16 fit.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(w.take_missed(), 24);
        assert_eq!(w.take_missed(), 0);
        drop(w);
        // Nobody watches any more: the table is empty again.
        let mut left = 0;
        events.watched.each(|m| left += m.len());
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn an_event_naming_two_watched_keys_arrives_once() {
        let events = Events::new(16, 1_000_000);
        let mut w = events.watcher();
        w.watch(Key::Line("1001".into()));
        w.watch(Key::Device("SEP1".into()));
        events.emit(Event::CallConnected {
            call: 1,
            parties: Parties {
                calling_line: Some("1001".into()),
                calling_device: Some("SEP1".into()),
                ..Parties::default()
            },
        });
        w.recv().await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(w.rx.try_recv().is_err());
    }
}
