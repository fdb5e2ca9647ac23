//! The auth role: the auth API under `/auth/v1` (GoTrue's endpoints: users,
//! sessions, tokens), on `admin-sql` — SQL as the connection's own role on
//! `auth.*`, which no other role may import. It verifies the tokens it is
//! sent with the verifier's library; verifying the tokens of data-API
//! requests is the verifier role's job.
//!
//! Configuration: the JWT settings (see `verifier`) and `SUPALITE_AUTH_*`.

pub mod gotrue;
pub mod links;
pub mod mails;
pub mod totp;
pub use jwt as verify;

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::auth::*;

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    use crate::gotrue::{AuthConfig, Ctx, Mail, Sql, SqlError};
    use crate::verify::Settings;
    use exports::supalite::api::auth::Guest;
    use supalite::api::types::{Request, Response};
    use supalite::api::{admin_sql, sql_types as sql};

    struct Auth;

    thread_local! {
        /// Read once per instance (settings do not change).
        static SETTINGS: Settings = Settings::from_env(|k| setting(k));
        static CONFIG: AuthConfig = AuthConfig::from_env(|k| setting(k).filter(|v| !v.is_empty()));
    }

    fn settings() -> Settings {
        SETTINGS.with(Settings::clone)
    }

    impl Guest for Auth {
        fn handle(req: Request) -> Response {
            let settings = settings();
            let cfg = CONFIG.with(AuthConfig::clone);
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
                mail: &WitMail,
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

    /// The host's mailer (SMTP or its mail catcher).
    struct WitMail;

    impl Mail for WitMail {
        fn send(&self, to: &str, subject: &str, text: &str, html: &str) -> Result<(), String> {
            supalite::api::mailer::send(&supalite::api::mailer::Message {
                to: to.into(),
                subject: subject.into(),
                text: text.into(),
                html: html.into(),
            })
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

    guest::auth::export_auth!(Auth);
}
