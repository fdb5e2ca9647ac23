//! One configuration's pipeline: the pool of instances, and the service
//! stack in front of it. The request policies (`layers`) around the route
//! table (`router`), whose routes lead to the gateway (`service`):
//!
//! ```text
//! RequestLog → HttpLimits → RequestId → ForwardedFor → AnonBudget → Router
//!     /rest/v1 (rest)  → Deadline → BodyBudget → Gateway
//!     /auth/v1 (auth)  → Permits → Deadline → BodyBudget → Gateway
//!     /storage/v1 (storage) → Deadline → Gateway through wasi:http (bodies
//!                          streamed, the storage role enforces its size limits)
//!     /functions/v1 → the user's function components (`crate::functions`)
//!     anything else    → Deadline → BodyBudget → Gateway (the rewriter answers 404)
//! ```
//!
//! A reload builds a new one beside the running one (`Current`).

use super::edge::{Request, Response};
use super::engine::engine;
use super::layers::*;
use super::pool::Pool;
use super::router::Router;
use super::service::Gateway;
use super::upstream::Upstreams;
use crate::config::Config;
use crate::db::Database;
use crate::schema_cache::SchemaCache;
use anyhow::Result;
use std::convert::Infallible;
use std::sync::Arc;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use wasmtime::Engine;

/// What a prefix serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The data API (`/rest/v1`): the gateway.
    Rest,
    /// The auth API (`/auth/v1`): the gateway, under the auth permits.
    Auth,
    /// The storage API (`/storage/v1`): the gateway through
    /// `wasi:http/incoming-handler`, so bodies stream to and from the blob
    /// store instead of being held whole.
    Storage,
}

impl Target {
    /// A `[routes]` target as the config writes it.
    pub fn parse(target: &str) -> Option<Target> {
        match target {
            "rest" => Some(Target::Rest),
            "auth" => Some(Target::Auth),
            "storage" => Some(Target::Storage),
            _ => None,
        }
    }
}

/// A route's service, whatever its type.
pub type Route = BoxCloneSyncService<Request, Response, Infallible>;

/// The policies every request goes through, around the route table.
type App = RequestLog<HttpLimits<RequestId<ForwardedFor<AnonBudget<Router<Route>>>>>>;

/// Everything a request needs, shared by all connections.
pub struct Pipeline {
    pool: Arc<Pool>,
    app: App,
    /// `/realtime/v1` (its hub kept across reloads).
    realtime: Arc<crate::realtime::Realtime>,
    /// The publishable and secret keys (`layers::api_keys`).
    api_keys: Arc<crate::keys::ApiKeys>,
}

/// The routes of `cfg.routes` on the gateway, and the gateway as the
/// fallback (its rewriter answers paths it does not route with 404).
fn routes(cfg: &Config, pool: &Arc<Pool>) -> Router<Route> {
    let gateway = ServiceBuilder::new()
        .layer(DeadlineLayer::new(cfg.request_deadline))
        .layer(BodyBudgetLayer::new(
            cfg.server_body_memory,
            cfg.max_body_bytes,
        ))
        .service(Gateway::new(pool.clone(), cfg.max_body_bytes));
    // One set of permits for every auth prefix.
    let auth = ServiceBuilder::new()
        .layer(PermitsLayer::half_the_cores())
        .service(gateway.clone());
    // Storage bodies are streamed (never held whole): no body budget, and
    // the storage role's own limits instead of `max-body-bytes`.
    let storage = ServiceBuilder::new()
        .layer(DeadlineLayer::new(cfg.request_deadline))
        .service(Gateway::new(pool.clone(), cfg.max_body_bytes).streaming());
    let mut table = Router::builder();
    for (prefix, target) in &cfg.routes {
        let service = match Target::parse(target) {
            Some(Target::Auth) => Route::new(auth.clone()),
            Some(Target::Rest) => Route::new(gateway.clone()),
            Some(Target::Storage) => Route::new(storage.clone()),
            None => {
                tracing::warn!(prefix, target, "unknown route target: left to the gateway");
                continue;
            }
        };
        table = table.route(prefix, service);
    }
    // Edge functions (issue 29): `/functions/v1/NAME` runs the user's
    // wasi:http component (`crate::functions`), beside the pipeline.
    match crate::functions::Functions::new(cfg, jwt_settings(cfg)) {
        Ok(functions) => {
            table = table.route(crate::functions::policy::PREFIX, Route::new(functions));
        }
        Err(e) => tracing::warn!("edge functions are not served: {e:#}"),
    }
    table.fallback(Route::new(gateway))
}

/// `server-trusted-proxies` and `server-forwarded-header`.
pub fn proxies(cfg: &Config) -> Result<Proxies> {
    Proxies::new(&cfg.server_trusted_proxies, &cfg.server_forwarded_header)
}

/// How the verifier checks tokens, for the host's own look at them.
fn jwt_settings(cfg: &Config) -> jwt::Settings {
    jwt::Settings {
        secret: Some(cfg.jwt_secret.clone()).filter(|s| !s.is_empty()),
        secret_is_base64: cfg.jwt_secret_is_base64,
        keys: cfg.values.text(&contract::settings::JWT_KEYS),
        anon_role: cfg.db_anon_role.clone(),
        audience: cfg.jwt_aud.clone(),
        role_claim_key: cfg.jwt_role_claim_key.clone(),
        allowed_roles: cfg.jwt_allowed_roles.clone(),
    }
}

impl Pipeline {
    pub fn new(
        cfg: &Config,
        composed: &[u8],
        db: Option<Database>,
        schema: Option<Arc<SchemaCache>>,
        upstreams: Upstreams,
    ) -> Result<Pipeline> {
        Pipeline::build(
            engine(
                cfg.component_memory_mb << 20,
                // A fresh instance per request reuses a slot per request:
                // a memset of what stayed resident is cheaper than page
                // faults. Reused instances free a slot rarely: then what
                // stays resident is only RSS (~40 MB under 16 clients).
                if cfg.instance_reuse > 1 { 0 } else { 1 << 20 },
            )?,
            cfg,
            composed,
            db,
            schema,
            upstreams,
            None,
        )
    }

    /// A new pipeline from `cfg` and `composed` on this one's engine,
    /// database, schema cache and upstream state (for a reload).
    pub fn rebuild(&self, cfg: &Config, composed: &[u8]) -> Result<Pipeline> {
        let (db, schema, upstreams) = self.pool.shared();
        Pipeline::build(
            self.pool.engine().clone(),
            cfg,
            composed,
            db,
            schema,
            upstreams,
            Some(self.realtime.clone()),
        )
    }

    fn build(
        engine: Engine,
        cfg: &Config,
        composed: &[u8],
        db: Option<Database>,
        schema: Option<Arc<SchemaCache>>,
        upstreams: Upstreams,
        realtime: Option<Arc<crate::realtime::Realtime>>,
    ) -> Result<Pipeline> {
        let realtime = Arc::new(crate::realtime::Realtime::new(
            realtime,
            jwt_settings(cfg),
            db.clone(),
            cfg.api_keys(),
        ));
        let pool = Arc::new(Pool::new(engine, cfg, composed, db, schema, upstreams)?);
        let app = ServiceBuilder::new()
            .layer(RequestLogLayer)
            .layer(HttpLimitsLayer)
            .layer(RequestIdLayer)
            .layer(ForwardedForLayer::new(Arc::new(proxies(cfg)?)))
            .layer(AnonBudgetLayer::new(
                cfg.server_anon_requests_per_second,
                jwt_settings(cfg),
            ))
            .service(routes(cfg, &pool));
        Ok(Pipeline {
            pool,
            app,
            realtime,
            api_keys: Arc::new(cfg.api_keys()),
        })
    }

    /// Instantiates the pipeline once (what fails at instantiation fails
    /// here, not on a request) and keeps the instance for the first request.
    pub async fn warm_up(&self) -> Result<()> {
        self.pool.warm_up().await
    }

    /// How requests reach the gateway, for the start-up log.
    pub fn edge(&self) -> &'static str {
        if self.pool.has_handler() {
            "supalite:api/handler"
        } else {
            "wasi:http/incoming-handler"
        }
    }

    /// The publishable and secret keys.
    pub(super) fn api_keys(&self) -> &crate::keys::ApiKeys {
        &self.api_keys
    }

    /// `/realtime/v1`.
    pub(super) fn realtime(&self) -> &Arc<crate::realtime::Realtime> {
        &self.realtime
    }

    /// One request through the stack (its `Peer` in its extensions).
    pub(super) async fn handle(&self, req: Request) -> Response {
        match self.app.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}
