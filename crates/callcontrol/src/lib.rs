//! Call control: the only crate that maps SIP to devices, lines and (soon) calls.
//!
//! Today it holds the registrar; the back-to-back user agent, line features and the CTI
//! interface (issues 5 and 6) grow here. Requests it does not handle yet are answered
//! 501 Not Implemented, so a phone learns at once rather than timing out.
#![forbid(unsafe_code)]

pub mod registrar;

use std::sync::Arc;

use dialtone_sip::endpoint::Incoming;
use tokio::sync::mpsc;

pub use registrar::{Binding, Registrar};

/// Serve the requests an endpoint receives until it closes.
pub async fn serve(mut incoming: mpsc::Receiver<Incoming>, registrar: Arc<Registrar>) {
    while let Some(inc) = incoming.recv().await {
        let Incoming::Request(tx) = inc else { continue };
        let registrar = registrar.clone();
        tokio::spawn(async move {
            match tx.request.method().unwrap_or("") {
                "REGISTER" => registrar.register(tx).await,
                "OPTIONS" => tx.reply(200, Some(&dialtone_sip::build::token())).await,
                _ => tx.reply(501, Some(&dialtone_sip::build::token())).await,
            }
        });
    }
}
