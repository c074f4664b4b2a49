//! Calls Dialtone places for an application (MakeCall): the originating line's phone is
//! called first and asked to answer by itself, holding an inactive answer; then the
//! destination is dialled as if the user had, and its offer joins the two (RFC 3725).

use super::control::*;
use super::*;
use crate::routing::Contacts;
use serde::Deserialize;

/// A MakeCall: from `line` (on `device`, or every phone carrying it) to `destination`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeCall {
    pub line: String,
    #[serde(default)]
    pub device: Option<String>,
    pub destination: String,
}

/// A MakeCall that may be placed: the line, the phones to call first, and who the call is
/// from when the destination is dialled.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub line: LineKey,
    pub contacts: Vec<crate::registrar::Binding>,
    pub caller: CallingParty,
}

/// Whether `req` can be placed and as whom, decided over the snapshot, the registered phones and
/// the lines' load alone (so it is unit-tested without sockets). The caller is the line on the
/// phone that will answer: the line's calling search space, then the device's, find the
/// destination, as if the user had dialled it there.
pub(crate) fn admit(
    snapshot: &Snapshot,
    req: &MakeCall,
    registered: &dyn Contacts,
    load: &dyn Load,
) -> Result<Admitted, CtiError> {
    let line = snapshot
        .line_by_number(&req.line)
        .ok_or_else(|| CtiError::NoSuchLine(req.line.clone()))?;
    if req.destination.is_empty() || !dialtone_dialplan::is_dialled(&req.destination) {
        return Err(CtiError::Unroutable {
            code: 484,
            why: format!("'{}' is not a number to dial", req.destination),
        });
    }
    if let Some(d) = &req.device {
        if snapshot.device(d).is_none() {
            return Err(CtiError::NoSuchDevice(d.clone()));
        }
        if !line.devices.contains(d) {
            return Err(CtiError::NotAParty(format!(
                "device {d} (line {})",
                req.line
            )));
        }
    }
    let contacts: Vec<crate::registrar::Binding> = registered
        .contacts(snapshot, &line.key)
        .into_iter()
        .filter(|b| req.device.as_ref().is_none_or(|d| &b.device == d))
        .collect();
    if contacts.is_empty() {
        return Err(CtiError::NotRegistered(format!(
            "line {} has no registered phone",
            req.line
        )));
    }
    if load.calls_on(&line.key) >= line.config.max_calls {
        return Err(CtiError::State(format!(
            "line {} has its maximum number of calls",
            req.line
        )));
    }
    let device = snapshot.device(&contacts[0].device).cloned();
    let mut css: Vec<String> = line.config.css.iter().cloned().collect();
    css.extend(device.as_ref().and_then(|d| d.css.clone()));
    let appearance = device
        .as_ref()
        .and_then(|d| d.lines.iter().find(|a| a.pattern == line.key.number));
    let caller = CallingParty {
        number: line.key.number.clone(),
        name: appearance
            .map(|a| a.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| line.config.alerting_name.clone()),
        css,
        device: req
            .device
            .clone()
            .or(device.as_ref().map(|d| d.name.clone())),
        line: Some(line.key.clone()),
        local_route_group: device.as_ref().and_then(|d| d.local_route_group.clone()),
        external_mask: appearance
            .map(|a| a.external_mask.clone())
            .filter(|m| !m.is_empty()),
    };
    Ok(Admitted {
        line: line.key.clone(),
        contacts,
        caller,
    })
}

impl Calls {
    /// Call `destination` from `line`: its phone (or every phone carrying it) is called first
    /// and answers by itself where it can; once it has, the destination is dialled with the
    /// line's calling search spaces, as if the user had dialled it.
    pub async fn make_call(&self, req: MakeCall) -> Result<u64, CtiError> {
        let inner = &self.inner;
        let snapshot = inner.directory.get();
        let Admitted {
            line,
            contacts,
            caller,
        } = admit(&snapshot, &req, inner.registrar.as_ref(), inner.as_ref())?;
        let mut call = Call::new(inner.clone(), None, caller, None, req.destination.clone());
        let id = call.id;
        call.occupy(&line);
        call.originate(contacts, &snapshot).await;
        tokio::spawn(call.run_placed());
        Ok(id)
    }
}

impl Call {
    /// Ring the originating line's phones for a MakeCall, asking them to answer by themselves.
    pub(super) async fn originate(
        &mut self,
        contacts: Vec<crate::registrar::Binding>,
        snapshot: &Snapshot,
    ) {
        self.publish();
        let host = self.inner.config.host.clone();
        for b in contacts {
            let cisco = snapshot
                .device(&b.device)
                .is_some_and(|d| remote_cc(&d.model));
            self.fork_headers.clear();
            if !cisco {
                self.fork_headers.extend(vendor::auto_answer_headers(&host));
            }
            self.next_role = Some(Role::Originator {
                remote_cc: cisco,
                asked: false,
            });
            let peer = self.inner.peer_for(&b);
            // The originating phone shows the number it is calling.
            self.originating_to = Some(b.aor.clone());
            self.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
        self.fork_headers.clear();
        self.originating_to = None;
    }

    /// The life of a call Dialtone placed: the originator first, then the usual loop.
    pub(super) async fn run_placed(mut self) {
        self.inner.events.emit(Notice::CallOffered {
            call: self.id,
            calling: self.dialled.clone(),
            called: self.caller.number.clone(),
            devices: self.forks.iter().filter_map(|f| f.device.clone()).collect(),
            parties: self.parties(),
        });
        let next = self.check_forks().await;
        self.run_loop(next).await;
    }

    /// A phone of the originating line answered (or failed) a MakeCall.
    pub(super) async fn on_originator_fork(
        &mut self,
        i: usize,
        msg: Arc<Message>,
        code: u16,
    ) -> Next {
        if code < 200 {
            if let Role::Originator {
                remote_cc: true,
                asked: false,
            } = self.forks[i].role
            {
                if code == 180 || code == 183 {
                    self.forks[i].role = Role::Originator {
                        remote_cc: true,
                        asked: true,
                    };
                    let _ = self.ask_remote_answer(i, None).await;
                }
            }
            return Next::Continue;
        }
        if !(200..300).contains(&code) {
            self.forks.failed_with(i, code);
            return self.check_forks().await;
        }
        let fork = &self.forks[i];
        let peer = fork.peer;
        let Some(dialog) = Dialog::uac(&fork.invite, &msg) else {
            return Next::Continue;
        };
        if self.legs[Side::A as usize].is_some() {
            self.release_late(dialog, peer).await;
            return Next::Continue;
        }
        self.forks[i].done = true;
        self.caller.device = self.forks[i].device.clone();
        let cseq = dialog.local_cseq;
        let ip = self
            .inner
            .endpoint
            .local_addr(peer.transport)
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .or_else(|| self.inner.config.host.parse().ok())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let answer = sdp::inactive_answer(&msg.body(), ip);
        self.inner
            .bind_route(&dialog.call_id, self.events_tx.clone());
        self.legs[Side::A as usize] = Some(Leg {
            contact: self.inner.contact(peer.transport),
            dialog,
            peer,
            session: None,
        });
        self.ack(
            Side::A,
            cseq,
            answer.clone().map(|b| ("application/sdp", b)),
        )
        .await;
        let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
        for j in 0..self.forks.len() {
            if j != i {
                self.cancel_fork(j, Some(reason)).await;
            }
            self.forks[j].stale = true;
        }
        if answer.is_none() {
            tracing::info!(call = self.id, "originator answered without a usable offer");
            return self
                .fail_caller(488, "the originating phone made no offer")
                .await;
        }
        tracing::info!(call = self.id, device = ?self.caller.device, "originator answered");
        self.given_up_at = Instant::now() + self.inner.config.max_ringing;
        let dialled = self.dialled.clone();
        self.route(&dialled).await
    }

    /// A new leg on `side` answered with its offer: send it to the party on the other side
    /// (re-INVITE); the new leg's ACK waits for that party's answer.
    pub(super) async fn on_joining_fork(
        &mut self,
        i: usize,
        side: Side,
        msg: Arc<Message>,
        code: u16,
    ) -> Next {
        if !(200..300).contains(&code) {
            if code >= 200 {
                self.forks.failed_with(i, code);
                if self.parked.is_some() {
                    // An unpark that found nobody: the call stays parked.
                    return Next::Continue;
                }
                return self.check_forks().await;
            }
            return Next::Continue;
        }
        let fork = &self.forks[i];
        let peer = fork.peer;
        let Some(dialog) = Dialog::uac(&fork.invite, &msg) else {
            return Next::Continue;
        };
        if self.legs[side as usize].is_some() {
            self.release_late(dialog, peer).await;
            return Next::Continue;
        }
        self.forks[i].done = true;
        let device = self.forks[i].device.clone();
        if side == Side::B {
            self.called_device = device;
            self.called_trunk = self.forks[i].trunk.clone();
        } else {
            self.caller.device = device;
        }
        let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
        for j in 0..self.forks.len() {
            if j != i {
                self.cancel_fork(j, Some(reason)).await;
            }
        }
        let new_cseq = dialog.local_cseq;
        self.inner
            .bind_route(&dialog.call_id, self.events_tx.clone());
        self.legs[side as usize] = Some(Leg {
            contact: self.inner.contact(peer.transport),
            dialog,
            peer,
            session: None,
        });
        let Some(leg) = self.legs[side.other() as usize].as_mut() else {
            return self.hang_up_all("failed").await;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let mut b = leg
            .dialog
            .request("INVITE", &via)
            .header("Contact", &leg.contact)
            .header("Allow", ALLOW);
        let body = msg.body();
        if !body.is_empty() {
            b = b.body(
                msg.value(Name::ContentType).unwrap_or("application/sdp"),
                body,
            );
        }
        let cseq = leg.dialog.local_cseq;
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(
            tx,
            Purpose::Join {
                new: side,
                new_cseq,
                cseq,
            },
        );
        self.send(tx, b.finish(), peer).await;
        Next::Continue
    }

    /// The other party answered the joining offer: both legs are acknowledged; connected.
    pub(super) async fn on_joined(
        &mut self,
        new: Side,
        new_cseq: u32,
        cseq: u32,
        msg: Arc<Message>,
        code: u16,
    ) -> Next {
        if !(200..300).contains(&code) {
            tracing::info!(
                call = self.id,
                code,
                "the waiting party refused the new leg"
            );
            return self.hang_up_all("failed").await;
        }
        self.ack(new.other(), cseq, None).await;
        self.ack_with_answer(new, new_cseq, &msg).await;
        let unparked = self.parked.take();
        if let Some(slot) = &unparked {
            self.inner.parks.with(slot, |m| m.remove(slot));
        }
        self.held_by = None;
        self.music = None;
        self.prompt = None;
        if self.answered_at.is_none() {
            self.answered_at = Some(now_ms());
        }
        self.a_answered = true;
        self.ring_deadline = None;
        tracing::info!(call = self.id, unparked = ?unparked, "connected");
        self.inner.events.emit(Notice::CallConnected {
            call: self.id,
            parties: self.parties(),
        });
        Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{compile, Snapshot};
    use crate::lab::*;
    use std::collections::HashMap;

    fn make_call(line: &str, device: Option<&str>, destination: &str) -> MakeCall {
        MakeCall {
            line: line.into(),
            device: device.map(String::from),
            destination: destination.into(),
        }
    }

    /// The lab with 1000's line and phone given calling search spaces, a name and a mask.
    async fn dressed() -> Snapshot {
        let config = lab_config(|c| {
            let l = c.lines.iter_mut().find(|l| l.pattern == "1000").unwrap();
            l.css = Some("Line_CSS".into());
            l.alerting_name = "Reception".into();
            let d = c
                .devices
                .iter_mut()
                .find(|d| d.name == "SEP000000001000")
                .unwrap();
            d.css = Some("Device_CSS".into());
            d.local_route_group = Some("Branch_RG".into());
            d.lines[0].display_name = "Ann Front Desk".into();
            d.lines[0].external_mask = "40855510XX".into();
        });
        Snapshot::new(compile(config).await.unwrap(), HashMap::new())
    }

    #[tokio::test]
    async fn the_call_is_placed_as_the_line_on_its_phone_with_the_line_s_then_the_device_s_css() {
        let s = dressed().await;
        let a = admit(
            &s,
            &make_call("1000", None, "9911"),
            &all_registered(&s),
            &Busy::default(),
        )
        .unwrap();
        assert_eq!(a.line.number, "1000");
        let phones: Vec<&str> = a.contacts.iter().map(|b| b.device.as_str()).collect();
        assert_eq!(phones, ["SEP000000001000"]);
        let c = &a.caller;
        assert_eq!(c.number, "1000");
        assert_eq!(c.css, ["Line_CSS", "Device_CSS"], "searched in this order");
        assert_eq!(
            c.name, "Ann Front Desk",
            "the appearance's name beats the line's"
        );
        assert_eq!(c.device.as_deref(), Some("SEP000000001000"));
        assert_eq!(c.local_route_group.as_deref(), Some("Branch_RG"));
        assert_eq!(c.external_mask.as_deref(), Some("40855510XX"));
    }

    #[tokio::test]
    async fn a_shared_line_calls_every_phone_or_only_the_one_named() {
        let s = lab(|_| {}).await;
        let phones = all_registered(&s);
        let every = admit(
            &s,
            &make_call("2000", None, "1000"),
            &phones,
            &Busy::default(),
        )
        .unwrap();
        let mut devices: Vec<&str> = every.contacts.iter().map(|b| b.device.as_str()).collect();
        devices.sort();
        assert_eq!(devices, ["SEP00000000200A", "SEP00000000200B"]);
        let one = admit(
            &s,
            &make_call("2000", Some("SEP00000000200B"), "1000"),
            &phones,
            &Busy::default(),
        )
        .unwrap();
        assert_eq!(one.contacts.len(), 1);
        assert_eq!(one.contacts[0].device, "SEP00000000200B");
        assert_eq!(one.caller.device.as_deref(), Some("SEP00000000200B"));
        // The line's own name when the appearance has none.
        assert_eq!(one.caller.name, "");
    }

    #[tokio::test]
    async fn what_cannot_be_placed_is_refused_with_the_reason_an_application_can_show() {
        let s = lab(|_| {}).await;
        let phones = all_registered(&s);
        let idle = Busy::default();
        let refused = |req: MakeCall, phones: &Phones, load: &Busy| {
            admit(&s, &req, phones, load).unwrap_err().to_string()
        };
        assert_eq!(
            refused(make_call("7777", None, "1001"), &phones, &idle),
            "no line 7777"
        );
        assert!(matches!(
            admit(&s, &make_call("1000", None, "10a1"), &phones, &idle),
            Err(CtiError::Unroutable { code: 484, .. })
        ));
        assert!(matches!(
            admit(&s, &make_call("1000", None, ""), &phones, &idle),
            Err(CtiError::Unroutable { code: 484, .. })
        ));
        assert!(matches!(
            admit(
                &s,
                &make_call("1000", Some("SEPNOSUCH"), "1001"),
                &phones,
                &idle
            ),
            Err(CtiError::NoSuchDevice(_))
        ));
        assert!(matches!(
            admit(
                &s,
                &make_call("1000", Some("SEP000000001001"), "1001"),
                &phones,
                &idle
            ),
            Err(CtiError::NotAParty(_))
        ));
        let nobody = Phones(vec!["SEP000000001001".into()]);
        assert_eq!(
            refused(make_call("1000", None, "1001"), &nobody, &idle),
            "line 1000 has no registered phone"
        );
        // The lab's lines take four calls.
        assert_eq!(
            refused(
                make_call("1000", None, "1001"),
                &phones,
                &Busy::with("1000", 4)
            ),
            "line 1000 has its maximum number of calls"
        );
        assert!(admit(
            &s,
            &make_call("1000", None, "1001"),
            &phones,
            &Busy::with("1000", 3)
        )
        .is_ok());
    }
}
