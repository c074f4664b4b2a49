//! SIP over WebSocket (RFC 7118): a WebSocket client (tokio-tungstenite) talks to an endpoint
//! through a WebSocket the test accepts, as the node's HTTP layer will at /sip.

use std::time::Duration;

use bytes::Bytes;
use dialtone_sip::endpoint::{Config, Endpoint, Incoming};
use dialtone_sip::Message;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as Ws;

// tungstenite fixes the handshake callback's error type (an HTTP response); it is large.
#[allow(clippy::result_large_err)]
#[tokio::test]
async fn options_over_websocket() {
    let (ep, mut rx) = Endpoint::bind(None, None, Config::default()).await.unwrap();
    tokio::spawn(async move {
        while let Some(inc) = rx.recv().await {
            if let Incoming::Request(tx) = inc {
                tx.reply(200, Some("ws")).await;
            }
        }
    });
    // The "HTTP layer": accept a WebSocket with the sip subprotocol and link it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ep2 = ep.clone();
    tokio::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        let ws =
            tokio_tungstenite::accept_hdr_async(stream, |req: &Request, mut resp: Response| {
                let offered = req
                    .headers()
                    .get("Sec-WebSocket-Protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                assert!(
                    offered.split(',').any(|p| p.trim() == "sip"),
                    "RFC 7118 subprotocol"
                );
                resp.headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
                Ok(resp)
            })
            .await
            .unwrap();
        let (mut sink, mut stream) = ws.split();
        let mut link = ep2.websocket(peer, false);
        tokio::spawn(async move {
            while let Some(out) = link.outbound.recv().await {
                let text = String::from_utf8_lossy(&out).to_string();
                if sink.send(Ws::text(text)).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(msg)) = stream.next().await {
            let data = match msg {
                Ws::Text(t) => Bytes::from(t.as_str().to_owned()),
                Ws::Binary(b) => b,
                _ => continue,
            };
            if link.inbound.send(data).await.is_err() {
                break;
            }
        }
    });
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/sip"),
    )
    .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let (mut client, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // RFC 7118 style: an invalid domain in Via, no Content-Length needed.
    let options = "OPTIONS sip:x@dialtone SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1\r\n\
                   From: <sip:a@dialtone>;tag=w1\r\nTo: <sip:x@dialtone>\r\nCall-ID: ws-1\r\nCSeq: 1 OPTIONS\r\n\
                   Max-Forwards: 70\r\n\r\n";
    client.send(Ws::text(options)).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("an answer")
        .unwrap()
        .unwrap();
    let Ws::Text(text) = answer else {
        panic!("{answer:?}")
    };
    let m = Message::parse(Bytes::from(text.as_str().to_owned())).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.top_via().unwrap().transport, "WS");
    assert_eq!(m.to().unwrap().tag(), Some("ws"));
}
