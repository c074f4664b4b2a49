//! CTI for applications: the one way an application acts on calls. An application user opens
//! a [`CtiSession`] through [`Cti::session`], which checks its rights once (the role Standard
//! CTI Enabled to connect at all; then the devices in its `devices` list, or every device with
//! Standard CTI Allow Control of All Devices; a line is controlled through a device that
//! carries it); every operation of the session is checked against them. Applications built
//! into the node that check their own users (WebDialer, Extension Mobility) take a
//! [`Cti::trusted`] session instead. The WebSocket, REST and SSE transports (in the server)
//! carry the same session; their message shapes are in [`wire`], which `docs/cti.md` documents.
//!
//! Call control owns calls; CTI's own state is small: watchers, park slot owners, and the
//! listings shared by watchers that resynchronise at the same moment.
#![forbid(unsafe_code)]

mod session;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use dialtone_callcontrol::calls::{
    Audio, Codec, Command, CtiError, DeviceCall, MakeCall, RouteAction, ServedCall, ServedMedia,
};
pub use dialtone_callcontrol::{CallState, CallView, LineState};
use dialtone_callcontrol::{Calls, Events};
use dialtone_store::{Store, StoreError};
pub use session::{CallsSnapshot, CtiSession, LineStatus};

/// The role an application user needs to use CTI at all.
pub const CTI_ROLE: &str = "Standard CTI Enabled";
/// The role that lets it control every device.
pub const ALL_DEVICES_ROLE: &str = "Standard CTI Allow Control of All Devices";
/// Administrators may do everything an application may.
pub const ADMIN_ROLE: &str = dialtone_store::catalogue::ADMIN_ROLE;
/// Lines and devices one watch request may name (an attendant console watches thousands).
pub const MAX_WATCH_KEYS: usize = 20_000;

/// How old a listing of live calls a resynchronising watcher may be given.
const RECENT: Duration = Duration::from_millis(200);

/// Why CTI refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Call control refused it (no such call, wrong state, the phone said no, ...).
    #[error(transparent)]
    Call(#[from] CtiError),
    /// The application user may not do it.
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is wrong: `field` names what (empty: the whole request).
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// An authenticated application user, as its transport proved it.
#[derive(Debug, Clone)]
pub struct Application {
    pub user_id: String,
    pub roles: Vec<String>,
}

impl Application {
    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Serialised snapshots by a hash of the watch set: when each was made, and its text.
type SnapshotCache = HashMap<u64, (Instant, Arc<str>)>;

/// CTI for the whole node; cheap to clone.
#[derive(Clone)]
pub struct Cti {
    calls: Calls,
    events: Events,
    store: Store,
    next_app: Arc<AtomicU64>,
    recent: Arc<Mutex<(Instant, Arc<Vec<CallView>>)>>,
    /// Resynchronisation snapshots by watch set, as of at most `RECENT` ago.
    snapshots: Arc<Mutex<SnapshotCache>>,
    /// Park slots belong to the application user that parked there.
    park_owners: Arc<Mutex<HashMap<String, String>>>,
}

impl Cti {
    pub fn new(calls: Calls, events: Events, store: Store) -> Cti {
        Cti {
            calls,
            events,
            store,
            next_app: Arc::new(AtomicU64::new(1)),
            recent: Arc::new(Mutex::new((Instant::now() - RECENT, Arc::new(Vec::new())))),
            snapshots: Arc::default(),
            park_owners: Arc::default(),
        }
    }

    /// A session for `app`, with the rights its roles and devices give it.
    pub async fn session(&self, app: &Application) -> Result<CtiSession, Error> {
        let rights = Rights::of(&self.store, app).await?;
        Ok(CtiSession::new(self.clone(), rights, self.next_app()))
    }

    /// A session for an application built into the node that checks its own users (WebDialer
    /// for the user's own phones, Extension Mobility for the phone a user logs in on): it may
    /// control every device.
    pub fn trusted(&self, name: &str) -> CtiSession {
        let rights = Rights {
            user: name.into(),
            all: true,
            devices: HashSet::new(),
        };
        CtiSession::new(self.clone(), rights, self.next_app())
    }

    fn next_app(&self) -> u64 {
        self.next_app.fetch_add(1, Ordering::Relaxed)
    }

    /// The live calls as of at most `RECENT` ago.
    fn recent_calls(&self) -> Arc<Vec<CallView>> {
        let mut r = self.recent.lock().expect("recent calls");
        if r.0.elapsed() >= RECENT {
            *r = (Instant::now(), Arc::new(self.calls.live()));
        }
        r.1.clone()
    }
}

/// What an application user may control.
#[derive(Debug, Clone)]
struct Rights {
    user: String,
    all: bool,
    devices: HashSet<String>,
}

impl Rights {
    async fn of(store: &Store, app: &Application) -> Result<Rights, Error> {
        let admin = app.has_role(ADMIN_ROLE);
        if !admin && !app.has_role(CTI_ROLE) {
            return Err(Error::Forbidden(format!(
                "'{}' lacks the {CTI_ROLE} role",
                app.user_id
            )));
        }
        let res = dialtone_store::catalogue::resource("application-users")
            .ok_or_else(|| StoreError::Internal("no application-users resource".into()))?;
        let record = store.get(res, &app.user_id).await?;
        let devices = record["devices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Rights {
            user: app.user_id.clone(),
            all: admin || app.has_role(ALL_DEVICES_ROLE),
            devices,
        })
    }

    fn device(&self, name: &str) -> bool {
        self.all || self.devices.contains(name)
    }

    fn line(&self, calls: &Calls, number: &str) -> bool {
        self.all
            || calls
                .directory()
                .line_by_number(number)
                .is_some_and(|l| l.devices.iter().any(|d| self.devices.contains(d)))
    }

    fn call(&self, calls: &Calls, v: &CallView) -> bool {
        self.all
            || [&v.calling_device, &v.called_device]
                .into_iter()
                .flatten()
                .any(|d| self.device(d))
            || [&v.calling, &v.called]
                .into_iter()
                .any(|n| self.line(calls, n))
    }

    fn refuse(&self, what: &str) -> Error {
        Error::Forbidden(format!("'{}' may not control {what}", self.user))
    }
}
