//! The change feed: the capture triggers kept in step with the
//! `supabase_realtime` publication, the queue they write read after commit,
//! and each change sent to the members whose bindings take it, after a
//! check under each member's role and claims (RLS), as Supabase's
//! `realtime.apply_rls`: an INSERT or UPDATE only to a member who can
//! select that row (by its primary key) now; a DELETE to a member who may
//! select from the table, with only the primary key when RLS is on.

use super::hub::{Hub, Identity, Key};
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

const MAX_ID_SQL: &str = "select coalesce(max(id), 0)::text from realtime.supalite_changes";

const READ_SQL: &str = "select id::text, schema_name, table_name, op, record::text, old_record::text, commit_timestamp \
    from realtime.supalite_changes where id > $1::bigint order by id limit 500";

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

/// Triggers in step with the publication, and the feed's position now
/// (a new member takes the changes after it).
pub async fn sync(db: &Database) -> Result<i64, String> {
    db.query(SYNC_SQL, vec![]).await.map_err(|e| e.to_string())?;
    let set = db.query(MAX_ID_SQL, vec![]).await.map_err(|e| e.to_string())?;
    Ok(first(&set).and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Runs for the life of the server.
pub async fn run(hub: Arc<Hub>, db: Database) {
    let mut cursor: i64 = 0;
    let mut last_sync = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        if !hub.has_members() {
            // Nobody listens: what was captured meanwhile is nobody's.
            if let Ok(max) = sync(&db).await {
                cursor = max;
                let _ = db
                    .query("delete from realtime.supalite_changes where id <= $1::bigint", vec![Some(max.to_string())])
                    .await;
            }
            tokio::select! {
                _ = hub.pg_joined.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            continue;
        }
        if last_sync.elapsed() >= Duration::from_secs(2) {
            if let Err(e) = sync(&db).await {
                tracing::warn!("realtime: keeping the capture triggers in step failed: {e}");
            }
            last_sync = std::time::Instant::now();
        }
        let rows = match db.query(READ_SQL, vec![Some(cursor.to_string())]).await {
            Ok(set) => set.rows,
            Err(e) => {
                tracing::warn!("realtime: reading the change queue failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let full = rows.len() >= 500;
        let mut tables: HashMap<(String, String), Option<Table>> = HashMap::new();
        for row in rows {
            let get = |i: usize| row.get(i).cloned().flatten();
            let json = |i: usize| get(i).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
            let c = Change {
                id: get(0).and_then(|s| s.parse().ok()).unwrap_or(cursor),
                schema: get(1).unwrap_or_default(),
                table: get(2).unwrap_or_default(),
                op: get(3).unwrap_or_default(),
                record: json(4),
                old_record: json(5),
                commit_timestamp: get(6).unwrap_or_default(),
            };
            cursor = cursor.max(c.id);
            if c.op == "BROADCAST" {
                from_sql(&hub, &c.record);
                continue;
            }
            let key = (c.schema.clone(), c.table.clone());
            if !tables.contains_key(&key) {
                tables.insert(key.clone(), table(&db, &c.schema, &c.table).await);
            }
            if let Some(Some(t)) = tables.get(&key) {
                deliver(&hub, &db, &c, t).await;
            }
        }
        let _ = db
            .query("delete from realtime.supalite_changes where id <= $1::bigint", vec![Some(cursor.to_string())])
            .await;
        if !full {
            tokio::time::sleep(Duration::from_millis(50)).await;
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
async fn deliver(hub: &Hub, db: &Database, c: &Change, t: &Table) {
    let record = c.filter_record();
    let mut checked: HashMap<Identity, Seen> = HashMap::new();
    for (topic, m) in hub.pg_members_of(&c.schema, &c.table) {
        if c.id <= m.since {
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
