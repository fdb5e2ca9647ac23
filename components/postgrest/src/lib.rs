//! PostgREST's HTTP API as plain Rust, in PostgREST's own stages:
//! [`request`] (parse the HTTP request: target, query parameters,
//! preferences, media types, range, payload) → `plan` (this module: the
//! action against the schema cache — [`rels`] for relationships, `read`
//! for the embed tree, `rpc` for functions — into one SQL statement that
//! returns count and body together) → [`query`] (the SQL text of filters,
//! select lists, order, paging, payload rows) → [`response`] (status,
//! headers, body).
//!
//! Nothing here does I/O: the bridge component runs [`Plan::statement`]
//! through the `sql` interface and hands the single result row back to
//! [`Plan::respond`].

pub mod error;
pub mod fuzzy;
pub mod grammar;
pub mod openapi;
pub mod query;
mod read;
pub mod rels;
pub mod request;
pub mod response;
mod rpc;
pub mod schema;
pub mod sql;

use query::*;
use request::*;
pub use request::{request_settings, Request};
use response::*;
pub use response::{Outcome, Response};

use error::ApiError;
use grammar::{Field, JsonKey, Logic, Operation, OrderTerm, SelectItem};
use read::{Node, Source};
use schema::SchemaCache;
use serde_json::Value;
use sql::{quote_ident, Statement};
use std::rc::Rc;

/// Settings that shape answers (PostgREST's names in comments).
#[derive(Debug, Clone)]
pub struct Config {
    /// `db-schemas`: the first one is the default.
    pub schemas: Vec<String>,
    /// `db-anon-role`
    pub anon_role: String,
    /// `db-max-rows`
    pub max_rows: Option<u64>,
    /// `db-tx-end`: `commit` (default), `commit-allow-override`, `rollback`,
    /// `rollback-allow-override`.
    pub tx_end: String,
    /// `db-extra-search-path`: schemas after the request's own on the
    /// `search_path` (PostgREST's default: `public`).
    pub extra_search_path: Vec<String>,
    /// `db-pre-request`: a function (`schema.name` or `name`) called in each
    /// request's transaction before its statement.
    pub pre_request: Option<String>,
}

impl Config {
    /// The `search_path` a request on `schema` runs with, as PostgREST sets
    /// it: the schema, then `db-extra-search-path`, each quoted.
    pub fn search_path(&self, schema: &str) -> String {
        search_path(schema, &self.extra_search_path)
    }
}

/// A comma-separated list of schema names (`db-schemas`,
/// `db-extra-search-path`), trimmed, empty items dropped.
pub fn schema_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// `"schema", "extra", ...` (identifiers quoted, duplicates dropped).
pub fn search_path(schema: &str, extra: &[String]) -> String {
    let mut seen: Vec<&str> = vec![schema];
    let mut out = sql::quote_ident(schema);
    for s in extra {
        if !seen.contains(&s.as_str()) {
            seen.push(s);
            out.push_str(", ");
            out.push_str(&sql::quote_ident(s));
        }
    }
    out
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schemas: vec!["public".into()],
            anon_role: "anon".into(),
            max_rows: None,
            tx_end: "commit".into(),
            extra_search_path: vec!["public".into()],
            pre_request: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Read,
    Call,
    /// PUT: insert or replace one row identified by its primary key.
    Put,
    Insert,
    Update,
    Delete,
}

/// What a response body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON array of objects.
    Rows,
    /// One object (a function returning one composite).
    Row,
    /// One bare value (a scalar function).
    Scalar,
    /// A JSON array of values (`setof` a scalar).
    Scalars,
    /// Nothing (`returns void`): 204.
    Void,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Json,
    SingleObject,
    Csv,
}

/// The media type handler that answers a request, by PostgREST's rules:
/// the first accepted type any handler produces; the target's own handlers
/// (its `*/*` first) only with the default select; built-in types (JSON,
/// CSV, the vendored ones) when no handler overrides them.
fn negotiate_handler(
    accept: Option<&str>,
    cache: &mut CacheLoader,
    target: &(String, String),
    default_select: bool,
) -> Option<schema::Handler> {
    let c = cache().ok()?;
    if c.handlers.is_empty() {
        return None;
    }
    let mut accepts = accepted(accept);
    if accepts.is_empty() {
        accepts.push(("*/*".into(), false));
    }
    let find = |schema: &str, name: &str, mt: &str| {
        c.handlers
            .iter()
            .find(|h| h.target_schema == schema && h.target_name == name && h.media_type == mt)
    };
    for (mt, _) in &accepts {
        if mt.starts_with("application/vnd.pgrst.") {
            return None;
        }
        let own = default_select
            .then(|| find(&target.0, &target.1, "*/*").or_else(|| find(&target.0, &target.1, mt)))
            .flatten();
        if let Some(h) = own.or_else(|| find("", "anyelement", mt)) {
            return Some(h.clone());
        }
        if matches!(
            mt.as_str(),
            "application/json" | "*/*" | "application/*" | "text/csv"
        ) {
            return None;
        }
    }
    None
}

/// What to run and how to answer with its result.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A response that needs no SQL (the OpenAPI document).
    ready: Option<Response>,
    /// The one statement; it returns one row of six text columns: total
    /// count (or NULL), rows in this page, the JSON body, the
    /// `response.headers` and `response.status` settings SQL left (or NULL),
    /// and for a merging upsert the rows it inserted.
    pub statement: Statement,
    /// For planned/estimated counts: an EXPLAIN to run first, in the same
    /// transaction; its result goes to [`Plan::planned_total`].
    pub explain: Option<Statement>,
    /// estimated counts: the exact count is capped here (planned: 0).
    count_cap: Option<u64>,
    /// For a request on another schema than the first exposed one (the
    /// host's default): `set_config('search_path', ...)`, to run first.
    pub search_path: Option<Statement>,
    /// `Prefer: timezone=…`: sets `timezone` when the zone exists (one row).
    pub timezone: Option<Statement>,
    /// `db-pre-request`: `select schema.fn()`, run after the search path.
    pub pre_request: Option<Statement>,
    /// Run in a read-only transaction (GET/HEAD).
    pub read_only: bool,
    /// Roll the transaction back instead of committing (`db-tx-end`, `Prefer: tx=`).
    pub rollback: bool,
    action: Action,
    head: bool,
    returning: ReturnPref,
    media: MediaType,
    /// `nulls=stripped` was asked for (and the body is stripped).
    strip_nulls: bool,
    /// A media type handler's answer: its content type, and whether the
    /// body column is hex (a bytea domain).
    custom: Option<CustomMedia>,
    /// The table a read or write is on (schema, name).
    target: Option<(String, String)>,
    /// The columns a write sets.
    written: Vec<String>,
    shape: Shape,
    /// (table, primary key) for a `Location` header.
    location: Option<(String, Vec<String>)>,
    offset: u64,
    /// `Preference-Applied`: what PostgREST echoes for this request, in its order.
    applied: Vec<String>,
    /// A write with `count=exact|estimated`: the affected rows are the total.
    count_affected: bool,
}

/// Parses `req` and builds its plan.
/// Loads the schema cache on first use (plain reads and writes never need it).
pub type CacheLoader<'a> = dyn FnMut() -> Result<Rc<SchemaCache>, ApiError> + 'a;

/// Longest query string accepted (bytes, percent-encoded). Big `in.(…)`
/// lists fit (~800 UUIDs); anything longer is refused before it is parsed.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// Parses `req` and builds its plan. `cache` is called only when the
/// request needs the schema cache (embedding, RPC).
pub fn plan(cfg: &Config, req: &Request, cache: &mut CacheLoader) -> Result<Plan, ApiError> {
    // Form and CSV bodies become the JSON PostgREST would make of them.
    let converted = body_as_json(req)?;
    let req = &Request {
        body: converted.as_deref().unwrap_or(req.body),
        ..*req
    };
    if req.query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::parse(
            "failed to parse the query string",
            format!(
                "the query string has {} bytes; at most {MAX_QUERY_BYTES} are allowed",
                req.query.len()
            ),
        ));
    }
    let method = req.method.to_ascii_uppercase();
    let path = req.path.trim_end_matches('/');
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let (table, rpc) = match segments.as_slice() {
        [t] => (t.clone(), false),
        [rpc, f] if rpc == "rpc" => (f.clone(), true),
        [] => {
            if !matches!(method.as_str(), "GET" | "HEAD") {
                return Err(ApiError::new(
                    405,
                    "PGRST117",
                    format!("Unsupported HTTP method: {method}"),
                ));
            }
            let schema = profile_schema(cfg, req, true)?;
            let cache = cache()?;
            let doc = openapi::document(&cache, &schema, req.header("host"));
            let body = if method == "HEAD" {
                Vec::new()
            } else {
                doc.to_string().into_bytes()
            };
            return Ok(Plan::ready(Response {
                status: 200,
                headers: vec![(
                    "content-type".into(),
                    "application/openapi+json; charset=utf-8".into(),
                )],
                body,
            }));
        }
        _ => {
            return Err(ApiError::new(
                404,
                "PGRST125",
                "Invalid path specified in request URL",
            ))
        }
    };
    if method == "OPTIONS" {
        return Plan::options(&profile_schema(cfg, req, true)?, &table, rpc, cache);
    }
    let (action, head) = match (method.as_str(), rpc) {
        ("GET", false) => (Action::Read, false),
        ("HEAD", false) => (Action::Read, true),
        ("POST", false) => (Action::Insert, false),
        ("PATCH", false) => (Action::Update, false),
        ("PUT", false) => (Action::Put, false),
        ("DELETE", false) => (Action::Delete, false),
        ("GET", true) => (Action::Call, false),
        ("HEAD", true) => (Action::Call, true),
        ("POST", true) => (Action::Call, false),
        (other, true) => {
            return Err(ApiError::new(
                405,
                "PGRST101",
                format!("Cannot use the {other} method on RPC"),
            ));
        }
        (other, false) => {
            return Err(ApiError::new(
                405,
                "PGRST117",
                format!("Unsupported HTTP method: {other}"),
            ));
        }
    };

    let read_like = action == Action::Read || (action == Action::Call && method != "POST");
    let schema = profile_schema(cfg, req, read_like)?;
    let prefs = Preferences::parse(req);
    if prefs.strict() && !prefs.invalid.is_empty() {
        return Err(ApiError::new(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        )
        .details(format!("Invalid preferences: {}", prefs.invalid.join(", "))));
    }
    // Built-in media types now; a database's media type handlers (which
    // need the target and the select) are negotiated once the plan knows them.
    let builtin_media = accept_media(req.header("accept"));

    // JSON paths (`->`, `->>`) on array or composite columns need the column
    // types: only such requests read the schema cache for them.
    let json_paths = req.query.contains("->")
        || req
            .query
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"-%3e"));
    let mut q = QueryParams::parse(req.query)?;
    if !rpc {
        q.parse_filters()?;
        mark_json_fts(&mut q.filters, &schema, &table, cache)?;
        if json_paths {
            // A write's filters (a read's go to its root node, marked there).
            if let Some(t) = cache()?.table(&schema, &table) {
                for f in q.filters.iter_mut().flat_map(Logic::filters_mut) {
                    read::mark_json_field(t, &mut f.field);
                }
            }
        }
        // A write's filter values on a domain with a text cast go through it.
        if !matches!(action, Action::Read) {
            if let Ok(c) = cache() {
                if let Some(t) = c.table(&schema, &table).filter(|_| !c.reps.is_empty()) {
                    read::mark_filter_reps(t, &c, &mut q.filters);
                }
            }
        }
    }
    // On RPC only a GET's `Range` header applies (as PostgREST).
    let range = match range_header(req)? {
        Some(_) if rpc && method != "GET" => None,
        r => r,
    };
    if let Some((offset, limit)) = range {
        q.offset = Some(q.offset.unwrap_or(0) + offset);
        q.limit = Some(match (q.limit, limit) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(u64::MAX),
        })
        .filter(|l| *l != u64::MAX);
    }
    if let Some(max) = cfg.max_rows {
        q.limit = Some(q.limit.map_or(max, |l| l.min(max)));
    }

    let target = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
    let mut st = Statement::default();
    let returning = prefs
        .returning
        .unwrap_or(if matches!(action, Action::Read | Action::Call) {
            ReturnPref::Representation
        } else {
            ReturnPref::Minimal
        });
    let mut counter = 0usize;
    let mut shape = Shape::Rows;
    let mut rpc_table: Option<(String, String)> = None;
    // What a write returns: nothing for an answer without rows, only the
    // columns its select and order name when those are plain columns, the
    // whole row otherwise. A role may write columns it cannot read, as in
    // PostgREST.
    let returned = if matches!(action, Action::Read | Action::Call) {
        String::new()
    } else if returning != ReturnPref::Representation
        && !(action == Action::Insert && returning == ReturnPref::HeadersOnly)
    {
        "1".to_string()
    } else {
        returned_columns(&q, cache, &schema, &table)
            .map(|cols| {
                cols.iter()
                    .map(|c| format!("{target}.{}", quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| format!("{target}.*"))
    };

    st.push("WITH pgrst_source AS (");
    let count_sql: Option<Statement>;
    let mut upsert = false;
    // The columns a write names (for PGRST204 when one does not exist).
    let mut written: Vec<String> = Vec::new();
    let mut explain: Option<Statement> = None;
    let mut count_cap: Option<u64> = None;
    match action {
        Action::Read => {
            let mut root = Node::build(&schema, &table, &q.select, cache, &mut counter)?;
            q.apply_to(&mut root)?;
            mark_from_cache(&mut root, json_paths, cache)?;
            root.render(&mut st, &Source::Table, None, true)?;
            // planned: the planner's row estimate (EXPLAIN, run first in
            // the same transaction); estimated: exact up to db-max-rows,
            // the planner's estimate beyond.
            if matches!(prefs.count, Some("count=planned") | Some("count=estimated")) {
                let mut e = Statement::default();
                e.push("EXPLAIN (FORMAT JSON) SELECT 1 FROM (");
                root.render(&mut e, &Source::Table, None, false)?;
                e.push(") _pgrst_count");
                explain = Some(e);
            }
            let cap = match prefs.count {
                Some("count=exact") => None,
                Some("count=estimated") => cfg.max_rows.map(|m| m + 1),
                _ => Some(0),
            };
            count_sql = match prefs.count {
                Some(_) if cap != Some(0) => {
                    let mut c = Statement {
                        sql: String::new(),
                        params: std::mem::take(&mut st.params),
                    };
                    c.push("(SELECT pg_catalog.count(*) FROM (");
                    root.render(&mut c, &Source::Table, None, false)?;
                    if let Some(cap) = cap {
                        c.push(" LIMIT ").param(cap.to_string()).push("::bigint");
                    }
                    c.push(") _pgrst_count)::text");
                    st.params = std::mem::take(&mut c.params);
                    Some(c)
                }
                _ => None,
            };
            count_cap = cap;
        }
        Action::Call => {
            let call = rpc::plan_call(
                &schema,
                &table,
                &method,
                req,
                &mut q,
                prefs.single_object,
                cache,
            )?;
            shape = call.shape;
            rpc_table = call.table.clone();
            if prefs.strict()
                && prefs.max_affected.is_some()
                && !matches!(call.shape, Shape::Rows | Shape::Scalars)
            {
                return Err(ApiError::new(
                    400,
                    "PGRST128",
                    "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
                ));
            }
            // `count=exact`: the function runs once, into a materialized
            // CTE; the page and the count (rows after filters, before
            // limit/offset) both read it, as PostgREST does.
            let exact = prefs.count == Some("count=exact");
            if exact {
                debug_assert!(st.sql.starts_with("WITH "));
                let mut cte = Statement {
                    sql: "pgrst_fn AS MATERIALIZED (SELECT * FROM ".into(),
                    params: std::mem::take(&mut st.params),
                };
                call.render_source(&mut cte);
                cte.push(" AS pgrst_call), ");
                st.params = std::mem::take(&mut cte.params);
                st.sql.insert_str("WITH ".len(), &cte.sql);
            }
            let render_call = |st: &mut Statement| {
                if exact {
                    st.push("pgrst_fn");
                } else {
                    call.render_source(st);
                }
            };
            match call.shape {
                Shape::Rows | Shape::Row => {
                    let (rschema, rtable) = call
                        .table
                        .clone()
                        .unwrap_or((schema.clone(), table.clone()));
                    let mut root = Node::build(&rschema, &rtable, &q.select, cache, &mut counter)?;
                    q.apply_to(&mut root)?;
                    mark_from_cache(&mut root, json_paths, cache)?;
                    root.render(&mut st, &Source::Call(&render_call), None, true)?;
                    count_sql = if exact {
                        let mut c = Statement {
                            sql: "(SELECT pg_catalog.count(*) FROM (".into(),
                            params: std::mem::take(&mut st.params),
                        };
                        root.render(&mut c, &Source::Call(&render_call), None, false)?;
                        c.push(") _pgrst_count)::text");
                        st.params = std::mem::take(&mut c.params);
                        Some(c)
                    } else {
                        None
                    };
                }
                Shape::Scalar | Shape::Scalars | Shape::Void => {
                    st.push("SELECT pgrst_call.pgrst_call AS pgrst_scalar FROM ");
                    render_call(&mut st);
                    st.push(" AS pgrst_call");
                    if call.shape == Shape::Scalars {
                        limit_offset(&mut st, q.limit, q.offset);
                    }
                    count_sql = exact.then(|| Statement {
                        sql: "(SELECT pg_catalog.count(*) FROM pgrst_fn)::text".into(),
                        params: vec![],
                    });
                }
            }
        }
        Action::Insert | Action::Put => {
            // PUT takes an object or an array of objects (PostgREST: each
            // must match the URL's key).
            let (columns, payload) = payload_columns(req.body, q.columns.as_deref(), true)?;
            written = columns.clone();
            // Upsert: ON CONFLICT on `on_conflict` columns or the primary key.
            let resolution = if action == Action::Put {
                Some(true)
            } else {
                prefs.resolution
            };
            let conflict = match resolution {
                None => None,
                Some(merge) => {
                    let keys = match (&q.on_conflict, action) {
                        (Some(cols), Action::Insert) => cols.clone(),
                        _ => {
                            let cache = cache()?;
                            let t = cache.table(&schema, &table).ok_or_else(|| {
                                ApiError::new(404, "PGRST205", format!("Could not find the table '{schema}.{table}' in the schema cache"))
                            })?;
                            t.pk.clone()
                        }
                    };
                    // Without a key: PUT cannot name its row (405, as
                    // PostgREST); a POST upsert is a plain insert.
                    if keys.is_empty() && action == Action::Put {
                        return Err(ApiError::new(
                            405,
                            "PGRST105",
                            "Filters must include all and only primary key columns with 'eq' operators",
                        ));
                    }
                    if action == Action::Put {
                        if q.paged_in_query {
                            return Err(ApiError::new(
                                400,
                                "PGRST114",
                                "limit/offset querystring parameters are not allowed for PUT",
                            ));
                        }
                        put_filters_match(&keys, &q.filters, req.body)?;
                    }
                    (!keys.is_empty()).then_some((merge, keys))
                }
            };
            // A merging upsert also tells which rows it inserted (xmax = 0)
            // for the status: 201 when any was, 200 when all were updated.
            // (Only plain tables: views and partitioned tables have no xmax.)
            upsert = matches!(conflict, Some((true, _)))
                && cache()
                    .ok()
                    .and_then(|c| c.table(&schema, &table).map(|t| t.kind == "r"))
                    .unwrap_or(false);
            st.push("INSERT INTO ").push(&target);
            if upsert {
                st.push(" AS pgrst_ins");
            }
            if columns.is_empty() && payload == "[{}]" {
                // One empty object: a row of defaults, as PostgREST.
                st.push(" DEFAULT VALUES");
            } else if columns.is_empty() {
                st.push(" SELECT * FROM json_populate_recordset(NULL::")
                    .push(&target)
                    .push(", ");
                st.param(payload).push("::json) WHERE false");
            } else if prefs.missing_default() {
                // One VALUES row per object; a key the object lacks is DEFAULT.
                let rows: Vec<serde_json::Map<String, Value>> = match serde_json::from_str(&payload)
                {
                    Ok(Value::Array(items)) => items
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Object(o) => Some(o),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                st.push("(").push(&ident_list(&columns)).push(") VALUES ");
                for (i, row) in rows.iter().enumerate() {
                    st.push(if i > 0 { ", (" } else { "(" });
                    let row_json = Value::Object(row.clone()).to_string();
                    let mut param_no = None;
                    for (j, c) in columns.iter().enumerate() {
                        if j > 0 {
                            st.push(", ");
                        }
                        if row.contains_key(c) {
                            st.push("(json_populate_record(NULL::")
                                .push(&target)
                                .push(", ");
                            match param_no {
                                Some(n) => {
                                    st.push(&format!("${n}"));
                                }
                                None => {
                                    st.param(row_json.clone());
                                    param_no = Some(st.params.len());
                                }
                            }
                            st.push("::json)).").ident(c);
                        } else {
                            st.push("DEFAULT");
                        }
                    }
                    st.push(")");
                }
            } else {
                st.push("(").push(&ident_list(&columns)).push(") ");
                body_select(&mut st, cache, (&schema, &table), &columns, payload);
            }
            if let Some((merge, keys)) = &conflict {
                st.push(" ON CONFLICT (").push(&ident_list(keys)).push(")");
                let updates: Vec<&String> = columns.iter().filter(|c| !keys.contains(c)).collect();
                // Only key columns: a no-op update still returns the rows.
                let updates: Vec<&String> = if updates.is_empty() {
                    keys.iter().take(1).collect()
                } else {
                    updates
                };
                if *merge && !updates.is_empty() {
                    st.push(" DO UPDATE SET ");
                    for (i, c) in updates.iter().enumerate() {
                        if i > 0 {
                            st.push(", ");
                        }
                        st.ident(c).push(" = EXCLUDED.").ident(c);
                    }
                } else {
                    st.push(" DO NOTHING");
                }
            }
            if upsert {
                debug_assert!(st.sql.starts_with("WITH pgrst_source AS ("));
                st.sql
                    .replace_range(.."WITH pgrst_source".len(), "WITH pgrst_upsert");
                st.push(" RETURNING pgrst_ins AS pgrst_row, (pgrst_ins.xmax::text = '0') AS pgrst_inserted");
                st.push("), pgrst_source AS (SELECT (pgrst_row).* FROM pgrst_upsert");
            } else {
                st.push(" RETURNING ").push(&returned);
            }
            count_sql = None;
        }
        Action::Update => {
            // An object, or an array of them of which the first applies
            // (PostgREST's `json_populate_recordset(...) LIMIT 1`).
            let (columns, payload) = payload_columns(req.body, q.columns.as_deref(), true)?;
            written = columns.clone();
            if columns.is_empty() {
                st.push("SELECT * FROM ").push(&target).push(" WHERE false");
            } else {
                // `missing=default`: a named column the body lacks takes its default.
                let present: Option<Vec<String>> = (prefs.missing_default() && q.columns.is_some())
                    .then(|| match serde_json::from_str::<Value>(&payload) {
                        Ok(Value::Array(items)) => items
                            .first()
                            .and_then(Value::as_object)
                            .map(|o| o.keys().cloned().collect())
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    });
                st.push("UPDATE ").push(&target).push(" SET ");
                for (i, c) in columns.iter().enumerate() {
                    if i > 0 {
                        st.push(", ");
                    }
                    if present.as_ref().is_some_and(|p| !p.contains(c)) {
                        st.ident(c).push(" = DEFAULT");
                    } else {
                        st.ident(c).push(" = pgrst_body.").ident(c);
                    }
                }
                st.push(" FROM (");
                body_select(&mut st, cache, (&schema, &table), &columns, payload);
                st.push(" LIMIT 1) pgrst_body");
                where_clause(&mut st, &target, &q.filters)?;
                st.push(" RETURNING ").push(&returned);
            }
            count_sql = None;
        }
        Action::Delete => {
            st.push("DELETE FROM ").push(&target);
            where_clause(&mut st, &target, &q.filters)?;
            st.push(" RETURNING ").push(&returned);
            count_sql = None;
        }
    }
    st.push(") SELECT ");
    match count_sql {
        Some(c) => {
            st.push(&c.sql);
        }
        None => {
            st.push("NULL::text");
        }
    }
    let default_select = q.select.is_empty() || q.select == [grammar::SelectItem::Star];
    let target_id = match &rpc_table {
        Some(t) if rpc => t.clone(),
        _ => (schema.clone(), table.clone()),
    };
    let custom = negotiate_handler(req.header("accept"), cache, &target_id, default_select);
    let (media, strip_nulls) = match (&custom, builtin_media) {
        (Some(_), _) => (MediaType::Json, false),
        (None, b) => b?,
    };
    match prefs.max_affected.filter(|_| {
        prefs.strict() && matches!(action, Action::Update | Action::Delete | Action::Call)
    }) {
        // Over the limit, the cast fails ('PGRST124:<n>' is no integer) and
        // the transaction rolls back; ApiError::from_db reports PGRST124.
        Some(n) => {
            st.push(", (CASE WHEN pg_catalog.count(_postgrest_t) > ")
                .param(n.to_string())
                .push("::bigint THEN ('PGRST124:' || pg_catalog.count(_postgrest_t))::bigint ELSE pg_catalog.count(_postgrest_t) END)::text, ");
        }
        // A write asked to return one object changes exactly one row, or
        // nothing: the same failing cast rolls it back (PGRST116, 406).
        None if media == MediaType::SingleObject
            && matches!(
                action,
                Action::Insert | Action::Update | Action::Delete | Action::Put
            ) =>
        {
            st.push(", (CASE WHEN pg_catalog.count(_postgrest_t) <> 1 THEN ('PGRST116:' || pg_catalog.count(_postgrest_t))::bigint ELSE pg_catalog.count(_postgrest_t) END)::text, ");
        }
        None => {
            st.push(", pg_catalog.count(_postgrest_t)::text, ");
        }
    }
    // Location: for single-row inserts with return=headers-only, the new
    // row's primary key (the body carries it; respond() turns it into a header).
    let mut location = None;
    let mut csv_header_source: Option<usize> = None;
    if action == Action::Insert && returning == ReturnPref::HeadersOnly {
        if let Some(t) = cache().ok().and_then(|c| c.table(&schema, &table).cloned()) {
            if !t.pk.is_empty() {
                location = Some((table.clone(), t.pk.clone()));
            }
        }
    }
    if location.is_some() {
        st.push("coalesce(json_agg(_postgrest_t), '[]')::text");
    } else if returning != ReturnPref::Representation || head {
        st.push("''::text");
    } else if let Some(h) = &custom {
        // A media type handler: the database's aggregate over the rows, or
        // a function's media-typed value as it is.
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
        if h.base == "bytea" {
            st.push(&format!("coalesce(encode({value}, 'hex'), '')"));
        } else if h.base == "jsonb" {
            // PostgREST reads jsonb results in binary: its answers start with
            // jsonb's format version byte (1), which clients see.
            st.push(&format!("coalesce(E'\\x01' || ({value})::text, '')"));
        } else {
            st.push(&format!("coalesce(({value})::text, '')"));
        }
    } else if media == MediaType::Csv && matches!(shape, Shape::Rows) {
        // PostgREST's CSV: a header of the column names, then each row's
        // composite text form without its parentheses.
        st.push("(SELECT coalesce(string_agg(pgrst_k.k, ','), '') FROM (SELECT json_object_keys(row_to_json(pgrst_h)) AS k FROM (SELECT * FROM (");
        csv_header_source = Some(st.sql.len());
        st.push(") pgrst_x LIMIT 1) pgrst_h) pgrst_k) || E'\\n' || coalesce(string_agg(substring(_postgrest_t::text, 2, length(_postgrest_t::text) - 2), E'\\n'), '')");
    } else {
        match shape {
            Shape::Scalar | Shape::Void => {
                st.push("coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')")
            }
            Shape::Scalars => st.push("coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text"),
            Shape::Rows | Shape::Row if strip_nulls => {
                st.push("json_strip_nulls(coalesce(json_agg(_postgrest_t), '[]'))::text")
            }
            Shape::Rows | Shape::Row => st.push("coalesce(json_agg(_postgrest_t), '[]')::text"),
        };
    }
    // What functions and triggers set for the response (read after the
    // rows: the aggregate has consumed pgrst_source by then).
    st.push(", nullif(current_setting('response.headers', true), ''), nullif(current_setting('response.status', true), '')");
    st.push(if upsert {
        ", (SELECT pg_catalog.count(*) FILTER (WHERE pgrst_inserted) FROM pgrst_upsert)::text"
    } else {
        ", NULL::text"
    });
    st.push(" FROM (");
    let outer_start = st.sql.len();
    // `Location` needs the new row's key whatever `select` names.
    if matches!(action, Action::Read | Action::Call)
        || location.is_some()
        || returning != ReturnPref::Representation
    {
        st.push("SELECT * FROM pgrst_source");
    } else {
        // A write's representation: its rows in `order`, embeds with their
        // own filters, order and limits (the root filters chose the rows).
        let mut root = Node::build(&schema, &table, &q.select, cache, &mut counter)?;
        root.order = std::mem::take(&mut q.order);
        q.apply_embedded(&mut root)?;
        mark_from_cache(&mut root, json_paths, cache)?;
        root.render(&mut st, &Source::Cte("pgrst_source"), None, false)?;
    }
    if let Some(pos) = csv_header_source {
        let outer = st.sql[outer_start..].to_string();
        st.sql.insert_str(pos, &outer);
    }
    st.push(") _postgrest_t");

    let overridable = cfg.tx_end.ends_with("-allow-override");
    let rollback = match prefs.tx_rollback {
        Some(r) if overridable => r,
        _ => cfg.tx_end.starts_with("rollback"),
    };
    // What PostgREST's Preference-Applied lists (`responsePreferences`):
    // only preferences the client sent, each where it applies.
    let mutation = !matches!(action, Action::Read | Action::Call);
    let mut applied: Vec<String> = Vec::new();
    match (action, prefs.resolution) {
        (Action::Insert, Some(true)) => applied.push("resolution=merge-duplicates".into()),
        (Action::Insert, Some(false)) => applied.push("resolution=ignore-duplicates".into()),
        _ => {}
    }
    if let Some(m) = prefs
        .missing
        .filter(|_| matches!(action, Action::Insert | Action::Update))
    {
        applied.push(m.into());
    }
    if let Some(r) = prefs.returning.filter(|_| mutation) {
        applied.push(
            match r {
                ReturnPref::Minimal => "return=minimal",
                ReturnPref::HeadersOnly => "return=headers-only",
                ReturnPref::Representation => "return=representation",
            }
            .into(),
        );
    }
    if let Some(c) = prefs.count.filter(|_| action != Action::Call) {
        applied.push(c.into());
    }
    if let Some(r) = prefs.tx_rollback.filter(|_| overridable) {
        applied.push(if r { "tx=rollback" } else { "tx=commit" }.into());
    }
    if let Some(h) = prefs.handling {
        applied.push(h.into());
    }
    // Applied only when the database knows the zone (respond() drops it
    // when the `timezone` statement set nothing).
    let timezone = prefs.timezone.as_ref().map(|tz| {
        applied.push(format!("timezone={tz}"));
        Statement {
            sql: "select set_config('timezone', name, true) from pg_catalog.pg_timezone_names where name = $1".into(),
            params: vec![Some(tz.clone())],
        }
    });
    if let Some(n) = prefs.max_affected.filter(|_| {
        prefs.strict() && matches!(action, Action::Update | Action::Delete | Action::Call)
    }) {
        applied.push(format!("max-affected={n}"));
    }
    let search_path = (Some(&schema) != cfg.schemas.first()).then(|| Statement {
        sql: "select set_config('search_path', $1, true)".into(),
        params: vec![Some(cfg.search_path(&schema))],
    });
    let pre_request = cfg.pre_request.as_deref().map(|f| {
        let name = match f.split_once('.') {
            Some((schema, name)) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
            None => quote_ident(f),
        };
        Statement {
            sql: format!("select {name}()"),
            params: Vec::new(),
        }
    });
    Ok(Plan {
        ready: None,
        search_path,
        timezone,
        pre_request,
        explain,
        count_cap,
        statement: st,
        read_only: read_like,
        rollback,
        action,
        head,
        returning,
        media,
        strip_nulls,
        custom: custom.map(|h| CustomMedia {
            content_type: match h.media_type.as_str() {
                "*/*" => "application/octet-stream".into(),
                m @ ("text/plain"
                | "text/xml"
                | "text/csv"
                | "application/json"
                | "application/geo+json") => format!("{m}; charset=utf-8"),
                m => m.to_string(),
            },
            binary: h.base == "bytea",
        }),
        target: (!rpc).then(|| (schema.clone(), table.clone())),
        written,
        shape,
        location,
        offset: q.offset.unwrap_or(0),
        applied,
        count_affected: mutation
            && matches!(prefs.count, Some("count=exact") | Some("count=estimated")),
    })
}

/// What a read tree takes from the schema cache: JSON paths on non-JSON
/// columns, and data representations (when the database declares any).
fn mark_from_cache(
    root: &mut Node,
    json_paths: bool,
    cache: &mut CacheLoader,
) -> Result<(), ApiError> {
    if json_paths {
        root.mark_json_paths(&*cache()?);
    }
    // Without a schema cache (the database is unreachable) the statement
    // fails on its own; representations are not a reason to fail earlier.
    if let Ok(c) = cache() {
        if !c.reps.is_empty() {
            root.apply_reps(&c);
        }
        root.mark_computed(&c);
    }
    Ok(())
}

/// Full-text filters on text and json/jsonb columns search `to_tsvector(column)`
/// (PostgreSQL has no `jsonb @@ tsquery`); only such requests read the
/// schema cache for the column types.
fn mark_json_fts(
    filters: &mut [Logic],
    schema: &str,
    table: &str,
    cache: &mut CacheLoader,
) -> Result<(), ApiError> {
    let mut fts: Vec<&mut grammar::Filter> = filters
        .iter_mut()
        .flat_map(Logic::filters_mut)
        .filter(|f| f.field.path.is_empty() && matches!(f.operation, Operation::Fts { .. }))
        .collect();
    if fts.is_empty() {
        return Ok(());
    }
    let cache = cache()?;
    let Some(t) = cache.table(schema, table) else {
        return Ok(());
    };
    for f in fts.iter_mut() {
        // Text and json columns are searched through `to_tsvector(…)`
        // (with the filter's language), as PostgREST does.
        let json = t
            .columns
            .iter()
            .any(|c| c.name == f.field.name && c.ty != "tsvector");
        if let Operation::Fts { on_json, .. } = &mut f.operation {
            *on_json = json;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            default.search_path.is_none(),
            "the host sets the default schema's"
        );
        let h = vec![("accept-profile".to_string(), "v\"2".to_string())];
        let other = plan_nc(&cfg, &req("GET", "/t", "", &h, b"")).unwrap();
        let st = other.search_path.unwrap();
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
            p.statement.sql.contains("row_to_json"),
            "{}",
            p.statement.sql
        );
        // The FK column works as the embed name too.
        assert!(plan_with("select=title,author_id(name)").is_ok());
        // Many-to-many through book_tags, with a filter on the embedded rows.
        let p = plan_with("select=title,tags(name)&tags.name=eq.rust").unwrap();
        assert!(
            p.statement
                .sql
                .contains(r#"INNER JOIN "public"."book_tags""#),
            "{}",
            p.statement.sql
        );
        assert!(p.statement.sql.contains("json_agg"));
        let e = plan_with("select=title,nope(*)").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST200"));
        let e = plan_with("select=title&tags.name=eq.x").unwrap_err();
        assert_eq!(e.code, "PGRST108");
        // A to-many spread: each column an array on the parent row.
        let p = plan_with("select=title,...tags(tag:name)").unwrap();
        assert!(
            p.statement
                .sql
                .contains(r#"COALESCE(jsonb_agg("pgrst_1_r"."tag"), '[]'::jsonb) AS "tag""#),
            "{}",
            p.statement.sql
        );
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
        let sql = &p.statement.sql;
        assert!(sql.contains(r#"SELECT "todos"."id", "todos"."title" FROM "public"."todos" AS "todos" WHERE ("todos"."done" = $1)"#), "{sql}");
        assert_eq!(p.statement.params, vec![Some("false".to_string())]);
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
        assert!(p.statement.sql.contains(r#""t""x""#));
        assert!(p.statement.sql.contains(r#""a""b""#));
        assert!(!p.statement.sql.contains("drop table"));
        assert_eq!(p.statement.params[0].as_deref(), Some("';drop table x;--"));
    }

    #[test]
    fn plus_decodes_to_space_like_supabase_js() {
        let p = plan_nc(
            &Config::default(),
            &req("GET", "/t", "title=eq.hello+world", &[], b""),
        )
        .unwrap();
        assert_eq!(p.statement.params[0].as_deref(), Some("hello world"));
    }

    #[test]
    fn insert_object_and_array() {
        let p = plan_nc(
            &Config::default(),
            &req("POST", "/todos", "", &[], br#"{"title":"a","done":false}"#),
        )
        .unwrap();
        assert!(
            p.statement
                .sql
                .contains(r#"INSERT INTO "public"."todos"("title", "done")"#)
                || p.statement
                    .sql
                    .contains(r#"INSERT INTO "public"."todos"("done", "title")"#)
        );
        assert!(p.statement.params[0].as_deref().unwrap().starts_with('['));
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
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("2"),
            body: Some("[{},{}]"),
            ..Default::default()
        });
        assert_eq!(r.status, 200);
        assert!(r
            .headers
            .contains(&("content-range".into(), "0-1/*".into())));
        let h = vec![("prefer".to_string(), "return=representation".to_string())];
        let p = plan_nc(&Config::default(), &req("POST", "/todos", "", &h, b"{}")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("1"),
            body: Some("[{\"id\":1}]"),
            ..Default::default()
        });
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"[{\"id\":1}]");
        let p = plan_nc(&Config::default(), &req("POST", "/todos", "", &[], b"{}")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("1"),
            body: Some(""),
            ..Default::default()
        });
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
        let r = p.respond(Outcome {
            total: None,
            page_total: Some(rows),
            body: Some("[]"),
            ..Default::default()
        });
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
            tx_end: "commit-allow-override".into(),
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
            .statement
            .sql
            .contains("LIMIT $1::bigint OFFSET $2::bigint"));
        let r = p.respond(Outcome {
            total: Some("5"),
            page_total: Some("2"),
            body: Some("[1,2]"),
            ..Default::default()
        });
        assert_eq!(r.status, 206);
        assert!(r
            .headers
            .contains(&("content-range".into(), "0-1/5".into())));
        let h = vec![(
            "accept".to_string(),
            "application/vnd.pgrst.object+json".to_string(),
        )];
        let p = plan_nc(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("2"),
            body: Some("[1,2]"),
            ..Default::default()
        });
        assert_eq!(r.status, 406);
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("1"),
            body: Some("[{\"a\":1}]"),
            ..Default::default()
        });
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
}
