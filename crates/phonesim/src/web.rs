//! The phone's web server: `/CGI/Execute` (push), checked against the Authentication URL
//! before anything is done, and `/DeviceInformationX`; and a TFTP client for configuration
//! files.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use dialtone_phone_xml::uri::{form_field, query_escape, Uri};
use dialtone_phone_xml::{Object, ResponseItem};

use crate::{Phone, PhoneEvent};

fn xml(object: &Object) -> Response {
    let body = object.to_xml().unwrap_or_default();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// Ask the Authentication URL whether these credentials may act on this phone.
async fn authorized(phone: &Phone, user: &str, password: &str) -> bool {
    let url = phone.config().authentication_url;
    if url.is_empty() {
        return false;
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!(
        "{url}{sep}UserID={}&Password={}&devicename={}",
        query_escape(user),
        query_escape(password),
        query_escape(phone.device())
    );
    match phone.http().get(&full).send().await {
        Ok(r) => r.text().await.is_ok_and(|b| b == "AUTHORIZED"),
        Err(_) => false,
    }
}

async fn execute(State(phone): State<Phone>, headers: HeaderMap, body: Bytes) -> Response {
    let auth_error = Object::Error { number: 4 };
    let Some((user, password)) = basic(&headers) else {
        return xml(&auth_error);
    };
    if !authorized(&phone, &user, &password).await {
        let _ = phone.inner_events().send(PhoneEvent::PushRefused { user });
        return xml(&auth_error);
    }
    let Some(text) = form_field(&body, &["XML"]) else {
        return xml(&Object::Error { number: 1 });
    };
    let Ok(object) = Object::parse(&text) else {
        return xml(&Object::Error { number: 1 });
    };
    let _ = phone.inner_events().send(PhoneEvent::Pushed {
        object: object.root_name().to_owned(),
    });
    let items = match object {
        Object::Execute { items } => {
            let mut out = Vec::new();
            for item in items {
                let ok = match Uri::parse(&item.url) {
                    Some(Uri::Http(u)) => phone.open(&u).await.is_ok(),
                    // Receive a stream (a page): start, or stop whatever plays.
                    Some(Uri::Rtp {
                        transmit: false,
                        address,
                        ..
                    }) => match address {
                        Some((host, port)) => host
                            .parse::<IpAddr>()
                            .is_ok_and(|ip| phone.listen(ip, port)),
                        None => {
                            phone.stop_listening();
                            true
                        }
                    },
                    // Sending a stream is not simulated: say so rather than claim success.
                    Some(Uri::Rtp { transmit: true, .. }) => false,
                    Some(Uri::Dial(n)) => {
                        let p = phone.clone();
                        tokio::spawn(async move {
                            let _ = p.dial(&n).await;
                        });
                        true
                    }
                    Some(_) => true,
                    None => false,
                };
                out.push(ResponseItem {
                    status: if ok { 0 } else { 1 },
                    data: if ok {
                        "Success".into()
                    } else {
                        "URI not found".into()
                    },
                    url: item.url,
                });
            }
            out
        }
        other => {
            phone.show("push", other);
            vec![ResponseItem {
                status: 0,
                data: "Success".into(),
                url: String::new(),
            }]
        }
    };
    xml(&Object::Response { items })
}

async fn device_information(State(phone): State<Phone>) -> Response {
    let cfg = phone.config();
    let body = dialtone_phone_xml::Element::new("DeviceInformation")
        .leaf("MACAddress", phone.spec().mac())
        .leaf("HostName", phone.device())
        .leaf(
            "phoneDN",
            cfg.lines.first().map(|l| l.1.clone()).unwrap_or_default(),
        )
        .leaf("versionID", "sip88xx.14-2-1-phonesim")
        .leaf("modelNumber", phone.spec().model.clone())
        .to_document();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

/// Start the web server on the phone's address.
pub async fn serve(phone: Phone) -> Result<tokio::task::JoinHandle<()>> {
    let addr = SocketAddr::new(phone.spec().ip, phone.spec().web_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the phone's web server on {addr}"))?;
    let app = Router::new()
        .route("/CGI/Execute", post(execute))
        .route("/DeviceInformationX", get(device_information))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(phone);
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

/// Fetch a file over TFTP (RFC 1350, octet mode) from `local`.
pub async fn tftp_get(
    local: IpAddr,
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(local, 0)).await?;
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(name.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    socket.send_to(&rrq, server).await?;
    let mut file = Vec::new();
    let mut expected: u16 = 1;
    let mut buf = [0u8; 600];
    loop {
        let (n, from) = tokio::time::timeout(timeout, socket.recv_from(&mut buf))
            .await
            .map_err(|_| anyhow!("TFTP {name}: no answer from {server}"))??;
        if n < 4 {
            continue;
        }
        match u16::from_be_bytes([buf[0], buf[1]]) {
            3 => {
                let block = u16::from_be_bytes([buf[2], buf[3]]);
                let ack = [0, 4, buf[2], buf[3]];
                socket.send_to(&ack, from).await?;
                if block == expected {
                    file.extend_from_slice(&buf[4..n]);
                    expected = expected.wrapping_add(1);
                    if n - 4 < 512 {
                        return Ok(file);
                    }
                }
            }
            5 => {
                let msg = String::from_utf8_lossy(&buf[4..n])
                    .trim_end_matches('\0')
                    .to_owned();
                bail!(
                    "TFTP {name}: error {}: {msg}",
                    u16::from_be_bytes([buf[2], buf[3]])
                )
            }
            _ => bail!("TFTP {name}: unexpected packet"),
        }
    }
}
