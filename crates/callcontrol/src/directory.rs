//! The directory: an immutable snapshot of devices, lines, trunks and the compiled dial plan,
//! swapped whole when the store reports a change. The call path reads it and never waits on
//! SQL (DESIGN.md's snapshot invariant).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use dialtone_dialplan::Plan;
use dialtone_store::directory::{
    Appearance, CallControlConfig, DeviceConfig, LineConfig, TrunkConfig,
};
use dialtone_store::live::Live;
use dialtone_store::{Store, StoreError};

/// A directory number by pattern and partition (the same digits may live in two partitions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    pub number: String,
    pub partition: Option<String>,
}

impl LineKey {
    /// Whether the number is a pattern (`6XXXX`, `1[0-5]XX`) rather than one number: a route
    /// point may cover a range, but no phone can register, or be rung on, a pattern.
    pub fn is_pattern(&self) -> bool {
        is_pattern(&self.number)
    }
}

/// Whether a directory number is a pattern rather than digits as dialled.
pub fn is_pattern(number: &str) -> bool {
    !dialtone_dialplan::is_dialled(number)
}

impl std::fmt::Display for LineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.partition {
            Some(p) => write!(f, "{} in {p}", self.number),
            None => write!(f, "{}", self.number),
        }
    }
}

#[derive(Debug)]
pub struct Line {
    pub key: LineKey,
    pub config: LineConfig,
    /// Devices with an appearance of this line, in name order (shared lines have several).
    pub devices: Vec<String>,
}

/// The configuration compiled for call control: rebuilt only when an administrator changes
/// something.
#[derive(Debug)]
pub struct Compiled {
    pub plan: Plan,
    devices: HashMap<String, Arc<DeviceConfig>>,
    by_digest_user: HashMap<String, String>,
    lines: HashMap<LineKey, Arc<Line>>,
    /// Numbers to their lines' keys, partitions in name order (a CTI request names a number).
    by_number: HashMap<String, Vec<LineKey>>,
    trunks: HashMap<String, TrunkConfig>,
    trunk_by_address: HashMap<SocketAddr, String>,
    /// Device profiles' lines (Extension Mobility).
    profiles: HashMap<String, Vec<Appearance>>,
    /// Devices with a logout profile, and that profile.
    logout_profiles: Vec<(String, String)>,
}

impl Compiled {
    pub fn device(&self, name: &str) -> Option<&Arc<DeviceConfig>> {
        self.devices.get(name)
    }

    /// The device whose digest user name is `user` (or, without one, whose name is).
    pub fn device_by_digest_user(&self, user: &str) -> Option<&Arc<DeviceConfig>> {
        self.by_digest_user
            .get(user)
            .and_then(|n| self.devices.get(n))
    }

    pub fn line(&self, key: &LineKey) -> Option<&Arc<Line>> {
        self.lines.get(key)
    }

    /// The line with `number`: the one in no partition, else the first partition by name.
    pub fn line_by_number(&self, number: &str) -> Option<&Arc<Line>> {
        self.by_number
            .get(number)
            .and_then(|keys| keys.first())
            .and_then(|k| self.lines.get(k))
    }

    /// Every line and device, for diffing one snapshot against the next.
    pub fn lines(&self) -> impl Iterator<Item = &Arc<Line>> {
        self.lines.values()
    }

    pub fn devices(&self) -> impl Iterator<Item = &Arc<DeviceConfig>> {
        self.devices.values()
    }

    pub fn trunk(&self, name: &str) -> Option<&TrunkConfig> {
        self.trunks.get(name)
    }

    /// The trunk whose far end sent a request from `source` with `sent_by_port` in its top
    /// Via: how inbound trunk calls are recognised. The port counts as well as the address,
    /// so phones and trunks on one host (or behind one NAT) stay apart; over streams the
    /// source port is ephemeral and the Via names the far end's listening port.
    pub fn trunk_at(&self, source: SocketAddr, sent_by_port: Option<u16>) -> Option<&TrunkConfig> {
        let by_via = sent_by_port.map(|p| SocketAddr::new(source.ip(), p));
        self.trunk_by_address
            .get(&source)
            .or_else(|| by_via.and_then(|a| self.trunk_by_address.get(&a)))
            .and_then(|n| self.trunks.get(n))
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }
}

/// Why the store's configuration could not be compiled for call control.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The dial plan does not compile: the entry at fault and why.
    #[error("{entry}: {message}")]
    Plan { entry: String, message: String },
}

impl DirectoryError {
    fn plan(e: dialtone_dialplan::CompileError) -> DirectoryError {
        DirectoryError::Plan {
            entry: e.entry,
            message: e.message,
        }
    }
}

/// Compile the store's configuration.
pub async fn build(store: &Store) -> Result<Compiled, DirectoryError> {
    compile(store.call_control_config().await?).await
}

/// Compile a configuration (trunk host names are resolved here, once per change).
pub async fn compile(config: CallControlConfig) -> Result<Compiled, DirectoryError> {
    let plan = Plan::compile(&config.plan).map_err(DirectoryError::plan)?;
    let mut lines: HashMap<LineKey, Line> = config
        .lines
        .into_iter()
        .map(|c| {
            let key = LineKey {
                number: c.pattern.clone(),
                partition: c.partition.clone(),
            };
            let line = Line {
                key: key.clone(),
                config: c,
                devices: Vec::new(),
            };
            (key, line)
        })
        .collect();
    let mut devices = HashMap::with_capacity(config.devices.len());
    let mut by_digest_user = HashMap::with_capacity(config.devices.len());
    for d in config.devices {
        for a in &d.lines {
            let key = LineKey {
                number: a.pattern.clone(),
                partition: a.partition.clone(),
            };
            if let Some(l) = lines.get_mut(&key) {
                l.devices.push(d.name.clone());
            }
        }
        by_digest_user.insert(
            d.digest_user.clone().unwrap_or_else(|| d.name.clone()),
            d.name.clone(),
        );
        devices.insert(d.name.clone(), Arc::new(d));
    }
    let mut trunk_by_address = HashMap::new();
    let mut trunks = HashMap::new();
    for t in config.trunks {
        let found: Vec<IpAddr> = match t.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((t.host.as_str(), t.port))
                .await
                .map(|it| it.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        for ip in found {
            trunk_by_address.insert(SocketAddr::new(ip, t.port), t.name.clone());
        }
        trunks.insert(t.name.clone(), t);
    }
    let mut by_number: HashMap<String, Vec<LineKey>> = HashMap::new();
    for k in lines.keys() {
        by_number
            .entry(k.number.clone())
            .or_default()
            .push(k.clone());
    }
    for keys in by_number.values_mut() {
        keys.sort_by(|a, b| a.partition.cmp(&b.partition));
    }
    Ok(Compiled {
        logout_profiles: devices
            .values()
            .filter_map(|d| Some((d.name.clone(), d.logout_profile.clone()?)))
            .collect(),
        profiles: config.profiles.into_iter().collect(),
        plan,
        devices,
        by_digest_user,
        by_number,
        lines: lines.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        trunks,
        trunk_by_address,
    })
}

/// Tell watchers of the lines and devices whose Do Not Disturb or Forward All changed.
fn announce_changes(old: &Compiled, new: &Compiled, events: &crate::events::Events) {
    for line in new.lines() {
        let before = old.line(&line.key);
        let (dnd, fwd) = (line.config.dnd, &line.config.forward_all.destination);
        if before.is_none_or(|b| b.config.dnd != dnd || &b.config.forward_all.destination != fwd) {
            events.emit(crate::events::Event::LineConfigured {
                line: line.key.number.clone(),
                dnd,
                forward_all: fwd.clone(),
            });
        }
    }
    for device in new.devices() {
        if old.device(&device.name).is_none_or(|b| b.dnd != device.dnd) {
            events.emit(crate::events::Event::DeviceConfigured {
                device: device.name.clone(),
                dnd: device.dnd,
            });
        }
    }
}

/// Who is logged in to a device with Extension Mobility, and with which device profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seated {
    pub user: String,
    pub profile: String,
}

/// Extension Mobility's logins laid over the compiled configuration: a logged-in device carries
/// its user's profile lines instead of its own, so calls follow the user at once, and a login
/// never recompiles the dial plan.
#[derive(Debug, Default)]
pub struct Overlay {
    /// Device to who is logged in to it.
    logins: HashMap<String, Seated>,
    /// Logged-in devices as they now are.
    devices: HashMap<String, Arc<DeviceConfig>>,
    /// Lines whose devices changed with the logins.
    lines: HashMap<LineKey, Arc<Line>>,
}

fn key_of(a: &Appearance) -> LineKey {
    LineKey {
        number: a.pattern.clone(),
        partition: a.partition.clone(),
    }
}

impl Overlay {
    /// `logins`: device to who is logged in to it. Devices nobody is logged in to carry their
    /// logout profile, when they have one.
    fn build(compiled: &Compiled, logins: HashMap<String, Seated>) -> Overlay {
        let mut devices = HashMap::new();
        let mut affected: HashMap<LineKey, Vec<String>> = HashMap::new();
        let resting = compiled
            .logout_profiles
            .iter()
            .filter(|(d, _)| !logins.contains_key(d))
            .map(|(d, p)| (d, p));
        let seated = logins.iter().map(|(d, s)| (d, &s.profile));
        for (device, profile) in seated.chain(resting) {
            let (Some(base), Some(lines)) =
                (compiled.devices.get(device), compiled.profiles.get(profile))
            else {
                continue;
            };
            for a in base.lines.iter() {
                affected.entry(key_of(a)).or_default();
            }
            for a in lines {
                affected.entry(key_of(a)).or_default().push(device.clone());
            }
            devices.insert(
                device.clone(),
                Arc::new(DeviceConfig {
                    lines: lines.clone(),
                    ..(**base).clone()
                }),
            );
        }
        let mut lines = HashMap::new();
        for (key, mut gained) in affected {
            let Some(base) = compiled.lines.get(&key) else {
                continue;
            };
            let mut carriers: Vec<String> = base
                .devices
                .iter()
                .filter(|d| !devices.contains_key(*d))
                .cloned()
                .collect();
            carriers.append(&mut gained);
            carriers.sort();
            carriers.dedup();
            lines.insert(
                key.clone(),
                Arc::new(Line {
                    key,
                    config: base.config.clone(),
                    devices: carriers,
                }),
            );
        }
        Overlay {
            logins,
            devices,
            lines,
        }
    }
}

/// What call control reads: the compiled configuration with the logins laid over it. Taken
/// whole for each call step, so one step never sees half a change.
#[derive(Debug)]
pub struct Snapshot {
    compiled: Arc<Compiled>,
    overlay: Arc<Overlay>,
}

impl Snapshot {
    /// A snapshot of `compiled` with `logins` (device to who is logged in) laid over it.
    pub fn new(compiled: Compiled, logins: HashMap<String, Seated>) -> Snapshot {
        let overlay = Overlay::build(&compiled, logins);
        Snapshot {
            compiled: Arc::new(compiled),
            overlay: Arc::new(overlay),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.compiled.plan
    }

    /// A device as it is now: with its user's profile lines while someone is logged in.
    pub fn device(&self, name: &str) -> Option<&Arc<DeviceConfig>> {
        self.overlay
            .devices
            .get(name)
            .or_else(|| self.compiled.device(name))
    }

    pub fn device_by_digest_user(&self, user: &str) -> Option<&Arc<DeviceConfig>> {
        let name = &self.compiled.device_by_digest_user(user)?.name;
        self.device(name)
    }

    pub fn line(&self, key: &LineKey) -> Option<&Arc<Line>> {
        self.overlay
            .lines
            .get(key)
            .or_else(|| self.compiled.line(key))
    }

    pub fn line_by_number(&self, number: &str) -> Option<&Arc<Line>> {
        let key = &self.compiled.line_by_number(number)?.key;
        self.line(key)
    }

    pub fn lines(&self) -> impl Iterator<Item = &Arc<Line>> {
        self.compiled
            .lines()
            .map(|l| self.line(&l.key).unwrap_or(l))
    }

    pub fn devices(&self) -> impl Iterator<Item = &Arc<DeviceConfig>> {
        self.compiled
            .devices()
            .map(|d| self.device(&d.name).unwrap_or(d))
    }

    pub fn trunk(&self, name: &str) -> Option<&TrunkConfig> {
        self.compiled.trunk(name)
    }

    pub fn trunk_at(&self, source: SocketAddr, sent_by_port: Option<u16>) -> Option<&TrunkConfig> {
        self.compiled.trunk_at(source, sent_by_port)
    }

    pub fn device_count(&self) -> usize {
        self.compiled.device_count()
    }

    /// Who is logged in to a device, if anyone.
    pub fn login(&self, device: &str) -> Option<&Seated> {
        self.overlay.logins.get(device)
    }

    /// The devices `user` is logged in to, by name.
    pub fn devices_of(&self, user: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .overlay
            .logins
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(d, _)| d.clone())
            .collect();
        v.sort();
        v
    }
}

/// The compiled configuration (rebuilt on every configuration change) with the logins over it
/// (changed one login at a time), as one snapshot swapped whole: both kinds of change happen
/// under the same lock, so a reader never pairs a configuration with another's overlay.
pub struct Directory {
    /// Keeps the compiled configuration following the store.
    _compiled: Arc<Live<Compiled>>,
    current: Arc<RwLock<Arc<Snapshot>>>,
}

impl Directory {
    /// Load the first configuration and keep it current (one that fails to build leaves the
    /// old one serving). `events` hears the Do Not Disturb and Forward All changes of each
    /// swap. The logins are laid over each new configuration.
    pub async fn load(
        store: &Store,
        events: crate::events::Events,
    ) -> Result<Arc<Directory>, DirectoryError> {
        // Stands in until the first configuration is compiled, a moment from now.
        let empty = Compiled {
            plan: Plan::compile(&Default::default()).map_err(DirectoryError::plan)?,
            devices: HashMap::new(),
            by_digest_user: HashMap::new(),
            lines: HashMap::new(),
            by_number: HashMap::new(),
            trunks: HashMap::new(),
            trunk_by_address: HashMap::new(),
            profiles: HashMap::new(),
            logout_profiles: Vec::new(),
        };
        let current = Arc::new(RwLock::new(Arc::new(Snapshot {
            compiled: Arc::new(empty),
            overlay: Arc::default(),
        })));
        let relay = current.clone();
        let compiled = Live::follow(
            store,
            |store| async move { build(&store).await },
            move |old, new| {
                announce_changes(old, new, &events);
                let mut c = relay.write().expect("directory lock");
                let logins = c.overlay.logins.clone();
                *c = Arc::new(Snapshot {
                    overlay: Arc::new(Overlay::build(new, logins)),
                    compiled: new.clone(),
                });
            },
        )
        .await?;
        {
            // A swap may already have happened: then this is the same configuration again.
            let mut c = current.write().expect("directory lock");
            let first = compiled.get();
            let logins = c.overlay.logins.clone();
            *c = Arc::new(Snapshot {
                overlay: Arc::new(Overlay::build(&first, logins)),
                compiled: first,
            });
        }
        Ok(Arc::new(Directory {
            _compiled: compiled,
            current,
        }))
    }

    pub fn get(&self) -> Arc<Snapshot> {
        self.current.read().expect("directory lock").clone()
    }

    /// The handle through which Extension Mobility lays its logins over the configuration
    /// (and nothing else: it does not reach calls or the compiled configuration).
    pub fn login_overlay(self: &Arc<Self>) -> LoginOverlay {
        LoginOverlay(self.clone())
    }

    /// Put every login in place at once (at start-up, from the store).
    pub fn set_logins(&self, logins: HashMap<String, Seated>) {
        self.relay_logins(|all| *all = logins);
    }

    /// Who is logged in to a device from now on (None: its own lines again).
    pub fn set_login(&self, device: &str, seated: Option<Seated>) {
        self.relay_logins(|all| {
            match seated {
                Some(s) => all.insert(device.to_owned(), s),
                None => all.remove(device),
            };
        });
    }

    /// Change the logins and lay them over the current configuration, under the lock.
    fn relay_logins(&self, change: impl FnOnce(&mut HashMap<String, Seated>)) {
        let mut c = self.current.write().expect("directory lock");
        let mut logins = c.overlay.logins.clone();
        change(&mut logins);
        let compiled = c.compiled.clone();
        *c = Arc::new(Snapshot {
            overlay: Arc::new(Overlay::build(&compiled, logins)),
            compiled,
        });
    }
}

/// Extension Mobility's hold on the configuration: which device carries which user's profile.
#[derive(Clone)]
pub struct LoginOverlay(Arc<Directory>);

impl LoginOverlay {
    /// Put every login in place at once (at start-up, from the store).
    pub fn set_logins(&self, logins: HashMap<String, Seated>) {
        self.0.set_logins(logins);
    }

    /// Who is logged in to a device from now on (None: its own lines again).
    pub fn set_login(&self, device: &str, seated: Option<Seated>) {
        self.0.set_login(device, seated);
    }
}
