//! Serves the composed pipeline over HTTP, in layers (each module uses
//! only the ones above it):
//!
//! - `engine`: the wasmtime engine, its epoch ticker, the compilation cache;
//! - `pool`: instances from the pooling allocator, reused for
//!   `instance-reuse` requests (1 = a fresh one per request, as `wasmtime
//!   serve`), their release rules and deadline clocks;
//! - `service`: the one service that calls the gateway, through its
//!   `supalite:api/handler` export (whole request and response as records)
//!   when it has one, else `wasi:http/incoming-handler`;
//! - `layers`: the request policies as tower layers (request id,
//!   forwarded-for, HTTP limits, body budget, permits, deadline, log);
//! - `router`: the route table, public path prefix → service;
//! - `pipeline`: one configuration's stack of the above; `current`: the
//!   hot-swap cell holding it; `accept`: connections.
//!
//! Beside them: `state` (what each store holds), the native imports
//! (`sql`, `grants`, `upstream`, `blob`: the storage role's blob store), `edge` (records, the server's own
//! answers) and `targets` (what the connection hands hyper, and hyper's
//! own answers completed).

mod accept;
mod bindings;
mod blob;
mod mailer;
mod caps;
mod current;
mod edge;
mod engine;
mod grants;
mod layers;
mod pipeline;
mod pool;
mod router;
mod service;
mod sql;
mod state;
mod targets;
pub mod upstream;

pub use accept::{listen, serve, Limits, REFUSED_PER_CLIENT};
pub use current::Current;
pub use layers::ANON_REFUSED;
pub use pipeline::{proxies, Pipeline};
