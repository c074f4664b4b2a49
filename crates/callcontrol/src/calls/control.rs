//! CTI's "commands in" half: what applications ask of calls and phones. Each command reaches
//! the call's own task as an event, so it is ordered with the call's SIP messages and never
//! takes a lock the message path holds. Commands that need a phone to act (answer, hold,
//! reset) are answered when the phone has answered the request that asks it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use tokio::sync::oneshot;

use super::*;
use dialtone_phone_xml::remotecc;

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
    /// The route point's application is gone.
    ApplicationLost,
}

/// Route points owned by connected applications.
#[derive(Default)]
pub struct RoutePoints {
    owners: Mutex<HashMap<String, Owner>>,
    next_request: AtomicU64,
}

struct Owner {
    app: u64,
    requests: mpsc::Sender<Arc<Notice>>,
    /// Calls at the route point (offered or accepted): told when the application goes.
    calls: HashMap<u64, mpsc::Sender<Event>>,
}

impl RoutePoints {
    /// Application `app` takes route point `number`; route requests arrive on `requests`.
    pub fn register(
        &self,
        number: &str,
        app: u64,
        requests: mpsc::Sender<Arc<Notice>>,
    ) -> Result<(), CtiError> {
        let mut owners = self.owners.lock().expect("route points");
        if owners.get(number).is_some_and(|o| o.app != app) {
            return Err(CtiError::Taken(format!("route point {number}")));
        }
        owners.insert(
            number.to_string(),
            Owner {
                app,
                requests,
                calls: HashMap::new(),
            },
        );
        Ok(())
    }

    /// Application `app` is gone: its route points are free and their calls fall through to
    /// Call Forward on CTI Failure.
    pub fn release(&self, app: u64) {
        let lost: Vec<mpsc::Sender<Event>> = {
            let mut owners = self.owners.lock().expect("route points");
            let mine: Vec<String> = owners
                .iter()
                .filter(|(_, o)| o.app == app)
                .map(|(n, _)| n.clone())
                .collect();
            mine.into_iter()
                .filter_map(|n| owners.remove(&n))
                .flat_map(|o| o.calls.into_values())
                .collect()
        };
        for call in lost {
            let _ = call.try_send(Event::Control(Control::ApplicationLost));
        }
    }

    pub fn owned(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .owners
            .lock()
            .expect("route points")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Offer a call to the route point's application; None when no application owns it
    /// (or its queue is full: it is not keeping up).
    fn offer(
        &self,
        number: &str,
        call: u64,
        events: &mpsc::Sender<Event>,
        make: impl FnOnce(u64) -> Notice,
    ) -> Option<u64> {
        let mut owners = self.owners.lock().expect("route points");
        let owner = owners.get_mut(number)?;
        let request = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        owner.requests.try_send(Arc::new(make(request))).ok()?;
        owner.calls.insert(call, events.clone());
        Some(request)
    }

    fn leave(&self, number: &str, call: u64) {
        if let Some(o) = self.owners.lock().expect("route points").get_mut(number) {
            o.calls.remove(&call);
        }
    }
}

/// A route point's call waiting on its application.
pub(super) struct AtRoutePoint {
    pub number: LineKey,
    pub request: u64,
    /// The application accepted: no more deadline (the ring limit still applies).
    pub accepted: bool,
    pub deadline: Instant,
}

/// A MakeCall: from `line` (on `device`, or every phone carrying it) to `destination`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeCall {
    pub line: String,
    #[serde(default)]
    pub device: Option<String>,
    pub destination: String,
}

/// Cisco enterprise SIP phones take remote-control requests; see
/// [`dialtone_phone_xml::model::is_cisco_enterprise`], which provisioning's `remoteCcEnable`
/// follows too.
pub fn remote_cc(model: &str) -> bool {
    dialtone_phone_xml::model::is_cisco_enterprise(model)
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

/// An answer to `offer` that receives nothing and sends nothing: what a phone that answered
/// a MakeCall holds until the called side's offer arrives (RFC 3725's "black hole").
pub(super) fn inactive_answer(offer: &[u8], addr: std::net::IpAddr) -> Option<Bytes> {
    let text = std::str::from_utf8(offer).ok()?;
    let ip = match addr {
        std::net::IpAddr::V4(a) => format!("IN IP4 {a}"),
        std::net::IpAddr::V6(a) => format!("IN IP6 {a}"),
    };
    let mut out = format!(
        "v=0\r\no=dialtone {} 1 {ip}\r\ns=-\r\nc={ip}\r\nt=0 0\r\n",
        now_ms()
    );
    let mut media = 0;
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(m) = line.strip_prefix("m=") else {
            continue;
        };
        let mut parts = m.split_whitespace();
        let (Some(kind), Some(port), Some(proto), Some(fmt)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        media += 1;
        if port == "0" {
            out.push_str(&format!("m={kind} 0 {proto} {fmt}\r\n"));
            continue;
        }
        out.push_str(&format!("m={kind} 9 {proto} {fmt}\r\n"));
        let rtpmap = format!("a=rtpmap:{fmt} ");
        if let Some(map) = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("m="))
            .find(|l| l.starts_with(&rtpmap))
        {
            out.push_str(map);
            out.push_str("\r\n");
        }
        out.push_str("a=inactive\r\n");
    }
    (media > 0).then(|| Bytes::from(out))
}

impl Calls {
    fn call_task(&self, call: u64) -> Result<mpsc::Sender<Event>, CtiError> {
        self.inner
            .by_id
            .with(&call, |m| m.get(&call).cloned())
            .ok_or(CtiError::NoSuchCall(call))
    }

    async fn ask(
        &self,
        to: mpsc::Sender<Event>,
        call: u64,
        make: impl FnOnce(oneshot::Sender<Result<(), CtiError>>) -> Control,
    ) -> Result<(), CtiError> {
        let (reply, answer) = oneshot::channel();
        to.send(Event::Control(make(reply)))
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

    /// An application's answer to route request `request` of `call`.
    pub async fn route(
        &self,
        call: u64,
        request: u64,
        action: RouteAction,
    ) -> Result<(), CtiError> {
        let to = self.call_task(call)?;
        self.ask(to, call, |reply| Control::Route {
            request,
            action,
            reply,
        })
        .await
    }

    pub fn route_points(&self) -> &RoutePoints {
        &self.inner.route_points
    }

    /// Calls waiting in park slots.
    pub fn parked(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        self.inner
            .parks
            .each(|m| out.extend(m.iter().map(|(s, c)| (s.clone(), *c))));
        out.sort();
        out
    }

    /// The line `number` as the snapshot has it (the first partition carrying it when the
    /// number is in several).
    fn line_key(&self, number: &str) -> Result<Arc<crate::directory::Line>, CtiError> {
        let snapshot = self.inner.directory.get();
        snapshot
            .line_by_number(number)
            .cloned()
            .ok_or_else(|| CtiError::NoSuchLine(number.to_string()))
    }

    /// Connect the call parked in `slot` with `line`: the line's phones ring, and the first
    /// to answer takes the call.
    pub async fn unpark(&self, slot: &str, line: &str) -> Result<u64, CtiError> {
        let call = self
            .inner
            .parks
            .with(slot, |m| m.get(slot).copied())
            .ok_or_else(|| CtiError::NoSuchSlot(slot.to_string()))?;
        let line = self.line_key(line)?;
        let to = self.call_task(call)?;
        self.ask(to, call, |reply| Control::Unpark {
            line: line.key.clone(),
            reply,
        })
        .await?;
        Ok(call)
    }

    /// Call `destination` from `line`: its phone (or every phone carrying it) is called first
    /// and answers by itself where it can; once it has, the destination is dialled with the
    /// line's calling search spaces, as if the user had dialled it.
    pub async fn make_call(&self, req: MakeCall) -> Result<u64, CtiError> {
        let inner = &self.inner;
        let snapshot = inner.directory.get();
        let line = self.line_key(&req.line)?;
        if req.destination.is_empty()
            || !req
                .destination
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | '+'))
        {
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
        let contacts: Vec<crate::registrar::Binding> = inner
            .registrar
            .contacts(&snapshot, &line.key)
            .into_iter()
            .filter(|b| req.device.as_ref().is_none_or(|d| &b.device == d))
            .collect();
        if contacts.is_empty() {
            return Err(CtiError::NotRegistered(format!(
                "line {} has no registered phone",
                req.line
            )));
        }
        if inner.calls_on(&line.key) >= line.config.max_calls {
            return Err(CtiError::State(format!(
                "line {} has its maximum number of calls",
                req.line
            )));
        }
        // The caller is the line on the phone that will answer: its CSS (line's, then the
        // device's) finds the destination.
        let device = snapshot.device(&contacts[0].device).cloned();
        let mut css: Vec<String> = line.config.css.iter().cloned().collect();
        css.extend(device.as_ref().and_then(|d| d.css.clone()));
        let appearance = device
            .as_ref()
            .and_then(|d| d.lines.iter().find(|a| a.pattern == line.key.number));
        let caller = Caller {
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
        let mut call = Call::new(inner.clone(), None, caller, None, req.destination.clone());
        let id = call.id;
        call.occupy(&line.key);
        call.originate(contacts, &snapshot).await;
        tokio::spawn(call.run_placed());
        Ok(id)
    }

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
            let peer = match b.contact_peer {
                Some(c) if !inner.endpoint.has_stream(b.peer) => c,
                _ => b.peer,
            };
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
    /// Ring the originating line's phones for a MakeCall, asking them to answer by themselves.
    async fn originate(&mut self, contacts: Vec<crate::registrar::Binding>, snapshot: &Snapshot) {
        self.publish();
        let host = self.inner.config.host.clone();
        for b in contacts {
            let cisco = snapshot
                .device(&b.device)
                .is_some_and(|d| remote_cc(&d.model));
            self.fork_headers.clear();
            if !cisco {
                self.fork_headers
                    .push(("Call-Info".into(), format!("<sip:{host}>;answer-after=0")));
                self.fork_headers.push((
                    "Alert-Info".into(),
                    format!("<sip:{host}>;info=alert-autoanswer"),
                ));
            }
            self.next_role = Some(Role::Originator {
                remote_cc: cisco,
                asked: false,
            });
            let peer = match b.contact_peer {
                Some(c) if !self.inner.endpoint.has_stream(b.peer) => c,
                _ => b.peer,
            };
            // The originating phone shows the number it is calling.
            self.originating_to = Some(b.aor.clone());
            self.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
        self.fork_headers.clear();
        self.originating_to = None;
    }

    /// The life of a call Dialtone placed: the originator first, then the usual loop.
    async fn run_placed(mut self) {
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
        let answer = inactive_answer(&msg.body(), ip);
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

    fn device_of(&self, side: Side) -> Option<Arc<dialtone_store::directory::DeviceConfig>> {
        let name = match side {
            Side::A => self.caller.device.as_ref(),
            Side::B => self.called_device.as_ref(),
        }?;
        self.inner.directory.get().device(name).cloned()
    }

    fn connected(&self) -> bool {
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
            Control::ApplicationLost => self.on_application_lost().await,
        }
    }

    async fn on_command(
        &mut self,
        side: Side,
        command: Command,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        let state = |w: &str| Err(CtiError::State(w.to_string()));
        match command {
            Command::Drop => {
                let _ = reply.send(Ok(()));
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

    /// Ask a ringing fork's phone to answer: a Cisco remote-control REFER, else a NOTIFY
    /// `Event: talk` in the early dialog (BroadSoft's convention, which Polycom, Yealink and
    /// others follow).
    async fn ask_remote_answer(
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
    fn remote_cc_refer(&self, uri: &str, peer: Peer, body: Bytes) -> Bytes {
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
    async fn ask_hold(
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

    /// A call still ringing (or waiting at a route point) goes to `destination`, searched
    /// with the called line's and device's calling search spaces. An unroutable destination
    /// is refused and the call stays where it was.
    async fn redirect_ringing(
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
    async fn cti_transfer(
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
    async fn cti_consult_transfer(
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

    async fn park(
        &mut self,
        side: Side,
        slot: String,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if !self.connected() {
            let _ = reply.send(Err(CtiError::State("the call is not connected".into())));
            return Next::Continue;
        }
        if slot.is_empty() || slot.len() > 64 {
            let _ = reply.send(Err(CtiError::State("slot: 1 to 64 characters".into())));
            return Next::Continue;
        }
        let id = self.id;
        let taken = self.inner.parks.with(&slot, |m| {
            if m.contains_key(&slot) {
                true
            } else {
                m.insert(slot.clone(), id);
                false
            }
        });
        if taken {
            let _ = reply.send(Err(CtiError::Taken(format!("slot {slot}"))));
            return Next::Continue;
        }
        let _ = reply.send(Ok(()));
        // The parker leaves; its line is free again.
        self.bye(side).await;
        if let Some(old) = self.legs[side as usize].take() {
            self.released.push(old.dialog.call_id);
        }
        let line = match side {
            Side::A => self.caller.line.take(),
            Side::B => self.called_line.take(),
        };
        if let Some(line) = line {
            if let Some(pos) = self.loads.iter().position(|l| *l == line) {
                self.loads.remove(pos);
                self.inner.load(&line, -1);
            }
        }
        match side {
            Side::A => self.caller.device = None,
            Side::B => self.called_device = None,
        }
        self.parked = Some(slot.clone());
        self.held_by = None;
        self.inner.events.emit(Notice::CallParked {
            call: self.id,
            slot,
            parties: self.parties(),
        });
        Next::Continue
    }

    async fn on_unpark(
        &mut self,
        line: LineKey,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if self.parked.is_none() {
            let _ = reply.send(Err(CtiError::State("the call is not parked".into())));
            return Next::Continue;
        }
        let free = if self.legs[Side::A as usize].is_none() {
            Side::A
        } else {
            Side::B
        };
        let snapshot = self.inner.directory.get();
        let contacts = self.inner.registrar.contacts(&snapshot, &line);
        if contacts.is_empty() {
            let _ = reply.send(Err(CtiError::NotRegistered(format!(
                "line {}",
                line.number
            ))));
            return Next::Continue;
        }
        let _ = reply.send(Ok(()));
        self.occupy(&line);
        match free {
            Side::A => {
                self.caller.line = Some(line.clone());
                self.caller.number = line.number.clone();
            }
            Side::B => self.called_line = Some(line.clone()),
        }
        for f in self.forks.iter_mut() {
            f.stale = true;
        }
        for b in contacts {
            let peer = match b.contact_peer {
                Some(c) if !self.inner.endpoint.has_stream(b.peer) => c,
                _ => b.peer,
            };
            self.next_role = Some(Role::Joining(free));
            self.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
        Next::Continue
    }

    // ---- route points ------------------------------------------------------------------

    /// The call reached route point `line`: offer it to the owning application, or follow
    /// the route point's Call Forward Unregistered when none is connected.
    pub(super) async fn at_route_point(
        &mut self,
        line: Arc<crate::directory::Line>,
        decision: Decision,
    ) -> Next {
        self.decision = Some(decision);
        self.called_line = Some(line.key.clone());
        self.occupy(&line.key);
        let timer = Duration::from_secs(line.config.no_answer_timer.max(1) as u64);
        let (id, calling, called) = (self.id, self.caller.number.clone(), line.key.number.clone());
        let offered =
            self.inner
                .route_points
                .offer(&line.key.number, id, &self.events_tx, |request| {
                    Notice::RouteRequest {
                        call: id,
                        request,
                        route_point: called.clone(),
                        calling: calling.clone(),
                        called: called.clone(),
                        timeout_ms: timer.as_millis() as u64,
                    }
                });
        let Some(request) = offered else {
            // Call Forward Unregistered; the seed's Manager Assistant route point has only
            // Call Forward No Answer configured, which then serves as well.
            tracing::info!(call = self.id, route_point = %line.key, "no application: falling through");
            return match self.route_point_forward(&line.key, "unregistered") {
                Some(fwd) => self.divert(fwd, Reason::Unavailable).await,
                None => {
                    let why = format!("route point {} has no application", line.key.number);
                    self.fail_caller(480, &why).await
                }
            };
        };
        self.at_route_point = Some(AtRoutePoint {
            number: line.key.clone(),
            request,
            accepted: false,
            deadline: Instant::now() + timer,
        });
        Next::Continue
    }

    pub(super) fn leave_route_point(&mut self) {
        if let Some(rp) = self.at_route_point.take() {
            self.inner.route_points.leave(&rp.number.number, self.id);
        }
    }

    /// Where a route point's call falls through for `reason` (`unregistered`: no application;
    /// `no-answer`: the request went unanswered; `cti-failure`: the application was lost):
    /// that forward if set, else Call Forward No Answer, the fall-through the seed configures.
    fn route_point_forward(&self, rp: &LineKey, reason: &str) -> Option<(String, Option<String>)> {
        let snapshot = self.inner.directory.get();
        let c = &snapshot.line(rp)?.config;
        let first = match reason {
            "unregistered" => &c.forward_unregistered,
            "cti-failure" => &c.forward_cti_failure,
            _ => &c.forward_no_answer,
        };
        #[allow(clippy::let_and_return)] // the borrow of `snapshot` must end first
        let found = [first, &c.forward_no_answer]
            .into_iter()
            .find(|f| f.is_set())
            .map(|f| (f.destination.clone(), f.css.clone()));
        found
    }

    /// The application did not answer the route request in time.
    pub(super) async fn route_request_expired(&mut self) -> Next {
        let Some(rp) = self.at_route_point.take() else {
            return Next::Continue;
        };
        self.inner.route_points.leave(&rp.number.number, self.id);
        tracing::info!(call = self.id, route_point = %rp.number, "route request unanswered");
        match self.route_point_forward(&rp.number, "no-answer") {
            Some(fwd) => self.divert(fwd, Reason::NoAnswer).await,
            None => {
                self.fail_caller(480, "the route point's application did not answer")
                    .await
            }
        }
    }

    async fn on_application_lost(&mut self) -> Next {
        let Some(rp) = self.at_route_point.take() else {
            return Next::Continue;
        };
        tracing::info!(call = self.id, route_point = %rp.number, "route point application lost");
        match self.route_point_forward(&rp.number, "cti-failure") {
            Some(fwd) => self.divert(fwd, Reason::Unavailable).await,
            None => {
                self.fail_caller(480, "the route point's application is gone")
                    .await
            }
        }
    }

    async fn on_route_answer(
        &mut self,
        request: u64,
        action: RouteAction,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if self.at_route_point.as_ref().map(|r| r.request) != Some(request) {
            let _ = reply.send(Err(CtiError::State(format!(
                "route request {request} is no longer pending"
            ))));
            return Next::Continue;
        }
        match action {
            RouteAction::Redirect { destination } => {
                self.redirect_ringing(&destination, Reason::Deflection, reply)
                    .await
            }
            RouteAction::Accept => {
                if let Some(rp) = self.at_route_point.as_mut() {
                    rp.accepted = true;
                }
                if let Some(a) = &self.a_invite {
                    let b = self.a_response(a, 180).finish();
                    a.respond(b).await;
                }
                let _ = reply.send(Ok(()));
                Next::Continue
            }
            RouteAction::Reject => {
                let _ = reply.send(Ok(()));
                self.leave_route_point();
                self.fail_caller(403, "rejected by the route point's application")
                    .await
            }
        }
    }
}
