//! The request policies, each a `tower::Layer` around the service inside
//! it. Outermost first, as `pipeline` stacks them:
//!
//! - `api_keys`: the publishable and secret keys swapped for their JWTs
//!   (before everything, realtime's websocket included: `accept`);
//! - [`RequestLogLayer`]: one log line per request, with its id;
//! - [`HttpLimitsLayer`]: 414/431 for a target or header block over the
//!   server's limits;
//! - [`RequestIdLayer`]: `X-Request-Id` kept or set (the id the components
//!   see is the one the answer carries);
//! - [`ForwardedForLayer`]: the client's address ([`ClientAddr`]: the
//!   peer, or behind a trusted proxy its forwarded header's), last in
//!   `X-Forwarded-For`;
//! - [`AnonBudgetLayer`]: anonymous requests per client address and second
//!   (429);
//!
//! then the route table, and around the gateway on each of its routes:
//!
//! - [`PermitsLayer`] (the auth routes): how many requests run at once;
//! - [`DeadlineLayer`]: the request deadline (504), and the pipeline's
//!   failures as JSON answers (504 for a role deadline, 500);
//! - [`BodyBudgetLayer`]: request bodies in flight within
//!   `server-body-memory-mb` (waiting counts against the deadline).

mod anon_budget;
pub mod api_keys;
mod body_budget;
mod deadline;
mod forwarded;
mod limits;
mod log;
mod permits;
mod request_id;

pub use anon_budget::{AnonBudget, AnonBudgetLayer, REFUSED as ANON_REFUSED};
pub use body_budget::BodyBudgetLayer;
pub use deadline::{DeadlineLayer, WaitUntil};
pub use forwarded::{canonical, ClientAddr, ForwardedFor, ForwardedForLayer, Peer, Proxies};
pub use limits::{HttpLimits, HttpLimitsLayer, MAX_HEADERS};
pub use log::{RequestLog, RequestLogLayer};
pub use permits::PermitsLayer;
pub use request_id::{RequestId, RequestIdLayer};

/// Takes the service that `poll_ready` readied, leaving a clone in its
/// place (tower's rule for a call whose future outlives `&mut self`).
fn take<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
