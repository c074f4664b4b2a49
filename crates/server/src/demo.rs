//! Demo data: a small company to try every application with (`dialtone serve --demo`).
//!
//! Loaded once, into an empty database, through the same validated path as the admin API.
//! Every generated secret is printed and saved to `data_dir/demo-credentials` (mode 0600).

use anyhow::{Context, Result};
use dialtone_store::catalogue::resource;
use dialtone_store::secrets::{random_password, random_pin};
use dialtone_store::Store;
use serde_json::{json, Value};

use crate::config::Config;

pub const USERS: usize = 20;
pub const FIRST_DN: usize = 1000;

const FIRST_NAMES: &[&str] = &[
    "Ada", "Boris", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Petrov", "Martin", "Ivanov", "Garcia", "Haddad", "Hopper", "Laurent", "Silva",
    "Berg", "Tanaka", "Murphy", "Cohen", "Larsen", "Novak", "Costa", "Baker", "Rossi", "Virtanen",
    "Singh",
];

async fn add(store: &Store, kind: &str, body: Value) -> Result<Value> {
    let res = resource(kind).expect("demo names catalogued resources");
    store
        .create(res, &body)
        .await
        .with_context(|| format!("demo {kind}: {body}"))
}

/// The MAC-based name of demo phone `i` (SEP00DE0000 followed by the extension).
pub fn device_name(i: usize) -> String {
    format!("SEP00DE0000{:04}", FIRST_DN + i)
}

/// Load the demo company into an empty store. Returns the credentials text, or None when the
/// store already holds users (demo data is loaded on first start only).
pub async fn load(store: &Store, config: &Config) -> Result<Option<String>> {
    if !store.is_empty().await? {
        return Ok(None);
    }

    add(
        store,
        "partitions",
        json!({"name": "Internal_PT", "description": "Internal extensions"}),
    )
    .await?;
    add(
        store,
        "partitions",
        json!({"name": "PSTN_PT", "description": "Calls to the public network"}),
    )
    .await?;
    add(store, "calling-search-spaces", json!({"name": "Internal_CSS", "partitions": ["Internal_PT"], "description": "Internal calls only"})).await?;
    add(store, "calling-search-spaces", json!({"name": "Unrestricted_CSS", "partitions": ["Internal_PT", "PSTN_PT"], "description": "Internal and PSTN"})).await?;

    add(
        store,
        "nodes",
        json!({
            "name": config.server.node_name, "host": config.server.public_host,
            "services": dialtone_store::catalogue::NODE_SERVICES,
        }),
    )
    .await?;
    add(
        store,
        "node-groups",
        json!({"name": "Default_NG", "nodes": [config.server.node_name]}),
    )
    .await?;
    store
        .update(
            resource("device-pools").expect("catalogued"),
            "Default",
            &json!({"node_group": "Default_NG"}),
        )
        .await?;

    add(
        store,
        "sip-trunks",
        json!({
            "name": "PSTN_Trunk", "description": "Demo PSTN gateway",
            "destination_host": "127.0.0.1", "destination_port": 5080, "transport": "udp",
            "css": "Internal_CSS",
        }),
    )
    .await?;
    add(
        store,
        "route-groups",
        json!({"name": "PSTN_RG", "trunks": ["PSTN_Trunk"]}),
    )
    .await?;
    add(
        store,
        "route-lists",
        json!({"name": "PSTN_RL", "route_groups": ["PSTN_RG"]}),
    )
    .await?;
    add(
        store,
        "route-patterns",
        json!({
            "pattern": "9.!", "partition": "PSTN_PT", "route_list": "PSTN_RL",
            "discard_digits": "PreDot", "description": "Outside line",
        }),
    )
    .await?;

    let services = [
        (
            "Directory Search",
            "IP Phone Service",
            "/ccmcip/xmldirectoryinput.jsp",
            "",
            true,
        ),
        (
            "Extension Mobility",
            "IP Phone Service",
            "/emapp/EMAppServlet?device=#DEVICENAME#",
            "",
            true,
        ),
        (
            "Manager Assistant",
            "IP Phone Service",
            "/ma/servlet/MAService?cmd=doPhoneService&Name=#DEVICENAME#",
            "",
            false,
        ),
    ];
    // The directories come with every new store (the default services). Paths on this node
    // follow its host and ports, over HTTPS for phones that use it.
    for (name, ty, url, secure_url, enterprise) in services {
        add(
            store,
            "ip-phone-services",
            json!({
                "name": name, "service_type": ty, "category": "XML", "url": url,
                "secure_url": secure_url, "enterprise_subscription": enterprise,
            }),
        )
        .await?;
    }

    let mut lines = vec![
        "# Dialtone demo credentials (generated at first start; keep this file private)".to_string(),
        "# user        password          PIN     device           SIP digest user  SIP digest password".to_string(),
    ];
    for i in 0..USERS {
        let dn = (FIRST_DN + i).to_string();
        let user = format!("user{dn}");
        let device = device_name(i);
        let password = random_password();
        let pin = random_pin(5);
        let sip_password = random_password();
        // The first five are managers with an outside line; the rest dial internally.
        let css = if i < 5 {
            "Unrestricted_CSS"
        } else {
            "Internal_CSS"
        };
        add(
            store,
            "directory-numbers",
            json!({
                "pattern": dn, "partition": "Internal_PT", "css": "Internal_CSS",
                "alerting_name": format!("{} {}", FIRST_NAMES[i], LAST_NAMES[i]),
                "cfna_css": "Internal_CSS", "cfb_css": "Internal_CSS", "cfa_css": "Internal_CSS",
            }),
        )
        .await?;
        let key = json!({"pattern": dn, "partition": "Internal_PT"});
        add(
            store,
            "device-profiles",
            json!({
                "name": format!("{user}_UDP"), "model": "Cisco 8865",
                "description": format!("Extension Mobility profile of {user}"),
                "services": ["Corporate Directory", "Personal Directory"],
            }),
        )
        .await?;
        add(
            store,
            "line-appearances",
            json!({
                "device_profile": format!("{user}_UDP"), "directory_number": key, "index": 1,
                "label": format!("{} {}", FIRST_NAMES[i], LAST_NAMES[i]),
                "display_name": format!("{} {}", FIRST_NAMES[i], LAST_NAMES[i]),
            }),
        )
        .await?;
        add(store, "users", json!({
            "user_id": user, "first_name": FIRST_NAMES[i], "last_name": LAST_NAMES[i],
            "mail": format!("{user}@example.com"), "department": if i < 5 { "Management" } else { "Staff" },
            "password": password, "pin": pin, "primary_extension": key,
            "device_profiles": [format!("{user}_UDP")],
        })).await?;
        add(store, "devices", json!({
            "name": device, "model": "Cisco 8865", "description": format!("{}'s phone", FIRST_NAMES[i]),
            "css": css, "owner": user, "digest_user": user, "digest_password": sip_password,
        })).await?;
        add(
            store,
            "line-appearances",
            json!({
                "device": device, "directory_number": key, "index": 1,
                "label": dn, "display_name": format!("{} {}", FIRST_NAMES[i], LAST_NAMES[i]),
            }),
        )
        .await?;
        store
            .update(
                resource("users").expect("catalogued"),
                &user,
                &json!({"devices": [device]}),
            )
            .await?;
        lines.push(format!(
            "{user:<12} {password:<17} {pin:<7} {device:<16} {user:<16} {sip_password}"
        ));
    }

    // The reception queue: a CTI route point an application (the attendant console) owns.
    // Without it, or when it lets a call ring, or when it is lost, callers reach the
    // operator at 1000.
    add(
        store,
        "directory-numbers",
        json!({
            "pattern": "1900", "partition": "Internal_PT", "css": "Internal_CSS",
            "alerting_name": "Reception", "no_answer_timer": 10,
            "cfur_destination": "1000", "cfur_css": "Internal_CSS",
            "cfna_destination": "1000", "cfna_css": "Internal_CSS",
            "cf_cti_failure_destination": "1000", "cf_cti_failure_css": "Internal_CSS",
        }),
    )
    .await?;
    add(
        store,
        "devices",
        json!({"name": "RP_Reception", "model": "CTI Route Point", "css": "Internal_CSS",
               "description": "Reception queue (CTI route point)"}),
    )
    .await?;
    add(
        store,
        "line-appearances",
        json!({"device": "RP_Reception", "index": 1,
               "directory_number": {"pattern": "1900", "partition": "Internal_PT"}}),
    )
    .await?;

    // The paging server: dialling 1960 pages every demo phone (a recipient group by
    // attribute: the Default device pool), its DialCast number a route point the paging
    // application owns.
    add(
        store,
        "directory-numbers",
        json!({"pattern": "1960", "partition": "Internal_PT", "css": "Internal_CSS",
               "alerting_name": "Page all phones"}),
    )
    .await?;
    add(
        store,
        "devices",
        json!({"name": "RP_Paging", "model": "CTI Route Point", "css": "Internal_CSS",
               "description": "DialCast: page all phones"}),
    )
    .await?;
    add(
        store,
        "line-appearances",
        json!({"device": "RP_Paging", "index": 1,
               "directory_number": {"pattern": "1960", "partition": "Internal_PT"}}),
    )
    .await?;
    add(
        store,
        "paging-groups",
        json!({"name": "All Phones", "dialcast_number": "1960", "device_pool": "Default",
               "description": "Every phone of the Default device pool", "join_deadline_ms": 2000}),
    )
    .await?;

    let app_password = random_password();
    add(store, "application-users", json!({
        "user_id": "demoapp", "description": "Demo application (EM proxy, CTI, WebDialer proxy)",
        "password": app_password,
        "roles": ["Standard EM Authentication Proxy Rights", "Standard CTI Enabled",
                  "Standard CTI Allow Control of All Devices", "Standard WebDialer Proxy Rights"],
    })).await?;
    lines.push(String::new());
    lines.push(format!("application user demoapp  password {app_password}"));
    lines.push(format!(
        "SIP: register to sip:{}:{} with the digest user and password above (realm {})",
        config.server.public_host, config.listen.sip_udp_port, config.server.sip_realm
    ));
    Ok(Some(lines.join("\n") + "\n"))
}
