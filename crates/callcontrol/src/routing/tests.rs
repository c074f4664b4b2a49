//! Routing decided in memory: a configuration compiled from plain values, contacts and line
//! loads supplied by the test. Each case is a behaviour an administrator sets up in Unified CM
//! (shared lines, forwarding, busy trigger, Do Not Disturb, loops, route points, trunks,
//! Extension Mobility) and a caller would notice.

use std::collections::HashMap;

use super::*;
use crate::directory::{compile, Seated, Snapshot};
use crate::lab::*;

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
    let seated = Seated {
        user: "user1002".into(),
        profile: "profile-1002".into(),
    };
    let login = HashMap::from([("SEP000000001001".to_string(), seated)]);
    let s = Snapshot::new(compile(without_1002()).await.unwrap(), login);
    assert_eq!(
        s.devices_of("user1002"),
        vec!["SEP000000001001".to_string()]
    );
    assert!(s.devices_of("user1001").is_empty());
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "1002");
    assert_eq!(rings(&r), ("1002".into(), vec!["SEP000000001001".into()]));
    let (r, _) = route(&s, &phones, &Busy::default(), "1000", "1001");
    assert_eq!(
        fails(&r),
        480,
        "the phone carries the profile's lines, not its own"
    );
}
