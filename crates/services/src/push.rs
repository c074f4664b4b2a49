//! Push: an object POSTed to a phone's `/CGI/Execute` (form field `XML`, HTTP Basic), the
//! phone's CiscoIPPhoneResponse or CiscoIPPhoneError read back, one report per phone; many
//! phones concurrently, within a bound.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use dialtone_phone_xml::model::Capabilities;
use dialtone_phone_xml::Object;
use dialtone_store::catalogue::ADMIN_ROLE;
use dialtone_web::accounts::basic_credentials;
use dialtone_web::openapi::{error_responses, with, Paths};
use dialtone_web::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::pages::PUSH_ROLE;
use crate::ServicesState;

/// What became of a push to one phone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PushReport {
    pub device: String,
    /// ok: the phone ran it (see `items`); phone_error: it refused (`error_number`, 4 is an
    /// authentication failure); not_registered, unknown_device, unsupported, unreachable,
    /// bad_response.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_number: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<PushItem>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PushItem {
    pub status: i16,
    pub data: String,
    pub url: String,
}

impl PushReport {
    fn failed(
        device: &str,
        status: &'static str,
        address: Option<String>,
        message: String,
    ) -> PushReport {
        PushReport {
            device: device.to_owned(),
            status,
            address,
            error_number: None,
            items: vec![],
            message,
        }
    }
}

fn error_meaning(n: u16) -> &'static str {
    match n {
        1 => "the phone could not parse the object",
        2 => "framing error",
        3 => "internal file error",
        4 => "authentication error: the phone's Authentication URL refused these credentials",
        _ => "error",
    }
}

/// Push `object` (already checked to parse) to one device with the credentials the phone will
/// check against its Authentication URL.
pub async fn push_one(
    st: &ServicesState,
    device: &str,
    object: &str,
    user: &str,
    password: &str,
) -> PushReport {
    let phones = st.phones.get();
    let Some(d) = phones.device(device) else {
        return PushReport::failed(
            device,
            "unknown_device",
            None,
            format!("no device named {device}"),
        );
    };
    if let Ok(parsed) = Object::parse(object) {
        if Capabilities::of(&d.model).text_only && !parsed.is_text_only() {
            return PushReport::failed(
                device,
                "unsupported",
                None,
                format!(
                    "a {} shows text only; {} is graphical",
                    d.model,
                    parsed.root_name()
                ),
            );
        }
    }
    let Some(ip) = st.registrations.address_of(device) else {
        return PushReport::failed(
            device,
            "not_registered",
            None,
            format!("{device} is not registered"),
        );
    };
    let address = std::net::SocketAddr::new(ip, st.options.phone_web_port).to_string();
    let url = format!("http://{address}/CGI/Execute");
    let resp = st
        .client
        .post(&url)
        .basic_auth(user, Some(password))
        .form(&[("XML", object)])
        .timeout(st.options.push_timeout)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            return PushReport::failed(device, "unreachable", Some(address), format!("{url}: {e}"))
        }
    };
    let http_status = resp.status();
    let body = match resp.text().await {
        Ok(b) => b,
        Err(e) => {
            return PushReport::failed(device, "unreachable", Some(address), format!("{url}: {e}"))
        }
    };
    match Object::parse(&body) {
        Ok(Object::Response { items }) => PushReport {
            device: device.to_owned(),
            status: "ok",
            address: Some(address),
            error_number: None,
            message: format!("{} item(s) done", items.len()),
            items: items
                .into_iter()
                .map(|i| PushItem {
                    status: i.status,
                    data: i.data,
                    url: i.url,
                })
                .collect(),
        },
        Ok(Object::Error { number }) => PushReport {
            device: device.to_owned(),
            status: "phone_error",
            address: Some(address),
            error_number: Some(number),
            items: vec![],
            message: error_meaning(number).to_owned(),
        },
        _ => PushReport::failed(
            device,
            "bad_response",
            Some(address),
            format!("HTTP {http_status}, not a CiscoIPPhoneResponse or CiscoIPPhoneError"),
        ),
    }
}

/// Push to many devices, at most `push_concurrency` at once; reports in the devices' order.
pub async fn push_many(
    st: &ServicesState,
    devices: &[String],
    object: &str,
    user: &str,
    password: &str,
) -> Vec<PushReport> {
    let bound = tokio::sync::Semaphore::new(st.options.push_concurrency.max(1));
    let bound = &bound;
    futures_util::future::join_all(devices.iter().map(|d| async move {
        let _turn = bound.acquire().await;
        push_one(st, d, object, user, password).await
    }))
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    /// The CiscoIPPhone object to send.
    pub xml: String,
    /// Devices (only for `POST /api/v1/push`).
    #[serde(default)]
    pub devices: Vec<String>,
    /// The credentials the phone checks; the caller's own Basic credentials when left out.
    pub user_id: Option<String>,
    pub password: Option<String>,
}

/// Who is pushing, and with which credentials the phones will be asked to act.
async fn pusher(
    st: &ServicesState,
    headers: &HeaderMap,
    body: &PushBody,
) -> Result<(String, String), ApiError> {
    let caller = st.accounts.authenticate(headers).await?;
    if !(caller.has_role(PUSH_ROLE) || caller.has_role(ADMIN_ROLE)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} lacks the role '{PUSH_ROLE}'", caller.user_id),
        ));
    }
    if let Err(e) = Object::parse(&body.xml) {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "xml",
            e.to_string(),
        ));
    }
    match (&body.user_id, &body.password) {
        (Some(u), Some(p)) => Ok((u.clone(), p.clone())),
        (None, None) => basic_credentials(headers).ok_or_else(|| {
            ApiError::field(
                StatusCode::BAD_REQUEST,
                "password",
                "give user_id and password for the phone to check when authenticating with a bearer token",
            )
        }),
        (None, Some(_)) => Err(ApiError::field(StatusCode::BAD_REQUEST, "user_id", "required with password")),
        (Some(_), None) => Err(ApiError::field(StatusCode::BAD_REQUEST, "password", "required with user_id")),
    }
}

fn parse_body(
    body: Result<Json<PushBody>, axum::extract::rejection::JsonRejection>,
) -> Result<PushBody, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// `POST /api/v1/devices/{name}/push`
pub async fn push_device(
    State(st): State<Arc<ServicesState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<PushBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<PushReport>, ApiError> {
    let body = parse_body(body)?;
    if !body.devices.is_empty() {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "devices",
            "the device is in the path; use POST /api/v1/push for many",
        ));
    }
    let (user, password) = pusher(&st, &headers, &body).await?;
    if st.phones.get().device(&name).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no device named {name}"),
        ));
    }
    Ok(Json(
        push_one(&st, &name, &body.xml, &user, &password).await,
    ))
}

/// `POST /api/v1/push` with `devices`.
pub async fn push_devices(
    State(st): State<Arc<ServicesState>>,
    headers: HeaderMap,
    body: Result<Json<PushBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = parse_body(body)?;
    if body.devices.is_empty() {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "devices",
            "name at least one device",
        ));
    }
    if body.devices.len() > 10_000 {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "devices",
            "at most 10000 per request",
        ));
    }
    let (user, password) = pusher(&st, &headers, &body).await?;
    let reports = push_many(&st, &body.devices, &body.xml, &user, &password).await;
    let ok = reports.iter().filter(|r| r.status == "ok").count();
    Ok(Json(
        serde_json::json!({ "ok": ok, "failed": reports.len() - ok, "results": reports }),
    ))
}

/// Push to phones (`/CGI/Execute`), served by the IP Phone Services crate.
pub fn openapi() -> Paths {
    let mut paths = Paths::new();
    let errors = || error_responses(&["400", "401", "403", "404", "422"]);
    let item = json!({"type": "object", "properties": {
        "status": {"type": "integer"}, "data": {"type": "string"}, "url": {"type": "string"}}});
    let report = json!({"type": "object", "required": ["device", "status", "message"], "properties": {
        "device": {"type": "string"},
        "status": {"type": "string", "enum": ["ok", "phone_error", "not_registered", "unknown_device", "unsupported", "unreachable", "bad_response"]},
        "address": {"type": "string"}, "error_number": {"type": "integer"},
        "items": {"type": "array", "items": item}, "message": {"type": "string"}}});
    let body = |devices: bool| {
        let mut props = json!({
            "xml": {"type": "string", "description": "A CiscoIPPhone object (CiscoIPPhoneExecute, CiscoIPPhoneText, ...)"},
            "user_id": {"type": "string", "description": "Credentials the phone checks with its Authentication URL; the caller's own Basic credentials when left out"},
            "password": {"type": "string", "format": "password"}});
        let mut required = vec!["xml"];
        if devices {
            props["devices"] =
                json!({"type": "array", "items": {"type": "string"}, "maxItems": 10000});
            required.push("devices");
        }
        json!({"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": required, "properties": props, "additionalProperties": false}}}})
    };
    paths.insert(
        "/api/v1/devices/{name}/push".into(),
        json!({"parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
               "post": {"tags": ["push"], "operationId": "pushDevice",
                        "summary": "Push an object to a registered phone's /CGI/Execute and report its answer",
                        "requestBody": body(false),
                        "responses": with(errors(), "200", json!({"description": "What the phone did",
                            "content": {"application/json": {"schema": report.clone()}}}))}}),
    );
    paths.insert(
        "/api/v1/push".into(),
        json!({"post": {"tags": ["push"], "operationId": "pushDevices",
                        "summary": "Push an object to many phones at once (within phones.push_concurrency)",
                        "requestBody": body(true),
                        "responses": with(errors(), "200", json!({"description": "One report per device, in order",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "ok": {"type": "integer"}, "failed": {"type": "integer"},
                                "results": {"type": "array", "items": report}}}}}}))}}),
    );
    paths
}
