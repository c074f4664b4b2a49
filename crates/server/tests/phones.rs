//! IP Phone Services, provisioning and push, end to end: the phone simulator, provisioned as
//! a demo phone, walks services and directories and dials; pushes pass (or fail) the phone's
//! Authentication URL; every phone object validates against Cisco's schema with Python's
//! xmlschema; configuration files come over HTTP and TFTP and re-register a reset phone.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{admin, client, demo_password, Node, Start};
use dialtone_phone_xml::Object;
use dialtone_phonesim::{CallState, Phone, PhoneEvent, Spec};
use serde_json::{json, Value};

/// Each test has its own loopback block, so phones of tests running at once never collide.
fn ip(block: u8, n: u8) -> IpAddr {
    IpAddr::from([127, 31, block, n])
}

const WEB_PORT: u16 = common::PHONE_WEB_PORT;

fn node() -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        dir.path(),
        &format!("[phones]\nweb_port = {WEB_PORT}\npush_timeout_ms = 3000\n"),
        true,
    );
    (dir, node)
}

/// Reset or restart a phone through CTI (a NOTIFY service-control).
fn cti_device(node: &Node, device: &str, action: &str) {
    let r = admin(client().post(node.api(&format!("/cti/devices/{device}/{action}"))))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
}

fn get_text(url: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = client().get(url).send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().unwrap(), headers)
}

fn post(node: &Node, path: &str, body: Value) -> Value {
    let r = admin(client().post(node.api(path)))
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.text().unwrap());
    r.json().unwrap()
}

fn patch(node: &Node, path: &str, body: Value) {
    let r = admin(client().patch(node.api(path)))
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.text().unwrap());
}

/// A third-party IP phone service: answers with a text naming the device it was asked for.
fn weather_service(rt: &tokio::runtime::Runtime) -> SocketAddr {
    use axum::extract::Query;
    use std::collections::HashMap;
    async fn weather(
        Query(q): Query<HashMap<String, String>>,
    ) -> ([(&'static str, &'static str); 1], String) {
        let dev = q.get("dev").cloned().unwrap_or_default();
        let city = q.get("city").cloned().unwrap_or_default();
        (
            [("content-type", "text/xml")],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CiscoIPPhoneText><Title>Weather</Title>\
                 <Text>Sunny in {city} for {dev}</Text></CiscoIPPhoneText>"
            ),
        )
    }
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let app = axum::Router::new().route("/weather", axum::routing::get(weather));
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        addr
    })
}

#[test]
fn simulator_walks_services_and_directories_and_its_call_connects() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    let service = weather_service(&rt);
    post(
        &node,
        "/ip-phone-services",
        json!({"name": "Weather", "url": format!("http://{service}/weather?dev=#DEVICENAME#"),
               "service_type": "IP Phone Service"}),
    );
    post(
        &node,
        "/ip-phone-service-parameters",
        json!({"service": "Weather", "name": "city", "default_value": "Paris"}),
    );
    patch(
        &node,
        "/devices/SEP00DE00001000",
        json!({"services": ["Weather"]}),
    );
    // This phone's own value for the parameter; others get the default.
    post(
        &node,
        "/subscription-parameters",
        json!({"device": "SEP00DE00001000", "parameter": {"service": "Weather", "name": "city"}, "value": "Rome"}),
    );
    settled(&node, "SEP00DE00001000", "city=Rome");

    let alice = common::sim_phone(&rt, &node, 1000, ip(1, 10), false);
    let bob = common::sim_phone(&rt, &node, 1001, ip(1, 11), true);
    let mut events = alice.events();

    // Services: the subscription and the enterprise ones, from the configuration file.
    let menu = rt.block_on(alice.press_services()).unwrap();
    let Object::Menu { items, .. } = &menu else {
        panic!("{menu:?}")
    };
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["Weather", "Directory Search", "Extension Mobility"],
        "subscribed first, then enterprise"
    );
    let shown = rt.block_on(alice.select(0)).unwrap();
    assert_eq!(
        shown,
        Object::Text {
            screen: dialtone_phone_xml::Screen::titled("Weather"),
            text: "Sunny in Rome for SEP00DE00001000".into()
        },
        "#DEVICENAME# and the phone's parameter value reach the service"
    );
    assert_eq!(alice.back(), Some(menu), "back to the services menu");

    // Directories -> Corporate Directory -> search -> dial.
    let dirs = rt.block_on(alice.press_directories()).unwrap();
    let Object::Menu { items, .. } = &dirs else {
        panic!("{dirs:?}")
    };
    assert_eq!(items[0].name, "Corporate Directory");
    assert!(items.iter().any(|i| i.name == "Personal Directory"));
    let input = rt.block_on(alice.select(0)).unwrap();
    assert!(matches!(input, Object::Input { .. }), "{input:?}");
    let found = rt.block_on(alice.submit(&[("l", "pet")])).unwrap();
    let Object::Directory { entries, screen } = &found else {
        panic!("{found:?}")
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].name.as_str(), entries[0].telephone.as_str()),
        ("Petrov, Boris", "1001")
    );
    assert!(screen
        .softkeys
        .iter()
        .any(|k| k.name == "Dial" && k.url == "SoftKey:Dial"));
    let call = rt.block_on(alice.dial_entry(0)).expect("the call connects");
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "connected",
        |e| matches!(e, PhoneEvent::Connected { call_id } if *call_id == call),
    );
    std::thread::sleep(Duration::from_millis(800));
    let mine = alice
        .calls()
        .into_iter()
        .find(|c| c.call_id == call)
        .unwrap();
    let theirs = bob.calls().into_iter().next().expect("bob has the call");
    assert_eq!(
        (mine.state, theirs.state),
        (CallState::Connected, CallState::Connected)
    );
    assert!(
        mine.rtp_received > 10 && theirs.rtp_received > 10,
        "G.711 flows both ways: {mine:?} {theirs:?}"
    );
    rt.block_on(alice.hangup(&call)).unwrap();

    // Phone-initiated pull: with URL Idle and URL Idle Time set, a phone left alone shows the
    // idle URL (here after its reset brings the new configuration).
    for (name, value) in [
        (
            "url_idle",
            json!(format!("http://{service}/weather?dev=idle")),
        ),
        ("url_idle_time", json!(1)),
    ] {
        common::set_parameter(&node, "enterprise", name, value);
    }
    settled(&node, "SEP00DE00001000", "<idleTimeout>1</idleTimeout>");
    cti_device(&node, "SEP00DE00001000", "restart");
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "idle URL",
        |e| matches!(e, PhoneEvent::Idle { object } if object == "CiscoIPPhoneText"),
    );
    assert!(matches!(alice.screen(), Some(Object::Text { text, .. }) if text.contains("for idle")));
    rt.block_on(alice.stop());
    rt.block_on(bob.stop());
}

fn push(node: &Node, device: &str, body: Value) -> (u16, Value) {
    let r = admin(client().post(node.api(&format!("/devices/{device}/push"))))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn pushes_pass_the_phones_authentication_url_or_get_error_4() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    let alice = common::sim_phone(&rt, &node, 1000, ip(2, 10), false);
    let mut events = alice.events();
    let text =
        "<CiscoIPPhoneText><Title>Notice</Title><Text>Fire drill at 3</Text></CiscoIPPhoneText>";
    let alice_pw = common::end_user_password(&node, "user1000");

    // The owner may push to the phone; the phone checks with the Authentication URL first.
    let (status, report) = push(
        &node,
        "SEP00DE00001000",
        json!({"xml": text, "user_id": "user1000", "password": alice_pw}),
    );
    assert_eq!(status, 200);
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(
        report["address"],
        format!("{}:{WEB_PORT}", ip(2, 10)),
        "pushed to the phone's registered address"
    );
    match alice.screen() {
        Some(Object::Text { text, .. }) => assert_eq!(text, "Fire drill at 3"),
        other => panic!("{other:?}"),
    }
    // A wrong password, and another user's phone: the phone answers CiscoIPPhoneError 4.
    let bob_pw = common::end_user_password(&node, "user1001");
    for (user, pw) in [("user1000", "wrong"), ("user1001", bob_pw.as_str())] {
        let (status, report) = push(
            &node,
            "SEP00DE00001000",
            json!({"xml": text, "user_id": user, "password": pw}),
        );
        assert_eq!(status, 200);
        assert_eq!(
            (report["status"].as_str(), report["error_number"].as_u64()),
            (Some("phone_error"), Some(4)),
            "{report}"
        );
        common::wait_event(
            &rt,
            &alice,
            &mut events,
            "refused",
            |e| matches!(e, PhoneEvent::PushRefused { user: u } if u == user),
        );
    }
    // An administrator pushes with its own credentials: an Execute that dials.
    let bob = common::sim_phone(&rt, &node, 1001, ip(2, 11), true);
    let (status, report) = push(
        &node,
        "SEP00DE00001000",
        json!({"xml": "<CiscoIPPhoneExecute><ExecuteItem URL=\"Dial:1001\"/></CiscoIPPhoneExecute>"}),
    );
    assert_eq!(
        (status, report["status"].as_str()),
        (200, Some("ok")),
        "{report}"
    );
    assert_eq!(
        report["items"][0],
        json!({"status": 0, "data": "Success", "url": "Dial:1001"})
    );
    common::wait_event(&rt, &alice, &mut events, "the pushed Dial connects", |e| {
        matches!(e, PhoneEvent::Connected { .. })
    });
    assert_eq!(bob.calls().len(), 1);

    // Many phones at once, each reported.
    let r: Value = admin(client().post(node.api("/push")))
        .json(&json!({"xml": text, "devices": ["SEP00DE00001000", "SEP00DE00001001", "SEP00DE00001005"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let statuses: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "ok", "not_registered"], "{r}");

    // From the command line: one line a phone, failure when any phone did not do it.
    let file = node.dir.join("notice.xml");
    std::fs::write(&file, text).unwrap();
    let cli = |devices: &str| {
        std::process::Command::new(common::binary())
            .args(["push", devices])
            .arg(&file)
            .args(["--url", &node.api("")])
            .env("DIALTONE_PUSH_PASSWORD", common::ADMIN_PASSWORD)
            .output()
            .unwrap()
    };
    let out = cli("SEP00DE00001000,SEP00DE00001001");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("SEP00DE00001001  ok"), "{printed}");
    let out = cli("SEP00DE00001000,SEP00DE00001007");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SEP00DE00001007  not_registered"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 phone(s) did not carry it out"));

    // The API's own rules: bad XML names the field, unknown devices are 404, an application
    // user without the push role is refused, a bearer token needs phone credentials.
    let (status, report) = push(
        &node,
        "SEP00DE00001000",
        json!({"xml": "<CiscoIPPhoneText><Text>"}),
    );
    assert_eq!(
        (status, report["field"].as_str()),
        (422, Some("xml")),
        "{report}"
    );
    let (status, _) = push(&node, "SEPFFFFFFFFFFFF", json!({"xml": text}));
    assert_eq!(status, 404);
    let demoapp_pw = common::app_password(&node);
    let r = client()
        .post(node.api("/devices/SEP00DE00001000/push"))
        .basic_auth("demoapp", Some(&demoapp_pw))
        .json(&json!({"xml": text}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let token: Value = admin(client().post(node.api("/auth/token")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let r = client()
        .post(node.api("/devices/SEP00DE00001000/push"))
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&json!({"xml": text}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["field"], "password");

    // The Authentication URL itself: exactly AUTHORIZED or UN-AUTHORIZED, no newline.
    let auth = |u: &str, p: &str, d: &str| {
        get_text(&format!(
            "{}/ccmcip/authenticate.jsp?UserID={u}&Password={p}&devicename={d}",
            node.http
        ))
        .1
    };
    assert_eq!(auth("user1000", &alice_pw, "SEP00DE00001000"), "AUTHORIZED");
    assert_eq!(
        auth("user1000", &alice_pw, "SEP00DE00001001"),
        "UN-AUTHORIZED"
    );
    assert_eq!(
        auth("admin", common::ADMIN_PASSWORD, "SEP00DE00001001"),
        "AUTHORIZED"
    );
    assert_eq!(
        auth("demoapp", &demoapp_pw, "SEP00DE00001001"),
        "UN-AUTHORIZED"
    );
    assert_eq!(
        auth("admin", common::ADMIN_PASSWORD, "SEPNOSUCHPHONE"),
        "UN-AUTHORIZED"
    );
    // Guessing: after phones.auth_failures_per_minute wrong passwords, even the right one is
    // refused for the rest of the minute; other users are not affected.
    let carol_pw = common::end_user_password(&node, "user1002");
    assert_eq!(auth("user1002", &carol_pw, "SEP00DE00001002"), "AUTHORIZED");
    for i in 0..10 {
        assert_eq!(
            auth("user1002", &format!("guess{i}"), "SEP00DE00001002"),
            "UN-AUTHORIZED"
        );
    }
    assert_eq!(
        auth("user1002", &carol_pw, "SEP00DE00001002"),
        "UN-AUTHORIZED"
    );
    assert_eq!(auth("user1000", &alice_pw, "SEP00DE00001000"), "AUTHORIZED");

    // A text-only phone is not sent graphics.
    post(
        &node,
        "/devices",
        json!({"name": "SEP000000007911", "model": "Cisco 7911"}),
    );
    config_over_http(&node, "SEP000000007911");
    let (_, report) = push(
        &node,
        "SEP000000007911",
        json!({"xml": "<CiscoIPPhoneImage><Width>1</Width><Height>1</Height><Depth>1</Depth><Data>00</Data></CiscoIPPhoneImage>"}),
    );
    assert_eq!(report["status"], "unsupported", "{report}");
    rt.block_on(alice.stop());
    rt.block_on(bob.stop());
}

#[test]
fn every_phone_object_validates_against_ciscos_schema() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (dir, node) = node();
    // 45 people called Lund: the corporate directory pages them by 32.
    for i in 0..25 {
        let dn = format!("{}", 2000 + i);
        post(
            &node,
            "/directory-numbers",
            json!({"pattern": dn, "partition": "Internal_PT"}),
        );
        post(
            &node,
            "/users",
            json!({"user_id": format!("lund{i}"), "first_name": format!("Per{i:02}"), "last_name": "Lund & Co",
                   "primary_extension": {"pattern": dn, "partition": "Internal_PT"}}),
        );
    }
    for i in 0..20 {
        patch(
            &node,
            &format!("/users/user{}", 1000 + i),
            json!({"last_name": "Lund"}),
        );
    }
    post(
        &node,
        "/personal-directory-entries",
        json!({"user": "user1000", "nickname": "Mum", "mobile_number": "0612345678", "home_number": "0123456789"}),
    );
    post(
        &node,
        "/ip-phone-services",
        json!({"name": "Game", "url": "http://apps/game.jad", "category": "Java MIDlet", "enterprise_subscription": true}),
    );
    post(
        &node,
        "/devices",
        json!({"name": "SEP0000000000AA", "model": "Cisco 8845"}),
    );
    // 110 services for a phone that runs no MIDlets: more than a menu holds.
    for i in 0..107 {
        post(
            &node,
            "/ip-phone-services",
            json!({"name": format!("Svc{i:03}"), "url": format!("http://apps/{i}"), "enterprise_subscription": true}),
        );
    }

    let h = &node.http;
    // Wait until the node has read all of that in.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !get_text(&format!(
        "{h}/ccmcip/xmlpersonaldirectory.jsp?name=SEP00DE00001000"
    ))
    .1
    .contains("Mum")
        || !get_text(&format!("{h}/ccmcip/xmldirectorylist.jsp?l=lund"))
            .1
            .contains("of 45")
        || !get_text(&format!(
            "{h}/ccmcip/getservicesmenu.jsp?name=SEP0000000000AA&start=101"
        ))
        .1
        .contains("Svc106")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never took the new users in"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = &node.https;
    let mut pages = vec![
        format!("{h}/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000"),
        format!("{s}/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000"),
        format!("{h}/ccmcip/getservicesmenu.jsp"),
        format!("{h}/ccmcip/xmldirectory.jsp?name=SEP00DE00001000"),
        format!("{h}/ccmcip/xmldirectoryinput.jsp?name=SEP00DE00001000"),
        format!("{h}/ccmcip/xmldirectorylist.jsp?l=lund"),
        format!("{h}/ccmcip/xmldirectorylist.jsp?l=nobody"),
        format!("{h}/ccmcip/xmlpersonaldirectory.jsp?name=SEP00DE00001000"),
        format!("{h}/ccmcip/xmlpersonaldirectory.jsp?name=SEP0000000000AA"),
        format!("{h}/emapp/EMAppServlet?device=SEP00DE00001000"),
        format!("{h}/emapp/EMAppServlet?device=SEP00DE00001000&userid=user1000&pin=0"),
        format!("{h}/emapp/EMAppServlet?device="),
    ];
    // Page 1 of 45: a Next softkey and a Refresh header lead to page 2.
    let (_, first, headers) = get_text(&format!(
        "{h}/ccmcip/xmldirectorylist.jsp?l=lund&unknown=tolerated"
    ));
    let Ok(Object::Directory { entries, screen }) = Object::parse(&first) else {
        panic!("{first}")
    };
    assert_eq!(entries.len(), 32);
    assert_eq!(screen.prompt.as_deref(), Some("Records 1 to 32 of 45"));
    let next = screen
        .softkeys
        .iter()
        .find(|k| k.name == "Next")
        .expect("a Next softkey")
        .url
        .clone();
    assert!(headers["refresh"]
        .to_str()
        .unwrap()
        .ends_with(&format!("url={next}")));
    let (_, second, headers) = get_text(&next);
    let Ok(Object::Directory { entries, screen }) = Object::parse(&second) else {
        panic!("{second}")
    };
    assert_eq!(
        (entries.len(), screen.prompt.as_deref()),
        (13, Some("Records 33 to 45 of 45"))
    );
    assert!(!screen.softkeys.iter().any(|k| k.name == "Next") && headers.get("refresh").is_none());
    assert!(entries.iter().any(|e| e.name == "Lund & Co, Per24"));
    pages.push(next);
    // Services beyond a menu's 100 items: Next leads to the rest.
    let (_, menu, _) = get_text(&format!(
        "{h}/ccmcip/getservicesmenu.jsp?name=SEP0000000000AA"
    ));
    let Ok(Object::Menu { items, screen }) = Object::parse(&menu) else {
        panic!("{menu}")
    };
    assert_eq!(items.len(), 100);
    let next = screen
        .softkeys
        .iter()
        .find(|k| k.name == "Next")
        .expect("Next")
        .url
        .clone();
    let (_, rest, _) = get_text(&next);
    let Ok(Object::Menu { items: more, .. }) = Object::parse(&rest) else {
        panic!("{rest}")
    };
    let mut all: Vec<String> = items
        .iter()
        .chain(more.iter())
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(
        all.len(),
        109,
        "Directory Search, Extension Mobility, 107 services"
    );
    all.dedup();
    assert_eq!(all.len(), 109, "nothing twice");
    pages.push(next);

    // The personal directory lists each number of each entry.
    let (_, personal, _) = get_text(&pages[7]);
    assert!(
        personal.contains("<Name>Mum (home)</Name>")
            && personal.contains("<Telephone>0612345678</Telephone>"),
        "{personal}"
    );
    // A MIDlet is offered to a phone that runs them, not to a text-only display.
    let menu = |display: &str| {
        client()
            .get(format!(
                "{h}/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000"
            ))
            .header("x-CiscoIPPhoneModelName", "CP-7965G")
            .header("x-CiscoIPPhoneDisplay", display)
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert!(menu("298,168,12,C").contains("<Name>Game</Name>"));
    assert!(!menu("298,168,1,G").contains("<Name>Game</Name>"));

    let out_dir = dir.path().join("objects");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut files = Vec::new();
    for (i, url) in pages.iter().enumerate() {
        let (status, body, headers) = get_text(url);
        assert_eq!(status, 200, "{url}");
        assert_eq!(headers["content-type"], "text/xml; charset=utf-8", "{url}");
        assert!(
            body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{url}"
        );
        let f = out_dir.join(format!("page{i}.xml"));
        std::fs::write(&f, body).unwrap();
        files.push(f);
    }
    // What the simulator answers a push with: a CiscoIPPhoneResponse, or Error 4 and 1.
    let alice = common::sim_phone(&rt, &node, 1000, ip(3, 10), false);
    let alice_pw = common::end_user_password(&node, "user1000");
    let execute = |user: &str, pw: &str, xml: &str| {
        client()
            .post(format!("http://{}:{WEB_PORT}/CGI/Execute", ip(3, 10)))
            .basic_auth(user, Some(pw))
            .form(&[("XML", xml)])
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let answers = [
        execute("user1000", &alice_pw, "<CiscoIPPhoneExecute><ExecuteItem Priority=\"0\" URL=\"Key:Services\"/><ExecuteItem URL=\"Init:Directories\"/></CiscoIPPhoneExecute>"),
        execute("user1000", "wrong", "<CiscoIPPhoneText><Text>x</Text></CiscoIPPhoneText>"),
        execute("user1000", &alice_pw, "<CiscoIPPhoneText><Text>x</Text>"),
    ];
    assert!(
        answers[0].contains("<ResponseItem Status=\"0\" Data=\"Success\" URL=\"Key:Services\"/>"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("<CiscoIPPhoneError Number=\"4\"/>"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].contains("<CiscoIPPhoneError Number=\"1\"/>"),
        "{}",
        answers[2]
    );
    for (i, a) in answers.iter().enumerate() {
        let f = out_dir.join(format!("phone{i}.xml"));
        std::fs::write(&f, a).unwrap();
        files.push(f);
    }
    rt.block_on(alice.stop());

    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/phones/schema/CiscoIPPhone.xsd"
    );
    let out = std::process::Command::new(common::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/phones/validate_phone_xml.py"
        ))
        .arg(schema)
        .args(&files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains(&format!("{} valid, 0 invalid", files.len())),
        "{report}"
    );
}

/// Wait until the node has taken a change in: the device's file mentions `needle`.
fn settled(node: &Node, device: &str, needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !config_over_http(node, device).contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "{needle} never reached {device}'s file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The device's configuration file, once the node has taken in the latest change.
fn config_over_http(node: &Node, device: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body, _) = get_text(&format!("{}/{device}.cnf.xml", node.config_http));
        if status == 200 || std::time::Instant::now() > deadline {
            assert_eq!(status, 200, "{body}");
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stamp(file: &str) -> String {
    dialtone_phone_xml::config::Parsed::parse(file)
        .unwrap()
        .version_stamp
}

#[test]
fn configuration_files_come_over_http_and_tftp_and_a_reset_phone_takes_new_lines() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    let file = config_over_http(&node, "SEP00DE00001000");
    assert_eq!(
        get_text(&format!("{}/SEP00DE00001000.cnf.xml", node.http)).1,
        file,
        "the phone-facing port serves it too"
    );
    let tftp: SocketAddr = node.tftp.parse().unwrap();
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let over_tftp = rt
        .block_on(dialtone_phonesim::web::tftp_get(
            local,
            tftp,
            "SEP00DE00001000.cnf.xml",
            Duration::from_secs(2),
        ))
        .unwrap();
    assert_eq!(String::from_utf8(over_tftp).unwrap(), file);
    let missing = rt.block_on(dialtone_phonesim::web::tftp_get(
        local,
        tftp,
        "SEPNOSUCH.cnf.xml",
        Duration::from_secs(2),
    ));
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("error 1: file not found"));
    assert_eq!(
        get_text(&format!("{}/SEPNOSUCH.cnf.xml", node.config_http)).0,
        404
    );

    // What a Cisco phone needs, pointing at this node.
    for needle in [
        "<remoteCcEnable>true</remoteCcEnable>",
        "<name>1000</name>",
        "<authName>user1000</authName>",
        &format!(
            "<servicesURL>{}/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000</servicesURL>",
            node.http
        ),
        &format!(
            "<authenticationURL>{}/ccmcip/authenticate.jsp</authenticationURL>",
            node.http
        ),
        "<provisioning>0</provisioning>",
        "<phoneService type=\"1\" category=\"0\">",
        "<url>Application:Cisco/CorporateDirectory</url>",
    ] {
        assert!(file.contains(needle), "{needle} in {file}");
    }
    // Other makers' phones and multiplatform firmware get no remote control.
    post(
        &node,
        "/devices",
        json!({"name": "SEP000000006871", "model": "Cisco 6871 MPP"}),
    );
    assert!(config_over_http(&node, "SEP000000006871")
        .contains("<remoteCcEnable>false</remoteCcEnable>"));

    // A default service an administrator disables leaves every phone's file.
    patch(
        &node,
        "/ip-phone-services/Corporate Directory",
        json!({"enabled": false}),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while config_over_http(&node, "SEP00DE00001000").contains("CorporateDirectory") {
        assert!(
            std::time::Instant::now() < deadline,
            "the disabled service stays"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(config_over_http(&node, "SEP00DE00001000").contains("<name>Placed Calls</name>"));
    // ... and the phone's Directories list.
    let (status, list, _) = get_text(&format!(
        "{}/ccmcip/xmldirectory.jsp?name=SEP00DE00001000",
        node.http
    ));
    assert_eq!(status, 200);
    assert!(!list.contains("Corporate Directory"), "{list}");
    assert!(list.contains("Personal Directory"), "{list}");

    // Services Provisioning External URL: no list in the file; the phone asks the services URL.
    let r = admin(client().put(node.api("/parameters/enterprise/services_provisioning")))
        .json(&json!({"value": "External URL"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    settled(&node, "SEP00DE00001000", "<provisioning>1</provisioning>");
    let external = config_over_http(&node, "SEP00DE00001000");
    // The Services button's list comes from the services URL; the Messages and Directories
    // buttons' still come from the file (Voicemail is the default Messages service).
    assert!(
        external.contains("<provisioning>1</provisioning>")
            && !external.contains("<name>Extension Mobility</name>")
            && external.contains("<name>Voicemail</name>")
            && external.contains("<name>Missed Calls</name>"),
        "{external}"
    );
    assert_ne!(
        stamp(&external),
        stamp(&file),
        "the version stamp follows the configuration"
    );

    // A phone provisioned so, then reset after its device gets a second line: it fetches the
    // file again and registers the new line too.
    let alice = common::sim_phone(&rt, &node, 1000, ip(4, 10), false);
    let mut events = alice.events();
    let menu = rt.block_on(alice.press_services()).unwrap();
    assert!(
        matches!(menu, Object::Menu { ref items, .. } if items.iter().any(|i| i.name == "Extension Mobility")),
        "{menu:?}"
    );
    post(
        &node,
        "/line-appearances",
        json!({"device": "SEP00DE00001000", "index": 2, "directory_number": {"pattern": "1001", "partition": "Internal_PT"}}),
    );
    settled(&node, "SEP00DE00001000", "<name>1001</name>");
    cti_device(&node, "SEP00DE00001000", "reset");
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "reset",
        |e| matches!(e, PhoneEvent::Reset { action } if action == "reset"),
    );
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "second line",
        |e| matches!(e, PhoneEvent::Registered { aor } if aor == "1001"),
    );
    assert_eq!(alice.config().lines.len(), 2);
    let regs: Value = admin(client().get(node.api("/registrations")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let lines: Vec<&str> = regs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["device"] == "SEP00DE00001000")
        .map(|b| b["aor"].as_str().unwrap())
        .collect();
    assert!(lines.contains(&"1000") && lines.contains(&"1001"), "{regs}");
    assert!(
        regs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["device"] != "SEP00DE00001000"
                || b["source"]
                    .as_str()
                    .unwrap()
                    .starts_with(&ip(4, 10).to_string())),
        "registered from its own address: {regs}"
    );
    rt.block_on(alice.stop());
}

#[test]
fn sipp_sees_the_simulator_register_and_call_like_a_cisco_phone() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    let port = common::free_port();
    // sipp plays one scenario per Call-ID: the registration, then the call.
    let sipp = common::Sipp::start(
        &node,
        common::Sip::Udp,
        "uas-phonesim-register.xml",
        port,
        &[],
        &["-m", "1"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut spec = Spec::new("SEP00DE00001000", "unused", ip(5, 10), &node.config_http);
    spec.web_port = WEB_PORT;
    spec.transport = dialtone_sip::endpoint::Transport::Udp;
    spec.sip_server = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    spec.t1 = Duration::from_millis(100);
    let phone = rt
        .block_on(Phone::start(spec))
        .expect("registers with sipp");
    sipp.expect_success("the simulator's REGISTER");
    let sipp = common::Sipp::start(
        &node,
        common::Sip::Udp,
        "uas-phonesim-call.xml",
        port,
        &[],
        &["-m", "1"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let call = rt.block_on(phone.dial("2000")).expect("sipp answers");
    rt.block_on(phone.hangup(&call)).unwrap();
    sipp.expect_success("the simulator's INVITE, ACK and BYE");
    rt.block_on(phone.stop());
}

#[test]
fn click_to_call_auto_answers_a_simulated_cisco_phone_by_remote_control() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    let alice = common::sim_phone(&rt, &node, 1000, ip(6, 10), false);
    let bob = common::sim_phone(&rt, &node, 1001, ip(6, 11), true);
    let mut events = alice.events();
    assert!(alice.config().remote_cc, "remoteCcEnable for a Cisco 8865");
    // MakeCall, as WebDialer will: Alice's phone rings without an offer and is asked to answer
    // by an out-of-dialog REFER (answercallreq); then Bob rings and answers.
    let r = admin(client().post(node.api("/cti/calls")))
        .json(&json!({"line": "1000", "destination": "1001"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    common::wait_event(
        &rt,
        &alice,
        &mut events,
        "remote answer",
        |e| matches!(e, PhoneEvent::AutoAnswer { how, .. } if *how == "remotecc"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let a = alice.calls();
        let b = bob.calls();
        let flowing = a.len() == 1
            && b.len() == 1
            && a[0].state == CallState::Connected
            && a[0].rtp_received > 10
            && b[0].rtp_received > 10;
        if flowing {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audio both ways: {a:?} {b:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rt.block_on(alice.stop());
    rt.block_on(bob.stop());
}

#[test]
fn a_device_level_phone_registers_once_under_its_name() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    let mut spec = Spec::new(
        "SEP00DE00001002",
        &demo_password(&node, "user1002"),
        ip(7, 10),
        &node.config_http,
    );
    spec.web_port = WEB_PORT;
    spec.device_level = true;
    let desk = rt.block_on(Phone::start(spec)).expect("registers");
    let regs: Value = admin(client().get(node.api("/registrations")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mine: Vec<&Value> = regs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["device"] == "SEP00DE00001002")
        .collect();
    assert_eq!(mine.len(), 1, "{regs}");
    assert_eq!(mine[0]["aor"], "SEP00DE00001002");
    // Its line still rings: a call to 1002 reaches the device.
    let bob = common::sim_phone(&rt, &node, 1001, ip(7, 11), false);
    let mut events = desk.events();
    let caller = bob.clone();
    let call = rt.spawn(async move { caller.dial("1002").await });
    common::wait_event(&rt, &desk, &mut events, "ringing", |e| {
        matches!(e, PhoneEvent::Ringing { .. })
    });
    let ringing = desk.calls()[0].call_id.clone();
    rt.block_on(desk.answer(&ringing)).unwrap();
    rt.block_on(call).unwrap().expect("the call connects");
    rt.block_on(desk.stop());
    rt.block_on(bob.stop());
}

#[test]
fn odd_page_requests_get_pages_not_errors() {
    let (_dir, node) = node();
    let h = &node.http;
    for query in [
        "l=L&start=0",
        "l=L&start=abc",
        "l=L&start=18446744073709551615",
        "start=-5&f=%FF%FE",
        "n=1&unknown=1&start=999",
    ] {
        let (status, body, _) = get_text(&format!("{h}/ccmcip/xmldirectorylist.jsp?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
        assert!(
            matches!(Object::parse(&body), Ok(Object::Directory { .. })),
            "{query}: {body}"
        );
    }
    let (status, body, _) = get_text(&format!(
        "{h}/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000&start=18446744073709551615"
    ));
    assert_eq!(status, 200, "{body}");
    assert!(Object::parse(&body).is_ok(), "{body}");
}

#[test]
fn a_phone_of_another_maker_is_told_to_check_sync() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, node) = node();
    post(
        &node,
        "/devices",
        json!({"name": "SEP0000000000BB", "model": "Third-party SIP Device (Advanced)",
               "digest_user": "lobby", "digest_password": "lobby-secret"}),
    );
    post(
        &node,
        "/line-appearances",
        json!({"device": "SEP0000000000BB", "index": 1, "directory_number": {"pattern": "1010", "partition": "Internal_PT"}}),
    );
    settled(&node, "SEP0000000000BB", "<name>1010</name>");
    assert!(config_over_http(&node, "SEP0000000000BB")
        .contains("<remoteCcEnable>false</remoteCcEnable>"));
    let mut spec = Spec::new(
        "SEP0000000000BB",
        "lobby-secret",
        ip(8, 10),
        &node.config_http,
    );
    spec.web_port = WEB_PORT;
    let phone = rt.block_on(Phone::start(spec)).expect("registers");
    let mut events = phone.events();
    cti_device(&node, "SEP0000000000BB", "restart");
    common::wait_event(
        &rt,
        &phone,
        &mut events,
        "check-sync",
        |e| matches!(e, PhoneEvent::Reset { action } if action == "check-sync"),
    );
    common::wait_event(
        &rt,
        &phone,
        &mut events,
        "re-registered",
        |e| matches!(e, PhoneEvent::Registered { aor } if aor == "1010"),
    );
    rt.block_on(phone.stop());
}

/// The default and demo services are pages of this node: their URLs follow the node's address
/// as it is now (new ports after a restart), not the one of its first start.
#[test]
fn service_urls_follow_the_node_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Node::start(dir.path(), "", true);
    let before = config_over_http(&first, "SEP00DE00001000");
    let (old_http, old_https) = (first.http.clone(), first.https.clone());
    assert!(
        before.contains(&format!(
            "{old_https}/ccmcip/xmlpersonaldirectory.jsp?name=SEP00DE00001000"
        )),
        "{before}"
    );
    drop(first);
    let second = Node::start(dir.path(), "", true);
    assert_ne!(second.https, old_https, "a restart takes new ports");
    let after = config_over_http(&second, "SEP00DE00001000");
    for page in [
        "/ccmcip/xmlpersonaldirectory.jsp?name=SEP00DE00001000",
        "/emapp/EMAppServlet?device=SEP00DE00001000",
    ] {
        assert!(
            after.contains(&format!("{}{page}", second.https)),
            "{page} in {after}"
        );
    }
    assert!(
        !after.contains(&old_https) && !after.contains(&old_http),
        "{after}"
    );
}

/// Phones that use HTTPS take the administrator's secured Phone URL parameters.
#[test]
fn https_phones_take_the_secured_phone_urls() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    for (name, value) in [
        ("secured_url_services", "https://apps.example.com/menu"),
        ("secured_url_directories", "https://apps.example.com/dir"),
        ("secured_url_idle", "https://apps.example.com/idle"),
        ("secured_url_messages", "https://apps.example.com/msg"),
    ] {
        let r = admin(client().put(node.api(&format!("/parameters/enterprise/{name}"))))
            .json(&json!({ "value": value }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{name}: {}", r.text().unwrap());
    }
    settled(
        &node,
        "SEP00DE00001000",
        "<secureMessagesURL>https://apps.example.com/msg</secureMessagesURL>",
    );
    let file = config_over_http(&node, "SEP00DE00001000");
    for needle in [
        "<secureServicesURL>https://apps.example.com/menu</secureServicesURL>",
        "<secureDirectoryURL>https://apps.example.com/dir</secureDirectoryURL>",
        "<secureIdleURL>https://apps.example.com/idle</secureIdleURL>",
    ] {
        assert!(file.contains(needle), "{needle} in {file}");
    }
}
