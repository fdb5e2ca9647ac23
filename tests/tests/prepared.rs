//! Prepared statements (`db-prepared-statements`, on by default): each
//! statement shape is parsed once per session and then only bound. What a
//! user must not notice: schema changes between requests, another client
//! deallocating the session's statements, errors, many distinct shapes.

use serde_json::json;
use supalite_tests::*;

const SCHEMA: &str = r#"
create table items (id int primary key, name text not null);
insert into items values (1, 'one'), (2, 'two');
"#;

/// Runs SQL as the database owner: psql on PostgreSQL, or on PGlite's
/// loopback port.
fn admin_sql(p: &Project, s: &Server, sql: &str) {
    let target = match (&p.db_uri, &s.db_url) {
        (Some(uri), _) => uri.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => panic!("no way to reach the database"),
    };
    let out = std::process::Command::new(pg::bin_dir().join("psql"))
        .args([target.as_str(), "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .env("PGPASSWORD", pg::PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prepared_statements_follow_the_schema_and_survive_deallocation() {
    on_each_db(|p| {
        p.migration("20240101000000_p.sql", SCHEMA);
        p.config("pglite-listen = \"127.0.0.1:0\"\n");
        let s = p.serve();
        let get = |path: &str| {
            let r = s.get(&format!("/rest/v1/{path}"), &[]);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            r.json()
        };
        for _ in 0..3 {
            assert_eq!(get("items?id=eq.1"), json!([{"id": 1, "name": "one"}]));
        }
        // A column added and a type changed between two runs of the same statement.
        admin_sql(
            &p,
            &s,
            "alter table items add column note text default 'n'; alter table items alter column id type bigint",
        );
        assert_eq!(
            get("items?id=eq.1"),
            json!([{"id": 1, "name": "one", "note": "n"}])
        );
        // A schema reload closes what sessions prepared; they prepare anew.
        admin_sql(
            &p,
            &s,
            "create table tags (id int primary key, item_id bigint references items); insert into tags values (7, 1); notify pgrst, 'reload schema'",
        );
        let mut seen = None;
        for _ in 0..50 {
            let r = s.get("/rest/v1/items?select=id,tags(id)&id=eq.1", &[]);
            if r.status == 200 {
                seen = Some(r);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let r = seen.expect("the schema reload never came");
        assert_eq!(r.json(), json!([{"id": 1, "tags": [{"id": 7}]}]));
        assert_eq!(get("items?select=id&id=eq.1"), json!([{"id": 1}]));
        // Someone deallocates every prepared statement of the session (on
        // PGlite the loopback shares the server's one session).
        if p.db_uri.is_none() {
            admin_sql(&p, &s, "deallocate all");
        }
        assert_eq!(
            get("items?id=eq.2"),
            json!([{"id": 2, "name": "two", "note": "n"}])
        );
        // Failed statements (unknown column, then a bad value) do not poison the next ones.
        let r = s.get("/rest/v1/items?nope=eq.1", &[]);
        assert_eq!(r.status, 400, "{}", r.body);
        let r = s.get("/rest/v1/items?id=eq.x", &[]);
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(get("items?select=id&id=eq.1"), json!([{"id": 1}]));
        // More statement shapes than a session keeps (100): all still answer.
        for i in 0..130 {
            let r = s.get(&format!("/rest/v1/items?select=c{i}:id&id=eq.1"), &[]);
            assert_eq!(r.json(), json!([{format!("c{i}"): 1}]), "{}", r.body);
        }
        let r = s.request(
            "POST",
            "/rest/v1/items",
            &[("prefer", "return=representation")],
            Some(r#"{"id": 3, "name": "three"}"#),
        );
        assert_eq!(
            (r.status, r.json()),
            (201, json!([{"id": 3, "name": "three", "note": "n"}])),
            "{}",
            r.body
        );
    });
}
