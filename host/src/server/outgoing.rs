//! `wasi:http/outgoing-handler`: only to the configured upstreams.

use anyhow::Result;
use std::sync::Arc;

/// Outgoing HTTP is allowed only to the configured upstreams (by URI
/// authority, `host:port` as written in `upstream-url`): a component in the
/// pipeline cannot be used to reach anything else.
#[derive(Clone, Default)]
pub struct UpstreamOnly {
    allowed: Arc<Vec<String>>,
}

impl UpstreamOnly {
    pub fn new(urls: &[&str]) -> UpstreamOnly {
        let allowed = urls
            .iter()
            .filter_map(|u| u.parse::<http::Uri>().ok())
            .filter_map(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()))
            .collect();
        UpstreamOnly {
            allowed: Arc::new(allowed),
        }
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        uri.authority().is_some_and(|a| {
            self.allowed
                .iter()
                .any(|x| x.eq_ignore_ascii_case(a.as_str()))
        })
    }
}

impl wasmtime_wasi_http::WasiHttpHooks for UpstreamOnly {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<
                            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                                + Send,
                        >,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        if !self.allows(request.uri()) {
            tracing::warn!(uri = %request.uri(), "outgoing request denied: not a configured upstream");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        wasmtime_wasi_http::default_hooks().send_request(request, options, fut)
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamOnly;

    #[test]
    fn outgoing_requests_only_to_upstreams() {
        let hooks =
            UpstreamOnly::new(&["http://127.0.0.1:3000/rest/v1", "https://api.example.com"]);
        assert!(hooks.allows(&"http://127.0.0.1:3000/todos".parse().unwrap()));
        assert!(hooks.allows(&"https://API.example.com/x".parse().unwrap()));
        assert!(!hooks.allows(&"http://127.0.0.1:3001/todos".parse().unwrap()));
        assert!(!hooks.allows(&"http://169.254.169.254/latest".parse().unwrap()));
        assert!(!UpstreamOnly::default().allows(&"http://127.0.0.1:3000/".parse().unwrap()));
    }
}
