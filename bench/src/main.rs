//! Dialtone's benchmarks. Each prints a median over repeated rounds; where an anchor (Kamailio,
//! sipp) runs on this machine, it is measured in the same run and the ratio printed, since
//! these machines are shared and noisy.
#![forbid(unsafe_code)]

// The same minimal SIP server the sipp conformance tests drive.
#[path = "../../crates/sip/tests/support/testserver.rs"]
mod testserver;

mod soak;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone_store::secrets::{hash_secret, verify_secret, CredentialCache};

struct Row {
    name: &'static str,
    median: f64,
    unit: &'static str,
    target: &'static str,
    anchor: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn argon2_verify() -> Row {
    let h = hash_secret("a reasonably long password");
    let samples: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            assert!(verify_secret("a reasonably long password", &h));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    Row {
        name: "argon2id verification (cold)",
        median: median(samples),
        unit: "ms",
        target: "about 1 ms",
        anchor: "-".into(),
    }
}

fn cached_verify() -> Row {
    let cache = CredentialCache::new(Duration::from_secs(3600), 1000);
    let h = hash_secret("pw");
    assert!(cache.verify("app:u", "pw", &h));
    let rounds: Vec<f64> = (0..7)
        .map(|_| {
            let n = 100_000;
            let t = Instant::now();
            for _ in 0..n {
                assert!(cache.verify("app:u", "pw", &h));
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    Row {
        name: "cached credential verification",
        median: median(rounds),
        unit: "us",
        target: "-",
        anchor: "-".into(),
    }
}

struct Node {
    child: Child,
    https: String,
    http: String,
    sip_udp: String,
    config_http: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PW: &str = "bench-admin-password";

fn start_node(binary: &str) -> Node {
    start_node_with(binary, "")
}

/// A demo node with `extra` TOML appended to its configuration.
fn start_node_with(binary: &str, extra: &str) -> Node {
    start_node_listening(binary, "", extra)
}

/// A demo node with `listen` lines added to its `[listen]` table (SIP ports: several nodes at
/// once) and `extra` TOML appended.
fn start_node_listening(binary: &str, listen: &str, extra: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dialtone.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndata_dir = \"{}\"\n[listen]\nhttp_port = 0\nhttps_port = 0\nconfig_http_port = 0\ntftp_port = 0\n{listen}[admin]\ninitial_password = \"{PW}\"\n[log]\nlevel = \"warn\"\n{extra}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(binary)
        .args(["serve", "--demo", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start dialtone");
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    // Keep reading what the node prints, so its stdout never blocks or breaks.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let https = first
        .split_whitespace()
        .find_map(|p| p.strip_prefix("https="))
        .expect("listening line")
        .to_string();
    let http = first
        .split_whitespace()
        .find_map(|p| p.strip_prefix("http="))
        .expect("listening line")
        .to_string();
    let sip_udp = first
        .split_whitespace()
        .find_map(|p| p.strip_prefix("sip_udp="))
        .expect("listening line")
        .to_string();
    let config_http = first
        .split_whitespace()
        .find_map(|p| p.strip_prefix("config_http="))
        .expect("listening line")
        .to_string();
    Node {
        child,
        https: format!("https://{https}"),
        http: format!("http://{http}"),
        config_http: format!("http://{config_http}"),
        sip_udp,
        _dir: dir,
    }
}

/// Throughput over `rounds` rounds of `secs` seconds: every worker repeats `step` (which says
/// how many requests it made) until the round's deadline; the median of the rounds' rates.
async fn rounds<W, F, Fut>(workers: Vec<W>, rounds: usize, secs: f64, step: F) -> f64
where
    W: Clone + Send + 'static,
    F: Fn(W, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let step = Arc::new(step);
    let seq = Arc::new(AtomicU64::new(0));
    let mut results = Vec::new();
    for _ in 0..rounds {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let tasks: Vec<_> = workers
            .iter()
            .cloned()
            .map(|w| {
                let (done, step, seq) = (done.clone(), step.clone(), seq.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(step(w.clone(), n).await, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        results.push(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64());
    }
    median(results)
}

/// Requests per second from `workers` concurrent keep-alive clients making `make`'s request
/// (which must succeed), median of `rounds_`.
async fn rate(
    workers: usize,
    rounds_: usize,
    secs: f64,
    make: impl Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> f64 {
    let make = Arc::new(make);
    let clients: Vec<reqwest::Client> = (0..workers)
        .map(|_| {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap()
        })
        .collect();
    rounds(clients, rounds_, secs, move |c, n| {
        let request = make(&c, n);
        async move {
            let r = request.send().await.expect("request");
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap();
            1
        }
    })
    .await
}

fn api_rows(binary: &str) -> Vec<Row> {
    let node = start_node(binary);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = node.https.clone();
    let get_rate = rt.block_on(rate(8, 5, 3.0, move |c, _| {
        c.get(format!("{base}/api/v1/users/user1000"))
            .basic_auth("admin", Some(PW))
    }));
    let base = node.https.clone();
    let post_rate = rt.block_on(rate(4, 5, 2.0, move |c, n| {
        c.post(format!("{base}/api/v1/directory-numbers"))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"pattern": format!("7{n:07}"), "partition": "Internal_PT"}))
    }));
    vec![
        Row {
            name: "REST GET user, Basic auth, HTTPS, 8 clients",
            median: get_rate,
            unit: "req/s",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "REST POST directory number (durable), 4 clients",
            median: post_rate,
            unit: "req/s",
            target: "-",
            anchor: "-".into(),
        },
    ]
}

/// Phone-facing pages: what a fleet pressing Services and Directories, and phones fetching their
/// configuration files, cost. The seed warns that hundreds of requests a minute strain a Unified
/// CM node; the target is 20,000 a second.
fn phone_rows(binary: &str) -> Vec<Row> {
    let node = start_node(binary);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    let pages: [(&'static str, &str); 3] = [
        (
            "Services menu (getservicesmenu.jsp), HTTP, 32 clients",
            "/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000",
        ),
        (
            "Corporate directory search (xmldirectorylist.jsp), HTTP, 32 clients",
            "/ccmcip/xmldirectorylist.jsp?l=L",
        ),
        (
            "Configuration file SEP<MAC>.cnf.xml, HTTP, 32 clients",
            "/SEP00DE00001000.cnf.xml",
        ),
    ];
    for (name, path) in pages {
        let url = format!("{}{path}", node.http);
        let r = rt.block_on(rate(32, 5, 3.0, move |c, _| {
            c.get(&url)
                .header("x-CiscoIPPhoneModelName", "CP-8865")
                .header("x-CiscoIPPhoneDisplay", "800,480,24,C")
        }));
        rows.push(Row {
            name,
            median: r,
            unit: "req/s",
            target: ">= 20,000",
            anchor: "-".into(),
        });
    }
    rows
}

/// A fleet of simulated Cisco phones, each on its own loopback address: how fast 1,000 boot
/// (configuration file, then a digest REGISTER over TCP), and how fast they browse the
/// directory from their own addresses.
fn fleet_rows(binary: &str) -> Vec<Row> {
    const PHONES: usize = 1000;
    let node = start_node(binary);
    let pid = node.child.id();
    let mut csv =
        String::from("name,model,digest_user,digest_password,line1.pattern,line1.partition\n");
    for i in 0..PHONES {
        csv.push_str(&format!(
            "SEP0F1EE7{i:06},Cisco 8865,fleet{i},pw{i},4{i:04},Internal_PT\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    std::thread::sleep(Duration::from_secs(2)); // the snapshots follow
    let rss_before = rss_of(pid);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config_url = node.config_http.clone();
    let start = Instant::now();
    let phones: Vec<dialtone_phonesim::Phone> = rt.block_on(async {
        let bound = Arc::new(tokio::sync::Semaphore::new(64));
        let tasks: Vec<_> = (0..PHONES)
            .map(|i| {
                let (bound, url) = (bound.clone(), config_url.clone());
                tokio::spawn(async move {
                    let _turn = bound.acquire().await;
                    let ip =
                        std::net::IpAddr::from([127, 41, (i / 250) as u8, (i % 250 + 1) as u8]);
                    let mut spec = dialtone_phonesim::Spec::new(
                        &format!("SEP0F1EE7{i:06}"),
                        &format!("pw{i}"),
                        ip,
                        &url,
                    );
                    spec.web_port = 18008;
                    dialtone_phonesim::Phone::start(spec)
                        .await
                        .expect("phone boots")
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let boot = PHONES as f64 / start.elapsed().as_secs_f64();
    let per_phone = rss_of(pid).saturating_sub(rss_before) as f64 / PHONES as f64 / 1024.0;
    // Every phone presses Directories and searches, from its own address, for a few seconds.
    let browsed = rt.block_on(rounds(
        phones.clone(),
        3,
        3.0,
        |p: dialtone_phonesim::Phone, _| async move {
            p.press_directories().await.expect("directories");
            p.select(0).await.expect("corporate directory");
            p.submit(&[("l", "L")]).await.expect("search");
            3
        },
    ));
    rt.block_on(async {
        for p in &phones {
            p.stop().await;
        }
    });
    vec![
        Row {
            name:
                "Simulated Cisco phones booting (config file + REGISTER/TCP), 1,000 on 127.41.x.y",
            median: boot,
            unit: "phones/s",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "Node memory per booted phone",
            median: per_phone,
            unit: "KiB",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "Directory walks by 1,000 phones from their own addresses (3 pages each)",
            median: browsed,
            unit: "req/s",
            target: ">= 20,000",
            anchor: "-".into(),
        },
    ]
}

/// Extension Mobility logins and logouts through the phone service, as users do them: user ID
/// and PIN submitted from the phone, the phone reset and registered with the profile's line,
/// then logged out and back on its own line. Every login is a different user, so every PIN is
/// a full argon2id check. The seed's figure is 250 a minute per node; the target 25,000.
fn em_rows(binary: &str) -> Vec<Row> {
    const PHONES: usize = 200;
    const USERS: usize = 6_000;
    let node = start_node(binary);
    let mut csv =
        String::from("name,model,digest_user,digest_password,line1.pattern,line1.partition\n");
    for i in 0..PHONES {
        csv.push_str(&format!(
            "SEP0E0000{i:06},Cisco 8865,desk{i},pw{i},6{i:04},Internal_PT\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    let mut csv = String::from("name,model,line1.pattern,line1.partition\n");
    for i in 0..USERS {
        csv.push_str(&format!("em{i}_UDP,Cisco 8865,7{i:04},Internal_PT\n"));
    }
    bulk_import(&node, "device-profiles", csv);
    let mut csv = String::from("user_id,last_name,pin,device_profiles\n");
    for i in 0..USERS {
        csv.push_str(&format!("em{i},Mobile,{:05},em{i}_UDP\n", 10_000 + i));
    }
    bulk_import(&node, "users", csv);
    std::thread::sleep(Duration::from_secs(2)); // the snapshots follow
    let rt = tokio::runtime::Runtime::new().unwrap();
    let phones: Vec<dialtone_phonesim::Phone> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..PHONES {
            let ip = std::net::IpAddr::from([127, 42, (i / 250) as u8, (i % 250 + 1) as u8]);
            let mut spec = dialtone_phonesim::Spec::new(
                &format!("SEP0E0000{i:06}"),
                &format!("pw{i}"),
                ip,
                &node.config_http,
            );
            spec.web_port = 18009;
            out.push(
                dialtone_phonesim::Phone::start(spec)
                    .await
                    .expect("phone boots"),
            );
        }
        out
    });
    let next = Arc::new(AtomicU64::new(0));
    let http_base = node.http.clone();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let latencies: Vec<f64> = rt.block_on(async {
        let tasks: Vec<_> = phones
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let (p, next, base) = (p.clone(), next.clone(), http_base.clone());
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let device = p.device().to_owned();
                    let own = format!("6{n:04}");
                    let mut events = p.events();
                    while Instant::now() < deadline {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= USERS {
                            break;
                        }
                        let line = format!("7{i:04}");
                        let t0 = Instant::now();
                        let url = format!("{base}/emapp/EMAppServlet?device={device}&userid=em{i}&pin={:05}", 10_000 + i);
                        let shown = p.open(&url).await.expect("login page");
                        assert!(format!("{shown:?}").contains("Welcome"), "{shown:?}");
                        p.wait_for(&mut events, Duration::from_secs(10), |e| {
                            matches!(e, dialtone_phonesim::PhoneEvent::Registered { aor } if *aor == line)
                        })
                        .await
                        .expect("registered with the profile's line");
                        mine.push(t0.elapsed().as_secs_f64() * 1000.0);
                        p.open(&format!("{base}/emapp/EMAppServlet?device={device}&logout=true"))
                            .await
                            .expect("logout");
                        p.wait_for(&mut events, Duration::from_secs(10), |e| {
                            matches!(e, dialtone_phonesim::PhoneEvent::Registered { aor } if *aor == own)
                        })
                        .await
                        .expect("back on its own line");
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let per_minute = (latencies.len() * 2) as f64 / elapsed * 60.0;
    let mut sorted = latencies.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q) as usize];
    rt.block_on(async {
        for p in &phones {
            p.stop().await;
        }
    });
    vec![
        Row {
            name: "EM logins + logouts via the phone service, 200 phones resetting and re-registering, a new user each login",
            median: per_minute,
            unit: "per minute",
            target: ">= 25,000 (seed: 250 per node)",
            anchor: format!("{} logins", latencies.len()),
        },
        Row {
            name: "EM: PIN submitted to the phone registered with the profile's line, median",
            median: pct(0.5),
            unit: "ms",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "EM: PIN submitted to the phone registered with the profile's line, 99th percentile",
            median: pct(0.99),
            unit: "ms",
            target: "-",
            anchor: "-".into(),
        },
    ]
}

/// A makeCallSoap request as python-zeep sends it (bare elements, urn:WD70).
fn make_call_soap(user: &str, password: &str, destination: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body>\
         <ns0:makeCallSoap xmlns:ns0=\"urn:WD70\"><in0><userID>{user}</userID><password>{password}</password></in0><in1>{destination}</in1>\
         <in2><user>{user}</user><deviceName></deviceName><lineNumber></lineNumber><supportEM>false</supportEM><locale>English</locale>\
         <dontAutoClose>false</dontAutoClose><dontShowCallConf>false</dontShowCallConf></in2></ns0:makeCallSoap></soap-env:Body></soap-env:Envelope>"
    )
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q) as usize]
}

/// WebDialer end to end: SOAP makeCall from `PAIRS` users, each call counted once the request
/// returned 0 and both simulated phones (the user's, answering by remote control, and the
/// destination) are connected; the destination then hangs up. The first request of each user
/// (a cold password check) is measured apart from the warm ones.
fn webdialer_rows(binary: &str) -> Vec<Row> {
    const PAIRS: usize = 150;
    const SECS: u64 = 20;
    let node = start_node_with(binary, "[phones]\nweb_port = 18010\n");
    let mut csv =
        String::from("name,model,css,digest_user,digest_password,line1.pattern,line1.partition\n");
    for i in 0..PAIRS {
        csv.push_str(&format!(
            "SEP0D0000{i:06},Cisco 8865,Internal_CSS,wdfrom{i},pw{i},8{i:04},Internal_PT\n\
             SEP0D1000{i:06},Cisco 8865,Internal_CSS,wdto{i},pw{i},5{i:04},Internal_PT\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    let mut csv = String::from("user_id,last_name,password,devices\n");
    for i in 0..PAIRS {
        csv.push_str(&format!("wd{i},Dialer,wd-password-{i},SEP0D0000{i:06}\n"));
    }
    bulk_import(&node, "users", csv);
    std::thread::sleep(Duration::from_secs(2)); // the snapshots follow
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pairs: Vec<(dialtone_phonesim::Phone, dialtone_phonesim::Phone)> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..PAIRS {
            let ip = |b: u8| std::net::IpAddr::from([127, 43, b, (i % 250 + 1) as u8]);
            let mut from = dialtone_phonesim::Spec::new(
                &format!("SEP0D0000{i:06}"),
                &format!("pw{i}"),
                ip(i as u8 / 250),
                &node.config_http,
            );
            from.web_port = 18010;
            let mut to = dialtone_phonesim::Spec::new(
                &format!("SEP0D1000{i:06}"),
                &format!("pw{i}"),
                ip(100 + i as u8 / 250),
                &node.config_http,
            );
            to.web_port = 18010;
            to.answer_all = true;
            out.push((
                dialtone_phonesim::Phone::start(from)
                    .await
                    .expect("phone boots"),
                dialtone_phonesim::Phone::start(to)
                    .await
                    .expect("phone boots"),
            ));
        }
        out
    });
    let url = format!("{}/webdialer/services/WebdialerSoapService70", node.https);
    // One call: (SOAP answer time, request to both phones connected), in ms.
    async fn one_call(
        client: &reqwest::Client,
        url: &str,
        i: usize,
        from: &dialtone_phonesim::Phone,
        to: &dialtone_phonesim::Phone,
    ) -> (f64, f64) {
        use dialtone_phonesim::PhoneEvent;
        let (mut fe, mut te) = (from.events(), to.events());
        let t0 = Instant::now();
        let answer = client
            .post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"\"")
            .body(make_call_soap(
                &format!("wd{i}"),
                &format!("wd-password-{i}"),
                &format!("5{i:04}"),
            ))
            .send()
            .await
            .expect("makeCall")
            .text()
            .await
            .unwrap();
        let answered = t0.elapsed().as_secs_f64() * 1000.0;
        assert!(answer.contains(">0</responseCode>"), "{answer}");
        let wait = Duration::from_secs(10);
        from.wait_for(&mut fe, wait, |e| matches!(e, PhoneEvent::Connected { .. }))
            .await
            .expect("the user's phone connects");
        let PhoneEvent::Connected { call_id } = to
            .wait_for(&mut te, wait, |e| matches!(e, PhoneEvent::Connected { .. }))
            .await
            .expect("the destination connects")
        else {
            unreachable!()
        };
        let connected = t0.elapsed().as_secs_f64() * 1000.0;
        to.hangup(&call_id).await.expect("hang up");
        from.wait_for(&mut fe, wait, |e| matches!(e, PhoneEvent::Ended { .. }))
            .await
            .expect("the user's side ends");
        (answered, connected)
    }
    let (cold, warm, elapsed) = rt.block_on(async {
        let clients: Vec<reqwest::Client> = (0..PAIRS)
            .map(|_| {
                reqwest::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .build()
                    .unwrap()
            })
            .collect();
        // Every user's first request: the password is checked in full (argon2id).
        let firsts: Vec<_> = pairs
            .iter()
            .zip(&clients)
            .enumerate()
            .map(|(i, ((from, to), c))| {
                let (from, to, c, url) = (from.clone(), to.clone(), c.clone(), url.clone());
                tokio::spawn(async move { one_call(&c, &url, i, &from, &to).await })
            })
            .collect();
        let mut cold = Vec::new();
        for t in firsts {
            cold.push(t.await.unwrap().0);
        }
        let end = Instant::now() + Duration::from_secs(SECS);
        let start = Instant::now();
        let tasks: Vec<_> = pairs
            .iter()
            .zip(&clients)
            .enumerate()
            .map(|(i, ((from, to), c))| {
                let (from, to, c, url) = (from.clone(), to.clone(), c.clone(), url.clone());
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while Instant::now() < end {
                        mine.push(one_call(&c, &url, i, &from, &to).await);
                    }
                    mine
                })
            })
            .collect();
        let mut warm = Vec::new();
        for t in tasks {
            warm.extend(t.await.unwrap());
        }
        (cold, warm, start.elapsed().as_secs_f64())
    });
    rt.block_on(async {
        for (a, b) in &pairs {
            a.stop().await;
            b.stop().await;
        }
    });
    let rate = warm.len() as f64 / elapsed;
    let mut answered: Vec<f64> = warm.iter().map(|w| w.0).collect();
    let mut connected: Vec<f64> = warm.iter().map(|w| w.1).collect();
    let mut cold = cold;
    for v in [&mut answered, &mut connected, &mut cold] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    vec![
        Row {
            name: "WebDialer makeCallSoap, warm credentials: calls/s, each counted once it returned 0 and both phones are connected (150 users, 300 simulated phones)",
            median: rate,
            unit: "calls/s",
            target: ">= 400 (seed: 4 per node)",
            anchor: format!("{} calls in {elapsed:.1} s; Maximum Concurrent Call Requests 1000 (default)", warm.len()),
        },
        Row {
            name: "WebDialer makeCallSoap, warm: request to both phones connected, median / 99th percentile",
            median: percentile(&connected, 0.5),
            unit: "ms",
            target: "-",
            anchor: format!("p99 {:.1} ms; SOAP answer p50 {:.1} ms, p99 {:.1} ms", percentile(&connected, 0.99), percentile(&answered, 0.5), percentile(&answered, 0.99)),
        },
        Row {
            name: "WebDialer makeCallSoap, each user's first request (cold password check, argon2id): SOAP answer, median",
            median: percentile(&cold, 0.5),
            unit: "ms",
            target: "-",
            anchor: format!("p99 {:.1} ms; {} users at once", percentile(&cold, 0.99), cold.len()),
        },
    ]
}

/// The Redirector: decisions per second for users who logged in before (the Redirector's
/// cookie), each one asking both WebDialers of the List of WebDialers (isClusterUser over
/// HTTPS, pinned certificates) and redirecting to the one that says yes.
fn redirector_rows(binary: &str) -> Vec<Row> {
    let sip = "sip_udp_port = 0\nsip_tcp_port = 0\nsip_tls_port = 0\n";
    let a = start_node_listening(binary, sip, "");
    let b = start_node_listening(binary, sip, "");
    let fingerprint = |n: &Node| -> String {
        let pem = std::fs::read_to_string(n._dir.path().join("data/tls/self-signed.crt")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        use sha2::Digest;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        hex::encode(sha2::Sha256::digest(der))
    };
    let http = admin_http();
    // The demo's users are in both; B says they are not its own (home cluster elsewhere),
    // except one user that only B claims.
    for u in 1000..1010 {
        let r = http
            .patch(format!("{}/api/v1/users/user{u}", b.https))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"home_cluster": u == 1009}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap());
    }
    let r = http
        .patch(format!("{}/api/v1/users/user1009", a.https))
        .basic_auth("admin", Some(PW))
        .json(&serde_json::json!({"home_cluster": false}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let list = format!(
        "{}#sha256={} {}#sha256={}",
        a.https,
        fingerprint(&a),
        b.https,
        fingerprint(&b)
    );
    let r = http
        .put(format!(
            "{}/api/v1/parameters/webdialer/list_of_webdialers",
            a.https
        ))
        .basic_auth("admin", Some(PW))
        .json(&serde_json::json!({"value": list}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let redirector = format!("{}/webdialer/Redirector", a.https);
    let (a_base, b_base) = (a.https.clone(), b.https.clone());
    let decisions = rt.block_on(async move {
        let clients: Vec<reqwest::Client> = (0..32)
            .map(|_| {
                reqwest::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap()
            })
            .collect();
        rounds(clients, 5, 5.0, move |c, n| {
            let u = 1000 + n % 10;
            let expected = if u == 1009 {
                b_base.clone()
            } else {
                a_base.clone()
            };
            let request = c
                .get(format!("{redirector}?destination=1001"))
                .header("cookie", format!("WDREDIRECT=user{u}"));
            async move {
                let r = request.send().await.expect("decision");
                assert_eq!(r.status().as_u16(), 303);
                let to = r.headers()["location"].to_str().unwrap().to_string();
                assert!(to.starts_with(&expected), "user{u} sent to {to}");
                1
            }
        })
        .await
    });
    vec![Row {
        name: "Redirector decisions/s: isClusterUser to 2 WebDialers over HTTPS (pinned) at once, then the redirect, 32 clients",
        median: decisions,
        unit: "decisions/s",
        target: ">= 800 (seed: 8 call requests/s)",
        anchor: "-".into(),
    }]
}

fn rss_bytes() -> u64 {
    // Resident pages from /proc/self/statm (second field), times the page size.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// 100,000 patterns in 1,000 partitions, in the shapes real plans have: extensions, wildcard
/// ranges and variable-length PSTN patterns.
fn big_plan() -> dialtone_dialplan::PlanConfig {
    use dialtone_dialplan::*;
    let mut cfg = PlanConfig::default();
    for p in 0..1000 {
        cfg.partitions.push(format!("PT_{p}"));
    }
    for c in 0..100 {
        let parts = (0..10)
            .map(|k| format!("PT_{}", (c * 10 + k) % 1000))
            .collect();
        cfg.calling_search_spaces.push((format!("CSS_{c}"), parts));
    }
    cfg.route_groups.push(RouteGroupDef {
        name: "RG".into(),
        trunks: vec!["T1".into(), "T2".into()],
        local: false,
    });
    cfg.route_lists.push(("RL".into(), vec!["RG".into()]));
    for p in 0..1000 {
        let partition = Some(format!("PT_{p}"));
        for i in 0..90 {
            cfg.entries.push(EntryDef {
                pattern: format!("{}{:03}{:02}", 1 + p % 9, p, i),
                partition: partition.clone(),
                kind: EntryKind::DirectoryNumber,
            });
        }
        for (i, pat) in [
            "9.[2-9]XXXXXX",
            "9.1[2-9]XX[2-9]XXXXXX",
            "9.011!",
            "911",
            "9.911",
            "8XXX",
            "7[0-4]XX",
            "6!",
            "5XX[13579]",
            "\\+1!",
        ]
        .iter()
        .enumerate()
        {
            cfg.entries.push(EntryDef {
                pattern: format!("{p:03}{i}{pat}"),
                partition: partition.clone(),
                kind: EntryKind::Route {
                    target: Some(RouteTarget::RouteList("RL".into())),
                    blocked: false,
                    urgent: false,
                    manipulation: Manipulation {
                        discard: Discard::PreDot,
                        ..Default::default()
                    },
                    fac_level: None,
                    cmc: false,
                },
            });
        }
    }
    cfg
}

fn dialplan_rows() -> Vec<Row> {
    use dialtone_dialplan::*;
    let cfg = big_plan();
    let n = cfg.entries.len();
    // Memory: the resident growth of the first compile (later ones reuse freed memory).
    let before = rss_bytes();
    let first = Plan::compile(&cfg).expect("the benchmark plan compiles");
    let mem_per_pattern = rss_bytes().saturating_sub(before) as f64 / n as f64;
    drop(first);
    let mut compile_ms = Vec::new();
    let mut plan = None;
    for _ in 0..5 {
        drop(plan.take());
        let t = Instant::now();
        let p = Plan::compile(&cfg).expect("the benchmark plan compiles");
        compile_ms.push(t.elapsed().as_secs_f64() * 1e3);
        plan = Some(p);
    }
    let plan = plan.unwrap();
    // Dialled numbers that each CSS reaches: an extension, a PSTN number, a miss.
    let mut work = Vec::new();
    for c in 0..100usize {
        let p = c * 10 + 3;
        work.push((
            format!("CSS_{c}"),
            format!("{}{:03}{:02}", 1 + p % 9, p, 42),
        ));
        work.push((format!("CSS_{c}"), format!("{p:03}095551234")));
        work.push((format!("CSS_{c}"), "123".to_string()));
    }
    let mut per_lookup = Vec::new();
    let mut sink = 0usize;
    for _ in 0..9 {
        let t = Instant::now();
        let rounds = 200;
        for _ in 0..rounds {
            for (css, dialled) in &work {
                let css = [css.as_str()];
                let out = plan.analyse(&Request {
                    dialled,
                    calling: "1000",
                    css: &css,
                    local_route_group: None,
                    external_mask: None,
                    mode: Mode::EnBloc,
                });
                sink += matches!(out, Outcome::Route(_)) as usize;
            }
        }
        per_lookup.push(t.elapsed().as_secs_f64() * 1e9 / (rounds * work.len()) as f64);
    }
    assert!(sink > 0);
    vec![
        Row {
            name: "dial plan: compile 100,000 patterns in 1,000 partitions",
            median: median(compile_ms),
            unit: "ms",
            target: "under 1000 ms",
            anchor: "-".into(),
        },
        Row {
            name: "dial plan: analysis through a 10-partition CSS",
            median: median(per_lookup),
            unit: "ns",
            target: "under 1000 ns",
            anchor: "-".into(),
        },
        Row {
            name: "dial plan: memory per pattern (RSS growth / patterns)",
            median: mem_per_pattern,
            unit: "bytes",
            target: "reported",
            anchor: "-".into(),
        },
    ]
}

/// A 1 KB INVITE as a Cisco phone sends it (two Vias, Cisco Contact parameters, SDP).
fn invite_1kb() -> bytes::Bytes {
    let sdp = "v=0\r\no=Cisco-SIPUA 12345 0 IN IP4 10.1.2.3\r\ns=SIP Call\r\nb=AS:4064\r\nt=0 0\r\nm=audio 25150 RTP/AVP 0 8 18 101\r\nc=IN IP4 10.1.2.3\r\nb=TIAS:64000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=yes\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";
    let head = format!(
        "INVITE sip:1001@10.1.2.1;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/TCP 10.1.2.3:51234;branch=z9hG4bK6a1b2c3d4e5f;rport\r\n\
         Via: SIP/2.0/UDP 10.1.2.9:5060;branch=z9hG4bKabcdef012345;received=10.1.2.9\r\n\
         From: \"Ada Lovelace\" <sip:1000@10.1.2.1>;tag=00de00001000a1b2c3d4-e5f6a7b8\r\n\
         To: <sip:1001@10.1.2.1>\r\n\
         Call-ID: 00de0000-10000001-a1b2c3d4-e5f6a7b8@10.1.2.3\r\n\
         Max-Forwards: 70\r\n\
         Date: Tue, 24 Nov 2026 04:00:00 GMT\r\n\
         CSeq: 101 INVITE\r\n\
         User-Agent: Cisco-CP8865/14.2.1\r\n\
         Contact: <sip:a1b2c3d4-e5f6-7890-abcd-ef0123456789@10.1.2.3:51234;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-00de00001000>\";+u.sip!devicename.ccm.cisco.com=\"SEP00DE00001000\";+u.sip!model.ccm.cisco.com=\"36670\";video\r\n\
         Expires: 180\r\n\
         Accept: application/sdp\r\n\
         Allow: ACK,BYE,CANCEL,INVITE,NOTIFY,OPTIONS,REFER,REGISTER,UPDATE,SUBSCRIBE,INFO\r\n\
         Remote-Party-ID: \"Ada Lovelace\" <sip:1000@10.1.2.1>;party=calling;id-type=subscriber;privacy=off;screen=yes\r\n\
         Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-callinfo,X-cisco-serviceuri\r\n\
         Allow-Events: kpml,dialog\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n",
        sdp.len()
    );
    bytes::Bytes::from(format!("{head}{sdp}"))
}

fn sip_rows() -> Vec<Row> {
    use dialtone_sip::Message;
    let raw = invite_1kb();
    let size = raw.len();
    let mut rounds = Vec::new();
    let mut sink = 0usize;
    for _ in 0..9 {
        let n = 200_000;
        let t = Instant::now();
        for _ in 0..n {
            let m = Message::parse(raw.clone()).expect("the benchmark INVITE parses");
            let via = m.top_via().expect("Via");
            let from = m.from().expect("From");
            let to = m.to().expect("To");
            let (cseq, _) = m.cseq().expect("CSeq");
            sink += via.branch().map_or(0, str::len)
                + from.tag().map_or(0, str::len)
                + to.uri_str.len()
                + cseq as usize;
        }
        rounds.push(t.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    assert!(sink > 0);
    vec![Row {
        name: if size >= 1000 {
            "SIP: parse a 1 KB INVITE + typed Via/From/To/CSeq"
        } else {
            "SIP: parse an INVITE + typed Via/From/To/CSeq"
        },
        median: median(rounds),
        unit: "ns",
        target: "under 1000 ns (fastest Rust parser measured: 2150)",
        anchor: format!("{size} bytes"),
    }]
}

/// One sipp run at `rate` calls/s for `secs` seconds; (achieved calls/s, failed calls).
fn sipp_step(args: &[String], rate: u32, secs: u32, dir: &std::path::Path) -> Option<(f64, u64)> {
    let total = rate * secs;
    let start = Instant::now();
    let out = Command::new("timeout")
        .arg((secs + 60).to_string())
        .arg("sipp")
        .args(args)
        .args([
            "-r",
            &rate.to_string(),
            "-m",
            &total.to_string(),
            "-l",
            "50000",
            "-nostdin",
            "-timeout",
            &format!("{}s", secs + 50),
            "-max_retrans",
            "10",
        ])
        .current_dir(dir)
        .output()
        .ok()?;
    let elapsed = start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let failed = text
        .lines()
        .find(|l| l.contains("Failed call"))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    Some((total as f64 / elapsed, failed))
}

/// sipp arguments for digest REGISTERs from the users in `users.csv` over UDP.
fn register_args(target: &str, scenario: &str) -> Vec<String> {
    [
        target,
        "-sf",
        scenario,
        "-inf",
        "users.csv",
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-t",
        "u1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A client for the node's admin API (its own self-signed certificate; bulk imports take
/// their time).
fn admin_http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

/// A bulk CSV import into the node, which must succeed.
fn bulk_import(node: &Node, kind: &str, csv: String) {
    let r = admin_http()
        .post(format!("{}/api/v1/bulk/{kind}", node.https))
        .basic_auth("admin", Some(PW))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .unwrap();
    assert!(
        r.status().is_success(),
        "bulk {kind}: {}",
        r.text().unwrap()
    );
}

/// A sipp scenario of the anchor kit, or (without the kit) `fallback`, a path in this
/// repository.
fn kit_scenario(kit: &Option<std::path::PathBuf>, name: &str, fallback: &str) -> String {
    match kit {
        Some(k) => k.join("sipp").join(name).display().to_string(),
        None => format!("{}/../{fallback}", env!("CARGO_MANIFEST_DIR")),
    }
}

/// The shared anchor kit (Kamailio + sipp scripts), when present beside the repository and
/// Kamailio is installed.
fn anchor_kit() -> Option<std::path::PathBuf> {
    let kit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/anchors/sip");
    let installed = Command::new("kamailio").arg("-v").output().is_ok();
    (kit.join("run-register.sh").exists() && installed).then_some(kit)
}

/// One step of an anchor kit script against Kamailio: (achieved/s, failed), from the TSV
/// line it prints.
fn kamailio_step(
    kit: &std::path::Path,
    script: &str,
    args: &[String],
    out: &std::path::Path,
) -> Option<(f64, u64)> {
    let o = Command::new("bash")
        .arg(kit.join(script))
        .args(args)
        .env("ANCHORS_OUT", out)
        .env("QUIET_WAIT", "10")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text.lines().rev().find(|l| l.contains("achieved="))?;
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(name))
            .map(|v| v.trim_end_matches("/s").to_string())
    };
    Some((
        field("achieved=")?.parse().ok()?,
        field("failed=")?.parse().ok()?,
    ))
}

/// One step of the kit's digest REGISTER run against Kamailio.
fn kamailio_register_step(
    kit: &std::path::Path,
    rate: u32,
    secs: u32,
    out: &std::path::Path,
) -> Option<(f64, u64)> {
    let args = [rate.to_string(), "auth".to_string(), secs.to_string()];
    kamailio_step(kit, "run-register.sh", &args, out)
}

fn sip_register_rows() -> Vec<Row> {
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!("sipp not installed (apt-get install sip-tester): skipping the SIP throughput benchmark");
        return vec![];
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (endpoint, rx) = rt
        .block_on(dialtone_sip::endpoint::Endpoint::bind(
            Some("127.0.0.1:0".parse().unwrap()),
            None,
            dialtone_sip::endpoint::Config::default(),
        ))
        .unwrap();
    rt.spawn(testserver::serve(rx));
    let target = endpoint
        .local_addr(dialtone_sip::endpoint::Transport::Udp)
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("SEQUENTIAL\n");
    for i in 1..1000 {
        csv.push_str(&format!(
            "u{i:06};pw{i:06};[authentication username=u{i:06} password=pw{i:06}]\n"
        ));
    }
    std::fs::write(dir.path().join("users.csv"), csv).unwrap();
    let scen = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/sip/tests/sipp/reg-auth.xml"
    );
    let args = register_args(&target, scen);
    // Rising steps; the figure is the fastest step with under 0.1% failures. Kamailio (the
    // anchor kit, its scenario unchanged) runs at the same step right after ours, so both
    // see the same machine.
    let kit = anchor_kit();
    let anchor_out = tempfile::tempdir().unwrap();
    let mut best = 0.0f64;
    let mut kamailio_best = 0.0f64;
    let mut ours_done = false;
    let mut kamailio_done = kit.is_none();
    for rate in [
        2000u32, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000, 24000,
    ] {
        if !ours_done {
            match sipp_step(&args, rate, 10, dir.path()) {
                Some((achieved, failed)) => {
                    eprintln!("dialtone REGISTER+digest step {rate}/s: achieved {achieved:.0}/s, failed {failed}");
                    if failed as f64 <= (rate * 10) as f64 * 0.001 && achieved >= rate as f64 * 0.9
                    {
                        best = achieved;
                    } else {
                        ours_done = true;
                    }
                }
                None => ours_done = true,
            }
        }
        if !kamailio_done {
            match kit
                .as_deref()
                .and_then(|k| kamailio_register_step(k, rate, 10, anchor_out.path()))
            {
                Some((achieved, failed)) => {
                    eprintln!("kamailio REGISTER+digest step {rate}/s: achieved {achieved:.0}/s, failed {failed}");
                    if failed as f64 <= (rate * 10) as f64 * 0.001 && achieved >= rate as f64 * 0.9
                    {
                        kamailio_best = achieved;
                    } else {
                        kamailio_done = true;
                    }
                }
                None => kamailio_done = true,
            }
        }
        if ours_done && kamailio_done {
            break;
        }
    }
    let held = endpoint.transactions();
    let rss_mb = rss_bytes() as f64 / 1e6;
    drop(endpoint);
    vec![Row {
        name: "SIP: digest REGISTERs/s through transactions (sipp UDP client, highest clean step)",
        median: best,
        unit: "reg/s",
        target: "-",
        anchor: if kamailio_best > 0.0 {
            format!(
                "Kamailio {kamailio_best:.0}/s same run, ratio {:.2}; {held} transactions held, RSS {rss_mb:.0} MB",
                best / kamailio_best
            )
        } else {
            format!("Kamailio not run here (anchor kit or kamailio missing); {held} transactions held, RSS {rss_mb:.0} MB")
        },
    }]
}

/// Resident memory of a process, from /proc.
fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// A free UDP+TCP port on loopback.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One step of the kit's call run through Kamailio.
fn kamailio_calls_step(
    kit: &std::path::Path,
    rate: u32,
    secs: u32,
    out: &std::path::Path,
) -> Option<(f64, u64)> {
    kamailio_step(
        kit,
        "run-calls.sh",
        &[rate.to_string(), secs.to_string()],
        out,
    )
}

/// Rising steps of one scenario against Dialtone and (if given) Kamailio, alternating so both
/// see the same machine; each figure is its fastest step with under 0.1% failures.
fn rising(
    steps: &[u32],
    secs: u32,
    mut ours: impl FnMut(u32) -> Option<(f64, u64)>,
    mut theirs: Option<&mut dyn FnMut(u32) -> Option<(f64, u64)>>,
    what: &str,
) -> (f64, f64) {
    let (mut best, mut anchor) = (0.0f64, 0.0f64);
    let (mut ours_done, mut theirs_done) = (false, theirs.is_none());
    let clean = |rate: u32, achieved: f64, failed: u64| {
        failed as f64 <= (rate * secs) as f64 * 0.001 && achieved >= rate as f64 * 0.9
    };
    for &rate in steps {
        if !ours_done {
            match ours(rate) {
                Some((a, f)) if clean(rate, a, f) => best = a,
                r => {
                    eprintln!("dialtone {what} step {rate}/s: {r:?}: stop");
                    ours_done = true
                }
            }
            eprintln!("dialtone {what} step {rate}/s done (best {best:.0}/s)");
        }
        if !theirs_done {
            match theirs.as_mut().and_then(|f| f(rate)) {
                Some((a, f)) if clean(rate, a, f) => anchor = a,
                r => {
                    eprintln!("kamailio {what} step {rate}/s: {r:?}: stop");
                    theirs_done = true
                }
            }
            eprintln!("kamailio {what} step {rate}/s done (best {anchor:.0}/s)");
        }
        if ours_done && theirs_done {
            break;
        }
    }
    (best, anchor)
}

fn ratio(ours: f64, anchor: f64, note: &str) -> String {
    if anchor > 0.0 {
        format!(
            "Kamailio {anchor:.0}/s same run, ratio {:.2}{note}",
            ours / anchor
        )
    } else {
        format!("Kamailio not run here (anchor kit or kamailio missing){note}")
    }
}

/// The real node: digest REGISTERs from 30,000 provisioned devices (memory per registered
/// device), then complete calls (INVITE to BYE) from a trusted trunk and from digest-
/// authenticated devices, each beside Kamailio running the kit's scenarios unchanged.
fn sip_node_rows(binary: &str) -> Vec<Row> {
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!(
            "sipp not installed (apt-get install sip-tester): skipping the node SIP benchmark"
        );
        return vec![];
    }
    const DEVICES: usize = 30_000;
    let node = start_node(binary);
    let pid = node.child.id();
    let http = admin_http();
    let api = |path: &str| format!("{}/api/v1{path}", node.https);
    let rss_before = rss_of(pid);
    let mut csv = String::from("name,model,device_pool,digest_user,digest_password\n");
    for i in 1..=DEVICES {
        csv.push_str(&format!(
            "SEP{i:012X},Cisco 8865,Default,u{i:06},pw{i:06}\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    std::thread::sleep(Duration::from_secs(2)); // the directory snapshot follows
    let rss_provisioned = rss_of(pid);
    let dir = tempfile::tempdir().unwrap();
    let mut users = String::from("SEQUENTIAL\n");
    for i in 1..=DEVICES {
        users.push_str(&format!(
            "u{i:06};pw{i:06};[authentication username=u{i:06} password=pw{i:06}]\n"
        ));
    }
    std::fs::write(dir.path().join("users.csv"), users).unwrap();
    let kit = anchor_kit();
    let kit_scenario = |name: &str| kit_scenario(&kit, name, "crates/sip/tests/sipp/reg-auth.xml");
    let anchor_out = tempfile::tempdir().unwrap();
    let reg_args = register_args(&node.sip_udp, &kit_scenario("reg-auth.xml"));
    // Every device registers once at a gentle rate: the memory a registered device holds.
    let _ = sipp_step(&reg_args, 2000, (DEVICES / 2000) as u32, dir.path());
    let registered = http
        .get(api("/registrations"))
        .basic_auth("admin", Some(PW))
        .send()
        .ok()
        .and_then(|r| r.json::<serde_json::Value>().ok())
        .and_then(|v| v["items"].as_array().map(|a| a.len()))
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(35)); // completed transactions expire (Timer J)
    let rss_registered = rss_of(pid);
    let per_device = rss_registered.saturating_sub(rss_before) as f64 / DEVICES as f64;
    let per_binding =
        rss_registered.saturating_sub(rss_provisioned) as f64 / registered.max(1) as f64;
    let mut kam_reg = |rate: u32| {
        kit.as_deref()
            .and_then(|k| kamailio_register_step(k, rate, 10, anchor_out.path()))
    };
    let (reg, reg_anchor) = rising(
        &[2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000],
        10,
        |rate| sipp_step(&reg_args, rate, 10, dir.path()),
        kit.as_ref()
            .map(|_| &mut kam_reg as &mut dyn FnMut(u32) -> Option<(f64, u64)>),
        "REGISTER+digest",
    );
    let rss_overload = rss_of(pid);

    let rig = CallRig::new(&node, dir.path(), &kit_scenario);
    let (trunk_uac, device_uac) = (rig.trunk_uac.clone(), rig.device_uac.clone());
    let call_step = |rate: u32, secs: u32, uac: Vec<String>| rig.step(rate, secs, uac);
    let secs = 10;
    let mut kam_calls = |rate: u32| {
        kit.as_deref()
            .and_then(|k| kamailio_calls_step(k, rate, secs, anchor_out.path()))
    };
    let steps = [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000];
    let (trunk_calls, calls_anchor) = rising(
        &steps,
        secs,
        |rate| call_step(rate, secs, trunk_uac.clone()),
        kit.as_ref()
            .map(|_| &mut kam_calls as &mut dyn FnMut(u32) -> Option<(f64, u64)>),
        "calls (trunk)",
    );
    let (device_calls, _) = rising(
        &steps,
        secs,
        |rate| call_step(rate, secs, device_uac.clone()),
        None,
        "calls (digest)",
    );
    let rss_after_calls = rss_of(pid);
    vec![
        Row {
            name: "node: digest REGISTERs/s from 30,000 devices (kit scenario, highest clean step)",
            median: reg,
            unit: "reg/s",
            target: "at least 0.5x Kamailio",
            anchor: ratio(reg, reg_anchor, ""),
        },
        Row {
            name: "node: memory per provisioned and registered device (30,000)",
            median: per_device,
            unit: "bytes",
            target: "-",
            anchor: format!(
                "{registered} bindings, {:.0} bytes each; RSS {:.0} MB empty, {:.0} MB provisioned, {:.0} MB registered, {:.0} MB after the overload steps",
                per_binding,
                rss_before as f64 / 1e6,
                rss_provisioned as f64 / 1e6,
                rss_registered as f64 / 1e6,
                rss_overload as f64 / 1e6
            ),
        },
        Row {
            name: "node: complete calls/s (INVITE to BYE) from a trusted trunk to a registered phone",
            median: trunk_calls,
            unit: "calls/s",
            target: "at least 0.5x Kamailio",
            anchor: ratio(trunk_calls, calls_anchor, " (Kamailio proxies; Dialtone runs two legs)"),
        },
        Row {
            name: "node: complete calls/s with digest-authenticated INVITEs from a device",
            median: device_calls,
            unit: "calls/s",
            target: "-",
            anchor: format!("same anchor: {}; RSS after the calls {:.0} MB", ratio(device_calls, calls_anchor, ""), rss_after_calls as f64 / 1e6),
        },
    ]
}

/// Calls for the benchmarks: line 1001 registered by a sipp UAS (its limits lifted, as a
/// hunt pilot's would be), callers from a trusted trunk or as digest-authenticated line 1000.
struct CallRig {
    uas_port: u16,
    uas_scenario: String,
    dir: std::path::PathBuf,
    trunk_uac: Vec<String>,
    device_uac: Vec<String>,
}

impl CallRig {
    fn new(node: &Node, dir: &std::path::Path, kit_scenario: &dyn Fn(&str) -> String) -> CallRig {
        let http = admin_http();
        let api = |path: &str| format!("{}/api/v1{path}", node.https);
        // Calls: a sipp UAS registered as line 1001, a sipp UAC on a trusted trunk.
        let creds =
            std::fs::read_to_string(node._dir.path().join("data/demo-credentials")).unwrap();
        let pw_of = |user: &str| -> String {
            creds
                .lines()
                .find(|l| l.starts_with(&format!("{user} ")))
                .and_then(|l| l.split_whitespace().last())
                .unwrap()
                .to_string()
        };
        let (uac_port, uas_port) = (free_port(), free_port());
        let r = http
            .post(api("/sip-trunks"))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"name": "Bench_Trunk", "destination_host": "127.0.0.1", "destination_port": uac_port, "transport": "udp", "css": "Internal_CSS"}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "trunk: {}", r.text().unwrap());
        // Every call goes to line 1001: lift its busy trigger (default 2) to the maximum, as a
        // hunt pilot or a contact-centre line would have it.
        let dn: serde_json::Value = http
            .get(api("/directory-numbers?pattern=1001"))
            .basic_auth("admin", Some(PW))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = dn["items"][0]["id"].as_str().unwrap().to_string();
        let r = http
            .patch(api(&format!("/directory-numbers/{id}")))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"busy_trigger": 200, "max_calls": 200}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "line 1001: {}", r.text().unwrap());
        std::thread::sleep(Duration::from_millis(500));
        std::fs::write(
            dir.join("uas.csv"),
            format!(
                "SEQUENTIAL\n1001;x;[authentication username=user1001 password={}]\n",
                pw_of("user1001")
            ),
        )
        .unwrap();
        let status = Command::new("timeout")
            .args(["30", "sipp", &node.sip_udp, "-sf"])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../crates/server/tests/sipp/reg-auth.xml"
            ))
            .args([
                "-inf",
                "uas.csv",
                "-m",
                "1",
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
                "-nostdin",
            ])
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(status, "the sipp UAS registered as 1001");
        std::fs::write(
            dir.join("caller.csv"),
            format!(
                "SEQUENTIAL\n1000;1001;[authentication username=user1000 password={}]\n",
                pw_of("user1000")
            ),
        )
        .unwrap();
        let uas_scenario = kit_scenario("uas-call.xml");
        let trunk_uac: Vec<String> = [
            node.sip_udp.as_str(),
            "-sf",
            &kit_scenario("uac-call.xml"),
            "-s",
            "1001",
            "-i",
            "127.0.0.1",
            "-p",
            &uac_port.to_string(),
            "-buff_size",
            "4194304",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let device_uac: Vec<String> = [
            node.sip_udp.as_str(),
            "-sf",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../crates/server/tests/sipp/uac-call.xml"
            ),
            "-inf",
            "caller.csv",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-buff_size",
            "4194304",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        CallRig {
            uas_port,
            uas_scenario,
            dir: dir.to_path_buf(),
            trunk_uac,
            device_uac,
        }
    }

    /// One step: the UAS for `rate * secs` calls, the UAC (`uac`) at `rate`.
    fn step(&self, rate: u32, secs: u32, uac: Vec<String>) -> Option<(f64, u64)> {
        let (uas_port, uas_scenario, dir) = (self.uas_port, &self.uas_scenario, &self.dir);
        let total = rate * secs;
        // sipp itself (no `timeout` wrapper), so the kill below reaches it.
        let mut uas = Command::new("sipp")
            .args(["-sf", uas_scenario])
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
                "-m",
                &total.to_string(),
            ])
            .args([
                "-nostdin",
                "-buff_size",
                "4194304",
                "-timeout",
                &format!("{}s", secs + 50),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(300));
        let r = sipp_step(&uac, rate, secs, dir);
        // The UAS ends by itself after its last call's timewait; then the port is free.
        for _ in 0..50 {
            if uas.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = uas.kill();
        let _ = uas.wait();
        r
    }
}

/// 1,000 CTI applications on the WebSocket: watcher `i` watches the lines `lines(i)`.
/// Counts what they receive; dropped (and so disconnected) with the runtime.
struct Watchers {
    rt: tokio::runtime::Runtime,
    events: Arc<AtomicU64>,
    lagged: Arc<AtomicU64>,
    connected: u64,
}

impl Watchers {
    fn connect(node: &Node, count: usize, lines: impl Fn(usize) -> Vec<String>) -> Watchers {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let events = Arc::new(AtomicU64::new(0));
        let lagged = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicU64::new(0));
        let url = format!("{}/api/v1/cti/ws", node.http.replace("http://", "ws://"));
        let auth = format!("Basic {}", basic_credentials("admin", PW));
        for i in 0..count {
            let watch = serde_json::json!({"op": "watch", "lines": lines(i), "id": 1}).to_string();
            let (events, lagged, connected, url, auth) = (
                events.clone(),
                lagged.clone(),
                connected.clone(),
                url.clone(),
                auth.clone(),
            );
            rt.spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                use tokio_tungstenite::tungstenite::Message;
                let mut req = url.into_client_request().unwrap();
                req.headers_mut()
                    .insert("Authorization", auth.parse().unwrap());
                let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
                    return;
                };
                if ws.send(Message::text(watch)).await.is_err() {
                    return;
                }
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        let t = t.as_str();
                        if t.contains("\"reply\"") {
                            connected.fetch_add(1, Ordering::Relaxed);
                        } else if t.starts_with("{\"event\":\"lagged\"") {
                            lagged.fetch_add(1, Ordering::Relaxed);
                        } else {
                            events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        let until = Instant::now() + Duration::from_secs(60);
        while (connected.load(Ordering::Relaxed) as usize) < count && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
        let connected = connected.load(Ordering::Relaxed);
        Watchers {
            rt,
            events,
            lagged,
            connected,
        }
    }

    /// (events/s received, lag notices) while `run` runs.
    fn during<T>(&self, run: impl FnOnce() -> T) -> (f64, u64, T) {
        let (e0, l0) = (
            self.events.load(Ordering::Relaxed),
            self.lagged.load(Ordering::Relaxed),
        );
        let started = Instant::now();
        let out = run();
        let secs = started.elapsed().as_secs_f64();
        let e = (self.events.load(Ordering::Relaxed) - e0) as f64 / secs;
        (e, self.lagged.load(Ordering::Relaxed) - l0, out)
    }
}

/// A CTI benchmark case: its two rows' names and which lines watcher `i` watches.
type WatchCase<'a> = (&'static str, &'static str, &'a dyn Fn(usize) -> Vec<String>);

/// CTI monitoring at scale: 1,000 applications on the WebSocket beside calls to line 1001.
/// Typical: ten watch line 1001 (a supervisor, a console), the other 990 watch 100 idle
/// lines each (99,000 watches in all). Worst: all 1,000 watch line 1001, so every event fans
/// out a thousandfold, beyond `api.cti_deliveries_per_second`. For each: the call rate with
/// the watchers beside the rate without (same rising steps, same run), and the events per
/// second delivered while calls run at the rate reached without watchers.
fn cti_rows(binary: &str) -> Vec<Row> {
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!("sipp not installed (apt-get install sip-tester): skipping the CTI benchmark");
        return vec![];
    }
    const WATCHERS: usize = 1000;
    const IDLE_LINES: usize = 1000;
    let node = start_node_with(binary, "[api]\nallow_over_http = true\n");
    let mut csv = String::from("pattern,partition\n");
    for i in 0..IDLE_LINES {
        csv.push_str(&format!("{},Internal_PT\n", 20000 + i));
    }
    bulk_import(&node, "directory-numbers", csv);
    let dir = tempfile::tempdir().unwrap();
    let kit = anchor_kit();
    let kit_scenario =
        |name: &str| kit_scenario(&kit, name, "crates/server/tests/sipp/uas-answer.xml");
    let rig = CallRig::new(&node, dir.path(), &kit_scenario);
    let secs = 10;
    // DIALTONE_BENCH_STEPS=500,1000 for a quick look.
    let steps: Vec<u32> = std::env::var("DIALTONE_BENCH_STEPS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![500, 1000, 1500, 2000, 2500, 3000, 3500, 4000]);
    let calls = |r: u32| rig.step(r, secs, rig.trunk_uac.clone());
    // A rising run ends on an overloaded step: its retransmissions and lingering
    // transactions (Timer B/H, 32 s) must die out before the next measurement.
    let settle = || std::thread::sleep(Duration::from_secs(35));
    // Kamailio proxying the kit's calls, alternating with ours, anchors the rate itself.
    let anchor_out = tempfile::tempdir().unwrap();
    let mut kam_calls = |rate: u32| {
        kit.as_deref()
            .and_then(|k| kamailio_calls_step(k, rate, secs, anchor_out.path()))
    };
    let (alone, kamailio) = rising(
        &steps,
        secs,
        calls,
        kit.as_ref()
            .map(|_| &mut kam_calls as &mut dyn FnMut(u32) -> Option<(f64, u64)>),
        "calls without watchers",
    );
    settle();
    // The highest step the node ran clean without watchers.
    let at = steps
        .iter()
        .copied()
        .filter(|s| *s as f64 * 0.9 <= alone)
        .max()
        .unwrap_or(steps[0]);
    let mut rows = vec![Row {
        name: "CTI: complete calls/s without watchers (the rate the watcher rows compare with)",
        median: alone,
        unit: "calls/s",
        target: "-",
        anchor: ratio(
            alone,
            kamailio,
            " (Kamailio proxies; Dialtone runs two legs)",
        ),
    }];
    let cases: [WatchCase; 2] = [
        (
            "CTI typical: events/s delivered to 1,000 WebSocket watchers (10 on the called line, 990 on 100 idle lines each), calls at the rate reached without watchers",
            "CTI typical: complete calls/s beside those 1,000 watchers (highest clean step)",
            &|i: usize| {
                if i < 10 {
                    vec!["1001".to_string()]
                } else {
                    (0..100)
                        .map(|k| (20000 + (i * 100 + k) % IDLE_LINES).to_string())
                        .collect()
                }
            },
        ),
        (
            "CTI worst case: events/s delivered to 1,000 WebSocket watchers all on the called line, calls at the rate reached without watchers",
            "CTI worst case: complete calls/s beside 1,000 watchers of the called line (highest clean step)",
            &|_| vec!["1001".to_string()],
        ),
    ];
    for (events_row, calls_row, lines) in cases {
        let w = Watchers::connect(&node, WATCHERS, lines);
        let (with, _) = rising(&steps, secs, calls, None, calls_row);
        settle();
        let (delivered, lags, step) = w.during(|| calls(at));
        rows.push(Row {
            name: events_row,
            median: delivered,
            unit: "events/s",
            target: "-",
            anchor: format!(
                "{} watchers connected; calls at {at}/s: {step:?} (achieved/s, failed); {lags} lag notices (each followed by a snapshot; at most one a second per watcher)",
                w.connected
            ),
        });
        rows.push(Row {
            name: calls_row,
            median: with,
            unit: "calls/s",
            target: "at least 0.9x without watchers",
            anchor: format!(
                "{alone:.0}/s without watchers, same run: ratio {:.2}",
                if alone > 0.0 { with / alone } else { 0.0 }
            ),
        });
        w.rt.shutdown_background();
        settle();
    }
    rows
}

/// HTTP Basic credentials (base64 of user:password).
fn basic_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut binary = "target/release/dialtone".to_string();
    let mut filter = String::new();
    let mut i = 1;
    while i < args.len() {
        if args[i] == "--print-invite" {
            // For looking closer: cargo run --release -p dialtone-sip --example parse_split FILE
            use std::io::Write;
            std::io::stdout().write_all(&invite_1kb()).unwrap();
            return;
        }
        if args[i] == "--dialtone" {
            binary = args[i + 1].clone();
            i += 2;
        } else {
            filter = args[i].clone();
            i += 1;
        }
    }
    let mut rows = Vec::new();
    if "auth".contains(&filter) || filter.is_empty() {
        rows.push(argon2_verify());
        rows.push(cached_verify());
    }
    if "sip".contains(&filter) || filter.is_empty() {
        rows.extend(sip_rows());
    }
    if "sip-register".contains(&filter) || filter.is_empty() {
        rows.extend(sip_register_rows());
    }
    if "sip-node".contains(&filter) || filter.is_empty() {
        rows.extend(sip_node_rows(&binary));
    }
    if "cti".contains(&filter) || filter.is_empty() {
        rows.extend(cti_rows(&binary));
    }
    if "dialplan".contains(&filter) || filter.is_empty() {
        rows.extend(dialplan_rows());
    }
    if "api".contains(&filter) || filter.is_empty() {
        rows.extend(api_rows(&binary));
    }
    if "phones".contains(&filter) || filter.is_empty() {
        rows.extend(phone_rows(&binary));
    }
    if "fleet".contains(&filter) || filter.is_empty() {
        rows.extend(fleet_rows(&binary));
    }
    if "em".contains(&filter) || filter.is_empty() {
        rows.extend(em_rows(&binary));
    }
    if "webdialer".contains(&filter) || filter.is_empty() {
        rows.extend(webdialer_rows(&binary));
    }
    if "redirector".contains(&filter) || filter.is_empty() {
        rows.extend(redirector_rows(&binary));
    }
    if "soak".contains(&filter) || filter.is_empty() {
        soak::run(&binary);
    }
    println!("| benchmark | median | unit | target | anchor (same run) |");
    println!("|---|---:|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.3} | {} | {} | {} |",
            r.name, r.median, r.unit, r.target, r.anchor
        );
    }
}
