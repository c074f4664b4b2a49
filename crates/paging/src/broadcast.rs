//! Recorded pages: a tone or an audio recording sent to one or more groups at once, started
//! by an administrator (`POST /api/v1/paging/broadcasts`) rather than by a caller: the bell,
//! the closing announcement. The phones are told as for a live page (`audience`), hear an
//! optional preamble (the go-ahead beeps), then the recording, and are told to leave when it
//! has played.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use dialtone_media::g711::Law;
use dialtone_media::source::{Clip, Sequence};
use dialtone_media::tone::Tone;
use dialtone_web::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audience::{self, Audience, Present, MAX_PAGE};
use crate::groups::Group;
use crate::page::NOBODY;
use crate::record::PageRecord;
use crate::Http;

/// The longest recording a broadcast plays, and the most times it may repeat.
pub const MAX_RECORDING: Duration = Duration::from_secs(600);
pub const MAX_REPEAT: u32 = 10;
/// Groups one broadcast may name.
pub const MAX_GROUPS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    /// The recipient groups, by name: a phone in several is paged once.
    pub groups: Vec<String>,
    /// A tone to send (its cadence once): one of the tone plan's names.
    pub tone: Option<String>,
    /// A WAV file (PCM or float, any rate; mixed to mono), base64.
    pub wav: Option<String>,
    /// Times the recording plays (1 to 10).
    #[serde(default = "one")]
    pub repeat: u32,
    /// Whether the go-ahead beeps play first, so people look up before the words.
    #[serde(default = "yes")]
    pub preamble: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, field, message)
}

/// What a broadcast plays: a tone by name, or a WAV file's bytes.
pub enum Recording<'a> {
    Tone(&'a str),
    Wav(Vec<u8>),
}

/// The recording a body names (`field` the name of its field, for errors), in µ-law, played
/// once per repeat; checked before anything is sent.
pub fn recording(what: Recording, field: &str) -> Result<(String, Clip), ApiError> {
    let (name, clip) = match what {
        Recording::Tone(name) => {
            let tone = Tone::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Tone::ALL.iter().map(|t| t.name()).collect();
                bad(
                    field,
                    format!("no tone named {name:?} (one of {})", names.join(", ")),
                )
            })?;
            (format!("tone:{}", tone.name()), tone.clip(Law::Mu))
        }
        Recording::Wav(bytes) => {
            let pcm = dialtone_media::wav::decode(&bytes).map_err(|e| bad(field, e.to_string()))?;
            (
                "recording".to_string(),
                Clip::from_pcm(&pcm, Law::Mu, false),
            )
        }
    };
    if clip.bytes.is_empty() {
        return Err(bad(field, "the recording is silent: no samples"));
    }
    if Duration::from_millis(clip.millis()) > MAX_RECORDING {
        return Err(bad(
            field,
            format!(
                "the recording lasts {} s; at most {} s",
                clip.millis() / 1000,
                MAX_RECORDING.as_secs()
            ),
        ));
    }
    // A repeating tone's clip is one cycle of its cadence: played once per repeat here.
    Ok((
        name,
        Clip {
            repeats: false,
            ..clip
        },
    ))
}

/// The recording a request body names.
fn body_recording(body: &BroadcastBody) -> Result<(String, Clip), ApiError> {
    match (&body.tone, &body.wav) {
        (Some(name), None) => recording(Recording::Tone(name), "tone"),
        (None, Some(wav)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(wav.trim())
                .map_err(|e| bad("wav", format!("not base64: {e}")))?;
            recording(Recording::Wav(bytes), "wav")
        }
        _ => Err(bad(
            "tone",
            "give exactly one of tone (a tone's name) and wav (a WAV file, base64)",
        )),
    }
}

/// `POST /api/v1/paging/broadcasts`: page the groups with a recording now. 202 with the
/// page's id once the phones are being told; its progress and record are in
/// `GET /api/v1/paging/pages`.
pub async fn post(
    State(http): State<Arc<Http>>,
    headers: HeaderMap,
    body: Result<Json<BroadcastBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = crate::administrator(&http.paging, &headers).await?;
    let body = body
        .map(|Json(b)| b)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if body.groups.is_empty() || body.groups.len() > MAX_GROUPS {
        return Err(bad(
            "groups",
            format!("name from 1 to {MAX_GROUPS} paging groups"),
        ));
    }
    if !(1..=MAX_REPEAT).contains(&body.repeat) {
        return Err(bad("repeat", format!("from 1 to {MAX_REPEAT}")));
    }
    let (id, count, seconds) = start(
        &http,
        &body.groups,
        || body_recording(&body),
        body.repeat,
        body.preamble,
        &caller,
    )?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "phones": count, "seconds": seconds })),
    ))
}

/// Page `group_names` with `recording` now (read once the groups are known to exist), on
/// behalf of `caller` (an administrator, or a schedule): the page's id, the phones being
/// told, and the seconds the recording plays.
pub fn start(
    http: &Http,
    group_names: &[String],
    recording: impl FnOnce() -> Result<(String, Clip), ApiError>,
    repeat: u32,
    preamble: bool,
    caller: &str,
) -> Result<(u64, usize, f64), ApiError> {
    let known = http.groups.get();
    let mut groups: Vec<Group> = Vec::new();
    for name in group_names {
        let g = known.iter().find(|g| g.name == *name).ok_or_else(|| {
            ApiError::field(
                StatusCode::NOT_FOUND,
                "groups",
                format!("no paging group named {name:?}"),
            )
        })?;
        if !groups.iter().any(|x| x.name == g.name) {
            groups.push(g.clone());
        }
    }
    let (name, clip) = recording()?;
    let session = http.session.detached();
    let (phones, skipped) = audience::choose(
        &http.paging,
        &session,
        &groups,
        &Present::now(&session, None),
    );
    if phones.is_empty() {
        return Err(ApiError::field(
            StatusCode::CONFLICT,
            "groups",
            format!(
                "{NOBODY}: {} of the groups' phones left out (not registered, busy or in Do Not Disturb)",
                skipped.len()
            ),
        ));
    }
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let mut record = PageRecord::new(&names, caller, None, &name);
    record.phones.extend(skipped);
    let id = record.id;
    let count = phones.len();
    let mut parts = Vec::new();
    if preamble {
        parts.push(Tone::GoAhead.clip(Law::Mu));
    }
    parts.extend((0..repeat).map(|_| clip.clone()));
    tokio::spawn(run(
        http.paging.clone(),
        session,
        groups,
        phones,
        record,
        parts,
    ));
    Ok((id, count, clip.millis() as f64 / 1000.0 * repeat as f64))
}

/// Tell the phones, play the parts in turn, tell them to leave.
async fn run(
    paging: Arc<crate::Paging>,
    session: dialtone_cti::CtiSession,
    groups: Vec<Group>,
    phones: Vec<String>,
    mut record: PageRecord,
    parts: Vec<Clip>,
) {
    let started = Instant::now();
    paging.records.begin(record.clone());
    let outcome: Result<(), String> = async {
        let from = record.calling.clone();
        let audience = Audience::gather(&paging, &session, &groups, phones, &from, &mut record)
            .await
            .map_err(|e| e.to_string())?;
        record.join_ms = Some(started.elapsed().as_millis() as u64);
        paging.records.update(record.clone());
        let mut stream = match audience.play(&paging, || Box::new(Sequence::new(parts.clone()))) {
            Ok(stream) => stream,
            Err(why) => {
                audience.dismiss(&paging, &mut record).await;
                return Err(why.to_string());
            }
        };
        // The parts are bounded (MAX_RECORDING × MAX_REPEAT); MAX_PAGE bounds the wait anyway.
        let sent = tokio::time::timeout(MAX_PAGE, stream.ended()).await;
        drop(stream);
        audience.dismiss(&paging, &mut record).await;
        match sent {
            Ok(Some(sent)) => record.packets_out = sent.packets,
            Ok(None) => return Err("the media sender stopped".into()),
            Err(_) => return Err("the recording outlasted the longest page".into()),
        }
        Ok(())
    }
    .await;
    if let Err(why) = outcome {
        tracing::info!(page = record.id, %why, "recorded page failed");
        record.failure = Some(why);
    }
    record.seconds = started.elapsed().as_secs_f64();
    paging.records.end(record);
}
