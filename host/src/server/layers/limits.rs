//! The HTTP limits: a request target or header block over them is answered
//! 414 or 431 in PostgREST's JSON shape and goes no further.

use super::super::edge::{http_error, BoxFuture, Request, Response};
use std::task::{Context, Poll};

/// Longest request target (path and query) and most header bytes and
/// fields accepted. hyper's own limits sit above these (a 65,534-byte
/// target, 400 header fields, its ~400 KB read buffer; it answers 414/431
/// with an empty body, which `targets` completes), so that a client gets
/// these answers in PostgREST's shape instead.
pub const MAX_URI_BYTES: usize = 48 << 10;
pub const MAX_HEADER_BYTES: usize = 64 << 10;
pub const MAX_HEADERS: usize = 100;

/// 414 or 431 for a request over the limits above.
pub fn over_http_limits<B>(req: &hyper::Request<B>) -> Option<Response> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(http_error(
            req.headers(),
            414,
            "SUPALITE414",
            "URI Too Long",
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(http_error(
            headers,
            431,
            "SUPALITE431",
            "Request Header Fields Too Large",
        ));
    }
    None
}

#[derive(Clone, Copy, Default)]
pub struct HttpLimitsLayer;

impl<S> tower::Layer<S> for HttpLimitsLayer {
    type Service = HttpLimits<S>;
    fn layer(&self, inner: S) -> HttpLimits<S> {
        HttpLimits { inner }
    }
}

#[derive(Clone)]
pub struct HttpLimits<S> {
    inner: S,
}

impl<S> tower::Service<Request> for HttpLimits<S>
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
        match over_http_limits(&req) {
            Some(refused) => Box::pin(std::future::ready(Ok(refused))),
            None => Box::pin(self.inner.call(req)),
        }
    }
}
