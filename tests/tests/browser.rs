//! The browser host (`host/js/src/browser.mjs`): the composed pipeline in a
//! page's worker (`createWorkerHost`), on PGlite for JS with its data in
//! IndexedDB, behind the `fetch` handed to supabase-js. Headless Chromium (Debian's package, driven by
//! playwright-core) runs the example page (`host/js/example`); the driver,
//! `tests/js/browser.mjs`, reports what the page showed.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use supalite_tests::*;

fn chromium() -> String {
    let path = std::env::var("SUPALITE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "no Chromium at {path}: tests/run.sh installs Debian's `chromium` (or set SUPALITE_CHROMIUM)"
    );
    path
}

#[test]
fn supabase_js_in_a_page_signs_up_writes_and_reads_under_rls_and_keeps_its_data() {
    let chromium = chromium();
    build_js_host().unwrap_or_else(|e| panic!("{e}"));
    let tests_js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        tests_js.join("node_modules/playwright-core").exists(),
        "run `npm ci` in {}",
        tests_js.display()
    );
    let profile = tempfile::tempdir().unwrap();
    // Kept after the run: what the page looked like after the reload.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("browser-example.png");
    let _ = std::fs::remove_file(&screenshot);

    let out = Command::new("node")
        .arg(tests_js.join("browser.mjs"))
        .current_dir(&tests_js)
        .env("CHROMIUM", &chromium)
        .env("PROFILE", profile.path())
        .env("SCREENSHOT", &screenshot)
        .output()
        .expect("node is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("the driver printed no report:\n{report}"));
    assert_eq!(seen.get("failure"), None, "{report}");
    assert_eq!(seen["errors"], json!([]), "errors in the page: {report}");

    // First start: the bootstrap and the example's migration in IndexedDB.
    assert_eq!(seen["applied_first"], 1, "{report}");
    // The page's own form: sign up, add a note, see it.
    assert_eq!(seen["alice_list"], json!(["buy milk"]), "{report}");
    // RLS through the in-page pipeline, as PostgREST answers it.
    assert_eq!(seen["anon_sees"], json!([]), "{report}");
    assert_eq!(
        seen["anon_insert"],
        json!({"status": 401, "code": "42501"}),
        "{report}"
    );
    assert_eq!(seen["bob_signup_error"], Value::Null, "{report}");
    assert_eq!(seen["bob_sees"], json!([]), "{report}");
    assert_eq!(seen["bob_insert_status"], 201, "{report}");
    assert_eq!(seen["bob_after_insert"], json!(["bob's note"]), "{report}");
    assert_eq!(
        seen["forged"],
        json!({"status": 403, "code": "42501"}),
        "{report}"
    );
    assert_eq!(seen["alice_signin_error"], Value::Null, "{report}");
    // A reload: nothing migrated again, the session and the rows are back.
    assert_eq!(seen["applied_after_reload"], 0, "{report}");
    assert_eq!(
        seen["who_after_reload"], "Signed in as alice@example.com",
        "{report}"
    );
    assert_eq!(
        seen["alice_list_after_reload"],
        json!(["buy milk"]),
        "{report}"
    );
    // A statement that never ends (a worker host of its own, 1.5 s request
    // deadline): 504 at the deadline, the page's timers kept running (a
    // page running PostgreSQL itself would freeze for the whole 1.5 s), and
    // the worker, started again on its IndexedDB, serves the committed row.
    assert_eq!(
        seen["spin"],
        json!({"status": 504, "code": "SUPALITE504"}),
        "{report}"
    );
    let spin_ms = seen["spin_ms"].as_f64().unwrap();
    assert!((1400.0..10_000.0).contains(&spin_ms), "{report}");
    assert!(
        seen["page_timer_gap_ms"].as_f64().unwrap() < 1000.0,
        "the page froze: {report}"
    );
    assert_eq!(
        seen["after_spin"],
        json!({"status": 200, "body": [{"id": 1}]}),
        "{report}"
    );
    // A new browser on the same profile: the data is in IndexedDB.
    assert_eq!(seen["applied_after_restart"], 0, "{report}");
    assert_eq!(
        seen["alice_list_after_restart"],
        json!(["buy milk"]),
        "{report}"
    );
    let png = std::fs::read(&screenshot).expect("the driver saved a screenshot");
    assert!(
        png.starts_with(b"\x89PNG"),
        "not a PNG: {}",
        screenshot.display()
    );
    eprintln!(
        "page ready in {} ms (first start), {} ms (restart); screenshot: {}",
        seen["start_ms"],
        seen["restart_ms"],
        screenshot.display()
    );
}
