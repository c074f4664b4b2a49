//! Phone control that differs by vendor, in one place: Cisco enterprise phones take
//! remote-control requests (an out-of-dialog REFER with `Refer-To: cid:` and an XML body)
//! to answer, hold and resume, and a NOTIFY to reset or restart; other phones take
//! BroadSoft's `Event: talk` / `hold` NOTIFYs, or `Call-Info: answer-after=0` on the INVITE.

use super::control::*;
use super::*;
use dialtone_phone_xml::remotecc;
use tokio::sync::oneshot;

/// Cisco enterprise SIP phones take remote-control requests; see
/// [`dialtone_phone_xml::model::is_cisco_enterprise`], which provisioning's `remoteCcEnable`
/// follows too.
pub fn remote_cc(model: &str) -> bool {
    dialtone_phone_xml::model::is_cisco_enterprise(model)
}

/// What asks a phone that is not a Cisco enterprise phone to answer an INVITE by itself:
/// `Call-Info: answer-after=0` and BroadSoft/Polycom's `Alert-Info` auto-answer.
pub(super) fn auto_answer_headers(host: &str) -> [(String, String); 2] {
    [
        ("Call-Info".into(), format!("<sip:{host}>;answer-after=0")),
        (
            "Alert-Info".into(),
            format!("<sip:{host}>;info=alert-autoanswer"),
        ),
    ]
}

/// The body of a Cisco remote-control request about one dialog, seen from the phone: its
/// tag is the local one.
fn remote_cc_body(
    request: remotecc::Request,
    call_id: &str,
    phone_tag: &str,
    our_tag: &str,
) -> Bytes {
    let dialog = remotecc::DialogId {
        call_id,
        local_tag: phone_tag,
        remote_tag: our_tag,
    };
    Bytes::from(remotecc::request(request, dialog))
}

impl Calls {
    /// Reset (`restart` false: a full reboot) or restart (the phone reloads its
    /// configuration and registers again) every registered contact of `device`.
    pub async fn reset(&self, device: &str, restart: bool) -> Result<usize, CtiError> {
        let inner = &self.inner;
        let snapshot = inner.directory.get();
        let config = snapshot
            .device(device)
            .cloned()
            .ok_or_else(|| CtiError::NoSuchDevice(device.to_string()))?;
        let mut bindings = inner.registrar.device_bindings(device);
        bindings.sort_by(|a, b| a.contact.cmp(&b.contact));
        bindings.dedup_by(|a, b| a.contact == b.contact);
        if bindings.is_empty() {
            return Err(CtiError::NotRegistered(format!(
                "device {device} is not registered"
            )));
        }
        let cisco = remote_cc(&config.model);
        let mut sent = 0;
        let mut failure = None;
        for b in &bindings {
            let peer = inner.peer_for(b);
            let host = &inner.config.host;
            let mut builder = build::request("NOTIFY", &b.contact)
                .header("Via", &inner.endpoint.via(peer.transport))
                .header("Max-Forwards", "70")
                .header(
                    "From",
                    &format!("<sip:dialtone@{host}>;tag={}", build::token()),
                )
                .header("To", &format!("<{}>", b.contact))
                .header("Call-ID", &format!("{}@dialtone", build::token()))
                .header("CSeq", "1 NOTIFY")
                .header("Contact", &inner.contact(peer.transport))
                .header("Subscription-State", "active");
            if cisco {
                let stamp = "00000000-0000-0000-0000-000000000000";
                let body = format!(
                    "action={}\r\nRegisterCallId={{{}}}\r\nConfigVersionStamp={{{stamp}}}\r\nDialplanVersionStamp={{{stamp}}}\r\nSoftkeyVersionStamp={{{stamp}}}\r\nFeatureControlVersionStamp={{{stamp}}}\r\n",
                    if restart { "restart" } else { "reset" },
                    b.register_call_id
                );
                builder = builder
                    .header("Event", "service-control")
                    .body("text/plain", Bytes::from(body));
            } else {
                let reboot = if restart { "false" } else { "true" };
                builder = builder.header("Event", &format!("check-sync;reboot={reboot}"));
            }
            match inner.endpoint.send_request(builder.finish(), peer).await {
                Ok(mut ct) => {
                    let mut last = None;
                    while let Some(m) = ct.responses.recv().await {
                        last = m.status();
                    }
                    match last {
                        Some(code) if (200..300).contains(&code) => sent += 1,
                        Some(code) => failure = Some(format!("{} answered {code}", b.device)),
                        None => failure = Some(format!("{} did not answer", b.device)),
                    }
                }
                Err(e) => failure = Some(format!("could not reach {}: {e}", b.device)),
            }
        }
        match (sent, failure) {
            (0, Some(f)) => Err(CtiError::Device(f)),
            (n, _) => Ok(n),
        }
    }
}

impl Call {
    /// Ask a ringing fork's phone to answer: a Cisco remote-control REFER, else a NOTIFY
    /// `Event: talk` in the early dialog (BroadSoft's convention, which Polycom, Yealink and
    /// others follow).
    pub(super) async fn ask_remote_answer(
        &mut self,
        i: usize,
        reply: Option<oneshot::Sender<Result<(), CtiError>>>,
    ) -> Result<(), CtiError> {
        let fork = &self.forks[i];
        let cisco = fork
            .device
            .as_ref()
            .and_then(|d| self.inner.directory.get().device(d).cloned())
            .is_some_and(|d| remote_cc(&d.model))
            || matches!(
                fork.role,
                Role::Originator {
                    remote_cc: true,
                    ..
                }
            );
        let Some(early) = fork.early.clone() else {
            let e = CtiError::State("the phone is not ringing yet".into());
            if let Some(r) = reply {
                let _ = r.send(Err(e.clone()));
            }
            return Err(e);
        };
        let phone_tag = early.to().and_then(|t| t.tag().map(str::to_string));
        let our_tag = fork.invite.from().and_then(|t| t.tag().map(str::to_string));
        let (Some(phone_tag), Some(our_tag)) = (phone_tag, our_tag) else {
            let e = CtiError::Device("the phone's early dialog has no tag".into());
            if let Some(r) = reply {
                let _ = r.send(Err(e.clone()));
            }
            return Err(e);
        };
        let call_id = fork.invite.call_id().unwrap_or_default().to_string();
        let peer = fork.peer;
        let bytes = if cisco {
            let uri = early
                .contacts()
                .flatten()
                .next()
                .map(|c| c.uri_str.to_string())
                .unwrap_or_else(|| fork.invite.request_uri_str().unwrap_or("").to_string());
            let body = remote_cc_body(
                remotecc::Request::AnswerCall,
                &call_id,
                &phone_tag,
                &our_tag,
            );
            self.remote_cc_refer(&uri, peer, body)
        } else {
            let Some(mut dialog) = Dialog::uac(&fork.invite, &early) else {
                let e = CtiError::Device("the phone's early dialog has no contact".into());
                if let Some(r) = reply {
                    let _ = r.send(Err(e.clone()));
                }
                return Err(e);
            };
            let via = self.inner.endpoint.via(peer.transport);
            dialog.local_cseq = fork.invite.cseq().map(|c| c.0).unwrap_or(1);
            dialog
                .request("NOTIFY", &via)
                .header("Contact", &self.inner.contact(peer.transport))
                .header("Event", "talk")
                .header("Subscription-State", "active")
                .finish()
        };
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Command { reply });
        self.send(tx, bytes, peer).await;
        Ok(())
    }

    /// An out-of-dialog REFER carrying a Cisco remote-control request (`Refer-To: cid:`).
    pub(super) fn remote_cc_refer(&self, uri: &str, peer: Peer, body: Bytes) -> Bytes {
        let host = &self.inner.config.host;
        let cid = format!("{}@{host}", build::token());
        build::request("REFER", uri)
            .header("Via", &self.inner.endpoint.via(peer.transport))
            .header("Max-Forwards", "70")
            .header(
                "From",
                &format!("<sip:dialtone@{host}>;tag={}", build::token()),
            )
            .header("To", &format!("<{uri}>"))
            .header("Call-ID", &format!("{}@dialtone", build::token()))
            .header("CSeq", "1 REFER")
            .header("Contact", &self.inner.contact(peer.transport))
            .header("Refer-To", &format!("cid:{cid}"))
            .header("Referred-By", &format!("<sip:dialtone@{host}>"))
            .header("Require", "norefersub")
            .header("Content-Id", &format!("<{cid}>"))
            .body("application/x-cisco-remotecc-request+xml", body)
            .finish()
    }

    /// Ask the party's phone to hold or retrieve: Cisco phones by a remote-control REFER,
    /// others by an in-dialog NOTIFY `Event: hold` / `talk`. The phone then re-INVITEs,
    /// which is relayed as any hold is, and the call's held/resumed event follows.
    pub(super) async fn ask_hold(
        &mut self,
        side: Side,
        hold: bool,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) {
        let cisco = self.device_of(side).is_some_and(|d| remote_cc(&d.model));
        let Some(leg) = self.legs[side as usize].as_mut() else {
            let _ = reply.send(Err(CtiError::State("the party has no leg".into())));
            return;
        };
        let peer = leg.peer;
        let bytes = if cisco {
            let body = remote_cc_body(
                remotecc::Request::HoldRetrieve { hold },
                &leg.dialog.call_id,
                &leg.dialog.remote_tag,
                &leg.dialog.local_tag,
            );
            let uri = leg.dialog.remote_target.clone();
            self.remote_cc_refer(&uri, peer, body)
        } else {
            let via = self.inner.endpoint.via(peer.transport);
            leg.dialog
                .request("NOTIFY", &via)
                .header("Contact", &leg.contact)
                .header("Event", if hold { "hold" } else { "talk" })
                .header("Subscription-State", "active")
                .finish()
        };
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending
            .insert(tx, Purpose::Command { reply: Some(reply) });
        self.send(tx, bytes, peer).await;
    }
}
