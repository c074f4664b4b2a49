//! WebDialer: click-to-call for web pages (`html`), desktop programs (`soap`, Cisco's WSDL)
//! and our own JSON API (`api`), plus the Redirector that sends a user to their own cluster's
//! WebDialer (`redirector`). Every surface comes down to [`WebDialer`]'s operations, which
//! place calls through call control's CTI (`CtiSession::make_call`: the user's phone first, then the
//! destination) and find a logged-in user's phone through Extension Mobility.

#![forbid(unsafe_code)]

pub mod api;
pub mod html;
pub mod redirector;
pub mod soap;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dialtone_cti::{Command, CtiError, CtiSession, MakeCall};
use dialtone_platform::{Platform, Starting};
use dialtone_store::webdialer::{Preference, WebDialerUser};
use dialtone_store::{now_ms, Store, StoreError};
use dialtone_web::guesses::Guesses;
use dialtone_web::{Accounts, App, AuthError};

/// WebDialer as the node serves it: the servlet, the Redirector and SOAP where credentials
/// travel (a browser's GET over HTTP is sent to HTTPS), and the JSON API.
pub fn app(p: &Platform) -> Starting<'_> {
    let wd = WebDialer::new(p, redirector::Redirector::default());
    let mut app = App::new("webdialer");
    app.surfaces.credentials = html::router(wd.clone())
        .merge(redirector::router(wd.clone()))
        .merge(soap::router(wd.clone()))
        .merge(api::router(wd));
    app.surfaces.browser_prefixes.push("/webdialer");
    app.openapi = api::openapi();
    Box::pin(async move { Ok(app) })
}

/// The application-user role that lets a program act for any end user.
pub const PROXY_ROLE: &str = "Standard WebDialer Proxy Rights";

/// Unified CM's WebDialer response codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Code {
    Success = 0,
    CallFailure = 1,
    Authentication = 2,
    NoProxyRights = 3,
    Directory = 4,
    NoDevice = 5,
    Unavailable = 6,
    Unreachable = 7,
    ServiceError = 8,
    Overloaded = 9,
}

impl Code {
    /// Cisco's description of the code, which clients show.
    pub fn description(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::CallFailure => "Call failure error",
            Code::Authentication => "Authentication error",
            Code::NoProxyRights => "No authentication proxy rights",
            Code::Directory => "Directory error",
            Code::NoDevice => "No device is configured for the user or missing parameters",
            Code::Unavailable => "Service temporarily unavailable",
            Code::Unreachable => "Destination cannot be reached",
            Code::ServiceError => "Service error",
            Code::Overloaded => "Service overloaded",
        }
    }
}

/// What an operation came to: a code and the words for it. `message` is what a person is told
/// (the seed's sentences where it has them). As an error, it reads as its description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.description())]
pub struct Reply {
    pub code: Code,
    pub message: String,
}

impl Reply {
    pub fn new(code: Code, message: impl Into<String>) -> Reply {
        Reply {
            code,
            message: message.into(),
        }
    }

    pub fn plain(code: Code) -> Reply {
        Reply::new(code, code.description())
    }

    /// `description (detail)`, or the description alone.
    pub fn description(&self) -> String {
        if self.message == self.code.description() {
            self.message.clone()
        } else {
            format!("{}: {}", self.code.description(), self.message)
        }
    }
}

impl From<StoreError> for Reply {
    fn from(e: StoreError) -> Reply {
        tracing::error!(error = %e, "webdialer: store");
        Reply::new(Code::Directory, "the user directory cannot be read")
    }
}

/// How a request proves who sent it (SOAP's Credential; the HTML pages and JSON API make one
/// from their session).
#[derive(Debug, Clone, Default)]
pub struct Credential {
    pub user_id: String,
    pub password: String,
    /// A WebDialer session token or an application user's API token, instead of a password.
    pub token: Option<String>,
}

/// Who a request is from, once proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    EndUser(String),
    /// An application user, `proxy` when it holds WebDialer proxy rights.
    Application {
        user: String,
        proxy: bool,
    },
}

/// Which phone and line a call request is for (SOAP's UserProfile; saved preferences).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The end user the call is for; empty means the caller itself.
    pub user: String,
    pub device: Option<String>,
    pub line: Option<String>,
    pub from: Devices,
}

/// Which of a user's phones a call may be placed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Devices {
    /// The phones associated with the user ("Use permanent device").
    #[default]
    Permanent,
    /// The phones the user is logged in to with Extension Mobility ("Use Extension Mobility").
    LoggedIn,
    /// Either: SOAP's UserProfile names the device, and Unified CM ignores its `supportEM`
    /// flag, so a phone the user is logged in to is as good as an associated one.
    Any,
}

impl Devices {
    /// The choice the preferences page saves as its "Use Extension Mobility" box.
    pub fn chosen(use_em: bool) -> Devices {
        if use_em {
            Devices::LoggedIn
        } else {
            Devices::Permanent
        }
    }
}

impl From<&Preference> for Profile {
    fn from(p: &Preference) -> Profile {
        Profile {
            user: String::new(),
            device: p.device.clone(),
            line: p.line.clone(),
            from: Devices::chosen(p.use_em),
        }
    }
}

/// A device a user may place calls from, with its lines ("DN" and partition).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserDevice {
    pub name: String,
    pub description: String,
    pub model: String,
    pub lines: Vec<(String, Option<String>)>,
    /// Logged in to with Extension Mobility (not one of the user's own devices).
    pub mobility: bool,
}

/// The phone and line a call was placed from, so it can be ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placed {
    pub call: u64,
    pub device: String,
    pub line: String,
    pub destination: String,
}

/// WebDialer's service parameters and this node's Service Activation, as one snapshot read
/// again only after a configuration change (the store's change counter moved), so requests
/// read no SQL for them and never see a setting older than the last committed change.
#[derive(Debug, Clone)]
pub struct Parameters {
    pub session_expiry_hours: i64,
    pub max_concurrent: usize,
    pub end_call_dialog_seconds: i64,
    pub list_of_webdialers: String,
    pub redirector_timeout_ms: u64,
    /// Why WebDialer does not serve on this node, if it does not (code 6).
    pub activation: Result<(), Reply>,
}

pub struct WebDialer {
    pub store: Store,
    pub accounts: Accounts,
    /// This node's name, for Service Activation.
    node_name: String,
    /// Wrong passwords per user ID (the budget the phones' Authentication URL spends too).
    guesses: Arc<Guesses>,
    /// CTI, trusted: WebDialer checks itself that a user calls only from their own phones;
    /// its snapshot says which phones a user is logged in to with Extension Mobility.
    pub cti: CtiSession,
    in_flight: AtomicUsize,
    pub redirector: redirector::Redirector,
    /// The settings as last read, with the configuration version they were read at.
    settings: std::sync::Mutex<Option<(u64, Arc<Parameters>)>>,
}

/// Counts a call request in flight for as long as it lives.
#[derive(Debug)]
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Count a call request in, or refuse it with code 9 when `max` are in flight already.
fn admit(in_flight: &AtomicUsize, max: usize) -> Result<InFlight<'_>, Reply> {
    let before = in_flight.fetch_add(1, Ordering::AcqRel);
    let counted = InFlight(in_flight);
    if before >= max {
        return Err(Reply::new(
            Code::Overloaded,
            format!("more than {max} call requests at once (Maximum Concurrent Call Requests)"),
        ));
    }
    Ok(counted)
}

impl WebDialer {
    pub fn new(p: &Platform, redirector: redirector::Redirector) -> Arc<WebDialer> {
        Arc::new(WebDialer {
            store: p.store.clone(),
            accounts: p.accounts.clone(),
            node_name: p.site.node_name.clone(),
            guesses: p.guesses.clone(),
            cti: p.cti.trusted("webdialer"),
            in_flight: AtomicUsize::new(0),
            redirector,
            settings: std::sync::Mutex::new(None),
        })
    }

    /// The current settings (see [`Parameters`]).
    pub async fn parameters(&self) -> Result<Arc<Parameters>, Reply> {
        let version = *self.store.changes().borrow();
        if let Some((seen, settings)) = self.settings.lock().expect("settings").as_ref() {
            if *seen == version {
                return Ok(settings.clone());
            }
        }
        let settings = Arc::new(self.read_parameters().await?);
        *self.settings.lock().expect("settings") = Some((version, settings.clone()));
        Ok(settings)
    }

    async fn read_parameters(&self) -> Result<Parameters, StoreError> {
        let store = &self.store;
        let value = |name: &'static str| store.parameter_value("webdialer", name);
        let int = |v: serde_json::Value, default: i64| v.as_i64().unwrap_or(default);
        Ok(Parameters {
            session_expiry_hours: int(value("user_session_expiry_hours").await?, 0),
            max_concurrent: int(value("max_concurrent_call_requests").await?, 1000).max(1) as usize,
            end_call_dialog_seconds: int(value("end_call_dialog_seconds").await?, 15),
            list_of_webdialers: value("list_of_webdialers")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            redirector_timeout_ms: int(value("redirector_timeout_ms").await?, 5000).max(1) as u64,
            activation: self.read_activation().await?,
        })
    }

    /// Unified CM serves WebDialer where the Cisco WebDialer Web Service is activated: a node
    /// recorded in the store without "WebDialer" among its services answers code 6. A node
    /// with no record of its own (a single node set up without one) serves.
    pub async fn activated(&self) -> Result<(), Reply> {
        self.parameters().await?.activation.clone()
    }

    async fn read_activation(&self) -> Result<Result<(), Reply>, StoreError> {
        let node = &self.node_name;
        let nodes = dialtone_store::catalogue::resource("nodes").expect("catalogued");
        match self.store.get(nodes, node).await {
            Ok(record) => {
                let on = record["services"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|v| v == "WebDialer"));
                Ok(if on {
                    Ok(())
                } else {
                    Err(Reply::new(
                        Code::Unavailable,
                        format!("Cisco WebDialer is not activated on node {node}"),
                    ))
                })
            }
            Err(StoreError::NotFound { .. }) => Ok(Ok(())),
            Err(e) => Err(e),
        }
    }

    /// Check an end user's password, counting wrong ones against the user ID (the same budget
    /// the phones' Authentication URL spends).
    pub async fn check_end_user(&self, user: &str, password: &str) -> Result<bool, Reply> {
        let guesses = &self.guesses;
        if user.is_empty() || password.is_empty() || !guesses.may_try(user) {
            return Ok(false);
        }
        match self.accounts.end_user(user, password).await {
            Ok(_) => Ok(true),
            Err(AuthError::Wrong) => {
                guesses.failed(user);
                Ok(false)
            }
            Err(e) => Err(Reply::new(Code::Directory, e.to_string())),
        }
    }

    /// Who a credential proves to be.
    pub async fn authenticate(&self, cred: &Credential) -> Result<Who, Reply> {
        let refused = || Reply::plain(Code::Authentication);
        if let Some(token) = cred.token.as_deref().filter(|t| !t.is_empty()) {
            if let Some((user, _)) = self.store.webdialer_session(token, now_ms()).await? {
                return Ok(Who::EndUser(user));
            }
            return match self.accounts.token_caller(token).await {
                Ok(c) => Ok(Who::Application {
                    proxy: c.has_role(PROXY_ROLE),
                    user: c.user_id,
                }),
                Err(_) => Err(refused()),
            };
        }
        // An end user, else an application user; only a password neither accepts counts as a
        // wrong guess (so a busy application is never locked out by its own requests).
        let (user, password) = (cred.user_id.as_str(), cred.password.as_str());
        let guesses = &self.guesses;
        if user.is_empty() || password.is_empty() || !guesses.may_try(user) {
            return Err(refused());
        }
        match self.accounts.end_user(user, password).await {
            Ok(_) => return Ok(Who::EndUser(user.to_string())),
            Err(AuthError::Wrong) => {}
            Err(e) => return Err(Reply::new(Code::Directory, e.to_string())),
        }
        match self.accounts.application_user(user, password).await {
            Ok(c) => Ok(Who::Application {
                proxy: c.has_role(PROXY_ROLE),
                user: c.user_id,
            }),
            Err(_) => {
                guesses.failed(user);
                Err(refused())
            }
        }
    }

    /// The end user a request acts for: the caller itself, or, for an application user with
    /// proxy rights where `proxy_allowed`, the user it names.
    pub async fn acting_for(
        &self,
        cred: &Credential,
        named: &str,
        proxy_allowed: bool,
    ) -> Result<String, Reply> {
        match self.authenticate(cred).await? {
            Who::EndUser(u) if named.is_empty() || named == u => Ok(u),
            Who::EndUser(u) => Err(Reply::new(
                Code::NoProxyRights,
                format!("{u} may not act for {named}"),
            )),
            Who::Application { proxy: true, .. } if proxy_allowed => {
                if named.is_empty() {
                    Err(Reply::new(
                        Code::NoDevice,
                        "name the user the request is for",
                    ))
                } else {
                    Ok(named.to_string())
                }
            }
            Who::Application { user, .. } => Err(Reply::new(
                Code::NoProxyRights,
                format!("{user} lacks {PROXY_ROLE}"),
            )),
        }
    }

    async fn user(&self, user: &str) -> Result<WebDialerUser, Reply> {
        self.store
            .webdialer_user(user)
            .await?
            .ok_or_else(|| Reply::new(Code::Directory, format!("no user {user}")))
    }

    /// The devices `user` may call from: their own (owned or controlled) and, after them, the
    /// phones they are logged in to with Extension Mobility. Lines as call control has them
    /// now (a logged-in phone carries the profile's lines).
    pub async fn devices(&self, user: &str) -> Result<Vec<UserDevice>, Reply> {
        let u = self.user(user).await?;
        Ok(self.devices_of(&u))
    }

    fn devices_of(&self, u: &WebDialerUser) -> Vec<UserDevice> {
        let snapshot = self.cti.directory();
        let describe = |name: &str, description: &str, mobility: bool| {
            snapshot.device(name).map(|d| UserDevice {
                name: d.name.clone(),
                description: description.to_string(),
                model: d.model.clone(),
                lines: d
                    .lines
                    .iter()
                    .map(|a| (a.pattern.clone(), a.partition.clone()))
                    .collect(),
                mobility,
            })
        };
        let mut out: Vec<UserDevice> = u
            .devices
            .iter()
            .filter_map(|(name, description)| describe(name, description, false))
            .collect();
        for d in self.cti.directory().devices_of(&u.user_id) {
            if !out.iter().any(|o| o.name == d) {
                out.extend(describe(&d, "", true));
            }
        }
        out
    }

    /// The user's primary line: their primary extension, else their first device's first line.
    pub async fn primary_line(&self, user: &str) -> Result<String, Reply> {
        let u = self.user(user).await?;
        if let Some(n) = &u.primary_extension {
            return Ok(n.clone());
        }
        self.devices_of(&u)
            .iter()
            .find_map(|d| d.lines.first().map(|l| l.0.clone()))
            .ok_or_else(|| Reply::new(Code::NoDevice, "No supported device configured for user"))
    }

    /// Whether `user` is this cluster's (the Redirector asks every cluster).
    pub async fn is_cluster_user(&self, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .webdialer_user(user)
            .await?
            .is_some_and(|u| u.home_cluster))
    }

    /// The phone and line a call for `user` is placed from.
    fn choose(
        &self,
        u: &WebDialerUser,
        profile: &Profile,
        destination: &str,
    ) -> Result<(String, String), Reply> {
        let snapshot = self.cti.directory();
        let permanent = || -> Vec<String> {
            u.devices
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| snapshot.device(n).is_some_and(|d| !d.lines.is_empty()))
                .collect()
        };
        let logged_in = profile.from == Devices::LoggedIn;
        let candidates: Vec<String> = match profile.from {
            Devices::Permanent => permanent(),
            Devices::LoggedIn => {
                let seated = snapshot.devices_of(&u.user_id);
                if seated.is_empty() {
                    let message = if destination.is_empty() {
                        "User not logged in on any device".to_string()
                    } else {
                        format!("Call to {destination} failed: User not logged in on any device")
                    };
                    return Err(Reply::new(Code::NoDevice, message));
                }
                seated
            }
            Devices::Any => {
                let mut all = permanent();
                for d in snapshot.devices_of(&u.user_id) {
                    if !all.contains(&d) {
                        all.push(d);
                    }
                }
                all
            }
        };
        if candidates.is_empty() {
            return Err(Reply::new(
                Code::NoDevice,
                "No supported device configured for user",
            ));
        }
        let device = match profile.device.as_deref().filter(|d| !d.is_empty()) {
            Some(d) if candidates.iter().any(|c| c == d) => d.to_string(),
            // A saved device the user has since lost, or the permanent device named while
            // the user is logged in elsewhere: the first that is theirs now.
            Some(_) if logged_in => candidates[0].clone(),
            Some(d) => {
                return Err(Reply::new(
                    Code::NoDevice,
                    format!("device {d} is not configured for user {}", u.user_id),
                ))
            }
            None => candidates[0].clone(),
        };
        let config = snapshot
            .device(&device)
            .ok_or_else(|| Reply::new(Code::NoDevice, format!("no device {device}")))?;
        let line = match profile
            .line
            .as_deref()
            .map(line_number)
            .filter(|l| !l.is_empty())
        {
            Some(l) if config.lines.iter().any(|a| a.pattern == l) => l.to_string(),
            Some(_) if logged_in => config
                .lines
                .first()
                .map(|a| a.pattern.clone())
                .unwrap_or_default(),
            Some(l) => {
                return Err(Reply::new(
                    Code::NoDevice,
                    format!("line {l} is not on device {device}"),
                ))
            }
            None => config
                .lines
                .first()
                .map(|a| a.pattern.clone())
                .unwrap_or_default(),
        };
        if line.is_empty() {
            return Err(Reply::new(
                Code::NoDevice,
                "No supported device configured for user",
            ));
        }
        Ok((device, line))
    }

    /// Call `destination` for `user`: their phone rings first (answering by itself where it
    /// can), then the destination, with the line's and the device's calling search spaces.
    pub async fn make_call(
        &self,
        user: &str,
        destination: &str,
        profile: &Profile,
    ) -> Result<Placed, Reply> {
        let max = self.parameters().await?.max_concurrent;
        let _counted = admit(&self.in_flight, max)?;
        let destination = dialable(destination)?;
        let u = self.user(user).await?;
        let (device, line) = self.choose(&u, profile, &destination)?;
        let call = self
            .cti
            .make_call(MakeCall {
                line: line.clone(),
                device: Some(device.clone()),
                destination: destination.clone(),
            })
            .await
            .map_err(|e| cti_outcome(e, &destination))?;
        Ok(Placed {
            call,
            device,
            line,
            destination,
        })
    }

    /// End the call on `user`'s phone (the one the profile names, as for a call request): the
    /// newest call on that phone and line.
    pub async fn end_call(&self, user: &str, profile: &Profile) -> Result<u64, Reply> {
        let u = self.user(user).await?;
        let (device, line) = self.choose(&u, profile, "")?;
        let call = self
            .cti
            .calls()
            .into_iter()
            .filter(|v| {
                (v.calling_device.as_deref() == Some(device.as_str()) && v.calling == line)
                    || (v.called_device.as_deref() == Some(device.as_str()) && v.called == line)
            })
            .map(|v| v.id)
            .max()
            .ok_or_else(|| {
                Reply::new(
                    Code::CallFailure,
                    format!("no call on {device} line {line}"),
                )
            })?;
        self.cti
            .command(call, None, Command::Drop)
            .await
            .map_err(|e| cti_outcome(e, ""))?;
        Ok(call)
    }

    /// Open a WebDialer session for `user` lasting User Session Expiry: the token, when it
    /// ends (None: never) and the hours the setting gave.
    pub async fn open_session(&self, user: &str) -> Result<(String, Option<i64>, i64), Reply> {
        let hours = self.parameters().await?.session_expiry_hours;
        let now = now_ms();
        let expires = (hours > 0).then(|| now + hours * 3_600_000);
        let token = self
            .store
            .webdialer_session_open(user, now, expires)
            .await?
            .ok_or_else(|| Reply::new(Code::Authentication, format!("no user {user}")))?;
        Ok((token, expires, hours))
    }

    /// Whether `user` may save `p`: a permanent device must be one of theirs and the line on
    /// it. Otherwise the field at fault and why.
    pub async fn check_preference(
        &self,
        user: &str,
        p: &Preference,
    ) -> Result<Result<(), (&'static str, String)>, Reply> {
        let (false, Some(d)) = (p.use_em, &p.device) else {
            return Ok(Ok(()));
        };
        let devices = self.devices(user).await?;
        let Some(dev) = devices.iter().find(|x| &x.name == d && !x.mobility) else {
            return Ok(Err(("device", format!("{d} is not one of your devices"))));
        };
        match &p.line {
            Some(l) if !dev.lines.iter().any(|(n, _)| n == l) => {
                Ok(Err(("line", format!("line {l} is not on {d}"))))
            }
            _ => Ok(Ok(())),
        }
    }

    /// The user's saved preferences, if they saved any (without them, calls go from their
    /// first device).
    pub async fn preference(&self, user: &str) -> Result<Option<Preference>, Reply> {
        Ok(self.store.webdialer_preference(user).await?)
    }
}

/// "1001 ; Internal_PT" (getProfileSoap's line strings) or "1001" -> "1001".
fn line_number(s: &str) -> &str {
    s.split(';').next().unwrap_or("").trim()
}

/// A line as getProfileSoap shows it: "DN ; partition".
pub fn line_label(number: &str, partition: Option<&str>) -> String {
    format!("{number} ; {}", partition.unwrap_or(""))
}

/// The number to dial: the digits a person typed, without the spaces, dashes, dots and
/// brackets of a written number; `#` introduces Client Matter or Forced Authorization Codes.
/// SIP URIs and words are not dialled.
pub fn dialable(destination: &str) -> Result<String, Reply> {
    let digits: String = destination
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let ok = !digits.is_empty()
        && digits.len() <= 64
        && digits
            .char_indices()
            .all(|(i, c)| c.is_ascii_digit() || matches!(c, '*' | '#') || (c == '+' && i == 0));
    if ok {
        Ok(digits)
    } else if destination.trim().is_empty() {
        Err(Reply::new(Code::NoDevice, "no destination to call"))
    } else {
        Err(Reply::new(
            Code::Unreachable,
            format!("'{destination}' is not a number WebDialer can dial"),
        ))
    }
}

/// The destination with codes appended after `#`, as the dial plan takes them: the Forced
/// Authorization Code first, then the Client Matter Code.
pub fn with_codes(destination: &str, fac: Option<&str>, cmc: Option<&str>) -> String {
    let mut out = destination.to_string();
    for code in [fac, cmc].into_iter().flatten() {
        let code = code.trim();
        if !code.is_empty() {
            out.push('#');
            out.push_str(code);
        }
    }
    out
}

fn cti_outcome(e: dialtone_cti::Error, destination: &str) -> Reply {
    let e = match e {
        dialtone_cti::Error::Call(e) => e,
        // A trusted session is refused nothing else but by a fault of the node's.
        other => return Reply::new(Code::ServiceError, other.to_string()),
    };
    match e {
        CtiError::Unroutable { .. } => Reply::new(
            Code::Unreachable,
            format!("Call to {destination} failed: {e}"),
        ),
        CtiError::NoSuchLine(_) | CtiError::NoSuchDevice(_) | CtiError::NotAParty(_) => {
            Reply::new(Code::NoDevice, e.to_string())
        }
        CtiError::NotRegistered(_) | CtiError::State(_) | CtiError::Device(_) => Reply::new(
            Code::CallFailure,
            format!("Call to {destination} failed: {e}"),
        ),
        CtiError::NoSuchCall(_) => Reply::new(Code::CallFailure, e.to_string()),
        CtiError::NoSuchSlot(_) | CtiError::Taken(_) => {
            Reply::new(Code::ServiceError, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_numbers_are_dialled_as_digits_and_uris_are_not() {
        assert_eq!(dialable(" +1 (408) 555-0100 ").unwrap(), "+14085550100");
        assert_eq!(dialable("5555111222#1234").unwrap(), "5555111222#1234");
        assert_eq!(
            dialable("sip:bob@example.com").unwrap_err().code,
            Code::Unreachable
        );
        assert_eq!(dialable("12+3").unwrap_err().code, Code::Unreachable);
        assert_eq!(dialable("  ").unwrap_err().code, Code::NoDevice);
    }

    #[test]
    fn call_requests_past_the_maximum_are_refused_with_code_9() {
        let n = AtomicUsize::new(0);
        let first = admit(&n, 2).unwrap();
        let second = admit(&n, 2).unwrap();
        assert_eq!(admit(&n, 2).unwrap_err().code, Code::Overloaded);
        drop(first);
        let third = admit(&n, 2).expect("a finished request makes room");
        drop((second, third));
        assert_eq!(
            n.load(Ordering::Acquire),
            0,
            "refused requests are not left counted"
        );
    }

    #[test]
    fn codes_follow_the_number_after_hashes() {
        assert_eq!(with_codes("9555", Some("1234"), None), "9555#1234");
        assert_eq!(with_codes("9555", Some("1234"), Some("77")), "9555#1234#77");
        assert_eq!(with_codes("9555", Some(" "), None), "9555");
    }

    #[test]
    fn profile_lines_are_read_with_or_without_their_partition() {
        assert_eq!(line_number("1001 ; Internal_PT"), "1001");
        assert_eq!(line_number("1001"), "1001");
        assert_eq!(
            line_label("1001", Some("Internal_PT")),
            "1001 ; Internal_PT"
        );
    }
}
