//! Stage 2, PostgREST's `Plan`: the parsed request resolved against the
//! schema cache into an [`ActionPlan`] — a read's embed tree
//! ([`read`], relationships from [`crate::schema::rels`]), a write, a function call
//! ([`rpc`]) or an answer that needs no SQL — and an [`Answer`] saying how
//! the response stage shapes the result. The schema cache is loaded only
//! for requests that need it.

pub mod read;
pub mod rpc;

use crate::error::ApiError;
use crate::request::grammar::{self, Logic, Operation, SelectItem};
use crate::request::prefs::{Count, Resolution, Return, Tx};
use crate::request::{Action, ApiRequest, MediaType, Payload};
use crate::response::{Answer, CustomMedia, Response, Total};
use crate::schema::{self, SchemaCache};
use crate::Config;
use read::Node;
use rpc::Call;
use serde_json::Value;
use std::rc::Rc;

/// Loads the schema cache on first use (plain reads and writes never need it).
pub type CacheLoader<'a> = dyn FnMut() -> Result<Rc<SchemaCache>, ApiError> + 'a;

/// What a response body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
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

/// What to do.
pub enum ActionPlan {
    Read(ReadPlan),
    Mutate(MutatePlan),
    Call(CallPlan),
    /// An answer that needs no SQL (the OpenAPI document, `OPTIONS`).
    Inspect(Response),
}

/// A read: the embed tree, and how to count.
pub struct ReadPlan {
    pub root: Node,
    /// `count=planned|estimated`: the planner's estimate (an EXPLAIN first).
    pub explain: bool,
    /// An exact count (up to the cap, for `estimated` with `db-max-rows`).
    pub count: Option<Option<u64>>,
}

/// A function call, and the read over its rows.
pub struct CallPlan {
    pub call: Call,
    /// The rows' embed tree (functions returning rows).
    pub root: Option<Node>,
    /// `count=exact`: the function runs once into a materialized CTE that
    /// both the page and the count read.
    pub exact: bool,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// What a write's rows come back with (`RETURNING`).
pub enum Returned {
    /// Nothing the answer shows: `RETURNING 1`.
    Nothing,
    /// Only these columns.
    Columns(Vec<String>),
    /// The whole row.
    All,
}

/// An INSERT (with its conflict handling), PUT, UPDATE or DELETE.
pub struct MutatePlan {
    pub action: Action,
    pub schema: String,
    pub table: String,
    pub payload: Option<Payload>,
    /// The payload's rows one by one (`missing=default` on inserts: a key
    /// a row lacks is DEFAULT).
    pub rows_with_defaults: Option<Vec<serde_json::Map<String, Value>>>,
    /// `missing=default` on an update with `?columns=`: the named columns
    /// the body has (the others are set to DEFAULT).
    pub present: Option<Vec<String>>,
    /// The written columns' types and json → domain casts, when one has a
    /// data representation.
    pub typed: Option<Vec<(String, Option<String>)>>,
    /// ON CONFLICT (keys): merge (true) or do nothing.
    pub conflict: Option<(bool, Vec<String>)>,
    /// A merging upsert (on a table, partitioned or not, or a view) reports
    /// how many rows it inserted.
    pub upsert: bool,
    pub filters: Vec<Logic>,
    pub returned: Returned,
    /// The representation read from the written rows (embeds, order).
    pub representation: Option<Node>,
}

/// A check on the number of rows a statement affected; over it, the
/// transaction rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// `max-affected=N` with `handling=strict`: PGRST124.
    MaxAffected(u64),
    /// A write (or a function's rows) answered as one object: exactly one
    /// row, or PGRST116 and the transaction rolls back.
    ExactlyOne,
}

/// How the statement builds the response body from the rows.
#[derive(Debug, Clone)]
pub enum Body {
    /// The rows as JSON (for a `Location` header read from the new row).
    Location,
    /// No body (HEAD, `return=minimal`/`headers-only`).
    Empty,
    /// A media type handler's aggregate, or a function's media-typed value.
    Handler(schema::Handler),
    /// PostgREST's CSV.
    Csv,
    /// JSON by shape, nulls stripped or not.
    Json(Shape, bool),
}

/// The plan: the action, the transaction around it and how to answer.
pub struct Planned {
    pub action: ActionPlan,
    pub schema: String,
    pub read_only: bool,
    pub rollback: bool,
    /// `Prefer: timezone=`: the zone to set when the database knows it
    /// (with `handling=strict`, an unknown one is an error).
    pub timezone: Option<(String, bool)>,
    pub guard: Option<Guard>,
    pub body: Body,
    /// Answer the statement's EXPLAIN (`application/vnd.pgrst.plan`).
    pub explain: Option<crate::request::ExplainRequest>,
    pub answer: Answer,
}

/// Resolves a parsed request against the schema cache.
pub fn resolve(
    cfg: &Config,
    mut api: ApiRequest,
    cache: &mut CacheLoader,
) -> Result<Planned, ApiError> {
    let (schema, name) = (api.schema.clone(), api.name.clone());
    let action = api.action;
    let inspect = |r: Response| Planned {
        action: ActionPlan::Inspect(r),
        schema: schema.clone(),
        read_only: true,
        rollback: false,
        timezone: None,
        guard: None,
        body: Body::Empty,
        explain: None,
        answer: Answer::default(),
    };
    match action {
        Action::OpenApi => {
            let accepts = crate::request::accepted(api.accept);
            let offered = [
                "application/openapi+json",
                "application/json",
                "*/*",
                "application/*",
            ];
            if !accepts.is_empty() && !accepts.iter().any(|(m, _)| offered.contains(&m.as_str())) {
                return Err(ApiError::new(
                    406,
                    "PGRST107",
                    format!(
                        "None of these media types are available: {}",
                        api.accept.unwrap_or_default()
                    ),
                ));
            }
            let cache = cache()?;
            let doc = crate::openapi::document(&cache, &schema, api.host);
            let body = if api.head {
                Vec::new()
            } else {
                doc.to_string().into_bytes()
            };
            return Ok(inspect(Response {
                status: 200,
                headers: vec![(
                    "content-type".into(),
                    "application/openapi+json; charset=utf-8".into(),
                )],
                body,
            }));
        }
        Action::Options => return Ok(inspect(options(&schema, &name, &api, cache)?)),
        _ => {}
    }

    let prefs = &api.prefs;
    let q = &mut api.query;
    if action != Action::Call {
        mark_json_fts(&mut q.filters, &schema, &name, cache)?;
        if api.json_paths {
            // A write's filters (a read's are marked on its root node).
            if let Some(t) = cache()?.table(&schema, &name) {
                for f in q.filters.iter_mut().flat_map(Logic::filters_mut) {
                    read::mark_json_field(Some(t), &mut f.field);
                }
            }
        }
        // A write's filter values on a domain with a text cast go through it.
        if action != Action::Read {
            if let Ok(c) = cache() {
                if let Some(t) = c.table(&schema, &name).filter(|_| !c.reps.is_empty()) {
                    read::mark_filter_reps(t, &c, &mut q.filters);
                }
            }
        }
    }
    let returning = prefs.returning.unwrap_or(if action.is_mutation() {
        Return::Minimal
    } else {
        Return::Representation
    });
    let mut counter = 0usize;
    let mut shape = Shape::Rows;
    let mut rpc_table: Option<(String, String)> = None;
    let mut total = Total::Exact;
    let mut location = None;
    let plan = match action {
        Action::Read => {
            let mut root = Node::build(&schema, &name, &q.select, cache, &mut counter)?;
            root.take_query(q)?;
            mark_from_cache(&mut root, api.json_paths, cfg.aggregates_enabled, cache)?;
            // planned: the planner's row estimate (EXPLAIN, run first in
            // the same transaction); estimated: exact up to db-max-rows,
            // the planner's estimate beyond.
            let cap = match prefs.count {
                Some(Count::Exact) => None,
                Some(Count::Estimated) => cfg.max_rows.map(|m| m + 1),
                _ => Some(0),
            };
            total = match prefs.count {
                Some(Count::Planned) => Total::Planned,
                Some(Count::Estimated) => Total::Estimated {
                    max_rows: cfg.max_rows,
                },
                _ => Total::Exact,
            };
            ActionPlan::Read(ReadPlan {
                root,
                explain: matches!(prefs.count, Some(Count::Planned | Count::Estimated)),
                count: (prefs.count.is_some() && cap != Some(0)).then_some(cap),
            })
        }
        Action::Call => {
            let post = !api.read_only;
            let call = rpc::plan_call(
                &schema,
                &name,
                post,
                api.content_type.as_deref(),
                &api.body,
                q,
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
            let root = match call.shape {
                Shape::Rows | Shape::Row => {
                    let (rschema, rtable) =
                        call.table.clone().unwrap_or((schema.clone(), name.clone()));
                    let mut root = Node::build(&rschema, &rtable, &q.select, cache, &mut counter)?;
                    root.take_query(q)?;
                    mark_from_cache(&mut root, api.json_paths, cfg.aggregates_enabled, cache)?;
                    Some(root)
                }
                _ => None,
            };
            ActionPlan::Call(CallPlan {
                call,
                root,
                exact: prefs.count == Some(Count::Exact),
                limit: q.limit,
                offset: q.offset,
            })
        }
        Action::Insert | Action::Put | Action::Update | Action::Delete => {
            let payload = api.payload.take();
            // Upsert: ON CONFLICT on `on_conflict` columns or the primary key.
            let resolution = match action {
                Action::Put => Some(Resolution::MergeDuplicates),
                Action::Insert => prefs.resolution,
                _ => None,
            };
            let conflict = match resolution {
                None => None,
                Some(r) => {
                    let keys = match (&q.on_conflict, action) {
                        (Some(cols), Action::Insert) => cols.clone(),
                        _ => {
                            let cache = cache()?;
                            cache.table_or_error(&schema, &name)?.pk.clone()
                        }
                    };
                    // Without a key: PUT cannot name its row (405, as
                    // PostgREST); a POST upsert is a plain insert.
                    if keys.is_empty() && action == Action::Put {
                        return Err(put_error());
                    }
                    if action == Action::Put {
                        if q.paged_in_query {
                            return Err(ApiError::new(
                                400,
                                "PGRST114",
                                "limit/offset querystring parameters are not allowed for PUT",
                            ));
                        }
                        let body = payload.as_ref().map_or("", |p| p.json.as_str());
                        put_filters_match(&keys, &q.filters, body.as_bytes())?;
                    }
                    (!keys.is_empty()).then_some((r == Resolution::MergeDuplicates, keys))
                }
            };
            // A merging upsert also tells which rows it inserted (xmax = 0)
            // for the status: 201 when any was, 200 when all were updated.
            // (Only plain tables: a view has no xmax, and PostgreSQL 15
            // cannot return it from a partitioned table.)
            let upsert = matches!(conflict, Some((true, _)))
                && cache()
                    .ok()
                    .and_then(|c| {
                        c.table(&schema, &name)
                            .map(|t| matches!(t.kind.as_str(), "r" | "p" | "v"))
                    })
                    .unwrap_or(false);
            // Location: for single-row inserts with return=headers-only,
            // the new row's primary key (respond() makes it a header).
            if action == Action::Insert && returning == Return::HeadersOnly {
                if let Some(t) = cache().ok().and_then(|c| c.table(&schema, &name).cloned()) {
                    if !t.pk.is_empty() {
                        location = Some((name.clone(), t.pk.clone()));
                    }
                }
            }
            // What a write returns: nothing for an answer without rows,
            // only the columns its select and order name when those are
            // plain columns, the whole row otherwise. A role may write
            // columns it cannot read, as in PostgREST.
            let returned = if returning != Return::Representation
                && !(action == Action::Insert && returning == Return::HeadersOnly)
            {
                Returned::Nothing
            } else {
                match returned_columns(q, cache, &schema, &name) {
                    Some(cols) => Returned::Columns(cols),
                    None => Returned::All,
                }
            };
            let representation = if returning == Return::Representation && location.is_none() {
                // Its rows in `order`, embeds with their own filters,
                // order and limits (the root filters chose the rows).
                let mut root = Node::build(&schema, &name, &q.select, cache, &mut counter)?;
                root.order = std::mem::take(&mut q.order);
                root.take_embedded(q)?;
                mark_from_cache(&mut root, api.json_paths, cfg.aggregates_enabled, cache)?;
                Some(root)
            } else {
                None
            };
            let typed = match &payload {
                Some(p) if !p.columns.is_empty() => {
                    typed_columns(cache, &schema, &name, &p.columns)
                }
                _ => None,
            };
            let missing_default = prefs.missing_default();
            let rows_with_defaults = payload
                .as_ref()
                .filter(|p| {
                    missing_default
                        && !p.columns.is_empty()
                        && matches!(action, Action::Insert | Action::Put)
                })
                .map(|p| match serde_json::from_str(&p.json) {
                    Ok(Value::Array(items)) => items
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Object(o) => Some(o),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                });
            let present = payload
                .as_ref()
                .filter(|_| missing_default && action == Action::Update && q.columns.is_some())
                .map(|p| match serde_json::from_str::<Value>(&p.json) {
                    Ok(Value::Array(items)) => items
                        .first()
                        .and_then(Value::as_object)
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default(),
                    _ => Vec::new(),
                });
            ActionPlan::Mutate(MutatePlan {
                action,
                schema: schema.clone(),
                table: name.clone(),
                payload,
                rows_with_defaults,
                present,
                typed,
                conflict,
                upsert,
                filters: std::mem::take(&mut q.filters),
                returned,
                representation,
            })
        }
        // Answered above; kept an error rather than a panic.
        Action::OpenApi | Action::Options => {
            return Err(ApiError::new(
                500,
                "XX000",
                "internal error: nothing to plan",
            ))
        }
    };

    let default_select = q.select.is_empty() || q.select == [SelectItem::Star];
    let target_id = match &rpc_table {
        Some(t) if action == Action::Call => t.clone(),
        _ => (schema.clone(), name.clone()),
    };
    let handler = negotiate_handler(&api.accepts, cache, &target_id, default_select);
    let (media, strip_nulls) = match &handler {
        Some(_) => (MediaType::Json, false),
        None => std::mem::replace(&mut api.media, Ok((MediaType::Json, false)))?,
    };
    let strict_max = prefs.max_affected.filter(|_| {
        prefs.strict() && matches!(action, Action::Update | Action::Delete | Action::Call)
    });
    let guard = match strict_max {
        Some(n) => Some(Guard::MaxAffected(n)),
        // A write, or a function's rows, asked for as one object: more or
        // fewer rows fail inside the transaction, so it rolls back.
        None if media == MediaType::SingleObject
            && (action.is_mutation() || (action == Action::Call && shape == Shape::Rows)) =>
        {
            Some(Guard::ExactlyOne)
        }
        None => None,
    };
    let body = if location.is_some() {
        Body::Location
    } else if returning != Return::Representation || api.head {
        Body::Empty
    } else if let Some(h) = &handler {
        Body::Handler(h.clone())
    } else if media == MediaType::Csv && shape == Shape::Rows {
        Body::Csv
    } else {
        Body::Json(shape, strip_nulls)
    };

    let overridable = cfg.tx_end.allow_override;
    let rollback = match prefs.tx {
        Some(t) if overridable => t == Tx::Rollback,
        _ => cfg.tx_end.rollback,
    };
    // What PostgREST's Preference-Applied lists (`responsePreferences`):
    // only preferences the client sent, each where it applies.
    let mut applied: Vec<String> = Vec::new();
    // Only where it resolves conflicts on a key (not on a table without one).
    let resolves = matches!(&plan, ActionPlan::Mutate(m) if m.conflict.is_some());
    if let Some(r) = prefs
        .resolution
        .filter(|_| action == Action::Insert && resolves)
    {
        applied.push(r.as_str().into());
    }
    if let Some(m) = prefs
        .missing
        .filter(|_| matches!(action, Action::Insert | Action::Update))
    {
        applied.push(m.as_str().into());
    }
    if let Some(r) = prefs.returning.filter(|_| action.is_mutation()) {
        applied.push(r.as_str().into());
    }
    if let Some(c) = prefs.count.filter(|_| action != Action::Call) {
        applied.push(c.as_str().into());
    }
    if let Some(t) = prefs.tx.filter(|_| overridable) {
        applied.push(t.as_str().into());
    }
    if let Some(h) = prefs.handling {
        applied.push(h.as_str().into());
    }
    // Applied only when the database knows the zone (respond() drops it
    // when the `timezone` statement set nothing).
    if let Some(tz) = &prefs.timezone {
        applied.push(format!("timezone={tz}"));
    }
    if let Some(n) = strict_max {
        applied.push(format!("max-affected={n}"));
    }
    // The columns a write names (PGRST204 when the table lacks one).
    let written = match &plan {
        ActionPlan::Mutate(m) => m.payload.as_ref().map(|p| p.columns.clone()),
        _ => None,
    }
    .unwrap_or_default();
    Ok(Planned {
        answer: Answer {
            action,
            head: api.head,
            returning,
            media,
            strip_nulls,
            custom: handler.as_ref().map(CustomMedia::of),
            target: (action != Action::Call).then(|| (schema.clone(), name.clone())),
            written,
            shape,
            location,
            offset: q.offset.unwrap_or(0),
            applied,
            count_affected: action.is_mutation()
                && matches!(prefs.count, Some(Count::Exact | Count::Estimated)),
            total,
            explain: api.explain.clone(),
            nothing_to_upsert: matches!(&plan, ActionPlan::Mutate(m)
                if matches!(m.conflict, Some((true, _)))
                    && m.payload.as_ref().is_some_and(|p| p.json == "[]")),
            content_location: (action == Action::Read).then(|| {
                if api.canonical_query.is_empty() {
                    format!("/{name}")
                } else {
                    format!("/{name}?{}", api.canonical_query)
                }
            }),
        },
        action: plan,
        schema,
        read_only: api.read_only,
        rollback,
        timezone: prefs.timezone.clone().map(|tz| (tz, prefs.strict())),
        guard,
        body,
        explain: api.explain,
    })
}

fn put_error() -> ApiError {
    ApiError::new(
        405,
        "PGRST105",
        "Filters must include all and only primary key columns with 'eq' operators",
    )
}

/// PUT needs `eq` filters on exactly the primary key, matching the body.
pub(crate) fn put_filters_match(
    pk: &[String],
    filters: &[Logic],
    body: &[u8],
) -> Result<(), ApiError> {
    let err = || {
        ApiError::new(
            405,
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        )
    };
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?;
    let rows: Vec<&serde_json::Value> = match &body {
        serde_json::Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if filters.len() != pk.len() {
        return Err(err());
    }
    for f in filters {
        let Logic::Filter(f) = f else {
            return Err(err());
        };
        let grammar::Operation::Compare {
            op: "=",
            quantifier: None,
            value,
        } = &f.operation
        else {
            return Err(err());
        };
        if f.negated || !f.field.path.is_empty() || !pk.contains(&f.field.name) {
            return Err(err());
        }
        let matches = |row: &&serde_json::Value| match row.get(&f.field.name) {
            Some(serde_json::Value::String(s)) => s == value,
            Some(v) => &v.to_string() == value,
            None => false,
        };
        if rows.is_empty() || !rows.iter().all(matches) {
            return Err(ApiError::new(
                400,
                "PGRST115",
                "Payload values do not match URL in primary key column(s)",
            ));
        }
    }
    Ok(())
}

/// The media type handler that answers a request, by PostgREST's rules:
/// the first accepted type any handler produces; the target's own handlers
/// (its `*/*` first) only with the default select; built-in types (JSON,
/// CSV, the vendored ones) when no handler overrides them.
fn negotiate_handler(
    accepts: &[(String, bool)],
    cache: &mut CacheLoader,
    target: &(String, String),
    default_select: bool,
) -> Option<schema::Handler> {
    let c = cache().ok()?;
    if c.handlers.is_empty() {
        return None;
    }
    let any = [("*/*".to_string(), false)];
    let accepts = if accepts.is_empty() {
        &any[..]
    } else {
        accepts
    };
    let find = |schema: &str, name: &str, mt: &str| {
        c.handlers
            .iter()
            .find(|h| h.target_schema == schema && h.target_name == name && h.media_type == mt)
    };
    for (mt, _) in accepts {
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

/// `OPTIONS` on a table or function (no CORS preflight: the rewriter
/// answers those): 200 with `Allow`, as PostgREST; 404 when unknown.
fn options(
    schema: &str,
    name: &str,
    api: &ApiRequest,
    cache: &mut CacheLoader,
) -> Result<Response, ApiError> {
    let rpc = api.function;
    let cache = cache()?;
    let allow = if rpc {
        let f = cache
            .functions
            .iter()
            .find(|f| f.schema == schema && f.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "PGRST202",
                    format!("Could not find the function {schema}.{name} in the schema cache"),
                )
            })?;
        if f.volatility == "v" {
            "OPTIONS,POST"
        } else {
            "OPTIONS,GET,HEAD,POST"
        }
    } else {
        let t = cache.table_or_error(schema, name)?;
        if t.kind == "r" || t.kind == "p" {
            "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
        } else {
            "OPTIONS,GET,HEAD"
        }
    };
    Ok(Response {
        status: 200,
        headers: vec![("allow".into(), allow.into())],
        body: Vec::new(),
    })
}

/// What a read tree takes from the schema cache: JSON paths on non-JSON
/// columns, and data representations (when the database declares any).
fn mark_from_cache(
    root: &mut Node,
    json_paths: bool,
    aggregates: bool,
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
        root.plan_aggregates(&c, aggregates)?;
    } else if !aggregates {
        root.plan_aggregates(&SchemaCache::default(), false)?;
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
            .any(|c| c.name == f.field.name && c.base.as_deref().unwrap_or(&c.ty) != "tsvector");
        if let Operation::Fts { on_json, .. } = &mut f.operation {
            *on_json = json;
        }
    }
    Ok(())
}

/// The columns a write's representation needs, when its select and order
/// name only plain columns of the table (and its primary key, for
/// `Location`); `None` when the whole row is needed.
pub(crate) fn returned_columns(
    q: &crate::request::QueryParams,
    cache: &mut CacheLoader,
    schema: &str,
    table: &str,
) -> Option<Vec<String>> {
    let c = cache().ok()?;
    let t = c.table(schema, table)?;
    let mut cols: Vec<String> = Vec::new();
    let mut add = |name: &str| -> Option<()> {
        t.column(name)?;
        if !cols.iter().any(|c| c == name) {
            cols.push(name.to_string());
        }
        Some(())
    };
    for item in &q.select {
        match item {
            SelectItem::Column { field, .. } => add(&field.name)?,
            _ => return None,
        }
    }
    for o in &q.order {
        if o.relation.is_some() {
            return None;
        }
        add(&o.field.name)?;
    }
    for k in &t.pk {
        add(k)?;
    }
    Some(cols)
}

/// The written columns with their types and json → domain casts, when
/// any written column has one (PostgREST's data representations).
pub(crate) fn typed_columns(
    cache: &mut CacheLoader,
    schema: &str,
    table: &str,
    columns: &[String],
) -> Option<Vec<(String, Option<String>)>> {
    let c = cache().ok()?;
    if c.reps.is_empty() {
        return None;
    }
    let t = c.table(schema, table)?;
    let typed: Vec<(String, Option<String>)> = columns
        .iter()
        .map(|name| {
            let col = t.column(name)?;
            Some((col.ty.clone(), c.rep("json", &col.ty)))
        })
        .collect::<Option<_>>()?;
    typed.iter().any(|(_, r)| r.is_some()).then_some(typed)
}
