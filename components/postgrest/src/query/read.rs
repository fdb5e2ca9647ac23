//! A read tree as SQL: each node a `SELECT`, each embedded resource a
//! lateral subquery (a to-many one aggregated to JSON, a to-one one joined
//! as its row), so the whole answer is one statement; and PostgREST's count
//! query for the same tree.

use super::filters::{field_sql, limit_offset, logic_sql_in, order_suffix, select_item, EmbedTest};
use super::sql::{quote_ident, Sql};
use crate::error::ApiError;
use crate::plan::read::{Child, Item, Node, Rel};
use crate::request::grammar::SelectItem;

/// Where a node's rows come from.
pub enum Source<'a> {
    /// Its table.
    Table,
    /// A CTE (mutations: `pgrst_source`).
    Cte(&'a str),
    /// A function call (RPC), rendered by the closure.
    Call(&'a dyn Fn(&mut Sql)),
}

impl Node {
    fn qualifier(&self) -> String {
        quote_ident(&self.alias)
    }

    /// The alias of an embedded resource's lateral subquery, as PostgREST
    /// names it (`relAggAlias`): this table, the embed's name (its alias
    /// or relation) and its depth — the same relation embedded twice
    /// without aliases is PostgreSQL's 42712, as in PostgREST.
    fn lateral(&self, c: &Child) -> String {
        quote_ident(&format!("{}_{}_{}", self.table, c.name, c.node.depth))
    }

    /// Renders `SELECT ... FROM ... WHERE ...` for this node. `parent` is the
    /// parent's alias and the relationship, for embedded nodes.
    pub fn render(
        &self,
        st: &mut Sql,
        source: &Source,
        parent: Option<(&str, &Rel)>,
        paging: bool,
    ) -> Result<(), ApiError> {
        let q = self.qualifier();
        let columns = self.select_list(&q);
        // By position: `GROUP BY 1, 3` (the expressions may hold parameters).
        let group_by: Vec<String> = columns
            .iter()
            .enumerate()
            .filter(|(_, (_, grouped))| *grouped)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        st.push("SELECT ");
        for (i, (col, _)) in columns.into_iter().enumerate() {
            if i > 0 {
                st.push(", ");
            }
            st.append(col);
        }
        st.push(" FROM ");
        let mut conditions = self.render_from(st, source, parent, true);
        self.render_embeds(st, &mut conditions)?;
        let mut first = true;
        for cond in &conditions {
            st.push(if first { " WHERE " } else { " AND " });
            first = false;
            st.push(cond);
        }
        let embeds = self.embed_tests();
        for f in &self.filters {
            st.push(if first { " WHERE " } else { " AND " });
            first = false;
            logic_sql_in(st, &q, f, &embeds);
        }
        if self.aggregating && !group_by.is_empty() {
            st.push(" GROUP BY ").push(&group_by.join(", "));
        }
        self.render_order(st, &q)?;
        if paging {
            limit_offset(st, self.limit, self.offset);
        }
        Ok(())
    }

    /// Each output column (`q` is this node's qualifier), and whether an
    /// aggregating node groups by it.
    fn select_list(&self, q: &str) -> Vec<(Sql, bool)> {
        let mut columns: Vec<(Sql, bool)> = Vec::new();
        let shown = self.items.iter().filter(|item| match item {
            Item::Embed(i) => {
                let c = &self.children[*i];
                !c.hidden && (!c.spread || c.rel.to_one() || !c.spread_names.is_empty())
            }
            _ => true,
        });
        for item in shown {
            match item {
                Item::Star => columns.push((Sql::new(&format!("{q}.*")), true)),
                Item::Column(c) => {
                    let mut col = Sql::default();
                    select_item(&mut col, q, c, self.passthrough);
                    let aggregate = matches!(
                        c,
                        SelectItem::Column {
                            aggregate: Some(_),
                            ..
                        }
                    );
                    columns.push((col, !aggregate));
                }
                Item::Embed(i) => {
                    let c = &self.children[*i];
                    let e = self.lateral(c);
                    if c.spread && c.rel.to_one() && self.aggregating {
                        // The spread's columns one by one: its aggregates
                        // applied here, the others grouped by.
                        for (name, aggregate) in &c.hoisted {
                            let n = quote_ident(name);
                            let col = match aggregate {
                                Some(a) => {
                                    let call = format!("{}({e}.{n})", a.function.name());
                                    match &a.cast {
                                        Some(t) => format!("CAST({call} AS {t}) AS {n}"),
                                        None => format!("{call} AS {n}"),
                                    }
                                }
                                None => format!("{e}.{n}"),
                            };
                            columns.push((Sql::new(&col), aggregate.is_none()));
                        }
                    } else if c.spread && c.rel.to_one() {
                        columns.push((Sql::new(&format!("{e}.*")), true));
                    } else if c.spread {
                        for n in &c.spread_names {
                            columns.push((Sql::new(&format!("{e}.{}", quote_ident(n))), true));
                        }
                    } else {
                        let mut col = Sql::default();
                        match c.rel.to_one() {
                            true => col
                                .push("row_to_json(")
                                .push(&e)
                                .push(".*)::jsonb AS ")
                                .ident(&c.name),
                            false => col
                                .push("COALESCE(")
                                .push(&e)
                                .push(".\"v\", '[]'::jsonb) AS ")
                                .ident(&c.name),
                        };
                        columns.push((col, true));
                    }
                }
            }
        }
        columns
    }

    /// Each embedded resource as a lateral subquery joined to this node's
    /// rows; an `!inner` to-many one adds its condition to `conditions`.
    fn render_embeds(&self, st: &mut Sql, conditions: &mut Vec<String>) -> Result<(), ApiError> {
        for c in &self.children {
            // The lateral and the rows it aggregates go by the same name,
            // as in PostgREST's statement.
            let e = self.lateral(c);
            let r = e.clone();
            let to_many = !c.rel.to_one();
            st.push(if c.inner && !to_many {
                " INNER JOIN LATERAL ("
            } else {
                " LEFT JOIN LATERAL ("
            });
            if !to_many {
                // A to-one embed joins its row as it is (PostgREST's form:
                // the planner can flatten it into a plain join).
                c.node
                    .render(st, &Source::Table, Some((&self.alias, &c.rel)), true)?;
            } else if c.spread {
                // Each column aggregated into an array; `pgrst_n` counts rows
                // for `!inner` and `rel=is.null`.
                st.push("SELECT ");
                for n in &c.spread_names {
                    let n = quote_ident(n);
                    st.push(&format!(
                        "COALESCE(jsonb_agg({r}.{n}), '[]'::jsonb) AS {n}, "
                    ));
                }
                st.push("count(*) AS \"pgrst_n\" FROM (");
                c.node
                    .render(st, &Source::Table, Some((&self.alias, &c.rel)), true)?;
                st.push(") AS ").push(&r);
            } else {
                st.push("SELECT json_agg(");
                st.push(&r).push(")::jsonb AS \"v\" FROM (");
                c.node
                    .render(st, &Source::Table, Some((&self.alias, &c.rel)), true)?;
                st.push(") AS ").push(&r);
            }
            st.push(") AS ").push(&e).push(" ON TRUE");
            if c.inner && to_many && c.spread {
                conditions.push(format!("{e}.\"pgrst_n\" > 0"));
            } else if c.inner && to_many {
                conditions.push(format!("{e}.\"v\" IS NOT NULL"));
            }
        }
        Ok(())
    }

    /// What `rel=is.null` / `rel=not.is.null` test: the embedded resource
    /// itself, by its output name.
    fn embed_tests(&self) -> Vec<(&str, EmbedTest)> {
        self.children
            .iter()
            .filter(|c| !c.spread || !c.rel.to_one())
            .map(|c| {
                let e = self.lateral(c);
                let test = if c.rel.to_one() {
                    EmbedTest::Row(e)
                } else if c.spread {
                    EmbedTest::Value(format!("NULLIF({e}.\"pgrst_n\", 0)"))
                } else {
                    EmbedTest::Value(format!("{e}.\"v\""))
                };
                (c.name.as_str(), test)
            })
            .collect()
    }

    /// `ORDER BY`: this node's columns, or those of an embedded to-one row.
    fn render_order(&self, st: &mut Sql, q: &str) -> Result<(), ApiError> {
        if !self.order.is_empty() {
            st.push(" ORDER BY ");
            for (i, t) in self.order.iter().enumerate() {
                if i > 0 {
                    st.push(", ");
                }
                match &t.relation {
                    Some(rel) => {
                        let c = self
                            .children
                            .iter()
                            .find(|c| &c.name == rel || &c.node.table == rel)
                            .ok_or_else(|| ApiError::not_embedded(rel))?;
                        if !c.rel.to_one() {
                            return Err(ApiError::new(
                                400,
                                "PGRST118",
                                format!("A related order on '{rel}' is not possible"),
                            )
                            .details(format!(
                                "'{}' and '{rel}' do not form a many-to-one or one-to-one relationship",
                                self.table
                            )));
                        }
                        // The embedded row's own column (and JSON path).
                        field_sql(st, &self.lateral(c), &t.field);
                    }
                    None => field_sql(st, q, &t.field),
                }
                order_suffix(st, t);
            }
        }
        Ok(())
    }

    /// `<source> AS alias` and the conditions relating the rows to
    /// `parent`. A many-to-many junction is joined `INNER JOIN … ON`
    /// (`junction_on`), or listed after a comma with its conditions among
    /// the others, as PostgREST's count query does.
    fn render_from(
        &self,
        st: &mut Sql,
        source: &Source,
        parent: Option<(&str, &Rel)>,
        junction_on: bool,
    ) -> Vec<String> {
        let q = self.qualifier();
        match source {
            Source::Table => match parent {
                Some((
                    parent_alias,
                    Rel::Computed {
                        schema,
                        function,
                        arg_schema,
                        arg_table,
                        ..
                    },
                )) => {
                    st.ident(schema)
                        .push(".")
                        .ident(function)
                        .push("(")
                        .ident(parent_alias)
                        .push("::")
                        .ident(arg_schema)
                        .push(".")
                        .ident(arg_table)
                        .push(")");
                }
                _ => {
                    st.ident(&self.schema).push(".").ident(&self.table);
                }
            },
            Source::Cte(name) => {
                st.ident(name);
            }
            Source::Call(call) => call(st),
        }
        st.push(" AS ").push(&q);
        // Join conditions are identifiers only (no parameters): plain text.
        let eq = |l: &str, lc: &str, r: &str, rc: &str| {
            format!("{l}.{} = {r}.{}", quote_ident(lc), quote_ident(rc))
        };
        let mut conditions: Vec<String> = Vec::new();
        if let Some((parent_alias, rel)) = parent {
            let pq = quote_ident(parent_alias);
            match rel {
                Rel::ToOne(pairs) | Rel::ToMany(pairs) => {
                    conditions.extend(pairs.iter().map(|(c, p)| eq(&q, c, &pq, p)));
                }
                // The function call itself relates the rows.
                Rel::Computed { .. } => {}
                Rel::ManyToMany {
                    schema,
                    table,
                    to_parent,
                    to_child,
                } => {
                    let j = quote_ident(&format!("{}_j", self.alias));
                    let on: Vec<String> =
                        to_child.iter().map(|(jc, cc)| eq(&j, jc, &q, cc)).collect();
                    st.push(if junction_on { " INNER JOIN " } else { ", " })
                        .ident(schema)
                        .push(".")
                        .ident(table)
                        .push(" AS ")
                        .push(&j);
                    if junction_on {
                        st.push(" ON ").push(&on.join(" AND "));
                    } else {
                        conditions.extend(on);
                    }
                    conditions.extend(to_parent.iter().map(|(jc, pc)| eq(&j, jc, &pq, pc)));
                }
            }
        }
        conditions
    }

    /// PostgREST's count query (`readPlanToCountQuery`): `SELECT 1 FROM`
    /// the node's rows `WHERE` its filters (`rel=is.null` as `NOT EXISTS`
    /// of the embed's own count query), its join conditions and `EXISTS`
    /// for each `!inner` embed — the rows a read returns before paging,
    /// without building any JSON. Its `EXPLAIN` is the planned count.
    pub fn render_count(&self, st: &mut Sql, parent: Option<(&str, &Rel)>) -> Result<(), ApiError> {
        let q = self.qualifier();
        st.push("SELECT 1 FROM ");
        let joins = self.render_from(st, &Source::Table, parent, false);
        let mut embeds: Vec<(&str, EmbedTest)> = Vec::new();
        let mut inner: Vec<Sql> = Vec::new();
        for c in &self.children {
            let mut rows = Sql::default();
            c.node
                .render_count(&mut rows, Some((&self.alias, &c.rel)))?;
            if c.inner {
                inner.push(rows.clone());
            }
            if !c.spread || !c.rel.to_one() {
                embeds.push((c.name.as_str(), EmbedTest::Rows(rows)));
            }
        }
        let mut first = true;
        let mut and = |st: &mut Sql| {
            st.push(if first { " WHERE " } else { " AND " });
            first = false;
        };
        for f in &self.filters {
            and(st);
            logic_sql_in(st, &q, f, &embeds);
        }
        for j in &joins {
            and(st);
            st.push(j);
        }
        for rows in inner {
            and(st);
            st.push("EXISTS (").append(rows).push(")");
        }
        Ok(())
    }
}
