//! The command line's clients: import and export CSV through the store, and the commands
//! that talk to a running node over its HTTPS API (`status`, `dna`, `cti watch`, `push`,
//! `em`). None of them runs a node; `node.rs` does that.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dialtone_store::catalogue;
use serde_json::json;

use crate::config::Config;
use crate::node::{init_logging, open_store};

pub async fn import(config: Config, kind: String, file: PathBuf) -> Result<()> {
    init_logging(&config);
    let res = dialtone_store::bulk::kind(&kind).with_context(|| {
        let kinds: Vec<&str> = catalogue::RESOURCES.iter().map(|r| r.name).collect();
        format!("unknown kind '{kind}'; one of: {}", kinds.join(", "))
    })?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let store = open_store(&config).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("importing {kind}"));
    let result = store
        .import_csv(res, &text, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await;
    bar.finish_and_clear();
    store.close().await;
    match result {
        Ok(n) => {
            println!("imported {n} {kind} from {}", file.display());
            Ok(())
        }
        Err(dialtone_store::bulk::ImportError::Rows(errors)) => {
            for e in &errors {
                eprintln!("{}: {e}", file.display());
            }
            bail!("{} row error(s); nothing was imported", errors.len())
        }
        Err(dialtone_store::bulk::ImportError::Store(e)) => Err(e.into()),
    }
}

pub async fn export(config: Config, kind: String, output: Option<PathBuf>) -> Result<()> {
    init_logging(&config);
    let Some(res) = dialtone_store::bulk::kind(&kind) else {
        bail!("unknown kind '{kind}'");
    };
    let store = open_store(&config).await?;
    let csv = store.export_csv(res).await?;
    store.close().await;
    match output {
        Some(p) => std::fs::write(&p, csv).with_context(|| format!("writing {}", p.display()))?,
        None => {
            use std::io::Write;
            // `dialtone export users | head` closes the pipe early; that is not an error.
            let _ = std::io::stdout().lock().write_all(csv.as_bytes());
        }
    }
    Ok(())
}

pub async fn dna(
    config: Config,
    question: dialtone_admin::dna::Question,
    as_json: bool,
) -> Result<()> {
    init_logging(&config);
    let store = open_store(&config).await?;
    let answer = dialtone_admin::dna::analyse(&store, &question)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    store.close().await;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    say!("{}", describe_result(&answer["result"]));
    for (i, step) in answer["explanation"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        say!(
            "\nstep {}: {} searched in {}",
            i + 1,
            step["dialled"].as_str().unwrap_or(""),
            step["partitions_searched"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
        for note in step["notes"].as_array().into_iter().flatten() {
            say!("  note: {}", note.as_str().unwrap_or(""));
        }
        for m in step["matched"].as_array().into_iter().flatten() {
            say!(
                "  matches: {} in {} ({}, {} numbers of this length{})",
                m["pattern"].as_str().unwrap_or(""),
                m["partition"].as_str().unwrap_or("<None>"),
                m["kind"].as_str().unwrap_or(""),
                m["matches_at_length"].as_str().unwrap_or(""),
                if m["urgent"].as_bool() == Some(true) {
                    ", urgent"
                } else {
                    ""
                }
            );
        }
        if step["more_digits_possible"].as_bool() == Some(true) {
            say!("  longer numbers could also match");
        }
        if let Some(c) = step["chosen"]["pattern"].as_str() {
            say!("  chosen: {c}: {}", step["reason"].as_str().unwrap_or(""));
        } else {
            say!("  {}", step["reason"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

fn describe_result(r: &serde_json::Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
    match r["outcome"].as_str().unwrap_or("") {
        "route" => {
            let target = &r["target"];
            let to = match target["type"].as_str().unwrap_or("") {
                "line" => format!("line {}", target["number"].as_str().unwrap_or("")),
                "route_point" => format!("route point {}", target["number"].as_str().unwrap_or("")),
                _ => {
                    let trunks: Vec<String> = target["trunks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|t| t["trunk"].as_str().unwrap_or("").to_string())
                        .collect();
                    format!(
                        "trunks {}",
                        if trunks.is_empty() {
                            "(none available)".into()
                        } else {
                            trunks.join(" then ")
                        }
                    )
                }
            };
            format!(
                "ROUTE to {to}: called {}, calling {}, by {} in {}",
                s("called"),
                s("calling"),
                s("pattern"),
                r["partition"].as_str().unwrap_or("<None>")
            )
        }
        "more_digits" => "MORE DIGITS: longer patterns could still match".into(),
        "incomplete" => "INCOMPLETE (SIP 484): only longer patterns match".into(),
        "no_match" => "NO MATCH (SIP 404)".into(),
        "blocked" => format!("BLOCKED (SIP 403) by {}", s("pattern")),
        "code_required" => format!("CODE REQUIRED: {} for {}", s("code"), s("pattern")),
        "code_rejected" => format!("CODE REJECTED: {} for {}", s("code"), s("pattern")),
        "translation_loop" => format!("TRANSLATION LOOP at {}", s("pattern")),
        other => other.to_string(),
    }
}

/// `dialtone status`: ask a running node (over its HTTPS API) what it is doing.
/// The API base URL the command line talks to (`url`, or the configuration's HTTPS port) and
/// a client for it; the node's certificate is usually its own self-signed one.
fn api_client(
    config: &Config,
    url: Option<String>,
    timeout: Option<Duration>,
) -> Result<(String, reqwest::Client)> {
    let base = url.unwrap_or_else(|| {
        format!(
            "https://{}:{}/api/v1",
            config.server.public_host, config.listen.https_port
        )
    });
    let mut client = reqwest::Client::builder().danger_accept_invalid_certs(true);
    if let Some(t) = timeout {
        client = client.timeout(t);
    }
    Ok((base, client.build()?))
}

/// `dialtone cti watch`: the CTI event stream of some lines, one JSON object a line, until
/// interrupted or the node goes away.
pub async fn cti_watch(
    config: Config,
    url: Option<String>,
    user: String,
    password: String,
    lines: Vec<String>,
    devices: Vec<String>,
) -> Result<()> {
    let (base, client) = api_client(&config, url, None)?;
    let mut r = client
        .get(format!("{base}/cti/events"))
        .query(&[("lines", lines.join(",")), ("devices", devices.join(","))])
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .with_context(|| format!("reaching {base}"))?;
    if !r.status().is_success() {
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        anyhow::bail!("{status}: {}", body["error"].as_str().unwrap_or(""));
    }
    let mut pending = String::new();
    while let Some(chunk) = r.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let frame: String = pending.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    say!("{}", data.trim_start());
                }
            }
        }
    }
    Ok(())
}

/// Send a CLI request to the node's API: its JSON answer, or the error the node gave.
async fn answer(request: reqwest::RequestBuilder, base: &str) -> Result<serde_json::Value> {
    let r = request
        .send()
        .await
        .with_context(|| format!("reaching {base}"))?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.context("reading the node's answer")?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("refused"));
    }
    Ok(body)
}

/// `dialtone push`: send a CiscoIPPhone object to phones through the node, one line a phone.
/// Fails when any phone did not carry it out.
pub async fn push(
    config: Config,
    url: Option<String>,
    user: String,
    password: String,
    devices: Vec<String>,
    file: PathBuf,
) -> Result<()> {
    let xml =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let (base, client) = api_client(&config, url, Some(Duration::from_secs(120)))?;
    let body = answer(
        client
            .post(format!("{base}/push"))
            .basic_auth(&user, Some(&password))
            .json(&json!({"xml": xml, "devices": devices})),
        &base,
    )
    .await?;
    let empty = Vec::new();
    let results = body["results"].as_array().unwrap_or(&empty);
    for r in results {
        say!(
            "{:<16} {:<14} {}",
            r["device"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["message"].as_str().unwrap_or("")
        );
    }
    let failed = body["failed"].as_u64().unwrap_or(0);
    if failed > 0 {
        bail!(
            "{failed} of {} phone(s) did not carry it out",
            results.len()
        );
    }
    Ok(())
}

pub enum EmRequest {
    List,
    Login {
        device: String,
        user: String,
        profile: Option<String>,
    },
    Logout {
        device: String,
    },
}

fn when(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) => {
            let secs = ms / 1000;
            let now = dialtone_store::now_ms() / 1000;
            let ago = now - secs;
            if ago >= 0 {
                format!("{}m{}s ago", ago / 60, ago % 60)
            } else {
                format!("in {}m{}s", -ago / 60, -ago % 60)
            }
        }
    }
}

/// `dialtone em`: Extension Mobility through the node's API.
pub async fn em(
    config: Config,
    url: Option<String>,
    password: String,
    request: EmRequest,
) -> Result<()> {
    let (base, client) = api_client(&config, url, Some(Duration::from_secs(30)))?;
    let user = &config.admin.user_id;
    let call = match &request {
        EmRequest::List => client.get(format!("{base}/em/logins")),
        EmRequest::Login {
            device,
            user,
            profile,
        } => client
            .post(format!("{base}/em/login"))
            .json(&json!({"device": device, "user": user, "profile": profile})),
        EmRequest::Logout { device } => client
            .post(format!("{base}/em/logout"))
            .json(&json!({"device": device})),
    };
    let body = answer(call.basic_auth(user, Some(&password)), &base).await?;
    let line = |l: &serde_json::Value| {
        format!(
            "{:<16} {:<12} {:<16} since {:<12} until {}",
            l["device"].as_str().unwrap_or(""),
            l["user"].as_str().unwrap_or(""),
            l["profile"].as_str().unwrap_or(""),
            when(l["login_at_ms"].as_i64()),
            when(l["expires_at_ms"].as_i64())
        )
    };
    match request {
        EmRequest::List => {
            let empty = Vec::new();
            for l in body["items"].as_array().unwrap_or(&empty) {
                say!("{}", line(l));
            }
        }
        EmRequest::Login { .. } => say!("logged in: {}", line(&body)),
        EmRequest::Logout { .. } => say!("logged out: {}", line(&body)),
    }
    Ok(())
}

pub async fn status(config: Config, url: Option<String>, password: String) -> Result<()> {
    let (base, client) = api_client(&config, url, Some(Duration::from_secs(10)))?;
    let get = |path: &'static str| {
        let req = client
            .get(format!("{base}{path}"))
            .basic_auth(&config.admin.user_id, Some(&password));
        let base = base.clone();
        async move {
            let r = req
                .send()
                .await
                .with_context(|| format!("reaching {base}"))?;
            if !r.status().is_success() {
                anyhow::bail!("{path}: {}", r.status());
            }
            Ok::<serde_json::Value, anyhow::Error>(r.json().await?)
        }
    };
    let registrations = get("/registrations").await?;
    let calls = get("/calls").await?;
    let empty = Vec::new();
    let regs = registrations["items"].as_array().unwrap_or(&empty);
    let mut devices: Vec<&str> = regs.iter().filter_map(|b| b["device"].as_str()).collect();
    devices.sort_unstable();
    devices.dedup();
    let calls = calls["items"].as_array().unwrap_or(&empty);
    let count = |state: &str| calls.iter().filter(|c| c["state"] == state).count();
    say!("node       {base}");
    say!(
        "registered {} contacts of {} devices",
        regs.len(),
        devices.len()
    );
    say!(
        "calls      {} (ringing {}, connected {}, held {})",
        calls.len(),
        count("ringing"),
        count("connected"),
        count("held")
    );
    for c in calls {
        say!(
            "  #{:<6} {:<10} {} -> {}  {}s",
            c["id"],
            c["state"].as_str().unwrap_or(""),
            c["calling"].as_str().unwrap_or(""),
            c["called"].as_str().unwrap_or(""),
            c["seconds"]
        );
    }
    Ok(())
}
