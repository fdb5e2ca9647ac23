//! `postgres_changes` filters as realtime-js writes them (`column=op.value`,
//! `column=in.(a,b)`), and whether a record passes one. Values compare as
//! numbers when both sides are numbers, else as text (the record's JSON
//! value as PostgreSQL prints it), as Realtime compares column values cast
//! from the filter's text.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    /// One value, or the list of `in`.
    pub values: Vec<String>,
}

/// Filters longer than this are refused.
pub const MAX_FILTER_BYTES: usize = 4096;
/// `in` lists longer than this are refused (Realtime: 100).
pub const MAX_IN_VALUES: usize = 100;

/// Parses `column=op.value`.
pub fn parse(s: &str) -> Result<Filter, String> {
    if s.len() > MAX_FILTER_BYTES {
        return Err("filter too long".into());
    }
    let (column, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("Error parsing `filter` params: {s}"))?;
    let (op, value) = rest
        .split_once('.')
        .ok_or_else(|| format!("Error parsing `filter` params: {s}"))?;
    let column = column.trim();
    if column.is_empty() {
        return Err(format!("Error parsing `filter` params: {s}"));
    }
    let op = match op {
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "in" => Op::In,
        other => return Err(format!("Error parsing `filter` params: unsupported operator {other}")),
    };
    let values = if op == Op::In {
        let inner = value
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("Error parsing `filter` params: {s}"))?;
        let list: Vec<String> = split_list(inner);
        if list.len() > MAX_IN_VALUES {
            return Err(format!("Error parsing `filter` params: more than {MAX_IN_VALUES} values"));
        }
        list
    } else {
        vec![value.to_string()]
    };
    Ok(Filter {
        column: column.to_string(),
        op,
        values,
    })
}

/// `a,b,"c,d"`: comma-separated, double quotes keep commas.
fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in s.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || !out.is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A JSON value as PostgreSQL's text output would show it.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn compare(a: &Value, b: &str) -> Option<std::cmp::Ordering> {
    if let (Some(x), Ok(y)) = (a.as_f64(), b.trim().parse::<f64>()) {
        return x.partial_cmp(&y);
    }
    if let Value::Bool(x) = a {
        let y = match b {
            "true" | "t" => true,
            "false" | "f" => false,
            _ => return None,
        };
        return Some(x.cmp(&y));
    }
    Some(text(a)?.as_str().cmp(b))
}

impl Filter {
    /// Whether `record` (a JSON object) passes. A missing or NULL column
    /// passes no operator (SQL's NULL comparisons).
    pub fn matches(&self, record: &Value) -> bool {
        use std::cmp::Ordering::*;
        let Some(v) = record.get(&self.column).filter(|v| !v.is_null()) else {
            return false;
        };
        let one = |want: &dyn Fn(std::cmp::Ordering) -> bool| {
            compare(v, &self.values[0]).is_some_and(|o| want(o))
        };
        match self.op {
            Op::Eq => one(&|o| o == Equal),
            Op::Neq => one(&|o| o != Equal),
            Op::Lt => one(&|o| o == Less),
            Op::Lte => one(&|o| o != Greater),
            Op::Gt => one(&|o| o == Greater),
            Op::Gte => one(&|o| o != Less),
            Op::In => self
                .values
                .iter()
                .any(|x| compare(v, x) == Some(Equal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_operator() {
        assert_eq!(
            parse("id=eq.5").unwrap(),
            Filter { column: "id".into(), op: Op::Eq, values: vec!["5".into()] }
        );
        assert_eq!(parse("name=in.(a,b, \"c,d\")").unwrap().values, ["a", "b", "c,d"]);
        assert_eq!(parse("x=eq.a.b").unwrap().values, ["a.b"]);
        for bad in ["id", "id=5", "=eq.1", "id=like.x", "id=in.1,2"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_numbers_text_bools_and_nulls() {
        let r = json!({"id": 5, "name": "bob", "done": true, "gone": null});
        let m = |f: &str| parse(f).unwrap().matches(&r);
        assert!(m("id=eq.5") && m("id=eq.5.0") && !m("id=eq.6"));
        assert!(m("id=neq.6") && !m("id=neq.5"));
        assert!(m("id=lt.10") && !m("id=lt.5") && m("id=lte.5"));
        assert!(m("id=gt.1") && !m("id=gt.5") && m("id=gte.5"));
        assert!(m("name=eq.bob") && !m("name=eq.alice") && m("name=gt.alice"));
        assert!(m("id=in.(1,5)") && !m("id=in.(1,2)") && m("name=in.(bob)"));
        assert!(m("done=eq.true") && !m("done=eq.false"));
        assert!(!m("gone=eq.x") && !m("gone=neq.x") && !m("missing=neq.x"));
    }
}
