//! One socket: frames in, decoded and answered by the protocol crate's
//! rules, joins and leaves on the hub; frames out through its own writer
//! task (a slow client delays only itself).

use super::hub::{Identity, Member, Outbox};
use super::Realtime;
use futures_util::{SinkExt, StreamExt};
use realtime::frame::{self, Incoming};
use realtime::{join, Body, Msg, Vsn};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Channels one socket may join (Realtime's default `max_channels_per_client`).
pub const MAX_CHANNELS: usize = 100;
/// A socket that sends nothing (not even a heartbeat) this long is closed.
pub const IDLE: Duration = Duration::from_secs(120);

struct Channel {
    join_ref: Option<String>,
    presence_key: String,
    broadcast_ack: bool,
    identity: Arc<Mutex<Identity>>,
}

struct Socket {
    id: u64,
    vsn: Vsn,
    out: Outbox,
    rt: Arc<Realtime>,
    /// The apikey's identity (a join's `access_token` overrides it).
    identity: Identity,
    channels: HashMap<String, Channel>,
}

pub async fn run<S>(ws: tokio_tungstenite::WebSocketStream<S>, rt: Arc<Realtime>, vsn: Vsn, identity: Identity)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (out, mut rx, overflow) = Outbox::new();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut s = Socket {
        id: rt.hub.next_id(),
        vsn,
        out: out.clone(),
        rt: rt.clone(),
        identity,
        channels: HashMap::new(),
    };
    loop {
        let next = tokio::select! {
            m = tokio::time::timeout(IDLE, stream.next()) => m,
            _ = overflow.notified() => {
                tracing::debug!(socket = s.id, "realtime: a slow socket's outbox is full: closed");
                break;
            }
        };
        let m = match next {
            Err(_) => break,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(socket = s.id, "realtime: socket error: {e}");
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        let incoming = match &m {
            Message::Text(t) => frame::decode_text(vsn, t.as_str()),
            Message::Binary(b) => frame::decode_binary(b),
            Message::Close(_) => break,
            _ => continue,
        };
        match incoming {
            Ok(i) => s.handle(i).await,
            Err(reason) => s.malformed(&reason),
        }
    }
    let topics: Vec<String> = s.channels.keys().cloned().collect();
    rt.hub.drop_socket(&topics, s.id);
    drop(s);
    out.raw(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    })));
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

fn sub_topic(topic: &str) -> &str {
    topic.strip_prefix("realtime:").unwrap_or(topic)
}

impl Socket {
    fn send(&self, m: &Msg) {
        self.out.msg(self.vsn, m);
    }

    fn reply(&self, to: &Msg, status: &str, response: Value) {
        self.send(&frame::reply(to, status, response));
    }

    /// A frame that could not be decoded: answered, the socket kept.
    fn malformed(&self, reason: &str) {
        self.send(&Msg {
            join_ref: None,
            r#ref: None,
            topic: "phoenix".into(),
            event: "phx_reply".into(),
            payload: json!({"status": "error", "response": {"reason": reason}}),
        });
    }

    fn authenticate(&self, token: &str) -> Result<Identity, String> {
        self.rt.authenticate(token)
    }

    async fn handle(&mut self, i: Incoming) {
        match i {
            Incoming::Broadcast {
                join_ref,
                r#ref,
                topic,
                event,
                meta,
                body,
            } => {
                let m = Msg {
                    join_ref,
                    r#ref,
                    topic,
                    event: "broadcast".into(),
                    payload: Value::Null,
                };
                self.broadcast(&m, &event, meta.as_ref(), &body);
            }
            Incoming::Msg(m) => self.message(m).await,
        }
    }

    async fn message(&mut self, m: Msg) {
        if m.topic == "phoenix" {
            if m.event == "heartbeat" {
                self.reply(&m, "ok", json!({}));
            } else {
                self.reply(&m, "error", json!({"reason": "unmatched topic"}));
            }
            return;
        }
        match m.event.as_str() {
            "phx_join" => self.join(&m).await,
            _ if !self.channels.contains_key(&m.topic) => {
                self.reply(&m, "error", json!({"reason": "unmatched topic"}));
            }
            "phx_leave" => {
                self.rt.hub.leave(&m.topic, self.id);
                let ch = self.channels.remove(&m.topic);
                self.reply(&m, "ok", json!({}));
                self.send(&frame::push(
                    &m.topic,
                    ch.and_then(|c| c.join_ref).as_deref(),
                    "phx_close",
                    json!({}),
                ));
            }
            "broadcast" => {
                let event = m.payload.get("event").and_then(Value::as_str).unwrap_or("").to_string();
                let body = Body::Json(m.payload.get("payload").cloned().unwrap_or(Value::Null));
                self.broadcast(&m, &event, None, &body);
            }
            "presence" => self.presence(&m),
            "access_token" => self.access_token(&m),
            _ => self.reply(&m, "error", json!({"reason": format!("unknown event {}", m.event)})),
        }
    }

    fn broadcast(&self, m: &Msg, event: &str, meta: Option<&Value>, body: &Body) {
        let Some(ch) = self.channels.get(&m.topic) else {
            self.reply(m, "error", json!({"reason": "unmatched topic"}));
            return;
        };
        self.rt.hub.broadcast(&m.topic, self.id, event, meta, body);
        if ch.broadcast_ack {
            self.reply(m, "ok", json!({}));
        }
    }

    fn presence(&self, m: &Msg) {
        let Some(ch) = self.channels.get(&m.topic) else { return };
        match m.payload.get("event").and_then(Value::as_str) {
            Some("track") => {
                let meta = m.payload.get("payload").cloned().unwrap_or_else(|| json!({}));
                if !meta.is_object() {
                    self.reply(m, "error", json!({"reason": "presence payload must be an object"}));
                    return;
                }
                self.rt.hub.track(&m.topic, self.id, &ch.presence_key, meta);
                self.reply(m, "ok", json!({}));
            }
            Some("untrack") => {
                self.rt.hub.untrack(&m.topic, self.id);
                self.reply(m, "ok", json!({}));
            }
            _ => self.reply(m, "error", json!({"reason": "unknown presence event"})),
        }
    }

    /// A new token for every channel of the socket (realtime-js sends it
    /// per channel): verified again; a bad one closes the channel.
    fn access_token(&mut self, m: &Msg) {
        let token = m.payload.get("access_token").and_then(Value::as_str).unwrap_or("");
        match self.authenticate(token) {
            Ok(id) => {
                if let Some(ch) = self.channels.get(&m.topic) {
                    *ch.identity.lock().unwrap_or_else(|p| p.into_inner()) = id;
                }
                self.reply(m, "ok", json!({}));
            }
            Err(reason) => {
                let ch = self.channels.remove(&m.topic);
                self.rt.hub.leave(&m.topic, self.id);
                let join_ref = ch.and_then(|c| c.join_ref);
                self.send(&frame::push(
                    &m.topic,
                    join_ref.as_deref(),
                    "system",
                    json!({"message": reason, "status": "error", "extension": "system", "channel": sub_topic(&m.topic)}),
                ));
                self.send(&frame::push(&m.topic, join_ref.as_deref(), "phx_close", json!({})));
            }
        }
    }

    async fn join(&mut self, m: &Msg) {
        let config = match join::parse(&m.payload) {
            Ok(c) => c,
            Err(reason) => {
                self.reply(m, "error", json!({"reason": reason}));
                return;
            }
        };
        if config.private {
            // Private channels (RLS on realtime.messages) are not served yet.
            self.reply(m, "error", json!({"reason": "Private channels are not supported by this server"}));
            return;
        }
        if !self.channels.contains_key(&m.topic) && self.channels.len() >= MAX_CHANNELS {
            self.reply(m, "error", json!({"reason": "Too many channels"}));
            return;
        }
        let identity = match config.access_token.as_deref() {
            Some(t) => match self.authenticate(t) {
                Ok(id) => id,
                Err(reason) => {
                    self.reply(m, "error", json!({"reason": reason}));
                    return;
                }
            },
            None => self.identity.clone(),
        };
        let mut since = 0;
        let pg = !config.postgres_changes.is_empty();
        if pg {
            let Some(db) = self.rt.db.as_ref() else {
                self.reply(m, "error", json!({"reason": "postgres_changes needs a database"}));
                return;
            };
            match super::feed::sync(db).await {
                Ok(at) => since = at,
                Err(e) => {
                    tracing::warn!("realtime: preparing the change capture failed: {e}");
                    self.reply(m, "error", json!({"reason": "Unable to subscribe to changes"}));
                    return;
                }
            }
            self.rt.start_feed();
        }
        let presence_key = if config.presence_key.is_empty() {
            format!("{:x}-{:x}", self.id, self.rt.hub.next_id())
        } else {
            config.presence_key.clone()
        };
        let identity = Arc::new(Mutex::new(identity));
        let state = self.rt.hub.join(
            &m.topic,
            self.id,
            Member {
                out: self.out.clone(),
                vsn: self.vsn,
                join_ref: m.join_ref.clone(),
                broadcast_self: config.broadcast_self,
                bindings: config.postgres_changes.clone(),
                since,
                identity: identity.clone(),
            },
        );
        self.channels.insert(
            m.topic.clone(),
            Channel {
                join_ref: m.join_ref.clone(),
                presence_key,
                broadcast_ack: config.broadcast_ack,
                identity,
            },
        );
        self.reply(m, "ok", config.reply());
        if config.presence_enabled {
            self.send(&frame::push(&m.topic, m.join_ref.as_deref(), "presence_state", state));
        }
        if pg {
            self.send(&frame::push(
                &m.topic,
                m.join_ref.as_deref(),
                "system",
                json!({"message": "Subscribed to PostgreSQL", "status": "ok", "extension": "postgres_changes", "channel": sub_topic(&m.topic)}),
            ));
        }
    }
}
