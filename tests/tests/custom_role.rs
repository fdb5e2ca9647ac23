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
    // Its own setting, under its role's prefix, reaches it (and only it).
    let s = p
        .serve_with(&[], &[("SUPALITE_REWRITER_SERVED_BY", "my-rewriter")])
        .unwrap();
    // Its one change is on every answer…
    let r = s.get("/rest/v1/notes", &[]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"id": 1, "body": "hi"}])),
        "{}",
        r.body
    );
    assert_eq!(r.header("x-served-by"), Some("my-rewriter"));
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
        Some("my-rewriter"),
        "{:?}",
        r.headers
    );
    assert!(r.header("access-control-allow-origin").is_some());
    let r = s.get("/rest/v1/nope", &[]);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.header("x-served-by"), Some("my-rewriter"));
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
    // The probe imports wasi:sockets and wasi:filesystem, which a bridge's
    // world does not: refused until the config grants them.
    p.config(&format!("[components]\nbridge = \"{}\"\n", wasm.display()));
    let e = p
        .serve_with(&[], &[])
        .err()
        .expect("a bridge importing wasi:sockets is refused");
    assert!(
        e.contains("the bridge component")
            && e.contains("wasi:sockets/")
            && e.contains("[grants] bridge"),
        "{e}"
    );
    p.config(&format!(
        "[components]\nbridge = \"{}\"\n[grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n",
        wasm.display()
    ));
    // A database port to try: the host's own listener would do as well.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target_addr = target.local_addr().unwrap().to_string();
    // An HTTP service that answers 204 to anything.
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_origin = format!("http://{}", service.local_addr().unwrap());
    let http_url = format!("{http_origin}/flags");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in service.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    let s = p
        .serve_with(
            &[],
            &[
                ("SUPALITE_BRIDGE_PROBE_TCP", target_addr.as_str()),
                ("SUPALITE_BRIDGE_PROBE_HTTP", http_url.as_str()),
                ("SUPALITE_REWRITER_GREETING", "not for the bridge"),
            ],
        )
        .unwrap();
    // The probe reports what `sql` gave it for three roles…
    let r = s.get("/rest/v1/anything", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let got = r.json();
    assert_eq!(
        (
            &got["request_role"],
            &got["connection_role"],
            &got["no_role"]
        ),
        (&json!("anon"), &json!("error 42501"), &json!("error 42501")),
        "{}",
        r.body
    );
    assert!(s.wait_for_log("sql: refused a role"), "{}", s.log());
    // …and what else it could reach: its own settings only (not the JWT
    // secret, not the rewriter's), no directory, no network.
    let env: Vec<&str> = got["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"SUPALITE_DB_SCHEMAS"), "{env:?}");
    assert!(env.contains(&"SUPALITE_BRIDGE_PROBE_TCP"), "{env:?}");
    for hidden in [
        "SUPALITE_JWT_SECRET",
        "SUPALITE_ROUTES",
        "SUPALITE_REWRITER_GREETING",
        "PATH",
    ] {
        assert!(!env.contains(&hidden), "{hidden} in {env:?}");
    }
    assert_eq!(got["jwt_secret"], json!(false), "{}", r.body);
    // Asked for by name through its `config` import: refused, and logged.
    assert_eq!(got["jwt_secret_setting"], json!(false), "{}", r.body);
    assert!(
        s.wait_for_log(
            "the bridge component asked for the setting \"SUPALITE_JWT_SECRET\", which is not granted to its role: refused"
        ),
        "{}",
        s.log()
    );
    assert_eq!(got["list_root"], json!(false), "{}", r.body);
    assert!(
        got["tcp"].as_str().unwrap().starts_with("error"),
        "{}",
        r.body
    );
    assert!(
        s.wait_for_log("the bridge component asked for network access: refused"),
        "{}\n{}",
        r.body,
        s.log()
    );
    // Granted outgoing HTTP, but no origin listed for it.
    assert!(
        got["http"].as_str().unwrap().starts_with("error"),
        "{}",
        r.body
    );
    assert!(
        s.wait_for_log(
            "the bridge component's outgoing request was denied: not in its [outbound] list"
        ),
        "{}",
        s.log()
    );
    assert!(
        s.wait_for_log("the bridge component asked for the host's directories: refused"),
        "{}\n{}",
        r.body,
        s.log()
    );
    drop(s);

    // What a grant reaches is listed per role: this address, this
    // directory (read-only), for the bridge alone.
    let shared = p.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("hello.txt"), "hi").unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_addr = other.local_addr().unwrap().to_string();
    p.config(&format!(
        "[components]\nbridge = \"{}\"\n\
         [grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n\
         [outbound]\nbridge = [\"{target_addr}\", \"{http_origin}\"]\n\
         [directories.bridge]\n\"/\" = \"{}\"\n",
        wasm.display(),
        shared.display()
    ));
    for (addr, reached) in [(&target_addr, true), (&other_addr, false)] {
        let s = p
            .serve_with(
                &[],
                &[
                    ("SUPALITE_BRIDGE_PROBE_TCP", addr.as_str()),
                    ("SUPALITE_BRIDGE_PROBE_HTTP", http_url.as_str()),
                ],
            )
            .unwrap();
        let r = s.get("/rest/v1/anything", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        let got = r.json();
        assert_eq!(got["list_root"], json!(true), "{}", r.body);
        assert_eq!(got["http"], json!("status 204"), "{}\n{}", r.body, s.log());
        assert_eq!(
            got["tcp"] == json!("connected"),
            reached,
            "{addr}: {}\n{}",
            r.body,
            s.log()
        );
        if !reached {
            // Refused by name: the host told the bridge's code apart.
            assert!(
                s.wait_for_log(&format!(
                    "the bridge component asked for network access: refused (not in its [outbound] list) addr={addr}"
                )),
                "{}",
                s.log()
            );
        }
        // Its SQL is still only the request's role's.
        assert_eq!(got["connection_role"], json!("error 42501"), "{}", r.body);
    }
    // Another role's grants are not the bridge's: the same directory and
    // address for the rewriter only, and the bridge gets neither.
    p.config(&format!(
        "[components]\nbridge = \"{}\"\n\
         [grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n\
         rewriter = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http\"]\n\
         [outbound]\nrewriter = [\"{target_addr}\", \"{http_origin}\"]\n\
         [directories.rewriter]\n\"/\" = \"{}\"\n",
        wasm.display(),
        shared.display()
    ));
    let s = p
        .serve_with(
            &[],
            &[
                ("SUPALITE_BRIDGE_PROBE_TCP", target_addr.as_str()),
                ("SUPALITE_BRIDGE_PROBE_HTTP", http_url.as_str()),
            ],
        )
        .unwrap();
    let r = s.get("/rest/v1/anything", &[]);
    let got = r.json();
    assert_eq!(got["list_root"], json!(false), "{}", r.body);
    assert!(
        got["http"].as_str().unwrap().starts_with("error"),
        "{}",
        r.body
    );
    assert!(
        got["tcp"].as_str().unwrap().starts_with("error"),
        "{}",
        r.body
    );
    assert!(
        s.wait_for_log(
            "the bridge component asked for the host's directories: refused (none are granted to it)"
        ),
        "{}",
        s.log()
    );
    drop(s);
    // A directory or address for a role not granted the interface is a
    // configuration error.
    p.config(&format!(
        "[components]\nbridge = \"{}\"\n[outbound]\nbridge = [\"{target_addr}\"]\n",
        wasm.display()
    ));
    let e = p.serve_with(&[], &[]).err().expect("refused");
    assert!(e.contains("not granted wasi:sockets"), "{e}");
}

/// `supalite check ROLE FILE` with `config` as the project's supalite.toml.
fn check(role: &str, file: &std::path::Path, config: &str) -> (bool, String) {
    let p = Project::new();
    p.config(config);
    let out = p.run(&["check", role, file.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn supalite_check_says_whether_a_file_can_take_a_role() {
    let rewriter = build_component("example-rewriter");
    let probe = build_component("probe-bridge");
    // The example implements the rewriter world, imports nothing beyond it
    // and serves ordinary and hostile requests without failing.
    let (ok, out) = check("rewriter", &rewriter, "");
    assert!(ok, "{out}");
    assert!(out.contains("ok       supalite:api/rewriter@"), "{out}");
    assert!(out.contains("the server still serves"), "{out}");
    assert!(out.contains("result: ok"), "{out}");
    // The probe bridge imports sockets and files: refused, with the remedy…
    let (ok, out) = check("bridge", &probe, "");
    assert!(!ok, "{out}");
    assert!(
        out.contains("REFUSED  wasi:sockets/tcp@")
            && out.contains("[grants] bridge = [\"wasi:sockets\"]"),
        "{out}"
    );
    // …which the config can give.
    let (ok, out) = check(
        "bridge",
        &probe,
        "[grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n",
    );
    assert!(ok, "{out}");
    assert!(out.contains("granted in [grants]"), "{out}");
    // A file for another role does not export this one's interface.
    let (ok, out) = check("rewriter", &probe, "");
    assert!(!ok, "{out}");
    assert!(out.contains("MISSING  supalite:api/rewriter@"), "{out}");
}

#[test]
fn hot_swap_under_load_drops_no_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let rewriter = build_component("example-rewriter");
    let p = Project::new();
    p.migration(
        "20240101000000_notes.sql",
        "create table notes (id int primary key, body text); insert into notes values (1, 'hi');\n\
         grant select on notes to anon;",
    );
    p.config("");
    let s = p
        .serve_with(&[], &[("SUPALITE_REWRITER_SERVED_BY", "swapped-in")])
        .unwrap();
    let stop = AtomicBool::new(false);
    // (status, x-served-by) of every answer, in order per client.
    let seen: Arc<Mutex<Vec<(u16, Option<String>)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    std::thread::scope(|scope| {
        for _ in 0..16 {
            let (seen, failures, stop, url) = (seen.clone(), failures.clone(), &stop, &s.url);
            scope.spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(std::time::Duration::from_secs(30))
                    .build();
                while !stop.load(Ordering::Relaxed) {
                    match agent.get(&format!("{url}/rest/v1/notes?id=eq.1")).call() {
                        Ok(r) => {
                            let by = r.header("x-served-by").map(str::to_string);
                            let status = r.status();
                            let _ = r.into_string();
                            seen.lock().unwrap().push((status, by));
                        }
                        Err(e) => failures.lock().unwrap().push(e.to_string()),
                    }
                }
            });
        }
        let wait_until = |what: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while !what() {
                assert!(std::time::Instant::now() < deadline, "{}", s.log());
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        };
        let count = || seen.lock().unwrap().len();
        wait_until(&|| count() > 200);
        // Swap the rewriter by editing the config file under load.
        p.config(&format!(
            "[components]\nrewriter = \"{}\"\n",
            rewriter.display()
        ));
        wait_until(&|| {
            seen.lock()
                .unwrap()
                .iter()
                .rev()
                .take(32)
                .all(|(_, by)| by.as_deref() == Some("swapped-in"))
        });
        // A broken file is refused; the swapped-in pipeline keeps serving.
        let broken = p.path().join("broken.wasm");
        std::fs::write(&broken, b"not a component").unwrap();
        p.config(&format!(
            "[components]\nrewriter = \"{}\"\n",
            broken.display()
        ));
        wait_until(&|| s.log().contains("reload refused"));
        let before = count();
        wait_until(&|| count() > before + 200);
        stop.store(true, Ordering::Relaxed);
    });
    let seen = seen.lock().unwrap();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{:?}\n{}",
        &failures[..failures.len().min(5)],
        s.log()
    );
    let statuses: std::collections::BTreeSet<u16> = seen.iter().map(|(st, _)| *st).collect();
    assert_eq!(statuses, [200].into(), "{}", s.log());
    assert!(seen.iter().any(|(_, by)| by.is_none()));
    assert!(seen.iter().any(|(_, by)| by.is_some()));
    assert!(
        seen.iter()
            .rev()
            .take(100)
            .all(|(_, by)| by.as_deref() == Some("swapped-in")),
        "the old pipeline is back after a refused reload"
    );
    assert!(s.log().contains("pipeline reloaded"), "{}", s.log());
    assert!(s.log().contains("broken.wasm"), "{}", s.log());
    // SIGHUP reloads too (the file is fixed back first).
    p.config(&format!(
        "[components]\nrewriter = \"{}\"\n",
        rewriter.display()
    ));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let reloads = s.log().matches("pipeline reloaded").count();
    std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.log().matches("pipeline reloaded").count() == reloads {
        assert!(std::time::Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(s.log().contains("trigger=\"SIGHUP\""), "{}", s.log());
    assert_eq!(
        s.get("/rest/v1/notes", &[]).header("x-served-by"),
        Some("swapped-in")
    );
}

#[test]
fn a_runaway_component_ends_its_request_not_the_server() {
    let wasm = build_component("probe-bridge");
    let p = Project::new();
    p.config(&format!(
        "request-deadline-ms = 1500\ncomponent-memory-mb = 64\n\
         [components]\nbridge = \"{}\"\n\
         [grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n",
        wasm.display()
    ));
    let s = p.serve();
    // A loop: a JSON 504 at the deadline, and the next request is served.
    let started = std::time::Instant::now();
    let r = s.get("/rest/v1/loop", &[]);
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.json()["code"], json!("SUPALITE504"), "{}", r.body);
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert_eq!(s.get("/rest/v1/anything", &[]).status, 200);
    // Unbounded allocation: stopped at component-memory-mb, a JSON 500,
    // and the next request is served.
    let r = s.get("/rest/v1/hog", &[]);
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.json()["code"], json!("SUPALITE500"), "{}", r.body);
    assert!(
        s.wait_for_log("a component tried to grow its memory past component-memory-mb"),
        "{}",
        s.log()
    );
    let r = s.get("/rest/v1/anything", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["request_role"], json!("anon"), "{}", r.body);

    // A cap for one role, below the one for every component: the bridge is
    // stopped at 24 MiB by its own declared maximum.
    let p = Project::new();
    p.config(&format!(
        "component-memory-mb = 256
         [role-memory-mb]
bridge = 24
         [components]
bridge = \"{}\"
         [grants]
bridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n",
        wasm.display()
    ));
    let s = p.serve();
    let r = s.get("/rest/v1/hog", &[]);
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.json()["code"], json!("SUPALITE500"), "{}", r.body);
    assert!(
        s.wait_for_log("past its declared maximum (role-memory-mb)"),
        "{}",
        s.log()
    );
    assert!(s.log().contains("limit=25165824"), "{}", s.log());
    assert!(!s.log().contains("past component-memory-mb"), "{}", s.log());
    assert_eq!(s.get("/rest/v1/anything", &[]).status, 200);

    // A deadline for one role, well below the request's: the looping bridge
    // is stopped at its own, and ordinary requests (every role charged a
    // little) are served.
    let p = Project::new();
    p.config(&format!(
        "request-deadline-ms = 20000\n\
         [role-deadline-ms]\nbridge = 300\nrewriter = 50\n\
         [components]\nbridge = \"{}\"\n\
         [grants]\nbridge = [\"wasi:sockets\", \"wasi:filesystem\", \"wasi:http/outgoing-handler\"]\n",
        wasm.display()
    ));
    let s = p.serve();
    for _ in 0..20 {
        assert_eq!(s.get("/rest/v1/anything", &[]).status, 200);
    }
    let started = std::time::Instant::now();
    let r = s.get("/rest/v1/loop", &[]);
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.json()["code"], json!("SUPALITE504"), "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("the bridge component ran past its role deadline (300 ms)"),
        "{}",
        r.body
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert!(s.wait_for_log("role=\"bridge\""), "{}", s.log());
    assert_eq!(s.get("/rest/v1/anything", &[]).status, 200);
}
