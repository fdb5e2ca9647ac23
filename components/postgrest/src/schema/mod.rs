//! The schema cache: tables, views, columns, keys, relationships and
//! functions, read from the catalog with one query ([`CATALOG_SQL`]) and
//! kept by the host. The planner uses it for embedding, RPC, `Location`
//! headers and upserts.

pub mod rels;

use crate::error::ApiError;
use contract::sql::quote_ident;
use serde::{Deserialize, Serialize};

pub use contract::sql::{catalog_param, CATALOG_SQL};

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
            r.sql = format!("{}.{}", quote_ident(&r.schema), quote_ident(&r.function));
        }
        let deps = crate::schema::rels::view_key_deps(&cache.views, &cache.keys);
        crate::schema::rels::add_view_primary_keys(&mut cache.tables, &deps);
        let (rels, origins) =
            crate::schema::rels::build(&cache.tables, &cache.keys, &deps, &cache.functions);
        cache.rels = crate::schema::rels::by_origin(rels);
        cache.rel_origins = origins;
        Ok(cache)
    }

    /// The cache from the `schema` interface's snapshot, or PostgREST's
    /// PGRST002 when it cannot be read.
    pub fn from_snapshot(json: &str) -> Result<SchemaCache, ApiError> {
        SchemaCache::parse(json).map_err(|e| {
            ApiError::new(
                503,
                "PGRST002",
                "Could not query the database for the schema cache",
            )
            .details(e.to_string())
        })
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
