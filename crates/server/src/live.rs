//! The live state of the node over the administration API: registrations, calls in progress,
//! call detail records, call control's events as Server-Sent Events, how far configuration
//! changes have taken effect, and the SIP
//! password-guessing guard's blocks (listed, and lifted one by one or all at once).

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use dialtone_callcontrol::{Calls, Events, Registrar};
use dialtone_sip::guard::{Blocked, Guard};
use dialtone_web::accounts::Admin;
use dialtone_web::{Accounts, ApiError};
use serde_json::json;

async fn registrations(
    _admin: Admin,
    axum::Extension(registrar): axum::Extension<Arc<Registrar>>,
) -> Json<serde_json::Value> {
    Json(json!({ "items": registrar.bindings() }))
}

async fn live_calls(
    _admin: Admin,
    axum::Extension(calls): axum::Extension<Calls>,
) -> Json<serde_json::Value> {
    Json(json!({ "items": calls.live() }))
}

/// Call control's events as Server-Sent Events, one JSON object each. A watcher that falls
/// behind gets `{"event": "lagged", "missed": N}` and should re-read `/calls` and
/// `/registrations`.
async fn event_stream(
    _admin: Admin,
    axum::Extension(events): axum::Extension<Events>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use tokio::sync::broadcast::error::RecvError;
    let rx = events.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let data = match rx.recv().await {
            Ok(e) => serde_json::to_string(&*e).unwrap_or_default(),
            Err(RecvError::Lagged(n)) => json!({"event": "lagged", "missed": n}).to_string(),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(axum::response::sse::Event::default().data(data)), rx))
    });
    axum::response::sse::Sse::new(stream).keep_alive(axum::response::sse::KeepAlive::default())
}

#[derive(serde::Deserialize)]
struct RecordsQuery {
    limit: Option<u32>,
}

async fn call_records(
    _admin: Admin,
    axum::extract::State(state): axum::extract::State<Accounts>,
    axum::extract::Query(q): axum::extract::Query<RecordsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let items = state.store.call_records(q.limit.unwrap_or(100)).await?;
    Ok(Json(json!({ "items": items })))
}

fn blocked_json(b: &Blocked) -> serde_json::Value {
    match b {
        Blocked::Source {
            address,
            failures,
            until,
        } => {
            json!({"kind": "source", "address": address.to_string(), "failures": failures, "until": until})
        }
        Blocked::User {
            user,
            failures,
            until,
        } => json!({"kind": "user", "user": user, "failures": failures, "until": until}),
    }
}

/// `GET /api/v1/sip/blocks`: the sources and user names the guard refuses now.
async fn blocks(
    _admin: Admin,
    axum::Extension(guard): axum::Extension<Arc<Guard>>,
) -> Json<serde_json::Value> {
    let items: Vec<serde_json::Value> = guard.blocked().iter().map(blocked_json).collect();
    Json(json!({
        "items": items,
        "failures": guard.failures(),
        "blocks": guard.blocks(),
    }))
}

/// `DELETE /api/v1/sip/blocks`: lift every block.
async fn clear_blocks(
    _admin: Admin,
    axum::Extension(guard): axum::Extension<Arc<Guard>>,
) -> StatusCode {
    guard.clear_all();
    tracing::info!("every SIP block lifted by an administrator");
    StatusCode::NO_CONTENT
}

/// `DELETE /api/v1/sip/blocks/sources/{address}`: lift one source's block.
async fn clear_source(
    _admin: Admin,
    axum::Extension(guard): axum::Extension<Arc<Guard>>,
    Path(address): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ip: std::net::IpAddr = address.parse().map_err(|_| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            "address",
            "not an IPv4 or IPv6 address",
        )
    })?;
    if !guard.clear_source(ip) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{ip} is not blocked"),
        ));
    }
    tracing::info!(source = %ip, "SIP source block lifted by an administrator");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/sip/blocks/users/{user}`: lift one user name's lock.
async fn clear_user(
    _admin: Admin,
    axum::Extension(guard): axum::Extension<Arc<Guard>>,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !guard.clear_user(&user) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{user} is not locked"),
        ));
    }
    tracing::info!(user, "SIP user lock lifted by an administrator");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/status/configuration`: committed configuration changes, and the one every
/// snapshot (call control's, the phones') has taken in. Equal: every change is in effect.
async fn configuration_status(
    _admin: Admin,
    axum::extract::State(state): axum::extract::State<Accounts>,
) -> Json<serde_json::Value> {
    Json(json!({
        "changes": state.store.change_count(),
        "applied": state.store.applied(),
    }))
}

/// The live routes, under the HTTPS API.
pub fn router(
    accounts: Accounts,
    registrar: Arc<Registrar>,
    calls: Calls,
    events: Events,
    guard: Arc<Guard>,
) -> Router {
    Router::new()
        .route("/api/v1/registrations", get(registrations))
        .route("/api/v1/calls", get(live_calls))
        .route("/api/v1/call-records", get(call_records))
        .route("/api/v1/events", get(event_stream))
        .route("/api/v1/status/configuration", get(configuration_status))
        .route("/api/v1/sip/blocks", get(blocks).delete(clear_blocks))
        .route("/api/v1/sip/blocks/sources/{address}", delete(clear_source))
        .route("/api/v1/sip/blocks/users/{user}", delete(clear_user))
        .with_state(accounts)
        .layer(axum::Extension(registrar))
        .layer(axum::Extension(calls))
        .layer(axum::Extension(events))
        .layer(axum::Extension(guard))
}
