//! CTI's "commands in" half: what applications ask of calls and phones. Each command reaches
//! the call's own task as an event, so it is ordered with the call's SIP messages and never
//! takes a lock the message path holds. Commands that need a phone to act (answer, hold,
//! reset) are answered when the phone has answered the request that asks it.

use serde::Deserialize;
use tokio::sync::oneshot;

use super::*;

/// Why a command was refused. Each names what was wrong, for the application's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtiError {
    NoSuchCall(u64),
    NoSuchLine(String),
    NoSuchDevice(String),
    NoSuchSlot(String),
    /// The party named is not in the call.
    NotAParty(String),
    /// Nothing registered to act on (what: a device, or "line N").
    NotRegistered(String),
    /// The call is not in a state the command applies to.
    State(String),
    /// The phone refused or did not answer.
    Device(String),
    /// A slot or route point already taken.
    Taken(String),
    /// The destination cannot be reached (the dial plan's answer).
    Unroutable {
        code: u16,
        why: String,
    },
}

impl std::fmt::Display for CtiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtiError::NoSuchCall(c) => write!(f, "no call {c}"),
            CtiError::NoSuchLine(l) => write!(f, "no line {l}"),
            CtiError::NoSuchDevice(d) => write!(f, "no device {d}"),
            CtiError::NoSuchSlot(s) => write!(f, "nothing parked in slot {s}"),
            CtiError::NotAParty(p) => write!(f, "{p} is not a party to the call"),
            CtiError::NotRegistered(w) => f.write_str(w),
            CtiError::State(w) => f.write_str(w),
            CtiError::Device(w) => f.write_str(w),
            CtiError::Taken(w) => write!(f, "{w} is taken"),
            CtiError::Unroutable { code, why } => write!(f, "{why} (SIP {code})"),
        }
    }
}

impl std::error::Error for CtiError {}

/// A command on one call. `party` (a line number or device name) says whose side acts; the
/// calling side when left out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// End the call (a ringing call is refused, a connected one hung up).
    Drop,
    /// Make a ringing phone answer (the called device, or `device` of a shared line).
    Answer {
        #[serde(default)]
        device: Option<String>,
    },
    /// Make the party's phone hold or retrieve the call.
    Hold,
    Retrieve,
    /// A ringing call goes to `destination` instead; a connected one sends the party's
    /// other side there (the party leaves).
    Redirect {
        destination: String,
    },
    /// Blind (`destination`) or consultative (`consult_call`: the party's other call, whose
    /// other side is joined to this call's).
    Transfer {
        #[serde(default)]
        destination: Option<String>,
        #[serde(default)]
        consult_call: Option<u64>,
    },
    /// The party leaves; its other side waits in the application's slot.
    Park {
        slot: String,
    },
    /// DTMF to the party's other side (SIP INFO, application/dtmf-relay).
    SendDigits {
        digits: String,
    },
}

/// An application's answer to a route request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteAction {
    Redirect { destination: String },
    Accept,
    Reject,
}

/// What reaches a call's task from CTI.
pub(super) enum Control {
    Command {
        party: Option<String>,
        command: Command,
        reply: oneshot::Sender<Result<(), CtiError>>,
    },
    Unpark {
        line: LineKey,
        reply: oneshot::Sender<Result<(), CtiError>>,
    },
    Route {
        request: u64,
        action: RouteAction,
        reply: oneshot::Sender<Result<(), CtiError>>,
    },
    /// The route point's application answers the call with its own media.
    Serve {
        request: u64,
        media: super::served::ServedMedia,
        reply: oneshot::Sender<Result<super::served::ServedCall, CtiError>>,
    },
    /// The route point's application is gone.
    ApplicationLost,
}

impl Calls {
    pub(super) fn call_task(&self, call: u64) -> Result<mpsc::Sender<Input>, CtiError> {
        self.inner
            .by_id
            .with(&call, |m| m.get(&call).cloned())
            .ok_or(CtiError::NoSuchCall(call))
    }

    pub(super) async fn ask<T>(
        &self,
        to: mpsc::Sender<Input>,
        call: u64,
        make: impl FnOnce(oneshot::Sender<Result<T, CtiError>>) -> Control,
    ) -> Result<T, CtiError> {
        let (reply, answer) = oneshot::channel();
        to.send(Input::Control(make(reply)))
            .await
            .map_err(|_| CtiError::NoSuchCall(call))?;
        match tokio::time::timeout(Duration::from_secs(40), answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(CtiError::State(format!("call {call} ended"))),
            Err(_) => Err(CtiError::Device("no answer from the phone".into())),
        }
    }

    /// A command on a call (see `Command`).
    pub async fn command(
        &self,
        call: u64,
        party: Option<String>,
        command: Command,
    ) -> Result<(), CtiError> {
        let to = self.call_task(call)?;
        self.ask(to, call, |reply| Control::Command {
            party,
            command,
            reply,
        })
        .await
    }

    /// The line `number` as the snapshot has it (the first partition carrying it when the
    /// number is in several).
    pub(super) fn line_key(&self, number: &str) -> Result<Arc<crate::directory::Line>, CtiError> {
        let snapshot = self.inner.directory.get();
        snapshot
            .line_by_number(number)
            .cloned()
            .ok_or_else(|| CtiError::NoSuchLine(number.to_string()))
    }
}

impl Call {
    /// Which side `party` (a line number or device name) is; the calling side by default.
    pub(super) fn side_of_party(&self, party: Option<&str>) -> Result<Side, CtiError> {
        let Some(p) = party else {
            return Ok(Side::A);
        };
        let is = |line: &Option<LineKey>, device: &Option<String>| {
            line.as_ref().is_some_and(|l| l.number == p) || device.as_deref() == Some(p)
        };
        if is(&self.caller.line, &self.caller.device) {
            Ok(Side::A)
        } else if is(&self.called_line, &self.called_device) {
            Ok(Side::B)
        } else {
            Err(CtiError::NotAParty(p.to_string()))
        }
    }

    pub(super) fn device_of(
        &self,
        side: Side,
    ) -> Option<Arc<dialtone_store::directory::DeviceConfig>> {
        let name = match side {
            Side::A => self.caller.device.as_ref(),
            Side::B => self.called_device.as_ref(),
        }?;
        self.inner.directory.get().device(name).cloned()
    }

    pub(super) fn connected(&self) -> bool {
        self.legs.iter().all(Option::is_some) && self.transfer.is_none() && self.ack_wait.is_none()
    }

    pub(super) async fn on_control(&mut self, control: Control) -> Next {
        match control {
            Control::Command {
                party,
                command,
                reply,
            } => match self.side_of_party(party.as_deref()) {
                Err(e) => {
                    let _ = reply.send(Err(e));
                    Next::Continue
                }
                Ok(side) => self.on_command(side, command, reply).await,
            },
            Control::Unpark { line, reply } => self.on_unpark(line, reply).await,
            Control::Route {
                request,
                action,
                reply,
            } => self.on_route_answer(request, action, reply).await,
            Control::Serve {
                request,
                media,
                reply,
            } => self.on_serve(request, media, reply).await,
            Control::ApplicationLost => self.on_application_lost().await,
        }
    }

    pub(super) async fn on_command(
        &mut self,
        side: Side,
        command: Command,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        let state = |w: &str| Err(CtiError::State(w.to_string()));
        match command {
            Command::Drop => {
                let _ = reply.send(Ok(()));
                if self.served.is_some() {
                    return self.hang_up_all("dropped").await;
                }
                if self.legs[Side::B as usize].is_none() && self.a_invite.is_some() {
                    self.cancel_all_forks(None).await;
                    let next = self.fail_caller(480, "dropped by an application").await;
                    return match next {
                        Next::End { status, .. } => Next::End {
                            cause: "dropped",
                            status,
                            by: "application",
                        },
                        n => n,
                    };
                }
                self.cancel_all_forks(None).await;
                for s in [Side::A, Side::B] {
                    self.bye(s).await;
                }
                Next::End {
                    cause: "dropped",
                    status: 200,
                    by: "application",
                }
            }
            Command::Answer { device } => {
                let ringing = self.forks.iter().position(|f| {
                    !f.done
                        && !f.stale
                        && f.early.is_some()
                        && matches!(
                            f.role,
                            Role::Called | Role::Joining(_) | Role::TransferTarget
                        )
                        && device.as_ref().is_none_or(|d| f.device.as_ref() == Some(d))
                        && f.device.is_some()
                });
                let Some(i) = ringing else {
                    let _ = reply.send(state("no phone of the call is ringing"));
                    return Next::Continue;
                };
                if let Err(e) = self.ask_remote_answer(i, Some(reply)).await {
                    tracing::info!(call = self.id, error = %e, "remote answer not sent");
                }
                Next::Continue
            }
            Command::Hold | Command::Retrieve => {
                if !self.connected() {
                    let _ = reply.send(state("the call is not connected"));
                    return Next::Continue;
                }
                let hold = command == Command::Hold;
                self.ask_hold(side, hold, reply).await;
                Next::Continue
            }
            Command::Redirect { destination } => {
                if self.legs[Side::B as usize].is_none() && self.parked.is_none() {
                    self.redirect_ringing(&destination, Reason::Deflection, reply)
                        .await
                } else {
                    self.cti_transfer(side, &destination, reply).await
                }
            }
            Command::Transfer {
                destination: Some(destination),
                consult_call: None,
            } => self.cti_transfer(side, &destination, reply).await,
            Command::Transfer {
                destination: None,
                consult_call: Some(other),
            } => self.cti_consult_transfer(side, other, reply).await,
            Command::Transfer { .. } => {
                let _ = reply.send(state("give either destination or consult_call"));
                Next::Continue
            }
            Command::Park { slot } => self.park(side, slot, reply).await,
            Command::SendDigits { digits } => {
                if !self.connected() {
                    let _ = reply.send(state("the call is not connected"));
                    return Next::Continue;
                }
                if digits.is_empty()
                    || !digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
                {
                    let _ = reply.send(state("digits are 0-9, *, # and A-D"));
                    return Next::Continue;
                }
                let first = self.dtmf.is_empty();
                self.dtmf.extend(digits.chars().map(|c| (side.other(), c)));
                let _ = reply.send(Ok(()));
                if first {
                    self.next_digit().await;
                }
                Next::Continue
            }
        }
    }

    /// Send the next queued digit; the one after waits for its answer (order matters).
    pub(super) async fn next_digit(&mut self) {
        let Some((side, digit)) = self.dtmf.front().copied() else {
            return;
        };
        let Some(leg) = self.legs[side as usize].as_mut() else {
            self.dtmf.clear();
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let b = leg
            .dialog
            .request("INFO", &via)
            .header("Contact", &leg.contact)
            .body(
                "application/dtmf-relay",
                Bytes::from(format!("Signal={digit}\r\nDuration=160\r\n")),
            )
            .finish();
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Digit);
        self.send(tx, b, peer).await;
    }

    /// A call still ringing (or waiting at a route point) goes to `destination`, searched
    /// with the called line's and device's calling search spaces. An unroutable destination
    /// is refused and the call stays where it was.
    pub(super) async fn redirect_ringing(
        &mut self,
        destination: &str,
        reason: Reason,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        let snapshot = self.inner.directory.get();
        let mut css: Vec<String> = Vec::new();
        if let Some(line) = self.called_line.as_ref().and_then(|k| snapshot.line(k)) {
            css.extend(line.config.css.clone());
            for d in &line.devices {
                if let Some(d) = snapshot.device(d) {
                    css.extend(d.css.clone());
                    break;
                }
            }
        }
        let mut probe = self.caller.clone();
        probe.css = css.clone();
        let routing =
            self.inner
                .router(&snapshot)
                .route(&probe, destination, &mut self.chain.clone());
        if let Routing::Fail { code, why, .. } = routing {
            let _ = reply.send(Err(CtiError::Unroutable { code, why }));
            return Next::Continue;
        }
        let _ = reply.send(Ok(()));
        self.leave_route_point();
        self.divert_with(destination, css, reason).await
    }

    /// Send the party's other side to `destination`; the party leaves (blind transfer
    /// without a REFER: nobody to NOTIFY).
    pub(super) async fn cti_transfer(
        &mut self,
        side: Side,
        destination: &str,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if self.parked.is_some() {
            // Parked: the party that left is gone; the waiting one goes to the destination.
            let _ = reply.send(Err(CtiError::State(
                "the call is parked: unpark it to a line".into(),
            )));
            return Next::Continue;
        }
        if !self.connected() {
            let _ = reply.send(Err(CtiError::State("the call is not connected".into())));
            return Next::Continue;
        }
        self.transfer = Some(Transfer {
            transferor: side,
            old_leg: None,
            target_ack: None,
            notify: false,
        });
        let next = self.blind_transfer(side, destination).await;
        if self.transfer.is_none() {
            let _ = reply.send(Err(CtiError::Unroutable {
                code: self.forks.best_failure().unwrap_or(404),
                why: format!("{destination} cannot be reached"),
            }));
        } else {
            let _ = reply.send(Ok(()));
        }
        next
    }

    /// Join the party's other side in this call with its other side in `other` (a
    /// consultation call); the party leaves both.
    pub(super) async fn cti_consult_transfer(
        &mut self,
        side: Side,
        other: u64,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if !self.connected() || other == self.id {
            let _ = reply.send(Err(CtiError::State(
                "both calls must be connected and different".into(),
            )));
            return Next::Continue;
        }
        let Some(other_call) = self.inner.by_id.with(&other, |m| m.get(&other).cloned()) else {
            let _ = reply.send(Err(CtiError::NoSuchCall(other)));
            return Next::Continue;
        };
        let party = match side {
            Side::A => self.caller.line.as_ref().map(|l| l.number.clone()),
            Side::B => self.called_line.as_ref().map(|l| l.number.clone()),
        };
        let Some(party) = party else {
            let _ = reply.send(Err(CtiError::State("the party has no line".into())));
            return Next::Continue;
        };
        self.transfer = Some(Transfer {
            transferor: side,
            old_leg: None,
            target_ack: None,
            notify: false,
        });
        let next = self
            .take_leg_from(side, other_call, HandOverOf::Party(party))
            .await;
        let _ = reply.send(if self.transfer.is_some() {
            Ok(())
        } else {
            Err(CtiError::State(format!(
                "call {other} could not hand over its party"
            )))
        });
        next
    }

    // ---- route points ------------------------------------------------------------------
}
