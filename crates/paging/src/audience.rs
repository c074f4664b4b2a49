//! The phones a page reaches, whatever it carries (a caller's voice, a recording): chosen from
//! one or more groups and told at once, waited for until all have answered or the deadline
//! passes, and told to leave at the end. Cisco phones are pushed to join the page's multicast
//! address (credentials minted for this page); phones that take no push (other makers, whose
//! web servers know no `CiscoIPPhoneExecute`) are called with the page's own media and asked
//! to answer by themselves, and hear it as a unicast stream: a mixed fleet pages together.
//! Live and recorded pages share this, so they tell phones the same way.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dialtone_cti::{Audio, Codec, CtiSession, DeviceCall, ServedCall, ServedMedia};
use dialtone_media::g711::Law;
use dialtone_media::pacer::{media_socket, Multicast, PlayError, Playing, Sent};
use dialtone_media::source::Source;
use dialtone_phone_xml::model::is_cisco_enterprise;
use dialtone_phone_xml::{ExecuteItem, Object};
use dialtone_platform::push::{MintedCredential, PushReport};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use crate::addresses::Lease;
use crate::groups::Group;
use crate::record::{Outcome, PageRecord, Phone, Via};
use crate::Paging;

/// A page lasts at most this long (the caller forgot to hang up): then it is ended.
pub const MAX_PAGE: Duration = Duration::from_secs(3600);

/// Why a phone of the group is not paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Left {
    NotRegistered,
    Busy,
    DoNotDisturb,
}

/// Why a page could not reach its phones.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("every paging multicast address is in use")]
    NoAddress,
    #[error("too many pages in progress")]
    TooManyPages,
    #[error("media socket: {0}")]
    Socket(std::io::Error),
    #[error(transparent)]
    Media(#[from] PlayError),
}

/// The phones that joined a page: pushed ones on the page's address, called ones each on its
/// own call.
pub struct Audience {
    lease: Lease,
    credential: MintedCredential,
    joined: Vec<String>,
    calls: Vec<Called>,
    /// Where the called phones' streams come from (the address in the page's SDP).
    unicast: Arc<std::net::UdpSocket>,
}

/// A phone that answered the page's call.
struct Called {
    device: String,
    /// Held for the page: dropping it hangs the call up.
    call: ServedCall,
    audio: Audio,
}

/// What a page sends: the multicast stream (when a phone joined by push) and one stream per
/// called phone.
pub struct Streams {
    playing: Vec<Playing>,
}

impl Streams {
    /// Wait until every stream has ended: the packets they sent together, None when the
    /// sender stopped before.
    pub async fn ended(&mut self) -> Option<Sent> {
        let mut total = Sent::default();
        for p in &mut self.playing {
            let sent = p.ended().await?;
            total.packets += sent.packets;
            total.octets += sent.octets;
            total.dropped += sent.dropped;
        }
        Some(total)
    }
}

/// A called phone's stream ends when its call does (the user hung the page up): nothing is
/// sent to a phone that left.
struct WhileCallLasts {
    source: Box<dyn Source>,
    call: tokio::sync::watch::Receiver<Option<Audio>>,
}

impl Source for WhileCallLasts {
    fn fill(&mut self, frame: &mut [u8], law: Law) -> bool {
        // The call's task holds the sender until the call has ended.
        self.call.has_changed().is_ok() && self.source.fill(frame, law)
    }
}

/// Whether a phone of this model is told by push (a Cisco enterprise phone's web server runs
/// `CiscoIPPhoneExecute`); others are called.
fn takes_push(model: &str) -> bool {
    is_cisco_enterprise(model)
}

fn law_of(codec: Codec) -> Law {
    match codec {
        Codec::Pcmu => Law::Mu,
        Codec::Pcma => Law::A,
    }
}

/// Who a page is for and who else is on the node: the caller's own phone (not paged: it is
/// the one speaking) and the devices on a call now (for groups that skip busy phones).
pub struct Present {
    pub caller: Option<String>,
    pub busy: HashSet<String>,
}

impl Present {
    /// What CTI says now, `this_call` being the page's own call (if it has one).
    pub fn now(session: &CtiSession, this_call: Option<u64>) -> Present {
        let calls = session.calls();
        let caller = calls
            .iter()
            .find(|c| Some(c.id) == this_call)
            .and_then(|c| c.calling_device.clone());
        let busy = calls
            .into_iter()
            .filter(|c| Some(c.id) != this_call)
            .flat_map(|c| [c.calling_device, c.called_device])
            .flatten()
            .collect();
        Present { caller, busy }
    }
}

/// The phones of `groups` to page now, each once, and those left out with why: unregistered
/// phones always; busy phones and phones in Do Not Disturb when their group says so (an
/// emergency group leaves out only the unregistered). A phone in several groups is paged if
/// any of them pages it.
pub fn choose(
    paging: &Paging,
    session: &CtiSession,
    groups: &[Group],
    present: &Present,
) -> (Vec<String>, Vec<Phone>) {
    let phones = paging.phones.get();
    let directory = session.directory();
    let mut paged: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut left: BTreeMap<String, Left> = BTreeMap::new();
    for group in groups {
        for d in group.members(&phones) {
            if present.caller.as_deref() == Some(d.as_str()) || seen.contains(&d) {
                continue;
            }
            let why = if paging.phone_state.address_of(&d).is_none() {
                Some(Left::NotRegistered)
            } else if group.skip_dnd
                && !group.emergency
                && directory.device(&d).is_some_and(|c| c.dnd)
            {
                Some(Left::DoNotDisturb)
            } else if group.skip_busy && !group.emergency && present.busy.contains(&d) {
                Some(Left::Busy)
            } else {
                None
            };
            match why {
                Some(why) => {
                    left.entry(d).or_insert(why);
                }
                None => {
                    left.remove(&d);
                    seen.insert(d.clone());
                    paged.push(d);
                }
            }
        }
    }
    let left = left
        .into_iter()
        .map(|(d, why)| Phone::new(&d, Outcome::Skipped(why)))
        .collect();
    (paged, left)
}

/// The longest join deadline of the groups, and the first volume one of them sets.
fn settings(groups: &[Group]) -> (Duration, Option<u8>) {
    let deadline = groups
        .iter()
        .map(|g| g.join_deadline)
        .max()
        .unwrap_or(Duration::from_secs(3));
    let volume = groups.iter().map(|g| g.volume).find(|v| *v > 0);
    (deadline, volume)
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

/// Whether a phone ran what it was pushed, or why not.
fn ran(report: &PushReport) -> Result<(), String> {
    match report.items.iter().find(|i| i.status != 0) {
        Some(item) => Err(format!(
            "the phone refused: {} (status {})",
            item.data, item.status
        )),
        None if report.status == "ok" => Ok(()),
        None => Err(format!("{}: {}", report.status, report.message)),
    }
}

/// Push `object` to every device at once (bounded across the node by `push_bound`), each
/// report as it comes, until all have answered or `deadline` passes: the reports, in the
/// order they came.
async fn push_each(
    paging: &Paging,
    devices: &[String],
    object: &str,
    credential: &MintedCredential,
    deadline: tokio::time::Instant,
) -> Vec<(String, PushReport)> {
    let mut pushes: FuturesUnordered<_> = devices
        .iter()
        .map(|d| async move {
            let _turn = paging.push_bound.acquire().await;
            let report = paging
                .pusher
                .push_one(d, object, &credential.user_id, &credential.password)
                .await;
            (d.clone(), report)
        })
        .collect();
    let mut reports = Vec::with_capacity(devices.len());
    loop {
        tokio::select! {
            next = pushes.next() => match next {
                Some(r) => reports.push(r),
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    reports
}

impl Audience {
    /// Tell `phones` to join a page: pushed to a multicast address leased for it, or called
    /// with `from` (the DialCast number, or the page's name) shown; wait for them (at most the
    /// groups' deadline), recording each phone's outcome.
    pub async fn gather(
        paging: &Paging,
        session: &CtiSession,
        groups: &[Group],
        phones: Vec<String>,
        from: &str,
        record: &mut PageRecord,
    ) -> Result<Audience, PageError> {
        let (pushed, called): (Vec<String>, Vec<String>) = {
            let catalogue = paging.phones.get();
            phones
                .into_iter()
                .partition(|name| catalogue.device(name).is_none_or(|d| takes_push(&d.model)))
        };
        let lease = {
            let catalogue = paging.phones.get();
            let pools: Vec<&str> = pushed
                .iter()
                .chain(called.iter())
                .filter_map(|name| catalogue.device(name))
                .map(|d| d.device_pool.as_str())
                .collect();
            paging.addresses.take(&paging.sites.get(), &pools)
        }
        .ok_or(PageError::NoAddress)?;
        record.address = Some(lease.address().to_string());
        record.site = lease.site.clone();
        let credential = paging
            .pusher
            .mint(
                "page",
                pushed.iter().cloned(),
                MAX_PAGE + Duration::from_secs(60),
            )
            .ok_or(PageError::TooManyPages)?;
        let unicast = Arc::new(
            media_socket(SocketAddr::new(paging.media_ip, 0), None).map_err(PageError::Socket)?,
        );
        let local = unicast.local_addr().map_err(PageError::Socket)?;
        let (deadline, volume) = settings(groups);
        let join = execute(&format!(
            "RTPMRx:{}:{}{}",
            lease.address().ip(),
            lease.address().port(),
            volume.map(|v| format!(":{v}")).unwrap_or_default()
        ));
        let until = tokio::time::Instant::now() + deadline;
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        let name = format!("Page: {}", names.join(", "));
        let (reports, answered) = tokio::join!(
            push_each(paging, &pushed, &join, &credential, until),
            call_each(session, &called, local, from, &name, until),
        );
        let mut joined = Vec::new();
        for (device, report) in &reports {
            match ran(report) {
                Ok(()) => {
                    joined.push(device.clone());
                    record
                        .phones
                        .push(Phone::new(device, Outcome::Joined).via(Via::Push));
                }
                Err(why) => record
                    .phones
                    .push(Phone::new(device, Outcome::Failed(why)).via(Via::Push)),
            }
        }
        let late = || Outcome::Failed(format!("did not answer within {} ms", deadline.as_millis()));
        let told: HashSet<&String> = reports.iter().map(|(d, _)| d).collect();
        for d in pushed.iter().filter(|d| !told.contains(d)) {
            record.phones.push(Phone::new(d, late()).via(Via::Push));
        }
        let mut calls = Vec::new();
        for (device, outcome) in answered {
            match outcome {
                Ok((call, audio)) => {
                    record
                        .phones
                        .push(Phone::new(&device, Outcome::Joined).via(Via::Call));
                    calls.push(Called {
                        device,
                        call,
                        audio,
                    });
                }
                Err(why) => {
                    let outcome = why.map_or_else(late, Outcome::Failed);
                    record
                        .phones
                        .push(Phone::new(&device, outcome).via(Via::Call));
                }
            }
        }
        Ok(Audience {
            lease,
            credential,
            joined,
            calls,
            unicast,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.lease.address()
    }

    /// Send what `source` makes (one source per stream) as G.711 from the node's media
    /// address: to the page's multicast address in µ-law (what Cisco phones take for pages)
    /// when a phone joined by push, and to each called phone in the codec it answered with,
    /// until the sources end or the streams are dropped.
    pub fn play(
        &self,
        paging: &Paging,
        mut source: impl FnMut() -> Box<dyn Source>,
    ) -> Result<Streams, PageError> {
        let mut playing = Vec::with_capacity(1 + self.calls.len());
        if !self.joined.is_empty() {
            let multicast = Multicast {
                ttl: paging.addresses.ttl,
                interface: match paging.media_ip {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                },
                loopback: true,
            };
            let sender = media_socket(SocketAddr::new(paging.media_ip, 0), Some(multicast))
                .map_err(PageError::Socket)?;
            playing.push(
                paging
                    .pacer
                    .play(Arc::new(sender), self.address(), Law::Mu, source())?,
            );
        }
        for c in &self.calls {
            let source = Box::new(WhileCallLasts {
                source: source(),
                call: c.call.audio.clone(),
            });
            playing.push(paging.pacer.play(
                self.unicast.clone(),
                c.audio.remote,
                law_of(c.audio.codec),
                source,
            )?);
        }
        Ok(Streams { playing })
    }

    /// Tell every phone that joined to leave: pushed ones each at once (a phone that does not
    /// answer in the push timeout is recorded as not having left), called ones hung up; the
    /// address and the credentials are let go after.
    pub async fn dismiss(self, paging: &Paging, record: &mut PageRecord) {
        let Audience {
            lease,
            credential,
            joined,
            calls,
            unicast: _,
        } = self;
        let stop = execute("RTPMRx:Stop");
        // The push client bounds each push by its own timeout; this only bounds the whole.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let reports = push_each(paging, &joined, &stop, &credential, deadline).await;
        let mut left: HashSet<String> = reports
            .into_iter()
            .filter(|(_, r)| ran(r).is_ok())
            .map(|(d, _)| d)
            .collect();
        // Each call ends as its handle goes (a BYE, unless the phone hung up already).
        left.extend(calls.into_iter().map(|c| c.device));
        let joined: HashSet<&String> = joined.iter().collect();
        for p in record.phones.iter_mut() {
            if p.outcome.is_joined() && (joined.contains(&p.device) || p.via == Some(Via::Call)) {
                p.left = Some(left.contains(&p.device));
            }
        }
        drop(credential);
        drop(lease);
    }
}

/// What became of one called phone: its call and audio, or why not (None: no answer in time).
type CallOutcome = Result<(ServedCall, Audio), Option<String>>;

/// Call every device at once with the page's media at `local`, asking each to answer by
/// itself, until all have answered or `deadline` passes; a call not answered by then is
/// hung up (its handle dropped).
async fn call_each(
    session: &CtiSession,
    devices: &[String],
    local: SocketAddr,
    from: &str,
    name: &str,
    deadline: tokio::time::Instant,
) -> Vec<(String, CallOutcome)> {
    let calls = devices.iter().map(|d| async move {
        let placed = session
            .call_device(DeviceCall {
                device: d.clone(),
                media: ServedMedia {
                    local,
                    accept: vec![Codec::Pcmu, Codec::Pcma],
                },
                send_only: true,
                auto_answer: true,
                from_number: from.to_string(),
                from_name: name.to_string(),
            })
            .await;
        let mut call = match placed {
            Ok(call) => call,
            Err(e) => return (d.clone(), Err(Some(e.to_string()))),
        };
        let answered = tokio::time::timeout_at(deadline, call.audio.wait_for(Option::is_some))
            .await
            .map(|got| got.ok().and_then(|a| a.clone()));
        let outcome = match answered {
            Ok(Some(audio)) => Ok((call, audio)),
            Ok(None) => Err(Some("the phone did not answer the page's call".to_string())),
            Err(_) => Err(None),
        };
        (d.clone(), outcome)
    });
    futures_util::future::join_all(calls).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_media::source::{Clip, Player};

    #[test]
    fn a_called_phones_stream_ends_when_its_call_does() {
        let (call, audio) = tokio::sync::watch::channel(None);
        let clip = Clip::from_pcm(&[1000i16; 1600], Law::Mu, true);
        let mut source = WhileCallLasts {
            source: Box::new(Player::new(clip)),
            call: audio,
        };
        let mut frame = [0u8; 160];
        assert!(
            source.fill(&mut frame, Law::Mu),
            "plays while the call lasts"
        );
        drop(call);
        assert!(!source.fill(&mut frame, Law::Mu), "ends with the call");
    }
}
