//! The channels of every socket: who joined which topic (with what config
//! and identity), fan-out of broadcasts, presence per topic. One lock,
//! held only to copy out or enqueue: a send never waits on a socket (each
//! has a bounded outbox; one that overflows is closed, see `Outbox`).

use realtime::join::Binding;
use realtime::presence::{self, Entry};
use realtime::{frame, Body, Frame, Msg, Vsn};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;

/// Frames waiting per socket at most; past it the socket is closed.
pub const OUTBOX_FRAMES: usize = 1024;

/// Who a channel acts as: the role and claims of its token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub role: String,
    pub claims_json: String,
}

/// A socket's queue of frames to write, and its kill switch.
#[derive(Clone)]
pub struct Outbox {
    tx: tokio::sync::mpsc::Sender<Message>,
    overflow: Arc<tokio::sync::Notify>,
}

impl Outbox {
    pub fn new() -> (Outbox, tokio::sync::mpsc::Receiver<Message>, Arc<tokio::sync::Notify>) {
        let (tx, rx) = tokio::sync::mpsc::channel(OUTBOX_FRAMES);
        let overflow = Arc::new(tokio::sync::Notify::new());
        (
            Outbox {
                tx,
                overflow: overflow.clone(),
            },
            rx,
            overflow,
        )
    }

    /// Queues a frame; a full queue closes the socket (a slow consumer).
    pub fn send(&self, f: Frame) {
        let m = match f {
            Frame::Text(t) => Message::text(t),
            Frame::Binary(b) => Message::binary(b),
        };
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = self.tx.try_send(m) {
            self.overflow.notify_one();
        }
    }

    /// Queues a frame as is (a close), if there is room.
    pub fn raw(&self, m: Message) {
        let _ = self.tx.try_send(m);
    }

    pub fn msg(&self, vsn: Vsn, m: &Msg) {
        self.send(frame::encode(vsn, m));
    }
}

/// A channel on the hub: private and public channels of one topic are
/// apart (as Supabase's tenant topics): a broadcast reaches only the kind
/// it was sent to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub topic: String,
    pub private: bool,
}

impl Key {
    pub fn new(topic: &str, private: bool) -> Key {
        Key {
            topic: topic.to_string(),
            private,
        }
    }
}

/// A PostgreSQL snapshot (`pg_current_snapshot()`, `xmin:xmax:xip,…`):
/// which transactions had committed when it was taken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    xmin: u64,
    xmax: u64,
    running: Vec<u64>,
}

impl Snapshot {
    pub fn parse(text: &str) -> Option<Snapshot> {
        let mut parts = text.trim().splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let running = match parts.next()? {
            "" => vec![],
            list => list.split(',').map(|x| x.parse().ok()).collect::<Option<Vec<u64>>>()?,
        };
        Some(Snapshot { xmin, xmax, running })
    }

    /// Had transaction `xid` committed (or ended) when this was taken?
    pub fn sees(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.running.contains(&xid))
    }
}

/// What a member may read: on a private channel, what the policies on
/// `realtime.messages` allow its caller (asked at join and again with each
/// new token); on a public channel, everything. Broadcasts and presence
/// events it may not read are withheld, as Supabase Realtime withholds them.
#[derive(Debug)]
pub struct Reads {
    pub broadcast: std::sync::atomic::AtomicBool,
    pub presence: std::sync::atomic::AtomicBool,
}

impl Reads {
    pub fn new(broadcast: bool, presence: bool) -> Arc<Reads> {
        Arc::new(Reads {
            broadcast: broadcast.into(),
            presence: presence.into(),
        })
    }

    pub fn broadcast(&self) -> bool {
        self.broadcast.load(Ordering::Relaxed)
    }

    pub fn presence(&self) -> bool {
        self.presence.load(Ordering::Relaxed)
    }

    pub fn set(&self, broadcast: bool, presence: bool) {
        self.broadcast.store(broadcast, Ordering::Relaxed);
        self.presence.store(presence, Ordering::Relaxed);
    }
}

/// One socket's membership of one topic.
#[derive(Clone)]
pub struct Member {
    pub out: Outbox,
    pub vsn: Vsn,
    pub join_ref: Option<String>,
    pub broadcast_self: bool,
    pub bindings: Vec<Binding>,
    /// The database's snapshot when it joined: the changes of
    /// transactions it does not see are this member's.
    pub since: Snapshot,
    pub identity: Arc<Mutex<Identity>>,
    pub reads: Arc<Reads>,
}

#[derive(Default)]
struct Topic {
    members: HashMap<u64, Member>,
    /// (socket, entry): one presence per socket and topic.
    presence: Vec<(u64, Entry)>,
}

/// A broadcast made here, for other supalite processes on the same
/// PostgreSQL (`feed::relay`).
pub struct Relayed {
    pub key: Key,
    pub event: String,
    pub body: Body,
}

/// Broadcasts waiting to be relayed at most; past it they reach only this
/// instance's members.
pub const RELAY_QUEUE: usize = 4096;

#[derive(Default)]
pub struct Hub {
    /// Set when other instances may share the database (PostgreSQL).
    pub relay: std::sync::OnceLock<tokio::sync::mpsc::Sender<Relayed>>,
    topics: Mutex<HashMap<Key, Topic>>,
    /// Members of any channel (the feed runs while there are some).
    members: AtomicU64,
    next: AtomicU64,
    /// Members with `postgres_changes` bindings.
    pg_members: AtomicU64,
    /// Woken when the first such member joins.
    pub pg_joined: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// A new socket id (also used for presence refs).
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds (or replaces) `socket`'s membership of `topic`; the presence
    /// state of the topic, for the joiner.
    pub fn join(&self, key: &Key, socket: u64, m: Member) -> Value {
        let pg = !m.bindings.is_empty();
        let mut topics = lock(&self.topics);
        let t = topics.entry(key.clone()).or_default();
        match t.members.insert(socket, m) {
            Some(old) if !old.bindings.is_empty() => {
                self.pg_members.fetch_sub(1, Ordering::Relaxed);
            }
            Some(_) => {}
            None => {
                if self.members.fetch_add(1, Ordering::Relaxed) == 0 {
                    // The feed wakes for broadcasts from SQL too.
                    self.pg_joined.notify_one();
                }
            }
        }
        if pg && self.pg_members.fetch_add(1, Ordering::Relaxed) == 0 {
            self.pg_joined.notify_one();
        }
        presence::by_key(t.presence.iter().map(|(_, e)| e))
    }

    /// Removes `socket` from `topic`; its presence leaves.
    pub fn leave(&self, key: &Key, socket: u64) {
        let mut topics = lock(&self.topics);
        let Some(t) = topics.get_mut(key) else { return };
        if let Some(old) = t.members.remove(&socket) {
            self.members.fetch_sub(1, Ordering::Relaxed);
            if !old.bindings.is_empty() {
                self.pg_members.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Self::untrack_locked(&key.topic, t, socket);
        if t.members.is_empty() && t.presence.is_empty() {
            topics.remove(key);
        }
    }

    /// Anyone on any channel?
    pub fn has_members(&self) -> bool {
        self.members.load(Ordering::Relaxed) > 0
    }

    /// Removes `socket` from every topic (it closed).
    pub fn drop_socket(&self, topics_of_socket: &[Key], socket: u64) {
        for t in topics_of_socket {
            self.leave(t, socket);
        }
    }

    /// A user broadcast to the topic's members (the sender too with `self`).
    pub fn broadcast(&self, key: &Key, from: u64, event: &str, meta: Option<&Value>, body: &Body) {
        let topics = lock(&self.topics);
        let Some(t) = topics.get(key) else { return };
        let topic = key.topic.as_str();
        let mut cache: [Option<Option<Frame>>; 2] = [None, None];
        for (id, m) in &t.members {
            if (*id == from && !m.broadcast_self) || !m.reads.broadcast() {
                continue;
            }
            let slot = &mut cache[(m.vsn == Vsn::V2) as usize];
            let f = slot.get_or_insert_with(|| frame::encode_broadcast(m.vsn, topic, event, meta, body));
            if let Some(f) = f {
                m.out.send(f.clone());
            }
        }
    }

    /// A broadcast made on this instance (a client's or the REST API's): to
    /// its members, and relayed to other instances' where some may be.
    pub fn publish(&self, key: &Key, from: u64, event: &str, meta: Option<&Value>, body: &Body) {
        self.broadcast(key, from, event, meta, body);
        if let Some(tx) = self.relay.get() {
            let r = Relayed {
                key: key.clone(),
                event: event.to_string(),
                body: body.clone(),
            };
            if tx.try_send(r).is_err() {
                tracing::warn!("realtime: the relay queue is full; a broadcast reached only this instance");
            }
        }
    }

    /// `socket` tracks `meta` under `key` (replacing what it tracked).
    pub fn track(&self, channel: &Key, socket: u64, key: &str, meta: Value) {
        let mut topics = lock(&self.topics);
        let Some(t) = topics.get_mut(channel) else { return };
        let topic = channel.topic.as_str();
        let leaves: Vec<Entry> = t
            .presence
            .iter()
            .filter(|(s, _)| *s == socket)
            .map(|(_, e)| e.clone())
            .collect();
        t.presence.retain(|(s, _)| *s != socket);
        let entry = Entry {
            key: key.to_string(),
            phx_ref: format!("F{:x}", self.next_id()),
            meta,
        };
        t.presence.push((socket, entry.clone()));
        Self::diff_locked(topic, t, &[entry], &leaves);
    }

    pub fn untrack(&self, key: &Key, socket: u64) {
        let mut topics = lock(&self.topics);
        if let Some(t) = topics.get_mut(key) {
            Self::untrack_locked(&key.topic, t, socket);
        }
    }

    fn untrack_locked(topic: &str, t: &mut Topic, socket: u64) {
        let leaves: Vec<Entry> = t
            .presence
            .iter()
            .filter(|(s, _)| *s == socket)
            .map(|(_, e)| e.clone())
            .collect();
        if leaves.is_empty() {
            return;
        }
        t.presence.retain(|(s, _)| *s != socket);
        Self::diff_locked(topic, t, &[], &leaves);
    }

    fn diff_locked(topic: &str, t: &Topic, joins: &[Entry], leaves: &[Entry]) {
        let payload = presence::diff(joins, leaves);
        for m in t.members.values().filter(|m| m.reads.presence()) {
            let msg = frame::push(topic, m.join_ref.as_deref(), "presence_diff", payload.clone());
            m.out.msg(m.vsn, &msg);
        }
    }

    /// Every member with a binding on `schema.table`, as (topic, member).
    pub fn pg_members_of(&self, schema: &str, table: &str) -> Vec<(String, Member)> {
        let topics = lock(&self.topics);
        let mut out = Vec::new();
        for (key, t) in topics.iter() {
            for m in t.members.values() {
                if m.bindings.iter().any(|b| {
                    (b.schema == "*" || b.schema == schema)
                        && b.table.as_deref().is_none_or(|x| x == table)
                }) {
                    out.push((key.topic.clone(), m.clone()));
                }
            }
        }
        out
    }
}
