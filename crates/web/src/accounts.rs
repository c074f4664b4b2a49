//! Who a request is from: HTTP Basic with an application user's password, a bearer token issued
//! by `POST /api/v1/auth/token`, an end user's password or Extension Mobility PIN. Every check
//! goes through the store's credential cache (argon2id costs a millisecond cold) and answers a
//! domain error, [`AuthError`]; each surface decides what a failure looks like to its clients
//! (a 401, Cisco's code 2, a phone's error text).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use dialtone_store::catalogue::ADMIN_ROLE;
use dialtone_store::secrets::CredentialCache;
use dialtone_store::{Store, StoreError};

use crate::ApiError;

/// Why a request is not taken as coming from anyone.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("credentials required (HTTP Basic or a bearer token)")]
    Missing,
    /// The Authorization header does not read; the text says what is wrong with it.
    #[error("{0}")]
    Malformed(&'static str),
    #[error("wrong user ID or password")]
    Wrong,
    #[error("unknown or expired token")]
    UnknownToken,
    #[error("'{user}' lacks the {role} role")]
    Lacks { user: String, role: &'static str },
    /// The check itself could not run (its worker thread failed).
    #[error("verification failed")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

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

/// What an Authorization header presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    Basic(String, String),
    Bearer(String),
}

/// Read a request's Authorization header.
pub fn presented(headers: &HeaderMap) -> Result<Presented, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed("malformed Authorization header"))?;
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or(AuthError::Malformed("malformed Authorization header"))?;
    let malformed_basic = || AuthError::Malformed("malformed Basic credentials");
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| malformed_basic())?;
        let decoded = String::from_utf8(decoded).map_err(|_| malformed_basic())?;
        let (user, pass) = decoded.split_once(':').ok_or_else(malformed_basic)?;
        Ok(Presented::Basic(user.to_string(), pass.to_string()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Presented::Bearer(rest.trim().to_string()))
    } else {
        Err(AuthError::Malformed("use HTTP Basic or a bearer token"))
    }
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

/// The accounts requests prove themselves against: the store and its credential cache.
#[derive(Clone)]
pub struct Accounts {
    pub store: Store,
    pub credentials: Arc<CredentialCache>,
}

impl Accounts {
    pub fn new(store: Store, credentials: Arc<CredentialCache>) -> Accounts {
        Accounts { store, credentials }
    }

    /// Check an application user's password.
    pub async fn application_user(&self, user: &str, password: &str) -> Result<Caller, AuthError> {
        let Some((_, Some(hash), roles)) = self.store.application_user_auth(user).await? else {
            return Err(AuthError::Wrong);
        };
        if !self.verify(&format!("app:{user}"), password, hash).await? {
            return Err(AuthError::Wrong);
        }
        Ok(Caller {
            user_id: user.to_string(),
            roles,
            via_token: false,
        })
    }

    /// Check an end user's password; on success, the devices they own or control.
    pub async fn end_user(&self, user: &str, password: &str) -> Result<Vec<String>, AuthError> {
        let Some((Some(hash), devices)) = self.store.end_user_phone_auth(user).await? else {
            return Err(AuthError::Wrong);
        };
        if !self.verify(&format!("end:{user}"), password, hash).await? {
            return Err(AuthError::Wrong);
        }
        Ok(devices)
    }

    /// Check an end user's Extension Mobility PIN: false for an unknown user, a user without a
    /// PIN, or a wrong PIN.
    pub async fn pin(&self, user: &str, pin: &str) -> Result<bool, AuthError> {
        let Some(Some(hash)) = self.store.end_user_pin(user).await? else {
            return Ok(false);
        };
        self.verify(&format!("pin:{user}"), pin, hash).await
    }

    /// The application user a bearer token was issued to.
    pub async fn token_caller(&self, token: &str) -> Result<Caller, AuthError> {
        match self.store.token_user(token).await? {
            Some((user_id, roles)) => Ok(Caller {
                user_id,
                roles,
                via_token: true,
            }),
            None => Err(AuthError::UnknownToken),
        }
    }

    /// Whoever the request's Authorization header names (Basic or a bearer token).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        match presented(headers)? {
            Presented::Basic(user, pass) => self.application_user(&user, &pass).await,
            Presented::Bearer(token) => self.token_caller(&token).await,
        }
    }

    /// Forget what the cache knows of an account whose password changed. `who` as in
    /// [`Accounts::verify`]'s keys: `app:USER`, `end:USER`, `pin:USER`.
    pub fn forget(&self, who: &str) {
        self.credentials.forget(who);
    }

    /// Check a secret against its stored hash through the credential cache. `who` names the
    /// account and its kind (`app:...`, `end:...`, `pin:...`).
    async fn verify(&self, who: &str, secret: &str, hash: String) -> Result<bool, AuthError> {
        let cache = self.credentials.clone();
        let who = who.to_string();
        let secret = secret.to_string();
        // A cold verification costs about a millisecond of CPU: keep it off the async workers.
        tokio::task::spawn_blocking(move || cache.verify(&who, &secret, &hash))
            .await
            .map_err(|_| AuthError::Unavailable)
    }
}

/// Any authenticated application user (for a router whose state yields [`Accounts`]).
pub struct Authenticated(pub Caller);

impl<S> FromRequestParts<S> for Authenticated
where
    Accounts: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &S) -> Result<Self, ApiError> {
        let accounts = Accounts::from_ref(st);
        Ok(Authenticated(accounts.authenticate(&parts.headers).await?))
    }
}

/// An administrator (Standard CCM Super Users).
pub struct Admin(pub Caller);

impl<S> FromRequestParts<S> for Admin
where
    Accounts: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &S) -> Result<Self, ApiError> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, st).await?;
        if !caller.has_role(ADMIN_ROLE) {
            return Err(AuthError::Lacks {
                user: caller.user_id,
                role: ADMIN_ROLE,
            }
            .into());
        }
        Ok(Admin(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn headers_are_read_as_basic_or_bearer_and_refused_with_a_reason() {
        // "ann:se:cret" in base64: the password may hold a colon.
        let basic = with_auth("Basic YW5uOnNlOmNyZXQ=");
        assert_eq!(
            presented(&basic).unwrap(),
            Presented::Basic("ann".into(), "se:cret".into())
        );
        assert_eq!(bearer_token(&with_auth("bearer abc")), Some("abc".into()));
        assert_eq!(bearer_token(&with_auth("Bearer ")), None);
        assert!(matches!(
            presented(&HeaderMap::new()),
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            presented(&with_auth("Basic !!!")),
            Err(AuthError::Malformed("malformed Basic credentials"))
        ));
        assert!(matches!(
            presented(&with_auth("Digest x")),
            Err(AuthError::Malformed("use HTTP Basic or a bearer token"))
        ));
    }
}
