//! What the config grants each role: the addresses of its `[outbound]`
//! list and the directories of its `[directories]` table, and which role's
//! code is calling (see `grants`, which checks them on each call).

use crate::config::{Config, Outbound};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::AsContext;

/// The capabilities the config grants, per role.
#[derive(Default)]
pub(super) struct Capabilities {
    /// The roles' modules are named (`Config::roles_told_apart`); without
    /// it no call is attributed (and no backtrace taken).
    pub(super) told_apart: bool,
    outbound: BTreeMap<String, Vec<Outbound>>,
    /// Every role's addresses together, for the socket check of each store.
    granted: Arc<Vec<Outbound>>,
    /// (role, guest path, host directory), in the order they are preopened.
    directories: Vec<(String, String, PathBuf)>,
}

impl Capabilities {
    pub(super) fn new(cfg: &Config) -> Capabilities {
        Capabilities {
            told_apart: cfg.roles_told_apart(),
            outbound: cfg.outbound.clone(),
            granted: Arc::new(cfg.outbound.values().flatten().cloned().collect()),
            directories: cfg
                .directories
                .iter()
                .flat_map(|(role, dirs)| {
                    dirs.iter()
                        .map(move |(guest, host)| (role.clone(), guest.clone(), host.clone()))
                })
                .collect(),
        }
    }

    /// The store's WASI context: every granted directory preopened (each
    /// role is handed only its own, see [`add_to_linker`]), TCP connects
    /// only to a granted address, no bind or listen, no UDP, no name lookup.
    /// Answers the role of each directory preopened, in order.
    pub(super) fn configure(&self, wasi: &mut wasmtime_wasi::WasiCtxBuilder) -> Vec<String> {
        let mut preopened = Vec::new();
        for (role, guest, host) in &self.directories {
            match wasi.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadOnly) {
                Ok(_) => preopened.push(role.clone()),
                Err(e) => {
                    tracing::warn!(role, dir = %host.display(), "cannot open a granted directory: {e}")
                }
            }
        }
        let granted = self.granted.clone();
        wasi.allow_tcp(true).socket_addr_check(move |addr, reason| {
            use wasmtime_wasi::sockets::SocketAddrUse;
            // A connect was checked per role before it gets here
            // (`start_connect`); its implicit bind is to any local address,
            // any port. Nothing may listen.
            let ok = match reason {
                SocketAddrUse::TcpConnect => granted.iter().any(|g| g.allows(&addr)),
                SocketAddrUse::TcpBind => {
                    !granted.is_empty() && addr.ip().is_unspecified() && addr.port() == 0
                }
                _ => false,
            };
            if !ok {
                tracing::warn!(%addr, ?reason, "a component asked for network access: refused");
            }
            Box::pin(async move { ok })
        });
        preopened
    }

    pub(super) fn allows(&self, role: Option<&str>, addr: &std::net::SocketAddr) -> bool {
        role.and_then(|r| self.outbound.get(r))
            .is_some_and(|list| list.iter().any(|o| o.allows(addr)))
    }
}

/// The role whose code is innermost on the wasm stack (its core modules
/// carry its name), if the modules are named.
pub(super) fn calling_role(ctx: impl AsContext) -> Option<String> {
    wasmtime::WasmBacktrace::capture(ctx)
        .frames()
        .iter()
        .find_map(|f| {
            f.module()
                .name()?
                .strip_prefix(crate::compose::ROLE_MODULE_PREFIX)
                .map(str::to_string)
        })
}
