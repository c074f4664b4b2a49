//! The push API: `POST /api/v1/devices/{name}/push` and `POST /api/v1/push`, checked here
//! (the caller's role, the object, the credentials the phones will check) and carried out by
//! the platform's [`Pusher`](dialtone_platform::push::Pusher).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use dialtone_phone_xml::Object;
use dialtone_platform::push::PushReport;
use dialtone_store::catalogue::ADMIN_ROLE;
use dialtone_web::accounts::basic_credentials;
use dialtone_web::openapi::{error_responses, with, Paths};
use dialtone_web::ApiError;
use serde::Deserialize;
use serde_json::json;

use crate::pages::PUSH_ROLE;
use crate::ServicesState;

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
        st.pusher.push_one(&name, &body.xml, &user, &password).await,
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
    let reports = st
        .pusher
        .push_many(&body.devices, &body.xml, &user, &password)
        .await;
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
