//! The environment of each role in a composed pipeline. `supalite compose`
//! instantiates this component once and plugs its `<role>-env` exports into
//! the roles' `wasi:cli/environment` imports; its own import is the host's
//! environment (the supalite host's settings, or `wasmtime serve --env`).
//! Each role gets the variables `contract::visible_to` grants it, nothing
//! else: no arguments, no working directory.

use contract::Role;

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
    wit_bindgen::generate!({ path: "../../wit", world: "role-env" });

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

    role_env!(gateway_env, Role::Gateway);
    role_env!(rewriter_env, Role::Rewriter);
    role_env!(verifier_env, Role::Verifier);
    role_env!(auth_env, Role::Auth);
    role_env!(bridge_env, Role::Bridge);
    role_env!(adapter_env, Role::Adapter);
    role_env!(pgwire_env, Role::Pgwire);
    role_env!(standalone_env, Role::Standalone);

    export!(RoleEnv);
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
}
