//! Where a call goes: the dial plan's decision, then the called line's features (forward all,
//! do not disturb, busy, unregistered), following forwards until a line rings, trunks are
//! tried, or the call fails with the SIP status a phone understands. Routing only decides:
//! its unit tests (`routing/tests.rs`) build a configuration and contacts in memory.

use std::sync::Arc;

use dialtone_dialplan::{Code, Decision, Mode, Outcome, Request, Target};
use dialtone_store::directory::{Forward, TrunkConfig};

use crate::directory::{Line, LineKey, Snapshot};
use crate::registrar::{Binding, Registrar};

/// Why a call left a line for another number (RFC 5806 Diversion reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unconditional,
    UserBusy,
    NoAnswer,
    Unavailable,
    /// An application sent the call elsewhere (CTI redirect).
    Deflection,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unconditional => "unconditional",
            Reason::UserBusy => "user-busy",
            Reason::NoAnswer => "no-answer",
            Reason::Unavailable => "unavailable",
            Reason::Deflection => "deflection",
        }
    }
}

/// One hop of forwarding: the line that forwarded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    pub from: String,
    pub reason: Reason,
}

/// The caller's side of an analysis.
#[derive(Debug, Clone)]
pub struct CallingParty {
    pub number: String,
    pub name: String,
    /// Calling search spaces in order (line then device, or the trunk's).
    pub css: Vec<String>,
    pub device: Option<String>,
    pub line: Option<LineKey>,
    pub local_route_group: Option<String>,
    pub external_mask: Option<String>,
}

/// Where the call goes now.
#[derive(Debug)]
pub enum Routing {
    Ring {
        line: Arc<Line>,
        contacts: Vec<Binding>,
        decision: Decision,
    },
    /// A number an application owns (CTI route point): call control offers it.
    RoutePoint { line: Arc<Line>, decision: Decision },
    Trunks {
        trunks: Vec<TrunkConfig>,
        decision: Decision,
    },
    Fail {
        code: u16,
        why: String,
        decision: Option<Decision>,
    },
    /// The route pattern needs `code` after the number, which `number` (as dialled after any
    /// forwarding) does not carry.
    CodeNeeded {
        code: Code,
        pattern: String,
        number: String,
    },
}

/// Forwarding state carried across every hop of one call.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    pub diversions: Vec<Diversion>,
    visited: Vec<LineKey>,
}

/// What routing needs to know about lines beyond the snapshot: who is busy.
pub trait Load {
    fn calls_on(&self, line: &LineKey) -> u32;
}

/// Where a line rings: the live contacts of the devices that carry it (the registrar's).
pub trait Contacts {
    fn contacts(&self, snapshot: &Snapshot, line: &LineKey) -> Vec<Binding>;
}

impl Contacts for Registrar {
    fn contacts(&self, snapshot: &Snapshot, line: &LineKey) -> Vec<Binding> {
        Registrar::contacts(self, snapshot, line)
    }
}

/// Routing's inputs, all owned elsewhere: so a route is decided (and tested) without sockets.
pub struct CallRouter<'a> {
    pub snapshot: &'a Snapshot,
    pub contacts: &'a dyn Contacts,
    pub load: &'a dyn Load,
    /// Most forwarding hops one call may take (Unified CM's Forward Maximum Hop Count).
    pub max_hops: usize,
}

impl CallRouter<'_> {
    /// Route `dialled` searched with `css`, following forward-all, busy and unregistered.
    pub fn route(&self, caller: &CallingParty, dialled: &str, chain: &mut Chain) -> Routing {
        let mut dialled = dialled.to_string();
        let mut css: Vec<String> = caller.css.clone();
        loop {
            let css_refs: Vec<&str> = css.iter().map(String::as_str).collect();
            let outcome = self.snapshot.plan().analyse(&Request {
                dialled: &dialled,
                calling: &caller.number,
                css: &css_refs,
                local_route_group: caller.local_route_group.as_deref(),
                external_mask: caller.external_mask.as_deref(),
                mode: Mode::EnBloc,
            });
            let decision = match outcome {
                Outcome::Route(d) => d,
                Outcome::MoreDigits { .. } | Outcome::Incomplete => {
                    return fail(484, format!("{dialled}: only longer patterns match"), None)
                }
                Outcome::NoMatch => {
                    return fail(404, format!("{dialled}: no pattern matches"), None)
                }
                Outcome::Blocked { pattern, .. } => {
                    return fail(
                        403,
                        format!("{dialled}: blocked by pattern {pattern}"),
                        None,
                    )
                }
                Outcome::CodeRequired { code, pattern } => {
                    // The codes already given come after the number: ask for the next one.
                    let number = dialled.split('#').next().unwrap_or("").to_string();
                    return Routing::CodeNeeded {
                        code,
                        pattern,
                        number,
                    };
                }
                Outcome::CodeRejected { code, pattern } => {
                    return fail(
                        403,
                        format!("{pattern}: the {code:?} code is not valid"),
                        None,
                    )
                }
                Outcome::TranslationLoop { pattern } => {
                    return fail(482, format!("translation loop at {pattern}"), None)
                }
            };
            match &decision.target {
                Target::Trunks { trunks } => {
                    let trunks: Vec<TrunkConfig> = trunks
                        .iter()
                        .filter_map(|c| self.snapshot.trunk(&c.trunk).cloned())
                        .collect();
                    if trunks.is_empty() {
                        return fail(503, "the route list has no trunk".into(), Some(decision));
                    }
                    return Routing::Trunks { trunks, decision };
                }
                Target::RoutePoint { number, partition } => {
                    let key = LineKey {
                        number: number.clone(),
                        partition: partition.clone(),
                    };
                    let Some(line) = self.snapshot.line(&key).cloned() else {
                        return fail(404, format!("{key}: no such route point"), Some(decision));
                    };
                    if chain.visited.contains(&key) || chain.diversions.len() >= self.max_hops {
                        return fail(482, format!("forwarding loop at {key}"), Some(decision));
                    }
                    chain.visited.push(key);
                    return Routing::RoutePoint { line, decision };
                }
                Target::Line { number, partition } => {
                    let key = LineKey {
                        number: number.clone(),
                        partition: partition.clone(),
                    };
                    let Some(line) = self.snapshot.line(&key).cloned() else {
                        return fail(404, format!("{key}: no such line"), Some(decision));
                    };
                    if chain.visited.contains(&key) || chain.diversions.len() >= self.max_hops {
                        let why = format!("forwarding loop at {key}");
                        return fail(482, why, Some(decision));
                    }
                    chain.visited.push(key.clone());
                    let divert = |f: &Forward, reason, chain: &mut Chain| {
                        chain.diversions.push(Diversion {
                            from: key.number.clone(),
                            reason,
                        });
                        (f.destination.clone(), f.css.iter().cloned().collect())
                    };
                    let c = &line.config;
                    if c.forward_all.is_set() {
                        (dialled, css) = divert(&c.forward_all, Reason::Unconditional, chain);
                        continue;
                    }
                    if c.dnd {
                        return fail(486, format!("{key}: do not disturb"), Some(decision));
                    }
                    if self.load.calls_on(&key) >= c.busy_trigger.max(1) {
                        if c.forward_busy.is_set() {
                            (dialled, css) = divert(&c.forward_busy, Reason::UserBusy, chain);
                            continue;
                        }
                        return fail(486, format!("{key}: busy"), Some(decision));
                    }
                    let mut contacts = self.contacts.contacts(self.snapshot, &key);
                    if caller.line.as_ref() == Some(&key) {
                        // Calling one's own number rings the line's other devices only.
                        contacts.retain(|b| Some(&b.device) != caller.device.as_ref());
                        if contacts.is_empty() && self.has_other_device(&line, caller) {
                            return fail(480, format!("{key}: not registered"), Some(decision));
                        }
                        if contacts.is_empty() {
                            return fail(486, format!("{key}: calling oneself"), Some(decision));
                        }
                    }
                    // A phone in Do Not Disturb is not offered the call; when every registered
                    // phone of the line is, the caller hears busy.
                    let registered = !contacts.is_empty();
                    contacts.retain(|b| !self.snapshot.device(&b.device).is_some_and(|d| d.dnd));
                    if registered && contacts.is_empty() {
                        return fail(486, format!("{key}: do not disturb"), Some(decision));
                    }
                    if contacts.is_empty() {
                        if c.forward_unregistered.is_set() {
                            (dialled, css) =
                                divert(&c.forward_unregistered, Reason::Unavailable, chain);
                            continue;
                        }
                        return fail(480, format!("{key}: not registered"), Some(decision));
                    }
                    return Routing::Ring {
                        line,
                        contacts,
                        decision,
                    };
                }
            }
        }
    }

    fn has_other_device(&self, line: &Line, caller: &CallingParty) -> bool {
        line.devices
            .iter()
            .any(|d| Some(d) != caller.device.as_ref())
    }
}

fn fail(code: u16, why: String, decision: Option<Decision>) -> Routing {
    Routing::Fail {
        code,
        why,
        decision,
    }
}

#[cfg(test)]
mod tests;
