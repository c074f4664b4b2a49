//! The registrar: devices register with digest credentials from the store.
//!
//! The device is found from the Contact's Cisco device-name parameter or the MAC in its
//! `+sip.instance`, else from the digest user name, else from an address-of-record naming a
//! device; its digest credentials must then verify. The address-of-record names either one of
//! the device's lines (Cisco phones register each line) or the device itself; a line the
//! device does not carry gets 403. Bindings live in memory with their expiry: registrations
//! are soft state that phones refresh. Devices come from the directory snapshot, so a REGISTER
//! never waits on SQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone_sip::build;
use dialtone_sip::digest::{Authenticator, Challenger, Credentials, StoredCredentials};
use dialtone_sip::endpoint::{Peer, ServerTransaction};
use dialtone_sip::guard::Guard;
use dialtone_sip::{Message, Name, NameAddr};
use dialtone_store::directory::DeviceConfig;

use crate::directory::{Directory, LineKey, Snapshot};
use crate::guarded::Digest;
use dialtone_sip::shards::Sharded;
use serde::Serialize;

/// Registration limits (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub default_expires: u32,
    pub min_expires: u32,
    pub max_expires: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 7200,
        }
    }
}

/// One contact bound to an address-of-record.
#[derive(Debug, Clone, Serialize)]
pub struct Binding {
    pub device: String,
    /// The line's directory number, or the device name for a device-level registration.
    pub aor: String,
    pub contact: String,
    pub transport: &'static str,
    /// Where the REGISTER came from (what NAT traversal answers to).
    pub source: String,
    pub user_agent: String,
    pub expires_in: u64,
    #[serde(skip)]
    until: Instant,
    /// Where requests for this contact go: the address the REGISTER came from, over the same
    /// transport (NAT traversal and connection reuse).
    #[serde(skip)]
    pub peer: Peer,
    /// The Contact's own address, for a stream transport whose connection has closed.
    #[serde(skip)]
    pub contact_peer: Option<Peer>,
    /// The Call-ID of the REGISTER that made the binding: a Cisco phone's reset NOTIFY
    /// must name it (`RegisterCallId`).
    #[serde(skip)]
    pub register_call_id: String,
    /// That REGISTER's CSeq: a later one on the same Call-ID must be higher (RFC 3261 10.3).
    #[serde(skip)]
    pub register_cseq: u32,
}

impl Binding {
    /// `device`'s `contact` bound for `aor`, reached at `peer`, for `expires` from now: what
    /// a REGISTER makes (routing's tests make their own).
    pub fn new(device: &str, aor: &str, contact: &str, peer: Peer, expires: Duration) -> Binding {
        Binding {
            device: device.to_string(),
            aor: aor.to_string(),
            contact: contact.to_string(),
            transport: peer.transport.as_str(),
            source: peer.addr.to_string(),
            user_agent: String::new(),
            expires_in: expires.as_secs(),
            until: Instant::now() + expires,
            peer,
            contact_peer: None,
            register_call_id: String::new(),
            register_cseq: 0,
        }
    }
}

const SHARDS: usize = 64;

pub struct Registrar {
    directory: Arc<Directory>,
    events: crate::events::Events,
    auth: Authenticator,
    guard: Arc<Guard>,
    policy: Policy,
    /// Bindings by (device, address-of-record), sharded by device: no lock is shared by
    /// every registration.
    bindings: Sharded<(String, String), Vec<Binding>>,
}

/// The MAC address in a `+sip.instance` of the form `<urn:uuid:00000000-0000-0000-0000-MAC>`.
fn instance_mac(contact: &NameAddr) -> Option<String> {
    let v = contact.param("+sip.instance")?.trim_matches('"');
    let uuid = v.strip_prefix('<')?.strip_suffix('>')?;
    let uuid = uuid.strip_prefix("urn:uuid:").unwrap_or(uuid);
    let mac = uuid.strip_prefix("00000000-0000-0000-0000-")?;
    (mac.len() == 12 && mac.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| mac.to_ascii_uppercase())
}

/// Which device sent a REGISTER (INTERFACES.md section 5a): the Contact's device name, the MAC
/// in its instance id, the digest user, or an address-of-record naming a device.
fn identify<'s>(
    snapshot: &'s Snapshot,
    req: &Message,
    digest_user: &str,
) -> Option<&'s Arc<DeviceConfig>> {
    for contact in req.contacts().flatten() {
        if let Some(name) = contact.param("+u.sip!devicename.ccm.cisco.com") {
            if let Some(d) = snapshot.device(name.trim_matches('"')) {
                return Some(d);
            }
        }
        if let Some(mac) = instance_mac(&contact) {
            if let Some(d) = snapshot.device(&format!("SEP{mac}")) {
                return Some(d);
            }
        }
    }
    if let Some(d) = snapshot.device_by_digest_user(digest_user) {
        return Some(d);
    }
    let aor = req.to()?.uri().ok()?.user?;
    snapshot.device(aor)
}

fn contact_addr(uri: &str) -> Option<std::net::SocketAddr> {
    let u = dialtone_sip::Uri::parse(uri).ok()?;
    let ip: std::net::IpAddr = match u.host? {
        dialtone_sip::Host::V4(a) => a.into(),
        dialtone_sip::Host::V6(a) => a.into(),
        dialtone_sip::Host::Name(_) => return None,
    };
    Some(std::net::SocketAddr::new(ip, u.port.unwrap_or(5060)))
}

fn contact_uri(v: &str) -> Option<String> {
    dialtone_sip::NameAddr::parse(v).map(|c| c.uri_str.to_string())
}

impl Registrar {
    /// `algorithms`: what to offer, in order. Many phones read only the first challenge or
    /// give up on an algorithm they lack, hence the choice is the administrator's.
    pub fn new(
        directory: Arc<Directory>,
        events: crate::events::Events,
        realm: &str,
        algorithms: &[dialtone_sip::digest::Algorithm],
        policy: Policy,
        guard: Arc<Guard>,
    ) -> Registrar {
        Registrar {
            directory,
            events,
            auth: Authenticator::new(realm, Duration::from_secs(300)).offering(algorithms),
            guard,
            policy,
            bindings: Sharded::new(SHARDS),
        }
    }

    /// Current bindings, unexpired.
    pub fn bindings(&self) -> Vec<Binding> {
        let now = Instant::now();
        let mut out: Vec<Binding> = Vec::new();
        self.bindings.each(|map| {
            map.retain(|_, v| {
                v.retain(|b| b.until > now);
                !v.is_empty()
            });
            out.extend(map.values().flatten().map(|b| Binding {
                expires_in: b.until.saturating_duration_since(now).as_secs(),
                ..b.clone()
            }));
        });
        out.sort_by(|a, b| (&a.device, &a.aor).cmp(&(&b.device, &b.aor)));
        out
    }

    /// The live contacts of every device that carries `line`, whether the device registered
    /// the line itself or registered as a whole: where a call to the line rings.
    pub fn contacts(&self, snapshot: &Snapshot, line: &LineKey) -> Vec<Binding> {
        // A pattern line rings no phone, not even one registered at device level: it is a
        // route point's range, or a number nobody can answer.
        let Some(l) = snapshot.line(line).filter(|_| !line.is_pattern()) else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut out = Vec::new();
        for device in &l.devices {
            self.bindings.with(device.as_str(), |map| {
                for aor in [&line.number, device] {
                    if let Some(list) = map.get(&(device.clone(), aor.clone())) {
                        out.extend(list.iter().filter(|b| b.until > now).cloned());
                    }
                }
            });
        }
        out
    }

    /// The live contacts of one device (every line it registered, or itself).
    pub fn device_bindings(&self, device: &str) -> Vec<Binding> {
        let now = Instant::now();
        self.bindings.with(device, |map| {
            map.iter()
                .filter(|((d, _), _)| d == device)
                .flat_map(|(_, list)| list.iter().filter(|b| b.until > now).cloned())
                .collect()
        })
    }

    fn digest(&self) -> Digest<'_> {
        Digest {
            auth: &self.auth,
            guard: &self.guard,
            kind: Challenger::Registrar,
        }
    }

    pub async fn register(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let digest = self.digest();
        let Some(creds) = req.value(Name::Authorization).and_then(Credentials::parse) else {
            return digest.challenge(&tx, false).await;
        };
        if !digest.admitted(&tx, &creds).await {
            return;
        }
        let snapshot = self.directory.get();
        let Some(device) = identify(&snapshot, &req, creds.username) else {
            return digest.refused(&tx, &creds, "no such device").await;
        };
        // The credentials must be this device's own: one phone's secret never registers another.
        let digest_user = device.digest_user.as_deref().unwrap_or(&device.name);
        let stored = StoredCredentials {
            ha1_md5: device.ha1_md5.clone(),
            ha1_sha256: device.ha1_sha256.clone(),
        };
        if digest_user != creds.username {
            let why = "credentials of another device";
            return digest.refused(&tx, &creds, why).await;
        }
        if !digest.verify(&tx, "REGISTER", &creds, Some(&stored)).await {
            return;
        }
        let device = device.clone();
        let tag = build::token();
        // The address-of-record: a line the device carries, or the device itself.
        let aor_user = req
            .to()
            .and_then(|t| t.uri().ok().and_then(|u| u.user.map(str::to_string)))
            .unwrap_or_default();
        // Removing bindings only (every contact expiring now): allowed for a line the device no
        // longer carries, as a phone does for its old lines after an Extension Mobility login
        // or a reconfiguration.
        let only_removal = req.expires() == Some(0)
            && req.values(Name::Contact).all(|c| {
                c.trim() == "*"
                    || dialtone_sip::NameAddr::parse(c)
                        .and_then(|c| c.param("expires").and_then(|e| e.parse::<u32>().ok()))
                        .is_none_or(|e| e == 0)
            });
        if device.lines.iter().any(|l| l.pattern == aor_user)
            && crate::directory::is_pattern(&aor_user)
            && !only_removal
        {
            let r = build::response(&req, 403, Some(tx.peer.addr), Some(&tag))
                .header(
                    "Warning",
                    "399 dialtone \"a pattern line cannot be registered\"",
                )
                .finish();
            return tx.respond(r).await;
        }
        let aor = if device.lines.iter().any(|l| l.pattern == aor_user) {
            aor_user
        } else if aor_user == creds.username || aor_user == device.name {
            device.name.clone()
        } else if only_removal && !aor_user.is_empty() {
            aor_user
        } else {
            let r = build::response(&req, 403, Some(tx.peer.addr), Some(&tag))
                .header(
                    "Warning",
                    "399 dialtone \"the device does not carry this line\"",
                )
                .finish();
            return tx.respond(r).await;
        };
        let header_expires = req.expires();
        let key = (device.name.clone(), aor.clone());
        let now = Instant::now();
        let user_agent = req.value(Name::UserAgent).unwrap_or("").to_string();
        // Update and read back this address-of-record's bindings under one lock: the answer
        // lists only its own contacts, never a scan of every device's.
        let mut added: Vec<String> = Vec::new();
        let mut removed = false;
        let call_id = req.call_id().unwrap_or_default();
        let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
        let current: Option<Vec<String>> = self.bindings.with(device.name.as_str(), |map| {
            let list = map.entry(key.clone()).or_default();
            list.retain(|b| b.until > now);
            // RFC 3261 10.3 step 7: a REGISTER no newer than the one that made a binding, on
            // the same Call-ID, arrived out of order; the update is aborted.
            if list
                .iter()
                .any(|b| b.register_call_id == call_id && b.register_cseq >= cseq)
            {
                return None;
            }
            for contact in req.values(Name::Contact) {
                if contact.trim() == "*" {
                    if header_expires == Some(0) {
                        removed |= !list.is_empty();
                        list.clear();
                    }
                    continue;
                }
                let Some(uri) = contact_uri(contact) else {
                    continue;
                };
                let asked = dialtone_sip::NameAddr::parse(contact)
                    .and_then(|c| c.param("expires").and_then(|e| e.parse::<u32>().ok()))
                    .or(header_expires)
                    .unwrap_or(self.policy.default_expires);
                let before = list.len();
                list.retain(|b| b.contact != uri);
                let was_bound = list.len() != before;
                let contact_peer = contact_addr(&uri).map(|addr| Peer {
                    transport: tx.peer.transport,
                    addr,
                });
                if asked == 0 {
                    removed |= was_bound;
                    continue;
                }
                if !was_bound {
                    added.push(uri.clone());
                }
                let granted = asked.clamp(self.policy.min_expires, self.policy.max_expires);
                list.push(Binding {
                    device: device.name.clone(),
                    aor: aor.clone(),
                    contact: uri,
                    transport: tx.peer.transport.as_str(),
                    source: tx.peer.addr.to_string(),
                    user_agent: user_agent.clone(),
                    expires_in: granted as u64,
                    until: now + Duration::from_secs(granted as u64),
                    peer: tx.peer,
                    contact_peer,
                    register_call_id: call_id.to_string(),
                    register_cseq: cseq,
                });
            }
            Some(
                list.iter()
                    .map(|b| {
                        let left = b.until.saturating_duration_since(now).as_secs();
                        format!("<{}>;expires={left}", b.contact)
                    })
                    .collect(),
            )
        });
        let Some(current) = current else {
            tracing::info!(device = %device.name, cseq, "REGISTER out of order refused");
            let r = build::response(&req, 400, Some(tx.peer.addr), Some(&tag))
                .header(
                    "Warning",
                    "399 dialtone \"CSeq not above the last REGISTER of this Call-ID\"",
                )
                .finish();
            return tx.respond(r).await;
        };
        for contact in added {
            self.events.emit(crate::events::Event::DeviceRegistered {
                device: device.name.clone(),
                line: aor.clone(),
                contact,
            });
        }
        if removed {
            self.events.emit(crate::events::Event::DeviceUnregistered {
                device: device.name.clone(),
                line: aor.clone(),
            });
        }
        let mut b = build::response(&req, 200, Some(tx.peer.addr), Some(&tag));
        for c in &current {
            b = b.header("Contact", c);
        }
        tracing::info!(device = %device.name, aor = %aor, contacts = current.len(), "registered");
        tx.respond(b.finish()).await;
    }
}
