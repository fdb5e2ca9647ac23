//! The change feed: the capture triggers kept in step with the
//! `supabase_realtime` publication, the queue they write read after commit,
//! and each change sent to the members whose bindings take it, after a
//! check under each member's role and claims (RLS), as Supabase's
//! `realtime.apply_rls`: an INSERT or UPDATE only to a member who can
//! select that row (by its primary key) now; a DELETE to a member who may
//! select from the table, with only the primary key when RLS is on.

use super::hub::{Hub, Identity, Key, Relayed, Snapshot};
use crate::db::{Database, Requester, Session, Statement};
use realtime::change::{self, Change, Table};
use realtime::frame;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Creates the capture trigger on every table of the publication and drops
/// it from tables no longer in it.
pub const SYNC_SQL: &str = r#"do $sync$
declare r record;
begin
  for r in select pt.schemaname, pt.tablename from pg_publication_tables pt
      where pt.pubname = 'supabase_realtime'
        and not exists (select 1 from pg_trigger t join pg_class c on c.oid = t.tgrelid
          join pg_namespace n on n.oid = c.relnamespace
          where t.tgname = 'supalite_realtime_capture' and n.nspname = pt.schemaname and c.relname = pt.tablename)
  loop
    execute format('create trigger supalite_realtime_capture after insert or update or delete on %I.%I for each row execute function realtime.supalite_capture()', r.schemaname, r.tablename);
  end loop;
  for r in select n.nspname, c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid
      join pg_namespace n on n.oid = c.relnamespace
      where t.tgname = 'supalite_realtime_capture'
        and not exists (select 1 from pg_publication_tables pt
          where pt.pubname = 'supabase_realtime' and pt.schemaname = n.nspname and pt.tablename = c.relname)
  loop
    execute format('drop trigger supalite_realtime_capture on %I.%I', r.nspname, r.relname);
  end loop;
end
$sync$"#;

const SNAPSHOT_SQL: &str = "select pg_current_snapshot()::text";

/// Where a reader starts: the last id, and the oldest transaction still
/// running (rows of transactions from it on may still appear).
const START_SQL: &str = "select coalesce(max(id), 0)::text, pg_snapshot_xmin(pg_current_snapshot())::text \
    from realtime.supalite_changes";

/// Rows not read yet: newer than the last id read, or older but from a
/// transaction that was still running then (it committed since); and the
/// oldest transaction running at this statement's snapshot.
const READ_SQL: &str = "select c.id::text, c.schema_name, c.table_name, c.op, c.record::text, c.old_record::text, \
    c.commit_timestamp, c.xid::text, coalesce(c.origin, ''), s.xmin \
    from (select pg_snapshot_xmin(pg_current_snapshot())::text as xmin) s \
    left join lateral (select * from realtime.supalite_changes \
      where xid >= $1::xid8 and (id > $2::bigint or not (id = any($3::bigint[]))) order by id limit 500) c on true";

/// Rows every reader has taken: their transactions (and all before them)
/// ended before a reader's position of a while ago.
const CLEAN_SQL: &str = "delete from realtime.supalite_changes where xid < $1::xid8";

/// Rows read per poll at most.
const BATCH: usize = 500;

/// How long a row stays after every transaction before it ended: another
/// supalite on the same PostgreSQL reads it meanwhile (it polls every 50 ms;
/// one that falls further behind misses changes). PGlite has one reader.
const KEEP_POSTGRES: Duration = Duration::from_secs(30);

/// A reader's position in the queue, exact whatever order transactions
/// commit in: every row of a transaction with an id (xid) from `low` on
/// that was not yet taken is read at the next poll; below `low` every
/// transaction had ended when the last snapshot was taken, so all of its
/// rows were read.
#[derive(Debug, Default)]
pub struct Cursor {
    low: u64,
    last_id: i64,
    /// Rows read whose transaction is at or above `low` (id → xid).
    taken: HashMap<i64, u64>,
}

impl Cursor {
    pub fn at(last_id: i64, low: u64) -> Cursor {
        Cursor {
            low,
            last_id,
            ..Default::default()
        }
    }

    /// The read's parameters.
    fn params(&self) -> Vec<Option<String>> {
        let ids: Vec<String> = self.taken.keys().filter(|&&id| id <= self.last_id).map(i64::to_string).collect();
        vec![
            Some(self.low.to_string()),
            Some(self.last_id.to_string()),
            Some(format!("{{{}}}", ids.join(","))),
        ]
    }

    /// A row read (false: already taken).
    fn take(&mut self, id: i64, xid: u64) -> bool {
        if xid < self.low || self.taken.contains_key(&id) {
            return false;
        }
        self.taken.insert(id, xid);
        self.last_id = self.last_id.max(id);
        true
    }

    /// After a read whose snapshot's oldest running transaction was
    /// `xmin`: the new `low`, unless a full batch left rows unread.
    fn advance(&mut self, xmin: u64, full: bool) -> Option<u64> {
        if full || xmin <= self.low {
            return None;
        }
        self.low = xmin;
        self.taken.retain(|_, xid| *xid >= xmin);
        Some(xmin)
    }
}

/// Positions below which this reader has taken (or, idle, given up) every
/// row, with when: a row may go once it is below a position `keep` old.
#[derive(Debug, Default)]
struct Positions(std::collections::VecDeque<(std::time::Instant, u64)>);

impl Positions {
    fn push(&mut self, at: std::time::Instant, low: u64) {
        if self.0.back().is_none_or(|&(_, l)| l < low) {
            self.0.push_back((at, low));
        }
    }

    /// The newest position at least `keep` old, dropped with those before it.
    fn clean_below(&mut self, keep: Duration, now: std::time::Instant) -> Option<u64> {
        let mut found = None;
        while let Some(&(at, low)) = self.0.front() {
            if now.duration_since(at) < keep {
                break;
            }
            found = Some(low);
            self.0.pop_front();
        }
        found
    }
}

const TABLE_SQL: &str = "select c.relrowsecurity::text, (c.relreplident = 'f')::text, \
    coalesce((select json_agg(json_build_array(a.attname, t.typname) order by a.attnum) from pg_attribute a \
      join pg_type t on t.oid = a.atttypid where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]')::text, \
    coalesce((select json_agg(a.attname order by a.attnum) from pg_index i join pg_attribute a \
      on a.attrelid = i.indrelid and a.attnum = any(i.indkey) where i.indrelid = c.oid and i.indisprimary), '[]')::text \
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2";

fn first(set: &crate::db::ResultSet) -> Option<String> {
    set.rows.first().and_then(|r| r.first().cloned().flatten())
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Triggers in step with the publication, and the database's snapshot
/// now (a new member takes the changes of transactions it does not see).
pub async fn sync(db: &Database) -> Result<Snapshot, String> {
    db.query(SYNC_SQL, vec![]).await.map_err(|e| e.to_string())?;
    let set = db.query(SNAPSHOT_SQL, vec![]).await.map_err(|e| e.to_string())?;
    first(&set)
        .as_deref()
        .and_then(Snapshot::parse)
        .ok_or_else(|| "no snapshot".to_string())
}

/// The feed's start: the queue's last id and oldest running transaction.
async fn start(db: &Database) -> Result<Cursor, String> {
    let set = db.query(START_SQL, vec![]).await.map_err(|e| e.to_string())?;
    let row = set.rows.first().ok_or("no row")?;
    let get = |i: usize| row.get(i).cloned().flatten().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    Ok(Cursor::at(get(0) as i64, get(1)))
}

/// Runs for the life of the server.
pub async fn run(hub: Arc<Hub>, db: Database, instance: Arc<str>) {
    let keep = match db.backend {
        crate::db::Backend::Postgres(_) => KEEP_POSTGRES,
        crate::db::Backend::Pglite(_) => Duration::ZERO,
    };
    let mut cursor: Option<Cursor> = None;
    let mut positions = Positions::default();
    let mut last_sync = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if !hub.has_members() {
            // Nobody listens here: what is captured meanwhile is not ours.
            cursor = None;
            let _ = sync(&db).await;
            if let Ok(now) = start(&db).await {
                positions.push(std::time::Instant::now(), now.low);
            }
            clean(&db, &mut positions, keep).await;
            tokio::select! {
                _ = hub.pg_joined.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            continue;
        }
        let c = match cursor.as_mut() {
            Some(c) => c,
            None => match start(&db).await {
                Ok(c) => cursor.insert(c),
                Err(e) => {
                    tracing::warn!("realtime: reading the change queue's position failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        if last_sync.elapsed() >= Duration::from_secs(2) {
            if let Err(e) = sync(&db).await {
                tracing::warn!("realtime: keeping the capture triggers in step failed: {e}");
            }
            clean(&db, &mut positions, keep).await;
            last_sync = std::time::Instant::now();
        }
        let rows = match db.query(READ_SQL, c.params()).await {
            Ok(set) => set.rows,
            Err(e) => {
                tracing::warn!("realtime: reading the change queue failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let full = rows.iter().filter(|r| r.first().is_some_and(Option::is_some)).count() >= BATCH;
        let mut xmin = None;
        let mut tables: HashMap<(String, String), Option<Table>> = HashMap::new();
        for row in rows {
            let get = |i: usize| row.get(i).cloned().flatten();
            let json = |i: usize| get(i).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
            let number = |i: usize| get(i).and_then(|s| s.parse::<u64>().ok());
            xmin = number(9).or(xmin);
            let (Some(id), Some(xid)) = (number(0), number(7)) else { continue };
            if !c.take(id as i64, xid) {
                continue;
            }
            let change = Change {
                id: id as i64,
                schema: get(1).unwrap_or_default(),
                table: get(2).unwrap_or_default(),
                op: get(3).unwrap_or_default(),
                record: json(4),
                old_record: json(5),
                commit_timestamp: get(6).unwrap_or_default(),
            };
            match change.op.as_str() {
                "BROADCAST" => {
                    from_sql(&hub, &change.record);
                    continue;
                }
                "RELAY" => {
                    if get(8).as_deref() != Some(&*instance) {
                        relayed(&hub, &change.record);
                    }
                    continue;
                }
                _ => {}
            }
            let key = (change.schema.clone(), change.table.clone());
            if !tables.contains_key(&key) {
                tables.insert(key.clone(), table(&db, &change.schema, &change.table).await);
            }
            if let Some(Some(t)) = tables.get(&key) {
                deliver(&hub, &db, &change, xid, t).await;
            }
        }
        if let (Some(x), Some(c)) = (xmin, cursor.as_mut()) {
            if let Some(low) = c.advance(x, full) {
                positions.push(std::time::Instant::now(), low);
            }
        }
        if !full {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Deletes the rows below the newest position `keep` old.
async fn clean(db: &Database, positions: &mut Positions, keep: Duration) {
    if let Some(below) = positions.clean_below(keep, std::time::Instant::now()) {
        if let Err(e) = db.query(CLEAN_SQL, vec![Some(below.to_string())]).await {
            tracing::warn!("realtime: cleaning the change queue failed: {e}");
        }
    }
}

/// A client's broadcast relayed by another supalite on this database
/// (see `relay`): to this instance's members of its channel.
fn relayed(hub: &Hub, row: &Value) {
    let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (topic, event) = (text("topic"), text("event"));
    if topic.is_empty() {
        return;
    }
    let private = row.get("private").and_then(Value::as_bool).unwrap_or(false);
    let body = match row.get("binary").and_then(Value::as_str) {
        Some(b64) => match base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64) {
            Ok(bytes) => realtime::Body::Binary(bytes),
            Err(_) => return,
        },
        None => realtime::Body::Json(row.get("payload").cloned().unwrap_or(Value::Null)),
    };
    hub.broadcast(&Key::new(&topic, private), 0, &event, None, &body);
}

const RELAY_SQL: &str = "insert into realtime.supalite_changes (schema_name, table_name, op, record, commit_timestamp, origin) \
    select 'realtime', 'broadcast', 'RELAY', r, '', $2 from jsonb_array_elements($1::jsonb) r";

/// Relays this instance's client and REST broadcasts through the queue to
/// other supalite processes on the same PostgreSQL (each delivers them to
/// its own members; this one has already). Batches what is waiting into
/// one insert.
pub async fn relay(db: Database, instance: Arc<str>, mut rx: tokio::sync::mpsc::Receiver<Relayed>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let rows: Vec<Value> = batch
            .drain(..)
            .map(|r| {
                let mut row = serde_json::json!({"topic": r.key.topic, "private": r.key.private, "event": r.event});
                match r.body {
                    realtime::Body::Json(v) => row["payload"] = v,
                    realtime::Body::Binary(b) => {
                        row["binary"] =
                            Value::String(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b))
                    }
                }
                row
            })
            .collect();
        let params = vec![Some(Value::Array(rows).to_string()), Some(instance.to_string())];
        if let Err(e) = db.query(RELAY_SQL, params).await {
            tracing::warn!("realtime: relaying broadcasts to other instances failed: {e}");
        }
    }
}

/// A row of `realtime.messages` (`realtime.send`): broadcast to its
/// topic's private or public channels, with its id as `meta`, as Supabase
/// Realtime broadcasts what it reads from the table's replication.
fn from_sql(hub: &Hub, row: &Value) {
    let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (topic, event) = (text("topic"), text("event"));
    if topic.is_empty() || event.is_empty() {
        return;
    }
    let private = row.get("private").and_then(Value::as_bool).unwrap_or(false);
    let meta = serde_json::json!({ "id": text("id") });
    let body = realtime::Body::Json(row.get("payload").cloned().unwrap_or(Value::Null));
    hub.broadcast(&Key::new(&format!("realtime:{topic}"), private), 0, &event, Some(&meta), &body);
}

async fn table(db: &Database, schema: &str, table: &str) -> Option<Table> {
    let set = db
        .query(TABLE_SQL, vec![Some(schema.into()), Some(table.into())])
        .await
        .ok()?;
    let row = set.rows.first()?;
    let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let columns: Vec<(String, String)> = serde_json::from_str(&get(2)).unwrap_or_default();
    let primary_key: Vec<String> = serde_json::from_str(&get(3)).unwrap_or_default();
    Some(Table {
        columns,
        primary_key,
        rls: get(0) == "true",
        identity_full: get(1) == "true",
    })
}

/// What a member's check found.
#[derive(Clone)]
enum Seen {
    Yes,
    No,
    Error(String),
}

/// Sends `c` to every member whose bindings take it and whose check passes.
async fn deliver(hub: &Hub, db: &Database, c: &Change, xid: u64, t: &Table) {
    let record = c.filter_record();
    let mut checked: HashMap<Identity, Seen> = HashMap::new();
    for (topic, m) in hub.pg_members_of(&c.schema, &c.table) {
        if m.since.sees(xid) {
            continue;
        }
        let ids: Vec<u32> = m
            .bindings
            .iter()
            .filter(|b| b.takes(&c.schema, &c.table, &c.op, record))
            .map(|b| b.id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        let who = m.identity.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let seen = match checked.get(&who) {
            Some(s) => s.clone(),
            None => {
                let s = check(db, &who, c, t).await;
                checked.insert(who, s.clone());
                s
            }
        };
        let payload = match seen {
            Seen::No => continue,
            Seen::Yes => change::payload(c, t, &ids, None),
            Seen::Error(e) => {
                let mut bare = c.clone();
                bare.record = Value::Object(Default::default());
                bare.old_record = Value::Object(Default::default());
                change::payload(&bare, t, &ids, Some(vec![e]))
            }
        };
        let msg = frame::push(&topic, m.join_ref.as_deref(), "postgres_changes", payload);
        m.out.msg(m.vsn, &msg);
    }
}

/// The check under `who`'s role and claims, in a read-only transaction
/// that is rolled back.
async fn check(db: &Database, who: &Identity, c: &Change, t: &Table) -> Seen {
    let target = format!("{}.{}", quote(&c.schema), quote(&c.table));
    // Without RLS (or for a DELETE, whose row is gone) the table's SELECT
    // privilege decides; with RLS, the row by its primary key as the
    // subscriber sees it now.
    let (sql, params) = if c.op == "DELETE" || !t.rls {
        (format!("select exists(select 1 from {target} where false)::text"), vec![])
    } else {
        if t.primary_key.is_empty() {
            return Seen::Error("Error 400: Bad Request, no primary key".into());
        }
        let mut conds = Vec::new();
        let mut params = Vec::new();
        for (i, k) in t.primary_key.iter().enumerate() {
            conds.push(format!("{}::text = ${}", quote(k), i + 1));
            params.push(c.record.get(k).and_then(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }));
        }
        (
            format!("select exists(select 1 from {target} where {})::text", conds.join(" and ")),
            params,
        )
    };
    let session = Session {
        role: Some(who.role.clone()),
        claims_json: who.claims_json.clone(),
        read_only: true,
        rollback: true,
        settings: vec![],
    };
    match db
        .transaction_for(session, &[Statement { sql, params }], Requester::default())
        .await
    {
        Ok(sets) => match sets.last().and_then(first).as_deref() {
            Some("true") => Seen::Yes,
            _ if c.op == "DELETE" || !t.rls => Seen::Yes,
            _ => Seen::No,
        },
        Err(e) if e.code == "42501" => Seen::Error("Error 401: Unauthorized".into()),
        Err(e) => Seen::Error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_transaction_committing_after_a_later_one_is_still_read_once() {
        // T1 (xid 10) inserts row 1, T2 (xid 11) inserts row 2 and commits
        // first: the read sees row 2 only, with T1 still running (xmin 10).
        let mut c = Cursor::at(0, 10);
        assert!(c.take(2, 11));
        assert_eq!(c.advance(10, false), None, "T1 still runs: the position stays");
        // The next read asks again for rows of xid ≥ 10 other than row 2.
        let p = c.params();
        assert_eq!(p[0].as_deref(), Some("10"));
        assert_eq!(p[1].as_deref(), Some("2"));
        assert_eq!(p[2].as_deref(), Some("{2}"));
        // T1 commits: row 1 comes, row 2 (if read again) is not taken twice.
        assert!(c.take(1, 10));
        assert!(!c.take(2, 11));
        assert_eq!(c.advance(12, false), Some(12));
        assert!(c.taken.is_empty(), "below the position nothing is remembered");
        assert!(!c.take(1, 10), "a row below the position is old");
    }

    #[test]
    fn a_full_batch_keeps_the_position() {
        let mut c = Cursor::at(0, 5);
        for id in 1..=3 {
            assert!(c.take(id, 5 + id as u64));
        }
        assert_eq!(c.advance(20, true), None);
        assert_eq!(c.params()[0].as_deref(), Some("5"));
        assert_eq!(c.advance(20, false), Some(20));
    }

    #[test]
    fn a_member_takes_what_its_join_snapshot_does_not_see() {
        let s = Snapshot::parse("10:14:10,12").unwrap();
        assert!(s.sees(9) && s.sees(11) && s.sees(13));
        assert!(!s.sees(10) && !s.sees(12) && !s.sees(14) && !s.sees(99));
        assert_eq!(Snapshot::parse("5:5:"), Some(Snapshot::parse("5:5:").unwrap()));
        assert!(!Snapshot::parse("5:5:").unwrap().sees(5));
        assert!(Snapshot::parse("x:1:").is_none() && Snapshot::parse("1:2:a").is_none());
    }

    #[test]
    fn rows_go_only_below_a_position_old_enough() {
        let t0 = Instant::now();
        let mut p = Positions::default();
        p.push(t0, 10);
        p.push(t0 + Duration::from_secs(10), 20);
        p.push(t0 + Duration::from_secs(10), 15); // never backwards
        assert_eq!(p.clean_below(Duration::from_secs(30), t0 + Duration::from_secs(20)), None);
        assert_eq!(p.clean_below(Duration::from_secs(30), t0 + Duration::from_secs(30)), Some(10));
        assert_eq!(p.clean_below(Duration::from_secs(30), t0 + Duration::from_secs(35)), None);
        assert_eq!(p.clean_below(Duration::from_secs(30), t0 + Duration::from_secs(45)), Some(20));
        // PGlite (one reader): the newest position at once.
        p.push(t0 + Duration::from_secs(46), 30);
        assert_eq!(p.clean_below(Duration::ZERO, t0 + Duration::from_secs(46)), Some(30));
    }
}
