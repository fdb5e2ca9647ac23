//! The adapter path in front of a PostgREST-compatible upstream: retries,
//! timeouts, the circuit breaker, fallback to the bridge, metrics, and the
//! rewriter's next-hop headers — against a fault-injecting upstream whose
//! request counts are asserted, and against a second supalite.

use serde_json::json;
use std::time::{Duration, Instant};
use supalite_tests::fault::{FaultUpstream, Step};
use supalite_tests::*;

fn anon_key() -> String {
    token(json!({"role": "anon", "exp": now() + 3600}))
}

/// A supalite with the adapter in front of `upstream`, plus the admin
/// listener; `extra` is more supalite.toml.
fn front(p: &Project, upstream: &str, extra: &str) -> Server {
    p.config(&format!(
        "backend = \"adapter\"\nupstream-url = \"{upstream}\"\nadmin-listen = \"127.0.0.1:0\"\n{extra}"
    ));
    p.serve()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
}

#[test]
fn retries_only_where_safe_with_bounded_attempts_and_timeouts() {
    let up = FaultUpstream::start();
    let p = Project::new();
    let s = front(
        &p,
        &up.url,
        "upstream-timeout-ms = 400\nupstream-retries = 2\nupstream-backoff-ms = 20\nupstream-breaker-failures = 1000\n",
    );
    let key = anon_key();
    let h = [("apikey", key.as_str()), ("connection", "keep-alive")];

    // GET: two 503s, then an answer. The query string arrives byte for byte.
    up.script(&[
        Step::Status(503),
        Step::Status(503),
        Step::Ok(r#"[{"id":1}]"#),
    ]);
    let path = "/rest/v1/todos?select=id,title&title=like.*a%20b*&or=(id.eq.1,id.eq.2)";
    let r = s.get(path, &h);
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"id": 1}])),
        "{}",
        r.body
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 3, "1 attempt + 2 retries");
    assert_eq!(
        seen[0].target,
        "/todos?select=id,title&title=like.*a%20b*&or=(id.eq.1,id.eq.2)"
    );
    // Next-hop headers: bearer from apikey, request id (echoed to the
    // client), forwarding headers, no hop-by-hop headers.
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    let rid = seen[0]
        .header("x-request-id")
        .expect("x-request-id upstream");
    assert_eq!(r.header("x-request-id"), Some(rid));
    assert!(
        seen.iter().all(|x| x.header("x-request-id") == Some(rid)),
        "same id on retries"
    );
    assert!(seen[0].header("x-forwarded-host").is_some());
    assert_eq!(seen[0].header("x-forwarded-prefix"), Some("/rest/v1"));
    assert_eq!(seen[0].header("keep-alive"), None);
    assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.1"));
    // A client's own request id is kept.
    up.reset();
    let r = s.get(
        "/rest/v1/todos",
        &[("apikey", &key), ("x-request-id", "client-chosen-1")],
    );
    assert_eq!(r.header("x-request-id"), Some("client-chosen-1"));
    assert_eq!(up.seen()[0].header("x-request-id"), Some("client-chosen-1"));

    // Retries are bounded: the upstream's last 503 is passed on.
    up.reset();
    up.script(&[Step::Status(503); 5]);
    let r = s.get("/rest/v1/todos", &h);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("PGRST503"))
    );
    assert_eq!(up.count(), 3);
    // Server errors are logged with their request id.
    let rid = r.header("x-request-id").unwrap().to_string();
    let logged = Instant::now() + Duration::from_secs(5);
    while !s.log().contains(&rid) {
        assert!(
            Instant::now() < logged,
            "request id {rid} not in the log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A POST that reached the upstream is never repeated.
    up.reset();
    up.script(&[Step::Status(503)]);
    let r = s.request("POST", "/rest/v1/todos", &h, Some(r#"{"title":"once"}"#));
    assert_eq!(r.status, 503);
    assert_eq!(up.count(), 1);
    assert_eq!(up.seen()[0].body, r#"{"title":"once"}"#);

    // Timeout: a POST gets 504 after one attempt; a GET is retried.
    up.reset();
    up.script(&[Step::Delay(Duration::from_millis(1500))]);
    let t = Instant::now();
    let r = s.request("POST", "/rest/v1/todos", &h, Some("{}"));
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (504, json!("SUPALITE504")),
        "{}",
        r.body
    );
    assert!(
        t.elapsed() < Duration::from_millis(1400),
        "answered at the timeout, not after the upstream"
    );
    assert_eq!(up.count(), 1);
    up.reset();
    up.script(&[
        Step::Delay(Duration::from_millis(1500)),
        Step::Ok(r#"[{"id":2}]"#),
    ]);
    let r = s.get("/rest/v1/todos", &h);
    assert_eq!((r.status, r.json()), (200, json!([{"id": 2}])));
    assert_eq!(up.count(), 2);

    // A body cut off mid-way: GET retried, PATCH answered 502.
    up.reset();
    up.script(&[Step::DropMidBody, Step::Ok(r#"[{"id":3}]"#)]);
    let r = s.get("/rest/v1/todos", &h);
    assert_eq!((r.status, r.json()), (200, json!([{"id": 3}])));
    assert_eq!(up.count(), 2);
    up.reset();
    up.script(&[Step::DropMidBody]);
    let r = s.request("PATCH", "/rest/v1/todos?id=eq.1", &h, Some("{}"));
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (502, json!("SUPALITE502")),
        "{}",
        r.body
    );
    assert_eq!(up.count(), 1);

    // Counters on the admin listener.
    let m = s.metrics();
    let label = format!("{{upstream=\"{}\"}}", up.url);
    assert!(
        metric(&m, &format!("supalite_upstream_retries_total{label}")) >= 6.0,
        "{m}"
    );
    assert!(
        metric(&m, &format!("supalite_upstream_failures_total{label}")) >= 9.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            &format!("supalite_upstream_latency_seconds_count{label}")
        ) >= 14.0
    );
    assert_eq!(
        metric(&m, &format!("supalite_upstream_breaker_state{label}")),
        0.0
    );
    let admin = s.admin_url.clone().unwrap();
    assert_eq!(
        ureq::get(&format!("{admin}/ready"))
            .call()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn refused_connections_are_retried_for_any_method_and_end_in_503() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let p = Project::new();
    let s = front(
        &p,
        &closed,
        "upstream-backoff-ms = 10\nupstream-breaker-failures = 1000\n",
    );
    let key = anon_key();
    let r = s.request("POST", "/rest/v1/todos", &[("apikey", &key)], Some("{}"));
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("SUPALITE503"))
    );
    assert!(r.json()["message"].as_str().unwrap().contains("connect"));
    let m = s.metrics();
    // Nothing was sent, so the POST could be retried: 3 attempts.
    assert_eq!(
        metric(
            &m,
            &format!("supalite_upstream_requests_total{{upstream=\"{closed}\"}}")
        ),
        3.0,
        "{m}"
    );
}

#[test]
fn circuit_breaker_opens_rejects_without_sending_and_half_opens_to_probe() {
    let up = FaultUpstream::start();
    let p = Project::new();
    let s = front(
        &p,
        &up.url,
        "upstream-retries = 0\nupstream-breaker-failures = 3\nupstream-breaker-cooldown-ms = 700\n",
    );
    let key = anon_key();
    let h = [("apikey", key.as_str())];
    let label = format!("{{upstream=\"{}\"}}", up.url);

    up.script(&[Step::Status(503); 3]);
    for _ in 0..3 {
        assert_eq!(s.get("/rest/v1/todos", &h).status, 503);
    }
    assert_eq!(up.count(), 3);
    // Open: refused here, the upstream is not bothered.
    let r = s.get("/rest/v1/todos", &h);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("SUPALITE503"))
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{}",
        r.body
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(up.count(), 3);
    let m = s.metrics();
    assert_eq!(
        metric(&m, &format!("supalite_upstream_breaker_state{label}")),
        1.0
    );
    assert_eq!(
        metric(&m, &format!("supalite_upstream_rejected_total{label}")),
        1.0
    );

    // After the cool-down one probe goes through; it fails: open again.
    std::thread::sleep(Duration::from_millis(800));
    up.script(&[Step::Status(503)]);
    assert_eq!(s.get("/rest/v1/todos", &h).json()["code"], "PGRST503");
    assert_eq!(up.count(), 4);
    assert!(s.get("/rest/v1/todos", &h).json()["message"]
        .as_str()
        .unwrap()
        .contains("circuit breaker"));
    assert_eq!(up.count(), 4);

    // The next probe succeeds: closed, traffic flows again.
    std::thread::sleep(Duration::from_millis(800));
    up.script(&[Step::Ok(r#"[{"id":7}]"#)]);
    assert_eq!(s.get("/rest/v1/todos", &h).json(), json!([{"id": 7}]));
    assert_eq!(s.get("/rest/v1/todos", &h).status, 200);
    assert_eq!(up.count(), 6);
    let m = s.metrics();
    assert_eq!(
        metric(&m, &format!("supalite_upstream_breaker_state{label}")),
        0.0
    );
    assert_eq!(
        metric(
            &m,
            &format!("supalite_upstream_breaker_opened_total{label}")
        ),
        2.0
    );
}

const TODOS: &str = "create table todos (id bigint generated by default as identity primary key, title text not null, done boolean not null default false);
insert into todos (title) values ('a'), ('b');";

#[test]
fn fallback_serves_with_the_bridge_on_the_same_database_and_says_so() {
    let p = Project::on(Db::Postgres);
    p.migration("20240101000000_todos.sql", TODOS);
    let up = FaultUpstream::start();
    let s = front(
        &p,
        &up.url,
        "upstream-fallback = true\nupstream-retries = 1\nupstream-backoff-ms = 10\nupstream-breaker-failures = 3\nupstream-breaker-cooldown-ms = 60000\n",
    );
    let key = anon_key();
    let h = [("apikey", key.as_str())];

    // The upstream answers: no fallback.
    up.script(&[Step::Ok(r#"[{"from":"upstream"}]"#)]);
    let r = s.get("/rest/v1/todos?select=title&order=id", &h);
    assert_eq!(r.json(), json!([{"from": "upstream"}]));
    assert_eq!(r.header("x-supalite-fallback"), None);

    // A POST the upstream received and failed is not replayed elsewhere.
    up.script(&[Step::Status(503)]);
    let r = s.request("POST", "/rest/v1/todos", &h, Some(r#"{"title":"x"}"#));
    assert_eq!((r.status, r.header("x-supalite-fallback")), (503, None));

    // A GET the upstream cannot serve is served by the bridge (and the
    // breaker opens after these failures).
    up.script(&[Step::Status(503), Step::Status(503)]);
    let r = s.get("/rest/v1/todos?select=title&order=id", &h);
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"title": "a"}, {"title": "b"}])),
        "{}",
        r.body
    );
    assert_eq!(
        r.header("x-supalite-fallback"),
        Some("bridge; reason=unavailable")
    );

    // Breaker open: nothing is sent; writes go to the bridge too.
    let before = up.count();
    let r = s.request(
        "POST",
        "/rest/v1/todos?select=title",
        &[("apikey", &key), ("prefer", "return=representation")],
        Some(r#"{"title":"c"}"#),
    );
    assert_eq!(
        (r.status, r.json()),
        (201, json!([{"title": "c"}])),
        "{}",
        r.body
    );
    assert_eq!(
        r.header("x-supalite-fallback"),
        Some("bridge; reason=breaker-open")
    );
    assert_eq!(up.count(), before);
    let m = s.metrics();
    assert!(
        metric(
            &m,
            &format!(
                "supalite_upstream_fallbacks_total{{upstream=\"{}\"}}",
                up.url
            )
        ) >= 2.0
    );
}

#[test]
fn fallback_needs_the_upstream_database() {
    let p = Project::new();
    p.config(
        "backend = \"adapter\"\nupstream-url = \"http://127.0.0.1:9\"\nupstream-fallback = true\n",
    );
    let err = p.serve_with(&[], &[]).err().expect("refuses to start");
    assert!(err.contains("db-uri"), "{err}");
}

/// The supervised PostgREST on embedded PGlite: the host exposes PGlite on
/// a loopback port and hands PostgREST that db-uri; the fallback bridge
/// shares the same PGlite. psql (a real libpq client) works on the port
/// too, and sees what the API wrote.
#[test]
fn supervised_postgrest_on_embedded_pglite_through_the_loopback_port() {
    let p = Project::new();
    p.migration("20240101000000_todos.sql", TODOS);
    let (port, admin_port) = (free_port(), free_port());
    p.config(&format!(
        "upstream-fallback = true\nupstream-timeout-ms = 500\nupstream-retries = 0\nadmin-listen = \"127.0.0.1:0\"\n[postgrest]\ncommand = [\"{}\", \"postgrest\"]\nserver-port = {port}\nadmin-server-port = {admin_port}\n",
        binary().display()
    ));
    let s = p.serve();
    let conf = std::fs::read_to_string(p.path().join(".supalite/postgrest.conf")).unwrap();
    let db_uri = conf
        .lines()
        .find_map(|l| l.strip_prefix("db-uri = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert!(
        db_uri.starts_with("postgres://postgres@127.0.0.1:"),
        "{conf}"
    );

    let service = token(json!({"role": "service_role", "exp": now() + 3600}));
    let h = [
        ("apikey", service.as_str()),
        ("prefer", "return=representation"),
    ];
    let r = s.request(
        "POST",
        "/rest/v1/todos?select=title",
        &h,
        Some(r#"{"title":"via postgrest"}"#),
    );
    assert_eq!(
        (r.status, r.json()),
        (201, json!([{"title": "via postgrest"}])),
        "{}",
        r.body
    );
    assert_eq!(r.header("x-supalite-fallback"), None);

    // psql on the same loopback port sees the row, in a transaction.
    let psql = pg::bin_dir().join("psql");
    let out = std::process::Command::new(&psql)
        .arg(&db_uri)
        .args([
            "-XAtq",
            "-c",
            "begin",
            "-c",
            "select string_agg(title, ',' order by id) from todos",
            "-c",
            "commit",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "a,b,via postgrest",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // PostgREST frozen (SIGSTOP): after the timeout the fallback bridge on
    // the same PGlite answers.
    let pid: u32 = s
        .log()
        .lines()
        .find(|l| l.contains("PostgREST ready"))
        .and_then(|l| l.split("pid=").nth(1))
        .and_then(|x| x.split_whitespace().next()?.parse().ok())
        .unwrap();
    unsafe {
        libc::kill(pid as i32, libc::SIGSTOP);
    }
    let r = s.get(
        "/rest/v1/todos?select=title&order=id",
        &[("apikey", &service)],
    );
    unsafe {
        libc::kill(pid as i32, libc::SIGCONT);
    }
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!([{"title": "a"}, {"title": "b"}, {"title": "via postgrest"}])
        ),
        "{}",
        r.body
    );
    assert_eq!(
        r.header("x-supalite-fallback"),
        Some("bridge; reason=timeout")
    );
}

/// With `[grants]` set the host tells the roles apart and checks each
/// outgoing request against its caller: the adapter still reaches its
/// upstream, and nothing else.
#[test]
fn the_adapter_reaches_its_upstream_when_roles_are_told_apart() {
    let up = FaultUpstream::start();
    let p = Project::new();
    let s = front(
        &p,
        &up.url,
        "upstream-breaker-failures = 1000\n[grants]\nrewriter = [\"wasi:http/outgoing-handler\"]\n",
    );
    up.script(&[Step::Ok(r#"[{"id":7}]"#)]);
    let key = anon_key();
    let r = s.get("/rest/v1/todos?select=id", &[("apikey", key.as_str())]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"id": 7}])),
        "{}\n{}",
        r.body,
        s.log()
    );
    assert_eq!(up.seen().len(), 1);
}
