//! Upstreams: what the host remembers about them across requests (the
//! circuit breaker and counters, `breaker`), the counters as Prometheus
//! text (`metrics`), where a component's outgoing HTTP may go (`outgoing`),
//! and the imports that serve the breaker to the adapter (`import`).

mod breaker;
mod import;
mod metrics;
mod outgoing;

pub use breaker::{BreakerConfig, Upstreams};
pub(super) use import::{add_to_linker, Imports};
pub(super) use outgoing::UpstreamOnly;
