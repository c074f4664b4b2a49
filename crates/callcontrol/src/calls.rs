//! The back-to-back user agent. Every call is one task (an actor) owning its legs: the
//! caller's leg, where Dialtone is the UAS, and the called leg, where it is the UAC (while
//! ringing, one fork per registered contact of the called line). Messages for a call reach
//! its task through a sharded Call-ID table, so calls never share a lock on the message path.
//! SDP passes through untouched: media flows phone to phone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dialtone_dialplan::Decision;
use dialtone_sip::build::{self, Builder};
use dialtone_sip::dialog::Dialog;
use dialtone_sip::digest::{Authenticator, Credentials, StoredCredentials, Verdict};
use dialtone_sip::endpoint::{Endpoint, Peer, ServerTransaction, Transport};
use dialtone_sip::sdp::{self, Direction};
use dialtone_sip::{Message, Name};
use dialtone_store::calls::CallRecord;
use dialtone_store::directory::TrunkConfig;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::directory::{Directory, LineKey};
use crate::events::Event as Notice;
use crate::registrar::Registrar;
use crate::routing::{Caller, Chain, Load, Reason, Router, Routing};
use crate::shards::Sharded;

mod control;
use crate::directory::Snapshot;
pub use control::{remote_cc, Command, CtiError, MakeCall, RouteAction, RoutePoints};
use control::{AtRoutePoint, Control};

/// The methods Dialtone accepts inside a call (the Allow header of its INVITEs and 200s).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, NOTIFY, OPTIONS, REFER";

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
    config: CallConfig,
    /// Each leg's Call-ID to its call's task.
    routes: Sharded<String, mpsc::Sender<Event>>,
    /// Calls on each line (the busy trigger and maximum number of calls).
    line_load: Sharded<LineKey, u32>,
    live: Sharded<u64, (CallView, Instant)>,
    /// Each call's task by call id (what CTI commands name).
    by_id: Sharded<u64, mpsc::Sender<Event>>,
    /// Park slots to the call waiting in each.
    parks: Sharded<String, u64>,
    route_points: RoutePoints,
    next_id: AtomicU64,
    records: mpsc::Sender<CallRecord>,
    events: crate::events::Events,
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

enum Event {
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
}

/// The leg of a call a consultative transfer names: the transferor's.
enum HandOverOf {
    CallId(String),
    Party(String),
}

impl Calls {
    /// `auth` challenges callers (407); `records` receives each call's detail record when it
    /// ends (the node writes them).
    pub fn new(
        endpoint: Endpoint,
        directory: Arc<Directory>,
        registrar: Arc<Registrar>,
        auth: Authenticator,
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
            }),
        }
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
        let sender = tx.request.call_id().and_then(|c| self.inner.route_of(c));
        match sender {
            Some(s) => {
                if let Err(mpsc::error::SendError(Event::Request(tx))) =
                    s.send(Event::Request(tx)).await
                {
                    tx.reply(481, None).await;
                }
            }
            None => tx.reply(481, Some(&build::token())).await,
        }
    }

    /// An ACK for a 2xx: to its call, if it still exists.
    pub async fn ack(&self, message: Arc<Message>) {
        if let Some(s) = message.call_id().and_then(|c| self.inner.route_of(c)) {
            let _ = s.send(Event::Ack(message)).await;
        }
    }
}

use dialtone_store::now_ms;

/// The user part of a URI, unescaped enough for dialling (`tel:` numbers too).
fn dialled_of(req: &Message) -> Option<String> {
    let uri = req.request_uri()?.ok()?;
    let user = uri.user?;
    Some(user.replace("%23", "#"))
}

impl Inner {
    fn route_of(&self, call_id: &str) -> Option<mpsc::Sender<Event>> {
        self.routes.with(call_id, |m| m.get(call_id).cloned())
    }

    fn bind_route(&self, call_id: &str, to: mpsc::Sender<Event>) {
        self.routes
            .with(call_id, |m| m.insert(call_id.to_string(), to));
    }

    /// Unbind `call_id` only while it still leads to `owner` (a transfer may have moved it).
    fn unbind_route_of(&self, call_id: &str, owner: &mpsc::Sender<Event>) {
        self.routes.with(call_id, |m| {
            if m.get(call_id).is_some_and(|s| s.same_channel(owner)) {
                m.remove(call_id);
            }
        });
    }

    fn load(&self, line: &LineKey, delta: i32) {
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
    fn router<'a>(&'a self, snapshot: &'a Snapshot) -> Router<'a> {
        Router {
            snapshot,
            registrar: &self.registrar,
            load: self,
            max_hops: self.config.max_forward_hops,
        }
    }

    fn contact(&self, transport: Transport) -> String {
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

    async fn challenge(&self, tx: &ServerTransaction, stale: bool) {
        let mut b = build::response(&tx.request, 407, Some(tx.peer.addr), Some(&build::token()));
        for c in self.auth.challenges(stale) {
            b = b.header("Proxy-Authenticate", &c);
        }
        tx.respond(b.finish()).await;
    }

    async fn refuse(&self, tx: &ServerTransaction, code: u16, why: &str) {
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
    async fn caller(&self, tx: &ServerTransaction) -> Option<(Caller, Option<String>)> {
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
            let caller = Caller {
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
        let Some(creds) = req
            .value(Name::ProxyAuthorization)
            .and_then(Credentials::parse)
        else {
            self.challenge(tx, false).await;
            return None;
        };
        let Some(device) = snapshot.device_by_digest_user(creds.username).cloned() else {
            self.challenge(tx, false).await;
            return None;
        };
        let stored = StoredCredentials {
            ha1_md5: device.ha1_md5.clone(),
            ha1_sha256: device.ha1_sha256.clone(),
        };
        match self.auth.verify("INVITE", &creds, &stored) {
            Verdict::Valid => {}
            Verdict::Stale => {
                self.challenge(tx, true).await;
                return None;
            }
            Verdict::Invalid(why) => {
                tracing::info!(user = creds.username, why, "call refused");
                self.challenge(tx, false).await;
                return None;
            }
        }
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
            Caller {
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

    async fn invite(self: Arc<Self>, tx: ServerTransaction) {
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

/// RFC 4028 on one leg: who refreshes, and when the session is dead without a refresh.
#[derive(Debug, Clone, Copy)]
struct SessionTimer {
    interval: Duration,
    /// Dialtone sends the refreshes (otherwise it waits for them).
    we_refresh: bool,
    next: Instant,
}

impl SessionTimer {
    fn new(seconds: u32, we_refresh: bool) -> SessionTimer {
        let mut t = SessionTimer {
            interval: Duration::from_secs(seconds as u64),
            we_refresh,
            next: Instant::now(),
        };
        t.restart();
        t
    }

    /// A refresh happened: the next is due at half the interval (when we refresh), or the
    /// session expires at the interval less a margin (RFC 4028 section 10).
    fn restart(&mut self) {
        let i = self.interval;
        self.next = Instant::now()
            + if self.we_refresh {
                i / 2
            } else {
                i - (i / 3).min(Duration::from_secs(32))
            };
    }
}

/// One established leg.
struct Leg {
    dialog: Dialog,
    peer: Peer,
    contact: String,
    session: Option<SessionTimer>,
}

/// One INVITE sent while the call is being set up.
struct Fork {
    /// The client transaction of its current INVITE (a new one after a digest challenge).
    tx: u64,
    invite: Arc<Message>,
    peer: Peer,
    device: Option<String>,
    trunk: Option<String>,
    provisional: bool,
    /// A CANCEL waits for the first provisional answer (RFC 3261 9.1), with its Reason.
    cancel_pending: Option<Option<&'static str>>,
    done: bool,
    /// Left behind by a forward: its answers no longer decide anything.
    stale: bool,
    role: Role,
    /// Its latest provisional answer (the early dialog a remote answer names).
    early: Option<Arc<Message>>,
    /// Already answered a trunk's digest challenge (a second one is a failure).
    authenticated: bool,
}

/// What a fork rings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The called party (the normal case).
    Called,
    /// The target of a blind transfer or an application's redirect of a connected call.
    TransferTarget,
    /// The phone of a MakeCall's originating line, asked to answer by itself: by a REFER
    /// with a remote-control request once it rings (Cisco phones: `remote_cc`), or by the
    /// INVITE's `Call-Info: answer-after=0`.
    Originator { remote_cc: bool, asked: bool },
    /// A line taking the party on `Side::other()` (an unpark): its answer's offer goes to
    /// that party in a re-INVITE.
    Joining(Side),
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
    events: mpsc::Receiver<Event>,
    events_tx: mpsc::Sender<Event>,
    /// The caller's INVITE (absent when Dialtone placed the call: MakeCall, unpark).
    a_invite: Option<ServerTransaction>,
    a_tag: String,
    a_contact: String,
    a_session: Option<SessionTimer>,
    a_answered: bool,
    a_sdp_offer: bool,
    caller: Caller,
    calling_trunk: Option<String>,
    dialled: String,
    chain: Chain,
    decision: Option<Decision>,
    called_line: Option<LineKey>,
    forks: Vec<Fork>,
    ring_deadline: Option<Instant>,
    no_answer: Option<(String, Option<String>)>,
    given_up_at: Instant,
    /// When the Maximum Call Duration Timer ends the call, if it has one.
    hang_up_at: Option<Instant>,
    trunks: Vec<TrunkConfig>,
    legs: [Option<Leg>; 2],
    pending: HashMap<u64, Purpose>,
    next_tx: u64,
    /// A 2xx to a re-INVITE without an offer: its ACK (with the answer) is owed to this side.
    ack_wait: Option<(Side, u32)>,
    started: i64,
    answered_at: Option<i64>,
    held_by: Option<Side>,
    busy_seen: bool,
    best_failure: Option<u16>,
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
        caller: Caller,
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
            forks: Vec::new(),
            ring_deadline: None,
            no_answer: None,
            given_up_at,
            hang_up_at,
            trunks: Vec::new(),
            legs: [None, None],
            pending: HashMap::new(),
            next_tx: 1,
            ack_wait: None,
            started: now_ms(),
            answered_at: None,
            held_by: None,
            busy_seen: false,
            best_failure: None,
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
            dtmf: std::collections::VecDeque::new(),
        }
    }

    fn view(&self) -> CallView {
        let state = if self.parked.is_some() {
            CallState::Parked
        } else if self.legs.iter().all(Option::is_some) && self.a_answered {
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
        let next = self.route(&dialled).await;
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
        }
    }

    fn next_wake(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut wake = self.hang_up_at.map_or(far, |at| at.min(far));
        if self.legs[Side::B as usize].is_none() && self.parked.is_none() {
            wake = wake.min(self.given_up_at);
            if let Some(d) = self.ring_deadline {
                wake = wake.min(d);
            }
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

    // ---- setting up ----------------------------------------------------------------

    async fn route(&mut self, dialled: &str) -> Next {
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

                self.ring(contacts).await;
                self.check_forks().await
            }
            Routing::Trunks { trunks, decision } => {
                self.decision = Some(decision);
                self.trunks = trunks;
                self.trunks.reverse();
                self.next_trunk().await
            }
            Routing::RoutePoint { line, decision } => self.at_route_point(line, decision).await,
        }
    }

    async fn next_trunk(&mut self) -> Next {
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
        let code = self.best_failure.unwrap_or(503);
        self.fail_caller(code, "no trunk took the call").await
    }

    /// Ring every contact of the called line.
    async fn ring(&mut self, contacts: Vec<crate::registrar::Binding>) {
        for b in contacts {
            // Over a stream, reuse the phone's connection while it is open (NAT), else dial
            // the Contact's address.
            let peer = match b.contact_peer {
                Some(c) if !self.inner.endpoint.has_stream(b.peer) => c,
                _ => b.peer,
            };
            self.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
    }

    /// Send one INVITE toward the called side.
    async fn fork(&mut self, uri: &str, peer: Peer, device: Option<String>, trunk: Option<String>) {
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
            .header("Supported", "timer, replaces");
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
        if let (Some(req), None) = (req.as_ref(), self.transfer.as_ref()) {
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
        self.forks.push(Fork {
            tx,
            invite: Arc::new(invite),
            peer,
            device,
            trunk,
            provisional: false,
            cancel_pending: None,
            done: false,
            stale: false,
            role: self.next_role.take().unwrap_or(if self.transfer.is_some() {
                Role::TransferTarget
            } else {
                Role::Called
            }),
            early: None,
            authenticated: false,
        });
        self.pending.insert(tx, Purpose::Fork(self.forks.len() - 1));
        self.send(tx, bytes, peer).await;
    }

    /// Answer a trunk's digest challenge (401/407) with the trunk's stored HA1, re-sending
    /// the INVITE; false when there is nothing to answer with (the trunk then fails over).
    async fn answer_challenge(&mut self, i: usize, msg: &Message, code: u16) -> bool {
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
    async fn send(&self, tx: u64, bytes: Bytes, peer: Peer) {
        let events = self.events_tx.clone();
        match self.inner.endpoint.send_request(bytes, peer).await {
            Ok(mut ct) => {
                tokio::spawn(async move {
                    while let Some(msg) = ct.responses.recv().await {
                        if events.send(Event::Response { tx, msg }).await.is_err() {
                            return;
                        }
                    }
                    let _ = events.send(Event::Finished { tx }).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not send a request");
                let _ = self.events_tx.try_send(Event::Finished { tx });
            }
        }
    }

    fn a_response(&self, a: &ServerTransaction, code: u16) -> Builder {
        let mut b = build::response(&a.request, code, Some(a.peer.addr), Some(&self.a_tag));
        if code > 100 && code < 300 {
            b = b.header("Contact", &self.a_contact);
        }
        b
    }

    async fn fail_caller(&mut self, code: u16, why: &str) -> Next {
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

    async fn cancel_fork(&mut self, i: usize, reason: Option<&'static str>) {
        let f = &mut self.forks[i];
        if f.done {
            return;
        }
        if !f.provisional {
            f.cancel_pending = Some(reason);
            return;
        }
        f.done = true;
        let cancel = dialtone_sip::endpoint::cancel_for(&f.invite, reason);
        let peer = f.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, cancel, peer).await;
    }

    async fn cancel_all_forks(&mut self, reason: Option<&'static str>) {
        for i in 0..self.forks.len() {
            self.cancel_fork(i, reason).await;
        }
    }

    /// When every fork has failed: forward on busy, try the next trunk, or tell the caller.
    async fn check_forks(&mut self) -> Next {
        if self.a_answered || self.forks.iter().any(|f| !f.done && !f.stale) {
            return Next::Continue;
        }
        if self.forks.iter().any(|f| f.trunk.is_some() && !f.stale) && !self.trunks.is_empty() {
            return self.next_trunk().await;
        }
        let busy = self.busy_seen;
        if busy {
            if let Some(fwd) = self.forward_of(Reason::UserBusy) {
                return self.divert(fwd, Reason::UserBusy).await;
            }
            return self.fail_caller(486, "busy").await;
        }
        let code = self.best_failure.unwrap_or(480);
        self.fail_caller(code, "not answered").await
    }

    fn forward_of(&self, reason: Reason) -> Option<(String, Option<String>)> {
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
    async fn divert(&mut self, to: (String, Option<String>), reason: Reason) -> Next {
        self.divert_with(&to.0, to.1.into_iter().collect(), reason)
            .await
    }

    /// Leave the ringing line for `destination`, searched with `css`.
    async fn divert_with(&mut self, destination: &str, css: Vec<String>, reason: Reason) -> Next {
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
        for f in &mut self.forks {
            f.stale = true;
        }
        self.ring_deadline = None;
        self.no_answer = None;
        self.busy_seen = false;
        self.best_failure = None;
        // The forward's own CSS searches for the destination (Unified CM's CFx CSS).
        let saved = std::mem::replace(&mut self.caller.css, css);
        // Boxed: routing may ring, fail and divert again.
        let next = Box::pin(self.route(destination)).await;
        self.caller.css = saved;
        next
    }

    // ---- events --------------------------------------------------------------------

    async fn on_timer(&mut self) -> Next {
        let now = Instant::now();
        if self.hang_up_at.is_some_and(|at| now >= at) {
            tracing::info!(call = self.id, "maximum call duration reached");
            self.cancel_all_forks(None).await;
            if !self.a_answered {
                return self.fail_caller(408, "maximum call duration").await;
            }
            return self.hang_up_all("max_duration").await;
        }
        if self
            .at_route_point
            .as_ref()
            .is_some_and(|r| !r.accepted && now >= r.deadline)
        {
            return self.route_request_expired().await;
        }
        if self.legs[Side::B as usize].is_none() && self.parked.is_none() {
            if now >= self.given_up_at {
                self.cancel_all_forks(None).await;
                return self.fail_caller(480, "nobody answered").await;
            }
            if self.ring_deadline.is_some_and(|d| now >= d) {
                self.ring_deadline = None;
                if self.forks.iter().any(|f| f.trunk.is_some() && !f.stale) {
                    // The trunk said nothing in time: on to the next one.
                    let silent = self
                        .forks
                        .iter()
                        .position(|f| !f.done && !f.stale && !f.provisional);
                    if let Some(i) = silent {
                        self.forks[i].done = true;
                        self.best_failure = Some(408);
                        return self.check_forks().await;
                    }
                    return Next::Continue;
                }
                if let Some(fwd) = self.no_answer.clone() {
                    return self.divert(fwd, Reason::NoAnswer).await;
                }
            }
        }
        for side in [Side::A, Side::B] {
            let Some(leg) = self.legs[side as usize].as_mut() else {
                continue;
            };
            let Some(s) = leg.session.as_mut() else {
                continue;
            };
            if now < s.next {
                continue;
            }
            if !s.we_refresh {
                tracing::info!(call = self.id, side = side.name(), "session expired");
                return self.hang_up_all("session_expired").await;
            }
            s.restart();
            let se = s.interval.as_secs();
            let via = self.inner.endpoint.via(leg.peer.transport);
            let b = leg
                .dialog
                .request("UPDATE", &via)
                .header("Contact", &leg.contact)
                .header("Session-Expires", &format!("{se};refresher=uac"))
                .header("Supported", "timer")
                .finish();
            let peer = leg.peer;
            let tx = self.next_tx;
            self.next_tx += 1;
            self.pending.insert(tx, Purpose::Quiet { side: Some(side) });
            self.send(tx, b, peer).await;
        }
        Next::Continue
    }

    async fn hang_up_all(&mut self, cause: &'static str) -> Next {
        for side in [Side::A, Side::B] {
            self.bye(side).await;
        }
        Next::End {
            cause,
            status: 200,
            by: "system",
        }
    }

    async fn bye(&mut self, side: Side) {
        let Some(leg) = self.legs[side as usize].as_mut() else {
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let b = leg.dialog.request("BYE", &via).finish();
        let peer = leg.peer;
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, b, peer).await;
    }

    fn side_of(&self, m: &Message) -> Option<Side> {
        let cid = m.call_id()?;
        for side in [Side::A, Side::B] {
            if let Some(leg) = &self.legs[side as usize] {
                if leg.dialog.call_id == cid {
                    return Some(side);
                }
            }
        }
        (self.legs[Side::A as usize].is_none()
            && Some(cid) == self.a_invite.as_ref().and_then(|a| a.request.call_id()))
        .then_some(Side::A)
    }

    async fn on_event(&mut self, ev: Event) -> Next {
        match ev {
            Event::Response { tx, msg } => self.on_response(tx, msg).await,
            Event::Finished { tx } => self.on_finished(tx).await,
            Event::Ack(msg) => {
                if let (Some((side, cseq)), Some(from)) = (self.ack_wait, self.side_of(&msg)) {
                    if from == side.other() {
                        self.ack_wait = None;
                        if let Some(leg) = self.legs[side as usize].as_ref() {
                            let via = self.inner.endpoint.via(leg.peer.transport);
                            let mut b = leg.dialog.ack(cseq, &via);
                            let body = msg.body();
                            if !body.is_empty() {
                                b = b.body(
                                    msg.value(Name::ContentType).unwrap_or("application/sdp"),
                                    body,
                                );
                            }
                            let _ = self.inner.endpoint.send_to(leg.peer, b.finish()).await;
                        }
                    }
                }
                Next::Continue
            }
            Event::Request(tx) => self.on_request(tx).await,
            Event::HandOver { of, reply } => self.hand_over(of, reply).await,
            Event::Control(c) => self.on_control(c).await,
        }
    }

    async fn on_request(&mut self, tx: ServerTransaction) -> Next {
        let method = tx.request.method().unwrap_or("").to_string();
        if method == "CANCEL" {
            tx.reply(200, None).await;
            let a = self.a_invite.as_ref().filter(|a| {
                tx.cancels
                    .as_ref()
                    .is_some_and(|inv| inv.request.call_id() == a.request.call_id())
            });
            if let (Some(a), false) = (a, self.a_answered) {
                let b = self.a_response(a, 487).finish();
                a.respond(b).await;
                self.cancel_all_forks(None).await;
                return Next::End {
                    cause: "cancelled",
                    status: 487,
                    by: "calling",
                };
            }
            return Next::Continue;
        }
        let Some(side) = self.side_of(&tx.request) else {
            let released = tx
                .request
                .call_id()
                .is_some_and(|c| self.released.iter().any(|r| r == c))
                || self.transfer.as_ref().is_some_and(|t| {
                    t.old_leg.as_ref().map(|l| l.dialog.call_id.as_str()) == tx.request.call_id()
                });
            let code = if released { 200 } else { 481 };
            tx.reply(code, None).await;
            return Next::Continue;
        };
        if self.legs[side as usize].is_none() {
            // Only the caller can speak before the answer, and only CANCEL means anything.
            tx.reply(481, None).await;
            return Next::Continue;
        }
        let other = side.other();
        match method.as_str() {
            "BYE" => {
                tx.reply(200, None).await;
                self.legs[side as usize] = None;
                self.bye(other).await;
                Next::End {
                    cause: "normal",
                    status: 200,
                    by: side.name(),
                }
            }
            "UPDATE" if tx.request.body().is_empty() => {
                // A pure session refresh: answered here, nothing to relay.
                self.refresh(side);
                let b = self.in_dialog_response(&tx, side, 200).finish();
                tx.respond(b).await;
                Next::Continue
            }
            "INVITE" | "UPDATE" => {
                let in_progress = self.pending.values().any(|p| {
                    matches!(p, Purpose::Relay { server, .. }
                        if matches!(server.request.method(), Some("INVITE") | Some("UPDATE")))
                });
                if in_progress || self.ack_wait.is_some() {
                    let b = build::response(&tx.request, 491, Some(tx.peer.addr), None)
                        .header("Retry-After", "1")
                        .finish();
                    tx.respond(b).await;
                    return Next::Continue;
                }
                self.refresh(side);
                self.note_hold(side, &tx.request);
                self.relay(side, tx, &method).await;
                Next::Continue
            }
            "ACK" => Next::Continue,
            "REFER" => self.on_refer(side, tx).await,
            "SUBSCRIBE" => {
                tx.reply(501, None).await;
                Next::Continue
            }
            _ => {
                self.relay(side, tx, &method).await;
                Next::Continue
            }
        }
    }

    fn refresh(&mut self, side: Side) {
        if let Some(s) = self.legs[side as usize]
            .as_mut()
            .and_then(|l| l.session.as_mut())
        {
            s.restart();
        }
    }

    fn note_hold(&mut self, side: Side, m: &Message) {
        let body = m.body();
        if body.is_empty() {
            return;
        }
        match sdp::direction(&body, 0) {
            Some(Direction::SendOnly) | Some(Direction::Inactive) => {
                if self.held_by.is_none() {
                    self.inner.events.emit(Notice::CallHeld {
                        call: self.id,
                        by: side.name(),
                        parties: self.parties(),
                    });
                }
                self.held_by = Some(side);
            }
            Some(_) if self.held_by.take().is_some() => {
                self.inner.events.emit(Notice::CallResumed {
                    call: self.id,
                    parties: self.parties(),
                });
            }
            Some(_) => {}
            None => {}
        }
    }

    fn in_dialog_response(&self, tx: &ServerTransaction, side: Side, code: u16) -> Builder {
        let mut b = build::response(&tx.request, code, Some(tx.peer.addr), None);
        if let Some(leg) = self.legs[side as usize].as_ref() {
            if matches!(tx.request.method(), Some("INVITE") | Some("UPDATE")) && code < 300 {
                b = b.header("Contact", &leg.contact);
                if let Some(s) = leg.session {
                    let who = if s.we_refresh { "uas" } else { "uac" };
                    b = b.header(
                        "Session-Expires",
                        &format!("{};refresher={who}", s.interval.as_secs()),
                    );
                }
            }
        }
        b
    }

    /// Pass an in-dialog request to the other leg; its answer comes back the same way.
    async fn relay(&mut self, from: Side, tx: ServerTransaction, method: &str) {
        let Some(leg) = self.legs[from.other() as usize].as_mut() else {
            tx.reply(481, None).await;
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let mut b = leg.dialog.request(method, &via);
        let cseq = leg.dialog.local_cseq;
        if matches!(method, "INVITE" | "UPDATE") {
            b = b.header("Contact", &leg.contact);
        }
        for name in [
            "Event",
            "Subscription-State",
            "Info-Package",
            "Content-Disposition",
        ] {
            if let Some(v) = tx.request.values_named(name).next() {
                b = b.header(name, v);
            }
        }
        let body = tx.request.body();
        let offer = !body.is_empty();
        if offer {
            b = b.body(
                tx.request
                    .value(Name::ContentType)
                    .unwrap_or("application/sdp"),
                body,
            );
        }
        let peer = leg.peer;
        let id = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(
            id,
            Purpose::Relay {
                from,
                server: tx,
                offer,
                cseq,
            },
        );
        self.send(id, b.finish(), peer).await;
    }

    async fn on_finished(&mut self, tx: u64) -> Next {
        self.answered(tx).await;
        match self.pending.remove(&tx) {
            Some(Purpose::Fork(i)) => {
                if self.forks[i].stale || self.forks[i].tx != tx {
                    return Next::Continue;
                }
                if !self.forks[i].done {
                    // No final answer: the far end is not there.
                    self.forks[i].done = true;
                    self.best_failure.get_or_insert(408);
                }
                self.check_forks().await
            }
            Some(Purpose::Relay { server, .. }) => {
                // The other side never answered.
                server.reply(408, None).await;
                Next::Continue
            }
            Some(Purpose::Command { reply: Some(reply) }) => {
                let _ = reply.send(Err(CtiError::Device("the phone did not answer".into())));
                Next::Continue
            }
            Some(Purpose::Digit) => {
                self.dtmf.clear();
                Next::Continue
            }
            Some(Purpose::Join { .. }) => self.hang_up_all("failed").await,
            Some(Purpose::Quiet { side: Some(side) }) => {
                // A session refresh got no answer: the leg is gone.
                if self.legs[side as usize].is_some() && self.answered_at.is_some() {
                    tracing::info!(call = self.id, side = side.name(), "session refresh failed");
                    return self.hang_up_all("session_expired").await;
                }
                Next::Continue
            }
            _ => Next::Continue,
        }
    }

    async fn on_response(&mut self, tx: u64, msg: Arc<Message>) -> Next {
        let code = msg.status().unwrap_or(0);
        match self.pending.get(&tx) {
            Some(Purpose::Fork(i)) => {
                let i = *i;
                self.on_fork_response(i, msg, code).await
            }
            Some(Purpose::Relay { .. }) => {
                if code < 200 {
                    return Next::Continue;
                }
                let Some(Purpose::Relay {
                    from,
                    server,
                    offer,
                    cseq,
                }) = self.pending.remove(&tx)
                else {
                    return Next::Continue;
                };
                let to = from.other();
                let is_invite = server.request.method() == Some("INVITE");
                if is_invite && (200..300).contains(&code) {
                    if offer {
                        self.ack(to, cseq, None).await;
                    } else {
                        self.ack_wait = Some((to, cseq));
                    }
                }
                let mut b = self.in_dialog_response(&server, from, code);
                let body = msg.body();
                if !body.is_empty() {
                    b = b.body(
                        msg.value(Name::ContentType).unwrap_or("application/sdp"),
                        body,
                    );
                }
                server.respond(b.finish()).await;
                if code == 481 || code == 408 {
                    // The other leg no longer exists: end the call.
                    return self.hang_up_all("failed").await;
                }
                Next::Continue
            }
            Some(Purpose::TransferOffer) => {
                if code < 200 {
                    return Next::Continue;
                }
                self.pending.remove(&tx);
                self.on_target_offer(msg, code).await
            }
            Some(Purpose::TransferAnswer { .. }) => {
                if code < 200 {
                    return Next::Continue;
                }
                let Some(Purpose::TransferAnswer { cseq }) = self.pending.remove(&tx) else {
                    return Next::Continue;
                };
                self.on_transferee_answer(msg, code, cseq).await
            }
            Some(Purpose::Command { .. }) | Some(Purpose::Digit) => {
                if code < 200 {
                    return Next::Continue;
                }
                match self.pending.remove(&tx) {
                    Some(Purpose::Command { reply: Some(reply) }) => {
                        let _ = reply.send(if (200..300).contains(&code) {
                            Ok(())
                        } else {
                            Err(CtiError::Device(format!("the phone answered {code}")))
                        });
                    }
                    Some(Purpose::Digit) => {
                        self.dtmf.pop_front();
                        if !(200..300).contains(&code) {
                            tracing::info!(call = self.id, code, "DTMF refused");
                            self.dtmf.clear();
                        }
                        self.next_digit().await;
                    }
                    _ => {}
                }
                Next::Continue
            }
            Some(Purpose::Join { .. }) => {
                if code < 200 {
                    return Next::Continue;
                }
                let Some(Purpose::Join {
                    new,
                    new_cseq,
                    cseq,
                }) = self.pending.remove(&tx)
                else {
                    return Next::Continue;
                };
                self.on_joined(new, new_cseq, cseq, msg, code).await
            }
            Some(Purpose::Quiet { side }) => {
                let side = *side;
                if code >= 200 {
                    self.pending.remove(&tx);
                    self.answered(tx).await;
                    if side.is_some() && (code == 481 || code == 408) {
                        return self.hang_up_all("session_expired").await;
                    }
                }
                Next::Continue
            }
            None => Next::Continue,
        }
    }

    /// ACK the INVITE with `cseq` on `side`, carrying the answer (if any) in `answer`'s body:
    /// the end of an offer that went one way and an answer that came back the other.
    async fn ack_with_answer(&self, side: Side, cseq: u32, answer: &Message) {
        let body = answer.body();
        let ct = answer
            .value(Name::ContentType)
            .unwrap_or("application/sdp")
            .to_string();
        let body = (!body.is_empty()).then_some((ct.as_str(), body));
        self.ack(side, cseq, body).await;
    }

    async fn ack(&self, side: Side, cseq: u32, body: Option<(&str, Bytes)>) {
        let Some(leg) = self.legs[side as usize].as_ref() else {
            return;
        };
        let via = self.inner.endpoint.via(leg.peer.transport);
        let mut b = leg.dialog.ack(cseq, &via);
        if let Some((ct, body)) = body {
            b = b.body(ct, body);
        }
        let _ = self.inner.endpoint.send_to(leg.peer, b.finish()).await;
    }

    async fn on_fork_response(&mut self, i: usize, msg: Arc<Message>, code: u16) -> Next {
        if self.forks[i].stale {
            if (200..300).contains(&code) {
                if let Some(dialog) = Dialog::uac(&self.forks[i].invite, &msg) {
                    let peer = self.forks[i].peer;
                    self.release_late(dialog, peer).await;
                }
            } else if let (true, Some(reason)) = (code < 200, self.forks[i].cancel_pending) {
                self.forks[i].cancel_pending = None;
                self.forks[i].provisional = true;
                self.cancel_fork(i, reason).await;
            }
            return Next::Continue;
        }
        if code < 200 {
            if code == 100 {
                if !self.forks[i].provisional {
                    self.forks[i].provisional = true;
                    if let Some(reason) = self.forks[i].cancel_pending.take() {
                        self.cancel_fork(i, reason).await;
                    }
                }
                return Next::Continue;
            }
            self.forks[i].provisional = true;
            if let Some(reason) = self.forks[i].cancel_pending.take() {
                self.cancel_fork(i, reason).await;
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
            Role::Called if self.a_invite.is_none() && (200..300).contains(&code) => {
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
            let Some(a) = self.a_invite.as_ref() else {
                return Next::Continue;
            };
            let Some(a_dialog) = Dialog::uas(&a.request, &self.a_tag) else {
                return self.hang_up_all("failed").await;
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
            let body = msg.body();
            if !body.is_empty() {
                b = b.body(
                    msg.value(Name::ContentType).unwrap_or("application/sdp"),
                    body,
                );
            }
            a.respond(b.finish()).await;
            self.a_answered = true;
            self.answered_at = Some(now_ms());
            self.ring_deadline = None;
            tracing::info!(call = self.id, device = ?self.called_device, trunk = ?self.called_trunk, "connected");
            self.inner.events.emit(Notice::CallConnected {
                call: self.id,
                parties: self.parties(),
            });
            return Next::Continue;
        }
        // A failure from one fork. A trunk that challenges gets its stored credentials once.
        if matches!(code, 401 | 407) && self.answer_challenge(i, &msg, code).await {
            return Next::Continue;
        }
        self.forks[i].done = true;
        if code == 486 || code == 600 {
            self.busy_seen = true;
        }
        let trunk_failover = self.forks[i].trunk.is_some() && matches!(code, 408 | 500 | 503);
        if !trunk_failover {
            self.trunks.clear();
            let better = match self.best_failure {
                None => true,
                Some(old) => code >= 600 || (old != 487 && code < old && code != 487),
            };
            if better {
                self.best_failure = Some(code);
            }
        } else {
            self.best_failure = Some(code);
        }
        if code == 487 && self.legs[Side::B as usize].is_some() {
            return Next::Continue;
        }
        self.check_forks().await
    }

    async fn release_late(&mut self, mut dialog: Dialog, peer: Peer) {
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

    // ---- transfer (REFER) ------------------------------------------------------------

    /// Tell the transferor how its REFER goes (RFC 3515: NOTIFY with a sipfrag).
    async fn notify_transferor(
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
    async fn answered(&mut self, tx: u64) {
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
    async fn transfer_failed(&mut self, status: u16) -> Next {
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

    async fn on_refer(&mut self, side: Side, tx: ServerTransaction) -> Next {
        if self.transfer.is_some() || self.ack_wait.is_some() {
            let b = build::response(&tx.request, 491, Some(tx.peer.addr), None).finish();
            tx.respond(b).await;
            return Next::Continue;
        }
        let refer_to = tx
            .request
            .values_named("Refer-To")
            .next()
            .or_else(|| tx.request.values_named("r").next())
            .and_then(dialtone_sip::NameAddr::parse)
            .and_then(|n| {
                let uri = n.uri().ok()?;
                Some((uri.user?.to_string(), uri.headers.to_string()))
            });
        let Some((target, uri_headers)) = refer_to else {
            let b = build::response(&tx.request, 400, Some(tx.peer.addr), None)
                .header("Warning", "399 dialtone \"Refer-To names no number\"")
                .finish();
            tx.respond(b).await;
            return Next::Continue;
        };
        let b = self.in_dialog_response(&tx, side, 202).finish();
        tx.respond(b).await;
        self.transfer = Some(Transfer {
            transferor: side,
            old_leg: None,
            target_ack: None,
            notify: true,
        });
        self.notify_transferor(Some(side), 100, false).await;
        match replaces_call_id(&uri_headers) {
            Some(call_id) => self.attended_transfer(side, &call_id).await,
            None => self.blind_transfer(side, &target).await,
        }
    }

    /// Blind transfer: ring the target, as the transferor would have dialled it.
    async fn blind_transfer(&mut self, side: Side, target: &str) -> Next {
        let snapshot = self.inner.directory.get();
        let caller = if side == Side::A {
            self.caller.clone()
        } else {
            // The called side transfers: search with its line's and device's CSS.
            let mut c = self.caller.clone();
            c.css.clear();
            if let Some(l) = self.called_line.as_ref().and_then(|k| snapshot.line(k)) {
                c.css.extend(l.config.css.clone());
            }
            if let Some(d) = self.called_device.as_ref().and_then(|d| snapshot.device(d)) {
                c.css.extend(d.css.clone());
                c.device = Some(d.name.clone());
            }
            c.line = self.called_line.clone();
            c
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
        }
    }

    async fn on_transfer_fork(&mut self, i: usize, msg: Arc<Message>, code: u16) -> Next {
        if code < 200 {
            if code >= 180 {
                self.forks[i].provisional = true;
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
    async fn attended_transfer(&mut self, side: Side, call_id: &str) -> Next {
        let other_call = self.inner.route_of(call_id);
        let Some(other_call) = other_call.filter(|s| !s.same_channel(&self.events_tx)) else {
            return self.transfer_failed(481).await;
        };
        self.take_leg_from(side, other_call, HandOverOf::CallId(call_id.to_string()))
            .await
    }

    /// Take the other call's leg facing the transferor (named by `of`) in place of ours on
    /// `side`, and ask it for a fresh offer for the transferee.
    async fn take_leg_from(
        &mut self,
        side: Side,
        other_call: mpsc::Sender<Event>,
        of: HandOverOf,
    ) -> Next {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _ = other_call.send(Event::HandOver { of, reply }).await;
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

    async fn on_target_offer(&mut self, msg: Arc<Message>, code: u16) -> Next {
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
    async fn offer_to_transferee(&mut self, target_answer: Arc<Message>) -> Next {
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

    async fn on_transferee_answer(&mut self, msg: Arc<Message>, code: u16, cseq: u32) -> Next {
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

    /// Hang up a leg this call no longer uses (a transferor's).
    async fn release(&mut self, mut old: Leg) {
        let via = self.inner.endpoint.via(old.peer.transport);
        let bye = old.dialog.request("BYE", &via).finish();
        let tx = self.next_tx;
        self.next_tx += 1;
        self.pending.insert(tx, Purpose::Quiet { side: None });
        self.send(tx, bye, old.peer).await;
    }

    /// The transferor's last NOTIFY was answered (or timed out): release its leg now.
    async fn release_after(&mut self, tx: u64) {
        if self.releasing.as_ref().is_some_and(|(t, _)| *t == tx) {
            if let Some((_, old)) = self.releasing.take() {
                self.release(old).await;
            }
        }
    }

    /// Another call takes our leg that is not `call_id` (Replaces); this call ends.
    async fn hand_over(
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

    // ---- the end -------------------------------------------------------------------

    async fn finish(mut self, cause: &'static str, status: u16, by: &'static str) {
        if let Some((_, old)) = self.releasing.take() {
            self.release(old).await;
        }
        let me = self.events_tx.clone();
        if let Some(c) = self.a_invite.as_ref().and_then(|a| a.request.call_id()) {
            self.inner.unbind_route_of(c, &me);
        }
        self.inner.by_id.with(&self.id, |m| m.remove(&self.id));
        self.leave_route_point();
        if let Some(slot) = self.parked.take() {
            self.inner.parks.with(&slot, |m| m.remove(&slot));
        }
        for f in &self.forks {
            if let Some(c) = f.invite.call_id() {
                self.inner.unbind_route_of(c, &me);
            }
        }
        for leg in self.legs.iter().flatten() {
            self.inner.unbind_route_of(&leg.dialog.call_id, &me);
        }
        for c in &self.released {
            self.inner.unbind_route_of(c, &me);
        }
        self.inner.live.with(&self.id, |live| live.remove(&self.id));
        self.inner.events.emit(Notice::CallEnded {
            call: self.id,
            cause,
            sip_status: if self.answered_at.is_some() {
                200
            } else {
                status
            },
            parties: self.parties(),
        });
        for line in std::mem::take(&mut self.loads) {
            self.inner.load(&line, -1);
        }
        let ended = now_ms();
        let d = self.decision.as_ref();
        let first = self.chain.diversions.first();
        let record = CallRecord {
            id: uuid::Uuid::new_v4().to_string(),
            call_id: self
                .a_invite
                .as_ref()
                .and_then(|a| a.request.call_id())
                .map(str::to_string)
                .or_else(|| {
                    self.legs
                        .iter()
                        .flatten()
                        .next()
                        .map(|l| l.dialog.call_id.clone())
                })
                .or_else(|| {
                    self.forks
                        .first()
                        .and_then(|f| f.invite.call_id().map(str::to_string))
                })
                .unwrap_or_default(),
            calling_number: self.caller.number.clone(),
            calling_device: self.caller.device.clone(),
            calling_trunk: self.calling_trunk.clone(),
            dialled_number: self.dialled.clone(),
            called_number: d
                .map(|d| d.called.clone())
                .unwrap_or_else(|| self.dialled.clone()),
            called_device: self.called_device.clone(),
            called_trunk: self.called_trunk.clone(),
            original_called_number: first.map(|_| self.dialled.clone()),
            redirect_reason: self
                .chain
                .diversions
                .last()
                .map(|d| d.reason.as_str().to_string()),
            pattern: d.map(|d| d.pattern.clone()),
            partition: d.and_then(|d| d.partition.clone()),
            authorization_code_name: d.and_then(|d| d.fac.as_ref().map(|f| f.0.clone())),
            authorization_level: d.and_then(|d| d.fac.as_ref().map(|f| f.1)),
            client_matter_code: d.and_then(|d| d.cmc.clone()),
            started_at: self.started,
            answered_at: self.answered_at,
            ended_at: ended,
            duration_seconds: self.answered_at.map(|a| (ended - a) / 1000).unwrap_or(0),
            cause: cause.to_string(),
            sip_status: if self.answered_at.is_some() {
                200
            } else {
                status
            },
            ended_by: by.to_string(),
        };
        let _ = self.inner.records.send(record).await;
    }
}

/// The Call-ID a Refer-To's `Replaces` header names (RFC 3891), its escapes undone.
fn replaces_call_id(uri_headers: &str) -> Option<String> {
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

/// The Session-Expires header (long or compact form).
fn session_expires(m: &Message) -> Option<&str> {
    m.values_named("Session-Expires")
        .next()
        .or_else(|| m.values_named("x").next())
}
