//! SIP over TLS: an independent TLS client (openssl s_client) and our own client transaction,
//! both against a self-signed certificate.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dialtone_sip::build;
use dialtone_sip::endpoint::{Config, Endpoint, Incoming, Listen, Peer, Transport};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate for 127.0.0.1, the server configuration, and a client that trusts it.
fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

async fn server(tls: Arc<rustls::ServerConfig>) -> Endpoint {
    let (ep, mut rx) = Endpoint::bind_with(
        Listen {
            tls: Some(("127.0.0.1:0".parse().unwrap(), tls)),
            ..Listen::default()
        },
        Config::default(),
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        while let Some(inc) = rx.recv().await {
            if let Incoming::Request(tx) = inc {
                tx.reply(200, Some("tls")).await;
            }
        }
    });
    ep
}

fn options(via: &str, target: &str) -> String {
    format!(
        "OPTIONS sip:x@{target};transport=tls SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\n\
         To: <sip:x@{target}>\r\nCall-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_client_gets_an_answer_over_tls() {
    let (server_cfg, _) = tls_pair();
    let ep = server(server_cfg).await;
    let addr = ep.local_addr(Transport::Tls).unwrap();
    let request = options(
        "SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKssl",
        &addr.to_string(),
    );
    let answer = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-ign_eof",
                "-connect",
                &addr.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.as_bytes())
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(10));
        let _ = child.kill();
        let _ = child.wait();
        first
    })
    .await
    .unwrap();
    assert_eq!(answer.as_deref(), Ok("SIP/2.0 200 OK"));
}

#[tokio::test(flavor = "multi_thread")]
async fn our_client_transaction_over_tls_verifies_the_certificate() {
    let (server_cfg, client_cfg) = tls_pair();
    let ep = server(server_cfg).await;
    let addr = ep.local_addr(Transport::Tls).unwrap();
    let (client, _rx) = Endpoint::bind_with(
        Listen {
            tls_client: Some(client_cfg),
            ..Listen::default()
        },
        Config::default(),
    )
    .await
    .unwrap();
    let req = build::request("OPTIONS", &format!("sip:x@{addr};transport=tls"))
        .header(
            "Via",
            &format!("SIP/2.0/TLS 127.0.0.1:1;branch={}", build::branch()),
        )
        .header("From", "<sip:a@b>;tag=2")
        .header("To", &format!("<sip:x@{addr}>"))
        .header("Call-ID", "tls-2")
        .header("CSeq", "1 OPTIONS")
        .header("Max-Forwards", "70")
        .finish();
    let peer = Peer {
        transport: Transport::Tls,
        addr,
    };
    let mut tx = client.send_request(req, peer).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), tx.responses.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status(), Some(200));

    // A client that does not trust the certificate cannot even send.
    let (_, stranger_cfg) = tls_pair();
    let (stranger, _rx2) = Endpoint::bind_with(
        Listen {
            tls_client: Some(stranger_cfg),
            ..Listen::default()
        },
        Config::default(),
    )
    .await
    .unwrap();
    let req = build::request("OPTIONS", &format!("sip:x@{addr}"))
        .header(
            "Via",
            &format!("SIP/2.0/TLS 127.0.0.1:1;branch={}", build::branch()),
        )
        .header("From", "<sip:a@b>;tag=3")
        .header("To", &format!("<sip:x@{addr}>"))
        .header("Call-ID", "tls-3")
        .header("CSeq", "1 OPTIONS")
        .finish();
    assert!(stranger.send_request(req, peer).await.is_err());
}
