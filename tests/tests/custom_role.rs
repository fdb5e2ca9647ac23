//! Writing your own role: `components/example-rewriter`, a crate of its
//! own built for the component model, replaces the built-in rewriter and
//! the whole pipeline keeps working with its change (one more response
//! header).

use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use supalite_tests::*;

/// Builds a component crate of this workspace the way the README's "Write
/// your own role" says, into a target directory of its own: building the
/// example beside the built-in components would replace their
/// `rewriter.wasm` with the library build it depends on.
fn build_component(package: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = root.join("target").join("example-components");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--locked",
            "--profile",
            "wasm",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(&target);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    target
        .join("wasm32-wasip2")
        .join("wasm")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

#[test]
fn a_rewriter_from_its_own_crate_replaces_the_built_in_one() {
    let wasm = build_component("example-rewriter");
    let p = Project::new();
    p.migration(
        "20240101000000_notes.sql",
        "create table notes (id int primary key, body text); insert into notes values (1, 'hi');\n\
         grant select on notes to anon;",
    );
    p.config(&format!(
        "[components]\nrewriter = \"{}\"\n",
        wasm.display()
    ));
    let s = p.serve();
    // Its one change is on every answer…
    let r = s.get("/rest/v1/notes", &[]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"id": 1, "body": "hi"}])),
        "{}",
        r.body
    );
    assert_eq!(r.header("x-served-by"), Some("example-rewriter"));
    // …including the ones it gives itself (a CORS preflight) and errors.
    let r = s.request(
        "OPTIONS",
        "/rest/v1/notes",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ],
        None,
    );
    assert_eq!(
        r.header("x-served-by"),
        Some("example-rewriter"),
        "{:?}",
        r.headers
    );
    assert!(r.header("access-control-allow-origin").is_some());
    let r = s.get("/rest/v1/nope", &[]);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.header("x-served-by"), Some("example-rewriter"));
    // Auth is routed as before.
    let r = s.request(
        "POST",
        "/auth/v1/signup",
        &[("content-type", "application/json")],
        Some(r#"{"email": "a@example.com", "password": "a-long-password"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_replacement_bridge_cannot_run_sql_as_the_connection_role() {
    let wasm = build_component("probe-bridge");
    let p = Project::new();
    p.config(&format!("[components]\nbridge = \"{}\"\n", wasm.display()));
    let s = p.serve();
    // The probe reports what `sql` gave it for three roles.
    let r = s.get("/rest/v1/anything", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({
            "request_role": "anon",
            "connection_role": "error 42501",
            "no_role": "error 42501"
        }),
        "{}",
        r.body
    );
    assert!(s.wait_for_log("sql: refused a role"), "{}", s.log());
}
