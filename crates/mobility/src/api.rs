//! Extension Mobility over the administration API: who is logged in where, login, logout and
//! forced logout.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use dialtone_store::catalogue::ADMIN_ROLE;
use dialtone_store::em::LoginRefused;
use dialtone_web::openapi::{error_responses, with, Paths};
use dialtone_web::{Accounts, ApiError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{EmError, Mobility};

#[derive(Clone)]
struct Em {
    accounts: Accounts,
    mobility: Arc<Mobility>,
}

/// Only administrators log users in and out here; users do it on their phones.
async fn administrator(em: &Em, headers: &HeaderMap) -> Result<(), ApiError> {
    let caller = em.accounts.authenticate(headers).await?;
    if caller.has_role(ADMIN_ROLE) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is not an administrator", caller.user_id),
        ))
    }
}

impl From<EmError> for ApiError {
    fn from(e: EmError) -> ApiError {
        match e {
            EmError::Store(e) => e.into(),
            EmError::NotLoggedIn => {
                ApiError::field(StatusCode::CONFLICT, "device", "no user is logged in to it")
            }
            EmError::Refused(r) => match r {
                LoginRefused::UnknownDevice => {
                    ApiError::field(StatusCode::NOT_FOUND, "device", "no such device")
                }
                LoginRefused::UnknownUser => {
                    ApiError::field(StatusCode::NOT_FOUND, "user", "no such end user")
                }
                LoginRefused::DeviceNotAllowed => ApiError::field(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "device",
                    "does not allow Extension Mobility (a CTI route point or port, or Enable Extension Mobility is off)",
                ),
                LoginRefused::Disabled => ApiError::field(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "user",
                    "not enabled for Extension Mobility",
                ),
                LoginRefused::NoProfile => ApiError::field(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "profile",
                    "the user has no such device profile",
                ),
                LoginRefused::DeviceTaken { user } => ApiError::field(
                    StatusCode::CONFLICT,
                    "device",
                    format!("{user} is logged in to it"),
                ),
                LoginRefused::UserElsewhere { device } => ApiError::field(
                    StatusCode::CONFLICT,
                    "user",
                    format!("already logged in to {device} (Multiple Login Behavior: not allowed)"),
                ),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    device: String,
    user: String,
    profile: Option<String>,
    /// How long this login lasts (otherwise the maximum login time, when enforced).
    duration_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    device: String,
}

fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(b)| b)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

async fn logins(State(em): State<Em>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    administrator(&em, &headers).await?;
    Ok(Json(json!({ "items": em.mobility.logins() })))
}

async fn login(
    State(em): State<Em>,
    headers: HeaderMap,
    b: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    administrator(&em, &headers).await?;
    let b = body(b)?;
    let duration = b.duration_seconds.map(std::time::Duration::from_secs);
    let login = em
        .mobility
        .login(&b.device, &b.user, b.profile.as_deref(), duration)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(login))))
}

async fn logout(
    State(em): State<Em>,
    headers: HeaderMap,
    b: Result<Json<LogoutBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    administrator(&em, &headers).await?;
    let b = body(b)?;
    Ok(Json(json!(em.mobility.logout(&b.device).await?)))
}

async fn user_devices(
    State(em): State<Em>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    administrator(&em, &headers).await?;
    Ok(Json(
        json!({ "user": user, "devices": em.mobility.devices_of(&user) }),
    ))
}

/// `/api/v1/em/...`, for administrators.
pub fn router(accounts: Accounts, mobility: Arc<Mobility>) -> Router {
    Router::new()
        .route("/api/v1/em/logins", get(logins))
        .route("/api/v1/em/login", post(login))
        .route("/api/v1/em/logout", post(logout))
        .route("/api/v1/em/users/{user}", get(user_devices))
        .with_state(Em { accounts, mobility })
}

/// Extension Mobility for administrators, served by the mobility crate.
pub fn openapi() -> Paths {
    let mut paths = Paths::new();
    let errors = || error_responses(&["400", "401", "403", "404", "409", "422"]);
    let login = json!({"type": "object", "properties": {
        "device": {"type": "string"}, "user": {"type": "string"}, "profile": {"type": "string"},
        "login_at_ms": {"type": "integer"}, "expires_at_ms": {"type": "integer", "nullable": true}}});
    let ok = |code: &str, what: &str| {
        with(
            errors(),
            code,
            json!({"description": what, "content": {"application/json": {"schema": login.clone()}}}),
        )
    };
    paths.insert(
        "/api/v1/em/logins".into(),
        json!({"get": {"tags": ["em"], "operationId": "emLogins", "summary": "Who is logged in where, since when, until when",
                       "responses": with(errors(), "200", json!({"description": "The logins",
                           "content": {"application/json": {"schema": {"type": "object", "properties": {
                               "items": {"type": "array", "items": login.clone()}}}}}}))}}),
    );
    paths.insert(
        "/api/v1/em/login".into(),
        json!({"post": {"tags": ["em"], "operationId": "emLogin",
                        "summary": "Log a user in to a phone (its default device profile unless one is named); the phone is reset",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["device", "user"], "additionalProperties": false,
                            "properties": {"device": {"type": "string"}, "user": {"type": "string"},
                                           "profile": {"type": "string"},
                                           "duration_seconds": {"type": "integer", "minimum": 1}}}}}},
                        "responses": ok("201", "Logged in")}}),
    );
    paths.insert(
        "/api/v1/em/logout".into(),
        json!({"post": {"tags": ["em"], "operationId": "emLogout", "summary": "Log out (or force out) whoever is logged in to a phone",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["device"], "additionalProperties": false,
                            "properties": {"device": {"type": "string"}}}}}},
                        "responses": ok("200", "The login that ended")}}),
    );
    paths.insert(
        "/api/v1/em/users/{user}".into(),
        json!({"parameters": [{"name": "user", "in": "path", "required": true, "schema": {"type": "string"}}],
               "get": {"tags": ["em"], "operationId": "emUserDevices", "summary": "The phones a user is logged in to",
                       "responses": with(errors(), "200", json!({"description": "Devices",
                           "content": {"application/json": {"schema": {"type": "object", "properties": {
                               "user": {"type": "string"}, "devices": {"type": "array", "items": {"type": "string"}}}}}}}))}}),
    );
    paths
}
