//! IP Phone Services: the services menu, the corporate and personal directories and the
//! Authentication URL at Unified CM's paths (`pages`), push to phones (`push`), over a view of
//! the configuration kept in memory (`catalog`).
#![forbid(unsafe_code)]

pub mod catalog;
pub mod pages;
pub mod push;

use std::net::IpAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use dialtone_admin::AdminState;
use dialtone_store::live::Live;

pub use catalog::{Phones, Settings};

/// What phone-facing HTTP needs to know of phones at run time: where they registered (call
/// control) and who is logged in to them (Extension Mobility).
pub trait PhoneState: Send + Sync {
    /// The address a device registered from.
    fn address_of(&self, device: &str) -> Option<IpAddr>;
    /// The device registered from an address.
    fn device_at(&self, ip: IpAddr) -> Option<String>;
    /// The user and device profile logged in to a device, if any.
    fn login_of(&self, device: &str) -> Option<(String, String)>;
}

pub struct ServicesState {
    pub phones: Arc<Live<Phones>>,
    pub settings: Settings,
    pub registrations: Arc<dyn PhoneState>,
    pub admin: AdminState,
    pub client: reqwest::Client,
    /// Wrong passwords at the Authentication URL, per user ID.
    pub guesses: pages::Guesses,
}

impl ServicesState {
    pub fn new(
        phones: Arc<Live<Phones>>,
        settings: Settings,
        registrations: Arc<dyn PhoneState>,
        admin: AdminState,
    ) -> Arc<ServicesState> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.push_timeout)
            .build()
            .expect("an HTTP client without TLS roots to load");
        Arc::new(ServicesState {
            guesses: pages::Guesses::new(settings.auth_failures_per_minute),
            phones,
            settings,
            registrations,
            admin,
            client,
        })
    }
}

/// The pages phones fetch, at Unified CM's paths; `secure` for the HTTPS listener, whose links
/// stay on HTTPS.
pub fn phone_router(state: Arc<ServicesState>, secure: bool) -> Router {
    Router::new()
        .route("/ccmcip/getservicesmenu.jsp", get(pages::services_menu))
        .route("/ccmcip/xmldirectory.jsp", get(pages::directories))
        .route(
            "/ccmcip/xmldirectoryinput.jsp",
            get(pages::directory_search),
        )
        .route("/ccmcip/xmldirectorylist.jsp", get(pages::directory_list))
        .route(
            "/ccmcip/xmlpersonaldirectory.jsp",
            get(pages::personal_directory),
        )
        .route("/ccmcip/authenticate.jsp", get(pages::authenticate))
        .layer(axum::Extension(pages::Secure(secure)))
        .with_state(state)
}

/// The push API (credential-carrying: served where the other APIs are).
pub fn api_router(state: Arc<ServicesState>) -> Router {
    Router::new()
        .route("/api/v1/devices/{name}/push", post(push::push_device))
        .route("/api/v1/push", post(push::push_devices))
        .with_state(state)
}

/// Unified CM's default services, created with a new store: enterprise subscriptions an
/// administrator can disable (and then subscribe phones to one by one). `Application:Cisco/...`
/// names an application built into the phone; the personal directory is Dialtone's page.
pub fn default_services(http_base: &str, https_base: &str) -> Vec<serde_json::Value> {
    let builtin = |name: &str, app: &str, ty: &str| {
        serde_json::json!({
            "name": name, "url": format!("Application:Cisco/{app}"), "service_type": ty,
            "category": "XML", "enterprise_subscription": true,
            "description": "Default service (built into the phone)",
        })
    };
    let page = "/ccmcip/xmlpersonaldirectory.jsp?name=#DEVICENAME#";
    vec![
        builtin("Missed Calls", "MissedCalls", "Directories"),
        builtin("Received Calls", "ReceivedCalls", "Directories"),
        builtin("Placed Calls", "PlacedCalls", "Directories"),
        serde_json::json!({
            "name": "Personal Directory", "url": format!("{http_base}{page}"),
            "secure_url": format!("{https_base}{page}"), "service_type": "Directories",
            "category": "XML", "enterprise_subscription": true,
            "description": "Default service: the phone owner's personal directory",
        }),
        builtin("Corporate Directory", "CorporateDirectory", "Directories"),
        builtin("Voicemail", "Voicemail", "Messages"),
    ]
}
