//! Instances of the composed pipeline: the linker (what the host provides),
//! instantiation, reuse for `instance-reuse` requests, the rules for
//! releasing an instance, and the deadline clocks each request's store runs
//! under (the request deadline, and `[role-deadline-ms]`).

use super::bindings::*;
use super::engine::{load_component, ticks, EPOCH_TICK};
use super::state::*;
use super::upstream::{self, UpstreamOnly, Upstreams};
use crate::config::Config;
use crate::db::Database;
use crate::schema_cache::SchemaCache;
use anyhow::{Context, Result};
use std::sync::Arc;
use wasmtime::component::{ComponentExportIndex, Linker, ResourceTable, TypedFunc};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::WasiHttpCtx;

/// `supalite:api/handler.handle`: the whole request in, the whole response out.
pub(super) type HandlerFunc = TypedFunc<(wit_types::Request,), (wit_types::Response,)>;

/// The name under which the gateway exports [`HandlerFunc`].
pub(super) const HANDLER_EXPORT: &str = "supalite:api/handler@0.1.0";

/// Most idle instances kept (the pool's slots are shared with busy ones).
pub(super) const MAX_IDLE: usize = 64;

/// An instance of the pipeline, with its store: serving a request, or kept
/// for the next one.
pub(super) struct Warm {
    pub(super) store: Store<State>,
    pub(super) proxy: Proxy,
    pub(super) handler: Option<HandlerFunc>,
    served: u32,
}

/// The compiled pipeline and its instances.
pub struct Pool {
    pre: ProxyPre<State>,
    /// The gateway's `supalite:api/handler.handle`, when it exports one.
    handler: Option<ComponentExportIndex>,
    env: Vec<(String, String)>,
    db: Option<Database>,
    schema: Option<Arc<SchemaCache>>,
    hooks: UpstreamOnly,
    upstreams: Upstreams,
    sql_roles: Option<Arc<Vec<String>>>,
    /// The storage role's blob store.
    blobs: Option<Arc<crate::blob_store::Store>>,
    /// The auth role's e-mail.
    mailer: Arc<crate::mail::Mailer>,
    /// What each role's granted sockets and filesystem reach.
    caps: Arc<super::caps::Capabilities>,
    /// Requests one instance may serve (1: a fresh instance per request,
    /// exactly as `wasmtime serve`).
    reuse: u32,
    /// Instances that served a request and may serve another.
    idle: std::sync::Mutex<Vec<Warm>>,
    /// The longest one request may take in the pipeline.
    deadline: std::time::Duration,
    /// Per role, the most epoch ticks of wasm time (`[role-deadline-ms]`).
    role_ticks: Arc<std::collections::BTreeMap<String, u64>>,
    /// The most one component's memory may grow to (bytes).
    memory_limit: usize,
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
    let role = super::caps::calling_role(&ctx);
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

/// Everything the host provides to the composed pipeline: WASI, wasi:http
/// (outgoing), the per-role grants, and the native imports.
fn linker(engine: &Engine) -> Result<Linker<State>> {
    let mut linker: Linker<State> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    // After WASI's own: what each role's grants reach replaces them.
    super::grants::add_to_linker(&mut linker)?;
    wit_sql::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;
    wit_admin_sql::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
        &mut linker,
        |s| s,
    )?;
    wit_schema::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;
    wit_blob_store::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
        &mut linker,
        |s| s,
    )?;
    wit_mailer::add_to_linker::<State, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;
    upstream::add_to_linker(&mut linker, |s: &mut State| upstream::Imports(&s.upstreams))?;
    Ok(linker)
}

impl Pool {
    /// Compiles (or loads from the cache) `composed` on `engine` and
    /// checks that it instantiates against the host's imports.
    pub(super) fn new(
        engine: Engine,
        cfg: &Config,
        composed: &[u8],
        db: Option<Database>,
        schema: Option<Arc<SchemaCache>>,
        upstreams: Upstreams,
    ) -> Result<Pool> {
        let component = load_component(&engine, composed)?;
        let linker = linker(&engine)?;
        let handler = component
            .get_export_index(None, HANDLER_EXPORT)
            .and_then(|i| component.get_export_index(Some(&i), "handle"))
            .filter(|_| !cfg.edge_wasi_http);
        let pre = wt(linker.instantiate_pre(&component))
            .context("the composed pipeline imports something this host does not provide")?;
        let pre = wt(ProxyPre::new(pre))
            .context("the composed pipeline does not export wasi:http/incoming-handler")?;
        Ok(Pool {
            pre,
            handler,
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
            blobs: Some(Arc::new(
                crate::blob_store::Store::open(cfg.storage_s3.as_ref(), &cfg.storage_dir)
                    .map_err(anyhow::Error::msg)?,
            )),
            mailer: Arc::new(crate::mail::Mailer::from_config(cfg).map_err(anyhow::Error::msg)?),
            caps: Arc::new(super::caps::Capabilities::new(cfg)),
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
        })
    }

    pub(super) fn engine(&self) -> &Engine {
        self.pre.engine()
    }

    /// What outlives a reload: the database, the schema cache, the upstreams.
    pub(super) fn shared(&self) -> (Option<Database>, Option<Arc<SchemaCache>>, Upstreams) {
        (
            self.db.clone(),
            self.schema.clone(),
            self.upstreams.clone(),
        )
    }

    /// Whether the gateway takes requests as records (`supalite:api/handler`).
    pub(super) fn has_handler(&self) -> bool {
        self.handler.is_some()
    }

    /// Instantiates the pipeline once (what fails at instantiation fails
    /// here, not on a request) and keeps the instance for the first request.
    pub(super) async fn warm_up(&self) -> Result<()> {
        let warm = self.instance().await?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(warm);
        Ok(())
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
                requester: Default::default(),
                schema: self.schema.clone(),
                hooks: self.hooks.clone(),
                upstreams: self.upstreams.clone(),
                sql_roles: self.sql_roles.clone(),
                caps: self.caps.clone(),
                blobs: self.blobs.clone(),
                mailer: self.mailer.clone(),
                preopened,
            },
        );
        store.limiter(|s| &mut s.memory);
        store
    }

    /// An idle instance, or a new one; its clocks started.
    pub(super) async fn instance(&self) -> Result<Warm> {
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

    /// Arms the request's deadline: wall-clock epochs for the whole
    /// request, and, when roles have deadlines of their own, a check on
    /// every tick that charges it to the role running (`role_tick`).
    fn start_clock(&self, store: &mut Store<State>) {
        if self.role_ticks.is_empty() {
            store.set_epoch_deadline(ticks(self.deadline.as_millis() as u64));
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
    /// instance that trapped is never released, so never used again),
    /// unless its memories grew large (dropping it returns that memory) or
    /// it served `instance-reuse` requests.
    pub(super) fn release(&self, mut warm: Warm) {
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
}
