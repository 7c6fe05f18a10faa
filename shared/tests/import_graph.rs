//! No import cycles between the source files of `botgate` (this crate) and `botgate-core`.
//!
//! Every file is a node; a file that names an item of another file (`use crate::a::b`,
//! `super::x`, `child::y`, a path in code) has an edge to it. Declaring a child module
//! (`mod child;`) is not an edge, and neither is test code (`#[cfg(test)] mod tests`). A
//! parent that dispatches to its children while the children use the parent's types is a
//! cycle: the contract belongs in a module of its own (as `inbound` and `delivery::call`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path: `["delivery", "feishu"]` for `src/delivery/feishu.rs`, `[]` for `lib.rs`.
type Module = Vec<String>;

fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(src).unwrap().with_extension("");
                let m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
                let m = if m == ["lib"] { Vec::new() } else { m };
                out.insert(m, p);
            }
        }
    }
    out
}

/// The code of a file without comments, string literals and its test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Expands `use` trees (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_owned()
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every path the code names that starts with `crate`, `super`, `self` or a child module.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let end = rest[i..].find(';').map_or(rest.len(), |e| i + e);
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            out.extend(expand(&rest[i + 4..end]));
        }
        rest = &rest[end.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
        rest = &rest[1..];
    }
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_alphanumeric() || bytes[i] == '_' || bytes[i] == ':') {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let prev = if start > 0 { bytes[start - 1] } else { ' ' };
            let first = word.split("::").next().unwrap_or_default();
            let rooted = ["crate", "super", "self"].contains(&first) || children.contains(first);
            if word.contains("::") && rooted && prev != ':' && prev != '.' {
                out.push(word.trim_end_matches(':').to_owned());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The module a path in `from` names: the longest existing module prefix.
fn resolve(from: &Module, path: &str, known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let mut segs = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Module = match *segs.peek()? {
        "crate" => {
            segs.next();
            Vec::new()
        }
        "self" => {
            segs.next();
            from.clone()
        }
        "super" => {
            let mut b = from.clone();
            while segs.peek() == Some(&"super") {
                segs.next();
                b.pop();
            }
            b
        }
        _ => from.clone(),
    };
    for s in segs {
        let mut next = base.clone();
        next.push(s.to_owned());
        if known.contains_key(&next) {
            base = next;
        } else {
            break;
        }
    }
    known.contains_key(&base).then_some(base)
}

fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let known = modules(src);
    let mut edges = BTreeMap::new();
    for (m, file) in &known {
        let text = code(&std::fs::read_to_string(file).unwrap());
        let children: BTreeSet<String> = known
            .keys()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .map(|k| k[m.len()].clone())
            .collect();
        let targets: BTreeSet<Module> = paths(&text, &children)
            .iter()
            .filter_map(|p| resolve(m, p, &known))
            .filter(|t| t != m)
            .collect();
        edges.insert(m.clone(), targets);
    }
    edges
}

/// A cycle in the graph, if there is one.
fn cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for t in edges.get(n).into_iter().flatten() {
            match state.get(t).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == t).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(t.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(t, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn name(m: &Module) -> String {
    if m.is_empty() { "lib".into() } else { m.join("/") }
}

fn assert_acyclic(src: &Path) -> usize {
    let edges = graph(src);
    if let Some(c) = cycle(&edges) {
        panic!(
            "import cycle in {}: {}",
            src.display(),
            c.iter().map(name).collect::<Vec<_>>().join(" -> ")
        );
    }
    edges.values().map(BTreeSet::len).sum()
}

#[test]
fn the_runtime_crate_has_no_import_cycle() {
    let edges = assert_acyclic(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        edges > 100,
        "the graph has only {edges} edges: is the parser still finding imports?"
    );
}

#[test]
fn the_core_crate_has_no_import_cycle() {
    let edges = assert_acyclic(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src"));
    assert!(edges > 20, "the graph has only {edges} edges");
}

#[test]
fn the_checker_finds_a_parent_child_cycle() {
    let dir = std::env::temp_dir().join(format!("botgate-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("delivery")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod delivery;\n").unwrap();
    std::fs::write(
        dir.join("delivery.rs"),
        "pub mod feishu;\npub fn send() { feishu::request(); }\npub struct Call;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("delivery/feishu.rs"),
        "use super::Call;\npub fn request() {}\n",
    )
    .unwrap();
    let c = cycle(&graph(&dir)).expect("a cycle");
    assert_eq!(
        c.iter().map(name).collect::<Vec<_>>(),
        ["delivery", "delivery/feishu", "delivery"]
    );
    std::fs::write(dir.join("delivery/feishu.rs"), "pub fn request() {}\n").unwrap();
    assert!(cycle(&graph(&dir)).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
