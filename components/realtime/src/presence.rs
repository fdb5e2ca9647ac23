//! Presence payloads (Phoenix.Presence's `presence_state` and
//! `presence_diff`): per key, `{metas: [{phx_ref, ...meta}]}`.

use serde_json::{json, Map, Value};

/// One tracked presence.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub phx_ref: String,
    pub meta: Value,
}

fn meta(e: &Entry) -> Value {
    let mut m = match &e.meta {
        Value::Object(o) => o.clone(),
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("payload".into(), other.clone());
            m
        }
    };
    m.insert("phx_ref".into(), json!(e.phx_ref));
    Value::Object(m)
}

/// `{key: {metas: [...]}}` of `entries`.
pub fn by_key<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Value {
    let mut out = Map::new();
    for e in entries {
        let slot = out
            .entry(e.key.clone())
            .or_insert_with(|| json!({"metas": []}));
        if let Some(a) = slot["metas"].as_array_mut() {
            a.push(meta(e));
        }
    }
    Value::Object(out)
}

/// A `presence_diff` payload.
pub fn diff(joins: &[Entry], leaves: &[Entry]) -> Value {
    json!({"joins": by_key(joins), "leaves": by_key(leaves)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_diff_by_key() {
        let a = Entry { key: "alice".into(), phx_ref: "r1".into(), meta: json!({"online": true}) };
        let b = Entry { key: "alice".into(), phx_ref: "r2".into(), meta: json!(null) };
        let s = by_key([&a, &b]);
        assert_eq!(s["alice"]["metas"][0], json!({"online": true, "phx_ref": "r1"}));
        assert_eq!(s["alice"]["metas"][1], json!({"phx_ref": "r2"}));
        let d = diff(&[], &[a]);
        assert_eq!(d["joins"], json!({}));
        assert_eq!(d["leaves"]["alice"]["metas"][0]["phx_ref"], json!("r1"));
    }
}
