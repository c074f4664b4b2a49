//! Cisco IP Phone XML: the fifteen CiscoIPPhone objects (`objects`), the URIs phones act on
//! (`uri`) and the per-device configuration file `SEP<MAC>.cnf.xml` (`config`), over one small
//! element tree (`tree`). Pure: no I/O; malformed input is an error value, never a panic.
#![forbid(unsafe_code)]

pub mod config;
pub mod model;
pub mod objects;
pub mod remotecc;
pub mod tree;
pub mod uri;

pub use objects::*;
pub use tree::Element;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    #[error("document of {0} bytes is too large")]
    TooLarge(usize),
    #[error("{field}: at most {limit}, got {got}")]
    Limit {
        field: &'static str,
        limit: usize,
        got: usize,
    },
    #[error("{field}: must be {lo}..={hi}, got {got}")]
    Range {
        field: &'static str,
        lo: i64,
        hi: i64,
        got: i64,
    },
    #[error("{field}: not allowed: {got:?}")]
    Value { field: &'static str, got: String },
    #[error("not a CiscoIPPhone object: <{0}>")]
    UnknownObject(String),
}
