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
    /// Roll back at the end instead of committing.
    pub rollback: bool,
    /// More settings for this transaction only (`set_config(name, value,
    /// true)` after the role switch): the impersonated role's own settings
    /// such as `statement_timeout`, as PostgREST applies them.
    pub settings: Vec<(String, String)>,
}

impl Session {
    /// `ReadyForQuery` messages that answer [`encode_transaction`] for this session.
    pub fn answers(&self) -> usize {
        if self.rollback {
            2
        } else {
            1
        }
    }
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
        DbError {
            code: code.into(),
            message: message.into(),
            detail: None,
            hint: None,
        }
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

/// Whether a caller may set `name` for its transaction: the request context
/// (`request.method`, `request.headers`, …), which SQL reads and nothing
/// enforces; never `role`, timeouts or anything else.
pub fn is_request_setting(name: &str) -> bool {
    name.strip_prefix("request.")
        .is_some_and(|rest| !rest.is_empty() && rest != "jwt.claims")
}

/// The statement that opens every transaction: role, claims, read-only.
fn session_statement(s: &Session) -> Statement {
    let mut sql = String::from("select set_config('request.jwt.claims', $1, true), set_config('transaction_read_only', $2, true)");
    let mut params = vec![
        Some(s.claims_json.clone()),
        Some(if s.read_only { "on" } else { "off" }.to_string()),
    ];
    if let Some(role) = &s.role {
        sql.push_str(", set_config('role', $3, true)");
        params.push(Some(role.clone()));
    }
    for (name, value) in &s.settings {
        // The name as a literal (quotes doubled), the value as a parameter.
        params.push(Some(value.clone()));
        sql.push_str(&format!(
            ", set_config('{}', ${}, true)",
            name.replace('\'', "''"),
            params.len()
        ));
    }
    Statement { sql, params }
}

fn encode_statement(st: &Statement, buf: &mut BytesMut) -> Result<(), DbError> {
    encode_named(st, "", true, buf)
}

/// Parse (when `parse`) as `name` ("" = unnamed), then Bind the unnamed
/// portal to it, Describe and Execute.
fn encode_named(
    st: &Statement,
    name: &str,
    parse: bool,
    buf: &mut BytesMut,
) -> Result<(), DbError> {
    let bad = |e: std::io::Error| DbError::internal("22021", format!("invalid statement: {e}"));
    if parse {
        frontend::parse(name, &st.sql, std::iter::empty(), buf).map_err(bad)?;
    }
    frontend::bind(
        "",
        name,
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
pub fn encode_transaction(
    session: &Session,
    statements: &[Statement],
) -> Result<BytesMut, DbError> {
    encode_with(session, statements, &mut |st, buf| {
        encode_statement(st, buf)
    })
}

fn encode_with(
    session: &Session,
    statements: &[Statement],
    encode: &mut dyn FnMut(&Statement, &mut BytesMut) -> Result<(), DbError>,
) -> Result<BytesMut, DbError> {
    let mut buf =
        BytesMut::with_capacity(256 + statements.iter().map(|s| s.sql.len() + 64).sum::<usize>());
    let plain = |sql: &str| Statement {
        sql: sql.into(),
        params: vec![],
    };
    if session.rollback {
        // An explicit block ended by ROLLBACK; the extra simple-protocol
        // ROLLBACK after Sync also ends a block that an error aborted.
        encode_statement(&plain("BEGIN"), &mut buf)?;
    }
    encode(&session_statement(session), &mut buf)?;
    for st in statements {
        encode(st, &mut buf)?;
    }
    if session.rollback {
        // Deferred constraints are checked before rolling back, so a
        // request that would fail on commit fails the same way (as PostgREST).
        encode_statement(&plain("SET CONSTRAINTS ALL IMMEDIATE"), &mut buf)?;
        encode_statement(&plain("ROLLBACK"), &mut buf)?;
    }
    frontend::sync(&mut buf);
    if session.rollback {
        frontend::query("ROLLBACK", &mut buf)
            .map_err(|e| DbError::internal("22021", e.to_string()))?;
    }
    Ok(buf)
}

/// The named prepared statements one session (a pooled connection, PGlite's
/// one backend) holds, by SQL text: a statement seen before is bound to its
/// name instead of being parsed and planned again (PostgreSQL replans it by
/// itself when a table, the role's row security or the search path
/// changes). Bounded: the least recently used is closed when more are
/// needed. Names are never reused, so a statement of a failed exchange —
/// which may or may not exist — is simply closed in the next one.
#[derive(Debug)]
pub struct Prepared {
    /// SQL text → (name number, last use).
    names: std::collections::HashMap<String, (u64, u64)>,
    next: u64,
    clock: u64,
    capacity: usize,
    /// Names to close at the start of the next exchange.
    closing: Vec<u64>,
    /// Parsed by the exchange under way (unknown until it is settled).
    pending: Vec<String>,
    /// The schema generation the statements were prepared in.
    generation: u64,
}

/// SQLSTATEs meaning the session's prepared statements are not what the
/// cache believes (someone else deallocated or created them): reset the
/// cache and run the transaction again (nothing of it took effect).
pub const PREPARED_GONE: [&str; 2] = ["26000", "42P05"];

impl Prepared {
    pub fn new(capacity: usize) -> Self {
        Prepared {
            names: Default::default(),
            next: 0,
            clock: 0,
            capacity: capacity.max(1),
            closing: Vec::new(),
            pending: Vec::new(),
            generation: 0,
        }
    }

    /// Closes everything prepared in an earlier schema `generation` (see
    /// [`Prepared::close_all`]).
    pub fn at_generation(&mut self, generation: u64) {
        if self.generation != generation {
            self.close_all();
            self.generation = generation;
        }
    }

    fn name(n: u64) -> String {
        format!("supalite_{n}")
    }

    /// Statements held now.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Like [`encode_transaction`], with each statement bound to its
    /// prepared name (parsed first if it is new). Call [`Prepared::settle`]
    /// with the outcome.
    pub fn encode_transaction(
        &mut self,
        session: &Session,
        statements: &[Statement],
    ) -> Result<BytesMut, DbError> {
        self.pending.clear();
        let closing = std::mem::take(&mut self.closing);
        let (names, next, clock, pending) = (
            &mut self.names,
            &mut self.next,
            &mut self.clock,
            &mut self.pending,
        );
        let body = encode_with(session, statements, &mut |st, buf| {
            *clock += 1;
            let (n, parse) = match names.get_mut(&st.sql) {
                Some((n, used)) => {
                    *used = *clock;
                    (*n, false)
                }
                None => {
                    *next += 1;
                    names.insert(st.sql.clone(), (*next, *clock));
                    pending.push(st.sql.clone());
                    (*next, true)
                }
            };
            encode_named(st, &Self::name(n), parse, buf)
        })?;
        // Closes go first (they take effect even if the transaction fails).
        let mut buf = BytesMut::new();
        for n in closing {
            frontend::close(b'S', &Self::name(n), &mut buf)
                .map_err(|e| DbError::internal("22021", e.to_string()))?;
        }
        buf.unsplit(body);
        // Over capacity: the least recently used, not of this exchange, go.
        while self.names.len() > self.capacity {
            let oldest = self
                .names
                .iter()
                .filter(|(sql, _)| !self.pending.contains(sql))
                .min_by_key(|(_, (_, used))| *used)
                .map(|(sql, (n, _))| (sql.clone(), *n));
            let Some((sql, n)) = oldest else { break };
            self.names.remove(&sql);
            self.closing.push(n);
        }
        Ok(buf)
    }

    /// After the exchange: on failure the statements it parsed may or may
    /// not exist; they are forgotten and closed next time.
    pub fn settle(&mut self, ok: bool) {
        for sql in std::mem::take(&mut self.pending) {
            if !ok {
                if let Some((n, _)) = self.names.remove(&sql) {
                    self.closing.push(n);
                }
            }
        }
    }

    /// Closes every statement (in the next exchange) and starts over: after
    /// a schema reload, nothing planned before it is kept.
    pub fn close_all(&mut self) {
        let names = std::mem::take(&mut self.names);
        self.closing.extend(names.into_values().map(|(n, _)| n));
        self.pending.clear();
    }

    /// Forgets everything: a new session, or its statements are gone.
    pub fn reset(&mut self) {
        self.names.clear();
        self.closing.clear();
        self.pending.clear();
    }
}

/// How many complete `ReadyForQuery` messages `buf` holds, or `None` if it
/// ends inside a message. A transport reads until this reaches the number
/// of answers it expects (1 for a transaction, [`SCRIPT_ANSWERS`] for a script).
pub fn ready_count(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut ready = 0;
    while i < buf.len() {
        if i + 5 > buf.len() {
            return None;
        }
        let len = u32::from_be_bytes([buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]]) as usize;
        if len < 4 || i + 1 + len > buf.len() {
            return None;
        }
        if buf[i] == b'Z' {
            ready += 1;
        }
        i += 1 + len;
    }
    Some(ready)
}

/// `ReadyForQuery` messages that answer [`encode_script`].
pub const SCRIPT_ANSWERS: usize = 4;

/// A multi-statement SQL script (a migration) and an optional record
/// statement, atomically: `BEGIN`, the script, the record, `COMMIT`, sent as
/// one pipeline. If anything fails the transaction is aborted and the final
/// `COMMIT` rolls it back, so nothing of it remains.
pub fn encode_script(sql: &str, record: Option<&Statement>) -> Result<BytesMut, DbError> {
    let bad = |e: std::io::Error| DbError::internal("22021", format!("invalid statement: {e}"));
    let mut buf = BytesMut::new();
    frontend::query("BEGIN", &mut buf).map_err(bad)?;
    frontend::query(sql, &mut buf).map_err(bad)?;
    if let Some(r) = record {
        encode_statement(r, &mut buf)?;
    }
    frontend::sync(&mut buf);
    frontend::query("COMMIT", &mut buf).map_err(bad)?;
    Ok(buf)
}

/// The first error in any answer, if there is one.
pub fn first_error(answer: &[u8]) -> Result<(), DbError> {
    let mut buf = BytesMut::from(answer);
    loop {
        match Message::parse(&mut buf) {
            Ok(Some(Message::ErrorResponse(body))) => return Err(error_fields(body.fields())),
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(DbError::internal("08P01", format!("protocol error: {e}"))),
        }
    }
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

/// Decodes the answer to [`encode_transaction`] for `session`: one result
/// set per caller statement, or the first error.
pub fn decode_transaction(session: &Session, answer: &[u8]) -> Result<Vec<ResultSet>, DbError> {
    let mut sets = decode_answer(answer)?;
    if session.rollback && sets.len() >= 3 {
        sets.remove(0); // BEGIN (the session statement is dropped below)
        sets.pop(); // ROLLBACK
        sets.pop(); // SET CONSTRAINTS ALL IMMEDIATE
    }
    Ok(sets)
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
        return Err(DbError::internal(
            "08P01",
            "incomplete answer from the database",
        ));
    }
    sets.remove(0);
    Ok(sets)
}

/// A lone `Sync`: the server answers `ReadyForQuery` (one answer), and any
/// notifications that arrived before it come first.
pub fn encode_sync() -> BytesMut {
    let mut buf = BytesMut::new();
    frontend::sync(&mut buf);
    buf
}

/// A simple-protocol query (one answer), e.g. `LISTEN pgrst`.
pub fn encode_query(sql: &str) -> Result<BytesMut, DbError> {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf)
        .map_err(|e| DbError::internal("22021", format!("invalid statement: {e}")))?;
    Ok(buf)
}

/// `NOTIFY` messages in an answer: (channel, payload).
pub fn notifications(answer: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !answer.contains(&b'A') {
        return out;
    }
    let mut buf = BytesMut::from(answer);
    while let Ok(Some(msg)) = Message::parse(&mut buf) {
        if let Message::NotificationResponse(n) = msg {
            if let (Ok(c), Ok(p)) = (n.channel(), n.message()) {
                out.push((c.to_string(), p.to_string()));
            }
        }
    }
    out
}

/// Whether a notification asks PostgREST (and supalite) to reload the
/// schema cache: `NOTIFY pgrst` with payload `reload schema` or empty.
pub fn is_schema_reload(channel: &str, payload: &str) -> bool {
    channel == "pgrst" && (payload.is_empty() || payload == "reload schema")
}

/// Connection start-up and authentication (cleartext, MD5, SCRAM-SHA-256)
/// as a sans-I/O state machine: send [`Startup::begin`]'s bytes, then feed
/// everything the server sends to [`Startup::feed`] until it says `Ready`.
pub struct Startup {
    user: String,
    password: Option<String>,
    scram: Option<postgres_protocol::authentication::sasl::ScramSha256>,
    buf: BytesMut,
}

/// What to do after feeding server bytes to [`Startup`].
#[derive(Debug, PartialEq, Eq)]
pub enum StartupStep {
    /// Send these bytes, then keep reading.
    Send(BytesMut),
    /// Keep reading.
    NeedMore,
    /// The connection is ready for queries.
    Ready,
}

impl Startup {
    pub fn begin(
        user: &str,
        password: Option<&str>,
        database: &str,
    ) -> Result<(Startup, BytesMut), DbError> {
        let mut out = BytesMut::new();
        frontend::startup_message(
            [
                ("user", user),
                ("database", database),
                ("application_name", "supalite"),
                ("client_encoding", "UTF8"),
            ],
            &mut out,
        )
        .map_err(|e| DbError::internal("08P01", e.to_string()))?;
        Ok((
            Startup {
                user: user.into(),
                password: password.map(str::to_string),
                scram: None,
                buf: BytesMut::new(),
            },
            out,
        ))
    }

    fn password(&self) -> Result<&str, DbError> {
        self.password.as_deref().ok_or_else(|| {
            DbError::internal(
                "28P01",
                "the server asked for a password but none was configured",
            )
        })
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Result<StartupStep, DbError> {
        use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
        self.buf.extend_from_slice(bytes);
        let mut out = BytesMut::new();
        let proto = |e: std::io::Error| DbError::internal("08P01", format!("protocol error: {e}"));
        let auth =
            |e: std::io::Error| DbError::internal("28P01", format!("authentication failed: {e}"));
        loop {
            let msg = match Message::parse(&mut self.buf).map_err(proto)? {
                Some(m) => m,
                None => break,
            };
            match msg {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(self.password()?.as_bytes(), &mut out)
                        .map_err(proto)?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = postgres_protocol::authentication::md5_hash(
                        self.user.as_bytes(),
                        self.password()?.as_bytes(),
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut out).map_err(proto)?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechanisms = body.mechanisms();
                    let mut scram_ok = false;
                    while let Ok(Some(m)) = mechanisms.next() {
                        scram_ok |= m == SCRAM_SHA_256;
                    }
                    if !scram_ok {
                        return Err(DbError::internal(
                            "28000",
                            "the server offers no supported SASL mechanism",
                        ));
                    }
                    let scram = ScramSha256::new(
                        self.password()?.as_bytes(),
                        ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(SCRAM_SHA_256, scram.message(), &mut out)
                        .map_err(proto)?;
                    self.scram = Some(scram);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let scram = self
                        .scram
                        .as_mut()
                        .ok_or_else(|| DbError::internal("08P01", "unexpected SASL message"))?;
                    scram.update(body.data()).map_err(auth)?;
                    frontend::sasl_response(scram.message(), &mut out).map_err(proto)?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let scram = self
                        .scram
                        .as_mut()
                        .ok_or_else(|| DbError::internal("08P01", "unexpected SASL message"))?;
                    scram.finish(body.data()).map_err(auth)?;
                }
                Message::ErrorResponse(body) => return Err(error_fields(body.fields())),
                Message::ReadyForQuery(_) => return Ok(StartupStep::Ready),
                Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationGss
                | Message::AuthenticationSspi
                | Message::AuthenticationGssContinue(_) => {
                    return Err(DbError::internal(
                        "28000",
                        "unsupported authentication method requested by the server",
                    ));
                }
                _ => {}
            }
        }
        Ok(if out.is_empty() {
            StartupStep::NeedMore
        } else {
            StartupStep::Send(out)
        })
    }
}

/// Where and how to connect, from a `postgres://user:password@host:port/db` URI.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
}

impl Target {
    pub fn parse(uri: &str) -> Result<Target, String> {
        let url = url::Url::parse(uri).map_err(|_| {
            "invalid db-uri (expected postgres://user:password@host:port/database)".to_string()
        })?;
        if url.scheme() != "postgres" && url.scheme() != "postgresql" {
            return Err(format!(
                "invalid db-uri scheme `{}` (expected postgres://)",
                url.scheme()
            ));
        }
        let decode = |s: &str| percent_decode(s);
        let user = if url.username().is_empty() {
            "postgres".to_string()
        } else {
            decode(url.username())
        };
        let database = url.path().trim_start_matches('/');
        Ok(Target {
            host: url
                .host_str()
                .unwrap_or("localhost")
                .trim_matches(['[', ']'])
                .to_string(),
            port: url.port().unwrap_or(5432),
            password: url.password().map(decode),
            database: if database.is_empty() {
                user.clone()
            } else {
                decode(database)
            },
            user,
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frontend message tags of an encoded exchange, with Parse/Close names.
    fn messages(buf: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < buf.len() {
            let tag = buf[i] as char;
            let len = u32::from_be_bytes([buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]]) as usize;
            let body = &buf[i + 5..i + 1 + len];
            let name = |from: usize| {
                let end = body[from..].iter().position(|b| *b == 0).unwrap_or(0);
                String::from_utf8_lossy(&body[from..from + end]).into_owned()
            };
            out.push(match tag {
                'P' => format!("P:{}", name(0)),
                'C' => format!("C:{}", name(1)),
                t => t.to_string(),
            });
            i += 1 + len;
        }
        out
    }

    #[test]
    fn prepared_statements_are_parsed_once_and_closed_when_evicted() {
        let session = Session {
            role: Some("anon".into()),
            claims_json: "{}".into(),
            read_only: true,
            rollback: false,
            settings: vec![],
        };
        let st = |sql: &str| Statement {
            sql: sql.into(),
            params: vec![Some("1".into())],
        };
        let mut p = Prepared::new(3);
        let first = messages(&p.encode_transaction(&session, &[st("select $1")]).unwrap());
        p.settle(true);
        assert_eq!(
            first,
            [
                "P:supalite_1",
                "B",
                "D",
                "E",
                "P:supalite_2",
                "B",
                "D",
                "E",
                "S"
            ]
        );
        // Seen before: bound by name, not parsed again.
        let again = messages(&p.encode_transaction(&session, &[st("select $1")]).unwrap());
        p.settle(true);
        assert_eq!(again, ["B", "D", "E", "B", "D", "E", "S"]);
        // Two new statements over a capacity of 3: the least recently used
        // (`select $1`, supalite_2; the session statement was just used) is
        // closed at the start of the next exchange.
        p.encode_transaction(&session, &[st("select $1 + 1"), st("select $1 + 2")])
            .unwrap();
        p.settle(true);
        assert_eq!(p.len(), 3);
        let next = messages(
            &p.encode_transaction(&session, &[st("select $1 + 2")])
                .unwrap(),
        );
        assert_eq!(next[0], "C:supalite_2");
        // A failed exchange's new statements are forgotten and closed later.
        p.settle(true);
        p.encode_transaction(&session, &[st("select $1 + 3")])
            .unwrap();
        p.settle(false);
        let after = messages(
            &p.encode_transaction(&session, &[st("select $1 + 3")])
                .unwrap(),
        );
        assert!(after[0].starts_with("C:supalite_"), "{after:?}");
        assert!(
            after.iter().any(|m| m.starts_with("P:")),
            "parsed again: {after:?}"
        );
    }

    #[test]
    fn encodes_a_pipeline_ending_in_sync() {
        let s = Session {
            role: Some("anon".into()),
            claims_json: "{}".into(),
            read_only: true,
            rollback: false,
            settings: vec![],
        };
        let buf = encode_transaction(
            &s,
            &[Statement {
                sql: "select $1".into(),
                params: vec![None],
            }],
        )
        .unwrap();
        assert_eq!(buf.last(), Some(&4u8)); // Sync length field's last byte
        assert_eq!(buf[buf.len() - 5], b'S');
        assert_eq!(buf[0], b'P');
    }

    #[test]
    fn nul_in_sql_is_an_error_not_a_panic() {
        let s = Session {
            role: None,
            claims_json: "{}".into(),
            read_only: false,
            rollback: false,
            settings: vec![],
        };
        assert!(encode_transaction(
            &s,
            &[Statement {
                sql: "select '\0'".into(),
                params: vec![]
            }]
        )
        .is_err());
    }

    #[test]
    fn completeness() {
        assert_eq!(ready_count(b"Z\0\0\0"), None);
        assert_eq!(ready_count(b"Z\0\0\0\x05I"), Some(1));
        assert_eq!(ready_count(b"1\0\0\0\x04"), Some(0));
        assert_eq!(ready_count(b"1\0\0\0\x04Z\0\0\0\x05IZ\0\0\0\x05E"), Some(2));
    }

    #[test]
    fn uris() {
        let t = Target::parse("postgres://app:p%40ss@127.0.0.1:6543/my_db").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.user.as_str(),
                t.password.as_deref(),
                t.database.as_str()
            ),
            ("127.0.0.1", 6543, "app", Some("p@ss"), "my_db")
        );
        let t = Target::parse("postgresql://localhost").unwrap();
        assert_eq!(
            (t.port, t.user.as_str(), t.database.as_str()),
            (5432, "postgres", "postgres")
        );
        assert!(Target::parse("mysql://x").is_err());
        assert!(Target::parse("nonsense").is_err());
    }
}
