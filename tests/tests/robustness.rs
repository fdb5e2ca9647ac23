//! Hostile and unlucky traffic: error floods, deep nesting, runaway
//! statements, slow or idle clients, oversized bodies, shutdown under load.
//! The server must keep answering valid requests correctly, lose no
//! acknowledged write, and say what went wrong in PostgREST's format.

use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use supalite_tests::*;

const SCHEMA: &str = r#"
create table notes (id int primary key, body text, data jsonb default '{"a": {"b": 1}}');
insert into notes (id, body) values (1, 'one'), (2, 'two');
create function spin(n bigint) returns bigint language plpgsql as $$
  declare i bigint := 0; begin loop i := i + 1; exit when i >= n; end loop; return i; end $$;
create function nap(s float8) returns int language sql as $$ select 1 from pg_sleep(s) $$;
create function rec(n int) returns int language plpgsql as $$
  begin if n <= 0 then return 0; end if; return rec(n - 1) + 1; end $$;
"#;

fn db_name(p: &Project) -> &'static str {
    if p.db_uri.is_some() {
        "postgres"
    } else {
        "pglite"
    }
}

fn anon() -> String {
    token(json!({"role": "anon", "exp": now() + 3600}))
}

fn service() -> String {
    token(json!({"role": "service_role", "exp": now() + 3600}))
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// The server still reads and writes correctly.
fn still_serves(s: &Server, id: i32) {
    let key = anon();
    let h = [("apikey", key.as_str())];
    let r = s.get("/rest/v1/notes?select=id&id=eq.1", &h);
    assert_eq!(
        (r.status, r.json()),
        (200, json!([{"id": 1}])),
        "{}",
        r.body
    );
    let body = format!(r#"{{"id": {id}, "body": "after"}}"#);
    let r = s.request(
        "POST",
        "/rest/v1/notes?select=id,body",
        &[
            ("apikey", key.as_str()),
            ("prefer", "return=representation"),
        ],
        Some(&body),
    );
    assert_eq!(
        (r.status, r.json()),
        (201, json!([{"id": id, "body": "after"}])),
        "{}",
        r.body
    );
}

#[test]
fn error_floods_leave_the_database_healthy() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", SCHEMA);
        let s = p.serve();
        let key = anon();
        let h = [("apikey", key.as_str())];
        let before = s.rss_kb();
        // PGlite used to stop answering after ~5,000 failing statements.
        let bad_column = s.flood(4, 6000, "GET", "/rest/v1/notes?select=nosuch", &h, None);
        assert_eq!(bad_column.get(&400), Some(&6000), "{bad_column:?}");
        let duplicates = s.flood(
            4,
            2000,
            "POST",
            "/rest/v1/notes",
            &h,
            Some(r#"{"id": 1, "body": "dup"}"#),
        );
        assert_eq!(duplicates.get(&409), Some(&2000), "{duplicates:?}");
        still_serves(&s, 10);
        let grown_mb = s.rss_kb().saturating_sub(before) / 1024;
        assert!(
            grown_mb < 100,
            "RSS grew by {grown_mb} MB over 8,000 errors"
        );
    });
}

#[test]
fn hostile_query_strings_are_refused_before_sql() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", SCHEMA);
        let s = p.serve();
        let key = anon();
        let h = [("apikey", key.as_str())];
        let deep = |n: usize| format!("data{}", "->a".repeat(n));
        let parens = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
        let terms = vec!["w"; 12_000].join("%26");
        for path in [
            format!("/rest/v1/notes?select={}", deep(3000)),
            format!("/rest/v1/notes?{}=eq.1", deep(2000)),
            format!("/rest/v1/notes?order={}", deep(5000)),
            format!("/rest/v1/notes?body=match.{}", parens(5000)),
            format!("/rest/v1/notes?body=fts.{terms}"),
            format!("/rest/v1/notes?id=in.({})", vec!["1"; 20_000].join(",")),
        ] {
            let r = s.get(&path, &h);
            assert_eq!(r.status, 400, "{}: {}", &path[..60], r.body);
            assert_eq!(r.json()["code"], "PGRST100", "{}", r.body);
        }
        // A path within the limit still reaches the database.
        let r = s.get("/rest/v1/notes?select=id,x:data->a->>b&id=eq.1", &h);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1, "x": "1"}])),
            "{}",
            r.body
        );
        still_serves(&s, 11);
    });
}

#[test]
fn runaway_recursion_is_refused_and_the_database_recovers() {
    on_each_db(|p| {
        let db = db_name(&p);
        p.migration("20240101000000_notes.sql", SCHEMA);
        let admin = format!("127.0.0.1:{}", free_port());
        let s = p
            .serve_with(&[], &[("SUPALITE_ADMIN_LISTEN", &admin)])
            .unwrap();
        let key = anon();
        let h = [("apikey", key.as_str())];
        // Legitimate recursion works (PGlite trapped at ~150 levels).
        let r = s.get("/rest/v1/rpc/rec?n=500", &h);
        assert_eq!((r.status, r.body.as_str()), (200, "500"), "{db}");
        let r = s.get("/rest/v1/rpc/rec?n=200000", &h);
        assert_eq!(r.status, 500, "{db}: {}", r.body);
        assert_eq!(r.json()["code"], "54001", "{db}: {}", r.body);
        still_serves(&s, 12);
        if db == "pglite" {
            // PGlite is left unable to run anything after a 54001: the
            // supervisor noticed and reopened it on the same directory.
            assert!(s.wait_for_log("embedded PGlite reopened"), "{}", s.log());
            assert!(s.metrics().contains("supalite_pglite_restarts_total 1"));
        }
        // And it still shuts down cleanly.
        let started = Instant::now();
        let (stopped, log) = s.stop_with_log();
        assert!(stopped.success(), "{db}: {stopped:?}\n{log}");
        assert!(started.elapsed() < Duration::from_secs(15), "{db}");
    });
}

/// A new database gets Supabase's role timeouts (anon 3 s, authenticated
/// 8 s), so an anonymous request holds embedded PGlite's one session for 3 s
/// at most; a role's own setting, once changed, is kept across restarts.
#[test]
fn new_databases_get_supabase_role_timeouts() {
    let p = Project::new();
    p.migration(
        "20240101000000_t.sql",
        "create function my_timeout() returns text language sql stable as
           $$ select current_setting('statement_timeout') $$;",
    );
    let timeouts = |s: &Server| -> Vec<String> {
        [
            anon(),
            token(json!({"role": "authenticated", "exp": now() + 3600})),
            service(),
        ]
        .iter()
        .map(|key| {
            let auth = bearer(key);
            let r = s.get(
                "/rest/v1/rpc/my_timeout",
                &[("apikey", key.as_str()), ("authorization", auth.as_str())],
            );
            assert_eq!(r.status, 200, "{}", r.body);
            r.json().as_str().unwrap().to_string()
        })
        .collect()
    };
    let s = p.serve();
    // service_role has none of its own: the db-statement-timeout cap.
    assert_eq!(timeouts(&s), ["3s", "8s", "8s"]);
    drop(s);
    p.migration(
        "20240101000001_t.sql",
        "alter role anon set statement_timeout = '1500ms';",
    );
    let s = p.serve();
    assert_eq!(timeouts(&s), ["1500ms", "8s", "8s"]);
    drop(s);
    let s = p.serve();
    assert_eq!(timeouts(&s), ["1500ms", "8s", "8s"]);
}

#[test]
fn statement_timeouts_follow_the_role_and_the_cap() {
    on_each_db(|p| {
        let db = db_name(&p);
        p.migration("20240101000000_notes.sql", SCHEMA);
        p.migration(
            "20240101000001_timeouts.sql",
            "alter role anon set statement_timeout = '700ms';",
        );
        p.config("db-statement-timeout = 4000\n");
        let s = p.serve();
        let (a, sr) = (anon(), service());
        // anon: its own 700 ms; service_role (no setting): the 4 s cap.
        for (who, key, range) in [("anon", &a, 0.6..3.0), ("service_role", &sr, 3.9..9.0)] {
            let started = Instant::now();
            let auth = bearer(key);
            let r = s.get(
                "/rest/v1/rpc/spin?n=100000000000",
                &[("apikey", key.as_str()), ("authorization", auth.as_str())],
            );
            let took = started.elapsed().as_secs_f64();
            assert_eq!(r.status, 500, "{db} {who}: {}", r.body);
            assert_eq!(r.json()["code"], "57014", "{db} {who}: {}", r.body);
            assert_eq!(
                r.json()["message"],
                "canceling statement due to statement timeout"
            );
            assert!(
                range.contains(&took),
                "{db} {who}: cancelled after {took:.1} s"
            );
        }
        still_serves(&s, 13);
    });
}

/// A statement asleep (`pg_sleep`) is cancelled at its timeout, not when it
/// wakes up: PGlite has no signals, so its sleeps are cut short by the
/// cancel itself; meanwhile PGlite's one session served nobody else.
#[test]
fn a_sleeping_statement_is_cancelled_at_its_timeout() {
    on_each_db(|p| {
        let db = db_name(&p);
        p.migration("20240101000000_notes.sql", SCHEMA);
        p.config("db-statement-timeout = 500\n");
        let s = p.serve();
        let sr = service();
        let auth = bearer(&sr);
        let h = [("apikey", sr.as_str()), ("authorization", auth.as_str())];
        for _ in 0..2 {
            let started = Instant::now();
            let r = s.get("/rest/v1/rpc/nap?s=6", &h);
            let took = started.elapsed();
            assert_eq!(r.json()["code"], "57014", "{db}: {}", r.body);
            assert!(
                took < Duration::from_secs(3),
                "{db}: cancelled after {took:?}"
            );
        }
        // A short nap still sleeps its time, and the next request is served.
        let started = Instant::now();
        let r = s.get("/rest/v1/rpc/nap?s=0.3", &h);
        assert_eq!((r.status, r.json()), (200, json!(1)), "{db}: {}", r.body);
        assert!(started.elapsed() >= Duration::from_millis(300), "{db}");
        still_serves(&s, 15);
    });
}

#[test]
fn the_request_deadline_ends_a_request_with_504() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", SCHEMA);
        p.config("request-deadline-ms = 800\ndb-statement-timeout = 0\n");
        let s = p.serve();
        let sr = service();
        let auth = bearer(&sr);
        let h = [
            ("apikey", sr.as_str()),
            ("authorization", auth.as_str()),
            ("x-request-id", "slow-1"),
        ];
        let r = s.get("/rest/v1/rpc/nap?s=30", &h);
        assert_eq!(r.status, 504, "{}", r.body);
        assert_eq!(r.json()["code"], "SUPALITE504");
        assert_eq!(r.header("x-request-id"), Some("slow-1"));
        // The statement of the request that ended is cancelled, not left
        // asleep: on PGlite it would hold the one session for 30 s, and
        // these requests (800 ms deadline too) would answer 504.
        still_serves(&s, 14);
    });
}

/// Request bodies in flight are bounded all together (`server-body-memory-
/// mb`): every stage copies a body again, so 24 clients posting 8 MB at once
/// used to take ~1.3 GB; past the budget a request waits its turn (within
/// its deadline) instead of adding to the peak.
#[test]
fn concurrent_large_bodies_wait_for_the_body_budget() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    p.migration(
        "20240101000001_size.sql",
        "create function size(t text) returns int language sql immutable as $$ select length(t) $$;",
    );
    p.config("server-body-memory-mb = 16\n");
    let s = std::sync::Arc::new(p.serve());
    let base = s.rss_kb();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(s.rss_kb());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let body = std::sync::Arc::new(format!(r#"{{"t": "{}"}}"#, "x".repeat(8 << 20)));
    let clients: Vec<_> = (0..24)
        .map(|_| {
            let (s, body) = (s.clone(), body.clone());
            std::thread::spawn(move || {
                let key = anon();
                let r = s.request(
                    "POST",
                    "/rest/v1/rpc/size",
                    &[("apikey", key.as_str())],
                    Some(body.as_str()),
                );
                (r.status, r.body)
            })
        })
        .collect();
    for c in clients {
        let (status, body) = c.join().unwrap();
        assert_eq!((status, body.as_str()), (200, "8388608"));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = peak.join().unwrap();
    assert!(
        peak < base + 700 * 1024,
        "peak RSS {} MB over {} MB at start",
        peak / 1024,
        base / 1024
    );
    still_serves(&s, 16);
}

/// A raw connection to the server.
fn connect(s: &Server) -> std::net::TcpStream {
    let c = std::net::TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Reads until the server closes the connection; the bytes and how long.
fn read_until_closed(c: &mut std::net::TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&all).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn slow_idle_and_malformed_clients_are_cut_off() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    p.config("server-header-timeout-ms = 500\nserver-max-connections = 8\nmax-body-bytes = 1000\n");
    let s = p.serve();
    let key = anon();

    // Slowloris: headers that never end.
    let mut slow = connect(&s);
    write!(
        slow,
        "GET /rest/v1/notes HTTP/1.1\r\nhost: x\r\napikey: {key}\r\n"
    )
    .unwrap();
    let (_, took) = read_until_closed(&mut slow);
    assert!(took < Duration::from_secs(5), "open for {took:?}");

    // An idle keep-alive connection is closed after the same timeout.
    let mut idle = connect(&s);
    write!(
        idle,
        "GET /rest/v1/notes?select=id&id=eq.2 HTTP/1.1\r\nhost: x\r\napikey: {key}\r\n\r\n"
    )
    .unwrap();
    let (answer, took) = read_until_closed(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_secs(5), "idle for {took:?}");

    // More clients than connections allowed: the extra ones wait their turn.
    let hogs: Vec<_> = (0..8).map(|_| connect(&s)).collect();
    let r = s.get(
        "/rest/v1/notes?select=id&id=eq.1",
        &[("apikey", key.as_str())],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    drop(hogs);

    // A body announced over the limit: 413 before a byte of it is read.
    let mut big = connect(&s);
    write!(big, "POST /rest/v1/notes HTTP/1.1\r\nhost: x\r\napikey: {key}\r\nx-request-id: big-1\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n").unwrap();
    let mut head = [0u8; 1024];
    let n = big.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.contains("PGRST413") && head.contains("x-request-id: big-1"),
        "{head}"
    );

    // A broken chunked body: 400 in PostgREST's shape, with a request id.
    let mut chunked = connect(&s);
    write!(chunked, "POST /rest/v1/notes HTTP/1.1\r\nhost: x\r\napikey: {key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nxx\r\n").unwrap();
    let (answer, _) = read_until_closed(&mut chunked);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"PGRST102\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id: "),
        "{answer}"
    );

    // A request target or header block over the limits: 414 / 431 as JSON.
    let mut long = connect(&s);
    write!(long, "GET /rest/v1/notes?id=eq.{} HTTP/1.1\r\nhost: x\r\nx-request-id: long-1\r\nconnection: close\r\n\r\n", "1".repeat(55_000)).unwrap();
    let (answer, _) = read_until_closed(&mut long);
    assert!(
        answer.starts_with("HTTP/1.1 414"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(
        answer.contains("SUPALITE414") && answer.contains("x-request-id: long-1"),
        "{answer}"
    );
    let mut many = connect(&s);
    let fields: String = (0..150).map(|i| format!("x-f{i}: v\r\n")).collect();
    write!(
        many,
        "GET /rest/v1/notes HTTP/1.1\r\nhost: x\r\n{fields}connection: close\r\n\r\n"
    )
    .unwrap();
    let (answer, _) = read_until_closed(&mut many);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("SUPALITE431"), "{answer}");

    // What hyper answers itself (it could not parse the request: a broken
    // request line or header, a target past its own 65,534 bytes) carries
    // the same JSON, with a body length that matches.
    for (request, status) in [
        ("GET /a b c HTTP/1.1\r\nhost: x\r\n\r\n".to_string(), 400),
        (
            "GET / HTTP/1.1\r\na header without a colon\r\n\r\n".to_string(),
            400,
        ),
        (
            format!(
                "GET /rest/v1/notes?id=eq.{} HTTP/1.1\r\nhost: x\r\n\r\n",
                "1".repeat(70_000)
            ),
            414,
        ),
    ] {
        let mut c = connect(&s);
        c.write_all(request.as_bytes()).unwrap();
        let (answer, _) = read_until_closed(&mut c);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{answer}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], format!("SUPALITE{status}"), "{answer}");
    }

    still_serves(&s, 15);
}

#[test]
fn shutdown_lets_requests_in_flight_finish() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", SCHEMA);
        let s = p.serve();
        let sr = service();
        let url = s.url.clone();
        let slow = std::thread::spawn(move || {
            ureq::get(&format!("{url}/rest/v1/rpc/nap?s=1.5"))
                .set("apikey", &sr)
                .set("authorization", &format!("Bearer {sr}"))
                .call()
                .map(|r| (r.status(), r.into_string().unwrap()))
                .map_err(|e| e.to_string())
        });
        std::thread::sleep(Duration::from_millis(400));
        let started = Instant::now();
        let status = s.stop();
        assert!(status.success(), "{status:?}");
        assert_eq!(slow.join().unwrap(), Ok((200, "1".to_string())));
        assert!(started.elapsed() < Duration::from_secs(15));
    });
}

#[test]
fn no_postgresql_query_outlives_its_request_or_the_server() {
    let p = Project::on(Db::Postgres);
    p.migration("20240101000000_notes.sql", SCHEMA);
    p.config("db-statement-timeout = 0\nrequest-deadline-ms = 500\n");
    let db = p.db_uri.clone().unwrap();
    let db = db.rsplit('/').next().unwrap().to_string();
    let running = |marker: &str| {
        pg::Cluster::get()
            .psql(
                &db,
                &format!("select count(*) from pg_stat_activity where state = 'active' and query like '%{marker}%' and pid <> pg_backend_pid()"),
            )
            .unwrap()
    };
    let gone_within = |marker: &str, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while running(marker) != "0" {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    };
    let sr = service();
    let auth = bearer(&sr);
    let h = [("apikey", sr.as_str()), ("authorization", auth.as_str())];

    // The request's deadline passes: its statement is cancelled, not left running.
    let s = p.serve();
    let r = s.get("/rest/v1/rpc/nap?s=30", &h);
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(
        gone_within("nap", 5),
        "the statement kept running after its request ended"
    );

    // supalite is killed mid-request: PostgreSQL cancels what it was running.
    drop(s);
    p.config("db-statement-timeout = 0\n");
    let s = p.serve();
    let url = s.url.clone();
    let (k, a) = (sr.clone(), auth.clone());
    std::thread::spawn(move || {
        let _ = ureq::get(&format!("{url}/rest/v1/rpc/spin?n=100000000000"))
            .set("apikey", &k)
            .set("authorization", &a)
            .call();
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while running("spin") == "0" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(running("spin"), "1");
    unsafe { libc::kill(s.pid() as i32, libc::SIGKILL) };
    assert!(gone_within("spin", 5), "the query outlived supalite");
}
