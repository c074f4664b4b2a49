//! Calls that end on Dialtone itself: an application (the paging server, later music on hold
//! and the attendant's queues) answers a route point's call with media of its own. Call
//! control does the SIP and the offer/answer (RFC 3264): it answers with the application's
//! RTP address and the codec chosen among the caller's offer (488 when nothing fits), offers
//! its own when the caller sent none (the answer then comes in the ACK), and answers every
//! later re-INVITE or UPDATE itself (hold, a new address). The application follows the
//! negotiated audio on a `watch` channel, which closes when the call ends: however the call
//! ends (hang-up, timers, the application gone), the application cannot miss it.

use super::control::*;
use super::*;
use dialtone_sip::sdp::negotiate::{self, Refusal};
pub use dialtone_sip::sdp::negotiate::{Audio, Codec};
use tokio::sync::{oneshot, watch};

/// What the application answers with.
#[derive(Debug, Clone)]
pub struct ServedMedia {
    /// Where the application receives RTP (put in Dialtone's SDP).
    pub local: std::net::SocketAddr,
    /// The codecs it takes, in order of preference.
    pub accept: Vec<Codec>,
}

/// A call answered by an application: the caller's audio as negotiated, `None` until an
/// answer that came in the ACK; the channel closes when the call ends. Dropping it hangs the
/// call up: no served call outlives the application holding it.
pub struct ServedCall {
    pub call: u64,
    pub audio: watch::Receiver<Option<Audio>>,
    hang_up: mpsc::Sender<Input>,
}

impl ServedCall {
    pub(super) fn new(
        call: u64,
        audio: watch::Receiver<Option<Audio>>,
        hang_up: mpsc::Sender<Input>,
    ) -> ServedCall {
        ServedCall {
            call,
            audio,
            hang_up,
        }
    }
}

impl Drop for ServedCall {
    fn drop(&mut self) {
        if self.audio.has_changed().is_err() {
            return; // the call has ended already
        }
        let (reply, _) = oneshot::channel();
        let _ = self.hang_up.try_send(Input::Control(Control::Command {
            party: None,
            command: Command::Drop,
            reply,
        }));
    }
}

/// The served side of a call (the called side, where no leg is).
pub(super) struct Served {
    media: ServedMedia,
    audio: watch::Sender<Option<Audio>>,
    /// Our SDP's version, raised with every new description.
    version: u64,
    /// What our descriptions say of us: sendrecv, or sendonly for a page.
    direction: Direction,
    /// We offered (in a 200 or a re-INVITE's 200): the answer comes in the ACK.
    awaiting_answer: bool,
    /// The route point the call came to (left when the call ends); None for a call Dialtone
    /// placed or answered itself.
    pub route_point: Option<String>,
}

impl Served {
    pub(super) fn new(
        media: ServedMedia,
        audio: watch::Sender<Option<Audio>>,
        direction: Direction,
        route_point: Option<String>,
    ) -> Served {
        Served {
            media,
            audio,
            version: 1,
            awaiting_answer: false,
            direction,
            route_point,
        }
    }

    /// The far end's answer to our offer: the audio it gives, told to the application.
    pub(super) fn take_answer(&self, sdp: &[u8]) -> Result<(), Refusal> {
        let audio = negotiate::choose(sdp, &self.media.accept)?;
        let _ = self.audio.send(Some(audio));
        Ok(())
    }
}

impl Calls {
    /// Answer route request `request` of `call` with the application's own media.
    pub async fn serve(
        &self,
        call: u64,
        request: u64,
        media: ServedMedia,
    ) -> Result<ServedCall, CtiError> {
        let to = self.call_task(call)?;
        self.ask(to, call, |reply| Control::Serve {
            request,
            media,
            reply,
        })
        .await
    }
}

impl Call {
    pub(super) async fn on_serve(
        &mut self,
        request: u64,
        media: ServedMedia,
        reply: oneshot::Sender<Result<ServedCall, CtiError>>,
    ) -> Next {
        if self.at_route_point.as_ref().map(|r| r.request) != Some(request) {
            let _ = reply.send(Err(CtiError::State(format!(
                "route request {request} is no longer pending"
            ))));
            return Next::Continue;
        }
        if self.a_invite.is_none() {
            let _ = reply.send(Err(CtiError::State(
                "the call has no caller to answer".into(),
            )));
            return Next::Continue;
        }
        let route_point = self
            .at_route_point
            .as_ref()
            .map(|rp| rp.number.number.clone());
        match self.answer_served(media, route_point).await {
            Ok((_, audio)) => {
                self.at_route_point = None;
                let _ = reply.send(Ok(ServedCall::new(self.id, audio, self.events_tx.clone())));
                Next::Continue
            }
            Err((next, why)) => {
                let _ = reply.send(Err(CtiError::State(why)));
                next
            }
        }
    }

    /// Answer the caller's INVITE with `media` as Dialtone's own (RFC 3264): the audio the
    /// caller's offer and our choice agree on (None when we offered and the answer comes in
    /// the ACK), and its channel. Err: the call ended (488 when nothing fits), and why.
    pub(super) async fn answer_served(
        &mut self,
        media: ServedMedia,
        route_point: Option<String>,
    ) -> Result<(Option<Audio>, watch::Receiver<Option<Audio>>), (Next, String)> {
        let offer = self
            .a_invite
            .as_ref()
            .map(|a| a.request.body())
            .unwrap_or_default();
        let (body, audio, awaiting_answer) = if offer.is_empty() {
            let ours = negotiate::offer(&media.accept, media.local, 1, Direction::SendRecv);
            (ours, None, true)
        } else {
            match negotiate::choose(&offer, &media.accept) {
                Ok(audio) => match negotiate::answer(&offer, &audio, media.local, 1) {
                    Some(answer) => (answer, Some(audio), false),
                    None => return Err(self.refuse_offer(Refusal::NoAudio).await),
                },
                Err(refusal) => return Err(self.refuse_offer(refusal).await),
            }
        };
        let (tx, rx) = watch::channel(audio.clone());
        let mut served = Served::new(media, tx, Direction::SendRecv, route_point);
        served.awaiting_answer = awaiting_answer;
        self.served = Some(served);
        if !self.connect_caller(Some(("application/sdp", body))).await {
            let next = self.hang_up_all("failed").await;
            return Err((next, "the caller's dialog is unusable".into()));
        }
        Ok((audio, rx))
    }

    /// The caller offered nothing we speak: 488 (RFC 3264 6; Warning 304, RFC 3261 20.43).
    async fn refuse_offer(&mut self, refusal: Refusal) -> (Next, String) {
        let why = refusal.to_string();
        tracing::info!(call = self.id, %why, "served call refused");
        self.leave_route_point();
        if let Some(a) = &self.a_invite {
            let b = self
                .a_response(a, 488)
                .header(
                    "Warning",
                    &format!("304 dialtone \"{}\"", why.replace('"', "'")),
                )
                .finish();
            a.respond(b).await;
        }
        (
            Next::End {
                cause: "incompatible media",
                status: 488,
                by: "system",
            },
            why,
        )
    }

    /// The ACK of our offer carries the caller's answer.
    pub(super) fn served_ack(&mut self, ack: &Message) {
        let Some(s) = self.served.as_mut().filter(|s| s.awaiting_answer) else {
            return;
        };
        s.awaiting_answer = false;
        let body = ack.body();
        match negotiate::choose(&body, &s.media.accept) {
            Ok(audio) => {
                let _ = s.audio.send(Some(audio.clone()));
                self.prompt_heard_at(&audio);
            }
            Err(e) => tracing::info!(call = self.id, error = %e, "the ACK's answer is unusable"),
        }
    }

    /// An in-dialog request from the caller of a served call: nothing to relay, Dialtone is
    /// the other side.
    pub(super) async fn on_served_request(&mut self, tx: ServerTransaction, kind: Method) -> Next {
        match kind {
            Method::Bye => {
                tx.reply(200, None).await;
                self.legs[Side::A as usize] = None;
                Next::End {
                    cause: "normal",
                    status: 200,
                    by: Side::A.name(),
                }
            }
            Method::Invite | Method::Update => {
                self.refresh(Side::A);
                self.note_hold(Side::A, &tx.request);
                let Some(s) = self.served.as_mut() else {
                    return Next::Continue;
                };
                let offer = tx.request.body();
                s.version += 1;
                let body = if offer.is_empty() {
                    // A re-INVITE without an offer: ours, answered in the ACK.
                    s.awaiting_answer = true;
                    negotiate::offer(&s.media.accept, s.media.local, s.version, s.direction)
                } else {
                    let chosen = negotiate::choose(&offer, &s.media.accept)
                        .ok()
                        .and_then(|a| {
                            negotiate::answer(&offer, &a, s.media.local, s.version).map(|b| (a, b))
                        });
                    let Some((audio, answer)) = chosen else {
                        // The dialog goes on with the media it had (RFC 3264 8).
                        let b = self
                            .in_dialog_response(&tx, Side::A, 488)
                            .header("Warning", "304 dialtone \"no codec in common\"")
                            .finish();
                        tx.respond(b).await;
                        return Next::Continue;
                    };
                    let _ = s.audio.send(Some(audio));
                    answer
                };
                let b = self
                    .in_dialog_response(&tx, Side::A, 200)
                    .body("application/sdp", body)
                    .finish();
                tx.respond(b).await;
                Next::Continue
            }
            Method::Ack => Next::Continue,
            Method::Info | Method::Options | Method::Notify => {
                tx.reply(200, None).await;
                Next::Continue
            }
            _ => {
                tx.reply(501, None).await;
                Next::Continue
            }
        }
    }
}
