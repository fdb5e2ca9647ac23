//! `sql` and `schema` over the PostgreSQL wire protocol, for wasi:http hosts
//! that have no native `sql` (stock `wasmtime serve`, edge runtimes).
//!
//! The protocol work is `pgwire-codec` (postgres-protocol messages, SCRAM):
//! start-up and authentication as a sans-I/O state machine, and each `sql`
//! transaction as one pipelined extended-protocol exchange. This crate only
//! moves the bytes over a TCP stream (Rust std's `TcpStream`, which is
//! wasi:sockets on wasm32-wasip2). One connection per instance, opened on
//! first use: hosts that instantiate per request connect per request.
//!
//! Configuration (wasi:cli environment):
//! - `SUPALITE_DB_URI`: `postgres://user:password@host:port/database`.
//! - `SUPALITE_DB_SCHEMAS`: schemas of the schema cache (default `public`).

use pgwire_codec::{DbError, ResultSet, Session, Startup, StartupStep, Statement, Target};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A connection ready for queries, listening on `pgrst` as PostgREST does.
pub struct Conn {
    stream: TcpStream,
    /// `NOTIFY pgrst, 'reload schema'` (or an empty payload) seen so far.
    pub reloads: u64,
}

fn io_error(code: &'static str, what: &'static str) -> impl Fn(std::io::Error) -> DbError {
    move |e| DbError::internal(code, format!("{what}: {e}"))
}

impl Conn {
    /// Connects and authenticates (cleartext, MD5 or SCRAM-SHA-256).
    pub fn connect(t: &Target) -> Result<Conn, DbError> {
        let connect_err = io_error("08001", "cannot connect to PostgreSQL");
        let addrs: Vec<_> = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .map_err(&connect_err)?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(connect_err(e)),
            (None, None) => {
                return Err(DbError::internal(
                    "08001",
                    format!("cannot resolve {}", t.host),
                ))
            }
        };
        let _ = stream.set_nodelay(true);
        let lost = io_error("08006", "lost the PostgreSQL connection");
        let (mut startup, hello) = Startup::begin(&t.user, t.password.as_deref(), &t.database)?;
        stream.write_all(&hello).map_err(&lost)?;
        let mut chunk = vec![0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).map_err(&lost)?;
            if n == 0 {
                return Err(DbError::internal(
                    "08006",
                    "PostgreSQL closed the connection during start-up",
                ));
            }
            match startup.feed(&chunk[..n])? {
                StartupStep::Send(bytes) => stream.write_all(&bytes).map_err(&lost)?,
                StartupStep::NeedMore => {}
                StartupStep::Ready => break,
            }
        }
        let mut conn = Conn { stream, reloads: 0 };
        conn.roundtrip(&pgwire_codec::encode_query("LISTEN pgrst")?, 1)?;
        Ok(conn)
    }

    /// One `Sync` round trip: collects the notifications that arrived
    /// since the last exchange (a cheap schema-version check).
    pub fn ping(&mut self) -> Result<(), DbError> {
        self.roundtrip(&pgwire_codec::encode_sync(), 1).map(drop)
    }

    /// Sends one pipeline and reads until `answers` ReadyForQuery messages.
    pub fn roundtrip(&mut self, request: &[u8], answers: usize) -> Result<Vec<u8>, DbError> {
        let lost = io_error("08006", "lost the PostgreSQL connection");
        self.stream.write_all(request).map_err(&lost)?;
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = self.stream.read(&mut chunk).map_err(&lost)?;
            if n == 0 {
                return Err(DbError::internal(
                    "08006",
                    "PostgreSQL closed the connection",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
            if pgwire_codec::ready_count(&buf).is_some_and(|c| c >= answers) {
                self.reloads += pgwire_codec::notifications(&buf)
                    .iter()
                    .filter(|(c, p)| pgwire_codec::is_schema_reload(c, p))
                    .count() as u64;
                return Ok(buf);
            }
        }
    }

    /// One `sql.transaction`.
    pub fn transaction(
        &mut self,
        session: &Session,
        statements: &[Statement],
    ) -> Result<Vec<ResultSet>, DbError> {
        let request = pgwire_codec::encode_transaction(session, statements)?;
        let answer = self.roundtrip(&request, session.answers())?;
        pgwire_codec::decode_transaction(session, &answer)
    }
}

/// The target from `SUPALITE_DB_URI` (`setting` looks settings up).
pub fn target_from(setting: impl Fn(&str) -> Option<String>) -> Result<Target, DbError> {
    let uri = contract::settings::DB_URI.text(setting).ok_or_else(|| {
        DbError::internal(
            "08003",
            "no database is configured: set SUPALITE_DB_URI (postgres://user:password@host:port/db)",
        )
    })?;
    Target::parse(&uri).map_err(|e| DbError::internal("08001", e))
}

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::pgwire::*;

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    use exports::supalite::api::admin_sql::Guest as AdminSqlGuest;
    use exports::supalite::api::schema::Guest as SchemaGuest;
    use exports::supalite::api::sql::{
        Column, DbError, Guest as SqlGuest, ResultSet, Session, Statement,
    };
    use std::cell::RefCell;

    thread_local! {
        static CONN: RefCell<Option<crate::Conn>> = const { RefCell::new(None) };
        /// The roles' own settings, read with the instance's first request
        /// (again after a schema reload, as PostgREST reads them with it).
        static ROLES: RefCell<Option<std::collections::HashMap<String, Vec<(String, String)>>>> =
            const { RefCell::new(None) };
        /// The schema cache JSON and the version it was read at, kept while
        /// the instance lives (`wasmtime serve --max-instance-reuse-count`).
        static SCHEMA: RefCell<Option<(u64, std::rc::Rc<String>)>> = const { RefCell::new(None) };
        /// The schema version: (connections opened, reloads seen on the
        /// current one) when it last changed, and its number.
        static VERSION: std::cell::Cell<((u64, u64), u64)> = const { std::cell::Cell::new(((0, 0), 0)) };
        /// Connections this instance opened.
        static CONNECTIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// The schema version now: a `Sync` round trip collects pending
    /// `NOTIFY pgrst` messages; a reload or a new connection (which may
    /// have missed one) moves it on and forgets the kept catalog and role
    /// settings. `Err` when the database cannot be reached.
    fn schema_version() -> Result<u64, pgwire_codec::DbError> {
        let reloads = with_conn(|c| {
            c.ping()?;
            Ok(c.reloads)
        })?;
        let seen = (CONNECTIONS.get(), reloads);
        let (last, version) = VERSION.get();
        if last == seen && version != 0 {
            return Ok(version);
        }
        VERSION.set((seen, version + 1));
        SCHEMA.with(|s| *s.borrow_mut() = None);
        ROLES.with(|r| *r.borrow_mut() = None);
        Ok(version + 1)
    }

    /// A transaction as the connection's own role (catalog reads, the auth
    /// API's `admin-sql`).
    fn own_session(read_only: bool) -> pgwire_codec::Session {
        pgwire_codec::Session {
            role: None,
            claims_json: "{}".into(),
            read_only,
            rollback: false,
            settings: vec![],
        }
    }

    /// `role`'s own settings (`ALTER ROLE … SET`), read once per instance.
    fn role_settings(role: &str) -> Result<Vec<(String, String)>, pgwire_codec::DbError> {
        if let Some(own) = ROLES.with(|r| r.borrow().as_ref().map(|m| m.get(role).cloned())) {
            return Ok(own.unwrap_or_default());
        }
        let session = own_session(true);
        let statement = pgwire_codec::Statement {
            sql: contract::policy::ROLE_SETTINGS_SQL.into(),
            params: vec![],
        };
        let rows = with_conn(|c| c.transaction(&session, &[statement]))?
            .pop()
            .map(|s| s.rows)
            .unwrap_or_default();
        let roles = contract::policy::role_settings(rows);
        let own = roles.get(role).cloned().unwrap_or_default();
        ROLES.with(|r| *r.borrow_mut() = Some(roles));
        Ok(own)
    }

    /// The statement timeout cap (`SUPALITE_DB_STATEMENT_TIMEOUT`, ms, as
    /// the supalite host's `db-statement-timeout`: 8000 by default, 0 none)
    /// and `app.settings.*` (`SUPALITE_APP_SETTINGS`, a JSON object), read
    /// once per instance.
    fn server_settings() -> &'static (Option<std::time::Duration>, Vec<(String, String)>) {
        static SERVER: std::sync::OnceLock<(Option<std::time::Duration>, Vec<(String, String)>)> =
            std::sync::OnceLock::new();
        SERVER.get_or_init(|| {
            use contract::settings as s;
            let cap: u64 = s::DB_STATEMENT_TIMEOUT.number(setting).unwrap_or_default();
            // Checked as it is read: an invalid object is said and unset.
            let app = match s::APP_SETTINGS.text(setting) {
                Some(json) => contract::parse_app_settings(&json).unwrap_or_default(),
                None => Vec::new(),
            };
            (
                (cap > 0).then(|| std::time::Duration::from_millis(cap)),
                app,
            )
        })
    }

    fn to_wit(e: pgwire_codec::DbError) -> DbError {
        DbError {
            code: e.code,
            message: e.message,
            detail: e.detail,
            hint: e.hint,
        }
    }

    /// Runs `f` on the instance's connection, opening it on first use; a
    /// connection that failed is dropped so the next call reconnects.
    fn with_conn<T>(
        f: impl FnOnce(&mut crate::Conn) -> Result<T, pgwire_codec::DbError>,
    ) -> Result<T, pgwire_codec::DbError> {
        CONN.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(crate::Conn::connect(&crate::target_from(setting)?)?);
                CONNECTIONS.set(CONNECTIONS.get() + 1);
            }
            let result = f(slot.as_mut().expect("connected"));
            if result.as_ref().is_err_and(|e| e.code.starts_with("08")) {
                *slot = None;
            }
            result
        })
    }

    struct Pgwire;

    /// Read once per instance (the environment does not change).
    fn default_search_path() -> String {
        static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        PATH.get_or_init(read_search_path).clone()
    }

    fn read_search_path() -> String {
        use contract::settings as s;
        contract::sql::default_search_path(
            &s::DB_SCHEMAS.text_or_default(setting),
            &s::DB_EXTRA_SEARCH_PATH.text_or_default(setting),
        )
    }

    /// One transaction on the instance's connection, in WIT's shapes.
    fn run(
        session: pgwire_codec::Session,
        statements: Vec<Statement>,
    ) -> Result<Vec<ResultSet>, DbError> {
        let statements: Vec<_> = statements
            .into_iter()
            .map(|s| pgwire_codec::Statement {
                sql: s.sql,
                params: s.params,
            })
            .collect();
        let sets = with_conn(|c| c.transaction(&session, &statements)).map_err(to_wit)?;
        Ok(sets
            .into_iter()
            .map(|s| ResultSet {
                columns: s
                    .columns
                    .into_iter()
                    .map(|(name, type_oid)| Column { name, type_oid })
                    .collect(),
                rows: s.rows,
                affected: s.affected,
            })
            .collect())
    }

    /// The roles `sql` may switch to, as the supalite host allows them:
    /// the anonymous role and `SUPALITE_JWT_ALLOWED_ROLES` (default
    /// `anon,authenticated,service_role`).
    fn role_allowed(role: &str) -> bool {
        !role.is_empty()
            && (role == contract::settings::anon_role_or_default(setting)
                || contract::settings::allowed_roles(setting)
                    .iter()
                    .any(|r| r == role))
    }

    impl SqlGuest for Pgwire {
        fn transaction(
            session: Session,
            statements: Vec<Statement>,
        ) -> Result<Vec<ResultSet>, DbError> {
            if !role_allowed(&session.role) {
                return Err(DbError {
                    code: "42501".into(),
                    message: format!("role \"{}\" is not one a request may use", session.role),
                    detail: None,
                    hint: None,
                });
            }
            // As the supalite host: the role's own settings under the
            // statement timeout cap, on the default schema then
            // `db-extra-search-path` (a request on another profile sets its
            // own in its first statement), `app.settings.*`, and the
            // request context the caller gives.
            let own = role_settings(&session.role).map_err(to_wit)?;
            let (cap, app) = server_settings();
            let (mut settings, _) =
                contract::policy::session_settings(&own, &default_search_path(), *cap);
            settings.extend(app.iter().cloned());
            settings.extend(
                session
                    .request_settings
                    .into_iter()
                    .filter(|(n, _)| pgwire_codec::is_request_setting(n)),
            );
            let session = pgwire_codec::Session {
                role: Some(session.role),
                claims_json: session.claims_json,
                read_only: session.read_only,
                rollback: session.rollback,
                settings,
            };
            run(session, statements)
        }
    }

    impl AdminSqlGuest for Pgwire {
        /// As the connection's own role (the auth service's `auth.*`).
        fn transaction(statements: Vec<Statement>) -> Result<Vec<ResultSet>, DbError> {
            let session = own_session(false);
            run(session, statements)
        }
    }

    impl SchemaGuest for Pgwire {
        /// The catalog, read once per schema version and kept while the
        /// instance lives (with `--max-instance-reuse-count` across
        /// requests; a host that instantiates per request reads it for each
        /// request that needs the schema).
        fn snapshot() -> Result<(u64, String), DbError> {
            let version = schema_version().map_err(to_wit)?;
            if let Some((v, json)) = SCHEMA.with(|s| s.borrow().clone()) {
                if v == version {
                    return Ok((v, json.as_ref().clone()));
                }
            }
            let schemas = contract::settings::DB_SCHEMAS.list(setting);
            let mut session = own_session(true);
            session.settings = contract::sql::CATALOG_SETTINGS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let statement = pgwire_codec::Statement {
                sql: contract::sql::CATALOG_SQL.into(),
                params: vec![Some(contract::sql::catalog_param(
                    schemas.iter().map(String::as_str),
                ))],
            };
            let mut sets = with_conn(|c| c.transaction(&session, &[statement])).map_err(to_wit)?;
            let json = sets
                .pop()
                .and_then(|s| s.rows.into_iter().next())
                .and_then(|r| r.into_iter().next().flatten())
                .unwrap_or_else(|| "{}".into());
            SCHEMA.with(|s| *s.borrow_mut() = Some((version, std::rc::Rc::new(json.clone()))));
            Ok((version, json))
        }

        /// The schema version (see `schema_version`); 0 when the database
        /// cannot be reached (the bridge then reads the catalog again).
        fn version() -> u64 {
            schema_version().unwrap_or(0)
        }
    }

    guest::pgwire::export_pgwire!(Pgwire);
}
