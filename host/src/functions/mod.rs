//! Edge functions: `/functions/v1/NAME[/sub/path]` runs the user's
//! `wasi:http/incoming-handler` component `<functions-dir>/NAME/function.wasm`
//! as the Supabase CLI's edge runtime runs a function:
//!
//! - `policy`: what its main worker decides (which function, the token
//!   check, its own answers, the function's environment), plain Rust;
//! - `loader`: the functions' engine and compiled components (recompiled
//!   when the file changes);
//! - `run`: one invocation under the limits, bodies streamed.
//!
//! The decision logic is a plain module the host links, not a role
//! component of its own (see the README's "Edge functions").

mod loader;
pub mod policy;
mod run;

use crate::config::Config;
use anyhow::Result;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

pub use run::Response;

/// A request as hyper hands it over.
pub type Request = hyper::Request<hyper::body::Incoming>;

/// supalite's own origin (`http://127.0.0.1:PORT`), set once it listens.
static OWN_ORIGIN: OnceLock<String> = OnceLock::new();

/// Records where supalite listens: the functions' `SUPABASE_URL`, and the
/// origin their outgoing requests may reach.
pub fn set_listen_addr(addr: std::net::SocketAddr) {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let _ = OWN_ORIGIN.set(format!("http://{ip}:{}", addr.port()));
}

struct Inner {
    loader: loader::Loader,
    policy: policy::Policy,
    /// The origin from the configuration, until the listener is known.
    configured_origin: String,
    secrets: policy::Secrets,
    allowed_origins: Arc<Vec<String>>,
    limits: run::Limits,
    jwt: jwt::Settings,
}

/// The `/functions/v1` service.
#[derive(Clone)]
pub struct Functions {
    inner: Arc<Inner>,
}

/// A `.env` file's variables (none when it is missing, unreadable or too
/// large).
async fn dotenv(path: &Path) -> Vec<(String, String)> {
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() && m.len() <= policy::MAX_DOTENV_BYTES => {}
        Ok(m) if m.is_file() => {
            tracing::warn!(path = %path.display(), "a functions .env file larger than 64 KiB is ignored");
            return Vec::new();
        }
        _ => return Vec::new(),
    }
    match tokio::fs::read_to_string(path).await {
        Ok(text) => policy::parse_dotenv(&text),
        Err(_) => Vec::new(),
    }
}

impl Functions {
    pub fn new(cfg: &Config, jwt: jwt::Settings) -> Result<Functions> {
        use contract::settings as s;
        let values = &cfg.values;
        let list = |setting| values.text(setting).map(|t| s::list(&t)).unwrap_or_default();
        let number = |setting: &contract::settings::Setting, default: u64| {
            values
                .text(setting)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(default)
        };
        let dir = values
            .text(&s::FUNCTIONS_DIR)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "supabase/functions".into());
        let (anon, service) = match crate::keys::api_keys(&cfg.jwt_secret, cfg.jwt_secret_is_base64) {
            Ok((a, s)) => (Some(a), Some(s)),
            Err(_) => (None, None),
        };
        let db_url = cfg.db_uri.clone().or_else(|| {
            cfg.pglite_listen
                .map(|addr| format!("postgres://postgres@{addr}/postgres"))
        });
        let configured_origin = {
            let mut a = cfg.listen;
            if a.ip().is_unspecified() {
                a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{a}")
        };
        Ok(Functions {
            inner: Arc::new(Inner {
                loader: loader::Loader::new(loader::engine()?, dir),
                policy: policy::Policy {
                    no_verify_jwt: list(&s::FUNCTIONS_NO_VERIFY_JWT),
                    secret_grants: list(&s::FUNCTIONS_SECRET_GRANTS),
                },
                configured_origin,
                secrets: policy::Secrets {
                    url: String::new(),
                    anon_key: anon,
                    service_role_key: service,
                    db_url,
                },
                allowed_origins: Arc::new(list(&s::FUNCTIONS_ALLOWED_ORIGINS)),
                limits: run::Limits {
                    memory_bytes: (number(&s::FUNCTIONS_MEMORY_MB, 256).clamp(1, 4096) << 20) as usize,
                    cpu: std::time::Duration::from_millis(number(&s::FUNCTIONS_CPU_TIME_MS, 2000).max(1)),
                    wall: std::time::Duration::from_millis(number(&s::FUNCTIONS_WALL_CLOCK_MS, 400_000).max(1)),
                    max_body: number(&s::FUNCTIONS_MAX_BODY_BYTES, 20 << 20),
                },
                jwt,
            }),
        })
    }

    fn origin(&self) -> String {
        OWN_ORIGIN
            .get()
            .cloned()
            .unwrap_or_else(|| self.inner.configured_origin.clone())
    }

    async fn serve(self, req: Request) -> Response {
        let inner = &self.inner;
        let Some(target) = policy::target(req.uri().path()) else {
            return run::answer(&policy::not_found());
        };
        let loaded = match inner.loader.get(&target.name).await {
            None => return run::answer(&policy::not_found()),
            Some(l) => l,
        };
        let authorization = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let checked = policy::check_token(
            inner.policy.verify_jwt(&target.name),
            req.method().as_str(),
            authorization.as_deref(),
            |token| {
                let headers = [("authorization".to_string(), format!("Bearer {token}"))];
                jwt::authenticate(&inner.jwt, &headers).is_ok()
            },
        );
        if let Err(why) = checked {
            return run::answer(&policy::unauthorized(&why));
        }
        let pre = match loaded {
            Ok(pre) => pre,
            Err(_) => return run::answer(&policy::boot_error()),
        };
        let announced = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > inner.limits.max_body) {
            return run::answer(&policy::too_large());
        }
        let origin = self.origin();
        let dir = inner.loader.dir();
        let dotenvs = [
            dotenv(&dir.join(".env")).await,
            dotenv(&dir.join(&target.name).join(".env")).await,
        ];
        let secrets = policy::Secrets {
            url: origin.clone(),
            ..inner.secrets.clone()
        };
        let env = policy::environment(&target.name, &inner.policy, &secrets, &dotenvs);
        // The function sees the path from `/NAME` on, as on Supabase.
        let (mut parts, body) = req.into_parts();
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{}?{q}", target.path),
            None => target.path.clone(),
        };
        let authority = parts
            .headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .or_else(|| origin.trim_start_matches("http://").parse().ok());
        let mut uri = http::uri::Builder::new().scheme("http");
        if let Some(a) = authority {
            uri = uri.authority(a);
        }
        match uri.path_and_query(path_and_query).build() {
            Ok(u) => parts.uri = u,
            Err(_) => return run::answer(&policy::not_found()),
        }
        let hooks = run::Origins {
            own: origin.into(),
            allowed: inner.allowed_origins.clone(),
        };
        run::invoke(
            pre,
            env,
            hooks,
            inner.limits.clone(),
            hyper::Request::from_parts(parts, body),
        )
        .await
    }
}

impl tower::Service<Request> for Functions {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.serve(req).await) })
    }
}
