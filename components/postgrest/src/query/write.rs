//! SQL for writes: INSERT (with ON CONFLICT), UPDATE, DELETE, the rows of
//! their JSON payload, and what they return.

use super::filters::where_clause;
use super::sql::{quote_ident, Sql, Value};
use crate::error::ApiError;
use crate::plan::{MutatePlan, Returned};
use crate::request::Action;

fn ident_list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a write's rows come from: the JSON payload, or (`missing=default`
/// with the table's defaults read) its objects each laid over the written
/// columns' defaults, evaluated once per row.
enum Rows<'a> {
    Payload(&'a Value),
    WithDefaults(&'a Value, &'a [(String, String)]),
}

impl Rows<'_> {
    /// `json` or `jsonb`: the functions' prefix.
    fn kind(&self) -> &'static str {
        match self {
            Rows::Payload(_) => "json",
            Rows::WithDefaults(..) => "jsonb",
        }
    }

    /// The rows as a JSON array: `$n::json`, or PostgREST's
    /// `jsonb_agg(jsonb_build_object('col', <default>, …) || elem)`.
    fn render(&self, st: &mut Sql) {
        match self {
            Rows::Payload(p) => {
                st.bind(p).push("::json");
            }
            Rows::WithDefaults(p, defaults) => {
                st.push("(SELECT coalesce(jsonb_agg(jsonb_build_object(");
                for (i, (c, def)) in defaults.iter().enumerate() {
                    if i > 0 {
                        st.push(", ");
                    }
                    // The expression is the catalog's (pg_get_expr), never the request's.
                    st.param(c.clone())
                        .push("::text, (")
                        .push(def)
                        .push(")");
                }
                st.push(") || pgrst_elem), '[]'::jsonb) FROM jsonb_array_elements(")
                    .bind(p)
                    .push("::jsonb) AS pgrst_elem)");
            }
        }
    }
}

/// `SELECT <columns> FROM <the JSON payload's rows> AS pgrst_body`: by the
/// table's row type, or with a domain's json cast applied to its columns.
fn body_select(
    st: &mut Sql,
    target: &str,
    typed: Option<&[(String, Option<String>)]>,
    columns: &[String],
    rows: &Rows,
) {
    let kind = rows.kind();
    match typed {
        None => {
            st.push("SELECT ").push(&ident_list(columns));
            st.push(&format!(" FROM {kind}_populate_recordset(NULL::"))
                .push(target)
                .push(", ");
            rows.render(st);
            st.push(") AS pgrst_body");
        }
        Some(typed) => {
            st.push("SELECT ");
            for (i, (c, (_, rep))) in columns.iter().zip(typed).enumerate() {
                if i > 0 {
                    st.push(", ");
                }
                match rep {
                    Some(f) => st
                        .push(f)
                        .push("(pgrst_body.")
                        .ident(c)
                        .push(") AS ")
                        .ident(c),
                    None => st.push("pgrst_body.").ident(c),
                };
            }
            st.push(&format!(" FROM {kind}_to_recordset("));
            rows.render(st);
            st.push(") AS pgrst_body(");
            for (i, (c, (ty, rep))) in columns.iter().zip(typed).enumerate() {
                if i > 0 {
                    st.push(", ");
                }
                // Types come from the catalog (format_type), never the request.
                st.ident(c)
                    .push(" ")
                    .push(if rep.is_some() { "json" } else { ty });
            }
            st.push(")");
        }
    }
}

/// The setting a merging upsert counts its updated rows in.
pub(crate) const UPDATED: &str = "pgrst.upsert_updated";

/// The write as the source of the answer's rows; for a merging upsert, the
/// INSERT goes in its own CTE (`pgrst_upsert`, its DO UPDATE counting the
/// rows it updated in [`UPDATED`]) and the source reads it.
pub(crate) fn source(m: &MutatePlan) -> Result<(Sql, Option<Sql>), ApiError> {
    let target = format!("{}.{}", quote_ident(&m.schema), quote_ident(&m.table));
    let mut st = Sql::default();
    let empty = Vec::new();
    let columns = m.payload.as_ref().map_or(&empty, |p| &p.columns);
    let payload = Value::new(m.payload.as_ref().map_or("[]", |p| p.json.as_str()));
    match m.action {
        Action::Insert | Action::Put => {
            st.push("INSERT INTO ").push(&target);
            if m.upsert {
                st.push(" AS pgrst_ins");
            }
            match &m.rows_with_defaults {
                _ if columns.is_empty() && m.payload.as_ref().is_some_and(|p| p.json == "[{}]") => {
                    // One empty object: a row of defaults, as PostgREST.
                    st.push(" DEFAULT VALUES");
                }
                _ if columns.is_empty() => {
                    st.push(" SELECT * FROM json_populate_recordset(NULL::")
                        .push(&target)
                        .push(", ")
                        .bind(&payload)
                        .push("::json) WHERE false");
                }
                // `missing=default` with the table's defaults: each row
                // laid over them (every default evaluated for every row,
                // as PostgREST's statement does).
                Some(_) if m.defaults.is_some() => {
                    st.push("(").push(&ident_list(columns)).push(") ");
                    let defaults = m.defaults.as_deref().unwrap_or_default();
                    body_select(
                        &mut st,
                        &target,
                        m.typed.as_deref(),
                        columns,
                        &Rows::WithDefaults(&payload, defaults),
                    );
                }
                // `missing=default` otherwise: one VALUES row per object; a
                // key the object lacks is DEFAULT.
                Some(rows) => {
                    st.push("(").push(&ident_list(columns)).push(") VALUES ");
                    for (i, row) in rows.iter().enumerate() {
                        st.push(if i > 0 { ", (" } else { "(" });
                        let row_json =
                            Value::new(serde_json::Value::Object(row.clone()).to_string());
                        for (j, c) in columns.iter().enumerate() {
                            if j > 0 {
                                st.push(", ");
                            }
                            if row.contains_key(c) {
                                st.push("(json_populate_record(NULL::")
                                    .push(&target)
                                    .push(", ")
                                    .bind(&row_json)
                                    .push("::json)).")
                                    .ident(c);
                            } else {
                                st.push("DEFAULT");
                            }
                        }
                        st.push(")");
                    }
                }
                None => {
                    st.push("(").push(&ident_list(columns)).push(") ");
                    body_select(
                        &mut st,
                        &target,
                        m.typed.as_deref(),
                        columns,
                        &Rows::Payload(&payload),
                    );
                }
            }
            if let Some((merge, keys)) = &m.conflict {
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
                    if m.upsert {
                        // Counts the rows updated rather than inserted (a
                        // row's xmax says so on plain tables only, not on
                        // partitioned ones): PostgREST's pgrst.inserted.
                        st.push(&format!(
                            " WHERE set_config('{UPDATED}', (coalesce(nullif(current_setting('{UPDATED}', true), '')::int, 0) + 1)::text, true) IS NOT NULL"
                        ));
                    }
                } else {
                    st.push(" DO NOTHING");
                }
            }
            if m.upsert {
                let mut cte = Sql::new("pgrst_upsert AS (");
                cte.append(st).push(" RETURNING pgrst_ins AS pgrst_row)");
                return Ok((
                    Sql::new("SELECT (pgrst_row).* FROM pgrst_upsert"),
                    Some(cte),
                ));
            }
        }
        Action::Update => {
            // An object, or an array of them of which the first applies
            // (PostgREST's `json_populate_recordset(...) LIMIT 1`).
            if columns.is_empty() {
                st.push("SELECT * FROM ").push(&target).push(" WHERE false");
                return Ok((st, None));
            }
            st.push("UPDATE ").push(&target).push(" SET ");
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    st.push(", ");
                }
                // `missing=default`: a named column the body lacks takes its default.
                if m.present.as_ref().is_some_and(|p| !p.contains(c)) {
                    st.ident(c).push(" = DEFAULT");
                } else {
                    st.ident(c).push(" = pgrst_body.").ident(c);
                }
            }
            st.push(" FROM (");
            body_select(
                &mut st,
                &target,
                m.typed.as_deref(),
                columns,
                &Rows::Payload(&payload),
            );
            st.push(" LIMIT 1) pgrst_body");
            where_clause(&mut st, &target, &m.filters);
        }
        Action::Delete => {
            st.push("DELETE FROM ").push(&target);
            where_clause(&mut st, &target, &m.filters);
        }
        _ => return Err(ApiError::new(500, "XX000", "internal error: not a write")),
    }
    st.push(" RETURNING ");
    match &m.returned {
        Returned::Nothing => st.push("1"),
        Returned::All => st.push(&target).push(".*"),
        Returned::Columns(cols) => {
            let cols: Vec<String> = cols
                .iter()
                .map(|c| format!("{target}.{}", quote_ident(c)))
                .collect();
            st.push(&cols.join(", "))
        }
    };
    Ok((st, None))
}
