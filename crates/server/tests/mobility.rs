//! Extension Mobility's core, driven through the administration API with simulated phones:
//! a login makes a hot-desk phone ring for the user's number at once and resets it onto the
//! user's profile; a logout gives it back; Multiple Login Behavior; a login's end at its time,
//! also across a restart.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{admin, client, demo_password, Node};
use dialtone_phonesim::{Phone, PhoneEvent, Spec};
use serde_json::{json, Value};

const WEB_PORT: u16 = 8008;

fn ip(block: u8, n: u8) -> IpAddr {
    IpAddr::from([127, 32, block, n])
}

fn start(dir: &std::path::Path) -> Node {
    Node::start(
        dir,
        &format!("[phones]\nweb_port = {WEB_PORT}\nem_sweep_ms = 100\n"),
        true,
    )
}

fn phone(
    rt: &tokio::runtime::Runtime,
    node: &Node,
    dn: u32,
    ip: IpAddr,
    answer_all: bool,
) -> Phone {
    let mut spec = Spec::new(
        &format!("SEP00DE0000{dn}"),
        &demo_password(node, &format!("user{dn}")),
        ip,
        &node.config_http,
    );
    spec.web_port = WEB_PORT;
    spec.answer_all = answer_all;
    spec.t1 = Duration::from_millis(100);
    rt.block_on(Phone::start(spec))
        .expect("the simulated phone starts")
}

fn em(node: &Node, path: &str, body: Value) -> (u16, Value) {
    let r = admin(client().post(node.api(path)))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn wait(
    rt: &tokio::runtime::Runtime,
    phone: &Phone,
    rx: &mut tokio::sync::broadcast::Receiver<PhoneEvent>,
    what: &str,
    pred: impl Fn(&PhoneEvent) -> bool,
) {
    rt.block_on(phone.wait_for(rx, Duration::from_secs(10), pred))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn registered(e: &PhoneEvent, line: &str) -> bool {
    matches!(e, PhoneEvent::Registered { aor } if aor == line)
}

#[test]
fn calls_follow_the_user_to_the_phone_they_log_in_to_and_leave_with_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    // A hot desk (demo phone 1005) and a caller (1001). Ada (user1000) has no phone running.
    let desk = phone(&rt, &node, 1005, ip(1, 10), false);
    let caller = phone(&rt, &node, 1001, ip(1, 11), false);
    let mut events = desk.events();

    let (status, login) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001005", "user": "user1000"}),
    );
    assert_eq!(status, 201, "{login}");
    assert_eq!(
        login["profile"], "user1000_UDP",
        "the user's default profile"
    );
    // The phone is reset, fetches the profile's configuration and registers Ada's line.
    wait(&rt, &desk, &mut events, "reset", |e| {
        matches!(e, PhoneEvent::Reset { .. })
    });
    wait(&rt, &desk, &mut events, "Ada's line", |e| {
        registered(e, "1000")
    });
    assert_eq!(
        desk.config()
            .lines
            .iter()
            .map(|l| l.1.as_str())
            .collect::<Vec<_>>(),
        ["1000"]
    );
    let who: Value = admin(client().get(node.api("/em/users/user1000")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(who["devices"], json!(["SEP00DE00001005"]));

    // A call to Ada rings the desk.
    let dialer = caller.clone();
    let call = rt.spawn(async move { dialer.dial("1000").await });
    wait(&rt, &desk, &mut events, "Ada's call rings the desk", |e| {
        matches!(e, PhoneEvent::Ringing { .. })
    });
    let ringing = desk.calls()[0].call_id.clone();
    rt.block_on(desk.answer(&ringing)).unwrap();
    let call_id = rt.block_on(call).unwrap().expect("connected");
    rt.block_on(caller.hangup(&call_id)).unwrap();
    wait(&rt, &desk, &mut events, "hung up", |e| {
        matches!(e, PhoneEvent::Ended { .. })
    });

    // Logout: the desk is its own again, and Ada's calls no longer ring it.
    let (status, out) = em(&node, "/em/logout", json!({"device": "SEP00DE00001005"}));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["user"], "user1000");
    wait(&rt, &desk, &mut events, "its own line back", |e| {
        registered(e, "1005")
    });
    let failed = rt.block_on(caller.dial("1000"));
    assert!(failed.is_err(), "nobody has Ada's line now: {failed:?}");
    assert!(desk.calls().is_empty(), "the desk did not ring");
    let (status, again) = em(&node, "/em/logout", json!({"device": "SEP00DE00001005"}));
    assert_eq!(
        (status, again["field"].as_str()),
        (409, Some("device")),
        "{again}"
    );

    // Refusals name the field and change nothing.
    for (body, code, field) in [
        (
            json!({"device": "SEPNOSUCH", "user": "user1000"}),
            404,
            "device",
        ),
        (
            json!({"device": "SEP00DE00001005", "user": "nobody"}),
            404,
            "user",
        ),
        (
            json!({"device": "SEP00DE00001005", "user": "user1000", "profile": "user1001_UDP"}),
            422,
            "profile",
        ),
        (json!({"device": "SEP00DE00001005"}), 400, ""),
    ] {
        let (status, answer) = em(&node, "/em/login", body.clone());
        assert_eq!(status, code, "{body}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["field"], field, "{answer}");
        }
    }
    let logins: Value = admin(client().get(node.api("/em/logins")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(logins["items"], json!([]));
    rt.block_on(desk.stop());
    rt.block_on(caller.stop());
}

#[test]
fn multiple_login_behavior_refuses_or_logs_the_other_phone_out() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let a = phone(&rt, &node, 1006, ip(2, 10), false);
    let b = phone(&rt, &node, 1007, ip(2, 11), false);
    let mut a_events = a.events();
    let (status, _) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001006", "user": "user1002"}),
    );
    assert_eq!(status, 201);
    wait(&rt, &a, &mut a_events, "logged in", |e| {
        registered(e, "1002")
    });
    // The default: Multiple Logins Not Allowed.
    let (status, refused) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001007", "user": "user1002"}),
    );
    assert_eq!(
        (status, refused["field"].as_str()),
        (409, Some("user")),
        "{refused}"
    );
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("SEP00DE00001006"),
        "{refused}"
    );
    // Somebody else on an occupied phone.
    let (status, taken) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001006", "user": "user1003"}),
    );
    assert_eq!(
        (status, taken["field"].as_str()),
        (409, Some("device")),
        "{taken}"
    );

    let r = admin(client().put(node.api("/parameters/extension-mobility/multiple_login_behavior")))
        .json(&json!({"value": "Auto Logout"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let mut b_events = b.events();
    let (status, moved) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001007", "user": "user1002"}),
    );
    assert_eq!(status, 201, "{moved}");
    wait(
        &rt,
        &b,
        &mut b_events,
        "the new phone takes the line",
        |e| registered(e, "1002"),
    );
    wait(
        &rt,
        &a,
        &mut a_events,
        "the old phone is its own again",
        |e| registered(e, "1006"),
    );
    let logins: Value = admin(client().get(node.api("/em/logins")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let devices: Vec<&str> = logins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["device"].as_str().unwrap())
        .collect();
    assert_eq!(devices, ["SEP00DE00001007"]);
    rt.block_on(a.stop());
    rt.block_on(b.stop());
}

#[test]
fn a_login_ends_at_its_time_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let (status, login) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001008", "user": "user1004", "duration_seconds": 3}),
    );
    assert_eq!(status, 201, "{login}");
    assert!(login["expires_at_ms"].as_i64().unwrap() > login["login_at_ms"].as_i64().unwrap());
    // The node goes down before the time and comes back after it.
    node.kill9();
    std::thread::sleep(Duration::from_secs(3));
    let node = start(dir.path());
    let logins: Value = admin(client().get(node.api("/em/logins")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let still: Vec<&Value> = logins["items"].as_array().unwrap().iter().collect();
    // Loaded from the store, then ended by the sweeper within its period.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut now = still.len();
    while now > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired login survived the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
        let l: Value = admin(client().get(node.api("/em/logins")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        now = l["items"].as_array().unwrap().len();
    }
    // And a login that has not reached its time survives a restart. With the maximum login
    // time enforced, that is when it ends.
    for (name, value) in [
        ("enforce_max_login_time", json!(true)),
        ("max_login_time_minutes", json!(90)),
    ] {
        let r = admin(client().put(node.api(&format!("/parameters/extension-mobility/{name}"))))
            .json(&json!({ "value": value }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap());
    }
    let (status, login) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001008", "user": "user1004"}),
    );
    assert_eq!(status, 201);
    assert_eq!(
        login["expires_at_ms"].as_i64().unwrap() - login["login_at_ms"].as_i64().unwrap(),
        90 * 60_000
    );
    node.kill9();
    let node = start(dir.path());
    let who: Value = admin(client().get(node.api("/em/users/user1004")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        who["devices"],
        json!(["SEP00DE00001008"]),
        "acknowledged, so kept"
    );
    let file = client()
        .get(format!("{}/SEP00DE00001008.cnf.xml", node.config_http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        file.contains("<name>1004</name>") && !file.contains("<name>1008</name>"),
        "{file}"
    );
}
