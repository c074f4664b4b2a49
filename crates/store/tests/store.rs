//! The store's behaviour, run on SQLite and on PostgreSQL with the same cases.
//!
//! PostgreSQL comes from `DIALTONE_TEST_PG_URL` (the test script starts a throwaway server);
//! each case gets a database of its own. Without it the suite fails, rather than pretending to
//! have covered PostgreSQL, unless `DIALTONE_TEST_PG=skip` says so on purpose.

use dialtone_store::catalogue::resource;
use dialtone_store::{ListQuery, Store, StoreError};
use serde_json::{json, Value};

async fn postgres_store() -> Option<Store> {
    if std::env::var("DIALTONE_TEST_PG").as_deref() == Ok("skip") {
        return None;
    }
    let url = std::env::var("DIALTONE_TEST_PG_URL").expect(
        "DIALTONE_TEST_PG_URL is not set: run scripts/test (it starts PostgreSQL), or set DIALTONE_TEST_PG=skip",
    );
    sqlx::any::install_default_drivers();
    let db = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {db}").as_str())
        .await
        .expect("create a test database");
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
    Some(
        Store::open(&format!("{base}/{db}"), "dialtone")
            .await
            .expect("open PostgreSQL store"),
    )
}

/// One store per backend, each fresh.
async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let mut out = vec![(Store::open(&url, "dialtone").await.unwrap(), Some(dir))];
    if let Some(pg) = postgres_store().await {
        out.push((pg, None));
    }
    out
}

macro_rules! on_every_backend {
    ($name:ident, |$store:ident| $body:block) => {
        #[tokio::test]
        async fn $name() {
            for ($store, _dir) in stores().await {
                let backend = $store.backend();
                let run = async { $body };
                run.await;
                eprintln!("{} passed on {:?}", stringify!($name), backend);
            }
        }
    };
}

fn r(name: &str) -> &'static dialtone_store::catalogue::Resource {
    resource(name).unwrap()
}

async fn basic_plan(store: &Store) {
    store
        .create(r("partitions"), &json!({"name": "Internal_PT"}))
        .await
        .unwrap();
    store
        .create(
            r("calling-search-spaces"),
            &json!({"name": "Internal_CSS", "partitions": ["Internal_PT"]}),
        )
        .await
        .unwrap();
    store
        .create(
            r("directory-numbers"),
            &json!({"pattern": "1000", "partition": "Internal_PT", "css": "Internal_CSS"}),
        )
        .await
        .unwrap();
}

/// The first `limit` records of a resource, unfiltered.
async fn page(store: &Store, kind: &str, limit: i64) -> dialtone_store::ListPage {
    store
        .list(
            r(kind),
            &ListQuery {
                limit,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

fn field_of(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } | StoreError::Conflict { field, .. } => field.clone(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

on_every_backend!(sqlite_is_wal_with_foreign_keys_and_pg_works, |store| {
    if store.backend() == dialtone_store::Backend::Sqlite {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
    }
    assert!(store.ping().await);
});

on_every_backend!(create_shows_references_by_name_and_defaults, |store| {
    basic_plan(&store).await;
    let dn = store
        .get(r("directory-numbers"), &{
            let page = page(&store, "directory-numbers", 10).await;
            page.items[0]["id"].as_str().unwrap().to_string()
        })
        .await
        .unwrap();
    assert_eq!(dn["pattern"], "1000");
    assert_eq!(dn["partition"], "Internal_PT");
    assert_eq!(dn["css"], "Internal_CSS");
    assert_eq!(dn["no_answer_timer"], 12);
    assert_eq!(dn["dnd"], false);
    assert_eq!(dn["cfa_css"], Value::Null);
    let css = store
        .get(r("calling-search-spaces"), "Internal_CSS")
        .await
        .unwrap();
    assert_eq!(css["partitions"], json!(["Internal_PT"]));
});

on_every_backend!(css_keeps_partition_order, |store| {
    for p in ["A_PT", "B_PT", "C_PT"] {
        store
            .create(r("partitions"), &json!({"name": p}))
            .await
            .unwrap();
    }
    store
        .create(
            r("calling-search-spaces"),
            &json!({"name": "X", "partitions": ["C_PT", "A_PT", "B_PT"]}),
        )
        .await
        .unwrap();
    let css = store.get(r("calling-search-spaces"), "X").await.unwrap();
    assert_eq!(css["partitions"], json!(["C_PT", "A_PT", "B_PT"]));
    store
        .update(
            r("calling-search-spaces"),
            "X",
            &json!({"partitions": ["B_PT"]}),
        )
        .await
        .unwrap();
    let css = store.get(r("calling-search-spaces"), "X").await.unwrap();
    assert_eq!(css["partitions"], json!(["B_PT"]));
});

on_every_backend!(
    duplicate_natural_keys_conflict_and_change_nothing,
    |store| {
        basic_plan(&store).await;
        let e = store
            .create(r("partitions"), &json!({"name": "Internal_PT"}))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        let e = store
            .create(
                r("directory-numbers"),
                &json!({"pattern": "1000", "partition": "Internal_PT"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        // The same number in no partition is a different directory number.
        store
            .create(r("directory-numbers"), &json!({"pattern": "1000"}))
            .await
            .unwrap();
        let e = store
            .create(
                r("directory-numbers"),
                &json!({"pattern": "1000", "partition": null}),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        let page = page(&store, "directory-numbers", 10).await;
        assert_eq!(page.total, 2);
    }
);

on_every_backend!(bad_values_name_the_field, |store| {
    basic_plan(&store).await;
    let cases = [
        (
            json!({"pattern": "1001", "no_answer_timer": "12"}),
            "no_answer_timer",
        ),
        (
            json!({"pattern": "1001", "no_answer_timer": 0}),
            "no_answer_timer",
        ),
        (json!({"pattern": "1001", "dnd": 1}), "dnd"),
        (json!({"pattern": "10a1"}), "pattern"),
        (
            json!({"pattern": "1001", "partition": "Nope_PT"}),
            "partition",
        ),
        (json!({"pattern": "1001", "colour": "red"}), "colour"),
        (json!({"pattern": "1001", "id": "x"}), "id"),
        (json!({"no_answer_timer": 5}), "pattern"),
    ];
    for (body, field) in cases {
        let e = store
            .create(r("directory-numbers"), &body)
            .await
            .unwrap_err();
        assert_eq!(field_of(&e), field, "{body}");
    }
    let e = store
        .create(
            r("calling-search-spaces"),
            &json!({"name": "Y", "partitions": ["Internal_PT", "Gone"]}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "partitions[1]");
    let e = store
        .create(r("route-patterns"), &json!({"pattern": "9.!"}))
        .await
        .unwrap_err();
    assert_eq!(
        field_of(&e),
        "route_list",
        "a route pattern needs somewhere to go"
    );
    let page = page(&store, "directory-numbers", 10).await;
    assert_eq!(page.total, 1, "nothing was written");
    assert!(store.get(r("calling-search-spaces"), "Y").await.is_err());
});

on_every_backend!(in_use_deletes_are_refused_naming_the_user, |store| {
    basic_plan(&store).await;
    let e = store
        .delete(r("partitions"), "Internal_PT")
        .await
        .unwrap_err();
    let StoreError::InUse { message } = e else {
        panic!("{e:?}")
    };
    assert!(message.contains("directory number"), "{message}");
    assert!(
        message.contains("calling search space Internal_CSS"),
        "{message}"
    );
    let e = store
        .delete(r("route-groups"), "Standard Local Route Group")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InUse { .. }));
    // Owned rows go with their owner: a device's line appearances.
    store
        .create(
            r("devices"),
            &json!({"name": "SEP001122334455", "model": "Cisco 8865"}),
        )
        .await
        .unwrap();
    store
        .create(
            r("line-appearances"),
            &json!({"device": "SEP001122334455", "index": 1,
                    "directory_number": {"pattern": "1000", "partition": "Internal_PT"}}),
        )
        .await
        .unwrap();
    let dn_id = page(&store, "directory-numbers", 1).await.items[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = store
        .delete(r("directory-numbers"), &dn_id)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InUse { .. }));
    store.delete(r("devices"), "SEP001122334455").await.unwrap();
    let las = page(&store, "line-appearances", 10).await;
    assert_eq!(las.total, 0);
    store.delete(r("directory-numbers"), &dn_id).await.unwrap();
});

on_every_backend!(secrets_are_hashed_and_never_shown, |store| {
    store
        .create(
            r("users"),
            &json!({"user_id": "alice", "last_name": "Smith", "password": "s3cret", "pin": "12345"}),
        )
        .await
        .unwrap();
    let u = store.get(r("users"), "alice").await.unwrap();
    assert_eq!(u["password_set"], true);
    assert_eq!(u["pin_set"], true);
    assert!(u.get("password").is_none() && u.get("pin").is_none());
    let (hash,): (String,) =
        sqlx::query_as("SELECT pin_hash FROM end_user WHERE user_id = 'alice'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(dialtone_store::secrets::verify_secret("12345", &hash));
    let e = store
        .update(r("users"), "alice", &json!({"pin": "12a"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "pin");
    // Device digest credentials become HA1s for the realm.
    store
        .create(
            r("devices"),
            &json!({"name": "SEPAABBCCDDEEFF", "model": "Cisco 8865", "digest_user": "alice", "digest_password": "pw"}),
        )
        .await
        .unwrap();
    let (md5,): (String,) =
        sqlx::query_as("SELECT digest_ha1_md5 FROM device WHERE name = 'SEPAABBCCDDEEFF'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        md5,
        dialtone_store::secrets::digest_ha1("alice", "dialtone", "pw").0
    );
    let e = store
        .update(
            r("devices"),
            "SEPAABBCCDDEEFF",
            &json!({"digest_user": "bob"}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "digest_password");
});

on_every_backend!(list_filters_and_pages, |store| {
    store
        .create(r("partitions"), &json!({"name": "P"}))
        .await
        .unwrap();
    for i in 0..25 {
        store
            .create(
                r("directory-numbers"),
                &json!({"pattern": format!("2{i:03}"), "partition": if i % 2 == 0 { json!("P") } else { Value::Null }}),
            )
            .await
            .unwrap();
    }
    let page = store
        .list(
            r("directory-numbers"),
            &ListQuery {
                filters: vec![("partition".into(), "P".into())],
                limit: 5,
                offset: 0,
                prefix: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 13);
    assert_eq!(page.items.len(), 5);
    let page = store
        .list(
            r("directory-numbers"),
            &ListQuery {
                prefix: Some("201".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 10);
    let page2 = store
        .list(
            r("directory-numbers"),
            &ListQuery {
                limit: 10,
                offset: 20,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 5);
    assert_eq!(page2.items[4]["pattern"], "2024");
    let e = store
        .list(
            r("directory-numbers"),
            &ListQuery {
                filters: vec![("colour".into(), "x".into())],
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "colour");
});

on_every_backend!(parameters_are_typed_with_seed_defaults, |store| {
    let v = store
        .parameter_value("enterprise", "services_provisioning")
        .await
        .unwrap();
    assert_eq!(v, "Internal");
    let e = store
        .set_parameter("enterprise", "services_provisioning", &json!("Sometimes"))
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "value");
    store
        .set_parameter("enterprise", "services_provisioning", &json!("Both"))
        .await
        .unwrap();
    assert_eq!(
        store
            .parameter_value("enterprise", "services_provisioning")
            .await
            .unwrap(),
        "Both"
    );
    store
        .reset_parameter("enterprise", "services_provisioning")
        .await
        .unwrap();
    assert_eq!(
        store
            .parameter_value("enterprise", "services_provisioning")
            .await
            .unwrap(),
        "Internal"
    );
});

on_every_backend!(csv_import_is_all_or_nothing_with_line_and_column, |store| {
    basic_plan(&store).await;
    let bad = "name,model,css,line1.pattern,line1.partition,line1.label\n\
               SEP000000000001,Cisco 8865,Internal_CSS,1001,Internal_PT,Alice\n\
               SEP000000000002,Cisco 8865,Nope_CSS,1002,Internal_PT,Bob\n\
               SEP000000000003,,Internal_CSS,1003,Internal_PT,Carol\n";
    let e = store
        .import_csv(r("devices"), bad, |_, _| {})
        .await
        .unwrap_err();
    let dialtone_store::bulk::ImportError::Rows(errors) = e else {
        panic!("{e:?}")
    };
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].column.as_str()), (3, "css"));
    assert_eq!((errors[1].line, errors[1].column.as_str()), (4, "model"));
    let devices = page(&store, "devices", 10).await;
    assert_eq!(devices.total, 0, "a failed import keeps nothing");
    let good = bad
        .replace("Nope_CSS", "Internal_CSS")
        .replace(",,Internal_CSS", ",Cisco 7841,Internal_CSS");
    let mut seen = 0;
    let n = store
        .import_csv(r("devices"), &good, |done, _| seen = done)
        .await
        .unwrap();
    assert_eq!((n, seen), (3, 3));
    let dn = store
        .list(
            r("directory-numbers"),
            &ListQuery {
                filters: vec![("pattern".into(), "1002".into())],
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(dn.total, 1, "missing directory numbers are created");
    let exported = store.export_csv(r("devices")).await.unwrap();
    assert!(
        exported.lines().next().unwrap().contains("line1.pattern"),
        "{exported}"
    );
    assert!(
        exported.contains("SEP000000000002,Cisco 8865"),
        "{exported}"
    );
    // An export imports again into an empty database.
    let (other, _d) = stores().await.into_iter().next().unwrap();
    basic_plan(&other).await;
    other
        .import_csv(r("devices"), &exported, |_, _| {})
        .await
        .unwrap();
    assert_eq!(other.export_csv(r("devices")).await.unwrap(), exported);
});

on_every_backend!(csv_unknown_columns_and_bad_cells_are_reported, |store| {
    let e = store
        .import_csv(
            r("users"),
            "user_id,last_name,shoe_size\nbob,B,9\n",
            |_, _| {},
        )
        .await
        .unwrap_err();
    let dialtone_store::bulk::ImportError::Rows(errors) = e else {
        panic!()
    };
    assert_eq!(
        (errors[0].line, errors[0].column.as_str()),
        (1, "shoe_size")
    );
    let e = store
        .import_csv(
            r("users"),
            "user_id,last_name,em_enabled\nbob,B,perhaps\n",
            |_, _| {},
        )
        .await
        .unwrap_err();
    let dialtone_store::bulk::ImportError::Rows(errors) = e else {
        panic!()
    };
    assert_eq!(
        (errors[0].line, errors[0].column.as_str()),
        (2, "em_enabled")
    );
});

// Every catalogue column exists in the migrated schema, so the two cannot drift apart.
on_every_backend!(catalogue_matches_schema, |store| {
    for res in dialtone_store::catalogue::RESOURCES {
        for f in res.fields {
            let cols: Vec<&str> = match f.kind {
                dialtone_store::catalogue::Kind::RefList { table, .. }
                | dialtone_store::catalogue::Kind::EnumList { table, .. } => {
                    let sql = format!("SELECT COUNT(*) FROM {table}");
                    sqlx::query(&sql)
                        .fetch_one(store.pool())
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{}.{}: join table {table}: {e}", res.name, f.name)
                        });
                    continue;
                }
                dialtone_store::catalogue::Kind::Secret(
                    dialtone_store::catalogue::SecretKind::Digest,
                ) => {
                    vec!["digest_ha1_md5", "digest_ha1_sha256"]
                }
                _ => vec![f.column],
            };
            for c in cols {
                let sql = format!("SELECT {c} FROM {} WHERE 1 = 0", res.table);
                sqlx::query(&sql)
                    .fetch_all(store.pool())
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{}.{} -> {}.{c}: {e}", res.name, f.name, res.table)
                    });
            }
        }
    }
});

// Every resource can be created from its required fields alone: the defaults pass validation.
on_every_backend!(defaults_are_valid_values, |store| {
    store
        .create(r("device-pools"), &json!({"name": "Branch_DP"}))
        .await
        .unwrap();
    let dp = store.get(r("device-pools"), "Branch_DP").await.unwrap();
    assert_eq!(
        (dp["region"].as_str(), dp["location"].as_str()),
        (Some("Default"), Some("Hub_None"))
    );
    // One of each resource, created from its required fields alone, in dependency order.
    let minimal = [
        ("partitions", json!({"name": "P"})),
        (
            "sip-trunks",
            json!({"name": "T", "destination_host": "192.0.2.1"}),
        ),
        ("route-groups", json!({"name": "RG"})),
        ("route-lists", json!({"name": "RL"})),
        ("nodes", json!({"name": "n1", "host": "127.0.0.1"})),
        ("node-groups", json!({"name": "NG"})),
        (
            "route-patterns",
            json!({"pattern": "9.!", "route_list": "RL"}),
        ),
        ("translation-patterns", json!({"pattern": "8XXX"})),
        ("directory-numbers", json!({"pattern": "1000"})),
        (
            "ip-phone-services",
            json!({"name": "S", "url": "http://x/"}),
        ),
        (
            "ip-phone-service-parameters",
            json!({"service": "S", "name": "q"}),
        ),
        ("device-profiles", json!({"name": "DP"})),
        ("users", json!({"user_id": "u", "last_name": "L"})),
        (
            "devices",
            json!({"name": "SEP000000000009", "model": "Cisco 8865"}),
        ),
        (
            "line-appearances",
            json!({"device_profile": "DP", "index": 1, "directory_number": {"pattern": "1000"}}),
        ),
        (
            "speed-dials",
            json!({"device": "SEP000000000009", "index": 1, "number": "1000"}),
        ),
        ("application-users", json!({"user_id": "app"})),
    ];
    for (kind, body) in minimal {
        store
            .create(r(kind), &body)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
});

// Writers at once (as API clients are) all succeed: none gets "database is locked".
on_every_backend!(concurrent_writers_all_succeed, |store| {
    store
        .create(r("partitions"), &json!({"name": "P"}))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for j in 0..10 {
                    store
                        .create(
                            r("directory-numbers"),
                            &json!({"pattern": format!("{}", 10000 + i * 100 + j), "partition": "P"}),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let page = page(&store, "directory-numbers", 1).await;
    assert_eq!(page.total, 160);
});

// One namespace per partition across numbers, route and translation patterns; patterns are
// checked by the dial plan's own parser.
on_every_backend!(patterns_share_a_namespace_and_are_parsed, |store| {
    basic_plan(&store).await;
    store
        .create(r("route-lists"), &json!({"name": "RL"}))
        .await
        .unwrap();
    let e = store
        .create(
            r("route-patterns"),
            &json!({"pattern": "1000", "partition": "Internal_PT", "route_list": "RL"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
    let e = store
        .create(
            r("translation-patterns"),
            &json!({"pattern": "9.1[2-", "partition": "Internal_PT"}),
        )
        .await
        .unwrap_err();
    let StoreError::Invalid { field, message } = e else {
        panic!()
    };
    assert_eq!(field, "pattern");
    assert!(message.contains("position 3"), "{message}");
    let e = store
        .create(
            r("route-patterns"),
            &json!({"pattern": "9.!", "route_list": "RL", "called_party_mask": "9.X"}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "called_party_mask");
    store
        .create(
            r("route-patterns"),
            &json!({"pattern": "1000", "partition": null, "route_list": "RL"}),
        )
        .await
        .unwrap();
});

// The snapshot the dial plan compiles from, routing through the Local Route Group with a FAC.
on_every_backend!(dial_plan_snapshot_compiles_and_routes, |store| {
    use dialtone_dialplan::{Mode, Outcome, Plan, Request, Target, TrunkChoice};
    basic_plan(&store).await;
    let setup = [
        ("partitions", json!({"name": "PSTN_PT"})),
        (
            "sip-trunks",
            json!({"name": "GW", "destination_host": "192.0.2.1"}),
        ),
        (
            "route-groups",
            json!({"name": "Branch_RG", "trunks": ["GW"]}),
        ),
        (
            "route-lists",
            json!({"name": "RL", "route_groups": ["Standard Local Route Group"]}),
        ),
        (
            "route-patterns",
            json!({"pattern": "9.!", "partition": "PSTN_PT", "route_list": "RL",
            "discard_digits": "PreDot", "require_fac": true, "authorization_level": 3}),
        ),
        (
            "forced-authorization-codes",
            json!({"name": "Sales", "code": "4321", "authorization_level": 5}),
        ),
    ];
    for (kind, body) in setup {
        store
            .create(r(kind), &body)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    store
        .update(
            r("calling-search-spaces"),
            "Internal_CSS",
            &json!({"partitions": ["Internal_PT", "PSTN_PT"]}),
        )
        .await
        .unwrap();
    store
        .update(
            r("device-pools"),
            "Default",
            &json!({"local_route_group": "Branch_RG"}),
        )
        .await
        .unwrap();
    let plan = Plan::compile(&store.dial_plan().await.unwrap()).unwrap();
    let lrg = store.local_route_group("Default").await.unwrap();
    assert_eq!(lrg.as_deref(), Some("Branch_RG"));
    let css = ["Internal_CSS"];
    let req = |dialled| Request {
        dialled,
        calling: "1000",
        css: &css,
        local_route_group: lrg.as_deref(),
        external_mask: None,
        mode: Mode::EnBloc,
    };
    match plan.analyse(&req("95551234#4321")) {
        Outcome::Route(d) => {
            assert_eq!(d.called, "5551234");
            assert_eq!(d.fac, Some(("Sales".into(), 5)));
            let expected = vec![TrunkChoice {
                trunk: "GW".into(),
                route_group: "Branch_RG".into(),
            }];
            assert_eq!(d.target, Target::Trunks { trunks: expected });
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(plan.analyse(&req("1000")), Outcome::Route(_)));
});

on_every_backend!(webdialer_users_preferences_and_sessions, |store| {
    basic_plan(&store).await;
    store
        .create(
            r("devices"),
            &json!({"name": "SEP0000000000A1", "model": "Cisco 8865", "description": "Desk"}),
        )
        .await
        .unwrap();
    store
        .create(
            r("users"),
            &json!({"user_id": "ann", "last_name": "A", "password": "ann-password",
                    "primary_extension": {"pattern": "1000", "partition": "Internal_PT"},
                    "devices": ["SEP0000000000A1"]}),
        )
        .await
        .unwrap();
    let u = store.webdialer_user("ann").await.unwrap().expect("ann");
    assert_eq!(
        u.devices,
        [("SEP0000000000A1".to_string(), "Desk".to_string())]
    );
    assert_eq!(u.primary_extension.as_deref(), Some("1000"));
    assert!(u.home_cluster && !u.has_profile);
    assert!(u.password_hash.is_some());
    assert_eq!(store.webdialer_user("nobody").await.unwrap(), None);

    // Preferences: none, saved, replaced; an unknown user saves nothing.
    assert_eq!(store.webdialer_preference("ann").await.unwrap(), None);
    let mut p = dialtone_store::webdialer::Preference {
        device: Some("SEP0000000000A1".into()),
        line: Some("1000".into()),
        ..Default::default()
    };
    assert!(store.set_webdialer_preference("ann", &p).await.unwrap());
    p.use_em = true;
    p.device = None;
    p.dont_auto_close = true;
    assert!(store.set_webdialer_preference("ann", &p).await.unwrap());
    assert_eq!(
        store.webdialer_preference("ann").await.unwrap(),
        Some(p.clone())
    );
    assert!(!store.set_webdialer_preference("nobody", &p).await.unwrap());

    // Sessions: one that never ends, one that has ended, one closed.
    let now = 1_000_000;
    let forever = store
        .webdialer_session_open("ann", now, None)
        .await
        .unwrap()
        .expect("a token");
    let short = store
        .webdialer_session_open("ann", now, Some(now + 10))
        .await
        .unwrap()
        .expect("a token");
    assert_eq!(
        store
            .webdialer_session(&forever, now + 1_000_000_000)
            .await
            .unwrap(),
        Some(("ann".to_string(), now))
    );
    assert!(store
        .webdialer_session(&short, now + 5)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.webdialer_session(&short, now + 10).await.unwrap(),
        None
    );
    assert!(store.webdialer_session_close(&forever).await.unwrap());
    assert!(!store.webdialer_session_close(&forever).await.unwrap());
    assert_eq!(store.webdialer_session(&forever, now).await.unwrap(), None);
    assert_eq!(
        store
            .webdialer_session_open("nobody", now, None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.webdialer_session("made-up", now).await.unwrap(), None);
});

on_every_backend!(
    directory_numbers_may_be_patterns_but_not_discard_or_at_signs,
    |store| {
        let dns = r("directory-numbers");
        for pattern in ["6XXXX", "1[0-5]XX", "*8!", "+14085551234"] {
            store
                .create(dns, &json!({ "pattern": pattern }))
                .await
                .unwrap_or_else(|e| panic!("{pattern}: {e}"));
        }
        for (bad, says) in [
            ("6.XXX", "'.' is not allowed"),
            ("60@", "'@' is not allowed"),
            ("6ABC", ""),
            ("6[9-", ""),
        ] {
            let e = store
                .create(dns, &json!({ "pattern": bad }))
                .await
                .expect_err(bad);
            assert_eq!(field_of(&e), "pattern", "{bad}: {e}");
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
);

on_every_backend!(names_are_checked_as_unified_cm_checks_them, |store| {
    basic_plan(&store).await;
    let devices = r("devices");
    let device = |name: &str, model: &str| json!({"name": name, "model": model});
    for (name, model) in [
        ("SEP001122334455", "Cisco 8865"),
        ("sepaabbccddeeff", "Yealink T54W"),
        ("ATA00112233AABB", "Cisco ATA 191"),
        ("CSFJDOE", "Cisco Unified Client Services Framework"),
        ("RP_Assistant", "CTI Route Point"),
        ("CTIPort-1.a", "CTI Port"),
    ] {
        store
            .create(devices, &device(name, model))
            .await
            .unwrap_or_else(|e| panic!("{name} ({model}): {e}"));
    }
    for (name, model) in [
        ("../../../etc/passwd", "Cisco 8865"),
        ("SEP../../x", "Cisco 8865"),
        ("SEP0011223344", "Cisco 8865"),
        ("SEP00112233445G", "Cisco 8865"),
        ("Reception", "Cisco 8865"),
        ("RP/../x", "CTI Route Point"),
        ("RP_Assistant_Too_Long", "CTI Route Point"),
        ("CSFJ.DOE", "Cisco Unified Client Services Framework"),
    ] {
        let e = store
            .create(devices, &device(name, model))
            .await
            .expect_err(name);
        assert_eq!(field_of(&e), "name", "{name}: {e}");
    }
    // Changing the model to one the name does not fit is refused too.
    let e = store
        .update(devices, "RP_Assistant", &json!({"model": "Cisco 8865"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "name", "{e}");
    for bad in ["a/b", "x\\y", "<b>", "Internal_PT;", " lead"] {
        let e = store
            .create(r("partitions"), &json!({ "name": bad }))
            .await
            .expect_err(bad);
        assert_eq!(field_of(&e), "name", "{bad}: {e}");
    }
    store
        .create(r("partitions"), &json!({"name": "Branch 2.East-PT_1"}))
        .await
        .unwrap();
    let e = store
        .create(
            r("users"),
            &json!({"user_id": "../ann", "last_name": "Ann"}),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(&e), "user_id", "{e}");
    store
        .create(
            r("users"),
            &json!({"user_id": "ann.lee@example.com", "last_name": "Lee"}),
        )
        .await
        .unwrap();
});

on_every_backend!(
    a_reference_given_as_an_object_where_a_name_is_asked_is_refused,
    |store| {
        basic_plan(&store).await;
        let e = store
        .create(
            r("devices"),
            &json!({"name": "SEP001122334455", "model": "Cisco 8865", "device_pool": {"name": "Default"}}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(&e), "device_pool", "{e}");
        assert!(e.to_string().contains("as a string"), "{e}");
        // A reference with a key of two fields is an object, as the OpenAPI document says.
        store
        .create(
            r("devices"),
            &json!({"name": "SEP001122334455", "model": "Cisco 8865", "device_pool": "Default"}),
        )
        .await
        .unwrap();
        store
            .create(
                r("line-appearances"),
                &json!({"device": "SEP001122334455", "index": 1,
                    "directory_number": {"pattern": "1000", "partition": "Internal_PT"}}),
            )
            .await
            .unwrap();
    }
);
