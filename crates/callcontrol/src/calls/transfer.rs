//! Transfer: REFER, blind (the target rings, the transferor hears NOTIFYs) and consultative
//! (Replaces names the other call, whose leg is handed over), and the offer/answer exchange
//! that joins the transferee to the target.

use super::*;

/// What a REFER asks for: ring a number, or hand over the leg of the call a `Replaces` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Referred {
    Blind { target: String },
    Consultative { call_id: String },
}

/// A REFER as read: where to, and whether the transferor wants NOTIFYs of how it goes (no,
/// when it sent `Refer-Sub: false`, RFC 4488).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refer {
    pub to: Referred,
    pub notify: bool,
}

/// Read a REFER's Refer-To (or its compact form, `r`); why not, when it names no number.
pub(super) fn read_refer(request: &Message) -> Result<Refer, &'static str> {
    let (target, uri_headers) = request
        .value(Name::ReferTo)
        .and_then(dialtone_sip::NameAddr::parse)
        .and_then(|n| {
            let uri = n.uri().ok()?;
            Some((uri.user?.to_string(), uri.headers.to_string()))
        })
        .ok_or("Refer-To names no number")?;
    let notify = !request
        .value(Name::ReferSub)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
    let to = match replaces_call_id(&uri_headers) {
        Some(call_id) => Referred::Consultative { call_id },
        None => Referred::Blind { target },
    };
    Ok(Refer { to, notify })
}

/// How the target is reached when the called side transfers: the target is offered the
/// transferee (the call's caller, by number and name), routed with the transferor's calling
/// search spaces (its line's, then its device's), as the transferor's own dialling would be.
pub(super) fn called_side_transferring(
    caller: &CallingParty,
    called_line: Option<&LineKey>,
    called_device: Option<&str>,
    snapshot: &Snapshot,
) -> CallingParty {
    let mut c = caller.clone();
    c.css.clear();
    if let Some(l) = called_line.and_then(|k| snapshot.line(k)) {
        c.css.extend(l.config.css.clone());
    }
    if let Some(d) = called_device.and_then(|d| snapshot.device(d)) {
        c.css.extend(d.css.clone());
        c.device = Some(d.name.clone());
    }
    c.line = called_line.cloned();
    c
}

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
        let refer = match read_refer(&tx.request) {
            Ok(r) => r,
            Err(why) => {
                let b = build::response(&tx.request, 400, Some(tx.peer.addr), None)
                    .header("Warning", &format!("399 dialtone \"{why}\""))
                    .finish();
                tx.respond(b).await;
                return Next::Continue;
            }
        };
        let mut b = self.in_dialog_response(&tx, side, 202);
        if !refer.notify {
            b = b.header("Refer-Sub", "false");
        }
        tx.respond(b.finish()).await;
        self.transfer = Some(Transfer {
            transferor: side,
            old_leg: None,
            target_ack: None,
            notify: refer.notify,
        });
        self.notify_transferor(Some(side), 100, false).await;
        match refer.to {
            Referred::Consultative { call_id } => self.attended_transfer(side, &call_id).await,
            Referred::Blind { target } => self.blind_transfer(side, &target).await,
        }
    }

    /// Blind transfer: ring the target, as the transferor would have dialled it.
    pub(super) async fn blind_transfer(&mut self, side: Side, target: &str) -> Next {
        let snapshot = self.inner.directory.get();
        let caller = match side {
            Side::A => self.caller.clone(),
            Side::B => called_side_transferring(
                &self.caller,
                self.called_line.as_ref(),
                self.called_device.as_deref(),
                &snapshot,
            ),
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
            // Nobody is on the line to key a code for a transfer target.
            Routing::CodeNeeded { pattern, .. } => {
                tracing::info!(call = self.id, pattern, "transfer target needs a code");
                self.transfer_failed(403).await
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
        self.music = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refer(headers: &str) -> Message {
        let text = format!(
            "REFER sip:phone@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: <sip:1001@h>;tag=a\r\nTo: <sip:1000@h>;tag=b\r\nCall-ID: c1\r\n\
             CSeq: 2 REFER\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text)).expect("a REFER")
    }

    #[test]
    fn a_refer_names_a_number_to_ring_or_a_call_to_take_over() {
        assert_eq!(
            read_refer(&refer("Refer-To: <sip:1002@h>\r\n")),
            Ok(Refer {
                to: Referred::Blind {
                    target: "1002".into()
                },
                notify: true
            })
        );
        assert_eq!(
            read_refer(&refer("r: sip:1003@h\r\n")).map(|r| r.to),
            Ok(Referred::Blind {
                target: "1003".into()
            }),
            "the compact form"
        );
        let consult =
            "Refer-To: <sip:1002@h?Replaces=consult-1%40x%3Bto-tag%3Dt%3Bfrom-tag%3Df>\r\n";
        assert_eq!(
            read_refer(&refer(consult)).map(|r| r.to),
            Ok(Referred::Consultative {
                call_id: "consult-1@x".into()
            })
        );
        assert_eq!(read_refer(&refer("")), Err("Refer-To names no number"));
        assert_eq!(
            read_refer(&refer("Refer-To: <sip:h>\r\n")),
            Err("Refer-To names no number")
        );
    }

    #[tokio::test]
    async fn the_called_side_transfers_with_its_own_line_and_device_css() {
        use crate::directory::{compile, Snapshot};
        let config = crate::lab::lab_config(|c| {
            let l = c.lines.iter_mut().find(|l| l.pattern == "1001").unwrap();
            l.css = Some("Line1001_CSS".into());
            let d = c
                .devices
                .iter_mut()
                .find(|d| d.name == "SEP000000001001")
                .unwrap();
            d.css = Some("Phone1001_CSS".into());
        });
        let s = Snapshot::new(compile(config).await.unwrap(), Default::default());
        let caller = CallingParty {
            number: "1000".into(),
            name: "Ann".into(),
            css: vec!["Caller_CSS".into()],
            device: Some("SEP000000001000".into()),
            line: Some(LineKey {
                number: "1000".into(),
                partition: None,
            }),
            local_route_group: None,
            external_mask: None,
        };
        let line = LineKey {
            number: "1001".into(),
            partition: None,
        };
        let t = called_side_transferring(&caller, Some(&line), Some("SEP000000001001"), &s);
        assert_eq!(t.css, ["Line1001_CSS", "Phone1001_CSS"]);
        assert_eq!((t.number.as_str(), t.name.as_str()), ("1000", "Ann"));
        assert_eq!(t.device.as_deref(), Some("SEP000000001001"));
        assert_eq!(t.line.as_ref().map(|l| l.number.as_str()), Some("1001"));
    }

    #[test]
    fn a_transferor_that_wants_no_subscription_gets_no_notifies() {
        let quiet = refer("Refer-To: <sip:1002@h>\r\nRefer-Sub: false\r\nRequire: norefersub\r\n");
        assert!(!read_refer(&quiet).unwrap().notify);
        let asked = refer("Refer-To: <sip:1002@h>\r\nRefer-Sub: true\r\n");
        assert!(read_refer(&asked).unwrap().notify);
    }
}
