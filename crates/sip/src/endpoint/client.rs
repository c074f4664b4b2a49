//! Client transactions (RFC 3261 17.1): INVITE (Timers A, B, C and D; a CANCEL bounds the
//! wait) and non-INVITE (Timers E, F and K), responses matched to them by branch, and the
//! requests of an INVITE's own transaction (its CANCEL and its ACK for a non-2xx).

use super::*;

impl Endpoint {
    pub(super) fn client_key(branch: &str, method: &str) -> String {
        let method = if method == "ACK" { "INVITE" } else { method };
        format!("{branch}|{method}")
    }

    pub(super) fn response(&self, msg: Message) {
        let (Some(via), Some((_, method))) = (msg.top_via(), msg.cseq()) else {
            return;
        };
        let Some(branch) = via.branch() else { return };
        let key = Self::client_key(branch, method);
        if let Some(tx) = self.inner.client.with(&key, |m| m.get(&key).cloned()) {
            let _ = tx.try_send(ClientEvent::Response(Arc::new(msg)));
        } else if msg.status().is_some_and(|c| (200..300).contains(&c)) {
            if let Some(out) = self
                .inner
                .accepted_clients
                .with(&key, |m| m.get(&key).cloned())
            {
                let _ = out.try_send(Arc::new(msg));
            }
        }
        // A response matching no transaction is dropped (RFC 3261 17.1.3 / 18.1.2).
    }

    /// Start a client transaction for `request`, whose top Via must carry a fresh branch
    /// (see [`Endpoint::via`]). A CANCEL (see [`cancel_for`]) also tells its INVITE's
    /// transaction, which from then on waits 64*T1 at the most for a final response.
    pub async fn send_request(
        &self,
        request: Bytes,
        peer: Peer,
    ) -> std::io::Result<ClientTransaction> {
        let (request, peer) = match self.large_over_tcp(&request, peer).await {
            Some(moved) => moved,
            None => (request, peer),
        };
        let (msg, key, events) = self.open_client(&request)?;
        if let Err(e) = self.send_to(peer, request.clone()).await {
            self.inner.client.with(&key, |m| m.remove(&key));
            return Err(e);
        }
        let (rtx, rrx) = mpsc::channel(16);
        let ep = self.clone();
        tokio::spawn(async move {
            let accepted = if msg.is(Method::Invite) {
                ep.invite_client(msg, request, peer, events, rtx).await
            } else {
                ep.non_invite_client(request, peer, events, rtx).await;
                None
            };
            if let Some(out) = accepted {
                ep.hold_accepted_client(key.clone(), out);
            }
            ep.inner.client.with(&key, |m| m.remove(&key));
        });
        Ok(ClientTransaction { responses: rrx })
    }

    /// A non-INVITE client transaction nobody waits on (the CANCEL of Timer C). Spawned here,
    /// not through `send_request`: the INVITE transaction that sends it cannot await a future
    /// whose type contains its own.
    pub(super) async fn start_non_invite(&self, request: Bytes, peer: Peer) {
        let Ok((_, key, events)) = self.open_client(&request) else {
            return;
        };
        let _ = self.send_to(peer, request.clone()).await;
        let (rtx, _) = mpsc::channel(1);
        let ep = self.clone();
        tokio::spawn(async move {
            ep.non_invite_client(request, peer, events, rtx).await;
            ep.inner.client.with(&key, |m| m.remove(&key));
        });
    }

    /// Parse a request about to be sent and enter its client transaction in the table.
    pub(super) fn open_client(
        &self,
        request: &Bytes,
    ) -> std::io::Result<(Arc<Message>, String, mpsc::Receiver<ClientEvent>)> {
        let msg = Message::parse(request.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (Some(branch), Some(method)) = (msg.top_via().and_then(|v| v.branch()), msg.method())
        else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a request needs a top Via with a branch",
            ));
        };
        let key = Self::client_key(branch, method);
        if method == "CANCEL" {
            let invite = Self::client_key(branch, "INVITE");
            if let Some(tx) = self.inner.client.with(&invite, |m| m.get(&invite).cloned()) {
                let _ = tx.try_send(ClientEvent::Cancelled);
            }
        }
        let (etx, erx) = mpsc::channel(16);
        self.inner.client.with(&key, |m| m.insert(key.clone(), etx));
        Ok((Arc::new(msg), key, erx))
    }

    pub(super) async fn non_invite_client(
        &self,
        request: Bytes,
        peer: Peer,
        mut rx: mpsc::Receiver<ClientEvent>,
        out: mpsc::Sender<Arc<Message>>,
    ) {
        let t = self.inner.config.timers;
        let f = tokio::time::Instant::now() + t.long();
        let mut e = t.t1;
        let reliable = peer.transport.reliable();
        loop {
            let wake = if reliable {
                f
            } else {
                (tokio::time::Instant::now() + e).min(f)
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ClientEvent::Response(r)) => {
                        let code = r.status().unwrap_or(0);
                        let _ = out.send(r).await;
                        if code >= 200 { break; }
                        e = t.t2; // Proceeding: retransmit at T2
                    }
                    Some(ClientEvent::Cancelled) => {}
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => {
                    if tokio::time::Instant::now() >= f { return; } // Timer F
                    let _ = self.send_to(peer, request.clone()).await;
                    e = (e * 2).min(t.t2);
                }
            }
        }
        drop(out);
        // Completed: absorb retransmitted finals for Timer K.
        if !reliable {
            let k = tokio::time::sleep(t.t4);
            tokio::pin!(k);
            loop {
                tokio::select! {
                    ev = rx.recv() => if ev.is_none() { return },
                    _ = &mut k => return,
                }
            }
        }
    }

    /// The INVITE client transaction until its final response; for a 2xx, the user's channel
    /// back, for the caller to hold in the Accepted state (Timer M) without this task.
    pub(super) async fn invite_client(
        &self,
        req: Arc<Message>,
        request: Bytes,
        peer: Peer,
        mut rx: mpsc::Receiver<ClientEvent>,
        out: mpsc::Sender<Arc<Message>>,
    ) -> Option<mpsc::Sender<Arc<Message>>> {
        let t = self.inner.config.timers;
        let reliable = peer.transport.reliable();
        let now = tokio::time::Instant::now();
        // Calling: Timer A retransmits (UDP) until Timer B. Proceeding: no retransmissions;
        // Timer C, restarted by each provisional response, then a CANCEL of our own. Once a
        // CANCEL is out (ours or the user's), a final response within 64*T1 or the end.
        let mut deadline = now + t.long();
        let mut retransmit = (!reliable).then(|| now + t.t1);
        let mut interval = t.t1;
        let mut proceeding = false;
        let mut cancelled = false;
        let final_response = loop {
            let wake = retransmit.map_or(deadline, |r| r.min(deadline));
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ClientEvent::Response(r)) => {
                        let code = r.status().unwrap_or(0);
                        let _ = out.send(r.clone()).await;
                        if code >= 200 { break r; }
                        retransmit = None;
                        if !cancelled && (!proceeding || code > 100) {
                            deadline = tokio::time::Instant::now() + t.c;
                        }
                        proceeding = true;
                    }
                    Some(ClientEvent::Cancelled) => {
                        if !cancelled {
                            cancelled = true;
                            deadline = deadline.min(tokio::time::Instant::now() + t.long());
                        }
                    }
                    None => return None,
                },
                _ = tokio::time::sleep_until(wake) => {
                    let now = tokio::time::Instant::now();
                    if now < deadline {
                        // Timer A (only set while Calling, over UDP).
                        let _ = self.send_to(peer, request.clone()).await;
                        interval *= 2;
                        retransmit = Some(now + interval);
                        continue;
                    }
                    if !proceeding || cancelled {
                        return None; // Timer B, or no final response to a CANCEL in 64*T1
                    }
                    // Timer C: the far end rang and went silent. Cancel it ourselves.
                    cancelled = true;
                    deadline = now + t.long();
                    let cancel = cancel_for(&req, Some("SIP;cause=408;text=\"Timer C\""));
                    self.start_non_invite(cancel, peer).await;
                }
            }
        };
        let code = final_response.status().unwrap_or(0);
        if (200..300).contains(&code) {
            // Accepted (RFC 6026): further 2xx (forks, retransmissions) go to the user for
            // Timer M; the user sends the ACK for a 2xx itself.
            return Some(out);
        }
        // Completed: ACK the non-2xx final (same branch), again for every retransmission,
        // for Timer D.
        let ack = ack_for(&req, &final_response);
        let _ = self.send_to(peer, ack.clone()).await;
        drop(out);
        if reliable {
            return None;
        }
        let d = tokio::time::sleep(t.d);
        tokio::pin!(d);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ClientEvent::Response(_)) => { let _ = self.send_to(peer, ack.clone()).await; }
                    Some(ClientEvent::Cancelled) => {}
                    None => return None,
                },
                _ = &mut d => return None,
            }
        }
    }
}

/// The CANCEL of an INVITE we sent (RFC 3261 9.1): its Request-URI, top Via (so the same
/// branch), From, To, Call-ID, Route and CSeq number, with an optional Reason (RFC 3326).
pub fn cancel_for(invite: &Message, reason: Option<&str>) -> Bytes {
    let b = same_transaction("CANCEL", invite, invite.value(Name::To));
    match reason {
        Some(r) => b.header("Reason", r).finish(),
        None => b.finish(),
    }
}

/// The ACK for a non-2xx final response (RFC 3261 17.1.1.3): same Request-URI, top Via,
/// From, Call-ID and Route as the INVITE, the To of the response, CSeq number with ACK.
pub fn ack_for(invite: &Message, response: &Message) -> Bytes {
    same_transaction("ACK", invite, response.value(Name::To)).finish()
}

/// A request of the INVITE's own transaction (its ACK or CANCEL): the INVITE's Request-URI,
/// top Via, From, Call-ID, CSeq number and Route, with `to` as its To.
fn same_transaction(method: &str, invite: &Message, to: Option<&str>) -> build::Builder {
    let mut b = build::request(method, invite.request_uri_str().unwrap_or(""));
    if let Some(v) = invite.values(Name::Via).next() {
        b = b.header("Via", v);
    }
    for (name, value) in [
        ("From", invite.value(Name::From)),
        ("To", to),
        ("Call-ID", invite.call_id()),
    ] {
        if let Some(v) = value {
            b = b.header(name, v);
        }
    }
    if let Some((n, _)) = invite.cseq() {
        b = b.header("CSeq", &format!("{n} {method}"));
    }
    for r in invite.values(Name::Route) {
        b = b.header("Route", r);
    }
    b.header("Max-Forwards", "70")
}
