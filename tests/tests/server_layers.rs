//! The server's layers, seen from a client: every answer carries a request
//! id — the one the components saw (passed on, or made by the host when
//! the client sent none or an unusable one), the host's own answers
//! (deadline) and what hyper answers itself (a request it cannot parse) —
//! and the request log names it.

use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;
use supalite_tests::*;

const SCHEMA: &str = r#"
create table notes (id int primary key, body text);
insert into notes (id, body) values (1, 'one');
create function nap(s float8) returns int language sql as $$ select 1 from pg_sleep(s) $$;
grant execute on function nap(float8) to anon;
"#;

fn anon() -> String {
    token(json!({"role": "anon", "exp": now() + 3600}))
}

fn connect(s: &Server) -> std::net::TcpStream {
    let c = std::net::TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

fn read_until_closed(c: &mut std::net::TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// A UUID v4, as the rewriter and the host make request ids.
fn is_uuid_v4(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
        && parts[2].starts_with('4')
}

fn request_id_of(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("x-request-id")
            .then(|| v.trim().to_string())
    })
}

#[test]
fn what_hyper_answers_itself_carries_a_logged_request_id() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    let s = p
        .serve_with(&[], &[("SUPALITE_LOG", "supalite=debug")])
        .unwrap();
    let mut seen = Vec::new();
    for (request, status) in [
        // A malformed request line.
        ("GET /a b c HTTP/1.1\r\nhost: x\r\n\r\n".to_string(), 400),
        // A header line without a colon.
        (
            "GET / HTTP/1.1\r\na header without a colon\r\n\r\n".to_string(),
            400,
        ),
        // A target past hyper's own limit.
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
        let answer = read_until_closed(&mut c);
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
        let id = request_id_of(head).unwrap_or_else(|| panic!("no request id: {answer}"));
        assert!(is_uuid_v4(&id), "{id}");
        assert!(!seen.contains(&id), "each answer its own id: {id}");
        assert!(
            s.wait_for_log(&id),
            "the log names {id}:\n{}",
            s.log()
        );
        seen.push(id);
    }

    // A request that reaches the pipeline: the log names the id its
    // answer carries.
    let key = anon();
    let r = s.get("/rest/v1/notes?select=id", &[("apikey", key.as_str())]);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.header("x-request-id").unwrap().to_string();
    assert!(is_uuid_v4(&id), "{id}");
    assert!(s.wait_for_log(&id), "{}", s.log());
}

#[test]
fn the_id_the_components_see_is_the_one_the_answer_carries() {
    for edge in ["handler", "wasi-http"] {
        let p = Project::new();
        p.migration("20240101000000_notes.sql", SCHEMA);
        p.config("request-deadline-ms = 700\n");
        let s = p.serve_with(&[], &[("SUPALITE_EDGE", edge)]).unwrap();
        let key = anon();
        // The client's own id is kept.
        let r = s.get(
            "/rest/v1/notes?select=id",
            &[("apikey", key.as_str()), ("x-request-id", "client-1")],
        );
        assert_eq!(
            (r.status, r.header("x-request-id")),
            (200, Some("client-1")),
            "{edge}: {}",
            r.body
        );
        // None, an empty one or one past 200 bytes: a new one.
        let long = "x".repeat(201);
        for sent in [None, Some(""), Some(long.as_str())] {
            let mut h = vec![("apikey", key.as_str())];
            if let Some(v) = sent {
                h.push(("x-request-id", v));
            }
            let r = s.get("/rest/v1/notes?select=id", &h);
            assert_eq!(r.status, 200, "{edge}: {}", r.body);
            let id = r.header("x-request-id").unwrap();
            assert!(is_uuid_v4(id), "{edge}: {sent:?} -> {id}");
        }
        // The host's own answer past the deadline carries the request's id.
        let r = s.get(
            "/rest/v1/rpc/nap?s=3",
            &[("apikey", key.as_str()), ("x-request-id", "slow-2")],
        );
        assert_eq!(r.status, 504, "{edge}: {}", r.body);
        assert_eq!(r.header("x-request-id"), Some("slow-2"), "{edge}");
        let r = s.get("/rest/v1/rpc/nap?s=3", &[("apikey", key.as_str())]);
        assert_eq!(r.status, 504, "{edge}: {}", r.body);
        assert!(is_uuid_v4(r.header("x-request-id").unwrap()), "{edge}");
        // Routes: the data API, the auth API, and a path no route takes.
        let r = s.get("/auth/v1/health", &[("apikey", key.as_str())]);
        assert!(r.status < 500, "{edge}: {} {}", r.status, r.body);
        assert!(r.header("x-request-id").is_some_and(is_uuid_v4), "{edge}");
        let r = s.get("/graphql/v1", &[("apikey", key.as_str())]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (404, json!("PGRST125")),
            "{edge}"
        );
        assert!(r.header("x-request-id").is_some_and(is_uuid_v4), "{edge}");
    }
}
