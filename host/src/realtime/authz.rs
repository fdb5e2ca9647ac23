//! Private channels, authorized as Supabase Realtime authorizes them: by
//! the RLS policies on `realtime.messages`, under the caller's role and
//! claims, with `realtime.topic()` naming the channel
//! (`lib/realtime/tenants/authorization.ex`). Each check is one
//! transaction that is rolled back: nothing it writes stays.
//!
//! - read (at join): probe rows for the `broadcast` and `presence`
//!   extensions are inserted as the owner, then selected as the caller; the
//!   channel may be read if either is visible;
//! - write (a broadcast from the channel, a REST broadcast): the caller
//!   inserts a `broadcast` row; the policies' `with check` decides.

use super::hub::Identity;
use crate::db::{Database, Requester, Session, Statement};

/// What the checks found for one channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Read {
    pub broadcast: bool,
    pub presence: bool,
}

const AS_CALLER: &str = "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), \
    set_config('request.jwt.claim.role', $1, true), set_config('request.jwt.claim.sub', $3, true), \
    set_config('realtime.topic', $4, true)";

fn as_caller(who: &Identity, topic: &str) -> Statement {
    let sub = serde_json::from_str::<serde_json::Value>(&who.claims_json)
        .ok()
        .and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default();
    Statement {
        sql: AS_CALLER.into(),
        params: vec![
            Some(who.role.clone()),
            Some(who.claims_json.clone()),
            Some(sub),
            Some(topic.to_string()),
        ],
    }
}

fn owner_session(who: &Identity) -> Session {
    Session {
        role: None,
        claims_json: who.claims_json.clone(),
        read_only: false,
        rollback: true,
        settings: vec![],
    }
}

/// May `who` read the private channel `topic` (the sub-topic, without
/// `realtime:`)? An error is the policy's own failure (reported to the
/// client as Supabase does: no permission).
pub async fn read(db: &Database, who: &Identity, topic: &str) -> Result<Read, String> {
    // The probes are marked with this transaction's id: only they are
    // counted (it is rolled back, so no one else ever sees them).
    let insert = Statement {
        sql: "insert into realtime.messages (topic, extension, event, private) \
              select $1, e, 'supalite-probe-' || txid_current()::text, true \
              from unnest(array['broadcast', 'presence']) e"
            .into(),
        params: vec![Some(topic.to_string())],
    };
    let check = Statement {
        sql: "select coalesce(bool_or(extension = 'broadcast'), false)::text, \
              coalesce(bool_or(extension = 'presence'), false)::text \
              from realtime.messages where topic = $1 and event = 'supalite-probe-' || txid_current()::text"
            .into(),
        params: vec![Some(topic.to_string())],
    };
    let sets = db
        .transaction_for(
            owner_session(who),
            &[insert, as_caller(who, topic), check],
            Requester::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let row = sets.last().and_then(|s| s.rows.first()).cloned().unwrap_or_default();
    let yes = |i: usize| row.get(i).cloned().flatten().as_deref() == Some("true");
    Ok(Read {
        broadcast: yes(0),
        presence: yes(1),
    })
}

/// May `who` write `extension` (`broadcast`, `presence`) on the private
/// channel `topic`?
pub async fn write(db: &Database, who: &Identity, topic: &str, extension: &str) -> Result<bool, String> {
    let insert = Statement {
        sql: "insert into realtime.messages (topic, extension, private) values ($1, $2, true)".into(),
        params: vec![Some(topic.to_string()), Some(extension.to_string())],
    };
    match db
        .transaction_for(owner_session(who), &[as_caller(who, topic), insert], Requester::default())
        .await
    {
        Ok(_) => Ok(true),
        // "new row violates row-level security policy", or no privilege.
        Err(e) if e.code == "42501" => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}
