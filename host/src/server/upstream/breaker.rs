//! What the host remembers about upstreams across requests: a circuit
//! breaker and counters per upstream URL (admission, attempts recorded).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker.
    pub failures: u32,
    /// How long it stays open before one probe is let through.
    pub cooldown: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allow,
    Probe,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BreakerState {
    Closed,
    Open {
        since: Instant,
    },
    /// A probe is out since `since`; everyone else is rejected.
    HalfOpen {
        since: Instant,
    },
}

/// Latency histogram buckets (seconds), as Prometheus expects them.
pub(super) const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Debug, Clone)]
pub(super) struct Upstream {
    pub(super) state: BreakerState,
    pub(super) consecutive_failures: u32,
    pub(super) requests: u64,
    pub(super) retries: u64,
    pub(super) failures: u64,
    pub(super) rejected: u64,
    pub(super) fallbacks: u64,
    pub(super) opened: u64,
    pub(super) latency_buckets: [u64; BUCKETS.len()],
    pub(super) latency_sum_s: f64,
}

impl Upstream {
    fn new() -> Upstream {
        Upstream {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            requests: 0,
            retries: 0,
            failures: 0,
            rejected: 0,
            fallbacks: 0,
            opened: 0,
            latency_buckets: [0; BUCKETS.len()],
            latency_sum_s: 0.0,
        }
    }
}

/// Shared by every request of the process.
#[derive(Clone)]
pub struct Upstreams {
    config: BreakerConfig,
    pub(super) inner: Arc<Mutex<BTreeMap<String, Upstream>>>,
}

impl Upstreams {
    pub fn new(config: BreakerConfig) -> Upstreams {
        Upstreams {
            config,
            inner: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Upstream) -> T) -> T {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(name.to_string()).or_insert_with(Upstream::new))
    }

    /// May an attempt be sent now?
    pub fn admit(&self, name: &str) -> Admission {
        self.admit_at(name, Instant::now())
    }

    fn admit_at(&self, name: &str, now: Instant) -> Admission {
        let cooldown = self.config.cooldown;
        self.with(name, |u| {
            let decision = match u.state {
                BreakerState::Closed => Admission::Allow,
                BreakerState::Open { since } | BreakerState::HalfOpen { since }
                    if now.duration_since(since) >= cooldown =>
                {
                    // Cool-down over (or the last probe never reported back):
                    // let one probe through.
                    u.state = BreakerState::HalfOpen { since: now };
                    Admission::Probe
                }
                _ => Admission::Reject,
            };
            if decision == Admission::Reject {
                u.rejected += 1;
            }
            decision
        })
    }

    /// Records one attempt that was sent.
    pub fn record(&self, name: &str, succeeded: bool, retry: bool, latency: Duration) {
        self.record_at(name, succeeded, retry, latency, Instant::now())
    }

    fn record_at(&self, name: &str, ok: bool, retry: bool, latency: Duration, now: Instant) {
        let threshold = self.config.failures.max(1);
        let opened = self.with(name, |u| {
            u.requests += 1;
            u.retries += retry as u64;
            let s = latency.as_secs_f64();
            u.latency_sum_s += s;
            for (i, b) in BUCKETS.iter().enumerate() {
                if s <= *b {
                    u.latency_buckets[i] += 1;
                }
            }
            if ok {
                u.consecutive_failures = 0;
                u.state = BreakerState::Closed;
                return false;
            }
            u.failures += 1;
            u.consecutive_failures += 1;
            let open = matches!(u.state, BreakerState::HalfOpen { .. })
                || (u.state == BreakerState::Closed && u.consecutive_failures >= threshold);
            if open {
                u.state = BreakerState::Open { since: now };
                u.opened += 1;
            }
            open
        });
        if opened {
            tracing::warn!(upstream = name, "circuit breaker opened");
        }
    }

    pub fn record_fallback(&self, name: &str) {
        self.with(name, |u| u.fallbacks += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ups() -> Upstreams {
        Upstreams::new(BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(5),
        })
    }

    #[test]
    fn breaker_opens_after_consecutive_failures_and_probes_after_cooldown() {
        let u = ups();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(u.admit_at("a", t0), Admission::Allow);
        u.record_at("a", false, false, ms(1), t0);
        u.record_at("a", false, true, ms(1), t0);
        u.record_at("a", true, true, ms(1), t0); // a success resets the count
        u.record_at("a", false, false, ms(1), t0);
        u.record_at("a", false, false, ms(1), t0);
        assert_eq!(u.admit_at("a", t0), Admission::Allow);
        u.record_at("a", false, false, ms(1), t0);
        assert_eq!(u.admit_at("a", t0 + ms(10)), Admission::Reject);
        assert_eq!(u.admit_at("b", t0), Admission::Allow, "per upstream");
        // After the cool-down exactly one probe goes through.
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(u.admit_at("a", t1), Admission::Probe);
        assert_eq!(u.admit_at("a", t1), Admission::Reject);
        // A failed probe opens it again; a successful one closes it.
        u.record_at("a", false, false, ms(1), t1);
        assert_eq!(u.admit_at("a", t1 + ms(1)), Admission::Reject);
        let t2 = t1 + Duration::from_secs(6);
        assert_eq!(u.admit_at("a", t2), Admission::Probe);
        u.record_at("a", true, false, ms(1), t2);
        assert_eq!(u.admit_at("a", t2), Admission::Allow);
        // A probe that never reports back does not wedge the breaker.
        for _ in 0..3 {
            u.record_at("a", false, false, ms(1), t2);
        }
        let t3 = t2 + Duration::from_secs(6);
        assert_eq!(u.admit_at("a", t3), Admission::Probe);
        assert_eq!(
            u.admit_at("a", t3 + Duration::from_secs(6)),
            Admission::Probe
        );
    }
}
