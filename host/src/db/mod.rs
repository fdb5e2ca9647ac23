//! The native `sql` provider. Every operation is one pipelined protocol
//! exchange built by `pgwire-codec`; only the transport differs:
//! embedded PGlite (in process, one session) or a PostgreSQL pool (TCP).
//!
//! Every request's transaction runs under the impersonated role's own
//! settings (`ALTER ROLE anon SET statement_timeout = '3s'`, as PostgREST ≥ 12
//! applies them on the role switch) and under the server-wide statement
//! timeout cap (`db-statement-timeout`).

pub mod dir_lock;
pub mod loopback;
pub mod open;
pub mod pglite;
pub mod postgres;
pub mod schedule;
pub mod setup;

pub use pgwire_codec::{DbError, ResultSet, Session, Statement};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Prepared statements kept per session (pooled connection, PGlite's one
/// session), least recently used closed beyond.
pub const PREPARED_PER_SESSION: usize = 100;

#[derive(Clone)]
pub enum Backend {
    Pglite(pglite::PgliteHandle),
    Postgres(Arc<postgres::PgPool>),
}

/// Who a request's transaction is for: its client address and when its
/// wait for PGlite's session must end.
#[derive(Clone, Copy, Debug, Default)]
pub struct Requester {
    pub client: Option<std::net::IpAddr>,
    pub wait_until: Option<std::time::Instant>,
}

#[derive(Clone)]
pub struct Database {
    pub backend: Backend,
    policy: Arc<SessionPolicy>,
}

/// What every request's transaction gets besides its role and claims.
struct SessionPolicy {
    /// `db-statement-timeout`: no request's statement runs longer.
    cap: Option<Duration>,
    /// The default schema, then `db-extra-search-path` (PostgREST sets it
    /// per request; the bridge overrides it for another profile).
    search_path: String,
    /// Per role: its `ALTER ROLE … SET` settings that any user may set.
    roles: RwLock<HashMap<String, Vec<(String, String)>>>,
    /// `app.settings.*` from the configuration, for every transaction.
    app: Vec<(String, String)>,
    /// `db-prepared-statements`: statements are prepared once per session.
    prepared: bool,
    /// `db-anon-role`: whose requests PGlite's scheduler counts as anonymous.
    anon_role: String,
    /// Bumped on every schema reload: sessions then close what they prepared.
    generation: std::sync::atomic::AtomicU64,
    /// PostgreSQL ≥ 14: the backend checks its client while a statement
    /// runs, so a query whose request is gone (client disconnected, deadline,
    /// supalite stopped: the pooled connection is dropped) is cancelled.
    check_client: std::sync::atomic::AtomicBool,
}

/// The roles' own settings (`ALTER ROLE … SET …`, for all databases or this
/// one; a database-specific value wins), limited to those any user may set
/// (`pg_settings.context = 'user'`) — what PostgREST applies on role switch.
use contract::policy::{self, ROLE_SETTINGS_SQL};

impl Database {
    pub fn new(
        backend: Backend,
        statement_timeout_cap: Option<Duration>,
        search_path: String,
    ) -> Database {
        Database {
            backend,
            policy: Arc::new(SessionPolicy {
                cap: statement_timeout_cap,
                search_path,
                roles: RwLock::new(HashMap::new()),
                app: Vec::new(),
                prepared: true,
                anon_role: "anon".into(),
                generation: Default::default(),
                check_client: Default::default(),
            }),
        }
    }

    /// After a schema reload: every session closes the statements it
    /// prepared before (PostgreSQL replans them by itself; this keeps
    /// nothing planned against the old schema, and the caches small).
    pub fn forget_prepared(&self) {
        self.policy
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// `db-prepared-statements` (on by default, as in PostgREST).
    pub fn with_prepared_statements(mut self, on: bool) -> Database {
        if let Some(p) = Arc::get_mut(&mut self.policy) {
            p.prepared = on;
        }
        self
    }

    /// `db-anon-role`, for PGlite's scheduler.
    pub fn with_anon_role(mut self, role: &str) -> Database {
        if let Some(p) = Arc::get_mut(&mut self.policy) {
            p.anon_role = role.to_string();
        }
        self
    }

    /// `app.settings.*` set in every request's transaction.
    pub fn with_app_settings(mut self, settings: Vec<(String, String)>) -> Database {
        if let Some(p) = Arc::get_mut(&mut self.policy) {
            p.app = settings;
        }
        self
    }

    /// Notified when someone runs `NOTIFY pgrst, 'reload schema'`.
    pub fn reload_signal(&self) -> Arc<tokio::sync::Notify> {
        match &self.backend {
            Backend::Pglite(db) => db.reload.clone(),
            Backend::Postgres(pool) => pool.reload.clone(),
        }
    }

    /// Reads the roles' settings again (with the schema cache).
    pub async fn reload_role_settings(&self) -> Result<(), DbError> {
        let set = self.query(ROLE_SETTINGS_SQL, vec![]).await?;
        *self.policy.roles.write().unwrap_or_else(|p| p.into_inner()) =
            policy::role_settings(set.rows);
        if let Backend::Postgres(_) = self.backend {
            let v = self
                .query(
                    "select current_setting('server_version_num')::int >= 140000",
                    vec![],
                )
                .await?;
            let yes = v.rows.first().and_then(|r| r.first().cloned().flatten());
            self.policy.check_client.store(
                yes.as_deref() == Some("t"),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Ok(())
    }

    /// The settings a transaction as `role` runs with, and its statement
    /// timeout (the role's own, capped by `db-statement-timeout`).
    fn session_settings(&self, role: Option<&str>) -> (Vec<(String, String)>, Option<Duration>) {
        let (mut settings, timeout) = {
            let roles = self.policy.roles.read().unwrap_or_else(|p| p.into_inner());
            let own = role.and_then(|r| roles.get(r)).map(Vec::as_slice);
            policy::session_settings(
                own.unwrap_or_default(),
                &self.policy.search_path,
                self.policy.cap,
            )
        };
        if self
            .policy
            .check_client
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            settings.push(("client_connection_check_interval".into(), "1000".into()));
        }
        (settings, timeout)
    }

    /// Sends one pipeline and returns the raw answer (`answers` ReadyForQuery
    /// messages); `timeout` bounds the statements where the database itself
    /// cannot (PGlite).
    async fn roundtrip(
        &self,
        request: bytes::BytesMut,
        answers: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, DbError> {
        match &self.backend {
            Backend::Pglite(db) => db.roundtrip(request, timeout).await,
            Backend::Postgres(pool) => pool.roundtrip(&request, answers).await,
        }
    }

    /// PGlite's scheduler class of a transaction as `role`.
    fn class(&self, role: Option<&str>) -> schedule::Class {
        match role {
            None | Some("service_role") => schedule::Class::Service,
            Some(r) if r == self.policy.anon_role => schedule::Class::Anonymous,
            Some(_) => schedule::Class::Authenticated,
        }
    }

    /// One `sql.transaction` of a request: role, claims and the role's
    /// settings, the statements, commit — or roll back everything on the
    /// first error. PGlite's scheduler orders the session by the role and
    /// `who` (its client, how long it may wait).
    pub async fn transaction_for(
        &self,
        mut session: Session,
        statements: &[Statement],
        who: Requester,
    ) -> Result<Vec<ResultSet>, DbError> {
        let caller = schedule::Caller {
            class: self.class(session.role.as_deref()),
            client: who.client,
            wait_until: who.wait_until,
        };
        let (mut settings, timeout) = self.session_settings(session.role.as_deref());
        settings.extend(self.policy.app.iter().cloned());
        // What the caller asked for: request context only (never the role,
        // timeouts or the search path).
        settings.extend(
            std::mem::take(&mut session.settings)
                .into_iter()
                .filter(|(name, _)| pgwire_codec::is_request_setting(name)),
        );
        session.settings = settings;
        self.run(&session, statements, timeout, caller).await
    }

    async fn run(
        &self,
        session: &Session,
        statements: &[Statement],
        timeout: Option<Duration>,
        caller: schedule::Caller,
    ) -> Result<Vec<ResultSet>, DbError> {
        let prepare = self.policy.prepared.then(|| {
            self.policy
                .generation
                .load(std::sync::atomic::Ordering::SeqCst)
        });
        match &self.backend {
            Backend::Pglite(db) => {
                db.transaction(session, statements, timeout, prepare, caller)
                    .await
            }
            Backend::Postgres(pool) => pool.transaction(session, statements, prepare).await,
        }
    }

    /// One statement as the connection's own role (start-up work only).
    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Option<String>>,
    ) -> Result<ResultSet, DbError> {
        self.query_with(sql, params, &[]).await
    }

    /// [`Database::query`] with `settings` set for its transaction.
    pub async fn query_with(
        &self,
        sql: &str,
        params: Vec<Option<String>>,
        settings: &[(&str, &str)],
    ) -> Result<ResultSet, DbError> {
        let session = Session {
            role: None,
            claims_json: "{}".into(),
            read_only: false,
            rollback: false,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut sets = self
            .run(
                &session,
                &[Statement {
                    sql: sql.into(),
                    params,
                }],
                None,
                schedule::Caller::SERVICE,
            )
            .await?;
        Ok(sets.pop().unwrap_or_default())
    }

    /// A multi-statement script and an optional record, atomically.
    pub async fn script(&self, sql: &str, record: Option<&Statement>) -> Result<(), DbError> {
        let request = pgwire_codec::encode_script(sql, record)?;
        let answer = self
            .roundtrip(request, pgwire_codec::SCRIPT_ANSWERS, None)
            .await?;
        pgwire_codec::first_error(&answer)
    }
}
