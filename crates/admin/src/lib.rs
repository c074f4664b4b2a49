//! The administration REST API under `/api/v1`: one set of handlers serves every resource of
//! the store's catalogue, plus parameters, bulk CSV and bearer tokens.
//!
//! Errors are JSON `{"error": "...", "field": "..."}`: 400 malformed JSON, 401/403 credentials,
//! 404 unknown record, 409 conflicts and in-use deletes, 413 oversize bodies, 415 wrong content
//! type, 422 a field that fails validation (named).
#![forbid(unsafe_code)]

pub mod auth;
pub mod dna;
pub mod openapi;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dialtone_store::bulk::ImportError;
use dialtone_store::catalogue::{self, Resource};
use dialtone_store::{ListQuery, Store};
use dialtone_web::accounts::Admin;
use dialtone_web::openapi::Paths;
use dialtone_web::{Accounts, ApiError};
use serde_json::{json, Value};

/// Settings the API needs from the node's configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub token_lifetime: Duration,
    /// Largest CSV file `POST /api/v1/bulk/...` accepts.
    pub max_import_bytes: usize,
    /// Base URL of the HTTPS API as clients reach it (goes into the OpenAPI document).
    pub public_base_url: String,
}

#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub accounts: Accounts,
    pub settings: Arc<ApiSettings>,
    /// The OpenAPI paths of the node's other surfaces, joined into `/api/v1/openapi.json`.
    pub surfaces: Arc<Vec<Paths>>,
}

impl FromRef<AdminState> for Accounts {
    fn from_ref(st: &AdminState) -> Accounts {
        st.accounts.clone()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn resource_named(name: &str) -> ApiResult<&'static Resource> {
    catalogue::resource(name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no resource '{name}'")))
}

/// Parse a JSON request body, with errors a client can act on.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Value> {
    let body = body.map_err(body_rejection)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

fn body_rejection(r: BytesRejection) -> ApiError {
    let status = r.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "request body too large")
    } else {
        ApiError::new(status, r.body_text())
    }
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_doc))
        .route(
            "/api/v1/auth/token",
            axum::routing::post(auth::issue_token).delete(auth::revoke_token),
        )
        .route("/api/v1/dna", get(dna::handler))
        .route("/api/v1/parameters", get(list_parameters))
        .route(
            "/api/v1/parameters/{scope}/{name}",
            get(get_parameter)
                .put(put_parameter)
                .delete(reset_parameter),
        )
        .route(
            "/api/v1/bulk/{resource}",
            get(export_csv)
                .post(import_csv)
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.settings.max_import_bytes,
                )),
        )
        .route("/api/v1/{resource}", get(list).post(create))
        .route(
            "/api/v1/{resource}/{key}",
            get(read).patch(update).delete(remove),
        )
        .with_state(state)
}

async fn openapi_doc(State(st): State<AdminState>) -> Json<Value> {
    Json(openapi::document(
        &st.settings.public_base_url,
        &st.surfaces,
    ))
}

async fn list(
    _caller: Admin,
    State(st): State<AdminState>,
    Path(resource): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let res = resource_named(&resource)?;
    let mut q = ListQuery {
        limit: 100,
        ..Default::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        ApiError::field(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "limit",
                            "must be a whole number from 1 to 1000",
                        )
                    })?
            }
            "offset" => {
                q.offset = v.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::field(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "offset",
                        "must be a whole number from 0",
                    )
                })?
            }
            "q" => q.prefix = Some(v),
            _ => q.filters.push((k, v)),
        }
    }
    let page = st.store.list(res, &q).await?;
    Ok(Json(json!({
        "items": page.items,
        "total": page.total,
        "limit": q.limit,
        "offset": q.offset,
    })))
}

async fn create(
    _caller: Admin,
    State(st): State<AdminState>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let res = resource_named(&resource)?;
    let body = json_body(&headers, body)?;
    let created = st.store.create(res, &body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn read(
    _caller: Admin,
    State(st): State<AdminState>,
    Path((resource, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let res = resource_named(&resource)?;
    Ok(Json(st.store.get(res, &key).await?))
}

async fn update(
    _caller: Admin,
    State(st): State<AdminState>,
    Path((resource, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let res = resource_named(&resource)?;
    let body = json_body(&headers, body)?;
    let updated = st.store.update(res, &key, &body).await?;
    if res.name == "application-users" {
        if let Some(user) = updated["user_id"].as_str() {
            st.accounts.forget(&format!("app:{user}"));
        }
    }
    Ok(Json(updated))
}

async fn remove(
    _caller: Admin,
    State(st): State<AdminState>,
    Path((resource, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let res = resource_named(&resource)?;
    st.store.delete(res, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_parameters(_caller: Admin, State(st): State<AdminState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "items": st.store.parameters().await? })))
}

async fn get_parameter(
    _caller: Admin,
    State(st): State<AdminState>,
    Path((scope, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.store.parameter(&scope, &name).await?))
}

async fn put_parameter(
    _caller: Admin,
    State(st): State<AdminState>,
    Path((scope, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let body = json_body(&headers, body)?;
    let Value::Object(obj) = &body else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected {\"value\": ...}",
        ));
    };
    if let Some(k) = obj.keys().find(|k| *k != "value") {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            k.clone(),
            "unknown field; send {\"value\": ...}",
        ));
    }
    let value = obj
        .get("value")
        .ok_or_else(|| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "value", "is required"))?;
    Ok(Json(st.store.set_parameter(&scope, &name, value).await?))
}

async fn reset_parameter(
    _caller: Admin,
    State(st): State<AdminState>,
    Path((scope, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.store.reset_parameter(&scope, &name).await?))
}

async fn export_csv(
    _caller: Admin,
    State(st): State<AdminState>,
    Path(resource): Path<String>,
) -> ApiResult<Response> {
    let res = resource_named(&resource)?;
    let csv = st.store.export_csv(res).await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

async fn import_csv(
    _caller: Admin,
    State(st): State<AdminState>,
    Path(resource): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let res = resource_named(&resource)?;
    let body = body.map_err(body_rejection)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the CSV file must be UTF-8"))?;
    match st.store.import_csv(res, text, |_, _| {}).await {
        Ok(n) => Ok(Json(json!({ "imported": n }))),
        Err(ImportError::Rows(errors)) => {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{} row error(s); nothing was imported", errors.len()),
            );
            e.details = Some(Box::new(
                serde_json::to_value(&errors).unwrap_or(Value::Null),
            ));
            Err(e)
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}
