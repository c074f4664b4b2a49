//! Extension Mobility's core, driven through the administration API with simulated phones:
//! a login makes a hot-desk phone ring for the user's number at once and resets it onto the
//! user's profile; a logout gives it back; Multiple Login Behavior; a login's end at its time,
//! also across a restart.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{admin, client, get_json, Node, Start};
use dialtone_phonesim::PhoneEvent;
use serde_json::{json, Value};

const WEB_PORT: u16 = common::PHONE_WEB_PORT;

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

fn em(node: &Node, path: &str, body: Value) -> (u16, Value) {
    let r = admin(client().post(node.api(path)))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// The lines a device has bindings for, as the registrar lists them.
fn bound_lines(node: &Node, device: &str) -> Vec<String> {
    let regs: Value = get_json(node, "/registrations");
    let mut lines: Vec<String> = regs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["device"] == device)
        .map(|b| b["aor"].as_str().unwrap().to_owned())
        .collect();
    lines.sort();
    lines.dedup();
    lines
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
    let desk = common::sim_phone(&rt, &node, 1005, ip(1, 10), false);
    let caller = common::sim_phone(&rt, &node, 1001, ip(1, 11), false);
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
    common::wait_event(&rt, &desk, &mut events, "reset", |e| {
        matches!(e, PhoneEvent::Reset { .. })
    });
    common::wait_event(&rt, &desk, &mut events, "Ada's line", |e| {
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
    // Its own line's binding went when the phone took Ada's (the phone removed it).
    assert_eq!(bound_lines(&node, "SEP00DE00001005"), ["1000"]);
    let who: Value = get_json(&node, "/em/users/user1000");
    assert_eq!(who["devices"], json!(["SEP00DE00001005"]));

    // A call to Ada rings the desk.
    let dialer = caller.clone();
    let call = rt.spawn(async move { dialer.dial("1000").await });
    common::wait_event(&rt, &desk, &mut events, "Ada's call rings the desk", |e| {
        matches!(e, PhoneEvent::Ringing { .. })
    });
    let ringing = desk.calls()[0].call_id.clone();
    rt.block_on(desk.answer(&ringing)).unwrap();
    let call_id = rt.block_on(call).unwrap().expect("connected");
    rt.block_on(caller.hangup(&call_id)).unwrap();
    common::wait_event(&rt, &desk, &mut events, "hung up", |e| {
        matches!(e, PhoneEvent::Ended { .. })
    });

    // Logout: the desk is its own again, and Ada's calls no longer ring it.
    let (status, out) = em(&node, "/em/logout", json!({"device": "SEP00DE00001005"}));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["user"], "user1000");
    common::wait_event(&rt, &desk, &mut events, "its own line back", |e| {
        registered(e, "1005")
    });
    assert_eq!(bound_lines(&node, "SEP00DE00001005"), ["1005"]);
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
    let logins: Value = get_json(&node, "/em/logins");
    assert_eq!(logins["items"], json!([]));
    rt.block_on(desk.stop());
    rt.block_on(caller.stop());
}

#[test]
fn multiple_login_behavior_refuses_or_logs_the_other_phone_out() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let a = common::sim_phone(&rt, &node, 1006, ip(2, 10), false);
    let b = common::sim_phone(&rt, &node, 1007, ip(2, 11), false);
    let mut a_events = a.events();
    let (status, _) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001006", "user": "user1002"}),
    );
    assert_eq!(status, 201);
    common::wait_event(&rt, &a, &mut a_events, "logged in", |e| {
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

    common::set_parameter(
        &node,
        "extension-mobility",
        "multiple_login_behavior",
        json!("Auto Logout"),
    );
    let mut b_events = b.events();
    let (status, moved) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001007", "user": "user1002"}),
    );
    assert_eq!(status, 201, "{moved}");
    common::wait_event(
        &rt,
        &b,
        &mut b_events,
        "the new phone takes the line",
        |e| registered(e, "1002"),
    );
    common::wait_event(
        &rt,
        &a,
        &mut a_events,
        "the old phone is its own again",
        |e| registered(e, "1006"),
    );
    let logins: Value = get_json(&node, "/em/logins");
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
    let logins: Value = get_json(&node, "/em/logins");
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
        let l: Value = get_json(&node, "/em/logins");
        now = l["items"].as_array().unwrap().len();
    }
    // And a login that has not reached its time survives a restart. With the maximum login
    // time enforced, that is when it ends.
    for (name, value) in [
        ("enforce_max_login_time", json!(true)),
        ("max_login_time_minutes", json!(90)),
    ] {
        common::set_parameter(&node, "extension-mobility", name, value);
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
    let who: Value = get_json(&node, "/em/users/user1004");
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

fn credentials(node: &Node, user: &str) -> (String, String) {
    let creds = std::fs::read_to_string(node.dir.join("data/demo-credentials")).unwrap();
    let line = creds
        .lines()
        .find(|l| l.starts_with(&format!("{user} ")))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[1].to_owned(), f[2].to_owned())
}

fn text_of(o: &dialtone_phone_xml::Object) -> String {
    match o {
        dialtone_phone_xml::Object::Text { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_user_logs_in_and_out_on_the_phone_with_user_id_and_pin() {
    use dialtone_phone_xml::Object;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let desk = common::sim_phone(&rt, &node, 1009, ip(4, 10), false);
    let mut events = desk.events();
    let (_, pin) = credentials(&node, "user1000");

    // Services -> Extension Mobility -> the login form.
    let open_em = || {
        let menu = rt.block_on(desk.press_services()).unwrap();
        let Object::Menu { items, .. } = &menu else {
            panic!("{menu:?}")
        };
        let i = items
            .iter()
            .position(|i| i.name == "Extension Mobility")
            .expect("EM offered");
        rt.block_on(desk.select(i)).unwrap()
    };
    let form = open_em();
    let Object::Input { items, .. } = &form else {
        panic!("{form:?}")
    };
    assert_eq!(
        items
            .iter()
            .map(|i| (i.query_string_param.as_str(), i.input_flags.as_str()))
            .collect::<Vec<_>>(),
        [("userid", "A"), ("pin", "NP")]
    );
    // Blank, then wrong PINs: Unified CM's wording.
    let shown = rt
        .block_on(desk.submit(&[("userid", "user1000"), ("pin", "")]))
        .unwrap();
    assert_eq!(text_of(&shown), "Blank userid or pin(202)");
    open_em();
    let shown = rt
        .block_on(desk.submit(&[("userid", "user1000"), ("pin", "99999")]))
        .unwrap();
    assert_eq!(text_of(&shown), "Authentication Error(201)");
    open_em();
    let shown = rt
        .block_on(desk.submit(&[("userid", "nobody"), ("pin", "12345")]))
        .unwrap();
    assert_eq!(
        text_of(&shown),
        "Authentication Error(201)",
        "an unknown user reads the same"
    );

    // The right PIN: logged in, the phone restarts with Ada's line.
    open_em();
    let shown = rt
        .block_on(desk.submit(&[("userid", "user1000"), ("pin", &pin)]))
        .unwrap();
    assert!(
        text_of(&shown).starts_with("Welcome, user1000"),
        "{shown:?}"
    );
    common::wait_event(&rt, &desk, &mut events, "Ada's line", |e| {
        registered(e, "1000")
    });
    // The service now offers logout.
    let offer = open_em();
    assert!(
        text_of(&offer).contains("Logged in as user1000"),
        "{offer:?}"
    );
    let out = rt.block_on(desk.softkey("Yes")).unwrap().unwrap();
    assert!(text_of(&out).contains("logged out"), "{out:?}");
    common::wait_event(&rt, &desk, &mut events, "its own line", |e| {
        registered(e, "1009")
    });

    // Lockout: after Failed Logon (3) wrong PINs even the right one is refused.
    for _ in 0..3 {
        open_em();
        rt.block_on(desk.submit(&[("userid", "user1000"), ("pin", "00000")]))
            .unwrap();
    }
    open_em();
    let shown = rt
        .block_on(desk.submit(&[("userid", "user1000"), ("pin", &pin)]))
        .unwrap();
    assert_eq!(text_of(&shown), "Authentication Error(201)", "locked out");
    let logins: Value = get_json(&node, "/em/logins");
    assert_eq!(logins["items"], json!([]));
    rt.block_on(desk.stop());
    // A restart does not forgive the lockout; another user is not affected.
    node.kill9();
    let node = start(dir.path());
    let try_pin = |user: &str, pin: &str| {
        client()
            .get(format!(
                "{}/emapp/EMAppServlet?device=SEP00DE00001009&userid={user}&pin={pin}",
                node.http
            ))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    assert!(
        try_pin("user1000", &pin).contains("Authentication Error(201)"),
        "still locked out"
    );
    let (_, carol_pin) = credentials(&node, "user1002");
    assert!(try_pin("user1002", &carol_pin).contains("Welcome, user1002"));
}

#[test]
fn validate_ip_address_and_allow_proxy_guard_the_phone_service() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let desk = common::sim_phone(&rt, &node, 1011, ip(5, 10), false);
    let mut events = desk.events();
    let (_, pin) = credentials(&node, "user1001");
    let set = |name: &str, value: Value| {
        common::set_parameter(&node, "extension-mobility", name, value);
    };
    let url = format!(
        "{}/emapp/EMAppServlet?device=SEP00DE00001011&userid=user1001&pin={pin}",
        node.http
    );
    let proxied = |url: &str| {
        client()
            .get(url)
            .header("Via", "1.1 proxy.example.com")
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    // Without Validate IP Address nothing is checked, a web proxy included (Allow Proxy only
    // matters with it, as Cisco documents).
    let open = proxied(&url);
    assert!(open.contains("Welcome, user1001"), "{open}");
    common::wait_event(&rt, &desk, &mut events, "the user's line", |e| {
        registered(e, "1001")
    });
    let out = proxied(&format!(
        "{}/emapp/EMAppServlet?device=SEP00DE00001011&logout=true",
        node.http
    ));
    assert!(out.contains("logged out"), "{out}");
    common::wait_event(&rt, &desk, &mut events, "the phone's own line", |e| {
        registered(e, "1011")
    });
    // With Validate IP Address, only the phone's own address may log in to it...
    set("validate_ip_address", json!(true));
    let elsewhere = client().get(&url).send().unwrap().text().unwrap();
    assert!(elsewhere.contains("Login is unavailable(4)"), "{elsewhere}");
    // ... or a trusted one (here the test's, by host name), and through a proxy only with
    // Allow Proxy.
    set("trusted_ips", json!("localhost"));
    let without = proxied(&url);
    assert!(without.contains("Login is unavailable(4)"), "{without}");
    set("allow_proxy", json!(true));
    let trusted = proxied(&url);
    assert!(trusted.contains("Welcome, user1001"), "{trusted}");
    // The phone itself, from its own address (registered again after its reset), logs out.
    common::wait_event(&rt, &desk, &mut events, "the user's line", |e| {
        registered(e, "1001")
    });
    let out = rt
        .block_on(desk.open(&format!(
            "{}/emapp/EMAppServlet?device=SEP00DE00001011&logout=true",
            node.http
        )))
        .unwrap();
    assert!(text_of(&out).contains("logged out"), "{out:?}");
    rt.block_on(desk.stop());
}

/// The EM API as Cisco's clients post it: form field `xml`.
fn em_api(node: &Node, xml: &str) -> String {
    client()
        .post(format!("{}/emservice/EMServiceServlet", node.https))
        .form(&[("xml", xml)])
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn the_em_api_logs_in_logs_out_answers_queries_and_its_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let app = common::app_password(&node);
    let info = |id: &str, pw: &str| {
        format!("<appInfo><appID>{id}</appID><appCertificate>{pw}</appCertificate></appInfo>")
    };
    let ok = info("demoapp", &app);
    let login = |device: &str, user: &str, profile: &str| {
        em_api(
            &node,
            &format!(
                "<request>{ok}<login><deviceName>{device}</deviceName><userID>{user}</userID>{profile}</login></request>"
            ),
        )
    };
    let code = |answer: &str| -> Option<u32> {
        let doc = dialtone_phone_xml::Element::parse(answer).unwrap();
        doc.first("failure")?
            .first("error")?
            .attribute("code")?
            .parse()
            .ok()
    };

    let answer = login("SEP00DE00001012", "user1003", "<deviceProfile>user1003_UDP</deviceProfile><exclusiveDuration><time>60</time></exclusiveDuration>");
    assert!(answer.contains("<success/>"), "{answer}");
    let logins: Value = get_json(&node, "/em/logins");
    let l = &logins["items"][0];
    assert_eq!(
        (l["device"].as_str(), l["user"].as_str()),
        (Some("SEP00DE00001012"), Some("user1003"))
    );
    assert_eq!(
        l["expires_at_ms"].as_i64().unwrap() - l["login_at_ms"].as_i64().unwrap(),
        3_600_000
    );

    // Queries.
    let q = em_api(&node, &format!("<query>{ok}<deviceUserQuery><deviceName>SEP00DE00001012</deviceName><deviceName>SEP00DE00001013</deviceName><deviceName>SEPNOSUCH</deviceName></deviceUserQuery></query>"));
    let doc = dialtone_phone_xml::Element::parse(&q).unwrap();
    let devices: Vec<_> = doc
        .first("deviceUserResults")
        .unwrap()
        .all("device")
        .collect();
    assert_eq!(devices[0].attribute("name"), Some("SEP00DE00001012"));
    assert_eq!(devices[0].text_of("userID"), Some("user1003"));
    assert!(
        devices[1].first("notLoggedIn").is_some() && devices[2].first("doesNotExist").is_some(),
        "{q}"
    );
    let q = em_api(&node, &format!("<query>{ok}<userDevicesQuery><userID>user1003</userID><userID>user1004</userID></userDevicesQuery></query>"));
    let doc = dialtone_phone_xml::Element::parse(&q).unwrap();
    let users: Vec<_> = doc
        .first("userDevicesResults")
        .unwrap()
        .all("user")
        .collect();
    assert_eq!(
        (users[0].attribute("id"), users[0].text_of("deviceName")),
        (Some("user1003"), Some("SEP00DE00001012"))
    );
    assert!(users[1].first("notLoggedIn").is_some(), "{q}");

    // The documented codes.
    assert_eq!(
        code(&em_api(&node, "<request><appInfo>")),
        Some(1),
        "parse error"
    );
    assert_eq!(
        code(&em_api(
            &node,
            &format!(
                "<request>{}<logout><deviceName>SEP00DE00001012</deviceName></logout></request>",
                info("demoapp", "wrong")
            )
        )),
        Some(3)
    );
    let r = admin(client().post(node.api("/application-users")))
        .json(&json!({"user_id": "noproxy", "password": "noproxy-secret-1", "roles": ["Standard CTI Enabled"]}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    assert_eq!(
        code(&em_api(
            &node,
            &format!(
                "<request>{}<logout><deviceName>SEP00DE00001012</deviceName></logout></request>",
                info("noproxy", "noproxy-secret-1")
            )
        )),
        Some(10)
    );
    assert_eq!(code(&login("SEPNOSUCH", "user1004", "")), Some(11));
    assert_eq!(
        code(&login(
            "SEP00DE00001013",
            "user1004",
            "<deviceProfile>user1003_UDP</deviceProfile>"
        )),
        Some(12)
    );
    assert_eq!(code(&login("SEP00DE00001012", "user1004", "")), Some(18));
    assert_eq!(
        code(&login("SEP00DE00001013", "user1003", "")),
        Some(4),
        "multiple logins not allowed"
    );
    assert_eq!(
        code(&em_api(
            &node,
            &format!("<query>{ok}<somethingElse/></query>")
        )),
        Some(8)
    );
    let logout = |device: &str| {
        em_api(
            &node,
            &format!("<request>{ok}<logout><deviceName>{device}</deviceName></logout></request>"),
        )
    };
    assert!(logout("SEP00DE00001012").contains("<success/>"));
    assert_eq!(code(&logout("SEP00DE00001012")), Some(19));
    assert_eq!(code(&logout("SEPNOSUCH")), Some(11));

    // A device that does not allow Extension Mobility: a CTI route point, or a phone whose
    // Enable Extension Mobility is off. Code 5, and nobody logged in.
    assert_eq!(code(&login("RP_Reception", "user1004", "")), Some(5));
    let v: Value = get_json(&node, "/devices?name=SEP00DE00001015");
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let r = admin(client().patch(node.api(&format!("/devices/{id}"))))
        .json(&json!({"extension_mobility": false}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    assert_eq!(code(&login("SEP00DE00001015", "user1004", "")), Some(5));
    let logins: Value = get_json(&node, "/em/logins");
    assert_eq!(logins["items"].as_array().unwrap().len(), 0, "{logins}");

    // On the phone-facing HTTP port (Unified CM's 8080) the API is refused, naming the HTTPS
    // address where it answers, since it carries the application's password.
    let r = client()
        .post(format!("{}/emservice/EMServiceServlet", node.http))
        .form(&[("xml", "<request/>")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let said = r.text().unwrap();
    assert!(
        said.contains(&format!("{}/emservice/EMServiceServlet", node.https)),
        "{said}"
    );
}

#[test]
fn a_sipp_caller_reaches_the_user_where_they_logged_in_from_the_command_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let desk = common::sim_phone(&rt, &node, 1014, ip(7, 10), true);
    let mut events = desk.events();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .arg("em")
            .args(args)
            .args(["--url", &node.api("")])
            .env("DIALTONE_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, printed) = cli(&["login", "SEP00DE00001014", "user1002"]);
    assert!(ok, "{printed}");
    assert!(
        printed.contains("logged in: SEP00DE00001014") && printed.contains("user1002_UDP"),
        "{printed}"
    );
    common::wait_event(&rt, &desk, &mut events, "the user's line", |e| {
        registered(e, "1002")
    });
    // An independent caller: sipp, as line 1001, dials the user's number.
    let uac = common::Sipp::start(
        &node,
        common::Sip::Udp,
        "uac-call.xml",
        0,
        &[&common::caller(&node, "1001", "1002")],
        &["-m", "1", "-d", "300"],
    );
    common::wait_event(&rt, &desk, &mut events, "the desk rings and answers", |e| {
        matches!(e, PhoneEvent::Connected { .. })
    });
    uac.expect_success("sipp's call to the logged-in user");
    let (ok, printed) = cli(&["list"]);
    assert!(
        ok && printed.contains("SEP00DE00001014  user1002"),
        "{printed}"
    );
    let (ok, printed) = cli(&["logout", "SEP00DE00001014"]);
    assert!(ok && printed.contains("logged out"), "{printed}");
    let (ok, printed) = cli(&["logout", "SEP00DE00001014"]);
    assert!(!ok && printed.contains("no user is logged in"), "{printed}");
    rt.block_on(desk.stop());
}

#[test]
fn a_phone_with_a_logout_profile_returns_to_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path());
    let post = |path: &str, body: Value| {
        let r = admin(client().post(node.api(path)))
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.text().unwrap());
    };
    post(
        "/directory-numbers",
        json!({"pattern": "1999", "partition": "Internal_PT", "alerting_name": "Lobby"}),
    );
    post(
        "/device-profiles",
        json!({"name": "Lobby_LP", "model": "Cisco 8865"}),
    );
    post(
        "/line-appearances",
        json!({"device_profile": "Lobby_LP", "index": 1, "directory_number": {"pattern": "1999", "partition": "Internal_PT"}}),
    );
    let r = admin(client().patch(node.api("/devices/SEP00DE00001015")))
        .json(&json!({"logout_profile": "Lobby_LP"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    // Nobody logged in: the phone is the lobby phone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let file = client()
            .get(format!("{}/SEP00DE00001015.cnf.xml", node.config_http))
            .send()
            .unwrap()
            .text()
            .unwrap();
        if file.contains("<name>1999</name>") {
            assert!(!file.contains("<name>1015</name>"), "{file}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{file}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let lobby = common::sim_phone(&rt, &node, 1015, ip(8, 10), true);
    let caller = common::sim_phone(&rt, &node, 1001, ip(8, 11), false);
    let mut events = lobby.events();
    assert_eq!(
        lobby
            .config()
            .lines
            .iter()
            .map(|l| l.1.as_str())
            .collect::<Vec<_>>(),
        ["1999"]
    );
    let call = rt
        .block_on(caller.dial("1999"))
        .expect("the lobby line rings the phone");
    rt.block_on(caller.hangup(&call)).unwrap();
    // A user logs in, then out: back to the logout profile, not the device's own line.
    let (status, _) = em(
        &node,
        "/em/login",
        json!({"device": "SEP00DE00001015", "user": "user1003"}),
    );
    assert_eq!(status, 201);
    common::wait_event(&rt, &lobby, &mut events, "the user's line", |e| {
        registered(e, "1003")
    });
    let (status, _) = em(&node, "/em/logout", json!({"device": "SEP00DE00001015"}));
    assert_eq!(status, 200);
    common::wait_event(&rt, &lobby, &mut events, "the lobby line again", |e| {
        registered(e, "1999")
    });
    let call = rt
        .block_on(caller.dial("1999"))
        .expect("the lobby line rings the phone again");
    rt.block_on(caller.hangup(&call)).unwrap();
    rt.block_on(lobby.stop());
    rt.block_on(caller.stop());
}
