//! The schema cache: tables, views, columns, keys, relationships and
//! functions, read from the catalog with one query ([`CATALOG_SQL`]) and
//! kept by the host. The planner uses it for embedding, RPC, `Location`
//! headers and upserts.

pub mod rels;

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// Returns one row, one column: the whole schema cache as JSON, for the
/// schemas in `$1` (a text array literal such as `{public,api}`).
/// [`CATALOG_SQL`]'s one parameter: the exposed schemas as a quoted
/// `text[]` literal, e.g. `{"public","api"}`.
pub fn catalog_param<'a>(schemas: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = schemas
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

pub const CATALOG_SQL: &str = r#"
with
tbls as (
  select n.nspname as schema, c.relname as name, c.relkind::text as kind,
    coalesce((select json_agg(json_build_object(
        'name', a.attname,
        'type', format_type(a.atttypid, a.atttypmod),
        -- a domain's base type (through domains over domains)
        'base', (with recursive d(oid, base) as (
            select a.atttypid, ty.typbasetype from pg_type ty where ty.oid = a.atttypid and ty.typtype = 'd'
            union all
            select d.base, ty.typbasetype from d join pg_type ty on ty.oid = d.base and ty.typtype = 'd')
          select format_type(d.base, null) from d
          where not exists (select 1 from pg_type ty where ty.oid = d.base and ty.typtype = 'd')),
        'nullable', not a.attnotnull,
        'has_default', a.atthasdef or a.attidentity <> '' or a.attgenerated <> '')
      order by a.attnum)
      from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
    coalesce((select json_agg(a.attname order by k.ord)
      from pg_index i, unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where i.indrelid = c.oid and i.indisprimary), '[]') as pk,
    coalesce((select json_agg(u.cols) from (
      select json_agg(a.attname order by k.ord) as cols
      from pg_index i, unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where i.indrelid = c.oid and i.indisunique and i.indpred is null
      group by i.indexrelid) u), '[]') as uniques
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname = any($1::text[]) and not c.relispartition
),
keys as (
  -- primary and foreign keys in every non-system schema: views in an
  -- exposed schema may select from tables anywhere
  select con.conname as name, con.contype::text as kind, con.conrelid::int8 as rel,
    n1.nspname as schema, c1.relname as "table",
    (select json_agg(json_build_array(a.attnum, a.attname) order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns,
    nullif(con.confrelid, 0)::int8 as frel, n2.nspname as fschema, c2.relname as ftable,
    (select json_agg(json_build_array(a.attnum, a.attname) order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as fcolumns,
    con.contype = 'f' and exists (
      select 1 from pg_constraint u where u.conrelid = con.conrelid and u.contype in ('p', 'u')
        and (select array_agg(x order by x) from unnest(u.conkey) x) = (select array_agg(x order by x) from unnest(con.conkey) x)
    ) as one_to_one
  from pg_constraint con
  join pg_class c1 on c1.oid = con.conrelid join pg_namespace n1 on n1.oid = c1.relnamespace
  left join pg_class c2 on c2.oid = con.confrelid left join pg_namespace n2 on n2.oid = c2.relnamespace
  where con.contype in ('p', 'f') and con.conparentid = 0
    and n1.nspname not in ('pg_catalog', 'information_schema')
),
views as (
  -- each view's query tree, read in Rust for its columns' lineage
  select c.oid::int8 as oid, n.nspname as schema, c.relname as name, r.ev_action::text as definition,
    coalesce((select json_agg(json_build_array(a.attnum, a.attname)) from pg_attribute a
      where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  join pg_rewrite r on r.ev_class = c.oid and r.ev_type = '1'
  where c.relkind in ('v', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
),
fns as (
  select n.nspname as schema, p.proname as name,
    coalesce((select json_agg(json_build_object('name', coalesce(x.name, ''), 'type', format_type(x.type, null), 'mode', x.mode) order by x.ord)
      from unnest(
        coalesce(p.proallargtypes, p.proargtypes::oid[]),
        coalesce(p.proargmodes::text[], array_fill('i'::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))])),
        coalesce(p.proargnames, array_fill(''::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))]))
      ) with ordinality x(type, mode, name, ord)), '[]') as args,
    p.pronargdefaults as defaults,
    format_type(p.prorettype, null) as returns,
    p.proretset as returns_set,
    -- a domain over a composite type returns rows like the composite
    t.typtype::text as return_kind,
    case when t.typrelid <> 0 then (select json_build_object('schema', rn.nspname, 'name', rc.relname)
      from pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace where rc.oid = t.typrelid) end as return_table,
    p.provolatile::text as volatility,
    -- a function of one table row returning rows of a table: a computed relationship
    case when p.pronargs = 1 then (
      select json_build_object('schema', an.nspname, 'name', ac.relname,
        'fschema', rn.nspname, 'fname', rc.relname, 'single', not p.proretset or p.prorows = 1)
      from pg_type at join pg_class ac on ac.oid = at.typrelid join pg_namespace an on an.oid = ac.relnamespace,
        pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace
      where at.oid = p.proargtypes[0] and ac.relkind in ('v', 'r', 'm', 'f', 'p')
        and rc.oid = t.typrelid and rc.relkind in ('v', 'r', 'm', 'f', 'p')
    ) end as computed
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  join pg_type rt on rt.oid = p.prorettype
  join pg_type t on t.oid = case when rt.typtype = 'd' and exists (
      select 1 from pg_type b where b.oid = rt.typbasetype and b.typtype = 'c') then rt.typbasetype else rt.oid end
  where n.nspname = any($1::text[]) and p.prokind = 'f'
    and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
),
reps as (
  -- data representations: implicit casts between a domain and json or text
  select format_type(c.castsource, null) as source, format_type(c.casttarget, null) as target,
    fn.nspname as schema, f.proname as function
  from pg_cast c
  join pg_type src on src.oid = c.castsource join pg_type dst on dst.oid = c.casttarget
  join pg_proc f on f.oid = c.castfunc join pg_namespace fn on fn.oid = f.pronamespace
  where c.castcontext = 'i' and c.castmethod = 'f'
    and ((src.typtype = 'd' and c.casttarget in ('json'::regtype, 'text'::regtype))
      or (dst.typtype = 'd' and c.castsource in ('json'::regtype, 'text'::regtype)))
),
media_types as (
  select t.oid, lower(t.typname) as name, format_type(t.typbasetype, null) as base
  from pg_type t
  where t.typbasetype <> 0 and (t.typname ~* '^[A-Za-z0-9.-]+/[A-Za-z0-9.+-]+$' or t.typname = '*/*')
),
handlers as (
  -- aggregates of a table's rows (or anyelement) into a media type domain
  select fn.nspname as schema, f.proname as name,
    coalesce(tn.nspname, '') as target_schema, coalesce(tc.relname, 'anyelement') as target_name,
    m.name as media_type, m.base, false as raw
  from media_types m
  join pg_proc f on f.prorettype = m.oid and f.prokind = 'a' and f.pronargs = 1
  join pg_namespace fn on fn.oid = f.pronamespace
  left join pg_class tc on tc.reltype = f.proargtypes[0] and tc.relkind in ('v', 'r', 'm', 'f', 'p')
  left join pg_namespace tn on tn.oid = tc.relnamespace
  where fn.nspname = any($1::text[])
    and (f.proargtypes[0] = 'anyelement'::regtype or tc.oid is not null)
  union all
  -- functions returning a media type domain answer with their value as is
  select '', '', fn.nspname, f.proname, m.name, m.base, true
  from media_types m
  join pg_proc f on f.prorettype = m.oid and f.prokind = 'f' and not f.proretset
  join pg_namespace fn on fn.oid = f.pronamespace
  where fn.nspname = any($1::text[])
)
select json_build_object(
  'tables', coalesce((select json_agg(tbls) from tbls), '[]'),
  'handlers', coalesce((select json_agg(handlers) from handlers), '[]'),
  'reps', coalesce((select json_agg(reps) from reps), '[]'),
  'keys', coalesce((select json_agg(keys) from keys), '[]'),
  'functions', coalesce((select json_agg(fns) from fns), '[]'),
  'views', coalesce((select json_agg(views) from views), '[]')
)::text
"#;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SchemaCache {
    /// Tables, views and the like in the exposed schemas. A view's `pk` is
    /// filled in by [`SchemaCache::parse`] from the keys its columns trace to.
    pub tables: Vec<Table>,
    /// Primary and foreign keys of tables in every non-system schema.
    #[serde(default)]
    pub keys: Vec<Key>,
    pub functions: Vec<Function>,
    /// Views and their query trees, for column lineage.
    #[serde(default)]
    pub views: Vec<ViewDef>,
    /// Data representations: implicit casts between domains and json/text.
    #[serde(default)]
    pub reps: Vec<Rep>,
    /// Media type handlers (PostgREST's custom media types).
    #[serde(default)]
    pub handlers: Vec<Handler>,
    /// Relationships as PostgREST finds them, built by [`SchemaCache::parse`].
    #[serde(skip)]
    pub rels: crate::schema::rels::ByOrigin,
    /// (table, schema) pairs that had relationships before those leaving
    /// the exposed schemas were dropped (PostgREST's PGRST200 hint uses them).
    #[serde(skip)]
    pub rel_origins: std::collections::BTreeSet<(crate::schema::rels::QName, String)>,
}

/// A primary (`p`) or foreign (`f`) key; columns as (attnum, name) in key order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Key {
    pub name: String,
    pub kind: String,
    pub rel: i64,
    pub schema: String,
    pub table: String,
    pub columns: Vec<(i32, String)>,
    pub frel: Option<i64>,
    pub fschema: Option<String>,
    pub ftable: Option<String>,
    pub fcolumns: Option<Vec<(i32, String)>>,
    /// A foreign key whose columns are also a primary or unique key.
    #[serde(default)]
    pub one_to_one: bool,
}

/// A media type handler: an aggregate (`schema.name`) of the rows of
/// `target_schema.target_name` (or of `anyelement`) into the domain named
/// `media_type`, or (`raw`) a function `target` returning such a domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Handler {
    pub schema: String,
    pub name: String,
    pub target_schema: String,
    pub target_name: String,
    pub media_type: String,
    /// The domain's base type (`bytea` answers are binary).
    pub base: String,
    pub raw: bool,
}

/// An implicit cast function between a domain and `json` or `text`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rep {
    pub source: String,
    pub target: String,
    pub schema: String,
    pub function: String,
    /// `"schema"."function"`, quoted once when the cache is read.
    #[serde(skip)]
    pub sql: String,
}

/// A view (or materialized view) with its rule's query tree (`pg_node_tree` text).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViewDef {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub definition: String,
    pub columns: Vec<(i32, String)>,
}

/// The tables of a computed relationship: the function's argument row
/// type and its result's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComputedRel {
    pub schema: String,
    pub name: String,
    pub fschema: String,
    pub fname: String,
    pub single: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// `r` table, `v` view, `m` materialized view, `f` foreign, `p` partitioned.
    pub kind: String,
    pub columns: Vec<Column>,
    pub pk: Vec<String>,
    #[serde(default)]
    pub uniques: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// For a domain, the type it is built on (through domains over domains).
    #[serde(default)]
    pub base: Option<String>,
    pub nullable: bool,
    pub has_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub fschema: String,
    pub ftable: String,
    pub fcolumns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Arg {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// `i` in, `o` out, `b` inout, `v` variadic, `t` table.
    pub mode: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub args: Vec<Arg>,
    pub defaults: i32,
    pub returns: String,
    pub returns_set: bool,
    /// `b` base, `c` composite, `d` domain, `e` enum, `p` pseudo (void, record), `r` range.
    pub return_kind: String,
    pub return_table: Option<TableRef>,
    /// `i` immutable, `s` stable, `v` volatile.
    pub volatility: String,
    #[serde(default)]
    pub computed: Option<ComputedRel>,
}

/// An input argument of a function and whether it may be omitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub ty: &'a str,
    pub optional: bool,
    pub variadic: bool,
}

impl Function {
    /// The input parameters, in order.
    pub fn params(&self) -> Vec<Param<'_>> {
        let inputs: Vec<&Arg> = self
            .args
            .iter()
            .filter(|a| matches!(a.mode.as_str(), "i" | "b" | "v"))
            .collect();
        let first_default = inputs.len().saturating_sub(self.defaults.max(0) as usize);
        inputs
            .iter()
            .enumerate()
            .map(|(i, a)| Param {
                name: &a.name,
                ty: &a.ty,
                optional: i >= first_default,
                variadic: a.mode == "v",
            })
            .collect()
    }

    /// Whether the result is a set of rows with columns (setof table,
    /// composite, `returns table(...)`, OUT/INOUT parameters), rather than
    /// scalars.
    pub fn returns_rows(&self) -> bool {
        self.return_kind == "c"
            || self
                .args
                .iter()
                .any(|a| matches!(a.mode.as_str(), "t" | "o" | "b"))
    }
}

impl SchemaCache {
    pub fn parse(json: &str) -> Result<SchemaCache, serde_json::Error> {
        let mut cache: SchemaCache = serde_json::from_str(json)?;
        for r in &mut cache.reps {
            r.sql = format!(
                "{}.{}",
                crate::sql::quote_ident(&r.schema),
                crate::sql::quote_ident(&r.function)
            );
        }
        let deps = crate::schema::rels::view_key_deps(&cache.views, &cache.keys);
        crate::schema::rels::add_view_primary_keys(&mut cache.tables, &deps);
        let (rels, origins) =
            crate::schema::rels::build(&cache.tables, &cache.keys, &deps, &cache.functions);
        cache.rels = crate::schema::rels::by_origin(rels);
        cache.rel_origins = origins;
        Ok(cache)
    }

    /// The cast function (quoted, qualified) from type `source` to `target`.
    pub fn rep(&self, source: &str, target: &str) -> Option<String> {
        self.reps
            .iter()
            .find(|r| r.source == source && r.target == target)
            .map(|r| r.sql.clone())
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }

    /// The table, or PostgREST's PGRST205 with its "Perhaps you meant"
    /// hint (the closest table of that schema).
    pub fn table_or_error(&self, schema: &str, name: &str) -> Result<&Table, ApiError> {
        self.table(schema, name).ok_or_else(|| {
            let names: Vec<&str> = self
                .tables
                .iter()
                .filter(|t| t.schema == schema)
                .map(|t| t.name.as_str())
                .collect();
            let e = ApiError::new(
                404,
                "PGRST205",
                format!("Could not find the table '{schema}.{name}' in the schema cache"),
            );
            match crate::fuzzy::best_match(name, &names) {
                Some(m) => e.hint(format!("Perhaps you meant the table '{schema}.{m}'")),
                None => e,
            }
        })
    }

    pub fn functions<'a>(
        &'a self,
        schema: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Function> + 'a {
        self.functions
            .iter()
            .filter(move |f| f.schema == schema && f.name == name)
    }
}

impl Table {
    /// Whether `cols` are exactly the primary key or a unique key.
    pub fn is_unique(&self, cols: &[String]) -> bool {
        let same = |k: &[String]| k.len() == cols.len() && k.iter().all(|c| cols.contains(c));
        (!self.pk.is_empty() && same(&self.pk)) || self.uniques.iter().any(|u| same(u))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod catalog_param_tests {
    #[test]
    fn schema_list_is_a_quoted_array_literal() {
        assert_eq!(
            super::catalog_param("public, api".split(',')),
            r#"{"public","api"}"#
        );
        assert_eq!(super::catalog_param([r#"we"ird"#]), r#"{"we\"ird"}"#);
    }
}
