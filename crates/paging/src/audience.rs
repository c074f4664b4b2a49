//! The phones a page reaches, whatever it carries (a caller's voice, a recording): chosen from
//! one or more groups, told to join the page's multicast address at once (credentials minted
//! for this page), waited for until all have answered or the deadline passes, and told to
//! leave at the end. Live and recorded pages share this, so they tell phones the same way.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dialtone_cti::CtiSession;
use dialtone_media::g711::Law;
use dialtone_media::pacer::{media_socket, Multicast, PlayError, Playing};
use dialtone_media::source::Source;
use dialtone_phone_xml::{ExecuteItem, Object};
use dialtone_platform::push::{MintedCredential, PushReport};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use crate::addresses::Lease;
use crate::groups::Group;
use crate::record::{Outcome, PageRecord, Phone};
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
    #[error("multicast socket: {0}")]
    Socket(std::io::Error),
    #[error(transparent)]
    Media(#[from] PlayError),
}

/// The phones that joined a page, on the page's address.
pub struct Audience {
    lease: Lease,
    credential: MintedCredential,
    joined: Vec<String>,
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
    /// Tell `phones` to join a multicast address leased for this page and wait for them (at
    /// most the groups' deadline), recording each phone's outcome.
    pub async fn gather(
        paging: &Paging,
        groups: &[Group],
        phones: Vec<String>,
        record: &mut PageRecord,
    ) -> Result<Audience, PageError> {
        let lease = {
            let catalogue = paging.phones.get();
            let pools: Vec<&str> = phones
                .iter()
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
                phones.iter().cloned(),
                MAX_PAGE + Duration::from_secs(60),
            )
            .ok_or(PageError::TooManyPages)?;
        let (deadline, volume) = settings(groups);
        let join = execute(&format!(
            "RTPMRx:{}:{}{}",
            lease.address().ip(),
            lease.address().port(),
            volume.map(|v| format!(":{v}")).unwrap_or_default()
        ));
        let reports = push_each(
            paging,
            &phones,
            &join,
            &credential,
            tokio::time::Instant::now() + deadline,
        )
        .await;
        let mut joined = Vec::new();
        for (device, report) in &reports {
            match ran(report) {
                Ok(()) => {
                    joined.push(device.clone());
                    record.phones.push(Phone::new(device, Outcome::Joined));
                }
                Err(why) => record.phones.push(Phone::new(device, Outcome::Failed(why))),
            }
        }
        let answered: HashSet<&String> = reports.iter().map(|(d, _)| d).collect();
        for d in phones.iter().filter(|d| !answered.contains(d)) {
            record.phones.push(Phone::new(
                d,
                Outcome::Failed(format!("did not answer within {} ms", deadline.as_millis())),
            ));
        }
        Ok(Audience {
            lease,
            credential,
            joined,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.lease.address()
    }

    /// Send `source` to the page's address as G.711 µ-law (what Cisco phones take for pages)
    /// from the node's media address, until it ends or the stream is dropped.
    pub fn play(&self, paging: &Paging, source: Box<dyn Source>) -> Result<Playing, PageError> {
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
        Ok(paging
            .pacer
            .play(Arc::new(sender), self.address(), Law::Mu, source)?)
    }

    /// Tell every phone that joined to leave, each at once (a phone that does not answer in
    /// the push timeout is recorded as not having left); the address and the credentials are
    /// let go after.
    pub async fn dismiss(self, paging: &Paging, record: &mut PageRecord) {
        let stop = execute("RTPMRx:Stop");
        // The push client bounds each push by its own timeout; this only bounds the whole.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let reports = push_each(paging, &self.joined, &stop, &self.credential, deadline).await;
        let left: HashSet<&String> = reports
            .iter()
            .filter(|(_, r)| ran(r).is_ok())
            .map(|(d, _)| d)
            .collect();
        let joined: HashSet<&String> = self.joined.iter().collect();
        for p in record.phones.iter_mut() {
            if joined.contains(&p.device) {
                p.left = Some(left.contains(&p.device));
            }
        }
    }
}
