//! What a granted `wasi:sockets` or `wasi:filesystem` reaches, per role.
//!
//! The composed pipeline is one component with one set of WASI imports, so
//! the host tells the roles apart by the code calling: every core module of
//! a role is named after it when the config gives any role a capability
//! (see `compose::capped`), and a TCP connect or a request for the
//! preopened directories captures the wasm backtrace and takes the
//! innermost role's name. A role gets the addresses of its own `[outbound]`
//! list and the directories of its own `[directories]` table (read-only);
//! everything else is refused and logged, naming the role.

use super::state::State;
use crate::config::{Config, Outbound};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{Linker, Resource};
use wasmtime::AsContext;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpSocketAddress, Network};
use wasmtime_wasi::p2::TcpSocket;

/// The WASI packages' version the linker provides.
const WASI: &str = "0.2.12";

/// The capabilities the config grants, per role.
#[derive(Default)]
pub(super) struct Capabilities {
    /// The roles' modules are named (`Config::roles_told_apart`); without
    /// it no call is attributed (and no backtrace taken).
    told_apart: bool,
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

    fn allows(&self, role: Option<&str>, addr: &std::net::SocketAddr) -> bool {
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

fn who(role: &Option<String>) -> String {
    role.as_deref()
        .map_or("a component".into(), |r| format!("the {r} component"))
}

/// The calling role, when the store's roles are told apart.
fn caller(store: &wasmtime::StoreContextMut<'_, State>) -> Option<String> {
    if store.data().caps.told_apart {
        calling_role(store)
    } else {
        None
    }
}

/// Replaces WASI's TCP connect and preopened directories with the per-role
/// checks above.
pub(super) fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;
    use wasmtime_wasi::p2::bindings::sockets::tcp::HostTcpSocket as _;
    linker.allow_shadowing(true);
    linker
        .instance(&format!("wasi:sockets/tcp@{WASI}"))?
        .func_wrap(
            "[method]tcp-socket.start-connect",
            |mut store,
             (socket, network, remote): (
                Resource<TcpSocket>,
                Resource<Network>,
                IpSocketAddress,
            )| {
                let role = caller(&store);
                let addr: std::net::SocketAddr = remote.into();
                let state: &mut State = store.data_mut();
                if !state.caps.allows(role.as_deref(), &addr) {
                    tracing::warn!(
                        %addr,
                        "{} asked for network access: refused (not in its [outbound] list)",
                        who(&role)
                    );
                    return Ok((Err(ErrorCode::AccessDenied),));
                }
                let mut view = wasmtime_wasi::sockets::WasiSocketsCtxView {
                    ctx: state.wasi.sockets(),
                    table: &mut state.table,
                };
                match view.start_connect(socket, network, remote) {
                    Ok(()) => Ok((Ok(()),)),
                    Err(e) => Ok((Err(e.downcast()?),)),
                }
            },
        )?;
    linker
        .instance(&format!("wasi:http/outgoing-handler@{WASI}"))?
        .func_wrap(
            "handle",
            |mut store,
             (request, options): (
                Resource<wasmtime_wasi_http::p2::types::HostOutgoingRequest>,
                Option<Resource<wasmtime_wasi_http::RequestOptions>>,
            )| {
                use wasmtime_wasi_http::p2::bindings::http::outgoing_handler::Host as _;
                use wasmtime_wasi_http::WasiHttpView as _;
                let role = caller(&store);
                let state: &mut State = store.data_mut();
                // The hooks check the caller's list when the request is sent.
                state.hooks.caller = role;
                let sent = state.http().handle(request, options);
                state.hooks.caller = None;
                match sent {
                    Ok(future) => Ok((Ok(future),)),
                    Err(e) => Ok((Err(e.downcast()?),)),
                }
            },
        )?;
    linker
        .instance(&format!("wasi:filesystem/preopens@{WASI}"))?
        .func_wrap("get-directories", |mut store, (): ()| {
            let role = caller(&store);
            let state: &mut State = store.data_mut();
            let roles = std::mem::take(&mut state.preopened);
            let mut view = wasmtime_wasi::filesystem::WasiFilesystemCtxView {
                ctx: state.wasi.filesystem(),
                table: &mut state.table,
            };
            let all = view.get_directories()?;
            let mut own = Vec::new();
            for (i, (descriptor, guest)) in all.into_iter().enumerate() {
                match roles.get(i) {
                    Some(r) if Some(r) == role.as_ref() => own.push((descriptor, guest)),
                    _ => {
                        state.table.delete(descriptor)?;
                    }
                }
            }
            state.preopened = roles;
            if own.is_empty() {
                tracing::warn!(
                    "{} asked for the host's directories: refused (none are granted to it)",
                    who(&role)
                );
            }
            Ok((own,))
        })?;
    linker.allow_shadowing(false);
    Ok(())
}
