//! The host world's bindings (`wit/supalite.wit`, world `host`) and the
//! names the server uses for them.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "host",
        imports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "supalite:api/blob-store.writer": crate::blob_store::Writer,
        },
    });
}

pub use generated::supalite::api::admin_sql as wit_admin_sql;
pub use generated::supalite::api::backend as wit_backend;
pub use generated::supalite::api::blob_store as wit_blob_store;
pub use generated::supalite::api::mailer as wit_mailer;
pub use generated::supalite::api::schema as wit_schema;
pub use generated::supalite::api::sql as wit_sql;
pub use generated::supalite::api::types as wit_types;
pub use generated::supalite::api::upstream as wit_upstream;

/// wasmtime 48 has its own error type; convert it for `anyhow::Context`.
pub fn wt<T>(r: wasmtime::Result<T>) -> anyhow::Result<T> {
    r.map_err(anyhow::Error::from)
}
