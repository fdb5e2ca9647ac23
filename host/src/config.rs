//! Configuration: `supalite.toml` (PostgREST's key names where one exists),
//! then `SUPALITE_*` environment overrides, then command-line flags.

use anyhow::{bail, Context, Result};
use contract::defaults;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The local-development JWT secret the Supabase CLI uses, so the well-known
/// local anon/service keys work unchanged. Set your own for anything shared.
pub const DEFAULT_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Serve the PostgREST API with the bridge component on the local database.
    Bridge,
    /// Forward to a real PostgREST (`upstream-url`) with the adapter component.
    Adapter,
}

/// `[app.settings]` (or `app.settings.<name> = …` keys).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSection {
    #[serde(default)]
    settings: BTreeMap<String, String>,
}

/// Paths to component files; unset roles use the components built into the binary.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ComponentPaths {
    pub gateway: Option<PathBuf>,
    pub rewriter: Option<PathBuf>,
    pub verifier: Option<PathBuf>,
    pub auth: Option<PathBuf>,
    pub bridge: Option<PathBuf>,
    pub adapter: Option<PathBuf>,
    pub pgwire: Option<PathBuf>,
    pub standalone: Option<PathBuf>,
}

/// `[postgrest]`: a PostgREST process supalite starts, watches and stops
/// (the adapter forwards to it).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PostgrestConfig {
    /// The command; the path of the config file supalite writes is appended
    /// (PostgREST's CLI: `postgrest <config-file>`).
    pub command: Vec<String>,
    #[serde(default = "default_pgrst_port")]
    pub server_port: u16,
    #[serde(default = "default_pgrst_admin_port")]
    pub admin_server_port: u16,
    /// Where to write PostgREST's config file (default: next to the data dir).
    pub config_file: Option<PathBuf>,
    /// The database PostgREST connects to (default: the top-level `db-uri`).
    pub db_uri: Option<String>,
    /// Seconds to wait for `/ready` on the admin port (default 60).
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_s: u64,
}

fn default_pgrst_port() -> u16 {
    3000
}
fn default_pgrst_admin_port() -> u16 {
    3001
}
fn default_ready_timeout() -> u64 {
    60
}

impl ComponentPaths {
    /// The component files set.
    pub fn paths(&self) -> Vec<&PathBuf> {
        let ComponentPaths {
            gateway,
            rewriter,
            verifier,
            auth,
            bridge,
            adapter,
            pgwire,
            standalone,
        } = self;
        [
            gateway, rewriter, verifier, auth, bridge, adapter, pgwire, standalone,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// No role is replaced by a file.
    pub fn is_builtin(&self) -> bool {
        self.paths().is_empty()
    }
}

/// The file format of `supalite.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    backend: Option<Backend>,
    upstream_url: Option<String>,
    upstream_timeout_ms: Option<u64>,
    upstream_total_timeout_ms: Option<u64>,
    upstream_retries: Option<u32>,
    max_body_bytes: Option<usize>,
    upstream_backoff_ms: Option<u64>,
    upstream_fallback: Option<bool>,
    upstream_breaker_failures: Option<u32>,
    upstream_breaker_cooldown_ms: Option<u64>,
    admin_listen: Option<String>,
    pglite_listen: Option<String>,
    pglite_shared_buffers: Option<String>,
    instance_reuse: Option<u32>,
    component_memory_mb: Option<u64>,
    /// `[role-memory-mb]`: role -> the most its component's memories may
    /// grow to (MiB), below `component-memory-mb`.
    #[serde(default)]
    role_memory_mb: BTreeMap<String, u64>,
    /// `[role-deadline-ms]`: role -> the most wasm time its component may
    /// spend on one request, below `request-deadline-ms`.
    #[serde(default)]
    role_deadline_ms: BTreeMap<String, u64>,
    edge: Option<String>,
    /// PostgREST's own names, so a PostgREST config file is also a valid
    /// supalite config (`supalite postgrest <file>`).
    server_host: Option<String>,
    server_port: Option<u16>,
    admin_server_port: Option<u16>,
    routes: Option<BTreeMap<String, String>>,
    postgrest: Option<PostgrestConfig>,
    data_dir: Option<PathBuf>,
    db_uri: Option<String>,
    db_pool: Option<usize>,
    db_prepared_statements: Option<bool>,
    migrations: Option<PathBuf>,
    jwt_secret: Option<String>,
    jwt_secret_is_base64: Option<bool>,
    jwt_allowed_roles: Option<String>,
    jwt_aud: Option<String>,
    jwt_role_claim_key: Option<String>,
    db_schemas: Option<String>,
    db_anon_role: Option<String>,
    db_max_rows: Option<u64>,
    db_aggregates_enabled: Option<bool>,
    db_plan_enabled: Option<bool>,
    db_tx_end: Option<String>,
    cors_origins: Option<String>,
    auth_autoconfirm: Option<bool>,
    auth_disable_signup: Option<bool>,
    auth_jwt_expiry: Option<u64>,
    auth_refresh_token_reuse_interval: Option<u64>,
    db_statement_timeout: Option<u64>,
    db_extra_search_path: Option<String>,
    db_pre_request: Option<String>,
    /// `app.settings.<name> = "value"`: PostgREST's settings for SQL.
    app: Option<AppSection>,
    auth_rate_limit_token: Option<u32>,
    auth_rate_limit_window: Option<u32>,
    auth_rate_limit_sign_in_sign_ups: Option<u32>,
    auth_rate_limit_anonymous_users: Option<u32>,
    auth_anonymous_sign_ins: Option<bool>,
    request_deadline_ms: Option<u64>,
    server_header_timeout_ms: Option<u64>,
    server_max_connections: Option<usize>,
    server_body_memory_mb: Option<u64>,
    shutdown_timeout_ms: Option<u64>,
    #[serde(default)]
    components: ComponentPaths,
    /// `[grants]`: role -> interfaces its component may import beyond its
    /// world (e.g. `rewriter = ["wasi:sockets"]`).
    #[serde(default)]
    grants: BTreeMap<String, Vec<String>>,
    /// `[outbound]`: role -> TCP addresses (`ip:port`, `ip:*`) its granted
    /// `wasi:sockets` may connect to.
    #[serde(default)]
    outbound: BTreeMap<String, Vec<String>>,
    /// `[directories]`: role -> { guest path = host directory } its granted
    /// `wasi:filesystem` opens, read-only.
    #[serde(default)]
    directories: BTreeMap<String, BTreeMap<String, PathBuf>>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub backend: Backend,
    pub upstream_url: Option<String>,
    /// One attempt (connect, first byte, between bytes).
    pub upstream_timeout_ms: u64,
    /// All attempts of a request, back-off included.
    pub upstream_total_timeout_ms: u64,
    pub upstream_retries: u32,
    /// The largest request body accepted (413 PGRST413 above it).
    pub max_body_bytes: usize,
    pub upstream_backoff_ms: u64,
    /// Serve requests the upstream cannot (breaker open, refused) with the bridge.
    pub upstream_fallback: bool,
    pub upstream_breaker_failures: u32,
    pub upstream_breaker_cooldown_ms: u64,
    /// Admin listener: `/metrics`, `/live`, `/ready` (off unless set).
    pub admin_listen: Option<SocketAddr>,
    /// Expose embedded PGlite on this loopback address (PostgreSQL wire
    /// protocol, trust authentication), e.g. 127.0.0.1:54322.
    pub pglite_listen: Option<SocketAddr>,
    /// Embedded PGlite's `shared_buffers` (PostgreSQL's memory for cached
    /// pages, all of it resident in PGlite's heap).
    pub pglite_shared_buffers: String,
    /// Requests one pipeline instance may serve before it is dropped
    /// (1 = a fresh instance per request, as `wasmtime serve`).
    pub instance_reuse: u32,
    /// The most one component's linear memory may grow to (MiB).
    pub component_memory_mb: u64,
    /// Per role, a lower cap (MiB), declared in the composed file itself.
    pub role_memory_mb: BTreeMap<String, u64>,
    /// Per role, the most wasm time (ms) its code may run in one request.
    pub role_deadline_ms: BTreeMap<String, u64>,
    /// Call the gateway through `wasi:http/incoming-handler` even when it
    /// exports `supalite:api/handler` (`edge = "wasi-http"`).
    pub edge_wasi_http: bool,
    /// Route table of the rewriter: public path prefix -> `rest` | `auth`.
    pub routes: Vec<(String, String)>,
    pub postgrest: Option<PostgrestConfig>,
    pub data_dir: PathBuf,
    /// `db-uri`: PostgreSQL instead of embedded PGlite.
    pub db_uri: Option<String>,
    /// `db-pool`: PostgreSQL connections (PostgREST's default, 10).
    pub db_pool: usize,
    /// `db-prepared-statements`: prepare each statement once per session.
    pub db_prepared_statements: bool,
    pub migrations: PathBuf,
    pub jwt_secret: String,
    /// `jwt-secret-is-base64`
    pub jwt_secret_is_base64: bool,
    /// Roles a token may carry (default: the anon role, authenticated, service_role).
    pub jwt_allowed_roles: Vec<String>,
    pub jwt_aud: Option<String>,
    pub jwt_role_claim_key: String,
    pub db_schemas: String,
    pub db_anon_role: String,
    pub db_max_rows: Option<u64>,
    /// `db-aggregates-enabled`: aggregate functions in `select`.
    pub db_aggregates_enabled: bool,
    /// `db-plan-enabled`: `Accept: application/vnd.pgrst.plan` answers EXPLAIN.
    pub db_plan_enabled: bool,
    /// `db-tx-end`: commit | commit-allow-override | rollback | rollback-allow-override.
    pub db_tx_end: String,
    pub cors_origins: String,
    /// `/auth/v1`: sign users in at sign-up without e-mail confirmation.
    pub auth_autoconfirm: bool,
    pub auth_disable_signup: bool,
    /// Access token lifetime (seconds).
    pub auth_jwt_expiry: u64,
    /// Seconds a rotated refresh token may still be used (GoTrue's reuse interval).
    pub auth_refresh_token_reuse_interval: u64,
    /// `db-statement-timeout` (ms; 0 = none): no request's statement runs
    /// longer, whatever its role's own `statement_timeout` says.
    pub db_statement_timeout: Option<std::time::Duration>,
    /// `db-extra-search-path`: schemas on the `search_path` after the
    /// request's own (PostgREST's name and default, `public`).
    pub db_extra_search_path: String,
    /// `db-pre-request`: a function called before each request's statement.
    pub db_pre_request: Option<String>,
    /// `app.settings.*`: set (as `app.settings.<name>`) in every request's
    /// transaction, for SQL to read with `current_setting`.
    pub app_settings: Vec<(String, String)>,
    /// `/auth/v1/token` requests per client and window (0 = no limit).
    pub auth_rate_limit_token: u32,
    /// Sign-ups and password sign-ins per client and window (0 = no limit).
    pub auth_rate_limit_sign_in_sign_ups: u32,
    /// Anonymous sign-ins per client and hour (0 = no limit).
    pub auth_rate_limit_anonymous_users: u32,
    /// `/auth/v1/signup` without an e-mail signs in an anonymous user.
    pub auth_anonymous_sign_ins: bool,
    /// The rate limit's window (seconds).
    pub auth_rate_limit_window: u32,
    /// The longest one request may take in the pipeline (wall clock, and
    /// wasm execution through epoch interruption): 504 after it.
    pub request_deadline: std::time::Duration,
    /// HTTP: time to receive a request's headers, and the longest a
    /// keep-alive connection may stay idle between requests.
    pub server_header_timeout: std::time::Duration,
    /// HTTP: open connections at most; more wait to be accepted.
    pub server_max_connections: usize,
    /// Request bodies in flight at most, all requests together (bytes): a
    /// request whose body does not fit waits for others to finish.
    pub server_body_memory: u64,
    /// On SIGTERM/Ctrl-C: how long in-flight requests may take to finish.
    pub shutdown_timeout: std::time::Duration,
    pub components: ComponentPaths,
    /// Interfaces a role's component may import beyond its world.
    pub grants: BTreeMap<String, Vec<String>>,
    /// What a granted `wasi:sockets` reaches, per role (nothing unless listed).
    pub outbound: BTreeMap<String, Vec<Outbound>>,
    /// What a granted `wasi:filesystem` opens, per role: (guest path, host
    /// directory), read-only.
    pub directories: BTreeMap<String, Vec<(String, PathBuf)>>,
    /// The config file read, if any.
    pub source: Option<PathBuf>,
}

/// Command-line overrides.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub migrations: Option<PathBuf>,
    /// Serve PostgREST's API at `/` (as `supalite postgrest <file>` does).
    pub postgrest_mode: bool,
}

impl Config {
    /// Loads `path` (an error if given explicitly and missing), or
    /// `supalite.toml` in the working directory if present.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config> {
        let source = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("supalite.toml")).filter(|p| p.exists()),
        };
        let file: FileConfig = match &source {
            Some(p) => parse_file(p)?,
            None => FileConfig::default(),
        };
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        // A component's setting from the environment, by the rule the
        // components read it with (`components/contract`).
        for setting in contract::SETTINGS {
            if let Some(v) = env(setting.env) {
                setting.check(&v).map_err(anyhow::Error::msg)?;
            }
        }
        let pgrst_listen = file.server_port.map(|port| {
            let host = match file.server_host.as_deref() {
                None | Some("!4") | Some("*4") | Some("*") => "127.0.0.1",
                Some("!6") | Some("*6") => "::1",
                Some(h) => h,
            };
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        });
        let listen = flags
            .listen
            .clone()
            .or_else(|| env("SUPALITE_LISTEN"))
            .or(file.listen)
            .or(pgrst_listen)
            .unwrap_or_else(|| "127.0.0.1:54321".into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("invalid listen address `{listen}` (expected host:port)"))?;
        let backend = match env("SUPALITE_BACKEND") {
            _ if flags.postgrest_mode => Backend::Bridge,
            Some(b) => match b.as_str() {
                "bridge" => Backend::Bridge,
                "adapter" => Backend::Adapter,
                other => {
                    bail!("invalid SUPALITE_BACKEND `{other}` (expected `bridge` or `adapter`)")
                }
            },
            None => file.backend.unwrap_or(if file.postgrest.is_some() {
                Backend::Adapter
            } else {
                Backend::Bridge
            }),
        };
        let postgrest = file.postgrest.clone();
        if let Some(p) = &postgrest {
            if p.command.is_empty() {
                bail!("[postgrest] command must name the PostgREST executable");
            }
        }
        let upstream_url = env("SUPALITE_UPSTREAM_URL")
            .or(file.upstream_url)
            .or_else(|| {
                postgrest
                    .as_ref()
                    .map(|p| format!("http://127.0.0.1:{}", p.server_port))
            });
        let admin_listen = match env("SUPALITE_ADMIN_LISTEN")
            .or(file.admin_listen)
            .or_else(|| file.admin_server_port.map(|p| format!("127.0.0.1:{p}")))
        {
            Some(a) => Some(
                a.parse::<SocketAddr>()
                    .with_context(|| format!("invalid admin-listen `{a}` (expected host:port)"))?,
            ),
            None => None,
        };
        let pglite_listen = match env("SUPALITE_PGLITE_LISTEN").or(file.pglite_listen) {
            Some(a) => {
                let addr = a
                    .parse::<SocketAddr>()
                    .with_context(|| format!("invalid pglite-listen `{a}` (expected host:port)"))?;
                if !addr.ip().is_loopback() {
                    bail!("pglite-listen must be a loopback address (it accepts any user without a password): `{a}`");
                }
                Some(addr)
            }
            None => None,
        };
        let pglite_shared_buffers = env("SUPALITE_PGLITE_SHARED_BUFFERS")
            .or(file.pglite_shared_buffers)
            .unwrap_or_else(|| "8MB".into());
        if pglite_shared_buffers.trim().is_empty()
            || !pglite_shared_buffers
                .trim()
                .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            bail!("invalid pglite-shared-buffers `{pglite_shared_buffers}` (a size such as 16MB)");
        }
        let routes: Vec<(String, String)> = if flags.postgrest_mode {
            vec![("/".into(), "rest".into())]
        } else if let Some(r) = env("SUPALITE_ROUTES") {
            contract::settings::parse_routes(&r).map_err(anyhow::Error::msg)?
        } else {
            match file.routes {
                Some(map) => map.into_iter().collect(),
                None => vec![
                    ("/rest/v1".into(), "rest".into()),
                    ("/auth/v1".into(), "auth".into()),
                ],
            }
        };
        for (prefix, target) in &routes {
            // The rewriter's own rules, so that what starts here also routes there.
            contract::http::parse_route(prefix, target).map_err(anyhow::Error::msg)?;
        }
        if backend == Backend::Adapter && upstream_url.is_none() {
            bail!("backend = \"adapter\" needs `upstream-url` (or SUPALITE_UPSTREAM_URL), e.g. http://127.0.0.1:3000");
        }
        // Its form (at least 32 characters or a JWK), as the upstream URL's
        // and every other component setting's, is checked at the end.
        let jwt_secret = env("SUPALITE_JWT_SECRET")
            .or(file.jwt_secret)
            .unwrap_or_else(|| DEFAULT_JWT_SECRET.into());
        let db_anon_role = env("SUPALITE_DB_ANON_ROLE")
            .or(file.db_anon_role)
            .unwrap_or_else(|| defaults::DB_ANON_ROLE.into());
        let db_max_rows = match env("SUPALITE_DB_MAX_ROWS") {
            Some(v) => Some(
                v.parse()
                    .with_context(|| format!("invalid SUPALITE_DB_MAX_ROWS `{v}`"))?,
            ),
            None => file.db_max_rows,
        };
        let component_memory_mb = num(
            &env,
            "SUPALITE_COMPONENT_MEMORY_MB",
            file.component_memory_mb,
            256,
        )?
        .clamp(1, 4096);
        let request_deadline_ms = num(
            &env,
            "SUPALITE_REQUEST_DEADLINE_MS",
            file.request_deadline_ms,
            60_000,
        )?
        .max(1);
        let role_deadline_ms = check_role_table(
            "role-deadline-ms",
            match env("SUPALITE_ROLE_DEADLINE_MS") {
                Some(text) => parse_role_table("SUPALITE_ROLE_DEADLINE_MS", &text)?,
                None => file.role_deadline_ms.clone(),
            },
            ("request-deadline-ms", request_deadline_ms),
        )?;
        let role_memory_mb = check_role_table(
            "role-memory-mb",
            match env("SUPALITE_ROLE_MEMORY_MB") {
                Some(text) => parse_role_table("SUPALITE_ROLE_MEMORY_MB", &text)?,
                None => file.role_memory_mb.clone(),
            },
            ("component-memory-mb", component_memory_mb),
        )?;
        Config {
            listen,
            backend,
            upstream_url,
            upstream_timeout_ms: num(
                &env,
                "SUPALITE_UPSTREAM_TIMEOUT_MS",
                file.upstream_timeout_ms,
                defaults::UPSTREAM_TIMEOUT_MS,
            )?,
            upstream_total_timeout_ms: num(
                &env,
                "SUPALITE_UPSTREAM_TOTAL_TIMEOUT_MS",
                file.upstream_total_timeout_ms,
                defaults::UPSTREAM_TOTAL_TIMEOUT_MS,
            )?,
            upstream_retries: num(
                &env,
                "SUPALITE_UPSTREAM_RETRIES",
                file.upstream_retries,
                defaults::UPSTREAM_RETRIES,
            )?,
            max_body_bytes: num(
                &env,
                "SUPALITE_MAX_BODY_BYTES",
                file.max_body_bytes,
                contract::http::DEFAULT_MAX_BODY,
            )?,
            upstream_backoff_ms: num(
                &env,
                "SUPALITE_UPSTREAM_BACKOFF_MS",
                file.upstream_backoff_ms,
                defaults::UPSTREAM_BACKOFF_MS,
            )?,
            upstream_fallback: flag(
                &env,
                "SUPALITE_UPSTREAM_FALLBACK",
                file.upstream_fallback,
                defaults::UPSTREAM_FALLBACK,
            )?,
            upstream_breaker_failures: num(
                &env,
                "SUPALITE_UPSTREAM_BREAKER_FAILURES",
                file.upstream_breaker_failures,
                5,
            )?,
            upstream_breaker_cooldown_ms: num(
                &env,
                "SUPALITE_UPSTREAM_BREAKER_COOLDOWN_MS",
                file.upstream_breaker_cooldown_ms,
                5_000,
            )?,
            admin_listen,
            pglite_listen,
            pglite_shared_buffers,
            // The built-in components keep no state between requests, so an
            // instance may serve many; a pipeline with a component of your
            // own gets a fresh instance per request unless you say otherwise.
            instance_reuse: num(
                &env,
                "SUPALITE_INSTANCE_REUSE",
                file.instance_reuse,
                if file.components.is_builtin() {
                    1000
                } else {
                    1
                },
            )?,
            component_memory_mb,
            role_memory_mb,
            role_deadline_ms,
            edge_wasi_http: match env("SUPALITE_EDGE").or(file.edge).as_deref() {
                None | Some("handler") => false,
                Some("wasi-http") => true,
                Some(other) => {
                    anyhow::bail!("invalid edge `{other}` (expected `handler` or `wasi-http`)")
                }
            },
            routes,
            postgrest,
            data_dir: flags
                .data_dir
                .clone()
                .or_else(|| env("SUPALITE_DATA_DIR").map(PathBuf::from))
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(".supalite/data")),
            db_uri: env("SUPALITE_DB_URI").or(file.db_uri),
            db_pool: match env("SUPALITE_DB_POOL") {
                Some(v) => v
                    .parse()
                    .with_context(|| format!("invalid SUPALITE_DB_POOL `{v}`"))?,
                None => file.db_pool.unwrap_or(10),
            },
            migrations: flags
                .migrations
                .clone()
                .or_else(|| env("SUPALITE_MIGRATIONS").map(PathBuf::from))
                .or(file.migrations)
                .unwrap_or_else(|| PathBuf::from("supabase/migrations")),
            jwt_secret,
            jwt_secret_is_base64: flag(
                &env,
                "SUPALITE_JWT_SECRET_IS_BASE64",
                file.jwt_secret_is_base64,
                false,
            )?,
            jwt_allowed_roles: env("SUPALITE_JWT_ALLOWED_ROLES")
                .or(file.jwt_allowed_roles)
                .map(|r| {
                    r.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_else(|| defaults::jwt_allowed_roles(&db_anon_role)),
            jwt_aud: env("SUPALITE_JWT_AUD").or(file.jwt_aud),
            jwt_role_claim_key: env("SUPALITE_JWT_ROLE_CLAIM_KEY")
                .or(file.jwt_role_claim_key)
                .unwrap_or_else(|| defaults::JWT_ROLE_CLAIM_KEY.into()),
            db_schemas: env("SUPALITE_DB_SCHEMAS")
                .or(file.db_schemas)
                .unwrap_or_else(|| defaults::DB_SCHEMAS.into()),
            db_anon_role,
            db_max_rows,
            db_tx_end: env("SUPALITE_DB_TX_END")
                .or(file.db_tx_end)
                .unwrap_or_else(|| defaults::DB_TX_END.into()),
            db_prepared_statements: flag(
                &env,
                "SUPALITE_DB_PREPARED_STATEMENTS",
                file.db_prepared_statements,
                true,
            )?,
            db_aggregates_enabled: flag(
                &env,
                "SUPALITE_DB_AGGREGATES_ENABLED",
                file.db_aggregates_enabled,
                false,
            )?,
            db_plan_enabled: flag(
                &env,
                "SUPALITE_DB_PLAN_ENABLED",
                file.db_plan_enabled,
                false,
            )?,
            cors_origins: env("SUPALITE_CORS_ORIGINS")
                .or(file.cors_origins)
                .unwrap_or_else(|| defaults::CORS_ORIGINS.into()),
            auth_autoconfirm: flag(
                &env,
                "SUPALITE_AUTH_AUTOCONFIRM",
                file.auth_autoconfirm,
                defaults::AUTH_AUTOCONFIRM,
            )?,
            auth_disable_signup: flag(
                &env,
                "SUPALITE_AUTH_DISABLE_SIGNUP",
                file.auth_disable_signup,
                defaults::AUTH_DISABLE_SIGNUP,
            )?,
            auth_jwt_expiry: num(
                &env,
                "SUPALITE_AUTH_JWT_EXPIRY",
                file.auth_jwt_expiry,
                defaults::AUTH_JWT_EXPIRY,
            )?,
            auth_refresh_token_reuse_interval: num(
                &env,
                "SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL",
                file.auth_refresh_token_reuse_interval,
                defaults::AUTH_REFRESH_TOKEN_REUSE_INTERVAL,
            )?,
            db_statement_timeout: Some(std::time::Duration::from_millis(num(
                &env,
                "SUPALITE_DB_STATEMENT_TIMEOUT",
                file.db_statement_timeout,
                defaults::DB_STATEMENT_TIMEOUT_MS,
            )?))
            .filter(|d| !d.is_zero()),
            db_extra_search_path: env("SUPALITE_DB_EXTRA_SEARCH_PATH")
                .or(file.db_extra_search_path)
                .unwrap_or_else(|| defaults::DB_EXTRA_SEARCH_PATH.into()),
            db_pre_request: env("SUPALITE_DB_PRE_REQUEST")
                .or(file.db_pre_request)
                .filter(|f| !f.trim().is_empty()),
            // `[app.settings]`, or SUPALITE_APP_SETTINGS (a JSON object).
            app_settings: match env("SUPALITE_APP_SETTINGS").filter(|v| !v.trim().is_empty()) {
                Some(json) => contract::parse_app_settings(&json).map_err(anyhow::Error::msg)?,
                None => file
                    .app
                    .map(|a| {
                        a.settings
                            .into_iter()
                            .map(|(k, v)| (format!("app.settings.{k}"), v))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            auth_rate_limit_token: num(
                &env,
                "SUPALITE_AUTH_RATE_LIMIT_TOKEN",
                file.auth_rate_limit_token,
                defaults::AUTH_RATE_LIMIT_TOKEN,
            )?,
            auth_rate_limit_sign_in_sign_ups: num(
                &env,
                "SUPALITE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS",
                file.auth_rate_limit_sign_in_sign_ups,
                defaults::AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS,
            )?,
            auth_rate_limit_anonymous_users: num(
                &env,
                "SUPALITE_AUTH_RATE_LIMIT_ANONYMOUS_USERS",
                file.auth_rate_limit_anonymous_users,
                defaults::AUTH_RATE_LIMIT_ANONYMOUS_USERS,
            )?,
            auth_anonymous_sign_ins: flag(
                &env,
                "SUPALITE_AUTH_ANONYMOUS_SIGN_INS",
                file.auth_anonymous_sign_ins,
                defaults::AUTH_ANONYMOUS_SIGN_INS,
            )?,
            auth_rate_limit_window: num(
                &env,
                "SUPALITE_AUTH_RATE_LIMIT_WINDOW",
                file.auth_rate_limit_window,
                defaults::AUTH_RATE_LIMIT_WINDOW,
            )?
            .max(1),
            request_deadline: std::time::Duration::from_millis(request_deadline_ms),
            server_header_timeout: std::time::Duration::from_millis(
                num(
                    &env,
                    "SUPALITE_SERVER_HEADER_TIMEOUT_MS",
                    file.server_header_timeout_ms,
                    10_000,
                )?
                .max(1),
            ),
            server_max_connections: num(
                &env,
                "SUPALITE_SERVER_MAX_CONNECTIONS",
                file.server_max_connections,
                1_000,
            )?
            .max(1),
            server_body_memory: num(
                &env,
                "SUPALITE_SERVER_BODY_MEMORY_MB",
                file.server_body_memory_mb,
                64,
            )?
            .clamp(1, 1 << 20)
                << 20,
            shutdown_timeout: std::time::Duration::from_millis(num(
                &env,
                "SUPALITE_SHUTDOWN_TIMEOUT_MS",
                file.shutdown_timeout_ms,
                10_000,
            )?),
            components: file.components,
            outbound: check_outbound(&file.grants, file.outbound)?,
            directories: check_directories(&file.grants, file.directories)?,
            grants: check_grants(file.grants)?,
            source,
        }
        .checked()
    }

    /// Refuses what a component would refuse: every value handed to the
    /// components (from the file or the environment) by the rule they read
    /// it with, so that this host and `wasmtime serve` agree.
    fn checked(self) -> Result<Config> {
        for (name, value) in self.standalone_env() {
            let Some(setting) = contract::setting_named(&name) else {
                continue;
            };
            if value.trim().is_empty() {
                continue;
            }
            setting.check(&value).map_err(|e| {
                let key = setting.key();
                anyhow::anyhow!("{}", e.replacen(&name, &format!("{key} ({name})"), 1))
            })?;
        }
        Ok(self)
    }

    /// Whether the host tells the roles' code apart (`[role-deadline-ms]`,
    /// `[grants]` and what they reach): each role's core modules are then
    /// named after it in the composed file.
    pub fn roles_told_apart(&self) -> bool {
        !self.role_deadline_ms.is_empty()
            || !self.outbound.is_empty()
            || !self.directories.is_empty()
            || !self.grants.is_empty()
    }

    /// The `search_path` of a request on the default schema.
    pub fn search_path(&self) -> String {
        contract::sql::default_search_path(&self.db_schemas, &self.db_extra_search_path)
    }

    /// The environment every component instance sees (wasi:cli/environment):
    /// the same variables work under `wasmtime serve --env`.
    pub fn component_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("SUPALITE_JWT_SECRET".to_string(), self.jwt_secret.clone()),
            ("SUPALITE_DB_ANON_ROLE".into(), self.db_anon_role.clone()),
            (
                "SUPALITE_JWT_SECRET_IS_BASE64".into(),
                self.jwt_secret_is_base64.to_string(),
            ),
            (
                "SUPALITE_JWT_ALLOWED_ROLES".into(),
                self.jwt_allowed_roles.join(","),
            ),
            (
                "SUPALITE_JWT_ROLE_CLAIM_KEY".into(),
                self.jwt_role_claim_key.clone(),
            ),
            ("SUPALITE_DB_SCHEMAS".into(), self.db_schemas.clone()),
            ("SUPALITE_DB_TX_END".into(), self.db_tx_end.clone()),
            (
                "SUPALITE_DB_EXTRA_SEARCH_PATH".into(),
                self.db_extra_search_path.clone(),
            ),
            (
                "SUPALITE_DB_PRE_REQUEST".into(),
                self.db_pre_request.clone().unwrap_or_default(),
            ),
            (
                "SUPALITE_DB_AGGREGATES_ENABLED".into(),
                self.db_aggregates_enabled.to_string(),
            ),
            (
                "SUPALITE_DB_PLAN_ENABLED".into(),
                self.db_plan_enabled.to_string(),
            ),
            ("SUPALITE_CORS_ORIGINS".into(), self.cors_origins.clone()),
            (
                "SUPALITE_AUTH_AUTOCONFIRM".into(),
                self.auth_autoconfirm.to_string(),
            ),
            (
                "SUPALITE_AUTH_DISABLE_SIGNUP".into(),
                self.auth_disable_signup.to_string(),
            ),
            (
                "SUPALITE_AUTH_JWT_EXPIRY".into(),
                self.auth_jwt_expiry.to_string(),
            ),
            (
                "SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL".into(),
                self.auth_refresh_token_reuse_interval.to_string(),
            ),
            (
                "SUPALITE_AUTH_RATE_LIMIT_TOKEN".into(),
                self.auth_rate_limit_token.to_string(),
            ),
            (
                "SUPALITE_AUTH_RATE_LIMIT_WINDOW".into(),
                self.auth_rate_limit_window.to_string(),
            ),
            (
                "SUPALITE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS".into(),
                self.auth_rate_limit_sign_in_sign_ups.to_string(),
            ),
            (
                "SUPALITE_AUTH_RATE_LIMIT_ANONYMOUS_USERS".into(),
                self.auth_rate_limit_anonymous_users.to_string(),
            ),
            (
                "SUPALITE_AUTH_ANONYMOUS_SIGN_INS".into(),
                self.auth_anonymous_sign_ins.to_string(),
            ),
            (
                "SUPALITE_UPSTREAM_TIMEOUT_MS".into(),
                self.upstream_timeout_ms.to_string(),
            ),
            (
                "SUPALITE_UPSTREAM_TOTAL_TIMEOUT_MS".into(),
                self.upstream_total_timeout_ms.to_string(),
            ),
            (
                "SUPALITE_UPSTREAM_RETRIES".into(),
                self.upstream_retries.to_string(),
            ),
            (
                "SUPALITE_MAX_BODY_BYTES".into(),
                self.max_body_bytes.to_string(),
            ),
            (
                "SUPALITE_UPSTREAM_BACKOFF_MS".into(),
                self.upstream_backoff_ms.to_string(),
            ),
            (
                "SUPALITE_UPSTREAM_FALLBACK".into(),
                self.upstream_fallback.to_string(),
            ),
            (
                "SUPALITE_ROUTES".into(),
                self.routes
                    .iter()
                    .map(|(p, t)| format!("{p}={t}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ];
        if let Some(a) = &self.jwt_aud {
            env.push(("SUPALITE_JWT_AUD".into(), a.clone()));
        }
        if let Some(m) = self.db_max_rows {
            env.push(("SUPALITE_DB_MAX_ROWS".into(), m.to_string()));
        }
        // What this host applies itself, for `pgwire` under other hosts.
        env.push((
            "SUPALITE_DB_STATEMENT_TIMEOUT".into(),
            self.db_statement_timeout
                .map_or(0, |d| d.as_millis() as u64)
                .to_string(),
        ));
        if !self.app_settings.is_empty() {
            let object: serde_json::Map<String, serde_json::Value> = self
                .app_settings
                .iter()
                .map(|(k, v)| {
                    let name = k.strip_prefix("app.settings.").unwrap_or(k);
                    (name.to_string(), serde_json::Value::String(v.clone()))
                })
                .collect();
            env.push((
                "SUPALITE_APP_SETTINGS".into(),
                serde_json::Value::Object(object).to_string(),
            ));
        }
        if let Some(u) = &self.upstream_url {
            env.push(("SUPALITE_UPSTREAM_URL".into(), u.clone()));
        }
        // A replaced role's own settings (`SUPALITE_REWRITER_…` for the
        // rewriter), from the host's environment; each reaches its role only.
        env.extend(std::env::vars().filter(|(k, _)| {
            contract::setting_named(k).is_none()
                && contract::Role::ALL
                    .iter()
                    .any(|r| k.starts_with(&r.own_prefix()))
        }));
        env
    }
}

/// `[grants]`: known roles, interface names (`ns:pkg` or `ns:pkg/iface`);
/// SQL as the connection's own role is the auth role's alone.
fn check_grants(grants: BTreeMap<String, Vec<String>>) -> Result<BTreeMap<String, Vec<String>>> {
    for (role, list) in &grants {
        if contract::Role::from_name(role).is_none() {
            anyhow::bail!(
                "[grants]: unknown role `{role}` (expected one of {})",
                contract::Role::ALL.map(|r| r.name()).join(", ")
            );
        }
        for g in list {
            if !g.contains(':') || g.contains(char::is_whitespace) {
                anyhow::bail!("[grants] {role}: `{g}` is not an interface name (e.g. `wasi:sockets` or `wasi:http/outgoing-handler`)");
            }
            if g.starts_with("supalite:api/admin-sql") || g == "supalite:api" {
                anyhow::bail!("[grants] {role}: `{g}` cannot be granted: only the auth role may run SQL as the database connection's own role");
            }
        }
    }
    Ok(grants)
}

/// What a role's component may reach: a TCP address (an IP address and a
/// port, or any port: `ip:*`) through `wasi:sockets`, or an HTTP origin
/// (`https://host[:port]`, by its authority) through
/// `wasi:http/outgoing-handler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Tcp {
        ip: std::net::IpAddr,
        port: Option<u16>,
    },
    Http {
        /// `host[:port]`, lowercase, as a request's URI carries it.
        authority: String,
    },
}

impl Outbound {
    pub fn allows(&self, addr: &SocketAddr) -> bool {
        matches!(self, Outbound::Tcp { ip, port }
            if addr.ip() == *ip && port.is_none_or(|p| p == addr.port()))
    }

    pub fn allows_http(&self, authority: &str) -> bool {
        matches!(self, Outbound::Http { authority: a } if a.eq_ignore_ascii_case(authority))
    }
}

/// Whether `role` is granted `interface` (or its whole package).
fn granted(grants: &BTreeMap<String, Vec<String>>, role: &str, interface: &str) -> bool {
    let package = interface.split('/').next().unwrap_or(interface);
    grants
        .get(role)
        .is_some_and(|g| g.iter().any(|x| x == package || x == interface))
}

fn known_role(table: &str, role: &str) -> Result<()> {
    if contract::Role::from_name(role).is_none() {
        anyhow::bail!(
            "[{table}]: unknown role `{role}` (expected one of {})",
            contract::Role::ALL.map(|r| r.name()).join(", ")
        );
    }
    Ok(())
}

/// `[outbound]`: addresses for roles granted `wasi:sockets`.
fn check_outbound(
    grants: &BTreeMap<String, Vec<String>>,
    table: BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<Outbound>>> {
    let mut out = BTreeMap::new();
    for (role, list) in table {
        known_role("outbound", &role)?;
        let need = |interface: &str| -> Result<()> {
            if granted(grants, &role, interface) {
                return Ok(());
            }
            let package = interface.split('/').next().unwrap_or(interface);
            anyhow::bail!("[outbound] {role}: the {role} role is not granted {package} (add {interface} to [grants] {role})")
        };
        let addrs = list
            .iter()
            .map(|a| {
                if a.starts_with("http://") || a.starts_with("https://") {
                    need("wasi:http/outgoing-handler")?;
                    let uri: http::Uri = a
                        .parse()
                        .with_context(|| format!("[outbound] {role}: `{a}` is not a URL"))?;
                    return match (uri.authority(), uri.path()) {
                        (Some(auth), "/" | "") => Ok(Outbound::Http {
                            authority: auth.as_str().to_ascii_lowercase(),
                        }),
                        _ => anyhow::bail!("[outbound] {role}: `{a}` must be an origin (scheme://host[:port], no path)"),
                    };
                }
                need("wasi:sockets/tcp")?;
                let bad = || anyhow::anyhow!("[outbound] {role}: `{a}` is not ip:port, ip:* or an http(s):// origin (name lookup is not granted)");
                let (ip, port) = a.rsplit_once(':').ok_or_else(bad)?;
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                Ok(Outbound::Tcp {
                    ip: ip.parse().map_err(|_| bad())?,
                    port: match port {
                        "*" => None,
                        p => Some(p.parse().map_err(|_| bad())?),
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert(role, addrs);
    }
    Ok(out)
}

/// `[directories]`: existing host directories for roles granted
/// `wasi:filesystem`, at absolute guest paths.
fn check_directories(
    grants: &BTreeMap<String, Vec<String>>,
    table: BTreeMap<String, BTreeMap<String, PathBuf>>,
) -> Result<BTreeMap<String, Vec<(String, PathBuf)>>> {
    let mut out = BTreeMap::new();
    for (role, dirs) in table {
        known_role("directories", &role)?;
        if !granted(grants, &role, "wasi:filesystem/preopens") {
            anyhow::bail!("[directories] {role}: the {role} role is not granted wasi:filesystem (add it to [grants] {role})");
        }
        for (guest, host) in &dirs {
            if !guest.starts_with('/') {
                anyhow::bail!("[directories] {role}: `{guest}` is not an absolute path");
            }
            if !host.is_dir() {
                anyhow::bail!(
                    "[directories] {role}: {} is not a directory",
                    host.display()
                );
            }
        }
        out.insert(role, dirs.into_iter().collect());
    }
    Ok(out)
}

/// A number from the environment (`var`), else the file, else `default`.
fn num<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    file: Option<T>,
    default: T,
) -> Result<T> {
    match env(var) {
        Some(v) => {
            contract::check(var, &v).map_err(anyhow::Error::msg)?;
            v.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid {var} `{v}` (expected a number)"))
        }
        None => Ok(file.unwrap_or(default)),
    }
}

/// A boolean setting: the environment, else the file, else `default`; an
/// unreadable value is an error, as for numbers.
fn flag(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    file: Option<bool>,
    default: bool,
) -> Result<bool> {
    match env(var) {
        Some(v) => contract::parse_bool(&v)
            .ok_or_else(|| anyhow::anyhow!("invalid {var} `{v}` (expected true or false)")),
        None => Ok(file.unwrap_or(default)),
    }
}

/// `SUPALITE_ROLE_MEMORY_MB` / `SUPALITE_ROLE_DEADLINE_MS`: `role=N,role=N`.
fn parse_role_table(var: &str, text: &str) -> Result<BTreeMap<String, u64>> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let bad = || anyhow::anyhow!("invalid `{r}` in {var} (expected role=number)");
            let (role, n) = r.split_once('=').ok_or_else(bad)?;
            Ok((
                role.trim().to_string(),
                n.trim().parse().map_err(|_| bad())?,
            ))
        })
        .collect()
}

/// `[role-memory-mb]` / `[role-deadline-ms]`: known roles, values from 1 to
/// the setting that bounds every role (`component-memory-mb`,
/// `request-deadline-ms`).
fn check_role_table(
    table: &str,
    caps: BTreeMap<String, u64>,
    (overall_name, overall): (&str, u64),
) -> Result<BTreeMap<String, u64>> {
    for (role, n) in &caps {
        if contract::Role::from_name(role).is_none() {
            anyhow::bail!(
                "[{table}]: unknown role `{role}` (expected one of {})",
                contract::Role::ALL.map(|r| r.name()).join(", ")
            );
        }
        if *n == 0 || *n > overall {
            anyhow::bail!("[{table}] {role} = {n}: expected 1 to {overall_name} ({overall})");
        }
    }
    Ok(caps)
}

impl Config {
    /// The environment of a pipeline served by another host: the component
    /// environment plus the database target for the `pgwire` component.
    pub fn standalone_env(&self) -> Vec<(String, String)> {
        let mut env = self.component_env();
        if let Some(uri) = &self.db_uri {
            env.push(("SUPALITE_DB_URI".into(), uri.clone()));
        }
        env
    }

    /// A `wasmtime serve` command line for the composed file: settings as
    /// `--env NAME=value`, secrets as `--env NAME` (from the environment).
    pub fn wasmtime_serve_command(&self, file: &Path) -> String {
        let quote = |v: &str| {
            if !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@".contains(c))
            {
                v.to_string()
            } else {
                format!("'{}'", v.replace('\'', "'\\''"))
            }
        };
        let mut cmd = format!(
            "wasmtime serve -S cli -S inherit-network -S allow-ip-name-lookup --addr {}",
            self.listen
        );
        let mut env = self.standalone_env();
        if !env.iter().any(|(k, _)| k == "SUPALITE_DB_URI") {
            env.push(("SUPALITE_DB_URI".into(), String::new()));
        }
        for (k, v) in env {
            // Secrets by name (inherited from the shell), never by value.
            if contract::setting_named(&k).is_some_and(|s| s.secret) {
                cmd.push_str(&format!(" \\\n    --env {k}"));
            } else {
                cmd.push_str(&format!(" \\\n    --env {k}={}", quote(&v)));
            }
        }
        cmd.push_str(&format!(" \\\n    {}", quote(&file.display().to_string())));
        cmd
    }
}

fn parse_file(p: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read config file {}", p.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", p.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The configuration of a project without a config file or variables.
    pub(crate) fn defaults() -> Config {
        load("", &[]).unwrap()
    }

    fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Config> {
        // One directory per call: tests run in parallel and must not share a file.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "supalite-cfg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("supalite.toml");
        std::fs::write(&p, toml_text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let loaded = Config::load(
            Some(&p),
            |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            &Overrides::default(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    }

    #[test]
    fn defaults_file_and_env() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:54321");
        assert_eq!(c.backend, Backend::Bridge);
        assert_eq!(c.data_dir, PathBuf::from(".supalite/data"));
        let c = load(
            "db-schemas = \"api\"\nlisten = \"127.0.0.1:9\"",
            &[("SUPALITE_LISTEN", "127.0.0.1:10")],
        )
        .unwrap();
        assert_eq!(c.db_schemas, "api");
        assert_eq!(c.listen.port(), 10);
    }

    #[test]
    fn every_component_variable_is_in_the_contract() {
        // A variable missing from the table would reach no role.
        let c = load(
            "jwt-aud = \"x\"\ndb-max-rows = 5\nupstream-url = \"http://127.0.0.1:1\"\ndb-uri = \"postgres://x\"",
            &[],
        )
        .unwrap();
        for (k, _) in c.standalone_env() {
            let own = contract::Role::ALL
                .iter()
                .any(|r| k.starts_with(&r.own_prefix()));
            assert!(
                contract::setting_named(&k).is_some() || own,
                "{k} is not in components/contract"
            );
        }
    }

    #[test]
    fn grants_name_roles_and_interfaces() {
        let c = load("[grants]\nrewriter = [\"wasi:sockets\"]", &[]).unwrap();
        assert_eq!(c.grants["rewriter"], ["wasi:sockets"]);
        for (toml, needle) in [
            (
                "[grants]\nnobody = [\"wasi:sockets\"]",
                "unknown role `nobody`",
            ),
            ("[grants]\nbridge = [\"sockets\"]", "not an interface name"),
            (
                "[grants]\nbridge = [\"supalite:api/admin-sql\"]",
                "only the auth role",
            ),
        ] {
            let e = format!("{:#}", load(toml, &[]).unwrap_err());
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn outbound_and_directories_need_their_grant() {
        let dir = std::env::temp_dir();
        let ok = format!(
            "[grants]\nrewriter = [\"wasi:sockets\", \"wasi:filesystem/preopens\"]\n\
             [outbound]\nrewriter = [\"127.0.0.1:5432\", \"[::1]:*\"]\n\
             [directories.rewriter]\n\"/data\" = {:?}\n",
            dir.display().to_string()
        );
        let c = load(&ok, &[]).unwrap();
        let out = &c.outbound["rewriter"];
        assert!(out[0].allows(&"127.0.0.1:5432".parse().unwrap()));
        assert!(!out[0].allows(&"127.0.0.1:5433".parse().unwrap()));
        assert!(out[1].allows(&"[::1]:80".parse().unwrap()));
        assert_eq!(
            c.directories["rewriter"],
            [("/data".to_string(), dir.clone())]
        );
        assert!(c.roles_told_apart());
        for (toml, needle) in [
            (
                "[outbound]\nrewriter = [\"127.0.0.1:1\"]",
                "not granted wasi:sockets",
            ),
            (
                "[grants]\nrewriter = [\"wasi:sockets\"]\n[outbound]\nrewriter = [\"db.example:5432\"]",
                "not ip:port",
            ),
            (
                "[grants]\nrewriter = [\"wasi:filesystem\"]\n[directories.rewriter]\n\"data\" = \"/\"",
                "not an absolute path",
            ),
            (
                "[grants]\nrewriter = [\"wasi:filesystem\"]\n[directories.rewriter]\n\"/d\" = \"/nonexistent/x\"",
                "is not a directory",
            ),
            (
                "[directories.nobody]\n\"/d\" = \"/\"",
                "unknown role `nobody`",
            ),
        ] {
            let e = format!("{:#}", load(toml, &[]).unwrap_err());
            assert!(e.contains(needle), "{toml}: {e}");
        }
        assert!(!load("", &[]).unwrap().roles_told_apart());
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        assert!(
            format!("{:#}", load("nonsense-key = 1", &[]).unwrap_err()).contains("unknown field")
        );
        assert!(
            format!("{:#}", load("backend = \"adapter\"", &[]).unwrap_err())
                .contains("upstream-url")
        );
        assert!(
            format!("{:#}", load("jwt-secret = \"short\"", &[]).unwrap_err())
                .contains("32 characters")
        );
        assert!(
            format!("{:#}", load("listen = \"nope\"", &[]).unwrap_err()).contains("listen address")
        );
        assert!(Config::load(
            Some(Path::new("/nonexistent/x.toml")),
            |_| None,
            &Overrides::default()
        )
        .is_err());
        // A boolean the environment spells unreadably is refused, not read as false.
        let e = load("", &[("SUPALITE_DB_AGGREGATES_ENABLED", "sure")]).unwrap_err();
        assert!(
            format!("{e:#}").contains("SUPALITE_DB_AGGREGATES_ENABLED"),
            "{e:#}"
        );
    }

    /// A value a component would refuse is refused here, from the file and
    /// from the environment, with the component's own words; the same rule
    /// reads it inside the components (`contract::read`).
    #[test]
    fn every_component_setting_is_checked_as_the_components_check_it() {
        use contract::Kind;
        for setting in contract::SETTINGS {
            let bad = match setting.kind {
                Kind::Text => continue,
                Kind::Flag => "sure",
                Kind::Number => "12 rows",
                Kind::Url => "ftp://x.example",
                Kind::Choice(_) => "whatever",
                Kind::StringMap => "a=b",
                Kind::Routes => "/rest/v1",
                Kind::JwtSecret => "short",
            };
            let rule = setting.check(bad).unwrap_err();
            assert_eq!(contract::read(setting.env, |_| Some(bad.into())), None);
            let e = format!("{:#}", load("", &[(setting.env, bad)]).unwrap_err());
            assert!(e.contains(&rule), "{}: {e} (rule: {rule})", setting.env);
            if matches!(setting.kind, Kind::StringMap | Kind::Routes) {
                continue; // tables in the file, not a key of their own
            }
            let e = format!(
                "{:#}",
                load(&format!("{} = {bad:?}", setting.key()), &[]).unwrap_err()
            );
            assert!(
                e.contains(&setting.key()) && e.contains("expected"),
                "{}: {e}",
                setting.key()
            );
        }
        // What the rules let through, the components read as the host does.
        let c = load("", &[("SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL", "3")]).unwrap();
        assert_eq!(c.auth_refresh_token_reuse_interval, 3);
    }

    #[test]
    fn every_setting_under_one_name_and_spelling() {
        // Booleans as people write them.
        let c = load(
            "",
            &[
                ("SUPALITE_DB_AGGREGATES_ENABLED", "YES"),
                ("SUPALITE_AUTH_AUTOCONFIRM", "0"),
                ("SUPALITE_DB_PREPARED_STATEMENTS", "off"),
            ],
        )
        .unwrap();
        assert!(c.db_aggregates_enabled && !c.auth_autoconfirm && !c.db_prepared_statements);
        // auth-jwt-expiry has an environment name too.
        let c = load(
            "auth-jwt-expiry = 60",
            &[("SUPALITE_AUTH_JWT_EXPIRY", "120")],
        )
        .unwrap();
        assert_eq!(c.auth_jwt_expiry, 120);
        // The components get the anonymous role under the host's own name.
        let c = load("db-anon-role = \"visitor\"", &[]).unwrap();
        assert!(c
            .component_env()
            .contains(&("SUPALITE_DB_ANON_ROLE".to_string(), "visitor".to_string())));
    }

    /// `[app.settings]` and SUPALITE_APP_SETTINGS (a JSON object) are the
    /// same settings, and reach `pgwire` (for other wasi:http hosts) as JSON.
    #[test]
    fn app_settings_from_the_file_or_the_environment() {
        let from_file = load("[app.settings]\nhost = \"a.example\"\n", &[]).unwrap();
        let from_env = load("", &[("SUPALITE_APP_SETTINGS", r#"{"host": "a.example"}"#)]).unwrap();
        for c in [&from_file, &from_env] {
            assert_eq!(
                c.app_settings,
                vec![("app.settings.host".to_string(), "a.example".to_string())]
            );
            assert!(c.standalone_env().contains(&(
                "SUPALITE_APP_SETTINGS".to_string(),
                r#"{"host":"a.example"}"#.to_string()
            )));
        }
        assert!(load("", &[("SUPALITE_APP_SETTINGS", "host=a")]).is_err());
    }

    /// Every setting a component reads works under one name: its key in
    /// `supalite.toml` is its environment name without `SUPALITE_`, in
    /// kebab case, and either way the components (in this host and under
    /// `wasmtime serve`) receive the same value under that environment name.
    #[test]
    fn every_component_setting_works_from_the_file_and_the_environment() {
        // A value of each setting's kind, not its default: (TOML literal,
        // environment text).
        let defaults = load("", &[]).unwrap().standalone_env();
        let sample = |setting: &contract::Setting| -> (String, String) {
            use contract::Kind;
            let text = match setting.kind {
                Kind::Flag => {
                    let default = defaults
                        .iter()
                        .find(|(k, _)| k == setting.env)
                        .and_then(|(_, v)| contract::parse_bool(v))
                        .unwrap_or(false);
                    return ((!default).to_string(), (!default).to_string());
                }
                Kind::Number => return ("4321".into(), "4321".into()),
                Kind::JwtSecret => "a-secret-of-at-least-32-characters-long",
                Kind::Url => "http://127.0.0.1:1",
                Kind::Choice(words) => words[words.len() - 1],
                Kind::Text => match setting.env {
                    "SUPALITE_DB_URI" => "postgres://u@127.0.0.1:1/db",
                    "SUPALITE_JWT_ALLOWED_ROLES" => "web_user,admin",
                    "SUPALITE_CORS_ORIGINS" => "https://app.example",
                    "SUPALITE_DB_SCHEMAS" => "api,public",
                    _ => "some_name",
                },
                Kind::StringMap | Kind::Routes => unreachable!("not a key of its own"),
            };
            (format!("{text:?}"), text.to_string())
        };
        for setting in contract::SETTINGS {
            let env = setting.env;
            // Not a key of their own: the older name of db-anon-role, the
            // routes (a `[routes]` table in the file), the base64 flag (it
            // changes how the secret reads; tested with the secret).
            if matches!(
                env,
                "SUPALITE_ANON_ROLE"
                    | "SUPALITE_ROUTES"
                    | "SUPALITE_JWT_SECRET_IS_BASE64"
                    | "SUPALITE_APP_SETTINGS"
            ) {
                continue;
            }
            let key = setting.key();
            let (literal, text) = sample(setting);
            let from_file = load(&format!("{key} = {literal}"), &[])
                .unwrap_or_else(|e| panic!("{key} = {literal}: {e:#}"));
            let from_env =
                load("", &[(env, text.as_str())]).unwrap_or_else(|e| panic!("{env}={text}: {e:#}"));
            let seen = |c: &Config| {
                c.standalone_env()
                    .into_iter()
                    .find(|(k, _)| k == env)
                    .map(|(_, v)| v)
            };
            assert_eq!(
                seen(&from_file),
                Some(text.clone()),
                "{key} in supalite.toml"
            );
            assert_eq!(
                seen(&from_env),
                Some(text.clone()),
                "{env} in the environment"
            );
        }
    }

    #[test]
    fn role_memory_caps_name_roles_under_the_overall_cap() {
        let c = load("[role-memory-mb]\nrewriter = 16", &[]).unwrap();
        assert_eq!(c.role_memory_mb["rewriter"], 16);
        let c = load("", &[("SUPALITE_ROLE_MEMORY_MB", "bridge=64, auth=32")]).unwrap();
        assert_eq!(
            (c.role_memory_mb["bridge"], c.role_memory_mb["auth"]),
            (64, 32)
        );
        for (toml, needle) in [
            ("[role-memory-mb]\nnobody = 8", "unknown role `nobody`"),
            (
                "[role-memory-mb]\nbridge = 0",
                "expected 1 to component-memory-mb",
            ),
            (
                "component-memory-mb = 64\n[role-memory-mb]\nbridge = 128",
                "expected 1 to component-memory-mb (64)",
            ),
        ] {
            let e = format!("{:#}", load(toml, &[]).unwrap_err());
            assert!(e.contains(needle), "{e}");
        }
        let e = load("", &[("SUPALITE_ROLE_MEMORY_MB", "bridge")]).unwrap_err();
        assert!(format!("{e:#}").contains("role=number"), "{e:#}");
        // Deadlines the same way, under the request deadline.
        let c = load(
            "request-deadline-ms = 900\n[role-deadline-ms]\nbridge = 300",
            &[],
        )
        .unwrap();
        assert_eq!(c.role_deadline_ms["bridge"], 300);
        let e = load(
            "request-deadline-ms = 900\n[role-deadline-ms]\nbridge = 901",
            &[],
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("request-deadline-ms (900)"),
            "{e:#}"
        );
    }
}
