//! The body budget (`server-body-memory-mb`): request bodies in flight, in
//! KiB. Each copy of a body through the stages costs its size again, so
//! without a bound 64 clients posting 9 MB each took 3.4 GB. A request
//! whose body does not fit waits for room, within its deadline (this layer
//! sits inside the deadline's).

use super::super::edge::{BoxFuture, Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct BodyBudgetLayer {
    budget: Arc<Semaphore>,
    total_kib: u32,
    max_body: usize,
}

impl BodyBudgetLayer {
    /// `bytes` of bodies at once; `max_body`: the body limit, what a
    /// chunked body (no `Content-Length`) is counted as.
    pub fn new(bytes: u64, max_body: usize) -> BodyBudgetLayer {
        let total_kib = (bytes >> 10).min(u32::MAX as u64) as u32;
        BodyBudgetLayer {
            budget: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            max_body,
        }
    }
}

impl<S> tower::Layer<S> for BodyBudgetLayer {
    type Service = BodyBudget<S>;
    fn layer(&self, inner: S) -> BodyBudget<S> {
        BodyBudget {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct BodyBudget<S> {
    inner: S,
    layer: BodyBudgetLayer,
}

/// What a request's body may take, in KiB: its `Content-Length`, else
/// (chunked) the body limit, unless the method has no body.
pub fn body_kib(headers: &http::HeaderMap, max_body: usize) -> u32 {
    let announced = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = match announced {
        // Refused (413) before a byte of it is read.
        Some(n) if n > max_body as u64 => 0,
        Some(n) => n,
        None if headers.contains_key(hyper::header::TRANSFER_ENCODING) => max_body as u64,
        None => 0,
    };
    bytes.div_ceil(1024).min(u32::MAX as u64) as u32
}

impl<S> tower::Service<Request> for BodyBudget<S>
where
    S: tower::Service<Request, Response = Response, Error = anyhow::Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = anyhow::Error;
    type Future = BoxFuture<Result<Response, anyhow::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), anyhow::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // Its share while it runs: the announced length, or the most a
        // body may be (never more than the whole budget).
        let kib = body_kib(req.headers(), self.layer.max_body).min(self.layer.total_kib);
        let budget = self.layer.budget.clone();
        let mut inner = super::take(&mut self.inner);
        Box::pin(async move {
            let _bytes = match kib {
                0 => None,
                n => Some(budget.acquire_many(n).await?),
            };
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::body_kib;

    #[test]
    fn a_body_counts_its_announced_length_or_the_limit() {
        let mut h = http::HeaderMap::new();
        assert_eq!(body_kib(&h, 10 << 20), 0);
        h.insert("content-length", "1025".parse().unwrap());
        assert_eq!(body_kib(&h, 10 << 20), 2);
        h.insert("content-length", "99999999".parse().unwrap());
        assert_eq!(body_kib(&h, 10 << 20), 0, "refused before it is read");
        let mut h = http::HeaderMap::new();
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        assert_eq!(body_kib(&h, 10 << 20), 10 << 10);
    }
}
