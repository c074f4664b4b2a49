//! The node's music on hold: what call control plays to a held party. The audio is the
//! node's `phones.hold_music`: a WAV file (any common rate, converted once to 8 kHz), the
//! melody that ships with Dialtone, or silence (the hold then reaches the held phone as the
//! holder sent it). It is encoded once per law and shared by every held call; every stream
//! comes from one paced sender and one socket.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use dialtone_callcontrol::calls::{Codec, HoldMusic, Holder};
use dialtone_media::g711::Law;
use dialtone_media::pacer::{Config as PacerConfig, Pacer};
use dialtone_media::source::{Clip, Player};

/// The melody that ships with Dialtone (our own: a slow rising and falling line in C major).
const MELODY: &[(f64, u32)] = &[
    (523.25, 600),
    (659.25, 600),
    (783.99, 600),
    (659.25, 600),
    (698.46, 600),
    (880.00, 600),
    (783.99, 900),
    (0.0, 300),
    (587.33, 600),
    (698.46, 600),
    (659.25, 600),
    (523.25, 900),
    (0.0, 600),
];

/// What `phones.hold_music` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Audio {
    Melody,
    Silence,
    /// A WAV file's samples, 8 kHz.
    File(Vec<i16>),
}

impl Audio {
    /// Read `phones.hold_music`: `melody`, `silence`, or a WAV file's path (read now, so a
    /// file that is not audio stops start-up).
    pub fn from_config(value: &str) -> anyhow::Result<Audio> {
        match value {
            "melody" => Ok(Audio::Melody),
            "silence" => Ok(Audio::Silence),
            path => {
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {path:?}: {e}"))?;
                let pcm = dialtone_media::wav::decode(&bytes)
                    .map_err(|e| anyhow::anyhow!("{path:?} is not a WAV file we can play: {e}"))?;
                if pcm.is_empty() {
                    anyhow::bail!("{path:?} holds no audio");
                }
                Ok(Audio::File(pcm))
            }
        }
    }
}

pub struct NodeMusic {
    pacer: Pacer,
    socket: Arc<UdpSocket>,
    address: SocketAddr,
    /// µ-law and A-law renderings; None for silence.
    clips: Option<[Clip; 2]>,
}

impl NodeMusic {
    /// Music from `ip` (the node's media address).
    pub fn start(ip: IpAddr, audio: Audio) -> std::io::Result<NodeMusic> {
        let pacer = Pacer::start(PacerConfig::default());
        let socket = pacer.socket(SocketAddr::new(ip, 0), None)?;
        let address = socket.local_addr()?;
        let pcm = match audio {
            Audio::Melody => Some(dialtone_media::tone::melody(MELODY)),
            Audio::File(pcm) => Some(pcm),
            Audio::Silence => None,
        };
        let clips = pcm.map(|pcm| {
            [
                Clip::from_pcm(&pcm, Law::Mu, true),
                Clip::from_pcm(&pcm, Law::A, true),
            ]
        });
        Ok(NodeMusic {
            pacer,
            socket,
            address,
            clips,
        })
    }
}

impl HoldMusic for NodeMusic {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn plays_for(&self, _holder: &Holder) -> bool {
        self.clips.is_some()
    }

    fn play(&self, _holder: &Holder, to: SocketAddr, codec: Codec) -> Option<Box<dyn Send + Sync>> {
        let [ulaw, alaw] = self.clips.as_ref()?;
        let (law, clip) = match codec {
            Codec::Pcmu => (Law::Mu, ulaw),
            Codec::Pcma => (Law::A, alaw),
        };
        match self.pacer.play(
            self.socket.clone(),
            to,
            law,
            Box::new(Player::new(clip.clone())),
        ) {
            Ok(playing) => Some(Box::new(playing)),
            Err(e) => {
                tracing::warn!(error = %e, "music on hold not played");
                None
            }
        }
    }
}
