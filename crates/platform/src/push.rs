//! Push: an object POSTed to a phone's `/CGI/Execute` (form field `XML`, HTTP Basic), the
//! phone's CiscoIPPhoneResponse or CiscoIPPhoneError read back, one report per phone; many
//! phones concurrently, within a bound. A platform service: IP Phone Services' push API and
//! the paging server both tell phones what to do through it. A broadcast's pushes carry
//! credentials minted for it ([`Pusher::mint`]), which the phones' Authentication URL accepts
//! for exactly those phones until the broadcast ends, so no user's password travels to
//! phones and nothing lasting can be replayed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialtone_phone_xml::model::Capabilities;
use dialtone_phone_xml::Object;
use dialtone_provisioning::{PhoneState, Phones};
use dialtone_store::live::Live;
use serde::Serialize;

use crate::Options;

/// Most minted credentials alive at once (each is one broadcast in progress).
pub const MAX_MINTED: usize = 10_000;

/// Pushes to phones, and the credentials minted for broadcasts.
pub struct Pusher {
    phones: Arc<Live<Phones>>,
    phone_state: Arc<dyn PhoneState>,
    options: Options,
    client: reqwest::Client,
    minted: Mutex<HashMap<String, Minted>>,
}

struct Minted {
    password: String,
    devices: HashSet<String>,
    until: Instant,
}

/// Credentials minted for one broadcast: the phones named may act on pushes carrying them
/// until it is dropped (or its lifetime passes).
pub struct MintedCredential {
    pub user_id: String,
    pub password: String,
    pusher: Arc<Pusher>,
}

impl Drop for MintedCredential {
    fn drop(&mut self) {
        self.pusher
            .minted
            .lock()
            .expect("minted credentials")
            .remove(&self.user_id);
    }
}

/// Compare without stopping at the first difference, so timing tells nothing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Pusher {
    pub fn new(
        phones: Arc<Live<Phones>>,
        phone_state: Arc<dyn PhoneState>,
        options: Options,
    ) -> Pusher {
        let client = reqwest::Client::builder()
            .connect_timeout(options.push_timeout)
            .build()
            .expect("an HTTP client without TLS roots to load");
        Pusher {
            phones,
            phone_state,
            options,
            client,
            minted: Mutex::new(HashMap::new()),
        }
    }

    /// Mint credentials that let `devices` act on pushes for at most `lifetime`; None when
    /// [`MAX_MINTED`] are alive.
    pub fn mint(
        self: &Arc<Self>,
        purpose: &str,
        devices: impl IntoIterator<Item = String>,
        lifetime: Duration,
    ) -> Option<MintedCredential> {
        let mut minted = self.minted.lock().expect("minted credentials");
        let now = Instant::now();
        minted.retain(|_, m| m.until > now);
        if minted.len() >= MAX_MINTED {
            return None;
        }
        let token = |n: usize| -> String {
            use rand::Rng;
            const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
            let mut rng = rand::thread_rng();
            (0..n)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let user_id = format!("{purpose}-{}", token(10));
        let password = token(24);
        minted.insert(
            user_id.clone(),
            Minted {
                password: password.clone(),
                devices: devices.into_iter().collect(),
                until: now + lifetime,
            },
        );
        Some(MintedCredential {
            user_id,
            password,
            pusher: self.clone(),
        })
    }

    /// Whether minted credentials `user`/`password` let `device` act (the Authentication
    /// URL's question); false for anything not minted.
    pub fn minted_allows(&self, user: &str, password: &str, device: &str) -> bool {
        let minted = self.minted.lock().expect("minted credentials");
        minted.get(user).is_some_and(|m| {
            same(&m.password, password) && m.until > Instant::now() && m.devices.contains(device)
        })
    }

    /// Minted credentials alive now.
    pub fn minted_count(&self) -> usize {
        self.minted.lock().expect("minted credentials").len()
    }
}

/// What became of a push to one phone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PushReport {
    pub device: String,
    /// ok: the phone ran it (see `items`); phone_error: it refused (`error_number`, 4 is an
    /// authentication failure); not_registered, unknown_device, unsupported, unreachable,
    /// bad_response.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_number: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<PushItem>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PushItem {
    pub status: i16,
    pub data: String,
    pub url: String,
}

impl PushReport {
    fn failed(
        device: &str,
        status: &'static str,
        address: Option<String>,
        message: String,
    ) -> PushReport {
        PushReport {
            device: device.to_owned(),
            status,
            address,
            error_number: None,
            items: vec![],
            message,
        }
    }
}

fn error_meaning(n: u16) -> &'static str {
    match n {
        1 => "the phone could not parse the object",
        2 => "framing error",
        3 => "internal file error",
        4 => "authentication error: the phone's Authentication URL refused these credentials",
        _ => "error",
    }
}

impl Pusher {
    /// Push `object` (already checked to parse) to one device with the credentials the phone will
    /// check against its Authentication URL.
    pub async fn push_one(
        &self,
        device: &str,
        object: &str,
        user: &str,
        password: &str,
    ) -> PushReport {
        let phones = self.phones.get();
        let Some(d) = phones.device(device) else {
            return PushReport::failed(
                device,
                "unknown_device",
                None,
                format!("no device named {device}"),
            );
        };
        if let Ok(parsed) = Object::parse(object) {
            if Capabilities::of(&d.model).text_only && !parsed.is_text_only() {
                return PushReport::failed(
                    device,
                    "unsupported",
                    None,
                    format!(
                        "a {} shows text only; {} is graphical",
                        d.model,
                        parsed.root_name()
                    ),
                );
            }
        }
        let Some(ip) = self.phone_state.address_of(device) else {
            return PushReport::failed(
                device,
                "not_registered",
                None,
                format!("{device} is not registered"),
            );
        };
        let address = std::net::SocketAddr::new(ip, self.options.phone_web_port).to_string();
        let url = format!("http://{address}/CGI/Execute");
        let sent = async {
            let resp = self
                .client
                .post(&url)
                .basic_auth(user, Some(password))
                .form(&[("XML", object)])
                .timeout(self.options.push_timeout)
                .send()
                .await?;
            let status = resp.status();
            Ok::<_, reqwest::Error>((status, resp.text().await?))
        };
        let (http_status, body) = match sent.await {
            Ok(answer) => answer,
            Err(e) => {
                return PushReport::failed(
                    device,
                    "unreachable",
                    Some(address),
                    format!("{url}: {e}"),
                )
            }
        };
        match Object::parse(&body) {
            Ok(Object::Response { items }) => PushReport {
                device: device.to_owned(),
                status: "ok",
                address: Some(address),
                error_number: None,
                message: format!("{} item(s) done", items.len()),
                items: items
                    .into_iter()
                    .map(|i| PushItem {
                        status: i.status,
                        data: i.data,
                        url: i.url,
                    })
                    .collect(),
            },
            Ok(Object::Error { number }) => PushReport {
                device: device.to_owned(),
                status: "phone_error",
                address: Some(address),
                error_number: Some(number),
                items: vec![],
                message: error_meaning(number).to_owned(),
            },
            _ => PushReport::failed(
                device,
                "bad_response",
                Some(address),
                format!("HTTP {http_status}, not a CiscoIPPhoneResponse or CiscoIPPhoneError"),
            ),
        }
    }

    /// Push to many devices, at most `push_concurrency` at once; reports in the devices' order.
    pub async fn push_many(
        &self,
        devices: &[String],
        object: &str,
        user: &str,
        password: &str,
    ) -> Vec<PushReport> {
        let bound = tokio::sync::Semaphore::new(self.options.push_concurrency.max(1));
        let bound = &bound;
        futures_util::future::join_all(devices.iter().map(|d| async move {
            let _turn = bound.acquire().await;
            self.push_one(d, object, user, password).await
        }))
        .await
    }
}
