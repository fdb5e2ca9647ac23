//! Static composition of the role components into one pipeline component
//! (wac-graph, the library behind `wac plug`): the gateway's imports
//! (`rewriter`, `auth`, `backend`) are satisfied by the role components'
//! exports; what they import in turn (WASI, `sql`) stays an import of the
//! result. The output is an ordinary component that any wasi:http host can
//! serve once its remaining imports are provided.

use crate::config::{Backend, ComponentPaths, Config};
use anyhow::{Context, Result};
use std::path::Path;
use wac_graph::{types::Package, CompositionGraph, EncodeOptions};

/// The components built into the binary (see build.rs).
pub mod builtin {
    pub const GATEWAY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gateway.wasm"));
    pub const REWRITER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rewriter.wasm"));
    pub const AUTH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/auth.wasm"));
    pub const BRIDGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridge.wasm"));
    pub const ADAPTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/adapter.wasm"));
    pub const PGWIRE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pgwire.wasm"));
    pub const STANDALONE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/standalone.wasm"));
}

/// Who provides `sql` (and the other non-WASI imports) to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlProvider {
    /// The supalite host (embedded PGlite or its PostgreSQL pool).
    Native,
    /// Composed in: the `pgwire` component (PostgreSQL wire protocol over
    /// wasi:sockets) plus the `standalone` component; the result imports
    /// only WASI and runs on stock `wasmtime serve`.
    Pgwire,
}

/// One role's component bytes and where they came from.
struct Role {
    name: &'static str,
    origin: String,
    bytes: Vec<u8>,
}

fn role(name: &'static str, path: &Option<std::path::PathBuf>, builtin: &[u8]) -> Result<Role> {
    match path {
        Some(p) => {
            let bytes = std::fs::read(p)
                .with_context(|| format!("cannot read the {name} component {}", p.display()))?;
            Ok(Role {
                name,
                origin: p.display().to_string(),
                bytes,
            })
        }
        None => Ok(Role {
            name,
            origin: "built-in".into(),
            bytes: builtin.to_vec(),
        }),
    }
}

/// SQL as the connection's own role: only the auth role may import it.
const ADMIN_SQL: &str = "supalite:api/admin-sql";

/// Refuses a component that imports what its role may not have.
fn check_imports(r: &Role) -> Result<()> {
    if r.name == "auth" {
        return Ok(());
    }
    let mut types = wac_types::Types::default();
    let pkg = Package::from_bytes(
        &format!("supalite:{}", r.name),
        None,
        r.bytes.clone(),
        &mut types,
    )
    .with_context(|| {
        format!(
            "the {} component ({}) is not a valid WebAssembly component",
            r.name, r.origin
        )
    })?;
    if let Some(name) = types[pkg.ty()]
        .imports
        .keys()
        .find(|k| k.starts_with(ADMIN_SQL))
    {
        anyhow::bail!(
            "the {} component ({}) imports {name}: only the auth role may run SQL as the database connection's own role",
            r.name,
            r.origin
        );
    }
    Ok(())
}

/// Composes the pipeline selected by `cfg` (bridge or adapter backend).
pub fn compose(cfg: &Config) -> Result<Vec<u8>> {
    let c: &ComponentPaths = &cfg.components;
    let gateway = role("gateway", &c.gateway, builtin::GATEWAY)?;
    let rewriter = role("rewriter", &c.rewriter, builtin::REWRITER)?;
    let auth = role("auth", &c.auth, builtin::AUTH)?;
    for r in [&gateway, &rewriter] {
        check_imports(r)?;
    }
    let backend = match cfg.backend {
        Backend::Bridge => {
            let bridge = role("bridge", &c.bridge, builtin::BRIDGE)?;
            check_imports(&bridge)?;
            bridge
        }
        Backend::Adapter if cfg.upstream_fallback => {
            // The adapter's own `backend` import is its fallback: the bridge.
            let adapter = role("adapter", &c.adapter, builtin::ADAPTER)?;
            let bridge = role("bridge", &c.bridge, builtin::BRIDGE)?;
            check_imports(&adapter)?;
            check_imports(&bridge)?;
            let origin = format!("{} + fallback {}", adapter.origin, bridge.origin);
            Role {
                name: "adapter",
                origin,
                bytes: plug(adapter, vec![bridge])?,
            }
        }
        // Without a fallback the adapter's `backend` import stays open; the
        // host answers it with 503 (see server.rs).
        Backend::Adapter => {
            let adapter = role("adapter", &c.adapter, builtin::ADAPTER)?;
            check_imports(&adapter)?;
            adapter
        }
    };
    plug(gateway, vec![rewriter, auth, backend])
}

fn plug(socket: Role, plugs: Vec<Role>) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let mut register = |r: Role| -> Result<_> {
        let what = format!("the {} component ({})", r.name, r.origin);
        let pkg = Package::from_bytes(
            &format!("supalite:{}", r.name),
            None,
            r.bytes,
            graph.types_mut(),
        )
        .with_context(|| format!("{what} is not a valid WebAssembly component"))?;
        graph
            .register_package(pkg)
            .with_context(|| format!("cannot register {what}"))
    };
    let socket_id = register(socket)?;
    let plug_ids = plugs
        .into_iter()
        .map(&mut register)
        .collect::<Result<Vec<_>>>()?;
    wac_graph::plug(&mut graph, plug_ids, socket_id).context(
        "composing the pipeline failed: a component does not export what its socket imports",
    )?;
    let bytes = graph
        .encode(EncodeOptions::default())
        .context("encoding the composed pipeline")?;
    Ok(bytes)
}

/// The pipeline with `sql` from `provider`.
pub fn compose_with(cfg: &Config, provider: SqlProvider) -> Result<Vec<u8>> {
    let pipeline = compose(cfg)?;
    match provider {
        SqlProvider::Native => Ok(pipeline),
        SqlProvider::Pgwire => {
            let c = &cfg.components;
            let pipeline = Role {
                name: "pipeline",
                origin: "composed".into(),
                bytes: pipeline,
            };
            plug(
                pipeline,
                vec![
                    role("pgwire", &c.pgwire, builtin::PGWIRE)?,
                    role("standalone", &c.standalone, builtin::STANDALONE)?,
                ],
            )
        }
    }
}

/// Writes the composed pipeline to `out` (`supalite compose -o`).
pub fn write(cfg: &Config, out: &Path, provider: SqlProvider) -> Result<()> {
    let bytes = compose_with(cfg, provider)?;
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
