//! Wiring a node: store, accounts, listeners, shutdown; and the CLI's store commands.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use dialtone_admin::{AdminState, ApiSettings};
use dialtone_callcontrol::registrar::Policy;
use dialtone_callcontrol::{CallConfig, Calls, Events, Registrar};
use dialtone_platform::{Platform, Start};
use dialtone_sip::endpoint::{Listen, Timers, Transport};
use dialtone_sip::guard::Guard;
use dialtone_store::catalogue::{self, ADMIN_ROLE};
use dialtone_store::secrets::{random_password, CredentialCache};
use dialtone_store::Store;
use dialtone_web::guesses::Guesses;
use dialtone_web::openapi::Paths;
use dialtone_web::{Accounts, App, Site};
use serde_json::json;

use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::{demo, tls};

pub(crate) fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests in one process) is harmless; ignore it.
    let _ = if config.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub(crate) async fn open_store(config: &Config) -> Result<Store> {
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating {}", config.server.data_dir.display()))?;
    let url = config.database_url();
    Store::open(&url, &config.server.sip_realm)
        .await
        .with_context(|| format!("opening the database {url}"))
}

/// Create the administrator at first start. Returns the password when it was generated.
async fn ensure_admin(store: &Store, config: &Config) -> Result<Option<String>> {
    if store.count_with_role(ADMIN_ROLE).await? > 0 {
        return Ok(None);
    }
    let generated = config.admin.initial_password.is_empty();
    let password = if generated {
        random_password()
    } else {
        config.admin.initial_password.clone()
    };
    let res = catalogue::resource("application-users").expect("catalogued");
    store
        .create(
            res,
            &json!({
                "user_id": config.admin.user_id,
                "description": "Administrator created at first start",
                "password": password,
                "roles": [ADMIN_ROLE, "Standard AXL API Access", "Standard EM Authentication Proxy Rights",
                          "Standard CTI Enabled", "Standard CTI Allow Control of All Devices",
                          "Standard WebDialer Proxy Rights", "Standard Phone Push Rights"],
            }),
        )
        .await
        .context("creating the administrator account")?;
    Ok(generated.then_some(password))
}

fn bind(config: &Config, port: u16, what: &str) -> Result<TcpListener> {
    let addr: SocketAddr = format!("{}:{port}", config.listen.address)
        .parse()
        .with_context(|| format!("listen.address for {what}"))?;
    let l = TcpListener::bind(addr).with_context(|| format!("binding {what} on {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The TFTP socket, or why there is none (port 69 needs privileges a developer's shell lacks;
/// the node then serves configuration files over HTTP only).
async fn bind_tftp(config: &Config) -> std::result::Result<tokio::net::UdpSocket, String> {
    let addr = format!("{}:{}", config.listen.address, config.listen.tftp_port);
    tokio::net::UdpSocket::bind(&addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(
                "binding UDP {addr} needs privileges (run as root, grant CAP_NET_BIND_SERVICE, or set listen.tftp_port)"
            )
        } else {
            format!("binding UDP {addr}: {e}")
        }
    })
}

/// Where phones are and who is logged in to them, for the phone applications: call control's
/// registrations and the Extension Mobility logins its snapshot carries.
struct RegisteredPhones(Arc<Registrar>, Arc<dialtone_callcontrol::Directory>);

impl dialtone_provisioning::PhoneState for RegisteredPhones {
    fn login_of(&self, device: &str) -> Option<(String, String)> {
        self.1
            .get()
            .login(device)
            .map(|s| (s.user.clone(), s.profile.clone()))
    }

    fn devices_of(&self, user: &str) -> Vec<String> {
        self.1.get().devices_of(user)
    }

    fn address_of(&self, device: &str) -> Option<std::net::IpAddr> {
        self.0
            .device_bindings(device)
            .first()
            .and_then(|b| b.source.parse::<SocketAddr>().ok())
            .map(|a| a.ip())
    }

    fn device_at(&self, ip: std::net::IpAddr) -> Option<String> {
        self.0
            .bindings()
            .into_iter()
            .find(|b| b.source.parse::<SocketAddr>().is_ok_and(|a| a.ip() == ip))
            .map(|b| b.device)
    }
}

/// The applications, each its own crate standing on the platform: adding one is a line here.
const APPLICATIONS: &[Start] = &[
    dialtone_services::app,
    dialtone_mobility::app,
    dialtone_webdialer::app,
    dialtone_paging::app,
];

async fn health() -> &'static str {
    "ok"
}

async fn ready(State(store): State<Store>) -> impl IntoResponse {
    if store.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unreachable")
    }
}

/// WebDialer's pages on HTTP: the browser is sent to the same page over HTTPS (a GET; anything
/// else is refused, since it may already have carried a password in the clear).
async fn to_https(
    State(base): State<Arc<String>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        (
            StatusCode::PERMANENT_REDIRECT,
            [(axum::http::header::LOCATION, format!("{base}{path}"))],
        )
            .into_response()
    } else {
        https_only(State(base), uri).await.into_response()
    }
}

/// A credential-carrying request over plain HTTP: refused, naming where it is answered.
async fn https_only(State(origin): State<Arc<String>>, uri: axum::http::Uri) -> impl IntoResponse {
    (
        StatusCode::FORBIDDEN,
        Json(json!({
            "error": format!("this API carries credentials and answers over HTTPS only: {origin}{}; an administrator can set api.allow_over_http = true", uri.path()),
        })),
    )
}

/// SIP over WebSocket (RFC 7118) at /sip: the upgrade answers the `sip` subprotocol and the
/// connection is handed to the SIP endpoint, one SIP message per WebSocket message.
async fn sip_websocket(
    ws: axum::extract::ws::WebSocketUpgrade,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<SocketAddr>,
    State((endpoint, secure)): State<(dialtone_sip::endpoint::Endpoint, bool)>,
) -> axum::response::Response {
    use axum::extract::ws::Message;
    use futures_util::{SinkExt, StreamExt};
    ws.protocols(["sip"]).on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let mut link = endpoint.websocket(addr, secure);
        let writer = tokio::spawn(async move {
            while let Some(out) = link.outbound.recv().await {
                let text = String::from_utf8_lossy(&out).into_owned();
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(msg)) = stream.next().await {
            let data = match msg {
                Message::Text(t) => bytes::Bytes::from(t.as_str().to_owned()),
                Message::Binary(b) => b,
                Message::Close(_) => break,
                _ => continue,
            };
            if link.inbound.send(data).await.is_err() {
                break;
            }
        }
        writer.abort();
    })
}

/// The platform's own routes on the listeners, beside the applications'.
struct PlatformRoutes {
    /// `/health`, `/ready`, `/metrics` and the configuration files: on both listeners.
    phone_facing: Router,
    /// The administration API, the live state and CTI's transports: credential-carrying.
    api: Router,
    endpoint: dialtone_sip::endpoint::Endpoint,
}

/// The routers for the HTTP and HTTPS listeners: the platform's routes and each
/// application's, on the surfaces it asked for.
fn routers(
    config: &Config,
    https_base: &str,
    metrics: Arc<Metrics>,
    platform: PlatformRoutes,
    apps: Vec<App>,
) -> (Router, Router) {
    let mut phone_http = platform.phone_facing.clone();
    let mut phone_https = platform.phone_facing;
    let mut credentials = platform.api;
    let mut browser_prefixes = Vec::new();
    let mut https_only_paths = Vec::new();
    for app in apps {
        let s = app.surfaces;
        phone_http = phone_http.merge(s.phone_http);
        phone_https = phone_https.merge(s.phone_https);
        credentials = credentials.merge(s.credentials);
        browser_prefixes.extend(s.browser_prefixes);
        https_only_paths.extend(s.https_only_paths);
    }
    // What a handler leaves unread of a body (a refused one) is read on, to four times the
    // largest body accepted and 8 MiB at least, within 10 s, so the client sees the 413
    // rather than a reset connection.
    let drain = dialtone_web::body::Drain {
        bytes: (config.api.max_body_bytes as usize)
            .saturating_mul(4)
            .max(8 << 20),
        within: Duration::from_secs(10),
    };
    let finish = |r: Router| {
        r.layer(DefaultBodyLimit::max(config.api.max_body_bytes as usize))
            .layer(axum::middleware::from_fn_with_state(
                drain,
                dialtone_web::body::drain_unread,
            ))
            .layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                metrics::track,
            ))
    };
    let ws = |secure: bool| {
        Router::new()
            .route("/sip", get(sip_websocket))
            .with_state((platform.endpoint.clone(), secure))
    };
    let https = finish(phone_https.merge(credentials.clone()).merge(ws(true)));
    let phone_http = phone_http.merge(ws(false));
    let http = if config.api.allow_over_http {
        finish(phone_http.merge(credentials))
    } else {
        // What carries credentials is refused over HTTP; a browser's page is sent to HTTPS.
        let origin = Arc::new(https_base.trim_end_matches("/api/v1").to_string());
        let refuse = any(https_only).with_state(origin.clone());
        let to_https = any(to_https).with_state(origin);
        let mut http = phone_http
            .route("/api", refuse.clone())
            .route("/api/{*rest}", refuse.clone());
        for path in https_only_paths {
            http = http.route(path, refuse.clone());
        }
        for prefix in browser_prefixes {
            http = http
                .route(prefix, to_https.clone())
                .route(&format!("{prefix}/{{*rest}}"), to_https.clone());
        }
        finish(http)
    };
    (http, https)
}

/// Install the SIGTERM/SIGINT handlers now and wait for either later. Installed before the
/// node says it listens, so a signal sent right after that line is never the default (fatal)
/// one.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

pub async fn serve(config: Config, with_demo: bool) -> Result<()> {
    init_logging(&config);
    let shutdown = shutdown_signal()?;
    let store = open_store(&config).await?;
    let http_listener = bind(&config, config.listen.http_port, "HTTP")?;
    let https_listener = bind(&config, config.listen.https_port, "HTTPS")?;
    let config_listener = bind(
        &config,
        config.listen.config_http_port,
        "configuration HTTP",
    )?;
    let http_addr = http_listener.local_addr()?;
    let https_addr = https_listener.local_addr()?;
    let config_addr = config_listener.local_addr()?;
    let tftp = bind_tftp(&config).await;
    let tftp_addr = tftp.as_ref().ok().and_then(|s| s.local_addr().ok());
    let first_start = store.count_with_role(ADMIN_ROLE).await? == 0;
    let admin_password = ensure_admin(&store, &config).await?;
    if first_start {
        for service in dialtone_services::default_services() {
            store
                .create(
                    catalogue::resource("ip-phone-services").expect("catalogued"),
                    &service,
                )
                .await
                .context("creating the default IP phone services")?;
        }
    }
    let demo_credentials = if with_demo {
        demo::load(&store, &config).await?
    } else {
        None
    };

    let (cert, key) = tls::certificate_files(&config)?;
    let tls_config = tls::server_config(&cert, &key)?;

    // SIP: the endpoint on the configured ports, the registrar behind it.
    let sip_addr = |port: u16| -> Result<SocketAddr> {
        format!("{}:{port}", config.listen.address)
            .parse()
            .context("listen.address for SIP")
    };
    let t1 = Duration::from_millis(config.sip.t1_ms);
    let (endpoint, sip_incoming) = dialtone_sip::endpoint::Endpoint::bind_with(
        Listen {
            udp: Some(sip_addr(config.listen.sip_udp_port)?),
            tcp: Some(sip_addr(config.listen.sip_tcp_port)?),
            tls: Some((sip_addr(config.listen.sip_tls_port)?, tls_config.clone())),
            tls_client: None,
        },
        dialtone_sip::endpoint::Config {
            timers: Timers {
                t1,
                t2: Duration::from_millis(config.sip.t2_ms),
                t4: Duration::from_millis(config.sip.t4_ms),
                d: (t1 * 64).max(Duration::from_millis(config.sip.t4_ms)),
                c: Duration::from_millis(config.sip.timer_c_ms),
            },
            udp_buffer: config.sip.udp_buffer_bytes as usize,
            ..Default::default()
        },
    )
    .await
    .context("binding the SIP listeners")?;
    let events = Events::new(
        config.api.event_buffer as usize,
        config.api.cti_deliveries_per_second,
    );
    let directory = dialtone_callcontrol::Directory::load(&store, events.clone())
        .await
        .map_err(|e| anyhow::anyhow!("loading the call-control snapshot: {e}"))?;
    let guard = Arc::new(Guard::new(config.guard()));
    let registrar = Arc::new(Registrar::new(
        directory.clone(),
        events.clone(),
        &config.server.sip_realm,
        &config.digest_algorithms(),
        Policy {
            default_expires: config.sip.register_default_expires,
            min_expires: config.sip.register_min_expires,
            max_expires: config.sip.register_max_expires,
        },
        guard.clone(),
    ));
    // Call detail records are written by one task, in order; a call's end never waits on it.
    let (records_tx, mut records_rx) = tokio::sync::mpsc::channel(10_000);
    let record_store = store.clone();
    tokio::spawn(async move {
        // Whatever has queued up is written in one transaction: one disk sync per batch.
        let mut batch = Vec::with_capacity(512);
        while records_rx.recv_many(&mut batch, 512).await > 0 {
            if let Err(e) = record_store.record_calls(&batch).await {
                tracing::error!(error = %e, calls = batch.len(), "call detail records not written");
            }
            batch.clear();
        }
    });
    let calls = Calls::new(
        endpoint.clone(),
        directory.clone(),
        registrar.clone(),
        (
            dialtone_sip::digest::Authenticator::new(
                &config.server.sip_realm,
                Duration::from_secs(300),
            )
            .offering(&config.digest_algorithms()),
            guard.clone(),
        ),
        CallConfig {
            host: config.server.public_host.clone(),
            max_forward_hops: config.sip.forward_max_hops as usize,
            max_ringing: Duration::from_secs(config.sip.max_ringing_seconds as u64),
            trunk_failover: Duration::from_millis(config.sip.trunk_failover_ms),
            session_expires: config.sip.session_expires,
            min_session_expires: config.sip.min_session_expires,
            max_duration: Duration::from_secs(config.sip.max_call_seconds as u64),
            transaction_timeout: 64 * t1,
            code_digit_timeout: Duration::from_millis(config.sip.code_digit_timeout_ms),
            reorder_time: Duration::from_millis(config.sip.reorder_ms),
        },
        records_tx,
        events.clone(),
    );
    let media_ip: std::net::IpAddr = config
        .server
        .public_host
        .parse()
        .or_else(|_| config.listen.address.parse())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let hold_audio = crate::hold_music::Audio::from_config(&config.phones.hold_music)
        .map_err(|e| anyhow::anyhow!("phones.hold_music: {e}"))?;
    // Music on hold and the tones of calls the node answers share one paced sender.
    let call_media = Arc::new(dialtone_media::pacer::Pacer::start(Default::default()));
    let music = crate::hold_music::NodeMusic::start(call_media.clone(), media_ip, hold_audio)
        .context("a socket for music on hold")?;
    calls.play_hold_music(Arc::new(music));
    calls.play_code_prompts(Arc::new(crate::prompts::NodePrompts::new(
        call_media, media_ip,
    )));
    tokio::spawn(dialtone_callcontrol::serve(
        sip_incoming,
        registrar.clone(),
        calls.clone(),
    ));

    let accounts = Accounts::new(
        store.clone(),
        Arc::new(CredentialCache::new(
            Duration::from_secs(config.api.credential_cache_seconds),
            100_000,
        )),
    );
    let site = Site {
        public_host: config.server.public_host.clone(),
        http_port: http_addr.port(),
        https_port: https_addr.port(),
        sip_port: endpoint
            .local_addr(Transport::Tcp)
            .map_or(config.listen.sip_tcp_port, |a| a.port()),
        sips_port: endpoint
            .local_addr(Transport::Tls)
            .map_or(config.listen.sip_tls_port, |a| a.port()),
        node_name: config.server.node_name.clone(),
    };
    let cti = dialtone_cti::Cti::new(calls.clone(), events.clone(), store.clone());
    let phones = dialtone_provisioning::Phones::follow(&store)
        .await
        .context("loading the phones' configuration")?;
    let phone_state: Arc<dyn dialtone_provisioning::PhoneState> =
        Arc::new(RegisteredPhones(registrar.clone(), directory.clone()));
    let provisioner = Arc::new(dialtone_provisioning::Provisioner::new(
        phones.clone(),
        site.clone(),
        phone_state.clone(),
    ));
    let options = dialtone_platform::Options {
        phone_web_port: config.phones.web_port,
        push_concurrency: config.phones.push_concurrency as usize,
        push_timeout: Duration::from_millis(config.phones.push_timeout_ms),
        em_sweep: Duration::from_millis(config.phones.em_sweep_ms),
        paging: dialtone_platform::PagingAddresses {
            first: config
                .phones
                .paging_multicast_first
                .parse()
                .unwrap_or(std::net::Ipv4Addr::new(239, 192, 20, 1)),
            count: config.phones.paging_multicast_addresses,
            port: config.phones.paging_port,
            ttl: config.phones.paging_ttl,
        },
    };
    let pusher = Arc::new(dialtone_platform::push::Pusher::new(
        phones.clone(),
        phone_state.clone(),
        options.clone(),
    ));
    let platform = Platform {
        store: store.clone(),
        accounts: accounts.clone(),
        cti: cti.clone(),
        phones,
        phone_state,
        logins: directory.login_overlay(),
        site,
        options,
        guesses: Arc::new(Guesses::new(config.phones.auth_failures_per_minute)),
        pusher,
    };
    let mut apps = Vec::with_capacity(APPLICATIONS.len());
    for start in APPLICATIONS {
        let mut app = start(&platform).await?;
        for task in app.tasks.drain(..) {
            tokio::spawn(task);
        }
        apps.push(app);
    }
    let https_api_base = format!(
        "https://{}:{}/api/v1",
        config.server.public_host,
        https_addr.port()
    );
    let mut surfaces: Vec<Paths> = apps.iter().map(|a| a.openapi.clone()).collect();
    surfaces.push(crate::cti::openapi());
    let admin_state = AdminState {
        store: store.clone(),
        accounts: accounts.clone(),
        settings: Arc::new(ApiSettings {
            token_lifetime: Duration::from_secs(config.api.token_lifetime_minutes * 60),
            max_import_bytes: config.api.max_import_bytes as usize,
            public_base_url: https_api_base.clone(),
        }),
        surfaces: Arc::new(surfaces),
    };
    let mut metrics = Metrics::new();
    // What the node holds right now: the soak benchmark and operators watch these return to
    // their idle values once peers vanish (everything ends by a bound).
    let runtime = tokio::runtime::Handle::current();
    metrics.probe("tasks", "Tasks alive in the node's runtime", move || {
        runtime.metrics().num_alive_tasks() as i64
    });
    let ep = endpoint.clone();
    metrics.probe(
        "sip_server_transactions",
        "SIP transactions held: server transactions running, and entries (server or accepted client) absorbing retransmissions until their timers",
        move || ep.transactions() as i64,
    );
    let ep = endpoint.clone();
    metrics.probe(
        "sip_client_transactions",
        "SIP client transactions running",
        move || ep.client_transactions() as i64,
    );
    let live_calls = calls.clone();
    metrics.probe("calls", "Calls in progress", move || {
        live_calls.live().len() as i64
    });
    let g = guard.clone();
    metrics.probe(
        "sip_auth_failures",
        "Failed SIP digest checks since start (REGISTER and INVITE)",
        move || g.failures() as i64,
    );
    let g = guard.clone();
    metrics.probe(
        "sip_blocked",
        "Source addresses and user names the password-guessing guard refuses now",
        move || g.blocked().len() as i64,
    );
    let platform_routes = PlatformRoutes {
        phone_facing: Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready).with_state(store.clone()))
            .route("/metrics", get(metrics::render).with_state(metrics.clone()))
            .merge(dialtone_provisioning::router(provisioner.clone())),
        api: dialtone_admin::router(admin_state)
            .merge(crate::live::router(
                accounts.clone(),
                registrar,
                calls,
                events,
                guard,
            ))
            .merge(crate::cti::router(crate::cti::CtiState {
                accounts,
                cti,
                keepalive: Duration::from_secs(config.api.cti_keepalive_seconds.max(1)),
                max_message: (config.api.max_import_bytes as usize).clamp(64 * 1024, 4 << 20),
            })),
        endpoint: endpoint.clone(),
    };
    let (http_router, https_router) = routers(
        &config,
        &https_api_base,
        metrics.clone(),
        platform_routes,
        apps,
    );
    let tftp_note = match tftp {
        Ok(socket) => {
            tokio::spawn(dialtone_provisioning::tftp::serve(
                socket,
                provisioner.clone(),
                dialtone_provisioning::tftp::TftpTimers {
                    retransmit: Duration::from_millis(config.phones.tftp_retransmit_ms),
                    attempts: config.phones.tftp_attempts,
                    ..Default::default()
                },
            ));
            None
        }
        Err(e) => Some(e),
    };

    let handle = axum_server::Handle::new();
    let http_server = axum_server::from_tcp(http_listener)
        .handle(handle.clone())
        .serve(http_router.into_make_service_with_connect_info::<SocketAddr>());
    let https_server = axum_server::from_tcp_rustls(
        https_listener,
        axum_server::tls_rustls::RustlsConfig::from_config(tls_config),
    )
    .handle(handle.clone())
    .serve(https_router.into_make_service_with_connect_info::<SocketAddr>());
    let config_server = axum_server::from_tcp(config_listener)
        .handle(handle.clone())
        .serve(
            dialtone_provisioning::router(provisioner)
                .layer(axum::middleware::from_fn_with_state(
                    metrics,
                    metrics::track,
                ))
                .into_make_service(),
        );

    // The credentials file is complete before the listening line, which tells readers that
    // everything the node prepared at start-up is in place.
    let demo_credentials = match demo_credentials {
        Some(text) => {
            let path = config.server.data_dir.join("demo-credentials");
            let mut text = text.clone();
            if let Some(pw) = &admin_password {
                text.push_str(&format!(
                    "administrator {}  password {pw}\n",
                    config.admin.user_id
                ));
            }
            tls::write_private(&path, text.as_bytes())?;
            Some((path, text))
        }
        None => None,
    };

    // One machine-readable line first: tests and scripts read the bound ports from it.
    let sip = |t| {
        endpoint
            .local_addr(t)
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    say!(
        "dialtone: listening http={http_addr} https={https_addr} sip_udp={} sip_tcp={} sip_tls={} config_http={config_addr} tftp={}",
        sip(Transport::Udp),
        sip(Transport::Tcp),
        sip(Transport::Tls),
        tftp_addr.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
    );
    let port_of = |t| endpoint.local_addr(t).map(|a| a.port()).unwrap_or(0);
    print_banner(
        &config,
        http_addr,
        https_addr,
        config_addr,
        (port_of(Transport::Udp), port_of(Transport::Tls)),
        admin_password.as_deref(),
        &tls::fingerprint(&cert).unwrap_or_else(|e| format!("unknown ({e})")),
    );
    if let Some((path, text)) = &demo_credentials {
        say!(
            "\nDemo company loaded. Its credentials (also in {}):\n",
            path.display()
        );
        say!("{}", text.trim_end());
    }

    if let Some(why) = &tftp_note {
        say!("\nTFTP not served: {why}. Phones can fetch their configuration files over HTTP on port {} (and {}).", config_addr.port(), http_addr.port());
    }
    let mut servers =
        tokio::spawn(async move { tokio::try_join!(http_server, https_server, config_server) });
    let finished = tokio::select! {
        _ = shutdown => {
            tracing::info!("shutting down");
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
            servers.await
        }
        // A listener that stops by itself is a failure: report it rather than hang.
        res = &mut servers => res,
    };
    match finished {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => bail!("server failed: {e}"),
        Err(e) => bail!("server task failed: {e}"),
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn print_banner(
    config: &Config,
    http: SocketAddr,
    https: SocketAddr,
    config_http: SocketAddr,
    sip: (u16, u16),
    admin_pw: Option<&str>,
    fingerprint: &str,
) {
    let host = &config.server.public_host;
    say!(
        "\nDialtone {} - node {} is running.\n\
         \x20 Admin REST API  https://{host}:{}/api/v1   (OpenAPI: /api/v1/openapi.json)\n\
         \x20 HTTP            http://{host}:{}           (/health, /ready, /metrics)\n\
         \x20 Database        {}\n\
         \x20 SIP             registrar and calls on UDP and TCP {}, TLS {}\n\
         \x20 Phones          services http://{host}:{}/ccmcip/getservicesmenu.jsp, config files http://{host}:{}/SEP<MAC>.cnf.xml\n\
         \x20 WebDialer       https://{host}:{}/webdialer/Webdialer?destination=N (SOAP: /webdialer/services/WebdialerSoapService70, Redirector: /webdialer/Redirector)\n\
         \x20 Certificate     sha256 {fingerprint}",
        env!("CARGO_PKG_VERSION"),
        config.server.node_name,
        https.port(),
        http.port(),
        config.database_url(),
        sip.0,
        sip.1,
        http.port(),
        config_http.port(),
        https.port(),
    );
    let user = &config.admin.user_id;
    match admin_pw {
        Some(pw) => {
            say!("\nAdministrator account created: user '{user}', password '{pw}' (shown once).")
        }
        None => say!("\nAdministrator: '{user}' (password as set at first start)."),
    }
    say!(
        "Try:\n  curl -sk -u {user}:PASSWORD https://{host}:{}/api/v1/users?limit=5\n  \
         curl -sk -u {user}:PASSWORD https://{host}:{}/api/v1/directory-numbers?partition=Internal_PT",
        https.port(),
        https.port()
    );
}
