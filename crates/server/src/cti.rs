//! CTI over the network: a WebSocket carrying JSON messages (`/api/v1/cti/ws`), the same
//! operations as REST under `/api/v1/cti`, and a filtered event stream (`/api/v1/cti/events`,
//! what `dialtone cti watch` reads). The protocol is documented in `docs/cti.md`.
//!
//! Every operation is checked against the application user's rights: the role Standard CTI
//! Enabled to connect at all; then the devices in its `devices` list (or every device with
//! Standard CTI Allow Control of All Devices); a line is controlled through a device that
//! carries it. One function, `Session::run`, carries out an operation for both transports.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use dialtone_admin::auth::{Authenticated, Caller};
use dialtone_admin::{AdminState, ApiError};
use dialtone_callcontrol::calls::{CallView, Command, CtiError, MakeCall, RouteAction};
use dialtone_callcontrol::events::{Delivery, Key};
use dialtone_callcontrol::{Calls, Events};
use dialtone_store::catalogue::ADMIN_ROLE;
use serde::Deserialize;
use serde_json::{json, Value};

const CTI_ROLE: &str = "Standard CTI Enabled";
const ALL_DEVICES_ROLE: &str = "Standard CTI Allow Control of All Devices";
/// Lines and devices one watch request may name (an attendant console watches thousands).
const MAX_WATCH_KEYS: usize = 20_000;

/// Serialised snapshots by a hash of the watch set: when each was made, and its text.
type SnapshotCache = std::collections::HashMap<u64, (Instant, Arc<str>)>;

#[derive(Clone)]
pub struct CtiState {
    pub admin: AdminState,
    pub calls: Calls,
    pub events: Events,
    next_app: Arc<AtomicU64>,
    recent: Arc<std::sync::Mutex<(Instant, Arc<Vec<CallView>>)>>,
    /// Resynchronisation snapshots by watch set, as of at most `RECENT` ago.
    snapshots: Arc<std::sync::Mutex<SnapshotCache>>,
    /// Park slots belong to the application user that parked there.
    park_owners: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// A WebSocket client is pinged this often; one that answers nothing for three pings, or
    /// does not take what is written to it within one, is dropped (its watch with it).
    pub keepalive: Duration,
}

impl CtiState {
    pub fn new(admin: AdminState, calls: Calls, events: Events) -> CtiState {
        CtiState {
            admin,
            calls,
            events,
            next_app: Arc::new(AtomicU64::new(1)),
            recent: Arc::new(std::sync::Mutex::new((
                Instant::now() - RECENT,
                Arc::new(Vec::new()),
            ))),
            snapshots: Arc::default(),
            park_owners: Arc::default(),
            keepalive: Duration::from_secs(30),
        }
    }

    /// The live calls as of at most `RECENT` ago.
    fn recent_calls(&self) -> Arc<Vec<CallView>> {
        let mut r = self.recent.lock().expect("recent calls");
        if r.0.elapsed() >= RECENT {
            *r = (Instant::now(), Arc::new(self.calls.live()));
        }
        r.1.clone()
    }
}

/// How old a listing of live calls a resynchronising watcher may be given.
const RECENT: Duration = Duration::from_millis(200);

pub fn router(state: CtiState) -> Router {
    Router::new()
        .route("/api/v1/cti/ws", get(websocket))
        .route("/api/v1/cti/events", get(event_stream))
        .route("/api/v1/cti/calls", get(list_calls).post(make_call))
        .route("/api/v1/cti/calls/{id}/{command}", post(call_command))
        .route("/api/v1/cti/lines/{number}", get(line_state))
        .route("/api/v1/cti/parks", get(parks))
        .route("/api/v1/cti/parks/{slot}/unpark", post(unpark))
        .route("/api/v1/cti/devices/{name}/{action}", post(device_action))
        .with_state(state.admin.clone())
        .layer(axum::Extension(state))
}

/// What an application user may control.
#[derive(Clone)]
struct Rights {
    user: String,
    all: bool,
    devices: HashSet<String>,
}

impl Rights {
    async fn of(st: &CtiState, caller: &Caller) -> Result<Rights, ApiError> {
        let admin = caller.has_role(ADMIN_ROLE);
        if !admin && !caller.has_role(CTI_ROLE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("'{}' lacks the {CTI_ROLE} role", caller.user_id),
            ));
        }
        let res = dialtone_store::catalogue::resource("application-users")
            .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no catalogue"))?;
        let record = st.admin.store.get(res, &caller.user_id).await?;
        let devices = record["devices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Rights {
            user: caller.user_id.clone(),
            all: admin || caller.has_role(ALL_DEVICES_ROLE),
            devices,
        })
    }

    fn device(&self, name: &str) -> bool {
        self.all || self.devices.contains(name)
    }

    fn line(&self, calls: &Calls, number: &str) -> bool {
        self.all
            || calls
                .directory()
                .line_by_number(number)
                .is_some_and(|l| l.devices.iter().any(|d| self.devices.contains(d)))
    }

    fn call(&self, calls: &Calls, v: &CallView) -> bool {
        self.all
            || [&v.calling_device, &v.called_device]
                .into_iter()
                .flatten()
                .any(|d| self.device(d))
            || [&v.calling, &v.called]
                .into_iter()
                .any(|n| self.line(calls, n))
    }

    fn refuse(&self, what: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("'{}' may not control {what}", self.user),
        )
    }
}

fn cti_error(e: CtiError) -> ApiError {
    let status = match &e {
        CtiError::NoSuchCall(_)
        | CtiError::NoSuchLine(_)
        | CtiError::NoSuchDevice(_)
        | CtiError::NoSuchSlot(_) => StatusCode::NOT_FOUND,
        CtiError::NotAParty(_) | CtiError::Unroutable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        CtiError::NotRegistered(_) | CtiError::State(_) | CtiError::Taken(_) => {
            StatusCode::CONFLICT
        }
        CtiError::Device(_) => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, e.to_string())
}

fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::field(StatusCode::BAD_REQUEST, field, why.to_string())
}

/// One operation, as a WebSocket message (`op`) or a REST call maps to it.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Watch {
        #[serde(default)]
        lines: Vec<String>,
        #[serde(default)]
        devices: Vec<String>,
    },
    Unwatch {
        #[serde(default)]
        lines: Vec<String>,
        #[serde(default)]
        devices: Vec<String>,
    },
    Snapshot,
    MakeCall(MakeCall),
    Command {
        call: u64,
        #[serde(default)]
        party: Option<String>,
        #[serde(flatten)]
        command: Command,
    },
    Unpark {
        slot: String,
        line: String,
    },
    Reset {
        device: String,
        #[serde(default)]
        restart: bool,
    },
    RegisterRoutePoint {
        number: String,
    },
    Route {
        call: u64,
        request: u64,
        #[serde(flatten)]
        action: RouteAction,
    },
}

/// What one connection (or one REST request) is: its rights, and for a WebSocket its
/// watcher and route points.
struct Session {
    st: CtiState,
    rights: Rights,
    app: u64,
    watcher: Option<dialtone_callcontrol::events::Watcher>,
    route_requests: Option<tokio::sync::mpsc::Sender<Arc<dialtone_callcontrol::Event>>>,
}

impl Session {
    fn check_line(&self, number: &str) -> Result<(), ApiError> {
        if self.st.calls.directory().line_by_number(number).is_none() {
            return Err(cti_error(CtiError::NoSuchLine(number.into())));
        }
        if !self.rights.line(&self.st.calls, number) {
            return Err(self.rights.refuse(&format!("line {number}")));
        }
        Ok(())
    }

    fn check_device(&self, name: &str) -> Result<(), ApiError> {
        if self.st.calls.directory().device(name).is_none() {
            return Err(cti_error(CtiError::NoSuchDevice(name.into())));
        }
        if !self.rights.device(name) {
            return Err(self.rights.refuse(&format!("device {name}")));
        }
        Ok(())
    }

    /// A park slot in use belongs to the application user that parked there.
    fn check_slot(&self, slot: &str) -> Result<(), ApiError> {
        let owners = self.st.park_owners.lock().expect("park owners");
        match owners.get(slot) {
            Some(owner)
                if *owner != self.rights.user
                    && self.st.calls.parked().iter().any(|(s, _)| s == slot) =>
            {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("park slot {slot} belongs to '{owner}'"),
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_call(&self, call: u64) -> Result<CallView, ApiError> {
        let view = self
            .st
            .calls
            .view(call)
            .ok_or_else(|| cti_error(CtiError::NoSuchCall(call)))?;
        if !self.rights.call(&self.st.calls, &view) {
            return Err(self.rights.refuse(&format!("call {call}")));
        }
        Ok(view)
    }

    /// The calls on lines and devices this session watches (or may control, over REST).
    fn snapshot(&self) -> Value {
        self.snapshot_of(&self.st.calls.live())
    }

    /// A snapshot after a lag: from a view of the live calls shared by every watcher that
    /// lagged in the same moment (a burst of lags costs one listing, not one each).
    /// Watchers that watch the same lines (consoles sharing one set) share one serialised
    /// snapshot, too.
    fn resync(&self) -> Arc<str> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.watcher.as_ref().map(|w| w.watching()).hash(&mut h);
        let key = h.finish();
        let mut cache = self.st.snapshots.lock().expect("snapshots");
        if let Some((at, text)) = cache.get(&key) {
            if at.elapsed() < RECENT {
                return text.clone();
            }
        }
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < RECENT);
        }
        let text: Arc<str> = self.snapshot_of(&self.st.recent_calls()).to_string().into();
        cache.insert(key, (Instant::now(), text.clone()));
        text
    }

    fn snapshot_of(&self, live: &[CallView]) -> Value {
        let keys: Option<&[Key]> = self.watcher.as_ref().map(|w| w.watching());
        let watched: Option<HashSet<&Key>> = keys.map(|k| k.iter().collect());
        let calls: Vec<&CallView> = live
            .iter()
            .filter(|v| match &watched {
                Some(w) => {
                    let line = |n: &String| w.contains(&Key::Line(n.clone()));
                    let device = |d: &Option<String>| {
                        d.as_ref()
                            .is_some_and(|d| w.contains(&Key::Device(d.clone())))
                    };
                    line(&v.calling)
                        || line(&v.called)
                        || device(&v.calling_device)
                        || device(&v.called_device)
                }
                None => self.rights.call(&self.st.calls, v),
            })
            .collect();
        let lines: Vec<Value> = keys
            .unwrap_or(&[])
            .iter()
            .filter_map(|k| match k {
                Key::Line(l) => Some(line_json(&self.st.calls, l)),
                Key::Device(_) => None,
            })
            .collect();
        json!({ "event": "snapshot", "calls": calls, "lines": lines })
    }

    async fn run(&mut self, op: Op) -> Result<Value, ApiError> {
        let calls = self.st.calls.clone();
        match op {
            Op::Watch { lines, devices } | Op::Unwatch { lines, devices }
                if lines.len() + devices.len() > MAX_WATCH_KEYS =>
            {
                Err(bad(
                    "lines",
                    format!("at most {MAX_WATCH_KEYS} lines and devices per request"),
                ))
            }
            Op::Watch { lines, devices } => {
                for l in &lines {
                    self.check_line(l)?;
                }
                for d in &devices {
                    self.check_device(d)?;
                }
                let w = self
                    .watcher
                    .as_mut()
                    .ok_or_else(|| bad("op", "watch needs a WebSocket (or /cti/events)"))?;
                for l in lines {
                    w.watch(Key::Line(l));
                }
                for d in devices {
                    w.watch(Key::Device(d));
                }
                Ok(json!({ "watching": w.watching().len() }))
            }
            Op::Unwatch { lines, devices } => {
                let w = self
                    .watcher
                    .as_mut()
                    .ok_or_else(|| bad("op", "unwatch needs a WebSocket"))?;
                for l in lines {
                    w.unwatch(&Key::Line(l));
                }
                for d in devices {
                    w.unwatch(&Key::Device(d));
                }
                Ok(json!({ "watching": w.watching().len() }))
            }
            Op::Snapshot => Ok(self.snapshot()),
            Op::MakeCall(req) => {
                self.check_line(&req.line)?;
                if let Some(d) = &req.device {
                    self.check_device(d)?;
                }
                let call = calls.make_call(req).await.map_err(cti_error)?;
                Ok(json!({ "call": call }))
            }
            Op::Command {
                call,
                party,
                command,
            } => {
                self.check_call(call)?;
                if let Some(p) = &party {
                    let ok = self.rights.device(p) || self.rights.line(&calls, p);
                    if !ok {
                        return Err(self.rights.refuse(p));
                    }
                }
                if let Command::Transfer {
                    consult_call: Some(other),
                    ..
                } = &command
                {
                    self.check_call(*other)?;
                }
                let slot = match &command {
                    Command::Park { slot } => Some(slot.clone()),
                    _ => None,
                };
                if let Some(slot) = &slot {
                    self.check_slot(slot)?;
                }
                calls
                    .command(call, party, command)
                    .await
                    .map_err(cti_error)?;
                if let Some(slot) = slot {
                    let mut owners = self.st.park_owners.lock().expect("park owners");
                    owners.retain(|s, _| calls.parked().iter().any(|(p, _)| p == s));
                    owners.insert(slot, self.rights.user.clone());
                }
                Ok(json!({ "call": call }))
            }
            Op::Unpark { slot, line } => {
                self.check_line(&line)?;
                self.check_slot(&slot)?;
                let call = calls.unpark(&slot, &line).await.map_err(cti_error)?;
                Ok(json!({ "call": call }))
            }
            Op::Reset { device, restart } => {
                self.check_device(&device)?;
                let n = calls.reset(&device, restart).await.map_err(cti_error)?;
                Ok(json!({ "device": device, "contacts": n }))
            }
            Op::RegisterRoutePoint { number } => {
                let snapshot = calls.directory();
                let line = snapshot
                    .line_by_number(&number)
                    .ok_or_else(|| cti_error(CtiError::NoSuchLine(number.clone())))?;
                let rp_device = line.devices.iter().find(|d| {
                    snapshot
                        .device(d)
                        .is_some_and(|d| d.model == "CTI Route Point")
                });
                let Some(rp_device) = rp_device else {
                    return Err(bad(
                        "number",
                        format!("{number} is not on a CTI Route Point device"),
                    ));
                };
                if !self.rights.device(rp_device) {
                    return Err(self.rights.refuse(&format!("route point {rp_device}")));
                }
                let requests = self
                    .route_requests
                    .clone()
                    .ok_or_else(|| bad("op", "route points need a WebSocket"))?;
                calls
                    .route_points()
                    .register(&number, self.app, requests)
                    .map_err(cti_error)?;
                Ok(json!({ "route_point": number }))
            }
            Op::Route {
                call,
                request,
                action,
            } => {
                calls
                    .route(call, request, action)
                    .await
                    .map_err(cti_error)?;
                Ok(json!({ "call": call }))
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The application is gone: its route points' calls fall through.
        if self.route_requests.is_some() {
            self.st.calls.route_points().release(self.app);
        }
    }
}

fn line_json(calls: &Calls, number: &str) -> Value {
    let snapshot = calls.directory();
    let Some(line) = snapshot.line_by_number(number) else {
        return json!({ "line": number, "exists": false });
    };
    let registered: Vec<String> = {
        let mut v: Vec<String> = calls
            .registrar()
            .contacts(&snapshot, &line.key)
            .into_iter()
            .map(|b| b.device)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let on_line: Vec<CallView> = calls
        .live()
        .into_iter()
        .filter(|v| v.calling == number || v.called == number)
        .collect();
    let state = on_line
        .iter()
        .map(|c| c.state)
        .max_by_key(|s| match *s {
            "connected" => 4,
            "held" => 3,
            "ringing" | "offered" | "originating" => 2,
            _ => 1,
        })
        .unwrap_or("idle");
    json!({
        "line": number,
        "state": state,
        "registered": registered,
        "devices": line.devices,
        "dnd": line.config.dnd,
        "forward_all": line.config.forward_all.destination,
        "calls": on_line,
    })
}

async fn session(st: &CtiState, caller: &Caller) -> Result<Session, ApiError> {
    Ok(Session {
        rights: Rights::of(st, caller).await?,
        st: st.clone(),
        app: st.next_app.fetch_add(1, Ordering::Relaxed),
        watcher: None,
        route_requests: None,
    })
}

/// The body of a REST request as JSON: an object, or nothing.
fn body_object(body: Option<Json<Value>>) -> Result<serde_json::Map<String, Value>, ApiError> {
    match body.map(|Json(v)| v) {
        None | Some(Value::Null) => Ok(serde_json::Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(bad("", "the body must be a JSON object")),
    }
}

fn op_from(map: serde_json::Map<String, Value>) -> Result<Op, ApiError> {
    let v = Value::Object(map);
    serde_json::from_value::<Op>(v).map_err(|e| bad("", e))
}

async fn rest(st: &CtiState, caller: &Caller, op: Op) -> Result<Json<Value>, ApiError> {
    let mut s = session(st, caller).await?;
    s.run(op).await.map(Json)
}

async fn make_call(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    body: Option<Json<Value>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut map = body_object(body)?;
    map.insert("op".into(), "make_call".into());
    let op = op_from(map)?;
    Ok((StatusCode::CREATED, rest(&st, &caller, op).await?))
}

async fn call_command(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    Path((id, command)): Path<(u64, String)>,
    body: Option<Json<Value>>,
) -> Result<Json<Value>, ApiError> {
    let mut map = body_object(body)?;
    map.insert("op".into(), "command".into());
    map.insert("call".into(), id.into());
    map.insert("command".into(), command.into());
    rest(&st, &caller, op_from(map)?).await
}

async fn unpark(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    Path(slot): Path<String>,
    body: Option<Json<Value>>,
) -> Result<Json<Value>, ApiError> {
    let mut map = body_object(body)?;
    map.insert("op".into(), "unpark".into());
    map.insert("slot".into(), slot.into());
    rest(&st, &caller, op_from(map)?).await
}

async fn device_action(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    Path((device, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let restart = match action.as_str() {
        "reset" => false,
        "restart" => true,
        _ => return Err(bad("action", "reset or restart")),
    };
    rest(&st, &caller, Op::Reset { device, restart }).await
}

async fn list_calls(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let s = session(&st, &caller).await?;
    Ok(Json(json!({ "items": s.snapshot()["calls"] })))
}

async fn line_state(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = session(&st, &caller).await?;
    s.check_line(&number)?;
    Ok(Json(line_json(&st.calls, &number)))
}

async fn parks(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let s = session(&st, &caller).await?;
    let items: Vec<Value> = st
        .calls
        .parked()
        .into_iter()
        .filter(|(slot, _)| s.check_slot(slot).is_ok())
        .map(|(slot, call)| json!({ "slot": slot, "call": call }))
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct WatchQuery {
    #[serde(default)]
    lines: Option<String>,
    #[serde(default)]
    devices: Option<String>,
}

fn split_list(v: Option<String>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The events of some lines and devices as Server-Sent Events (what `dialtone cti watch`
/// reads): a snapshot first, then events; after a lag, `lagged` and a fresh snapshot.
async fn event_stream(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    Query(q): Query<WatchQuery>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event as Sse, KeepAlive};
    use axum::response::IntoResponse;
    let mut s = session(&st, &caller).await?;
    s.watcher = Some(st.events.watcher());
    let (lines, devices) = (split_list(q.lines), split_list(q.devices));
    if lines.is_empty() && devices.is_empty() {
        return Err(bad("lines", "name lines or devices to watch"));
    }
    s.run(Op::Watch { lines, devices }).await?;
    let first = s.snapshot();
    let stream = futures_util::stream::unfold((s, Some(first)), |(mut s, first)| async move {
        if let Some(v) = first {
            return Some((
                Ok::<_, std::convert::Infallible>(Sse::default().data(v.to_string())),
                (s, None),
            ));
        }
        let w = s.watcher.as_mut()?;
        let delivery = w.next().await;
        let mut missed = w.take_missed();
        if missed > 0 {
            missed += w.discard_queued();
            let text = format!(
                "{}\n{}",
                json!({"event": "lagged", "missed": missed}),
                s.resync()
            );
            return Some((Ok(Sse::default().data(text)), (s, None)));
        }
        let sse = match delivery {
            Delivery::Event(e) => Sse::default().data(e.json.clone()),
            // Word of a lag already told: nothing to say.
            Delivery::Lagged => Sse::default().comment(""),
        };
        Some((Ok(sse), (s, None)))
    });
    Ok(axum::response::sse::Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The WebSocket: requests `{"op": ..., "id": N}` answered `{"reply": N, "ok": true, ...}` or
/// `{"reply": N, "ok": false, "status": 4xx, "error": "..."}`; events interleaved as they
/// happen.
///
/// Programs authenticate with the upgrade's Authorization header. Browsers cannot set it, so a
/// page offers the subprotocols `dialtone-cti` and `bearer.<token>` (a token from
/// `POST /api/v1/auth/token`); the server picks `dialtone-cti`.
async fn websocket(
    axum::Extension(st): axum::Extension<CtiState>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let offered_token = headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("bearer.").map(str::to_string));
    let caller = match offered_token {
        Some(token) if !headers.contains_key(axum::http::header::AUTHORIZATION) => {
            dialtone_admin::auth::token_caller(&st.admin, &token).await?
        }
        _ => dialtone_admin::auth::authenticate(&st.admin, &headers).await?,
    };
    let mut s = session(&st, &caller).await?;
    let max = st.admin.settings.max_import_bytes.clamp(64 * 1024, 4 << 20);
    Ok(ws
        .protocols(["dialtone-cti"])
        .max_message_size(max)
        .on_upgrade(move |socket| async move {
            s.watcher = Some(s.st.events.watcher());
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            s.route_requests = Some(tx);
            serve_socket(s, socket, rx).await;
        }))
}

async fn serve_socket(
    mut s: Session,
    socket: WebSocket,
    mut route_requests: tokio::sync::mpsc::Receiver<Arc<dialtone_callcontrol::Event>>,
) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    // Replies to slow commands (a phone that takes its time) must not hold up events, so
    // commands run as tasks and their replies come back here.
    let (replies_tx, mut replies) = tokio::sync::mpsc::channel::<Value>(256);
    // After a lag the watcher gets `lagged` and a snapshot, at most once a second: a watcher
    // that keeps lagging must not turn into a stream of notices and snapshots. While one is
    // owed, events are not read (the snapshot will supersede them); `missed` adds up.
    const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
    let mut last_snapshot = Instant::now() - SNAPSHOT_EVERY;
    let mut snapshot_owed = false;
    let mut missed_owed = 0u64;
    // A client that vanished (power, network) closes nothing: pings find it out.
    let keepalive = s.st.keepalive;
    let mut heard = Instant::now();
    let mut next_ping = Instant::now() + keepalive;
    loop {
        let snapshot_at = last_snapshot + SNAPSHOT_EVERY;
        let out: Vec<String> = tokio::select! {
            _ = tokio::time::sleep_until(next_ping.into()) => {
                if heard.elapsed() >= keepalive * 3 {
                    tracing::info!(app = s.app, "CTI client silent for three pings: dropped");
                    return;
                }
                next_ping = Instant::now() + keepalive;
                let ping = sink.send(Message::Ping(Default::default()));
                if !matches!(tokio::time::timeout(keepalive, ping).await, Ok(Ok(()))) {
                    return;
                }
                continue;
            }
            incoming = stream.next() => {
                let Some(Ok(msg)) = incoming else { break };
                heard = Instant::now();
                let text = match msg {
                    Message::Text(t) => t.as_str().to_owned(),
                    Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let (id, op) = match parse_request(&text) {
                    (id, Ok(op)) => (id, op),
                    (id, Err(e)) => {
                        let _ = replies_tx.try_send(error_reply(id, e));
                        continue;
                    }
                };
                // Watching, snapshots and route point registration change this connection;
                // they run here. Commands run beside it.
                let local = matches!(
                    op,
                    Op::Watch { .. } | Op::Unwatch { .. } | Op::Snapshot | Op::RegisterRoutePoint { .. }
                );
                if local {
                    vec![reply(id, s.run(op).await).to_string()]
                } else {
                    let mut detached = Session {
                        st: s.st.clone(),
                        rights: s.rights.clone(),
                        app: s.app,
                        watcher: None,
                        route_requests: None,
                    };
                    let replies_tx = replies_tx.clone();
                    tokio::spawn(async move {
                        let r = detached.run(op).await;
                        let _ = replies_tx.send(reply(id, r)).await;
                    });
                    continue;
                }
            }
            _ = tokio::time::sleep_until(snapshot_at.into()), if snapshot_owed => {
                snapshot_owed = false;
                last_snapshot = Instant::now();
                if let Some(w) = s.watcher.as_mut() {
                    missed_owed += w.discard_queued() + w.take_missed();
                }
                let lagged = json!({"event": "lagged", "missed": std::mem::take(&mut missed_owed)});
                vec![lagged.to_string(), s.resync().to_string()]
            }
            Some(r) = replies.recv() => vec![r.to_string()],
            Some(req) = route_requests.recv() => vec![serde_json::to_string(&*req).unwrap_or_default()],
            Some(delivery) = async { Some(s.watcher.as_mut()?.next().await) }, if !snapshot_owed => {
                let Some(w) = s.watcher.as_mut() else { continue };
                let missed = w.take_missed();
                let e = match delivery {
                    Delivery::Event(e) => Some(e),
                    Delivery::Lagged if missed == 0 => continue,
                    Delivery::Lagged => None,
                };
                if missed > 0 {
                    // The snapshot supersedes whatever is still queued.
                    missed_owed += missed + w.discard_queued() + u64::from(e.is_some());
                    if Instant::now() >= snapshot_at {
                        last_snapshot = Instant::now();
                        let lagged =
                            json!({"event": "lagged", "missed": std::mem::take(&mut missed_owed)});
                        vec![lagged.to_string(), s.resync().to_string()]
                    } else {
                        snapshot_owed = true;
                        continue;
                    }
                } else {
                    // What else is queued goes out with it: one flush for the lot.
                    let mut batch: Vec<String> = e.iter().map(|e| e.json.clone()).collect();
                    while batch.len() < 64 {
                        match w.try_recv() {
                            Some(e) => batch.push(e.json.clone()),
                            None => break,
                        }
                    }
                    batch
                }
            }
        };
        // A client that stops reading holds a write no longer than one keepalive.
        let written = tokio::time::timeout(keepalive, async {
            for text in out {
                sink.feed(Message::Text(text.into())).await?;
            }
            sink.flush().await
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

/// A WebSocket request: its `id` (null when it has none or cannot be read) and its operation.
fn parse_request(text: &str) -> (Value, Result<Op, ApiError>) {
    let mut v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return (Value::Null, Err(bad("", e))),
    };
    let Some(map) = v.as_object_mut() else {
        return (Value::Null, Err(bad("", "a request is a JSON object")));
    };
    let id = map.remove("id").unwrap_or(Value::Null);
    if !map.contains_key("op") {
        return (id, Err(bad("op", "missing")));
    }
    let op = op_from(std::mem::take(map));
    (id, op)
}

fn error_reply(id: Value, e: ApiError) -> Value {
    json!({ "reply": id, "ok": false, "status": e.status.as_u16(), "error": e.message })
}

fn reply(id: Value, r: Result<Value, ApiError>) -> Value {
    match r {
        Ok(mut v) => {
            if let Some(m) = v.as_object_mut() {
                m.insert("reply".into(), id);
                m.insert("ok".into(), true.into());
            }
            v
        }
        Err(e) => error_reply(id, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_their_commands_and_reject_unknown_fields() {
        let (id, op) = parse_request(
            r#"{"id": 7, "op": "command", "call": 3, "party": "1001", "command": "redirect", "destination": "1002"}"#,
        );
        let op = op.unwrap();
        assert_eq!(id, json!(7));
        match op {
            Op::Command {
                call: 3,
                party: Some(p),
                command: Command::Redirect { destination },
            } => {
                assert_eq!(p, "1001");
                assert_eq!(destination, "1002");
            }
            other => panic!("{other:?}"),
        }
        let op = parse_request(r#"{"op": "route", "call": 1, "request": 2, "action": "accept"}"#)
            .1
            .unwrap();
        assert!(matches!(
            op,
            Op::Route {
                action: RouteAction::Accept,
                ..
            }
        ));
        let (id, e) =
            parse_request(r#"{"id": "x", "op": "command", "call": 1, "command": "explode"}"#);
        let e = e.unwrap_err();
        assert_eq!(id, json!("x"));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse_request(r#"{"op": "make_call", "line": "1001"}"#)
            .1
            .is_err());
        assert!(parse_request("[1]").1.is_err());
    }
}
