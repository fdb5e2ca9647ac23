//! The verifier role: verifies the bearer JWT among a request's header
//! fields and turns it into an identity (PostgreSQL role + claims),
//! PostgREST's way (the `jwt` crate). It needs the JWT settings and nothing
//! else: no SQL.
//!
//! Configuration (wasi:cli environment, PostgREST's names in brackets):
//! - `SUPALITE_JWT_SECRET` [jwt-secret]: HS256/384/512 secret, or a JWK/JWKS.
//! - `SUPALITE_JWT_SECRET_IS_BASE64` [jwt-secret-is-base64].
//! - `SUPALITE_DB_ANON_ROLE` [db-anon-role] (or the older `SUPALITE_ANON_ROLE`): role for
//!   requests without a token (default `anon`).
//! - `SUPALITE_JWT_AUD` [jwt-aud]: required audience, if set.
//! - `SUPALITE_JWT_ROLE_CLAIM_KEY` [jwt-role-claim-key]: where the role is (default `.role`).
//! - `SUPALITE_JWT_ALLOWED_ROLES`: roles a token may carry.

#[cfg(target_arch = "wasm32")]
use jwt as verify;

/// Talc instead of Rust's default wasm allocator (dlmalloc).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::verifier::*;

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    use crate::verify::{self, Settings};
    use exports::supalite::api::verifier::Guest;
    use supalite::api::types::{Headers, Identity, Response};

    struct Verifier;

    thread_local! {
        /// Read once per instance (the environment does not change).
        static SETTINGS: Settings = Settings::from_env(|k| setting(k));
        /// Verified tokens, for instances that serve many requests.
        static TOKENS: std::cell::RefCell<verify::TokenCache> =
            std::cell::RefCell::new(verify::TokenCache::new(256));
    }

    impl Guest for Verifier {
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
                    let r: contract::Response = e.into();
                    Err(Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    })
                }
            }
        }
    }

    guest::verifier::export_verifier!(Verifier);
}
