//! `phonesim`: run one simulated Cisco phone or a fleet, each on its own loopback address,
//! print what happens to them, and drive them from standard input.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use dialtone_phone_xml::Object;
use dialtone_phonesim::{Phone, Spec};
use dialtone_sip::endpoint::Transport;
use tokio::io::AsyncBufReadExt;

#[derive(Parser)]
#[command(
    name = "phonesim",
    version,
    about = "Simulated Cisco enterprise SIP phones for Dialtone (and Unified CM)",
    after_help = "Commands on standard input (to the first phone, or prefix with a device name):\n  \
        services | directories | select N | submit KEY=VALUE... | softkey NAME | back | screen\n  \
        dial NUMBER | answer | key DIGITS | hold | resume | hangup | calls | config | quit"
)]
struct Cli {
    /// Where configuration files come from: http://HOST:6970 or tftp://HOST:69.
    #[arg(long, default_value = "http://127.0.0.1:6970")]
    config_url: String,
    /// One phone: its device name (SEP + MAC).
    #[arg(long)]
    device: Option<String>,
    /// That phone's SIP digest password (or PHONESIM_PASSWORD).
    #[arg(long, env = "PHONESIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A fleet: Dialtone's demo credentials file (a device and its digest password a line).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// How many phones of the credentials file to run (all by default).
    #[arg(long)]
    count: Option<usize>,
    /// The first phone's address; the next ones count up (127.0.0.10, 127.0.0.11, ...).
    #[arg(long, default_value = "127.0.0.10")]
    first_ip: Ipv4Addr,
    /// The phones' web server port (/CGI/Execute); Dialtone's phones.web_port must match.
    #[arg(long, default_value = "8008")]
    web_port: u16,
    /// SIP transport: tcp (as Cisco phones) or udp.
    #[arg(long, default_value = "tcp")]
    transport: String,
    /// Send SIP here instead of the configuration file's call manager.
    #[arg(long)]
    sip_server: Option<SocketAddr>,
    /// Model the phones report.
    #[arg(long, default_value = "CP-8865")]
    model: String,
    /// Answer every call by itself.
    #[arg(long)]
    answer_all: bool,
    /// Register the device once instead of each line.
    #[arg(long)]
    device_level: bool,
}

/// (device, password) pairs from a demo credentials file.
fn read_credentials(path: &PathBuf) -> Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6 && f[3].starts_with("SEP") {
            out.push((f[3].to_owned(), f[5].to_owned()));
        }
    }
    if out.is_empty() {
        bail!("{}: no phones in it", path.display());
    }
    Ok(out)
}

fn render(o: &Object) -> String {
    let mut out = String::new();
    if let Some(s) = o.screen() {
        out.push_str(&format!(
            "[{}] {}\n",
            s.title.clone().unwrap_or_default(),
            s.prompt.clone().unwrap_or_default()
        ));
    }
    match o {
        Object::Menu { items, .. } => {
            for (i, it) in items.iter().enumerate() {
                out.push_str(&format!("  {i}. {}\n", it.name));
            }
        }
        Object::Directory { entries, .. } => {
            for (i, e) in entries.iter().enumerate() {
                out.push_str(&format!("  {i}. {:<32} {}\n", e.name, e.telephone));
            }
        }
        Object::Input { items, .. } => {
            for it in items {
                out.push_str(&format!(
                    "  {} ({}=)\n",
                    it.display_name, it.query_string_param
                ));
            }
        }
        Object::Text { text, .. } => out.push_str(&format!("  {text}\n")),
        other => out.push_str(&format!("  <{}>\n", other.root_name())),
    }
    if let Some(s) = o.screen() {
        let keys: Vec<&str> = s.softkeys.iter().map(|k| k.name.as_str()).collect();
        out.push_str(&format!("  softkeys: {}\n", keys.join(" | ")));
    }
    out
}

async fn command(phone: &Phone, words: &[&str]) -> Result<String> {
    let show = |o: Object| render(&o);
    Ok(match words {
        ["services"] => show(phone.press_services().await?),
        ["directories"] => show(phone.press_directories().await?),
        ["select", n] => show(phone.select(n.parse()?).await?),
        ["submit", kv @ ..] => {
            let pairs: Vec<(&str, &str)> = kv.iter().filter_map(|p| p.split_once('=')).collect();
            show(phone.submit(&pairs).await?)
        }
        ["softkey", name] => phone
            .softkey(name)
            .await?
            .map(show)
            .unwrap_or_else(|| "(idle)\n".into()),
        ["back"] => phone.back().map(show).unwrap_or_else(|| "(idle)\n".into()),
        ["screen"] => phone
            .screen()
            .map(show)
            .unwrap_or_else(|| "(idle)\n".into()),
        ["dial", n] => format!("connected: {}\n", phone.dial(n).await?),
        ["dial-entry", n] => format!("connected: {}\n", phone.dial_entry(n.parse()?).await?),
        ["answer"] => {
            let ringing = phone
                .calls()
                .into_iter()
                .find(|c| c.state == dialtone_phonesim::CallState::Ringing)
                .ok_or_else(|| anyhow!("nothing is ringing"))?;
            phone.answer(&ringing.call_id).await?;
            format!("answered {}\n", ringing.call_id)
        }
        ["key", digits] => {
            let call = phone
                .calls()
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no call"))?;
            phone.key(&call.call_id, digits)?;
            format!("keyed {digits} (RFC 4733)\n")
        }
        [verb @ ("hold" | "resume")] => {
            let call = phone
                .calls()
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no call"))?;
            phone.hold(&call.call_id, *verb == "hold").await?;
            format!("{verb} {}\n", call.call_id)
        }
        ["hangup"] => {
            let call = phone
                .calls()
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no call"))?;
            phone.hangup(&call.call_id).await?;
            format!("hung up {}\n", call.call_id)
        }
        ["calls"] => phone
            .calls()
            .iter()
            .map(|c| {
                format!(
                    "  {} {:?} {} rtp sent {} received {}, hearing {} Hz\n",
                    c.call_id, c.state, c.remote, c.rtp_sent, c.rtp_received, c.heard.strongest_hz
                )
            })
            .collect(),
        ["config"] => format!("{:#?}\n", phone.config()),
        _ => bail!("unknown command (see phonesim --help)"),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let transport = match cli.transport.as_str() {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        other => bail!("--transport: tcp or udp, not {other}"),
    };
    let mut fleet: Vec<(String, String)> = match (&cli.credentials, &cli.device) {
        (Some(path), None) => read_credentials(path)?,
        (None, Some(device)) => vec![(
            device.clone(),
            cli.password.clone().ok_or_else(|| {
                anyhow!("--password (or PHONESIM_PASSWORD) is needed with --device")
            })?,
        )],
        _ => bail!("give --device (with --password) or --credentials"),
    };
    if let Some(n) = cli.count {
        if n > fleet.len() {
            bail!(
                "--count {n}: the credentials file has {} phones",
                fleet.len()
            );
        }
        fleet.truncate(n);
    }
    let base = u32::from(cli.first_ip);
    let mut phones = Vec::new();
    for (i, (device, password)) in fleet.into_iter().enumerate() {
        let ip = IpAddr::V4(Ipv4Addr::from(base + i as u32));
        let mut spec = Spec::new(&device, &password, ip, &cli.config_url);
        spec.web_port = cli.web_port;
        spec.transport = transport;
        spec.sip_server = cli.sip_server;
        spec.model = cli.model.clone();
        spec.answer_all = cli.answer_all;
        spec.device_level = cli.device_level;
        let phone = Phone::start(spec)
            .await
            .with_context(|| format!("starting {device} on {ip}"))?;
        let mut events = phone.events();
        let name = device.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                println!("{name} {e:?}");
            }
        });
        println!(
            "{device} on {ip}: registered (web http://{ip}:{}/CGI/Execute)",
            cli.web_port
        );
        phones.push(phone);
    }
    println!(
        "{} phone(s) running; type commands (see --help), quit to stop.",
        phones.len()
    );
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let mut words: Vec<&str> = line.split_whitespace().collect();
                if words.is_empty() { continue; }
                if words == ["quit"] { break; }
                let target = match phones.iter().find(|p| p.device() == words[0]) {
                    Some(p) => { words.remove(0); p }
                    None => &phones[0],
                };
                match command(target, &words).await {
                    Ok(out) => print!("{out}"),
                    Err(e) => println!("error: {e:#}"),
                }
                let _ = std::io::stdout().flush();
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for p in &phones {
        tokio::time::timeout(Duration::from_secs(2), p.stop())
            .await
            .ok();
    }
    Ok(())
}
