//! What a granted `wasi:sockets` or `wasi:filesystem` reaches, per role.
//!
//! The composed pipeline is one component with one set of WASI imports, so
//! the host tells the roles apart by the code calling: every core module of
//! a role is named after it when the config gives any role a capability
//! (see `compose::capped`), and a TCP connect or a request for the
//! preopened directories captures the wasm backtrace and takes the
//! innermost role's name. A role gets the addresses of its own `[outbound]`
//! list and the directories of its own `[directories]` table (read-only);
//! everything else is refused and logged, naming the role. What each role
//! is granted is `caps`; here, the linker functions that check it.

use super::caps::calling_role;
use super::state::State;
use anyhow::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpSocketAddress, Network};
use wasmtime_wasi::p2::TcpSocket;

/// The WASI packages' version the linker provides.
const WASI: &str = "0.2.12";

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
