//! What an application hands the node to be served: its routes on each surface, the OpenAPI
//! paths of its API, and the tasks it runs in the background. The node walks one table of
//! applications and serves each one's routers where they belong, so adding an application is
//! its own crate and one line of that table.

use std::future::Future;
use std::pin::Pin;

use axum::Router;

use crate::openapi::Paths;

/// The node's HTTP surfaces, each a router an application adds its routes to.
#[derive(Default)]
pub struct Surfaces {
    /// Pages phones fetch over HTTP (the phone-facing port): services, directories, menus.
    pub phone_http: Router,
    /// The same pages over HTTPS, for phones that use it (links stay on HTTPS).
    pub phone_https: Router,
    /// What carries credentials (APIs, login pages, SOAP): HTTPS only, unless the
    /// administrator allows HTTP (`api.allow_over_http`).
    pub credentials: Router,
    /// Paths under `credentials` that browsers open: over HTTP a GET is sent to HTTPS instead
    /// of refused (`/webdialer`).
    pub browser_prefixes: Vec<&'static str>,
    /// Paths under `credentials` that programs post to on the phone-facing HTTP port, as they
    /// do on Unified CM's 8080 (`/emservice/EMServiceServlet`): over HTTP they are answered
    /// with a refusal naming the HTTPS address, not a bare 404.
    pub https_only_paths: Vec<&'static str>,
    /// The configuration-file port (6970 on Unified CM).
    pub config_port: Router,
}

/// A task an application runs for as long as the node does.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One application, ready to be served.
pub struct App {
    /// The name logs and the status page use.
    pub name: &'static str,
    pub surfaces: Surfaces,
    /// The OpenAPI paths of its routes under `/api/v1`.
    pub openapi: Paths,
    pub tasks: Vec<Task>,
}

impl App {
    pub fn new(name: &'static str) -> App {
        App {
            name,
            surfaces: Surfaces::default(),
            openapi: Paths::new(),
            tasks: Vec::new(),
        }
    }
}
