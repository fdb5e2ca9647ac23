//! The auth stage: verifies the bearer JWT and turns it into an identity
//! (PostgreSQL role + claims), PostgREST's way.
//!
//! Configuration (wasi:cli environment, PostgREST's names in brackets):
//! - `SUPALITE_JWT_SECRET` [jwt-secret]: HS256/384/512 secret.
//! - `SUPALITE_DB_ANON_ROLE` [db-anon-role] (or the older `SUPALITE_ANON_ROLE`): role for
//!   requests without a token (default `anon`).
//! - `SUPALITE_JWT_AUD` [jwt-aud]: required audience, if set.
//! - `SUPALITE_JWT_ROLE_CLAIM_KEY` [jwt-role-claim-key]: where the role is (default `.role`).

pub mod gotrue;
pub mod verify;

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    wit_bindgen::generate!({ path: "../../wit", world: "auth-component" });

    use crate::gotrue::{AuthConfig, Ctx, Sql, SqlError};
    use crate::verify::{self, Settings};
    use exports::supalite::api::auth::Guest;
    use supalite::api::types::{Headers, Identity, Request, Response};
    use supalite::api::{admin_sql, sql_types as sql};

    struct Auth;

    thread_local! {
        /// Read once per instance (the environment does not change).
        static SETTINGS: Settings = Settings::from_env(|k| std::env::var(k).ok());
        /// Verified tokens, for instances that serve many requests.
        static TOKENS: std::cell::RefCell<verify::TokenCache> =
            std::cell::RefCell::new(verify::TokenCache::new(256));
    }

    fn settings() -> Settings {
        SETTINGS.with(Settings::clone)
    }

    impl Guest for Auth {
        fn authenticate(headers: Headers) -> Result<Identity, Response> {
            let verified = SETTINGS.with(|s| {
                TOKENS.with(|c| verify::authenticate_cached(s, &headers, &mut c.borrow_mut()))
            });
            match verified {
                Ok(id) => Ok(Identity {
                    role: id.role,
                    claims_json: id.claims_json,
                }),
                Err(e) => {
                    let r: postgrest::Response = e.into();
                    Err(Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    })
                }
            }
        }

        fn handle(req: Request) -> Response {
            let settings = settings();
            let cfg = AuthConfig::from_env(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
            let host = req
                .headers
                .iter()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.as_str())
                .unwrap_or("localhost");
            let proto = req
                .headers
                .iter()
                .find(|(k, _)| k == "x-forwarded-proto")
                .map(|(_, v)| v.as_str())
                .unwrap_or("http");
            let ctx = Ctx {
                cfg: &cfg,
                verify: &settings,
                sql: &WitSql,
                issuer: format!("{proto}://{host}/auth/v1"),
            };
            let r = ctx.handle(&req.method, &req.path, &req.query, &req.headers, &req.body);
            Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }
        }
    }

    /// GoTrue's SQL runs as the provider's own role (it manages `auth.*`).
    struct WitSql;

    impl Sql for WitSql {
        fn run(
            &self,
            statements: Vec<(String, Vec<Option<String>>)>,
        ) -> Result<Vec<Vec<Vec<Option<String>>>>, SqlError> {
            let stmts: Vec<sql::Statement> = statements
                .into_iter()
                .map(|(sql, params)| sql::Statement { sql, params })
                .collect();
            admin_sql::transaction(&stmts)
                .map(|sets| sets.into_iter().map(|s| s.rows).collect())
                .map_err(|e| SqlError {
                    code: e.code,
                    message: e.message,
                })
        }
    }

    export!(Auth);
}
