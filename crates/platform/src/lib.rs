//! The seam between the node and its applications. The node builds one [`Platform`] (the
//! store, the accounts, CTI, the phones' configuration, where phones are registered and who is
//! logged in to them) and hands it to each entry of its table of applications; each gives back
//! a [`dialtone_web::App`] (its routes per surface, its OpenAPI paths, its tasks). An
//! application therefore depends on the platform crates and never on another application, and
//! adding one touches its own crate and one line of the node's table.
#![forbid(unsafe_code)]

pub mod push;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use dialtone_callcontrol::directory::LoginOverlay;
use dialtone_cti::Cti;
use dialtone_provisioning::{PhoneState, Phones};
use dialtone_store::live::Live;
use dialtone_store::{Store, StoreError};
use dialtone_web::guesses::Guesses;
use dialtone_web::{Accounts, App, Site};

/// What the platform gives an application.
#[derive(Clone)]
pub struct Platform {
    pub store: Store,
    pub accounts: Accounts,
    /// CTI: an application acts on calls only through a session it opens here.
    pub cti: Cti,
    /// The phones' configuration in memory (devices, lines, services, directories).
    pub phones: Arc<Live<Phones>>,
    /// Where phones registered from and who is logged in to them.
    pub phone_state: Arc<dyn PhoneState>,
    /// Extension Mobility's hold on call control's configuration (which device carries which
    /// user's profile); only Extension Mobility writes it.
    pub logins: LoginOverlay,
    pub site: Site,
    pub options: Options,
    /// Wrong end-user passwords per user ID, one budget for every page that takes them (the
    /// phones' Authentication URL, WebDialer's login).
    pub guesses: Arc<Guesses>,
    /// Pushes to phones' `/CGI/Execute`, and the credentials minted for broadcasts.
    pub pusher: Arc<push::Pusher>,
}

/// The node's configuration for phone-facing applications (the `[phones]` section).
#[derive(Debug, Clone)]
pub struct Options {
    /// The port phones' web servers listen on (80 on real phones), for push.
    pub phone_web_port: u16,
    /// Most pushes in flight at once.
    pub push_concurrency: usize,
    pub push_timeout: Duration,
    /// How often Extension Mobility looks for logins past their maximum time.
    pub em_sweep: Duration,
    /// Where pages are sent: the first multicast address, how many, the port, the TTL.
    pub paging: PagingAddresses,
}

/// The multicast addresses pages take, one per page in progress.
#[derive(Debug, Clone, Copy)]
pub struct PagingAddresses {
    pub first: std::net::Ipv4Addr,
    pub count: u32,
    pub port: u16,
    pub ttl: u32,
}

impl Default for PagingAddresses {
    fn default() -> Self {
        PagingAddresses {
            first: std::net::Ipv4Addr::new(239, 192, 20, 1),
            count: 256,
            port: 20480,
            ttl: 1,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            phone_web_port: 80,
            push_concurrency: 64,
            push_timeout: Duration::from_secs(5),
            em_sweep: Duration::from_secs(30),
            paging: PagingAddresses::default(),
        }
    }
}

/// Why an application could not start (the node then stops with this message).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{app}: {source}")]
    Store {
        app: &'static str,
        source: StoreError,
    },
}

/// An application starting: it may read the store first (Extension Mobility loads its logins).
pub type Starting<'a> = Pin<Box<dyn Future<Output = Result<App, StartError>> + Send + 'a>>;

/// One entry of the node's table of applications.
pub type Start = for<'a> fn(&'a Platform) -> Starting<'a>;
