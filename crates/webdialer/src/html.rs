//! The WebDialer servlet, `/webdialer/Webdialer?destination=N`, for people in a browser: a
//! login page unless the session cookie is good (User Session Expiry), the preferences page
//! (a permanent device and line, or Extension Mobility), the dial page with Dial, and the
//! call page with Hang Up that closes itself after the End Call Dialog time. Application
//! users with proxy rights open a session for a user with `uid`, `appid` and `pwd`.
//!
//! Everything that changes something is a POST from our own pages; the session cookie is
//! `SameSite=Lax`, so another site's page cannot post with it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dialtone_phone_xml::uri::query_unescape;
use dialtone_store::now_ms;
use dialtone_store::webdialer::Preference;
use dialtone_web::phone::query_param;

use crate::{with_codes, Code, Devices, Profile, Reply, WebDialer, PROXY_ROLE};

pub const PATH: &str = "/webdialer/Webdialer";
pub const COOKIE: &str = "WDSESSION";

pub fn router(wd: Arc<WebDialer>) -> Router {
    Router::new()
        .route(PATH, get(page).post(submit))
        .route("/webdialer", get(to_servlet))
        .route("/webdialer/", get(to_servlet))
        .layer(axum::middleware::from_fn_with_state(
            wd.clone(),
            require_activation,
        ))
        .with_state(wd)
}

/// Nothing is served while WebDialer is not activated on this node (code 6).
pub(crate) async fn require_activation(
    State(wd): State<Arc<WebDialer>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match wd.activated().await {
        Ok(()) => next.run(request).await,
        Err(o) => failure_page(&o),
    }
}

async fn to_servlet() -> Response {
    redirect(PATH)
}

/// Text escaped for HTML text and attribute values (XML's five escapes serve HTML too).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    dialtone_phone_xml::tree::escape_into(s, &mut out);
    out
}

/// A query-string component.
fn enc(s: &str) -> String {
    dialtone_phone_xml::uri::query_escape(s)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#eef1f5;margin:0;color:#1d2330}\
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:10px;box-shadow:0 2px 14px #0002;padding:1.6rem 1.8rem}\
h1{font-size:1.25rem;margin:0 0 1rem}h1 small{display:block;font-size:.8rem;color:#667;font-weight:normal;margin-top:.2rem}\
label{display:block;margin:.7rem 0 .2rem;font-size:.9rem;color:#445}\
input[type=text],input[type=password],select{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #bcc3cf;border-radius:6px}\
.radio,.check{display:flex;gap:.5rem;align-items:center;margin:.6rem 0}.radio label,.check label{margin:0}\
.buttons{display:flex;gap:.6rem;margin-top:1.2rem;flex-wrap:wrap;align-items:center}\
button{padding:.55rem 1.2rem;font-size:1rem;border:0;border-radius:6px;background:#1f6feb;color:#fff;cursor:pointer}\
button.secondary{background:#e3e7ee;color:#1d2330}button.danger{background:#d1242f}\
.error{background:#fdecec;color:#8a1c1c;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}\
.ok{background:#e8f5ec;color:#1c5e30;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}\
.muted{color:#667;font-size:.85rem}fieldset{border:1px solid #dde2ea;border-radius:8px;margin:.6rem 0;padding:.4rem .9rem .8rem}\
a{color:#1f6feb}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>\n",
        esc(title)
    )
}

pub(crate) fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let mut r = (status, Html(document(title, body))).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn dial_url(destination: &str) -> String {
    if destination.is_empty() {
        PATH.to_string()
    } else {
        format!("{PATH}?destination={}", enc(destination))
    }
}

fn error_box(message: Option<&str>) -> String {
    message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default()
}

/// The login form; `action` is where it posts (this servlet, or the Redirector).
pub fn login_page(
    action: &str,
    title: &str,
    destination: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = format!(
        "<h1>{}<small>Sign in with your user ID and password</small></h1>{}\
         <form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"action\" value=\"login\">\
         <input type=\"hidden\" name=\"destination\" value=\"{}\">\
         <label for=\"user\">User ID</label><input type=\"text\" id=\"user\" name=\"user\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <div class=\"buttons\"><button type=\"submit\">Log in</button></div></form>",
        esc(title),
        error_box(message),
        esc(action),
        esc(destination),
    );
    html(status, title, &body)
}

/// The session cookie's value, if the request carries one.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The user of the request's session, if it is open.
async fn session_user(wd: &WebDialer, headers: &HeaderMap) -> Result<Option<String>, Reply> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    Ok(wd
        .store
        .webdialer_session(&token, now_ms())
        .await?
        .map(|(u, _)| u))
}

/// A `Set-Cookie` for a session lasting `hours` (0: until the browser closes it; the
/// session itself does not end).
pub fn session_cookie(name: &str, token: &str, hours: i64, path: &str) -> HeaderValue {
    let age = if hours > 0 {
        format!("; Max-Age={}", hours * 3600)
    } else {
        String::new()
    };
    HeaderValue::from_str(&format!(
        "{name}={token}; Path={path}; Secure; HttpOnly; SameSite=Lax{age}"
    ))
    .expect("token is hex")
}

/// Open a session for `user` and send the browser to `to` with its cookie.
async fn open_session(wd: &WebDialer, user: &str, to: &str) -> Result<Response, Reply> {
    let (token, _, hours) = wd.open_session(user).await?;
    let mut r = redirect(to);
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(COOKIE, &token, hours, "/webdialer"),
    );
    Ok(r)
}

pub fn failure_page(o: &Reply) -> Response {
    let status = match o.code {
        Code::Directory | Code::ServiceError | Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    html(
        status,
        "Cisco WebDialer",
        &format!(
            "<h1>Cisco WebDialer</h1>{}<div class=\"buttons\"><a href=\"{PATH}\">Back</a></div>",
            error_box(Some(&o.message))
        ),
    )
}

async fn page(
    State(wd): State<Arc<WebDialer>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match render(&wd, &headers, &q).await {
        Ok(r) => r,
        Err(o) => failure_page(&o),
    }
}

async fn render(
    wd: &WebDialer,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<Response, Reply> {
    let destination = query_param(q, "destination").unwrap_or("").to_string();
    // Proxy: an application user with WebDialer proxy rights opens the session for uid, and
    // the browser is sent on without the password in its address bar.
    if let (Some(uid), Some(appid), Some(pwd)) = (
        query_param(q, "uid"),
        query_param(q, "appid"),
        query_param(q, "pwd"),
    ) {
        return proxy_login(wd, uid, appid, pwd, &destination).await;
    }
    let Some(user) = session_user(wd, headers).await? else {
        return Ok(login_page(
            PATH,
            "Cisco WebDialer",
            &destination,
            None,
            StatusCode::OK,
        ));
    };
    let saved = wd.preference(&user).await?;
    match saved {
        Some(p) if query_param(q, "preferences").is_none() => {
            dial_page(&user, &p, &destination, None)
        }
        saved => preferences_page(wd, &user, saved.as_ref(), &destination, None).await,
    }
}

async fn proxy_login(
    wd: &WebDialer,
    uid: &str,
    appid: &str,
    pwd: &str,
    destination: &str,
) -> Result<Response, Reply> {
    let cred = crate::Credential {
        user_id: appid.to_string(),
        password: pwd.to_string(),
        token: None,
    };
    match wd.authenticate(&cred).await {
        Ok(crate::Who::Application { proxy: true, .. }) => {}
        Ok(crate::Who::Application { user, .. }) => {
            return Err(Reply::new(
                Code::NoProxyRights,
                format!("{user} lacks {PROXY_ROLE}"),
            ))
        }
        _ => {
            return Ok(login_page(
                PATH,
                "Cisco WebDialer",
                destination,
                Some("Authentication error: the application user's ID or password is wrong"),
                StatusCode::UNAUTHORIZED,
            ))
        }
    }
    if wd.store.webdialer_user(uid).await?.is_none() {
        return Err(Reply::new(Code::Directory, format!("no user {uid}")));
    }
    open_session(wd, uid, &dial_url(destination)).await
}

async fn preferences_page(
    wd: &WebDialer,
    user: &str,
    saved: Option<&Preference>,
    destination: &str,
    message: Option<&str>,
) -> Result<Response, Reply> {
    let u = wd
        .store
        .webdialer_user(user)
        .await?
        .ok_or_else(|| Reply::new(Code::Directory, format!("no user {user}")))?;
    let devices: Vec<crate::UserDevice> = wd
        .devices(user)
        .await?
        .into_iter()
        .filter(|d| !d.mobility)
        .collect();
    let default = Preference::default();
    let p = saved.unwrap_or(&default);
    let mut device_options = String::new();
    let chosen_device = p
        .device
        .clone()
        .or_else(|| devices.first().map(|d| d.name.clone()));
    for d in &devices {
        let label = if d.description.is_empty() {
            format!("{} ({})", d.name, d.model)
        } else {
            format!("{} - {}", d.name, d.description)
        };
        device_options.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(&d.name),
            if Some(&d.name) == chosen_device.as_ref() {
                " selected"
            } else {
                ""
            },
            esc(&label)
        ));
    }
    // Every line of every device, tagged with its device so the page can show the right ones.
    let mut line_options = String::new();
    for d in &devices {
        for (number, partition) in &d.lines {
            let selected = Some(&d.name) == chosen_device.as_ref()
                && p.line.as_deref() == Some(number.as_str());
            line_options.push_str(&format!(
                "<option data-device=\"{}\" value=\"{}\"{}>{}</option>",
                esc(&d.name),
                esc(number),
                if selected { " selected" } else { "" },
                esc(&crate::line_label(number, partition.as_deref())),
            ));
        }
    }
    let checked = |b: bool| if b { " checked" } else { "" };
    let em_note = if u.has_profile {
        ""
    } else {
        "<p class=\"muted\">You have no Extension Mobility profile.</p>"
    };
    let no_devices = if devices.is_empty() {
        "<p class=\"muted\">No phone is associated with you.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Cisco WebDialer Preferences<small>{}</small></h1>{}\
         <form method=\"post\" action=\"{PATH}\"><input type=\"hidden\" name=\"action\" value=\"preferences\">\
         <input type=\"hidden\" name=\"destination\" value=\"{}\">\
         <fieldset><div class=\"radio\"><input type=\"radio\" id=\"permanent\" name=\"mode\" value=\"permanent\"{}><label for=\"permanent\">Use permanent device</label></div>\
         {no_devices}<label for=\"device\">User preferred device</label><select id=\"device\" name=\"device\">{device_options}</select>\
         <label for=\"line\">Line</label><select id=\"line\" name=\"line\">{line_options}</select></fieldset>\
         <fieldset><div class=\"radio\"><input type=\"radio\" id=\"em\" name=\"mode\" value=\"em\"{}><label for=\"em\">Use Extension Mobility</label></div>{em_note}</fieldset>\
         <div class=\"check\"><input type=\"checkbox\" id=\"dontShowCallConf\" name=\"dontShowCallConf\" value=\"true\"{}><label for=\"dontShowCallConf\">Do not display call confirmation</label></div>\
         <div class=\"check\"><input type=\"checkbox\" id=\"dontAutoClose\" name=\"dontAutoClose\" value=\"true\"{}><label for=\"dontAutoClose\">Disable Auto-Close</label></div>\
         <div class=\"buttons\"><button type=\"submit\">Save</button></div></form>\
         <script>(function(){{var d=document.getElementById('device'),l=document.getElementById('line');\
         function f(){{var first=null;for(var i=0;i<l.options.length;i++){{var o=l.options[i],s=o.getAttribute('data-device')===d.value;o.hidden=!s;o.disabled=!s;if(s&&first===null)first=o;}}\
         if(l.selectedOptions.length===0||l.selectedOptions[0].disabled){{if(first)first.selected=true;}}}}\
         d.addEventListener('change',f);f();}})();</script>",
        esc(user),
        error_box(message),
        esc(destination),
        checked(!p.use_em),
        checked(p.use_em),
        checked(p.dont_show_call_conf),
        checked(p.dont_auto_close),
    );
    Ok(html(StatusCode::OK, "Cisco WebDialer Preferences", &body))
}

fn dial_page(
    user: &str,
    p: &Preference,
    destination: &str,
    message: Option<&str>,
) -> Result<Response, Reply> {
    let from = if p.use_em {
        "the phone you are logged in to (Extension Mobility)".to_string()
    } else {
        match (&p.device, &p.line) {
            (Some(d), Some(l)) => format!("{d}, line {l}"),
            (Some(d), None) => d.clone(),
            _ => "your phone".to_string(),
        }
    };
    // "Do not display call confirmation": the Make Call page submits itself.
    let auto = if p.dont_show_call_conf && !destination.is_empty() && message.is_none() {
        "<script>document.getElementById('dial').requestSubmit();</script>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Make Call<small>{} &middot; from {}</small></h1>{}\
         <form id=\"dial\" method=\"post\" action=\"{PATH}\"><input type=\"hidden\" name=\"action\" value=\"dial\">\
         <label for=\"destination\">Number to dial</label><input type=\"text\" id=\"destination\" name=\"destination\" value=\"{}\" inputmode=\"tel\" required autofocus>\
         <details><summary class=\"muted\">Authorization and client matter codes</summary>\
         <label for=\"fac\">Forced Authorization Code</label><input type=\"password\" id=\"fac\" name=\"fac\" autocomplete=\"off\">\
         <label for=\"cmc\">Client Matter Code</label><input type=\"text\" id=\"cmc\" name=\"cmc\" autocomplete=\"off\"></details>\
         <div class=\"buttons\"><button type=\"submit\">Dial</button></div></form>\
         <div class=\"buttons\" style=\"align-items:center;justify-content:space-between\">\
         <a href=\"{PATH}?preferences=1&amp;destination={}\">Preferences</a>\
         <form method=\"post\" action=\"{PATH}\"><input type=\"hidden\" name=\"action\" value=\"logout\">\
         <button class=\"secondary\" type=\"submit\">Log out</button></form></div>{auto}",
        esc(user),
        esc(&from),
        error_box(message),
        esc(destination),
        esc(&enc(destination)),
    );
    Ok(html(StatusCode::OK, "Make Call", &body))
}

fn call_page(placed: &crate::Placed, seconds: i64, auto_close: bool) -> Response {
    let close = if auto_close {
        format!(
            "<p class=\"muted\">This window closes in <span id=\"left\">{seconds}</span> seconds.</p>\
             <script>(function(){{var n={seconds},s=document.getElementById('left');\
             var t=setInterval(function(){{n-=1;s.textContent=n;if(n<=0){{clearInterval(t);window.close();}}}},1000);}})();</script>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Calling {}</h1><p class=\"ok\" role=\"status\">Call to {} placed from {} (line {}). Your phone rings first.</p>\
         <form method=\"post\" action=\"{PATH}\"><input type=\"hidden\" name=\"action\" value=\"hangup\">\
         <input type=\"hidden\" name=\"device\" value=\"{}\"><input type=\"hidden\" name=\"line\" value=\"{}\">\
         <div class=\"buttons\"><button class=\"danger\" type=\"submit\">Hang Up</button>\
         <a href=\"{PATH}\">Make another call</a></div></form>{close}",
        esc(&placed.destination),
        esc(&placed.destination),
        esc(&placed.device),
        esc(&placed.line),
        esc(&placed.device),
        esc(&placed.line),
    );
    html(StatusCode::OK, "Calling", &body)
}

/// A form body's fields (the last value of a repeated field wins).
pub(crate) fn form(body: &[u8]) -> HashMap<String, String> {
    std::str::from_utf8(body)
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k.is_empty() {
                return None;
            }
            Some((query_unescape(k)?, query_unescape(v)?))
        })
        .collect()
}

async fn submit(State(wd): State<Arc<WebDialer>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    match act(&wd, &headers, &f).await {
        Ok(r) => r,
        Err(o) => failure_page(&o),
    }
}

async fn act(
    wd: &WebDialer,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<Response, Reply> {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let destination = get("destination").trim().to_string();
    let action = get("action");
    if action == "login" {
        let user = get("user").trim();
        if wd.check_end_user(user, get("password")).await? {
            return open_session(wd, user, &dial_url(&destination)).await;
        }
        return Ok(login_page(
            PATH,
            "Cisco WebDialer",
            &destination,
            Some("Authentication error: the user ID or password is wrong"),
            StatusCode::UNAUTHORIZED,
        ));
    }
    let Some(user) = session_user(wd, headers).await? else {
        return Ok(login_page(
            PATH,
            "Cisco WebDialer",
            &destination,
            Some("Your session has ended: log in again"),
            StatusCode::UNAUTHORIZED,
        ));
    };
    match action {
        "preferences" => {
            let p = Preference {
                use_em: get("mode") == "em",
                device: Some(get("device").to_string()).filter(|d| !d.is_empty()),
                line: Some(get("line").to_string()).filter(|l| !l.is_empty()),
                dont_auto_close: get("dontAutoClose") == "true",
                dont_show_call_conf: get("dontShowCallConf") == "true",
            };
            if let Err((_, why)) = wd.check_preference(&user, &p).await? {
                return preferences_page(wd, &user, Some(&p), &destination, Some(&why)).await;
            }
            wd.store.set_webdialer_preference(&user, &p).await?;
            Ok(redirect(&dial_url(&destination)))
        }
        "dial" => {
            let p = wd.preference(&user).await?.unwrap_or_default();
            let number = with_codes(
                &destination,
                Some(get("fac")).filter(|s| !s.is_empty()),
                Some(get("cmc")).filter(|s| !s.is_empty()),
            );
            match wd.make_call(&user, &number, &Profile::from(&p)).await {
                Ok(placed) => {
                    let params = wd.parameters().await?;
                    Ok(call_page(
                        &crate::Placed {
                            // The codes are not shown back.
                            destination: destination.clone(),
                            ..placed
                        },
                        params.end_call_dialog_seconds,
                        !p.dont_auto_close,
                    ))
                }
                Err(o) => dial_page(&user, &p, &destination, Some(&o.message)),
            }
        }
        "hangup" => {
            let p = wd.preference(&user).await?.unwrap_or_default();
            let profile = Profile {
                user: String::new(),
                device: Some(get("device").to_string()).filter(|d| !d.is_empty()),
                line: Some(get("line").to_string()).filter(|l| !l.is_empty()),
                from: Devices::chosen(p.use_em),
            };
            let message = match wd.end_call(&user, &profile).await {
                Ok(_) => "<p class=\"ok\" role=\"status\">Call ended.</p>".to_string(),
                Err(o) => error_box(Some(&o.message)),
            };
            Ok(html(
                StatusCode::OK,
                "Cisco WebDialer",
                &format!(
                    "<h1>Cisco WebDialer</h1>{message}<div class=\"buttons\"><a href=\"{PATH}\">Make another call</a></div>"
                ),
            ))
        }
        "logout" => {
            if let Some(token) = cookie(headers, COOKIE) {
                wd.store.webdialer_session_close(&token).await?;
            }
            let mut r = login_page(PATH, "Cisco WebDialer", "", None, StatusCode::OK);
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "WDSESSION=; Path=/webdialer; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
                ),
            );
            Ok(r)
        }
        other => Err(Reply::new(
            Code::NoDevice,
            format!("unknown action '{}'", other),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn forms_and_cookies_are_read() {
        let f = form(b"action=dial&destination=%2B1%20408&fac=12");
        assert_eq!(f["destination"], "+1 408");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; WDSESSION=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "x"), None);
    }

    #[test]
    fn session_cookies_last_the_configured_hours() {
        let c = session_cookie(COOKIE, "ab", 8, "/webdialer");
        let c = c.to_str().unwrap();
        assert!(c.contains("Max-Age=28800") && c.contains("Secure") && c.contains("HttpOnly"));
        assert!(!session_cookie(COOKIE, "ab", 0, "/")
            .to_str()
            .unwrap()
            .contains("Max-Age"));
    }
}
