//! The JS host (`host/js`): the same composed pipeline on Node.js, with
//! PGlite for JS providing `sql`, `admin-sql` and `schema`. The project's
//! supabase-js suites run against it unchanged, and the same requests get
//! the same answers from it as from the Rust host.

use serde_json::{json, Value};
use supalite_tests::*;

#[test]
fn supabase_js_suites_pass_against_the_js_host() {
    let p = Project::new();
    p.migration("20240101000000_todos.sql", TODOS_SQL);
    run_smoke_suite(&p.serve_js(&[]).unwrap_or_else(|e| panic!("{e}")));

    let p = Project::new();
    p.migration("20240101000000_notes.sql", NOTES_SQL);
    let s = p
        .serve_js(&[
            ("SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL", "0"),
            ("SUPALITE_AUTH_ANONYMOUS_SIGN_INS", "true"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    run_auth_suite(&s);
}

/// What a client compares: the status, the content type, Content-Range and
/// the body (as JSON when it is JSON).
fn seen(r: &Reply) -> (u16, Option<String>, Option<String>, Value) {
    let body = serde_json::from_str(&r.body).unwrap_or_else(|_| Value::String(r.body.clone()));
    (
        r.status,
        r.header("content-type").map(str::to_string),
        r.header("content-range").map(str::to_string),
        body,
    )
}

#[test]
fn the_js_host_answers_as_the_rust_host() {
    let schema = format!(
        "{TODOS_SQL}
         create table people (id int primary key, name text not null);
         create table pets (id int primary key, owner int references people(id), name text);
         insert into people values (1, 'ann'), (2, 'bob');
         insert into pets values (1, 1, 'rex'), (2, 1, 'tom'), (3, 2, 'kit');
         create function add(a int, b int) returns int language sql as $$ select a + b $$;"
    );
    let (rust, js) = (Project::new(), Project::new());
    rust.migration("20240101000000_schema.sql", &schema);
    js.migration("20240101000000_schema.sql", &schema);
    let (r, j) = (
        rust.serve(),
        js.serve_js(&[]).unwrap_or_else(|e| panic!("{e}")),
    );
    let anon = token(json!({"role": "anon", "exp": now() + 3600}));
    let service = token(json!({"role": "service_role", "exp": now() + 3600}));
    let cases: Vec<(&str, &str, Vec<(&str, &str)>, Option<&str>)> = vec![
        (
            "GET",
            "/rest/v1/todos?select=id,title&done=eq.false&order=id",
            vec![],
            None,
        ),
        (
            "GET",
            "/rest/v1/people?select=name,pets(name)&order=id&pets.order=name.desc",
            vec![],
            None,
        ),
        (
            "GET",
            "/rest/v1/pets?select=name,people(name)&id=in.(1,3)&order=id",
            vec![],
            None,
        ),
        (
            "GET",
            "/rest/v1/todos?order=id&limit=2&offset=1",
            vec![("prefer", "count=exact")],
            None,
        ),
        (
            "GET",
            "/rest/v1/todos?id=eq.2",
            vec![("accept", "application/vnd.pgrst.object+json")],
            None,
        ),
        (
            "GET",
            "/rest/v1/todos?select=title&id=eq.1",
            vec![("accept", "text/csv")],
            None,
        ),
        (
            "POST",
            "/rest/v1/todos",
            vec![("prefer", "return=representation")],
            Some(r#"{"title": "new one"}"#),
        ),
        (
            "PATCH",
            "/rest/v1/todos?id=eq.1",
            vec![("prefer", "return=representation")],
            Some(r#"{"done": true}"#),
        ),
        (
            "POST",
            "/rest/v1/rpc/add",
            vec![],
            Some(r#"{"a": 2, "b": 3}"#),
        ),
        ("GET", "/rest/v1/nope", vec![], None),
        ("GET", "/rest/v1/todos?id=eqq.1", vec![], None),
        ("GET", "/rest/v1/todos?select=((", vec![], None),
        ("POST", "/rest/v1/todos", vec![], Some("{not json")),
        (
            "GET",
            "/rest/v1/todos",
            vec![("authorization", "Bearer not.a.token")],
            None,
        ),
        (
            "OPTIONS",
            "/rest/v1/todos",
            vec![
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
            ],
            None,
        ),
        ("GET", "/auth/v1/health", vec![], None),
        ("GET", "/auth/v1/user", vec![], None),
    ];
    for (method, path, headers, body) in cases {
        let key = if method == "GET" || method == "OPTIONS" {
            &anon
        } else {
            &service
        };
        let mut h = vec![("apikey", key.as_str())];
        h.extend(headers.iter().copied());
        let (a, b) = (
            r.request(method, path, &h, body),
            j.request(method, path, &h, body),
        );
        assert_eq!(
            seen(&a),
            seen(&b),
            "{method} {path}\nJS host log:\n{}",
            j.log()
        );
    }
}

/// The JS host's `sql` runs a request as the Rust host's does: under its
/// role's own settings (`ALTER ROLE … SET`), `app.settings.*` and
/// `db-pre-request`, and a
/// `NOTIFY pgrst` in any request reloads the schema cache.
#[test]
fn role_settings_app_settings_and_notify_reload_as_the_rust_host() {
    let schema = "
        alter role anon set timezone = 'Asia/Tokyo';
        create function tz() returns text language sql stable as $$ select current_setting('timezone') $$;
        create function greeting() returns text language sql stable
          as $$ select current_setting('app.settings.greeting', true) $$;
        create function pre() returns void language plpgsql as $$
        begin perform set_config('request.pre', 'ran', true); end $$;
        create function pre_ran() returns text language sql stable
          as $$ select current_setting('request.pre', true) $$;
        create function make_later() returns void language plpgsql security definer as $$
        begin
          create table public.later (id int);
          grant select on public.later to anon;
          notify pgrst, 'reload schema';
        end $$;";
    let (rust, js) = (Project::new(), Project::new());
    rust.migration("20240101000000_schema.sql", schema);
    js.migration("20240101000000_schema.sql", schema);
    rust.config("db-pre-request = \"pre\"\n[app.settings]\ngreeting = \"hello\"\n");
    let r = rust.serve();
    let j = js
        .serve_js_with(
            &["--app-setting", "greeting=hello"],
            &[("SUPALITE_DB_PRE_REQUEST", "pre")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let anon = token(json!({"role": "anon", "exp": now() + 3600}));
    let h = [("apikey", anon.as_str())];
    for (name, server) in [("Rust", &r), ("JS", &j)] {
        let tz = server.get("/rest/v1/rpc/tz", &h);
        assert_eq!(
            (tz.status, tz.body.as_str()),
            (200, "\"Asia/Tokyo\""),
            "{name}"
        );
        let greeting = server.get("/rest/v1/rpc/greeting", &h);
        assert_eq!(
            (greeting.status, greeting.body.as_str()),
            (200, "\"hello\""),
            "{name}"
        );
        let pre = server.get("/rest/v1/rpc/pre_ran", &h);
        assert_eq!((pre.status, pre.body.as_str()), (200, "\"ran\""), "{name}");
        let before = server.get("/rest/v1/later", &h);
        assert_eq!(before.status, 404, "{name}: {}", before.body);
        let made = server.request("POST", "/rest/v1/rpc/make_later", &h, Some("{}"));
        assert!(made.status < 300, "{name}: {} {}", made.status, made.body);
        // The reload follows the commit (PostgREST's is asynchronous too).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let after = loop {
            let after = server.get("/rest/v1/later", &h);
            if after.status == 200 || std::time::Instant::now() > deadline {
                break after;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(
            (after.status, after.body.as_str()),
            (200, "[]"),
            "{name}: {}",
            server.log()
        );
    }
}

/// PGlite for JS cannot interrupt its own statement: a runaway one answers
/// as the Rust host's statement timeout does, the database thread is
/// restarted on the same directory, and committed rows are still there.
#[test]
fn a_runaway_statement_ends_its_request_not_the_js_hosts_database() {
    let schema = "
        create table kept (id int primary key);
        create function spin() returns int language plpgsql as $$
        declare i bigint := 0; begin loop i := i + 1; end loop; end $$;";
    let (rust, js) = (Project::new(), Project::new());
    rust.migration("20240101000000_schema.sql", schema);
    js.migration("20240101000000_schema.sql", schema);
    let env = [("SUPALITE_DB_STATEMENT_TIMEOUT", "1500")];
    let r = rust.serve_with(&[], &env).unwrap();
    let j = js.serve_js(&env).unwrap_or_else(|e| panic!("{e}"));
    let service = token(json!({"role": "service_role", "exp": now() + 3600}));
    let h = [("apikey", service.as_str())];
    let mut answers = vec![];
    for server in [&r, &j] {
        let made = server.request("POST", "/rest/v1/kept", &h, Some(r#"{"id": 1}"#));
        assert_eq!(made.status, 201, "{}", made.body);
        let started = std::time::Instant::now();
        let spun = server.get("/rest/v1/rpc/spin", &h);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let body: Value = serde_json::from_str(&spun.body).unwrap();
        assert_eq!(body["code"], "57014", "{}", spun.body);
        answers.push((spun.status, body["code"].clone()));
        // The next requests are served, and the committed row is there.
        let kept = server.get("/rest/v1/kept", &h);
        assert_eq!(
            (kept.status, kept.body.as_str()),
            (200, r#"[{"id":1}]"#),
            "{}",
            server.log()
        );
        let more = server.request("POST", "/rest/v1/kept", &h, Some(r#"{"id": 2}"#));
        assert_eq!(more.status, 201, "{}", more.body);
    }
    assert_eq!(answers[0], answers[1], "the Rust and the JS host differ");
    assert!(j.log().contains("restarted"), "{}", j.log());
}

/// A role's own `statement_timeout` (a new database's `anon` has Supabase's
/// 3 s; here 500 ms) bounds its statements under both hosts, below the
/// `db-statement-timeout` cap that bounds everyone else.
#[test]
fn a_roles_own_statement_timeout_applies_in_both_hosts() {
    let schema = "
        alter role anon set statement_timeout = '500ms';
        create function spin() returns int language plpgsql as $$
        declare i bigint := 0; begin loop i := i + 1; end loop; end $$;";
    let (rust, js) = (Project::new(), Project::new());
    rust.migration("20240101000000_schema.sql", schema);
    js.migration("20240101000000_schema.sql", schema);
    let env = [("SUPALITE_DB_STATEMENT_TIMEOUT", "20000")];
    let r = rust.serve_with(&[], &env).unwrap();
    let j = js.serve_js(&env).unwrap_or_else(|e| panic!("{e}"));
    let anon = token(json!({"role": "anon", "exp": now() + 3600}));
    let h = [("apikey", anon.as_str())];
    for (name, server) in [("Rust", &r), ("JS", &j)] {
        let started = std::time::Instant::now();
        let spun = server.get("/rest/v1/rpc/spin", &h);
        let took = started.elapsed();
        let body: Value = serde_json::from_str(&spun.body).unwrap();
        assert_eq!(body["code"], "57014", "{name}: {}", spun.body);
        // Well under the 20 s cap (a loaded 2-core machine may add seconds).
        assert!(
            took < std::time::Duration::from_secs(10),
            "{name}: cancelled after {took:?} (the cap is 20 s)\n{}",
            server.log()
        );
    }
    assert!(j.wait_for_log("ran past 500 ms"), "{}", j.log());
}

/// The JS hosts read the Rust host's settings table: the file written at
/// build time is `supalite settings --json`, every setting's default and
/// rule come from it (a bad value is refused in the Rust host's words), and
/// the components get the same share of values from both hosts.
#[test]
fn the_js_host_reads_the_settings_table() {
    let js = supalite_tests::build_js_host().unwrap_or_else(|e| panic!("{e}"));
    let table: Value = serde_json::from_slice(
        &std::process::Command::new(binary())
            .args(["settings", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = r#"
        const m = await import(process.argv[1]);
        const env = { SUPALITE_DB_ANON_ROLE: 'visitor', SUPALITE_REWRITER_GREETING: 'hi', HOME: '/x' };
        console.log(JSON.stringify({
            settings: m.SETTINGS, roles: m.ROLES,
            componentEnv: m.componentEnv((k) => env[k], env),
            bad: (() => { try { m.value('SUPALITE_DB_TX_END', () => 'abort'); return null } catch (e) { return e.message } })(),
            secret: m.problem(m.setting('SUPALITE_JWT_SECRET'), 'short'),
        }));"#;
    let out = std::process::Command::new("node")
        .args(["--input-type=module", "-e", script])
        .arg(js.join("src/settings.mjs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["settings"], table["settings"]);
    assert_eq!(seen["roles"], table["roles"]);
    // The Rust host's words for a bad value.
    assert_eq!(
        seen["bad"],
        "invalid db-tx-end (SUPALITE_DB_TX_END) `abort` (expected one of commit, commit-allow-override, rollback, rollback-allow-override)"
    );
    assert!(seen["secret"].as_str().unwrap().contains("at least 32 characters"));
    // The components' share: what the Rust host hands them for the same settings.
    let p = Project::new();
    let rust = std::process::Command::new(binary())
        .args(["settings"])
        .current_dir(p.path())
        .env("SUPALITE_DB_ANON_ROLE", "visitor")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&rust.stdout);
    let env = seen["componentEnv"].as_object().unwrap();
    for setting in table["settings"].as_array().unwrap() {
        let name = setting["env"].as_str().unwrap();
        let component = !setting["roles"].as_array().unwrap().is_empty() && name != "SUPALITE_DB_URI";
        let rust_value = listing
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .and_then(|l| l.split_whitespace().nth(2))
            .filter(|v| *v != "-");
        if component {
            assert_eq!(env.get(name).and_then(Value::as_str), rust_value, "{name}");
        }
    }
    assert_eq!(env["SUPALITE_REWRITER_GREETING"], "hi");
    assert!(env.get("HOME").is_none());
}

#[test]
fn the_js_host_prints_usage() {
    let js = supalite_tests::build_js_host().unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("node")
        .arg(js.join("bin/serve.mjs"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.starts_with("usage:"), "{text}");
    assert!(text.contains("--listen ADDR") && text.contains("127.0.0.1:54321"), "{text}");
    let out = std::process::Command::new("node")
        .arg(js.join("bin/serve.mjs"))
        .arg("--bogus")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--bogus") && err.contains("usage:") && !err.contains("    at "), "{err}");
}
