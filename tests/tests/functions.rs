//! Edge functions (`/functions/v1/NAME`, issue 29): the real server runs a
//! Rust `wasi:http/incoming-handler` component (tests/functions/kit, built
//! here for wasm32-wasip2) as the Supabase CLI's edge runtime runs a
//! function: the path from `/NAME`, query, method and body passed through,
//! CORS answered by the function, `verify_jwt`, the environment and its
//! grants, outgoing HTTP to supalite's own origin only, the limits (546
//! `WORKER_LIMIT`), traps (500 `WORKER_ERROR`), hot reload; and through
//! supabase-js's `functions.invoke` (tests/js/functions.test.mjs).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use supalite_tests::*;

/// Builds the test function (with `v2`: the version that answers
/// `"version":"v2"`) and returns its component.
fn kit(v2: bool) -> PathBuf {
    static V1: OnceLock<PathBuf> = OnceLock::new();
    static V2: OnceLock<PathBuf> = OnceLock::new();
    let cell = if v2 { &V2 } else { &V1 };
    cell.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = root.join("tests/functions/kit");
        let target = root.join(if v2 { "target/functions-kit-v2" } else { "target/functions-kit" });
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&dir)
            .args(["build", "--locked", "--release", "--target", "wasm32-wasip2"])
            .env("CARGO_TARGET_DIR", &target);
        for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
            cmd.env_remove(var);
        }
        if v2 {
            cmd.args(["--features", "v2"]);
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the test function failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-wasip2/release/fn_kit.wasm")
    })
    .clone()
}

/// Puts the test function at `supabase/functions/NAME/function.wasm`
/// (replacing the file at once: written beside it, then renamed).
fn install(p: &Project, name: &str, v2: bool) {
    let dir = p.path().join("supabase/functions").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join("function.wasm.tmp");
    std::fs::copy(kit(v2), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("function.wasm")).unwrap();
}

fn anon() -> String {
    token(json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}))
}

fn user(sub: &str) -> String {
    token(json!({"role": "authenticated", "sub": sub, "exp": now() + 3600}))
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// Sends raw bytes; (status, content type, body bytes).
fn send_bytes(s: &Server, path: &str, auth: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let resp = ureq::post(&format!("{}{}", s.url, path))
        .set("authorization", auth)
        .set("content-type", "application/octet-stream")
        .send_bytes(body);
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let status = resp.status();
    let ct = resp.content_type().to_string();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes).unwrap();
    (status, ct, bytes)
}

const LIMITS: [(&str, &str); 5] = [
    ("SUPALITE_FUNCTIONS_NO_VERIFY_JWT", "open"),
    ("SUPALITE_FUNCTIONS_SECRET_GRANTS", "admin"),
    ("SUPALITE_FUNCTIONS_MEMORY_MB", "64"),
    ("SUPALITE_FUNCTIONS_MAX_BODY_BYTES", "1048576"),
    ("SUPALITE_LOG", "supalite=info"),
];

fn project() -> Project {
    let p = Project::new();
    for name in ["hello", "open", "admin", "swap"] {
        install(&p, name, false);
    }
    std::fs::write(p.path().join("supabase/functions/.env"), "GREETING=hello\nSUPABASE_URL=http://evil\n").unwrap();
    std::fs::write(p.path().join("supabase/functions/admin/.env"), "ONLY_HERE='admin only'\n").unwrap();
    p
}

#[test]
fn a_function_sees_the_request_as_supabase_passes_it() {
    let p = project();
    let s = p.serve_with(&[], &LIMITS).unwrap();
    let auth = bearer(&anon());
    // JSON in, the sub-path and query as the function sees them.
    let r = s.request(
        "POST",
        "/functions/v1/hello/sub/path?x=1&y=two",
        &[("authorization", &auth)],
        Some(r#"{"name":"Functions"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/hello/sub/path");
    assert_eq!(v["query"], "x=1&y=two");
    assert_eq!(v["body"], r#"{"name":"Functions"}"#);
    assert_eq!(v["content_type"], "application/json");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Every method reaches the function.
    for m in ["GET", "PUT", "PATCH", "DELETE"] {
        let r = s.request(m, "/functions/v1/hello", &[("authorization", &auth)], None);
        assert_eq!(r.status, 200, "{m}: {}", r.body);
        assert_eq!(r.json()["method"], m);
        assert_eq!(r.json()["path"], "/hello");
    }
    // Binary bodies both ways, byte for byte.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let (status, ct, back) = send_bytes(&s, "/functions/v1/hello/binary", &auth, &bytes);
    assert_eq!(status, 200);
    assert_eq!(ct, "application/octet-stream");
    assert!(back == bytes, "the binary body came back changed ({} bytes)", back.len());
    // A streamed response (text/event-stream).
    let r = s.get("/functions/v1/hello/stream", &[("authorization", &auth)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.body, "data: tick 0\n\ndata: tick 1\n\ndata: tick 2\n\n");
    // CORS preflight: answered by the function, no token needed.
    let r = s.request(
        "OPTIONS",
        "/functions/v1/hello",
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "ok");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("authorization")));
}

#[test]
fn verify_jwt_unknown_functions_env_and_grants() {
    let p = project();
    let s = p.serve_with(&[], &LIMITS).unwrap();
    // verify_jwt (default on): the template's 401 answers, before the function runs.
    let r = s.get("/functions/v1/hello", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"msg": "Error: Missing authorization header"}));
    for bad in [
        "Bearer not-a-jwt".to_string(),
        bearer(&token_with("another-secret-another-secret-another-secret", json!({"role": "anon", "exp": now() + 60}))),
        bearer(&token(json!({"role": "anon", "exp": now() - 3600}))),
    ] {
        let r = s.get("/functions/v1/hello", &[("authorization", &bad)]);
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, r#"{"msg":"Invalid JWT"}"#);
    }
    let r = s.get("/functions/v1/hello", &[("authorization", "Basic abc")]);
    assert_eq!(r.json(), json!({"msg": "Error: Auth header is not 'Bearer {token}'"}));
    // verify_jwt off for `open`.
    let r = s.get("/functions/v1/open/x", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/open/x");
    // Unknown function: the edge runtime's 404.
    for path in ["/functions/v1/nope", "/functions/v1/", "/functions/v1/a.b"] {
        let r = s.get(path, &[("authorization", &bearer(&anon()))]);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, "Function not found");
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    // The environment: SUPABASE_URL and the anon key; no service key, no
    // database URL without the grant; the .env files (SUPABASE_* in them
    // ignored); no preopened directory.
    let r = s.get("/functions/v1/hello/env", &[("authorization", &bearer(&anon()))]);
    assert_eq!(r.status, 200, "{}", r.body);
    let env = r.json();
    assert_eq!(env["url"], s.url.as_str());
    let anon_key = env["anon"].as_str().expect("SUPABASE_ANON_KEY");
    let claims = decode(anon_key);
    assert_eq!(claims["role"], "anon");
    assert_eq!(env["service"], Value::Null, "{env}");
    assert_eq!(env["db"], Value::Null);
    assert_eq!(env["greeting"], "hello");
    assert_eq!(env["only_here"], Value::Null);
    assert_eq!(env["preopens"], 0);
    let names: Vec<&str> = env["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(!names.iter().any(|n| n.starts_with("SUPALITE_")), "{names:?}");
    // `admin` is granted the service key, and has its own .env.
    let r = s.get("/functions/v1/admin/env", &[("authorization", &bearer(&anon()))]);
    let env = r.json();
    assert_eq!(decode(env["service"].as_str().expect("service key granted"))["role"], "service_role");
    assert_eq!(env["only_here"], "admin only");
    // Outgoing HTTP to anything but supalite's own origin is refused.
    let r = s.get(
        "/functions/v1/hello/outside?url=http://127.0.0.1:9/",
        &[("authorization", &bearer(&anon()))],
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["error"].as_str().is_some_and(|e| e.contains("HttpRequestDenied")), "{}", r.body);
    assert!(s.wait_for_log("outgoing request was denied"), "{}", s.log());
}

fn decode(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

const WORKER_LIMIT: &str = r#"{"code":"WORKER_LIMIT","message":"Worker failed to respond due to a resource limit (please check logs)"}"#;
const WORKER_ERROR: &str = r#"{"code":"WORKER_ERROR","message":"Function exited due to an error (please check logs)"}"#;

#[test]
fn limits_and_traps_end_one_invocation_and_the_server_keeps_serving() {
    let p = project();
    let s = p.serve_with(&[], &LIMITS).unwrap();
    let auth = bearer(&anon());
    let ok = || {
        let r = s.get("/functions/v1/hello", &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{}", r.body);
    };
    ok();
    // An endless loop: the CPU time limit (2 s by default).
    let started = Instant::now();
    let r = s.get("/functions/v1/hello/loop", &[("authorization", &auth)]);
    let took = started.elapsed();
    assert_eq!(r.status, 546, "{}", r.body);
    assert_eq!(r.body, WORKER_LIMIT);
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(10), "{took:?}");
    eprintln!("MEASURED loop stopped after {} ms", took.as_millis());
    ok();
    // A memory bomb: the memory limit (64 MB here).
    let started = Instant::now();
    let r = s.get("/functions/v1/hello/bomb", &[("authorization", &auth)]);
    assert_eq!(r.status, 546, "{}", r.body);
    assert_eq!(r.body, WORKER_LIMIT);
    eprintln!("MEASURED memory bomb stopped after {} ms", started.elapsed().as_millis());
    ok();
    // A trap (a Rust panic): 500 WORKER_ERROR.
    let r = s.get("/functions/v1/hello/trap", &[("authorization", &auth)]);
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.body, WORKER_ERROR);
    ok();
    // Body sizes (1 MB here): a larger request is refused before the
    // function runs; a larger response is cut off.
    // (Announced, not sent: the answer comes from the declared length, and a
    // client still writing 1.1 MB may see the socket closed under it.)
    {
        use std::io::{Read, Write};
        let addr = s.url.trim_start_matches("http://").to_string();
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            conn,
            "POST /functions/v1/hello HTTP/1.1\r\nhost: {addr}\r\nauthorization: {auth}\r\ncontent-type: text/plain\r\ncontent-length: 1100000\r\nconnection: close\r\n\r\nxxxx"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }
    let small = s.get("/functions/v1/hello/big?n=1000", &[("authorization", &auth)]);
    assert_eq!(small.body.len(), 1000);
    let resp = ureq::get(&format!("{}/functions/v1/hello/big?n=3000000", s.url))
        .set("authorization", &auth)
        .call()
        .unwrap();
    let mut got = Vec::new();
    let read = std::io::Read::read_to_end(&mut resp.into_reader(), &mut got);
    assert!(read.is_err() || got.len() < 3_000_000, "a 3 MB response passed a 1 MB limit");
    assert!(got.len() <= 1_048_576 + 65_536, "{}", got.len());
    ok();
    // Several at once: the others are served while one loops.
    std::thread::scope(|scope| {
        let looping = scope.spawn(|| s.get("/functions/v1/hello/loop", &[("authorization", &auth)]).status);
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        ok();
        assert!(started.elapsed() < Duration::from_millis(1500), "blocked by the loop: {:?}", started.elapsed());
        assert_eq!(looping.join().unwrap(), 546);
    });
    // The function's own panic message is in the log; the host never panics.
    assert!(!s.log().contains("panicked at host/"), "{}", s.log());
}

#[test]
fn a_changed_function_file_is_picked_up_on_the_next_request() {
    let p = project();
    let s = p.serve_with(&[], &LIMITS).unwrap();
    let auth = bearer(&anon());
    let version = || {
        let r = s.get("/functions/v1/swap", &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["version"].as_str().unwrap().to_string()
    };
    // The first call compiles; later ones reuse the compiled component.
    let started = Instant::now();
    assert_eq!(version(), "v1");
    let cold = started.elapsed();
    let started = Instant::now();
    assert_eq!(version(), "v1");
    let warm = started.elapsed();
    eprintln!("MEASURED first call (compile) {} ms, next call {} ms", cold.as_millis(), warm.as_millis());
    install(&p, "swap", true);
    assert_eq!(version(), "v2");
    // A file that is not a component: 503 BOOT_ERROR, until it is fixed.
    let file = p.path().join("supabase/functions/swap/function.wasm");
    std::fs::write(&file, b"not wasm").unwrap();
    let r = s.get("/functions/v1/swap", &[("authorization", &auth)]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["code"], "BOOT_ERROR");
    install(&p, "swap", false);
    assert_eq!(version(), "v1");
    // A function added while serving.
    let r = s.get("/functions/v1/later", &[("authorization", &auth)]);
    assert_eq!(r.status, 404);
    install(&p, "later", false);
    let r = s.get("/functions/v1/later", &[("authorization", &auth)]);
    assert_eq!(r.status, 200);
}

/// The notes only their owner (the token's `sub`) may read.
const OWNED_NOTES_SQL: &str = "
create table notes (id bigint generated by default as identity primary key, owner text not null, body text not null);
alter table notes enable row level security;
create policy owner_reads on notes for select using (owner = current_setting('request.jwt.claims', true)::json->>'sub');
grant select on notes to anon, authenticated;
insert into notes (owner, body) values ('alice', 'alice 1'), ('bob', 'bob 1'), ('alice', 'alice 2');
";

#[test]
fn a_function_calls_rest_with_the_callers_token_under_rls_on_each_db() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", OWNED_NOTES_SQL);
        install(&p, "hello", false);
        let s = p.serve_with(&[], &LIMITS).unwrap();
        let r = s.get("/functions/v1/hello/rest", &[("authorization", &bearer(&user("alice")))]);
        assert_eq!(r.status, 200, "{}\n{}", r.body, s.log());
        let v = r.json();
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["body"], json!([{"body": "alice 1"}, {"body": "alice 2"}]));
        let r = s.get("/functions/v1/hello/rest", &[("authorization", &bearer(&anon()))]);
        assert_eq!(r.json()["body"], json!([]));
    });
}

#[test]
fn supabase_js_functions_invoke() {
    let p = project();
    let s = p.serve_with(&[], &LIMITS).unwrap();
    let report = run_node("functions.test.mjs", &s, &[("SUPALITE_ANON_KEY", &anon())]);
    let passed = report.lines().any(|l| l.trim_start_matches(['ℹ', ' ', '#']).starts_with("pass 6"));
    assert!(passed && report.contains("fail 0"), "{report}");
}
