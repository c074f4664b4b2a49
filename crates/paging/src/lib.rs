//! The paging server (the seed's Cisco Paging Server, InformaCast Basic), inside the node:
//! recipient groups administered like everything else (`paging-groups` in the store, REST,
//! CSV, OpenAPI), each answering calls to its DialCast number (a CTI route point this
//! application owns through its CTI session), and pages that tell phones to join a multicast
//! group by push (`RTPMRx:`), relay the caller's voice and tell them to leave (`page`). No
//! 50-phone limit, and any number of pages at once, each on its own address.
#![forbid(unsafe_code)]

pub mod addresses;
pub mod audience;
pub mod broadcast;
pub mod groups;
pub mod page;
pub mod record;
pub mod schedule;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use dialtone_callcontrol::Event;
use dialtone_cti::{CtiSession, RouteAction};
use dialtone_media::pacer::{Config as PacerConfig, Pacer};
use dialtone_platform::push::Pusher;
use dialtone_platform::{Platform, Starting};
use dialtone_provisioning::{PhoneState, Phones};
use dialtone_store::catalogue::{resource, ADMIN_ROLE};
use dialtone_store::live::Live;
use dialtone_store::records::ListQuery;
use dialtone_store::{Store, StoreError};
use dialtone_web::openapi::{error_responses, with, Paths};
use dialtone_web::{Accounts, ApiError, App};
use serde_json::json;
use tokio::sync::mpsc;

use crate::groups::Group;

/// What every page shares.
pub struct Paging {
    pub pusher: Arc<Pusher>,
    pub phones: Arc<Live<Phones>>,
    pub phone_state: Arc<dyn PhoneState>,
    pub pacer: Pacer,
    pub addresses: addresses::Addresses,
    /// The sites whose pages take addresses of their own ranges.
    pub sites: Arc<Live<Vec<addresses::Site>>>,
    pub records: record::Records,
    /// The address media is sent from and received at (the node's public host).
    pub media_ip: IpAddr,
    /// Pushes in flight at once, across every page.
    pub push_bound: tokio::sync::Semaphore,
    accounts: Accounts,
}

/// Every record of one of the paging resources, as `from_record` reads it.
async fn load<T>(
    store: Store,
    name: &str,
    from_record: fn(&serde_json::Value) -> Option<T>,
) -> Result<Vec<T>, StoreError> {
    let res = resource(name).expect("the catalogue has the paging resources");
    let page = store
        .list(
            res,
            &ListQuery {
                filters: vec![],
                prefix: None,
                limit: 100_000,
                offset: 0,
            },
        )
        .await?;
    Ok(page.items.iter().filter_map(from_record).collect())
}

/// The paging server as the node runs it.
pub fn app(p: &Platform) -> Starting<'_> {
    Box::pin(async move {
        let mut session = p.cti.trusted("paging");
        let (tx, requests) = mpsc::channel(1024);
        session.accept_route_requests(tx);
        let session = Arc::new(session);
        // The groups' DialCast numbers are taken as each snapshot is swapped in. A new group's
        // route point may reach call control's directory just after the group reaches us (the
        // snapshots follow the store each on its own), so a number not taken yet is tried
        // again by the keeper until it is, for a bounded time.
        let owned = Arc::new(Mutex::new(HashSet::new()));
        let changed = Arc::new(tokio::sync::Notify::new());
        let notify = changed.clone();
        let store_failed = |source| dialtone_platform::StartError::Store {
            app: "paging",
            source,
        };
        let groups = Live::follow(
            &p.store,
            |s| load(s, "paging-groups", Group::from_record),
            move |_, _| notify.notify_one(),
        )
        .await
        .map_err(store_failed)?;
        let sites = Live::follow(
            &p.store,
            |s| load(s, "paging-sites", addresses::Site::from_record),
            |_, _| {},
        )
        .await
        .map_err(store_failed)?;
        let schedules_changed = Arc::new(tokio::sync::Notify::new());
        let notify = schedules_changed.clone();
        let schedules = Live::follow(
            &p.store,
            |s| load(s, "paging-schedules", schedule::Schedule::from_record),
            move |_, _| notify.notify_one(),
        )
        .await
        .map_err(store_failed)?;
        take_numbers(&session, &owned, &groups.get());
        let media_ip: IpAddr = p
            .site
            .public_host
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let paging = Arc::new(Paging {
            pusher: p.pusher.clone(),
            phones: p.phones.clone(),
            phone_state: p.phone_state.clone(),
            pacer: Pacer::start(PacerConfig::default()),
            addresses: addresses::Addresses::new(p.options.paging),
            sites,
            records: record::Records::default(),
            media_ip,
            push_bound: tokio::sync::Semaphore::new(p.options.push_concurrency.max(1)),
            accounts: p.accounts.clone(),
        });
        let mut app = App::new("paging");
        let http = Arc::new(Http {
            paging: paging.clone(),
            groups: groups.clone(),
            session: session.clone(),
        });
        app.surfaces.credentials = Router::new()
            .route("/api/v1/paging/pages", get(pages))
            .route("/api/v1/paging/broadcasts", post(broadcast::post))
            .with_state(http.clone());
        app.tasks
            .push(Box::pin(schedule::keep(http, schedules, schedules_changed)));
        app.openapi = openapi();
        app.tasks.push(Box::pin(keep_numbers(
            session.clone(),
            owned,
            groups.clone(),
            changed,
        )));
        app.tasks
            .push(Box::pin(serve(paging, session, groups, requests)));
        Ok(app)
    })
}

/// How often, and how many times, a DialCast number not taken yet is tried again after a
/// change to the groups.
const RETAKE_EVERY: Duration = Duration::from_millis(50);
const RETAKES: u32 = 600;

/// Take the route point of every group's DialCast number not taken yet: the numbers that
/// could not be taken, with why.
fn take_numbers(
    session: &CtiSession,
    owned: &Mutex<HashSet<String>>,
    groups: &[Group],
) -> Vec<(String, String)> {
    let mut owned = owned.lock().expect("owned numbers");
    let mut untaken = Vec::new();
    for g in groups {
        if owned.contains(&g.dialcast_number) {
            continue;
        }
        match session.register_route_point(&g.dialcast_number) {
            Ok(()) => {
                owned.insert(g.dialcast_number.clone());
            }
            Err(e) => untaken.push((g.name.clone(), format!("{}: {e}", g.dialcast_number))),
        }
    }
    untaken
}

/// After each change to the groups, take their new DialCast numbers, trying again while some
/// cannot be taken yet (at most `RETAKES` times; then each is logged and left until the next
/// change).
async fn keep_numbers(
    session: Arc<CtiSession>,
    owned: Arc<Mutex<HashSet<String>>>,
    groups: Arc<Live<Vec<Group>>>,
    changed: Arc<tokio::sync::Notify>,
) {
    loop {
        let mut untaken = take_numbers(&session, &owned, &groups.get());
        let mut tries = 0;
        while !untaken.is_empty() && tries < RETAKES {
            tokio::select! {
                _ = changed.notified() => tries = 0,
                _ = tokio::time::sleep(RETAKE_EVERY) => tries += 1,
            }
            untaken = take_numbers(&session, &owned, &groups.get());
        }
        for (group, why) in untaken {
            tracing::warn!(%group, %why, "DialCast number not taken");
        }
        changed.notified().await;
    }
}

/// Page for each call to a group's DialCast number; a call to a number whose group is gone
/// is refused.
async fn serve(
    paging: Arc<Paging>,
    session: Arc<CtiSession>,
    groups: Arc<Live<Vec<Group>>>,
    mut requests: mpsc::Receiver<Arc<Event>>,
) {
    while let Some(request) = requests.recv().await {
        let Event::RouteRequest {
            call,
            request,
            route_point,
            calling,
            ..
        } = &*request
        else {
            continue;
        };
        let group = groups
            .get()
            .iter()
            .find(|g| g.dialcast_number == *route_point)
            .cloned();
        let detached = session.detached();
        match group {
            Some(group) => {
                tokio::spawn(page::run(
                    paging.clone(),
                    detached,
                    *call,
                    *request,
                    calling.clone(),
                    group,
                ));
            }
            None => {
                let (call, request) = (*call, *request);
                tokio::spawn(async move {
                    let _ = detached.route(call, request, RouteAction::Reject).await;
                });
            }
        }
    }
}

/// The administrator making a request (the paging API is theirs alone): their user id.
pub(crate) async fn administrator(
    paging: &Paging,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let caller = paging.accounts.authenticate(headers).await?;
    if !caller.has_role(ADMIN_ROLE) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is not an administrator", caller.user_id),
        ));
    }
    Ok(caller.user_id)
}

/// What the paging API's handlers reach.
pub struct Http {
    pub paging: Arc<Paging>,
    pub groups: Arc<Live<Vec<Group>>>,
    pub session: Arc<CtiSession>,
}

/// `GET /api/v1/paging/pages`: pages in progress and the record of ended ones.
async fn pages(
    State(http): State<Arc<Http>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let paging = &http.paging;
    administrator(paging, &headers).await?;
    let (active, ended) = paging.records.snapshot();
    Ok(Json(json!({ "active": active, "ended": ended })))
}

fn openapi() -> Paths {
    let mut paths = Paths::new();
    paths.insert(
        "/api/v1/paging/pages".into(),
        json!({"get": {"tags": ["paging"], "operationId": "listPages",
            "summary": "Pages in progress and the record of ended pages (newest first, the last 1000): who paged which group, the address, each phone's outcome",
            "responses": with(error_responses(&["401", "403"]), "200", json!({"description": "Pages",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "active": {"type": "array", "items": {"type": "object"}},
                    "ended": {"type": "array", "items": {"type": "object"}}}}}}}))}}),
    );
    paths.insert(
        "/api/v1/paging/broadcasts".into(),
        json!({"post": {"tags": ["paging"], "operationId": "sendBroadcast",
            "summary": "Page one or more groups now with a tone or a recording (a bell, an announcement): the phones are told to join, hear the preamble and the recording, and are told to leave when it has played. 202 with the page's id; its progress and record are in /api/v1/paging/pages",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["groups"], "additionalProperties": false,
                "properties": {
                    "groups": {"type": "array", "minItems": 1, "maxItems": broadcast::MAX_GROUPS, "items": {"type": "string"}, "description": "Recipient groups by name; a phone in several is paged once"},
                    "tone": {"type": "string", "description": "A tone: dial, ringback, busy, reorder, stall, go-ahead or code-prompt (one cadence cycle per repeat)"},
                    "wav": {"type": "string", "format": "byte", "description": "A WAV file (PCM or float, any rate), base64; at most 600 s (and api.max_body_bytes)"},
                    "repeat": {"type": "integer", "minimum": 1, "maximum": broadcast::MAX_REPEAT, "default": 1},
                    "preamble": {"type": "boolean", "default": true, "description": "The go-ahead beeps before the recording"}}}}}},
            "responses": with(error_responses(&["400", "401", "403", "404", "409", "422"]), "202", json!({"description": "The page is under way",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "phones": {"type": "integer", "description": "Phones being told to join"},
                    "seconds": {"type": "number", "description": "How long the recording plays, preamble aside"}}}}}}))}}),
    );
    paths
}
