//! When to retry, how long to wait, and what a failure means: plain Rust,
//! unit-tested on the host.

/// The adapter's settings (wasi:cli environment, set by the host from its
/// config; the same variables work under `wasmtime serve --env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `SUPALITE_UPSTREAM_TIMEOUT_MS`: one attempt (connect, first byte and
    /// between bytes), default 15000.
    pub attempt_timeout_ms: u64,
    /// `SUPALITE_UPSTREAM_TOTAL_TIMEOUT_MS`: all attempts and back-off
    /// together, default 30000.
    pub total_timeout_ms: u64,
    /// `SUPALITE_UPSTREAM_RETRIES`: extra attempts after the first, default 2.
    pub retries: u32,
    /// `SUPALITE_UPSTREAM_BACKOFF_MS`: first back-off step, doubled per
    /// retry (capped at 2 s) with full jitter, default 50.
    pub backoff_ms: u64,
    /// `SUPALITE_UPSTREAM_FALLBACK`: serve what the upstream cannot with the
    /// `backend` import (the bridge), default false.
    pub fallback: bool,
}

/// Longest single back-off.
pub const MAX_BACKOFF_MS: u64 = 2_000;

use contract::settings as s;

impl Policy {
    /// The adapter's settings (defaults from `contract::settings`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Policy {
        let num = |setting: &s::Setting| setting.number::<u64>(&get).unwrap_or_default();
        Policy {
            attempt_timeout_ms: num(&s::UPSTREAM_TIMEOUT_MS).max(1),
            total_timeout_ms: num(&s::UPSTREAM_TOTAL_TIMEOUT_MS).max(1),
            retries: num(&s::UPSTREAM_RETRIES).min(10) as u32,
            backoff_ms: num(&s::UPSTREAM_BACKOFF_MS),
            fallback: s::UPSTREAM_FALLBACK.flag(&get),
        }
    }

    /// Back-off before retry number `retry` (1-based): uniformly random in
    /// `[0, min(cap, base * 2^(retry-1))]` ("full jitter"). `random` is any
    /// random u64.
    pub fn backoff(&self, retry: u32, random: u64) -> u64 {
        let ceiling = self
            .backoff_ms
            .saturating_mul(1u64 << (retry.saturating_sub(1)).min(20))
            .min(MAX_BACKOFF_MS);
        if ceiling == 0 {
            0
        } else {
            random % (ceiling + 1)
        }
    }
}

/// Methods that may be repeated after the request reached the upstream.
pub fn safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request never reached the upstream (refused, DNS, connect
    /// timeout): any method may be retried, and the fallback may serve it.
    NotSent(String),
    /// No answer in time after the request was sent.
    Timeout(String),
    /// The connection broke, or the answer was malformed or cut off.
    Broken(String),
    /// The upstream answered 502/503/504: it is up but cannot serve now.
    Unavailable(u16),
    /// The host refused the outgoing request (not a configured upstream).
    Denied,
}

impl Failure {
    /// May the attempt be repeated for `method`?
    pub fn retryable(&self, method: &str) -> bool {
        match self {
            Failure::NotSent(_) => true,
            Failure::Denied => false,
            _ => safe_method(method),
        }
    }

    /// May the fallback backend serve the request instead?
    pub fn fallback_ok(&self, method: &str) -> bool {
        self.retryable(method)
    }

    /// The PostgREST-style error answering a request that ended this way.
    pub fn error(&self) -> contract::ApiError {
        use contract::ApiError;
        match self {
            Failure::NotSent(why) => ApiError::new(
                503,
                "SUPALITE503",
                "Could not connect to the upstream PostgREST",
            )
            .details(why.clone()),
            Failure::Timeout(why) => ApiError::new(
                504,
                "SUPALITE504",
                "The upstream PostgREST did not answer in time",
            )
            .details(why.clone()),
            Failure::Broken(why) => {
                ApiError::new(502, "SUPALITE502", "The upstream PostgREST failed")
                    .details(why.clone())
            }
            Failure::Unavailable(status) => ApiError::new(
                *status,
                "SUPALITE503",
                "The upstream PostgREST is unavailable",
            ),
            Failure::Denied => ApiError::new(
                502,
                "SUPALITE502",
                "The host refused the outgoing request: the upstream is not a configured upstream-url",
            ),
        }
    }
}

/// The error for a request refused by an open circuit breaker.
pub fn breaker_open() -> contract::ApiError {
    contract::ApiError::new(
        503,
        "SUPALITE503",
        "The upstream PostgREST is unavailable (circuit breaker open)",
    )
    .hint("Retry later: the breaker lets a probe through after its cool-down")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_env() {
        let p = Policy::from_env(|_| None);
        assert_eq!(p.retries, 2);
        assert!(!p.fallback);
        let p = Policy::from_env(|k| match k {
            "SUPALITE_UPSTREAM_RETRIES" => Some("5".into()),
            "SUPALITE_UPSTREAM_FALLBACK" => Some("true".into()),
            "SUPALITE_UPSTREAM_TIMEOUT_MS" => Some("nonsense".into()),
            _ => None,
        });
        assert_eq!(
            (p.retries, p.fallback, p.attempt_timeout_ms),
            (5, true, 15_000)
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = Policy::from_env(|_| None);
        assert!(p.backoff(1, u64::MAX) <= 50);
        assert!(p.backoff(3, u64::MAX - 7) <= 200);
        assert!(p.backoff(30, 12345) <= MAX_BACKOFF_MS);
        let spread: std::collections::HashSet<u64> = (0..100).map(|r| p.backoff(2, r)).collect();
        assert!(spread.len() > 50, "jitter spreads the waits");
    }

    #[test]
    fn only_safe_or_unsent_requests_are_repeated() {
        let refused = Failure::NotSent("refused".into());
        let timeout = Failure::Timeout("read".into());
        assert!(refused.retryable("POST"));
        assert!(!timeout.retryable("POST"));
        assert!(!Failure::Broken("cut".into()).retryable("PATCH"));
        assert!(timeout.retryable("GET"));
        assert!(Failure::Unavailable(503).retryable("HEAD"));
        assert!(!Failure::Unavailable(503).retryable("DELETE"));
        assert!(!Failure::Denied.retryable("GET"));
        assert_eq!(timeout.error().status, 504);
        assert_eq!(refused.error().status, 503);
        assert_eq!(Failure::Broken("x".into()).error().status, 502);
    }
}
