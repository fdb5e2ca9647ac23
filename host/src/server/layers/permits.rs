//! Permits: at most so many of a route's requests run at once, the others
//! wait their turn (outside the request deadline). The auth routes take
//! them: password hashing is deliberately slow, and must leave worker
//! threads to the data API.

use super::super::edge::{BoxFuture, Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct PermitsLayer {
    permits: Arc<Semaphore>,
}

impl PermitsLayer {
    /// `n` requests at once, shared by every service this layer wraps.
    pub fn new(n: usize) -> PermitsLayer {
        PermitsLayer {
            permits: Arc::new(Semaphore::new(n)),
        }
    }

    /// Half the cores (at least one): what the auth routes get.
    pub fn half_the_cores() -> PermitsLayer {
        PermitsLayer::new(
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .div_ceil(2),
        )
    }
}

impl<S> tower::Layer<S> for PermitsLayer {
    type Service = Permits<S>;
    fn layer(&self, inner: S) -> Permits<S> {
        Permits {
            inner,
            permits: self.permits.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Permits<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S> tower::Service<Request> for Permits<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let mut inner = super::take(&mut self.inner);
        let permits = self.permits.clone();
        Box::pin(async move {
            let _turn = permits.acquire().await.ok();
            inner.call(req).await
        })
    }
}
