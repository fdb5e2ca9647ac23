//! The anonymous request budget (`server-anon-requests-per-second`): per
//! client address, a token bucket of anonymous requests (two seconds'
//! worth, refilled at the rate). Anonymous: no token, the anonymous role's,
//! or one that does not verify (a forged token must not buy its way out);
//! a request with a verified token of another role is not counted. Past
//! the budget: 429 `SUPALITE429` with `Retry-After`, before the pipeline
//! runs.

use super::super::edge::{http_error, BoxFuture, Request, Response};
use super::ClientAddr;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

/// Client addresses whose buckets are kept before full ones are forgotten.
const MAX_CLIENTS: usize = 10_000;

pub struct Budget {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    jwt: jwt::Settings,
    verified: Mutex<jwt::TokenCache>,
}

/// Requests refused by the budget since start (for `/metrics`).
pub static REFUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Budget {
    pub fn new(per_second: u32, jwt: jwt::Settings) -> Budget {
        let rate = per_second as f64;
        Budget {
            rate,
            burst: (2.0 * rate).max(1.0),
            buckets: Mutex::new(HashMap::new()),
            jwt,
            verified: Mutex::new(jwt::TokenCache::new(1024)),
        }
    }

    /// Whether the request counts as anonymous.
    fn anonymous(&self, headers: &http::HeaderMap) -> bool {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, t) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| t.trim())
            })
            .or_else(|| headers.get("apikey").and_then(|v| v.to_str().ok()).map(str::trim));
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return true;
        };
        let headers = [("authorization".to_string(), format!("Bearer {token}"))];
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        match jwt::authenticate_cached(&self.jwt, &headers, &mut cache) {
            Ok(id) => id.role == self.jwt.anon_role,
            Err(_) => true,
        }
    }

    /// Takes one request from `client`'s bucket: `Err(seconds)` until the
    /// next one fits when it is empty.
    fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }

    /// The refusal for `req`, if its client is over the budget.
    fn check(&self, req: &Request) -> Option<Response> {
        let client = req.extensions().get::<ClientAddr>()?.0;
        if !self.anonymous(req.headers()) {
            return None;
        }
        let wait = self.take(client, Instant::now()).err()?;
        REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(%client, "anonymous request budget exhausted");
        let mut resp = http_error(
            req.headers(),
            429,
            "SUPALITE429",
            "Too many anonymous requests from this client address",
        );
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(wait));
        Some(resp)
    }
}

#[derive(Clone, Default)]
pub struct AnonBudgetLayer {
    budget: Option<Arc<Budget>>,
}

impl AnonBudgetLayer {
    /// No budget when `per_second` is 0.
    pub fn new(per_second: u32, jwt: jwt::Settings) -> AnonBudgetLayer {
        AnonBudgetLayer {
            budget: (per_second > 0).then(|| Arc::new(Budget::new(per_second, jwt))),
        }
    }
}

impl<S> tower::Layer<S> for AnonBudgetLayer {
    type Service = AnonBudget<S>;
    fn layer(&self, inner: S) -> AnonBudget<S> {
        AnonBudget {
            inner,
            budget: self.budget.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AnonBudget<S> {
    inner: S,
    budget: Option<Arc<Budget>>,
}

impl<S> tower::Service<Request> for AnonBudget<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.budget.as_ref().and_then(|b| b.check(&req)) {
            Some(refused) => Box::pin(std::future::ready(Ok(refused))),
            None => Box::pin(self.inner.call(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_two_seconds_and_refills() {
        let b = Budget::new(
            2,
            jwt::Settings {
                secret: Some("x".repeat(32)),
                secret_is_base64: false,
                keys: None,
                anon_role: "anon".into(),
                audience: None,
                role_claim_key: ".role".into(),
                allowed_roles: vec![],
            },
        );
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t = Instant::now();
        for _ in 0..4 {
            assert!(b.take(ip, t).is_ok());
        }
        assert_eq!(b.take(ip, t), Err(1));
        assert!(b.take([10, 0, 0, 2].into(), t).is_ok(), "another client has its own");
        assert!(b.take(ip, t + std::time::Duration::from_millis(600)).is_ok());
        let mut h = http::HeaderMap::new();
        assert!(b.anonymous(&h));
        h.insert("apikey", "forged.token.here".parse().unwrap());
        assert!(b.anonymous(&h), "a token that does not verify counts as anonymous");
    }
}
