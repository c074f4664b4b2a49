//! The directory: an immutable snapshot of devices, lines, trunks and the compiled dial plan,
//! swapped whole when the store reports a change. The call path reads it and never waits on
//! SQL (DESIGN.md's snapshot invariant).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use dialtone_dialplan::Plan;
use dialtone_store::directory::{DeviceConfig, LineConfig, TrunkConfig};
use dialtone_store::live::Live;
use dialtone_store::Store;

/// A directory number by pattern and partition (the same digits may live in two partitions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    pub number: String,
    pub partition: Option<String>,
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

#[derive(Debug)]
pub struct Snapshot {
    pub plan: Plan,
    devices: HashMap<String, Arc<DeviceConfig>>,
    by_digest_user: HashMap<String, String>,
    lines: HashMap<LineKey, Arc<Line>>,
    /// Numbers to their lines' keys, partitions in name order (a CTI request names a number).
    by_number: HashMap<String, Vec<LineKey>>,
    trunks: HashMap<String, TrunkConfig>,
    trunk_by_address: HashMap<SocketAddr, String>,
}

impl Snapshot {
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

/// Build a snapshot from the store's configuration.
pub async fn build(store: &Store) -> Result<Snapshot, String> {
    let config = store
        .call_control_config()
        .await
        .map_err(|e| e.to_string())?;
    let plan = Plan::compile(&config.plan).map_err(|e| format!("{}: {}", e.entry, e.message))?;
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
    Ok(Snapshot {
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
fn announce_changes(old: &Snapshot, new: &Snapshot, events: &crate::events::Events) {
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

/// The current snapshot, replaced whole on every configuration change.
pub type Directory = Live<Snapshot>;

/// Load the first snapshot and keep it current (a snapshot that fails to build leaves the old
/// one serving). `events` hears the Do Not Disturb and Forward All changes of each swap.
pub async fn load(store: &Store, events: crate::events::Events) -> Result<Arc<Directory>, String> {
    Live::follow(
        store,
        |store| async move { build(&store).await },
        move |old, new| announce_changes(old, new, &events),
    )
    .await
}
