//! The schema cache: tables, views, columns, keys, relationships and
//! functions, read from the catalog with one query ([`CATALOG_SQL`]) and
//! kept by the host. The planner uses it for embedding, RPC, `Location`
//! headers and upserts.

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
  where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname = any($1::text[])
),
fks as (
  select con.conname as name, n1.nspname as schema, c1.relname as "table",
    (select json_agg(a.attname order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns,
    n2.nspname as fschema, c2.relname as ftable,
    (select json_agg(a.attname order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as fcolumns
  from pg_constraint con
  join pg_class c1 on c1.oid = con.conrelid join pg_namespace n1 on n1.oid = c1.relnamespace
  join pg_class c2 on c2.oid = con.confrelid join pg_namespace n2 on n2.oid = c2.relnamespace
  where con.contype = 'f' and n1.nspname = any($1::text[]) and n2.nspname = any($1::text[])
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
    t.typtype::text as return_kind,
    case when t.typrelid <> 0 then (select json_build_object('schema', rn.nspname, 'name', rc.relname)
      from pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace where rc.oid = t.typrelid) end as return_table,
    p.provolatile::text as volatility
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_type t on t.oid = p.prorettype
  where n.nspname = any($1::text[]) and p.prokind = 'f'
    and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
),
vcols as (
  -- view columns that pass a base table column through under the same name
  select u.view_schema as schema, u.view_name as view, u.table_schema, u.table_name as "table", u.column_name as "column"
  from information_schema.view_column_usage u
  join information_schema.columns c
    on c.table_schema = u.view_schema and c.table_name = u.view_name and c.column_name = u.column_name
  where u.view_schema = any($1::text[])
)
select json_build_object(
  'tables', coalesce((select json_agg(tbls) from tbls), '[]'),
  'fks', coalesce((select json_agg(fks) from fks), '[]'),
  'functions', coalesce((select json_agg(fns) from fns), '[]'),
  'view_columns', coalesce((select json_agg(vcols) from vcols), '[]')
)::text
"#;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SchemaCache {
    pub tables: Vec<Table>,
    /// Foreign keys, plus (after [`SchemaCache::parse`]) the ones views
    /// inherit from the tables they select from.
    pub fks: Vec<ForeignKey>,
    pub functions: Vec<Function>,
    #[serde(default)]
    pub view_columns: Vec<ViewColumn>,
}

/// A view column that is a base table column passed through by name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ViewColumn {
    pub schema: String,
    pub view: String,
    pub table_schema: String,
    pub table: String,
    pub column: String,
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
    /// composite, `returns table(...)`), rather than scalars.
    pub fn returns_rows(&self) -> bool {
        self.return_kind == "c"
            || self.args.iter().any(|a| a.mode == "t" || a.mode == "o") && self.returns == "record"
    }
}

impl SchemaCache {
    pub fn parse(json: &str) -> Result<SchemaCache, serde_json::Error> {
        let mut cache: SchemaCache = serde_json::from_str(json)?;
        cache.add_view_relationships();
        Ok(cache)
    }

    /// Views that expose all columns of a foreign key (or of the key it
    /// references) take part in that relationship, as in PostgREST.
    fn add_view_relationships(&mut self) {
        // (schema, view) that expose all of `cols` of `schema.table`.
        let views_exposing =
            |schema: &str, table: &str, cols: &[String]| -> Vec<(String, String)> {
                let mut views: Vec<(String, String)> = self
                    .view_columns
                    .iter()
                    .filter(|v| v.table_schema == schema && v.table == table)
                    .map(|v| (v.schema.clone(), v.view.clone()))
                    .collect();
                views.sort();
                views.dedup();
                views.retain(|(vs, vn)| {
                    cols.iter().all(|c| {
                        self.view_columns.iter().any(|v| {
                            &v.schema == vs
                                && &v.view == vn
                                && v.table_schema == schema
                                && v.table == table
                                && &v.column == c
                        })
                    })
                });
                views
            };
        let mut extra = Vec::new();
        for fk in &self.fks {
            let mut sources = vec![(fk.schema.clone(), fk.table.clone())];
            sources.extend(views_exposing(&fk.schema, &fk.table, &fk.columns));
            let mut targets = vec![(fk.fschema.clone(), fk.ftable.clone())];
            targets.extend(views_exposing(&fk.fschema, &fk.ftable, &fk.fcolumns));
            for (ss, st) in &sources {
                for (ts, tt) in &targets {
                    if (ss, st) == (&fk.schema, &fk.table) && (ts, tt) == (&fk.fschema, &fk.ftable)
                    {
                        continue;
                    }
                    extra.push(ForeignKey {
                        name: fk.name.clone(),
                        schema: ss.clone(),
                        table: st.clone(),
                        columns: fk.columns.clone(),
                        fschema: ts.clone(),
                        ftable: tt.clone(),
                        fcolumns: fk.fcolumns.clone(),
                    });
                }
            }
        }
        self.fks.extend(extra);
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
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

impl ForeignKey {
    /// Names an embed hint may use for this key: its name and its columns.
    pub fn hint_names(&self) -> Vec<String> {
        std::iter::once(self.name.clone())
            .chain(self.columns.iter().cloned())
            .collect()
    }

    /// As PostgREST lists it in PGRST201 details.
    pub fn describe(&self) -> String {
        format!(
            "{} using {}({}) and {}({})",
            self.name,
            self.table,
            self.columns.join(", "),
            self.ftable,
            self.fcolumns.join(", ")
        )
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
