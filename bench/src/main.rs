//! Dialtone's benchmarks. Each prints a median over repeated rounds; where an anchor (Kamailio,
//! sipp) runs on this machine, it is measured in the same run and the ratio printed, since
//! these machines are shared and noisy.
//!
//! One file per group of benchmarks (`auth`, `api`, `phones`, `em`, `webdialer`, `dialplan`,
//! `sip`, `sip_node`, `cti`, `media`, `paging`, `soak`), over what they share: `harness` (rows, medians, a demo
//! node on loopback), `anchors` (sipp steps, the SIP kit, Kamailio, ratios) and `rig` (the
//! call-rate rig). This file reads the command line and prints the table.
#![forbid(unsafe_code)]

// The same minimal SIP server the sipp conformance tests drive.
use dialtone_testkit::testserver;

mod soak;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone_store::secrets::{hash_secret, verify_secret, CredentialCache};

mod anchors;
mod api;
mod auth;
mod cti;
mod dialplan;
mod em;
mod harness;
mod media;
mod paging;
mod phones;
mod rig;
mod sip;
mod sip_node;
mod webdialer;
use anchors::*;
use api::*;
use auth::*;
use cti::*;
use dialplan::*;
use em::*;
use harness::*;
use media::*;
use paging::*;
use phones::*;
use rig::*;
use sip::*;
use sip_node::*;
use webdialer::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut binary = "target/release/dialtone".to_string();
    let mut filter = String::new();
    let mut i = 1;
    while i < args.len() {
        if args[i] == "--print-invite" {
            // For looking closer: cargo run --release -p dialtone-sip --example parse_split FILE
            use std::io::Write;
            std::io::stdout().write_all(&invite_1kb()).unwrap();
            return;
        }
        if args[i] == "--dialtone" {
            binary = args[i + 1].clone();
            i += 2;
        } else {
            filter = args[i].clone();
            i += 1;
        }
    }
    // A filter naming a benchmark exactly runs that one (`sip` is not also `sip-node`);
    // otherwise every benchmark whose name contains it.
    const NAMES: &[&str] = &[
        "auth",
        "sip",
        "sip-register",
        "sip-node",
        "cti",
        "dialplan",
        "api",
        "phones",
        "fleet",
        "em",
        "webdialer",
        "redirector",
        "soak",
        "media",
        "paging",
    ];
    let exact = NAMES.contains(&filter.as_str());
    let wanted =
        |name: &str| filter.is_empty() || name == filter || (!exact && name.contains(&filter));
    let mut rows = Vec::new();
    if wanted("auth") {
        rows.push(argon2_verify());
        rows.push(cached_verify());
    }
    if wanted("sip") {
        rows.extend(sip_rows());
    }
    if wanted("sip-register") {
        rows.extend(sip_register_rows());
    }
    if wanted("sip-node") {
        rows.extend(sip_node_rows(&binary));
    }
    if wanted("cti") {
        rows.extend(cti_rows(&binary));
    }
    if wanted("dialplan") {
        rows.extend(dialplan_rows());
    }
    if wanted("api") {
        rows.extend(api_rows(&binary));
    }
    if wanted("phones") {
        rows.extend(phone_rows(&binary));
    }
    if wanted("fleet") {
        rows.extend(fleet_rows(&binary));
    }
    if wanted("em") {
        rows.extend(em_rows(&binary));
    }
    if wanted("webdialer") {
        rows.extend(webdialer_rows(&binary));
    }
    if wanted("redirector") {
        rows.extend(redirector_rows(&binary));
    }
    if wanted("media") {
        rows.extend(media_rows());
    }
    if wanted("paging") {
        rows.extend(paging_rows(&binary));
    }
    if wanted("soak") {
        soak::run(&binary);
    }
    println!("| benchmark | median | unit | target | anchor (same run) |");
    println!("|---|---:|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.3} | {} | {} | {} |",
            r.name, r.median, r.unit, r.target, r.anchor
        );
    }
}
