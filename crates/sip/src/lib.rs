//! Dialtone's SIP stack. Knows nothing of phones, lines or calls.
//!
//! - [`message`]: requests and responses parsed without copying (the buffer is kept, header
//!   positions indexed, typed headers decoded on demand), with size limits and typed errors
//!   that name the response a bad request deserves.
//! - [`uri`], [`header`]: SIP/SIPS/tel URIs, name-addr, Via.
//! - [`digest`]: server-side digest authentication (RFC 7616 / RFC 8760).
//! - [`build`]: writing responses and requests.
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod benchmark;
pub mod build;
pub mod dialog;
pub mod digest;
pub mod endpoint;
pub mod fuzzing;
pub mod guard;
pub mod header;
pub mod locate;
pub mod message;
pub mod method;
pub mod sdp;
pub mod shards;
pub mod uri;

pub use header::{Name, NameAddr, Via};
pub use message::{Limits, Message, ParseError};
pub use method::Method;
pub use uri::{Host, Scheme, Uri};
