//! Setting a call up: routing the dialled number, ringing every contact of the called line
//! (one fork each) or the next trunk, answering a trunk's challenge, forwarding on busy and
//! no answer, and the first answer that wins (the other forks are cancelled).

use super::*;

impl Call {
    // ---- setting up ----------------------------------------------------------------

    pub(super) async fn route(&mut self, dialled: &str) -> Next {
        let snapshot = self.inner.directory.get();
        let routing = self
            .inner
            .router(&snapshot)
            .route(&self.caller, dialled, &mut self.chain);
        match routing {
            Routing::Fail {
                code,
                why,
                decision,
            } => {
                if decision.is_some() {
                    self.decision = decision;
                }
                tracing::info!(call = self.id, code, why, "call not routed");
                self.fail_caller(code, &why).await
            }
            Routing::CodeNeeded {
                code,
                pattern,
                number,
            } => self.ask_code(code, pattern, number).await,
            Routing::Ring {
                line,
                contacts,
                decision,
            } => {
                self.decision = Some(decision);
                self.called_line = Some(line.key.clone());
                self.occupy(&line.key);
                let c = &line.config;
                self.no_answer = c.forward_no_answer.is_set().then(|| {
                    (
                        c.forward_no_answer.destination.clone(),
                        c.forward_no_answer.css.clone(),
                    )
                });
                self.ring_deadline = self
                    .no_answer
                    .as_ref()
                    .map(|_| Instant::now() + Duration::from_secs(c.no_answer_timer.max(1) as u64));
                self.inner.events.emit(Notice::CallOffered {
                    call: self.id,
                    calling: self.caller.number.clone(),
                    called: line.key.number.clone(),
                    devices: contacts.iter().map(|b| b.device.clone()).collect(),
                    parties: self.parties(),
                });

                self.prompt_rings();
                self.ring(contacts).await;
                self.check_forks().await
            }
            Routing::Trunks { trunks, decision } => {
                self.prompt_rings();
                self.decision = Some(decision);
                self.trunks = trunks;
                self.trunks.reverse();
                self.next_trunk().await
            }
            Routing::RoutePoint { line, decision } => self.at_route_point(line, decision).await,
        }
    }

    pub(super) async fn next_trunk(&mut self) -> Next {
        while let Some(t) = self.trunks.pop() {
            let transport = match t.transport.to_ascii_uppercase().as_str() {
                "TCP" => Transport::Tcp,
                "TLS" => Transport::Tls,
                _ => Transport::Udp,
            };
            let addr = match format!("{}:{}", t.host, t.port).parse() {
                Ok(a) => Some(a),
                Err(_) => tokio::net::lookup_host((t.host.as_str(), t.port))
                    .await
                    .ok()
                    .and_then(|mut it| it.next()),
            };
            let Some(addr) = addr else {
                tracing::warn!(trunk = %t.name, "trunk host does not resolve");
                continue;
            };
            let called = self
                .decision
                .as_ref()
                .map(|d| d.called.clone())
                .unwrap_or_default();
            let scheme = if transport == Transport::Tls {
                "sips"
            } else {
                "sip"
            };
            let tparam = match transport {
                Transport::Tcp => ";transport=tcp",
                _ => "",
            };
            let uri = format!("{scheme}:{called}@{}:{}{tparam}", t.host, t.port);
            self.ring_deadline = Some(Instant::now() + self.inner.config.trunk_failover);
            self.fork(&uri, Peer { transport, addr }, None, Some(t.name.clone()))
                .await;
            return Next::Continue;
        }
        let code = self.forks.best_failure().unwrap_or(503);
        self.fail_caller(code, "no trunk took the call").await
    }

    /// Ring every contact of the called line.
    pub(super) async fn ring(&mut self, contacts: Vec<crate::registrar::Binding>) {
        for b in contacts {
            let peer = self.inner.peer_for(&b);
            self.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
    }

    /// Send one INVITE toward the called side.
    pub(super) async fn fork(
        &mut self,
        uri: &str,
        peer: Peer,
        device: Option<String>,
        trunk: Option<String>,
    ) {
        let ep = &self.inner.endpoint;
        let host = &self.inner.config.host;
        let req = self.a_invite.as_ref().map(|a| a.request.clone());
        let decision = self.decision.as_ref();
        let calling = decision
            .map(|d| d.calling.clone())
            .unwrap_or_else(|| self.caller.number.clone());
        let called = decision
            .map(|d| d.called.clone())
            .unwrap_or_else(|| self.dialled.clone());
        // A MakeCall's originating phone is called "from" the destination it will reach.
        let (calling, called) = match &self.originating_to {
            Some(line) => (self.dialled.clone(), line.clone()),
            None => (calling, called),
        };
        let from = if self.caller.name.is_empty() || self.originating_to.is_some() {
            format!("<sip:{calling}@{host}>;tag={}", build::token())
        } else {
            format!(
                "\"{}\" <sip:{calling}@{host}>;tag={}",
                self.caller.name.replace('"', ""),
                build::token()
            )
        };
        let call_id = format!("{}@dialtone", build::token());
        let max_forwards = req
            .as_ref()
            .and_then(|r| r.max_forwards())
            .unwrap_or(70)
            .saturating_sub(1)
            .max(1);
        let mut b = build::request("INVITE", uri)
            .header("Via", &ep.via(peer.transport))
            .header("Max-Forwards", &max_forwards.to_string())
            .header("From", &from)
            .header("To", &format!("<sip:{called}@{host}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", &self.inner.contact(peer.transport))
            .header("Allow", ALLOW)
            .header("Supported", SUPPORTED);
        for d in self.chain.diversions.iter().rev() {
            b = b.header(
                "Diversion",
                &format!(
                    "<sip:{}@{host}>;reason={};privacy=off",
                    d.from,
                    d.reason.as_str()
                ),
            );
        }
        if self.inner.config.session_expires > 0 {
            b = b.header(
                "Session-Expires",
                &format!("{};refresher=uac", self.inner.config.session_expires),
            );
        }
        // A transfer target gets no offer: its answer's offer goes to the transferee. So
        // does the called side of a call Dialtone placed: its offer goes to the originator.
        // And the called side of a call whose caller Dialtone answered itself (a code).
        if let Some(offer) = &self.fork_offer {
            // Dialtone's own offer: a call it places with media of its own.
            b = b.body("application/sdp", offer.clone());
        } else if let (Some(req), None, None) =
            (req.as_ref(), self.transfer.as_ref(), self.prompt.as_ref())
        {
            let body = req.body();
            if !body.is_empty() {
                b = b.body(
                    req.value(Name::ContentType).unwrap_or("application/sdp"),
                    body,
                );
            }
        }
        for (name, value) in &self.fork_headers {
            b = b.header(name, value);
        }
        let bytes = b.finish();
        let Ok(invite) = Message::parse(bytes.clone()) else {
            return;
        };
        let tx = self.next_tx;
        self.next_tx += 1;
        self.inner.bind_route(&call_id, self.events_tx.clone());
        let role = self.next_role.take().unwrap_or(if self.transfer.is_some() {
            Role::TransferTarget
        } else {
            Role::Called
        });
        let i = self
            .forks
            .add(Fork::new(tx, Arc::new(invite), peer, device, trunk, role));
        self.pending.insert(tx, Purpose::Fork(i));
        self.send(tx, bytes, peer).await;
    }

    /// Answer a trunk's digest challenge (401/407) with the trunk's stored HA1, re-sending
    /// the INVITE; false when there is nothing to answer with (the trunk then fails over).
    pub(super) async fn answer_challenge(&mut self, i: usize, msg: &Message, code: u16) -> bool {
        let fork = &self.forks[i];
        if fork.authenticated {
            return false;
        }
        let snapshot = self.inner.directory.get();
        let Some(creds) = fork
            .trunk
            .as_deref()
            .and_then(|t| snapshot.trunk(t))
            .and_then(|t| t.credentials.clone())
        else {
            return false;
        };
        let (challenge_header, answer_header) = if code == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let uri = fork.invite.request_uri_str().unwrap_or("").to_string();
        let answer = msg
            .values_named(challenge_header)
            .filter_map(dialtone_sip::digest::Challenge::parse)
            .filter(|c| c.realm == creds.realm)
            .find_map(|c| {
                let ha1 = match c.algorithm {
                    dialtone_sip::digest::Algorithm::Md5 => creds.ha1_md5.as_deref(),
                    dialtone_sip::digest::Algorithm::Sha256 => creds.ha1_sha256.as_deref(),
                }?;
                Some(c.answer("INVITE", &uri, &creds.username, ha1))
            });
        let Some(answer) = answer else {
            tracing::info!(trunk = ?fork.trunk, "trunk challenge for another realm or algorithm");
            return false;
        };
        // The same INVITE with the next CSeq, a new branch and the credentials.
        let old = fork.invite.clone();
        let peer = fork.peer;
        let cseq = old.cseq().map(|c| c.0).unwrap_or(1) + 1;
        let mut b =
            build::request("INVITE", &uri).header("Via", &self.inner.endpoint.via(peer.transport));
        for (name, value) in old.headers() {
            let skip = [
                "via",
                "cseq",
                "content-length",
                "content-type",
                "authorization",
                "proxy-authorization",
                "v",
                "l",
                "c",
            ]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
            if !skip {
                b = b.header(name, value);
            }
        }
        b = b
            .header("CSeq", &format!("{cseq} INVITE"))
            .header(answer_header, &answer);
        let body = old.body();
        if !body.is_empty() {
            b = b.body(
                old.value(Name::ContentType).unwrap_or("application/sdp"),
                body,
            );
        }
        let bytes = b.finish();
        let Ok(invite) = Message::parse(bytes.clone()) else {
            return false;
        };
        let tx = self.next_tx;
        self.next_tx += 1;
        let f = &mut self.forks[i];
        f.invite = Arc::new(invite);
        f.tx = tx;
        f.authenticated = true;
        f.provisional = false;
        self.ring_deadline = Some(Instant::now() + self.inner.config.trunk_failover);
        self.pending.insert(tx, Purpose::Fork(i));
        self.send(tx, bytes, peer).await;
        true
    }

    /// Start a client transaction whose responses come back to this call as events.
    pub(super) async fn send(&self, tx: u64, bytes: Bytes, peer: Peer) {
        let events = self.events_tx.clone();
        match self.inner.endpoint.send_request(bytes, peer).await {
            Ok(mut ct) => {
                tokio::spawn(async move {
                    while let Some(msg) = ct.responses.recv().await {
                        if events.send(Input::Response { tx, msg }).await.is_err() {
                            return;
                        }
                    }
                    let _ = events.send(Input::Finished { tx }).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not send a request");
                let _ = self.events_tx.try_send(Input::Finished { tx });
            }
        }
    }

    pub(super) fn a_response(&self, a: &ServerTransaction, code: u16) -> Builder {
        let mut b = build::response(&a.request, code, Some(a.peer.addr), Some(&self.a_tag));
        if code > 100 && code < 300 {
            b = b.header("Contact", &self.a_contact);
        }
        b
    }

    pub(super) async fn fail_caller(&mut self, code: u16, why: &str) -> Next {
        if self.legs[Side::B as usize].is_none() && self.prompt_fails(code, why) {
            return Next::Continue;
        }
        match &self.a_invite {
            Some(a) if !self.a_answered => {
                let b = self
                    .a_response(a, code)
                    .header(
                        "Warning",
                        &format!("399 dialtone \"{}\"", why.replace('"', "'")),
                    )
                    .finish();
                a.respond(b).await;
            }
            Some(_) => {}
            None => {
                // Dialtone placed the call: whoever already answered is hung up.
                self.cancel_all_forks(None).await;
                for side in [Side::A, Side::B] {
                    self.bye(side).await;
                }
            }
        }
        let cause = match code {
            486 | 600 => "busy",
            480 => "unavailable",
            404 | 484 => "unallocated_number",
            403 => "rejected",
            482 => "loop",
            487 => "cancelled",
            408 => "no_answer",
            _ => "failed",
        };
        Next::End {
            cause,
            status: code,
            by: "system",
        }
    }

    pub(super) async fn cancel_fork(&mut self, i: usize, reason: Option<&'static str>) {
        if let Some(cancel) = self.forks.cancel(i, reason) {
            self.send_cancel(cancel).await;
        }
    }

    pub(super) async fn cancel_all_forks(&mut self, reason: Option<&'static str>) {
        for cancel in self.forks.cancel_all(reason) {
            self.send_cancel(cancel).await;
        }
    }

    /// A CANCEL the forks decided on, as a client transaction of its own.
    pub(super) async fn send_cancel(&mut self, cancel: CancelNow) {
        let bytes = dialtone_sip::endpoint::cancel_for(&cancel.invite, cancel.reason);
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, bytes, cancel.peer).await;
    }

    /// When every fork has failed: forward on busy, try the next trunk, or tell the caller.
    pub(super) async fn check_forks(&mut self) -> Next {
        match self
            .forks
            .standing(self.a_answered, !self.trunks.is_empty())
        {
            Forking::Waiting => Next::Continue,
            Forking::NextTrunk => self.next_trunk().await,
            Forking::Busy => match self.forward_of(Reason::UserBusy) {
                Some(fwd) => self.divert(fwd, Reason::UserBusy).await,
                None => self.fail_caller(486, "busy").await,
            },
            Forking::Failed(code) => self.fail_caller(code, "not answered").await,
        }
    }

    pub(super) fn forward_of(&self, reason: Reason) -> Option<(String, Option<String>)> {
        let snapshot = self.inner.directory.get();
        let line = snapshot.line(self.called_line.as_ref()?)?;
        let f = match reason {
            Reason::UserBusy => &line.config.forward_busy,
            Reason::NoAnswer => &line.config.forward_no_answer,
            _ => return None,
        };
        f.is_set().then(|| (f.destination.clone(), f.css.clone()))
    }

    /// Leave the ringing line for its forward destination.
    pub(super) async fn divert(&mut self, to: (String, Option<String>), reason: Reason) -> Next {
        self.divert_with(&to.0, to.1.into_iter().collect(), reason)
            .await
    }

    /// Leave the ringing line for `destination`, searched with `css`.
    pub(super) async fn divert_with(
        &mut self,
        destination: &str,
        css: Vec<String>,
        reason: Reason,
    ) -> Next {
        self.cancel_all_forks(None).await;
        if let Some(line) = self.called_line.take() {
            self.inner.events.emit(Notice::CallRedirected {
                call: self.id,
                from: line.number.clone(),
                reason: reason.as_str(),
                parties: self.parties(),
            });
            self.chain.diversions.push(crate::routing::Diversion {
                from: line.number.clone(),
                reason,
            });
        }
        self.forks.leave_all();
        self.ring_deadline = None;
        self.no_answer = None;
        // The forward's own CSS searches for the destination (Unified CM's CFx CSS).
        let saved = std::mem::replace(&mut self.caller.css, css);
        // Boxed: routing may ring, fail and divert again.
        let next = Box::pin(self.route(destination)).await;
        self.caller.css = saved;
        next
    }

    pub(super) async fn on_fork_response(
        &mut self,
        i: usize,
        msg: Arc<Message>,
        code: u16,
    ) -> Next {
        if self.forks[i].stale {
            if code >= 200 {
                self.forks.answered_late(i);
            }
            if (200..300).contains(&code) {
                if let Some(dialog) = Dialog::uac(&self.forks[i].invite, &msg) {
                    let peer = self.forks[i].peer;
                    self.release_late(dialog, peer).await;
                }
            } else if code < 200 {
                if let Some(cancel) = self.forks.provisional(i) {
                    self.send_cancel(cancel).await;
                }
            }
            return Next::Continue;
        }
        if code < 200 {
            // Any provisional answer, a 100 too, lets a CANCEL held for it go.
            if let Some(cancel) = self.forks.provisional(i) {
                self.send_cancel(cancel).await;
                return Next::Continue;
            }
            if code == 100 {
                return Next::Continue;
            }
            if self.forks[i].trunk.is_some() {
                // The trunk is alive: no more failover timer, ring as long as it rings.
                self.ring_deadline = None;
            }
            self.forks[i].early = Some(msg.clone());
            if matches!(self.forks[i].role, Role::Originator { .. }) {
                // The originator's own phone ringing is not the call alerting.
                return self.on_originator_fork(i, msg, code).await;
            }
            if !self.a_answered && (code == 180 || code == 183) {
                if !self.alerted {
                    self.alerted = true;
                    self.inner.events.emit(Notice::CallAlerting {
                        call: self.id,
                        parties: self.parties(),
                    });
                }
                if let Some(a) = &self.a_invite {
                    let mut b = self.a_response(a, code);
                    let body = msg.body();
                    if code == 183 && !body.is_empty() {
                        b = b.body(
                            msg.value(Name::ContentType).unwrap_or("application/sdp"),
                            body,
                        );
                    }
                    a.respond(b.finish()).await;
                }
            }
            return Next::Continue;
        }
        match self.forks[i].role {
            Role::TransferTarget => return self.on_transfer_fork(i, msg, code).await,
            Role::Originator { .. } => return self.on_originator_fork(i, msg, code).await,
            Role::Joining(side) => return self.on_joining_fork(i, side, msg, code).await,
            Role::Served => return self.on_device_call_fork(i, msg, code).await,
            // Dialtone placed the call, or answered the caller itself: the called side's
            // offer joins the two.
            Role::Called
                if (self.a_invite.is_none() || self.prompt.is_some())
                    && (200..300).contains(&code) =>
            {
                return self.on_joining_fork(i, Side::B, msg, code).await
            }
            Role::Called => {}
        }
        if (200..300).contains(&code) {
            let fork = &self.forks[i];
            let peer = fork.peer;
            let Some(dialog) = Dialog::uac(&fork.invite, &msg) else {
                return Next::Continue;
            };
            if self.a_answered {
                // Another device answered too late: acknowledge and release it.
                self.release_late(dialog, peer).await;
                return Next::Continue;
            }
            self.forks[i].done = true;
            self.called_device = self.forks[i].device.clone();
            self.called_trunk = self.forks[i].trunk.clone();
            let b_session = session_expires(&msg).and_then(|v| {
                let secs = v.split(';').next()?.trim().parse::<u32>().ok()?;
                let uac = !v.to_ascii_lowercase().contains("refresher=uas");
                Some(SessionTimer::new(secs, uac))
            });
            let b_contact = self.inner.contact(peer.transport);
            let cseq = dialog.local_cseq;
            self.legs[Side::B as usize] = Some(Leg {
                dialog,
                peer,
                contact: b_contact,
                session: b_session,
            });
            // Offer in the caller's INVITE: the called side's 200 holds the answer and is
            // acknowledged now. Without an offer the caller's ACK carries the answer.
            if self.a_sdp_offer {
                self.ack(Side::B, cseq, None).await;
            } else {
                self.ack_wait = Some((Side::B, cseq));
            }
            let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
            for j in 0..self.forks.len() {
                if j != i {
                    self.cancel_fork(j, Some(reason)).await;
                }
            }
            if self.a_invite.is_none() {
                return Next::Continue;
            }
            let body = msg.body();
            let content = msg.value(Name::ContentType).unwrap_or("application/sdp");
            let body = (!body.is_empty()).then_some((content, body));
            if !self.connect_caller(body).await {
                return self.hang_up_all("failed").await;
            }
            tracing::info!(call = self.id, device = ?self.called_device, trunk = ?self.called_trunk, "connected");
            return Next::Continue;
        }
        // A failure from one fork. A trunk that challenges gets its stored credentials once.
        if matches!(code, 401 | 407) && self.answer_challenge(i, &msg, code).await {
            return Next::Continue;
        }
        if !self.forks.failed(i, code) {
            self.trunks.clear();
        }
        if code == 487 && self.legs[Side::B as usize].is_some() {
            return Next::Continue;
        }
        self.check_forks().await
    }

    /// Answer the caller's INVITE with 200 (and `body`, the called side's or Dialtone's own
    /// SDP): the caller's leg is established and the call connected. False when the caller's
    /// INVITE cannot make a dialog.
    pub(super) async fn connect_caller(&mut self, body: Option<(&str, Bytes)>) -> bool {
        let Some(a) = self.a_invite.as_ref() else {
            return false;
        };
        let Some(a_dialog) = Dialog::uas(&a.request, &self.a_tag) else {
            return false;
        };
        let a_peer = a.peer;
        self.legs[Side::A as usize] = Some(Leg {
            dialog: a_dialog,
            peer: a_peer,
            contact: self.a_contact.clone(),
            session: self.a_session,
        });
        let mut b = self.a_response(a, 200).header("Allow", ALLOW);
        if let Some(s) = self.a_session {
            let who = if s.we_refresh { "uas" } else { "uac" };
            b = b
                .header(
                    "Session-Expires",
                    &format!("{};refresher={who}", s.interval.as_secs()),
                )
                .header("Require", "timer");
        }
        if let Some((content_type, body)) = body {
            b = b.body(content_type, body);
        }
        a.respond(b.finish()).await;
        self.a_answered = true;
        self.a_ack_due = Some(Instant::now() + self.inner.config.transaction_timeout);
        self.answered_at = Some(now_ms());
        self.ring_deadline = None;
        self.inner.events.emit(Notice::CallConnected {
            call: self.id,
            parties: self.parties(),
        });
        true
    }

    pub(super) async fn release_late(&mut self, mut dialog: Dialog, peer: Peer) {
        let via = self.inner.endpoint.via(peer.transport);
        let ack = dialog.ack(dialog.local_cseq, &via).finish();
        let _ = self.inner.endpoint.send_to(peer, ack).await;
        let via = self.inner.endpoint.via(peer.transport);
        let bye = dialog.request("BYE", &via).finish();
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, bye, peer).await;
    }
}
