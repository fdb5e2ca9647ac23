//! The realtime role's protocol, as plain Rust the host links (the socket,
//! timers, fan-out and the change feed are the host's): Phoenix frames in
//! both serializers (`vsn` 1.0.0 JSON objects, 2.0.0 JSON arrays plus the
//! binary user-broadcast frames), join configs, `postgres_changes` bindings
//! and their filters, presence payloads and the change payload realtime-js
//! reads. Everything here is a pure function of its input, unit-tested on
//! the host target; a WIT component can wrap it later.

pub mod change;
pub mod filter;
pub mod frame;
pub mod join;
pub mod presence;

pub use frame::{Body, Frame, Incoming, Msg, Vsn};
