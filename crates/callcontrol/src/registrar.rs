//! The registrar: devices register with digest credentials from the store.
//!
//! The device is found from the digest user name. The address-of-record names either one of
//! the device's lines (Cisco phones register each line) or the device itself (its digest user
//! or device name); a line the device does not carry gets 403. Bindings live in memory with
//! their expiry: registrations are soft state that phones refresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dialtone_sip::build;
use dialtone_sip::digest::{Authenticator, Credentials, StoredCredentials, Verdict};
use dialtone_sip::endpoint::ServerTransaction;
use dialtone_sip::Name;
use dialtone_store::Store;
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
}

pub struct Registrar {
    store: Store,
    auth: Authenticator,
    policy: Policy,
    bindings: Mutex<HashMap<(String, String), Vec<Binding>>>,
}

fn contact_uri(v: &str) -> Option<String> {
    dialtone_sip::NameAddr::parse(v).map(|c| c.uri_str.to_string())
}

impl Registrar {
    /// `algorithms`: what to offer, in order. Many phones read only the first challenge or
    /// give up on an algorithm they lack, hence the choice is the administrator's.
    pub fn new(
        store: Store,
        realm: &str,
        algorithms: &[dialtone_sip::digest::Algorithm],
        policy: Policy,
    ) -> Registrar {
        Registrar {
            store,
            auth: Authenticator::new(realm, Duration::from_secs(300)).offering(algorithms),
            policy,
            bindings: Mutex::new(HashMap::new()),
        }
    }

    /// Current bindings, unexpired.
    pub fn bindings(&self) -> Vec<Binding> {
        let now = Instant::now();
        let mut map = self.bindings.lock().expect("bindings lock");
        map.retain(|_, v| {
            v.retain(|b| b.until > now);
            !v.is_empty()
        });
        let mut out: Vec<Binding> = map
            .values()
            .flatten()
            .map(|b| Binding {
                expires_in: b.until.saturating_duration_since(now).as_secs(),
                ..b.clone()
            })
            .collect();
        out.sort_by(|a, b| (&a.device, &a.aor).cmp(&(&b.device, &b.aor)));
        out
    }

    async fn challenge(&self, tx: &ServerTransaction, stale: bool) {
        let mut b = build::response(&tx.request, 401, Some(tx.peer.addr), Some(&build::token()));
        for c in self.auth.challenges(stale) {
            b = b.header("WWW-Authenticate", &c);
        }
        tx.respond(b.finish()).await;
    }

    pub async fn register(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let Some(creds) = req.value(Name::Authorization).and_then(Credentials::parse) else {
            return self.challenge(&tx, false).await;
        };
        let device = match self.store.device_credentials(creds.username).await {
            Ok(Some(d)) => d,
            Ok(None) => return self.challenge(&tx, false).await,
            Err(e) => {
                tracing::error!(error = %e, "registrar: store unavailable");
                let r = build::response(&req, 503, Some(tx.peer.addr), Some(&build::token()))
                    .header("Retry-After", "5")
                    .finish();
                return tx.respond(r).await;
            }
        };
        let stored = StoredCredentials {
            ha1_md5: device.ha1_md5.clone(),
            ha1_sha256: device.ha1_sha256.clone(),
        };
        match self.auth.verify("REGISTER", &creds, &stored) {
            Verdict::Valid => {}
            Verdict::Stale => return self.challenge(&tx, true).await,
            Verdict::Invalid(why) => {
                tracing::info!(user = creds.username, why, "registration refused");
                return self.challenge(&tx, false).await;
            }
        }
        let tag = build::token();
        // The address-of-record: a line the device carries, or the device itself.
        let aor_user = req
            .to()
            .and_then(|t| t.uri().ok().and_then(|u| u.user.map(str::to_string)))
            .unwrap_or_default();
        let aor = if device.lines.contains(&aor_user) {
            aor_user
        } else if aor_user == creds.username || aor_user == device.device {
            device.device.clone()
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
        let key = (device.device.clone(), aor.clone());
        let now = Instant::now();
        let user_agent = req.value(Name::UserAgent).unwrap_or("").to_string();
        // Update and read back this address-of-record's bindings under one lock: the answer
        // lists only its own contacts, never a scan of every device's.
        let current: Vec<String> = {
            let mut map = self.bindings.lock().expect("bindings lock");
            let list = map.entry(key.clone()).or_default();
            list.retain(|b| b.until > now);
            for contact in req.values(Name::Contact) {
                if contact.trim() == "*" {
                    if header_expires == Some(0) {
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
                list.retain(|b| b.contact != uri);
                if asked == 0 {
                    continue;
                }
                let granted = asked.clamp(self.policy.min_expires, self.policy.max_expires);
                list.push(Binding {
                    device: device.device.clone(),
                    aor: aor.clone(),
                    contact: uri,
                    transport: tx.peer.transport.as_str(),
                    source: tx.peer.addr.to_string(),
                    user_agent: user_agent.clone(),
                    expires_in: granted as u64,
                    until: now + Duration::from_secs(granted as u64),
                });
            }
            list.iter()
                .map(|b| {
                    let left = b.until.saturating_duration_since(now).as_secs();
                    format!("<{}>;expires={left}", b.contact)
                })
                .collect()
        };
        let mut b = build::response(&req, 200, Some(tx.peer.addr), Some(&tag));
        for c in &current {
            b = b.header("Contact", c);
        }
        tracing::info!(device = %device.device, aor = %aor, contacts = current.len(), "registered");
        tx.respond(b.finish()).await;
    }
}
