//! A small configuration compiled from plain values, with registered phones and line loads
//! supplied by the test: what call control's unit tests (routing, MakeCall, transfer) decide
//! over, without sockets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dialtone_dialplan::{EntryDef, EntryKind, PlanConfig, RouteTarget};
use dialtone_sip::endpoint::{Peer, Transport};
use dialtone_store::directory::{
    Appearance, CallControlConfig, DeviceConfig, Forward, LineConfig, TrunkConfig,
};

use crate::directory::{compile, LineKey, Snapshot};
use crate::registrar::Binding;
use crate::routing::{Contacts, Load};

pub(crate) fn line(number: &str) -> LineConfig {
    LineConfig {
        pattern: number.into(),
        partition: None,
        alerting_name: String::new(),
        css: None,
        forward_all: Forward::default(),
        forward_busy: Forward::default(),
        forward_no_answer: Forward::default(),
        forward_unregistered: Forward::default(),
        forward_cti_failure: Forward::default(),
        no_answer_timer: 12,
        dnd: false,
        max_calls: 4,
        busy_trigger: 2,
        hold_audio: None,
    }
}

pub(crate) fn forward(to: &str) -> Forward {
    Forward {
        destination: to.into(),
        css: None,
    }
}

pub(crate) fn device(name: &str, lines: &[&str]) -> DeviceConfig {
    DeviceConfig {
        name: name.into(),
        model: "Cisco 8865".into(),
        digest_user: None,
        ha1_md5: None,
        ha1_sha256: None,
        css: None,
        device_pool: "Default".into(),
        local_route_group: None,
        dnd: false,
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, n)| Appearance {
                index: i as u32 + 1,
                pattern: (*n).into(),
                partition: None,
                display_name: String::new(),
                external_mask: String::new(),
            })
            .collect(),
        logout_profile: None,
        hold_audio: None,
    }
}

/// The lab: 1000, 1001 and 1002 on their own phones, 2000 shared by two phones, 1900 a route
/// point, 9.! to a trunk, 1002 also in a device profile; `change` adjusts it.
pub(crate) fn lab_config(change: impl FnOnce(&mut CallControlConfig)) -> CallControlConfig {
    let mut config = CallControlConfig {
        lines: ["1000", "1001", "1002", "2000", "1900"]
            .map(line)
            .into_iter()
            .collect(),
        devices: vec![
            device("SEP000000001000", &["1000"]),
            device("SEP000000001001", &["1001"]),
            device("SEP000000001002", &["1002"]),
            device("SEP00000000200A", &["2000"]),
            device("SEP00000000200B", &["2000"]),
            device("RP1900", &["1900"]),
        ],
        trunks: vec![TrunkConfig {
            name: "pstn".into(),
            host: "192.0.2.10".into(),
            port: 5060,
            transport: "UDP".into(),
            css: None,
            credentials: None,
        }],
        plan: PlanConfig::default(),
        profiles: vec![("profile-1002".into(), device("p", &["1002"]).lines)],
    };
    for n in ["1000", "1001", "1002", "2000"] {
        config.plan.entries.push(EntryDef {
            pattern: n.into(),
            partition: None,
            kind: EntryKind::DirectoryNumber,
        });
    }
    config.plan.entries.push(EntryDef {
        pattern: "1900".into(),
        partition: None,
        kind: EntryKind::RoutePoint,
    });
    config.plan.entries.push(EntryDef {
        pattern: "9.!".into(),
        partition: None,
        kind: EntryKind::Route {
            target: Some(RouteTarget::Trunk("pstn".into())),
            blocked: false,
            urgent: false,
            manipulation: Default::default(),
            fac_level: None,
            cmc: false,
        },
    });
    change(&mut config);
    config
}

pub(crate) async fn lab(change: impl FnOnce(&mut CallControlConfig)) -> Snapshot {
    let compiled = compile(lab_config(change)).await.expect("compiles");
    Snapshot::new(compiled, HashMap::new())
}

/// Registered phones: device name to its one contact.
#[derive(Default)]
pub(crate) struct Phones(pub(crate) Vec<String>);

impl Contacts for Phones {
    fn contacts(&self, snapshot: &Snapshot, key: &LineKey) -> Vec<Binding> {
        let Some(line) = snapshot.line(key) else {
            return Vec::new();
        };
        line.devices
            .iter()
            .filter(|d| self.0.contains(d))
            .map(|d| {
                let peer = Peer {
                    transport: Transport::Udp,
                    addr: ([127, 0, 0, 1], 5062).into(),
                };
                let contact = format!("sip:{d}@127.0.0.1:5062");
                Binding::new(d, &key.number, &contact, peer, Duration::from_secs(60))
            })
            .collect()
    }
}

pub(crate) fn all_registered(snapshot: &Snapshot) -> Phones {
    Phones(snapshot.devices().map(|d| d.name.clone()).collect())
}

/// Calls in progress per line.
#[derive(Default)]
pub(crate) struct Busy(Mutex<HashMap<String, u32>>);

impl Busy {
    pub(crate) fn with(line: &str, calls: u32) -> Busy {
        let b = Busy::default();
        b.0.lock().unwrap().insert(line.into(), calls);
        b
    }
}

impl Load for Busy {
    fn calls_on(&self, line: &LineKey) -> u32 {
        self.0
            .lock()
            .unwrap()
            .get(&line.number)
            .copied()
            .unwrap_or(0)
    }
}
