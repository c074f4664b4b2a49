//! A real `dialtone serve` process on loopback with ephemeral ports, for the tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "test-admin-password";

pub struct Node {
    pub child: Child,
    pub http: String,
    pub https: String,
    /// SIP over UDP, as host:port.
    pub sip_udp: String,
    pub dir: PathBuf,
    pub output: mpsc::Receiver<String>,
}

pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("dialtone.toml");
    let db = std::env::var("DIALTONE_TEST_DATABASE").unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{}\"\ndatabase = \"{db}\"\n[listen]\nhttp_port = 0\nhttps_port = 0\nsip_udp_port = 0\nsip_tcp_port = 0\nsip_tls_port = 0\n\
             [admin]\ninitial_password = \"{ADMIN_PASSWORD}\"\n[log]\nlevel = \"warn\"\n{extra}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dialtone")
}

impl Node {
    /// Start a node in `dir` (config written there) and wait until it listens.
    pub fn start(dir: &Path, extra_config: &str, demo: bool) -> Node {
        let config = write_config(dir, extra_config);
        let mut cmd = Command::new(binary());
        cmd.arg("serve").arg("--config").arg(&config);
        if demo {
            cmd.arg("--demo");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dialtone");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("dialtone printed its listening line");
        let rest = first
            .strip_prefix("dialtone: listening ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let mut http = String::new();
        let mut https = String::new();
        let mut sip_udp = String::new();
        for part in rest.split(' ') {
            if let Some(a) = part.strip_prefix("http=") {
                http = format!("http://{a}");
            } else if let Some(a) = part.strip_prefix("https=") {
                https = format!("https://{a}");
            } else if let Some(a) = part.strip_prefix("sip_udp=") {
                sip_udp = a.to_string();
            }
        }
        Node {
            child,
            http,
            https,
            sip_udp,
            dir: dir.to_path_buf(),
            output: rx,
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.https)
    }

    /// Everything printed so far (after the listening line).
    pub fn printed(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(l) = self.output.recv_timeout(Duration::from_millis(200)) {
            out.push(l);
        }
        out
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        for _ in 0..200 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().unwrap();
        panic!("dialtone did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
