//! `supalite check ROLE FILE.wasm`: whether a component can take a role.
//!
//! 1. Its exports against the role's world (the built-in component of the
//!    role implements it exactly, so its exports are the reference).
//! 2. Its imports: each one the role may have, and why, or refused with the
//!    `[grants]` line that would allow it. Settings come through
//!    `wasi:config/store`; the deprecated `supalite:api/config` is still
//!    accepted, with a note on what to import instead.
//! 3. A smoke test: `supalite serve` in a child process with the file in the
//!    role (embedded PGlite in a temporary directory, the project's config
//!    and migrations otherwise), a handful of ordinary and hostile requests,
//!    each of which must get an answer that is not the host's "pipeline
//!    failed" or "deadline reached", and a server still serving at the end.

use crate::compose;
use anyhow::{Context, Result};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The request deadline of the smoke server: a component that loops is
/// stopped after this long.
const SMOKE_DEADLINE_MS: u64 = 5_000;

/// Runs the check and prints its report; `Ok(false)` when the file fails.
pub fn run(
    config_file: Option<&Path>,
    grants: &std::collections::BTreeMap<String, Vec<String>>,
    role_name: &str,
    file: &Path,
    smoke: bool,
) -> Result<bool> {
    let role = contract::Role::from_name(role_name).with_context(|| {
        format!(
            "unknown role `{role_name}` (expected one of {})",
            contract::Role::ALL.map(|r| r.name()).join(", ")
        )
    })?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    println!("{} as the {} role", file.display(), role.name());
    let inspection = compose::inspect(role, bytes, grants)?;
    println!("exports (the {} world):", role.name());
    for (name, problem) in &inspection.exports {
        match problem {
            None => println!("  ok       {name}"),
            Some(p) => println!("  MISSING  {name}: {p}"),
        }
    }
    println!("imports:");
    for (name, verdict) in &inspection.imports {
        match verdict {
            Ok(why) => println!("  ok       {name} ({why})"),
            Err(why) => println!("  REFUSED  {name}: {why}"),
        }
    }
    if inspection
        .imports
        .iter()
        .any(|(name, _)| name.starts_with("supalite:api/config@"))
    {
        // Still served for one release; say what to change.
        println!("note: {}", compose::config_deprecation(role));
    }
    if !inspection.ok() {
        println!("result: FAILED (the role's world)");
        return Ok(false);
    }
    if !smoke {
        println!("result: ok (no smoke test)");
        return Ok(true);
    }
    if matches!(role, contract::Role::Pgwire | contract::Role::Standalone) {
        println!(
            "smoke test: not run (the {} role serves hosts without a native `sql`; \
             try `supalite compose --sql pgwire` under `wasmtime serve`)",
            role.name()
        );
        println!("result: ok");
        return Ok(true);
    }
    let passed = smoke_test(config_file, role, file)?;
    println!(
        "result: {}",
        if passed { "ok" } else { "FAILED (smoke test)" }
    );
    Ok(passed)
}

/// A server with the file in its role, in a temporary directory.
struct SmokeServer {
    child: Child,
    dir: PathBuf,
    addr: String,
    anon: String,
}

impl Drop for SmokeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(config_file: Option<&Path>, role: contract::Role, file: &Path) -> Result<SmokeServer> {
    let dir = std::env::temp_dir().join(format!("supalite-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // The project's config, with the file in the role.
    let mut table: toml::Table = match config_file {
        Some(p) => toml::from_str(&std::fs::read_to_string(p)?)
            .with_context(|| format!("invalid config file {}", p.display()))?,
        None => toml::Table::new(),
    };
    let file = std::fs::canonicalize(file)?;
    let components = table
        .entry("components")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    if let Some(c) = components.as_table_mut() {
        c.insert(
            role.name().into(),
            toml::Value::String(file.display().to_string()),
        );
    }
    if role == contract::Role::Adapter {
        table.insert("backend".into(), "adapter".into());
        table
            .entry("upstream-url")
            .or_insert_with(|| "http://127.0.0.1:9".into());
    } else if table.get("backend").and_then(|b| b.as_str()) == Some("adapter") {
        // The other roles are tried in front of the bridge.
        table.insert("backend".into(), "bridge".into());
    }
    table.insert(
        "request-deadline-ms".into(),
        toml::Value::Integer(SMOKE_DEADLINE_MS as i64),
    );
    let config = dir.join("supalite.toml");
    std::fs::write(&config, toml::to_string(&table)?)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("SUPALITE_LOG", "supalite=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting `supalite serve` for the smoke test")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut addr = None;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(|l| l.ok())
        {
            if let Some(a) = line.strip_prefix("API URL: http://") {
                addr = Some(a.to_string());
            }
            if let Some(k) = line.strip_prefix("anon key: ") {
                let _ = tx.send((addr.clone().unwrap_or_default(), k.to_string()));
            }
        }
    });
    let mut server = SmokeServer {
        child,
        dir,
        addr: String::new(),
        anon: String::new(),
    };
    let (addr, anon) = rx.recv_timeout(Duration::from_secs(120)).map_err(|_| {
        anyhow::anyhow!("the server with this component did not start (see its log above)")
    })?;
    server.addr = addr;
    server.anon = anon;
    Ok(server)
}

/// One HTTP/1.1 request; the status and body, or why there was none.
fn send(
    s: &SmokeServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(&s.addr)?;
    stream.set_read_timeout(Some(Duration::from_millis(SMOKE_DEADLINE_MS * 3)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\napikey: {}\r\nauthorization: Bearer {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        s.addr,
        s.anon,
        s.anon,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).context("no complete answer")?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP answer")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// A smoke request: method, path, extra headers, body.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

fn smoke_test(config_file: Option<&Path>, role: contract::Role, file: &Path) -> Result<bool> {
    println!(
        "smoke test (supalite serve with this {} on embedded PGlite):",
        role.name()
    );
    let server = start(config_file, role, file)?;
    let json = [("content-type", "application/json")];
    let preflight = [
        ("origin", "https://app.example"),
        ("access-control-request-method", "POST"),
    ];
    let cases: [Case; 9] = [
        ("GET", "/rest/v1/", &[], ""),
        ("OPTIONS", "/rest/v1/smoke", &preflight, ""),
        (
            "GET",
            "/rest/v1/no_such_table?select=a,b(c)&id=eq.1",
            &[],
            "",
        ),
        ("GET", "/rest/v1/x?select=((((((", &[], ""),
        ("POST", "/rest/v1/x", &json, "{not json"),
        ("GET", "/auth/v1/health", &[], ""),
        ("GET", "/auth/v1/user", &[], ""),
        ("POST", "/auth/v1/token?grant_type=password", &json, "[]"),
        ("GET", "/nowhere/%FF", &[], ""),
    ];
    let mut passed = true;
    for (method, path, headers, body) in cases {
        let started = Instant::now();
        let verdict = match send(&server, method, path, headers, body) {
            Ok((status, body)) if body.contains("SUPALITE500") => Err(format!(
                "{status}: the pipeline failed (a trap or a broken answer)"
            )),
            Ok((status, body)) if body.contains("SUPALITE504") => Err(format!(
                "{status}: no answer within the deadline ({SMOKE_DEADLINE_MS} ms)"
            )),
            Ok((status, _)) => Ok(status),
            Err(e) => Err(format!("{e:#}")),
        };
        let ms = started.elapsed().as_millis();
        match verdict {
            Ok(status) => println!("  ok       {method} {path} -> {status} ({ms} ms)"),
            Err(why) => {
                passed = false;
                println!("  FAILED   {method} {path} -> {why} ({ms} ms)");
            }
        }
    }
    let mut server = server;
    let alive =
        server.child.try_wait()?.is_none() && send(&server, "GET", "/rest/v1/", &[], "").is_ok();
    if alive {
        println!("  ok       the server still serves");
    } else {
        passed = false;
        println!("  FAILED   the server stopped serving");
    }
    Ok(passed)
}
