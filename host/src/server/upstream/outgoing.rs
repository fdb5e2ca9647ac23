//! `wasi:http/outgoing-handler`: the adapter to the configured upstreams,
//! a role granted it to the origins of its own `[outbound]` list.

use crate::config::Outbound;
use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Outgoing HTTP is allowed only to the configured upstreams (by URI
/// authority, `host:port` as written in `upstream-url`): a component in the
/// pipeline cannot be used to reach anything else.
#[derive(Clone, Default)]
pub struct UpstreamOnly {
    allowed: Arc<Vec<String>>,
    /// When the host tells roles apart: each role's `[outbound]` list.
    roles: Option<Arc<BTreeMap<String, Vec<Outbound>>>>,
    /// The role whose `handle` call is being served (`grants`), if known.
    pub(in crate::server) caller: Option<String>,
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
            roles: None,
            caller: None,
        }
    }

    /// Outgoing requests by role (see `grants`): the adapter's to the
    /// upstreams, another role's to its own `[outbound]` origins.
    pub fn by_role(mut self, roles: BTreeMap<String, Vec<Outbound>>) -> UpstreamOnly {
        self.roles = Some(Arc::new(roles));
        self
    }

    /// Whether the calling role (`caller`) may send a request to `uri`.
    pub fn permits(&self, uri: &http::Uri) -> bool {
        let Some(roles) = &self.roles else {
            return self.allows(uri);
        };
        match self.caller.as_deref() {
            Some("adapter") => self.allows(uri),
            Some(role) => uri.authority().is_some_and(|a| {
                roles
                    .get(role)
                    .is_some_and(|list| list.iter().any(|o| o.allows_http(a.as_str())))
            }),
            None => false,
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
        if !self.permits(request.uri()) {
            match (&self.roles, &self.caller) {
                (Some(_), Some(role)) if role != "adapter" => tracing::warn!(
                    uri = %request.uri(),
                    "the {role} component's outgoing request was denied: not in its [outbound] list"
                ),
                _ => {
                    tracing::warn!(uri = %request.uri(), "outgoing request denied: not a configured upstream")
                }
            }
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

    #[test]
    fn by_role_the_adapter_reaches_upstreams_a_granted_role_its_origins() {
        use crate::config::Outbound;
        let roles = [(
            "rewriter".to_string(),
            vec![Outbound::Http {
                authority: "flags.example:8080".into(),
            }],
        )]
        .into_iter()
        .collect();
        let mut hooks = UpstreamOnly::new(&["http://127.0.0.1:3000"]).by_role(roles);
        let upstream: http::Uri = "http://127.0.0.1:3000/todos".parse().unwrap();
        let flags: http::Uri = "http://flags.example:8080/v1".parse().unwrap();
        let cases = [
            (Some("adapter"), true, false),
            (Some("rewriter"), false, true),
            (Some("bridge"), false, false),
            (None, false, false),
        ];
        for (caller, to_upstream, to_flags) in cases {
            hooks.caller = caller.map(str::to_string);
            assert_eq!(
                (hooks.permits(&upstream), hooks.permits(&flags)),
                (to_upstream, to_flags),
                "{caller:?}"
            );
        }
    }
}
