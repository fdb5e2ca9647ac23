//! A tiny SQL text builder: identifiers quoted, values bound as `$n`.

/// One SQL statement with text-format parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

impl Statement {
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    /// Appends a bound parameter (`$n`).
    pub fn param(&mut self, value: impl Into<String>) -> &mut Self {
        self.params.push(Some(value.into()));
        let n = self.params.len();
        self.sql.push('$');
        self.sql.push_str(&n.to_string());
        self
    }

    /// Appends a quoted identifier.
    pub fn ident(&mut self, name: &str) -> &mut Self {
        self.sql.push_str(&quote_ident(name));
        self
    }
}

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
        let mut s = Statement::default();
        s.push("select ").param("1").push(", ").param("2");
        assert_eq!(s.sql, "select $1, $2");
        assert_eq!(s.params.len(), 2);
    }
}
