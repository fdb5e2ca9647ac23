//! The stages' order, checked in the source: request (1) → plan (2) →
//! query (3) → response (4). A stage's modules name only their own stage,
//! earlier stages and the foundations every stage shares (config, error,
//! schema, fuzzy); foundations name only foundations. `lib.rs` (the
//! pipeline) and `tests.rs` (the stages together) may name anything.
//!
//! Read from the source text: every `crate::…` path outside comments, and
//! no way out of a stage through `super::` (`super::super::`, or a
//! top-level `use super::` in a stage's `mod.rs`).

use std::path::{Path, PathBuf};

/// A top-level module's stage: 0 for a foundation, `None` for the pipeline.
fn stage(module: &str) -> Option<Option<u8>> {
    Some(match module {
        "config" | "error" | "schema" | "fuzzy" => Some(0),
        "request" => Some(1),
        "plan" => Some(2),
        "query" => Some(3),
        "response" => Some(4),
        "lib" | "tests" => None,
        _ => return None,
    })
}

/// The top-level modules a `crate::` path names (`crate::a::b`,
/// `crate::{a, b::c}`).
fn named(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `crate::` inside a longer name (`my_crate::`) is not the crate.
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ => {}
                }
                if depth == 0 && c != ',' && c != '}' {
                    item.push(c);
                }
            }
            items.push(item);
            out.extend(
                items
                    .iter()
                    .map(|i| first_ident(i))
                    .filter(|i| !i.is_empty()),
            );
        } else {
            out.push(first_ident(rest));
        }
    }
    out
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// What a file of module `module` names that its stage may not; `mod_rs`:
/// the file is the module's root (`plan/mod.rs`, `config.rs`).
fn violations(module: &str, mod_rs: bool, text: &str) -> Vec<String> {
    let Some(Some(own)) = stage(module) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        for m in named(code) {
            let allowed = match stage(&m) {
                Some(Some(0)) => true,
                Some(Some(s)) => own != 0 && s <= own,
                _ => false,
            };
            if !allowed {
                found.push(format!(
                    "line {}: `{}` names crate::{m}",
                    n + 1,
                    line.trim()
                ));
            }
        }
        if code.contains("super::super::") || (mod_rs && code.starts_with("use super::")) {
            found.push(format!(
                "line {}: `{}` leaves the stage",
                n + 1,
                line.trim()
            ));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_stage_imports_from_a_later_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let module = parts[0].trim_end_matches(".rs");
        assert!(
            stage(module).is_some(),
            "{}: module `{module}` has no stage; add it to `stage()`",
            rel.display()
        );
        let mod_rs = parts.len() == 1 || parts[1] == "mod.rs";
        let text = std::fs::read_to_string(path).unwrap();
        for v in violations(module, mod_rs, &text) {
            problems.push(format!("{}: {v}", rel.display()));
        }
    }
    assert!(files.len() > 10, "read the sources: {files:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_what_it_should() {
    let bad = |module: &str, text: &str| !violations(module, false, text).is_empty();
    assert!(bad("plan", "use crate::response::Answer;"));
    assert!(bad("plan", "use crate::{error::ApiError, query::sql};"));
    assert!(bad("request", "let c: crate::plan::Shape = x;"));
    assert!(bad("schema", "use crate::request::Action;"));
    assert!(bad("query", "use crate::Plan;"));
    assert!(bad("query", "use super::super::response;"));
    assert!(!violations("plan", true, "use super::Shape;").is_empty());
    assert!(!bad(
        "response",
        "use crate::{plan::Answer, query::Outcome, schema::Table};"
    ));
    assert!(!bad(
        "plan",
        "use crate::error::ApiError; // crate::response renders it"
    ));
    assert!(!bad("plan", "use contract::sql::quote_ident;"));
}
