//! The composed pipeline: the engine, the compiled component, instances
//! (reused for `instance-reuse` requests), and one request through it.

use super::bindings::*;
use super::edge::*;
use super::outgoing::UpstreamOnly;
use super::state::*;
use crate::config::Config;
use crate::db::Database;
use crate::schema_cache::SchemaCache;
use crate::upstream::Upstreams;
use anyhow::{Context, Result};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{Component, ComponentExportIndex, Linker, ResourceTable, TypedFunc};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

/// Everything a request needs, shared by all connections.
pub struct Pipeline {
    pre: ProxyPre<State>,
    /// The gateway's `supalite:api/handler.handle`, when it exports one.
    handler: Option<ComponentExportIndex>,
    /// The request body limit (`SUPALITE_MAX_BODY_BYTES`) for that path.
    max_body: usize,
    /// Request bodies in flight, in KiB (`server-body-memory-mb`): each
    /// copy of a body through the stages costs its size again, so without a
    /// bound 64 clients posting 9 MB each took 3.4 GB.
    bodies: tokio::sync::Semaphore,
    bodies_kib: u32,
    env: Vec<(String, String)>,
    db: Option<Database>,
    schema: Option<Arc<SchemaCache>>,
    hooks: UpstreamOnly,
    upstreams: Upstreams,
    sql_roles: Option<Arc<Vec<String>>>,
    /// Requests one instance may serve (1: a fresh instance per request,
    /// exactly as `wasmtime serve`).
    /// What each role's granted sockets and filesystem reach.
    caps: Arc<super::grants::Capabilities>,
    reuse: u32,
    /// Instances that served a request and may serve another.
    idle: std::sync::Mutex<Vec<Warm>>,
    /// The longest one request may take in the pipeline.
    deadline: std::time::Duration,
    /// Per role, the most epoch ticks of wasm time (`[role-deadline-ms]`).
    role_ticks: Arc<std::collections::BTreeMap<String, u64>>,
    /// The most one component's memory may grow to (bytes).
    memory_limit: usize,
    /// Public path prefixes routed to `/auth/v1`, and how many of those
    /// requests run at once: password hashing is deliberately slow, and
    /// must leave worker threads to the data API.
    auth_prefixes: Vec<String>,
    auth_permits: tokio::sync::Semaphore,
}

/// What a request's body may take, in KiB: its `Content-Length`, else
/// (chunked) the body limit, unless the method has no body.
fn body_kib(req: &hyper::Request<hyper::body::Incoming>, max_body: usize) -> u32 {
    let announced = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = match announced {
        // Refused (413) before a byte of it is read.
        Some(n) if n > max_body as u64 => 0,
        Some(n) => n,
        None if req.headers().contains_key(hyper::header::TRANSFER_ENCODING) => max_body as u64,
        None => 0,
    };
    bytes.div_ceil(1024).min(u32::MAX as u64) as u32
}

/// Epoch ticks in `ms` milliseconds (at least one).
fn ticks(ms: u64) -> u64 {
    ms / EPOCH_TICK.as_millis() as u64 + 1
}

/// One epoch tick with role deadlines: the request's own deadline first,
/// then the tick is charged to the role whose code is innermost on the
/// stack (its core modules carry its name, see `compose::capped`).
fn role_tick(
    mut ctx: wasmtime::StoreContextMut<'_, State>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    let Some(ends) = ctx.data().clock.as_ref().map(|c| c.ends) else {
        return Ok(wasmtime::UpdateDeadline::Continue(1));
    };
    if std::time::Instant::now() >= ends {
        return Err(wasmtime::Trap::Interrupt.into());
    }
    let role = super::grants::calling_role(&ctx);
    if let (Some(role), Some(clock)) = (role, ctx.data_mut().clock.as_mut()) {
        if let Some(limit) = clock.limits.get(&role).copied() {
            let used = clock.used.entry(role.clone()).or_default();
            *used += 1;
            if *used > limit {
                let ms = (limit - 1) * EPOCH_TICK.as_millis() as u64;
                tracing::warn!(
                    role,
                    limit_ms = ms,
                    "a component ran past its role deadline (role-deadline-ms)"
                );
                return Err(RoleDeadline { role, ms }.into());
            }
        }
    }
    Ok(wasmtime::UpdateDeadline::Continue(1))
}

/// How often the engine's epoch advances (the deadline's resolution).
pub(super) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// `supalite:api/handler.handle`: the whole request in, the whole response out.
pub(super) type HandlerFunc = TypedFunc<(wit_types::Request,), (wit_types::Response,)>;

/// The name under which the gateway exports [`HandlerFunc`].
pub(super) const HANDLER_EXPORT: &str = "supalite:api/handler@0.1.0";

/// An instantiated pipeline kept for the next request.
pub(super) struct Warm {
    store: Store<State>,
    proxy: Proxy,
    handler: Option<HandlerFunc>,
    served: u32,
}

/// Most idle instances kept (the pool's slots are shared with busy ones).
pub(super) const MAX_IDLE: usize = 64;

pub(super) fn tune(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The engine; `memory_limit`: the most one linear memory may grow to
/// (each role's component has its own); `keep_resident`: the default of
/// what a freed memory slot keeps resident (zeroed by memset when reused
/// instead of unmapped and faulted in again).
pub(super) fn engine(memory_limit: u64, keep_resident: usize) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(20_000)
        .total_memories(10_000)
        .total_tables(10_000)
        .max_core_instances_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .max_memory_size(memory_limit as usize)
        .linear_memory_keep_resident(tune("SUPALITE_MEMORY_KEEP_RESIDENT", keep_resident))
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

pub(super) fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("supalite")
}

/// Compiles `bytes`, reusing an earlier compilation from the cache directory.
pub(super) fn load_component(engine: &Engine, bytes: &[u8]) -> Result<Component> {
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
            engine(
                cfg.component_memory_mb << 20,
                // A fresh instance per request reuses a slot per request:
                // a memset of what stayed resident is cheaper than page
                // faults. Reused instances free a slot rarely: then what
                // stays resident is only RSS (~40 MB under 16 clients).
                if cfg.instance_reuse > 1 { 0 } else { 1 << 20 },
            )?,
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
        // After WASI's own: what each role's grants reach replaces them.
        super::grants::add_to_linker(&mut linker)?;
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
            bodies: tokio::sync::Semaphore::new((cfg.server_body_memory >> 10) as usize),
            bodies_kib: (cfg.server_body_memory >> 10) as u32,
            env: cfg.component_env(),
            db,
            schema,
            hooks: {
                let upstreams = UpstreamOnly::new(
                    &cfg.upstream_url
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                );
                if cfg.roles_told_apart() {
                    upstreams.by_role(cfg.outbound.clone())
                } else {
                    upstreams
                }
            },
            upstreams,
            sql_roles: (!cfg.jwt_allowed_roles.is_empty()).then(|| {
                let mut roles = cfg.jwt_allowed_roles.clone();
                roles.push(cfg.db_anon_role.clone());
                Arc::new(roles)
            }),
            caps: Arc::new(super::grants::Capabilities::new(cfg)),
            reuse: cfg.instance_reuse.max(1),
            idle: std::sync::Mutex::new(Vec::new()),
            deadline: cfg.request_deadline,
            role_ticks: Arc::new(
                cfg.role_deadline_ms
                    .iter()
                    .map(|(role, ms)| (role.clone(), ticks(*ms)))
                    .collect(),
            ),
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
        // The network and directories each role is granted, nothing else
        // (UDP and name lookup stay off; see `grants`).
        let preopened = self.caps.configure(&mut wasi);
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
                clock: None,
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                db: self.db.clone(),
                schema: self.schema.clone(),
                hooks: self.hooks.clone(),
                upstreams: self.upstreams.clone(),
                sql_roles: self.sql_roles.clone(),
                caps: self.caps.clone(),
                preopened,
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
            self.start_clock(&mut w.store);
            return Ok(w);
        }
        let mut store = self.store();
        self.start_clock(&mut store);
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
        ticks(self.deadline.as_millis() as u64)
    }

    /// Arms the request's deadline: wall-clock epochs for the whole
    /// request, and, when roles have deadlines of their own, a check on
    /// every tick that charges it to the role running (`role_tick`).
    fn start_clock(&self, store: &mut Store<State>) {
        if self.role_ticks.is_empty() {
            store.set_epoch_deadline(self.deadline_ticks());
            return;
        }
        store.data_mut().clock = Some(RoleClock {
            limits: self.role_ticks.clone(),
            used: Default::default(),
            ends: std::time::Instant::now() + self.deadline,
        });
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(role_tick);
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
    pub(super) async fn handle(
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
        // Its share of the body budget, while it runs (waiting counts against
        // its deadline): the announced length, or the most a body may be.
        let kib = body_kib(&req, self.max_body).min(self.bodies_kib);
        let this = self.clone();
        let run = async move {
            let _bytes = match kib {
                0 => None,
                n => Some(this.bodies.acquire_many(n).await?),
            };
            this.clone().handle_inner(req, peer).await
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e))
                if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) =>
            {
                late()
            }
            Ok(Err(e)) if e.downcast_ref::<RoleDeadline>().is_some() => {
                let mut h = http::HeaderMap::new();
                if let Some(id) = &id {
                    h.insert("x-request-id", id.clone());
                }
                let what = e.downcast_ref::<RoleDeadline>().map(ToString::to_string);
                http_error(
                    &h,
                    504,
                    "SUPALITE504",
                    &format!("The request took too long: {}", what.unwrap_or_default()),
                )
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

#[cfg(test)]
mod tests {
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
        let engine = super::engine(64 << 20, 0).unwrap();
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
}
