//! Call control: the only crate that maps SIP to devices, lines and calls.
//!
//! The registrar binds devices' contacts; the back-to-back user agent (`calls`) runs every
//! call as a task of its own, routed by the dial plan and the called line's features
//! (`routing`); the directory is the configuration snapshot both read. Methods no part
//! handles are answered 501 Not Implemented, so a phone learns at once.
#![forbid(unsafe_code)]

pub mod calls;
pub mod directory;
pub mod events;
mod guarded;
#[cfg(test)]
mod lab;
pub mod registrar;
pub mod routing;

use std::sync::Arc;

use dialtone_sip::build;
use dialtone_sip::endpoint::{Incoming, ServerTransaction};
use dialtone_sip::Method;
use tokio::sync::mpsc;

pub use calls::{CallConfig, CallState, CallView, Calls, LineState};
pub use directory::Directory;
pub use events::{Event, Events};
pub use registrar::{Binding, Registrar};

/// The methods Dialtone accepts (the Allow header of its INVITEs, 200s and OPTIONS answers).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, UPDATE, INFO, NOTIFY, OPTIONS, REFER, REGISTER";

/// The extensions Dialtone supports: session timers (RFC 4028), Replaces (RFC 3891) and a
/// REFER without its implicit subscription (RFC 4488).
pub const SUPPORTED: &str = "timer, replaces, norefersub";

/// The answer to an out-of-dialog OPTIONS (RFC 3261 11.2): what a request may use here.
async fn answer_options(tx: &ServerTransaction) {
    let r = build::response(&tx.request, 200, Some(tx.peer.addr), Some(&build::token()))
        .header("Allow", ALLOW)
        .header("Accept", "application/sdp")
        .header("Accept-Encoding", "identity")
        .header("Accept-Language", "en")
        .header("Supported", SUPPORTED)
        .finish();
    tx.respond(r).await;
}

/// A request that requires an extension Dialtone lacks gets 420 naming it (RFC 3261
/// 8.2.2.3); never a CANCEL or an ACK. True when it was refused.
async fn refuse_unsupported(tx: &ServerTransaction) -> bool {
    if matches!(
        tx.request.request_method(),
        Some(Method::Cancel | Method::Ack)
    ) {
        return false;
    }
    let supported: Vec<&str> = SUPPORTED.split(',').map(str::trim).collect();
    let missing = tx.request.unsupported_requirements(&supported);
    if missing.is_empty() {
        return false;
    }
    let r = build::response(&tx.request, 420, Some(tx.peer.addr), Some(&build::token()))
        .header("Unsupported", &missing.join(", "))
        .finish();
    tx.respond(r).await;
    true
}

/// Serve the requests an endpoint receives until it closes.
pub async fn serve(
    mut incoming: mpsc::Receiver<Incoming>,
    registrar: Arc<Registrar>,
    calls: Calls,
) {
    while let Some(inc) = incoming.recv().await {
        let registrar = registrar.clone();
        let calls = calls.clone();
        match inc {
            Incoming::Ack { message, .. } => {
                tokio::spawn(async move { calls.ack(message).await });
            }
            Incoming::Request(tx) => {
                tokio::spawn(async move {
                    if refuse_unsupported(&tx).await {
                        return;
                    }
                    let in_dialog = tx.request.to().and_then(|t| t.tag()).is_some();
                    match tx.request.request_method() {
                        Some(Method::Register) => registrar.register(tx).await,
                        Some(Method::Cancel) => calls.in_dialog(tx).await,
                        _ if in_dialog => calls.in_dialog(tx).await,
                        Some(Method::Invite) => calls.invite(tx).await,
                        Some(Method::Options) => answer_options(&tx).await,
                        Some(Method::Bye | Method::Update | Method::Info | Method::Prack) => {
                            tx.reply(481, Some(&dialtone_sip::build::token())).await
                        }
                        _ => tx.reply(501, Some(&dialtone_sip::build::token())).await,
                    }
                });
            }
        }
    }
}
