//! Calls Dialtone places to a phone with media of its own (the paging server's unicast page to
//! a phone that takes no push, later an intercom): the phone is rung with Dialtone's offer,
//! asked to answer by itself where the application wants it (`Call-Info: answer-after=0` and
//! `Alert-Info` auto-answer, what third-party SIP phones honour), and once it answers the
//! application follows the audio on the same channel a served call uses: it closes when the
//! call ends, however it ends. A phone that refuses, or rings past the ringing limit, ends the
//! call too; the application is never left waiting.

use super::control::*;
use super::*;
use dialtone_sip::sdp::negotiate;
use tokio::sync::watch;

/// A call to one device with the application's own media.
#[derive(Debug, Clone)]
pub struct DeviceCall {
    pub device: String,
    pub media: ServedMedia,
    /// Dialtone only sends (a page): its SDP says `a=sendonly`.
    pub send_only: bool,
    /// Ask the phone to answer by itself.
    pub auto_answer: bool,
    /// Who the call is shown from on the phone.
    pub from_number: String,
    pub from_name: String,
}

impl Calls {
    /// Ring `req.device` (each of its registered contacts) with Dialtone's own offer: the
    /// call and the channel its audio follows (None until the phone answers; closed when the
    /// call ends, a refusal or an unanswered ring included).
    pub async fn call_device(&self, req: DeviceCall) -> Result<ServedCall, CtiError> {
        let inner = &self.inner;
        let snapshot = inner.directory.get();
        let device = snapshot
            .device(&req.device)
            .ok_or_else(|| CtiError::NoSuchDevice(req.device.clone()))?
            .clone();
        let line = device.lines.first().map(|a| LineKey {
            number: a.pattern.clone(),
            partition: a.partition.clone(),
        });
        let contacts: Vec<crate::registrar::Binding> = line
            .as_ref()
            .map(|l| inner.registrar.contacts(&snapshot, l))
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.device == req.device)
            .collect();
        if contacts.is_empty() {
            return Err(CtiError::NotRegistered(format!(
                "{} is not registered",
                req.device
            )));
        }
        let caller = CallingParty {
            number: req.from_number.clone(),
            name: req.from_name.clone(),
            css: Vec::new(),
            device: None,
            line: None,
            local_route_group: None,
            external_mask: None,
        };
        let dialled = line.as_ref().map(|l| l.number.clone()).unwrap_or_default();
        let mut call = Call::new(inner.clone(), None, caller, None, dialled);
        let id = call.id;
        let (tx, rx) = watch::channel(None);
        let direction = if req.send_only {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        call.fork_offer = Some(negotiate::offer(
            &req.media.accept,
            req.media.local,
            1,
            direction,
        ));
        call.ringing_served = Some(Served::new(req.media, tx, direction, None));
        if let Some(l) = &line {
            // The phone is on a call while it carries the page: its line is busy to others.
            call.occupy(l);
            call.called_line = Some(l.clone());
        }
        call.called_device = Some(req.device.clone());
        call.publish();
        let host = inner.config.host.clone();
        for b in contacts {
            call.fork_headers.clear();
            if req.auto_answer {
                call.fork_headers.extend(vendor::auto_answer_headers(&host));
            }
            call.next_role = Some(Role::Served);
            let peer = inner.peer_for(&b);
            call.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
        call.fork_headers.clear();
        call.fork_offer = None;
        let hang_up = call.events_tx.clone();
        tokio::spawn(call.run_device_call());
        Ok(ServedCall::new(id, rx, hang_up))
    }
}

impl Call {
    async fn run_device_call(mut self) {
        self.inner.events.emit(Notice::CallOffered {
            call: self.id,
            calling: self.caller.number.clone(),
            called: self.dialled.clone(),
            devices: self.forks.iter().filter_map(|f| f.device.clone()).collect(),
            parties: self.parties(),
        });
        let next = self.check_forks().await;
        self.run_loop(next).await;
    }

    /// The phone answered (or refused) Dialtone's call: its answer gives the audio; the
    /// phone's other contacts are cancelled.
    pub(super) async fn on_device_call_fork(
        &mut self,
        i: usize,
        msg: Arc<Message>,
        code: u16,
    ) -> Next {
        if !(200..300).contains(&code) {
            self.forks.failed_with(i, code);
            return self.check_forks().await;
        }
        let peer = self.forks[i].peer;
        let Some(dialog) = Dialog::uac(&self.forks[i].invite, &msg) else {
            return Next::Continue;
        };
        if self.legs[Side::A as usize].is_some() {
            self.release_late(dialog, peer).await;
            return Next::Continue;
        }
        self.forks[i].done = true;
        let cseq = dialog.local_cseq;
        self.legs[Side::A as usize] = Some(Leg {
            contact: self.inner.contact(peer.transport),
            dialog,
            peer,
            session: None,
        });
        self.ack(Side::A, cseq, None).await;
        let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
        for j in 0..self.forks.len() {
            if j != i {
                self.cancel_fork(j, Some(reason)).await;
            }
            self.forks[j].stale = true;
        }
        let Some(served) = self.ringing_served.take() else {
            return self.hang_up_all("failed").await;
        };
        let answer = served.take_answer(&msg.body());
        self.served = Some(served);
        if let Err(why) = answer {
            tracing::info!(call = self.id, %why, "the phone's answer is unusable");
            return self.hang_up_all("incompatible media").await;
        }
        self.a_answered = true;
        self.answered_at = Some(now_ms());
        tracing::info!(call = self.id, device = ?self.called_device, "the phone answered Dialtone's call");
        self.inner.events.emit(Notice::CallConnected {
            call: self.id,
            parties: self.parties(),
        });
        Next::Continue
    }
}
