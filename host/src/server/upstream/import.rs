//! The `upstream` import (breaker state kept across requests), the
//! adapter's `backend` fallback slot, and the type-only `types` interface,
//! on any store that can lend its [`Upstreams`].

use super::super::bindings::*;
use super::breaker::{Admission, Upstreams};
use anyhow::Result;
use wasmtime::component::{HasData, Linker};

/// What these imports work on: the process's upstreams.
pub(in crate::server) struct Imports<'a>(pub(in crate::server) &'a Upstreams);

struct UpstreamImports;

impl HasData for UpstreamImports {
    type Data<'a> = Imports<'a>;
}

/// Adds `upstream` and `backend` to `linker`, on the upstreams `get` lends.
pub(in crate::server) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Imports<'_>,
) -> Result<()> {
    wit_upstream::add_to_linker::<T, UpstreamImports>(linker, get)?;
    wit_backend::add_to_linker::<T, UpstreamImports>(linker, get)?;
    Ok(())
}

impl wit_upstream::Host for Imports<'_> {
    async fn admit(&mut self, name: String) -> wit_upstream::Admission {
        match self.0.admit(&name) {
            Admission::Allow => wit_upstream::Admission::Allow,
            Admission::Probe => wit_upstream::Admission::Probe,
            Admission::Reject => wit_upstream::Admission::Reject,
        }
    }

    async fn record_attempt(&mut self, name: String, attempt: wit_upstream::Attempt) {
        self.0.record(
            &name,
            attempt.succeeded,
            attempt.retry,
            std::time::Duration::from_micros(attempt.latency_us),
        );
    }

    async fn record_fallback(&mut self, name: String) {
        self.0.record_fallback(&name);
    }
}

/// The adapter's fallback import when no fallback backend is composed in.
impl wit_backend::Host for Imports<'_> {
    async fn handle(
        &mut self,
        _req: wit_types::Request,
        _who: wit_types::Identity,
    ) -> wit_types::Response {
        // The same answer as the standalone component's (for other hosts).
        let (status, code, message, hint) = contract::NO_FALLBACK;
        let r: contract::Response = contract::error::ApiError::new(status, code, message)
            .hint(hint)
            .into();
        wit_types::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl wit_types::Host for Imports<'_> {}
