//! The Redirector, `/webdialer/Redirector?destination=N`: one enterprise-wide click-to-call
//! link. The user logs in here once; the Redirector asks every WebDialer in the List of
//! WebDialers service parameter at the same time whether the user is theirs (isClusterUser
//! over HTTPS, within the Redirector Timeout, each entry's certificate pinned when the entry
//! says `#sha256=<fingerprint>`), then hands the browser to the one that says yes.
//!
//! The Redirector checks no password (the user may not be known here): the chosen WebDialer
//! does. The login reaches it in an HTTPS form the page submits by itself, so the password
//! never travels in a URL, and the user is not asked again. Afterwards the Redirector only
//! remembers the user ID (a cookie) to choose the cluster; the cluster's own session cookie
//! is what lets the user dial.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dialtone_phone_xml::tree::Element;
use dialtone_web::phone::query_param;

use crate::html::{esc, login_page, session_cookie};
use crate::WebDialer;
use dialtone_store::parameters::{parse_webdialer_list as parse_list, WebDialerEntry as Entry};

pub const PATH: &str = "/webdialer/Redirector";
pub const ALIAS: &str = "/webdialer/WebdialerRedirector";
const COOKIE: &str = "WDREDIRECT";

pub fn router(wd: Arc<WebDialer>) -> Router {
    Router::new()
        .route(PATH, get(page).post(submit))
        .route(ALIAS, get(page).post(submit))
        .layer(axum::middleware::from_fn_with_state(
            wd.clone(),
            crate::html::require_activation,
        ))
        .with_state(wd)
}

struct Peer {
    entry: Entry,
    client: reqwest::Client,
}

/// The clients for the current List of WebDialers, rebuilt when the list or the timeout
/// changes (connections are kept alive between decisions).
#[derive(Default)]
pub struct Redirector {
    peers: Mutex<Option<Cached>>,
}

/// The list and timeout the clients were built for, and the clients.
type Cached = (String, u64, Arc<Vec<Peer>>);

fn client_for(entry: &Entry, timeout: Duration) -> Result<reqwest::Client, String> {
    dialtone_web::pinned::client(entry.pin, timeout).map_err(|e| e.to_string())
}

/// Why the List of WebDialers cannot be asked (an entry that does not read, or a client that
/// cannot be built for it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnusableList(pub String);

impl Redirector {
    fn peers(&self, list: &str, timeout_ms: u64) -> Result<Arc<Vec<Peer>>, String> {
        let mut cached = self.peers.lock().expect("peers");
        if let Some((l, t, peers)) = cached.as_ref() {
            if l == list && *t == timeout_ms {
                return Ok(peers.clone());
            }
        }
        let timeout = Duration::from_millis(timeout_ms);
        let peers = Arc::new(
            parse_list(list)
                .map_err(|e| e.0)?
                .into_iter()
                .map(|entry| {
                    Ok(Peer {
                        client: client_for(&entry, timeout)?,
                        entry,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
        );
        *cached = Some((list.to_string(), timeout_ms, peers.clone()));
        Ok(peers)
    }

    /// The WebDialers (base URLs) that say `user` is theirs, in the list's order; why the
    /// list cannot be used when it cannot.
    pub async fn ask(
        &self,
        list: &str,
        timeout_ms: u64,
        user: &str,
    ) -> Result<Vec<String>, UnusableList> {
        let peers = self.peers(list, timeout_ms).map_err(UnusableList)?;
        let body = is_cluster_user_request(user);
        let asks = peers.iter().map(|p| {
            let body = body.clone();
            async move {
                let url = format!("{}{}", p.entry.base, crate::soap::SERVICE_PATH);
                let answer = p
                    .client
                    .post(&url)
                    .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
                    .header("SOAPAction", "\"\"")
                    .body(body)
                    .send()
                    .await;
                let yes = match answer {
                    Ok(r) if r.status().is_success() => {
                        r.text().await.ok().is_some_and(|t| says_yes(&t))
                    }
                    Ok(r) => {
                        tracing::warn!(webdialer = %p.entry.base, status = %r.status(), "isClusterUser refused");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(webdialer = %p.entry.base, error = %e, "isClusterUser failed");
                        false
                    }
                };
                yes.then(|| p.entry.base.clone())
            }
        });
        Ok(futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect())
    }
}

fn is_cluster_user_request(user: &str) -> String {
    Element::new("soapenv:Envelope")
        .attr("xmlns:soapenv", "http://schemas.xmlsoap.org/soap/envelope/")
        .attr("xmlns:urn", "urn:WD70")
        .child(
            Element::new("soapenv:Body").child(
                Element::new("urn:isClusterUserSoap")
                    .attr(
                        "soapenv:encodingStyle",
                        "http://schemas.xmlsoap.org/soap/encoding/",
                    )
                    .leaf("in0", user),
            ),
        )
        .to_document()
}

fn says_yes(answer: &str) -> bool {
    fn find(e: &Element) -> Option<&str> {
        if e.name.rsplit(':').next() == Some("isClusterUserSoapReturn") {
            return Some(e.text.as_str());
        }
        e.children.iter().find_map(find)
    }
    Element::parse(answer)
        .ok()
        .as_ref()
        .and_then(find)
        .is_some_and(|t| t.trim() == "true")
}

fn page_html(status: StatusCode, body: &str) -> Response {
    crate::html::html(status, "Cisco WebDialer", body)
}

fn cookie_user(headers: &HeaderMap) -> Option<String> {
    crate::html::cookie(headers, COOKIE)
        .and_then(|v| dialtone_phone_xml::uri::query_unescape(&v))
        .filter(|u| !u.is_empty())
}

fn unavailable(why: &str) -> Response {
    page_html(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "<h1>Cisco WebDialer</h1><p class=\"error\" role=\"alert\">The Redirector cannot ask the WebDialers: {}</p>",
            esc(why)
        ),
    )
}

fn target_url(base: &str, destination: &str) -> String {
    let mut url = format!("{base}{}", crate::html::PATH);
    if !destination.is_empty() {
        url.push_str("?destination=");
        url.push_str(&dialtone_phone_xml::uri::query_escape(destination));
    }
    url
}

fn remember(r: &mut Response, user: &str, hours: i64) {
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(
            COOKIE,
            &dialtone_phone_xml::uri::query_escape(user),
            hours,
            "/webdialer",
        ),
    );
}

async fn page(
    State(wd): State<Arc<WebDialer>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let destination = query_param(&q, "destination").unwrap_or("").to_string();
    let Some(user) = cookie_user(&headers) else {
        return login_page(
            PATH,
            "Cisco WebDialer Redirector",
            &destination,
            None,
            StatusCode::OK,
        );
    };
    let s = match wd.parameters().await {
        Ok(s) => s,
        Err(o) => return unavailable(&o.message),
    };
    match wd
        .redirector
        .ask(&s.list_of_webdialers, s.redirector_timeout_ms, &user)
        .await
    {
        Err(UnusableList(why)) => unavailable(&why),
        Ok(yes) if yes.len() == 1 => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&target_url(&yes[0], &destination)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Ok(yes) if yes.is_empty() => login_page(
            PATH,
            "Cisco WebDialer Redirector",
            &destination,
            Some(&format!(
                "{user} is not a user of any WebDialer: log in again"
            )),
            StatusCode::OK,
        ),
        Ok(yes) => {
            let links: String = yes
                .iter()
                .map(|b| {
                    format!(
                        "<p><a href=\"{}\">{}</a></p>",
                        esc(&target_url(b, &destination)),
                        esc(b)
                    )
                })
                .collect();
            page_html(
                StatusCode::OK,
                &format!("<h1>Choose your WebDialer</h1><p>{} is a user of several clusters. Choose your own:</p>{links}", esc(&user)),
            )
        }
    }
}

/// A form that posts the login to `base`'s WebDialer (the page decides whether it submits itself).
fn login_form(base: &str, user: &str, password: &str, destination: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"action\" value=\"login\">\
         <input type=\"hidden\" name=\"user\" value=\"{}\"><input type=\"hidden\" name=\"password\" value=\"{}\">\
         <input type=\"hidden\" name=\"destination\" value=\"{}\"><button type=\"submit\">{}</button></form>",
        esc(&format!("{base}{}", crate::html::PATH)),
        esc(user),
        esc(password),
        esc(destination),
        esc(label),
    )
}

async fn submit(State(wd): State<Arc<WebDialer>>, body: Bytes) -> Response {
    let form = crate::html::form(&body);
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let (user, password, destination) = (
        field("user").trim().to_string(),
        field("password"),
        field("destination").trim().to_string(),
    );
    if user.is_empty() || password.is_empty() {
        return login_page(
            PATH,
            "Cisco WebDialer Redirector",
            &destination,
            Some("Enter your user ID and password"),
            StatusCode::OK,
        );
    }
    let s = match wd.parameters().await {
        Ok(s) => s,
        Err(o) => return unavailable(&o.message),
    };
    let yes = match wd
        .redirector
        .ask(&s.list_of_webdialers, s.redirector_timeout_ms, &user)
        .await
    {
        Ok(y) => y,
        Err(UnusableList(why)) => return unavailable(&why),
    };
    if yes.is_empty() {
        return login_page(
            PATH,
            "Cisco WebDialer Redirector",
            &destination,
            Some(&format!(
                "{user} is not a user of any WebDialer in the List of WebDialers"
            )),
            StatusCode::OK,
        );
    }
    let mut r = if yes.len() == 1 {
        page_html(
            StatusCode::OK,
            &format!(
                "<h1>Cisco WebDialer</h1><p>Taking you to your WebDialer&hellip;</p>{}\
                 <script>document.forms[0].submit();</script>",
                login_form(&yes[0], &user, &password, &destination, "Continue")
            ),
        )
    } else {
        let forms: String = yes
            .iter()
            .map(|b| login_form(b, &user, &password, &destination, b))
            .collect();
        page_html(
            StatusCode::OK,
            &format!(
                "<h1>Choose your WebDialer</h1><p>{} is a user of several clusters. Choose your own:</p>{forms}",
                esc(&user)
            ),
        )
    };
    remember(&mut r, &user, s.session_expiry_hours);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_by_element() {
        assert!(says_yes("<e:Envelope xmlns:e='x'><e:Body><n:r xmlns:n='y'><isClusterUserSoapReturn xsi:type='xsd:boolean'>true</isClusterUserSoapReturn></n:r></e:Body></e:Envelope>"));
        assert!(!says_yes("<e:Envelope xmlns:e='x'><e:Body><n:r xmlns:n='y'><isClusterUserSoapReturn>false</isClusterUserSoapReturn></n:r></e:Body></e:Envelope>"));
        assert!(!says_yes("true"));
        let req = is_cluster_user_request("a<b");
        assert!(req.contains("<in0>a&lt;b</in0>"), "{req}");
    }
}
