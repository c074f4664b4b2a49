//! The end of a call: BYE to each leg that is still up, the routes and line loads given back,
//! watchers told, and the call detail record written with the cause.

use super::*;

impl Call {
    pub(super) async fn hang_up_all(&mut self, cause: &'static str) -> Next {
        for side in [Side::A, Side::B] {
            self.bye(side).await;
        }
        Next::End {
            cause,
            status: 200,
            by: "system",
        }
    }

    pub(super) async fn bye(&mut self, side: Side) {
        let Some(leg) = self.legs[side as usize].as_mut() else {
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let b = leg.dialog.request("BYE", &via).finish();
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, b, peer).await;
    }

    /// Hang up a leg this call no longer uses (a transferor's).
    pub(super) async fn release(&mut self, mut old: Leg) {
        let via = self.inner.endpoint.via(old.peer.transport);
        let bye = old.dialog.request("BYE", &via).finish();
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, bye, old.peer).await;
    }

    /// The transferor's last NOTIFY was answered (or timed out): release its leg now.
    pub(super) async fn release_after(&mut self, tx: u64) {
        if self.releasing.as_ref().is_some_and(|(t, _)| *t == tx) {
            if let Some((_, old)) = self.releasing.take() {
                self.release(old).await;
            }
        }
    }

    // ---- the end -------------------------------------------------------------------

    pub(super) async fn finish(&mut self, cause: &'static str, status: u16, by: &'static str) {
        if let Some((_, old)) = self.releasing.take() {
            self.release(old).await;
        }
        let me = self.events_tx.clone();
        if let Some(c) = self.a_invite.as_ref().and_then(|a| a.request.call_id()) {
            self.inner.unbind_route_of(c, &me);
        }
        self.inner.by_id.with(&self.id, |m| m.remove(&self.id));
        self.leave_route_point();
        if let Some(slot) = self.parked.take() {
            self.inner.parks.with(&slot, |m| m.remove(&slot));
        }
        for f in self.forks.iter() {
            if let Some(c) = f.invite.call_id() {
                self.inner.unbind_route_of(c, &me);
            }
        }
        for leg in self.legs.iter().flatten() {
            self.inner.unbind_route_of(&leg.dialog.call_id, &me);
        }
        for c in &self.released {
            self.inner.unbind_route_of(c, &me);
        }
        self.inner.live.with(&self.id, |live| live.remove(&self.id));
        self.inner.events.emit(Notice::CallEnded {
            call: self.id,
            cause,
            sip_status: if self.answered_at.is_some() {
                200
            } else {
                status
            },
            parties: self.parties(),
        });
        for line in std::mem::take(&mut self.loads) {
            self.inner.load(&line, -1);
        }
        let ended = now_ms();
        let d = self.decision.as_ref();
        let first = self.chain.diversions.first();
        let record = CallRecord {
            id: uuid::Uuid::new_v4().to_string(),
            call_id: self
                .a_invite
                .as_ref()
                .and_then(|a| a.request.call_id())
                .map(str::to_string)
                .or_else(|| {
                    self.legs
                        .iter()
                        .flatten()
                        .next()
                        .map(|l| l.dialog.call_id.clone())
                })
                .or_else(|| {
                    self.forks
                        .first()
                        .and_then(|f| f.invite.call_id().map(str::to_string))
                })
                .unwrap_or_default(),
            calling_number: self.caller.number.clone(),
            calling_device: self.caller.device.clone(),
            calling_trunk: self.calling_trunk.clone(),
            dialled_number: self.dialled.clone(),
            called_number: d
                .map(|d| d.called.clone())
                .unwrap_or_else(|| self.dialled.clone()),
            called_device: self.called_device.clone(),
            called_trunk: self.called_trunk.clone(),
            original_called_number: first.map(|_| self.dialled.clone()),
            redirect_reason: self
                .chain
                .diversions
                .last()
                .map(|d| d.reason.as_str().to_string()),
            pattern: d.map(|d| d.pattern.clone()),
            partition: d.and_then(|d| d.partition.clone()),
            authorization_code_name: d.and_then(|d| d.fac.as_ref().map(|f| f.0.clone())),
            authorization_level: d.and_then(|d| d.fac.as_ref().map(|f| f.1)),
            client_matter_code: d.and_then(|d| d.cmc.clone()),
            started_at: self.started,
            answered_at: self.answered_at,
            ended_at: ended,
            duration_seconds: self.answered_at.map(|a| (ended - a) / 1000).unwrap_or(0),
            cause: cause.to_string(),
            sip_status: if self.answered_at.is_some() {
                200
            } else {
                status
            },
            ended_by: by.to_string(),
        };
        let _ = self.inner.records.send(record).await;
    }

    /// After the end, the forks that may still answer are seen out: a CANCEL held back for a
    /// fork's first provisional answer goes when it comes (RFC 3261 9.1), and a 200 that
    /// crossed the CANCEL is acknowledged and hung up, so no phone is left in a call nobody
    /// hears. Bounded: each fork's transaction ends by its own timers (Timer B, or 64*T1
    /// after its CANCEL), and the whole wait by twice the transaction timeout.
    pub(super) async fn see_forks_out(mut self) {
        let until = Instant::now() + 2 * self.inner.config.transaction_timeout;
        while self.forks.unfinished() > 0 {
            let Ok(Some(ev)) = tokio::time::timeout_at(until, self.events.recv()).await else {
                return;
            };
            let (tx, response) = match ev {
                Input::Response { tx, msg } => (tx, Some(msg)),
                Input::Finished { tx } => (tx, None),
                Input::Request(r) => {
                    if !r.request.is(Method::Cancel) {
                        r.reply(481, None).await;
                    }
                    continue;
                }
                _ => continue,
            };
            let Some(Purpose::Fork(i)) = self.pending.get(&tx) else {
                continue;
            };
            let i = *i;
            if self.forks[i].tx != tx {
                continue; // the INVITE a trunk's challenge replaced
            }
            let Some(msg) = response else {
                self.pending.remove(&tx);
                self.forks.vanished(i);
                continue;
            };
            match msg.status().unwrap_or(0) {
                100..=199 => {
                    if let Some(cancel) = self.forks.provisional(i) {
                        self.send_cancel(cancel).await;
                    }
                }
                200..=299 => {
                    let (invite, peer) = (self.forks[i].invite.clone(), self.forks[i].peer);
                    self.forks.answered_late(i);
                    if let Some(dialog) = Dialog::uac(&invite, &msg) {
                        self.release_late(dialog, peer).await;
                    }
                }
                _ => self.forks.answered_late(i),
            }
        }
    }
}
