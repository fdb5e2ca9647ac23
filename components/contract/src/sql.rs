//! SQL the host and the components share: identifier quoting, the
//! `search_path` PostgREST sets, and the two catalog queries every `sql`
//! provider runs (the supalite host, the `pgwire` component, the JS hosts):
//! the schema cache's ([`CATALOG_SQL`], whose JSON the bridge parses) and
//! the roles' own settings ([`ROLE_SETTINGS_SQL`]).

/// The schema cache's one query (tables, columns, keys, relationships,
/// functions, as JSON text): `$1` is [`catalog_param`] of the exposed schemas.
pub const CATALOG_SQL: &str = include_str!("../sql/catalog.sql");

/// Settings for the transaction that runs [`CATALOG_SQL`]: PostgreSQL's
/// JIT compiles the query (its estimated cost passes `jit_above_cost`),
/// which took 730 ms of its 800 on PostgreSQL 15 here; without it ~70 ms.
pub const CATALOG_SETTINGS: &[(&str, &str)] = &[("jit", "off")];

/// The roles' own settings: role name, setting name, value (the settings a
/// user may set; this database's after all databases').
pub const ROLE_SETTINGS_SQL: &str = include_str!("../sql/role_settings.sql");

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"schema", "extra", ...` (identifiers quoted, duplicates dropped): the
/// `search_path` of a request on `schema`, as PostgREST sets it.
pub fn search_path(schema: &str, extra: &[String]) -> String {
    let mut seen: Vec<&str> = vec![schema];
    let mut out = quote_ident(schema);
    for s in extra {
        if !seen.contains(&s.as_str()) {
            seen.push(s);
            out.push_str(", ");
            out.push_str(&quote_ident(s));
        }
    }
    out
}

/// The `search_path` of a request on the first of `db-schemas`, from the
/// settings' texts (`db-schemas`, `db-extra-search-path`).
pub fn default_search_path(schemas: &str, extra: &str) -> String {
    let schemas = crate::list(schemas);
    search_path(
        schemas
            .first()
            .map_or(crate::defaults::DB_SCHEMAS, String::as_str),
        &crate::list(extra),
    )
}

/// The exposed schemas as the text of a PostgreSQL `text[]`, for
/// [`CATALOG_SQL`]'s parameter.
pub fn catalog_param<'a>(schemas: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = schemas
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_search_paths() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            search_path("api", &["public".into(), "api".into(), "ext".into()]),
            r#""api", "public", "ext""#
        );
        assert_eq!(default_search_path(" , ", ""), r#""public""#);
        assert_eq!(
            default_search_path("api,public", "public"),
            r#""api", "public""#
        );
    }

    #[test]
    fn schema_list_is_a_quoted_array_literal() {
        assert_eq!(
            catalog_param("public, api".split(',')),
            r#"{"public","api"}"#
        );
        assert_eq!(catalog_param([r#"we"ird"#]), r#"{"we\"ird"}"#);
    }
}
