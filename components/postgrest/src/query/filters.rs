//! SQL for the pieces a read is made of: columns and JSON paths, select
//! lists, filters and logic trees, order and paging.

use super::sql::{array_literal, Sql};
use crate::request::grammar::{self, Field, JsonKey, Logic, Operation, OrderTerm, SelectItem};

/// `"s"."t"."col"->$n...`
pub(crate) fn field_sql(st: &mut Sql, table: &str, f: &Field) {
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
            // Untyped, as PostgREST sends it: `->` on json/jsonb takes it
            // as text, and on anything else the error names `unknown`.
            JsonKey::Key(k) => {
                st.param(k.clone());
            }
            JsonKey::Index(i) => {
                st.param(i.to_string()).push("::int");
            }
        }
    }
}

/// One selected column. An aggregate is applied here (`sum(col)`), or —
/// in a to-one spread whose aggregates its parent applies (`hoisted`) —
/// only its input is selected, under the name the parent aggregates.
pub(crate) fn select_item(st: &mut Sql, table: &str, item: &SelectItem, hoisted: bool) {
    let SelectItem::Column {
        field,
        alias,
        cast,
        aggregate,
    } = item
    else {
        st.push(table).push(".*");
        return;
    };
    let input = |st: &mut Sql| {
        if cast.is_some() {
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
    };
    if let Some(a) = aggregate {
        let key = item.output_name().unwrap_or_default();
        match (hoisted, field.name.as_str()) {
            // A spread's row counts where it exists.
            (true, "*") => st.push("1"),
            (true, _) => {
                input(st);
                st
            }
            (false, name) => {
                if a.cast.is_some() {
                    st.push("CAST(");
                }
                st.push(a.function.name()).push("(");
                if name == "*" {
                    st.push("*");
                } else {
                    input(st);
                }
                st.push(")");
                if let Some(c) = &a.cast {
                    st.push(" AS ").push(c).push(")");
                }
                st
            }
        }
        .push(" AS ")
        .ident(&key);
        return;
    }
    input(st);
    if alias.is_some()
        || !field.path.is_empty()
        || cast.is_some()
        || field.rep.is_some()
        || field.computed.is_some()
    {
        st.push(" AS ")
            .ident(&item.output_name().unwrap_or_default());
    }
}

pub(crate) fn where_clause(st: &mut Sql, table: &str, filters: &[Logic]) {
    for (i, f) in filters.iter().enumerate() {
        st.push(if i == 0 { " WHERE " } else { " AND " });
        logic_sql(st, table, f);
    }
}

pub(crate) fn logic_sql(st: &mut Sql, table: &str, l: &Logic) {
    logic_sql_in(st, table, l, &[])
}

/// How `rel=is.null` / `rel=not.is.null` tests an embedded resource.
pub(crate) enum EmbedTest {
    /// The SQL of its value (JSON, or a spread's row count), NULL when empty.
    Value(String),
    /// Its rows' query: `NOT EXISTS (…)` / `EXISTS (…)` (the count query).
    Rows(Sql),
    /// A to-one embed's joined row (NULL when there is none).
    Row(String),
}

/// [`logic_sql`] where `is.null`/`not.is.null` on an embed's name (one of
/// `embeds`) tests the embed.
pub(crate) fn logic_sql_in(st: &mut Sql, table: &str, l: &Logic, embeds: &[(&str, EmbedTest)]) {
    match l {
        Logic::Filter(f) => {
            let embed = match &f.operation {
                Operation::Is(grammar::IsValue::Null | grammar::IsValue::NotNull)
                    if f.field.path.is_empty() =>
                {
                    embeds.iter().find(|(n, _)| *n == f.field.name)
                }
                _ => None,
            };
            if let (Some((_, test)), Operation::Is(is)) = (embed, &f.operation) {
                // `not.is.null` as `EXISTS`, not `NOT (NOT EXISTS …)`: the
                // planner turns only the plain form into a semi-join.
                let null = matches!(is, grammar::IsValue::Null) != f.negated;
                match test {
                    EmbedTest::Value(value) => {
                        st.push("(").push(value).push(if null {
                            " IS NULL)"
                        } else {
                            " IS NOT NULL)"
                        });
                    }
                    EmbedTest::Row(row) => {
                        st.push("(").push(row).push(if null {
                            " IS NOT DISTINCT FROM NULL)"
                        } else {
                            " IS DISTINCT FROM NULL)"
                        });
                    }
                    EmbedTest::Rows(rows) => {
                        st.push(if null { "(NOT EXISTS (" } else { "(EXISTS (" })
                            .append(rows.clone())
                            .push("))");
                    }
                }
                return;
            }
            if f.negated {
                st.push("NOT ");
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
                        // the domain's text cast (not a like pattern).
                        (None, Some(rep)) if !matches!(*op, "LIKE" | "ILIKE") => {
                            st.push(rep).push("(").param(value.clone()).push("::text)");
                        }
                        (None, _) => {
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
                            .param(array_literal(items))
                            .push("::text[]) AS pgrst_v)"),
                        None => st.push(" = ANY(").param(array_literal(items)).push(")"),
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
pub(crate) fn order_suffix(st: &mut Sql, t: &OrderTerm) {
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

pub(crate) fn limit_offset(st: &mut Sql, limit: Option<u64>, offset: Option<u64>) {
    if let Some(l) = limit {
        st.push(" LIMIT ").param(l.to_string()).push("::bigint");
    }
    if let Some(o) = offset {
        st.push(" OFFSET ").param(o.to_string()).push("::bigint");
    }
}
