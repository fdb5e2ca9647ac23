//! The request deadline: past it the request ends with 504 (SUPALITE504)
//! and its instance is dropped. Also where the pipeline's failures become
//! answers: a role past its `[role-deadline-ms]` (504), an epoch interrupt
//! (the deadline, seen from inside wasm: 504), anything else (500).

use super::super::edge::{http_error, internal_error, BoxFuture, Request, Response};
use super::super::state::RoleDeadline;
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

/// When a request's wait for a shared resource (PGlite's session) must
/// end: shortly before its deadline (5 % of it, 1 s at most), so that it
/// answers 503 with `Retry-After` instead of the deadline's 504. In the
/// request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct WaitUntil(pub std::time::Instant);

#[derive(Clone, Copy)]
pub struct DeadlineLayer {
    deadline: Duration,
}

impl DeadlineLayer {
    pub fn new(deadline: Duration) -> DeadlineLayer {
        DeadlineLayer { deadline }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            deadline: self.deadline,
        }
    }
}

#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    deadline: Duration,
}

/// The answer when the request deadline has passed.
fn late(id: Option<&http::HeaderValue>, deadline: Duration) -> Response {
    tracing::warn!(
        deadline_ms = deadline.as_millis() as u64,
        "request deadline reached"
    );
    http_error(
        &with_id(id),
        504,
        "SUPALITE504",
        &format!(
            "The request took longer than the request deadline ({} ms)",
            deadline.as_millis()
        ),
    )
}

fn with_id(id: Option<&http::HeaderValue>) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Some(id) = id {
        h.insert("x-request-id", id.clone());
    }
    h
}

/// The pipeline's failure as an answer.
fn failed(e: anyhow::Error, id: Option<&http::HeaderValue>, deadline: Duration) -> Response {
    if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return late(id, deadline);
    }
    if let Some(what) = e.downcast_ref::<RoleDeadline>() {
        return http_error(
            &with_id(id),
            504,
            "SUPALITE504",
            &format!("The request took too long: {what}"),
        );
    }
    internal_error(&e, id)
}

impl<S> tower::Service<Request> for Deadline<S>
where
    S: tower::Service<Request, Response = Response, Error = anyhow::Error>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The gateway is always ready; a failure here is answered on call.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = req.headers().get("x-request-id").cloned();
        let deadline = self.deadline;
        let margin = (deadline / 20).min(Duration::from_secs(1));
        req.extensions_mut()
            .insert(WaitUntil(std::time::Instant::now() + deadline - margin));
        let answer = self.inner.call(req);
        Box::pin(async move {
            Ok(match tokio::time::timeout(deadline, answer).await {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => failed(e, id.as_ref(), deadline),
                Err(_) => late(id.as_ref(), deadline),
            })
        })
    }
}
