//! The paging server (the seed's Cisco Paging Server, InformaCast Basic), inside the node:
//! recipient groups administered like everything else (`paging-groups` in the store, REST,
//! CSV, OpenAPI), each answering calls to its DialCast number (a CTI route point this
//! application owns through its CTI session), and pages that tell phones to join a multicast
//! group by push (`RTPMRx:`), relay the caller's voice and tell them to leave (`page`). No
//! 50-phone limit, and any number of pages at once, each on its own address.
#![forbid(unsafe_code)]

pub mod addresses;
pub mod groups;
pub mod page;
pub mod record;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
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
    pub records: record::Records,
    /// The address media is sent from and received at (the node's public host).
    pub media_ip: IpAddr,
    /// Pushes in flight at once, across every page.
    pub push_bound: tokio::sync::Semaphore,
    accounts: Accounts,
}

async fn load_groups(store: Store) -> Result<Vec<Group>, StoreError> {
    let res = resource("paging-groups").expect("the catalogue has paging groups");
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
    Ok(page.items.iter().filter_map(Group::from_record).collect())
}

/// The paging server as the node runs it.
pub fn app(p: &Platform) -> Starting<'_> {
    Box::pin(async move {
        let mut session = p.cti.trusted("paging");
        let (tx, requests) = mpsc::channel(1024);
        session.accept_route_requests(tx);
        let session = Arc::new(session);
        // The groups' DialCast numbers are taken as each snapshot is swapped in, so once the
        // node says a change is applied, calls to a new group's number are answered.
        let owned = Arc::new(Mutex::new(HashSet::new()));
        let (s, o) = (session.clone(), owned.clone());
        let groups = Live::follow(&p.store, load_groups, move |_, new| {
            take_numbers(&s, &o, new)
        })
        .await
        .map_err(|source| dialtone_platform::StartError::Store {
            app: "paging",
            source,
        })?;
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
            records: record::Records::default(),
            media_ip,
            push_bound: tokio::sync::Semaphore::new(p.options.push_concurrency.max(1)),
            accounts: p.accounts.clone(),
        });
        let mut app = App::new("paging");
        app.surfaces.credentials = Router::new()
            .route("/api/v1/paging/pages", get(pages))
            .with_state(paging.clone());
        app.openapi = openapi();
        app.tasks
            .push(Box::pin(serve(paging, session, groups, requests)));
        Ok(app)
    })
}

/// Take the route point of every group's DialCast number not taken yet.
fn take_numbers(session: &CtiSession, owned: &Mutex<HashSet<String>>, groups: &[Group]) {
    let mut owned = owned.lock().expect("owned numbers");
    for g in groups {
        if owned.contains(&g.dialcast_number) {
            continue;
        }
        match session.register_route_point(&g.dialcast_number) {
            Ok(()) => {
                owned.insert(g.dialcast_number.clone());
            }
            Err(e) => {
                tracing::warn!(group = %g.name, number = %g.dialcast_number, error = %e, "DialCast number not taken")
            }
        }
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

/// `GET /api/v1/paging/pages`: pages in progress and the record of ended ones.
async fn pages(
    State(paging): State<Arc<Paging>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = paging.accounts.authenticate(&headers).await?;
    if !caller.has_role(ADMIN_ROLE) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is not an administrator", caller.user_id),
        ));
    }
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
    paths
}
