//! The dial plan: compiling 100,000 patterns and one analysis through a calling search space.

use super::*;

/// 100,000 patterns in 1,000 partitions, in the shapes real plans have: extensions, wildcard
/// ranges and variable-length PSTN patterns.
pub(crate) fn big_plan() -> dialtone_dialplan::PlanConfig {
    use dialtone_dialplan::*;
    let mut cfg = PlanConfig::default();
    for p in 0..1000 {
        cfg.partitions.push(format!("PT_{p}"));
    }
    for c in 0..100 {
        let parts = (0..10)
            .map(|k| format!("PT_{}", (c * 10 + k) % 1000))
            .collect();
        cfg.calling_search_spaces.push((format!("CSS_{c}"), parts));
    }
    cfg.route_groups.push(RouteGroupDef {
        name: "RG".into(),
        trunks: vec!["T1".into(), "T2".into()],
        local: false,
    });
    cfg.route_lists.push(("RL".into(), vec!["RG".into()]));
    for p in 0..1000 {
        let partition = Some(format!("PT_{p}"));
        for i in 0..90 {
            cfg.entries.push(EntryDef {
                pattern: format!("{}{:03}{:02}", 1 + p % 9, p, i),
                partition: partition.clone(),
                kind: EntryKind::DirectoryNumber,
            });
        }
        for (i, pat) in [
            "9.[2-9]XXXXXX",
            "9.1[2-9]XX[2-9]XXXXXX",
            "9.011!",
            "911",
            "9.911",
            "8XXX",
            "7[0-4]XX",
            "6!",
            "5XX[13579]",
            "\\+1!",
        ]
        .iter()
        .enumerate()
        {
            cfg.entries.push(EntryDef {
                pattern: format!("{p:03}{i}{pat}"),
                partition: partition.clone(),
                kind: EntryKind::Route {
                    target: Some(RouteTarget::RouteList("RL".into())),
                    blocked: false,
                    urgent: false,
                    manipulation: Manipulation {
                        discard: Discard::PreDot,
                        ..Default::default()
                    },
                    fac_level: None,
                    cmc: false,
                },
            });
        }
    }
    cfg
}

pub(crate) fn dialplan_rows() -> Vec<Row> {
    use dialtone_dialplan::*;
    let cfg = big_plan();
    let n = cfg.entries.len();
    // Memory: the resident growth of the first compile (later ones reuse freed memory).
    let before = rss_bytes();
    let first = Plan::compile(&cfg).expect("the benchmark plan compiles");
    let mem_per_pattern = rss_bytes().saturating_sub(before) as f64 / n as f64;
    drop(first);
    let mut compile_ms = Vec::new();
    let mut plan = None;
    for _ in 0..5 {
        drop(plan.take());
        let t = Instant::now();
        let p = Plan::compile(&cfg).expect("the benchmark plan compiles");
        compile_ms.push(t.elapsed().as_secs_f64() * 1e3);
        plan = Some(p);
    }
    let plan = plan.unwrap();
    // Dialled numbers that each CSS reaches: an extension, a PSTN number, a miss.
    let mut work = Vec::new();
    for c in 0..100usize {
        let p = c * 10 + 3;
        work.push((
            format!("CSS_{c}"),
            format!("{}{:03}{:02}", 1 + p % 9, p, 42),
        ));
        work.push((format!("CSS_{c}"), format!("{p:03}095551234")));
        work.push((format!("CSS_{c}"), "123".to_string()));
    }
    let mut per_lookup = Vec::new();
    let mut sink = 0usize;
    for _ in 0..9 {
        let t = Instant::now();
        let rounds = 200;
        for _ in 0..rounds {
            for (css, dialled) in &work {
                let css = [css.as_str()];
                let out = plan.analyse(&Request {
                    dialled,
                    calling: "1000",
                    css: &css,
                    local_route_group: None,
                    external_mask: None,
                    mode: Mode::EnBloc,
                });
                sink += matches!(out, Outcome::Route(_)) as usize;
            }
        }
        per_lookup.push(t.elapsed().as_secs_f64() * 1e9 / (rounds * work.len()) as f64);
    }
    assert!(sink > 0);
    vec![
        Row {
            name: "dial plan: compile 100,000 patterns in 1,000 partitions",
            median: median(compile_ms),
            unit: "ms",
            target: "under 1000 ms",
            anchor: "-".into(),
        },
        Row {
            name: "dial plan: analysis through a 10-partition CSS",
            median: median(per_lookup),
            unit: "ns",
            target: "under 1000 ns",
            anchor: "-".into(),
        },
        Row {
            name: "dial plan: memory per pattern (RSS growth / patterns)",
            median: mem_per_pattern,
            unit: "bytes",
            target: "reported",
            anchor: "-".into(),
        },
    ]
}
