//! One page, as the seed's flow runs it: answer the DialCast call, play the low stall tone,
//! tell every phone of the group to join a multicast group (at once, in parallel), play the
//! high go-ahead tone once all have joined or the group's deadline has passed (the stragglers
//! reported), relay the caller's voice as multicast G.711 µ-law, and tell every phone that
//! joined to leave when the caller hangs up. Everything a page holds (its address, its minted
//! credentials, its streams) is let go when it ends, however it ends.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone_cti::{Audio, Codec, CtiSession, ServedMedia};
use dialtone_media::g711::Law;
use dialtone_media::jitter;
use dialtone_media::pacer::{media_socket, Multicast};
use dialtone_media::relay::{relay, switched};
use dialtone_media::rtp::Packet;
use dialtone_media::source::Player;
use dialtone_media::tone::Tone;
use dialtone_phone_xml::{ExecuteItem, Object};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use crate::groups::Group;
use crate::record::{Outcome, PageRecord, Phone};
use crate::Paging;

/// A page lasts at most this long (the caller forgot to hang up): then it is ended.
pub const MAX_PAGE: Duration = Duration::from_secs(3600);
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

/// Why a phone of the group is not paged, or did not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Left {
    NotRegistered,
    Busy,
    DoNotDisturb,
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
    let mut record = PageRecord::new(&group.name, &calling, call);
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

    let (members, skipped) = choose_phones(paging, session, group, call);
    record.phones.extend(skipped);
    let lease = paging
        .addresses
        .take()
        .ok_or("every paging multicast address is in use")?;
    record.address = Some(lease.address().to_string());
    let credential = paging
        .pusher
        .mint(
            "page",
            members.iter().cloned(),
            MAX_PAGE + Duration::from_secs(60),
        )
        .ok_or("too many pages in progress")?;
    let volume = (group.volume > 0).then_some(group.volume);
    let join = execute(&format!(
        "RTPMRx:{}:{}{}",
        lease.address().ip(),
        lease.address().port(),
        volume.map(|v| format!(":{v}")).unwrap_or_default()
    ));
    // Every phone told at once; the go-ahead waits for all of them or the deadline.
    let deadline = tokio::time::Instant::now() + group.join_deadline;
    let mut pushes: FuturesUnordered<_> = members
        .iter()
        .map(|d| {
            let (pusher, join, cred, bound) =
                (&paging.pusher, &join, &credential, &paging.push_bound);
            async move {
                let _turn = bound.acquire().await;
                let report = pusher
                    .push_one(d, join, &cred.user_id, &cred.password)
                    .await;
                (d.clone(), report)
            }
        })
        .collect();
    let mut joined: Vec<String> = Vec::new();
    let mut answered: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            next = pushes.next() => match next {
                Some((device, report)) => {
                    answered.insert(device.clone());
                    let refused = report.items.iter().find(|i| i.status != 0);
                    if report.status == "ok" && refused.is_none() {
                        joined.push(device.clone());
                        record.phones.push(Phone::new(&device, Outcome::Joined));
                    } else {
                        let why = match refused {
                            Some(item) => format!("the phone refused: {} (status {})", item.data, item.status),
                            None => format!("{}: {}", report.status, report.message),
                        };
                        record.phones.push(Phone::new(&device, Outcome::Failed(why)));
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    drop(pushes);
    for d in members.iter().filter(|d| !answered.contains(*d)) {
        record.phones.push(Phone::new(
            d,
            Outcome::Failed(format!(
                "did not answer within {} ms",
                group.join_deadline.as_millis()
            )),
        ));
    }
    record.join_ms = Some(started.elapsed().as_millis() as u64);
    paging.records.update(record.clone());

    // The high go-ahead tone, and the caller's voice to the group from now on.
    to_caller.play(Box::new(Player::new(
        Tone::GoAhead.clip(law_of(audio.codec)),
    )));
    let multicast = Multicast {
        ttl: paging.addresses.ttl,
        interface: match paging.media_ip {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        },
        loopback: true,
    };
    let sender = media_socket(SocketAddr::new(paging.media_ip, 0), Some(multicast))
        .map_err(|e| format!("multicast socket: {e}"))?;
    let (feeder, fed) = relay(law_of(audio.codec), 200, 40);
    let group_stream = paging
        .pacer
        .play(Arc::new(sender), lease.address(), Law::Mu, Box::new(fed))
        .map_err(|e| e.to_string())?;

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
                    feeder.push(&payload);
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
    drop(feeder);
    drop(group_stream);
    // Everyone who joined leaves, each told at once.
    let stop = execute("RTPMRx:Stop");
    let stops: Vec<_> = joined
        .iter()
        .map(|d| {
            let (pusher, stop, cred, bound) =
                (&paging.pusher, &stop, &credential, &paging.push_bound);
            async move {
                let _turn = bound.acquire().await;
                (
                    d.clone(),
                    pusher
                        .push_one(d, stop, &cred.user_id, &cred.password)
                        .await,
                )
            }
        })
        .collect();
    for (device, report) in futures_util::future::join_all(stops).await {
        if let Some(p) = record.phones.iter_mut().find(|p| p.device == device) {
            p.left = Some(report.status == "ok" && report.items.iter().all(|i| i.status == 0));
        }
    }
    drop(credential);
    drop(lease);
    Ok(())
}

fn execute(url: &str) -> String {
    Object::Execute {
        items: vec![ExecuteItem {
            priority: Some(0),
            url: url.to_string(),
        }],
    }
    .to_xml()
    .expect("one short item")
}

/// The group's phones to page now, and those left out with why: unregistered phones always;
/// busy phones and phones in Do Not Disturb when the group says so (an emergency group
/// leaves out only the unregistered).
fn choose_phones(
    paging: &Paging,
    session: &CtiSession,
    group: &Group,
    this_call: u64,
) -> (Vec<String>, Vec<Phone>) {
    let phones = paging.phones.get();
    let directory = session.directory();
    let calls = session.calls();
    // The caller's own phone is not paged: it is the one speaking.
    let caller = calls
        .iter()
        .find(|c| c.id == this_call)
        .and_then(|c| c.calling_device.clone());
    let busy: HashSet<String> = if group.skip_busy && !group.emergency {
        calls
            .into_iter()
            .filter(|c| c.id != this_call)
            .flat_map(|c| [c.calling_device, c.called_device])
            .flatten()
            .collect()
    } else {
        HashSet::new()
    };
    let mut page = Vec::new();
    let mut left = Vec::new();
    for d in group.members(&phones) {
        if caller.as_deref() == Some(d.as_str()) {
            continue;
        }
        let why = if paging.phone_state.address_of(&d).is_none() {
            Some(Left::NotRegistered)
        } else if group.skip_dnd && !group.emergency && directory.device(&d).is_some_and(|c| c.dnd)
        {
            Some(Left::DoNotDisturb)
        } else if busy.contains(&d) {
            Some(Left::Busy)
        } else {
            None
        };
        match why {
            Some(why) => left.push(Phone::new(&d, Outcome::Skipped(why))),
            None => page.push(d),
        }
    }
    (page, left)
}
