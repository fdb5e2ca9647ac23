//! One socket: frames in, decoded and answered by the protocol crate's
//! rules, joins and leaves on the hub; frames out through its own writer
//! task (a slow client delays only itself).

use super::hub::{Identity, Key, Member, Outbox};
use super::authz;
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
    /// The channel on the hub (private channels apart from public ones).
    key: Key,
    /// What the policies on `realtime.messages` allow a private channel's
    /// caller to write (asked on first use, as Supabase does).
    write_broadcast: Option<bool>,
    write_presence: Option<bool>,
    join_ref: Option<String>,
    /// When the channel's token expires (its `exp`, Unix seconds): then the
    /// channel ends, as Supabase Realtime ends it.
    exp: Option<i64>,
    presence_key: String,
    broadcast_ack: bool,
    identity: Arc<Mutex<Identity>>,
    reads: Arc<super::hub::Reads>,
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
        let expiry = s.channels.values().filter_map(|c| c.exp).min();
        let until_expiry = expiry
            .map(|e| Duration::from_secs(e.saturating_sub(now()).max(0) as u64))
            .unwrap_or(IDLE);
        let next = tokio::select! {
            m = tokio::time::timeout(IDLE, stream.next()) => m,
            _ = overflow.notified() => {
                tracing::debug!(socket = s.id, "realtime: a slow socket's outbox is full: closed");
                break;
            }
            _ = tokio::time::sleep(until_expiry), if expiry.is_some() => {
                s.expire();
                continue;
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
    let keys: Vec<Key> = s.channels.values().map(|c| c.key.clone()).collect();
    rt.hub.drop_socket(&keys, s.id);
    drop(s);
    out.raw(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    })));
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A token's `exp` claim.
fn exp_of(who: &Identity) -> Option<i64> {
    serde_json::from_str::<Value>(&who.claims_json)
        .ok()?
        .get("exp")?
        .as_i64()
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
                self.broadcast(&m, &event, meta.as_ref(), &body).await;
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
                let ch = self.channels.remove(&m.topic);
                if let Some(c) = &ch {
                    self.rt.hub.leave(&c.key, self.id);
                }
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
                self.broadcast(&m, &event, None, &body).await;
            }
            "presence" => self.presence(&m).await,
            "access_token" => self.access_token(&m).await,
            _ => self.reply(&m, "error", json!({"reason": format!("unknown event {}", m.event)})),
        }
    }

    /// May this private channel's caller write `extension` (cached)?
    /// Public channels may always.
    async fn may_write(&mut self, topic: &str, extension: &str) -> bool {
        let Some(ch) = self.channels.get(topic) else { return false };
        if !ch.key.private {
            return true;
        }
        let cached = if extension == "presence" { ch.write_presence } else { ch.write_broadcast };
        if let Some(w) = cached {
            return w;
        }
        let who = ch.identity.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(db) = self.rt.db.as_ref() else { return false };
        let w = match authz::write(db, &who, sub_topic(topic), extension).await {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!(socket = self.id, "realtime: the write policy check failed: {e}");
                false
            }
        };
        if let Some(ch) = self.channels.get_mut(topic) {
            if extension == "presence" {
                ch.write_presence = Some(w);
            } else {
                ch.write_broadcast = Some(w);
            }
        }
        w
    }

    async fn broadcast(&mut self, m: &Msg, event: &str, meta: Option<&Value>, body: &Body) {
        if !self.channels.contains_key(&m.topic) {
            self.reply(m, "error", json!({"reason": "unmatched topic"}));
            return;
        }
        // A private channel's caller without the write policy: dropped
        // without an answer, as Supabase Realtime drops it.
        if !self.may_write(&m.topic, "broadcast").await {
            return;
        }
        let Some(ch) = self.channels.get(&m.topic) else { return };
        self.rt.hub.publish(&ch.key, self.id, event, meta, body);
        if ch.broadcast_ack {
            self.reply(m, "ok", json!({}));
        }
    }

    async fn presence(&mut self, m: &Msg) {
        if !self.channels.contains_key(&m.topic) {
            return;
        }
        let track = m.payload.get("event").and_then(Value::as_str) == Some("track");
        if track && !self.may_write(&m.topic, "presence").await {
            self.reply(m, "error", json!({"reason": "Unauthorized: You do not have permissions to track presence on this Channel topic"}));
            return;
        }
        let Some(ch) = self.channels.get(&m.topic) else { return };
        match m.payload.get("event").and_then(Value::as_str) {
            Some("track") => {
                let meta = m.payload.get("payload").cloned().unwrap_or_else(|| json!({}));
                if !meta.is_object() {
                    self.reply(m, "error", json!({"reason": "presence payload must be an object"}));
                    return;
                }
                self.rt.hub.track(&ch.key, self.id, &ch.presence_key, meta);
                self.reply(m, "ok", json!({}));
            }
            Some("untrack") => {
                self.rt.hub.untrack(&ch.key, self.id);
                self.reply(m, "ok", json!({}));
            }
            _ => self.reply(m, "error", json!({"reason": "unknown presence event"})),
        }
    }

    /// A new token for every channel of the socket (realtime-js sends it
    /// per channel): verified again; a bad one closes the channel.
    async fn access_token(&mut self, m: &Msg) {
        let token = m.payload.get("access_token").and_then(Value::as_str).unwrap_or("");
        match self.authenticate(token) {
            Ok(id) => {
                // A private channel asks the read policies again under the
                // new token: a read it had and lost ends the channel, as
                // Supabase Realtime's `check_read_permissions_revoked`.
                if let Some(ch) = self.channels.get(&m.topic).filter(|c| c.key.private) {
                    let reads = ch.reads.clone();
                    let topic = sub_topic(&m.topic).to_string();
                    let now = match self.rt.db.as_ref() {
                        Some(db) => super::authz::read(db, &id, &topic).await,
                        None => Err("no database".into()),
                    };
                    match now {
                        Ok(r) if (reads.broadcast() && !r.broadcast) || (reads.presence() && !r.presence) => {
                            let reason = format!("You no longer have permission to read from this Channel topic: {topic}");
                            self.end_channel(&m.topic, &reason);
                            return;
                        }
                        Ok(r) => reads.set(r.broadcast, r.presence),
                        Err(e) => {
                            tracing::debug!(socket = self.id, "realtime: RlsPolicyError: {e}");
                            let reason = format!("You do not have permissions to read from this Channel topic: {topic}");
                            self.end_channel(&m.topic, &reason);
                            return;
                        }
                    }
                }
                if let Some(ch) = self.channels.get_mut(&m.topic) {
                    ch.exp = exp_of(&id);
                    // Another token, perhaps another user: ask the write
                    // policies again.
                    ch.write_broadcast = None;
                    ch.write_presence = None;
                    *ch.identity.lock().unwrap_or_else(|p| p.into_inner()) = id;
                }
                self.reply(m, "ok", json!({}));
            }
            Err(reason) => self.end_channel(&m.topic, &reason),
        }
    }

    /// Ends a channel with a `system` error (then `phx_close`), as Supabase
    /// Realtime's `shutdown_response`.
    fn end_channel(&mut self, topic: &str, reason: &str) {
        let ch = self.channels.remove(topic);
        if let Some(c) = &ch {
            self.rt.hub.leave(&c.key, self.id);
        }
        let join_ref = ch.and_then(|c| c.join_ref);
        self.send(&frame::push(
            topic,
            join_ref.as_deref(),
            "system",
            json!({"message": reason, "status": "error", "extension": "system", "channel": sub_topic(topic)}),
        ));
        self.send(&frame::push(topic, join_ref.as_deref(), "phx_close", json!({})));
    }

    /// Ends the channels whose token has expired.
    fn expire(&mut self) {
        let now = now();
        let expired: Vec<(String, i64)> = self
            .channels
            .iter()
            .filter_map(|(t, c)| c.exp.filter(|e| *e <= now).map(|e| (t.clone(), e)))
            .collect();
        for (topic, exp) in expired {
            self.end_channel(&topic, &format!("Token has expired {} seconds ago", now - exp));
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
        let mut reads = super::hub::Reads::new(true, true);
        if config.private {
            // Authorized by the RLS policies on realtime.messages.
            let Some(db) = self.rt.db.as_ref() else {
                self.reply(m, "error", json!({"reason": "Private channels need a database"}));
                return;
            };
            let denied = format!(
                "Unauthorized: You do not have permissions to read from this Channel topic: {}",
                sub_topic(&m.topic)
            );
            match authz::read(db, &identity, sub_topic(&m.topic)).await {
                Ok(r) if r.broadcast || r.presence => reads = super::hub::Reads::new(r.broadcast, r.presence),
                Ok(_) => {
                    self.reply(m, "error", json!({"reason": denied}));
                    return;
                }
                Err(e) => {
                    tracing::debug!(socket = self.id, "realtime: RlsPolicyError: {e}");
                    self.reply(m, "error", json!({"reason": denied}));
                    return;
                }
            }
        }
        let key = Key::new(&m.topic, config.private);
        if let Some(old) = self.channels.get(&m.topic) {
            if old.key != key {
                // Rejoined as the other kind: leave the old one.
                self.rt.hub.leave(&old.key, self.id);
            }
        }
        let mut since = super::hub::Snapshot::default();
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
        }
        let presence_key = if config.presence_key.is_empty() {
            format!("{:x}-{:x}", self.id, self.rt.hub.next_id())
        } else {
            config.presence_key.clone()
        };
        // The feed also carries broadcasts from SQL (`realtime.send`).
        self.rt.start_feed();
        let exp = exp_of(&identity);
        let identity = Arc::new(Mutex::new(identity));
        let state = self.rt.hub.join(
            &key,
            self.id,
            Member {
                out: self.out.clone(),
                vsn: self.vsn,
                join_ref: m.join_ref.clone(),
                broadcast_self: config.broadcast_self,
                bindings: config.postgres_changes.clone(),
                since,
                identity: identity.clone(),
                reads: reads.clone(),
            },
        );
        self.channels.insert(
            m.topic.clone(),
            Channel {
                key,
                exp,
                write_broadcast: None,
                write_presence: None,
                join_ref: m.join_ref.clone(),
                presence_key,
                broadcast_ack: config.broadcast_ack,
                identity,
                reads: reads.clone(),
            },
        );
        self.reply(m, "ok", config.reply());
        if config.presence_enabled && reads.presence() {
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
