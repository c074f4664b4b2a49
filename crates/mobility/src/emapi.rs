//! The Extension Mobility API (`POST /emservice/EMServiceServlet`, form field `xml`): login,
//! logout, deviceUserQuery and userDevicesQuery for applications holding Standard EM
//! Authentication Proxy Rights, answered in Cisco's XML shapes and codes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use dialtone_phone_xml::uri::form_field;
use dialtone_phone_xml::Element;
use dialtone_store::em::LoginRefused;
use dialtone_web::Accounts;

use crate::{EmError, Mobility};

/// Where the EM API answers (on Unified CM, 8443 and 8080).
pub const PATH: &str = "/emservice/EMServiceServlet";

/// The role an application needs to log users in and out.
pub const PROXY_ROLE: &str = "Standard EM Authentication Proxy Rights";

#[derive(Clone)]
pub struct EmApi {
    pub accounts: Accounts,
    pub mobility: Arc<Mobility>,
}

fn xml(body: Element) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body.to_document(),
    )
        .into_response()
}

fn failure(code: u32, message: &str) -> Response {
    let mut error = Element::new("error").attr("code", code.to_string());
    error.text = message.to_owned();
    xml(Element::new("response").child(Element::new("failure").child(error)))
}

fn refused(e: &EmError) -> Response {
    match e {
        EmError::Refused(r) => match r {
            LoginRefused::UnknownDevice => failure(11, "Device does not exist"),
            LoginRefused::DeviceNotAllowed => failure(5, "Dev. logon disabled"),
            LoginRefused::UnknownUser => failure(9, "Dir. User Info Error"),
            LoginRefused::NoProfile => failure(12, "Dev. Profile not found"),
            LoginRefused::DeviceTaken { .. } => failure(18, "Another user logged in"),
            LoginRefused::UserElsewhere { .. } | LoginRefused::Disabled => {
                failure(4, "Policy Validation error")
            }
        },
        EmError::NotLoggedIn => failure(19, "No user logged in"),
        EmError::Store(_) => failure(6, "Database Error"),
    }
}

async fn servlet(State(st): State<EmApi>, body: Bytes) -> Response {
    let Some(text) = form_field(&body, &["xml", "XML"]) else {
        return failure(1, "Error on parsing");
    };
    let Ok(doc) = Element::parse(&text) else {
        return failure(1, "Error on parsing");
    };
    if doc.name != "request" && doc.name != "query" {
        return failure(1, "Error on parsing");
    }
    // appInfo: an application user with the proxy right.
    let Some(app) = doc.first("appInfo") else {
        return failure(1, "Error on parsing");
    };
    let app_id = app.text_of("appID").unwrap_or_default();
    let secret = app
        .text_of("appCertificate")
        .or_else(|| app.text_of("appEncryptedCertificate"))
        .unwrap_or_default();
    let caller = match st.accounts.application_user(app_id, secret).await {
        Ok(c) => c,
        Err(_) => return failure(3, "Invalid App User"),
    };
    if !caller.has_role(PROXY_ROLE) {
        return failure(10, "User lacks app proxy rights");
    }
    let m = &st.mobility;
    if doc.name == "query" {
        if let Some(q) = doc.first("deviceUserQuery") {
            let mut results = Element::new("deviceUserResults");
            for name in q.all("deviceName") {
                let d = name.text.as_str();
                let mut device = Element::new("device").attr("name", d);
                device = match m.login_of(d) {
                    Some(l) => device.leaf("userID", l.user),
                    None if m.device_exists(d) => device.child(Element::new("notLoggedIn")),
                    None => device.child(Element::new("doesNotExist")),
                };
                results = results.child(device);
            }
            return xml(Element::new("response").child(results));
        }
        if let Some(q) = doc.first("userDevicesQuery") {
            let mut results = Element::new("userDevicesResults");
            for id in q.all("userID") {
                let u = id.text.as_str();
                let mut user = Element::new("user").attr("id", u);
                let devices = m.devices_of(u);
                if devices.is_empty() {
                    user = user.child(Element::new("notLoggedIn"));
                }
                for d in devices {
                    user = user.leaf("deviceName", d);
                }
                results = results.child(user);
            }
            return xml(Element::new("response").child(results));
        }
        return failure(8, "Query type undetermined");
    }
    if let Some(login) = doc.first("login") {
        let (Some(device), Some(user)) = (login.text_of("deviceName"), login.text_of("userID"))
        else {
            return failure(1, "Error on parsing");
        };
        let profile = login.text_of("deviceProfile").filter(|p| !p.is_empty());
        // exclusiveDuration: <time> minutes, or <indefinite/>; without it the policy applies.
        let duration = login
            .first("exclusiveDuration")
            .and_then(|d| d.text_of("time"))
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(|m| Duration::from_secs(m * 60));
        return match m.login(device, user, profile, duration).await {
            Ok(_) => xml(Element::new("response").child(Element::new("success"))),
            Err(e) => refused(&e),
        };
    }
    if let Some(logout) = doc.first("logout") {
        let Some(device) = logout.text_of("deviceName") else {
            return failure(1, "Error on parsing");
        };
        if !m.device_exists(device) {
            return failure(11, "Device does not exist");
        }
        return match m.logout(device).await {
            Ok(_) => xml(Element::new("response").child(Element::new("success"))),
            Err(e) => refused(&e),
        };
    }
    failure(1, "Error on parsing")
}

/// `/emservice/EMServiceServlet` (it carries application credentials: served where the other
/// APIs are).
pub fn router(st: EmApi) -> Router {
    Router::new().route(PATH, post(servlet)).with_state(st)
}
