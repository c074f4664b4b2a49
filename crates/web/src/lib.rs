//! What every HTTP surface of the node shares, written once: the error an API answers
//! (`ApiError`), who a request is from (`accounts`: application users, end users, PINs and
//! bearer tokens, checked through the credential cache and answered as domain errors), wrong
//! guesses counted per user ID (`guesses`), query and phone-XML helpers (`phone`), an HTTPS
//! client that trusts one pinned certificate (`pinned`), embedded assets with content-hash
//! ETags (`assets`), OpenAPI fragments (`openapi`), request bodies drained when left unread
//! (`body`), and what an application hands the node to be served (`app`). Applications stand on this crate and the platform crates, never on each
//! other.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod assets;
pub mod body;
mod error;
pub mod guesses;
pub mod openapi;
pub mod phone;
pub mod pinned;

pub use accounts::{Accounts, AuthError, Caller};
pub use app::{App, Surfaces};
pub use error::ApiError;

/// Where this node is reached, for the links it hands to phones and browsers.
#[derive(Debug, Clone)]
pub struct Site {
    pub public_host: String,
    pub http_port: u16,
    pub https_port: u16,
    pub sip_port: u16,
    pub sips_port: u16,
    /// This node's name (Service Activation and configuration files name it).
    pub node_name: String,
}

impl Default for Site {
    /// What a node with the default configuration says.
    fn default() -> Self {
        Site {
            public_host: "127.0.0.1".into(),
            http_port: 8080,
            https_port: 8443,
            sip_port: 5060,
            sips_port: 5061,
            node_name: "dialtone-1".into(),
        }
    }
}

impl Site {
    pub fn http_base(&self) -> String {
        format!("http://{}:{}", self.public_host, self.http_port)
    }

    pub fn https_base(&self) -> String {
        format!("https://{}:{}", self.public_host, self.https_port)
    }
}
