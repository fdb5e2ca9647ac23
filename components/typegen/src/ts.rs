//! TypeScript types as postgres-meta's template spells them, and their
//! documents as prettier 3 prints them (parser typescript, `semi: false`,
//! default printWidth 80, trailingComma "all", quoteProps "as-needed").

use crate::doc::{self, concat, group, group_with, if_break, indent, join, text, Doc};

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// Printed as is (keywords, indexed access types, `Record<…>`).
    Raw(String),
    Null,
    /// A string literal type (the value, unescaped).
    Str(String),
    /// A type literal; `expanded` when the template wrote a newline after
    /// `{` (prettier keeps such objects broken).
    Obj(Vec<Member>, bool),
    Union(Vec<Ty>),
    Inter(Vec<Ty>),
    Array(Box<Ty>),
    Tuple(Vec<Ty>),
    /// `{ [_ in never]: never }`, a mapped type written broken.
    NeverMap,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub key: String,
    pub optional: bool,
    pub ty: Ty,
}

pub fn raw(s: &str) -> Ty {
    Ty::Raw(s.to_string())
}

pub fn member(key: &str, optional: bool, ty: Ty) -> Member {
    Member {
        key: key.to_string(),
        optional,
        ty,
    }
}

/// `${a} | ${b}` read back: nested unions are one union.
pub fn union(types: Vec<Ty>) -> Ty {
    let mut flat = Vec::new();
    for t in types {
        match t {
            Ty::Union(v) => flat.extend(v),
            t => flat.push(t),
        }
    }
    Ty::Union(flat)
}

/// postgres-meta's `generateNullableUnionTsType`.
pub fn nullable(t: Ty, is_nullable: bool) -> Ty {
    if !is_nullable || t == raw("unknown") || t == raw("any") {
        return t;
    }
    union(vec![t, Ty::Null])
}

/// `${t}[]` read back: the array applies to the last operand of an
/// intersection or union written without parentheses.
pub fn array_of_text(t: Ty) -> Ty {
    match t {
        Ty::Inter(mut v) if !v.is_empty() => {
            let last = v.pop().unwrap();
            v.push(Ty::Array(Box::new(last)));
            Ty::Inter(v)
        }
        Ty::Union(mut v) if !v.is_empty() => {
            let last = v.pop().unwrap();
            v.push(Ty::Array(Box::new(last)));
            Ty::Union(v)
        }
        t => Ty::Array(Box::new(t)),
    }
}

/// JSON.stringify(s) without the quotes.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `JSON.stringify(s)` as prettier reprints the literal: double quotes
/// unless the text holds more double than single quotes.
pub fn string_literal(s: &str) -> String {
    let content = json_escape(s);
    let doubles = content.matches('"').count();
    let singles = content.matches('\'').count();
    let quote = if doubles > singles { '\'' } else { '"' };
    let other = if quote == '"' { '\'' } else { '"' };
    let mut out = String::new();
    out.push(quote);
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(e) = chars.next() else { break };
            if e == other {
                out.push(e);
            } else if !"\n\r\"'01234567\\bfnrtuvx\u{2028}\u{2029}".contains(e) {
                out.push(e);
            } else {
                out.push('\\');
                out.push(e);
            }
        } else if c == quote {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out.push(quote);
    out
}

/// An ES5 identifier name (prettier unquotes such keys).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '$' || first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '$' || c == '_' || c.is_alphanumeric())
}

/// A property key as prettier prints `JSON.stringify(key)`.
pub fn key(name: &str) -> String {
    if is_identifier(name) {
        name.to_string()
    } else {
        string_literal(name)
    }
}

fn is_object(t: &Ty) -> bool {
    matches!(t, Ty::Obj(..))
}

/// Where a type is printed (prettier's union indentation depends on it).
#[derive(Clone, Copy, PartialEq)]
enum Parent {
    Other,
    Array,
    Tuple,
}

/// A type literal's document (members one per line when broken).
pub fn object_doc(members: Vec<Doc>, expanded: bool) -> Doc {
    if members.is_empty() {
        return text("{}");
    }
    let sep = concat(vec![if_break(text(""), text(";")), Doc::Line]);
    group_with(
        concat(vec![
            text("{"),
            indent(concat(vec![Doc::Line, join(sep, members)])),
            Doc::Line,
            text("}"),
        ]),
        expanded,
    )
}

pub fn member_doc(m: &Member) -> Doc {
    concat(vec![
        text(key(&m.key)),
        text(if m.optional { "?: " } else { ": " }),
        to_doc(&m.ty),
    ])
}

pub fn to_doc(t: &Ty) -> Doc {
    doc_in(t, Parent::Other)
}

fn doc_in(t: &Ty, parent: Parent) -> Doc {
    match t {
        Ty::Raw(s) => text(s.clone()),
        Ty::Null => text("null"),
        Ty::NeverMap => group_with(
            concat(vec![
                text("{"),
                indent(concat(vec![Doc::Line, text("[_ in never]: never")])),
                Doc::Line,
                text("}"),
            ]),
            true,
        ),
        Ty::Str(s) => text(string_literal(s)),
        Ty::Obj(members, expanded) => {
            object_doc(members.iter().map(member_doc).collect(), *expanded)
        }
        Ty::Array(inner) => {
            let d = doc_in(inner, Parent::Array);
            if matches!(**inner, Ty::Union(_) | Ty::Inter(_)) {
                concat(vec![text("("), d, text(")[]")])
            } else {
                concat(vec![d, text("[]")])
            }
        }
        Ty::Tuple(items) => {
            doc::bracketed(items.iter().map(|t| doc_in(t, Parent::Tuple)).collect())
        }
        Ty::Union(types) => {
            // `{ … } | null` hugs: one object, the rest null.
            let objects = types.iter().filter(|t| is_object(t)).count();
            let nulls = types.iter().filter(|t| **t == Ty::Null).count();
            let hug = objects == 1 && nulls == types.len() - 1;
            let printed: Vec<Doc> = types
                .iter()
                .map(|t| {
                    let d = doc_in(t, Parent::Other);
                    if hug {
                        d
                    } else {
                        doc::align(2, d)
                    }
                })
                .collect();
            if hug {
                return join(text(" | "), printed);
            }
            let should_indent = parent != Parent::Tuple;
            let code = concat(vec![
                if_break(
                    concat(vec![
                        if should_indent { Doc::Line } else { text("") },
                        text("| "),
                    ]),
                    text(""),
                ),
                join(concat(vec![Doc::Line, text("| ")]), printed),
            ]);
            if parent == Parent::Array {
                return group(concat(vec![indent(code), Doc::Softline]));
            }
            group(if should_indent { indent(code) } else { code })
        }
        Ty::Inter(types) => {
            let mut out = Vec::new();
            let mut was_indented = false;
            for (i, t) in types.iter().enumerate() {
                let d = doc_in(t, Parent::Other);
                if i == 0 {
                    out.push(d);
                } else if !is_object(&types[i - 1]) && !is_object(t) {
                    out.push(indent(concat(vec![text(" &"), Doc::Line, d])));
                } else if is_object(&types[i - 1]) && is_object(t) {
                    out.push(text(" & "));
                    out.push(if was_indented { indent(d) } else { d });
                } else {
                    if i > 1 {
                        was_indented = true;
                    }
                    out.push(text(" & "));
                    out.push(if i > 1 { indent(d) } else { d });
                }
            }
            group(concat(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys_as_prettier_prints_them() {
        assert_eq!(string_literal("new"), "\"new\"");
        assert_eq!(string_literal("it's"), "\"it's\"");
        assert_eq!(string_literal("say \"hi\""), "'say \"hi\"'");
        assert_eq!(string_literal("a\nb"), "\"a\\nb\"");
        assert_eq!(key("user_id"), "user_id");
        assert_eq!(key("user-id"), "\"user-id\"");
        assert_eq!(key(""), "\"\"");
        assert_eq!(key("1a"), "\"1a\"");
    }

    #[test]
    fn long_unions_break_one_member_per_line() {
        let t = Ty::Obj(
            vec![member(
                "test_unnamed_row_composite",
                false,
                nullable(
                    raw("Database[\"public\"][\"CompositeTypes\"][\"composite_type_with_array_attribute\"]"),
                    true,
                ),
            )],
            true,
        );
        assert_eq!(
            doc::print(&to_doc(&t)),
            "{\n  test_unnamed_row_composite:\n    | Database[\"public\"][\"CompositeTypes\"][\"composite_type_with_array_attribute\"]\n    | null\n}"
        );
    }

    #[test]
    fn an_object_or_null_hugs() {
        let row = Ty::Obj(vec![member("id", false, raw("number"))], true);
        let t = Ty::Obj(vec![member("f", false, nullable(row, true))], true);
        assert_eq!(
            doc::print(&to_doc(&t)),
            "{\n  f: {\n    id: number\n  } | null\n}"
        );
    }
}
