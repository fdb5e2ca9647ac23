//! Hostile traffic, second round (issue 32): one client holding its quota
//! of slow connections, anonymous runaways on PGlite's one session, bursts
//! of large bodies. Each test shows ordinary clients still served within
//! their normal latency.
//!
//! A second client address is one of 127/8 (all loopback on Linux): the
//! raw clients here bind 127.0.0.2… before they connect. Settings new in
//! this round are passed in the environment, so that `SUPALITE_BIN` can
//! point at an older binary to see a test fail.

use serde_json::json;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use supalite_tests::*;

const SCHEMA: &str = r#"
create table notes (id int primary key, body text);
insert into notes (id, body) values (1, 'one'), (2, 'two');
create function spin(n bigint) returns bigint language plpgsql as $$
  declare i bigint := 0; begin loop i := i + 1; exit when i >= n; end loop; return i; end $$;
create function size(t jsonb) returns int language sql immutable as $$ select length(t::text) $$;
"#;

fn anon() -> String {
    token(json!({"role": "anon", "exp": now() + 3600}))
}

fn user() -> String {
    token(json!({"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000001", "exp": now() + 3600}))
}

fn service() -> String {
    token(json!({"role": "service_role", "exp": now() + 3600}))
}

/// A TCP connection to `s` from the loopback address `from`.
fn connect_from(s: &Server, from: Ipv4Addr) -> std::io::Result<TcpStream> {
    let to: std::net::SocketAddrV4 = s.url.trim_start_matches("http://").parse().unwrap();
    let sockaddr = |a: std::net::SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(std::net::SocketAddrV4::new(from, 0));
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sockaddr(to);
        if libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One request on a new connection from `from` (`Connection: close`).
fn raw_request(
    s: &Server,
    from: Ipv4Addr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Raw> {
    let mut c = connect_from(s, from)?;
    c.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    // A server that refuses the connection may have answered and closed it
    // already: its answer is still there to read.
    let _ = c.write_all(req.as_bytes());
    let mut all = Vec::new();
    let _ = c.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Raw {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Times one ordinary read, through ureq from 127.0.0.1.
fn timed_get(s: &Server, path: &str, key: &str) -> (u16, Duration) {
    let started = Instant::now();
    let auth = format!("Bearer {key}");
    let r = s.get(path, &[("apikey", key), ("authorization", auth.as_str())]);
    (r.status, started.elapsed())
}

/// One client address holds its whole quota of slow connections (headers
/// that never end, re-opened as soon as the server closes them) and keeps
/// trying for more; another client's requests are served within their
/// normal latency meanwhile. Before the per-client cap the attacker filled
/// `server-max-connections` and the probes waited for header timeouts.
#[test]
fn a_client_holding_its_connection_quota_does_not_starve_others() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", SCHEMA);
        p.config("server-max-connections = 64\nserver-header-timeout-ms = 3000\n");
        let s = Arc::new(
            p.serve_with(&[], &[("SUPALITE_SERVER_MAX_CONNECTIONS_PER_CLIENT", "16")])
                .unwrap(),
        );
        let key = anon();
        let path = "/rest/v1/notes?select=id&id=eq.1";
        // The normal latency, unloaded.
        let mut normal = Duration::ZERO;
        for _ in 0..5 {
            let (status, took) = timed_get(&s, path, &key);
            assert_eq!(status, 200);
            normal = normal.max(took);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let attacker: Ipv4Addr = [127, 0, 0, 2].into();
        // 96 slow connections, each re-opened when it is closed: more than
        // the whole server's 64.
        let slow: Vec<_> = (0..96)
            .map(|_| {
                let (s, stop) = (s.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut opened = 0u32;
                    while !stop.load(Ordering::SeqCst) {
                        let Ok(mut c) = connect_from(&s, attacker) else {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        };
                        opened += 1;
                        let _ = c.write_all(b"GET /rest/v1/notes HTTP/1.1\r\nhost: x\r\n");
                        let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut buf = [0u8; 512];
                        // Trickles a header byte now and then until closed.
                        let since = Instant::now();
                        while !stop.load(Ordering::SeqCst) {
                            match c.read(&mut buf) {
                                Ok(_) => break,
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                                    || e.kind() == std::io::ErrorKind::TimedOut =>
                                {
                                    if c.write_all(b"x").is_err() {
                                        break;
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                        // Refused at once: tries again a little later.
                        if since.elapsed() < Duration::from_millis(100) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    opened
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        // Another client: each probe within its normal latency (with room
        // for a loaded 2-core machine), none waiting for a slot.
        let mut worst = Duration::ZERO;
        let mut took_all = Vec::new();
        let mut failed = 0;
        for i in 0..20 {
            let started = Instant::now();
            let r = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .build()
                .get(&format!("{}{path}", s.url))
                .set("apikey", &key)
                .call();
            let took = started.elapsed();
            match r {
                Ok(r) if r.status() == 200 => {
                    worst = worst.max(took);
                    took_all.push(took);
                }
                other => {
                    failed += 1;
                    eprintln!("probe {i}: {:?} after {took:?}", other.map(|r| r.status()));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The attacker's extra connections were refused at once, with 429.
        let refused = (0..5)
            .map(|_| raw_request(&s, attacker, "GET", path, &[("apikey", &key)], ""))
            .find(|r| r.as_ref().is_ok_and(|r| r.status == 429))
            .unwrap_or_else(|| raw_request(&s, attacker, "GET", path, &[("apikey", &key)], ""));
        stop.store(true, Ordering::SeqCst);
        let opened: u32 = slow.into_iter().map(|t| t.join().unwrap()).sum();
        took_all.sort();
        eprintln!(
            "probes while one client holds its quota: {} of 20 served, p50 {:?}, max {worst:?} (unloaded max {normal:?}); the attacker opened {opened} connections",
            took_all.len(),
            took_all.get(took_all.len() / 2),
        );
        assert_eq!(failed, 0, "probes failed while one client held its quota");
        assert!(
            worst < normal + Duration::from_millis(300),
            "a probe took {worst:?} (unloaded: {normal:?})"
        );
        let refused = refused.expect("the refusal is readable");
        assert_eq!(refused.status, 429, "{refused:?}");
        assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&refused.body).unwrap()["code"],
            "SUPALITE429"
        );
        assert!(opened > 96, "the attacker re-opened its connections ({opened})");
        assert!(s.wait_for_log("server-max-connections-per-client"));
    });
}

/// Four anonymous runaways (`spin` runs until the anonymous role's 3 s
/// timeout), re-sent as soon as they answer, on PGlite's one session:
/// authenticated and service-role requests are answered within 500 ms
/// (they used to wait up to 3 s behind each runaway), and so is another
/// anonymous client address; the runaways cut short answer 503 with
/// `Retry-After`; `/metrics` shows the queue.
#[test]
fn anonymous_runaways_do_not_starve_other_requests_on_pglite() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    p.config("admin-listen = \"127.0.0.1:0\"\n");
    let s = Arc::new(p.serve());
    let stop = Arc::new(AtomicBool::new(false));
    let runaways: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let key = anon();
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = s.request(
                        "POST",
                        "/rest/v1/rpc/spin",
                        &[("apikey", key.as_str())],
                        Some(r#"{"n": 100000000000}"#),
                    );
                    statuses.push((r.status, r.header("retry-after").map(str::to_string)));
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (user, service) = (user(), service());
    let path = "/rest/v1/notes?select=id&id=eq.1";
    let mut slow = Vec::new();
    let mut took_all = Vec::new();
    let started = Instant::now();
    let mut probes = 0;
    while started.elapsed() < Duration::from_secs(7) {
        for key in [&user, &service] {
            let (status, took) = timed_get(&s, path, key);
            probes += 1;
            took_all.push(took);
            if status != 200 || took > Duration::from_millis(500) {
                slow.push((status, took));
            }
        }
        // Another anonymous client, from another address.
        let t = Instant::now();
        let other = raw_request(&s, [127, 0, 0, 3].into(), "GET", path, &[("apikey", &anon())], "")
            .unwrap();
        probes += 1;
        took_all.push(t.elapsed());
        if other.status != 200 || t.elapsed() > Duration::from_millis(500) {
            slow.push((other.status, t.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = s.metrics();
    stop.store(true, Ordering::SeqCst);
    let statuses: Vec<_> = runaways.into_iter().flat_map(|t| t.join().unwrap()).collect();
    took_all.sort();
    eprintln!(
        "probes beside 4 anonymous runaways: {probes}, p50 {:?}, max {:?}; runaway answers {}",
        took_all[took_all.len() / 2],
        took_all.last().unwrap(),
        statuses.len()
    );
    assert!(slow.is_empty(), "{} of {probes} probes slow or failed: {slow:?}", slow.len());
    assert!(
        statuses
            .iter()
            .all(|(st, ra)| (*st == 503 && ra.as_deref() == Some("1")) || *st == 500),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|(st, _)| *st == 503), "{statuses:?}");
    for needle in [
        "supalite_pglite_queue_length{class=\"anon\"}",
        "supalite_pglite_queue_wait_seconds_bucket{class=\"authenticated\",le=\"0.5\"}",
        "supalite_pglite_queue_wait_seconds_count{class=\"anon\"}",
        "supalite_pglite_session_seconds_total{class=\"anon\"}",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    let cut: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("supalite_pglite_cut_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(cut > 0, "{metrics}");
}

/// One anonymous address may have so many transactions waiting for
/// PGlite's session; more answer 503 at once, in PostgREST's format. A
/// request whose turn would come after its deadline answers 503 without
/// running, before the deadline's 504.
#[test]
fn anonymous_queues_and_waits_are_bounded_on_pglite() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    let s = Arc::new(
        p.serve_with(
            &[],
            &[
                ("SUPALITE_PGLITE_ANON_QUEUE_PER_CLIENT", "2"),
                ("SUPALITE_REQUEST_DEADLINE_MS", "2000"),
            ],
        )
        .unwrap(),
    );
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let key = anon();
                let r = s.request(
                    "POST",
                    "/rest/v1/rpc/spin",
                    &[("apikey", key.as_str())],
                    Some(r#"{"n": 100000000000}"#),
                );
                (r.status, r.json(), r.header("retry-after").map(str::to_string), started.elapsed())
            })
        })
        .collect();
    let answers: Vec<_> = calls.into_iter().map(|t| t.join().unwrap()).collect();
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    // One runs (the 2 s deadline ends it: 504), two wait, three are refused
    // at once; the two waiting ones end with 503 before the deadline.
    assert!(busy.len() >= 3, "{answers:?}");
    for (status, body, retry, took) in &busy {
        assert_eq!(*status, 503);
        assert_eq!(body["code"], "53300", "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(*took < Duration::from_millis(2000), "{took:?}");
    }
    assert!(
        answers.iter().filter(|a| a.0 == 503 && a.3 < Duration::from_millis(300)).count() >= 3,
        "refused at once: {answers:?}"
    );
    let key = anon();
    let r = s.get("/rest/v1/notes?select=id&id=eq.1", &[("apikey", key.as_str())]);
    assert_eq!(r.status, 200, "{}", r.body);
}

/// `server-anon-requests-per-second`: one address's anonymous requests
/// past its budget answer 429 with `Retry-After`; a forged token counts as
/// anonymous; a verified service-role token is not counted; another
/// address has its own budget; behind a trusted proxy the forwarded
/// header's client is the one counted, from any other peer it is ignored.
#[test]
fn anonymous_request_budget_per_client_address() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    let s = p
        .serve_with(
            &[],
            &[
                ("SUPALITE_SERVER_ANON_REQUESTS_PER_SECOND", "5"),
                ("SUPALITE_SERVER_TRUSTED_PROXIES", "127.0.0.9"),
            ],
        )
        .unwrap();
    let path = "/rest/v1/notes?select=id&id=eq.1";
    let count = |from: [u8; 4], headers: &[(&str, &str)], n: usize| {
        let mut by_status = std::collections::BTreeMap::new();
        let mut last = None;
        for _ in 0..n {
            let r = raw_request(&s, from.into(), "GET", path, headers, "").unwrap();
            *by_status.entry(r.status).or_insert(0) += 1;
            if r.status == 429 {
                last = Some(r);
            }
        }
        (by_status, last)
    };
    let key = anon();
    let ok = |counts: &std::collections::BTreeMap<u16, i32>| counts.get(&200).copied().unwrap_or(0);
    let (counts, refused) = count([127, 0, 0, 4], &[("apikey", &key)], 20);
    assert!((10..=12).contains(&ok(&counts)), "{counts:?}");
    let refused = refused.unwrap();
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    let body: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["code"], "SUPALITE429");
    // A forged token is anonymous too (it answers 401 when it gets through).
    let forged = token_with(&"y".repeat(40), json!({"role": "service_role"}));
    let (counts, _) = count([127, 0, 0, 4], &[("apikey", &forged)], 4);
    assert!(counts.get(&429).copied().unwrap_or(0) >= 3, "{counts:?}");
    // A verified service-role token is not counted.
    let service = service();
    let (counts, _) = count([127, 0, 0, 4], &[("apikey", &service)], 20);
    assert_eq!(counts.get(&200), Some(&20), "{counts:?}");
    // Another address has its own budget.
    let (counts, _) = count([127, 0, 0, 5], &[("apikey", &key)], 5);
    assert_eq!(counts.get(&200), Some(&5), "{counts:?}");
    // Behind the trusted proxy each forwarded client has its own budget…
    for client in ["203.0.113.1", "203.0.113.2"] {
        let (counts, _) = count(
            [127, 0, 0, 9],
            &[("apikey", &key), ("x-forwarded-for", client)],
            10,
        );
        assert_eq!(counts.get(&200), Some(&10), "{client}: {counts:?}");
    }
    // …and from an untrusted peer the header changes nothing.
    let (counts, _) = count(
        [127, 0, 0, 6],
        &[("apikey", &key), ("x-forwarded-for", "203.0.113.3")],
        14,
    );
    assert!((10..=12).contains(&ok(&counts)), "{counts:?}");
}

/// `max-body-elements` / `max-body-depth`: a 10 MB body of 5 million tiny
/// values (it used to exhaust the bridge's 256 MiB and answer 500) is
/// refused with 413 in PostgREST's format before anything parses it, and so
/// is a CSV body that makes too many; nesting past the depth is a 400; a
/// body within both is served.
#[test]
fn json_bodies_past_the_value_cap_are_refused_before_sql() {
    on_each_db(|p| {
        p.migration("20240101000000_notes.sql", SCHEMA);
        let s = p.serve();
        let key = service();
        let headers = [("apikey", key.as_str())];
        let huge = format!(r#"{{"t": [{}0]}}"#, "0,".repeat(5_000_000));
        assert!(huge.len() > 10_000_000 && huge.len() < 10 << 20);
        let r = s.request("POST", "/rest/v1/rpc/size", &headers, Some(&huge));
        assert_eq!(r.status, 413, "{}", r.body);
        let body = r.json();
        assert_eq!(body["code"], "PGRST413", "{body}");
        assert_eq!(body["message"], "Payload Too Large", "{body}");
        assert!(body["details"].as_str().unwrap().contains("1000000"), "{body}");
        for k in ["code", "message", "details", "hint"] {
            assert!(body.get(k).is_some(), "{k} missing: {body}");
        }
        // A bulk insert past the cap, as CSV: refused as a whole, nothing
        // written.
        let csv = format!(
            "id,body\n{}",
            (10..600_010).map(|i| format!("{i},x\n")).collect::<String>()
        );
        let r = s.request(
            "POST",
            "/rest/v1/notes",
            &[("apikey", key.as_str()), ("content-type", "text/csv")],
            Some(&csv),
        );
        assert_eq!(r.status, 413, "{}", r.body);
        let r = s.get("/rest/v1/notes?select=id", &headers);
        assert_eq!(r.json().as_array().unwrap().len(), 2, "{}", r.body);
        // Nesting: 100 levels are fine, 101 are a 400.
        let nested = |n: usize| format!(r#"{{"t": {}1{}}}"#, "[".repeat(n - 1), "]".repeat(n - 1));
        let r = s.request("POST", "/rest/v1/rpc/size", &headers, Some(&nested(100)));
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.request("POST", "/rest/v1/rpc/size", &headers, Some(&nested(101)));
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["code"], "PGRST102", "{}", r.body);
        // Within the cap: served.
        let fine = format!(r#"{{"t": [{}0]}}"#, "0,".repeat(900_000));
        let r = s.request("POST", "/rest/v1/rpc/size", &headers, Some(&fine));
        assert_eq!(r.status, 200, "{}", r.body);
    });
}

/// A burst of 16 concurrent 6 MB RPC bodies of a million values each (the
/// most the cap lets through) on PGlite: the server's resident memory stays
/// under a stated bound and most of it is given back afterwards; an
/// ordinary read is served after it.
#[test]
fn a_burst_of_large_json_bodies_stays_bounded() {
    let p = Project::new();
    p.migration("20240101000000_notes.sql", SCHEMA);
    let s = Arc::new(p.serve());
    let key = service();
    // Warm up: one of each, so the pooled instances exist before `base`.
    let body = Arc::new(format!(r#"{{"t": [{}0]}}"#, "12345,".repeat(999_990)));
    assert!(body.len() > 5_900_000);
    let r = s.request("POST", "/rest/v1/rpc/size", &[("apikey", key.as_str())], Some(&body));
    assert_eq!(r.status, 200, "{}", r.body);
    std::thread::sleep(Duration::from_millis(500));
    let base = s.rss_kb();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::SeqCst) {
                peak = peak.max(s.rss_kb());
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (s, body, key) = (s.clone(), body.clone(), key.clone());
            std::thread::spawn(move || {
                let r = s.request("POST", "/rest/v1/rpc/size", &[("apikey", key.as_str())], Some(&body));
                (r.status, r.body)
            })
        })
        .collect();
    let answers: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let peak = peak.join().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after = s.rss_kb();
    eprintln!(
        "burst of 16 x {:.1} MB: {took:?}; RSS {} MB before, peak {} MB, {} MB 2 s after; statuses {:?}",
        body.len() as f64 / 1e6,
        base >> 10,
        peak >> 10,
        after >> 10,
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for (status, body) in &answers {
        // Served, or (past the body budget's wait) refused in PostgREST's
        // format; never a 500 of an exhausted instance.
        assert!(*status == 200 || *status == 503, "{status}: {body}");
    }
    assert!(answers.iter().any(|a| a.0 == 200));
    assert!(
        peak < base + 1200 * 1024,
        "peak RSS {} MB over {} MB at start",
        peak >> 10,
        base >> 10
    );
    assert!(
        after < base + 400 * 1024,
        "RSS {} MB after the burst, {} MB before",
        after >> 10,
        base >> 10
    );
    let r = s.get("/rest/v1/notes?select=id&id=eq.1", &[("apikey", key.as_str())]);
    assert_eq!(r.status, 200, "{}", r.body);
}
