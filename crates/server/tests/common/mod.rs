//! A real `dialtone serve` process on loopback with ephemeral ports, for the tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dialtone_testkit::node::Options;
pub use dialtone_testkit::node::{Node, ADMIN_PASSWORD};

/// The store the tests run on: `DIALTONE_TEST_DATABASE` (a PostgreSQL URL), else SQLite.
fn database() -> String {
    std::env::var("DIALTONE_TEST_DATABASE").unwrap_or_default()
}

pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let db = database();
    dialtone_testkit::node::write_config(
        dir,
        &Options {
            extra,
            database: &db,
            ..Options::default()
        },
    )
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dialtone")
}

/// Starting a node the tests' way: this package's binary on the test store.
pub trait Start {
    /// Start a node in `dir` (config written there) and wait until it listens.
    fn start(dir: &Path, extra_config: &str, demo: bool) -> Node;
}

impl Start for Node {
    fn start(dir: &Path, extra_config: &str, demo: bool) -> Node {
        let db = database();
        Node::launch(
            binary(),
            dir,
            &Options {
                demo,
                extra: extra_config,
                database: &db,
                ..Options::default()
            },
        )
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn admin(rb: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
    rb.basic_auth("admin", Some(ADMIN_PASSWORD))
}

/// A demo phone's SIP digest password, from the credentials file the demo writes.
pub fn demo_password(node: &Node, user: &str) -> String {
    node.demo_password(user)
}

/// A demo end user's password (for the web pages and APIs), from the demo's credentials file.
pub fn end_user_password(node: &Node, user: &str) -> String {
    node.demo_credentials(user)[0].clone()
}

/// The demo application user's (demoapp) password.
pub fn app_password(node: &Node) -> String {
    demo_password(node, "application user demoapp")
}

/// A caller's CSV line for the uac-*.xml scenarios: calling line, called number, the line's
/// demo credentials.
pub fn caller(node: &Node, line: &str, called: &str) -> String {
    let user = format!("user{line}");
    let pw = demo_password(node, &user);
    format!("{line};{called};[authentication username={user} password={pw}]")
}

/// A port free on 127.0.0.1 for both UDP and TCP (sipp binds it next).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// SIP transports as sipp names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sip {
    Udp,
    Tcp,
}

impl Sip {
    pub fn flag(self) -> &'static str {
        match self {
            Sip::Udp => "u1",
            Sip::Tcp => "t1",
        }
    }
    pub fn server(self, node: &Node) -> &str {
        match self {
            Sip::Udp => &node.sip_udp,
            Sip::Tcp => &node.sip_tcp,
        }
    }
}

/// One sipp process running a scenario from tests/sipp, killed when dropped.
pub struct Sipp {
    child: Option<Child>,
    pub name: String,
}

impl Sipp {
    /// Start `scenario` against the node on `port` (0: any). `csv` lines become `-inf`
    /// fields (SEQUENTIAL); `extra` adds sipp arguments.
    pub fn start(
        node: &Node,
        transport: Sip,
        scenario: &str,
        port: u16,
        csv: &[&str],
        extra: &[&str],
    ) -> Sipp {
        let dir = node.dir.join("sipp");
        std::fs::create_dir_all(&dir).unwrap();
        let path = if scenario.starts_with('/') {
            scenario.to_string()
        } else {
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/").to_string() + scenario
        };
        let base = std::path::Path::new(scenario)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".xml")
            .to_string();
        let name = format!("{base}-{port}-{}", free_port());
        let mut cmd = Command::new("timeout");
        cmd.args(["60", "sipp", transport.server(node), "-sf"])
            .arg(path)
            .args([
                "-t",
                transport.flag(),
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args([
                "-nostdin",
                "-timeout",
                "40s",
                "-timeout_error",
                "-trace_err",
            ])
            .args(["-error_file", &format!("{name}.err")]);
        if !csv.is_empty() {
            let file = dir.join(format!("{name}.csv"));
            std::fs::write(&file, format!("SEQUENTIAL\n{}\n", csv.join("\n"))).unwrap();
            cmd.arg("-inf").arg(&file);
        }
        cmd.args(extra)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .expect("sipp is installed (scripts/test installs sip-tester)");
        Sipp {
            child: Some(child),
            name: format!("{}/{name}", dir.display()),
        }
    }

    /// Wait for sipp to end: whether every call succeeded, and what it printed.
    pub fn finish(mut self) -> (bool, String) {
        let child = self.child.take().unwrap();
        let out = child.wait_with_output().unwrap();
        let err = std::fs::read_to_string(format!("{}.err", self.name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr)
            + &err;
        (out.status.success(), text)
    }

    /// A scenario from a `.xml.in` template in tests/sipp with `{KEY}`s filled in, written
    /// to the node's directory; pass the returned path to [`Sipp::start`].
    pub fn scenario(node: &Node, template: &str, values: &[(&str, &str)]) -> String {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/").to_string() + template;
        let mut text = std::fs::read_to_string(&src).unwrap();
        let mut name = template.trim_end_matches(".xml.in").to_string();
        for (k, v) in values {
            text = text.replace(&format!("{{{k}}}"), v);
            name.push('-');
            name.push_str(v);
        }
        let dir = node.dir.join("sipp");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// As `expect_success`, for a Sipp held inside something else.
    pub fn expect_success_ref(&mut self, what: &str) {
        let me = Sipp {
            child: self.child.take(),
            name: self.name.clone(),
        };
        me.expect_success(what)
    }

    /// Run to the end and insist it succeeded.
    pub fn expect_success(self, what: &str) {
        let (ok, text) = self.finish();
        assert!(ok, "{what} failed:\n{text}");
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            // A failing test shows what each phone it played saw go wrong.
            if std::thread::panicking() {
                let err = std::fs::read_to_string(format!("{}.err", self.name)).unwrap_or_default();
                eprintln!("--- sipp {}:\n{err}", self.name);
            }
        }
    }
}

/// Register a demo line from sipp bound to `port`, so calls to it reach a scenario that
/// sipp runs on the same port next.
pub fn register_line(node: &Node, transport: Sip, port: u16, line: &str, user: &str) {
    let pw = demo_password(node, user);
    let auth = format!("{line};x;[authentication username={user} password={pw}]");
    Sipp::start(
        node,
        transport,
        "reg-auth.xml",
        port,
        &[&auth],
        &["-m", "1"],
    )
    .expect_success(&format!("registering {line} on port {port}"));
}

/// A baresip softphone registered as a demo line, driven through its ctrl_tcp socket.
pub struct Baresip {
    child: std::process::Child,
    control: std::net::TcpStream,
    log: std::path::PathBuf,
    buffer: Vec<u8>,
}

impl Baresip {
    pub fn start(node: &Node, line: &str, auto_answer: bool) -> Baresip {
        let dir = node.dir.join(format!("baresip-{line}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (sip, ctrl, rtp) = (free_port(), free_port(), free_port());
        let template = include_str!("../baresip/config.in");
        std::fs::write(
            dir.join("config"),
            template
                .replace("{SIP}", &sip.to_string())
                .replace("{CTRL}", &ctrl.to_string())
                .replace("{RTP}", &format!("{rtp}-{}", rtp + 40)),
        )
        .unwrap();
        let user = format!("user{line}");
        let pw = demo_password(node, &user);
        let answer = if auto_answer { ";answermode=auto" } else { "" };
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{line}@{};transport=udp>;auth_user={user};auth_pass={pw};regint=300{answer}\n",
                node.sip_udp
            ),
        )
        .unwrap();
        let log = dir.join("log");
        let child = std::process::Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("baresip is installed (scripts/test installs it)");
        let mut control = None;
        for _ in 0..100 {
            if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", ctrl)) {
                control = Some(s);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let control = control.expect("baresip's control socket");
        control
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        Baresip {
            child,
            control,
            log,
            buffer: Vec::new(),
        }
    }

    pub fn command(&mut self, command: &str, params: &str) {
        use std::io::Write;
        let body = serde_json::json!({"command": command, "params": params, "token": command});
        let text = body.to_string();
        write!(self.control, "{}:{text},", text.len()).unwrap();
    }

    /// Wait for an event of `kind` (netstring-framed JSON), within `seconds`.
    pub fn wait_for(&mut self, kind: &str, seconds: u64) -> serde_json::Value {
        use std::io::Read;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            while let Some(colon) = self.buffer.iter().position(|b| *b == b':') {
                let len: usize = std::str::from_utf8(&self.buffer[..colon])
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if self.buffer.len() < colon + 1 + len + 1 {
                    break;
                }
                let msg: serde_json::Value =
                    serde_json::from_slice(&self.buffer[colon + 1..colon + 1 + len]).unwrap();
                self.buffer.drain(..colon + 1 + len + 1);
                if msg["type"] == kind {
                    return msg;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {kind} from baresip; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            let mut chunk = [0u8; 4096];
            match self.control.read(&mut chunk) {
                Ok(0) => panic!("baresip closed its control socket"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }

    /// Quit, then the RTP packets it sent and received (from the statistics at hangup).
    pub fn quit(mut self) -> (u64, u64) {
        self.command("quit", "");
        for _ in 0..50 {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let packets = log
            .lines()
            .find(|l| l.trim_start().starts_with("packets:"))
            .unwrap_or_else(|| panic!("no RTP statistics in baresip's log:\n{log}"));
        let n: Vec<u64> = packets
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        (n[0], n[1])
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// After a hang-up: both phones see the call close, and each sent and received audio (RTP
/// statistics at hang-up): media flowed phone to phone both ways.
pub fn expect_audio_both_ways(mut a: Baresip, mut b: Baresip) {
    a.wait_for("CALL_CLOSED", 10);
    b.wait_for("CALL_CLOSED", 10);
    let (sent_a, received_a) = a.quit();
    let (sent_b, received_b) = b.quit();
    assert!(
        sent_a > 25 && received_a > 25,
        "first phone sent {sent_a}, received {received_a}"
    );
    assert!(
        sent_b > 25 && received_b > 25,
        "second phone sent {sent_b}, received {received_b}"
    );
}

/// Wait (up to 5 s) until the node has `n` registrations.
pub fn wait_for_registrations(node: &Node, n: usize) {
    for _ in 0..100 {
        let v: serde_json::Value = admin(client().get(node.api("/registrations")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["items"].as_array().map(|a| a.len()) == Some(n) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {n} registrations after 5 s");
}

/// The Python interpreter with the test peers (scripts/test prepares it).
pub fn python() -> String {
    if let Ok(p) = std::env::var("DIALTONE_PYTHON") {
        return p;
    }
    let local = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    assert!(
        std::path::Path::new(local).exists(),
        "no Python test peers: run scripts/test (it prepares .venv), or set DIALTONE_PYTHON"
    );
    local.to_string()
}

/// A demo node whose pages go to a multicast range of their own (tests run side by side),
/// pushing to simulated phones' web servers: the node and the first address of its range.
pub fn paging_node(dir: &Path) -> (Node, std::net::Ipv4Addr) {
    let first = format!(
        "239.{}.{}.1",
        100 + std::process::id() % 100,
        free_port() % 250
    );
    let node = Node::start(
        dir,
        &format!(
            "[phones]\nweb_port = {PHONE_WEB_PORT}\npush_timeout_ms = 3000\npaging_multicast_first = \"{first}\"\n"
        ),
        true,
    );
    (node, first.parse().unwrap())
}

/// The newest ended page's record (waiting up to 5 s for one).
pub fn ended_page(node: &Node) -> serde_json::Value {
    for _ in 0..50 {
        if let Some(r) = get_json(node, "/paging/pages")["ended"]
            .as_array()
            .and_then(|e| e.first())
        {
            return r.clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    serde_json::Value::Null
}

/// The port simulated phones' web servers use in the tests (each phone has its own address).
pub const PHONE_WEB_PORT: u16 = 8008;

/// Demo phone `dn` (1000..1019) as a simulated phone at `ip`, registered.
pub fn sim_phone(
    rt: &tokio::runtime::Runtime,
    node: &Node,
    dn: u32,
    ip: std::net::IpAddr,
    answer_all: bool,
) -> dialtone_phonesim::Phone {
    let mut spec = dialtone_phonesim::Spec::new(
        &format!("SEP00DE0000{dn}"),
        &demo_password(node, &format!("user{dn}")),
        ip,
        &node.config_http,
    );
    spec.web_port = PHONE_WEB_PORT;
    spec.answer_all = answer_all;
    spec.t1 = Duration::from_millis(100);
    rt.block_on(dialtone_phonesim::Phone::start(spec))
        .expect("the simulated phone starts and registers")
}

/// Wait (up to 10 s) for a phone event `pred` accepts.
pub fn wait_event(
    rt: &tokio::runtime::Runtime,
    phone: &dialtone_phonesim::Phone,
    rx: &mut tokio::sync::broadcast::Receiver<dialtone_phonesim::PhoneEvent>,
    what: &str,
    pred: impl Fn(&dialtone_phonesim::PhoneEvent) -> bool,
) -> dialtone_phonesim::PhoneEvent {
    rt.block_on(phone.wait_for(rx, Duration::from_secs(10), pred))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Set a parameter (`enterprise`, `extension-mobility`, ...) as an administrator.
pub fn set_parameter(node: &Node, scope: &str, name: &str, value: serde_json::Value) {
    let r = admin(client().put(node.api(&format!("/parameters/{scope}/{name}"))))
        .json(&serde_json::json!({ "value": value }))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{name}: {}", r.text().unwrap());
}

/// GET an admin API path as JSON.
pub fn get_json(node: &Node, path: &str) -> serde_json::Value {
    admin(client().get(node.api(path)))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Change a record found by a query (`devices`, `name=X`), then wait until it is in effect.
pub fn patch(node: &Node, collection: &str, query: &str, body: serde_json::Value) {
    let v = get_json(node, &format!("/{collection}?{query}"));
    let id = v["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{collection}?{query}: {v}"))
        .to_string();
    let r = admin(client().patch(node.api(&format!("/{collection}/{id}"))))
        .json(&body)
        .send()
        .unwrap();
    assert!(
        r.status().is_success(),
        "PATCH {collection}: {}",
        r.text().unwrap()
    );
    wait_applied(node);
}

/// A WAV file of `seconds` of a `hz` sine at 16 kHz (the node resamples it to 8 kHz).
pub fn sine_wav(hz: f64, seconds: f64) -> Vec<u8> {
    let rate = 16_000u32;
    let samples: Vec<i16> = (0..(rate as f64 * seconds) as usize)
        .map(|n| (8000.0 * (2.0 * std::f64::consts::PI * hz * n as f64 / rate as f64).sin()) as i16)
        .collect();
    dialtone_media::wav::encode(&samples, rate, 1)
}

/// What `phone` hears on its only call, once `pred` accepts it (or panic after 5 s).
pub fn wait_heard(
    phone: &dialtone_phonesim::Phone,
    what: &str,
    pred: impl Fn(&dialtone_phonesim::listen::Heard) -> bool,
) -> dialtone_phonesim::listen::Heard {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let heard = phone.calls().first().map(|c| c.heard.clone());
        if let Some(h) = heard.as_ref().filter(|h| pred(h)) {
            return h.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {heard:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until every committed configuration change is in effect in the node (its snapshots
/// rebuilt), instead of sleeping for a guess: `GET /status/configuration`.
pub fn wait_applied(node: &Node) {
    let since = std::time::Instant::now();
    loop {
        let v = get_json(node, "/status/configuration");
        if v["applied"].as_u64() >= v["changes"].as_u64() {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "configuration not in effect after 10 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The newest call records, once `n` exist (or whatever exists after `within`).
pub fn call_records(node: &Node, n: usize, within: Duration) -> Vec<serde_json::Value> {
    let since = std::time::Instant::now();
    loop {
        let v = get_json(node, "/call-records?limit=20");
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n || since.elapsed() > within {
            return items;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One call from line 1000 to 1001 (registered on `port`): the called phone plays `callee`
/// there, the caller `caller` with `extra` sipp arguments; both must end well, `says` saying
/// what each was to see.
pub fn sipp_call(
    node: &Node,
    port: u16,
    callee: &str,
    caller: &str,
    extra: &[&str],
    says: [&str; 2],
) {
    let called = Sipp::start(node, Sip::Udp, callee, port, &[], &["-m", "1"]);
    let mut args = vec!["-m", "1"];
    args.extend_from_slice(extra);
    Sipp::start(
        node,
        Sip::Udp,
        caller,
        0,
        &[&self::caller(node, "1000", "1001")],
        &args,
    )
    .expect_success(says[0]);
    called.expect_success(says[1]);
}
