//! CTI through a real node: an application on the WebSocket (and REST) steers calls between
//! phones that sipp plays, and sees the events each command causes. sipp checks on the wire
//! what each phone receives (auto-answer headers, the inactive answer, remote-control
//! REFERs, NOTIFYs, INFO digits).

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// The API over plain HTTP too, so the test's WebSocket needs no TLS.
const CONFIG: &str = "[api]\nallow_over_http = true\n";

/// POST to the CTI REST API; the status and the JSON answer.
fn cti(node: &Node, path: &str, body: Value) -> (u16, Value) {
    let r = admin(client().post(node.api(&format!("/cti{path}"))))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn ok(node: &Node, path: &str, body: Value) -> Value {
    let (status, v) = cti(node, path, body.clone());
    assert!(
        (200..300).contains(&status),
        "POST /cti{path} {body}: {status} {v}"
    );
    v
}

fn get(node: &Node, path: &str) -> Value {
    admin(client().get(node.api(path)))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn create(node: &Node, collection: &str, body: Value) {
    let r = admin(client().post(node.api(&format!("/{collection}"))))
        .json(&body)
        .send()
        .unwrap();
    assert!(
        r.status().is_success(),
        "POST {collection}: {}",
        r.text().unwrap()
    );
}

/// Make a demo phone look like another maker's (no Cisco remote control).
fn third_party(node: &Node, line: &str) {
    patch(
        node,
        "devices",
        &format!("name=SEP00DE0000{line}"),
        json!({"model": "Yealink T54W"}),
    );
}

/// An application's WebSocket to `/api/v1/cti/ws`.
struct App {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    /// Events read while waiting for something else.
    seen: Vec<Value>,
}

impl App {
    fn connect(node: &Node, user: &str, password: &str) -> Result<App, u16> {
        App::connect_with(node, "Authorization", &basic(user, password))
    }

    /// Connect presenting one header (credentials, or a browser's subprotocols).
    fn connect_with(node: &Node, header: &'static str, value: &str) -> Result<App, u16> {
        use tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/api/v1/cti/ws", node.http.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(header, value.parse().unwrap());
        match tungstenite::connect(req) {
            Ok((ws, _)) => {
                if let MaybeTlsStream::Plain(s) = ws.get_ref() {
                    s.set_read_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                }
                Ok(App {
                    ws,
                    next: 1,
                    seen: Vec::new(),
                })
            }
            Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("connecting the CTI WebSocket: {e}"),
        }
    }

    fn admin(node: &Node) -> App {
        App::connect(node, "admin", ADMIN_PASSWORD).expect("admin connects")
    }

    fn read(&mut self, until: Instant) -> Option<Value> {
        while Instant::now() < until {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("CTI WebSocket: {e}"),
            }
        }
        None
    }

    /// Send a request and wait for its reply (events meanwhile are kept).
    fn request(&mut self, mut body: Value) -> Value {
        let id = self.next;
        self.next += 1;
        body["id"] = json!(id);
        self.ws.send(Message::text(body.to_string())).unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while let Some(v) = self.read(until) {
            if v["reply"] == json!(id) {
                return v;
            }
            self.seen.push(v);
        }
        panic!("no reply to {body}");
    }

    fn expect_ok(&mut self, body: Value) -> Value {
        let r = self.request(body.clone());
        assert_eq!(r["ok"], true, "{body} -> {r}");
        r
    }

    /// Wait for an event matching `pred`; earlier events stay available.
    fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        let until = Instant::now() + Duration::from_secs(20);
        while let Some(v) = self.read(until) {
            if pred(&v) {
                return v;
            }
            self.seen.push(v);
        }
        panic!("no {what}; seen: {:#?}", self.seen);
    }

    fn event(&mut self, kind: &str, call: u64) -> Value {
        self.wait(&format!("{kind} of call {call}"), |v| {
            v["event"] == kind && v["call"] == json!(call)
        })
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b}")
}

/// A phone played by sipp, or by a small Python program where sipp cannot (a Cisco phone
/// taking an out-of-dialog remote-control REFER while its call rings).
enum Phone {
    Sipp(Sipp),
    Cisco(std::process::Child),
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Phone::Cisco(c) = self {
            let _ = c.kill();
            if std::thread::panicking() {
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                eprintln!("--- cisco phone: {err}");
            }
        }
    }
}

impl Phone {
    fn expect_success(mut self, what: &str) {
        match self {
            Phone::Sipp(ref mut s) => s.expect_success_ref(what),
            Phone::Cisco(ref mut c) => {
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                let status = c.wait().unwrap();
                assert!(status.success(), "{what} failed: {err}");
            }
        }
    }
}

/// MakeCall: the originating phone is called without an offer and answers by itself (a
/// third-party phone by Call-Info answer-after=0; a Cisco phone after a remote-control
/// REFER); the destination rings without an offer, its offer goes to the originator; the
/// application sees the call on both lines and drops it.
#[test]
fn make_call_auto_answers_the_originator_then_rings_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    let mut app = App::admin(&node);
    third_party(&node, "1001");
    for (t, originator, dest, cisco) in [
        (Sip::Tcp, "1001", "1002", false),
        (Sip::Udp, "1003", "1004", true),
    ] {
        let (po, pd) = (free_port(), free_port());
        register_line(&node, t, po, originator, &format!("user{originator}"));
        register_line(&node, t, pd, dest, &format!("user{dest}"));
        app.expect_ok(json!({"op": "watch", "lines": [originator, dest]}));
        let phone = if cisco {
            Phone::Cisco(
                std::process::Command::new("python3")
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/phones/cisco_originator.py"
                    ))
                    .arg(po.to_string())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("python3"),
            )
        } else {
            let scen = Sipp::scenario(
                &node,
                "uas-autoanswer.xml.in",
                &[
                    ("AUTO", "Call-Info: .sip:[^>]*>;answer-after=0"),
                    ("DEST", dest),
                ],
            );
            Phone::Sipp(Sipp::start(&node, t, &scen, po, &[], &["-m", "1"]))
        };
        let called = Sipp::start(&node, t, "uas-offerless.xml", pd, &[], &["-m", "1"]);
        // Both phones listen before the call is placed.
        std::thread::sleep(Duration::from_millis(300));
        let v = ok(
            &node,
            "/calls",
            json!({"line": originator, "destination": dest}),
        );
        let call = v["call"].as_u64().unwrap();
        let offered = app.event("call_offered", call);
        assert_eq!(offered["calling_line"], originator, "{offered}");
        let connected = app.event("call_connected", call);
        assert_eq!(connected["calling_line"], originator, "{connected}");
        assert_eq!(connected["called_line"], dest, "{connected}");
        assert_eq!(
            connected["called_device"],
            format!("SEP00DE0000{dest}"),
            "{connected}"
        );
        assert!(connected["calling_leg"].is_string() && connected["called_leg"].is_string());
        app.wait("line state connected", |v| {
            v["event"] == "line_state" && v["line"] == dest && v["state"] == "connected"
        });
        let line = get(&node, &format!("/cti/lines/{originator}"));
        assert_eq!(line["state"], "connected", "{line}");
        ok(&node, &format!("/calls/{call}/drop"), json!({}));
        let ended = app.event("call_ended", call);
        assert_eq!(ended["cause"], "dropped", "{ended}");
        app.wait("line idle", |v| {
            v["event"] == "line_state" && v["line"] == originator && v["state"] == "idle"
        });
        phone.expect_success(&format!("{t:?} originator (cisco: {cisco})"));
        called.expect_success(&format!("{t:?} destination"));
        // The call detail record reads as if the originating line had dialled.
        let mut record = Value::Null;
        for _ in 0..100 {
            record = get(&node, "/call-records?limit=1")["items"][0].clone();
            if record["called_number"] == dest {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(record["calling_number"], originator, "{record}");
        assert_eq!(
            record["calling_device"],
            format!("SEP00DE0000{originator}"),
            "{record}"
        );
        assert_eq!(
            record["called_device"],
            format!("SEP00DE0000{dest}"),
            "{record}"
        );
        assert_eq!(record["cause"], "dropped", "{record}");
        assert_eq!(record["ended_by"], "application", "{record}");
        assert!(record["answered_at"].as_i64().is_some(), "{record}");
    }
    // Refusals name what is wrong and change nothing.
    let (s, v) = cti(
        &node,
        "/calls",
        json!({"line": "1001", "destination": "12ab"}),
    );
    assert_eq!(s, 422, "{v}");
    let (s, v) = cti(
        &node,
        "/calls",
        json!({"line": "1009", "destination": "1000"}),
    );
    assert_eq!(s, 409, "nobody registered 1009: {v}");
    assert!(v["error"].as_str().unwrap().contains("1009"), "{v}");
    let (s, v) = cti(
        &node,
        "/calls",
        json!({"line": "4242", "destination": "1000"}),
    );
    assert_eq!(s, 404, "{v}");
    let (s, v) = cti(&node, "/calls", json!({"destination": "1000"}));
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("line"), "{v}");
    let (s, _) = cti(&node, "/calls/999/explode", json!({}));
    assert_eq!(s, 400);
    let (s, _) = cti(&node, "/calls/999/drop", json!({}));
    assert_eq!(s, 404);
    assert_eq!(get(&node, "/calls")["items"], json!([]));
}

/// Click-to-call between two real softphones: baresip as 1000 answers Dialtone's offerless
/// INVITE by itself, holds the inactive answer, takes 1001's offer in a re-INVITE; 1001
/// (baresip too) answers, and audio flows both ways, phone to phone.
#[test]
fn make_call_between_two_baresip_phones_carries_audio() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    third_party(&node, "1000");
    let mut originator = Baresip::start(&node, "1000", true);
    let mut called = Baresip::start(&node, "1001", true);
    wait_for_registrations(&node, 2);
    let mut app = App::admin(&node);
    app.expect_ok(json!({"op": "watch", "lines": ["1000"]}));
    let v = ok(
        &node,
        "/calls",
        json!({"line": "1000", "destination": "1001"}),
    );
    let call = v["call"].as_u64().unwrap();
    app.event("call_connected", call);
    originator.wait_for("CALL_RTPESTAB", 10);
    called.wait_for("CALL_RTPESTAB", 10);
    std::thread::sleep(Duration::from_secs(1));
    ok(&node, &format!("/calls/{call}/drop"), json!({}));
    expect_audio_both_ways(originator, called);
}

/// Answer, hold, retrieve and digits on third-party phones: the ringing phone is told to
/// answer (NOTIFY Event: talk), the caller's phone to hold and resume (NOTIFY hold / talk),
/// and digits reach the other side as INFO, in order; each with its event.
#[test]
fn answer_hold_retrieve_and_digits_steer_the_phones() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    let mut app = App::admin(&node);
    for line in ["1003", "1004"] {
        third_party(&node, line);
    }
    let t = Sip::Udp;
    let pd = free_port();
    register_line(&node, t, pd, "1004", "user1004");
    app.expect_ok(json!({"op": "watch", "lines": ["1003"], "devices": ["SEP00DE00001004"]}));
    let called = Sipp::start(&node, t, "uas-talk-hold.xml", pd, &[], &["-m", "1"]);
    let calling = Sipp::start(
        &node,
        t,
        "uac-cti-hold.xml",
        0,
        &[&caller(&node, "1003", "1004")],
        &["-m", "1"],
    );
    let alerting = app.wait("alerting", |v| v["event"] == "call_alerting");
    let call = alerting["call"].as_u64().unwrap();
    // Nothing is connected yet: hold is refused and changes nothing.
    let (s, v) = cti(&node, &format!("/calls/{call}/hold"), json!({}));
    assert_eq!(s, 409, "{v}");
    ok(&node, &format!("/calls/{call}/answer"), json!({}));
    app.event("call_connected", call);
    let (s, v) = cti(
        &node,
        &format!("/calls/{call}/hold"),
        json!({"party": "1999"}),
    );
    assert_eq!(s, 422, "not a party: {v}");
    ok(
        &node,
        &format!("/calls/{call}/hold"),
        json!({"party": "1003"}),
    );
    let held = app.event("call_held", call);
    assert_eq!(held["by"], "calling", "{held}");
    ok(
        &node,
        &format!("/calls/{call}/retrieve"),
        json!({"party": "1003"}),
    );
    app.event("call_resumed", call);
    // Digits the called party sends go to the calling phone.
    let (s, v) = cti(
        &node,
        &format!("/calls/{call}/send_digits"),
        json!({"party": "1004", "digits": "5x"}),
    );
    assert_eq!(s, 409, "{v}");
    ok(
        &node,
        &format!("/calls/{call}/send_digits"),
        json!({"party": "1004", "digits": "5#"}),
    );
    calling.expect_success("calling phone (hold, resume, digits)");
    called.expect_success("called phone (answered by NOTIFY talk)");
    app.event("call_ended", call);
}

/// Redirect of a ringing call, blind transfer of a connected one, and park / unpark.
#[test]
fn redirect_transfer_and_park_move_calls() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    let mut app = App::admin(&node);
    let t = Sip::Udp;
    app.expect_ok(json!({"op": "watch", "lines": ["1000", "1001", "1002"]}));

    // A ringing call goes elsewhere; the new destination sees the diversion.
    let (pb, pc) = (free_port(), free_port());
    register_line(&node, t, pb, "1001", "user1001");
    register_line(&node, t, pc, "1002", "user1002");
    let ringing = Sipp::start(&node, t, "uas-ring.xml", pb, &[], &["-m", "1"]);
    let scen = Sipp::scenario(
        &node,
        "uas-answer-diverted.xml.in",
        &[("FROM", "1001"), ("REASON", "deflection")],
    );
    let target = Sipp::start(&node, t, &scen, pc, &[], &["-m", "1"]);
    let calling = Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1", "-d", "300"],
    );
    let offered = app.wait("offer", |v| v["event"] == "call_offered");
    let call = offered["call"].as_u64().unwrap();
    app.event("call_alerting", call);
    let (s, v) = cti(
        &node,
        &format!("/calls/{call}/redirect"),
        json!({"party": "1001", "destination": "4242"}),
    );
    assert_eq!(s, 422, "nowhere to go, the call stays: {v}");
    ok(
        &node,
        &format!("/calls/{call}/redirect"),
        json!({"party": "1001", "destination": "1002"}),
    );
    let redirected = app.event("call_redirected", call);
    assert_eq!(redirected["reason"], "deflection", "{redirected}");
    calling.expect_success("caller");
    ringing.expect_success("first phone (cancelled)");
    target.expect_success("redirect destination");

    // Blind transfer of a connected call, then park and unpark: both move the caller
    // (uac-transferred) from 1001 to 1002 with a re-INVITE carrying 1002's offer.
    let mut last = call;
    for park in [false, true] {
        let (pb, pc) = (free_port(), free_port());
        register_line(&node, t, pb, "1001", "user1001");
        register_line(&node, t, pc, "1002", "user1002");
        let controller = Sipp::start(&node, t, "uas-answer.xml", pb, &[], &["-m", "1"]);
        let target = Sipp::start(&node, t, "uas-offerless.xml", pc, &[], &["-m", "1"]);
        let transferee = Sipp::start(
            &node,
            t,
            "uac-transferred.xml",
            0,
            &[&caller(&node, "1000", "1001")],
            &["-m", "1"],
        );
        let c = app.wait("the next call connected", |v| {
            v["event"] == "call_connected" && v["call"].as_u64() > Some(last)
        });
        let call = c["call"].as_u64().unwrap();
        last = call;
        if park {
            ok(
                &node,
                &format!("/calls/{call}/park"),
                json!({"party": "1001", "slot": "701"}),
            );
            let parked = app.event("call_parked", call);
            assert_eq!(parked["slot"], "701", "{parked}");
            let parks = get(&node, "/cti/parks");
            assert_eq!(parks["items"], json!([{"slot": "701", "call": call}]));
            let (s, v) = cti(&node, "/parks/702/unpark", json!({"line": "1002"}));
            assert_eq!(s, 404, "{v}");
            // The slot is the parking application's: another may not take the call from it.
            create(
                &node,
                "application-users",
                json!({"user_id": "other", "password": "other-password-1",
                       "roles": ["Standard CTI Enabled", "Standard CTI Allow Control of All Devices"]}),
            );
            let r = client()
                .post(node.api("/cti/parks/701/unpark"))
                .basic_auth("other", Some("other-password-1"))
                .json(&json!({"line": "1002"}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 403, "{}", r.text().unwrap());
            ok(&node, "/parks/701/unpark", json!({"line": "1002"}));
            let c = app.event("call_connected", call);
            assert_eq!(c["called_line"], "1002", "{c}");
            assert_eq!(get(&node, "/cti/parks")["items"], json!([]));
        } else {
            ok(
                &node,
                &format!("/calls/{call}/transfer"),
                json!({"party": "1001", "destination": "1002"}),
            );
            app.event("call_transferred", call);
        }
        transferee.expect_success(&format!("caller moved (park: {park})"));
        controller.expect_success(&format!("controlling phone released (park: {park})"));
        target.expect_success(&format!("new party (park: {park})"));
        app.event("call_ended", call);
    }
}

/// Consultative transfer by command: 1001 talks to 1000 and, in a second call, to 1002; the
/// application joins 1000 and 1002 and releases both of 1001's legs.
#[test]
fn consultative_transfer_joins_the_other_parties() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    let mut app = App::admin(&node);
    let t = Sip::Udp;
    app.expect_ok(json!({"op": "watch", "lines": ["1001"]}));
    let (pb, pc) = (free_port(), free_port());
    register_line(&node, t, pb, "1001", "user1001");
    register_line(&node, t, pc, "1002", "user1002");
    let controller = Sipp::start(&node, t, "uas-answer.xml", pb, &[], &["-m", "1"]);
    let consulted = Sipp::start(&node, t, "uas-consulted.xml", pc, &[], &["-m", "1"]);
    let transferee = Sipp::start(
        &node,
        t,
        "uac-transferred.xml",
        0,
        &[&caller(&node, "1000", "1001")],
        &["-m", "1"],
    );
    let first = app.wait("the first call", |v| v["event"] == "call_connected");
    let first = first["call"].as_u64().unwrap();
    // 1001's consultation call to 1002, from another port of the same phone.
    let consultation = Sipp::start(
        &node,
        t,
        "uac-hungup.xml",
        0,
        &[&caller(&node, "1001", "1002")],
        &["-m", "1"],
    );
    let second = app.wait("the consultation call", |v| {
        v["event"] == "call_connected" && v["called_line"] == "1002"
    });
    let second = second["call"].as_u64().unwrap();
    let (s, v) = cti(
        &node,
        &format!("/calls/{first}/transfer"),
        json!({"party": "1001", "consult_call": first}),
    );
    assert_eq!(s, 409, "a call cannot be its own consultation: {v}");
    ok(
        &node,
        &format!("/calls/{first}/transfer"),
        json!({"party": "1001", "consult_call": second}),
    );
    transferee.expect_success("transferee joined to 1002");
    consultation.expect_success("consultation call released");
    controller.expect_success("1001's first leg released");
    consulted.expect_success("consulted party moved to the transferee");
    let ended = app.event("call_ended", second);
    assert_eq!(ended["cause"], "transferred", "{ended}");
}

/// A route point: with no application its Call Forward Unregistered applies; an
/// application's redirect is followed; an unanswered request falls to Call Forward No
/// Answer; an application lost with a call waiting sends it to Call Forward on CTI Failure.
#[test]
fn route_points_follow_the_application_or_fall_through() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    create(
        &node,
        "directory-numbers",
        json!({
            "pattern": "1950", "partition": "Internal_PT", "css": "Internal_CSS",
            "cfur_destination": "1001", "cfur_css": "Internal_CSS",
            "cfna_destination": "1002", "cfna_css": "Internal_CSS",
            "cf_cti_failure_destination": "1003", "cf_cti_failure_css": "Internal_CSS",
            "no_answer_timer": 1,
        }),
    );
    create(
        &node,
        "devices",
        json!({"name": "RP_Test", "model": "CTI Route Point", "css": "Internal_CSS"}),
    );
    create(
        &node,
        "line-appearances",
        json!({"device": "RP_Test", "directory_number": {"pattern": "1950", "partition": "Internal_PT"}, "index": 1}),
    );
    std::thread::sleep(Duration::from_millis(200));
    let t = Sip::Udp;
    let through =
        |app: Option<&mut App>, line: &str, reason: &str, act: &dyn Fn(&mut App, u64, u64)| {
            let port = free_port();
            register_line(&node, t, port, line, &format!("user{line}"));
            let scen = Sipp::scenario(
                &node,
                "uas-answer-diverted.xml.in",
                &[("FROM", "1950"), ("REASON", reason)],
            );
            let answering = Sipp::start(&node, t, &scen, port, &[], &["-m", "1"]);
            let calling = Sipp::start(
                &node,
                t,
                "uac-call.xml",
                0,
                &[&caller(&node, "1000", "1950")],
                &["-m", "1", "-d", "200"],
            );
            if let Some(app) = app {
                let rr = app.wait("route request", |v| v["event"] == "route_request");
                assert_eq!(rr["route_point"], "1950", "{rr}");
                assert_eq!(rr["calling"], "1000", "{rr}");
                act(
                    app,
                    rr["call"].as_u64().unwrap(),
                    rr["request"].as_u64().unwrap(),
                );
            }
            calling.expect_success(&format!("caller ({reason})"));
            answering.expect_success(&format!("{line} answers ({reason})"));
        };
    // No application: unregistered forward, at once.
    let started = Instant::now();
    through(None, "1001", "unavailable", &|_, _, _| {});
    assert!(started.elapsed() < Duration::from_secs(10));

    let mut app = App::admin(&node);
    let r = app.request(json!({"op": "register_route_point", "number": "1000"}));
    assert_eq!(r["status"], 400, "1000 is a phone's line: {r}");
    app.expect_ok(json!({"op": "register_route_point", "number": "1950"}));
    let mut other = App::admin(&node);
    let r = other.request(json!({"op": "register_route_point", "number": "1950"}));
    assert_eq!(r["status"], 409, "one owner at a time: {r}");
    drop(other);
    // The application redirects.
    through(
        Some(&mut app),
        "1004",
        "deflection",
        &|app, call, request| {
            app.expect_ok(json!({"op": "route", "call": call, "request": request,
                             "action": "redirect", "destination": "1004"}));
        },
    );
    // It says nothing: Call Forward No Answer after the line's no-answer timer (1 s).
    through(Some(&mut app), "1002", "no-answer", &|_, _, _| {});
    // It accepts, then goes away: Call Forward on CTI Failure.
    through(
        Some(&mut app),
        "1003",
        "unavailable",
        &|app, call, request| {
            app.expect_ok(
                json!({"op": "route", "call": call, "request": request, "action": "accept"}),
            );
            app.ws.close(None).unwrap();
            let _ = app.ws.flush();
        },
    );
    // Without Call Forward Unregistered, no application means Call Forward No Answer: the
    // seed's Manager Assistant route point has only that configured.
    patch(
        &node,
        "directory-numbers",
        "pattern=1950",
        json!({"cfur_destination": ""}),
    );
    through(None, "1002", "unavailable", &|_, _, _| {});
}

/// Reset and restart: a Cisco phone gets NOTIFY service-control naming its REGISTER's
/// Call-ID; another phone gets check-sync.
#[test]
fn reset_and_restart_notify_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    let t = Sip::Udp;
    let port = free_port();
    register_line(&node, t, port, "1005", "user1005");
    let scen = Sipp::scenario(
        &node,
        "uas-notify.xml.in",
        &[
            ("EVENT", "^ *service-control"),
            (
                "BODY",
                "action=reset.*RegisterCallId=.[^}]+.*ConfigVersionStamp=",
            ),
        ],
    );
    let phone = Sipp::start(&node, t, &scen, port, &[], &["-m", "1"]);
    let v = ok(&node, "/devices/SEP00DE00001005/reset", json!({}));
    assert_eq!(v["contacts"], 1, "{v}");
    phone.expect_success("Cisco phone reset");

    third_party(&node, "1006");
    let port = free_port();
    register_line(&node, t, port, "1006", "user1006");
    let scen = Sipp::scenario(
        &node,
        "uas-notify.xml.in",
        &[("EVENT", "^ *check-sync;reboot=false"), ("BODY", "NOTIFY")],
    );
    let phone = Sipp::start(&node, t, &scen, port, &[], &["-m", "1"]);
    ok(&node, "/devices/SEP00DE00001006/restart", json!({}));
    phone.expect_success("third-party phone restart");

    let (s, v) = cti(&node, "/devices/SEP00DE00001007/reset", json!({}));
    assert_eq!(s, 409, "not registered: {v}");
    let (s, _) = cti(&node, "/devices/SEP00DE00001007/reboot", json!({}));
    assert_eq!(s, 400);
}

/// Rights: an application user controls only its devices' lines; without the CTI role it
/// cannot connect. And `dialtone cti watch` prints a line's events.
#[test]
fn rights_limit_what_an_application_controls_and_the_cli_watches() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    create(
        &node,
        "application-users",
        json!({"user_id": "console", "password": "console-password-1",
               "roles": ["Standard CTI Enabled"], "devices": ["SEP00DE00001001"]}),
    );
    create(
        &node,
        "application-users",
        json!({"user_id": "nocti", "password": "nocti-password-1", "roles": []}),
    );
    assert_eq!(
        App::connect(&node, "nocti", "nocti-password-1").err(),
        Some(403)
    );
    assert_eq!(App::connect(&node, "console", "wrong").err(), Some(401));
    let mut app = App::connect(&node, "console", "console-password-1").unwrap();
    app.expect_ok(json!({"op": "watch", "lines": ["1001"]}));
    let r = app.request(json!({"op": "watch", "lines": ["1002"]}));
    assert_eq!(r["status"], 403, "{r}");
    assert!(r["error"].as_str().unwrap().contains("1002"), "{r}");
    let r = app.request(json!({"op": "make_call", "line": "1002", "destination": "1000"}));
    assert_eq!(r["status"], 403, "{r}");
    let r = app.request(json!({"op": "fly"}));
    assert_eq!(r["status"], 400, "{r}");
    app.ws.send(Message::text("not json")).unwrap();
    let r = app.wait("error reply", |v| v["ok"] == false);
    assert_eq!(r["status"], 400, "{r}");
    // The connection still serves.
    app.expect_ok(json!({"op": "snapshot"}));

    // A browser cannot set Authorization on a WebSocket: it offers a bearer token as a
    // subprotocol beside dialtone-cti.
    let token: Value = client()
        .post(node.api("/auth/token"))
        .basic_auth("console", Some("console-password-1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap();
    let mut browser = App::connect_with(
        &node,
        "Sec-WebSocket-Protocol",
        &format!("dialtone-cti, bearer.{token}"),
    )
    .expect("a browser connects with its token");
    browser.expect_ok(json!({"op": "watch", "lines": ["1001"]}));
    let r = browser.request(json!({"op": "watch", "lines": ["1002"]}));
    assert_eq!(r["status"], 403, "the token carries the user's rights: {r}");
    assert_eq!(
        App::connect_with(&node, "Sec-WebSocket-Protocol", "dialtone-cti, bearer.00ff").err(),
        Some(401)
    );

    // The CLI: a Do Not Disturb change on 1001 shows up as a line event.
    let mut watch = std::process::Command::new(binary())
        .args([
            "cti",
            "watch",
            "1001",
            "--url",
            &format!("{}/api/v1", node.https),
        ])
        .args(["--user", "console", "--config"])
        .arg(dir.path().join("dialtone.toml"))
        .env("DIALTONE_CTI_PASSWORD", "console-password-1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a snapshot first");
    assert!(first.contains("\"snapshot\""), "{first}");
    patch(
        &node,
        "directory-numbers",
        "pattern=1001",
        json!({"dnd": true}),
    );
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the DND event");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v,
        json!({"event": "line_configured", "line": "1001", "dnd": true, "forward_all": ""})
    );
    let _ = watch.kill();
    let _ = watch.wait();
}

/// The seed's Figure 18-12, built through the REST API as the seed draws it: the Assistant
/// route point on `6XXXX` intercepts a call to the manager's number 60001 (the caller's
/// ASSISTANT_EVERYONE_CSS reaches only the route point) and redirects it, with the route
/// point's MANAGER_EVERYONE_CSS, to the manager's phone. A phone cannot register a pattern.
#[test]
fn figure_18_12_a_route_point_on_6xxxx_intercepts_calls_to_a_manager() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), CONFIG, true);
    for p in [
        "Assistant_Route_Point",
        "Assistant_Everyone",
        "Assistant_Manager",
    ] {
        create(&node, "partitions", json!({"name": p}));
    }
    create(
        &node,
        "calling-search-spaces",
        json!({"name": "ASSISTANT_EVERYONE_CSS", "partitions": ["Assistant_Route_Point", "Assistant_Everyone"]}),
    );
    create(
        &node,
        "calling-search-spaces",
        json!({"name": "MANAGER_EVERYONE_CSS", "partitions": ["Assistant_Manager", "Assistant_Everyone"]}),
    );
    create(
        &node,
        "directory-numbers",
        json!({"pattern": "6XXXX", "partition": "Assistant_Route_Point", "css": "MANAGER_EVERYONE_CSS"}),
    );
    create(
        &node,
        "devices",
        json!({"name": "RP_Assistant", "model": "CTI Route Point", "css": "MANAGER_EVERYONE_CSS"}),
    );
    create(
        &node,
        "line-appearances",
        json!({"device": "RP_Assistant", "directory_number": {"pattern": "6XXXX", "partition": "Assistant_Route_Point"}, "index": 1}),
    );
    // The manager's line, on the demo phone of 1005; the caller, 1000, searches
    // ASSISTANT_EVERYONE_CSS first.
    create(
        &node,
        "directory-numbers",
        json!({"pattern": "60001", "partition": "Assistant_Manager", "css": "ASSISTANT_EVERYONE_CSS"}),
    );
    create(
        &node,
        "line-appearances",
        json!({"device": "SEP00DE00001005", "directory_number": {"pattern": "60001", "partition": "Assistant_Manager"}, "index": 2}),
    );
    // A phone given the pattern line cannot register it.
    create(
        &node,
        "line-appearances",
        json!({"device": "SEP00DE00001006", "directory_number": {"pattern": "6XXXX", "partition": "Assistant_Route_Point"}, "index": 2}),
    );
    patch(
        &node,
        "directory-numbers",
        "pattern=1000",
        json!({"css": "ASSISTANT_EVERYONE_CSS"}),
    );
    let t = Sip::Udp;
    let pw = demo_password(&node, "user1006");
    Sipp::start(
        &node,
        t,
        "reg-auth-403.xml",
        free_port(),
        &[&format!(
            "6XXXX;x;[authentication username=user1006 password={pw}]"
        )],
        &["-m", "1"],
    )
    .expect_success("a pattern line refused (403)");

    let mut app = App::admin(&node);
    app.expect_ok(json!({"op": "register_route_point", "number": "6XXXX"}));
    let port = free_port();
    register_line(&node, t, port, "60001", "user1005");
    let manager = Sipp::start(&node, t, "uas-answer.xml", port, &[], &["-m", "1"]);
    let calling = Sipp::start(
        &node,
        t,
        "uac-call.xml",
        0,
        &[&caller(&node, "1000", "60001")],
        &["-m", "1", "-d", "200"],
    );
    let rr = app.wait("route request", |v| v["event"] == "route_request");
    assert_eq!(
        (&rr["route_point"], &rr["called"], &rr["calling"]),
        (&json!("6XXXX"), &json!("60001"), &json!("1000")),
        "{rr}"
    );
    app.expect_ok(
        json!({"op": "route", "call": rr["call"], "request": rr["request"],
                         "action": "redirect", "destination": "60001"}),
    );
    calling.expect_success("caller reaches the manager through the route point");
    manager.expect_success("the manager's phone answers");
}
