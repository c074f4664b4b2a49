//! The real node: digest REGISTERs, memory per device, and calls from a trunk and with digest, beside Kamailio.

use super::*;

/// The real node: digest REGISTERs from 30,000 provisioned devices (memory per registered
/// device), then complete calls (INVITE to BYE) from a trusted trunk and from digest-
/// authenticated devices, each beside Kamailio running the kit's scenarios unchanged.
pub(crate) fn sip_node_rows(binary: &str) -> Vec<Row> {
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!(
            "sipp not installed (apt-get install sip-tester): skipping the node SIP benchmark"
        );
        return vec![];
    }
    const DEVICES: usize = 30_000;
    let node = start_node(binary);
    let pid = node.child.id();
    let http = admin_http();
    let api = |path: &str| format!("{}/api/v1{path}", node.https);
    let rss_before = rss_of(pid);
    let mut csv = String::from("name,model,device_pool,digest_user,digest_password\n");
    for i in 1..=DEVICES {
        csv.push_str(&format!(
            "SEP{i:012X},Cisco 8865,Default,u{i:06},pw{i:06}\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    std::thread::sleep(Duration::from_secs(2)); // the directory snapshot follows
    let rss_provisioned = rss_of(pid);
    let dir = tempfile::tempdir().unwrap();
    let mut users = String::from("SEQUENTIAL\n");
    for i in 1..=DEVICES {
        users.push_str(&format!(
            "u{i:06};pw{i:06};[authentication username=u{i:06} password=pw{i:06}]\n"
        ));
    }
    std::fs::write(dir.path().join("users.csv"), users).unwrap();
    let kit = anchor_kit();
    let kit_scenario = |name: &str| kit_scenario(&kit, name);
    let anchor_out = tempfile::tempdir().unwrap();
    let reg_args = register_args(&node.sip_udp, &kit_scenario("reg-auth.xml"));
    // Every device registers once at a gentle rate: the memory a registered device holds.
    let _ = sipp_step(&reg_args, 2000, (DEVICES / 2000) as u32, dir.path());
    let registered = http
        .get(api("/registrations"))
        .basic_auth("admin", Some(PW))
        .send()
        .ok()
        .and_then(|r| r.json::<serde_json::Value>().ok())
        .and_then(|v| v["items"].as_array().map(|a| a.len()))
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(35)); // completed transactions expire (Timer J)
    let rss_registered = rss_of(pid);
    let per_device = rss_registered.saturating_sub(rss_before) as f64 / DEVICES as f64;
    let per_binding =
        rss_registered.saturating_sub(rss_provisioned) as f64 / registered.max(1) as f64;
    let mut kam_reg = |rate: u32| {
        kit.as_deref()
            .and_then(|k| kamailio_register_step(k, rate, 10, anchor_out.path()))
    };
    // DIALTONE_BENCH_REG_STEPS and DIALTONE_BENCH_STEPS (calls) for a quick look.
    let reg_steps = steps_from(
        "DIALTONE_BENCH_REG_STEPS",
        &[2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 20000],
    );
    let (reg, reg_anchor) = rising(
        &reg_steps,
        10,
        |rate| node_step(pid, rate, 10, || sipp_step(&reg_args, rate, 10, dir.path())),
        kit.as_ref()
            .map(|_| &mut kam_reg as &mut dyn FnMut(u32) -> Option<Step>),
        "REGISTER+digest",
    );
    let rss_overload = rss_of(pid);

    let rig = CallRig::new(&node, dir.path(), &kit_scenario);
    let (trunk_uac, device_uac) = (rig.trunk_uac.clone(), rig.device_uac.clone());
    let call_step = |rate: u32, secs: u32, uac: Vec<String>| {
        node_step(pid, rate, secs, || rig.step(rate, secs, uac))
    };
    let secs = 10;
    let mut kam_calls = |rate: u32| {
        kit.as_deref()
            .and_then(|k| kamailio_calls_step(k, rate, secs, anchor_out.path()))
    };
    let steps = steps_from(
        "DIALTONE_BENCH_STEPS",
        &[500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000],
    );
    let (trunk_calls, calls_anchor) = rising(
        &steps,
        secs,
        |rate| call_step(rate, secs, trunk_uac.clone()),
        kit.as_ref()
            .map(|_| &mut kam_calls as &mut dyn FnMut(u32) -> Option<Step>),
        "calls (trunk)",
    );
    let (device_calls, _) = rising(
        &steps,
        secs,
        |rate| call_step(rate, secs, device_uac.clone()),
        None,
        "calls (digest)",
    );
    let rss_after_calls = rss_of(pid);
    // Once every transaction's timer (64*T1) has passed: what the calls left behind for good.
    std::thread::sleep(Duration::from_secs(40));
    let rss_settled = rss_of(pid);
    vec![
        Row {
            name: "node: digest REGISTERs/s from 30,000 devices (kit scenario, highest clean step)",
            median: reg.achieved,
            unit: "reg/s",
            target: "at least 1.0x Kamailio",
            anchor: format!(
                "{}{}",
                ratio(reg.achieved, reg_anchor.achieved, ""),
                cpu_beside(&reg, &reg_anchor, "registration (two transactions)")
            ),
        },
        Row {
            name: "node: memory per provisioned and registered device (30,000)",
            median: per_device,
            unit: "bytes",
            target: "-",
            anchor: format!(
                "{registered} bindings, {:.0} bytes each; RSS {:.0} MB empty, {:.0} MB provisioned, {:.0} MB registered, {:.0} MB after the overload steps",
                per_binding,
                rss_before as f64 / 1e6,
                rss_provisioned as f64 / 1e6,
                rss_registered as f64 / 1e6,
                rss_overload as f64 / 1e6
            ),
        },
        Row {
            name: "node: complete calls/s (INVITE to BYE) from a trusted trunk to a registered phone",
            median: trunk_calls.achieved,
            unit: "calls/s",
            target: "at least 1.0x Kamailio",
            anchor: format!(
                "{}{}",
                ratio(
                    trunk_calls.achieved,
                    calls_anchor.achieved,
                    " (Kamailio proxies; Dialtone runs two legs)"
                ),
                cpu_beside(&trunk_calls, &calls_anchor, "call")
            ),
        },
        Row {
            name: "node: complete calls/s with digest-authenticated INVITEs from a device",
            median: device_calls.achieved,
            unit: "calls/s",
            target: "at least 1.0x Kamailio",
            anchor: format!(
                "same anchor: {}{}; RSS after the calls {:.0} MB, {:.0} MB once their transactions' timers passed",
                ratio(device_calls.achieved, calls_anchor.achieved, ""),
                cpu_beside(&device_calls, &calls_anchor, "call"),
                rss_after_calls as f64 / 1e6,
                rss_settled as f64 / 1e6
            ),
        },
    ]
}
