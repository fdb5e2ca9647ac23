//! The WIT bindings of the built-in roles, generated in one place from
//! `wit/`: a component depends on this crate with its world's feature, uses
//! the world's module and exports its implementation with the world's
//! macro, e.g. `guest::bridge::export_bridge!(Bridge);`.
//!
//! Only for wasm32 (there is nothing to bind on the host). Components
//! written outside this workspace generate their own bindings from the same
//! WIT (see `components/example-rewriter`).
#![cfg_attr(not(target_arch = "wasm32"), allow(unused))]

/// `world`'s bindings in `module`, exported with `export_macro`.
macro_rules! world {
    ($feature:literal, $module:ident, $world:literal, $export:literal, $path:literal) => {
        #[cfg(all(target_arch = "wasm32", feature = $feature))]
        pub mod $module {
            wit_bindgen::generate!({
                path: "../../wit",
                world: $world,
                pub_export_macro: true,
                export_macro_name: $export,
                default_bindings_module: $path,
                // `wasi:config/store` (every role's settings) and the
                // gateway's and the adapter's `wasi:http`, generated here.
                generate_all,
            });
        }
    };
}

world!(
    "gateway",
    gateway,
    "gateway-component",
    "export_gateway",
    "guest::gateway"
);
world!(
    "rewriter",
    rewriter,
    "rewriter-component",
    "export_rewriter",
    "guest::rewriter"
);
world!(
    "verifier",
    verifier,
    "verifier-component",
    "export_verifier",
    "guest::verifier"
);
world!("auth", auth, "auth-component", "export_auth", "guest::auth");
world!(
    "bridge",
    bridge,
    "bridge-component",
    "export_bridge",
    "guest::bridge"
);
world!(
    "adapter",
    adapter,
    "adapter-component",
    "export_adapter",
    "guest::adapter"
);
world!(
    "pgwire",
    pgwire,
    "pgwire-component",
    "export_pgwire",
    "guest::pgwire"
);
world!(
    "standalone",
    standalone,
    "standalone-component",
    "export_standalone",
    "guest::standalone"
);
world!(
    "storage",
    storage,
    "storage-component",
    "export_storage",
    "guest::storage"
);
world!(
    "role-env",
    role_env,
    "role-env",
    "export_role_env",
    "guest::role_env"
);

/// A setting through a role's `wasi:config/store` import: `get` is the
/// world's `wasi::config::store::get`, `key` the setting's store key
/// (`contract::settings::config_key("SUPALITE_DB_MAX_ROWS")` is
/// `db_max_rows`). An error from the store is said on stderr, once per
/// instance, and read as unset (the default applies). The glue of a role:
///
/// ```ignore
/// fn setting(name: &str) -> Option<String> {
///     contract::read(name, |n| guest::from_store(wasi::config::store::get, &contract::settings::config_key(n)))
/// }
/// ```
pub fn from_store<E: core::fmt::Debug>(
    get: impl FnOnce(&str) -> Result<Option<String>, E>,
    key: &str,
) -> Option<String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SAID: AtomicBool = AtomicBool::new(false);
    match get(key) {
        Ok(value) => value,
        Err(e) => {
            if !SAID.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "supalite: wasi:config/store failed for the key {key:?} ({e:?}): read as unset, the default applies"
                );
            }
            None
        }
    }
}
