//! What the tests and the benchmarks start, written once so both measure and check the same
//! thing: [`node`], a `dialtone serve` process on loopback with every port ephemeral (its
//! addresses read from the line it prints when it listens), and [`testserver`], the minimal
//! registrar and UAS built from the `sip` crate that sipp drives in the SIP conformance tests
//! and the transaction-layer benchmark; and [`rtp`], an independent RTP listener (Python) for
//! the media tests.
//!
//! A node runs as a process, not inside the test: tests measure its own CPU time and memory
//! (`/proc/<pid>`), kill it with SIGKILL to prove nothing acknowledged is lost, and read what
//! it prints, none of which a node sharing the test's process would allow.

pub mod node;
pub mod rtp;
pub mod testserver;
