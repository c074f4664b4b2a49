//! Simulated Cisco enterprise SIP phones. Each phone has its own address (127.0.0.N in a
//! fleet), fetches `SEP<MAC>.cnf.xml`, registers its lines the way Cisco phones do, places and
//! answers calls with G.711 RTP, auto-answers when call control asks (remote-control REFER or
//! `Call-Info: answer-after`), re-reads its configuration on `service-control` / `check-sync`,
//! walks XML services like the phone's browser, and serves `/CGI/Execute` behind its
//! Authentication URL.
//!
//! It shares Dialtone's `sip` and `phone-xml` crates, so the tests also check every wire format
//! with an independent peer (sipp, xmlschema, golden files).
#![forbid(unsafe_code)]

pub mod browser;
pub mod listen;
pub mod media;
mod registration;
pub mod web;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use dialtone_phone_xml::config::Parsed;
use dialtone_sip::build;
use dialtone_sip::dialog::Dialog;
use dialtone_sip::digest::Challenge;
use dialtone_sip::endpoint::{Endpoint, Incoming, Peer, ServerTransaction, Transport};
use dialtone_sip::header::Name;
use dialtone_sip::message::Message;
use tokio::sync::broadcast;

use crate::media::{parse_sdp, Rtp};

/// What a simulated phone is.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `SEP` and the MAC address.
    pub device: String,
    /// SIP digest password (the configuration file names the user, never the password).
    pub password: String,
    /// The phone's own address; SIP, RTP and its web server bind here.
    pub ip: IpAddr,
    /// Where configuration files are fetched: `http://host:6970` or `tftp://host:69`.
    pub config_url: String,
    /// The phone's web server port (80 on real phones).
    pub web_port: u16,
    /// What the phone says it is (`x-CiscoIPPhoneModelName`, User-Agent).
    pub model: String,
    /// TCP (as Cisco phones, to the port the configuration file names) or UDP (then
    /// [`Phone::set_server`] names the node's UDP port).
    pub transport: Transport,
    /// One registration for the device instead of one per line.
    pub device_level: bool,
    /// Answer every incoming call by itself.
    pub answer_all: bool,
    /// The one codec the phone offers, answers and speaks (PCMU unless a test says A-law).
    pub law: media::Law,
    pub register_expires: u32,
    /// SIP retransmission timers (tests shrink them).
    pub t1: Duration,
    /// Where SIP goes instead of the call manager the configuration names (a UDP phone on a
    /// node whose UDP port differs from its TCP one).
    pub sip_server: Option<SocketAddr>,
}

impl Spec {
    pub fn new(device: &str, password: &str, ip: IpAddr, config_url: &str) -> Spec {
        Spec {
            device: device.to_owned(),
            password: password.to_owned(),
            ip,
            config_url: config_url.trim_end_matches('/').to_owned(),
            web_port: 8008,
            model: "CP-8865".into(),
            transport: Transport::Tcp,
            device_level: false,
            answer_all: false,
            law: media::Law::Mu,
            register_expires: 3600,
            t1: Duration::from_millis(500),
            sip_server: None,
        }
    }

    /// The MAC address in the device name.
    pub fn mac(&self) -> &str {
        self.device.strip_prefix("SEP").unwrap_or(&self.device)
    }
}

/// What happened on a phone, for tests and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    ConfigFetched {
        version_stamp: String,
    },
    Registered {
        aor: String,
    },
    RegisterFailed {
        aor: String,
        status: u16,
    },
    Ringing {
        call_id: String,
        from: String,
    },
    Connected {
        call_id: String,
    },
    Held {
        call_id: String,
    },
    Ended {
        call_id: String,
    },
    /// Call control asked the phone to answer by itself.
    AutoAnswer {
        call_id: String,
        how: &'static str,
    },
    /// A NOTIFY asked for a reset or a re-read of the configuration.
    Reset {
        action: String,
    },
    /// A push passed the Authentication URL and was carried out.
    Pushed {
        object: String,
    },
    /// A push the Authentication URL refused.
    PushRefused {
        user: String,
    },
    /// The phone sat idle and showed its idle URL.
    Idle {
        object: String,
    },
    /// A push (`RTPRx:`/`RTPMRx:`) told the phone to play a stream: it listens at `address`.
    Listening {
        address: String,
    },
    /// A push told it to stop (`RTPRx:Stop`/`RTPMRx:Stop`): what came (all of it in
    /// [`Phone::heard`]).
    StoppedListening {
        address: String,
        packets: u64,
        lost: u64,
        /// The strongest frequency of the last half second heard, Hz.
        strongest_hz: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    Ringing,
    Calling,
    Connected,
    Held,
}

/// A call as the phone sees it.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub call_id: String,
    pub state: CallState,
    pub incoming: bool,
    pub remote: String,
    pub rtp_sent: u64,
    pub rtp_received: u64,
    /// What the call's audio brings: its strongest frequency in the last half second, level.
    pub heard: listen::Heard,
}

struct Call {
    state: CallState,
    incoming: bool,
    remote: String,
    dialog: Option<Dialog>,
    /// The ringing INVITE's transaction, until it is answered.
    invite: Option<ServerTransaction>,
    local_tag: String,
    /// The INVITE's offer; None for an INVITE without offer (we offer in the 200).
    offer: Option<Bytes>,
    rtp: Rtp,
    sdp_version: u64,
}

struct LineRegistration {
    aor: String,
    call_id: String,
    cseq: u32,
}

struct Inner {
    spec: Spec,
    endpoint: Endpoint,
    server: Mutex<Option<Peer>>,
    server_host: Mutex<String>,
    config: Mutex<Parsed>,
    registrations: Mutex<Vec<LineRegistration>>,
    calls: Mutex<HashMap<String, Call>>,
    events: broadcast::Sender<PhoneEvent>,
    http: reqwest::Client,
    browser: Mutex<browser::Browser>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// When the user (or a push) last used the phone: the idle URL waits on it.
    last_used: Mutex<std::time::Instant>,
    /// The stream a push told the phone to play, while it plays.
    listening: Mutex<Option<listen::Listening>>,
    /// What the last stream brought, once stopped.
    last_heard: Mutex<Option<listen::Heard>>,
}

/// One simulated phone; clones share it. Dropping the last clone does not stop it: call
/// [`Phone::stop`].
#[derive(Clone)]
pub struct Phone {
    inner: Arc<Inner>,
}

fn peer_of(host: &str, port: u16, transport: Transport) -> Result<Peer> {
    let ip: IpAddr = host
        .parse()
        .with_context(|| format!("the configuration's call manager {host} is not an address"))?;
    Ok(Peer {
        transport,
        addr: SocketAddr::new(ip, port),
    })
}

impl Phone {
    /// Bind the phone's SIP endpoint and web server, fetch its configuration and register.
    pub async fn start(spec: Spec) -> Result<Phone> {
        let sip_addr = SocketAddr::new(spec.ip, 0);
        let (endpoint, incoming) = Endpoint::bind(
            Some(sip_addr),
            Some(sip_addr),
            dialtone_sip::endpoint::Config {
                timers: dialtone_sip::endpoint::Timers {
                    t1: spec.t1,
                    t2: spec.t1 * 8,
                    t4: spec.t1 * 10,
                    d: spec.t1 * 64,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("binding SIP on {}", spec.ip))?;
        let http = reqwest::Client::builder()
            .local_address(spec.ip)
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(10))
            .build()?;
        let (events, _) = broadcast::channel(256);
        let phone = Phone {
            inner: Arc::new(Inner {
                browser: Mutex::new(browser::Browser::default()),
                spec,
                endpoint,
                server: Mutex::new(None),
                server_host: Mutex::new(String::new()),
                config: Mutex::new(Parsed::default()),
                registrations: Mutex::new(Vec::new()),
                calls: Mutex::new(HashMap::new()),
                events,
                http,
                tasks: Mutex::new(Vec::new()),
                last_used: Mutex::new(std::time::Instant::now()),
                listening: Mutex::new(None),
                last_heard: Mutex::new(None),
            }),
        };
        let web = web::serve(phone.clone()).await?;
        let sip = tokio::spawn(phone.clone().receive(incoming));
        phone.inner.tasks.lock().unwrap().extend([web, sip]);
        phone.provision().await?;
        let refresh = tokio::spawn(phone.clone().keep_registered());
        let idle = tokio::spawn(phone.clone().idle_pull());
        phone.inner.tasks.lock().unwrap().extend([refresh, idle]);
        Ok(phone)
    }

    pub fn spec(&self) -> &Spec {
        &self.inner.spec
    }

    pub fn device(&self) -> &str {
        &self.inner.spec.device
    }

    pub fn events(&self) -> broadcast::Receiver<PhoneEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, e: PhoneEvent) {
        tracing::debug!(device = %self.inner.spec.device, event = ?e, "phone");
        let _ = self.inner.events.send(e);
    }

    /// The configuration file as last fetched.
    pub fn config(&self) -> Parsed {
        self.inner.config.lock().unwrap().clone()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn inner_events(&self) -> &broadcast::Sender<PhoneEvent> {
        &self.inner.events
    }

    pub(crate) fn inner_browser(&self) -> &Mutex<browser::Browser> {
        &self.inner.browser
    }

    /// Unregister and stop every task.
    pub async fn stop(&self) {
        self.stop_listening();
        // A node that is gone must not hold the phone up for a whole transaction timeout.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.register_all(0)).await;
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        self.inner.calls.lock().unwrap().clear();
    }

    /// Fetch the configuration file (HTTP or TFTP, as `config_url` says).
    pub async fn fetch_config(&self) -> Result<Parsed> {
        let spec = &self.inner.spec;
        let name = format!("{}.cnf.xml", spec.device);
        let text = if let Some(tftp) = spec.config_url.strip_prefix("tftp://") {
            let addr: SocketAddr = tftp.parse().context("tftp:// needs host:port")?;
            let bytes = web::tftp_get(spec.ip, addr, &name, Duration::from_secs(2)).await?;
            String::from_utf8(bytes).context("configuration file is not UTF-8")?
        } else {
            let url = format!("{}/{name}", spec.config_url);
            let resp = self
                .inner
                .http
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            if !resp.status().is_success() {
                bail!("GET {url}: {}", resp.status());
            }
            resp.text().await?
        };
        let parsed = Parsed::parse(&text).map_err(|e| anyhow!("{name}: {e}"))?;
        self.emit(PhoneEvent::ConfigFetched {
            version_stamp: parsed.version_stamp.clone(),
        });
        Ok(parsed)
    }

    /// Fetch the configuration, then register what it holds (and unregister lines it no
    /// longer has).
    pub async fn provision(&self) -> Result<()> {
        let parsed = self.fetch_config().await?;
        let (host, port) = parsed
            .call_manager
            .clone()
            .ok_or_else(|| anyhow!("the configuration names no call manager"))?;
        let transport = self.inner.spec.transport;
        let server = match self.inner.spec.sip_server {
            Some(addr) => Peer { transport, addr },
            None => peer_of(&host, port, transport)?,
        };
        let old: Vec<String> = self
            .inner
            .registrations
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.aor.clone())
            .collect();
        let new_aors: Vec<String> = if self.inner.spec.device_level {
            vec![self.inner.spec.device.clone()]
        } else {
            parsed.lines.iter().map(|(_, n, _)| n.clone()).collect()
        };
        for gone in old.iter().filter(|a| !new_aors.contains(a)) {
            let _ = self.register_one(gone, 0).await;
            self.inner
                .registrations
                .lock()
                .unwrap()
                .retain(|r| &r.aor != gone);
        }
        *self.inner.server.lock().unwrap() = Some(server);
        *self.inner.server_host.lock().unwrap() = host;
        *self.inner.config.lock().unwrap() = parsed;
        self.register_all(self.inner.spec.register_expires).await
    }

    /// The phone was used: the idle timer starts again.
    pub(crate) fn touch(&self) {
        *self.inner.last_used.lock().unwrap() = std::time::Instant::now();
    }

    /// Phone-initiated pull: after the configuration's idle timeout without use (and without
    /// calls), fetch the idle URL and show it.
    async fn idle_pull(self) {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let (url, timeout) = {
                let cfg = self.inner.config.lock().unwrap();
                (cfg.idle_url.clone(), cfg.idle_timeout)
            };
            if url.is_empty() || timeout == 0 || !self.inner.calls.lock().unwrap().is_empty() {
                continue;
            }
            let idle_for = self.inner.last_used.lock().unwrap().elapsed();
            if idle_for >= Duration::from_secs(timeout.into()) {
                match self.open(&url).await {
                    Ok(o) => self.emit(PhoneEvent::Idle {
                        object: o.root_name().to_owned(),
                    }),
                    Err(e) => tracing::debug!(error = %e, "idle URL"),
                }
                self.touch();
            }
        }
    }

    async fn receive(self, mut incoming: tokio::sync::mpsc::Receiver<Incoming>) {
        while let Some(i) = incoming.recv().await {
            match i {
                Incoming::Request(tx) => {
                    let phone = self.clone();
                    tokio::spawn(async move { phone.on_request(tx).await });
                }
                Incoming::Ack { message, .. } => self.on_ack(&message),
            }
        }
    }

    async fn on_request(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let method = req.method().unwrap_or("").to_owned();
        let call_id = req.call_id().unwrap_or("").to_owned();
        let in_dialog = req.to().and_then(|t| t.tag().map(str::to_owned)).is_some();
        match method.as_str() {
            "INVITE" if !in_dialog => self.on_invite(tx).await,
            "INVITE" => self.on_reinvite(tx).await,
            "BYE" => {
                let known = self.inner.calls.lock().unwrap().remove(&call_id).is_some();
                tx.reply(if known { 200 } else { 481 }, None).await;
                if known {
                    self.emit(PhoneEvent::Ended { call_id });
                }
            }
            "CANCEL" => {
                tx.reply(200, None).await;
                let call = self.inner.calls.lock().unwrap().remove(&call_id);
                if let Some(invite) = call.and_then(|c| c.invite) {
                    invite.reply(487, None).await;
                    self.emit(PhoneEvent::Ended { call_id });
                }
            }
            "REFER" => self.on_refer(tx).await,
            "NOTIFY" => self.on_notify(tx).await,
            "OPTIONS" | "INFO" | "UPDATE" => tx.reply(200, None).await,
            _ => tx.reply(501, None).await,
        }
    }

    async fn on_invite(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let call_id = req.call_id().unwrap_or("").to_owned();
        let from = req
            .from()
            .map(|f| f.uri_str.to_string())
            .unwrap_or_default();
        let rtp = match Rtp::open(self.inner.spec.ip, self.inner.spec.law).await {
            Ok(r) => r,
            Err(_) => {
                tx.reply(500, None).await;
                return;
            }
        };
        let local_tag = build::token();
        let body = req.body();
        let auto = req
            .values_named("Call-Info")
            .any(|v| v.contains("answer-after=0"))
            || req
                .values_named("Alert-Info")
                .any(|v| v.contains("autoanswer"));
        self.inner.calls.lock().unwrap().insert(
            call_id.clone(),
            Call {
                state: CallState::Ringing,
                incoming: true,
                remote: from.clone(),
                dialog: Dialog::uas(&req, &local_tag),
                invite: Some(tx.clone()),
                local_tag: local_tag.clone(),
                offer: (!body.is_empty()).then_some(body),
                rtp,
                sdp_version: 1,
            },
        );
        let ringing = build::response(&req, 180, Some(tx.peer.addr), Some(&local_tag))
            .header("Contact", &self.contact(&self.inner.spec.device))
            .finish();
        tx.respond(ringing).await;
        self.emit(PhoneEvent::Ringing {
            call_id: call_id.clone(),
            from,
        });
        if auto || self.inner.spec.answer_all {
            if auto {
                self.emit(PhoneEvent::AutoAnswer {
                    call_id: call_id.clone(),
                    how: "Call-Info",
                });
            }
            let _ = self.answer(&call_id).await;
        }
    }

    /// Answer a ringing call: 200 with our SDP (an answer, or an offer for an INVITE without
    /// one).
    pub async fn answer(&self, call_id: &str) -> Result<()> {
        self.touch();
        let (tx, body) = {
            let mut calls = self.inner.calls.lock().unwrap();
            let call = calls
                .get_mut(call_id)
                .ok_or_else(|| anyhow!("no call {call_id}"))?;
            let tx = call
                .invite
                .take()
                .ok_or_else(|| anyhow!("{call_id} is not ringing"))?;
            if let Some(offer) = call.offer.as_ref().and_then(|o| parse_sdp(o)) {
                call.rtp.direct(offer.receives.then_some(offer.addr));
                call.state = CallState::Connected;
            }
            let body = media::sdp(
                call.rtp.law,
                self.inner.spec.ip,
                call.rtp.port,
                1,
                call.sdp_version,
                "sendrecv",
            );
            (tx, body)
        };
        let local_tag = self
            .inner
            .calls
            .lock()
            .unwrap()
            .get(call_id)
            .map(|c| c.local_tag.clone())
            .unwrap_or_default();
        let ok = build::response(&tx.request, 200, Some(tx.peer.addr), Some(&local_tag))
            .header("Contact", &self.contact(&self.inner.spec.device))
            .body("application/sdp", Bytes::from(body))
            .finish();
        tx.respond(ok).await;
        let connected = self
            .inner
            .calls
            .lock()
            .unwrap()
            .get(call_id)
            .is_some_and(|c| c.state == CallState::Connected);
        if connected {
            self.emit(PhoneEvent::Connected {
                call_id: call_id.to_owned(),
            });
        }
        Ok(())
    }

    fn on_ack(&self, ack: &Message) {
        let call_id = ack.call_id().unwrap_or("").to_owned();
        let body = ack.body();
        let mut connected = false;
        if let Some(call) = self.inner.calls.lock().unwrap().get_mut(&call_id) {
            if let Some(answer) = parse_sdp(&body) {
                // The answer to the offer we made in the 200 (an INVITE without offer).
                call.rtp.direct(answer.receives.then_some(answer.addr));
                connected = call.state != CallState::Connected;
                call.state = CallState::Connected;
            }
        }
        if connected {
            self.emit(PhoneEvent::Connected { call_id });
        }
    }

    async fn on_reinvite(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let call_id = req.call_id().unwrap_or("").to_owned();
        let offer = parse_sdp(&req.body());
        let reply = {
            let mut calls = self.inner.calls.lock().unwrap();
            calls.get_mut(&call_id).map(|call| {
                call.sdp_version += 1;
                let direction = match &offer {
                    Some(o) if !o.sends && !o.receives => "inactive",
                    Some(o) if !o.sends => "sendonly",
                    Some(o) if !o.receives => "recvonly",
                    _ => "sendrecv",
                };
                if let Some(o) = &offer {
                    call.rtp.direct(o.receives.then_some(o.addr));
                    call.state = if o.receives {
                        CallState::Connected
                    } else {
                        CallState::Held
                    };
                }
                let body = media::sdp(
                    call.rtp.law,
                    self.inner.spec.ip,
                    call.rtp.port,
                    1,
                    call.sdp_version,
                    direction,
                );
                build::response(&req, 200, Some(tx.peer.addr), Some(&call.local_tag))
                    .header("Contact", &self.contact(&self.inner.spec.device))
                    .body("application/sdp", Bytes::from(body))
                    .finish()
            })
        };
        match reply {
            Some(r) => tx.respond(r).await,
            None => tx.reply(481, None).await,
        }
    }

    async fn on_refer(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let body = String::from_utf8_lossy(&req.body()).into_owned();
        let is_remote_cc = req
            .value(Name::ContentType)
            .is_some_and(|t| t.contains("x-cisco-remotecc-request"));
        if !is_remote_cc {
            tx.reply(501, None).await;
            return;
        }
        let Ok(root) = dialtone_phone_xml::Element::parse(&body) else {
            tx.reply(400, None).await;
            return;
        };
        let (verb, request) = match root.children.first() {
            Some(r) => (r.name.clone(), r),
            None => {
                tx.reply(400, None).await;
                return;
            }
        };
        let call_id = request
            .first("dialogid")
            .and_then(|d| d.text_of("callid"))
            .unwrap_or_default()
            .to_owned();
        if !self.inner.calls.lock().unwrap().contains_key(&call_id) {
            tx.reply(481, None).await;
            return;
        }
        tx.reply(202, Some(&build::token())).await;
        match verb.as_str() {
            "answercallreq" => {
                self.emit(PhoneEvent::AutoAnswer {
                    call_id: call_id.clone(),
                    how: "remotecc",
                });
                let _ = self.answer(&call_id).await;
            }
            "holdretrievereq" => {
                let hold = request
                    .text_of("action")
                    .is_none_or(|a| a.eq_ignore_ascii_case("hold"));
                let _ = self.hold(&call_id, hold).await;
            }
            _ => {}
        }
    }

    async fn on_notify(&self, tx: ServerTransaction) {
        let req = tx.request.clone();
        let event = req
            .value(Name::Event)
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = String::from_utf8_lossy(&req.body()).into_owned();
        let call_id = req.call_id().unwrap_or("").to_owned();
        match event.split(';').next().unwrap_or("") {
            "service-control" => {
                let named = body
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("RegisterCallId="))
                    .map(|v| {
                        v.trim()
                            .trim_start_matches('{')
                            .trim_end_matches('}')
                            .to_owned()
                    });
                let ours = named
                    .as_deref()
                    .is_some_and(|n| self.register_call_ids().iter().any(|c| c == n));
                if !ours {
                    // Not about our registration: a phone ignores it.
                    tx.reply(200, None).await;
                    return;
                }
                tx.reply(200, None).await;
                let action = body
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("action="))
                    .unwrap_or("restart")
                    .to_owned();
                self.emit(PhoneEvent::Reset { action });
                let phone = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = phone.provision().await {
                        tracing::warn!(error = %e, "re-provisioning failed");
                    }
                });
            }
            "check-sync" => {
                tx.reply(200, None).await;
                self.emit(PhoneEvent::Reset {
                    action: "check-sync".into(),
                });
                let phone = self.clone();
                tokio::spawn(async move {
                    let _ = phone.provision().await;
                });
            }
            "talk" => {
                tx.reply(200, None).await;
                let ringing = self
                    .inner
                    .calls
                    .lock()
                    .unwrap()
                    .get(&call_id)
                    .map(|c| c.state);
                match ringing {
                    Some(CallState::Ringing) => {
                        self.emit(PhoneEvent::AutoAnswer {
                            call_id: call_id.clone(),
                            how: "talk",
                        });
                        let _ = self.answer(&call_id).await;
                    }
                    Some(CallState::Held) => {
                        let _ = self.hold(&call_id, false).await;
                    }
                    _ => {}
                }
            }
            "hold" => {
                tx.reply(200, None).await;
                let _ = self.hold(&call_id, true).await;
            }
            _ => tx.reply(200, None).await,
        }
    }

    /// Key `digits` on a call, as RFC 4733 telephone-events in its audio stream (a code at
    /// the node's prompt tone, say).
    pub fn key(&self, call_id: &str, digits: &str) -> Result<()> {
        let calls = self.inner.calls.lock().unwrap();
        let call = calls
            .get(call_id)
            .ok_or_else(|| anyhow!("no call {call_id}"))?;
        call.rtp.key(digits);
        Ok(())
    }

    /// Put a call on hold (re-INVITE sendonly) or resume it.
    pub async fn hold(&self, call_id: &str, hold: bool) -> Result<()> {
        let (req, server) = {
            let mut calls = self.inner.calls.lock().unwrap();
            let call = calls
                .get_mut(call_id)
                .ok_or_else(|| anyhow!("no call {call_id}"))?;
            let dialog = call
                .dialog
                .as_mut()
                .ok_or_else(|| anyhow!("{call_id} has no dialog"))?;
            call.sdp_version += 1;
            let body = media::sdp(
                call.rtp.law,
                self.inner.spec.ip,
                call.rtp.port,
                1,
                call.sdp_version,
                if hold { "sendonly" } else { "sendrecv" },
            );
            let req = dialog
                .request(
                    "INVITE",
                    &self.inner.endpoint.via(self.inner.spec.transport),
                )
                .header("Contact", &self.contact(&self.inner.spec.device))
                .body("application/sdp", Bytes::from(body))
                .finish();
            (req, self.server()?)
        };
        let resp = self.final_response(req.clone(), server).await?;
        if resp.status() == Some(200) {
            let ack = dialtone_sip::endpoint::ack_for(&Message::parse(req)?, &resp);
            self.inner.endpoint.send_to(server, ack).await?;
            let remote = parse_sdp(&resp.body());
            let mut calls = self.inner.calls.lock().unwrap();
            if let Some(call) = calls.get_mut(call_id) {
                call.state = if hold {
                    CallState::Held
                } else {
                    CallState::Connected
                };
                call.rtp
                    .direct(remote.filter(|r| r.receives && !hold).map(|r| r.addr));
            }
            drop(calls);
            if hold {
                self.emit(PhoneEvent::Held {
                    call_id: call_id.to_owned(),
                });
            }
            Ok(())
        } else {
            bail!("re-INVITE: {:?}", resp.status())
        }
    }

    /// Place a call; returns its Call-ID once answered.
    pub async fn dial(&self, number: &str) -> Result<String> {
        self.touch();
        let host = self.inner.server_host.lock().unwrap().clone();
        let line = self
            .inner
            .config
            .lock()
            .unwrap()
            .lines
            .first()
            .map(|(_, n, _)| n.clone())
            .unwrap_or_else(|| self.inner.spec.device.clone());
        let rtp = Rtp::open(self.inner.spec.ip, self.inner.spec.law).await?;
        let call_id = format!("{}-{}", build::token(), self.inner.spec.mac());
        let tag = build::token();
        let uri = format!("sip:{number}@{host}");
        let offer = media::sdp(rtp.law, self.inner.spec.ip, rtp.port, 1, 1, "sendrecv");
        let from = format!("<sip:{line}@{host}>;tag={tag}");
        let make = |extra: u32, auth: Option<(&'static str, String)>| {
            let mut b = build::request("INVITE", &uri)
                .header("Via", &self.inner.endpoint.via(self.inner.spec.transport))
                .header("Max-Forwards", "70")
                .header("From", &from)
                .header("To", &format!("<{uri}>"))
                .header("Call-ID", &call_id)
                .header("CSeq", &format!("{} INVITE", 101 + extra))
                .header("Contact", &self.contact(&line))
                .header("User-Agent", &self.user_agent())
                .header(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, OPTIONS, INFO, UPDATE",
                );
            if let Some((name, value)) = auth {
                b = b.header(name, &value);
            }
            b.body("application/sdp", Bytes::from(offer.clone()))
                .finish()
        };
        self.inner.calls.lock().unwrap().insert(
            call_id.clone(),
            Call {
                state: CallState::Calling,
                incoming: false,
                remote: uri.clone(),
                dialog: None,
                invite: None,
                local_tag: tag.clone(),
                offer: None,
                rtp,
                sdp_version: 1,
            },
        );
        // A failure's ACK (the 407 too) is the INVITE client transaction's own.
        let (req, resp) = match self.request_with_auth("INVITE", &uri, make).await {
            Ok(x) => x,
            Err(e) => {
                self.inner.calls.lock().unwrap().remove(&call_id);
                return Err(e);
            }
        };
        let server = self.server()?;
        let status = resp.status().unwrap_or(0);
        if !(200..300).contains(&status) {
            self.inner.calls.lock().unwrap().remove(&call_id);
            bail!("call to {number}: {status}");
        }
        let invite = Message::parse(req)?;
        let ack = dialtone_sip::endpoint::ack_for(&invite, &resp);
        self.inner.endpoint.send_to(server, ack).await?;
        let remote = parse_sdp(&resp.body());
        {
            let mut calls = self.inner.calls.lock().unwrap();
            if let Some(call) = calls.get_mut(&call_id) {
                call.dialog = Dialog::uac(&invite, &resp);
                call.state = CallState::Connected;
                call.rtp
                    .direct(remote.filter(|r| r.receives).map(|r| r.addr));
            }
        }
        self.emit(PhoneEvent::Connected {
            call_id: call_id.clone(),
        });
        Ok(call_id)
    }

    /// Hang up: BYE a connected call, refuse a ringing one.
    pub async fn hangup(&self, call_id: &str) -> Result<()> {
        let call = self.inner.calls.lock().unwrap().remove(call_id);
        let Some(mut call) = call else {
            bail!("no call {call_id}")
        };
        if let Some(tx) = call.invite.take() {
            tx.reply(486, Some(&call.local_tag)).await;
        } else if let Some(dialog) = call.dialog.as_mut() {
            let bye = dialog
                .request("BYE", &self.inner.endpoint.via(self.inner.spec.transport))
                .finish();
            let _ = self.final_response(bye, self.server()?).await;
        }
        self.emit(PhoneEvent::Ended {
            call_id: call_id.to_owned(),
        });
        Ok(())
    }

    pub fn calls(&self) -> Vec<CallInfo> {
        self.inner
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(id, c)| CallInfo {
                call_id: id.clone(),
                state: c.state,
                incoming: c.incoming,
                remote: c.remote.clone(),
                rtp_sent: c.rtp.sent.load(Ordering::Relaxed),
                rtp_received: c.rtp.received.load(Ordering::Relaxed),
                heard: c.rtp.ear.heard(),
            })
            .collect()
    }

    /// Wait for an event that `pred` accepts.
    pub async fn wait_for(
        &self,
        rx: &mut broadcast::Receiver<PhoneEvent>,
        timeout: Duration,
        pred: impl Fn(&PhoneEvent) -> bool,
    ) -> Result<PhoneEvent> {
        let device = self.inner.spec.device.clone();
        tokio::time::timeout(timeout, async {
            loop {
                match rx.recv().await {
                    Ok(e) if pred(&e) => return Ok(e),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => bail!("{device} stopped"),
                }
            }
        })
        .await
        .map_err(|_| anyhow!("{device}: no such event within {timeout:?}"))?
    }
}
