//! The Extension Mobility phone service, at Unified CM's path
//! (`/emapp/EMAppServlet?device=#DEVICENAME#`): a user ID and PIN form when nobody is logged in,
//! logout when somebody is. Errors read as Unified CM's phones show them ("Login is
//! unavailable(4)", "Authentication Error(201)").

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use dialtone_phone_xml::uri::query_escape;
use dialtone_phone_xml::{InputItem, Object, Screen, SoftKey};
use dialtone_provisioning::PhoneState;
use dialtone_store::em::LoginRefused;
use dialtone_web::phone::{query_param as param, xml_response, Secure};
use dialtone_web::Site;

use crate::{EmError, Mobility};

#[derive(Clone)]
pub struct PhoneService {
    pub mobility: Arc<Mobility>,
    pub site: Site,
    /// Where a phone registered from, for Validate IP Address.
    pub phones: Arc<dyn PhoneState>,
}

fn screen(text: &str, softkeys: Vec<SoftKey>) -> Object {
    Object::Text {
        screen: Screen {
            softkeys,
            ..Screen::titled("Extension Mobility")
        },
        text: text.to_owned(),
    }
}

fn exit() -> SoftKey {
    SoftKey::new("Exit", 3, "SoftKey:Exit")
}

fn say(text: &str) -> Response {
    xml_response(&screen(text, vec![exit()]), None)
}

/// What a refused login reads on the phone.
pub fn phone_text(e: &EmError, logout: bool) -> String {
    let unavailable = |n: u32| {
        if logout {
            format!("Logout is unavailable({n})")
        } else {
            format!("Login is unavailable({n})")
        }
    };
    match e {
        EmError::Refused(r) => match r {
            // Not naming which of user or PIN was wrong.
            LoginRefused::UnknownUser => "Authentication Error(201)".into(),
            LoginRefused::UnknownDevice => unavailable(11),
            LoginRefused::DeviceNotAllowed => unavailable(5),
            LoginRefused::NoProfile => "User Profile Absent(205)".into(),
            LoginRefused::DeviceTaken { .. } => unavailable(18),
            LoginRefused::Disabled | LoginRefused::UserElsewhere { .. } => unavailable(4),
        },
        EmError::NotLoggedIn => unavailable(19),
        EmError::Store(_) => unavailable(6),
    }
}

impl PhoneService {
    /// Validate IP Address and Allow Proxy, as Cisco documents them: without Validate IP
    /// Address every source may log in and out (Allow Proxy then changes nothing); with it, a
    /// request is accepted from a source on the Trusted List of IPs, or from the phone's own
    /// registered address. A request that came through a web proxy (a Via header) is accepted
    /// only with Allow Proxy, and then only from a trusted source (the proxy's address).
    async fn source_allowed(
        &self,
        device: &str,
        from: IpAddr,
        headers: &HeaderMap,
    ) -> Result<bool, EmError> {
        let m = &self.mobility;
        if m.parameter("validate_ip_address").await? != "true" {
            return Ok(true);
        }
        let proxied = headers.contains_key("via");
        if proxied && m.parameter("allow_proxy").await? != "true" {
            return Ok(false);
        }
        if trusted_sources(&m.parameter("trusted_ips").await?)
            .await
            .contains(&from)
        {
            return Ok(true);
        }
        Ok(!proxied && self.phones.address_of(device) == Some(from))
    }
}

/// The Trusted List of IPs as addresses: each entry an address, or a host name resolved now
/// (within a second; one that does not resolve trusts nothing).
async fn trusted_sources(list: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for entry in list
        .split([',', ' ', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        match entry.parse::<IpAddr>() {
            Ok(ip) => out.push(ip),
            Err(_) => {
                let lookup = tokio::net::lookup_host((entry, 0));
                match tokio::time::timeout(std::time::Duration::from_secs(1), lookup).await {
                    Ok(Ok(addrs)) => out.extend(addrs.map(|a| a.ip())),
                    _ => tracing::warn!(
                        entry,
                        "Extension Mobility: a trusted host name does not resolve"
                    ),
                }
            }
        }
    }
    out
}

async fn service(
    State(st): State<PhoneService>,
    axum::Extension(secure): axum::Extension<Secure>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(device) = param(&q, "device").filter(|d| !d.is_empty()) else {
        return say("Device Name Empty(207)");
    };
    let logging_out = param(&q, "logout").is_some();
    match st.source_allowed(device, from.ip(), &headers).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(device, source = %from, "Extension Mobility: request refused by Validate IP Address / Allow Proxy");
            return say(&phone_text(
                &EmError::Refused(LoginRefused::Disabled),
                logging_out,
            ));
        }
        Err(e) => return say(&phone_text(&e, logging_out)),
    }
    let base = if secure.0 {
        st.site.https_base()
    } else {
        st.site.http_base()
    };
    let here = format!("{base}/emapp/EMAppServlet?device={}", query_escape(device));
    if logging_out {
        return match st.mobility.logout(device).await {
            Ok(l) => say(&format!(
                "{} logged out. The phone restarts with its own lines.",
                l.user
            )),
            Err(e) => say(&phone_text(&e, true)),
        };
    }
    let (user, pin) = (param(&q, "userid"), param(&q, "pin"));
    if user.is_none() && pin.is_none() {
        if let Some(l) = st.mobility.login_of(device) {
            let text = format!("Logged in as {}. Log out?", l.user);
            let keys = vec![
                SoftKey::new("Yes", 1, &format!("{here}&logout=true")),
                exit(),
            ];
            return xml_response(&screen(&text, keys), None);
        }
        let field = |display: &str, param: &str, flags: &str| InputItem {
            display_name: display.into(),
            query_string_param: param.into(),
            input_flags: flags.into(),
            default_value: None,
        };
        return xml_response(
            &Object::Input {
                screen: Screen {
                    title: Some("Extension Mobility".into()),
                    prompt: Some("Enter your user ID and PIN".into()),
                    softkeys: vec![
                        SoftKey::new("Submit", 1, "SoftKey:Submit"),
                        SoftKey::new("<<", 2, "SoftKey:<<"),
                        exit(),
                    ],
                    keys: vec![],
                },
                url: here,
                items: vec![field("User ID", "userid", "A"), field("PIN", "pin", "NP")],
            },
            None,
        );
    }
    let (Some(user), Some(pin)) = (
        user.filter(|u| !u.is_empty()),
        pin.filter(|p| !p.is_empty()),
    ) else {
        return say("Blank userid or pin(202)");
    };
    match st.mobility.check_pin(user, pin).await {
        Ok(true) => {}
        Ok(false) => return say("Authentication Error(201)"),
        Err(e) => return say(&phone_text(&e, false)),
    }
    match st.mobility.login(device, user, None, None).await {
        Ok(l) => say(&format!(
            "Welcome, {}. The phone restarts with your lines.",
            l.user
        )),
        Err(e) => say(&phone_text(&e, false)),
    }
}

/// `/emapp/EMAppServlet` for the phone-facing listeners; `secure` for HTTPS.
pub fn router(st: PhoneService, secure: bool) -> Router {
    Router::new()
        .route("/emapp/EMAppServlet", get(service))
        .layer(axum::Extension(Secure(secure)))
        .with_state(st)
}
