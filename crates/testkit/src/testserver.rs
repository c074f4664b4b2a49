//! The minimal server the sipp tests and the benchmark drive: a registrar that challenges
//! with digest (users u000001..u000999, passwords pwNNNNNN) and a UAS that answers INVITEs.
//! Shared by the `sip` crate's `tests/sipp.rs` and `bench/` so both measure the same thing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dialtone_sip::build;
use dialtone_sip::digest::{Algorithm, Authenticator, Credentials, StoredCredentials, Verdict};
use dialtone_sip::endpoint::Incoming;
use dialtone_sip::Name;

const REALM: &str = "dialtone";

fn ha1s(user: &str, password: &str) -> StoredCredentials {
    let (md5, sha) = {
        use md5::Digest;
        let input = format!("{user}:{REALM}:{password}");
        (
            hex::encode(md5::Md5::digest(input.as_bytes())),
            hex::encode(sha2::Sha256::digest(input.as_bytes())),
        )
    };
    StoredCredentials {
        ha1_md5: Some(md5),
        ha1_sha256: Some(sha),
    }
}

/// The test server: registrar with digest for u000001..u000999 (password pwNNNNNN) and a UAS.
pub async fn serve(mut rx: tokio::sync::mpsc::Receiver<Incoming>) {
    // sipp 3.6 reads only the first challenge and speaks only MD5.
    let auth = Arc::new(
        Authenticator::new(REALM, Duration::from_secs(30))
            .offering(&[Algorithm::Md5, Algorithm::Sha256]),
    );
    let users: HashMap<String, StoredCredentials> = (1..1000)
        .map(|i| {
            let u = format!("u{i:06}");
            let p = format!("pw{i:06}");
            let c = ha1s(&u, &p);
            (u, c)
        })
        .collect();
    let users = Arc::new(users);
    while let Some(inc) = rx.recv().await {
        let Incoming::Request(tx) = inc else { continue };
        let auth = auth.clone();
        let users = users.clone();
        tokio::spawn(async move {
            let req = tx.request.clone();
            let tag = build::token();
            match req.method().unwrap_or("") {
                "REGISTER" => {
                    let verdict = req
                        .value(Name::Authorization)
                        .and_then(Credentials::parse)
                        .map(|c| match users.get(c.username) {
                            Some(stored) => auth.verify("REGISTER", &c, stored),
                            None => Verdict::Invalid("unknown user"),
                        });
                    match verdict {
                        Some(Verdict::Valid) => {
                            let contact = req.value(Name::Contact).unwrap_or("").to_string();
                            let r = build::response(&req, 200, Some(tx.peer.addr), Some(&tag))
                                .header("Contact", &format!("{contact};expires=3600"))
                                .finish();
                            tx.respond(r).await;
                        }
                        other => {
                            let challenges = auth.challenges(other == Some(Verdict::Stale));
                            let mut b = build::response(&req, 401, Some(tx.peer.addr), Some(&tag));
                            for c in &challenges {
                                b = b.header("WWW-Authenticate", c);
                            }
                            tx.respond(b.finish()).await;
                        }
                    }
                }
                "INVITE" => {
                    let ringing =
                        build::response(&req, 180, Some(tx.peer.addr), Some(&tag)).finish();
                    tx.respond(ringing).await;
                    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
                    let ok = build::response(&req, 200, Some(tx.peer.addr), Some(&tag))
                        .header("Contact", "<sip:uas@127.0.0.1>")
                        .body("application/sdp", Bytes::from_static(sdp.as_bytes()))
                        .finish();
                    tx.respond(ok).await;
                }
                "CANCEL" => {
                    tx.reply(200, Some(&tag)).await;
                    if let Some(invite) = &tx.cancels {
                        invite.reply(487, Some(&tag)).await;
                    }
                }
                "BYE" | "OPTIONS" => tx.reply(200, Some(&tag)).await,
                _ => tx.reply(501, Some(&tag)).await,
            }
        });
    }
}
