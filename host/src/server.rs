//! Serves the composed pipeline over HTTP: instances from the pooling
//! allocator, reused for `instance-reuse` requests (1 = a fresh one per
//! request, as `wasmtime serve`); each request goes to the gateway's
//! `supalite:api/handler` export when it has one (whole request and response
//! as records), else through `wasi:http/incoming-handler`; plus the native
//! `sql`, `schema`, `upstream` and `backend` imports.

use crate::config::Config;
use crate::db::Database;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasmtime::component::{Component, ComponentExportIndex, Linker, ResourceTable, TypedFunc};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "host",
        imports: { default: async },
    });
}

use crate::schema_cache::SchemaCache;
use crate::upstream::Upstreams;
use bindings::supalite::api::admin_sql as wit_admin_sql;
use bindings::supalite::api::backend as wit_backend;
use bindings::supalite::api::schema as wit_schema;
use bindings::supalite::api::sql as wit_sql;
use bindings::supalite::api::types as wit_types;
use bindings::supalite::api::upstream as wit_upstream;

/// wasmtime 48 has its own error type; convert it for `anyhow::Context`.
fn wt<T>(r: wasmtime::Result<T>) -> Result<T> {
    r.map_err(anyhow::Error::from)
}

/// Outgoing HTTP is allowed only to the configured upstreams (by URI
/// authority, `host:port` as written in `upstream-url`): a component in the
/// pipeline cannot be used to reach anything else.
#[derive(Clone, Default)]
pub struct UpstreamOnly {
    allowed: Arc<Vec<String>>,
}

impl UpstreamOnly {
    pub fn new(urls: &[&str]) -> UpstreamOnly {
        let allowed = urls
            .iter()
            .filter_map(|u| u.parse::<http::Uri>().ok())
            .filter_map(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()))
            .collect();
        UpstreamOnly {
            allowed: Arc::new(allowed),
        }
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        uri.authority().is_some_and(|a| {
            self.allowed
                .iter()
                .any(|x| x.eq_ignore_ascii_case(a.as_str()))
        })
    }
}

impl wasmtime_wasi_http::WasiHttpHooks for UpstreamOnly {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<
                            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                                + Send,
                        >,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        if !self.allows(request.uri()) {
            tracing::warn!(uri = %request.uri(), "outgoing request denied: not a configured upstream");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        wasmtime_wasi_http::default_hooks().send_request(request, options, fut)
    }
}

/// Memory an instance's linear memories may take together; growth past it
/// fails inside the guest (an allocation error ends that request only).
const STORE_MEMORY_LIMIT: usize = 1 << 30;

/// An instance whose memories grew past this while serving a request is not
/// reused: dropping it gives the memory back (the pooling allocator keeps
/// only `*_KEEP_RESIDENT` bytes of a slot), so one large body does not stay
/// resident in every reused instance.
const REUSE_MEMORY_LIMIT: usize = 16 << 20;

/// Counts what the store's memories take, and refuses growth past the
/// limits: one memory (each role's component has its own) and all of them.
struct MemoryBudget {
    bytes: usize,
    per_memory: usize,
}

impl wasmtime::ResourceLimiter for MemoryBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.per_memory {
            tracing::warn!(
                bytes = desired,
                limit = self.per_memory,
                "a component tried to grow its memory past component-memory-mb"
            );
            return Ok(false);
        }
        let after = self.bytes - current.min(self.bytes) + desired;
        if after > STORE_MEMORY_LIMIT {
            tracing::warn!(
                bytes = after,
                limit = STORE_MEMORY_LIMIT,
                "a component tried to grow its memory past the limit"
            );
            return Ok(false);
        }
        self.bytes = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Per-request store data.
pub struct State {
    memory: MemoryBudget,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: UpstreamOnly,
    table: ResourceTable,
    db: Option<Database>,
    schema: Option<Arc<SchemaCache>>,
    upstreams: Upstreams,
    /// The roles `sql` may switch to: the anonymous role and the roles a
    /// token may carry (`None`: `jwt-allowed-roles` is empty, any role).
    sql_roles: Option<Arc<Vec<String>>>,
}

impl wit_upstream::Host for State {
    async fn admit(&mut self, name: String) -> wit_upstream::Admission {
        match self.upstreams.admit(&name) {
            crate::upstream::Admission::Allow => wit_upstream::Admission::Allow,
            crate::upstream::Admission::Probe => wit_upstream::Admission::Probe,
            crate::upstream::Admission::Reject => wit_upstream::Admission::Reject,
        }
    }

    async fn record_attempt(&mut self, name: String, attempt: wit_upstream::Attempt) {
        self.upstreams.record(
            &name,
            attempt.succeeded,
            attempt.retry,
            std::time::Duration::from_micros(attempt.latency_us),
        );
    }

    async fn record_fallback(&mut self, name: String) {
        self.upstreams.record_fallback(&name);
    }
}

/// The adapter's fallback import when no fallback backend is composed in.
impl wit_backend::Host for State {
    async fn handle(
        &mut self,
        _req: wit_types::Request,
        _who: wit_types::Identity,
    ) -> wit_types::Response {
        // The same answer as the standalone component's (for other hosts).
        let (status, code, message, hint) = contract::NO_FALLBACK;
        let r: postgrest::Response = postgrest::error::ApiError::new(status, code, message)
            .hint(hint)
            .into();
        wit_types::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl wit_types::Host for State {}

fn no_database() -> wit_sql::DbError {
    wit_sql::DbError {
        code: "08003".into(),
        message: "no database is configured for this pipeline".into(),
        detail: None,
        hint: None,
    }
}

impl wit_schema::Host for State {
    async fn snapshot(&mut self) -> Result<(u64, String), wit_sql::DbError> {
        let Some(cache) = &self.schema else {
            return Err(no_database());
        };
        let (version, json) = cache.snapshot();
        Ok((version, json.as_str().to_string()))
    }

    async fn version(&mut self) -> u64 {
        self.schema.as_ref().map_or(0, |c| c.snapshot().0)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl wit_sql::Host for State {
    async fn transaction(
        &mut self,
        session: wit_sql::Session,
        statements: Vec<wit_sql::Statement>,
    ) -> Result<Vec<wit_sql::ResultSet>, wit_sql::DbError> {
        // A component may act only as a role a request can have.
        let allowed = self
            .sql_roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == &session.role));
        if !allowed || session.role.is_empty() {
            tracing::warn!(role = %session.role, "sql: refused a role no request may have");
            return Err(wit_sql::DbError {
                code: "42501".into(),
                message: format!("role \"{}\" is not one a request may use", session.role),
                detail: None,
                hint: None,
            });
        }
        let session = pgwire_codec::Session {
            role: Some(session.role),
            claims_json: session.claims_json,
            read_only: session.read_only,
            rollback: session.rollback,
            settings: session.request_settings,
        };
        run_sql(&self.db, session, statements).await
    }
}

impl wit_admin_sql::Host for State {
    /// The connection's own role: only the auth role imports this (the
    /// composition refuses any other component that does).
    async fn transaction(
        &mut self,
        statements: Vec<wit_sql::Statement>,
    ) -> Result<Vec<wit_sql::ResultSet>, wit_sql::DbError> {
        let session = pgwire_codec::Session {
            role: None,
            claims_json: "{}".into(),
            read_only: false,
            rollback: false,
            settings: vec![],
        };
        run_sql(&self.db, session, statements).await
    }
}

/// One transaction through the native provider, in WIT's shapes.
async fn run_sql(
    db: &Option<Database>,
    session: pgwire_codec::Session,
    statements: Vec<wit_sql::Statement>,
) -> Result<Vec<wit_sql::ResultSet>, wit_sql::DbError> {
    let Some(db) = db else {
        return Err(no_database());
    };
    let statements: Vec<_> = statements
        .into_iter()
        .map(|s| pgwire_codec::Statement {
            sql: s.sql,
            params: s.params,
        })
        .collect();
    match db.transaction(session, &statements).await {
        Ok(sets) => Ok(sets
            .into_iter()
            .map(|s| wit_sql::ResultSet {
                columns: s
                    .columns
                    .into_iter()
                    .map(|(name, type_oid)| wit_sql::Column { name, type_oid })
                    .collect(),
                rows: s.rows,
                affected: s.affected,
            })
            .collect()),
        Err(e) => Err(wit_sql::DbError {
            code: e.code,
            message: e.message,
            detail: e.detail,
            hint: e.hint,
        }),
    }
}

/// Everything a request needs, shared by all connections.
pub struct Pipeline {
    pre: ProxyPre<State>,
    /// The gateway's `supalite:api/handler.handle`, when it exports one.
    handler: Option<ComponentExportIndex>,
    /// The request body limit (`SUPALITE_MAX_BODY_BYTES`) for that path.
    max_body: usize,
    env: Vec<(String, String)>,
    db: Option<Database>,
    schema: Option<Arc<SchemaCache>>,
    hooks: UpstreamOnly,
    upstreams: Upstreams,
    sql_roles: Option<Arc<Vec<String>>>,
    /// Requests one instance may serve (1: a fresh instance per request,
    /// exactly as `wasmtime serve`).
    reuse: u32,
    /// Instances that served a request and may serve another.
    idle: std::sync::Mutex<Vec<Warm>>,
    /// The longest one request may take in the pipeline.
    deadline: std::time::Duration,
    /// The most one component's memory may grow to (bytes).
    memory_limit: usize,
    /// Public path prefixes routed to `/auth/v1`, and how many of those
    /// requests run at once: password hashing is deliberately slow, and
    /// must leave worker threads to the data API.
    auth_prefixes: Vec<String>,
    auth_permits: tokio::sync::Semaphore,
}

/// How often the engine's epoch advances (the deadline's resolution).
const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// `supalite:api/handler.handle`: the whole request in, the whole response out.
type HandlerFunc = TypedFunc<(wit_types::Request,), (wit_types::Response,)>;

/// The name under which the gateway exports [`HandlerFunc`].
const HANDLER_EXPORT: &str = "supalite:api/handler@0.1.0";

/// An instantiated pipeline kept for the next request.
struct Warm {
    store: Store<State>,
    proxy: Proxy,
    handler: Option<HandlerFunc>,
    served: u32,
}

/// Most idle instances kept (the pool's slots are shared with busy ones).
const MAX_IDLE: usize = 64;

fn tune(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The engine; `memory_limit`: the most one linear memory may grow to
/// (each role's component has its own).
fn engine(memory_limit: u64) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(20_000)
        .total_memories(10_000)
        .total_tables(10_000)
        .max_core_instances_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .max_memory_size(memory_limit as usize)
        .linear_memory_keep_resident(tune("SUPALITE_MEMORY_KEEP_RESIDENT", 1 << 20))
        .table_keep_resident(tune("SUPALITE_TABLE_KEEP_RESIDENT", 16 << 10))
        .async_stack_keep_resident(tune("SUPALITE_STACK_KEEP_RESIDENT", 128 << 10));
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // A per-request deadline for guest code, as `wasmtime serve` and Spin set.
    config.epoch_interruption(true);
    let engine = wt(Engine::new(&config)).context("creating the wasmtime engine")?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match ticker.upgrade() {
                Some(e) => e.increment_epoch(),
                None => return,
            }
        })?;
    Ok(engine)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("supalite")
}

/// Compiles `bytes`, reusing an earlier compilation from the cache directory.
fn load_component(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    let key = hex::encode(hasher.finalize());
    let path = cache_dir().join(format!("{key}.cwasm"));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same
        // binary version; wasmtime still checks engine compatibility.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let component = wt(Component::new(engine, bytes)).context("compiling the composed pipeline")?;
    if let Ok(ser) = component.serialize() {
        let _ = std::fs::create_dir_all(cache_dir());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, ser).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(component)
}

/// The pipeline that new requests go to. A reload replaces it whole;
/// requests in flight keep the one they started on, which is dropped when
/// the last of them finishes.
pub struct Current(std::sync::RwLock<Arc<Pipeline>>);

impl Current {
    pub fn new(pipeline: Pipeline) -> Arc<Current> {
        Arc::new(Current(std::sync::RwLock::new(Arc::new(pipeline))))
    }

    pub fn get(&self) -> Arc<Pipeline> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, pipeline: Pipeline) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pipeline);
    }
}

impl Pipeline {
    pub fn new(
        cfg: &Config,
        composed: &[u8],
        db: Option<Database>,
        schema: Option<Arc<SchemaCache>>,
        upstreams: Upstreams,
    ) -> Result<Pipeline> {
        Pipeline::build(
            engine(cfg.component_memory_mb << 20)?,
            cfg,
            composed,
            db,
            schema,
            upstreams,
        )
    }

    /// A new pipeline from `cfg` and `composed` on this one's engine,
    /// database, schema cache and upstream state (for a reload).
    pub fn rebuild(&self, cfg: &Config, composed: &[u8]) -> Result<Pipeline> {
        Pipeline::build(
            self.pre.engine().clone(),
            cfg,
            composed,
            self.db.clone(),
            self.schema.clone(),
            self.upstreams.clone(),
        )
    }

    /// Instantiates the pipeline once (what fails at instantiation fails
    /// here, not on a request) and keeps the instance for the first request.
    pub async fn warm_up(&self) -> Result<()> {
        let warm = self.instance().await?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(warm);
        Ok(())
    }

    fn build(
        engine: Engine,
        cfg: &Config,
        composed: &[u8],
        db: Option<Database>,
        schema: Option<Arc<SchemaCache>>,
        upstreams: Upstreams,
    ) -> Result<Pipeline> {
        let component = load_component(&engine, composed)?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wit_sql::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;
        wit_admin_sql::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        wit_schema::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        wit_upstream::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        wit_backend::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        let handler = component
            .get_export_index(None, HANDLER_EXPORT)
            .and_then(|i| component.get_export_index(Some(&i), "handle"))
            .filter(|_| !cfg.edge_wasi_http);
        let pre = wt(linker.instantiate_pre(&component))
            .context("the composed pipeline imports something this host does not provide")?;
        let pre = wt(ProxyPre::new(pre))
            .context("the composed pipeline does not export wasi:http/incoming-handler")?;
        Ok(Pipeline {
            pre,
            handler,
            max_body: cfg.max_body_bytes,
            env: cfg.component_env(),
            db,
            schema,
            hooks: UpstreamOnly::new(
                &cfg.upstream_url
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            upstreams,
            sql_roles: (!cfg.jwt_allowed_roles.is_empty()).then(|| {
                let mut roles = cfg.jwt_allowed_roles.clone();
                roles.push(cfg.db_anon_role.clone());
                Arc::new(roles)
            }),
            reuse: cfg.instance_reuse.max(1),
            idle: std::sync::Mutex::new(Vec::new()),
            deadline: cfg.request_deadline,
            memory_limit: (cfg.component_memory_mb << 20) as usize,
            auth_prefixes: cfg
                .routes
                .iter()
                .filter(|(_, target)| target == "auth")
                .map(|(prefix, _)| prefix.trim_end_matches('/').to_string())
                .collect(),
            auth_permits: tokio::sync::Semaphore::new(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .div_ceil(2),
            ),
        })
    }

    fn store(&self) -> Store<State> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        // No component gets the network or files from this host: nothing is
        // preopened, UDP and name lookup stay off, and TCP reaches the
        // address check only so that an attempt is logged and refused.
        wasi.allow_tcp(true).socket_addr_check(|addr, reason| {
            tracing::warn!(%addr, ?reason, "a component asked for network access: refused");
            Box::pin(async { false })
        });
        for (k, v) in &self.env {
            wasi.env(k, v);
        }
        let mut store = Store::new(
            self.pre.engine(),
            State {
                memory: MemoryBudget {
                    bytes: 0,
                    per_memory: self.memory_limit,
                },
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                db: self.db.clone(),
                schema: self.schema.clone(),
                hooks: self.hooks.clone(),
                upstreams: self.upstreams.clone(),
                sql_roles: self.sql_roles.clone(),
            },
        );
        store.limiter(|s| &mut s.memory);
        store
    }

    /// How requests reach the gateway, for the start-up log.
    pub fn edge(&self) -> &'static str {
        if self.handler.is_some() {
            "supalite:api/handler"
        } else {
            "wasi:http/incoming-handler"
        }
    }

    /// An idle instance, or a new one.
    async fn instance(&self) -> Result<Warm> {
        let warm = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(mut w) = warm {
            w.store.set_epoch_deadline(self.deadline_ticks());
            return Ok(w);
        }
        let mut store = self.store();
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = self
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await?;
        let proxy = Proxy::new(&mut store, &instance)?;
        let handler = match &self.handler {
            Some(i) => Some(wt(instance.get_typed_func(&mut store, i)).with_context(|| {
                format!("the gateway's {HANDLER_EXPORT} export is not `handle: func(request) -> response`")
            })?),
            None => None,
        };
        Ok(Warm {
            store,
            proxy,
            handler,
            served: 0,
        })
    }

    fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
    }

    /// Keeps an instance that served a request without trapping (an
    /// instance that trapped is never used again), unless its memories
    /// grew large (dropping it returns that memory).
    fn release(&self, mut warm: Warm) {
        warm.served += 1;
        let bytes = warm.store.data().memory.bytes;
        if bytes > REUSE_MEMORY_LIMIT {
            tracing::debug!(
                bytes,
                "instance dropped: its memories grew past the reuse limit"
            );
            return;
        }
        if warm.served < self.reuse {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(warm);
            }
        }
    }

    /// The `supalite:api/handler` path: reads the whole body (one byte past
    /// the limit at most, so the gateway answers 413), calls the gateway once
    /// with records, and answers with the whole body.
    async fn handle_whole(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let (parts, mut body) = req.into_parts();
        let announced = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.max_body as u64) {
            // Refused before a byte of it is read.
            return Ok(http_error(
                &parts.headers,
                413,
                "PGRST413",
                "Payload Too Large",
            ));
        }
        let mut bytes = Vec::with_capacity(announced.unwrap_or(0) as usize);
        while bytes.len() <= self.max_body {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!("reading a request body failed: {e}");
                    return Ok(http_error(
                        &parts.headers,
                        400,
                        "PGRST102",
                        "Could not read the request body",
                    ));
                }
                None => break,
            }
        }
        let request = request_record(&parts, bytes);
        let mut warm = self.instance().await?;
        let Some(handler) = warm.handler else {
            anyhow::bail!("the gateway lost its {HANDLER_EXPORT} export");
        };
        let (resp,) = handler.call_async(&mut warm.store, (request,)).await?;
        self.release(warm);
        Ok(response_from_record(resp))
    }

    /// One request through the pipeline, within the request deadline: past
    /// it the request ends with 504 and its instance is dropped.
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
        peer: std::net::SocketAddr,
    ) -> hyper::Response<HyperOutgoingBody> {
        let id = req.headers().get("x-request-id").cloned();
        let deadline = self.deadline;
        let late = || {
            let mut h = http::HeaderMap::new();
            if let Some(id) = &id {
                h.insert("x-request-id", id.clone());
            }
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "request deadline reached"
            );
            http_error(
                &h,
                504,
                "SUPALITE504",
                &format!(
                    "The request took longer than the request deadline ({} ms)",
                    deadline.as_millis()
                ),
            )
        };
        let path = req.uri().path();
        let _auth_turn = if self
            .auth_prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()) && path[p.len()..].starts_with('/'))
        {
            self.auth_permits.acquire().await.ok()
        } else {
            None
        };
        match tokio::time::timeout(deadline, self.clone().handle_inner(req, peer)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e))
                if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) =>
            {
                late()
            }
            Ok(Err(e)) => internal_error(&e, id.as_ref()),
            Err(_) => late(),
        }
    }

    async fn handle_inner(
        self: Arc<Self>,
        mut req: hyper::Request<hyper::body::Incoming>,
        peer: std::net::SocketAddr,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        if let Some(refused) = over_http_limits(&req) {
            return Ok(refused);
        }
        // The client's address, appended as a proxy does.
        let forwarded = match req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(v) = http::HeaderValue::from_str(&forwarded) {
            req.headers_mut().insert("x-forwarded-for", v);
        }
        if self.handler.is_some() {
            return self.handle_whole(req).await;
        }
        let (sender, mut receiver) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let mut call = Box::pin(async move {
            let Warm {
                mut store,
                proxy,
                handler,
                served,
            } = this.instance().await?;
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, req)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            let result = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await;
            if result.is_ok() {
                this.release(Warm {
                    store,
                    proxy,
                    handler,
                    served,
                });
            }
            result.map_err(anyhow::Error::from)
        });
        // The guest runs on this connection's task. Most answers are complete
        // when the handler returns; a guest that is still streaming a body
        // after setting the response (its writes wait for hyper) continues
        // as a task of its own.
        let first = tokio::select! {
            biased;
            done = &mut call => Ok(done),
            resp = &mut receiver => Err(resp),
        };
        let (resp, error) = match first {
            // The handler returned: its response (if any) is waiting.
            Ok(done) => (receiver.await.ok(), done.err()),
            // The response is set but the guest still runs.
            Err(resp) => {
                tokio::task::spawn(async move {
                    if let Err(e) = call.await {
                        tracing::warn!("the pipeline failed after responding: {e:#}");
                    }
                });
                (resp.ok(), None)
            }
        };
        match (resp, error) {
            (Some(Ok(resp)), e) => {
                if let Some(e) = e {
                    tracing::warn!("the pipeline failed after responding: {e:#}");
                }
                Ok(resp)
            }
            (Some(Err(code)), _) => Err(anyhow::anyhow!("the pipeline failed: {code:?}")),
            (None, Some(e)) => Err(e),
            (None, None) => Err(anyhow::anyhow!("the pipeline returned without a response")),
        }
    }
}

/// The record the gateway's `handler` receives: what its wasi:http export
/// reads from the same request (lower-case names, lossy UTF-8 values, the
/// authority as `host` when the request has none).
fn request_record(parts: &http::request::Parts, body: Vec<u8>) -> wit_types::Request {
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !parts.headers.contains_key(http::header::HOST) {
        if let Some(a) = parts.uri.authority() {
            headers.push(("host".into(), a.to_string()));
        }
    }
    wit_types::Request {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
    }
}

/// The gateway's answer as a hyper response; the server frames the body.
fn response_from_record(resp: wit_types::Response) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(resp.body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut out = hyper::Response::new(body);
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (k, v) in resp.headers {
        if contract::http::is_framing_header(&k) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&v),
        ) {
            headers.append(k, v);
        }
    }
    out
}

/// Longest request target (path and query) and most header bytes and
/// fields accepted. hyper's own limits sit above these (a 65,534-byte
/// target, 400 header fields, its ~400 KB read buffer; it answers 414/431
/// with an empty body), so that a client gets these answers in PostgREST's
/// shape instead.
const MAX_URI_BYTES: usize = 48 << 10;
const MAX_HEADER_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 100;

/// 414 or 431 for a request over the limits above.
fn over_http_limits<B>(req: &hyper::Request<B>) -> Option<hyper::Response<HyperOutgoingBody>> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(http_error(
            req.headers(),
            414,
            "SUPALITE414",
            "URI Too Long",
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(http_error(
            headers,
            431,
            "SUPALITE431",
            "Request Header Fields Too Large",
        ));
    }
    None
}

/// A PostgREST-style 500 for failures outside the pipeline (a trap, say).
fn internal_error(
    e: &anyhow::Error,
    id: Option<&http::HeaderValue>,
) -> hyper::Response<HyperOutgoingBody> {
    tracing::error!("request failed: {e:#}");
    let mut h = http::HeaderMap::new();
    if let Some(id) = id {
        h.insert("x-request-id", id.clone());
    }
    http_error(&h, 500, "SUPALITE500", "The request pipeline failed")
}

/// An error the server itself answers (before or around the pipeline), in
/// PostgREST's JSON shape, with the client's `X-Request-Id` or a new one.
pub fn http_error(
    request_headers: &http::HeaderMap,
    status: u16,
    code: &str,
    message: &str,
) -> hyper::Response<HyperOutgoingBody> {
    let body = serde_json::json!({
        "code": code,
        "details": null,
        "hint": null,
        "message": message,
    })
    .to_string();
    let body = Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    let id = request_headers
        .get("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .cloned()
        .or_else(|| {
            let random = || {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(0);
                h.finish()
            };
            http::HeaderValue::from_str(&contract::http::new_request_id([random(), random()])).ok()
        });
    if let Some(id) = id {
        headers.insert("x-request-id", id);
    }
    resp
}

/// One line per request at debug level (server errors at warn), with the
/// request id the rewriter assigned or passed on.
fn log_request(
    method: &hyper::Method,
    path: &str,
    resp: &hyper::Response<HyperOutgoingBody>,
    started: std::time::Instant,
) {
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = id, %method, path, status, ms, "request failed");
    } else {
        tracing::debug!(request_id = id, %method, path, status, ms, "request");
    }
}

/// A listening socket with SO_REUSEADDR, so a restart is not refused while
/// connections of the previous run linger in TIME_WAIT.
pub async fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The HTTP server's own limits (see README, "Limits").
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time to receive a request's headers; also the longest a keep-alive
    /// connection may stay idle between requests (hyper starts the same
    /// timer when it waits for the next request).
    pub header_timeout: std::time::Duration,
    /// Open connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_timeout: std::time::Duration,
}

/// Out of file descriptors, or of kernel memory: waiting helps, spinning not.
fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts connections until `shutdown` resolves, then stops accepting,
/// lets the requests in flight finish (at most `shutdown_timeout`) and
/// returns.
pub async fn serve(
    listener: TcpListener,
    current: Arc<Current>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    use std::time::Duration;
    tokio::pin!(shutdown);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = Duration::ZERO;
    let mut last_warning: Option<std::time::Instant> = None;
    let mut suppressed = 0u64;
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => {
                    backoff = Duration::ZERO;
                    s
                }
                Err(e) => {
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(suppressed, "accept failed: {e}");
                        last_warning = Some(std::time::Instant::now());
                        suppressed = 0;
                    } else {
                        suppressed += 1;
                    }
                    if out_of_resources(&e) {
                        backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let current = current.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let pipeline = current.get();
                async move {
                    let started = std::time::Instant::now();
                    let (method, path) = (req.method().clone(), req.uri().path().to_string());
                    let resp = pipeline.handle(req, peer).await;
                    log_request(&method, &path, &resp, started);
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_headers(4 * MAX_HEADERS)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { drop(stop.wait_for(|s| *s).await) } => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let busy = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "requests still running after the shutdown timeout; closing their connections"
        );
        connections.abort_all();
    } else if busy > 0 {
        tracing::info!(connections = busy, "in-flight requests finished");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::UpstreamOnly;

    /// The engine's epoch ticker ends guest code that never returns (what
    /// bounds a looping component) with an interrupt trap.
    #[tokio::test]
    async fn the_epoch_deadline_interrupts_a_loop() {
        // (module (func (export "spin") (loop (br 0))))
        let wasm = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type () -> ()
            0x03, 0x02, 0x01, 0x00, // one function
            0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export
            0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
        ];
        let engine = super::engine(64 << 20).unwrap();
        let module = wasmtime::Module::new(&engine, wasm).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_epoch_deadline(20); // 20 ticks of 10 ms
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let started = std::time::Instant::now();
        let err = spin.call_async(&mut store, ()).await.unwrap_err();
        assert_eq!(
            err.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn outgoing_requests_only_to_upstreams() {
        let hooks =
            UpstreamOnly::new(&["http://127.0.0.1:3000/rest/v1", "https://api.example.com"]);
        assert!(hooks.allows(&"http://127.0.0.1:3000/todos".parse().unwrap()));
        assert!(hooks.allows(&"https://API.example.com/x".parse().unwrap()));
        assert!(!hooks.allows(&"http://127.0.0.1:3001/todos".parse().unwrap()));
        assert!(!hooks.allows(&"http://169.254.169.254/latest".parse().unwrap()));
        assert!(!UpstreamOnly::default().allows(&"http://127.0.0.1:3000/".parse().unwrap()));
    }
}
