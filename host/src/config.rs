//! Configuration: `supalite.toml` (PostgREST's key names where one exists),
//! then `SUPALITE_*` environment overrides, then command-line flags.
//!
//! Every setting is a row of `contract::settings::SETTINGS` (its key, its
//! environment name, the form of a valid value, its default): [`Values`]
//! reads each row from those three sources by that one rule, and
//! [`Config`] is what the host makes of them. The components get their
//! share of the same values ([`Config::component_env`]).

use anyhow::{bail, Context, Result};
use contract::settings::{self as s, Fallback, Kind, Setting, SETTINGS};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Serve the PostgREST API with the bridge component on the local database.
    Bridge,
    /// Forward to a real PostgREST (`upstream-url`) with the adapter component.
    Adapter,
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
    pub storage: Option<PathBuf>,
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
            storage,
        } = self;
        [
            gateway, rewriter, verifier, auth, bridge, adapter, pgwire, standalone, storage,
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

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Environment,
    File,
    /// `supabase/config.toml` (a Supabase CLI project, `crate::cli_project`).
    Project,
    /// Worked out from other settings (a derived default).
    Derived,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Flag => "flag",
            Origin::Environment => "environment",
            Origin::File => "file",
            Origin::Project => "supabase/config.toml",
            Origin::Derived => "derived",
        }
    }
}

/// Every setting's value as set (flag, environment or file), checked by its
/// row's rule, as text; what is not set reads as its row's default.
#[derive(Debug, Clone, Default)]
pub struct Values {
    set: BTreeMap<&'static str, (String, Origin)>,
}

impl Values {
    /// Reads every row: the flag, else the environment, else the file,
    /// else a CLI project's `supabase/config.toml` (`project`).
    fn read(
        file: &toml::Table,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &[(&Setting, Option<String>)],
        project: &BTreeMap<&'static str, String>,
    ) -> Result<Values> {
        let mut set = BTreeMap::new();
        for setting in SETTINGS {
            let flag = flags
                .iter()
                .find(|(f, _)| f.env == setting.env)
                .and_then(|(_, v)| v.clone());
            let found = match (flag, env(setting.env).filter(|v| !v.is_empty())) {
                (Some(v), _) => Some((v, Origin::Flag)),
                (None, Some(v)) => Some((v, Origin::Environment)),
                (None, None) if setting.file => match file_value(file, setting)? {
                    Some(v) => Some((v, Origin::File)),
                    None => project.get(setting.env).map(|v| (v.clone(), Origin::Project)),
                },
                (None, None) => project.get(setting.env).map(|v| (v.clone(), Origin::Project)),
            };
            // A key set may be given as the path of its file (the Supabase
            // CLI's `signing_keys.json`): the components get its content.
            let found = match found {
                Some((text, origin))
                    if setting.kind == Kind::JwtKeys
                        && !text.trim().is_empty()
                        && !text.trim_start().starts_with(['[', '{']) =>
                {
                    let path = text.trim();
                    let content = std::fs::read_to_string(path).with_context(|| {
                        format!("{} ({}): cannot read the key set file {path}", setting.key(), setting.env)
                    })?;
                    Some((content, origin))
                }
                other => other,
            };
            if let Some((text, origin)) = found {
                setting.check(&text).map_err(|e| {
                    let name = match origin {
                        Origin::Project => format!(
                            "{} ({}, from supabase/config.toml)",
                            setting.key(),
                            setting.env
                        ),
                        _ => format!("{} ({})", setting.key(), setting.env),
                    };
                    // `env(NAME)` left as it was: NAME is unset.
                    let unset = text
                        .trim()
                        .strip_prefix("env(")
                        .and_then(|t| t.strip_suffix(')'))
                        .map(|n| format!(" (environment variable is unset: {n})"))
                        .unwrap_or_default();
                    anyhow::anyhow!("{}{unset}", e.replacen(setting.env, &name, 1))
                })?;
                set.insert(setting.env, (text, origin));
            }
        }
        Ok(Values { set })
    }

    /// The value as set.
    pub fn get(&self, setting: &Setting) -> Option<&str> {
        self.set.get(setting.env).map(|(v, _)| v.as_str())
    }

    /// Where the value came from, when set.
    pub fn origin(&self, setting: &Setting) -> Option<Origin> {
        self.set.get(setting.env).map(|(_, o)| *o)
    }

    /// Takes `setting`'s value from `other` (a reload keeping what was
    /// opened at start).
    pub fn keep(&mut self, setting: &Setting, other: &Values) {
        match other.set.get(setting.env) {
            Some(v) => self.set.insert(setting.env, v.clone()),
            None => self.set.remove(setting.env),
        };
    }

    /// Records a derived value (a default worked out from other settings).
    fn derive(&mut self, setting: &Setting, text: String) {
        self.set
            .entry(setting.env)
            .or_insert((text, Origin::Derived));
    }

    /// The value as set, else the default (`None` when it has none).
    pub fn text(&self, setting: &Setting) -> Option<String> {
        self.get(setting)
            .or(setting.default_text())
            .map(|v| v.trim().to_string())
    }

    /// A number (set or default). Checked already: a number that does not
    /// fit `T` is the only error left.
    fn number<T: std::str::FromStr>(&self, setting: &Setting) -> Result<Option<T>> {
        self.text(setting)
            .map(|v| {
                v.parse().map_err(|_| {
                    anyhow::anyhow!("invalid {} `{v}` (the number is too large)", setting.key())
                })
            })
            .transpose()
    }

    /// A number that has a default.
    fn num<T: std::str::FromStr>(&self, setting: &Setting) -> Result<T> {
        self.number(setting)?
            .with_context(|| format!("{} has no default", setting.key()))
    }

    fn flag(&self, setting: &Setting) -> bool {
        self.text(setting)
            .and_then(|v| s::parse_bool(&v))
            .unwrap_or(false)
    }

    fn addr(&self, setting: &Setting) -> Option<SocketAddr> {
        // Checked as an address already.
        self.text(setting).and_then(|v| v.parse().ok())
    }

    fn path(&self, setting: &Setting) -> Option<PathBuf> {
        self.text(setting).map(PathBuf::from)
    }

    fn role_numbers(&self, setting: &Setting) -> BTreeMap<String, u64> {
        self.text(setting)
            .and_then(|v| s::parse_role_numbers(&v).ok())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
}

/// A setting's value in the file, as the text its environment variable
/// would hold: strings, numbers and booleans as written; the tables of
/// `routes`, `role-*` and `app.settings` in their environment forms.
fn file_value(file: &toml::Table, setting: &Setting) -> Result<Option<String>> {
    let key = setting.key();
    let value = match setting.kind {
        Kind::StringMap => file
            .get("app")
            .and_then(|a| a.as_table())
            .and_then(|a| a.get("settings")),
        _ => file.get(&key),
    };
    let Some(value) = value else {
        return Ok(None);
    };
    let table = |v: &toml::Value| -> Result<Vec<(String, String)>> {
        let t = v.as_table().with_context(|| format!("`{key}` must be a table"))?;
        t.iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => Ok((k.clone(), s.clone())),
                toml::Value::Integer(n) => Ok((k.clone(), n.to_string())),
                other => bail!("`{key}.{k}` must be a string or a number, not {}", other.type_str()),
            })
            .collect()
    };
    Ok(Some(match (setting.kind, value) {
        (Kind::StringMap, v) => {
            let map: serde_json::Map<String, serde_json::Value> = table(v)
                .context("[app.settings]")?
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        (Kind::Routes | Kind::RoleNumbers, v) => table(v)?
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        (_, toml::Value::String(s)) => s.clone(),
        (_, toml::Value::Integer(n)) => n.to_string(),
        (_, toml::Value::Boolean(b)) => b.to_string(),
        (_, other) => bail!(
            "`{key}` must be a string, a number or a boolean, not {}",
            other.type_str()
        ),
    }))
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Every setting's text, as set or derived (the components' share comes
    /// from here).
    pub values: Values,
    pub listen: SocketAddr,
    pub backend: Backend,
    pub upstream_url: Option<String>,
    /// The largest request body accepted (413 PGRST413 above it).
    pub max_body_bytes: usize,
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
    /// `storage-dir`: the `fs` blob store's directory (`<data-dir>/storage`).
    pub storage_dir: PathBuf,
    /// `storage-backend = "s3"`: where the S3 blob store is (`storage-s3-*`).
    pub storage_s3: Option<crate::blob_store::s3::Settings>,
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
    /// `db-statement-timeout` (ms; 0 = none): no request's statement runs
    /// longer, whatever its role's own `statement_timeout` says.
    pub db_statement_timeout: Option<std::time::Duration>,
    /// `db-extra-search-path`: schemas on the `search_path` after the
    /// request's own (PostgREST's name and default, `public`).
    pub db_extra_search_path: String,
    /// `app.settings.*`: set (as `app.settings.<name>`) in every request's
    /// transaction, for SQL to read with `current_setting`.
    pub app_settings: Vec<(String, String)>,
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
    /// HTTP: open connections from one client address at most (0: no cap).
    pub server_max_connections_per_client: usize,
    /// Proxies whose forwarded header names the client (addresses, CIDRs).
    pub server_trusted_proxies: Vec<String>,
    /// The header a trusted proxy names the client in (lower case).
    pub server_forwarded_header: String,
    /// Anonymous requests per second per client address (0: no budget).
    pub server_anon_requests_per_second: u32,
    /// PGlite: an anonymous transaction's slice of the session under contention.
    pub pglite_anon_slice: std::time::Duration,
    /// PGlite: anonymous transactions of one client waiting at most (0: no cap).
    pub pglite_anon_queue_per_client: usize,
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
    /// A Supabase CLI project's `supabase/config.toml`, when there is one.
    pub project: Option<std::sync::Arc<crate::cli_project::Project>>,
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

/// A file table's contents, deserialized (`[components]`, `[postgrest]`, ...).
fn table_of<T: serde::de::DeserializeOwned + Default>(file: &toml::Table, key: &str) -> Result<T> {
    match file.get(key) {
        Some(v) => v
            .clone()
            .try_into()
            .with_context(|| format!("invalid [{key}]")),
        None => Ok(T::default()),
    }
}

/// Refuses keys that are neither a setting nor one of the file's tables.
fn known_keys(file: &toml::Table) -> Result<()> {
    for (key, value) in file {
        let ok = match key.as_str() {
            // `[app.settings]` (or `app.settings.<name> = …`), nothing else under `app`.
            "app" => value
                .as_table()
                .is_some_and(|t| t.keys().all(|k| k == "settings")),
            k => s::setting_keyed(k).is_some() || s::FILE_TABLES.iter().any(|t| t.key == k),
        };
        if !ok {
            bail!("unknown key `{key}` (see `supalite settings` for every key)");
        }
    }
    Ok(())
}

impl Config {
    /// The publishable and secret API keys, with the JWTs they stand for.
    pub fn api_keys(&self) -> crate::keys::ApiKeys {
        crate::keys::ApiKeys::new(
            &self.values.text(&s::PUBLISHABLE_KEY).unwrap_or_default(),
            &self.values.text(&s::SECRET_KEY).unwrap_or_default(),
            &self.jwt_secret,
            self.jwt_secret_is_base64,
        )
    }

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
        let file: toml::Table = match &source {
            Some(p) => parse_file(p)?,
            None => toml::Table::new(),
        };
        let flag_values = [
            (&s::LISTEN, flags.listen.clone()),
            (
                &s::DATA_DIR,
                flags.data_dir.as_ref().map(|p| p.display().to_string()),
            ),
            (
                &s::MIGRATIONS,
                flags.migrations.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        // A Supabase CLI project (`supabase init`) in the working directory.
        let project = if flags.postgrest_mode {
            None
        } else {
            crate::cli_project::load(Path::new("."), &env)?
        };
        let project_values = project.as_ref().map(|p| p.values.clone()).unwrap_or_default();
        let resolved = Values::read(&file, &env, &flag_values, &project_values)
            .and_then(|mut v| Config::resolve(&mut v, &file, flags.postgrest_mode));
        let project = project.map(std::sync::Arc::new);
        match (resolved, &source) {
            (Ok(c), _) => Ok(Config { source, project, ..c }),
            (Err(e), Some(p)) => Err(e.context(format!("in {}", p.display()))),
            (Err(e), None) => Err(e),
        }
    }

    /// The configuration from the values read, with the defaults that
    /// depend on other settings worked out.
    fn resolve(v: &mut Values, file: &toml::Table, postgrest_mode: bool) -> Result<Config> {
        known_keys(file)?;
        let postgrest: Option<PostgrestConfig> = table_of(file, "postgrest")?;
        if let Some(p) = &postgrest {
            if p.command.is_empty() {
                bail!("[postgrest] command must name the PostgREST executable");
            }
        }
        let components: ComponentPaths = table_of(file, "components")?;
        let grants = check_grants(table_of(file, "grants")?)?;

        // PostgREST's names for the listen address, so that a PostgREST
        // config file is a supalite config (`supalite postgrest FILE`).
        if let Some(port) = v.get(&s::SERVER_PORT).map(str::to_string) {
            let host = match v.get(&s::SERVER_HOST) {
                None | Some("!4") | Some("*4") | Some("*") => "127.0.0.1",
                Some("!6") | Some("*6") => "::1",
                Some(h) => h,
            };
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            v.derive(&s::LISTEN, addr);
        }
        if let Some(port) = v.get(&s::ADMIN_SERVER_PORT).map(str::to_string) {
            v.derive(&s::ADMIN_LISTEN, format!("127.0.0.1:{port}"));
        }
        let backend = if postgrest_mode {
            Backend::Bridge
        } else {
            match v.get(&s::BACKEND) {
                Some("adapter") => Backend::Adapter,
                Some(_) => Backend::Bridge,
                None if postgrest.is_some() => Backend::Adapter,
                None => Backend::Bridge,
            }
        };
        v.derive(
            &s::BACKEND,
            match backend {
                Backend::Bridge => "bridge",
                Backend::Adapter => "adapter",
            }
            .into(),
        );
        if let Some(p) = &postgrest {
            v.derive(
                &s::UPSTREAM_URL,
                format!("http://127.0.0.1:{}", p.server_port),
            );
        }
        if postgrest_mode {
            v.set.insert(s::ROUTES.env, ("/=rest".into(), Origin::Derived));
        }
        let db_anon_role = contract::settings::anon_role_or_default(|k| {
            v.get(s::setting_named(k)?).map(str::to_string)
        });
        v.derive(&s::DB_ANON_ROLE, db_anon_role.clone());
        let jwt_allowed_roles = contract::settings::allowed_roles(|k| {
            v.get(s::setting_named(k)?).map(str::to_string)
        });
        v.derive(&s::JWT_ALLOWED_ROLES, jwt_allowed_roles.join(","));
        // The built-in components keep no state between requests, so an
        // instance may serve many; a pipeline with a component of your
        // own gets a fresh instance per request unless you say otherwise.
        let reuse = if components.is_builtin() { 1000 } else { 1 };
        v.derive(&s::INSTANCE_REUSE, reuse.to_string());

        let listen = v.addr(&s::LISTEN).context("no listen address")?;
        let pglite_listen = v.addr(&s::PGLITE_LISTEN);
        if let Some(addr) = pglite_listen.filter(|a| !a.ip().is_loopback()) {
            bail!("pglite-listen must be a loopback address (it accepts any user without a password): `{addr}`");
        }
        let upstream_url = v.text(&s::UPSTREAM_URL);
        if backend == Backend::Adapter && upstream_url.is_none() {
            bail!("backend = \"adapter\" needs `upstream-url` (or SUPALITE_UPSTREAM_URL), e.g. http://127.0.0.1:3000");
        }
        // Checked as routes already; the prefixes as written.
        let routes = contract::list(&v.text(&s::ROUTES).unwrap_or_default())
            .iter()
            .filter_map(|item| item.split_once('='))
            .map(|(p, t)| (p.trim().to_string(), t.trim().to_string()))
            .collect();
        let component_memory_mb = v.num::<u64>(&s::COMPONENT_MEMORY_MB)?.clamp(1, 4096);
        let request_deadline_ms = v.num::<u64>(&s::REQUEST_DEADLINE_MS)?.max(1);
        let role_deadline_ms = check_role_table(
            "role-deadline-ms",
            v.role_numbers(&s::ROLE_DEADLINE_MS),
            ("request-deadline-ms", request_deadline_ms),
        )?;
        let role_memory_mb = check_role_table(
            "role-memory-mb",
            v.role_numbers(&s::ROLE_MEMORY_MB),
            ("component-memory-mb", component_memory_mb),
        )?;
        let ms = |n: u64| std::time::Duration::from_millis(n);
        Ok(Config {
            listen,
            backend,
            upstream_url,
            max_body_bytes: v.num(&s::MAX_BODY_BYTES)?,
            upstream_fallback: v.flag(&s::UPSTREAM_FALLBACK),
            upstream_breaker_failures: v.num(&s::UPSTREAM_BREAKER_FAILURES)?,
            upstream_breaker_cooldown_ms: v.num(&s::UPSTREAM_BREAKER_COOLDOWN_MS)?,
            admin_listen: v.addr(&s::ADMIN_LISTEN),
            pglite_listen,
            pglite_shared_buffers: v.text(&s::PGLITE_SHARED_BUFFERS).unwrap_or_default(),
            instance_reuse: v.num(&s::INSTANCE_REUSE)?,
            component_memory_mb,
            role_memory_mb,
            role_deadline_ms,
            edge_wasi_http: v.text(&s::EDGE).as_deref() == Some("wasi-http"),
            routes,
            postgrest,
            data_dir: v.path(&s::DATA_DIR).unwrap_or_default(),
            storage_dir: v.path(&s::STORAGE_DIR).unwrap_or_else(|| {
                v.path(&s::DATA_DIR).unwrap_or_default().join("storage")
            }),
            storage_s3: match v.text(&s::STORAGE_BACKEND).as_deref() {
                Some("s3") => Some(crate::blob_store::s3::Settings {
                    endpoint: v.text(&s::STORAGE_S3_ENDPOINT).unwrap_or_default(),
                    bucket: v.text(&s::STORAGE_S3_BUCKET).unwrap_or_default(),
                    region: v.text(&s::STORAGE_S3_REGION).unwrap_or_default(),
                    path_style: v.flag(&s::STORAGE_S3_FORCE_PATH_STYLE),
                    access_key_id: v.text(&s::STORAGE_S3_ACCESS_KEY_ID),
                    secret_access_key: v.text(&s::STORAGE_S3_SECRET_ACCESS_KEY),
                    ca_pem: match v.path(&s::STORAGE_S3_CA_FILE) {
                        Some(p) => Some(std::fs::read(&p).map_err(|e| {
                            anyhow::anyhow!("storage-s3-ca-file {}: {e}", p.display())
                        })?),
                        None => None,
                    },
                }),
                _ => None,
            },
            db_uri: v.text(&s::DB_URI),
            db_pool: v.num(&s::DB_POOL)?,
            db_prepared_statements: v.flag(&s::DB_PREPARED_STATEMENTS),
            migrations: v.path(&s::MIGRATIONS).unwrap_or_default(),
            jwt_secret: v.text(&s::JWT_SECRET).unwrap_or_default(),
            jwt_secret_is_base64: v.flag(&s::JWT_SECRET_IS_BASE64),
            jwt_allowed_roles,
            jwt_aud: v.text(&s::JWT_AUD),
            jwt_role_claim_key: v.text(&s::JWT_ROLE_CLAIM_KEY).unwrap_or_default(),
            db_schemas: v.text(&s::DB_SCHEMAS).unwrap_or_default(),
            db_anon_role,
            db_max_rows: v.number(&s::DB_MAX_ROWS)?,
            db_aggregates_enabled: v.flag(&s::DB_AGGREGATES_ENABLED),
            db_plan_enabled: v.flag(&s::DB_PLAN_ENABLED),
            db_tx_end: v.text(&s::DB_TX_END).unwrap_or_default(),
            db_statement_timeout: Some(ms(v.num(&s::DB_STATEMENT_TIMEOUT)?))
                .filter(|d| !d.is_zero()),
            db_extra_search_path: v.text(&s::DB_EXTRA_SEARCH_PATH).unwrap_or_default(),
            app_settings: v
                .text(&s::APP_SETTINGS)
                .map(|json| contract::parse_app_settings(&json))
                .transpose()
                .map_err(anyhow::Error::msg)?
                .unwrap_or_default(),
            request_deadline: ms(request_deadline_ms),
            server_header_timeout: ms(v.num::<u64>(&s::SERVER_HEADER_TIMEOUT_MS)?.max(1)),
            server_max_connections: v.num::<usize>(&s::SERVER_MAX_CONNECTIONS)?.max(1),
            server_body_memory: v.num::<u64>(&s::SERVER_BODY_MEMORY_MB)?.clamp(1, 1 << 20) << 20,
            shutdown_timeout: ms(v.num(&s::SHUTDOWN_TIMEOUT_MS)?),
            server_max_connections_per_client: v.num(&s::SERVER_MAX_CONNECTIONS_PER_CLIENT)?,
            server_trusted_proxies: v.text(&s::SERVER_TRUSTED_PROXIES).map(|t| s::list(&t)).unwrap_or_default(),
            server_forwarded_header: v.text(&s::SERVER_FORWARDED_HEADER).unwrap_or_default().to_ascii_lowercase(),
            server_anon_requests_per_second: v.num(&s::SERVER_ANON_REQUESTS_PER_SECOND)?,
            pglite_anon_slice: ms(v.num(&s::PGLITE_ANON_SLICE_MS)?),
            pglite_anon_queue_per_client: v.num(&s::PGLITE_ANON_QUEUE_PER_CLIENT)?,
            components,
            outbound: check_outbound(&grants, table_of(file, "outbound")?)?,
            directories: check_directories(&grants, table_of(file, "directories")?)?,
            grants,
            source: None,
            project: None,
            values: v.clone(),
        })
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

    /// The environment every component instance sees (wasi:cli/environment),
    /// each role its own share of it (`role-env`): every component setting
    /// with a value (set, derived or default), plus a replaced role's own
    /// `SUPALITE_<ROLE>_…` variables from the host's environment. The same
    /// variables work under `wasmtime serve --env`. The database URI is not
    /// among them: this host answers `sql` itself ([`Config::standalone_env`]
    /// adds it for other hosts).
    pub fn component_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = SETTINGS
            .iter()
            .filter(|s| !s.host_only() && s.env != s::DB_URI.env)
            .filter_map(|s| Some((s.env.to_string(), self.values.text(s)?)))
            .collect();
        env.extend(std::env::vars().filter(|(k, _)| {
            contract::setting_named(k).is_none()
                && contract::Role::ALL
                    .iter()
                    .any(|r| k.starts_with(&r.own_prefix()))
        }));
        env
    }

    /// Every setting with its value (secrets hidden) and where it came
    /// from: what `supalite settings` prints.
    pub fn describe(&self) -> Vec<(&'static Setting, Option<String>, &'static str)> {
        SETTINGS
            .iter()
            .map(|s| {
                let value = self.values.text(s).map(|v| {
                    if s.secret && self.values.origin(s).is_some() {
                        "(secret)".to_string()
                    } else {
                        v
                    }
                });
                let origin = match (self.values.origin(s), s.default) {
                    (Some(o), _) => o.name(),
                    (None, Fallback::Value(_)) => "default",
                    (None, _) => "unset",
                };
                (s, value, origin)
            })
            .collect()
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
            // Secrets by name (inherited from the shell), never by value;
            // a secret left at its public default (the Supabase CLI's local
            // JWT secret) is no secret, so it is written out.
            let set_secret = contract::setting_named(&k)
                .is_some_and(|s| s.secret && self.values.origin(s).is_some());
            if set_secret {
                cmd.push_str(&format!(" \\\n    --env {k}"));
            } else {
                cmd.push_str(&format!(" \\\n    --env {k}={}", quote(&v)));
            }
        }
        cmd.push_str(&format!(" \\\n    {}", quote(&file.display().to_string())));
        cmd
    }
}

fn parse_file(p: &Path) -> Result<toml::Table> {
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
        for (toml, needle) in [
            ("nonsense-key = 1", "unknown key `nonsense-key`"),
            ("anon-role = \"x\"", "unknown key `anon-role`"),
            ("[app]\nother = 1", "unknown key `app`"),
            ("backend = \"adapter\"", "upstream-url"),
            ("jwt-secret = \"short\"", "32 characters"),
            ("listen = \"nope\"", "invalid listen (SUPALITE_LISTEN) `nope`"),
            ("db-max-rows = 1.5", "`db-max-rows` must be a string, a number or a boolean"),
            ("pglite-listen = \"10.0.0.1:5432\"", "loopback"),
            ("[postgrest]\ncommand = []", "must name the PostgREST executable"),
        ] {
            let e = format!("{:#}", load(toml, &[]).unwrap_err());
            assert!(e.contains(needle), "{toml}: {e}");
        }
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

    /// A bad value of each kind, and a good one (TOML literal, environment
    /// text) that is not its default.
    fn samples(setting: &Setting) -> (Option<&'static str>, String, String) {
        let good = |t: &str| (format!("{t:?}"), t.to_string());
        let (bad, (literal, text)) = match setting.kind {
            Kind::Text | Kind::List | Kind::Path => (
                None,
                good(match setting.env {
                    "SUPALITE_DB_URI" => "postgres://u@127.0.0.1:1/db",
                    "SUPALITE_JWT_ALLOWED_ROLES" => "web_user,admin",
                    "SUPALITE_CORS_ORIGINS" => "https://app.example",
                    "SUPALITE_DB_SCHEMAS" => "api,public",
                    "SUPALITE_SERVER_HOST" => "127.0.0.2",
                    _ => "some_name",
                }),
            ),
            Kind::Flag => {
                let flip = (!setting.default_text().is_some_and(|d| d == "true")).to_string();
                (Some("sure"), (flip.clone(), flip))
            }
            Kind::Number => (Some("12 rows"), ("43".into(), "43".into())),
            Kind::Url => (Some("ftp://x.example"), good("http://127.0.0.1:1")),
            // `adapter` would need an upstream: the other word.
            Kind::Choice(_) if setting.env == "SUPALITE_BACKEND" => (Some("whatever"), good("bridge")),
            Kind::Choice(words) => (Some("whatever"), good(words[words.len() - 1])),
            Kind::Address => (Some("nowhere"), good("127.0.0.1:4321")),
            Kind::Size => (Some("lots"), good("16MB")),
            Kind::JwtSecret => (Some("short"), good("a-secret-of-at-least-32-characters-long")),
            Kind::StringMap => (Some("a=b"), ("{ a = \"b\" }".into(), r#"{"a":"b"}"#.into())),
            Kind::Routes => (Some("/rest/v1"), ("{ \"/x\" = \"rest\" }".into(), "/x=rest".into())),
            Kind::RoleNumbers => (Some("bridge"), ("{ bridge = 7 }".into(), "bridge=7".into())),
            // A key without `kty`; a one-key set.
            Kind::JwtKeys => (Some("[{}]"), good(r#"[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]"#)),
        };
        (bad, literal, text)
    }

    /// The file snippet that sets `setting` to `literal`.
    fn file_line(setting: &Setting, literal: &str) -> String {
        match setting.kind {
            Kind::StringMap => format!("app.settings = {literal}"),
            _ => format!("{} = {literal}", setting.key()),
        }
    }

    /// Every setting's bad value is refused, from the file and from the
    /// environment, naming its key and variable, by the rule the components
    /// read it with (`contract::settings`).
    #[test]
    fn every_setting_is_checked_by_its_rule() {
        for setting in SETTINGS {
            let (Some(bad), ..) = samples(setting) else {
                continue;
            };
            let rule = setting.check(bad).unwrap_err();
            assert_eq!(contract::read(setting.env, |_| Some(bad.into())), None);
            let named = rule.replacen(
                setting.env,
                &format!("{} ({})", setting.key(), setting.env),
                1,
            );
            let e = format!("{:#}", load("", &[(setting.env, bad)]).unwrap_err());
            assert!(e.contains(&named), "{}: {e} (rule: {named})", setting.env);
            if !setting.file || matches!(setting.kind, Kind::StringMap | Kind::Routes | Kind::RoleNumbers) {
                continue; // no key of its own, or a table in the file
            }
            let e = format!(
                "{:#}",
                load(&file_line(setting, &format!("{bad:?}")), &[]).unwrap_err()
            );
            assert!(e.contains(&named), "{}: {e}", setting.key());
        }
    }

    /// Every setting works under one name: its key in `supalite.toml` (the
    /// environment name without `SUPALITE_`, in kebab case) and its
    /// environment variable give the same value; a component setting
    /// reaches the components (in this host and under `wasmtime serve`)
    /// under that environment name.
    #[test]
    fn every_setting_works_from_the_file_and_the_environment() {
        for setting in SETTINGS {
            // The base64 flag changes how the secret reads (tested with the
            // secret); the PostgREST names need each other.
            if matches!(
                setting.env,
                "SUPALITE_JWT_SECRET_IS_BASE64" | "SUPALITE_SERVER_HOST"
            ) {
                continue;
            }
            let (_, literal, text) = samples(setting);
            let env = setting.env;
            let from_env = load("", &[(env, text.as_str())])
                .unwrap_or_else(|e| panic!("{env}={text}: {e:#}"));
            assert_eq!(from_env.values.get(setting), Some(text.as_str()), "{env}");
            if setting.file {
                let line = file_line(setting, &literal);
                let from_file = load(&line, &[]).unwrap_or_else(|e| panic!("{line}: {e:#}"));
                assert_eq!(from_file.values.get(setting), Some(text.as_str()), "{line}");
            } else {
                let e = format!("{:#}", load(&file_line(setting, &literal), &[]).unwrap_err());
                assert!(e.contains("unknown key"), "{}: {e}", setting.key());
            }
            if !setting.host_only() {
                let seen = from_env
                    .standalone_env()
                    .into_iter()
                    .find(|(k, _)| k == env)
                    .map(|(_, v)| v);
                assert_eq!(seen, Some(text.clone()), "{env} reaches the components");
            }
        }
        // The host's fields are the values read.
        let c = load("", &[("SUPALITE_AUTH_JWT_EXPIRY", "120"), ("SUPALITE_DB_POOL", "3")]).unwrap();
        assert_eq!(c.db_pool, 3);
        assert!(c.component_env().contains(&("SUPALITE_AUTH_JWT_EXPIRY".into(), "120".into())));
        let c = load("listen = \"127.0.0.1:9\"", &[("SUPALITE_LISTEN", "127.0.0.1:10")]).unwrap();
        assert_eq!(c.listen.port(), 10);
    }

    #[test]
    fn defaults_reach_the_components_and_derived_ones_follow_their_settings() {
        let c = defaults();
        let env = c.component_env();
        let has = |k: &str, v: &str| env.contains(&(k.to_string(), v.to_string()));
        assert!(has("SUPALITE_DB_TX_END", "commit"));
        assert!(has("SUPALITE_JWT_SECRET", contract::defaults::JWT_SECRET));
        assert!(has("SUPALITE_JWT_ALLOWED_ROLES", "anon,authenticated,service_role"));
        assert!(!env.iter().any(|(k, _)| k == "SUPALITE_DB_MAX_ROWS"));
        assert_eq!(c.instance_reuse, 1000);
        let c = load("db-anon-role = \"visitor\"", &[]).unwrap();
        assert_eq!(c.jwt_allowed_roles, ["visitor", "authenticated", "service_role"]);
        // The older name of db-anon-role, from the environment.
        let c = load("", &[("SUPALITE_ANON_ROLE", "guest")]).unwrap();
        assert_eq!(c.db_anon_role, "guest");
        let c = load("[components]\nrewriter = \"x.wasm\"", &[]).unwrap();
        assert_eq!(c.instance_reuse, 1);
        // PostgREST's names.
        let c = load("server-host = \"*\"\nserver-port = 3999\nadmin-server-port = 3998", &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3999");
        assert_eq!(c.admin_listen.map(|a| a.port()), Some(3998));
        let c = load("[postgrest]\ncommand = [\"postgrest\"]\nserver-port = 3100", &[]).unwrap();
        assert_eq!(c.backend, Backend::Adapter);
        assert_eq!(c.upstream_url.as_deref(), Some("http://127.0.0.1:3100"));
        // Every setting is described, secrets hidden.
        let c = load("jwt-secret = \"a-secret-of-at-least-32-characters-long\"", &[]).unwrap();
        let described = c.describe();
        assert_eq!(described.len(), SETTINGS.len());
        let secret = described.iter().find(|(s, ..)| s.env == "SUPALITE_JWT_SECRET").unwrap();
        assert_eq!((secret.1.as_deref(), secret.2), (Some("(secret)"), "file"));
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
        }
        assert!(from_file.standalone_env().contains(&(
            "SUPALITE_APP_SETTINGS".to_string(),
            r#"{"host":"a.example"}"#.to_string()
        )));
        assert!(load("", &[("SUPALITE_APP_SETTINGS", "host=a")]).is_err());
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
