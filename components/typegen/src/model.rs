//! What the catalog queries answer (`catalog.sql`), as postgres-meta's
//! types name it (src/lib/types.ts), with the fields its generator reads.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Schema {
    pub name: String,
}

/// A table, foreign table or materialized view.
#[derive(Debug, Clone, Deserialize)]
pub struct Relation {
    pub id: i64,
    pub schema: String,
    pub name: String,
    /// Views only (`pg_relation_is_updatable`).
    #[serde(default)]
    pub is_updatable: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub table_id: i64,
    pub name: String,
    pub has_default: bool,
    /// The type's name (a domain's base type), e.g. `int4`, `_text`.
    pub format: String,
    pub is_identity: bool,
    pub identity_generation: Option<String>,
    pub is_nullable: bool,
    pub is_updatable: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Relationship {
    pub foreign_key_name: String,
    pub schema: String,
    pub relation: String,
    pub columns: Vec<String>,
    pub referenced_schema: String,
    pub referenced_relation: String,
    pub referenced_columns: Vec<String>,
    pub is_one_to_one: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ColDep {
    pub table_column: String,
    pub view_columns: Vec<String>,
}

/// A view column that carries a table's key (`views_key_dependencies`).
#[derive(Debug, Clone, Deserialize)]
pub struct KeyDep {
    pub table_schema: String,
    pub table_name: String,
    pub view_schema: String,
    pub view_name: String,
    pub constraint_name: String,
    pub constraint_type: String,
    pub column_dependencies: Vec<ColDep>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Arg {
    /// in, out, inout, variadic or table.
    pub mode: String,
    pub name: String,
    pub type_id: i64,
    /// Null for OUT and TABLE arguments (postgres-meta reads it as false).
    #[serde(deserialize_with = "null_is_false")]
    pub has_default: bool,
}

fn null_is_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    pub id: i64,
    pub schema: String,
    pub name: String,
    pub args: Vec<Arg>,
    /// `pg_get_function_arguments`, e.g. `todos` or `a integer, b text`.
    pub argument_types: String,
    pub return_type_id: i64,
    /// `pg_get_function_result`, e.g. `SETOF todos`.
    pub return_type: String,
    pub return_type_relation_id: Option<i64>,
    pub is_set_returning_function: bool,
    pub prorows: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub type_id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Type {
    pub id: i64,
    pub name: String,
    pub schema: String,
    pub format: String,
    pub enums: Vec<String>,
    pub attributes: Vec<Attribute>,
    pub type_relation_id: Option<i64>,
}

/// Everything the generator reads, for the included schemas (types: all).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub schemas: Vec<Schema>,
    pub tables: Vec<Relation>,
    pub foreign_tables: Vec<Relation>,
    pub views: Vec<Relation>,
    pub materialized_views: Vec<Relation>,
    pub columns: Vec<Column>,
    /// Foreign keys between tables; [`Catalog::relationships`] adds views'.
    pub table_relationships: Vec<Relationship>,
    pub key_dependencies: Vec<KeyDep>,
    pub functions: Vec<Function>,
    pub types: Vec<Type>,
}

/// The catalog queries, by name, in `catalog.sql`'s order. Each takes the
/// included schemas as `$1` (a JSON array) when it names `$1`.
pub fn queries() -> Vec<(&'static str, &'static str)> {
    let sql: &'static str = include_str!("catalog.sql");
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("\n-- name: ") {
        let after = &rest[start + "\n-- name: ".len()..];
        let name_end = after.find('\n').unwrap_or(after.len());
        let name = after[..name_end].trim();
        let body_start = &after[name_end..];
        let end = body_start.find("\n-- name: ").unwrap_or(body_start.len());
        out.push((name, body_start[..end].trim()));
        rest = &body_start[end..];
    }
    out
}

impl Catalog {
    /// Fills one query's answer (`[{…}, …]` as JSON text) in.
    pub fn set(&mut self, query: &str, json: &str) -> Result<(), String> {
        fn parse<T: serde::de::DeserializeOwned>(q: &str, json: &str) -> Result<Vec<T>, String> {
            serde_json::from_str(json)
                .map_err(|e| format!("the catalog query `{q}` answered unreadable JSON: {e}"))
        }
        match query {
            "schemas" => self.schemas = parse(query, json)?,
            "tables" => self.tables = parse(query, json)?,
            "foreign_tables" => self.foreign_tables = parse(query, json)?,
            "views" => self.views = parse(query, json)?,
            "materialized_views" => self.materialized_views = parse(query, json)?,
            "columns" => self.columns = parse(query, json)?,
            "table_relationships" => self.table_relationships = parse(query, json)?,
            "views_key_dependencies" => self.key_dependencies = parse(query, json)?,
            "functions" => self.functions = parse(query, json)?,
            "types" => self.types = parse(query, json)?,
            other => return Err(format!("unknown catalog query `{other}`")),
        }
        Ok(())
    }

    /// Tables' foreign keys, then the ones views carry (postgres-meta's
    /// PostgresMetaRelationships, adapted from PostgREST's schema cache).
    pub fn relationships(&self) -> Vec<Relationship> {
        fn cartesian(lists: &[Vec<String>]) -> Vec<Vec<String>> {
            lists.iter().fold(vec![vec![]], |acc, list| {
                acc.iter()
                    .flat_map(|prefix| {
                        list.iter().map(move |x| {
                            let mut v = prefix.clone();
                            v.push(x.clone());
                            v
                        })
                    })
                    .collect()
            })
        }
        let expand = |deps: &[ColDep]| -> Vec<Vec<String>> {
            cartesian(
                &deps
                    .iter()
                    .map(|d| d.view_columns.clone())
                    .collect::<Vec<_>>(),
            )
        };
        let mut out = self.table_relationships.clone();
        let mut views = Vec::new();
        for r in &self.table_relationships {
            let view_to_table: Vec<&KeyDep> = self
                .key_dependencies
                .iter()
                .filter(|k| {
                    k.table_schema == r.schema
                        && k.table_name == r.relation
                        && k.constraint_name == r.foreign_key_name
                        && k.constraint_type == "f"
                })
                .collect();
            let table_to_view: Vec<&KeyDep> = self
                .key_dependencies
                .iter()
                .filter(|k| {
                    k.table_schema == r.referenced_schema
                        && k.table_name == r.referenced_relation
                        && k.constraint_name == r.foreign_key_name
                        && k.constraint_type == "f_ref"
                })
                .collect();
            for k in &view_to_table {
                for cols in expand(&k.column_dependencies) {
                    views.push(Relationship {
                        schema: k.view_schema.clone(),
                        relation: k.view_name.clone(),
                        columns: cols,
                        ..r.clone()
                    });
                }
            }
            for k in &table_to_view {
                for cols in expand(&k.column_dependencies) {
                    views.push(Relationship {
                        referenced_schema: k.view_schema.clone(),
                        referenced_relation: k.view_name.clone(),
                        referenced_columns: cols,
                        ..r.clone()
                    });
                }
            }
            for k in &view_to_table {
                for cols in expand(&k.column_dependencies) {
                    for t in &table_to_view {
                        for refs in expand(&t.column_dependencies) {
                            views.push(Relationship {
                                foreign_key_name: r.foreign_key_name.clone(),
                                schema: k.view_schema.clone(),
                                relation: k.view_name.clone(),
                                columns: cols.clone(),
                                is_one_to_one: r.is_one_to_one,
                                referenced_schema: t.view_schema.clone(),
                                referenced_relation: t.view_name.clone(),
                                referenced_columns: refs,
                            });
                        }
                    }
                }
            }
        }
        out.extend(views);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_query_is_named_and_known() {
        let q = queries();
        let names: Vec<&str> = q.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "schemas",
                "tables",
                "foreign_tables",
                "views",
                "materialized_views",
                "columns",
                "table_relationships",
                "views_key_dependencies",
                "functions",
                "types"
            ]
        );
        let mut c = Catalog::default();
        for (name, sql) in q {
            assert!(sql.to_lowercase().contains("select"), "{name}");
            c.set(name, "[]").unwrap();
        }
        assert!(c.set("tables", "{").unwrap_err().contains("`tables`"));
    }

    #[test]
    fn a_view_carrying_a_key_gets_the_relationship() {
        let mut c = Catalog::default();
        c.set(
            "table_relationships",
            r#"[{"foreign_key_name":"todos_user_fkey","schema":"public","relation":"todos","columns":["user_id"],
                "referenced_schema":"public","referenced_relation":"users","referenced_columns":["id"],"is_one_to_one":false}]"#,
        )
        .unwrap();
        c.set(
            "views_key_dependencies",
            r#"[{"table_schema":"public","table_name":"users","view_schema":"public","view_name":"users_view",
                "constraint_name":"todos_user_fkey","constraint_type":"f_ref",
                "column_dependencies":[{"table_column":"id","view_columns":["id","id2"]}]}]"#,
        )
        .unwrap();
        let r = c.relationships();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].referenced_relation, "users_view");
        assert_eq!(r[2].referenced_columns, ["id2"]);
    }
}
