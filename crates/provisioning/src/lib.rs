//! Phones' configuration, a platform service every phone application stands on: the
//! phone-facing view of the configuration in memory (`catalog`: devices, lines, services,
//! directories, and Unified CM's rules over them), what the node knows of phones at run time
//! ([`PhoneState`]), and each device's `SEP<MAC>.cnf.xml` built from them and served over HTTP
//! (the phone-facing port and 6970, where phones set up for a Unified CM look) and TFTP
//! (`tftp`).
#![forbid(unsafe_code)]

pub mod catalog;
pub mod tftp;

pub use catalog::Phones;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dialtone_phone_xml::config::{
    CallManager, ConfigFile, Line, PhoneService, ServiceButton, SpeedDial, Urls,
};
use dialtone_phone_xml::model::Capabilities;
use dialtone_store::live::Live;
use dialtone_store::phones::PhoneDevice;
use dialtone_web::Site;

use crate::catalog::{service_url, Provisioning};

/// What phone-facing HTTP needs to know of phones at run time: where they registered (call
/// control) and who is logged in to them (Extension Mobility's logins, as call control's
/// snapshot carries them).
pub trait PhoneState: Send + Sync {
    /// The address a device registered from.
    fn address_of(&self, device: &str) -> Option<IpAddr>;
    /// The device registered from an address.
    fn device_at(&self, ip: IpAddr) -> Option<String>;
    /// The user and device profile logged in to a device, if any.
    fn login_of(&self, device: &str) -> Option<(String, String)>;
    /// The devices a user is logged in to.
    fn devices_of(&self, user: &str) -> Vec<String>;
}

/// Rendered files of one catalogue snapshot: a fleet booting asks for each file several times.
type Rendered = (Arc<Phones>, HashMap<String, Bytes>);

/// What serves configuration files: the live catalogue and where this node is.
pub struct Provisioner {
    phones: Arc<Live<Phones>>,
    site: Site,
    /// Who is logged in where: a logged-in device's file carries its user's profile.
    state: Arc<dyn PhoneState>,
    rendered: Mutex<Option<Rendered>>,
}

impl Provisioner {
    pub fn new(phones: Arc<Live<Phones>>, site: Site, state: Arc<dyn PhoneState>) -> Provisioner {
        Provisioner {
            phones,
            site,
            state,
            rendered: Mutex::new(None),
        }
    }

    /// The file a phone asks for by name, if it is one Dialtone makes. Names are matched as
    /// phones send them (`SEP001122334455.cnf.xml`); the device name part ignores case.
    pub fn file(&self, name: &str) -> Option<Bytes> {
        let device = name.strip_suffix(".cnf.xml")?;
        let phones = self.phones.get();
        let d = phones
            .device(device)
            .or_else(|| phones.device(&device.to_ascii_uppercase()))?;
        let mut cache = self.rendered.lock().expect("rendered files");
        // A new snapshot (any configuration change) starts a new cache.
        if !cache
            .as_ref()
            .is_some_and(|(of, _)| Arc::ptr_eq(of, &phones))
        {
            *cache = Some((phones.clone(), HashMap::new()));
        }
        let (_, files) = cache.as_mut().expect("just set");
        let login = self.state.login_of(&d.name);
        // One file per device and profile: a login or logout picks the other.
        let key = match &login {
            Some((_, profile)) => format!("{}\n{profile}", d.name),
            None => d.name.clone(),
        };
        let file = files.entry(key).or_insert_with(|| {
            let effective = phones.effective(d, login);
            Bytes::from(device_config(&phones, &self.site, &effective).to_xml())
        });
        Some(file.clone())
    }
}

/// A device's configuration file contents.
pub fn device_config(phones: &Phones, site: &Site, d: &PhoneDevice) -> ConfigFile {
    let caps = Capabilities::of(&d.model);
    let urls = phones.urls(site);
    let named = |url: &str| {
        // Dialtone's own pages learn the device from the link; phones send no name of their own.
        if url.contains("/ccmcip/") && !url.contains('?') {
            format!("{url}?name={}", d.name)
        } else {
            url.to_owned()
        }
    };
    let provisioning = phones.provisioning();
    // Under External URL the Services button takes its list from the services URL; the
    // Directories and Messages buttons still take theirs from this file, under every setting.
    let services = phones
        .offered(Some(d), &caps)
        .into_iter()
        .filter(|s| provisioning != Provisioning::External || s.service_type != "IP Phone Service")
        .filter_map(|s| {
            Some(PhoneService {
                button: match s.service_type.as_str() {
                    "Directories" => ServiceButton::Directories,
                    "Messages" => ServiceButton::Messages,
                    _ => ServiceButton::Services,
                },
                midlet: s.category == "Java MIDlet",
                name: s.name.clone(),
                url: service_url(s, Some(d), caps.https, site)?,
            })
        })
        .collect();
    ConfigFile {
        device_name: d.name.clone(),
        model: d.model.clone(),
        description: d.description.clone(),
        device_pool: d.device_pool.clone(),
        call_managers: vec![CallManager {
            name: site.node_name.clone(),
            host: site.public_host.clone(),
            sip_port: site.sip_port,
            secure_sip_port: site.sips_port,
        }],
        transport: "TCP".into(),
        lines: d
            .lines
            .iter()
            .map(|l| Line {
                index: l.index,
                number: l.pattern.clone(),
                display_name: if l.display_name.is_empty() {
                    l.alerting_name.clone()
                } else {
                    l.display_name.clone()
                },
                label: l.label.clone(),
                auth_name: d.digest_user.clone().unwrap_or_else(|| d.name.clone()),
                shared: l.shared,
            })
            .collect(),
        speed_dials: d
            .speed_dials
            .iter()
            .map(|(index, number, label)| SpeedDial {
                index: *index,
                number: number.clone(),
                label: label.clone(),
            })
            .collect(),
        urls: Urls {
            services: named(&urls.services),
            secure_services: named(&urls.secure_services),
            directory: named(&urls.directory),
            secure_directory: named(&urls.secure_directory),
            ..urls
        },
        remote_cc: caps.cisco_enterprise,
        services_provisioning: provisioning.code(),
        use_https: caps.https,
        services,
    }
}

async fn config_file(State(p): State<Arc<Provisioner>>, Path(name): Path<String>) -> Response {
    match p.file(&name) {
        Some(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("{name}: no such configuration file\n"),
        )
            .into_response(),
    }
}

/// `GET /{SEP<MAC>.cnf.xml}`: for the phone-facing listeners and the 6970 one.
pub fn router(p: Arc<Provisioner>) -> Router {
    Router::new()
        .route("/{file}", get(config_file))
        .with_state(p)
}
