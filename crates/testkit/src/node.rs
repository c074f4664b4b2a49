//! A `dialtone serve` process on loopback: its configuration written to a directory with
//! every port 0, started (with the demo data or without), and its addresses read from the
//! one line it prints once it listens. Killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The first administrator's password in every node started here.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// How to start a node.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// `dialtone serve --demo`: the demo's devices, lines and users.
    pub demo: bool,
    /// Lines added to the `[listen]` table (fixed ports, another address).
    pub listen: &'a str,
    /// TOML appended to the configuration.
    pub extra: &'a str,
    /// `server.database`; empty: the embedded SQLite store in the directory.
    pub database: &'a str,
}

/// A running node and where it listens.
pub struct Node {
    pub child: Child,
    pub http: String,
    pub https: String,
    /// SIP over UDP, as host:port.
    pub sip_udp: String,
    /// SIP over TCP, as host:port.
    pub sip_tcp: String,
    /// Configuration files over HTTP (`http://...`) and TFTP (`ip:port`).
    pub config_http: String,
    pub tftp: String,
    pub dir: PathBuf,
    /// What the node prints after its listening line, line by line.
    pub output: mpsc::Receiver<String>,
}

/// Write the configuration of a node kept in `dir`; its path.
pub fn write_config(dir: &Path, options: &Options) -> PathBuf {
    let path = dir.join("dialtone.toml");
    // Every port ephemeral, but those `listen` sets itself.
    let ports: String = [
        "http_port",
        "https_port",
        "sip_udp_port",
        "sip_tcp_port",
        "sip_tls_port",
        "config_http_port",
        "tftp_port",
    ]
    .iter()
    .filter(|key| {
        !options
            .listen
            .lines()
            .any(|l| l.split('=').next().map(str::trim) == Some(**key))
    })
    .map(|key| format!("{key} = 0\n"))
    .collect();
    std::fs::write(
        &path,
        format!(
            "[server]\ndata_dir = \"{}\"\ndatabase = \"{}\"\n[listen]\n{ports}{}\
             [admin]\ninitial_password = \"{ADMIN_PASSWORD}\"\n[log]\nlevel = \"warn\"\n{}",
            dir.join("data").display(),
            options.database,
            options.listen,
            options.extra,
        ),
    )
    .expect("the node's directory is writable");
    path
}

impl Node {
    /// Start `binary` (the `dialtone` executable) on a configuration in `dir` and wait until
    /// it listens (30 s at most).
    pub fn launch(binary: &str, dir: &Path, options: &Options) -> Node {
        let config = write_config(dir, options);
        let mut cmd = Command::new(binary);
        cmd.arg("serve").arg("--config").arg(&config);
        if options.demo {
            cmd.arg("--demo");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dialtone");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Read everything it prints, so its stdout never blocks; the lines go to `output`.
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
        let at = |name: &str| {
            rest.split(' ')
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .unwrap_or_default()
                .to_string()
        };
        Node {
            http: format!("http://{}", at("http")),
            https: format!("https://{}", at("https")),
            sip_udp: at("sip_udp"),
            sip_tcp: at("sip_tcp"),
            config_http: format!("http://{}", at("config_http")),
            tftp: at("tftp"),
            child,
            dir: dir.to_path_buf(),
            output: rx,
        }
    }

    /// A URL of the administration API.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.https)
    }

    /// Everything printed since the last call (after the listening line).
    pub fn printed(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(l) = self.output.recv_timeout(Duration::from_millis(200)) {
            out.push(l);
        }
        out
    }

    /// What the demo's credentials file says of `who` (a user, or `application user NAME`):
    /// the words after the name (an end user's password, then its phone's SIP password).
    pub fn demo_credentials(&self, who: &str) -> Vec<String> {
        let creds = std::fs::read_to_string(self.dir.join("data/demo-credentials"))
            .expect("a demo node's credentials file");
        creds
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{who} ")))
            .unwrap_or_else(|| panic!("{who} in demo-credentials"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The last of `who`'s demo credentials: a phone's SIP digest password, or an application
    /// user's password.
    pub fn demo_password(&self, who: &str) -> String {
        self.demo_credentials(who)
            .pop()
            .unwrap_or_else(|| panic!("{who} has a password"))
    }

    /// SIGKILL: nothing is flushed or closed by the node itself.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill the node");
        self.child.wait().expect("reap the node");
    }

    /// SIGTERM, then its exit status (10 s at most).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        for _ in 0..200 {
            if let Some(st) = self.child.try_wait().expect("the node's status") {
                return st;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("dialtone did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
