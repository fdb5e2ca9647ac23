//! The `upstream` import (breaker state kept across requests), the
//! adapter's `backend` fallback slot, and the type-only `types` interface.

use super::bindings::*;
use super::state::State;

impl wit_upstream::Host for State {
    async fn admit(&mut self, name: String) -> wit_upstream::Admission {
        match self.upstreams.admit(&name) {
            crate::upstream::Admission::Allow => wit_upstream::Admission::Allow,
            crate::upstream::Admission::Probe => wit_upstream::Admission::Probe,
            crate::upstream::Admission::Reject => wit_upstream::Admission::Reject,
        }
    }

    async fn record_attempt(&mut self, name: String, attempt: wit_upstream::Attempt) {
        self.upstreams.record(
            &name,
            attempt.succeeded,
            attempt.retry,
            std::time::Duration::from_micros(attempt.latency_us),
        );
    }

    async fn record_fallback(&mut self, name: String) {
        self.upstreams.record_fallback(&name);
    }
}

/// The adapter's fallback import when no fallback backend is composed in.
impl wit_backend::Host for State {
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

impl wit_types::Host for State {}
