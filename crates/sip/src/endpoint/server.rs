//! Server transactions (RFC 3261 17.2 with RFC 6026): INVITE (100 at once, Timer C for a
//! user that never answers, the 2xx retransmitted until its ACK, Timers G, H, I, L) and
//! non-INVITE (Timer J held as a stored answer, with no task), and refusal under overload.

use super::*;

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

    /// Non-INVITE server transaction (RFC 3261 17.2.2) until its final response, which it returns unsent (with
    /// whom to tell once it is sent): the caller records it for retransmissions first, so none
    /// can arrive while nobody would answer it.
    pub(super) async fn non_invite_server(
        &self,
        peer: Peer,
        mut rx: mpsc::Receiver<ServerEventBox>,
    ) -> Option<(Bytes, Option<tokio::sync::oneshot::Sender<()>>)> {
        let t = self.inner.config.timers;
        // The client gives up at its Timer F (64*T1); an answer relayed from another peer may
        // come as late as our own Timer F on that request, so wait a T4 longer than that.
        let deadline = tokio::time::Instant::now() + t.long() + t.t4;
        let mut last: Option<Bytes> = None;
        loop {
            // Past the deadline the client has gone: end without a word.
            let ev = wait_for_user(&mut rx, deadline).await?;
            match ev {
                None => return None,
                Some(ServerEventBox(ServerEvent::Retransmission)) => {
                    if let Some(r) = &last {
                        let _ = self.send_to(peer, r.clone()).await;
                    }
                }
                Some(ServerEventBox(ServerEvent::Ack)) => {}
                Some(ServerEventBox(ServerEvent::Abandon)) => return None,
                Some(ServerEventBox(ServerEvent::Respond(r, code, done))) => {
                    if code >= 200 {
                        return Some((r, done));
                    }
                    let _ = self.send_to(peer, r.clone()).await;
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    last = Some(r);
                }
            }
        }
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
