//! Issue 25, "PostgREST answers, last mile": what real clients (supabase-js,
//! postgrest-js) still tripped on, one test per item, each on PGlite and on
//! PostgreSQL. Where PostgREST's behaviour is not obvious, the comment names
//! the function of PostgREST's source (v13.0.8) that decides it.

use serde_json::{json, Value};
use supalite_tests::*;

/// `count` without parentheses is a column to PostgREST (`pFieldSelect`
/// parses it as a field; `validateAggFunctions` refuses only fields with an
/// aggregate function): `"reviews_1"."count"`, which PostgreSQL reads as
/// `count(reviews_1)` — the old form, allowed with the default
/// `db-aggregates-enabled = false`. Only `count()` and the other functions
/// are PGRST123.
#[test]
fn legacy_count_is_a_column_not_an_aggregate_function() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_count.sql",
            r#"
create table books (id int primary key, title text);
create table reviews (id int primary key, book_id int references books, stars int);
insert into books values (1, 'Dune'), (2, 'Emma'), (3, 'Ulysses');
insert into reviews values (1, 1, 5), (2, 1, 4), (3, 2, 3);
"#,
        );
        let s = p.serve();
        let r = s.get("/rest/v1/books?select=id,reviews(count)&order=id", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json(),
            json!([
                {"id": 1, "reviews": [{"count": 2}]},
                {"id": 2, "reviews": [{"count": 1}]},
                {"id": 3, "reviews": [{"count": 0}]}
            ])
        );
        // Supabase's docs: `.select('*, cities(count)')`.
        let r = s.get("/rest/v1/books?select=*,reviews(count)&id=eq.2", &[]);
        assert_eq!(
            r.json(),
            json!([{"id": 2, "title": "Emma", "reviews": [{"count": 1}]}]),
            "{}",
            r.body
        );
        let r = s.get("/rest/v1/books?select=count", &[]);
        assert_eq!((r.status, r.json()), (200, json!([{"count": 3}])), "{}", r.body);
        // The aggregate functions stay refused.
        for q in ["select=id,reviews(count())", "select=count()", "select=id.sum()"] {
            let r = s.get(&format!("/rest/v1/books?{q}"), &[]);
            assert_eq!(r.status, 400, "{q}: {}", r.body);
            assert_eq!(
                r.json(),
                json!({"code": "PGRST123", "details": null, "hint": null,
                       "message": "Use of aggregate functions is not allowed"}),
                "{q}"
            );
        }
    });
}

/// A single unnamed parameter is named `""` in PostgREST's schema cache, so
/// a body `{"": …}` matches it (`findProc`'s `matchesParams`), and the call
/// passes the whole body to it (`callPlan`: `OnePosParam`, rendered as
/// `f($1::text)` by `callPlanToQuery`/`singleParameter`).
#[test]
fn an_unnamed_parameter_is_called_by_the_empty_key() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_unnamed.sql",
            "create function echo(text) returns text language sql as $$ select $1 $$;",
        );
        let s = p.serve();
        let r = s.request("POST", "/rest/v1/rpc/echo", &[], Some(r#"{"":"test"}"#));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!(r#"{"":"test"}"#));
        // A text body, as before.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/echo",
            &[("content-type", "text/plain")],
            Some("plain words"),
        );
        assert_eq!((r.status, r.json()), (200, json!("plain words")), "{}", r.body);
    });
}

/// `f()` and `f(text default …)` both take no arguments: both match
/// (`matchesParams`: no parameters and no keys; only optional parameters
/// and the keys a subset of them), so PostgREST answers 300 PGRST203
/// (`AmbiguousRpc`), listing them in its order — `instance Ord Routine`:
/// fewer parameters first, then the parameters compared (name, then type:
/// `integer` before `text`).
#[test]
fn unnamed_defaulted_overloads_are_ambiguous() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_overloads.sql",
            r#"
create function pick(text default 'x') returns text language sql as $$ select $1 $$;
create function pick() returns text language sql as $$ select 'none' $$;
create function kind(a text) returns text language sql as $$ select 'text' $$;
create function kind(a integer) returns text language sql as $$ select 'integer' $$;
"#,
        );
        let s = p.serve();
        let hint = "Try renaming the parameters or the function itself in the database so function overloading can be resolved";
        for (method, body) in [("POST", Some("{}")), ("GET", None)] {
            let r = s.request(method, "/rest/v1/rpc/pick", &[], body);
            assert_eq!(r.status, 300, "{method}: {}", r.body);
            assert_eq!(
                r.json(),
                json!({"code": "PGRST203", "details": null, "hint": hint,
                       "message": "Could not choose the best candidate function between: public.pick(), public.pick( => text)"}),
                "{method}"
            );
        }
        let r = s.get("/rest/v1/rpc/kind?a=1", &[]);
        assert_eq!(r.status, 300, "{}", r.body);
        assert_eq!(
            r.json()["message"],
            json!("Could not choose the best candidate function between: public.kind(a => integer), public.kind(a => text)")
        );
    });
}

/// postgrest-js sends `options=;` when no EXPLAIN option is set. PostgREST
/// reads the options as the known names among `options`' `|`-separated
/// values (`decodeMediaType`'s `getPlan`), none here, and writes them back
/// in its own order (`toMime`).
#[test]
fn explain_with_an_empty_option_list() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_plan.sql",
            "create table items (id int primary key); insert into items values (1);",
        );
        let s = p
            .serve_with(&[], &[("SUPALITE_DB_PLAN_ENABLED", "true")])
            .unwrap();
        let r = s.get(
            "/rest/v1/items",
            &[(
                "accept",
                "application/vnd.pgrst.plan+json; for=\"application/json\"; options=;",
            )],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.plan+json; for=\"application/json\"; charset=utf-8")
        );
        assert!(r.json()[0]["Plan"]["Total Cost"].is_number(), "{}", r.body);
        let r = s.get(
            "/rest/v1/items",
            &[("accept", "application/vnd.pgrst.plan+json; options=verbose|analyze")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pgrst.plan+json; for=\"application/json\"; options=analyze|verbose; charset=utf-8")
        );
    });
}

/// `Accept: application/geo+json`: PostgREST's built-in handler for any
/// relation (`initialMediaHandlers`, `BuiltinOvAggGeoJson`) aggregates the
/// rows with PostGIS (`asGeoJsonF`: a FeatureCollection of
/// `ST_AsGeoJSON(row)`). Without PostGIS — the embedded PGlite ships no
/// postgis extension — the same statement is PostgreSQL's 42883 on
/// `st_asgeojson(record)`, answered 404 as PostgREST answers it there.
#[test]
fn geojson_is_a_feature_collection() {
    on_each_db(|p| {
        let postgis = p.db_uri.is_some()
            && pg::Cluster::get()
                .psql(
                    "postgres",
                    "select count(*) from pg_available_extensions where name = 'postgis'",
                )
                .is_ok_and(|n| n == "1");
        if postgis {
            p.migration(
                "20240101000000_geo.sql",
                r#"
create extension if not exists postgis;
create table shops (id int primary key, address text, shop_geom geometry(POINT, 4326));
insert into shops values
  (1, '1369 Cambridge St', 'SRID=4326;POINT(-71.10044 42.373695)'),
  (2, '757 Massachusetts Ave', 'SRID=4326;POINT(-71.10543 42.366432)');
create table plain (id int primary key);
insert into plain values (1);
"#,
            );
        } else {
            if p.db_uri.is_some() {
                eprintln!(
                    "PostGIS is not installed for this PostgreSQL (postgresql-15-postgis-3): \
                     the FeatureCollection is not checked, only the answer without PostGIS"
                );
            }
            p.migration(
                "20240101000000_geo.sql",
                "create table shops (id int primary key, address text);
                 insert into shops values (1, '1369 Cambridge St');",
            );
        }
        let s = p.serve();
        let geo = [("accept", "application/geo+json")];
        let r = s.get("/rest/v1/shops?order=id", &geo);
        if !postgis {
            assert_eq!(r.status, 404, "{}", r.body);
            assert_eq!(r.json()["code"], json!("42883"), "{}", r.body);
            assert_eq!(
                r.json()["message"],
                json!("function st_asgeojson(record) does not exist")
            );
            return;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/geo+json; charset=utf-8")
        );
        let feature = |id: i64, address: &str, x: f64, y: f64| {
            json!({"type": "Feature",
                   "geometry": {"type": "Point", "coordinates": [x, y]},
                   "properties": {"id": id, "address": address}})
        };
        assert_eq!(
            r.json(),
            json!({"type": "FeatureCollection", "features": [
                feature(1, "1369 Cambridge St", -71.10044, 42.373695),
                feature(2, "757 Massachusetts Ave", -71.10543, 42.366432)
            ]})
        );
        // No rows: no features; select names the geometry column too.
        let r = s.get("/rest/v1/shops?id=gt.9", &geo);
        assert_eq!(
            r.json(),
            json!({"type": "FeatureCollection", "features": []})
        );
        let r = s.get("/rest/v1/shops?select=id,shop_geom&id=eq.1", &geo);
        assert_eq!(
            r.json()["features"][0]["properties"],
            json!({"id": 1}),
            "{}",
            r.body
        );
        // A written row's representation.
        let r = s.request(
            "POST",
            "/rest/v1/shops",
            &[
                ("accept", "application/geo+json"),
                ("prefer", "return=representation"),
            ],
            Some(r#"{"id": 3, "address": "605 W Kendall St", "shop_geom": "SRID=4326;POINT(-71.081924 42.36437)"}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.json()["features"],
            json!([feature(3, "605 W Kendall St", -71.081924, 42.36437)])
        );
        // A table without a geometry column: PostGIS's own error.
        let r = s.get("/rest/v1/plain", &geo);
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            (r.json()["code"].clone(), r.json()["message"].clone()),
            (json!("22023"), json!("geometry column is missing"))
        );
    });
}

/// `Prefer: missing=default`: PostgREST's statement lays each object over
/// the written columns' defaults (`fromJsonBodyF` with `applyDefaults`:
/// `jsonb_agg(jsonb_build_object(<col>, <default>, …) || elem)`), so every
/// default is evaluated for every row — a serial advances once per row,
/// even for a row that gives its own id.
#[test]
fn missing_default_draws_every_default_for_every_row() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_channels.sql",
            r#"
create table channels (id serial primary key, slug text not null default 'general');
insert into channels (slug) values ('a'), ('b'), ('c');
create table tickets (id int generated by default as identity primary key, title text default 'untitled');
"#,
        );
        let s = p.serve();
        let prefer = [("prefer", "missing=default, return=representation")];
        let r = s.request(
            "POST",
            // As postgrest-js sends an array insert: `columns` names the
            // union of the objects' keys (without it PostgREST refuses
            // objects whose keys differ, PGRST102).
            "/rest/v1/channels?columns=id,slug",
            &prefer,
            Some(r#"[{"id": 100}, {"slug": "x"}]"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.json(),
            json!([{"id": 100, "slug": "general"}, {"id": 5, "slug": "x"}])
        );
        // An identity column's sequence, likewise; a one-object body too.
        let r = s.request(
            "POST",
            "/rest/v1/tickets?columns=id,title",
            &prefer,
            Some(r#"[{"id": 7}, {"title": "t"}]"#),
        );
        assert_eq!(
            r.json(),
            json!([{"id": 7, "title": "untitled"}, {"id": 2, "title": "t"}]),
            "{}",
            r.body
        );
        let r = s.request("POST", "/rest/v1/tickets", &prefer, Some(r#"{"title": "u"}"#));
        assert_eq!(r.json(), json!([{"id": 3, "title": "u"}]), "{}", r.body);
    });
}

/// The same relation embedded twice without aliases: PostgREST names each
/// embed's lateral join by the parent table, the embed's name and its depth
/// (`addRels`' `relAggAlias`, used by `getJoin`), so both are `chats_users_1`
/// and PostgreSQL refuses the statement (42712, 400). With aliases they
/// differ.
#[test]
fn same_relation_embedded_twice_without_aliases_is_42712() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_chats.sql",
            r#"
create table users (id int primary key, name text);
create table chats (id int primary key, first_user int references users, second_user int references users);
insert into users values (1, 'ann'), (2, 'bob');
insert into chats values (1, 1, 2);
"#,
        );
        let s = p.serve();
        let r = s.get(
            "/rest/v1/chats?select=users!first_user(*),users!second_user(*)",
            &[],
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            r.json(),
            json!({"code": "42712", "details": null, "hint": null,
                   "message": "table name \"chats_users_1\" specified more than once"})
        );
        let r = s.get(
            "/rest/v1/chats?select=first:users!first_user(name),second:users!second_user(name)",
            &[],
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"first": {"name": "ann"}, "second": {"name": "bob"}}])),
            "{}",
            r.body
        );
    });
}

/// Error texts: an embedded table goes by PostgREST's alias for it, its
/// name and depth (`addRels`: `messages_1`), so PostgreSQL's errors name
/// it as PostgREST's do; PGRST202's hint is null when no function name is
/// close enough (`noRpcHint`: the best fuzzy match, if any).
#[test]
fn errors_name_embeds_as_postgrest_and_hint_only_close_functions() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_errors.sql",
            r#"
create table channels (id int primary key, slug text);
create table messages (id int primary key, channel_id int references channels, body text);
insert into channels values (1, 'general');
create function add_them(a int, b int) returns int language sql as $$ select a + b $$;
create function get_user_profile(uid int) returns int language sql as $$ select uid $$;
"#,
        );
        let s = p
            .serve_with(&[], &[("SUPALITE_DB_AGGREGATES_ENABLED", "true")])
            .unwrap();
        for (q, column) in [
            ("select=id,messages(sum)", "messages_1.sum"),
            ("select=id,messages(nope.sum())", "messages_1.nope"),
            ("select=id,messages(nope)", "messages_1.nope"),
        ] {
            let r = s.get(&format!("/rest/v1/channels?{q}"), &[]);
            assert_eq!(r.status, 400, "{q}: {}", r.body);
            assert_eq!(
                r.json()["message"],
                json!(format!("column {column} does not exist")),
                "{q}"
            );
        }
        // No close name: no hint; a close one is offered.
        let r = s.request("POST", "/rest/v1/rpc/xyzzy", &[], Some("{}"));
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.json()["code"], json!("PGRST202"));
        assert_eq!(r.json()["hint"], Value::Null, "{}", r.body);
        let r = s.request("POST", "/rest/v1/rpc/add_then", &[], Some(r#"{"a": 1, "b": 2}"#));
        assert_eq!(
            r.json()["hint"],
            json!("Perhaps you meant to call the function public.add_them"),
            "{}",
            r.body
        );
    });
}
