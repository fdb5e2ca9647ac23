//! Read plans, PostgREST's `ReadPlanTree`: the root resource and its
//! embedded resources (resource embedding, relationships from
//! [`crate::schema::rels`]), each rendered by the query stage as a lateral
//! subquery so the whole response is still one statement; and what the
//! tree takes from the schema cache (JSON paths, data representations,
//! computed columns, aggregates).

use super::{CacheLoader, Total};
use crate::config::Config;
use crate::error::ApiError;
use crate::request::grammar::{Aggregate, Field, Logic, OrderTerm, SelectItem};
use crate::request::params::{EmbedParam, QueryParams};
use crate::request::prefs::Count;
use crate::request::ApiRequest;
use crate::schema::{SchemaCache, Table};
use contract::sql::quote_ident;

/// A read: the embed tree, and how to count.
pub struct ReadPlan {
    pub root: Node,
    /// `count=planned|estimated`: the planner's estimate (an EXPLAIN first).
    pub explain: bool,
    /// An exact count (up to the cap, for `estimated` with `db-max-rows`).
    pub count: Option<Option<u64>>,
    /// Where the answer's total comes from.
    pub total: Total,
}

/// Plans a read of the request's table or view.
pub(crate) fn plan(
    cfg: &Config,
    api: &mut ApiRequest,
    cache: &mut CacheLoader,
) -> Result<ReadPlan, ApiError> {
    let count = api.prefs.count;
    let root = root(
        &api.schema,
        &api.name,
        &mut api.query,
        api.json_paths,
        cfg.aggregates_enabled,
        cache,
    )?;
    // planned: the planner's row estimate (EXPLAIN, run first in the same
    // transaction); estimated: exact up to db-max-rows, the planner's
    // estimate beyond.
    let cap = match count {
        Some(Count::Exact) => None,
        Some(Count::Estimated) => cfg.max_rows.map(|m| m + 1),
        _ => Some(0),
    };
    Ok(ReadPlan {
        root,
        explain: matches!(count, Some(Count::Planned | Count::Estimated)),
        count: (count.is_some() && cap != Some(0)).then_some(cap),
        total: match count {
            Some(Count::Planned) => Total::Planned,
            Some(Count::Estimated) => Total::Estimated {
                max_rows: cfg.max_rows,
            },
            _ => Total::Exact,
        },
    })
}

/// The tree of the query's `select` on `schema.table`, with the query's
/// filters, order and paging, marked from the schema cache: a read's, or
/// that of a function's rows.
pub(crate) fn root(
    schema: &str,
    table: &str,
    q: &mut QueryParams,
    json_paths: bool,
    aggregates: bool,
    cache: &mut CacheLoader,
) -> Result<Node, ApiError> {
    let mut root = Node::build(schema, table, &q.select, cache, 0)?;
    root.take_query(q)?;
    mark_from_cache(&mut root, json_paths, aggregates, cache)?;
    Ok(root)
}

/// What a read tree takes from the schema cache: JSON paths on non-JSON
/// columns, and data representations (when the database declares any).
pub(crate) fn mark_from_cache(
    root: &mut Node,
    json_paths: bool,
    aggregates: bool,
    cache: &mut CacheLoader,
) -> Result<(), ApiError> {
    if json_paths {
        root.mark_json_paths(&*cache()?);
    }
    // Without a schema cache (the database is unreachable) the statement
    // fails on its own; representations are not a reason to fail earlier.
    if let Ok(c) = cache() {
        if !c.reps.is_empty() {
            root.apply_reps(&c);
        }
        root.mark_computed(&c);
        root.plan_aggregates(&c, aggregates)?;
    } else if !aggregates {
        root.plan_aggregates(&SchemaCache::default(), false)?;
    }
    Ok(())
}

/// Column pairs joining a child to its parent: (child column, parent column).
type Pairs = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Rel {
    /// Object (or null): many-to-one, or one-to-one.
    ToOne(Pairs),
    /// Array: one-to-many.
    ToMany(Pairs),
    /// Array through a junction table: (junction column, parent column) and
    /// (junction column, child column) pairs.
    ManyToMany {
        schema: String,
        table: String,
        to_parent: Pairs,
        to_child: Pairs,
    },
    /// Rows returned by `schema.function(parent row)`.
    Computed {
        schema: String,
        function: String,
        arg_schema: String,
        arg_table: String,
        to_one: bool,
    },
}

impl Rel {
    /// Embedded as an object (or null) rather than an array.
    pub fn to_one(&self) -> bool {
        matches!(self, Rel::ToOne(_) | Rel::Computed { to_one: true, .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Star,
    Column(SelectItem),
    /// The child at this index.
    Embed(usize),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub schema: String,
    pub table: String,
    pub alias: String,
    /// 0 for the root, 1 for its embedded resources, and so on.
    pub depth: usize,
    pub items: Vec<Item>,
    pub filters: Vec<Logic>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub children: Vec<Child>,
    /// A to-one spread: its aggregates are applied by the parent (only
    /// their inputs are selected here).
    pub passthrough: bool,
    /// Applies aggregates and groups by its other output columns.
    pub aggregating: bool,
}

#[derive(Debug, Clone)]
pub struct Child {
    /// The key in the parent's JSON (alias or relation name).
    pub name: String,
    pub rel: Rel,
    pub inner: bool,
    pub spread: bool,
    /// `rel()`: embedded for filtering only, not in the output.
    pub hidden: bool,
    /// The columns a to-many spread adds to its parent (each an array).
    pub spread_names: Vec<String>,
    /// The columns a to-one spread adds to an aggregating parent, with the
    /// aggregate the parent applies to each.
    pub hoisted: Vec<(String, Option<Aggregate>)>,
    pub node: Node,
}

/// A JSON path on a column that is not json/jsonb goes through
/// `to_jsonb()` (PostgreSQL has no `->` on arrays and composites), as on
/// one whose type is unknown (a function's `TABLE` result): as PostgREST.
pub(crate) fn mark_json_field(t: Option<&Table>, f: &mut Field) {
    if !f.path.is_empty() {
        f.to_jsonb = !t.is_some_and(|t| {
            t.columns
                .iter()
                .any(|c| c.name == f.name && (c.ty == "json" || c.ty == "jsonb"))
        });
    }
}

/// Filter values on a domain column with an implicit cast from text go
/// through that cast (PostgREST's data representations).
pub(crate) fn mark_filter_reps(t: &Table, cache: &SchemaCache, filters: &mut [Logic]) {
    for f in filters.iter_mut().flat_map(Logic::filters_mut) {
        if f.field.path.is_empty() {
            f.field.rep = t
                .column(&f.field.name)
                .and_then(|c| cache.rep("text", &c.ty));
        }
    }
}

impl Node {
    /// Builds the tree for `items` on `schema.table`; embeds are resolved
    /// against the schema cache (loaded only when there are embeds).
    pub fn build(
        schema: &str,
        table: &str,
        items: &[SelectItem],
        cache: &mut CacheLoader,
        depth: usize,
    ) -> Result<Node, ApiError> {
        // As PostgREST names them (`addRels`): the root by its table's
        // name, an embedded resource by its table and depth
        // (`projects_1`), so PostgreSQL's errors name what PostgREST's do.
        let alias = if depth == 0 {
            table.to_string()
        } else {
            format!("{table}_{depth}")
        };
        let mut node = Node {
            schema: schema.into(),
            table: table.into(),
            alias,
            depth,
            items: Vec::new(),
            filters: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: None,
            children: Vec::new(),
            passthrough: false,
            aggregating: false,
        };
        for item in items {
            match item {
                SelectItem::Star => node.items.push(Item::Star),
                SelectItem::Column { .. } => node.items.push(Item::Column(item.clone())),
                SelectItem::Embed {
                    relation,
                    alias,
                    hints,
                    spread,
                    items,
                } => {
                    let cache = cache()?;
                    let inner = hints.iter().any(|h| h == "inner");
                    let hints: Vec<&String> = hints
                        .iter()
                        .filter(|h| *h != "inner" && *h != "left")
                        .collect();
                    if hints.len() > 1 {
                        return Err(ApiError::parse(
                            format!("failed to parse select parameter ({relation})"),
                            "only one relationship hint is allowed",
                        ));
                    }
                    let (rel, cschema, ctable) = resolve(
                        &cache,
                        schema,
                        table,
                        relation,
                        hints.first().map(|h| h.as_str()),
                    )?;
                    let mut child =
                        Node::build(&cschema, &ctable, items, &mut || Ok(cache.clone()), depth + 1)?;
                    child.passthrough = *spread && rel.to_one();
                    // A to-many spread shows each of its columns as an array.
                    let spread_names = if *spread && !rel.to_one() {
                        child.output_names(&cache)
                    } else {
                        Vec::new()
                    };
                    node.children.push(Child {
                        name: alias.clone().unwrap_or_else(|| relation.clone()),
                        rel,
                        inner,
                        spread: *spread,
                        // `rel()`, or only such embeds inside: no output.
                        hidden: items.iter().all(|i| matches!(i, SelectItem::Embed { .. }))
                            && child.children.iter().all(|c| c.hidden),
                        spread_names,
                        hoisted: Vec::new(),
                        node: child,
                    });
                    node.items.push(Item::Embed(node.children.len() - 1));
                }
            }
        }
        if node.items.is_empty() {
            node.items.push(Item::Star);
        }
        Ok(node)
    }

    /// Data representations: columns of a domain with an implicit cast to
    /// json are shown through it (`*` is spelled out for that), and filter
    /// values on a domain with a cast from text go through that cast.
    pub fn apply_reps(&mut self, cache: &SchemaCache) {
        if let Some(t) = cache.table(&self.schema, &self.table) {
            let shown = |name: &str| t.column(name).and_then(|c| cache.rep(&c.ty, "json"));
            if self.items.iter().any(|i| matches!(i, Item::Star))
                && t.columns.iter().any(|c| shown(&c.name).is_some())
            {
                self.spell_out_star(t);
            }
            for item in &mut self.items {
                if let Item::Column(SelectItem::Column { field, .. }) = item {
                    if field.path.is_empty() {
                        field.rep = shown(&field.name);
                    }
                }
            }
            mark_filter_reps(t, cache, &mut self.filters);
        }
        for c in &mut self.children {
            c.node.apply_reps(cache);
        }
    }

    /// Computed columns: a name that is no column of the table but a
    /// function of its row (`schema.name(table)`), as PostgREST.
    pub fn mark_computed(&mut self, cache: &SchemaCache) {
        if let Some(t) = cache.table(&self.schema, &self.table) {
            let computed = |name: &str| -> Option<(String, String)> {
                if t.column(name).is_some() {
                    return None;
                }
                let qualified = format!("{}.{}", self.schema, self.table);
                cache
                    .functions(&self.schema, name)
                    .find(|f| {
                        matches!(f.params().as_slice(), [p] if p.ty == self.table || p.ty == qualified
                            || p.ty == format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table)))
                    })
                    .map(|f| {
                        (
                            format!("{}.{}", quote_ident(&f.schema), quote_ident(&f.name)),
                            format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table)),
                        )
                    })
            };
            for item in &mut self.items {
                if let Item::Column(SelectItem::Column { field, .. }) = item {
                    field.computed = computed(&field.name);
                }
            }
            for f in self.filters.iter_mut().flat_map(Logic::filters_mut) {
                f.field.computed = computed(&f.field.name);
            }
            for o in self.order.iter_mut().filter(|o| o.relation.is_none()) {
                o.field.computed = computed(&o.field.name);
            }
        }
        for c in &mut self.children {
            c.node.mark_computed(cache);
        }
    }

    /// The keys this node's rows have in the output.
    pub fn output_names(&self, cache: &SchemaCache) -> Vec<String> {
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Star => {
                    if let Some(t) = cache.table(&self.schema, &self.table) {
                        out.extend(t.columns.iter().map(|c| c.name.clone()));
                    }
                }
                Item::Column(c @ SelectItem::Column { .. }) => out.extend(c.output_name()),
                Item::Column(_) => {}
                Item::Embed(i) => {
                    let c = &self.children[*i];
                    if c.hidden {
                    } else if !c.spread {
                        out.push(c.name.clone());
                    } else if c.rel.to_one() {
                        out.extend(c.node.output_names(cache));
                    } else {
                        out.extend(c.spread_names.iter().cloned());
                    }
                }
            }
        }
        out
    }

    /// Marks JSON paths on columns that are not json/jsonb (arrays,
    /// composites) to go through `to_jsonb()`, in this node and below.
    pub fn mark_json_paths(&mut self, cache: &SchemaCache) {
        let t = cache.table(&self.schema, &self.table);
        let mark = |f: &mut Field| mark_json_field(t, f);
        for item in &mut self.items {
            if let Item::Column(SelectItem::Column { field, .. }) = item {
                mark(field);
            }
        }
        for f in self.filters.iter_mut().flat_map(Logic::filters_mut) {
            mark(&mut f.field);
        }
        for o in self.order.iter_mut().filter(|o| o.relation.is_none()) {
            mark(&mut o.field);
        }
        for c in &mut self.children {
            c.node.mark_json_paths(cache);
        }
    }

    /// Takes the query's filters, order and paging onto this (root) node.
    pub(crate) fn take_query(&mut self, q: &mut QueryParams) -> Result<(), ApiError> {
        self.filters = std::mem::take(&mut q.filters);
        self.order = std::mem::take(&mut q.order);
        self.limit = q.limit;
        self.offset = q.offset;
        self.take_embedded(q)
    }

    /// `rel.col=…`, `rel.order=…`, `rel.limit=…` onto the embedded nodes.
    pub(crate) fn take_embedded(&mut self, q: &mut QueryParams) -> Result<(), ApiError> {
        let root = self;
        for (path, param) in std::mem::take(&mut q.embedded) {
            let missing = (1..=path.len())
                .find(|n| root.find_mut(&path[..*n]).is_none())
                .map(|n| path[n - 1].clone());
            let node = root.find_mut(&path).ok_or_else(|| {
                ApiError::not_embedded(&missing.unwrap_or_else(|| path.join(".")))
            })?;
            match param {
                EmbedParam::Filter(f) => node.filters.push(f),
                EmbedParam::Order(o) => node.order = o,
                EmbedParam::Limit(l) => node.limit = Some(l),
                EmbedParam::Offset(o) => node.offset = Some(o),
            }
        }
        Ok(())
    }

    /// Aggregates, as PostgREST plans them (`validateAggFunctions`):
    /// refused unless enabled (PGRST123) and on to-many spreads (PGRST127);
    /// a node with aggregates — its own, or those of its to-one spreads,
    /// which it applies itself — groups by its other output columns, `*`
    /// spelled out. `count` without parentheses is no aggregate function
    /// but a column (`pFieldSelect`): `"alias"."count"`, which PostgreSQL
    /// reads as `count(alias)` when the table has no such column —
    /// PostgREST's old form, allowed whatever the setting.
    pub fn plan_aggregates(&mut self, cache: &SchemaCache, enabled: bool) -> Result<(), ApiError> {
        let table = cache.table(&self.schema, &self.table);
        let own = self.items.iter().any(|i| {
            matches!(
                i,
                Item::Column(SelectItem::Column {
                    aggregate: Some(_),
                    ..
                })
            )
        });
        if own && !enabled {
            return Err(ApiError::new(
                400,
                "PGRST123",
                "Use of aggregate functions is not allowed",
            ));
        }
        for c in &mut self.children {
            c.node.plan_aggregates(cache, enabled)?;
            if c.spread && !c.rel.to_one() && c.node.has_aggregates() {
                return Err(
                    ApiError::new(400, "PGRST127", "Feature not implemented").details(
                        "Aggregates are not implemented for one-to-many or many-to-many spreads.",
                    ),
                );
            }
        }
        let hoisting = self.children.iter().any(|c| {
            c.spread && c.rel.to_one() && c.node.exposed(cache).iter().any(|(_, a)| a.is_some())
        });
        self.aggregating = !self.passthrough && (own || hoisting);
        if self.aggregating {
            for c in self
                .children
                .iter_mut()
                .filter(|c| c.spread && c.rel.to_one())
            {
                c.hoisted = c.node.exposed(cache);
            }
            if let Some(t) = table {
                self.spell_out_star(t);
            }
        }
        Ok(())
    }

    /// `*` as the table's columns, one by one.
    fn spell_out_star(&mut self, t: &Table) {
        let columns: Vec<Item> = t
            .columns
            .iter()
            .map(|c| {
                Item::Column(SelectItem::Column {
                    field: Field::plain(&c.name),
                    alias: None,
                    cast: None,
                    aggregate: None,
                })
            })
            .collect();
        self.items = std::mem::take(&mut self.items)
            .into_iter()
            .flat_map(|i| match i {
                Item::Star => columns.clone(),
                other => vec![other],
            })
            .collect();
    }

    fn has_aggregates(&self) -> bool {
        self.items.iter().any(|i| {
            matches!(
                i,
                Item::Column(SelectItem::Column {
                    aggregate: Some(_),
                    ..
                })
            )
        }) || self.children.iter().any(|c| c.node.has_aggregates())
    }

    /// The columns this node's rows show its parent, with their aggregates
    /// (through nested to-one spreads).
    fn exposed(&self, cache: &SchemaCache) -> Vec<(String, Option<Aggregate>)> {
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Star => {
                    if let Some(t) = cache.table(&self.schema, &self.table) {
                        out.extend(t.columns.iter().map(|c| (c.name.clone(), None)));
                    }
                }
                Item::Column(c @ SelectItem::Column { aggregate, .. }) => {
                    out.extend(c.output_name().map(|name| (name, aggregate.clone())));
                }
                Item::Column(_) => {}
                Item::Embed(i) => {
                    let c = &self.children[*i];
                    if c.hidden {
                    } else if !c.spread {
                        out.push((c.name.clone(), None));
                    } else if c.rel.to_one() {
                        out.extend(c.node.exposed(cache));
                    } else {
                        out.extend(c.spread_names.iter().map(|n| (n.clone(), None)));
                    }
                }
            }
        }
        out
    }

    /// The node at an embed path (`["author", "country"]`), by output name.
    pub fn find_mut(&mut self, path: &[String]) -> Option<&mut Node> {
        match path.split_first() {
            None => Some(self),
            Some((head, rest)) => self
                .children
                .iter_mut()
                .find(|c| &c.name == head || c.node.table == *head)
                .and_then(|c| c.node.find_mut(rest)),
        }
    }
}

/// Finds the relationship `parent` → `name` (PostgREST's rules, see
/// [`crate::schema::rels::find`]) and how to join it.
pub fn resolve(
    cache: &SchemaCache,
    schema: &str,
    parent: &str,
    name: &str,
    hint: Option<&str>,
) -> Result<(Rel, String, String), ApiError> {
    use crate::schema::rels::{self, Cardinality, Cols, QName, Relationship};
    // Embedding starts from a table the schema cache has (partitions are
    // not in it): PGRST205 otherwise, as PostgREST.
    cache.table_or_error(schema, parent)?;
    let from_parent = cache
        .rels
        .get(&QName::new(schema, parent))
        .map_or(&[][..], Vec::as_slice);
    let r = rels::find(from_parent, &cache.rel_origins, schema, parent, name, hint)?;
    let swap = |c: &Cols| -> Pairs { c.iter().map(|(a, b)| (b.clone(), a.clone())).collect() };
    let rel = match r {
        Relationship::Computed {
            function,
            table,
            to_one,
            ..
        } => Rel::Computed {
            schema: function.schema.clone(),
            function: function.name.clone(),
            arg_schema: table.schema.clone(),
            arg_table: table.name.clone(),
            to_one: *to_one,
        },
        Relationship::Fk { card, .. } => match card {
            Cardinality::M2O { cols, .. } | Cardinality::O2O { cols, .. } => Rel::ToOne(swap(cols)),
            Cardinality::O2M { cols, .. } => Rel::ToMany(swap(cols)),
            Cardinality::M2M(j) => Rel::ManyToMany {
                schema: j.table.schema.clone(),
                table: j.table.name.clone(),
                to_parent: swap(&j.cols_source),
                to_child: swap(&j.cols_target),
            },
        },
    };
    let f = r.ftable();
    Ok((rel, f.schema.clone(), f.name.clone()))
}
