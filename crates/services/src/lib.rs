//! IP Phone Services: the services menu, the corporate and personal directories and the
//! Authentication URL at Unified CM's paths (`pages`), and push to phones (`push`), over the
//! phones' configuration the platform keeps in memory (`dialtone_provisioning::Phones`).
#![forbid(unsafe_code)]

pub mod pages;
pub mod push;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use dialtone_platform::push::Pusher;
use dialtone_platform::{Options, Platform, Starting};
use dialtone_provisioning::{PhoneState, Phones};
use dialtone_store::live::Live;
use dialtone_web::guesses::Guesses;
use dialtone_web::phone::Secure;
use dialtone_web::{Accounts, App, Site};

pub struct ServicesState {
    pub phones: Arc<Live<Phones>>,
    pub site: Site,
    pub options: Options,
    pub registrations: Arc<dyn PhoneState>,
    pub accounts: Accounts,
    pub pusher: Arc<Pusher>,
    /// Wrong passwords at the Authentication URL, per user ID (shared with WebDialer).
    pub guesses: Arc<Guesses>,
}

impl ServicesState {
    pub fn new(p: &Platform) -> Arc<ServicesState> {
        Arc::new(ServicesState {
            phones: p.phones.clone(),
            site: p.site.clone(),
            options: p.options.clone(),
            registrations: p.phone_state.clone(),
            accounts: p.accounts.clone(),
            pusher: p.pusher.clone(),
            guesses: p.guesses.clone(),
        })
    }
}

/// IP Phone Services as the node serves it: the phones' pages on both phone surfaces, push
/// with the other credential-carrying APIs.
pub fn app(p: &Platform) -> Starting<'_> {
    let st = ServicesState::new(p);
    let mut app = App::new("ip-phone-services");
    app.surfaces.phone_http = phone_router(st.clone(), false);
    app.surfaces.phone_https = phone_router(st.clone(), true);
    app.surfaces.credentials = api_router(st);
    app.openapi = push::openapi();
    Box::pin(async move { Ok(app) })
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
        .layer(axum::Extension(Secure(secure)))
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
/// names an application built into the phone; the personal directory is Dialtone's page, a
/// path on this node, so it follows the node's host and ports.
pub fn default_services() -> Vec<serde_json::Value> {
    let builtin = |name: &str, app: &str, ty: &str| {
        serde_json::json!({
            "name": name, "url": format!("Application:Cisco/{app}"), "service_type": ty,
            "category": "XML", "enterprise_subscription": true,
            "description": "Default service (built into the phone)",
        })
    };
    vec![
        builtin("Missed Calls", "MissedCalls", "Directories"),
        builtin("Received Calls", "ReceivedCalls", "Directories"),
        builtin("Placed Calls", "PlacedCalls", "Directories"),
        serde_json::json!({
            "name": "Personal Directory", "url": "/ccmcip/xmlpersonaldirectory.jsp?name=#DEVICENAME#",
            "service_type": "Directories",
            "category": "XML", "enterprise_subscription": true,
            "description": "Default service: the phone owner's personal directory",
        }),
        builtin("Corporate Directory", "CorporateDirectory", "Directories"),
        builtin("Voicemail", "Voicemail", "Messages"),
    ]
}
