//! `X-Forwarded-For`: the peer's address appended, as a proxy does.

use super::super::edge::Request;
use std::task::{Context, Poll};

/// The connection's peer address, put in each request's extensions by the
/// accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

#[derive(Clone, Copy, Default)]
pub struct ForwardedForLayer;

impl<S> tower::Layer<S> for ForwardedForLayer {
    type Service = ForwardedFor<S>;
    fn layer(&self, inner: S) -> ForwardedFor<S> {
        ForwardedFor { inner }
    }
}

#[derive(Clone)]
pub struct ForwardedFor<S> {
    inner: S,
}

/// Appends `peer` to the request's `X-Forwarded-For`.
fn append(headers: &mut http::HeaderMap, peer: std::net::IpAddr) {
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {peer}"),
        None => peer.to_string(),
    };
    if let Ok(v) = http::HeaderValue::from_str(&forwarded) {
        headers.insert("x-forwarded-for", v);
    }
}

impl<S: tower::Service<Request>> tower::Service<Request> for ForwardedFor<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> S::Future {
        if let Some(Peer(peer)) = req.extensions().get::<Peer>().copied() {
            append(req.headers_mut(), peer.ip());
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peer_is_appended() {
        let mut h = http::HeaderMap::new();
        super::append(&mut h, [10, 0, 0, 1].into());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        super::append(&mut h, [127, 0, 0, 1].into());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    }
}
