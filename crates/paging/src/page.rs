//! One page, as the seed's flow runs it: answer the DialCast call, play the low stall tone,
//! tell every phone of the group to join a multicast group (at once, in parallel), play the
//! high go-ahead tone once all have joined or the group's deadline has passed (the stragglers
//! reported), relay the caller's voice as multicast G.711 µ-law, and tell every phone that
//! joined to leave when the caller hangs up. Everything a page holds (its address, its minted
//! credentials, its streams) is let go when it ends, however it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone_cti::{Audio, Codec, CtiSession, ServedMedia};
use dialtone_media::g711::Law;
use dialtone_media::jitter;
use dialtone_media::pacer::media_socket;
use dialtone_media::relay::{relay, switched};
use dialtone_media::rtp::Packet;
use dialtone_media::source::Player;
use dialtone_media::tone::Tone;

use crate::audience::{self, Audience, Present, MAX_PAGE};
use crate::groups::Group;
use crate::record::PageRecord;
use crate::Paging;

/// How long a caller whose page reaches nobody hears reorder before being hung up.
const NOBODY_REORDER: Duration = Duration::from_secs(3);
/// The failure recorded when no phone of the group could be paged.
pub const NOBODY: &str = "no phone of the group could be paged now";
/// How long a caller who offered no SDP has to answer ours (in the ACK).
const ANSWER_WAIT: Duration = Duration::from_secs(5);

/// What a page's caller is told it must speak: G.711, transcoded to µ-law for the phones.
const ACCEPT: &[Codec] = &[Codec::Pcmu, Codec::Pcma];

fn law_of(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Mu,
        Codec::Pcma => Law::A,
    }
}

/// Run one page to its end.
pub async fn run(
    paging: Arc<Paging>,
    session: CtiSession,
    call: u64,
    request: u64,
    calling: String,
    group: Group,
) {
    let started = Instant::now();
    let mut record = PageRecord::new(&[group.name.as_str()], &calling, Some(call), "caller");
    paging.records.begin(record.clone());
    let outcome = page(
        &paging,
        &session,
        call,
        request,
        &group,
        &mut record,
        started,
    )
    .await;
    if let Err(why) = outcome {
        tracing::info!(call, group = %group.name, %why, "page failed");
        record.failure = Some(why);
    }
    record.seconds = started.elapsed().as_secs_f64();
    paging.records.end(record);
}

async fn page(
    paging: &Arc<Paging>,
    session: &CtiSession,
    call: u64,
    request: u64,
    group: &Group,
    record: &mut PageRecord,
    started: Instant,
) -> Result<(), String> {
    // The caller's side: one socket receives their voice and sends them the tones.
    let local = SocketAddr::new(paging.media_ip, 0);
    let socket = media_socket(local, None).map_err(|e| format!("media socket: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let receiver = tokio::net::UdpSocket::from_std(
        socket
            .try_clone()
            .map_err(|e| format!("media socket: {e}"))?,
    )
    .map_err(|e| format!("media socket: {e}"))?;
    let socket = Arc::new(socket);
    let mut served = session
        .serve(
            call,
            request,
            ServedMedia {
                local,
                accept: ACCEPT.to_vec(),
            },
        )
        .await
        .map_err(|e| format!("the caller's call could not be answered: {e}"))?;
    let answered = tokio::time::timeout(ANSWER_WAIT, async {
        served
            .audio
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|a| a.clone())
    })
    .await;
    let audio: Audio = match answered {
        Ok(Some(a)) => a,
        _ => {
            let _ = session
                .command(call, None, dialtone_cti::Command::Drop)
                .await;
            return Err("the caller answered no SDP we could use".into());
        }
    };
    record.codec = Some(audio.codec.encoding());
    // The low stall tone while the phones are told.
    let (to_caller, caller_source) = switched();
    to_caller.play(Box::new(Player::new(Tone::Stall.clip(law_of(audio.codec)))));
    let _caller_stream = paging
        .pacer
        .play(
            socket.clone(),
            audio.remote,
            law_of(audio.codec),
            Box::new(caller_source),
        )
        .map_err(|e| e.to_string())?;

    let present = Present::now(session, Some(call));
    let groups = std::slice::from_ref(group);
    let (members, skipped) = audience::choose(paging, session, groups, &present);
    record.phones.extend(skipped);
    if members.is_empty() {
        // Nobody to page: the caller hears reorder (the page cannot go through), then is
        // hung up, rather than speaking to nobody.
        to_caller.play(Box::new(Player::new(
            Tone::Reorder.clip(law_of(audio.codec)),
        )));
        tokio::time::sleep(NOBODY_REORDER).await;
        let _ = session
            .command(call, None, dialtone_cti::Command::Drop)
            .await;
        return Err(NOBODY.into());
    }
    let audience = Audience::gather(
        paging,
        session,
        groups,
        members,
        &group.dialcast_number,
        record,
    )
    .await
    .map_err(|e| e.to_string())?;
    record.join_ms = Some(started.elapsed().as_millis() as u64);
    paging.records.update(record.clone());

    // The high go-ahead tone, and the caller's voice to the group from now on.
    to_caller.play(Box::new(Player::new(
        Tone::GoAhead.clip(law_of(audio.codec)),
    )));
    // One relay per stream (the multicast address, each called phone), each fed what comes.
    let mut feeders = Vec::new();
    let group_stream = match audience.play(paging, || {
        let (feeder, fed) = relay(law_of(audio.codec), 200, 40);
        feeders.push(feeder);
        Box::new(fed)
    }) {
        Ok(stream) => stream,
        Err(why) => {
            // The phones were told to join: they are told to leave, and the caller is let go.
            audience.dismiss(paging, record).await;
            let _ = session
                .command(call, None, dialtone_cti::Command::Drop)
                .await;
            return Err(why.to_string());
        }
    };

    // Relay until the caller hangs up (the served call's channel closes) or the page is too long.
    let mut jitter = jitter::Receiver::new(3, dialtone_media::RATE);
    let clock = Instant::now();
    let mut buf = [0u8; 2048];
    let end_at = tokio::time::Instant::now() + MAX_PAGE;
    loop {
        tokio::select! {
            got = receiver.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                // Only the caller's own address speaks to the group; anything else is dropped.
                if from.ip() != audio.remote.ip() {
                    record.foreign_packets += 1;
                    continue;
                }
                let Ok(p) = Packet::parse(&buf[..n]) else {
                    record.malformed_packets += 1;
                    continue;
                };
                if p.header.payload_type != audio.payload_type {
                    continue;
                }
                jitter.push(&p, clock.elapsed().as_secs_f64());
                while let Some((_, payload)) = jitter.pop() {
                    for feeder in &feeders {
                        feeder.push(&payload);
                    }
                }
            }
            changed = served.audio.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(end_at) => {
                let _ = session.command(call, None, dialtone_cti::Command::Drop).await;
                break;
            }
        }
    }
    record.packets_in = jitter.quality().received;
    drop(feeders);
    drop(group_stream);
    audience.dismiss(paging, record).await;
    Ok(())
}
