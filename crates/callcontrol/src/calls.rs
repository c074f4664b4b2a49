//! The back-to-back user agent. Every call is one task (an actor) owning its legs: the
//! caller's leg, where Dialtone is the UAS, and the called leg, where it is the UAC (while
//! ringing, one fork per registered contact of the called line). Messages for a call reach
//! its task through a sharded Call-ID table, so calls never share a lock on the message path.
//! SDP passes through untouched (media flows phone to phone), but for music on hold, where
//! a held party is pointed at the node's music (`music`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dialtone_dialplan::Decision;
use dialtone_sip::build::{self, Builder};
use dialtone_sip::dialog::Dialog;
use dialtone_sip::digest::{Authenticator, Challenger, Credentials, StoredCredentials};
use dialtone_sip::endpoint::{Endpoint, Peer, ServerTransaction, Transport};
use dialtone_sip::guard::Guard;
use dialtone_sip::sdp::{self, Direction};
use dialtone_sip::{Message, Method, Name};
use dialtone_store::calls::CallRecord;
use dialtone_store::directory::TrunkConfig;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::directory::{Directory, LineKey};
use crate::events::Event as Notice;
use crate::guarded::Digest;
use crate::registrar::Registrar;
use crate::routing::{CallRouter, CallingParty, Chain, Load, Reason, Routing};
use dialtone_sip::shards::Sharded;

mod admission;
mod codes;
mod control;
mod device_call;
mod dialog;
mod ending;
mod forks;
mod music;
mod parking;
mod placed;
mod route_points;
mod served;
mod setup;
mod timers;
mod transfer;
mod vendor;
use crate::directory::Snapshot;
pub use codes::{CallTone, CodePrompts, PromptLine};
use control::Control;
pub use control::{Command, CtiError, RouteAction};
pub use device_call::DeviceCall;
use dialog::session_expires;
use forks::{CancelNow, Fork, Forking, Forks, Role};
pub use music::{HoldMusic, Holder};
pub use placed::MakeCall;
use route_points::AtRoutePoint;
pub use route_points::RoutePoints;
use served::Served;
pub use served::{Audio, Codec, ServedCall, ServedMedia};
use timers::SessionTimer;
pub use vendor::remote_cc;

use crate::{ALLOW, SUPPORTED};

/// Call control's tunables; every timer is here so tests never wait out defaults.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// The host in the URIs Dialtone writes (From, To, Contact): `server.public_host`.
    pub host: String,
    /// Most forwarding hops one call may take.
    pub max_forward_hops: usize,
    /// A call nobody answers is given up after this long (480).
    pub max_ringing: Duration,
    /// A trunk that sends no provisional answer in this time is skipped for the next one.
    pub trunk_failover: Duration,
    /// Session-Expires Dialtone asks of called legs (RFC 4028); zero turns it off.
    pub session_expires: u32,
    /// The shortest session interval accepted from a caller (422 below it).
    pub min_session_expires: u32,
    /// Unified CM's Maximum Call Duration Timer: a call is hung up (both sides get a BYE)
    /// once it has lasted this long, so a call whose phones vanished ends even without
    /// session timers. Zero: no limit.
    pub max_duration: Duration,
    /// 64*T1 (RFC 3261 17): how long a 2xx waits for its ACK before the call is hung up
    /// (13.3.1.4), and the measure of how long an ended call waits for forks still answering.
    pub transaction_timeout: Duration,
    /// A code entered at the prompt (FAC, CMC) ends after this long without a digit.
    pub code_digit_timeout: Duration,
    /// How long a caller the node answered hears the reorder tone when the call fails,
    /// before it is hung up.
    pub reorder_time: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            host: "127.0.0.1".into(),
            max_forward_hops: 12,
            max_ringing: Duration::from_secs(180),
            trunk_failover: Duration::from_secs(2),
            session_expires: 1800,
            min_session_expires: 90,
            max_duration: Duration::from_secs(720 * 60),
            transaction_timeout: Duration::from_secs(32),
            code_digit_timeout: Duration::from_secs(10),
            reorder_time: Duration::from_secs(10),
        }
    }
}

/// A live call as the admin API shows it.
/// Where a call stands, as CTI and the admin API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Dialtone placed it (MakeCall, unpark) and the originating phone has not answered.
    Originating,
    Ringing,
    /// Waiting at a CTI route point for its application's answer.
    Offered,
    Connected,
    Held,
    Parked,
}

/// A line's state: idle, or that of its most significant call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    // In rising significance: a line with a connected call and a ringing one is connected.
    Idle,
    Parked,
    Originating,
    Ringing,
    Offered,
    Held,
    Connected,
}

impl From<CallState> for LineState {
    fn from(s: CallState) -> LineState {
        match s {
            CallState::Originating => LineState::Originating,
            CallState::Ringing => LineState::Ringing,
            CallState::Offered => LineState::Offered,
            CallState::Connected => LineState::Connected,
            CallState::Held => LineState::Held,
            CallState::Parked => LineState::Parked,
        }
    }
}

impl LineState {
    /// The state of a line carrying calls in these states.
    pub fn of(calls: impl IntoIterator<Item = CallState>) -> LineState {
        calls
            .into_iter()
            .map(LineState::from)
            .max()
            .unwrap_or(LineState::Idle)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub id: u64,
    pub state: CallState,
    pub calling: String,
    pub called: String,
    pub calling_device: Option<String>,
    pub called_device: Option<String>,
    pub trunk: Option<String>,
    /// Which side put the call on hold, if any.
    pub held_by: Option<&'static str>,
    pub seconds: u64,
}

const SHARDS: usize = 64;

struct Inner {
    endpoint: Endpoint,
    directory: Arc<Directory>,
    registrar: Arc<Registrar>,
    auth: Authenticator,
    guard: Arc<Guard>,
    config: CallConfig,
    /// Each leg's Call-ID to its call's task.
    routes: Sharded<String, mpsc::Sender<Input>>,
    /// Calls on each line (the busy trigger and maximum number of calls).
    line_load: Sharded<LineKey, u32>,
    live: Sharded<u64, (CallView, Instant)>,
    /// Each call's task by call id (what CTI commands name).
    by_id: Sharded<u64, mpsc::Sender<Input>>,
    /// Park slots to the call waiting in each.
    parks: Sharded<String, u64>,
    route_points: RoutePoints,
    next_id: AtomicU64,
    records: mpsc::Sender<CallRecord>,
    events: crate::events::Events,
    /// What held parties hear, once the node gives it.
    music: std::sync::OnceLock<Arc<dyn HoldMusic>>,
    /// Where code prompts, ringback and reorder come from, once the node gives them.
    prompts: std::sync::OnceLock<Arc<dyn CodePrompts>>,
}

impl Inner {
    /// Where to send to a registered contact: over a stream, the phone's own connection while
    /// it is open (NAT), else the Contact's address.
    fn peer_for(&self, b: &crate::registrar::Binding) -> Peer {
        match b.contact_peer {
            Some(c) if !self.endpoint.has_stream(b.peer) => c,
            _ => b.peer,
        }
    }
}

impl Load for Inner {
    fn calls_on(&self, line: &LineKey) -> u32 {
        self.line_load
            .with(line, |m| m.get(line).copied())
            .unwrap_or(0)
    }
}

/// Call control's handle: cheap to clone.
#[derive(Clone)]
pub struct Calls {
    inner: Arc<Inner>,
}

/// What reaches a call's task: SIP from either leg, and CTI's commands (the notices a call
/// sends out are `events::Event`, imported here as `Notice`).
enum Input {
    Request(ServerTransaction),
    Ack(Arc<Message>),
    Response {
        tx: u64,
        msg: Arc<Message>,
    },
    Finished {
        tx: u64,
    },
    /// Another call's consultative transfer names a leg of this call (by its Call-ID, from a
    /// Replaces, or by its party, from CTI): hand over the other leg and end this call.
    HandOver {
        of: HandOverOf,
        reply: tokio::sync::oneshot::Sender<Option<Leg>>,
    },
    Control(Control),
    /// A digit the caller keyed on the node's code prompt (RFC 4733).
    Digit(char),
}

/// The leg of a call a consultative transfer names: the transferor's.
enum HandOverOf {
    CallId(String),
    Party(String),
}

impl Calls {
    /// `auth` challenges callers (407), behind the password-guessing guard; `records`
    /// receives each call's detail record when it ends (the node writes them).
    pub fn new(
        endpoint: Endpoint,
        directory: Arc<Directory>,
        registrar: Arc<Registrar>,
        (auth, guard): (Authenticator, Arc<Guard>),
        config: CallConfig,
        records: mpsc::Sender<CallRecord>,
        events: crate::events::Events,
    ) -> Calls {
        Calls {
            inner: Arc::new(Inner {
                endpoint,
                directory,
                registrar,
                auth,
                guard,
                config,
                routes: Sharded::new(SHARDS),
                line_load: Sharded::new(SHARDS),
                live: Sharded::new(SHARDS),
                by_id: Sharded::new(SHARDS),
                parks: Sharded::new(SHARDS),
                route_points: RoutePoints::default(),
                next_id: AtomicU64::new(1),
                records,
                events,
                music: std::sync::OnceLock::new(),
                prompts: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Play `music` to held parties from now on (once; a second call is ignored).
    pub fn play_hold_music(&self, music: Arc<dyn HoldMusic>) {
        let _ = self.inner.music.set(music);
    }

    /// Answer calls that need a code (FAC, CMC) with `prompts` from now on, and play
    /// ringback and reorder to those callers (once; a second call is ignored). Without it
    /// such calls are refused 403.
    pub fn play_code_prompts(&self, prompts: Arc<dyn CodePrompts>) {
        let _ = self.inner.prompts.set(prompts);
    }

    /// The calls in progress.
    pub fn live(&self) -> Vec<CallView> {
        let mut out: Vec<CallView> = Vec::new();
        self.inner.live.each(|live| {
            out.extend(live.values().map(|(v, since)| CallView {
                seconds: since.elapsed().as_secs(),
                ..v.clone()
            }))
        });
        out.sort_by_key(|v| v.id);
        out
    }

    /// One call in progress.
    pub fn view(&self, id: u64) -> Option<CallView> {
        self.inner.live.with(&id, |live| {
            live.get(&id).map(|(v, since)| CallView {
                seconds: since.elapsed().as_secs(),
                ..v.clone()
            })
        })
    }

    /// The configuration snapshot calls are placed with.
    pub fn directory(&self) -> Arc<Snapshot> {
        self.inner.directory.get()
    }

    pub fn registrar(&self) -> &Arc<Registrar> {
        &self.inner.registrar
    }

    /// A new INVITE (no To tag).
    pub async fn invite(&self, tx: ServerTransaction) {
        self.inner.clone().invite(tx).await
    }

    /// A request inside a call (or a CANCEL): to its call, or 481.
    pub async fn in_dialog(&self, tx: ServerTransaction) {
        if tx.request.is(Method::Cancel) {
            return self.cancel(tx).await;
        }
        let sender = tx.request.call_id().and_then(|c| self.inner.route_of(c));
        match sender {
            Some(s) => {
                if let Err(mpsc::error::SendError(Input::Request(tx))) =
                    s.send(Input::Request(tx)).await
                {
                    tx.reply(481, None).await;
                }
            }
            None => tx.reply(481, Some(&build::token())).await,
        }
    }

    /// A CANCEL (RFC 3261 9.2): 200 whenever it matches a running INVITE transaction, then
    /// the call is told, however early: before its task exists the INVITE is marked, so the
    /// task ends at its first step and never rings anyone. One that matches nothing: 481.
    async fn cancel(&self, tx: ServerTransaction) {
        let Some(invite) = tx.cancels.as_deref().cloned() else {
            return tx.reply(481, Some(&build::token())).await;
        };
        // Marked before the route is looked up; the call's task is bound before it reads the
        // mark. So either the task is found here, or it finds the mark.
        invite.mark_cancelled();
        tx.reply(200, None).await;
        let sender = invite
            .request
            .call_id()
            .and_then(|c| self.inner.route_of(c));
        let delivered = match sender {
            Some(s) => s.send(Input::Request(tx)).await.is_ok(),
            None => false,
        };
        if !delivered {
            invite.reply(487, Some(&build::token())).await;
        }
    }

    /// An ACK for a 2xx: to its call, if it still exists.
    pub async fn ack(&self, message: Arc<Message>) {
        if let Some(s) = message.call_id().and_then(|c| self.inner.route_of(c)) {
            let _ = s.send(Input::Ack(message)).await;
        }
    }
}

use dialtone_store::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A = 0,
    B = 1,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Side::A => "calling",
            Side::B => "called",
        }
    }
}

/// One established leg.
struct Leg {
    dialog: Dialog,
    peer: Peer,
    contact: String,
    session: Option<SessionTimer>,
}

/// What a client transaction was for.
enum Purpose {
    Fork(usize),
    /// A request relayed from `from`; its answer goes back through `server`.
    Relay {
        from: Side,
        server: ServerTransaction,
        offer: bool,
        cseq: u32,
        /// A hold offer pointed at the music: the direction the holder offered.
        music: Option<Direction>,
    },
    /// Fire and forget (BYE, CANCEL, session refresh).
    Quiet {
        side: Option<Side>,
    },
    /// One DTMF digit (INFO); the next is sent when it is answered.
    Digit,
    /// A request an application's command sent a phone: its answer answers the command.
    Command {
        reply: Option<tokio::sync::oneshot::Sender<Result<(), CtiError>>>,
    },
    /// A party joins the new leg on `new`: the re-INVITE carrying the new leg's offer to the
    /// other party; its 2xx carries the answer the new leg's ACK (CSeq `new_cseq`) takes.
    Join {
        new: Side,
        new_cseq: u32,
        cseq: u32,
    },
    /// Transfer: an INVITE without an offer to the target's existing leg (after Replaces);
    /// its 2xx carries the target's offer.
    TransferOffer,
    /// Transfer: the target's offer sent to the transferee; its 2xx carries the answer that
    /// the target's ACK takes.
    TransferAnswer {
        cseq: u32,
    },
}

/// A transfer in progress (REFER): the transferor's side is being replaced by the target.
struct Transfer {
    transferor: Side,
    /// The transferor's leg: told how it went (NOTIFY), then released.
    old_leg: Option<Leg>,
    /// The CSeq of the target's INVITE whose ACK waits for the transferee's answer.
    target_ack: Option<u32>,
    /// A REFER asked for it (the transferor hears NOTIFYs); a CTI command did not.
    notify: bool,
}

struct Call {
    inner: Arc<Inner>,
    id: u64,
    events: mpsc::Receiver<Input>,
    events_tx: mpsc::Sender<Input>,
    /// The caller's INVITE (absent when Dialtone placed the call: MakeCall, unpark).
    a_invite: Option<ServerTransaction>,
    a_tag: String,
    a_contact: String,
    a_session: Option<SessionTimer>,
    a_answered: bool,
    a_sdp_offer: bool,
    caller: CallingParty,
    calling_trunk: Option<String>,
    dialled: String,
    chain: Chain,
    decision: Option<Decision>,
    called_line: Option<LineKey>,
    forks: Forks,
    ring_deadline: Option<Instant>,
    no_answer: Option<(String, Option<String>)>,
    given_up_at: Instant,
    /// When the Maximum Call Duration Timer ends the call, if it has one.
    hang_up_at: Option<Instant>,
    /// The caller's ACK of our 200 must come by then, or the call is hung up (RFC 3261
    /// 13.3.1.4: the 2xx stops being retransmitted and the dialog must end).
    a_ack_due: Option<Instant>,
    trunks: Vec<TrunkConfig>,
    legs: [Option<Leg>; 2],
    pending: HashMap<u64, Purpose>,
    next_tx: u64,
    /// A 2xx to a re-INVITE without an offer: its ACK (with the answer) is owed to this side.
    ack_wait: Option<(Side, u32)>,
    started: i64,
    answered_at: Option<i64>,
    held_by: Option<Side>,
    /// The music a held party hears; dropped (stopped) at the resume, or when the call ends.
    music: Option<Box<dyn Send + Sync>>,
    loads: Vec<LineKey>,
    called_trunk: Option<String>,
    called_device: Option<String>,
    transfer: Option<Transfer>,
    alerted: bool,
    /// A transferor's leg to hang up once its final NOTIFY (this client transaction) is done.
    releasing: Option<(u64, Leg)>,
    /// The NOTIFY awaiting its answer, and the one waiting behind it.
    notify_in_flight: Option<u64>,
    deferred_notify: Option<(Option<Side>, u16, bool)>,
    /// Call-IDs of legs this call released (a transferor's): a late BYE gets 200, not 481.
    released: Vec<String>,
    /// The state last told to the lines' watchers, and the lines told it.
    last_state: Option<CallState>,
    told_lines: Vec<String>,
    /// Extra headers for the next forks (a MakeCall's auto-answer request).
    fork_headers: Vec<(String, String)>,
    /// The role of the next fork, when not the usual one.
    next_role: Option<Role>,
    /// A MakeCall's originator forks: the line they ring (To), the destination as From.
    originating_to: Option<String>,
    /// The application park slot the call waits in.
    parked: Option<String>,
    at_route_point: Option<AtRoutePoint>,
    /// The application answering the call with its own media, when it ends on Dialtone.
    served: Option<Served>,
    /// A device Dialtone calls with its own media, until it answers (then `served`).
    ringing_served: Option<Served>,
    /// Dialtone's own offer for the INVITEs `fork` sends now (a device call).
    fork_offer: Option<Bytes>,
    /// The node answered the caller to ask for a code.
    prompt: Option<codes::Prompting>,
    /// DTMF digits to send, one INFO after another.
    dtmf: std::collections::VecDeque<(Side, char)>,
}

enum Next {
    Continue,
    End {
        cause: &'static str,
        status: u16,
        by: &'static str,
    },
}

impl Call {
    /// A call's task state before anything happened; bound by id for CTI.
    fn new(
        inner: Arc<Inner>,
        a_invite: Option<ServerTransaction>,
        caller: CallingParty,
        calling_trunk: Option<String>,
        dialled: String,
    ) -> Call {
        let (events_tx, events) = mpsc::channel(64);
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        inner.by_id.with(&id, |m| m.insert(id, events_tx.clone()));
        let given_up_at = Instant::now() + inner.config.max_ringing;
        let max_duration = inner.config.max_duration;
        let hang_up_at = (!max_duration.is_zero()).then(|| Instant::now() + max_duration);
        let a_contact = inner.contact(Transport::Udp);
        Call {
            inner,
            id,
            events,
            events_tx,
            a_invite,
            a_tag: build::token(),
            a_contact,
            a_session: None,
            a_answered: false,
            caller,
            calling_trunk,
            dialled,
            chain: Chain::default(),
            decision: None,
            called_line: None,
            forks: Forks::default(),
            ring_deadline: None,
            no_answer: None,
            given_up_at,
            hang_up_at,
            a_ack_due: None,
            trunks: Vec::new(),
            legs: [None, None],
            pending: HashMap::new(),
            next_tx: 1,
            ack_wait: None,
            started: now_ms(),
            answered_at: None,
            held_by: None,
            music: None,
            loads: Vec::new(),
            called_trunk: None,
            called_device: None,
            a_sdp_offer: false,
            transfer: None,
            alerted: false,
            releasing: None,
            notify_in_flight: None,
            deferred_notify: None,
            released: Vec::new(),
            last_state: None,
            told_lines: Vec::new(),
            fork_headers: Vec::new(),
            next_role: None,
            originating_to: None,
            parked: None,
            at_route_point: None,
            served: None,
            ringing_served: None,
            fork_offer: None,
            prompt: None,
            dtmf: std::collections::VecDeque::new(),
        }
    }

    fn view(&self) -> CallView {
        let state = if self.parked.is_some() {
            CallState::Parked
        } else if self.a_answered
            && self.legs[Side::A as usize].is_some()
            && (self.legs[Side::B as usize].is_some() || self.served.is_some())
        {
            if self.held_by.is_some() {
                CallState::Held
            } else {
                CallState::Connected
            }
        } else if self.at_route_point.is_some() {
            CallState::Offered
        } else if self.a_invite.is_none() && self.legs[Side::A as usize].is_none() {
            CallState::Originating
        } else {
            CallState::Ringing
        };
        CallView {
            id: self.id,
            state,
            calling: self.caller.number.clone(),
            called: self
                .decision
                .as_ref()
                .map(|d| d.called.clone())
                .unwrap_or_else(|| self.dialled.clone()),
            calling_device: self.caller.device.clone(),
            called_device: self.called_device.clone(),
            trunk: self
                .called_trunk
                .clone()
                .or_else(|| self.calling_trunk.clone()),
            held_by: self.held_by.map(Side::name),
            seconds: 0,
        }
    }

    fn publish(&mut self) {
        let view = self.view();
        // Each line of the call hears the call's state once per change (a line that joins
        // the call later hears the current one).
        if Some(view.state) != self.last_state {
            self.last_state = Some(view.state);
            self.told_lines.clear();
        }
        let lines = [
            self.caller.line.as_ref().map(|l| l.number.clone()),
            self.called_line.as_ref().map(|l| l.number.clone()),
        ];
        for line in lines.into_iter().flatten() {
            if !self.told_lines.contains(&line) {
                self.told_lines.push(line.clone());
                self.inner.events.emit(Notice::LineState {
                    line,
                    state: view.state.into(),
                    call: Some(self.id),
                });
            }
        }
        self.inner.live.with(&self.id, |live| {
            let since = live
                .get(&self.id)
                .map(|(_, s)| *s)
                .unwrap_or_else(Instant::now);
            live.insert(self.id, (view, since));
        });
    }

    fn parties(&self) -> crate::events::Parties {
        let legs = |side: Side| {
            self.legs[side as usize]
                .as_ref()
                .map(|l| l.dialog.call_id.clone())
        };
        crate::events::Parties {
            calling_line: self.caller.line.as_ref().map(|l| l.number.clone()),
            calling_device: self.caller.device.clone(),
            called_line: self.called_line.as_ref().map(|l| l.number.clone()),
            called_device: self.called_device.clone(),
            calling_leg: legs(Side::A).or_else(|| {
                self.a_invite
                    .as_ref()
                    .and_then(|a| a.request.call_id().map(str::to_string))
            }),
            called_leg: legs(Side::B),
        }
    }

    fn occupy(&mut self, line: &LineKey) {
        self.inner.load(line, 1);
        self.loads.push(line.clone());
    }

    async fn run(mut self, dialled: String) {
        if let Some(line) = self.caller.line.clone() {
            self.occupy(&line);
        }
        self.publish();
        let next = if self.a_invite.as_ref().is_some_and(|a| a.is_cancelled()) {
            // The caller cancelled while the call was being admitted.
            self.fail_caller(487, "cancelled").await
        } else {
            self.route(&dialled).await
        };
        self.run_loop(next).await;
    }

    async fn run_loop(mut self, mut next: Next) {
        while matches!(next, Next::Continue) {
            let wake = self.next_wake();
            let ev = tokio::select! {
                ev = self.events.recv() => ev,
                _ = tokio::time::sleep_until(wake) => None,
            };
            next = match ev {
                Some(ev) => self.on_event(ev).await,
                None => self.on_timer().await,
            };
            if matches!(next, Next::Continue) {
                self.publish();
            }
        }
        if let Next::End { cause, status, by } = next {
            self.finish(cause, status, by).await;
            self.see_forks_out().await;
        }
    }

    fn next_wake(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut wake = self.hang_up_at.map_or(far, |at| at.min(far));
        if let Some(due) = self.a_ack_due {
            wake = wake.min(due);
        }
        if self.legs[Side::B as usize].is_none() && self.parked.is_none() && self.served.is_none() {
            wake = wake.min(self.given_up_at);
            if let Some(d) = self.ring_deadline {
                wake = wake.min(d);
            }
        }
        if let Some(at) = self.prompt.as_ref().and_then(|p| p.wake()) {
            wake = wake.min(at);
        }
        if let Some(rp) = self.at_route_point.as_ref().filter(|r| !r.accepted) {
            wake = wake.min(rp.deadline);
        }
        for leg in self.legs.iter().flatten() {
            if let Some(s) = leg.session {
                wake = wake.min(s.next);
            }
        }
        wake
    }
}
