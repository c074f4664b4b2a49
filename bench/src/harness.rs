//! What every benchmark stands on: the result row, medians and percentiles, a demo node on loopback with ephemeral ports, throughput rounds, and the process probes (RSS, free ports).

use super::*;

pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) median: f64,
    pub(crate) unit: &'static str,
    pub(crate) target: &'static str,
    pub(crate) anchor: String,
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A demo node (`dialtone_testkit::node`) and the directory it lives in, removed with it.
pub(crate) struct Node {
    node: dialtone_testkit::node::Node,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Node {
    type Target = dialtone_testkit::node::Node;
    fn deref(&self) -> &Self::Target {
        &self.node
    }
}

impl Node {
    /// A demo user's SIP digest password, from the credentials file the demo writes.
    pub(crate) fn sip_password(&self, user: &str) -> String {
        self.node.demo_password(user)
    }
}

pub(crate) const PW: &str = dialtone_testkit::node::ADMIN_PASSWORD;

pub(crate) fn start_node(binary: &str) -> Node {
    start_node_with(binary, "")
}

/// A demo node with `extra` TOML appended to its configuration.
pub(crate) fn start_node_with(binary: &str, extra: &str) -> Node {
    start_node_listening(binary, "", extra)
}

/// A demo node with `listen` lines added to its `[listen]` table (SIP ports: several nodes at
/// once) and `extra` TOML appended.
pub(crate) fn start_node_listening(binary: &str, listen: &str, extra: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let node = dialtone_testkit::node::Node::launch(
        binary,
        dir.path(),
        &dialtone_testkit::node::Options {
            demo: true,
            listen,
            extra,
            ..Default::default()
        },
    );
    Node { node, _dir: dir }
}

/// Throughput over `rounds` rounds of `secs` seconds: every worker repeats `step` (which says
/// how many requests it made) until the round's deadline; the median of the rounds' rates.
pub(crate) async fn rounds<W, F, Fut>(workers: Vec<W>, rounds: usize, secs: f64, step: F) -> f64
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
pub(crate) async fn rate(
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

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q) as usize]
}

pub(crate) fn rss_bytes() -> u64 {
    // Resident pages from /proc/self/statm (second field), times the page size.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// A client for the node's admin API (its own self-signed certificate; bulk imports take
/// their time).
pub(crate) fn admin_http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

/// A bulk CSV import into the node, which must succeed.
pub(crate) fn bulk_import(node: &Node, kind: &str, csv: String) {
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

/// Resident memory of a process, from /proc.
/// CPU time (user + system, seconds) the process `pid` has used, from `/proc/PID/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) closed by the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5): 12 and 13 after the name.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

pub(crate) fn rss_of(pid: u32) -> u64 {
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
pub(crate) fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// HTTP Basic credentials (base64 of user:password).
pub(crate) fn basic_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The rate steps of a rising run: `$var` (comma-separated, for a quick look such as
/// `DIALTONE_BENCH_STEPS=500,1000`) or the benchmark's own.
pub(crate) fn steps_from(var: &str, default: &[u32]) -> Vec<u32> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}
