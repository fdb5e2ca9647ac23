//! Serves the composed pipeline over HTTP: instances from the pooling
//! allocator, reused for `instance-reuse` requests (1 = a fresh one per
//! request, as `wasmtime serve`); each request goes to the gateway's
//! `supalite:api/handler` export when it has one (whole request and response
//! as records), else through `wasi:http/incoming-handler`; plus the native
//! `sql`, `schema`, `upstream` and `backend` imports.

mod accept;
mod bindings;
mod edge;
mod grants;
mod outgoing;
mod pipeline;
mod sql;
mod state;
mod targets;
mod upstream;

pub use accept::{listen, serve, Limits};
pub use pipeline::{Current, Pipeline};
