//! PostgREST semantics through the bridge: embedding, RPC, operators on
//! arrays/ranges/jsonb/full-text, counts and ranges. On PGlite and PostgreSQL.

use serde_json::json;
use supalite_tests::*;

const SCHEMA: &str = r#"
create type mood as enum ('happy', 'sad');
create table authors (id int primary key, name text not null, mood mood);
create table books (
  id int primary key,
  title text not null,
  author_id int references authors(id),
  editor_id int references authors(id),
  tags text[] not null default '{}',
  meta jsonb,
  during int4range,
  body tsvector
);
create table topics (id int primary key, name text not null);
create table book_topics (book_id int references books(id), topic_id int references topics(id), primary key (book_id, topic_id));
insert into authors values (1, 'Ursula', 'happy'), (2, 'Terry', 'sad'), (3, 'Nobody', null);
insert into books values
  (1, 'Earthsea', 1, 2, '{fantasy,classic}', '{"pages": 200, "lang": "en"}', '[1968,1972)', to_tsvector('simple', 'a wizard of earthsea')),
  (2, 'Discworld', 2, 1, '{fantasy,humor}', '{"pages": 300, "lang": "en"}', '[1983,2015)', to_tsvector('simple', 'the colour of magic')),
  (3, 'Dispossessed', 1, null, '{scifi}', '{"pages": 400, "lang": "fr"}', '[1974,1975)', to_tsvector('simple', 'an ambiguous utopia'));
insert into topics values (1, 'magic'), (2, 'politics');
insert into book_topics values (1, 1), (2, 1), (3, 2);

create function add(a int, b int) returns int language sql immutable as $$ select a + b $$;
create function books_by(author text) returns setof books language sql stable as $$
  select b.* from books b join authors a on a.id = b.author_id where a.name = author order by b.id $$;
create function echo(payload json) returns json language sql immutable as $$ select payload $$;
create function nothing() returns void language sql as $$ select $$;
create function stats() returns table(author text, n bigint) language sql stable as $$
  select a.name, count(b.id) from authors a left join books b on b.author_id = a.id group by a.name order by a.name $$;
create function fail() returns int language plpgsql as $$ begin raise exception 'nope' using hint = 'do not'; end $$;
"#;

fn json_get(s: &Server, path: &str) -> serde_json::Value {
    let r = s.get(path, &[]);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

#[test]
fn embedding() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        let s = p.serve();
        // An unknown table: PGRST205, with the closest one as a hint.
        let r = s.get("/rest/v1/bookz?select=id", &[]);
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.json()["code"], "PGRST205");
        assert_eq!(
            r.json()["message"],
            "Could not find the table 'public.bookz' in the schema cache"
        );
        assert_eq!(
            r.json()["hint"],
            "Perhaps you meant the table 'public.books'"
        );
        // An empty embed filters without showing up; `rel=is.null` tests it.
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=name,books!books_author_id_fkey()&books=not.is.null&order=id"),
            json!([{"name": "Ursula"}, {"name": "Terry"}])
        );
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/authors?select=name,books!books_author_id_fkey()&books=is.null"
            ),
            json!([{"name": "Nobody"}])
        );
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=id,w:books!books_editor_id_fkey(id)&or=(w.is.null,id.eq.1)&order=id"),
            json!([{"id": 1, "w": [{"id": 2}]}, {"id": 3, "w": []}])
        );
        // many-to-one with a hint, renamed
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/books?select=title,author:authors!books_author_id_fkey(name)&id=eq.1"
            ),
            json!([{"title": "Earthsea", "author": {"name": "Ursula"}}])
        );
        // by FK column, and null when there is no row
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/books?select=id,editor:editor_id(name)&order=id"
            ),
            json!([{"id": 1, "editor": {"name": "Terry"}}, {"id": 2, "editor": {"name": "Ursula"}}, {"id": 3, "editor": null}])
        );
        // ambiguous without a hint: 300 PGRST201
        let r = s.get("/rest/v1/books?select=title,authors(name)", &[]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (300, json!("PGRST201"))
        );
        // one-to-many with embedded filter, order and limit
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=name,books!books_author_id_fkey(title)&books.order=title.desc&books.limit=1&order=id"),
            json!([{"name": "Ursula", "books": [{"title": "Earthsea"}]}, {"name": "Terry", "books": [{"title": "Discworld"}]}, {"name": "Nobody", "books": []}])
        );
        // !inner drops parents without matches
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=name,books!books_author_id_fkey!inner(title)&books.title=eq.Dispossessed"),
            json!([{"name": "Ursula", "books": [{"title": "Dispossessed"}]}])
        );
        // many-to-many, nested two levels
        assert_eq!(
            json_get(&s, "/rest/v1/topics?select=name,books(title,author:authors!books_author_id_fkey(name))&id=eq.1&books.order=id"),
            json!([{"name": "magic", "books": [{"title": "Earthsea", "author": {"name": "Ursula"}}, {"title": "Discworld", "author": {"name": "Terry"}}]}])
        );
        // spread of a to-one embed; order by an embedded column
        assert_eq!(
            json_get(&s, "/rest/v1/books?select=title,...authors!books_author_id_fkey(author_name:name)&order=id"),
            json!([{"title": "Earthsea", "author_name": "Ursula"}, {"title": "Discworld", "author_name": "Terry"}, {"title": "Dispossessed", "author_name": "Ursula"}])
        );
        assert_eq!(
            json_get(&s, "/rest/v1/books?select=title,author:authors!books_author_id_fkey(name)&order=authors(name).desc,id"),
            json!([{"title": "Earthsea", "author": {"name": "Ursula"}}, {"title": "Dispossessed", "author": {"name": "Ursula"}}, {"title": "Discworld", "author": {"name": "Terry"}}])
        );
        let r = s.get("/rest/v1/books?select=title,nope(*)", &[]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST200"))
        );
        // Ordering by an embedded row's JSON path orders by that value
        // (not by the whole column).
        assert_eq!(
            json_get(&s, "/rest/v1/book_topics?select=book_id,books(meta)&order=books(meta->>lang).desc,book_id"),
            json!([
                {"book_id": 3, "books": {"meta": {"pages": 400, "lang": "fr"}}},
                {"book_id": 1, "books": {"meta": {"pages": 200, "lang": "en"}}},
                {"book_id": 2, "books": {"meta": {"pages": 300, "lang": "en"}}}
            ])
        );
        // An embedded row whose columns are all null is still there.
        let r = s.request(
            "PATCH",
            "/rest/v1/authors?id=eq.2",
            &[],
            Some(r#"{"mood": null}"#),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/books?select=id,editor:editor_id(mood)&editor=not.is.null&order=id"
            ),
            json!([{"id": 1, "editor": {"mood": null}}, {"id": 2, "editor": {"mood": "happy"}}])
        );
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/books?select=id,editor:editor_id(mood)&editor=is.null"
            ),
            json!([{"id": 3, "editor": null}])
        );
    });
}

/// The total of `count=exact` (and the planner's estimate of `planned`)
/// counts the rows the same read returns without paging: embeds that
/// filter (`!inner`, `rel=is.null`, `rel=not.is.null`, inside `or`,
/// many-to-many, nested) count, embeds that only shape the JSON do not.
#[test]
fn counts_follow_the_filtering_embeds() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        let s = p.serve();
        let cases = [
            "authors?select=name,books!books_author_id_fkey()&books=not.is.null",
            "authors?select=name,books!books_author_id_fkey()&books=is.null",
            "authors?select=id,w:books!books_editor_id_fkey(id)&or=(w.is.null,id.eq.1)",
            "authors?select=name,books!books_author_id_fkey!inner(title)&books.title=eq.Dispossessed",
            "authors?select=name,books!books_author_id_fkey(title)&books.title=eq.Dispossessed",
            "topics?select=name,books!inner(title)&books.title=like.D*",
            "topics?select=name,books!inner(title,authors!books_author_id_fkey!inner(name))&books.authors.name=eq.Terry",
            "books?select=id,editor:editor_id(name)",
            "books?select=id,editor:editor_id!inner(name)",
            "books?select=id,editor:editor_id()&editor=is.null",
            "books?select=id,topics(name)&topics.name=eq.magic&topics=not.is.null&id=gt.1",
        ];
        for q in cases {
            let all = json_get(&s, &format!("/rest/v1/{q}"));
            let rows = all.as_array().unwrap().len();
            assert!(rows > 0, "{q}: no rows to count");
            let r = s.get(
                &format!("/rest/v1/{q}&limit=1"),
                &[("prefer", "count=exact")],
            );
            assert_eq!(r.json().as_array().unwrap().len(), 1, "{q}: {}", r.body);
            assert_eq!(
                r.header("content-range"),
                Some(format!("0-0/{rows}").as_str()),
                "{q}"
            );
            let r = s.get(
                &format!("/rest/v1/{q}&limit=1"),
                &[("prefer", "count=planned")],
            );
            let total = r
                .header("content-range")
                .and_then(|c| c.rsplit('/').next()?.parse::<u64>().ok());
            assert!(total.is_some(), "{q}: {:?}", r.header("content-range"));
        }
        drop(s);
        // An aggregating read counts its groups.
        let s = p
            .serve_with(&[], &[("SUPALITE_DB_AGGREGATES_ENABLED", "true")])
            .unwrap();
        let r = s.get(
            "/rest/v1/books?select=author_id,n:id.count()&limit=1",
            &[("prefer", "count=exact")],
        );
        assert_eq!(r.header("content-range"), Some("0-0/2"), "{}", r.body);
    });
}

#[test]
fn rpc() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        p.migration(
            "20240101000001_calls.sql",
            "create table calls (n int);
             create type pair as (a int, b int);
             create function pairs() returns table(id int, val pair) language sql as $$
               values (1, row(1, 5)::pair), (2, row(2, 6)::pair), (3, row(3, 7)::pair) $$;
             create table labels (id int primary key, v text);
             insert into labels values (1, 'a'), (2, 'b');
             create function relabel(lo int, hi int, t text) returns setof labels language sql as $$
               update labels set v = t where id between lo and hi returning * $$;
             create function log_call() returns setof int language sql as $$ insert into calls values (1), (2) returning n $$;
             create function teapot() returns int language plpgsql as $$ begin
               perform set_config('response.status', '418', true);
               perform set_config('response.headers', '[{\"X-Brew\": \"tea\"}, {\"Cache-Control\": \"no-store\"}]', true);
               return 1; end $$;
             create function bad_status() returns int language plpgsql as $$ begin
               perform set_config('response.status', 'teapot', true); return 1; end $$;",
        );
        let s = p.serve();
        let r = s.request("POST", "/rest/v1/rpc/add", &[], Some(r#"{"a": 2, "b": 3}"#));
        assert_eq!((r.status, r.body.as_str()), (200, "5"));
        // Counts and ranges on RPC results, as PostgREST: the total of the
        // function's (filtered) rows, 206 for a part of them; the function
        // itself runs once.
        let exact = [("prefer", "count=exact")];
        let r = s.get(
            "/rest/v1/rpc/books_by?author=Ursula&select=id&limit=1",
            &exact,
        );
        assert_eq!(
            (r.status, r.header("content-range")),
            (206, Some("0-0/2")),
            "{}",
            r.body
        );
        let r = s.get("/rest/v1/rpc/add?a=1&b=1", &exact);
        assert_eq!(
            (r.status, r.header("content-range")),
            (200, Some("0-0/1")),
            "{}",
            r.body
        );
        let r = s.request("POST", "/rest/v1/rpc/log_call?limit=1", &exact, Some("{}"));
        assert_eq!(
            (r.status, r.header("content-range"), r.json()),
            (206, Some("0-0/2"), json!([1])),
            "{}",
            r.body
        );
        assert_eq!(
            json_get(&s, "/rest/v1/calls?select=n&order=n"),
            json!([{"n": 1}, {"n": 2}])
        );
        // A Range header applies to GET only.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/books_by?select=id",
            &[("range", "0-0")],
            Some(r#"{"author": "Ursula"}"#),
        );
        assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{}", r.body);
        let r = s.get(
            "/rest/v1/books?select=id",
            &[("accept", "application/vnd.pgrst.object+json")],
        );
        assert_eq!(r.status, 406);
        assert_eq!(
            r.json()["message"],
            "Cannot coerce the result to a single JSON object"
        );
        assert_eq!(r.json()["details"], "The result contains 3 rows");
        // JSON paths on a composite column of a function's TABLE result.
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/rpc/pairs?select=val->a&val->b=gt.5&order=val->>b.desc"
            ),
            json!([{"a": 3}, {"a": 2}])
        );
        // A path past a text value: PostgreSQL's error, as PostgREST's.
        let r = s.get("/rest/v1/books?select=meta->>lang->x", &[]);
        assert_eq!(
            (
                r.status,
                r.json()["code"].clone(),
                r.json()["message"].clone()
            ),
            (
                404,
                json!("42883"),
                json!("operator does not exist: text -> unknown")
            ),
            "{}",
            r.body
        );
        // A function's rows asked for as one object: two rows changed is a
        // 406 and the changes roll back (even with tx=commit); one is fine.
        let object = ("accept", "application/vnd.pgrst.object+json");
        let r = s.request(
            "POST",
            "/rest/v1/rpc/relabel",
            &[object, ("prefer", "tx=commit")],
            Some(r#"{"lo": 1, "hi": 2, "t": "z"}"#),
        );
        assert_eq!(
            (
                r.status,
                r.json()["code"].clone(),
                r.json()["details"].clone()
            ),
            (406, json!("PGRST116"), json!("The result contains 2 rows")),
            "{}",
            r.body
        );
        assert_eq!(
            json_get(&s, "/rest/v1/labels?order=id"),
            json!([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
        );
        let r = s.request(
            "POST",
            "/rest/v1/rpc/relabel",
            &[object],
            Some(r#"{"lo": 2, "hi": 2, "t": "z"}"#),
        );
        assert_eq!((r.status, r.json()), (200, json!({"id": 2, "v": "z"})));
        assert_eq!(
            json_get(&s, "/rest/v1/labels?order=id"),
            json!([{"id": 1, "v": "a"}, {"id": 2, "v": "z"}])
        );
        // Status and headers set by SQL (`response.status`, `response.headers`).
        let r = s.request("POST", "/rest/v1/rpc/teapot", &[], Some("{}"));
        assert_eq!((r.status, r.body.as_str()), (418, "1"));
        assert_eq!(r.header("x-brew"), Some("tea"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let r = s.request("POST", "/rest/v1/rpc/bad_status", &[], Some("{}"));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (500, json!("PGRST112"))
        );
        let r = s.request("DELETE", "/rest/v1/rpc/add", &[], None);
        assert_eq!(
            (r.status, r.json()["message"].clone()),
            (405, json!("Cannot use the DELETE method on RPC"))
        );
        assert_eq!(json_get(&s, "/rest/v1/rpc/add?a=40&b=2"), json!(42));
        // setof rows, with filters and select applied in SQL
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/rpc/books_by?author=Ursula&select=title&id=gt.1"
            ),
            json!([{"title": "Dispossessed"}])
        );
        let r = s.request(
            "POST",
            "/rest/v1/rpc/books_by?select=id",
            &[],
            Some(r#"{"author": "Terry"}"#),
        );
        assert_eq!(r.json(), json!([{"id": 2}]));
        // returns table
        assert_eq!(
            json_get(&s, "/rest/v1/rpc/stats?n=gt.0"),
            json!([{"author": "Terry", "n": 1}, {"author": "Ursula", "n": 2}])
        );
        // a single unnamed json parameter takes the whole body
        let r = s.request(
            "POST",
            "/rest/v1/rpc/echo",
            &[],
            Some(r#"{"payload": {"x": [1, 2]}}"#),
        );
        assert_eq!(r.json(), json!({"x": [1, 2]}));
        // void → 204
        let r = s.request("POST", "/rest/v1/rpc/nothing", &[], Some("{}"));
        assert_eq!((r.status, r.body.as_str()), (204, ""));
        // unknown function or arguments → 404 PGRST202
        let r = s.request("POST", "/rest/v1/rpc/add", &[], Some(r#"{"a": 1}"#));
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (404, json!("PGRST202"))
        );
        let r = s.request("POST", "/rest/v1/rpc/nope", &[], Some("{}"));
        assert_eq!(r.status, 404);
        // raise → 400 with the hint; wrong type → 400
        let r = s.request("POST", "/rest/v1/rpc/fail", &[], Some("{}"));
        assert_eq!(
            (r.status, r.json()["code"].clone(), r.json()["hint"].clone()),
            (400, json!("P0001"), json!("do not"))
        );
        let r = s.request(
            "POST",
            "/rest/v1/rpc/add",
            &[],
            Some(r#"{"a": "x", "b": 1}"#),
        );
        assert_eq!((r.status, r.json()["code"].clone()), (400, json!("22P02")));
    });
}

#[test]
fn operators_on_rich_types() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        let s = p.serve();
        let ids = |path: &str| -> Vec<i64> {
            json_get(&s, &format!("/rest/v1/books?select=id&order=id&{path}"))
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(ids("tags=cs.{fantasy}"), vec![1, 2]);
        assert_eq!(ids("tags=ov.{scifi,humor}"), vec![2, 3]);
        assert_eq!(ids("during=adj.[1972,1974)"), vec![1, 3]);
        assert_eq!(ids("during=sl.[1980,1990)"), vec![1, 3]);
        assert_eq!(ids("meta->>lang=eq.fr"), vec![3]);
        assert_eq!(ids("meta->pages=gt.250"), vec![2, 3]);
        assert_eq!(ids("body=fts(simple).wizard"), vec![1]);
        assert_eq!(ids("body=wfts(simple).colour magic"), vec![2]);
        // JSON paths on an array column (through to_jsonb, as PostgREST).
        assert_eq!(ids("tags->>0=eq.fantasy"), vec![1, 2]);
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/books?select=first:tags->0,second:tags->>1&id=eq.2"
            ),
            json!([{"first": "fantasy", "second": "humor"}])
        );
        assert_eq!(ids("order=tags->>1.desc.nullslast&id=in.(1,2)"), vec![2, 1]);
        // Full-text search on a jsonb column searches its string values.
        assert_eq!(ids("meta=fts(simple).fr"), vec![3]);
        assert_eq!(
            ids("or=(meta.plfts(simple).fr,title.eq.Earthsea)"),
            vec![1, 3]
        );
        assert_eq!(ids("title=like.*world"), vec![2]);
        assert_eq!(ids("title=ilike(any).{*SEA,*possessed}"), vec![1, 3]);
        assert_eq!(ids("editor_id=is.null"), vec![3]);
        assert_eq!(
            ids("editor_id=not.is.null&or=(id.eq.1,title.eq.Discworld)"),
            vec![1, 2]
        );
        assert_eq!(ids("id=in.(1,3)&not.and=(id.eq.1)"), vec![3]);
        assert_eq!(ids("title=match.^D"), vec![2, 3]);
        assert_eq!(ids("editor_id=isdistinct.2"), vec![2, 3]);
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/books?select=t:title,pages:meta->>pages,id::text&id=eq.3"
            ),
            json!([{"t": "Dispossessed", "pages": "400", "id": "3"}])
        );
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=name&mood=eq.happy"),
            json!([{"name": "Ursula"}])
        );
        let r = s.get("/rest/v1/authors?mood=eq.angry", &[]);
        assert_eq!((r.status, r.json()["code"].clone()), (400, json!("22P02")));

        // counts and ranges
        let r = s.get(
            "/rest/v1/books?select=id&order=id",
            &[("prefer", "count=exact"), ("range", "1-1")],
        );
        assert_eq!((r.status, r.header("content-range")), (206, Some("1-1/3")));
        let r = s.get(
            "/rest/v1/books?select=id&offset=5",
            &[("prefer", "count=exact")],
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (416, json!("PGRST103"))
        );
        // planned: the planner's estimate (a number; analyzed tables are exact enough)
        let r = s.get(
            "/rest/v1/books?select=id&limit=1",
            &[("prefer", "count=planned")],
        );
        assert!(r.status == 200 || r.status == 206, "{}", r.body);
        let total: u64 = r
            .header("content-range")
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(total >= 1, "{total}");
        assert!(r
            .header("preference-applied")
            .unwrap()
            .contains("count=planned"));
        let estimated = |s: &Server| {
            let r = s.get(
                "/rest/v1/books?select=id&limit=1",
                &[("prefer", "count=estimated")],
            );
            r.header("content-range").map(str::to_string)
        };
        // Without db-max-rows, as PostgREST: the larger of the exact count
        // and the estimate.
        assert_eq!(estimated(&s), Some(format!("0-0/{}", total.max(3))));
        let r = s.request("HEAD", "/rest/v1/books", &[("prefer", "count=exact")], None);
        assert_eq!(
            (r.status, r.body.as_str(), r.header("content-range")),
            (200, "", Some("0-2/3"))
        );
        drop(s);
        // Not past db-max-rows, the exact count.
        let s = p
            .serve_with(&[], &[("SUPALITE_DB_MAX_ROWS", "10")])
            .unwrap();
        assert_eq!(estimated(&s).as_deref(), Some("0-0/3"));
    });
}

#[test]
fn writes_upserts_and_put() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        p.migration(
            "20240101000001_readings.sql",
            "create table readings (site text, day date, v int not null default 0, primary key (site, day)) partition by list (site);
             create table readings_a partition of readings for values in ('a');
             create table readings_b partition of readings for values in ('b');",
        );
        let s = p.serve();
        let rep = ("prefer", "return=representation");
        // A write asked for one object that changes several rows: 406, undone.
        let r = s.request(
            "PATCH",
            "/rest/v1/topics?id=in.(1,2)",
            &[rep, ("accept", "application/vnd.pgrst.object+json")],
            Some(r#"{"name": "both"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (406, json!("PGRST116")),
            "{}",
            r.body
        );
        assert_eq!(r.json()["details"], "The result contains 2 rows");
        assert_eq!(
            json_get(&s, "/rest/v1/topics?select=id&name=eq.both"),
            json!([])
        );
        let r = s.request(
            "PATCH",
            "/rest/v1/topics?id=eq.1&select=id",
            &[rep, ("accept", "application/vnd.pgrst.object+json")],
            Some(r#"{"name": "one"}"#),
        );
        assert_eq!((r.status, r.json()), (200, json!({"id": 1})), "{}", r.body);
        // A write's representation with an ordered, filtered embed.
        let r = s.request(
            "PATCH",
            "/rest/v1/authors?id=in.(1,2)&select=id,books!books_author_id_fkey(id)&books.id=gt.1&order=id.desc",
            &[rep],
            Some(r#"{"mood": "happy"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (
                200,
                json!([{"id": 2, "books": [{"id": 2}]}, {"id": 1, "books": [{"id": 3}]}])
            ),
            "{}",
            r.body
        );
        // A column the table does not have: PGRST204, as PostgREST words it.
        let r = s.request(
            "POST",
            "/rest/v1/topics",
            &[],
            Some(r#"{"id": 50, "colour": "red"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST204")),
            "{}",
            r.body
        );
        assert_eq!(
            r.json()["message"],
            "Could not find the 'colour' column of 'topics' in the schema cache"
        );
        // Form and CSV bodies, as PostgREST reads them.
        let form = s.request(
            "POST",
            "/rest/v1/topics",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("id=5&name=form+post"),
        );
        assert_eq!(form.status, 201, "{}", form.body);
        let csv = s.request(
            "POST",
            "/rest/v1/topics?select=id,name",
            &[rep, ("content-type", "text/csv"), ("accept", "text/csv")],
            Some("id,name\n6,\"csv, quoted\"\n"),
        );
        assert_eq!(
            (csv.status, csv.body.as_str()),
            (201, "id,name\n6,\"csv, quoted\""),
            "{}",
            csv.body
        );
        assert_eq!(
            json_get(&s, "/rest/v1/topics?select=name&id=in.(5,6)&order=id"),
            json!([{"name": "form post"}, {"name": "csv, quoted"}])
        );
        // An upsert that only updated answers 200; one that inserted, 201.
        let merge = (
            "prefer",
            "return=representation,resolution=merge-duplicates",
        );
        let r = s.request(
            "POST",
            "/rest/v1/topics?select=id",
            &[merge],
            Some(r#"[{"id": 1, "name": "magic!"}]"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 1}])),
            "{}",
            r.body
        );
        let r = s.request(
            "POST",
            "/rest/v1/topics?select=id",
            &[merge],
            Some(r#"[{"id": 1, "name": "magic"}, {"id": 40, "name": "new"}]"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.request(
            "PUT",
            "/rest/v1/topics?id=eq.41&select=id",
            &[rep],
            Some(r#"{"id": 41, "name": "put"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"id": 41}])),
            "{}",
            r.body
        );
        let r = s.request(
            "PUT",
            "/rest/v1/topics?id=eq.41&select=name",
            &[rep],
            Some(r#"{"id": 41, "name": "put again"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"name": "put again"}])),
            "{}",
            r.body
        );
        // The same on a partitioned table (whose rows' xmax cannot tell).
        let put = |day: &str, v: i32| {
            s.request(
                "PUT",
                &format!("/rest/v1/readings?site=eq.a&day=eq.{day}&select=v"),
                &[rep],
                Some(&format!(r#"{{"site": "a", "day": "{day}", "v": {v}}}"#)),
            )
        };
        let r = put("2024-01-01", 1);
        assert_eq!((r.status, r.json()), (201, json!([{"v": 1}])), "{}", r.body);
        let r = put("2024-01-01", 2);
        assert_eq!((r.status, r.json()), (200, json!([{"v": 2}])), "{}", r.body);
        for (prefer, body, status) in [
            (
                "return=minimal,resolution=merge-duplicates",
                r#"[{"site": "a", "day": "2024-01-01", "v": 3}, {"site": "b", "day": "2024-01-01", "v": 4}]"#,
                201,
            ),
            (
                "return=minimal,resolution=merge-duplicates",
                r#"[{"site": "a", "day": "2024-01-01", "v": 5}, {"site": "b", "day": "2024-01-01", "v": 6}]"#,
                200,
            ),
            (
                "return=minimal,resolution=merge-duplicates,missing=default",
                r#"[{"site": "b", "day": "2024-01-01"}, {"site": "b", "day": "2024-01-02", "v": 7}]"#,
                201,
            ),
            (
                "return=minimal,resolution=merge-duplicates,missing=default",
                r#"[{"site": "b", "day": "2024-01-02", "v": 8}]"#,
                200,
            ),
        ] {
            let r = s.request(
                "POST",
                "/rest/v1/readings?columns=site,day,v",
                &[("prefer", prefer)],
                Some(body),
            );
            assert_eq!(r.status, status, "{prefer} {body}: {}", r.body);
        }
        assert_eq!(
            json_get(&s, "/rest/v1/readings?select=site,v&order=site,day"),
            json!([{"site": "a", "v": 5}, {"site": "b", "v": 0}, {"site": "b", "v": 8}])
        );
        // PATCH and PUT take a JSON array too (PATCH applies its first object).
        let r = s.request(
            "PATCH",
            "/rest/v1/topics?id=eq.2&select=id,name",
            &[rep],
            Some(r#"[{"name": "policy"}, {"name": "ignored"}]"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 2, "name": "policy"}])),
            "{}",
            r.body
        );
        let r = s.request("PATCH", "/rest/v1/topics?id=eq.2", &[], Some("[]"));
        assert_eq!(r.status, 204, "{}", r.body);
        let r = s.request(
            "PUT",
            "/rest/v1/topics?id=eq.7&select=id,name",
            &[rep],
            Some(r#"[{"id": 7, "name": "seven"}]"#),
        );
        assert_eq!(
            (r.status / 100, r.json()),
            (2, json!([{"id": 7, "name": "seven"}])),
            "{}",
            r.body
        );
        let r = s.request(
            "PUT",
            "/rest/v1/topics?id=eq.8",
            &[],
            Some(r#"[{"id": 9, "name": "x"}]"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST115"))
        );
        // merge-duplicates on the primary key
        let r = s.request(
            "POST",
            "/rest/v1/authors?select=id,name",
            &[(
                "prefer",
                "return=representation,resolution=merge-duplicates",
            )],
            Some(r#"[{"id": 1, "name": "Ursula K."}, {"id": 9, "name": "New"}]"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.json(),
            json!([{"id": 1, "name": "Ursula K."}, {"id": 9, "name": "New"}])
        );
        assert!(r
            .header("preference-applied")
            .unwrap()
            .contains("resolution=merge-duplicates"));
        // ignore-duplicates keeps the existing row
        let r = s.request(
            "POST",
            "/rest/v1/authors?on_conflict=id",
            &[("prefer", "resolution=ignore-duplicates")],
            Some(r#"{"id": 2, "name": "Ignored"}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=name&id=eq.2"),
            json!([{"name": "Terry"}])
        );
        // a plain duplicate is a 409
        let r = s.request(
            "POST",
            "/rest/v1/authors",
            &[],
            Some(r#"{"id": 2, "name": "Dup"}"#),
        );
        assert_eq!((r.status, r.json()["code"].clone()), (409, json!("23505")));
        // PUT replaces one row by primary key
        let r = s.request(
            "PUT",
            "/rest/v1/authors?id=eq.3",
            &[rep],
            Some(r#"{"id": 3, "name": "Somebody", "mood": "happy"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"id": 3, "name": "Somebody", "mood": "happy"}]))
        );
        let r = s.request(
            "PUT",
            "/rest/v1/authors?id=eq.3",
            &[],
            Some(r#"{"id": 4, "name": "x"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST115"))
        );
        let r = s.request(
            "PUT",
            "/rest/v1/authors?name=eq.x",
            &[],
            Some(r#"{"id": 4, "name": "x"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (405, json!("PGRST105"))
        );
        // PATCH and DELETE with filters, representation and minimal
        let r = s.request(
            "PATCH",
            "/rest/v1/books?author_id=eq.1&select=id,tags",
            &[rep],
            Some(r#"{"tags": ["x"]}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (
                200,
                json!([{"id": 1, "tags": ["x"]}, {"id": 3, "tags": ["x"]}])
            )
        );
        let r = s.request("DELETE", "/rest/v1/book_topics?book_id=eq.3", &[], None);
        assert_eq!((r.status, r.body.as_str()), (204, ""));
        // a foreign key violation is a 409
        let r = s.request("DELETE", "/rest/v1/books?id=eq.1", &[], None);
        assert_eq!((r.status, r.json()["code"].clone()), (409, json!("23503")));
        // writes with embedded resources in the returned representation
        let r = s.request(
            "POST",
            "/rest/v1/books?select=title,author:authors!books_author_id_fkey(name)",
            &[rep],
            Some(r#"{"id": 7, "title": "New Book", "author_id": 2}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (
                201,
                json!([{"title": "New Book", "author": {"name": "Terry"}}])
            )
        );
    });
}

#[test]
fn notify_pgrst_reloads_the_schema_cache() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_a.sql",
            "create table a (id int primary key);
             insert into a values (1);
             create function make_b() returns void language plpgsql security definer as $$
             begin
               create table b (id int primary key, a_id int references a(id));
               insert into b values (10, 1);
               grant all on b to anon;
               notify pgrst, 'reload schema';
             end $$;",
        );
        let s = p.serve();
        let r = s.get("/rest/v1/a?select=id,b(id)", &[]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST200"))
        );
        assert_eq!(
            s.request("POST", "/rest/v1/rpc/make_b", &[], Some("{}"))
                .status,
            204
        );
        // PostgreSQL delivers the notification on the listener connection,
        // asynchronously: allow it a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let r = s.get("/rest/v1/a?select=id,b(id)", &[]);
            if r.status == 200 {
                assert_eq!(r.json(), json!([{"id": 1, "b": [{"id": 10}]}]));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "schema cache was not reloaded: {}",
                r.body
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
}

#[test]
fn openapi_csv_location_tx_and_strict_handling() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        p.config("db-tx-end = \"commit-allow-override\"\n");
        let s = p.serve();
        // OpenAPI description at the root
        let r = s.get("/rest/v1/", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/openapi+json"));
        let doc = r.json();
        assert_eq!(doc["swagger"], "2.0");
        assert!(doc["paths"]["/books"]["get"].is_object());
        assert!(doc["paths"]["/rpc/add"]["post"].is_object());
        assert_eq!(
            doc["definitions"]["authors"]["properties"]["id"]["type"],
            "integer"
        );
        assert_eq!(
            doc["definitions"]["books"]["properties"]["tags"]["type"],
            "array"
        );
        assert!(doc["definitions"]["authors"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("name")));

        // nulls=stripped
        let r = s.get(
            "/rest/v1/authors?select=id,name,mood&id=eq.3",
            &[("accept", "application/vnd.pgrst.object+json;nulls=stripped")],
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"id": 3, "name": "Nobody"}))
        );
        let r = s.get(
            "/rest/v1/authors?select=id,mood&id=eq.3",
            &[("accept", "application/vnd.pgrst.array+json;nulls=stripped")],
        );
        assert_eq!(r.json(), json!([{"id": 3}]));

        // CSV
        let r = s.get(
            "/rest/v1/authors?select=id,name&order=id&limit=2",
            &[("accept", "text/csv")],
        );
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some("text/csv; charset=utf-8"))
        );
        assert_eq!(r.body, "id,name\n1,Ursula\n2,Terry");

        // Location for return=headers-only
        let r = s.request(
            "POST",
            "/rest/v1/authors",
            &[("prefer", "return=headers-only")],
            Some(r#"{"id": 42, "name": "Ann"}"#),
        );
        assert_eq!(
            (r.status, r.header("location")),
            (201, Some("/authors?id=eq.42"))
        );
        // ... whatever `select` names.
        let r = s.request(
            "POST",
            "/rest/v1/authors?select=name",
            &[("prefer", "return=headers-only")],
            Some(r#"{"id": 49, "name": "Bea"}"#),
        );
        assert_eq!(r.header("location"), Some("/authors?id=eq.49"));

        // Prefer: tx=rollback answers as if committed, then rolls back.
        let r = s.request(
            "POST",
            "/rest/v1/authors?select=name",
            &[("prefer", "return=representation,tx=rollback")],
            Some(r#"{"id": 43, "name": "Ghost"}"#),
        );
        assert_eq!((r.status, r.json()), (201, json!([{"name": "Ghost"}])));
        assert!(r
            .header("preference-applied")
            .unwrap()
            .contains("tx=rollback"));
        assert_eq!(json_get(&s, "/rest/v1/authors?id=eq.43"), json!([]));
        // An error inside a rolled-back transaction leaves the connection usable.
        let r = s.request(
            "POST",
            "/rest/v1/authors",
            &[("prefer", "tx=rollback")],
            Some(r#"{"id": 1, "name": "dup"}"#),
        );
        assert_eq!(r.status, 409);
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=id&id=eq.1"),
            json!([{"id": 1}])
        );

        // handling=strict with max-affected
        let r = s.request(
            "PATCH",
            "/rest/v1/books",
            &[("prefer", "handling=strict, max-affected=1")],
            Some(r#"{"title": "Same"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST124"))
        );
        assert_eq!(r.json()["details"], "The query affects 3 rows");
        assert_eq!(
            json_get(&s, "/rest/v1/books?select=id&title=eq.Same"),
            json!([]),
            "nothing was updated"
        );
        let r = s.request(
            "PATCH",
            "/rest/v1/books?id=eq.1",
            &[("prefer", "handling=strict, max-affected=1")],
            Some(r#"{"title": "One"}"#),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let r = s.request(
            "PATCH",
            "/rest/v1/books?id=eq.1",
            &[("prefer", "handling=strict, bogus=1")],
            Some(r#"{"title": "One"}"#),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST122"))
        );
    });
}

#[test]
fn missing_default_and_single_object_params() {
    on_each_db(|p| {
        p.migration("20240101000000_books.sql", SCHEMA);
        let s = p.serve();
        let r = s.request(
            "POST",
            "/rest/v1/books?columns=id,title,tags&select=id,tags",
            &[("prefer", "return=representation,missing=default")],
            Some(r#"[{"id": 20, "title": "a"}, {"id": 21, "title": "b", "tags": ["x"]}]"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (
                201,
                json!([{"id": 20, "tags": []}, {"id": 21, "tags": ["x"]}])
            ),
            "{}",
            r.body
        );
        // Without missing=default the missing key is NULL, and tags is NOT NULL.
        let r = s.request(
            "POST",
            "/rest/v1/books?columns=id,title,tags",
            &[],
            Some(r#"[{"id": 22, "title": "c"}]"#),
        );
        assert_eq!((r.status, r.json()["code"].clone()), (400, json!("23502")));
        // params=single-object: the body is the one json argument, named or not.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/echo",
            &[("prefer", "params=single-object")],
            Some(r#"{"a": [1, 2]}"#),
        );
        assert_eq!((r.status, r.json()), (200, json!({"a": [1, 2]})));
    });
}

#[test]
fn views_take_part_in_relationships() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_books.sql",
            &format!(
                "{SCHEMA}
create view book_list as select id, title, author_id from books;
create view writers as select id, name from authors;
-- renamed key columns, a view of a view, and a view over a private table
create view shelf as select id as book, title as label, author_id as writer from books;
create view top_shelf as select book, label, writer as by_whom from shelf where book < 3;
create schema private;
create table private.reviews (id int primary key, book_id int references books(id), stars int);
insert into private.reviews values (1, 1, 5), (2, 1, 4), (3, 2, 3);
create view reviews as select id, book_id as reviewed, stars from private.reviews;
grant select on reviews to anon, authenticated, service_role;
grant usage on schema private to anon, authenticated, service_role;
grant select on private.reviews to anon, authenticated, service_role;"
            ),
        );
        let s = p.serve();
        // view → table (the view exposes the FK column)
        assert_eq!(
            json_get(&s, "/rest/v1/book_list?select=title,authors(name)&id=eq.2"),
            json!([{"title": "Discworld", "authors": {"name": "Terry"}}])
        );
        // table → view, and view → view
        assert_eq!(
            json_get(&s, "/rest/v1/writers?select=name,book_list(title)&id=eq.2"),
            json!([{"name": "Terry", "book_list": [{"title": "Discworld"}]}])
        );
        // A renamed FK column, two views deep, still leads to its table,
        // and can name the embed.
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/top_shelf?select=label,by_whom(name)&order=book"
            ),
            json!([{"label": "Earthsea", "by_whom": {"name": "Ursula"}}, {"label": "Discworld", "by_whom": {"name": "Terry"}}])
        );
        // A view over a table in a schema the API does not expose relates
        // to the exposed views of the tables its key references.
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/shelf?select=label,reviews(stars)&book=eq.1&reviews.order=stars"
            ),
            json!([{"label": "Earthsea", "reviews": [{"stars": 4}, {"stars": 5}]}])
        );
        // The view's primary key comes from its table's: Location on insert.
        let r = s.request(
            "POST",
            "/rest/v1/shelf",
            &[("prefer", "return=headers-only")],
            Some(r#"{"book": 9, "label": "New"}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.header("location"), Some("/shelf?book=eq.9"));
        // No relationship: PGRST200, with the closest name as a hint.
        let r = s.get("/rest/v1/shelf?select=label,reveiws(stars)", &[]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST200"))
        );
        assert_eq!(
            r.json()["hint"],
            "Perhaps you meant 'reviews' instead of 'reveiws'."
        );
    });
}

#[test]
fn computed_relationships_and_to_many_spreads() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_books.sql",
            &format!(
                "{SCHEMA}
create function first_book(authors) returns setof books rows 1 language sql stable as $$
  select * from books where author_id = $1.id order by id limit 1 $$;
create function edited(authors) returns setof books language sql stable as $$
  select * from books where editor_id = $1.id order by id $$;"
            ),
        );
        let s = p.serve();
        // A function of a row returning rows embeds like a relationship:
        // `rows 1` makes it to-one.
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/authors?select=name,first:first_book(title),edited(id)&order=id"
            ),
            json!([
                {"name": "Ursula", "first": {"title": "Earthsea"}, "edited": [{"id": 2}]},
                {"name": "Terry", "first": {"title": "Discworld"}, "edited": [{"id": 1}]},
                {"name": "Nobody", "first": null, "edited": []}
            ])
        );
        // … also from an RPC's rows, and filtered with !inner.
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/authors?select=name,edited!inner(title)&edited.title=eq.Earthsea"
            ),
            json!([{"name": "Terry", "edited": [{"title": "Earthsea"}]}])
        );
        // A to-many spread: each column becomes an array on the parent.
        assert_eq!(
            json_get(&s, "/rest/v1/authors?select=name,...books!books_author_id_fkey(titles:title,id)&books.order=id.desc&order=id"),
            json!([
                {"name": "Ursula", "titles": ["Dispossessed", "Earthsea"], "id": [3, 1]},
                {"name": "Terry", "titles": ["Discworld"], "id": [2]},
                {"name": "Nobody", "titles": [], "id": []}
            ])
        );
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/authors?select=name,...books!books_author_id_fkey(title)&books=is.null"
            ),
            json!([{"name": "Nobody", "title": []}])
        );
        // Ordering by a to-many embed is refused as PostgREST does.
        let r = s.get(
            "/rest/v1/authors?select=name,bs:books!books_author_id_fkey(id)&order=bs(id)",
            &[],
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("PGRST118"))
        );
        assert_eq!(
            r.json()["details"],
            "'authors' and 'bs' do not form a many-to-one or one-to-one relationship"
        );
    });
}

#[test]
fn requests_run_with_the_schema_on_the_search_path() {
    on_each_db(|p| {
        // Functions, triggers and views that name tables without a schema,
        // as PostgREST lets them: the request's schema comes first on the
        // search_path, then `db-extra-search-path` (here `util`).
        p.migration(
            "20240101000000_paths.sql",
            r#"
set check_function_bodies = off;
create schema app;
create schema v2;
create schema util;
create function util.shout(t text) returns text language sql immutable as $$ select upper(t) $$;
create table app.counters (id int primary key, n int not null default 0);
create sequence app.tickets;
insert into app.counters values (1, 0);
create function app.bump(which int) returns int language sql as $$
  update counters set n = n + 1 where id = which returning n $$;
create function app.next_ticket() returns bigint language sql as $$ select nextval('tickets') $$;
create function app.loud(t text) returns text language sql as $$ select shout(t) $$;
create table v2.counters (id int primary key, n int not null default 100);
insert into v2.counters values (1, 100);
create function v2.bump(which int) returns int language sql as $$
  update counters set n = n + 10 where id = which returning n $$;
grant usage on schema app, v2, util to anon;
grant all on all tables in schema app, v2 to anon;
grant all on all sequences in schema app to anon;
grant execute on all functions in schema app, v2, util to anon;
"#,
        );
        p.config("db-schemas = \"app, v2\"\ndb-extra-search-path = \"util, public\"\n");
        let s = p.serve();
        let key = token(json!({"role": "anon", "exp": now() + 3600}));
        let h = [("apikey", key.as_str())];
        let post = |path: &str, body: &str, extra: &[(&str, &str)]| {
            let mut headers = h.to_vec();
            headers.extend_from_slice(extra);
            s.request("POST", path, &headers, Some(body))
        };
        let r = post("/rest/v1/rpc/bump", r#"{"which": 1}"#, &[]);
        assert_eq!((r.status, r.body.as_str()), (200, "1"), "{}", r.body);
        let r = post("/rest/v1/rpc/next_ticket", "{}", &[]);
        assert_eq!((r.status, r.body.as_str()), (200, "1"), "{}", r.body);
        let r = post("/rest/v1/rpc/loud", r#"{"t": "hi"}"#, &[]);
        assert_eq!((r.status, r.body.as_str()), (200, "\"HI\""), "{}", r.body);
        // Another profile: its own schema's tables, not the default one's.
        let r = post(
            "/rest/v1/rpc/bump",
            r#"{"which": 1}"#,
            &[("content-profile", "v2")],
        );
        assert_eq!((r.status, r.body.as_str()), (200, "110"), "{}", r.body);
        let r = s.get("/rest/v1/counters?select=n", &h);
        assert_eq!(r.json(), json!([{"n": 1}]));
    });
}

#[test]
fn data_representations_shape_input_output_and_filters() {
    on_each_db(|p| {
        // Cents stored as an integer domain, shown and accepted as "12.34".
        p.migration(
            "20240101000000_prices.sql",
            r#"
create domain cents as int;
create function cents_json(cents) returns json language sql immutable as
  $$ select to_json(to_char($1 / 100.0, 'FM999999990.00')) $$;
create function json_cents(json) returns cents language sql immutable as
  $$ select (round(($1 #>> '{}')::numeric * 100))::int::cents $$;
create function text_cents(text) returns cents language sql immutable as
  $$ select (round($1::numeric * 100))::int::cents $$;
create cast (cents as json) with function cents_json(cents) as implicit;
create cast (json as cents) with function json_cents(json) as implicit;
create cast (text as cents) with function text_cents(text) as implicit;
create table items (id int primary key, name text, price cents);
create table orders (id int primary key, item_id int references items(id));
insert into items values (1, 'pen', 150), (2, 'ink', 1299);
insert into orders values (1, 2);
create domain email as text;
create function text_email(text) returns email language sql immutable as $$ select lower($1)::email $$;
create cast (text as email) with function text_email(text) as implicit;
create table people (id int primary key, mail email);
insert into people values (1, 'ann@x.org');
"#,
        );
        let s = p.serve();
        // A filter value goes through the representation; a like pattern
        // does not (as PostgREST: it is a pattern, not a value).
        assert_eq!(
            json_get(&s, "/rest/v1/people?select=id&mail=eq.Ann@X.org"),
            json!([{"id": 1}])
        );
        assert_eq!(
            json_get(&s, "/rest/v1/people?select=id&mail=like.*@X.org"),
            json!([])
        );
        assert_eq!(
            json_get(&s, "/rest/v1/people?select=id&mail=ilike.*@X.ORG"),
            json!([{"id": 1}])
        );
        // Output, with `*` and in an embed.
        assert_eq!(
            json_get(&s, "/rest/v1/items?order=id"),
            json!([{"id": 1, "name": "pen", "price": "1.50"}, {"id": 2, "name": "ink", "price": "12.99"}])
        );
        assert_eq!(
            json_get(&s, "/rest/v1/orders?select=id,items(price)"),
            json!([{"id": 1, "items": {"price": "12.99"}}])
        );
        // Filters take the shown form.
        assert_eq!(
            json_get(&s, "/rest/v1/items?select=id&price=eq.12.99"),
            json!([{"id": 2}])
        );
        assert_eq!(
            json_get(
                &s,
                "/rest/v1/items?select=id&price=in.(1.50,12.99)&order=id"
            ),
            json!([{"id": 1}, {"id": 2}])
        );
        // Writes take it too, and answer with it.
        let r = s.request(
            "POST",
            "/rest/v1/items?select=id,price",
            &[("prefer", "return=representation")],
            Some(r#"{"id": 3, "name": "pad", "price": "3.05"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"id": 3, "price": "3.05"}])),
            "{}",
            r.body
        );
        let r = s.request(
            "PATCH",
            "/rest/v1/items?id=eq.1&select=price",
            &[("prefer", "return=representation")],
            Some(r#"{"price": "2"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!([{"price": "2.00"}])),
            "{}",
            r.body
        );
        // Stored as cents: a cast applies to the shown (json) form, as in PostgREST.
        assert_eq!(
            json_get(&s, "/rest/v1/items?select=id,price::text&price=eq.3.05"),
            json!([{"id": 3, "price": "\"3.05\""}])
        );
    });
}

#[test]
fn media_type_handlers_and_raw_bodies() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_media.sql",
            r#"
create domain "text/tab-separated-values" as text;
create domain "text/plain" as text;
create domain "application/octet-stream" as bytea;
create table notes (id int primary key, body text);
insert into notes values (1, 'one'), (2, 'two');
create function notes_tsv_step(state "text/tab-separated-values", next notes)
  returns "text/tab-separated-values" language sql as
  $$ select (state || next.id || E'\t' || next.body || E'\n')::"text/tab-separated-values" $$;
create aggregate notes_tsv(notes) (stype = "text/tab-separated-values", sfunc = notes_tsv_step, initcond = '');
create function shout(text) returns "text/plain" language sql as $$ select upper($1)::"text/plain" $$;
create function bytes(bytea) returns "application/octet-stream" language sql as
  $$ select ($1 || '\x21'::bytea)::"application/octet-stream" $$;
"#,
        );
        let s = p.serve();
        // A table's aggregate answers its media type.
        let r = s.get(
            "/rest/v1/notes?order=id",
            &[("accept", "text/tab-separated-values")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("text/tab-separated-values"));
        assert_eq!(r.body, "1\tone\n2\ttwo\n");
        // JSON stays the default; an unknown type is still 406.
        assert_eq!(
            json_get(&s, "/rest/v1/notes?select=id&order=id"),
            json!([{"id": 1}, {"id": 2}])
        );
        let r = s.get("/rest/v1/notes", &[("accept", "image/png")]);
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (406, json!("PGRST107"))
        );
        // A text body to a single unnamed text parameter; the function's
        // media type domain is answered as it is.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/shout",
            &[("content-type", "text/plain"), ("accept", "text/plain")],
            Some("hello"),
        );
        assert_eq!((r.status, r.body.as_str()), (200, "HELLO"), "{}", r.body);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        // Binary in, binary out.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/bytes",
            &[
                ("content-type", "application/octet-stream"),
                ("accept", "application/octet-stream"),
            ],
            Some("ab"),
        );
        assert_eq!((r.status, r.body.as_str()), (200, "ab!"), "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        // No function takes an XML body: PostgREST's PGRST202.
        let r = s.request(
            "POST",
            "/rest/v1/rpc/shout",
            &[("content-type", "text/xml")],
            Some("<a/>"),
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (404, json!("PGRST202"))
        );
        assert_eq!(
            r.json()["details"],
            "Searched for the function public.shout with a single unnamed xml parameter, but no matches were found in the schema cache."
        );
    });
}
