//! One `sql.transaction` call as one pipelined PostgreSQL extended-protocol
//! exchange, without I/O:
//!
//! ```text
//! Parse/Bind/Describe/Execute  select set_config('role',$1,true), set_config('request.jwt.claims',$2,true), ...
//! Parse/Bind/Describe/Execute  <statement 1>
//! ...
//! Sync
//! ```
//!
//! Everything before `Sync` runs in one implicit transaction: it commits at
//! `Sync`, or rolls back entirely on the first error (the server skips to
//! `Sync`). Parameters are sent untyped in text format, so the server infers
//! their types exactly as PostgREST's `unknown`-typed literals; results are
//! requested in text format. Used by every transport: PGlite's in-process
//! protocol entry, TCP to PostgreSQL.

use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::{backend::Message, frontend};
use postgres_protocol::IsNull;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: Option<String>,
    pub claims_json: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultSet {
    pub columns: Vec<(String, u32)>,
    pub rows: Vec<Vec<Option<String>>>,
    pub affected: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl DbError {
    /// A failure that did not come from the server (encoding, transport).
    pub fn internal(code: &str, message: impl Into<String>) -> Self {
        DbError { code: code.into(), message: message.into(), detail: None, hint: None }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

/// The statement that opens every transaction: role, claims, read-only.
fn session_statement(s: &Session) -> Statement {
    let mut sql = String::from("select set_config('request.jwt.claims', $1, true), set_config('transaction_read_only', $2, true)");
    let mut params = vec![Some(s.claims_json.clone()), Some(if s.read_only { "on" } else { "off" }.to_string())];
    if let Some(role) = &s.role {
        sql.push_str(", set_config('role', $3, true)");
        params.push(Some(role.clone()));
    }
    Statement { sql, params }
}

fn encode_statement(st: &Statement, buf: &mut BytesMut) -> Result<(), DbError> {
    let bad = |e: std::io::Error| DbError::internal("22021", format!("invalid statement: {e}"));
    frontend::parse("", &st.sql, std::iter::empty(), buf).map_err(bad)?;
    frontend::bind(
        "",
        "",
        std::iter::empty(),
        st.params.iter(),
        |p, buf| match p {
            Some(v) => {
                buf.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        },
        std::iter::empty(),
        buf,
    )
    .map_err(|_| DbError::internal("22021", "could not encode parameters"))?;
    frontend::describe(b'P', "", buf).map_err(bad)?;
    frontend::execute("", 0, buf).map_err(bad)?;
    Ok(())
}

/// Encodes the whole transaction, ending with `Sync`.
pub fn encode_transaction(session: &Session, statements: &[Statement]) -> Result<BytesMut, DbError> {
    let mut buf = BytesMut::with_capacity(256 + statements.iter().map(|s| s.sql.len() + 64).sum::<usize>());
    encode_statement(&session_statement(session), &mut buf)?;
    for st in statements {
        encode_statement(st, &mut buf)?;
    }
    frontend::sync(&mut buf);
    Ok(buf)
}

/// Whether `buf` holds a complete answer (ends with `ReadyForQuery`).
/// Transports that read from a socket call this to know when to stop.
pub fn answer_complete(buf: &[u8]) -> bool {
    let mut i = 0;
    let mut last = 0u8;
    while i + 5 <= buf.len() {
        let len = u32::from_be_bytes([buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]]) as usize;
        if len < 4 || i + 1 + len > buf.len() {
            return false;
        }
        last = buf[i];
        i += 1 + len;
    }
    i == buf.len() && last == b'Z'
}

fn error_fields(fields: postgres_protocol::message::backend::ErrorFields<'_>) -> DbError {
    let mut e = DbError::internal("XX000", "unknown error");
    let mut it = fields;
    while let Ok(Some(f)) = it.next() {
        let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => e.code = v,
            b'M' => e.message = v,
            b'D' => e.detail = Some(v),
            b'H' => e.hint = Some(v),
            _ => {}
        }
    }
    e
}

/// Decodes the answer to [`encode_transaction`]: one result set per caller
/// statement (the session statement's is dropped), or the first error.
pub fn decode_answer(answer: &[u8]) -> Result<Vec<ResultSet>, DbError> {
    let mut buf = BytesMut::from(answer);
    let mut sets = Vec::new();
    let mut current = ResultSet::default();
    let mut error = None;
    loop {
        let msg = match Message::parse(&mut buf) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => return Err(DbError::internal("08P01", format!("protocol error: {e}"))),
        };
        match msg {
            Message::RowDescription(body) => {
                let mut fields = body.fields();
                while let Ok(Some(f)) = fields.next() {
                    current.columns.push((f.name().to_string(), f.type_oid()));
                }
            }
            Message::DataRow(body) => {
                let data = body.buffer();
                let mut row = Vec::new();
                let mut ranges = body.ranges();
                while let Ok(Some(r)) = ranges.next() {
                    row.push(r.map(|r| String::from_utf8_lossy(&data[r]).into_owned()));
                }
                current.rows.push(row);
            }
            Message::CommandComplete(body) => {
                let tag = body.tag().unwrap_or("");
                current.affected = tag.rsplit(' ').next().and_then(|n| n.parse().ok());
                sets.push(std::mem::take(&mut current));
            }
            Message::EmptyQueryResponse => sets.push(std::mem::take(&mut current)),
            Message::ErrorResponse(body) => {
                if error.is_none() {
                    error = Some(error_fields(body.fields()));
                }
            }
            Message::ReadyForQuery(_) => break,
            _ => {}
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    if sets.is_empty() {
        return Err(DbError::internal("08P01", "incomplete answer from the database"));
    }
    sets.remove(0);
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_pipeline_ending_in_sync() {
        let s = Session { role: Some("anon".into()), claims_json: "{}".into(), read_only: true };
        let buf = encode_transaction(&s, &[Statement { sql: "select $1".into(), params: vec![None] }]).unwrap();
        assert_eq!(buf.last(), Some(&4u8)); // Sync length field's last byte
        assert_eq!(buf[buf.len() - 5], b'S');
        assert_eq!(buf[0], b'P');
    }

    #[test]
    fn nul_in_sql_is_an_error_not_a_panic() {
        let s = Session { role: None, claims_json: "{}".into(), read_only: false };
        assert!(encode_transaction(&s, &[Statement { sql: "select '\0'".into(), params: vec![] }]).is_err());
    }

    #[test]
    fn completeness() {
        assert!(!answer_complete(b"Z\0\0\0"));
        assert!(answer_complete(b"Z\0\0\0\x05I"));
        assert!(!answer_complete(b"1\0\0\0\x04"));
    }
}
