//! Admission: a new INVITE is authenticated (digest, or a trunk by its address), the caller
//! identified, refused with the status a phone understands, or given a call task of its own.

use super::*;

/// The user part of a URI, unescaped enough for dialling (`tel:` numbers too).
pub(super) fn dialled_of(req: &Message) -> Option<String> {
    let uri = req.request_uri()?.ok()?;
    let user = uri.user?;
    Some(user.replace("%23", "#"))
}

impl Inner {
    pub(super) fn route_of(&self, call_id: &str) -> Option<mpsc::Sender<Input>> {
        self.routes.with(call_id, |m| m.get(call_id).cloned())
    }

    pub(super) fn bind_route(&self, call_id: &str, to: mpsc::Sender<Input>) {
        self.routes
            .with(call_id, |m| m.insert(call_id.to_string(), to));
    }

    /// Unbind `call_id` only while it still leads to `owner` (a transfer may have moved it).
    pub(super) fn unbind_route_of(&self, call_id: &str, owner: &mpsc::Sender<Input>) {
        self.routes.with(call_id, |m| {
            if m.get(call_id).is_some_and(|s| s.same_channel(owner)) {
                m.remove(call_id);
            }
        });
    }

    pub(super) fn load(&self, line: &LineKey, delta: i32) {
        let idle = self.line_load.with(line, |map| {
            let n = map.entry(line.clone()).or_insert(0);
            *n = (*n as i64 + delta as i64).max(0) as u32;
            if *n == 0 {
                map.remove(line);
                return true;
            }
            false
        });
        if idle {
            self.events.emit(Notice::LineState {
                line: line.number.clone(),
                state: LineState::Idle,
                call: None,
            });
        }
    }

    /// The dial plan and line features over `snapshot`, with this node's live line load.
    pub(super) fn router<'a>(&'a self, snapshot: &'a Snapshot) -> CallRouter<'a> {
        CallRouter {
            snapshot,
            contacts: &*self.registrar,
            load: self,
            max_hops: self.config.max_forward_hops,
        }
    }

    pub(super) fn contact(&self, transport: Transport) -> String {
        let port = self
            .endpoint
            .local_addr(transport)
            .map(|a| a.port())
            .unwrap_or(5060);
        let t = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
            Transport::Ws => ";transport=ws",
            Transport::Wss => ";transport=wss",
        };
        format!("<sip:dialtone@{}:{port}{t}>", self.config.host)
    }

    fn digest(&self) -> Digest<'_> {
        Digest {
            auth: &self.auth,
            guard: &self.guard,
            kind: Challenger::Proxy,
        }
    }

    pub(super) async fn refuse(&self, tx: &ServerTransaction, code: u16, why: &str) {
        let b = build::response(&tx.request, code, Some(tx.peer.addr), Some(&build::token()))
            .header(
                "Warning",
                &format!("399 dialtone \"{}\"", why.replace('"', "'")),
            )
            .finish();
        tx.respond(b).await;
    }

    /// Who is calling: a trunk recognised by its address, else a device that proves itself
    /// with digest credentials; the line is the From user when the device carries it.
    pub(super) async fn caller(
        &self,
        tx: &ServerTransaction,
    ) -> Option<(CallingParty, Option<String>)> {
        let snapshot = self.directory.get();
        let req = &tx.request;
        let from_user = req
            .from()
            .and_then(|f| f.uri().ok().and_then(|u| u.user.map(str::to_string)))
            .unwrap_or_default();
        let from_name = req
            .from()
            .and_then(|f| f.display.map(|d| d.trim_matches('"').to_string()))
            .unwrap_or_default();
        let sent_by_port = req.top_via().map(|v| v.port.unwrap_or(5060));
        if let Some(trunk) = snapshot.trunk_at(tx.peer.addr, sent_by_port) {
            let caller = CallingParty {
                number: from_user,
                name: from_name,
                css: trunk.css.iter().cloned().collect(),
                device: None,
                line: None,
                local_route_group: None,
                external_mask: None,
            };
            return Some((caller, Some(trunk.name.clone())));
        }
        let digest = self.digest();
        let Some(creds) = req
            .value(Name::ProxyAuthorization)
            .and_then(Credentials::parse)
        else {
            digest.challenge(tx, false).await;
            return None;
        };
        if !digest.admitted(tx, &creds).await {
            return None;
        }
        let device = snapshot.device_by_digest_user(creds.username).cloned();
        let stored = device.as_ref().map(|d| StoredCredentials {
            ha1_md5: d.ha1_md5.clone(),
            ha1_sha256: d.ha1_sha256.clone(),
        });
        if !digest.verify(tx, "INVITE", &creds, stored.as_ref()).await {
            return None;
        }
        let device = device?;
        let Some(appearance) = device
            .lines
            .iter()
            .find(|l| l.pattern == from_user)
            .or_else(|| device.lines.first())
        else {
            self.refuse(tx, 403, "the device has no line").await;
            return None;
        };
        let key = LineKey {
            number: appearance.pattern.clone(),
            partition: appearance.partition.clone(),
        };
        let line = snapshot.line(&key);
        let mut css: Vec<String> = Vec::new();
        css.extend(line.and_then(|l| l.config.css.clone()));
        css.extend(device.css.clone());
        let name = if !appearance.display_name.is_empty() {
            appearance.display_name.clone()
        } else {
            line.map(|l| l.config.alerting_name.clone())
                .unwrap_or_default()
        };
        Some((
            CallingParty {
                number: key.number.clone(),
                name,
                css,
                device: Some(device.name.clone()),
                line: Some(key),
                local_route_group: device.local_route_group.clone(),
                external_mask: (!appearance.external_mask.is_empty())
                    .then(|| appearance.external_mask.clone()),
            },
            None,
        ))
    }

    pub(super) async fn invite(self: Arc<Self>, tx: ServerTransaction) {
        let req = tx.request.clone();
        if req.max_forwards() == Some(0) {
            return self.refuse(&tx, 483, "too many hops").await;
        }
        let Some(call_id) = req.call_id().map(str::to_string) else {
            return tx.reply(400, None).await;
        };
        if self.route_of(&call_id).is_some() {
            // Our own INVITE came back to us (a spiral): stop it.
            return self.refuse(&tx, 482, "loop detected").await;
        }
        let Some(dialled) = dialled_of(&req) else {
            return self.refuse(&tx, 404, "no number in the Request-URI").await;
        };
        // Session timer asked by the caller: refuse intervals below our minimum.
        let session =
            session_expires(&req).and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok());
        if let Some(se) = session {
            if se < self.config.min_session_expires {
                let b = build::response(&req, 422, Some(tx.peer.addr), Some(&build::token()))
                    .header("Min-SE", &self.config.min_session_expires.to_string())
                    .finish();
                return tx.respond(b).await;
            }
        }
        let Some((caller, trunk)) = self.caller(&tx).await else {
            return;
        };
        // A line carries at most its Maximum Number of Calls, whichever way they go.
        if let Some(line) = &caller.line {
            let max = self
                .directory
                .get()
                .line(line)
                .map(|l| l.config.max_calls)
                .unwrap_or(u32::MAX);
            if self.calls_on(line) >= max {
                return self
                    .refuse(&tx, 486, "the line has its maximum number of calls")
                    .await;
            }
        }
        let a_session = session.map(|se| {
            let refresher_uas = session_expires(&req)
                .is_some_and(|v| v.to_ascii_lowercase().contains("refresher=uas"));
            SessionTimer::new(se, refresher_uas)
        });
        let peer = tx.peer;
        let mut call = Call::new(self.clone(), Some(tx), caller, trunk, dialled.clone());
        call.a_contact = self.contact(peer.transport);
        call.a_session = a_session;
        call.a_sdp_offer = !req.body().is_empty();
        self.bind_route(&call_id, call.events_tx.clone());
        tokio::spawn(call.run(dialled));
    }
}
