//! WebDialer's operations as JSON under `/api/v1/webdialer`, for programs that would rather
//! not speak SOAP. A user opens a session with their password (`POST .../sessions`, HTTP
//! Basic) and sends its token as a bearer token; an application user sends its own API token
//! (or Basic) and, with WebDialer proxy rights, names the user it acts for.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dialtone_store::webdialer::Preference;
use dialtone_web::openapi::{error_responses, with, Paths};
use dialtone_web::ApiError;
use serde::Deserialize;
use serde_json::json;

use crate::{with_codes, Code, Credential, Devices, Profile, Reply, WebDialer};

pub fn router(wd: Arc<WebDialer>) -> Router {
    Router::new()
        .route(
            "/api/v1/webdialer/sessions",
            post(open_session).delete(close_session),
        )
        .route("/api/v1/webdialer/calls", post(make_call))
        .route("/api/v1/webdialer/calls/end", post(end_call))
        .route("/api/v1/webdialer/profile", get(profile))
        .route(
            "/api/v1/webdialer/preferences",
            get(get_preferences).put(put_preferences),
        )
        .route("/api/v1/webdialer/cluster-users/{user}", get(cluster_user))
        .layer(axum::middleware::from_fn_with_state(wd.clone(), activated))
        .with_state(wd)
}

/// Nothing is answered while WebDialer is not activated on this node (code 6).
async fn activated(
    State(wd): State<Arc<WebDialer>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match wd.activated().await {
        Ok(()) => next.run(request).await,
        Err(o) => failure(o, None),
    }
}

/// An outcome as an HTTP answer: the WebDialer code beside the usual error body.
fn failure(o: Reply, field: Option<&str>) -> Response {
    let status = match o.code {
        Code::Success => StatusCode::OK,
        Code::Authentication => StatusCode::UNAUTHORIZED,
        Code::NoProxyRights => StatusCode::FORBIDDEN,
        Code::CallFailure => StatusCode::CONFLICT,
        Code::NoDevice | Code::Unreachable => StatusCode::UNPROCESSABLE_ENTITY,
        Code::Directory | Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::ServiceError => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Overloaded => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut body = json!({
        "error": o.message,
        "code": o.code as u8,
        "description": o.code.description(),
    });
    if let Some(f) = field {
        body["field"] = f.into();
    }
    let mut r = (status, Json(body)).into_response();
    if o.code == Code::Overloaded {
        r.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    r
}

/// The credential the Authorization header carries.
fn credential(headers: &HeaderMap) -> Result<Credential, Reply> {
    if let Some((user_id, password)) = dialtone_web::accounts::basic_credentials(headers) {
        return Ok(Credential {
            user_id,
            password,
            token: None,
        });
    }
    let bearer = dialtone_web::accounts::bearer_token(headers);
    match bearer {
        Some(token) => Ok(Credential {
            token: Some(token),
            ..Default::default()
        }),
        None => Err(Reply::new(
            Code::Authentication,
            "credentials required: a bearer token or HTTP Basic",
        )),
    }
}

/// A JSON body of type `T`, or a 400 naming the field at fault.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = if bytes.is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    deserialize_naming_field(&mut de)
        .map_err(|(path, e)| ApiError::field(StatusCode::BAD_REQUEST, path, e))
}

/// Deserialize, reporting the failing field by name when serde says which one.
fn deserialize_naming_field<'de, T: serde::de::DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, (String, String)> {
    T::deserialize(de).map_err(|e| {
        let msg = e.to_string();
        // serde names an unknown or missing field in backquotes.
        let field = msg
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "body".to_string());
        (field, msg)
    })
}

/// A request's credential and JSON body, or the answer refusing it.
fn credential_and_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<(Credential, T), Box<Response>> {
    let cred = credential(headers).map_err(|o| Box::new(failure(o, None)))?;
    let req = body(bytes).map_err(|e| Box::new(e.into_response()))?;
    Ok((cred, req))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    destination: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    line: Option<String>,
    /// Use the phone the user is logged in to; when absent, the user's saved preference.
    #[serde(default)]
    use_em: Option<bool>,
    #[serde(default)]
    fac: Option<String>,
    #[serde(default)]
    cmc: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndRequest {
    #[serde(default)]
    user: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    line: Option<String>,
    #[serde(default)]
    use_em: Option<bool>,
}

/// The profile a request asks for, filled in from the user's saved preferences.
async fn profile_for(
    wd: &WebDialer,
    user: &str,
    device: Option<String>,
    line: Option<String>,
    use_em: Option<bool>,
) -> Result<Profile, Reply> {
    let saved = wd.preference(user).await?.unwrap_or_default();
    let use_em = use_em.unwrap_or(saved.use_em);
    let named = device.is_some();
    Ok(Profile {
        user: user.to_string(),
        device: device.or(if use_em { None } else { saved.device.clone() }),
        line: line.or(if named || use_em { None } else { saved.line }),
        from: Devices::chosen(use_em),
    })
}

async fn make_call(
    State(wd): State<Arc<WebDialer>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let (cred, req) = match credential_and_body::<CallRequest>(&headers, &bytes) {
        Ok(parts) => parts,
        Err(refused) => return *refused,
    };
    let user = match wd.acting_for(&cred, &req.user, true).await {
        Ok(u) => u,
        Err(o) => return failure(o, None),
    };
    let profile = match profile_for(&wd, &user, req.device, req.line, req.use_em).await {
        Ok(p) => p,
        Err(o) => return failure(o, None),
    };
    let destination = with_codes(&req.destination, req.fac.as_deref(), req.cmc.as_deref());
    match wd.make_call(&user, &destination, &profile).await {
        Ok(p) => (
            StatusCode::CREATED,
            Json(json!({
                "code": 0,
                "description": Code::Success.description(),
                "call": p.call,
                "user": user,
                "device": p.device,
                "line": p.line,
                "destination": req.destination,
            })),
        )
            .into_response(),
        Err(o) => {
            let field = match o.code {
                Code::Unreachable => Some("destination"),
                Code::NoDevice if o.message.starts_with("device") => Some("device"),
                Code::NoDevice if o.message.starts_with("line") => Some("line"),
                Code::NoDevice if o.message.contains("destination") => Some("destination"),
                _ => None,
            };
            failure(o, field)
        }
    }
}

async fn end_call(
    State(wd): State<Arc<WebDialer>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let (cred, req) = match credential_and_body::<EndRequest>(&headers, &bytes) {
        Ok(parts) => parts,
        Err(refused) => return *refused,
    };
    let result = async {
        let user = wd.acting_for(&cred, &req.user, true).await?;
        let profile = profile_for(&wd, &user, req.device, req.line, req.use_em).await?;
        wd.end_call(&user, &profile).await
    }
    .await;
    match result {
        Ok(call) => {
            Json(json!({"code": 0, "description": "Success", "call": call})).into_response()
        }
        Err(o) => failure(o, None),
    }
}

#[derive(Deserialize)]
struct UserQuery {
    #[serde(default)]
    user: String,
}

async fn profile(
    State(wd): State<Arc<WebDialer>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<UserQuery>,
) -> Response {
    let cred = match credential(&headers) {
        Ok(c) => c,
        Err(o) => return failure(o, None),
    };
    let result = async {
        let user = wd.acting_for(&cred, &q.user, true).await?;
        let devices = wd.devices(&user).await?;
        let primary = wd.primary_line(&user).await.ok();
        Ok::<_, Reply>(json!({
            "user": user,
            "primary_line": primary,
            "devices": devices.iter().map(|d| json!({
                "name": d.name,
                "description": d.description,
                "model": d.model,
                "extension_mobility": d.mobility,
                "lines": d.lines.iter().map(|(n, p)| json!({"number": n, "partition": p})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(o) => failure(o, None),
    }
}

/// The end user a request is from (preferences are a user's own).
async fn own_user(wd: &WebDialer, headers: &HeaderMap) -> Result<String, Reply> {
    let cred = credential(headers)?;
    match wd.authenticate(&cred).await? {
        crate::Who::EndUser(u) => Ok(u),
        crate::Who::Application { user, .. } => Err(Reply::new(
            Code::NoProxyRights,
            format!("preferences belong to end users, not to {user}"),
        )),
    }
}

async fn get_preferences(State(wd): State<Arc<WebDialer>>, headers: HeaderMap) -> Response {
    let user = match own_user(&wd, &headers).await {
        Ok(u) => u,
        Err(o) => return failure(o, None),
    };
    match wd.preference(&user).await {
        Ok(p) => {
            Json(json!({"user": user, "saved": p.is_some(), "preferences": p.unwrap_or_default()}))
                .into_response()
        }
        Err(o) => failure(o, None),
    }
}

async fn put_preferences(
    State(wd): State<Arc<WebDialer>>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    let user = match own_user(&wd, &headers).await {
        Ok(u) => u,
        Err(o) => return failure(o, None),
    };
    let p: Preference = match body(&bytes) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match wd.check_preference(&user, &p).await {
        Ok(Ok(())) => {}
        Ok(Err((field, why))) => {
            return ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, field, why).into_response()
        }
        Err(o) => return failure(o, None),
    }
    match wd.store.set_webdialer_preference(&user, &p).await {
        Ok(_) => Json(json!({"user": user, "saved": true, "preferences": p})).into_response(),
        Err(e) => failure(Reply::from(e), None),
    }
}

/// `POST /api/v1/webdialer/sessions` with the user's Basic credentials: a bearer token for
/// WebDialer, lasting the User Session Expiry (or until closed).
async fn open_session(State(wd): State<Arc<WebDialer>>, headers: HeaderMap) -> Response {
    let Some((user, password)) = dialtone_web::accounts::basic_credentials(&headers) else {
        return failure(
            Reply::new(
                Code::Authentication,
                "open a session with the user's ID and password as HTTP Basic",
            ),
            None,
        );
    };
    let result = async {
        if !wd.check_end_user(&user, &password).await? {
            return Err(Reply::new(
                Code::Authentication,
                "wrong user ID or password",
            ));
        }
        let (token, expires, _) = wd.open_session(&user).await?;
        Ok(json!({"token": token, "token_type": "Bearer", "user": user, "expires_at_ms": expires}))
    }
    .await;
    match result {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(o) => failure(o, None),
    }
}

async fn close_session(State(wd): State<Arc<WebDialer>>, headers: HeaderMap) -> Response {
    let token = match credential(&headers) {
        Ok(Credential { token: Some(t), .. }) => t,
        _ => {
            return failure(
                Reply::new(
                    Code::Authentication,
                    "send the session's token as a bearer token",
                ),
                None,
            )
        }
    };
    match wd.store.webdialer_session_close(&token).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => failure(
            Reply::new(Code::Authentication, "unknown or ended session"),
            None,
        ),
        Err(e) => failure(Reply::from(e), None),
    }
}

/// Whether the user is this cluster's: no credentials, as isClusterUserSoap.
async fn cluster_user(State(wd): State<Arc<WebDialer>>, Path(user): Path<String>) -> Response {
    match wd.is_cluster_user(&user).await {
        Ok(yes) => Json(json!({"user": user, "cluster_user": yes})).into_response(),
        Err(e) => failure(Reply::from(e), None),
    }
}

/// WebDialer's JSON API (served by the webdialer crate). Failures carry WebDialer's `code`
/// (0-9) beside the usual error body.
pub fn openapi() -> Paths {
    let mut paths = Paths::new();
    let errors = || error_responses(&["400", "401", "403", "409", "422", "429", "503"]);
    let placed = json!({"type": "object", "properties": {
        "code": {"type": "integer"}, "description": {"type": "string"}, "call": {"type": "integer"},
        "user": {"type": "string"}, "device": {"type": "string"}, "line": {"type": "string"},
        "destination": {"type": "string"}}});
    let target = json!({"user": {"type": "string", "description": "The user the call is for (application users with Standard WebDialer Proxy Rights); empty: the caller"},
        "device": {"type": "string"}, "line": {"type": "string"},
        "use_em": {"type": "boolean", "description": "Use the phone the user is logged in to (Extension Mobility); absent: the saved preference"}});
    let mut call_props = target.as_object().cloned().unwrap_or_default();
    call_props.insert("destination".into(), json!({"type": "string", "description": "Digits; spaces, dashes, dots and brackets are dropped"}));
    call_props.insert(
        "fac".into(),
        json!({"type": "string", "description": "Forced Authorization Code, appended after #"}),
    );
    call_props.insert(
        "cmc".into(),
        json!({"type": "string", "description": "Client Matter Code, appended after #"}),
    );
    let preferences = json!({"type": "object", "additionalProperties": false, "properties": {
        "use_em": {"type": "boolean"}, "device": {"type": "string", "nullable": true},
        "line": {"type": "string", "nullable": true}, "dont_auto_close": {"type": "boolean"},
        "dont_show_call_conf": {"type": "boolean"}}});
    paths.insert(
        "/api/v1/webdialer/sessions".into(),
        json!({
            "post": {"tags": ["webdialer"], "operationId": "webdialerOpenSession",
                     "summary": "An end user's password (HTTP Basic) for a WebDialer bearer token lasting the User Session Expiry",
                     "security": [{"basic": []}],
                     "responses": with(errors(), "201", json!({"description": "A session", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"token": {"type": "string"}, "token_type": {"type": "string"},
                        "user": {"type": "string"}, "expires_at_ms": {"type": "integer", "nullable": true}}}}}}))},
            "delete": {"tags": ["webdialer"], "operationId": "webdialerCloseSession", "summary": "End the session whose token is sent",
                       "security": [{"bearer": []}],
                       "responses": with(errors(), "204", json!({"description": "Ended"}))},
        }),
    );
    paths.insert(
        "/api/v1/webdialer/calls".into(),
        json!({"post": {"tags": ["webdialer"], "operationId": "webdialerMakeCall",
                        "summary": "Call a number from the user's phone: it rings (and answers by itself where it can), then the destination",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["destination"], "additionalProperties": false,
                            "properties": call_props}}}},
                        "responses": with(errors(), "201", json!({"description": "Placed (code 0)", "content": {"application/json": {"schema": placed}}}))}}),
    );
    paths.insert(
        "/api/v1/webdialer/calls/end".into(),
        json!({"post": {"tags": ["webdialer"], "operationId": "webdialerEndCall",
                        "summary": "Hang up the newest call on the user's phone and line",
                        "requestBody": {"content": {"application/json": {"schema": {
                            "type": "object", "additionalProperties": false, "properties": target}}}},
                        "responses": with(errors(), "200", json!({"description": "Ended (code 0)"}))}}),
    );
    paths.insert(
        "/api/v1/webdialer/profile".into(),
        json!({"get": {"tags": ["webdialer"], "operationId": "webdialerProfile",
                       "summary": "The devices and lines a user may call from, and their primary line",
                       "parameters": [{"name": "user", "in": "query", "schema": {"type": "string"}}],
                       "responses": with(errors(), "200", json!({"description": "The profile"}))}}),
    );
    paths.insert(
        "/api/v1/webdialer/preferences".into(),
        json!({
            "get": {"tags": ["webdialer"], "operationId": "webdialerPreferences", "summary": "The user's own saved preferences",
                    "responses": with(errors(), "200", json!({"description": "Preferences"}))},
            "put": {"tags": ["webdialer"], "operationId": "webdialerSavePreferences", "summary": "Save the user's preferences (the device must be theirs)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": preferences}}},
                    "responses": with(errors(), "200", json!({"description": "Saved"}))},
        }),
    );
    paths.insert(
        "/api/v1/webdialer/cluster-users/{user}".into(),
        json!({"parameters": [{"name": "user", "in": "path", "required": true, "schema": {"type": "string"}}],
               "get": {"tags": ["webdialer"], "operationId": "webdialerIsClusterUser", "summary": "Whether the user is this cluster's (isClusterUser; no credentials)",
                       "security": [],
                       "responses": with(errors(), "200", json!({"description": "The answer", "content": {"application/json": {"schema": {
                           "type": "object", "properties": {"user": {"type": "string"}, "cluster_user": {"type": "boolean"}}}}}}))}}),
    );
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bodies_name_the_field() {
        let r: Result<CallRequest, _> = body(br#"{"destination": "1002", "colour": "red"}"#);
        let e = r.err().expect("refused");
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("colour"))
        );
        let r: Result<CallRequest, _> = body(br#"{}"#);
        assert_eq!(
            r.err().expect("refused").field.as_deref(),
            Some("destination")
        );
        let r: Result<CallRequest, _> = body(br#"{"destination": "1002"}"#);
        assert!(r.is_ok());
    }

    #[test]
    fn overload_is_429_with_retry_after() {
        let r = failure(Reply::new(Code::Overloaded, "busy"), None);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
    }
}
