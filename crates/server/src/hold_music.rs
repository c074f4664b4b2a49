//! The node's music on hold: what call control plays to a held party. The audio is the
//! holder's line's source, else their device pool's (`moh-audio-sources`), else the node's
//! `phones.hold_music`: a WAV file (any common rate, converted once to 8 kHz), the melody
//! that ships with Dialtone, or silence (the hold then reaches the held phone as the holder
//! sent it). Each is encoded once per law and shared by every held call; every stream comes
//! from one paced sender and one socket. A source's file is read when it first plays (and
//! again when it changes); one the node cannot play is logged and the default plays.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use dialtone_callcontrol::calls::{Codec, HoldMusic, Holder};
use dialtone_media::g711::Law;
use dialtone_media::pacer::Pacer;
use dialtone_media::source::{Clip, Player};
use dialtone_store::directory::HoldAudio;

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

/// One source's audio in both laws, encoded once and shared by every call it plays to.
type Clips = Arc<[Clip; 2]>;

fn clips(pcm: &[i16]) -> Clips {
    Arc::new([
        Clip::from_pcm(pcm, Law::Mu, true),
        Clip::from_pcm(pcm, Law::A, true),
    ])
}

/// Files read for sources, at most this many kept (a store names few).
const FILES_KEPT: usize = 64;

/// A source file as last read: its modification time then, and its audio (None: it could
/// not be played, and the node's default plays instead until the file changes).
struct FileAudio {
    modified: Option<std::time::SystemTime>,
    clips: Option<Clips>,
}

pub struct NodeMusic {
    pacer: Arc<Pacer>,
    socket: Arc<UdpSocket>,
    address: SocketAddr,
    melody: Clips,
    /// `phones.hold_music`: what plays where no line or pool chooses; None for silence.
    default: Option<Clips>,
    files: Mutex<HashMap<String, FileAudio>>,
}

impl NodeMusic {
    /// Music from `ip` (the node's media address), `audio` where nothing else is chosen.
    pub fn start(pacer: Arc<Pacer>, ip: IpAddr, audio: Audio) -> std::io::Result<NodeMusic> {
        let socket = pacer.socket(SocketAddr::new(ip, 0), None)?;
        let address = socket.local_addr()?;
        let melody = clips(&dialtone_media::tone::melody(MELODY));
        let default = match audio {
            Audio::Melody => Some(melody.clone()),
            Audio::File(pcm) => Some(clips(&pcm)),
            Audio::Silence => None,
        };
        Ok(NodeMusic {
            pacer,
            socket,
            address,
            melody,
            default,
            files: Mutex::new(HashMap::new()),
        })
    }

    /// What plays for a call `holder` holds: their line's or pool's source, else the default.
    fn clips_for(&self, holder: &Holder) -> Option<Clips> {
        match &holder.audio {
            None => self.default.clone(),
            Some(HoldAudio::Melody) => Some(self.melody.clone()),
            Some(HoldAudio::Silence) => None,
            Some(HoldAudio::File(path)) => self.file(path).or_else(|| self.default.clone()),
        }
    }

    /// A source's file, read the first time it plays and again once it changes on disk.
    fn file(&self, path: &str) -> Option<Clips> {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut files = self.files.lock().unwrap();
        if let Some(f) = files.get(path).filter(|f| f.modified == modified) {
            return f.clips.clone();
        }
        let clips = match Audio::from_config(path) {
            Ok(Audio::File(pcm)) => Some(clips(&pcm)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "music on hold source not played; phones.hold_music plays");
                None
            }
        };
        if files.len() >= FILES_KEPT {
            files.clear();
        }
        files.insert(
            path.to_string(),
            FileAudio {
                modified,
                clips: clips.clone(),
            },
        );
        clips
    }
}

impl HoldMusic for NodeMusic {
    fn address(&self) -> SocketAddr {
        self.address
    }

    fn plays_for(&self, holder: &Holder) -> bool {
        self.clips_for(holder).is_some()
    }

    fn play(&self, holder: &Holder, to: SocketAddr, codec: Codec) -> Option<Box<dyn Send + Sync>> {
        let clips = self.clips_for(holder)?;
        let (law, clip) = match codec {
            Codec::Pcmu => (Law::Mu, &clips[0]),
            Codec::Pcma => (Law::A, &clips[1]),
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
