//! Server transactions (RFC 3261 17.2 with RFC 6026): INVITE (100 at once, Timer C for a
//! user that never answers, the 2xx retransmitted until its ACK, Timers G, H, I, L) and
//! non-INVITE (no task at all: state its user's answers move along, then Timer J held as a
//! stored answer), and refusal under overload.

use super::*;
use std::sync::{Mutex, Weak};

/// How a transaction's user reaches it.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// An INVITE's: its task takes the user's responses.
    Invite(mpsc::Sender<ServerEventBox>),
    /// A non-INVITE's, as its user holds it: the final response ends it where it is given,
    /// and the last copy dropped unanswered ends it too.
    NonInvite(Arc<Running>),
    /// The transaction table's copy of a non-INVITE's: it answers retransmissions and does
    /// not keep the transaction alive; past its deadline the sweep ends it.
    Entry(Weak<Running>, tokio::time::Instant),
}

impl Kind {
    /// A non-INVITE's last provisional response, for a retransmission of its request.
    pub(super) fn last_provisional(&self) -> Option<Bytes> {
        let running = match self {
            Kind::NonInvite(r) => r.clone(),
            Kind::Entry(w, _) => w.upgrade()?,
            Kind::Invite(_) => return None,
        };
        let state = running.state.lock().expect("transaction state");
        state.last.clone()
    }
}

/// A non-INVITE server transaction until its final response (RFC 3261 17.2.2: Trying and
/// Proceeding), kept as state rather than a task: a registration costs no spawn, channel or
/// wake-up beyond its user's own. It ends at its user's final response, when its user drops
/// it unanswered (as an abandon does), or at the latest 64*T1 + T4 after its request (the
/// client gave up at its Timer F), when the sweep ends it (`end_overdue`).
#[derive(Debug)]
pub(super) struct Running {
    endpoint: Weak<Inner>,
    key: String,
    merge_key: Option<String>,
    peer: Peer,
    state: Mutex<RunState>,
}

#[derive(Debug, Default)]
struct RunState {
    last: Option<Bytes>,
    ended: bool,
}

impl Running {
    pub(super) fn new(
        ep: &Endpoint,
        key: String,
        merge_key: Option<String>,
        peer: Peer,
    ) -> Arc<Running> {
        Arc::new(Running {
            endpoint: Arc::downgrade(&ep.inner),
            key,
            merge_key,
            peer,
            state: Mutex::default(),
        })
    }

    fn endpoint(&self) -> Option<Endpoint> {
        self.endpoint.upgrade().map(|inner| Endpoint { inner })
    }

    /// The user's response: a provisional one is sent and kept for retransmissions; the
    /// final one ends the transaction (held for Timer J over UDP) and is sent.
    pub(super) async fn respond(&self, response: Bytes, code: u16) {
        if code < 200 {
            {
                let mut state = self.state.lock().expect("transaction state");
                if state.ended {
                    return;
                }
                state.last = Some(response.clone());
            }
            if let Some(ep) = self.endpoint() {
                let _ = ep.send_to(self.peer, response).await;
            }
            return;
        }
        self.end(Some(response)).await;
    }

    /// End with `response` sent (None: without a word).
    pub(super) async fn end(&self, response: Option<Bytes>) {
        if let Some(r) = self.finish_now(response) {
            if let Some(ep) = self.endpoint() {
                let _ = ep.send_to(self.peer, r).await;
            }
        }
    }

    /// End the transaction's bookkeeping now: over UDP the final response is held for
    /// retransmissions before the running entry comes out, so a retransmission finds one or
    /// the other. The response to send, once (None when it had ended already or has none).
    pub(super) fn finish_now(&self, response: Option<Bytes>) -> Option<Bytes> {
        {
            let mut state = self.state.lock().expect("transaction state");
            if state.ended {
                return None;
            }
            state.ended = true;
        }
        let ep = self.endpoint()?;
        let keep = !self.peer.transport.reliable() && response.is_some();
        if let (true, Some(r)) = (keep, response.as_ref()) {
            ep.hold_completed(
                self.key.clone(),
                self.merge_key.clone(),
                r.clone(),
                self.peer,
            );
        }
        ep.inner.server.with(&self.key, |m| m.remove(&self.key));
        if !keep {
            if let Some(mk) = &self.merge_key {
                ep.inner.merged.with(mk, |m| m.remove(mk));
            }
        }
        ep.inner.live.fetch_sub(1, Ordering::Relaxed);
        response
    }
}

impl Endpoint {
    /// A non-INVITE transaction's deadline, from now.
    pub(super) fn non_invite_deadline(&self) -> tokio::time::Instant {
        let t = self.inner.config.timers;
        tokio::time::Instant::now() + t.long() + t.t4
    }

    /// End the non-INVITE transactions past their deadline whose users still hold them,
    /// without a word (a late answer then goes out unheld).
    pub(super) fn end_overdue(&self, now: tokio::time::Instant) {
        let mut overdue: Vec<Arc<Running>> = Vec::new();
        self.inner.server.each(|m| {
            for t in m.values() {
                if let Kind::Entry(w, deadline) = &t.kind {
                    if *deadline <= now {
                        overdue.extend(w.upgrade());
                    }
                }
            }
        });
        // Outside the table's locks: ending one takes its shard's lock.
        for r in overdue {
            r.finish_now(None);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The user let it go unanswered: it ends, as an abandoned one does.
        let _ = self.finish_now(None);
    }
}

impl Endpoint {
    pub(super) fn overloaded(&self, msg: &Message, peer: Peer, merge_key: Option<&str>) {
        if let Some(mk) = merge_key {
            self.inner.merged.with(mk, |m| m.remove(mk));
        }
        let r = build::response(msg, 503, Some(peer.addr), Some(&build::token()))
            .header("Retry-After", &self.inner.config.retry_after.to_string())
            .finish();
        self.send_now(peer, r);
    }

    /// INVITE server transaction (RFC 3261 17.2.1 with RFC 6026's Accepted state). True when
    /// its 2xx was acknowledged over UDP: the caller then holds an entry absorbing late
    /// retransmissions for the rest of Timer L, in place of this task.
    pub(super) async fn invite_server(
        &self,
        req: Arc<Message>,
        peer: Peer,
        mut rx: mpsc::Receiver<ServerEventBox>,
    ) -> bool {
        let t = self.inner.config.timers;
        let reliable = peer.transport.reliable();
        // 100 Trying at once, so the client stops retransmitting (17.2.1).
        let trying = build::response(&req, 100, Some(peer.addr), None).finish();
        let _ = self.send_to(peer, trying.clone()).await;
        let mut last = trying;
        // Proceeding: wait for the user's final response, Timer C at the most (a user that
        // holds the transaction and never answers does not hold the caller forever).
        let timer_c = tokio::time::Instant::now() + t.c;
        let code = loop {
            let Some(ev) = wait_for_user(&mut rx, timer_c).await else {
                let r = build::response(&req, 408, Some(peer.addr), Some(&build::token())).finish();
                let _ = self.send_to(peer, r.clone()).await;
                last = r;
                break 408;
            };
            match ev {
                None => return false,
                Some(ServerEventBox(ServerEvent::Retransmission)) => {
                    let _ = self.send_to(peer, last.clone()).await;
                }
                Some(ServerEventBox(ServerEvent::Ack)) => {}
                Some(ServerEventBox(ServerEvent::Abandon)) => return false,
                Some(ServerEventBox(ServerEvent::Respond(r, code, done))) => {
                    let _ = self.send_to(peer, r.clone()).await;
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    last = r;
                    if code >= 200 {
                        break code;
                    }
                }
            }
        };
        if (200..300).contains(&code) {
            // Accepted: retransmit the 2xx until its ACK (the UAS core's duty, done here for
            // it), absorbing INVITE retransmissions, for Timer L. Over a stream nothing is
            // retransmitted either way: the transaction ends here. Over UDP it ends at the
            // ACK, leaving only a small entry that absorbs late retransmissions for the rest
            // of Timer L (a task and the request held for 64*T1 per call cost gigabytes at
            // thousands of calls a second).
            if reliable {
                return false;
            }
            let k = match (req.call_id(), req.cseq()) {
                (Some(c), Some((n, _))) => format!("{c}|{n}"),
                _ => return false,
            };
            drop(req);
            let (atx, mut arx) = mpsc::channel(4);
            self.inner.accepted.with(&k, |m| m.insert(k.clone(), atx));
            let deadline = tokio::time::Instant::now() + t.long();
            let mut interval = t.t1;
            let mut acked = reliable;
            loop {
                let wake = if acked {
                    deadline
                } else {
                    (tokio::time::Instant::now() + interval).min(deadline)
                };
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ServerEventBox(ServerEvent::Retransmission)) => {
                            if !acked { let _ = self.send_to(peer, last.clone()).await; }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    ev = arx.recv() => if ev.is_some() { acked = true; break },
                    _ = tokio::time::sleep_until(wake) => {
                        if tokio::time::Instant::now() >= deadline { break; }
                        let _ = self.send_to(peer, last.clone()).await;
                        interval = (interval * 2).min(t.t2);
                    }
                }
            }
            self.inner.accepted.with(&k, |m| m.remove(&k));
            return acked;
        }
        // Completed: retransmit the final response (Timer G, UDP) until ACK or Timer H.
        let h = tokio::time::Instant::now() + t.long();
        let mut g = t.t1;
        loop {
            let wake = if reliable {
                h
            } else {
                (tokio::time::Instant::now() + g).min(h)
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ServerEventBox(ServerEvent::Retransmission)) => {
                        let _ = self.send_to(peer, last.clone()).await;
                    }
                    Some(ServerEventBox(ServerEvent::Ack)) => break,
                    Some(_) => {}
                    None => return false,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= h { return false; } // Timer H: no ACK came
                    let _ = self.send_to(peer, last.clone()).await;
                    g = (g * 2).min(t.t2);
                }
            }
        }
        // Confirmed: absorb ACK retransmissions for Timer I.
        if !reliable {
            let i = tokio::time::sleep(t.t4);
            tokio::pin!(i);
            loop {
                tokio::select! {
                    ev = rx.recv() => if ev.is_none() { return false },
                    _ = &mut i => return false,
                }
            }
        }
        false
    }

    /// Completed: keep only the final response to answer retransmissions until Timer J.
    pub(super) fn hold_completed(
        &self,
        key: String,
        merge_key: Option<String>,
        last: Bytes,
        peer: Peer,
    ) {
        self.inner
            .completed
            .with(&key, |m| m.insert(key.clone(), (last, peer)));
        let shard = self.expiry_shard(&key);
        self.hold(shard, Held::Completed { key, merge_key });
    }

    /// Accepted (an INVITE client transaction's 2xx came): keep only the user's channel, for
    /// further 2xx until Timer M.
    pub(super) fn hold_accepted_client(&self, key: String, out: mpsc::Sender<Arc<Message>>) {
        self.inner
            .accepted_clients
            .with(&key, |m| m.insert(key.clone(), out));
        let shard = self.expiry_shard(&key);
        self.hold(shard, Held::AcceptedClient(key));
    }

    /// The expiry queue an entry of `key` goes in.
    fn expiry_shard(&self, key: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % self.inner.expiries.len()
    }

    /// Queue an entry to expire one Timer J/M from now, past the bound evicting the oldest.
    fn hold(&self, shard: usize, held: Held) {
        let until = tokio::time::Instant::now() + self.inner.config.timers.long();
        if self.inner.held.load(Ordering::Relaxed) as usize >= self.inner.config.max_completed {
            // Evict the front of this shard's queue, or of the next one that has any.
            let n = self.inner.expiries.len();
            let _ = (0..n).any(|k| self.expire_one((shard + k) % n, |_| true));
        }
        self.inner.held.fetch_add(1, Ordering::Relaxed);
        self.inner.expiries[shard]
            .lock()
            .expect("expiry lock")
            .push_back((until, held));
    }
}
