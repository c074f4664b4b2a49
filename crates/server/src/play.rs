//! `dialtone play`: a tone or an audio file sent as G.711 RTP to an address, unicast or
//! multicast, from the same paced sender the node's media uses. What an administrator runs
//! to learn whether phones (or a multicast network) can hear a stream from this host before
//! paging through it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dialtone_media::g711::Law;
use dialtone_media::pacer::{Config, Multicast, Pacer};
use dialtone_media::source::{Clip, Player};
use dialtone_media::tone::Tone;

/// What to play, to where, and how (the command line's arguments).
#[derive(clap::Args)]
pub struct Request {
    /// Where to send: IP:PORT.
    pub to: SocketAddr,
    /// A tone: dial, ringback, busy, reorder, stall or go-ahead.
    #[arg(long)]
    pub tone: Option<String>,
    /// A WAV file (PCM or float, any rate), converted once to 8 kHz G.711.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// How long to send at most (a repeating tone sends until then).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// mu (PCMU, what Cisco phones take for pages) or a (PCMA).
    #[arg(long, default_value = "mu")]
    pub law: String,
    /// Multicast: router hops the packets may cross (1: this subnet).
    #[arg(long, default_value_t = 1)]
    pub ttl: u32,
    /// Multicast: the address of the interface to send on.
    #[arg(long)]
    pub interface: Option<Ipv4Addr>,
}

/// The clip a request names: checked before anything is sent.
fn clip(r: &Request, law: Law) -> Result<Clip> {
    match (&r.tone, &r.file) {
        (Some(name), None) => {
            let tone = Tone::from_name(name).with_context(|| {
                let names: Vec<&str> = Tone::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "--tone: no tone named {name:?} (one of {})",
                    names.join(", ")
                )
            })?;
            Ok(tone.clip(law))
        }
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("--file {}", path.display()))?;
            let pcm = dialtone_media::wav::decode(&bytes)
                .with_context(|| format!("--file {}", path.display()))?;
            Ok(Clip::from_pcm(&pcm, law, false))
        }
        (None, None) => bail!("say what to play: --tone NAME or --file AUDIO.wav"),
        (Some(_), Some(_)) => bail!("--tone and --file: play one of them"),
    }
}

pub async fn play(r: Request) -> Result<()> {
    let law = match r.law.as_str() {
        "mu" | "ulaw" | "pcmu" => Law::Mu,
        "a" | "alaw" | "pcma" => Law::A,
        other => bail!("--law: {other:?} is neither mu (PCMU) nor a (PCMA)"),
    };
    if !(r.seconds > 0.0 && r.seconds <= 3600.0) {
        bail!("--seconds: {} is not between 0 and 3600", r.seconds);
    }
    let clip = clip(&r, law)?;
    let multicast = match r.to.ip() {
        IpAddr::V4(a) if a.is_multicast() => Some(Multicast {
            ttl: r.ttl,
            interface: r.interface.unwrap_or(Ipv4Addr::UNSPECIFIED),
            loopback: true,
        }),
        IpAddr::V6(a) if a.is_multicast() => bail!("{}: IPv6 multicast is not supported", r.to),
        _ => None,
    };
    let local: SocketAddr = match r.to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let pacer = Pacer::start(Config::default());
    let socket = pacer
        .socket(local, multicast)
        .with_context(|| format!("a socket to send to {}", r.to))?;
    let mut playing = pacer.play(socket, r.to, law, Box::new(Player::new(clip)))?;
    let ended = tokio::time::timeout(Duration::from_secs_f64(r.seconds), playing.ended()).await;
    let sent = match ended {
        Ok(sent) => sent,
        Err(_) => {
            playing.stop();
            playing.ended().await
        }
    }
    .context("the media sender stopped")?;
    say!(
        "sent {} packets ({} bytes of {}) to {}{}, SSRC {:08x}",
        sent.packets,
        sent.octets,
        law.encoding_name(),
        r.to,
        if multicast.is_some() {
            " (multicast)"
        } else {
            ""
        },
        playing.ssrc
    );
    if sent.dropped > 0 {
        say!("{} packets the socket did not take", sent.dropped);
    }
    Ok(())
}
