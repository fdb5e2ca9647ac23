//! The stages together: requests in, statements and answers out.

use super::*;
use schema::{rels, SchemaCache};
use std::rc::Rc;

fn plan_nc(cfg: &Config, req: &Request) -> Result<Plan, ApiError> {
    plan(cfg, req, &mut || {
        Err(ApiError::new(500, "TEST", "no schema cache in this test"))
    })
}

fn fixture() -> Rc<SchemaCache> {
    let t = |name: &str, cols: &[&str], pk: &[&str]| schema::Table {
        schema: "public".into(),
        name: name.into(),
        kind: "r".into(),
        columns: cols
            .iter()
            .map(|c| schema::Column {
                name: c.to_string(),
                ty: "text".into(),
                base: None,
                nullable: true,
                has_default: false,
            })
            .collect(),
        pk: pk.iter().map(|c| c.to_string()).collect(),
        uniques: vec![],
    };
    let fk = |name: &str, table: &str, col: &str, ftable: &str| {
        let oid = |t: &str| t.len() as i64 * 1000 + t.bytes().map(i64::from).sum::<i64>();
        schema::Key {
            name: name.into(),
            kind: "f".into(),
            rel: oid(table),
            schema: "public".into(),
            table: table.into(),
            columns: vec![(1, col.into())],
            frel: Some(oid(ftable)),
            fschema: Some("public".into()),
            ftable: Some(ftable.into()),
            fcolumns: Some(vec![(1, "id".into())]),
            one_to_one: false,
        }
    };
    let tables = vec![
        t("authors", &["id", "name"], &["id"]),
        t("books", &["id", "title", "author_id", "editor_id"], &["id"]),
        t("tags", &["id", "name"], &["id"]),
        t("book_tags", &["book_id", "tag_id"], &["book_id", "tag_id"]),
    ];
    let keys = vec![
        fk("books_author_id_fkey", "books", "author_id", "authors"),
        fk("books_editor_id_fkey", "books", "editor_id", "authors"),
        fk("book_tags_book_id_fkey", "book_tags", "book_id", "books"),
        fk("book_tags_tag_id_fkey", "book_tags", "tag_id", "tags"),
    ];
    let (rels, rel_origins) = rels::build(&tables, &keys, &[], &[]);
    Rc::new(SchemaCache {
        tables,
        keys,
        functions: vec![],
        views: vec![],
        reps: vec![],
        handlers: vec![],
        rels: rels::by_origin(rels),
        rel_origins,
    })
}

fn plan_with(query: &str) -> Result<Plan, ApiError> {
    let cache = fixture();
    plan(
        &Config::default(),
        &req("GET", "/books", query, &[], b""),
        &mut || Ok(cache.clone()),
    )
}

#[test]
fn search_path_for_another_profile() {
    let cfg = Config {
        schemas: vec!["app".into(), "v\"2".into()],
        extra_search_path: vec!["util".into(), "app".into()],
        ..Config::default()
    };
    let default = plan_nc(&cfg, &req("GET", "/t", "", &[], b"")).unwrap();
    assert!(
        default.query.search_path.is_none(),
        "the host sets the default schema's"
    );
    let h = vec![("accept-profile".to_string(), "v\"2".to_string())];
    let other = plan_nc(&cfg, &req("GET", "/t", "", &h, b"")).unwrap();
    let st = other.query.search_path.unwrap();
    assert_eq!(st.sql, "select set_config('search_path', $1, true)");
    assert_eq!(
        st.params,
        vec![Some("\"v\"\"2\", \"util\", \"app\"".to_string())]
    );
    assert_eq!(
        search_path("app", &["util".into(), "app".into()]),
        "\"app\", \"util\""
    );
}

#[test]
fn oversized_query_strings_are_refused() {
    let ids = vec!["12345678"; 4000].join(",");
    let e = plan_with(&format!("id=in.({ids})")).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "PGRST100"));
    assert!(plan_with(&format!("id=in.({})", vec!["1"; 1000].join(","))).is_ok());
}

#[test]
fn embedding_resolves_relationships() {
    // Two FKs to authors: ambiguous without a hint.
    let e = plan_with("select=title,authors(name)").unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (300, "PGRST201"));
    assert_eq!(e.details.as_ref().unwrap().as_array().unwrap().len(), 2);
    let p = plan_with("select=title,author:authors!books_author_id_fkey(name)").unwrap();
    assert!(
        p.query.statement.sql.contains("row_to_json"),
        "{}",
        p.query.statement.sql
    );
    // The FK column works as the embed name too.
    assert!(plan_with("select=title,author_id(name)").is_ok());
    // Many-to-many through book_tags, with a filter on the embedded rows.
    let p = plan_with("select=title,tags(name)&tags.name=eq.rust").unwrap();
    assert!(
        p.query
            .statement
            .sql
            .contains(r#"INNER JOIN "public"."book_tags""#),
        "{}",
        p.query.statement.sql
    );
    assert!(p.query.statement.sql.contains("json_agg"));
    let e = plan_with("select=title,nope(*)").unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "PGRST200"));
    let e = plan_with("select=title&tags.name=eq.x").unwrap_err();
    assert_eq!(e.code, "PGRST108");
    // A to-many spread: each column an array on the parent row.
    let p = plan_with("select=title,...tags(tag:name)").unwrap();
    assert!(
        p.query
            .statement
            .sql
            .contains(r#"COALESCE(jsonb_agg("books_tags_1"."tag"), '[]'::jsonb) AS "tag""#),
        "{}",
        p.query.statement.sql
    );
}

/// The result sets of a plan with only its main statement: one row of
/// count, page total and body.
fn main_row(total: Option<&str>, page_total: Option<&str>, body: Option<&str>) -> Vec<ResultSet> {
    let row = [total, page_total, body, None, None, None];
    vec![ResultSet {
        rows: vec![row.iter().map(|v| v.map(str::to_string)).collect()],
    }]
}

fn req<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(String, String)],
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        path,
        query,
        headers,
        body,
    }
}

#[test]
fn get_with_select_and_filter_binds_values() {
    let p = plan_nc(
        &Config::default(),
        &req("GET", "/todos", "select=id,title&done=eq.false", &[], b""),
    )
    .unwrap();
    let sql = &p.query.statement.sql;
    assert!(sql.contains(r#"SELECT "todos"."id", "todos"."title" FROM "public"."todos" AS "todos" WHERE ("todos"."done" = $1)"#), "{sql}");
    assert_eq!(p.query.statement.params, vec![Some("false".to_string())]);
    assert!(p.read_only);
}

#[test]
fn identifiers_are_quoted_values_never_inlined() {
    let p = plan_nc(
        &Config::default(),
        &req(
            "GET",
            "/t%22x",
            "select=%22a%5C%22b%22&c=eq.';drop table x;--",
            &[],
            b"",
        ),
    )
    .unwrap();
    assert!(p.query.statement.sql.contains(r#""t""x""#));
    assert!(p.query.statement.sql.contains(r#""a""b""#));
    assert!(!p.query.statement.sql.contains("drop table"));
    assert_eq!(
        p.query.statement.params[0].as_deref(),
        Some("';drop table x;--")
    );
}

#[test]
fn plus_decodes_to_space_like_supabase_js() {
    let p = plan_nc(
        &Config::default(),
        &req("GET", "/t", "title=eq.hello+world", &[], b""),
    )
    .unwrap();
    assert_eq!(p.query.statement.params[0].as_deref(), Some("hello world"));
}

#[test]
fn insert_object_and_array() {
    let p = plan_nc(
        &Config::default(),
        &req("POST", "/todos", "", &[], br#"{"title":"a","done":false}"#),
    )
    .unwrap();
    assert!(
        p.query
            .statement
            .sql
            .contains(r#"INSERT INTO "public"."todos"("title", "done")"#)
            || p.query
                .statement
                .sql
                .contains(r#"INSERT INTO "public"."todos"("done", "title")"#)
    );
    assert!(p.query.statement.params[0]
        .as_deref()
        .unwrap()
        .starts_with('['));
    let e = plan_nc(
        &Config::default(),
        &req("POST", "/todos", "", &[], br#"[{"a":1},{"b":2}]"#),
    )
    .unwrap_err();
    assert_eq!(e.code, "PGRST102");
    let e = plan_nc(&Config::default(), &req("POST", "/todos", "", &[], b"nope")).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "PGRST102"));
}

#[test]
fn responses() {
    let p = plan_nc(&Config::default(), &req("GET", "/todos", "", &[], b"")).unwrap();
    let r = p.respond(&main_row(None, Some("2"), Some("[{},{}]")));
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .contains(&("content-range".into(), "0-1/*".into())));
    let h = vec![("prefer".to_string(), "return=representation".to_string())];
    let p = plan_nc(&Config::default(), &req("POST", "/todos", "", &h, b"{}")).unwrap();
    let r = p.respond(&main_row(None, Some("1"), Some("[{\"id\":1}]")));
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"[{\"id\":1}]");
    let p = plan_nc(&Config::default(), &req("POST", "/todos", "", &[], b"{}")).unwrap();
    let r = p.respond(&main_row(None, Some("1"), Some("")));
    assert_eq!((r.status, r.body.len()), (201, 0));
}

/// One header of the answer to `method /todos?query` with `Prefer: prefer`,
/// when the statement reports `rows` rows.
fn answer_header(
    cfg: &Config,
    method: &str,
    query: &str,
    prefer: &str,
    rows: &str,
    name: &str,
) -> Option<String> {
    let h = if prefer.is_empty() {
        vec![]
    } else {
        vec![("prefer".to_string(), prefer.to_string())]
    };
    let body: &[u8] = if method == "POST" {
        b"[{\"a\":1},{\"a\":2}]"
    } else {
        b"{\"a\":3}"
    };
    let p = plan_nc(cfg, &req(method, "/todos", query, &h, body)).unwrap();
    let r = p.respond(&main_row(None, Some(rows), Some("[]")));
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[test]
fn preference_applied_lists_only_what_was_asked() {
    let applied = |method: &str, prefer: &str, cfg: &Config| {
        answer_header(cfg, method, "", prefer, "1", "preference-applied")
    };
    let cfg = Config::default();
    // Nothing asked, nothing echoed (return=minimal is only the default).
    assert_eq!(applied("POST", "", &cfg), None);
    assert_eq!(applied("GET", "", &cfg), None);
    // The first of repeated preferences wins; PostgREST's order.
    assert_eq!(
        applied(
            "POST",
            "handling=lenient, return=representation, return=minimal, missing=null",
            &cfg
        )
        .as_deref(),
        Some("missing=null, return=representation, handling=lenient")
    );
    // return= only on writes; count= only on reads (here).
    assert_eq!(applied("GET", "return=minimal", &cfg), None);
    assert_eq!(
        applied("GET", "count=exact, return=minimal", &cfg).as_deref(),
        Some("count=exact")
    );
    // tx= only where db-tx-end allows the override.
    assert_eq!(applied("POST", "tx=rollback", &cfg), None);
    let cfg = Config {
        tx_end: TxEnd::parse("commit-allow-override").unwrap(),
        ..Config::default()
    };
    assert_eq!(
        applied("POST", "tx=rollback", &cfg).as_deref(),
        Some("tx=rollback")
    );
    // max-affected with handling=strict, on updates and deletes.
    assert_eq!(
        applied("DELETE", "handling=strict, max-affected=5", &cfg).as_deref(),
        Some("handling=strict, max-affected=5")
    );
}

#[test]
fn write_answers_carry_postgrest_content_range() {
    let range = |method: &str, query: &str, prefer: &str| {
        answer_header(
            &Config::default(),
            method,
            query,
            prefer,
            "2",
            "content-range",
        )
    };
    assert_eq!(range("POST", "", "").as_deref(), Some("*/*"));
    assert_eq!(range("POST", "", "count=exact").as_deref(), Some("*/2"));
    assert_eq!(range("DELETE", "a=eq.1", "").as_deref(), Some("*/*"));
    assert_eq!(range("PATCH", "a=eq.1", "").as_deref(), Some("0-1/*"));
    assert_eq!(
        range("PATCH", "a=eq.1", "count=exact").as_deref(),
        Some("0-1/2")
    );
}

#[test]
fn counts_ranges_and_single_object() {
    let h = vec![
        ("prefer".to_string(), "count=exact".to_string()),
        ("range".to_string(), "0-1".to_string()),
    ];
    let p = plan_nc(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap();
    assert!(p
        .query
        .statement
        .sql
        .contains("LIMIT $1::bigint OFFSET $2::bigint"));
    let r = p.respond(&main_row(Some("5"), Some("2"), Some("[1,2]")));
    assert_eq!(r.status, 206);
    assert!(r
        .headers
        .contains(&("content-range".into(), "0-1/5".into())));
    let h = vec![(
        "accept".to_string(),
        "application/vnd.pgrst.object+json".to_string(),
    )];
    let p = plan_nc(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap();
    let r = p.respond(&main_row(None, Some("2"), Some("[1,2]")));
    assert_eq!(r.status, 406);
    let r = p.respond(&main_row(None, Some("1"), Some("[{\"a\":1}]")));
    assert_eq!(r.body, b"{\"a\":1}");
    let h = vec![("accept".to_string(), "text/html".to_string())];
    assert_eq!(
        plan_nc(&Config::default(), &req("GET", "/todos", "", &h, b""))
            .unwrap_err()
            .code,
        "PGRST107"
    );
}

#[test]
fn schema_profiles() {
    let h = vec![("accept-profile".to_string(), "private".to_string())];
    let e = plan_nc(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (406, "PGRST106"));
}

#[test]
fn bad_query_strings_are_pgrst_errors() {
    for q in [
        "select=a(",
        "id=eqq.1",
        "limit=x",
        "order=a.up",
        "or=(a.eq.1",
        "rel.col=eq.1",
        "select=a,b(c",
        "id=in.(1",
    ] {
        let e = plan_nc(&Config::default(), &req("GET", "/t", q, &[], b"")).unwrap_err();
        assert!(e.code.starts_with("PGRST"), "{q}: {e:?}");
        assert_eq!(e.status / 100, 4, "{q}");
    }
}

#[test]
fn settings_read_the_same_everywhere() {
    for (text, want) in [
        ("true", Some(true)),
        (" YES ", Some(true)),
        ("1", Some(true)),
        ("on", Some(true)),
        ("False", Some(false)),
        ("0", Some(false)),
        ("off", Some(false)),
        ("sure", None),
        ("", None),
    ] {
        assert_eq!(parse_bool(text), want, "{text:?}");
    }
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(
        contract::anon_role(env(&[
            ("SUPALITE_DB_ANON_ROLE", "web"),
            ("SUPALITE_ANON_ROLE", "old")
        ])),
        Some("web".into())
    );
    assert_eq!(
        contract::anon_role(env(&[("SUPALITE_ANON_ROLE", "old")])),
        Some("old".into())
    );
    assert_eq!(
        contract::anon_role(env(&[("SUPALITE_DB_ANON_ROLE", " ")])),
        None
    );
}

#[test]
fn info_plans_answer_without_sql() {
    let cache = fixture();
    let info = |method: &str, path: &str, headers: &[(String, String)]| {
        plan(
            &Config::default(),
            &req(method, path, "", headers, b""),
            &mut || Ok(cache.clone()),
        )
    };
    let p = info("OPTIONS", "/books", &[]).unwrap();
    assert!(p.statements().is_empty());
    let r = p.info_response().unwrap();
    assert_eq!(
        (r.status, r.headers.clone()),
        (
            200,
            vec![(
                "allow".to_string(),
                "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE".to_string()
            )]
        )
    );
    assert_eq!(p.respond(&[]), r);
    let e = info("OPTIONS", "/nope", &[]).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "PGRST205"));
    let e = info("OPTIONS", "/rpc/nope", &[]).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (404, "PGRST202"));
    let r = info("GET", "/", &[]).unwrap().info_response().unwrap();
    assert_eq!(r.headers[0].1, "application/openapi+json; charset=utf-8");
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(doc["paths"]["/books"]["get"].is_object());
    let head = info("HEAD", "/", &[]).unwrap().info_response().unwrap();
    assert_eq!((head.status, head.body.len()), (200, 0));
    let html = vec![("accept".to_string(), "text/html".to_string())];
    let e = info("GET", "/", &html).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (406, "PGRST107"));
    // A plan with statements has no info answer.
    assert!(info("GET", "/books", &[])
        .unwrap()
        .info_response()
        .is_none());
}

#[test]
fn database_errors_name_what_the_schema_cache_lacks() {
    let cache = fixture();
    let db = |code: &'static str| DbError {
        code,
        message: "boom",
        detail: None,
        hint: None,
    };
    let p = plan_nc(
        &Config::default(),
        &req("POST", "/books", "", &[], br#"{"title":"a","nope":1}"#),
    )
    .unwrap();
    let load = &mut || Ok(cache.clone());
    let r = p.error(&db("42703"), false, load);
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("PGRST204"));
    let p = plan_nc(&Config::default(), &req("GET", "/bookz", "", &[], b"")).unwrap();
    let r = p.error(&db("42P01"), false, load);
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("Perhaps you meant the table 'public.books'"));
    // Otherwise the database's own error, as PostgREST maps it.
    let r = p.error(&db("42501"), true, load);
    assert_eq!(r.status, 401);
}

#[test]
fn explain_answers_the_statements_plan() {
    let cfg = Config {
        plan_enabled: true,
        ..Config::default()
    };
    let h = vec![(
        "accept".to_string(),
        "application/vnd.pgrst.plan+json; options=analyze".to_string(),
    )];
    let p = plan_nc(&cfg, &req("GET", "/todos", "", &h, b"")).unwrap();
    assert!(p
        .query
        .statement
        .sql
        .starts_with("EXPLAIN (FORMAT JSON, ANALYZE) WITH "));
    let r = p.respond(&[ResultSet {
        rows: vec![vec![Some("[{\"Plan\": {}}]".into())]],
    }]);
    assert_eq!(r.body, b"[{\"Plan\": {}}]");
    assert_eq!(
        r.headers,
        vec![(
            "content-type".to_string(),
            "application/vnd.pgrst.plan+json; for=\"application/json\"; options=analyze; charset=utf-8"
                .to_string()
        )]
    );
}
