//! Bearer tokens for application users: issued for HTTP Basic credentials, revoked with the
//! token itself. Who a request is from is `dialtone_web::accounts`'s to say.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use dialtone_web::accounts::{presented, Presented};
use dialtone_web::{ApiError, AuthError};
use serde_json::{json, Value};

use crate::AdminState;

/// `POST /api/v1/auth/token` with Basic credentials: a bearer token for the caller.
pub async fn issue_token(
    State(st): State<AdminState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Presented::Basic(user, pass) = presented(&headers).map_err(ApiError::from)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a token is issued for HTTP Basic credentials",
        ));
    };
    st.accounts.application_user(&user, &pass).await?;
    let Some((id, _, _)) = st.store.application_user_auth(&user).await? else {
        return Err(AuthError::Wrong.into());
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
    let Presented::Bearer(token) = presented(&headers).map_err(ApiError::from)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send the token to revoke as a bearer token",
        ));
    };
    if st.store.revoke_token(&token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AuthError::UnknownToken.into())
    }
}
