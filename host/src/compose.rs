//! Static composition of the role components into one pipeline component
//! (wac-graph, the library behind `wac plug`): the gateway's imports
//! (`rewriter`, `auth`, `backend`) are satisfied by the role components'
//! exports; what they import in turn (WASI, `sql`) stays an import of the
//! result. The output is an ordinary component that any wasi:http host can
//! serve once its remaining imports are provided.

use crate::config::{Backend, ComponentPaths, Config};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use wac_graph::{
    types::{are_semver_compatible, Package, SubtypeChecker},
    CompositionGraph, EncodeOptions,
};

/// The components built into the binary (see build.rs).
pub mod builtin {
    pub const GATEWAY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gateway.wasm"));
    pub const REWRITER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rewriter.wasm"));
    pub const VERIFIER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/verifier.wasm"));
    pub const AUTH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/auth.wasm"));
    pub const BRIDGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bridge.wasm"));
    pub const ADAPTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/adapter.wasm"));
    pub const PGWIRE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pgwire.wasm"));
    pub const STANDALONE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/standalone.wasm"));
    pub const ROLE_ENV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/role_env.wasm"));
    pub const STORAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/storage.wasm"));
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
    /// Whose environment it gets; `None` for a composition of roles (each
    /// of its parts already has its own).
    env: Option<contract::Role>,
}

/// The import through which a component reads its environment.
const ENVIRONMENT: &str = "wasi:cli/environment@";
/// A role's settings (`wasi:config/store`, by keys such as
/// `db_max_rows`), from `role-env`'s `<role>-store`.
const STORE: &str = "wasi:config/store@";
/// The deprecated interface for the same (`supalite:api/config`, by
/// environment names), still answered by `role-env`'s `<role>-config` for
/// components built against the old worlds.
const CONFIG: &str = "supalite:api/config@";

/// What to say of a `role` component that imports the deprecated
/// `supalite:api/config`: what to import instead, and its keys.
pub fn config_deprecation(role: contract::Role) -> String {
    let mut keys: Vec<String> = contract::SETTINGS
        .iter()
        .filter(|s| s.roles.contains(&role))
        .map(|s| contract::settings::config_key(s.env))
        .take(3)
        .collect();
    keys.push(format!(
        "… and {}_… for its own",
        contract::settings::config_key(role.own_prefix().trim_end_matches('_'))
    ));
    format!(
        "the {} component imports supalite:api/config, which is deprecated: import wasi:config/store@0.2.0-rc.1 \
         (keys: {}; a setting's key is its environment name without SUPALITE_, in lower case: \
         SUPALITE_DB_MAX_ROWS is db_max_rows)",
        role.name(),
        keys.join(", ")
    )
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
                env: contract::Role::from_name(name),
            })
        }
        None => Ok(Role {
            name,
            origin: "built-in".into(),
            bytes: builtin.to_vec(),
            env: contract::Role::from_name(name),
        }),
    }
}

/// The core-module name prefix that tells the host which role's code is
/// running (`supalite-role:bridge`), for `[role-deadline-ms]`.
pub const ROLE_MODULE_PREFIX: &str = "supalite-role:";

/// `r` as its role's limits need it: its memories capped as
/// `[role-memory-mb]` says, and, when any role has a `[role-deadline-ms]`,
/// `[outbound]` or `[directories]`, its core modules named after its role (a name of its own is replaced, so
/// no component can pass for another role).
fn capped(cfg: &Config, mut r: Role) -> Result<Role> {
    let cap = cfg.role_memory_mb.get(r.name).copied();
    let name = cfg
        .roles_told_apart()
        .then(|| format!("{ROLE_MODULE_PREFIX}{}", r.name));
    if cap.is_some() || name.is_some() {
        r.bytes = rewrite(&r.bytes, cap, name)
            .with_context(|| format!("the {} component ({})", r.name, r.origin))?;
    }
    Ok(r)
}

/// Re-encodes a component with every memory capped at `cap` MiB (declared
/// as the memory's maximum, so any host refuses the growth past it —
/// supalite's, which logs it, `wasmtime serve`, jco; a memory declared
/// smaller keeps its own maximum) and every core module named `name`
/// (other names — functions, locals — are kept).
fn rewrite(bytes: &[u8], cap: Option<u64>, name: Option<String>) -> Result<Vec<u8>> {
    use wasm_encoder::reencode::{utils, Error, Reencode, ReencodeComponent};
    struct Rewrite {
        cap: Option<u64>,
        name: Option<String>,
        named: bool,
    }
    impl Reencode for Rewrite {
        type Error = std::convert::Infallible;
        fn memory_type(
            &mut self,
            ty: wasmparser::MemoryType,
        ) -> Result<wasm_encoder::MemoryType, Error<Self::Error>> {
            let mut ty = utils::memory_type(self, ty);
            if let Some(mb) = self.cap {
                let page = 1u64 << ty.page_size_log2.unwrap_or(16);
                let cap = (mb << 20) / page;
                // Never below what the module asks for at start.
                ty.maximum = Some(ty.maximum.map_or(cap, |m| m.min(cap)).max(ty.minimum));
            }
            Ok(ty)
        }
        fn custom_name_section(
            &mut self,
            section: wasmparser::NameSectionReader<'_>,
        ) -> Result<wasm_encoder::NameSection, Error<Self::Error>> {
            let Some(name) = self.name.clone() else {
                return utils::custom_name_section(self, section);
            };
            self.named = true;
            let mut names = wasm_encoder::NameSection::new();
            names.module(&name);
            for sub in section {
                match sub? {
                    wasmparser::Name::Module { .. } => {}
                    other => self.parse_custom_name_subsection(&mut names, other)?,
                }
            }
            Ok(names)
        }
    }
    impl ReencodeComponent for Rewrite {
        fn parse_component_submodule(
            &mut self,
            component: &mut wasm_encoder::Component,
            parser: wasmparser::Parser,
            module_bytes: &[u8],
        ) -> Result<(), Error<Self::Error>> {
            let mut module = wasm_encoder::Module::new();
            self.named = false;
            utils::parse_core_module(self, &mut module, parser, module_bytes)?;
            if let (Some(name), false) = (&self.name, self.named) {
                let mut names = wasm_encoder::NameSection::new();
                names.module(name);
                module.section(&names);
            }
            component.section(&wasm_encoder::ModuleSection(&module));
            Ok(())
        }
    }
    let mut out = wasm_encoder::Component::new();
    Rewrite {
        cap,
        name,
        named: false,
    }
    .parse_component(&mut out, wasmparser::Parser::new(0), bytes)
    .map_err(|e| anyhow::anyhow!("cannot rewrite the component's memory limits or names: {e:?}"))?;
    Ok(out.finish())
}

/// SQL as the connection's own role: only the auth role may import it.
const ADMIN_SQL: &str = "supalite:api/admin-sql";

/// What every role may import: the WASI interfaces any program uses (its
/// environment is its own, see `role-env`), the shared types, and
/// `wasi:http/types` (types only; sending needs `outgoing-handler`).
const EVERY_ROLE: [&str; 8] = [
    "wasi:cli",
    "wasi:io",
    "wasi:clocks",
    "wasi:random",
    "wasi:http/types",
    "wasi:config/store",
    "supalite:api/types",
    "supalite:api/config",
];

/// What a role's world imports besides [`EVERY_ROLE`].
fn world_imports(role: &str) -> &'static [&'static str] {
    match role {
        "gateway" => &[
            "supalite:api/rewriter",
            "supalite:api/verifier",
            "supalite:api/auth",
            "supalite:api/backend",
            "supalite:api/storage",
        ],
        "auth" => &[ADMIN_SQL, "supalite:api/sql-types", "supalite:api/mailer"],
        "bridge" => &[
            "supalite:api/sql",
            "supalite:api/sql-types",
            "supalite:api/schema",
        ],
        "adapter" => &[
            "wasi:http/outgoing-handler",
            "supalite:api/upstream",
            "supalite:api/backend",
        ],
        "storage" => &[
            "supalite:api/sql",
            "supalite:api/sql-types",
            "supalite:api/blob-store",
        ],
        // The wire protocol needs TCP (and std's file API links in).
        "pgwire" => &["wasi:sockets", "wasi:filesystem"],
        _ => &[],
    }
}

/// `import` (`ns:pkg/iface@version`) is `pattern` (`ns:pkg` or
/// `ns:pkg/iface`) or inside it.
fn covers(pattern: &str, import: &str) -> bool {
    let name = import.split('@').next().unwrap_or(import);
    name == pattern || name.starts_with(&format!("{pattern}/"))
}

/// The imports of a component, by name.
fn imports_of(r: &Role) -> Result<Vec<String>> {
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
    Ok(types[pkg.ty()].imports.keys().cloned().collect())
}

/// Whether the `role` may import `import`, and why (`Err`: why not, with
/// the remedy): deny by default.
fn verdict(
    role: &str,
    import: &str,
    grants: &BTreeMap<String, Vec<String>>,
) -> std::result::Result<&'static str, String> {
    let granted = grants.get(role).map(Vec::as_slice).unwrap_or_default();
    if covers("supalite:api/config", import) {
        Ok("every role; deprecated: import wasi:config/store@0.2.0-rc.1 instead, by keys such as db_max_rows")
    } else if EVERY_ROLE.iter().any(|p| covers(p, import)) {
        Ok("every role")
    } else if world_imports(role).iter().any(|p| covers(p, import)) {
        Ok("the role's world")
    } else if covers(ADMIN_SQL, import) {
        Err("only the auth role may run SQL as the database connection's own role".into())
    } else if granted.iter().any(|g| covers(g, import)) {
        Ok("granted in [grants]")
    } else {
        // WASI by package (`wasi:sockets`), anything else by interface.
        let name = import.split('@').next().unwrap_or_default();
        let grant = match name.split_once('/') {
            Some((package, _)) if package.starts_with("wasi:") => package,
            _ => name,
        };
        Err(format!(
            "not granted to the {role} role (grant it in supalite.toml: [grants] {role} = [\"{grant}\"])"
        ))
    }
}

/// The imports of `r` its role may not have.
fn refused_imports(r: &Role, grants: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>> {
    Ok(imports_of(r)?
        .into_iter()
        .filter(|i| verdict(r.name, i, grants).is_err())
        .collect())
}

/// Refuses a component that imports what its role may not have.
fn check_imports(r: &Role, grants: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let refused = refused_imports(r, grants)?;
    let Some(first) = refused.first() else {
        return Ok(());
    };
    tracing::error!(role = r.name, component = %r.origin, imports = ?refused, "component refused");
    let why = verdict(r.name, first, grants).err().unwrap_or_default();
    anyhow::bail!(
        "the {} component ({}) imports {}: {why}",
        r.name,
        r.origin,
        refused.join(", "),
    )
}

/// The component built into the binary for `role`.
pub fn builtin_of(role: contract::Role) -> &'static [u8] {
    use contract::Role::*;
    match role {
        Gateway => builtin::GATEWAY,
        Rewriter => builtin::REWRITER,
        Verifier => builtin::VERIFIER,
        Auth => builtin::AUTH,
        Bridge => builtin::BRIDGE,
        Adapter => builtin::ADAPTER,
        Pgwire => builtin::PGWIRE,
        Standalone => builtin::STANDALONE,
        Storage => builtin::STORAGE,
    }
}

/// How a file measures up to a role (`supalite check`).
pub struct Inspection {
    /// The role's exports: name, and what is wrong with the file's (`None`: fine).
    pub exports: Vec<(String, Option<String>)>,
    /// The file's imports: name, and why it may have it (`Err`: refused, with the remedy).
    pub imports: Vec<(String, std::result::Result<&'static str, String>)>,
}

impl Inspection {
    pub fn ok(&self) -> bool {
        self.exports.iter().all(|(_, e)| e.is_none()) && self.imports.iter().all(|(_, v)| v.is_ok())
    }
}

/// Compares the component in `bytes` with the built-in component of `role`,
/// which implements the role's world exactly: every export of the built-in
/// must be there (by a semver-compatible name) with a compatible type, and
/// every import must be one the role may have.
pub fn inspect(
    role: contract::Role,
    bytes: Vec<u8>,
    grants: &BTreeMap<String, Vec<String>>,
) -> Result<Inspection> {
    let mut types = wac_types::Types::default();
    let file = Package::from_bytes("supalite:candidate", None, bytes, &mut types)
        .context("the file is not a valid WebAssembly component")?;
    let reference = Package::from_bytes(
        "supalite:reference",
        None,
        builtin_of(role).to_vec(),
        &mut types,
    )?;
    let mut cache = Default::default();
    let mut checker = SubtypeChecker::new(&mut cache);
    let theirs = &types[file.ty()].exports;
    let mut exports = Vec::new();
    for (name, want) in &types[reference.ty()].exports {
        // The gateway's whole-request export is optional: without it the
        // host calls wasi:http/incoming-handler.
        let optional = role == contract::Role::Gateway && name.starts_with("supalite:api/handler@");
        let found = theirs
            .get_key_value(name)
            .or_else(|| theirs.iter().find(|(n, _)| are_semver_compatible(name, n)));
        let problem = match found {
            None if optional => None,
            None => Some("missing".to_string()),
            Some((_, got)) => checker
                .is_subtype(*got, &types, *want, &types)
                .err()
                .map(|e| format!("a different type: {e:#}")),
        };
        exports.push((name.clone(), problem));
    }
    let imports = types[file.ty()]
        .imports
        .keys()
        .map(|i| (i.clone(), verdict(role.name(), i, grants)))
        .collect();
    Ok(Inspection { exports, imports })
}

/// Composes the pipeline selected by `cfg` (bridge or adapter backend).
pub fn compose(cfg: &Config) -> Result<Vec<u8>> {
    let c: &ComponentPaths = &cfg.components;
    let role = |name, path, builtin| capped(cfg, role(name, path, builtin)?);
    let gateway = role("gateway", &c.gateway, builtin::GATEWAY)?;
    let rewriter = role("rewriter", &c.rewriter, builtin::REWRITER)?;
    let verifier = role("verifier", &c.verifier, builtin::VERIFIER)?;
    let auth = role("auth", &c.auth, builtin::AUTH)?;
    let storage = role("storage", &c.storage, builtin::STORAGE)?;
    for r in [&gateway, &rewriter, &verifier, &auth, &storage] {
        check_imports(r, &cfg.grants)?;
    }
    let backend = match cfg.backend {
        Backend::Bridge => {
            let bridge = role("bridge", &c.bridge, builtin::BRIDGE)?;
            check_imports(&bridge, &cfg.grants)?;
            bridge
        }
        Backend::Adapter if cfg.upstream_fallback => {
            // The adapter's own `backend` import is its fallback: the bridge.
            let adapter = role("adapter", &c.adapter, builtin::ADAPTER)?;
            let bridge = role("bridge", &c.bridge, builtin::BRIDGE)?;
            check_imports(&adapter, &cfg.grants)?;
            check_imports(&bridge, &cfg.grants)?;
            let origin = format!("{} + fallback {}", adapter.origin, bridge.origin);
            Role {
                name: "adapter",
                env: None,
                origin,
                bytes: plug(adapter, vec![bridge])?,
            }
        }
        // Without a fallback the adapter's `backend` import stays open; the
        // host answers it with 503 (see server.rs).
        Backend::Adapter => {
            let adapter = role("adapter", &c.adapter, builtin::ADAPTER)?;
            check_imports(&adapter, &cfg.grants)?;
            adapter
        }
    };
    plug(gateway, vec![rewriter, verifier, auth, backend, storage])
}

/// Plugs the exports of `plugs` into the imports of `socket` (as `wac
/// plug` does, semver-compatible names included) and gives every role its
/// own environment: each role component's `wasi:cli/environment` import is
/// satisfied by the matching export of one `role-env` instance, which alone
/// imports the host's environment, and so is its `wasi:config/store` import
/// (`<role>-store`; `<role>-config` for the deprecated `supalite:api/config`).
fn plug(socket: Role, plugs: Vec<Role>) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let register = |graph: &mut CompositionGraph, name: &str, origin: &str, bytes: Vec<u8>| {
        let what = format!("the {name} component ({origin})");
        let pkg = Package::from_bytes(&format!("supalite:{name}"), None, bytes, graph.types_mut())
            .with_context(|| format!("{what} is not a valid WebAssembly component"))?;
        graph
            .register_package(pkg)
            .with_context(|| format!("cannot register {what}"))
    };
    let env_pkg = register(
        &mut graph,
        "role-env",
        "built-in",
        builtin::ROLE_ENV.to_vec(),
    )?;
    let mut env_instance = None;
    // An instance of `pkg`, its environment import plugged into its role's.
    let mut instantiate = |graph: &mut CompositionGraph, pkg, r: &Role| -> Result<_> {
        let instance = graph.instantiate(pkg);
        let Some(role) = r.env else {
            return Ok(instance);
        };
        // Its environment, and its settings through `wasi:config/store`
        // (or the deprecated `supalite:api/config`).
        let env_imports: Vec<(String, &str)> = graph.types()[graph[pkg].ty()]
            .imports
            .keys()
            .filter_map(|k| {
                if k.starts_with(ENVIRONMENT) {
                    Some((k.clone(), "env"))
                } else if k.starts_with(STORE) {
                    Some((k.clone(), "store"))
                } else if k.starts_with(CONFIG) {
                    Some((k.clone(), "config"))
                } else {
                    None
                }
            })
            .collect();
        for (import, kind) in env_imports {
            if kind == "config" {
                tracing::warn!("{} ({})", config_deprecation(role), r.origin);
            }
            let env = *env_instance.get_or_insert_with(|| graph.instantiate(env_pkg));
            let export = graph.alias_instance_export(env, &format!("{}-{kind}", role.name()))?;
            graph
                .set_instantiation_argument(instance, &import, export)
                .with_context(|| {
                    format!(
                        "the {} component ({}): its {import} import",
                        r.name, r.origin
                    )
                })?;
        }
        Ok(instance)
    };
    let socket_pkg = register(
        &mut graph,
        socket.name,
        &socket.origin,
        socket.bytes.clone(),
    )?;
    let socket_instance = instantiate(&mut graph, socket_pkg, &socket)?;
    for p in &plugs {
        let plug_pkg = register(&mut graph, p.name, &p.origin, p.bytes.clone())?;
        // Which of its exports fill which of the socket's imports.
        let mut pairs = Vec::new();
        let mut cache = Default::default();
        let mut checker = SubtypeChecker::new(&mut cache);
        let socket_imports = &graph.types()[graph[socket_pkg].ty()].imports;
        for (name, ty) in &graph.types()[graph[plug_pkg].ty()].exports {
            let matching = socket_imports.get_key_value(name).or_else(|| {
                socket_imports
                    .iter()
                    .find(|(i, _)| are_semver_compatible(name, i))
            });
            if let Some((import, import_ty)) = matching {
                if checker
                    .is_subtype(*ty, graph.types(), *import_ty, graph.types())
                    .is_ok()
                {
                    pairs.push((name.clone(), import.clone()));
                }
            }
        }
        if pairs.is_empty() {
            continue;
        }
        let instance = instantiate(&mut graph, plug_pkg, p)?;
        for (export, import) in pairs {
            let node = graph.alias_instance_export(instance, &export)?;
            graph.set_instantiation_argument(socket_instance, &import, node)?;
        }
    }
    if graph
        .get_instantiation_arguments(socket_instance)
        .all(|(name, _)| {
            [ENVIRONMENT, STORE, CONFIG]
                .iter()
                .any(|p| name.starts_with(p))
        })
    {
        anyhow::bail!(
            "composing the pipeline failed: the {} component ({}) imports nothing its plugs export",
            socket.name,
            socket.origin
        );
    }
    let exports: Vec<String> = graph.types()[graph[socket_pkg].ty()]
        .exports
        .keys()
        .cloned()
        .collect();
    for name in exports {
        let node = graph.alias_instance_export(socket_instance, &name)?;
        graph.export(node, &name)?;
    }
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
                env: None,
                origin: "composed".into(),
                bytes: pipeline,
            };
            let pgwire = capped(cfg, role("pgwire", &c.pgwire, builtin::PGWIRE)?)?;
            let standalone = capped(cfg, role("standalone", &c.standalone, builtin::STANDALONE)?)?;
            check_imports(&pgwire, &cfg.grants)?;
            check_imports(&standalone, &cfg.grants)?;
            plug(pipeline, vec![pgwire, standalone])
        }
    }
}

/// Writes the composed pipeline to `out` (`supalite compose -o`).
pub fn write(cfg: &Config, out: &Path, provider: SqlProvider) -> Result<()> {
    let bytes = compose_with(cfg, provider)?;
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin_role(name: &'static str, bytes: &[u8]) -> Role {
        Role {
            name,
            origin: "test".into(),
            bytes: bytes.to_vec(),
            env: contract::Role::from_name(name),
        }
    }

    fn grant(role: &str, what: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            role.to_string(),
            what.iter().map(|s| s.to_string()).collect(),
        )])
    }

    #[test]
    fn built_in_roles_need_no_grant() {
        for (name, bytes) in [
            ("gateway", builtin::GATEWAY),
            ("rewriter", builtin::REWRITER),
            ("verifier", builtin::VERIFIER),
            ("auth", builtin::AUTH),
            ("bridge", builtin::BRIDGE),
            ("adapter", builtin::ADAPTER),
            ("pgwire", builtin::PGWIRE),
            ("standalone", builtin::STANDALONE),
        ] {
            let r = builtin_role(name, bytes);
            assert_eq!(
                refused_imports(&r, &BTreeMap::new()).unwrap(),
                Vec::<String>::new(),
                "{name}"
            );
        }
    }

    #[test]
    fn imports_beyond_the_world_are_refused_unless_granted() {
        // The adapter's bytes offered as a rewriter: outgoing HTTP, upstream
        // and backend are not a rewriter's.
        let r = builtin_role("rewriter", builtin::ADAPTER);
        let refused = refused_imports(&r, &BTreeMap::new()).unwrap();
        assert!(
            refused
                .iter()
                .any(|i| i.starts_with("wasi:http/outgoing-handler@")),
            "{refused:?}"
        );
        let e = check_imports(&r, &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains("[grants] rewriter"), "{e}");
        let granted = grant(
            "rewriter",
            &[
                "wasi:http/outgoing-handler",
                "supalite:api/upstream",
                "supalite:api/backend",
            ],
        );
        assert!(check_imports(&r, &granted).is_ok());
        // A grant for another role does not count.
        let other = grant("bridge", &["wasi:http/outgoing-handler"]);
        assert!(check_imports(&r, &other).is_err());
        // Sockets: pgwire's, not a bridge's.
        let r = builtin_role("bridge", builtin::PGWIRE);
        let refused = refused_imports(&r, &BTreeMap::new()).unwrap();
        assert!(
            refused.iter().any(|i| i.starts_with("wasi:sockets/")),
            "{refused:?}"
        );
    }

    #[test]
    fn admin_sql_is_the_auth_role_s_alone_even_when_granted() {
        let r = builtin_role("bridge", builtin::AUTH);
        let e = check_imports(&r, &grant("bridge", &[ADMIN_SQL]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("only the auth role"), "{e}");
    }

    #[test]
    fn roles_read_settings_through_wasi_config_store() {
        // The built-in roles that read settings import the standard
        // interface, none the deprecated one.
        for (name, bytes) in [
            ("gateway", builtin::GATEWAY),
            ("rewriter", builtin::REWRITER),
            ("verifier", builtin::VERIFIER),
            ("auth", builtin::AUTH),
            ("bridge", builtin::BRIDGE),
            ("adapter", builtin::ADAPTER),
            ("pgwire", builtin::PGWIRE),
        ] {
            let imports = imports_of(&builtin_role(name, bytes)).unwrap();
            assert!(
                imports.iter().any(|i| i == "wasi:config/store@0.2.0-rc.1"),
                "{name}: {imports:?}"
            );
            assert!(
                !imports.iter().any(|i| i.starts_with(CONFIG)),
                "{name}: {imports:?}"
            );
        }
        // The composed pipeline answers them inside (role-env): neither
        // is left for the host.
        let composed = compose(&crate::config::tests::defaults()).unwrap();
        let pipeline = Role {
            name: "pipeline",
            origin: "test".into(),
            bytes: composed,
            env: None,
        };
        let imports = imports_of(&pipeline).unwrap();
        assert!(
            !imports
                .iter()
                .any(|i| i.starts_with(STORE) || i.starts_with(CONFIG)),
            "{imports:?}"
        );
    }

    #[test]
    fn the_old_config_import_is_accepted_and_called_deprecated() {
        let why = verdict("rewriter", "supalite:api/config@0.1.0", &BTreeMap::new()).unwrap();
        assert!(
            why.contains("deprecated") && why.contains("wasi:config/store"),
            "{why}"
        );
        assert!(verdict("bridge", "wasi:config/store@0.2.0-rc.1", &BTreeMap::new()).is_ok());
        let line = config_deprecation(contract::Role::Bridge);
        assert!(
            line.starts_with(
                "the bridge component imports supalite:api/config, which is deprecated: import wasi:config/store@0.2.0-rc.1 (keys: "
            ) && line.contains("db_")
                && line.contains("bridge_…")
                && line.contains("SUPALITE_DB_MAX_ROWS is db_max_rows"),
            "{line}"
        );
        // A role without settings of the table's still has its own.
        let line = config_deprecation(contract::Role::Standalone);
        assert!(
            line.contains("(keys: … and standalone_… for its own"),
            "{line}"
        );
    }

    #[test]
    fn covers_names_not_prefixes_of_names() {
        assert!(covers("wasi:sockets", "wasi:sockets/tcp@0.2.6"));
        assert!(covers("supalite:api/sql", "supalite:api/sql@0.1.0"));
        assert!(!covers("supalite:api/sql", "supalite:api/sql-types@0.1.0"));
        assert!(!covers(
            "wasi:http/types",
            "wasi:http/outgoing-handler@0.2.12"
        ));
    }

    /// The declared maximum of every memory a component defines or imports.
    fn memory_maxima(bytes: &[u8]) -> Vec<Option<u64>> {
        let mut found = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                wasmparser::Payload::MemorySection(r) => {
                    found.extend(r.into_iter().map(|m| m.unwrap().maximum))
                }
                wasmparser::Payload::ImportSection(r) => {
                    for imports in r {
                        for import in imports.unwrap() {
                            if let wasmparser::TypeRef::Memory(m) = import.unwrap().1.ty {
                                found.push(m.maximum);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        found
    }

    #[test]
    fn a_role_memory_cap_is_declared_in_the_composed_file() {
        let capped = rewrite(builtin::REWRITER, Some(16), None).unwrap();
        let maxima = memory_maxima(&capped);
        assert!(!maxima.is_empty());
        // 16 MiB = 256 pages of 64 KiB, on every memory of the component.
        assert!(maxima.iter().all(|m| *m == Some(256)), "{maxima:?}");
        assert!(memory_maxima(builtin::REWRITER).iter().any(Option::is_none));
        // Still a valid component that composes like the original.
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&capped)
            .unwrap();
        let mut cfg = crate::config::tests::defaults();
        cfg.role_memory_mb.insert("rewriter".into(), 16);
        let composed = compose(&cfg).unwrap();
        let plain = compose(&crate::config::tests::defaults()).unwrap();
        let count = |b: &[u8]| memory_maxima(b).iter().filter(|m| **m == Some(256)).count();
        assert!(
            count(&composed) > count(&plain),
            "the cap is in the composed file"
        );
    }

    /// The module name of every core module of a component.
    fn module_names(bytes: &[u8]) -> Vec<Option<String>> {
        let mut names = Vec::new();
        let mut parser_stack = 0;
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                wasmparser::Payload::ModuleSection { .. } => {
                    names.push(None);
                    parser_stack += 1;
                }
                wasmparser::Payload::CustomSection(c) if parser_stack > 0 => {
                    if let wasmparser::KnownCustom::Name(reader) = c.as_known() {
                        for sub in reader {
                            if let Ok(wasmparser::Name::Module { name, .. }) = sub {
                                *names.last_mut().unwrap() = Some(name.to_string());
                            }
                        }
                    }
                }
                wasmparser::Payload::End(_) if parser_stack > 0 => parser_stack -= 1,
                _ => {}
            }
        }
        names
    }

    #[test]
    fn role_deadlines_name_every_core_module_after_its_role() {
        let named = rewrite(builtin::BRIDGE, None, Some("supalite-role:bridge".into())).unwrap();
        let names = module_names(&named);
        assert!(!names.is_empty());
        assert!(
            names
                .iter()
                .all(|n| n.as_deref() == Some("supalite-role:bridge")),
            "{names:?}"
        );
        let mut cfg = crate::config::tests::defaults();
        cfg.role_deadline_ms.insert("bridge".into(), 100);
        let composed = module_names(&compose(&cfg).unwrap());
        for role in ["gateway", "rewriter", "verifier", "auth", "bridge"] {
            let n = format!("{ROLE_MODULE_PREFIX}{role}");
            assert!(
                composed.iter().any(|m| m.as_deref() == Some(n.as_str())),
                "{role}: {composed:?}"
            );
        }
    }
}
