//! Extension Mobility logins and logouts per minute through the phone service.

use super::*;

/// Extension Mobility logins and logouts through the phone service, as users do them: user ID
/// and PIN submitted from the phone, the phone reset and registered with the profile's line,
/// then logged out and back on its own line. Every login is a different user, so every PIN is
/// a full argon2id check. The seed's figure is 250 a minute per node; the target 25,000.
pub(crate) fn em_rows(binary: &str) -> Vec<Row> {
    const PHONES: usize = 200;
    const USERS: usize = 6_000;
    let node = start_node(binary);
    let mut csv =
        String::from("name,model,digest_user,digest_password,line1.pattern,line1.partition\n");
    for i in 0..PHONES {
        csv.push_str(&format!(
            "SEP0E0000{i:06},Cisco 8865,desk{i},pw{i},6{i:04},Internal_PT\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    let mut csv = String::from("name,model,line1.pattern,line1.partition\n");
    for i in 0..USERS {
        csv.push_str(&format!("em{i}_UDP,Cisco 8865,7{i:04},Internal_PT\n"));
    }
    bulk_import(&node, "device-profiles", csv);
    let mut csv = String::from("user_id,last_name,pin,device_profiles\n");
    for i in 0..USERS {
        csv.push_str(&format!("em{i},Mobile,{:05},em{i}_UDP\n", 10_000 + i));
    }
    bulk_import(&node, "users", csv);
    std::thread::sleep(Duration::from_secs(2)); // the snapshots follow
    let rt = tokio::runtime::Runtime::new().unwrap();
    let phones: Vec<dialtone_phonesim::Phone> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..PHONES {
            let ip = std::net::IpAddr::from([127, 42, (i / 250) as u8, (i % 250 + 1) as u8]);
            let mut spec = dialtone_phonesim::Spec::new(
                &format!("SEP0E0000{i:06}"),
                &format!("pw{i}"),
                ip,
                &node.config_http,
            );
            spec.web_port = 18009;
            out.push(
                dialtone_phonesim::Phone::start(spec)
                    .await
                    .expect("phone boots"),
            );
        }
        out
    });
    let next = Arc::new(AtomicU64::new(0));
    let http_base = node.http.clone();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let latencies: Vec<f64> = rt.block_on(async {
        let tasks: Vec<_> = phones
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let (p, next, base) = (p.clone(), next.clone(), http_base.clone());
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    let device = p.device().to_owned();
                    let own = format!("6{n:04}");
                    let mut events = p.events();
                    while Instant::now() < deadline {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= USERS {
                            break;
                        }
                        let line = format!("7{i:04}");
                        let t0 = Instant::now();
                        let url = format!("{base}/emapp/EMAppServlet?device={device}&userid=em{i}&pin={:05}", 10_000 + i);
                        let shown = p.open(&url).await.expect("login page");
                        assert!(format!("{shown:?}").contains("Welcome"), "{shown:?}");
                        p.wait_for(&mut events, Duration::from_secs(10), |e| {
                            matches!(e, dialtone_phonesim::PhoneEvent::Registered { aor } if *aor == line)
                        })
                        .await
                        .expect("registered with the profile's line");
                        mine.push(t0.elapsed().as_secs_f64() * 1000.0);
                        p.open(&format!("{base}/emapp/EMAppServlet?device={device}&logout=true"))
                            .await
                            .expect("logout");
                        p.wait_for(&mut events, Duration::from_secs(10), |e| {
                            matches!(e, dialtone_phonesim::PhoneEvent::Registered { aor } if *aor == own)
                        })
                        .await
                        .expect("back on its own line");
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let per_minute = (latencies.len() * 2) as f64 / elapsed * 60.0;
    let mut sorted = latencies.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q) as usize];
    rt.block_on(async {
        for p in &phones {
            p.stop().await;
        }
    });
    vec![
        Row {
            name: "EM logins + logouts via the phone service, 200 phones resetting and re-registering, a new user each login",
            median: per_minute,
            unit: "per minute",
            target: ">= 25,000 (seed: 250 per node)",
            anchor: format!("{} logins", latencies.len()),
        },
        Row {
            name: "EM: PIN submitted to the phone registered with the profile's line, median",
            median: pct(0.5),
            unit: "ms",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "EM: PIN submitted to the phone registered with the profile's line, 99th percentile",
            median: pct(0.99),
            unit: "ms",
            target: "-",
            anchor: "-".into(),
        },
    ]
}
