//! PostgREST behaviours measured by its own suite, checked here in the
//! project's words: request context for SQL, RPC result shapes and
//! arguments, computed columns, writes that return only what is asked,
//! logic trees with spaces, JSON keys. On PGlite and PostgreSQL.

use serde_json::json;
use supalite_tests::*;

const SCHEMA: &str = r#"
create table people (id int primary key, name text not null, secret text);
insert into people values (1, 'Ada', 's1'), (2, 'Grace', 's2'), (3, 'Linus', 's3');
create table docs (id int primary key, data jsonb);
insert into docs values (1, '{"a-b": {"x!y": 1}, "list": [{"k": 10}, {"k": 20}]}');

-- request context
create function whoami() returns json language sql stable as $$
  select json_build_object(
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'agent', current_setting('request.headers', true)::json->>'x-agent',
    'cookie', current_setting('request.cookies', true)::json->>'flavour') $$;

-- RPC result shapes
create function plus_one(n int, out next int) language sql as $$ select n + 1 $$;
create function swap(inout a text, inout b text) language sql as $$ select b, a $$;
create function first_person() returns record language sql stable as $$ select * from people order by id limit 1 $$;
create function people_named(prefix text) returns setof people language sql stable as $$
  select * from people where name like prefix || '%' order by id $$;

-- a computed column
create function shout(people) returns text language sql immutable as $$ select upper($1.name) $$;

-- a role that may update names but not read secrets
do $r$ begin create role clerk nologin; exception when duplicate_object then null; end $r$;
grant usage on schema public to clerk;
grant select (id, name), update (name), delete on people to clerk;
"#;

#[test]
fn request_context_reaches_sql() {
    on_each_db(|p| {
        p.migration("20240101000000_f.sql", SCHEMA);
        let s = p.serve();
        let r = s.request(
            "POST",
            "/rest/v1/rpc/whoami",
            &[("x-agent", "probe/1"), ("cookie", "a=1; flavour=mint")],
            Some("{}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json(),
            json!({"method": "POST", "path": "/rpc/whoami", "agent": "probe/1", "cookie": "mint"})
        );
        // A request header cannot reach any other setting.
        let r = s.get(
            "/rest/v1/rpc/whoami",
            &[("x-agent", "'); set role postgres; --")],
        );
        assert_eq!(r.json()["agent"], "'); set role postgres; --", "{}", r.body);
    });
}

#[test]
fn rpc_results_and_arguments_as_postgrest() {
    on_each_db(|p| {
        p.migration("20240101000000_f.sql", SCHEMA);
        let s = p.serve();
        // OUT and INOUT parameters answer an object with their names.
        let r = s.get("/rest/v1/rpc/plus_one?n=41", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"next": 42})),
            "{}",
            r.body
        );
        let r = s.get("/rest/v1/rpc/swap?a=x&b=y", &[]);
        assert_eq!(r.json(), json!({"a": "y", "b": "x"}));
        // `returns record` answers the record's columns.
        let r = s.request("POST", "/rest/v1/rpc/first_person", &[], Some("{}"));
        assert_eq!(
            r.json(),
            json!({"id": 1, "name": "Ada", "secret": "s1"}),
            "{}",
            r.body
        );
        // GET: a parameter whose value is a filter filters the result.
        let r = s.get("/rest/v1/rpc/people_named?prefix=&id=gt.1&select=id", &[]);
        assert_eq!(r.json(), json!([{"id": 2}, {"id": 3}]), "{}", r.body);
        // An unknown argument is no filter: PGRST202 names it, with a hint.
        let r = s.get("/rest/v1/rpc/people_named?prefx=A", &[]);
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(
            r.json()["message"],
            "Could not find the function public.people_named(prefx) in the schema cache"
        );
        assert_eq!(
            r.json()["hint"],
            "Perhaps you meant to call the function public.people_named(prefix)"
        );
        // A JSON body could also have been the one unnamed json parameter's;
        // a CSV body could not, and the details say so as PostgREST's.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/people_named",
            &[],
            Some(r#"{"prefx": "A"}"#),
        );
        assert_eq!(
            r.json()["details"],
            "Searched for the function public.people_named with parameter prefx or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."
        );
        let r = s.request(
            "POST",
            "/rest/v1/rpc/people_named",
            &[("content-type", "text/csv")],
            Some("prefx\nA"),
        );
        assert_eq!(
            r.json()["details"],
            "Searched for the function public.people_named with parameter prefx, but no matches were found in the schema cache.",
            "{}",
            r.body
        );
        // POST: `?columns=` picks the arguments from a bigger body.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/plus_one?columns=n",
            &[],
            Some(r#"{"n": 1, "noise": true}"#),
        );
        assert_eq!(r.json(), json!({"next": 2}), "{}", r.body);
    });
}

#[test]
fn computed_columns_select_filter_and_order() {
    on_each_db(|p| {
        p.migration("20240101000000_f.sql", SCHEMA);
        let s = p.serve();
        let r = s.get(
            "/rest/v1/people?select=id,loud:shout&shout=like.*A*&order=shout.desc",
            &[],
        );
        assert_eq!(
            (r.status, r.json()),
            (
                200,
                json!([{"id": 2, "loud": "GRACE"}, {"id": 1, "loud": "ADA"}])
            ),
            "{}",
            r.body
        );
    });
}

#[test]
fn writes_return_only_what_is_asked() {
    on_each_db(|p| {
        p.migration("20240101000000_f.sql", SCHEMA);
        let s = p
            .serve_with(
                &[],
                &[(
                    "SUPALITE_JWT_ALLOWED_ROLES",
                    "anon,authenticated,service_role,clerk",
                )],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let clerk = token(json!({"role": "clerk", "exp": now() + 3600}));
        let auth = format!("Bearer {clerk}");
        // The clerk cannot read `secret`, yet may update and delete rows
        // when the answer does not include it.
        let r = s.request(
            "PATCH",
            "/rest/v1/people?id=eq.1",
            &[("authorization", &auth)],
            Some(r#"{"name": "Ada L."}"#),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let r = s.request(
            "PATCH",
            "/rest/v1/people?id=eq.2&select=id,name",
            &[
                ("authorization", &auth),
                ("prefer", "return=representation"),
            ],
            Some(r#"{"name": "Grace H."}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 2, "name": "Grace H."}])),
            "{}",
            r.body
        );
        // Asking for everything is asking for `secret`: PostgreSQL says no.
        let r = s.request(
            "PATCH",
            "/rest/v1/people?id=eq.2",
            &[
                ("authorization", &auth),
                ("prefer", "return=representation"),
            ],
            Some(r#"{"name": "G."}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (403, json!("42501")),
            "{}",
            r.body
        );
        let r = s.request(
            "DELETE",
            "/rest/v1/people?id=eq.3",
            &[("authorization", &auth)],
            None,
        );
        assert_eq!(r.status, 204, "{}", r.body);
    });
}

#[test]
fn logic_trees_with_spaces_and_json_keys() {
    on_each_db(|p| {
        p.migration("20240101000000_f.sql", SCHEMA);
        let s = p.serve();
        let r = s.get(
            "/rest/v1/people?select=id&or=( id.eq.1 , and ( id.gt.1, name.eq.Linus ) )&order=id",
            &[],
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1}, {"id": 3}])),
            "{}",
            r.body
        );
        // Keys with dashes and symbols; the output is named by the last key.
        let r = s.get("/rest/v1/docs?select=data->a-b->>x!y,data->list->1->k", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"x!y": "1", "k": 20}])),
            "{}",
            r.body
        );
    });
}

/// What PostgREST's docs show with curl, which sends `->>` and `"` as
/// typed: accepted as PostgREST's server accepts them (hyper alone answered
/// an empty 400), on a keep-alive connection whose bodies hold the same
/// characters untouched.
#[test]
fn curl_style_targets_with_arrows_and_quotes() {
    use std::io::{Read, Write};
    let p = Project::new();
    p.migration("20240101000000_f.sql", SCHEMA);
    p.migration(
        "20240101000001_grants.sql",
        "grant select, insert on people, docs to anon;",
    );
    let s = p.serve();
    let mut c = std::net::TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    let body = r#"{"id": 4, "name": "\"<Tim>\""}"#;
    write!(
        c,
        "GET /rest/v1/docs?select=data->list->0->>k HTTP/1.1\r\nhost: x\r\n\r\n\
         POST /rest/v1/people?select=name&columns=\"id\",\"name\" HTTP/1.1\r\nhost: x\r\n\
         content-type: application/json\r\nprefer: return=representation\r\n\
         content-length: {}\r\n\r\n{body}\
         GET /rest/v1/people?select=id&name=in.(\"Ada\",\"\\\"<Tim>\\\"\")&order=id HTTP/1.1\r\n\
         host: x\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let replies: Vec<&str> = answer.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(replies.len(), 3, "{answer}");
    let body_of = |r: &str| -> serde_json::Value {
        serde_json::from_str(r.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    };
    assert!(replies[0].starts_with("200"), "{answer}");
    assert_eq!(body_of(replies[0]), json!([{"k": "10"}]));
    assert!(replies[1].starts_with("201"), "{answer}");
    assert_eq!(body_of(replies[1]), json!([{"name": "\"<Tim>\""}]));
    assert!(replies[2].starts_with("200"), "{answer}");
    assert_eq!(body_of(replies[2]), json!([{"id": 1}, {"id": 4}]));
}

/// A table's row in a form body takes a repeated key's last value, and a
/// body that is neither JSON, CSV nor a form is refused by its media type,
/// as PostgREST does.
#[test]
fn form_bodies_and_unacceptable_content_types() {
    let p = Project::new();
    p.migration("20240101000000_f.sql", SCHEMA);
    p.migration(
        "20240101000001_grants.sql",
        "grant select, insert on people to anon;",
    );
    let s = p.serve();
    let post = |ctype: &str, body: &str| {
        s.request(
            "POST",
            "/rest/v1/people?select=id,name",
            &[("content-type", ctype), ("prefer", "return=representation")],
            Some(body),
        )
    };
    let r = post(
        "application/x-www-form-urlencoded",
        "id=7&name=first&name=second",
    );
    assert_eq!(
        (r.status, r.json()),
        (201, json!([{"id": 7, "name": "second"}])),
        "{}",
        r.body
    );
    for ctype in ["application/octet-stream", "text/plain", "application/xml"] {
        let r = post(ctype, r#"{"id": 8, "name": "x"}"#);
        assert_eq!(r.status, 400, "{ctype}: {}", r.body);
        assert_eq!(
            (r.json()["code"].clone(), r.json()["message"].clone()),
            (
                json!("PGRST102"),
                json!(format!("Content-Type not acceptable: {ctype}"))
            ),
            "{}",
            r.body
        );
    }
    let r = post(
        "application/json; charset=utf-8",
        r#"{"id": 8, "name": "x"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn errors_postgrest_raises_before_or_after_running() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_e.sql",
            r#"
create table uniq (v int unique deferrable initially immediate);
create function dup() returns void language plpgsql as $$
begin
  set constraints all deferred;
  insert into uniq values (1), (1);
end $$;
create function twin(json) returns json language sql as $$ select $1 $$;
create function twin(jsonb) returns jsonb language sql as $$ select $1 $$;
create function nothing() returns void language sql as $$ select $$;
create table langs (name text primary key, rank int);
"#,
        );
        let s = p.serve();
        // A deferred constraint fails the request even when it rolls back.
        for prefer in ["tx=commit", "tx=rollback"] {
            let r = s.request(
                "POST",
                "/rest/v1/rpc/dup",
                &[("prefer", prefer)],
                Some("{}"),
            );
            assert_eq!(
                (r.status, r.json()["code"].clone()),
                (409, json!("23505")),
                "{prefer}: {}",
                r.body
            );
        }
        // Two functions could take the whole body: PGRST203.
        let r = s.request("POST", "/rest/v1/rpc/twin", &[], Some(r#"{"a": 1}"#));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (300, json!("PGRST203")),
            "{}",
            r.body
        );
        // max-affected with handling=strict needs a set-returning function.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/nothing",
            &[("prefer", "handling=strict, max-affected=1")],
            Some("{}"),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST128")),
            "{}",
            r.body
        );
        // PUT names one row: no limit or offset.
        let r = s.request(
            "PUT",
            "/rest/v1/langs?name=eq.Rust&limit=1",
            &[],
            Some(r#"{"name": "Rust", "rank": 1}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST114")),
            "{}",
            r.body
        );
    });
}

#[test]
fn text_search_spread_order_and_missing_defaults() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_t.sql",
            r#"
create table quotes (id int primary key, body text);
insert into quotes values (1, 'The quick brown foxes'), (2, 'Lazy dogs sleep');
create table authors2 (id int primary key, name text);
create table books2 (id int primary key, title text, author_id int references authors2(id));
insert into authors2 values (1, 'Zed'), (2, 'Amy');
insert into books2 values (1, 'One', 1), (2, 'Two', 2);
create table settings (id int primary key, theme text not null default 'light', size int);
insert into settings values (1, 'dark', 3);
"#,
        );
        let s = p.serve();
        // A text column is searched through to_tsvector with the language.
        let r = s.get("/rest/v1/quotes?select=id&body=fts(simple).foxes", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1}])),
            "{}",
            r.body
        );
        // Order by a column of a to-one spread.
        let r = s.get(
            "/rest/v1/books2?select=title,...authors2(name)&order=authors2(name)",
            &[],
        );
        assert_eq!(
            (r.status, r.json()),
            (
                200,
                json!([{"title": "Two", "name": "Amy"}, {"title": "One", "name": "Zed"}])
            ),
            "{}",
            r.body
        );
        // missing=default: a column named in ?columns but absent takes its default.
        let r = s.request(
            "PATCH",
            "/rest/v1/settings?id=eq.1&columns=theme,size",
            &[("prefer", "return=representation, missing=default")],
            Some(r#"{"size": 4}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1, "theme": "light", "size": 4}])),
            "{}",
            r.body
        );
    });
}

#[test]
fn pre_request_function_and_app_settings() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_p.sql",
            r#"
create function gate() returns void language plpgsql as $$
begin
  if current_setting('request.headers', true)::json->>'x-blocked' = 'yes' then
    raise exception 'blocked by the gate' using hint = 'try without x-blocked';
  end if;
end $$;
create function greeting() returns text language sql stable as
  $$ select current_setting('app.settings.greeting', true) $$;
"#,
        );
        p.config("db-pre-request = \"public.gate\"\n\n[app.settings]\ngreeting = \"hello from config\"\n");
        let s = p.serve();
        let r = s.get("/rest/v1/rpc/greeting", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!("hello from config")),
            "{}",
            r.body
        );
        // The pre-request function runs before every request's statement.
        let r = s.get("/rest/v1/rpc/greeting", &[("x-blocked", "yes")]);
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["message"], "blocked by the gate");
        assert_eq!(r.json()["hint"], "try without x-blocked");
    });
}

#[test]
fn writes_and_response_settings_as_postgrest() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_w.sql",
            r#"
create table tags (id int primary key);
create table loose (a text, b text);
create table notes2 (id int generated by default as identity primary key, body text default 'empty', flag bool);
create function set_cookies() returns void language sql as $$
  select set_config('response.headers',
    '[{"Set-Cookie": "a=1; Path=/"}, {"Set-Cookie": "b=2; Path=/"}]', true),
         set_config('response.status', '202', true) $$;
"#,
        );
        let s = p.serve();
        // `{}` inserts a row of defaults.
        let r = s.request(
            "POST",
            "/rest/v1/notes2?select=body",
            &[("prefer", "return=representation")],
            Some("{}"),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"body": "empty"}])),
            "{}",
            r.body
        );
        // An upsert of rows that are only their key still returns them all.
        s.request("POST", "/rest/v1/tags", &[], Some(r#"{"id": 1}"#));
        let r = s.request(
            "POST",
            "/rest/v1/tags?order=id",
            &[(
                "prefer",
                "return=representation, resolution=merge-duplicates",
            )],
            Some(r#"[{"id": 1}, {"id": 2}]"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"id": 1}, {"id": 2}])),
            "{}",
            r.body
        );
        // Without a primary key: a POST upsert is a plain insert, PUT is 405.
        let r = s.request(
            "POST",
            "/rest/v1/loose",
            &[(
                "prefer",
                "return=representation, resolution=merge-duplicates",
            )],
            Some(r#"[{"a": "1", "b": "0"}]"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"a": "1", "b": "0"}])),
            "{}",
            r.body
        );
        let r = s.request(
            "PUT",
            "/rest/v1/loose?a=eq.1",
            &[],
            Some(r#"{"a": "1", "b": "2"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (405, json!("PGRST105")),
            "{}",
            r.body
        );
        // CSV: an unquoted NULL is null.
        let r = s.request(
            "POST",
            "/rest/v1/notes2?select=body,flag",
            &[
                ("content-type", "text/csv"),
                ("prefer", "return=representation"),
            ],
            Some("body,flag\nNULL,true"),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"body": null, "flag": true}])),
            "{}",
            r.body
        );
        // A void function's response settings apply to its empty answer,
        // each Set-Cookie kept.
        let r = s.request("POST", "/rest/v1/rpc/set_cookies", &[], Some("{}"));
        assert_eq!(r.status, 202, "{}", r.body);
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, vec!["a=1; Path=/", "b=2; Path=/"]);
    });
}

#[test]
fn prefer_timezone() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_tz.sql",
            "create table stamps (t timestamptz); insert into stamps values ('2024-01-01 12:00:00+00');",
        );
        let s = p.serve();
        let r = s.get("/rest/v1/stamps", &[("prefer", "timezone=Asia/Tokyo")]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"t": "2024-01-01T21:00:00+09:00"}])),
            "{}",
            r.body
        );
        assert_eq!(r.header("preference-applied"), Some("timezone=Asia/Tokyo"));
        // An unknown zone is ignored, and not reported as applied.
        let r = s.get("/rest/v1/stamps", &[("prefer", "timezone=Mars/Olympus")]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("preference-applied"), None);
    });
}

const SALES: &str = r#"
create table clients (id int primary key, name text not null);
create table projects (id int primary key, name text not null, client_id int references clients);
create table invoices (id int primary key, project_id int references projects, total int not null, meta jsonb);
create table teams (id int primary key, lead text not null, budget numeric not null);
create table costs (id int primary key, team_id int references teams, amount numeric not null);
insert into clients values (1, 'Acme'), (2, 'Globex');
insert into projects values (1, 'Rocket', 1), (2, 'Anvil', 1), (3, 'Lamp', 2), (4, 'Idle', null);
insert into invoices values
  (1, 1, 100, '{"n": "1"}'), (2, 1, 250, '{"n": "2"}'), (3, 2, 40, '{"n": "3"}'),
  (4, 3, 500, '{"n": "4"}'), (5, 3, 5, '{"n": "5"}');
insert into teams values (1, 'Ada', 1000), (2, 'Bo', 300);
insert into costs values (1, 1, 10.5), (2, 1, 20), (3, 2, 7.25);
create function all_invoices() returns setof invoices language sql stable as $$ select * from invoices $$;
"#;

#[test]
fn aggregates_behind_db_aggregates_enabled() {
    on_each_db(|p| {
        p.migration("20240101000000_s.sql", SALES);
        // Off by default, as in PostgREST (also inside embeds and spreads).
        let s = p.serve();
        for path in [
            "/rest/v1/invoices?select=total.sum()",
            "/rest/v1/projects?select=name,invoices(count())",
            "/rest/v1/invoices?select=...projects(id.count())",
        ] {
            let r = s.get(path, &[]);
            assert_eq!(
                (r.status, r.json()["code"].clone()),
                (400, json!("PGRST123")),
                "{path}: {}",
                r.body
            );
        }
        drop(s);

        let s = p
            .serve_with(&[], &[("SUPALITE_DB_AGGREGATES_ENABLED", "true")])
            .unwrap();
        let get = |path: &str| {
            let r = s.get(&format!("/rest/v1/{path}"), &[]);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.json()
        };
        assert_eq!(get("invoices?select=count()"), json!([{"count": 5}]));
        assert_eq!(get("invoices?select=n:count()::text"), json!([{"n": "5"}]));
        assert_eq!(
            get("invoices?select=total.sum(),total.max(),top:total.min(),project_id&order=project_id"),
            json!([
                {"sum": 350, "max": 250, "top": 100, "project_id": 1},
                {"sum": 40, "max": 40, "top": 40, "project_id": 2},
                {"sum": 505, "max": 500, "top": 5, "project_id": 3}
            ])
        );
        // Filters apply before grouping; a cast on the input and on the result.
        assert_eq!(
            get("invoices?select=s:meta->>n::int.sum()::text&total=gt.50"),
            json!([{"s": "7"}])
        );
        // In an embed: one row per parent (null sums where nothing matched).
        assert_eq!(
            get("projects?select=name,invoices(total.sum(),total.count())&order=id"),
            json!([
                {"name": "Rocket", "invoices": [{"sum": 350, "count": 2}]},
                {"name": "Anvil", "invoices": [{"sum": 40, "count": 1}]},
                {"name": "Lamp", "invoices": [{"sum": 505, "count": 2}]},
                {"name": "Idle", "invoices": [{"sum": null, "count": 0}]}
            ])
        );
        // `count` as a column of a table without one (PostgREST's old form).
        assert_eq!(
            get("clients?select=name,projects(count)&order=id"),
            json!([
                {"name": "Acme", "projects": [{"count": 2}]},
                {"name": "Globex", "projects": [{"count": 1}]}
            ])
        );
        // Grouped by an embedded object.
        assert_eq!(
            get("invoices?select=project_id,total.sum(),projects(name)&project_id=lt.3&order=project_id"),
            json!([
                {"project_id": 1, "sum": 350, "projects": {"name": "Rocket"}},
                {"project_id": 2, "sum": 40, "projects": {"name": "Anvil"}}
            ])
        );
        // A to-one spread's aggregates are applied by its parent, grouped
        // by the spread's other columns.
        assert_eq!(
            get("costs?select=spent:amount.sum(),...teams(lead,n:count())&order=teams(lead)"),
            json!([
                {"spent": 30.5, "lead": "Ada", "n": 2},
                {"spent": 7.25, "lead": "Bo", "n": 1}
            ])
        );
        // On a function's rows.
        assert_eq!(
            get("rpc/all_invoices?select=total.max()"),
            json!([{"max": 500}])
        );
        // Not on to-many spreads (PostgREST's PGRST127).
        let r = s.get(
            "/rest/v1/projects?select=name,...invoices(total.sum())",
            &[],
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST127")),
            "{}",
            r.body
        );
    });
}

#[test]
fn text_search_in_snowball_languages() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_t.sql",
            r#"
create table notes (id int primary key, body text not null, lang text not null);
insert into notes values
  (1, 'The cats were running in the gardens', 'en'),
  (2, 'Les chiens aboyaient dans les jardins', 'fr'),
  (3, 'Die Katzen schliefen im Garten', 'de');
create domain doc_vector as tsvector;
create domain checked_vector as doc_vector check (value is not null);
create table indexed (id int primary key, v checked_vector not null);
insert into indexed values (1, to_tsvector('simple', 'kind of fun')), (2, to_tsvector('simple', 'dull'));
"#,
        );
        let s = p.serve();
        let ids = |q: &str| -> Vec<i64> {
            let r = s.get(&format!("/rest/v1/notes?select=id&{q}"), &[]);
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_i64().unwrap())
                .collect()
        };
        // Stemmed and stop words dropped (needs the dictionaries' stop-word files).
        assert_eq!(ids("body=fts(english).run"), vec![1]);
        assert_eq!(ids("body=plfts(english).the garden"), vec![1]);
        assert_eq!(ids("body=wfts(french).jardin"), vec![2]);
        assert_eq!(ids("body=fts(german).katze"), vec![3]);
        assert_eq!(ids("body=fts(english).the"), Vec::<i64>::new());
        // A domain over tsvector (also through another domain) is searched as a tsvector.
        let r = s.get("/rest/v1/indexed?select=id&v=fts(simple).fun", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1}])),
            "{}",
            r.body
        );
    });
}

#[test]
fn query_plans_behind_db_plan_enabled() {
    on_each_db(|p| {
        p.migration("20240101000000_s.sql", SALES);
        let plan = [("accept", "application/vnd.pgrst.plan+json")];
        // Off by default: the media type is not available.
        let s = p.serve();
        let r = s.get("/rest/v1/invoices?id=eq.1", &plan);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (406, json!("PGRST107")),
            "{}",
            r.body
        );
        drop(s);

        let s = p
            .serve_with(&[], &[("SUPALITE_DB_PLAN_ENABLED", "true")])
            .unwrap();
        let r = s.get("/rest/v1/invoices?id=eq.1", &plan);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.plan+json; for=\"application/json\"; charset=utf-8")
        );
        let total = &r.json()[0]["Plan"]["Total Cost"];
        assert!(total.as_f64().is_some_and(|c| c > 0.0), "{}", r.body);
        // Text by default; options and the media type the plan is for.
        let r = s.get(
            "/rest/v1/invoices?select=project_id,projects(name)",
            &[(
                "accept",
                "application/vnd.pgrst.plan; for=\"application/vnd.pgrst.object\"; options=verbose",
            )],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.plan+text; for=\"application/vnd.pgrst.object+json\"; options=verbose; charset=utf-8")
        );
        assert!(r.body.starts_with("Aggregate"), "{}", r.body);
        assert!(r.body.contains("Output:"), "verbose: {}", r.body);
        // A write is planned, not run (without analyze).
        let r = s.request(
            "POST",
            "/rest/v1/invoices",
            &plan,
            Some(r#"{"id": 9, "project_id": 1, "total": 1}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Insert"), "{}", r.body);
        let r = s.get("/rest/v1/invoices?id=eq.9", &[]);
        assert_eq!(r.json(), json!([]));
        // An unknown option is not a plan media type PostgREST offers.
        let r = s.get(
            "/rest/v1/invoices",
            &[("accept", "application/vnd.pgrst.plan+json; options=drop")],
        );
        assert_eq!(r.status, 406, "{}", r.body);
    });
}

#[test]
fn paging_lists_locations_and_put_as_postgrest() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_q.sql",
            r#"
create table words (id int primary key, w text);
insert into words values (1, 'a'), (2, '"'), (3, 'c');
create table pairs (a int, b int);
create view words_v as select * from words;
"#,
        );
        let s = p.serve();
        // A negative limit is an unsatisfiable range; a negative offset starts at the top.
        let r = s.get("/rest/v1/words?limit=-1", &[]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (416, json!("PGRST103")),
            "{}",
            r.body
        );
        assert_eq!(
            r.json()["details"],
            "Limit should be greater than or equal to zero."
        );
        let r = s.get("/rest/v1/words?select=id&offset=-4&order=id", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1}, {"id": 2}, {"id": 3}])),
            "{}",
            r.body
        );
        // `in.()` lists: blank is empty; a quote that never closes is itself.
        let r = s.get("/rest/v1/words?id=in.(   )", &[]);
        assert_eq!((r.status, r.json()), (200, json!([])), "{}", r.body);
        let r = s.get("/rest/v1/words?select=id&w=in.(\")", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 2}])),
            "{}",
            r.body
        );
        // A read names its canonical location: parameters sorted.
        let r = s.get("/rest/v1/words?w=eq.a&id=eq.1", &[]);
        assert_eq!(r.header("content-location"), Some("/words?id=eq.1&w=eq.a"));
        let r = s.get("/rest/v1/words", &[]);
        assert_eq!(r.header("content-location"), Some("/words"));
        // `?columns=` must name something.
        let r = s.request("POST", "/rest/v1/words?columns=", &[], Some(r#"{"id": 9}"#));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST100")),
            "{}",
            r.body
        );
        // Upserting into a table without a key is an insert: the preference does not apply.
        let r = s.request(
            "POST",
            "/rest/v1/pairs",
            &[(
                "prefer",
                "return=representation, resolution=merge-duplicates",
            )],
            Some(r#"[{"a": 1, "b": 2}]"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.header("preference-applied"),
            Some("return=representation")
        );
        // A merging upsert of no rows inserted nothing: 200 (also on a view).
        let r = s.request(
            "POST",
            "/rest/v1/words_v",
            &[(
                "prefer",
                "return=representation, resolution=merge-duplicates",
            )],
            Some("[]"),
        );
        assert_eq!((r.status, r.json()), (200, json!([])), "{}", r.body);
        // PUT puts the first row of an array.
        let r = s.request(
            "PUT",
            "/rest/v1/words?id=eq.3",
            &[("prefer", "return=representation")],
            Some(r#"[{"id": 3, "w": "see"}, {"id": 4, "w": "ignored"}]"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 3, "w": "see"}])),
            "{}",
            r.body
        );
        assert_eq!(s.get("/rest/v1/words?id=eq.4", &[]).json(), json!([]));
        // handling=strict refuses a time zone the database does not know.
        let r = s.get(
            "/rest/v1/words",
            &[("prefer", "handling=strict, timezone=Nowhere/Atlantis")],
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST122")),
            "{}",
            r.body
        );
        assert_eq!(
            r.json()["details"],
            "Invalid preferences: timezone=Nowhere/Atlantis"
        );
        let r = s.get(
            "/rest/v1/words",
            &[("prefer", "handling=strict, timezone=Europe/Paris")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
    });
}

#[test]
fn parser_and_catalog_edges_as_postgrest() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_e.sql",
            r#"
create table shelves (id int primary key, label text);
create table sales (id int, shelf_id int references shelves, sold date not null, primary key (id, sold))
  partition by range (sold);
create table sales_2024 partition of sales for values from ('2024-01-01') to ('2025-01-01');
insert into shelves values (1, 'top');
insert into sales values (1, 1, '2024-05-01');
create table blobs (id int primary key, data jsonb);
insert into blobs values (1, '{"23-xy-45": {"0xy1": "deep"}}');
create function echo_all(variadic v text[]) returns text[] language sql immutable as $$ select v $$;
"#,
        );
        let s = p.serve();
        // JSON keys may start with digits (`23-xy-45` is no index).
        let r = s.get("/rest/v1/blobs?select=data->23-xy-45->>0xy1", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"0xy1": "deep"}])),
            "{}",
            r.body
        );
        // A stray parenthesis after an embed or a logic tree is ignored, as
        // PostgREST's parser does; after a column it is an error.
        let r = s.get("/rest/v1/sales?select=id,shelves(label))", &[]);
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1, "shelves": {"label": "top"}}])),
            "{}",
            r.body
        );
        let r = s.get(
            "/rest/v1/shelves?select=id&and=(id.eq.1,label.eq.top))",
            &[],
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1}])),
            "{}",
            r.body
        );
        let r = s.get("/rest/v1/shelves?select=id)", &[]);
        assert_eq!(r.status, 400, "{}", r.body);
        // Partitions are not in the schema cache: embedding from one names the parent.
        let r = s.get("/rest/v1/sales_2024?select=id,shelves(label)", &[]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (404, json!("PGRST205")),
            "{}",
            r.body
        );
        assert_eq!(
            r.json()["hint"],
            "Perhaps you meant the table 'public.sales'"
        );
        // A variadic argument sent once in a form is a one-element array.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/echo_all",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("v=hi"),
        );
        assert_eq!((r.status, r.json()), (200, json!(["hi"])), "{}", r.body);
        // The OpenAPI document is JSON only.
        let r = s.get("/rest/v1/", &[("accept", "text/csv")]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (406, json!("PGRST107")),
            "{}",
            r.body
        );
    });
}
