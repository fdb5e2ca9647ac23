//! What each store holds: WASI and HTTP contexts, the memory budget, and
//! the handles the host imports need.

use super::upstream::{UpstreamOnly, Upstreams};
use crate::db::Database;
use crate::schema_cache::SchemaCache;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Memory an instance's linear memories may take together; growth past it
/// fails inside the guest (an allocation error ends that request only).
pub(super) const STORE_MEMORY_LIMIT: usize = 1 << 30;

/// An instance whose memories grew past this while serving a request is not
/// reused: dropping it gives the memory back (the pooling allocator keeps
/// only `*_KEEP_RESIDENT` bytes of a slot), so one large body does not stay
/// resident in every reused instance.
pub(super) const REUSE_MEMORY_LIMIT: usize = 16 << 20;

/// Counts what the store's memories take, and refuses growth past the
/// limits: one memory (each role's component has its own) and all of them.
pub(super) struct MemoryBudget {
    pub(super) bytes: usize,
    pub(super) per_memory: usize,
}

impl wasmtime::ResourceLimiter for MemoryBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The memory's own declared maximum: `[role-memory-mb]` writes it.
        if let Some(max) = maximum.filter(|max| desired > *max) {
            tracing::warn!(
                bytes = desired,
                limit = max,
                "a component tried to grow its memory past its declared maximum (role-memory-mb)"
            );
            return Ok(false);
        }
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

/// `[role-deadline-ms]` for one request: the wasm time each role's code has
/// run so far, sampled on the engine's epoch ticks (each tick on which a
/// role's code is the innermost one running is charged to it: CPU time, not
/// time spent waiting on the database).
pub(super) struct RoleClock {
    /// Per role, the most ticks it may be charged.
    pub(super) limits: Arc<std::collections::BTreeMap<String, u64>>,
    pub(super) used: std::collections::BTreeMap<String, u64>,
    /// The request's own deadline (the epoch deadline is one tick away on
    /// every check, so the clock checks the request's deadline itself).
    pub(super) ends: std::time::Instant,
}

/// A role's code ran past its `[role-deadline-ms]`: the request ends (504).
#[derive(Debug)]
pub struct RoleDeadline {
    pub role: String,
    pub ms: u64,
}

impl std::fmt::Display for RoleDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} component ran past its role deadline ({} ms)",
            self.role, self.ms
        )
    }
}

impl std::error::Error for RoleDeadline {}

/// Per-request store data.
pub struct State {
    pub(super) memory: MemoryBudget,
    /// Set when roles have deadlines of their own.
    pub(super) clock: Option<RoleClock>,
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) hooks: UpstreamOnly,
    pub(super) table: ResourceTable,
    pub(super) db: Option<Database>,
    /// The request being served: its client and how long it may wait for
    /// PGlite's session (set per request, the store may serve several).
    pub(super) requester: crate::db::Requester,
    pub(super) schema: Option<Arc<SchemaCache>>,
    pub(super) upstreams: Upstreams,
    /// The roles `sql` may switch to: the anonymous role and the roles a
    /// token may carry (`None`: `jwt-allowed-roles` is empty, any role).
    pub(super) sql_roles: Option<Arc<Vec<String>>>,
    /// What the roles' granted sockets and filesystem reach.
    pub(super) caps: Arc<super::caps::Capabilities>,
    /// The storage role's blob store (`storage-backend = "fs"`).
    pub(super) blobs: Option<Arc<crate::blob_store::Store>>,
    /// The auth role's e-mail (SMTP or the mail catcher).
    pub(super) mailer: Arc<crate::mail::Mailer>,
    /// The role of each directory preopened in `wasi`, in order.
    pub(super) preopened: Vec<String>,
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
