//! `cargo run --release -p supalite-tests --bin soak [-- ERRORS CLIENTS]`
//!
//! An error flood against a real server, on embedded PGlite and on a
//! PostgreSQL 15 cluster (`SOAK_DB=pglite|postgres` for one of them): per
//! kind of failing request (unknown column, duplicate key, RLS-denied
//! insert, bad cast, statement timeout) it prints how many errors the server
//! answered, their rate next to the rate of valid reads measured in the same
//! run (the baseline), RSS before and after, and whether the server still
//! reads and writes correctly afterwards. A benchmark, not a test: it prints
//! numbers and fails only when the server stops answering correctly.

use serde_json::json;
use std::time::Instant;
use supalite_tests::*;

const SCHEMA: &str = r#"
create table notes (id int primary key, body text, n int);
insert into notes select i, 'note ' || i, i from generate_series(1, 1000) i;
create table private (id serial primary key, owner uuid not null default auth.uid(), body text);
alter table private enable row level security;
create policy own on private for all to authenticated using (auth.uid() = owner) with check (auth.uid() = owner);
create function spin(n bigint) returns bigint language plpgsql as $$
  declare i bigint := 0; begin loop i := i + 1; exit when i >= n; end loop; return i; end $$;
alter role anon set statement_timeout = '50ms';
"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let errors: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let clients: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let only = std::env::var("SOAK_DB").ok();
    for (db, name) in [(Db::Pglite, "pglite"), (Db::Postgres, "postgres")] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        soak(db, name, errors, clients);
    }
}

fn soak(db: Db, name: &str, errors: usize, clients: usize) {
    let p = Project::on(db);
    p.migration("20240101000000_soak.sql", SCHEMA);
    let s = p.serve();
    let anon = token(json!({"role": "anon", "exp": now() + 3600}));
    let user = token(
        json!({"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000001", "exp": now() + 3600}),
    );
    let user_auth = format!("Bearer {user}");
    let a = [("apikey", anon.as_str())];
    let u = [
        ("apikey", anon.as_str()),
        ("authorization", user_auth.as_str()),
    ];
    println!("\n== {name}: {errors} errors per kind, {clients} clients");
    let rss_start = s.rss_kb();

    let timed =
        |what: &str, n: usize, method: &str, path: &str, h: &[(&str, &str)], body: Option<&str>| {
            let started = Instant::now();
            let counts = s.flood(clients, n, method, path, h, body);
            let rate = n as f64 / started.elapsed().as_secs_f64();
            println!(
                "{what:<28} {rate:>8.0} req/s  answers {counts:?}  RSS {} MB",
                s.rss_kb() / 1024
            );
            rate
        };
    let baseline = timed(
        "valid reads (baseline)",
        errors,
        "GET",
        "/rest/v1/notes?select=id,body&id=eq.7",
        &a,
        None,
    );
    let floods: [(&str, &str, &str, &[(&str, &str)], Option<&str>); 4] = [
        (
            "unknown column (400)",
            "GET",
            "/rest/v1/notes?select=nosuch",
            &a,
            None,
        ),
        (
            "duplicate key (409)",
            "POST",
            "/rest/v1/notes",
            &a,
            Some(r#"{"id": 1, "body": "dup"}"#),
        ),
        (
            "RLS-denied insert (403)",
            "POST",
            "/rest/v1/private",
            &u,
            Some(r#"{"owner": "00000000-0000-0000-0000-000000000002"}"#),
        ),
        (
            "bad cast (400)",
            "GET",
            "/rest/v1/notes?n=eq.not-a-number",
            &a,
            None,
        ),
    ];
    for (what, method, path, h, body) in floods {
        let rate = timed(what, errors, method, path, h, body);
        println!("{:<28} {:>8.2}x the valid-read rate", "", rate / baseline);
    }
    let timeouts = (errors / 50).max(20);
    timed(
        "statement timeout (500)",
        timeouts,
        "GET",
        "/rest/v1/rpc/spin?n=100000000000",
        &a,
        None,
    );

    // Still correct: a read and an acknowledged write that reads back.
    let r = s.get("/rest/v1/notes?select=id&id=eq.1", &a);
    let read_ok = r.status == 200 && r.body.contains("\"id\":1");
    let w = s.request(
        "POST",
        "/rest/v1/notes",
        &a,
        Some(r#"{"id": 100001, "body": "after the flood"}"#),
    );
    let back = s.get("/rest/v1/notes?select=body&id=eq.100001", &a);
    let write_ok = w.status == 201 && back.body.contains("after the flood");
    let survived = 4 * errors + timeouts;
    println!(
        "survived {survived} errors; RSS {} MB -> {} MB; afterwards read {}, write {}",
        rss_start / 1024,
        s.rss_kb() / 1024,
        if read_ok { "ok" } else { "FAILED" },
        if write_ok { "ok" } else { "FAILED" },
    );
    assert!(
        read_ok && write_ok,
        "{name}: the server no longer answers correctly\n{}",
        s.log()
    );
}
