//! The request log: one line per request at debug level (server errors at
//! warn), with the request id its answer carries (the one the rewriter
//! passed on), else the one the host assigned it.

use super::super::edge::{BoxFuture, Request, Response};
use super::request_id::AssignedId;
use std::task::{Context, Poll};

#[derive(Clone, Copy, Default)]
pub struct RequestLogLayer;

impl<S> tower::Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;
    fn layer(&self, inner: S) -> RequestLog<S> {
        RequestLog { inner }
    }
}

#[derive(Clone)]
pub struct RequestLog<S> {
    inner: S,
}

/// One request's line.
pub fn log_request(
    method: &hyper::Method,
    path: &str,
    status: u16,
    request_id: Option<&http::HeaderValue>,
    started: std::time::Instant,
) {
    let id = request_id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = id, %method, path, status, ms, "request failed");
    } else {
        tracing::debug!(request_id = id, %method, path, status, ms, "request");
    }
}

impl<S> tower::Service<Request> for RequestLog<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = std::time::Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let resp = answer.await?;
            let id = resp.headers().get("x-request-id").or_else(|| {
                resp.extensions().get::<AssignedId>().map(|a| &a.0)
            });
            log_request(&method, &path, resp.status().as_u16(), id, started);
            Ok(resp)
        })
    }
}
