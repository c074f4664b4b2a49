//! Unified CM's phone-facing pages, at Unified CM's paths so phones and scripts set up for a
//! Unified CM work unchanged: the services menu, the directories, the Authentication URL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use dialtone_phone_xml::model::Capabilities;
use dialtone_phone_xml::{
    directory_page, DirectoryEntry, InputItem, MenuItem, Object, Screen, SoftKey,
    MAX_DIRECTORY_ENTRIES, MAX_MENU_ITEMS,
};
use dialtone_store::catalogue::ADMIN_ROLE;
use dialtone_store::phones::PhoneDevice;

use crate::ServicesState;
use dialtone_provisioning::catalog::{query_escape, service_url, Phones};
use dialtone_web::phone::{query_param, xml_response, Secure};

/// The default service that stands for the corporate directory.
const CORPORATE_DIRECTORY: &str = "Application:Cisco/CorporateDirectory";

/// The role that lets an application user push to any phone.
pub const PUSH_ROLE: &str = "Standard Phone Push Rights";

type Params = Query<HashMap<String, String>>;

fn text(title: &str, body: &str) -> Object {
    Object::Text {
        screen: Screen {
            softkeys: vec![SoftKey::new("Exit", 3, "SoftKey:Exit")],
            ..Screen::titled(title)
        },
        text: body.to_owned(),
    }
}

/// A query parameter with a value.
fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query_param(q, name).filter(|v| !v.is_empty())
}

fn start_of(q: &HashMap<String, String>) -> usize {
    param(q, "start")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

/// The device a request is from: named in the query (`name`, as Dialtone's configuration files
/// link it, or `devicename`), else the phone registered from the request's address.
/// As it now is: with its Extension Mobility user's profile while someone is logged in.
fn requesting_device<'a>(
    st: &ServicesState,
    phones: &'a Phones,
    q: &HashMap<String, String>,
    from: SocketAddr,
) -> Option<std::borrow::Cow<'a, PhoneDevice>> {
    let named = param(q, "name").or_else(|| param(q, "devicename"));
    let device = match named {
        Some(n) => phones.device(n),
        None => st
            .registrations
            .device_at(from.ip())
            .and_then(|n| phones.device(&n)),
    }?;
    Some(phones.effective(device, st.registrations.login_of(&device.name)))
}

fn capabilities(headers: &HeaderMap, device: Option<&PhoneDevice>) -> Capabilities {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    Capabilities::from_headers(
        h("x-ciscoipphonemodelname"),
        h("x-ciscoipphonedisplay"),
        device.map_or("", |d| d.model.as_str()),
    )
}

fn base(st: &ServicesState, secure: Secure) -> String {
    if secure.0 {
        st.site.https_base()
    } else {
        st.site.http_base()
    }
}

/// `&name=DEVICE` to carry the device through the pages it links.
fn device_query(device: Option<&PhoneDevice>) -> String {
    device
        .map(|d| format!("name={}", query_escape(&d.name)))
        .unwrap_or_default()
}

/// `/ccmcip/getservicesmenu.jsp`: the IP Phone Services a phone is subscribed to.
pub async fn services_menu(
    State(st): State<Arc<ServicesState>>,
    axum::Extension(secure): axum::Extension<Secure>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    let phones = st.phones.get();
    let device = requesting_device(&st, &phones, &q, from);
    let device = device.as_deref();
    let caps = capabilities(&headers, device);
    let items: Vec<MenuItem> = phones
        .offered(device, &caps)
        .into_iter()
        .filter(|s| s.service_type == "IP Phone Service")
        .filter_map(|s| {
            Some(MenuItem {
                name: s.name.clone(),
                url: service_url(s, device, caps.https || secure.0, &st.site)?,
            })
        })
        .collect();
    if items.is_empty() {
        return xml_response(
            &text("Services", "No services are configured for this phone."),
            None,
        );
    }
    let start = start_of(&q);
    let from_index = (start - 1).min(items.len());
    let to = (from_index + MAX_MENU_ITEMS).min(items.len());
    let mut screen = Screen::menu("Services", Some("Select a service"));
    let mut refresh = None;
    if to < items.len() {
        let next = format!(
            "{}/ccmcip/getservicesmenu.jsp?{}&start={}",
            base(&st, secure),
            device_query(device),
            to + 1
        );
        screen.softkeys.push(SoftKey::new("Next", 4, &next));
        refresh = Some(format!("0; url={next}"));
    }
    let menu = Object::Menu {
        screen,
        items: items[from_index..to].to_vec(),
    };
    xml_response(&menu, refresh)
}

/// `/ccmcip/xmldirectory.jsp`: the directories (the 7900s insist on a menu first).
pub async fn directories(
    State(st): State<Arc<ServicesState>>,
    axum::Extension(secure): axum::Extension<Secure>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Query(q): Params,
) -> Response {
    let phones = st.phones.get();
    let device = requesting_device(&st, &phones, &q, from);
    let device = device.as_deref();
    let base = base(&st, secure);
    let dq = device_query(device);
    let caps = Capabilities::of(device.map_or("", |d| d.model.as_str()));
    let offered = phones.offered(device, &caps);
    let mut items = Vec::new();
    // The corporate directory while its default service is offered (an administrator who
    // disables it takes it off this list as well as out of the configuration files).
    if offered
        .iter()
        .any(|s| s.url == CORPORATE_DIRECTORY && s.service_type == "Directories")
    {
        items.push(MenuItem {
            name: "Corporate Directory".into(),
            url: format!("{base}/ccmcip/xmldirectoryinput.jsp?{dq}"),
        });
    }
    // The directory services the phone is subscribed to (the personal directory among them,
    // unless an administrator disabled it) follow; the phone's built-in ones it shows itself.
    for s in offered {
        if s.service_type == "Directories" && !s.url.starts_with("Application:") {
            if let Some(url) = service_url(s, device, caps.https || secure.0, &st.site) {
                items.push(MenuItem {
                    name: s.name.clone(),
                    url,
                });
            }
        }
    }
    if items.is_empty() {
        return xml_response(
            &text(
                "Directories",
                "No directories are configured for this phone.",
            ),
            None,
        );
    }
    xml_response(
        &Object::Menu {
            screen: Screen::menu("Directories", None),
            items,
        },
        None,
    )
}

/// `/ccmcip/xmldirectoryinput.jsp`: the corporate directory's search form.
pub async fn directory_search(
    State(st): State<Arc<ServicesState>>,
    axum::Extension(secure): axum::Extension<Secure>,
    Query(q): Params,
) -> Response {
    let dq = param(&q, "name")
        .map(|n| format!("?name={}", query_escape(n)))
        .unwrap_or_default();
    let field = |display: &str, param: &str, flags: &str| InputItem {
        display_name: display.into(),
        query_string_param: param.into(),
        input_flags: flags.into(),
        default_value: None,
    };
    xml_response(
        &Object::Input {
            screen: Screen {
                title: Some("Corporate Directory".into()),
                prompt: Some("Enter search criteria".into()),
                softkeys: vec![
                    SoftKey::new("Search", 1, "SoftKey:Submit"),
                    SoftKey::new("<<", 2, "SoftKey:<<"),
                    SoftKey::new("Cancel", 3, "SoftKey:Cancel"),
                ],
                keys: vec![],
            },
            url: format!("{}/ccmcip/xmldirectorylist.jsp{dq}", base(&st, secure)),
            items: vec![
                field("First Name", "f", "A"),
                field("Last Name", "l", "A"),
                field("Number", "n", "T"),
            ],
        },
        None,
    )
}

fn starts_with_ci(value: &str, prefix: Option<&str>) -> bool {
    match prefix {
        None => true,
        Some(p) => value.to_lowercase().starts_with(&p.trim().to_lowercase()),
    }
}

/// A directory page: entries `start..` (1-based), with Dial, EditDial, Exit and, when more
/// follow, Next and a Refresh header to the next page.
fn directory_object(
    title: &str,
    all: &[DirectoryEntry],
    start: usize,
    next_base: &str,
) -> (Object, Option<String>) {
    // A start past the end (an old link, a hand-made URL) shows the last page.
    let start = start.clamp(1, all.len().max(1));
    let page = (start - 1) / MAX_DIRECTORY_ENTRIES;
    let (entries, more) = directory_page(all, page);
    let first = page * MAX_DIRECTORY_ENTRIES + 1;
    let mut softkeys = vec![
        SoftKey::new("Dial", 1, "SoftKey:Dial"),
        SoftKey::new("EditDial", 2, "SoftKey:EditDial"),
        SoftKey::new("Exit", 3, "SoftKey:Exit"),
    ];
    let mut refresh = None;
    if more {
        let sep = if next_base.contains('?') { '&' } else { '?' };
        let next = format!("{next_base}{sep}start={}", first + MAX_DIRECTORY_ENTRIES);
        softkeys.push(SoftKey::new("Next", 4, &next));
        refresh = Some(format!("0; url={next}"));
    }
    let prompt = if all.is_empty() {
        "No records found".to_owned()
    } else {
        format!(
            "Records {} to {} of {}",
            first,
            first + entries.len() - 1,
            all.len()
        )
    };
    (
        Object::Directory {
            screen: Screen {
                title: Some(title.into()),
                prompt: Some(prompt),
                softkeys,
                keys: vec![],
            },
            entries,
        },
        refresh,
    )
}

/// `/ccmcip/xmldirectorylist.jsp?f=&l=&n=&start=`: corporate directory results.
pub async fn directory_list(
    State(st): State<Arc<ServicesState>>,
    axum::Extension(secure): axum::Extension<Secure>,
    Query(q): Params,
) -> Response {
    let phones = st.phones.get();
    let (f, l, n) = (param(&q, "f"), param(&q, "l"), param(&q, "n"));
    let all: Vec<DirectoryEntry> = phones
        .catalog
        .users
        .iter()
        .filter_map(|u| {
            let number = u.number.as_deref()?;
            (starts_with_ci(&u.first_name, f)
                && starts_with_ci(&u.last_name, l)
                && starts_with_ci(number, n))
            .then(|| DirectoryEntry {
                name: if u.first_name.is_empty() {
                    u.last_name.clone()
                } else {
                    format!("{}, {}", u.last_name, u.first_name)
                },
                telephone: number.to_owned(),
            })
        })
        .collect();
    let mut next = format!("{}/ccmcip/xmldirectorylist.jsp?", base(&st, secure));
    for (k, v) in [("name", param(&q, "name")), ("f", f), ("l", l), ("n", n)] {
        if let Some(v) = v {
            next.push_str(&format!("{k}={}&", query_escape(v)));
        }
    }
    next.pop();
    let (obj, refresh) = directory_object("Corporate Directory", &all, start_of(&q), &next);
    xml_response(&obj, refresh)
}

/// `/ccmcip/xmlpersonaldirectory.jsp?name=DEVICE`: the personal directory of the phone's owner.
pub async fn personal_directory(
    State(st): State<Arc<ServicesState>>,
    axum::Extension(secure): axum::Extension<Secure>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Query(q): Params,
) -> Response {
    let phones = st.phones.get();
    let Some(device) = requesting_device(&st, &phones, &q, from) else {
        return xml_response(
            &text("Personal Directory", "This phone is not known to Dialtone."),
            None,
        );
    };
    let Some(owner) = &device.owner else {
        return xml_response(
            &text(
                "Personal Directory",
                "This phone has no owner, so it has no personal directory.",
            ),
            None,
        );
    };
    let mut all = Vec::new();
    for e in phones.catalog.personal.get(owner).into_iter().flatten() {
        for (kind, number) in [
            ("work", &e.work_number),
            ("home", &e.home_number),
            ("mobile", &e.mobile_number),
        ] {
            if !number.is_empty() {
                all.push(DirectoryEntry {
                    name: format!("{} ({kind})", e.nickname),
                    telephone: number.clone(),
                });
            }
        }
    }
    let next = format!(
        "{}/ccmcip/xmlpersonaldirectory.jsp?name={}",
        base(&st, secure),
        query_escape(&device.name)
    );
    let (obj, refresh) = directory_object("Personal Directory", &all, start_of(&q), &next);
    xml_response(&obj, refresh)
}

/// `/ccmcip/authenticate.jsp?UserID=&Password=&devicename=`: the phone asks whether a push may
/// act. Exactly `AUTHORIZED` (no newline) for an end user who owns or controls the device or an
/// application user holding the push role; `UN-AUTHORIZED` for anything else.
pub async fn authenticate(State(st): State<Arc<ServicesState>>, Query(q): Params) -> Response {
    let answer = |ok: bool| {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
            if ok { "AUTHORIZED" } else { "UN-AUTHORIZED" },
        )
            .into_response()
    };
    let (Some(user), Some(password), Some(device)) = (
        param(&q, "UserID"),
        param(&q, "Password"),
        param(&q, "devicename"),
    ) else {
        return answer(false);
    };
    if st.phones.get().device(device).is_none() {
        return answer(false);
    }
    // Anyone who can reach the phones' port can ask: past the guesses a user ID is allowed a
    // minute, the answer is no without looking, so passwords cannot be tried at speed.
    if !st.guesses.may_try(user) {
        tracing::warn!(
            user,
            "authenticate.jsp: too many wrong passwords, refused for now"
        );
        return answer(false);
    }
    // Credentials minted for a broadcast (a page) are good for its phones alone.
    let ok = st.pusher.minted_allows(user, password, device)
        || may_push(&st, user, password, device).await;
    if !ok {
        st.guesses.failed(user);
    }
    answer(ok)
}

/// The Authentication URL's rule, shared with the push API's own check.
pub async fn may_push(st: &ServicesState, user: &str, password: &str, device: &str) -> bool {
    if let Ok(devices) = st.accounts.end_user(user, password).await {
        if devices.iter().any(|d| d == device) {
            return true;
        }
    }
    match st.accounts.application_user(user, password).await {
        Ok(caller) => caller.has_role(PUSH_ROLE) || caller.has_role(ADMIN_ROLE),
        Err(_) => false,
    }
}
