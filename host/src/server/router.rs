//! The route table: a public path prefix → the service that serves it,
//! by the longest prefix that matches at a segment boundary (`/rest/v1`
//! takes `/rest/v1` and `/rest/v1/...`, not `/rest/v10`; the empty prefix,
//! route `/`, takes every path), else the fallback. A new role plugs in a
//! service of its own at its prefix without touching the others.

use super::edge::Request;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::util::Oneshot;
use tower::ServiceExt;

/// A typed route table over services of one type `S` (boxed, when the
/// routes' services differ).
#[derive(Clone)]
pub struct Router<S> {
    table: Arc<Table<S>>,
}

struct Table<S> {
    /// (prefix without its trailing `/`, service).
    routes: Vec<(String, S)>,
    fallback: S,
}

/// Builds a [`Router`].
pub struct Builder<S> {
    routes: Vec<(String, S)>,
}

impl<S> Router<S> {
    pub fn builder() -> Builder<S> {
        Builder { routes: Vec::new() }
    }

    /// The service for `path`.
    pub fn find(&self, path: &str) -> &S {
        self.table
            .routes
            .iter()
            .filter(|(prefix, _)| matches(path, prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(&self.table.fallback, |(_, s)| s)
    }
}

impl<S> Builder<S> {
    /// Serves `prefix` (and the paths below it) with `service`; a prefix
    /// given again replaces the earlier one.
    pub fn route(mut self, prefix: &str, service: S) -> Builder<S> {
        let prefix = prefix.trim_end_matches('/').to_string();
        self.routes.retain(|(p, _)| *p != prefix);
        self.routes.push((prefix, service));
        self
    }

    /// The service for every path no route takes.
    pub fn fallback(self, service: S) -> Router<S> {
        Router {
            table: Arc::new(Table {
                routes: self.routes,
                fallback: service,
            }),
        }
    }
}

/// `path` is `prefix` or below it.
fn matches(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<S> tower::Service<Request> for Router<S>
where
    S: tower::Service<Request> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Oneshot<S, Request>;

    /// Always ready: the route's own service is readied on call.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.find(req.uri().path()).clone().oneshot(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_at_a_segment_boundary_wins() {
        let r = Router::builder()
            .route("/rest/v1", "rest")
            .route("/auth/v1/", "auth")
            .route("/rest/v1/rpc", "rpc")
            .fallback("none");
        for (path, want) in [
            ("/rest/v1", "rest"),
            ("/rest/v1/", "rest"),
            ("/rest/v1/todos", "rest"),
            ("/rest/v10", "none"),
            ("/rest/v1/rpc/f", "rpc"),
            ("/auth/v1", "auth"),
            ("/auth/v1/token", "auth"),
            ("/", "none"),
            ("/storage/v1/object", "none"),
        ] {
            assert_eq!(*r.find(path), want, "{path}");
        }
        let root = Router::builder()
            .route("/", "root")
            .route("/auth/v1", "auth")
            .fallback("none");
        assert_eq!(*root.find("/todos"), "root");
        assert_eq!(*root.find("/auth/v1/user"), "auth");
    }
}
