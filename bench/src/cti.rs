//! 1,000 CTI watchers beside calls: events delivered and the call rate kept, for the typical and the worst case.

use super::*;

/// 1,000 CTI applications on the WebSocket: watcher `i` watches the lines `lines(i)`.
/// Counts what they receive; dropped (and so disconnected) with the runtime.
pub(crate) struct Watchers {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) events: Arc<AtomicU64>,
    pub(crate) lagged: Arc<AtomicU64>,
    pub(crate) connected: u64,
}

impl Watchers {
    pub(crate) fn connect(
        node: &Node,
        count: usize,
        lines: impl Fn(usize) -> Vec<String>,
    ) -> Watchers {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let events = Arc::new(AtomicU64::new(0));
        let lagged = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicU64::new(0));
        let url = format!("{}/api/v1/cti/ws", node.http.replace("http://", "ws://"));
        let auth = format!("Basic {}", basic_credentials("admin", PW));
        for i in 0..count {
            let watch = serde_json::json!({"op": "watch", "lines": lines(i), "id": 1}).to_string();
            let (events, lagged, connected, url, auth) = (
                events.clone(),
                lagged.clone(),
                connected.clone(),
                url.clone(),
                auth.clone(),
            );
            rt.spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                use tokio_tungstenite::tungstenite::Message;
                let mut req = url.into_client_request().unwrap();
                req.headers_mut()
                    .insert("Authorization", auth.parse().unwrap());
                let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
                    return;
                };
                if ws.send(Message::text(watch)).await.is_err() {
                    return;
                }
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        let t = t.as_str();
                        if t.contains("\"reply\"") {
                            connected.fetch_add(1, Ordering::Relaxed);
                        } else if t.starts_with("{\"event\":\"lagged\"") {
                            lagged.fetch_add(1, Ordering::Relaxed);
                        } else {
                            events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        let until = Instant::now() + Duration::from_secs(60);
        while (connected.load(Ordering::Relaxed) as usize) < count && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
        let connected = connected.load(Ordering::Relaxed);
        Watchers {
            rt,
            events,
            lagged,
            connected,
        }
    }

    /// (events/s received, lag notices) while `run` runs.
    pub(crate) fn during<T>(&self, run: impl FnOnce() -> T) -> (f64, u64, T) {
        let (e0, l0) = (
            self.events.load(Ordering::Relaxed),
            self.lagged.load(Ordering::Relaxed),
        );
        let started = Instant::now();
        let out = run();
        let secs = started.elapsed().as_secs_f64();
        let e = (self.events.load(Ordering::Relaxed) - e0) as f64 / secs;
        (e, self.lagged.load(Ordering::Relaxed) - l0, out)
    }
}

/// A CTI benchmark case: its two rows' names and which lines watcher `i` watches.
pub(crate) type WatchCase<'a> = (&'static str, &'static str, &'a dyn Fn(usize) -> Vec<String>);

/// CTI monitoring at scale: 1,000 applications on the WebSocket beside calls to line 1001.
/// Typical: ten watch line 1001 (a supervisor, a console), the other 990 watch 100 idle
/// lines each (99,000 watches in all). Worst: all 1,000 watch line 1001, so every event fans
/// out a thousandfold, beyond `api.cti_deliveries_per_second`. For each: the call rate with
/// the watchers beside the rate without (same rising steps, same run), and the events per
/// second delivered while calls run at the rate reached without watchers.
pub(crate) fn cti_rows(binary: &str) -> Vec<Row> {
    if Command::new("sipp").arg("-v").output().is_err() {
        eprintln!("sipp not installed (apt-get install sip-tester): skipping the CTI benchmark");
        return vec![];
    }
    const WATCHERS: usize = 1000;
    const IDLE_LINES: usize = 1000;
    let node = start_node_with(binary, "[api]\nallow_over_http = true\n");
    let mut csv = String::from("pattern,partition\n");
    for i in 0..IDLE_LINES {
        csv.push_str(&format!("{},Internal_PT\n", 20000 + i));
    }
    bulk_import(&node, "directory-numbers", csv);
    let dir = tempfile::tempdir().unwrap();
    let kit = anchor_kit();
    let kit_scenario = |name: &str| kit_scenario(&kit, name);
    let rig = CallRig::new(&node, dir.path(), &kit_scenario);
    let secs = 10;
    // DIALTONE_BENCH_STEPS=500,1000 for a quick look.
    let steps = steps_from(
        "DIALTONE_BENCH_STEPS",
        &[500, 1000, 1500, 2000, 2500, 3000, 3500, 4000],
    );
    let pid = node.child.id();
    let calls = |r: u32| node_step(pid, r, secs, || rig.step(r, secs, rig.trunk_uac.clone()));
    // A rising run ends on an overloaded step: its retransmissions and lingering
    // transactions (Timer B/H, 32 s) must die out before the next measurement.
    let settle = || std::thread::sleep(Duration::from_secs(35));
    // Kamailio proxying the kit's calls, alternating with ours, anchors the rate itself.
    let anchor_out = tempfile::tempdir().unwrap();
    let mut kam_calls = |rate: u32| {
        kit.as_deref()
            .and_then(|k| kamailio_calls_step(k, rate, secs, anchor_out.path()))
    };
    let (alone, kamailio) = rising(
        &steps,
        secs,
        calls,
        kit.as_ref()
            .map(|_| &mut kam_calls as &mut dyn FnMut(u32) -> Option<Step>),
        "calls without watchers",
    );
    settle();
    // The highest step the node ran clean without watchers.
    let at = steps
        .iter()
        .copied()
        .filter(|s| *s as f64 * 0.9 <= alone.achieved)
        .max()
        .unwrap_or(steps[0]);
    let mut rows = vec![Row {
        name: "CTI: complete calls/s without watchers (the rate the watcher rows compare with)",
        median: alone.achieved,
        unit: "calls/s",
        target: "at least 1.0x Kamailio",
        anchor: format!(
            "{}{}",
            ratio(
                alone.achieved,
                kamailio.achieved,
                " (Kamailio proxies; Dialtone runs two legs)",
            ),
            cpu_beside(&alone, &kamailio, "call")
        ),
    }];
    let cases: [WatchCase; 2] = [
        (
            "CTI typical: events/s delivered to 1,000 WebSocket watchers (10 on the called line, 990 on 100 idle lines each), calls at the rate reached without watchers",
            "CTI typical: complete calls/s beside those 1,000 watchers (highest clean step)",
            &|i: usize| {
                if i < 10 {
                    vec!["1001".to_string()]
                } else {
                    (0..100)
                        .map(|k| (20000 + (i * 100 + k) % IDLE_LINES).to_string())
                        .collect()
                }
            },
        ),
        (
            "CTI worst case: events/s delivered to 1,000 WebSocket watchers all on the called line, calls at the rate reached without watchers",
            "CTI worst case: complete calls/s beside 1,000 watchers of the called line (highest clean step)",
            &|_| vec!["1001".to_string()],
        ),
    ];
    for (events_row, calls_row, lines) in cases {
        let w = Watchers::connect(&node, WATCHERS, lines);
        let (with, _) = rising(&steps, secs, calls, None, calls_row);
        settle();
        let (delivered, lags, step) = w.during(|| calls(at));
        rows.push(Row {
            name: events_row,
            median: delivered,
            unit: "events/s",
            target: "-",
            anchor: format!(
                "{} watchers connected; calls at {at}/s: {step:?}; {lags} lag notices (each followed by a snapshot; at most one a second per watcher)",
                w.connected
            ),
        });
        rows.push(Row {
            name: calls_row,
            median: with.achieved,
            unit: "calls/s",
            target: "at least 0.9x without watchers",
            anchor: format!(
                "{:.0}/s without watchers, same run: ratio {:.2}; CPU per call {} beside {} without watchers",
                alone.achieved,
                if alone.achieved > 0.0 { with.achieved / alone.achieved } else { 0.0 },
                with.cpu_ms.map(|c| format!("{:.0} µs", c * 1000.0)).unwrap_or_default(),
                alone.cpu_ms.map(|c| format!("{:.0} µs", c * 1000.0)).unwrap_or_default(),
            ),
        });
        w.rt.shutdown_background();
        settle();
    }
    rows
}
