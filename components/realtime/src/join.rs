//! A `phx_join`'s payload: the channel's config (broadcast `self`/`ack`,
//! presence key, `postgres_changes` bindings, `private`) and its token.

use crate::filter::{self, Filter};
use serde_json::{json, Value};

/// Which changes a binding takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    All,
    Insert,
    Update,
    Delete,
}

impl Event {
    pub fn parse(s: &str) -> Option<Event> {
        match s {
            "*" => Some(Event::All),
            "INSERT" => Some(Event::Insert),
            "UPDATE" => Some(Event::Update),
            "DELETE" => Some(Event::Delete),
            _ => None,
        }
    }

    /// Whether a change of type `op` (`INSERT`/`UPDATE`/`DELETE`) passes.
    pub fn takes(self, op: &str) -> bool {
        match self {
            Event::All => true,
            Event::Insert => op == "INSERT",
            Event::Update => op == "UPDATE",
            Event::Delete => op == "DELETE",
        }
    }
}

/// One `postgres_changes` binding of a join.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The id realtime-js matches by position in the join reply.
    pub id: u32,
    pub event: Event,
    /// `*` for any schema.
    pub schema: String,
    /// None: every table of the schema.
    pub table: Option<String>,
    pub filter: Option<Filter>,
    /// What the client sent, echoed with `id` in the join reply.
    pub echo: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub broadcast_self: bool,
    pub broadcast_ack: bool,
    /// `config.presence.key` (empty: a key of the server's choosing).
    pub presence_key: String,
    pub presence_enabled: bool,
    pub private: bool,
    pub postgres_changes: Vec<Binding>,
    pub access_token: Option<String>,
}

/// Bindings per join at most.
pub const MAX_BINDINGS: usize = 100;

/// FNV-1a, a stable id for a binding's parameters (Realtime's is
/// `:erlang.phash2` of them: a number the client only echoes).
fn id_of(parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x01000193);
        }
    }
    h & 0x7fff_ffff
}

fn flag(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool).unwrap_or(false)
}

/// Parses a join payload; an error is the reason the join is refused.
pub fn parse(payload: &Value) -> Result<Config, String> {
    let config = payload.get("config").cloned().unwrap_or_else(|| json!({}));
    if !config.is_object() {
        return Err("config must be an object".into());
    }
    let broadcast = config.get("broadcast");
    let presence = config.get("presence");
    let mut bindings = Vec::new();
    let list = match config.get("postgres_changes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("postgres_changes must be a list".into()),
    };
    if list.len() > MAX_BINDINGS {
        return Err(format!("at most {MAX_BINDINGS} postgres_changes bindings per channel"));
    }
    for b in list {
        let field = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
        let event_text = field("event").unwrap_or_else(|| "*".into());
        let event = Event::parse(&event_text)
            .ok_or_else(|| format!("Error parsing `event` params: {event_text}"))?;
        let schema = field("schema").unwrap_or_else(|| "*".into());
        let table = field("table").filter(|t| t != "*");
        let filter_text = field("filter").filter(|f| !f.is_empty());
        let filter = filter_text.as_deref().map(filter::parse).transpose()?;
        let id = id_of(&[
            &event_text,
            &schema,
            table.as_deref().unwrap_or("*"),
            filter_text.as_deref().unwrap_or(""),
        ]);
        let mut echo = b.clone();
        if let Some(o) = echo.as_object_mut() {
            o.insert("id".into(), json!(id));
        }
        bindings.push(Binding {
            id,
            event,
            schema,
            table,
            filter,
            echo,
        });
    }
    let access_token = payload
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(Config {
        broadcast_self: flag(broadcast.and_then(|b| b.get("self"))),
        broadcast_ack: flag(broadcast.and_then(|b| b.get("ack"))),
        presence_key: presence
            .and_then(|p| p.get("key"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        presence_enabled: presence
            .and_then(|p| p.get("enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(true),
        private: flag(config.get("private")),
        postgres_changes: bindings,
        access_token,
    })
}

impl Config {
    /// The join reply's `response`: the bindings with their ids, in order.
    pub fn reply(&self) -> Value {
        json!({"postgres_changes": self.postgres_changes.iter().map(|b| b.echo.clone()).collect::<Vec<_>>()})
    }
}

impl Binding {
    /// Whether a change on `schema.table` of type `op` passes (its record
    /// for the filter: the new one, or the old one of a DELETE).
    pub fn takes(&self, schema: &str, table: &str, op: &str, record: &Value) -> bool {
        self.event.takes(op)
            && (self.schema == "*" || self.schema == schema)
            && self.table.as_deref().is_none_or(|t| t == table)
            && self.filter.as_ref().is_none_or(|f| f.matches(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realtime_js_join() {
        let c = parse(&json!({
            "config": {
                "broadcast": {"self": true, "ack": false},
                "presence": {"key": "alice", "enabled": true},
                "postgres_changes": [
                    {"event": "INSERT", "schema": "public", "table": "todos", "filter": "id=gt.2"},
                    {"event": "*", "schema": "public"}
                ],
                "private": false
            },
            "access_token": "tok"
        }))
        .unwrap();
        assert!(c.broadcast_self && !c.broadcast_ack && !c.private);
        assert_eq!(c.presence_key, "alice");
        assert_eq!(c.access_token.as_deref(), Some("tok"));
        let [a, b] = &c.postgres_changes[..] else { panic!() };
        assert_ne!(a.id, b.id);
        let reply = c.reply();
        assert_eq!(reply["postgres_changes"][0]["id"], json!(a.id));
        assert_eq!(reply["postgres_changes"][0]["filter"], json!("id=gt.2"));
        assert!(reply["postgres_changes"][1].get("filter").is_none());
        let r = json!({"id": 3});
        assert!(a.takes("public", "todos", "INSERT", &r));
        assert!(!a.takes("public", "todos", "UPDATE", &r));
        assert!(!a.takes("public", "todos", "INSERT", &json!({"id": 1})));
        assert!(!a.takes("public", "other", "INSERT", &r));
        assert!(b.takes("public", "other", "DELETE", &r));
        assert!(!b.takes("private", "other", "DELETE", &r));
    }

    #[test]
    fn bad_joins_are_refused() {
        assert!(parse(&json!({"config": 5})).is_err());
        assert!(parse(&json!({"config": {"postgres_changes": [{"event": "TRUNCATE"}]}})).is_err());
        assert!(parse(&json!({"config": {"postgres_changes": [{"event": "*", "filter": "id=like.x"}]}})).is_err());
        assert!(parse(&json!({"config": {"postgres_changes": {}}})).is_err());
        let c = parse(&json!({})).unwrap();
        assert!(c.postgres_changes.is_empty() && !c.broadcast_self && c.presence_key.is_empty());
    }
}
