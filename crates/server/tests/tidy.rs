//! The map that checks itself: the rules ARCHITECTURE.md states about where things may live,
//! checked over the whole workspace, so a change that breaks one fails here rather than in a
//! review. Each rule is a function over files' paths and text; the unit tests below show each
//! one failing on a deliberate violation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Crates that must not see the database driver: every one but the store.
const DATABASE_CRATE: &str = "store";
/// Core crates that must not see HTTP (axum): they are used by transports, not transports.
const NO_HTTP: &[&str] = &[
    "sip",
    "dialplan",
    "phone-xml",
    "callcontrol",
    "cti",
    "store",
];
/// Applications and the layers they stand on that must not see SIP: they reach calls through
/// CTI (and phones through call control).
const NO_SIP: &[&str] = &[
    "cti",
    "mobility",
    "webdialer",
    "services",
    "provisioning",
    "admin",
    "web",
    "platform",
];
/// Where the node's table of applications is: the application layer is what it lists
/// (`dialtone_<crate>::app,`), so adding an application is its crate, the server's dependency
/// on it and one line there. Each stands on the platform crates (`platform`, `web`, `cti`,
/// `provisioning`, `store`, `phone-xml`), never on another application or on the admin API.
const APPLICATION_TABLE: &str = "crates/server/src/node.rs";
/// Applications that must be in the table (the ones this batch has); others join by their line.
const KNOWN_APPLICATIONS: &[&str] = &["services", "mobility", "webdialer"];

/// The crates the node's table starts, by directory name.
fn applications_in(table: &str) -> Vec<String> {
    let Some(start) = table.find("const APPLICATIONS") else {
        return Vec::new();
    };
    let body = &table[start..table[start..].find("];").map_or(table.len(), |e| start + e)];
    body.split("dialtone_")
        .skip(1)
        .filter_map(|rest| rest.split_once("::app,"))
        .map(|(name, _)| name.replace('_', "-"))
        .collect()
}
/// Where markup (XML, HTML) may be written: the phone XML crate, and WebDialer's SOAP and
/// page writers (its pages are its own; the consoles to come will share a writer in `web`
/// when a second one needs it).
const MARKUP_WRITERS: &[&str] = &[
    "crates/phone-xml/src/",
    "crates/webdialer/src/soap.rs",
    "crates/webdialer/src/html.rs",
    "crates/webdialer/src/redirector.rs",
];
/// Past this many lines a source file asks to be cut (tests may be longer).
const MAX_SOURCE_LINES: usize = 800;
const MAX_TEST_LINES: usize = 1200;
/// Files already past the limit, each with the ceiling it may not grow beyond: the list only
/// shrinks, as they are cut.
const OVERSIZE: &[(&str, usize)] = &[
    ("crates/store/src/catalogue.rs", 850),
    ("crates/phonesim/src/lib.rs", 1150),
    ("crates/store/src/records.rs", 1000),
    ("crates/phone-xml/src/objects.rs", 1010),
    ("crates/dialplan/src/lib.rs", 955),
];

struct Workspace {
    root: PathBuf,
    /// Source files by path relative to the root, with their text.
    files: BTreeMap<String, String>,
    /// Each member crate's directory name and its manifest's text.
    manifests: BTreeMap<String, String>,
}

fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap();
    let mut files = BTreeMap::new();
    let mut manifests = BTreeMap::new();
    let mut dirs: Vec<PathBuf> = vec![root.join("bench")];
    for e in std::fs::read_dir(root.join("crates")).unwrap() {
        dirs.push(e.unwrap().path());
    }
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        manifests.insert(
            name,
            std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(),
        );
        for sub in ["src", "tests", "examples", "fuzz/fuzz_targets"] {
            collect(&root, &dir.join(sub), &mut files);
        }
    }
    Workspace {
        root,
        files,
        manifests,
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            out.insert(rel, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The crate directory a workspace path belongs to (`crates/sip/src/x.rs` -> `sip`).
fn crate_of(path: &str) -> &str {
    match path.strip_prefix("crates/") {
        Some(rest) => rest.split('/').next().unwrap_or(""),
        None => path.split('/').next().unwrap_or(""),
    }
}

/// The text of a file before its first `#[cfg(test)]` (unit tests may write what the code
/// under test reads).
fn non_test(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// The names of a manifest's dependencies of every kind.
fn dependencies(manifest: &str) -> Vec<String> {
    let v: toml::Value = toml::from_str(manifest).unwrap();
    let mut out = Vec::new();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = v.get(table).and_then(|t| t.as_table()) {
            out.extend(t.keys().cloned());
        }
    }
    out
}

/// Rule: a crate may not depend on, or name in its code, what it must not see.
fn forbidden_uses(
    manifests: &BTreeMap<String, String>,
    files: &BTreeMap<String, String>,
    crates: &[&str],
    dependency: &str,
    path_prefix: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for krate in crates {
        if let Some(m) = manifests.get(*krate) {
            if dependencies(m).iter().any(|d| d == dependency) {
                out.push(format!("crates/{krate}/Cargo.toml depends on {dependency}"));
            }
        }
    }
    for (path, text) in files {
        if crates.contains(&crate_of(path)) && text.contains(path_prefix) {
            out.push(format!("{path} uses {path_prefix}"));
        }
    }
    out
}

/// Rule: only the store sees sqlx.
fn database_outside_store(
    manifests: &BTreeMap<String, String>,
    files: &BTreeMap<String, String>,
) -> Vec<String> {
    let others: Vec<&str> = manifests
        .keys()
        .map(String::as_str)
        .filter(|k| *k != DATABASE_CRATE)
        .collect();
    forbidden_uses(manifests, files, &others, "sqlx", "sqlx::")
}

/// Rule: applications form one flat layer. Each application the table starts (and each of
/// this batch's, which must be there) depends on no other application and not on `admin`.
fn applications_not_flat(
    manifests: &BTreeMap<String, String>,
    files: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let table = files.get(APPLICATION_TABLE).map_or("", String::as_str);
    let apps = applications_in(table);
    for known in KNOWN_APPLICATIONS {
        if !apps.iter().any(|a| a == known) {
            out.push(format!(
                "{APPLICATION_TABLE} does not start {known} (`dialtone_{}::app,`)",
                known.replace('-', "_")
            ));
        }
    }
    for app in &apps {
        let Some(m) = manifests.get(app.as_str()) else {
            out.push(format!("application {app} is not a workspace member"));
            continue;
        };
        for other in apps
            .iter()
            .filter(|o| *o != app)
            .map(String::as_str)
            .chain(["admin"])
        {
            if dependencies(m)
                .iter()
                .any(|d| *d == format!("dialtone-{other}"))
            {
                out.push(format!(
                    "crates/{app}/Cargo.toml depends on dialtone-{other}"
                ));
            }
        }
    }
    out
}

/// Rule: every Rust file opens with a `//!` paragraph saying what it is for.
fn undocumented(files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| format!("{path} does not open with a //! paragraph"))
        .collect()
}

/// Rule: markup is written by the markup writers only (a closing tag in a string literal of
/// code, outside unit tests, writes markup).
fn markup_outside_writers(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let in_src = path.starts_with("crates/") && path.contains("/src/");
        if !in_src || MARKUP_WRITERS.iter().any(|w| path.starts_with(w)) {
            continue;
        }
        for (n, line) in non_test(text).lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let closes_a_tag = code.match_indices("</").any(|(i, _)| {
                code[i + 2..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
            });
            if closes_a_tag && code.contains('"') {
                out.push(format!("{path}:{} writes markup: {code}", n + 1));
            }
        }
    }
    out
}

/// Rule: a file past the size that says "split me" fails, unless it is a listed one within
/// its ceiling.
fn oversized(files: &BTreeMap<String, String>, oversize: &[(&str, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        let lines = text.lines().count();
        let limit = if path.contains("/tests/") {
            MAX_TEST_LINES
        } else {
            MAX_SOURCE_LINES
        };
        let ceiling = oversize
            .iter()
            .find(|(p, _)| p == path)
            .map_or(limit, |(_, c)| *c);
        if lines > ceiling {
            out.push(format!(
                "{path} has {lines} lines (at most {ceiling}): split it by what its parts do"
            ));
        }
    }
    out
}

/// Rule: no public function answers with a bare `String` for its error: a library's callers
/// get an error type they can match (a `thiserror` enum or a named error).
fn stringly_errors(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        if !(path.starts_with("crates/") && path.contains("/src/")) {
            continue;
        }
        let mut public = false;
        for (n, line) in non_test(text).lines().enumerate() {
            let code = line.trim_start();
            if code.contains("fn ") && !code.starts_with("//") {
                public = code.starts_with("pub fn ") || code.starts_with("pub async fn ");
            }
            if public && code.contains("-> Result<") && code.contains(", String>") {
                out.push(format!(
                    "{path}:{} returns Result<_, String>: {code}",
                    n + 1
                ));
            }
        }
    }
    out
}

/// Rule: every crate takes the workspace's lints.
fn without_workspace_lints(manifests: &BTreeMap<String, String>) -> Vec<String> {
    manifests
        .iter()
        .filter(|(_, m)| {
            let v: toml::Value = toml::from_str(m).unwrap();
            v.get("lints")
                .and_then(|l| l.get("workspace"))
                .and_then(|w| w.as_bool())
                != Some(true)
        })
        .map(|(k, _)| format!("{k}'s Cargo.toml lacks [lints] workspace = true"))
        .collect()
}

fn all_violations(ws: &Workspace) -> Vec<String> {
    // This file names what the rules look for: it is read for its size and paragraph only.
    let mut code = ws.files.clone();
    code.remove("crates/server/tests/tidy.rs");
    let m = &ws.manifests;
    let mut v = database_outside_store(m, &code);
    v.extend(forbidden_uses(m, &code, NO_HTTP, "axum", "axum::"));
    v.extend(forbidden_uses(
        m,
        &code,
        NO_SIP,
        "dialtone-sip",
        "dialtone_sip::",
    ));
    v.extend(applications_not_flat(m, &code));
    v.extend(undocumented(&ws.files));
    v.extend(markup_outside_writers(&code));
    v.extend(oversized(&ws.files, OVERSIZE));
    v.extend(without_workspace_lints(m));
    v.extend(stringly_errors(&code));
    v
}

#[test]
fn the_workspace_keeps_its_own_rules() {
    let ws = workspace();
    assert!(
        ws.files.len() > 100,
        "read {} files under {:?}",
        ws.files.len(),
        ws.root
    );
    assert!(ws.manifests.contains_key("sip") && ws.manifests.contains_key("bench"));
    let v = all_violations(&ws);
    assert!(v.is_empty(), "rules broken:\n{}", v.join("\n"));
}

#[test]
fn a_listed_oversize_file_is_still_that_large() {
    // Once a listed file is cut below the limit, its entry must go (the list only shrinks).
    let ws = workspace();
    for (path, _) in OVERSIZE {
        let text = ws
            .files
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is gone: unlist it"));
        assert!(
            text.lines().count() > MAX_SOURCE_LINES,
            "{path} is within {MAX_SOURCE_LINES} lines now: take it off OVERSIZE"
        );
    }
}

// Each rule fails on a deliberate violation.

fn one(path: &str, text: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(path.to_string(), text.to_string())])
}

fn manifest(name: &str, deps: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(
        name.to_string(),
        format!("[package]\nname = \"x\"\n[dependencies]\n{deps}\n[lints]\nworkspace = true\n"),
    )])
}

#[test]
fn sqlx_outside_the_store_is_caught() {
    let m = manifest("admin", "sqlx.workspace = true");
    assert_eq!(database_outside_store(&m, &BTreeMap::new()).len(), 1);
    let m = manifest("admin", "");
    let f = one(
        "crates/admin/src/lib.rs",
        "//! x\nfn f(e: sqlx::Error) {}\n",
    );
    assert_eq!(database_outside_store(&m, &f).len(), 1);
    let m = manifest("store", "sqlx.workspace = true");
    assert!(database_outside_store(&m, &BTreeMap::new()).is_empty());
}

#[test]
fn an_application_leaning_on_another_or_missing_from_the_table_is_caught() {
    let table = one(
        APPLICATION_TABLE,
        "//! x\nconst APPLICATIONS: &[Start] = &[\n    dialtone_services::app,\n    dialtone_mobility::app,\n    dialtone_webdialer::app,\n];\n",
    );
    let mut m = BTreeMap::new();
    for app in KNOWN_APPLICATIONS.iter().chain(&["paging"]) {
        m.extend(manifest(
            app,
            "dialtone-platform = { path = \"../platform\" }",
        ));
    }
    assert_eq!(
        applications_in(&table[APPLICATION_TABLE]),
        KNOWN_APPLICATIONS
    );
    assert!(applications_not_flat(&m, &table).is_empty());
    // A new application joins by its line in the table, and is held to the same rule.
    let with_paging = one(
        APPLICATION_TABLE,
        "//! x\nconst APPLICATIONS: &[Start] = &[\n    dialtone_services::app,\n    dialtone_mobility::app,\n    dialtone_webdialer::app,\n    dialtone_paging::app,\n];\n",
    );
    let mut paging_leans = m.clone();
    paging_leans.extend(manifest(
        "paging",
        "dialtone-webdialer = { path = \"../webdialer\" }",
    ));
    assert_eq!(
        applications_not_flat(&paging_leans, &with_paging),
        vec!["crates/paging/Cargo.toml depends on dialtone-webdialer"]
    );
    let mut leaning = m.clone();
    leaning.extend(manifest(
        "webdialer",
        "dialtone-mobility = { path = \"../mobility\" }",
    ));
    assert_eq!(
        applications_not_flat(&leaning, &table),
        vec!["crates/webdialer/Cargo.toml depends on dialtone-mobility"]
    );
    let mut on_admin = m.clone();
    on_admin.extend(manifest(
        "services",
        "dialtone-admin = { path = \"../admin\" }",
    ));
    assert_eq!(applications_not_flat(&on_admin, &table).len(), 1);
    let without_webdialer = one(
        APPLICATION_TABLE,
        "//! x\nconst APPLICATIONS: &[Start] = &[dialtone_services::app, dialtone_mobility::app,];\n",
    );
    assert_eq!(applications_not_flat(&m, &without_webdialer).len(), 1);
}

#[test]
fn axum_in_a_core_crate_and_sip_in_an_application_are_caught() {
    let m = manifest("callcontrol", "axum.workspace = true");
    assert_eq!(
        forbidden_uses(&m, &BTreeMap::new(), NO_HTTP, "axum", "axum::").len(),
        1
    );
    let f = one(
        "crates/webdialer/src/lib.rs",
        "//! x\nuse dialtone_sip::endpoint::Peer;\n",
    );
    let m = manifest("webdialer", "");
    assert_eq!(
        forbidden_uses(&m, &f, NO_SIP, "dialtone-sip", "dialtone_sip::").len(),
        1
    );
}

#[test]
fn a_file_without_its_paragraph_is_caught() {
    assert_eq!(undocumented(&one("crates/a/src/b.rs", "use x;\n")).len(), 1);
    assert!(undocumented(&one("crates/a/src/b.rs", "//! What b is.\n")).is_empty());
}

#[test]
fn markup_written_outside_the_writers_is_caught() {
    let bad = "//! x\nfn f() -> String { format!(\"<a>{}</a>\", 1) }\n";
    assert_eq!(
        markup_outside_writers(&one("crates/callcontrol/src/x.rs", bad)).len(),
        1
    );
    assert!(markup_outside_writers(&one("crates/phone-xml/src/x.rs", bad)).is_empty());
    let test_only = "//! x\n#[cfg(test)]\nmod t { const X: &str = \"<a></a>\"; }\n";
    assert!(markup_outside_writers(&one("crates/callcontrol/src/x.rs", test_only)).is_empty());
    // A SIP name-addr is not markup.
    let sip = "//! x\nfn f() -> String { format!(\"<sip:{}@h>\", 1) }\n";
    assert!(markup_outside_writers(&one("crates/callcontrol/src/x.rs", sip)).is_empty());
}

#[test]
fn a_file_past_its_size_is_caught() {
    let long = "//! x\n".to_string() + &"fn f() {}\n".repeat(MAX_SOURCE_LINES);
    assert_eq!(oversized(&one("crates/a/src/b.rs", &long), &[]).len(), 1);
    assert!(oversized(
        &one("crates/a/src/b.rs", &long),
        &[("crates/a/src/b.rs", 900)]
    )
    .is_empty());
    assert!(oversized(&one("crates/a/tests/b.rs", &long), &[]).is_empty());
}

#[test]
fn a_crate_without_the_workspace_lints_is_caught() {
    let m = BTreeMap::from([("a".to_string(), "[package]\nname = \"a\"\n".to_string())]);
    assert_eq!(without_workspace_lints(&m).len(), 1);
    assert!(without_workspace_lints(&manifest("a", "")).is_empty());
}

#[test]
fn a_public_function_with_a_string_error_is_caught() {
    let bad = "//! x\npub async fn build(s: &Store) -> Result<Compiled, String> {\n}\n";
    assert_eq!(stringly_errors(&one("crates/a/src/b.rs", bad)).len(), 1);
    let private = "//! x\nfn build(s: &Store) -> Result<Compiled, String> {\n}\n";
    assert!(stringly_errors(&one("crates/a/src/b.rs", private)).is_empty());
    let typed = "//! x\npub fn build(s: &Store) -> Result<Compiled, BuildError> {\n}\n";
    assert!(stringly_errors(&one("crates/a/src/b.rs", typed)).is_empty());
}
