//! CTI over the network: a WebSocket carrying JSON messages (`/api/v1/cti/ws`), the same
//! operations as REST under `/api/v1/cti`, and a filtered event stream (`/api/v1/cti/events`,
//! what `dialtone cti watch` reads). The protocol is documented in `docs/cti.md`.
//!
//! These are transports only: each request authenticates its application user, opens a
//! `dialtone_cti` session (which checks every operation against the user's rights) and
//! carries the session's operations and answers in the shapes of `dialtone_cti::wire`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use dialtone_callcontrol::events::Delivery;
use dialtone_cti::wire::{self, Op};
use dialtone_cti::{Application, Cti, CtiSession};
use dialtone_web::accounts::Authenticated;
use dialtone_web::openapi::{error_responses, with, Paths};
use dialtone_web::{Accounts, ApiError, Caller};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Clone)]
pub struct CtiState {
    pub accounts: Accounts,
    /// The largest WebSocket message a client may send.
    pub max_message: usize,
    pub cti: Cti,
    /// A WebSocket client is pinged this often; one that answers nothing for three pings, or
    /// does not take what is written to it within one, is dropped (its watch with it).
    pub keepalive: Duration,
}

/// A CTI refusal as an HTTP answer.
fn api_error(e: dialtone_cti::Error) -> ApiError {
    match e {
        dialtone_cti::Error::Store(e) => e.into(),
        dialtone_cti::Error::Invalid { field, message } => {
            ApiError::field(StatusCode::BAD_REQUEST, field, message)
        }
        other => ApiError::new(
            StatusCode::from_u16(wire::status(&other)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            other.to_string(),
        ),
    }
}

fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::field(StatusCode::BAD_REQUEST, field, why.to_string())
}

async fn session(st: &CtiState, caller: &Caller) -> Result<CtiSession, ApiError> {
    let app = Application {
        user_id: caller.user_id.clone(),
        roles: caller.roles.clone(),
    };
    st.cti.session(&app).await.map_err(api_error)
}

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
        .with_state(state.accounts.clone())
        .layer(axum::Extension(state))
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
    wire::op_from(map).map_err(api_error)
}

async fn rest(st: &CtiState, caller: &Caller, op: Op) -> Result<Json<Value>, ApiError> {
    let mut s = session(st, caller).await?;
    wire::run(&mut s, op).await.map(Json).map_err(api_error)
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
    Ok(Json(json!({ "items": s.snapshot().calls })))
}

async fn line_state(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = session(&st, &caller).await?;
    let status = s.line_status(&number).map_err(api_error)?;
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

async fn parks(
    axum::Extension(st): axum::Extension<CtiState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let s = session(&st, &caller).await?;
    let items: Vec<Value> = s
        .parks()
        .into_iter()
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
    s.open_watcher();
    let (lines, devices) = (split_list(q.lines), split_list(q.devices));
    if lines.is_empty() && devices.is_empty() {
        return Err(bad("lines", "name lines or devices to watch"));
    }
    s.watch(lines, devices).map_err(api_error)?;
    let first = serde_json::to_string(&s.snapshot()).unwrap_or_default();
    let stream = futures_util::stream::unfold((s, Some(first)), |(mut s, first)| async move {
        if let Some(v) = first {
            return Some((
                Ok::<_, std::convert::Infallible>(Sse::default().data(v)),
                (s, None),
            ));
        }
        let w = s.watcher()?;
        let delivery = w.next().await;
        let mut missed = w.take_missed();
        if missed > 0 {
            missed += w.discard_queued();
            let text = format!("{}\n{}", wire::lagged(missed), s.resync());
            return Some((Ok(Sse::default().data(text)), (s, None)));
        }
        let sse = match delivery {
            Delivery::Event(e) => Sse::default().data(e.text()),
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
            st.accounts.token_caller(&token).await?
        }
        _ => st.accounts.authenticate(&headers).await?,
    };
    let mut s = session(&st, &caller).await?;
    let keepalive = st.keepalive;
    let max = st.max_message;
    Ok(ws
        .protocols(["dialtone-cti"])
        .max_message_size(max)
        .on_upgrade(move |socket| async move {
            s.open_watcher();
            let (tx, rx) = tokio::sync::mpsc::channel(1024);
            s.accept_route_requests(tx);
            serve_socket(s, socket, rx, keepalive).await;
        }))
}

async fn serve_socket(
    mut s: CtiSession,
    socket: WebSocket,
    mut route_requests: tokio::sync::mpsc::Receiver<Arc<dialtone_callcontrol::Event>>,
    keepalive: Duration,
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
    let mut heard = Instant::now();
    let mut next_ping = Instant::now() + keepalive;
    loop {
        let snapshot_at = last_snapshot + SNAPSHOT_EVERY;
        let out: Vec<Utf8Bytes> = tokio::select! {
            _ = tokio::time::sleep_until(next_ping.into()) => {
                if heard.elapsed() >= keepalive * 3 {
                    tracing::info!(app = s.app(), "CTI client silent for three pings: dropped");
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
                let (id, op) = match wire::parse_request(&text) {
                    (id, Ok(op)) => (id, op),
                    (id, Err(e)) => {
                        let _ = replies_tx.try_send(wire::error_reply(id, &e));
                        continue;
                    }
                };
                // Watching, snapshots and route point registration change this connection;
                // they run here. Commands run beside it.
                if op.is_local() {
                    vec![wire::reply(id, wire::run(&mut s, op).await).to_string().into()]
                } else {
                    let mut detached = s.detached();
                    let replies_tx = replies_tx.clone();
                    tokio::spawn(async move {
                        let r = wire::run(&mut detached, op).await;
                        let _ = replies_tx.send(wire::reply(id, r)).await;
                    });
                    continue;
                }
            }
            _ = tokio::time::sleep_until(snapshot_at.into()), if snapshot_owed => {
                snapshot_owed = false;
                last_snapshot = Instant::now();
                if let Some(w) = s.watcher() {
                    missed_owed += w.discard_queued() + w.take_missed();
                }
                let lagged = wire::lagged(std::mem::take(&mut missed_owed));
                vec![lagged.to_string().into(), s.resync().as_ref().into()]
            }
            Some(r) = replies.recv() => vec![r.to_string().into()],
            Some(req) = route_requests.recv() => vec![serde_json::to_string(&*req).unwrap_or_default().into()],
            Some(delivery) = async { Some(s.watcher()?.next().await) }, if !snapshot_owed => {
                let Some(w) = s.watcher() else { continue };
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
                        let lagged = wire::lagged(std::mem::take(&mut missed_owed));
                        vec![lagged.to_string().into(), s.resync().as_ref().into()]
                    } else {
                        snapshot_owed = true;
                        continue;
                    }
                } else {
                    // What else is queued goes out with it: one flush for the lot.
                    let mut batch: Vec<Utf8Bytes> = e.iter().map(|e| shared_text(&e.json)).collect();
                    while batch.len() < 64 {
                        match w.try_recv() {
                            Some(e) => batch.push(shared_text(&e.json)),
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
                sink.feed(Message::Text(text)).await?;
            }
            sink.flush().await
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

/// CTI's REST half (served by the node beside this API; the protocol, with the WebSocket, is
/// in docs/cti.md).
pub fn openapi() -> Paths {
    let mut paths = Paths::new();
    let errors = || error_responses(&["400", "401", "403", "404", "409", "422"]);
    let call_id = json!({"type": "object", "properties": {"call": {"type": "integer"}}});
    let ok = |what: &str| json!({"description": what, "content": {"application/json": {"schema": call_id.clone()}}});
    let any = json!({"description": "As docs/cti.md describes", "content": {"application/json": {"schema": {"type": "object"}}}});
    let path = |name: &str, desc: &str| json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string"}});
    paths.insert(
        "/api/v1/cti/calls".into(),
        json!({
            "get": {"tags": ["cti"], "operationId": "ctiCalls", "summary": "Calls the application user may control",
                    "responses": with(errors(), "200", any.clone())},
            "post": {"tags": ["cti"], "operationId": "ctiMakeCall",
                     "summary": "MakeCall: the line's phone answers by itself, then the destination rings",
                     "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["line", "destination"],
                        "properties": {"line": {"type": "string"}, "destination": {"type": "string"}, "device": {"type": "string"}}}}}},
                     "responses": with(errors(), "201", ok("The call placed"))},
        }),
    );
    let mut command_errors = errors();
    command_errors.insert(
        "502".into(),
        json!({"description": "The phone refused or did not answer"}),
    );
    paths.insert(
        "/api/v1/cti/calls/{call}/{command}".into(),
        json!({
            "parameters": [
                {"name": "call", "in": "path", "required": true, "schema": {"type": "integer"}},
                {"name": "command", "in": "path", "required": true, "schema": {"type": "string", "enum": [
                    "drop", "answer", "hold", "retrieve", "redirect", "transfer", "park", "send_digits"]}},
            ],
            "post": {"tags": ["cti"], "operationId": "ctiCommand", "summary": "A command on a call",
                     "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                        "party": {"type": "string", "description": "Line or device whose side acts (the calling side by default)"},
                        "device": {"type": "string"}, "destination": {"type": "string"},
                        "consult_call": {"type": "integer"}, "slot": {"type": "string"}, "digits": {"type": "string"}}}}}},
                     "responses": with(command_errors, "200", ok("Done"))},
        }),
    );
    paths.insert(
        "/api/v1/cti/lines/{number}".into(),
        json!({"parameters": [path("number", "A directory number")],
               "get": {"tags": ["cti"], "operationId": "ctiLine", "summary": "A line's state, registered phones and calls",
                       "responses": with(errors(), "200", any.clone())}}),
    );
    paths.insert(
        "/api/v1/cti/parks".into(),
        json!({"get": {"tags": ["cti"], "operationId": "ctiParks", "summary": "The application user's park slots in use",
                       "responses": with(errors(), "200", any.clone())}}),
    );
    paths.insert(
        "/api/v1/cti/parks/{slot}/unpark".into(),
        json!({"parameters": [path("slot", "A park slot")],
               "post": {"tags": ["cti"], "operationId": "ctiUnpark", "summary": "Ring a line with the call parked in the slot",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["line"], "properties": {"line": {"type": "string"}}}}}},
                        "responses": with(errors(), "200", ok("Unparking"))}}),
    );
    paths.insert(
        "/api/v1/cti/devices/{name}/{action}".into(),
        json!({"parameters": [path("name", "A device name"),
                              {"name": "action", "in": "path", "required": true, "schema": {"type": "string", "enum": ["reset", "restart"]}}],
               "post": {"tags": ["cti"], "operationId": "ctiDevice", "summary": "Reset or restart a registered phone (SIP NOTIFY)",
                        "responses": with(errors(), "200", any.clone())}}),
    );
    paths.insert(
        "/api/v1/cti/events".into(),
        json!({"get": {"tags": ["cti"], "operationId": "ctiEvents", "summary": "Events of lines and devices (Server-Sent Events): a snapshot, then events",
                       "parameters": [
                           {"name": "lines", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated directory numbers"},
                           {"name": "devices", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated device names"}],
                       "responses": with(errors(), "200", json!({"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}))}}),
    );
    paths.insert(
        "/api/v1/cti/ws".into(),
        json!({"get": {"tags": ["cti"], "operationId": "ctiWebSocket",
                       "summary": "The CTI WebSocket (JSON requests, replies and events; see docs/cti.md)",
                       "responses": with(error_responses(&["401", "403"]), "101", json!({"description": "Switching to the WebSocket protocol"}))}}),
    );
    paths
}

/// An event's shared JSON as a WebSocket text frame's payload: the bytes are shared, not
/// copied (checking them as UTF-8 is all it costs).
fn shared_text(json: &bytes::Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(json.clone()).unwrap_or_default()
}
