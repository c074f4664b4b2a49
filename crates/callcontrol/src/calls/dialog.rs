//! In-dialog traffic of a connected call: requests from either leg relayed to the other
//! (re-INVITE, UPDATE, INFO, NOTIFY...), their answers relayed back, the offer/answer carried
//! across ACKs, hold noticed, and CANCEL and BYE acted on.

use super::*;

/// The Session-Expires header (long or compact form).
pub(super) fn session_expires(m: &Message) -> Option<&str> {
    m.value(Name::SessionExpires)
}

impl Call {
    pub(super) fn side_of(&self, m: &Message) -> Option<Side> {
        let cid = m.call_id()?;
        // The whole dialog id (Call-ID and both tags, RFC 3261 12.2.2): a request with the
        // right Call-ID and a wrong tag belongs to no dialog of ours, and gets 481.
        for side in [Side::A, Side::B] {
            if let Some(leg) = &self.legs[side as usize] {
                if leg.dialog.matches(m) {
                    return Some(side);
                }
            }
        }
        (self.legs[Side::A as usize].is_none()
            && Some(cid) == self.a_invite.as_ref().and_then(|a| a.request.call_id()))
        .then_some(Side::A)
    }

    pub(super) async fn on_event(&mut self, ev: Input) -> Next {
        match ev {
            Input::Response { tx, msg } => self.on_response(tx, msg).await,
            Input::Finished { tx } => self.on_finished(tx).await,
            Input::Ack(msg) => {
                let invite_cseq = self.a_invite.as_ref().and_then(|a| a.request.cseq());
                if self.side_of(&msg) == Some(Side::A)
                    && msg.cseq().map(|c| c.0) == invite_cseq.map(|c| c.0)
                {
                    self.a_ack_due = None;
                }
                if self.side_of(&msg) == Some(Side::A) {
                    self.served_ack(&msg);
                }
                if let (Some((side, cseq)), Some(from)) = (self.ack_wait, self.side_of(&msg)) {
                    if from == side.other() {
                        self.ack_wait = None;
                        if let Some(leg) = self.legs[side as usize].as_ref() {
                            let via = self.inner.endpoint.via(leg.peer.transport);
                            let mut b = leg.dialog.ack(cseq, &via);
                            let body = msg.body();
                            if !body.is_empty() {
                                b = b.body(
                                    msg.value(Name::ContentType).unwrap_or("application/sdp"),
                                    body,
                                );
                            }
                            let _ = self.inner.endpoint.send_to(leg.peer, b.finish()).await;
                        }
                    }
                }
                Next::Continue
            }
            Input::Request(tx) => self.on_request(tx).await,
            Input::HandOver { of, reply } => self.hand_over(of, reply).await,
            Input::Control(c) => self.on_control(c).await,
            Input::Digit(d) => self.on_code_digit(d).await,
        }
    }

    pub(super) async fn on_request(&mut self, tx: ServerTransaction) -> Next {
        // The method's spelling is what is relayed; its type is what is decided on.
        let method = tx.request.method().unwrap_or("").to_string();
        let kind = Method::parse(&method);
        if kind == Method::Cancel {
            // Answered 200 already, by `Calls::cancel`.
            let a = self.a_invite.as_ref().filter(|a| {
                tx.cancels
                    .as_ref()
                    .is_some_and(|inv| inv.request.call_id() == a.request.call_id())
            });
            if let (Some(a), false) = (a, self.a_answered) {
                let b = self.a_response(a, 487).finish();
                a.respond(b).await;
                self.cancel_all_forks(None).await;
                return Next::End {
                    cause: "cancelled",
                    status: 487,
                    by: "calling",
                };
            }
            return Next::Continue;
        }
        let Some(side) = self.side_of(&tx.request) else {
            let released = tx
                .request
                .call_id()
                .is_some_and(|c| self.released.iter().any(|r| r == c))
                || self.transfer.as_ref().is_some_and(|t| {
                    t.old_leg.as_ref().map(|l| l.dialog.call_id.as_str()) == tx.request.call_id()
                });
            let code = if released { 200 } else { 481 };
            tx.reply(code, None).await;
            return Next::Continue;
        };
        if self.legs[side as usize].is_none() {
            // Only the caller can speak before the answer, and only CANCEL means anything.
            tx.reply(481, None).await;
            return Next::Continue;
        }
        if self.served.is_some() {
            return self.on_served_request(tx, kind).await;
        }
        let other = side.other();
        match kind {
            Method::Bye => {
                tx.reply(200, None).await;
                self.legs[side as usize] = None;
                self.bye(other).await;
                Next::End {
                    cause: "normal",
                    status: 200,
                    by: side.name(),
                }
            }
            Method::Update if tx.request.body().is_empty() => {
                // A pure session refresh: answered here, nothing to relay.
                self.refresh(side);
                let b = self.in_dialog_response(&tx, side, 200).finish();
                tx.respond(b).await;
                Next::Continue
            }
            Method::Invite | Method::Update => {
                let in_progress = self.pending.values().any(|p| {
                    matches!(p, Purpose::Relay { server, .. }
                        if matches!(server.request.request_method(), Some(Method::Invite | Method::Update)))
                });
                if in_progress || self.ack_wait.is_some() {
                    let b = build::response(&tx.request, 491, Some(tx.peer.addr), None)
                        .header("Retry-After", "1")
                        .finish();
                    tx.respond(b).await;
                    return Next::Continue;
                }
                self.refresh(side);
                self.note_hold(side, &tx.request);
                let music = if method == "INVITE" {
                    self.music_offer(side, &tx.request.body())
                } else {
                    None
                };
                self.relay_as(side, tx, &method, music).await;
                Next::Continue
            }
            Method::Ack => Next::Continue,
            Method::Refer => self.on_refer(side, tx).await,
            Method::Subscribe => {
                tx.reply(501, None).await;
                Next::Continue
            }
            _ => {
                self.relay(side, tx, &method).await;
                Next::Continue
            }
        }
    }

    pub(super) fn refresh(&mut self, side: Side) {
        if let Some(s) = self.legs[side as usize]
            .as_mut()
            .and_then(|l| l.session.as_mut())
        {
            s.restart();
        }
    }

    pub(super) fn note_hold(&mut self, side: Side, m: &Message) {
        let body = m.body();
        if body.is_empty() {
            return;
        }
        match sdp::direction(&body, 0) {
            Some(Direction::SendOnly) | Some(Direction::Inactive) => {
                if self.held_by.is_none() {
                    self.inner.events.emit(Notice::CallHeld {
                        call: self.id,
                        by: side.name(),
                        parties: self.parties(),
                    });
                }
                self.held_by = Some(side);
            }
            Some(_) if self.held_by.take().is_some() => {
                self.music = None;
                self.inner.events.emit(Notice::CallResumed {
                    call: self.id,
                    parties: self.parties(),
                });
            }
            Some(_) => {}
            None => {}
        }
    }

    pub(super) fn in_dialog_response(
        &self,
        tx: &ServerTransaction,
        side: Side,
        code: u16,
    ) -> Builder {
        let mut b = build::response(&tx.request, code, Some(tx.peer.addr), None);
        if let Some(leg) = self.legs[side as usize].as_ref() {
            if matches!(
                tx.request.request_method(),
                Some(Method::Invite | Method::Update)
            ) && code < 300
            {
                b = b.header("Contact", &leg.contact);
                if let Some(s) = leg.session {
                    let who = if s.we_refresh { "uas" } else { "uac" };
                    b = b.header(
                        "Session-Expires",
                        &format!("{};refresher={who}", s.interval.as_secs()),
                    );
                }
            }
        }
        b
    }

    /// Pass an in-dialog request to the other leg; its answer comes back the same way.
    pub(super) async fn relay(&mut self, from: Side, tx: ServerTransaction, method: &str) {
        self.relay_as(from, tx, method, None).await
    }

    /// Relay `tx` to the other side, its offer replaced by a music offer if one is given.
    async fn relay_as(
        &mut self,
        from: Side,
        tx: ServerTransaction,
        method: &str,
        music: Option<(Bytes, Direction)>,
    ) {
        let Some(leg) = self.legs[from.other() as usize].as_mut() else {
            tx.reply(481, None).await;
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let mut b = leg.dialog.request(method, &via);
        let cseq = leg.dialog.local_cseq;
        if matches!(method, "INVITE" | "UPDATE") {
            b = b.header("Contact", &leg.contact);
        }
        for name in [
            "Event",
            "Subscription-State",
            "Info-Package",
            "Content-Disposition",
        ] {
            if let Some(v) = tx.request.values_named(name).next() {
                b = b.header(name, v);
            }
        }
        let (body, music) = match music {
            Some((body, offered)) => (body, Some(offered)),
            None => (tx.request.body(), None),
        };
        let offer = !body.is_empty();
        if offer {
            b = b.body(
                tx.request
                    .value(Name::ContentType)
                    .unwrap_or("application/sdp"),
                body,
            );
        }
        let peer = leg.peer;
        let id = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(
            id,
            Purpose::Relay {
                from,
                server: tx,
                offer,
                cseq,
                music,
            },
        );
        self.send(id, b.finish(), peer).await;
    }

    pub(super) async fn on_finished(&mut self, tx: u64) -> Next {
        self.answered(tx).await;
        match self.pending.remove(&tx) {
            Some(Purpose::Fork(i)) => {
                if self.forks[i].stale || self.forks[i].tx != tx {
                    return Next::Continue;
                }
                // No final answer: the far end is not there.
                self.forks.vanished(i);
                self.check_forks().await
            }
            Some(Purpose::Relay { server, .. }) => {
                // The other side never answered.
                server.reply(408, None).await;
                Next::Continue
            }
            Some(Purpose::Command { reply: Some(reply) }) => {
                let _ = reply.send(Err(CtiError::Device("the phone did not answer".into())));
                Next::Continue
            }
            Some(Purpose::Digit) => {
                self.dtmf.clear();
                Next::Continue
            }
            Some(Purpose::Join { .. }) => self.hang_up_all("failed").await,
            Some(Purpose::Quiet { side: Some(side) }) => {
                // A session refresh got no answer: the leg is gone.
                if self.legs[side as usize].is_some() && self.answered_at.is_some() {
                    tracing::info!(call = self.id, side = side.name(), "session refresh failed");
                    return self.hang_up_all("session_expired").await;
                }
                Next::Continue
            }
            _ => Next::Continue,
        }
    }

    pub(super) async fn on_response(&mut self, tx: u64, msg: Arc<Message>) -> Next {
        let code = msg.status().unwrap_or(0);
        match self.pending.get(&tx) {
            Some(Purpose::Fork(i)) => {
                let i = *i;
                self.on_fork_response(i, msg, code).await
            }
            Some(Purpose::Relay { .. }) => {
                if code < 200 {
                    return Next::Continue;
                }
                let Some(Purpose::Relay {
                    from,
                    server,
                    offer,
                    cseq,
                    music,
                }) = self.pending.remove(&tx)
                else {
                    return Next::Continue;
                };
                let to = from.other();
                let is_invite = server.request.is(Method::Invite);
                if is_invite && (200..300).contains(&code) {
                    if offer {
                        self.ack(to, cseq, None).await;
                    } else {
                        self.ack_wait = Some((to, cseq));
                    }
                }
                let mut b = self.in_dialog_response(&server, from, code);
                let mut body = msg.body();
                if let (Some(offered), true) = (music, (200..300).contains(&code)) {
                    if let Some(pointed) = self.music_answer(from, &body, offered) {
                        body = pointed;
                    }
                }
                if !body.is_empty() {
                    b = b.body(
                        msg.value(Name::ContentType).unwrap_or("application/sdp"),
                        body,
                    );
                }
                server.respond(b.finish()).await;
                if code == 481 || code == 408 {
                    // The other leg no longer exists: end the call.
                    return self.hang_up_all("failed").await;
                }
                Next::Continue
            }
            Some(Purpose::TransferOffer) => {
                if code < 200 {
                    return Next::Continue;
                }
                self.pending.remove(&tx);
                self.on_target_offer(msg, code).await
            }
            Some(Purpose::TransferAnswer { .. }) => {
                if code < 200 {
                    return Next::Continue;
                }
                let Some(Purpose::TransferAnswer { cseq }) = self.pending.remove(&tx) else {
                    return Next::Continue;
                };
                self.on_transferee_answer(msg, code, cseq).await
            }
            Some(Purpose::Command { .. }) | Some(Purpose::Digit) => {
                if code < 200 {
                    return Next::Continue;
                }
                match self.pending.remove(&tx) {
                    Some(Purpose::Command { reply: Some(reply) }) => {
                        let _ = reply.send(if (200..300).contains(&code) {
                            Ok(())
                        } else {
                            Err(CtiError::Device(format!("the phone answered {code}")))
                        });
                    }
                    Some(Purpose::Digit) => {
                        self.dtmf.pop_front();
                        if !(200..300).contains(&code) {
                            tracing::info!(call = self.id, code, "DTMF refused");
                            self.dtmf.clear();
                        }
                        self.next_digit().await;
                    }
                    _ => {}
                }
                Next::Continue
            }
            Some(Purpose::Join { .. }) => {
                if code < 200 {
                    return Next::Continue;
                }
                let Some(Purpose::Join {
                    new,
                    new_cseq,
                    cseq,
                }) = self.pending.remove(&tx)
                else {
                    return Next::Continue;
                };
                self.on_joined(new, new_cseq, cseq, msg, code).await
            }
            Some(Purpose::Quiet { side }) => {
                let side = *side;
                if code >= 200 {
                    self.pending.remove(&tx);
                    self.answered(tx).await;
                    if side.is_some() && (code == 481 || code == 408) {
                        return self.hang_up_all("session_expired").await;
                    }
                }
                Next::Continue
            }
            None => Next::Continue,
        }
    }

    /// ACK the INVITE with `cseq` on `side`, carrying the answer (if any) in `answer`'s body:
    /// the end of an offer that went one way and an answer that came back the other.
    pub(super) async fn ack_with_answer(&self, side: Side, cseq: u32, answer: &Message) {
        let body = answer.body();
        let ct = answer
            .value(Name::ContentType)
            .unwrap_or("application/sdp")
            .to_string();
        let body = (!body.is_empty()).then_some((ct.as_str(), body));
        self.ack(side, cseq, body).await;
    }

    pub(super) async fn ack(&self, side: Side, cseq: u32, body: Option<(&str, Bytes)>) {
        let Some(leg) = self.legs[side as usize].as_ref() else {
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let mut b = leg.dialog.ack(cseq, &via);
        if let Some((ct, body)) = body {
            b = b.body(ct, body);
        }
        let _ = self.inner.endpoint.send_to(leg.peer, b.finish()).await;
    }
}
