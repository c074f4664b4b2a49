//! One application's session: its rights, and for a connection that watches, its watcher and
//! route points. Every operation checks the rights before it reaches call control.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use dialtone_callcontrol::directory::Snapshot;
use dialtone_callcontrol::events::{Key, Watcher};
use dialtone_callcontrol::Event;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{
    CallView, Command, Cti, CtiError, DeviceCall, Error, LineState, MakeCall, Rights, RouteAction,
    ServedCall, ServedMedia, MAX_WATCH_KEYS, RECENT,
};

/// A line as CTI shows it: its state, the devices registered on it, and its calls.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LineStatus {
    Unknown {
        line: String,
        exists: bool,
    },
    Known {
        line: String,
        state: LineState,
        registered: Vec<String>,
        devices: Vec<String>,
        dnd: bool,
        forward_all: String,
        calls: Vec<CallView>,
    },
}

/// The calls on what a session watches (or may control), and its watched lines' status.
#[derive(Debug, Clone, Serialize)]
pub struct CallsSnapshot {
    event: &'static str,
    pub calls: Vec<CallView>,
    pub lines: Vec<LineStatus>,
}

pub struct CtiSession {
    cti: Cti,
    rights: Rights,
    /// This session's number among the node's applications (route points are owned by it).
    app: u64,
    watcher: Option<Watcher>,
    route_requests: Option<mpsc::Sender<Arc<Event>>>,
}

impl CtiSession {
    pub(crate) fn new(cti: Cti, rights: Rights, app: u64) -> CtiSession {
        CtiSession {
            cti,
            rights,
            app,
            watcher: None,
            route_requests: None,
        }
    }

    /// The application user's ID (or a built-in application's name).
    pub fn user(&self) -> &str {
        &self.rights.user
    }

    /// This session's number among the node's applications, for logs.
    pub fn app(&self) -> u64 {
        self.app
    }

    /// The configuration as call control has it now (devices, lines, who owns what).
    pub fn directory(&self) -> Arc<Snapshot> {
        self.cti.calls.directory()
    }

    /// Give this session a watcher: events of what it watches from now on.
    pub fn open_watcher(&mut self) {
        self.watcher = Some(self.cti.events.watcher());
    }

    pub fn watcher(&mut self) -> Option<&mut Watcher> {
        self.watcher.as_mut()
    }

    /// Route requests for the route points this session registers arrive on `requests`.
    pub fn accept_route_requests(&mut self, requests: mpsc::Sender<Arc<Event>>) {
        self.route_requests = Some(requests);
    }

    /// A session for the same application without its watcher or route points (a command
    /// that runs beside its connection).
    pub fn detached(&self) -> CtiSession {
        CtiSession::new(self.cti.clone(), self.rights.clone(), self.app)
    }

    fn check_line(&self, number: &str) -> Result<(), Error> {
        if self.cti.calls.directory().line_by_number(number).is_none() {
            return Err(CtiError::NoSuchLine(number.into()).into());
        }
        if !self.rights.line(&self.cti.calls, number) {
            return Err(self.rights.refuse(&format!("line {number}")));
        }
        Ok(())
    }

    fn check_device(&self, name: &str) -> Result<(), Error> {
        if self.cti.calls.directory().device(name).is_none() {
            return Err(CtiError::NoSuchDevice(name.into()).into());
        }
        if !self.rights.device(name) {
            return Err(self.rights.refuse(&format!("device {name}")));
        }
        Ok(())
    }

    /// A park slot in use belongs to the application user that parked there.
    fn check_slot(&self, slot: &str) -> Result<(), Error> {
        let owners = self.cti.park_owners.lock().expect("park owners");
        match owners.get(slot) {
            Some(owner)
                if *owner != self.rights.user
                    && self.cti.calls.parked().iter().any(|(s, _)| s == slot) =>
            {
                Err(Error::Forbidden(format!(
                    "park slot {slot} belongs to '{owner}'"
                )))
            }
            _ => Ok(()),
        }
    }

    fn check_call(&self, call: u64) -> Result<CallView, Error> {
        let view = self
            .cti
            .calls
            .view(call)
            .ok_or(CtiError::NoSuchCall(call))?;
        if !self.rights.call(&self.cti.calls, &view) {
            return Err(self.rights.refuse(&format!("call {call}")));
        }
        Ok(view)
    }

    /// Watch lines and devices (each checked first: none is watched if one is refused);
    /// how many this session watches now.
    pub fn watch(&mut self, lines: Vec<String>, devices: Vec<String>) -> Result<usize, Error> {
        within_watch_limit(&lines, &devices)?;
        for l in &lines {
            self.check_line(l)?;
        }
        for d in &devices {
            self.check_device(d)?;
        }
        let w = self
            .watcher
            .as_mut()
            .ok_or_else(|| Error::invalid("op", "watch needs a WebSocket (or /cti/events)"))?;
        for l in lines {
            w.watch(Key::Line(l));
        }
        for d in devices {
            w.watch(Key::Device(d));
        }
        Ok(w.watching().len())
    }

    pub fn unwatch(&mut self, lines: Vec<String>, devices: Vec<String>) -> Result<usize, Error> {
        within_watch_limit(&lines, &devices)?;
        let w = self
            .watcher
            .as_mut()
            .ok_or_else(|| Error::invalid("op", "unwatch needs a WebSocket"))?;
        for l in lines {
            w.unwatch(&Key::Line(l));
        }
        for d in devices {
            w.unwatch(&Key::Device(d));
        }
        Ok(w.watching().len())
    }

    /// The calls on the lines and devices this session watches (without a watcher: every
    /// call it may control), and the watched lines' status.
    pub fn snapshot(&self) -> CallsSnapshot {
        self.snapshot_of(&self.cti.calls.live())
    }

    /// The calls this session may control.
    pub fn calls(&self) -> Vec<CallView> {
        let live = self.cti.calls.live();
        live.into_iter()
            .filter(|v| self.rights.call(&self.cti.calls, v))
            .collect()
    }

    /// A snapshot after a lag, serialised: from a view of the live calls shared by every
    /// watcher that lagged in the same moment (a burst of lags costs one listing, not one
    /// each). Watchers that watch the same lines (consoles sharing one set) share one text.
    pub fn resync(&self) -> Arc<str> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.watcher.as_ref().map(|w| w.watching()).hash(&mut h);
        let key = h.finish();
        let mut cache = self.cti.snapshots.lock().expect("snapshots");
        if let Some((at, text)) = cache.get(&key) {
            if at.elapsed() < RECENT {
                return text.clone();
            }
        }
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < RECENT);
        }
        let snapshot = self.snapshot_of(&self.cti.recent_calls());
        let text: Arc<str> = serde_json::to_string(&snapshot).unwrap_or_default().into();
        cache.insert(key, (Instant::now(), text.clone()));
        text
    }

    fn snapshot_of(&self, live: &[CallView]) -> CallsSnapshot {
        let keys: Option<&[Key]> = self.watcher.as_ref().map(|w| w.watching());
        let watched: Option<HashSet<&Key>> = keys.map(|k| k.iter().collect());
        let calls: Vec<CallView> = live
            .iter()
            .filter(|v| match &watched {
                Some(w) => {
                    let line = |n: &String| w.contains(&Key::Line(n.clone()));
                    let device = |d: &Option<String>| {
                        d.as_ref()
                            .is_some_and(|d| w.contains(&Key::Device(d.clone())))
                    };
                    line(&v.calling)
                        || line(&v.called)
                        || device(&v.calling_device)
                        || device(&v.called_device)
                }
                None => self.rights.call(&self.cti.calls, v),
            })
            .cloned()
            .collect();
        let lines = keys
            .unwrap_or(&[])
            .iter()
            .filter_map(|k| match k {
                Key::Line(l) => Some(self.status_of(l)),
                Key::Device(_) => None,
            })
            .collect();
        CallsSnapshot {
            event: "snapshot",
            calls,
            lines,
        }
    }

    /// A line's status, if this session may see it.
    pub fn line_status(&self, number: &str) -> Result<LineStatus, Error> {
        self.check_line(number)?;
        Ok(self.status_of(number))
    }

    fn status_of(&self, number: &str) -> LineStatus {
        let calls = &self.cti.calls;
        let snapshot = calls.directory();
        let Some(line) = snapshot.line_by_number(number) else {
            return LineStatus::Unknown {
                line: number.into(),
                exists: false,
            };
        };
        let mut registered: Vec<String> = calls
            .registrar()
            .contacts(&snapshot, &line.key)
            .into_iter()
            .map(|b| b.device)
            .collect();
        registered.sort();
        registered.dedup();
        let on_line: Vec<CallView> = calls
            .live()
            .into_iter()
            .filter(|v| v.calling == number || v.called == number)
            .collect();
        LineStatus::Known {
            line: number.into(),
            state: LineState::of(on_line.iter().map(|c| c.state)),
            registered,
            devices: line.devices.clone(),
            dnd: line.config.dnd,
            forward_all: line.config.forward_all.destination.clone(),
            calls: on_line,
        }
    }

    /// Call from a line (its phone first, answering by itself where it can); the call's ID.
    pub async fn make_call(&self, req: MakeCall) -> Result<u64, Error> {
        self.check_line(&req.line)?;
        if let Some(d) = &req.device {
            self.check_device(d)?;
        }
        Ok(self.cti.calls.make_call(req).await?)
    }

    /// A command on a call; `party` (a line or device) says whose side acts.
    pub async fn command(
        &self,
        call: u64,
        party: Option<String>,
        command: Command,
    ) -> Result<(), Error> {
        let calls = &self.cti.calls;
        self.check_call(call)?;
        if let Some(p) = &party {
            if !(self.rights.device(p) || self.rights.line(calls, p)) {
                return Err(self.rights.refuse(p));
            }
        }
        if let Command::Transfer {
            consult_call: Some(other),
            ..
        } = &command
        {
            self.check_call(*other)?;
        }
        let slot = match &command {
            Command::Park { slot } => Some(slot.clone()),
            _ => None,
        };
        if let Some(slot) = &slot {
            self.check_slot(slot)?;
        }
        calls.command(call, party, command).await?;
        if let Some(slot) = slot {
            let mut owners = self.cti.park_owners.lock().expect("park owners");
            owners.retain(|s, _| calls.parked().iter().any(|(p, _)| p == s));
            owners.insert(slot, self.rights.user.clone());
        }
        Ok(())
    }

    /// Take the call parked in `slot` to `line`; the call's ID.
    pub async fn unpark(&self, slot: &str, line: &str) -> Result<u64, Error> {
        self.check_line(line)?;
        self.check_slot(slot)?;
        Ok(self.cti.calls.unpark(slot, line).await?)
    }

    /// The slots in use that this session may unpark from, with their calls.
    pub fn parks(&self) -> Vec<(String, u64)> {
        self.cti
            .calls
            .parked()
            .into_iter()
            .filter(|(slot, _)| self.check_slot(slot).is_ok())
            .collect()
    }

    /// Ask a device to reset (re-read its configuration) or restart; how many of its
    /// contacts were asked.
    pub async fn reset(&self, device: &str, restart: bool) -> Result<usize, Error> {
        self.check_device(device)?;
        Ok(self.cti.calls.reset(device, restart).await?)
    }

    /// Take the route point on `number` (a line of a CTI Route Point device): its calls wait
    /// for this session's answer, which must come over the connection that registered it.
    pub fn register_route_point(&self, number: &str) -> Result<(), Error> {
        let calls = &self.cti.calls;
        let snapshot = calls.directory();
        let line = snapshot
            .line_by_number(number)
            .ok_or_else(|| CtiError::NoSuchLine(number.into()))?;
        let rp_device = line.devices.iter().find(|d| {
            snapshot
                .device(d)
                .is_some_and(|d| d.model == "CTI Route Point")
        });
        let Some(rp_device) = rp_device else {
            return Err(Error::invalid(
                "number",
                format!("{number} is not on a CTI Route Point device"),
            ));
        };
        if !self.rights.device(rp_device) {
            return Err(self.rights.refuse(&format!("route point {rp_device}")));
        }
        let requests = self
            .route_requests
            .clone()
            .ok_or_else(|| Error::invalid("op", "route points need a WebSocket"))?;
        calls.route_points().register(number, self.app, requests)?;
        Ok(())
    }

    /// Answer a route request.
    pub async fn route(&self, call: u64, request: u64, action: RouteAction) -> Result<(), Error> {
        Ok(self.cti.calls.route(call, request, action).await?)
    }

    /// Answer a route request with the application's own media: the call ends on Dialtone,
    /// Dialtone's SDP points at `media.local`, and the caller's audio as negotiated follows
    /// on the returned channel, which closes when the call ends.
    pub async fn serve(
        &self,
        call: u64,
        request: u64,
        media: ServedMedia,
    ) -> Result<ServedCall, Error> {
        Ok(self.cti.calls.serve(call, request, media).await?)
    }

    /// Call a device with the application's own media (a page to a phone that takes no
    /// push): the call and the channel its audio follows once the phone answers, closed when
    /// the call ends; dropping the returned call hangs it up.
    pub async fn call_device(&self, req: DeviceCall) -> Result<ServedCall, Error> {
        self.check_device(&req.device)?;
        Ok(self.cti.calls.call_device(req).await?)
    }
}

/// One watch or unwatch request names at most `MAX_WATCH_KEYS` lines and devices.
fn within_watch_limit(lines: &[String], devices: &[String]) -> Result<(), Error> {
    if lines.len() + devices.len() > MAX_WATCH_KEYS {
        return Err(Error::invalid(
            "lines",
            format!("at most {MAX_WATCH_KEYS} lines and devices per request"),
        ));
    }
    Ok(())
}

impl Drop for CtiSession {
    fn drop(&mut self) {
        // The application is gone: its route points' calls fall through.
        if self.route_requests.is_some() {
            self.cti.calls.route_points().release(self.app);
        }
    }
}
