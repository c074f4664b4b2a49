//! The dial plan's rules, table by table, and a property test against a brute-force matcher.

use dialtone_dialplan::*;

fn dn(pattern: &str, partition: Option<&str>) -> EntryDef {
    EntryDef {
        pattern: pattern.into(),
        partition: partition.map(Into::into),
        kind: EntryKind::DirectoryNumber,
    }
}

fn rp(pattern: &str, partition: &str) -> EntryDef {
    EntryDef {
        pattern: pattern.into(),
        partition: Some(partition.into()),
        kind: EntryKind::RoutePoint,
    }
}

fn route(pattern: &str, partition: &str, list: &str, m: Manipulation) -> EntryDef {
    EntryDef {
        pattern: pattern.into(),
        partition: Some(partition.into()),
        kind: EntryKind::Route {
            target: Some(RouteTarget::RouteList(list.into())),
            blocked: false,
            urgent: false,
            manipulation: m,
            fac_level: None,
            cmc: false,
        },
    }
}

fn css(name: &str, parts: &[&str]) -> (String, Vec<String>) {
    (name.into(), parts.iter().map(|s| s.to_string()).collect())
}

fn req<'a>(dialled: &'a str, css: &'a [&'a str]) -> Request<'a> {
    Request {
        dialled,
        calling: "1000",
        css,
        local_route_group: None,
        external_mask: None,
        mode: Mode::EnBloc,
    }
}

/// Where a call ends up, in a form tables can spell.
fn land(plan: &Plan, r: &Request) -> String {
    match plan.analyse(r) {
        Outcome::Route(d) => match d.target {
            Target::Line { number, partition } => {
                format!("line {number}@{}", partition.unwrap_or_default())
            }
            Target::RoutePoint { number, partition } => {
                format!("rp {number}@{}", partition.unwrap_or_default())
            }
            Target::Trunks { trunks } => format!(
                "trunks {} called {}",
                trunks
                    .iter()
                    .map(|t| t.trunk.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                d.called
            ),
        },
        Outcome::MoreDigits { best } => {
            format!(
                "more digits (best {})",
                best.map(|b| b.pattern).unwrap_or_default()
            )
        }
        Outcome::Incomplete => "484".into(),
        Outcome::NoMatch => "404".into(),
        Outcome::Blocked { pattern, .. } => format!("blocked {pattern}"),
        Outcome::CodeRequired { code, .. } => format!("code required {code:?}"),
        Outcome::CodeRejected { code, .. } => format!("code rejected {code:?}"),
        Outcome::TranslationLoop { .. } => "loop".into(),
    }
}

fn pstn_groups() -> (Vec<RouteGroupDef>, Vec<(String, Vec<String>)>) {
    (
        vec![
            RouteGroupDef {
                name: "Standard Local Route Group".into(),
                trunks: vec![],
                local: true,
            },
            RouteGroupDef {
                name: "HQ_RG".into(),
                trunks: vec!["HQ_GW".into(), "HQ_GW2".into()],
                local: false,
            },
            RouteGroupDef {
                name: "Visiting_RG".into(),
                trunks: vec!["EMCC_Trunk".into()],
                local: false,
            },
        ],
        vec![
            ("PSTN_RL".into(), vec!["HQ_RG".into()]),
            ("LRG_RL".into(), vec!["Standard Local Route Group".into()]),
        ],
    )
}

/// Figure 18-12: proxy line mode with three partitions and two calling search spaces.
fn figure_18_12() -> PlanConfig {
    PlanConfig {
        partitions: vec![
            "Assistant_Route_Point".into(),
            "Assistant_Everyone".into(),
            "Assistant_Manager".into(),
        ],
        calling_search_spaces: vec![
            css(
                "ASSISTANT_EVERYONE_CSS",
                &["Assistant_Route_Point", "Assistant_Everyone"],
            ),
            css(
                "MANAGER_EVERYONE_CSS",
                &["Assistant_Manager", "Assistant_Everyone"],
            ),
        ],
        entries: vec![
            // The Assistant route point covers every manager number.
            rp("10XX", "Assistant_Route_Point"),
            dn("1001", Some("Assistant_Manager")),
            dn("1002", Some("Assistant_Manager")),
            dn("2001", Some("Assistant_Everyone")), // assistant's primary line
            dn("3001", Some("Assistant_Everyone")), // another user
        ],
        ..Default::default()
    }
}

#[test]
fn figure_18_12_only_the_route_point_and_proxy_lines_reach_managers() {
    let plan = Plan::compile(&figure_18_12()).unwrap();
    let everyone: &[&str] = &["ASSISTANT_EVERYONE_CSS"];
    let manager_side: &[&str] = &["MANAGER_EVERYONE_CSS"];
    let table = [
        // (caller's line CSS, dialled, lands on)
        (everyone, "1001", "rp 10XX@Assistant_Route_Point"), // a user calling the manager is intercepted
        (everyone, "1002", "rp 10XX@Assistant_Route_Point"), // so is a manager calling another manager
        (everyone, "2001", "line 2001@Assistant_Everyone"),
        (everyone, "3001", "line 3001@Assistant_Everyone"),
        (manager_side, "1001", "line 1001@Assistant_Manager"), // proxy line and RP reach the manager
        (manager_side, "1002", "line 1002@Assistant_Manager"),
        (manager_side, "3001", "line 3001@Assistant_Everyone"),
        (manager_side, "95551234", "404"),
        (everyone, "95551234", "404"),
    ];
    for (css, dialled, expect) in table {
        assert_eq!(
            land(&plan, &req(dialled, css)),
            expect,
            "{css:?} dials {dialled}"
        );
    }
}

#[test]
fn figure_18_13_integration_keeps_the_proxy_mechanism() {
    let mut cfg = figure_18_12();
    let (groups, lists) = pstn_groups();
    cfg.route_groups = groups;
    cfg.route_lists = lists;
    cfg.partitions.extend(["On_Cluster".into(), "PSTN".into()]);
    cfg.calling_search_spaces = vec![
        css(
            "ASSISTANT_EVERYONE_CSS",
            &["Assistant_Route_Point", "Assistant_Everyone", "On_Cluster"],
        ),
        css(
            "MANAGER_EVERYONE_CSS",
            &["Assistant_Manager", "Assistant_Everyone", "On_Cluster"],
        ),
        css(
            "UNRESTRICTED_CSS",
            &[
                "Assistant_Route_Point",
                "Assistant_Everyone",
                "On_Cluster",
                "PSTN",
            ],
        ),
    ];
    cfg.entries.push(dn("4001", Some("On_Cluster")));
    cfg.entries.push(route(
        "9.!",
        "PSTN",
        "PSTN_RL",
        Manipulation {
            discard: Discard::PreDot,
            ..Default::default()
        },
    ));
    let plan = Plan::compile(&cfg).unwrap();
    let everyone: &[&str] = &["ASSISTANT_EVERYONE_CSS"];
    let manager_side: &[&str] = &["MANAGER_EVERYONE_CSS"];
    let manager_line: &[&str] = &["UNRESTRICTED_CSS"]; // the manager's own line moved here
    let table = [
        (everyone, "4001", "line 4001@On_Cluster"),
        (manager_side, "4001", "line 4001@On_Cluster"),
        (manager_line, "4001", "line 4001@On_Cluster"),
        (
            manager_line,
            "95551234",
            "trunks HQ_GW,HQ_GW2 called 5551234",
        ),
        (manager_line, "1002", "rp 10XX@Assistant_Route_Point"), // still intercepted
        (everyone, "95551234", "404"),                           // no PSTN for everyone
        (manager_side, "95551234", "404"),                       // nor for proxy lines
        (manager_side, "1001", "line 1001@Assistant_Manager"),
        (everyone, "1001", "rp 10XX@Assistant_Route_Point"),
    ];
    for (css, dialled, expect) in table {
        assert_eq!(
            land(&plan, &req(dialled, css)),
            expect,
            "{css:?} dials {dialled}"
        );
    }
}

#[test]
fn emcc_adjunct_css_sends_911_through_the_local_route_group() {
    let (groups, lists) = pstn_groups();
    let cfg = PlanConfig {
        partitions: vec![
            "EMCC_Emergency_PT".into(),
            "Internal_PT".into(),
            "PSTN_PT".into(),
        ],
        calling_search_spaces: vec![
            css("Adjunct_CSS", &["EMCC_Emergency_PT"]),
            css("Line_CSS", &["Internal_PT", "PSTN_PT"]),
            css("EMCC_CSS", &["Internal_PT"]),
        ],
        route_groups: groups,
        route_lists: lists,
        entries: vec![
            route(
                "911",
                "EMCC_Emergency_PT",
                "LRG_RL",
                Manipulation::default(),
            ),
            route("911", "PSTN_PT", "PSTN_RL", Manipulation::default()),
            route(
                "9.!",
                "PSTN_PT",
                "PSTN_RL",
                Manipulation {
                    discard: Discard::PreDot,
                    ..Default::default()
                },
            ),
            dn("1000", Some("Internal_PT")),
        ],
        ..Default::default()
    };
    let plan = Plan::compile(&cfg).unwrap();
    let assembled: &[&str] = &["Adjunct_CSS", "Line_CSS", "EMCC_CSS"];
    let mut r = req("911", assembled);
    r.local_route_group = Some("Visiting_RG");
    assert_eq!(
        land(&plan, &r),
        "trunks EMCC_Trunk called 911",
        "same pattern, adjunct partition first"
    );
    let (_, why) = plan.explain(&r);
    assert_eq!(why.steps[0].matched.len(), 3, "911 twice, and 9.!");
    assert!(
        why.steps[0].reason.contains("partition comes first"),
        "{:?}",
        why.steps[0]
    );
    // Other numbers still use the home cluster's plan.
    assert_eq!(
        land(&plan, &req("95551234", assembled)),
        "trunks HQ_GW,HQ_GW2 called 5551234"
    );
    // A home-cluster phone without the adjunct CSS reaches the home gateway.
    assert_eq!(
        land(&plan, &req("911", &["Line_CSS"])),
        "trunks HQ_GW,HQ_GW2 called 911"
    );
    // No Local Route Group bound: the placeholder is skipped and says so.
    let r = req("911", assembled);
    assert_eq!(land(&plan, &r), "trunks  called 911");
    let (_, why) = plan.explain(&r);
    assert!(why
        .steps
        .iter()
        .any(|s| s.notes.iter().any(|n| n.contains("Local Route Group"))));
}

#[test]
fn closest_match_and_search_order() {
    let cfg = PlanConfig {
        partitions: vec!["A".into(), "B".into()],
        calling_search_spaces: vec![
            css("AB", &["A", "B"]),
            css("BA", &["B", "A"]),
            css("A", &["A"]),
            css("B", &["B"]),
        ],
        entries: vec![
            dn("1XXX", Some("A")),
            dn("12XX", Some("B")),
            dn("1!", Some("A")),
            dn("2000", Some("A")),
            dn("2000", Some("B")),
            dn("3000", None),
            dn("[3-4]000", Some("B")),
        ],
        ..Default::default()
    };
    let plan = Plan::compile(&cfg).unwrap();
    let table: &[(&[&str], &str, &str)] = &[
        (&["AB"], "1234", "line 12XX@B"), // 100 numbers beat 1000, whatever the partition order
        (&["AB"], "1334", "line 1XXX@A"), // fixed length beats 1!
        (&["AB"], "13345", "line 1!@A"),
        (&["AB"], "2000", "line 2000@A"), // a tie goes to the earlier partition
        (&["BA"], "2000", "line 2000@B"),
        (&["A", "B"], "2000", "line 2000@A"), // line CSS before device CSS
        (&["B", "A"], "2000", "line 2000@B"),
        (&["A"], "3000", "line 3000@"), // no partition: every CSS reaches it
        (&["B"], "3000", "line 3000@"), // one number beats two
        (&["B"], "4000", "line [3-4]000@B"),
        (&["A"], "1", "484"),
        (&["A"], "5", "404"),
        (&["NoSuch"], "3000", "line 3000@"),
    ];
    for (css, dialled, expect) in table {
        assert_eq!(
            land(&plan, &req(dialled, css)),
            *expect,
            "{css:?} dials {dialled}"
        );
    }
}

#[test]
fn urgent_blocked_and_overlap_dialling() {
    let (groups, lists) = pstn_groups();
    let mut entries = vec![
        route(
            "9.!",
            "PSTN",
            "PSTN_RL",
            Manipulation {
                discard: Discard::PreDot,
                ..Default::default()
            },
        ),
        route("911", "PSTN", "PSTN_RL", Manipulation::default()),
        route("9.1900XXXXXXX", "PSTN", "PSTN_RL", Manipulation::default()),
    ];
    if let EntryKind::Route { urgent, .. } = &mut entries[1].kind {
        *urgent = true;
    }
    if let EntryKind::Route {
        blocked, target, ..
    } = &mut entries[2].kind
    {
        *blocked = true;
        *target = None;
    }
    let cfg = PlanConfig {
        partitions: vec!["PSTN".into()],
        calling_search_spaces: vec![css("U", &["PSTN"])],
        route_groups: groups,
        route_lists: lists,
        entries,
        ..Default::default()
    };
    let plan = Plan::compile(&cfg).unwrap();
    let u: &[&str] = &["U"];
    let mut r = req("911", u);
    assert_eq!(land(&plan, &r), "trunks HQ_GW,HQ_GW2 called 911");
    r.mode = Mode::Overlap;
    assert_eq!(
        land(&plan, &r),
        "trunks HQ_GW,HQ_GW2 called 911",
        "urgent routes at once"
    );
    let mut r = req("9555", u);
    r.mode = Mode::Overlap;
    assert_eq!(
        land(&plan, &r),
        "more digits (best 9.!)",
        "not urgent: wait for the interdigit timeout"
    );
    let mut r = req("9", u);
    r.mode = Mode::Overlap;
    assert_eq!(land(&plan, &r), "more digits (best )");
    assert_eq!(
        land(&plan, &req("919005551234", u)),
        "blocked 9.1900XXXXXXX"
    );
    assert_eq!(land(&plan, &req("9", u)), "484");
}

#[test]
fn translations_manipulate_and_reanalyse_and_loops_stop() {
    let trans =
        |pattern: &str, partition: &str, css_name: Option<&str>, m: Manipulation| EntryDef {
            pattern: pattern.into(),
            partition: Some(partition.into()),
            kind: EntryKind::Translation {
                css: css_name.map(Into::into),
                blocked: false,
                urgent: false,
                manipulation: m,
            },
        };
    let cfg = PlanConfig {
        partitions: vec!["Trans_PT".into(), "Internal_PT".into(), "Loop_PT".into()],
        calling_search_spaces: vec![
            css("Start", &["Trans_PT"]),
            css("Internal", &["Internal_PT"]),
            css("Loop", &["Loop_PT"]),
        ],
        entries: vec![
            // Dial 5 + extension from the old numbering: becomes 1XXX, analysed with Internal.
            trans(
                "5XXX",
                "Trans_PT",
                Some("Internal"),
                Manipulation {
                    called_mask: "1XXX".into(),
                    ..Default::default()
                },
            ),
            // The main number 4085550100 reaches the operator.
            trans(
                "408555.0100",
                "Trans_PT",
                Some("Internal"),
                Manipulation {
                    discard: Discard::PreDot,
                    called_mask: "1000".into(),
                    calling_mask: "".into(),
                    ..Default::default()
                },
            ),
            trans(
                "7XXX",
                "Trans_PT",
                Some("Loop"),
                Manipulation {
                    called_mask: "6XXX".into(),
                    ..Default::default()
                },
            ),
            trans(
                "6XXX",
                "Loop_PT",
                Some("Start"),
                Manipulation {
                    called_mask: "7XXX".into(),
                    ..Default::default()
                },
            ),
            trans(
                "88XX",
                "Trans_PT",
                Some("Internal"),
                Manipulation {
                    prefix: "1".into(),
                    discard: Discard::None,
                    called_mask: "XX".into(),
                    calling_mask: "5XXX".into(),
                    ..Default::default()
                },
            ),
            dn("1234", Some("Internal_PT")),
            dn("1000", Some("Internal_PT")),
            dn("112", Some("Internal_PT")),
        ],
        ..Default::default()
    };
    let plan = Plan::compile(&cfg).unwrap();
    let start: &[&str] = &["Start"];
    assert_eq!(land(&plan, &req("5234", start)), "line 1234@Internal_PT");
    assert_eq!(
        land(&plan, &req("4085550100", start)),
        "line 1000@Internal_PT"
    );
    assert_eq!(land(&plan, &req("7000", start)), "loop");
    match plan.analyse(&req("8812", start)) {
        Outcome::Route(d) => {
            assert_eq!(d.called, "112", "mask then prefix");
            assert_eq!(d.calling, "5000", "calling mask applied");
            assert_eq!(d.translations, vec!["88XX in Trans_PT".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    let (_, why) = plan.explain(&req("5234", start));
    assert_eq!(why.steps.len(), 2, "one step per analysis: {why:?}");
    assert_eq!(why.steps[1].dialled, "1234");
}

#[test]
fn route_pattern_manipulation_and_external_mask() {
    let (groups, lists) = pstn_groups();
    let cfg = PlanConfig {
        partitions: vec!["PSTN".into()],
        calling_search_spaces: vec![css("U", &["PSTN"])],
        route_groups: groups,
        route_lists: lists,
        entries: vec![
            route(
                "9.1[2-9]XX[2-9]XXXXXX",
                "PSTN",
                "PSTN_RL",
                Manipulation {
                    discard: Discard::PreDot,
                    use_external_mask: true,
                    ..Default::default()
                },
            ),
            route(
                "9.[2-9]XXXXXX",
                "PSTN",
                "PSTN_RL",
                Manipulation {
                    discard: Discard::PreDot,
                    prefix: "1408".into(),
                    calling_mask: "408555XXXX".into(),
                    ..Default::default()
                },
            ),
        ],
        ..Default::default()
    };
    let plan = Plan::compile(&cfg).unwrap();
    let u: &[&str] = &["U"];
    let mut r = req("914085551234", u);
    r.external_mask = Some("408555XXXX");
    let Outcome::Route(d) = plan.analyse(&r) else {
        panic!()
    };
    assert_eq!(
        (d.called.as_str(), d.calling.as_str()),
        ("14085551234", "4085551000")
    );
    let Outcome::Route(d) = plan.analyse(&req("95551234", u)) else {
        panic!()
    };
    assert_eq!(
        (d.called.as_str(), d.calling.as_str()),
        ("14085551234", "4085551000")
    );
}

#[test]
fn forced_authorization_and_client_matter_codes() {
    let (groups, lists) = pstn_groups();
    let mut intl = route(
        "9.011!",
        "PSTN",
        "PSTN_RL",
        Manipulation {
            discard: Discard::PreDot,
            ..Default::default()
        },
    );
    if let EntryKind::Route { fac_level, .. } = &mut intl.kind {
        *fac_level = Some(5);
    }
    let mut billed = route("8.XXXX", "PSTN", "PSTN_RL", Manipulation::default());
    if let EntryKind::Route { cmc, .. } = &mut billed.kind {
        *cmc = true;
    }
    let cfg = PlanConfig {
        partitions: vec!["PSTN".into()],
        calling_search_spaces: vec![css("U", &["PSTN"])],
        route_groups: groups,
        route_lists: lists,
        entries: vec![intl, billed],
        forced_authorization_codes: vec![
            ForcedAuthorizationCode {
                code: "1234".into(),
                name: "Sales".into(),
                level: 10,
            },
            ForcedAuthorizationCode {
                code: "1111".into(),
                name: "Lobby".into(),
                level: 1,
            },
        ],
        client_matter_codes: vec!["777".into()],
    };
    let plan = Plan::compile(&cfg).unwrap();
    let u: &[&str] = &["U"];
    assert_eq!(
        land(&plan, &req("9011441234567", u)),
        "code required ForcedAuthorization"
    );
    assert_eq!(
        land(&plan, &req("9011441234567#1111", u)),
        "code rejected ForcedAuthorization",
        "level too low"
    );
    assert_eq!(
        land(&plan, &req("9011441234567#9999", u)),
        "code rejected ForcedAuthorization"
    );
    match plan.analyse(&req("9011441234567#1234", u)) {
        Outcome::Route(d) => {
            assert_eq!(d.fac, Some(("Sales".into(), 10)));
            assert_eq!(d.called, "011441234567");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(land(&plan, &req("85555", u)), "code required ClientMatter");
    assert_eq!(
        land(&plan, &req("85555#000", u)),
        "code rejected ClientMatter"
    );
    let Outcome::Route(d) = plan.analyse(&req("85555#777", u)) else {
        panic!()
    };
    assert_eq!(d.cmc.as_deref(), Some("777"));
}

#[test]
fn compile_errors_name_the_entry() {
    let bad = |entries: Vec<EntryDef>| {
        Plan::compile(&PlanConfig {
            partitions: vec!["P".into()],
            entries,
            ..Default::default()
        })
        .unwrap_err()
    };
    let e = bad(vec![dn("12Y4", Some("P"))]);
    assert_eq!(e.entry, "directory number 12Y4 in P");
    assert!(e.message.contains("position 2"), "{e}");
    let e = bad(vec![dn("1000", Some("Q"))]);
    assert!(e.message.contains("no partition Q"), "{e}");
    let e = bad(vec![route("9.!", "P", "Nope_RL", Manipulation::default())]);
    assert!(e.message.contains("no route list"), "{e}");
    let e = bad(vec![dn("1000", Some("P")), dn("1000", Some("P"))]);
    assert!(e.message.contains("already"), "{e}");
}

mod brute_force {
    use super::*;
    use proptest::prelude::*;

    /// Closest-match key: variable length, numbers of this length, search rank, config order.
    type Key = (bool, u128, usize, usize);

    /// The reference: test every pattern of every searched partition with Pattern::matches,
    /// then take the closest by the rule stated in the crate.
    fn reference(cfg: &PlanConfig, dialled: &str, css_names: &[&str]) -> String {
        let mut search: Vec<Option<String>> = Vec::new();
        for name in css_names {
            if let Some((_, parts)) = cfg.calling_search_spaces.iter().find(|(n, _)| n == name) {
                for p in parts {
                    if !search.contains(&Some(p.clone())) {
                        search.push(Some(p.clone()));
                    }
                }
            }
        }
        search.push(None);
        let len = dialled.chars().count();
        let mut best: Option<(Key, &EntryDef)> = None;
        let mut more = false;
        for (id, e) in cfg.entries.iter().enumerate() {
            let Some(rank) = search.iter().position(|p| *p == e.partition) else {
                continue;
            };
            let p = Pattern::parse(&e.pattern).unwrap();
            let (complete, extend) = p.matches(dialled);
            more |= extend;
            if complete {
                let key = (p.is_variable(), p.count_at(len), rank, id);
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    best = Some((key, e));
                }
            }
        }
        match best {
            Some((_, e)) => format!(
                "line {}@{}",
                e.pattern,
                e.partition.clone().unwrap_or_default()
            ),
            None if more => "484".into(),
            None => "404".into(),
        }
    }

    fn element() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[0-3]".prop_map(|s| s),
            2 => Just("X".to_string()),
            1 => Just("[1-2]".to_string()),
            1 => Just("[^0]".to_string()),
            1 => Just("*".to_string()),
        ]
    }

    fn pattern() -> impl Strategy<Value = String> {
        (proptest::collection::vec(element(), 1..5), 0..4u8).prop_map(|(els, tail)| {
            let mut s = els.concat();
            match tail {
                1 => s.push('!'),
                2 => s.push('?'),
                _ => {}
            }
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]
        #[test]
        fn compiled_plan_agrees_with_brute_force(
            pats in proptest::collection::vec((pattern(), 0..4usize), 1..25),
            dialled in "[0-3*]{1,6}",
            order in proptest::sample::subsequence(vec!["P0", "P1", "P2"], 0..=3),
        ) {
            let mut cfg = PlanConfig {
                partitions: vec!["P0".into(), "P1".into(), "P2".into()],
                calling_search_spaces: vec![css("C", &order)],
                ..Default::default()
            };
            let mut seen = std::collections::HashSet::new();
            for (p, part) in pats {
                let partition = (part < 3).then(|| format!("P{part}"));
                if seen.insert((p.clone(), partition.clone())) {
                    cfg.entries.push(dn(&p, partition.as_deref()));
                }
            }
            let plan = Plan::compile(&cfg).unwrap();
            let css: &[&str] = &["C"];
            prop_assert_eq!(land(&plan, &req(&dialled, css)), reference(&cfg, &dialled, css));
        }
    }
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]
        /// Any text is either a pattern or a positioned error, never a panic.
        #[test]
        fn any_pattern_text(text in "\\PC{0,40}") {
            match Pattern::parse(&text) {
                Ok(p) => {
                    let _ = p.matches("0123456789*#+");
                    let _ = p.count_at(5);
                }
                Err(e) => prop_assert!(e.position <= text.chars().count()),
            }
        }

        /// Any dialled string gets an answer, codes and strange characters included.
        #[test]
        fn any_dialled_string(dialled in "[0-9*#+a\\-\u{e9}]{0,24}", overlap in any::<bool>()) {
            let (groups, lists) = pstn_groups();
            let mut intl = route("9.011!", "PSTN", "PSTN_RL", Manipulation { discard: Discard::PreDot, ..Default::default() });
            if let EntryKind::Route { fac_level, cmc, .. } = &mut intl.kind {
                *fac_level = Some(1);
                *cmc = true;
            }
            let cfg = PlanConfig {
                partitions: vec!["PSTN".into(), "I".into()],
                calling_search_spaces: vec![css("U", &["I", "PSTN"])],
                route_groups: groups,
                route_lists: lists,
                entries: vec![
                    intl,
                    route("9.!#", "PSTN", "LRG_RL", Manipulation { discard: Discard::PreDotTrailingHash, called_mask: "X#X".into(), ..Default::default() }),
                    dn("1XXX", Some("I")),
                    EntryDef { pattern: "*X?".into(), partition: None, kind: EntryKind::Translation {
                        css: Some("U".into()), blocked: false, urgent: false,
                        manipulation: Manipulation { called_mask: "1XXX".into(), ..Default::default() } } },
                ],
                forced_authorization_codes: vec![ForcedAuthorizationCode { code: "1".into(), name: "a".into(), level: 1 }],
                client_matter_codes: vec!["2".into()],
            };
            let plan = Plan::compile(&cfg).unwrap();
            let css: &[&str] = &["U", "missing"];
            let mut r = req(&dialled, css);
            r.mode = if overlap { Mode::Overlap } else { Mode::EnBloc };
            let _ = plan.explain(&r);
        }
    }
}
