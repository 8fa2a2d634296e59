//! The house in layers, checked: reads every `use crate::...`, `use super::...`
//! and inline `crate::...` path under `src/` and fails on
//!
//! - an import from a lower layer into a higher one (base < primitives and
//!   secrets < schemes < client | server < evaluation);
//! - an import across from the server side to the client side or back;
//! - a server-side module (the server, its HTTP API, the store, the SSE entry
//!   layout and dispatch, every scheme's server half, the keyless primitives)
//!   that reaches, directly or through anything it imports, a key type, a
//!   client state file, the client, or a scheme's client half;
//! - a scheme server half importing anything but the base, the keyless
//!   primitives and the SSE entry reader;
//! - an import loop between modules.
//!
//! Code under `#[cfg(test)]` may reach anywhere and is not read. The crate
//! root (`lib.rs`) composes the public API from all layers and is not a
//! layer. Each rule has a negative control on a synthetic file list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layer of a module path (`sse::pibas::server`), by its first segment.
fn layer(module: &str) -> Option<u8> {
    let top = module.split("::").next().unwrap_or(module);
    Some(match top {
        "error" | "files" | "leakage_terms" | "message" | "multimap" | "protocol" | "query" | "store" | "text" => 1,
        "envelope" | "keys" | "primitives" | "state" => 2,
        "blind" | "sse" => 3,
        "client" | "server" => 4,
        "baseline" | "bench" | "datasets" | "demo" | "device_cli" | "leakage" | "oracle" | "ops" => 5,
        _ => return None,
    })
}

fn is_scheme_server_half(m: &str) -> bool {
    m == "blind::server" || (m.starts_with("sse::") && m.ends_with("::server") && m != "sse::server")
}

fn is_server_side(m: &str) -> bool {
    m == "server"
        || m.starts_with("server::")
        || m == "store"
        || m.starts_with("store::")
        || m == "sse::server"
        || m == "sse::entries"
        || m == "sse::registry"
        || m.starts_with("primitives")
        || is_scheme_server_half(m)
}

fn is_secret_or_client(m: &str) -> bool {
    let top = m.split("::").next().unwrap_or(m);
    matches!(top, "keys" | "envelope" | "state" | "client") || m.ends_with("::client") || m == "sse::index"
}

/// A module's source with test code and comments removed.
fn strip(source: &str) -> String {
    let code = match source.find("#[cfg(test)]") {
        Some(i) => &source[..i],
        None => source,
    };
    code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The paths a module names: `use` trees flattened, and inline `crate::` paths.
/// `super` and `self` are resolved against `module`; a bare path only in a `mod.rs` module (it may name a child).
fn named_paths(module: &str, is_dir_module: bool, source: &str) -> Vec<(String, bool)> {
    let code = strip(source);
    let mut out = Vec::new();
    let base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    let resolve = |p: &str| -> Option<String> {
        let mut segs: Vec<&str> = p.split("::").map(str::trim).filter(|s| !s.is_empty()).collect();
        let mut here: Vec<&str> = base.clone();
        match segs.first().copied() {
            Some("crate") => {
                segs.remove(0);
                here.clear();
            }
            Some("super") => {
                while segs.first() == Some(&"super") {
                    segs.remove(0);
                    here.pop();
                }
            }
            Some("self") => {
                segs.remove(0);
            }
            // A bare path in a folder module may name a child (`pub use index::X`);
            // `edges` keeps it only if that child exists.
            _ if is_dir_module => {}
            _ => return None,
        }
        here.extend(segs);
        Some(here.join("::"))
    };
    // `use` statements, possibly spanning lines, with nested braces.
    let mut rest = code.as_str();
    while let Some(i) = rest.find("use ") {
        // A `use` item starts its line, after nothing or a visibility.
        let line_prefix = rest[..i].rsplit('\n').next().unwrap_or("").trim();
        let is_item = line_prefix.is_empty() || line_prefix.starts_with("pub");
        let is_pub = line_prefix.starts_with("pub");
        let Some(end) = rest[i..].find(';') else { break };
        let stmt = &rest[i + 4..i + end];
        if !is_item {
            rest = &rest[i + 4..];
            continue;
        }
        rest = &rest[i + end + 1..];
        for p in flatten(stmt.trim()) {
            if let Some(r) = resolve(&p) {
                out.push((r, is_pub));
            }
        }
    }
    // Inline `crate::a::b` paths.
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let start = from + i;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = code[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |e| start + e);
        if boundary {
            out.push((code[start + 7..end].trim_end_matches(':').to_owned(), false));
        }
        from = end.max(start + 7);
    }
    out
}

/// Flattens a use tree (`a::{b, c::{d, e as f}}`) into paths.
fn flatten(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    match tree.find('{') {
        None => {
            let p = tree.split(" as ").next().unwrap_or(tree).trim();
            let p = p.strip_suffix("::self").unwrap_or(p);
            if p == "self" { vec![String::new()] } else { vec![p.to_owned()] }
        }
        Some(open) => {
            let prefix = tree[..open].trim_end_matches("::").trim();
            let Some(close) = tree.rfind('}').filter(|c| *c > open) else { return Vec::new() };
            let inner = &tree[open + 1..close];
            let mut items = Vec::new();
            let (mut depth, mut last) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[last..i]);
                        last = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[last..]);
            items
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .flat_map(flatten)
                .map(|s| if s.is_empty() { prefix.to_owned() } else { format!("{prefix}::{s}") })
                .collect()
        }
    }
}

/// One source file: its module path, whether it is a `mod.rs`, its text.
struct SourceFile {
    module: String,
    dir_module: bool,
    text: String,
}

/// An import edge: from, to, and whether it is a parent re-exporting its own child.
type Edges = BTreeMap<String, BTreeSet<(String, bool)>>;

fn edges(files: &[SourceFile]) -> Edges {
    let modules: BTreeSet<&str> = files.iter().map(|f| f.module.as_str()).collect();
    let mut out = Edges::new();
    for f in files {
        let e = out.entry(f.module.clone()).or_default();
        for (path, is_pub) in named_paths(&f.module, f.dir_module, &f.text) {
            // The longest prefix of the path that is a module.
            let segs: Vec<&str> = path.split("::").collect();
            let target = (1..=segs.len()).rev().map(|n| segs[..n].join("::")).find(|m| modules.contains(m.as_str()));
            if let Some(t) = target
                && t != f.module
            {
                let child_reexport = is_pub && t.starts_with(&format!("{}::", f.module));
                e.insert((t, child_reexport));
            }
        }
    }
    out
}

fn violations(files: &[SourceFile]) -> Vec<String> {
    let graph = edges(files);
    let mut bad = Vec::new();
    for (from, tos) in &graph {
        let Some(lf) = layer(from) else { continue };
        for (to, _) in tos {
            let Some(lt) = layer(to) else { continue };
            if lt > lf {
                bad.push(format!("layer: {from} (layer {lf}) imports {to} (layer {lt})"));
            }
            let side = |m: &str| m.split("::").next().map(str::to_owned);
            if lf == 4 && lt == 4 && side(from) != side(to) {
                bad.push(format!("across: {from} imports {to}"));
            }
            if is_scheme_server_half(from) && !(lt == 1 || to.starts_with("primitives") || to == "sse::entries") {
                bad.push(format!("server half: {from} imports {to}"));
            }
        }
    }
    // Server side: nothing reachable may be a key, a state file, the client or a client half.
    for from in graph.keys().filter(|m| is_server_side(m)) {
        let mut seen = BTreeSet::new();
        let mut stack = vec![(from.clone(), vec![from.clone()])];
        while let Some((m, trail)) = stack.pop() {
            if !seen.insert(m.clone()) {
                continue;
            }
            if is_secret_or_client(&m) {
                bad.push(format!("server side reaches the client side: {}", trail.join(" -> ")));
                continue;
            }
            for (to, _) in graph.get(&m).into_iter().flatten() {
                let mut t = trail.clone();
                t.push(to.clone());
                stack.push((to.clone(), t));
            }
        }
    }
    // Loops (a parent re-exporting its own child is a namespace, not a dependency).
    for from in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = graph[from].iter().filter(|(_, re)| !re).map(|(t, _)| t.clone()).collect();
        while let Some(m) = stack.pop() {
            if &m == from {
                bad.push(format!("loop through {from}"));
                break;
            }
            if seen.insert(m.clone()) {
                stack.extend(graph.get(&m).into_iter().flatten().filter(|(_, re)| !re).map(|(t, _)| t.clone()));
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

fn read_src(dir: &Path, root: &Path, out: &mut Vec<SourceFile>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            read_src(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src").with_extension("");
            let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            let dir_module = segs.last().is_some_and(|s| s == "mod");
            if dir_module {
                segs.pop();
            }
            let module = segs.join("::");
            if module == "lib" || module == "main" {
                continue;
            }
            out.push(SourceFile { module, dir_module, text: std::fs::read_to_string(&path).expect("read") });
        }
    }
}

/// A synthetic file list: (module, is a `mod.rs`, source).
type Synthetic<'a> = &'a [(&'a str, bool, &'a str)];

fn synthetic(files: Synthetic<'_>) -> Vec<SourceFile> {
    files.iter().map(|(m, d, t)| SourceFile { module: (*m).into(), dir_module: *d, text: (*t).into() }).collect()
}

#[test]
fn src_follows_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_src(&root, &root, &mut files);
    assert!(files.len() > 50, "read only {} files", files.len());
    for f in &files {
        assert!(layer(&f.module).is_some(), "module {} has no layer: add it to `layer`", f.module);
    }
    let graph = edges(&files);
    let imports: usize = graph.values().map(BTreeSet::len).sum();
    assert!(imports > 150, "found only {imports} imports: the parser is broken");
    let bad = violations(&files);
    assert!(bad.is_empty(), "{} violations:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn use_trees_flatten() {
    assert_eq!(
        flatten("crate::a::{b, c::{d, e as f}, self}"),
        ["crate::a::b", "crate::a::c::d", "crate::a::c::e", "crate::a"]
    );
    let p = named_paths(
        "sse::server",
        false,
        "use super::entries::{A, B};\nuse crate::store::{self, Store};\nfn f() { crate::keys::x(); }",
    );
    let paths: BTreeSet<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, BTreeSet::from(["sse::entries::A", "sse::entries::B", "store", "store::Store", "keys::x"]));
    let p = named_paths("sse", true, "pub use index::X;\nuse self::index::Y;");
    assert_eq!(p, [("sse::index::X".to_owned(), true), ("sse::index::Y".to_owned(), false)]);
    let p = named_paths("sse::entries", false, "use serde::Serialize;");
    assert!(p.is_empty(), "an external crate path in a file module is no import: {p:?}");
}

/// Negative controls: each rule fails on a file list that breaks it.
#[test]
fn each_rule_catches_its_violation() {
    let cases: &[(&str, Synthetic<'_>)] = &[
        ("layer", &[("protocol", true, "use crate::leakage::view::Recorder;"), ("leakage::view", false, "")]),
        ("layer", &[("store::memory", false, "use crate::sse::MultiMap;"), ("sse", true, "")]),
        ("across", &[("client", true, "use crate::server::Server;"), ("server", true, "")]),
        ("across", &[("server::http::api", false, "use crate::client::Http;"), ("client", true, "")]),
        ("server side reaches", &[("store::memory", false, "use crate::keys::MasterKey;"), ("keys", true, "")]),
        (
            "server side reaches",
            &[
                ("sse::server", false, "use super::registry::Scheme;"),
                ("sse::registry", false, "use crate::sse::index::open_client;"),
                ("sse::index", false, ""),
            ],
        ),
        (
            "server half",
            &[
                ("sse::pibas::server", false, "use crate::sse::pibas::client::PiBas;"),
                ("sse::pibas::client", false, ""),
            ],
        ),
        ("server half", &[("sse::mitra::server", false, "use crate::sse::Keyword;"), ("sse", true, "")]),
        ("loop", &[("text", false, "use crate::message::Field;"), ("message", false, "use crate::text::Tokenizer;")]),
    ];
    for (rule, files) in cases {
        let bad = violations(&synthetic(files));
        assert!(bad.iter().any(|b| b.starts_with(rule)), "rule {rule:?} missed {files:?}: {bad:?}");
    }
    // And a clean list passes.
    let clean = synthetic(&[
        ("sse::pibas::server", false, "use crate::sse::entries::EntryReader;\nuse crate::primitives::prf::Prf;"),
        ("sse::entries", false, "use crate::store::Store;"),
        ("primitives::prf", false, "use crate::protocol::Label;"),
        ("store", true, "use crate::protocol::DocId;"),
        ("protocol", true, ""),
        ("leakage::view", false, "use crate::server::Server;"),
        ("server", true, "use crate::sse::server;"),
        ("sse::server", false, ""),
    ]);
    assert_eq!(violations(&clean), Vec::<String>::new());
}
