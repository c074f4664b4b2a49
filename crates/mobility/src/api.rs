//! Extension Mobility over the administration API: who is logged in where, login, logout and
//! forced logout.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use dialtone_admin::{AdminState, ApiError};
use dialtone_store::catalogue::ADMIN_ROLE;
use dialtone_store::em::LoginRefused;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{EmError, Mobility};

#[derive(Clone)]
struct Em {
    admin: AdminState,
    mobility: Arc<Mobility>,
}

/// Only administrators log users in and out here; users do it on their phones.
async fn administrator(em: &Em, headers: &HeaderMap) -> Result<(), ApiError> {
    let caller = dialtone_admin::auth::authenticate(&em.admin, headers).await?;
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
pub fn router(admin: AdminState, mobility: Arc<Mobility>) -> Router {
    Router::new()
        .route("/api/v1/em/logins", get(logins))
        .route("/api/v1/em/login", post(login))
        .route("/api/v1/em/logout", post(logout))
        .route("/api/v1/em/users/{user}", get(user_devices))
        .with_state(Em { admin, mobility })
}
