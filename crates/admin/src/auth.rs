//! Who is calling: HTTP Basic with an application user's password, or a bearer token issued by
//! `POST /api/v1/auth/token`. Administrators hold the Standard CCM Super Users role.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use dialtone_store::catalogue::ADMIN_ROLE;
use serde_json::{json, Value};

use crate::{AdminState, ApiError};

/// An authenticated application user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub roles: Vec<String>,
    /// How the caller proved who it is.
    pub via_token: bool,
}

impl Caller {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

enum Presented {
    Basic(String, String),
    Bearer(String),
}

fn presented(headers: &HeaderMap) -> Result<Presented, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m.to_string());
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("credentials required (HTTP Basic or a bearer token)"))?
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header"))?;
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("malformed Authorization header"))?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| unauthorized("malformed Basic credentials"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| unauthorized("malformed Basic credentials"))?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| unauthorized("malformed Basic credentials"))?;
        Ok(Presented::Basic(user.to_string(), pass.to_string()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Presented::Bearer(rest.trim().to_string()))
    } else {
        Err(unauthorized("use HTTP Basic or a bearer token"))
    }
}

/// Check an application user's password (through the credential cache).
pub async fn verify_application_user(
    st: &AdminState,
    user: &str,
    password: &str,
) -> Result<Caller, ApiError> {
    let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user ID or password");
    let Some((_, Some(hash), roles)) = st.store.application_user_auth(user).await? else {
        return Err(wrong());
    };
    if !verify_hash(st, &format!("app:{user}"), password, hash).await? {
        return Err(wrong());
    }
    Ok(Caller {
        user_id: user.to_string(),
        roles,
        via_token: false,
    })
}

/// Check a password against its stored hash through the credential cache. `who` names the
/// account and its kind (`app:...`, `end:...`).
async fn verify_hash(
    st: &AdminState,
    who: &str,
    password: &str,
    hash: String,
) -> Result<bool, ApiError> {
    let cache = st.credentials.clone();
    let who = who.to_string();
    let password = password.to_string();
    // A cold verification costs about a millisecond of CPU: keep it off the async workers.
    tokio::task::spawn_blocking(move || cache.verify(&who, &password, &hash))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "verification failed"))
}

/// Check an end user's password; on success, the devices they own or control.
pub async fn verify_end_user(
    st: &AdminState,
    user: &str,
    password: &str,
) -> Result<Vec<String>, ApiError> {
    let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user ID or password");
    let Some((Some(hash), devices)) = st.store.end_user_phone_auth(user).await? else {
        return Err(wrong());
    };
    if !verify_hash(st, &format!("end:{user}"), password, hash).await? {
        return Err(wrong());
    }
    Ok(devices)
}

/// Check an end user's Extension Mobility PIN: false for an unknown user, a user without a
/// PIN, or a wrong PIN.
pub async fn verify_pin(st: &AdminState, user: &str, pin: &str) -> Result<bool, ApiError> {
    let Some(Some(hash)) = st.store.end_user_pin(user).await? else {
        return Ok(false);
    };
    verify_hash(st, &format!("pin:{user}"), pin, hash).await
}

/// The HTTP Basic credentials of a request, if it carries them.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    match presented(headers) {
        Ok(Presented::Basic(user, pass)) => Some((user, pass)),
        _ => None,
    }
}

/// The bearer token a request carries, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    match presented(headers) {
        Ok(Presented::Bearer(token)) if !token.is_empty() => Some(token),
        _ => None,
    }
}

/// Whoever the request's Authorization header names (Basic or a bearer token).
pub async fn authenticate(st: &AdminState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    match presented(headers)? {
        Presented::Basic(user, pass) => verify_application_user(st, &user, &pass).await,
        Presented::Bearer(token) => token_caller(st, &token).await,
    }
}

/// The application user a bearer token was issued to.
pub async fn token_caller(st: &AdminState, token: &str) -> Result<Caller, ApiError> {
    match st.store.token_user(token).await? {
        Some((user_id, roles)) => Ok(Caller {
            user_id,
            roles,
            via_token: true,
        }),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown or expired token",
        )),
    }
}

/// Any authenticated application user.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AdminState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AdminState) -> Result<Self, ApiError> {
        Ok(Authenticated(authenticate(st, &parts.headers).await?))
    }
}

/// An administrator (Standard CCM Super Users).
pub struct Admin(pub Caller);

impl FromRequestParts<AdminState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AdminState) -> Result<Self, ApiError> {
        let caller = authenticate(st, &parts.headers).await?;
        if !caller.has_role(ADMIN_ROLE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("'{}' lacks the {ADMIN_ROLE} role", caller.user_id),
            ));
        }
        Ok(Admin(caller))
    }
}

/// `POST /api/v1/auth/token` with Basic credentials: a bearer token for the caller.
pub async fn issue_token(
    State(st): State<AdminState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Presented::Basic(user, pass) = presented(&headers)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a token is issued for HTTP Basic credentials",
        ));
    };
    verify_application_user(&st, &user, &pass).await?;
    let Some((id, _, _)) = st.store.application_user_auth(&user).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user ID or password",
        ));
    };
    let (token, expires_at) = st
        .store
        .issue_token(&id, st.settings.token_lifetime)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "token_type": "Bearer", "expires_at_ms": expires_at })),
    ))
}

/// `DELETE /api/v1/auth/token` with the bearer token to revoke.
pub async fn revoke_token(
    State(st): State<AdminState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Presented::Bearer(token) = presented(&headers)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send the token to revoke as a bearer token",
        ));
    };
    if st.store.revoke_token(&token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown or expired token",
        ))
    }
}
