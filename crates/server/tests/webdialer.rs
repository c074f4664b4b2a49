//! WebDialer and the Redirector, end to end: python-zeep (a client built from Cisco's WSDL
//! alone) and Axis-style encoded requests place calls between two simulated phones; the JSON
//! API with bearer tokens; headless Chromium logs in, sets preferences, dials and hangs up;
//! and a Redirector sends each user to their own cluster among two nodes.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{admin, client, Node, Start};
use dialtone_phonesim::PhoneEvent;
use serde_json::{json, Value};

/// Each test has its own loopback block, so phones of tests running at once never collide.
fn ip(block: u8, n: u8) -> IpAddr {
    IpAddr::from([127, 33, block, n])
}

fn node(dir: &std::path::Path) -> Node {
    Node::start(
        dir,
        &format!("[phones]\nweb_port = {}\n", common::PHONE_WEB_PORT),
        true,
    )
}

fn certificate(node: &Node) -> PathBuf {
    node.dir.join("data/tls/self-signed.crt")
}

fn wsdl() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../webdialer/wsdl/wd70.wsdl")
}

fn script(name: &str) -> String {
    format!(
        "{}/../../tests/webdialer/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Run operations through python-zeep: `[[operation, {args}], ...]` -> one result each
/// (`{"ok": value}` or `{"fault": message}`).
fn zeep(node: &Node, calls: Value) -> Vec<Value> {
    let out = Command::new(common::python())
        .arg(script("zeep_client.py"))
        .arg("--ca")
        .arg(certificate(node))
        .arg(wsdl())
        .arg(format!(
            "{}/webdialer/services/WebdialerSoapService70",
            node.https
        ))
        .arg(calls.to_string())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "zeep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("zeep printed JSON")
}

fn cred(user: &str, password: &str) -> Value {
    json!({"userID": user, "password": password})
}

fn profile(user: &str, device: &str, line: &str, em: bool) -> Value {
    json!({"user": user, "deviceName": device, "lineNumber": line, "supportEM": em,
           "locale": "English", "dontAutoClose": false, "dontShowCallConf": false})
}

fn code(result: &Value) -> (i64, String) {
    (
        result["ok"]["responseCode"]
            .as_i64()
            .expect("a CallResponse"),
        result["ok"]["responseDescription"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn wait_connected(
    rt: &tokio::runtime::Runtime,
    phone: &dialtone_phonesim::Phone,
    rx: &mut tokio::sync::broadcast::Receiver<PhoneEvent>,
    what: &str,
) {
    common::wait_event(rt, phone, rx, what, |e| {
        matches!(e, PhoneEvent::Connected { .. })
    });
}

fn wait_ended(
    rt: &tokio::runtime::Runtime,
    phone: &dialtone_phonesim::Phone,
    rx: &mut tokio::sync::broadcast::Receiver<PhoneEvent>,
    what: &str,
) {
    common::wait_event(rt, phone, rx, what, |e| {
        matches!(e, PhoneEvent::Ended { .. })
    });
}

/// An end user with no phone, and an application user without WebDialer proxy rights.
fn add_users_without_rights(node: &Node) {
    let r = admin(client().post(node.api("/users")))
        .json(&json!({"user_id": "nophone", "last_name": "Nophone", "password": "nophone-pw-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    let r = admin(client().post(node.api("/application-users")))
        .json(&json!({"user_id": "ctiapp", "password": "ctiapp-pw-1", "roles": ["Standard CTI Enabled"]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
}

#[test]
fn zeep_and_axis_clients_place_and_end_calls_between_two_phones() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    add_users_without_rights(&node);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alice = common::sim_phone(&rt, &node, 1000, ip(1, 10), false);
    let bob = common::sim_phone(&rt, &node, 1001, ip(1, 11), true);
    let (mut a_events, mut b_events) = (alice.events(), bob.events());
    let pw = common::end_user_password(&node, "user1000");
    let bob_pw = common::end_user_password(&node, "user1001");
    let app = common::app_password(&node);

    // The read-only operations, as a desktop program starts.
    let r = zeep(
        &node,
        json!([
            ["isClusterUserSoap", {"in0": "user1000"}],
            ["isClusterUserSoap", {"in0": "nobody"}],
            ["getProfileSoap", {"in0": cred("user1000", &pw), "in1": "user1000"}],
            ["getProfileDetailSoap", {"in0": cred("user1000", &pw)}],
            ["getPrimaryLine", {"in0": cred("user1000", &pw)}],
            ["getProfileSoap", {"in0": cred("demoapp", &app), "in1": "user1001"}],
            ["getProfileDetailSoap", {"in0": cred("demoapp", &app)}],
            ["getPrimaryLine", {"in0": cred("user1000", "wrong")}],
        ]),
    );
    assert_eq!(r[0]["ok"], true);
    assert_eq!(r[1]["ok"], false);
    assert_eq!(r[2]["ok"]["responseCode"], 0);
    assert_eq!(
        r[2]["ok"]["deviceInfoList"],
        json!([{"deviceName": "SEP00DE00001000", "lines": "1000 ; Internal_PT"}]),
        "one string per line: DN ; partition"
    );
    let detail = &r[3]["ok"];
    assert_eq!(detail["responseCode"], 0);
    let device = &detail["deviceInfoListDetail"][0];
    assert_eq!(device["deviceName"]["_value_1"], "SEP00DE00001000");
    assert_eq!(device["lines"][0]["_value_1"], "1000 ; Internal_PT");
    assert_eq!(device["phoneType"]["_value_1"], "Cisco 8865");
    assert_eq!(r[4]["ok"]["_value_1"], "1000", "the primary line");
    assert_eq!(
        r[5]["ok"]["deviceInfoList"][0]["deviceName"], "SEP00DE00001001",
        "getProfile may be asked by a proxy"
    );
    assert_eq!(
        r[6]["ok"]["responseCode"], 3,
        "getProfileDetail may not be asked by a proxy"
    );
    assert!(
        r[7]["fault"].as_str().unwrap().contains("Authentication"),
        "{}",
        r[7]
    );

    // makeCall: Alice's phone answers by itself, then Bob's rings and answers.
    let r = zeep(
        &node,
        json!([["makeCallSoap", {"in0": cred("user1000", &pw), "in1": "1001",
                 "in2": profile("user1000", "", "", false)}]]),
    );
    assert_eq!(code(&r[0]), (0, "Success".to_string()));
    wait_connected(&rt, &alice, &mut a_events, "Alice's phone connects");
    wait_connected(&rt, &bob, &mut b_events, "Bob's phone connects");
    let r = zeep(
        &node,
        json!([["endCallSoap", {"in0": cred("user1000", &pw),
                 "in1": profile("user1000", "SEP00DE00001000", "1000 ; Internal_PT", false)}]]),
    );
    assert_eq!(code(&r[0]).0, 0, "{:?}", code(&r[0]));
    wait_ended(&rt, &alice, &mut a_events, "Alice's call ends");
    wait_ended(&rt, &bob, &mut b_events, "Bob's call ends");

    // Refusals, each with its code and nothing placed.
    let r = zeep(
        &node,
        json!([
            ["makeCallSoap", {"in0": cred("user1000", "wrong"), "in1": "1001", "in2": profile("user1000", "", "", false)}],
            ["makeCallSoap", {"in0": cred("user1001", &bob_pw), "in1": "1002", "in2": profile("user1000", "", "", false)}],
            ["makeCallSoap", {"in0": cred("ctiapp", "ctiapp-pw-1"), "in1": "1001", "in2": profile("user1000", "", "", false)}],
            ["makeCallSoap", {"in0": cred("nophone", "nophone-pw-1"), "in1": "1001", "in2": profile("nophone", "", "", false)}],
            ["makeCallSoap", {"in0": cred("user1000", &pw), "in1": "sip:bob@example.com", "in2": profile("user1000", "", "", false)}],
            ["makeCallSoap", {"in0": cred("user1000", &pw), "in1": "1001", "in2": profile("user1000", "SEP00DE00001001", "", false)}],
            ["endCallSoap", {"in0": cred("user1000", &pw), "in1": profile("user1000", "", "", false)}],
        ]),
    );
    let codes: Vec<(i64, String)> = r.iter().map(code).collect();
    assert_eq!(codes[0].0, 2, "wrong password: {:?}", codes[0]);
    assert_eq!(
        codes[1].0, 3,
        "an end user acting for another: {:?}",
        codes[1]
    );
    assert_eq!(
        codes[2].0, 3,
        "an application user without proxy rights: {:?}",
        codes[2]
    );
    assert_eq!(codes[3].0, 5);
    assert!(
        codes[3]
            .1
            .contains("No supported device configured for user"),
        "{:?}",
        codes[3]
    );
    assert_eq!(codes[4].0, 7, "SIP URIs are not dialled: {:?}", codes[4]);
    assert_eq!(codes[5].0, 5, "another user's phone: {:?}", codes[5]);
    assert_eq!(codes[6].0, 1, "no call to end: {:?}", codes[6]);
    assert!(
        get_calls(&node).is_empty(),
        "no refused request placed a call"
    );

    // An application user with proxy rights, Axis style (multiRef, xsi:type) on the legacy
    // path: a call for Alice.
    let axis = |op: &str, parts: &str, refs: &str| {
        format!(
            r##"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">
<soapenv:Body><ns1:{op} soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" xmlns:ns1="urn:WebdialerSoap">{parts}</ns1:{op}>{refs}</soapenv:Body></soapenv:Envelope>"##
        )
    };
    let cred_ref = format!(
        r#"<multiRef id="id0" soapenc:root="0" xsi:type="ns2:Credential" xmlns:ns2="urn:WebdialerSoap"><userID xsi:type="xsd:string">demoapp</userID><password xsi:type="xsd:string">{app}</password></multiRef>"#
    );
    let prof_ref = r#"<multiRef id="id1" soapenc:root="0" xsi:type="ns2:UserProfile" xmlns:ns2="urn:WebdialerSoap"><user xsi:type="xsd:string">user1000</user><deviceName xsi:type="xsd:string">SEP00DE00001000</deviceName><lineNumber xsi:type="xsd:string">1000</lineNumber><supportEM xsi:type="xsd:boolean">false</supportEM></multiRef>"#;
    let legacy = format!("{}/webdialer/services/WebdialerSoapService", node.https);
    let post = |body: String| {
        let r = client()
            .post(&legacy)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, answer) = post(axis(
        "makeCallSoap",
        r##"<cred href="#id0"/><dest xsi:type="soapenc:string">1001</dest><prof href="#id1"/>"##,
        &format!("{cred_ref}{prof_ref}"),
    ));
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains(r#"<responseCode xsi:type="xsd:int">0</responseCode>"#),
        "{answer}"
    );
    assert!(
        answer.contains(r#"xmlns:ns1="urn:WebdialerSoap""#),
        "answered in the request's namespace: {answer}"
    );
    wait_connected(&rt, &alice, &mut a_events, "Alice's phone connects (proxy)");
    wait_connected(&rt, &bob, &mut b_events, "Bob's phone connects (proxy)");
    let (status, answer) = post(axis(
        "endCallSoap",
        r##"<cred href="#id0"/><prof href="#id1"/>"##,
        &format!("{cred_ref}{prof_ref}"),
    ));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(">0</responseCode>"), "{answer}");
    wait_ended(&rt, &alice, &mut a_events, "Alice's call ends (proxy)");

    // Broken requests get a SOAP fault, and the service goes on.
    let (status, answer) = post("<not-soap".into());
    assert_eq!(status, 500);
    assert!(
        answer.contains("<faultcode>soapenv:Client</faultcode>"),
        "{answer}"
    );
    let (status, answer) = post(axis("dialEveryone", "", ""));
    assert_eq!(status, 500);
    assert!(answer.contains("no operation dialEveryone"), "{answer}");

    // Service Activation: with WebDialer deactivated on this node, code 6 and nothing placed;
    // activated again, service resumes.
    let services = |list: Value| {
        let r = admin(client().patch(node.api("/nodes/dialtone-1")))
            .json(&json!({ "services": list }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap());
    };
    services(json!(["CallManager", "CTIManager"]));
    let make = json!([["makeCallSoap", {"in0": cred("user1000", &pw), "in1": "1001",
                        "in2": profile("user1000", "", "", false)}]]);
    let r = zeep(&node, make.clone());
    assert_eq!(code(&r[0]).0, 6, "{:?}", code(&r[0]));
    let r = client()
        .get(format!(
            "{}/webdialer/Webdialer?destination=1001",
            node.https
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r
        .text()
        .unwrap()
        .contains("not activated on node dialtone-1"));
    assert!(get_calls(&node).is_empty());
    services(json!(["CallManager", "CTIManager", "WebDialer"]));
    let r = zeep(&node, make);
    assert_eq!(code(&r[0]).0, 0, "{:?}", code(&r[0]));
    wait_connected(
        &rt,
        &bob,
        &mut b_events,
        "Bob connects once WebDialer is back",
    );

    // The WSDL names this node as the endpoint.
    let wsdl = client()
        .get(format!("{}/webdialer/wsdl/wd70.wsdl", node.https))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(wsdl.contains(&format!(
        "location=\"{}/webdialer/services/WebdialerSoapService70\"",
        node.https
    )));
    // Over plain HTTP the pages send the browser to HTTPS, and nothing is answered in clear.
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!(
            "{}/webdialer/Webdialer?destination=1001",
            node.http
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 308);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}/webdialer/Webdialer?destination=1001", node.https)
    );
    let r = plain
        .post(format!(
            "{}/webdialer/services/WebdialerSoapService70",
            node.http
        ))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "SOAP is not answered over HTTP");
}

/// SOAP's UserProfile names the phone; Unified CM ignores its `supportEM` flag (and locale,
/// dontAutoClose, dontShowCallConf, which only its HTML pages read). So a client that sends
/// `supportEM: true` for a user who is not logged in anywhere still calls from their own
/// phone, and one that names the phone the user is logged in to calls from it with
/// `supportEM: false`.
#[test]
fn soap_ignores_support_em_and_calls_from_the_phone_named() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alice = common::sim_phone(&rt, &node, 1000, ip(4, 10), false);
    let bob = common::sim_phone(&rt, &node, 1001, ip(4, 11), true);
    let desk = common::sim_phone(&rt, &node, 1005, ip(4, 12), false);
    let (mut a_events, mut b_events, mut d_events) = (alice.events(), bob.events(), desk.events());
    let pw = common::end_user_password(&node, "user1000");

    let r = zeep(
        &node,
        json!([["makeCallSoap", {"in0": cred("user1000", &pw), "in1": "1001",
                 "in2": profile("user1000", "", "", true)}]]),
    );
    assert_eq!(
        code(&r[0]),
        (0, "Success".to_string()),
        "supportEM is ignored"
    );
    wait_connected(&rt, &alice, &mut a_events, "Alice's own phone connects");
    wait_connected(&rt, &bob, &mut b_events, "Bob's phone connects");
    let r = zeep(
        &node,
        json!([["endCallSoap", {"in0": cred("user1000", &pw),
                 "in1": profile("user1000", "SEP00DE00001000", "", true)}]]),
    );
    assert_eq!(code(&r[0]).0, 0, "{:?}", code(&r[0]));
    wait_ended(&rt, &bob, &mut b_events, "Bob's call ends");

    // Alice logs in to the hot desk with Extension Mobility.
    let r = admin(client().post(node.api("/em/login")))
        .json(&json!({"device": "SEP00DE00001005", "user": "user1000"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    common::wait_event(
        &rt,
        &desk,
        &mut d_events,
        "Alice's line on the desk",
        |e| matches!(e, PhoneEvent::Registered { aor } if aor == "1000"),
    );
    let r = zeep(
        &node,
        json!([["makeCallSoap", {"in0": cred("user1000", &pw), "in1": "1001",
                 "in2": profile("user1000", "SEP00DE00001005", "1000", false)}]]),
    );
    assert_eq!(
        code(&r[0]),
        (0, "Success".to_string()),
        "the phone she is logged in to is hers"
    );
    wait_connected(&rt, &desk, &mut d_events, "the desk connects");
    wait_connected(&rt, &bob, &mut b_events, "Bob's phone connects again");
    let calls = get_calls(&node);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].to_string().contains("SEP00DE00001005"),
        "placed from the desk: {calls:?}"
    );
    for p in [alice, bob, desk] {
        rt.block_on(p.stop());
    }
}

fn get_calls(node: &Node) -> Vec<Value> {
    common::get_json(node, "/calls")["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn json_api_with_bearer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alice = common::sim_phone(&rt, &node, 1000, ip(2, 10), false);
    let bob = common::sim_phone(&rt, &node, 1001, ip(2, 11), true);
    let (mut a_events, mut b_events) = (alice.events(), bob.events());
    let pw = common::end_user_password(&node, "user1000");
    let url = |p: &str| node.api(&format!("/webdialer{p}"));

    // A session with the user's password; its token is the bearer.
    let r = client()
        .post(url("/sessions"))
        .basic_auth("user1000", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let s: Value = client()
        .post(url("/sessions"))
        .basic_auth("user1000", Some(&pw))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = s["token"].as_str().expect("a token").to_string();

    let p: Value = client()
        .get(url("/profile"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(p["primary_line"], "1000");
    assert_eq!(p["devices"][0]["name"], "SEP00DE00001000");
    assert_eq!(
        p["devices"][0]["lines"],
        json!([{"number": "1000", "partition": "Internal_PT"}])
    );

    // Bad requests name the field and place nothing.
    let r = client()
        .post(url("/calls"))
        .bearer_auth(&token)
        .json(&json!({"destination": "1001", "colour": "red"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "colour");
    let r = client()
        .post(url("/calls"))
        .bearer_auth(&token)
        .json(&json!({"destination": "sip:x@y"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().unwrap();
    assert_eq!(
        (body["code"].as_i64(), body["field"].as_str()),
        (Some(7), Some("destination"))
    );
    let r = client()
        .put(url("/preferences"))
        .bearer_auth(&token)
        .json(&json!({"device": "SEP00DE00001005"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(r.json::<Value>().unwrap()["field"], "device");
    let r = client()
        .post(url("/calls"))
        .json(&json!({"destination": "1001"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(get_calls(&node).is_empty());

    // Preferences saved, then a call from them.
    let r = client()
        .put(url("/preferences"))
        .bearer_auth(&token)
        .json(&json!({"device": "SEP00DE00001000", "line": "1000"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    let r = client()
        .post(url("/calls"))
        .bearer_auth(&token)
        .json(&json!({"destination": "10-01"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let placed: Value = r.json().unwrap();
    assert_eq!(
        (
            placed["code"].as_i64(),
            placed["device"].as_str(),
            placed["line"].as_str()
        ),
        (Some(0), Some("SEP00DE00001000"), Some("1000"))
    );
    wait_connected(&rt, &alice, &mut a_events, "Alice connects");
    wait_connected(&rt, &bob, &mut b_events, "Bob connects");
    let r = client()
        .post(url("/calls/end"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    wait_ended(&rt, &bob, &mut b_events, "Bob's call ends");

    // An application user's API token acts for a user it names.
    let app_token: Value = client()
        .post(node.api("/auth/token"))
        .basic_auth("demoapp", Some(&common::app_password(&node)))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let app_token = app_token["token"].as_str().unwrap();
    let r = client()
        .post(url("/calls"))
        .bearer_auth(app_token)
        .json(&json!({"destination": "1001"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "a proxy must name the user");
    let r = client()
        .post(url("/calls"))
        .bearer_auth(app_token)
        .json(&json!({"destination": "1001", "user": "user1000"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    wait_connected(&rt, &bob, &mut b_events, "Bob connects (proxy)");
    let r = client()
        .post(url("/calls/end"))
        .bearer_auth(app_token)
        .json(&json!({"user": "user1000"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    wait_ended(&rt, &bob, &mut b_events, "Bob's call ends (proxy)");

    // The servlet's proxy parameters: an application user with proxy rights opens a session
    // for a user, and the browser goes on without the password in its address.
    add_users_without_rights(&node);
    let web = browser_like(&[&node]);
    let servlet = format!("{}/webdialer/Webdialer", node.https);
    let app = common::app_password(&node);
    common::set_parameter(&node, "webdialer", "user_session_expiry_hours", json!(8));
    let r = web
        .get(format!(
            "{servlet}?destination=1001&uid=user1000&appid=demoapp&pwd={app}"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("Max-Age=28800") && set_cookie.contains("Secure"),
        "User Session Expiry, 8 hours: {set_cookie}"
    );
    assert_eq!(
        r.headers()["location"],
        "/webdialer/Webdialer?destination=1001"
    );
    let session = cookie_of(&r, "WDSESSION").expect("a session for user1000");
    let page = web
        .get(format!("{servlet}?destination=1001"))
        .header("cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Make Call") && page.contains("SEP00DE00001000, line 1000"),
        "user1000's dial page, from the preferences saved above: {page}"
    );
    // Dial from the page: the call window closes itself after the End Call Dialog time.
    common::set_parameter(&node, "webdialer", "end_call_dialog_seconds", json!(12));
    let page = web
        .post(&servlet)
        .header("cookie", &session)
        .form(&[("action", "dial"), ("destination", "1001")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("closes in <span id=\"left\">12</span> seconds"),
        "{page}"
    );
    wait_connected(&rt, &bob, &mut b_events, "Bob connects (servlet)");
    let page = web
        .post(&servlet)
        .header("cookie", &session)
        .form(&[
            ("action", "hangup"),
            ("device", "SEP00DE00001000"),
            ("line", "1000"),
        ])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Call ended."), "{page}");
    wait_ended(&rt, &bob, &mut b_events, "Bob's call ends (servlet)");
    let r = web
        .get(format!("{servlet}?uid=user1000&appid=demoapp&pwd=wrong"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(cookie_of(&r, "WDSESSION").is_none());
    let page = web
        .get(format!(
            "{servlet}?uid=user1000&appid=ctiapp&pwd=ctiapp-pw-1"
        ))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("ctiapp lacks Standard WebDialer Proxy Rights"),
        "{page}"
    );

    // The WebDialer session token also serves as SOAP's Credential token.
    let r = zeep(
        &node,
        json!([["getPrimaryLine", {"in0": {"token": token, "userID": null, "password": null}}]]),
    );
    assert_eq!(r[0]["ok"]["_value_1"], "1000", "{r:?}");

    let r = client()
        .get(url("/cluster-users/user1000"))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(r["cluster_user"], true);

    // A busy application is never locked out by its own requests; a guesser is, past
    // phones.auth_failures_per_minute (10), even with the right password then.
    for _ in 0..15 {
        let r = client()
            .get(url("/profile?user=user1001"))
            .basic_auth("demoapp", Some(&app))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    for _ in 0..10 {
        let r = client()
            .get(url("/profile"))
            .basic_auth("user1002", Some("guess"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = client()
        .get(url("/profile"))
        .basic_auth(
            "user1002",
            Some(&common::end_user_password(&node, "user1002")),
        )
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "locked out for the rest of the minute"
    );

    // Closing the session ends the token.
    let r = client()
        .delete(url("/sessions"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = client()
        .get(url("/profile"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// The certificate's SHA-256 fingerprint as openssl prints it (`AB:CD:...`), which the List
/// of WebDialers takes as it is.
fn fingerprint(node: &Node) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(certificate(node))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_string()
}

/// A cookie-keeping client that does not follow redirects, trusting both nodes' certificates.
fn browser_like(nodes: &[&Node]) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20));
    for n in nodes {
        let pem = std::fs::read(certificate(n)).unwrap();
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// The hidden fields and action of the first form in a page.
fn first_form(page: &str) -> (String, Vec<(String, String)>) {
    let start = page.find("<form").expect("a form");
    let form = &page[start..page[start..].find("</form>").unwrap() + start];
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| {
            let rest = &tag[i + key.len()..];
            rest[..rest.find('"').unwrap()]
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
        })
    };
    let action = attr(&form[..form.find('>').unwrap()], "action").unwrap();
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value").unwrap_or_default())))
        .collect();
    (action, fields)
}

fn cookie_of(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

#[test]
fn redirector_sends_each_user_to_their_cluster() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Cluster A: the demo company. Cluster B: its own users, one of them (user1003) also in A.
    let a = node(dir_a.path());
    let b = Node::start(dir_b.path(), "", false);
    for (user, pw) in [("nyuser", "ny-password-1"), ("user1003", "b-password-1")] {
        let r = admin(client().post(b.api("/users")))
            .json(&json!({"user_id": user, "last_name": "NY", "password": pw}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    }
    // A third WebDialer that accepts connections and never answers: the Redirector waits
    // for it no longer than its timeout (1 s here; the default, 5 s, would fail the bound).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let list = format!(
        "{}#sha256={} https://{}#sha256={} {}#sha256={}",
        a.https,
        fingerprint(&a),
        silent.local_addr().unwrap(),
        "11".repeat(32),
        b.https,
        fingerprint(&b)
    );
    // A list that cannot be used is refused, naming what is wrong, and changes nothing.
    let r = admin(client().put(a.api("/parameters/webdialer/list_of_webdialers")))
        .json(&json!({"value": format!("http://{}", &b.https["https://".len()..])}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().unwrap().contains("is not an https:// URL"));
    common::set_parameter(&a, "webdialer", "list_of_webdialers", json!(list));
    common::set_parameter(&a, "webdialer", "redirector_timeout_ms", json!(1000));
    let web = browser_like(&[&a, &b]);
    let redirector = format!("{}/webdialer/Redirector", a.https);

    // nyuser logs in at A's Redirector; only B says yes; the page hands the login to B in a
    // form (POST over HTTPS), never in a URL.
    let r = web
        .get(format!("{redirector}?destination=1001"))
        .send()
        .unwrap();
    let page = r.text().unwrap();
    assert!(page.contains("name=\"password\""), "a login page: {page}");
    let asked = std::time::Instant::now();
    let r = web
        .post(&redirector)
        .form(&[
            ("user", "nyuser"),
            ("password", "ny-password-1"),
            ("destination", "1001"),
        ])
        .send()
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_millis(3000),
        "the silent WebDialer held the decision up for {:?}",
        asked.elapsed()
    );
    let remembered = cookie_of(&r, "WDREDIRECT").expect("the Redirector remembers the user");
    let page = r.text().unwrap();
    let (action, fields) = first_form(&page);
    assert_eq!(action, format!("{}/webdialer/Webdialer", b.https));
    assert!(page.contains("submit()"), "the form submits itself");
    assert!(fields.contains(&("password".into(), "ny-password-1".into())));
    // B verifies the login and opens its own session: the user is not asked again.
    let r = web.post(&action).form(&fields).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let session = cookie_of(&r, "WDSESSION").expect("B's session");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/webdialer/Webdialer?destination=1001");
    let page = web
        .get(format!("{}{location}", b.https))
        .header("cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Cisco WebDialer Preferences"),
        "B's own pages, logged in: {page}"
    );

    // A's own user goes to A; with the Redirector's cookie the next click is a redirect.
    let pw = common::end_user_password(&a, "user1001");
    let r = web
        .post(&redirector)
        .form(&[
            ("user", "user1001"),
            ("password", pw.as_str()),
            ("destination", "1002"),
        ])
        .send()
        .unwrap();
    let (action, _) = first_form(&r.text().unwrap());
    assert_eq!(action, format!("{}/webdialer/Webdialer", a.https));
    let r = web
        .get(format!("{redirector}?destination=1005"))
        .header("cookie", &remembered)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}/webdialer/Webdialer?destination=1005", b.https)
    );

    // A user both clusters know chooses; a user neither knows is told so.
    let r = web
        .post(&redirector)
        .form(&[
            ("user", "user1003"),
            ("password", "x"),
            ("destination", "1001"),
        ])
        .send()
        .unwrap();
    let page = r.text().unwrap();
    assert!(page.contains("Choose your WebDialer"), "{page}");
    assert!(page.contains(&a.https) && page.contains(&b.https));
    let r = web
        .post(&redirector)
        .form(&[
            ("user", "ghost"),
            ("password", "x"),
            ("destination", "1001"),
        ])
        .send()
        .unwrap();
    assert!(r
        .text()
        .unwrap()
        .contains("ghost is not a user of any WebDialer in the List of WebDialers"));

    // A wrong pin: B's answers are not believed, so nyuser is found nowhere.
    let wrong = format!(
        "{}#sha256={} {}#sha256={}",
        a.https,
        fingerprint(&a),
        b.https,
        "00".repeat(32)
    );
    common::set_parameter(&a, "webdialer", "list_of_webdialers", json!(wrong));
    let r = web
        .post(&redirector)
        .form(&[
            ("user", "nyuser"),
            ("password", "ny-password-1"),
            ("destination", "1001"),
        ])
        .send()
        .unwrap();
    assert!(r
        .text()
        .unwrap()
        .contains("nyuser is not a user of any WebDialer"));
}

#[test]
fn browser_logs_in_sets_preferences_dials_and_hangs_up() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    add_users_without_rights(&node);
    common::set_parameter(&node, "webdialer", "end_call_dialog_seconds", json!(10));
    let itself = format!("{}#sha256={}", node.https, fingerprint(&node));
    common::set_parameter(&node, "webdialer", "list_of_webdialers", json!(itself));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alice = common::sim_phone(&rt, &node, 1000, ip(3, 10), false);
    let bob = common::sim_phone(&rt, &node, 1001, ip(3, 11), true);
    let (mut a_events, mut b_events) = (alice.events(), bob.events());
    let pw = common::end_user_password(&node, "user1000");
    let signals = tempfile::tempdir().unwrap();

    let browser = Command::new(common::python())
        .arg(script("browser.py"))
        .arg(&node.https)
        .arg("user1000")
        .arg(&pw)
        .arg(signals.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wait_file = |name: &str| {
        let path = signals.path().join(name);
        for _ in 0..600 {
            if path.exists() {
                return std::fs::read_to_string(&path).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the browser never reached '{name}'");
    };
    // The browser dialled 1001 from the page: both phones connect.
    assert_eq!(wait_file("dialled"), "Calling 1001");
    wait_connected(&rt, &alice, &mut a_events, "Alice's phone connects");
    wait_connected(&rt, &bob, &mut b_events, "Bob's phone connects");
    std::fs::write(signals.path().join("connected"), "").unwrap();
    // It pressed Hang Up: the call ends.
    wait_ended(&rt, &bob, &mut b_events, "Bob's call ends");
    std::fs::write(signals.path().join("ended"), "").unwrap();
    let out = browser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the browser's journey: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["hung_up"], "Call ended.");
    assert_eq!(
        report["em_message"],
        "Call to 1001 failed: User not logged in on any device"
    );
    assert_eq!(
        report["no_device_message"],
        "No supported device configured for user"
    );
    assert_eq!(report["wrong_password"], true);
    assert_eq!(
        report["remembered"], true,
        "the session cookie keeps the login"
    );
    assert_eq!(
        report["redirected"], true,
        "the Redirector's form logs in: {report}"
    );
    assert_eq!(report["redirected_again"], true, "{report}");
}
