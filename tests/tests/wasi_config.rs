//! Role settings through the standard `wasi:config/store`: a replacement
//! component reads its role's share by keys (`bridge_probe_tcp` for
//! `SUPALITE_BRIDGE_PROBE_TCP`) and nothing else; one built against the
//! old worlds (the deprecated `supalite:api/config`) still runs, and the
//! host says what to change; and a component that imports the standard
//! interface runs on stock `wasmtime serve -S config` without supalite's
//! `role-env` at all.
//!
//! The fixtures are builds of `components/probe-bridge` (see its source):
//! the default one, `--features old-config` and `--features alone`.

use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use supalite_tests::*;

/// One build at a time: the builds share a target directory, where each
/// replaces the last one's `probe_bridge.wasm`.
static BUILDS: Mutex<()> = Mutex::new(());

/// `probe-bridge` built with `features` (in a target directory of its own,
/// as `tests/tests/custom_role.rs` builds it), copied to a file named
/// after them.
fn probe(features: &str) -> PathBuf {
    let _one = BUILDS.lock().unwrap_or_else(|p| p.into_inner());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = root.join("target").join("wasi-config-fixtures");
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
            "probe-bridge",
        ])
        .arg("--target-dir")
        .arg(&target);
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
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
        "building probe-bridge ({features}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = target.join("wasm32-wasip2/wasm/probe_bridge.wasm");
    let name = if features.is_empty() {
        "store"
    } else {
        features
    };
    let copy = target.join(format!("probe-{name}.wasm"));
    std::fs::copy(&built, &copy).unwrap();
    copy
}

/// What the probe bridge needs granted beyond a bridge's world.
const GRANTS: &str =
    "[grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n";

/// The probe `wasm` as the bridge; its answer to one request, the server
/// and its project (which must outlive it).
fn serve_probe(wasm: &std::path::Path) -> (serde_json::Value, Server, Project) {
    let p = Project::new();
    p.config(&format!(
        "[components]\nbridge = \"{}\"\n{GRANTS}",
        wasm.display()
    ));
    let s = p
        .serve_with(
            &[],
            &[
                ("SUPALITE_BRIDGE_PROBE_TCP", "127.0.0.1:9"),
                ("SUPALITE_REWRITER_GREETING", "not for the bridge"),
            ],
        )
        .unwrap();
    let r = s.get("/rest/v1/anything", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    (r.json(), s, p)
}

const REFUSED: &str = "the bridge component asked for the setting \"SUPALITE_JWT_SECRET\", which is not granted to its role: refused";
const DEPRECATED: &str = "the bridge component imports supalite:api/config, which is deprecated: import wasi:config/store@0.2.0-rc.1 (keys: ";

#[test]
fn a_replacement_reads_its_share_through_wasi_config_store_by_keys() {
    let (got, s, _p) = serve_probe(&probe(""));
    // Its own setting, by its key…
    assert_eq!(got["tcp_setting"], json!("127.0.0.1:9"), "{got}");
    assert_eq!(got["request_role"], json!("anon"), "{got}");
    // …and not the JWT secret: none, and the refusal logged (by both names).
    assert_eq!(got["jwt_secret_setting"], json!(false), "{got}");
    assert!(
        s.wait_for_log(&format!("{REFUSED} (wasi:config/store key \"jwt_secret\")")),
        "{}",
        s.log()
    );
    assert!(!s.log().contains("deprecated"), "{}", s.log());
}

#[test]
fn a_component_with_the_old_config_import_still_runs_and_is_told_what_to_change() {
    let wasm = probe("old-config");
    let (got, s, _p) = serve_probe(&wasm);
    // The old interface still answers the role's share by environment
    // names, and still refuses (and logs) the rest.
    assert_eq!(got["tcp_setting"], json!("127.0.0.1:9"), "{got}");
    assert_eq!(got["request_role"], json!("anon"), "{got}");
    assert_eq!(got["jwt_secret_setting"], json!(false), "{got}");
    assert!(s.wait_for_log(REFUSED), "{}", s.log());
    // Said at start-up: what to import instead, with the role's keys.
    assert!(s.wait_for_log(DEPRECATED), "{}", s.log());
    assert!(
        s.log().contains("SUPALITE_DB_MAX_ROWS is db_max_rows"),
        "{}",
        s.log()
    );
    drop(s);

    // `supalite check` accepts it, and says so too.
    let p = Project::new();
    p.config(GRANTS);
    let out = p.run(&["check", "--no-smoke", "bridge", wasm.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok       supalite:api/config@0.1.0 (every role; deprecated: import wasi:config/store@0.2.0-rc.1"),
        "{text}"
    );
    assert!(text.contains(&format!("note: {DEPRECATED}")), "{text}");
    // The current fixture imports the standard interface instead.
    let out = p.run(&["check", "--no-smoke", "bridge", probe("").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok       wasi:config/store@0.2.0-rc.1 (every role)")
            && !text.contains("supalite:api/config"),
        "{text}"
    );
}

#[test]
fn wasi_config_store_needs_no_role_env_under_wasmtime_serve() {
    let wasm = probe("alone");
    let port = free_port();
    let mut cmd = Command::new(wasmtime());
    cmd.args(["serve", "-S", "cli", "-S", "config"])
        .args(["-S", "config-var=db_max_rows=5"])
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg(&wasm);
    let s = Server::start(cmd, format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|e| panic!("wasmtime serve did not start: {e}"));
    let r = s.get("/", &[]);
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log());
    assert_eq!(
        r.json(),
        json!({"db_max_rows": "5", "all": [["db_max_rows", "5"]]}),
        "{}",
        r.body
    );
}
