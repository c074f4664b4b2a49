//! Configuration files compared byte for byte with reviewed golden copies, so a change to what
//! phones receive is always a deliberate one. `UPDATE_GOLDEN=1 cargo test -p
//! dialtone-provisioning` rewrites them; review the diff before committing.

use std::collections::HashMap;

use dialtone_provisioning::device_config;
use dialtone_provisioning::Phones;
use dialtone_store::phones::{
    PhoneCatalog, PhoneDevice, PhoneLine, PhoneProfile, PhoneService, ServiceParameter,
};
use dialtone_web::Site;

fn site() -> Site {
    Site {
        public_host: "cucm.example.com".into(),
        ..Site::default()
    }
}

fn service(name: &str, url: &str, ty: &str, enterprise: bool) -> PhoneService {
    PhoneService {
        name: name.into(),
        description: String::new(),
        url: url.into(),
        secure_url: String::new(),
        service_type: ty.into(),
        category: "XML".into(),
        enterprise_subscription: enterprise,
        enabled: true,
        parameters: vec![],
    }
}

fn catalog(provisioning: &str) -> PhoneCatalog {
    let mut weather = service(
        "Weather & News",
        "http://apps.example.com/w?dev=#DEVICENAME#",
        "IP Phone Service",
        false,
    );
    weather.secure_url = "https://apps.example.com/w?dev=#DEVICENAME#".into();
    weather.parameters = vec![ServiceParameter {
        name: "city".into(),
        default_value: "Oslo".into(),
        required: false,
    }];
    let mut disabled = service(
        "Old",
        "http://apps.example.com/old",
        "IP Phone Service",
        true,
    );
    disabled.enabled = false;
    let line = |index, pattern: &str, display: &str, shared| PhoneLine {
        index,
        pattern: pattern.into(),
        display_name: display.into(),
        label: String::new(),
        alerting_name: "Reception".into(),
        shared,
    };
    PhoneCatalog {
        devices: vec![
            PhoneDevice {
                name: "SEP001122334455".into(),
                model: "Cisco 8865".into(),
                description: "Ada's phone".into(),
                device_pool: "HQ_DP".into(),
                owner: Some("ada".into()),
                digest_user: Some("ada".into()),
                lines: vec![
                    line(1, "1000", "Ada Lovelace", false),
                    line(2, "1900", "", true),
                ],
                services: vec!["Weather & News".into(), "Old".into()],
                parameter_values: vec![("Weather & News".into(), "city".into(), "Bergen".into())],
                logout_profile: None,
                speed_dials: vec![],
            },
            PhoneDevice {
                name: "SEP00AABBCCDDEE".into(),
                model: "Cisco 7960".into(),
                description: "Lobby".into(),
                device_pool: "Default".into(),
                owner: None,
                digest_user: None,
                lines: vec![line(1, "1999", "Lobby", false)],
                services: vec![],
                parameter_values: vec![],
                logout_profile: None,
                speed_dials: vec![],
            },
        ],
        services: vec![
            disabled,
            service(
                "Corporate Directory",
                "Application:Cisco/CorporateDirectory",
                "Directories",
                true,
            ),
            service("Voicemail", "Application:Cisco/Voicemail", "Messages", true),
            weather,
        ],
        users: vec![],
        personal: HashMap::new(),
        profiles: HashMap::from([(
            "ada_UDP".to_owned(),
            PhoneProfile {
                name: "ada_UDP".into(),
                lines: vec![line(1, "2000", "Ada Lovelace (EM)", false)],
                services: vec!["Weather & News".into()],
                speed_dials: vec![(1, "0612345678".into(), "Mum".into())],
            },
        )]),
        parameters: HashMap::from([
            ("services_provisioning".to_owned(), provisioning.to_owned()),
            (
                "url_idle".to_owned(),
                "http://apps.example.com/idle".to_owned(),
            ),
            ("url_idle_time".to_owned(), "600".to_owned()),
        ]),
    }
}

fn check(name: &str, provisioning: &str, device: &str, login: Option<(&str, &str)>) {
    let phones = Phones::new(catalog(provisioning));
    let d = phones.effective(
        phones.device(device).unwrap(),
        login.map(|(u, p)| (u.to_owned(), p.to_owned())),
    );
    let got = device_config(&phones, &site(), &d).to_xml();
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_GOLDEN=1 writes it)"));
    assert!(got == want, "{name} differs from its golden copy:\n{got}");
}

#[test]
fn an_https_phone_with_two_lines_and_internal_services() {
    check(
        "SEP001122334455.cnf.xml",
        "Internal",
        "SEP001122334455",
        None,
    );
}

#[test]
fn a_7960_with_services_from_the_external_url() {
    check(
        "SEP00AABBCCDDEE.cnf.xml",
        "External URL",
        "SEP00AABBCCDDEE",
        None,
    );
}

#[test]
fn the_lobby_phone_while_ada_is_logged_in_with_extension_mobility() {
    check(
        "SEP00AABBCCDDEE-ada_UDP.cnf.xml",
        "Internal",
        "SEP00AABBCCDDEE",
        Some(("ada", "ada_UDP")),
    );
}
