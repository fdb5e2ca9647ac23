//! Stage 2, PostgREST's `Plan`: the parsed request resolved against the
//! schema cache into an [`ActionPlan`], as PostgREST's own source has it —
//! a database plan ([`DbPlan`]: a read's embed tree ([`read`]), a write
//! ([`mutate`]) or a function call ([`rpc`]), the transaction around it
//! and an [`Answer`] saying how the response stage shapes the result), or
//! an [`InfoPlan`] ([`info`]: the OpenAPI document, `OPTIONS`) that the
//! response stage renders without SQL. The schema cache is loaded only for
//! requests that need it.

pub mod answer;
pub mod info;
pub mod mutate;
pub mod read;
pub mod rpc;

pub(crate) use answer::CustomMedia;
pub use answer::{Answer, Total};
pub use info::InfoPlan;
pub use mutate::{MutatePlan, Returned};
pub use read::ReadPlan;
pub use rpc::CallPlan;

use crate::config::Config;
use crate::error::ApiError;
use crate::request::grammar::{self, Logic, Operation, SelectItem};
use crate::request::prefs::{Count, Preferences, Return, Tx};
use crate::request::{Action, ApiRequest, ExplainRequest, MediaType};
use crate::schema::{self, SchemaCache};
use std::rc::Rc;

/// Loads the schema cache on first use (plain reads and writes never need it).
pub type CacheLoader<'a> = dyn FnMut() -> Result<Rc<SchemaCache>, ApiError> + 'a;

/// Reads a table's column defaults (schema, table) when a write needs
/// them — only `missing=default` inserts, which evaluate each default for
/// every row as PostgREST's statement does: the rows of
/// [`mutate::DEFAULTS_SQL`] read by [`mutate::parse_defaults`], or `None`
/// when they cannot be read (then a row's missing keys are `DEFAULT`).
pub type DefaultsLoader<'a> = dyn FnMut(&str, &str) -> Option<Vec<(String, String)>> + 'a;

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

/// What to do: statements to run, or an answer that needs none.
// Built once per request and moved once: no reason to box the larger.
#[allow(clippy::large_enum_variant)]
pub enum ActionPlan {
    Db(DbPlan),
    Info(InfoPlan),
}

/// What the statement does (PostgREST's `CrudPlan`).
pub enum CrudPlan {
    Read(ReadPlan),
    Mutate(MutatePlan),
    Call(CallPlan),
}

impl CrudPlan {
    /// What the answer's body holds: a function's own shape, else rows.
    fn shape(&self) -> Shape {
        match self {
            CrudPlan::Call(c) => c.call.shape,
            _ => Shape::Rows,
        }
    }
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
    /// A GeoJSON FeatureCollection of the rows (PostGIS).
    GeoJson,
    /// JSON by shape, nulls stripped or not.
    Json(Shape, bool),
}

/// A plan that runs SQL: the statement, the transaction around it and how
/// to answer.
pub struct DbPlan {
    pub crud: CrudPlan,
    pub schema: String,
    pub read_only: bool,
    pub rollback: bool,
    /// `Prefer: timezone=`: the zone to set when the database knows it
    /// (with `handling=strict`, an unknown one is an error).
    pub timezone: Option<(String, bool)>,
    pub guard: Option<Guard>,
    pub body: Body,
    /// Answer the statement's EXPLAIN (`application/vnd.pgrst.plan`).
    pub explain: Option<ExplainRequest>,
    pub answer: Answer,
}

/// Resolves a parsed request against the schema cache.
pub fn resolve(
    cfg: &Config,
    api: ApiRequest,
    cache: &mut CacheLoader,
    defaults: &mut DefaultsLoader,
) -> Result<ActionPlan, ApiError> {
    match api.action {
        Action::OpenApi => info::openapi(&api, cache).map(ActionPlan::Info),
        Action::Options => info::options(&api, cache).map(ActionPlan::Info),
        _ => db_plan(cfg, api, cache, defaults).map(ActionPlan::Db),
    }
}

/// A request that runs SQL: its action planned, then how it is answered
/// (media type, guards, body) and the transaction's end.
fn db_plan(
    cfg: &Config,
    mut api: ApiRequest,
    cache: &mut CacheLoader,
    defaults: &mut DefaultsLoader,
) -> Result<DbPlan, ApiError> {
    let action = api.action;
    if action != Action::Call {
        mark_filters(&mut api, cache)?;
    }
    let returning = api.prefs.returning.unwrap_or(if action.is_mutation() {
        Return::Minimal
    } else {
        Return::Representation
    });
    let crud = match action {
        Action::Read => CrudPlan::Read(read::plan(cfg, &mut api, cache)?),
        Action::Call => CrudPlan::Call(rpc::plan(cfg, &mut api, cache)?),
        Action::Insert | Action::Put | Action::Update | Action::Delete => {
            CrudPlan::Mutate(mutate::plan(cfg, &mut api, returning, cache, defaults)?)
        }
        // Answered by an info plan; kept an error rather than a panic.
        Action::OpenApi | Action::Options => {
            return Err(ApiError::new(
                500,
                "XX000",
                "internal error: nothing to plan",
            ))
        }
    };
    let shape = crud.shape();
    let handler = negotiate_handler(
        &api.accepts,
        cache,
        &handler_target(&api, &crud),
        api.query.select.is_empty() || api.query.select == [SelectItem::Star],
    );
    let (media, strip_nulls) = match &handler {
        Some(_) => (MediaType::Json, false),
        None => std::mem::replace(&mut api.media, Ok((MediaType::Json, false)))?,
    };
    let prefs = &api.prefs;
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
    let location = match &crud {
        CrudPlan::Mutate(m) => m.location.clone(),
        _ => None,
    };
    let body = if location.is_some() {
        Body::Location
    } else if returning != Return::Representation || api.head {
        Body::Empty
    } else if let Some(h) = &handler {
        Body::Handler(h.clone())
    } else if media == MediaType::Csv && shape == Shape::Rows {
        Body::Csv
    } else if media == MediaType::GeoJson {
        Body::GeoJson
    } else {
        Body::Json(shape, strip_nulls)
    };
    let rollback = match prefs.tx {
        Some(t) if cfg.tx_end.allow_override => t == Tx::Rollback,
        _ => cfg.tx_end.rollback,
    };
    let answer = Answer {
        action,
        head: api.head,
        returning,
        media,
        strip_nulls,
        custom: handler.as_ref().map(CustomMedia::of),
        target: (action != Action::Call).then(|| (api.schema.clone(), api.name.clone())),
        // The columns a write names (PGRST204 when the table lacks one).
        written: match &crud {
            CrudPlan::Mutate(m) => m.payload.as_ref().map(|p| p.columns.clone()),
            _ => None,
        }
        .unwrap_or_default(),
        shape,
        location,
        offset: api.query.offset.unwrap_or(0),
        applied: applied(cfg, prefs, action, &crud, strict_max),
        count_affected: action.is_mutation()
            && matches!(prefs.count, Some(Count::Exact | Count::Estimated)),
        total: match &crud {
            CrudPlan::Read(r) => r.total,
            _ => Total::Exact,
        },
        explain: api.explain.clone(),
        nothing_to_upsert: matches!(&crud, CrudPlan::Mutate(m)
            if matches!(m.conflict, Some((true, _)))
                && m.payload.as_ref().is_some_and(|p| p.json == "[]")),
        content_location: (action == Action::Read).then(|| {
            if api.canonical_query.is_empty() {
                format!("/{}", api.name)
            } else {
                format!("/{}?{}", api.name, api.canonical_query)
            }
        }),
    };
    Ok(DbPlan {
        answer,
        crud,
        read_only: api.read_only,
        rollback,
        timezone: prefs.timezone.clone().map(|tz| (tz, prefs.strict())),
        guard,
        body,
        explain: api.explain,
        schema: api.schema,
    })
}

/// What a request's own filters take from the schema cache (a read's are
/// marked again on its root node): full-text search on text and json
/// columns, JSON paths on non-JSON columns, a write's values through a
/// domain's text cast.
fn mark_filters(api: &mut ApiRequest, cache: &mut CacheLoader) -> Result<(), ApiError> {
    let (schema, name) = (api.schema.as_str(), api.name.as_str());
    let filters = &mut api.query.filters;
    mark_json_fts(filters, schema, name, cache)?;
    if api.json_paths {
        // A write's filters (a read's are marked on its root node).
        if let Some(t) = cache()?.table(schema, name) {
            for f in filters.iter_mut().flat_map(Logic::filters_mut) {
                read::mark_json_field(Some(t), &mut f.field);
            }
        }
    }
    // A write's filter values on a domain with a text cast go through it.
    if api.action != Action::Read {
        if let Ok(c) = cache() {
            if let Some(t) = c.table(schema, name).filter(|_| !c.reps.is_empty()) {
                read::mark_filter_reps(t, &c, filters);
            }
        }
    }
    Ok(())
}

/// The (schema, name) whose media type handlers may answer: a function's
/// result table, else the request's target.
fn handler_target(api: &ApiRequest, crud: &CrudPlan) -> (String, String) {
    match crud {
        CrudPlan::Call(CallPlan {
            call: rpc::Call { table: Some(t), .. },
            ..
        }) => t.clone(),
        _ => (api.schema.clone(), api.name.clone()),
    }
}

/// What PostgREST's Preference-Applied lists (`responsePreferences`): only
/// preferences the client sent, each where it applies, in its order.
fn applied(
    cfg: &Config,
    prefs: &Preferences,
    action: Action,
    crud: &CrudPlan,
    strict_max: Option<u64>,
) -> Vec<String> {
    let overridable = cfg.tx_end.allow_override;
    let mut applied: Vec<String> = Vec::new();
    // Only where it resolves conflicts on a key (not on a table without one).
    let resolves = matches!(crud, CrudPlan::Mutate(m) if m.conflict.is_some());
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
    // Applied only when the database knows the zone (the response stage
    // drops it when the `timezone` statement set nothing).
    if let Some(tz) = &prefs.timezone {
        applied.push(format!("timezone={tz}"));
    }
    if let Some(n) = strict_max {
        applied.push(format!("max-affected={n}"));
    }
    applied
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
            "application/json" | "*/*" | "application/*" | "text/csv" | "application/geo+json"
        ) {
            return None;
        }
    }
    None
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
