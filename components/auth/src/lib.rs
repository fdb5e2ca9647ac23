//! The auth stage: verifies the bearer JWT and turns it into an identity
//! (PostgreSQL role + claims), PostgREST's way.
//!
//! Configuration (wasi:cli environment, PostgREST's names in brackets):
//! - `SUPALITE_JWT_SECRET` [jwt-secret]: HS256/384/512 secret.
//! - `SUPALITE_ANON_ROLE` [db-anon-role]: role for requests without a token (default `anon`).
//! - `SUPALITE_JWT_AUD` [jwt-aud]: required audience, if set.
//! - `SUPALITE_JWT_ROLE_CLAIM_KEY` [jwt-role-claim-key]: where the role is (default `.role`).

pub mod verify;

#[cfg(target_arch = "wasm32")]
mod glue {
    wit_bindgen::generate!({ path: "../../wit", world: "auth-component" });

    use crate::verify::{self, Settings};
    use exports::supalite::api::auth::Guest;
    use supalite::api::types::{Identity, Request, Response};

    struct Auth;

    fn settings() -> Settings {
        Settings::from_env(|k| std::env::var(k).ok())
    }

    impl Guest for Auth {
        fn authenticate(req: Request) -> Result<Identity, Response> {
            match verify::authenticate(&settings(), &req.headers) {
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
            let r = verify::auth_api(&req.method, &req.path);
            Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }
        }
    }

    export!(Auth);
}
