//! Transfer: REFER, blind (the target rings, the transferor hears NOTIFYs) and consultative
//! (Replaces names the other call, whose leg is handed over), and the offer/answer exchange
//! that joins the transferee to the target.

use super::*;

/// The Call-ID a Refer-To's `Replaces` header names (RFC 3891), its escapes undone.
pub(super) fn replaces_call_id(uri_headers: &str) -> Option<String> {
    let value = uri_headers.split('&').find_map(|h| {
        h.strip_prefix("Replaces=")
            .or_else(|| h.strip_prefix("replaces="))
    })?;
    let decoded = value
        .replace("%3B", ";")
        .replace("%3b", ";")
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%40", "@");
    let call_id = decoded.split(';').next()?.trim();
    (!call_id.is_empty()).then(|| call_id.to_string())
}

impl Call {
    /// Tell the transferor how its REFER goes (RFC 3515: NOTIFY with a sipfrag).
    pub(super) async fn notify_transferor(
        &mut self,
        leg_side: Option<Side>,
        status: u16,
        last: bool,
    ) -> Option<u64> {
        // One NOTIFY at a time: the next waits for the answer to this one (two back to back
        // can reach a phone in one segment, before it has answered the first).
        if self.transfer.as_ref().is_some_and(|t| !t.notify) {
            return None;
        }
        if self.notify_in_flight.is_some() {
            self.deferred_notify = Some((leg_side, status, last));
            return None;
        }
        let leg = match leg_side {
            Some(side) => self.legs[side as usize].as_mut(),
            None => match self.transfer.as_mut().and_then(|t| t.old_leg.as_mut()) {
                Some(leg) => Some(leg),
                None => self.releasing.as_mut().map(|(_, leg)| leg),
            },
        };
        let leg = leg?;
        let via = self.inner.endpoint.via(leg.peer.transport);
        let state = if last {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let b = leg
            .dialog
            .request("NOTIFY", &via)
            .header("Contact", &leg.contact)
            .header("Event", "refer")
            .header("Subscription-State", state)
            .body(
                "message/sipfrag;version=2.0",
                Bytes::from(format!("SIP/2.0 {status} {}\r\n", build::reason(status))),
            )
            .finish();
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.notify_in_flight = Some(tx);
        self.send(tx, b, peer).await;
        Some(tx)
    }

    /// A request of ours got its final answer (or none came): send a NOTIFY that waited for
    /// it, and release the transferor once its last NOTIFY is answered.
    pub(super) async fn answered(&mut self, tx: u64) {
        if self.notify_in_flight == Some(tx) {
            self.notify_in_flight = None;
            if let Some((side, status, last)) = self.deferred_notify.take() {
                if let Some(next) = Box::pin(self.notify_transferor(side, status, last)).await {
                    if let Some((waiting, _)) = self.releasing.as_mut() {
                        if *waiting == u64::MAX {
                            *waiting = next;
                        }
                    }
                }
            }
        }
        self.release_after(tx).await;
    }

    /// The transfer failed: say so to the transferor; the call stays as it was.
    pub(super) async fn transfer_failed(&mut self, status: u16) -> Next {
        let Some(t) = self.transfer.as_ref() else {
            return Next::Continue;
        };
        let side = t.transferor;
        if t.old_leg.is_some() {
            // The target had already taken the transferor's place: nothing to return to.
            self.notify_transferor(None, status, true).await;
            self.transfer = None;
            return self.hang_up_all("failed").await;
        }
        self.notify_transferor(Some(side), status, true).await;
        self.transfer = None;
        Next::Continue
    }

    pub(super) async fn on_refer(&mut self, side: Side, tx: ServerTransaction) -> Next {
        if self.transfer.is_some() || self.ack_wait.is_some() {
            let b = build::response(&tx.request, 491, Some(tx.peer.addr), None).finish();
            tx.respond(b).await;
            return Next::Continue;
        }
        let refer_to = tx
            .request
            .values_named("Refer-To")
            .next()
            .or_else(|| tx.request.values_named("r").next())
            .and_then(dialtone_sip::NameAddr::parse)
            .and_then(|n| {
                let uri = n.uri().ok()?;
                Some((uri.user?.to_string(), uri.headers.to_string()))
            });
        let Some((target, uri_headers)) = refer_to else {
            let b = build::response(&tx.request, 400, Some(tx.peer.addr), None)
                .header("Warning", "399 dialtone \"Refer-To names no number\"")
                .finish();
            tx.respond(b).await;
            return Next::Continue;
        };
        let b = self.in_dialog_response(&tx, side, 202).finish();
        tx.respond(b).await;
        self.transfer = Some(Transfer {
            transferor: side,
            old_leg: None,
            target_ack: None,
            notify: true,
        });
        self.notify_transferor(Some(side), 100, false).await;
        match replaces_call_id(&uri_headers) {
            Some(call_id) => self.attended_transfer(side, &call_id).await,
            None => self.blind_transfer(side, &target).await,
        }
    }

    /// Blind transfer: ring the target, as the transferor would have dialled it.
    pub(super) async fn blind_transfer(&mut self, side: Side, target: &str) -> Next {
        let snapshot = self.inner.directory.get();
        let caller = if side == Side::A {
            self.caller.clone()
        } else {
            // The called side transfers: search with its line's and device's CSS.
            let mut c = self.caller.clone();
            c.css.clear();
            if let Some(l) = self.called_line.as_ref().and_then(|k| snapshot.line(k)) {
                c.css.extend(l.config.css.clone());
            }
            if let Some(d) = self.called_device.as_ref().and_then(|d| snapshot.device(d)) {
                c.css.extend(d.css.clone());
                c.device = Some(d.name.clone());
            }
            c.line = self.called_line.clone();
            c
        };
        let routing = self
            .inner
            .router(&snapshot)
            .route(&caller, target, &mut Chain::default());
        match routing {
            Routing::Ring {
                line,
                contacts,
                decision,
            } => {
                self.decision = Some(decision);
                self.called_line = Some(line.key.clone());
                self.ring(contacts).await;
                Next::Continue
            }
            Routing::Trunks { trunks, decision } => {
                self.decision = Some(decision);
                let mut trunks = trunks;
                trunks.truncate(1);
                self.trunks = trunks;
                let next = self.next_trunk().await;
                if matches!(next, Next::Continue) {
                    next
                } else {
                    self.transfer_failed(503).await
                }
            }
            Routing::Fail { code, why, .. } => {
                tracing::info!(call = self.id, code, why, "transfer target not routed");
                self.transfer_failed(code).await
            }
            Routing::RoutePoint { .. } => {
                tracing::info!(call = self.id, "transfer to a route point is not supported");
                self.transfer_failed(488).await
            }
        }
    }

    pub(super) async fn on_transfer_fork(
        &mut self,
        i: usize,
        msg: Arc<Message>,
        code: u16,
    ) -> Next {
        if code < 200 {
            if let Some(cancel) = self.forks.provisional(i) {
                self.send_cancel(cancel).await;
            }
            return Next::Continue;
        }
        if (200..300).contains(&code) {
            let fork = &self.forks[i];
            let peer = fork.peer;
            let Some(dialog) = Dialog::uac(&fork.invite, &msg) else {
                return Next::Continue;
            };
            let Some(t) = self.transfer.as_mut() else {
                self.release_late(dialog, peer).await;
                return Next::Continue;
            };
            if t.old_leg.is_some() {
                self.release_late(dialog, peer).await;
                return Next::Continue;
            }
            self.forks[i].done = true;
            let side = t.transferor;
            t.target_ack = Some(dialog.local_cseq);
            self.called_device = self.forks[i].device.clone();
            self.called_trunk = self.forks[i].trunk.clone();
            for j in 0..self.forks.len() {
                if j != i && self.forks[j].role == Role::TransferTarget {
                    self.cancel_fork(j, Some("SIP;cause=200;text=\"Call completed elsewhere\""))
                        .await;
                }
            }
            self.inner
                .bind_route(&dialog.call_id, self.events_tx.clone());
            let target = Leg {
                contact: self.inner.contact(peer.transport),
                dialog,
                peer,
                session: None,
            };
            let old = self.legs[side as usize].replace(target);
            if let Some(t) = self.transfer.as_mut() {
                t.old_leg = old;
            }
            return self.offer_to_transferee(msg).await;
        }
        self.forks[i].done = true;
        if self
            .forks
            .iter()
            .any(|f| f.role == Role::TransferTarget && !f.done)
        {
            return Next::Continue;
        }
        self.transfer_failed(code).await
    }

    /// Consultative transfer: take the target's leg from the call the Replaces names.
    pub(super) async fn attended_transfer(&mut self, side: Side, call_id: &str) -> Next {
        let other_call = self.inner.route_of(call_id);
        let Some(other_call) = other_call.filter(|s| !s.same_channel(&self.events_tx)) else {
            return self.transfer_failed(481).await;
        };
        self.take_leg_from(side, other_call, HandOverOf::CallId(call_id.to_string()))
            .await
    }

    /// Take the other call's leg facing the transferor (named by `of`) in place of ours on
    /// `side`, and ask it for a fresh offer for the transferee.
    pub(super) async fn take_leg_from(
        &mut self,
        side: Side,
        other_call: mpsc::Sender<Input>,
        of: HandOverOf,
    ) -> Next {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _ = other_call.send(Input::HandOver { of, reply }).await;
        let leg = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let Some(target) = leg else {
            return self.transfer_failed(481).await;
        };
        self.inner
            .bind_route(&target.dialog.call_id, self.events_tx.clone());
        let old = self.legs[side as usize].replace(target);
        if let Some(t) = self.transfer.as_mut() {
            t.old_leg = old;
        }
        // Ask the target for a fresh offer (it was talking to the transferor).
        let Some(leg) = self.legs[side as usize].as_mut() else {
            return Next::Continue;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let b = leg
            .dialog
            .request("INVITE", &via)
            .header("Contact", &leg.contact)
            .finish();
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::TransferOffer);
        self.send(tx, b, peer).await;
        Next::Continue
    }

    pub(super) async fn on_target_offer(&mut self, msg: Arc<Message>, code: u16) -> Next {
        if !(200..300).contains(&code) {
            return self.transfer_failed(code).await;
        }
        let side = self.transfer.as_ref().map(|t| t.transferor);
        if let (Some(t), Some(side)) = (self.transfer.as_mut(), side) {
            t.target_ack = self.legs[side as usize]
                .as_ref()
                .map(|l| l.dialog.local_cseq);
        }
        self.offer_to_transferee(msg).await
    }

    /// Send the target's offer to the transferee in a re-INVITE.
    pub(super) async fn offer_to_transferee(&mut self, target_answer: Arc<Message>) -> Next {
        let Some(side) = self.transfer.as_ref().map(|t| t.transferor) else {
            return Next::Continue;
        };
        let Some(leg) = self.legs[side.other() as usize].as_mut() else {
            return self.transfer_failed(481).await;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let mut b = leg
            .dialog
            .request("INVITE", &via)
            .header("Contact", &leg.contact);
        let body = target_answer.body();
        if !body.is_empty() {
            b = b.body(
                target_answer
                    .value(Name::ContentType)
                    .unwrap_or("application/sdp"),
                body,
            );
        }
        let cseq = leg.dialog.local_cseq;
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::TransferAnswer { cseq });
        self.send(tx, b.finish(), peer).await;
        Next::Continue
    }

    pub(super) async fn on_transferee_answer(
        &mut self,
        msg: Arc<Message>,
        code: u16,
        cseq: u32,
    ) -> Next {
        let Some(t) = self.transfer.as_ref() else {
            return Next::Continue;
        };
        let side = t.transferor;
        if !(200..300).contains(&code) {
            return self.transfer_failed(code).await;
        }
        self.ack(side.other(), cseq, None).await;
        if let Some(target_cseq) = t.target_ack {
            self.ack_with_answer(side, target_cseq, &msg).await;
        }
        // Connected: the transferor hears it worked, and once it has answered that NOTIFY
        // its leg is released (a BYE right behind the NOTIFY could overtake its answer).
        let notified = self.notify_transferor(None, 200, true).await;
        if let Some(old) = self.transfer.take().and_then(|t| t.old_leg) {
            self.released.push(old.dialog.call_id.clone());
            match notified {
                Some(tx) => self.releasing = Some((tx, old)),
                // Waiting behind the previous NOTIFY: it is sent (and then answered) later.
                None if self.deferred_notify.is_some() => {
                    self.releasing = Some((u64::MAX, old));
                }
                None => self.release(old).await,
            }
        }
        self.held_by = None;
        tracing::info!(call = self.id, "transferred");
        self.inner.events.emit(Notice::CallTransferred {
            call: self.id,
            to: self
                .decision
                .as_ref()
                .map(|d| d.called.clone())
                .unwrap_or_default(),
            parties: self.parties(),
        });
        Next::Continue
    }

    /// Another call takes our leg that is not `call_id` (Replaces); this call ends.
    pub(super) async fn hand_over(
        &mut self,
        of: HandOverOf,
        reply: tokio::sync::oneshot::Sender<Option<Leg>>,
    ) -> Next {
        let side = match &of {
            HandOverOf::CallId(call_id) => [Side::A, Side::B].into_iter().find(|s| {
                self.legs[*s as usize]
                    .as_ref()
                    .is_some_and(|l| &l.dialog.call_id == call_id)
            }),
            HandOverOf::Party(party) => self.side_of_party(Some(party)).ok(),
        };
        let busy = self.transfer.is_some() || self.ack_wait.is_some();
        let (Some(side), false) = (side, busy) else {
            let _ = reply.send(None);
            return Next::Continue;
        };
        let Some(target) = self.legs[side.other() as usize].take() else {
            let _ = reply.send(None);
            return Next::Continue;
        };
        let _ = reply.send(Some(target));
        // The transferor's leg of this call is released too.
        self.bye(side).await;
        Next::End {
            cause: "transferred",
            status: 200,
            by: side.name(),
        }
    }
}
