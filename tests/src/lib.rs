//! Test harness: starts the real `supalite` binary on a random port with a
//! temporary data directory and talks to it over real HTTP.

pub mod fault;
pub mod pg;
pub mod s3;

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// The `supalite` binary: `SUPALITE_BIN`, or the workspace's release build.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SUPALITE_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let p = root.join("target/release/supalite");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release -p supalite` first",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// wasmtime-cli 48.x: `SUPALITE_WASMTIME`, else `wasmtime` on PATH, else
/// `~/.cargo/bin/wasmtime` (tests/run.sh installs it there when missing).
pub fn wasmtime() -> PathBuf {
    let candidates = std::env::var_os("SUPALITE_WASMTIME")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::iter::once(PathBuf::from("wasmtime")))
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/wasmtime")));
    for c in candidates {
        if let Ok(out) = Command::new(&c).arg("--version").output() {
            if String::from_utf8_lossy(&out.stdout).starts_with("wasmtime 48.") {
                return c;
            }
        }
    }
    panic!("wasmtime-cli 48.x not found: `cargo install --locked wasmtime-cli@48.0.8` (tests/run.sh does)")
}

/// An HS256 token signed with `secret`.
pub fn token_with(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// An HS256 token signed with the test secret.
pub fn token(claims: Value) -> String {
    token_with(SECRET, claims)
}

/// Which database a project's server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Pglite,
    Postgres,
}

/// A project directory: migrations, config, data.
pub struct Project {
    pub dir: tempfile::TempDir,
    /// `db-uri` for PostgreSQL projects (a fresh database in the shared cluster).
    pub db_uri: Option<String>,
}

impl Project {
    /// A project on embedded PGlite.
    pub fn new() -> Project {
        Project::on(Db::Pglite)
    }

    pub fn on(db: Db) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("supabase/migrations")).unwrap();
        let db_uri = (db == Db::Postgres).then(|| pg::Cluster::get().new_database());
        Project { dir, db_uri }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn migration(&self, name: &str, sql: &str) -> &Self {
        std::fs::write(self.path().join("supabase/migrations").join(name), sql).unwrap();
        self
    }

    pub fn config(&self, toml: &str) -> &Self {
        std::fs::write(self.path().join("supalite.toml"), toml).unwrap();
        self
    }

    /// Runs `supalite <args>` in the project directory to completion.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary())
            .args(args)
            .current_dir(self.path())
            .env("SUPALITE_JWT_SECRET", SECRET)
            .env_remove("SUPALITE_LOG")
            .output()
            .unwrap()
    }

    /// Starts the JS host (`host/js`, Node.js + PGlite for JS) on this
    /// project's migrations, as `supalite serve` would run them.
    pub fn serve_js(&self, env: &[(&str, &str)]) -> Result<Server, String> {
        self.serve_js_with(&[], env)
    }

    /// [`Project::serve_js`] with extra `serve.mjs` arguments.
    pub fn serve_js_with(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let js = build_js_host()?;
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new("node");
        cmd.arg(js.join("bin/serve.mjs"))
            .args(["--listen", &listen, "--data-dir"])
            .arg(self.path().join(".supalite/js-data"))
            .arg("--migrations")
            .arg(self.path().join("supabase/migrations"))
            .args(args)
            .current_dir(self.path())
            .env("SUPALITE_JWT_SECRET", SECRET);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::start(cmd, format!("http://{listen}"))
    }

    /// Starts `supalite serve` and waits until it is ready.
    pub fn serve(&self) -> Server {
        self.serve_with(&[], &[])
            .unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    /// Starts `supalite serve <args>` with extra environment; `Err` holds
    /// the output of a server that exited instead of becoming ready.
    pub fn serve_with(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .args(args)
            .current_dir(self.path());
        cmd.env("SUPALITE_JWT_SECRET", SECRET)
            .env("SUPALITE_LOG", "supalite=info");
        if let Some(uri) = &self.db_uri {
            cmd.env("SUPALITE_DB_URI", uri);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::start(cmd, format!("http://{listen}"))
    }
}

impl Server {
    /// Spawns `cmd` and waits until it prints that it serves: `API URL:` on
    /// stdout (supalite) or `Serving HTTP on` on stderr (`wasmtime serve`).
    /// stderr is kept as the log; stdout lines `Admin URL:` and `DB URL:`
    /// are picked up.
    pub fn start(mut cmd: Command, url: String) -> Result<Server, String> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let lines = printed.clone();
        let ready = ready_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                if line.starts_with("API URL:") {
                    let _ = ready.send(());
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                let text = String::from_utf8_lossy(&line).into_owned();
                if text.contains("Serving HTTP on") {
                    let _ = ready_tx.send(());
                }
                l.lock().unwrap().push_str(&text);
                line.clear();
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                let printed = printed.lock().unwrap().clone();
                let value = |prefix: &str| {
                    printed
                        .iter()
                        .find_map(|l| l.strip_prefix(prefix))
                        .map(|v| v.trim().to_string())
                };
                return Ok(Server {
                    admin_url: value("Admin URL: "),
                    db_url: value("DB URL: "),
                    child,
                    url,
                    log,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                return Err(format!("exited with {status}: {}", log.lock().unwrap()));
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("not ready after 120 s: {}", log.lock().unwrap()));
            }
        }
    }
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `test` once per database backend (PGlite, then PostgreSQL).
pub fn on_each_db(test: impl Fn(Project)) {
    for db in [Db::Pglite, Db::Postgres] {
        eprintln!("--- on {db:?}");
        test(Project::on(db));
    }
}

/// A running server; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    /// The admin listener (`/metrics`, `/ready`) when `admin-listen` is set.
    pub admin_url: Option<String>,
    /// Embedded PGlite's loopback URL when `pglite-listen` is set.
    pub db_url: Option<String>,
    log: Arc<Mutex<String>>,
}

/// A response as a client sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Server {
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends a request to `path` (e.g. `/rest/v1/todos?select=id`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        let mut req = agent.request(method, &format!("{}{}", self.url, path));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let typed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let result = match body {
            Some(b) if typed => req.send_string(b),
            Some(b) => req.set("content-type", "application/json").send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}\nserver log:\n{}", self.log()),
        };
        let status = resp.status();
        // Each name once: a repeated header (Set-Cookie) is listed by name
        // per occurrence, and `all` already returns every value.
        let mut names = resp.headers_names();
        names.sort();
        names.dedup();
        let headers = names
            .into_iter()
            .flat_map(|n| {
                resp.all(&n)
                    .into_iter()
                    .map(|v| (n.clone(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let body = resp.into_string().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers, None)
    }

    /// Waits (at most 10 s) until the server's log contains `needle`: the
    /// log is read on its own thread, so a line written just before the
    /// server said it was ready may not be in [`Server::log`] yet.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.log().contains(needle) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// The server process's resident memory (kB), from /proc.
    pub fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Sends `count` requests from `clients` keep-alive connections and
    /// counts the answers by status.
    pub fn flood(
        &self,
        clients: usize,
        count: usize,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> std::collections::BTreeMap<u16, usize> {
        let counts = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
        std::thread::scope(|scope| {
            for c in 0..clients {
                let counts = counts.clone();
                let n = count / clients + usize::from(c < count % clients);
                scope.spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(60))
                        .build();
                    for _ in 0..n {
                        let mut req = agent.request(method, &format!("{}{}", self.url, path));
                        for (k, v) in headers {
                            req = req.set(k, v);
                        }
                        let result = match body {
                            Some(b) => req.set("content-type", "application/json").send_string(b),
                            None => req.call(),
                        };
                        let status = match result {
                            Ok(r) => {
                                let s = r.status();
                                let _ = r.into_string();
                                s
                            }
                            Err(ureq::Error::Status(s, r)) => {
                                let _ = r.into_string();
                                s
                            }
                            Err(_) => 0,
                        };
                        *counts.lock().unwrap().entry(status).or_insert(0) += 1;
                    }
                });
            }
        });
        Arc::try_unwrap(counts).unwrap().into_inner().unwrap()
    }

    /// The admin listener's `/metrics` text.
    pub fn metrics(&self) -> String {
        let url = self.admin_url.as_deref().expect("admin-listen is set");
        ureq::get(&format!("{url}/metrics"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// [`Server::stop`], and everything the server logged, shutdown included
    /// (for an assertion message).
    pub fn stop_with_log(mut self) -> (std::process::ExitStatus, String) {
        let status = self.terminate();
        // The reader thread takes what is left in the pipe.
        std::thread::sleep(Duration::from_millis(200));
        (status, self.log())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Builds the JS hosts' pipeline (`host/js/build`, for Node and the
/// browser) from this workspace's `supalite compose`, once per test
/// process; answers the `host/js` directory.
pub fn build_js_host() -> Result<PathBuf, String> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/js");
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !js.join("node_modules/@electric-sql/pglite").exists() {
                return Err(format!("run `npm ci` in {}", js.display()));
            }
            let out = Command::new("node")
                .arg(js.join("scripts/build.mjs"))
                .env("SUPALITE_BIN", binary())
                .output()
                .map_err(|e| format!("node: {e}"))?;
            out.status.success().then_some(()).ok_or_else(|| {
                format!(
                    "building the JS host failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .clone()?;
    Ok(js)
}

/// Runs one `node --test` file of `tests/js` (the real supabase-js) against
/// `server` with `env`; returns the report.
pub fn run_node(file: &str, server: &Server, env: &[(&str, &str)]) -> String {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        js.join("node_modules/@supabase/supabase-js").exists(),
        "supabase-js is not installed: run `npm ci` in {}",
        js.display()
    );
    // Node 20 has no global WebSocket without this flag; realtime-js needs one.
    let out = Command::new("node")
        .args(["--experimental-websocket", "--test", "--test-reporter=spec"])
        .arg(js.join(file))
        .current_dir(&js)
        .env("SUPALITE_URL", &server.url)
        .envs(env.iter().copied())
        .output()
        .expect("node is installed");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{file} failed:\n{report}\nserver log:\n{}",
        server.log()
    );
    report
}

/// The table `tests/js/smoke.test.mjs` reads.
pub const TODOS_SQL: &str = "create table todos (id bigint generated by default as identity primary key, title text not null, done boolean not null default false);
insert into todos (title, done) values ('write code', false), ('ship it', true), ('test it', false);";

/// The table and policies `tests/js/auth.test.mjs` uses (RLS per user).
pub const NOTES_SQL: &str = "
create table notes (
  id bigint generated by default as identity primary key,
  user_id uuid not null default auth.uid() references auth.users(id) on delete cascade,
  body text not null
);
alter table notes enable row level security;
create policy \"Users read their notes\" on notes for select to authenticated using ((select auth.uid()) = user_id);
create policy \"Users add their notes\" on notes for insert to authenticated with check ((select auth.uid()) = user_id);
";

/// The supabase-js smoke suite against `server` (a project with [`TODOS_SQL`]).
pub fn run_smoke_suite(server: &Server) {
    let anon =
        token(serde_json::json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}));
    let report = run_node("smoke.test.mjs", server, &[("SUPALITE_ANON_KEY", &anon)]);
    assert!(report.contains("pass 4"), "{report}");
}

/// The supabase-js auth suite (sign-up, sign-in, RLS per user, refresh
/// rotation and reuse detection, sign-out, admin endpoints, an anonymous
/// sign-in) against `server` (a project with [`NOTES_SQL`], refresh reuse
/// interval 0, anonymous sign-ins on);
/// returns the anon key it used.
pub fn run_auth_suite(server: &Server) -> String {
    let anon =
        token(serde_json::json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}));
    let service = token(
        serde_json::json!({"role": "service_role", "iss": "supabase-demo", "exp": now() + 3600}),
    );
    let report = run_node(
        "auth.test.mjs",
        server,
        &[
            ("SUPALITE_ANON_KEY", &anon),
            ("SUPALITE_SERVICE_KEY", &service),
        ],
    );
    assert!(
        report.contains("pass 6") && report.contains("fail 0"),
        "{report}"
    );
    anon
}

/// A private CA and a server certificate for 127.0.0.1 signed by it, made
/// with openssl in `dir`: `ca.pem` (to trust), `cert.pem` and `key.pem`
/// (for the server).
pub fn test_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=supalite test CA",
        "-keyout", "ca.key", "-out", "ca.pem"]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "cert.csr"]);
    std::fs::write(dir.join("ext.cnf"), "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n").unwrap();
    run(&["x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "cert.pem"]);
}

/// A throw-away P-256 key pair for the tests only (its private key as PEM, its public JWK).
pub const EC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFfcBNTsPucbklhY3
if04Kg5aDoccnaS6sIEEwMoJ3V2hRANCAATkxshjWOmHm6Z11n3b5tyK5z+TqRTR
+zeZBcVrPi417AhnGbDIoCGhhdgu9JYBr6MJsfbALX5s8RS+rmllQ4lS
-----END PRIVATE KEY-----
";
pub const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"test-key","alg":"ES256","x":"5MbIY1jph5umddZ92-bciuc_k6kU0fs3mQXFaz4uNew","y":"CGcZsMigIaGF2C70lgGvowmx9sAtfmzxFL6uaWVDiVI"}"#;
