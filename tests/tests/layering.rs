//! The code's layering, as the project states it: no component crate
//! reaches into `host/` (a role builds on its own, on any host), and no
//! module cycle among the host's modules or among the server's (engine →
//! pool → service → layers → router → pipeline → accept). The postgrest
//! crate checks its own stage order (`components/postgrest/tests/stages.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

/// The code of a file without its comments (a `//` to the end of the line).
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_component_reaches_into_the_host() {
    let components = root().join("components");
    for entry in std::fs::read_dir(&components).unwrap().flatten() {
        let krate = entry.path();
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
        assert!(
            !manifest.contains("../host") && !manifest.contains("../../host"),
            "{} depends on the host",
            krate.display()
        );
        if !krate.join("src").exists() {
            continue;
        }
        for f in rust_files(&krate.join("src")) {
            let text = code(&f);
            for needle in ["include_str!(", "include_bytes!(", "#[path"] {
                for (at, _) in text.match_indices(needle) {
                    let call = &text[at..text[at..].find(')').map_or(text.len(), |e| at + e)];
                    assert!(!call.contains("host/"), "{}: {call}", f.display());
                }
            }
        }
    }
}

/// Module `from` uses module `to` (by `crate::to` at the top level, by
/// `super::to` or `crate::<parent>::to` inside `parent`).
fn edges(dir: &Path, parent: Option<&str>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let stem = name.strip_suffix(".rs").unwrap_or(&name).to_string();
            (stem != "mod" && stem != "main" && (e.path().is_dir() || name.ends_with(".rs")))
                .then_some(stem)
        })
        .collect();
    for module in &modules {
        let path = dir.join(module);
        let files = if path.is_dir() {
            rust_files(&path)
        } else {
            vec![dir.join(format!("{module}.rs"))]
        };
        for f in files {
            let text = code(&f);
            let prefixes: Vec<String> = match parent {
                None => vec!["crate::".into()],
                Some(p) => vec!["super::".into(), format!("crate::{p}::")],
            };
            for prefix in &prefixes {
                for (at, _) in text.match_indices(prefix.as_str()) {
                    // `super::` from a file inside a sub-directory points at
                    // that directory's own module, not a sibling of it.
                    if prefix == "super::" && path.is_dir() && f.file_name().unwrap() != "mod.rs" {
                        continue;
                    }
                    let rest = &text[at + prefix.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if modules.contains(&name) && &name != module {
                        graph.entry(module.clone()).or_default().insert(name);
                    }
                }
            }
        }
    }
    graph
}

fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_cycle_in_the_host() {
    let host = root().join("host/src");
    let top = edges(&host, None);
    assert!(top.contains_key("app"), "the graph is read: {top:?}");
    if let Some(c) = cycle(&top) {
        panic!("host modules use each other in a cycle: {}", c.join(" → "));
    }
    for sub in ["server", "db"] {
        let g = edges(&host.join(sub), Some(sub));
        if let Some(c) = cycle(&g) {
            panic!("host/src/{sub} modules use each other in a cycle: {}", c.join(" → "));
        }
    }
    // The check sees a cycle when there is one.
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(cycle(&g).is_some());
}
