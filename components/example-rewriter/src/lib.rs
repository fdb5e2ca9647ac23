//! An example of writing your own role: a rewriter that routes exactly as
//! supalite's built-in one (it reuses its `routing` library) and adds one
//! header to every response, `x-served-by` (from `SUPALITE_REWRITER_SERVED_BY`,
//! the key `rewriter_served_by` of its `wasi:config/store` import; default
//! `example-rewriter`).
//!
//! Build it for the component model (in a target directory of its own: the
//! library build of `rewriter` it depends on must not replace the built-in
//! `rewriter.wasm`) and point supalite at it:
//!
//! ```sh
//! cargo build --profile wasm --target wasm32-wasip2 -p example-rewriter \
//!     --target-dir target/example-components
//! # supalite.toml
//! # [components]
//! # rewriter = "target/example-components/wasm32-wasip2/wasm/example_rewriter.wasm"
//! ```

#[cfg(target_arch = "wasm32")]
mod glue {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "rewriter-component",
        generate_all,
    });

    use exports::supalite::api::rewriter::{
        Guest, Outcome, RequestHead, Rewritten, Routed, Target,
    };
    use rewriter::routing::{self, Route};
    use supalite::api::types::Response;

    struct ExampleRewriter;

    impl Guest for ExampleRewriter {
        fn rewrite(req: RequestHead) -> Rewritten {
            // Settings come from the standard `wasi:config/store` import,
            // by keys: a setting's environment name without `SUPALITE_`,
            // in lower case (`SUPALITE_ROUTES` is `routes`). Only the
            // rewriter's share is answered.
            let setting = |key: &str| wasi::config::store::get(key).ok().flatten();
            let routes = routing::routes_or_default(setting("routes").as_deref());
            let origins = setting("cors_origins").unwrap_or_else(|| "*".into());
            let id = || routing::new_request_id([random(), random()]);
            let (route, mut decorations) =
                routing::route(&req.method, &req.path, req.headers, &origins, &routes, id);
            // The one thing this rewriter adds.
            decorations.push((
                "x-served-by".into(),
                setting("rewriter_served_by").unwrap_or_else(|| "example-rewriter".into()),
            ));
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

    export!(ExampleRewriter);
}
