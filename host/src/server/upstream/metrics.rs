//! The upstreams' counters in Prometheus text exposition format (the admin
//! listener's `/metrics`).

use super::breaker::{BreakerState, Upstream, Upstreams, BUCKETS};
use std::fmt::Write;

impl Upstreams {
    /// The counters in Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let series: [(&str, &str, &str, fn(&Upstream) -> u64); 6] = [
            (
                "supalite_upstream_requests_total",
                "counter",
                "Attempts sent to the upstream (retries included).",
                |u| u.requests,
            ),
            (
                "supalite_upstream_retries_total",
                "counter",
                "Attempts that repeated an earlier attempt.",
                |u| u.retries,
            ),
            (
                "supalite_upstream_failures_total",
                "counter",
                "Attempts that failed (refused, timeout, broken, 502/503/504).",
                |u| u.failures,
            ),
            (
                "supalite_upstream_rejected_total",
                "counter",
                "Requests refused by the open circuit breaker.",
                |u| u.rejected,
            ),
            (
                "supalite_upstream_fallbacks_total",
                "counter",
                "Requests served by the fallback backend instead.",
                |u| u.fallbacks,
            ),
            (
                "supalite_upstream_breaker_opened_total",
                "counter",
                "Times the circuit breaker opened.",
                |u| u.opened,
            ),
        ];
        for (name, kind, help, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (up, u) in map.iter() {
                let _ = writeln!(out, "{name}{{upstream=\"{}\"}} {}", escape(up), get(u));
            }
        }
        let _ = writeln!(out, "# HELP supalite_upstream_breaker_state Circuit breaker state: 0 closed, 1 open, 2 half-open.\n# TYPE supalite_upstream_breaker_state gauge");
        for (up, u) in map.iter() {
            let v = match u.state {
                BreakerState::Closed => 0,
                BreakerState::Open { .. } => 1,
                BreakerState::HalfOpen { .. } => 2,
            };
            let _ = writeln!(
                out,
                "supalite_upstream_breaker_state{{upstream=\"{}\"}} {v}",
                escape(up)
            );
        }
        let name = "supalite_upstream_latency_seconds";
        let _ = writeln!(out, "# HELP {name} Time from sending an attempt to the end of its answer.\n# TYPE {name} histogram");
        for (up, u) in map.iter() {
            let up = escape(up);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{upstream=\"{up}\",le=\"{b}\"}} {}",
                    u.latency_buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{upstream=\"{up}\",le=\"+Inf\"}} {}",
                u.requests
            );
            let _ = writeln!(out, "{name}_sum{{upstream=\"{up}\"}} {}", u.latency_sum_s);
            let _ = writeln!(out, "{name}_count{{upstream=\"{up}\"}} {}", u.requests);
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::breaker::BreakerConfig;
    use super::*;
    use std::time::Duration;

    fn ups() -> Upstreams {
        Upstreams::new(BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(5),
        })
    }

    #[test]
    fn prometheus_text() {
        let u = ups();
        u.record("http://x:1", true, false, Duration::from_millis(3));
        u.record("http://x:1", false, true, Duration::from_millis(30));
        u.record_fallback("http://x:1");
        let text = u.prometheus();
        assert!(text.contains("supalite_upstream_requests_total{upstream=\"http://x:1\"} 2"));
        assert!(text.contains("supalite_upstream_retries_total{upstream=\"http://x:1\"} 1"));
        assert!(text.contains("supalite_upstream_failures_total{upstream=\"http://x:1\"} 1"));
        assert!(text.contains("supalite_upstream_fallbacks_total{upstream=\"http://x:1\"} 1"));
        assert!(text.contains("supalite_upstream_breaker_state{upstream=\"http://x:1\"} 0"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("# TYPE supalite_upstream_latency_seconds histogram"));
    }
}
