//! Write plans, PostgREST's `MutatePlan`: an INSERT (with its conflict
//! handling: upserts, PUT), UPDATE or DELETE on a table, the columns it
//! returns and the read of its representation.

use super::read::{mark_from_cache, Node};
use super::{CacheLoader, DefaultsLoader};
use crate::config::Config;
use crate::error::ApiError;
use crate::request::grammar::{self, Logic, SelectItem};
use crate::request::prefs::{Resolution, Return};
use crate::request::{Action, ApiRequest, Payload, QueryParams};
use serde_json::Value;

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
    /// `missing=default` on an insert, when the table's column defaults
    /// could be read: (column, default expression) of the written columns
    /// that have one, each evaluated for every row (PostgREST's
    /// `fromJsonBodyF` with `applyDefaults`).
    pub defaults: Option<Vec<(String, String)>>,
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
    /// (table, primary key) of a single-row insert answered with
    /// `return=headers-only`: its `Location` header.
    pub location: Option<(String, Vec<String>)>,
}

/// Plans a write; `returning` is the `Prefer: return=` in effect.
pub(crate) fn plan(
    cfg: &Config,
    api: &mut ApiRequest,
    returning: Return,
    cache: &mut CacheLoader,
    defaults: &mut DefaultsLoader,
) -> Result<MutatePlan, ApiError> {
    let action = api.action;
    let (schema, name) = (api.schema.clone(), api.name.clone());
    let payload = api.payload.take();
    let q = &mut api.query;
    let conflict = conflict(
        api.prefs.resolution,
        action,
        q,
        payload.as_ref(),
        &schema,
        &name,
        cache,
    )?;
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
    // Location: for single-row inserts with return=headers-only, the new
    // row's primary key (the response stage makes it a header).
    let location = if action == Action::Insert && returning == Return::HeadersOnly {
        cache()
            .ok()
            .and_then(|c| c.table(&schema, &name).cloned())
            .filter(|t| !t.pk.is_empty())
            .map(|t| (name.clone(), t.pk))
    } else {
        None
    };
    // What a write returns: nothing for an answer without rows, only the
    // columns its select and order name when those are plain columns, the
    // whole row otherwise. A role may write columns it cannot read, as in
    // PostgREST.
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
        // Its rows in `order`, embeds with their own filters, order and
        // limits (the root filters chose the rows).
        let mut root = Node::build(&schema, &name, &q.select, cache, 0)?;
        root.order = std::mem::take(&mut q.order);
        root.take_embedded(q)?;
        mark_from_cache(&mut root, api.json_paths, cfg.aggregates_enabled, cache)?;
        Some(root)
    } else {
        None
    };
    let typed = match &payload {
        Some(p) if !p.columns.is_empty() => typed_columns(cache, &schema, &name, &p.columns),
        _ => None,
    };
    let missing_default = api.prefs.missing_default();
    let rows_with_defaults = payload
        .as_ref()
        .filter(|p| {
            missing_default
                && !p.columns.is_empty()
                && matches!(action, Action::Insert | Action::Put)
        })
        .map(rows_of);
    let defaults = match (&rows_with_defaults, &payload) {
        (Some(_), Some(p)) => defaults(&schema, &name).map(|d| {
            d.into_iter()
                .filter(|(c, _)| p.columns.contains(c))
                .collect()
        }),
        _ => None,
    };
    let present = payload
        .as_ref()
        .filter(|_| missing_default && action == Action::Update && q.columns.is_some())
        .map(first_row_keys);
    Ok(MutatePlan {
        action,
        schema,
        table: name,
        payload,
        rows_with_defaults,
        defaults,
        present,
        typed,
        conflict,
        upsert,
        filters: std::mem::take(&mut q.filters),
        returned,
        representation,
        location,
    })
}

/// Upserts: ON CONFLICT on the `on_conflict` columns or the primary key
/// (merging or not), for PUT and for POST with `Prefer: resolution=`.
fn conflict(
    resolution: Option<Resolution>,
    action: Action,
    q: &QueryParams,
    payload: Option<&Payload>,
    schema: &str,
    name: &str,
    cache: &mut CacheLoader,
) -> Result<Option<(bool, Vec<String>)>, ApiError> {
    let resolution = match action {
        Action::Put => Resolution::MergeDuplicates,
        Action::Insert => match resolution {
            Some(r) => r,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let keys = match (&q.on_conflict, action) {
        (Some(cols), Action::Insert) => cols.clone(),
        _ => {
            let cache = cache()?;
            cache.table_or_error(schema, name)?.pk.clone()
        }
    };
    // Without a key: PUT cannot name its row (405, as PostgREST); a POST
    // upsert is a plain insert.
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
        let body = payload.map_or("", |p| p.json.as_str());
        put_filters_match(&keys, &q.filters, body.as_bytes())?;
    }
    Ok((!keys.is_empty()).then_some((resolution == Resolution::MergeDuplicates, keys)))
}

/// The objects of an array payload (`missing=default`: one VALUES row each).
fn rows_of(p: &Payload) -> Vec<serde_json::Map<String, Value>> {
    match serde_json::from_str(&p.json) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(o) => Some(o),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The keys of an array payload's first object.
fn first_row_keys(p: &Payload) -> Vec<String> {
    match serde_json::from_str::<Value>(&p.json) {
        Ok(Value::Array(items)) => items
            .first()
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
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
    let body: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?;
    let rows: Vec<&Value> = match &body {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if filters.len() != pk.len() {
        return Err(put_error());
    }
    for f in filters {
        let Logic::Filter(f) = f else {
            return Err(put_error());
        };
        let grammar::Operation::Compare {
            op: "=",
            quantifier: None,
            value,
        } = &f.operation
        else {
            return Err(put_error());
        };
        if f.negated || !f.field.path.is_empty() || !pk.contains(&f.field.name) {
            return Err(put_error());
        }
        let matches = |row: &&Value| match row.get(&f.field.name) {
            Some(Value::String(s)) => s == value,
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

/// The columns a write's representation needs, when its select and order
/// name only plain columns of the table (and its primary key, for
/// `Location`); `None` when the whole row is needed.
pub(crate) fn returned_columns(
    q: &QueryParams,
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

/// A table's column defaults as PostgREST's schema cache reads them
/// (`tablesSqlQuery`'s `column_default`): a domain's own default when the
/// column has none, `nextval` of an identity's sequence, none for a
/// generated column. `$1` is the quoted, qualified table name; one row, a
/// JSON array of `[column, expression]`.
pub const DEFAULTS_SQL: &str = "select coalesce(json_agg(json_build_array(d.name, d.def)), '[]')::text from (select a.attname::text as name, case when t.typbasetype <> 0 and ad.adbin is null then pg_catalog.pg_get_expr(t.typdefaultbin, 0) when a.attidentity = 'd' then pg_catalog.format('nextval(%L)', seq.objid::regclass) when a.attgenerated = 's' then null else pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) end as def from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum left join pg_catalog.pg_depend seq on seq.refobjid = a.attrelid and seq.refobjsubid = a.attnum and seq.deptype = 'i' and seq.classid = 'pg_catalog.pg_class'::regclass where a.attrelid = pg_catalog.to_regclass($1) and a.attnum > 0 and not a.attisdropped order by a.attnum) d where d.def is not null";

/// [`DEFAULTS_SQL`]'s text and its one parameter for `schema.table`.
pub fn defaults_statement(schema: &str, table: &str) -> (&'static str, String) {
    (
        DEFAULTS_SQL,
        format!(
            "{}.{}",
            contract::sql::quote_ident(schema),
            contract::sql::quote_ident(table)
        ),
    )
}

/// The (column, default expression) pairs in [`DEFAULTS_SQL`]'s result
/// (its first row's first column).
pub fn parse_defaults(rows: &[Vec<Option<String>>]) -> Option<Vec<(String, String)>> {
    let text = rows.first()?.first()?.as_deref()?;
    let pairs: Vec<(String, String)> = serde_json::from_str(text).ok()?;
    Some(pairs)
}
