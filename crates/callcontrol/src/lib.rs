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
pub mod registrar;
pub mod routing;
mod shards;

use std::sync::Arc;

use dialtone_sip::endpoint::Incoming;
use tokio::sync::mpsc;

pub use calls::{CallConfig, CallState, CallView, Calls, LineState};
pub use directory::Directory;
pub use events::{Event, Events};
pub use registrar::{Binding, Registrar};

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
                    let in_dialog = tx.request.to().and_then(|t| t.tag()).is_some();
                    match tx.request.method().unwrap_or("") {
                        "REGISTER" => registrar.register(tx).await,
                        "CANCEL" => calls.in_dialog(tx).await,
                        _ if in_dialog => calls.in_dialog(tx).await,
                        "INVITE" => calls.invite(tx).await,
                        "OPTIONS" => tx.reply(200, Some(&dialtone_sip::build::token())).await,
                        "BYE" | "UPDATE" | "INFO" | "PRACK" => {
                            tx.reply(481, Some(&dialtone_sip::build::token())).await
                        }
                        _ => tx.reply(501, Some(&dialtone_sip::build::token())).await,
                    }
                });
            }
        }
    }
}
