//! Stage 3, PostgREST's `Query`: the plan as SQL — one statement that
//! returns the count, the page size, the body and what SQL left in
//! `response.*` together, plus the few settings statements run before it
//! ([`Query::statements`]) — and their results decoded ([`Query::decode`]).
//! Snippets ([`sql::Sql`]) are built independently and numbered once the
//! statement is finished; identifiers are quoted, values always bound.

mod call;
pub mod filters;
pub mod read;
mod result;
pub mod sql;
mod write;

pub use result::{DbError, Outcome, QueryResult, ResultSet};

use crate::config::Config;
use crate::error::ApiError;
use crate::plan::{Body, CallPlan, CrudPlan, DbPlan, Guard, ReadPlan, Shape};
use read::Source;
use sql::{quote_ident, Sql, Statement};

/// The statements a request runs, in one transaction, in this order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// For a request on another schema than the first exposed one (the
    /// host's default): `set_config('search_path', ...)`.
    pub search_path: Option<Statement>,
    /// `Prefer: timezone=…`: sets `timezone` when the zone exists (one row).
    pub timezone: Option<Statement>,
    /// `db-pre-request`: `select schema.fn()`.
    pub pre_request: Option<Statement>,
    /// For planned/estimated counts: an EXPLAIN of the read.
    pub explain: Option<Statement>,
    /// The statement's EXPLAIN is the answer (one row per line of text, or
    /// one JSON document).
    pub explains: bool,
    /// The one statement; it returns one row of six text columns (see
    /// [`column`]): total count (or NULL), rows in this page, the body, the
    /// `response.headers` and `response.status` settings SQL left (or
    /// NULL), and for a merging upsert the number of rows it inserted.
    pub statement: Statement,
}

/// The columns of the main statement's one row, in the order [`build`]
/// selects them.
pub(crate) mod column {
    /// The total count (or NULL).
    pub const TOTAL: usize = 0;
    /// The rows in this page (or affected).
    pub const PAGE_TOTAL: usize = 1;
    pub const BODY: usize = 2;
    /// `response.headers` as SQL left it (or NULL).
    pub const RESPONSE_HEADERS: usize = 3;
    /// `response.status` as SQL left it (or NULL).
    pub const RESPONSE_STATUS: usize = 4;
    /// A merging upsert: the rows it inserted (else NULL).
    pub const INSERTED: usize = 5;
}

/// The statements for a database plan.
pub fn build(cfg: &Config, p: &DbPlan) -> Result<Query, ApiError> {
    let mut ctes: Vec<Sql> = Vec::new();
    let mut count: Option<Sql> = None;
    let mut explain = None;
    let source = match &p.crud {
        CrudPlan::Read(r) => read_source(r, &mut count, &mut explain)?,
        CrudPlan::Call(c) => call_source(c, &mut ctes, &mut count)?,
        CrudPlan::Mutate(m) => {
            let (source, upsert) = write::source(m)?;
            if let Some(upsert) = upsert {
                ctes.push(upsert);
            }
            source
        }
    };
    let mut st = match &p.explain {
        // The plan of the very statement the request would run.
        Some(e) => {
            let mut options = vec![if e.json { "FORMAT JSON" } else { "FORMAT TEXT" }.to_string()];
            options.extend(e.options.iter().map(|o| o.to_ascii_uppercase()));
            explain = None;
            Sql::new(&format!("EXPLAIN ({}) WITH ", options.join(", ")))
        }
        None => Sql::new("WITH "),
    };
    for cte in ctes {
        st.append(cte).push(", ");
    }
    st.push("pgrst_source AS (")
        .append(source)
        .push(") SELECT ");
    match count {
        Some(c) => st.append(c),
        None => st.push("NULL::text"),
    };
    match p.guard {
        // Over the limit, the cast fails ('PGRST124:<n>' is no integer) and
        // the transaction rolls back; ApiError::from_db reports PGRST124.
        Some(Guard::MaxAffected(n)) => {
            st.push(", (CASE WHEN pg_catalog.count(_postgrest_t) > ")
                .param(n.to_string())
                .push("::bigint THEN ('PGRST124:' || pg_catalog.count(_postgrest_t))::bigint ELSE pg_catalog.count(_postgrest_t) END)::text, ");
        }
        // The same failing cast rolls back a write that did not change
        // exactly one row (PGRST116, 406).
        Some(Guard::ExactlyOne) => {
            st.push(", (CASE WHEN pg_catalog.count(_postgrest_t) <> 1 THEN ('PGRST116:' || pg_catalog.count(_postgrest_t))::bigint ELSE pg_catalog.count(_postgrest_t) END)::text, ");
        }
        None => {
            st.push(", pg_catalog.count(_postgrest_t)::text, ");
        }
    }
    // What the outer query reads: the source, or for a write's
    // representation its rows in `order` with their embeds (the root
    // filters chose the rows).
    let mut outer = Sql::default();
    match &p.crud {
        CrudPlan::Mutate(m) if m.representation.is_some() => {
            if let Some(root) = &m.representation {
                root.render(&mut outer, &Source::Cte("pgrst_source"), None, false)?;
            }
        }
        _ => {
            outer.push("SELECT * FROM pgrst_source");
        }
    }
    body_sql(&mut st, &p.body, &outer);
    // What functions and triggers set for the response (read after the
    // rows: the aggregate has consumed pgrst_source by then).
    st.push(", nullif(current_setting('response.headers', true), ''), nullif(current_setting('response.status', true), '')");
    let upsert = matches!(&p.crud, CrudPlan::Mutate(m) if m.upsert);
    if upsert {
        // Inserted: the rows written less those updated, read once the
        // aggregate has run the whole write.
        st.push(&format!(
            ", (SELECT (pg_catalog.count(*) - coalesce(nullif(current_setting('{}', true), '')::bigint, 0))::text FROM pgrst_upsert)",
            write::UPDATED
        ));
    } else {
        st.push(", NULL::text");
    }
    st.push(" FROM (").append(outer).push(") _postgrest_t");

    Ok(Query {
        search_path: (Some(&p.schema) != cfg.schemas.first()).then(|| Statement {
            sql: "select set_config('search_path', $1, true)".into(),
            params: vec![Some(cfg.search_path(&p.schema))],
        }),
        timezone: p.timezone.as_ref().map(|(tz, strict)| Statement {
            sql: if *strict {
                // Unknown: the cast fails, ApiError::from_db says PGRST122.
                // (The stable current_setting() keeps the planner from
                // folding — and so failing — the cast for a known zone.)
                "select coalesce((select set_config('timezone', name, true) from pg_catalog.pg_timezone_names where name = $1), ('PGRST122:' || $1 || pg_catalog.left(pg_catalog.current_setting('timezone'), 0))::bigint::text)"
            } else {
                "select set_config('timezone', name, true) from pg_catalog.pg_timezone_names where name = $1"
            }
            .into(),
            params: vec![Some(tz.clone())],
        }),
        pre_request: cfg.pre_request.as_deref().map(|f| {
            let name = match f.split_once('.') {
                Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
                None => quote_ident(f),
            };
            Statement::text(format!("select {name}()"))
        }),
        explain: explain.map(Sql::finish),
        explains: p.explain.is_some(),
        statement: st.finish(),
    })
}

/// A read: the tree, its count and the EXPLAIN for planned counts.
fn read_source(
    r: &ReadPlan,
    count: &mut Option<Sql>,
    explain: &mut Option<Sql>,
) -> Result<Sql, ApiError> {
    let mut source = Sql::default();
    r.root.render(&mut source, &Source::Table, None, true)?;
    if r.explain {
        // PostgREST's planned count: the estimate for its count query.
        let mut e = Sql::new("EXPLAIN (FORMAT JSON) ");
        r.root.render_count(&mut e, None)?;
        *explain = Some(e);
    }
    if let Some(cap) = r.count {
        let mut c = Sql::new("(SELECT pg_catalog.count(*) FROM (");
        // The rows before paging, without their embeds' JSON; an
        // aggregating read counts its groups.
        if r.root.aggregating {
            r.root.render(&mut c, &Source::Table, None, false)?;
        } else {
            r.root.render_count(&mut c, None)?;
        }
        if let Some(cap) = cap {
            c.push(" LIMIT ").param(cap.to_string()).push("::bigint");
        }
        c.push(") _pgrst_count)::text");
        *count = Some(c);
    }
    Ok(source)
}

/// A call: its rows read like a table's, or its value(s) as `pgrst_scalar`.
fn call_source(
    c: &CallPlan,
    ctes: &mut Vec<Sql>,
    count: &mut Option<Sql>,
) -> Result<Sql, ApiError> {
    if c.exact {
        let mut cte = Sql::new("pgrst_fn AS MATERIALIZED (SELECT * FROM ");
        c.call.render_source(&mut cte);
        cte.push(" AS pgrst_call)");
        ctes.push(cte);
    }
    let render_call = |st: &mut Sql| {
        if c.exact {
            st.push("pgrst_fn");
        } else {
            c.call.render_source(st);
        }
    };
    let mut source = Sql::default();
    match &c.root {
        Some(root) => {
            root.render(&mut source, &Source::Call(&render_call), None, true)?;
            if c.exact {
                let mut n = Sql::new("(SELECT pg_catalog.count(*) FROM (");
                root.render(&mut n, &Source::Call(&render_call), None, false)?;
                n.push(") _pgrst_count)::text");
                *count = Some(n);
            }
        }
        None => {
            source.push("SELECT pgrst_call.pgrst_call AS pgrst_scalar FROM ");
            render_call(&mut source);
            source.push(" AS pgrst_call");
            if c.call.shape == Shape::Scalars {
                filters::limit_offset(&mut source, c.limit, c.offset);
            }
            if c.exact {
                *count = Some(Sql::new("(SELECT pg_catalog.count(*) FROM pgrst_fn)::text"));
            }
        }
    }
    Ok(source)
}

/// The body column, aggregated over `_postgrest_t` (the rows of `outer`).
fn body_sql(st: &mut Sql, body: &Body, outer: &Sql) {
    match body {
        Body::Location => st.push("coalesce(json_agg(_postgrest_t), '[]')::text"),
        Body::Empty => st.push("''::text"),
        Body::Handler(h) => {
            // The database's aggregate over the rows, or a function's
            // media-typed value as it is.
            let value = if h.raw {
                "(array_agg(_postgrest_t.pgrst_scalar))[1]".to_string()
            } else if h.target_name == "anyelement" {
                format!(
                    "{}.{}(_postgrest_t)",
                    quote_ident(&h.schema),
                    quote_ident(&h.name)
                )
            } else {
                format!(
                    "{}.{}(_postgrest_t::{}.{})",
                    quote_ident(&h.schema),
                    quote_ident(&h.name),
                    quote_ident(&h.target_schema),
                    quote_ident(&h.target_name)
                )
            };
            match h.base.as_str() {
                "bytea" => st.push(&format!("coalesce(encode({value}, 'hex'), '')")),
                // PostgREST reads jsonb results in binary: its answers
                // start with jsonb's format version byte (1), which
                // clients see.
                "jsonb" => st.push(&format!("coalesce(E'\\x01' || ({value})::text, '')")),
                _ => st.push(&format!("coalesce(({value})::text, '')")),
            }
        }
        Body::Csv => {
            // PostgREST's CSV: a header of the column names (from the first
            // row), then each row's composite text form without its
            // parentheses.
            st.push("(SELECT coalesce(string_agg(pgrst_k.k, ','), '') FROM (SELECT json_object_keys(row_to_json(pgrst_h)) AS k FROM (SELECT * FROM (")
                .append(outer.clone())
                .push(") pgrst_x LIMIT 1) pgrst_h) pgrst_k) || E'\\n' || coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), E'\\n'), '')")
        }
        // PostgREST's built-in `application/geo+json` handler
        // (`asGeoJsonF`): without PostGIS, PostgreSQL's own 42883 on
        // `st_asgeojson(record)`, as PostgREST answers there.
        Body::GeoJson => st.push("json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(ST_AsGeoJSON(_postgrest_t)::json), '[]'))::text"),
        Body::Json(Shape::Scalar | Shape::Void, _) => {
            st.push("coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')")
        }
        Body::Json(Shape::Scalars, _) => {
            st.push("coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text")
        }
        Body::Json(Shape::Rows | Shape::Row, true) => {
            st.push("json_strip_nulls(coalesce(json_agg(_postgrest_t), '[]'))::text")
        }
        Body::Json(Shape::Rows | Shape::Row, false) => {
            st.push("coalesce(json_agg(_postgrest_t), '[]')::text")
        }
    };
}
