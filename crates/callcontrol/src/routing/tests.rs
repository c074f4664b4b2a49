//! Routing decided in memory: a configuration compiled from plain values, contacts and line
//! loads supplied by the test. Each case is a behaviour an administrator sets up in Unified CM
//! (shared lines, forwarding, busy trigger, Do Not Disturb, loops, route points, trunks,
//! Extension Mobility) and a caller would notice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use dialtone_dialplan::{EntryDef, EntryKind, PlanConfig, RouteTarget};
use dialtone_sip::endpoint::{Peer, Transport};
use dialtone_store::directory::{
    Appearance, CallControlConfig, DeviceConfig, Forward, LineConfig, TrunkConfig,
};

use super::*;
use crate::directory::{compile, Snapshot};

fn line(number: &str) -> LineConfig {
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
    }
}

fn forward(to: &str) -> Forward {
    Forward {
        destination: to.into(),
        css: None,
    }
}

fn device(name: &str, lines: &[&str]) -> DeviceConfig {
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
    }
}

/// The lab: 1000, 1001 and 1002 on their own phones, 2000 shared by two phones, 1900 a route
/// point, 9.! to a trunk, 1002 also in a device profile; `change` adjusts it.
fn lab_config(change: impl FnOnce(&mut CallControlConfig)) -> CallControlConfig {
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

async fn lab(change: impl FnOnce(&mut CallControlConfig)) -> Snapshot {
    let compiled = compile(lab_config(change)).await.expect("compiles");
    Snapshot::new(compiled, HashMap::new())
}

/// Registered phones: device name to its one contact.
#[derive(Default)]
struct Phones(Vec<String>);

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

fn all_registered(snapshot: &Snapshot) -> Phones {
    Phones(snapshot.devices().map(|d| d.name.clone()).collect())
}

/// Calls in progress per line.
#[derive(Default)]
struct Busy(Mutex<HashMap<String, u32>>);

impl Busy {
    fn with(line: &str, calls: u32) -> Busy {
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

fn caller(number: &str) -> CallingParty {
    CallingParty {
        number: number.into(),
        name: String::new(),
        css: Vec::new(),
        device: Some(format!("SEP00000000{number}")),
        line: Some(LineKey {
            number: number.into(),
            partition: None,
        }),
        local_route_group: None,
        external_mask: None,
    }
}

fn route(
    snapshot: &Snapshot,
    phones: &Phones,
    load: &Busy,
    from: &str,
    to: &str,
) -> (Routing, Chain) {
    let router = CallRouter {
        snapshot,
        contacts: phones,
        load,
        max_hops: 3,
    };
    let mut chain = Chain::default();
    let r = router.route(&caller(from), to, &mut chain);
    (r, chain)
}

fn rings(r: &Routing) -> (String, Vec<String>) {
    match r {
        Routing::Ring { line, contacts, .. } => (
            line.key.number.clone(),
            contacts.iter().map(|b| b.device.clone()).collect(),
        ),
        other => panic!("expected ringing, got {other:?}"),
    }
}

fn fails(r: &Routing) -> u16 {
    match r {
        Routing::Fail { code, .. } => *code,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_shared_line_rings_every_registered_phone_that_carries_it() {
    let s = lab(|_| {}).await;
    let (r, _) = route(&s, &all_registered(&s), &Busy::default(), "1000", "2000");
    assert_eq!(
        rings(&r),
        (
            "2000".into(),
            vec!["SEP00000000200A".into(), "SEP00000000200B".into()]
        )
    );
    // One phone unregistered: the other still rings.
    let one = Phones(vec!["SEP00000000200B".into()]);
    let (r, _) = route(&s, &one, &Busy::default(), "1000", "2000");
    assert_eq!(rings(&r).1, vec!["SEP00000000200B".to_string()]);
    // A phone in Do Not Disturb is not offered the call; all of them: busy.
    let s = lab(|c| c.devices[3].dnd = true).await;
    let (r, _) = route(&s, &all_registered(&s), &Busy::default(), "1000", "2000");
    assert_eq!(rings(&r).1, vec!["SEP00000000200B".to_string()]);
    let s = lab(|c| {
        c.devices[3].dnd = true;
        c.devices[4].dnd = true;
    })
    .await;
    let (r, _) = route(&s, &all_registered(&s), &Busy::default(), "1000", "2000");
    assert_eq!(fails(&r), 486);
}

#[tokio::test]
async fn forward_all_and_forward_busy_follow_the_chain_with_diversions() {
    let s = lab(|c| c.lines[1].forward_all = forward("1002")).await;
    let (r, chain) = route(&s, &all_registered(&s), &Busy::default(), "1000", "1001");
    assert_eq!(rings(&r).0, "1002");
    assert_eq!(
        chain.diversions,
        vec![Diversion {
            from: "1001".into(),
            reason: Reason::Unconditional
        }]
    );
    // Busy trigger reached: Call Forward Busy, else 486.
    let s = lab(|c| c.lines[1].forward_busy = forward("1002")).await;
    let busy = Busy::with("1001", 2);
    let (r, chain) = route(&s, &all_registered(&s), &busy, "1000", "1001");
    assert_eq!(rings(&r).0, "1002");
    assert_eq!(chain.diversions[0].reason, Reason::UserBusy);
    let s = lab(|_| {}).await;
    let (r, _) = route(&s, &all_registered(&s), &busy, "1000", "1001");
    assert_eq!(fails(&r), 486);
    let (r, _) = route(
        &s,
        &all_registered(&s),
        &Busy::with("1001", 1),
        "1000",
        "1001",
    );
    assert_eq!(rings(&r).0, "1001", "below the busy trigger it rings");
}

#[tokio::test]
async fn unregistered_lines_forward_or_fail_480_and_dnd_lines_486() {
    let s = lab(|c| c.lines[1].forward_unregistered = forward("1002")).await;
    let phones = Phones(vec!["SEP000000001002".into()]);
    let (r, chain) = route(&s, &phones, &Busy::default(), "1000", "1001");
    assert_eq!(rings(&r).0, "1002");
    assert_eq!(chain.diversions[0].reason, Reason::Unavailable);
    let s = lab(|_| {}).await;
    let (r, _) = route(&s, &Phones::default(), &Busy::default(), "1000", "1001");
    assert_eq!(fails(&r), 480);
    let s = lab(|c| c.lines[1].dnd = true).await;
    let (r, _) = route(&s, &all_registered(&s), &Busy::default(), "1000", "1001");
    assert_eq!(fails(&r), 486);
}

#[tokio::test]
async fn forwarding_loops_and_long_chains_end_with_482() {
    let s = lab(|c| {
        c.lines[1].forward_all = forward("1002");
        c.lines[2].forward_all = forward("1001");
    })
    .await;
    let (r, _) = route(&s, &all_registered(&s), &Busy::default(), "1000", "1001");
    assert_eq!(fails(&r), 482, "1001 -> 1002 -> 1001");
    // Longer than the Forward Maximum Hop Count (3 here): 1001 -> 1002 -> 2000 -> 1000 -> ...
    let s = lab(|c| {
        c.lines[1].forward_all = forward("1002");
        c.lines[2].forward_all = forward("2000");
        c.lines[3].forward_all = forward("1000");
    })
    .await;
    let (r, chain) = route(&s, &all_registered(&s), &Busy::default(), "1001", "1001");
    assert_eq!(fails(&r), 482);
    assert_eq!(chain.diversions.len(), 3);
}

#[tokio::test]
async fn calling_ones_own_shared_line_rings_the_other_phones_only() {
    let s = lab(|_| {}).await;
    let mut me = caller("2000");
    me.device = Some("SEP00000000200A".into());
    let phones = all_registered(&s);
    let router = CallRouter {
        snapshot: &s,
        contacts: &phones,
        load: &Busy::default(),
        max_hops: 3,
    };
    let r = router.route(&me, "2000", &mut Chain::default());
    assert_eq!(rings(&r).1, vec!["SEP00000000200B".to_string()]);
    // One's own single line: busy (nobody else to ring).
    let me = caller("1000");
    let mut me = me;
    me.device = Some("SEP000000001000".into());
    let r = router.route(&me, "1000", &mut Chain::default());
    assert_eq!(fails(&r), 486);
}

#[tokio::test]
async fn route_points_trunks_and_unknown_numbers() {
    let s = lab(|_| {}).await;
    let phones = all_registered(&s);
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "1900");
    assert!(
        matches!(&r, Routing::RoutePoint { line, .. } if line.key.number == "1900"),
        "{r:?}"
    );
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "915551234");
    match &r {
        Routing::Trunks { trunks, decision } => {
            assert_eq!(trunks[0].name, "pstn");
            assert_eq!(decision.called, "915551234");
        }
        other => panic!("expected trunks, got {other:?}"),
    }
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "5555");
    assert_eq!(fails(&r), 404);
}

#[tokio::test]
async fn an_extension_mobility_login_moves_the_profile_line_to_the_phone() {
    // 1002 lives only in a device profile now, not on a phone of its own.
    let without_1002 = || lab_config(|c| c.devices.retain(|d| d.name != "SEP000000001002"));
    let phones = Phones(vec!["SEP000000001001".into()]);
    let s = Snapshot::new(compile(without_1002()).await.unwrap(), HashMap::new());
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "1002");
    assert_eq!(fails(&r), 480, "nobody carries 1002 before the login");
    let login = HashMap::from([("SEP000000001001".to_string(), "profile-1002".to_string())]);
    let s = Snapshot::new(compile(without_1002()).await.unwrap(), login);
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "1002");
    assert_eq!(rings(&r), ("1002".into(), vec!["SEP000000001001".into()]));
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "1001");
    assert_eq!(
        fails(&r),
        480,
        "the phone carries the profile's lines, not its own"
    );
}
