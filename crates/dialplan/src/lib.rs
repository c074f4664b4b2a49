//! The dial plan engine: partitions, calling search spaces, Cisco patterns, closest match,
//! translation patterns, digit manipulation, route lists and the Local Route Group.
//!
//! Pure: a [`Plan`] is compiled from a [`PlanConfig`] snapshot (compiling can fail, naming the
//! entry at fault) and then answers [`Plan::analyse`] for every call without I/O and without
//! failing: every dialled string gets an [`Outcome`], and [`Plan::explain`] says why, as
//! Unified CM's Dialed Number Analyzer does.
#![forbid(unsafe_code)]

pub mod digits;
pub mod pattern;

use std::collections::HashMap;

use serde::Serialize;

pub use digits::{is_dialled, is_dialled_char, Discard};
pub use pattern::{Pattern, PatternError};

// ---------------------------------------------------------------------------------------------
// Configuration (what the store hands over)

#[derive(Debug, Clone, Default)]
pub struct PlanConfig {
    pub partitions: Vec<String>,
    /// Calling search spaces: name and partitions in search order.
    pub calling_search_spaces: Vec<(String, Vec<String>)>,
    pub route_groups: Vec<RouteGroupDef>,
    /// Route lists: name and route group names in order.
    pub route_lists: Vec<(String, Vec<String>)>,
    pub entries: Vec<EntryDef>,
    pub forced_authorization_codes: Vec<ForcedAuthorizationCode>,
    pub client_matter_codes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RouteGroupDef {
    pub name: String,
    pub trunks: Vec<String>,
    /// The Standard Local Route Group placeholder.
    pub local: bool,
}

#[derive(Debug, Clone)]
pub struct ForcedAuthorizationCode {
    pub code: String,
    pub name: String,
    pub level: u32,
}

#[derive(Debug, Clone)]
pub struct EntryDef {
    pub pattern: String,
    pub partition: Option<String>,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, Default)]
pub struct Manipulation {
    pub discard: Discard,
    pub prefix: String,
    pub called_mask: String,
    pub calling_mask: String,
    pub use_external_mask: bool,
}

#[derive(Debug, Clone)]
pub enum RouteTarget {
    RouteList(String),
    Trunk(String),
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    DirectoryNumber,
    /// A number owned by an application (CTI route point).
    RoutePoint,
    Route {
        /// None only when blocked.
        target: Option<RouteTarget>,
        blocked: bool,
        urgent: bool,
        manipulation: Manipulation,
        /// The authorization level a Forced Authorization Code must reach, when one is required.
        fac_level: Option<u32>,
        cmc: bool,
    },
    Translation {
        css: Option<String>,
        blocked: bool,
        urgent: bool,
        manipulation: Manipulation,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {message}")]
pub struct CompileError {
    /// What is at fault, e.g. `route pattern 9.! in PSTN_PT`.
    pub entry: String,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Answers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The whole number at once (SIP INVITE): the closest complete match routes.
    EnBloc,
    /// Digit by digit: wait while longer patterns could still match, unless urgent.
    Overlap,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    Line {
        number: String,
        partition: Option<String>,
    },
    RoutePoint {
        number: String,
        partition: Option<String>,
    },
    /// Trunks to try in order.
    Trunks { trunks: Vec<TrunkChoice> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrunkChoice {
    pub trunk: String,
    pub route_group: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub target: Target,
    /// The called number after every manipulation.
    pub called: String,
    pub calling: String,
    /// The pattern that routed the call, and its partition.
    pub pattern: String,
    pub partition: Option<String>,
    /// Translation patterns applied on the way, in order.
    pub translations: Vec<String>,
    /// The Forced Authorization Code's name and level, when one was required and given.
    pub fac: Option<(String, u32)>,
    pub cmc: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    ForcedAuthorization,
    ClientMatter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Route(Decision),
    /// Overlap dialling: longer patterns could still match; `best` routes at the interdigit
    /// timeout, if there is one.
    MoreDigits {
        best: Option<Box<Decision>>,
    },
    /// En bloc: only longer patterns match (SIP 484).
    Incomplete,
    /// Nothing matches (SIP 404).
    NoMatch,
    /// A blocked pattern won (SIP 403).
    Blocked {
        pattern: String,
        partition: Option<String>,
    },
    /// The route pattern needs a code after `#` that was not given.
    CodeRequired {
        code: Code,
        pattern: String,
    },
    /// The code given is not valid (or its level is too low).
    CodeRejected {
        code: Code,
        pattern: String,
    },
    /// Translation patterns sent the number round in a loop.
    TranslationLoop {
        pattern: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub steps: Vec<Step>,
}

/// One analysis of one number with one search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Step {
    pub dialled: String,
    pub partitions_searched: Vec<String>,
    pub notes: Vec<String>,
    /// Every pattern that matched the whole number, in search order.
    pub matched: Vec<Considered>,
    pub more_digits_possible: bool,
    pub chosen: Option<Considered>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Considered {
    pub pattern: String,
    pub partition: Option<String>,
    pub kind: &'static str,
    /// How many numbers of this length the pattern matches (fewer is closer).
    pub matches_at_length: String,
    pub variable_length: bool,
    pub urgent: bool,
}

// ---------------------------------------------------------------------------------------------
// The compiled plan

#[derive(Debug, Default)]
struct Node {
    lits: Vec<(u8, u32)>,
    edges: Vec<(pattern::Element, u32)>,
    ends: Vec<u32>,
}

#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![Node::default()],
        }
    }

    fn insert(&mut self, p: &Pattern, entry: u32) {
        let mut at = 0usize;
        for e in &p.elements {
            let existing = match e.literal() {
                Some(sym) => self.nodes[at]
                    .lits
                    .iter()
                    .find(|(s, _)| *s == sym)
                    .map(|(_, c)| *c),
                None => self.nodes[at]
                    .edges
                    .iter()
                    .find(|(x, _)| x == e)
                    .map(|(_, c)| *c),
            };
            let next = match existing {
                Some(c) => c,
                None => {
                    let c = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    match e.literal() {
                        Some(sym) => self.nodes[at].lits.push((sym, c)),
                        None => self.nodes[at].edges.push((*e, c)),
                    }
                    c
                }
            };
            at = next as usize;
        }
        self.nodes[at].ends.push(entry);
    }

    /// Collect the entries matching all of `syms`, and whether longer strings could match.
    fn walk(&self, node: u32, syms: &[u8], pos: usize, found: &mut Vec<u32>, more: &mut bool) {
        let n = &self.nodes[node as usize];
        if pos == syms.len() {
            found.extend_from_slice(&n.ends);
            if !n.lits.is_empty() || !n.edges.is_empty() {
                *more = true;
            }
        } else {
            let s = syms[pos];
            for &(sym, child) in &n.lits {
                if sym == s {
                    self.walk(child, syms, pos + 1, found, more);
                }
            }
        }
        for &(e, child) in &n.edges {
            match e.rep {
                pattern::Rep::One => {
                    if pos < syms.len() && e.accepts(syms[pos]) {
                        self.walk(child, syms, pos + 1, found, more);
                    }
                }
                rep => {
                    if rep == pattern::Rep::ZeroOrMore {
                        self.walk(child, syms, pos, found, more);
                    }
                    let mut k = pos;
                    while k < syms.len() && e.accepts(syms[k]) {
                        k += 1;
                        self.walk(child, syms, k, found, more);
                    }
                    if k == syms.len() {
                        // The repetition could take more digits.
                        *more = true;
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    pattern: Pattern,
    partition: Option<u32>,
    kind: EntryKind,
}

impl Entry {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            EntryKind::DirectoryNumber => "directory number",
            EntryKind::RoutePoint => "route point",
            EntryKind::Route { .. } => "route pattern",
            EntryKind::Translation { .. } => "translation pattern",
        }
    }

    fn urgent(&self) -> bool {
        matches!(
            self.kind,
            EntryKind::Route { urgent: true, .. } | EntryKind::Translation { urgent: true, .. }
        )
    }
}

/// A compiled dial plan; immutable, shared by every call.
#[derive(Debug)]
pub struct Plan {
    partitions: Vec<String>,
    partition_index: HashMap<String, u32>,
    /// One trie per partition, and a last one for patterns in no partition.
    tries: Vec<Trie>,
    css: HashMap<String, Vec<u32>>,
    entries: Vec<Entry>,
    route_groups: HashMap<String, RouteGroupDef>,
    route_lists: HashMap<String, Vec<String>>,
    facs: HashMap<String, (String, u32)>,
    cmcs: std::collections::HashSet<String>,
}

/// What the caller's side contributes to an analysis.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub dialled: &'a str,
    pub calling: &'a str,
    /// Calling search spaces in search order: the line's, then the device's (or, for Extension
    /// Mobility Cross Cluster, the adjunct CSS, the line's and the EMCC CSS).
    pub css: &'a [&'a str],
    /// The route group the calling device's pool binds to the Standard Local Route Group.
    pub local_route_group: Option<&'a str>,
    /// The calling line's external phone number mask.
    pub external_mask: Option<&'a str>,
    pub mode: Mode,
}

/// Most translation patterns one call may pass through.
const MAX_TRANSLATIONS: usize = 16;

fn entry_label(e: &EntryDef) -> String {
    let kind = match e.kind {
        EntryKind::DirectoryNumber => "directory number",
        EntryKind::RoutePoint => "route point",
        EntryKind::Route { .. } => "route pattern",
        EntryKind::Translation { .. } => "translation pattern",
    };
    match &e.partition {
        Some(p) => format!("{kind} {} in {p}", e.pattern),
        None => format!("{kind} {} in no partition", e.pattern),
    }
}

impl Plan {
    pub fn compile(config: &PlanConfig) -> Result<Plan, CompileError> {
        let err = |entry: String, message: String| Err(CompileError { entry, message });
        let mut partition_index = HashMap::with_capacity(config.partitions.len());
        for (i, p) in config.partitions.iter().enumerate() {
            if partition_index.insert(p.clone(), i as u32).is_some() {
                return err(format!("partition {p}"), "defined twice".into());
            }
        }
        let mut css = HashMap::with_capacity(config.calling_search_spaces.len());
        for (name, parts) in &config.calling_search_spaces {
            let mut ids = Vec::with_capacity(parts.len());
            for p in parts {
                match partition_index.get(p) {
                    Some(i) => ids.push(*i),
                    None => {
                        return err(
                            format!("calling search space {name}"),
                            format!("no partition {p}"),
                        )
                    }
                }
            }
            css.insert(name.clone(), ids);
        }
        let route_groups: HashMap<String, RouteGroupDef> = config
            .route_groups
            .iter()
            .map(|g| (g.name.clone(), g.clone()))
            .collect();
        let mut route_lists = HashMap::new();
        for (name, groups) in &config.route_lists {
            for g in groups {
                if !route_groups.contains_key(g) {
                    return err(format!("route list {name}"), format!("no route group {g}"));
                }
            }
            route_lists.insert(name.clone(), groups.clone());
        }
        let mut tries: Vec<Trie> = (0..=config.partitions.len()).map(|_| Trie::new()).collect();
        let mut entries = Vec::with_capacity(config.entries.len());
        let mut seen: HashMap<(Option<u32>, &str), ()> =
            HashMap::with_capacity(config.entries.len());
        for def in &config.entries {
            let label = || entry_label(def);
            let pattern = Pattern::parse(&def.pattern).map_err(|e| CompileError {
                entry: label(),
                message: e.to_string(),
            })?;
            let partition = match &def.partition {
                None => None,
                Some(p) => match partition_index.get(p) {
                    Some(i) => Some(*i),
                    None => return err(label(), format!("no partition {p}")),
                },
            };
            if seen.insert((partition, def.pattern.as_str()), ()).is_some() {
                return err(
                    label(),
                    "the same pattern is already in this partition".into(),
                );
            }
            match &def.kind {
                EntryKind::Route {
                    target, blocked, ..
                } => match target {
                    Some(RouteTarget::RouteList(rl)) if !route_lists.contains_key(rl) => {
                        return err(label(), format!("no route list {rl}"))
                    }
                    None if !blocked => {
                        return err(label(), "routes nowhere and is not blocked".into())
                    }
                    _ => {}
                },
                EntryKind::Translation { css: Some(c), .. } if !css.contains_key(c) => {
                    return err(label(), format!("no calling search space {c}"))
                }
                _ => {}
            }
            let id = entries.len() as u32;
            let slot = partition
                .map(|p| p as usize)
                .unwrap_or(config.partitions.len());
            tries[slot].insert(&pattern, id);
            entries.push(Entry {
                pattern,
                partition,
                kind: def.kind.clone(),
            });
        }
        Ok(Plan {
            partitions: config.partitions.clone(),
            partition_index,
            tries,
            css,
            entries,
            route_groups,
            route_lists,
            facs: config
                .forced_authorization_codes
                .iter()
                .map(|f| (f.code.clone(), (f.name.clone(), f.level)))
                .collect(),
            cmcs: config.client_matter_codes.iter().cloned().collect(),
        })
    }

    pub fn pattern_count(&self) -> usize {
        self.entries.len()
    }

    /// Decide where a call goes.
    pub fn analyse(&self, req: &Request) -> Outcome {
        self.run(req, &mut None)
    }

    /// Decide, and say why (the Dialed Number Analyzer).
    pub fn explain(&self, req: &Request) -> (Outcome, Explanation) {
        let mut ex = Some(Explanation::default());
        let out = self.run(req, &mut ex);
        (out, ex.unwrap_or_default())
    }

    fn partition_name(&self, p: Option<u32>) -> Option<String> {
        p.map(|i| self.partitions[i as usize].clone())
    }

    /// Partitions searched for these calling search spaces: each CSS's partitions in order,
    /// first occurrence kept, then the patterns in no partition (every CSS reaches those).
    fn search<'s>(&'s self, css: &[&str], notes: &mut Vec<String>) -> std::borrow::Cow<'s, [u32]> {
        // One calling search space (the common case) needs no merging: borrow it.
        if let [only] = css {
            if let Some(parts) = self.css.get(*only) {
                return std::borrow::Cow::Borrowed(parts.as_slice());
            }
        }
        let mut out: Vec<u32> = Vec::new();
        for name in css {
            match self.css.get(*name) {
                Some(parts) => {
                    for p in parts {
                        if !out.contains(p) {
                            out.push(*p);
                        }
                    }
                }
                None => notes.push(format!("no calling search space named {name}")),
            }
        }
        std::borrow::Cow::Owned(out)
    }

    fn run(&self, req: &Request, ex: &mut Option<Explanation>) -> Outcome {
        self.analyse_number(req, req.dialled, req.calling, req.css, Vec::new(), ex)
    }

    fn considered(&self, id: u32, len: usize) -> Considered {
        let e = &self.entries[id as usize];
        Considered {
            pattern: e.pattern.text.clone(),
            partition: self.partition_name(e.partition),
            kind: e.kind_name(),
            matches_at_length: e.pattern.count_at(len).to_string(),
            variable_length: e.pattern.is_variable(),
            urgent: e.urgent(),
        }
    }

    /// Candidates matching `number` completely, best first, and whether more digits could match.
    fn candidates(&self, number: &str, search: &[u32]) -> (Vec<u32>, bool) {
        // Dialled strings live on the stack; anything longer than a pattern can be matches nothing.
        let mut buf = [0u8; pattern::MAX_ELEMENTS * 4];
        let mut len = 0;
        for c in number.chars() {
            match (pattern::symbol(c), buf.get_mut(len)) {
                (Some(sym), Some(slot)) => *slot = sym,
                _ => return (Vec::new(), false),
            }
            len += 1;
        }
        let syms = &buf[..len];
        let mut more = false;
        let mut ranked: Vec<(u32, usize)> = Vec::new();
        let mut found = Vec::new();
        let none_slot = self.partitions.len() as u32;
        for (rank, p) in search
            .iter()
            .copied()
            .chain(std::iter::once(none_slot))
            .enumerate()
        {
            found.clear();
            self.tries[p as usize].walk(0, syms, 0, &mut found, &mut more);
            found.sort_unstable();
            found.dedup();
            ranked.extend(found.iter().map(|id| (*id, rank)));
        }
        if ranked.len() > 1 {
            // Closest match: fixed-length patterns before variable ones, then the fewest
            // numbers of this length, then the earlier partition in the search, then the
            // order the patterns were configured in.
            let len = syms.len();
            let mut keyed: Vec<((bool, u128, usize, u32), u32)> = ranked
                .iter()
                .map(|(id, rank)| {
                    let p = &self.entries[*id as usize].pattern;
                    ((p.is_variable(), p.count_at(len), *rank, *id), *id)
                })
                .collect();
            keyed.sort_unstable();
            return (keyed.into_iter().map(|(_, id)| id).collect(), more);
        }
        (ranked.into_iter().map(|(id, _)| id).collect(), more)
    }

    fn analyse_number(
        &self,
        req: &Request,
        number: &str,
        calling: &str,
        css: &[&str],
        translations: Vec<String>,
        ex: &mut Option<Explanation>,
    ) -> Outcome {
        let mut notes = Vec::new();
        let search = self.search(css, &mut notes);
        let (cands, more) = self.candidates(number, &search);
        let mut step = ex.as_ref().map(|_| Step {
            dialled: number.to_string(),
            partitions_searched: search
                .iter()
                .map(|p| self.partitions[*p as usize].clone())
                .chain(std::iter::once("<None>".to_string()))
                .collect(),
            notes: notes.clone(),
            matched: cands
                .iter()
                .map(|id| self.considered(*id, number.chars().count()))
                .collect(),
            more_digits_possible: more,
            chosen: None,
            reason: String::new(),
        });
        let finish = |ex: &mut Option<Explanation>, step: Option<Step>| {
            if let (Some(ex), Some(step)) = (ex.as_mut(), step) {
                ex.steps.push(step);
            }
        };

        let Some(&best) = cands.first() else {
            // No complete match: perhaps the number carries codes after '#'.
            if let Some(out) =
                self.with_codes(req, number, calling, css, &translations, ex, &mut step)
            {
                return out;
            }
            let (out, reason) = if more {
                match req.mode {
                    Mode::EnBloc => (Outcome::Incomplete, "only longer patterns match"),
                    Mode::Overlap => (
                        Outcome::MoreDigits { best: None },
                        "longer patterns could still match",
                    ),
                }
            } else {
                (Outcome::NoMatch, "no pattern matches")
            };
            if let Some(s) = step.as_mut() {
                s.reason = reason.into();
            }
            finish(ex, step);
            return out;
        };
        let entry = &self.entries[best as usize];
        if let Some(s) = step.as_mut() {
            s.chosen = Some(self.considered(best, number.chars().count()));
            s.reason = if cands.len() == 1 {
                "the only pattern that matches".into()
            } else {
                let second = &self.entries[cands[1] as usize];
                let len = number.chars().count();
                if entry.pattern.is_variable() != second.pattern.is_variable() {
                    format!("closest match: fixed length beats {}", second.pattern.text)
                } else if entry.pattern.count_at(len) != second.pattern.count_at(len) {
                    format!(
                        "closest match: {} numbers of this length against {} for {}",
                        entry.pattern.count_at(len),
                        second.pattern.count_at(len),
                        second.pattern.text
                    )
                } else {
                    format!(
                        "as close as {}; its partition comes first in the search",
                        second.pattern.text
                    )
                }
            };
        }
        if req.mode == Mode::Overlap && more && !entry.urgent() {
            let decided = self.decide(req, best, number, calling, translations, &mut None, None);
            if let Some(s) = step.as_mut() {
                s.reason = format!(
                    "{}; waiting for more digits (the pattern is not urgent)",
                    s.reason
                );
            }
            finish(ex, step);
            return Outcome::MoreDigits {
                best: match decided {
                    Outcome::Route(d) => Some(Box::new(d)),
                    _ => None,
                },
            };
        }
        finish(ex, step);
        self.decide(req, best, number, calling, translations, ex, None)
    }

    /// Try `number` as `digits#code[#code]`, for route patterns that require codes.
    #[allow(clippy::too_many_arguments)]
    fn with_codes(
        &self,
        req: &Request,
        number: &str,
        calling: &str,
        css: &[&str],
        translations: &[String],
        ex: &mut Option<Explanation>,
        step: &mut Option<Step>,
    ) -> Option<Outcome> {
        let mut notes = Vec::new();
        let search = self.search(css, &mut notes);
        for (pos, _) in number.match_indices('#') {
            let (digits, codes) = (&number[..pos], &number[pos + 1..]);
            let (cands, _) = self.candidates(digits, &search);
            let Some(&best) = cands.first() else { continue };
            let needs_code = matches!(
                self.entries[best as usize].kind,
                EntryKind::Route {
                    fac_level: Some(_),
                    ..
                } | EntryKind::Route { cmc: true, .. }
            );
            if !needs_code {
                continue;
            }
            if let Some(s) = step.as_mut() {
                s.chosen = Some(self.considered(best, digits.chars().count()));
                s.reason = format!("{digits} matches; the digits after '#' are codes");
            }
            if let (Some(e), Some(s)) = (ex.as_mut(), step.take()) {
                e.steps.push(s);
            }
            return Some(self.decide(
                req,
                best,
                digits,
                calling,
                translations.to_vec(),
                ex,
                Some(codes),
            ));
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        req: &Request,
        id: u32,
        number: &str,
        calling: &str,
        mut translations: Vec<String>,
        ex: &mut Option<Explanation>,
        codes: Option<&str>,
    ) -> Outcome {
        let e = &self.entries[id as usize];
        let partition = self.partition_name(e.partition);
        let line = |target| {
            Outcome::Route(Decision {
                target,
                called: number.to_string(),
                calling: calling.to_string(),
                pattern: e.pattern.text.clone(),
                partition: partition.clone(),
                translations: translations.clone(),
                fac: None,
                cmc: None,
            })
        };
        match &e.kind {
            EntryKind::DirectoryNumber => line(Target::Line {
                number: e.pattern.text.clone(),
                partition: partition.clone(),
            }),
            EntryKind::RoutePoint => line(Target::RoutePoint {
                number: e.pattern.text.clone(),
                partition: partition.clone(),
            }),
            EntryKind::Translation {
                css,
                blocked,
                manipulation,
                ..
            } => {
                if *blocked {
                    return Outcome::Blocked {
                        pattern: e.pattern.text.clone(),
                        partition,
                    };
                }
                let label = format!(
                    "{} in {}",
                    e.pattern.text,
                    partition.as_deref().unwrap_or("<None>")
                );
                let called = self.called(e, number, manipulation);
                let new_calling = self.calling(req, calling, manipulation);
                if translations.len() >= MAX_TRANSLATIONS
                    || translations.iter().filter(|t| **t == label).count() >= 2
                {
                    return Outcome::TranslationLoop {
                        pattern: e.pattern.text.clone(),
                    };
                }
                translations.push(label);
                let css: Vec<&str> = css.iter().map(String::as_str).collect();
                self.analyse_number(req, &called, &new_calling, &css, translations, ex)
            }
            EntryKind::Route {
                target,
                blocked,
                manipulation,
                fac_level,
                cmc,
                ..
            } => {
                if *blocked {
                    return Outcome::Blocked {
                        pattern: e.pattern.text.clone(),
                        partition,
                    };
                }
                let mut given = codes.map(|c| c.split('#')).into_iter().flatten();
                let fac = match fac_level {
                    None => None,
                    Some(level) => match given.next() {
                        None | Some("") => {
                            return Outcome::CodeRequired {
                                code: Code::ForcedAuthorization,
                                pattern: e.pattern.text.clone(),
                            }
                        }
                        Some(code) => match self.facs.get(code) {
                            Some((name, l)) if l >= level => Some((name.clone(), *l)),
                            _ => {
                                return Outcome::CodeRejected {
                                    code: Code::ForcedAuthorization,
                                    pattern: e.pattern.text.clone(),
                                }
                            }
                        },
                    },
                };
                let cmc_code = if *cmc {
                    match given.next() {
                        None | Some("") => {
                            return Outcome::CodeRequired {
                                code: Code::ClientMatter,
                                pattern: e.pattern.text.clone(),
                            }
                        }
                        Some(code) if self.cmcs.contains(code) => Some(code.to_string()),
                        Some(_) => {
                            return Outcome::CodeRejected {
                                code: Code::ClientMatter,
                                pattern: e.pattern.text.clone(),
                            }
                        }
                    }
                } else {
                    None
                };
                let trunks = match target {
                    Some(RouteTarget::Trunk(t)) => vec![TrunkChoice {
                        trunk: t.clone(),
                        route_group: String::new(),
                    }],
                    Some(RouteTarget::RouteList(rl)) => self.expand(rl, req, ex),
                    None => Vec::new(),
                };
                Outcome::Route(Decision {
                    target: Target::Trunks { trunks },
                    called: self.called(e, number, manipulation),
                    calling: self.calling(req, calling, manipulation),
                    pattern: e.pattern.text.clone(),
                    partition,
                    translations,
                    fac,
                    cmc: cmc_code,
                })
            }
        }
    }

    /// Route list -> route groups -> trunks, the Local Route Group resolved for this caller.
    fn expand(
        &self,
        route_list: &str,
        req: &Request,
        ex: &mut Option<Explanation>,
    ) -> Vec<TrunkChoice> {
        let mut out = Vec::new();
        for g in self.route_lists.get(route_list).into_iter().flatten() {
            let group = &self.route_groups[g];
            let actual = if group.local {
                match req.local_route_group.and_then(|n| self.route_groups.get(n)) {
                    Some(lrg) => lrg,
                    None => {
                        if let Some(s) = ex.as_mut().and_then(|e| e.steps.last_mut()) {
                            s.notes.push(
                                "the caller's device pool binds no Local Route Group; skipped"
                                    .into(),
                            );
                        }
                        continue;
                    }
                }
            } else {
                group
            };
            for t in &actual.trunks {
                out.push(TrunkChoice {
                    trunk: t.clone(),
                    route_group: actual.name.clone(),
                });
            }
        }
        out
    }

    /// Called number: discard, then the called party mask, then the prefix.
    fn called(&self, e: &Entry, number: &str, m: &Manipulation) -> String {
        let n = digits::discard(&e.pattern, number, m.discard);
        let n = digits::mask(&n, &m.called_mask);
        format!("{}{n}", m.prefix)
    }

    /// Calling number: the line's external mask (when the pattern asks), then the calling mask.
    fn calling(&self, req: &Request, calling: &str, m: &Manipulation) -> String {
        let c = match (m.use_external_mask, req.external_mask) {
            (true, Some(mask)) => digits::mask(calling, mask),
            _ => calling.to_string(),
        };
        digits::mask(&c, &m.calling_mask)
    }

    /// The partition index of a name (for tools and tests).
    pub fn has_partition(&self, name: &str) -> bool {
        self.partition_index.contains_key(name)
    }
}
