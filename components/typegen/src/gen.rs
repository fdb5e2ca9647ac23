//! postgres-meta v0.96.6's `src/server/templates/typescript.ts`, ported:
//! the same choices, in the same order, building types ([`Ty`]) that
//! [`crate::ts`] prints as prettier formats the template's output.

use crate::collate::cmp;
use crate::doc::{self, concat, group_with, if_break, indent, join, text, Doc};
use crate::model::{Arg, Catalog, Column, Function, Relation, Relationship, Type};
use crate::ts::{self, array_of_text, member, nullable, raw, union, Member, Ty};
use std::collections::{BTreeMap, HashMap};

/// How the output is generated (postgres-meta's environment).
#[derive(Debug, Clone)]
pub struct Options {
    /// `isOneToOne` in relationships (the CLI's default: on).
    pub detect_one_to_one: bool,
    /// `__InternalSupabase.PostgrestVersion`, when given.
    pub postgrest_version: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            detect_one_to_one: true,
            postgrest_version: None,
        }
    }
}

const JSON_HEADER: &str = "export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

";

/// The helpers after `Database` (prettier's output for the default schema
/// `public`; they do not depend on the schema).
const HELPERS: &str = include_str!("helpers.ts.txt");

/// json, jsonb, text: the types of an unnamed argument PostgREST can call.
const VALID_UNNAMED_ARG_TYPES: [i64; 3] = [114, 3802, 25];

fn is_in_arg(a: &Arg) -> bool {
    matches!(a.mode.as_str(), "in" | "inout" | "variadic")
}

#[derive(Default)]
struct SchemaIntro<'a> {
    tables: Vec<(&'a Relation, Vec<&'a Relationship>)>,
    views: Vec<(Relation, Vec<&'a Relationship>)>,
    functions: Vec<(Function, Vec<Arg>)>,
    enums: Vec<&'a Type>,
    composites: Vec<&'a Type>,
}

struct Gen<'a> {
    cat: &'a Catalog,
    opts: &'a Options,
    schema_names: Vec<String>,
    columns_by_table: HashMap<i64, Vec<&'a Column>>,
    names_by_table: HashMap<i64, &'a str>,
    types_by_id: HashMap<i64, &'a Type>,
    relation_types: HashMap<i64, &'a Type>,
}

/// The TypeScript file postgres-meta prints for `cat` (prettier-formatted,
/// ending in one newline).
pub fn generate(cat: &Catalog, opts: &Options) -> String {
    let mut schemas: Vec<String> = cat.schemas.iter().map(|s| s.name.clone()).collect();
    schemas.sort_by(|a, b| cmp(a, b));
    let mut relationships = cat.relationships();
    relationships.sort_by(|a, b| {
        cmp(&a.foreign_key_name, &b.foreign_key_name)
            .then_with(|| cmp(&a.referenced_relation, &b.referenced_relation))
            .then_with(|| {
                cmp(
                    &serde_json::to_string(&a.referenced_columns).unwrap_or_default(),
                    &serde_json::to_string(&b.referenced_columns).unwrap_or_default(),
                )
            })
    });
    let mut g = Gen {
        cat,
        opts,
        schema_names: schemas.clone(),
        columns_by_table: HashMap::new(),
        names_by_table: HashMap::new(),
        types_by_id: HashMap::new(),
        relation_types: HashMap::new(),
    };
    for t in cat
        .tables
        .iter()
        .chain(&cat.foreign_tables)
        .chain(&cat.views)
        .chain(&cat.materialized_views)
    {
        g.columns_by_table.insert(t.id, Vec::new());
        g.names_by_table.insert(t.id, &t.name);
    }
    for c in &cat.columns {
        if let Some(v) = g.columns_by_table.get_mut(&c.table_id) {
            v.push(c);
        }
    }
    for v in g.columns_by_table.values_mut() {
        v.sort_by(|a, b| cmp(&a.name, &b.name));
    }
    let mut intro: BTreeMap<&str, SchemaIntro> = schemas
        .iter()
        .map(|s| (s.as_str(), SchemaIntro::default()))
        .collect();
    for t in &cat.types {
        g.types_by_id.insert(t.id, t);
        if t.type_relation_id.is_some_and(|r| r != 0) {
            g.relation_types.insert(t.id, t);
        }
        if let Some(s) = intro.get_mut(t.schema.as_str()) {
            if !t.enums.is_empty() {
                s.enums.push(t);
            }
            if !t.attributes.is_empty() {
                s.composites.push(t);
            }
        }
    }
    let rels_of = |schema: &str, name: &str| -> Vec<&Relationship> {
        relationships
            .iter()
            .filter(|r| r.schema == schema && r.referenced_schema == schema && r.relation == name)
            .collect()
    };
    for t in cat.tables.iter().chain(&cat.foreign_tables) {
        if let Some(s) = intro.get_mut(t.schema.as_str()) {
            s.tables.push((t, rels_of(&t.schema, &t.name)));
        }
    }
    for v in &cat.views {
        if let Some(s) = intro.get_mut(v.schema.as_str()) {
            s.views.push((v.clone(), rels_of(&v.schema, &v.name)));
        }
    }
    for m in &cat.materialized_views {
        if let Some(s) = intro.get_mut(m.schema.as_str()) {
            let view = Relation {
                is_updatable: false,
                ..m.clone()
            };
            s.views.push((view, rels_of(&m.schema, &m.name)));
        }
    }
    for f in &cat.functions {
        let Some(s) = intro.get_mut(f.schema.as_str()) else {
            continue;
        };
        let mut f = f.clone();
        f.args.sort_by(|a, b| cmp(&a.name, &b.name));
        let in_args: Vec<Arg> = f.args.iter().filter(|a| is_in_arg(a)).cloned().collect();
        let keep = in_args.is_empty()
            || !in_args.iter().any(|a| a.name.is_empty())
            || in_args.iter().all(|a| {
                !a.name.is_empty()
                    || (a.has_default && VALID_UNNAMED_ARG_TYPES.contains(&a.type_id))
            })
            || (in_args.len() == 1
                && in_args[0].name.is_empty()
                && (VALID_UNNAMED_ARG_TYPES.contains(&in_args[0].type_id)
                    || g.relation_types.contains_key(&in_args[0].type_id)));
        if keep {
            s.functions.push((f, in_args));
        }
    }
    for s in intro.values_mut() {
        s.tables.sort_by(|a, b| cmp(&a.0.name, &b.0.name));
        s.views.sort_by(|a, b| cmp(&a.0.name, &b.0.name));
        s.functions.sort_by(|a, b| cmp(&a.0.name, &b.0.name));
        s.enums.sort_by(|a, b| cmp(&a.name, &b.name));
        s.composites.sort_by(|a, b| cmp(&a.name, &b.name));
    }

    // export type Database = { … }
    let mut db_members = Vec::new();
    if let Some(v) = &g.opts.postgrest_version {
        db_members.push(concat(vec![
            text("// Allows to automatically instantiate createClient with right options"),
            Doc::Hardline,
            text("// instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)"),
            Doc::Hardline,
            ts::member_doc(&member(
                "__InternalSupabase",
                false,
                Ty::Obj(
                    vec![member("PostgrestVersion", false, Ty::Str(v.clone()))],
                    true,
                ),
            )),
        ]));
    }
    for name in &schemas {
        let s = &intro[name.as_str()];
        db_members.push(ts::member_doc(&member(name, false, g.schema_type(name, s))));
    }
    let database = ts::object_doc(db_members, true);

    // export const Constants = { … } as const
    let constants = js_object(
        schemas
            .iter()
            .map(|name| {
                let enums = intro[name.as_str()]
                    .enums
                    .iter()
                    .map(|e| {
                        js_member(
                            &e.name,
                            doc::bracketed(
                                e.enums
                                    .iter()
                                    .map(|v| text(ts::string_literal(v)))
                                    .collect(),
                            ),
                        )
                    })
                    .collect();
                js_member(name, js_object(vec![js_member("Enums", js_object(enums))]))
            })
            .collect(),
    );

    let mut out = String::from(JSON_HEADER);
    out.push_str("export type Database = ");
    out.push_str(&doc::print(&database));
    out.push_str("\n\n");
    out.push_str(HELPERS);
    out.push_str("export const Constants = ");
    out.push_str(&doc::print(&constants));
    out.push_str(" as const\n");
    out
}

/// A JavaScript object literal written with a newline after `{`.
fn js_object(members: Vec<Doc>) -> Doc {
    if members.is_empty() {
        return text("{}");
    }
    group_with(
        concat(vec![
            text("{"),
            indent(concat(vec![
                Doc::Line,
                join(concat(vec![text(","), Doc::Line]), members),
            ])),
            if_break(text(","), text("")),
            Doc::Line,
            text("}"),
        ]),
        true,
    )
}

fn js_member(key: &str, value: Doc) -> Doc {
    concat(vec![text(ts::key(key)), text(": "), value])
}

fn obj(members: Vec<Member>) -> Ty {
    Ty::Obj(members, true)
}

fn never_map() -> Ty {
    Ty::NeverMap
}

impl<'a> Gen<'a> {
    fn table_name_from_relation_id(
        &self,
        relation_id: Option<i64>,
        return_type_id: i64,
    ) -> Option<String> {
        let id = relation_id.filter(|&r| r != 0)?;
        if let Some(n) = self.names_by_table.get(&id) {
            return Some(n.to_string());
        }
        self.relation_types
            .get(&return_type_id)
            .map(|t| t.name.clone())
    }

    /// postgres-meta's `pgTypeToTsType`.
    fn pg_type(&self, schema: &str, pg: &str) -> Ty {
        match pg {
            "bool" => return raw("boolean"),
            "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" => return raw("number"),
            "bytea" | "bpchar" | "varchar" | "date" | "text" | "citext" | "time" | "timetz"
            | "timestamp" | "timestamptz" | "uuid" | "vector" | "interval" => return raw("string"),
            "json" | "jsonb" => return raw("Json"),
            "void" => return raw("undefined"),
            "record" => return raw("Record<string, unknown>"),
            _ => {}
        }
        if let Some(inner) = pg.strip_prefix('_') {
            return Ty::Array(Box::new(self.pg_type(schema, inner)));
        }
        let included = |s: &str| self.schema_names.iter().any(|n| n == s);
        let q = ts::string_literal;
        let pick = |cands: Vec<(&str, &str)>| -> Option<(String, String)> {
            let first = *cands.first()?;
            let (s, n) = cands
                .iter()
                .find(|(s, _)| *s == schema)
                .copied()
                .unwrap_or(first);
            Some((s.to_string(), n.to_string()))
        };
        let enums: Vec<&Type> = self
            .cat
            .types
            .iter()
            .filter(|t| t.name == pg && !t.enums.is_empty())
            .collect();
        if !enums.is_empty() {
            let e = enums
                .iter()
                .find(|t| t.schema == schema)
                .unwrap_or(&enums[0]);
            if included(&e.schema) {
                return Ty::Raw(format!(
                    "Database[{}][\"Enums\"][{}]",
                    q(&e.schema),
                    q(&e.name)
                ));
            }
            let mut vs: Vec<Ty> = e.enums.iter().map(|v| Ty::Str(v.clone())).collect();
            return if vs.len() == 1 {
                vs.remove(0)
            } else {
                Ty::Union(vs)
            };
        }
        let composites: Vec<(&str, &str)> = self
            .cat
            .types
            .iter()
            .filter(|t| t.name == pg && !t.attributes.is_empty())
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        if let Some((s, n)) = pick(composites) {
            if included(&s) {
                return Ty::Raw(format!(
                    "Database[{}][\"CompositeTypes\"][{}]",
                    q(&s),
                    q(&n)
                ));
            }
            return raw("unknown");
        }
        let tables: Vec<(&str, &str)> = self
            .cat
            .tables
            .iter()
            .filter(|t| t.name == pg)
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        if let Some((s, n)) = pick(tables) {
            if included(&s) {
                return Ty::Raw(format!(
                    "Database[{}][\"Tables\"][{}][\"Row\"]",
                    q(&s),
                    q(&n)
                ));
            }
            return raw("unknown");
        }
        let views: Vec<(&str, &str)> = self
            .cat
            .views
            .iter()
            .filter(|t| t.name == pg)
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        if let Some((s, n)) = pick(views) {
            if included(&s) {
                return Ty::Raw(format!(
                    "Database[{}][\"Views\"][{}][\"Row\"]",
                    q(&s),
                    q(&n)
                ));
            }
            return raw("unknown");
        }
        raw("unknown")
    }

    fn type_of_id(&self, schema: &str, id: i64) -> Ty {
        match self.types_by_id.get(&id) {
            Some(t) => self.pg_type(schema, &t.name),
            None => raw("unknown"),
        }
    }

    fn column(&self, schema: &str, c: &Column, is_nullable: bool, optional: bool) -> Member {
        member(
            &c.name,
            optional,
            nullable(self.pg_type(schema, &c.format), is_nullable),
        )
    }

    fn columns(&self, id: i64) -> &[&'a Column] {
        self.columns_by_table
            .get(&id)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    fn relationship(&self, r: &Relationship) -> Ty {
        let strs = |v: &[String]| Ty::Tuple(v.iter().map(|s| Ty::Str(s.clone())).collect());
        let mut m = vec![
            member("foreignKeyName", false, Ty::Str(r.foreign_key_name.clone())),
            member("columns", false, strs(&r.columns)),
        ];
        if self.opts.detect_one_to_one {
            let v = match r.is_one_to_one {
                Some(true) => "true",
                Some(false) => "false",
                None => "null",
            };
            m.push(member("isOneToOne", false, raw(v)));
        }
        m.push(member(
            "referencedRelation",
            false,
            Ty::Str(r.referenced_relation.clone()),
        ));
        m.push(member(
            "referencedColumns",
            false,
            strs(&r.referenced_columns),
        ));
        obj(m)
    }

    /// `getFunctionReturnType`.
    fn function_return(&self, schema: &str, s: &SchemaIntro, f: &Function) -> Ty {
        let table_args: Vec<&Arg> = f.args.iter().filter(|a| a.mode == "table").collect();
        if !table_args.is_empty() {
            return obj(table_args
                .iter()
                .map(|a| member(&a.name, false, self.type_of_id(schema, a.type_id)))
                .collect());
        }
        let rel_id = f.return_type_relation_id;
        let relation = s
            .tables
            .iter()
            .map(|(t, _)| t.id)
            .chain(s.views.iter().map(|(v, _)| v.id))
            .find(|id| Some(*id) == rel_id);
        if let Some(id) = relation {
            return obj(self
                .columns(id)
                .iter()
                .map(|c| self.column(schema, c, c.is_nullable, false))
                .collect());
        }
        self.type_of_id(schema, f.return_type_id)
    }

    /// `getFunctionTsReturnType`: `Returns` and `SetofOptions`.
    fn function_ts_return(&self, f: &Function, returns: Ty) -> (Ty, Option<Ty>) {
        let table_name =
            self.table_name_from_relation_id(f.return_type_relation_id, f.return_type_id);
        let setof_table = f.is_set_returning_function && f.return_type_relation_id.is_some();
        let multiple = f.prorows.is_some_and(|r| r > 1.0);
        let setof = |from: &str, to: &str, one: bool, set: bool| {
            obj(vec![
                member("from", false, Ty::Str(from.into())),
                member("to", false, Ty::Str(to.into())),
                member("isOneToOne", false, raw(if one { "true" } else { "false" })),
                member(
                    "isSetofReturn",
                    false,
                    raw(if set { "true" } else { "false" }),
                ),
            ])
        };
        let mut options = None;
        if let Some(t) = &table_name {
            options = Some(setof("*", t, !multiple, f.is_set_returning_function));
        }
        if f.args.len() == 1 {
            if let Some(rt) = self.relation_types.get(&f.args[0].type_id) {
                if let Some(t) = &table_name {
                    options = Some(if setof_table {
                        setof(&rt.format, t, !multiple, true)
                    } else {
                        setof(&rt.format, t, true, false)
                    });
                }
            }
        }
        let returns = if f.is_set_returning_function && multiple {
            array_of_text(returns)
        } else {
            returns
        };
        (returns, options)
    }

    fn args_type(&self, schema: &str, in_args: &[Arg]) -> Ty {
        Ty::Obj(
            in_args
                .iter()
                .map(|a| member(&a.name, a.has_default, self.type_of_id(schema, a.type_id)))
                .collect(),
            false,
        )
    }

    fn type_name(&self, id: i64) -> &str {
        self.types_by_id
            .get(&id)
            .map(|t| t.name.as_str())
            .unwrap_or("unknown")
    }

    /// `getConflictError`.
    fn conflict(
        &self,
        schema: &str,
        fns: &[&(Function, Vec<Arg>)],
        f: &Function,
        in_args: &[Arg],
    ) -> Option<String> {
        if fns.len() <= 1 {
            return None;
        }
        if in_args.is_empty() {
            let c = fns.iter().find(|(o, oa)| {
                o.id != f.id && oa.len() == 1 && oa[0].name.is_empty() && oa[0].has_default
            })?;
            return Some(format!(
                "Could not choose the best candidate function between: {schema}.{n}(), {schema}.{n}( => {t}). Try renaming the parameters or the function itself in the database so function overloading can be resolved",
                n = f.name,
                t = self.type_name(c.0.return_type_id)
            ));
        }
        if in_args.len() == 1 && !in_args[0].name.is_empty() {
            let mut all: Vec<&[Arg]> = fns
                .iter()
                .filter(|(o, oa)| {
                    o.id != f.id
                        && oa.len() == 1
                        && oa[0].name == in_args[0].name
                        && oa[0].type_id != in_args[0].type_id
                })
                .map(|(_, oa)| oa.as_slice())
                .collect();
            if all.is_empty() {
                return None;
            }
            all.insert(0, in_args);
            all.sort_by_key(|a| a.first().map(|x| x.type_id).unwrap_or(0));
            let list: Vec<String> = all
                .iter()
                .map(|args| {
                    let a: Vec<String> = args
                        .iter()
                        .map(|a| format!("{} => {}", a.name, self.type_name(a.type_id)))
                        .collect();
                    format!("{schema}.{}({})", f.name, a.join(", "))
                })
                .collect();
            return Some(format!(
                "Could not choose the best candidate function between: {}. Try renaming the parameters or the function itself in the database so function overloading can be resolved",
                list.join(", ")
            ));
        }
        None
    }

    fn error_type(message: String) -> Ty {
        Ty::Inter(vec![
            Ty::Obj(vec![member("error", false, raw("true"))], false),
            Ty::Str(message),
        ])
    }

    /// `getFunctionSignatures`: one `{ Args; Returns }` per overload.
    fn signatures(&self, schema: &str, s: &SchemaIntro, fns: &[&(Function, Vec<Arg>)]) -> Ty {
        let mut out = Vec::new();
        for (f, in_args) in fns.iter().map(|p| (&p.0, &p.1)) {
            let mut args = raw("never");
            let mut returns = self.function_return(schema, s, f);
            let row_error = in_args.len() == 1
                && in_args[0].name.is_empty()
                && self.relation_types.contains_key(&in_args[0].type_id)
                && self
                    .table_name_from_relation_id(f.return_type_relation_id, f.return_type_id)
                    .is_none();
            if let Some(message) = self.conflict(schema, fns, f, in_args) {
                if !in_args.is_empty() {
                    args = self.args_type(schema, in_args);
                }
                returns = Self::error_type(message);
            } else if row_error {
                args = self.args_type(schema, in_args);
                returns = Self::error_type(format!(
                    "the function {schema}.{} with parameter or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache",
                    f.name
                ));
            } else if !in_args.is_empty() {
                args = self.args_type(schema, in_args);
            }
            let (returns, setof) = self.function_ts_return(f, returns);
            let mut m = vec![
                member("Args", false, args),
                member("Returns", false, returns),
            ];
            if let Some(o) = setof {
                m.push(member("SetofOptions", false, o));
            }
            out.push(Ty::Obj(m, false));
        }
        if out.len() == 1 {
            out.remove(0)
        } else {
            union(out)
        }
    }

    /// Computed fields: functions taking the relation's row (`f(todos)`).
    fn computed(&self, schema: &str, s: &SchemaIntro, relation: &str) -> Vec<Member> {
        s.functions
            .iter()
            .filter(|(f, _)| f.argument_types == relation)
            .map(|(f, _)| {
                member(
                    &f.name,
                    false,
                    nullable(self.function_return(schema, s, f), true),
                )
            })
            .collect()
    }

    fn schema_type(&self, schema: &str, s: &SchemaIntro) -> Ty {
        let tables = if s.tables.is_empty() {
            never_map()
        } else {
            obj(s
                .tables
                .iter()
                .map(|(t, rels)| {
                    let cols = self.columns(t.id);
                    let mut row: Vec<Member> = cols
                        .iter()
                        .map(|c| self.column(schema, c, c.is_nullable, false))
                        .collect();
                    row.extend(self.computed(schema, s, &t.name));
                    let always = |c: &Column| c.identity_generation.as_deref() == Some("ALWAYS");
                    let insert = cols
                        .iter()
                        .map(|c| {
                            if always(c) {
                                member(&c.name, true, raw("never"))
                            } else {
                                self.column(
                                    schema,
                                    c,
                                    c.is_nullable,
                                    c.is_nullable || c.is_identity || c.has_default,
                                )
                            }
                        })
                        .collect();
                    let update = cols
                        .iter()
                        .map(|c| {
                            if always(c) {
                                member(&c.name, true, raw("never"))
                            } else {
                                self.column(schema, c, c.is_nullable, true)
                            }
                        })
                        .collect();
                    member(
                        &t.name,
                        false,
                        obj(vec![
                            member("Row", false, obj(row)),
                            member("Insert", false, obj(insert)),
                            member("Update", false, obj(update)),
                            member(
                                "Relationships",
                                false,
                                Ty::Tuple(rels.iter().map(|r| self.relationship(r)).collect()),
                            ),
                        ]),
                    )
                })
                .collect())
        };
        let views = if s.views.is_empty() {
            never_map()
        } else {
            obj(s
                .views
                .iter()
                .map(|(v, rels)| {
                    let cols = self.columns(v.id);
                    let mut row: Vec<Member> = cols
                        .iter()
                        .map(|c| self.column(schema, c, c.is_nullable, false))
                        .collect();
                    row.extend(self.computed(schema, s, &v.name));
                    let mut m = vec![member("Row", false, obj(row))];
                    if v.is_updatable {
                        let write = || -> Vec<Member> {
                            cols.iter()
                                .map(|c| {
                                    if !c.is_updatable {
                                        member(&c.name, true, raw("never"))
                                    } else {
                                        self.column(schema, c, true, true)
                                    }
                                })
                                .collect()
                        };
                        m.push(member("Insert", false, obj(write())));
                        m.push(member("Update", false, obj(write())));
                    }
                    m.push(member(
                        "Relationships",
                        false,
                        Ty::Tuple(rels.iter().map(|r| self.relationship(r)).collect()),
                    ));
                    member(&v.name, false, obj(m))
                })
                .collect())
        };
        let functions = if s.functions.is_empty() {
            never_map()
        } else {
            let mut groups: Vec<(&str, Vec<&(Function, Vec<Arg>)>)> = Vec::new();
            for p in &s.functions {
                match groups.iter_mut().find(|(n, _)| *n == p.0.name) {
                    Some((_, v)) => v.push(p),
                    None => groups.push((&p.0.name, vec![p])),
                }
            }
            for (_, v) in groups.iter_mut() {
                v.sort_by(|a, b| {
                    cmp(&a.0.argument_types, &b.0.argument_types)
                        .then_with(|| cmp(&a.0.return_type, &b.0.return_type))
                });
            }
            obj(groups
                .iter()
                .map(|(name, fns)| member(name, false, self.signatures(schema, s, fns)))
                .collect())
        };
        let enums = if s.enums.is_empty() {
            never_map()
        } else {
            obj(s
                .enums
                .iter()
                .map(|e| {
                    let mut vs: Vec<Ty> = e.enums.iter().map(|v| Ty::Str(v.clone())).collect();
                    member(
                        &e.name,
                        false,
                        if vs.len() == 1 {
                            vs.remove(0)
                        } else {
                            Ty::Union(vs)
                        },
                    )
                })
                .collect())
        };
        let composites = if s.composites.is_empty() {
            never_map()
        } else {
            obj(s
                .composites
                .iter()
                .map(|t| {
                    obj_member(
                        &t.name,
                        t.attributes
                            .iter()
                            .map(|a| {
                                let ty = match self.types_by_id.get(&a.type_id) {
                                    Some(at) => nullable(self.pg_type(schema, &at.name), true),
                                    None => raw("unknown"),
                                };
                                member(&a.name, false, ty)
                            })
                            .collect(),
                    )
                })
                .collect())
        };
        obj(vec![
            member("Tables", false, tables),
            member("Views", false, views),
            member("Functions", false, functions),
            member("Enums", false, enums),
            member("CompositeTypes", false, composites),
        ])
    }
}

fn obj_member(name: &str, members: Vec<Member>) -> Member {
    member(name, false, obj(members))
}
