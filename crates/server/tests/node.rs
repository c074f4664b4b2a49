//! The `dialtone` binary as an administrator meets it: start, API, restarts, bad input.

mod common;

use common::{admin, client, Node, Start, ADMIN_PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn count(c: &reqwest::blocking::Client, node: &Node, resource: &str) -> i64 {
    let v: Value = admin(c.get(node.api(&format!("/{resource}?limit=1"))))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["total"].as_i64().unwrap()
}

#[test]
fn writes_survive_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", false);
    let r = admin(c.post(node.api("/partitions")))
        .json(&json!({"name": "Durable_PT"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = admin(c.post(node.api("/directory-numbers")))
        .json(&json!({"pattern": "4242", "partition": "Durable_PT", "dnd": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = admin(c.put(node.api("/parameters/enterprise/services_provisioning")))
        .json(&json!({"value": "Both"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // No graceful shutdown: the acknowledged writes must already be on disk.
    node.kill9();

    let node = Node::start(dir.path(), "", false);
    let v: Value = admin(c.get(node.api("/directory-numbers?partition=Durable_PT")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["pattern"], "4242");
    assert_eq!(v["items"][0]["dnd"], true);
    let p: Value = admin(c.get(node.api("/parameters/enterprise/services_provisioning")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(p["value"], "Both");
}

#[test]
fn bad_requests_get_the_right_4xx_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "[api]\nmax_body_bytes = 4096\n", true);
    let before = count(&c, &node, "directory-numbers");
    let post = |body: reqwest::blocking::RequestBuilder| body.send().unwrap();
    let dn = node.api("/directory-numbers");

    let cases: Vec<(&str, reqwest::blocking::Response, StatusCode, Option<&str>)> = vec![
        (
            "malformed JSON",
            post(
                admin(c.post(&dn))
                    .header("content-type", "application/json")
                    .body("{\"pattern\": "),
            ),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "not JSON at all",
            post(
                admin(c.post(&dn))
                    .header("content-type", "text/plain")
                    .body("pattern=1"),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            "wrong type",
            post(admin(c.post(&dn)).json(&json!({"pattern": "5000", "max_calls": "four"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("max_calls"),
        ),
        (
            "unknown field",
            post(admin(c.post(&dn)).json(&json!({"pattern": "5000", "ringtone": "chirp"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("ringtone"),
        ),
        (
            "duplicate",
            post(admin(c.post(&dn)).json(&json!({"pattern": "1000", "partition": "Internal_PT"}))),
            StatusCode::CONFLICT,
            Some("pattern"),
        ),
        (
            "dangling reference",
            post(
                admin(c.post(&dn)).json(
                    &json!({"pattern": "5000", "partition": "Internal_PT", "css": "Ghost_CSS"}),
                ),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("css"),
        ),
        (
            "oversize body",
            post(
                admin(c.post(&dn))
                    .json(&json!({"pattern": "5000", "description": "x".repeat(8000)})),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        (
            "wrong password",
            post(
                c.post(&dn)
                    .basic_auth("admin", Some("wrong"))
                    .json(&json!({"pattern": "5000"})),
            ),
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "no credentials",
            post(c.post(&dn).json(&json!({"pattern": "5000"}))),
            StatusCode::UNAUTHORIZED,
            None,
        ),
        (
            "bogus token",
            post(
                c.post(&dn)
                    .bearer_auth("0123")
                    .json(&json!({"pattern": "5000"})),
            ),
            StatusCode::UNAUTHORIZED,
            None,
        ),
    ];
    for (what, resp, status, field) in cases {
        assert_eq!(resp.status(), status, "{what}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(resp.headers().contains_key("www-authenticate"), "{what}");
        }
        let body: Value = resp
            .json()
            .unwrap_or_else(|e| panic!("{what}: error body is JSON: {e}"));
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {body}"
        );
        if let Some(f) = field {
            assert_eq!(body["field"], f, "{what}: {body}");
        }
    }
    assert_eq!(
        count(&c, &node, "directory-numbers"),
        before,
        "nothing changed"
    );

    // An in-use delete names what uses the record; an unknown record is 404.
    let r = admin(c.delete(node.api("/partitions/Internal_PT")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("Internal_CSS"),
        "{body}"
    );
    let r = admin(c.get(node.api("/partitions/Nowhere_PT")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = admin(c.get(node.api("/widgets"))).send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = admin(c.get(node.api("/users?limit=5000"))).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An application user without the administrator role is refused.
    let r = c
        .get(node.api("/users"))
        .basic_auth(
            "demoapp",
            Some(demo_password(&node, "application user demoapp")),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

fn demo_password(node: &Node, prefix: &str) -> String {
    let text = std::fs::read_to_string(node.dir.join("data/demo-credentials")).unwrap();
    let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
    line.split_whitespace().last().unwrap().to_string()
}

#[test]
fn demo_company_and_first_start_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", true);
    let printed = node.printed().join("\n");
    assert!(
        printed.contains("user1019"),
        "credentials are printed at first start"
    );
    let creds = dir.path().join("data/demo-credentials");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(count(&c, &node, "users"), 20);
    // Twenty phones, the reception route point and the paging server's DialCast route point.
    assert_eq!(count(&c, &node, "devices"), 22);
    assert_eq!(count(&c, &node, "device-profiles"), 20);
    let dn: Value = admin(c.get(node.api("/directory-numbers?partition=Internal_PT&pattern=1019")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(dn["total"], 1);
    let rp: Value = admin(c.get(node.api("/route-patterns?partition=PSTN_PT")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(rp["items"][0]["pattern"], "9.!");
    let css: Value = admin(c.get(node.api("/calling-search-spaces/Internal_CSS")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        css["partitions"],
        json!(["Internal_PT"]),
        "9.! is out of Internal_CSS's reach"
    );
    let svc: Value = admin(c.get(node.api("/ip-phone-services/Corporate Directory")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(svc["service_type"], "Directories");
    // A user's password from the credentials file is stored hashed and verifies.
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(text.contains("SEP00DE00001000"));
    node.kill9();

    // Second start: nothing reloaded, no new password printed.
    let node = Node::start(dir.path(), "", true);
    let printed = node.printed().join("\n");
    assert!(!printed.contains("shown once"), "{printed}");
    assert!(!printed.contains("Demo company loaded"), "{printed}");
    assert_eq!(count(&c, &node, "users"), 20);
}

#[test]
fn bearer_tokens_and_https_only_apis() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", false);
    let r = admin(c.post(node.api("/auth/token"))).send().unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .get(node.api("/partitions"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .delete(node.api("/auth/token"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(node.api("/partitions"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token stops working"
    );

    // Credentials never go over plain HTTP unless the administrator allows it.
    let r = admin(c.get(format!("{}/api/v1/partitions", node.http)))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().unwrap().contains("HTTPS"));
    for path in ["/health", "/ready", "/metrics"] {
        let r = c.get(format!("{}{path}", node.http)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let metrics = c
        .get(format!("{}/metrics", node.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("dialtone_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/{resource}\""),
        "{metrics}"
    );
    drop(node);

    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "[api]\nallow_over_http = true\n", false);
    let r = admin(c.get(format!("{}/api/v1/partitions", node.http)))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn openapi_document_names_every_resource() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", false);
    let doc: Value = c
        .get(node.api("/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    for res in dialtone_store::catalogue::RESOURCES {
        assert!(
            doc["paths"][format!("/api/v1/{}", res.name)].is_object(),
            "{}",
            res.name
        );
    }
    // CTI's REST half, with the operations docs/cti.md describes.
    assert!(doc["paths"]["/api/v1/cti/calls"]["post"].is_object());
    let commands =
        &doc["paths"]["/api/v1/cti/calls/{call}/{command}"]["parameters"][1]["schema"]["enum"];
    assert!(
        commands.as_array().unwrap().contains(&Value::from("park")),
        "{commands}"
    );
    // WebDialer's JSON API.
    assert!(doc["paths"]["/api/v1/webdialer/calls"]["post"]["requestBody"].is_object());
    let server = doc["servers"][0]["url"].as_str().unwrap();
    assert!(server.starts_with("https://127.0.0.1:"), "{server}");
    let _ = ADMIN_PASSWORD;
}

#[test]
fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", false);
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_config_stops_startup_with_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\nhttp_port = 0", "\nhttp_port = 99999");
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen.http_port"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn cli_import_reports_rows_and_keeps_nothing_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), "");
    let csv = dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "user_id,last_name,pin,em_enabled\nann,Ames,12345,true\nbob,,123,maybe\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::binary())
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = run(&["import", "users", csv.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3, column 'em_enabled'"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let out = run(&["export", "users"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "header only"
    );

    std::fs::write(
        &csv,
        "user_id,last_name,pin\nann,Ames,12345\nbob,Burr,54321\n",
    )
    .unwrap();
    let out = run(&["import", "users", csv.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["export", "users"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ann,") && text.contains("bob,"), "{text}");
    assert!(!text.contains("12345"), "PINs are never exported");
}

#[test]
fn openapi_document_passes_an_independent_validator() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", false);
    let doc = client()
        .get(node.api("/openapi.json"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc).unwrap();
    let out = std::process::Command::new(common::python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_closed_stdout_does_not_stop_the_node() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), "");
    let mut child = std::process::Command::new(common::binary())
        .args(["serve", "--demo", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: the banner and demo credentials now go to a closed pipe.
    let http = first
        .split_whitespace()
        .find_map(|p| p.strip_prefix("http="))
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the node is still running"
    );
    let r = client()
        .get(format!("http://{http}/health"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn dialed_number_analyzer_over_the_stored_plan() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", true);
    let ask = |q: &str| -> (StatusCode, Value) {
        let r = admin(c.get(node.api(&format!("/dna?{q}")))).send().unwrap();
        (r.status(), r.json().unwrap())
    };
    let (st, v) = ask("digits=91555123&css=Unrestricted_CSS&calling=1000");
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["result"]["outcome"], "route", "{v}");
    assert_eq!(v["result"]["called"], "1555123", "PreDot discards the 9");
    assert_eq!(v["result"]["target"]["trunks"][0]["trunk"], "PSTN_Trunk");
    assert_eq!(v["explanation"]["steps"][0]["chosen"]["pattern"], "9.!");
    let (_, v) = ask("digits=91555123&css=Internal_CSS");
    assert_eq!(
        v["result"]["outcome"], "no_match",
        "9.! is out of Internal_CSS's reach"
    );
    let (_, v) = ask("digits=1019&css=Internal_CSS");
    assert_eq!(v["result"]["target"]["type"], "line");
    let (_, v) = ask("digits=10&css=Internal_CSS");
    assert_eq!(v["result"]["outcome"], "incomplete");
    let (st, v) = ask("css=Internal_CSS");
    assert_eq!(
        (st, v["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("digits"))
    );
    drop(node);

    let config = dir.path().join("dialtone.toml");
    let out = std::process::Command::new(common::binary())
        .args(["dna", "--css", "Internal_CSS", "1007", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("ROUTE to line 1007"), "{text}");
    assert!(text.contains("chosen: 1007"), "{text}");
}

/// Run sipp from the node's data directory; true when every registration went as scripted.
fn sipp_register(
    node: &Node,
    scenario: &str,
    aor: &str,
    user: &str,
    password: &str,
) -> (bool, String) {
    let dir = node.dir.join("sipp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("phone.csv"),
        format!("SEQUENTIAL\n{aor};x;[authentication username={user} password={password}]\n"),
    )
    .unwrap();
    let scen = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/").to_string() + scenario;
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "sipp",
            &node.sip_udp,
            "-sf",
            &scen,
            "-inf",
            "phone.csv",
            "-m",
            "1",
        ])
        .args(["-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "30s"])
        .current_dir(&dir)
        .output()
        .expect("sipp is installed (scripts/test installs sip-tester)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn demo_phones_register_with_their_stored_digest_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", true);
    let creds = std::fs::read_to_string(dir.path().join("data/demo-credentials")).unwrap();
    let line = creds.lines().find(|l| l.starts_with("user1000 ")).unwrap();
    let sip_password = line.split_whitespace().last().unwrap().to_string();

    // Line-level registration of 1000 with the device's digest user and password.
    let (ok, text) = sipp_register(&node, "reg-auth.xml", "1000", "user1000", &sip_password);
    assert!(ok, "registration failed:\n{text}");
    let v: Value = admin(c.get(node.api("/registrations")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["device"], "SEP00DE00001000");
    assert_eq!(items[0]["aor"], "1000");
    assert_eq!(items[0]["transport"], "UDP");
    assert!(items[0]["expires_in"].as_u64().unwrap() > 3000);

    // A line the device does not carry: 403.
    let (ok, text) = sipp_register(&node, "reg-auth-403.xml", "1001", "user1000", &sip_password);
    assert!(ok, "expected 403:\n{text}");
    // A wrong password never gets past the challenge.
    let (ok, _) = sipp_register(&node, "reg-auth.xml", "1000", "user1000", "wrong-password");
    assert!(!ok, "a wrong password must not register");
    let v: Value = admin(c.get(node.api("/registrations")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        1,
        "nothing else was bound: {v}"
    );
}

/// baresip, a real softphone, registers with a demo phone's credentials. (It found that
/// offering SHA-256 beside MD5 makes libre give up, so the registrar offers MD5 by default.)
#[test]
fn baresip_registers_to_a_demo_node() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let node = Node::start(dir.path(), "", true);
    let creds = std::fs::read_to_string(dir.path().join("data/demo-credentials")).unwrap();
    let line = creds.lines().find(|l| l.starts_with("user1001 ")).unwrap();
    let password = line.split_whitespace().last().unwrap();
    let phone = dir.path().join("baresip");
    std::fs::create_dir_all(&phone).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        phone.join("config"),
        format!(
            "poll_method\tepoll\nsip_listen\t127.0.0.1:{port}\nmodule_path\t/usr/lib/baresip/modules\n\
             module_tmp\tuuid.so\nmodule_tmp\taccount.so\n"
        ),
    )
    .unwrap();
    std::fs::write(
        phone.join("accounts"),
        format!(
            "<sip:1001@{};transport=udp>;auth_user=user1001;auth_pass={password};regint=300\n",
            node.sip_udp
        ),
    )
    .unwrap();
    /// Stops baresip however the test ends.
    struct Phone(std::process::Child);
    impl Drop for Phone {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // What baresip says goes to a file, shown if it does not register (a loaded CI machine
    // once saw nothing registered within 10 s, with nothing to tell why).
    let log = std::fs::File::create(phone.join("log")).unwrap();
    let phone_process = Phone(
        std::process::Command::new("baresip")
            .arg("-f")
            .arg(&phone)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip is installed (scripts/test installs it)"),
    );
    let mut found = Value::Null;
    for _ in 0..150 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let v: Value = admin(c.get(node.api("/registrations")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(b) = v["items"].as_array().and_then(|a| a.first()) {
            found = b.clone();
            break;
        }
    }
    drop(phone_process);
    assert_eq!(
        found["device"],
        "SEP00DE00001001",
        "baresip registered: {found}; baresip said:\n{}",
        std::fs::read_to_string(phone.join("log")).unwrap_or_default()
    );
    assert_eq!(found["aor"], "1001");
    assert!(
        found["user_agent"]
            .as_str()
            .unwrap_or("")
            .contains("baresip"),
        "{found}"
    );
}

/// SIP over WebSocket at /sip on the HTTP port (RFC 7118), as WebRTC softphones connect.
#[tokio::test(flavor = "multi_thread")]
async fn sip_over_websocket_at_slash_sip() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let node = tokio::task::spawn_blocking(move || Node::start(&path, "", false))
        .await
        .unwrap();
    let mut req = format!("{}/sip", node.http.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(&b"sip"[..]),
        "the server picks the sip subprotocol"
    );
    let options = "OPTIONS sip:dialtone SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws9\r\n\
                   From: <sip:web@dialtone>;tag=w9\r\nTo: <sip:dialtone>\r\nCall-ID: ws-node-1\r\n\
                   CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";
    ws.send(Message::text(options)).await.unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("answered")
        .unwrap()
        .unwrap();
    let text = answer.into_text().unwrap();
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(
        text.contains("Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws9"),
        "{text}"
    );
    drop(node);
}

/// A body over `api.max_body_bytes` is answered 413 with the JSON error, after the node has
/// read (and dropped) a bounded amount of it, so the client, still sending, sees the answer
/// instead of a reset connection; with or without a Content-Length.
#[test]
fn an_oversized_body_is_answered_413_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "[api]\nmax_body_bytes = 65536\n", false);
    let c = client();
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(4 << 20));
    for chunked in [false, true] {
        for _ in 0..3 {
            let body = if chunked {
                // A reader of unknown length goes out chunked.
                reqwest::blocking::Body::new(std::io::Cursor::new(big.clone().into_bytes()))
            } else {
                reqwest::blocking::Body::from(big.clone())
            };
            let r = admin(c.post(node.api("/partitions")))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .unwrap_or_else(|e| panic!("chunked={chunked}: no answer, {e:?}"));
            assert_eq!(r.status().as_u16(), 413, "chunked={chunked}");
            let v: Value = r.json().unwrap();
            assert!(
                v["error"].as_str().unwrap_or("").contains("too large"),
                "{v}"
            );
        }
    }
    // Nothing was created, and the node serves on.
    let v: Value = admin(c.get(node.api("/partitions")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "x"),
        "{v}"
    );
}
