//! Relationships as PostgREST finds them: foreign keys between tables, the
//! same keys seen through views (column lineage read from each view's query
//! tree), many-to-many through junction tables, and computed relationships
//! (functions of a row returning rows). [`find`] picks the one an embed names.

use crate::error::ApiError;
use crate::schema::{Function, Key, Table, ViewDef};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A schema-qualified name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QName {
    pub schema: String,
    pub name: String,
}

impl QName {
    pub fn new(schema: &str, name: &str) -> Self {
        QName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

/// Column pairs: (column of `table`, column of `ftable`).
pub type Cols = Vec<(String, String)>;

/// Variants and fields in PostgREST's order, so sorting lists candidates as
/// PostgREST does in its PGRST201 details.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cardinality {
    O2M {
        cons: String,
        cols: Cols,
    },
    M2O {
        cons: String,
        cols: Cols,
    },
    O2O {
        cons: String,
        cols: Cols,
        is_parent: bool,
    },
    M2M(Junction),
}

impl Cardinality {
    /// The side holding the key: many-to-one, or one-to-one when the key
    /// is also unique.
    fn to_one(cons: String, cols: Cols, one_to_one: bool) -> Self {
        if one_to_one {
            Cardinality::O2O {
                cons,
                cols,
                is_parent: false,
            }
        } else {
            Cardinality::M2O { cons, cols }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Junction {
    pub table: QName,
    pub cons1: String,
    pub cons2: String,
    /// (column of the origin, junction column).
    pub cols_source: Cols,
    /// (column of the target, junction column).
    pub cols_target: Cols,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relationship {
    Fk {
        table: QName,
        ftable: QName,
        is_self: bool,
        card: Cardinality,
        table_is_view: bool,
        ftable_is_view: bool,
    },
    Computed {
        function: QName,
        table: QName,
        ftable: QName,
        to_one: bool,
    },
}

impl Relationship {
    pub fn table(&self) -> &QName {
        match self {
            Relationship::Fk { table, .. } | Relationship::Computed { table, .. } => table,
        }
    }

    pub fn ftable(&self) -> &QName {
        match self {
            Relationship::Fk { ftable, .. } | Relationship::Computed { ftable, .. } => ftable,
        }
    }

    /// The schema an embed must be requested in to find this relationship.
    fn key_schema(&self) -> &str {
        match self {
            Relationship::Fk { ftable, .. } => &ftable.schema,
            Relationship::Computed { function, .. } => &function.schema,
        }
    }

    fn single_cols(&self) -> Option<&(String, String)> {
        match self {
            Relationship::Fk {
                card:
                    Cardinality::O2M { cols, .. }
                    | Cardinality::M2O { cols, .. }
                    | Cardinality::O2O { cols, .. },
                ..
            } if cols.len() == 1 => cols.first(),
            _ => None,
        }
    }

    fn cons(&self) -> Option<&str> {
        match self {
            Relationship::Fk {
                card:
                    Cardinality::O2M { cons, .. }
                    | Cardinality::M2O { cons, .. }
                    | Cardinality::O2O { cons, .. },
                ..
            } => Some(cons),
            _ => None,
        }
    }

    /// PGRST201's description of this candidate.
    fn describe(&self) -> serde_json::Value {
        let Relationship::Fk {
            table,
            ftable,
            card,
            ..
        } = self
        else {
            return json!({});
        };
        let list = |cols: &mut dyn Iterator<Item = &String>| {
            format!(
                "({})",
                cols.map(String::as_str).collect::<Vec<_>>().join(", ")
            )
        };
        let (cardinality, relationship) = match card {
            Cardinality::M2M(j) => (
                "many-to-many",
                format!(
                    "{} using {}{} and {}{}",
                    j.table.name,
                    j.cons1,
                    list(&mut j.cols_source.iter().map(|c| &c.1)),
                    j.cons2,
                    list(&mut j.cols_target.iter().map(|c| &c.1))
                ),
            ),
            Cardinality::M2O { cons, cols }
            | Cardinality::O2O { cons, cols, .. }
            | Cardinality::O2M { cons, cols } => (
                match card {
                    Cardinality::M2O { .. } => "many-to-one",
                    Cardinality::O2O { .. } => "one-to-one",
                    _ => "one-to-many",
                },
                format!(
                    "{cons} using {}{} and {}{}",
                    table.name,
                    list(&mut cols.iter().map(|c| &c.0)),
                    ftable.name,
                    list(&mut cols.iter().map(|c| &c.1))
                ),
            ),
        };
        json!({
            "cardinality": cardinality,
            "embedding": format!("{} with {}", table.name, ftable.name),
            "relationship": relationship,
        })
    }

    /// The name PGRST201's hint suggests after `!`.
    fn hint_name(&self) -> &str {
        match self {
            Relationship::Fk {
                card: Cardinality::M2M(j),
                ..
            } => &j.table.name,
            Relationship::Fk { .. } => self.cons().unwrap_or_default(),
            Relationship::Computed { function, .. } => &function.name,
        }
    }
}

/// A view's columns that trace back to all the columns of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDep {
    pub table: QName,
    pub view: QName,
    pub cons: String,
    pub kind: DepKind,
    /// (table column, the view columns showing it), in key order.
    pub cols: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DepKind {
    /// The table's primary key.
    Pk,
    /// The columns of a foreign key.
    Fk,
    /// The columns a foreign key references.
    FkRef,
}

/// `(resno, resorigtbl, resorigcol)` of each entry in the target list of the
/// top-level query of a view's rule (`pg_rewrite.ev_action` as text).
/// `resorigtbl` is 0 for a column that is not a plain table column.
pub fn target_list(tree: &str) -> Vec<(i32, i64, i32)> {
    #[derive(PartialEq)]
    enum Expect {
        Nothing,
        TargetList,
        Field(usize),
    }
    let bytes = tree.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_list = false;
    let mut expect = Expect::Nothing;
    let mut entry = [0i64; 3];
    let mut i = 0;
    // Depth 1 is the rule's action list, 2 the query node, 3 its target
    // list, 4 one target entry.
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'(' => {
                depth += 1;
                if expect == Expect::TargetList && depth == 3 {
                    in_list = true;
                }
                if in_list && depth == 4 {
                    entry = [0; 3];
                }
                expect = Expect::Nothing;
                i += 1;
            }
            b'}' | b')' => {
                if in_list && depth == 4 {
                    out.push((entry[0] as i32, entry[1], entry[2] as i32));
                }
                if in_list && depth == 3 {
                    return out;
                }
                depth = depth.saturating_sub(1);
                expect = Expect::Nothing;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'{' | b'}' | b'(' | b')' => break,
                        c if c.is_ascii_whitespace() => break,
                        _ => i += 1,
                    }
                }
                // Bytes, not `str` slices: an escape may precede any byte.
                let token = &bytes[start..i.min(bytes.len())];
                match std::mem::replace(&mut expect, Expect::Nothing) {
                    Expect::Field(f) => {
                        entry[f] = std::str::from_utf8(token)
                            .ok()
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(0)
                    }
                    Expect::TargetList => return out, // `<>`: no columns
                    Expect::Nothing => {}
                }
                if depth == 2 && token == b":targetList" {
                    expect = Expect::TargetList;
                } else if in_list && depth == 4 {
                    expect = match token {
                        b":resno" => Expect::Field(0),
                        b":resorigtbl" => Expect::Field(1),
                        b":resorigcol" => Expect::Field(2),
                        _ => Expect::Nothing,
                    };
                }
            }
        }
    }
    out
}

/// Every (view, key) pair where the view shows all of the key's columns,
/// following views of views down to the tables.
pub fn view_key_deps(views: &[ViewDef], keys: &[Key]) -> Vec<KeyDep> {
    let targets: HashMap<i64, Vec<(i32, i64, i32)>> = views
        .iter()
        .map(|v| (v.oid, target_list(&v.definition)))
        .collect();
    // The table column a view column comes from, through views of views.
    let origin = |mut rel: i64, mut col: i32| -> Option<(i64, i32)> {
        for _ in 0..64 {
            match targets.get(&rel) {
                None => return Some((rel, col)),
                Some(list) => {
                    let e = list.iter().find(|e| e.0 == col)?;
                    if e.1 == 0 {
                        return None;
                    }
                    (rel, col) = (e.1, e.2);
                }
            }
        }
        None
    };
    let mut deps = Vec::new();
    for v in views {
        let mut refs: Vec<((i64, i32), Vec<String>)> = Vec::new();
        for &(resno, rel, col) in &targets[&v.oid] {
            if rel == 0 {
                continue;
            }
            let (Some(o), Some((_, name))) =
                (origin(rel, col), v.columns.iter().find(|c| c.0 == resno))
            else {
                continue;
            };
            match refs.iter_mut().find(|r| r.0 == o) {
                Some(r) => r.1.push(name.clone()),
                None => refs.push((o, vec![name.clone()])),
            }
        }
        if refs.is_empty() {
            continue;
        }
        let shown = |rel: i64, cols: &[(i32, String)]| -> Option<Vec<(String, Vec<String>)>> {
            cols.iter()
                .map(|(n, name)| {
                    refs.iter()
                        .find(|r| r.0 == (rel, *n))
                        .map(|r| (name.clone(), r.1.clone()))
                })
                .collect()
        };
        let view = QName::new(&v.schema, &v.name);
        for k in keys {
            let kind = if k.kind == "p" {
                DepKind::Pk
            } else {
                DepKind::Fk
            };
            if let Some(cols) = shown(k.rel, &k.columns) {
                deps.push(KeyDep {
                    table: QName::new(&k.schema, &k.table),
                    view: view.clone(),
                    cons: k.name.clone(),
                    kind,
                    cols,
                });
            }
            if let (Some(frel), Some(fs), Some(ft), Some(fc)) =
                (k.frel, &k.fschema, &k.ftable, &k.fcolumns)
            {
                if let Some(cols) = shown(frel, fc) {
                    deps.push(KeyDep {
                        table: QName::new(fs, ft),
                        view: view.clone(),
                        cons: k.name.clone(),
                        kind: DepKind::FkRef,
                        cols,
                    });
                }
            }
        }
    }
    deps
}

/// A view's primary key: the first view column showing each column of the
/// primary key of a table it selects from.
pub fn add_view_primary_keys(tables: &mut [Table], deps: &[KeyDep]) {
    for t in tables.iter_mut().filter(|t| t.kind == "v" || t.kind == "m") {
        t.pk = deps
            .iter()
            .filter(|d| d.kind == DepKind::Pk && d.view.schema == t.schema && d.view.name == t.name)
            .flat_map(|d| d.cols.iter().filter_map(|(_, v)| v.first().cloned()))
            .collect();
    }
}

/// Most ways one key may be shown by one view (columns shown many times
/// multiply): a bound on the schema cache's size, far above real schemas.
const MAX_COMBINATIONS: usize = 64;

/// Each way to pick one view column for every key column.
fn combinations(cols: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    for (_, shown) in cols {
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<String>| {
                shown.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .take(MAX_COMBINATIONS)
            .collect();
    }
    out
}

/// Relationships by the table or view they start from, in PostgREST's order
/// (grouped once when the schema cache is read, not on every embed).
pub type ByOrigin = HashMap<QName, Vec<Relationship>>;

/// Groups sorted relationships by their origin.
pub fn by_origin(rels: Vec<Relationship>) -> ByOrigin {
    let mut map = ByOrigin::new();
    for r in rels {
        map.entry(r.table().clone()).or_default().push(r);
    }
    map
}

/// Origins of relationships: (table, schema of the other side).
pub type Origins = BTreeSet<(QName, String)>;

/// All relationships between the exposed tables and views, sorted, and the
/// origins that had any before those leaving the exposed schemas were
/// dropped — in PostgREST's phases (its `SchemaCache`): foreign keys,
/// the same keys seen through views, junctions (many-to-many), the
/// inverse of each key, then computed relationships.
pub fn build(
    tables: &[Table],
    keys: &[Key],
    deps: &[KeyDep],
    functions: &[Function],
) -> (Vec<Relationship>, Origins) {
    let exposed: HashSet<QName> = tables
        .iter()
        .map(|t| QName::new(&t.schema, &t.name))
        .collect();
    let mut rels = fk_relationships(keys);
    let through_views = view_relationships(&rels, deps);
    rels.extend(through_views);
    let m2m = junctions(&rels, tables, keys);
    rels.extend(m2m);
    let inverse = inverses(&rels);
    rels.extend(inverse);
    let mut origins: Origins = rels
        .iter()
        .filter(|r| exposed.contains(r.table()))
        .map(|r| (r.table().clone(), r.key_schema().to_string()))
        .collect();
    // Only what the API exposes.
    rels.retain(|r| {
        exposed.contains(r.table())
            && exposed.contains(r.ftable())
            && match r {
                Relationship::Fk {
                    card: Cardinality::M2M(j),
                    ..
                } => exposed.contains(&j.table),
                _ => true,
            }
    });
    // Computed relationships replace detected ones of the same name.
    let computed = computed_relationships(functions, &exposed);
    rels.retain(|r| {
        !computed.iter().any(|c| match c {
            Relationship::Computed {
                function, table, ..
            } => r.table() == table && r.ftable() == function,
            _ => false,
        })
    });
    origins.extend(
        computed
            .iter()
            .map(|r| (r.table().clone(), r.key_schema().to_string())),
    );
    rels.extend(computed);
    rels.sort();
    rels.dedup();
    (rels, origins)
}

/// Foreign keys between tables: many-to-one, or one-to-one when the key
/// is also unique.
fn fk_relationships(keys: &[Key]) -> Vec<Relationship> {
    keys.iter()
        .filter(|k| k.kind == "f")
        .filter_map(|k| {
            let (frel, fs, ft, fc) = (
                k.frel?,
                k.fschema.as_ref()?,
                k.ftable.as_ref()?,
                k.fcolumns.as_ref()?,
            );
            let cols: Cols = k
                .columns
                .iter()
                .zip(fc)
                .map(|(a, b)| (a.1.clone(), b.1.clone()))
                .collect();
            let cons = k.name.clone();
            Some(Relationship::Fk {
                table: QName::new(&k.schema, &k.table),
                ftable: QName::new(fs, ft),
                is_self: k.rel == frel,
                card: Cardinality::to_one(cons, cols, k.one_to_one),
                table_is_view: false,
                ftable_is_view: false,
            })
        })
        .collect()
}

/// The same keys between views and tables, and between views: each way a
/// view shows the key's columns (its [`KeyDep`]s).
fn view_relationships(rels: &[Relationship], deps: &[KeyDep]) -> Vec<Relationship> {
    let mut through_views = Vec::new();
    for r in rels {
        let Relationship::Fk {
            table,
            ftable,
            card,
            ..
        } = r
        else {
            continue;
        };
        let (cons, cols, one) = match card {
            Cardinality::M2O { cons, cols } => (cons, cols, false),
            Cardinality::O2O {
                cons,
                cols,
                is_parent: false,
            } => (cons, cols, true),
            _ => continue,
        };
        let card = |cols: Cols| Cardinality::to_one(cons.clone(), cols, one);
        let of = |t: &QName, kind: DepKind| -> Vec<&KeyDep> {
            deps.iter()
                .filter(|d| &d.table == t && &d.cons == cons && d.kind == kind)
                .collect()
        };
        let (from_views, to_views) = (of(table, DepKind::Fk), of(ftable, DepKind::FkRef));
        let fk =
            |table: &QName, ftable: &QName, cols: Cols, tv: bool, ftv: bool| Relationship::Fk {
                is_self: tv && ftv && table == ftable,
                table: table.clone(),
                ftable: ftable.clone(),
                card: card(cols),
                table_is_view: tv,
                ftable_is_view: ftv,
            };
        for d in &from_views {
            for vc in combinations(&d.cols) {
                let pairs = vc
                    .iter()
                    .cloned()
                    .zip(cols.iter().map(|c| c.1.clone()))
                    .collect();
                through_views.push(fk(&d.view, ftable, pairs, true, false));
            }
        }
        for d in &to_views {
            for vc in combinations(&d.cols) {
                let pairs = cols.iter().map(|c| c.0.clone()).zip(vc).collect();
                through_views.push(fk(table, &d.view, pairs, false, true));
            }
        }
        for d1 in &from_views {
            for c1 in combinations(&d1.cols) {
                for d2 in &to_views {
                    for c2 in combinations(&d2.cols) {
                        let pairs = c1.iter().cloned().zip(c2).collect();
                        through_views.push(fk(&d1.view, &d2.view, pairs, true, true));
                    }
                }
            }
        }
    }
    through_views
}

/// Many-to-many: a table (or view) with keys to two others, the key
/// columns all part of its primary key.
fn junctions(rels: &[Relationship], tables: &[Table], keys: &[Key]) -> Vec<Relationship> {
    // Primary keys: exposed tables and views (views' from their lineage),
    // and tables in other schemas from their constraints.
    let pk = |q: &QName| -> Option<Vec<String>> {
        tables
            .iter()
            .find(|t| t.schema == q.schema && t.name == q.name)
            .map(|t| t.pk.clone())
            .or_else(|| {
                keys.iter()
                    .find(|k| k.kind == "p" && k.schema == q.schema && k.table == q.name)
                    .map(|k| k.columns.iter().map(|c| c.1.clone()).collect())
            })
    };
    let mut m2m = Vec::new();
    for r1 in rels {
        let Relationship::Fk {
            table: jt,
            ftable: t,
            card: Cardinality::M2O { cons: c1, cols },
            ftable_is_view: tv,
            ..
        } = r1
        else {
            continue;
        };
        let Some(jt_pk) = pk(jt) else { continue };
        for r2 in rels {
            let Relationship::Fk {
                table: jt2,
                ftable: ft,
                card:
                    Cardinality::M2O {
                        cons: c2,
                        cols: fcols,
                    },
                ftable_is_view: ftv,
                ..
            } = r2
            else {
                continue;
            };
            if jt2 != jt || c1 == c2 {
                continue;
            }
            if cols.iter().chain(fcols).all(|c| jt_pk.contains(&c.0)) {
                m2m.push(Relationship::Fk {
                    table: t.clone(),
                    ftable: ft.clone(),
                    is_self: t == ft,
                    card: Cardinality::M2M(Junction {
                        table: jt.clone(),
                        cons1: c1.clone(),
                        cons2: c2.clone(),
                        cols_source: swap(cols),
                        cols_target: swap(fcols),
                    }),
                    table_is_view: *tv,
                    ftable_is_view: *ftv,
                });
            }
        }
    }
    m2m
}

/// The other direction of every many-to-one and one-to-one.
fn inverses(rels: &[Relationship]) -> Vec<Relationship> {
    rels.iter()
        .filter_map(|r| {
            let Relationship::Fk {
                table,
                ftable,
                is_self,
                card,
                table_is_view,
                ftable_is_view,
            } = r
            else {
                return None;
            };
            let card = match card {
                Cardinality::M2O { cons, cols } => Cardinality::O2M {
                    cons: cons.clone(),
                    cols: swap(cols),
                },
                Cardinality::O2O {
                    cons,
                    cols,
                    is_parent,
                } => Cardinality::O2O {
                    cons: cons.clone(),
                    cols: swap(cols),
                    is_parent: !is_parent,
                },
                _ => return None,
            };
            Some(Relationship::Fk {
                table: ftable.clone(),
                ftable: table.clone(),
                is_self: *is_self,
                card,
                table_is_view: *ftable_is_view,
                ftable_is_view: *table_is_view,
            })
        })
        .collect()
}

/// Computed relationships: functions of a row of an exposed table
/// returning rows of another.
fn computed_relationships(functions: &[Function], exposed: &HashSet<QName>) -> Vec<Relationship> {
    functions
        .iter()
        .filter_map(|f| {
            let c = f.computed.as_ref()?;
            Some(Relationship::Computed {
                function: QName::new(&f.schema, &f.name),
                table: QName::new(&c.schema, &c.name),
                ftable: QName::new(&c.fschema, &c.fname),
                to_one: c.single,
            })
        })
        .filter(|r| exposed.contains(r.table()))
        .collect()
}

/// Column pairs the other way round.
fn swap(c: &Cols) -> Cols {
    c.iter().map(|(a, b)| (b.clone(), a.clone())).collect()
}

/// The relationship `origin?select=target!hint(...)` means, by PostgREST's
/// rules, or PGRST200 (none) / PGRST201 (ambiguous). `rels`: those starting
/// at `origin` (see [`ByOrigin`]).
pub fn find<'a>(
    rels: &'a [Relationship],
    origins: &Origins,
    schema: &str,
    origin: &str,
    target: &str,
    hint: Option<&str>,
) -> Result<&'a Relationship, ApiError> {
    let from_origin = || {
        rels.iter().filter(move |r| {
            r.table().schema == schema && r.table().name == origin && r.key_schema() == schema
        })
    };
    let found: Vec<&Relationship> = from_origin()
        .filter(|r| match r {
            Relationship::Computed { function, .. } => function.name == target,
            Relationship::Fk {
                ftable,
                is_self,
                card,
                ftable_is_view,
                ..
            } => {
                let o2m = matches!(card, Cardinality::O2M { .. });
                let m2o = matches!(card, Cardinality::M2O { .. });
                let fk_col = |n: &str| r.single_cols().is_some_and(|c| c.0 == n);
                let ref_col = |n: &str| r.single_cols().is_some_and(|c| c.1 == n);
                let cons = |n: &str| r.cons() == Some(n);
                let junction = |n: &str| matches!(card, Cardinality::M2M(j) if j.table.name == n);
                match (is_self, hint) {
                    (true, None) => ftable.name == target && o2m || fk_col(target) && m2o,
                    (true, Some(h)) => ftable.name == target && o2m && ref_col(h),
                    (false, None) => {
                        ftable.name == target || !ftable_is_view && (cons(target) || fk_col(target))
                    }
                    (false, Some(h)) => {
                        ftable.name == target && (cons(h) || fk_col(h) || ref_col(h) || junction(h))
                    }
                }
            }
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let known = origins.contains(&(QName::new(schema, origin), schema.to_string()));
            let suggestion = if known {
                let children: Vec<&str> = from_origin().map(|r| r.ftable().name.as_str()).collect();
                // No hint when the name is one of them (just not related this way).
                crate::fuzzy::best_match(target, &children)
                    .filter(|c| *c != target)
                    .map(|c| format!("Perhaps you meant '{c}' instead of '{target}'."))
            } else {
                let mut parents: Vec<&str> = origins
                    .iter()
                    .filter(|(_, s)| s == schema)
                    .map(|(t, _)| t.name.as_str())
                    .collect();
                parents.dedup();
                crate::fuzzy::best_match(origin, &parents)
                    .map(|p| format!("Perhaps you meant '{p}' instead of '{origin}'."))
            };
            let e = ApiError::new(
                400,
                "PGRST200",
                format!("Could not find a relationship between '{origin}' and '{target}' in the schema cache"),
            )
            .details(format!(
                "Searched for a foreign key relationship between '{origin}' and '{target}'{} in the schema '{schema}', but no matches were found.",
                hint.map(|h| format!(" using the hint '{h}'")).unwrap_or_default()
            ));
            Err(match suggestion {
                Some(s) => e.hint(s),
                None => e,
            })
        }
        many => Err(ApiError::new(
            300,
            "PGRST201",
            format!("Could not embed because more than one relationship was found for '{origin}' and '{target}'"),
        )
        .hint(format!(
            "Try changing '{target}' to one of the following: {}. Find the desired relationship in the 'details' key.",
            many.iter()
                .map(|r| format!("'{}!{}'", r.ftable().name, r.hint_name()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .details_json(json!(many.iter().map(|r| r.describe()).collect::<Vec<_>>()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // From PostgreSQL 15: `create view v as select b.id, b.id as again,
    // b.author_id as writer, 1 as one from books b`, trimmed.
    const TREE: &str = r#"({QUERY :commandType 1 :querySource 0 :canSetTag true :utilityStmt <> :resultRelation 0 :hasAggs false :cteList <> :rtable ({RTE :alias <> :eref {ALIAS :aliasname v :colnames ("id" "again" "writer" "one")} :rtekind 0 :relid 16390 :relkind v} {RTE :alias {ALIAS :aliasname b :colnames <>} :eref {ALIAS :aliasname b :colnames ("id" "title" "author_id")} :rtekind 0 :relid 16384 :relkind r}) :jointree {FROMEXPR :fromlist ({RANGETBLREF :rtindex 2}) :quals <>} :targetList ({TARGETENTRY :expr {VAR :varno 2 :varattno 1 :vartype 23 :location 24} :resno 1 :resname id :ressortgroupref 0 :resorigtbl 16384 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {VAR :varno 2 :varattno 1 :vartype 23 :location 30} :resno 2 :resname again :ressortgroupref 0 :resorigtbl 16384 :resorigcol 1 :resjunk false} {TARGETENTRY :expr {VAR :varno 2 :varattno 3 :vartype 23 :location 45} :resno 3 :resname writer :ressortgroupref 0 :resorigtbl 16384 :resorigcol 3 :resjunk false} {TARGETENTRY :expr {CONST :consttype 23 :constlen 4 :constbyval true :constisnull false :location 68 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]} :resno 4 :resname one\ \(x\) :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false}) :override 0 :onConflict <> :returningList <>})"#;

    #[test]
    fn reads_the_top_level_target_list() {
        assert_eq!(
            target_list(TREE),
            vec![(1, 16384, 1), (2, 16384, 1), (3, 16384, 3), (4, 0, 0)]
        );
        assert_eq!(
            target_list("({QUERY :cteList <> :targetList <> :x 1})"),
            vec![]
        );
        // A subquery's target list (inside rtable) is not the view's.
        let nested = "({QUERY :rtable ({RTE :subquery {QUERY :targetList ({TARGETENTRY :resno 1 :resorigtbl 9 :resorigcol 9})}}) :targetList ({TARGETENTRY :resno 1 :resorigtbl 7 :resorigcol 2})})";
        assert_eq!(target_list(nested), vec![(1, 7, 2)]);
    }

    fn key(name: &str, kind: &str, rel: i64, table: &str, cols: &[(i32, &str)]) -> Key {
        Key {
            name: name.into(),
            kind: kind.into(),
            rel,
            schema: "s".into(),
            table: table.into(),
            columns: cols.iter().map(|(n, c)| (*n, c.to_string())).collect(),
            frel: None,
            fschema: None,
            ftable: None,
            fcolumns: None,
            one_to_one: false,
        }
    }

    fn table(name: &str, kind: &str, pk: &[&str]) -> Table {
        Table {
            schema: "s".into(),
            name: name.into(),
            kind: kind.into(),
            columns: vec![],
            pk: pk.iter().map(|c| c.to_string()).collect(),
            uniques: vec![],
        }
    }

    #[test]
    fn keys_seen_through_views_become_relationships() {
        let mut books_author = key(
            "books_author_id_fkey",
            "f",
            16384,
            "books",
            &[(3, "author_id")],
        );
        books_author.frel = Some(16300);
        books_author.fschema = Some("s".into());
        books_author.ftable = Some("authors".into());
        books_author.fcolumns = Some(vec![(1, "id".into())]);
        let keys = vec![
            key("books_pkey", "p", 16384, "books", &[(1, "id")]),
            books_author,
        ];
        let views = vec![ViewDef {
            oid: 16390,
            schema: "s".into(),
            name: "v".into(),
            definition: TREE.into(),
            columns: vec![
                (1, "id".into()),
                (2, "again".into()),
                (3, "writer".into()),
                (4, "one".into()),
            ],
        }];
        let deps = view_key_deps(&views, &keys);
        let pk = deps.iter().find(|d| d.kind == DepKind::Pk).unwrap();
        assert_eq!(
            pk.cols,
            vec![(
                "id".to_string(),
                vec!["id".to_string(), "again".to_string()]
            )]
        );
        let mut tables = vec![
            table("books", "r", &["id"]),
            table("authors", "r", &["id"]),
            table("v", "v", &[]),
        ];
        add_view_primary_keys(&mut tables, &deps);
        assert_eq!(tables[2].pk, vec!["id"]);
        let (rels, origins) = build(&tables, &keys, &deps, &[]);
        // The renamed FK column of the view embeds authors, by name or column.
        let r = find(&rels, &origins, "s", "v", "authors", None).unwrap();
        assert!(
            matches!(r, Relationship::Fk { card: Cardinality::M2O { cols, .. }, table_is_view: true, .. }
            if cols == &vec![("writer".to_string(), "id".to_string())])
        );
        assert!(find(&rels, &origins, "s", "v", "writer", None).is_ok());
        // And authors embeds the view as a one-to-many.
        let r = find(&rels, &origins, "s", "authors", "v", None).unwrap();
        assert!(matches!(
            r,
            Relationship::Fk {
                card: Cardinality::O2M { .. },
                ..
            }
        ));
        let e = find(&rels, &origins, "s", "v", "nope", None).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST200"));
    }
}
