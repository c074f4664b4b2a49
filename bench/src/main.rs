//! Dialtone's benchmarks. Each prints a median over repeated rounds; where an anchor (Kamailio,
//! sipp) runs on this machine, it is measured in the same run and the ratio printed, since
//! these machines are shared and noisy.
#![forbid(unsafe_code)]

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
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dialtone.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ndata_dir = \"{}\"\n[listen]\nhttp_port = 0\nhttps_port = 0\n[admin]\ninitial_password = \"{PW}\"\n[log]\nlevel = \"warn\"\n",
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
    Node {
        child,
        https: format!("https://{https}"),
        _dir: dir,
    }
}

/// Requests per second from `workers` concurrent keep-alive clients, median of `rounds`.
async fn rate(
    workers: usize,
    rounds: usize,
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
    let seq = Arc::new(AtomicU64::new(0));
    let mut results = Vec::new();
    for _ in 0..rounds {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .iter()
            .cloned()
            .map(|c| {
                let (done, make, seq) = (done.clone(), make.clone(), seq.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        let r = make(&c, n).send().await.expect("request");
                        assert!(r.status().is_success(), "{}", r.status());
                        r.bytes().await.unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut binary = "target/release/dialtone".to_string();
    let mut filter = String::new();
    let mut i = 1;
    while i < args.len() {
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
    if "api".contains(&filter) || filter.is_empty() {
        rows.extend(api_rows(&binary));
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
