//! A captured row change and the `postgres_changes` payload realtime-js
//! reads (`RealtimeChannel._updateFilterTransform`): `{ids, data: {schema,
//! table, commit_timestamp, type, columns, record, old_record, errors}}`.

use serde_json::{json, Map, Value};

/// A change as the capture wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub id: i64,
    pub schema: String,
    pub table: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub op: String,
    pub record: Value,
    pub old_record: Value,
    pub commit_timestamp: String,
}

/// What the host knows of the changed table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// `[{name, type}]` in column order.
    pub columns: Vec<(String, String)>,
    pub primary_key: Vec<String>,
    /// Row level security on.
    pub rls: bool,
    /// `replica identity full`.
    pub identity_full: bool,
}

impl Change {
    /// The record the bindings' filters see: the new row, or the old one of
    /// a DELETE.
    pub fn filter_record(&self) -> &Value {
        if self.op == "DELETE" {
            &self.old_record
        } else {
            &self.record
        }
    }
}

fn only(record: &Value, keep: &[String]) -> Value {
    let mut m = Map::new();
    for k in keep {
        if let Some(v) = record.get(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// The payload for a subscriber whose bindings `ids` take the change.
/// `old_record` as Realtime sends it: the whole old row with `replica
/// identity full` (only the primary key of a DELETE under RLS), else the
/// primary key.
pub fn payload(c: &Change, t: &Table, ids: &[u32], errors: Option<Vec<String>>) -> Value {
    let columns: Vec<Value> = t
        .columns
        .iter()
        .map(|(n, ty)| json!({"name": n, "type": ty}))
        .collect();
    let mut data = json!({
        "schema": c.schema,
        "table": c.table,
        "commit_timestamp": c.commit_timestamp,
        "type": c.op,
        "columns": columns,
        "errors": errors,
    });
    if c.op != "DELETE" {
        data["record"] = c.record.clone();
    }
    if c.op != "INSERT" {
        let full = t.identity_full && !(c.op == "DELETE" && t.rls);
        data["old_record"] = if full {
            c.old_record.clone()
        } else {
            only(&c.old_record, &t.primary_key)
        };
    }
    json!({"ids": ids, "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rls: bool, full: bool) -> Table {
        Table {
            columns: vec![("id".into(), "int8".into()), ("body".into(), "text".into())],
            primary_key: vec!["id".into()],
            rls,
            identity_full: full,
        }
    }

    #[test]
    fn payloads_as_realtime_js_reads_them() {
        let mut c = Change {
            id: 1,
            schema: "public".into(),
            table: "notes".into(),
            op: "INSERT".into(),
            record: json!({"id": 1, "body": "x"}),
            old_record: Value::Null,
            commit_timestamp: "2026-01-01T00:00:00.000Z".into(),
        };
        let p = payload(&c, &table(true, false), &[7], None);
        assert_eq!(p["ids"], json!([7]));
        assert_eq!(p["data"]["record"], json!({"id": 1, "body": "x"}));
        assert!(p["data"].get("old_record").is_none());
        assert_eq!(p["data"]["columns"][1], json!({"name": "body", "type": "text"}));
        c.op = "DELETE".into();
        c.old_record = json!({"id": 1, "body": "x"});
        assert_eq!(c.filter_record(), &c.old_record);
        let p = payload(&c, &table(true, true), &[7], None);
        assert_eq!(p["data"]["old_record"], json!({"id": 1}));
        assert!(p["data"].get("record").is_none());
        let p = payload(&c, &table(false, true), &[7], None);
        assert_eq!(p["data"]["old_record"], json!({"id": 1, "body": "x"}));
        let p = payload(&c, &table(false, false), &[7], None);
        assert_eq!(p["data"]["old_record"], json!({"id": 1}));
    }
}
