//! The rewriter: maps Supabase's public URLs onto stage routes
//! (`/rest/v1/x` → backend `/x`, `/auth/v1/x` → auth `/x`), turns the
//! `apikey` header into a bearer token, answers CORS preflights and adds CORS
//! headers to every response.
//!
//! Configuration (wasi:cli environment):
//! - `SUPALITE_CORS_ORIGINS`: `*` (default) or a comma-separated origin list.
//! - `SUPALITE_ROUTES`: the route table, `prefix=rest|auth|storage,...`
//!   (default `/rest/v1=rest,/auth/v1=auth,/storage/v1=storage`; `/=rest` serves PostgREST's
//!   API at the root).

pub mod routing;

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(all(target_arch = "wasm32", feature = "component"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod glue {
    use guest::rewriter::*;

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    use crate::routing::{self, Route};
    use exports::supalite::api::rewriter::{
        Guest, Outcome, RequestHead, Rewritten, Routed, Target,
    };
    use supalite::api::types::Response;

    struct Rewriter;

    impl Guest for Rewriter {
        fn rewrite(req: RequestHead) -> Rewritten {
            let id = || routing::new_request_id([random(), random()]);
            let (route, decorations) = CONFIG.with(|(routes, origins)| {
                routing::route(&req.method, &req.path, req.headers, origins, routes, id)
            });
            let outcome = match route {
                Route::Forward {
                    target,
                    path,
                    headers,
                    ..
                } => Outcome::Forward(Routed {
                    target: match target {
                        routing::Target::Rest => Target::Rest,
                        routing::Target::Auth => Target::Auth,
                        routing::Target::Storage => Target::Storage,
                    },
                    path,
                    headers,
                }),
                Route::Respond(r) => Outcome::Respond(Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                }),
            };
            Rewritten {
                outcome,
                decorations,
            }
        }
    }

    fn random() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    }

    thread_local! {
        /// The route table and allowed origins, read once per instance.
        static CONFIG: (Vec<routing::RouteRule>, String) = (
            routing::routes_or_default(contract::settings::ROUTES.text(setting).as_deref()),
            contract::settings::CORS_ORIGINS.text_or_default(setting),
        );
    }

    guest::rewriter::export_rewriter!(Rewriter);
}
