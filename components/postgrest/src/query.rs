//! Stage 3, PostgREST's `Query`: SQL text for filters, select lists,
//! order and paging, and the rows of a write's payload. Identifiers are
//! quoted, values are always parameters.

use super::*;

pub(crate) fn ident_list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"s"."t"."col"->$n::text...`
pub(crate) fn field_sql(st: &mut Statement, table: &str, f: &Field) {
    if let Some((function, row_type)) = &f.computed {
        st.push(function)
            .push("(")
            .push(table)
            .push("::")
            .push(row_type)
            .push(")");
    } else if f.to_jsonb && !f.path.is_empty() {
        st.push("to_jsonb(")
            .push(table)
            .push(".")
            .ident(&f.name)
            .push(")");
    } else {
        st.push(table).push(".").ident(&f.name);
    }
    for (arrow, key) in &f.path {
        st.push(match arrow {
            grammar::Arrow::Json => "->",
            grammar::Arrow::Text => "->>",
        });
        match key {
            JsonKey::Key(k) => {
                st.param(k.clone()).push("::text");
            }
            JsonKey::Index(i) => {
                st.param(i.to_string()).push("::int");
            }
        }
    }
}

pub(crate) fn select_list(
    st: &mut Statement,
    table: &str,
    items: &[SelectItem],
) -> Result<(), ApiError> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            st.push(", ");
        }
        match item {
            SelectItem::Star => {
                st.push(table).push(".*");
            }
            SelectItem::Column { field, alias, cast } => {
                let wrap = cast.is_some();
                if wrap {
                    st.push("CAST(");
                }
                if let Some(rep) = &field.rep {
                    st.push(rep).push("(");
                }
                field_sql(st, table, field);
                if field.rep.is_some() {
                    st.push(")");
                }
                if let Some(c) = cast {
                    st.push(" AS ").push(c).push(")");
                }
                let name = alias.clone().unwrap_or_else(|| field.default_alias());
                if alias.is_some()
                    || !field.path.is_empty()
                    || wrap
                    || field.rep.is_some()
                    || field.computed.is_some()
                {
                    st.push(" AS ").ident(&name);
                }
            }
            SelectItem::Embed { .. } => {
                return Err(ApiError::new(
                    400,
                    "PGRST200",
                    "Resource embedding is not supported by supalite yet",
                ));
            }
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

/// `SELECT <columns> FROM <the JSON payload's rows> AS pgrst_body`: by the
/// table's row type, or with a domain's json cast applied to its columns.
pub(crate) fn body_select(
    st: &mut Statement,
    cache: &mut CacheLoader,
    (schema, table): (&str, &str),
    columns: &[String],
    payload: String,
) {
    let target = format!("{}.{}", quote_ident(schema), quote_ident(table));
    match &typed_columns(cache, schema, table, columns) {
        None => {
            st.push("SELECT ").push(&ident_list(columns));
            st.push(" FROM json_populate_recordset(NULL::")
                .push(&target)
                .push(", ");
            st.param(payload).push("::json) AS pgrst_body");
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
            st.push(" FROM json_to_recordset(")
                .param(payload)
                .push("::json) AS pgrst_body(");
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

pub(crate) fn where_clause(
    st: &mut Statement,
    table: &str,
    filters: &[Logic],
) -> Result<(), ApiError> {
    if filters.is_empty() {
        return Ok(());
    }
    st.push(" WHERE ");
    for (i, f) in filters.iter().enumerate() {
        if i > 0 {
            st.push(" AND ");
        }
        logic_sql(st, table, f);
    }
    Ok(())
}

pub(crate) fn logic_sql(st: &mut Statement, table: &str, l: &Logic) {
    logic_sql_in(st, table, l, &[])
}

/// [`logic_sql`] where `is.null`/`not.is.null` on an embed's name (one of
/// `embeds`: name and the SQL of its JSON value) tests the embed.
pub(crate) fn logic_sql_in(st: &mut Statement, table: &str, l: &Logic, embeds: &[(&str, String)]) {
    match l {
        Logic::Filter(f) => {
            if f.negated {
                st.push("NOT ");
            }
            let embed = match &f.operation {
                Operation::Is(grammar::IsValue::Null | grammar::IsValue::NotNull)
                    if f.field.path.is_empty() =>
                {
                    embeds.iter().find(|(n, _)| *n == f.field.name)
                }
                _ => None,
            };
            if let (Some((_, value)), Operation::Is(is)) = (embed, &f.operation) {
                st.push("(")
                    .push(value)
                    .push(if matches!(is, grammar::IsValue::Null) {
                        " IS NULL)"
                    } else {
                        " IS NOT NULL)"
                    });
                return;
            }
            st.push("(");
            let json_fts = match &f.operation {
                Operation::Fts {
                    on_json: true,
                    language,
                    ..
                } => Some(language),
                _ => None,
            };
            match json_fts {
                Some(language) => {
                    st.push("to_tsvector(");
                    if let Some(lang) = language {
                        st.param(lang.clone()).push("::regconfig, ");
                    }
                    field_sql(st, table, &f.field);
                    st.push(")");
                }
                None => field_sql(st, table, &f.field),
            }
            match &f.operation {
                Operation::Compare {
                    op,
                    quantifier,
                    value,
                } => {
                    st.push(" ").push(op).push(" ");
                    match (quantifier, &f.field.rep) {
                        (Some(q), _) => {
                            st.push(match q {
                                grammar::Quantifier::Any => "ANY(",
                                grammar::Quantifier::All => "ALL(",
                            });
                            st.param(value.clone()).push(")");
                        }
                        // A data representation: the value goes through
                        // the domain's text cast.
                        (None, Some(rep)) => {
                            st.push(rep).push("(").param(value.clone()).push("::text)");
                        }
                        (None, None) => {
                            st.param(value.clone());
                        }
                    }
                }
                Operation::In(items) => {
                    match &f.field.rep {
                        Some(rep) => st
                            .push(" = ANY(SELECT ")
                            .push(rep)
                            .push("(pgrst_v) FROM unnest(")
                            .param(sql::array_literal(items))
                            .push("::text[]) AS pgrst_v)"),
                        None => st
                            .push(" = ANY(")
                            .param(sql::array_literal(items))
                            .push(")"),
                    };
                }
                Operation::Is(v) => {
                    st.push(match v {
                        grammar::IsValue::Null => " IS NULL",
                        grammar::IsValue::NotNull => " IS NOT NULL",
                        grammar::IsValue::True => " IS TRUE",
                        grammar::IsValue::False => " IS FALSE",
                        grammar::IsValue::Unknown => " IS UNKNOWN",
                    });
                }
                Operation::Fts {
                    kind,
                    language,
                    value,
                    ..
                } => {
                    st.push(" @@ ").push(kind.function()).push("(");
                    if let Some(lang) = language {
                        st.param(lang.clone()).push("::regconfig, ");
                    }
                    st.param(value.clone()).push(")");
                }
            }
            st.push(")");
        }
        Logic::Tree {
            or,
            negated,
            children,
        } => {
            if *negated {
                st.push("NOT ");
            }
            st.push("(");
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    st.push(if *or { " OR " } else { " AND " });
                }
                logic_sql_in(st, table, c, embeds);
            }
            st.push(")");
        }
    }
}

/// ` DESC NULLS FIRST` etc.
pub(crate) fn order_suffix(st: &mut Statement, t: &OrderTerm) {
    match t.descending {
        Some(true) => {
            st.push(" DESC");
        }
        Some(false) => {
            st.push(" ASC");
        }
        None => {}
    }
    match t.nulls {
        Some(grammar::Nulls::First) => {
            st.push(" NULLS FIRST");
        }
        Some(grammar::Nulls::Last) => {
            st.push(" NULLS LAST");
        }
        None => {}
    }
}

pub(crate) fn limit_offset(st: &mut Statement, limit: Option<u64>, offset: Option<u64>) {
    if let Some(l) = limit {
        st.push(" LIMIT ").param(l.to_string()).push("::bigint");
    }
    if let Some(o) = offset {
        st.push(" OFFSET ").param(o.to_string()).push("::bigint");
    }
}
