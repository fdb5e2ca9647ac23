//! The adapter: a `backend` that forwards each request to a real PostgREST
//! over `wasi:http/outgoing-handler` and returns its answer.
//!
//! Per attempt and total timeouts, bounded retries with exponential back-off
//! and jitter (safe methods, or requests that never reached the upstream),
//! a circuit breaker whose state the host keeps (`upstream` import), and an
//! optional fallback to the `backend` import (the bridge on the same
//! database) for requests the upstream cannot serve. Settings: see
//! [`policy::Policy`]; the upstream is `SUPALITE_UPSTREAM_URL`, e.g.
//! `http://127.0.0.1:3000`.

pub mod policy;
/// Splits `http://host:port/base` into (scheme, authority, base path).
pub fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    (!authority.is_empty() && (scheme == "http" || scheme == "https"))
        .then_some((scheme, authority, base))
}

/// Request headers that must not be forwarded (hop-by-hop, or set by the
/// HTTP client itself).
pub fn forwardable(name: &str) -> bool {
    !matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "http2-settings"
            | "content-length"
    )
}

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::adapter::*;

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    use crate::policy::{self, Failure, Policy};
    use exports::supalite::api::backend::Guest;
    use std::time::{Duration, Instant};
    use supalite::api::types::{Identity, Request, Response};
    use supalite::api::upstream::{self, Admission, Attempt};
    use wasi::clocks::monotonic_clock;
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasi::io::poll::{poll, Pollable};
    use wasi::io::streams::StreamError;

    struct Adapter;

    /// How forwarding ended when the upstream gave no usable answer.
    enum Unserved {
        /// The breaker is open; nothing was sent.
        BreakerOpen,
        /// The last attempt failed; for `Unavailable` the upstream's own
        /// answer is kept to pass on.
        Failed(Failure, Option<Response>),
    }

    impl Guest for Adapter {
        fn handle(req: Request, who: Identity) -> Response {
            SETTINGS.with(|(policy, url)| serve(req, who, policy, url))
        }
    }

    thread_local! {
        /// Read once per instance (the environment does not change).
        static SETTINGS: (Policy, String) = (
            Policy::from_env(|k| setting(k)),
            contract::settings::UPSTREAM_URL.text(setting).unwrap_or_default(),
        );
    }

    fn serve(req: Request, who: Identity, policy: &Policy, url: &str) -> Response {
        let Some(target) = crate::split_url(url) else {
            return api_error(contract::ApiError::new(
                500,
                "SUPALITE500",
                "No valid upstream URL is configured (SUPALITE_UPSTREAM_URL)",
            ));
        };
        let unserved = match forward(&req, policy, url, target) {
            Ok(resp) => return resp,
            Err(u) => u,
        };
        let reason = match &unserved {
            Unserved::BreakerOpen => Some("breaker-open"),
            Unserved::Failed(f, _) if f.fallback_ok(&req.method) => Some(match f {
                Failure::NotSent(_) => "connect-failed",
                Failure::Timeout(_) => "timeout",
                Failure::Unavailable(_) => "unavailable",
                _ => "failed",
            }),
            Unserved::Failed(..) => None,
        };
        if let (true, Some(reason)) = (policy.fallback, reason) {
            upstream::record_fallback(url);
            let mut resp = supalite::api::backend::handle(&req, &who);
            resp.headers.push((
                "x-supalite-fallback".into(),
                format!("bridge; reason={reason}"),
            ));
            return resp;
        }
        match unserved {
            Unserved::BreakerOpen => {
                let mut r = api_error(policy::breaker_open());
                r.headers.push(("retry-after".into(), "1".into()));
                r
            }
            Unserved::Failed(_, Some(upstream_answer)) => upstream_answer,
            Unserved::Failed(f, None) => api_error(f.error()),
        }
    }

    fn api_error(e: contract::ApiError) -> Response {
        let r: contract::Response = e.into();
        Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }

    /// Attempts until an answer, a failure that may not be repeated, the
    /// retry budget or the total deadline.
    fn forward(
        req: &Request,
        policy: &Policy,
        url: &str,
        target: (&str, &str, &str),
    ) -> Result<Response, Unserved> {
        let deadline = Instant::now() + Duration::from_millis(policy.total_timeout_ms);
        let mut retry = 0u32;
        loop {
            if upstream::admit(url) == Admission::Reject {
                return Err(Unserved::BreakerOpen);
            }
            let now = Instant::now();
            let budget = deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(policy.attempt_timeout_ms));
            let outcome = attempt(req, target, budget);
            let latency_us = now.elapsed().as_micros() as u64;
            let (failure, answer) = match outcome {
                Ok(resp) if matches!(resp.status, 502..=504) => {
                    (Failure::Unavailable(resp.status), Some(resp))
                }
                Ok(resp) => {
                    upstream::record_attempt(
                        url,
                        Attempt {
                            succeeded: true,
                            retry: retry > 0,
                            latency_us,
                        },
                    );
                    return Ok(resp);
                }
                Err(f) => (f, None),
            };
            if failure != Failure::Denied {
                upstream::record_attempt(
                    url,
                    Attempt {
                        succeeded: false,
                        retry: retry > 0,
                        latency_us,
                    },
                );
            }
            if retry >= policy.retries || !failure.retryable(&req.method) {
                return Err(Unserved::Failed(failure, answer));
            }
            retry += 1;
            let wait = Duration::from_millis(policy.backoff(retry, random()));
            if Instant::now() + wait >= deadline {
                return Err(Unserved::Failed(failure, answer));
            }
            monotonic_clock::subscribe_duration(wait.as_nanos() as u64).block();
        }
    }

    fn random() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    }

    /// Waits for `p` until `deadline`; false when the deadline came first.
    fn wait(p: &Pollable, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        let timer = monotonic_clock::subscribe_duration(left.as_nanos() as u64);
        let ready = poll(&[p, &timer]);
        ready.contains(&0)
    }

    fn classify(code: &ErrorCode) -> Failure {
        match code {
            ErrorCode::DnsTimeout
            | ErrorCode::DnsError(_)
            | ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DestinationIpProhibited
            | ErrorCode::DestinationIpUnroutable
            | ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionLimitReached => Failure::NotSent(format!("{code:?}")),
            ErrorCode::HttpRequestDenied => Failure::Denied,
            ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionWriteTimeout => {
                Failure::Timeout(format!("{code:?}"))
            }
            other => Failure::Broken(format!("{other:?}")),
        }
    }

    /// One attempt, bounded by `budget` from start to the end of the body.
    fn attempt(
        req: &Request,
        (scheme, authority, base): (&str, &str, &str),
        budget: Duration,
    ) -> Result<Response, Failure> {
        let deadline = Instant::now() + budget;
        let late = || {
            Failure::Timeout(format!(
                "no complete answer within {} ms",
                budget.as_millis()
            ))
        };
        let mut headers: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .filter(|(k, _)| crate::forwardable(k))
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        // The whole body is at hand: send its length rather than chunks.
        if !req.body.is_empty()
            || !matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "DELETE")
        {
            headers.push((
                "content-length".into(),
                req.body.len().to_string().into_bytes(),
            ));
        }
        let fields = Fields::from_list(&headers)
            .map_err(|e| Failure::Broken(format!("bad request header: {e:?}")))?;
        let out = OutgoingRequest::new(fields);
        let method = match req.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        };
        let _ = out.set_method(&method);
        let pq = if req.query.is_empty() {
            format!("{base}{}", req.path)
        } else {
            format!("{base}{}?{}", req.path, req.query)
        };
        let _ = out.set_path_with_query(Some(&pq));
        let _ = out.set_scheme(Some(&if scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        }));
        let _ = out.set_authority(Some(authority));
        let options = RequestOptions::new();
        let ns = budget.as_nanos().max(1_000_000) as u64;
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));

        let body = out
            .body()
            .map_err(|_| Failure::Broken("could not open the request body".into()))?;
        let future = outgoing_handler::handle(out, Some(options)).map_err(|e| classify(&e))?;
        {
            let stream = body
                .write()
                .map_err(|_| Failure::Broken("could not write the request body".into()))?;
            for chunk in req.body.chunks(4096) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    break; // the answer (or its error) says why
                }
            }
        }
        let _ = OutgoingBody::finish(body, None);

        let incoming = loop {
            match future.get() {
                Some(result) => break result,
                None => {
                    if !wait(&future.subscribe(), deadline) {
                        return Err(late());
                    }
                }
            }
        };
        let resp = match incoming {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(classify(&e)),
            Err(()) => {
                return Err(Failure::Broken(
                    "upstream response was already taken".into(),
                ))
            }
        };
        let status = resp.status();
        let headers = resp
            .headers()
            .entries()
            .into_iter()
            .filter(|(k, _)| crate::forwardable(k))
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let mut bytes = Vec::new();
        let incoming_body = resp
            .consume()
            .map_err(|_| Failure::Broken("upstream body unavailable".into()))?;
        {
            let stream = incoming_body
                .stream()
                .map_err(|_| Failure::Broken("upstream body unavailable".into()))?;
            loop {
                match stream.read(64 * 1024) {
                    Ok(chunk) if chunk.is_empty() => {
                        if !wait(&stream.subscribe(), deadline) {
                            return Err(late());
                        }
                    }
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(Failure::Broken(format!(
                            "the upstream response body was cut off: {}",
                            e.to_debug_string()
                        )));
                    }
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    }

    guest::adapter::export_adapter!(Adapter);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:3000"),
            Some(("http", "127.0.0.1:3000", ""))
        );
        assert_eq!(
            split_url("https://x.test/api/"),
            Some(("https", "x.test", "/api"))
        );
        assert_eq!(split_url("ftp://x"), None);
        assert_eq!(split_url("nonsense"), None);
        assert!(!forwardable("connection"));
        assert!(forwardable("prefer"));
    }
}
