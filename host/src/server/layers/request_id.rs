//! `X-Request-Id`: the client's, when usable (present, not empty, at most
//! 200 bytes), else a new UUID. Set on the request before any component
//! sees it, so the rewriter passes it on and decorates the answer with it,
//! and the server's own answers (deadline, 500) carry the same one.

use super::super::edge::{new_request_id, usable_request_id, BoxFuture, Request, Response};
use std::task::{Context, Poll};

/// The request's id, in its answer's extensions (for the request log, when
/// the answer does not carry it in a header).
#[derive(Clone, Debug)]
pub struct AssignedId(pub http::HeaderValue);

#[derive(Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId { inner }
    }
}

#[derive(Clone)]
pub struct RequestId<S> {
    inner: S,
}

/// Makes sure `headers` carry a usable `X-Request-Id` (all of a client's
/// unusable ones replaced by one new id); answers it.
pub fn ensure(headers: &mut http::HeaderMap) -> Option<http::HeaderValue> {
    if let Some(id) = headers.get("x-request-id").filter(|v| usable_request_id(v)) {
        return Some(id.clone());
    }
    let id = http::HeaderValue::from_str(&new_request_id()).ok()?;
    headers.insert("x-request-id", id.clone());
    Some(id)
}

impl<S> tower::Service<Request> for RequestId<S>
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

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = ensure(req.headers_mut());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let mut resp = answer.await?;
            if let Some(id) = id {
                resp.extensions_mut().insert(AssignedId(id));
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ensure;

    #[test]
    fn a_usable_id_is_kept_any_other_replaced() {
        let mut h = http::HeaderMap::new();
        h.insert("x-request-id", "mine".parse().unwrap());
        ensure(&mut h);
        assert_eq!(h["x-request-id"], "mine");
        for bad in ["", &"x".repeat(201)] {
            let mut h = http::HeaderMap::new();
            h.append("x-request-id", bad.parse().unwrap());
            h.append("x-request-id", "second".parse().unwrap());
            ensure(&mut h);
            let ids: Vec<_> = h.get_all("x-request-id").iter().collect();
            assert_eq!(ids.len(), 1);
            let id = ids[0].to_str().unwrap();
            assert_eq!((id.len(), &id[14..15]), (36, "4"), "{id}");
        }
        let mut h = http::HeaderMap::new();
        ensure(&mut h);
        assert_eq!(h["x-request-id"].len(), 36);
    }
}
