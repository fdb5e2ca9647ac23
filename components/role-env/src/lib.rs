//! The environment of each role in a composed pipeline. `supalite compose`
//! instantiates this component once and plugs its `<role>-env` exports into
//! the roles' `wasi:cli/environment` imports; its own import is the host's
//! environment (the supalite host's settings, or `wasmtime serve --env`).
//! Each role gets the variables `contract::visible_to` grants it, nothing
//! else: no arguments, no working directory. The same share answers each
//! role's `wasi:config/store` import (`<role>-store`, by keys such as
//! `db_max_rows`) and, for components built against the deprecated
//! interface, its `supalite:api/config` import (`<role>-config`, by
//! environment names): asking for a setting outside it is refused and
//! logged.

use contract::Role;

/// `role` asking for the setting `name` through its `config` import: the
/// value when the role may see it, else `Err` with the line to log.
pub fn setting_for(
    role: Role,
    name: &str,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    if contract::visible_to(role, name) {
        Ok(lookup(name))
    } else {
        Err(format!(
            "supalite: the {} component asked for the setting {name:?}, which is not granted to its role: refused",
            role.name()
        ))
    }
}

/// `role` asking for the `wasi:config/store` key `key` (`db_max_rows`):
/// [`setting_for`] of its environment name, and refused as well when
/// `key` is not a key as `contract::settings::config_key` writes them
/// (lower case, no `SUPALITE_`).
pub fn store_setting_for(
    role: Role,
    key: &str,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    use contract::settings::{config_key, env_name};
    let env = env_name(key);
    if config_key(&env) != key {
        return Err(format!(
            "supalite: the {} component asked wasi:config/store for the key {key:?}, which is not a setting key (keys are environment names without SUPALITE_, in lower case: {:?} is {:?}): refused",
            role.name(),
            "SUPALITE_DB_MAX_ROWS",
            config_key("SUPALITE_DB_MAX_ROWS"),
        ));
    }
    setting_for(role, &env, lookup)
        .map_err(|line| format!("{line} (wasi:config/store key {key:?})"))
}

/// `role`'s share under `wasi:config/store` keys (its `get-all`).
pub fn store_of(
    role: Role,
    all: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    environment_of(role, all)
        .into_iter()
        .map(|(k, v)| (contract::settings::config_key(&k), v))
        .collect()
}

/// The host's variables that `role` may see.
pub fn environment_of(
    role: Role,
    all: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    all.into_iter()
        .filter(|(k, _)| contract::visible_to(role, k))
        .collect()
}

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::role_env::*;

    use contract::Role;

    struct RoleEnv;

    fn vars(role: Role) -> Vec<(String, String)> {
        super::environment_of(role, std::env::vars())
    }

    macro_rules! role_env {
        ($module:ident, $role:expr) => {
            impl exports::$module::Guest for RoleEnv {
                fn get_environment() -> Vec<(String, String)> {
                    vars($role)
                }
                fn get_arguments() -> Vec<String> {
                    Vec::new()
                }
                fn initial_cwd() -> Option<String> {
                    None
                }
            }
        };
    }

    /// Refusals logged per instance, at most (a component asking in a loop
    /// does not flood the log).
    const LOGGED: usize = 32;

    fn setting(role: Role, name: String) -> Option<String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static REFUSED: AtomicUsize = AtomicUsize::new(0);
        super::setting_for(role, &name, |n| std::env::var(n).ok()).unwrap_or_else(|line| {
            if REFUSED.fetch_add(1, Ordering::Relaxed) < LOGGED {
                eprintln!("{line}");
            }
            None
        })
    }

    fn store_setting(role: Role, key: String) -> Option<String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static REFUSED: AtomicUsize = AtomicUsize::new(0);
        super::store_setting_for(role, &key, |n| std::env::var(n).ok()).unwrap_or_else(|line| {
            if REFUSED.fetch_add(1, Ordering::Relaxed) < LOGGED {
                eprintln!("{line}");
            }
            None
        })
    }

    macro_rules! role_store {
        ($module:ident, $role:expr) => {
            impl exports::$module::Guest for RoleEnv {
                fn get(key: String) -> Result<Option<String>, exports::$module::Error> {
                    Ok(store_setting($role, key))
                }
                fn get_all() -> Result<Vec<(String, String)>, exports::$module::Error> {
                    Ok(super::store_of($role, std::env::vars()))
                }
            }
        };
    }

    role_store!(gateway_store, Role::Gateway);
    role_store!(rewriter_store, Role::Rewriter);
    role_store!(verifier_store, Role::Verifier);
    role_store!(auth_store, Role::Auth);
    role_store!(bridge_store, Role::Bridge);
    role_store!(adapter_store, Role::Adapter);
    role_store!(pgwire_store, Role::Pgwire);
    role_store!(standalone_store, Role::Standalone);
    role_store!(storage_store, Role::Storage);

    macro_rules! role_config {
        ($module:ident, $role:expr) => {
            impl exports::$module::Guest for RoleEnv {
                fn get(name: String) -> Option<String> {
                    setting($role, name)
                }
            }
        };
    }

    role_config!(gateway_config, Role::Gateway);
    role_config!(rewriter_config, Role::Rewriter);
    role_config!(verifier_config, Role::Verifier);
    role_config!(auth_config, Role::Auth);
    role_config!(bridge_config, Role::Bridge);
    role_config!(adapter_config, Role::Adapter);
    role_config!(pgwire_config, Role::Pgwire);
    role_config!(standalone_config, Role::Standalone);
    role_config!(storage_config, Role::Storage);

    role_env!(gateway_env, Role::Gateway);
    role_env!(rewriter_env, Role::Rewriter);
    role_env!(verifier_env, Role::Verifier);
    role_env!(auth_env, Role::Auth);
    role_env!(bridge_env, Role::Bridge);
    role_env!(adapter_env, Role::Adapter);
    role_env!(pgwire_env, Role::Pgwire);
    role_env!(standalone_env, Role::Standalone);
    role_env!(storage_env, Role::Storage);

    guest::role_env::export_role_env!(RoleEnv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_gets_its_own_share() {
        let all = || {
            [
                ("SUPALITE_JWT_SECRET", "s3cret"),
                ("SUPALITE_DB_SCHEMAS", "api"),
                ("SUPALITE_ROUTES", "/rest/v1=rest"),
                ("SUPALITE_REWRITER_GREETING", "hi"),
                ("PATH", "/usr/bin"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        };
        let names = |r| {
            environment_of(r, all())
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Role::Auth), ["SUPALITE_JWT_SECRET"]);
        assert_eq!(names(Role::Bridge), ["SUPALITE_DB_SCHEMAS"]);
        assert_eq!(
            names(Role::Rewriter),
            ["SUPALITE_ROUTES", "SUPALITE_REWRITER_GREETING"]
        );
        assert!(names(Role::Standalone).is_empty());
    }

    #[test]
    fn a_setting_outside_the_roles_share_is_refused_with_a_line_to_log() {
        let env = |n: &str| {
            (n == "SUPALITE_JWT_SECRET" || n == "SUPALITE_DB_SCHEMAS").then(|| "x".to_string())
        };
        assert_eq!(
            setting_for(Role::Bridge, "SUPALITE_DB_SCHEMAS", env),
            Ok(Some("x".into()))
        );
        assert_eq!(
            setting_for(Role::Verifier, "SUPALITE_JWT_SECRET", env),
            Ok(Some("x".into()))
        );
        let refused = setting_for(Role::Rewriter, "SUPALITE_JWT_SECRET", env).unwrap_err();
        assert!(
            refused.contains("rewriter") && refused.contains("SUPALITE_JWT_SECRET"),
            "{refused}"
        );
        assert!(setting_for(Role::Bridge, "PATH", env).is_err());
        // Granted but unset: no value, nothing to log.
        assert_eq!(
            setting_for(Role::Rewriter, "SUPALITE_ROUTES", env),
            Ok(None)
        );
    }

    #[test]
    fn store_keys_are_environment_names_without_the_prefix_in_lower_case() {
        use contract::settings::{config_key, env_name};
        for (env, key) in [
            ("SUPALITE_DB_MAX_ROWS", "db_max_rows"),
            ("SUPALITE_REWRITER_GREETING", "rewriter_greeting"),
            ("SUPALITE_JWT_SECRET", "jwt_secret"),
        ] {
            assert_eq!(config_key(env), key);
            assert_eq!(env_name(key), env);
        }
        // Every setting's key is one Spin accepts, and maps back.
        for s in contract::SETTINGS {
            let key = config_key(s.env);
            assert!(
                key.bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_')),
                "{key}"
            );
            assert_eq!(env_name(&key), s.env);
        }
    }

    #[test]
    fn the_store_answers_a_roles_share_by_key_and_refuses_the_rest() {
        let env = |n: &str| {
            (n == "SUPALITE_JWT_SECRET" || n == "SUPALITE_DB_MAX_ROWS").then(|| "5".to_string())
        };
        assert_eq!(
            store_setting_for(Role::Bridge, "db_max_rows", env),
            Ok(Some("5".into()))
        );
        let refused = store_setting_for(Role::Bridge, "jwt_secret", env).unwrap_err();
        assert!(
            refused.contains(
                "the bridge component asked for the setting \"SUPALITE_JWT_SECRET\", which is not granted to its role: refused"
            ) && refused.contains("\"jwt_secret\""),
            "{refused}"
        );
        // Only keys as `config_key` writes them.
        for odd in ["DB_MAX_ROWS", "SUPALITE_DB_MAX_ROWS", "Db_max_rows"] {
            let e = store_setting_for(Role::Bridge, odd, env).unwrap_err();
            assert!(e.contains("db_max_rows"), "{e}");
        }
        let all = [
            ("SUPALITE_DB_MAX_ROWS", "5"),
            ("SUPALITE_JWT_SECRET", "s"),
            ("SUPALITE_BRIDGE_PROBE", "x"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            store_of(Role::Bridge, all),
            [("db_max_rows", "5"), ("bridge_probe", "x")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
