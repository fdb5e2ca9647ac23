//! SQL as composable snippets: identifiers quoted, values bound. A value
//! becomes `$n` only when the statement is [finished](Sql::finish), so
//! snippets are built independently (a count beside a page, a CTE before
//! the statement that reads it) and joined in any order.

use std::rc::Rc;

/// A finished statement: text with `$1…$n` and its text-format parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

impl Statement {
    /// A statement with no parameters.
    pub fn text(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
        }
    }
}

/// A bound value that may appear at several places of one statement (it is
/// sent once): clone it and [`Sql::bind`] each clone.
#[derive(Debug, Clone)]
pub struct Value(Rc<String>);

impl Value {
    pub fn new(v: impl Into<String>) -> Self {
        Value(Rc::new(v.into()))
    }
}

#[derive(Debug, Clone)]
enum Chunk {
    Text(String),
    Param(Value),
}

/// A piece of SQL text with its bound values, not numbered yet.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    chunks: Vec<Chunk>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        let mut s = Sql::default();
        s.push(text);
        s
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        match self.chunks.last_mut() {
            Some(Chunk::Text(t)) => t.push_str(s),
            _ => self.chunks.push(Chunk::Text(s.to_string())),
        }
        self
    }

    /// Appends a bound parameter.
    pub fn param(&mut self, value: impl Into<String>) -> &mut Self {
        self.chunks.push(Chunk::Param(Value::new(value)));
        self
    }

    /// Appends a shared bound value (one parameter however often it is bound).
    pub fn bind(&mut self, value: &Value) -> &mut Self {
        self.chunks.push(Chunk::Param(value.clone()));
        self
    }

    /// Appends a quoted identifier.
    pub fn ident(&mut self, name: &str) -> &mut Self {
        self.push(&quote_ident(name))
    }

    /// Appends another snippet.
    pub fn append(&mut self, other: Sql) -> &mut Self {
        for c in other.chunks {
            match c {
                Chunk::Text(t) => {
                    self.push(&t);
                }
                p => self.chunks.push(p),
            }
        }
        self
    }

    /// Numbers the parameters in order of appearance; a shared value keeps
    /// its first number.
    pub fn finish(self) -> Statement {
        let mut st = Statement::default();
        let mut shared: Vec<(Value, usize)> = Vec::new();
        for c in self.chunks {
            match c {
                Chunk::Text(t) => st.sql.push_str(&t),
                Chunk::Param(v) => {
                    let known = shared.iter().find(|(s, _)| Rc::ptr_eq(&s.0, &v.0));
                    let n = match known {
                        Some((_, n)) => *n,
                        None => {
                            if Rc::strong_count(&v.0) > 1 {
                                shared.push((v.clone(), st.params.len() + 1));
                            }
                            let text = Rc::try_unwrap(v.0).unwrap_or_else(|rc| (*rc).clone());
                            st.params.push(Some(text));
                            st.params.len()
                        }
                    };
                    st.sql.push('$');
                    st.sql.push_str(&n.to_string());
                }
            }
        }
        st
    }
}

pub use contract::sql::quote_ident;

/// A PostgreSQL array literal (`{"a","b"}`) for `= ANY($n)`.
pub fn array_literal(items: &[String]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            array_literal(&["x".into(), "y\"z".into(), "\\".into()]),
            r#"{"x","y\"z","\\"}"#
        );
    }

    #[test]
    fn parameters_are_numbered_when_finished() {
        let shared = Value::new("row");
        let mut count = Sql::new("(select count(*) from t where a = ");
        count.param("1").push(")");
        let mut st = Sql::new("with c as (select ");
        st.bind(&shared).push(", ").bind(&shared).push(") select ");
        st.append(count).push(", ").param("2");
        let st = st.finish();
        assert_eq!(
            st.sql,
            "with c as (select $1, $1) select (select count(*) from t where a = $2), $3"
        );
        assert_eq!(
            st.params,
            vec![Some("row".into()), Some("1".into()), Some("2".into())]
        );
    }
}
